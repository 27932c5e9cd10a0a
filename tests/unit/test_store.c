/* SPDX-License-Identifier: Apache-2.0 */
/* test_store.c: the aggregator's finding store. SQLite by default; with
 * WACHT_TEST_STORE_URL=postgresql://... the same cases run against that
 * PostgreSQL database, whose wacht tables each case drops first
 * (tests/integration/test_scaleout.py does that with a private server). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>

#include "store.h"
#include "store_pg.h"

#define SEC 1000000000LL
#define T0 (1700000000LL * SEC)

struct fx {
	char dir[64];
	char path[512];  /* what store__open is given: a file, or the URL */
	const char *pg;  /* the PostgreSQL URL, or NULL for SQLite */
	struct store *s;
};

/* SQL on the PostgreSQL test database, behind the store's back. */
static void pg_exec(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/* One finding and its parts, built like a decoded wire message. */
struct tf {
	Wacht__V1__Finding f;
	Wacht__V1__Rule r;
	Wacht__V1__Container c;
	Wacht__V1__Process p;
	Wacht__V1__File file;
	ProtobufCBinaryData args[2];
	char id[64];
};

static void tf_init(struct tf *t, const char *id, int64_t time, const char *ns, const char *pod,
		    const char *exe)
{
	static const Wacht__V1__Finding f0 = WACHT__V1__FINDING__INIT;
	static const Wacht__V1__Rule r0 = WACHT__V1__RULE__INIT;
	static const Wacht__V1__Container c0 = WACHT__V1__CONTAINER__INIT;
	static const Wacht__V1__Process p0 = WACHT__V1__PROCESS__INIT;
	static const Wacht__V1__File file0 = WACHT__V1__FILE__INIT;

	t->f = f0;
	t->r = r0;
	t->c = c0;
	t->p = p0;
	t->file = file0;
	snprintf(t->id, sizeof(t->id), "%s", id);
	t->f.id = t->id;
	t->f.time_unix_ns = time;
	t->f.node = "node-a";
	t->f.name = "Process.Profile.Violation";
	t->f.severity = WACHT__V1__SEVERITY__SEVERITY_HIGH;
	t->f.action = WACHT__V1__ACTION__ACTION_ALERT;
	t->f.mode = WACHT__V1__MODE__MODE_MONITOR;
	t->r.id = "rules.yaml:12";
	t->r.name = "no-shell";
	t->f.rule = &t->r;
	t->c.id = "c0ffee";
	t->c.name = "web";
	t->c.image = "nginx:1.25";
	t->c.pod = (char *)pod;
	t->c.namespace_ = (char *)ns;
	t->f.container = &t->c;
	t->p.pid = 4242;
	t->p.exe.data = (uint8_t *)exe;
	t->p.exe.len = strlen(exe);
	t->p.name.data = (uint8_t *)"sh";
	t->p.name.len = 2;
	t->args[0].data = (uint8_t *)"sh";
	t->args[0].len = 2;
	t->args[1].data = (uint8_t *)"-c\"x";
	t->args[1].len = 4;
	t->p.args = t->args;
	t->p.n_args = 2;
	t->f.process = &t->p;
	t->f.message.data = (uint8_t *)"shell started";
	t->f.message.len = strlen("shell started");
	t->f.count = 1;
}

static int add1(struct store *s, struct tf *t)
{
	const Wacht__V1__Finding *one = &t->f;

	return store__add_findings(s, &one, 1, T0);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char *err = NULL;

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->pg = getenv("WACHT_TEST_STORE_URL");
	if (fx->pg) {
		snprintf(fx->path, sizeof(fx->path), "%s", fx->pg);
		pg_exec(fx->pg, "SET client_min_messages = warning;"
			"DROP TABLE IF EXISTS received, findings, sensors, learned, conversations,"
			" flow_batches, wacht_schema");
	} else {
		snprintf(fx->path, sizeof(fx->path), "%s/wacht.db", fx->dir);
	}
	fx->s = store__open(fx->path, &(struct store_opts){ .merge_window_ns = 10 * SEC }, &err);
	assert_null(err);
	assert_non_null(fx->s);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];

	store__close(fx->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

/* Collected rows: id, count, first/last seen. */
struct rows {
	int n;
	char id[64][32];
	uint64_t count[64];
	int64_t first[64], last[64];
	char ns[64][32];
	bool acked[64];
	char ack_by[64][16], ack_comment[64][32];
	char args[64][64], exe[64][32];
};

static int collect(void *ctx, const struct store_row *r)
{
	struct rows *rs = ctx;
	int i = rs->n++;

	snprintf(rs->id[i], sizeof(rs->id[i]), "%s", r->id);
	rs->count[i] = r->count;
	rs->first[i] = r->first_seen;
	rs->last[i] = r->last_seen;
	snprintf(rs->ns[i], sizeof(rs->ns[i]), "%s", r->namespace_);
	rs->acked[i] = r->acknowledged;
	snprintf(rs->ack_by[i], sizeof(rs->ack_by[i]), "%s", r->ack_by);
	snprintf(rs->ack_comment[i], sizeof(rs->ack_comment[i]), "%s", r->ack_comment);
	snprintf(rs->args[i], sizeof(rs->args[i]), "%s", r->args_json);
	snprintf(rs->exe[i], sizeof(rs->exe[i]), "%s", r->exe);
	return 0;
}

static int query(struct store *s, const struct store_filter *flt, struct rows *rs)
{
	memset(rs, 0, sizeof(*rs));
	return store__query(s, flt, collect, rs, NULL);
}

static void test_schema_and_reopen(void **state)
{
	struct fx *fx = *state;
	struct tf t;
	struct rows rs;
	char *err = NULL;
	sqlite3 *db;

	assert_int_equal(store__schema_version(fx->s),
			 fx->pg ? STORE_PG_SCHEMA_VERSION : STORE_SCHEMA_VERSION);
	tf_init(&t, "s1:1", T0, "shop", "web-1", "/bin/sh");
	assert_int_equal(add1(fx->s, &t), 1);
	store__close(fx->s);
	fx->s = store__open(fx->path, NULL, &err);
	assert_non_null(fx->s);
	assert_int_equal(store__schema_version(fx->s),
			 fx->pg ? STORE_PG_SCHEMA_VERSION : STORE_SCHEMA_VERSION);
	assert_int_equal(query(fx->s, &(struct store_filter){ 0 }, &rs), 1);
	assert_string_equal(rs.id[0], "s1:1");
	assert_string_equal(rs.exe[0], "/bin/sh");
	assert_string_equal(rs.args[0], "[\"sh\",\"-c\\\"x\"]");
	/* a database from a newer aggregator is refused, with a message */
	store__close(fx->s);
	fx->s = NULL;
	if (fx->pg) {
		pg_exec(fx->pg, "UPDATE wacht_schema SET version = 99");
	} else {
		assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL),
				 SQLITE_OK);
		sqlite3_close(db);
	}
	assert_null(store__open(fx->path, NULL, &err));
	assert_int_equal(errno, EPROTO);
	assert_non_null(err);
	assert_non_null(strstr(err, "store: failed to migrate"));
	free(err);
}

