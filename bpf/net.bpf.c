// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* net.bpf.c: finish the record of connect, accept, bind, listen and the
 * first UDP send to a peer, for TCP and UDP over IPv4 and IPv6. */
#include "path.bpf.h"
#include "syscalls.bpf.h"
#include "netpolicy.bpf.h"
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#define AF_INET_ 2
#define AF_INET6_ 10
#define S_IFMT_ 00170000
#define S_IFSOCK_ 0140000
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

/* The sock behind an fd, or NULL when the fd is not a socket. */
static __always_inline struct sock *fd_sock(struct task_struct *task, long fd)
{
	struct file *f = task_fd_file(task, fd);

	if (!f)
		return NULL;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT_) != S_IFSOCK_)
		return NULL;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(sock, sk);
}

/* Local (and, if connected, remote) endpoint from the sock itself. */
static __always_inline void sock_endpoints(struct sock *sk, struct wacht_net *e, bool remote)
{
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (e->family == AF_INET_) {
		bpf_core_read(e->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		if (remote)
			bpf_core_read(e->raddr, 4, &sk->__sk_common.skc_daddr);
	} else if (e->family == AF_INET6_) {
		bpf_core_read(e->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		if (remote)
			bpf_core_read(e->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	if (remote)
		e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

/* An address the process passed in (connect/bind/sendto): sockaddr_in or
 * sockaddr_in6 in user memory. Returns the family, 0 if not INET. */
static __always_inline __u16 user_sockaddr(const void *uaddr, __u8 *addr, __u16 *port)
{
	struct {
		__u16 family;
		__u16 port;
		__u32 v4_or_flowinfo;
		__u8 v6[16];
	} sa = {};

	if (!uaddr || bpf_probe_read_user(&sa, sizeof(sa), uaddr)) {
		/* a sockaddr_in is 16 bytes: retry with the short form */
		if (!uaddr || bpf_probe_read_user(&sa, 16, uaddr))
			return 0;
	}
	*port = bpf_ntohs(sa.port);
	if (sa.family == AF_INET_) {
		__builtin_memcpy(addr, &sa.v4_or_flowinfo, 4);
		return AF_INET_;
	}
	if (sa.family == AF_INET6_) {
		__builtin_memcpy(addr, sa.v6, 16);
		return AF_INET6_;
	}
	return 0;
}

SEC("tp")
int handle_net_exit(struct sc_exit_ctx *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct wacht_pending p;

	if (!pending_take(task, &p))
		return 0;

	/* refused by netguard's cgroup hook (taken before any return below,
	 * so it never marks a later call) */
	__u32 denied = p.nr == NR_connect || p.nr == NR_sendto || p.nr == NR_sendmsg ?
			       np_denied_take() : 0;
	long ret = ctx->ret;
	/* accept returns the new connection's fd; everything else acts on arg 0 */
	bool is_accept = p.nr == NR_accept || p.nr == NR_accept4;

	if (is_accept && ret < 0)
		return 0; /* EAGAIN of a non-blocking server is not an event */
	struct sock *sk = fd_sock(task, is_accept ? ret : (long)p.args[0]);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET_ && family != AF_INET6_)
		return 0;

	struct wacht_scratch *s = scratch_get(WACHT_EV_NET);
	if (!s)
		return 0;
	struct wacht_net *e = (void *)s->rec;

	__builtin_memset(e, 0, sizeof(*e));
	hdr_fill(&e->hdr, WACHT_EV_NET, task);
	e->result = ret;
	e->fd = is_accept ? ret : p.args[0];
	e->proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	if (e->proto != IPPROTO_TCP_ && e->proto != IPPROTO_UDP_)
		return 0;

	switch (p.nr) {
	case NR_connect:
		e->op = WACHT_NET_CONNECT;
		e->direction = WACHT_DIR_OUT;
		sock_endpoints(sk, e, false);
		if (!user_sockaddr((void *)p.args[1], e->raddr, &e->rport))
			return 0; /* AF_UNSPEC disconnect of a UDP socket */
		if (denied && np_record_tag(e->family, e->raddr, e->rport) == denied)
			e->hdr.flags |= WACHT_F_DENIED;
		break;
	case NR_accept:
	case NR_accept4:
		e->op = WACHT_NET_ACCEPT;
		e->direction = WACHT_DIR_IN;
		sock_endpoints(sk, e, true);
		break;
	case NR_bind:
		e->op = WACHT_NET_BIND;
		e->direction = WACHT_DIR_IN;
		e->family = family;
		if (!user_sockaddr((void *)p.args[1], e->laddr, &e->lport))
			return 0;
		break;
	case NR_listen:
		e->op = WACHT_NET_LISTEN;
		e->direction = WACHT_DIR_IN;
		sock_endpoints(sk, e, false);
		break;
	case NR_sendto:
	case NR_sendmsg: {
		const void *uaddr = (void *)p.args[4];

		if (e->proto != IPPROTO_UDP_)
			return 0;
		if (p.nr == NR_sendmsg) {
			/* struct user_msghdr starts with void *msg_name */
			uaddr = NULL;
			bpf_probe_read_user(&uaddr, sizeof(uaddr), (void *)p.args[1]);
		}
		if (!uaddr)
			return 0; /* connected socket: its connect() was reported */
		e->op = WACHT_NET_UDP_SEND;
		e->direction = WACHT_DIR_OUT;
		sock_endpoints(sk, e, false);
		if (!user_sockaddr(uaddr, e->raddr, &e->rport))
			return 0;
		struct wacht_udp_peer peer = { .tgid = e->hdr.tgid, .family = e->family,
					       .rport = e->rport };
		__builtin_memcpy(peer.raddr, e->raddr, 16);
		__u8 one = 1;
		/* a refused send is reported each time (the findings are
		 * aggregated) and does not count as the peer's first send */
		if (denied && np_record_tag(e->family, e->raddr, e->rport) == denied) {
			e->hdr.flags |= WACHT_F_DENIED;
			break;
		}
		if (bpf_map_update_elem(&udp_peers, &peer, &one, BPF_NOEXIST))
			return 0; /* already reported */
		break;
	}
	default:
		return 0;
	}
	emit(e, sizeof(*e));
	return 0;
}
