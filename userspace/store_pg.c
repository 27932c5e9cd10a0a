/* SPDX-License-Identifier: Apache-2.0 */
/* store_pg.c: the finding store in PostgreSQL (libpq), shared by several
 * aggregator replicas (see store_pg.h and store.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "jsonw.h"
#include "store_conv.h"
#include "store_pg.h"

#define DEFAULT_MERGE_WINDOW_NS (60LL * 1000000000LL)
#define DEFAULT_LIMIT 100
#define DEFAULT_BUSY_MS 5000
/* add_findings retries a batch that PostgreSQL aborted to break a deadlock
 * between replicas (40P01) or a serialization failure (40001). Each retry
 * starts after the winner committed, so a few suffice. */
#define ADD_TRIES 8
/* A batch with more distinct merge keys than this locks the table instead
 * of one advisory lock per key: every lock takes a slot in PostgreSQL's
 * shared lock table (max_locks_per_transaction, 64 per connection by
 * default), which a big batch would exhaust. */
#define KEY_LOCKS_MAX 64
/* The first half of the two-int advisory lock ids this store takes ("WACH"),
 * so that other users of advisory locks in the same database do not
 * collide with the merge-key locks. */
#define LOCK_CLASS 0x57414348

/*
 * Why concurrent replicas store each finding exactly once and merge as one
 * SQLite writer would:
 * - Ids: received(id) is the primary key and every id is claimed with
 *   INSERT ... ON CONFLICT DO NOTHING before anything else happens to its
 *   finding. A second transaction claiming an id that another has claimed
 *   but not committed waits for it (that is how a unique index behaves):
 *   if the first commits, the claim finds the conflict and the finding is
 *   skipped (a redelivered batch adds nothing); if it rolls back, the claim
 *   succeeds. So an id is counted by exactly one committed transaction.
 * - Merges: a merge reads "the newest row with this key within the window"
 *   and then updates or inserts, which races between replicas (both read
 *   "none", both insert). Every batch therefore first takes a lock per
 *   distinct merge key (pg_advisory_xact_lock on its hash, in ascending
 *   order, held until commit); transactions touching the same key run one
 *   after the other, and under READ COMMITTED each statement after the
 *   lock sees what the previous holder committed. A batch with more keys
 *   than KEY_LOCKS_MAX takes SHARE ROW EXCLUSIVE on findings instead, and
 *   every other batch takes ROW EXCLUSIVE first, which conflicts with it
 *   (and not with itself): big batches run alone, small ones side by side.
 *   Hash collisions only make unrelated keys wait for each other.
 * - Deadlocks (possible only when one id arrives with two different
 *   contents) are broken by PostgreSQL and the loser retried.
 */
/* PostgreSQL has its own schema history (the SQLite one is in store.c);
 * STORE_PG_SCHEMA_VERSION is in store_pg.h. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE findings ("
	" seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY," /* keyset cursor */
	" id TEXT NOT NULL UNIQUE," /* the first sensor id stored in this row */
	" merge_key BYTEA NOT NULL,"
	" first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL,"
	" count BIGINT NOT NULL,"
	" node TEXT NOT NULL, name TEXT NOT NULL,"
	" severity INTEGER NOT NULL, action INTEGER NOT NULL, mode INTEGER NOT NULL,"
	" rule_id TEXT NOT NULL, rule_name TEXT NOT NULL, rule_group TEXT NOT NULL,"
	" container_id TEXT NOT NULL, container_name TEXT NOT NULL, image TEXT NOT NULL,"
	" pod TEXT NOT NULL, namespace TEXT NOT NULL, grp TEXT NOT NULL,"
	" pid BIGINT NOT NULL, ppid BIGINT NOT NULL, uid BIGINT NOT NULL,"
	" euid BIGINT NOT NULL,"
	" exe TEXT NOT NULL, process_name TEXT NOT NULL, parent_exe TEXT NOT NULL,"
	" args TEXT NOT NULL,"
	" file_path TEXT NOT NULL, file_op TEXT NOT NULL,"
	" net_proto BIGINT NOT NULL, net_direction INTEGER NOT NULL,"
	" local_ip BYTEA, local_port BIGINT NOT NULL,"
	" remote_ip BYTEA, remote_port BIGINT NOT NULL, peer_group TEXT NOT NULL,"
	" message TEXT NOT NULL,"
	" acknowledged BOOLEAN NOT NULL DEFAULT false, ack_by TEXT NOT NULL DEFAULT '',"
	" ack_comment TEXT NOT NULL DEFAULT '', ack_time BIGINT NOT NULL DEFAULT 0);"
	"CREATE INDEX findings_time ON findings(last_seen);"
	"CREATE INDEX findings_severity ON findings(severity, last_seen);"
	"CREATE INDEX findings_namespace ON findings(namespace, last_seen);"
	"CREATE INDEX findings_pod ON findings(pod, last_seen);"
	"CREATE INDEX findings_name ON findings(name, last_seen);"
	"CREATE INDEX findings_node ON findings(node, last_seen);"
	"CREATE INDEX findings_merge ON findings(merge_key, first_seen);"
	/* every id received, including those merged into another row; finding
	 * is NULL only inside the transaction that claimed the id */
	"CREATE TABLE received (id TEXT PRIMARY KEY,"
	" finding BIGINT REFERENCES findings(seq) ON DELETE CASCADE);"
	"CREATE INDEX received_finding ON received(finding);"
	"CREATE TABLE sensors (sensor_id TEXT PRIMARY KEY, node TEXT NOT NULL,"
	" version TEXT NOT NULL, kernel TEXT NOT NULL, start_time BIGINT NOT NULL,"
	" last_seen BIGINT NOT NULL, drops BIGINT NOT NULL DEFAULT 0);",
	/* 1 -> 2: each node's learned profile of each group (LearnedProfile),
	 * the newest replacing the older one, as in SQLite */
	"CREATE TABLE learned (grp TEXT NOT NULL, node TEXT NOT NULL, yaml TEXT NOT NULL,"
	" updated BIGINT NOT NULL, PRIMARY KEY (grp, node));",
	/* 2 -> 3: conversations and the flow batches stored, as in SQLite */
	CONVERSATIONS_SQL("BIGINT", "BYTEA")
	"CREATE TABLE flow_batches (sensor_id TEXT NOT NULL, start_time BIGINT NOT NULL,"
	" batch_seq BIGINT NOT NULL, received BIGINT NOT NULL,"
	" PRIMARY KEY (sensor_id, start_time, batch_seq));"
	"CREATE INDEX flow_batches_received ON flow_batches(received);",
};
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_PG_SCHEMA_VERSION,
	       "one migration per schema version");

