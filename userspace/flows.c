// SPDX-License-Identifier: Apache-2.0
/* flows.c: conversation records from the kernel's flow counters. */
#include "flows.h"
#include "hash.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* one bucket per entry the kernel map can hold: chains stay short when it is full */
#define KEY_BUCKETS 65536
#define CONV_BUCKETS 4096
/* verdicts: direct-mapped, bounded memory (a connection whose slot was
 * taken by a newer one reports UNKNOWN, never a wrong verdict: the whole
 * key is compared) */
#define VERDICT_SLOTS 16384

struct prev {
	struct prev *next;
	struct wacht_flow_key k;
	struct wacht_flow_val v; /* what was reported up to the last pass */
	uint64_t pass;           /* the last pass it was seen in */
};

struct conv {
	struct conv *next;
	struct flow_record r;
};

struct verdict_slot {
	uint64_t cgroup_id;
	uint8_t used, inbound, family, proto;
	uint16_t port;
	uint8_t verdict;
	uint8_t _pad;      /* compared whole (memcmp): no implicit padding */
	uint8_t raddr[16];
};

struct flows {
	struct prev *keys[KEY_BUCKETS];
	struct conv *convs[CONV_BUCKETS];
	struct verdict_slot verdicts[VERDICT_SLOTS];
	uint64_t pass; /* the pass being read, from 1 */
};

const char *flow_verdict_name(enum flow_verdict v)
{
	switch (v) {
	case FLOW_VERDICT_ALLOWED:
		return "allowed";
	case FLOW_VERDICT_VIOLATION:
		return "violation";
	case FLOW_VERDICT_DENIED:
		return "denied";
	default:
		return "unknown";
	}
}

struct flows *flows__new(void)
{
	struct flows *f = calloc(1, sizeof(*f));

	if (f)
		f->pass = 1;
	return f;
}

static void convs_clear(struct flows *f)
{
	for (size_t i = 0; i < CONV_BUCKETS; i++) {
		while (f->convs[i]) {
			struct conv *c = f->convs[i];
			f->convs[i] = c->next;
			free(c);
		}
	}
}

void flows__free(struct flows *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < KEY_BUCKETS; i++) {
		while (f->keys[i]) {
			struct prev *p = f->keys[i];
			f->keys[i] = p->next;
			free(p);
		}
	}
	convs_clear(f);
	free(f);
}

static struct verdict_slot *verdict_slot(struct flows *f, uint64_t cgroup_id, bool inbound,
					 uint8_t family, const uint8_t *raddr, uint8_t proto,
					 uint16_t port, struct verdict_slot *want)
{
	memset(want, 0, sizeof(*want));
	want->cgroup_id = cgroup_id;
	want->used = 1;
	want->inbound = inbound;
	want->family = family;
	want->proto = proto;
	want->port = port;
	memcpy(want->raddr, raddr, family == AF_INET ? 4 : 16);
	return &f->verdicts[hash_fnv1a(HASH_FNV_OFFSET, want, sizeof(*want)) % VERDICT_SLOTS];
}

void flows__set_verdict(struct flows *f, uint64_t cgroup_id, bool inbound, uint8_t family,
			const uint8_t *raddr, uint8_t proto, uint16_t port, enum flow_verdict v)
{
	struct verdict_slot want;
	struct verdict_slot *s = verdict_slot(f, cgroup_id, inbound, family, raddr, proto, port, &want);

	want.verdict = (uint8_t)v;
	*s = want;
}

static enum flow_verdict verdict_get(struct flows *f, const struct flow_record *r)
{
	struct verdict_slot want;
	struct verdict_slot *s = verdict_slot(f, r->cgroup_id, !r->container_is_client, r->family,
					      r->raddr, r->proto, r->server_port, &want);

	want.verdict = s->verdict;
	return memcmp(s, &want, sizeof(want)) == 0 ? (enum flow_verdict)s->verdict
						   : FLOW_VERDICT_UNKNOWN;
}

/* Who is the server: the initiator's peer; not seen (an entry created
 * mid-connection), the end with the lower port, as services listen on
 * low ports and clients use ephemeral ones. */
static bool local_is_client(const struct wacht_flow_key *k, const struct wacht_flow_val *v)
{
	if (v->initiator == WACHT_FLOW_INIT_LOCAL)
		return true;
	if (v->initiator == WACHT_FLOW_INIT_REMOTE)
		return false;
	return k->lport > k->rport;
}

static struct conv *conv_get(struct flows *f, const struct flow_record *want)
{
	struct {
		uint64_t cg;
		uint8_t client, family, proto, _pad;
		uint16_t port;
		uint8_t raddr[16];
	} ck = { want->cgroup_id, want->container_is_client, want->family, want->proto, 0,
		 want->server_port, { 0 } };
	memcpy(ck.raddr, want->raddr, 16);
	struct conv **b = &f->convs[hash_fnv1a(HASH_FNV_OFFSET, &ck, sizeof(ck)) % CONV_BUCKETS];

