// SPDX-License-Identifier: Apache-2.0
/* engine.c: captured activity against the policy: findings, decisions and
 * learning. See engine.h and DESIGN.md "The rule model". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "detect.h"
#include "enforce_compile.h"
#include "engine.h"
#include "file_policy.h"
#include "hash.h"

#define CS_BUCKETS 1024
/* Open aggregation windows: distinct findings held at once (a few MiB at
 * most); when full the oldest window closes early, nothing is dropped. */
#define AGG_WINDOWS 8192
/* Paths written in one container, remembered for zero-drift (hashes only:
 * 32 KiB per container at most). Beyond this the overlay upper-layer check
 * still sees every written binary. */
#define MODIFIED_MAX 4096
/* How far up the process tree "descends from the root process" looks. */
#define ANCESTRY_MAX 64

struct cstate {
	uint64_t cgroup_id;
	uint64_t gen;            /* policy generation the fields below are for */
	char name[256];          /* nv.<service>.<namespace> */
	char service[128], namespace[128];
	long own;                /* index of that group in the policy, -1 if absent */
	uint64_t *member;        /* bitmap over groups */
	size_t member_words;
	size_t *order;           /* member groups: custom, learned, reserved */
	size_t n_order;
	size_t *egress, *ingress;/* net rules with from / to among the member groups */
	size_t n_egress, n_ingress;
	enum policy_mode net_mode, proc_mode;
	enum policy_baseline baseline;
	uint64_t *modified;      /* open-addressing set of path hashes, 0 = empty */
	size_t n_modified;
	bool modified_full;
	struct cstate *next;
};

struct engine {
	struct engine_config cfg;
	struct proc_table *procs;
	struct policy *policy;
	uint64_t gen;
	struct cstate *buckets[CS_BUCKETS];
	struct aggregator *agg;
	struct engine_stats st;
	struct cstate *remote;   /* a remote container's, computed on every call */
	size_t *addr_groups;     /* groups with address criteria */
	size_t n_addr_groups;
	uint64_t addr_gen;
};

/* ---- helpers */

static uint64_t hash_str(const char *s)
{
	uint64_t h = hash_fnv1a_str(HASH_FNV_OFFSET, s);

	return h ? h : 1;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static bool bit(const uint64_t *m, size_t words, size_t i)
{
	return i / 64 < words && (m[i / 64] >> (i % 64)) & 1;
}

void engine_group_name(const struct container_view *v, char *out, size_t size)
{
	char svc[128];

	service_name(v->pod, v->name[0] ? v->name : v->id, svc, sizeof(svc));
	if (v->namespace[0])
		snprintf(out, size, "nv.%s.%s", svc, v->namespace);
	else
		snprintf(out, size, "nv.%s", svc);
}

/* ---- engine lifetime */

struct engine *engine__new(const struct engine_config *cfg, struct proc_table *procs)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->cfg = *cfg;
	e->procs = procs;
	e->gen = 1;
	e->agg = aggregator__new(cfg->window_ns, AGG_WINDOWS, cfg->sink, cfg->sink_ctx);
	if (!e->agg) {
		free(e);
		return NULL;
	}
	return e;
}

static void cstate_free(struct cstate *cs)
{
	free(cs->member);
	free(cs->order);
	free(cs->egress);
	free(cs->ingress);
	free(cs->modified);
	free(cs);
}

void engine__free(struct engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < CS_BUCKETS; i++) {
		while (e->buckets[i]) {
			struct cstate *n = e->buckets[i]->next;
			cstate_free(e->buckets[i]);
			e->buckets[i] = n;
		}
	}
	if (e->remote)
		cstate_free(e->remote);
	aggregator__free(e->agg);
	policy__free(e->policy);
	free(e->addr_groups);
	free(e);
}

void engine__set_policy(struct engine *e, struct policy *p)
{
	policy__free(e->policy);
	e->policy = p;
	e->gen++;
}

struct policy *engine__policy(const struct engine *e)
{
	return e->policy;
}

void engine__container_gone(struct engine *e, uint64_t cgroup_id)
{
	struct cstate **pp = &e->buckets[cgroup_id % CS_BUCKETS];

	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->cgroup_id == cgroup_id) {
			struct cstate *cs = *pp;
			*pp = cs->next;
			cstate_free(cs);
			return;
		}
	}
}

void engine__tick(struct engine *e, uint64_t now_ns)
{
	aggregator__flush(e->agg, now_ns);
}

void engine__stats(const struct engine *e, struct engine_stats *out)
{
	*out = e->st;
}

uint64_t engine__suppressed(const struct engine *e)
{
	return aggregator__suppressed(e->agg);
}

/* ---- membership */

static void entity_of(const struct engine_container *c, struct entity *en, char *svc, size_t svcsz)
{
	const struct container_view *v = c->view;

	service_name(v->pod, v->name[0] ? v->name : v->id, svc, svcsz);
	*en = (struct entity){
		.kind = ENTITY_CONTAINER,
		.container = v->name,
		.image = v->image,
		.service = svc,
		.namespace = v->namespace,
		.node = c->node ? c->node : "",
		.pod = v->pod,
		.labels = c->labels,
		.n_labels = c->n_labels,
		.addrs = c->addrs,
		.n_addrs = c->n_addrs,
	};
}

static bool group_has(const struct group *g, const struct entity *en)
{
	switch (g->kind) {
	case GROUP_CONTAINERS:
		return en->kind == ENTITY_CONTAINER;
	case GROUP_NODES:
		return en->kind == ENTITY_HOST;
	case GROUP_EXTERNAL:
		return en->kind == ENTITY_EXTERNAL;
	default:
		return g->defined && criteria_match(g->crit, g->n_crit, en);
	}
}

