// SPDX-License-Identifier: Apache-2.0
/* containers.c: attribute cgroup ids to containers and their pods. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "cgroup_path.h"
#include "clock.h"
#include "containers.h"
#include "hash.h"
#include "oci.h"

#define CG_BUCKETS 4096
#define META_BUCKETS 1024
#define MAX_ROOTS 16
#define MAX_WATCHES 4096
/* Events of a container can still be in the ring buffer when its cgroup is
 * removed: keep it this long after. */
#define GONE_GRACE_NS (30ULL * 1000000000ULL)
/* Do not walk the cgroup tree for unknown ids more often than this. */
#define RESCAN_INTERVAL_NS (1000000000ULL)

/* Metadata read from a runtime, by container id. Filled as soon as the
 * runtime writes its state (inotify), so a container whose only process
 * lives a millisecond is still attributed after the runtime deleted it. */
struct meta_entry {
	struct meta_entry *next;
	char id[128];
	char runtime_root[PATH_MAX];
	struct container_meta meta;
	char cgroup_dir[PATH_MAX]; /* the runtime's record of its cgroup; "" if none */
	uint32_t init_pid;         /* the container's root process; 0 if unknown */
	uint64_t removed_ns; /* 0 while the state directory exists */
};

struct cg_entry {
	struct cg_entry *next;
	uint64_t id;
	char *path;
	int parsed;              /* 0 = not yet, 1 = container, -1 = not a container */
	struct cgroup_ref ref;
	struct meta_entry *meta; /* NULL until found */
	uint64_t meta_tried_ns;  /* last failed search: retried once a second */
	bool spoof_warned;
	uint64_t gone_ns;
	struct container_view view;
};

/* What an inotify watch is on. */
enum watch_kind {
	WATCH_ROOT,      /* a runtime's state directory: containers appear in it */
	WATCH_CONTAINER, /* one container's state directory: state.json appears */
	WATCH_ANCESTOR,  /* deepest existing parent of a root not created yet */
};

struct watch {
	int wd;
	char path[PATH_MAX];
	int root_idx; /* index of the runtime root it serves */
	enum watch_kind kind;
};

struct containers {
	char cgroup_root[PATH_MAX];
	struct cg_entry *cg[CG_BUCKETS];
	struct meta_entry *meta[META_BUCKETS];
	size_t n_cg;
	char *roots[MAX_ROOTS];
	size_t n_roots;
	int ifd;
	struct watch watches[MAX_WATCHES];
	size_t n_watches;
	uint64_t last_rescan_ns;
};

static const char *const default_roots[] = {
	"/run/runc",                     /* runc, CRI-O (runtime_root default) */
	"/run/containerd/runc/k8s.io",   /* containerd CRI */
	"/run/containerd/runc/default",
	"/run/containerd/runc/moby",
	"/run/docker/runtime-runc/moby", /* docker */
	"/run/crun",                     /* crun (CRI-O, podman) */
	NULL,
};

/* Where CRI-O, podman and containerd keep a container's config.json when
 * no runc state names the bundle. %s = container id. */
static const char *const bundle_paths[] = {
	"/run/containers/storage/overlay-containers/%s/userdata/config.json",
	"/var/lib/containers/storage/overlay-containers/%s/userdata/config.json",
	"/run/containerd/io.containerd.runtime.v2.task/k8s.io/%s/config.json",
	"/run/containerd/io.containerd.runtime.v2.task/moby/%s/config.json",
	"/run/containerd/io.containerd.runtime.v2.task/default/%s/config.json",
	NULL,
};

static size_t hash_u64(uint64_t v, size_t n)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdULL;
	v ^= v >> 33;
	return v % n;
}

static size_t hash_str(const char *s, size_t n)
{
	return hash_fnv1a_str(HASH_FNV_OFFSET, s) % n;
}

/* Reads a whole small file; caller frees. */
static char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (fd < 0)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			if (cap >= OCI_JSON_MAX)
				break;
			cap = cap ? cap * 2 : 16384;
			char *nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0) {
				free(buf);
				buf = NULL;
			}
			break;
		}
		n += r;
	}
	close(fd);
	if (buf) {
		buf[n] = 0;
		*len = n;
	}
	return buf;
}

