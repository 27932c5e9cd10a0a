/* SPDX-License-Identifier: Apache-2.0 */
/* test_shipper.c: the sensor's findings stream (shipper.c): backoff bounds,
 * batches cut by size and by time into the spool, ids, and the protocol
 * against a fake aggregator on a real (plain TCP) socket: hello, acks
 * removing batches from the spool, resend after a reconnect from the first
 * unacknowledged batch, a bogus ack ending the connection. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "shipper.h"
#include "spool.h"
#include "wire.h"

static void test_backoff_bounds(void **state)
{
	(void)state;
	/* first failure: base 500 ms, delay in [250, 500] */
	assert_int_equal(shipper_backoff_ms(1, 0), 250);
	assert_int_equal(shipper_backoff_ms(1, 250), 500);
	assert_int_equal(shipper_backoff_ms(1, 251), 250);
	/* doubling: 1000, 2000, 4000 ... */
	assert_int_equal(shipper_backoff_ms(2, 0), 500);
	assert_int_equal(shipper_backoff_ms(2, 500), 1000);
	assert_int_equal(shipper_backoff_ms(4, 2000), 4000);
	/* capped at 30 s from the 7th (500 * 64 > 30000) */
	assert_int_equal(shipper_backoff_ms(7, 0), 15000);
	assert_int_equal(shipper_backoff_ms(7, 15000), 30000);
	assert_int_equal(shipper_backoff_ms(1000, 15000), 30000);
	assert_int_equal(shipper_backoff_ms(1000, UINT32_MAX), 15000 + UINT32_MAX % 15001);
	for (unsigned f = 1; f < 40; f++)
		for (uint32_t r = 0; r < 100000; r += 977) {
			uint64_t d = shipper_backoff_ms(f, r);
			assert_true(d >= 250 && d <= 30000);
		}
}

struct fx {
	char dir[64];
	int lfd;
	int port;
	struct shipper *sh;
	int sunk;
	char sunk_name[64];
	char sunk_msg[512];
};

static void sink(void *ctx, const struct finding *f)
{
	struct fx *x = ctx;

	x->sunk++;
	snprintf(x->sunk_name, sizeof(x->sunk_name), "%s", f->name);
	snprintf(x->sunk_msg, sizeof(x->sunk_msg), "%s", f->message);
}

static struct shipper *new_shipper(struct fx *x, uint64_t spool_max)
{
	char addr[64];
	char *err = NULL;
	struct shipper_config cfg = {
		.aggregator = addr,
		.tls = { .plaintext = true },
		.spool_dir = x->dir,
		.spool_max = spool_max,
		.node = "node:a",
		.batch_findings = 3,
		.batch_ms = 200,
		.sink = sink,
		.sink_ctx = x,
	};
	struct shipper *sh;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", x->port);
	sh = shipper__new(&cfg, &err);
	if (!sh)
		fail_msg("%s", err);
	return sh;
}

