// SPDX-License-Identifier: Apache-2.0
/* test_file_policy.c: unit tests of the file guard's pure part: a
 * container's block_access rules as a table, the decision on one open,
 * and the log of denials the engine asks. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "file_policy.h"
#include "policy.h"

/* Three groups: a custom one with two block_access rules and a
 * monitor_change rule, a learned one with one more, one without files. */
static const char *yaml =
	"apiVersion: neuvector.com/v1\n"
	"kind: NvClusterSecurityRule\n"
	"metadata: {name: secrets}\n"
	"spec:\n"
	"  target:\n"
	"    selector: {name: secrets, criteria: [{key: service, op: \"=\", value: web}]}\n"
	"  file:\n"
	"  - {filter: /etc/secret/*, recursive: true, behavior: block_access, app: [cat, a-very-long-app-name]}\n"
	"  - {filter: /etc/app/*, recursive: true, behavior: monitor_change}\n"
	"  - {filter: /data/*.db, recursive: false, behavior: block_access}\n"
	"---\n"
	"apiVersion: neuvector.com/v1\n"
	"kind: NvSecurityRule\n"
	"metadata: {name: nv.web.shop, namespace: shop}\n"
	"spec:\n"
	"  target:\n"
	"    selector: {name: nv.web.shop, criteria: [{key: service, op: \"=\", value: web}]}\n"
	"  file:\n"
	"  - {filter: /etc/secret/tls/*, recursive: true, behavior: block_access, app: [nginx]}\n"
	"---\n"
	"apiVersion: neuvector.com/v1\n"
	"kind: NvClusterSecurityRule\n"
	"metadata: {name: plain}\n"
	"spec:\n"
	"  target:\n"
	"    selector: {name: plain, criteria: [{key: service, op: \"=\", value: web}]}\n";

static struct policy *load(const char *text)
{
	struct policy *p = policy__new();
	struct diags d = { 0 };

	assert_non_null(p);
	assert_int_equal(policy__load_buffer(p, "t.yaml", text, strlen(text), &d), 0);
	assert_int_equal(policy__finish(p, &d), 0);
	diags__free(&d);
	return p;
}

static size_t group(const struct policy *p, const char *name)
{
	long g = policy__group_find(p, name);

	assert_true(g >= 0);
	return (size_t)g;
}

static void test_app_match(void **state)
{
	(void)state;
	assert_true(file_app_match("cat", "cat"));
	assert_false(file_app_match("cat", "ca"));
	assert_false(file_app_match("ca", "cat"));
	assert_false(file_app_match("cat", "head"));
	/* comm is cut at 15 bytes */
	assert_true(file_app_match("a-very-long-app-name", "a-very-long-app"));
	assert_false(file_app_match("a-very-long-xxx-name", "a-very-long-app"));
	/* a 14-byte name is not a cut one */
	assert_false(file_app_match("a-very-long-ap-x", "a-very-long-ap"));
}

static void test_table_and_decision(void **state)
{
	struct policy *p = load(yaml);
	size_t order[] = { group(p, "secrets"), group(p, "nv.web.shop"), group(p, "plain") };
	const char *rule = NULL;

	(void)state;
	struct file_policy *fp = file_policy__new(p, order, 3);
	assert_non_null(fp);
	/* block_access only: the monitor_change rule is not the guard's */
	assert_int_equal(file_policy__count(fp), 3);

	/* which paths the guard must look closer at */
	assert_true(file_policy__covers(fp, "/etc/secret/key"));
	assert_true(file_policy__covers(fp, "/etc/secret/tls/a/b"));
	assert_true(file_policy__covers(fp, "/data/main.db"));
	assert_false(file_policy__covers(fp, "/data/sub/main.db"));
	assert_false(file_policy__covers(fp, "/etc/app/conf")); /* monitor_change only */
	assert_false(file_policy__covers(fp, "/etc/hostname"));

	/* the listed app may, any other may not */
	assert_false(file_policy__denies(fp, "/etc/secret/key", "cat", &rule));
	assert_null(rule);
	assert_true(file_policy__denies(fp, "/etc/secret/key", "head", &rule));
	assert_string_equal(rule, "/etc/secret/*");
	/* recursive */
	assert_true(file_policy__denies(fp, "/etc/secret/a/b/c", "sh", NULL));
	assert_false(file_policy__denies(fp, "/etc/secret/a/b/c", "a-very-long-app", NULL));
	/* two rules match /etc/secret/tls/key: an app listed in either may */
	assert_false(file_policy__denies(fp, "/etc/secret/tls/key", "cat", NULL));
	assert_false(file_policy__denies(fp, "/etc/secret/tls/key", "nginx", NULL));
	rule = NULL;
	assert_true(file_policy__denies(fp, "/etc/secret/tls/key", "head", &rule));
	assert_string_equal(rule, "/etc/secret/*"); /* the first in order */
	/* nginx is listed below /etc/secret/tls only */
	assert_true(file_policy__denies(fp, "/etc/secret/key", "nginx", NULL));
	/* no app list: nobody may */
	assert_true(file_policy__denies(fp, "/data/main.db", "cat", &rule));
	assert_string_equal(rule, "/data/*.db");
	/* not recursive, not *.db, outside every filter, a monitor_change path */
	assert_false(file_policy__denies(fp, "/data/sub/main.db", "cat", NULL));
	assert_false(file_policy__denies(fp, "/data/main.dbx", "cat", NULL));
	assert_false(file_policy__denies(fp, "/etc/secretx", "head", NULL));
	assert_false(file_policy__denies(fp, "/etc/app/conf", "head", NULL));
	assert_false(file_policy__denies(fp, "/", "head", NULL));

	/* the table is a copy: it outlives the policy (a reload frees it) */
	policy__free(p);
	assert_true(file_policy__denies(fp, "/etc/secret/key", "head", NULL));
	assert_false(file_policy__denies(fp, "/etc/secret/key", "cat", NULL));
	file_policy__free(fp);
	file_policy__free(NULL);
}

