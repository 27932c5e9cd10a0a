/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * enforce.bpf.h: the process decision of Protect mode, taken in the kernel
 * at sched_process_exec from the policy maps (bpf/enforce.h), so that a
 * forbidden program is killed before it runs one instruction, with no
 * userspace round trip to race (layer 2: decide).
 */
#ifndef WACHT_ENFORCE_BPF_H
#define WACHT_ENFORCE_BPF_H

#include "emit.bpf.h"

#define SIGKILL_ 9
#define SIGSTOP_ 19

/* ---- keys: hashes of the strings in the exec record */

/* The loop's state lives in the per-CPU scratch map, not on the stack:
 * the verifier then sees one unknown state per iteration and converges at
 * once, instead of following every byte's value. */
struct hash_ref {
	struct wacht_scratch *s;
};

static long hash_step(__u32 i, void *data)
{
	struct wacht_scratch *s = ((struct hash_ref *)data)->s;
	struct wacht_hash_state *c = &s->hash;

	if (i >= c->len)
		return 1;
	__u8 ch = s->rec[(c->pos + i) & (WACHT_RECORD_MAX - 1)];
	if (!ch)
		return 1;
	if (ch == '/') {
		struct wacht_exec_keys *k = &s->keys;
		__u32 n = k->n_dirs;
		if (c->dirs && n < WACHT_DIRS_MAX) {
			k->dir_hash[n & (WACHT_DIRS_MAX - 1)] = c->h ? c->h : 1;
			k->n_dirs = n + 1;
		}
		c->base = WACHT_HASH_INIT;
	} else {
		c->base = (c->base ^ ch) * WACHT_HASH_PRIME;
	}
	c->h = (c->h ^ ch) * WACHT_HASH_PRIME;
	return 0;
}

/* Hash of the string at rec[pos] (and of its last component). 0 is
 * reserved for "any", as in userspace (enforce_compile.c). */
static __always_inline void hash_str_at(struct wacht_scratch *s, __u32 pos, __u32 len, bool dirs,
					__u64 *full, __u64 *base)
{
	struct hash_ref ref = { .s = s };

	s->hash.pos = pos;
	s->hash.len = len;
	s->hash.dirs = dirs;
	s->hash.h = WACHT_HASH_INIT;
	s->hash.base = WACHT_HASH_INIT;
	bpf_loop(WACHT_PATH_MAX, hash_step, &ref, 0);
	if (full)
		*full = s->hash.h ? s->hash.h : 1;
	if (base)
		*base = s->hash.base ? s->hash.base : 1;
}

/* Whether rec[pos..] starts with "/proc/" or "/dev/fd/": a re-execution of
 * the program itself, named by argv[0] instead (engine_exec_name). */
static __always_inline bool reexec_name(struct wacht_scratch *s, __u32 pos)
{
	__u8 b[8];

	for (int i = 0; i < 8; i++)
		b[i] = s->rec[(pos + i) & (WACHT_RECORD_MAX - 1)];
	return (b[0] == '/' && b[1] == 'p' && b[2] == 'r' && b[3] == 'o' && b[4] == 'c' &&
		b[5] == '/') ||
	       (b[0] == '/' && b[1] == 'd' && b[2] == 'e' && b[3] == 'v' && b[4] == '/' &&
		b[5] == 'f' && b[6] == 'd' && b[7] == '/');
}

/* The container's process chain: tgid and its ancestors while they stay
 * in the task's cgroup (the container's root process is the last one
 * inside; a `runc exec` process's parent is the runtime, outside). */
static __always_inline void keys_ancestry(struct wacht_exec_keys *k, struct task_struct *task)
{
	__u64 cg = k->cgroup_id;
	struct task_struct *t = task;

	k->n_anc = 0;
	for (int i = 0; i < WACHT_ANC_MAX; i++) {
		k->anc[i] = BPF_CORE_READ(t, tgid);
		k->n_anc = i + 1;
		t = BPF_CORE_READ(t, real_parent);
		if (!t || BPF_CORE_READ(t, tgid) == k->anc[i] ||
		    BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id) != cg) {
			k->flags |= WACHT_XK_ANC_END;
			return;
		}
	}
}

