/* SPDX-License-Identifier: Apache-2.0 */
/* peer_bus.h: peers on other nodes without an aggregator (--nats): every
 * sensor publishes its SensorEndpoints on core NATS and builds the
 * cluster's PeerMap from the others' (peermap.h), as wacht-aggregator
 * would. */
#ifndef WACHT_PEER_BUS_H
#define WACHT_PEER_BUS_H

#include <stdint.h>

#include "bus_nats.h"
#include "peermap.h"
#include "wacht.pb-c.h"

/*
 * Subject "<stream>.endpoints.<node>" (stream: bus_opts.stream, "WACHT";
 * the node made one token as bus_subject_format does), core NATS: not
 * stored in JetStream (the stream's subjects are wacht.findings.>), as
 * endpoints are state that each sensor publishes again every grace/3
 * seconds and on change. A node not heard from for `grace` seconds is
 * forgotten. Messages that are not a valid SensorEndpoints of the node in
 * their subject are dropped and counted.
 */
#define PEER_BUS_SUBJECT_TOKEN "endpoints"
#define PEER_BUS_DEFAULT_GRACE_S 30

/* "<stream>.endpoints.<node>" in buf; 0, -EINVAL (empty node) or
 * -ENAMETOOLONG. stream NULL: BUS_DEFAULT_STREAM. */
int peer_bus_subject(char *buf, size_t size, const char *stream, const char *node);

struct peer_bus_stats {
	uint64_t published, received, rejected;
	uint64_t nodes; /* other nodes heard from, in the map */
	bool connected;
};

struct peer_bus;
/* Does not connect: the first tick does (and every tick after a failure,
 * at most every grace/3 seconds). o and node are borrowed. grace 0:
 * PEER_BUS_DEFAULT_GRACE_S. NULL on ENOMEM. */
struct peer_bus *peer_bus__new(const struct bus_opts *o, const char *node, unsigned grace_s);
void peer_bus__free(struct peer_bus *pb); /* accepts NULL */
/* This node's endpoints (copied, packed), published now if connected and
 * again every grace/3 seconds. 0 or -ENOMEM. */
int peer_bus__announce(struct peer_bus *pb, const Wacht__V1__SensorEndpoints *se);
/* From the sensor's loop, once a second (now: CLOCK_MONOTONIC seconds):
 * connects if needed, republishes when due, merges what arrived, forgets
 * silent nodes, and calls apply with the merged map when it changed. */
void peer_bus__tick(struct peer_bus *pb, int64_t now,
		    void (*apply)(void *ctx, const Wacht__V1__PeerMap *m), void *ctx);
void peer_bus__stats(const struct peer_bus *pb, struct peer_bus_stats *st);

#endif /* WACHT_PEER_BUS_H */
