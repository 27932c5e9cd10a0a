// SPDX-License-Identifier: Apache-2.0
/* test_rules_export.c: a group exported as YAML loads back (rules.c) to the
 * same group, field by field; learned rules export alone; quoting holds for
 * the strings YAML would misread. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy.h"

/* DESIGN.md's example, plus the two groups it names without criteria. */
static const char design_yaml[] =
    "apiVersion: neuvector.com/v1\n"
    "kind: NvSecurityRule\n"
    "metadata: {name: nv.web.shop, namespace: shop}\n"
    "spec:\n"
    "  target:\n"
    "    policymode: Protect\n"
    "    selector:\n"
    "      name: nv.web.shop\n"
    "      criteria:\n"
    "      - {key: service, op: \"=\", value: web.shop}\n"
    "      - {key: domain, op: \"=\", value: shop}\n"
    "  ingress:\n"
    "  - {name: from-lb, action: allow, ports: tcp/8080, priority: 0,\n"
    "     selector: {name: nv.lb.shop}}\n"
    "  egress:\n"
    "  - {name: to-db, action: allow, ports: tcp/5432, selector: {name: nv.db.shop}}\n"
    "  process_profile: {baseline: zero-drift, mode: Protect}\n"
    "  process:\n"
    "  - {name: nginx, path: /usr/sbin/nginx, action: allow}\n"
    "  - {name: \"*\", path: /usr/bin/*, action: deny}\n"
    "  file:\n"
    "  - {filter: /etc/secret/*, recursive: true, behavior: block_access, app: [nginx]}\n"
    "---\n"
    "apiVersion: neuvector.com/v1\n"
    "kind: NvSecurityRule\n"
    "metadata: {name: nv.lb.shop, namespace: shop}\n"
    "spec:\n"
    "  target:\n"
    "    selector: {name: nv.lb.shop, criteria: [{key: service, op: \"=\", value: lb.shop}]}\n"
    "---\n"
    "apiVersion: neuvector.com/v1\n"
    "kind: NvSecurityRule\n"
    "metadata: {name: nv.db.shop, namespace: shop}\n"
    "spec:\n"
    "  target:\n"
    "    selector: {name: nv.db.shop, criteria: [{key: service, op: \"=\", value: db.shop}]}\n"
    "  process_profile: {baseline: basic}\n";

/* Labels (k=v and presence), regex, address peers, reserved peers on both
 * sides, applications, several priorities, a cluster-wide rule. */
static const char payments_yaml[] =
    "apiVersion: neuvector.com/v1\n"
    "kind: NvClusterSecurityRule\n"
    "metadata: {name: payments}\n"
    "spec:\n"
    "  target:\n"
    "    policymode: Monitor\n"
    "    selector:\n"
    "      name: payments\n"
    "      criteria:\n"
    "      - {key: label, op: \"=\", value: app=payments}\n"
    "      - {key: label, op: \"=\", value: tier}\n"
    "      - {key: label, op: regex, value: \"version=^v[0-9]+$\"}\n"
    "      - {key: image, op: regex, value: '^registry\\.example\\.com:5000/pay.*:v[0-9]+$'}\n"
    "      - {key: container, op: \"!regex\", value: \"^debug-\"}\n"
    "      - {key: node, op: prefix, value: worker-}\n"
    "      - {key: namespace, op: contains, value: pay}\n"
    "  ingress:\n"
    "  - {name: from-world, action: allow, ports: \"tcp/443,udp/53\", priority: 5,\n"
    "     selector: {name: external}, applications: [HTTP, SSL]}\n"
    "  - {name: from-nodes, action: deny, ports: icmp, priority: 1, selector: {name: nodes}}\n"
    "  - {name: from-self, action: allow, ports: tcp/9000, priority: 5,\n"
    "     selector: {name: payments}}\n"
    "  egress:\n"
    "  - name: to-partner\n"
    "    action: allow\n"
    "    ports: tcp/8000-8080\n"
    "    priority: 2\n"
    "    selector:\n"
    "      name: partner-api\n"
    "      criteria:\n"
    "      - {key: address, op: \"=\", value: 203.0.113.0/24}\n"
    "      - {key: address, op: \"=\", value: 198.51.100.1-198.51.100.9}\n"
    "      - {key: address, op: \"!=\", value: \"2001:db8::/32\"}\n"
    "  - {name: to-all, action: deny, ports: any, priority: 10, selector: {name: containers}}\n"
    "  - {name: to-dns, action: allow, ports: udp/53, priority: 2, selector: {name: external}}\n"
    "  process_profile: {baseline: basic, mode: Monitor}\n"
    "  process:\n"
    "  - {name: java, path: /usr/bin/java, action: allow, allow_update: true}\n"
    "  - {name: sh, path: /bin/*, action: allow}\n"
    "  - {name: \"*\", path: \"*\", action: deny}\n"
    "  file:\n"
    "  - {filter: /etc/pay/keys/*, recursive: true, behavior: block_access, app: [java, keytool]}\n"
    "  - {filter: /var/log/*.log, recursive: false, behavior: monitor_change}\n";