/* ---- the decision */

struct proc_best {
	__u32 order, flags;
};

static __always_inline void proc_try(struct wacht_proc_key *pk, struct proc_best *b)
{
	struct wacht_proc_val *v = bpf_map_lookup_elem(&proc_rules, pk);

	if (v && v->order < b->order) {
		b->order = v->order;
		b->flags = v->flags;
	}
}

static __always_inline __u32 builtin_of(__u64 h)
{
	__u32 *v = bpf_map_lookup_elem(&builtin_names, &h);

	return v ? *v : 0;
}

static __always_inline bool descends_from(const struct wacht_exec_keys *k, __u32 init)
{
	if (!init || !(k->flags & WACHT_XK_ANC_END))
		return true; /* not known: never a reason to kill */
	for (int i = 0; i < WACHT_ANC_MAX; i++) {
		if (i >= k->n_anc)
			break;
		if (k->anc[i] == init)
			return true;
	}
	return false;
}

/*
 * The verdict on an exec in a container whose policy is cg (Protect for
 * processes): the same order of checks as the rule engine's process_exec
 * (userspace/engine.c). The first rule that matches wins: every form of
 * rule that could match (name or "*", path exact, "*" or any "DIR/ *"
 * above the file) is looked up and the lowest order taken.
 */
static __always_inline __u32 exec_decide(const struct wacht_exec_keys *k,
					 const struct wacht_cg_policy *cg)
{
	struct wacht_proc_key pk = { .set = cg->proc_set };
	struct proc_best b = { .order = ~0u };

	for (int n = 0; n < 2; n++) {
		pk.name_hash = n ? 0 : k->name_hash;
		pk.path_kind = WACHT_PK_ANY;
		pk.path_hash = 0;
		proc_try(&pk, &b);
		pk.path_kind = WACHT_PK_EXACT;
		pk.path_hash = k->exe_hash;
		proc_try(&pk, &b);
		pk.path_kind = WACHT_PK_DIR;
		for (int i = 0; i < WACHT_DIRS_MAX; i++) {
			if (i >= k->n_dirs)
				break;
			pk.path_hash = k->dir_hash[i];
			proc_try(&pk, &b);
		}
	}

	bool matched = b.order != ~0u;
	bool deny = matched && (b.flags & WACHT_PR_DENY);
	bool explicit_allow = matched && !deny && !(b.flags & WACHT_PR_LEARNED);
	bool zd = cg->flags & WACHT_CG_ZERO_DRIFT;
	bool drift = zd && (k->flags & WACHT_XK_DRIFT) && !(matched && (b.flags & WACHT_PR_ALLOW_UPDATE));
	bool foreign = zd && !descends_from(k, cg->init_tgid);
	__u32 bi = builtin_of(k->name_hash);
	__u32 reason;

	if (!bi)
		bi = builtin_of(k->base_hash);
	if (k->flags & WACHT_XK_STDIO_SOCKET)
		reason = WACHT_KR_REVERSE_SHELL;
	else if (!explicit_allow && bi == WACHT_BUILTIN_SUSPICIOUS)
		reason = WACHT_KR_SUSPICIOUS;
	else if (!explicit_allow && bi == WACHT_BUILTIN_PACKAGE_MANAGER)
		reason = WACHT_KR_PACKAGE_MANAGER;
	else if (deny)
		reason = WACHT_KR_DENY_RULE;
	else if (drift)
		reason = WACHT_KR_DRIFT;
	else if (foreign)
		reason = WACHT_KR_FOREIGN;
	else if (!matched)
		reason = WACHT_KR_NOT_ALLOWED;
	else
		return WACHT_V_ENFORCED;
	return WACHT_V_ENFORCED | WACHT_V_KILLED | reason;
}

