/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* netpolicy.bpf.h: the network segmentation decision (bpf/enforce.h), taken
 * from the policy maps that userspace/enforce_net.c compiles. */
#ifndef WACHT_NETPOLICY_BPF_H
#define WACHT_NETPOLICY_BPF_H

#include "emit.bpf.h"
#include <bpf/bpf_endian.h>

#define NP_AF_INET 2
#define NP_AF_INET6 10
#define NP_IPPROTO_TCP 6
#define NP_IPPROTO_UDP 17

/* A peer as the policy sees it: IPv4 in the first 4 bytes. */
struct np_peer {
	__u32 family;
	__u8 addr[16];
};

/* ::ffff:a.b.c.d (a dual-stack socket's IPv4 peer) becomes a.b.c.d, as
 * the rule engine unmaps it (engine.c unmap_v4). */
static __always_inline void np_peer_v6(struct np_peer *p, const __u32 *ip6)
{
	__u32 w[4] = { ip6[0], ip6[1], ip6[2], ip6[3] };

	__builtin_memset(p, 0, sizeof(*p));
	if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff)) {
		p->family = NP_AF_INET;
		__builtin_memcpy(p->addr, &w[3], 4);
		return;
	}
	p->family = NP_AF_INET6;
	__builtin_memcpy(p->addr, w, 16);
}

static __always_inline void np_peer_v4(struct np_peer *p, __u32 ip4)
{
	__builtin_memset(p, 0, sizeof(*p));
	p->family = NP_AF_INET;
	__builtin_memcpy(p->addr, &ip4, 4);
}

/* 127/8 and ::1 are never enforced: the rule engine ignores them too. */
static __always_inline bool np_loopback(const struct np_peer *p)
{
	if (p->family == NP_AF_INET)
		return p->addr[0] == 127;
	__u32 w[4];
	__builtin_memcpy(w, p->addr, 16);
	return w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == bpf_htonl(1);
}

/* The container's policy if its network is enforced: an entry with a
 * resolved identity (KNOWN) in network Protect, and enforcement not
 * switched off (--alert-only). */
static __always_inline bool np_enforced(const struct wacht_cg_policy *cg)
{
	__u32 want = WACHT_CG_KNOWN | WACHT_CG_NET_PROTECT;

	return cfg_enforce && cg && (cg->flags & want) == want;
}

static __always_inline struct wacht_cg_policy *np_cgroup(__u64 cgroup_id)
{
	if (!cfg_enforce)
		return NULL;
	struct wacht_cg_policy *cg = bpf_map_lookup_elem(&enforce_cgroups, &cgroup_id);

	return np_enforced(cg) ? cg : NULL;
}

/* Exact addresses (containers, this host) first, then the longest address
 * group CIDR; a peer in neither is external. Userspace always adds a
 * family-wide entry (prefixlen 32) with the class of an unlisted address,
 * so the fallback is only taken if the trie could not hold it. */
static __always_inline __u32 np_peer_class(const struct np_peer *p)
{
	struct wacht_addr_key ak = { .family = p->family };
	__builtin_memcpy(ak.addr, p->addr, 16);
	__u32 *c = bpf_map_lookup_elem(&peer_addrs, &ak);

	if (c)
		return *c;
	struct wacht_cidr_key ck = {
		.prefixlen = 32 + (p->family == NP_AF_INET ? 32 : 128),
		.family = p->family,
	};
	__builtin_memcpy(ck.addr, p->addr, 16);
	c = bpf_map_lookup_elem(&peer_cidrs, &ck);
	return c ? *c : WACHT_CLASS_EXTERNAL;
}

/* First matching entry of the (set, class, direction) table; no table: no
 * rule applies to that peer, which Protect refuses. Returns WACHT_NA_*. */
static __always_inline __u32 np_decide(__u32 set, __u32 class, __u32 dir, __u8 proto, __u16 port)
{
	struct wacht_net_key k = { .set = set, .peer_class = class, .direction = dir };
	struct wacht_net_rules *r = bpf_map_lookup_elem(&net_rules, &k);

	if (!r)
		return WACHT_NA_DENY;
	__u32 n = r->n;
	for (__u32 i = 0; i < WACHT_NET_ENTRIES; i++) {
		if (i >= n)
			break;
		struct wacht_net_entry *e = &r->e[i];
		if ((e->proto == 0 || e->proto == proto) && e->lo <= port && port <= e->hi)
			return e->action;
	}
	return r->dflt;
}

