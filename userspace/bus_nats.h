/* SPDX-License-Identifier: Apache-2.0 */
/* bus_nats.h: the scale-out transport: sensors publish their Envelopes
 * (packed protobuf, one per NATS message) to a JetStream stream, and
 * aggregator replicas consume it through one shared durable pull consumer,
 * acknowledging each message only after the store committed it. */
#ifndef WACHT_BUS_NATS_H
#define WACHT_BUS_NATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wacht.pb-c.h" /* generated from proto/wacht.proto */

/*
 * The stream (created by whichever side connects first, when missing):
 *   name      opts.stream ("WACHT")
 *   subjects  "<prefix>.>", each sensor publishing on "<prefix>.<node>"
 *             (prefix "wacht.findings"; '.', '*', '>' and blanks in the
 *             node name become '_', as they would split the subject)
 *   storage   file, one replica (run a NATS cluster and raise it with
 *             `nats stream edit` for more)
 *   limits    kept 7 days or 1 GiB, whichever is reached first, oldest
 *             discarded: enough for the aggregators to be down for days
 *             without sensors spooling; consumed messages are kept too,
 *             so a new consumer (a rebuilt store) can read them again
 *   dedupe    Nats-Msg-Id = "<sensor_id>:<batch_seq>" within a 10 minute
 *             window: a batch republished after a lost publish ack is
 *             stored once in the stream; beyond the window the store's
 *             finding ids make the resend harmless
 * The consumer: durable opts.durable ("wacht-aggregator"), pull, explicit
 * acks, every message delivered to one replica at a time (JetStream's
 * queue semantics for a shared pull consumer), redelivered after
 * opts.ack_wait_ns (30 s) without an ack, forever (a store outage delays
 * findings, it does not lose them).
 */
#define BUS_DEFAULT_STREAM "WACHT"
#define BUS_DEFAULT_DURABLE "wacht-aggregator"
#define BUS_SUBJECT_PREFIX "wacht.findings"
#define BUS_MSG_ID_HEADER "Nats-Msg-Id"

struct bus_opts {
	const char *url;       /* nats://host:4222 (comma-separated list ok);
				* tls://host:4222 for TLS */
	const char *stream;    /* NULL: BUS_DEFAULT_STREAM */
	const char *durable;   /* NULL: BUS_DEFAULT_DURABLE (consumer only) */
	const char *name;      /* connection name shown by the server, or NULL */
	/* TLS to NATS (any set: TLS on): CA to verify the server, and the
	 * client certificate and key when the server asks for one. */
	const char *tls_ca, *tls_cert, *tls_key;
	int64_t ack_wait_ns;   /* consumer: 0 means 30 s */
};

/* "<prefix>.<node>" with the node made one subject token, in buf.
 * 0, or -ENAMETOOLONG if it does not fit, -EINVAL for an empty node. */
int bus_subject_format(char *buf, size_t size, const char *node);
/* "<sensor_id>:<batch_seq>", the JetStream dedupe id, in buf. 0 or
 * -ENAMETOOLONG / -EINVAL (empty sensor_id). */
int bus_msg_id_format(char *buf, size_t size, const char *sensor_id, uint64_t batch_seq);
/* The batch_seq at the end of a message id; 0 and -EINVAL if there is none. */
int bus_msg_id_seq(const char *msg_id, uint64_t *batch_seq);

/*
 * Publisher (the sensor's shipper, --nats URL):
 *
 *   pub = bus_pub__new(&opts, sensor_id, node, on_ack, ctx, &err);
 *   for each spooled batch, in order:
 *           bus_pub__publish(pub, batch_seq, packed_envelope, len);
 *   on_ack(ctx, batch_seq, acked_through, 0): spool__ack(acked_through)
 *   on_ack(ctx, batch_seq, acked_through, -errno): republish from
 *           acked_through + 1 (after a backoff)
 *
 * on_ack runs on a libnats thread, once per publish, when JetStream stored
 * the message (or already had it: a duplicate is success) or the publish
 * failed (no ack within 10 s, no stream, ...). acked_through is cumulative:
 * every batch published with batch_seq <= acked_through is stored, which is
 * what the spool's cumulative ack needs even if acks arrive out of order.
 * Only after that may a batch leave the spool. Batches are published in
 * increasing batch_seq; republishing a failed one is allowed.
 */
