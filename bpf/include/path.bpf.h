/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* path.bpf.h: absolute paths as seen inside the task's root (layer 1-2). */
#ifndef WACHT_PATH_BPF_H
#define WACHT_PATH_BPF_H

#include "emit.bpf.h"
#include <bpf/bpf_core_read.h>

#define PATH_HALF WACHT_PATH_MAX
#define PATH_MASK (WACHT_PATH_MAX - 1)
#define NAME_MASK 255 /* NAME_MAX */

/*
 * Walk from a dentry up to the task's root (task->fs->root), crossing mount
 * points through mount->mnt_parent, and write the components backwards into
 * s->path[0, WACHT_PATH_MAX). bpf_d_path() would do this, but the kernel
 * allows it only in LSM/fentry programs, which this design cannot rely on.
 * Stopping at the task's root (not the global root) yields the path inside
 * the container. Returns the offset of the first byte of the NUL-terminated
 * result; sets WACHT_F_PATH_TRUNC when the depth or size bound was hit.
 */
static __always_inline __u32 path_walk(struct wacht_scratch *s, struct dentry *dentry,
				       struct vfsmount *vfsmnt, struct task_struct *task,
				       __u32 *flags)
{
	struct dentry *root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	struct vfsmount *root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	struct mount *mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
	__u32 off = PATH_HALF - 1;
	bool done = false;

	s->path[PATH_HALF - 1] = 0;
	for (int i = 0; i < WACHT_PATH_DEPTH; i++) {
		if (dentry == root_dentry && vfsmnt == root_mnt) {
			done = true;
			break;
		}
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

		if (dentry == mnt_root || dentry == parent) {
			struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);

			if (mp == mnt || !mp) {
				/* global root or a detached/internal mount */
				done = true;
				break;
			}
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mp;
			vfsmnt = (void *)mp + bpf_core_field_offset(struct mount, mnt);
			continue;
		}
		__u32 len = BPF_CORE_READ(dentry, d_name.len);
		const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);

		if (len > NAME_MASK || len + 1 >= off) {
			*flags |= WACHT_F_PATH_TRUNC;
			done = true;
			break;
		}
		off -= len;
		if (bpf_probe_read_kernel(&s->path[off & PATH_MASK], len & NAME_MASK, name))
			*flags |= WACHT_F_READ_FAIL;
		off -= 1;
		s->path[off & PATH_MASK] = '/';
		dentry = parent;
	}
	if (!done)
		*flags |= WACHT_F_PATH_TRUNC;
	if (off == PATH_HALF - 1) {
		off -= 1;
		s->path[off & PATH_MASK] = '/';
	}
	return off & PATH_MASK;
}

/* Copy the walked path (s->path[off..]) into the record at pos; returns
 * bytes written including the NUL. */
static __always_inline __u32 path_put(struct wacht_scratch *s, __u32 off, __u32 pos)
{
	__u32 len = PATH_HALF - (off & PATH_MASK);

	if (len > WACHT_PATH_MAX)
		len = WACHT_PATH_MAX;
	if (bpf_probe_read_kernel(&s->rec[pos & (WACHT_RECORD_MAX / 2 - 1)], len & (2 * WACHT_PATH_MAX - 1),
				  &s->path[off & PATH_MASK]))
		return 0;
	return len;
}

static __always_inline struct file *task_fd_file(struct task_struct *task, long fd)
{
	struct files_struct *files = BPF_CORE_READ(task, files);
	struct fdtable *fdt = BPF_CORE_READ(files, fdt);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;

	if (fd < 0 || fd >= max)
		return NULL;
	bpf_core_read(&f, sizeof(f), &fds[fd]);
	return f;
}

#endif