static int size_push(size_t **v, size_t *n, size_t x)
{
	if ((*n & (*n - 1)) == 0 || *n == 0) {
		size_t cap = *n ? *n * 2 : 8;
		size_t *nv = realloc(*v, cap * sizeof(**v));
		if (!nv)
			return -ENOMEM;
		*v = nv;
	}
	(*v)[(*n)++] = x;
	return 0;
}

/* The mode a container runs in: its learned group's if set, else the
 * strictest a custom group sets, else the containers group's, else
 * Discover (NeuVector's default for new services). */
static enum policy_mode pick_mode(enum policy_mode learned, enum policy_mode custom,
				  enum policy_mode all)
{
	if (learned)
		return learned;
	if (custom)
		return custom;
	return all ? all : MODE_DISCOVER;
}

static int cstate_compute(struct engine *e, struct cstate *cs, const struct engine_container *c)
{
	const struct policy *p = e->policy;
	struct entity en;
	char svc[128];
	size_t words = (p->n_groups + 63) / 64;

	e->st.recomputed++;
	entity_of(c, &en, svc, sizeof(svc));
	snprintf(cs->service, sizeof(cs->service), "%s", svc);
	snprintf(cs->namespace, sizeof(cs->namespace), "%s", c->view->namespace);
	engine_group_name(c->view, cs->name, sizeof(cs->name));
	cs->own = policy__group_find(p, cs->name);
	if (words > cs->member_words) {
		uint64_t *m = realloc(cs->member, words * sizeof(*m));
		if (!m)
			return -ENOMEM;
		cs->member = m;
		cs->member_words = words;
	}
	memset(cs->member, 0, cs->member_words * sizeof(*cs->member));
	cs->n_order = cs->n_egress = cs->n_ingress = 0;

	enum policy_mode lnet = 0, lproc = 0, cnet = 0, cproc = 0;
	enum policy_baseline lbase = 0, cbase = 0;
	/* custom groups first, then learned, then the containers group: the
	 * order process and file rules are tried in */
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < p->n_groups; i++) {
			const struct group *g = &p->groups[i];
			int want = g->kind == GROUP_CUSTOM ? 0 : g->kind == GROUP_LEARNED ? 1 :
				   g->kind == GROUP_CONTAINERS ? 2 : -1;

			if (want != pass || !group_has(g, &en))
				continue;
			cs->member[i / 64] |= 1ULL << (i % 64);
			if (size_push(&cs->order, &cs->n_order, i))
				return -ENOMEM;
			if (g->kind == GROUP_LEARNED) {
				if (!lnet || (long)i == cs->own)
					lnet = g->net_mode ? g->net_mode : lnet;
				if (!lproc || (long)i == cs->own)
					lproc = g->proc_mode ? g->proc_mode : lproc;
				if (!lbase || (long)i == cs->own)
					lbase = g->baseline ? g->baseline : lbase;
			} else if (g->kind == GROUP_CUSTOM) {
				cnet = g->net_mode > cnet ? g->net_mode : cnet;
				cproc = g->proc_mode > cproc ? g->proc_mode : cproc;
				cbase = g->baseline > cbase ? g->baseline : cbase;
			}
		}
	}
	const struct group *all = &p->groups[POLICY_G_CONTAINERS];
	cs->net_mode = pick_mode(lnet, cnet, all->net_mode);
	cs->proc_mode = pick_mode(lproc, cproc, all->proc_mode);
	cs->baseline = lbase ? lbase : cbase ? cbase : all->baseline ? all->baseline : BASELINE_BASIC;

	for (size_t r = 0; r < p->n_net; r++) {
		if (bit(cs->member, cs->member_words, p->net[r].from) &&
		    size_push(&cs->egress, &cs->n_egress, r))
			return -ENOMEM;
		if (bit(cs->member, cs->member_words, p->net[r].to) &&
		    size_push(&cs->ingress, &cs->n_ingress, r))
			return -ENOMEM;
	}
	cs->gen = e->gen;
	return 0;
}

static struct cstate *cstate_get(struct engine *e, const struct engine_container *c)
{
	uint64_t id = c->view->cgroup_id;
	struct cstate **pp = &e->buckets[id % CS_BUCKETS], *cs;

	if (c->remote) {
		/* nothing of it to remember, and no cgroup to key it by: the
		 * one scratch state, valid until the next call */
		if (!e->remote && !(e->remote = calloc(1, sizeof(*e->remote))))
			return NULL;
		e->remote->own = -1;
		return cstate_compute(e, e->remote, c) ? NULL : e->remote;
	}
	for (cs = *pp; cs; cs = cs->next)
		if (cs->cgroup_id == id)
			break;
	if (!cs) {
		cs = calloc(1, sizeof(*cs));
		if (!cs)
			return NULL;
		cs->cgroup_id = id;
		cs->next = *pp;
		*pp = cs;
	}
	if (cs->gen != e->gen && cstate_compute(e, cs, c))
		return NULL;
	return cs;
}

/* The learned group of a container, created if need be (Discover only). */
static long own_group(struct engine *e, struct cstate *cs)
{
	size_t before = e->policy->n_groups;

	if (cs->own >= 0)
		return cs->own;
	long g = policy__group_learned(e->policy, cs->service, cs->namespace);
	if (g >= 0 && e->policy->n_groups != before)
		e->gen++; /* a new group: memberships change */
	return g;
}

/* Groups with address criteria: the only ones a host or external peer can
 * belong to besides nodes / external. */
