// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* floor.bpf.c: Wacht's hooks with empty programs: the cost of merely being
 * attached (tracepoint dispatch per event and, for the syscall hooks, the
 * TIF_SYSCALL_TRACEPOINT slow path on every syscall of every task), against
 * which Wacht's own work is measured.
 *
 * Built twice (bench/Makefile):
 *   floor.bpf.o      the hooks Wacht uses now: the syscalls:sys_enter_X /
 *                    sys_exit_X pair of every syscall in WACHT_SYSCALLS
 *                    (bpf/include/syscalls.bpf.h, so the list stays in step)
 *   floor-raw.bpf.o  -DFLOOR_RAW: raw_tp sys_enter/sys_exit, which see every
 *                    syscall (Wacht's first design)
 * Both have the process and cgroup hooks of bpf/process.bpf.c and
 * bpf/cgroup.bpf.c. */
#ifdef FLOOR_RAW
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#else
/* only the WACHT_SYSCALLS list is used: nothing here references a map */
#include "syscalls.bpf.h"
#endif

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

#ifdef FLOOR_RAW
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
#else
#define FLOOR_SC(name, kind, nargs)                 \
	SEC("tp/syscalls/sys_enter_" #name)         \
	int handle_enter_##name(void *ctx)          \
	{                                           \
		return 0;                           \
	}                                           \
	SEC("tp/syscalls/sys_exit_" #name)          \
	int handle_exit_##name(void *ctx)           \
	{                                           \
		return 0;                           \
	}

WACHT_SYSCALLS(FLOOR_SC)
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";
