// SPDX-License-Identifier: Apache-2.0
/* test_jsonw.c: unit tests of the streaming JSON writer (exact output). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "jsonw.h"

static int setup(void **state)
{
	*state = jsonw__new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	jsonw__free(*state);
	return 0;
}

static void check_out(struct jsonw *w, const char *want)
{
	size_t len = 12345;
	const char *got = jsonw__data(w, &len);

	assert_int_equal(jsonw__error(w), 0);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
}

/* One string value at the top level, escaped. */
static void check_str(struct jsonw *w, const char *s, size_t n, const char *want)
{
	jsonw__reset(w);
	jsonw__strn(w, NULL, s, n);
	check_out(w, want);
}

static void test_flat_object(void **state)
{
	struct jsonw *w = *state;

	jsonw__obj_begin(w, NULL);
	jsonw__u64(w, "pid", 4242);
	jsonw__str(w, "exe", "/usr/bin/nc");
	jsonw__bool(w, "host", true);
	jsonw__bool(w, "denied", false);
	jsonw__null(w, "parent");
	jsonw__i64(w, "result", -13);
	jsonw__str(w, "image", NULL);
	jsonw__strn(w, "pod", NULL, 4);
	jsonw__obj_end(w);
	check_out(w, "{\"pid\":4242,\"exe\":\"/usr/bin/nc\",\"host\":true,"
		     "\"denied\":false,\"parent\":null,\"result\":-13,"
		     "\"image\":null,\"pod\":null}");
}

static void test_nested(void **state)
{
	struct jsonw *w = *state;

	jsonw__obj_begin(w, NULL);
	jsonw__str(w, "name", "Process.Profile.Violation");
	jsonw__obj_begin(w, "process");
	jsonw__u64(w, "pid", 1);
	jsonw__arr_begin(w, "args");
	jsonw__str(w, NULL, "sh");
	jsonw__str(w, NULL, "-c");
	jsonw__str(w, NULL, "");
	jsonw__arr_end(w);
	jsonw__obj_end(w);
	jsonw__arr_begin(w, "mixed");
	jsonw__arr_begin(w, NULL);
	jsonw__arr_end(w);
	jsonw__obj_begin(w, NULL);
	jsonw__obj_end(w);
	jsonw__arr_begin(w, NULL);
	jsonw__u64(w, NULL, 1);
	jsonw__arr_begin(w, NULL);
	jsonw__i64(w, NULL, 2);
	jsonw__null(w, NULL);
	jsonw__bool(w, NULL, true);
	jsonw__arr_end(w);
	jsonw__arr_end(w);
	jsonw__obj_begin(w, NULL);
	jsonw__u64(w, "k", 0);
	jsonw__obj_end(w);
	jsonw__arr_end(w);
	jsonw__obj_begin(w, "empty");
	jsonw__obj_end(w);
	jsonw__u64(w, "count", 3);
	jsonw__obj_end(w);
	check_out(w, "{\"name\":\"Process.Profile.Violation\","
		     "\"process\":{\"pid\":1,\"args\":[\"sh\",\"-c\",\"\"]},"
		     "\"mixed\":[[],{},[1,[2,null,true]],{\"k\":0}],"
		     "\"empty\":{},\"count\":3}");
}

static void test_top_level_lines(void **state)
{
	struct jsonw *w = *state;

	/* values in a row at the top level form JSON Lines */
	jsonw__obj_begin(w, NULL);
	jsonw__u64(w, "n", 1);
	jsonw__obj_end(w);
	jsonw__obj_begin(w, NULL);
	jsonw__u64(w, "n", 2);
	jsonw__obj_end(w);
	jsonw__u64(w, NULL, 7);
	check_out(w, "{\"n\":1}\n{\"n\":2}\n7");
	/* reset starts from nothing */
	jsonw__reset(w);
	check_out(w, "");
	jsonw__arr_begin(w, NULL);
	jsonw__arr_end(w);
	check_out(w, "[]");
}

static void test_numbers(void **state)
{
	struct jsonw *w = *state;

	jsonw__arr_begin(w, NULL);
	jsonw__u64(w, NULL, 0);
	jsonw__u64(w, NULL, 9);
	jsonw__u64(w, NULL, 10);
	jsonw__u64(w, NULL, UINT64_MAX);
	jsonw__i64(w, NULL, 0);
	jsonw__i64(w, NULL, -1);
	jsonw__i64(w, NULL, INT64_MAX);
	jsonw__i64(w, NULL, INT64_MIN);
	jsonw__arr_end(w);
	check_out(w, "[0,9,10,18446744073709551615,0,-1,"
		     "9223372036854775807,-9223372036854775808]");
}

