/* SPDX-License-Identifier: Apache-2.0 */
/* store.h: the aggregator's finding store (SQLite, WAL): idempotent and
 * merging ingest, filtered keyset-paginated queries, acknowledgement,
 * retention, online backup. */
#ifndef WACHT_STORE_H
#define WACHT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "wacht.pb-c.h" /* generated from proto/wacht.proto */

/* PRAGMA user_version this code creates and migrates to. A database with a
 * higher version (written by a newer aggregator) is refused. */
#define STORE_SCHEMA_VERSION 4 /* 4: conversations */

/* All times are nanoseconds since the Unix epoch (UTC), as on the wire. */
struct store_opts {
	/* Identical findings (same merge key) whose times are less than this
	 * apart from a stored row's first_seen are merged into it. 0: 60 s. */
	int64_t merge_window_ns;
	/* How long to wait for a lock another writer holds (SQLite: the
	 * database; PostgreSQL: lock_timeout) before -EBUSY. 0: 5000 */
	int busy_timeout_ms;
	/* No checkpoints by this connection's commits: another connection
	 * (another thread) calls store__checkpoint instead, so that writing
	 * the WAL back into the database never stalls the ingest loop. */
	bool no_autocheckpoint;
};

/*
 * Opens the store that url names and migrates its schema to
 * STORE_SCHEMA_VERSION:
 *   PATH or sqlite:PATH          SQLite, the embedded default: one
 *                                aggregator, the file created if needed
 *   postgres://... postgresql:// PostgreSQL (a libpq URI), shared by
 *                                several aggregator replicas (store_pg.h
 *                                says what differs)
 * NULL on failure, with errno set and *err (if err is not NULL) a message
 * "store: failed to VERB PATH: reason" the caller frees. opts may be NULL
 * for defaults. Free with store__close.
 * One store is one connection: use it from one thread at a time.
 */
struct store;
struct store *store__open(const char *url, const struct store_opts *opts, char **err);
void store__close(struct store *s); /* accepts NULL */
/* The last database error message of this store (borrowed). */
const char *store__errmsg(const struct store *s);
/* The schema version of the open database (SQLite: PRAGMA user_version). */
/* The version this code migrates the store's kind to (SQLite's
 * STORE_SCHEMA_VERSION or PostgreSQL's own). */
int store__schema_expected(const struct store *s);
int store__schema_version(struct store *s);

/*
 * Stores n findings in one transaction (all or none). A finding whose id was
 * stored before (on its own or merged into a row) is ignored: sensors resend
 * after a lost ack. A finding with the merge key of a stored row (node,
 * name, rule id, action, container id, exe, process name, file path and op,
 * remote ip and port, message) whose time is within the merge window of
 * that row's first_seen adds its count (0 counts as 1) to the row and
 * widens first_seen/last_seen instead of adding a row. A finding with no
 * time (<= 0) is taken as seen at now. Returns the number of findings
 * stored or merged, or a negative errno (-EINVAL for a finding without an
 * id, -EBUSY, -ENOSPC, -EIO ...).
 * Ids are remembered as long as the row they went into: once retention
 * deleted it, a resend of that id is stored again.
 */
int store__add_findings(struct store *s, const Wacht__V1__Finding *const *f, size_t n,
			int64_t now);

/*
 * One transaction around several store__add_findings calls (each still all
 * or none, by a savepoint), so that a loop turn that received many small
 * batches commits once. Nothing is durable before store__commit returns 0;
 * if it fails, everything since store__begin is rolled back. Other calls
 * (hello, drops) made in between are part of the transaction too.
 * store__begin: 0, -EALREADY, -EOPNOTSUPP for PostgreSQL (each
 * store__add_findings commits on its own there), or -errno. store__commit:
 * 0, -EINVAL when no transaction is open, or -errno.
 */
int store__begin(struct store *s);
int store__commit(struct store *s);

/* Records a sensor's hello (upsert by sensor_id). 0 or -errno. */
int store__sensor_hello(struct store *s, const Wacht__V1__SensorHello *h, int64_t now);
/* Sets the drop counter a sensor reported, and its last_seen. 0, -ENOENT
 * for an unknown sensor, or -errno. */
int store__sensor_drops(struct store *s, const char *sensor_id, uint64_t drops, int64_t now);

struct store_sensor {
	const char *node, *sensor_id, *version, *kernel;
	int64_t last_seen;
	uint64_t drops;
};
typedef int (*store_sensor_cb)(void *ctx, const struct store_sensor *row);
/* Every sensor, by node then sensor_id; strings borrowed for the call.
 * A non-zero return of cb stops and is returned; else 0 or -errno. */
int store__sensors(struct store *s, store_sensor_cb cb, void *ctx);