	for (struct conv *c = *b; c; c = c->next)
		if (c->r.cgroup_id == want->cgroup_id &&
		    c->r.container_is_client == want->container_is_client &&
		    c->r.family == want->family && c->r.proto == want->proto &&
		    c->r.server_port == want->server_port && memcmp(c->r.raddr, want->raddr, 16) == 0)
			return c;
	struct conv *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->r = *want;
	c->next = *b;
	*b = c;
	return c;
}

/* Deltas: a counter below what was reported means the entry is a new one
 * under the same key (deleted or evicted in between): all of it is new. */
static uint64_t delta(uint64_t cur, uint64_t old, bool fresh)
{
	return fresh || cur < old ? cur : cur - old;
}

int flows__add(struct flows *f, const struct wacht_flow_key *k, const struct wacht_flow_val *v)
{
	struct prev **b = &f->keys[hash_fnv1a(HASH_FNV_OFFSET, k, sizeof(*k)) % KEY_BUCKETS], *p;

	for (p = *b; p; p = p->next)
		if (memcmp(&p->k, k, sizeof(*k)) == 0)
			break;
	bool fresh = !p || p->v.first_ns != v->first_ns;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->k = *k;
		p->next = *b;
		*b = p;
	}
	struct flow_record d = {
		.cgroup_id = k->cgroup_id,
		.container_is_client = local_is_client(k, v),
		.family = (uint8_t)k->family,
		.proto = k->proto,
	};
	d.server_port = d.container_is_client ? k->rport : k->lport;
	memcpy(d.laddr, k->laddr, 16);
	memcpy(d.raddr, k->raddr, 16);
	uint64_t bo = delta(v->bytes_out, p->v.bytes_out, fresh);
	uint64_t bi = delta(v->bytes_in, p->v.bytes_in, fresh);
	uint64_t po = delta(v->pkts_out, p->v.pkts_out, fresh);
	uint64_t pi = delta(v->pkts_in, p->v.pkts_in, fresh);
	uint32_t se = (uint32_t)delta(v->sessions, p->v.sessions, fresh);
	p->v = *v;
	p->pass = f->pass;
	if (!bo && !bi && !po && !pi && !se)
		return 0;

	struct conv *c = conv_get(f, &d);
	if (!c)
		return -ENOMEM;
	struct flow_record *r = &c->r;
	r->bytes_to_server += d.container_is_client ? bo : bi;
	r->bytes_to_client += d.container_is_client ? bi : bo;
	r->pkts_to_server += d.container_is_client ? po : pi;
	r->pkts_to_client += d.container_is_client ? pi : po;
	r->sessions += se;
	if (!r->first_ns || v->first_ns < r->first_ns)
		r->first_ns = v->first_ns;
	if (v->last_ns > r->last_ns)
		r->last_ns = v->last_ns;
	return 0;
}

int flows__add_refused(struct flows *f, uint64_t cgroup_id, uint8_t family, const uint8_t *raddr,
		       uint8_t proto, uint16_t port, uint64_t now_ns)
{
	struct flow_record d = {
		.cgroup_id = cgroup_id,
		.container_is_client = true,
		.family = family,
		.proto = proto,
		.server_port = port,
	};
	memcpy(d.raddr, raddr, family == AF_INET ? 4 : 16);
	struct conv *c = conv_get(f, &d);
	if (!c)
		return -ENOMEM;
	c->r.sessions++;
	if (!c->r.first_ns || now_ns < c->r.first_ns)
		c->r.first_ns = now_ns;
	if (now_ns > c->r.last_ns)
		c->r.last_ns = now_ns;
	return 0;
}

size_t flows__report(struct flows *f, flow_record_fn fn, void *ctx)
{
	size_t n = 0;

	for (size_t i = 0; i < CONV_BUCKETS; i++) {
		for (struct conv *c = f->convs[i]; c; c = c->next) {
			c->r.verdict = verdict_get(f, &c->r);
			fn(ctx, &c->r);
			n++;
		}
	}
	convs_clear(f);
	/* keys not seen in this pass are gone from the map */
	for (size_t i = 0; i < KEY_BUCKETS; i++) {
		for (struct prev **pp = &f->keys[i]; *pp;) {
			if ((*pp)->pass != f->pass) {
				struct prev *p = *pp;
				*pp = p->next;
				free(p);
			} else {
				pp = &(*pp)->next;
			}
		}
	}
	f->pass++;
	return n;
}

uint64_t flows_evictions(uint64_t inserted, uint64_t deleted, uint64_t alive)
{
	/* a read races with inserts: never below 0 */
	return inserted > deleted + alive ? inserted - deleted - alive : 0;
}