/* Strings YAML misreads when written plain. */
static const char quirky_yaml[] =
    "apiVersion: neuvector.com/v1\n"
    "kind: NvSecurityRule\n"
    "metadata: {name: quirky, namespace: team-a}\n"
    "spec:\n"
    "  target:\n"
    "    selector:\n"
    "      name: quirky\n"
    "      criteria:\n"
    "      - {key: container, op: \"=\", value: \"*\"}\n"
    "      - {key: image, op: \"=\", value: \"-dash:latest\"}\n"
    "      - {key: label, op: \"=\", value: \"k8s.io/app=a: b\"}\n"
    "      - {key: service, op: \"=\", value: \"true\"}\n"
    "      - {key: node, op: \"!=\", value: \"123\"}\n"
    "      - {key: node, op: \"=\", value: \"#not-a-comment\"}\n"
    "      - {key: node, op: \"=\", value: \"=\"}\n"
    "      - {key: node, op: \"=\", value: \"it's \\\"quoted\\\" \\\\ back\"}\n"
    "      - {key: node, op: \"=\", value: \"n\\u00f6de\"}\n"
    "  ingress:\n"
    "  - {name: \"- lead\", action: allow, ports: \" tcp/80 , udp/53 \",\n"
    "     selector: {name: quirky}}\n"
    "  egress:\n"
    "  - {name: \"r: 1\", action: deny, ports: \"tcp/any\", priority: 65535,\n"
    "     selector: {name: nodes},\n"
    "     applications: [\"null\", \"~\", \"yes\", \"*\", \"[x]\", \"{y}\",\n"
    "       \"&a\", \"!t\", \"%d\", \"@at\"]}\n"
    "  process:\n"
    "  - {name: \"*\", path: \"*\", action: allow}\n"
    "  - {name: \"yes\", path: \"/opt/my app/bin/x\", action: deny, allow_update: true}\n"
    "  - {name: \"1.5\", path: \"\", action: allow}\n"
    "  - {name: \"a\\tb\", path: \"/x/y: z\", action: deny}\n"
    "  file:\n"
    "  - {filter: \"/home/*/.ssh/*\", recursive: false, behavior: monitor_change,\n"
    "     app: [\"- x\", \"off\", \"0x1F\", \"a #b\"]}\n";

/* ---- helpers */

static struct policy *load(const char *yaml)
{
	struct policy *p = policy__new();
	struct diags d = {0};
	int err;

	assert_non_null(p);
	err = policy__load_buffer(p, "test.yaml", yaml, strlen(yaml), &d);
	if (!err)
		err = policy__finish(p, &d);
	if (err || d.n_warnings) {
		diags__print(&d, stderr);
		fprintf(stderr, "--- while loading:\n%s\n", yaml);
	}
	assert_int_equal(err, 0);
	/* the exporter writes nothing the loader would warn about */
	assert_int_equal(d.n_warnings, 0);
	diags__free(&d);
	return p;
}

/* The export of group `name`, NUL-terminated; caller frees. */
static char *export_group(const struct policy *p, const char *name, bool learned_only)
{
	long g = policy__group_find(p, name);
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	assert_true(g >= 0);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(policy__export_group(p, (size_t)g, learned_only, f), 0);
	assert_int_equal(fclose(f), 0);
	assert_non_null(buf);
	assert_true(strncmp(buf, "---\n", 4) == 0);
	return buf;
}

