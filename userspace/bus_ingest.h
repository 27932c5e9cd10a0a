/* SPDX-License-Identifier: Apache-2.0 */
/* bus_ingest.h: what an aggregator replica does with one message of the
 * NATS JetStream stream (an Envelope and its Nats-Msg-Id): the store calls,
 * and whether the message may be acknowledged. No NATS in here, so it is
 * unit-tested against a real store directly. */
#ifndef WACHT_BUS_INGEST_H
#define WACHT_BUS_INGEST_H

#include <stdint.h>

#include "store.h"
#include "wacht.pb-c.h" /* generated from proto/wacht.proto */

struct bus_ingest_stats {
	uint64_t messages;   /* handled and acknowledgeable (rejected ones too) */
	uint64_t hellos;     /* SensorHellos stored */
	uint64_t batches;    /* FindingBatches stored */
	uint64_t findings;   /* in those batches */
	uint64_t stored;     /* of those, new (not seen by id before) */
	uint64_t rejected;   /* acknowledged without storing: see below */
	uint64_t flow_batches; /* FlowBatches stored (or repeats skipped) */
	uint64_t flow_records; /* records added by them (repeats add none) */
};

/*
 * The message id names the sensor: "<sensor_id>:<batch_seq>" for a batch,
 * "<sensor_id>:hello-<start ns>" for a hello (bus_nats.h). As on a TLS
 * connection (ingest.h), a sensor writes only its own findings: a batch
 * with a finding whose id does not start with "<sensor_id>:", a hello for
 * another sensor id, a message id without a sensor id, or an envelope only
 * the aggregator sends can never be stored; it is rejected (counted, said
 * in bi->error, and acknowledged so that it does not come back forever).
 * A FlowBatch ("<sensor_id>:flows-<start ns>-<seq>") must be for the
 * sensor's node and pass store_flows_check; the store skips a batch it
 * stored before (a redelivery).
 * A batch's spool_dropped updates the sensor's drop counter; a sensor whose
 * hello is not stored yet (another replica has it in hand) gets it with a
 * later batch, the counter being cumulative.
 */
struct bus_ingest {
	struct store *st;     /* borrowed */
	struct bus_ingest_stats stats;
	char error[256];      /* why the last message was rejected or failed */
};

/* 0: committed - acknowledge the message; 1: rejected (bi->error says
 * why) - acknowledge it too; -errno: the store failed (bi->error says how)
 * - have it redelivered. now: the receive time. */
int bus_ingest__envelope(struct bus_ingest *bi, const Wacht__V1__Envelope *env,
			 const char *msg_id, int64_t now);

#endif /* WACHT_BUS_INGEST_H */
