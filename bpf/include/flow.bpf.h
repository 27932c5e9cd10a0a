/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* flow.bpf.h: per-container conversation counters (map flows, events.h
 * wacht_flow_*), added to by every packet of a container's sockets. */
#ifndef WACHT_FLOW_BPF_H
#define WACHT_FLOW_BPF_H

#include "maps.bpf.h"
#include <bpf/bpf_endian.h>

#define FLOW_AF_INET 2
#define FLOW_AF_INET6 10
#define FLOW_IPPROTO_TCP 6
#define FLOW_IPPROTO_UDP 17
#define FLOW_ETH_P_IP 0x0800
#define FLOW_ETH_P_IPV6 0x86DD
#define FLOW_TCP_SYN 0x02
#define FLOW_TCP_ACK 0x10
/* IPv6 extension headers skipped (hop-by-hop, routing, destination
 * options, a first fragment); more, or AH/ESP: the packet is not counted */
#define FLOW_V6_EXT_MAX 4

struct flow_pkt {
	struct wacht_flow_key k;
	__u32 payload; /* L4 payload bytes of the whole skb */
	__u32 segs;    /* wire packets it stands for */
	bool syn;      /* TCP SYN without ACK: a connection being opened */
};

/* Only containers whose identity userspace resolved: their cgroups have an
 * enforce_cgroups entry with WACHT_CG_KNOWN (the enforcer writes one for
 * every container, in every mode). Host processes and the cgroups of
 * system services are not accounted: the issue is per container, and a
 * lookup that misses is the whole cost of a host packet. */
/* The container's entry if its traffic is accounted (a resolved identity). */
static __always_inline struct wacht_cg_policy *flow_cgroup(__u64 cgroup_id)
{
	struct wacht_cg_policy *cg = bpf_map_lookup_elem(&enforce_cgroups, &cgroup_id);

	return cg && (cg->flags & WACHT_CG_KNOWN) ? cg : NULL;
}

static __always_inline void flow_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&flow_counters, &idx);

	if (c)
		*c += 1;
}

/* Parses the packet at its network header (where cgroup_skb programs see
 * it, in both directions). out: the container sends it (local = source). */
static __always_inline bool flow_parse(struct __sk_buff *skb, bool out, struct flow_pkt *p)
{
	__u32 off, len = skb->len;
	__u8 proto;
	__u8 *src, *dst;

	__builtin_memset(p, 0, sizeof(*p));
	src = out ? p->k.laddr : p->k.raddr;
	dst = out ? p->k.raddr : p->k.laddr;
	if (skb->protocol == bpf_htons(FLOW_ETH_P_IP)) {
		struct {
			__u8 vihl, tos;
			__u16 len, id, frag;
			__u8 ttl, proto;
			__u16 csum;
			__u32 saddr, daddr;
		} ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return false;
		/* later fragments carry no ports: not counted (fragmented
		 * TCP/UDP is rare; the first fragment still is) */
		if (bpf_ntohs(ip.frag) & 0x1fff)
			return false;
		p->k.family = FLOW_AF_INET;
		__builtin_memcpy(src, &ip.saddr, 4);
		__builtin_memcpy(dst, &ip.daddr, 4);
		proto = ip.proto;
		off = (ip.vihl & 0xf) * 4;
		/* 127/8 is inside the container: not a conversation */
		if ((ip.saddr & bpf_htonl(0xff000000)) == bpf_htonl(0x7f000000))
			return false;
	} else if (skb->protocol == bpf_htons(FLOW_ETH_P_IPV6)) {
		struct {
			__u32 vtcfl;
			__u16 len;
			__u8 next, hops;
			__u32 saddr[4], daddr[4];
		} ip6;
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return false;
		p->k.family = FLOW_AF_INET6;
		__builtin_memcpy(src, ip6.saddr, 16);
		__builtin_memcpy(dst, ip6.daddr, 16);
		if (ip6.saddr[0] == 0 && ip6.saddr[1] == 0 && ip6.saddr[2] == 0 &&
		    ip6.saddr[3] == bpf_htonl(1))
			return false; /* ::1 */
		off = sizeof(ip6);
		proto = ip6.next;
		for (int i = 0; i < FLOW_V6_EXT_MAX; i++) {
			if (proto == FLOW_IPPROTO_TCP || proto == FLOW_IPPROTO_UDP)
				break;
			__u8 ext[8];
			if (bpf_skb_load_bytes(skb, off & 0xffff, ext, sizeof(ext)))
				return false;
			if (proto == 0 || proto == 43 || proto == 60) {
				off += (ext[1] + 1) * 8;
			} else if (proto == 44) {
				if (((ext[2] << 8) | ext[3]) & 0xfff8)
					return false; /* not the first fragment */
				off += 8;
			} else {
				return false;
			}
			proto = ext[0];
		}
	} else {
		return false;
	}
	p->k.proto = proto;
	if (proto == FLOW_IPPROTO_TCP) {
		struct {
			__u16 sport, dport;
			__u32 seq, ack;
			__u8 doff, flags;
		} tcp;
		if (bpf_skb_load_bytes(skb, off & 0xffff, &tcp, sizeof(tcp)))
			return false;
		p->k.lport = bpf_ntohs(out ? tcp.sport : tcp.dport);
		p->k.rport = bpf_ntohs(out ? tcp.dport : tcp.sport);
		p->syn = (tcp.flags & (FLOW_TCP_SYN | FLOW_TCP_ACK)) == FLOW_TCP_SYN;
		off += (tcp.doff >> 4) * 4;
	} else if (proto == FLOW_IPPROTO_UDP) {
		struct {
			__u16 sport, dport, len, csum;
		} udp;
		if (bpf_skb_load_bytes(skb, off & 0xffff, &udp, sizeof(udp)))
			return false;
		p->k.lport = bpf_ntohs(out ? udp.sport : udp.dport);
		p->k.rport = bpf_ntohs(out ? udp.dport : udp.sport);
		off += 8;
	} else {
		return false;
	}
	/* a GSO (egress) or GRO (ingress) skb carries its headers once and
	 * the payload of gso_segs wire packets: payload bytes stay exact */
	p->payload = len > off ? len - off : 0;
	p->segs = skb->gso_segs ? skb->gso_segs : 1;
	return true;
}

