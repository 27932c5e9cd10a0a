/* SPDX-License-Identifier: Apache-2.0 */
/* test_bus_ingest.c: what a replica does with one JetStream message
 * (bus_ingest.c), against a real SQLite store: a batch stored and a resend
 * ignored by id, a hello and the drop count it and later batches carry,
 * rejections (another sensor's ids, a message id without a sensor, a
 * hello for another sensor, an aggregator-only body) acknowledged without
 * storing, and a store failure asking for redelivery. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus_ingest.h"
#include "wire.h"

#define NOW 1700000000000000000LL

struct fx {
	char dir[64], path[128];
	struct store *st;
	struct bus_ingest bi;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char *err = NULL;

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_bus_ingest.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/wacht.db", fx->dir);
	fx->st = store__open(fx->path, &(struct store_opts){ .busy_timeout_ms = 100 }, &err);
	assert_non_null(fx->st);
	fx->bi.st = fx->st;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[200];

	store__close(fx->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

/* A batch of n findings "<sid>:<first + i>", each its own exe (no merge). */
static int feed_batch(struct fx *fx, const char *msg_id, const char *sid, unsigned first,
		      unsigned n, uint64_t dropped)
{
	Wacht__V1__Finding fs[8], *fp[8];
	char ids[8][64], exes[8][32];
	Wacht__V1__FindingBatch b = WACHT__V1__FINDING_BATCH__INIT;
	Wacht__V1__Envelope env;

	assert_true(n <= 8);
	for (unsigned i = 0; i < n; i++) {
		wacht__v1__finding__init(&fs[i]);
		snprintf(ids[i], sizeof(ids[i]), "%s:%u", sid, first + i);
		snprintf(exes[i], sizeof(exes[i]), "/bin/x%u", first + i);
		fs[i].id = ids[i];
		fs[i].node = (char *)"node-1";
		fs[i].name = (char *)"Container.Suspicious.Process";
		fs[i].time_unix_ns = NOW + (int64_t)(first + i);
		Wacht__V1__Process *p = calloc(1, sizeof(*p));
		wacht__v1__process__init(p);
		p->exe.data = (uint8_t *)exes[i];
		p->exe.len = strlen(exes[i]);
		fs[i].process = p;
		fp[i] = &fs[i];
	}
	b.batch_seq = 1;
	b.findings = fp;
	b.n_findings = n;
	b.spool_dropped = dropped;
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_FINDINGS;
	env.findings = &b;
	int rc = bus_ingest__envelope(&fx->bi, &env, msg_id, NOW);
	for (unsigned i = 0; i < n; i++)
		free(fs[i].process);
	return rc;
}

static int feed_hello(struct fx *fx, const char *msg_id, const char *sid, uint64_t dropped)
{
	Wacht__V1__SensorHello h = WACHT__V1__SENSOR_HELLO__INIT;
	Wacht__V1__Envelope env;

	h.node = (char *)"node-1";
	h.sensor_id = (char *)sid;
	h.sensor_version = (char *)"test";
	h.kernel = (char *)"6.1";
	h.start_time_unix_ns = NOW;
	h.spool_dropped = dropped;
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	return bus_ingest__envelope(&fx->bi, &env, msg_id, NOW);
}

static int count_row(void *ctx, const struct store_row *row)
{
	(void)row;
	(*(int *)ctx)++;
	return 0;
}

static int rows(struct fx *fx)
{
	struct store_filter flt = { .limit = 1000 };
	int n = 0;

	assert_true(store__query(fx->st, &flt, count_row, &n, NULL) >= 0);
	return n;
}

struct sensor_seen {
	char id[64];
	uint64_t drops;
	int n;
};

static int sensor_row(void *ctx, const struct store_sensor *row)
{
	struct sensor_seen *s = ctx;

	snprintf(s->id, sizeof(s->id), "%s", row->sensor_id);
	s->drops = row->drops;
	s->n++;
	return 0;
}

