// SPDX-License-Identifier: Apache-2.0
/* The enforcement compiler: a container's process rules -> the kernel's
 * proc_rules entries (bpf/enforce.h), and the per-container flags. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "enforce_compile.h"

static struct policy *policy_from(const char *yaml)
{
	struct policy *p = policy__new();
	struct diags d = { 0 };

	assert_non_null(p);
	assert_int_equal(policy__load_buffer(p, "t.yaml", yaml, strlen(yaml), &d), 0);
	assert_int_equal(policy__finish(p, &d), 0);
	diags__free(&d);
	return p;
}

static const char *yaml_fmt =
	"apiVersion: neuvector.com/v1\n"
	"kind: NvSecurityRule\n"
	"metadata: {name: nv.web.shop, namespace: shop}\n"
	"spec:\n"
	"  target:\n"
	"    policymode: %s\n"
	"    selector:\n"
	"      name: nv.web.shop\n"
	"      criteria: [{key: service, op: \"=\", value: web}]\n"
	"  process_profile: {baseline: %s, mode: %s}\n"
	"  process:\n"
	"  - {name: nc, path: \"*\", action: deny}\n"
	"  - {name: nginx, path: /usr/sbin/nginx, action: allow}\n"
	"  - {name: \"*\", path: /usr/local/bin/*, action: allow, allow_update: true}\n"
	"  - {name: nginx, path: /usr/sbin/nginx, action: deny}\n"
	"  - {name: \"*\", path: /*, action: deny}\n";

static size_t web_group(const struct policy *p)
{
	long g = policy__group_find(p, "nv.web.shop");

	assert_true(g >= 0);
	return (size_t)g;
}

static const struct enforce_proc_entry *find(const struct enforce_procs *ep, uint32_t kind,
					     uint64_t name, uint64_t path)
{
	for (size_t i = 0; i < ep->n; i++)
		if (ep->v[i].key.path_kind == kind && ep->v[i].key.name_hash == name &&
		    ep->v[i].key.path_hash == path)
			return &ep->v[i];
	return NULL;
}

/* The kernel's hash is FNV-1a 64 (bpf/include/enforce.bpf.h); 0 is "any". */
static void test_hash(void **state)
{
	(void)state;
	assert_int_equal(enforce_hash(""), 0xcbf29ce484222325ULL);
	assert_int_equal(enforce_hash("a"), 0xaf63dc4c8601ec8cULL);
	assert_int_equal(enforce_hash_n("/usr/bin/x", 8), enforce_hash("/usr/bin"));
	assert_int_equal(enforce_hash_n("ab\0cd", 5), enforce_hash("ab"));
}

