// SPDX-License-Identifier: Apache-2.0
/* api_metrics.c: the process-wide registry behind /metrics (see api.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

struct series {
	char *name, *labels; /* labels "" when none */
	double value;
};

struct help {
	char *name, *text;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct series *series;
static size_t n_series;
static struct help *helps;
static size_t n_helps;

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

/* The series (created at 0), under lock. NULL on ENOMEM. */
static struct series *series_get(const char *name, const char *labels)
{
	struct series *v;

	labels = labels ? labels : "";
	for (size_t i = 0; i < n_series; i++)
		if (!strcmp(series[i].name, name) && !strcmp(series[i].labels, labels))
			return &series[i];
	v = reallocarray(series, n_series + 1, sizeof(*v));
	if (!v)
		return NULL;
	series = v;
	v = &series[n_series];
	v->name = strdup(name);
	v->labels = strdup(labels);
	v->value = 0;
	if (!v->name || !v->labels) {
		free(v->name);
		free(v->labels);
		return NULL;
	}
	n_series++;
	return v;
}

static int update(const char *name, const char *labels, double value, bool set)
{
	struct series *s;

	if (!name_ok(name))
		return -EINVAL;
	pthread_mutex_lock(&lock);
	s = series_get(name, labels);
	if (s)
		s->value = set ? value : s->value + value;
	pthread_mutex_unlock(&lock);
	return s ? 0 : -ENOMEM;
}

int api__metric_add(const char *name, const char *labels, double value)
{
	return update(name, labels, value, false);
}

int api__metric_set(const char *name, const char *labels, double value)
{
	return update(name, labels, value, true);
}

int api__metric_help(const char *name, const char *text)
{
	struct help *v;
	int err = 0;

	if (!name_ok(name) || !text || strchr(text, '\n'))
		return -EINVAL;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_helps; i++) {
		if (!strcmp(helps[i].name, name))
			goto out;
	}
	v = reallocarray(helps, n_helps + 1, sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		goto out;
	}
	helps = v;
	helps[n_helps].name = strdup(name);
	helps[n_helps].text = strdup(text);
	if (!helps[n_helps].name || !helps[n_helps].text) {
		free(helps[n_helps].name);
		free(helps[n_helps].text);
		err = -ENOMEM;
		goto out;
	}
	n_helps++;
out:
	pthread_mutex_unlock(&lock);
	return err;
}

static int series_cmp(const void *a, const void *b)
{
	const struct series *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->labels, y->labels);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

void api_metrics_write(FILE *out)
{
	pthread_mutex_lock(&lock);
	/* Prometheus wants one block (HELP, TYPE, samples) per name */
	qsort(series, n_series, sizeof(*series), series_cmp);
	for (size_t i = 0; i < n_series; i++) {
		const struct series *s = &series[i];

		if (i == 0 || strcmp(series[i - 1].name, s->name)) {
			for (size_t h = 0; h < n_helps; h++)
				if (!strcmp(helps[h].name, s->name))
					fprintf(out, "# HELP %s %s\n", s->name, helps[h].text);
			fprintf(out, "# TYPE %s %s\n", s->name,
				ends_with(s->name, "_total") ? "counter" : "gauge");
		}
		if (s->labels[0])
			fprintf(out, "%s{%s} %.17g\n", s->name, s->labels, s->value);
		else
			fprintf(out, "%s %.17g\n", s->name, s->value);
	}
	pthread_mutex_unlock(&lock);
}

void api_metrics_reset(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_series; i++) {
		free(series[i].name);
		free(series[i].labels);
	}
	free(series);
	series = NULL;
	n_series = 0;
	for (size_t i = 0; i < n_helps; i++) {
		free(helps[i].name);
		free(helps[i].text);
	}
	free(helps);
	helps = NULL;
	n_helps = 0;
	pthread_mutex_unlock(&lock);
}