static struct meta_entry *meta_find(struct containers *c, const char *id)
{
	for (struct meta_entry *m = c->meta[hash_str(id, META_BUCKETS)]; m; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

/* Read <state_dir>/state.json and the bundle's config.json into the cache. */
static struct meta_entry *meta_load_state(struct containers *c, const char *root, const char *id)
{
	char path[PATH_MAX];
	struct oci_state st;
	size_t len;
	char *json;
	int err;

	snprintf(path, sizeof(path), "%s/%s/state.json", root, id);
	json = read_file(path, &len);
	if (!json)
		return NULL;
	err = oci_state_parse(json, len, &st);
	if (err) {
		free(json);
		return NULL;
	}
	struct meta_entry *m = meta_find(c, id);
	bool fresh = !m;
	if (fresh) {
		m = calloc(1, sizeof(*m));
		if (!m) {
			free(json);
			return NULL;
		}
		snprintf(m->id, sizeof(m->id), "%s", id);
	}
	snprintf(m->runtime_root, sizeof(m->runtime_root), "%s", root);
	snprintf(m->cgroup_dir, sizeof(m->cgroup_dir), "%s", st.cgroup_dir);
	m->init_pid = st.init_pid > 0 ? (uint32_t)st.init_pid : 0;
	m->removed_ns = 0;
	/* annotations runc copied into its state, then the bundle's own */
	oci_state_parse_meta(json, len, &m->meta);
	free(json);
	json = NULL;
	if (snprintf(path, sizeof(path), "%s/config.json", st.bundle) < (int)sizeof(path))
		json = read_file(path, &len);
	if (json) {
		struct container_meta cm;

		if (oci_config_parse(json, len, &cm) == 0)
			m->meta = cm;
		free(json);
	}
	if (fresh) {
		size_t b = hash_str(id, META_BUCKETS);
		m->next = c->meta[b];
		c->meta[b] = m;
	}
	return m;
}

/* Find metadata for a container id: cache, runc-style state dirs, bundles. */
static struct meta_entry *meta_resolve(struct containers *c, const char *id)
{
	struct meta_entry *m = meta_find(c, id);
	char path[PATH_MAX];
	size_t len;

	if (m)
		return m;
	for (size_t i = 0; i < c->n_roots; i++)
		if ((m = meta_load_state(c, c->roots[i], id)))
			return m;
	for (size_t i = 0; bundle_paths[i]; i++) {
		snprintf(path, sizeof(path), bundle_paths[i], id);
		char *json = read_file(path, &len);
		if (!json)
			continue;
		m = calloc(1, sizeof(*m));
		if (m && oci_config_parse(json, len, &m->meta) == 0) {
			snprintf(m->id, sizeof(m->id), "%s", id);
			size_t b = hash_str(id, META_BUCKETS);
			m->next = c->meta[b];
			c->meta[b] = m;
			free(json);
			return m;
		}
		free(m);
		free(json);
	}
	return NULL;
}

static struct cg_entry *cg_find(struct containers *c, uint64_t id)
{
	for (struct cg_entry *e = c->cg[hash_u64(id, CG_BUCKETS)]; e; e = e->next)
		if (e->id == id)
			return e;
	return NULL;
}

static struct cg_entry *cg_add(struct containers *c, uint64_t id, const char *path)
{
	struct cg_entry *e = cg_find(c, id);

	if (e) {
		if (strcmp(e->path, path) != 0) {
			char *p = strdup(path);
			if (p) {
				free(e->path);
				e->path = p;
				e->parsed = 0;
				e->meta = NULL;
			}
		}
		e->gone_ns = 0;
		return e;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->path = strdup(path);
	if (!e->path) {
		free(e);
		return NULL;
	}
	e->id = id;
	size_t b = hash_u64(id, CG_BUCKETS);
	e->next = c->cg[b];
	c->cg[b] = e;
	c->n_cg++;
	return e;
}

/* The cgroup id of a directory in the cgroup2 fs is its kernfs node id,
 * which the kernel reports as the file handle (as bpf_get_current_cgroup_id). */
static int cgroup_id_of(const char *dir, uint64_t *id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh.handle_bytes = sizeof(uint64_t) };
	int mount_id;

	if (name_to_handle_at(AT_FDCWD, dir, &h.fh, &mount_id, 0))
		return -errno;
	memcpy(id, h.fh.f_handle, sizeof(*id));
	return 0;
}

static void scan_dir(struct containers *c, char *path, size_t base_len, int depth)
{
	uint64_t id = 0;
	DIR *d;
	struct dirent *de;
	size_t len = strlen(path);

	if (cgroup_id_of(path, &id) == 0)
		cg_add(c, id, len > base_len ? path + base_len : "/");
	if (depth > 16 || !(d = opendir(path)))
		return;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (len + 1 + strlen(de->d_name) + 1 > PATH_MAX)
			continue;
		path[len] = '/';
		strcpy(path + len + 1, de->d_name);
		scan_dir(c, path, base_len, depth + 1);
		path[len] = 0;
	}
	closedir(d);
}

int containers__scan(struct containers *c)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", c->cgroup_root);
	scan_dir(c, path, strlen(c->cgroup_root), 0);
	c->last_rescan_ns = clock_boot_ns();
	return 0;
}

