/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* userpath.bpf.h: a path argument of a syscall, made absolute against its
 * dirfd or the cwd, and the in-kernel prefix filter (layer 2). */
#ifndef WACHT_USERPATH_BPF_H
#define WACHT_USERPATH_BPF_H

#include "path.bpf.h"
#include "syscalls.bpf.h"

#define AT_FDCWD_ -100
#define REC_MASK (WACHT_RECORD_MAX / 2 - 1)

/* Path of an open file (walked from its dentry: symlinks and ".." already
 * resolved by the kernel). Returns bytes written at pos, NUL included. */
static __always_inline __u32 put_file_path(struct wacht_scratch *s, struct task_struct *task,
					   struct file *f, __u32 pos, __u32 *flags)
{
	if (!f) {
		*flags |= WACHT_F_READ_FAIL;
		return 0;
	}
	__u32 off = path_walk(s, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), task,
			      flags);
	return path_put(s, off, pos);
}

/*
 * A user path argument. Absolute paths (and raw strings such as a symlink
 * target, dfd == ARG_NONE) are copied as written. A relative path is
 * prefixed with the path of its directory, walked from the dirfd's file or
 * the cwd, so that the record always holds an absolute path inside the
 * container; "." and ".." in it are left for userspace to normalise
 * (WACHT_F_PATH_RELATIVE). Returns bytes written at pos, NUL included.
 */
static __always_inline __u32 put_user_path(struct wacht_scratch *s, struct task_struct *task,
					   __u8 dfd_arg, long dfd, const char *upath, __u32 pos,
					   __u32 *flags)
{
	char first = 0;
	long n;

	if (bpf_probe_read_user(&first, 1, upath)) {
		*flags |= WACHT_F_READ_FAIL;
		return 0;
	}
	if (first == '/' || dfd_arg == ARG_NONE) {
		n = bpf_probe_read_user_str(&s->rec[pos & REC_MASK], WACHT_PATH_MAX, upath);
		if (n < 0) {
			*flags |= WACHT_F_READ_FAIL;
			return 0;
		}
		if (n == WACHT_PATH_MAX)
			*flags |= WACHT_F_PATH_TRUNC;
		return n;
	}

	struct dentry *d;
	struct vfsmount *m;

	if (dfd_arg == ARG_CWD || (int)dfd == AT_FDCWD_) {
		d = BPF_CORE_READ(task, fs, pwd.dentry);
		m = BPF_CORE_READ(task, fs, pwd.mnt);
	} else {
		struct file *f = task_fd_file(task, (int)dfd);

		if (!f) {
			*flags |= WACHT_F_READ_FAIL;
			return 0;
		}
		d = BPF_CORE_READ(f, f_path.dentry);
		m = BPF_CORE_READ(f, f_path.mnt);
	}
	__u32 off = path_walk(s, d, m, task, flags);
	__u32 dlen = path_put(s, off, pos);

	if (dlen == 0 || dlen > WACHT_PATH_MAX) {
		*flags |= WACHT_F_READ_FAIL;
		return 0;
	}
	/* replace the directory's NUL by the separator */
	s->rec[(pos + dlen - 1) & (WACHT_RECORD_MAX - 1)] = '/';
	__u32 room = WACHT_PATH_MAX - dlen;

	if (room < 2) {
		*flags |= WACHT_F_PATH_TRUNC;
		s->rec[(pos + dlen - 1) & (WACHT_RECORD_MAX - 1)] = 0;
		return dlen;
	}
	n = bpf_probe_read_user_str(&s->rec[(pos + dlen) & REC_MASK], room & (WACHT_PATH_MAX - 1),
				    upath);
	if (n < 0) {
		*flags |= WACHT_F_READ_FAIL;
		s->rec[(pos + dlen - 1) & (WACHT_RECORD_MAX - 1)] = 0;
		return dlen;
	}
	if ((__u32)n == room)
		*flags |= WACHT_F_PATH_TRUNC;
	*flags |= WACHT_F_PATH_RELATIVE;
	return dlen + n;
}

struct dots_ctx {
	struct wacht_scratch *s;
	__u32 pos;
	bool found;
};

static long dots_step(__u32 i, struct dots_ctx *c)
{
	__u8 a = c->s->rec[(c->pos + i) & (WACHT_RECORD_MAX - 1)];
	__u8 b = c->s->rec[(c->pos + i + 1) & (WACHT_RECORD_MAX - 1)];

	if (a == 0)
		return 1;
	if (a == '/' && (b == '/' || b == '.')) {
		c->found = true;
		return 1;
	}
	return 0;
}

/*
 * Whether the path at pos (len bytes) is reported under the in-kernel prefix
 * filter. A string that is not canonical ("//", "/." or "/..") could reach a
 * watched file through an unwatched prefix, so it is always reported; the
 * check uses bpf_loop so its cost does not grow the verifier's work.
 */
static __always_inline bool prefix_wanted(struct wacht_scratch *s, __u32 pos, __u32 len,
					  bool canonical)
{
	if (len == 0)
		return false;
	if (!canonical) {
		struct dots_ctx c = { .s = s, .pos = pos, .found = false };

		bpf_loop(WACHT_PATH_MAX, dots_step, &c, 0);
		if (c.found)
			return true;
	}
	__u32 n = len - 1; /* without the NUL */

	if (n > WACHT_PREFIX_MAX)
		n = WACHT_PREFIX_MAX;
	bpf_probe_read_kernel(s->key.path, BOUND(n, WACHT_PREFIX_MAX), &s->rec[pos & REC_MASK]);
	s->key.prefixlen = n * 8;
	return bpf_map_lookup_elem(&file_prefixes, &s->key) != NULL;
}

#endif
