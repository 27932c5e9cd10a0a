/* SPDX-License-Identifier: Apache-2.0 */
/* store_conv.h: the conversations table as both store backends (SQLite,
 * PostgreSQL) write and read it: its SQL, and a FlowRecord turned into the
 * row it is added to. Internal to store.c and store_pg.c. */
#ifndef WACHT_STORE_CONV_H
#define WACHT_STORE_CONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "wacht.pb-c.h"

/*
 * One row per (bucket, reporter, by_client, proto, server_port, client
 * end, server end), an end being (kind, ip, node, container id). Every
 * column is NOT NULL ("" and x'' for none) so that the unique key compares
 * them all. INT and BLOB are the backend's integer and bytes types.
 */
#define CONVERSATIONS_SQL(INT, BLOB)                                                           \
	"CREATE TABLE conversations (bucket " INT " NOT NULL, reporter TEXT NOT NULL,"          \
	" by_client " INT " NOT NULL, proto " INT " NOT NULL, server_port " INT " NOT NULL,"    \
	" c_kind " INT " NOT NULL, c_ip " BLOB " NOT NULL, c_node TEXT NOT NULL,"               \
	" c_cid TEXT NOT NULL, c_name TEXT NOT NULL, c_image TEXT NOT NULL,"                    \
	" c_pod TEXT NOT NULL, c_namespace TEXT NOT NULL, c_grp TEXT NOT NULL,"                 \
	" s_kind " INT " NOT NULL, s_ip " BLOB " NOT NULL, s_node TEXT NOT NULL,"               \
	" s_cid TEXT NOT NULL, s_name TEXT NOT NULL, s_image TEXT NOT NULL,"                    \
	" s_pod TEXT NOT NULL, s_namespace TEXT NOT NULL, s_grp TEXT NOT NULL,"                 \
	" bytes_to_server " INT " NOT NULL, bytes_to_client " INT " NOT NULL,"                  \
	" packets_to_server " INT " NOT NULL, packets_to_client " INT " NOT NULL,"              \
	" sessions " INT " NOT NULL, first_seen " INT " NOT NULL, last_seen " INT " NOT NULL,"  \
	" verdict " INT " NOT NULL,"                                                            \
	" UNIQUE (" CONV_KEY "));"                                                              \
	"CREATE INDEX conversations_time ON conversations(last_seen);"                          \
	"CREATE INDEX conversations_c_ns ON conversations(c_namespace, last_seen);"             \
	"CREATE INDEX conversations_s_ns ON conversations(s_namespace, last_seen);"

#define CONV_KEY                                                                               \
	"bucket, reporter, by_client, proto, server_port, c_kind, c_ip, c_node, c_cid, s_kind," \
	" s_ip, s_node, s_cid"

/* The 31 columns written, in the order of struct conv_row's parameters. */
#define CONV_COLS                                                                              \
	"bucket, reporter, by_client, proto, server_port,"                                      \
	" c_kind, c_ip, c_node, c_cid, c_name, c_image, c_pod, c_namespace, c_grp,"             \
	" s_kind, s_ip, s_node, s_cid, s_name, s_image, s_pod, s_namespace, s_grp,"             \
	" bytes_to_server, bytes_to_client, packets_to_server, packets_to_client, sessions,"    \
	" first_seen, last_seen, verdict"
#define CONV_NCOLS 31

/* The upsert's update: names from the newest record, counters summed,
 * times widened, the worst verdict. MIN/MAX: the backend's two-argument
 * min and max (SQLite min/max, PostgreSQL least/greatest). */
#define CONV_UPDATE(MIN, MAX)                                                                  \
	" ON CONFLICT (" CONV_KEY ") DO UPDATE SET c_name = excluded.c_name,"                   \
	" c_image = excluded.c_image, c_pod = excluded.c_pod,"                                  \
	" c_namespace = excluded.c_namespace, c_grp = excluded.c_grp,"                          \
	" s_name = excluded.s_name, s_image = excluded.s_image, s_pod = excluded.s_pod,"        \
	" s_namespace = excluded.s_namespace, s_grp = excluded.s_grp,"                          \
	" bytes_to_server = conversations.bytes_to_server + excluded.bytes_to_server,"          \
	" bytes_to_client = conversations.bytes_to_client + excluded.bytes_to_client,"          \
	" packets_to_server = conversations.packets_to_server + excluded.packets_to_server,"    \
	" packets_to_client = conversations.packets_to_client + excluded.packets_to_client,"    \
	" sessions = conversations.sessions + excluded.sessions,"                               \
	" first_seen = " MIN "(conversations.first_seen, excluded.first_seen),"                 \
	" last_seen = " MAX "(conversations.last_seen, excluded.last_seen),"                    \
	" verdict = " MAX "(conversations.verdict, excluded.verdict)"

/* What a query reads, in this order (the same columns minus bucket). */
#define CONV_SELECT                                                                            \
	"SELECT by_client, proto, server_port,"                                                 \
	" c_kind, c_ip, c_node, c_cid, c_name, c_image, c_pod, c_namespace, c_grp,"             \
	" s_kind, s_ip, s_node, s_cid, s_name, s_image, s_pod, s_namespace, s_grp,"             \
	" bytes_to_server, bytes_to_client, packets_to_server, packets_to_client, sessions,"    \
	" first_seen, last_seen, verdict FROM conversations"

struct conv_end {
	int kind;
	const uint8_t *ip;
	size_t ip_len;
	const char *node, *cid, *name, *image, *pod, *ns, *grp; /* never NULL */
};

/* A record as the row it is added to; strings borrowed from the record
 * and the reporter. Counters clamped to INT64_MAX (SQL integers). */
struct conv_row {
	int64_t bucket;
	const char *reporter;
	bool by_client;
	int64_t proto, port;
	struct conv_end c, s;
	int64_t bytes_to_server, bytes_to_client, packets_to_server, packets_to_client;
	int64_t sessions, first_seen, last_seen;
	int verdict;
};
void conv_row_from(struct conv_row *row, const Wacht__V1__FlowRecord *r, const char *reporter,
		   int64_t batch_time);

/* A row's end (as read back) into a graph endpoint: kind, ip in text form
 * (into ipbuf, 46 bytes), node and container fields. Borrowed strings. */
void conv_end_to_graph(struct graph_endpoint *e, int kind, const void *ip, size_t ip_len,
		       char *ipbuf, const char *const str[7]);

#endif /* WACHT_STORE_CONV_H */
