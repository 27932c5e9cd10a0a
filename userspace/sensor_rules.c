// SPDX-License-Identifier: Apache-2.0
/* sensor_rules.c: the policy in the running sensor, and what the rule
 * engine needs to know about containers that only the system can tell. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "enforce.h"
#include "file_guard.h"
#include "netaddr.h"
#include "oci.h"
#include "sensor_rules.h"

#define CI_BUCKETS 256
#define CI_ADDRS 16
#define HOST_ADDRS 64
/* A container's addresses are read again this often (a pod's IP does not
 * change, but a container may join its pod's network after we first look). */
#define ADDR_TTL_NS (30ULL * 1000000000ULL)
/* Unknown peer addresses trigger a re-read of every container's addresses
 * at most this often. */
#define REFRESH_NS (1000000000ULL)
#define MAX_WATCHED 64
#define LABELS_MAX (2 * OCI_LABELS_MAX)
#define HELD_MAX 256

/* What the system tells about one container cgroup. */
struct cinfo {
	uint64_t cgroup_id;
	uint32_t init_pid;
	struct entity_addr addrs[CI_ADDRS];
	size_t n_addrs;
	uint64_t addrs_ns;         /* when read; 0 = never */
	char upper[PATH_MAX];      /* overlay upperdir of its root, "" if none */
	bool upper_read;
	uint64_t guard_sig;        /* what the file guard was last given; 0 = nothing */
	struct cinfo *next;
};

struct sensor_rules {
	struct sensor_rules_config cfg;
	struct containers *c;
	struct proc_table *procs;
	struct engine *engine;
	struct cinfo *ci[CI_BUCKETS];
	struct entity_addr host[HOST_ADDRS];
	size_t n_host;
	uint64_t host_ns, refresh_ns;
	size_t *dirty;             /* groups whose learned profile is not saved yet */
	size_t n_dirty, cap_dirty;
	int ifd;
	char watched_files[MAX_WATCHED][NAME_MAX + 1]; /* "" for a watched directory */
	int watched_wd[MAX_WATCHED];
	size_t n_watched;
	bool reload_pending;
	uint64_t reloads, reload_failures, saves, save_errors;
	struct entity_label labels[LABELS_MAX], peer_labels[LABELS_MAX];
	struct enforcer *enf;      /* borrowed; NULL: no enforcement */
	uint32_t held_seen[HELD_MAX]; /* held at the last tick: released at this one */
	size_t n_held_seen;
	struct file_guard *guard;  /* NULL: block_access is only reported */
	bool reporting_denial;     /* the event given to the engine is a guard's denial */
};

static void enforce_all(struct sensor_rules *r);
static void release_stale(struct sensor_rules *r);
struct cinfo;
struct engine_container;
static void guard_sync(struct sensor_rules *r, const struct engine_container *ec, struct cinfo *ci);

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---- learned profiles */

static void learned(void *ctx, size_t g)
{
	struct sensor_rules *lr = ctx;

	/* the learned rules are part of the compiled policy */
	if (lr->enf)
		enforcer__invalidate(lr->enf);
	struct sensor_rules *r = ctx;

	for (size_t i = 0; i < r->n_dirty; i++)
		if (r->dirty[i] == g)
			return;
	if (r->n_dirty == r->cap_dirty) {
		size_t cap = r->cap_dirty ? r->cap_dirty * 2 : 16;
		size_t *v = realloc(r->dirty, cap * sizeof(*v));
		if (!v) {
			r->save_errors++;
			return;
		}
		r->dirty = v;
		r->cap_dirty = cap;
	}
	r->dirty[r->n_dirty++] = g;
}

static void save_learned(struct sensor_rules *r)
{
	const struct policy *p = engine__policy(r->engine);

	for (size_t i = 0; i < r->n_dirty && r->cfg.src.state_dir; i++) {
		int err = ruleset_save_learned(p, r->dirty[i], r->cfg.src.state_dir);
		if (err) {
			if (!r->save_errors)
				fprintf(stderr, "wacht-sensor: failed to save the learned profile of %s in "
						"%s/learned: %s\n", p->groups[r->dirty[i]].name,
					r->cfg.src.state_dir, strerror(-err));
			r->save_errors++;
		} else {
			r->saves++;
		}
	}
	r->n_dirty = 0;
}