enum stmt_id {
	ST_CLAIM,
	ST_MERGE,
	ST_INSERT,
	ST_LOCK_KEYS,
	ST_QUERY,
	ST_ACK,
	ST_RET_AGE,
	ST_RET_ROWS,
	ST_SENSOR_UPSERT,
	ST_SENSOR_DROPS,
	ST_SENSORS,
	ST_FLOW_BATCH,
	ST_CONV_UPSERT,
	ST_CONV_QUERY,
	ST__COUNT,
};

static const char *const stmt_sql[ST__COUNT] = {
	[ST_CLAIM] = "INSERT INTO received (id) VALUES ($1) ON CONFLICT DO NOTHING",
	/* merge into the newest row with this key within the window, if any,
	 * and point the claimed id at it; 0 rows: insert instead */
	[ST_MERGE] = "WITH m AS (SELECT seq FROM findings WHERE merge_key = $2"
		     " AND first_seen > $3 AND first_seen < $4"
		     " ORDER BY first_seen DESC LIMIT 1),"
		     " u AS (UPDATE findings f SET count = f.count + $5,"
		     " first_seen = least(f.first_seen, $6), last_seen = greatest(f.last_seen, $6)"
		     " FROM m WHERE f.seq = m.seq RETURNING f.seq)"
		     " UPDATE received r SET finding = u.seq FROM u WHERE r.id = $1",
	[ST_INSERT] = "WITH i AS (INSERT INTO findings (id, merge_key, first_seen, last_seen,"
		      " count, node, name, severity, action, mode, rule_id, rule_name,"
		      " rule_group, container_id, container_name, image, pod, namespace, grp,"
		      " pid, ppid, uid, euid, exe, process_name, parent_exe, args,"
		      " file_path, file_op, net_proto, net_direction, local_ip, local_port,"
		      " remote_ip, remote_port, peer_group, message) VALUES ($1, $2, $3, $4,"
		      " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,"
		      " $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33,"
		      " $34, $35, $36, $37) RETURNING seq)"
		      " UPDATE received r SET finding = i.seq FROM i WHERE r.id = $1",
	/* the array comes sorted; a function scan over unnest keeps its order */
	[ST_LOCK_KEYS] = "SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int4[]) AS k",
	[ST_QUERY] = "SELECT seq, id, node, name, first_seen, last_seen, count, severity,"
		     " action, mode, rule_id, rule_name, rule_group, container_id,"
		     " container_name, image, pod, namespace, grp, pid, exe, process_name,"
		     " args, file_path, file_op, net_proto, net_direction, local_ip,"
		     " local_port, remote_ip, remote_port, peer_group, message,"
		     " acknowledged, ack_by, ack_comment, ack_time, ppid, uid, euid, parent_exe"
		     " FROM findings WHERE ($1::text IS NULL OR id = $1) AND ($2::bigint IS NULL OR last_seen >= $2)"
		     " AND ($3::bigint IS NULL OR last_seen <= $3) AND severity >= $4"
		     " AND ($5::text IS NULL OR namespace = $5) AND ($6::text IS NULL OR pod = $6)"
		     " AND ($7::text IS NULL OR name = $7) AND ($8::text IS NULL OR node = $8)"
		     " AND ($9::boolean IS NULL OR acknowledged = $9)"
		     " AND ($10::jsonb IS NULL OR namespace IN"
		     " (SELECT jsonb_array_elements_text($10::jsonb)))"
		     " AND ($11::bigint IS NULL OR last_seen < $11"
		     " OR (last_seen = $11 AND seq < $12::bigint))"
		     " ORDER BY last_seen DESC, seq DESC LIMIT $13",
	[ST_ACK] = "UPDATE findings SET acknowledged = $2, ack_by = $3, ack_comment = $4,"
		   " ack_time = $5 WHERE id = $1",
	[ST_RET_AGE] = "DELETE FROM findings WHERE last_seen < $1",
	[ST_RET_ROWS] = "DELETE FROM findings WHERE seq IN (SELECT seq FROM findings"
			" ORDER BY last_seen ASC, seq ASC LIMIT"
			" greatest(0, (SELECT count(*) FROM findings) - $1::bigint))",
	[ST_SENSOR_UPSERT] = "INSERT INTO sensors (sensor_id, node, version, kernel,"
			     " start_time, last_seen) VALUES ($1, $2, $3, $4, $5, $6)"
			     " ON CONFLICT (sensor_id) DO UPDATE SET node = excluded.node,"
			     " version = excluded.version, kernel = excluded.kernel,"
			     " start_time = excluded.start_time, last_seen = excluded.last_seen",
	[ST_SENSOR_DROPS] = "UPDATE sensors SET drops = $2, last_seen = $3 WHERE sensor_id = $1",
	[ST_SENSORS] = "SELECT node, sensor_id, version, kernel, last_seen, drops FROM sensors"
		       " ORDER BY node COLLATE \"C\", sensor_id COLLATE \"C\"",
	[ST_FLOW_BATCH] = "INSERT INTO flow_batches (sensor_id, start_time, batch_seq, received)"
			  " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
	[ST_CONV_UPSERT] = "INSERT INTO conversations (" CONV_COLS ") VALUES ($1, $2, $3, $4,"
			   " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,"
			   " $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31)"
			   CONV_UPDATE("least", "greatest"),
	[ST_CONV_QUERY] = CONV_SELECT " WHERE ($1::bigint IS NULL OR last_seen >= $1)"
			  " AND ($2::text IS NULL OR c_namespace = $2 OR s_namespace = $2)"
			  " AND ($3::jsonb IS NULL OR c_namespace IN"
			  " (SELECT jsonb_array_elements_text($3::jsonb)) OR s_namespace IN"
			  " (SELECT jsonb_array_elements_text($3::jsonb)))",
};

/* Bound parameters of one statement: text, or binary for bytea. */
#define MAX_PARAMS 40
struct params {
	const char *val[MAX_PARAMS];
	int len[MAX_PARAMS], fmt[MAX_PARAMS];
	char num[MAX_PARAMS][24];
	char *owned[MAX_PARAMS]; /* sanitized copies, freed by params_free */
	int n;
};