static void test_idempotent(void **state)
{
	struct fx *fx = *state;
	struct tf a, b, c;
	const Wacht__V1__Finding *batch[3] = { &a.f, &b.f, &c.f };
	struct rows rs;

	tf_init(&a, "s1:1", T0, "shop", "web-1", "/bin/sh");
	tf_init(&b, "s1:2", T0 + SEC, "shop", "web-1", "/bin/bash");
	tf_init(&c, "s1:3", T0 + 2 * SEC, "shop", "web-1", "/bin/dash");
	assert_int_equal(store__add_findings(fx->s, batch, 3, T0), 3);
	/* the whole batch again (a lost ack), then a mixed batch */
	assert_int_equal(store__add_findings(fx->s, batch, 3, T0), 0);
	assert_int_equal(query(fx->s, &(struct store_filter){ 0 }, &rs), 3);
	assert_int_equal(rs.count[0] + rs.count[1] + rs.count[2], 3);
	/* a bad finding rolls the whole batch back */
	tf_init(&c, "s1:4", T0, "shop", "web-1", "/bin/zsh");
	b.f.id = "";
	assert_int_equal(store__add_findings(fx->s, batch, 3, T0), -EINVAL);
	assert_int_equal(query(fx->s, &(struct store_filter){ 0 }, &rs), 3);
}

static void test_merge_window(void **state)
{
	struct fx *fx = *state;
	struct tf a, b, c, d;
	struct rows rs;

	tf_init(&a, "s1:1", T0, "shop", "web-1", "/bin/sh");
	tf_init(&b, "s1:2", T0 + 3 * SEC, "shop", "web-1", "/bin/sh");
	b.f.count = 5;
	tf_init(&c, "s2:7", T0 + 9 * SEC, "shop", "web-1", "/bin/sh");
	tf_init(&d, "s1:3", T0 + 11 * SEC, "shop", "web-1", "/bin/sh"); /* past the window */
	assert_int_equal(add1(fx->s, &a), 1);
	assert_int_equal(add1(fx->s, &b), 1);
	assert_int_equal(add1(fx->s, &c), 1);
	assert_int_equal(add1(fx->s, &d), 1);
	/* a merged id resent is still recognised */
	assert_int_equal(add1(fx->s, &b), 0);
	assert_int_equal(query(fx->s, &(struct store_filter){ 0 }, &rs), 2);
	assert_string_equal(rs.id[0], "s1:3");
	assert_int_equal(rs.count[0], 1);
	assert_string_equal(rs.id[1], "s1:1");
	assert_int_equal(rs.count[1], 7);
	assert_int_equal(rs.first[1], T0);
	assert_int_equal(rs.last[1], T0 + 9 * SEC);
	/* a different message is a different finding */
	tf_init(&a, "s1:9", T0 + SEC, "shop", "web-1", "/bin/sh");
	a.f.message.data = (uint8_t *)"other";
	a.f.message.len = 5;
	assert_int_equal(add1(fx->s, &a), 1);
	assert_int_equal(query(fx->s, &(struct store_filter){ 0 }, &rs), 3);
}

static void test_filters(void **state)
{
	struct fx *fx = *state;
	struct tf t[4];
	const Wacht__V1__Finding *batch[4] = { &t[0].f, &t[1].f, &t[2].f, &t[3].f };
	struct rows rs;

	tf_init(&t[0], "s1:1", T0, "shop", "web-1", "/bin/a");
	tf_init(&t[1], "s1:2", T0 + 100 * SEC, "shop", "web-2", "/bin/b");
	t[1].f.severity = WACHT__V1__SEVERITY__SEVERITY_LOW;
	tf_init(&t[2], "s2:1", T0 + 200 * SEC, "bank", "api-1", "/bin/c");
	t[2].f.node = "node-b";
	t[2].f.name = "Network.Violation";
	tf_init(&t[3], "s2:2", T0 + 300 * SEC, "", "", "/bin/d");
	t[3].f.container = NULL; /* a host process */
	t[3].f.severity = WACHT__V1__SEVERITY__SEVERITY_CRITICAL;
	assert_int_equal(store__add_findings(fx->s, batch, 4, T0), 4);

	assert_int_equal(query(fx->s, &(struct store_filter){ .since = T0 + 100 * SEC }, &rs), 3);
	assert_int_equal(query(fx->s, &(struct store_filter){ .until = T0 + 100 * SEC }, &rs), 2);
	assert_string_equal(rs.id[0], "s1:2");
	assert_string_equal(rs.id[1], "s1:1");
	assert_int_equal(query(fx->s, &(struct store_filter){
		.min_severity = WACHT__V1__SEVERITY__SEVERITY_HIGH }, &rs), 3);
	assert_int_equal(query(fx->s, &(struct store_filter){
		.min_severity = WACHT__V1__SEVERITY__SEVERITY_CRITICAL }, &rs), 1);
	assert_string_equal(rs.id[0], "s2:2");
	assert_int_equal(query(fx->s, &(struct store_filter){ .namespace_ = "shop" }, &rs), 2);
	assert_int_equal(query(fx->s, &(struct store_filter){ .pod = "web-2" }, &rs), 1);
	assert_string_equal(rs.id[0], "s1:2");
	assert_int_equal(query(fx->s, &(struct store_filter){ .name = "Network.Violation" }, &rs), 1);
	assert_string_equal(rs.id[0], "s2:1");
	assert_int_equal(query(fx->s, &(struct store_filter){ .node = "node-b" }, &rs), 1);
	assert_string_equal(rs.id[0], "s2:1");
	assert_int_equal(query(fx->s, &(struct store_filter){ .id = "s1:2" }, &rs), 1);
	assert_int_equal(query(fx->s, &(struct store_filter){ .namespace_ = "shop", .pod = "web-1" },
			       &rs), 1);
	assert_string_equal(rs.id[0], "s1:1");
	assert_int_equal(query(fx->s, &(struct store_filter){ .namespace_ = "nope" }, &rs), 0);

	/* scope: a token for "bank" only, one for nothing, one for two */
	const char *bank[] = { "bank" }, *two[] = { "shop", "bank" };
	assert_int_equal(query(fx->s, &(struct store_filter){ .scoped = true, .scope = bank,
							      .n_scope = 1 }, &rs), 1);
	assert_string_equal(rs.ns[0], "bank");
	assert_int_equal(query(fx->s, &(struct store_filter){ .scoped = true }, &rs), 0);
	assert_int_equal(query(fx->s, &(struct store_filter){ .scoped = true, .scope = two,
							      .n_scope = 2 }, &rs), 3);
	/* scope and a filter outside it: nothing */
	assert_int_equal(query(fx->s, &(struct store_filter){ .scoped = true, .scope = bank,
							      .n_scope = 1, .namespace_ = "shop" }, &rs), 0);

	/* ack / unack */
	assert_int_equal(store__ack(fx->s, "s1:2", true, "alice", "known job", T0 + 500 * SEC), 0);
	assert_int_equal(store__ack(fx->s, "s9:9", true, "alice", NULL, T0), -ENOENT);
	assert_int_equal(query(fx->s, &(struct store_filter){ .ack = STORE_ACK_YES }, &rs), 1);
	assert_string_equal(rs.id[0], "s1:2");
	assert_true(rs.acked[0]);
	assert_string_equal(rs.ack_by[0], "alice");
	assert_string_equal(rs.ack_comment[0], "known job");
	assert_int_equal(query(fx->s, &(struct store_filter){ .ack = STORE_ACK_NO }, &rs), 3);
	assert_int_equal(store__ack(fx->s, "s1:2", false, "bob", "not so sure", T0 + 600 * SEC), 0);
	assert_int_equal(query(fx->s, &(struct store_filter){ .ack = STORE_ACK_YES }, &rs), 0);
	assert_int_equal(query(fx->s, &(struct store_filter){ .id = "s1:2" }, &rs), 1);
	assert_false(rs.acked[0]);
	assert_string_equal(rs.ack_by[0], "bob");
}

