// SPDX-License-Identifier: Apache-2.0
/* ingest.c: one sensor connection's protocol state machine (see ingest.h). */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytebuf.h"
#include "ingest.h"
#include "peermap.h"
#include "wire.h"

#ifndef WACHT_VERSION
#define WACHT_VERSION "unknown"
#endif

struct ingest_conn {
	struct store *st;
	struct wire_reader *r;
	size_t max_frame;
	struct bytebuf out;
	struct bytebuf held;    /* acks waiting for the caller's commit */
	size_t n_held;
	bool hold;
	bool hello;
	char *sensor_id;
	char *node;
	size_t id_prefix_len;   /* strlen(sensor_id) + 1 for the ':' */
	uint64_t last_seq;      /* last batch acknowledged on this connection */
	uint64_t drops;         /* highest spool_dropped reported */
	int64_t start_ns;       /* the sensor process's start (the hello's) */
	uint32_t sensor_max;    /* the hello's max_frame_bytes (0: WIRE_FRAME_MAX) */
	struct peer_map *peers; /* borrowed; NULL: SensorEndpoints are only checked */
	uint64_t owner;
	bool wants_peers;       /* sent SensorEndpoints: it reads PeerMaps */
	uint64_t peers_version; /* of the last PeerMap queued */
	int err;
	char error[256];
	struct ingest_stats stats;
};

struct ingest_conn *ingest_conn__new(struct store *st, size_t max_frame)
{
	struct ingest_conn *ic = calloc(1, sizeof(*ic));

	if (!ic) {
		errno = ENOMEM;
		return NULL;
	}
	ic->st = st;
	ic->max_frame = max_frame ? max_frame : WIRE_FRAME_MAX;
	ic->r = wire_reader__new(ic->max_frame);
	if (!ic->r) {
		free(ic);
		errno = ENOMEM;
		return NULL;
	}
	return ic;
}

void ingest_conn__free(struct ingest_conn *ic)
{
	if (!ic)
		return;
	wire_reader__free(ic->r);
	bytebuf_release(&ic->out);
	bytebuf_release(&ic->held);
	free(ic->sensor_id);
	free(ic->node);
	free(ic);
}

static int fail(struct ingest_conn *ic, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct ingest_conn *ic, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ic->error, sizeof(ic->error), fmt, ap);
	va_end(ap);
	ic->err = err;
	return err;
}

static int send_env(struct ingest_conn *ic, const Wacht__V1__Envelope *env)
{
	bool held = ic->hold && env->body_case == WACHT__V1__ENVELOPE__BODY_ACK;
	uint8_t *frame;
	size_t len;
	int err = wire_frame_envelope(env, &frame, &len);

	if (err)
		return fail(ic, err, "failed to frame a reply: %s", strerror(-err));
	err = bytebuf_append(held ? &ic->held : &ic->out, frame, len);
	if (!err && held)
		ic->n_held++;
	free(frame);
	return err ? fail(ic, err, "failed to queue a reply: %s", strerror(-err)) : 0;
}

static int note_drops(struct ingest_conn *ic, uint64_t drops, int64_t now)
{
	int err;

	if (drops <= ic->drops)
		return 0;
	err = store__sensor_drops(ic->st, ic->sensor_id, drops, now);
	if (err)
		return fail(ic, err, "failed to store the drop count of sensor %s: %s (%s)",
			    ic->sensor_id, strerror(-err), store__errmsg(ic->st));
	ic->drops = drops;
	return 0;
}

