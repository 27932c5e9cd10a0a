// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* syscalls.bpf.c: hold the arguments of reported syscalls from entry to exit,
 * then hand the exit to the file or net program. */
#include "syscalls.bpf.h"
#include "emit.bpf.h"
#include <bpf/bpf_tracing.h>

/*
 * raw_tracepoint sys_enter/sys_exit rather than one syscalls:sys_enter_X
 * tracepoint per syscall: enabling any syscall tracepoint already sends every
 * syscall of every task through this path (TIF_SYSCALL_TRACEPOINT), these
 * need no tracefs, and one dispatcher filters ~30 syscalls with a switch.
 * raw_tp (not tp_btf) so that the exit can tail-call programs of its type.
 */
SEC("raw_tp/sys_enter")
int handle_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	long nr = ctx->args[1];
	__u32 kind;

	if (cfg_capture_file && file_sc_lookup(nr).op)
		kind = WACHT_SC_FILE;
	else if (cfg_capture_net && net_sc(nr))
		kind = WACHT_SC_NET;
	else
		return 0;

	__u64 id = bpf_get_current_pid_tgid();
	struct task_struct *task = (void *)bpf_get_current_task();

	if (!task_wanted(task, id >> 32))
		return 0;

	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	struct wacht_pending p = { .nr = nr, .kind = kind };

	p.args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
	p.args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
	p.args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	p.args[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
	p.args[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
	p.args[5] = REGS_SYSCALL_ARG6(regs);
	if (bpf_map_update_elem(&pending, &id, &p, BPF_ANY))
		count_drop(kind == WACHT_SC_FILE ? WACHT_EV_FILE : WACHT_EV_NET,
			   WACHT_DROP_PENDING_FULL);
	return 0;
}

SEC("raw_tp/sys_exit")
int handle_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long nr = REGS_SYSCALL_NR(regs);

	if (!file_sc_lookup(nr).op && !net_sc(nr))
		return 0;

	__u64 id = bpf_get_current_pid_tgid();
	struct wacht_pending *p = bpf_map_lookup_elem(&pending, &id);

	if (!p)
		return 0;
	__u32 kind = p->kind;

	bpf_tail_call(ctx, &exit_progs, kind);
	/* only reached when the program slot is empty */
	bpf_map_delete_elem(&pending, &id);
	count_drop(kind == WACHT_SC_FILE ? WACHT_EV_FILE : WACHT_EV_NET, WACHT_DROP_TAIL_CALL);
	return 0;
}