static void assert_str_or_null_equal(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_crit_equal(const struct group *a, const struct group *b)
{
	assert_int_equal(a->n_crit, b->n_crit);
	for (size_t i = 0; i < a->n_crit; i++) {
		const struct criterion *x = &a->crit[i], *y = &b->crit[i];

		assert_int_equal(x->key, y->key);
		assert_int_equal(x->op, y->op);
		assert_string_equal(x->value, y->value);
		assert_str_or_null_equal(x->label_key, y->label_key);
		assert_str_or_null_equal(x->label_val, y->label_val);
		assert_int_equal(x->has_regex, y->has_regex);
		if (x->key == CRIT_ADDRESS)
			assert_memory_equal(&x->addr, &y->addr, sizeof(x->addr));
	}
}

static void assert_strs_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_string_equal(a[i], b[i]);
}

/* The peer is compared by what a reader sees: name, kind, criteria. */
static void assert_peer_equal(const struct group *a, const struct group *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->kind, b->kind);
	assert_true(b->defined);
	assert_crit_equal(a, b);
}

/* The i-th rule g owns on one side (ingress or egress) in evaluation
 * order, counting only learned ones if learned_only; NULL past the end. */
static const struct net_rule *nth_net(const struct policy *p, size_t g, bool ingress,
				      bool learned_only, size_t n)
{
	for (size_t i = 0; i < p->n_net; i++) {
		const struct net_rule *r = &p->net[i];

		if (r->owner != g || r->ingress != ingress || (learned_only && !r->learned))
			continue;
		if (n-- == 0)
			return r;
	}
	return NULL;
}

static void assert_net_equal(const struct policy *pa, size_t ga, const struct policy *pb, size_t gb,
			     bool ingress, bool learned_only)
{
	size_t i;

	for (i = 0;; i++) {
		const struct net_rule *x = nth_net(pa, ga, ingress, learned_only, i);
		const struct net_rule *y = nth_net(pb, gb, ingress, false, i);

		if (!x || !y) {
			assert_ptr_equal(x, y);
			break;
		}
		assert_string_equal(x->name, y->name);
		assert_int_equal(x->action, y->action);
		assert_int_equal(x->priority, y->priority);
		assert_string_equal(x->ports_spec, y->ports_spec);
		assert_int_equal(x->n_ports, y->n_ports);
		assert_memory_equal(x->ports, y->ports, x->n_ports * sizeof(x->ports[0]));
		assert_strs_equal(x->apps, x->n_apps, y->apps, y->n_apps);
		assert_peer_equal(&pa->groups[x->from], &pb->groups[y->from]);
		assert_peer_equal(&pa->groups[x->to], &pb->groups[y->to]);
		assert_false(y->learned); /* read from a file */
	}
}

/* Group `name` of a and b are the same group (b read from a's export). */
static void assert_group_equal(const struct policy *a, const struct policy *b, const char *name,
			       bool learned_only)
{
	long ga = policy__group_find(a, name), gb = policy__group_find(b, name);
	const struct group *x, *y;
	size_t i, j;

	assert_true(ga >= 0);
	assert_true(gb >= 0);
	x = &a->groups[ga];
	y = &b->groups[gb];
	assert_string_equal(x->name, y->name);
	assert_int_equal(x->kind, y->kind);
	assert_str_or_null_equal(x->namespace, y->namespace);
	assert_true(y->defined);
	assert_crit_equal(x, y);
	/* a learned profile carries no modes: those stay the rule files' */
	assert_int_equal(learned_only ? MODE_UNSET : x->net_mode, y->net_mode);
	assert_int_equal(learned_only ? MODE_UNSET : x->proc_mode, y->proc_mode);
	assert_int_equal(learned_only ? BASELINE_UNSET : x->baseline, y->baseline);

	for (i = j = 0; i < x->n_procs; i++) {
		if (learned_only && !x->procs[i].learned)
			continue;
		assert_true(j < y->n_procs);
		assert_string_equal(x->procs[i].name, y->procs[j].name);
		assert_string_equal(x->procs[i].path, y->procs[j].path);
		assert_int_equal(x->procs[i].action, y->procs[j].action);
		assert_int_equal(x->procs[i].allow_update, y->procs[j].allow_update);
		assert_false(y->procs[j].learned);
		j++;
	}
	assert_int_equal(j, y->n_procs);

	assert_int_equal(x->n_files, y->n_files);
	for (i = 0; i < x->n_files; i++) {
		const struct file_rule *f = &x->files[i], *h = &y->files[i];

		assert_string_equal(f->filter.pattern, h->filter.pattern);
		assert_int_equal(f->filter.recursive, h->filter.recursive);
		assert_int_equal(f->behavior, h->behavior);
		assert_strs_equal(f->apps, f->n_apps, h->apps, h->n_apps);
	}

	assert_net_equal(a, (size_t)ga, b, (size_t)gb, true, learned_only);
	assert_net_equal(a, (size_t)ga, b, (size_t)gb, false, learned_only);
}

