// SPDX-License-Identifier: Apache-2.0
/* test_wire.c: unit tests of the wire format: framing, the incremental
 * reader's errors, and findings through protobuf to JSON. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "finding.h"
#include "jsonw.h"
#include "wire.h"

/* ---- helpers */

static uint8_t *frame(const Wacht__V1__Envelope *env, size_t *len)
{
	uint8_t *buf;

	assert_int_equal(wire_frame_envelope(env, &buf, len), 0);
	assert_non_null(buf);
	return buf;
}

/* A frame whose payload is the given bytes, header included. */
static uint8_t *raw_frame(const void *payload, uint32_t n, size_t *len)
{
	uint8_t *buf = malloc(4 + (size_t)n);

	assert_non_null(buf);
	buf[0] = n >> 24;
	buf[1] = n >> 16;
	buf[2] = n >> 8;
	buf[3] = n;
	if (n)
		memcpy(buf + 4, payload, n);
	*len = 4 + (size_t)n;
	return buf;
}

/* Feeds buf to a fresh reader in chunks (chunk 0: random sizes 1..64) and
 * expects exactly one envelope out, which is returned. */
static Wacht__V1__Envelope *read_one(const uint8_t *buf, size_t len, size_t chunk)
{
	struct wire_reader *r = wire_reader__new(0);
	Wacht__V1__Envelope *env = NULL, *extra = NULL;
	size_t off = 0;

	assert_non_null(r);
	while (off < len) {
		size_t n = chunk ? chunk : 1 + (size_t)(rand() % 64);

		if (n > len - off)
			n = len - off;
		assert_null(env); /* nothing before the last byte */
		assert_int_equal(wire_reader__feed(r, buf + off, n), 0);
		off += n;
		int rc = wire_reader__next(r, &env);
		assert_int_equal(rc, off == len ? 1 : 0);
	}
	assert_non_null(env);
	assert_int_equal(wire_reader__next(r, &extra), 0);
	assert_null(extra);
	assert_int_equal(wire_reader__buffered(r), 0);
	wire_reader__free(r);
	return env;
}

static Wacht__V1__Envelope *roundtrip(const Wacht__V1__Envelope *in)
{
	size_t len;
	uint8_t *buf = frame(in, &len);
	Wacht__V1__Envelope *out = read_one(buf, len, len);

	free(buf);
	assert_int_equal(out->version, WIRE_VERSION);
	assert_int_equal(out->body_case, in->body_case);
	return out;
}

/* ---- every message type */

static void test_roundtrip_hello(void **state)
{
	Wacht__V1__Envelope env;
	Wacht__V1__SensorHello h = WACHT__V1__SENSOR_HELLO__INIT;

	(void)state;
	wire_envelope_init(&env);
	h.node = "worker-1";
	h.sensor_id = "3f2a9c";
	h.sensor_version = "v0.3.0-12-gabcdef";
	h.kernel = "6.1.0-18-amd64";
	h.start_time_unix_ns = 1767225600123456789LL;
	h.max_frame_bytes = 1 << 20;
	env.body_case = WACHT__V1__ENVELOPE__BODY_HELLO;
	env.hello = &h;

	Wacht__V1__Envelope *out = roundtrip(&env);
	assert_non_null(out->hello);
	assert_string_equal(out->hello->node, "worker-1");
	assert_string_equal(out->hello->sensor_id, "3f2a9c");
	assert_string_equal(out->hello->sensor_version, "v0.3.0-12-gabcdef");
	assert_string_equal(out->hello->kernel, "6.1.0-18-amd64");
	assert_int_equal(out->hello->start_time_unix_ns, 1767225600123456789LL);
	assert_int_equal(out->hello->max_frame_bytes, 1 << 20);
	wire_envelope_free(out);
}

