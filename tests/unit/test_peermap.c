/* SPDX-License-Identifier: Apache-2.0 */
/* test_peermap.c: peers on other nodes (peermap.c): a sensor's
 * announcement, the merge of every node's (replace, release, grace,
 * owners), the PeerMap frame and its size limit, the sensor's table
 * (replace whole, bound, own node left out); and the aggregator's ingest of
 * SensorEndpoints (ingest.c): the map queued after the first, pushed when
 * it changed, malformed endpoints refused with their reason. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "flow_batch.h"
#include "ingest.h"
#include "peer_bus.h"
#include "peermap.h"
#include "metrics.h"
#include "sensor_metrics.h"
#include "store.h"
#include "wire.h"

#define NOW 1700000000000000000LL

static struct entity_addr v4(const char *s)
{
	struct entity_addr a = {.family = AF_INET};

	assert_int_equal(inet_pton(AF_INET, s, a.addr), 1);
	return a;
}

static struct entity_addr v6(const char *s)
{
	struct entity_addr a = {.family = AF_INET6};

	assert_int_equal(inet_pton(AF_INET6, s, a.addr), 1);
	return a;
}

static struct container_view view(const char *id, const char *pod, const char *ns)
{
	return (struct container_view){
	    .id = id, .name = "app", .image = "busybox", .pod = pod, .namespace = ns};
}

/* An announcement of node with containers "c<i>" at 10.0.<k>.<i+1>. */
static Wacht__V1__SensorEndpoints *announce(struct peer_announce *a, const char *node, int k, int n)
{
	peer_announce__reset(a);
	for (int i = 0; i < n; i++) {
		char id[32], pod[32], ip[32];
		struct entity_addr ad;

		snprintf(id, sizeof(id), "%s-c%d", node, i);
		snprintf(pod, sizeof(pod), "web-%d", i);
		snprintf(ip, sizeof(ip), "10.0.%d.%d", k, i + 1);
		ad = v4(ip);
		struct container_view v = view(id, pod, "shop");
		assert_int_equal(peer_announce__add(a, &v, "nv.web.shop", &ad, 1), 0);
	}
	return peer_announce__msg(a, node);
}

/* The PeerMap in a frame, unpacked. */
static Wacht__V1__Envelope *unframe(const uint8_t *frame, size_t len)
{
	struct wire_reader *r = wire_reader__new(0);
	Wacht__V1__Envelope *env = NULL;

	assert_int_equal(wire_reader__feed(r, frame, len), 0);
	assert_int_equal(wire_reader__next(r, &env), 1);
	assert_int_equal(wire_reader__buffered(r), 0);
	assert_int_equal(env->body_case, WACHT__V1__ENVELOPE__BODY_PEERS);
	wire_reader__free(r);
	return env;
}

static Wacht__V1__Envelope *map_of(const struct peer_map *pm, size_t max, uint32_t *omitted)
{
	uint8_t *frame;
	size_t len;

	assert_int_equal(peer_map__frame(pm, max, &frame, &len, omitted), 0);
	assert_true(len - WIRE_HEADER_LEN <= max);
	Wacht__V1__Envelope *env = unframe(frame, len);
	free(frame);
	return env;
}

static void test_announce_sorted_stable_skips_addressless(void **state)
{
	struct peer_announce *a = peer_announce__new();
	struct entity_addr ab[2] = {v4("10.1.0.2"), v6("fd00::2")}, aa = v4("10.1.0.1");
	struct container_view b = view("bbb", "web-b", "shop"), c = view("aaa", "web-a", "shop");
	struct container_view none = view("ccc", "web-c", "shop");

	(void)state;
	assert_int_equal(peer_announce__add(a, &b, "nv.web.shop", ab, 2), 0);
	assert_int_equal(peer_announce__add(a, &none, "nv.web.shop", NULL, 0), 0);
	assert_int_equal(peer_announce__add(a, &c, "nv.web.shop", &aa, 1), 0);
	uint64_t h1 = peer_announce__hash(a, "n1");
	Wacht__V1__SensorEndpoints *m = peer_announce__msg(a, "n1");
	assert_string_equal(m->node, "n1");
	assert_int_equal(m->n_endpoints, 2);
	assert_string_equal(m->endpoints[0]->container->id, "aaa");
	assert_string_equal(m->endpoints[1]->container->id, "bbb");
	assert_string_equal(m->endpoints[1]->container->pod, "web-b");
	assert_string_equal(m->endpoints[1]->container->group, "nv.web.shop");
	assert_int_equal(m->endpoints[1]->n_ips, 2);
	assert_int_equal(m->endpoints[1]->ips[0].len, 4);
	assert_int_equal(m->endpoints[1]->ips[1].len, 16);
	assert_memory_equal(m->endpoints[1]->ips[1].data, ab[1].addr, 16);

	/* the same containers in another order: the same hash */
	peer_announce__reset(a);
	assert_int_equal(peer_announce__add(a, &c, "nv.web.shop", &aa, 1), 0);
	assert_int_equal(peer_announce__add(a, &b, "nv.web.shop", ab, 2), 0);
	assert_true(peer_announce__hash(a, "n1") == h1);
	/* one address less: another */
	peer_announce__reset(a);
	assert_int_equal(peer_announce__add(a, &c, "nv.web.shop", &aa, 1), 0);
	assert_int_equal(peer_announce__add(a, &b, "nv.web.shop", ab, 1), 0);
	assert_true(peer_announce__hash(a, "n1") != h1);
	peer_announce__free(a);
}