enum store_ack_filter { STORE_ACK_ANY = 0, STORE_ACK_YES, STORE_ACK_NO };

/* Keyset cursor: rows strictly older than (last_seen, rowid). */
struct store_cursor {
	int64_t last_seen;
	int64_t rowid;
};

/* Every member is optional (NULL / 0: no condition). */
struct store_filter {
	const char *id;         /* one finding */
	int64_t since, until;   /* on last_seen, inclusive; 0: unbounded */
	int min_severity;       /* Wacht__V1__Severity */
	const char *namespace_, *pod, *name, *node;
	enum store_ack_filter ack;
	/* The token's scope: when scoped, only findings whose namespace is one
	 * of the n_scope names (host findings have namespace "") are seen.
	 * Not scoped: every namespace. */
	bool scoped;
	const char *const *scope;
	size_t n_scope;
	size_t limit;           /* 0: 100 */
	const struct store_cursor *after; /* NULL: from the newest */
};

/* One row; strings borrowed for the duration of the callback, "" when
 * unknown. Byte fields from the wire (exe, names, paths, message) are stored
 * as they came. */
struct store_row {
	int64_t rowid;
	const char *id, *node, *name;
	int64_t first_seen, last_seen;
	uint64_t count;
	int severity, action, mode; /* the wire enums */
	const char *rule_id, *rule_name, *rule_group;
	const char *container_id, *container_name, *image, *pod, *namespace_, *group;
	uint32_t pid, ppid, uid, euid;
	const char *exe, *process_name, *parent_exe;
	const char *args_json;      /* JSON array of strings */
	const char *file_path, *file_op;
	uint32_t net_proto, net_direction;
	const void *local_ip, *remote_ip; /* 4 or 16 bytes, or NULL */
	size_t local_ip_len, remote_ip_len;
	uint32_t local_port, remote_port;
	const char *peer_group;
	const char *message;
	bool acknowledged;
	const char *ack_by, *ack_comment;
	int64_t ack_time;
};
typedef int (*store_row_cb)(void *ctx, const struct store_row *row);

/*
 * Findings matching flt, newest first (by last_seen, then rowid), at most
 * flt->limit. A non-zero return of cb stops and is returned. Else the
 * number of rows passed to cb, or -errno; *next (if not NULL) is set to the
 * cursor of the last row passed, to ask for the next page. Rows inserted
 * after a page was read are newer and do not shift later pages; a row that
 * a merge moved to a newer last_seen meanwhile is not seen again.
 */
int store__query(struct store *s, const struct store_filter *flt, store_row_cb cb, void *ctx,
		 struct store_cursor *next);

/* Acknowledges (ack) or unacknowledges the finding with this id, recording
 * who, comment (NULL: "") and now. 0, -ENOENT, or -errno. */
int store__ack(struct store *s, const char *id, bool ack, const char *who, const char *comment,
	       int64_t now);

/* Deletes findings last seen before now - max_age_ns (max_age_ns 0: no age
 * limit), then the oldest beyond max_rows (0: no row limit). Returns the
 * number deleted or -errno. */
int64_t store__retention(struct store *s, int64_t max_age_ns, uint64_t max_rows, int64_t now);

/* Copies what the WAL holds back into the database as far as readers
 * allow, without waiting for them (a PASSIVE checkpoint). 0 or -errno;
 * 0 and nothing done for PostgreSQL, which checkpoints by itself. */
int store__checkpoint(struct store *s);

/* A consistent copy of the database, as of one moment, to path (written to
 * path.tmp and renamed into place), while the store stays in use (other
 * connections may be writing). Restore: open the copy with store__open.
 * 0 or -errno; -EOPNOTSUPP for PostgreSQL (use pg_dump). */
int store__backup(struct store *s, const char *path);

/*
 * Restore, OFFLINE (no store open on dst_path, the aggregator stopped):
 * checks that backup_path is a readable store (quick_check) of a schema
 * version this code can open, copies it to dst_path.restore, removes
 * dst_path's -wal and -shm (they belong to the replaced file) and renames
 * the copy to dst_path. The next store__open migrates it if it is older.
 * On failure dst_path is untouched (unless only the final rename failed
 * after its WAL was removed), and *errmsg (if not NULL) is "store: failed
 * to restore DST from BACKUP: reason" for the caller to free. 0 or -errno
 * (-EBADMSG corrupt, -EPROTO not a store or too new, ...).
 */
int store__restore(const char *dst_path, const char *backup_path, char **errmsg);

/* ---- learned profiles: one YAML document set per (group, node) */

