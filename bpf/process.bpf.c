// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* process.bpf.c: exec, fork and exit of processes, for the process tree. */
#include "path.bpf.h"
#include "enforce.bpf.h"
#include <bpf/bpf_tracing.h>

/* Filenames passed to execve are kept to 2 KiB so that exe + filename +
 * argv always fit one record (see the masks in path_put). */
#define FILENAME_MAX 2048

#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* Standard input and output are the same open socket: what `nc -e sh`,
 * `socat exec:sh` and `sh -i >&/dev/tcp/...` hand to a shell. Read here,
 * in the exec itself, so a short-lived process cannot race the check. */
static __always_inline bool stdio_is_one_socket(struct task_struct *task)
{
	struct file **fd = BPF_CORE_READ(task, files, fdt, fd);
	struct file *f0 = NULL, *f1 = NULL;

	if (!fd || bpf_probe_read_kernel(&f0, sizeof(f0), &fd[0]) ||
	    bpf_probe_read_kernel(&f1, sizeof(f1), &fd[1]))
		return false;
	if (!f0 || f0 != f1)
		return false;
	return (BPF_CORE_READ(f0, f_inode, i_mode) & S_IFMT) == S_IFSOCK;
}

/*
 * sched_process_exec fires in the new image after the point of no return,
 * before it runs one instruction: bprm->file is the file really executed
 * (for busybox applets the busybox binary; for scripts the interpreter),
 * unlike the filename argument, which may be a symlink or /proc/self/exe.
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = (void *)bpf_get_current_task_btf();

	if (!task_wanted(task))
		return 0;
	struct wacht_scratch *s = scratch_get(WACHT_EV_EXEC);
	if (!s)
		return 0;
	struct wacht_exec *e = (void *)s->rec;

	hdr_fill(&e->hdr, WACHT_EV_EXEC, task);
	e->old_pid = old_pid;
	e->verdict = 0;

	struct file *file = BPF_CORE_READ(bprm, file);
	struct inode *inode = BPF_CORE_READ(file, f_inode);

	e->exe_ino = BPF_CORE_READ(inode, i_ino);
	e->exe_dev = BPF_CORE_READ(inode, i_sb, s_dev);
	e->exe_nlink = BPF_CORE_READ(inode, __i_nlink);
	e->exe_ctime_ns = 0;
	e->exe_mtime_ns = 0;
	/* inode times moved into i_*_sec/i_*_nsec in 6.11 (commit 3aa63a569c64);
	 * older kernels are handled when zero-drift needs them. */
	if (bpf_core_field_exists(inode->i_ctime_sec)) {
		e->exe_ctime_ns = BPF_CORE_READ(inode, i_ctime_sec) * 1000000000ULL +
				  BPF_CORE_READ(inode, i_ctime_nsec);
		e->exe_mtime_ns = BPF_CORE_READ(inode, i_mtime_sec) * 1000000000ULL +
				  BPF_CORE_READ(inode, i_mtime_nsec);
	}

	if (stdio_is_one_socket(task))
		e->hdr.flags |= WACHT_F_STDIO_SOCKET;

	__u32 pos = sizeof(*e), exe_pos = pos;
	__u32 off = path_walk(s, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt),
			      task, &e->hdr.flags);
	e->exe_len = path_put(s, off, pos);
	pos += e->exe_len;
	__u32 fn_pos = pos;

	long n = bpf_probe_read_kernel_str(&s->rec[pos & (WACHT_RECORD_MAX / 2 - 1)], FILENAME_MAX,
					   BPF_CORE_READ(bprm, filename));
	if (n < 0) {
		e->hdr.flags |= WACHT_F_READ_FAIL;
		n = 0;
	} else if (n == FILENAME_MAX) {
		e->hdr.flags |= WACHT_F_PATH_TRUNC;
	}
	e->filename_len = n;
	pos += n;

	/* argv lives in the new mm between arg_start and arg_end, written by
	 * the kernel during this exec, so it is resident. */
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	__u32 alen = end > start ? end - start : 0;

	if (alen > WACHT_ARGS_MAX) {
		alen = WACHT_ARGS_MAX;
		e->hdr.flags |= WACHT_F_ARGS_TRUNC;
	}
	if (bpf_probe_read_user(&s->rec[pos & (WACHT_RECORD_MAX / 2 - 1)], BOUND(alen, WACHT_ARGS_MAX),
				(void *)start)) {
		e->hdr.flags |= WACHT_F_READ_FAIL;
		alen = 0;
	}
	/* a truncated argv must still end in NUL for the decoder */
	if (alen > 0)
		s->rec[(pos + alen - 1) & (WACHT_RECORD_MAX - 1)] = 0;
	e->argv_len = alen;
	e->argc = BPF_CORE_READ(bprm, argc);
	__u32 argv_pos = pos;
	pos += alen;

	e->verdict = enforce_exec(s, e, task, exe_pos, fn_pos, argv_pos);
	/* a held process waits for userspace: wake it now */
	emit_wake(e, pos, e->verdict & WACHT_V_HELD);
	return 0;
}

/* A new process (threads are not processes: the tree is kept per tgid). */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct task_struct *task = (void *)bpf_get_current_task_btf();

	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	if (!task_wanted(task))
		return 0;
	struct wacht_scratch *s = scratch_get(WACHT_EV_FORK);
	if (!s)
		return 0;
	struct wacht_fork *e = (void *)s->rec;

	hdr_fill(&e->hdr, WACHT_EV_FORK, task);
	e->child_pid = BPF_CORE_READ(child, pid);
	e->child_tgid = BPF_CORE_READ(child, tgid);
	/* the child starts in its parent's cgroup (CLONE_INTO_CGROUP aside) */
	e->child_cgroup_id = BPF_CORE_READ(child, cgroups, dfl_cgrp, kn, id);
	emit(e, sizeof(*e));
	return 0;
}

/* sched_process_exit fires for every thread; the process is gone when the
 * last one exits (signal->live reaches 0 before the tracepoint). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	struct task_struct *task = (void *)bpf_get_current_task_btf();

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if (!task_wanted(task))
		return 0;
	struct wacht_scratch *s = scratch_get(WACHT_EV_EXIT);
	if (!s)
		return 0;
	struct wacht_exit *e = (void *)s->rec;

	hdr_fill(&e->hdr, WACHT_EV_EXIT, task);
	e->exit_code = BPF_CORE_READ(task, exit_code);
	/* exit_group() stores the status in signal->group_exit_code */
	if (BPF_CORE_READ(task, signal, flags) & 0x00000004 /* SIGNAL_GROUP_EXIT */)
		e->exit_code = BPF_CORE_READ(task, signal, group_exit_code);
	e->_pad = 0;
	emit(e, sizeof(*e));
	return 0;
}
