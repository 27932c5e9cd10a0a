// SPDX-License-Identifier: Apache-2.0
/* test_enforce_net.c: unit tests of the network segmentation compiler:
 * range decomposition, peer classes (nested CIDRs, ranges, !=), port
 * flattening in first-match order, overflow, stable ids, and that the
 * kernel's decision from the compiled maps (enforce_net_decide, the same
 * algorithm as bpf/include/netpolicy.bpf.h) equals the rule engine's. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <linux/types.h>
#include "events.h"
#include "decode.h"
#include "enforce_net.h"
#include "engine.h"
#include "policy.h"
#include "proc_table.h"

/* ------------------------------------------------------------------ */
/* Addresses                                                          */

static struct entity_addr ip(const char *s)
{
	struct entity_addr a = { .family = strchr(s, ':') ? AF_INET6 : AF_INET };

	assert_int_equal(inet_pton(a.family, s, a.addr), 1);
	return a;
}

static void block_str(uint8_t family, const struct enforce_net_block *b, char *out, size_t size)
{
	char t[INET6_ADDRSTRLEN];

	inet_ntop(family, b->addr, t, sizeof(t));
	snprintf(out, size, "%s/%u", t, b->plen);
}

static void expect_blocks(const char *lo, const char *hi, const char *const *want, size_t n)
{
	struct entity_addr l = ip(lo), h = ip(hi);
	struct enforce_net_block b[256];
	char s[64];

	int got = enforce_net_range_cidrs(l.family, l.addr, h.addr, b, 256);
	if (got != (int)n)
		fprintf(stderr, "%s-%s: %d blocks, want %zu\n", lo, hi, got, n);
	assert_int_equal(got, (int)n);
	for (size_t i = 0; i < n; i++) {
		block_str(l.family, &b[i], s, sizeof(s));
		assert_string_equal(s, want[i]);
	}
}

