/* SPDX-License-Identifier: Apache-2.0 */
/* shipper.h: the sensor's side of the findings stream: batches findings,
 * keeps them in the on-disk spool until they are acknowledged, and sends
 * them, from the sensor's epoll loop, either over TLS to one aggregator or
 * to NATS JetStream (the scale-out path), reconnecting with backoff. */
#ifndef WACHT_SHIPPER_H
#define WACHT_SHIPPER_H

#include <stddef.h>
#include <stdint.h>

#include "bus_nats.h"
#include "finding.h"
#include "format.h"
#include "jsonw.h"
#include "tls.h"

#define SHIPPER_BATCH_FINDINGS 512        /* findings per batch, at most */
#define SHIPPER_BATCH_BYTES (256u << 10)  /* packed bytes per batch, about */
#define SHIPPER_BATCH_MS 200              /* a batch is cut this long after its first finding */
#define SHIPPER_BACKOFF_MIN_MS 500
#define SHIPPER_BACKOFF_MAX_MS 30000
#define SHIPPER_SPOOL_MAX (64ull << 20)
/* Finding ids are "<sensor_id>:<batch_seq * SHIPPER_ID_STRIDE + index>". */
#define SHIPPER_ID_STRIDE 1000
_Static_assert(SHIPPER_BATCH_FINDINGS < SHIPPER_ID_STRIDE, "index fits the id stride");

/* Name of the finding that reports spool drops. */
#define FN_FINDINGS_DROPPED "Sensor.Findings.Dropped"

struct Wacht__V1__PeerMap;
struct Wacht__V1__SensorEndpoints;
struct shipper_config {
	const char *aggregator;  /* HOST:PORT (TLS); unused when nats.url is set */
	struct tls_config tls;
	/* nats.url set: publish to JetStream instead (bus_nats.h). A batch
	 * leaves the spool when JetStream acknowledged it and every batch
	 * before it. */
	struct bus_opts nats;
	const char *spool_dir;   /* created if missing (one level) */
	uint64_t spool_max;      /* bytes; 0: SHIPPER_SPOOL_MAX */
	const char *node;
	/* 0: the SHIPPER_BATCH_* defaults */
	size_t batch_findings;
	size_t batch_bytes;
	uint64_t batch_ms;
	/* Where the drop report goes: the sensor's finding sink (which prints
	 * it and hands it back to shipper__add, like every finding). */
	finding_sink sink;
	void *sink_ctx;
	/* Every PeerMap the aggregator sends (TLS only; the message is
	 * borrowed for the call); may be NULL. */
	void (*peers)(void *ctx, const struct Wacht__V1__PeerMap *m);
	void *peers_ctx;
};

/*
 * Sensor id: "<node>-<12 hex digits>", the digits random, made once and kept
 * in <spool_dir>/sensor-id. Batch sequence numbers are the spool's, which
 * never repeat while the spool directory lives (they survive restarts), so
 * "<sensor_id>:<batch_seq * 1000 + index>" is unique for the life of the
 * spool; a new spool directory is a new sensor id, so ids of a wiped spool
 * never collide with what the aggregator stored before.
 *
 * NULL on failure with *err "shipper: failed to VERB OBJECT: reason" (the
 * caller frees). Free with shipper__free (which closes the batch being
 * filled into the spool: it is sent after the next start).
 */
struct shipper;
struct shipper *shipper__new(const struct shipper_config *cfg, char **err);
void shipper__free(struct shipper *sh); /* accepts NULL */

/* An epoll fd to watch for EPOLLIN: call shipper__poll when ready. */
int shipper__fd(const struct shipper *sh);

/* Adds a finding to the current batch and writes its id (NUL-terminated,
 * at most len bytes) to id. now_ms: CLOCK_MONOTONIC milliseconds. 0, or
 * -errno (the finding is then not shipped and counted as lost). */
int shipper__add(struct shipper *sh, const struct format_ctx *fc, const struct finding *f,
		 uint64_t now_ms, char *id, size_t len);
/* Does the I/O that is ready and what is due: cuts the batch when it is
 * SHIPPER_BATCH_MS old, connects, sends, reads acks, reconnects. Call on
 * shipper__fd readiness and at least every 50 ms. */
void shipper__poll(struct shipper *sh, uint64_t now_ms);
/* The newest learned profile of group (YAML), sent to the aggregator as a
 * LearnedProfile now if connected, and again after every reconnect (a
 * profile is state, not an event: only the newest matters, so it is not
 * spooled); over NATS published like the hello. 0 or -ENOMEM. */