static __always_inline bool heartbeat_recent(void)
{
	__u32 zero = 0;
	__u64 *hb = bpf_map_lookup_elem(&heartbeat, &zero);

	return hb && *hb && bpf_ktime_get_boot_ns() - *hb < WACHT_HEARTBEAT_NS;
}

/*
 * Enforcement for the exec whose record e is (built in s->rec: exe path at
 * exe_pos, filename at fn_pos, argv at argv_pos). Returns the verdict for
 * wacht_exec.verdict; SIGKILL (or, for a container not compiled yet,
 * SIGSTOP) is already sent. A signal sent here is delivered before the
 * task returns to user space: the new image never runs an instruction.
 * Never acts on the host (mount namespace), the sensor (not traced at
 * all), a cgroup without a compiled identity, or when alert-only.
 */
static __always_inline __u32 enforce_exec(struct wacht_scratch *s, struct wacht_exec *e,
					  struct task_struct *task, __u32 exe_pos, __u32 fn_pos,
					  __u32 argv_pos)
{
	if (!cfg_enforce || (e->hdr.flags & WACHT_F_HOST))
		return 0;
	__u64 cgid = e->hdr.cgroup_id;
	struct wacht_cg_policy *cg = bpf_map_lookup_elem(&enforce_cgroups, &cgid);
	bool hold = false;

	if (!cg) {
		/* a cgroup made after the sensor started that userspace has not
		 * compiled yet: the container's first process */
		if (!bpf_map_lookup_elem(&cgroups_new, &cgid) || !heartbeat_recent())
			return 0;
		hold = true;
	} else if ((cg->flags & (WACHT_CG_KNOWN | WACHT_CG_PROC_PROTECT)) !=
		   (WACHT_CG_KNOWN | WACHT_CG_PROC_PROTECT)) {
		return 0;
	}

	struct wacht_exec_keys *k = &s->keys;
	k->cgroup_id = cgid;
	k->tgid = e->hdr.tgid;
	k->flags = 0;
	k->verdict = 0;
	k->n_dirs = 0;
	k->_pad = 0;
	hash_str_at(s, exe_pos, e->exe_len, true, &k->exe_hash, &k->base_hash);
	if (e->filename_len <= 1 || reexec_name(s, fn_pos)) {
		if (e->argc && e->argv_len)
			hash_str_at(s, argv_pos, e->argv_len, false, NULL, &k->name_hash);
		else
			hash_str_at(s, offsetof(struct wacht_hdr, comm), WACHT_COMM_LEN, false, NULL,
				    &k->name_hash);
	} else {
		hash_str_at(s, fn_pos, e->filename_len, false, NULL, &k->name_hash);
	}
	if (e->hdr.flags & WACHT_F_STDIO_SOCKET)
		k->flags |= WACHT_XK_STDIO_SOCKET;
	struct wacht_inode_key ik = { .ino = e->exe_ino, .dev = e->exe_dev };
	if (bpf_map_lookup_elem(&written_inodes, &ik))
		k->flags |= WACHT_XK_DRIFT;
	keys_ancestry(k, task);

	if (hold) {
		if (bpf_map_update_elem(&held_execs, &k->tgid, k, BPF_ANY)) {
			enforce_count(WACHT_EC_HOLD_FULL);
			return 0;
		}
		bpf_send_signal(SIGSTOP_);
		enforce_count(WACHT_EC_HOLD);
		return WACHT_V_HELD;
	}
	__u32 v = exec_decide(k, cg);
	if (v & WACHT_V_KILLED) {
		bpf_send_signal(SIGKILL_);
		enforce_count(WACHT_EC_KILL);
	}
	if (k->flags & WACHT_XK_DRIFT)
		v |= WACHT_V_DRIFT;
	return v;
}

#endif