static void test_map_merge_replace_version(void **state)
{
	struct peer_announce *a = peer_announce__new();
	struct peer_map *pm = peer_map__new();
	size_t dropped = 99;

	(void)state;
	assert_int_equal(peer_map__put(pm, "node-b", 1, announce(a, "node-b", 2, 2), &dropped), 0);
	assert_int_equal(dropped, 0);
	assert_int_equal(peer_map__put(pm, "node-a", 2, announce(a, "node-a", 1, 3), NULL), 0);
	assert_int_equal(peer_map__version(pm), 2);
	assert_int_equal(peer_map__nodes(pm), 2);
	assert_int_equal(peer_map__endpoints(pm), 5);

	uint32_t omitted = 7;
	Wacht__V1__Envelope *env = map_of(pm, WIRE_FRAME_MAX, &omitted);
	Wacht__V1__PeerMap *m = env->peers;
	assert_int_equal(omitted, 0);
	assert_int_equal(m->omitted, 0);
	assert_int_equal(m->version, 2);
	assert_int_equal(m->n_endpoints, 5);
	/* nodes by name, each endpoint stamped with its node */
	assert_string_equal(m->endpoints[0]->node, "node-a");
	assert_string_equal(m->endpoints[0]->container->id, "node-a-c0");
	assert_string_equal(m->endpoints[3]->node, "node-b");
	assert_string_equal(m->endpoints[4]->container->id, "node-b-c1");
	assert_string_equal(m->endpoints[4]->container->namespace_, "shop");
	uint8_t want[4] = {10, 0, 2, 2};
	assert_memory_equal(m->endpoints[4]->ips[0].data, want, 4);
	wire_envelope_free(env);

	/* the same again: no change; a different one replaces the node's */
	assert_int_equal(peer_map__put(pm, "node-b", 1, announce(a, "node-b", 2, 2), NULL), 0);
	assert_int_equal(peer_map__version(pm), 2);
	assert_int_equal(peer_map__put(pm, "node-b", 1, announce(a, "node-b", 2, 1), NULL), 0);
	assert_int_equal(peer_map__version(pm), 3);
	assert_int_equal(peer_map__endpoints(pm), 4);
	/* an empty announcement keeps the node, without endpoints */
	assert_int_equal(peer_map__put(pm, "node-a", 2, announce(a, "node-a", 1, 0), NULL), 0);
	assert_int_equal(peer_map__endpoints(pm), 1);
	assert_true(peer_map__drop(pm, "node-a"));
	assert_false(peer_map__drop(pm, "node-a"));
	assert_int_equal(peer_map__nodes(pm), 1);
	peer_map__free(pm);
	peer_announce__free(a);
}