/* ---- inotify on runtime state directories ---- */

static int watch_add(struct containers *c, const char *path, uint32_t mask, int root_idx,
		     enum watch_kind kind)
{
	if (c->ifd < 0 || c->n_watches >= MAX_WATCHES)
		return -ENOSPC;
	int wd = inotify_add_watch(c->ifd, path, mask);
	if (wd < 0)
		return -errno;
	for (size_t i = 0; i < c->n_watches; i++)
		if (c->watches[i].wd == wd)
			return 0; /* same inode already watched */
	struct watch *w = &c->watches[c->n_watches++];
	w->wd = wd;
	snprintf(w->path, sizeof(w->path), "%s", path);
	w->root_idx = root_idx;
	w->kind = kind;
	return 0;
}

static struct watch *watch_find(struct containers *c, int wd)
{
	for (size_t i = 0; i < c->n_watches; i++)
		if (c->watches[i].wd == wd)
			return &c->watches[i];
	return NULL;
}

static void watch_forget(struct containers *c, int wd)
{
	for (size_t i = 0; i < c->n_watches; i++)
		if (c->watches[i].wd == wd) {
			c->watches[i] = c->watches[--c->n_watches];
			return;
		}
}

static void watch_container_dir(struct containers *c, int root_idx, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", c->roots[root_idx], name);
	watch_add(c, path, IN_MOVED_TO | IN_CLOSE_WRITE, root_idx, WATCH_CONTAINER);
	/* the state may have been written before the watch existed */
	meta_load_state(c, c->roots[root_idx], name);
}

/* Watch a root, or, while it does not exist, its deepest existing ancestor,
 * so that a runtime started after the sensor is seen from its first container. */
static void watch_root(struct containers *c, int idx)
{
	char path[PATH_MAX];
	DIR *d;
	struct dirent *de;

	if (watch_add(c, c->roots[idx], IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_ONLYDIR, idx,
		      WATCH_ROOT) == 0) {
		if ((d = opendir(c->roots[idx]))) {
			while ((de = readdir(d)))
				if (de->d_name[0] != '.' && de->d_type == DT_DIR)
					watch_container_dir(c, idx, de->d_name);
			closedir(d);
		}
		return;
	}
	snprintf(path, sizeof(path), "%s", c->roots[idx]);
	for (char *slash = strrchr(path, '/'); slash && slash != path; slash = strrchr(path, '/')) {
		*slash = 0;
		if (watch_add(c, path, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR, idx, WATCH_ANCESTOR) == 0)
			return;
	}
}

void containers__handle_inotify(struct containers *c)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(c->ifd, buf, sizeof(buf));
		if (n <= 0)
			return;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			struct watch *w = watch_find(c, ev->wd);

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_IGNORED) {
				watch_forget(c, ev->wd);
				continue;
			}
			if (!w || !ev->len)
				continue;
			int idx = w->root_idx;
			if (w->kind == WATCH_ROOT && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
				watch_container_dir(c, idx, ev->name);
			} else if (w->kind == WATCH_ROOT && (ev->mask & IN_DELETE)) {
				struct meta_entry *m = meta_find(c, ev->name);
				if (m)
					m->removed_ns = clock_boot_ns();
			} else if (w->kind == WATCH_CONTAINER && strcmp(ev->name, "state.json") == 0) {
				const char *slash = strrchr(w->path, '/');
				if (slash)
					meta_load_state(c, c->roots[idx], slash + 1);
			} else if (w->kind == WATCH_ANCESTOR) {
				watch_root(c, idx);
			}
		}
	}
}

int containers__inotify_fd(const struct containers *c)
{
	return c->ifd;
}