static void addr_groups_update(struct engine *e)
{
	const struct policy *p = e->policy;

	if (e->addr_gen == e->gen)
		return;
	e->n_addr_groups = 0;
	for (size_t i = 0; i < p->n_groups; i++) {
		const struct group *g = &p->groups[i];
		for (size_t k = 0; k < g->n_crit; k++) {
			if (g->crit[k].key == CRIT_ADDRESS) {
				if (size_push(&e->addr_groups, &e->n_addr_groups, i))
					return;
				break;
			}
		}
	}
	e->addr_gen = e->gen;
}

/* ---- findings */

static void finding_init(struct finding *f, const struct wacht_event *ev, const struct cstate *cs,
			 const struct engine_container *c, const struct proc_table *procs)
{
	const struct wacht_hdr *h = ev->hdr;
	const struct proc_entry *self = proc_table__lookup(procs, h->tgid);
	const struct proc_entry *parent = proc_table__lookup(procs, h->ppid);

	memset(f, 0, sizeof(*f));
	f->ts_ns = h->ts_ns;
	f->container = c ? c->view : NULL;
	f->group = cs ? cs->name : "";
	f->rule.id = f->rule.name = f->rule.group = "";
	f->process.pid = h->tgid;
	f->process.ppid = h->ppid;
	f->process.uid = h->uid;
	f->process.euid = h->euid;
	f->process.exe = h->type == WACHT_EV_EXEC ? ev->exe : self ? self->exe : "";
	f->process.name = self ? self->comm : (const char *)h->comm;
	f->process.parent_exe = parent ? parent->exe : "";
	if (h->type == WACHT_EV_EXEC) {
		f->process.argv = ev->argv;
		f->process.argc = ev->argc;
	}
	f->file.path = f->file.op = f->net.peer_group = f->message = "";
	f->count = 1;
}

static void report(struct engine *e, struct finding *f)
{
	e->st.findings++;
	aggregator__add(e->agg, f);
}

static void rule_ref(struct finding *f, const struct policy *p, size_t g, const struct src_pos *pos,
		     const char *name, char *buf, size_t size)
{
	if (pos->file)
		snprintf(buf, size, "%s:%u", pos->file, pos->line);
	else
		snprintf(buf, size, "learned:%s", p->groups[g].name);
	f->rule.id = buf;
	f->rule.name = name ? name : "";
	f->rule.group = p->groups[g].name;
}

/* A built-in detection's finding: its name, severity, action and rule. */
static void builtin(struct finding *f, const char *name, enum severity sev,
		    enum finding_action action, const char *id, const char *rule_name)
{
	f->name = name;
	f->severity = sev;
	f->action = action;
	f->rule.id = id;
	f->rule.name = rule_name;
	f->rule.group = "";
}

/* Group g learned something: counted, saved by the owner, and reported as
 * finding name with action learn. */
static void learned(struct engine *e, struct finding *f, size_t g, const char *name)
{
	e->st.learned++;
	if (e->cfg.learned)
		e->cfg.learned(e->cfg.learned_ctx, g);
	f->name = name;
	f->severity = SEV_INFO;
	f->action = FACT_LEARN;
}

/* Protect turns a finding into a decision; the other modes alert. */
static enum finding_action decide(enum policy_mode m, enum finding_action protect)
{
	return m == MODE_PROTECT ? protect : FACT_ALERT;
}

/* ---- process */

struct proc_match {
	const struct proc_rule *r;
	size_t group;
};

static struct proc_match proc_rules_match(const struct policy *p, const struct cstate *cs,
					  const char *name, const char *exe)
{
	for (size_t i = 0; i < cs->n_order; i++) {
		const struct group *g = &p->groups[cs->order[i]];
		for (size_t k = 0; k < g->n_procs; k++) {
			const struct proc_rule *r = &g->procs[k];
			if (proc_name_match(r->name, name) && proc_path_match(r->path, exe))
				return (struct proc_match){ r, cs->order[i] };
		}
	}
	return (struct proc_match){ NULL, 0 };
}

static bool modified_has(const struct cstate *cs, uint64_t h)
{
	if (!cs->modified)
		return false;
	for (size_t i = h % MODIFIED_MAX, n = 0; n < MODIFIED_MAX; i = (i + 1) % MODIFIED_MAX, n++) {
		if (cs->modified[i] == h)
			return true;
		if (!cs->modified[i])
			return false;
	}
	return false;
}

static void modified_add(struct engine *e, struct cstate *cs, const char *path)
{
	uint64_t h = hash_str(path);

	(void)e;
	if (!cs->modified && !(cs->modified = calloc(MODIFIED_MAX, sizeof(*cs->modified))))
		return;
	if (modified_has(cs, h))
		return;
	if (cs->n_modified >= MODIFIED_MAX * 3 / 4) {
		cs->modified_full = true;
		return;
	}
	size_t i = h % MODIFIED_MAX;
	while (cs->modified[i])
		i = (i + 1) % MODIFIED_MAX;
	cs->modified[i] = h;
	cs->n_modified++;
}

/* Walks up from tgid: true when the container's root process is reached
 * (or not known), false when the walk leaves the container first (a
 * `runc exec` / `kubectl exec` process, whose parent is the runtime). */
static bool descends_from_root(const struct proc_table *procs, uint32_t tgid, uint32_t init_pid,
			       uint64_t cgroup_id)
{
	if (!init_pid)
		return true;
	for (int i = 0; i < ANCESTRY_MAX && tgid > 1; i++) {
		if (tgid == init_pid)
			return true;
		const struct proc_entry *pe = proc_table__lookup(procs, tgid);
		if (!pe || pe->cgroup_id != cgroup_id)
			return false;
		tgid = pe->ppid;
	}
	return tgid == init_pid;
}