struct store_pg {
	PGconn *conn;
	bool prepared[ST__COUNT]; /* per connection: cleared on reconnect */
	int64_t merge_window_ns;
	struct jsonw *jw;
	struct store_key key;
	char errmsg[256];
};

static void params_free(struct params *p)
{
	for (int i = 0; i < p->n; i++)
		free(p->owned[i]);
	p->n = 0;
}

static void param_null(struct params *p)
{
	p->val[p->n] = NULL;
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->owned[p->n++] = NULL;
}

static void param_int(struct params *p, int64_t v)
{
	snprintf(p->num[p->n], sizeof(p->num[p->n]), "%" PRId64, v);
	p->val[p->n] = p->num[p->n];
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->owned[p->n++] = NULL;
}

/* PostgreSQL text must be valid UTF-8 without NUL: each invalid byte and
 * each NUL becomes U+FFFD. NULL (with nothing allocated) when s is fine. */
static char *utf8_sanitize(const char *s, size_t n)
{
	static const char repl[] = "\xef\xbf\xbd";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0, k;
	char *out;

	if (!memchr(s, 0, n) && jsonw_utf8_valid(s, n))
		return NULL;
	out = malloc(n * 3 + 1);
	if (!out)
		return NULL;
	while (i < n) {
		k = u[i] >= 0xc2 && u[i] <= 0xdf ? 2 : u[i] >= 0xe0 && u[i] <= 0xef ? 3
		    : u[i] >= 0xf0 && u[i] <= 0xf4 ? 4 : 1;
		if (u[i] && (u[i] < 0x80 || (k > 1 && i + k <= n && jsonw_utf8_valid(s + i, k)))) {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		} else {
			memcpy(out + o, repl, 3);
			o += 3;
			i++;
		}
	}
	out[o] = 0;
	return out;
}

/* terminated: s[n] is a NUL that may be passed on as it is; libpq takes
 * text parameters as C strings, so byte fields from the wire are copied */
static void param_textn(struct params *p, const char *s, size_t n, bool terminated)
{
	char *clean = utf8_sanitize(s, n);

	if (!clean && !terminated)
		clean = strndup(s, n);
	p->owned[p->n] = clean;
	p->val[p->n] = clean ? clean : terminated ? s : "";
	p->len[p->n] = 0;
	p->fmt[p->n++] = 0;
}

static void param_str(struct params *p, const char *s)
{
	s = s ? s : "";
	param_textn(p, s, strlen(s), true);
}

static void param_bytes_text(struct params *p, ProtobufCBinaryData b)
{
	if (b.data && b.len)
		param_textn(p, (const char *)b.data, b.len, false);
	else
		param_str(p, "");
}

static void param_opt_str(struct params *p, const char *s)
{
	if (s)
		param_str(p, s);
	else
		param_null(p);
}

/* bytea, sent in binary: the bytes as they are */
static void param_blob(struct params *p, const void *data, size_t len)
{
	p->val[p->n] = len ? data : "";
	p->len[p->n] = (int)len;
	p->fmt[p->n] = 1;
	p->owned[p->n++] = NULL;
}

static void param_ip(struct params *p, ProtobufCBinaryData b)
{
	if (b.data && b.len)
		param_blob(p, b.data, b.len);
	else
		param_null(p);
}

/* A SQLSTATE as a negative errno. */
static int sqlstate_errno(const char *state)
{
	if (!state)
		return -EIO; /* no server answer: the connection broke */
	if (!strncmp(state, "23", 2))
		return -EEXIST;
	if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
		return -EBUSY;
	if (!strcmp(state, "53100"))
		return -ENOSPC;
	if (!strcmp(state, "53200"))
		return -ENOMEM;
	if (!strncmp(state, "28", 2) || !strcmp(state, "42501"))
		return -EACCES;
	if (!strncmp(state, "08", 2))
		return -ECONNRESET;
	return -EIO;
}

static bool retryable(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return state && (!strcmp(state, "40001") || !strcmp(state, "40P01"));
}

static void keep_err(struct store_pg *s, const PGresult *res)
{
	const char *m = res ? PQresultErrorMessage(res) : "";

	if (!m[0])
		m = PQerrorMessage(s->conn);
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", m);
	/* libpq messages end with a newline */
	s->errmsg[strcspn(s->errmsg, "\n")] = 0;
}

const char *store_pg__errmsg(const struct store_pg *s)
{
	return s ? s->errmsg : "out of memory";
}

/* A broken connection (the server restarted, a network blip) is reset once
 * before the next statement; its prepared statements went with it. */
static int conn_ready(struct store_pg *s)
{
	if (PQstatus(s->conn) == CONNECTION_OK)
		return 0;
	PQreset(s->conn);
	memset(s->prepared, 0, sizeof(s->prepared));
	if (PQstatus(s->conn) != CONNECTION_OK) {
		keep_err(s, NULL);
		return -ECONNREFUSED;
	}
	return 0;
}

/* Runs statement id with p; NULL with *err set on failure (the result is
 * cleared). The caller clears a non-NULL result. */
static PGresult *run(struct store_pg *s, enum stmt_id id, struct params *p, int *err,
		     bool *retry)
{
	char name[16];
	PGresult *res;
	ExecStatusType st;

	snprintf(name, sizeof(name), "wacht_%d", (int)id);
	if (!s->prepared[id]) {
		res = PQprepare(s->conn, name, stmt_sql[id], 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			keep_err(s, res);
			*err = sqlstate_errno(PQresultErrorField(res, PG_DIAG_SQLSTATE));
			PQclear(res);
			return NULL;
		}
		PQclear(res);
		s->prepared[id] = true;
	}
	res = PQexecPrepared(s->conn, name, p->n, p->val, p->len, p->fmt, 0);
	st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	keep_err(s, res);
	*err = sqlstate_errno(PQresultErrorField(res, PG_DIAG_SQLSTATE));
	if (retry)
		*retry = retryable(res);
	PQclear(res);
	return NULL;
}

/* Runs and clears; 0 or -errno, *changed (if not NULL) the rows affected. */
static int run_done(struct store_pg *s, enum stmt_id id, struct params *p, uint64_t *changed,
		    bool *retry)
{
	int err = 0;
	PGresult *res = run(s, id, p, &err, retry);

	params_free(p);
	if (!res)
		return err;
	if (changed)
		*changed = strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 0;
}