static void test_no_rules_and_equal(void **state)
{
	struct policy *p = load(yaml);
	size_t plain[] = { group(p, "plain") };
	size_t all[] = { group(p, "secrets"), group(p, "nv.web.shop") };
	size_t rev[] = { group(p, "nv.web.shop"), group(p, "secrets") };
	size_t one[] = { group(p, "secrets") };

	(void)state;
	struct file_policy *none = file_policy__new(p, plain, 1);
	assert_non_null(none);
	assert_int_equal(file_policy__count(none), 0);
	assert_false(file_policy__denies(none, "/etc/secret/key", "head", NULL));
	assert_false(file_policy__covers(none, "/etc/secret/key"));
	assert_false(file_policy__covers(NULL, "/etc/secret/key"));
	assert_int_equal(file_policy__count(NULL), 0);

	struct file_policy *a = file_policy__new(p, all, 2), *b = file_policy__new(p, all, 2);
	struct file_policy *r = file_policy__new(p, rev, 2), *o = file_policy__new(p, one, 1);
	assert_true(file_policy__equal(a, b));
	assert_false(file_policy__equal(a, r)); /* order is part of the rules */
	assert_false(file_policy__equal(a, o));
	assert_false(file_policy__equal(a, none));
	assert_true(file_policy__equal(none, NULL));

	/* an app learned (added to a rule) makes the tables differ */
	assert_int_equal(policy__file_app_add(p, group(p, "secrets"), 0, "head"), 1);
	struct file_policy *c = file_policy__new(p, all, 2);
	assert_false(file_policy__equal(a, c));
	assert_false(file_policy__denies(c, "/etc/secret/key", "head", NULL));
	assert_true(file_policy__denies(a, "/etc/secret/key", "head", NULL));
	for (struct file_policy **x = (struct file_policy *[]){ none, a, b, r, o, c, NULL }; *x; x++)
		file_policy__free(*x);
	policy__free(p);
}