/* The name a process rule matches: the executed file name as given to
 * execve (busybox applets by their link name). A program that re-executes
 * itself through /proc/self/exe or an fd (busybox's shell running an applet)
 * is named by its argv[0], as the kernel would otherwise call it "exe". */
const char *engine_exec_name(const struct wacht_event *ev)
{
	const char *fn = ev->filename;

	if (!fn[0] || strncmp(fn, "/proc/", 6) == 0 || strncmp(fn, "/dev/fd/", 8) == 0) {
		if (ev->argc && ev->argv[0])
			return base_name(ev->argv);
		return (const char *)ev->hdr->comm;
	}
	return base_name(fn);
}

/* What happened to an exec Protect forbids is what the kernel did (it
 * decides at the exec, from the compiled policy): kill if it killed,
 * otherwise alert, with note saying why nothing was killed. */
static enum finding_action exec_action(const struct engine *e, const struct cstate *cs,
				       const struct engine_exec_facts *xf, const char **note)
{
	*note = "";
	if (cs->proc_mode != MODE_PROTECT)
		return FACT_ALERT;
	if (!e->cfg.kernel_verdicts)
		return FACT_KILL;
	if (xf && (xf->verdict & WACHT_V_KILLED))
		return FACT_KILL;
	*note = e->cfg.alert_only ? " (not killed: enforcement is off, --alert-only)" :
		xf && (xf->verdict & WACHT_V_ENFORCED) ? " (not killed: the kernel's policy allowed it)" :
							   " (not killed: not enforced in the kernel)";
	return FACT_ALERT;
}

static void process_exec(struct engine *e, const struct wacht_event *ev, struct cstate *cs,
			 const struct engine_container *c, const struct engine_exec_facts *xf)
{
	const struct policy *p = e->policy;
	const struct wacht_hdr *h = ev->hdr;
	const struct proc_entry *self = proc_table__lookup(e->procs, h->tgid);
	const char *name = engine_exec_name(ev), *exe = ev->exe;
	char idbuf[512], msg[512];
	struct finding f;
	struct proc_match m = proc_rules_match(p, cs, name, exe);
	bool explicitly_allowed = m.r && m.r->action == ACTION_ALLOW && !m.r->learned;
	const char *note;
	enum finding_action kill_or_alert = exec_action(e, cs, xf, &note);
	enum finding_action builtin_action = explicitly_allowed ? FACT_ALERT : kill_or_alert;
	const char *bnote = explicitly_allowed ? "" : note;
	bool reported = false;

	finding_init(&f, ev, cs, c, e->procs);
	f.process.name = name;
	f.mode = cs->proc_mode;

	/* built-in: suspicious programs and everything they start */
	uint32_t flags = self ? self->flags : 0;
	if (!explicitly_allowed && (flags & PROC_F_SUSPICIOUS)) {
		builtin(&f, FN_SUSPICIOUS, SEV_HIGH, builtin_action, "builtin:suspicious-process",
			"suspicious process");
		snprintf(msg, sizeof(msg), "%s started by a suspicious process%s", name, bnote);
		f.message = msg;
		report(e, &f);
		reported = true;
	} else if (!explicitly_allowed &&
		   (detect_suspicious(name) || detect_suspicious(base_name(exe)))) {
		proc_table__set_flags(e->procs, h->tgid, PROC_F_SUSPICIOUS);
		builtin(&f, FN_SUSPICIOUS, SEV_HIGH, builtin_action, "builtin:suspicious-process",
			"suspicious process");
		snprintf(msg, sizeof(msg), "suspicious process %s (%s)%s", name, exe, bnote);
		f.message = msg;
		report(e, &f);
		reported = true;
	}
	if (h->flags & WACHT_F_STDIO_SOCKET) {
		builtin(&f, FN_TUNNEL, SEV_CRITICAL, kill_or_alert, "builtin:reverse-shell",
			"reverse shell");
		snprintf(msg, sizeof(msg), "%s runs with standard input and output on one socket%s",
			 name, note);
		f.message = msg;
		report(e, &f);
		reported = true;
	}
	if (detect_package_manager(name) || detect_package_manager(base_name(exe))) {
		builtin(&f, FN_PACKAGE_MANAGER, SEV_MEDIUM, builtin_action, "builtin:package-manager",
			"package manager");
		snprintf(msg, sizeof(msg), "package manager %s runs in a container%s", name, bnote);
		f.message = msg;
		report(e, &f);
		reported = true;
	}

	/* the process profile */
	bool zero_drift = cs->baseline == BASELINE_ZERO_DRIFT;
	bool drift = zero_drift && (modified_has(cs, hash_str(exe)) || (xf && xf->exe_in_upper));
	bool foreign = zero_drift && !descends_from_root(e->procs, h->tgid, c->init_pid, h->cgroup_id);
	const char *why = NULL;

	f.message = msg;
	if (m.r && m.r->action == ACTION_DENY) {
		why = "denied by rule";
	} else if (m.r) {
		if (drift && !m.r->allow_update)
			why = "zero-drift: the binary was written or replaced after the container started";
		else if (foreign)
			why = "zero-drift: not started by the container's root process";
		if (why && cs->proc_mode == MODE_DISCOVER)
			why = NULL;
	} else if (cs->proc_mode == MODE_DISCOVER) {
		long g = own_group(e, cs);
		if (g >= 0 && policy__proc_add(e->policy, g, name, exe) >= 0) {
			learned(e, &f, g, FN_PROCESS_LEARNED);
			snprintf(idbuf, sizeof(idbuf), "learned:%s", e->policy->groups[g].name);
			f.rule.id = idbuf;
			f.rule.name = "";
			f.rule.group = e->policy->groups[g].name;
			snprintf(msg, sizeof(msg), "learned process %s (%s)", name, exe);
			report(e, &f);
		} else {
			e->st.learn_failed++;
		}
		return;
	} else {
		why = zero_drift && drift ? "zero-drift: the binary was written or replaced after the container started" :
		      foreign ? "zero-drift: not started by the container's root process" :
				"not in the process profile";
	}
	if (!why && !reported && xf && (xf->verdict & WACHT_V_KILLED)) {
		/* the kernel knew more (a binary it saw written): its reason */
		why = enforce_reason_name(xf->verdict);
	}
	if (!why)
		return;
	f.name = FN_PROCESS_VIOLATION;
	f.severity = SEV_HIGH;
	f.action = kill_or_alert;
	if (m.r) {
		rule_ref(&f, p, m.group, &m.r->pos, m.r->name, idbuf, sizeof(idbuf));
	} else {
		snprintf(idbuf, sizeof(idbuf), "profile:%s", cs->name);
		f.rule.id = idbuf;
		f.rule.name = "";
		f.rule.group = cs->name;
	}
	snprintf(msg, sizeof(msg), "%s (%s): %s%s", name, exe, why, note);
	report(e, &f);
}