/* Export group `name` of p, load it alone into a fresh policy, compare. */
static void roundtrip(const struct policy *p, const char *name, bool learned_only)
{
	char *text = export_group(p, name, learned_only);
	struct policy *q = load(text);

	assert_group_equal(p, q, name, learned_only);
	policy__free(q);
	free(text);
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *s = strstr(hay, needle); s; s = strstr(s + 1, needle))
		n++;
	return n;
}

/* ---- tests */

static void test_design_example(void **state)
{
	(void)state;
	struct policy *p = load(design_yaml);
	char *text;

	roundtrip(p, "nv.web.shop", false);
	roundtrip(p, "nv.lb.shop", false);
	roundtrip(p, "nv.db.shop", false);

	/* the things a reader of the export checks by eye */
	text = export_group(p, "nv.web.shop", false);
	assert_non_null(strstr(text, "kind: NvSecurityRule\n"));
	assert_non_null(strstr(text, "  namespace: shop\n"));
	assert_non_null(strstr(text, "    policymode: Protect\n"));
	/* "domain" is written with its canonical name */
	assert_non_null(
	    strstr(text, "      - key: namespace\n        op: \"=\"\n        value: shop\n"));
	/* the peer carries its criteria, so the document loads alone */
	assert_non_null(
	    strstr(text, "    selector:\n      name: nv.lb.shop\n      criteria:\n"
			 "      - key: service\n        op: \"=\"\n        value: lb.shop\n"));
	assert_non_null(strstr(text, "    baseline: zero-drift\n    mode: Protect\n"));
	assert_non_null(strstr(text, "  - name: \"*\"\n    path: \"/usr/bin/*\"\n    action: deny\n"
				     "    allow_update: false\n"));
	assert_int_equal(count_of(text, "---"), 1);
	free(text);
	policy__free(p);
}

static void test_labels_regex_address_reserved(void **state)
{
	(void)state;
	struct policy *p = load(payments_yaml);
	char *text;

	roundtrip(p, "payments", false);
	/* never targeted: a cluster rule that only defines the group */
	roundtrip(p, "partner-api", false);
	/* reserved groups: no criteria, but their documents load */
	roundtrip(p, "external", false);
	roundtrip(p, "containers", false);

	text = export_group(p, "payments", false);
	assert_non_null(strstr(text, "kind: NvClusterSecurityRule\n"));
	assert_null(strstr(text, "namespace:")); /* none in metadata */
	assert_non_null(strstr(text, "value: app=payments\n"));
	assert_non_null(strstr(text, "value: \"2001:db8::/32\"\n"));
	assert_non_null(strstr(text, "value: \"198.51.100.1-198.51.100.9\"\n"));
	/* reserved peers: a name and nothing else */
	assert_non_null(strstr(text, "    selector:\n      name: external\n    applications:\n"
				     "    - HTTP\n    - SSL\n"));
	assert_non_null(strstr(text, "    selector:\n      name: nodes\n  - name:"));
	/* no empty lists */
	assert_null(strstr(text, "[]"));
	assert_int_equal(count_of(text, "applications:"), 1);
	assert_int_equal(count_of(text, "app:"), 1);
	free(text);

	text = export_group(p, "external", false);
	assert_string_equal(text, "---\n"
				  "apiVersion: neuvector.com/v1\n"
				  "kind: NvClusterSecurityRule\n"
				  "metadata:\n"
				  "  name: external\n"
				  "spec:\n"
				  "  target:\n"
				  "    selector:\n"
				  "      name: external\n");
	free(text);
	policy__free(p);
}