struct containers *containers__new(const char *cgroup_root, const char *const *runtime_roots)
{
	struct containers *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	snprintf(c->cgroup_root, sizeof(c->cgroup_root), "%s", cgroup_root);
	for (size_t i = 0; runtime_roots && runtime_roots[i] && c->n_roots < MAX_ROOTS; i++)
		c->roots[c->n_roots++] = strdup(runtime_roots[i]);
	for (size_t i = 0; default_roots[i] && c->n_roots < MAX_ROOTS; i++)
		c->roots[c->n_roots++] = strdup(default_roots[i]);
	for (size_t i = 0; i < c->n_roots; i++)
		if (!c->roots[i]) {
			containers__free(c);
			return NULL;
		}
	c->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (c->ifd < 0)
		fprintf(stderr, "wacht-sensor: failed to create inotify instance: %s; "
				"metadata of very short-lived containers may be missed\n",
			strerror(errno));
	for (size_t i = 0; i < c->n_roots; i++)
		watch_root(c, i);
	return c;
}

void containers__free(struct containers *c)
{
	if (!c)
		return;
	for (size_t b = 0; b < CG_BUCKETS; b++)
		for (struct cg_entry *e = c->cg[b], *n; e; e = n) {
			n = e->next;
			free(e->path);
			free(e);
		}
	for (size_t b = 0; b < META_BUCKETS; b++)
		for (struct meta_entry *m = c->meta[b], *n; m; m = n) {
			n = m->next;
			free(m);
		}
	for (size_t i = 0; i < c->n_roots; i++)
		free(c->roots[i]);
	if (c->ifd >= 0)
		close(c->ifd);
	free(c);
}

void containers__cgroup_created(struct containers *c, uint64_t id, const char *path)
{
	cg_add(c, id, path);
}

void containers__cgroup_removed(struct containers *c, uint64_t id, uint64_t now)
{
	struct cg_entry *e = cg_find(c, id);

	if (e)
		e->gone_ns = now ? now : 1;
}

void containers__expire(struct containers *c, uint64_t now)
{
	for (size_t b = 0; b < CG_BUCKETS; b++) {
		struct cg_entry **pp = &c->cg[b];
		while (*pp) {
			struct cg_entry *e = *pp;
			if (e->gone_ns && now - e->gone_ns > GONE_GRACE_NS) {
				*pp = e->next;
				free(e->path);
				free(e);
				c->n_cg--;
			} else {
				pp = &e->next;
			}
		}
	}
	for (size_t b = 0; b < META_BUCKETS; b++) {
		struct meta_entry **pp = &c->meta[b];
		while (*pp) {
			struct meta_entry *m = *pp;
			if (m->removed_ns && now - m->removed_ns > GONE_GRACE_NS) {
				/* drop references from cgroups that outlived it */
				for (size_t i = 0; i < CG_BUCKETS; i++)
					for (struct cg_entry *e = c->cg[i]; e; e = e->next)
						if (e->meta == m)
							e->meta = NULL;
				*pp = m->next;
				free(m);
			} else {
				pp = &m->next;
			}
		}
	}
}

size_t containers__count(const struct containers *c)
{
	return c->n_cg;
}

/* An id never seen: ask the process which cgroup it is in. */
static struct cg_entry *learn_from_proc(struct containers *c, uint64_t id, uint32_t tgid)
{
	char path[64], line[4096], dir[PATH_MAX];
	FILE *f;
	struct cg_entry *e = NULL;

	snprintf(path, sizeof(path), "/proc/%u/cgroup", tgid);
	if (!(f = fopen(path, "re")))
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = 0;
		uint64_t got = 0;
		if (snprintf(dir, sizeof(dir), "%s%s", c->cgroup_root, line + 3) >= (int)sizeof(dir))
			break;
		if (cgroup_id_of(dir, &got) == 0 && got == id)
			e = cg_add(c, id, line + 3);
		break;
	}
	fclose(f);
	return e;
}

/*
 * Whether the runtime's own record of the container's cgroup ends with the
 * part of our path that named it. A container allowed to create cgroups can
 * name one after another container; its events must not carry that
 * container's pod. The runtime records an absolute path on the host's
 * cgroup mount, which may be mounted elsewhere here, hence a suffix match.
 */