/* Credentials on every event: a non-root process that became root other
 * than through su/sudo (a setuid binary, an exploit's commit_creds). */
static void check_escalation(struct engine *e, const struct wacht_event *ev, struct cstate *cs,
			     const struct engine_container *c)
{
	const struct wacht_hdr *h = ev->hdr;
	const struct proc_entry *self = proc_table__lookup(e->procs, h->tgid);

	if (!self)
		return;
	uint32_t prev = self->euid;
	if (prev == PROC_UID_UNKNOWN && h->type == WACHT_EV_EXEC) {
		const struct proc_entry *parent = proc_table__lookup(e->procs, h->ppid);
		prev = parent ? parent->euid : PROC_UID_UNKNOWN;
	}
	/* a set-user-ID root exec by a user: the real uid still says who it was
	 * (also when the process came from the runtime, whose history is not
	 * evaluated) */
	if (h->type == WACHT_EV_EXEC && h->euid == 0 && h->uid != 0 && h->uid != PROC_UID_UNKNOWN &&
	    (prev == 0 || prev == PROC_UID_UNKNOWN))
		prev = h->uid;
	if (prev != h->euid || self->uid != h->uid)
		proc_table__set_creds(e->procs, h->tgid, h->uid, h->euid);
	if (!cs || h->euid != 0 || prev == 0 || prev == PROC_UID_UNKNOWN ||
	    (self->flags & PROC_F_ESCALATED))
		return;
	const struct proc_entry *parent = proc_table__lookup(e->procs, h->ppid);
	const char *name = h->type == WACHT_EV_EXEC ? engine_exec_name(ev) : self->comm;
	if (detect_escalation_tool(name) || (parent && detect_escalation_tool(base_name(parent->exe))))
		return;
	proc_table__set_flags(e->procs, h->tgid, PROC_F_ESCALATED);

	struct finding f;
	char msg[256];
	finding_init(&f, ev, cs, c, e->procs);
	f.mode = cs->proc_mode;
	/* reported, never killed: the kernel does not decide on credentials */
	builtin(&f, FN_PRIV_ESC, SEV_CRITICAL, FACT_ALERT, "builtin:privilege-escalation",
		"privilege escalation");
	snprintf(msg, sizeof(msg), "%s became root (euid %u -> 0) without su or sudo", name, prev);
	f.message = msg;
	report(e, &f);
}

/* ---- file */

static bool is_change(const struct wacht_file *fl)
{
	switch (fl->op) {
	case WACHT_FILE_OPEN:
		return (fl->open_flags & O_ACCMODE) != O_RDONLY || (fl->open_flags & (O_CREAT | O_TRUNC));
	case WACHT_FILE_CHOWN:
	case WACHT_FILE_CHMOD:
	case WACHT_FILE_CREAT:
	case WACHT_FILE_UNLINK:
	case WACHT_FILE_RENAME:
	case WACHT_FILE_TRUNCATE:
	case WACHT_FILE_LINK:
	case WACHT_FILE_SYMLINK:
	case WACHT_FILE_MKDIR:
	case WACHT_FILE_RMDIR:
		return true;
	}
	return false;
}

static const char *change_op(const struct wacht_file *fl)
{
	switch (fl->op) {
	case WACHT_FILE_OPEN:
		/* O_CREAT on a file that exists opens it: the kernel says which */
		return (fl->hdr.flags & WACHT_F_CREATED) ? "create" : "modify";
	case WACHT_FILE_CREAT:
		return (fl->hdr.flags & WACHT_F_CREATED) ? "create" : "modify";
	case WACHT_FILE_UNLINK:
	case WACHT_FILE_RMDIR:
		return "delete";
	case WACHT_FILE_RENAME:
		return "rename";
	case WACHT_FILE_CHMOD:
		return "chmod";
	case WACHT_FILE_CHOWN:
		return "chown";
	case WACHT_FILE_TRUNCATE:
		return "modify";
	case WACHT_FILE_LINK:
		return "link";
	case WACHT_FILE_SYMLINK:
		return "symlink";
	case WACHT_FILE_MKDIR:
		return "create";
	}
	return "access";
}