/* ---- loading */

static void watch_rules(struct sensor_rules *r)
{
	const char *const *paths = r->cfg.src.paths;

	for (size_t i = 0; paths && paths[i] && r->n_watched < MAX_WATCHED; i++) {
		struct stat st;
		char dir[PATH_MAX];
		const char *file = "";

		if (stat(paths[i], &st))
			continue;
		snprintf(dir, sizeof(dir), "%s", paths[i]);
		if (!S_ISDIR(st.st_mode)) {
			/* a file: watch its directory (editors and ConfigMaps
			 * replace files by renaming), react to its name */
			const char *slash = strrchr(paths[i], '/');
			file = slash ? slash + 1 : paths[i];
			if (!slash)
				snprintf(dir, sizeof(dir), ".");
			else if (slash == paths[i])
				snprintf(dir, sizeof(dir), "/");
			else
				dir[slash - paths[i]] = 0;
		}
		int wd = inotify_add_watch(r->ifd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
							IN_CREATE | IN_DELETE | IN_ATTRIB);
		if (wd < 0) {
			fprintf(stderr, "wacht-sensor: failed to watch %s for rule changes: %s\n", dir,
				strerror(errno));
			continue;
		}
		r->watched_wd[r->n_watched] = wd;
		snprintf(r->watched_files[r->n_watched], sizeof(r->watched_files[0]), "%s", file);
		r->n_watched++;
	}
}

/* ---- file guard (issue 4: block_access enforced; see file_guard.c) */

static void guard_resync(struct sensor_rules *r);

/* The engine asks whether a block_access open was really denied. */
static bool file_denied(void *ctx, const struct wacht_event *ev)
{
	struct sensor_rules *r = ctx;

	if (r->reporting_denial)
		return true;
	return r->guard && file_guard__denied(r->guard, ev->hdr->tgid, ev->path);
}

/* ---- lifetime */

struct sensor_rules *sensor_rules__new(const struct sensor_rules_config *cfg,
				       struct containers *c, struct proc_table *procs)
{
	struct sensor_rules *r = calloc(1, sizeof(*r));
	struct diags d = { 0 };

	if (!r)
		return NULL;
	r->cfg = *cfg;
	r->c = c;
	r->procs = procs;
	r->ifd = -1;
	struct engine_config ec = {
		.window_ns = cfg->window_ns,
		.alert_only = cfg->alert_only,
		.kernel_verdicts = true,
		.sink = cfg->sink,
		.sink_ctx = cfg->ctx,
		.learned = learned,
		.learned_ctx = r,
		.file_denied = file_denied,
		.file_denied_ctx = r,
	};
	r->engine = engine__new(&ec, procs);
	struct policy *p = r->engine ? ruleset_load(&cfg->src, &d) : NULL;
	if (cfg->policy_loaded)
		cfg->policy_loaded(cfg->ctx, p != NULL, "start", &d, p);
	diags__free(&d);
	if (!p) {
		sensor_rules__free(r);
		return NULL;
	}
	engine__set_policy(r->engine, p);
	/* file guard: without it (no fanotify) block_access is only reported */
	struct file_guard_config gc = { .cgroup_root = cfg->cgroup_root, .alert_only = cfg->alert_only };
	int gerr;
	if (!cfg->alert_only && !(r->guard = file_guard__new(&gc, &gerr)))
		fprintf(stderr, "wacht-sensor: block_access rules are only reported: no file guard (%s)\n",
			strerror(-gerr));
	r->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (r->ifd >= 0)
		watch_rules(r);
	return r;
}

void sensor_rules__free(struct sensor_rules *r)
{
	if (!r)
		return;
	file_guard__free(r->guard);
	if (r->engine) {
		engine__tick(r->engine, UINT64_MAX);
		save_learned(r);
	}
	engine__free(r->engine);
	for (size_t i = 0; i < CI_BUCKETS; i++) {
		while (r->ci[i]) {
			struct cinfo *n = r->ci[i]->next;
			free(r->ci[i]);
			r->ci[i] = n;
		}
	}
	if (r->ifd >= 0)
		close(r->ifd);
	free(r->dirty);
	free(r);
}

