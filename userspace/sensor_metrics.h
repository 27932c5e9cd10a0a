/* SPDX-License-Identifier: Apache-2.0 */
/* sensor_metrics.h: the sensor's Prometheus series, taken from its stats
 * line (so /metrics and the stats line never disagree), and its liveness
 * and readiness verdicts. Pure: no kernel, no sockets. */
#ifndef WACHT_SENSOR_METRICS_H
#define WACHT_SENSOR_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

/* The event loop turns at least every WACHT_DRAIN_MS (50 ms) and its timer
 * fires every second: a loop that has not turned for 5 s is stuck (a
 * blocked write, a hang), not busy. */
#define HEALTH_LIVE_MS 5000

/* Every series of one stats object (the "kind":"stats" line, as JSON) into
 * m. 0, or -EINVAL when it is not a stats object, -ENOMEM. */
int sensor_metrics_from_stats(struct metrics *m, const char *json, size_t len);

/* One finding record reported: wacht_findings_total{name,action} += 1. */
int sensor_metrics_finding(struct metrics *m, const char *name, const char *action);

struct health_state {
	bool started;	       /* programs attached, containers scanned, policy compiled */
	size_t programs;       /* BPF links attached */
	uint64_t last_turn_ms; /* CLOCK_MONOTONIC of the last turn (after a drain); 0: none */
};

/* The verdicts, as an HTTP status (200 or 503) and a JSON body (one line)
 * written into body. */
int health_live(const struct health_state *st, uint64_t now_ms, char *body, size_t size);
int health_ready(const struct health_state *st, uint64_t now_ms, char *body, size_t size);

#endif