static void test_batch_and_resend(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(feed_batch(fx, "node-1-aa:1", "node-1-aa", 1000, 3, 0), 0);
	assert_int_equal(rows(fx), 3);
	/* the same batch again (a redelivery, or a resend beyond the dedupe
	 * window): acknowledged, nothing new */
	assert_int_equal(feed_batch(fx, "node-1-aa:1", "node-1-aa", 1000, 3, 0), 0);
	assert_int_equal(rows(fx), 3);
	assert_int_equal(fx->bi.stats.messages, 2);
	assert_int_equal(fx->bi.stats.batches, 2);
	assert_int_equal(fx->bi.stats.findings, 6);
	assert_int_equal(fx->bi.stats.stored, 3);
	assert_int_equal(fx->bi.stats.rejected, 0);
}

static void test_hello_and_drops(void **state)
{
	struct fx *fx = *state;
	struct sensor_seen s = { 0 };

	/* drops before the hello: stored findings, count kept for later */
	assert_int_equal(feed_batch(fx, "node-1-bb:1", "node-1-bb", 1000, 1, 4), 0);
	assert_int_equal(store__sensors(fx->st, sensor_row, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(feed_hello(fx, "node-1-bb:hello-1700000000000000000", "node-1-bb", 4), 0);
	assert_int_equal(feed_batch(fx, "node-1-bb:2", "node-1-bb", 2000, 1, 7), 0);
	assert_int_equal(store__sensors(fx->st, sensor_row, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.id, "node-1-bb");
	assert_int_equal(s.drops, 7);
	assert_int_equal(fx->bi.stats.hellos, 1);
	assert_int_equal(rows(fx), 2);
}

static void test_rejected(void **state)
{
	struct fx *fx = *state;
	Wacht__V1__Envelope env;
	Wacht__V1__Ack ack = WACHT__V1__ACK__INIT;

	/* a finding of another sensor in the batch: none of it is stored */
	assert_int_equal(feed_batch(fx, "node-1-cc:1", "node-1-dd", 1000, 2, 0), 1);
	assert_string_equal(fx->bi.error,
			    "message node-1-cc:1: finding id 'node-1-dd:1000' is not 'node-1-cc:<seq>'");
	/* a prefix is not the sensor id */
	assert_int_equal(feed_batch(fx, "node-1:1", "node-1-cc", 1000, 1, 0), 1);
	assert_int_equal(feed_batch(fx, "no-sensor", "no-sensor", 1000, 1, 0), 1);
	assert_string_equal(fx->bi.error,
			    "message id 'no-sensor' names no sensor ('<sensor_id>:<batch>')");
	assert_int_equal(feed_hello(fx, "node-1-cc:hello-1", "node-1-ee", 0), 1);
	assert_string_equal(fx->bi.error, "message node-1-cc:hello-1: a hello for sensor 'node-1-ee'");
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	assert_int_equal(bus_ingest__envelope(&fx->bi, &env, "node-1-cc:3", NOW), 1);
	assert_int_equal(rows(fx), 0);
	assert_int_equal(fx->bi.stats.rejected, 5);
	assert_int_equal(fx->bi.stats.messages, 5);
	assert_int_equal(fx->bi.stats.batches, 0);
}

static void test_store_failure_redelivers(void **state)
{
	struct fx *fx = *state;
	struct bus_ingest other = { 0 };
	char *err = NULL;

	/* another writer holds the database (a replica mid-transaction)
	 * longer than the busy timeout: the message is not acknowledged */
	other.st = store__open(fx->path, NULL, &err);
	assert_non_null(other.st);
	assert_int_equal(store__begin(other.st), 0);
	struct fx ofx = { .st = other.st };
	ofx.bi = other;
	assert_int_equal(feed_batch(&ofx, "node-1-gg:1", "node-1-gg", 5000, 1, 0), 0);
	int rc = feed_batch(fx, "node-1-ff:1", "node-1-ff", 1000, 1, 0);
	assert_int_equal(rc, -EBUSY);
	assert_true(strncmp(fx->bi.error, "failed to store batch node-1-ff:1: ", 35) == 0);
	assert_int_equal(fx->bi.stats.messages, 0);
	assert_int_equal(fx->bi.stats.batches, 0);
	/* the lock gone, the redelivery is stored */
	assert_int_equal(store__commit(other.st), 0);
	assert_int_equal(feed_batch(fx, "node-1-ff:1", "node-1-ff", 1000, 1, 0), 0);
	assert_int_equal(fx->bi.stats.stored, 1);
	assert_int_equal(rows(fx), 2);
	store__close(other.st);
}

/* A FlowBatch of node with one record (container -> 10.0.0.9 tcp/443). */
static int feed_flows(struct fx *fx, const char *msg_id, const char *node, uint64_t seq,
		      uint32_t proto)
{
	Wacht__V1__Envelope env;
	Wacht__V1__FlowBatch b = WACHT__V1__FLOW_BATCH__INIT;
	Wacht__V1__FlowRecord r = WACHT__V1__FLOW_RECORD__INIT, *rp = &r;
	Wacht__V1__FlowEndpoint c = WACHT__V1__FLOW_ENDPOINT__INIT, s = WACHT__V1__FLOW_ENDPOINT__INIT;
	Wacht__V1__Container ct = WACHT__V1__CONTAINER__INIT;
	uint8_t cip[4] = { 10, 1, 0, 2 }, sip[4] = { 10, 0, 0, 9 };

	ct.id = "c0ffee";
	ct.namespace_ = "shop";
	c.kind = WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_CONTAINER;
	c.ip = (ProtobufCBinaryData){ 4, cip };
	c.container = &ct;
	s.kind = WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_EXTERNAL;
	s.ip = (ProtobufCBinaryData){ 4, sip };
	r.client = &c;
	r.server = &s;
	r.proto = proto;
	r.server_port = 443;
	r.reported_by_client = true;
	r.bytes_to_server = 100;
	r.last_seen_unix_ns = NOW;
	b.batch_seq = seq;
	b.node = (char *)node;
	b.records = &rp;
	b.n_records = 1;
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_FLOWS;
	env.flows = &b;
	return bus_ingest__envelope(&fx->bi, &env, msg_id, NOW);
}

/* FlowBatches: stored, a redelivery skipped (the same sensor start and
 * batch), a restarted sensor's batch 1 stored; a malformed one, one for
 * another node or without the flows id is dropped once (acknowledged). */
static void test_flows(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(feed_flows(fx, "node-1-ab12:flows-77-1", "node-1", 1, 6), 0);
	assert_int_equal(feed_flows(fx, "node-1-ab12:flows-77-1", "node-1", 1, 6), 0);
	assert_int_equal(fx->bi.stats.flow_batches, 2);
	assert_int_equal(fx->bi.stats.flow_records, 1);
	assert_int_equal(feed_flows(fx, "node-1-ab12:flows-78-1", "node-1", 1, 6), 0);
	assert_int_equal(fx->bi.stats.flow_records, 2);
	assert_int_equal(store__conversation_rows(fx->st), 1);

	assert_int_equal(feed_flows(fx, "node-1-ab12:flows-78-2", "node-1", 2, 1), 1);
	assert_string_equal(fx->bi.error, "message node-1-ab12:flows-78-2: flow batch 2, record 0:"
					  " protocol 1 is not tcp (6) or udp (17)");
	assert_int_equal(feed_flows(fx, "node-1-ab12:flows-78-3", "node-2", 3, 6), 1);
	assert_string_equal(fx->bi.error, "message node-1-ab12:flows-78-3: a flow batch for another"
					  " node than sensor node-1-ab12's ('node-2')");
	assert_int_equal(feed_flows(fx, "node-1-ab12:4", "node-1", 4, 6), 1);
	assert_string_equal(fx->bi.error, "message node-1-ab12:4: a flow batch without"
					  " 'flows-<start>-<seq>' in its id");
	assert_int_equal(fx->bi.stats.rejected, 3);
	assert_int_equal(fx->bi.stats.flow_records, 2);
	assert_int_equal(store__conversation_rows(fx->st), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batch_and_resend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hello_and_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_failure_redelivers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flows, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
