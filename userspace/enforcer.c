// SPDX-License-Identifier: Apache-2.0
/* enforcer.c: write compiled policies into the kernel's maps, release held
 * execs with the kernel's own verdict, keep the heartbeat. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/types.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "enforce.h"
#include "enforce_compile.h"
#include "enforcer.h"

#define CG_BUCKETS 1024

/* A compiled process rule list, shared by the containers whose rule lists
 * are equal (same member groups, same policy). */
struct pset {
	uint64_t sig, gen;
	uint32_t id, refs;
	bool failed;              /* not fully written (map full): not enforced */
	struct wacht_proc_key *keys; /* what is in proc_rules for it */
	size_t n;
	struct pset *next;
};

struct cg {
	uint64_t cgroup_id;
	uint64_t gen;             /* policy generation compiled for */
	struct pset *set;
	struct cg *next;
};

struct enforcer {
	struct loader_enforce fd;
	bool enforce;
	uint64_t gen;
	uint32_t next_set, next_net;
	struct pset *sets;
	struct cg *cg[CG_BUCKETS];
	int ncpu;
	uint64_t released_kill, released_cont, compiled, compile_errors, unknown, uncompilable;
};

static void put_builtin(void *ctx, uint64_t hash, uint32_t kind)
{
	struct enforcer *e = ctx;

	if (bpf_map_update_elem(e->fd.builtin_names, &hash, &kind, BPF_ANY))
		fprintf(stderr, "wacht-sensor: enforcement: failed to write built-in name: %s\n",
			strerror(errno));
}

struct enforcer *enforcer__new(struct loader *l, bool enforce)
{
	struct enforcer *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	loader__enforce_fds(l, &e->fd);
	e->enforce = enforce;
	e->gen = 1;
	e->next_set = 1;
	e->next_net = 1;
	e->ncpu = libbpf_num_possible_cpus();
	enforce_builtin_names(put_builtin, e);
	enforcer__heartbeat(e);
	return e;
}

