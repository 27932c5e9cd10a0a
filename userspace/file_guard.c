// SPDX-License-Identifier: Apache-2.0
/*
 * file_guard.c: block_access enforced with fanotify permission events.
 *
 * Why fanotify: the kernel here has no BPF-LSM, kprobes or fentry, and a
 * signal sent from a syscall tracepoint does not stop the syscall it
 * interrupts (an unlink still happens). A fanotify permission event holds
 * the opening task in the kernel until this thread answers; FAN_DENY makes
 * the open fail with EPERM ("Operation not permitted"; a custom errno
 * needs a pre-content group, FAN_DENY_ERRNO, which only allows EPERM-like
 * codes anyway).
 *
 * What is denied, in a guarded container (process/file mode Protect, with
 * block_access rules, --alert-only not given), for a process whose name
 * is in no matching rule's app list:
 *   - every open of a file on the container's root mount: open, openat,
 *     openat2, creat, any access mode (O_RDONLY, O_WRONLY, O_RDWR, with
 *     or without O_TRUNC: the truncation comes after the permission check
 *     and does not happen), shared libraries mapped by the loader (they
 *     are opened first) (FAN_OPEN_PERM);
 *   - execve/execveat of such a file, and the interpreter reading a
 *     script (FAN_OPEN_EXEC_PERM, then FAN_OPEN_PERM).
 * O_CREAT of a file that does not exist yet: the kernel creates it and
 * then asks, so an empty file remains though the open fails. A symlink
 * does not help: the open reaches the file, whose path is what is
 * decided on (the failed open's event names the link, so the finding
 * comes from the guard's record, see sensor_rules.c).
 *
 * What is only reported (the engine's finding says "not enforced"):
 * unlink, rename, link, symlink, chmod, chown, truncate by path, mkdir,
 * rmdir, utimes, stat and xattr calls: they open nothing, and fanotify has
 * no permission event for them. Also opens with O_PATH (fanotify is not
 * told of them; they give no content), files reached through another
 * mount than the container's root (volumes, bind mounts such as
 * /etc/hosts, /proc, /dev: only the root mount is marked, so that the
 * host's and other containers' use of the same file system is never
 * held up), and file descriptors opened before the container was guarded
 * (the permission is asked at open time only). Rules are about paths: a
 * hard link (only reported) names the file by another path, where it can
 * be opened.
 *
 * Cost: every open on a guarded mount waits for this thread, about 45 us
 * here (fanotify's round trip: the event's file descriptor, statx,
 * readlink, the answer); opens of files a filter covers also read the
 * process's cgroup and name from /proc.
 *
 * Marks: FAN_MARK_MOUNT on /proc/<init pid>/root, the container's root
 * mount in its own mount namespace (a bind mount of the rootfs directory
 * for a plain runc bundle, the overlay mount for an image). Opens of the
 * same files from the host go through other mounts and are not seen. The
 * event's file descriptor, read back through /proc/self/fd, names the
 * file as the container sees it (/etc/secret/key): the container's root
 * mount is the top of its namespace, so the kernel's path stops there.
 * When the container's mount namespace goes, the mount goes and its mark
 * with it.
 *
 * Safety: the sensor's own opens are always allowed (it reads files in
 * containers: answering itself would deadlock); so is every process not
 * in the cgroup of the container whose mount the file is on (the host,
 * another container), everything when the guard stops, and everything the
 * decision lacks information for (counted as unresolved). If the sensor
 * dies, even by SIGKILL, the kernel closes the group and allows every
 * pending and later open: nothing keeps denying without the sensor.
 *
 * Threads: the decisions are made by this module's own thread, so that a
 * busy main loop never holds up a container's open. The main thread
 * changes the table of guarded containers under a mutex; each entry's
 * rules are an immutable file_policy, swapped whole. The guard thread
 * holds the mutex only while matching strings (no system calls).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>

#include "clock.h"
#include "file_guard.h"

#define GUARD_MASK (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM)

struct guard_entry {
	uint64_t cgroup_id;
	uint64_t mnt_id;          /* of the container's root mount */
	uint32_t init_pid;
	struct file_policy *fp;   /* owned, immutable */
};

