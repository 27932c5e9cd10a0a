// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* flow.bpf.c: traffic accounting for the network graph: every TCP/UDP
 * packet of a container adds to its conversation's counters in the flows
 * map (include/flow.bpf.h), which userspace reads every --flow-interval.
 *
 * Why these hooks: cgroup_skb/egress runs in ip_finish_output /
 * ip6_finish_output and cgroup_skb/ingress in sk_filter (tcp_v4_rcv,
 * udp_queue_rcv_skb, ...) for the socket's cgroup, so both directions of
 * every socket are seen with the owning container's cgroup id, whichever
 * task happens to run (softirq included). Attached at the cgroup v2 root
 * next to netguard's programs (links, so all run; this one never drops).
 * Ingress packets are accounted by netguard.bpf.c's handle_ingress, which
 * parses each packet once for the accounting and the SYN check.
 */
#include "flow.bpf.h"

SEC("cgroup_skb/egress")
int handle_flow_egress(struct __sk_buff *skb)
{
	flow_account(skb, true);
	return 1;
}