static void test_roundtrip_server_hello_ack_flows(void **state)
{
	Wacht__V1__Envelope env;
	Wacht__V1__ServerHello sh = WACHT__V1__SERVER_HELLO__INIT;
	Wacht__V1__Ack ack = WACHT__V1__ACK__INIT;
	Wacht__V1__FlowBatch fb = WACHT__V1__FLOW_BATCH__INIT;
	Wacht__V1__Envelope *out;

	(void)state;
	wire_envelope_init(&env);
	sh.aggregator_version = "agg-1.2";
	sh.max_frame_bytes = WIRE_FRAME_MAX;
	env.body_case = WACHT__V1__ENVELOPE__BODY_SERVER_HELLO;
	env.server_hello = &sh;
	out = roundtrip(&env);
	assert_string_equal(out->server_hello->aggregator_version, "agg-1.2");
	assert_int_equal(out->server_hello->max_frame_bytes, WIRE_FRAME_MAX);
	wire_envelope_free(out);

	wire_envelope_init(&env);
	ack.batch_seq = UINT64_MAX;
	env.body_case = WACHT__V1__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	out = roundtrip(&env);
	assert_true(out->ack->batch_seq == UINT64_MAX);
	wire_envelope_free(out);

	wire_envelope_init(&env);
	fb.batch_seq = 77;
	env.body_case = WACHT__V1__ENVELOPE__BODY_FLOWS;
	env.flows = &fb;
	out = roundtrip(&env);
	assert_int_equal(out->flows->batch_seq, 77);
	wire_envelope_free(out);

	Wacht__V1__LearnedProfile lp = WACHT__V1__LEARNED_PROFILE__INIT;

	wire_envelope_init(&env);
	lp.group = "nv.web.shop";
	lp.node = "worker-2";
	lp.yaml = "---\napiVersion: neuvector.com/v1\n";
	lp.time_unix_ns = 1767225600000000001LL;
	env.body_case = WACHT__V1__ENVELOPE__BODY_LEARNED;
	env.learned = &lp;
	out = roundtrip(&env);
	assert_string_equal(out->learned->group, "nv.web.shop");
	assert_string_equal(out->learned->node, "worker-2");
	assert_string_equal(out->learned->yaml, "---\napiVersion: neuvector.com/v1\n");
	assert_int_equal(out->learned->time_unix_ns, 1767225600000000001LL);
	wire_envelope_free(out);
}

/* The exact bytes: an Ack of batch 5 is 6 payload bytes (version 1, field
 * 5 holding {batch_seq 5}) behind a big-endian length. */
static void test_frame_bytes(void **state)
{
	static const uint8_t want[] = { 0, 0, 0, 6, 0x08, 0x01, 0x2a, 0x02, 0x08, 0x05 };
	Wacht__V1__Envelope env;
	Wacht__V1__Ack ack = WACHT__V1__ACK__INIT;
	size_t len;
	uint8_t *buf;

	(void)state;
	wire_envelope_init(&env);
	ack.batch_seq = 5;
	env.body_case = WACHT__V1__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	buf = frame(&env, &len);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	free(buf);
}

/* ---- findings */

/* 2026-01-01T00:00:00Z is 1767225600 s after the epoch; boot time 5 s
 * before it (as test_finding.c). */
static const struct format_ctx fc = {
	.node = "node-1",
	.boot_to_real_ns = 1767225600000000000LL - 5000000000LL,
};

static const struct container_view web = {
	.id = "0123456789abcdef", .runtime = "crio", .name = "web",
	.image = "registry.local/shop/web:1.4", .pod = "web-7d9f8c6b5-x2x7k", .namespace = "shop",
	.pod_uid = "6f1c7d7e", .cgroup = "/kubepods.slice/x.scope", .cgroup_id = 0x1001,
};

/* argv with a byte that is not UTF-8: bytes on the wire, \u00ff in JSON */
static const char ARGV[] = "nc\0-e\0/tmp/\xff\0";

/* A finding with every field set. */
static struct finding full_finding(void)
{
	struct finding f = {
		.ts_ns = 5000000000ull + 123456789ull,
		.name = FN_NET_VIOLATION,
		.severity = SEV_CRITICAL,
		.action = FACT_DENY,
		.mode = MODE_PROTECT,
		.rule = { "rules/web.yaml:12", "to-db", "nv.web.shop" },
		.container = &web,
		.group = "nv.web.shop",
		.process = { .pid = 4242, .ppid = 4200, .uid = 1000, .euid = 0, .name = "nc",
			     .exe = "/usr/bin/nc", .parent_exe = "/bin/sh", .argv = ARGV, .argc = 3 },
		.has_file = true,
		.file = { "/etc/shadow", "modify" },
		.has_net = true,
		.net = { .proto = IPPROTO_TCP, .family = AF_INET, .inbound = false,
			 .laddr = { 10, 244, 1, 7 }, .raddr = { 203, 0, 113, 9 },
			 .lport = 41000, .rport = 5432, .peer_group = "external" },
		.message = "connection \"to\" external tcp/5432",
		.count = 3,
	};
	return f;
}