/* Adds one packet to its conversation. Values are shared between CPUs:
 * counters are added atomically; first/last seen, the initiator and the
 * flags are plain stores (a lost race moves last_ns by nanoseconds). */
static __always_inline void flow_add(struct flow_pkt *p, __u64 cgroup_id, bool out)
{
	p->k.cgroup_id = cgroup_id;
	__u64 now = bpf_ktime_get_boot_ns();
	struct wacht_flow_val *v = bpf_map_lookup_elem(&flows, &p->k);
	if (!v) {
		struct wacht_flow_val nv = {
			.first_ns = now,
			.last_ns = now,
			.sessions = (p->syn || p->k.proto == FLOW_IPPROTO_UDP) ? 1 : 0,
			.flags = p->syn ? WACHT_FLOW_F_SYN_LAST : 0,
		};
		/* UDP: whoever sent first; TCP: the SYN's sender, else unknown */
		if (p->syn || p->k.proto == FLOW_IPPROTO_UDP)
			nv.initiator = out ? WACHT_FLOW_INIT_LOCAL : WACHT_FLOW_INIT_REMOTE;
		if (out) {
			nv.bytes_out = p->payload;
			nv.pkts_out = p->segs;
		} else {
			nv.bytes_in = p->payload;
			nv.pkts_in = p->segs;
		}
		long err = bpf_map_update_elem(&flows, &p->k, &nv, BPF_NOEXIST);
		if (err == 0) {
			flow_count(WACHT_FC_INSERTED);
			return;
		}
		/* -EEXIST: another CPU created it just now; add to theirs */
		v = bpf_map_lookup_elem(&flows, &p->k);
		if (!v) {
			flow_count(WACHT_FC_INSERT_FAIL);
			return;
		}
	}
	if (out) {
		__sync_fetch_and_add(&v->bytes_out, p->payload);
		__sync_fetch_and_add(&v->pkts_out, p->segs);
	} else {
		__sync_fetch_and_add(&v->bytes_in, p->payload);
		__sync_fetch_and_add(&v->pkts_in, p->segs);
	}
	v->last_ns = now;
	if (p->syn) {
		/* a SYN right after a SYN is its retransmission, not a new
		 * connection (a new one on the same ports needs the old one's
		 * FIN/RST packets in between) */
		if (!(v->flags & WACHT_FLOW_F_SYN_LAST)) {
			__sync_fetch_and_add(&v->sessions, 1);
			v->flags = WACHT_FLOW_F_SYN_LAST;
		}
		v->initiator = out ? WACHT_FLOW_INIT_LOCAL : WACHT_FLOW_INIT_REMOTE;
	} else if (v->flags & WACHT_FLOW_F_SYN_LAST) {
		v->flags = 0;
	}
}

/* A packet of a known container, parsed and added (egress; ingress is
 * netguard's handle_ingress, which parses once for both). */
static __always_inline void flow_account(struct __sk_buff *skb, bool out)
{
	__u64 cgroup_id = bpf_skb_cgroup_id(skb);
	struct flow_pkt p;

	if (!flow_cgroup(cgroup_id) || !flow_parse(skb, out, &p))
		return;
	flow_add(&p, cgroup_id, out);
}

#endif
