// SPDX-License-Identifier: Apache-2.0
/* test_pathutil.c: unit tests of lexical path normalise/join/prefix. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pathutil.h"

static void check_norm(const char *in, const char *want)
{
	char out[256];
	int n = path_normalize(in, out, sizeof(out));

	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(out, want);
}

static void test_normalize(void **state)
{
	(void)state;
	check_norm("/tmp/./a//b/../c", "/tmp/a/c");
	check_norm("/", "/");
	check_norm("//", "/");
	check_norm("///etc///passwd", "/etc/passwd");
	check_norm("/..", "/");
	check_norm("/../..", "/");
	check_norm("/../../etc/shadow", "/etc/shadow");
	check_norm("/a/b/", "/a/b");
	check_norm("/a/./", "/a");
	check_norm("/a/.", "/a");
	check_norm("/.", "/");
	check_norm("/a/..", "/");
	check_norm("/a/b/../..", "/");
	check_norm("/a/b/../../..", "/");
	check_norm("/a/b/c/../../d", "/a/d");
	check_norm("/a/../b/../c/./d/..", "/c");
	/* names that merely start with dots are names */
	check_norm("/...", "/...");
	check_norm("/a/.b/..c/c..", "/a/.b/..c/c..");
	check_norm("/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6");
	/* arbitrary bytes in names */
	check_norm("/tmp/\xff\xfe/\n/x", "/tmp/\xff\xfe/\n/x");
}

static void test_normalize_invalid(void **state)
{
	char out[16] = "junk";

	(void)state;
	assert_int_equal(path_normalize("tmp/a", out, sizeof(out)), -EINVAL);
	assert_string_equal(out, "");
	assert_int_equal(path_normalize("", out, sizeof(out)), -EINVAL);
	assert_int_equal(path_normalize("./a", out, sizeof(out)), -EINVAL);
	assert_int_equal(path_normalize(NULL, out, sizeof(out)), -EINVAL);
	assert_string_equal(out, "");
}

static void test_normalize_size(void **state)
{
	char out[8];
	char big[6000];

	(void)state;
	/* "/abcdef" is 7 bytes + NUL: fits exactly in 8 */
	assert_int_equal(path_normalize("/abcdef", out, 8), 7);
	assert_string_equal(out, "/abcdef");
	memcpy(out, "XXXXXXX", 8);
	assert_int_equal(path_normalize("/abcdefg", out, 8), -ENAMETOOLONG);
	assert_string_equal(out, ""); /* never a cut path */
	/* the result decides, not the input */
	assert_int_equal(path_normalize("/a/./././././././b", out, 8), 4);
	assert_string_equal(out, "/a/b");
	/* "/" needs 2 bytes */
	assert_int_equal(path_normalize("/", out, 2), 1);
	assert_string_equal(out, "/");
	assert_int_equal(path_normalize("/", out, 1), -ENAMETOOLONG);
	assert_string_equal(out, "");
	/* outsz 0: nothing written at all */
	out[0] = 'Z';
	assert_int_equal(path_normalize("/", out, 0), -ENAMETOOLONG);
	assert_int_equal(out[0], 'Z');
	/* a huge intermediate component removed by ".." */
	big[0] = '/';
	memset(big + 1, 'x', 5000);
	strcpy(big + 5001, "/../etc");
	assert_int_equal(path_normalize(big, out, sizeof(out)), 4);
	assert_string_equal(out, "/etc");
}

static void check_join(const char *dir, const char *rel, const char *want)
{
	char out[256];
	int n = path_join(dir, rel, out, sizeof(out));

	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(out, want);
}

static void test_join(void **state)
{
	char out[8];

	(void)state;
	check_join("/a/b", "c", "/a/b/c");
	check_join("/a/b/", "c/", "/a/b/c");
	check_join("/a/b", "../c", "/a/c");
	check_join("/a/b", "../../../../etc/passwd", "/etc/passwd");
	check_join("/a/b", "..", "/a");
	check_join("/a/b", ".", "/a/b");
	check_join("/a/b", "", "/a/b");
	check_join("/", "x", "/x");
	check_join("/", "", "/");
	check_join("/proc/self/cwd", "./x/./y", "/proc/self/cwd/x/y");
	/* absolute rel: dir ignored, even when it is not absolute or NULL */
	check_join("/a/b", "/etc/x", "/etc/x");
	check_join("relative", "/etc//x/", "/etc/x");
	check_join(NULL, "/etc/x", "/etc/x");
	/* ".." in rel cancels components of dir, never beyond the root */
	check_join("/var/lib/../run", "../../../..", "/");

	assert_int_equal(path_join("rel", "x", out, sizeof(out)), -EINVAL);
	assert_string_equal(out, "");
	assert_int_equal(path_join(NULL, "x", out, sizeof(out)), -EINVAL);
	assert_int_equal(path_join("/a", NULL, out, sizeof(out)), -EINVAL);
	/* "/abc/def" is 8 bytes + NUL: one too many for out[8] */
	assert_int_equal(path_join("/abc", "def", out, sizeof(out)), -ENAMETOOLONG);
	assert_string_equal(out, "");
	assert_int_equal(path_join("/abc", "de", out, sizeof(out)), 7);
	assert_string_equal(out, "/abc/de");
}

static void test_under(void **state)
{
	(void)state;
	assert_true(path_under("/etc/passwd", "/etc"));
	assert_true(path_under("/etc/ssl/certs/ca.pem", "/etc"));
	assert_true(path_under("/etc", "/etc"));
	assert_true(path_under("/etc/", "/etc"));
	assert_true(path_under("/etc", "/etc/"));
	assert_true(path_under("/etc/passwd", "/etc/"));
	assert_true(path_under("/etc/passwd", "/etc//"));
	assert_true(path_under("/etc/passwd", "/etc/passwd"));
	assert_false(path_under("/etcx", "/etc"));
	assert_false(path_under("/etcx", "/etc/"));
	assert_false(path_under("/et", "/etc"));
	/* a trailing '/' on the prefix does not demand a directory */
	assert_true(path_under("/etc/passwd", "/etc/passwd/"));
	assert_false(path_under("/etc/passwd-", "/etc/passwd"));
	assert_false(path_under("/usr/etc", "/etc"));
	/* the root covers every absolute path */
	assert_true(path_under("/", "/"));
	assert_true(path_under("/anything/at/all", "/"));
	assert_true(path_under("/x", "//"));
	assert_false(path_under("relative", "/"));
	assert_false(path_under("", "/"));
	assert_false(path_under("etc/passwd", "/etc"));
	/* degenerate arguments never match */
	assert_false(path_under("/etc", ""));
	assert_false(path_under(NULL, "/etc"));
	assert_false(path_under("/etc", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_normalize_invalid),
		cmocka_unit_test(test_normalize_size),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_under),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
