// SPDX-License-Identifier: Apache-2.0
/* agg_bus.c: the aggregator's JetStream consumer thread (see agg_bus.h). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agg_bus.h"
#include "clock.h"

/* Messages per fetch, and how long a fetch waits for the first: also how
 * long agg_bus__stop may wait. */
#define FETCH_MAX 64
#define FETCH_WAIT_MS 500
/* After a failed fetch (NATS reconnecting), before the next. */
#define FETCH_RETRY_MS 500

struct agg_bus {
	struct bus_sub *sub;
	struct store *st;
	struct bus_ingest bi;
	const char *url;
	pthread_t thread;
	bool running;
	int stop;                 /* __atomic */
	pthread_mutex_t lock;     /* the copy below, for agg_bus__stats */
	struct bus_ingest_stats copy;
	uint64_t bad, failed;
};

struct agg_bus *agg_bus__new(const struct bus_opts *o, const char *store_url)
{
	struct agg_bus *b = calloc(1, sizeof(*b));
	char *err = NULL;

	if (!b) {
		fprintf(stderr, "wacht-aggregator: out of memory\n");
		return NULL;
	}
	pthread_mutex_init(&b->lock, NULL);
	b->url = o->url;
	b->st = store__open(store_url, NULL, &err);
	if (!b->st) {
		fprintf(stderr, "wacht-aggregator: %s\n", err ? err : "store: out of memory");
		free(err);
		goto fail;
	}
	b->bi.st = b->st;
	b->sub = bus_sub__new(o, &err);
	if (!b->sub) {
		fprintf(stderr, "wacht-aggregator: %s\n", err ? err : strerror(errno));
		free(err);
		goto fail;
	}
	return b;
fail:
	agg_bus__free(b);
	return NULL;
}

/* On the consumer thread, for each message. */
static int handle(void *ctx, const Wacht__V1__Envelope *env, const char *msg_id)
{
	struct agg_bus *b = ctx;
	int rc = bus_ingest__envelope(&b->bi, env, msg_id, clock_real_ns());

	if (rc)
		fprintf(stderr, "wacht-aggregator: NATS: %s%s\n", b->bi.error,
			rc == 1 ? "; dropped (acknowledged, not stored)"
				: "; not acknowledged, it will be delivered again");
	return rc == 1 ? 0 : rc;
}

static void *consume(void *arg)
{
	struct agg_bus *b = arg;
	bool failing = false;

	while (!__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) {
		int n = bus_sub__fetch(b->sub, FETCH_MAX, FETCH_WAIT_MS, handle, b);

		if (n < 0) {
			/* libnats reconnects by itself; said once per outage */
			if (!failing)
				fprintf(stderr, "wacht-aggregator: NATS %s: failed to fetch: %s; "
						"retrying\n", b->url, strerror(-n));
			failing = true;
			struct timespec ts = { 0, FETCH_RETRY_MS * 1000000L };
			nanosleep(&ts, NULL);
		} else if (failing) {
			fprintf(stderr, "wacht-aggregator: NATS %s: fetching again\n", b->url);
			failing = false;
		}
		pthread_mutex_lock(&b->lock);
		b->copy = b->bi.stats;
		b->bad = bus_sub__bad(b->sub);
		b->failed = bus_sub__failed(b->sub);
		pthread_mutex_unlock(&b->lock);
	}
	return NULL;
}

int agg_bus__start(struct agg_bus *b)
{
	int rc = pthread_create(&b->thread, NULL, consume, b);

	if (rc)
		return -rc;
	b->running = true;
	return 0;
}

void agg_bus__stop(struct agg_bus *b)
{
	if (!b || !b->running)
		return;
	__atomic_store_n(&b->stop, 1, __ATOMIC_RELEASE);
	pthread_join(b->thread, NULL);
	b->running = false;
}

void agg_bus__stats(struct agg_bus *b, struct bus_ingest_stats *st, uint64_t *bad,
		    uint64_t *failed)
{
	pthread_mutex_lock(&b->lock);
	*st = b->copy;
	*bad = b->bad;
	*failed = b->failed;
	pthread_mutex_unlock(&b->lock);
}

void agg_bus__free(struct agg_bus *b)
{
	if (!b)
		return;
	agg_bus__stop(b);
	bus_sub__free(b->sub);
	store__close(b->st);
	pthread_mutex_destroy(&b->lock);
	free(b);
}
