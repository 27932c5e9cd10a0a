// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* floor.bpf.c: Wacht's hooks with empty programs, the cost of merely being
 * attached (trampoline or tracepoint dispatch per event, and for sys_enter/
 * sys_exit the TIF_SYSCALL_TRACEPOINT slow path on every syscall of every
 * task) against which Wacht's own work is measured. Keep the SEC() list in
 * step with bpf/process.bpf.c, bpf/cgroup.bpf.c and bpf/syscalls.bpf.c. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tp_btf/sched_process_exec")
int handle_exec(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_fork")
int handle_fork(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_exit")
int handle_exit(void *ctx)
{
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int handle_cgroup_mkdir(void *ctx)
{
	return 0;
}

SEC("tp_btf/cgroup_rmdir")
int handle_cgroup_rmdir(void *ctx)
{
	return 0;
}

/* raw_tp, as in Wacht (its sys_exit tail-calls raw_tp programs) */
SEC("raw_tp/sys_enter")
int handle_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}

SEC("raw_tp/sys_exit")
int handle_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
