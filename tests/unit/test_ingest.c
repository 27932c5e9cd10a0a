/* SPDX-License-Identifier: Apache-2.0 */
/* test_ingest.c: the aggregator's per-connection protocol (ingest.c) against
 * a real SQLite store: hello first, ack only after the commit, resends
 * stored once, every protocol violation refused with its reason. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ingest.h"
#include "store.h"
#include "wire.h"

#define NOW 1700000000000000000LL

struct fx {
	char dir[64];
	char path[128];
	struct store *st;
	struct ingest_conn *ic;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/wacht-ingest-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
	f->st = store__open(f->path, NULL, NULL);
	assert_non_null(f->st);
	f->ic = ingest_conn__new(f->st, 4096);
	assert_non_null(f->ic);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	ingest_conn__free(f->ic);
	store__close(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int feed_env(struct fx *f, const Wacht__V1__Envelope *env)
{
	uint8_t *buf;
	size_t len;
	int rc;

	assert_int_equal(wire_frame_envelope(env, &buf, &len), 0);
	rc = ingest_conn__feed(f->ic, buf, len, NOW);
	free(buf);
	return rc;
}

static int hello(struct fx *f, const char *sensor_id, uint64_t drops)
{
	Wacht__V1__Envelope env;
	Wacht__V1__SensorHello h = WACHT__V1__SENSOR_HELLO__INIT;

	wire_envelope_init(&env);
	h.node = "node-a";
	h.sensor_id = (char *)sensor_id;
	h.sensor_version = "test";
	h.kernel = "6.1.0";
	h.spool_dropped = drops;
	env.body_case = WACHT__V1__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	return feed_env(f, &env);
}

/* A batch of n findings with ids "<prefix>:<first + i>", distinct messages
 * (so that none merges with another). */
static int batch(struct fx *f, uint64_t seq, const char *prefix, unsigned first, unsigned n)
{
	Wacht__V1__Envelope env;
	Wacht__V1__FindingBatch b = WACHT__V1__FINDING_BATCH__INIT;
	Wacht__V1__Finding fs[16], *fp[16];
	char ids[16][64], msgs[16][64];

	assert_true(n <= 16);
	for (unsigned i = 0; i < n; i++) {
		wacht__v1__finding__init(&fs[i]);
		snprintf(ids[i], sizeof(ids[i]), "%s:%u", prefix, first + i);
		snprintf(msgs[i], sizeof(msgs[i]), "finding %u", first + i);
		fs[i].id = ids[i];
		fs[i].node = "node-a";
		fs[i].name = "Process.Profile.Violation";
		fs[i].severity = WACHT__V1__SEVERITY__SEVERITY_HIGH;
		fs[i].time_unix_ns = NOW;
		fs[i].message.data = (uint8_t *)msgs[i];
		fs[i].message.len = strlen(msgs[i]);
		fp[i] = &fs[i];
	}
	wire_envelope_init(&env);
	b.batch_seq = seq;
	b.findings = fp;
	b.n_findings = n;
	env.body_case = WACHT__V1__ENVELOPE__BODY_FINDINGS;
	env.findings = &b;
	return feed_env(f, &env);
}

/* Reads every frame the connection has to send; returns how many and the
 * last envelope's body case and ack seq. */
static int replies(struct fx *f, int *last_case, uint64_t *last_ack)
{
	struct wire_reader *r = wire_reader__new(0);
	Wacht__V1__Envelope *env;
	const uint8_t *out;
	size_t len;
	int n = 0;

	out = ingest_conn__output(f->ic, &len);
	assert_int_equal(wire_reader__feed(r, out, len), 0);
	while (wire_reader__next(r, &env) == 1) {
		n++;
		*last_case = env->body_case;
		if (env->body_case == WACHT__V1__ENVELOPE__BODY_ACK)
			*last_ack = env->ack->batch_seq;
		wire_envelope_free(env);
	}
	assert_int_equal(wire_reader__buffered(r), 0);
	wire_reader__free(r);
	ingest_conn__consume(f->ic, len);
	return n;
}


static int row_cb(void *ctx, const struct store_row *row)
{
	(void)ctx;
	(void)row;
	return 0;
}

static int rows(struct fx *f)
{
	struct store_filter flt = { .limit = 1000 };
	return store__query(f->st, &flt, row_cb, NULL, NULL);
}