int sensor_rules__reload(struct sensor_rules *r, const char *why)
{
	struct diags d = { 0 };

	/* what was learned goes to disk first: the reload reads it back */
	save_learned(r);
	struct policy *p = ruleset_load(&r->cfg.src, &d);
	if (r->cfg.policy_loaded)
		r->cfg.policy_loaded(r->cfg.ctx, p != NULL, why, &d, p);
	diags__free(&d);
	r->reload_pending = false;
	if (!p) {
		r->reload_failures++;
		return -EINVAL;
	}
	/* findings of the old policy's windows are reported before it goes */
	engine__tick(r->engine, UINT64_MAX);
	engine__set_policy(r->engine, p);
	r->reloads++;
	if (r->enf) {
		enforcer__invalidate(r->enf);
		enforce_all(r);
	}
	guard_resync(r);
	return 0;
}

int sensor_rules__inotify_fd(const struct sensor_rules *r)
{
	return r->ifd;
}

void sensor_rules__handle_inotify(struct sensor_rules *r)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(r->ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			for (size_t i = 0; i < r->n_watched; i++) {
				if (r->watched_wd[i] != ev->wd)
					continue;
				const char *file = r->watched_files[i];
				/* a file's directory: only that file, or a Kubernetes
				 * ConfigMap's ..data swap, counts */
				if (!file[0] || (ev->len && (strcmp(ev->name, file) == 0 ||
							     strncmp(ev->name, "..", 2) == 0)))
					r->reload_pending = true;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
}

void sensor_rules__tick(struct sensor_rules *r, uint64_t now)
{
	engine__tick(r->engine, now);
	if (r->enf && now != UINT64_MAX) {
		enforce_all(r);
		release_stale(r);
	}
	if (r->n_dirty)
		save_learned(r);
	if (r->reload_pending)
		sensor_rules__reload(r, "rule files changed");
}

/* ---- container facts */

static struct cinfo *cinfo_get(struct sensor_rules *r, uint64_t cgroup_id, uint32_t init_pid)
{
	struct cinfo **pp = &r->ci[cgroup_id % CI_BUCKETS], *ci;

	for (ci = *pp; ci; ci = ci->next)
		if (ci->cgroup_id == cgroup_id)
			break;
	if (!ci) {
		ci = calloc(1, sizeof(*ci));
		if (!ci)
			return NULL;
		ci->cgroup_id = cgroup_id;
		ci->next = *pp;
		*pp = ci;
	}
	if (init_pid && ci->init_pid != init_pid) {
		ci->init_pid = init_pid;
		ci->n_addrs = 0;
		ci->addrs_ns = 0;
		ci->upper_read = false;
	}
	return ci;
}

static void cinfo_addrs(struct cinfo *ci, uint64_t now, bool force)
{
	if (!ci->init_pid)
		return;
	if (!force && ci->addrs_ns && now - ci->addrs_ns < ADDR_TTL_NS)
		return;
	int n = netaddr_read(ci->init_pid, ci->addrs, CI_ADDRS);
	ci->n_addrs = n > 0 ? (size_t)n : 0;
	ci->addrs_ns = now;
}

/* The upperdir of the overlay mounted as the container's root, from its
 * root process's mountinfo ("... / ... - overlay overlay ...,upperdir=X,..."). */
static void cinfo_upper(struct cinfo *ci)
{
	char path[64], line[8192];
	FILE *f;

	if (ci->upper_read || !ci->init_pid)
		return;
	ci->upper_read = true;
	ci->upper[0] = 0;
	snprintf(path, sizeof(path), "/proc/%u/mountinfo", ci->init_pid);
	if (!(f = fopen(path, "re")))
		return;
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX];
		const char *sep = strstr(line, " - ");

		/* fields: id parent dev root mountpoint ... */
		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 || strcmp(mnt, "/") != 0)
			continue;
		if (strncmp(sep, " - overlay ", 11) != 0) {
			ci->upper[0] = 0; /* a later mount on / hides an earlier overlay */
			continue;
		}
		const char *u = strstr(sep, "upperdir=");
		if (!u)
			continue;
		u += 9;
		size_t n = strcspn(u, ",\n ");
		if (n < sizeof(ci->upper)) {
			memcpy(ci->upper, u, n);
			ci->upper[n] = 0;
		}
	}
	fclose(f);
}

