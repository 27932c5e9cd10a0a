/* SPDX-License-Identifier: Apache-2.0 */
/* api.h: the aggregator's HTTP JSON API (libmicrohttpd), serving the store
 * to wachtctl and to tools; routes, tokens and scopes in api.c. */
#ifndef WACHT_API_H
#define WACHT_API_H

#include <stdint.h>
#include <stdio.h>

struct api_config {
	/* Numeric IPv4 or IPv6 address to listen on; NULL: 127.0.0.1. */
	const char *listen_addr;
	uint16_t port;             /* 0: any free port (see api__port) */
	const char *store_path;    /* the aggregator's SQLite store (WAL) */
	const char *tokens_path;   /* NAME SHA256 SCOPE per line (api_tokens.h) */
	/* PEM files: HTTPS when both are given (libmicrohttpd with GnuTLS). */
	const char *tls_cert, *tls_key;
	unsigned threads;          /* request threads; 0: 4 */
	/* A sensor seen within this is counted as connected in /metrics
	 * unless the ingest side sets wacht_sensors_connected itself;
	 * 0: 5 minutes. */
	int64_t sensor_active_ns;
};

/*
 * Starts serving in libmicrohttpd's own threads, each request on a store
 * connection of its own to config->store_path (opened on demand, kept in a
 * small pool: WAL readers never block the ingest writer; acks write). The
 * config's strings are copied. One API per process. 0, or -errno after
 * printing "api: failed to VERB OBJECT: reason" to stderr (tokens file,
 * store, TLS files, listen address; -EALREADY when already started,
 * -ENOTSUP for TLS without TLS support).
 */
int api__start(const struct api_config *config);
/* Stops serving, waits for requests in flight, closes the store
 * connections. Harmless when not started. */
void api__stop(void);
/* Reads the tokens file again (e.g. on SIGHUP: a revoked token stops
 * working without a restart); requests in flight finish with the old set.
 * A file that does not load leaves the old tokens in use. 0, -EINVAL
 * (printed), -ENOENT when not started. */
int api__reload_tokens(void);
/* The port listened on (useful with port 0), or 0 when not started. */
uint16_t api__port(void);

/*
 * Metrics for /metrics, from anywhere in the process (the ingest loop),
 * started or not; thread-safe. name is a Prometheus metric name, labels
 * NULL or preformatted `key="value",...` (values escaped by the caller).
 * A name ending in _total is a counter, anything else a gauge.
 * add: adds value to the series (created at 0); set: replaces it.
 * help: the # HELP text of name (optional). 0 or -ENOMEM / -EINVAL (bad
 * name).
 */
int api__metric_add(const char *name, const char *labels, double value);
int api__metric_set(const char *name, const char *labels, double value);
int api__metric_help(const char *name, const char *help);
/* Every registered series in Prometheus text format, grouped by name. */
void api_metrics_write(FILE *out);
/* Forgets every series (tests). */
void api_metrics_reset(void);

#endif /* WACHT_API_H */