static void test_map_release_grace_owner(void **state)
{
	struct peer_announce *a = peer_announce__new();
	struct peer_map *pm = peer_map__new();

	(void)state;
	assert_int_equal(peer_map__put(pm, "node-b", 1, announce(a, "node-b", 2, 2), NULL), 0);
	assert_int_equal(peer_map__put(pm, "node-c", 2, announce(a, "node-c", 3, 1), NULL), 0);
	/* a release by another owner (an old connection) changes nothing */
	peer_map__release(pm, "node-b", 7, 100);
	assert_int_equal(peer_map__expire(pm, 1000, 5), 0);
	/* released at 100, grace 5: still there at 104, gone at 105 */
	peer_map__release(pm, "node-b", 1, 100);
	assert_int_equal(peer_map__expire(pm, 104, 5), 0);
	assert_int_equal(peer_map__nodes(pm), 2);
	uint64_t v = peer_map__version(pm);
	assert_int_equal(peer_map__expire(pm, 105, 5), 1);
	assert_int_equal(peer_map__nodes(pm), 1);
	assert_int_equal(peer_map__endpoints(pm), 1);
	assert_true(peer_map__version(pm) > v);
	/* put again within the grace (a reconnect, even with the same
	 * endpoints): held again, not forgotten */
	peer_map__release(pm, "node-c", 2, 200);
	assert_int_equal(peer_map__put(pm, "node-c", 3, announce(a, "node-c", 3, 1), NULL), 0);
	assert_int_equal(peer_map__expire(pm, 1000, 5), 0);
	assert_int_equal(peer_map__nodes(pm), 1);
	/* the old connection's late release does not take it away */
	peer_map__release(pm, "node-c", 2, 300);
	assert_int_equal(peer_map__expire(pm, 1000, 5), 0);
	peer_map__free(pm);
	peer_announce__free(a);
}

static void test_map_drops_malformed_and_bounds(void **state)
{
	struct peer_map *pm = peer_map__new();
	Wacht__V1__SensorEndpoints se = WACHT__V1__SENSOR_ENDPOINTS__INIT;
	Wacht__V1__Container ct = WACHT__V1__CONTAINER__INIT;
	uint8_t ip4[4] = {10, 9, 0, 1}, bad[5] = {0};
	ProtobufCBinaryData good = {4, ip4}, odd = {5, bad}, mixed[2] = {{5, bad}, {4, ip4}};
	size_t n = PEER_NODE_MAX + 3, dropped = 0;
	Wacht__V1__PeerEndpoint *eps = calloc(n, sizeof(*eps)), **pp = calloc(n, sizeof(*pp));

	(void)state;
	ct.id = "x";
	for (size_t i = 0; i < n; i++) {
		wacht__v1__peer_endpoint__init(&eps[i]);
		eps[i].container = &ct;
		eps[i].n_ips = 1;
		eps[i].ips = &good;
		pp[i] = &eps[i];
	}
	eps[0].container = NULL; /* no container */
	eps[1].ips = &odd;	 /* only a 5-byte address */
	eps[2].n_ips = 2;	 /* the good one of two is kept */
	eps[2].ips = mixed;
	se.node = "node-x";
	se.endpoints = pp;
	se.n_endpoints = n;
	assert_int_equal(peer_map__put(pm, "node-x", 1, &se, &dropped), 0);
	/* the two malformed ones, and the one good one past the bound */
	assert_int_equal(peer_map__endpoints(pm), PEER_NODE_MAX);
	assert_int_equal(dropped, 3);

	/* a frame too small for all: whole endpoints left out and counted */
	uint32_t omitted = 0;
	Wacht__V1__Envelope *env = map_of(pm, 1000, &omitted);
	assert_true(env->peers->n_endpoints > 0);
	assert_int_equal(env->peers->n_endpoints + omitted, PEER_NODE_MAX);
	assert_int_equal(env->peers->omitted, omitted);
	/* the endpoint with a good and a bad address: the good one */
	assert_int_equal(env->peers->endpoints[0]->n_ips, 1);
	assert_memory_equal(env->peers->endpoints[0]->ips[0].data, ip4, 4);
	wire_envelope_free(env);
	uint8_t *frame;
	size_t len;
	assert_int_equal(peer_map__frame(pm, 10, &frame, &len, NULL), -EMSGSIZE);
	free(eps);
	free(pp);
	peer_map__free(pm);
}

