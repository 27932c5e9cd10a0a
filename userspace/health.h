/* SPDX-License-Identifier: Apache-2.0 */
/* health.h: the sensor's HTTP endpoint for Kubernetes and Prometheus
 * (--health-listen): GET /healthz/live, /healthz/ready and /metrics, served
 * by libmicrohttpd's own thread from what the event loop publishes, so a
 * stuck loop is seen from outside it. */
#ifndef WACHT_HEALTH_H
#define WACHT_HEALTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "metrics.h"

struct health;

/* Listens on ADDR:PORT (IPv4 address, or [IPv6]:PORT). NULL with *err
 * (the caller frees) when it cannot. */
struct health *health__start(const char *listen, char **err);
void health__free(struct health *h); /* stops the thread; accepts NULL */

/* ADDR:PORT or [ADDR6]:PORT (numeric) into ss: 0 or -EINVAL. */
int health_parse_listen(const char *s, struct sockaddr_storage *ss);

/* Programs attached, containers scanned, policy compiled: from now on the
 * loop's turns decide. */
void health__started(struct health *h, size_t programs);
/* The loop turned (after a drain of the ring buffer). Lock-free. */
void health__turn(struct health *h, uint64_t now_ms);
/* The metrics snapshot /metrics serves from now on; takes ownership. */
void health__publish(struct health *h, struct metrics *snapshot);

#endif
