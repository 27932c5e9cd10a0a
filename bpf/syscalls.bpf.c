// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* syscalls.bpf.c: hold the arguments of reported syscalls from entry to exit,
 * then hand the exit to the file or net program. */
#include "syscalls.bpf.h"
#include "emit.bpf.h"

/*
 * One syscalls:sys_enter_X / sys_exit_X tracepoint per reported syscall, not
 * raw_tp sys_enter/sys_exit. Either way every syscall of every task takes the
 * tracing slow path, but with per-syscall tracepoints the kernel drops an
 * unreported syscall after a bit test (perf_syscall_enter), while a raw
 * sys_enter program runs for every syscall: in bench/RESULTS.md (syscall
 * storm) getppid() costs +96 ns with the former, +140 ns with the latter.
 */
static __always_inline __u32 kind_event(__u32 kind)
{
	return kind == WACHT_SC_FILE ? WACHT_EV_FILE : WACHT_EV_NET;
}

static __always_inline int enter(struct sc_enter_ctx *ctx, __u32 kind, int nargs)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (!task_wanted(task))
		return 0;

	struct wacht_pending *p = bpf_task_storage_get(&pending, task, 0,
						       BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p) {
		count_drop(kind_event(kind), WACHT_DROP_PENDING_FULL);
		return 0;
	}
	p->nr = ctx->nr;
	/* only this syscall's arguments: see WACHT_SYSCALLS */
	for (int i = 0; i < 6 && i < nargs; i++)
		p->args[i] = ctx->args[i];
	p->valid = 1;
	return 0;
}

static __always_inline int exit_(struct sc_exit_ctx *ctx, __u32 kind)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct wacht_pending *p = bpf_task_storage_get(&pending, task, 0, 0);

	if (!p || !p->valid)
		return 0;
	bpf_tail_call(ctx, &exit_progs, kind);
	/* only reached when the program slot is empty */
	p->valid = 0;
	count_drop(kind_event(kind), WACHT_DROP_TAIL_CALL);
	return 0;
}

#define SC_PROGS(name, kind, nargs)                                          \
	SEC("tp/syscalls/sys_enter_" #name)                             \
	int handle_enter_##name(struct sc_enter_ctx *ctx)               \
	{                                                               \
		return (kind == WACHT_SC_FILE ? cfg_capture_file : cfg_capture_net) ? \
			enter(ctx, kind, nargs) : 0;                           \
	}                                                               \
	SEC("tp/syscalls/sys_exit_" #name)                              \
	int handle_exit_##name(struct sc_exit_ctx *ctx)                 \
	{                                                               \
		return exit_(ctx, kind);                                \
	}

WACHT_SYSCALLS(SC_PROGS)