static void test_pagination(void **state)
{
	struct fx *fx = *state;
	struct tf t;
	struct rows rs;
	struct store_cursor cur;
	char id[32], seen[64] = { 0 };
	int total = 0, n;

	/* 25 findings, pairs sharing one last_seen (the rowid breaks ties) */
	for (int i = 0; i < 25; i++) {
		snprintf(id, sizeof(id), "s1:%d", i);
		tf_init(&t, id, T0 + (i / 2) * SEC, "shop", "web-1", "/bin/sh");
		t.f.message.len = 0;
		t.p.pid = i;
		t.p.exe.data = (uint8_t *)id; /* distinct merge keys */
		t.p.exe.len = strlen(id);
		assert_int_equal(add1(fx->s, &t), 1);
	}
	struct store_filter flt = { .limit = 10 };
	for (int page = 0;; page++) {
		memset(&rs, 0, sizeof(rs));
		n = store__query(fx->s, &flt, collect, &rs, &cur);
		assert_true(n >= 0);
		if (n == 0)
			break;
		for (int i = 0; i < n; i++) {
			int k = atoi(rs.id[i] + 3);
			assert_false(seen[k]);
			seen[k] = 1;
			if (i > 0)
				assert_true(rs.last[i] <= rs.last[i - 1]);
		}
		total += n;
		/* newer findings arriving between pages do not shift them */
		snprintf(id, sizeof(id), "s2:%d", page);
		tf_init(&t, id, T0 + 1000 * SEC, "shop", "web-1", id);
		assert_int_equal(add1(fx->s, &t), 1);
		flt.after = &cur;
	}
	assert_int_equal(total, 25);
	for (int k = 0; k < 25; k++)
		assert_true(seen[k]);
}

static void test_retention(void **state)
{
	struct fx *fx = *state;
	struct tf t;
	struct rows rs;
	char id[32];

	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "s1:%d", i);
		tf_init(&t, id, T0 + i * 100 * SEC, "shop", "web-1", id);
		assert_int_equal(add1(fx->s, &t), 1);
	}
	/* by age: now = T0 + 1000 s, 450 s: 0..5 are older */
	assert_int_equal(store__retention(fx->s, 450 * SEC, 0, T0 + 1000 * SEC), 6);
	assert_int_equal(query(fx->s, &(struct store_filter){ 0 }, &rs), 4);
	assert_string_equal(rs.id[3], "s1:6");
	/* by rows: keep the newest 2 */
	assert_int_equal(store__retention(fx->s, 0, 2, T0), 2);
	assert_int_equal(query(fx->s, &(struct store_filter){ 0 }, &rs), 2);
	assert_string_equal(rs.id[0], "s1:9");
	assert_string_equal(rs.id[1], "s1:8");
	assert_int_equal(store__retention(fx->s, 0, 2, T0), 0);
	/* a deleted finding's id is forgotten with it (documented) */
	snprintf(id, sizeof(id), "s1:0");
	tf_init(&t, id, T0, "shop", "web-1", id);
	assert_int_equal(add1(fx->s, &t), 1);
}

static void test_backup_restore(void **state)
{
	struct fx *fx = *state;
	struct tf t;
	struct rows rs, rs2;
	char id[32], bak[160];
	struct store *r;
	sqlite3 *other;
	char *err = NULL;

	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "s1:%d", i);
		tf_init(&t, id, T0 + i * SEC, "shop", "web-1", id);
		assert_int_equal(add1(fx->s, &t), 1);
	}
	assert_int_equal(store__ack(fx->s, "s1:3", true, "alice", "ok", T0), 0);
	if (fx->pg) {
		/* documented: a shared database is backed up with pg_dump */
		snprintf(bak, sizeof(bak), "%s/backup.db", fx->dir);
		assert_int_equal(store__backup(fx->s, bak), -EOPNOTSUPP);
		assert_int_not_equal(access(bak, F_OK), 0);
		return;
	}
	/* another connection holds an open write transaction */
	assert_int_equal(sqlite3_open(fx->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE; UPDATE findings SET count = 99;",
				      NULL, NULL, NULL), SQLITE_OK);
	snprintf(bak, sizeof(bak), "%s/backup.db", fx->dir);
	assert_int_equal(store__backup(fx->s, bak), 0);
	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(access(bak, F_OK), 0);

	r = store__open(bak, NULL, &err);
	assert_non_null(r);
	assert_int_equal(store__schema_version(r), STORE_SCHEMA_VERSION);
	assert_int_equal(query(r, &(struct store_filter){ 0 }, &rs2), 20);
	/* the uncommitted update is not in the copy */
	for (int i = 0; i < 20; i++)
		assert_int_equal(rs2.count[i], 1);
	assert_int_equal(query(fx->s, &(struct store_filter){ 0 }, &rs), 20);
	for (int i = 0; i < 20; i++) {
		assert_string_equal(rs.id[i], rs2.id[i]);
		assert_int_equal(rs.last[i], rs2.last[i]);
		assert_int_equal(rs.acked[i], rs2.acked[i]);
		assert_int_equal(rs.count[i], 99);
	}
	assert_int_equal(query(r, &(struct store_filter){ .ack = STORE_ACK_YES }, &rs2), 1);
	assert_string_equal(rs2.id[0], "s1:3");
	/* the restored store keeps its ids */
	assert_int_equal(add1(r, &t), 0);
	store__close(r);
}

