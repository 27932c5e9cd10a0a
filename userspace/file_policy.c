// SPDX-License-Identifier: Apache-2.0
/* file_policy.c: a container's block_access rules as an immutable table,
 * the decision on one open, and the log of denials. See file_policy.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#include "events.h"
#include "file_policy.h"

bool file_app_match(const char *app, const char *name)
{
	size_t n = strlen(name);

	return strcmp(app, name) == 0 || (n == WACHT_COMM_LEN - 1 && strncmp(app, name, n) == 0);
}

/* ---- the table */

struct fp_rule {
	struct file_filter filter;
	char **apps;
	size_t n_apps;
};

struct file_policy {
	struct fp_rule *v;
	size_t n;
};

void file_policy__free(struct file_policy *fp)
{
	if (!fp)
		return;
	for (size_t i = 0; i < fp->n; i++) {
		file_filter_free(&fp->v[i].filter);
		for (size_t a = 0; a < fp->v[i].n_apps; a++)
			free(fp->v[i].apps[a]);
		free(fp->v[i].apps);
	}
	free(fp->v);
	free(fp);
}

static int rule_copy(struct fp_rule *d, const struct file_rule *s)
{
	const char *why;

	memset(d, 0, sizeof(*d));
	/* compiled again from what the loader compiled: cannot fail but for memory */
	if (file_filter_compile(&d->filter, s->filter.pattern, s->filter.recursive, &why))
		return -ENOMEM;
	if (s->n_apps && !(d->apps = calloc(s->n_apps, sizeof(*d->apps))))
		return -ENOMEM;
	for (size_t a = 0; a < s->n_apps; a++) {
		if (!(d->apps[a] = strdup(s->apps[a])))
			return -ENOMEM;
		d->n_apps++;
	}
	return 0;
}

struct file_policy *file_policy__new(const struct policy *p, const size_t *order, size_t n_order)
{
	struct file_policy *fp = calloc(1, sizeof(*fp));
	size_t total = 0;

	if (!fp)
		return NULL;
	for (size_t i = 0; i < n_order; i++) {
		const struct group *g = &p->groups[order[i]];
		for (size_t k = 0; k < g->n_files; k++)
			total += g->files[k].behavior == FILE_BLOCK_ACCESS;
	}
	if (total && !(fp->v = calloc(total, sizeof(*fp->v)))) {
		free(fp);
		return NULL;
	}
	for (size_t i = 0; i < n_order; i++) {
		const struct group *g = &p->groups[order[i]];
		for (size_t k = 0; k < g->n_files; k++) {
			if (g->files[k].behavior != FILE_BLOCK_ACCESS)
				continue;
			/* counted before the copy: a half-made rule is freed too */
			int err = rule_copy(&fp->v[fp->n++], &g->files[k]);
			if (err) {
				file_policy__free(fp);
				return NULL;
			}
		}
	}
	return fp;
}

size_t file_policy__count(const struct file_policy *fp)
{
	return fp ? fp->n : 0;
}

bool file_policy__equal(const struct file_policy *a, const struct file_policy *b)
{
	if (file_policy__count(a) != file_policy__count(b))
		return false;
	for (size_t i = 0; i < file_policy__count(a); i++) {
		const struct fp_rule *x = &a->v[i], *y = &b->v[i];
		if (strcmp(x->filter.pattern, y->filter.pattern) != 0 ||
		    x->filter.recursive != y->filter.recursive || x->n_apps != y->n_apps)
			return false;
		for (size_t k = 0; k < x->n_apps; k++)
			if (strcmp(x->apps[k], y->apps[k]) != 0)
				return false;
	}
	return true;
}

bool file_policy__covers(const struct file_policy *fp, const char *path)
{
	for (size_t i = 0; i < file_policy__count(fp); i++)
		if (file_filter_match(&fp->v[i].filter, path))
			return true;
	return false;
}

bool file_policy__denies(const struct file_policy *fp, const char *path, const char *name,
			 const char **rule)
{
	const struct fp_rule *first = NULL;

	for (size_t i = 0; i < file_policy__count(fp); i++) {
		const struct fp_rule *r = &fp->v[i];
		if (!file_filter_match(&r->filter, path))
			continue;
		/* allowed if any matching rule lists the app, as the engine says */
		for (size_t a = 0; a < r->n_apps; a++)
			if (file_app_match(r->apps[a], name))
				return false;
		if (!first)
			first = r;
	}
	if (first && rule)
		*rule = first->filter.pattern;
	return first != NULL;
}