static void test_quoting(void **state)
{
	(void)state;
	struct policy *p = load(quirky_yaml);
	char *text;

	roundtrip(p, "quirky", false);

	text = export_group(p, "quirky", false);
	assert_non_null(strstr(text, "value: \"*\"\n"));
	assert_non_null(strstr(text, "value: \"-dash:latest\"\n"));
	assert_non_null(strstr(text, "value: \"k8s.io/app=a: b\"\n"));
	assert_non_null(strstr(text, "value: \"true\"\n"));
	assert_non_null(strstr(text, "value: \"123\"\n"));
	assert_non_null(strstr(text, "value: \"=\"\n"));
	assert_non_null(strstr(text, "op: \"!=\"\n"));
	assert_non_null(strstr(text, "value: \"it's \\\"quoted\\\" \\\\ back\"\n"));
	/* UTF-8 as is, not escaped */
	assert_non_null(strstr(text, "value: \"n\xc3\xb6"
				     "de\"\n"));
	assert_non_null(strstr(text, "ports: \" tcp/80 , udp/53 \"\n"));
	assert_non_null(strstr(text, "priority: 65535\n"));
	assert_non_null(strstr(text, "- name: \"yes\"\n    path: \"/opt/my app/bin/x\"\n"));
	assert_non_null(strstr(text, "- name: \"1.5\"\n    path: \"\"\n"));
	assert_non_null(strstr(text, "- name: \"a\\tb\"\n"));
	assert_non_null(strstr(text, "    - \"null\"\n    - \"~\"\n    - \"yes\"\n    - \"*\"\n"));
	assert_non_null(
	    strstr(text, "    - \"- x\"\n    - \"off\"\n    - \"0x1F\"\n    - \"a #b\"\n"));
	free(text);
	policy__free(p);
}

/* One small group, the whole text. */
static void test_exact_text(void **state)
{
	(void)state;
	static const char yaml[] =
	    "apiVersion: neuvector.com/v1\n"
	    "kind: NvClusterSecurityRule\n"
	    "metadata: {name: tools}\n"
	    "spec:\n"
	    "  target:\n"
	    "    policymode: Monitor\n"
	    "    selector:\n"
	    "      name: tools\n"
	    "      criteria: [{key: image, op: \"=\", value: \"registry:5000/tools:*\"}]\n"
	    "  egress:\n"
	    "  - {name: no-ssh, action: deny, ports: tcp/22, priority: 1,\n"
	    "     selector: {name: external}}\n"
	    "  process:\n"
	    "  - {name: \"*\", path: /usr/bin/*, action: allow, allow_update: true}\n";
	struct policy *p = load(yaml);
	char *text = export_group(p, "tools", false);

	assert_string_equal(text, "---\n"
				  "apiVersion: neuvector.com/v1\n"
				  "kind: NvClusterSecurityRule\n"
				  "metadata:\n"
				  "  name: tools\n"
				  "spec:\n"
				  "  target:\n"
				  "    policymode: Monitor\n"
				  "    selector:\n"
				  "      name: tools\n"
				  "      criteria:\n"
				  "      - key: image\n"
				  "        op: \"=\"\n"
				  "        value: \"registry:5000/tools:*\"\n"
				  "  egress:\n"
				  "  - name: no-ssh\n"
				  "    action: deny\n"
				  "    ports: tcp/22\n"
				  "    priority: 1\n"
				  "    selector:\n"
				  "      name: external\n"
				  "  process:\n"
				  "  - name: \"*\"\n"
				  "    path: \"/usr/bin/*\"\n"
				  "    action: allow\n"
				  "    allow_update: true\n");
	roundtrip(p, "tools", false);
	free(text);
	policy__free(p);
}

/* Every group exported into one stream loads back as the whole policy. */
static void test_whole_policy(void **state)
{
	(void)state;
	const char *const srcs[] = {design_yaml, payments_yaml, quirky_yaml};

	for (size_t s = 0; s < 3; s++) {
		struct policy *p = load(srcs[s]), *q;
		char *buf = NULL;
		size_t len = 0, g;
		FILE *f = open_memstream(&buf, &len);

		assert_non_null(f);
		for (g = 0; g < p->n_groups; g++)
			assert_int_equal(policy__export_group(p, g, false, f), 0);
		assert_int_equal(fclose(f), 0);
		assert_int_equal(count_of(buf, "\n---\n") + 1, p->n_groups);
		q = load(buf);
		assert_int_equal(q->n_groups, p->n_groups);
		assert_int_equal(q->n_net, p->n_net);
		for (g = 0; g < p->n_groups; g++)
			assert_group_equal(p, q, p->groups[g].name, false);
		policy__free(q);
		free(buf);
		policy__free(p);
	}
}