static bool meta_matches(const struct meta_entry *m, const struct cg_entry *e)
{
	size_t n = e->ref.cgroup_len, dn = strlen(m->cgroup_dir);

	if (!m->cgroup_dir[0] || n == 0)
		return true; /* nothing recorded (CRI-O bundle, crun): trust the id */
	if (dn < n || memcmp(m->cgroup_dir + dn - n, e->path, n) != 0)
		return false;
	return dn == n || m->cgroup_dir[dn - n - 1] == '/' || e->path[0] == '/';
}

static void view_fill(struct cg_entry *e)
{
	static const char empty[] = "";
	const struct container_meta *m = e->meta ? &e->meta->meta : NULL;

	e->view.id = e->ref.id;
	e->view.runtime = runtime_name(e->ref.runtime);
	e->view.name = m ? m->name : empty;
	e->view.image = m ? m->image : empty;
	e->view.pod = m ? m->pod : empty;
	e->view.namespace = m ? m->namespace : empty;
	e->view.pod_uid = m && m->pod_uid[0] ? m->pod_uid : e->ref.pod_uid;
	e->view.cgroup = e->path;
	e->view.cgroup_id = e->id;
}

const struct container_view *containers__lookup(struct containers *c, uint64_t cgroup_id,
						uint32_t tgid)
{
	struct cg_entry *e = cg_find(c, cgroup_id);

	if (!e && tgid)
		e = learn_from_proc(c, cgroup_id, tgid);
	if (!e) {
		uint64_t now = clock_boot_ns();
		if (now - c->last_rescan_ns > RESCAN_INTERVAL_NS) {
			containers__scan(c);
			e = cg_find(c, cgroup_id);
		}
	}
	if (!e)
		return NULL;
	if (!e->parsed) {
		int r = cgroup_path_parse(e->path, &e->ref);
		e->parsed = r >= 0 ? 1 : -1;
	}
	if (e->parsed < 0)
		return NULL;
	if (!e->meta) {
		/* the cache is filled by inotify as soon as the runtime writes its
		 * state: look there every time, on disk once a second */
		uint64_t now = clock_boot_ns();

		e->meta = meta_find(c, e->ref.id);
		if (!e->meta && (!e->meta_tried_ns || now - e->meta_tried_ns > RESCAN_INTERVAL_NS)) {
			e->meta = meta_resolve(c, e->ref.id);
			e->meta_tried_ns = now;
		}
		if (e->meta && !meta_matches(e->meta, e)) {
			if (!e->spoof_warned)
				fprintf(stderr, "wacht-sensor: cgroup %s names container %s, whose runtime "
						"records cgroup %s: not attributing it to that pod\n",
					e->path, e->ref.id, e->meta->cgroup_dir);
			e->spoof_warned = true;
			e->meta = NULL;
		}
		view_fill(e);
	}
	if (!e->view.id)
		view_fill(e);
	return &e->view;
}

const struct container_view *containers__refresh(struct containers *c, uint64_t cgroup_id,
						 uint32_t tgid)
{
	/* what the runtime wrote and inotify told, then the disk itself */
	containers__handle_inotify(c);
	struct cg_entry *e = cg_find(c, cgroup_id);
	if (e && !e->meta)
		e->meta_tried_ns = 0;
	return containers__lookup(c, cgroup_id, tgid);
}

int containers__detail(struct containers *c, uint64_t cgroup_id, struct container_detail *out)
{
	struct cg_entry *e = cg_find(c, cgroup_id);

	memset(out, 0, sizeof(*out));
	if (!e || e->parsed <= 0)
		return -ENOENT;
	if (e->meta) {
		out->init_pid = e->meta->init_pid;
		out->meta = &e->meta->meta;
		/* CRI-O keeps the pod's labels on the sandbox (pause) container */
		if (e->meta->meta.sandbox_id[0] && strcmp(e->meta->meta.sandbox_id, e->ref.id) != 0) {
			struct meta_entry *sb = meta_find(c, e->meta->meta.sandbox_id);
			if (sb)
				out->sandbox = &sb->meta;
		}
	}
	return 0;
}

void containers__foreach(struct containers *c, containers_visit cb, void *ctx)
{
	for (size_t b = 0; b < CG_BUCKETS; b++) {
		for (struct cg_entry *e = c->cg[b]; e; e = e->next) {
			struct container_detail d;

			if (e->gone_ns || !containers__lookup(c, e->id, 0) || e->parsed <= 0)
				continue;
			containers__detail(c, e->id, &d);
			cb(ctx, &e->view, &d);
		}
	}
}