/* ---- the denial log */

struct denial {
	uint32_t tgid;     /* 0: free */
	bool exec;
	uint64_t ts_ns;
	uint64_t seq;      /* order of addition */
	char path[FILE_DENIAL_PATH];
};

struct denial_log {
	pthread_mutex_t lock;
	struct denial v[FILE_DENIALS];
	uint64_t seq;
	uint64_t lost;
	uint64_t execs;    /* exec records held; __atomic for readers */
};

struct denial_log *denial_log__new(void)
{
	struct denial_log *l = calloc(1, sizeof(*l));

	if (l && pthread_mutex_init(&l->lock, NULL)) {
		free(l);
		return NULL;
	}
	return l;
}

void denial_log__free(struct denial_log *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void denial_log__add(struct denial_log *l, uint32_t tgid, const char *path, bool exec,
		     uint64_t ts_ns)
{
	pthread_mutex_lock(&l->lock);
	/* a free slot, else the oldest record */
	struct denial *d = &l->v[0];
	for (size_t i = 0; i < FILE_DENIALS; i++) {
		if (!l->v[i].tgid) {
			d = &l->v[i];
			break;
		}
		if (l->v[i].seq < d->seq)
			d = &l->v[i];
	}
	if (d->tgid) {
		__atomic_add_fetch(&l->lost, 1, __ATOMIC_RELAXED);
		if (d->exec)
			__atomic_sub_fetch(&l->execs, 1, __ATOMIC_RELAXED);
	}
	if (exec)
		__atomic_add_fetch(&l->execs, 1, __ATOMIC_RELAXED);
	d->tgid = tgid ? tgid : UINT32_MAX;
	d->exec = exec;
	d->ts_ns = ts_ns;
	d->seq = ++l->seq;
	strncpy(d->path, path, sizeof(d->path) - 1);
	d->path[sizeof(d->path) - 1] = 0;
	pthread_mutex_unlock(&l->lock);
}

bool denial_log__take(struct denial_log *l, uint32_t tgid, const char *path)
{
	struct denial *same = NULL, *oldest = NULL;

	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < FILE_DENIALS; i++) {
		struct denial *d = &l->v[i];
		if (!d->tgid || d->tgid != tgid || d->exec)
			continue;
		if (strncmp(d->path, path, sizeof(d->path) - 1) == 0 && (!same || d->seq < same->seq))
			same = d;
		if (!oldest || d->seq < oldest->seq)
			oldest = d;
	}
	struct denial *hit = same ? same : oldest;
	if (hit)
		hit->tgid = 0;
	pthread_mutex_unlock(&l->lock);
	return hit != NULL;
}

/* The oldest record of exec (and of tgid, unless 0) made at or before
 * `before`, taken. */
static bool take_before(struct denial_log *l, bool exec, uint32_t want, uint64_t before,
			uint32_t *tgid, char *path, size_t size, uint64_t *ts_ns)
{
	struct denial *hit = NULL;

	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < FILE_DENIALS; i++) {
		const struct denial *d = &l->v[i];
		if (d->tgid && d->exec == exec && (!want || d->tgid == want) && d->ts_ns <= before &&
		    (!hit || d->seq < hit->seq))
			hit = &l->v[i];
	}
	if (hit) {
		*tgid = hit->tgid;
		*ts_ns = hit->ts_ns;
		if (size) {
			strncpy(path, hit->path, size - 1);
			path[size - 1] = 0;
		}
		hit->tgid = 0;
		if (exec)
			__atomic_sub_fetch(&l->execs, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&l->lock);
	return hit != NULL;
}

bool denial_log__take_exec(struct denial_log *l, uint64_t before, uint32_t *tgid, char *path,
			   size_t size, uint64_t *ts_ns)
{
	return take_before(l, true, 0, before, tgid, path, size, ts_ns);
}

bool denial_log__take_open(struct denial_log *l, uint32_t tgid, uint64_t before, char *path,
			   size_t size, uint64_t *ts_ns)
{
	uint32_t t;

	return tgid && take_before(l, false, tgid, before, &t, path, size, ts_ns);
}

uint64_t denial_log__execs(const struct denial_log *l)
{
	return __atomic_load_n(&l->execs, __ATOMIC_RELAXED);
}

uint64_t denial_log__lost(const struct denial_log *l)
{
	return __atomic_load_n(&l->lost, __ATOMIC_RELAXED);
}