static void test_table_apply_lookup(void **state)
{
	struct peer_announce *a = peer_announce__new();
	struct peer_map *pm = peer_map__new();
	struct peer_table *t = peer_table__new(0);
	struct peer_table_stats st;
	struct entity_addr both[2] = {v4("10.0.7.1"), v6("fd00:7::1")};
	struct container_view v = view("remote-1", "web-1", "shop");

	(void)state;
	assert_int_equal(peer_map__put(pm, "node-a", 1, announce(a, "node-a", 1, 2), NULL), 0);
	peer_announce__reset(a);
	assert_int_equal(peer_announce__add(a, &v, "nv.web.shop", both, 2), 0);
	assert_int_equal(peer_map__put(pm, "node-b", 2, peer_announce__msg(a, "node-b"), NULL), 0);
	Wacht__V1__Envelope *env = map_of(pm, WIRE_FRAME_MAX, NULL);
	/* as the sensor of node-a: its own containers are left out */
	assert_int_equal(peer_table__apply(t, env->peers, "node-a"), 0);
	peer_table__stats(t, &st);
	assert_int_equal(st.maps, 1);
	assert_int_equal(st.version, 2);
	assert_int_equal(st.endpoints, 1);
	assert_int_equal(st.addresses, 2);
	assert_int_equal(st.dropped, 0);
	assert_null(peer_table__lookup(t, AF_INET, v4("10.0.1.1").addr));
	const struct peer_entry *e = peer_table__lookup(t, AF_INET, both[0].addr);
	assert_non_null(e);
	assert_string_equal(e->view.id, "remote-1");
	assert_string_equal(e->view.pod, "web-1");
	assert_string_equal(e->view.namespace, "shop");
	assert_string_equal(e->group, "nv.web.shop");
	assert_string_equal(e->node, "node-b");
	assert_ptr_equal(peer_table__lookup(t, AF_INET6, both[1].addr), e);
	/* a dual-stack socket's ::ffff:10.0.7.1 */
	struct entity_addr mapped = v6("::ffff:10.0.7.1");
	assert_ptr_equal(peer_table__lookup(t, AF_INET6, mapped.addr), e);
	assert_null(peer_table__lookup(t, AF_INET6, v6("fd00:7::2").addr));

	/* as the sensor of node-c: both nodes' */
	assert_int_equal(peer_table__apply(t, env->peers, "node-c"), 0);
	peer_table__stats(t, &st);
	assert_int_equal(st.endpoints, 3);
	assert_string_equal(peer_table__lookup(t, AF_INET, v4("10.0.1.2").addr)->node, "node-a");
	wire_envelope_free(env);

	/* the next map replaces the whole table */
	assert_true(peer_map__drop(pm, "node-b"));
	env = map_of(pm, WIRE_FRAME_MAX, NULL);
	assert_int_equal(peer_table__apply(t, env->peers, "node-c"), 0);
	assert_null(peer_table__lookup(t, AF_INET, both[0].addr));
	assert_non_null(peer_table__lookup(t, AF_INET, v4("10.0.1.1").addr));
	wire_envelope_free(env);
	peer_table__free(t);
	peer_map__free(pm);
	peer_announce__free(a);
}

static void test_table_bound(void **state)
{
	struct peer_announce *a = peer_announce__new();
	struct peer_map *pm = peer_map__new();
	struct peer_table *t = peer_table__new(3);
	struct peer_table_stats st;

	(void)state;
	assert_int_equal(peer_map__put(pm, "node-b", 1, announce(a, "node-b", 2, 5), NULL), 0);
	Wacht__V1__Envelope *env = map_of(pm, WIRE_FRAME_MAX, NULL);
	assert_int_equal(peer_table__apply(t, env->peers, "node-a"), 0);
	peer_table__stats(t, &st);
	assert_int_equal(st.addresses, 3);
	assert_int_equal(st.endpoints, 3);
	assert_int_equal(st.dropped, 2);
	assert_non_null(peer_table__lookup(t, AF_INET, v4("10.0.2.3").addr));
	assert_null(peer_table__lookup(t, AF_INET, v4("10.0.2.4").addr));
	wire_envelope_free(env);
	peer_table__free(t);
	peer_map__free(pm);
	peer_announce__free(a);
}

static void test_bus_subject(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(peer_bus_subject(buf, sizeof(buf), NULL, "node-a"), 0);
	assert_string_equal(buf, "WACHT.endpoints.node-a");
	/* the node is one token */
	assert_int_equal(peer_bus_subject(buf, sizeof(buf), "S", "a.b*c>d e"), 0);
	assert_string_equal(buf, "S.endpoints.a_b_c_d_e");
	assert_int_equal(peer_bus_subject(buf, sizeof(buf), NULL, ""), -EINVAL);
	assert_int_equal(peer_bus_subject(buf, 20, NULL, "node-with-a-long-name"), -ENAMETOOLONG);
}