static void test_range_cidrs(void **state)
{
	(void)state;
	expect_blocks("10.0.0.1", "10.0.0.9",
		      (const char *const[]){ "10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/30", "10.0.0.8/31" },
		      4);
	expect_blocks("10.0.0.0", "10.0.0.255", (const char *const[]){ "10.0.0.0/24" }, 1);
	expect_blocks("0.0.0.0", "255.255.255.255", (const char *const[]){ "0.0.0.0/0" }, 1);
	expect_blocks("192.0.2.7", "192.0.2.7", (const char *const[]){ "192.0.2.7/32" }, 1);
	expect_blocks("255.255.255.254", "255.255.255.255",
		      (const char *const[]){ "255.255.255.254/31" }, 1);
	expect_blocks("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", (const char *const[]){ "::/0" },
		      1);
	expect_blocks("2001:db8::1", "2001:db8::4",
		      (const char *const[]){ "2001:db8::1/128", "2001:db8::2/127", "2001:db8::4/128" },
		      3);
	/* the worst case of a family: 2 x width - 2 blocks */
	struct entity_addr l = ip("::1"), h = ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
	struct enforce_net_block b[256];
	assert_int_equal(enforce_net_range_cidrs(AF_INET6, l.addr, h.addr, b, 256), 254);
	assert_int_equal(enforce_net_range_cidrs(AF_INET6, l.addr, h.addr, b, 10), -E2BIG);
	assert_int_equal(enforce_net_range_cidrs(AF_INET6, h.addr, l.addr, b, 10), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* A node: a policy, an engine, containers with addresses, the host    */

#define MAX_C 8
#define HOST_CGROUP 1

struct ctr {
	struct container_view view;
	struct engine_container ec;
	struct entity_addr addrs[2];
};

static struct engine *eng;
static struct proc_table *pt;
static struct ctr ctrs[MAX_C];
static size_t n_ctrs;
/* containers of another node (the peer map): peers only */
static struct ctr rctrs[MAX_C];
static size_t n_rctrs;
static struct entity_addr host[2];
static size_t n_host;
static struct enforce_net *en;
static uint8_t rec[4096] __attribute__((aligned(8)));

static void sink(void *ctx, const struct finding *f)
{
	(void)ctx;
	(void)f;
}

static void node_init(const char *yaml)
{
	struct diags d = { 0 };
	struct policy *p = policy__new();
	struct engine_config cfg = { .window_ns = 0, .sink = sink };

	assert_non_null(p);
	if (policy__load_buffer(p, "net.yaml", yaml, strlen(yaml), &d) || policy__finish(p, &d))
		diags__print(&d, stderr);
	assert_int_equal(d.n_errors, 0);
	diags__free(&d);
	pt = proc_table__new(1024);
	eng = engine__new(&cfg, pt);
	assert_non_null(eng);
	engine__set_policy(eng, p);
	en = enforce_net__new();
	assert_non_null(en);
	n_ctrs = n_rctrs = n_host = 0;
}

static int node_free(void **state)
{
	(void)state;
	engine__free(eng);
	proc_table__free(pt);
	enforce_net__free(en);
	eng = NULL;
	pt = NULL;
	en = NULL;
	return 0;
}

/* A container of pod <svc>-<hash>-<id> in namespace ns, with addresses. */
static struct ctr *ctr_add(const char *svc, const char *ns, uint64_t cgroup_id, const char *a4,
			   const char *a6)
{
	struct ctr *c = &ctrs[n_ctrs++];
	static char pods[MAX_C][64];

	snprintf(pods[n_ctrs - 1], sizeof(pods[0]), "%s-7d9f8c6b5-x2x7k", svc);
	c->view = (struct container_view){ .id = svc, .runtime = "runc", .name = svc, .image = "img",
					   .pod = pods[n_ctrs - 1], .namespace = ns, .pod_uid = "u",
					   .cgroup = "/x", .cgroup_id = cgroup_id };
	size_t n = 0;
	if (a4)
		c->addrs[n++] = ip(a4);
	if (a6)
		c->addrs[n++] = ip(a6);
	c->ec = (struct engine_container){ .view = &c->view, .addrs = c->addrs, .n_addrs = n,
					   .node = "node1" };
	return c;
}

/* A container of pod <svc>-... on node2 with one address, as the sensor
 * makes one from the peer map (sensor_rules.c remote_container): no
 * labels, no cgroup. */
static struct ctr *rctr_add(const char *svc, const char *ns, const char *a)
{
	struct ctr *c = &rctrs[n_rctrs++];
	static char pods[MAX_C][64];

	snprintf(pods[n_rctrs - 1], sizeof(pods[0]), "%s-6f5d4c7b9-z8z8z", svc);
	c->view = (struct container_view){ .id = svc, .runtime = "", .name = svc, .image = "img",
					   .pod = pods[n_rctrs - 1], .namespace = ns, .pod_uid = "",
					   .cgroup = "" };
	c->addrs[0] = ip(a);
	c->ec = (struct engine_container){ .view = &c->view, .addrs = c->addrs, .n_addrs = 1,
					   .node = "node2", .remote = true };
	return c;
}

static void member_fn(void *ctx, bool h, uint8_t family, const uint8_t *addr, uint64_t *bits,
		      size_t words)
{
	engine__peer_member(ctx, h, family, addr, bits, words);
}

/* Compiles the node as the sensor does (sensor_rules.c net_compile). */
static struct enforce_net_result *compile(void)
{
	struct enforce_net_container in_c[MAX_C];
	uint64_t *copies[4 * MAX_C];
	size_t nc = 0;

	for (size_t i = 0; i < n_ctrs; i++) {
		struct engine_view v;
		assert_int_equal(engine__view(eng, &ctrs[i].ec, &v), 0);
		void *m = malloc(v.member_words * 8 + 8), *eg = malloc(v.n_egress * sizeof(size_t) + 8),
		     *ig = malloc(v.n_ingress * sizeof(size_t) + 8);
		if (v.member_words)
			memcpy(m, v.member, v.member_words * 8);
		if (v.n_egress)
			memcpy(eg, v.egress, v.n_egress * sizeof(size_t));
		if (v.n_ingress)
			memcpy(ig, v.ingress, v.n_ingress * sizeof(size_t));
		copies[nc++] = m;
		copies[nc++] = eg;
		copies[nc++] = ig;
		in_c[i] = (struct enforce_net_container){
			.cgroup_id = ctrs[i].view.cgroup_id, .member = m, .member_words = v.member_words,
			.egress = eg, .ingress = ig, .n_egress = v.n_egress, .n_ingress = v.n_ingress,
			.protect = v.net_mode == MODE_PROTECT, .addrs = ctrs[i].addrs,
			.n_addrs = ctrs[i].ec.n_addrs,
		};
	}
	struct enforce_net_remote in_r[MAX_C];
	for (size_t i = 0; i < n_rctrs; i++) {
		struct engine_view v;
		assert_int_equal(engine__view(eng, &rctrs[i].ec, &v), 0);
		void *m = malloc(v.member_words * 8 + 8);
		memcpy(m, v.member, v.member_words * 8);
		copies[nc++] = m;
		in_r[i] = (struct enforce_net_remote){ .member = m, .member_words = v.member_words,
						       .addr = rctrs[i].addrs[0] };
	}
	struct enforce_net_input in = { .policy = engine__policy(eng), .containers = in_c,
					.n_containers = n_ctrs, .host = host, .n_host = n_host,
					.remote = in_r, .n_remote = n_rctrs,
					.member = member_fn, .member_ctx = eng };
	struct enforce_net_result *r = NULL;
	assert_int_equal(enforce_net__compile(en, &in, &r), 0);
	assert_non_null(r);
	for (size_t i = 0; i < nc; i++)
		free(copies[i]);
	return r;
}

/* The class the maps give addr (exact, else longest CIDR, else external). */
static uint32_t class_of(const struct enforce_net_result *r, const char *s)
{
	struct entity_addr a = ip(s);
	uint32_t best = 0, cls = WACHT_CLASS_EXTERNAL;

	for (size_t i = 0; i < r->n_addrs; i++)
		if (r->addrs[i].key.family == a.family &&
		    memcmp(r->addrs[i].key.addr, a.addr, 16) == 0)
			return r->addrs[i].class;
	for (size_t i = 0; i < r->n_cidrs; i++) {
		const struct wacht_cidr_key *k = &r->cidrs[i].key;
		unsigned bits = k->prefixlen - 32, full = bits / 8;
		if (k->family != a.family || k->prefixlen <= best)
			continue;
		if (memcmp(k->addr, a.addr, full) ||
		    (bits % 8 && (k->addr[full] ^ a.addr[full]) >> (8 - bits % 8)))
			continue;
		best = k->prefixlen;
		cls = r->cidrs[i].class;
	}
	return cls;
}

static const struct wacht_net_rules *table(const struct enforce_net_result *r, uint64_t cgroup_id,
					   uint32_t cls, int dir)
{
	const struct enforce_net_cg *cg = enforce_net_cg_find(r, cgroup_id);

	assert_non_null(cg);
	for (size_t i = 0; i < r->n_tables; i++)
		if (r->tables[i].key.set == cg->net_set && r->tables[i].key.peer_class == cls &&
		    r->tables[i].key.direction == (uint32_t)dir)
			return &r->tables[i].rules;
	return NULL;
}

static const struct enforce_net_cidr *cidr_find(const struct enforce_net_result *r,
						const char *base, unsigned plen)
{
	struct entity_addr a = ip(base);

	for (size_t i = 0; i < r->n_cidrs; i++)
		if (r->cidrs[i].key.family == a.family && r->cidrs[i].key.prefixlen == 32 + plen &&
		    memcmp(r->cidrs[i].key.addr, a.addr, 16) == 0)
			return &r->cidrs[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The policy                                                         */

#define DOC(kind, name, ns, rest)                                                   \
	"---\napiVersion: neuvector.com/v1\nkind: " kind "\nmetadata: {name: " name ns \
	"}\nspec:\n" rest

#define GROUP(name, ns, crit, mode, rules)                                        \
	DOC("NvSecurityRule", name, ", namespace: " ns,                             \
	    "  target:\n    policymode: " mode "\n    selector: {name: " name       \
	    ", criteria: [" crit "]}\n" rules)

#define ADDRS(name, crit) \
	DOC("NvClusterSecurityRule", name, "", "  target:\n    selector: {name: " name ", criteria: [" crit "]}\n")

static const char *policy_yaml =
	ADDRS("corp", "{key: address, op: \"=\", value: 10.20.0.0/16}")
	ADDRS("lab", "{key: address, op: \"=\", value: 10.20.5.0/24}")
	ADDRS("partner", "{key: address, op: \"=\", value: 192.0.2.10-192.0.2.20}")
	ADDRS("v6net", "{key: address, op: \"=\", value: \"2001:db8::/32\"}")
	ADDRS("not-corp", "{key: address, op: \"!=\", value: 10.20.0.0/16}")
	/* two halves covering all of 10.30.0.0/24 */
	ADDRS("split", "{key: address, op: \"=\", value: 10.30.0.0/24}")
	ADDRS("lo-half", "{key: address, op: \"=\", value: 10.30.0.0/25}")
	ADDRS("hi-half", "{key: address, op: \"=\", value: 10.30.0.128/25}")
	GROUP("nv.db.shop", "shop", "{key: service, op: \"=\", value: db}, {key: namespace, op: \"=\", value: shop}",
	      "Protect",
	      "  ingress:\n"
	      "  - {name: from-web, action: allow, ports: tcp/5432, selector: {name: nv.web.shop}}\n"
	      "  - {name: from-lab, action: allow, ports: tcp/5432-5440, selector: {name: lab}}\n")
	GROUP("nv.web.shop", "shop", "{key: service, op: \"=\", value: web}, {key: namespace, op: \"=\", value: shop}",
	      "Protect",
	      "  egress:\n"
	      "  - {name: corp-any, action: allow, ports: any, priority: 5, selector: {name: corp}}\n"
	      "  - {name: corp-ssh, action: deny, ports: tcp/22, priority: 1, selector: {name: corp}}\n"
	      "  - {name: lab-web, action: allow, ports: \"tcp/80,icmp\", selector: {name: lab}}\n"
	      "  - {name: to-db, action: allow, ports: tcp/5432, selector: {name: nv.db.shop}}\n"
	      "  - {name: deny-ext-smtp, action: deny, ports: tcp/25, selector: {name: external}}\n"
	      "  - {name: ext-web, action: allow, ports: \"tcp/80,tcp/443,tcp/8000-8080\", selector: {name: external}}\n"
	      "  - {name: ext-no-8080, action: deny, ports: tcp/8080, selector: {name: external}}\n"
	      "  - {name: ext-dns, action: allow, ports: udp/53, selector: {name: external}}\n"
	      "  - {name: partner, action: allow, ports: tcp/9000, selector: {name: partner}}\n"
	      "  - {name: v6, action: allow, ports: udp/any, selector: {name: v6net}}\n"
	      "  - {name: not-corp, action: allow, ports: tcp/7000, selector: {name: not-corp}}\n"
	      "  - {name: halves, action: allow, ports: tcp/7100, selector: {name: lo-half}}\n"
	      "  - {name: whole, action: allow, ports: tcp/7200, selector: {name: split}}\n"
	      "  - {name: kubelet, action: allow, ports: tcp/10250, selector: {name: nodes}}\n"
	      "  - {name: after-corp, action: allow, ports: tcp/9999, priority: 9, selector: {name: corp}}\n"
	      "  ingress:\n"
	      "  - {name: from-lb, action: allow, ports: tcp/8080, selector: {name: nv.lb.shop}}\n"
	      "  - {name: from-any-container, action: deny, ports: tcp/9100, selector: {name: containers}}\n"
	      "  - {name: from-nodes, action: allow, ports: tcp/9100-9200, selector: {name: nodes}}\n")
	GROUP("nv.lb.shop", "shop", "{key: service, op: \"=\", value: lb}, {key: namespace, op: \"=\", value: shop}",
	      "Monitor", "");

static void node_shop(void)
{
	node_init(policy_yaml);
	ctr_add("web", "shop", 100, "10.1.0.2", "fd00:1::2");
	ctr_add("db", "shop", 101, "10.1.0.3", NULL);
	ctr_add("lb", "shop", 102, "10.1.0.4", "fd00:1::4");
	/* a container whose address is in corp's range: a container first */
	ctr_add("batch", "shop", 103, "10.20.9.9", NULL);
	host[0] = ip("10.1.0.1");
	host[1] = ip("10.20.5.1"); /* the node's address inside lab */
	n_host = 2;
}

/* ------------------------------------------------------------------ */
/* Classes                                                            */

static void test_classes(void **state)
{
	(void)state;
	node_shop();
	struct enforce_net_result *r = compile();

	/* containers: their own classes, distinct */
	uint32_t web = class_of(r, "10.1.0.2"), db = class_of(r, "10.1.0.3"),
		 lb = class_of(r, "10.1.0.4"), batch = class_of(r, "10.20.9.9");
	assert_int_equal(class_of(r, "fd00:1::2"), web);
	assert_true(web > WACHT_CLASS_NODES && db > WACHT_CLASS_NODES && lb > WACHT_CLASS_NODES);
	assert_true(web != db && db != lb && lb != web && batch != web);
	/* the host: nodes + not-corp (its != criterion holds), and nodes +
	 * corp + lab for its lab address; nodes alone is nobody's class here */
	uint32_t host_plain = class_of(r, "10.1.0.1"), host_lab = class_of(r, "10.20.5.1");
	assert_true(host_plain > WACHT_CLASS_NODES && host_lab > WACHT_CLASS_NODES);
	assert_true(host_plain != host_lab && host_plain != web && host_lab != web);
	/* nested CIDRs: corp, corp + lab; an unlisted v4 address is external +
	 * not-corp (its != criterion), not class 1 */
	uint32_t corp = class_of(r, "10.20.1.1"), lab = class_of(r, "10.20.5.77");
	uint32_t outside = class_of(r, "203.0.113.10");
	assert_true(corp != lab && corp != outside && lab != outside);
	assert_int_equal(class_of(r, "10.20.255.255"), corp);
	assert_int_equal(class_of(r, "10.20.5.0"), lab);
	assert_int_equal(class_of(r, "10.21.0.0"), outside);
	assert_non_null(cidr_find(r, "10.20.0.0", 16));
	assert_non_null(cidr_find(r, "10.20.5.0", 24));
	assert_int_equal(cidr_find(r, "0.0.0.0", 0)->class, outside);
	/* IPv6: ::/0 is external alone (not-corp's != is an IPv4 range, and a
	 * v6 address is in none of it: != holds, as the engine says) */
	uint32_t v6out = class_of(r, "2001:db9::1");
	assert_int_equal(cidr_find(r, "::", 0)->class, v6out);
	assert_true(class_of(r, "2001:db8::1") != v6out);
	/* a range decomposed: every block has the partner class */
	uint32_t partner = class_of(r, "192.0.2.10");
	for (int i = 10; i <= 20; i++) {
		char a[32];
		snprintf(a, sizeof(a), "192.0.2.%d", i);
		assert_int_equal(class_of(r, a), partner);
	}
	assert_int_equal(class_of(r, "192.0.2.9"), outside);
	assert_int_equal(class_of(r, "192.0.2.21"), outside);
	/* a CIDR its children cover entirely needs no entry; they carry the
	 * whole's group too */
	assert_null(cidr_find(r, "10.30.0.0", 24));
	uint32_t lo = class_of(r, "10.30.0.1"), hi = class_of(r, "10.30.0.200");
	assert_true(lo != hi && lo != outside && hi != outside);
	enforce_net_result_free(r);
}

/* Ids stay across recompiles, a reload that renumbers groups, and a peer
 * changing class; a gone container's set and an unused class are retired. */
static void test_stable_ids(void **state)
{
	(void)state;
	node_shop();
	struct enforce_net_result *a = compile();
	struct enforce_net_result *b = compile();
	assert_int_equal(a->n_tables, b->n_tables);
	assert_memory_equal(a->tables, b->tables, a->n_tables * sizeof(*a->tables));
	assert_int_equal(a->n_addrs, b->n_addrs);
	assert_memory_equal(a->addrs, b->addrs, a->n_addrs * sizeof(*a->addrs));

	/* the same policy with its documents in another order: group indexes
	 * change, class and set ids do not */
	const char *split = strstr(policy_yaml, "---\napiVersion: neuvector.com/v1\nkind: NvSecurityRule");
	char *swapped = malloc(strlen(policy_yaml) + 1);
	sprintf(swapped, "%s%.*s", split, (int)(split - policy_yaml), policy_yaml);
	struct diags d = { 0 };
	struct policy *p = policy__new();
	assert_int_equal(policy__load_buffer(p, "net.yaml", swapped, strlen(swapped), &d), 0);
	assert_int_equal(policy__finish(p, &d), 0);
	diags__free(&d);
	free(swapped);
	engine__set_policy(eng, p);
	struct enforce_net_result *c = compile();
	assert_int_equal(class_of(c, "10.1.0.2"), class_of(a, "10.1.0.2"));
	assert_int_equal(class_of(c, "10.20.5.77"), class_of(a, "10.20.5.77"));
	assert_int_equal(enforce_net_cg_find(c, 100)->net_set, enforce_net_cg_find(a, 100)->net_set);
	assert_int_equal(c->n_tables, a->n_tables);

	/* batch goes: its class is retired; the next new one is a new id */
	uint32_t batch = class_of(a, "10.20.9.9");
	n_ctrs--;
	struct enforce_net_result *e = compile();
	assert_int_equal(class_of(e, "10.20.9.9"), class_of(a, "10.20.1.1")); /* corp now */
	for (size_t i = 0; i < e->n_tables; i++)
		assert_int_not_equal(e->tables[i].key.peer_class, batch);
	ctr_add("batch", "shop", 103, "10.20.9.9", NULL);
	struct enforce_net_result *f = compile();
	assert_true(class_of(f, "10.20.9.9") > batch);
	enforce_net_result_free(a);
	enforce_net_result_free(b);
	enforce_net_result_free(c);
	enforce_net_result_free(e);
	enforce_net_result_free(f);
}

/* ------------------------------------------------------------------ */
/* Tables                                                             */

static void expect_entry(const struct wacht_net_rules *t, uint32_t i, uint8_t proto, uint16_t lo,
			 uint16_t hi, uint8_t action)
{
	assert_true(i < t->n);
	assert_int_equal(t->e[i].proto, proto);
	assert_int_equal(t->e[i].lo, lo);
	assert_int_equal(t->e[i].hi, hi);
	assert_int_equal(t->e[i].action, action);
}

static void test_tables(void **state)
{
	(void)state;
	node_shop();
	struct enforce_net_result *r = compile();

	/* web -> external: priority order (the policy sorts), ports flattened
	 * in rule order, the trailing deny dropped (the default says it) */
	const struct wacht_net_rules *t = table(r, 100, class_of(r, "198.51.100.1"), WACHT_DIR_EGRESS);
	assert_non_null(t);
	assert_int_equal(t->dflt, WACHT_NA_DENY);
	assert_int_equal(t->n, 7);
	expect_entry(t, 0, IPPROTO_TCP, 25, 25, WACHT_NA_DENY);
	expect_entry(t, 1, IPPROTO_TCP, 80, 80, WACHT_NA_ALLOW);
	expect_entry(t, 2, IPPROTO_TCP, 443, 443, WACHT_NA_ALLOW);
	expect_entry(t, 3, IPPROTO_TCP, 8000, 8080, WACHT_NA_ALLOW);
	expect_entry(t, 4, IPPROTO_TCP, 8080, 8080, WACHT_NA_DENY); /* shadowed, kept: first match */
	expect_entry(t, 5, IPPROTO_UDP, 53, 53, WACHT_NA_ALLOW);
	expect_entry(t, 6, IPPROTO_TCP, 7000, 7000, WACHT_NA_ALLOW); /* not-corp */

	/* web -> lab (external + corp + lab): the priority-0 rules in file
	 * order (lab-web's icmp never is in a table), then corp-ssh (priority
	 * 1), then corp-any (5), a catch-all */
	t = table(r, 100, class_of(r, "10.20.5.77"), WACHT_DIR_EGRESS);
	assert_non_null(t);
	assert_int_equal(t->n, 9);
	expect_entry(t, 0, IPPROTO_TCP, 80, 80, WACHT_NA_ALLOW);
	expect_entry(t, 1, IPPROTO_TCP, 25, 25, WACHT_NA_DENY);
	expect_entry(t, 2, IPPROTO_TCP, 80, 80, WACHT_NA_ALLOW);
	expect_entry(t, 3, IPPROTO_TCP, 443, 443, WACHT_NA_ALLOW);
	expect_entry(t, 4, IPPROTO_TCP, 8000, 8080, WACHT_NA_ALLOW);
	expect_entry(t, 5, IPPROTO_TCP, 8080, 8080, WACHT_NA_DENY);
	expect_entry(t, 6, IPPROTO_UDP, 53, 53, WACHT_NA_ALLOW);
	expect_entry(t, 7, IPPROTO_TCP, 22, 22, WACHT_NA_DENY);
	expect_entry(t, 8, 0, 0, 65535, WACHT_NA_ALLOW);
	/* (after-corp, priority 9, comes after the catch-all: never reached,
	 * not in the table) */

	/* web -> v6net (external + v6net + not-corp, whose IPv4 != holds for
	 * an IPv6 peer): the external rules, then udp/any, then tcp/7000 */
	t = table(r, 100, class_of(r, "2001:db8::9"), WACHT_DIR_EGRESS);
	assert_non_null(t);
	assert_int_equal(t->n, 8);
	expect_entry(t, 0, IPPROTO_TCP, 25, 25, WACHT_NA_DENY);
	expect_entry(t, 6, IPPROTO_UDP, 0, 65535, WACHT_NA_ALLOW);
	expect_entry(t, 7, IPPROTO_TCP, 7000, 7000, WACHT_NA_ALLOW);

	/* web <- lb: from-lb; from-any-container (deny, at the end) dropped */
	t = table(r, 100, class_of(r, "10.1.0.4"), WACHT_DIR_INGRESS);
	assert_non_null(t);
	assert_int_equal(t->n, 1);
	expect_entry(t, 0, IPPROTO_TCP, 8080, 8080, WACHT_NA_ALLOW);
	/* web <- db: only deny rules apply: no table at all (= deny) */
	assert_null(table(r, 100, class_of(r, "10.1.0.3"), WACHT_DIR_INGRESS));
	/* web <- the host */
	t = table(r, 100, class_of(r, "10.1.0.1"), WACHT_DIR_INGRESS);
	assert_non_null(t);
	expect_entry(t, 0, IPPROTO_TCP, 9100, 9200, WACHT_NA_ALLOW);

	/* lb is Monitor: not enforced, no set, no tables */
	const struct enforce_net_cg *cg = enforce_net_cg_find(r, 102);
	assert_non_null(cg);
	assert_false(cg->protect);
	assert_int_equal(cg->net_set, 0);
	assert_int_equal(enforce_net_decide(r, 102, AF_INET, ip("1.2.3.4").addr, WACHT_DIR_EGRESS,
					    IPPROTO_TCP, 1),
			 0);
	assert_int_equal(r->n_overflow, 0);
	enforce_net_result_free(r);
}

/* More than WACHT_NET_ENTRIES entries: installed as allow-all and counted,
 * never truncated (a cut table would refuse what a later entry allows). */
static void test_overflow(void **state)
{
	char yaml[16384], ports[4096];
	size_t n = 0;

	(void)state;
	for (int i = 0; i < WACHT_NET_ENTRIES + 1; i++)
		n += snprintf(ports + n, sizeof(ports) - n, "%stcp/%d", i ? "," : "", 1000 + 2 * i);
	snprintf(yaml, sizeof(yaml),
		 GROUP("nv.web.shop", "shop", "{key: service, op: \"=\", value: web}", "Protect",
		       "  egress:\n"
		       "  - {name: many, action: allow, ports: \"%s\", selector: {name: external}}\n"
		       "  - {name: few, action: allow, ports: tcp/443, selector: {name: nodes}}\n"),
		 ports);
	node_init(yaml);
	ctr_add("web", "shop", 100, "10.1.0.2", NULL);
	host[0] = ip("10.1.0.1");
	n_host = 1;
	struct enforce_net_result *r = compile();
	assert_int_equal(r->n_overflow, 1);
	assert_true(enforce_net_cg_find(r, 100)->overflow);
	const struct wacht_net_rules *t = table(r, 100, WACHT_CLASS_EXTERNAL, WACHT_DIR_EGRESS);
	assert_non_null(t);
	assert_int_equal(t->n, 0);
	assert_int_equal(t->dflt, WACHT_NA_ALLOW);
	/* not refused (reported by userspace); the other table still enforced */
	assert_int_equal(enforce_net_decide(r, 100, AF_INET, ip("203.0.113.1").addr,
					    WACHT_DIR_EGRESS, IPPROTO_TCP, 1001),
			 WACHT_NA_ALLOW);
	assert_int_equal(enforce_net_decide(r, 100, AF_INET, ip("10.1.0.1").addr, WACHT_DIR_EGRESS,
					    IPPROTO_TCP, 444),
			 WACHT_NA_DENY);
	assert_int_equal(enforce_net_decide(r, 100, AF_INET, ip("10.1.0.1").addr, WACHT_DIR_EGRESS,
					    IPPROTO_TCP, 443),
			 WACHT_NA_ALLOW);
	/* exactly WACHT_NET_ENTRIES fit */
	enforce_net_result_free(r);
	node_free(NULL);
	n = 0;
	for (int i = 0; i < WACHT_NET_ENTRIES; i++)
		n += snprintf(ports + n, sizeof(ports) - n, "%stcp/%d", i ? "," : "", 1000 + 2 * i);
	snprintf(yaml, sizeof(yaml),
		 GROUP("nv.web.shop", "shop", "{key: service, op: \"=\", value: web}", "Protect",
		       "  egress:\n"
		       "  - {name: many, action: allow, ports: \"%s\", selector: {name: external}}\n"),
		 ports);
	node_init(yaml);
	ctr_add("web", "shop", 100, "10.1.0.2", NULL);
	r = compile();
	assert_int_equal(r->n_overflow, 0);
	t = table(r, 100, WACHT_CLASS_EXTERNAL, WACHT_DIR_EGRESS);
	assert_int_equal(t->n, WACHT_NET_ENTRIES);
	assert_int_equal(enforce_net_decide(r, 100, AF_INET, ip("203.0.113.1").addr,
					    WACHT_DIR_EGRESS, IPPROTO_TCP, 1001),
			 WACHT_NA_DENY);
	assert_int_equal(enforce_net_decide(r, 100, AF_INET, ip("203.0.113.1").addr,
					    WACHT_DIR_EGRESS, IPPROTO_TCP, 1000 + 2 * 63),
			 WACHT_NA_ALLOW);
	enforce_net_result_free(r);
}

/* ------------------------------------------------------------------ */
/* Equivalence with the rule engine                                   */

/* The engine's decision: does it report something for this connection (a
 * violation in Protect, a learned rule in Discover)? The record says the
 * kernel did not refuse it: a refused one is a finding whatever the
 * engine decides. */
static bool engine_forbids(struct ctr *c, const struct entity_addr *peer_a, bool inbound,
			   uint8_t proto, uint16_t port)
{
	static uint64_t ts = 1;
	struct wacht_net *n = (struct wacht_net *)rec;
	struct wacht_event ev;
	struct engine_stats before, after;
	struct engine_peer peer = { .kind = ENTITY_EXTERNAL };
	size_t len = peer_a->family == AF_INET ? 4 : 16;

	/* the sensor's resolution: the host first, then containers */
	for (size_t i = 0; i < n_host && peer.kind == ENTITY_EXTERNAL; i++)
		if (host[i].family == peer_a->family && !memcmp(host[i].addr, peer_a->addr, len))
			peer.kind = ENTITY_HOST;
	for (size_t k = 0; k < n_ctrs && peer.kind == ENTITY_EXTERNAL; k++)
		for (size_t i = 0; i < ctrs[k].ec.n_addrs; i++)
			if (ctrs[k].addrs[i].family == peer_a->family &&
			    !memcmp(ctrs[k].addrs[i].addr, peer_a->addr, len)) {
				peer.kind = ENTITY_CONTAINER;
				peer.container = &ctrs[k].ec;
			}
	/* then the peer map's (the first claim of an address wins) */
	for (size_t k = 0; k < n_rctrs && peer.kind == ENTITY_EXTERNAL; k++)
		if (rctrs[k].addrs[0].family == peer_a->family &&
		    !memcmp(rctrs[k].addrs[0].addr, peer_a->addr, len)) {
			peer.kind = ENTITY_CONTAINER;
			peer.container = &rctrs[k].ec;
		}
	memset(rec, 0, sizeof(*n));
	n->hdr.ts_ns = ts++;
	n->hdr.cgroup_id = c->view.cgroup_id;
	n->hdr.type = WACHT_EV_NET;
	n->hdr.size = sizeof(*n);
	n->hdr.tgid = n->hdr.pid = 4242;
	n->op = inbound ? WACHT_NET_ACCEPT : WACHT_NET_CONNECT;
	n->family = peer_a->family;
	n->proto = proto;
	n->direction = inbound ? WACHT_DIR_IN : WACHT_DIR_OUT;
	memcpy(n->raddr, peer_a->addr, 16);
	n->lport = inbound ? port : 40000;
	n->rport = inbound ? 40000 : port;
	assert_int_equal(event_decode(rec, sizeof(*n), &ev), 0);
	engine__stats(eng, &before);
	engine__event(eng, &ev, &c->ec, NULL, &peer);
	engine__stats(eng, &after);
	return after.findings != before.findings;
}

static void check_equivalence(const char *const *peers, size_t n_peers, const uint16_t *ports,
			      size_t n_ports)
{
	struct enforce_net_result *r = compile();
	size_t checked = 0;

	for (size_t k = 0; k < n_ctrs; k++) {
		const struct enforce_net_cg *cg = enforce_net_cg_find(r, ctrs[k].view.cgroup_id);
		assert_non_null(cg);
		if (!cg->protect)
			continue;
		for (size_t pi = 0; pi < n_peers; pi++) {
			struct entity_addr a = ip(peers[pi]);
			for (int dir = WACHT_DIR_EGRESS; dir <= WACHT_DIR_INGRESS; dir++) {
				for (int pr = 0; pr < 2; pr++) {
					uint8_t proto = pr ? IPPROTO_UDP : IPPROTO_TCP;
					if (dir == WACHT_DIR_INGRESS && proto == IPPROTO_UDP)
						continue; /* not dropped inbound: see netguard.bpf.c */
					for (size_t qi = 0; qi < n_ports; qi++) {
						bool eng_deny = engine_forbids(&ctrs[k], &a,
									       dir == WACHT_DIR_INGRESS,
									       proto, ports[qi]);
						int kd = enforce_net_decide(r, ctrs[k].view.cgroup_id,
									    a.family, a.addr, dir,
									    proto, ports[qi]);
						bool loop = (a.family == AF_INET && a.addr[0] == 127) ||
							    !strcmp(peers[pi], "::1") ||
							    !strncmp(peers[pi], "::ffff:127.", 11);
						int want = loop ? 0 : eng_deny ? WACHT_NA_DENY :
							   WACHT_NA_ALLOW;
						if (kd != want)
							fprintf(stderr, "%s %s %s/%u %s: kernel %d, engine %d\n",
								ctrs[k].view.name,
								dir ? "from" : "to", pr ? "udp" : "tcp",
								ports[qi], peers[pi], kd, want);
						assert_int_equal(kd, want);
						checked++;
					}
				}
			}
		}
	}
	assert_true(checked > 100);
	enforce_net_result_free(r);
}

static const char *const shop_peers[] = {
	"10.1.0.1", "10.20.5.1", "10.1.0.2", "fd00:1::2", "10.1.0.3", "10.1.0.4", "fd00:1::4",
	"10.20.9.9", "10.20.0.1", "10.20.5.200", "10.20.255.254", "10.21.0.1", "192.0.2.9",
	"192.0.2.10", "192.0.2.15", "192.0.2.20", "192.0.2.21", "203.0.113.10", "2001:db8::1",
	"2001:db8:ffff::1", "2001:db9::1", "10.30.0.5", "10.30.0.130", "10.30.1.1",
	"::ffff:10.20.5.9", "::ffff:203.0.113.10", "127.0.0.1", "::1", "::ffff:127.0.0.1",
};
static const uint16_t shop_ports[] = { 1,    22,   25,   53,   80,   443,  5432, 5433, 5441, 7000,
				       7100, 7200, 8000, 8079, 8080, 8081, 9000, 9100, 9150, 9201,
				       9999, 10250, 65535 };

static void test_equivalence_shop(void **state)
{
	(void)state;
	node_shop();
	check_equivalence(shop_peers, sizeof(shop_peers) / sizeof(shop_peers[0]), shop_ports,
			  sizeof(shop_ports) / sizeof(shop_ports[0]));
}

/* Rules of several groups a container is in (a custom group by label and
 * its learned group; the containers group), one of them reaching every
 * container by the reserved group, and a learned rule added at run time. */
static void test_equivalence_groups_and_learning(void **state)
{
	static const char *yaml =
		DOC("NvClusterSecurityRule", "all-shop", "",
		    "  target:\n    policymode: Protect\n    selector: {name: all-shop, criteria: [{key: namespace, op: \"=\", value: shop}]}\n"
		    "  egress:\n"
		    "  - {name: dns, action: allow, ports: \"udp/53,tcp/53\", selector: {name: external}}\n"
		    "  - {name: peers, action: allow, ports: tcp/1-1024, priority: 3, selector: {name: containers}}\n"
		    "  - {name: no-ssh, action: deny, ports: tcp/22, priority: 1, selector: {name: containers}}\n")
		GROUP("nv.api.shop", "shop", "{key: service, op: \"=\", value: api}", "Protect",
		      "  egress:\n"
		      "  - {name: to-cache, action: allow, ports: tcp/6379, selector: {name: nv.cache.shop}}\n"
		      "  ingress:\n"
		      "  - {name: from-all, action: allow, ports: tcp/8080, selector: {name: all-shop}}\n")
		GROUP("nv.cache.shop", "shop", "{key: service, op: \"=\", value: cache}", "Protect", "")
		GROUP("nv.other.dev", "dev", "{key: service, op: \"=\", value: other}", "Discover", "");
	static const char *const peers[] = { "10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.1",
					     "8.8.8.8", "2001:4860::8888" };
	static const uint16_t ports[] = { 22, 53, 80, 1024, 1025, 6379, 8080, 9999 };

	(void)state;
	node_init(yaml);
	ctr_add("api", "shop", 200, "10.9.0.2", NULL);
	ctr_add("cache", "shop", 201, "10.9.0.3", NULL);
	ctr_add("other", "dev", 202, "10.9.0.4", NULL);
	host[0] = ip("10.9.0.1");
	n_host = 1;
	check_equivalence(peers, 6, ports, 8);

	/* learning in Discover (other) adds a rule that api's ingress sees */
	struct policy *p = engine__policy(eng);
	long from = policy__group_find(p, "nv.other.dev"), to = policy__group_find(p, "nv.api.shop");
	assert_true(from >= 0 && to >= 0);
	struct enforce_net_result *before = compile();
	assert_int_equal(enforce_net_decide(before, 200, AF_INET, ip("10.9.0.4").addr,
					    WACHT_DIR_INGRESS, IPPROTO_TCP, 9999),
			 WACHT_NA_DENY);
	size_t n_net = p->n_net;
	struct entity_addr api = ip("10.9.0.2");
	assert_true(engine_forbids(&ctrs[2], &api, false, IPPROTO_TCP, 9999)); /* learned */
	assert_int_equal(engine__policy(eng)->n_net, n_net + 1);
	struct enforce_net_result *after = compile();
	assert_int_equal(enforce_net_decide(after, 200, AF_INET, ip("10.9.0.4").addr,
					    WACHT_DIR_INGRESS, IPPROTO_TCP, 9999),
			 WACHT_NA_ALLOW);
	check_equivalence(peers, 6, ports, 8);
	enforce_net_result_free(before);
	enforce_net_result_free(after);
}

/* Containers of another node are peers classified by their groups (name,
 * namespace, node criteria hold; labels are not in the peer map), never
 * enforced here, and lose an address to the host or a container here. */
static void test_remote_peers(void **state)
{
	static const char *yaml =
		DOC("NvSecurityRule", "node2-pods", ", namespace: shop",
		    "  target:\n    selector: {name: node2-pods, criteria: [{key: node, op: \"=\", value: node2}]}\n")
		DOC("NvSecurityRule", "labeled-db", ", namespace: shop",
		    "  target:\n    selector: {name: labeled-db, criteria: [{key: label, op: \"=\", value: app=db}]}\n")
		GROUP("nv.web.shop", "shop", "{key: service, op: \"=\", value: web}", "Protect",
		      "  egress:\n"
		      "  - {name: to-db, action: allow, ports: tcp/5432, selector: {name: nv.db.shop}}\n"
		      "  - {name: to-node2, action: allow, ports: tcp/7300, selector: {name: node2-pods}}\n"
		      "  - {name: by-label, action: allow, ports: tcp/6000, selector: {name: labeled-db}}\n"
		      "  ingress:\n"
		      "  - {name: from-db, action: allow, ports: tcp/8080, selector: {name: nv.db.shop}}\n")
		GROUP("nv.db.shop", "shop", "{key: service, op: \"=\", value: db}", "Protect",
		      "  ingress:\n"
		      "  - {name: from-web, action: allow, ports: tcp/5432, selector: {name: nv.web.shop}}\n")
		GROUP("nv.lb.shop", "shop", "{key: service, op: \"=\", value: lb}", "Monitor", "");
	static const char *const peers[] = { "10.1.0.1", "10.1.0.2", "10.1.0.4", "10.2.0.3",
					     "fd00:2::3", "10.2.0.5", "203.0.113.9" };
	static const uint16_t ports[] = { 22, 5432, 6000, 7300, 8080 };
	static const struct entity_label db_label = { "app", "db" };

	(void)state;
	node_init(yaml);
	ctr_add("web", "shop", 100, "10.1.0.2", NULL);
	struct ctr *lb = ctr_add("lb", "shop", 102, "10.1.0.4", NULL);
	lb->ec.labels = &db_label;
	lb->ec.n_labels = 1;
	host[0] = ip("10.1.0.1");
	n_host = 1;
	rctr_add("db", "shop", "10.2.0.3");
	rctr_add("db", "shop", "fd00:2::3");
	rctr_add("cache", "shop", "10.2.0.5");
	/* stale or wrong claims of addresses this node knows */
	rctr_add("db", "shop", "10.1.0.4");
	rctr_add("db", "shop", "10.1.0.1");
	struct enforce_net_result *r = compile();

	/* db's addresses: one class of its own, not external */
	uint32_t db = class_of(r, "10.2.0.3"), cache = class_of(r, "10.2.0.5");
	assert_int_equal(class_of(r, "fd00:2::3"), db);
	assert_true(db > WACHT_CLASS_NODES && cache > WACHT_CLASS_NODES && db != cache);
	/* this node's claims win */
	assert_int_not_equal(class_of(r, "10.1.0.4"), db);
	assert_int_not_equal(class_of(r, "10.1.0.1"), db);
	assert_int_equal(r->n_addrs, 6); /* host, web, lb, db x2, cache: one entry each */
	/* never enforced here: only this node's containers have sets */
	assert_int_equal(r->n_cgs, 2);
	struct entity_addr d4 = ip("10.2.0.3"), c4 = ip("10.2.0.5"), d6 = ip("fd00:2::3");
	struct entity_addr lba = ip("10.1.0.4");
	/* web -> db by group: allowed; another port or a pod in no rule's group: denied */
	assert_int_equal(enforce_net_decide(r, 100, AF_INET, d4.addr, WACHT_DIR_EGRESS, IPPROTO_TCP,
					    5432), WACHT_NA_ALLOW);
	assert_int_equal(enforce_net_decide(r, 100, AF_INET6, d6.addr, WACHT_DIR_EGRESS, IPPROTO_TCP,
					    5432), WACHT_NA_ALLOW);
	assert_int_equal(enforce_net_decide(r, 100, AF_INET, d4.addr, WACHT_DIR_EGRESS, IPPROTO_TCP,
					    5433), WACHT_NA_DENY);
	assert_int_equal(enforce_net_decide(r, 100, AF_INET, c4.addr, WACHT_DIR_EGRESS, IPPROTO_TCP,
					    5432), WACHT_NA_DENY);
	/* node criterion: every pod of node2; inbound from db by group */
	assert_int_equal(enforce_net_decide(r, 100, AF_INET, c4.addr, WACHT_DIR_EGRESS, IPPROTO_TCP,
					    7300), WACHT_NA_ALLOW);
	assert_int_equal(enforce_net_decide(r, 100, AF_INET, d4.addr, WACHT_DIR_INGRESS,
					    IPPROTO_TCP, 8080), WACHT_NA_ALLOW);
	/* label criterion: the peer map carries no labels, so no remote pod
	 * is in labeled-db... */
	assert_int_equal(enforce_net_decide(r, 100, AF_INET, d4.addr, WACHT_DIR_EGRESS, IPPROTO_TCP,
					    6000), WACHT_NA_DENY);
	assert_true(engine_forbids(&ctrs[0], &d4, false, IPPROTO_TCP, 6000));
	assert_false(engine_forbids(&ctrs[0], &d4, false, IPPROTO_TCP, 5432));
	/* ...while a container here with the label is (lb, whose address
	 * node2 claims too) */
	assert_int_equal(enforce_net_decide(r, 100, AF_INET, lba.addr, WACHT_DIR_EGRESS,
					    IPPROTO_TCP, 6000), WACHT_NA_ALLOW);
	assert_false(engine_forbids(&ctrs[0], &lba, false, IPPROTO_TCP, 6000));
	enforce_net_result_free(r);
	check_equivalence(peers, sizeof(peers) / sizeof(peers[0]), ports,
			  sizeof(ports) / sizeof(ports[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_cidrs),
		cmocka_unit_test_teardown(test_classes, node_free),
		cmocka_unit_test_teardown(test_stable_ids, node_free),
		cmocka_unit_test_teardown(test_tables, node_free),
		cmocka_unit_test_teardown(test_overflow, node_free),
		cmocka_unit_test_teardown(test_equivalence_shop, node_free),
		cmocka_unit_test_teardown(test_equivalence_groups_and_learning, node_free),
		cmocka_unit_test_teardown(test_remote_peers, node_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
