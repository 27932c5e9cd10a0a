// SPDX-License-Identifier: Apache-2.0
/* test_finding.c: unit tests of findings as JSON and of their aggregation. */
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

/* 2026-01-01T00:00:00Z is 1767225600 s after the epoch; boot time 5 s
 * before it, so ts_ns = 5 s + x reads as 00:00:00 + x. */
static const struct format_ctx fc = {
	.node = "node-1",
	.boot_to_real_ns = 1767225600000000000LL - 5000000000LL,
};

static const struct container_view web = {
	.id = "0123456789abcdef", .runtime = "crio", .name = "web",
	.image = "registry.local/shop/web:1.4", .pod = "web-7d9f8c6b5-x2x7k", .namespace = "shop",
	.pod_uid = "6f1c7d7e-1111-2222-3333-444455556666", .cgroup = "/kubepods.slice/x.scope",
	.cgroup_id = 0x1001,
};

static const char ARGV[] = "nc\0-e\0/bin/sh\0"; /* 3 strings */

static struct finding process_finding(void)
{
	struct finding f = {
		.ts_ns = 5000000000ull + 123456789ull,
		.name = FN_SUSPICIOUS,
		.severity = SEV_HIGH,
		.action = FACT_KILL,
		.mode = MODE_PROTECT,
		.rule = { "builtin:suspicious-process", "suspicious process", "" },
		.container = &web,
		.group = "nv.web.shop",
		.process = { .pid = 4242, .ppid = 4200, .uid = 1000, .euid = 1000, .name = "nc",
			     .exe = "/usr/bin/nc", .parent_exe = "/bin/sh", .argv = ARGV, .argc = 3 },
		.file = { "", "" },
		.net = { .peer_group = "" },
		.message = "suspicious process nc (/usr/bin/nc)",
		.count = 1,
	};
	return f;
}

static void test_format_process(void **state)
{
	struct jsonw *w = jsonw__new();
	struct finding f = process_finding();

	(void)state;
	assert_non_null(w);
	finding_format(w, &fc, &f);
	assert_int_equal(jsonw__error(w), 0);
	assert_string_equal(
		jsonw__data(w, NULL),
		"{\"time\":\"2026-01-01T00:00:00.123456789Z\",\"node\":\"node-1\",\"kind\":\"finding\","
		"\"name\":\"Container.Suspicious.Process\",\"severity\":\"high\",\"action\":\"kill\","
		"\"mode\":\"Protect\","
		"\"rule\":{\"id\":\"builtin:suspicious-process\",\"name\":\"suspicious process\",\"group\":\"\"},"
		"\"container\":{\"id\":\"0123456789abcdef\",\"name\":\"web\","
		"\"image\":\"registry.local/shop/web:1.4\",\"pod\":\"web-7d9f8c6b5-x2x7k\","
		"\"namespace\":\"shop\",\"group\":\"nv.web.shop\"},"
		"\"process\":{\"pid\":4242,\"ppid\":4200,\"uid\":1000,\"euid\":1000,\"name\":\"nc\","
		"\"exe\":\"/usr/bin/nc\",\"args\":[\"nc\",\"-e\",\"/bin/sh\"],\"parent_exe\":\"/bin/sh\"},"
		"\"message\":\"suspicious process nc (/usr/bin/nc)\",\"count\":1}");

	/* a host process: container null; no argv: [] */
	f.container = NULL;
	f.process.argv = NULL;
	f.process.argc = 0;
	f.name = FN_PRIV_ESC;
	f.severity = SEV_CRITICAL;
	f.action = FACT_ALERT;
	f.mode = MODE_UNSET;
	f.count = 7;
	f.message = "say \"hi\"\n";
	jsonw__reset(w);
	finding_format(w, &fc, &f);
	assert_string_equal(
		jsonw__data(w, NULL),
		"{\"time\":\"2026-01-01T00:00:00.123456789Z\",\"node\":\"node-1\",\"kind\":\"finding\","
		"\"name\":\"Container.Privilege.Escalation\",\"severity\":\"critical\",\"action\":\"alert\","
		"\"mode\":\"\","
		"\"rule\":{\"id\":\"builtin:suspicious-process\",\"name\":\"suspicious process\",\"group\":\"\"},"
		"\"container\":null,"
		"\"process\":{\"pid\":4242,\"ppid\":4200,\"uid\":1000,\"euid\":1000,\"name\":\"nc\","
		"\"exe\":\"/usr/bin/nc\",\"args\":[],\"parent_exe\":\"/bin/sh\"},"
		"\"message\":\"say \\\"hi\\\"\\n\",\"count\":7}");
	jsonw__free(w);
}

