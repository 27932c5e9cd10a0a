// SPDX-License-Identifier: Apache-2.0
/* test_flows.c: unit tests of conversation records from successive reads
 * of the kernel's flow map (userspace/flows.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "flow_batch.h"
#include "flows.h"
#include "wire.h"

#define CG_CLIENT 4242
#define NS 1000000000ULL

struct seen {
	struct flow_record r[8];
	size_t n;
};

static void collect(void *ctx, const struct flow_record *r)
{
	struct seen *s = ctx;

	assert_true(s->n < 8);
	s->r[s->n++] = *r;
}

/* 10.0.0.2:lport (the container) <-> 10.0.0.1:rport */
static struct wacht_flow_key key(uint8_t proto, uint16_t lport, uint16_t rport)
{
	struct wacht_flow_key k = { .cgroup_id = CG_CLIENT, .family = AF_INET, .proto = proto,
				    .lport = lport, .rport = rport };

	inet_pton(AF_INET, "10.0.0.2", k.laddr);
	inet_pton(AF_INET, "10.0.0.1", k.raddr);
	return k;
}

static struct wacht_flow_val val(uint64_t out, uint64_t in, uint32_t sessions, uint16_t init,
				 uint64_t first, uint64_t last)
{
	return (struct wacht_flow_val){ .bytes_out = out, .bytes_in = in, .pkts_out = out / 1000 + 1,
					.pkts_in = in / 1000 + 1, .first_ns = first, .last_ns = last,
					.sessions = sessions, .initiator = init };
}

static size_t pass(struct flows *f, struct seen *s)
{
	s->n = 0;
	return flows__report(f, collect, s);
}

/* A client's connection: the first read reports everything, the second
 * only what came after, a third with nothing new reports nothing. */
static void test_deltas(void **state)
{
	(void)state;
	struct flows *f = flows__new();
	struct seen s;
	struct wacht_flow_key k = key(IPPROTO_TCP, 40000, 5000);
	struct wacht_flow_val v = val(100000, 20, 1, WACHT_FLOW_INIT_LOCAL, 5 * NS, 6 * NS);

	assert_int_equal(flows__add(f, &k, &v), 0);
	assert_int_equal(pass(f, &s), 1);
	assert_true(s.r[0].container_is_client);
	assert_int_equal(s.r[0].server_port, 5000);
	assert_int_equal(s.r[0].proto, IPPROTO_TCP);
	assert_int_equal(s.r[0].bytes_to_server, 100000);
	assert_int_equal(s.r[0].bytes_to_client, 20);
	assert_int_equal(s.r[0].pkts_to_server, 101);
	assert_int_equal(s.r[0].pkts_to_client, 1);
	assert_int_equal(s.r[0].sessions, 1);
	assert_int_equal(s.r[0].first_ns, 5 * NS);
	assert_int_equal(s.r[0].last_ns, 6 * NS);
	assert_int_equal(s.r[0].verdict, FLOW_VERDICT_UNKNOWN);

	v = val(150000, 30, 1, WACHT_FLOW_INIT_LOCAL, 5 * NS, 9 * NS);
	assert_int_equal(flows__add(f, &k, &v), 0);
	assert_int_equal(pass(f, &s), 1);
	assert_int_equal(s.r[0].bytes_to_server, 50000);
	assert_int_equal(s.r[0].bytes_to_client, 10);
	assert_int_equal(s.r[0].pkts_to_server, 50);
	assert_int_equal(s.r[0].pkts_to_client, 0);
	assert_int_equal(s.r[0].sessions, 0);
	assert_int_equal(s.r[0].last_ns, 9 * NS);

	assert_int_equal(flows__add(f, &k, &v), 0);
	assert_int_equal(pass(f, &s), 0);
	flows__free(f);
}

/* Connections from one client to one server port on different ephemeral
 * ports are one conversation: bytes and sessions add up. */
