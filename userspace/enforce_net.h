/* SPDX-License-Identifier: Apache-2.0 */
/* enforce_net.h: the network segmentation compiler. The policy, the rule
 * engine's view of each container and the addresses of this node in; the
 * contents of the kernel maps peer_addrs, peer_cidrs and net_rules
 * (bpf/enforce.h) out. Pure: no root, no kernel; loader__net_apply() writes
 * the result. */
#ifndef WACHT_ENFORCE_NET_H
#define WACHT_ENFORCE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "enforce.h"
#include "match.h"
#include "policy.h"

/* One container on this node, as a peer and (protect) as enforced. */
struct enforce_net_container {
	uint64_t cgroup_id;
	const uint64_t *member;          /* its groups (engine_view.member), copied */
	size_t member_words;
	const size_t *egress, *ingress;  /* engine_view: indexes into policy->net, match order */
	size_t n_egress, n_ingress;
	bool protect;                    /* network mode Protect: enforce its rules */
	const struct entity_addr *addrs; /* its own addresses */
	size_t n_addrs;
};

/* One address of a container of another node (the peer map): only ever a
 * peer, classified by its groups like a container here. */
struct enforce_net_remote {
	const uint64_t *member;          /* its groups (engine_view.member) */
	size_t member_words;
	struct entity_addr addr;
};

/* The groups a peer that is not a container is in (engine__peer_member):
 * bits has words words, zeroed by the caller. */
typedef void (*enforce_net_member_fn)(void *ctx, bool host, uint8_t family, const uint8_t *addr,
				      uint64_t *bits, size_t words);

struct enforce_net_input {
	const struct policy *policy;
	const struct enforce_net_container *containers;
	size_t n_containers;
	const struct entity_addr *host;  /* this node's own addresses */
	size_t n_host;
	/* containers of other nodes; an address the host or a container here
	 * has is theirs (the sensor resolves it so) */
	const struct enforce_net_remote *remote;
	size_t n_remote;
	enforce_net_member_fn member;
	void *member_ctx;
};

struct enforce_net_addr {
	struct wacht_addr_key key;
	uint32_t class;
};
struct enforce_net_cidr {
	struct wacht_cidr_key key;
	uint32_t class;
};
struct enforce_net_table {
	struct wacht_net_key key;
	struct wacht_net_rules rules;
};
struct enforce_net_cg {
	uint64_t cgroup_id;
	uint32_t net_set;    /* 0 when not protect */
	bool protect;
	bool overflow;       /* some table did not fit: those peers not enforced */
};

/* What the maps hold; every array sorted by key (memcmp order). */
struct enforce_net_result {
	struct enforce_net_addr *addrs;
	size_t n_addrs;
	struct enforce_net_cidr *cidrs;
	size_t n_cidrs;
	struct enforce_net_table *tables;
	size_t n_tables;
	struct enforce_net_cg *cgs;      /* sorted by cgroup_id */
	size_t n_cgs;
	size_t n_classes;
	size_t n_overflow;   /* tables over WACHT_NET_ENTRIES, installed as allow-all */
};
void enforce_net_result_free(struct enforce_net_result *r); /* accepts NULL */

/*
 * The compiler keeps the ids it gave out, so that a recompile changes
 * only what changed: a container keeps its net_set for its lifetime, and a
 * peer class (a distinct set of groups, named by their names, so a reload
 * that renumbers groups keeps it) keeps its id while some peer is in it.
 * Then the maps can be updated in place, new entries before stale ones
 * are deleted, without a moment where an allowed connection finds no
 * table (see loader__net_apply).
 */
struct enforce_net;
struct enforce_net *enforce_net__new(void); /* NULL on ENOMEM */
void enforce_net__free(struct enforce_net *en); /* accepts NULL */

/*
 * Compiles in into *out (caller frees with enforce_net_result_free). 0 or
 * -ENOMEM. Tables: for each protect container and each peer class, the
 * rules of its egress (ingress) list whose `to` (`from`) group the class
 * is in, flattened into their port ranges in match order (ICMP ranges are
 * left out: the kernel hooks see TCP and UDP only); entries after a
 * catch-all and a run of deny entries at the end (the default is deny)
 * are dropped; a table with no entries is not written (no table = deny).
 * A table that still has more than WACHT_NET_ENTRIES entries is installed
 * as allow-all (n 0, dflt allow) and counted in n_overflow: those
 * connections are then only reported (the finding says why), never
 * refused wrongly.
 */
int enforce_net__compile(struct enforce_net *en, const struct enforce_net_input *in,
			 struct enforce_net_result **out);

/* The decision the kernel takes from r (netpolicy.bpf.h), for tests and
 * for explaining a finding: WACHT_NA_ALLOW / WACHT_NA_DENY, or 0 when the
 * container is not enforced (unknown or not protect) or the peer is
 * loopback. addr as in events.h; IPv4-mapped IPv6 is treated as IPv4. */
int enforce_net_decide(const struct enforce_net_result *r, uint64_t cgroup_id, uint8_t family,
		       const uint8_t *addr, int direction, uint8_t proto, uint16_t port);
/* The container's entry in r, or NULL. */
const struct enforce_net_cg *enforce_net_cg_find(const struct enforce_net_result *r,
						 uint64_t cgroup_id);

/* Decomposes [lo, hi] (family's width, network byte order) into CIDRs:
 * out[i] gets base address and prefix length; returns how many (at most
 * max; more would be needed: -E2BIG). */
struct enforce_net_block {
	uint8_t addr[16];
	uint8_t plen;
};
int enforce_net_range_cidrs(uint8_t family, const uint8_t *lo, const uint8_t *hi,
			    struct enforce_net_block *out, size_t max);

#endif