/* One SQL command without parameters; 0 or -errno. */
static int exec_sql(struct store_pg *s, const char *sql, bool *retry)
{
	PGresult *res = PQexec(s->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int err = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		keep_err(s, res);
		err = sqlstate_errno(PQresultErrorField(res, PG_DIAG_SQLSTATE));
		if (retry)
			*retry = retryable(res);
	}
	PQclear(res);
	return err;
}

static void set_err(char **err, const char *what, const char *url, const char *why)
{
	char safe[256];
	const char *at;

	/* never print a password: show the URL from after the credentials */
	at = strrchr(url, '@');
	if (at)
		snprintf(safe, sizeof(safe), "postgresql://...%s", at);
	else
		snprintf(safe, sizeof(safe), "%s", url);
	if (err && asprintf(err, "store: failed to %s %s: %s", what, safe, why) < 0)
		*err = NULL;
}

static int migrate(struct store_pg *s, const char *url, char **err)
{
	char sql[96];
	PGresult *res;
	int version, rc;

	/* replicas starting together migrate one after the other: the lock
	 * is taken before the version is read, inside the transaction */
	snprintf(sql, sizeof(sql), "BEGIN; SELECT pg_advisory_xact_lock(%d, 0)", LOCK_CLASS);
	rc = exec_sql(s, sql, NULL);
	if (!rc)
		rc = exec_sql(s, "CREATE TABLE IF NOT EXISTS wacht_schema (version INTEGER NOT NULL)",
			      NULL);
	if (rc)
		goto fail;
	res = PQexec(s->conn, "SELECT max(version) FROM wacht_schema");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		keep_err(s, res);
		rc = sqlstate_errno(PQresultErrorField(res, PG_DIAG_SQLSTATE));
		PQclear(res);
		goto fail;
	}
	version = PQgetisnull(res, 0, 0) ? 0 : atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (version > STORE_PG_SCHEMA_VERSION) {
		snprintf(s->errmsg, sizeof(s->errmsg),
			 "schema version %d is newer than this aggregator's (%d); upgrade it",
			 version, STORE_PG_SCHEMA_VERSION);
		rc = -EPROTO;
		goto fail;
	}
	for (; version < STORE_PG_SCHEMA_VERSION; version++) {
		rc = exec_sql(s, migrations[version], NULL);
		if (rc)
			goto fail;
		snprintf(sql, sizeof(sql), "DELETE FROM wacht_schema;"
			 " INSERT INTO wacht_schema VALUES (%d)", version + 1);
		rc = exec_sql(s, sql, NULL);
		if (rc)
			goto fail;
	}
	rc = exec_sql(s, "COMMIT", NULL);
	if (!rc)
		return 0;
fail:
	set_err(err, "migrate", url, s->errmsg);
	exec_sql(s, "ROLLBACK", NULL);
	return rc;
}

struct store_pg *store_pg__open(const char *url, const struct store_opts *opts, char **err)
{
	struct store_pg *s = calloc(1, sizeof(*s));
	char sql[96];
	int ret;

	if (!s || !(s->jw = jsonw__new())) {
		set_err(err, "open", url, strerror(ENOMEM));
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->merge_window_ns = opts && opts->merge_window_ns > 0 ? opts->merge_window_ns
							       : DEFAULT_MERGE_WINDOW_NS;
	s->conn = PQconnectdb(url);
	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
		keep_err(s, NULL);
		set_err(err, "connect to", url, s->conn ? s->errmsg : strerror(ENOMEM));
		ret = s->conn ? -ECONNREFUSED : -ENOMEM;
		goto fail;
	}
	/* notices (e.g. "relation already exists, skipping") are not errors;
	 * times are integers, so no time zone setting matters. A lock held
	 * longer than the busy timeout (a replica stuck mid-transaction) fails
	 * the batch with -EBUSY instead of stalling this replica: the bus
	 * redelivers it. */
	snprintf(sql, sizeof(sql), "SET client_min_messages = warning; SET lock_timeout = %d",
		 opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : DEFAULT_BUSY_MS);
	ret = exec_sql(s, sql, NULL);
	if (ret) {
		set_err(err, "configure", url, s->errmsg);
		goto fail;
	}
	ret = migrate(s, url, err);
	if (ret)
		goto fail;
	return s;
fail:
	store_pg__close(s);
	errno = -ret;
	return NULL;
}

void store_pg__close(struct store_pg *s)
{
	if (!s)
		return;
	PQfinish(s->conn);
	jsonw__free(s->jw);
	free(s->key.buf);
	free(s);
}

int store_pg__schema_version(struct store_pg *s)
{
	PGresult *res;
	int v = -EIO;

	if (conn_ready(s))
		return -ECONNREFUSED;
	res = PQexec(s->conn, "SELECT max(version) FROM wacht_schema");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0))
		v = atoi(PQgetvalue(res, 0, 0));
	else
		keep_err(s, res);
	PQclear(res);
	return v;
}

/* ---- ingest */

uint32_t store_pg_key_hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

static int64_t sat_add(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	if (b < 0 && a < INT64_MIN - b)
		return INT64_MIN;
	return a + b;
}

/* Serializes this batch against others touching its merge keys (see the
 * comment at the top). */
static int lock_keys(struct store_pg *s, const Wacht__V1__Finding *const *f, size_t n,
		     bool *retry)
{
	struct params p = { .n = 0 };
	int32_t *ids = NULL;
	size_t nids = 0, len = 0;
	char *arr = NULL;
	int err;

	if (n) {
		ids = malloc(n * sizeof(*ids));
		arr = malloc(n * 12 + 3);
		if (!ids || !arr) {
			err = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!f[i]->id || !f[i]->id[0])
			continue; /* refused by add_one */
		err = store_key_build(&s->key, f[i]);
		if (err)
			goto out;
		ids[nids++] = (int32_t)store_pg_key_hash(s->key.buf, s->key.len);
	}
	qsort(ids, nids, sizeof(*ids), cmp_i32);
	for (size_t i = 0; i < nids; i++)
		if (!len || ids[len - 1] != ids[i])
			ids[len++] = ids[i];
	nids = len;
	if (nids > KEY_LOCKS_MAX) {
		err = exec_sql(s, "LOCK TABLE findings IN SHARE ROW EXCLUSIVE MODE", retry);
		goto out;
	}
	err = exec_sql(s, "LOCK TABLE findings IN ROW EXCLUSIVE MODE", retry);
	if (err || !nids)
		goto out;
	len = 0;
	arr[len++] = '{';
	for (size_t i = 0; i < nids; i++)
		len += (size_t)sprintf(arr + len, i ? ",%" PRId32 : "%" PRId32, ids[i]);
	arr[len++] = '}';
	arr[len] = 0;
	param_int(&p, LOCK_CLASS);
	param_str(&p, arr);
	err = run_done(s, ST_LOCK_KEYS, &p, NULL, retry);
out:
	free(ids);
	free(arr);
	return err;
}