static const char FULL_JSON[] =
	"{\"time\":\"2026-01-01T00:00:00.123456789Z\",\"node\":\"node-1\","
	"\"name\":\"Network.Violation\",\"severity\":\"critical\",\"action\":\"deny\","
	"\"mode\":\"Protect\","
	"\"rule\":{\"id\":\"rules/web.yaml:12\",\"name\":\"to-db\",\"group\":\"nv.web.shop\"},"
	"\"container\":{\"id\":\"0123456789abcdef\",\"name\":\"web\","
	"\"image\":\"registry.local/shop/web:1.4\",\"pod\":\"web-7d9f8c6b5-x2x7k\","
	"\"namespace\":\"shop\",\"group\":\"nv.web.shop\"},"
	"\"process\":{\"pid\":4242,\"ppid\":4200,\"uid\":1000,\"euid\":0,\"name\":\"nc\","
	"\"exe\":\"/usr/bin/nc\",\"args\":[\"nc\",\"-e\",\"/tmp/\\u00ff\"],\"parent_exe\":\"/bin/sh\"},"
	"\"file\":{\"path\":\"/etc/shadow\",\"op\":\"modify\"},"
	"\"network\":{\"proto\":\"tcp\",\"direction\":\"outbound\",\"local_ip\":\"10.244.1.7\","
	"\"local_port\":41000,\"remote_ip\":\"203.0.113.9\",\"remote_port\":5432,"
	"\"peer_group\":\"external\"},"
	"\"message\":\"connection \\\"to\\\" external tcp/5432\",\"count\":3}";

/* finding_format's text without "kind":"finding", */
static char *engine_json(const struct finding *f)
{
	struct jsonw *w = jsonw__new();
	const char *kind = "\"kind\":\"finding\",";
	char *s, *k;

	assert_non_null(w);
	finding_format(w, &fc, f);
	assert_int_equal(jsonw__error(w), 0);
	s = strdup(jsonw__data(w, NULL));
	assert_non_null(s);
	k = strstr(s, kind);
	assert_non_null(k);
	memmove(k, k + strlen(kind), strlen(k + strlen(kind)) + 1);
	jsonw__free(w);
	return s;
}

/* finding -> protobuf -> frame (in a batch with a second finding) */
static uint8_t *frame_findings(const struct finding *f1, const struct finding *f2,
			       uint64_t batch_seq, size_t *len)
{
	struct wire_finding wf1, wf2;
	Wacht__V1__Finding *v[2] = { &wf1.msg, &wf2.msg };
	Wacht__V1__FindingBatch batch = WACHT__V1__FINDING_BATCH__INIT;
	Wacht__V1__Envelope env;
	uint8_t *buf;

	assert_int_equal(wire_finding__init(&wf1, &fc, "sensor-a", 41, f1), 0);
	assert_int_equal(wire_finding__init(&wf2, &fc, "sensor-a", 42, f2), 0);
	batch.batch_seq = batch_seq;
	batch.n_findings = 2;
	batch.findings = v;
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_FINDINGS;
	env.findings = &batch;
	buf = frame(&env, len);
	wire_finding__release(&wf1);
	wire_finding__release(&wf2);
	return buf;
}

static void check_full(const Wacht__V1__Envelope *env, const char *json2)
{
	struct jsonw *w = jsonw__new();
	const Wacht__V1__FindingBatch *b = env->findings;

	assert_non_null(w);
	assert_int_equal(env->body_case, WACHT__V1__ENVELOPE__BODY_FINDINGS);
	assert_int_equal(b->batch_seq, 9);
	assert_int_equal(b->n_findings, 2);
	assert_string_equal(b->findings[0]->id, "sensor-a:41");
	assert_string_equal(b->findings[1]->id, "sensor-a:42");
	assert_int_equal(b->findings[0]->time_unix_ns, 1767225600123456789LL);
	assert_int_equal(b->findings[0]->severity, WACHT__V1__SEVERITY__SEVERITY_CRITICAL);
	assert_int_equal(b->findings[0]->network->local_ip.len, 4);
	wire_finding_format(w, b->findings[0]);
	assert_int_equal(jsonw__error(w), 0);
	assert_string_equal(jsonw__data(w, NULL), FULL_JSON);
	jsonw__reset(w);
	wire_finding_format(w, b->findings[1]);
	assert_string_equal(jsonw__data(w, NULL), json2);
	jsonw__free(w);
}