int shipper__learned(struct shipper *sh, const char *group, const char *yaml);
struct Wacht__V1__FlowBatch;
/* Records per FlowBatch: ~500 bytes each with two container ends, so a
 * batch stays well under NATS's default 1 MiB message and the aggregator's
 * frame limit. */
#define SHIPPER_FLOW_RECORDS 1000
/* Sends a FlowBatch now if the TLS stream is up, or publishes it to NATS
 * if the publisher is connected, in FlowBatches of at most
 * SHIPPER_FLOW_RECORDS records (batch_seq is set here, one per FlowBatch;
 * b is left as it came); flows are a periodic report, not events: not
 * spooled, not acknowledged. 0, -ENOTCONN (dropped, counted in
 * shipper_stats.flows_dropped), another -errno from the publish (dropped
 * and counted too) or -ENOMEM. */
int shipper__flows(struct shipper *sh, struct Wacht__V1__FlowBatch *b);
/* This node's containers and addresses, sent to the aggregator now if
 * connected over TLS and again after every reconnect (state, not events:
 * only the newest matters; not spooled), if its ServerHello says it takes
 * them (peer_map). Over NATS not sent here (see peer_bus.h). 0 or -ENOMEM
 * (the previous one stays). */
int shipper__endpoints(struct shipper *sh, const struct Wacht__V1__SensorEndpoints *se);
/* Cuts the current batch into the spool now (if it has findings). */
void shipper__flush(struct shipper *sh);
/* At exit: flush, then poll for up to timeout_ms until everything spooled
 * is acknowledged (while connected). */
/*
 * With --nats (cfg.nats.url): the publisher is made on the loop's thread
 * when due (a connect attempt blocks the loop at most for libnats's connect
 * timeout, 2 s, only while NATS is unreachable). Spooled batches are
 * published in order, at most SHIPPER_NATS_WINDOW unacknowledged at once.
 * JetStream's acks arrive on a libnats thread, which only posts them to an
 * ack_handoff (an eventfd in shipper__fd's epoll set); shipper__poll takes
 * them and acks the spool. A failed publish (no ack within 10 s, NATS gone,
 * no stream) closes the publisher; after the backoff (shipper_backoff_ms) a
 * new one republishes from the first unacknowledged batch. The Nats-Msg-Id
 * "<sensor_id>:<batch_seq>" makes JetStream store a resend once (within its
 * 10 minute window), and the store ignores finding ids it has (beyond).
 */
#define SHIPPER_NATS_WINDOW 256
void shipper__drain(struct shipper *sh, uint64_t timeout_ms);

struct shipper_stats {
	bool connected;        /* the aggregator answered our hello (NATS:
				* the publisher is up and not failing) */
	uint64_t findings;     /* added */
	uint64_t batches;      /* cut into the spool */
	uint64_t sent;         /* batches written to a connection (resends too) */
	uint64_t acked;        /* batches acknowledged */
	uint64_t dropped;      /* batches dropped (spool full, or failed to spool) */
	uint64_t spool_batches, spool_bytes; /* waiting for an ack */
	uint64_t connects;     /* connections that got to the hello */
	uint64_t failures;     /* connection attempts or connections that failed */
	uint64_t flows_sent, flows_dropped; /* FlowBatches */
	uint64_t endpoints_sent;  /* SensorEndpoints written to a connection */
	uint64_t peer_maps;       /* PeerMaps received */
};
void shipper__stats(const struct shipper *sh, struct shipper_stats *st);
/* The stats as an "aggregator" object member of w ("transport": "tls" or
 * "nats", "address": HOST:PORT or the NATS URL). */
void shipper__stats_json(const struct shipper *sh, struct jsonw *w);
const char *shipper__sensor_id(const struct shipper *sh);

/* Reconnect delay after `failures` consecutive failures (1 for the first):
 * base = min(SHIPPER_BACKOFF_MIN_MS * 2^(failures-1), SHIPPER_BACKOFF_MAX_MS),
 * delay in [base/2, base], placed by rnd: "equal jitter", so that sensors
 * that lost the aggregator at one moment do not all come back at once. */
uint64_t shipper_backoff_ms(unsigned failures, uint32_t rnd);

#endif /* WACHT_SHIPPER_H */