static void test_format_file(void **state)
{
	struct jsonw *w = jsonw__new();
	struct finding f = {
		.ts_ns = 5000000000ull + 1,
		.name = FN_FILE_VIOLATION,
		.severity = SEV_HIGH,
		.action = FACT_DENY,
		.mode = MODE_PROTECT,
		.rule = { "rules/shop.yaml:31", "/etc/secret/*", "nv.web.shop" },
		.container = &web,
		.group = "nv.web.shop",
		.process = { .pid = 77, .ppid = 1, .uid = 0, .euid = 0, .name = "cat", .exe = "/bin/cat",
			     .parent_exe = "" },
		.has_file = true,
		.file = { "/etc/secret/tls/key.pem", "access" },
		.net = { .peer_group = "" },
		.message = "cat may not access /etc/secret/tls/key.pem (block_access /etc/secret/*)",
		.count = 1,
	};

	(void)state;
	assert_non_null(w);
	finding_format(w, &fc, &f);
	assert_string_equal(
		jsonw__data(w, NULL),
		"{\"time\":\"2026-01-01T00:00:00.000000001Z\",\"node\":\"node-1\",\"kind\":\"finding\","
		"\"name\":\"Container.FileAccess.Violation\",\"severity\":\"high\",\"action\":\"deny\","
		"\"mode\":\"Protect\","
		"\"rule\":{\"id\":\"rules/shop.yaml:31\",\"name\":\"/etc/secret/*\",\"group\":\"nv.web.shop\"},"
		"\"container\":{\"id\":\"0123456789abcdef\",\"name\":\"web\","
		"\"image\":\"registry.local/shop/web:1.4\",\"pod\":\"web-7d9f8c6b5-x2x7k\","
		"\"namespace\":\"shop\",\"group\":\"nv.web.shop\"},"
		"\"process\":{\"pid\":77,\"ppid\":1,\"uid\":0,\"euid\":0,\"name\":\"cat\","
		"\"exe\":\"/bin/cat\",\"args\":[],\"parent_exe\":\"\"},"
		"\"file\":{\"path\":\"/etc/secret/tls/key.pem\",\"op\":\"access\"},"
		"\"message\":\"cat may not access /etc/secret/tls/key.pem (block_access /etc/secret/*)\","
		"\"count\":1}");
	jsonw__free(w);
}