/* Stores what node learned for group (NvSecurityRule YAML, as the sensor's
 * LearnedProfile carried it), replacing that node's older profile of the
 * group (one with a later `updated` time wins). 0, -EINVAL (empty group or
 * node, NULL yaml) or -errno. */
int store__learned_put(struct store *s, const char *group, const char *node, const char *yaml,
		       int64_t now);

struct store_learned {
	const char *group, *node, *yaml; /* borrowed for the call */
	size_t yaml_len;
	int64_t updated;
};
typedef int (*store_learned_cb)(void *ctx, const struct store_learned *row);
/* Every stored profile of group (NULL: of every group), by group then node.
 * A non-zero return of cb stops and is returned; else 0 or -errno. */
int store__learned_foreach(struct store *s, const char *group, store_learned_cb cb, void *ctx);

/* ---- conversations: the network graph (issue 6), from FlowBatches */

/* Conversation rows sum a sensor's records over one minute of last_seen:
 * a constant set of conversations adds one row per minute each, whatever
 * the --flow-interval, and --since is exact to the minute. */
#define STORE_FLOW_BUCKET_NS (60LL * 1000000000LL)

/*
 * Stores one sensor's FlowBatch in one transaction (all or none; a
 * savepoint inside store__begin's). Each record is added to the row of
 * (client end, server end, proto, server port, reported_by_client,
 * reporter = the sensor's node, minute of its last_seen): counters summed,
 * first_seen the smallest, last_seen the largest, the verdict the worst.
 * An end is identified by its kind, IP (none for 0.0.0.0 or ::, a socket
 * not bound yet), node and container id; its other
 * fields (names, pod, namespace, group) are the newest record's. A
 * container end without a node is on the reporter's node, as is a node end.
 * A record without last_seen counts as seen at the batch's time (or now).
 *
 * The batch is remembered by (sensor_id, sensor_start_ns, batch_seq) -
 * batch_seq restarts with the sensor process, whose start time the hello
 * carries - and a batch stored before is skipped: a sensor that resends
 * after a reconnect, or NATS redelivering, does not count traffic twice.
 * Returns the number of records added, 0 for a repeat (or an empty
 * batch), -EINVAL for a batch store_flows_check refuses, or -errno.
 */
int store__add_flows(struct store *s, const char *sensor_id, int64_t sensor_start_ns,
		     const char *node, const Wacht__V1__FlowBatch *b, int64_t now);

/* Whether a FlowBatch from the sensor of node may be stored: batch_seq set,
 * the batch's node that node, and every record with both ends (kind set;
 * a 4- or 16-byte IP, the same length at both ends), proto tcp (6) or udp
 * (17), a port up to 65535, a known verdict. (A container end without a
 * container id is stored as an external address.) 0, or -EINVAL with why (if not NULL) saying what was wrong
 * first ("record 3: ..."). Both transports refuse such a batch as they
 * refuse a bad finding. */
int store_flows_check(const Wacht__V1__FlowBatch *b, const char *node, char *why, size_t size);

/* Every member optional. */
struct store_conv_filter {
	int64_t since;          /* rows whose last_seen >= since; 0: all */
	const char *namespace_; /* rows with an end in this namespace */
	/* The token's scope: when scoped, only rows with an end in one of
	 * the n_scope namespaces. */
	bool scoped;
	const char *const *scope;
	size_t n_scope;
};
/* A row as the graph takes it (strings borrowed for the call; "" when not
 * known). A non-zero return of cb stops and is returned. */
typedef int (*store_conv_cb)(void *ctx, const struct graph_record *r);
/* The rows matching flt (filters in SQL), in no particular order. 0,
 * cb's stop value, or -errno. */
int store__conversations(struct store *s, const struct store_conv_filter *flt, store_conv_cb cb,
			 void *ctx);
/* Deletes conversation rows last seen before now - max_age_ns and the
 * remembered flow batches received before it (a batch that old is not
 * resent). max_age_ns <= 0: nothing. The number of rows deleted or
 * -errno. */
int64_t store__retention_flows(struct store *s, int64_t max_age_ns, int64_t now);
/* Conversation rows stored (for metrics and tests), or -errno. */
int64_t store__conversation_rows(struct store *s);

/* ---- statistics, for metrics */

/* Per (finding name, severity): rows stored and the occurrences they stand
 * for (sum of counts), by name then severity. cb's non-zero return stops
 * and is returned; else 0 or -errno. */
typedef int (*store_count_cb)(void *ctx, const char *name, int severity, uint64_t rows,
			      uint64_t occurrences);
int store__counts(struct store *s, store_count_cb cb, void *ctx);
/* Size of the main database file in bytes (pages in use and free; the WAL
 * not included), or -errno. */
int64_t store__size_bytes(struct store *s);

#endif /* WACHT_STORE_H */
