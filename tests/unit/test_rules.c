// SPDX-License-Identifier: Apache-2.0
/* Unit tests of rules: NeuVector CRD documents, merging, references, diagnostics with their positions, bounds, learning. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy.h"

/* ---- helpers */

static struct policy *load(const char *name, const char *yaml, struct diags *d, int *rc)
{
	struct policy *p = policy__new();

	assert_non_null(p);
	*rc = policy__load_buffer(p, name, yaml, strlen(yaml), d);
	return p;
}

static void assert_diag(const struct diags *d, size_t i, bool error, const char *file,
			unsigned line, unsigned col, const char *frag)
{
	const struct diag *e;

	if (i >= d->n) {
		fprintf(stderr, "no diag %zu (have %zu)\n", i, d->n);
		fail();
	}
	e = &d->v[i];
	if (e->error != error || e->line != line || e->col != col || !strstr(e->msg, frag) ||
	    (file && (!e->file || strcmp(e->file, file)))) {
		diags__print(d, stderr);
		fprintf(stderr, "expected [%zu] %s %s:%u:%u: ...%s...\n", i,
			error ? "error" : "warning", file ? file : "?", line, col, frag);
		fail();
	}
}

/* One buffer with exactly one error at line:col: nothing of the
 * document is kept. */
static void expect_error(const char *yaml, unsigned line, unsigned col, const char *frag)
{
	struct diags d = { 0 };
	struct policy *p;
	int rc;

	p = load("t.yaml", yaml, &d, &rc);
	if (rc != -EINVAL || d.n_errors != 1) {
		diags__print(&d, stderr);
		fprintf(stderr, "rc %d, %zu errors; expected %u:%u %s\n", rc, d.n_errors, line,
			col, frag);
		fail();
	}
	assert_diag(&d, 0, true, "t.yaml", line, col, frag);
	/* The document in error added nothing. */
	assert_int_equal(policy__group_find(p, "web"), -1);
	assert_int_equal(p->n_groups, 3);
	assert_int_equal(p->n_net, 0);
	assert_int_equal(policy__finish(p, &d), -EINVAL);
	policy__free(p);
	diags__free(&d);
}

/* A second document in conflict with the first: one error, and only
 * the first document's n_net network rules are there. */
static void expect_conflict(const char *yaml, size_t n_net, unsigned line, unsigned col,
			    const char *frag)
{
	struct diags d = { 0 };
	struct policy *p;
	int rc;

	p = load("t.yaml", yaml, &d, &rc);
	if (rc != -EINVAL || d.n_errors != 1) {
		diags__print(&d, stderr);
		fail();
	}
	assert_diag(&d, 0, true, "t.yaml", line, col, frag);
	assert_true(policy__group_find(p, "web") >= 0);
	assert_int_equal(p->n_net, n_net);
	policy__free(p);
	diags__free(&d);
}

static void expect_warning(const char *yaml, unsigned line, unsigned col, const char *frag)
{
	struct diags d = { 0 };
	struct policy *p;
	int rc;

	p = load("t.yaml", yaml, &d, &rc);
	if (rc != 0 || d.n_errors != 0 || d.n_warnings != 1) {
		diags__print(&d, stderr);
		fail();
	}
	assert_diag(&d, 0, false, "t.yaml", line, col, frag);
	assert_true(policy__group_find(p, "web") >= 0);
	assert_int_equal(policy__finish(p, &d), 0);
	policy__free(p);
	diags__free(&d);
}

static const struct group *group(const struct policy *p, const char *name)
{
	long g = policy__group_find(p, name);

	if (g < 0) {
		fprintf(stderr, "no group %s\n", name);
		fail();
	}
	return &p->groups[g];
}

static void assert_crit(const struct group *g, size_t i, enum crit_key key, enum crit_op op,
			const char *value)
{
	assert_true(i < g->n_crit);
	assert_int_equal(g->crit[i].key, key);
	assert_int_equal(g->crit[i].op, op);
	assert_string_equal(g->crit[i].value, value);
}

static void assert_pos(const struct src_pos *pos, const char *file, unsigned line, unsigned col)
{
	if (file)
		assert_string_equal(pos->file, file);
	else
		assert_null(pos->file);
	assert_int_equal(pos->line, line);
	assert_int_equal(pos->col, col);
}

/* ---- valid documents */

/* The example of DESIGN.md, then the two groups it names (defined after
 * the rules that use them). */
static const char design_yaml[] =
	"apiVersion: neuvector.com/v1\n"
	"kind: NvSecurityRule\n"
	"metadata: {name: nv.web.shop, namespace: shop}\n"
	"spec:\n"
	"  target:\n"
	"    policymode: Protect                 # network mode: Discover | Monitor | Protect\n"
	"    selector:\n"
	"      name: nv.web.shop\n"
	"      criteria: [{key: service, op: \"=\", value: web.shop}, {key: domain, op: \"=\", value: shop}]\n"
	"  ingress:\n"
	"  - {name: from-lb, action: allow, ports: tcp/8080, priority: 0, selector: {name: nv.lb.shop}}\n"
	"  egress:\n"
	"  - {name: to-db, action: allow, ports: tcp/5432, selector: {name: nv.db.shop}}\n"
	"  process_profile: {baseline: zero-drift, mode: Protect}   # process/file mode; basic | zero-drift\n"
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
	"    policymode: Monitor\n"
	"    selector: {name: nv.db.shop, criteria: [{key: service, op: \"=\", value: db.shop}]}\n";