static void test_learned(void **state)
{
	(void)state;
	struct policy *p = load(design_yaml), *q;
	long web = policy__group_find(p, "nv.web.shop");
	long api, r;
	const struct group *g;
	char *text;

	assert_true(web >= 0);
	api = policy__group_learned(p, "api", "shop");
	assert_true(api >= 0);
	assert_string_equal(p->groups[api].name, "nv.api.shop");

	r = policy__proc_add(p, (size_t)api, "python3", "/usr/bin/python3.11");
	assert_int_equal(r, 0);
	r = policy__proc_add(p, (size_t)web, "sh", "/bin/busybox");
	assert_int_equal(r, 2); /* after nginx and "*" */
	/* api -> web:8080, owned by web (ingress) and by api (egress) */
	assert_true(policy__net_add(p, (size_t)api, (size_t)web, (size_t)web, IPPROTO_TCP, 8080) >=
		    0);
	assert_true(policy__net_add(p, (size_t)api, (size_t)web, (size_t)api, IPPROTO_TCP, 8080) >=
		    0);
	assert_true(
	    policy__net_add(p, (size_t)web, POLICY_G_EXTERNAL, (size_t)web, IPPROTO_UDP, 53) >= 0);
	assert_int_equal(policy__file_app_add(p, (size_t)web, 0, "php-fpm"), 1);
	assert_int_equal(policy__file_app_add(p, (size_t)web, 0, "php-fpm"), 0);

	/* web, learned only: the learned rules, the file rule with both apps */
	roundtrip(p, "nv.web.shop", true);
	text = export_group(p, "nv.web.shop", true);
	q = load(text);
	g = &q->groups[policy__group_find(q, "nv.web.shop")];
	assert_int_equal(g->n_procs, 1);
	assert_string_equal(g->procs[0].name, "sh");
	assert_string_equal(g->procs[0].path, "/bin/busybox");
	assert_int_equal(g->procs[0].action, ACTION_ALLOW);
	assert_int_equal(g->n_files, 1);
	assert_int_equal(g->files[0].n_apps, 2);
	assert_string_equal(g->files[0].apps[1], "php-fpm");
	/* a learned profile is rules only: no modes, no baseline */
	assert_int_equal(g->net_mode, MODE_UNSET);
	assert_int_equal(g->baseline, BASELINE_UNSET);
	assert_null(strstr(text, "policymode"));
	assert_null(strstr(text, "process_profile"));
	assert_null(strstr(text, "from-lb"));
	assert_null(strstr(text, "to-db"));
	assert_null(strstr(text, "nginx\n    path")); /* the file rule's app stays */
	/* the learned peer nv.api.shop comes with its criteria */
	assert_non_null(strstr(text,
			       "      name: nv.api.shop\n      criteria:\n"
			       "      - key: service\n        op: \"=\"\n        value: api\n"));
	assert_int_equal(q->n_net, 2);
	{
		const struct net_rule *in = nth_net(q, (size_t)(g - q->groups), true, false, 0);
		const struct net_rule *out = nth_net(q, (size_t)(g - q->groups), false, false, 0);

		assert_non_null(in);
		assert_non_null(out);
		assert_int_equal(in->n_ports, 1);
		assert_int_equal(in->ports[0].proto, IPPROTO_TCP);
		assert_int_equal(in->ports[0].lo, 8080);
		assert_int_equal(in->ports[0].hi, 8080);
		assert_string_equal(q->groups[in->from].name, "nv.api.shop");
		assert_int_equal(out->ports[0].proto, IPPROTO_UDP);
		assert_int_equal(out->ports[0].lo, 53);
		assert_int_equal(out->to, POLICY_G_EXTERNAL);
	}
	policy__free(q);
	free(text);

	/* web in full: original and learned rules, learned at the end of
	 * their priority */
	roundtrip(p, "nv.web.shop", false);

	/* the learned group: a namespaced document of its own */
	roundtrip(p, "nv.api.shop", false);
	roundtrip(p, "nv.api.shop", true);
	text = export_group(p, "nv.api.shop", true);
	assert_non_null(strstr(text, "kind: NvSecurityRule\nmetadata:\n  name: nv.api.shop\n"
				     "  namespace: shop\n"));
	assert_non_null(strstr(text, "  egress:\n  - name: learned-"));
	assert_non_null(strstr(text, "  - name: python3\n    path: /usr/bin/python3.11\n"
				     "    action: allow\n    allow_update: false\n"));
	free(text);

	/* nothing learned in lb: only its target */
	text = export_group(p, "nv.lb.shop", true);
	assert_null(strstr(text, "ingress"));
	assert_null(strstr(text, "process"));
	free(text);
	policy__free(p);
}