static void process_file(struct engine *e, const struct wacht_event *ev, struct cstate *cs,
			 const struct engine_container *c)
{
	const struct policy *p = e->policy;
	const struct wacht_file *fl = ev->file;
	const struct proc_entry *self = proc_table__lookup(e->procs, ev->hdr->tgid);
	/* the name it was executed by (busybox applets re-executed through
	 * /proc/self/exe have the comm "exe") */
	const char *comm = self && self->comm[0] ? self->comm : (const char *)ev->hdr->comm;
	bool change = is_change(fl) && fl->result >= 0;
	/* the name a change lands on: rename/link's new name, a symlink's link */
	const char *target = ev->path2[0] ? ev->path2 : ev->path;
	char idbuf[512], msg[512];
	bool reported = false;
	struct finding f;

	if (change && target[0] == '/')
		modified_add(e, cs, target);
	if (!ev->path[0])
		return;

	finding_init(&f, ev, cs, c, e->procs);
	f.has_file = true;
	f.file.path = target;
	f.file.op = change ? change_op(fl) : "access";
	f.mode = cs->proc_mode;
	f.message = msg;

	/* rules of the container's groups */
	const struct file_rule *blocking = NULL;
	size_t blocking_group = 0;
	bool app_allowed = false;
	for (size_t i = 0; i < cs->n_order; i++) {
		const struct group *g = &p->groups[cs->order[i]];
		for (size_t k = 0; k < g->n_files; k++) {
			const struct file_rule *r = &g->files[k];
			bool hit = file_filter_match(&r->filter, ev->path) ||
				   (ev->path2[0] && file_filter_match(&r->filter, ev->path2));
			if (!hit)
				continue;
			if (r->behavior == FILE_MONITOR_CHANGE) {
				if (!change || reported)
					continue;
				f.name = FN_FILE_MODIFIED;
				f.severity = SEV_MEDIUM;
				f.action = FACT_ALERT;
				rule_ref(&f, p, cs->order[i], &r->pos, r->filter.pattern, idbuf, sizeof(idbuf));
				snprintf(msg, sizeof(msg), "%s: %s %s (watched by %s)", comm, f.file.op,
					 target, r->filter.pattern);
				report(e, &f);
				reported = true;
				continue;
			}
			/* block_access: allowed if any matching rule lists the app */
			if (!blocking) {
				blocking = r;
				blocking_group = cs->order[i];
			}
			for (size_t a = 0; a < r->n_apps && !app_allowed; a++)
				app_allowed = file_app_match(r->apps[a], comm);
		}
	}
	if (blocking && !app_allowed) {
		if (cs->proc_mode == MODE_DISCOVER) {
			size_t k = blocking - p->groups[blocking_group].files;
			int added = policy__file_app_add(e->policy, blocking_group, k, comm);
			if (added > 0) {
				learned(e, &f, blocking_group, FN_FILE_LEARNED);
				rule_ref(&f, p, blocking_group, &blocking->pos, blocking->filter.pattern,
					 idbuf, sizeof(idbuf));
				snprintf(msg, sizeof(msg), "learned %s as an app of %s", comm,
					 blocking->filter.pattern);
				report(e, &f);
			} else if (added < 0) {
				e->st.learn_failed++;
			}
		} else {
			f.name = FN_FILE_VIOLATION;
			f.severity = SEV_HIGH;
			f.action = decide(cs->proc_mode, FACT_DENY);
			f.file.op = change ? change_op(fl) : "access";
			rule_ref(&f, p, blocking_group, &blocking->pos, blocking->filter.pattern, idbuf,
				 sizeof(idbuf));
			/* only opens can be stopped (the file guard); what it did
			 * not stop is an alert that says so */
			const char *not_enforced = NULL;
			bool is_open = fl->op == WACHT_FILE_OPEN || fl->op == WACHT_FILE_CREAT;
			if (f.action == FACT_DENY && e->cfg.file_denied) {
				/* an open that returned a descriptor was not
				 * stopped; one that failed with EPERM may have
				 * been, the guard says */
				if (!is_open)
					not_enforced = "only opens and executions are blocked";
				else if (fl->result != -EPERM ||
					 !e->cfg.file_denied(e->cfg.file_denied_ctx, ev))
					not_enforced = "the open was not stopped";
				if (not_enforced)
					f.action = FACT_ALERT;
			}
			snprintf(msg, sizeof(msg), "%s may not access %s (block_access %s)%s%s", comm,
				 ev->path, blocking->filter.pattern, not_enforced ? "; not enforced: " : "",
				 not_enforced ? not_enforced : "");
			report(e, &f);
		}
	}
	if (!change)
		return;

	/* built-in: package databases, then monitored files */
	const char *db = detect_package_db(ev->path);
	if (!db && ev->path2[0])
		db = detect_package_db(ev->path2);
	if (db) {
		builtin(&f, FN_PACKAGE_UPDATED, SEV_MEDIUM, FACT_ALERT, "builtin:package-database",
			"package database");
		snprintf(msg, sizeof(msg), "%s changed the %s package database (%s %s)", comm, db,
			 f.file.op, target);
		report(e, &f);
		return;
	}
	if (reported)
		return;
	const char *why = detect_monitored(ev->path);
	if (!why && ev->path2[0])
		why = detect_monitored(ev->path2);
	if (why) {
		builtin(&f, FN_FILE_MODIFIED, SEV_HIGH, FACT_ALERT, "builtin:monitored-file", why);
		snprintf(msg, sizeof(msg), "%s: %s %s (%s)", comm, f.file.op, target, why);
		report(e, &f);
	}
}

/* ---- network */

static bool loopback(uint8_t family, const uint8_t *a)
{
	static const uint8_t v6lo[16] = { [15] = 1 };

	return family == AF_INET ? a[0] == 127 : memcmp(a, v6lo, 16) == 0;
}

