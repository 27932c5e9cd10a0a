/* SPDX-License-Identifier: Apache-2.0 */
/* test_learned.c: learned profiles of several nodes merged per group. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "learned.h"
#include "policy.h"

#include "learned_fixtures.h"

static char *merge(const char *const *yaml, const char *const *nodes, size_t n, int *rc_add,
		   struct diags *d)
{
	struct learned_merge *m = learned_merge__new();
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(m);
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		rc_add[i] = learned_merge__add(m, nodes[i], yaml[i], strlen(yaml[i]), d);
	assert_true(learned_merge__export(m, f, d) >= 0);
	fclose(f);
	learned_merge__free(m);
	return text;
}

/* The merged text loads back as one group with the union of the rules. */
static void assert_loads_back(const char *text)
{
	struct policy *p = policy__new();
	struct diags d = {0};
	const struct group *g;
	size_t owned = 0;
	long gi;

	assert_non_null(p);
	assert_int_equal(policy__load_buffer(p, "merged", text, strlen(text), &d), 0);
	assert_int_equal(policy__finish(p, &d), 0);
	assert_int_equal(d.n_errors, 0);
	gi = policy__group_find(p, "nv.web.shop");
	assert_true(gi >= 0);
	g = &p->groups[gi];
	assert_string_equal(g->namespace, "shop");
	assert_int_equal(g->n_procs, 3);
	assert_string_equal(g->procs[2].path, "/usr/bin/curl");
	assert_int_equal(g->n_files, 1);
	assert_int_equal(g->files[0].n_apps, 2);
	for (size_t i = 0; i < p->n_net; i++)
		owned += p->net[i].owner == (size_t)gi;
	assert_int_equal(owned, 2);
	diags__free(&d);
	policy__free(p);
}

static void test_two_nodes_union(void **state)
{
	const char *yaml[] = { node_a_yaml, node_b_yaml };
	const char *nodes[] = { "node-a", "node-b" };
	struct diags d = {0};
	int rc[2];
	char *text;

	(void)state;
	text = merge(yaml, nodes, 2, rc, &d);
	assert_int_equal(rc[0], 0);
	assert_int_equal(rc[1], 0);
	assert_int_equal(d.n, 0);
	assert_string_equal(text, merged_yaml);
	assert_loads_back(text);
	free(text);
	diags__free(&d);
}

/* The same profile from two nodes (replicas on two nodes learned the same)
 * is the profile once; the order of the nodes does not add rules. */
static void test_identical_profiles_once(void **state)
{
	const char *yaml[] = { node_b_yaml, node_a_yaml, node_b_yaml, node_a_yaml };
	const char *nodes[] = { "node-b", "node-a", "node-c", "node-d" };
	struct policy *p = policy__new();
	struct diags d = {0};
	int rc[4];
	char *text;
	long gi;

	(void)state;
	text = merge(yaml, nodes, 4, rc, &d);
	for (int i = 0; i < 4; i++)
		assert_int_equal(rc[i], 0);
	assert_int_equal(policy__load_buffer(p, "merged", text, strlen(text), &d), 0);
	assert_int_equal(policy__finish(p, &d), 0);
	gi = policy__group_find(p, "nv.web.shop");
	assert_true(gi >= 0);
	assert_int_equal(p->groups[gi].n_procs, 3);
	assert_string_equal(p->groups[gi].procs[0].path, "/usr/sbin/nginx");
	assert_string_equal(p->groups[gi].procs[1].path, "/usr/bin/curl");
	assert_string_equal(p->groups[gi].procs[2].path, "/bin/sh");
	assert_int_equal(p->n_net, 2);
	assert_int_equal(p->groups[gi].files[0].n_apps, 2);
	policy__free(p);
	free(text);
	diags__free(&d);
}

/* A broken profile and one whose group criteria contradict the others'
 * are refused with the reason; the rest still merge. */
static void test_bad_profiles_refused(void **state)
{
	static const char broken[] = "---\napiVersion: neuvector.com/v1\nkind: [\n";
	char *other = strdup(node_b_yaml), *at;
	const char *yaml[3];
	const char *nodes[] = { "node-a", "node-x", "node-y" };
	struct diags d = {0};
	int rc[3];
	char *text;

	(void)state;
	assert_non_null(other);
	/* node-y says the group is service web.other */
	at = strstr(other, "value: web.shop");
	assert_non_null(at);
	memcpy(at, "value: web.othr", 15);
	yaml[0] = node_a_yaml;
	yaml[1] = broken;
	yaml[2] = other;
	text = merge(yaml, nodes, 3, rc, &d);
	assert_int_equal(rc[0], 0);
	assert_int_equal(rc[1], -EINVAL);
	assert_int_equal(rc[2], -EINVAL);
	assert_true(d.n_errors >= 2);
	assert_string_equal(d.v[0].file, "node-x:learned");
	assert_string_equal(d.v[d.n - 1].file, "node-y:learned");
	/* only node-a's rules: no curl, no redis */
	assert_null(strstr(text, "curl"));
	assert_null(strstr(text, "6379"));
	assert_non_null(strstr(text, "path: /bin/sh\n"));
	free(text);
	free(other);
	diags__free(&d);
}

static void test_nothing_learned(void **state)
{
	struct learned_merge *m = learned_merge__new();
	struct diags d = {0};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_int_equal(learned_merge__export(m, f, &d), 0);
	fclose(f);
	assert_int_equal(len, 0);
	/* no adds after an export */
	assert_int_equal(learned_merge__add(m, "n", node_a_yaml, strlen(node_a_yaml), &d),
			 -EINVAL);
	free(text);
	learned_merge__free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_nodes_union),
		cmocka_unit_test(test_identical_profiles_once),
		cmocka_unit_test(test_bad_profiles_refused),
		cmocka_unit_test(test_nothing_learned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