static void test_escapes(void **state)
{
	struct jsonw *w = *state;
	static const char ctl[] = "\"\\/\n\t\r\b\f\x01\x1f\x7f ~";

	check_str(w, ctl, sizeof(ctl) - 1,
		  "\"\\\"\\\\/\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f ~\"");
	/* NUL bytes inside a counted string are kept */
	check_str(w, "a\0b\0", 4, "\"a\\u0000b\\u0000\"");
	check_str(w, "", 0, "\"\"");
	/* keys are escaped like values */
	jsonw__reset(w);
	jsonw__obj_begin(w, NULL);
	jsonw__str(w, "k\"\n", "v");
	jsonw__obj_end(w);
	check_out(w, "{\"k\\\"\\n\":\"v\"}");
}

static void test_utf8_valid(void **state)
{
	struct jsonw *w = *state;
	/* é, €, U+FFFD, U+D7FF, U+E000, U+FFFF, 😀, U+10000, U+10FFFF:
	 * every length and every boundary of RFC 3629's table */
	static const char s[] = "\xc3\xa9\xe2\x82\xac\xef\xbf\xbd\xed\x9f\xbf"
				"\xee\x80\x80\xef\xbf\xbf\xf0\x9f\x98\x80"
				"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"
				"\xc2\x80\xdf\xbf\xe0\xa0\x80";

	check_str(w, s, sizeof(s) - 1, "\"" "\xc3\xa9\xe2\x82\xac\xef\xbf\xbd"
		  "\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x9f\x98\x80"
		  "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\xc2\x80\xdf\xbf\xe0\xa0\x80" "\"");
	assert_true(jsonw_utf8_valid(s, sizeof(s) - 1));
	/* a 4-byte emoji in a file name passes unchanged */
	check_str(w, "/tmp/\xf0\x9f\x92\xa9.txt", 13, "\"/tmp/\xf0\x9f\x92\xa9.txt\"");
}

static void test_utf8_invalid(void **state)
{
	struct jsonw *w = *state;

	/* stray continuation byte */
	check_str(w, "a\x80z", 3, "\"a\\u0080z\"");
	/* bytes that never start a sequence */
	check_str(w, "\xc0\xc1\xf5\xff\xfe", 5,
		  "\"\\u00c0\\u00c1\\u00f5\\u00ff\\u00fe\"");
	/* overlong '/' (C0 AF, E0 80 AF, F0 80 80 AF): each byte kept */
	check_str(w, "\xc0\xaf", 2, "\"\\u00c0\\u00af\"");
	check_str(w, "\xe0\x80\xaf", 3, "\"\\u00e0\\u0080\\u00af\"");
	check_str(w, "\xf0\x80\x80\xaf", 4,
		  "\"\\u00f0\\u0080\\u0080\\u00af\"");
	/* overlong just below the 3-byte minimum U+0800 (E0 9F BF) */
	check_str(w, "\xe0\x9f\xbf", 3, "\"\\u00e0\\u009f\\u00bf\"");
	/* surrogates U+D800 and U+DFFF */
	check_str(w, "\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\"");
	check_str(w, "\xed\xbf\xbf", 3, "\"\\u00ed\\u00bf\\u00bf\"");
	/* above U+10FFFF */
	check_str(w, "\xf4\x90\x80\x80", 4,
		  "\"\\u00f4\\u0090\\u0080\\u0080\"");
	/* truncated sequences: at the end, and before a plain byte */
	check_str(w, "\xe2\x82", 2, "\"\\u00e2\\u0082\"");
	check_str(w, "\xe2\x82" "A", 3, "\"\\u00e2\\u0082A\"");
	check_str(w, "\xf0\x9f\x98" "x", 4, "\"\\u00f0\\u009f\\u0098x\"");
	/* a bad lead byte does not swallow the valid sequence after it */
	check_str(w, "\xc3\xc3\xa9", 3, "\"\\u00c3\xc3\xa9\"");
	/* the counted length is a hard end: the 2nd byte of é lies past it */
	check_str(w, "\xc3\xa9", 1, "\"\\u00c3\"");

	assert_false(jsonw_utf8_valid("\xc0\xaf", 2));
	assert_false(jsonw_utf8_valid("\xed\xa0\x80", 3));
	assert_false(jsonw_utf8_valid("\xe2\x82", 2));
	assert_false(jsonw_utf8_valid("\xc3\xa9", 1));
	assert_true(jsonw_utf8_valid("plain ascii", 11));
	assert_true(jsonw_utf8_valid("", 0));
}