struct guard_stats {
	uint64_t events;      /* permission events answered */
	uint64_t allowed;
	uint64_t denied;
	uint64_t self;        /* the sensor's own opens */
	uint64_t not_guarded; /* a process outside the container whose mount it is
			       * (of the opens of covered files only) */
	uint64_t unresolved;  /* allowed for want of the pid's cgroup, the path or the name */
	uint64_t response_errors;
	uint64_t overflows;
};

struct file_guard {
	struct file_guard_config cfg;
	char cgroot[4096];
	int fan_fd, stop_fd;
	pid_t self;
	pthread_t thread;
	bool thread_started;
	bool stopping;            /* __atomic */
	pthread_mutex_t lock;     /* entries */
	struct guard_entry *v;
	size_t n, cap;
	struct denial_log *log;
	struct guard_stats st;    /* guard thread's counters; __atomic for readers */
	uint64_t marks_added, marks_removed, mark_errors; /* main thread's */
};

static void count(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* ---- facts about one event (no lock held: these are system calls) */

static int mnt_id_of(int dirfd, const char *path, int flags, uint64_t *out)
{
	struct statx stx;

	if (statx(dirfd, path, flags, STATX_MNT_ID, &stx))
		return -errno;
	if (!(stx.stx_mask & STATX_MNT_ID))
		return -EOPNOTSUPP;
	*out = stx.stx_mnt_id;
	return 0;
}

/* A process's cgroup v2 id: its "0::PATH" line, the inode of that directory. */
static int cgroup_of(const struct file_guard *g, pid_t pid, uint64_t *out)
{
	char path[64], line[4096 + 8], dir[sizeof(g->cgroot) + sizeof(line)];
	struct stat st;
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	if (!(f = fopen(path, "re")))
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(dir, sizeof(dir), "%s%s", g->cgroot, line + 3);
		err = stat(dir, &st) ? -errno : 0;
		if (!err)
			*out = st.st_ino;
		break;
	}
	fclose(f);
	return err;
}

/* The name block_access apps match, as the engine names processes: comm
 * is the name the binary was executed by (busybox applets by their link
 * name); a program re-executed through /proc/self/exe (busybox's shell
 * running an applet) is named by its argv[0]. */
static int name_of(pid_t pid, char *name, size_t size)
{
	char path[64], buf[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	if (strcmp(buf, "exe") == 0) {
		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
			char argv0[256];
			n = read(fd, argv0, sizeof(argv0) - 1);
			close(fd);
			if (n > 0) {
				argv0[n] = 0; /* argv[0] ends at its own NUL */
				const char *slash = strrchr(argv0, '/');
				if (argv0[0])
					snprintf(buf, sizeof(buf), "%s", slash ? slash + 1 : argv0);
			}
		}
	}
	snprintf(name, size, "%s", buf);
	return 0;
}

/* ---- the decision */

static const struct guard_entry *entry_find(const struct file_guard *g, uint64_t cgroup_id)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].cgroup_id == cgroup_id)
			return &g->v[i];
	return NULL;
}

static const struct guard_entry *entry_by_mount(const struct file_guard *g, uint64_t mnt_id)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].mnt_id == mnt_id)
			return &g->v[i];
	return NULL;
}

/* Cheapest facts first: most opens are of files no filter covers, and are
 * allowed from the file alone (two system calls); only the others need
 * the process's cgroup and name from /proc. */