static void test_finding_full(void **state)
{
	struct finding f = full_finding(), g = full_finding();
	size_t len;
	uint8_t *buf;
	char *e1, *e2;

	(void)state;
	/* the second: a host process over IPv6/UDP inbound, no file, no args */
	g.container = NULL;
	g.has_file = false;
	g.process.argv = NULL;
	g.process.argc = 0;
	g.severity = SEV_INFO;
	g.action = FACT_LEARN;
	g.mode = MODE_DISCOVER;
	g.net.family = AF_INET6;
	g.net.proto = IPPROTO_UDP;
	g.net.inbound = true;
	assert_int_equal(inet_pton(AF_INET6, "fd00::7", g.net.laddr), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::10", g.net.raddr), 1);
	g.count = 1;

	/* the converted finding reads exactly as the engine's JSON, minus kind */
	e1 = engine_json(&f);
	e2 = engine_json(&g);
	assert_string_equal(e1, FULL_JSON);
	assert_non_null(strstr(e2, "\"container\":null"));
	assert_non_null(strstr(e2, "\"local_ip\":\"fd00::7\""));

	buf = frame_findings(&f, &g, 9, &len);
	/* whole, byte by byte, and in random chunk sizes */
	Wacht__V1__Envelope *env = read_one(buf, len, len);
	check_full(env, e2);
	wire_envelope_free(env);
	env = read_one(buf, len, 1);
	check_full(env, e2);
	wire_envelope_free(env);
	srand(5);
	for (int i = 0; i < 50; i++) {
		env = read_one(buf, len, 0);
		check_full(env, e2);
		wire_envelope_free(env);
	}
	free(buf);
	free(e1);
	free(e2);
}

/* Every enum value and the absent/odd parts of a message from the wire. */
static void test_finding_format_edges(void **state)
{
	struct jsonw *w = jsonw__new();
	Wacht__V1__Finding m = WACHT__V1__FINDING__INIT;
	Wacht__V1__Network n = WACHT__V1__NETWORK__INIT;
	uint8_t ip3[3] = { 1, 2, 3 };

	(void)state;
	assert_non_null(w);
	/* nothing set: rule and process written empty, as the engine never
	 * leaves them out */
	wire_finding_format(w, &m);
	assert_string_equal(jsonw__data(w, NULL),
		"{\"time\":\"1970-01-01T00:00:00.000000000Z\",\"node\":\"\",\"name\":\"\","
		"\"severity\":\"\",\"action\":\"\",\"mode\":\"\","
		"\"rule\":{\"id\":\"\",\"name\":\"\",\"group\":\"\"},\"container\":null,"
		"\"process\":{\"pid\":0,\"ppid\":0,\"uid\":0,\"euid\":0,\"name\":\"\",\"exe\":\"\","
		"\"args\":[],\"parent_exe\":\"\"},\"message\":\"\",\"count\":0}");

	/* before the epoch, unknown enums, a bad address, another protocol */
	m.time_unix_ns = -1;
	m.severity = 99;
	m.action = 99;
	m.mode = 99;
	n.proto = IPPROTO_ICMP;
	n.local_ip.len = 3;
	n.local_ip.data = ip3;
	m.network = &n;
	jsonw__reset(w);
	wire_finding_format(w, &m);
	const char *s = jsonw__data(w, NULL);
	assert_non_null(strstr(s, "\"time\":\"1969-12-31T23:59:59.999999999Z\""));
	assert_non_null(strstr(s, "\"severity\":\"\",\"action\":\"\",\"mode\":\"\""));
	assert_non_null(strstr(s, "\"network\":{\"proto\":\"other\",\"direction\":\"\","
				  "\"local_ip\":\"\",\"local_port\":0,\"remote_ip\":\"\""));

	/* each severity, action and mode maps to the engine's name */
	static const struct { enum severity s; const char *name; } sev[] = {
		{ SEV_INFO, "info" }, { SEV_LOW, "low" }, { SEV_MEDIUM, "medium" },
		{ SEV_HIGH, "high" }, { SEV_CRITICAL, "critical" },
	};
	static const struct { enum finding_action a; const char *name; } act[] = {
		{ FACT_ALERT, "alert" }, { FACT_DENY, "deny" }, { FACT_KILL, "kill" },
		{ FACT_LEARN, "learn" },
	};
	static const struct { enum policy_mode m; const char *name; } mode[] = {
		{ MODE_UNSET, "" }, { MODE_DISCOVER, "Discover" }, { MODE_MONITOR, "Monitor" },
		{ MODE_PROTECT, "Protect" },
	};
	for (size_t i = 0; i < 5; i++) {
		struct finding f = full_finding();
		struct wire_finding wf;
		char want[160];

		f.severity = sev[i].s;
		f.action = act[i % 4].a;
		f.mode = mode[i % 4].m;
		assert_int_equal(wire_finding__init(&wf, &fc, "s", i, &f), 0);
		jsonw__reset(w);
		wire_finding_format(w, &wf.msg);
		snprintf(want, sizeof(want), "\"severity\":\"%s\",\"action\":\"%s\",\"mode\":\"%s\"",
			 sev[i].name, act[i % 4].name, mode[i % 4].name);
		assert_non_null(strstr(jsonw__data(w, NULL), want));
		char *e = engine_json(&f);
		assert_string_equal(jsonw__data(w, NULL), e);
		free(e);
		wire_finding__release(&wf);
	}
	wire_finding__release(&(struct wire_finding){ 0 }); /* harmless when empty */
	jsonw__free(w);
}

/* ---- the reader's limits and errors */

static void test_max_size(void **state)
{
	const size_t max = 64;
	struct wire_reader *r = wire_reader__new(max);
	Wacht__V1__Envelope env, *out;
	Wacht__V1__SensorHello h = WACHT__V1__SENSOR_HELLO__INIT;
	char node[64];
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_non_null(r);
	/* a hello whose payload is exactly max bytes: 2 (version) + 2 (body
	 * tag, length) + 2 (node tag, length) + node */
	memset(node, 'n', sizeof(node));
	node[max - 6] = 0;
	wire_envelope_init(&env);
	h.node = node;
	env.body_case = WACHT__V1__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	buf = frame(&env, &len);
	assert_int_equal(len, 4 + max);
	assert_int_equal(wire_reader__feed(r, buf, len), 0);
	assert_int_equal(wire_reader__next(r, &out), 1);
	assert_string_equal(out->hello->node, node);
	wire_envelope_free(out);
	free(buf);

	/* one byte more: refused from the header alone, before the payload */
	node[max - 5] = 0;
	node[max - 6] = 'n';
	buf = frame(&env, &len);
	assert_int_equal(len, 4 + max + 1);
	assert_int_equal(wire_reader__feed(r, buf, 3), 0);
	assert_int_equal(wire_reader__next(r, &out), 0);
	assert_int_equal(wire_reader__feed(r, buf + 3, 1), -EMSGSIZE);
	assert_null(out);
	assert_int_equal(wire_reader__buffered(r), 0);
	/* and in error for good */
	assert_int_equal(wire_reader__next(r, &out), -EMSGSIZE);
	assert_int_equal(wire_reader__feed(r, buf, len), -EMSGSIZE);
	wire_reader__free(r);

	/* the same when the whole frame comes in one feed */
	r = wire_reader__new(max);
	assert_int_equal(wire_reader__feed(r, buf, len), -EMSGSIZE);
	wire_reader__free(r);
	/* and when it follows a good frame in the same feed: the good one
	 * first, then the error */
	r = wire_reader__new(max);
	uint8_t two[4 + 6 + 4] = { 0, 0, 0, 6, 0x08, 0x01, 0x2a, 0x02, 0x08, 0x05,
				   0xff, 0xff, 0xff, 0xff };
	assert_int_equal(wire_reader__feed(r, two, sizeof(two)), 0);
	assert_int_equal(wire_reader__next(r, &out), 1);
	assert_int_equal(out->ack->batch_seq, 5);
	wire_envelope_free(out);
	assert_int_equal(wire_reader__next(r, &out), -EMSGSIZE);
	assert_null(out);
	wire_reader__free(r);
	free(buf);

	/* the default limit is WIRE_FRAME_MAX */
	r = wire_reader__new(0);
	uint8_t hdr[4] = { (WIRE_FRAME_MAX >> 24) & 0xff, (WIRE_FRAME_MAX >> 16) & 0xff, (WIRE_FRAME_MAX >> 8) & 0xff,
			   WIRE_FRAME_MAX & 0xff };
	assert_int_equal(wire_reader__feed(r, hdr, 4), 0);
	assert_int_equal(wire_reader__next(r, &out), 0);
	wire_reader__free(r);
	r = wire_reader__new(0);
	hdr[3] += 1;
	assert_int_equal(wire_reader__feed(r, hdr, 4), -EMSGSIZE);
	wire_reader__free(r);
}

static int feed_all(const uint8_t *buf, size_t len, Wacht__V1__Envelope **out)
{
	struct wire_reader *r = wire_reader__new(0);
	int rc;

	assert_non_null(r);
	rc = wire_reader__feed(r, buf, len);
	if (rc == 0)
		rc = wire_reader__next(r, out);
	wire_reader__free(r);
	return rc;
}

static void test_truncated_and_garbage(void **state)
{
	static const uint8_t ack[] = { 0x08, 0x01, 0x2a, 0x02, 0x08, 0x05 };
	Wacht__V1__Envelope *out = NULL;
	uint8_t *buf;
	size_t len;

	(void)state;
	buf = raw_frame(ack, sizeof(ack), &len);
	/* every truncation wants more bytes and yields nothing */
	for (size_t n = 0; n < len; n++) {
		struct wire_reader *r = wire_reader__new(0);

		assert_int_equal(wire_reader__feed(r, buf, n), 0);
		assert_int_equal(wire_reader__next(r, &out), 0);
		assert_null(out);
		assert_int_equal(wire_reader__buffered(r), n);
		wire_reader__free(r);
	}
	free(buf);

	/* a payload that is not protobuf */
	static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	buf = raw_frame(garbage, sizeof(garbage), &len);
	assert_int_equal(feed_all(buf, len, &out), -EBADMSG);
	assert_null(out);
	free(buf);
	/* a length-delimited field running past the payload (truncated inside) */
	static const uint8_t cut[] = { 0x08, 0x01, 0x2a, 0x05, 0x08, 0x05 };
	buf = raw_frame(cut, sizeof(cut), &len);
	assert_int_equal(feed_all(buf, len, &out), -EBADMSG);
	free(buf);
	/* an empty payload: no version, no body */
	buf = raw_frame(NULL, 0, &len);
	assert_int_equal(feed_all(buf, len, &out), -EBADMSG);
	free(buf);
	/* a version and no body */
	static const uint8_t nobody[] = { 0x08, 0x01 };
	buf = raw_frame(nobody, sizeof(nobody), &len);
	assert_int_equal(feed_all(buf, len, &out), -EBADMSG);
	free(buf);
	/* a body this version does not know (field 15; 7 is LearnedProfile) */
	static const uint8_t unknown[] = { 0x08, 0x01, 0x7a, 0x00 };
	buf = raw_frame(unknown, sizeof(unknown), &len);
	assert_int_equal(feed_all(buf, len, &out), -EBADMSG);
	free(buf);
	/* field number 0 (tag written in two bytes) inside the Ack: not
	 * protobuf, though protobuf-c would keep it as an unknown field */
	static const uint8_t field0[] = { 0x08, 0x01, 0x2a, 0x0c, 0x08, 0x05, 0x81, 0x00,
					  1, 2, 3, 4, 5, 6, 7, 8 };
	buf = raw_frame(field0, sizeof(field0), &len);
	assert_int_equal(feed_all(buf, len, &out), -EBADMSG);
	free(buf);
	/* while an unknown field with a real number (from a newer sensor)
	 * is accepted */
	static const uint8_t field9[] = { 0x08, 0x01, 0x2a, 0x04, 0x08, 0x05, 0x48, 0x07 };
	buf = raw_frame(field9, sizeof(field9), &len);
	assert_int_equal(feed_all(buf, len, &out), 1);
	assert_int_equal(out->ack->batch_seq, 5);
	wire_envelope_free(out);
	free(buf);
	/* a Finding whose enum holds a value of the wrong wire type */
	static const uint8_t badtype[] = { 0x08, 0x01, 0x22, 0x04, 0x12, 0x02, 0x2d, 0x01 };
	buf = raw_frame(badtype, sizeof(badtype), &len);
	assert_int_equal(feed_all(buf, len, &out), -EBADMSG);
	free(buf);
}

static void test_error_is_final(void **state)
{
	static const uint8_t good[] = { 0, 0, 0, 6, 0x08, 0x01, 0x2a, 0x02, 0x08, 0x05 };
	static const uint8_t bad[] = { 0, 0, 0, 1, 0xff };
	struct wire_reader *r = wire_reader__new(0);
	Wacht__V1__Envelope *out;

	(void)state;
	assert_int_equal(wire_reader__feed(r, good, sizeof(good)), 0);
	assert_int_equal(wire_reader__feed(r, bad, sizeof(bad)), 0);
	assert_int_equal(wire_reader__feed(r, good, sizeof(good)), 0);
	assert_int_equal(wire_reader__next(r, &out), 1);
	wire_envelope_free(out);
	assert_int_equal(wire_reader__next(r, &out), -EBADMSG);
	/* the good frame after the bad one is never returned */
	assert_int_equal(wire_reader__next(r, &out), -EBADMSG);
	assert_null(out);
	assert_int_equal(wire_reader__feed(r, good, sizeof(good)), -EBADMSG);
	assert_int_equal(wire_reader__next(r, &out), -EBADMSG);
	assert_int_equal(wire_reader__buffered(r), 0);
	wire_reader__free(r);
	wire_reader__free(NULL);
	wire_envelope_free(NULL);
}

static void test_version_mismatch(void **state)
{
	Wacht__V1__Envelope env, *out;
	Wacht__V1__Ack ack = WACHT__V1__ACK__INIT;
	uint8_t *buf;
	size_t len;

	(void)state;
	wacht__v1__envelope__init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	/* unset (0), the next version, and one far off */
	const uint32_t versions[] = { 0, WIRE_VERSION + 1, UINT32_MAX };
	for (size_t i = 0; i < 3; i++) {
		env.version = versions[i];
		buf = frame(&env, &len);
		out = NULL;
		assert_int_equal(feed_all(buf, len, &out), -EBADMSG);
		assert_null(out);
		free(buf);
	}
	env.version = WIRE_VERSION;
	buf = frame(&env, &len);
	assert_int_equal(feed_all(buf, len, &out), 1);
	wire_envelope_free(out);
	free(buf);
}

/* Many frames back to back, fed in odd chunks, come out in order. */
static void test_stream_of_frames(void **state)
{
	struct wire_reader *r = wire_reader__new(0);
	Wacht__V1__Envelope env, *out;
	Wacht__V1__Ack ack = WACHT__V1__ACK__INIT;
	uint8_t *stream = NULL;
	size_t slen = 0, off = 0;
	uint64_t want = 0;

	(void)state;
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	for (uint64_t i = 0; i < 1000; i++) {
		uint8_t *f;
		size_t n;

		ack.batch_seq = i * 1000003;
		f = frame(&env, &n);
		stream = realloc(stream, slen + n);
		assert_non_null(stream);
		memcpy(stream + slen, f, n);
		slen += n;
		free(f);
	}
	srand(11);
	while (off < slen) {
		size_t n = 1 + (size_t)(rand() % 300);

		if (n > slen - off)
			n = slen - off;
		assert_int_equal(wire_reader__feed(r, stream + off, n), 0);
		off += n;
		while (wire_reader__next(r, &out) == 1) {
			assert_true(out->ack->batch_seq == want * 1000003);
			want++;
			wire_envelope_free(out);
		}
		/* never more than one partial frame held */
		assert_true(wire_reader__buffered(r) < 4 + 16);
	}
	assert_int_equal(want, 1000);
	assert_int_equal(wire_reader__next(r, &out), 0);
	free(stream);
	wire_reader__free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_hello),
		cmocka_unit_test(test_roundtrip_server_hello_ack_flows),
		cmocka_unit_test(test_frame_bytes),
		cmocka_unit_test(test_finding_full),
		cmocka_unit_test(test_finding_format_edges),
		cmocka_unit_test(test_max_size),
		cmocka_unit_test(test_truncated_and_garbage),
		cmocka_unit_test(test_error_is_final),
		cmocka_unit_test(test_version_mismatch),
		cmocka_unit_test(test_stream_of_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
