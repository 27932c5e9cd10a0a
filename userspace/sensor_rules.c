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

#include "clock.h"
#include "enforce.h"
#include "file_guard.h"
#include "enforce_net.h"
#include "hash.h"
#include "loader.h"
#include "netaddr.h"
#include "oci.h"
#include "peermap.h"
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
/* A container without an address of its own is looked at again this often
 * for the peer map (it may not have joined its network namespace yet). */
#define ADDR_RETRY_NS (2ULL * 1000000000ULL)
#define MAX_WATCHED 64
#define LABELS_MAX (2 * OCI_LABELS_MAX)
#define HELD_MAX 256

/* Network segmentation (enforce_net.h): compiled again when something it
 * depends on changed (dirty: on the next tick; urgent: a container or its
 * addresses appeared, before the next event), applied by the loader. */
struct net_enforce {
	struct loader *loader;     /* NULL until the programs are loaded */
	bool enforce;              /* false: --alert-only */
	struct enforce_net *en;
	struct enforce_net_result *applied;
	bool dirty, urgent;
	uint64_t compiles, errors;
	uint64_t node_addrs;       /* node address set, as a hash: changes recompile */
};

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
	struct net_enforce net;
	const struct peer_table *peers; /* borrowed: containers of other nodes; NULL: none */
	struct entity_addr peer_addr;   /* a remote peer's address, for its engine_container */
};

static void enforce_all(struct sensor_rules *r);
static void release_stale(struct sensor_rules *r);
struct cinfo;
struct engine_container;
static void guard_sync(struct sensor_rules *r, const struct engine_container *ec, struct cinfo *ci);

static void net_compile(struct sensor_rules *r);
static const char *net_not_enforced(struct sensor_rules *r, const struct wacht_net *n);
static void net_stats(const struct sensor_rules *r, struct jsonw *w);

/* ---- learned profiles */

static void learned(void *ctx, size_t g)
{
	struct sensor_rules *lr = ctx;

	/* the learned rules are part of the compiled policy */
	if (lr->enf)
		enforcer__invalidate(lr->enf);
	struct sensor_rules *r = ctx;

	r->net.dirty = true; /* a learned network rule changes the tables */
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

/* The group's learned profile as YAML to whoever wants it (the shipper). */
static void publish_learned(struct sensor_rules *r, const struct policy *p, size_t g)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!r->cfg.learned_profile || !(f = open_memstream(&buf, &len)))
		return;
	int err = policy__export_group(p, g, true, f);
	if (fclose(f) == 0 && !err && buf)
		r->cfg.learned_profile(r->cfg.ctx, p->groups[g].name, buf);
	free(buf);
}

static void save_learned(struct sensor_rules *r)
{
	const struct policy *p = engine__policy(r->engine);

	for (size_t i = 0; i < r->n_dirty; i++)
		publish_learned(r, p, r->dirty[i]);
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
		.net_verdict = cfg->net_verdict,
		.net_verdict_ctx = cfg->ctx,
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
	enforce_net__free(r->net.en);
	enforce_net_result_free(r->net.applied);
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
	r->net.urgent = true;
	net_compile(r);
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
	if (r->net.dirty || r->net.urgent)
		net_compile(r);
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
		r->net.urgent = true; /* a new peer, maybe a new enforced container */
	}
	if (init_pid && ci->init_pid != init_pid) {
		ci->init_pid = init_pid;
		ci->n_addrs = 0;
		ci->addrs_ns = 0;
		ci->upper_read = false;
	}
	return ci;
}