static int on_hello(struct ingest_conn *ic, const Wacht__V1__SensorHello *h, int64_t now)
{
	Wacht__V1__Envelope env;
	Wacht__V1__ServerHello sh = WACHT__V1__SERVER_HELLO__INIT;
	int err;

	if (!h->sensor_id || !h->sensor_id[0] || strchr(h->sensor_id, ':'))
		return fail(ic, -EPROTO, "hello without a valid sensor id (non-empty, no ':')");
	ic->sensor_id = strdup(h->sensor_id);
	ic->node = strdup(h->node ? h->node : "");
	if (!ic->sensor_id || !ic->node)
		return fail(ic, -ENOMEM, "out of memory");
	ic->id_prefix_len = strlen(ic->sensor_id) + 1;
	ic->start_ns = h->start_time_unix_ns;
	ic->sensor_max = h->max_frame_bytes;
	err = store__sensor_hello(ic->st, h, now);
	if (err)
		return fail(ic, err, "failed to store the hello of sensor %s: %s (%s)", ic->sensor_id,
			    strerror(-err), store__errmsg(ic->st));
	err = note_drops(ic, h->spool_dropped, now);
	if (err)
		return err;
	ic->hello = true;
	wire_envelope_init(&env);
	sh.aggregator_version = (char *)WACHT_VERSION;
	sh.max_frame_bytes = (uint32_t)ic->max_frame;
	sh.peer_map = ic->peers != NULL;
	env.body_case = WACHT__V1__ENVELOPE__BODY_SERVER_HELLO;
	env.server_hello = &sh;
	return send_env(ic, &env);
}

static int on_batch(struct ingest_conn *ic, const Wacht__V1__FindingBatch *b, int64_t now)
{
	Wacht__V1__Envelope env;
	Wacht__V1__Ack ack = WACHT__V1__ACK__INIT;
	int n;

	if (b->batch_seq <= ic->last_seq)
		return fail(ic, -EPROTO, "batch %" PRIu64 " after batch %" PRIu64
			    " (batches must come in increasing order)", b->batch_seq, ic->last_seq);
	for (size_t i = 0; i < b->n_findings; i++) {
		const char *id = b->findings[i]->id;

		if (!id || strncmp(id, ic->sensor_id, ic->id_prefix_len - 1) ||
		    id[ic->id_prefix_len - 1] != ':' || !id[ic->id_prefix_len])
			return fail(ic, -EPROTO, "batch %" PRIu64 ": finding id '%.64s' is not "
				    "'%s:<seq>'", b->batch_seq, id ? id : "", ic->sensor_id);
	}
	if (b->n_findings) {
		n = store__add_findings(ic->st, (const Wacht__V1__Finding *const *)b->findings,
					b->n_findings, now);
		if (n < 0)
			return fail(ic, n, "failed to store batch %" PRIu64 " of sensor %s: %s (%s)",
				    b->batch_seq, ic->sensor_id, strerror(-n), store__errmsg(ic->st));
		ic->stats.stored += (uint64_t)n;
	}
	n = note_drops(ic, b->spool_dropped, now);
	if (n)
		return n;
	ic->last_seq = b->batch_seq;
	ic->stats.batches++;
	ic->stats.findings += b->n_findings;
	/* only now, after the commit: an acknowledged batch is stored */
	wire_envelope_init(&env);
	ack.batch_seq = b->batch_seq;
	env.body_case = WACHT__V1__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	return send_env(ic, &env);
}

/* Not acknowledged (flows are a report, not spooled by the sensor): stored
 * within the caller's transaction, or lost with it if that fails. */
static int on_flows(struct ingest_conn *ic, const Wacht__V1__FlowBatch *b, int64_t now)
{
	char why[200];
	int n;

	if (store_flows_check(b, ic->node, why, sizeof(why)))
		return fail(ic, -EPROTO, "%s", why);
	n = store__add_flows(ic->st, ic->sensor_id, ic->start_ns, ic->node, b, now);
	if (n < 0)
		return fail(ic, n, "failed to store flow batch %" PRIu64 " of sensor %s: %s (%s)",
			    b->batch_seq, ic->sensor_id, strerror(-n), store__errmsg(ic->st));
	ic->stats.flow_batches++;
	ic->stats.flow_records += b->n_records;
	ic->stats.flow_stored += (uint64_t)n;
	return 0;
}