static void test_compile_rules(void **state)
{
	char yaml[2048];

	(void)state;
	snprintf(yaml, sizeof(yaml), yaml_fmt, "Monitor", "zero-drift", "Protect");
	struct policy *p = policy_from(yaml);
	size_t g = web_group(p);
	size_t order[] = { g, POLICY_G_CONTAINERS };
	struct engine_view v = { .group = "nv.web.shop", .order = order, .n_order = 2,
				 .proc_mode = MODE_PROTECT, .net_mode = MODE_MONITOR,
				 .baseline = BASELINE_ZERO_DRIFT };
	struct enforce_procs ep;

	assert_int_equal(enforce_compile_procs(p, &v, 7, &ep), 0);
	assert_null(ep.uncompilable);
	/* the second nginx rule has the first one's key: the first wins */
	assert_int_equal(ep.n, 4);
	for (size_t i = 0; i < ep.n; i++)
		assert_int_equal(ep.v[i].key.set, 7);

	const struct enforce_proc_entry *e = find(&ep, WACHT_PK_ANY, enforce_hash("nc"), 0);
	assert_non_null(e);
	assert_int_equal(e->val.order, 0);
	assert_int_equal(e->val.flags, WACHT_PR_DENY);
	e = find(&ep, WACHT_PK_EXACT, enforce_hash("nginx"), enforce_hash("/usr/sbin/nginx"));
	assert_non_null(e);
	assert_int_equal(e->val.order, 1);
	assert_int_equal(e->val.flags, 0);
	e = find(&ep, WACHT_PK_DIR, 0, enforce_hash("/usr/local/bin"));
	assert_non_null(e);
	assert_int_equal(e->val.order, 2);
	assert_int_equal(e->val.flags, WACHT_PR_ALLOW_UPDATE);
	/* "/ *" is every path: the directory "" */
	e = find(&ep, WACHT_PK_DIR, 0, enforce_hash(""));
	assert_non_null(e);
	assert_int_equal(e->val.order, 4);
	assert_int_equal(e->val.flags, WACHT_PR_DENY);

	assert_int_equal(enforce_cg_flags(&v, &ep, true),
			 WACHT_CG_KNOWN | WACHT_CG_PROC_PROTECT | WACHT_CG_ZERO_DRIFT);
	/* alert-only: known, never acted on */
	assert_int_equal(enforce_cg_flags(&v, &ep, false), WACHT_CG_KNOWN | WACHT_CG_ZERO_DRIFT);
	v.net_mode = MODE_PROTECT;
	v.proc_mode = MODE_MONITOR;
	/* the network flag is the network compiler's, never this one's */
	assert_int_equal(enforce_cg_flags(&v, &ep, true), WACHT_CG_KNOWN | WACHT_CG_ZERO_DRIFT);

	/* equal member lists share one compiled set; others do not */
	uint64_t sig = enforce_procs_signature(&v);
	size_t other[] = { POLICY_G_CONTAINERS, g };
	struct engine_view v2 = v;
	assert_int_equal(enforce_procs_signature(&v2), sig);
	v2.order = other;
	assert_true(enforce_procs_signature(&v2) != sig);
	enforce_procs_free(&ep);
	policy__free(p);
}

/* A name pattern the kernel cannot match: the list is not enforced (never
 * a kill the rules did not mean, never a silent allow). */
static void test_uncompilable(void **state)
{
	static const char *yaml =
		"apiVersion: neuvector.com/v1\n"
		"kind: NvSecurityRule\n"
		"metadata: {name: nv.web.shop, namespace: shop}\n"
		"spec:\n"
		"  target:\n"
		"    selector:\n"
		"      name: nv.web.shop\n"
		"      criteria: [{key: service, op: \"=\", value: web}]\n"
		"  process_profile: {baseline: basic, mode: Protect}\n"
		"  process:\n"
		"  - {name: \"ngin*\", path: /usr/sbin/nginx, action: allow}\n"
		"  - {name: sh, path: /bin/sh, action: allow}\n";

	(void)state;
	struct policy *p = policy_from(yaml);
	size_t order[] = { web_group(p) };
	struct engine_view v = { .group = "nv.web.shop", .order = order, .n_order = 1,
				 .proc_mode = MODE_PROTECT, .baseline = BASELINE_BASIC };
	struct enforce_procs ep;

	assert_int_equal(enforce_compile_procs(p, &v, 1, &ep), 0);
	assert_non_null(ep.uncompilable);
	assert_string_equal(ep.uncompilable->name, "ngin*");
	assert_int_equal(ep.uncompilable->pos.line, 11);
	assert_int_equal(ep.n, 1);
	assert_int_equal(enforce_cg_flags(&v, &ep, true), WACHT_CG_KNOWN);
	enforce_procs_free(&ep);
	policy__free(p);
}

static int count;
static void count_builtin(void *ctx, uint64_t hash, uint32_t kind)
{
	(void)ctx;
	if (hash == enforce_hash("nc"))
		assert_int_equal(kind, WACHT_BUILTIN_SUSPICIOUS);
	if (hash == enforce_hash("apt-get"))
		assert_int_equal(kind, WACHT_BUILTIN_PACKAGE_MANAGER);
	count++;
}

static void test_builtins(void **state)
{
	(void)state;
	enforce_builtin_names(count_builtin, NULL);
	assert_int_equal(count, 25);
	assert_string_equal(enforce_reason_name(WACHT_V_KILLED | WACHT_KR_DENY_RULE), "denied by rule");
	assert_string_equal(enforce_reason_name(WACHT_KR_NOT_ALLOWED), "not in the process profile");
	assert_string_equal(enforce_reason_name(0), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_compile_rules),
		cmocka_unit_test(test_uncompilable),
		cmocka_unit_test(test_builtins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