static void cinfo_addrs(struct sensor_rules *r, struct cinfo *ci, uint64_t now, bool force)
{
	struct entity_addr prev[CI_ADDRS];
	size_t n_prev = ci->n_addrs;

	if (!ci->init_pid)
		return;
	if (!force && ci->addrs_ns && now - ci->addrs_ns < ADDR_TTL_NS)
		return;
	memcpy(prev, ci->addrs, n_prev * sizeof(prev[0]));
	int n = netaddr_read(ci->init_pid, ci->addrs, CI_ADDRS);
	ci->n_addrs = n > 0 ? (size_t)n : 0;
	ci->addrs_ns = now;
	/* the peer maps hold every container's addresses */
	if (ci->n_addrs != n_prev || memcmp(prev, ci->addrs, n_prev * sizeof(prev[0])))
		r->net.urgent = true;
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

static struct cinfo *ec_fill(struct sensor_rules *r, const struct container_view *cv,
			     const struct container_detail *dp, struct engine_container *ec,
			     struct entity_label *labels)
{
	struct container_detail d = *dp;
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

static struct cinfo *container_of(struct sensor_rules *r, const struct container_view *cv,
				  struct engine_container *ec, struct entity_label *labels)
{
	struct container_detail d = { 0 };

	containers__detail(r->c, cv->cgroup_id, &d);
	return ec_fill(r, cv, &d, ec, labels);
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
		cinfo_addrs(r, ci, clock_boot_ns(), false);
}

/* This node's addresses, read again every ADDR_TTL_NS. */
static void host_refresh(struct sensor_rules *r, uint64_t now)
{
	if (r->host_ns && now - r->host_ns <= ADDR_TTL_NS)
		return;
	int k = netaddr_read(0, r->host, HOST_ADDRS);
	r->n_host = k > 0 ? (size_t)k : 0;
	r->host_ns = now;
	uint64_t h = hash_fnv1a(HASH_FNV_OFFSET, r->host, r->n_host * sizeof(r->host[0]));
	if (h != r->net.node_addrs)
		r->net.dirty = true;
	r->net.node_addrs = h;
}

/* A container of another node as the engine sees it: the peer map carries
 * its id, name, image, pod and namespace and its node, not its labels (a
 * label criterion never matches it), and of its addresses the one it was
 * met at (r->peer_addr: until the next call). */
static void remote_container(struct sensor_rules *r, const struct peer_entry *pe, uint8_t family,
			     const uint8_t *addr, struct engine_container *ec)
{
	r->peer_addr = (struct entity_addr){ .family = family };
	memcpy(r->peer_addr.addr, addr, family == AF_INET ? 4 : 16);
	*ec = (struct engine_container){ .view = &pe->view, .node = pe->node, .remote = true,
					 .addrs = &r->peer_addr, .n_addrs = 1 };
}

static void resolve_peer(struct sensor_rules *r, const struct wacht_net *n, struct engine_peer *peer,
			 struct engine_container *pec)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	uint64_t now = clock_boot_ns();
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
	host_refresh(r, now);
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
	if (!ci) {
		/* a container of another node (one here with the address would
		 * have been found first): a container peer to the policy, its
		 * groups from what the peer map carries */
		const struct peer_entry *pe = peer_table__lookup(r->peers, family, raddr);
		if (!pe)
			return;
		remote_container(r, pe, family, raddr, pec);
		peer->kind = ENTITY_CONTAINER;
		peer->container = pec;
		peer->remote_group = pe->group;
		return;
	}
	const struct container_view *pv = containers__lookup(r->c, ci->cgroup_id, 0);
	if (!pv)
		return;
	container_of(r, pv, pec, r->peer_labels);
	peer->kind = ENTITY_CONTAINER;
	peer->container = pec;
}

int sensor_rules__endpoint_container(struct sensor_rules *r, uint64_t cgroup_id,
				     struct sensor_endpoint *out)
{
	const struct container_view *v = containers__lookup(r->c, cgroup_id, 0);

	memset(out, 0, sizeof(*out));
	if (!v)
		return -ENOENT;
	out->kind = ENTITY_CONTAINER;
	out->view = v;
	engine_group_name(v, out->group, sizeof(out->group));
	return 0;
}

void sensor_rules__endpoint_peer(struct sensor_rules *r, uint8_t family, const uint8_t *addr,
				 struct sensor_endpoint *out)
{
	struct wacht_net n = { .family = family };
	struct engine_peer peer;
	struct engine_container pec;

	memcpy(n.raddr, addr, family == AF_INET ? 4 : 16);
	resolve_peer(r, &n, &peer, &pec);
	memset(out, 0, sizeof(*out));
	out->kind = peer.kind;
	if (peer.kind != ENTITY_CONTAINER)
		return;
	out->view = pec.view;
	if (pec.remote) {
		/* the group its own node announced */
		out->node = pec.node;
		snprintf(out->group, sizeof(out->group), "%s", peer.remote_group);
	} else {
		engine_group_name(pec.view, out->group, sizeof(out->group));
	}
}

void sensor_rules__set_peers(struct sensor_rules *r, const struct peer_table *t)
{
	r->peers = t;
	/* the kernel classifies their addresses too: on the next tick */
	r->net.dirty = true;
}

struct endpoints_walk {
	struct sensor_rules *r;
	sensor_rules_endpoint_cb cb;
	void *ctx;
};

static void endpoints_visit(void *ctx, const struct container_view *v,
			    const struct container_detail *d)
{
	struct endpoints_walk *w = ctx;
	struct sensor_rules *r = w->r;
	struct cinfo *ci;
	struct entity_addr own[CI_ADDRS];
	size_t n = 0;
	char group[256];

	/* only a container the runtime told us about has a name to give */
	if (!d->meta || !(ci = cinfo_get(r, v->cgroup_id, d->init_pid)))
		return;
	uint64_t now = clock_boot_ns();
	cinfo_addrs(r, ci, now, false);
	for (int attempt = 0; attempt < 2 && !n; attempt++) {
		/* none of its own: read too early (runc's init joins the pod's
		 * network namespace after it exists), or host network; looked
		 * at again every ADDR_RETRY_NS, not only every ADDR_TTL_NS */
		if (attempt && (!ci->init_pid || now - ci->addrs_ns < ADDR_RETRY_NS))
			break;
		if (attempt)
			cinfo_addrs(r, ci, now, true);
		/* a container in the node's network namespace has the node's
		 * addresses: those are the node's, not its; a link-local
		 * address (fe80::/10, 169.254/16) is the same on many links,
		 * naming nobody */
		for (size_t i = 0; i < ci->n_addrs; i++) {
			const struct entity_addr *ea = &ci->addrs[i];
			bool link_local = ea->family == AF_INET6 ?
				(ea->addr[0] == 0xfe && (ea->addr[1] & 0xc0) == 0x80) :
				(ea->addr[0] == 169 && ea->addr[1] == 254);

			if (!link_local && !addr_in(r->host, r->n_host, ea->family, ea->addr))
				own[n++] = *ea;
		}
	}
	if (!n)
		return;
	engine_group_name(v, group, sizeof(group));
	w->cb(w->ctx, v, group, own, n);
}

void sensor_rules__foreach_endpoint(struct sensor_rules *r, sensor_rules_endpoint_cb cb, void *ctx)
{
	struct endpoints_walk w = { r, cb, ctx };

	host_refresh(r, clock_boot_ns());
	containers__foreach(r->c, endpoints_visit, &w);
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
		/* block_access is guarded, and the network rules are in the
		 * kernel, before the container's first program runs, too */
		guard_sync(r, &ec, ci);
		if (compiled && r->net.loader) {
			r->net.urgent = true;
			net_compile(r);
		}
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
		cinfo_addrs(r, ci, clock_boot_ns(), false);
		ec.addrs = ci->addrs;
		ec.n_addrs = ci->n_addrs;
	}
	/* a container seen for the first time (started while the sensor was
	 * starting): compiled now, in time for its next exec */
	if (r->enf && !enforcer__current(r->enf, cv->cgroup_id))
		enforce_one(r, cv, &ec);
	if (exec && ci)
		xf.exe_in_upper = in_upper(ci, ev->exe, ev->exec);
	if (ev->hdr->type == WACHT_EV_NET) {
		resolve_peer(r, ev->net, &peer, &pec);
		peer.not_enforced = net_not_enforced(r, ev->net);
	}
	engine__event(r->engine, ev, &ec, &xf, ev->hdr->type == WACHT_EV_NET ? &peer : NULL);
	guard_report_unclaimed(r, ev);
}