static int collect_sensor(void *ctx, const struct store_sensor *row)
{
	char *out = ctx;
	size_t len = strlen(out);

	snprintf(out + len, 256 - len, "%s/%s/%s/%s/%lld/%llu;", row->node, row->sensor_id,
		 row->version, row->kernel, (long long)row->last_seen,
		 (unsigned long long)row->drops);
	return 0;
}

static void test_sensors(void **state)
{
	struct fx *fx = *state;
	Wacht__V1__SensorHello h = WACHT__V1__SENSOR_HELLO__INIT;
	char out[256] = "";

	h.node = "node-b";
	h.sensor_id = "sb";
	h.sensor_version = "v1";
	h.kernel = "6.1.0";
	assert_int_equal(store__sensor_hello(fx->s, &h, 5), 0);
	h.node = "node-a";
	h.sensor_id = "sa";
	assert_int_equal(store__sensor_hello(fx->s, &h, 6), 0);
	h.sensor_version = "v2";
	assert_int_equal(store__sensor_hello(fx->s, &h, 7), 0);
	assert_int_equal(store__sensor_drops(fx->s, "sb", 12, 8), 0);
	assert_int_equal(store__sensor_drops(fx->s, "sx", 1, 8), -ENOENT);
	assert_int_equal(store__sensors(fx->s, collect_sensor, out), 0);
	assert_string_equal(out, "node-a/sa/v2/6.1.0/7/0;node-b/sb/v1/6.1.0/8/12;");
}

/* Aggregator replicas (connections in threads) storing at once: every id
 * counted once, identical findings merged into one row per key however the
 * batches interleave, a batch two replicas got (a redelivery racing the
 * first delivery) counted once. The third writer's batches have more merge
 * keys than the PostgreSQL store locks one by one (it locks the table). */
#define BIG_BATCH 80

struct writer {
	const char *path, *prefix;
	bool big;
	int stored, err;
};

static void writer_add(struct writer *w, struct store *s, const Wacht__V1__Finding **batch,
		       size_t n)
{
	int rc = store__add_findings(s, batch, n, T0);

	if (rc < 0)
		w->err = rc;
	else
		w->stored += rc;
}

static void *writer_run(void *arg)
{
	static const char *const exe[4] = { "/bin/k0", "/bin/k1", "/bin/k2", "/bin/k3" };
	struct writer *w = arg;
	struct tf *t = calloc(BIG_BATCH, sizeof(*t));
	const Wacht__V1__Finding *batch[BIG_BATCH];
	char *err = NULL, id[32];
	struct store *s = store__open(w->path, NULL, &err);

	if (!s || !t) {
		w->err = -ENOMEM;
		free(err);
		free(t);
		store__close(s);
		return NULL;
	}
	for (int b = 0; w->big && b < 5 && !w->err; b++) {
		/* 4 findings of the shared keys, 76 of keys of their own */
		for (int i = 0; i < BIG_BATCH; i++) {
			snprintf(id, sizeof(id), "%s:%d", w->prefix, b * BIG_BATCH + i);
			tf_init(&t[i], id, T0 + b * SEC, i < 4 ? "shop" : "bulk", "web-1",
				exe[i % 4]);
			if (i >= 4) {
				t[i].p.exe.data = (uint8_t *)t[i].id;
				t[i].p.exe.len = strlen(t[i].id);
			}
			batch[i] = &t[i].f;
		}
		writer_add(w, s, batch, BIG_BATCH);
	}
	for (int b = 0; !w->big && b < 20 && !w->err; b++) {
		for (int i = 0; i < 10; i++) {
			int k = b * 10 + i;

			snprintf(id, sizeof(id), "%s:%d", w->prefix, k);
			tf_init(&t[i], id, T0 + (k % 5) * SEC, "shop", "web-1", exe[k % 4]);
			batch[i] = &t[i].f;
		}
		writer_add(w, s, batch, 10);
		if (b == 10) {
			/* the shared batch, in the middle of both streams */
			for (int k = 0; k < 20; k++) {
				snprintf(id, sizeof(id), "c:%d", k);
				tf_init(&t[k], id, T0 + (k % 5) * SEC, "shop", "web-1", exe[k % 4]);
				batch[k] = &t[k].f;
			}
			writer_add(w, s, batch, 20);
		}
	}
	store__close(s);
	free(t);
	return NULL;
}

/* Byte fields from the wire that are not UTF-8 text: SQLite keeps them as
 * they came, PostgreSQL (whose text must be UTF-8 without NUL) stores each
 * bad byte and NUL as U+FFFD; the merge key keeps the raw bytes in both. */
static void test_bytes(void **state)
{
	struct fx *fx = *state;
	struct tf a, b;
	struct rows rs;

	tf_init(&a, "s1:1", T0, "shop", "web-1", "/bin/\xffx");
	tf_init(&b, "s1:2", T0, "shop", "web-1", "/bin/\xfex");
	a.f.message.data = b.f.message.data = (uint8_t *)"a\0b";
	a.f.message.len = b.f.message.len = 3;
	assert_int_equal(add1(fx->s, &a), 1);
	assert_int_equal(add1(fx->s, &b), 1);
	assert_int_equal(query(fx->s, &(struct store_filter){ .id = "s1:1" }, &rs), 1);
	assert_string_equal(rs.exe[0], fx->pg ? "/bin/\xef\xbf\xbdx" : "/bin/\xffx");
	assert_int_equal(rs.count[0], 1);
	assert_int_equal(query(fx->s, &(struct store_filter){ 0 }, &rs), 2);
}

