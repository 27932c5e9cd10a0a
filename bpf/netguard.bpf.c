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
 * here, no SYN-ACK is ever sent and the client's connect times out. */
SEC("cgroup_skb/ingress")
int handle_ingress(struct __sk_buff *skb)
{
	/* every packet to every socket comes here: the policy lookup first,
	 * parsing only for enforced containers */
	__u64 cgroup_id = bpf_skb_cgroup_id(skb);
	struct wacht_cg_policy *cg = np_cgroup(cgroup_id);
	struct np_syn s;

	if (!cg || !np_parse_syn(skb, &s) || np_loopback(&s.src))
		return 1;
	if (np_decide(cg->net_set, np_peer_class(&s.src), WACHT_DIR_INGRESS, NP_IPPROTO_TCP,
		      s.dport) != WACHT_NA_DENY)
		return 1;
	enforce_count(WACHT_EC_INGRESS_DROP);
	np_report_ingress(skb, cgroup_id, &s);
	return 0;
}