/* A conversation with a container of another node, as the sensor names it
 * from its table, through the FlowBatch: the server end is a container
 * with its pod and node; the reporting container has no node. */
static void test_flow_batch_remote_node(void **state)
{
	struct peer_announce *a = peer_announce__new();
	struct peer_map *pm = peer_map__new();
	struct peer_table *t = peer_table__new(0);
	struct entity_addr ad = v4("10.0.7.1");
	struct container_view rv = view("remote-1", "web-1", "shop");
	struct container_view cv = view("local-1", "client-1", "shop");

	(void)state;
	assert_int_equal(peer_announce__add(a, &rv, "nv.web.shop", &ad, 1), 0);
	assert_int_equal(peer_map__put(pm, "node-b", 1, peer_announce__msg(a, "node-b"), NULL), 0);
	Wacht__V1__Envelope *menv = map_of(pm, WIRE_FRAME_MAX, NULL);
	assert_int_equal(peer_table__apply(t, menv->peers, "node-a"), 0);
	const struct peer_entry *pe = peer_table__lookup(t, AF_INET, ad.addr);
	assert_non_null(pe);

	struct flow_end client = {ENTITY_CONTAINER, &cv, "nv.client.shop", NULL};
	struct flow_end server = {ENTITY_CONTAINER, &pe->view, pe->group, pe->node};
	struct flow_record r = {.container_is_client = true,
				.family = AF_INET,
				.proto = IPPROTO_TCP,
				.server_port = 5000,
				.bytes_to_server = 3000,
				.sessions = 1};
	memcpy(r.raddr, ad.addr, 4);
	struct flow_batch *b = flow_batch__new("node-a");
	assert_int_equal(flow_batch__add(b, &r, &client, &server, 0), 0);
	Wacht__V1__Envelope env;
	uint8_t *frame;
	size_t len;
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_FLOWS;
	env.flows = flow_batch__msg(b, 1, 0);
	assert_int_equal(wire_frame_envelope(&env, &frame, &len), 0);
	flow_batch__free(b);
	/* the table may change now: the batch copied what it needed */
	wire_envelope_free(menv);
	peer_table__free(t);

	struct wire_reader *rd = wire_reader__new(0);
	Wacht__V1__Envelope *got = NULL;
	assert_int_equal(wire_reader__feed(rd, frame, len), 0);
	assert_int_equal(wire_reader__next(rd, &got), 1);
	free(frame);
	const Wacht__V1__FlowRecord *fr = got->flows->records[0];
	assert_int_equal(fr->server->kind, WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_CONTAINER);
	assert_string_equal(fr->server->node, "node-b");
	assert_string_equal(fr->server->container->id, "remote-1");
	assert_string_equal(fr->server->container->pod, "web-1");
	assert_string_equal(fr->server->container->group, "nv.web.shop");
	assert_string_equal(fr->client->node, "");
	assert_string_equal(fr->client->container->pod, "client-1");
	wire_envelope_free(got);
	wire_reader__free(rd);
	peer_map__free(pm);
	peer_announce__free(a);
}

/* The stats line's peers object as /metrics series. */
static void test_metrics(void **state)
{
	static const char stats[] = "{\"kind\":\"stats\",\"peers\":{\"maps\":4,\"version\":9,"
				    "\"containers\":3,\"addresses\":5,\"dropped\":1,\"omitted\":0}}";
	struct metrics *m = metrics__new();

	(void)state;
	assert_int_equal(sensor_metrics_from_stats(m, stats, sizeof(stats) - 1), 0);
	assert_true(metrics__get(m, "wacht_peer_map_containers", NULL) == 3);
	assert_true(metrics__get(m, "wacht_peer_map_addresses", NULL) == 5);
	assert_true(metrics__get(m, "wacht_peer_maps_total", NULL) == 4);
	assert_true(metrics__get(m, "wacht_peer_map_dropped", NULL) == 1);
	metrics__free(m);
}

/* ---- ingest */