static void test_misuse(void **state)
{
	struct jsonw *w = *state;
	size_t len = 99;

	/* key at the top level */
	jsonw__u64(w, "k", 1);
	assert_int_equal(jsonw__error(w), -EINVAL);
	assert_string_equal(jsonw__data(w, &len), "");
	assert_int_equal(len, 0);
	/* error is sticky until reset */
	jsonw__u64(w, NULL, 1);
	assert_int_equal(jsonw__error(w), -EINVAL);
	jsonw__reset(w);
	assert_int_equal(jsonw__error(w), 0);

	/* missing key inside an object */
	jsonw__obj_begin(w, NULL);
	jsonw__u64(w, NULL, 1);
	assert_int_equal(jsonw__error(w), -EINVAL);
	jsonw__reset(w);
	/* key inside an array */
	jsonw__arr_begin(w, NULL);
	jsonw__str(w, "k", "v");
	assert_int_equal(jsonw__error(w), -EINVAL);
	jsonw__reset(w);
	/* mismatched end */
	jsonw__arr_begin(w, NULL);
	jsonw__obj_end(w);
	assert_int_equal(jsonw__error(w), -EINVAL);
	jsonw__reset(w);
	jsonw__obj_begin(w, NULL);
	jsonw__arr_end(w);
	assert_int_equal(jsonw__error(w), -EINVAL);
	jsonw__reset(w);
	/* end with nothing open */
	jsonw__obj_end(w);
	assert_int_equal(jsonw__error(w), -EINVAL);
	jsonw__reset(w);
	/* NULL writer is ignored, not a crash */
	jsonw__u64(NULL, NULL, 1);
	jsonw__obj_end(NULL);
	jsonw__reset(NULL);
	assert_int_equal(jsonw__error(NULL), -EINVAL);
	jsonw__free(NULL);
}

static void test_depth(void **state)
{
	struct jsonw *w = *state;
	char want[2 * JSONW_DEPTH_MAX + 1];
	int i;

	for (i = 0; i < JSONW_DEPTH_MAX; i++)
		jsonw__arr_begin(w, NULL);
	for (i = 0; i < JSONW_DEPTH_MAX; i++)
		jsonw__arr_end(w);
	memset(want, '[', JSONW_DEPTH_MAX);
	memset(want + JSONW_DEPTH_MAX, ']', JSONW_DEPTH_MAX);
	want[2 * JSONW_DEPTH_MAX] = '\0';
	check_out(w, want);

	jsonw__reset(w);
	for (i = 0; i < JSONW_DEPTH_MAX; i++)
		jsonw__obj_begin(w, i ? "o" : NULL);
	assert_int_equal(jsonw__error(w), 0);
	jsonw__obj_begin(w, "o"); /* level 33 */
	assert_int_equal(jsonw__error(w), -EINVAL);
	assert_string_equal(jsonw__data(w, NULL), "");
}

static void test_growth(void **state)
{
	struct jsonw *w = *state;
	size_t n = 100000, len;
	char *big = malloc(n);
	const char *out;

	assert_non_null(big);
	/* 100 KB of plain bytes: the buffer grows from 1 KiB */
	memset(big, 'a', n);
	jsonw__strn(w, NULL, big, n);
	out = jsonw__data(w, &len);
	assert_int_equal(jsonw__error(w), 0);
	assert_int_equal(len, n + 2);
	assert_int_equal(strlen(out), n + 2);
	assert_int_equal(out[0], '"');
	assert_int_equal(out[1], 'a');
	assert_int_equal(out[n], 'a');
	assert_int_equal(out[n + 1], '"');

	/* the worst case: every byte escaped to 6 */
	jsonw__reset(w);
	memset(big, '\x01', n);
	jsonw__strn(w, NULL, big, n);
	out = jsonw__data(w, &len);
	assert_int_equal(len, 6 * n + 2);
	assert_memory_equal(out, "\"\\u0001\\u0001", 13);
	assert_memory_equal(out + len - 7, "\\u0001\"", 7);
	free(big);

	/* a length no buffer could hold fails cleanly, without reading s */
	jsonw__reset(w);
	jsonw__strn(w, NULL, "x", SIZE_MAX / 2);
	assert_int_equal(jsonw__error(w), -ENOMEM);
	assert_string_equal(jsonw__data(w, NULL), "");
	jsonw__reset(w);
	jsonw__u64(w, NULL, 1);
	check_out(w, "1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flat_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested, setup, teardown),
		cmocka_unit_test_setup_teardown(test_top_level_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_growth, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