static void test_denial_log(void **state)
{
	struct denial_log *l = denial_log__new();
	char path[FILE_DENIAL_PATH];
	uint32_t tgid;
	uint64_t ts;

	(void)state;
	assert_non_null(l);
	assert_false(denial_log__take(l, 7, "/etc/secret/key"));

	denial_log__add(l, 7, "/etc/secret/a", false, 100);
	denial_log__add(l, 7, "/etc/secret/b", false, 101);
	denial_log__add(l, 8, "/etc/secret/a", false, 102);
	/* another tgid's record is not this one's */
	assert_false(denial_log__take(l, 9, "/etc/secret/a"));
	/* the record of that path first, though not the oldest */
	assert_true(denial_log__take(l, 7, "/etc/secret/b"));
	/* a path the guard did not see (the event names a symlink): the oldest of the tgid */
	assert_true(denial_log__take(l, 7, "/etc/link-to-a"));
	assert_false(denial_log__take(l, 7, "/etc/secret/a")); /* taken: once only */
	assert_true(denial_log__take(l, 8, "/etc/secret/a"));

	/* an open its event did not claim: taken by tgid, once the event
	 * stream is past it */
	denial_log__add(l, 12, "/etc/secret/key", false, 150);
	assert_false(denial_log__take_open(l, 13, 1000, path, sizeof(path), &ts));
	assert_false(denial_log__take_open(l, 12, 149, path, sizeof(path), &ts));
	assert_false(denial_log__take_open(l, 0, 1000, path, sizeof(path), &ts));
	assert_true(denial_log__take_open(l, 12, 150, path, sizeof(path), &ts));
	assert_string_equal(path, "/etc/secret/key");
	assert_int_equal(ts, 150);
	assert_false(denial_log__take_open(l, 12, 1000, path, sizeof(path), &ts));

	/* exec records: not taken by an open's event; taken oldest first,
	 * only when made before the time asked */
	assert_int_equal(denial_log__execs(l), 0);
	denial_log__add(l, 10, "/etc/secret/tool", true, 200);
	denial_log__add(l, 11, "/etc/secret/run.sh", true, 300);
	assert_int_equal(denial_log__execs(l), 2);
	assert_false(denial_log__take(l, 10, "/etc/secret/tool"));
	assert_false(denial_log__take_open(l, 10, 1000, path, sizeof(path), &ts));
	assert_false(denial_log__take_exec(l, 199, &tgid, path, sizeof(path), &ts));
	assert_true(denial_log__take_exec(l, 1000, &tgid, path, sizeof(path), &ts));
	assert_int_equal(tgid, 10);
	assert_string_equal(path, "/etc/secret/tool");
	assert_int_equal(ts, 200);
	assert_int_equal(denial_log__execs(l), 1);
	/* the path is cut to the buffer */
	char small[8];
	assert_true(denial_log__take_exec(l, 300, &tgid, small, sizeof(small), &ts));
	assert_int_equal(tgid, 11);
	assert_string_equal(small, "/etc/se");
	assert_int_equal(denial_log__execs(l), 0);
	assert_false(denial_log__take_exec(l, UINT64_MAX, &tgid, path, sizeof(path), &ts));
	assert_int_equal(denial_log__lost(l), 0);
	denial_log__free(l);
	denial_log__free(NULL);
}

static void test_denial_log_bounded(void **state)
{
	struct denial_log *l = denial_log__new();
	char path[FILE_DENIAL_PATH + 64];

	(void)state;
	/* one more than it holds: the oldest goes, counted */
	for (uint32_t i = 1; i <= FILE_DENIALS + 1; i++) {
		snprintf(path, sizeof(path), "/f/%u", i);
		denial_log__add(l, i, path, i == 1, i);
	}
	assert_int_equal(denial_log__lost(l), 1);
	assert_int_equal(denial_log__execs(l), 0); /* the lost one was the exec */
	assert_false(denial_log__take(l, 1, "/f/1"));
	assert_true(denial_log__take(l, 2, "/f/2"));
	assert_true(denial_log__take(l, FILE_DENIALS + 1, "/f/257"));
	/* a freed slot is reused before anything else goes */
	denial_log__add(l, 5000, "/f/5000", false, 5000);
	assert_int_equal(denial_log__lost(l), 1);

	/* a path longer than a record holds compares on what is kept */
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = 0;
	denial_log__add(l, 6000, path, false, 6000);
	path[FILE_DENIAL_PATH] = 'b'; /* differs beyond the kept bytes */
	assert_true(denial_log__take(l, 6000, path));
	denial_log__free(l);
}

/* The guard thread adds while the main thread takes. */
static void *adder(void *arg)
{
	struct denial_log *l = arg;

	for (uint32_t i = 0; i < 20000; i++)
		denial_log__add(l, 1 + i % 64, "/etc/secret/key", i % 2, i);
	return NULL;
}

static void test_denial_log_threads(void **state)
{
	struct denial_log *l = denial_log__new();
	pthread_t t;
	uint64_t taken = 0, exec_taken = 0;
	char path[FILE_DENIAL_PATH];
	uint32_t tgid;
	uint64_t ts;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, adder, l), 0);
	for (int i = 0; i < 20000; i++) {
		taken += denial_log__take(l, 1 + i % 64, "/etc/secret/key");
		exec_taken += denial_log__take_exec(l, UINT64_MAX, &tgid, path, sizeof(path), &ts);
	}
	pthread_join(t, NULL);
	/* what is left, taken now */
	for (uint32_t k = 1; k <= 64; k++)
		while (denial_log__take(l, k, "/etc/secret/key"))
			taken++;
	while (denial_log__take_exec(l, UINT64_MAX, &tgid, path, sizeof(path), &ts))
		exec_taken++;
	/* every record was taken once or counted lost */
	assert_int_equal(taken + exec_taken + denial_log__lost(l), 20000);
	assert_int_equal(denial_log__execs(l), 0);
	denial_log__free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_app_match),
		cmocka_unit_test(test_table_and_decision),
		cmocka_unit_test(test_no_rules_and_equal),
		cmocka_unit_test(test_denial_log),
		cmocka_unit_test(test_denial_log_bounded),
		cmocka_unit_test(test_denial_log_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
