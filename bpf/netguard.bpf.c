// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* netguard.bpf.c: network segmentation in Protect mode. Outgoing connects
 * and unconnected UDP sends the container's egress rules forbid fail with
 * EPERM; inbound TCP connections its ingress rules forbid are dropped at
 * the SYN. The decision is in include/netpolicy.bpf.h.
 *
 * Why these hooks: cgroup/connect{4,6} run in the connect() path of every
 * TCP and UDP socket (inet_stream_connect / inet_dgram_connect) and
 * cgroup/sendmsg{4,6} in udp(v6)_sendmsg when a destination is given, before
 * a packet exists, in the calling task: returning 0 makes the syscall fail
 * with EPERM. They are attached to the cgroup v2 root and so run for every
 * socket; np_cgroup() picks out the enforced containers.
 *
 * UDP inbound is not dropped: without connection tracking a datagram that
 * answers the container's own send cannot be told from a new flow, so
 * dropping by the ingress rules would break allowed UDP clients (DNS). The
 * sender's egress rule is the control for UDP.
 */
#include "flow.bpf.h"
#include "netpolicy.bpf.h"

SEC("cgroup/connect4")
int handle_connect4(struct bpf_sock_addr *ctx)
{
	struct np_peer p;

	np_peer_v4(&p, ctx->user_ip4);
	return np_egress(&p, ctx->protocol, bpf_ntohs(ctx->user_port), WACHT_EC_CONNECT_DENY);
}

SEC("cgroup/connect6")
int handle_connect6(struct bpf_sock_addr *ctx)
{
	struct np_peer p;
	__u32 ip6[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };

	np_peer_v6(&p, ip6);
	return np_egress(&p, ctx->protocol, bpf_ntohs(ctx->user_port), WACHT_EC_CONNECT_DENY);
}

SEC("cgroup/sendmsg4")
int handle_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct np_peer p;

	np_peer_v4(&p, ctx->user_ip4);
	return np_egress(&p, ctx->protocol, bpf_ntohs(ctx->user_port), WACHT_EC_SENDMSG_DENY);
}

SEC("cgroup/sendmsg6")
int handle_sendmsg6(struct bpf_sock_addr *ctx)
{
	struct np_peer p;
	__u32 ip6[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };

	np_peer_v6(&p, ip6);
	return np_egress(&p, ctx->protocol, bpf_ntohs(ctx->user_port), WACHT_EC_SENDMSG_DENY);
}

/* tcp_v4_rcv / tcp_v6_rcv run the cgroup ingress programs of the
 * receiving socket (sk_filter) before a SYN reaches the listener: dropped
 * here, no SYN-ACK is ever sent and the client's connect times out.
 *
 * The one ingress program: every packet to every socket comes here, so one
 * cgroup lookup and one parse serve both the flow accounting (every known
 * container, flow.bpf.h) and the SYN check (containers in network
 * Protect). A dropped SYN is still counted as a session of its
 * conversation. */
SEC("cgroup_skb/ingress")
int handle_ingress(struct __sk_buff *skb)
{
	__u64 cgroup_id = bpf_skb_cgroup_id(skb);
	struct wacht_cg_policy *cg = flow_cgroup(cgroup_id);
	struct flow_pkt p;
	struct np_syn s;

	if (!cg || !flow_parse(skb, false, &p))
		return 1;
	flow_add(&p, cgroup_id, false);
	if (!np_enforced(cg) || p.k.proto != NP_IPPROTO_TCP || !p.syn)
		return 1;
	/* the flow key's remote end is the packet's source */
	__builtin_memset(&s, 0, sizeof(s));
	if (p.k.family == NP_AF_INET6) {
		__u32 w[4];
		__builtin_memcpy(w, p.k.raddr, 16);
		np_peer_v6(&s.src, w);
	} else {
		__u32 a;
		__builtin_memcpy(&a, p.k.raddr, 4);
		np_peer_v4(&s.src, a);
	}
	__builtin_memcpy(s.dst, p.k.laddr, 16);
	s.sport = p.k.rport;
	s.dport = p.k.lport;
	if (np_loopback(&s.src))
		return 1;
	if (np_decide(cg->net_set, np_peer_class(&s.src), WACHT_DIR_INGRESS, NP_IPPROTO_TCP,
		      s.dport) != WACHT_NA_DENY)
		return 1;
	enforce_count(WACHT_EC_INGRESS_DROP);
	np_report_ingress(skb, cgroup_id, &s);
	return 0;
}
