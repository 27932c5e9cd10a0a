// SPDX-License-Identifier: Apache-2.0
/* test_graph.c: unit tests of the conversation graph (merge, both ends'
 * reports counted once, relabelling, filters, collapse, CIDRs) and of its
 * writers: exact JSON, DOT read back by Graphviz's dot, GraphML validated
 * by xmllint against tests/unit/graphml/graphml.xsd. dot and xmllint must
 * be installed (scripts/install-deps.sh): without them these tests fail. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "graph.h"

#define NS 1000000000LL
#define T0 (1795791600LL * NS) /* 2026-11-27T15:00:00Z */

static const struct graph_endpoint WEB = {
	.kind = GRAPH_KIND_CONTAINER,
	.ip = "10.1.0.2",
	.node = "node-a",
	.container_id = "aaaa1111bbbb2222",
	.container = "web",
	.image = "shop/web:1",
	.pod = "web-1",
	.namespace = "shop",
	.group = "nv.web.shop",
};
static const struct graph_endpoint WEB2 = {
	.kind = GRAPH_KIND_CONTAINER,
	.ip = "10.1.0.4",
	.node = "node-b",
	.container_id = "cccc3333dddd4444",
	.container = "web",
	.pod = "web-2",
	.namespace = "shop",
	.group = "nv.web.shop",
};
static const struct graph_endpoint SIDECAR = {
	.kind = GRAPH_KIND_CONTAINER,
	.ip = "10.1.0.2",
	.node = "node-a",
	.container_id = "eeee5555ffff6666",
	.container = "proxy",
	.pod = "web-1",
	.namespace = "shop",
	.group = "nv.web.shop",
};
static const struct graph_endpoint DB = {
	.kind = GRAPH_KIND_CONTAINER,
	.ip = "10.1.0.3",
	.node = "node-b",
	.container_id = "1234567890abcdef",
	.container = "db",
	.pod = "db-0",
	.namespace = "shop",
	.group = "nv.db.shop",
};
static const struct graph_endpoint API = {
	.kind = GRAPH_KIND_CONTAINER,
	.ip = "10.2.0.5",
	.node = "node-a",
	.container_id = "9999888877776666",
	.container = "api",
	.pod = "api-1",
	.namespace = "billing",
	.group = "nv.api.billing",
};
static const struct graph_endpoint EXT = {.kind = GRAPH_KIND_EXTERNAL, .ip = "192.0.2.1"};
static const struct graph_endpoint NODE_A = {
	.kind = GRAPH_KIND_NODE,
	.ip = "172.16.0.1",
	.node = "node-a",
};

/* A record; packets are bytes / 100 each way. */
static struct graph_record rec(struct graph_endpoint c, struct graph_endpoint s, uint8_t proto,
			       uint16_t port, bool by_client, uint64_t bts, uint64_t btc,
			       uint64_t sessions, int64_t first, int64_t last,
			       enum graph_verdict verdict)
{
	return (struct graph_record){
		.client = c,
		.server = s,
		.proto = proto,
		.server_port = port,
		.reported_by_client = by_client,
		.bytes_to_server = bts,
		.bytes_to_client = btc,
		.packets_to_server = bts / 100,
		.packets_to_client = btc / 100,
		.sessions = sessions,
		.first_seen_ns = first,
		.last_seen_ns = last,
		.verdict = verdict,
	};
}

static void add(struct graph *g, struct graph_record r)
{
	assert_int_equal(graph__add(g, &r), 0);
}

static struct graph *new_graph(enum graph_collapse collapse)
{
	struct graph_options o = {.collapse = collapse, .generated_at_ns = T0};
	int err = 0;
	struct graph *g = graph__new(&o, &err);

	assert_non_null(g);
	assert_int_equal(err, 0);
	return g;
}

/* The export as a string (caller frees). */
static char *export(struct graph *g, enum graph_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(graph__write(g, fmt, f), 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(strlen(buf), len);
	return buf;
}

static json_object *export_json(struct graph *g)
{
	char *s = export(g, GRAPH_FORMAT_JSON);
	json_object *root = json_tokener_parse(s);

	if (!root)
		fail_msg("the JSON export does not parse: %s", s);
	free(s);
	return root;
}

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no member \"%s\" in %s", key, json_object_to_json_string(o));
	return v;
}

static uint64_t u64(json_object *o, const char *key)
{
	return (uint64_t)json_object_get_int64(member(o, key));
}

static const char *str(json_object *o, const char *key)
{
	return json_object_get_string(member(o, key));
}

static bool has(json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

static json_object *conv(json_object *root, const char *from, const char *to)
{
	json_object *a = member(root, "conversations");

	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *c = json_object_array_get_idx(a, i);

		if (!strcmp(str(c, "from"), from) && !strcmp(str(c, "to"), to))
			return c;
	}
	fail_msg("no conversation %s -> %s", from, to);
	return NULL;
}

static json_object *endpoint(json_object *root, const char *id)
{
	json_object *a = member(root, "endpoints");

	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i);

		if (!strcmp(str(e, "id"), id))
			return e;
	}
	fail_msg("no endpoint %s", id);
	return NULL;
}

static size_t count(json_object *root, const char *key)
{
	return json_object_array_length(member(root, key));
}

/* The ids of the endpoints, joined by spaces, in output order. */
static void assert_endpoint_ids(json_object *root, const char *want)
{
	json_object *a = member(root, "endpoints");
	char got[4096] = "";

	for (size_t i = 0; i < json_object_array_length(a); i++) {
		if (i)
			strcat(got, " ");
		strcat(got, str(json_object_array_get_idx(a, i), "id"));
	}
	assert_string_equal(got, want);
}

static void assert_counters(json_object *c, uint64_t bts, uint64_t btc, uint64_t packets,
			    uint64_t sessions)
{
	assert_int_equal(u64(c, "bytes_to_server"), bts);
	assert_int_equal(u64(c, "bytes_to_client"), btc);
	assert_int_equal(u64(c, "bytes"), bts + btc);
	assert_int_equal(u64(c, "packets"), packets);
	assert_int_equal(u64(c, "sessions"), sessions);
}

/* ------------------------------------------------------------------ */

/* Records of one conversation and port sum; ports become entries. */
static void test_merge_sums_records(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
	json_object *root, *c, *entries;
	(void)state;

	add(g, rec(WEB, EXT, 6, 443, true, 1000, 5000, 2, T0, T0 + 10 * NS, GRAPH_VERDICT_ALLOWED));
	add(g, rec(WEB, EXT, 6, 443, true, 300, 700, 1, T0 + 20 * NS, T0 + 30 * NS,
		   GRAPH_VERDICT_ALLOWED));
	add(g, rec(WEB, EXT, 17, 53, true, 100, 200, 4, T0 - 5 * NS, T0, GRAPH_VERDICT_UNKNOWN));
	assert_int_equal(graph__endpoints(g), 2);
	assert_int_equal(graph__conversations(g), 1);
	root = export_json(g);
	c = conv(root, "container:shop/web-1/web", "external:192.0.2.1");
	/* packets: 10+50, 3+7, 1+2 */
	assert_counters(c, 1400, 5900, 73, 7);
	assert_string_equal(str(c, "first_seen_at"), "2026-11-27T14:59:55.000000000Z");
	assert_string_equal(str(c, "last_seen_at"), "2026-11-27T15:00:30.000000000Z");
	assert_string_equal(json_object_to_json_string(member(c, "ports")),
			    "[ \"tcp\\/443\", \"udp\\/53\" ]");
	entries = member(c, "entries");
	assert_int_equal(json_object_array_length(entries), 2);
	assert_string_equal(str(json_object_array_get_idx(entries, 0), "port"), "tcp/443");
	assert_counters(json_object_array_get_idx(entries, 0), 1300, 5700, 70, 3);
	assert_string_equal(str(json_object_array_get_idx(entries, 1), "port"), "udp/53");
	assert_counters(json_object_array_get_idx(entries, 1), 100, 200, 3, 4);
	json_object_put(root);
	graph__free(g);
}