static int insert_row(struct store_pg *s, const Wacht__V1__Finding *f, int64_t t, int64_t count,
		      bool *retry)
{
	static const Wacht__V1__Rule no_rule = WACHT__V1__RULE__INIT;
	static const Wacht__V1__Container no_ct = WACHT__V1__CONTAINER__INIT;
	static const Wacht__V1__Process no_proc = WACHT__V1__PROCESS__INIT;
	static const Wacht__V1__File no_file = WACHT__V1__FILE__INIT;
	static const Wacht__V1__Network no_net = WACHT__V1__NETWORK__INIT;
	const Wacht__V1__Rule *r = f->rule ? f->rule : &no_rule;
	const Wacht__V1__Container *c = f->container ? f->container : &no_ct;
	const Wacht__V1__Process *pr = f->process ? f->process : &no_proc;
	const Wacht__V1__File *fl = f->file ? f->file : &no_file;
	const Wacht__V1__Network *nw = f->network ? f->network : &no_net;
	struct params p = { .n = 0 };
	const char *args;
	size_t args_len;
	uint64_t changed = 0;
	int err;

	jsonw__reset(s->jw);
	jsonw__arr_begin(s->jw, NULL);
	for (size_t i = 0; i < pr->n_args; i++)
		jsonw__strn(s->jw, NULL, (const char *)pr->args[i].data, pr->args[i].len);
	jsonw__arr_end(s->jw);
	if (jsonw__error(s->jw))
		return jsonw__error(s->jw);
	args = jsonw__data(s->jw, &args_len);

	param_str(&p, f->id);
	param_blob(&p, s->key.buf, s->key.len);
	param_int(&p, t);
	param_int(&p, t);
	param_int(&p, count);
	param_str(&p, f->node);
	param_str(&p, f->name);
	param_int(&p, f->severity);
	param_int(&p, f->action);
	param_int(&p, f->mode);
	param_str(&p, r->id);
	param_str(&p, r->name);
	param_str(&p, r->group);
	param_str(&p, c->id);
	param_str(&p, c->name);
	param_str(&p, c->image);
	param_str(&p, c->pod);
	param_str(&p, c->namespace_);
	param_str(&p, c->group);
	param_int(&p, pr->pid);
	param_int(&p, pr->ppid);
	param_int(&p, pr->uid);
	param_int(&p, pr->euid);
	param_bytes_text(&p, pr->exe);
	param_bytes_text(&p, pr->name);
	param_bytes_text(&p, pr->parent_exe);
	param_textn(&p, args, args_len, true);
	param_bytes_text(&p, fl->path);
	param_str(&p, fl->op);
	param_int(&p, nw->proto);
	param_int(&p, nw->direction);
	param_ip(&p, nw->local_ip);
	param_int(&p, nw->local_port);
	param_ip(&p, nw->remote_ip);
	param_int(&p, nw->remote_port);
	param_str(&p, nw->peer_group);
	param_bytes_text(&p, f->message);
	err = run_done(s, ST_INSERT, &p, &changed, retry);
	if (!err && changed != 1)
		err = -EIO; /* the claimed id row vanished: cannot happen */
	return err;
}

/* 1 stored or merged, 0 seen before, or -errno. */
static int add_one(struct store_pg *s, const Wacht__V1__Finding *f, int64_t now, bool *retry)
{
	int64_t t = f->time_unix_ns > 0 ? f->time_unix_ns : now;
	int64_t count = f->count == 0 ? 1 : f->count > INT32_MAX ? INT32_MAX : (int64_t)f->count;
	struct params p = { .n = 0 };
	uint64_t changed = 0;
	int err;

	if (!f->id || !f->id[0])
		return -EINVAL;
	param_str(&p, f->id);
	err = run_done(s, ST_CLAIM, &p, &changed, retry);
	if (err)
		return err;
	if (changed == 0)
		return 0;

	err = store_key_build(&s->key, f);
	if (err)
		return err;
	param_str(&p, f->id);
	param_blob(&p, s->key.buf, s->key.len);
	param_int(&p, sat_add(t, -s->merge_window_ns));
	param_int(&p, sat_add(t, s->merge_window_ns));
	param_int(&p, count);
	param_int(&p, t);
	err = run_done(s, ST_MERGE, &p, &changed, retry);
	if (err)
		return err;
	if (changed == 0)
		err = insert_row(s, f, t, count, retry);
	return err ? err : 1;
}

int store_pg__add_findings(struct store_pg *s, const Wacht__V1__Finding *const *f, size_t n,
			   int64_t now)
{
	int err = 0, stored;
	bool retry;

	for (int attempt = 0; attempt < ADD_TRIES; attempt++) {
		retry = false;
		stored = 0;
		err = conn_ready(s);
		if (err)
			return err;
		err = exec_sql(s, "BEGIN", NULL);
		if (err)
			return err;
		err = lock_keys(s, f, n, &retry);
		for (size_t i = 0; !err && i < n; i++) {
			err = add_one(s, f[i], now, &retry);
			if (err > 0)
				stored += err;
			if (err > 0)
				err = 0;
		}
		if (!err)
			err = exec_sql(s, "COMMIT", &retry);
		if (!err)
			return stored;
		exec_sql(s, "ROLLBACK", NULL);
		if (!retry)
			return err;
	}
	return err;
}

/* ---- sensors */

int store_pg__sensor_hello(struct store_pg *s, const Wacht__V1__SensorHello *h, int64_t now)
{
	struct params p = { .n = 0 };

	if (!h->sensor_id || !h->sensor_id[0])
		return -EINVAL;
	if (conn_ready(s))
		return -ECONNREFUSED;
	param_str(&p, h->sensor_id);
	param_str(&p, h->node);
	param_str(&p, h->sensor_version);
	param_str(&p, h->kernel);
	param_int(&p, h->start_time_unix_ns);
	param_int(&p, now);
	return run_done(s, ST_SENSOR_UPSERT, &p, NULL, NULL);
}