/* A writer that holds its lock too long (a stuck replica) makes a batch
 * fail with -EBUSY after busy_timeout_ms, so that it is retried later,
 * instead of stalling this one; once released, the batch goes in. */
static void test_busy(void **state)
{
	struct fx *fx = *state;
	struct store *s;
	struct tf t;
	char *err = NULL;
	sqlite3 *db = NULL;
	PGconn *pg = NULL;
	PGresult *r;

	s = store__open(fx->path, &(struct store_opts){ .busy_timeout_ms = 100 }, &err);
	assert_non_null(s);
	if (fx->pg) {
		pg = PQconnectdb(fx->pg);
		r = PQexec(pg, "BEGIN; LOCK TABLE findings IN ACCESS EXCLUSIVE MODE");
		assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
		PQclear(r);
	} else {
		assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	}
	tf_init(&t, "s1:1", T0, "shop", "web-1", "/bin/sh");
	assert_int_equal(add1(s, &t), -EBUSY);
	if (fx->pg) {
		PQclear(PQexec(pg, "COMMIT"));
		PQfinish(pg);
	} else {
		assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	assert_int_equal(add1(s, &t), 1);
	store__close(s);
}

static int count_rows(void *ctx, const struct store_row *r)
{
	(void)r;
	++*(int *)ctx;
	return 0;
}

static void test_concurrent_replicas(void **state)
{
	struct fx *fx = *state;
	struct writer w[3] = {
		{ .path = fx->path, .prefix = "a" },
		{ .path = fx->path, .prefix = "b" },
		{ .path = fx->path, .prefix = "big", .big = true },
	};
	pthread_t th[3];
	struct rows rs;
	int bulk = 0;

	/* the merge window (60 s by default here) covers all five times */
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer_run, &w[i]), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(w[i].err, 0);
	assert_int_equal(w[0].stored + w[1].stored, 420);
	assert_int_equal(w[2].stored, 5 * BIG_BATCH);
	assert_int_equal(query(fx->s, &(struct store_filter){ .namespace_ = "shop" }, &rs), 4);
	for (int i = 0; i < 4; i++) {
		/* per key: 50 from each small writer, 5 of the shared batch,
		 * 5 from the big one */
		assert_int_equal(rs.count[i], 110);
		assert_int_equal(rs.first[i], T0);
		assert_int_equal(rs.last[i], T0 + 4 * SEC);
	}
	assert_int_equal(store__query(fx->s, &(struct store_filter){ .namespace_ = "bulk",
								      .limit = 1000 },
				      count_rows, &bulk, NULL), 5 * (BIG_BATCH - 4));
	assert_int_equal(bulk, 5 * (BIG_BATCH - 4));
}

static void test_url(void **state)
{
	enum store_kind kind;
	const char *path;
	char *err = NULL;
	struct store *s;

	(void)state;
	assert_int_equal(store_url_parse("/var/lib/wacht/wacht.db", &kind, &path), 0);
	assert_int_equal(kind, STORE_KIND_SQLITE);
	assert_string_equal(path, "/var/lib/wacht/wacht.db");
	assert_int_equal(store_url_parse("sqlite:/var/lib/w.db", &kind, &path), 0);
	assert_int_equal(kind, STORE_KIND_SQLITE);
	assert_string_equal(path, "/var/lib/w.db");
	assert_int_equal(store_url_parse("wacht.db", &kind, &path), 0);
	assert_string_equal(path, "wacht.db");
	assert_int_equal(store_url_parse("postgres://u@db:5432/wacht", &kind, &path), 0);
	assert_int_equal(kind, STORE_KIND_POSTGRES);
	assert_string_equal(path, "postgres://u@db:5432/wacht");
	assert_int_equal(store_url_parse("postgresql:///wacht?host=/run/pg", &kind, &path), 0);
	assert_int_equal(kind, STORE_KIND_POSTGRES);
	assert_int_equal(store_url_parse("sqlite:", &kind, &path), -EINVAL);
	assert_int_equal(store_url_parse("", &kind, &path), -EINVAL);
	assert_int_equal(store_url_parse(NULL, &kind, &path), -EINVAL);

	/* FNV-1a: replicas on other machines must agree on lock ids */
	assert_int_equal(store_pg_key_hash("", 0), 0x811c9dc5u);
	assert_int_equal(store_pg_key_hash("a", 1), 0xe40c292cu);
	assert_int_equal(store_pg_key_hash("foobar", 6), 0xbf9cf968u);

	/* an unreachable server: a message naming it, without the password */
	s = store__open("postgresql://wacht:s3cret@127.0.0.1:1/wacht?connect_timeout=5", NULL,
			&err);
	assert_null(s);
	assert_int_equal(errno, ECONNREFUSED);
	assert_non_null(err);
	assert_non_null(strstr(err, "store: failed to connect to postgresql://...@127.0.0.1:1/"));
	assert_null(strstr(err, "s3cret"));
	free(err);
	err = NULL;
	assert_null(store__open("sqlite:", NULL, &err));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "store: failed to open sqlite:"));
	free(err);
}

struct learned_rows {
	char text[256];
};

static int learned_row(void *ctx, const struct store_learned *row)
{
	struct learned_rows *lr = ctx;
	size_t n = strlen(lr->text);

	snprintf(lr->text + n, sizeof(lr->text) - n, "%s/%s=%s@%lld;", row->group, row->node,
		 row->yaml, (long long)(row->updated / SEC));
	assert_int_equal(row->yaml_len, strlen(row->yaml));
	return 0;
}

/* One profile per (group, node): a newer one replaces it, an older one
 * (a resend that arrives late) does not. */
