// SPDX-License-Identifier: Apache-2.0
/* store_conv.c: FlowBatch records checked and turned into conversation rows
 * for both store backends (see store_conv.h and store.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "store_conv.h"

static int refuse(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (why && size) {
		va_start(ap, fmt);
		vsnprintf(why, size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *end_check(const Wacht__V1__FlowEndpoint *e)
{
	if (!e)
		return "no endpoint";
	if (e->kind < WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_CONTAINER ||
	    e->kind > WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_EXTERNAL)
		return "an endpoint kind that is not container, node or external";
	if (!e->ip.data || (e->ip.len != 4 && e->ip.len != 16))
		return "an IP that is not 4 or 16 bytes";
	return NULL;
}

int store_flows_check(const Wacht__V1__FlowBatch *b, const char *node, char *why, size_t size)
{
	if (why && size)
		why[0] = 0;
	if (!b->batch_seq)
		return refuse(why, size, "flow batch without a batch_seq");
	if (!node || strcmp(b->node ? b->node : "", node))
		return refuse(why, size, "flow batch %" PRIu64 " for node '%.64s', not the sensor's"
			      " ('%.64s')", b->batch_seq, b->node ? b->node : "", node ? node : "");
	for (size_t i = 0; i < b->n_records; i++) {
		const Wacht__V1__FlowRecord *r = b->records[i];
		const char *bad;

		if (!r)
			return refuse(why, size, "flow batch %" PRIu64 ", record %zu: empty",
				      b->batch_seq, i);
		if ((bad = end_check(r->client)))
			return refuse(why, size, "flow batch %" PRIu64 ", record %zu: client: %s",
				      b->batch_seq, i, bad);
		if ((bad = end_check(r->server)))
			return refuse(why, size, "flow batch %" PRIu64 ", record %zu: server: %s",
				      b->batch_seq, i, bad);
		if (r->client->ip.len != r->server->ip.len)
			return refuse(why, size, "flow batch %" PRIu64 ", record %zu: an IPv4 and an"
				      " IPv6 end", b->batch_seq, i);
		if (r->proto != 6 && r->proto != 17)
			return refuse(why, size, "flow batch %" PRIu64 ", record %zu: protocol %u is"
				      " not tcp (6) or udp (17)", b->batch_seq, i, r->proto);
		if (r->server_port > 65535)
			return refuse(why, size, "flow batch %" PRIu64 ", record %zu: port %u",
				      b->batch_seq, i, r->server_port);
		if (r->verdict < WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_UNSPECIFIED ||
		    r->verdict > WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_DENIED)
			return refuse(why, size, "flow batch %" PRIu64 ", record %zu: verdict %d",
				      b->batch_seq, i, (int)r->verdict);
	}
	return 0;
}

static const char *str(const char *p)
{
	return p ? p : "";
}

static int64_t clamp(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void end_from(struct conv_end *e, const Wacht__V1__FlowEndpoint *p, const char *reporter)
{
	const Wacht__V1__Container *c = p->container;
	bool container = p->kind == WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_CONTAINER;

	e->kind = p->kind;
	/* a container the sensor could not name (gone before the report) is
	 * only its address: the graph names it if another record knows it */
	if (container && (!c || !c->id || !c->id[0])) {
		container = false;
		e->kind = WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_EXTERNAL;
	}
	e->ip = p->ip.data;
	e->ip_len = p->ip.len;
	/* 0.0.0.0 or ::: no address yet (a connect refused before the socket
	 * was bound): not one of the container's addresses */
	bool zero = true;
	for (size_t i = 0; i < p->ip.len; i++)
		zero &= p->ip.data[i] == 0;
	if (zero) {
		e->ip = NULL;
		e->ip_len = 0;
	}
	/* "" is the reporting sensor's node (proto FlowEndpoint.node); a node
	 * end is the reporting node itself */
	e->node = p->kind == WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_NODE ? reporter
		  : container && p->node && p->node[0] ? p->node
		  : container ? reporter : "";
	e->cid = container && c ? str(c->id) : "";
	e->name = container && c ? str(c->name) : "";
	e->image = container && c ? str(c->image) : "";
	e->pod = container && c ? str(c->pod) : "";
	e->ns = container && c ? str(c->namespace_) : "";
	e->grp = container && c ? str(c->group) : "";
}

void conv_row_from(struct conv_row *row, const Wacht__V1__FlowRecord *r, const char *reporter,
		   int64_t batch_time)
{
	int64_t last = r->last_seen_unix_ns > 0 ? r->last_seen_unix_ns : batch_time;
	int64_t first = r->first_seen_unix_ns > 0 && r->first_seen_unix_ns <= last
				? r->first_seen_unix_ns : last;

	row->bucket = last / STORE_FLOW_BUCKET_NS;
	row->reporter = reporter;
	row->by_client = r->reported_by_client;
	row->proto = r->proto;
	row->port = r->server_port;
	end_from(&row->c, r->client, reporter);
	end_from(&row->s, r->server, reporter);
	row->bytes_to_server = clamp(r->bytes_to_server);
	row->bytes_to_client = clamp(r->bytes_to_client);
	row->packets_to_server = clamp(r->packets_to_server);
	row->packets_to_client = clamp(r->packets_to_client);
	row->sessions = r->sessions;
	row->first_seen = first;
	row->last_seen = last;
	row->verdict = r->verdict;
}

void conv_end_to_graph(struct graph_endpoint *e, int kind, const void *ip, size_t ip_len,
		       char *ipbuf, const char *const s[7])
{
	memset(e, 0, sizeof(*e));
	e->kind = kind >= GRAPH_KIND_CONTAINER && kind <= GRAPH_KIND_EXTERNAL ? kind
									      : GRAPH_KIND_UNKNOWN;
	ipbuf[0] = 0;
	if (ip && (ip_len == 4 || ip_len == 16))
		inet_ntop(ip_len == 4 ? AF_INET : AF_INET6, ip, ipbuf, INET6_ADDRSTRLEN);
	e->ip = ipbuf;
	e->node = s[0];
	e->container_id = s[1];
	e->container = s[2];
	e->image = s[3];
	e->pod = s[4];
	e->namespace = s[5];
	e->group = s[6];
}
