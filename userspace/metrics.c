// SPDX-License-Identifier: Apache-2.0
/* metrics.c: a snapshot of Prometheus series and its text exposition. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

struct series {
	char *name, *labels; /* labels "" when none */
	double value;
};

struct help {
	char *name, *text;
};

struct metrics {
	struct series *v;
	size_t n;
	struct help *h;
	size_t n_h;
};

struct metrics *metrics__new(void)
{
	return calloc(1, sizeof(struct metrics));
}

void metrics__free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].name);
		free(m->v[i].labels);
	}
	for (size_t i = 0; i < m->n_h; i++) {
		free(m->h[i].name);
		free(m->h[i].text);
	}
	free(m->v);
	free(m->h);
	free(m);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool name_ok(const char *s)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
			return false;
	return true;
}

static struct series *find(const struct metrics *m, const char *name, const char *labels)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->v[i].name, name) && !strcmp(m->v[i].labels, labels))
			return &m->v[i];
	return NULL;
}

static int update(struct metrics *m, const char *name, const char *labels, double value, bool set)
{
	struct series *s;

	if (!name_ok(name))
		return -EINVAL;
	labels = labels ? labels : "";
	s = find(m, name, labels);
	if (!s) {
		struct series *v = reallocarray(m->v, m->n + 1, sizeof(*v));

		if (!v)
			return -ENOMEM;
		m->v = v;
		s = &v[m->n];
		s->name = strdup(name);
		s->labels = strdup(labels);
		s->value = 0;
		if (!s->name || !s->labels) {
			free(s->name);
			free(s->labels);
			return -ENOMEM;
		}
		m->n++;
	}
	s->value = set ? value : s->value + value;
	return 0;
}

int metrics__set(struct metrics *m, const char *name, const char *labels, double value)
{
	return update(m, name, labels, value, true);
}

int metrics__add(struct metrics *m, const char *name, const char *labels, double value)
{
	return update(m, name, labels, value, false);
}

double metrics__get(const struct metrics *m, const char *name, const char *labels)
{
	const struct series *s = find(m, name, labels ? labels : "");

	return s ? s->value : -1;
}

int metrics__help(struct metrics *m, const char *name, const char *text)
{
	struct help *h;

	if (!name_ok(name) || !text || strchr(text, '\n'))
		return -EINVAL;
	for (size_t i = 0; i < m->n_h; i++)
		if (!strcmp(m->h[i].name, name))
			return 0;
	h = reallocarray(m->h, m->n_h + 1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	m->h = h;
	h[m->n_h].name = strdup(name);
	h[m->n_h].text = strdup(text);
	if (!h[m->n_h].name || !h[m->n_h].text) {
		free(h[m->n_h].name);
		free(h[m->n_h].text);
		return -ENOMEM;
	}
	m->n_h++;
	return 0;
}

static int series_cmp(const void *a, const void *b)
{
	const struct series *const *x = a, *const *y = b;
	int c = strcmp((*x)->name, (*y)->name);

	return c ? c : strcmp((*x)->labels, (*y)->labels);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

void metrics__write(const struct metrics *m, FILE *out)
{
	/* sorted through pointers: the snapshot itself is const, and
	 * Prometheus wants all samples of a name in one block */
	const struct series **p = m->n ? calloc(m->n, sizeof(*p)) : NULL;

	if (m->n && !p)
		return;
	for (size_t i = 0; i < m->n; i++)
		p[i] = &m->v[i];
	qsort(p, m->n, sizeof(*p), series_cmp);
	for (size_t i = 0; i < m->n; i++) {
		const struct series *s = p[i];

		if (i == 0 || strcmp(p[i - 1]->name, s->name)) {
			for (size_t h = 0; h < m->n_h; h++)
				if (!strcmp(m->h[h].name, s->name))
					fprintf(out, "# HELP %s %s\n", s->name, m->h[h].text);
			fprintf(out, "# TYPE %s %s\n", s->name,
				ends_with(s->name, "_total") ? "counter" : "gauge");
		}
		if (s->labels[0])
			fprintf(out, "%s{%s} %.17g\n", s->name, s->labels, s->value);
		else
			fprintf(out, "%s %.17g\n", s->name, s->value);
	}
	free(p);
}

static size_t put_label(char *buf, size_t size, size_t at, const char *k, const char *v)
{
	/* room for the escape, the closing quote and the NUL, or stop */
#define PUT(c)                                                                                     \
	do {                                                                                       \
		if (at + 1 < size)                                                                 \
			buf[at++] = (c);                                                           \
	} while (0)
	if (at)
		PUT(',');
	for (; *k; k++)
		PUT(*k);
	PUT('=');
	PUT('"');
	for (; v && *v; v++) {
		size_t need = (*v == '\\' || *v == '"' || *v == '\n') ? 2 : 1;

		/* the character (escaped), then room for the quote and the NUL */
		if (at + need + 2 > size)
			break;
		if (*v == '\\' || *v == '"') {
			buf[at++] = '\\';
			buf[at++] = *v;
		} else if (*v == '\n') {
			buf[at++] = '\\';
			buf[at++] = 'n';
		} else {
			buf[at++] = *v;
		}
	}
	PUT('"');
#undef PUT
	return at;
}

char *metrics_labels(char *buf, size_t size, const char *k1, const char *v1, const char *k2,
		     const char *v2)
{
	size_t at = 0;

	if (!size)
		return buf;
	at = put_label(buf, size, at, k1, v1);
	if (k2)
		at = put_label(buf, size, at, k2, v2);
	buf[at < size ? at : size - 1] = 0;
	return buf;
}

int metrics__merge(struct metrics *dst, const struct metrics *src)
{
	int err;

	for (size_t i = 0; i < src->n_h; i++)
		if ((err = metrics__help(dst, src->h[i].name, src->h[i].text)))
			return err;
	for (size_t i = 0; i < src->n; i++)
		if ((err = metrics__add(dst, src->v[i].name, src->v[i].labels, src->v[i].value)))
			return err;
	return 0;
}