static void test_learned_profiles(void **state)
{
	struct fx *fx = *state;
	struct learned_rows lr = {0};

	assert_int_equal(store__learned_put(fx->s, "nv.web.shop", "node-b", "b1", 100 * SEC), 0);
	assert_int_equal(store__learned_put(fx->s, "nv.web.shop", "node-a", "a1", 100 * SEC), 0);
	assert_int_equal(store__learned_put(fx->s, "nv.db.shop", "node-a", "d1", 100 * SEC), 0);
	assert_int_equal(store__learned_put(fx->s, "nv.web.shop", "node-a", "a2", 200 * SEC), 0);
	assert_int_equal(store__learned_put(fx->s, "nv.web.shop", "node-a", "a0", 50 * SEC), 0);
	assert_int_equal(store__learned_put(fx->s, "", "node-a", "x", 1), -EINVAL);
	assert_int_equal(store__learned_put(fx->s, "g", "", "x", 1), -EINVAL);
	assert_int_equal(store__learned_foreach(fx->s, NULL, learned_row, &lr), 0);
	assert_string_equal(lr.text, "nv.db.shop/node-a=d1@100;nv.web.shop/node-a=a2@200;"
				     "nv.web.shop/node-b=b1@100;");
	lr.text[0] = 0;
	assert_int_equal(store__learned_foreach(fx->s, "nv.web.shop", learned_row, &lr), 0);
	assert_string_equal(lr.text, "nv.web.shop/node-a=a2@200;nv.web.shop/node-b=b1@100;");
}

static int count_cb(void *ctx, const char *name, int severity, uint64_t rows, uint64_t occ)
{
	char *out = ctx;
	size_t n = strlen(out);

	snprintf(out + n, 256 - n, "%s/%d=%llu/%llu;", name, severity, (unsigned long long)rows,
		 (unsigned long long)occ);
	return 0;
}

static void test_counts_and_size(void **state)
{
	struct fx *fx = *state;
	struct tf a, b, c;
	char out[256] = "";

	tf_init(&a, "s:1", T0, "shop", "web-1", "/bin/sh");
	tf_init(&b, "s:2", T0 + SEC, "shop", "web-1", "/bin/sh"); /* merged into s:1 */
	b.f.count = 4;
	tf_init(&c, "s:3", T0, "pay", "api-1", "/bin/bash");
	c.f.severity = WACHT__V1__SEVERITY__SEVERITY_LOW;
	assert_int_equal(add1(fx->s, &a), 1);
	assert_int_equal(add1(fx->s, &b), 1);
	assert_int_equal(add1(fx->s, &c), 1);
	assert_int_equal(store__counts(fx->s, count_cb, out), 0);
	assert_string_equal(out, "Process.Profile.Violation/2=1/1;Process.Profile.Violation/4=1/5;");
	assert_true(store__size_bytes(fx->s) >= 4096);
}

/* ---- conversations */

#define M0 ((T0 / (60 * SEC) + 1) * 60 * SEC) /* a minute's start */

/* One FlowBatch of up to 4 records and everything they point to. */
struct tfb {
	Wacht__V1__FlowBatch b;
	Wacht__V1__FlowRecord r[4], *rp[4];
	Wacht__V1__FlowEndpoint ep[4][2];
	Wacht__V1__Container ct[4][2];
	uint8_t ip[4][2][4];
};

static void tfb_init(struct tfb *t, uint64_t seq)
{
	memset(t, 0, sizeof(*t));
	wacht__v1__flow_batch__init(&t->b);
	t->b.batch_seq = seq;
	t->b.node = "node-a";
	t->b.time_unix_ns = M0;
	t->b.records = t->rp;
}

/* A container end (cid set) or an external one, IPv4 10.0.0.last. */
static void tfb_end(struct tfb *t, int i, int e, const char *cid, const char *ns, uint8_t last)
{
	Wacht__V1__FlowEndpoint *ep = &t->ep[i][e];

	wacht__v1__flow_endpoint__init(ep);
	memcpy(t->ip[i][e], (uint8_t[]){ 10, 0, 0, last }, 4);
	ep->ip.data = t->ip[i][e];
	ep->ip.len = 4;
	ep->kind = cid ? WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_CONTAINER
		       : WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_EXTERNAL;
	if (cid) {
		Wacht__V1__Container *c = &t->ct[i][e];

		wacht__v1__container__init(c);
		c->id = (char *)cid;
		c->name = e ? "db" : "web";
		c->pod = e ? "db-0" : "web-7d9f8c6b5-x2x7k";
		c->namespace_ = (char *)ns;
		c->group = e ? "nv.db.shop" : "nv.web.shop";
		ep->container = c;
	}
}

/* Record i: web (c1, shop) -> server, tcp/5432 unless changed after. */
static Wacht__V1__FlowRecord *tfb_rec(struct tfb *t, const char *server_cid, const char *server_ns,
				      bool by_client, uint64_t bytes, int64_t first, int64_t last,
				      Wacht__V1__FlowVerdict v)
{
	int i = (int)t->b.n_records++;
	Wacht__V1__FlowRecord *r = &t->r[i];

	wacht__v1__flow_record__init(r);
	tfb_end(t, i, 0, "c1", "shop", 1);
	tfb_end(t, i, 1, server_cid, server_ns, 2);
	r->client = &t->ep[i][0];
	r->server = &t->ep[i][1];
	r->proto = 6;
	r->server_port = 5432;
	r->reported_by_client = by_client;
	r->bytes_to_server = bytes;
	r->bytes_to_client = bytes / 10;
	r->packets_to_server = 3;
	r->packets_to_client = 2;
	r->sessions = 1;
	r->first_seen_unix_ns = first;
	r->last_seen_unix_ns = last;
	r->verdict = v;
	t->rp[i] = r;
	return r;
}

struct conv {
	int n;
	struct {
		char client[96], server[96];
		bool by_client;
		unsigned port;
		uint64_t bts, btc, pts, sessions;
		int64_t first, last;
		int verdict;
	} v[16];
};

static int conv_collect(void *ctx, const struct graph_record *r)
{
	struct conv *c = ctx;
	int i = c->n++;

	assert_true(i < 16);
	snprintf(c->v[i].client, sizeof(c->v[i].client), "%d|%s|%s|%s|%s|%s|%s|%s", r->client.kind,
		 r->client.ip, r->client.node, r->client.container_id, r->client.container,
		 r->client.pod, r->client.namespace, r->client.group);
	snprintf(c->v[i].server, sizeof(c->v[i].server), "%d|%s|%s|%s|%s", r->server.kind,
		 r->server.ip, r->server.node, r->server.container_id, r->server.namespace);
	c->v[i].by_client = r->reported_by_client;
	c->v[i].port = r->server_port;
	c->v[i].bts = r->bytes_to_server;
	c->v[i].btc = r->bytes_to_client;
	c->v[i].pts = r->packets_to_server;
	c->v[i].sessions = r->sessions;
	c->v[i].first = r->first_seen_ns;
	c->v[i].last = r->last_seen_ns;
	c->v[i].verdict = r->verdict;
	return 0;
}

