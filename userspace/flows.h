/* SPDX-License-Identifier: Apache-2.0 */
/* flows.h: conversation records from successive reads of the kernel's flow
 * map (bpf/events.h wacht_flow_*): what changed since the last report,
 * client and server told apart, with the rule engine's verdict. Pure: the
 * sensor feeds it the map's entries, so cmocka tests it without a kernel. */
#ifndef WACHT_FLOWS_H
#define WACHT_FLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "events.h"

/* What the rule engine decided for the connection (or, for a record, the
 * worst of its connections'). Ordered: a larger one is worse. */
enum flow_verdict {
	FLOW_VERDICT_UNKNOWN = 0,   /* never evaluated (e.g. inbound UDP, or forgotten) */
	FLOW_VERDICT_ALLOWED = 1,   /* an allow rule, or learned in Discover */
	FLOW_VERDICT_VIOLATION = 2, /* a finding, the connection went through */
	FLOW_VERDICT_DENIED = 3,    /* refused (Protect) */
};
const char *flow_verdict_name(enum flow_verdict v);
/* (the same numbers as proto/wacht.proto FlowVerdict) */

/* One conversation since the last report: a container on this node (the
 * local end, by cgroup) and one remote address, one protocol and server
 * port; the client's ephemeral ports are folded together. */
struct flow_record {
	uint64_t cgroup_id;       /* the container's end */
	bool container_is_client; /* else the container is the server */
	uint8_t family;           /* AF_INET / AF_INET6 */
	uint8_t proto;            /* IPPROTO_TCP / IPPROTO_UDP */
	uint16_t server_port;
	uint8_t laddr[16];        /* the container's address */
	uint8_t raddr[16];        /* the peer's address */
	/* payload bytes / wire packets since the last report, by direction */
	uint64_t bytes_to_server, bytes_to_client;
	uint64_t pkts_to_server, pkts_to_client;
	uint32_t sessions;        /* connections opened (TCP SYN, new UDP 4-tuple) */
	uint64_t first_ns, last_ns; /* boot ns, over the folded entries */
	enum flow_verdict verdict;
};

struct flows;
struct flows *flows__new(void); /* NULL on ENOMEM */
void flows__free(struct flows *f); /* accepts NULL */

/* A read pass over the map: flows__add for every entry, then flows__report
 * once. Entries not added in a pass are forgotten (userspace deleted them,
 * or the LRU evicted them). 0 or -ENOMEM. */
int flows__add(struct flows *f, const struct wacht_flow_key *k, const struct wacht_flow_val *v);

typedef void (*flow_record_fn)(void *ctx, const struct flow_record *r);
/* Calls fn for every conversation with traffic or sessions since the
 * last report (in no particular order) and ends the pass. Returns the
 * number of records. */
size_t flows__report(struct flows *f, flow_record_fn fn, void *ctx);

/*
 * The engine's verdict on one connection: the container (cgroup), whether
 * it was inbound, the peer (IPv4-mapped addresses already unmapped), the
 * protocol and the server port. Kept in a bounded table (the newest
 * overwrites on collision); a record looks up its own key.
 */
void flows__set_verdict(struct flows *f, uint64_t cgroup_id, bool inbound, uint8_t family,
			const uint8_t *raddr, uint8_t proto, uint16_t port, enum flow_verdict v);

/* An outgoing connection the kernel refused (cgroup/connect, sendmsg):
 * no packet was sent, so the flow map never sees it; it is reported as a
 * session of the container (the client) to the peer with no bytes, so
 * that the graph shows the denied edge. now_ns: boot ns. 0 or -ENOMEM. */
int flows__add_refused(struct flows *f, uint64_t cgroup_id, uint8_t family, const uint8_t *raddr,
		       uint8_t proto, uint16_t port, uint64_t now_ns);

/* Evictions by the kernel's LRU: entries the kernel inserted (sum of
 * WACHT_FC_INSERTED) that are neither alive in the map nor deleted by
 * userspace. The kernel does not report an LRU eviction, so this is the
 * count that explains every missing entry. */
uint64_t flows_evictions(uint64_t inserted, uint64_t deleted, uint64_t alive);

#endif
