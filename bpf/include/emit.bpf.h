/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* emit.bpf.h: build record headers, count drops, submit (layer 3). */
#ifndef WACHT_EMIT_BPF_H
#define WACHT_EMIT_BPF_H

#include "task.bpf.h"

static __always_inline void count_drop(__u32 type, __u32 reason)
{
	__u32 idx = type * WACHT_DROP_MAX + reason;
	__u64 *c = bpf_map_lookup_elem(&drop_counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline struct wacht_scratch *scratch_get(__u32 type)
{
	__u32 zero = 0;
	struct wacht_scratch *s = bpf_map_lookup_elem(&scratch, &zero);

	if (!s)
		count_drop(type, WACHT_DROP_NO_SCRATCH);
	return s;
}

static __always_inline void hdr_fill(struct wacht_hdr *h, __u32 type,
				     struct task_struct *task)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->ts_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->type = type;
	h->size = 0;
	h->pid = (__u32)id;
	h->tgid = id >> 32;
	h->ppid = task->real_parent->tgid;
	const struct cred *cred = task->cred;
	h->uid = cred->uid.val;
	h->euid = cred->euid.val;
	h->gid = cred->gid.val;
	h->mntns = task_mntns(task);
	h->pidns = task_pidns(task);
	h->flags = h->mntns == cfg_host_mntns ? WACHT_F_HOST : 0;
	h->cpu = bpf_get_smp_processor_id();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* min(v, max) in a form the verifier sees: clang otherwise may clamp a
 * copy (or a 32-bit subregister) and pass the unclamped register on. */
#define BOUND(v, max)                                                      \
	({                                                                 \
		__u64 __v = (v);                                           \
		asm volatile("if %[s] <= %[m] goto +1\n\t%[s] = %[m]\n\t" \
			     : [s] "+r"(__v)                               \
			     : [m] "i"(max));                              \
		__v;                                                       \
	})

/* Submit size bytes of rec; the flags in the header become drop counts too,
 * so a truncation is never silent. */
static __always_inline void emit_wake(void *rec, __u32 size, bool now)
{
	struct wacht_hdr *h = rec;
	__u32 type = h->type;

	if (h->flags & WACHT_F_PATH_TRUNC)
		count_drop(type, WACHT_DROP_PATH_TRUNC);
	if (h->flags & WACHT_F_ARGS_TRUNC)
		count_drop(type, WACHT_DROP_ARGS_TRUNC);
	if (h->flags & WACHT_F_READ_FAIL)
		count_drop(type, WACHT_DROP_READ_FAIL);
	__u64 sz = BOUND(size, WACHT_RECORD_MAX);

	h->size = sz;
	__u64 wake = now || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WACHT_WAKEUP_BYTES ?
			     BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;

	if (bpf_ringbuf_output(&events, rec, sz, wake)) {
		count_drop(type, WACHT_DROP_RINGBUF_FULL);
		return;
	}
	__u64 *c = bpf_map_lookup_elem(&sent_counters, &type);
	if (c)
		*c += 1;
}

static __always_inline void emit(void *rec, __u32 size)
{
	emit_wake(rec, size, false);
}

#endif