static void test_format_network(void **state)
{
	struct jsonw *w = jsonw__new();
	struct finding f = {
		.ts_ns = 5000000000ull + 86400000000000ull + 3723000000000ull, /* +1 day 01:02:03 */
		.name = FN_NET_VIOLATION,
		.severity = SEV_MEDIUM,
		.action = FACT_ALERT,
		.mode = MODE_MONITOR,
		.rule = { "profile:nv.web.shop", "", "nv.web.shop" },
		.container = &web,
		.group = "nv.web.shop",
		.process = { .pid = 700, .ppid = 1, .uid = 101, .euid = 101, .name = "curl",
			     .exe = "/usr/bin/curl", .parent_exe = "/bin/sh" },
		.has_net = true,
		.net = { .proto = IPPROTO_TCP, .family = AF_INET, .inbound = false,
			 .laddr = { 10, 244, 1, 7 }, .raddr = { 203, 0, 113, 10 }, .lport = 41000,
			 .rport = 8081, .peer_group = "external" },
		.file = { "", "" },
		.message = "connection to external tcp/8081 matches no network rule",
		.count = 3,
	};

	(void)state;
	assert_non_null(w);
	finding_format(w, &fc, &f);
	assert_string_equal(
		jsonw__data(w, NULL),
		"{\"time\":\"2026-01-02T01:02:03.000000000Z\",\"node\":\"node-1\",\"kind\":\"finding\","
		"\"name\":\"Network.Violation\",\"severity\":\"medium\",\"action\":\"alert\","
		"\"mode\":\"Monitor\","
		"\"rule\":{\"id\":\"profile:nv.web.shop\",\"name\":\"\",\"group\":\"nv.web.shop\"},"
		"\"container\":{\"id\":\"0123456789abcdef\",\"name\":\"web\","
		"\"image\":\"registry.local/shop/web:1.4\",\"pod\":\"web-7d9f8c6b5-x2x7k\","
		"\"namespace\":\"shop\",\"group\":\"nv.web.shop\"},"
		"\"process\":{\"pid\":700,\"ppid\":1,\"uid\":101,\"euid\":101,\"name\":\"curl\","
		"\"exe\":\"/usr/bin/curl\",\"args\":[],\"parent_exe\":\"/bin/sh\"},"
		"\"network\":{\"proto\":\"tcp\",\"direction\":\"outbound\",\"local_ip\":\"10.244.1.7\","
		"\"local_port\":41000,\"remote_ip\":\"203.0.113.10\",\"remote_port\":8081,"
		"\"peer_group\":\"external\"},"
		"\"message\":\"connection to external tcp/8081 matches no network rule\",\"count\":3}");

	/* IPv6, inbound, udp */
	f.net.family = AF_INET6;
	f.net.proto = IPPROTO_UDP;
	f.net.inbound = true;
	assert_int_equal(inet_pton(AF_INET6, "fd00::7", f.net.laddr), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::10", f.net.raddr), 1);
	f.net.lport = 53;
	f.net.rport = 40000;
	jsonw__reset(w);
	finding_format(w, &fc, &f);
	assert_non_null(strstr(jsonw__data(w, NULL),
			       "\"network\":{\"proto\":\"udp\",\"direction\":\"inbound\","
			       "\"local_ip\":\"fd00::7\",\"local_port\":53,\"remote_ip\":\"2001:db8::10\","
			       "\"remote_port\":40000,\"peer_group\":\"external\"}"));
	jsonw__free(w);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(severity_name(SEV_INFO), "info");
	assert_string_equal(severity_name(SEV_LOW), "low");
	assert_string_equal(severity_name(SEV_MEDIUM), "medium");
	assert_string_equal(severity_name(SEV_HIGH), "high");
	assert_string_equal(severity_name(SEV_CRITICAL), "critical");
	assert_string_equal(severity_name((enum severity)9), "info");
	assert_string_equal(finding_action_name(FACT_ALERT), "alert");
	assert_string_equal(finding_action_name(FACT_DENY), "deny");
	assert_string_equal(finding_action_name(FACT_KILL), "kill");
	assert_string_equal(finding_action_name(FACT_LEARN), "learn");
}

/* ------------------------------------------------------------------ */
/* Aggregation                                                         */

struct out {
	char *name, *exe, *path, *msg, *cid, *cname, *argv0, *rule_id;
	uint64_t ts, count;
	uint32_t pid;
};
static struct out outs[256];
static size_t n_out;

static void sink(void *ctx, const struct finding *f)
{
	struct out *o = &outs[n_out++];

	(void)ctx;
	assert_true(n_out <= 256);
	o->name = strdup(f->name);
	o->exe = strdup(f->process.exe);
	o->path = strdup(f->has_file ? f->file.path : "");
	o->msg = strdup(f->message);
	o->cid = strdup(f->container ? f->container->id : "(host)");
	o->cname = strdup(f->container ? f->container->name : "(host)");
	o->argv0 = strdup(f->process.argc ? f->process.argv : "");
	o->rule_id = strdup(f->rule.id);
	o->ts = f->ts_ns;
	o->count = f->count;
	o->pid = f->process.pid;
}

static int outs_clear(void **state)
{
	(void)state;
	for (size_t i = 0; i < n_out; i++) {
		free(outs[i].name);
		free(outs[i].exe);
		free(outs[i].path);
		free(outs[i].msg);
		free(outs[i].cid);
		free(outs[i].cname);
		free(outs[i].argv0);
		free(outs[i].rule_id);
	}
	memset(outs, 0, sizeof(outs));
	n_out = 0;
	return 0;
}

#define S 1000000000ull

static struct finding at(uint64_t ts)
{
	struct finding f = process_finding();

	f.ts_ns = ts;
	return f;
}

static void test_window(void **state)
{
	struct aggregator *a = aggregator__new(10 * S, 16, sink, NULL);
	struct finding f;

	(void)state;
	assert_non_null(a);
	f = at(100 * S);
	aggregator__add(a, &f); /* the first goes out at once */
	assert_int_equal(n_out, 1);
	assert_int_equal(outs[0].count, 1);
	assert_int_equal(outs[0].ts, 100 * S);
	assert_string_equal(outs[0].msg, "suspicious process nc (/usr/bin/nc)");
	assert_int_equal(aggregator__open(a), 1);

	/* repeats inside the window are counted; a different pid is the same finding */
	for (int i = 1; i <= 4; i++) {
		f = at(100 * S + i * S);
		f.process.pid = 5000 + i;
		aggregator__add(a, &f);
	}
	assert_int_equal(n_out, 1);
	assert_int_equal(aggregator__suppressed(a), 4);
	/* not yet closed */
	aggregator__flush(a, 100 * S + 10 * S - 1);
	assert_int_equal(n_out, 1);
	/* closed at first + window: one record standing for the 4 */
	aggregator__flush(a, 110 * S);
	assert_int_equal(n_out, 2);
	assert_int_equal(outs[1].count, 4);
	assert_int_equal(outs[1].ts, 104 * S); /* the last occurrence */
	assert_string_equal(outs[1].msg, "repeated 4 times in 10 s");
	assert_string_equal(outs[1].name, FN_SUSPICIOUS);
	assert_string_equal(outs[1].exe, "/usr/bin/nc");
	assert_string_equal(outs[1].cid, "0123456789abcdef");
	assert_string_equal(outs[1].cname, "web");
	assert_string_equal(outs[1].argv0, "nc");
	assert_int_equal(aggregator__open(a), 0);
	aggregator__flush(a, UINT64_MAX);
	assert_int_equal(n_out, 2);

	/* a window without repeats closes silently */
	f = at(200 * S);
	aggregator__add(a, &f);
	assert_int_equal(n_out, 3);
	aggregator__flush(a, 300 * S);
	assert_int_equal(n_out, 3);
	assert_int_equal(aggregator__open(a), 0);

	/* a repeat after the window: the old one closes, the new one goes out */
	f = at(400 * S);
	aggregator__add(a, &f);
	f = at(401 * S);
	aggregator__add(a, &f);
	f = at(410 * S);
	aggregator__add(a, &f);
	assert_int_equal(n_out, 6);
	assert_int_equal(outs[3].count, 1);
	assert_int_equal(outs[3].ts, 400 * S);
	assert_int_equal(outs[4].count, 1); /* the one repeat of 400 */
	assert_int_equal(outs[4].ts, 401 * S);
	assert_string_equal(outs[4].msg, "repeated 1 times in 10 s");
	assert_int_equal(outs[5].count, 1);
	assert_int_equal(outs[5].ts, 410 * S);
	assert_string_equal(outs[5].msg, "suspicious process nc (/usr/bin/nc)");
	assert_int_equal(aggregator__suppressed(a), 5);
	aggregator__flush(a, UINT64_MAX);
	assert_int_equal(n_out, 6);

	/* a finding that already stands for several adds its count */
	f = at(500 * S);
	aggregator__add(a, &f);
	f = at(501 * S);
	f.count = 40;
	aggregator__add(a, &f);
	aggregator__flush(a, UINT64_MAX);
	assert_int_equal(n_out, 8);
	assert_int_equal(outs[7].count, 40);
	assert_int_equal(aggregator__suppressed(a), 45);
	aggregator__free(a);
	outs_clear(NULL);
}

/* Each field of the key keeps findings apart; the others do not. */
static void test_keys(void **state)
{
	struct aggregator *a = aggregator__new(10 * S, 64, sink, NULL);
	static const struct container_view other = {
		.id = "ffff", .runtime = "", .name = "web", .image = "", .pod = "", .namespace = "",
		.pod_uid = "", .cgroup = "",
	};
	struct finding base = process_finding(), f;
	size_t expect_open = 0;

	(void)state;
	assert_non_null(a);
	base.ts_ns = 100 * S;
	base.has_file = true;
	base.file.path = "/etc/passwd";
	base.file.op = "modify";
	base.has_net = true;
	base.net.proto = IPPROTO_TCP;
	base.net.family = AF_INET;
	base.net.raddr[0] = 10;
	base.net.rport = 80;
	base.net.lport = 41000;
	aggregator__add(a, &base);
	expect_open++;

#define VARY(stmt)                                                              \
	do {                                                                    \
		f = base;                                                       \
		stmt;                                                           \
		aggregator__add(a, &f);                                         \
		expect_open++;                                                  \
		assert_int_equal(aggregator__open(a), expect_open);             \
		assert_int_equal(n_out, expect_open);                           \
	} while (0)
	VARY(f.name = FN_PROCESS_VIOLATION);
	VARY(f.rule.id = "builtin:other");
	VARY(f.action = FACT_ALERT);
	VARY(f.container = &other);
	VARY(f.container = NULL);
	VARY(f.process.exe = "/usr/bin/ncat");
	VARY(f.process.name = "ncat");
	VARY(f.file.path = "/etc/shadow");
	VARY(f.file.op = "delete");
	VARY(f.net.proto = IPPROTO_UDP);
	VARY(f.net.inbound = true);
	VARY(f.net.raddr[3] = 1);
	VARY(f.net.rport = 81);
	VARY(f.has_file = false);
	VARY(f.has_net = false);
	/* the reason (e.g. which zero-drift condition) keeps findings apart */
	VARY(f.message = "other words");
#undef VARY
	assert_int_equal(aggregator__suppressed(a), 0);

	/* not in the key: pid, ppid, uids, severity, mode, rule name
	 * and group, parent, args, the local port of an outbound connection */
#define SAME(stmt)                                                              \
	do {                                                                    \
		f = base;                                                       \
		stmt;                                                           \
		aggregator__add(a, &f);                                         \
		assert_int_equal(aggregator__open(a), expect_open);             \
		assert_int_equal(n_out, expect_open);                           \
	} while (0)
	SAME(f.process.pid = 1);
	SAME(f.process.ppid = 2);
	SAME(f.process.euid = 0);
	SAME(f.severity = SEV_LOW);
	SAME(f.mode = MODE_MONITOR);
	SAME(f.rule.name = "x");
	SAME(f.rule.group = "y");
	SAME(f.process.parent_exe = "/bin/bash");
	SAME(f.process.argc = 1);
	SAME(f.net.lport = 41001);
	SAME(f.ts_ns = 109 * S);
#undef SAME
	assert_int_equal(aggregator__suppressed(a), 11);
	aggregator__flush(a, UINT64_MAX);
	assert_int_equal(n_out, expect_open + 1);
	assert_int_equal(outs[n_out - 1].count, 11);
	assert_int_equal(aggregator__open(a), 0);

	/* inbound: the local port is the service, so it is in the key */
	outs_clear(NULL);
	base.net.inbound = true;
	base.net.lport = 8080;
	base.net.rport = 50000;
	aggregator__add(a, &base);
	f = base;
	f.net.rport = 50001; /* another client port: same */
	aggregator__add(a, &f);
	f.net.lport = 8081;  /* another service port: different */
	aggregator__add(a, &f);
	assert_int_equal(n_out, 2);
	assert_int_equal(aggregator__open(a), 2);
	assert_int_equal(aggregator__suppressed(a), 12);
	aggregator__flush(a, UINT64_MAX);
	aggregator__free(a);
	outs_clear(NULL);
}

/* max_keys full: the oldest window is closed early, its count passed on. */
static void test_overflow(void **state)
{
	struct aggregator *a = aggregator__new(60 * S, 2, sink, NULL);
	static const char *exes[] = { "/a", "/b", "/c", "/d", "/e" };
	uint64_t total = 0, sum = 0;
	struct finding f;

	(void)state;
	assert_non_null(a);
	/* A x3, B x2: two windows open */
	for (int i = 0; i < 3; i++) {
		f = at(S + i);
		f.process.exe = "/a";
		aggregator__add(a, &f);
		total++;
	}
	for (int i = 0; i < 2; i++) {
		f = at(2 * S + i);
		f.process.exe = "/b";
		aggregator__add(a, &f);
		total++;
	}
	assert_int_equal(n_out, 2);
	assert_int_equal(aggregator__open(a), 2);
	/* C: A (the oldest) is flushed with its 2 repeats, C goes out */
	f = at(3 * S);
	f.process.exe = "/c";
	aggregator__add(a, &f);
	total++;
	assert_int_equal(n_out, 4);
	assert_int_equal(aggregator__open(a), 2);
	bool saw_a = false, saw_c = false;
	for (size_t i = 2; i < 4; i++) {
		if (strcmp(outs[i].exe, "/a") == 0) {
			saw_a = true;
			assert_int_equal(outs[i].count, 2);
			assert_string_equal(outs[i].msg, "repeated 2 times in 60 s");
		} else if (strcmp(outs[i].exe, "/c") == 0) {
			saw_c = true;
			assert_int_equal(outs[i].count, 1);
		}
	}
	assert_true(saw_a && saw_c);
	/* B's and C's windows are the open ones: a repeat of B is counted */
	f = at(4 * S);
	f.process.exe = "/b";
	aggregator__add(a, &f);
	total++;
	assert_int_equal(n_out, 4);
	/* many keys through a table of 2: nothing is lost */
	for (int round = 0; round < 20; round++) {
		for (size_t k = 0; k < 5; k++) {
			f = at(5 * S + (uint64_t)round * 5 + k);
			f.process.exe = exes[k];
			aggregator__add(a, &f);
			total++;
			assert_true(aggregator__open(a) <= 2);
		}
	}
	aggregator__flush(a, UINT64_MAX);
	assert_int_equal(aggregator__open(a), 0);
	for (size_t i = 0; i < n_out; i++)
		sum += outs[i].count;
	assert_int_equal(sum, total);
	assert_int_equal(total, 107);
	/* passed on at once or counted: every occurrence once */
	size_t firsts = 0;
	for (size_t i = 0; i < n_out; i++)
		firsts += strncmp(outs[i].msg, "repeated", 8) != 0;
	assert_int_equal(firsts + aggregator__suppressed(a), total);
	aggregator__free(a);
	outs_clear(NULL);

	/* max_keys 0 is taken as 1 */
	a = aggregator__new(60 * S, 0, sink, NULL);
	assert_non_null(a);
	f = at(S);
	aggregator__add(a, &f);
	aggregator__add(a, &f);
	f.process.exe = "/z";
	aggregator__add(a, &f);
	assert_int_equal(aggregator__open(a), 1);
	assert_int_equal(n_out, 3);
	assert_int_equal(outs[2].count, 1);
	assert_string_equal(outs[2].exe, "/usr/bin/nc");
	aggregator__flush(a, UINT64_MAX);
	assert_int_equal(n_out, 3);
	aggregator__free(a);
	outs_clear(NULL);
}

/* The held copy owns its strings: the caller's buffers are gone by the
 * time the window closes (ASan reports any use). */
static void test_held_copy(void **state)
{
	struct aggregator *a = aggregator__new(10 * S, 4, sink, NULL);
	struct finding f;

	(void)state;
	assert_non_null(a);
	for (int round = 0; round < 2; round++) {
		char *name = strdup(FN_FILE_MODIFIED), *rid = strdup("rules/x.yaml:7");
		char *rname = strdup("/etc/app/*"), *rgroup = strdup("nv.web.shop");
		char *group = strdup("nv.web.shop"), *pname = strdup("sh"), *exe = strdup("/bin/sh");
		char *pexe = strdup("/usr/bin/bash"), *path = strdup("/etc/app/a.conf");
		char *op = strdup("modify"), *peer = strdup(""), *msg = strdup("sh: modify");
		char *argv = malloc(8);
		struct container_view *cv = malloc(sizeof(*cv));
		char *cid = strdup("c1d2"), *cname = strdup("web"), *img = strdup("img:1");
		char *pod = strdup("web-0"), *ns = strdup("shop");

		assert_non_null(argv);
		assert_non_null(cv);
		memcpy(argv, "sh\0-c\0", 6);
		*cv = (struct container_view){ .id = cid, .runtime = "", .name = cname, .image = img,
					       .pod = pod, .namespace = ns, .pod_uid = "",
					       .cgroup = "", .cgroup_id = 9 };
		f = (struct finding){
			.ts_ns = (uint64_t)(round + 1) * S,
			.name = name, .severity = SEV_MEDIUM, .action = FACT_ALERT, .mode = MODE_MONITOR,
			.rule = { rid, rname, rgroup }, .container = cv, .group = group,
			.process = { .pid = 1, .ppid = 0, .name = pname, .exe = exe, .parent_exe = pexe,
				     .argv = argv, .argc = 2 },
			.has_file = true, .file = { path, op }, .net = { .peer_group = peer },
			.message = msg, .count = 1,
		};
		aggregator__add(a, &f);
		if (round == 1)
			aggregator__add(a, &f); /* counted against round 0's held copy */
		/* the caller's buffers are overwritten, then freed */
		char *all[] = { name, rid, rname, rgroup, group, pname, exe, pexe, path, op, peer, msg,
				argv, cid, cname, img, pod, ns };
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
			memset(all[i], 'X', strlen(all[i]));
			free(all[i]);
		}
		memset(cv, 0, sizeof(*cv));
		free(cv);
	}
	assert_int_equal(n_out, 1);
	assert_int_equal(aggregator__suppressed(a), 2);
	aggregator__flush(a, UINT64_MAX);
	assert_int_equal(n_out, 2);
	assert_int_equal(outs[1].count, 2);
	assert_string_equal(outs[1].name, FN_FILE_MODIFIED);
	assert_string_equal(outs[1].rule_id, "rules/x.yaml:7");
	assert_string_equal(outs[1].exe, "/bin/sh");
	assert_string_equal(outs[1].path, "/etc/app/a.conf");
	assert_string_equal(outs[1].cid, "c1d2");
	assert_string_equal(outs[1].cname, "web");
	assert_string_equal(outs[1].argv0, "sh");
	assert_int_equal(outs[1].ts, 2 * S);
	aggregator__free(a);
	outs_clear(NULL);
}