static bool decide(struct file_guard *g, const struct fanotify_event_metadata *m)
{
	char link[64], path[4096], name[256];
	uint64_t mnt_id = 0, cgroup_id = 0, want_cgroup = 0;
	ssize_t n;

	if (m->pid == g->self) {
		count(&g->st.self);
		return true;
	}
	if (__atomic_load_n(&g->stopping, __ATOMIC_ACQUIRE))
		return true;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", m->fd);
	/* not absolute: a file the container's root does not reach */
	if (m->fd < 0 || mnt_id_of(m->fd, "", AT_EMPTY_PATH, &mnt_id) ||
	    (n = readlink(link, path, sizeof(path) - 1)) <= 0 || (size_t)n >= sizeof(path) - 1 ||
	    path[0] != '/') {
		count(&g->st.unresolved);
		return true;
	}
	path[n] = 0;

	pthread_mutex_lock(&g->lock);
	const struct guard_entry *e = entry_by_mount(g, mnt_id);
	bool covered = e && file_policy__covers(e->fp, path);
	if (e)
		want_cgroup = e->cgroup_id;
	pthread_mutex_unlock(&g->lock);
	if (!e) {
		count(&g->st.not_guarded); /* a mount no longer guarded */
		return true;
	}
	if (!covered)
		return true;
	if (cgroup_of(g, m->pid, &cgroup_id) || name_of(m->pid, name, sizeof(name))) {
		count(&g->st.unresolved);
		return true;
	}
	/* the path is the container's own only for its processes: the host
	 * or another container reaching this mount is not held up */
	if (cgroup_id != want_cgroup) {
		count(&g->st.not_guarded);
		return true;
	}

	bool deny = false, guarded = false;
	pthread_mutex_lock(&g->lock);
	e = entry_find(g, cgroup_id);
	if (e && e->mnt_id == mnt_id) {
		guarded = true;
		deny = file_policy__denies(e->fp, path, name, NULL);
	}
	pthread_mutex_unlock(&g->lock);
	if (!guarded) {
		count(&g->st.not_guarded);
		return true;
	}
	if (deny)
		denial_log__add(g->log, (uint32_t)m->pid, path, m->mask & FAN_OPEN_EXEC_PERM, clock_boot_ns());
	return !deny;
}

static void answer(struct file_guard *g, const struct fanotify_event_metadata *m)
{
	bool allow = decide(g, m);
	struct fanotify_response r = { .fd = m->fd, .response = allow ? FAN_ALLOW : FAN_DENY };

	count(&g->st.events);
	count(allow ? &g->st.allowed : &g->st.denied);
	if (write(g->fan_fd, &r, sizeof(r)) != sizeof(r))
		count(&g->st.response_errors);
}

static void *guard_thread(void *arg)
{
	struct file_guard *g = arg;
	char buf[8192] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	struct pollfd pfd[2] = { { .fd = g->fan_fd, .events = POLLIN },
				 { .fd = g->stop_fd, .events = POLLIN } };

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "file_guard: failed to poll the fanotify group: %s\n",
				strerror(errno));
			break;
		}
		if (pfd[1].revents)
			break;
		ssize_t n;
		while ((n = read(g->fan_fd, buf, sizeof(buf))) > 0) {
			struct fanotify_event_metadata *m = (void *)buf;
			for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
				if (m->vers != FANOTIFY_METADATA_VERSION)
					continue;
				if (m->mask & FAN_Q_OVERFLOW)
					count(&g->st.overflows);
				if (m->mask & GUARD_MASK)
					answer(g, m);
				if (m->fd >= 0)
					close(m->fd);
			}
		}
	}
	return NULL;
}

/* ---- lifetime */

struct file_guard *file_guard__new(const struct file_guard_config *cfg, int *err)
{
	struct file_guard *g = calloc(1, sizeof(*g));

