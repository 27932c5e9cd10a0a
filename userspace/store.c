/* SPDX-License-Identifier: Apache-2.0 */
/* store.c: the aggregator's finding store in SQLite (see store.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "hash.h"
#include "jsonw.h"
#include "store.h"
#include "store_conv.h"
#include "store_pg.h"

#define DEFAULT_MERGE_WINDOW_NS (60LL * 1000000000LL)
#define DEFAULT_BUSY_MS 5000
#define DEFAULT_LIMIT 100

/*
 * Schema migrations: migrations[i] takes user_version i to i + 1, in the
 * same transaction as the version bump. Never edit a released entry; add
 * one.
 */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE findings ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT," /* keyset cursor; never reused */
	" id TEXT NOT NULL UNIQUE,"  /* the first sensor id stored in this row */
	" merge_key BLOB NOT NULL,"
	" first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
	" count INTEGER NOT NULL,"
	" node TEXT NOT NULL, name TEXT NOT NULL,"
	" severity INTEGER NOT NULL, action INTEGER NOT NULL, mode INTEGER NOT NULL,"
	" rule_id TEXT NOT NULL, rule_name TEXT NOT NULL, rule_group TEXT NOT NULL,"
	" container_id TEXT NOT NULL, container_name TEXT NOT NULL, image TEXT NOT NULL,"
	" pod TEXT NOT NULL, namespace TEXT NOT NULL, grp TEXT NOT NULL,"
	" pid INTEGER NOT NULL, ppid INTEGER NOT NULL, uid INTEGER NOT NULL,"
	" euid INTEGER NOT NULL,"
	" exe TEXT NOT NULL, process_name TEXT NOT NULL, parent_exe TEXT NOT NULL,"
	" args TEXT NOT NULL,"
	" file_path TEXT NOT NULL, file_op TEXT NOT NULL,"
	" net_proto INTEGER NOT NULL, net_direction INTEGER NOT NULL,"
	" local_ip BLOB, local_port INTEGER NOT NULL,"
	" remote_ip BLOB, remote_port INTEGER NOT NULL, peer_group TEXT NOT NULL,"
	" message TEXT NOT NULL,"
	" acknowledged INTEGER NOT NULL DEFAULT 0, ack_by TEXT NOT NULL DEFAULT '',"
	" ack_comment TEXT NOT NULL DEFAULT '', ack_time INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX findings_time ON findings(last_seen);"
	"CREATE INDEX findings_severity ON findings(severity, last_seen);"
	"CREATE INDEX findings_namespace ON findings(namespace, last_seen);"
	"CREATE INDEX findings_pod ON findings(pod, last_seen);"
	"CREATE INDEX findings_name ON findings(name, last_seen);"
	"CREATE INDEX findings_node ON findings(node, last_seen);"
	"CREATE INDEX findings_merge ON findings(merge_key, first_seen);"
	/* every id received, including those merged into another row */
	"CREATE TABLE received (id TEXT PRIMARY KEY, finding INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX received_finding ON received(finding);"
	"CREATE TRIGGER findings_deleted AFTER DELETE ON findings BEGIN"
	" DELETE FROM received WHERE finding = old.seq; END;"
	"CREATE TABLE sensors (sensor_id TEXT PRIMARY KEY, node TEXT NOT NULL,"
	" version TEXT NOT NULL, kernel TEXT NOT NULL, start_time INTEGER NOT NULL,"
	" last_seen INTEGER NOT NULL, drops INTEGER NOT NULL DEFAULT 0);",
	/* 1 -> 2: merge candidates found by a 64-bit hash of the merge key
	 * (then compared whole): an index of long blob keys made every
	 * insert compare hundreds of bytes per tree level. Rows stored
	 * before keep hash 0 and are no longer merge candidates. */
	"ALTER TABLE findings ADD COLUMN merge_hash INTEGER NOT NULL DEFAULT 0;"
	"DROP INDEX findings_merge;"
	"CREATE INDEX findings_merge_hash ON findings(merge_hash, first_seen);",
	/* 2 -> 3: each node's learned profile of each group, as the sensor
	 * sent it (LearnedProfile); the newest replaces the older one */
	"CREATE TABLE learned (grp TEXT NOT NULL, node TEXT NOT NULL, yaml TEXT NOT NULL,"
	" updated INTEGER NOT NULL, PRIMARY KEY (grp, node)) WITHOUT ROWID;",
	/* 3 -> 4: conversations (FlowBatch records) summed per minute of
	 * last_seen and per reporting node (store.h), and the flow batches
	 * stored, so that a repeat is skipped */
	CONVERSATIONS_SQL("INTEGER", "BLOB")
	"CREATE TABLE flow_batches (sensor_id TEXT NOT NULL, start_time INTEGER NOT NULL,"
	" batch_seq INTEGER NOT NULL, received INTEGER NOT NULL,"
	" PRIMARY KEY (sensor_id, start_time, batch_seq)) WITHOUT ROWID;"
	"CREATE INDEX flow_batches_received ON flow_batches(received);",
};
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION,
	       "one migration per schema version");

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_SEEN,
	ST_MERGE_FIND,
	ST_MERGE_UPDATE,
	ST_INSERT,
	ST_RECEIVED,
	ST_QUERY,
	ST_ACK,
	ST_RET_AGE,
	ST_RET_ROWS,
	ST_SENSOR_UPSERT,
	ST_SENSOR_DROPS,
	ST_SENSORS,
	ST_LEARNED_PUT,
	ST_LEARNED_ALL,
	ST_COUNTS,
	ST_FLOW_BATCH,
	ST_CONV_UPSERT,
	ST_CONV_QUERY,
	ST_CONV_RET,
	ST_FLOW_BATCH_RET,
	ST_CONV_ROWS,
	ST__COUNT,
};

