/* SPDX-License-Identifier: Apache-2.0 */
/* ingest.h: the aggregator's side of one sensor connection, as a pure state
 * machine: bytes from the sensor in, findings to the store, frames to send
 * back out. No sockets, so it is unit-tested and fuzzed directly. */
#ifndef WACHT_INGEST_H
#define WACHT_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * The protocol, per connection:
 *   sensor: SensorHello            (first frame, exactly once)
 *   aggregator: ServerHello
 *   sensor: FindingBatch ...       (batch_seq increasing on the connection)
 *   aggregator: Ack{batch_seq}     after the batch is committed to the store,
 *                                  so an acknowledged batch is durable
 *   sensor: FlowBatch ...          any time after the hello; stored
 *                                  (store__add_flows), never acknowledged
 *   sensor: LearnedProfile ...     any time after the hello; stored
 * A finding's id must start with "<sensor_id>:" of the hello: a sensor
 * cannot write (or suppress, ids being idempotent) another one's findings.
 *   sensor: SensorEndpoints        (any time after the hello: its node's
 *                                  containers and their addresses)
 *   aggregator: PeerMap            after the first SensorEndpoints, and
 *                                  when the merged map changes (the caller
 *                                  pushes those: ingest_conn__send_peers)
 * A sensor's endpoints are for the hello's node only.
 * Anything else (an oversized or undecodable frame, a first frame that is
 * not a hello, a second hello, a frame only the aggregator sends, a batch
 * out of order, a finding without the sensor's id, a FlowBatch that
 * store_flows_check refuses (e.g. for another node), endpoints of another
 * node, without a container or an address, with an address that is not 4
 * or 16 bytes, more than PEER_NODE_MAX of them) ends the connection.
 */
struct ingest_conn;

struct ingest_stats {
	uint64_t batches;       /* acknowledged */
	uint64_t findings;      /* received in acknowledged batches */
	uint64_t stored;        /* of those, new (stored or merged) */
	uint64_t flow_batches;  /* FlowBatches received and stored (or repeats) */
	uint64_t flow_records;  /* in those batches */
	uint64_t flow_stored;   /* of those, added (not in a repeated batch) */
	uint64_t endpoints;     /* SensorEndpoints accepted */
	uint64_t peer_maps;     /* PeerMaps queued to the sensor */
};

/* st is borrowed and must outlive the connection. max_frame: largest frame
 * payload accepted (0: WIRE_FRAME_MAX). NULL with errno = ENOMEM. */
struct ingest_conn *ingest_conn__new(struct store *st, size_t max_frame);
void ingest_conn__free(struct ingest_conn *ic); /* accepts NULL */

/* Feeds bytes read from the sensor; handles every complete frame (storing
 * batches with `now` as the receive time). 0, or a negative errno after
 * which the connection must be closed: ingest_conn__error() says why.
 * -EMSGSIZE oversized frame, -EBADMSG undecodable, -EPROTO out of protocol,
 * other values: the store failed (the batch is not acknowledged; the sensor
 * sends it again on its next connection). Errors are final. */
int ingest_conn__feed(struct ingest_conn *ic, const void *buf, size_t len, int64_t now);

/* Holds acks back until ingest_conn__release: for a caller that wraps the
 * stores of several connections in one transaction (store__begin) and may
 * acknowledge only after store__commit succeeded. */
void ingest_conn__hold_acks(struct ingest_conn *ic);
/* Acks held since the last release (0: none). */
size_t ingest_conn__held(const struct ingest_conn *ic);
/* Moves the held acks to the output (after the commit). 0 or -ENOMEM. */
int ingest_conn__release(struct ingest_conn *ic);

struct peer_map;
/* The cluster's peer map (borrowed, must outlive the connection): the
 * sensor's SensorEndpoints are put into it as owner's, and it gets the map
 * after its first. Without one, SensorEndpoints are checked and dropped. */
void ingest_conn__set_peers(struct ingest_conn *ic, struct peer_map *pm, uint64_t owner);
/* True if the sensor reads PeerMaps and its last is older than the map. */
bool ingest_conn__peers_due(const struct ingest_conn *ic);
/* Queues the map as one framed Envelope{peers} (peer_map__frame), if the
 * sensor reads PeerMaps: frame (NULL: made here) is used when it fits the
 * sensor's limit, else one is made for it. 0, or an error after which the
 * connection must be closed (ingest_conn__error). */
int ingest_conn__send_peers(struct ingest_conn *ic, const uint8_t *frame, size_t len);
/* The largest frame payload the sensor accepts (its hello's). */
size_t ingest_conn__sensor_max(const struct ingest_conn *ic);

/* Bytes to send to the sensor (framed ServerHello and Acks). */
const uint8_t *ingest_conn__output(const struct ingest_conn *ic, size_t *len);
void ingest_conn__consume(struct ingest_conn *ic, size_t n);

/* True once the sensor's hello was accepted. */
bool ingest_conn__hello_done(const struct ingest_conn *ic);
/* The hello's sensor id and node ("" before it; borrowed). */
const char *ingest_conn__sensor_id(const struct ingest_conn *ic);
const char *ingest_conn__node(const struct ingest_conn *ic);
/* Why the connection failed ("" while it has not; borrowed). */
const char *ingest_conn__error(const struct ingest_conn *ic);
const struct ingest_stats *ingest_conn__stats(const struct ingest_conn *ic);

#endif /* WACHT_INGEST_H */