	*err = -ENOMEM;
	if (!g)
		return NULL;
	g->cfg = *cfg;
	snprintf(g->cgroot, sizeof(g->cgroot), "%s", cfg->cgroup_root ? cfg->cgroup_root : "");
	g->cfg.cgroup_root = g->cgroot;
	g->self = getpid();
	g->fan_fd = g->stop_fd = -1;
	pthread_mutex_init(&g->lock, NULL);
	if (!(g->log = denial_log__new()))
		goto fail;
	/* content class: permission events. An unlimited queue: a permission
	 * event the kernel cannot queue is allowed unasked, and every queued
	 * one holds a task, so the queue is bounded by the tasks anyway. */
	g->fan_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE,
				  O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (g->fan_fd < 0) {
		*err = -errno;
		fprintf(stderr, "file_guard: failed to create the fanotify group: %s\n", strerror(errno));
		goto fail;
	}
	g->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g->stop_fd < 0) {
		*err = -errno;
		fprintf(stderr, "file_guard: failed to create an eventfd: %s\n", strerror(errno));
		goto fail;
	}
	/* the thread takes no signals: the main loop's signalfd must get
	 * them (a SIGTERM delivered here would kill the sensor) */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(&g->thread, NULL, guard_thread, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		*err = -e;
		fprintf(stderr, "file_guard: failed to start the guard thread: %s\n", strerror(e));
		goto fail;
	}
	g->thread_started = true;
	*err = 0;
	return g;
fail:
	file_guard__free(g);
	return NULL;
}

static int mark(struct file_guard *g, unsigned flags, uint32_t init_pid)
{
	char root[64];

	snprintf(root, sizeof(root), "/proc/%u/root", init_pid);
	return fanotify_mark(g->fan_fd, flags | FAN_MARK_MOUNT, GUARD_MASK, AT_FDCWD, root) ? -errno
											     : 0;
}

/* Removes e's mark (the caller removed it from the table): only if
 * /proc/INIT/root still is that mount (a pid reused by another process
 * must not lose a mark it never had). */
static void unmark(struct file_guard *g, const struct guard_entry *e)
{
	char root[64];
	uint64_t mnt_id = 0;

	snprintf(root, sizeof(root), "/proc/%u/root", e->init_pid);
	if (g->fan_fd < 0 || mnt_id_of(AT_FDCWD, root, 0, &mnt_id) || mnt_id != e->mnt_id) {
		/* the root process is gone: so is the mount, with its mark */
		g->marks_removed++;
		return;
	}
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].mnt_id == e->mnt_id)
			return; /* another entry still needs it */
	int err = mark(g, FAN_MARK_REMOVE, e->init_pid);
	if (err == 0 || err == -ENOENT)
		g->marks_removed++;
	else
		g->mark_errors++;
}

void file_guard__free(struct file_guard *g)
{
	if (!g)
		return;
	__atomic_store_n(&g->stopping, true, __ATOMIC_RELEASE);
	if (g->thread_started) {
		uint64_t one = 1;
		if (write(g->stop_fd, &one, sizeof(one)) != sizeof(one))
			fprintf(stderr, "file_guard: failed to stop the guard thread: %s\n",
				strerror(errno));
		pthread_join(g->thread, NULL);
	}
	/* closing the group allows whatever is still pending, and drops
	 * every mark */
	if (g->fan_fd >= 0)
		close(g->fan_fd);
	if (g->stop_fd >= 0)
		close(g->stop_fd);
	for (size_t i = 0; i < g->n; i++)
		file_policy__free(g->v[i].fp);
	free(g->v);
	denial_log__free(g->log);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

/* ---- the table (main thread) */

static long entry_index(const struct file_guard *g, uint64_t cgroup_id)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].cgroup_id == cgroup_id)
			return (long)i;
	return -1;
}

void file_guard__remove(struct file_guard *g, uint64_t cgroup_id)
{
	long i = entry_index(g, cgroup_id);

	if (i < 0)
		return;
	pthread_mutex_lock(&g->lock);
	struct guard_entry e = g->v[i];
	g->v[i] = g->v[--g->n];
	pthread_mutex_unlock(&g->lock);
	unmark(g, &e);
	file_policy__free(e.fp);
}

int file_guard__set(struct file_guard *g, uint64_t cgroup_id, uint32_t init_pid,
		    struct file_policy *fp)
{
	char root[64];
	uint64_t mnt_id = 0;
	int err;