struct fx {
	char dir[64];
	char path[128];
	struct store *st;
	struct peer_map *pm;
	struct ingest_conn *ic[2];
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/wacht-peermap-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
	f->st = store__open(f->path, NULL, NULL);
	f->pm = peer_map__new();
	assert_non_null(f->st);
	for (int i = 0; i < 2; i++) {
		f->ic[i] = ingest_conn__new(f->st, 0);
		assert_non_null(f->ic[i]);
		ingest_conn__set_peers(f->ic[i], f->pm, (uint64_t)i + 1);
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	for (int i = 0; i < 2; i++)
		ingest_conn__free(f->ic[i]);
	peer_map__free(f->pm);
	store__close(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int feed(struct ingest_conn *ic, Wacht__V1__Envelope *env)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(wire_frame_envelope(env, &buf, &len), 0);
	int rc = ingest_conn__feed(ic, buf, len, NOW);
	free(buf);
	return rc;
}

static int hello(struct ingest_conn *ic, const char *node)
{
	Wacht__V1__Envelope env;
	Wacht__V1__SensorHello h = WACHT__V1__SENSOR_HELLO__INIT;
	char sid[64];

	snprintf(sid, sizeof(sid), "%s-0123456789ab", node);
	wire_envelope_init(&env);
	h.node = (char *)node;
	h.sensor_id = sid;
	h.max_frame_bytes = WIRE_FRAME_MAX;
	env.body_case = WACHT__V1__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	return feed(ic, &env);
}

static int endpoints(struct ingest_conn *ic, Wacht__V1__SensorEndpoints *se)
{
	Wacht__V1__Envelope env;

	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_ENDPOINTS;
	env.endpoints = se;
	return feed(ic, &env);
}

/* The frames ic has to send, consumed: how many PeerMaps, and the last. */
static int peer_maps(struct ingest_conn *ic, Wacht__V1__Envelope **last)
{
	struct wire_reader *r = wire_reader__new(0);
	Wacht__V1__Envelope *env;
	const uint8_t *out;
	size_t len;
	int n = 0;

	*last = NULL;
	out = ingest_conn__output(ic, &len);
	assert_int_equal(wire_reader__feed(r, out, len), 0);
	while (wire_reader__next(r, &env) == 1) {
		if (env->body_case != WACHT__V1__ENVELOPE__BODY_PEERS) {
			wire_envelope_free(env);
			continue;
		}
		n++;
		wire_envelope_free(*last);
		*last = env;
	}
	ingest_conn__consume(ic, len);
	wire_reader__free(r);
	return n;
}

static void test_ingest_endpoints_and_push(void **state)
{
	struct fx *f = *state;
	struct peer_announce *a = peer_announce__new();
	Wacht__V1__Envelope *m;

	assert_int_equal(hello(f->ic[0], "node-a"), 0);
	assert_int_equal(hello(f->ic[1], "node-b"), 0);
	/* no endpoints yet: no map for an older sensor */
	assert_int_equal(peer_maps(f->ic[0], &m), 0);
	assert_false(ingest_conn__peers_due(f->ic[0]));

	/* node-a's endpoints: the map (its own) comes back at once */
	assert_int_equal(endpoints(f->ic[0], announce(a, "node-a", 1, 2)), 0);
	assert_int_equal(peer_maps(f->ic[0], &m), 1);
	assert_int_equal(m->peers->n_endpoints, 2);
	assert_string_equal(m->peers->endpoints[0]->node, "node-a");
	wire_envelope_free(m);
	assert_int_equal(ingest_conn__stats(f->ic[0])->endpoints, 1);
	assert_int_equal(ingest_conn__stats(f->ic[0])->peer_maps, 1);

	/* node-b's: it gets both; node-a's copy is now behind */
	assert_int_equal(endpoints(f->ic[1], announce(a, "node-b", 2, 1)), 0);
	assert_int_equal(peer_maps(f->ic[1], &m), 1);
	assert_int_equal(m->peers->n_endpoints, 3);
	wire_envelope_free(m);
	assert_true(ingest_conn__peers_due(f->ic[0]));
	assert_false(ingest_conn__peers_due(f->ic[1]));
	/* the push (what the aggregator's tick does): one frame for both */
	uint8_t *frame;
	size_t len;
	assert_int_equal(peer_map__frame(f->pm, WIRE_FRAME_MAX, &frame, &len, NULL), 0);
	assert_int_equal(ingest_conn__send_peers(f->ic[0], frame, len), 0);
	free(frame);
	assert_false(ingest_conn__peers_due(f->ic[0]));
	assert_int_equal(peer_maps(f->ic[0], &m), 1);
	assert_int_equal(m->peers->n_endpoints, 3);
	assert_string_equal(m->peers->endpoints[2]->node, "node-b");
	assert_string_equal(m->peers->endpoints[2]->container->id, "node-b-c0");
	wire_envelope_free(m);

	/* a second SensorEndpoints replaces the node's; no immediate map */
	assert_int_equal(endpoints(f->ic[1], announce(a, "node-b", 2, 0)), 0);
	assert_int_equal(peer_maps(f->ic[1], &m), 0);
	assert_int_equal(peer_map__endpoints(f->pm), 2);
	assert_true(ingest_conn__peers_due(f->ic[1]));
	peer_announce__free(a);
}

/* The ServerHello says whether the aggregator takes endpoints: a sensor
 * sends them only then. */
static void test_ingest_server_hello_says_peer_map(void **state)
{
	struct fx *f = *state;
	struct ingest_conn *plain = ingest_conn__new(f->st, 0);
	struct ingest_conn *ics[2] = { f->ic[0], plain };

	for (int i = 0; i < 2; i++) {
		struct wire_reader *r = wire_reader__new(0);
		Wacht__V1__Envelope *env = NULL;
		const uint8_t *out;
		size_t len;

		assert_int_equal(hello(ics[i], i ? "node-p" : "node-a"), 0);
		out = ingest_conn__output(ics[i], &len);
		assert_int_equal(wire_reader__feed(r, out, len), 0);
		assert_int_equal(wire_reader__next(r, &env), 1);
		assert_int_equal(env->body_case, WACHT__V1__ENVELOPE__BODY_SERVER_HELLO);
		assert_int_equal(env->server_hello->peer_map, i == 0);
		wire_envelope_free(env);
		wire_reader__free(r);
	}
	ingest_conn__free(plain);
}

static void test_ingest_endpoints_refused(void **state)
{
	struct fx *f = *state;
	struct peer_announce *a = peer_announce__new();
	Wacht__V1__SensorEndpoints se = WACHT__V1__SENSOR_ENDPOINTS__INIT;
	Wacht__V1__PeerEndpoint ep = WACHT__V1__PEER_ENDPOINT__INIT, *pp = &ep;
	Wacht__V1__Container ct = WACHT__V1__CONTAINER__INIT;
	uint8_t ip[5] = {10, 0, 0, 1, 0};
	ProtobufCBinaryData b = {5, ip};

	/* before the hello */
	assert_int_equal(endpoints(f->ic[0], announce(a, "node-a", 1, 1)), -EPROTO);
	assert_string_equal(ingest_conn__error(f->ic[0]), "endpoints before the hello");
	/* another node's */
	assert_int_equal(hello(f->ic[1], "node-b"), 0);
	assert_int_equal(endpoints(f->ic[1], announce(a, "node-a", 1, 1)), -EPROTO);
	assert_string_equal(ingest_conn__error(f->ic[1]),
			    "endpoints of node 'node-a', not the hello's (node-b)");
	assert_int_equal(peer_map__nodes(f->pm), 0);
	peer_announce__free(a);

	/* a 5-byte address, on a fresh connection */
	ingest_conn__free(f->ic[1]);
	f->ic[1] = ingest_conn__new(f->st, 0);
	ingest_conn__set_peers(f->ic[1], f->pm, 9);
	assert_int_equal(hello(f->ic[1], "node-b"), 0);
	ep.container = &ct;
	ep.n_ips = 1;
	ep.ips = &b;
	se.node = "node-b";
	se.n_endpoints = 1;
	se.endpoints = &pp;
	assert_int_equal(endpoints(f->ic[1], &se), -EPROTO);
	assert_string_equal(ingest_conn__error(f->ic[1]),
			    "endpoint 0: an address of 5 bytes (want 4 or 16)");
	assert_int_equal(peer_map__nodes(f->pm), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_announce_sorted_stable_skips_addressless),
	    cmocka_unit_test(test_map_merge_replace_version),
	    cmocka_unit_test(test_map_release_grace_owner),
	    cmocka_unit_test(test_map_drops_malformed_and_bounds),
	    cmocka_unit_test(test_table_apply_lookup),
	    cmocka_unit_test(test_table_bound),
	    cmocka_unit_test(test_bus_subject),
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_flow_batch_remote_node),
	    cmocka_unit_test_setup_teardown(test_ingest_endpoints_and_push, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_ingest_endpoints_refused, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_ingest_server_hello_says_peer_map, fx_setup,
					    fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
