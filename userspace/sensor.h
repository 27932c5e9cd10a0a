/* SPDX-License-Identifier: Apache-2.0 */
/* sensor.h: the sensor's event loop, wiring kernel events to output. */
#ifndef WACHT_SENSOR_H
#define WACHT_SENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "bus_nats.h"
#include "tls.h"

struct sensor_config {
	const char *output;             /* NULL = stdout */
	bool verbose;                   /* also fork, exit and cgroup events */
	bool capture_host;
	bool capture_file;
	bool capture_net;
	const char *const *file_prefixes; /* NULL-terminated */
	const char *const *runtime_roots; /* NULL-terminated */
	const char *node;               /* NULL = $NODE_NAME or host name */
	unsigned stats_interval;        /* seconds, 0 = only at exit */
	unsigned flow_interval;         /* seconds between conversation reports, 0 = none */
	unsigned peer_grace;            /* --nats: a silent node leaves the peer map (0: 30 s) */
	const char *ready_file;
	bool debug_bpf;
	bool events;                    /* also print the captured events */
	const char *const *rules;       /* NULL-terminated rule files/directories;
					 * empty: the built-in default rules */
	const char *default_rules;      /* the built-in default rules (YAML) */
	size_t default_rules_len;
	const char *state_dir;          /* learned profiles; NULL: not kept */
	unsigned window;                /* seconds identical findings are aggregated */
	bool alert_only;                /* Protect mode never kills, refuses or blocks */
	/* findings stream (shipper.h); neither aggregator nor nats.url:
	 * findings are only printed */
	const char *aggregator;         /* HOST:PORT */
	struct tls_config tls;
	struct bus_opts nats;           /* nats.url: JetStream instead of aggregator */
	const char *spool_dir;
	uint64_t spool_max;             /* bytes; 0: the default */
	const char *health_listen;      /* ADDR:PORT of /healthz/live, /healthz/ready
					 * and /metrics (health.h); NULL: none */
};

/* Runs until SIGINT/SIGTERM. Returns the process exit status. */
int sensor_run(const struct sensor_config *cfg);

#endif