/* Whether the file the exec ran is the one in the writable layer. The
 * upper layer is looked at after the fact, so a copy written there since
 * the exec must not count: overlayfs reports the real file's inode number
 * (same file system layers) and its ctime, which the exec record holds. */
static bool in_upper(struct cinfo *ci, const char *exe, const struct wacht_exec *x)
{
	char path[PATH_MAX * 2];
	struct stat st;

	cinfo_upper(ci);
	if (!ci->upper[0] || exe[0] != '/')
		return false;
	snprintf(path, sizeof(path), "%s%s", ci->upper, exe);
	if (lstat(path, &st) || !S_ISREG(st.st_mode))
		return false;
	uint64_t ctime_ns = (uint64_t)st.st_ctim.tv_sec * 1000000000ULL + st.st_ctim.tv_nsec;
	return st.st_ino == x->exe_ino || (x->exe_ctime_ns && ctime_ns == x->exe_ctime_ns);
}

static struct cinfo *container_of(struct sensor_rules *r, const struct container_view *cv,
				  struct engine_container *ec, struct entity_label *labels)
{
	struct container_detail d;

	containers__detail(r->c, cv->cgroup_id, &d);
	struct cinfo *ci = cinfo_get(r, cv->cgroup_id, d.init_pid);
	*ec = (struct engine_container){ .view = cv, .labels = labels, .init_pid = d.init_pid,
					 .node = r->cfg.node };
	/* the container's labels, then its pod's (CRI-O's sandbox) */
	const struct container_meta *ms[] = { d.meta, d.sandbox };
	for (size_t m = 0; m < 2; m++) {
		for (unsigned i = 0; ms[m] && i < ms[m]->n_labels && ec->n_labels < LABELS_MAX; i++)
			labels[ec->n_labels++] = (struct entity_label){ ms[m]->labels[i].key,
									ms[m]->labels[i].value };
	}
	if (ci) {
		ec->addrs = ci->addrs;
		ec->n_addrs = ci->n_addrs;
	}
	return ci;
}

/* ---- peers */

static bool addr_in(const struct entity_addr *v, size_t n, uint8_t family, const uint8_t *a)
{
	size_t len = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < n; i++)
		if (v[i].family == family && memcmp(v[i].addr, a, len) == 0)
			return true;
	return false;
}

static struct cinfo *peer_find(struct sensor_rules *r, uint8_t family, const uint8_t *a)
{
	for (size_t b = 0; b < CI_BUCKETS; b++)
		for (struct cinfo *ci = r->ci[b]; ci; ci = ci->next)
			if (addr_in(ci->addrs, ci->n_addrs, family, a))
				return ci;
	return NULL;
}

static void refresh_visit(void *ctx, const struct container_view *v, const struct container_detail *d)
{
	struct sensor_rules *r = ctx;
	struct cinfo *ci = cinfo_get(r, v->cgroup_id, d->init_pid);

	if (ci)
		cinfo_addrs(ci, now_ns(), false);
}