static void pset_unref(struct enforcer *e, struct pset *s)
{
	if (!s || --s->refs)
		return;
	for (size_t i = 0; i < s->n; i++)
		bpf_map_delete_elem(e->fd.proc_rules, &s->keys[i]);
	for (struct pset **pp = &e->sets; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	free(s->keys);
	free(s);
}

void enforcer__free(struct enforcer *e)
{
	uint32_t tgids[256];
	uint64_t cgs[256];
	size_t n;

	if (!e)
		return;
	/* a process held when the sensor stops is let go, unchecked: the
	 * sensor stopping must never leave a workload frozen */
	while ((n = enforcer__held(e, tgids, cgs, 256)) > 0) {
		for (size_t i = 0; i < n; i++) {
			bpf_map_delete_elem(e->fd.held, &tgids[i]);
			kill((pid_t)tgids[i], SIGCONT);
		}
	}
	for (size_t b = 0; b < CG_BUCKETS; b++) {
		while (e->cg[b]) {
			struct cg *n = e->cg[b]->next;
			free(e->cg[b]);
			e->cg[b] = n;
		}
	}
	while (e->sets) {
		struct pset *n = e->sets->next;
		free(e->sets->keys);
		free(e->sets);
		e->sets = n;
	}
	free(e);
}

void enforcer__invalidate(struct enforcer *e)
{
	e->gen++;
}

bool enforcer__enforcing(const struct enforcer *e)
{
	return e->enforce;
}

static struct cg *cg_find(const struct enforcer *e, uint64_t id)
{
	for (struct cg *c = e->cg[id % CG_BUCKETS]; c; c = c->next)
		if (c->cgroup_id == id)
			return c;
	return NULL;
}

bool enforcer__current(const struct enforcer *e, uint64_t cgroup_id)
{
	const struct cg *c = cg_find(e, cgroup_id);

	return c && c->gen == e->gen;
}

static struct cg *cg_get(struct enforcer *e, uint64_t id)
{
	struct cg *c = cg_find(e, id);

	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cgroup_id = id;
	c->next = e->cg[id % CG_BUCKETS];
	e->cg[id % CG_BUCKETS] = c;
	return c;
}

/* The set for v's rule list under the current policy, compiled and
 * written if it is new. */
static struct pset *pset_get(struct enforcer *e, const struct policy *p,
			     const struct engine_view *v)
{
	uint64_t sig = enforce_procs_signature(v);
	struct enforce_procs ep;

	for (struct pset *s = e->sets; s; s = s->next) {
		if (s->sig == sig && s->gen == e->gen) {
			s->refs++;
			return s;
		}
	}
	struct pset *s = calloc(1, sizeof(*s));
	if (!s || enforce_compile_procs(p, v, e->next_set, &ep)) {
		free(s);
		return NULL;
	}
	s->sig = sig;
	s->gen = e->gen;
	s->id = e->next_set++;
	s->refs = 1;
	s->keys = calloc(ep.n ? ep.n : 1, sizeof(*s->keys));
	if (!s->keys) {
		enforce_procs_free(&ep);
		free(s);
		return NULL;
	}
	if (ep.uncompilable) {
		const struct proc_rule *r = ep.uncompilable;
		e->uncompilable++;
		s->failed = true;
		fprintf(stderr,
			"wacht-sensor: enforcement: process rule %s (%s) of group %s%s%s:%u has a "
			"pattern the kernel cannot match; containers of %s are alerted, not killed\n",
			r->name, r->path ? r->path : "*", p->groups[ep.uncompilable_group].name,
			r->pos.file ? " at " : "", r->pos.file ? r->pos.file : "", r->pos.line,
			v->group);
	}
	for (size_t i = 0; i < ep.n && !s->failed; i++) {
		if (bpf_map_update_elem(e->fd.proc_rules, &ep.v[i].key, &ep.v[i].val, BPF_ANY)) {
			fprintf(stderr,
				"wacht-sensor: enforcement: failed to write process rules of %s: %s; "
				"its containers are alerted, not killed\n",
				v->group, strerror(errno));
			e->compile_errors++;
			s->failed = true;
			break;
		}
		s->keys[s->n++] = ep.v[i].key;
	}
	enforce_procs_free(&ep);
	s->next = e->sets;
	e->sets = s;
	return s;
}

int enforcer__container(struct enforcer *e, uint64_t cgroup_id, const struct policy *p,
			const struct engine_view *v, uint32_t init_pid)
{
	struct cg *c = cg_get(e, cgroup_id);
	struct pset *s = c ? pset_get(e, p, v) : NULL;

	if (!s) {
		e->compile_errors++;
		fprintf(stderr, "wacht-sensor: enforcement: failed to compile %s: out of memory\n",
			v->group);
		return -ENOMEM;
	}
	struct wacht_cg_policy cp = { 0 };
	/* the network fields belong to the network compiler (enforce_net.c,
	 * loader__net_apply): kept as they are */
	if (bpf_map_lookup_elem(e->fd.cgroups, &cgroup_id, &cp))
		memset(&cp, 0, sizeof(cp));
	cp.flags = (cp.flags & WACHT_CG_NET_PROTECT) | enforce_cg_flags(v, NULL, e->enforce);
	cp.proc_set = s->id;
	cp.init_tgid = init_pid;
	if (s->failed)
		cp.flags &= ~WACHT_CG_PROC_PROTECT;
	/* the new set is complete before the container points at it; the
	 * old one goes after: no moment without a policy */
	if (bpf_map_update_elem(e->fd.cgroups, &cgroup_id, &cp, BPF_ANY)) {
		int err = -errno;
		fprintf(stderr, "wacht-sensor: enforcement: failed to write policy of %s: %s\n",
			v->group, strerror(-err));
		pset_unref(e, s);
		e->compile_errors++;
		return err;
	}
	bpf_map_delete_elem(e->fd.cgroups_new, &cgroup_id);
	struct pset *old = c->set;
	c->set = s;
	c->gen = e->gen;
	pset_unref(e, old);
	e->compiled++;
	return 0;
}

void enforcer__unknown(struct enforcer *e, uint64_t cgroup_id)
{
	struct wacht_cg_policy cp = { 0 }; /* no WACHT_CG_KNOWN: never act */
	struct cg *c = cg_get(e, cgroup_id);

	/* an entry there already is the network compiler's: only the process
	 * part is cleared */
	if (bpf_map_lookup_elem(e->fd.cgroups, &cgroup_id, &cp) == 0) {
		cp.flags &= ~(WACHT_CG_PROC_PROTECT | WACHT_CG_ZERO_DRIFT);
		cp.proc_set = 0;
	}
	bpf_map_update_elem(e->fd.cgroups, &cgroup_id, &cp, BPF_ANY);
	bpf_map_delete_elem(e->fd.cgroups_new, &cgroup_id);
	if (c) {
		pset_unref(e, c->set);
		c->set = NULL;
		c->gen = 0; /* compiled as soon as its identity is known */
	}
	e->unknown++;
}

void enforcer__gone(struct enforcer *e, uint64_t cgroup_id)
{
	struct cg **pp = &e->cg[cgroup_id % CG_BUCKETS];

	bpf_map_delete_elem(e->fd.cgroups, &cgroup_id);
	bpf_map_delete_elem(e->fd.cgroups_new, &cgroup_id);
	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->cgroup_id == cgroup_id) {
			struct cg *c = *pp;
			*pp = c->next;
			pset_unref(e, c->set);
			free(c);
			return;
		}
	}
}

