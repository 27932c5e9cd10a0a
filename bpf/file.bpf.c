// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* file.bpf.c: finish the record of a syscall that opens or changes a path. */
#define FMODE_CREATED 0x100000
#include "userpath.bpf.h"
#include <bpf/bpf_tracing.h>

#define O_WRONLY_ 01
#define O_RDWR_ 02
#define O_CREAT_ 0100
#define O_TRUNC_ 01000
#define AT_REMOVEDIR_ 0x200

/* Tail-called from a sys_exit_X program with its context (ret = the
 * syscall's return value); the arguments wait in the task's pending slot. */
SEC("tp")
int handle_file_exit(struct sc_exit_ctx *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct wacht_pending p;

	if (!pending_take(task, &p))
		return 0;

	struct file_sc sc = file_sc_lookup(p.nr);
	if (!sc.op)
		return 0;
	struct wacht_scratch *s = scratch_get(WACHT_EV_FILE);
	if (!s)
		return 0;
	struct wacht_file *e = (void *)s->rec;
	long ret = ctx->ret;

	/* the header last: with the prefix filter most records are dropped
	 * once their path is known, and need no header */
	e->hdr.flags = 0;
	e->hdr.type = WACHT_EV_FILE;
	e->op = sc.op;
	e->syscall = p.nr;
	e->result = ret;
	e->open_flags = 0;
	e->mode = 0;
	e->owner_uid = 0;
	e->owner_gid = 0;
	e->path2_len = 0;

	if (sc.flags < ARG_CWD)
		e->open_flags = p.args[sc.flags & 7];
	if (sc.mode < ARG_CWD)
		e->mode = p.args[sc.mode & 7];
	if (p.nr == NR_openat2) {
		/* struct open_how { __u64 flags; __u64 mode; __u64 resolve; } */
		__u64 how[2] = {};

		if (bpf_probe_read_user(how, sizeof(how), (void *)p.args[2]))
			e->hdr.flags |= WACHT_F_READ_FAIL;
		e->open_flags = how[0];
		e->mode = how[1];
	}
	if (sc.op == WACHT_FILE_CREAT)
		e->open_flags = O_CREAT_ | O_WRONLY_ | O_TRUNC_;
	if (p.nr == NR_unlinkat && (p.args[2] & AT_REMOVEDIR_))
		e->op = WACHT_FILE_RMDIR;
	if (sc.op == WACHT_FILE_CHOWN) {
		/* chown(path, uid, gid), fchown(fd, uid, gid), fchownat(dfd, path, uid, gid) */
		__u32 base = p.nr == NR_fchownat ? 2 : 1;

		e->owner_uid = p.args[base & 7];
		e->owner_gid = p.args[(base + 1) & 7];
	}

	__u32 pos = sizeof(*e);
	bool canonical = false;

	if ((sc.op == WACHT_FILE_OPEN || sc.op == WACHT_FILE_CREAT) && ret >= 0) {
		/* the file really opened: no symlink or ".." games */
		struct file *f = task_fd_file(task, ret);

		e->path_len = put_file_path(s, task, f, pos, &e->hdr.flags);
		e->hdr.flags |= WACHT_F_PATH_FROM_FD;
		/* O_CREAT on an existing file does not create it: the VFS marks
		 * the file it did create (do_open -> FMODE_CREATED, 4.19+) */
		if (f && (BPF_CORE_READ(f, f_mode) & FMODE_CREATED))
			e->hdr.flags |= WACHT_F_CREATED;
		/* a file opened for writing in a container may become a binary
		 * that zero-drift forbids: remembered by inode, before the
		 * writer can exec it (the open has not returned yet) */
		if (f && (e->open_flags & (O_WRONLY_ | O_RDWR_ | O_CREAT_ | O_TRUNC_)) &&
		    task_mntns(task) != cfg_host_mntns) {
			struct inode *ino = BPF_CORE_READ(f, f_inode);
			struct wacht_inode_key ik = { .ino = BPF_CORE_READ(ino, i_ino),
						      .dev = BPF_CORE_READ(ino, i_sb, s_dev) };
			__u64 now = bpf_ktime_get_boot_ns();
			bpf_map_update_elem(&written_inodes, &ik, &now, BPF_ANY);
		}
		canonical = true;
	} else if (sc.fd < ARG_CWD) {
		e->path_len = put_file_path(s, task, task_fd_file(task, (int)p.args[sc.fd & 7]), pos,
					    &e->hdr.flags);
		canonical = true;
	} else {
		e->path_len = put_user_path(s, task, sc.dfd,
					    sc.dfd < ARG_CWD ? (long)p.args[sc.dfd & 7] : 0,
					    (const char *)p.args[sc.path & 7], pos, &e->hdr.flags);
	}
	__u32 pos2 = pos + e->path_len;

	if (sc.path2 < ARG_CWD)
		e->path2_len = put_user_path(s, task, sc.dfd2,
					     sc.dfd2 < ARG_CWD ? (long)p.args[sc.dfd2 & 7] : 0,
					     (const char *)p.args[sc.path2 & 7], pos2,
					     &e->hdr.flags);

	if (cfg_file_filter) {
		/* a symlink's target is a string, not a path that is touched */
		bool want = sc.op != WACHT_FILE_SYMLINK &&
			    prefix_wanted(s, pos, e->path_len, canonical);

		if (!want && e->path2_len)
			want = prefix_wanted(s, pos2, e->path2_len, false);
		if (!want)
			return 0;
	}
	__u32 flags = e->hdr.flags;
	hdr_fill(&e->hdr, WACHT_EV_FILE, task);
	e->hdr.flags |= flags;
	emit(e, pos2 + e->path2_len);
	return 0;
}
