// SPDX-License-Identifier: Apache-2.0
/* api_metrics.c: the process-wide registry behind /metrics (see api.h): one
 * metrics.h snapshot, created on first use, behind a lock. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "api.h"
#include "metrics.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics *registry;

/* The registry, under lock. NULL on ENOMEM. */
static struct metrics *registry_get(void)
{
	if (!registry)
		registry = metrics__new();
	return registry;
}

static int update(const char *name, const char *labels, double value, bool set)
{
	struct metrics *m;
	int err = -ENOMEM;

	pthread_mutex_lock(&lock);
	m = registry_get();
	if (m)
		err = set ? metrics__set(m, name, labels, value)
			  : metrics__add(m, name, labels, value);
	pthread_mutex_unlock(&lock);
	return err;
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
	struct metrics *m;
	int err = -ENOMEM;

	pthread_mutex_lock(&lock);
	m = registry_get();
	if (m)
		err = metrics__help(m, name, text);
	pthread_mutex_unlock(&lock);
	return err;
}

void api_metrics_write(FILE *out)
{
	pthread_mutex_lock(&lock);
	if (registry)
		metrics__write(registry, out);
	pthread_mutex_unlock(&lock);
}

void api_metrics_reset(void)
{
	pthread_mutex_lock(&lock);
	metrics__free(registry);
	registry = NULL;
	pthread_mutex_unlock(&lock);
}