int store_pg__sensor_drops(struct store_pg *s, const char *sensor_id, uint64_t drops,
			   int64_t now)
{
	struct params p = { .n = 0 };
	uint64_t changed = 0;
	int err;

	if (conn_ready(s))
		return -ECONNREFUSED;
	param_str(&p, sensor_id);
	param_int(&p, drops > INT64_MAX ? INT64_MAX : (int64_t)drops);
	param_int(&p, now);
	err = run_done(s, ST_SENSOR_DROPS, &p, &changed, NULL);
	if (!err && changed == 0)
		err = -ENOENT;
	return err;
}

static int64_t col_int(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int store_pg__sensors(struct store_pg *s, store_sensor_cb cb, void *ctx)
{
	struct params p = { .n = 0 };
	struct store_sensor row;
	PGresult *res;
	int err = 0;

	if (conn_ready(s))
		return -ECONNREFUSED;
	res = run(s, ST_SENSORS, &p, &err, NULL);
	if (!res)
		return err;
	for (int i = 0; i < PQntuples(res) && !err; i++) {
		row.node = PQgetvalue(res, i, 0);
		row.sensor_id = PQgetvalue(res, i, 1);
		row.version = PQgetvalue(res, i, 2);
		row.kernel = PQgetvalue(res, i, 3);
		row.last_seen = col_int(res, i, 4);
		row.drops = (uint64_t)col_int(res, i, 5);
		err = cb(ctx, &row);
	}
	PQclear(res);
	return err;
}

/* ---- queries */

/* A bytea column in text form ("\x0a000001") decoded into buf; NULL for
 * SQL NULL or a value longer than the buffer. */
static const void *col_ip(const PGresult *res, int row, int col, uint8_t *buf, size_t cap,
			  size_t *len)
{
	const char *v = PQgetvalue(res, row, col);
	size_t n;

	*len = 0;
	if (PQgetisnull(res, row, col) || strncmp(v, "\\x", 2))
		return NULL;
	v += 2;
	n = strlen(v) / 2;
	if (n > cap)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned int b;

		if (sscanf(v + 2 * i, "%2x", &b) != 1)
			return NULL;
		buf[i] = (uint8_t)b;
	}
	*len = n;
	return buf;
}

/* The scope as a JSON array (NULL when not scoped): one statement for any
 * list size. */
static int param_scope(struct store_pg *s, struct params *p, bool scoped,
		       const char *const *scope, size_t n)
{
	if (!scoped) {
		param_null(p);
		return 0;
	}
	jsonw__reset(s->jw);
	jsonw__arr_begin(s->jw, NULL);
	for (size_t i = 0; i < n; i++)
		jsonw__str(s->jw, NULL, scope[i]);
	jsonw__arr_end(s->jw);
	if (jsonw__error(s->jw))
		return jsonw__error(s->jw);
	param_str(p, jsonw__data(s->jw, NULL));
	return 0;
}

int store_pg__query(struct store_pg *s, const struct store_filter *flt, store_row_cb cb,
		    void *ctx, struct store_cursor *next)
{
	struct params p = { .n = 0 };
	uint8_t lip[16], rip[16];
	struct store_row r = { 0 };
	PGresult *res;
	int err = 0, n = 0;

	if (conn_ready(s))
		return -ECONNREFUSED;
	param_opt_str(&p, flt->id);
	if (flt->since)
		param_int(&p, flt->since);
	else
		param_null(&p);
	if (flt->until)
		param_int(&p, flt->until);
	else
		param_null(&p);
	param_int(&p, flt->min_severity);
	param_opt_str(&p, flt->namespace_);
	param_opt_str(&p, flt->pod);
	param_opt_str(&p, flt->name);
	param_opt_str(&p, flt->node);
	if (flt->ack != STORE_ACK_ANY)
		param_str(&p, flt->ack == STORE_ACK_YES ? "true" : "false");
	else
		param_null(&p);
	err = param_scope(s, &p, flt->scoped, flt->scope, flt->n_scope);
	if (err) {
		params_free(&p);
		return err;
	}
	if (flt->after) {
		param_int(&p, flt->after->last_seen);
		param_int(&p, flt->after->rowid);
	} else {
		param_null(&p);
		param_null(&p);
	}
	param_int(&p, flt->limit ? (int64_t)flt->limit : DEFAULT_LIMIT);
	res = run(s, ST_QUERY, &p, &err, NULL);
	params_free(&p);
	if (!res)
		return err;
	for (int i = 0; i < PQntuples(res); i++) {
		r.rowid = col_int(res, i, 0);
		r.id = PQgetvalue(res, i, 1);
		r.node = PQgetvalue(res, i, 2);
		r.name = PQgetvalue(res, i, 3);
		r.first_seen = col_int(res, i, 4);
		r.last_seen = col_int(res, i, 5);
		r.count = (uint64_t)col_int(res, i, 6);
		r.severity = (int)col_int(res, i, 7);
		r.action = (int)col_int(res, i, 8);
		r.mode = (int)col_int(res, i, 9);
		r.rule_id = PQgetvalue(res, i, 10);
		r.rule_name = PQgetvalue(res, i, 11);
		r.rule_group = PQgetvalue(res, i, 12);
		r.container_id = PQgetvalue(res, i, 13);
		r.container_name = PQgetvalue(res, i, 14);
		r.image = PQgetvalue(res, i, 15);
		r.pod = PQgetvalue(res, i, 16);
		r.namespace_ = PQgetvalue(res, i, 17);
		r.group = PQgetvalue(res, i, 18);
		r.pid = (uint32_t)col_int(res, i, 19);
		r.exe = PQgetvalue(res, i, 20);
		r.process_name = PQgetvalue(res, i, 21);
		r.args_json = PQgetvalue(res, i, 22);
		r.file_path = PQgetvalue(res, i, 23);
		r.file_op = PQgetvalue(res, i, 24);
		r.net_proto = (uint32_t)col_int(res, i, 25);
		r.net_direction = (uint32_t)col_int(res, i, 26);
		r.local_ip = col_ip(res, i, 27, lip, sizeof(lip), &r.local_ip_len);
		r.local_port = (uint32_t)col_int(res, i, 28);
		r.remote_ip = col_ip(res, i, 29, rip, sizeof(rip), &r.remote_ip_len);
		r.remote_port = (uint32_t)col_int(res, i, 30);
		r.peer_group = PQgetvalue(res, i, 31);
		r.message = PQgetvalue(res, i, 32);
		r.acknowledged = PQgetvalue(res, i, 33)[0] == 't';
		r.ack_by = PQgetvalue(res, i, 34);
		r.ack_comment = PQgetvalue(res, i, 35);
		r.ack_time = col_int(res, i, 36);
		r.ppid = (uint32_t)col_int(res, i, 37);
		r.uid = (uint32_t)col_int(res, i, 38);
		r.euid = (uint32_t)col_int(res, i, 39);
		r.parent_exe = PQgetvalue(res, i, 40);
		if (next) {
			next->last_seen = r.last_seen;
			next->rowid = r.rowid;
		}
		err = cb(ctx, &r);
		if (err)
			break;
		n++;
	}
	PQclear(res);
	return err ? err : n;
}

