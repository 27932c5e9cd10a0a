/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* task.bpf.h: read identity from a task_struct (layer 1: kernel state). */
#ifndef WACHT_TASK_BPF_H
#define WACHT_TASK_BPF_H

#include "maps.bpf.h"
#include <bpf/bpf_core_read.h>

/* task is a BTF pointer (bpf_get_current_task_btf()): fields are read with
 * direct, fault-handled loads instead of one bpf_probe_read_kernel() helper
 * call each, which matters on paths that run for every open(). */
static __always_inline __u32 task_mntns(struct task_struct *task)
{
	return task->nsproxy->mnt_ns->ns.inum;
}

/* The pid namespace the task lives in (not pid_ns_for_children, which an
 * unshare(CLONE_NEWPID) changes without moving the task). */
static __always_inline __u32 task_pidns(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};

	/* numbers[] is sized by level; 32 = MAX_PID_NS_LEVEL */
	bpf_core_read(&up, sizeof(up), &pid->numbers[level & 31]);
	return BPF_CORE_READ(up.ns, ns.inum);
}

/*
 * Whether activity of this task is reported. Containers are told from the
 * host by the mount namespace: every OCI runtime gives a container its own,
 * and it is already in place when the container's first exec runs, so the
 * decision needs no userspace round trip and has no start-up race.
 */
static __always_inline bool task_wanted(struct task_struct *task)
{
	if (task->tgid == cfg_sensor_tgid)
		return false;
	if (cfg_capture_host)
		return true;
	return task_mntns(task) != cfg_host_mntns;
}

#endif