static void resolve_peer(struct sensor_rules *r, const struct wacht_net *n, struct engine_peer *peer,
			 struct engine_container *pec)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	uint64_t now = now_ns();
	uint8_t family = n->family == AF_INET6 ? AF_INET6 : AF_INET;
	uint8_t raddr[16] = { 0 };

	/* a dual-stack socket's IPv4 peer is ::ffff:a.b.c.d */
	if (family == AF_INET6 && memcmp(n->raddr, mapped, 12) == 0) {
		family = AF_INET;
		memcpy(raddr, n->raddr + 12, 4);
	} else {
		memcpy(raddr, n->raddr, 16);
	}

	*peer = (struct engine_peer){ .kind = ENTITY_EXTERNAL };
	if (!r->host_ns || now - r->host_ns > ADDR_TTL_NS) {
		int k = netaddr_read(0, r->host, HOST_ADDRS);
		r->n_host = k > 0 ? (size_t)k : 0;
		r->host_ns = now;
	}
	if (addr_in(r->host, r->n_host, family, raddr)) {
		peer->kind = ENTITY_HOST;
		return;
	}
	struct cinfo *ci = peer_find(r, family, raddr);
	if (!ci && now - r->refresh_ns > REFRESH_NS) {
		r->refresh_ns = now;
		containers__foreach(r->c, refresh_visit, r);
		ci = peer_find(r, family, raddr);
	}
	if (!ci)
		return;
	const struct container_view *pv = containers__lookup(r->c, ci->cgroup_id, 0);
	if (!pv)
		return;
	container_of(r, pv, pec, r->peer_labels);
	peer->kind = ENTITY_CONTAINER;
	peer->container = pec;
}

/* ---- enforcement: compile containers into the kernel, release held execs */

/* Compiled only once its identity (the runtime's metadata) is known: a
 * policy picked by the cgroup name alone could be the wrong one. */
static bool enforce_one(struct sensor_rules *r, const struct container_view *cv,
			const struct engine_container *ec)
{
	struct container_detail d;
	struct engine_view v;

	if (containers__detail(r->c, cv->cgroup_id, &d) || !d.meta)
		return false;
	return engine__view(r->engine, ec, &v) == 0 &&
	       enforcer__container(r->enf, cv->cgroup_id, engine__policy(r->engine), &v,
				   ec->init_pid) == 0;
}

static void enforce_visit(void *ctx, const struct container_view *cv,
			  const struct container_detail *d)
{
	struct sensor_rules *r = ctx;
	struct engine_container ec;

	if (!d->meta || enforcer__current(r->enf, cv->cgroup_id))
		return;
	container_of(r, cv, &ec, r->labels);
	enforce_one(r, cv, &ec);
}

/* Every known container whose compiled policy is not the current one. */
static void enforce_all(struct sensor_rules *r)
{
	containers__foreach(r->c, enforce_visit, r);
}

/* The exec of tgid in cgroup cgid was held: compile its container (or
 * mark it unknown), then let the kernel decide. */
static uint32_t release_held(struct sensor_rules *r, uint32_t tgid, uint64_t cgid,
			     const struct container_view *cv)
{
	cv = containers__refresh(r->c, cgid, tgid);
	bool compiled = enforcer__current(r->enf, cgid);
	if (cv) {
		struct engine_container ec;
		struct cinfo *ci = container_of(r, cv, &ec, r->labels);
		if (!compiled)
			compiled = enforce_one(r, cv, &ec);
		/* block_access is guarded before the container's first program
		 * runs, too */
		guard_sync(r, &ec, ci);
	}
	if (!compiled)
		enforcer__unknown(r->enf, cgid);
	return enforcer__release(r->enf, tgid);
}

/* A held exec whose record was lost (ring buffer full) or not resolved by
 * its event: released at the next tick after it was first seen. */
static void release_stale(struct sensor_rules *r)
{
	uint32_t tgids[HELD_MAX];
	uint64_t cgs[HELD_MAX];
	size_t n = enforcer__held(r->enf, tgids, cgs, HELD_MAX), keep = 0;

	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t k = 0; k < r->n_held_seen && !seen; k++)
			seen = r->held_seen[k] == tgids[i];
		if (seen)
			release_held(r, tgids[i], cgs[i], NULL);
		else
			r->held_seen[keep++] = tgids[i];
	}
	r->n_held_seen = keep;
}

void sensor_rules__set_enforcer(struct sensor_rules *r, struct enforcer *enf)
{
	r->enf = enf;
	if (enf)
		enforce_all(r);
}

/* ---- file guard: feeding it (issue 4) */

