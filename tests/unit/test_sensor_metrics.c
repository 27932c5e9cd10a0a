// SPDX-License-Identifier: Apache-2.0
/* test_sensor_metrics.c: the /metrics text of the sensor (exact lines from a
 * stats line), label escaping, findings counts, and the live and ready
 * verdicts at the edges of the liveness window. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics.h"
#include "sensor_metrics.h"

/* metrics__write into a string the caller frees. */
static char *text(const struct metrics *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	metrics__write(m, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_exposition_sorted_with_help_and_type(void **state)
{
	struct metrics *m = metrics__new();
	char *t;

	(void)state;
	assert_int_equal(metrics__set(m, "wacht_spool_bytes", NULL, 4096), 0);
	assert_int_equal(metrics__add(m, "wacht_x_total", "a=\"2\"", 1), 0);
	assert_int_equal(metrics__add(m, "wacht_x_total", "a=\"1\"", 2), 0);
	assert_int_equal(metrics__add(m, "wacht_x_total", "a=\"1\"", 3), 0);
	assert_int_equal(metrics__help(m, "wacht_x_total", "Things."), 0);
	/* a second help text for one name is ignored, not repeated */
	assert_int_equal(metrics__help(m, "wacht_x_total", "Other."), 0);
	t = text(m);
	assert_string_equal(t, "# TYPE wacht_spool_bytes gauge\n"
			       "wacht_spool_bytes 4096\n"
			       "# HELP wacht_x_total Things.\n"
			       "# TYPE wacht_x_total counter\n"
			       "wacht_x_total{a=\"1\"} 5\n"
			       "wacht_x_total{a=\"2\"} 1\n");
	free(t);
	assert_true(metrics__get(m, "wacht_x_total", "a=\"1\"") == 5);
	assert_true(metrics__get(m, "wacht_x_total", "a=\"3\"") == -1);
	metrics__free(m);
}

static void test_invalid_names(void **state)
{
	struct metrics *m = metrics__new();

	(void)state;
	assert_int_equal(metrics__set(m, "9lives", NULL, 1), -EINVAL);
	assert_int_equal(metrics__set(m, "wacht-events", NULL, 1), -EINVAL);
	assert_int_equal(metrics__set(m, "", NULL, 1), -EINVAL);
	assert_int_equal(metrics__help(m, "wacht_ok", "two\nlines"), -EINVAL);
	metrics__free(m);
	metrics__free(NULL);
}

static void test_label_escaping(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(metrics_labels(buf, sizeof(buf), "name", "a\"b\\c\nd", NULL, NULL),
			    "name=\"a\\\"b\\\\c\\nd\"");
	assert_string_equal(
	    metrics_labels(buf, sizeof(buf), "type", "exec", "reason", "ringbuf_full"),
	    "type=\"exec\",reason=\"ringbuf_full\"");
	/* truncated, never past the buffer */
	assert_string_equal(metrics_labels(buf, 12, "name", "abcdefghijkl", NULL, NULL),
			    "name=\"abcd\"");
}

/* A stats line as print_stats writes it (trimmed to a few types and reasons). */
static const char stats_line[] =
    "{\"time\":\"2026-11-27T13:00:00.000000000Z\",\"node\":\"n1\",\"kind\":\"stats\",\"final\":"
    "false,"
    "\"delivered\":{\"exec\":12,\"file\":7},"
    "\"received\":{\"exec\":11,\"file\":7},"
    "\"drops\":{\"exec\":{\"ringbuf_full\":1,\"path_truncated\":0},\"file\":{\"ringbuf_full\":0,"
    "\"path_truncated\":2}},"
    "\"total_dropped\":1,"
    "\"userspace\":{\"decode_errors\":0,\"write_errors\":3,\"not_container\":0,\"runtime_init\":4,"
    "\"printed\":20,\"findings\":2,\"process_table\":40,\"process_evictions\":0,\"cgroups_known\":"
    "5},"
    "\"rules\":{\"groups\":3,\"network_rules\":1,\"evaluated\":18,\"findings\":2,\"aggregated\":6,"
    "\"learned\":0,\"learn_failed\":0,\"reloads\":2,\"reload_failures\":1,\"learned_saves\":0,"
    "\"learned_save_errors\":0,\"file_guard\":{\"denied\":9}},"
    "\"enforcement\":{\"enabled\":true,\"killed\":4,\"held\":1,\"held_killed\":0,\"hold_full\":0},"
    "\"network_enforcement\":{\"enforce\":true,\"connect_refused\":5,\"sendmsg_refused\":6,"
    "\"ingress_dropped\":7},"
    "\"aggregator\":{\"transport\":\"tls\",\"connected\":false,\"spool_batches\":3,\"spool_bytes\":"
    "8192,"
    "\"dropped\":0,\"acked\":10,\"failures\":2}}";

static void test_from_stats(void **state)
{
	struct metrics *m = metrics__new();
	char *t;

	(void)state;
	assert_int_equal(sensor_metrics_from_stats(m, stats_line, strlen(stats_line)), 0);
	assert_int_equal(sensor_metrics_finding(m, "Process.Profile.Violation", "kill"), 0);
	assert_int_equal(sensor_metrics_finding(m, "Process.Profile.Violation", "kill"), 0);
	assert_int_equal(sensor_metrics_finding(m, "Network.Violation", "deny"), 0);
	t = text(m);
	static const char *const want[] = {
	    "wacht_events_total{type=\"exec\"} 12\n",
	    "wacht_events_total{type=\"file\"} 7\n",
	    "wacht_events_received_total{type=\"exec\"} 11\n",
	    "wacht_events_dropped_total{type=\"exec\",reason=\"ringbuf_full\"} 1\n",
	    "wacht_events_dropped_total{type=\"file\",reason=\"path_truncated\"} 2\n",
	    "wacht_write_errors_total 3\n",
	    "wacht_process_table_entries 40\n",
	    "wacht_cgroups_known 5\n",
	    "wacht_rule_groups 3\n",
	    "wacht_findings_aggregated_total 6\n",
	    "wacht_rule_reloads_total 2\n",
	    "wacht_rule_reload_failures_total 1\n",
	    "wacht_enforcing 1\n",
	    "wacht_enforcement_total{action=\"kill\"} 4\n",
	    "wacht_enforcement_total{action=\"hold\"} 1\n",
	    "wacht_enforcement_total{action=\"connect_refuse\"} 5\n",
	    "wacht_enforcement_total{action=\"sendmsg_refuse\"} 6\n",
	    "wacht_enforcement_total{action=\"ingress_drop\"} 7\n",
	    "wacht_enforcement_total{action=\"file_deny\"} 9\n",
	    "wacht_aggregator_connected 0\n",
	    "wacht_spool_batches 3\n",
	    "wacht_spool_bytes 8192\n",
	    "wacht_shipped_batches_total 10\n",
	    "wacht_aggregator_failures_total 2\n",
	    "wacht_findings_total{name=\"Network.Violation\",action=\"deny\"} 1\n",
	    "wacht_findings_total{name=\"Process.Profile.Violation\",action=\"kill\"} 2\n",
	    "# TYPE wacht_events_dropped_total counter\n",
	    "# TYPE wacht_spool_bytes gauge\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!strstr(t, want[i]))
			fail_msg("missing line %s in:\n%s", want[i], t);
	}
	/* one block per name: its TYPE line exactly once */
	assert_ptr_equal(strstr(strstr(t, "# TYPE wacht_enforcement_total") + 1,
				"# TYPE wacht_enforcement_total"),
			 NULL);
	free(t);
	metrics__free(m);
}

/* The stats line's flows object (the kernel's flow map) as series: the
 * evictions are what an operator alerts on, conversations lost. */
static void test_from_stats_flows(void **state)
{
	static const char stats[] = "{\"kind\":\"stats\",\"flows\":{\"alive\":12,\"inserted\":40,"
				    "\"deleted_idle\":28,\"evicted\":3,\"insert_failed\":2,"
				    "\"records\":57}}";
	struct metrics *m = metrics__new();

	(void)state;
	assert_int_equal(sensor_metrics_from_stats(m, stats, sizeof(stats) - 1), 0);
	assert_true(metrics__get(m, "wacht_flow_entries", NULL) == 12);
	assert_true(metrics__get(m, "wacht_flow_evicted_total", NULL) == 3);
	assert_true(metrics__get(m, "wacht_flow_insert_failures_total", NULL) == 2);
	assert_true(metrics__get(m, "wacht_flow_records_total", NULL) == 57);
	metrics__free(m);
}

static void test_from_stats_without_shipper(void **state)
{
	static const char line[] = "{\"kind\":\"stats\",\"delivered\":{\"exec\":1}}";
	struct metrics *m = metrics__new();

	(void)state;
	assert_int_equal(sensor_metrics_from_stats(m, line, strlen(line)), 0);
	/* no aggregator configured: no connection state to report */
	assert_true(metrics__get(m, "wacht_aggregator_connected", NULL) == -1);
	assert_true(metrics__get(m, "wacht_events_total", "type=\"exec\"") == 1);
	/* every action is there from the start, 0 while nothing happened */
	assert_true(metrics__get(m, "wacht_enforcement_total", "action=\"kill\"") == 0);
	metrics__free(m);
}

static void test_from_stats_rejects(void **state)
{
	static const char policy[] = "{\"kind\":\"policy\",\"status\":\"loaded\"}";
	static const char garbage[] = "{\"kind\":";
	struct metrics *m = metrics__new();

	(void)state;
	assert_int_equal(sensor_metrics_from_stats(m, policy, strlen(policy)), -EINVAL);
	assert_int_equal(sensor_metrics_from_stats(m, garbage, strlen(garbage)), -EINVAL);
	metrics__free(m);
}

static void test_merge(void **state)
{
	struct metrics *a = metrics__new(), *b = metrics__new();

	(void)state;
	sensor_metrics_finding(b, "Container.Suspicious.Process", "alert");
	metrics__set(a, "wacht_spool_bytes", NULL, 1);
	assert_int_equal(metrics__merge(a, b), 0);
	assert_int_equal(metrics__merge(a, b), 0);
	assert_true(metrics__get(a, "wacht_findings_total",
				 "name=\"Container.Suspicious.Process\",action=\"alert\"") == 2);
	metrics__free(a);
	metrics__free(b);
}

static void test_live(void **state)
{
	struct health_state st = {.started = false};
	char body[256];

	(void)state;
	assert_int_equal(health_live(&st, 100000, body, sizeof(body)), 200);
	assert_string_equal(body, "{\"status\":\"starting\"}");
	st.started = true;
	st.last_turn_ms = 100000;
	assert_int_equal(health_live(&st, 100000 + HEALTH_LIVE_MS, body, sizeof(body)), 200);
	assert_string_equal(body, "{\"status\":\"alive\"}");
	assert_int_equal(health_live(&st, 100001 + HEALTH_LIVE_MS, body, sizeof(body)), 503);
	assert_string_equal(body, "{\"status\":\"stalled\",\"reason\":\"the event loop has not "
				  "turned for 5001 ms (limit 5000 ms)\"}");
}

static void test_ready(void **state)
{
	struct health_state st = {.started = false};
	char body[256];

	(void)state;
	assert_int_equal(health_ready(&st, 100000, body, sizeof(body)), 503);
	assert_string_equal(body,
			    "{\"status\":\"not ready\",\"reason\":\"starting: BPF programs not "
			    "attached or existing containers not scanned and compiled yet\"}");
	st.started = true;
	st.programs = 76;
	assert_int_equal(health_ready(&st, 100000, body, sizeof(body)), 503);
	assert_string_equal(body,
			    "{\"status\":\"not ready\",\"reason\":\"the ring buffer has not been "
			    "drained yet\"}");
	st.last_turn_ms = 99000;
	assert_int_equal(health_ready(&st, 100000, body, sizeof(body)), 200);
	assert_string_equal(body, "{\"status\":\"ready\",\"programs\":76}");
	assert_int_equal(health_ready(&st, 99000 + HEALTH_LIVE_MS + 1, body, sizeof(body)), 503);
	assert_string_equal(body,
			    "{\"status\":\"not ready\",\"reason\":\"the ring buffer has not been "
			    "drained for 5001 ms (limit 5000 ms)\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exposition_sorted_with_help_and_type),
	    cmocka_unit_test(test_invalid_names),
	    cmocka_unit_test(test_label_escaping),
	    cmocka_unit_test(test_from_stats),
	    cmocka_unit_test(test_from_stats_flows),
	    cmocka_unit_test(test_from_stats_without_shipper),
	    cmocka_unit_test(test_from_stats_rejects),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_live),
	    cmocka_unit_test(test_ready),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