static const char *const stmt_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT batch",
	[ST_RELEASE] = "RELEASE batch",
	[ST_ROLLBACK_TO] = "ROLLBACK TO batch",
	/* A row's own id is findings.id (its unique index); `received` holds
	 * only the ids merged into another row (schema 1 also put the row's
	 * own id there, which costs two more index inserts per finding and
	 * changes nothing: both are looked up). */
	[ST_SEEN] = "SELECT 1 FROM findings WHERE id = ?1"
		    " UNION ALL SELECT 1 FROM received WHERE id = ?1 LIMIT 1",
	[ST_MERGE_FIND] = "SELECT seq FROM findings WHERE merge_hash = ?4"
			  " AND first_seen > ?2 AND first_seen < ?3 AND merge_key = ?1"
			  " ORDER BY first_seen DESC LIMIT 1",
	[ST_MERGE_UPDATE] = "UPDATE findings SET count = count + ?2,"
			    " first_seen = min(first_seen, ?3), last_seen = max(last_seen, ?3)"
			    " WHERE seq = ?1",
	[ST_INSERT] = "INSERT INTO findings (id, merge_key, first_seen, last_seen, count,"
		      " node, name, severity, action, mode, rule_id, rule_name, rule_group,"
		      " container_id, container_name, image, pod, namespace, grp,"
		      " pid, ppid, uid, euid, exe, process_name, parent_exe, args,"
		      " file_path, file_op, net_proto, net_direction, local_ip, local_port,"
		      " remote_ip, remote_port, peer_group, message, merge_hash) VALUES (?1, ?2,"
		      " ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
		      " ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32,"
		      " ?33, ?34, ?35, ?36, ?37, ?38)",
	[ST_RECEIVED] = "INSERT INTO received (id, finding) VALUES (?1, ?2)",
	[ST_QUERY] = "SELECT seq, id, node, name, first_seen, last_seen, count, severity,"
		     " action, mode, rule_id, rule_name, rule_group, container_id,"
		     " container_name, image, pod, namespace, grp, pid, exe, process_name,"
		     " args, file_path, file_op, net_proto, net_direction, local_ip,"
		     " local_port, remote_ip, remote_port, peer_group, message,"
		     " acknowledged, ack_by, ack_comment, ack_time, ppid, uid, euid, parent_exe"
		     " FROM findings WHERE"
		     " (?1 IS NULL OR id = ?1) AND (?2 IS NULL OR last_seen >= ?2)"
		     " AND (?3 IS NULL OR last_seen <= ?3) AND severity >= ?4"
		     " AND (?5 IS NULL OR namespace = ?5) AND (?6 IS NULL OR pod = ?6)"
		     " AND (?7 IS NULL OR name = ?7) AND (?8 IS NULL OR node = ?8)"
		     " AND (?9 IS NULL OR acknowledged = ?9)"
		     " AND (?10 IS NULL OR namespace IN (SELECT value FROM json_each(?10)))"
		     " AND (?11 IS NULL OR last_seen < ?11 OR (last_seen = ?11 AND seq < ?12))"
		     " ORDER BY last_seen DESC, seq DESC LIMIT ?13",
	[ST_ACK] = "UPDATE findings SET acknowledged = ?2, ack_by = ?3, ack_comment = ?4,"
		   " ack_time = ?5 WHERE id = ?1",
	[ST_RET_AGE] = "DELETE FROM findings WHERE last_seen < ?1",
	[ST_RET_ROWS] = "DELETE FROM findings WHERE seq IN (SELECT seq FROM findings"
			" ORDER BY last_seen ASC, seq ASC LIMIT"
			" max(0, (SELECT count(*) FROM findings) - ?1))",
	[ST_SENSOR_UPSERT] = "INSERT INTO sensors (sensor_id, node, version, kernel,"
			     " start_time, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
			     " ON CONFLICT(sensor_id) DO UPDATE SET node = excluded.node,"
			     " version = excluded.version, kernel = excluded.kernel,"
			     " start_time = excluded.start_time, last_seen = excluded.last_seen",
	[ST_SENSOR_DROPS] = "UPDATE sensors SET drops = ?2, last_seen = ?3 WHERE sensor_id = ?1",
	[ST_SENSORS] = "SELECT node, sensor_id, version, kernel, last_seen, drops FROM sensors"
		       " ORDER BY node, sensor_id",
	[ST_LEARNED_PUT] = "INSERT INTO learned (grp, node, yaml, updated) VALUES (?1, ?2, ?3, ?4)"
			   " ON CONFLICT(grp, node) DO UPDATE SET yaml = excluded.yaml,"
			   " updated = excluded.updated WHERE excluded.updated >= learned.updated",
	[ST_LEARNED_ALL] = "SELECT grp, node, yaml, updated FROM learned"
			   " WHERE ?1 IS NULL OR grp = ?1 ORDER BY grp, node",
	[ST_COUNTS] = "SELECT name, severity, count(*), sum(count) FROM findings"
		      " GROUP BY name, severity ORDER BY name, severity",
	[ST_FLOW_BATCH] = "INSERT INTO flow_batches (sensor_id, start_time, batch_seq, received)"
			  " VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
	[ST_CONV_UPSERT] = "INSERT INTO conversations (" CONV_COLS ") VALUES (?1, ?2, ?3, ?4,"
			   " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,"
			   " ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)"
			   CONV_UPDATE("min", "max"),
	[ST_CONV_QUERY] = CONV_SELECT " WHERE (?1 IS NULL OR last_seen >= ?1)"
			  " AND (?2 IS NULL OR c_namespace = ?2 OR s_namespace = ?2)"
			  " AND (?3 IS NULL OR c_namespace IN (SELECT value FROM json_each(?3))"
			  " OR s_namespace IN (SELECT value FROM json_each(?3)))",
	[ST_CONV_RET] = "DELETE FROM conversations WHERE last_seen < ?1",
	[ST_FLOW_BATCH_RET] = "DELETE FROM flow_batches WHERE received < ?1",
	[ST_CONV_ROWS] = "SELECT count(*) FROM conversations",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST__COUNT]; /* prepared on first use, kept */
	int64_t merge_window_ns;
	struct jsonw *jw;              /* args and scope lists */
	struct store_key key;          /* merge key buffer */
	int64_t key_hash;              /* FNV-1a of key (the merge lookup's index) */
	bool in_txn;                   /* between store__begin and store__commit */
	/* Set for a postgres:// URL: every function forwards to it and the
	 * SQLite members above are unused. */
	struct store_pg *pg;
};

/* An SQLite result code as a negative errno. */
static int sqlite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_TOOBIG:
		return -EMSGSIZE;
	default:
		return -EIO;
	}
}

const char *store__errmsg(const struct store *s)
{
	if (s && s->pg)
		return store_pg__errmsg(s->pg);
	return s && s->db ? sqlite3_errmsg(s->db) : "out of memory";
}

static sqlite3_stmt *stmt_get(struct store *s, enum stmt_id id, int *err)
{
	int rc;

	if (!s->stmt[id]) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					&s->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			*err = sqlite_errno(rc);
			return NULL;
		}
	}
	return s->stmt[id];
}