/* Both ends report: each counter is the larger side's sum; times span both
 * sides; the verdict is the worst of both. */
static void test_dedup_both_ends(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
	struct graph_record r;
	json_object *root, *c;
	(void)state;

	/* the client's sensor: two records, 600+400 to the server */
	r = rec(WEB, DB, 6, 5432, true, 600, 100, 2, T0 + 1 * NS, T0 + 5 * NS,
		GRAPH_VERDICT_ALLOWED);
	r.packets_to_server = 7;
	r.packets_to_client = 1;
	add(g, r);
	r = rec(WEB, DB, 6, 5432, true, 400, 100, 1, T0 + 6 * NS, T0 + 8 * NS,
		GRAPH_VERDICT_ALLOWED);
	r.packets_to_server = 3;
	r.packets_to_client = 1;
	add(g, r);
	/* the server's sensor: one record, saw less to the server and more
	 * back, one session more, earlier and later, and a violation */
	r = rec(WEB, DB, 6, 5432, false, 990, 250, 4, T0, T0 + 9 * NS, GRAPH_VERDICT_VIOLATION);
	r.packets_to_server = 9;
	r.packets_to_client = 5;
	add(g, r);
	assert_int_equal(graph__conversations(g), 1);
	root = export_json(g);
	c = conv(root, "container:shop/web-1/web", "container:shop/db-0/db");
	/* max(1000, 990), max(200, 250), packets max(10, 9) + max(2, 5),
	 * sessions max(3, 4) */
	assert_counters(c, 1000, 250, 15, 4);
	assert_string_equal(str(c, "policy_action"), "violate");
	assert_string_equal(str(c, "first_seen_at"), "2026-11-27T15:00:00.000000000Z");
	assert_string_equal(str(c, "last_seen_at"), "2026-11-27T15:00:09.000000000Z");
	json_object_put(root);
	graph__free(g);
}

/* Only one end's sensor reports (the other end is on a node without a
 * sensor, or its batch was lost): its values, exactly. */
static void test_dedup_one_end(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
	json_object *root;
	(void)state;

	add(g, rec(WEB, DB, 6, 5432, false, 990, 250, 4, T0, T0 + NS, GRAPH_VERDICT_ALLOWED));
	add(g, rec(API, DB, 6, 5432, true, 123, 456, 1, T0, T0 + NS, GRAPH_VERDICT_ALLOWED));
	root = export_json(g);
	assert_counters(conv(root, "container:shop/web-1/web", "container:shop/db-0/db"), 990, 250,
			11, 4);
	assert_counters(conv(root, "container:billing/api-1/api", "container:shop/db-0/db"), 123,
			456, 5, 1);
	json_object_put(root);
	graph__free(g);
}

/* A conversation's policy_action is the worst of its entries' (deny >
 * violate > allow > unknown), each entry the worst of its records'. */
