// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* cgroup.bpf.c: cgroup v2 creation and removal, so userspace learns a
 * container's cgroup path before its first process runs. */
#include "emit.bpf.h"
#include <bpf/bpf_tracing.h>

static __always_inline int cgroup_event(struct cgroup *cgrp, const char *path, __u32 type)
{
	/* only the default (v2) hierarchy: its ids are what
	 * bpf_get_current_cgroup_id() returns; cgrp_dfl_root has id 0 */
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	__u64 id = BPF_CORE_READ(cgrp, kn, id);
	if (cfg_enforce && type == WACHT_EV_CGROUP_MKDIR) {
		/* until userspace compiled it, the first exec in it is held */
		__u64 now = bpf_ktime_get_boot_ns();
		bpf_map_update_elem(&cgroups_new, &id, &now, BPF_ANY);
	} else if (type == WACHT_EV_CGROUP_RMDIR) {
		bpf_map_delete_elem(&cgroups_new, &id);
	}
	struct wacht_scratch *s = scratch_get(type);
	if (!s)
		return 0;
	struct wacht_cgroup *e = (void *)s->rec;
	struct task_struct *task = (void *)bpf_get_current_task_btf();

	hdr_fill(&e->hdr, type, task);
	e->hdr.cgroup_id = id;
	e->level = BPF_CORE_READ(cgrp, level);
	long n = bpf_probe_read_kernel_str(&s->rec[sizeof(*e)], WACHT_CGROUP_PATH_MAX, path);
	if (n < 0) {
		e->hdr.flags |= WACHT_F_READ_FAIL;
		n = 0;
	} else if (n == WACHT_CGROUP_PATH_MAX) {
		e->hdr.flags |= WACHT_F_PATH_TRUNC;
	}
	e->path_len = n;
	emit(e, sizeof(*e) + n);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(handle_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	return cgroup_event(cgrp, path, WACHT_EV_CGROUP_MKDIR);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(handle_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	return cgroup_event(cgrp, path, WACHT_EV_CGROUP_RMDIR);
}