void sensor_rules__container_seen(struct sensor_rules *r, const struct container_view *cv)
{
	struct engine_container ec;

	if (!r->guard || !cv)
		return;
	guard_sync(r, &ec, container_of(r, cv, &ec, r->labels));
	/* a container acting that the maps do not know, whose runtime state
	 * is known now */
	struct container_detail d = { 0 };
	if (r->net.loader && !enforce_net_cg_find(r->net.applied, cv->cgroup_id) &&
	    containers__detail(r->c, cv->cgroup_id, &d) == 0 && d.meta)
		r->net.urgent = true;
	if (r->net.urgent)
		net_compile(r);
}

void sensor_rules__container_gone(struct sensor_rules *r, uint64_t cgroup_id)
{
	struct cinfo **pp = &r->ci[cgroup_id % CI_BUCKETS];

	engine__container_gone(r->engine, cgroup_id);
	if (r->enf)
		enforcer__gone(r->enf, cgroup_id);
	if (r->guard)
		file_guard__remove(r->guard, cgroup_id);
	r->net.dirty = true;
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
	net_stats(r, w);
}

/* ---- network segmentation in the kernel */

/* One container's part of the compile input, owning its copies of the
 * engine's view (which is only valid until the next engine call). */
struct net_item {
	struct enforce_net_container c;
	uint64_t *member;
	size_t *egress, *ingress;
};

struct net_collect {
	struct sensor_rules *r;
	struct net_item *v;
	size_t n, cap;
	int err;
	struct entity_label labels[LABELS_MAX];
};