static uint64_t mix(uint64_t h, uint64_t x)
{
	return (h ^ x) * 1099511628211ULL;
}

/* Gives the guard the container's block_access rules when its process
 * mode, member groups, root process or the policy changed (Protect only:
 * other modes are not guarded). */
static void guard_sync(struct sensor_rules *r, const struct engine_container *ec, struct cinfo *ci)
{
	struct engine_view v;

	if (!r->guard || !ci || !ec->init_pid || engine__view(r->engine, ec, &v))
		return;
	uint64_t sig = mix(mix(mix(14695981039346656037ULL, r->reloads), ec->init_pid), v.proc_mode);
	for (size_t i = 0; i < v.n_order; i++)
		sig = mix(sig, v.order[i]);
	sig = sig ? sig : 1;
	if (ci->guard_sig == sig)
		return;
	struct file_policy *fp = NULL;
	if (v.proc_mode == MODE_PROTECT) {
		fp = file_policy__new(engine__policy(r->engine), v.order, v.n_order);
		if (!fp)
			return; /* out of memory: tried again on the next event */
	}
	/* a failed mark is not retried on every event: said once, counted */
	file_guard__set(r->guard, ci->cgroup_id, ec->init_pid, fp);
	ci->guard_sig = sig;
}

/* A denial the guard made that no event reports: the engine is given an
 * open of the file (the path the guard saw) that failed with EPERM, as the
 * process that tried, which must still be in the process table. */
static void guard_report(struct sensor_rules *r, uint32_t tgid, const char *path, uint64_t ts)
{
	const struct proc_entry *pe = proc_table__lookup(r->procs, tgid);
	const struct container_view *cv = pe ? containers__lookup(r->c, pe->cgroup_id, tgid) : NULL;
	struct engine_container ec;

	if (!cv)
		return;
	struct wacht_file fl = {
		.hdr = { .ts_ns = ts, .cgroup_id = pe->cgroup_id, .type = WACHT_EV_FILE,
			 .size = sizeof(fl), .pid = tgid, .tgid = tgid, .ppid = pe->ppid,
			 .uid = pe->uid, .euid = pe->euid },
		.op = WACHT_FILE_OPEN,
		.result = -EPERM,
	};
	snprintf((char *)fl.hdr.comm, sizeof(fl.hdr.comm), "%s", pe->comm);
	struct wacht_event ev = { .hdr = &fl.hdr, .file = &fl, .exe = "", .filename = "",
				  .argv = "", .path = path, .path2 = "", .cgroup_path = "" };
	container_of(r, cv, &ec, r->labels);
	r->reporting_denial = true;
	engine__event(r->engine, &ev, &ec, NULL, NULL);
	r->reporting_denial = false;
}

/* After event ev (its container view and labels are borrowed until then):
 * denials no event will claim. A failed execve makes no event: execs the
 * guard denied before ev (the guard decides in real time, the ring buffer
 * is read later; the process that tried must be known by then, and its
 * exit comes after the denial). An open through a symlink fails with EPERM
 * under the link's name, which no filter covers: its own event reports
 * what the guard denied. */
static void guard_report_unclaimed(struct sensor_rules *r, const struct wacht_event *ev)
{
	char path[FILE_DENIAL_PATH];
	uint32_t tgid;
	uint64_t ts;

	if (!r->guard)
		return;
	while (file_guard__take_exec(r->guard, ev->hdr->ts_ns, &tgid, path, sizeof(path), &ts))
		guard_report(r, tgid, path, ts);
	if (ev->hdr->type != WACHT_EV_FILE || ev->file->result != -EPERM ||
	    (ev->file->op != WACHT_FILE_OPEN && ev->file->op != WACHT_FILE_CREAT))
		return;
	while (file_guard__take_open(r->guard, ev->hdr->tgid, ev->hdr->ts_ns, path, sizeof(path), &ts))
		guard_report(r, ev->hdr->tgid, path, ts);
}

/* After a reload: every guarded container gets its new rules now, not on
 * its next event (a container that left Protect must not stay guarded). */