/* Windows close in the order they opened, each with its own container
 * copy, while later ones stay open. */
static void test_held_move(void **state)
{
	struct aggregator *a = aggregator__new(10 * S, 8, sink, NULL);
	struct container_view cv[3] = {
		{ .id = "c0", .runtime = "", .name = "n0", .image = "", .pod = "", .namespace = "",
		  .pod_uid = "", .cgroup = "" },
		{ .id = "c1", .runtime = "", .name = "n1", .image = "", .pod = "", .namespace = "",
		  .pod_uid = "", .cgroup = "" },
		{ .id = "c2", .runtime = "", .name = "n2", .image = "", .pod = "", .namespace = "",
		  .pod_uid = "", .cgroup = "" },
	};
	struct finding f;

	(void)state;
	for (int i = 0; i < 3; i++) {
		f = at(S * (uint64_t)(i + 1));
		f.container = &cv[i];
		aggregator__add(a, &f);
		aggregator__add(a, &f);
	}
	/* at 11 s only the window opened at 1 s has run its 10 s */
	aggregator__flush(a, 11 * S);
	assert_int_equal(n_out, 4);
	assert_string_equal(outs[3].cid, "c0");
	assert_int_equal(aggregator__open(a), 2);
	aggregator__flush(a, UINT64_MAX);
	assert_int_equal(n_out, 6);
	assert_string_equal(outs[4].cid, "c1");
	assert_string_equal(outs[4].cname, "n1");
	assert_string_equal(outs[5].cid, "c2");
	assert_string_equal(outs[5].cname, "n2");
	aggregator__free(a);
	aggregator__free(NULL);
	outs_clear(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_process),
		cmocka_unit_test(test_format_file),
		cmocka_unit_test(test_format_network),
		cmocka_unit_test(test_names),
		cmocka_unit_test_teardown(test_window, outs_clear),
		cmocka_unit_test_teardown(test_keys, outs_clear),
		cmocka_unit_test_teardown(test_overflow, outs_clear),
		cmocka_unit_test_teardown(test_held_copy, outs_clear),
		cmocka_unit_test_teardown(test_held_move, outs_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