	if (g->cfg.alert_only || !init_pid || !file_policy__count(fp)) {
		file_policy__free(fp);
		file_guard__remove(g, cgroup_id);
		return 0;
	}
	long i = entry_index(g, cgroup_id);
	if (i >= 0 && g->v[i].init_pid == init_pid) {
		if (file_policy__equal(g->v[i].fp, fp)) {
			file_policy__free(fp);
			return 0;
		}
		/* new rules, same mark: swapped whole under the lock */
		pthread_mutex_lock(&g->lock);
		struct file_policy *old = g->v[i].fp;
		g->v[i].fp = fp;
		pthread_mutex_unlock(&g->lock);
		file_policy__free(old);
		return 0;
	}
	if (i >= 0)
		file_guard__remove(g, cgroup_id); /* a new root process: a new mount */

	snprintf(root, sizeof(root), "/proc/%u/root", init_pid);
	if ((err = mnt_id_of(AT_FDCWD, root, 0, &mnt_id)) || (err = mark(g, FAN_MARK_ADD, init_pid))) {
		if (!g->mark_errors++)
			fprintf(stderr, "file_guard: failed to mark the root mount of the container "
					"with cgroup %llu (%s): %s; its block_access rules are only "
					"reported\n", (unsigned long long)cgroup_id, root, strerror(-err));
		file_policy__free(fp);
		return err;
	}
	g->marks_added++;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		/* grown under the lock: the guard thread reads the array */
		pthread_mutex_lock(&g->lock);
		struct guard_entry *v = realloc(g->v, cap * sizeof(*v));
		if (v) {
			g->v = v;
			g->cap = cap;
		}
		pthread_mutex_unlock(&g->lock);
		if (!v) {
			struct guard_entry e = { cgroup_id, mnt_id, init_pid, NULL };
			unmark(g, &e);
			file_policy__free(fp);
			return -ENOMEM;
		}
	}
	pthread_mutex_lock(&g->lock);
	g->v[g->n++] = (struct guard_entry){ cgroup_id, mnt_id, init_pid, fp };
	pthread_mutex_unlock(&g->lock);
	return 0;
}

bool file_guard__guarded(const struct file_guard *g, uint64_t cgroup_id)
{
	return entry_index(g, cgroup_id) >= 0;
}

bool file_guard__denied(struct file_guard *g, uint32_t tgid, const char *path)
{
	return denial_log__take(g->log, tgid, path);
}

bool file_guard__take_exec(struct file_guard *g, uint64_t before, uint32_t *tgid, char *path,
			   size_t size, uint64_t *ts_ns)
{
	return denial_log__execs(g->log) &&
	       denial_log__take_exec(g->log, before, tgid, path, size, ts_ns);
}

bool file_guard__take_open(struct file_guard *g, uint32_t tgid, uint64_t before, char *path,
			   size_t size, uint64_t *ts_ns)
{
	return denial_log__take_open(g->log, tgid, before, path, size, ts_ns);
}

void file_guard__stats(const struct file_guard *g, struct jsonw *w)
{
	jsonw__obj_begin(w, "file_guard");
	jsonw__bool(w, "alert_only", g->cfg.alert_only);
	jsonw__u64(w, "guarded", g->n);
	jsonw__u64(w, "marks_added", g->marks_added);
	jsonw__u64(w, "marks_removed", g->marks_removed);
	jsonw__u64(w, "mark_errors", g->mark_errors);
	jsonw__u64(w, "events", load(&g->st.events));
	jsonw__u64(w, "allowed", load(&g->st.allowed));
	jsonw__u64(w, "denied", load(&g->st.denied));
	jsonw__u64(w, "self", load(&g->st.self));
	jsonw__u64(w, "not_guarded", load(&g->st.not_guarded));
	jsonw__u64(w, "unresolved", load(&g->st.unresolved));
	jsonw__u64(w, "response_errors", load(&g->st.response_errors));
	jsonw__u64(w, "overflows", load(&g->st.overflows));
	jsonw__u64(w, "denials_unclaimed", denial_log__lost(g->log));
	jsonw__obj_end(w);
}
