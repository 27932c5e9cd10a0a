/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* path.bpf.h: absolute paths as seen inside the task's root (layer 1-2). */
#ifndef WACHT_PATH_BPF_H
#define WACHT_PATH_BPF_H

#include "emit.bpf.h"
#include <bpf/bpf_core_read.h>

#define PATH_HALF WACHT_PATH_MAX
#define PATH_MASK (WACHT_PATH_MAX - 1)
#define NAME_MASK 255 /* NAME_MAX */

struct walk_ctx {
	struct wacht_scratch *s;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 off;
	__u32 flags;
	bool done;
};

/* One step of the walk: a mount crossing or one component. */
static long walk_step(__u32 i, struct walk_ctx *c)
{
	/* locals, not c->x, inside BPF_CORE_READ: walk_ctx is no kernel type
	 * and must not get CO-RE relocations */
	struct dentry *dentry = c->dentry;
	struct vfsmount *vfsmnt = c->vfsmnt;
	struct mount *mnt = c->mnt;

	if (dentry == c->root_dentry && vfsmnt == c->root_mnt) {
		c->done = true;
		return 1;
	}
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	/* d_parent and d_name are adjacent in struct dentry (and qstr is
	 * {hash, len, name} on little-endian): one helper call, not three */
	struct {
		struct dentry *parent;
		__u32 hash;
		__u32 len;
		const unsigned char *name;
	} dl;

	if (bpf_probe_read_kernel(&dl, sizeof(dl),
				  (void *)dentry + bpf_core_field_offset(struct dentry, d_parent))) {
		c->flags |= WACHT_F_READ_FAIL;
		c->done = true;
		return 1;
	}
	struct dentry *parent = dl.parent;

	if (dentry == mnt_root || dentry == parent) {
		struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);

		if (mp == mnt || !mp) {
			/* the global root, or a detached or internal mount */
			c->done = true;
			return 1;
		}
		c->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		c->mnt = mp;
		c->vfsmnt = (void *)mp + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}
	__u32 len = dl.len;
	const unsigned char *name = dl.name;
	__u32 off = c->off;

	if (len > NAME_MASK || len + 1 >= off) {
		c->flags |= WACHT_F_PATH_TRUNC;
		c->done = true;
		return 1;
	}
	off -= len;
	if (bpf_probe_read_kernel(&c->s->path[off & PATH_MASK], len & NAME_MASK, name))
		c->flags |= WACHT_F_READ_FAIL;
	off -= 1;
	c->s->path[off & PATH_MASK] = '/';
	c->off = off;
	c->dentry = parent;
	return 0;
}

/*
 * Walk from a dentry up to the task's root (task->fs->root), crossing mount
 * points through mount->mnt_parent, and write the components backwards into
 * s->path[0, WACHT_PATH_MAX). bpf_d_path() would do this, but the kernel
 * allows it only in LSM/fentry programs, which this design cannot rely on.
 * Stopping at the task's root (not the global root) yields the path inside
 * the container. bpf_loop keeps the verifier's work independent of the
 * depth bound. Returns the offset of the first byte of the NUL-terminated
 * result; sets WACHT_F_PATH_TRUNC when the depth or size bound was hit.
 */
static __always_inline __u32 path_walk(struct wacht_scratch *s, struct dentry *dentry,
				       struct vfsmount *vfsmnt, struct task_struct *task,
				       __u32 *flags)
{
	struct walk_ctx c = {
		.s = s,
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt),
		.root_dentry = BPF_CORE_READ(task, fs, root.dentry),
		.root_mnt = BPF_CORE_READ(task, fs, root.mnt),
		.off = PATH_HALF - 1,
	};

	s->path[PATH_HALF - 1] = 0;
	bpf_loop(WACHT_PATH_DEPTH, walk_step, &c, 0);
	*flags |= c.flags;
	if (!c.done)
		*flags |= WACHT_F_PATH_TRUNC;
	__u32 off = c.off;
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
