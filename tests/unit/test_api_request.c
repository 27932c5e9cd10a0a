/* SPDX-License-Identifier: Apache-2.0 */
/* test_api_request.c: what the API reads from requests: times, severities,
 * cursors, query parameters, the ack body. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_request.h"

#define SEC 1000000000LL
/* 2026-01-15T10:00:00Z */
#define T0 (1768471200LL * SEC)

static void test_times(void **state)
{
	int64_t t;
	char buf[64];

	(void)state;
	assert_int_equal(api_time_parse("2026-01-15T10:00:00Z", 0, &t), 0);
	assert_int_equal(t, T0);
	assert_int_equal(api_time_parse("2026-01-15t10:00:00.25z", 0, &t), 0);
	assert_int_equal(t, T0 + SEC / 4);
	assert_int_equal(api_time_parse("2026-01-15T11:30:00+01:30", 0, &t), 0);
	assert_int_equal(t, T0);
	assert_int_equal(api_time_parse("2026-01-15T08:00:00.000000001-02:00", 0, &t), 0);
	assert_int_equal(t, T0 + 1);
	/* relative to now */
	assert_int_equal(api_time_parse("90s", T0, &t), 0);
	assert_int_equal(t, T0 - 90 * SEC);
	assert_int_equal(api_time_parse("30m", T0, &t), 0);
	assert_int_equal(t, T0 - 1800 * SEC);
	assert_int_equal(api_time_parse("1h", T0, &t), 0);
	assert_int_equal(t, T0 - 3600 * SEC);
	assert_int_equal(api_time_parse("7d", T0, &t), 0);
	assert_int_equal(t, T0 - 7 * 86400 * SEC);
	static const char *const bad[] = {
		"", "1", "1w", "h", "-1h", "1h ", "1.5h", "99999999999999h",
		"2026-01-15", "2026-01-15T10:00:00", "2026-01-15 10:00:00Z",
		"2026-02-30T10:00:00Z", "2026-13-01T10:00:00Z", "1969-12-31T23:59:59Z",
		"2026-01-15T24:00:00Z", "2026-01-15T10:00:00+1", "2026-01-15T10:00:00+01:00x",
		"2026-01-15T10:00:00.Z", "2026-01-15T10:00:00ZZ", "yesterday", "9999-12-31T23:59:59Z",
		"1970-01-01T00:30:00+01:00",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (api_time_parse(bad[i], T0, &t) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
	api_time_format(buf, sizeof(buf), T0 + 7);
	assert_string_equal(buf, "2026-01-15T10:00:00.000000007Z");
	assert_int_equal(api_time_parse(buf, 0, &t), 0);
	assert_int_equal(t, T0 + 7);
}

static void test_severity_and_cursor(void **state)
{
	struct store_cursor c = { 0 }, c2;
	char buf[64];

	(void)state;
	assert_int_equal(api_severity_parse("info"), 1);
	assert_int_equal(api_severity_parse("High"), 4);
	assert_int_equal(api_severity_parse("critical"), 5);
	assert_int_equal(api_severity_parse("urgent"), -1);
	assert_int_equal(api_severity_parse(""), -1);
	assert_string_equal(api_severity_name(3), "medium");
	assert_string_equal(api_severity_name(9), "unknown");

	c.last_seen = T0;
	c.rowid = 42;
	api_cursor_format(buf, sizeof(buf), &c);
	assert_string_equal(buf, "1768471200000000000.42");
	assert_int_equal(api_cursor_parse(buf, &c2), 0);
	assert_int_equal(c2.last_seen, T0);
	assert_int_equal(c2.rowid, 42);
	assert_int_equal(api_cursor_parse("1.0", &c2), -EINVAL);
	assert_int_equal(api_cursor_parse("1.", &c2), -EINVAL);
	assert_int_equal(api_cursor_parse("-1.5", &c2), -EINVAL);
	assert_int_equal(api_cursor_parse("1.5x", &c2), -EINVAL);
	assert_int_equal(api_cursor_parse("99999999999999999999.5", &c2), -EINVAL);
}

static void test_query(void **state)
{
	struct api_query q = { .now = T0 };

	(void)state;
	assert_int_equal(api_query_param(&q, "since", "1h"), 0);
	assert_int_equal(api_query_param(&q, "until", "2026-01-15T10:00:00Z"), 0);
	assert_int_equal(api_query_param(&q, "severity", "medium"), 0);
	assert_int_equal(api_query_param(&q, "namespace", "shop"), 0);
	assert_int_equal(api_query_param(&q, "pod", "web-1"), 0);
	assert_int_equal(api_query_param(&q, "name", "Network.Violation"), 0);
	assert_int_equal(api_query_param(&q, "node", "node-a"), 0);
	assert_int_equal(api_query_param(&q, "acknowledged", "true"), 0);
	assert_int_equal(api_query_param(&q, "limit", "25"), 0);
	assert_int_equal(api_query_param(&q, "cursor", "5.3"), 0);
	assert_int_equal(q.f.since, T0 - 3600 * SEC);
	assert_int_equal(q.f.until, T0);
	assert_int_equal(q.f.min_severity, 3);
	assert_string_equal(q.f.namespace_, "shop");
	assert_string_equal(q.f.pod, "web-1");
	assert_string_equal(q.f.name, "Network.Violation");
	assert_string_equal(q.f.node, "node-a");
	assert_int_equal(q.f.ack, STORE_ACK_YES);
	assert_int_equal(q.f.limit, 25);
	assert_ptr_equal(q.f.after, &q.after);
	assert_int_equal(q.after.rowid, 3);
	assert_string_equal(q.err, "");

#define BAD(k, v, msg)                                                                   \
	do {                                                                             \
		struct api_query b = { .now = T0 };                                      \
		assert_int_equal(api_query_param(&b, k, v), -EINVAL);                    \
		if (strcmp(b.err, msg))                                                  \
			fail_msg("%s=%s: \"%s\"", k, v ? v : "(null)", b.err);          \
		assert_int_equal(api_query_param(&b, "limit", "1"), -EINVAL);            \
	} while (0)
	BAD("limit", "0", "bad limit \"0\": expected 1 to 1000");
	BAD("limit", "1001", "bad limit \"1001\": expected 1 to 1000");
	BAD("acknowledged", "yes", "bad acknowledged \"yes\": expected true or false");
	BAD("severity", NULL, "bad severity \"\": expected info, low, medium, high or critical");
	BAD("pod", "", "bad pod: empty or too long");
	BAD("cursor", "x", "bad cursor \"x\": use the \"next\" of the previous page");
	BAD("since", "soon",
	    "bad since \"soon\": expected RFC 3339 (2024-05-01T10:00:00Z) or a duration ago"
	    " (90s, 30m, 1h, 7d)");
	BAD("Severity", "high",
	    "unknown parameter \"Severity\" (since, until, severity, namespace, pod, name,"
	    " node, acknowledged, limit, cursor)");
#undef BAD
}

#define OK_BODY "{\"comment\": \"ok \\u00e9\"}\n"

static void test_ack_body(void **state)
{
	char *c = (char *)1, big[1100];
	const char *why;

	(void)state;
	assert_null(api_ack_body_parse("", 0, &c));
	assert_null(c);
	assert_null(api_ack_body_parse(" \r\n", 3, &c));
	assert_null(c);
	assert_null(api_ack_body_parse("{}", 2, &c));
	assert_null(c);
	assert_null(api_ack_body_parse(OK_BODY, strlen(OK_BODY), &c));
	assert_string_equal(c, "ok \xc3\xa9");
	free(c);
	why = api_ack_body_parse("{\"comment\": \"a\\u0000b\"}", 23, &c);
	assert_string_equal(why, "\"comment\" contains a NUL character");
	assert_null(c);
	assert_string_equal(api_ack_body_parse("{\"comment\": null}", 17, &c),
			    "\"comment\" must be a string");
	assert_string_equal(api_ack_body_parse("{\"comment\": \"x\", \"by\": 1}", 25, &c),
			    "unknown member in body (only \"comment\")");
	assert_string_equal(api_ack_body_parse("\"x\"", 3, &c),
			    "body must be a JSON object: {\"comment\": \"...\"}");
	assert_string_equal(api_ack_body_parse("{\"comment\": \"x\"", 15, &c),
			    "body is not JSON: expected {\"comment\": \"...\"}");
	assert_string_equal(api_ack_body_parse("{} {}", 5, &c),
			    "body is not JSON: expected {\"comment\": \"...\"}");
	/* the length given counts, not a NUL */
	assert_string_equal(api_ack_body_parse("{}\0{}", 5, &c),
			    "body is not JSON: expected {\"comment\": \"...\"}");
	memcpy(big, "{\"comment\": \"", 13);
	memset(big + 13, 'a', 1025);
	memcpy(big + 13 + 1025, "\"}", 2);
	assert_string_equal(api_ack_body_parse(big, 13 + 1025 + 2, &c),
			    "\"comment\" is longer than 1024 bytes");
	assert_null(api_ack_body_parse(big + 0, 0, &c));
}

static void test_graph_params(void **state)
{
	struct api_graph_query q = { .now = 1000LL * 1000000000LL };

	(void)state;
	assert_int_equal(q.format, GRAPH_FORMAT_JSON);
	assert_int_equal(q.collapse, GRAPH_COLLAPSE_NONE);
	assert_int_equal(api_graph_param(&q, "format", "graphml"), 0);
	assert_int_equal(q.format, GRAPH_FORMAT_GRAPHML);
	assert_int_equal(api_graph_param(&q, "collapse", "group"), 0);
	assert_int_equal(q.collapse, GRAPH_COLLAPSE_GROUP);
	assert_int_equal(api_graph_param(&q, "namespace", "shop"), 0);
	assert_string_equal(q.namespace_, "shop");
	assert_int_equal(api_graph_param(&q, "since", "90s"), 0);
	assert_int_equal(q.since, 910LL * 1000000000LL);
	assert_int_equal(api_graph_param(&q, "cidr", "10.0.0.0/8,2001:db8::/32"), 0);
	assert_int_equal(api_graph_param(&q, "cidr", "192.0.2.0/24"), 0);
	assert_int_equal(q.n_cidrs, 3);
	assert_string_equal(q.cidrs[0], "10.0.0.0/8");
	assert_string_equal(q.cidrs[1], "2001:db8::/32");
	assert_string_equal(q.cidrs[2], "192.0.2.0/24");
	assert_string_equal(q.err, "");
	/* the first error stays, and every later call fails */
	assert_int_equal(api_graph_param(&q, "format", "png"), -EINVAL);
	assert_string_equal(q.err, "bad format \"png\": expected json, dot or graphml");
	assert_int_equal(api_graph_param(&q, "format", "dot"), -EINVAL);
	assert_string_equal(q.err, "bad format \"png\": expected json, dot or graphml");

	struct { const char *k, *v, *err; } bad[] = {
		{ "collapse", "container", "bad collapse \"container\": expected none, pod, group"
					   " or namespace" },
		{ "since", "soon", "bad since \"soon\": expected RFC 3339" },
		{ "namespace", NULL, "bad namespace: empty or too long" },
		{ "cidr", "10.0.0.1", "bad cidr \"10.0.0.1\": expected a network such as" },
		{ "cidr", "10.0.0.1/24", "bad cidr \"10.0.0.1/24\"" },
		{ "cidr", "::1/129", "bad cidr \"::1/129\"" },
		{ "cidr", "10.0.0.0/8,,10.1.0.0/16", "bad cidr \"10.0.0.0/8,,10.1.0.0/16\": an"
						     " empty item" },
		{ "cidr", "", "bad cidr: empty" },
		{ "severity", "high", "unknown parameter \"severity\" (format, namespace, since,"
				      " collapse, cidr)" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct api_graph_query b = { .now = 1 };

		assert_int_equal(api_graph_param(&b, bad[i].k, bad[i].v), -EINVAL);
		if (strncmp(b.err, bad[i].err, strlen(bad[i].err)))
			fail_msg("%s=%s: \"%s\", want \"%s...\"", bad[i].k, bad[i].v ? bad[i].v : "",
				 b.err, bad[i].err);
	}
	/* more networks than fit */
	struct api_graph_query m = { .now = 1 };
	char many[1024] = "";
	for (int i = 0; i < API_CIDRS_MAX + 1; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s10.%d.0.0/16",
			 i ? "," : "", i);
	assert_int_equal(api_graph_param(&m, "cidr", many), -EINVAL);
	assert_string_equal(m.err, "bad cidr: more than 32 networks");
	assert_true(api_cidr_ok("0.0.0.0/0"));
	assert_true(api_cidr_ok("fd00::/8"));
	assert_false(api_cidr_ok("fd00::1/8"));
	assert_false(api_cidr_ok("/8"));
	assert_false(api_cidr_ok("10.0.0.0/"));
	assert_false(api_cidr_ok("10.0.0.0/+8"));
	assert_false(api_cidr_ok("10.0.0.0/0008"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_severity_and_cursor),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_ack_body),
		cmocka_unit_test(test_graph_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