/* Runs a statement without result rows (or ignoring them); resets it. */
static int stmt_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : sqlite_errno(rc);
}

static int exec_simple(struct store *s, enum stmt_id id)
{
	int err = 0;
	sqlite3_stmt *st = stmt_get(s, id, &err);

	return st ? stmt_done(st) : err;
}

static int set_err(char **err, const char *what, const char *path, const char *why)
{
	if (err && asprintf(err, "store: failed to %s %s: %s", what, path, why) < 0)
		*err = NULL;
	return 0;
}

static int migrate(struct store *s, char **err, const char *path)
{
	sqlite3_stmt *st;
	int rc, version;
	char sql[64];

	rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		goto fail;
	if (version > STORE_SCHEMA_VERSION) {
		set_err(err, "migrate", path,
			"schema version is newer than this aggregator's; upgrade it");
		return -EPROTO;
	}
	for (; version < STORE_SCHEMA_VERSION; version++) {
		rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto fail;
		rc = sqlite3_exec(s->db, migrations[version], NULL, NULL, NULL);
		if (rc == SQLITE_OK) {
			/* a PRAGMA takes no bound parameters; the value is ours */
			snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
			rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
		}
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			set_err(err, "migrate", path, sqlite3_errmsg(s->db));
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return sqlite_errno(rc);
		}
	}
	return 0;
fail:
	set_err(err, "migrate", path, sqlite3_errmsg(s->db));
	return sqlite_errno(rc);
}

int store_url_parse(const char *url, enum store_kind *kind, const char **path)
{
	if (!url || !url[0])
		return -EINVAL;
	if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)) {
		*kind = STORE_KIND_POSTGRES;
		*path = url; /* libpq parses the whole URI */
		return 0;
	}
	*kind = STORE_KIND_SQLITE;
	*path = !strncmp(url, "sqlite:", 7) ? url + 7 : url;
	return (*path)[0] ? 0 : -EINVAL;
}

struct store *store__open(const char *url, const struct store_opts *opts, char **err)
{
	enum store_kind kind;
	const char *path;
	struct store *s;
	int rc, ret;

	if (err)
		*err = NULL;
	ret = store_url_parse(url, &kind, &path);
	if (ret) {
		set_err(err, "open", url ? url : "(null)",
			"not a path, sqlite:PATH, postgres:// or postgresql:// URL");
		errno = -ret;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->jw = jsonw__new())) {
		set_err(err, "open", path, strerror(ENOMEM));
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	if (kind == STORE_KIND_POSTGRES) {
		/* errno and *err are set by the backend */
		s->pg = store_pg__open(path, opts, err);
		if (!s->pg) {
			ret = errno;
			store__close(s);
			errno = ret;
			return NULL;
		}
		return s;
	}
	s->merge_window_ns = opts && opts->merge_window_ns > 0 ? opts->merge_window_ns
							       : DEFAULT_MERGE_WINDOW_NS;
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		set_err(err, "open", path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		ret = sqlite_errno(rc);
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms
								      : DEFAULT_BUSY_MS);
	/* WAL: readers (queries, backups) never block the ingest writer.
	 * synchronous=NORMAL: a power loss may lose the last transactions but
	 * never corrupts; sensors resend what was not acked. */
	/* cache_size: the indexes of a busy store stay in memory (64 MiB);
	 * wal_autocheckpoint: a checkpoint (and its fsync) every ~64 MiB of
	 * WAL rather than every 4 MiB, which at tens of thousands of
	 * findings per second was several fsyncs a second. */
	rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
				 " PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536;"
				 " PRAGMA wal_autocheckpoint=16384; PRAGMA temp_store=MEMORY;",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		set_err(err, "configure", path, sqlite3_errmsg(s->db));
		ret = sqlite_errno(rc);
		goto fail;
	}
	if (opts && opts->no_autocheckpoint)
		sqlite3_wal_autocheckpoint(s->db, 0);
	ret = migrate(s, err, path);
	if (ret)
		goto fail;
	return s;
fail:
	store__close(s);
	errno = -ret;
	return NULL;
}

void store__close(struct store *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	sqlite3_close(s->db);
	store_pg__close(s->pg);
	jsonw__free(s->jw);
	free(s->key.buf);
	free(s);
}

int store__schema_expected(const struct store *s)
{
	return s->pg ? STORE_PG_SCHEMA_VERSION : STORE_SCHEMA_VERSION;
}