typedef void (*bus_ack_fn)(void *ctx, uint64_t batch_seq, uint64_t acked_through, int err);
struct bus_pub;
/* NULL on failure with errno set and *err (if err) a message
 * "bus: failed to VERB WHAT: reason" the caller frees. Creates the stream
 * when missing. Free with bus_pub__free. */
struct bus_pub *bus_pub__new(const struct bus_opts *o, const char *sensor_id, const char *node,
			     bus_ack_fn on_ack, void *ctx, char **err);
/* Waits up to timeout_ms for pending acks, then closes; accepts NULL. */
void bus_pub__free(struct bus_pub *p, int64_t timeout_ms);
/* Publishes one packed Envelope asynchronously (copied). 0 or -errno
 * (-EAGAIN: too many acks pending; -ENOTCONN while disconnected). */
int bus_pub__publish(struct bus_pub *p, uint64_t batch_seq, const void *data, size_t len);
/* Publishes a SensorHello Envelope asynchronously, with the message id
 * "<sensor_id>:hello-<start_time_unix_ns>" (one per sensor start; a resend
 * is deduplicated). Its ack reaches on_ack with batch_seq 0 and changes no
 * acked_through. 0 or -errno. */
int bus_pub__publish_hello(struct bus_pub *p, const Wacht__V1__SensorHello *h);
/* A learned profile (the newest of its group), like the hello: no batch,
 * nothing in the spool to settle. 0 or -errno. */
int bus_pub__publish_learned(struct bus_pub *p, const Wacht__V1__LearnedProfile *lp);
/* A FlowBatch, like the hello: not spooled, settles no batch. Its message
 * id "<sensor_id>:flows-<start_ns>-<batch_seq>" (start_ns: the sensor
 * process's start, as in its hello; FlowBatch.batch_seq restarts with the
 * process) makes JetStream store a republish once, and the aggregator's
 * store skips a redelivery. 0 or -errno. */
int bus_pub__publish_flows(struct bus_pub *p, const Wacht__V1__FlowBatch *b, int64_t start_ns);
/* Packs a FindingBatch into an Envelope and publishes it. */
int bus_pub__publish_batch(struct bus_pub *p, const Wacht__V1__FindingBatch *b);
/* Waits up to timeout_ms until every publish was answered. 0 or
 * -ETIMEDOUT. */
int bus_pub__wait(struct bus_pub *p, int64_t timeout_ms);
/* True while the connection is up (false while libnats reconnects: what
 * is published meanwhile is buffered and acked, or failed, later). */
bool bus_pub__connected(struct bus_pub *p);
/* The cumulative acked batch_seq (see on_ack). */
uint64_t bus_pub__acked_through(struct bus_pub *p);

/*
 * Consumer (each aggregator replica, --nats URL --nats-stream S
 * --nats-durable D):
 *
 *   sub = bus_sub__new(&opts, &err);
 *   while (running)
 *           n = bus_sub__fetch(sub, 64, 1000, handle, ctx);
 *
 * handle gets each message's Envelope (decoded, version checked) and its
 * Nats-Msg-Id; it returns 0 once the envelope is committed to the store
 * (the message is then acknowledged), or a negative errno to have it
 * redelivered (to any replica) after a short delay. A message that is not a
 * valid Envelope can never succeed: it is terminated (never redelivered)
 * and counted. A replica that dies between commit and ack leaves the
 * message to be redelivered after ack_wait; the store ignores ids it has.
 */
typedef int (*bus_envelope_fn)(void *ctx, const Wacht__V1__Envelope *env, const char *msg_id);
struct bus_sub;
struct bus_sub *bus_sub__new(const struct bus_opts *o, char **err);
void bus_sub__free(struct bus_sub *s); /* accepts NULL */
/* Fetches up to max messages, waiting up to timeout_ms for the first, and
 * hands each to fn. Returns the number acknowledged (0 when none came), or
 * -errno for a failed fetch (the connection; retry later). */
int bus_sub__fetch(struct bus_sub *s, int max, int64_t timeout_ms, bus_envelope_fn fn,
		   void *ctx);
/* Messages terminated as undecodable, and handled but not acked (fn
 * failed, or the ack could not be sent) since bus_sub__new. */
uint64_t bus_sub__bad(const struct bus_sub *s);
uint64_t bus_sub__failed(const struct bus_sub *s);

#endif /* WACHT_BUS_NATS_H */