int store_pg__ack(struct store_pg *s, const char *id, bool ack, const char *who,
		  const char *comment, int64_t now)
{
	struct params p = { .n = 0 };
	uint64_t changed = 0;
	int err;

	if (conn_ready(s))
		return -ECONNREFUSED;
	param_str(&p, id);
	param_str(&p, ack ? "true" : "false");
	param_str(&p, who);
	param_str(&p, comment);
	param_int(&p, now);
	err = run_done(s, ST_ACK, &p, &changed, NULL);
	if (!err && changed == 0)
		err = -ENOENT;
	return err;
}

int64_t store_pg__retention(struct store_pg *s, int64_t max_age_ns, uint64_t max_rows,
			    int64_t now)
{
	struct params p = { .n = 0 };
	uint64_t deleted = 0, changed;
	int err;

	if (conn_ready(s))
		return -ECONNREFUSED;
	err = exec_sql(s, "BEGIN", NULL);
	if (err)
		return err;
	/* two replicas trimming rows at once would both count the rows before
	 * either deleted: one at a time, the lock taken before any other (a
	 * later upgrade could deadlock) */
	if (max_rows > 0) {
		err = exec_sql(s, "LOCK TABLE findings IN SHARE ROW EXCLUSIVE MODE", NULL);
		if (err)
			goto fail;
	}
	if (max_age_ns > 0) {
		param_int(&p, sat_add(now, -max_age_ns));
		err = run_done(s, ST_RET_AGE, &p, &changed, NULL);
		if (err)
			goto fail;
		deleted += changed;
	}
	if (max_rows > 0) {
		param_int(&p, max_rows > INT64_MAX ? INT64_MAX : (int64_t)max_rows);
		err = run_done(s, ST_RET_ROWS, &p, &changed, NULL);
		if (err)
			goto fail;
		deleted += changed;
	}
	err = exec_sql(s, "COMMIT", NULL);
	if (err)
		goto fail;
	return (int64_t)deleted;
fail:
	exec_sql(s, "ROLLBACK", NULL);
	return err;
}

int store_pg__backup(struct store_pg *s, const char *path)
{
	(void)path;
	snprintf(s->errmsg, sizeof(s->errmsg),
		 "a PostgreSQL store is backed up with pg_dump, not by the aggregator");
	return -EOPNOTSUPP;
}

/* ---- learned profiles and statistics (the HTTP API's), as in store.c;
 * plain parameterised statements: called rarely */

static PGresult *exec_params(struct store_pg *s, const char *sql, int n, const char *const *v,
			     int *err)
{
	PGresult *res;

	if (conn_ready(s)) {
		*err = -ECONNREFUSED;
		return NULL;
	}
	res = PQexecParams(s->conn, sql, n, NULL, v, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(s->errmsg, sizeof(s->errmsg), "%s", PQerrorMessage(s->conn));
		PQclear(res);
		*err = -EIO;
		return NULL;
	}
	return res;
}

int store_pg__learned_put(struct store_pg *s, const char *group, const char *node,
			  const char *yaml, int64_t now)
{
	char ts[24];
	int err = 0;

	if (!group || !group[0] || !node || !node[0] || !yaml)
		return -EINVAL;
	snprintf(ts, sizeof(ts), "%lld", (long long)now);
	const char *v[] = { group, node, yaml, ts };
	PGresult *res = exec_params(s,
		"INSERT INTO learned (grp, node, yaml, updated) VALUES ($1, $2, $3, $4)"
		" ON CONFLICT (grp, node) DO UPDATE SET yaml = EXCLUDED.yaml,"
		" updated = EXCLUDED.updated WHERE EXCLUDED.updated >= learned.updated",
		4, v, &err);
	PQclear(res);
	return err;
}

int store_pg__learned_foreach(struct store_pg *s, const char *group, store_learned_cb cb,
			      void *ctx)
{
	const char *v[] = { group };
	int err = 0;
	PGresult *res = exec_params(s,
		"SELECT grp, node, yaml, updated FROM learned"
		" WHERE $1::text IS NULL OR grp = $1 ORDER BY grp, node", 1, v, &err);

	for (int i = 0; res && i < PQntuples(res) && !err; i++) {
		struct store_learned row = {
			.group = PQgetvalue(res, i, 0),
			.node = PQgetvalue(res, i, 1),
			.yaml = PQgetvalue(res, i, 2),
			.yaml_len = (size_t)PQgetlength(res, i, 2),
			.updated = col_int(res, i, 3),
		};
		err = cb(ctx, &row);
	}
	PQclear(res);
	return err;
}

int store_pg__counts(struct store_pg *s, store_count_cb cb, void *ctx)
{
	int err = 0;
	PGresult *res = exec_params(s,
		"SELECT name, severity, count(*), sum(count) FROM findings"
		" GROUP BY name, severity ORDER BY name, severity", 0, NULL, &err);

	for (int i = 0; res && i < PQntuples(res) && !err; i++)
		err = cb(ctx, PQgetvalue(res, i, 0), (int)col_int(res, i, 1),
			 (uint64_t)col_int(res, i, 2), (uint64_t)col_int(res, i, 3));
	PQclear(res);
	return err;
}

int64_t store_pg__size_bytes(struct store_pg *s)
{
	int err = 0;
	PGresult *res = exec_params(s, "SELECT pg_database_size(current_database())", 0, NULL,
				    &err);
	int64_t v = res && PQntuples(res) == 1 ? col_int(res, 0, 0) : err ? err : -EIO;

	PQclear(res);
	return v;
}

/* ---- conversations (see store.h; the same rows as SQLite's) */