static void test_hello_then_acked_batches(void **state)
{
	struct fx *f = *state;
	int last = 0;
	uint64_t ack = 0;

	assert_int_equal(hello(f, "node-a-0123456789ab", 0), 0);
	assert_true(ingest_conn__hello_done(f->ic));
	assert_string_equal(ingest_conn__sensor_id(f->ic), "node-a-0123456789ab");
	assert_int_equal(replies(f, &last, &ack), 1);
	assert_int_equal(last, WACHT__V1__ENVELOPE__BODY_SERVER_HELLO);

	assert_int_equal(batch(f, 1, "node-a-0123456789ab", 1000, 3), 0);
	assert_int_equal(batch(f, 2, "node-a-0123456789ab", 2000, 2), 0);
	assert_int_equal(replies(f, &last, &ack), 2);
	assert_int_equal(last, WACHT__V1__ENVELOPE__BODY_ACK);
	assert_int_equal(ack, 2);
	/* acked: in the store, readable by another connection */
	assert_int_equal(rows(f), 5);
	assert_int_equal(ingest_conn__stats(f->ic)->batches, 2);
	assert_int_equal(ingest_conn__stats(f->ic)->findings, 5);
	assert_int_equal(ingest_conn__stats(f->ic)->stored, 5);
}

/* A resend on a new connection (the ack was lost) is acked and stored once. */
static void test_resend_is_stored_once(void **state)
{
	struct fx *f = *state;
	int last = 0;
	uint64_t ack = 0;

	assert_int_equal(hello(f, "s1", 0), 0);
	assert_int_equal(batch(f, 7, "s1", 7000, 4), 0);
	ingest_conn__free(f->ic);
	f->ic = ingest_conn__new(f->st, 4096);
	assert_int_equal(hello(f, "s1", 0), 0);
	assert_int_equal(batch(f, 7, "s1", 7000, 4), 0);
	assert_int_equal(batch(f, 8, "s1", 8000, 1), 0);
	assert_int_equal(replies(f, &last, &ack), 3);
	assert_int_equal(ack, 8);
	assert_int_equal(rows(f), 5);
	assert_int_equal(ingest_conn__stats(f->ic)->findings, 5);
	assert_int_equal(ingest_conn__stats(f->ic)->stored, 1);
}

/* Split across many feeds, byte by byte: same result. */
static void test_byte_by_byte(void **state)
{
	struct fx *f = *state;
	Wacht__V1__Envelope env;
	Wacht__V1__SensorHello h = WACHT__V1__SENSOR_HELLO__INIT;
	uint8_t *buf;
	size_t len;
	int last = 0;
	uint64_t ack = 0;

	wire_envelope_init(&env);
	h.sensor_id = "s2";
	env.body_case = WACHT__V1__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	assert_int_equal(wire_frame_envelope(&env, &buf, &len), 0);
	for (size_t i = 0; i < len; i++) {
		assert_false(ingest_conn__hello_done(f->ic));
		assert_int_equal(ingest_conn__feed(f->ic, buf + i, 1, NOW), 0);
	}
	free(buf);
	assert_true(ingest_conn__hello_done(f->ic));
	assert_int_equal(replies(f, &last, &ack), 1);
}

static void test_first_frame_must_be_hello(void **state)
{
	struct fx *f = *state;
	int last = 0;
	uint64_t ack = 0;

	assert_int_equal(batch(f, 1, "s1", 1, 1), -EPROTO);
	assert_string_equal(ingest_conn__error(f->ic), "findings before the hello");
	/* nothing stored, nothing acked, and the error is final */
	assert_int_equal(rows(f), 0);
	assert_int_equal(replies(f, &last, &ack), 0);
	assert_int_equal(hello(f, "s1", 0), -EPROTO);
}

static void test_aggregator_frames_refused(void **state)
{
	struct fx *f = *state;
	Wacht__V1__Envelope env;
	Wacht__V1__Ack a = WACHT__V1__ACK__INIT;

	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_ACK;
	env.ack = &a;
	assert_int_equal(feed_env(f, &env), -EPROTO);
	assert_string_equal(ingest_conn__error(f->ic),
			    "a frame only the aggregator sends (body 5) instead of a hello");
}

static void test_second_hello_refused(void **state)
{
	struct fx *f = *state;

	assert_int_equal(hello(f, "s1", 0), 0);
	assert_int_equal(hello(f, "s1", 0), -EPROTO);
	assert_string_equal(ingest_conn__error(f->ic), "a second hello");
}

static void test_bad_sensor_id_refused(void **state)
{
	struct fx *f = *state;

	assert_int_equal(hello(f, "a:b", 0), -EPROTO);
	assert_string_equal(ingest_conn__error(f->ic),
			    "hello without a valid sensor id (non-empty, no ':')");
}