static int convs(struct store *s, const struct store_conv_filter *f, struct conv *c)
{
	memset(c, 0, sizeof(*c));
	return store__conversations(s, f, conv_collect, c);
}

/* The row with this last_seen, or fail. */
static int conv_at(const struct conv *c, int64_t last, bool by_client)
{
	for (int i = 0; i < c->n; i++)
		if (c->v[i].last == last && c->v[i].by_client == by_client)
			return i;
	fail_msg("no row last seen at %lld", (long long)last);
	return -1;
}

static void test_conversations(void **state)
{
	struct fx *fx = *state;
	struct tfb a, b, c;
	struct conv cv;
	int i;

	/* web -> db, reported by the client twice within one minute, once
	 * more the next minute; reported by the server once */
	tfb_init(&a, 1);
	tfb_rec(&a, "c2", "shop", true, 1000, M0 + 5 * SEC, M0 + 10 * SEC,
		WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_ALLOWED);
	tfb_rec(&a, "c2", "shop", false, 990, M0 + 6 * SEC, M0 + 11 * SEC,
		WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_UNSPECIFIED);
	assert_int_equal(store__add_flows(fx->s, "node-a-1", 7, "node-a", &a.b, M0), 2);
	tfb_init(&b, 2);
	tfb_rec(&b, "c2", "shop", true, 500, M0 + 12 * SEC, M0 + 20 * SEC,
		WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_VIOLATION);
	tfb_rec(&b, "c2", "shop", true, 200, M0 + 61 * SEC, M0 + 70 * SEC,
		WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_ALLOWED);
	assert_int_equal(store__add_flows(fx->s, "node-a-1", 7, "node-a", &b.b, M0 + 70 * SEC), 2);
	assert_int_equal(store__conversation_rows(fx->s), 3);
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ 0 }, &cv), 0);
	assert_int_equal(cv.n, 3);
	i = conv_at(&cv, M0 + 20 * SEC, true);
	assert_string_equal(cv.v[i].client,
			    "1|10.0.0.1|node-a|c1|web|web-7d9f8c6b5-x2x7k|shop|nv.web.shop");
	assert_string_equal(cv.v[i].server, "1|10.0.0.2|node-a|c2|shop");
	assert_int_equal(cv.v[i].port, 5432);
	assert_int_equal(cv.v[i].bts, 1500);
	assert_int_equal(cv.v[i].btc, 150);
	assert_int_equal(cv.v[i].pts, 6);
	assert_int_equal(cv.v[i].sessions, 2);
	assert_int_equal(cv.v[i].first, M0 + 5 * SEC);
	assert_int_equal(cv.v[i].verdict, GRAPH_VERDICT_VIOLATION);
	i = conv_at(&cv, M0 + 11 * SEC, false);
	assert_int_equal(cv.v[i].bts, 990);
	assert_int_equal(cv.v[i].verdict, GRAPH_VERDICT_UNKNOWN);
	i = conv_at(&cv, M0 + 70 * SEC, true);
	assert_int_equal(cv.v[i].bts, 200);
	assert_int_equal(cv.v[i].first, M0 + 61 * SEC);

	/* the same batch again (a resend, a redelivery): skipped; batch 2 of
	 * a restarted sensor (another start time) is new */
	assert_int_equal(store__add_flows(fx->s, "node-a-1", 7, "node-a", &b.b, M0 + 80 * SEC), 0);
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ 0 }, &cv), 0);
	assert_int_equal(cv.v[conv_at(&cv, M0 + 20 * SEC, true)].bts, 1500);
	assert_int_equal(cv.v[conv_at(&cv, M0 + 70 * SEC, true)].bts, 200);
	assert_int_equal(store__add_flows(fx->s, "node-a-1", 8, "node-a", &b.b, M0 + 80 * SEC), 2);
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ 0 }, &cv), 0);
	assert_int_equal(cv.n, 3);
	assert_int_equal(cv.v[conv_at(&cv, M0 + 20 * SEC, true)].bts, 2000);
	assert_int_equal(cv.v[conv_at(&cv, M0 + 70 * SEC, true)].bts, 400);

	/* since (to the minute: rows carry their newest last_seen) */
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ .since = M0 + 15 * SEC }, &cv), 0);
	assert_int_equal(cv.n, 2);
	conv_at(&cv, M0 + 20 * SEC, true);
	conv_at(&cv, M0 + 70 * SEC, true);
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ .since = M0 + 71 * SEC }, &cv), 0);
	assert_int_equal(cv.n, 0);

	/* an external server, another namespace's client: filters by either end */
	tfb_init(&c, 3);
	tfb_rec(&c, NULL, NULL, true, 64, M0 + 30 * SEC, M0 + 30 * SEC,
		WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_DENIED);
	c.ct[0][0].namespace_ = "pay";
	c.ct[0][0].id = "c9";
	assert_int_equal(store__add_flows(fx->s, "node-a-1", 8, "node-a", &c.b, M0 + 80 * SEC), 1);
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ .namespace_ = "pay" }, &cv), 0);
	assert_int_equal(cv.n, 1);
	assert_string_equal(cv.v[0].server, "3|10.0.0.2|||");
	assert_string_equal(cv.v[0].client,
			    "1|10.0.0.1|node-a|c9|web|web-7d9f8c6b5-x2x7k|pay|nv.web.shop");
	assert_int_equal(cv.v[0].verdict, GRAPH_VERDICT_DENIED);
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ .namespace_ = "shop" }, &cv), 0);
	assert_int_equal(cv.n, 3);
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ .namespace_ = "none" }, &cv), 0);
	assert_int_equal(cv.n, 0);
	const char *const pay[] = { "pay" }, *const both[] = { "x", "shop", "pay" };
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ .scoped = true, .scope = pay,
								   .n_scope = 1 }, &cv), 0);
	assert_int_equal(cv.n, 1);
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ .scoped = true, .scope = both,
								   .n_scope = 3 }, &cv), 0);
	assert_int_equal(cv.n, 4);
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ .scoped = true, .n_scope = 0 },
			       &cv), 0);
	assert_int_equal(cv.n, 0);

	/* retention by age: rows last seen before M0 + 40 s, and the batches
	 * received before it (a batch that old is stored again) */
	assert_int_equal(store__retention_flows(fx->s, 60 * SEC, M0 + 100 * SEC), 3);
	assert_int_equal(store__conversation_rows(fx->s), 1);
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ 0 }, &cv), 0);
	assert_int_equal(cv.v[0].last, M0 + 70 * SEC);
	assert_int_equal(store__retention_flows(fx->s, 0, M0 + 100 * SEC), 0);
	assert_int_equal(store__add_flows(fx->s, "node-a-1", 7, "node-a", &a.b, M0 + 100 * SEC), 2);
	assert_int_equal(store__add_flows(fx->s, "node-a-1", 7, "node-a", &b.b, M0 + 100 * SEC), 0);
}