/* The largest frame payload the sensor reads. */
static size_t sensor_max(const struct ingest_conn *ic)
{
	return ic->sensor_max ? ic->sensor_max : WIRE_FRAME_MAX;
}

int ingest_conn__send_peers(struct ingest_conn *ic, const uint8_t *frame, size_t len)
{
	uint8_t *own = NULL;
	int err;

	if (!ic->peers || !ic->wants_peers || ic->err)
		return 0;
	/* a frame made for a larger limit than this sensor's: its own */
	if (!frame || len - WIRE_HEADER_LEN > sensor_max(ic)) {
		err = peer_map__frame(ic->peers, sensor_max(ic), &own, &len, NULL);
		if (err)
			return fail(ic, err, "failed to build the peer map: %s", strerror(-err));
		frame = own;
	}
	err = bytebuf_append(&ic->out, frame, len);
	free(own);
	if (err)
		return fail(ic, err, "failed to queue the peer map: %s", strerror(-err));
	ic->peers_version = peer_map__version(ic->peers);
	ic->stats.peer_maps++;
	return 0;
}

static int on_endpoints(struct ingest_conn *ic, const Wacht__V1__SensorEndpoints *se)
{
	bool first = !ic->wants_peers;

	/* a sensor speaks for its own node only, in the shape it must */
	if (strcmp(se->node ? se->node : "", ic->node))
		return fail(ic, -EPROTO, "endpoints of node '%.64s', not the hello's (%s)",
			    se->node ? se->node : "", ic->node);
	if (se->n_endpoints > PEER_NODE_MAX)
		return fail(ic, -EPROTO, "%zu endpoints (at most %d)", se->n_endpoints,
			    PEER_NODE_MAX);
	for (size_t i = 0; i < se->n_endpoints; i++) {
		const Wacht__V1__PeerEndpoint *e = se->endpoints[i];

		if (!e->container || !e->n_ips || e->n_ips > PEER_ADDRS_MAX)
			return fail(ic, -EPROTO, "endpoint %zu: %s", i,
				    !e->container ? "no container" :
				    !e->n_ips ? "no address" : "more than 16 addresses");
		for (size_t k = 0; k < e->n_ips; k++)
			if (e->ips[k].len != 4 && e->ips[k].len != 16)
				return fail(ic, -EPROTO, "endpoint %zu: an address of %zu bytes "
					    "(want 4 or 16)", i, e->ips[k].len);
	}
	ic->stats.endpoints++;
	ic->wants_peers = true;
	if (!ic->peers)
		return 0;
	int err = peer_map__put(ic->peers, ic->node, ic->owner, se, NULL);
	if (err)
		return fail(ic, err, "failed to keep the endpoints of %s: %s", ic->node,
			    strerror(-err));
	/* the map as it is now, without waiting for the next push */
	return first ? ingest_conn__send_peers(ic, NULL, 0) : 0;
}