static int fx_setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	strcpy(x->dir, "/tmp/wacht-shipper-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	x->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(x->lfd >= 0);
	assert_int_equal(bind(x->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(x->lfd, 8), 0);
	assert_int_equal(getsockname(x->lfd, (struct sockaddr *)&sa, &sl), 0);
	x->port = ntohs(sa.sin_port);
	*state = x;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *x = *state;
	char cmd[128];

	shipper__free(x->sh);
	close(x->lfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", x->dir);
	assert_int_equal(system(cmd), 0);
	free(x);
	return 0;
}

static void add(struct fx *x, uint64_t now, const char *msg, char *id, size_t len)
{
	struct format_ctx fc = { .node = "node:a", .boot_to_real_ns = 1000 };
	struct finding f = {
		.ts_ns = 5,
		.name = "Process.Profile.Violation",
		.severity = SEV_HIGH,
		.action = FACT_ALERT,
		.mode = MODE_MONITOR,
		.rule = { "r.yaml:3", "no-sh", "nv.web.ns" },
		.group = "nv.web.ns",
		.process = { .pid = 7, .name = "sh", .exe = "/bin/sh", .parent_exe = "" },
		.message = msg,
		.count = 1,
	};

	assert_int_equal(shipper__add(x->sh, &fc, &f, now, id, len), 0);
}

/* Batch frames in the spool: "seq:[id id ...]" joined, for exact checks. */
struct dump {
	char text[2048];
};

static int dump_rec(void *ctx, uint64_t seq, const void *data, size_t len)
{
	struct dump *d = ctx;
	struct wire_reader *r = wire_reader__new(0);
	Wacht__V1__Envelope *env = NULL;
	size_t at = strlen(d->text);

	assert_int_equal(wire_reader__feed(r, data, len), 0);
	assert_int_equal(wire_reader__next(r, &env), 1);
	assert_int_equal(env->body_case, WACHT__V1__ENVELOPE__BODY_FINDINGS);
	assert_int_equal(env->findings->batch_seq, seq);
	at += snprintf(d->text + at, sizeof(d->text) - at, "%" PRIu64 ":[", seq);
	for (size_t i = 0; i < env->findings->n_findings; i++)
		at += snprintf(d->text + at, sizeof(d->text) - at, "%s%s=%.*s", i ? " " : "",
			       env->findings->findings[i]->id,
			       (int)env->findings->findings[i]->message.len,
			       env->findings->findings[i]->message.data);
	snprintf(d->text + at, sizeof(d->text) - at, "] ");
	wire_envelope_free(env);
	wire_reader__free(r);
	return 0;
}

static const char *spool_dump(struct fx *x, struct dump *d)
{
	int err;
	struct spool *sp;

	shipper__free(x->sh); /* one owner of a spool at a time */
	x->sh = NULL;
	sp = spool__open(x->dir, 1 << 20, &err);
	assert_non_null(sp);
	d->text[0] = 0;
	assert_int_equal(spool__peek(sp, 0, dump_rec, d), 0);
	spool__free(sp);
	return d->text;
}

/* Cut at 3 findings, or 200 ms after a batch's first finding; spooled
 * before anything is sent (no aggregator has answered here). */
static void test_batches_by_size_and_time(void **state)
{
	struct fx *x = *state;
	struct shipper_stats st;
	char id[128], sid[128], want[200];
	struct dump d;

	x->sh = new_shipper(x, 0);
	/* ':' is the id separator: the node's is replaced */
	snprintf(sid, sizeof(sid), "%s", shipper__sensor_id(x->sh));
	assert_int_equal(strncmp(sid, "node_a-", 7), 0);
	assert_int_equal(strlen(sid), 7 + 12);

	add(x, 1000, "a", id, sizeof(id));
	snprintf(want, sizeof(want), "%s:1000", sid);
	assert_string_equal(id, want);
	add(x, 1001, "b", id, sizeof(id));
	add(x, 1002, "c", id, sizeof(id));
	shipper__stats(x->sh, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.spool_batches, 1);
	add(x, 1100, "d", id, sizeof(id));
	snprintf(want, sizeof(want), "%s:2000", sid);
	assert_string_equal(id, want);
	/* 199 ms after "d": still open; 200 ms: cut */
	shipper__poll(x->sh, 1299);
	shipper__stats(x->sh, &st);
	assert_int_equal(st.batches, 1);
	shipper__poll(x->sh, 1300);
	shipper__stats(x->sh, &st);
	assert_int_equal(st.batches, 2);
	assert_int_equal(st.findings, 4);
	add(x, 1400, "e", id, sizeof(id));
	snprintf(want, sizeof(want), "%s:3000", sid);
	assert_string_equal(id, want);

	/* freeing cuts the open batch into the spool too */
	char expect[1024];
	snprintf(expect, sizeof(expect), "1:[%s:1000=a %s:1001=b %s:1002=c] 2:[%s:2000=d] 3:[%s:3000=e] ",
		 sid, sid, sid, sid, sid);
	assert_string_equal(spool_dump(x, &d), expect);

	/* a restart keeps the sensor id and continues the sequence */
	x->sh = new_shipper(x, 0);
	assert_string_equal(shipper__sensor_id(x->sh), sid);
	add(x, 5000, "f", id, sizeof(id));
	snprintf(want, sizeof(want), "%s:4000", sid);
	assert_string_equal(id, want);
}

/* ---- a fake aggregator */

static void pump_until(struct fx *x, uint64_t now, bool (*cond)(struct fx *, void *), void *arg)
{
	for (int i = 0; i < 400; i++) {
		shipper__poll(x->sh, now);
		if (cond(x, arg))
			return;
		usleep(5000);
	}
	fail_msg("condition not reached");
}

static bool acceptable(struct fx *x, void *arg)
{
	struct pollfd p = { .fd = x->lfd, .events = POLLIN };
	(void)arg;
	return poll(&p, 1, 0) == 1;
}

/* Reads frames from fd until n envelopes came (or fails). */
static int read_envs(int fd, Wacht__V1__Envelope **out, int n, struct fx *x, uint64_t now)
{
	struct wire_reader *r = wire_reader__new(0);
	int got = 0;

	for (int i = 0; i < 400 && got < n; i++) {
		uint8_t buf[65536];
		struct pollfd p = { .fd = fd, .events = POLLIN };

		shipper__poll(x->sh, now);
		if (poll(&p, 1, 5) == 1) {
			ssize_t k = read(fd, buf, sizeof(buf));
			if (k <= 0)
				break;
			assert_int_equal(wire_reader__feed(r, buf, (size_t)k), 0);
			while (got < n && wire_reader__next(r, &out[got]) == 1)
				got++;
		}
	}
	wire_reader__free(r);
	return got;
}

static void send_env(int fd, Wacht__V1__Envelope *env)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(wire_frame_envelope(env, &buf, &len), 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	free(buf);
}

static void send_server_hello(int fd)
{
	Wacht__V1__Envelope env;
	Wacht__V1__ServerHello sh = WACHT__V1__SERVER_HELLO__INIT;

	wire_envelope_init(&env);
	sh.aggregator_version = "fake";
	env.body_case = WACHT__V1__ENVELOPE__BODY_SERVER_HELLO;
	env.server_hello = &sh;
	send_env(fd, &env);
}

static void send_ack(int fd, uint64_t seq)
{
	Wacht__V1__Envelope env;
	Wacht__V1__Ack a = WACHT__V1__ACK__INIT;

	wire_envelope_init(&env);
	a.batch_seq = seq;
	env.body_case = WACHT__V1__ENVELOPE__BODY_ACK;
	env.ack = &a;
	send_env(fd, &env);
}

struct want_stats {
	uint64_t pending;
	bool connected;
};

static bool stats_reached(struct fx *x, void *arg)
{
	struct want_stats *w = arg;
	struct shipper_stats st;

	shipper__stats(x->sh, &st);
	return st.spool_batches == w->pending && st.connected == w->connected;
}

/* Hello, everything spooled sent in order, acks remove batches from the
 * spool; after a reconnect only the unacknowledged ones are sent again. */
static void test_send_ack_resend(void **state)
{
	struct fx *x = *state;
	Wacht__V1__Envelope *env[8];
	struct shipper_stats st;
	char id[128];
	int fd;

	x->sh = new_shipper(x, 0);
	for (int i = 0; i < 9; i++) /* 3 batches */
		add(x, 1000, "m", id, sizeof(id));

	pump_until(x, 1000, acceptable, NULL);
	fd = accept4(x->lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read_envs(fd, env, 1, x, 1000), 1);
	assert_int_equal(env[0]->body_case, WACHT__V1__ENVELOPE__BODY_HELLO);
	assert_string_equal(env[0]->hello->node, "node:a");
	assert_string_equal(env[0]->hello->sensor_id, shipper__sensor_id(x->sh));
	assert_int_equal(env[0]->hello->spool_dropped, 0);
	wire_envelope_free(env[0]);
	/* nothing but the hello before the aggregator's hello */
	send_server_hello(fd);
	assert_int_equal(read_envs(fd, env, 3, x, 1000), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(env[i]->body_case, WACHT__V1__ENVELOPE__BODY_FINDINGS);
		assert_int_equal(env[i]->findings->batch_seq, i + 1);
		assert_int_equal(env[i]->findings->n_findings, 3);
		wire_envelope_free(env[i]);
	}
	send_ack(fd, 2);
	struct want_stats w = { .pending = 1, .connected = true };
	pump_until(x, 1000, stats_reached, &w);
	shipper__stats(x->sh, &st);
	assert_int_equal(st.sent, 3);
	assert_int_equal(st.acked, 2);

	/* the aggregator goes away before acking batch 3 */
	close(fd);
	w = (struct want_stats){ .pending = 1, .connected = false };
	pump_until(x, 1000, stats_reached, &w);
	shipper__stats(x->sh, &st);
	assert_int_equal(st.failures, 1);
	/* a 4th batch meanwhile */
	for (int i = 0; i < 3; i++)
		add(x, 1000, "n", id, sizeof(id));
	/* the backoff (<= 500 ms after a first failure) is over at 1600 */
	pump_until(x, 1600, acceptable, NULL);
	fd = accept4(x->lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read_envs(fd, env, 1, x, 1600), 1);
	assert_int_equal(env[0]->body_case, WACHT__V1__ENVELOPE__BODY_HELLO);
	wire_envelope_free(env[0]);
	send_server_hello(fd);
	assert_int_equal(read_envs(fd, env, 2, x, 1600), 2);
	assert_int_equal(env[0]->findings->batch_seq, 3);
	assert_int_equal(env[1]->findings->batch_seq, 4);
	wire_envelope_free(env[0]);
	wire_envelope_free(env[1]);
	send_ack(fd, 4);
	w = (struct want_stats){ .pending = 0, .connected = true };
	pump_until(x, 1600, stats_reached, &w);
	shipper__stats(x->sh, &st);
	assert_int_equal(st.acked, 4);
	assert_int_equal(st.sent, 5);
	assert_int_equal(st.connects, 2);

	/* an ack for a batch never sent: out of protocol, disconnected */
	send_ack(fd, 9);
	w = (struct want_stats){ .pending = 0, .connected = false };
	pump_until(x, 1600, stats_reached, &w);
	close(fd);
}

/* A spool too small for the backlog drops the oldest batches; once an
 * aggregator answers, the drop is reported once, as a finding. */
static void test_drops_reported(void **state)
{
	struct fx *x = *state;
	Wacht__V1__Envelope *env[64];
	struct shipper_stats st;
	char id[128], msg[600];
	int fd, n;

	/* each batch is a few hundred bytes; 4 KiB of spool holds a few */
	x->sh = new_shipper(x, 4096);
	for (int i = 0; i < 30; i++) {
		memset(msg, 'x', 200);
		snprintf(msg + 200, sizeof(msg) - 200, "%d", i);
		add(x, 1000, msg, id, sizeof(id));
	}
	shipper__flush(x->sh);
	shipper__stats(x->sh, &st);
	assert_int_equal(st.batches, 10);
	assert_true(st.dropped > 0);
	assert_int_equal(st.dropped + st.spool_batches, 10);
	assert_int_equal(x->sunk, 0);

	pump_until(x, 1000, acceptable, NULL);
	fd = accept4(x->lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_int_equal(read_envs(fd, env, 1, x, 1000), 1);
	assert_int_equal(env[0]->hello->spool_dropped, st.dropped);
	wire_envelope_free(env[0]);
	send_server_hello(fd);
	n = read_envs(fd, env, (int)st.spool_batches, x, 1000);
	assert_int_equal(n, (int)st.spool_batches);
	/* the oldest went: what is sent is the newest, up to batch 10 */
	assert_int_equal(env[n - 1]->findings->batch_seq, 10);
	assert_int_equal(env[0]->findings->batch_seq, 10 - st.spool_batches + 1);
	for (int i = 0; i < n; i++)
		wire_envelope_free(env[i]);
	assert_int_equal(x->sunk, 1);
	assert_string_equal(x->sunk_name, "Sensor.Findings.Dropped");
	char want[64];
	snprintf(want, sizeof(want), "%" PRIu64 " batches of findings were dropped unsent", st.dropped);
	assert_int_equal(strncmp(x->sunk_msg, want, strlen(want)), 0);
	/* reported once, also across restarts */
	shipper__poll(x->sh, 1000);
	assert_int_equal(x->sunk, 1);
	close(fd);
	shipper__free(x->sh);
	x->sh = new_shipper(x, 4096);
	pump_until(x, 1000, acceptable, NULL);
	fd = accept4(x->lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_int_equal(read_envs(fd, env, 1, x, 1000), 1);
	wire_envelope_free(env[0]);
	send_server_hello(fd);
	n = read_envs(fd, env, (int)st.spool_batches, x, 1000);
	for (int i = 0; i < n; i++)
		wire_envelope_free(env[i]);
	assert_int_equal(x->sunk, 1);
	close(fd);
}

/* Flow reports: dropped (counted) while not connected; on the stream in
 * FlowBatches of at most SHIPPER_FLOW_RECORDS records, each its own
 * batch_seq, never acknowledged, the caller's batch left whole. */
static void test_flows_in_slices(void **state)
{
	struct fx *x = *state;
	Wacht__V1__Envelope *env[4];
	Wacht__V1__FlowBatch b = WACHT__V1__FLOW_BATCH__INIT;
	Wacht__V1__FlowRecord r = WACHT__V1__FLOW_RECORD__INIT;
	size_t n = 2 * SHIPPER_FLOW_RECORDS + 500;
	Wacht__V1__FlowRecord **rp = calloc(n, sizeof(*rp));
	struct shipper_stats st;
	int fd;

	assert_non_null(rp);
	r.proto = 6;
	r.server_port = 443;
	for (size_t i = 0; i < n; i++)
		rp[i] = &r;
	b.node = "node:a";
	b.records = rp;
	b.n_records = n;
	x->sh = new_shipper(x, 0);
	assert_int_equal(shipper__flows(x->sh, &b), -ENOTCONN);
	pump_until(x, 1000, acceptable, NULL);
	fd = accept4(x->lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read_envs(fd, env, 1, x, 1000), 1);
	wire_envelope_free(env[0]);
	send_server_hello(fd);
	struct want_stats w = { .pending = 0, .connected = true };
	pump_until(x, 1000, stats_reached, &w);
	assert_int_equal(shipper__flows(x->sh, &b), 0);
	assert_ptr_equal(b.records, rp);
	assert_int_equal(b.n_records, n);
	assert_int_equal(read_envs(fd, env, 3, x, 1000), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(env[i]->body_case, WACHT__V1__ENVELOPE__BODY_FLOWS);
		/* batch 1 was the report dropped before the connection */
		assert_int_equal(env[i]->flows->batch_seq, i + 2);
		assert_int_equal(env[i]->flows->flows_dropped, 1);
		assert_int_equal(env[i]->flows->n_records, i < 2 ? SHIPPER_FLOW_RECORDS : 500);
		assert_int_equal(env[i]->flows->records[0]->server_port, 443);
		wire_envelope_free(env[i]);
	}
	shipper__stats(x->sh, &st);
	assert_int_equal(st.flows_sent, 3);
	assert_int_equal(st.flows_dropped, 1);
	assert_int_equal(st.acked, 0);
	close(fd);
	free(rp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test_setup_teardown(test_batches_by_size_and_time, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_send_ack_resend, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_drops_reported, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_flows_in_slices, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