/* The sensor keeps what it learned as learned_only exports and reads them
 * back (load_learned) over the same rule files after a restart: the
 * policy it gets is the one it had, and saving again writes the same
 * bytes, so nothing is lost or doubled from one restart to the next. */
static void test_learned_persisted(void **state)
{
	(void)state;
	static const char *const names[] = {"nv.web.shop", "nv.api.shop", "nv.lb.shop",
					    "nv.db.shop", "external"};
	struct policy *p = load(design_yaml), *q = policy__new();
	struct diags d = {0};
	char *saved[2];
	long web = policy__group_find(p, "nv.web.shop"), api;
	size_t i;
	int err;

	assert_non_null(q);
	api = policy__group_learned(p, "api", "shop");
	assert_true(api >= 0);
	assert_true(policy__proc_add(p, (size_t)api, "python3", "/usr/bin/python3.11") >= 0);
	assert_true(policy__proc_add(p, (size_t)web, "sh", "/bin/busybox") >= 0);
	assert_true(policy__net_add(p, (size_t)api, (size_t)web, (size_t)web, IPPROTO_TCP, 8080) >=
		    0);
	assert_true(policy__net_add(p, (size_t)api, (size_t)web, (size_t)api, IPPROTO_TCP, 8080) >=
		    0);
	assert_true(
	    policy__net_add(p, (size_t)web, POLICY_G_EXTERNAL, (size_t)web, IPPROTO_UDP, 53) >= 0);
	assert_int_equal(policy__file_app_add(p, (size_t)web, 0, "php-fpm"), 1);
	saved[0] = export_group(p, "nv.web.shop", true);
	saved[1] = export_group(p, "nv.api.shop", true);

	err = policy__load_buffer(q, "rules.yaml", design_yaml, strlen(design_yaml), &d);
	q->load_learned = true;
	for (i = 0; i < 2; i++)
		err |= policy__load_buffer(q, "learned.yaml", saved[i], strlen(saved[i]), &d);
	q->load_learned = false;
	err |= policy__finish(q, &d);
	if (err || d.n_warnings)
		diags__print(&d, stderr);
	assert_int_equal(err, 0);
	assert_int_equal(d.n_warnings, 0);
	diags__free(&d);

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *a = export_group(p, names[i], false), *b = export_group(q, names[i], false);

		assert_string_equal(a, b);
		free(a);
		free(b);
		a = export_group(p, names[i], true);
		b = export_group(q, names[i], true);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	/* merged, not doubled */
	assert_int_equal(q->groups[policy__group_find(q, "nv.web.shop")].n_files, 1);
	free(saved[0]);
	free(saved[1]);
	policy__free(q);
	policy__free(p);
}

static void test_errors(void **state)
{
	(void)state;
	struct policy *p = load(design_yaml);
	long web = policy__group_find(p, "nv.web.shop");
	FILE *full;

	assert_int_equal(policy__export_group(p, p->n_groups, false, stdout), -EINVAL);
	assert_int_equal(policy__export_group(NULL, 0, false, stdout), -EINVAL);

	/* a full disk is reported, not swallowed in stdio's buffer */
	full = fopen("/dev/full", "w");
	assert_non_null(full);
	assert_int_equal(policy__export_group(p, (size_t)web, false, full), -ENOSPC);
	fclose(full);

	/* a learned path that is not UTF-8 cannot be written as YAML text */
	assert_true(policy__proc_add(p, (size_t)web, "x", "/tmp/\xff\xfe") >= 0);
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		assert_int_equal(policy__export_group(p, (size_t)web, true, f), -EILSEQ);
		fclose(f);
		free(buf);
	}
	policy__free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_design_example),
	    cmocka_unit_test(test_labels_regex_address_reserved),
	    cmocka_unit_test(test_quoting),
	    cmocka_unit_test(test_exact_text),
	    cmocka_unit_test(test_whole_policy),
	    cmocka_unit_test(test_learned),
	    cmocka_unit_test(test_learned_persisted),
	    cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