static void guard_resync(struct sensor_rules *r)
{
	struct engine_container ec;

	for (size_t b = 0; r->guard && b < CI_BUCKETS; b++) {
		for (struct cinfo *ci = r->ci[b]; ci; ci = ci->next) {
			const struct container_view *cv;
			if (!ci->guard_sig || !(cv = containers__lookup(r->c, ci->cgroup_id, 0)))
				continue;
			container_of(r, cv, &ec, r->labels);
			guard_sync(r, &ec, ci);
		}
	}
}

void sensor_rules__event(struct sensor_rules *r, const struct wacht_event *ev,
			 const struct container_view *cv)
{
	struct engine_container ec, pec;
	struct engine_exec_facts xf = { 0 };
	struct engine_peer peer;
	bool exec = ev->hdr->type == WACHT_EV_EXEC;

	if (exec)
		xf.verdict = ev->exec->verdict;
	if (exec && r->enf && (xf.verdict & WACHT_V_HELD))
		xf.verdict = release_held(r, ev->hdr->tgid, ev->hdr->cgroup_id, cv);
	if (!cv) {
		engine__event(r->engine, ev, NULL, exec ? &xf : NULL, NULL);
		return;
	}
	struct cinfo *ci = container_of(r, cv, &ec, r->labels);
	guard_sync(r, &ec, ci);
	if (ci && !ci->addrs_ns) {
		cinfo_addrs(ci, now_ns(), false);
		ec.addrs = ci->addrs;
		ec.n_addrs = ci->n_addrs;
	}
	/* a container seen for the first time (started while the sensor was
	 * starting): compiled now, in time for its next exec */
	if (r->enf && !enforcer__current(r->enf, cv->cgroup_id))
		enforce_one(r, cv, &ec);
	if (exec && ci)
		xf.exe_in_upper = in_upper(ci, ev->exe, ev->exec);
	if (ev->hdr->type == WACHT_EV_NET)
		resolve_peer(r, ev->net, &peer, &pec);
	engine__event(r->engine, ev, &ec, &xf, ev->hdr->type == WACHT_EV_NET ? &peer : NULL);
	guard_report_unclaimed(r, ev);
}

void sensor_rules__container_seen(struct sensor_rules *r, const struct container_view *cv)
{
	struct engine_container ec;

	if (!r->guard || !cv)
		return;
	guard_sync(r, &ec, container_of(r, cv, &ec, r->labels));
}

void sensor_rules__container_gone(struct sensor_rules *r, uint64_t cgroup_id)
{
	struct cinfo **pp = &r->ci[cgroup_id % CI_BUCKETS];

	engine__container_gone(r->engine, cgroup_id);
	if (r->enf)
		enforcer__gone(r->enf, cgroup_id);
	if (r->guard)
		file_guard__remove(r->guard, cgroup_id);
	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->cgroup_id == cgroup_id) {
			struct cinfo *ci = *pp;
			*pp = ci->next;
			free(ci);
			return;
		}
	}
}

void sensor_rules__stats(const struct sensor_rules *r, struct jsonw *w)
{
	struct engine_stats st;
	const struct policy *p = engine__policy(r->engine);

	engine__stats(r->engine, &st);
	jsonw__obj_begin(w, "rules");
	jsonw__u64(w, "groups", p ? p->n_groups : 0);
	jsonw__u64(w, "network_rules", p ? p->n_net : 0);
	jsonw__u64(w, "evaluated", st.evaluated);
	jsonw__u64(w, "findings", st.findings);
	jsonw__u64(w, "aggregated", engine__suppressed(r->engine));
	jsonw__u64(w, "learned", st.learned);
	jsonw__u64(w, "learn_failed", st.learn_failed);
	jsonw__u64(w, "reloads", r->reloads);
	jsonw__u64(w, "reload_failures", r->reload_failures);
	jsonw__u64(w, "learned_saves", r->saves);
	jsonw__u64(w, "learned_save_errors", r->save_errors);
	if (r->guard)
		file_guard__stats(r->guard, w);
	jsonw__obj_end(w);
	if (r->enf)
		enforcer__stats(r->enf, w);
}