static void param_end(struct params *p, const struct conv_end *e)
{
	param_int(p, e->kind);
	param_blob(p, e->ip ? (const void *)e->ip : "", e->ip_len);
	param_str(p, e->node);
	param_str(p, e->cid);
	param_str(p, e->name);
	param_str(p, e->image);
	param_str(p, e->pod);
	param_str(p, e->ns);
	param_str(p, e->grp);
}

static int conv_upsert(struct store_pg *s, const struct conv_row *r, bool *retry)
{
	struct params p = { .n = 0 };

	param_int(&p, r->bucket);
	param_str(&p, r->reporter);
	param_int(&p, r->by_client);
	param_int(&p, r->proto);
	param_int(&p, r->port);
	param_end(&p, &r->c);
	param_end(&p, &r->s);
	param_int(&p, r->bytes_to_server);
	param_int(&p, r->bytes_to_client);
	param_int(&p, r->packets_to_server);
	param_int(&p, r->packets_to_client);
	param_int(&p, r->sessions);
	param_int(&p, r->first_seen);
	param_int(&p, r->last_seen);
	param_int(&p, r->verdict);
	return run_done(s, ST_CONV_UPSERT, &p, NULL, retry);
}

/*
 * Replicas: the flow_batches key is claimed first (a second replica with
 * the same batch waits on it and then skips the batch, as with finding
 * ids); upserts of one row by two batches run one after the other (ON
 * CONFLICT locks the row); two batches upserting shared rows in different
 * orders may deadlock, and PostgreSQL's loser is retried.
 */
int store_pg__add_flows(struct store_pg *s, const char *sensor_id, int64_t sensor_start_ns,
			const char *node, const Wacht__V1__FlowBatch *b, int64_t now)
{
	int64_t t = b->time_unix_ns > 0 ? b->time_unix_ns : now;
	struct params p = { .n = 0 };
	struct conv_row row;
	uint64_t changed;
	int err = 0;
	bool retry;

	if (!sensor_id || !sensor_id[0] || store_flows_check(b, node, NULL, 0))
		return -EINVAL;
	if (!b->n_records)
		return 0;
	for (int attempt = 0; attempt < ADD_TRIES; attempt++) {
		retry = false;
		changed = 0;
		err = conn_ready(s);
		if (err)
			return err;
		err = exec_sql(s, "BEGIN", NULL);
		if (err)
			return err;
		param_str(&p, sensor_id);
		param_int(&p, sensor_start_ns);
		param_int(&p, b->batch_seq > INT64_MAX ? INT64_MAX : (int64_t)b->batch_seq);
		param_int(&p, now);
		err = run_done(s, ST_FLOW_BATCH, &p, &changed, &retry);
		for (size_t i = 0; !err && changed && i < b->n_records; i++) {
			conv_row_from(&row, b->records[i], node, t);
			err = conv_upsert(s, &row, &retry);
		}
		if (!err)
			err = exec_sql(s, "COMMIT", &retry);
		if (!err)
			return changed ? (int)b->n_records : 0;
		exec_sql(s, "ROLLBACK", NULL);
		if (!retry)
			return err;
	}
	return err;
}

static void conv_read_end(const PGresult *res, int row, int i, struct graph_endpoint *e,
			  uint8_t *ip, char *ipbuf)
{
	const char *str[7];
	size_t len = 0;
	const void *p = col_ip(res, row, i + 1, ip, 16, &len);

	for (int k = 0; k < 7; k++)
		str[k] = PQgetvalue(res, row, i + 2 + k);
	conv_end_to_graph(e, (int)col_int(res, row, i), p, len, ipbuf, str);
}

int store_pg__conversations(struct store_pg *s, const struct store_conv_filter *flt,
			    store_conv_cb cb, void *ctx)
{
	char cip[INET6_ADDRSTRLEN], sip[INET6_ADDRSTRLEN];
	uint8_t cb_ip[16], sb_ip[16];
	struct params p = { .n = 0 };
	struct graph_record r;
	PGresult *res;
	int err = 0;

	if (conn_ready(s))
		return -ECONNREFUSED;
	if (flt->since)
		param_int(&p, flt->since);
	else
		param_null(&p);
	param_opt_str(&p, flt->namespace_);
	err = param_scope(s, &p, flt->scoped, flt->scope, flt->n_scope);
	if (err) {
		params_free(&p);
		return err;
	}
	res = run(s, ST_CONV_QUERY, &p, &err, NULL);
	params_free(&p);
	if (!res)
		return err;
	for (int i = 0; i < PQntuples(res) && !err; i++) {
		memset(&r, 0, sizeof(r));
		r.reported_by_client = col_int(res, i, 0) != 0;
		r.proto = (uint8_t)col_int(res, i, 1);
		r.server_port = (uint16_t)col_int(res, i, 2);
		conv_read_end(res, i, 3, &r.client, cb_ip, cip);
		conv_read_end(res, i, 12, &r.server, sb_ip, sip);
		r.bytes_to_server = (uint64_t)col_int(res, i, 21);
		r.bytes_to_client = (uint64_t)col_int(res, i, 22);
		r.packets_to_server = (uint64_t)col_int(res, i, 23);
		r.packets_to_client = (uint64_t)col_int(res, i, 24);
		r.sessions = (uint64_t)col_int(res, i, 25);
		r.first_seen_ns = col_int(res, i, 26);
		r.last_seen_ns = col_int(res, i, 27);
		r.verdict = (enum graph_verdict)col_int(res, i, 28);
		err = cb(ctx, &r);
	}
	PQclear(res);
	return err;
}

int64_t store_pg__retention_flows(struct store_pg *s, int64_t max_age_ns, int64_t now)
{
	char ts[24];
	int err = 0;
	int64_t deleted;
	PGresult *res;

	if (max_age_ns <= 0)
		return 0;
	snprintf(ts, sizeof(ts), "%" PRId64, sat_add(now, -max_age_ns));
	const char *v[] = { ts };
	res = exec_params(s, "DELETE FROM conversations WHERE last_seen < $1", 1, v, &err);
	if (!res)
		return err;
	deleted = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	res = exec_params(s, "DELETE FROM flow_batches WHERE received < $1", 1, v, &err);
	if (!res)
		return err;
	PQclear(res);
	return deleted;
}

int64_t store_pg__conversation_rows(struct store_pg *s)
{
	int err = 0;
	PGresult *res = exec_params(s, "SELECT count(*) FROM conversations", 0, NULL, &err);
	int64_t v = res && PQntuples(res) == 1 ? col_int(res, 0, 0) : err ? err : -EIO;

	PQclear(res);
	return v;
}