static void test_conversations_bad_batches(void **state)
{
	struct fx *fx = *state;
	struct tfb t;
	char why[200];

	tfb_init(&t, 1);
	tfb_rec(&t, "c2", "shop", true, 1, M0, M0, WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_ALLOWED);
	assert_int_equal(store_flows_check(&t.b, "node-a", why, sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_int_equal(store_flows_check(&t.b, "node-b", why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "flow batch 1 for node 'node-a', not the sensor's ('node-b')");
	assert_int_equal(store__add_flows(fx->s, "s", 1, "node-b", &t.b, M0), -EINVAL);
	t.r[0].proto = 1;
	assert_int_equal(store_flows_check(&t.b, "node-a", why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "flow batch 1, record 0: protocol 1 is not tcp (6) or udp (17)");
	t.r[0].proto = 17;
	t.ep[0][1].ip.len = 16; /* one end v4, the other v6 */
	assert_int_equal(store_flows_check(&t.b, "node-a", why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "flow batch 1, record 0: an IPv4 and an IPv6 end");
	t.ep[0][1].ip.len = 5;
	assert_int_equal(store_flows_check(&t.b, "node-a", why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "flow batch 1, record 0: server: an IP that is not 4 or 16 bytes");
	t.ep[0][1].ip.len = 4;
	t.ep[0][0].kind = 7;
	assert_int_equal(store_flows_check(&t.b, "node-a", why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "flow batch 1, record 0: client: an endpoint kind that is not"
				 " container, node or external");
	assert_int_equal(store__add_flows(fx->s, "s", 1, "node-a", &t.b, M0), -EINVAL);
	t.ep[0][0].kind = WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_CONTAINER;
	t.b.batch_seq = 0;
	assert_int_equal(store_flows_check(&t.b, "node-a", why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "flow batch without a batch_seq");
	assert_int_equal(store__conversation_rows(fx->s), 0);

	/* a container the sensor could not name: its address, as external */
	struct conv cv;
	t.b.batch_seq = 1;
	t.ct[0][1].id = "";
	assert_int_equal(store__add_flows(fx->s, "s", 1, "node-a", &t.b, M0), 1);
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ 0 }, &cv), 0);
	assert_string_equal(cv.v[0].server, "3|10.0.0.2|||");
}

/* A store of the previous schema (before conversations) is migrated with
 * its findings kept. */
static void test_conversations_migration(void **state)
{
	struct fx *fx = *state;
	struct tf t;
	struct tfb b;
	struct rows rs;
	char *err = NULL;
	sqlite3 *db;

	tf_init(&t, "s1:1", T0, "shop", "web-1", "/bin/sh");
	assert_int_equal(add1(fx->s, &t), 1);
	store__close(fx->s);
	if (fx->pg) {
		pg_exec(fx->pg, "DROP TABLE conversations, flow_batches;"
			" UPDATE wacht_schema SET version = 2");
	} else {
		assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "DROP TABLE conversations; DROP TABLE flow_batches;"
					      " PRAGMA user_version = 3", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	fx->s = store__open(fx->path, NULL, &err);
	assert_null(err);
	assert_non_null(fx->s);
	assert_int_equal(store__schema_version(fx->s),
			 fx->pg ? STORE_PG_SCHEMA_VERSION : STORE_SCHEMA_VERSION);
	assert_int_equal(query(fx->s, &(struct store_filter){ 0 }, &rs), 1);
	tfb_init(&b, 1);
	tfb_rec(&b, "c2", "shop", true, 1, M0, M0, WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_ALLOWED);
	assert_int_equal(store__add_flows(fx->s, "node-a-1", 1, "node-a", &b.b, M0), 1);
	assert_int_equal(store__conversation_rows(fx->s), 1);
}

/* Inside store__begin's transaction (the TLS loop's): a savepoint each. */
static void test_conversations_in_txn(void **state)
{
	struct fx *fx = *state;
	struct tfb b;

	tfb_init(&b, 1);
	tfb_rec(&b, "c2", "shop", true, 1, M0, M0, WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_ALLOWED);
	if (fx->pg) {
		assert_int_equal(store__begin(fx->s), -EOPNOTSUPP);
		assert_int_equal(store__add_flows(fx->s, "n-1", 1, "node-a", &b.b, M0), 1);
		return;
	}
	assert_int_equal(store__begin(fx->s), 0);
	assert_int_equal(store__add_flows(fx->s, "n-1", 1, "node-a", &b.b, M0), 1);
	assert_int_equal(store__add_flows(fx->s, "n-1", 1, "node-a", &b.b, M0), 0);
	b.b.batch_seq = 2;
	assert_int_equal(store__add_flows(fx->s, "n-1", 1, "node-a", &b.b, M0), 1);
	assert_int_equal(store__commit(fx->s), 0);
	assert_int_equal(store__conversation_rows(fx->s), 1);
	struct conv cv;
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ 0 }, &cv), 0);
	assert_int_equal(cv.v[0].bts, 2);
}

/* A connect refused before the socket was bound reports 0.0.0.0 as the
 * client's address: stored without one, not as the container's. */
static void test_conversations_unbound_address(void **state)
{
	struct fx *fx = *state;
	struct tfb b;
	struct conv cv;

	tfb_init(&b, 1);
	tfb_rec(&b, "c2", "shop", true, 0, M0, M0, WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_DENIED);
	memset(b.ip[0][0], 0, 4);
	assert_int_equal(store__add_flows(fx->s, "n-1", 1, "node-a", &b.b, M0), 1);
	assert_int_equal(convs(fx->s, &(struct store_conv_filter){ 0 }, &cv), 0);
	assert_int_equal(cv.n, 1);
	assert_string_equal(cv.v[0].client,
			    "1||node-a|c1|web|web-7d9f8c6b5-x2x7k|shop|nv.web.shop");
	assert_string_equal(cv.v[0].server, "1|10.0.0.2|node-a|c2|shop");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pagination, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sensors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_replicas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test(test_url),
		cmocka_unit_test_setup_teardown(test_learned_profiles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts_and_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversations_bad_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversations_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversations_in_txn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversations_unbound_address, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
