/* SPDX-License-Identifier: Apache-2.0 */
/* aggregator.h: wacht-aggregator's ingest server: one epoll loop accepting
 * sensors over (mutual) TLS and storing their findings, and (--nats) a
 * JetStream consumer thread storing what sensors published there. */
#ifndef WACHT_AGGREGATOR_H
#define WACHT_AGGREGATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "bus_nats.h"
#include "tls.h"

struct agg_config {
	const char *listen;        /* ADDR:PORT; NULL: no TLS listener (nats only) */
	struct tls_config tls;
	const char *store_path;    /* SQLite file */
	unsigned retention_days;   /* 0: no age limit */
	uint64_t retention_rows;   /* 0: no row limit */
	unsigned graph_retention_days; /* conversations; 0: only retention_days */
	size_t max_frame;          /* 0: WIRE_FRAME_MAX */
	unsigned max_conns;        /* 0: 4096 */
	unsigned hello_timeout_s;  /* a connection without a hello by then is closed; 0: 10 */
	unsigned stats_interval_s; /* a stats line on stderr; 0: never */
	/* a closed sensor's endpoints leave the peer map this long after
	 * (peer_grace_set false: 60 s) */
	unsigned peer_grace_s;
	bool peer_grace_set;
	void (*on_sighup)(void);   /* called on SIGHUP (in the loop); may be NULL */
	/* nats.url: also consume the durable pull consumer (agg_bus.h) */
	struct bus_opts nats;
};

/*
 * The server is named agg_server, not aggregator: struct aggregator is the
 * sensor's aggregation of identical findings (finding.h).
 *
 * agg_server__new opens the store and the listening socket (so that errors
 * in the options show before anything runs); agg_server__run serves until
 * SIGINT or SIGTERM (which it blocks and reads through a signalfd), then
 * closes every connection. Sensors resend what was not acknowledged.
 */
struct agg_server;
/* NULL on failure, having said why on stderr. */
struct agg_server *agg_server__new(const struct agg_config *cfg);
/* 0 after a signal, 1 on a fatal error. */
int agg_server__run(struct agg_server *srv);
void agg_server__free(struct agg_server *srv); /* accepts NULL */

#endif /* WACHT_AGGREGATOR_H */