/* Groups a peer belongs to, as a bitmap in words (caller zeroes), and the
 * group a learned rule names it by. */
static long peer_groups(struct engine *e, const struct engine_peer *peer, uint8_t family,
			const uint8_t *addr, uint64_t *bits, size_t words, const char **label,
			struct cstate **peer_cs)
{
	const struct policy *p = e->policy;
	struct entity_addr ea = { .family = family };
	struct entity en = { .kind = ENTITY_EXTERNAL, .container = "", .image = "", .service = "",
			     .namespace = "", .node = "", .pod = "", .addrs = &ea, .n_addrs = 1 };
	size_t learn_as = POLICY_G_EXTERNAL;

	memcpy(ea.addr, addr, 16);
	if (peer && peer->kind == ENTITY_CONTAINER && peer->container) {
		struct cstate *pcs = cstate_get(e, peer->container);
		if (pcs) {
			memcpy(bits, pcs->member, (words < pcs->member_words ? words : pcs->member_words) * 8);
			*label = pcs->name;
			*peer_cs = pcs;
			return pcs->own; /* -1: its learned group does not exist yet */
		}
	}
	if (peer && peer->kind == ENTITY_HOST) {
		en.kind = ENTITY_HOST;
		learn_as = POLICY_G_NODES;
	}
	*peer_cs = NULL;
	bits[learn_as / 64] |= 1ULL << (learn_as % 64);
	*label = p->groups[learn_as].name;
	addr_groups_update(e);
	for (size_t i = 0; i < e->n_addr_groups; i++) {
		size_t g = e->addr_groups[i];
		if (group_has(&p->groups[g], &en)) {
			bits[g / 64] |= 1ULL << (g % 64);
			if (learn_as == POLICY_G_EXTERNAL || learn_as == POLICY_G_NODES) {
				learn_as = g;
				*label = p->groups[g].name;
			}
		}
	}
	return (long)learn_as;
}

/* An IPv4 address a dual-stack socket reports as ::ffff:a.b.c.d. */
static void unmap_v4(uint8_t *family, uint8_t *a)
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	if (*family == AF_INET6 && memcmp(a, prefix, 12) == 0) {
		memmove(a, a + 12, 4);
		memset(a + 4, 0, 12);
		*family = AF_INET;
	}
}