uint32_t enforcer__release(struct enforcer *e, uint32_t tgid)
{
	struct wacht_exec_keys k;

	if (bpf_map_lookup_elem(e->fd.held, &tgid, &k))
		return 0;
	/* the kernel's decision, from the maps as they are now; the result
	 * is written back into the context */
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &k, .ctx_size_in = sizeof(k));
	uint32_t v = 0;
	if (bpf_prog_test_run_opts(e->fd.decide_held, &o) == 0)
		v = k.verdict;
	else
		fprintf(stderr, "wacht-sensor: enforcement: failed to decide held exec %u: %s\n",
			tgid, strerror(errno));
	bpf_map_delete_elem(e->fd.held, &tgid);
	if (v & WACHT_V_KILLED) {
		kill((pid_t)tgid, SIGKILL);
		e->released_kill++;
	} else {
		kill((pid_t)tgid, SIGCONT);
		e->released_cont++;
	}
	return v | WACHT_V_HELD;
}

size_t enforcer__held(struct enforcer *e, uint32_t *tgids, uint64_t *cgroups, size_t max)
{
	uint32_t key, next;
	size_t n = 0;
	struct wacht_exec_keys k;
	int r = bpf_map_get_next_key(e->fd.held, NULL, &next);

	while (r == 0 && n < max) {
		key = next;
		if (bpf_map_lookup_elem(e->fd.held, &key, &k) == 0) {
			tgids[n] = key;
			cgroups[n] = k.cgroup_id;
			n++;
		}
		r = bpf_map_get_next_key(e->fd.held, &key, &next);
	}
	return n;
}

void enforcer__heartbeat(struct enforcer *e)
{
	uint32_t zero = 0;
	uint64_t now = clock_boot_ns();

	bpf_map_update_elem(e->fd.heartbeat, &zero, &now, BPF_ANY);
}

static uint64_t counter(const struct enforcer *e, uint32_t idx)
{
	uint64_t v[e->ncpu > 0 ? e->ncpu : 1], sum = 0;

	if (e->ncpu <= 0 || bpf_map_lookup_elem(e->fd.counters, &idx, v))
		return 0;
	for (int i = 0; i < e->ncpu; i++)
		sum += v[i];
	return sum;
}

void enforcer__stats(const struct enforcer *e, struct jsonw *w)
{
	size_t n_cg = 0, n_sets = 0;

	for (size_t b = 0; b < CG_BUCKETS; b++)
		for (const struct cg *c = e->cg[b]; c; c = c->next)
			n_cg++;
	for (const struct pset *s = e->sets; s; s = s->next)
		n_sets++;
	jsonw__obj_begin(w, "enforcement");
	jsonw__bool(w, "enabled", e->enforce);
	jsonw__u64(w, "containers", n_cg);
	jsonw__u64(w, "rule_sets", n_sets);
	jsonw__u64(w, "killed", counter(e, WACHT_EC_KILL));
	jsonw__u64(w, "held", counter(e, WACHT_EC_HOLD));
	jsonw__u64(w, "held_released", e->released_cont);
	jsonw__u64(w, "held_killed", e->released_kill);
	jsonw__u64(w, "hold_full", counter(e, WACHT_EC_HOLD_FULL));
	jsonw__u64(w, "connect_denied", counter(e, WACHT_EC_CONNECT_DENY));
	jsonw__u64(w, "sendmsg_denied", counter(e, WACHT_EC_SENDMSG_DENY));
	jsonw__u64(w, "ingress_dropped", counter(e, WACHT_EC_INGRESS_DROP));
	jsonw__u64(w, "compiled", e->compiled);
	jsonw__u64(w, "compile_errors", e->compile_errors);
	jsonw__u64(w, "uncompilable", e->uncompilable);
	jsonw__u64(w, "unknown", e->unknown);
	jsonw__obj_end(w);
}