static void test_worst_verdict(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
	json_object *root, *c, *e;
	(void)state;

	add(g, rec(WEB, EXT, 6, 80, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_UNKNOWN));
	add(g, rec(WEB, EXT, 6, 80, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	add(g, rec(WEB, EXT, 6, 443, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_VIOLATION));
	add(g, rec(WEB, EXT, 6, 443, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	add(g, rec(WEB, DB, 6, 22, true, 0, 0, 1, T0, T0, GRAPH_VERDICT_DENIED));
	add(g, rec(WEB, DB, 6, 5432, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_VIOLATION));
	add(g, rec(DB, EXT, 17, 53, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_UNKNOWN));
	root = export_json(g);
	c = conv(root, "container:shop/web-1/web", "external:192.0.2.1");
	assert_string_equal(str(c, "policy_action"), "violate");
	e = member(c, "entries");
	assert_string_equal(str(json_object_array_get_idx(e, 0), "policy_action"), "allow");
	assert_string_equal(str(json_object_array_get_idx(e, 1), "policy_action"), "violate");
	assert_string_equal(
	    str(conv(root, "container:shop/web-1/web", "container:shop/db-0/db"), "policy_action"),
	    "deny");
	assert_string_equal(
	    str(conv(root, "container:shop/db-0/db", "external:192.0.2.1"), "policy_action"),
	    "unknown");
	json_object_put(root);
	graph__free(g);
}

/* The client's sensor knew the server only by its address; the server's
 * sensor reported the same conversation: one edge, counted once. */
static void test_relabel_external_to_container(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
	struct graph_endpoint db_addr = {.kind = GRAPH_KIND_EXTERNAL, .ip = "10.1.0.3"};
	json_object *root;
	(void)state;

	add(g, rec(WEB, db_addr, 6, 5432, true, 1000, 200, 3, T0, T0 + NS, GRAPH_VERDICT_ALLOWED));
	add(g, rec(WEB, DB, 6, 5432, false, 990, 210, 3, T0, T0 + NS, GRAPH_VERDICT_ALLOWED));
	assert_int_equal(graph__endpoints(g), 2);
	assert_int_equal(graph__conversations(g), 1);
	root = export_json(g);
	assert_endpoint_ids(root, "container:shop/db-0/db container:shop/web-1/web");
	assert_counters(conv(root, "container:shop/web-1/web", "container:shop/db-0/db"), 1000, 210,
			12, 3);
	json_object_put(root);
	graph__free(g);
}

/* An address two containers had in turn is the one seen last, whatever the
 * order of the records; "::ffff:a.b.c.d" is the IPv4 address. */
static void test_relabel_reused_ip_latest_wins(void **state)
{
	struct graph_endpoint old = DB, newer = WEB2;
	struct graph_endpoint peer = {.kind = GRAPH_KIND_EXTERNAL, .ip = "::ffff:10.1.0.9"};
	json_object *root;
	(void)state;

	old.ip = "10.1.0.9";
	newer.ip = "10.1.0.9";
	for (int order = 0; order < 2; order++) {
		struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
		struct graph_record a =
		    rec(old, EXT, 6, 443, true, 1, 1, 1, T0, T0 + 100 * NS, GRAPH_VERDICT_ALLOWED);
		struct graph_record b = rec(newer, EXT, 6, 443, true, 1, 1, 1, T0 + 300 * NS,
					    T0 + 400 * NS, GRAPH_VERDICT_ALLOWED);

		add(g, order ? b : a);
		add(g, order ? a : b);
		add(g, rec(API, peer, 6, 8080, true, 50, 60, 1, T0 + 500 * NS, T0 + 500 * NS,
			   GRAPH_VERDICT_ALLOWED));
		root = export_json(g);
		assert_counters(
		    conv(root, "container:billing/api-1/api", "container:shop/web-2/web"), 50, 60,
		    0, 1);
		assert_int_equal(count(root, "conversations"), 3);
		json_object_put(root);
		graph__free(g);
	}
}

/* A pod's containers share its address: a bare address on a port is the
 * container that served that port (the app, not its sidecar, even if the
 * sidecar was seen later); on a port nobody served, the container seen
 * last. When the address went to another pod later, that pod. */
static void test_relabel_pod_listener(void **state)
{
	struct graph_endpoint web_addr = {.kind = GRAPH_KIND_EXTERNAL, .ip = "10.1.0.2"};
	struct graph_endpoint db_moved = DB;
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
	json_object *root;
	(void)state;

	add(g, rec(API, WEB, 6, 8080, false, 500, 600, 2, T0, T0 + 10 * NS, GRAPH_VERDICT_ALLOWED));
	add(g, rec(SIDECAR, EXT, 6, 443, true, 1, 1, 1, T0, T0 + 20 * NS, GRAPH_VERDICT_ALLOWED));
	add(g, rec(API, web_addr, 6, 8080, true, 510, 590, 2, T0, T0 + 10 * NS,
		   GRAPH_VERDICT_ALLOWED));
	add(g, rec(API, web_addr, 6, 9999, true, 7, 0, 1, T0, T0 + 10 * NS, GRAPH_VERDICT_DENIED));
	root = export_json(g);
	assert_int_equal(count(root, "conversations"), 3);
	assert_counters(conv(root, "container:billing/api-1/api", "container:shop/web-1/web"), 510,
			600, 11, 2);
	assert_counters(conv(root, "container:billing/api-1/api", "container:shop/web-1/proxy"), 7,
			0, 0, 1);
	json_object_put(root);

	db_moved.ip = "10.1.0.2";
	add(g, rec(db_moved, EXT, 6, 443, true, 1, 1, 1, T0 + 100 * NS, T0 + 100 * NS,
		   GRAPH_VERDICT_ALLOWED));
	root = export_json(g);
	assert_counters(conv(root, "container:billing/api-1/api", "container:shop/web-1/web"), 500,
			600, 11, 2);
	assert_counters(conv(root, "container:billing/api-1/api", "container:shop/db-0/db"), 517,
			590, 5 + 5, 3);
	json_object_put(root);
	graph__free(g);
}

/* --namespace: conversations with an end in the namespace, both ends
 * listed; the export says which namespace. */
static void test_filter_namespace(void **state)
{
	struct graph_options o = {.namespace = "billing", .generated_at_ns = T0};
	struct graph *g = graph__new(&o, NULL);
	json_object *root;
	(void)state;

	assert_non_null(g);
	add(g, rec(API, DB, 6, 5432, true, 10, 20, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	add(g, rec(WEB, API, 6, 8080, true, 30, 40, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	add(g, rec(WEB, DB, 6, 5432, true, 50, 60, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	add(g, rec(WEB, EXT, 6, 443, true, 50, 60, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	root = export_json(g);
	assert_string_equal(str(root, "namespace"), "billing");
	assert_int_equal(count(root, "conversations"), 2);
	conv(root, "container:billing/api-1/api", "container:shop/db-0/db");
	conv(root, "container:shop/web-1/web", "container:billing/api-1/api");
	assert_endpoint_ids(root, "container:billing/api-1/api container:shop/db-0/db "
				  "container:shop/web-1/web");
	json_object_put(root);
	graph__free(g);
}

/* --since: records last seen before it are left out; at it, kept. */
static void test_filter_since(void **state)
{
	struct graph_options o = {.since_ns = T0 + 60 * NS, .generated_at_ns = T0 + 120 * NS};
	struct graph *g = graph__new(&o, NULL);
	json_object *root;
	(void)state;

	assert_non_null(g);
	add(g, rec(WEB, EXT, 6, 443, true, 1000, 1000, 5, T0, T0 + 59 * NS, GRAPH_VERDICT_DENIED));
	add(g, rec(WEB, EXT, 6, 443, true, 100, 200, 1, T0 + 60 * NS, T0 + 60 * NS,
		   GRAPH_VERDICT_ALLOWED));
	add(g, rec(DB, EXT, 6, 443, true, 100, 200, 1, T0, T0 + 10 * NS, GRAPH_VERDICT_ALLOWED));
	root = export_json(g);
	assert_string_equal(str(root, "since"), "2026-11-27T15:01:00.000000000Z");
	assert_string_equal(str(root, "generated_at"), "2026-11-27T15:02:00.000000000Z");
	assert_int_equal(count(root, "conversations"), 1);
	assert_counters(conv(root, "container:shop/web-1/web", "external:192.0.2.1"), 100, 200, 3,
			1);
	assert_string_equal(
	    str(conv(root, "container:shop/web-1/web", "external:192.0.2.1"), "policy_action"),
	    "allow");
	assert_endpoint_ids(root, "container:shop/web-1/web external:192.0.2.1");
	json_object_put(root);
	graph__free(g);
}

/* The records every collapse test shares: two pods of nv.web.shop (web-1
 * with a sidecar) talk to db-0; billing's api talks to db-0 and web-1 to
 * an external address and to its node. */
static void add_cluster(struct graph *g)
{
	add(g, rec(WEB, DB, 6, 5432, true, 100, 10, 1, T0, T0 + NS, GRAPH_VERDICT_ALLOWED));
	add(g, rec(WEB, DB, 6, 5432, false, 90, 20, 2, T0, T0 + NS, GRAPH_VERDICT_ALLOWED));
	add(g,
	    rec(SIDECAR, DB, 6, 5432, true, 1000, 100, 1, T0, T0 + 2 * NS, GRAPH_VERDICT_ALLOWED));
	add(g, rec(WEB2, DB, 6, 5433, true, 5, 5, 1, T0, T0 + 3 * NS, GRAPH_VERDICT_VIOLATION));
	add(g, rec(API, DB, 6, 5432, true, 7, 7, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	add(g, rec(WEB, EXT, 6, 443, true, 11, 22, 1, T0, T0, GRAPH_VERDICT_DENIED));
	add(g, rec(WEB2, NODE_A, 6, 10250, true, 3, 4, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
}

static void test_collapse_none(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
	json_object *root, *e;
	(void)state;

	add_cluster(g);
	root = export_json(g);
	assert_string_equal(str(root, "collapse"), "none");
	assert_endpoint_ids(root, "container:billing/api-1/api container:shop/db-0/db "
				  "container:shop/web-1/proxy container:shop/web-1/web "
				  "container:shop/web-2/web external:192.0.2.1 node:node-a");
	assert_int_equal(count(root, "conversations"), 6);
	e = endpoint(root, "container:shop/web-1/web");
	assert_string_equal(str(e, "kind"), "container");
	assert_string_equal(str(e, "display_name"), "web-1/web");
	assert_string_equal(str(e, "domain"), "shop");
	assert_string_equal(str(e, "service"), "nv.web.shop");
	assert_string_equal(str(e, "pod"), "web-1");
	assert_string_equal(str(e, "node"), "node-a");
	assert_string_equal(json_object_to_json_string(member(e, "ips")), "[ \"10.1.0.2\" ]");
	e = endpoint(root, "node:node-a");
	assert_string_equal(str(e, "kind"), "node");
	assert_string_equal(str(e, "display_name"), "node-a");
	assert_string_equal(str(e, "node"), "node-a");
	assert_false(has(e, "domain"));
	assert_false(has(e, "pod"));
	e = endpoint(root, "external:192.0.2.1");
	assert_string_equal(str(e, "kind"), "external");
	assert_false(has(e, "node"));
	assert_string_equal(json_object_to_json_string(member(e, "ips")), "[ \"192.0.2.1\" ]");
	json_object_put(root);
	graph__free(g);
}

static void test_collapse_pod(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_POD);
	json_object *root, *e, *c;
	(void)state;

	add_cluster(g);
	root = export_json(g);
	assert_string_equal(str(root, "collapse"), "pod");
	assert_endpoint_ids(root, "external:192.0.2.1 node:node-a pod:billing/api-1 "
				  "pod:shop/db-0 pod:shop/web-1 pod:shop/web-2");
	e = endpoint(root, "pod:shop/web-1");
	assert_string_equal(str(e, "kind"), "pod");
	assert_string_equal(str(e, "display_name"), "web-1");
	assert_string_equal(str(e, "domain"), "shop");
	assert_string_equal(str(e, "pod"), "web-1");
	assert_string_equal(str(e, "node"), "node-a");
	/* web (de-duplicated: 100/20, 2 sessions) + proxy (1000/100, 1) */
	c = conv(root, "pod:shop/web-1", "pod:shop/db-0");
	assert_counters(c, 1100, 120, 12, 3);
	assert_int_equal(count(root, "conversations"), 5);
	json_object_put(root);
	graph__free(g);
}

static void test_collapse_group(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_GROUP);
	json_object *root, *c, *entries;
	(void)state;

	add_cluster(g);
	root = export_json(g);
	assert_endpoint_ids(root, "external:192.0.2.1 group:nv.api.billing group:nv.db.shop "
				  "group:nv.web.shop node:node-a");
	assert_string_equal(str(endpoint(root, "group:nv.web.shop"), "kind"), "group");
	assert_string_equal(str(endpoint(root, "group:nv.web.shop"), "service"), "nv.web.shop");
	assert_string_equal(str(endpoint(root, "group:nv.web.shop"), "domain"), "shop");
	assert_false(has(endpoint(root, "group:nv.web.shop"), "ips"));
	/* web-1/web + web-1/proxy on 5432, web-2 on 5433 (a violation) */
	c = conv(root, "group:nv.web.shop", "group:nv.db.shop");
	assert_counters(c, 1105, 125, 12, 4);
	assert_string_equal(str(c, "policy_action"), "violate");
	entries = member(c, "entries");
	assert_int_equal(json_object_array_length(entries), 2);
	assert_counters(json_object_array_get_idx(entries, 0), 1100, 120, 12, 3);
	assert_string_equal(str(json_object_array_get_idx(entries, 0), "policy_action"), "allow");
	assert_counters(json_object_array_get_idx(entries, 1), 5, 5, 0, 1);
	assert_string_equal(str(c, "first_seen_at"), "2026-11-27T15:00:00.000000000Z");
	assert_string_equal(str(c, "last_seen_at"), "2026-11-27T15:00:03.000000000Z");
	conv(root, "group:nv.web.shop", "node:node-a");
	conv(root, "group:nv.web.shop", "external:192.0.2.1");
	assert_int_equal(count(root, "conversations"), 4);
	json_object_put(root);
	graph__free(g);
}

/* Namespaces: traffic inside one is a loop on it; nodes and external
 * addresses stay themselves. */
static void test_collapse_namespace(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NAMESPACE);
	json_object *root, *e;
	(void)state;

	add_cluster(g);
	root = export_json(g);
	assert_endpoint_ids(root, "external:192.0.2.1 namespace:billing namespace:shop "
				  "node:node-a");
	e = endpoint(root, "namespace:shop");
	assert_string_equal(str(e, "kind"), "namespace");
	assert_string_equal(str(e, "display_name"), "shop");
	assert_string_equal(str(e, "domain"), "shop");
	assert_false(has(e, "service"));
	assert_false(has(e, "node"));
	assert_counters(conv(root, "namespace:shop", "namespace:shop"), 1105, 125, 12, 4);
	assert_counters(conv(root, "namespace:billing", "namespace:shop"), 7, 7, 0, 1);
	assert_string_equal(
	    str(conv(root, "namespace:shop", "external:192.0.2.1"), "policy_action"), "deny");
	conv(root, "namespace:shop", "node:node-a");
	assert_int_equal(count(root, "conversations"), 4);
	json_object_put(root);
	graph__free(g);
}

/* A container without the name a collapse needs (no group, no pod) stays
 * a container vertex, named by its id. */
static void test_collapse_missing_names(void **state)
{
	struct graph_endpoint bare = {
		.kind = GRAPH_KIND_CONTAINER, .ip = "10.9.0.1", .container_id = "0123456789abcdef0123"};
	struct graph *g = new_graph(GRAPH_COLLAPSE_GROUP);
	json_object *root, *e;
	(void)state;

	add(g, rec(bare, WEB, 6, 80, true, 1, 2, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	root = export_json(g);
	assert_endpoint_ids(root, "container:0123456789abcdef0123 group:nv.web.shop");
	e = endpoint(root, "container:0123456789abcdef0123");
	assert_string_equal(str(e, "display_name"), "0123456789ab");
	assert_false(has(e, "domain"));
	json_object_put(root);
	graph__free(g);
}

/* External addresses in a CIDR become one vertex named by the CIDR (the
 * most specific one), IPv4 and IPv6; host bits in the option are cleared;
 * a container's address is the container, CIDR or not. */
static void test_cidr_collapse(void **state)
{
	const char *cidrs[] = {"10.0.0.0/8", "10.1.2.3/16", "2001:DB8::/32", "0.0.0.0/0"};
	struct graph_options o = {
		.external_cidrs = cidrs, .n_external_cidrs = 3, .generated_at_ns = T0};
	struct graph_endpoint x[] = {
	    {.kind = GRAPH_KIND_EXTERNAL, .ip = "10.200.0.1"},
	    {.kind = GRAPH_KIND_EXTERNAL, .ip = "10.200.0.2"},
	    {.kind = GRAPH_KIND_EXTERNAL, .ip = "10.1.7.7"},
	    {.kind = GRAPH_KIND_EXTERNAL, .ip = "2001:db8:1::1"},
	    {.kind = GRAPH_KIND_EXTERNAL, .ip = "2001:0db8:ffff::2"},
	    {.kind = GRAPH_KIND_EXTERNAL, .ip = "2001:db9::1"},
	    {.kind = GRAPH_KIND_EXTERNAL, .ip = "192.0.2.1"},
	    {.kind = GRAPH_KIND_EXTERNAL, .ip = "10.1.0.3"}, /* db-0 */
	};
	struct graph *g;
	json_object *root;
	int err = 1;
	(void)state;

	g = graph__new(&o, &err);
	assert_non_null(g);
	assert_int_equal(err, 0);
	add(g, rec(DB, WEB, 6, 80, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
		add(g, rec(WEB, x[i], 6, 443, true, 100 * (i + 1), 0, 1, T0, T0,
			   GRAPH_VERDICT_ALLOWED));
	root = export_json(g);
	assert_endpoint_ids(root, "container:shop/db-0/db container:shop/web-1/web "
				  "external:10.0.0.0/8 external:10.1.0.0/16 external:192.0.2.1 "
				  "external:2001:db8::/32 external:2001:db9::1");
	assert_int_equal(
	    u64(conv(root, "container:shop/web-1/web", "external:10.0.0.0/8"), "bytes"), 100 + 200);
	assert_int_equal(
	    u64(conv(root, "container:shop/web-1/web", "external:10.1.0.0/16"), "bytes"), 300);
	assert_int_equal(
	    u64(conv(root, "container:shop/web-1/web", "external:2001:db8::/32"), "bytes"),
	    400 + 500);
	assert_int_equal(
	    u64(conv(root, "container:shop/web-1/web", "container:shop/db-0/db"), "bytes"), 800);
	assert_string_equal(str(endpoint(root, "external:2001:db8::/32"), "display_name"),
			    "2001:db8::/32");
	assert_false(has(endpoint(root, "external:2001:db8::/32"), "ips"));
	json_object_put(root);
	graph__free(g);

	/* 0.0.0.0/0 takes every IPv4 address, no IPv6 one */
	o.external_cidrs = cidrs + 3;
	o.n_external_cidrs = 1;
	g = graph__new(&o, NULL);
	assert_non_null(g);
	add(g, rec(WEB, x[6], 6, 443, true, 1, 0, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	add(g, rec(WEB, x[3], 6, 443, true, 1, 0, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	root = export_json(g);
	assert_endpoint_ids(root, "container:shop/web-1/web external:0.0.0.0/0 "
				  "external:2001:db8:1::1");
	json_object_put(root);
	graph__free(g);
}

static void test_parse(void **state)
{
	enum graph_format f = GRAPH_FORMAT_GRAPHML;
	enum graph_collapse c = GRAPH_COLLAPSE_NAMESPACE;
	(void)state;

	assert_int_equal(graph_format_parse("json", &f), 0);
	assert_int_equal(f, GRAPH_FORMAT_JSON);
	assert_int_equal(graph_format_parse("dot", &f), 0);
	assert_int_equal(f, GRAPH_FORMAT_DOT);
	assert_int_equal(graph_format_parse("graphml", &f), 0);
	assert_int_equal(f, GRAPH_FORMAT_GRAPHML);
	f = GRAPH_FORMAT_DOT;
	assert_int_equal(graph_format_parse("svg", &f), -EINVAL);
	assert_int_equal(graph_format_parse("JSON", &f), -EINVAL);
	assert_int_equal(graph_format_parse("", &f), -EINVAL);
	assert_int_equal(graph_format_parse(NULL, &f), -EINVAL);
	assert_int_equal(f, GRAPH_FORMAT_DOT); /* untouched on error */

	assert_int_equal(graph_collapse_parse("none", &c), 0);
	assert_int_equal(c, GRAPH_COLLAPSE_NONE);
	assert_int_equal(graph_collapse_parse("pod", &c), 0);
	assert_int_equal(c, GRAPH_COLLAPSE_POD);
	assert_int_equal(graph_collapse_parse("group", &c), 0);
	assert_int_equal(c, GRAPH_COLLAPSE_GROUP);
	assert_int_equal(graph_collapse_parse("namespace", &c), 0);
	assert_int_equal(c, GRAPH_COLLAPSE_NAMESPACE);
	assert_int_equal(graph_collapse_parse("node", &c), -EINVAL);
	assert_int_equal(graph_collapse_parse("namespaces", &c), -EINVAL);
	assert_int_equal(graph_collapse_parse(NULL, &c), -EINVAL);
	assert_int_equal(c, GRAPH_COLLAPSE_NAMESPACE);
}

static void test_bad_cidr(void **state)
{
	static const char *const bad[] = {
	    "10.0.0.0",	   "10.0.0.0/33",   "2001:db8::/129", "10.0.0.0/x",
	    "/8",	   "300.0.0.0/8",   "10.0.0.0/8/9",   "10.0.0.0/",
	    "10.0.0.0/-1", "10.0.0.0/0008", "example.com/8",  "",
	    " 10.0.0.0/8",
	};
	static const char *const good[] = {"10.0.0.0/8",    "0.0.0.0/0",    "::/0",
					   "2001:db8::/32", "192.0.2.7/32", "10.1.2.3/8"};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *cidrs[] = {"10.0.0.0/8", bad[i]};
		struct graph_options o = {.external_cidrs = cidrs, .n_external_cidrs = 2};
		int err = 0;

		assert_int_equal(graph_cidr_check(bad[i]), -EINVAL);
		assert_null(graph__new(&o, &err));
		assert_int_equal(err, -EINVAL);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(graph_cidr_check(good[i]), 0);
	assert_int_equal(graph_cidr_check(NULL), -EINVAL);
}

/* A record that names an end by nothing usable is refused whole: the
 * graph does not change. */
static void test_bad_record(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
	struct graph_endpoint unknown = {.kind = GRAPH_KIND_UNKNOWN, .ip = "192.0.2.1"};
	struct graph_endpoint no_ip = {.kind = GRAPH_KIND_EXTERNAL};
	struct graph_endpoint bad_ip = {.kind = GRAPH_KIND_EXTERNAL, .ip = "192.0.2.300"};
	struct graph_endpoint nameless = {
		.kind = GRAPH_KIND_CONTAINER, .ip = "10.0.0.1", .namespace = "shop"};
	struct graph_endpoint node = {.kind = GRAPH_KIND_NODE};
	struct graph_endpoint bad_kind = {.kind = (enum graph_kind)7, .ip = "192.0.2.1"};
	struct graph_record r;
	(void)state;

	r = rec(WEB, unknown, 6, 1, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED);
	assert_int_equal(graph__add(g, &r), -EINVAL);
	r = rec(WEB, no_ip, 6, 1, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED);
	assert_int_equal(graph__add(g, &r), -EINVAL);
	r = rec(bad_ip, WEB, 6, 1, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED);
	assert_int_equal(graph__add(g, &r), -EINVAL);
	r = rec(nameless, WEB, 6, 1, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED);
	assert_int_equal(graph__add(g, &r), -EINVAL);
	r = rec(WEB, node, 6, 1, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED);
	assert_int_equal(graph__add(g, &r), -EINVAL);
	r = rec(bad_kind, WEB, 6, 1, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED);
	assert_int_equal(graph__add(g, &r), -EINVAL);
	r = rec(WEB, EXT, 6, 1, true, 1, 1, 1, T0, T0, (enum graph_verdict)4);
	assert_int_equal(graph__add(g, &r), -EINVAL);
	assert_int_equal(graph__add(g, NULL), -EINVAL);
	assert_int_equal(graph__conversations(g), 0);
	assert_int_equal(graph__endpoints(g), 0);
	assert_int_equal(graph__write(g, (enum graph_format)3, stdout), -EINVAL);
	assert_int_equal(graph__write(g, GRAPH_FORMAT_JSON, NULL), -EINVAL);
	graph__free(g);
	graph__free(NULL);
}

/* A full disk shows as the stream's error. */
static void test_write_error(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
	FILE *full = fopen("/dev/full", "w");
	(void)state;

	assert_non_null(full);
	add(g, rec(WEB, EXT, 6, 443, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	for (int fmt = GRAPH_FORMAT_JSON; fmt <= GRAPH_FORMAT_GRAPHML; fmt++) {
		assert_int_equal(graph__write(g, (enum graph_format)fmt, full), -ENOSPC);
		clearerr(full);
	}
	fclose(full);
	graph__free(g);
}

/* A record added after an export is in the next one. */
static void test_add_after_write(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
	json_object *root;
	(void)state;

	add(g, rec(WEB, EXT, 6, 443, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	assert_int_equal(graph__conversations(g), 1);
	add(g, rec(WEB, EXT, 6, 443, true, 10, 10, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	add(g, rec(DB, EXT, 6, 443, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	assert_int_equal(graph__conversations(g), 2);
	assert_int_equal(graph__endpoints(g), 3);
	root = export_json(g);
	assert_int_equal(u64(conv(root, "container:shop/web-1/web", "external:192.0.2.1"), "bytes"),
			 22);
	json_object_put(root);
	graph__free(g);
}

/* The small graph every writer test exports. */
static struct graph *small_graph(void)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);

	add(g, rec(WEB, DB, 6, 5432, true, 1000, 200, 3, T0, T0 + 10 * NS, GRAPH_VERDICT_ALLOWED));
	add(g, rec(WEB, DB, 6, 5432, false, 990, 210, 3, T0 + NS, T0 + 11 * NS,
		   GRAPH_VERDICT_ALLOWED));
	add(g,
	    rec(WEB, EXT, 6, 443, true, 0, 0, 1, T0 + 5 * NS, T0 + 5 * NS, GRAPH_VERDICT_DENIED));
	add(g, rec(DB, EXT, 17, 53, true, 1500, 1500, 2, T0 + 5 * NS, T0 + 5 * NS,
		   GRAPH_VERDICT_VIOLATION));
	return g;
}

static void test_json_exact(void **state)
{
	struct graph *g = small_graph();
	char *got = export(g, GRAPH_FORMAT_JSON);
	(void)state;

	assert_string_equal(
	    got,
	    "{\"generated_at\":\"2026-11-27T15:00:00.000000000Z\",\"since\":null,"
	    "\"namespace\":null,\"collapse\":\"none\",\n"
	    "\"endpoints\":[\n"
	    "{\"id\":\"container:shop/db-0/db\",\"kind\":\"container\",\"display_name\":"
	    "\"db-0/db\",\"domain\":\"shop\",\"service\":\"nv.db.shop\",\"pod\":\"db-0\","
	    "\"node\":\"node-b\",\"ips\":[\"10.1.0.3\"]},\n"
	    "{\"id\":\"container:shop/web-1/web\",\"kind\":\"container\",\"display_name\":"
	    "\"web-1/web\",\"domain\":\"shop\",\"service\":\"nv.web.shop\",\"pod\":\"web-1\","
	    "\"node\":\"node-a\",\"ips\":[\"10.1.0.2\"]},\n"
	    "{\"id\":\"external:192.0.2.1\",\"kind\":\"external\",\"display_name\":"
	    "\"192.0.2.1\",\"ips\":[\"192.0.2.1\"]}],\n"
	    "\"conversations\":[\n"
	    "{\"from\":\"container:shop/db-0/db\",\"to\":\"external:192.0.2.1\",\"bytes\":3000,"
	    "\"bytes_to_server\":1500,\"bytes_to_client\":1500,\"packets\":30,\"sessions\":2,"
	    "\"ports\":[\"udp/53\"],\"policy_action\":\"violate\","
	    "\"first_seen_at\":\"2026-11-27T15:00:05.000000000Z\","
	    "\"last_seen_at\":\"2026-11-27T15:00:05.000000000Z\",\"entries\":["
	    "{\"port\":\"udp/53\",\"bytes\":3000,\"bytes_to_server\":1500,"
	    "\"bytes_to_client\":1500,\"packets\":30,\"sessions\":2,"
	    "\"policy_action\":\"violate\",\"first_seen_at\":\"2026-11-27T15:00:05.000000000Z\","
	    "\"last_seen_at\":\"2026-11-27T15:00:05.000000000Z\"}]},\n"
	    "{\"from\":\"container:shop/web-1/web\",\"to\":\"container:shop/db-0/db\","
	    "\"bytes\":1210,\"bytes_to_server\":1000,\"bytes_to_client\":210,\"packets\":12,"
	    "\"sessions\":3,\"ports\":[\"tcp/5432\"],\"policy_action\":\"allow\","
	    "\"first_seen_at\":\"2026-11-27T15:00:00.000000000Z\","
	    "\"last_seen_at\":\"2026-11-27T15:00:11.000000000Z\",\"entries\":["
	    "{\"port\":\"tcp/5432\",\"bytes\":1210,\"bytes_to_server\":1000,"
	    "\"bytes_to_client\":210,\"packets\":12,\"sessions\":3,\"policy_action\":\"allow\","
	    "\"first_seen_at\":\"2026-11-27T15:00:00.000000000Z\","
	    "\"last_seen_at\":\"2026-11-27T15:00:11.000000000Z\"}]},\n"
	    "{\"from\":\"container:shop/web-1/web\",\"to\":\"external:192.0.2.1\",\"bytes\":0,"
	    "\"bytes_to_server\":0,\"bytes_to_client\":0,\"packets\":0,\"sessions\":1,"
	    "\"ports\":[\"tcp/443\"],\"policy_action\":\"deny\","
	    "\"first_seen_at\":\"2026-11-27T15:00:05.000000000Z\","
	    "\"last_seen_at\":\"2026-11-27T15:00:05.000000000Z\",\"entries\":["
	    "{\"port\":\"tcp/443\",\"bytes\":0,\"bytes_to_server\":0,\"bytes_to_client\":0,"
	    "\"packets\":0,\"sessions\":1,\"policy_action\":\"deny\","
	    "\"first_seen_at\":\"2026-11-27T15:00:05.000000000Z\","
	    "\"last_seen_at\":\"2026-11-27T15:00:05.000000000Z\"}]}]}\n");
	free(got);
	graph__free(g);
}

/* Names with quotes, backslashes, control characters, markup and non-UTF-8
 * bytes: the JSON parses back to the same strings (invalid bytes as
 * \u00XX, see jsonw.h). */
static const struct graph_endpoint ODD = {
	.kind = GRAPH_KIND_CONTAINER,
	.ip = "10.3.0.1",
	.node = "n<1>&'x'",
	.container = "c\"q\\b",
	.pod = "p\tx\n<b>&amp;",
	.namespace = "we\"ird\\ns",
	.group = "nv.\xc3\xa9t\xe9.x",
};

static void test_json_escaping(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
	json_object *root, *e;
	(void)state;

	add(g, rec(ODD, EXT, 6, 1, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	root = export_json(g);
	e = endpoint(root, "container:we\"ird\\ns/p\tx\n<b>&amp;/c\"q\\b");
	assert_string_equal(str(e, "display_name"), "p\tx\n<b>&amp;/c\"q\\b");
	assert_string_equal(str(e, "domain"), "we\"ird\\ns");
	assert_string_equal(str(e, "node"), "n<1>&'x'");
	assert_string_equal(str(e, "service"), "nv.\xc3\xa9t\xc3\xa9.x");
	json_object_put(root);
	graph__free(g);
}

/* ------------------------------------------------------------------ */
/* Graphviz and xmllint */

static char *tmp_write(const char *text, const char *suffix)
{
	char *path;
	int fd;
	FILE *f;

	assert_true(asprintf(&path, "/tmp/wacht-test-graph-XXXXXX%s", suffix) > 0);
	fd = mkstemps(path, (int)strlen(suffix));
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Runs cmd in sh; its exit status, its stdout+stderr in *out (freed by the
 * caller). 127: not installed (the test fails then). */
static int run(const char *cmd, char **out)
{
	char *buf = NULL, *full;
	size_t len = 0, n;
	char chunk[4096];
	FILE *p, *m = open_memstream(&buf, &len);
	int st;

	assert_non_null(m);
	assert_true(asprintf(&full, "%s 2>&1", cmd) > 0);
	p = popen(full, "r");
	assert_non_null(p);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		fwrite(chunk, 1, n, m);
	st = pclose(p);
	fclose(m);
	free(full);
	*out = buf;
	if (!WIFEXITED(st))
		fail_msg("%s: did not exit (status %d)", cmd, st);
	if (WEXITSTATUS(st) == 127)
		fail_msg("%s: command not found: install graphviz and libxml2-utils "
			 "(scripts/install-deps.sh)\n%s",
			 cmd, buf);
	return WEXITSTATUS(st);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" not in:\n%s", needle, hay);
}

/* The DOT as written: clusters per namespace, shapes, edge labels, the
 * denied edge red and dashed; then dot reads it (canon and svg). */
static void test_dot_graphviz(void **state)
{
	struct graph *g = small_graph();
	char *dot = export(g, GRAPH_FORMAT_DOT), *path, *cmd, *out;
	(void)state;

	assert_contains(dot, "digraph wacht {\n");
	assert_contains(dot, "\tsubgraph \"cluster_shop\" {\n\t\tlabel=\"namespace shop\";\n");
	assert_contains(dot, "\t\t\"container:shop/web-1/web\" [label=\"web-1/web\", shape=box, "
			     "tooltip=\"container:shop/web-1/web\"];\n");
	assert_contains(dot, "\t\"external:192.0.2.1\" [label=\"192.0.2.1\", shape=ellipse, "
			     "tooltip=\"external:192.0.2.1\"];\n");
	assert_contains(dot, "\t\"container:shop/web-1/web\" -> \"container:shop/db-0/db\" "
			     "[label=\"tcp/5432\\n1.2 KiB, 3 sessions\"];\n");
	assert_contains(dot, "\t\"container:shop/web-1/web\" -> \"external:192.0.2.1\" "
			     "[label=\"denied\\ntcp/443\\n0 B, 1 session\", color=red, "
			     "fontcolor=red, style=dashed];\n");
	assert_contains(dot, "\t\"container:shop/db-0/db\" -> \"external:192.0.2.1\" "
			     "[label=\"violation\\nudp/53\\n2.9 KiB, 2 sessions\", color=red, "
			     "fontcolor=red];\n");
	path = tmp_write(dot, ".dot");
	assert_true(asprintf(&cmd, "dot -Tcanon '%s'", path) > 0);
	assert_int_equal(run(cmd, &out), 0);
	/* dot's canonical form lists every node and edge it read */
	assert_contains(out, "\"container:shop/web-1/web\"");
	assert_contains(out, "\"container:shop/db-0/db\"");
	assert_contains(out, "\"external:192.0.2.1\"");
	assert_contains(out, "\"container:shop/web-1/web\" -> \"container:shop/db-0/db\"");
	assert_contains(out, "\"container:shop/web-1/web\" -> \"external:192.0.2.1\"");
	assert_contains(out, "\"container:shop/db-0/db\" -> \"external:192.0.2.1\"");
	assert_contains(out, "subgraph cluster_shop");
	free(out);
	free(cmd);
	assert_true(asprintf(&cmd, "dot -Tsvg '%s'", path) > 0);
	assert_int_equal(run(cmd, &out), 0);
	assert_contains(out, "<title>container:shop/web&#45;1/web&#45;&gt;external:192.0.2.1"
			     "</title>");
	assert_contains(out, ">denied</text>");
	free(out);
	free(cmd);
	unlink(path);
	free(path);
	free(dot);
	graph__free(g);
}

static void dot_read(const char *dot)
{
	char *path = tmp_write(dot, ".dot"), *cmd, *out;

	assert_true(asprintf(&cmd, "dot -Tsvg '%s' -o /dev/null", path) > 0);
	assert_int_equal(run(cmd, &out), 0);
	assert_string_equal(out, ""); /* no warning either */
	free(out);
	free(cmd);
	unlink(path);
	free(path);
}

/* One box per namespace holding its vertices, nodes and addresses outside;
 * a namespace vertex (collapse namespace) is a folder, in no box. */
static void test_dot_clusters(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_POD);
	char *dot;
	(void)state;

	add_cluster(g);
	dot = export(g, GRAPH_FORMAT_DOT);
	assert_contains(dot, "\t\"external:192.0.2.1\" [label=\"192.0.2.1\", shape=ellipse, "
			     "tooltip=\"external:192.0.2.1\"];\n"
			     "\t\"node:node-a\" [label=\"node-a\", shape=box3d, "
			     "tooltip=\"node:node-a\"];\n"
			     "\tsubgraph \"cluster_billing\" {\n"
			     "\t\tlabel=\"namespace billing\";\n"
			     "\t\tstyle=rounded;\n"
			     "\t\t\"pod:billing/api-1\" [label=\"api-1\", shape=component, "
			     "tooltip=\"pod:billing/api-1\"];\n"
			     "\t}\n"
			     "\tsubgraph \"cluster_shop\" {\n"
			     "\t\tlabel=\"namespace shop\";\n"
			     "\t\tstyle=rounded;\n"
			     "\t\t\"pod:shop/db-0\" [label=\"db-0\", shape=component, "
			     "tooltip=\"pod:shop/db-0\"];\n"
			     "\t\t\"pod:shop/web-1\" [label=\"web-1\", shape=component, "
			     "tooltip=\"pod:shop/web-1\"];\n"
			     "\t\t\"pod:shop/web-2\" [label=\"web-2\", shape=component, "
			     "tooltip=\"pod:shop/web-2\"];\n"
			     "\t}\n");
	assert_contains(dot, "\t\"pod:shop/web-2\" -> \"pod:shop/db-0\" [label=\"violation\\n"
			     "tcp/5433\\n10 B, 1 session\", color=red, fontcolor=red];\n");
	dot_read(dot);
	free(dot);
	graph__free(g);

	g = new_graph(GRAPH_COLLAPSE_NAMESPACE);
	add_cluster(g);
	dot = export(g, GRAPH_FORMAT_DOT);
	assert_null(strstr(dot, "subgraph"));
	assert_contains(dot, "\t\"namespace:shop\" [label=\"shop\", shape=folder, "
			     "tooltip=\"namespace:shop\"];\n");
	assert_contains(dot, "\t\"namespace:shop\" -> \"namespace:shop\" [label=\"violation\\n"
			     "tcp/5432, tcp/5433\\n1.2 KiB, 4 sessions\", color=red, "
			     "fontcolor=red];\n");
	dot_read(dot);
	free(dot);
	graph__free(g);
}

/* Quotes, backslashes, newlines and invalid UTF-8 in names: dot still
 * reads the file, with no warning, and the label is the name. */
static void test_dot_escaping(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
	char *dot, *path, *cmd, *out;
	(void)state;

	add(g, rec(ODD, EXT, 6, 1, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	dot = export(g, GRAPH_FORMAT_DOT);
	assert_contains(dot,
			"\t\t\"container:we\\\"ird\\\\ns/p\\\\x09x\\\\x0a<b>&amp;/c\\\"q\\\\b\" "
			"[label=\"p\\\\x09x\\\\x0a<b>&amp;/c\\\"q\\\\b\", shape=box");
	assert_contains(dot, "\tsubgraph \"cluster_we\\\"ird\\\\ns\" {\n");
	path = tmp_write(dot, ".dot");
	assert_true(asprintf(&cmd, "dot -Tsvg '%s' -o /dev/null", path) > 0);
	assert_int_equal(run(cmd, &out), 0);
	assert_string_equal(out, ""); /* no warning either */
	free(out);
	free(cmd);
	unlink(path);
	free(path);
	free(dot);
	graph__free(g);
}

static const char *schema_path(void)
{
	/* tests/unit/graphml/graphml.xsd, beside this file: tests run from
	 * the top directory (tests/run, make) */
	static char path[512];
	const char *slash = strrchr(__FILE__, '/');

	snprintf(path, sizeof(path), "%.*s/graphml/graphml.xsd",
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	if (access(path, R_OK))
		fail_msg("%s: not found: run the test from the top of the repository", path);
	return path;
}

static int xmllint_validate(const char *xml, char **out)
{
	char *path = tmp_write(xml, ".graphml"), *cmd;
	int rc;

	assert_true(asprintf(&cmd, "xmllint --noout --schema '%s' '%s'", schema_path(), path) > 0);
	rc = run(cmd, out);
	unlink(path);
	free(path);
	free(cmd);
	return rc;
}

/* The GraphML validates against the schema; the same document with a
 * data element whose key is not declared does not (the check has teeth);
 * the attributes read back are the values. */
static void test_graphml_schema(void **state)
{
	struct graph *g = small_graph();
	char *xml = export(g, GRAPH_FORMAT_GRAPHML), *out, *bad, *p;
	(void)state;

	assert_int_equal(xmllint_validate(xml, &out), 0);
	assert_contains(out, "validates");
	free(out);
	assert_contains(xml, "<graph id=\"wacht\" edgedefault=\"directed\">\n");
	assert_contains(xml, "    <node id=\"n1\">\n"
			     "      <data key=\"endpoint_id\">container:shop/web-1/web</data>\n"
			     "      <data key=\"label\">web-1/web</data>\n"
			     "      <data key=\"kind\">container</data>\n"
			     "      <data key=\"namespace\">shop</data>\n"
			     "      <data key=\"group\">nv.web.shop</data>\n"
			     "      <data key=\"pod\">web-1</data>\n"
			     "      <data key=\"node\">node-a</data>\n"
			     "      <data key=\"ips\">10.1.0.2</data>\n"
			     "    </node>\n");
	assert_contains(xml,
			"    <edge id=\"e1\" source=\"n1\" target=\"n0\">\n"
			"      <data key=\"edge_label\">tcp/5432</data>\n"
			"      <data key=\"bytes\">1210</data>\n"
			"      <data key=\"bytes_to_server\">1000</data>\n"
			"      <data key=\"bytes_to_client\">210</data>\n"
			"      <data key=\"packets\">12</data>\n"
			"      <data key=\"sessions\">3</data>\n"
			"      <data key=\"ports\">tcp/5432</data>\n"
			"      <data key=\"policy_action\">allow</data>\n"
			"      <data key=\"first_seen_at\">2026-11-27T15:00:00.000000000Z</data>\n"
			"      <data key=\"last_seen_at\">2026-11-27T15:00:11.000000000Z</data>\n"
			"    </edge>\n");
	assert_contains(xml, "<data key=\"policy_action\">deny</data>");
	assert_contains(xml, "<data key=\"edge_label\">tcp/443 (deny)</data>");

	bad = strdup(xml);
	p = strstr(bad, "<data key=\"sessions\">");
	assert_non_null(p);
	memcpy(p + strlen("<data key=\""), "session_", 8);
	assert_int_not_equal(xmllint_validate(bad, &out), 0);
	assert_contains(out, "fails to validate");
	free(out);
	free(bad);
	free(xml);
	graph__free(g);
}

/* Markup, quotes, tabs, newlines and invalid UTF-8 in names: the document
 * still validates and xmllint reads back the names. */
static void test_graphml_escaping(void **state)
{
	struct graph *g = new_graph(GRAPH_COLLAPSE_NONE);
	char *xml, *out, *path, *cmd;
	(void)state;

	add(g, rec(ODD, EXT, 6, 1, true, 1, 1, 1, T0, T0, GRAPH_VERDICT_ALLOWED));
	xml = export(g, GRAPH_FORMAT_GRAPHML);
	assert_int_equal(xmllint_validate(xml, &out), 0);
	free(out);
	assert_contains(xml, "<data key=\"pod\">p&#9;x&#10;&lt;b&gt;&amp;amp;</data>");
	assert_contains(xml, "<data key=\"group\">nv.\xc3\xa9t\\xe9.x</data>");
	path = tmp_write(xml, ".graphml");
	assert_true(asprintf(&cmd,
			     "xmllint --xpath 'string(//*[local-name()=\"data\"][@key=\"node\"])' "
			     "'%s'",
			     path) > 0);
	assert_int_equal(run(cmd, &out), 0);
	assert_string_equal(out, "n<1>&'x'\n");
	free(out);
	free(cmd);
	unlink(path);
	free(path);
	free(xml);
	graph__free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_sums_records),
		cmocka_unit_test(test_dedup_both_ends),
		cmocka_unit_test(test_dedup_one_end),
		cmocka_unit_test(test_worst_verdict),
		cmocka_unit_test(test_relabel_external_to_container),
		cmocka_unit_test(test_relabel_reused_ip_latest_wins),
		cmocka_unit_test(test_relabel_pod_listener),
		cmocka_unit_test(test_filter_namespace),
		cmocka_unit_test(test_filter_since),
		cmocka_unit_test(test_collapse_none),
		cmocka_unit_test(test_collapse_pod),
		cmocka_unit_test(test_collapse_group),
		cmocka_unit_test(test_collapse_namespace),
		cmocka_unit_test(test_collapse_missing_names),
		cmocka_unit_test(test_cidr_collapse),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_bad_cidr),
		cmocka_unit_test(test_bad_record),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_add_after_write),
		cmocka_unit_test(test_json_exact),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_dot_graphviz),
		cmocka_unit_test(test_dot_clusters),
	    cmocka_unit_test(test_dot_escaping),
		cmocka_unit_test(test_graphml_schema),
		cmocka_unit_test(test_graphml_escaping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
