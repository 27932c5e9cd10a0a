/* SPDX-License-Identifier: Apache-2.0 */
/* store_pg.h: the finding store in PostgreSQL, shared by several aggregator
 * replicas; the same semantics as store.h (which forwards here for a
 * postgres:// URL). Call it through store.h; these are its backend. */
#ifndef WACHT_STORE_PG_H
#define WACHT_STORE_PG_H

#include "store.h"

/* The PostgreSQL schema keeps its own history (table wacht_schema), apart
 * from SQLite's STORE_SCHEMA_VERSION: what store__schema_version returns
 * for a postgres:// store. */
#define STORE_PG_SCHEMA_VERSION 3 /* 2: learned profiles; 3: conversations */

/*
 * Differences from the SQLite store, all forced by PostgreSQL:
 * - Byte fields from the wire (exe, args, paths, message) are stored as
 *   text, which PostgreSQL requires to be valid UTF-8 without NUL: each
 *   invalid byte, and NUL, is stored as U+FFFD. The merge key keeps the
 *   bytes as they came.
 * - store__backup is not done by the aggregator (-EOPNOTSUPP): a shared
 *   database is backed up with PostgreSQL's tools (pg_dump gives one
 *   consistent snapshot while replicas keep writing).
 *
 * Concurrency: any number of replicas may call store_pg__add_findings on
 * one database at once; the result is the same as some serial order of
 * their batches (see store_pg.c for why).
 */
struct store_pg;
/* url: a libpq connection URI (postgres:// or postgresql://). */
struct store_pg *store_pg__open(const char *url, const struct store_opts *opts, char **err);
void store_pg__close(struct store_pg *s); /* accepts NULL */
const char *store_pg__errmsg(const struct store_pg *s);
int store_pg__schema_version(struct store_pg *s);
int store_pg__add_findings(struct store_pg *s, const Wacht__V1__Finding *const *f, size_t n,
			   int64_t now);
int store_pg__sensor_hello(struct store_pg *s, const Wacht__V1__SensorHello *h, int64_t now);
int store_pg__sensor_drops(struct store_pg *s, const char *sensor_id, uint64_t drops,
			   int64_t now);
int store_pg__sensors(struct store_pg *s, store_sensor_cb cb, void *ctx);
int store_pg__query(struct store_pg *s, const struct store_filter *flt, store_row_cb cb,
		    void *ctx, struct store_cursor *next);
int store_pg__ack(struct store_pg *s, const char *id, bool ack, const char *who,
		  const char *comment, int64_t now);
int64_t store_pg__retention(struct store_pg *s, int64_t max_age_ns, uint64_t max_rows,
			    int64_t now);
int store_pg__backup(struct store_pg *s, const char *path);
int store_pg__learned_put(struct store_pg *s, const char *group, const char *node,
			  const char *yaml, int64_t now);
int store_pg__learned_foreach(struct store_pg *s, const char *group, store_learned_cb cb,
			      void *ctx);
int store_pg__counts(struct store_pg *s, store_count_cb cb, void *ctx);
int store_pg__add_flows(struct store_pg *s, const char *sensor_id, int64_t sensor_start_ns,
			const char *node, const Wacht__V1__FlowBatch *b, int64_t now);
int store_pg__conversations(struct store_pg *s, const struct store_conv_filter *flt,
			    store_conv_cb cb, void *ctx);
int64_t store_pg__retention_flows(struct store_pg *s, int64_t max_age_ns, int64_t now);
int64_t store_pg__conversation_rows(struct store_pg *s);
int64_t store_pg__size_bytes(struct store_pg *s);

/* How the store behind a URL is chosen (store__open): */
enum store_kind {
	STORE_KIND_SQLITE,   /* a path, or sqlite:PATH */
	STORE_KIND_POSTGRES, /* postgres://... or postgresql://... */
};
/* The kind of store url names, and in *path (borrowed from url) what that
 * backend opens: the file path for SQLite, the whole URL for PostgreSQL.
 * -EINVAL for an empty url or an empty sqlite: path. */
int store_url_parse(const char *url, enum store_kind *kind, const char **path);

/* The merge key of a finding (store.h lists its fields), built by both
 * backends the same way: length-prefixed fields in buf (grown as needed;
 * the owner frees buf). 0 or -ENOMEM. */

struct store_key {
	uint8_t *buf;
	size_t len, cap;
};
int store_key_build(struct store_key *k, const Wacht__V1__Finding *f);

/* The merge key's 32-bit lock id (FNV-1a), stable across processes and
 * machines: replicas lock the same id for the same key. */
uint32_t store_pg_key_hash(const void *key, size_t len);

#endif /* WACHT_STORE_PG_H */