static int on_envelope(struct ingest_conn *ic, const Wacht__V1__Envelope *env, int64_t now)
{
	switch (env->body_case) {
	case WACHT__V1__ENVELOPE__BODY_HELLO:
		if (ic->hello)
			return fail(ic, -EPROTO, "a second hello");
		return on_hello(ic, env->hello, now);
	case WACHT__V1__ENVELOPE__BODY_FINDINGS:
		if (!ic->hello)
			return fail(ic, -EPROTO, "findings before the hello");
		return on_batch(ic, env->findings, now);
	case WACHT__V1__ENVELOPE__BODY_LEARNED: {
		const Wacht__V1__LearnedProfile *lp = env->learned;
		if (!ic->hello)
			return fail(ic, -EPROTO, "a learned profile before the hello");
		/* a sensor speaks for its own node only */
		if (!lp->group || !lp->group[0] || !lp->yaml || strcmp(lp->node ? lp->node : "", ic->node))
			return fail(ic, -EPROTO, "a learned profile without a group or for another node "
					 "than the hello's (%s)", ic->node);
		int err = store__learned_put(ic->st, lp->group, ic->node, lp->yaml,
					     lp->time_unix_ns ? lp->time_unix_ns : now);
		if (err)
			return fail(ic, err, "failed to store the learned profile %s of %s: %s (%s)",
				    lp->group, ic->node, strerror(-err), store__errmsg(ic->st));
		return 0;
	}
	case WACHT__V1__ENVELOPE__BODY_FLOWS:
		if (!ic->hello)
			return fail(ic, -EPROTO, "flows before the hello");
		return on_flows(ic, env->flows, now);
	case WACHT__V1__ENVELOPE__BODY_ENDPOINTS:
		if (!ic->hello)
			return fail(ic, -EPROTO, "endpoints before the hello");
		return on_endpoints(ic, env->endpoints);
	default:
		return fail(ic, -EPROTO, "a frame only the aggregator sends (body %d)%s",
			    (int)env->body_case, ic->hello ? "" : " instead of a hello");
	}
}

int ingest_conn__feed(struct ingest_conn *ic, const void *buf, size_t len, int64_t now)
{
	Wacht__V1__Envelope *env;
	int rc;

	if (ic->err)
		return ic->err;
	rc = wire_reader__feed(ic->r, buf, len);
	while (rc == 0 && (rc = wire_reader__next(ic->r, &env)) == 1) {
		rc = on_envelope(ic, env, now);
		wire_envelope_free(env);
	}
	if (rc == -EMSGSIZE)
		return fail(ic, rc, "frame larger than %zu bytes", ic->max_frame);
	if (rc == -EBADMSG)
		return fail(ic, rc, "undecodable frame (not a version %d envelope)", WIRE_VERSION);
	if (rc < 0 && !ic->err)
		return fail(ic, rc, "failed to read frames: %s", strerror(-rc));
	return rc < 0 ? rc : 0;
}

void ingest_conn__hold_acks(struct ingest_conn *ic)
{
	ic->hold = true;
}

size_t ingest_conn__held(const struct ingest_conn *ic)
{
	return ic->n_held;
}

int ingest_conn__release(struct ingest_conn *ic)
{
	int err = bytebuf_append(&ic->out, bytebuf_head(&ic->held), bytebuf_size(&ic->held));

	if (err)
		return err;
	bytebuf_clear(&ic->held);
	ic->n_held = 0;
	return 0;
}

const uint8_t *ingest_conn__output(const struct ingest_conn *ic, size_t *len)
{
	*len = bytebuf_size(&ic->out);
	return bytebuf_head(&ic->out);
}

void ingest_conn__consume(struct ingest_conn *ic, size_t n)
{
	bytebuf_consume(&ic->out, n);
}

bool ingest_conn__hello_done(const struct ingest_conn *ic)
{
	return ic->hello;
}

const char *ingest_conn__sensor_id(const struct ingest_conn *ic)
{
	return ic->sensor_id ? ic->sensor_id : "";
}

const char *ingest_conn__node(const struct ingest_conn *ic)
{
	return ic->node ? ic->node : "";
}

const char *ingest_conn__error(const struct ingest_conn *ic)
{
	return ic->error;
}

void ingest_conn__set_peers(struct ingest_conn *ic, struct peer_map *pm, uint64_t owner)
{
	ic->peers = pm;
	ic->owner = owner;
}

bool ingest_conn__peers_due(const struct ingest_conn *ic)
{
	return ic->peers && ic->wants_peers && !ic->err &&
	       ic->peers_version != peer_map__version(ic->peers);
}

size_t ingest_conn__sensor_max(const struct ingest_conn *ic)
{
	return sensor_max(ic);
}

const struct ingest_stats *ingest_conn__stats(const struct ingest_conn *ic)
{
	return &ic->stats;
}