static void test_fold_ephemeral_ports(void **state)
{
	(void)state;
	struct flows *f = flows__new();
	struct seen s;

	for (uint16_t p = 40000; p < 40003; p++) {
		struct wacht_flow_key k = key(IPPROTO_TCP, p, 5000);
		struct wacht_flow_val v = val(1000, 7, 1, WACHT_FLOW_INIT_LOCAL, p * NS, (p + 1) * NS);
		assert_int_equal(flows__add(f, &k, &v), 0);
	}
	assert_int_equal(pass(f, &s), 1);
	assert_int_equal(s.r[0].bytes_to_server, 3000);
	assert_int_equal(s.r[0].bytes_to_client, 21);
	assert_int_equal(s.r[0].sessions, 3);
	assert_int_equal(s.r[0].first_ns, 40000 * NS);
	assert_int_equal(s.r[0].last_ns, 40003 * NS);
	flows__free(f);
}

/* The container as the server: inbound bytes go to the server, the port
 * is the local one; a connection seen mid-way (no SYN) takes the lower
 * port as the server's. */
static void test_server_side(void **state)
{
	(void)state;
	struct flows *f = flows__new();
	struct seen s;
	struct wacht_flow_key k = key(IPPROTO_TCP, 8080, 51000);
	struct wacht_flow_val v = val(300, 4000, 1, WACHT_FLOW_INIT_REMOTE, NS, 2 * NS);

	assert_int_equal(flows__add(f, &k, &v), 0);
	assert_int_equal(pass(f, &s), 1);
	assert_false(s.r[0].container_is_client);
	assert_int_equal(s.r[0].server_port, 8080);
	assert_int_equal(s.r[0].bytes_to_server, 4000);
	assert_int_equal(s.r[0].bytes_to_client, 300);

	struct wacht_flow_key k2 = key(IPPROTO_TCP, 52000, 443);
	v = val(10, 20, 0, WACHT_FLOW_INIT_UNKNOWN, NS, 2 * NS);
	assert_int_equal(flows__add(f, &k2, &v), 0);
	assert_int_equal(pass(f, &s), 1);
	assert_true(s.r[0].container_is_client);
	assert_int_equal(s.r[0].server_port, 443);
	assert_int_equal(s.r[0].sessions, 0);
	flows__free(f);
}

/* An entry that left the map (aged out by userspace or evicted) and came
 * back under the same key is new: all of its counts are reported, even
 * when they are below what the old one had. */
static void test_recreated_entry(void **state)
{
	(void)state;
	struct flows *f = flows__new();
	struct seen s;
	struct wacht_flow_key k = key(IPPROTO_UDP, 41000, 53);
	struct wacht_flow_val v = val(500, 900, 1, WACHT_FLOW_INIT_LOCAL, NS, 2 * NS);

	assert_int_equal(flows__add(f, &k, &v), 0);
	assert_int_equal(pass(f, &s), 1);
	/* same key, newer first_ns, same read: a new entry */
	v = val(600, 100, 1, WACHT_FLOW_INIT_LOCAL, 3 * NS, 4 * NS);
	assert_int_equal(flows__add(f, &k, &v), 0);
	assert_int_equal(pass(f, &s), 1);
	assert_int_equal(s.r[0].bytes_to_server, 600);
	assert_int_equal(s.r[0].bytes_to_client, 100);
	assert_int_equal(s.r[0].sessions, 1);
	/* gone for a pass (forgotten), then back with the same first_ns */
	assert_int_equal(pass(f, &s), 0);
	assert_int_equal(flows__add(f, &k, &v), 0);
	assert_int_equal(pass(f, &s), 1);
	assert_int_equal(s.r[0].bytes_to_server, 600);
	flows__free(f);
}

/* Verdicts: looked up by (container, direction, peer, proto, port); a
 * different port or direction is not the same connection. */