static void process_net(struct engine *e, const struct wacht_event *ev, struct cstate *cs,
			const struct engine_container *c, const struct engine_peer *peer)
{
	const struct wacht_net *n = ev->net;
	bool inbound = n->op == WACHT_NET_ACCEPT;

	if (n->op != WACHT_NET_CONNECT && n->op != WACHT_NET_ACCEPT && n->op != WACHT_NET_UDP_SEND)
		return;
	uint8_t family = n->family == AF_INET6 ? AF_INET6 : AF_INET, raddr[16], laddr[16];
	memcpy(raddr, n->raddr, 16);
	memcpy(laddr, n->laddr, 16);
	unmap_v4(&family, raddr);
	if (n->family == AF_INET6) {
		uint8_t lf = AF_INET6;
		unmap_v4(&lf, laddr);
	}
	if (loopback(family, raddr))
		return;
	uint16_t port = inbound ? n->lport : n->rport;
	size_t words = (e->policy->n_groups + 63) / 64;
	uint64_t stackbits[16] = { 0 };
	uint64_t *pb = words <= 16 ? stackbits : calloc(words, sizeof(uint64_t));
	const char *label = "";

	if (!pb)
		return;
	enum flow_verdict verdict = FLOW_VERDICT_UNKNOWN;
	struct cstate *pcs = NULL;
	long peer_learn = peer_groups(e, peer, family, raddr, pb, words, &label, &pcs);
	/* a name the caller gave an external peer */
	if (!pcs && peer && peer->kind == ENTITY_EXTERNAL && peer->remote_group &&
	    peer->remote_group[0])
		label = peer->remote_group;

	const struct policy *p = e->policy;
	const size_t *cand = inbound ? cs->ingress : cs->egress;
	size_t n_cand = inbound ? cs->n_ingress : cs->n_egress;
	const struct net_rule *hit = NULL;
	for (size_t i = 0; i < n_cand; i++) {
		const struct net_rule *r = &p->net[cand[i]];
		if (!bit(pb, words, inbound ? r->from : r->to))
			continue;
		if (ports_match(r->ports, r->n_ports, n->proto, port)) {
			hit = r;
			break;
		}
	}
	/* what the kernel did (netguard.bpf.c): the finding says that, not
	 * what the policy would have done */
	bool refused = ev->hdr->flags & WACHT_F_DENIED;
	bool forbids = cs->net_mode == MODE_PROTECT && (!hit || hit->action == ACTION_DENY);
	if (hit && hit->action == ACTION_ALLOW && !refused) {
		verdict = FLOW_VERDICT_ALLOWED;
		goto out;
	}

	struct finding f;
	char idbuf[512], msg[512];
	finding_init(&f, ev, cs, c, e->procs);
	f.has_net = true;
	f.net.proto = n->proto;
	f.net.family = family;
	f.net.inbound = inbound;
	memcpy(f.net.laddr, laddr, 16);
	memcpy(f.net.raddr, raddr, 16);
	f.net.lport = n->lport;
	f.net.rport = n->rport;
	f.net.peer_group = label;
	f.mode = cs->net_mode;
	f.message = msg;
	const char *proto = n->proto == IPPROTO_TCP ? "tcp" : "udp";
	if (refused && !forbids) {
		/* refused under the policy the kernel held, compiled before a
		 * change this event was evaluated under (nothing is learned
		 * from a connection that never happened) */
		f.name = FN_NET_VIOLATION;
		f.severity = SEV_HIGH;
		f.action = FACT_DENY;
		snprintf(idbuf, sizeof(idbuf), "profile:%s", cs->name);
		f.rule.id = idbuf;
		f.rule.group = cs->name;
		snprintf(msg, sizeof(msg), "%s %s %s/%u refused by the policy in the kernel, "
			 "compiled before the last change", inbound ? "connection from" : "connection to",
			 label, proto, port);
		report(e, &f);
		verdict = FLOW_VERDICT_DENIED;
		goto out;
	}
	if (hit) {
		f.name = FN_NET_VIOLATION;
		f.severity = SEV_HIGH;
		f.action = decide(cs->net_mode, FACT_DENY);
		rule_ref(&f, p, hit->owner, &hit->pos, hit->name, idbuf, sizeof(idbuf));
		snprintf(msg, sizeof(msg), "%s %s/%u %s %s denied by rule %s", inbound ? "from" : "to",
			 proto, port, inbound ? "to" : "from", cs->name, hit->name);
	} else if (cs->net_mode == MODE_DISCOVER) {
		long own = own_group(e, cs);
		if (own >= 0 && peer_learn < 0 && pcs)
			peer_learn = own_group(e, pcs);
		if (own < 0 || peer_learn < 0) {
			e->st.learn_failed++;
			goto out;
		}
		size_t from = inbound ? (size_t)peer_learn : (size_t)own;
		size_t to = inbound ? (size_t)own : (size_t)peer_learn;
		long r = policy__net_add(e->policy, from, to, own, n->proto, port);
		if (r < 0) {
			e->st.learn_failed++;
			goto out;
		}
		e->gen++; /* the rule lists of the containers changed */
		learned(e, &f, own, FN_NET_LEARNED);
		p = e->policy;
		rule_ref(&f, p, own, &p->net[r].pos, p->net[r].name, idbuf, sizeof(idbuf));
		snprintf(msg, sizeof(msg), "learned %s -> %s %s/%u", p->groups[from].name,
			 p->groups[to].name, proto, port);
	} else {
		f.name = FN_NET_VIOLATION;
		f.severity = SEV_MEDIUM;
		f.action = decide(cs->net_mode, FACT_DENY);
		snprintf(idbuf, sizeof(idbuf), "profile:%s", cs->name);
		f.rule.id = idbuf;
		f.rule.group = cs->name;
		snprintf(msg, sizeof(msg), "%s %s %s/%u matches no network rule",
			 inbound ? "connection from" : "connection to", label, proto, port);
	}
	if (f.action == FACT_DENY && !refused) {
		size_t len = strlen(msg);
		f.action = FACT_ALERT;
		snprintf(msg + len, sizeof(msg) - len, " (not enforced: %s)",
			 peer && peer->not_enforced ? peer->not_enforced : "the kernel did not refuse it");
	}
	/* what happened to the connection, not what the policy says: a
	 * Protect finding the kernel did not enforce is a violation */
	verdict = f.action == FACT_DENY ? FLOW_VERDICT_DENIED
		  : f.action == FACT_LEARN ? FLOW_VERDICT_ALLOWED
					   : FLOW_VERDICT_VIOLATION;
	report(e, &f);
out:
	if (verdict != FLOW_VERDICT_UNKNOWN && e->cfg.net_verdict)
		e->cfg.net_verdict(e->cfg.net_verdict_ctx, c->view->cgroup_id, inbound, family, raddr,
				   n->proto, port, verdict);
	if (pb != stackbits)
		free(pb);
}

/* ---- the enforcement compiler's view */

int engine__view(struct engine *e, const struct engine_container *c, struct engine_view *out)
{
	struct cstate *cs = e->policy ? cstate_get(e, c) : NULL;

	if (!cs)
		return -ENOMEM;
	*out = (struct engine_view){
		.group = cs->name,
		.member = cs->member,
		.member_words = cs->member_words,
		.order = cs->order,
		.n_order = cs->n_order,
		.egress = cs->egress,
		.ingress = cs->ingress,
		.n_egress = cs->n_egress,
		.n_ingress = cs->n_ingress,
		.net_mode = cs->net_mode,
		.proc_mode = cs->proc_mode,
		.baseline = cs->baseline,
	};
	return 0;
}

void engine__peer_member(struct engine *e, bool host, uint8_t family, const uint8_t *addr,
			 uint64_t *bits, size_t words)
{
	struct engine_peer peer = { .kind = host ? ENTITY_HOST : ENTITY_EXTERNAL };
	const char *label;
	struct cstate *pcs;

	if (e->policy)
		peer_groups(e, &peer, family, addr, bits, words, &label, &pcs);
}

/* ---- entry */

void engine__event(struct engine *e, const struct wacht_event *ev, const struct engine_container *c,
		   const struct engine_exec_facts *xf, const struct engine_peer *peer)
{
	uint32_t type = ev->hdr->type;
	struct cstate *cs = NULL;

	if (!e->policy || (type != WACHT_EV_EXEC && type != WACHT_EV_FILE && type != WACHT_EV_NET))
		return;
	if (c) {
		cs = cstate_get(e, c);
		if (!cs)
			return;
	}
	e->st.evaluated++;
	check_escalation(e, ev, cs, c);
	if (!cs)
		return;
	switch (type) {
	case WACHT_EV_EXEC:
		process_exec(e, ev, cs, c, xf);
		break;
	case WACHT_EV_FILE:
		process_file(e, ev, cs, c);
		break;
	case WACHT_EV_NET:
		process_net(e, ev, cs, c, peer);
		break;
	}
}