static void test_design_example(void **state)
{
	struct diags d = { 0 };
	const struct group *web, *lb, *db;
	const struct net_rule *r;
	struct policy *p;
	int rc;

	(void)state;
	p = load("design.yaml", design_yaml, &d, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(policy__finish(p, &d), 0);
	assert_int_equal(d.n, 0);

	assert_int_equal(p->n_groups, 6);
	assert_string_equal(p->groups[POLICY_G_CONTAINERS].name, "containers");
	assert_int_equal(p->groups[POLICY_G_CONTAINERS].kind, GROUP_CONTAINERS);
	assert_string_equal(p->groups[POLICY_G_NODES].name, "nodes");
	assert_int_equal(p->groups[POLICY_G_NODES].kind, GROUP_NODES);
	assert_string_equal(p->groups[POLICY_G_EXTERNAL].name, "external");
	assert_int_equal(p->groups[POLICY_G_EXTERNAL].kind, GROUP_EXTERNAL);

	web = group(p, "nv.web.shop");
	assert_int_equal(web->kind, GROUP_LEARNED);
	assert_true(web->defined);
	assert_string_equal(web->namespace, "shop");
	assert_int_equal(web->n_crit, 2);
	assert_crit(web, 0, CRIT_SERVICE, CRIT_EQ, "web.shop");
	assert_crit(web, 1, CRIT_NAMESPACE, CRIT_EQ, "shop");
	assert_pos(&web->crit_pos[1], "design.yaml", 9, 60);
	assert_pos(&web->pos, "design.yaml", 8, 13);
	assert_int_equal(web->net_mode, MODE_PROTECT);
	assert_int_equal(web->proc_mode, MODE_PROTECT);
	assert_int_equal(web->baseline, BASELINE_ZERO_DRIFT);

	assert_int_equal(web->n_procs, 2);
	assert_string_equal(web->procs[0].name, "nginx");
	assert_string_equal(web->procs[0].path, "/usr/sbin/nginx");
	assert_int_equal(web->procs[0].action, ACTION_ALLOW);
	assert_false(web->procs[0].allow_update);
	assert_false(web->procs[0].learned);
	assert_pos(&web->procs[0].pos, "design.yaml", 16, 5);
	assert_string_equal(web->procs[1].name, "*");
	assert_string_equal(web->procs[1].path, "/usr/bin/*");
	assert_int_equal(web->procs[1].action, ACTION_DENY);

	assert_int_equal(web->n_files, 1);
	assert_string_equal(web->files[0].filter.pattern, "/etc/secret/*");
	assert_true(web->files[0].filter.recursive);
	assert_int_equal(web->files[0].behavior, FILE_BLOCK_ACCESS);
	assert_int_equal(web->files[0].n_apps, 1);
	assert_string_equal(web->files[0].apps[0], "nginx");

	lb = group(p, "nv.lb.shop");
	db = group(p, "nv.db.shop");
	assert_true(lb->defined);
	assert_crit(lb, 0, CRIT_SERVICE, CRIT_EQ, "lb.shop");
	assert_int_equal(lb->net_mode, MODE_UNSET);
	assert_int_equal(db->net_mode, MODE_MONITOR);
	assert_int_equal(db->proc_mode, MODE_UNSET);
	assert_int_equal(db->baseline, BASELINE_UNSET);
	/* The group's position is where its criteria were given. */
	assert_pos(&db->pos, "design.yaml", 34, 22);

	assert_int_equal(p->n_net, 2);
	r = &p->net[0];
	assert_string_equal(r->name, "from-lb");
	assert_int_equal(r->action, ACTION_ALLOW);
	assert_int_equal(r->from, (size_t)policy__group_find(p, "nv.lb.shop"));
	assert_int_equal(r->to, (size_t)policy__group_find(p, "nv.web.shop"));
	assert_int_equal(r->owner, r->to);
	assert_true(r->ingress);
	assert_string_equal(r->ports_spec, "tcp/8080");
	assert_int_equal(r->n_ports, 1);
	assert_int_equal(r->ports[0].proto, IPPROTO_TCP);
	assert_int_equal(r->ports[0].lo, 8080);
	assert_int_equal(r->ports[0].hi, 8080);
	assert_int_equal(r->priority, 0);
	assert_int_equal(r->order, 0);
	assert_pos(&r->pos, "design.yaml", 11, 5);
	r = &p->net[1];
	assert_string_equal(r->name, "to-db");
	assert_int_equal(r->from, (size_t)policy__group_find(p, "nv.web.shop"));
	assert_int_equal(r->to, (size_t)policy__group_find(p, "nv.db.shop"));
	assert_int_equal(r->owner, r->from);
	assert_false(r->ingress);
	assert_int_equal(r->ports[0].lo, 5432);
	assert_int_equal(r->order, 1);
	assert_int_equal(p->next_order, 2);

	assert_int_equal(p->n_files, 1);
	assert_string_equal(p->files[0], "design.yaml");
	assert_ptr_equal(r->pos.file, p->files[0]);
	policy__free(p);
	diags__free(&d);
}

/* NeuVector's documented global rules, as `kubectl get -o yaml` lists
 * them: a v1 List, a reserved target with criteria, criteria: [] for a
 * reserved peer, policymode: null, empty lists. */
static const char nv_global_list[] =
	"apiVersion: v1\n"
	"items:\n"
	"- apiVersion: neuvector.com/v1\n"
	"  kind: NvClusterSecurityRule\n"
	"  metadata:\n"
	"    name: containers\n"
	"    namespace: default\n"
	"  spec:\n"
	"    egress: []\n"
	"    file: []\n"
	"    ingress:\n"
	"    - selector:\n"
	"        criteria: []\n"
	"        name: external\n"
	"      action: deny\n"
	"      applications:\n"
	"      - SSH\n"
	"      name: containers-ingress-0\n"
	"      ports: tcp/22\n"
	"    process:\n"
	"    - action: deny\n"
	"      name: ssh\n"
	"      path: /bin/ssh\n"
	"    target:\n"
	"      selector:\n"
	"        criteria:\n"
	"        - key: container\n"
	"          op: =\n"
	"          value: '*'\n"
	"        name: containers\n"
	"      policymode: null\n"
	"- apiVersion: neuvector.com/v1\n"
	"  kind: NvSecurityRule\n"
	"  metadata:\n"
	"    name: nv.alpine.default\n"
	"    namespace: default\n"
	"  spec:\n"
	"    egress:\n"
	"    - selector:\n"
	"        criteria: []\n"
	"        name: external\n"
	"      action: deny\n"
	"      applications:\n"
	"      - HTTP\n"
	"      name: external-egress-0\n"
	"      ports: tcp/80\n"
	"    file: []\n"
	"    ingress: []\n"
	"    process:\n"
	"    - action: deny\n"
	"      name: scp\n"
	"      path: /bin/scp\n"
	"    target:\n"
	"      selector:\n"
	"        criteria:\n"
	"        - key: service\n"
	"          op: =\n"
	"          value: alpine.default\n"
	"        - key: domain\n"
	"          op: =\n"
	"          value: default\n"
	"        name: nv.alpine.default\n"
	"      policymode: Protect\n"
	"kind: List\n"
	"metadata: null\n";

static void test_neuvector_global_list(void **state)
{
	const struct group *c, *a;
	struct diags d = { 0 };
	struct policy *p;
	int rc;

	(void)state;
	p = load("global.yaml", nv_global_list, &d, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(policy__finish(p, &d), 0);
	/* NeuVector ignores criteria on a reserved group; so do we, aloud. */
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, false, "global.yaml", 27, 9, "criteria of reserved group \"containers\"");

	assert_int_equal(p->n_groups, 4);
	c = &p->groups[POLICY_G_CONTAINERS];
	assert_int_equal(c->n_crit, 0);
	assert_true(c->defined);
	assert_null(c->namespace);
	assert_int_equal(c->net_mode, MODE_UNSET);
	assert_int_equal(c->n_procs, 1);
	assert_string_equal(c->procs[0].name, "ssh");
	assert_int_equal(c->procs[0].action, ACTION_DENY);

	a = group(p, "nv.alpine.default");
	assert_string_equal(a->namespace, "default");
	assert_int_equal(a->net_mode, MODE_PROTECT);
	assert_int_equal(a->n_crit, 2);
	assert_crit(a, 1, CRIT_NAMESPACE, CRIT_EQ, "default");

	assert_int_equal(p->n_net, 2);
	assert_string_equal(p->net[0].name, "containers-ingress-0");
	assert_int_equal(p->net[0].from, POLICY_G_EXTERNAL);
	assert_int_equal(p->net[0].to, POLICY_G_CONTAINERS);
	assert_int_equal(p->net[0].action, ACTION_DENY);
	assert_int_equal(p->net[0].n_apps, 1);
	assert_string_equal(p->net[0].apps[0], "SSH");
	assert_int_equal(p->net[0].ports[0].lo, 22);
	assert_string_equal(p->net[1].name, "external-egress-0");
	assert_int_equal(p->net[1].from, (size_t)policy__group_find(p, "nv.alpine.default"));
	assert_int_equal(p->net[1].to, POLICY_G_EXTERNAL);
	assert_string_equal(p->net[1].apps[0], "HTTP");
	policy__free(p);
	diags__free(&d);
}

/* From NeuVector's CRD page: a namespaced rule with a custom ingress group
 * and a "bundled" rule with egress, file and process rules (comments and
 * odd indentation as written there). */
static const char nv_docs_yaml[] =
	"apiVersion: neuvector.com/v1\n"
	"kind:     NvSecurityRule\n"
	"metadata:\n"
	"  name:    ns1crd\n"
	"  namespace: ns1\n"
	"spec:\n"
	"  target:\n"
	"      selector:\n"
	"          name: nv.nginx-pod.ns1\n"
	"          criteria:\n"
	"          - key: service\n"
	"            value: nginx-pod.ns1\n"
	"            op: \"=\"\n"
	"          - key: domain\n"
	"            value: ns1\n"
	"            op: \"=\"\n"
	"  ingress: \n"
	"      -   \n"
	"        selector:\n"
	"            name: ingress\n"
	"            criteria:\n"
	"            - key: domain\n"
	"              value: demo\n"
	"              op: \"=\" \n"
	"        ports: \"tcp/65535\"\n"
	"        applications: \n"
	"            - SSL\n"
	"        action:  allow \n"
	"        name:    ingress\n"
	"---\n"
	"apiVersion: neuvector.com/v1\n"
	"kind:     NvSecurityRule\n"
	"metadata:\n"
	"  name:    ns1global\n"
	"  namespace: ns1              #The target's native namespace\n"
	"spec:\n"
	"  target:\n"
	"      selector:\n"
	"          name: nv.alpine.ns1\n"
	"          criteria:\n"
	"          - key: service\n"
	"            value: alpine.ns1   #The source target's running container\n"
	"            op: \"=\"\n"
	"          - key: domain\n"
	"            value: ns1\n"
	"            op: \"=\"\n"
	"  egress:\n"
	"      - \n"
	"        selector:\n"
	"            name: egress\n"
	"            criteria:\n"
	"            - key: service\n"
	"              value: nv.redhat.ns2      #The destination's running container    \n"
	"              op: \"=\"\n"
	"        ports:   tcp/22                     #Denies ssh to the destination container nv.redhat.ns2\n"
	"        applications:\n"
	"            - SSH\n"
	"        action:  deny \n"
	"        name:    egress\n"
	"  file:                                       #Applies only to the defined target container group\n"
	"  - app:\n"
	"    - chmod                              #The application chmod is the only application allowed to access, while all other apps are denied.\n"
	"    behavior: block_access      #Supported values are block_access and monitor_change.  This blocks access to the defined filter below.\n"
	"    filter: /tmp/passwd.txt\n"
	"    recursive: false\n"
	"  process:\n"
	"  - action: allow                  #This action has precedence over the file access rule.\n"
	"    name: chmod                # This configured should match the application defined under the file section.\n"
	"    path: /bin/chmod\n";

static void test_neuvector_docs_examples(void **state)
{
	const struct group *ing, *alpine;
	struct diags d = { 0 };
	struct policy *p;
	long g;
	int rc;

	(void)state;
	p = load("nv.yaml", nv_docs_yaml, &d, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(policy__finish(p, &d), 0);
	assert_int_equal(d.n, 0);

	ing = group(p, "ingress");
	assert_int_equal(ing->kind, GROUP_CUSTOM);
	assert_null(ing->namespace); /* never a target */
	assert_crit(ing, 0, CRIT_NAMESPACE, CRIT_EQ, "demo");
	g = policy__group_find(p, "nv.nginx-pod.ns1");
	assert_true(g > 0);
	assert_string_equal(p->groups[g].namespace, "ns1");
	assert_string_equal(p->net[0].name, "ingress");
	assert_string_equal(p->net[0].ports_spec, "tcp/65535");
	assert_int_equal(p->net[0].ports[0].lo, 65535);
	assert_int_equal(p->net[0].to, (size_t)g);
	assert_int_equal(p->net[0].from, (size_t)policy__group_find(p, "ingress"));
	assert_string_equal(p->net[0].apps[0], "SSL");
	assert_pos(&p->net[0].pos, "nv.yaml", 19, 9);

	alpine = group(p, "nv.alpine.ns1");
	assert_string_equal(p->net[1].name, "egress");
	assert_int_equal(p->net[1].action, ACTION_DENY);
	assert_int_equal(p->net[1].from, (size_t)policy__group_find(p, "nv.alpine.ns1"));
	assert_crit(group(p, "egress"), 0, CRIT_SERVICE, CRIT_EQ, "nv.redhat.ns2");
	assert_int_equal(alpine->n_files, 1);
	assert_string_equal(alpine->files[0].filter.pattern, "/tmp/passwd.txt");
	assert_false(alpine->files[0].filter.recursive);
	assert_int_equal(alpine->files[0].behavior, FILE_BLOCK_ACCESS);
	assert_string_equal(alpine->files[0].apps[0], "chmod");
	assert_int_equal(alpine->n_procs, 1);
	assert_string_equal(alpine->procs[0].path, "/bin/chmod");
	policy__free(p);
	diags__free(&d);
}

/* An export of NeuVector's CRD page (two of its items): path "" for a
 * process seen without one, egress: null, process: null; and an
 * address group with a host name, which we cannot match. */
static const char nv_export[] =
	"apiVersion: v1\n"
	"items:\n"
	"- apiVersion: neuvector.com/v1\n"
	"  kind: NvSecurityRule\n"
	"  metadata:\n"
	"    name: nv.node-pod.demo\n"
	"    namespace: demo\n"
	"  spec:\n"
	"    egress:\n"
	"    - selector:\n"
	"        criteria:\n"
	"        - key: address\n"
	"          op: =\n"
	"          value: google.com\n"
	"        name: test\n"
	"      action: allow\n"
	"      applications:\n"
	"      - SSL\n"
	"      name: test-egress-1\n"
	"      ports: any\n"
	"    file: []\n"
	"    ingress: []\n"
	"    process:\n"
	"    - action: allow\n"
	"      name: curl\n"
	"      path: \"\"\n"
	"    target:\n"
	"      selector:\n"
	"        criteria:\n"
	"        - key: service\n"
	"          op: =\n"
	"          value: node-pod.demo\n"
	"        - key: domain\n"
	"          op: =\n"
	"          value: demo\n"
	"        name: nv.node-pod.demo\n"
	"      policymode: Protect\n"
	"- apiVersion: neuvector.com/v1\n"
	"  kind: NvSecurityRule\n"
	"  metadata:\n"
	"    name: nv.kube-dns.kube-system\n"
	"    namespace: kube-system\n"
	"  spec:\n"
	"    egress: null\n"
	"    file: null\n"
	"    ingress: null\n"
	"    process: null\n"
	"    target:\n"
	"      selector:\n"
	"        criteria:\n"
	"        - key: service\n"
	"          op: =\n"
	"          value: kube-dns.kube-system\n"
	"        - key: domain\n"
	"          op: =\n"
	"          value: kube-system\n"
	"        name: nv.kube-dns.kube-system\n"
	"      policymode: Monitor\n"
	"kind: List\n"
	"metadata: null\n";

static void test_neuvector_export(void **state)
{
	struct diags d = { 0 };
	struct policy *p;
	const struct group *g;
	int rc;

	(void)state;
	p = load("export.yaml", nv_export, &d, &rc);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, true, "export.yaml", 14, 18, "bad address \"google.com\"");
	/* The item in error added nothing; the next one was read. */
	assert_int_equal(policy__group_find(p, "nv.node-pod.demo"), -1);
	assert_int_equal(policy__group_find(p, "test"), -1);
	g = group(p, "nv.kube-dns.kube-system");
	assert_int_equal(g->net_mode, MODE_MONITOR);
	assert_int_equal(g->n_procs, 0);
	policy__free(p);
	diags__free(&d);

	/* The same without the host name loads; path "" is kept as written. */
	{
		char *fixed = strdup(nv_export);
		char *at = strstr(fixed, "google.com");

		memcpy(at, "10.1.2.3  ", 10);
		p = load("export.yaml", fixed, &d, &rc);
		assert_int_equal(rc, 0);
		assert_int_equal(policy__finish(p, &d), 0);
		g = group(p, "nv.node-pod.demo");
		assert_string_equal(g->procs[0].name, "curl");
		assert_string_equal(g->procs[0].path, "");
		assert_string_equal(p->net[0].ports_spec, "any");
		assert_int_equal(p->net[0].ports[0].proto, PORT_PROTO_ANY);
		assert_crit(group(p, "test"), 0, CRIT_ADDRESS, CRIT_EQ, "10.1.2.3");
		policy__free(p);
		diags__free(&d);
		free(fixed);
	}
}

#define HDR(name)                                                                            \
	"apiVersion: neuvector.com/v1\n"                                                     \
	"kind: NvSecurityRule\n"                                                             \
	"metadata:\n"                                                                        \
	"  name: " name "\n"                                                                 \
	"  namespace: shop\n"                                                                \
	"spec:\n"
/* Lines 7 to 9. */
#define TARGET_WEB                                                                           \
	"  target:\n"                                                                        \
	"    selector:\n"                                                                    \
	"      name: web\n"
#define WEB_DEF "  target: {selector: {name: web, criteria: [{key: service, op: \"=\", value: web}]}}\n"

/* Documents targeting one group add to it in load order; same modes
 * may repeat; defaults. */
static void test_merge(void **state)
{
	static const char yaml[] =
		HDR("a") WEB_DEF
		"  process_profile: {baseline: basic}\n"
		"  process:\n"
		"  - name: sh\n"
		"  - {name: ls, path: /bin/ls, allow_update: yes}\n"
		"---\n"
		"apiVersion: neuvector.com/v1\n"
		"kind: NvClusterSecurityRule\n"
		"metadata: {name: a}\n"
		"spec:\n"
		"  target: {policymode: monitor, selector: {name: web}}\n"
		"  process_profile: {baseline: default, mode: Discover}\n"
		"  process: [{name: cat, path: /bin/cat, action: deny}]\n"
		"  file: [{filter: /etc/passwd}]\n"
		"  egress: [{name: out, action: allow, selector: {name: nodes}}]\n";
	const struct group *web;
	struct diags d = { 0 };
	struct policy *p;
	int rc;

	(void)state;
	p = load("m.yaml", yaml, &d, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(policy__finish(p, &d), 0);
	assert_int_equal(d.n, 0);
	web = group(p, "web");
	assert_int_equal(web->kind, GROUP_CUSTOM);
	assert_string_equal(web->namespace, "shop");
	assert_int_equal(web->baseline, BASELINE_BASIC);
	assert_int_equal(web->proc_mode, MODE_DISCOVER);
	assert_int_equal(web->net_mode, MODE_MONITOR);
	assert_int_equal(web->n_procs, 3);
	assert_string_equal(web->procs[0].name, "sh");
	assert_string_equal(web->procs[0].path, "*");
	assert_int_equal(web->procs[0].action, ACTION_ALLOW);
	assert_string_equal(web->procs[1].name, "ls");
	assert_true(web->procs[1].allow_update);
	assert_string_equal(web->procs[2].name, "cat");
	assert_int_equal(web->procs[2].action, ACTION_DENY);
	assert_pos(&web->procs[2].pos, "m.yaml", 19, 13);
	assert_int_equal(web->n_files, 1);
	assert_int_equal(web->files[0].behavior, FILE_MONITOR_CHANGE);
	assert_false(web->files[0].filter.recursive);
	assert_int_equal(web->files[0].n_apps, 0);
	assert_int_equal(p->n_net, 1);
	assert_string_equal(p->net[0].ports_spec, "any");
	assert_int_equal(p->net[0].to, POLICY_G_NODES);
	policy__free(p);
	diags__free(&d);
}

/* Empty documents, comments only, a document end marker. */
static void test_empty(void **state)
{
	struct diags d = { 0 };
	struct policy *p;
	int rc;

	(void)state;
	p = load("e.yaml", "", &d, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(policy__finish(p, &d), 0);
	policy__free(p);
	p = load("e.yaml", "# nothing\n---\n---\n...\n", &d, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(p->n_groups, 3);
	policy__free(p);
	p = policy__new();
	assert_int_equal(policy__load_buffer(p, "e.yaml", NULL, 0, &d), 0);
	assert_int_equal(policy__load_buffer(p, "e.yaml", NULL, 1, &d), -EINVAL);
	policy__free(p);
	policy__free(NULL);
	diags__free(&d);
}

/* ---- references */

static const char ref_use[] =
	HDR("use") WEB_DEF
	"  ingress:\n"
	"  - {name: from-db, action: allow, ports: tcp/80, selector: {name: db}}\n";
static const char ref_def[] =
	"apiVersion: neuvector.com/v1\n"
	"kind: NvClusterSecurityRule\n"
	"metadata: {name: db}\n"
	"spec:\n"
	"  target: {selector: {name: db, criteria: [{key: image, op: prefix, value: postgres}]}}\n";

static void check_refs(const struct policy *p)
{
	const struct group *db = group(p, "db");

	assert_true(db->defined);
	assert_crit(db, 0, CRIT_IMAGE, CRIT_PREFIX, "postgres");
	assert_pos(&db->pos, "def.yaml", 5, 29);
	assert_int_equal(p->net[0].from, (size_t)policy__group_find(p, "db"));
}

static void test_references(void **state)
{
	struct diags d = { 0 };
	struct policy *p;

	(void)state;
	/* Use, then definition. */
	p = policy__new();
	assert_int_equal(policy__load_buffer(p, "use.yaml", ref_use, strlen(ref_use), &d), 0);
	assert_int_equal(policy__load_buffer(p, "def.yaml", ref_def, strlen(ref_def), &d), 0);
	assert_int_equal(policy__finish(p, &d), 0);
	check_refs(p);
	policy__free(p);
	/* Definition, then use. */
	p = policy__new();
	assert_int_equal(policy__load_buffer(p, "def.yaml", ref_def, strlen(ref_def), &d), 0);
	assert_int_equal(policy__load_buffer(p, "use.yaml", ref_use, strlen(ref_use), &d), 0);
	assert_int_equal(policy__finish(p, &d), 0);
	check_refs(p);
	assert_int_equal(d.n, 0);
	policy__free(p);

	/* Never defined: the error is at the reference, found by finish. */
	p = policy__new();
	assert_int_equal(policy__load_buffer(p, "use.yaml", ref_use, strlen(ref_use), &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(policy__finish(p, &d), -EINVAL);
	assert_int_equal(d.n_errors, 1);
	assert_diag(&d, 0, true, "use.yaml", 9, 68, "group \"db\" is referenced but never defined");
	policy__free(p);
	diags__free(&d);

	/* A target that only names its group refers to it too. */
	p = policy__new();
	assert_int_equal(policy__load_buffer(p, "t.yaml", HDR("x") TARGET_WEB,
					     strlen(HDR("x") TARGET_WEB), &d), 0);
	assert_int_equal(policy__finish(p, &d), -EINVAL);
	assert_diag(&d, 0, true, "t.yaml", 9, 13, "group \"web\" is referenced but never defined");
	policy__free(p);
	diags__free(&d);

	/* Repeating the same criteria (in another order) is fine. */
	{
		static const char twice[] =
			HDR("a")
			"  target: {selector: {name: web, criteria: [{key: service, op: \"=\", value: web}, {key: domain, op: \"=\", value: shop}]}}\n"
			"---\n"
			HDR("b")
			"  target: {selector: {name: web, criteria: [{key: namespace, op: \"=\", value: shop}, {key: service, op: \"=\", value: web}]}}\n";
		int rc;

		p = load("t.yaml", twice, &d, &rc);
		assert_int_equal(rc, 0);
		assert_int_equal(policy__finish(p, &d), 0);
		assert_int_equal(group(p, "web")->n_crit, 2);
		policy__free(p);
		diags__free(&d);
	}
}

/* ---- network rule order */

static void test_sort(void **state)
{
	static const char a[] =
		HDR("a") WEB_DEF
		"  ingress:\n"
		"  - {name: p5, action: allow, priority: 5, selector: {name: containers}}\n"
		"  - {name: p0, action: deny, selector: {name: containers}}\n"
		"  - {name: p5b, action: allow, priority: \"5\", selector: {name: nodes}}\n";
	static const char b[] =
		HDR("b") WEB_DEF
		"  egress:\n"
		"  - {name: p1, action: allow, priority: 1, selector: {name: external}}\n"
		"  - {name: q0, action: allow, priority: 0, selector: {name: external}}\n"
		"  - {name: p65535, action: allow, priority: 65535, selector: {name: external}}\n";
	static const char *const want[] = { "p0", "q0", "p1", "p5", "p5b", "p65535" };
	static const size_t order[] = { 1, 4, 3, 0, 2, 5 };
	struct diags d = { 0 };
	struct policy *p = policy__new();
	size_t i;

	(void)state;
	assert_int_equal(policy__load_buffer(p, "a.yaml", a, strlen(a), &d), 0);
	assert_int_equal(policy__load_buffer(p, "b.yaml", b, strlen(b), &d), 0);
	assert_int_equal(policy__finish(p, &d), 0);
	assert_int_equal(p->n_net, 6);
	for (i = 0; i < 6; i++) {
		assert_string_equal(p->net[i].name, want[i]);
		assert_int_equal(p->net[i].order, order[i]);
	}
	assert_int_equal(p->net[5].priority, 65535);
	assert_string_equal(p->net[0].pos.file, "a.yaml");
	assert_string_equal(p->net[1].pos.file, "b.yaml");
	policy__free(p);
	diags__free(&d);
}

/* ---- directories */

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_directory(void **state)
{
	char dir[] = "/tmp/wacht-rules-XXXXXX", path[512];
	struct diags d = { 0 };
	struct policy *p;

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_file(dir, "20-b.yaml",
		   HDR("b") WEB_DEF "  egress: [{name: second, action: allow, selector: {name: nodes}}]\n");
	write_file(dir, "10-a.yml",
		   HDR("a") WEB_DEF "  egress: [{name: first, action: allow, selector: {name: nodes}}]\n");
	write_file(dir, "notes.txt", "not: [yaml\n");
	write_file(dir, ".hidden.yaml", "not: [yaml\n");
	snprintf(path, sizeof(path), "%s/sub.yaml", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	write_file(path, "30-c.yaml", "not: [yaml\n");

	p = policy__new();
	assert_int_equal(policy__load_path(p, dir, &d), 0);
	assert_int_equal(policy__finish(p, &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(p->n_net, 2);
	assert_string_equal(p->net[0].name, "first");
	assert_string_equal(p->net[1].name, "second");
	assert_int_equal(p->n_files, 2);
	snprintf(path, sizeof(path), "%s/10-a.yml", dir);
	assert_string_equal(p->net[0].pos.file, path);
	assert_ptr_equal(p->net[0].pos.file, p->files[0]);
	policy__free(p);

	/* A single file by name; then one that cannot be read. */
	p = policy__new();
	assert_int_equal(policy__load_path(p, path, &d), 0);
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	assert_int_equal(policy__load_path(p, path, &d), -ENOENT);
	assert_int_equal(d.n, 1);
	assert_true(d.v[0].error);
	assert_string_equal(d.v[0].file, path);
	assert_int_equal(d.v[0].line, 0);
	assert_non_null(strstr(d.v[0].msg, "No such file or directory"));
	assert_int_equal(policy__finish(p, &d), -EINVAL);
	policy__free(p);
	diags__free(&d);

	/* A syntax error in one file of the directory. */
	write_file(dir, "15-bad.yaml", HDR("c") "  target: {selector: {name: web}\n");
	p = policy__new();
	assert_int_equal(policy__load_path(p, dir, &d), -EINVAL);
	assert_int_equal(d.n_errors, 1);
	snprintf(path, sizeof(path), "%s/15-bad.yaml", dir);
	assert_string_equal(d.v[0].file, path);
	assert_int_equal(d.v[0].line, 8);
	assert_int_equal(d.v[0].col, 1);
	assert_non_null(strstr(d.v[0].msg, "YAML: "));
	policy__free(p);
	diags__free(&d);

	unlink(path);
	snprintf(path, sizeof(path), "%s/sub.yaml/30-c.yaml", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub.yaml", dir);
	rmdir(path);
	const char *const names[] = { "20-b.yaml", "10-a.yml", "notes.txt", ".hidden.yaml" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	assert_int_equal(rmdir(dir), 0);
}

/* A Kubernetes ConfigMap volume as the kubelet writes it: the data in a
 * ..<timestamp> directory, ..data pointing at it, a key -> ..data/key
 * symlink per key. While a key is being removed its symlink dangles (the
 * kubelet unlinks it after swapping ..data): skipped, no error. Any other
 * dangling symlink is an error. */
static void test_configmap_directory(void **state)
{
	char dir[] = "/tmp/wacht-rules-XXXXXX", path[600], ts[128];
	struct diags d = { 0 };
	struct policy *p;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(ts, sizeof(ts), "%s/..2026_11_27_14_44_17.1234567", dir);
	assert_int_equal(mkdir(ts, 0755), 0);
	write_file(ts, "a.yaml",
		   HDR("a") WEB_DEF "  egress: [{name: first, action: allow, selector: {name: nodes}}]\n");
	snprintf(path, sizeof(path), "%s/..data", dir);
	assert_int_equal(symlink("..2026_11_27_14_44_17.1234567", path), 0);
	snprintf(path, sizeof(path), "%s/a.yaml", dir);
	assert_int_equal(symlink("..data/a.yaml", path), 0);
	snprintf(path, sizeof(path), "%s/gone.yaml", dir);
	assert_int_equal(symlink("..data/gone.yaml", path), 0);

	p = policy__new();
	assert_int_equal(policy__load_path(p, dir, &d), 0);
	assert_int_equal(policy__finish(p, &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(p->n_files, 1);
	snprintf(path, sizeof(path), "%s/a.yaml", dir);
	assert_string_equal(p->files[0], path);
	assert_int_equal(p->n_net, 1);
	assert_string_equal(p->net[0].name, "first");
	policy__free(p);

	/* a dangling symlink the kubelet did not make */
	snprintf(path, sizeof(path), "%s/broken.yaml", dir);
	assert_int_equal(symlink("missing.yaml", path), 0);
	p = policy__new();
	assert_int_equal(policy__load_path(p, dir, &d), -ENOENT);
	assert_int_equal(d.n_errors, 1);
	assert_string_equal(d.v[0].file, path);
	assert_non_null(strstr(d.v[0].msg, "cannot read rule file"));
	policy__free(p);
	diags__free(&d);

	const char *const names[] = { "broken.yaml", "gone.yaml", "a.yaml", "..data" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		assert_int_equal(unlink(path), 0);
	}
	snprintf(path, sizeof(path), "%s/a.yaml", ts);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(ts), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- errors: each at its line and column, the document dropped */

static void test_error_enums(void **state)
{
	(void)state;
	expect_error("apiVersion: neuvector.com/v2\nkind: NvSecurityRule\n", 1, 13,
		     "unknown apiVersion \"neuvector.com/v2\" (expected neuvector.com/v1)");
	expect_error("apiVersion: neuvector.com/v1\nkind: NvSecurityRules\n", 2, 7,
		     "unknown kind \"NvSecurityRules\" (expected NvSecurityRule or "
		     "NvClusterSecurityRule)");
	expect_error(HDR("a")
		     "  target:\n"
		     "    policymode: Protected\n"
		     "    selector: {name: web, criteria: [{key: service, op: \"=\", value: web}]}\n",
		     8, 17,
		     "unknown policymode \"Protected\" (expected Discover, Monitor or Protect)");
	expect_error(HDR("a") WEB_DEF "  process_profile: {baseline: strict}\n", 8, 31,
		     "unknown baseline \"strict\" (expected basic or zero-drift)");
	expect_error(HDR("a") WEB_DEF "  process_profile: {mode: enforce}\n", 8, 27,
		     "unknown mode \"enforce\" (expected Discover, Monitor or Protect)");
	expect_error(HDR("a") WEB_DEF
		     "  ingress: [{name: r, action: permit, selector: {name: nodes}}]\n", 8, 31,
		     "unknown action \"permit\" (expected allow or deny)");
	expect_error(HDR("a") WEB_DEF "  process: [{name: sh, action: Allowed}]\n", 8, 32,
		     "unknown action \"Allowed\"");
	expect_error(HDR("a") WEB_DEF "  file: [{filter: /etc/x, behavior: block}]\n", 8, 37,
		     "unknown behavior \"block\" (expected monitor_change or block_access)");
	expect_error(HDR("a")
		     "  target: {selector: {name: web, criteria: [{key: team, op: \"=\", value: a}]}}\n",
		     7, 51, "unknown criteria key \"team\" (expected container, image, service,");
	expect_error(HDR("a")
		     "  target: {selector: {name: web, criteria: [{key: image, op: \"~=\", value: a}]}}\n",
		     7, 62, "unknown criteria op \"~=\" (expected =, !=, contains, prefix, regex or !regex)");
}

static void test_error_values(void **state)
{
	(void)state;
	/* Ports: the column of the bad item inside the string. */
	expect_error(HDR("a") WEB_DEF
		     "  ingress: [{name: r, action: allow, ports: tcp/80-70, selector: {name: nodes}}]\n",
		     8, 45, "bad ports \"tcp/80-70\": ");
	expect_error(HDR("a") WEB_DEF
		     "  ingress: [{name: r, action: allow, ports: \"tcp/80, sctp/9\", selector: {name: nodes}}]\n",
		     8, 54, "bad ports \"sctp/9\": ");
	/* Multi-line or escaped: the start of the value. */
	expect_error(HDR("a") WEB_DEF
		     "  ingress:\n"
		     "  - name: r\n"
		     "    action: allow\n"
		     "    ports: \"tcp/80,\\\n"
		     "      tcp/99999\"\n"
		     "    selector: {name: nodes}\n",
		     11, 12, "bad ports \"tcp/99999\": ");
	expect_error(HDR("a") WEB_DEF
		     "  ingress: [{name: r, action: allow, priority: 70000, selector: {name: nodes}}]\n",
		     8, 48, "bad priority \"70000\" (expected an integer 0 to 65535)");
	expect_error(HDR("a") WEB_DEF
		     "  ingress: [{name: r, action: allow, priority: -1, selector: {name: nodes}}]\n",
		     8, 48, "bad priority \"-1\"");
	expect_error(HDR("a")
		     "  target: {selector: {name: web, criteria: [{key: image, op: regex, value: \"(\"}]}}\n",
		     7, 76, "bad regex \"(\": ");
	expect_error(HDR("a")
		     "  target: {selector: {name: web, criteria: [{key: address, op: \"=\", value: 10.0.0.256}]}}\n",
		     7, 76, "bad address \"10.0.0.256\": ");
	expect_error(HDR("a") WEB_DEF "  file: [{filter: etc/passwd}]\n", 8, 19,
		     "bad file filter \"etc/passwd\": ");
	expect_error(HDR("a") WEB_DEF "  file: [{filter: /etc/x, recursive: maybe}]\n", 8, 38,
		     "bad recursive \"maybe\" in file rule (expected true or false)");
	expect_error(HDR("a") WEB_DEF "  process: [{name: sh, allow_update: 2}]\n", 8, 38,
		     "bad allow_update \"2\"");
	expect_error(HDR("a")
		     "  target:\n"
		     "    selector:\n"
		     "      name: web\n"
		     "      criteria:\n"
		     "      - {key: service, op: \"=\", value: web}\n"
		     "      - {key: address, op: \"=\", value: 10.0.0.0/8}\n",
		     12, 9, "address criteria cannot be mixed with container criteria (group \"web\")");
}

static void test_error_structure(void **state)
{
	(void)state;
	expect_error(HDR("a") WEB_DEF "  process: {name: sh}\n", 8, 12,
		     "\"process\" in spec is a mapping, expected a list");
	expect_error(HDR("a") WEB_DEF "  ingress: [[]]\n", 8, 13,
		     "an ingress rule is a list, expected a mapping");
	expect_error(HDR("a") "  target: [web]\n", 7, 11,
		     "\"target\" in spec is a list, expected a mapping");
	expect_error(HDR("a") "  target: {selector: {name: [web]}}\n", 7, 29,
		     "\"name\" in selector is a list, expected a string");
	expect_error(HDR("a") "  target: {selector: {name: web, criteria: {key: image}}}\n", 7, 44,
		     "\"criteria\" in selector is a mapping, expected a list");
	expect_error("- apiVersion: neuvector.com/v1\n", 1, 1,
		     "the document is a list, expected a mapping");
	expect_error(HDR("a") WEB_DEF "  file: [{filter: /etc/x, app: {a: b}}]\n", 8, 32,
		     "\"app\" in file rule is a mapping, expected a list of strings");
	/* Missing required fields: at the mapping that lacks it, or at the
	 * key when its value is null. */
	expect_error("apiVersion: neuvector.com/v1\nkind: NvSecurityRule\nmetadata: {namespace: shop}\n"
		     "spec:\n" WEB_DEF,
		     3, 11, "missing required field \"name\" in metadata");
	expect_error("apiVersion: neuvector.com/v1\nkind: NvSecurityRule\nmetadata:\n  name:\n"
		     "spec:\n" WEB_DEF,
		     4, 3, "missing required field \"name\" in metadata");
	expect_error("kind: NvSecurityRule\nmetadata: {name: a}\n", 1, 1,
		     "missing required field \"apiVersion\" in document");
	expect_error("apiVersion: neuvector.com/v1\nkind: NvSecurityRule\nmetadata: {name: a, namespace: b}\n",
		     1, 1, "missing required field \"spec\"");
	expect_error(HDR("a") "  process: []\n", 7, 3, "missing required field \"target\" in spec");
	expect_error(HDR("a") "  target: {policymode: Monitor}\n", 7, 11,
		     "missing required field \"selector\" in target");
	expect_error(HDR("a") "  target: {selector: {criteria: []}}\n", 7, 22,
		     "missing required field \"name\" in selector");
	expect_error(HDR("a") WEB_DEF "  ingress: [{action: allow, selector: {name: nodes}}]\n", 8,
		     13, "missing required field \"name\" in ingress rule");
	expect_error(HDR("a") WEB_DEF "  egress: [{name: r, selector: {name: nodes}}]\n", 8, 12,
		     "missing required field \"action\" in egress rule");
	expect_error(HDR("a") WEB_DEF "  egress: [{name: r, action: deny}]\n", 8, 12,
		     "missing required field \"selector\" in egress rule");
	expect_error(HDR("a") WEB_DEF "  process: [{path: /bin/sh}]\n", 8, 13,
		     "missing required field \"name\" in process rule");
	expect_error(HDR("a") WEB_DEF "  file: [{recursive: true}]\n", 8, 10,
		     "missing required field \"filter\" in file rule");
	expect_error(HDR("a") "  target: {selector: {name: web, criteria: [{key: image, value: a}]}}\n",
		     7, 45, "missing required field \"op\" in criteria");
	expect_error(HDR("a") WEB_DEF "  process: [{name: sh, name: ls}]\n", 8, 24,
		     "duplicate field \"name\" in process rule (first at line 8)");
	expect_error(HDR("a") WEB_DEF "  process: [{name: \"a\\0b\"}]\n", 8, 20,
		     "\"name\" in process rule contains a NUL character");
}

/* Conflicts between documents: the second document is dropped and the
 * message names where the first one said otherwise. */
static void test_error_conflicts(void **state)
{
	(void)state;
	/* Same kind, namespace and name. */
	expect_conflict(HDR("a") WEB_DEF "---\n" HDR("a") WEB_DEF, 0, 12, 9,
		     "duplicate NvSecurityRule \"shop/a\" (first at t.yaml:4:9)");
	/* Rule names within one group, across and within documents. */
	expect_conflict(HDR("a") WEB_DEF
		     "  egress: [{name: r, action: deny, selector: {name: nodes}}]\n"
		     "---\n" HDR("b") WEB_DEF
		     "  ingress: [{name: r, action: deny, selector: {name: nodes}}]\n",
		     1, 17, 20, "duplicate network rule \"r\" in group \"web\" (first at t.yaml:8:12)");
	expect_error(HDR("a") WEB_DEF
		     "  egress:\n"
		     "  - {name: r, action: deny, selector: {name: nodes}}\n"
		     "  - {name: r, action: deny, selector: {name: external}}\n",
		     10, 12, "duplicate network rule \"r\" in group \"web\" (first at t.yaml:9:5)");
	/* Criteria. */
	expect_conflict(HDR("a") WEB_DEF "---\n" HDR("b")
		     "  target: {selector: {name: web, criteria: [{key: service, op: \"=\", value: api}]}}\n",
		     0, 15, 29, "group \"web\" redefined with other criteria (first defined at t.yaml:7:29)");
	expect_error(HDR("a") WEB_DEF
		     "  egress: [{name: r, action: deny, selector: {name: web, criteria: [{key: image, op: \"=\", value: x}]}}]\n",
		     8, 53, "group \"web\" redefined with other criteria (first defined at t.yaml:7:29)");
	/* Modes. */
	expect_conflict(HDR("a")
		     "  target: {policymode: Protect, selector: {name: web, criteria: [{key: service, op: \"=\", value: web}]}}\n"
		     "---\n" HDR("b") "  target: {policymode: Monitor, selector: {name: web}}\n",
		     0, 15, 24, "policymode \"Monitor\" conflicts with \"Protect\" given at t.yaml:7:24");
	expect_conflict(HDR("a") WEB_DEF "  process_profile: {baseline: zero-drift}\n"
		     "---\n" HDR("b") WEB_DEF "  process_profile: {baseline: basic}\n",
		     0, 17, 31, "baseline \"basic\" conflicts with \"zero-drift\" given at t.yaml:8:31");
}

/* Errors elsewhere do not stop the search: every error of a document and
 * of later documents is reported, in file order. */
static void test_error_many(void **state)
{
	static const char yaml[] =
		HDR("a")
		"  target:\n"
		"    policymode: Protected\n"
		"    selector: {name: web, criteria: [{key: service, op: regex, value: \"(\"}]}\n"
		"  ingress:\n"
		"  - {name: r, action: allow, ports: \"tcp/80, tcp/80-70\", selector: {name: g2}}\n"
		"  - {name: r, action: permit, ports: tcp/80, selector: {name: g2}}\n"
		"  dlp: {}\n"
		"---\n"
		HDR("b") WEB_DEF;
	struct diags d = { 0 };
	struct policy *p;
	char *out = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	(void)state;
	p = load("rules.yaml", yaml, &d, &rc);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(d.n_errors, 4);
	assert_int_equal(d.n_warnings, 1);
	assert_diag(&d, 0, true, "rules.yaml", 8, 17, "unknown policymode \"Protected\"");
	assert_diag(&d, 1, true, "rules.yaml", 9, 71, "bad regex \"(\"");
	assert_diag(&d, 2, true, "rules.yaml", 11, 46, "bad ports \"tcp/80-70\"");
	assert_diag(&d, 3, true, "rules.yaml", 12, 23, "unknown action \"permit\"");
	assert_diag(&d, 4, false, "rules.yaml", 13, 3, "field \"dlp\" in spec is not supported, ignored");
	/* The second document is fine and kept. */
	assert_true(policy__group_find(p, "web") > 0);
	assert_int_equal(policy__group_find(p, "g2"), -1);

	f = open_memstream(&out, &len);
	assert_non_null(f);
	diags__print(&d, f);
	fclose(f);
	assert_non_null(strstr(out, "rules.yaml:8:17: error: unknown policymode \"Protected\" "
				    "(expected Discover, Monitor or Protect)\n"
				    "rules.yaml:9:71: error: bad regex \"(\": "));
	assert_non_null(strstr(out, "rules.yaml:13:3: warning: field \"dlp\" in spec is not "
				    "supported, ignored\n"));
	free(out);
	policy__free(p);
	diags__free(&d);
	assert_int_equal(d.n, 0);
	assert_null(d.v);
}

/* ---- YAML syntax */

static void test_yaml_errors(void **state)
{
	struct diags d = { 0 };
	struct policy *p;
	int rc;

	(void)state;
	/* The documents before the error are read; the file stops there. */
	p = load("s.yaml", HDR("a") WEB_DEF "---\nkey: [a\n---\n" HDR("b") WEB_DEF, &d, &rc);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, true, "s.yaml", 10, 1,
		    "YAML: did not find expected ',' or ']' (while parsing a flow sequence at "
		    "line 9 column 6)");
	assert_true(policy__group_find(p, "web") > 0);
	policy__free(p);
	diags__free(&d);

	expect_error("a: b: c\n", 1, 5, "YAML: mapping values are not allowed in this context");
	expect_error("a: *nope\n", 1, 4, "YAML: found undefined alias");
	expect_error("a:\n\tb: c\n", 2, 1, "YAML: found character that cannot start any token");
	/* Not UTF-8. */
	expect_error("a: \xff\xfe\n", 1, 4, "YAML: invalid leading UTF-8 octet");
	/* A mapping key that is not a string. */
	expect_error(HDR("a") WEB_DEF "  process:\n  - name: sh\n    ? [a]\n    : b\n", 10, 7,
		     "a key in process rule is a list, expected a string");
}

/* ---- warnings */

static void test_warnings(void **state)
{
	(void)state;
	expect_warning(HDR("a") WEB_DEF "  process: [{name: sh, foo: 1}]\n", 8, 24,
		       "unknown field \"foo\" in process rule, ignored");
	expect_warning(HDR("a") WEB_DEF "  waf: {}\n", 8, 3,
		       "field \"waf\" in spec is not supported, ignored");
	expect_warning(HDR("a") WEB_DEF "  ingres: []\n", 8, 3,
		       "unknown field \"ingres\" in spec, ignored");
	expect_warning(HDR("a")
		       "  target: {selector: {name: web, comment: x, original_name: y, criteria: [{key: service, op: \"=\", value: web, x: 1}]}}\n",
		       7, 111, "unknown field \"x\" in criteria, ignored");
	expect_warning("apiVersion: neuvector.com/v1\nkind: NvSecurityRule\nmetadata: {name: a}\nspec:\n" WEB_DEF,
		       3, 18, "NvSecurityRule \"a\" has no metadata.namespace, \"default\" assumed");
	/* Kubernetes' own fields are not ours to warn about. */
	{
		static const char yaml[] =
			"apiVersion: neuvector.com/v1\n"
			"kind: NvSecurityRule\n"
			"metadata:\n"
			"  name: a\n"
			"  namespace: shop\n"
			"  uid: 2e99f0cd-b33a-4a12-a5fa-526efd25d3b6\n"
			"  resourceVersion: \"1234\"\n"
			"  annotations: {kubectl.kubernetes.io/last-applied-configuration: x}\n"
			"spec:\n" WEB_DEF
			"status: {}\n";
		struct diags d = { 0 };
		struct policy *p;
		int rc;

		p = load("t.yaml", yaml, &d, &rc);
		assert_int_equal(rc, 0);
		assert_int_equal(d.n, 0);
		assert_string_equal(group(p, "web")->namespace, "shop");
		policy__free(p);
	}
}

/* A cluster rule has no namespace, whatever its metadata says (NeuVector
 * exports write "default"); its key ignores it too. */
static void test_cluster_namespace(void **state)
{
	static const char yaml[] =
		"apiVersion: neuvector.com/v1\n"
		"kind: NvClusterSecurityRule\n"
		"metadata: {name: a, namespace: default}\n"
		"spec:\n" WEB_DEF
		"---\n"
		"apiVersion: neuvector.com/v1\n"
		"kind: NvClusterSecurityRule\n"
		"metadata: {name: a, namespace: other}\n"
		"spec:\n" WEB_DEF;
	struct diags d = { 0 };
	struct policy *p;
	int rc;

	(void)state;
	p = load("c.yaml", yaml, &d, &rc);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, true, "c.yaml", 9, 18,
		    "duplicate NvClusterSecurityRule \"a\" (first at c.yaml:3:18)");
	assert_null(group(p, "web")->namespace);
	policy__free(p);
	diags__free(&d);
}

/* ---- bounds */

static void test_bounds(void **state)
{
	struct diags d = { 0 };
	struct policy *p;
	char *buf;
	size_t i, n;
	int rc;

	(void)state;
	/* Size. */
	n = (16u << 20) + 1;
	buf = malloc(n);
	assert_non_null(buf);
	memset(buf, ' ', n);
	p = policy__new();
	assert_int_equal(policy__load_buffer(p, "big.yaml", buf, n, &d), -EFBIG);
	assert_diag(&d, 0, true, "big.yaml", 0, 0, "more than the 16777216 allowed");
	policy__free(p);
	diags__free(&d);
	free(buf);

	/* Depth: 64 levels are fine, the 65th is not. */
	buf = calloc(1, 200);
	assert_non_null(buf);
	memset(buf, '[', 64);
	memset(buf + 64, ']', 64);
	p = load("deep.yaml", buf, &d, &rc);
	assert_int_equal(rc, -EINVAL); /* a list, not a rule document */
	assert_diag(&d, 0, true, "deep.yaml", 1, 1, "the document is a list");
	policy__free(p);
	diags__free(&d);
	memset(buf, '[', 65);
	memset(buf + 65, ']', 65);
	p = load("deep.yaml", buf, &d, &rc);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, true, "deep.yaml", 1, 65, "nesting deeper than 64 levels");
	policy__free(p);
	diags__free(&d);
	free(buf);

	/* Far deeper than libyaml's own stacks would like. */
	n = 1 << 20;
	buf = malloc(n + 1);
	assert_non_null(buf);
	memset(buf, '[', n);
	buf[n] = '\0';
	p = load("deep.yaml", buf, &d, &rc);
	assert_int_equal(rc, -EINVAL);
	assert_diag(&d, 0, true, "deep.yaml", 1, 65, "nesting deeper than 64 levels");
	policy__free(p);
	diags__free(&d);
	free(buf);

	/* Documents. */
	n = 100001;
	buf = malloc(n * 4 + 1);
	assert_non_null(buf);
	for (i = 0; i < n; i++)
		memcpy(buf + i * 4, "---\n", 4);
	buf[n * 4] = '\0';
	p = load("docs.yaml", buf, &d, &rc);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, true, "docs.yaml", 100001, 1, "too many documents (more than 100000)");
	policy__free(p);
	diags__free(&d);
	free(buf);

	/* Rules. */
	{
		static const char head[] = HDR("a") WEB_DEF "  process:\n";
		static const char rule[] = "  - {name: a}\n";
		size_t hl = strlen(head), rl = strlen(rule);

		n = 100001;
		buf = malloc(hl + n * rl + 1);
		assert_non_null(buf);
		memcpy(buf, head, hl);
		for (i = 0; i < n; i++)
			memcpy(buf + hl + i * rl, rule, rl);
		buf[hl + n * rl] = '\0';
		p = load("rules.yaml", buf, &d, &rc);
		assert_int_equal(rc, -EINVAL);
		assert_int_equal(d.n, 1);
		assert_diag(&d, 0, true, "rules.yaml", 9 + 100000, 5,
			    "too many rules (more than 100000)");
		assert_int_equal(policy__group_find(p, "web"), -1);
		policy__free(p);
		diags__free(&d);
		free(buf);
	}

	/* Aliases repeat a list without repeating its text. */
	{
		static const char yaml[] =
			HDR("a") WEB_DEF
			"  file:\n"
			"  - {filter: /a, app: &apps [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p]}\n";
		static const char more[] = "  - {filter: /a, app: *apps}\n";
		size_t yl = strlen(yaml), ml = strlen(more);

		n = 70000;
		buf = malloc(yl + n * ml + 1);
		assert_non_null(buf);
		memcpy(buf, yaml, yl);
		for (i = 0; i < n; i++)
			memcpy(buf + yl + i * ml, more, ml);
		buf[yl + n * ml] = '\0';
		p = load("alias.yaml", buf, &d, &rc);
		assert_int_equal(rc, -EINVAL);
		assert_int_equal(d.n, 1);
		assert_diag(&d, 0, true, "alias.yaml", 9, 23,
			    "too many list entries (more than 1000000 in all)");
		policy__free(p);
		diags__free(&d);
		free(buf);
	}
}

/* The buffer is exactly len bytes: no NUL after it (ASan checks). */
static void test_not_terminated(void **state)
{
	static const char yaml[] = HDR("a") WEB_DEF "  process: [{name: sh}]";
	size_t len = strlen(yaml), cut;
	struct diags d = { 0 };
	struct policy *p;
	char *buf;

	(void)state;
	for (cut = 0; cut <= len; cut += 7) {
		buf = malloc(cut ? cut : 1);
		assert_non_null(buf);
		memcpy(buf, yaml, cut);
		p = policy__new();
		assert_non_null(p);
		policy__load_buffer(p, "cut.yaml", buf, cut, &d);
		policy__finish(p, &d);
		policy__free(p);
		diags__free(&d);
		free(buf);
	}
	buf = malloc(len);
	memcpy(buf, yaml, len);
	p = policy__new();
	assert_int_equal(policy__load_buffer(p, "cut.yaml", buf, len, &d), 0);
	assert_string_equal(group(p, "web")->procs[0].name, "sh");
	policy__free(p);
	free(buf);
	diags__free(&d);
}

static void test_modes(void **state)
{
	enum policy_mode m = MODE_PROTECT;

	(void)state;
	assert_int_equal(policy_mode_parse("discover", &m), 0);
	assert_int_equal(m, MODE_DISCOVER);
	assert_int_equal(policy_mode_parse("MONITOR", &m), 0);
	assert_int_equal(m, MODE_MONITOR);
	assert_int_equal(policy_mode_parse("Protect", &m), 0);
	assert_int_equal(m, MODE_PROTECT);
	assert_int_equal(policy_mode_parse("n/a", &m), 0);
	assert_int_equal(m, MODE_UNSET);
	assert_int_equal(policy_mode_parse("Protected", &m), -EINVAL);
	assert_int_equal(policy_mode_parse("", &m), -EINVAL);
	assert_string_equal(policy_mode_name(MODE_DISCOVER), "Discover");
	assert_string_equal(policy_mode_name(MODE_MONITOR), "Monitor");
	assert_string_equal(policy_mode_name(MODE_PROTECT), "Protect");
	assert_string_equal(policy_mode_name(MODE_UNSET), "");
}

/* ---- learning */

static void test_learning(void **state)
{
	static const char yaml[] =
		HDR("a") WEB_DEF
		"  file: [{filter: /etc/secret/*, behavior: block_access, app: nginx}]\n"
		"  egress:\n"
		"  - {name: learned-1, action: allow, selector: {name: nodes}}\n"
		"  - {name: late, action: deny, priority: 10, selector: {name: nodes}}\n"
		"  - {name: early, action: deny, selector: {name: external}}\n";
	struct diags d = { 0 };
	struct policy *p;
	const struct group *g;
	long web, svc, svc2, i;
	int rc;

	(void)state;
	p = load("l.yaml", yaml, &d, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(policy__finish(p, &d), 0);
	web = policy__group_find(p, "web");

	/* Groups. */
	svc = policy__group_learned(p, "api", "shop");
	assert_int_equal(svc, 4);
	g = &p->groups[svc];
	assert_string_equal(g->name, "nv.api.shop");
	assert_int_equal(g->kind, GROUP_LEARNED);
	assert_true(g->defined);
	assert_string_equal(g->namespace, "shop");
	assert_int_equal(g->n_crit, 2);
	assert_crit(g, 0, CRIT_SERVICE, CRIT_EQ, "api");
	assert_crit(g, 1, CRIT_NAMESPACE, CRIT_EQ, "shop");
	assert_pos(&g->pos, NULL, 0, 0);
	assert_int_equal(policy__group_learned(p, "api", "shop"), svc);
	assert_int_equal(policy__group_find(p, "nv.api.shop"), svc);
	svc2 = policy__group_learned(p, "agent", "");
	assert_int_equal(svc2, 5);
	assert_string_equal(p->groups[svc2].name, "nv.agent");
	assert_null(p->groups[svc2].namespace);
	assert_int_equal(p->groups[svc2].n_crit, 1);
	assert_int_equal(policy__group_learned(p, "", "x"), -EINVAL);

	/* Processes. */
	assert_int_equal(policy__proc_add(p, (size_t)svc, "python3", "/usr/bin/python3.11"), 0);
	assert_int_equal(policy__proc_add(p, (size_t)svc, "sh", "/bin/dash"), 1);
	g = &p->groups[svc];
	assert_string_equal(g->procs[1].name, "sh");
	assert_string_equal(g->procs[1].path, "/bin/dash");
	assert_int_equal(g->procs[1].action, ACTION_ALLOW);
	assert_true(g->procs[1].learned);
	assert_null(g->procs[1].pos.file);
	assert_int_equal(policy__proc_add(p, 99, "sh", "/bin/sh"), -EINVAL);

	/* File apps. */
	assert_int_equal(policy__file_app_add(p, (size_t)web, 0, "nginx"), 0);
	assert_int_equal(policy__file_app_add(p, (size_t)web, 0, "cat"), 1);
	assert_int_equal(policy__file_app_add(p, (size_t)web, 0, "cat"), 0);
	g = &p->groups[web];
	assert_int_equal(g->files[0].n_apps, 2);
	assert_string_equal(g->files[0].apps[1], "cat");
	assert_int_equal(policy__file_app_add(p, (size_t)web, 1, "cat"), -EINVAL);

	/* Network: after every priority-0 rule, before priority 10; the
	 * name skips the one the file already uses in that group. */
	assert_int_equal(p->n_net, 3);
	assert_string_equal(p->net[2].name, "late");
	i = policy__net_add(p, (size_t)svc, (size_t)web, (size_t)web, IPPROTO_TCP, 8080);
	assert_int_equal(i, 2);
	assert_string_equal(p->net[2].name, "learned-2");
	assert_string_equal(p->net[2].ports_spec, "tcp/8080");
	assert_int_equal(p->net[2].ports[0].proto, IPPROTO_TCP);
	assert_int_equal(p->net[2].ports[0].lo, 8080);
	assert_int_equal(p->net[2].ports[0].hi, 8080);
	assert_int_equal(p->net[2].from, (size_t)svc);
	assert_int_equal(p->net[2].to, (size_t)web);
	assert_true(p->net[2].ingress);
	assert_true(p->net[2].learned);
	assert_int_equal(p->net[2].action, ACTION_ALLOW);
	assert_int_equal(p->net[2].priority, 0);
	assert_int_equal(p->net[2].order, 3);
	assert_string_equal(p->net[3].name, "late");
	/* Another owner: learned-3 is free there. */
	i = policy__net_add(p, (size_t)svc, (size_t)web, (size_t)svc, IPPROTO_UDP, 53);
	assert_int_equal(i, 3);
	assert_string_equal(p->net[3].name, "learned-3");
	assert_string_equal(p->net[3].ports_spec, "udp/53");
	assert_false(p->net[3].ingress);
	i = policy__net_add(p, (size_t)web, POLICY_G_EXTERNAL, (size_t)web, IPPROTO_ICMP, 0);
	assert_string_equal(p->net[i].ports_spec, "icmp");
	assert_int_equal(p->net[i].ports[0].lo, 0);
	assert_int_equal(p->net[i].ports[0].hi, 65535);
	assert_string_equal(p->net[p->n_net - 1].name, "late");
	assert_int_equal(policy__net_add(p, 0, 1, 2, IPPROTO_TCP, 1), -EINVAL);
	assert_int_equal(policy__net_add(p, 0, 1, 1, 132 /* SCTP */, 1), -EPROTONOSUPPORT);

	/* Still sorted by (priority, order). */
	for (i = 1; i < (long)p->n_net; i++)
		assert_true(p->net[i - 1].priority < p->net[i].priority ||
			    (p->net[i - 1].priority == p->net[i].priority &&
			     p->net[i - 1].order < p->net[i].order));
	policy__free(p);
	diags__free(&d);
}

/* Learned profiles read back over the rule files (policy->load_learned):
 * same document name, rules marked learned, an equal file rule gives
 * only its apps. */
static void test_load_learned(void **state)
{
	static const char rules[] =
		HDR("a") WEB_DEF
		"  process: [{name: nginx, path: /usr/sbin/nginx}]\n"
		"  file: [{filter: /etc/ssl/*, recursive: true, behavior: block_access, app: [nginx]}]\n";
	static const char learned[] =
		HDR("a") WEB_DEF
		"  process: [{name: sh, path: /bin/dash, action: allow}]\n"
		"  egress: [{name: learned-1, action: allow, ports: udp/53, selector: {name: external}}]\n"
		"  file:\n"
		"  - {filter: /etc/ssl/*, recursive: true, behavior: block_access, app: [nginx, php-fpm]}\n"
		"  - {filter: /etc/ssl/*, recursive: false, behavior: block_access, app: [cat]}\n";
	const struct group *web;
	struct diags d = { 0 };
	struct policy *p = policy__new();

	(void)state;
	assert_int_equal(policy__load_buffer(p, "rules.yaml", rules, strlen(rules), &d), 0);
	p->load_learned = true;
	assert_int_equal(policy__load_buffer(p, "learned.yaml", learned, strlen(learned), &d), 0);
	p->load_learned = false;
	assert_int_equal(policy__finish(p, &d), 0);
	assert_int_equal(d.n, 0);
	web = group(p, "web");
	assert_int_equal(web->n_procs, 2);
	assert_false(web->procs[0].learned);
	assert_string_equal(web->procs[1].name, "sh");
	assert_true(web->procs[1].learned);
	assert_int_equal(p->n_net, 1);
	assert_true(p->net[0].learned);
	assert_int_equal(web->n_files, 2);
	assert_int_equal(web->files[0].n_apps, 2);
	assert_string_equal(web->files[0].apps[0], "nginx");
	assert_string_equal(web->files[0].apps[1], "php-fpm");
	assert_false(web->files[1].filter.recursive);
	assert_string_equal(web->files[1].apps[0], "cat");
	/* Learning names around what was read back. */
	assert_int_equal(policy__net_add(p, (size_t)policy__group_find(p, "web"), POLICY_G_EXTERNAL,
					 (size_t)policy__group_find(p, "web"), IPPROTO_TCP, 443),
			 1);
	assert_string_equal(p->net[1].name, "learned-2");
	policy__free(p);

	/* Read as a rule file, the same document is a duplicate. */
	p = policy__new();
	assert_int_equal(policy__load_buffer(p, "rules.yaml", rules, strlen(rules), &d), 0);
	assert_int_equal(policy__load_buffer(p, "learned.yaml", learned, strlen(learned), &d),
			 -EINVAL);
	assert_diag(&d, 0, true, "learned.yaml", 4, 9,
		    "duplicate NvSecurityRule \"shop/a\" (first at rules.yaml:4:9)");
	policy__free(p);
	diags__free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_neuvector_global_list),
		cmocka_unit_test(test_neuvector_docs_examples),
		cmocka_unit_test(test_neuvector_export),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_configmap_directory),
		cmocka_unit_test(test_error_enums),
		cmocka_unit_test(test_error_values),
		cmocka_unit_test(test_error_structure),
		cmocka_unit_test(test_error_conflicts),
		cmocka_unit_test(test_error_many),
		cmocka_unit_test(test_yaml_errors),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_cluster_namespace),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_not_terminated),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_learning),
		cmocka_unit_test(test_load_learned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