static void test_verdicts(void **state)
{
	(void)state;
	struct flows *f = flows__new();
	struct seen s;
	uint8_t peer[16] = { 0 };
	struct wacht_flow_key k = key(IPPROTO_TCP, 40000, 5000);
	struct wacht_flow_key k2 = key(IPPROTO_TCP, 40001, 5001);
	struct wacht_flow_key k3 = key(IPPROTO_TCP, 5002, 40002); /* inbound to 5002 */
	struct wacht_flow_val v = val(1, 1, 1, WACHT_FLOW_INIT_LOCAL, NS, NS);
	struct wacht_flow_val vin = val(1, 1, 1, WACHT_FLOW_INIT_REMOTE, NS, NS);

	inet_pton(AF_INET, "10.0.0.1", peer);
	flows__set_verdict(f, CG_CLIENT, false, AF_INET, peer, IPPROTO_TCP, 5000, FLOW_VERDICT_DENIED);
	flows__set_verdict(f, CG_CLIENT, false, AF_INET, peer, IPPROTO_TCP, 5002, FLOW_VERDICT_ALLOWED);
	flows__set_verdict(f, CG_CLIENT, true, AF_INET, peer, IPPROTO_TCP, 5002, FLOW_VERDICT_VIOLATION);
	assert_int_equal(flows__add(f, &k, &v), 0);
	assert_int_equal(flows__add(f, &k2, &v), 0);
	assert_int_equal(flows__add(f, &k3, &vin), 0);
	assert_int_equal(pass(f, &s), 3);
	for (size_t i = 0; i < 3; i++) {
		switch (s.r[i].server_port) {
		case 5000:
			assert_int_equal(s.r[i].verdict, FLOW_VERDICT_DENIED);
			break;
		case 5001:
			assert_int_equal(s.r[i].verdict, FLOW_VERDICT_UNKNOWN);
			break;
		case 5002:
			assert_false(s.r[i].container_is_client);
			assert_int_equal(s.r[i].verdict, FLOW_VERDICT_VIOLATION);
			break;
		default:
			fail_msg("port %u", s.r[i].server_port);
		}
	}
	assert_string_equal(flow_verdict_name(FLOW_VERDICT_DENIED), "denied");
	assert_string_equal(flow_verdict_name(FLOW_VERDICT_ALLOWED), "allowed");
	assert_string_equal(flow_verdict_name(FLOW_VERDICT_VIOLATION), "violation");
	flows__free(f);
}

/* A refused connect: no packets, one session, verdict denied. */
static void test_refused(void **state)
{
	(void)state;
	struct flows *f = flows__new();
	struct seen s;
	uint8_t peer[16] = { 0 };

	inet_pton(AF_INET, "10.0.0.1", peer);
	flows__set_verdict(f, CG_CLIENT, false, AF_INET, peer, IPPROTO_TCP, 5001, FLOW_VERDICT_DENIED);
	assert_int_equal(flows__add_refused(f, CG_CLIENT, AF_INET, peer, IPPROTO_TCP, 5001, 3 * NS), 0);
	assert_int_equal(flows__add_refused(f, CG_CLIENT, AF_INET, peer, IPPROTO_TCP, 5001, 4 * NS), 0);
	assert_int_equal(pass(f, &s), 1);
	assert_true(s.r[0].container_is_client);
	assert_int_equal(s.r[0].server_port, 5001);
	assert_int_equal(s.r[0].sessions, 2);
	assert_int_equal(s.r[0].bytes_to_server + s.r[0].bytes_to_client, 0);
	assert_int_equal(s.r[0].first_ns, 3 * NS);
	assert_int_equal(s.r[0].last_ns, 4 * NS);
	assert_int_equal(s.r[0].verdict, FLOW_VERDICT_DENIED);
	assert_int_equal(pass(f, &s), 0);
	flows__free(f);
}

static void test_evictions(void **state)
{
	(void)state;
	/* 100 inserted, 30 aged out by userspace, 60 alive: 10 evicted */
	assert_int_equal(flows_evictions(100, 30, 60), 10);
	assert_int_equal(flows_evictions(100, 40, 60), 0);
	/* a read racing an insert never goes below 0 */
	assert_int_equal(flows_evictions(100, 40, 61), 0);
}

/* A record through the FlowBatch, framed and read back as the aggregator
 * reads it: the client container with its pod, the external server, the
 * counts and the verdict. */