int store__schema_version(struct store *s)
{
	if (s->pg)
		return store_pg__schema_version(s->pg);
	sqlite3_stmt *st;
	int v = -EIO, rc;

	rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_errno(rc);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* ---- ingest */

static const char *str_or_empty(const char *p)
{
	return p ? p : "";
}

static int key_add(struct store_key *k, const void *p, size_t n)
{
	uint32_t len = (uint32_t)n;

	if (k->len + n + sizeof(len) > k->cap) {
		size_t cap = (k->len + n + sizeof(len)) * 2;
		uint8_t *b = realloc(k->buf, cap);

		if (!b)
			return -ENOMEM;
		k->buf = b;
		k->cap = cap;
	}
	/* length-prefixed, so ("ab","c") and ("a","bc") differ */
	memcpy(k->buf + k->len, &len, sizeof(len));
	memcpy(k->buf + k->len + sizeof(len), p, n);
	k->len += sizeof(len) + n;
	return 0;
}

static int key_str(struct store_key *k, const char *p)
{
	p = str_or_empty(p);
	return key_add(k, p, strlen(p));
}

static int key_bytes(struct store_key *k, ProtobufCBinaryData b)
{
	return key_add(k, b.data ? b.data : (const uint8_t *)"", b.data ? b.len : 0);
}

int store_key_build(struct store_key *k, const Wacht__V1__Finding *f)
{
	static const ProtobufCBinaryData none = { 0, NULL };
	uint32_t action = f->action, rport = f->network ? f->network->remote_port : 0;
	int err = 0;

	k->len = 0;
	err |= key_str(k, f->node);
	err |= key_str(k, f->name);
	err |= key_str(k, f->rule ? f->rule->id : "");
	err |= key_add(k, &action, sizeof(action));
	err |= key_str(k, f->container ? f->container->id : "");
	err |= key_bytes(k, f->process ? f->process->exe : none);
	err |= key_bytes(k, f->process ? f->process->name : none);
	err |= key_bytes(k, f->file ? f->file->path : none);
	err |= key_str(k, f->file ? f->file->op : "");
	err |= key_bytes(k, f->network ? f->network->remote_ip : none);
	err |= key_add(k, &rport, sizeof(rport));
	err |= key_bytes(k, f->message);
	return err ? -ENOMEM : 0;
}

static void bind_bytes_text(sqlite3_stmt *st, int i, ProtobufCBinaryData b)
{
	sqlite3_bind_text(st, i, b.data ? (const char *)b.data : "", b.data ? (int)b.len : 0,
			  SQLITE_TRANSIENT);
}

static void bind_str(sqlite3_stmt *st, int i, const char *p)
{
	sqlite3_bind_text(st, i, str_or_empty(p), -1, SQLITE_TRANSIENT);
}

static void bind_ip(sqlite3_stmt *st, int i, ProtobufCBinaryData b)
{
	if (b.len && b.data)
		sqlite3_bind_blob(st, i, b.data, (int)b.len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static int64_t sat_add(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	if (b < 0 && a < INT64_MIN - b)
		return INT64_MIN;
	return a + b;
}

static int insert_row(struct store *s, const Wacht__V1__Finding *f, int64_t t, int64_t count,
		      sqlite3_int64 *seq)
{
	static const Wacht__V1__Rule no_rule = WACHT__V1__RULE__INIT;
	static const Wacht__V1__Container no_ct = WACHT__V1__CONTAINER__INIT;
	static const Wacht__V1__Process no_proc = WACHT__V1__PROCESS__INIT;
	static const Wacht__V1__File no_file = WACHT__V1__FILE__INIT;
	static const Wacht__V1__Network no_net = WACHT__V1__NETWORK__INIT;
	const Wacht__V1__Rule *r = f->rule ? f->rule : &no_rule;
	const Wacht__V1__Container *c = f->container ? f->container : &no_ct;
	const Wacht__V1__Process *p = f->process ? f->process : &no_proc;
	const Wacht__V1__File *fl = f->file ? f->file : &no_file;
	const Wacht__V1__Network *n = f->network ? f->network : &no_net;
	const char *args;
	size_t args_len;
	sqlite3_stmt *st;
	int err = 0;

	jsonw__reset(s->jw);
	jsonw__arr_begin(s->jw, NULL);
	for (size_t i = 0; i < p->n_args; i++)
		jsonw__strn(s->jw, NULL, (const char *)p->args[i].data, p->args[i].len);
	jsonw__arr_end(s->jw);
	if (jsonw__error(s->jw))
		return jsonw__error(s->jw);
	args = jsonw__data(s->jw, &args_len);

	st = stmt_get(s, ST_INSERT, &err);
	if (!st)
		return err;
	sqlite3_bind_text(st, 1, f->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 2, s->key.buf, (int)s->key.len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, t);
	sqlite3_bind_int64(st, 4, t);
	sqlite3_bind_int64(st, 5, count);
	bind_str(st, 6, f->node);
	bind_str(st, 7, f->name);
	sqlite3_bind_int(st, 8, f->severity);
	sqlite3_bind_int(st, 9, f->action);
	sqlite3_bind_int(st, 10, f->mode);
	bind_str(st, 11, r->id);
	bind_str(st, 12, r->name);
	bind_str(st, 13, r->group);
	bind_str(st, 14, c->id);
	bind_str(st, 15, c->name);
	bind_str(st, 16, c->image);
	bind_str(st, 17, c->pod);
	bind_str(st, 18, c->namespace_);
	bind_str(st, 19, c->group);
	sqlite3_bind_int64(st, 20, p->pid);
	sqlite3_bind_int64(st, 21, p->ppid);
	sqlite3_bind_int64(st, 22, p->uid);
	sqlite3_bind_int64(st, 23, p->euid);
	bind_bytes_text(st, 24, p->exe);
	bind_bytes_text(st, 25, p->name);
	bind_bytes_text(st, 26, p->parent_exe);
	sqlite3_bind_text(st, 27, args, (int)args_len, SQLITE_TRANSIENT);
	bind_bytes_text(st, 28, fl->path);
	bind_str(st, 29, fl->op);
	sqlite3_bind_int64(st, 30, n->proto);
	sqlite3_bind_int(st, 31, n->direction);
	bind_ip(st, 32, n->local_ip);
	sqlite3_bind_int64(st, 33, n->local_port);
	bind_ip(st, 34, n->remote_ip);
	sqlite3_bind_int64(st, 35, n->remote_port);
	bind_str(st, 36, n->peer_group);
	bind_bytes_text(st, 37, f->message);
	sqlite3_bind_int64(st, 38, s->key_hash);
	err = stmt_done(st);
	if (!err)
		*seq = sqlite3_last_insert_rowid(s->db);
	return err;
}

/* 1 stored or merged, 0 seen before, or -errno. */
static int add_one(struct store *s, const Wacht__V1__Finding *f, int64_t now)
{
	int64_t t = f->time_unix_ns > 0 ? f->time_unix_ns : now;
	int64_t count = f->count == 0 ? 1 : f->count > INT32_MAX ? INT32_MAX : (int64_t)f->count;
	sqlite3_int64 seq = 0;
	sqlite3_stmt *st;
	int err = 0, rc;

	if (!f->id || !f->id[0])
		return -EINVAL;
	st = stmt_get(s, ST_SEEN, &err);
	if (!st)
		return err;
	sqlite3_bind_text(st, 1, f->id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return sqlite_errno(rc);

	err = store_key_build(&s->key, f);
	if (err)
		return err;
	/* the merge index */
	s->key_hash = (int64_t)hash_fnv1a(HASH_FNV_OFFSET, s->key.buf, s->key.len);
	st = stmt_get(s, ST_MERGE_FIND, &err);
	if (!st)
		return err;
	sqlite3_bind_blob(st, 1, s->key.buf, (int)s->key.len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, sat_add(t, -s->merge_window_ns));
	sqlite3_bind_int64(st, 3, sat_add(t, s->merge_window_ns));
	sqlite3_bind_int64(st, 4, s->key_hash);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqlite_errno(rc);

	if (seq) {
		st = stmt_get(s, ST_MERGE_UPDATE, &err);
		if (!st)
			return err;
		sqlite3_bind_int64(st, 1, seq);
		sqlite3_bind_int64(st, 2, count);
		sqlite3_bind_int64(st, 3, t);
		err = stmt_done(st);
		if (err)
			return err;
		/* the id is remembered with the row it went into */
		st = stmt_get(s, ST_RECEIVED, &err);
		if (!st)
			return err;
		sqlite3_bind_text(st, 1, f->id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, seq);
		err = stmt_done(st);
	} else {
		err = insert_row(s, f, t, count, &seq);
	}
	if (err)
		return err;
	return 1;
}

int store__add_findings(struct store *s, const Wacht__V1__Finding *const *f, size_t n,
			int64_t now)
{
	int err, stored = 0;
	if (s->pg)
		return store_pg__add_findings(s->pg, f, n, now);

	/* inside store__begin's transaction: a savepoint keeps "all or none"
	 * for this call */
	err = exec_simple(s, s->in_txn ? ST_SAVEPOINT : ST_BEGIN);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		err = add_one(s, f[i], now);
		if (err < 0)
			goto fail;
		stored += err;
	}
	err = exec_simple(s, s->in_txn ? ST_RELEASE : ST_COMMIT);
	if (err)
		goto fail;
	return stored;
fail:
	if (s->in_txn) {
		exec_simple(s, ST_ROLLBACK_TO);
		exec_simple(s, ST_RELEASE);
	} else {
		exec_simple(s, ST_ROLLBACK);
	}
	return err;
}

int store__begin(struct store *s)
{
	int err;

	/* store_pg commits each store__add_findings call on its own */
	if (s->pg)
		return -EOPNOTSUPP;
	if (s->in_txn)
		return -EALREADY;
	err = exec_simple(s, ST_BEGIN);
	if (!err)
		s->in_txn = true;
	return err;
}

int store__commit(struct store *s)
{
	int err;

	if (s->pg || !s->in_txn)
		return -EINVAL;
	err = exec_simple(s, ST_COMMIT);
	if (err)
		exec_simple(s, ST_ROLLBACK);
	s->in_txn = false;
	return err;
}

/* ---- sensors */

int store__sensor_hello(struct store *s, const Wacht__V1__SensorHello *h, int64_t now)
{
	int err = 0;
	sqlite3_stmt *st;
	if (s->pg)
		return store_pg__sensor_hello(s->pg, h, now);

	if (!h->sensor_id || !h->sensor_id[0])
		return -EINVAL;
	st = stmt_get(s, ST_SENSOR_UPSERT, &err);
	if (!st)
		return err;
	bind_str(st, 1, h->sensor_id);
	bind_str(st, 2, h->node);
	bind_str(st, 3, h->sensor_version);
	bind_str(st, 4, h->kernel);
	sqlite3_bind_int64(st, 5, h->start_time_unix_ns);
	sqlite3_bind_int64(st, 6, now);
	return stmt_done(st);
}

int store__sensor_drops(struct store *s, const char *sensor_id, uint64_t drops, int64_t now)
{
	int err = 0;
	sqlite3_stmt *st;

	if (s->pg)
		return store_pg__sensor_drops(s->pg, sensor_id, drops, now);
	st = stmt_get(s, ST_SENSOR_DROPS, &err);

	if (!st)
		return err;
	bind_str(st, 1, sensor_id);
	sqlite3_bind_int64(st, 2, drops > INT64_MAX ? INT64_MAX : (int64_t)drops);
	sqlite3_bind_int64(st, 3, now);
	err = stmt_done(st);
	if (!err && sqlite3_changes(s->db) == 0)
		err = -ENOENT;
	return err;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const char *p = (const char *)sqlite3_column_text(st, i);

	return p ? p : "";
}

int store__sensors(struct store *s, store_sensor_cb cb, void *ctx)
{
	struct store_sensor row;
	int err = 0, rc;
	sqlite3_stmt *st;

	if (s->pg)
		return store_pg__sensors(s->pg, cb, ctx);
	st = stmt_get(s, ST_SENSORS, &err);
	if (!st)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row.node = col_text(st, 0);
		row.sensor_id = col_text(st, 1);
		row.version = col_text(st, 2);
		row.kernel = col_text(st, 3);
		row.last_seen = sqlite3_column_int64(st, 4);
		row.drops = (uint64_t)sqlite3_column_int64(st, 5);
		err = cb(ctx, &row);
		if (err)
			break;
	}
	sqlite3_reset(st);
	if (err)
		return err;
	return rc == SQLITE_DONE ? 0 : sqlite_errno(rc);
}

/* ---- queries */

static void bind_opt_str(sqlite3_stmt *st, int i, const char *p)
{
	if (p)
		sqlite3_bind_text(st, i, p, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void row_read(sqlite3_stmt *st, struct store_row *r)
{
	r->rowid = sqlite3_column_int64(st, 0);
	r->id = col_text(st, 1);
	r->node = col_text(st, 2);
	r->name = col_text(st, 3);
	r->first_seen = sqlite3_column_int64(st, 4);
	r->last_seen = sqlite3_column_int64(st, 5);
	r->count = (uint64_t)sqlite3_column_int64(st, 6);
	r->severity = sqlite3_column_int(st, 7);
	r->action = sqlite3_column_int(st, 8);
	r->mode = sqlite3_column_int(st, 9);
	r->rule_id = col_text(st, 10);
	r->rule_name = col_text(st, 11);
	r->rule_group = col_text(st, 12);
	r->container_id = col_text(st, 13);
	r->container_name = col_text(st, 14);
	r->image = col_text(st, 15);
	r->pod = col_text(st, 16);
	r->namespace_ = col_text(st, 17);
	r->group = col_text(st, 18);
	r->pid = (uint32_t)sqlite3_column_int64(st, 19);
	r->exe = col_text(st, 20);
	r->process_name = col_text(st, 21);
	r->args_json = col_text(st, 22);
	r->file_path = col_text(st, 23);
	r->file_op = col_text(st, 24);
	r->net_proto = (uint32_t)sqlite3_column_int64(st, 25);
	r->net_direction = (uint32_t)sqlite3_column_int64(st, 26);
	r->local_ip = sqlite3_column_blob(st, 27);
	r->local_ip_len = (size_t)sqlite3_column_bytes(st, 27);
	r->local_port = (uint32_t)sqlite3_column_int64(st, 28);
	r->remote_ip = sqlite3_column_blob(st, 29);
	r->remote_ip_len = (size_t)sqlite3_column_bytes(st, 29);
	r->remote_port = (uint32_t)sqlite3_column_int64(st, 30);
	r->peer_group = col_text(st, 31);
	r->message = col_text(st, 32);
	r->acknowledged = sqlite3_column_int(st, 33) != 0;
	r->ack_by = col_text(st, 34);
	r->ack_comment = col_text(st, 35);
	r->ack_time = sqlite3_column_int64(st, 36);
	r->ppid = (uint32_t)sqlite3_column_int64(st, 37);
	r->uid = (uint32_t)sqlite3_column_int64(st, 38);
	r->euid = (uint32_t)sqlite3_column_int64(st, 39);
	r->parent_exe = col_text(st, 40);
}

/* The scope as a JSON array in s->jw: one statement for any list size. */
static const char *scope_json(struct store *s, const char *const *scope, size_t n, int *err)
{
	jsonw__reset(s->jw);
	jsonw__arr_begin(s->jw, NULL);
	for (size_t i = 0; i < n; i++)
		jsonw__str(s->jw, NULL, scope[i]);
	jsonw__arr_end(s->jw);
	*err = jsonw__error(s->jw);
	return *err ? NULL : jsonw__data(s->jw, NULL);
}

int store__query(struct store *s, const struct store_filter *flt, store_row_cb cb, void *ctx,
		 struct store_cursor *next)
{
	struct store_row row;
	sqlite3_stmt *st;
	int err = 0, rc, n = 0;

	if (s->pg)
		return store_pg__query(s->pg, flt, cb, ctx, next);
	st = stmt_get(s, ST_QUERY, &err);
	if (!st)
		return err;
	bind_opt_str(st, 1, flt->id);
	if (flt->since)
		sqlite3_bind_int64(st, 2, flt->since);
	if (flt->until)
		sqlite3_bind_int64(st, 3, flt->until);
	sqlite3_bind_int(st, 4, flt->min_severity);
	bind_opt_str(st, 5, flt->namespace_);
	bind_opt_str(st, 6, flt->pod);
	bind_opt_str(st, 7, flt->name);
	bind_opt_str(st, 8, flt->node);
	if (flt->ack != STORE_ACK_ANY)
		sqlite3_bind_int(st, 9, flt->ack == STORE_ACK_YES);
	if (flt->scoped) {
		const char *j = scope_json(s, flt->scope, flt->n_scope, &err);

		if (!j) {
			sqlite3_clear_bindings(st);
			return err;
		}
		sqlite3_bind_text(st, 10, j, -1, SQLITE_TRANSIENT);
	}
	if (flt->after) {
		sqlite3_bind_int64(st, 11, flt->after->last_seen);
		sqlite3_bind_int64(st, 12, flt->after->rowid);
	}
	sqlite3_bind_int64(st, 13, flt->limit ? (int64_t)flt->limit : DEFAULT_LIMIT);

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_read(st, &row);
		if (next) {
			next->last_seen = row.last_seen;
			next->rowid = row.rowid;
		}
		err = cb(ctx, &row);
		if (err)
			break;
		n++;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (err)
		return err;
	return rc == SQLITE_DONE ? n : sqlite_errno(rc);
}

int store__ack(struct store *s, const char *id, bool ack, const char *who, const char *comment,
	       int64_t now)
{
	int err = 0;
	sqlite3_stmt *st;

	if (s->pg)
		return store_pg__ack(s->pg, id, ack, who, comment, now);
	st = stmt_get(s, ST_ACK, &err);
	if (!st)
		return err;
	bind_str(st, 1, id);
	sqlite3_bind_int(st, 2, ack);
	bind_str(st, 3, who);
	bind_str(st, 4, comment);
	sqlite3_bind_int64(st, 5, now);
	err = stmt_done(st);
	if (!err && sqlite3_changes(s->db) == 0)
		err = -ENOENT;
	return err;
}

/* One retention DELETE with its one parameter: the rows deleted, or a
 * negative errno. Within the caller's transaction. */
static int64_t delete_by(struct store *s, enum stmt_id id, int64_t v)
{
	sqlite3_stmt *st;
	int err = 0;

	st = stmt_get(s, id, &err);
	if (!st)
		return err;
	sqlite3_bind_int64(st, 1, v);
	err = stmt_done(st);
	return err ? err : sqlite3_changes(s->db);
}

int64_t store__retention(struct store *s, int64_t max_age_ns, uint64_t max_rows, int64_t now)
{
	int64_t deleted = 0, n;

	if (s->pg)
		return store_pg__retention(s->pg, max_age_ns, max_rows, now);
	n = exec_simple(s, ST_BEGIN);
	if (n)
		return n;
	if (max_age_ns > 0) {
		n = delete_by(s, ST_RET_AGE, sat_add(now, -max_age_ns));
		if (n < 0)
			goto fail;
		deleted += n;
	}
	if (max_rows > 0) {
		n = delete_by(s, ST_RET_ROWS, max_rows > INT64_MAX ? INT64_MAX : (int64_t)max_rows);
		if (n < 0)
			goto fail;
		deleted += n;
	}
	n = exec_simple(s, ST_COMMIT);
	if (n)
		goto fail;
	return deleted;
fail:
	exec_simple(s, ST_ROLLBACK);
	return n;
}

int store__checkpoint(struct store *s)
{
	int rc;

	/* PostgreSQL checkpoints by itself */
	if (s->pg)
		return 0;
	rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

	return rc == SQLITE_BUSY ? 0 : sqlite_errno(rc);
}

int store__backup(struct store *s, const char *path)
{
	sqlite3_backup *b;
	sqlite3 *dst = NULL;
	char *tmp;
	int rc, err;

	if (s->pg)
		return store_pg__backup(s->pg, path);
	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	unlink(tmp);
	rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		err = sqlite_errno(rc);
		goto out;
	}
	b = sqlite3_backup_init(dst, "main", s->db, "main");
	if (!b) {
		err = sqlite_errno(sqlite3_errcode(dst));
		goto out;
	}
	/* All pages in one step: one read transaction on the source, so the
	 * copy is one snapshot (WAL: writers elsewhere do not block it). */
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		err = sqlite_errno(rc);
		goto out;
	}
	/* the copy keeps the WAL flag; fold its WAL into the file before
	 * renaming, so that path alone is the backup */
	rc = sqlite3_close(dst);
	dst = NULL;
	if (rc != SQLITE_OK) {
		err = sqlite_errno(rc);
		goto out;
	}
	err = rename(tmp, path) ? -errno : 0;
out:
	if (dst)
		sqlite3_close(dst);
	if (err)
		unlink(tmp);
	free(tmp);
	return err;
}

/* Copies every page of src (schema "main") into a new database at path. */
static int copy_db(sqlite3 *src, const char *path)
{
	sqlite3_backup *b;
	sqlite3 *dst = NULL;
	int rc, err;

	unlink(path);
	rc = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		err = sqlite_errno(rc);
		sqlite3_close(dst);
		return err;
	}
	b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b) {
		err = sqlite_errno(sqlite3_errcode(dst));
		sqlite3_close(dst);
		return err;
	}
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	err = rc == SQLITE_DONE ? 0 : sqlite_errno(rc);
	rc = sqlite3_close(dst);
	if (!err && rc != SQLITE_OK)
		err = sqlite_errno(rc);
	return err;
}