static void *dup_mem(const void *p, size_t n)
{
	void *d = malloc(n ? n : 1);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

static void net_visit(void *ctx, const struct container_view *v, const struct container_detail *d)
{
	struct net_collect *nc = ctx;
	struct sensor_rules *r = nc->r;
	struct engine_container ec;
	struct engine_view view;

	/* identity not resolved yet (no runtime state): never enforced, and
	 * not evaluated either (the engine keeps a container's groups from
	 * its first evaluation; it is compiled once its state is known) */
	if (nc->err || !d->meta)
		return;
	struct cinfo *ci = ec_fill(r, v, d, &ec, nc->labels);
	if (!ci) {
		nc->err = -ENOMEM;
		return;
	}
	cinfo_addrs(r, ci, clock_boot_ns(), false);
	ec.addrs = ci->addrs;
	ec.n_addrs = ci->n_addrs;
	if (engine__view(r->engine, &ec, &view)) {
		nc->err = -ENOMEM;
		return;
	}
	if (nc->n == nc->cap) {
		size_t cap = nc->cap ? nc->cap * 2 : 64;
		struct net_item *nv = realloc(nc->v, cap * sizeof(*nv));
		if (!nv) {
			nc->err = -ENOMEM;
			return;
		}
		nc->v = nv;
		nc->cap = cap;
	}
	struct net_item *it = &nc->v[nc->n++];
	it->member = dup_mem(view.member, view.member_words * sizeof(*view.member));
	it->egress = dup_mem(view.egress, view.n_egress * sizeof(size_t));
	it->ingress = dup_mem(view.ingress, view.n_ingress * sizeof(size_t));
	it->c = (struct enforce_net_container){
		.cgroup_id = v->cgroup_id,
		.member = it->member,
		.member_words = view.member_words,
		.egress = it->egress,
		.ingress = it->ingress,
		.n_egress = view.n_egress,
		.n_ingress = view.n_ingress,
		.protect = view.net_mode == MODE_PROTECT,
		.addrs = ci->addrs,
		.n_addrs = ci->n_addrs,
	};
	if (!it->member || !it->egress || !it->ingress)
		nc->err = -ENOMEM;
}

/* The containers of other nodes, one entry per address, for the compile. */
struct remote_collect {
	struct sensor_rules *r;
	struct enforce_net_remote *v;
	size_t n, cap;
	int err;
};

static void remote_visit(void *ctx, const struct peer_entry *pe, uint8_t family,
			 const uint8_t *addr)
{
	struct remote_collect *rc = ctx;
	struct engine_container ec;
	struct engine_view view;

	if (rc->err)
		return;
	remote_container(rc->r, pe, family, addr, &ec);
	if (engine__view(rc->r->engine, &ec, &view)) {
		rc->err = -ENOMEM;
		return;
	}
	if (rc->n == rc->cap) {
		size_t cap = rc->cap ? rc->cap * 2 : 64;
		struct enforce_net_remote *nv = realloc(rc->v, cap * sizeof(*nv));
		if (!nv) {
			rc->err = -ENOMEM;
			return;
		}
		rc->v = nv;
		rc->cap = cap;
	}
	struct enforce_net_remote *it = &rc->v[rc->n++];
	*it = (struct enforce_net_remote){
		.member = dup_mem(view.member, view.member_words * sizeof(*view.member)),
		.member_words = view.member_words,
		.addr = rc->r->peer_addr,
	};
	if (!it->member)
		rc->err = -ENOMEM;
}

static void peer_member(void *ctx, bool host, uint8_t family, const uint8_t *addr, uint64_t *bits,
			size_t words)
{
	engine__peer_member(ctx, host, family, addr, bits, words);
}

/* Every container on this node with its addresses and rules, and this
 * node's addresses, compiled and applied. On failure the maps keep what
 * was applied last and the next tick tries again. */
static void net_compile(struct sensor_rules *r)
{
	struct net_collect nc = { .r = r };
	struct remote_collect rc = { .r = r };
	struct enforce_net_result *res = NULL;
	int err;

	if (!r->net.loader)
		return;
	host_refresh(r, clock_boot_ns());
	containers__foreach(r->c, net_visit, &nc);
	peer_table__foreach_addr(r->peers, remote_visit, &rc);
	/* (what the visit itself found new is in this compile) */
	r->net.dirty = r->net.urgent = false;
	struct enforce_net_container *cs = calloc(nc.n ? nc.n : 1, sizeof(*cs));
	err = nc.err ? nc.err : rc.err ? rc.err : cs ? 0 : -ENOMEM;
	for (size_t i = 0; cs && i < nc.n; i++)
		cs[i] = nc.v[i].c;
	if (!err) {
		struct enforce_net_input in = {
			.policy = engine__policy(r->engine),
			.containers = cs,
			.n_containers = nc.n,
			.host = r->host,
			.n_host = r->n_host,
			.remote = rc.v,
			.n_remote = rc.n,
			.member = peer_member,
			.member_ctx = r->engine,
		};
		err = enforce_net__compile(r->net.en, &in, &res);
	}
	if (!err)
		err = loader__net_apply(r->net.loader, res, r->net.applied);
	if (err) {
		if (!r->net.errors)
			fprintf(stderr, "wacht-sensor: failed to compile network policy into the kernel: "
					"%s; the previous one stays\n", strerror(-err));
		r->net.errors++;
		r->net.dirty = true;
		enforce_net_result_free(res);
	} else {
		if (res->n_overflow && (!r->net.applied || !r->net.applied->n_overflow))
			fprintf(stderr, "wacht-sensor: %zu network rule tables have more than %d port "
					"entries: connections they cover are reported, not refused\n",
				res->n_overflow, WACHT_NET_ENTRIES);
		enforce_net_result_free(r->net.applied);
		r->net.applied = res;
		r->net.compiles++;
	}
	for (size_t i = 0; i < nc.n; i++) {
		free(nc.v[i].member);
		free(nc.v[i].egress);
		free(nc.v[i].ingress);
	}
	free(nc.v);
	for (size_t i = 0; i < rc.n; i++)
		free((void *)rc.v[i].member);
	free(rc.v);
	free(cs);
}

void sensor_rules__set_loader(struct sensor_rules *r, struct loader *l, bool enforce)
{
	r->net.loader = l;
	r->net.enforce = enforce;
	if (!r->net.en && !(r->net.en = enforce_net__new())) {
		fprintf(stderr, "wacht-sensor: out of memory for network enforcement\n");
		r->net.loader = NULL;
		return;
	}
	net_compile(r);
}

/* Why the kernel would not have refused this connection (for a finding
 * whose record lacks WACHT_F_DENIED while the policy forbids it). */
static const char *net_not_enforced(struct sensor_rules *r, const struct wacht_net *n)
{
	if (!r->net.loader)
		return "no network enforcement loaded";
	if (!r->net.enforce)
		return "the sensor runs with --alert-only";
	const struct enforce_net_cg *cg = enforce_net_cg_find(r->net.applied, n->hdr.cgroup_id);
	if (!cg || !cg->protect)
		return "the container's network policy was not in the kernel yet";
	if (cg->overflow)
		return "a rule table of the container has more than 64 port entries";
	bool in = n->op == WACHT_NET_ACCEPT;
	int d = enforce_net_decide(r->net.applied, n->hdr.cgroup_id, n->family, n->raddr,
				   in ? WACHT_DIR_INGRESS : WACHT_DIR_EGRESS, n->proto,
				   in ? n->lport : n->rport);
	if (d == WACHT_NA_ALLOW)
		return "the kernel's policy allowed it (the peer's addresses or the rules "
		       "changed after it was compiled)";
	return "the kernel did not refuse it";
}

static void net_stats(const struct sensor_rules *r, struct jsonw *w)
{
	const struct enforce_net_result *a = r->net.applied;
	uint64_t ec[WACHT_EC_MAX] = { 0 };

	if (r->net.loader)
		loader__enforce_counters(r->net.loader, ec);
	jsonw__obj_begin(w, "network_enforcement");
	jsonw__bool(w, "enforce", r->net.loader && r->net.enforce);
	jsonw__u64(w, "compiles", r->net.compiles);
	jsonw__u64(w, "compile_errors", r->net.errors);
	jsonw__u64(w, "peer_classes", a ? a->n_classes : 0);
	jsonw__u64(w, "peer_addresses", a ? a->n_addrs : 0);
	jsonw__u64(w, "peer_cidrs", a ? a->n_cidrs : 0);
	jsonw__u64(w, "rule_tables", a ? a->n_tables : 0);
	jsonw__u64(w, "rule_tables_overflow", a ? a->n_overflow : 0);
	jsonw__u64(w, "connect_refused", ec[WACHT_EC_CONNECT_DENY]);
	jsonw__u64(w, "sendmsg_refused", ec[WACHT_EC_SENDMSG_DENY]);
	jsonw__u64(w, "ingress_dropped", ec[WACHT_EC_INGRESS_DROP]);
	jsonw__obj_end(w);
}
