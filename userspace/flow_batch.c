// SPDX-License-Identifier: Apache-2.0
/* flow_batch.c: conversation records into a protobuf FlowBatch. */
#include "flow_batch.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((int)FLOW_VERDICT_ALLOWED == (int)WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_ALLOWED &&
		       (int)FLOW_VERDICT_VIOLATION == (int)WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_VIOLATION &&
		       (int)FLOW_VERDICT_DENIED == (int)WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_DENIED &&
		       (int)FLOW_VERDICT_UNKNOWN == (int)WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_UNSPECIFIED,
	       "flows.h verdicts are the proto's");

/* A record and everything its message points to, in one allocation
 * (strings copied: the container views are borrowed only for the call). */
struct item {
	Wacht__V1__FlowRecord rec;
	Wacht__V1__FlowEndpoint ep[2];
	Wacht__V1__Container ct[2];
	uint8_t ip[2][16];
	char *strs[2][7];                  /* container strings, then the node */
};

struct flow_batch {
	const char *node;
	struct item **items;
	Wacht__V1__FlowRecord **recs;
	size_t n, cap;
	Wacht__V1__FlowBatch msg;
};

struct flow_batch *flow_batch__new(const char *node)
{
	struct flow_batch *b = calloc(1, sizeof(*b));

	if (b)
		b->node = node;
	return b;
}

static void item_free(struct item *it)
{
	if (!it)
		return;
	for (int e = 0; e < 2; e++)
		for (int i = 0; i < 7; i++)
			free(it->strs[e][i]);
	free(it);
}

void flow_batch__clear(struct flow_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		item_free(b->items[i]);
	b->n = 0;
}

void flow_batch__free(struct flow_batch *b)
{
	if (!b)
		return;
	flow_batch__clear(b);
	free(b->items);
	free(b->recs);
	free(b);
}

size_t flow_batch__count(const struct flow_batch *b)
{
	return b->n;
}

static char *dup(const char *s)
{
	return strdup(s ? s : "");
}

static int endpoint_fill(struct item *it, int e, const struct flow_end *end, uint8_t family,
			 const uint8_t *addr)
{
	Wacht__V1__FlowEndpoint *ep = &it->ep[e];

	wacht__v1__flow_endpoint__init(ep);
	ep->kind = end->kind == ENTITY_CONTAINER ? WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_CONTAINER
		   : end->kind == ENTITY_HOST    ? WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_NODE
						 : WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_EXTERNAL;
	memcpy(it->ip[e], addr, 16);
	ep->ip.data = it->ip[e];
	ep->ip.len = family == AF_INET6 ? 16 : 4;
	if (end->kind != ENTITY_CONTAINER || !end->view)
		return 0;
	Wacht__V1__Container *c = &it->ct[e];
	wacht__v1__container__init(c);
	const struct container_view *v = end->view;
	char **s = it->strs[e];
	if (!(s[0] = dup(v->id)) || !(s[1] = dup(v->name)) || !(s[2] = dup(v->image)) ||
	    !(s[3] = dup(v->pod)) || !(s[4] = dup(v->namespace)) || !(s[5] = dup(end->group)))
		return -ENOMEM;
	c->id = s[0];
	c->name = s[1];
	c->image = s[2];
	c->pod = s[3];
	c->namespace_ = s[4];
	c->group = s[5];
	ep->container = c;
	if (end->node && end->node[0]) {
		if (!(s[6] = dup(end->node)))
			return -ENOMEM;
		ep->node = s[6];
	}
	return 0;
}

static int64_t unix_ns(uint64_t boot_ns, int64_t boot_to_real_ns)
{
	return boot_ns ? (int64_t)boot_ns + boot_to_real_ns : 0;
}

int flow_batch__add(struct flow_batch *b, const struct flow_record *r, const struct flow_end *client,
		    const struct flow_end *server, int64_t boot_to_real_ns)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct item **items = realloc(b->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		b->items = items;
		Wacht__V1__FlowRecord **recs = realloc(b->recs, cap * sizeof(*recs));
		if (!recs)
			return -ENOMEM;
		b->recs = recs;
		b->cap = cap;
	}
	struct item *it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	const uint8_t *caddr = r->container_is_client ? r->laddr : r->raddr;
	const uint8_t *saddr = r->container_is_client ? r->raddr : r->laddr;
	if (endpoint_fill(it, 0, client, r->family, caddr) ||
	    endpoint_fill(it, 1, server, r->family, saddr)) {
		item_free(it);
		return -ENOMEM;
	}
	Wacht__V1__FlowRecord *m = &it->rec;
	wacht__v1__flow_record__init(m);
	m->client = &it->ep[0];
	m->server = &it->ep[1];
	m->proto = r->proto;
	m->server_port = r->server_port;
	m->reported_by_client = r->container_is_client;
	m->bytes_to_server = r->bytes_to_server;
	m->bytes_to_client = r->bytes_to_client;
	m->packets_to_server = r->pkts_to_server;
	m->packets_to_client = r->pkts_to_client;
	m->sessions = r->sessions;
	m->first_seen_unix_ns = unix_ns(r->first_ns, boot_to_real_ns);
	m->last_seen_unix_ns = unix_ns(r->last_ns, boot_to_real_ns);
	/* enum flow_verdict and FlowVerdict share their numbers */
	m->verdict = (Wacht__V1__FlowVerdict)r->verdict;
	b->items[b->n] = it;
	b->recs[b->n] = m;
	b->n++;
	return 0;
}

Wacht__V1__FlowBatch *flow_batch__msg(struct flow_batch *b, int64_t now_unix_ns, uint64_t evicted)
{
	wacht__v1__flow_batch__init(&b->msg);
	b->msg.node = (char *)(b->node ? b->node : "");
	b->msg.n_records = b->n;
	b->msg.records = b->recs;
	b->msg.time_unix_ns = now_unix_ns;
	b->msg.flows_evicted = evicted;
	return &b->msg;
}