int store__restore(const char *dst_path, const char *backup_path, char **errmsg)
{
	char *tmp = NULL, *side = NULL;
	const char *why = NULL;
	sqlite3_stmt *st = NULL;
	sqlite3 *src = NULL;
	int rc, err = 0, version = -1;

	if (errmsg)
		*errmsg = NULL;
	rc = sqlite3_open_v2(backup_path, &src, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		err = sqlite_errno(rc);
		why = src ? sqlite3_errmsg(src) : sqlite3_errstr(rc);
		goto out;
	}
	/* A backup that is not a whole, readable store of a version this code
	 * knows must not replace a working one. */
	rc = sqlite3_prepare_v2(src, "PRAGMA quick_check", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW &&
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok")) {
		err = -EBADMSG;
		why = "the backup is corrupt (quick_check)";
		goto out;
	}
	if (rc != SQLITE_ROW) {
		err = sqlite_errno(rc);
		why = sqlite3_errmsg(src);
		goto out;
	}
	sqlite3_finalize(st);
	rc = sqlite3_prepare_v2(src, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	if (version < 1 || version > STORE_SCHEMA_VERSION) {
		err = -EPROTO;
		why = version < 1 ? "not a wacht store" : "written by a newer wacht (schema version)";
		goto out;
	}
	if (asprintf(&tmp, "%s.restore", dst_path) < 0) {
		tmp = NULL;
		err = -ENOMEM;
		goto out;
	}
	err = copy_db(src, tmp);
	if (err) {
		why = "cannot write the copy next to the store";
		goto out;
	}
	/* The old store's WAL belongs to the old file: left in place it would
	 * be replayed over the restored one. */
	for (int i = 0; i < 2 && !err; i++) {
		free(side);
		if (asprintf(&side, "%s%s", dst_path, i ? "-shm" : "-wal") < 0) {
			side = NULL;
			err = -ENOMEM;
		} else if (unlink(side) && errno != ENOENT) {
			err = -errno;
			why = "cannot remove the old store's WAL";
		}
	}
	if (!err && rename(tmp, dst_path)) {
		err = -errno;
		why = "cannot rename the copy into place";
	}
out:
	if (err && errmsg &&
	    asprintf(errmsg, "store: failed to restore %s from %s: %s", dst_path, backup_path,
		     why ? why : strerror(-err)) < 0)
		*errmsg = NULL;
	sqlite3_finalize(st);
	sqlite3_close(src);
	if (err && tmp)
		unlink(tmp);
	free(tmp);
	free(side);
	return err;
}

/* ---- learned profiles */

int store__learned_put(struct store *s, const char *group, const char *node, const char *yaml,
		       int64_t now)
{
	if (s->pg)
		return store_pg__learned_put(s->pg, group, node, yaml, now);
	int err = 0;
	sqlite3_stmt *st;

	if (!group || !group[0] || !node || !node[0] || !yaml)
		return -EINVAL;
	st = stmt_get(s, ST_LEARNED_PUT, &err);
	if (!st)
		return err;
	bind_str(st, 1, group);
	bind_str(st, 2, node);
	bind_str(st, 3, yaml);
	sqlite3_bind_int64(st, 4, now);
	return stmt_done(st);
}

int store__learned_foreach(struct store *s, const char *group, store_learned_cb cb, void *ctx)
{
	if (s->pg)
		return store_pg__learned_foreach(s->pg, group, cb, ctx);
	struct store_learned row;
	int err = 0, rc;
	sqlite3_stmt *st = stmt_get(s, ST_LEARNED_ALL, &err);

	if (!st)
		return err;
	bind_opt_str(st, 1, group);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row.group = col_text(st, 0);
		row.node = col_text(st, 1);
		row.yaml = col_text(st, 2);
		row.yaml_len = (size_t)sqlite3_column_bytes(st, 2);
		row.updated = sqlite3_column_int64(st, 3);
		err = cb(ctx, &row);
		if (err)
			break;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (err)
		return err;
	return rc == SQLITE_DONE ? 0 : sqlite_errno(rc);
}

/* ---- statistics */

int store__counts(struct store *s, store_count_cb cb, void *ctx)
{
	if (s->pg)
		return store_pg__counts(s->pg, cb, ctx);
	int err = 0, rc;
	sqlite3_stmt *st = stmt_get(s, ST_COUNTS, &err);

	if (!st)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = cb(ctx, col_text(st, 0), sqlite3_column_int(st, 1),
			 (uint64_t)sqlite3_column_int64(st, 2), (uint64_t)sqlite3_column_int64(st, 3));
		if (err)
			break;
	}
	sqlite3_reset(st);
	if (err)
		return err;
	return rc == SQLITE_DONE ? 0 : sqlite_errno(rc);
}

