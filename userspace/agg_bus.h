/* SPDX-License-Identifier: Apache-2.0 */
/* agg_bus.h: wacht-aggregator's NATS JetStream consumer (--nats): one
 * thread with its own store connection, beside the TLS event loop. */
#ifndef WACHT_AGG_BUS_H
#define WACHT_AGG_BUS_H

#include "bus_ingest.h"
#include "bus_nats.h"

/*
 * Why a thread and not the epoll loop: libnats offers no fd to wait on for
 * a pull consumer (natsSubscription_Fetch blocks), and a store connection
 * is used by one thread at a time (store.h), so the consumer gets its own
 * connection to the same store (SQLite: WAL, writers take turns within the
 * busy timeout; PostgreSQL: another session). Each message is committed by
 * store__add_findings before bus_sub__fetch acknowledges it; a replica
 * killed between the two leaves the message to be redelivered after the
 * ack wait, and the store ignores the finding ids it has.
 *
 * agg_bus__new connects and binds the durable (errors on stderr, before
 * anything runs); agg_bus__start runs the thread (call it with SIGINT and
 * SIGTERM blocked: the thread inherits the mask); agg_bus__stop asks it to
 * finish the fetch in hand (at most FETCH_WAIT_MS) and joins it.
 */
struct agg_bus;
/* NULL on failure, having said why on stderr. */
struct agg_bus *agg_bus__new(const struct bus_opts *o, const char *store_url);
int agg_bus__start(struct agg_bus *b); /* 0 or -errno */
void agg_bus__stop(struct agg_bus *b);
void agg_bus__free(struct agg_bus *b); /* stops it; accepts NULL */
/* A copy of the counters (any thread). bad: undecodable messages
 * terminated; failed: not acknowledged (store error, lost ack). */
void agg_bus__stats(struct agg_bus *b, struct bus_ingest_stats *st, uint64_t *bad,
		    uint64_t *failed);

#endif /* WACHT_AGG_BUS_H */
