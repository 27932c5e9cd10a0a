/* SPDX-License-Identifier: Apache-2.0 */
/* test_bus_nats.c: the NATS bus's pure parts: subjects, message ids, and
 * what a connection failure reports (no server needed). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus_nats.h"

static void test_subject(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(bus_subject_format(buf, sizeof(buf), "node-1"), 0);
	assert_string_equal(buf, "wacht.findings.node-1");
	/* one token whatever the node name holds */
	assert_int_equal(bus_subject_format(buf, sizeof(buf), "ip-10-0-0-1.ec2.internal"), 0);
	assert_string_equal(buf, "wacht.findings.ip-10-0-0-1_ec2_internal");
	assert_int_equal(bus_subject_format(buf, sizeof(buf), "a*b>c d\te"), 0);
	assert_string_equal(buf, "wacht.findings.a_b_c_d_e");
	assert_int_equal(bus_subject_format(buf, sizeof(buf), ""), -EINVAL);
	assert_int_equal(bus_subject_format(buf, sizeof(buf), NULL), -EINVAL);
	/* 15 + 48 + NUL = 64 fits, one more does not */
	assert_int_equal(bus_subject_format(buf, sizeof(buf),
					    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), 0);
	assert_int_equal(bus_subject_format(buf, sizeof(buf),
					    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
			 -ENAMETOOLONG);
}

static void test_msg_id(void **state)
{
	char buf[32];
	uint64_t seq;

	(void)state;
	assert_int_equal(bus_msg_id_format(buf, sizeof(buf), "sensor-7f3a", 42), 0);
	assert_string_equal(buf, "sensor-7f3a:42");
	assert_int_equal(bus_msg_id_seq(buf, &seq), 0);
	assert_int_equal(seq, 42);
	assert_int_equal(bus_msg_id_format(buf, sizeof(buf), "s", UINT64_MAX), 0);
	assert_string_equal(buf, "s:18446744073709551615");
	assert_int_equal(bus_msg_id_seq(buf, &seq), 0);
	assert_true(seq == UINT64_MAX);
	/* a sensor id with colons: the sequence is after the last one */
	assert_int_equal(bus_msg_id_seq("a:b:7", &seq), 0);
	assert_int_equal(seq, 7);
	assert_int_equal(bus_msg_id_format(buf, sizeof(buf), "", 1), -EINVAL);
	assert_int_equal(bus_msg_id_format(buf, 8, "sensor-7f3a", 1), -ENAMETOOLONG);
	assert_int_equal(bus_msg_id_seq("nocolon", &seq), -EINVAL);
	assert_int_equal(bus_msg_id_seq(":5", &seq), -EINVAL);
	assert_int_equal(bus_msg_id_seq("s:", &seq), -EINVAL);
	assert_int_equal(bus_msg_id_seq("s:5x", &seq), -EINVAL);
	assert_int_equal(seq, 0);
	assert_int_equal(bus_msg_id_seq("s:-5", &seq), -EINVAL);
	assert_int_equal(bus_msg_id_seq("s:99999999999999999999", &seq), -EINVAL);
}

static void test_unreachable(void **state)
{
	struct bus_opts o = { .url = "nats://127.0.0.1:1" };
	char *err = NULL;

	(void)state;
	assert_null(bus_sub__new(&o, &err));
	assert_int_equal(errno, ENOTCONN);
	assert_non_null(err);
	assert_non_null(strstr(err, "bus: failed to connect to nats://127.0.0.1:1: "));
	free(err);
	err = NULL;
	assert_null(bus_pub__new(&o, "s1", "node.a", NULL, NULL, &err));
	assert_int_equal(errno, ENOTCONN);
	assert_non_null(strstr(err, "bus: failed to connect to nats://127.0.0.1:1: "));
	free(err);
	err = NULL;
	/* a node is needed to name the subject */
	assert_null(bus_pub__new(&o, "s1", "", NULL, NULL, &err));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "bus: failed to name subject for node , sensor s1: "));
	free(err);
	err = NULL;
	/* and a sensor id to name the messages */
	assert_null(bus_pub__new(&o, NULL, "node-a", NULL, NULL, &err));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "bus: failed to name subject for node node-a, sensor : "));
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_msg_id),
		cmocka_unit_test(test_unreachable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