/* A sensor cannot write (or, ids being idempotent, suppress) the findings of
 * another: the whole batch is refused, nothing is stored. */
static void test_foreign_ids_refused(void **state)
{
	struct fx *f = *state;

	assert_int_equal(hello(f, "s1", 0), 0);
	assert_int_equal(batch(f, 1, "s10", 5, 2), -EPROTO);
	assert_string_equal(ingest_conn__error(f->ic),
			    "batch 1: finding id 's10:5' is not 's1:<seq>'");
	assert_int_equal(rows(f), 0);
}

static void test_batches_in_order(void **state)
{
	struct fx *f = *state;

	assert_int_equal(hello(f, "s1", 0), 0);
	assert_int_equal(batch(f, 5, "s1", 1, 1), 0);
	assert_int_equal(batch(f, 5, "s1", 2, 1), -EPROTO);
	assert_string_equal(ingest_conn__error(f->ic),
			    "batch 5 after batch 5 (batches must come in increasing order)");
	assert_int_equal(rows(f), 1);
}

static void test_oversized_frame_from_header(void **state)
{
	struct fx *f = *state;
	/* 4097 announced, limit 4096: refused from the header alone */
	const uint8_t hdr[4] = { 0, 0, 0x10, 0x01 };

	assert_int_equal(ingest_conn__feed(f->ic, hdr, 4, NOW), -EMSGSIZE);
	assert_string_equal(ingest_conn__error(f->ic), "frame larger than 4096 bytes");
}

static void test_garbage_refused(void **state)
{
	struct fx *f = *state;
	const uint8_t junk[] = { 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff };

	assert_int_equal(ingest_conn__feed(f->ic, junk, sizeof(junk), NOW), -EBADMSG);
	assert_string_equal(ingest_conn__error(f->ic),
			    "undecodable frame (not a version 1 envelope)");
}

struct drops_seen {
	uint64_t drops;
	int n;
};

static int sensor_cb(void *ctx, const struct store_sensor *s)
{
	struct drops_seen *d = ctx;

	d->drops = s->drops;
	d->n++;
	return 0;
}

/* Drop counts from the hello and from batches reach the sensors table; an
 * older (resent) batch's lower count does not lower it. */
static void test_drop_counts(void **state)
{
	struct fx *f = *state;
	Wacht__V1__Envelope env;
	Wacht__V1__FindingBatch b = WACHT__V1__FINDING_BATCH__INIT;
	struct drops_seen d = { 0 };

	assert_int_equal(hello(f, "s1", 3), 0);
	assert_int_equal(store__sensors(f->st, sensor_cb, &d), 0);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.drops, 3);

	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_FINDINGS;
	env.findings = &b;
	b.batch_seq = 1;
	b.spool_dropped = 9;
	assert_int_equal(feed_env(f, &env), 0);
	b.batch_seq = 2;
	b.spool_dropped = 4;
	assert_int_equal(feed_env(f, &env), 0);
	d = (struct drops_seen){ 0 };
	assert_int_equal(store__sensors(f->st, sensor_cb, &d), 0);
	assert_int_equal(d.drops, 9);
}

/* Held acks (the aggregator's one commit per loop turn): nothing goes out
 * until release, and a rolled-back transaction loses the batch (it was
 * never acknowledged, so the sensor resends it). */
static void test_held_acks(void **state)
{
	struct fx *f = *state;
	int last = 0;
	uint64_t ack = 0;

	ingest_conn__hold_acks(f->ic);
	assert_int_equal(hello(f, "s1", 0), 0);
	assert_int_equal(replies(f, &last, &ack), 1); /* the hello is not held */
	assert_int_equal(store__begin(f->st), 0);
	assert_int_equal(batch(f, 1, "s1", 100, 2), 0);
	assert_int_equal(batch(f, 2, "s1", 200, 3), 0);
	assert_int_equal(ingest_conn__held(f->ic), 2);
	assert_int_equal(replies(f, &last, &ack), 0);
	assert_int_equal(store__commit(f->st), 0);
	assert_int_equal(ingest_conn__release(f->ic), 0);
	assert_int_equal(ingest_conn__held(f->ic), 0);
	assert_int_equal(replies(f, &last, &ack), 2);
	assert_int_equal(ack, 2);
	assert_int_equal(rows(f), 5);
	assert_int_equal(store__commit(f->st), -EINVAL);
}