static void test_batch_wire(void **state)
{
	(void)state;
	struct container_view cv = { .id = "c0ffee", .name = "app", .image = "busybox",
				     .pod = "client-1", .namespace = "shop", .cgroup_id = CG_CLIENT };
	struct flow_end client = { ENTITY_CONTAINER, &cv, "nv.client.shop" };
	struct flow_end server = { ENTITY_EXTERNAL, NULL, NULL };
	struct flow_record r = { .cgroup_id = CG_CLIENT, .container_is_client = true,
				 .family = AF_INET, .proto = IPPROTO_TCP, .server_port = 443,
				 .bytes_to_server = 100000, .bytes_to_client = 512,
				 .pkts_to_server = 90, .pkts_to_client = 57, .sessions = 2,
				 .first_ns = 5 * NS, .last_ns = 7 * NS,
				 .verdict = FLOW_VERDICT_VIOLATION };
	inet_pton(AF_INET, "10.0.0.2", r.laddr);
	inet_pton(AF_INET, "192.0.2.80", r.raddr);
	struct flow_batch *b = flow_batch__new("node-a");
	assert_non_null(b);
	assert_int_equal(flow_batch__add(b, &r, &client, &server, 1000 * NS), 0);
	assert_int_equal(flow_batch__count(b), 1);

	Wacht__V1__Envelope env;
	uint8_t *frame;
	size_t len;
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_FLOWS;
	env.flows = flow_batch__msg(b, 1234, 3);
	env.flows->batch_seq = 9;
	assert_int_equal(wire_frame_envelope(&env, &frame, &len), 0);
	flow_batch__free(b); /* the frame owns its bytes */

	struct wire_reader *rd = wire_reader__new(0);
	Wacht__V1__Envelope *got = NULL;
	assert_non_null(rd);
	assert_int_equal(wire_reader__feed(rd, frame, len), 0);
	assert_int_equal(wire_reader__next(rd, &got), 1);
	free(frame);
	assert_int_equal(got->body_case, WACHT__V1__ENVELOPE__BODY_FLOWS);
	Wacht__V1__FlowBatch *fb = got->flows;
	assert_int_equal(fb->batch_seq, 9);
	assert_string_equal(fb->node, "node-a");
	assert_int_equal(fb->time_unix_ns, 1234);
	assert_int_equal(fb->flows_evicted, 3);
	assert_int_equal(fb->n_records, 1);
	Wacht__V1__FlowRecord *m = fb->records[0];
	assert_int_equal(m->client->kind, WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_CONTAINER);
	assert_int_equal(m->client->ip.len, 4);
	assert_memory_equal(m->client->ip.data, r.laddr, 4);
	assert_string_equal(m->client->container->id, "c0ffee");
	assert_string_equal(m->client->container->pod, "client-1");
	assert_string_equal(m->client->container->namespace_, "shop");
	assert_string_equal(m->client->container->group, "nv.client.shop");
	assert_int_equal(m->server->kind, WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_EXTERNAL);
	assert_null(m->server->container);
	assert_memory_equal(m->server->ip.data, r.raddr, 4);
	assert_int_equal(m->proto, 6);
	assert_int_equal(m->server_port, 443);
	assert_true(m->reported_by_client);
	assert_int_equal(m->bytes_to_server, 100000);
	assert_int_equal(m->bytes_to_client, 512);
	assert_int_equal(m->packets_to_server, 90);
	assert_int_equal(m->packets_to_client, 57);
	assert_int_equal(m->sessions, 2);
	assert_int_equal(m->first_seen_unix_ns, (int64_t)(1005 * NS));
	assert_int_equal(m->last_seen_unix_ns, (int64_t)(1007 * NS));
	assert_int_equal(m->verdict, WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_VIOLATION);
	wire_envelope_free(got);
	wire_reader__free(rd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deltas),
		cmocka_unit_test(test_fold_ephemeral_ports),
		cmocka_unit_test(test_server_side),
		cmocka_unit_test(test_recreated_entry),
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_evictions),
		cmocka_unit_test(test_batch_wire),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