/* What the syscall's exit record is matched against: the destination a
 * refused connect/sendmsg named (so a refusal the exit never saw, e.g. in
 * sendmmsg, which is not reported, cannot mark a later call to elsewhere). */
static __always_inline __u32 np_dest_tag(const struct np_peer *p, __u16 port)
{
	__u32 h = 2166136261u ^ port;

	for (int i = 0; i < 16; i++)
		h = (h ^ p->addr[i]) * 16777619u;
	return h | 1;
}

/* An outgoing connect / unconnected UDP send in a cgroup/connect* or
 * cgroup/sendmsg* hook: 1 lets it through, 0 refuses it (EPERM). */
static __always_inline int np_egress(const struct np_peer *p, __u32 proto, __u16 port,
				     __u32 counter)
{
	if (proto != NP_IPPROTO_TCP && proto != NP_IPPROTO_UDP)
		return 1;
	if (np_loopback(p))
		return 1;
	struct wacht_cg_policy *cg = np_cgroup(bpf_get_current_cgroup_id());
	if (!cg)
		return 1;
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) == cfg_sensor_tgid)
		return 1;
	if (np_decide(cg->net_set, np_peer_class(p), WACHT_DIR_EGRESS, proto, port) != WACHT_NA_DENY)
		return 1;
	enforce_count(counter);
	__u32 tag = np_dest_tag(p, port);
	bpf_map_update_elem(&net_denied, &id, &tag, BPF_ANY);
	return 0;
}

/* The exit record of a connect/sendto/sendmsg: the tag np_egress left if
 * it refused this thread's call (0: none). Taken (deleted) either way, so
 * it marks one call only. */
static __always_inline __u32 np_denied_take(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 *tag = bpf_map_lookup_elem(&net_denied, &id);

	if (!tag)
		return 0;
	__u32 t = *tag;
	bpf_map_delete_elem(&net_denied, &id);
	return t;
}

/* np_dest_tag of a record's remote end (events.h layout). */
static __always_inline __u32 np_record_tag(__u16 family, const __u8 *raddr, __u16 rport)
{
	struct np_peer p;

	if (family == NP_AF_INET6) {
		__u32 w[4];
		__builtin_memcpy(w, raddr, 16);
		np_peer_v6(&p, w);
	} else {
		__u32 a;
		__builtin_memcpy(&a, raddr, 4);
		np_peer_v4(&p, a);
	}
	return np_dest_tag(&p, rport);
}

/* ---- ingress: a TCP SYN arriving for a container's listening socket */

struct np_syn {
	struct np_peer src;   /* the connecting peer */
	__u8 dst[16];         /* the local address it connects to */
	__u16 sport, dport;   /* host order */
};

/* A dropped SYN is reported at most once a second per (container, peer,
 * port): a SYN flood from a forbidden peer must not flood the ring. */
#define NP_REPORT_NS 1000000000ULL

static __always_inline void np_report_ingress(struct __sk_buff *skb, __u64 cgroup_id,
					      const struct np_syn *s)
{
	struct wacht_ingress_key k = { .cgroup_id = cgroup_id, .family = s->src.family,
				       .port = s->dport };
	__u64 now = bpf_ktime_get_boot_ns();

	__builtin_memcpy(k.addr, s->src.addr, 16);
	__u64 *last = bpf_map_lookup_elem(&ingress_reported, &k);
	if (last && now - *last < NP_REPORT_NS)
		return;
	bpf_map_update_elem(&ingress_reported, &k, &now, BPF_ANY);

	/* on the stack, not in the scratch map: this runs in softirq and may
	 * interrupt a tracepoint program that is using the scratch */
	struct wacht_net e = {};
	e.hdr.ts_ns = now;
	e.hdr.cgroup_id = cgroup_id;
	e.hdr.type = WACHT_EV_NET;
	e.hdr.flags = WACHT_F_DENIED;
	e.hdr.cpu = bpf_get_smp_processor_id();
	/* pid, tgid, credentials, comm: 0 (current is unrelated in softirq) */
	e.op = WACHT_NET_ACCEPT;
	e.family = s->src.family;
	e.proto = NP_IPPROTO_TCP;
	e.direction = WACHT_DIR_IN;
	e.result = -1; /* -EPERM: refused by policy */
	__builtin_memcpy(e.laddr, s->dst, 16);
	__builtin_memcpy(e.raddr, s->src.addr, 16);
	e.lport = s->dport;
	e.rport = s->sport;
	emit(&e, sizeof(e));
}

#endif