int64_t store__size_bytes(struct store *s)
{
	if (s->pg)
		return store_pg__size_bytes(s->pg);
	sqlite3_stmt *st;
	int64_t v = -EIO;
	int rc;

	rc = sqlite3_prepare_v2(s->db,
				"SELECT page_count * page_size FROM pragma_page_count(),"
				" pragma_page_size()",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_errno(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		v = sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;
	sqlite3_finalize(st);
	return v;
}

/* ---- conversations */

static void bind_end(sqlite3_stmt *st, int i, const struct conv_end *e)
{
	sqlite3_bind_int(st, i, e->kind);
	sqlite3_bind_blob(st, i + 1, e->ip ? (const void *)e->ip : "", (int)e->ip_len,
			  SQLITE_TRANSIENT);
	bind_str(st, i + 2, e->node);
	bind_str(st, i + 3, e->cid);
	bind_str(st, i + 4, e->name);
	bind_str(st, i + 5, e->image);
	bind_str(st, i + 6, e->pod);
	bind_str(st, i + 7, e->ns);
	bind_str(st, i + 8, e->grp);
}

static int conv_upsert(struct store *s, const struct conv_row *r)
{
	int err = 0;
	sqlite3_stmt *st = stmt_get(s, ST_CONV_UPSERT, &err);

	if (!st)
		return err;
	sqlite3_bind_int64(st, 1, r->bucket);
	bind_str(st, 2, r->reporter);
	sqlite3_bind_int(st, 3, r->by_client);
	sqlite3_bind_int64(st, 4, r->proto);
	sqlite3_bind_int64(st, 5, r->port);
	bind_end(st, 6, &r->c);
	bind_end(st, 15, &r->s);
	sqlite3_bind_int64(st, 24, r->bytes_to_server);
	sqlite3_bind_int64(st, 25, r->bytes_to_client);
	sqlite3_bind_int64(st, 26, r->packets_to_server);
	sqlite3_bind_int64(st, 27, r->packets_to_client);
	sqlite3_bind_int64(st, 28, r->sessions);
	sqlite3_bind_int64(st, 29, r->first_seen);
	sqlite3_bind_int64(st, 30, r->last_seen);
	sqlite3_bind_int(st, 31, r->verdict);
	return stmt_done(st);
}

int store__add_flows(struct store *s, const char *sensor_id, int64_t sensor_start_ns,
		     const char *node, const Wacht__V1__FlowBatch *b, int64_t now)
{
	int64_t t = b->time_unix_ns > 0 ? b->time_unix_ns : now;
	struct conv_row row;
	sqlite3_stmt *st;
	int err;

	if (s->pg)
		return store_pg__add_flows(s->pg, sensor_id, sensor_start_ns, node, b, now);
	if (!sensor_id || !sensor_id[0] || store_flows_check(b, node, NULL, 0))
		return -EINVAL;
	if (!b->n_records)
		return 0;
	err = exec_simple(s, s->in_txn ? ST_SAVEPOINT : ST_BEGIN);
	if (err)
		return err;
	st = stmt_get(s, ST_FLOW_BATCH, &err);
	if (!st)
		goto fail;
	bind_str(st, 1, sensor_id);
	sqlite3_bind_int64(st, 2, sensor_start_ns);
	sqlite3_bind_int64(st, 3, b->batch_seq > INT64_MAX ? INT64_MAX : (int64_t)b->batch_seq);
	sqlite3_bind_int64(st, 4, now);
	err = stmt_done(st);
	if (err)
		goto fail;
	/* stored before: the records are in already */
	bool repeat = sqlite3_changes(s->db) == 0;
	for (size_t i = 0; !repeat && i < b->n_records; i++) {
		conv_row_from(&row, b->records[i], node, t);
		err = conv_upsert(s, &row);
		if (err)
			goto fail;
	}
	err = exec_simple(s, s->in_txn ? ST_RELEASE : ST_COMMIT);
	if (err)
		goto fail;
	return repeat ? 0 : (int)b->n_records;
fail:
	if (s->in_txn) {
		exec_simple(s, ST_ROLLBACK_TO);
		exec_simple(s, ST_RELEASE);
	} else {
		exec_simple(s, ST_ROLLBACK);
	}
	return err;
}

static void conv_read_end(sqlite3_stmt *st, int i, struct graph_endpoint *e, char *ipbuf)
{
	const char *str[7];

	for (int k = 0; k < 7; k++)
		str[k] = col_text(st, i + 2 + k);
	conv_end_to_graph(e, sqlite3_column_int(st, i), sqlite3_column_blob(st, i + 1),
			  (size_t)sqlite3_column_bytes(st, i + 1), ipbuf, str);
}

int store__conversations(struct store *s, const struct store_conv_filter *flt, store_conv_cb cb,
			 void *ctx)
{
	char cip[INET6_ADDRSTRLEN], sip[INET6_ADDRSTRLEN];
	struct graph_record r;
	sqlite3_stmt *st;
	int err = 0, rc;

	if (s->pg)
		return store_pg__conversations(s->pg, flt, cb, ctx);
	st = stmt_get(s, ST_CONV_QUERY, &err);
	if (!st)
		return err;
	if (flt->since)
		sqlite3_bind_int64(st, 1, flt->since);
	bind_opt_str(st, 2, flt->namespace_);
	if (flt->scoped) {
		const char *j = scope_json(s, flt->scope, flt->n_scope, &err);

		if (!j) {
			sqlite3_clear_bindings(st);
			return err;
		}
		sqlite3_bind_text(st, 3, j, -1, SQLITE_TRANSIENT);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.reported_by_client = sqlite3_column_int(st, 0) != 0;
		r.proto = (uint8_t)sqlite3_column_int(st, 1);
		r.server_port = (uint16_t)sqlite3_column_int(st, 2);
		conv_read_end(st, 3, &r.client, cip);
		conv_read_end(st, 12, &r.server, sip);
		r.bytes_to_server = (uint64_t)sqlite3_column_int64(st, 21);
		r.bytes_to_client = (uint64_t)sqlite3_column_int64(st, 22);
		r.packets_to_server = (uint64_t)sqlite3_column_int64(st, 23);
		r.packets_to_client = (uint64_t)sqlite3_column_int64(st, 24);
		r.sessions = (uint64_t)sqlite3_column_int64(st, 25);
		r.first_seen_ns = sqlite3_column_int64(st, 26);
		r.last_seen_ns = sqlite3_column_int64(st, 27);
		r.verdict = (enum graph_verdict)sqlite3_column_int(st, 28);
		err = cb(ctx, &r);
		if (err)
			break;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (err)
		return err;
	return rc == SQLITE_DONE ? 0 : sqlite_errno(rc);
}

int64_t store__retention_flows(struct store *s, int64_t max_age_ns, int64_t now)
{
	int64_t deleted, n;

	if (s->pg)
		return store_pg__retention_flows(s->pg, max_age_ns, now);
	if (max_age_ns <= 0)
		return 0;
	n = exec_simple(s, ST_BEGIN);
	if (n)
		return n;
	deleted = n = delete_by(s, ST_CONV_RET, sat_add(now, -max_age_ns));
	if (n >= 0)
		n = delete_by(s, ST_FLOW_BATCH_RET, sat_add(now, -max_age_ns));
	if (n >= 0)
		n = exec_simple(s, ST_COMMIT);
	if (n < 0) {
		exec_simple(s, ST_ROLLBACK);
		return n;
	}
	return deleted;
}

int64_t store__conversation_rows(struct store *s)
{
	int64_t v;
	int err = 0, rc;
	sqlite3_stmt *st;

	if (s->pg)
		return store_pg__conversation_rows(s->pg);
	st = stmt_get(s, ST_CONV_ROWS, &err);
	if (!st)
		return err;
	rc = sqlite3_step(st);
	v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;
	sqlite3_reset(st);
	return v;
}