/* A FlowBatch for node with one record (web -> 10.0.0.9 tcp/443). */
static int flows(struct fx *f, uint64_t seq, const char *node, uint64_t bytes)
{
	Wacht__V1__Envelope env;
	Wacht__V1__FlowBatch b = WACHT__V1__FLOW_BATCH__INIT;
	Wacht__V1__FlowRecord r = WACHT__V1__FLOW_RECORD__INIT, *rp = &r;
	Wacht__V1__FlowEndpoint c = WACHT__V1__FLOW_ENDPOINT__INIT, s = WACHT__V1__FLOW_ENDPOINT__INIT;
	Wacht__V1__Container ct = WACHT__V1__CONTAINER__INIT;
	uint8_t cip[4] = { 10, 1, 0, 2 }, sip[4] = { 10, 0, 0, 9 };

	ct.id = "c0ffee";
	ct.pod = "web-1";
	ct.namespace_ = "shop";
	c.kind = WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_CONTAINER;
	c.ip.data = cip;
	c.ip.len = 4;
	c.container = &ct;
	s.kind = WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_EXTERNAL;
	s.ip.data = sip;
	s.ip.len = 4;
	r.client = &c;
	r.server = &s;
	r.proto = 6;
	r.server_port = 443;
	r.reported_by_client = true;
	r.bytes_to_server = bytes;
	r.sessions = 1;
	r.last_seen_unix_ns = NOW;
	r.verdict = WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_ALLOWED;
	b.batch_seq = seq;
	b.node = (char *)node;
	b.time_unix_ns = NOW;
	b.records = &rp;
	b.n_records = 1;
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_FLOWS;
	env.flows = &b;
	return feed_env(f, &env);
}

static int sum_bytes(void *ctx, const struct graph_record *r)
{
	*(uint64_t *)ctx += r->bytes_to_server;
	return 0;
}

static uint64_t stored_bytes(struct fx *f)
{
	uint64_t n = 0;

	assert_int_equal(store__conversations(f->st, &(struct store_conv_filter){ 0 }, sum_bytes,
					      &n), 0);
	return n;
}

/* FlowBatches are stored, never acknowledged, a repeat (the sensor's
 * reconnect resends what was in its buffer) once; one for another node
 * ends the connection, as does one before the hello. */
static void test_flow_batches(void **state)
{
	struct fx *f = *state;
	int last = 0;
	uint64_t ack = 0;

	assert_int_equal(flows(f, 1, "node-a", 10), -EPROTO);
	assert_string_equal(ingest_conn__error(f->ic), "flows before the hello");
	ingest_conn__free(f->ic);
	f->ic = ingest_conn__new(f->st, 4096);
	assert_int_equal(hello(f, "s1", 0), 0);
	assert_int_equal(replies(f, &last, &ack), 1); /* the server hello */
	assert_int_equal(flows(f, 1, "node-a", 100), 0);
	assert_int_equal(flows(f, 2, "node-a", 50), 0);
	assert_int_equal(replies(f, &last, &ack), 0);
	assert_int_equal(flows(f, 2, "node-a", 50), 0);
	assert_int_equal(ingest_conn__stats(f->ic)->flow_batches, 3);
	assert_int_equal(ingest_conn__stats(f->ic)->flow_records, 3);
	assert_int_equal(ingest_conn__stats(f->ic)->flow_stored, 2);
	assert_int_equal(store__conversation_rows(f->st), 1);
	assert_int_equal(stored_bytes(f), 150);
	/* a reconnect of the same sensor process: still a repeat */
	ingest_conn__free(f->ic);
	f->ic = ingest_conn__new(f->st, 4096);
	assert_int_equal(hello(f, "s1", 0), 0);
	assert_int_equal(flows(f, 1, "node-a", 100), 0);
	assert_int_equal(ingest_conn__stats(f->ic)->flow_stored, 0);
	assert_int_equal(stored_bytes(f), 150);
	/* a batch for another node: refused, the connection ends */
	assert_int_equal(flows(f, 3, "node-b", 1), -EPROTO);
	assert_string_equal(ingest_conn__error(f->ic),
			    "flow batch 3 for node 'node-b', not the sensor's ('node-a')");
	assert_int_equal(stored_bytes(f), 150);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hello_then_acked_batches, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_resend_is_stored_once, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_byte_by_byte, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_first_frame_must_be_hello, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_aggregator_frames_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_second_hello_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_sensor_id_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_foreign_ids_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_batches_in_order, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_oversized_frame_from_header, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_garbage_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_drop_counts, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_held_acks, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_flow_batches, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
