// SPDX-License-Identifier: Apache-2.0
/* test_engine.c: unit tests of the rule engine: policies from YAML,
 * synthetic ring-buffer records, findings through the engine's sink. */
#include <errno.h>
#include <fcntl.h>
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
#include "enforce.h"
#include "engine.h"
#include "policy.h"
#include "proc_table.h"

/* ------------------------------------------------------------------ */
/* What the sink received: deep copies, as the strings are borrowed.   */

struct got {
	char *name, *rule_id, *rule_name, *rule_group, *group, *cid;
	char *pname, *exe, *parent_exe, *fpath, *fop, *peer, *msg;
	enum finding_action action;
	enum policy_mode mode;
	enum severity sev;
	uint64_t count;
	uint32_t pid, ppid, uid, euid;
	bool has_file, has_net, inbound;
	uint8_t proto, family;
	uint8_t raddr[16];
	uint16_t lport, rport;
};

#define GOT_MAX 512
static struct got got[GOT_MAX];
static size_t n_got;
static size_t n_learned_cb;
static size_t last_learned_group;

static char *dup_s(const char *s)
{
	char *d = strdup(s ? s : "(null)");

	assert_non_null(d);
	return d;
}

static void sink(void *ctx, const struct finding *f)
{
	struct got *g;

	(void)ctx;
	assert_true(n_got < GOT_MAX);
	g = &got[n_got++];
	g->name = dup_s(f->name);
	g->rule_id = dup_s(f->rule.id);
	g->rule_name = dup_s(f->rule.name);
	g->rule_group = dup_s(f->rule.group);
	g->group = dup_s(f->group);
	g->cid = dup_s(f->container ? f->container->id : "(host)");
	g->pname = dup_s(f->process.name);
	g->exe = dup_s(f->process.exe);
	g->parent_exe = dup_s(f->process.parent_exe);
	g->fpath = dup_s(f->has_file ? f->file.path : "");
	g->fop = dup_s(f->has_file ? f->file.op : "");
	g->peer = dup_s(f->has_net ? f->net.peer_group : "");
	g->msg = dup_s(f->message);
	g->action = f->action;
	g->mode = f->mode;
	g->sev = f->severity;
	g->count = f->count;
	g->pid = f->process.pid;
	g->ppid = f->process.ppid;
	g->uid = f->process.uid;
	g->euid = f->process.euid;
	g->has_file = f->has_file;
	g->has_net = f->has_net;
	g->inbound = f->net.inbound;
	g->proto = f->net.proto;
	g->family = f->net.family;
	memcpy(g->raddr, f->net.raddr, 16);
	g->lport = f->net.lport;
	g->rport = f->net.rport;
}

/* Forgets the last finding collected. */
static void got_pop(void)
{
	struct got *g = &got[--n_got];
	char **s[] = { &g->name, &g->rule_id, &g->rule_name, &g->rule_group, &g->group,
		       &g->cid, &g->pname, &g->exe, &g->parent_exe, &g->fpath, &g->fop,
		       &g->peer, &g->msg };

	for (size_t k = 0; k < sizeof(s) / sizeof(s[0]); k++)
		free(*s[k]);
	memset(g, 0, sizeof(*g));
}

static void got_clear(void)
{
	for (size_t i = 0; i < n_got; i++) {
		struct got *g = &got[i];
		char **s[] = { &g->name, &g->rule_id, &g->rule_name, &g->rule_group, &g->group,
			       &g->cid, &g->pname, &g->exe, &g->parent_exe, &g->fpath, &g->fop,
			       &g->peer, &g->msg };
		for (size_t k = 0; k < sizeof(s) / sizeof(s[0]); k++)
			free(*s[k]);
	}
	memset(got, 0, sizeof(got));
	n_got = 0;
}

static void learned_cb(void *ctx, size_t group)
{
	(void)ctx;
	n_learned_cb++;
	last_learned_group = group;
}

/* ------------------------------------------------------------------ */
/* Fixture: a policy from YAML, an engine, the process table.          */

#define WINDOW_NS 1000000000ull /* 1 s; events are 1 us apart */

static struct proc_table *pt;
static struct engine *eng;
static uint64_t clock_ns;
/* the file guard's answer, for fx_init (NULL: no guard consulted) */
static bool (*fx_file_denied)(void *ctx, const struct wacht_event *ev);

static struct policy *policy_from(const char *file, const char *yaml)
{
	struct policy *p = policy__new();
	struct diags d = { 0 };

	assert_non_null(p);
	int rc = policy__load_buffer(p, file, yaml, strlen(yaml), &d);
	if (rc == 0)
		rc = policy__finish(p, &d);
	if (rc != 0 || d.n_errors)
		diags__print(&d, stderr);
	assert_int_equal(rc, 0);
	assert_int_equal(d.n_errors, 0);
	assert_int_equal(d.n_warnings, 0);
	diags__free(&d);
	return p;
}

static bool fx_kernel_verdicts, fx_alert_only;

static void fx_init(const char *file, const char *yaml)
{
	struct engine_config cfg = {
		.window_ns = WINDOW_NS,
		.sink = sink,
		.learned = learned_cb,
		.kernel_verdicts = fx_kernel_verdicts,
		.alert_only = fx_alert_only,
		.file_denied = fx_file_denied,
	};

	got_clear();
	n_learned_cb = 0;
	last_learned_group = SIZE_MAX;
	clock_ns = 1000000000ull;
	pt = proc_table__new(4096);
	assert_non_null(pt);
	eng = engine__new(&cfg, pt);
	assert_non_null(eng);
	engine__set_policy(eng, policy_from(file, yaml));
}

static int fx_teardown(void **state)
{
	(void)state;
	engine__free(eng);
	proc_table__free(pt);
	eng = NULL;
	pt = NULL;
	got_clear();
	return 0;
}

static void flush(void)
{
	engine__tick(eng, UINT64_MAX);
}

/* 1-based line of the first line of yaml containing marker. */
static unsigned line_of(const char *yaml, const char *marker)
{
	const char *m = strstr(yaml, marker);
	unsigned line = 1;

	assert_non_null(m);
	for (const char *p = yaml; p < m; p++)
		line += *p == '\n';
	return line;
}

static char *rule_id(const char *file, const char *yaml, const char *marker)
{
	static char buf[8][128];
	static int k;
	char *b = buf[k++ % 8];

	snprintf(b, sizeof(buf[0]), "%s:%u", file, line_of(yaml, marker));
	return b;
}

/* ------------------------------------------------------------------ */
/* Containers                                                          */

static const struct container_view web_view = {
	.id = "0123456789abcdef0123456789abcdef", .runtime = "crio", .name = "web",
	.image = "registry.local/shop/web:1.4", .pod = "web-7d9f8c6b5-x2x7k", .namespace = "shop",
	.pod_uid = "", .cgroup = "", .cgroup_id = 0x1001,
};
static const struct entity_addr web_addrs[] = { { AF_INET, { 10, 244, 1, 7 } } };
static const struct engine_container web = {
	.view = &web_view, .addrs = web_addrs, .n_addrs = 1, .node = "node-1",
};
/* the same container, its root process known (zero-drift ancestry) */
static const struct engine_container web_init = {
	.view = &web_view, .addrs = web_addrs, .n_addrs = 1, .init_pid = 100, .node = "node-1",
};

static const struct container_view db_view = {
	.id = "fedcba9876543210fedcba9876543210", .runtime = "crio", .name = "db",
	.image = "docker.io/library/postgres:16", .pod = "db-0", .namespace = "shop",
	.pod_uid = "", .cgroup = "", .cgroup_id = 0x1002,
};
static const struct entity_addr db_addrs[] = { { AF_INET, { 10, 244, 1, 8 } } };
static const struct engine_container db = {
	.view = &db_view, .addrs = db_addrs, .n_addrs = 1, .node = "node-1",
};

static const struct container_view lb_view = {
	.id = "aaaabbbbccccddddaaaabbbbccccdddd", .runtime = "crio", .name = "haproxy",
	.image = "docker.io/library/haproxy:2.9", .pod = "lb-6b8f9c7d54-q2w7z", .namespace = "shop",
	.pod_uid = "", .cgroup = "", .cgroup_id = 0x1003,
};
static const struct entity_addr lb_addrs[] = { { AF_INET, { 10, 244, 1, 9 } } };
static const struct engine_container lb = {
	.view = &lb_view, .addrs = lb_addrs, .n_addrs = 1, .node = "node-1",
};

/* pods of another node as the sensor passes them (the peer map: no labels,
 * no cgroup, the address it was met at) */
static const struct container_view rdb_view = {
	.id = "1111222233334444", .runtime = "", .name = "db",
	.image = "docker.io/library/postgres:16", .pod = "db-1", .namespace = "shop",
	.pod_uid = "", .cgroup = "",
};
static const struct entity_addr rdb_addrs[] = { { AF_INET, { 10, 244, 2, 8 } } };
static const struct engine_container rdb = {
	.view = &rdb_view, .addrs = rdb_addrs, .n_addrs = 1, .node = "node-2", .remote = true,
};
static const struct container_view rcache_view = {
	.id = "5555666677778888", .runtime = "", .name = "cache",
	.image = "docker.io/library/redis:7", .pod = "cache-0", .namespace = "shop",
	.pod_uid = "", .cgroup = "",
};
static const struct entity_addr rcache_addrs[] = { { AF_INET, { 10, 244, 2, 5 } } };
static const struct engine_container rcache = {
	.view = &rcache_view, .addrs = rcache_addrs, .n_addrs = 1, .node = "node-2", .remote = true,
};

#define HOST_CGROUP 0x1ull

/* ------------------------------------------------------------------ */
/* Records, laid out as bpf/events.h says.                             */

static _Alignas(8) unsigned char rec[WACHT_RECORD_MAX + 64];

static __u32 put(size_t *off, const void *s, size_t len)
{
	memcpy(rec + *off, s, len);
	*off += len;
	return (__u32)len;
}

static void hdr_fill(struct wacht_hdr *h, __u32 type, size_t size, const struct engine_container *c,
		     uint32_t tgid, uint32_t ppid, uint32_t uid, uint32_t euid, uint32_t flags,
		     const char *comm)
{
	clock_ns += 1000;
	h->ts_ns = clock_ns;
	h->cgroup_id = c ? c->view->cgroup_id : HOST_CGROUP;
	h->type = type;
	h->size = (__u32)size;
	h->pid = tgid;
	h->tgid = tgid;
	h->ppid = ppid;
	h->uid = uid;
	h->euid = euid;
	h->gid = uid;
	h->mntns = c ? 4026532000u : 4026531841u;
	h->pidns = c ? 4026532001u : 4026531836u;
	h->flags = flags | (c ? 0 : WACHT_F_HOST);
	h->cpu = 1;
	snprintf((char *)h->comm, WACHT_COMM_LEN, "%s", comm);
}

static void decode(size_t size, struct wacht_event *ev)
{
	assert_int_equal(event_decode(rec, size, ev), 0);
}

struct xspec {
	uint32_t verdict;     /* the kernel's (with kernel_verdicts) */
	const char *filename; /* NULL: exe */
	const char *argv0;    /* NULL: basename of filename */
	uint32_t uid, euid;
	uint32_t flags;
	bool in_upper;
};

static const char *base(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* An exec as the sensor handles it: the process table first (comm =
 * engine_exec_name), then the engine. */
static void exec_x(const struct engine_container *c, uint32_t tgid, uint32_t ppid, const char *exe,
		   const struct xspec *x)
{
	static const struct xspec none = { 0 };
	struct wacht_exec *e = (struct wacht_exec *)rec;
	struct wacht_event ev;
	size_t off = sizeof(*e);

	if (!x)
		x = &none;
	const char *fn = x->filename ? x->filename : exe;
	const char *a0 = x->argv0 ? x->argv0 : base(fn);
	memset(rec, 0, sizeof(struct wacht_exec) + 3 * 4200);
	e->exe_ino = 4242;
	e->exe_dev = 0x2b;
	e->exe_nlink = 1;
	e->exe_len = put(&off, exe, strlen(exe) + 1);
	e->filename_len = put(&off, fn, strlen(fn) + 1);
	e->argv_len = put(&off, a0, strlen(a0) + 1);
	e->argv_len += put(&off, "-x", 3);
	e->argc = 2;
	e->old_pid = tgid;
	hdr_fill(&e->hdr, WACHT_EV_EXEC, off, c, tgid, ppid, x->uid, x->euid, x->flags, base(fn));
	decode(off, &ev);
	assert_int_equal(proc_table__exec(pt, tgid, ppid, c ? c->view->cgroup_id : HOST_CGROUP, ev.exe,
					  engine_exec_name(&ev), ev.hdr->ts_ns),
			 0);
	struct engine_exec_facts xf = { .exe_in_upper = x->in_upper, .verdict = x->verdict };
	engine__event(eng, &ev, c, &xf, NULL);
}

static void exec_p(const struct engine_container *c, uint32_t tgid, uint32_t ppid, const char *exe)
{
	exec_x(c, tgid, ppid, exe, NULL);
}

static void creds_of(uint32_t tgid, uint32_t *ppid, uint32_t *uid, uint32_t *euid, const char **comm)
{
	const struct proc_entry *pe = proc_table__lookup(pt, tgid);

	if (!tgid) { /* a record written in softirq: no process */
		*ppid = *uid = *euid = 0;
		*comm = "";
		return;
	}
	assert_non_null(pe);
	*ppid = pe->ppid;
	*uid = pe->uid == PROC_UID_UNKNOWN ? 0 : pe->uid;
	*euid = pe->euid == PROC_UID_UNKNOWN ? 0 : pe->euid;
	*comm = pe->comm;
}

static void fork_p(const struct engine_container *c, uint32_t parent, uint32_t child)
{
	struct wacht_fork *f = (struct wacht_fork *)rec;
	struct wacht_event ev;
	uint32_t ppid, uid, euid;
	const char *comm;

	creds_of(parent, &ppid, &uid, &euid, &comm);
	memset(rec, 0, sizeof(*f));
	f->child_pid = child;
	f->child_tgid = child;
	f->child_cgroup_id = c ? c->view->cgroup_id : HOST_CGROUP;
	hdr_fill(&f->hdr, WACHT_EV_FORK, sizeof(*f), c, parent, ppid, uid, euid, 0, comm);
	decode(sizeof(*f), &ev);
	assert_int_equal(proc_table__fork(pt, parent, child, f->child_cgroup_id, ev.hdr->ts_ns), 0);
	engine__event(eng, &ev, c, NULL, NULL);
}

/* Set while a test opens existing files with O_CREAT. */
static bool created_off;

/* euid_override: UINT32_MAX to use the process's known euid. */
static void file_x(const struct engine_container *c, uint32_t tgid, uint32_t op, uint32_t oflags,
		   int64_t result, const char *path, const char *path2, uint32_t euid_override)
{
	struct wacht_file *f = (struct wacht_file *)rec;
	struct wacht_event ev;
	uint32_t ppid, uid, euid;
	const char *comm;
	size_t off = sizeof(*f);

	creds_of(tgid, &ppid, &uid, &euid, &comm);
	if (euid_override != UINT32_MAX)
		euid = euid_override;
	memset(rec, 0, sizeof(*f) + 8400);
	f->op = op;
	f->syscall = 257;
	f->result = result;
	f->open_flags = oflags;
	f->mode = 0644;
	f->path_len = put(&off, path, strlen(path) + 1);
	if (path2)
		f->path2_len = put(&off, path2, strlen(path2) + 1);
	/* as the kernel says for these tests: O_CREAT that succeeded created
	 * the file (file_exists() below opens an existing one) */
	hdr_fill(&f->hdr, WACHT_EV_FILE, off, c, tgid, ppid, uid, euid,
		 (oflags & O_CREAT) && result >= 0 && !created_off ? WACHT_F_CREATED : 0, comm);
	decode(off, &ev);
	engine__event(eng, &ev, c, NULL, NULL);
}

static void file_p(const struct engine_container *c, uint32_t tgid, uint32_t op, uint32_t oflags,
		   int64_t result, const char *path, const char *path2)
{
	file_x(c, tgid, op, oflags, result, path, path2, UINT32_MAX);
}

struct nspec {
	uint32_t op;
	uint8_t proto;
	const char *raddr; /* IPv4 or IPv6 text */
	uint16_t rport, lport;
};

/* hdr.flags of the net records net_x writes: WACHT_F_DENIED says the
 * kernel refused the connection (what netguard.bpf.c does in Protect), and
 * the finding then says deny; without it a Protect finding says alert. */
static uint32_t net_flags;

static void net_x(const struct engine_container *c, uint32_t tgid, const struct nspec *n,
		  const struct engine_peer *peer)
{
	struct wacht_net *r = (struct wacht_net *)rec;
	struct wacht_event ev;
	uint32_t ppid, uid, euid;
	const char *comm;

	creds_of(tgid, &ppid, &uid, &euid, &comm);
	memset(rec, 0, sizeof(*r));
	r->op = n->op;
	r->proto = n->proto;
	r->direction = n->op == WACHT_NET_ACCEPT ? WACHT_DIR_IN : WACHT_DIR_OUT;
	r->result = n->op == WACHT_NET_ACCEPT ? 5 : 0;
	if (strchr(n->raddr, ':')) {
		r->family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, n->raddr, r->raddr), 1);
		assert_int_equal(inet_pton(AF_INET6, "fd00::7", r->laddr), 1);
	} else {
		r->family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, n->raddr, r->raddr), 1);
		memcpy(r->laddr, c->addrs[0].addr, 4);
	}
	r->rport = n->rport;
	r->lport = n->lport ? n->lport : 41000;
	r->fd = 3;
	hdr_fill(&r->hdr, WACHT_EV_NET, sizeof(*r), c, tgid, ppid, uid, euid, net_flags, comm);
	decode(sizeof(*r), &ev);
	engine__event(eng, &ev, c, NULL, peer);
}

/* ------------------------------------------------------------------ */
/* Assertions on what came out                                         */

static void expect_got(size_t i, const char *name, enum finding_action action, enum policy_mode mode,
		       const char *rid, const char *rname, const char *rgroup, const char *exe)
{
	if (i >= n_got) {
		fprintf(stderr, "expected finding %zu (%s %s), have %zu\n", i, name, exe, n_got);
		for (size_t k = 0; k < n_got; k++)
			fprintf(stderr, "  [%zu] %s %s %s %s\n", k, got[k].name, got[k].rule_id,
				got[k].exe, got[k].msg);
	}
	assert_true(i < n_got);
	assert_string_equal(got[i].name, name);
	assert_int_equal(got[i].action, action);
	assert_int_equal(got[i].mode, mode);
	assert_string_equal(got[i].rule_id, rid);
	assert_string_equal(got[i].rule_name, rname);
	assert_string_equal(got[i].rule_group, rgroup);
	assert_string_equal(got[i].exe, exe);
	assert_int_equal(got[i].count, 1);
}

static void expect_n(size_t n)
{
	if (n_got != n) {
		fprintf(stderr, "expected %zu findings, have %zu:\n", n, n_got);
		for (size_t k = 0; k < n_got; k++)
			fprintf(stderr, "  [%zu] %s %s %s %s | %s\n", k, got[k].name, got[k].rule_id,
				got[k].exe, got[k].fpath, got[k].msg);
	}
	assert_int_equal(n_got, n);
}

static const struct group *grp(const char *name)
{
	long g = policy__group_find(engine__policy(eng), name);

	assert_true(g >= 0);
	return &engine__policy(eng)->groups[g];
}

/* ------------------------------------------------------------------ */
/* Names                                                               */

static void test_names(void **state)
{
	static const struct {
		const char *filename, *argv0, *comm, *want;
	} cases[] = {
		{ "/usr/bin/curl", "curl", "curl", "curl" },
		{ "/bin/ls", "ls", "ls", "ls" },           /* busybox applet: link name */
		{ "ls", "ls", "ls", "ls" },                /* relative filename */
		{ "/proc/self/exe", "/bin/cat", "exe", "cat" }, /* busybox re-exec */
		{ "/dev/fd/3", "tool", "3", "tool" },      /* fexecve */
		{ "/proc/self/exe", "", "exe", "exe" },    /* argv[0] empty: comm */
	};
	char name[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wacht_exec *e = (struct wacht_exec *)rec;
		struct wacht_event ev;
		size_t off = sizeof(*e);

		memset(rec, 0, 4096);
		e->exe_len = put(&off, "/bin/busybox", 13);
		e->filename_len = put(&off, cases[i].filename, strlen(cases[i].filename) + 1);
		e->argv_len = put(&off, cases[i].argv0, strlen(cases[i].argv0) + 1);
		hdr_fill(&e->hdr, WACHT_EV_EXEC, off, &web, 7, 1, 0, 0, 0, cases[i].comm);
		decode(off, &ev);
		assert_string_equal(engine_exec_name(&ev), cases[i].want);
	}
	/* no filename, no argv: the kernel's comm */
	{
		struct wacht_exec *e = (struct wacht_exec *)rec;
		struct wacht_event ev;
		size_t off = sizeof(*e);

		memset(rec, 0, 4096);
		e->exe_len = put(&off, "/bin/busybox", 13);
		hdr_fill(&e->hdr, WACHT_EV_EXEC, off, &web, 7, 1, 0, 0, 0, "busybox");
		decode(off, &ev);
		assert_string_equal(engine_exec_name(&ev), "busybox");
	}

	engine_group_name(&web_view, name, sizeof(name));
	assert_string_equal(name, "nv.web.shop");
	engine_group_name(&db_view, name, sizeof(name));
	assert_string_equal(name, "nv.db.shop");
	engine_group_name(&lb_view, name, sizeof(name));
	assert_string_equal(name, "nv.lb.shop");
	struct container_view plain = { .id = "c1", .runtime = "", .name = "redis", .image = "",
					.pod = "", .namespace = "", .pod_uid = "", .cgroup = "" };
	engine_group_name(&plain, name, sizeof(name));
	assert_string_equal(name, "nv.redis");
	plain.name = "";
	plain.id = "9f8e7d6c5b4a";
	engine_group_name(&plain, name, sizeof(name));
	assert_string_equal(name, "nv.9f8e7d6c5b4a");
}

/* ------------------------------------------------------------------ */
/* Process matching                                                    */

#define WEB_GROUP_HEAD(MODE_LINE)                                                               \
	"apiVersion: neuvector.com/v1\n"                                                        \
	"kind: NvSecurityRule\n"                                                                \
	"metadata: {name: nv.web.shop, namespace: shop}\n"                                      \
	"spec:\n"                                                                               \
	"  target:\n"                                                                           \
	"    selector:\n"                                                                       \
	"      name: nv.web.shop\n"                                                             \
	"      criteria: [{key: service, op: \"=\", value: web}, {key: domain, op: \"=\", value: shop}]\n" \
	MODE_LINE

static const char *proc_yaml_fmt =
	WEB_GROUP_HEAD("  process_profile: {baseline: basic, mode: %s}\n")
	"  process:\n"
	"  - {name: nginx, path: /usr/sbin/nginx, action: allow}\n"
	"  - {name: \"*\", path: /usr/local/bin/*, action: allow}\n"
	"  - {name: \"python3*\", path: \"*\", action: allow}\n"
	"  - {name: curl, path: /usr/bin/curl, action: deny}\n"
	"  - {name: \"*\", path: /usr/bin/*, action: allow}\n"
	"  - {name: \"*sh\", path: /bin/*, action: allow}\n";

static char yaml_buf[16384];

static const char *proc_yaml(const char *mode)
{
	snprintf(yaml_buf, sizeof(yaml_buf), proc_yaml_fmt, mode);
	return yaml_buf;
}

static void test_process_matching(void **state)
{
	/* expect: NULL none, "deny" the curl rule, "profile" unmatched */
	static const struct {
		const char *exe, *filename, *expect;
	} cases[] = {
		{ "/usr/sbin/nginx", NULL, NULL },                 /* exact */
		{ "/usr/local/bin/app", NULL, NULL },              /* DIR/ * */
		{ "/usr/local/bin/sub/dir/tool", NULL, NULL },     /* DIR/ * at any depth */
		{ "/usr/local/bin/curl", NULL, NULL },             /* first match wins over the deny */
		{ "/opt/venv/bin/python3.12", NULL, NULL },        /* name wildcard, path "*" */
		{ "/usr/bin/curl", NULL, "deny" },                 /* deny before the /usr/bin/ * allow */
		{ "/usr/bin/wget", NULL, NULL },                   /* /usr/bin/ * */
		{ "/bin/bash", NULL, NULL },                       /* "*sh" in /bin */
		{ "/bin/busybox", "/bin/ash", NULL },              /* applet named by its link */
		{ "/bin/ls", NULL, "profile" },                    /* /bin but not "*sh" */
		{ "/tmp/nginx", NULL, "profile" },                 /* the name alone is not enough */
		{ "/usr/local/binx/app", NULL, "profile" },        /* not below /usr/local/bin */
		{ "/usr/local/bin", NULL, "profile" },             /* the directory itself */
		{ "/opt/python2", NULL, "profile" },               /* python3* is not python2 */
		{ "/usr/sbin/nginx-debug", NULL, "profile" },      /* exact means exact */
	};
	static const struct {
		const char *mode;
		enum policy_mode m;
		enum finding_action act;
	} modes[] = {
		{ "Monitor", MODE_MONITOR, FACT_ALERT },
		{ "Protect", MODE_PROTECT, FACT_KILL },
	};

	(void)state;
	for (size_t mi = 0; mi < 2; mi++) {
		const char *yaml = proc_yaml(modes[mi].mode);
		fx_init("proc.yaml", yaml);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct xspec x = { .filename = cases[i].filename };
			size_t before = n_got;
			char msg[512];

			exec_x(&web, 1000 + i, 1, cases[i].exe, &x);
			if (!cases[i].expect) {
				if (n_got != before)
					fprintf(stderr, "case %zu %s: unexpected %s\n", i, cases[i].exe,
						got[before].msg);
				assert_int_equal(n_got, before);
				continue;
			}
			assert_int_equal(n_got, before + 1);
			const char *name = base(cases[i].filename ? cases[i].filename : cases[i].exe);
			if (strcmp(cases[i].expect, "deny") == 0) {
				expect_got(before, FN_PROCESS_VIOLATION, modes[mi].act, modes[mi].m,
					   rule_id("proc.yaml", yaml, "name: curl"), "curl", "nv.web.shop",
					   cases[i].exe);
				snprintf(msg, sizeof(msg), "%s (%s): denied by rule", name, cases[i].exe);
			} else {
				expect_got(before, FN_PROCESS_VIOLATION, modes[mi].act, modes[mi].m,
					   "profile:nv.web.shop", "", "nv.web.shop", cases[i].exe);
				snprintf(msg, sizeof(msg), "%s (%s): not in the process profile", name,
					 cases[i].exe);
			}
			assert_string_equal(got[before].msg, msg);
			assert_int_equal(got[before].sev, SEV_HIGH);
			assert_string_equal(got[before].pname, name);
			assert_string_equal(got[before].cid, web_view.id);
			assert_string_equal(got[before].group, "nv.web.shop");
			assert_int_equal(got[before].pid, 1000 + i);
		}
		expect_n(7);
		fx_teardown(NULL);
	}
}

/* ------------------------------------------------------------------ */
/* Modes                                                               */

static void test_mode_discover_learns(void **state)
{
	const char *yaml = proc_yaml("Discover");
	struct engine_stats st;

	(void)state;
	fx_init("proc.yaml", yaml);
	size_t gi = (size_t)policy__group_find(engine__policy(eng), "nv.web.shop");
	assert_int_equal(grp("nv.web.shop")->n_procs, 6);

	exec_p(&web, 100, 1, "/opt/app/server");
	expect_n(1);
	expect_got(0, FN_PROCESS_LEARNED, FACT_LEARN, MODE_DISCOVER, "learned:nv.web.shop", "",
		   "nv.web.shop", "/opt/app/server");
	assert_int_equal(got[0].sev, SEV_INFO);
	assert_string_equal(got[0].msg, "learned process server (/opt/app/server)");
	assert_int_equal(n_learned_cb, 1);
	assert_int_equal(last_learned_group, gi);
	const struct group *g = grp("nv.web.shop");
	assert_int_equal(g->n_procs, 7);
	assert_string_equal(g->procs[6].name, "server");
	assert_string_equal(g->procs[6].path, "/opt/app/server");
	assert_int_equal(g->procs[6].action, ACTION_ALLOW);
	assert_true(g->procs[6].learned);

	/* learned: silent from now on, in other processes too */
	exec_p(&web, 101, 100, "/opt/app/server");
	exec_p(&web, 102, 1, "/opt/app/server");
	expect_n(1);
	assert_int_equal(n_learned_cb, 1);

	/* an explicit deny still alerts in Discover, and is not learned */
	exec_p(&web, 103, 100, "/usr/bin/curl");
	expect_n(2);
	expect_got(1, FN_PROCESS_VIOLATION, FACT_ALERT, MODE_DISCOVER,
		   rule_id("proc.yaml", yaml, "name: curl"), "curl", "nv.web.shop", "/usr/bin/curl");
	assert_int_equal(grp("nv.web.shop")->n_procs, 7);

	/* a container without a group of its own: nv.db.shop is created */
	assert_int_equal(policy__group_find(engine__policy(eng), "nv.db.shop"), -1);
	exec_p(&db, 200, 1, "/usr/lib/postgresql/16/bin/postgres");
	expect_n(3);
	expect_got(2, FN_PROCESS_LEARNED, FACT_LEARN, MODE_DISCOVER, "learned:nv.db.shop", "",
		   "nv.db.shop", "/usr/lib/postgresql/16/bin/postgres");
	assert_string_equal(got[2].cid, db_view.id);
	g = grp("nv.db.shop");
	assert_int_equal(g->kind, GROUP_LEARNED);
	assert_int_equal(g->n_procs, 1);
	assert_string_equal(g->procs[0].name, "postgres");
	assert_true(g->procs[0].learned);
	assert_int_equal(n_learned_cb, 2);
	assert_int_equal(last_learned_group, (size_t)policy__group_find(engine__policy(eng), "nv.db.shop"));
	exec_p(&db, 201, 200, "/usr/lib/postgresql/16/bin/postgres");
	expect_n(3);

	engine__stats(eng, &st);
	assert_int_equal(st.learned, 2);
	assert_int_equal(st.learn_failed, 0);
	assert_int_equal(st.evaluated, 6);
	assert_int_equal(st.findings, 3);

	/* a learned allow is not an explicit one: a learned process that turns
	 * out to be a package manager is still killed in Protect (checked in
	 * test_builtin_package); here: switching the learned group to Monitor
	 * keeps what was learned */
	fx_teardown(NULL);
}

static void test_mode_monitor_protect(void **state)
{
	static const struct {
		const char *mode;
		enum policy_mode m;
		enum finding_action act;
	} modes[] = {
		{ "Monitor", MODE_MONITOR, FACT_ALERT },
		{ "Protect", MODE_PROTECT, FACT_KILL },
	};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		fx_init("proc.yaml", proc_yaml(modes[i].mode));
		exec_p(&web, 100, 1, "/opt/app/server");
		exec_p(&web, 101, 1, "/opt/app/server");
		expect_n(1); /* the second is counted in the window */
		expect_got(0, FN_PROCESS_VIOLATION, modes[i].act, modes[i].m, "profile:nv.web.shop", "",
			   "nv.web.shop", "/opt/app/server");
		assert_int_equal(grp("nv.web.shop")->n_procs, 6); /* nothing learned */
		assert_int_equal(n_learned_cb, 0);
		flush();
		expect_n(2);
		assert_string_equal(got[1].name, FN_PROCESS_VIOLATION);
		assert_int_equal(got[1].count, 1);
		assert_int_equal(got[1].action, modes[i].act);
		fx_teardown(NULL);
	}
}

/* ------------------------------------------------------------------ */
/* Group combination                                                   */

static const char combo_yaml[] =
	"apiVersion: neuvector.com/v1\n"
	"kind: NvClusterSecurityRule\n"
	"metadata: {name: containers}\n"
	"spec:\n"
	"  target: {selector: {name: containers}}\n"
	"  process:\n"
	"  - {name: wget, path: /usr/bin/wget, action: deny}\n"
	"  - {name: \"*\", path: /bin/*, action: deny}\n"
	"  - {name: \"*\", path: \"*\", action: allow}\n"
	"---\n"
	WEB_GROUP_HEAD("  process_profile: {mode: Monitor}\n")
	"  process:\n"
	"  - {name: curl, path: /usr/bin/curl, action: allow}\n"
	"  - {name: wget, path: /usr/bin/wget, action: allow}\n"
	"  - {name: ls, path: /bin/ls, action: allow} # learned group\n"
	"---\n"
	"apiVersion: neuvector.com/v1\n"
	"kind: NvClusterSecurityRule\n"
	"metadata: {name: frontend}\n"
	"spec:\n"
	"  target:\n"
	"    selector:\n"
	"      name: frontend\n"
	"      criteria: [{key: image, op: prefix, value: registry.local/shop/}]\n"
	"  process:\n"
	"  - {name: curl, path: /usr/bin/curl, action: deny} # custom\n"
	"  - {name: ls, path: /bin/ls, action: deny} # custom ls\n";

static void test_group_order(void **state)
{
	(void)state;
	fx_init("combo.yaml", combo_yaml);
	/* custom before learned, though defined last */
	exec_p(&web, 100, 1, "/usr/bin/curl");
	exec_p(&web, 101, 1, "/bin/ls");
	/* learned before containers */
	exec_p(&web, 102, 1, "/usr/bin/wget");
	/* containers last */
	exec_p(&web, 103, 1, "/bin/cat");
	exec_p(&web, 104, 1, "/opt/x");
	expect_n(3);
	expect_got(0, FN_PROCESS_VIOLATION, FACT_ALERT, MODE_MONITOR,
		   rule_id("combo.yaml", combo_yaml, "# custom\n"), "curl", "frontend", "/usr/bin/curl");
	expect_got(1, FN_PROCESS_VIOLATION, FACT_ALERT, MODE_MONITOR,
		   rule_id("combo.yaml", combo_yaml, "# custom ls"), "ls", "frontend", "/bin/ls");
	expect_got(2, FN_PROCESS_VIOLATION, FACT_ALERT, MODE_MONITOR,
		   rule_id("combo.yaml", combo_yaml, "path: /bin/*, action: deny"), "*", "containers",
		   "/bin/cat");
	/* the container's group is still its learned one */
	assert_string_equal(got[2].group, "nv.web.shop");

	/* db is in neither custom nor learned group: containers' rules only */
	exec_p(&db, 200, 1, "/usr/bin/curl");
	exec_p(&db, 201, 1, "/usr/bin/wget");
	expect_n(4);
	expect_got(3, FN_PROCESS_VIOLATION, FACT_ALERT, MODE_DISCOVER,
		   rule_id("combo.yaml", combo_yaml, "name: wget, path: /usr/bin/wget, action: deny"),
		   "wget", "containers", "/usr/bin/wget");
	/* the db container runs in Discover (no mode anywhere for it): an
	 * explicit deny still alerts */
	fx_teardown(NULL);
}

static const char *mode_doc(char *buf, size_t size, const char *mode)
{
	if (!mode[0]) {
		buf[0] = 0;
		return buf;
	}
	snprintf(buf, size, "    policymode: %s\n", mode);
	return buf;
}

static const char *pmode_doc(char *buf, size_t size, const char *mode)
{
	if (!mode[0]) {
		buf[0] = 0;
		return buf;
	}
	snprintf(buf, size, "  process_profile: {mode: %s}\n", mode);
	return buf;
}

static void test_mode_precedence(void **state)
{
	/* learned, custom 1, custom 2, containers -> the mode that applies */
	static const struct {
		const char *l, *c1, *c2, *all;
		enum policy_mode want;
	} cases[] = {
		{ "Monitor", "Protect", "", "Protect", MODE_MONITOR },   /* learned wins */
		{ "Discover", "Protect", "Monitor", "Protect", MODE_DISCOVER }, /* even if laxer */
		{ "", "Monitor", "Protect", "Discover", MODE_PROTECT },  /* strictest custom */
		{ "", "Protect", "Discover", "Monitor", MODE_PROTECT },
		{ "", "Discover", "Monitor", "Protect", MODE_MONITOR },  /* custom before containers */
		{ "", "", "", "Monitor", MODE_MONITOR },                 /* containers */
		{ "", "", "", "Protect", MODE_PROTECT },
		{ "", "", "", "", MODE_DISCOVER },                       /* default */
	};
	static char yaml[8192];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char a[8][96];
		snprintf(yaml, sizeof(yaml),
			 "apiVersion: neuvector.com/v1\n"
			 "kind: NvSecurityRule\n"
			 "metadata: {name: nv.web.shop, namespace: shop}\n"
			 "spec:\n"
			 "  target:\n"
			 "%s"
			 "    selector:\n"
			 "      name: nv.web.shop\n"
			 "      criteria: [{key: service, op: \"=\", value: web}, {key: domain, op: \"=\", value: shop}]\n"
			 "%s"
			 "---\n"
			 "apiVersion: neuvector.com/v1\n"
			 "kind: NvClusterSecurityRule\n"
			 "metadata: {name: c1}\n"
			 "spec:\n"
			 "  target:\n"
			 "%s"
			 "    selector: {name: c1, criteria: [{key: image, op: prefix, value: registry.local/}]}\n"
			 "%s"
			 "---\n"
			 "apiVersion: neuvector.com/v1\n"
			 "kind: NvClusterSecurityRule\n"
			 "metadata: {name: c2}\n"
			 "spec:\n"
			 "  target:\n"
			 "%s"
			 "    selector: {name: c2, criteria: [{key: container, op: \"=\", value: web}]}\n"
			 "%s"
			 "---\n"
			 "apiVersion: neuvector.com/v1\n"
			 "kind: NvClusterSecurityRule\n"
			 "metadata: {name: containers}\n"
			 "spec:\n"
			 "  target:\n"
			 "%s"
			 "    selector: {name: containers}\n"
			 "%s",
			 mode_doc(a[0], 96, cases[i].l), pmode_doc(a[1], 96, cases[i].l),
			 mode_doc(a[2], 96, cases[i].c1), pmode_doc(a[3], 96, cases[i].c1),
			 mode_doc(a[4], 96, cases[i].c2), pmode_doc(a[5], 96, cases[i].c2),
			 mode_doc(a[6], 96, cases[i].all), pmode_doc(a[7], 96, cases[i].all));
		fx_init("modes.yaml", yaml);
		exec_p(&web, 100, 1, "/opt/app/server");
		/* in Protect the kernel refused it */
		net_flags = cases[i].want == MODE_PROTECT ? WACHT_F_DENIED : 0;
		net_x(&web, 100, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 443, 0 },
		      NULL);
		net_flags = 0;
		expect_n(2);
		enum finding_action act = cases[i].want == MODE_DISCOVER ? FACT_LEARN :
					  cases[i].want == MODE_MONITOR ? FACT_ALERT : FACT_KILL;
		if (got[0].mode != cases[i].want || got[1].mode != cases[i].want)
			fprintf(stderr, "mode case %zu: process %d net %d, want %d\n", i, got[0].mode,
				got[1].mode, cases[i].want);
		assert_string_equal(got[0].name, cases[i].want == MODE_DISCOVER ? FN_PROCESS_LEARNED :
						  FN_PROCESS_VIOLATION);
		assert_int_equal(got[0].mode, cases[i].want);
		assert_int_equal(got[0].action, act);
		assert_string_equal(got[1].name, cases[i].want == MODE_DISCOVER ? FN_NET_LEARNED :
						  FN_NET_VIOLATION);
		assert_int_equal(got[1].mode, cases[i].want);
		assert_int_equal(got[1].action, act == FACT_KILL ? FACT_DENY : act);
		fx_teardown(NULL);
	}
}

/* Network and process modes are separate. */
static void test_mode_separate(void **state)
{
	static const char yaml[] =
		"apiVersion: neuvector.com/v1\n"
		"kind: NvSecurityRule\n"
		"metadata: {name: nv.web.shop, namespace: shop}\n"
		"spec:\n"
		"  target:\n"
		"    policymode: Protect\n"
		"    selector:\n"
		"      name: nv.web.shop\n"
		"      criteria: [{key: service, op: \"=\", value: web}, {key: domain, op: \"=\", value: shop}]\n"
		"  process_profile: {mode: Monitor}\n";

	(void)state;
	fx_init("sep.yaml", yaml);
	exec_p(&web, 100, 1, "/opt/app/server");
	net_flags = WACHT_F_DENIED; /* network Protect: the kernel refused it */
	net_x(&web, 100, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 443, 0 }, NULL);
	net_flags = 0;
	expect_n(2);
	expect_got(0, FN_PROCESS_VIOLATION, FACT_ALERT, MODE_MONITOR, "profile:nv.web.shop", "",
		   "nv.web.shop", "/opt/app/server");
	expect_got(1, FN_NET_VIOLATION, FACT_DENY, MODE_PROTECT, "profile:nv.web.shop", "",
		   "nv.web.shop", "/opt/app/server");
	fx_teardown(NULL);
}

/* ------------------------------------------------------------------ */
/* Zero-drift                                                          */

static const char *zd_yaml_fmt =
	WEB_GROUP_HEAD("  process_profile: {baseline: %s, mode: %s}\n")
	"  process:\n"
	"  - {name: \"*\", path: /opt/app/updatable/*, action: allow, allow_update: true}\n"
	"  - {name: \"*\", path: /opt/app/*, action: allow}\n"
	"  - {name: \"*\", path: /usr/bin/*, action: allow}\n";

static void zd_scenario(void)
{
	const struct engine_container *c = &web_init;

	exec_p(c, 100, 90, "/opt/app/server"); /* the root process; 90 is the runtime */
	fork_p(c, 100, 101);
	/* written in the container: create, rename into place, failed write */
	file_p(c, 101, WACHT_FILE_OPEN, O_WRONLY | O_CREAT | O_TRUNC, 3, "/opt/app/tool", NULL);
	file_p(c, 101, WACHT_FILE_RENAME, 0, 0, "/tmp/dl.part", "/opt/app/renamed");
	file_p(c, 101, WACHT_FILE_OPEN, O_WRONLY, -EACCES, "/opt/app/failed", NULL);
	file_p(c, 101, WACHT_FILE_OPEN, O_RDONLY, 3, "/opt/app/readonly", NULL);
	file_p(c, 101, WACHT_FILE_OPEN, O_WRONLY | O_CREAT, 3, "/opt/app/updatable/plugin", NULL);
	exec_p(c, 101, 100, "/opt/app/tool");              /* drift */
	fork_p(c, 100, 102);
	exec_p(c, 102, 100, "/opt/app/renamed");           /* drift */
	fork_p(c, 100, 103);
	exec_p(c, 103, 100, "/opt/app/failed");            /* never written */
	fork_p(c, 100, 104);
	exec_p(c, 104, 100, "/opt/app/readonly");          /* only read */
	fork_p(c, 100, 105);
	exec_p(c, 105, 100, "/opt/app/updatable/plugin");  /* allow_update */
	fork_p(c, 100, 106);
	exec_x(c, 106, 100, "/usr/bin/env", &(struct xspec){ .in_upper = true }); /* upper layer */
	fork_p(c, 100, 107);
	exec_p(c, 107, 100, "/usr/bin/env");               /* from the image */
	fork_p(c, 107, 108);
	exec_p(c, 108, 107, "/usr/bin/id");                /* grandchild of the root */
	/* kubectl exec: the runtime (a host process) starts it */
	exec_p(NULL, 90, 1, "/usr/bin/conmon");
	exec_p(c, 200, 90, "/usr/bin/top");
	fork_p(c, 200, 201);
	exec_p(c, 201, 200, "/usr/bin/id");                /* its child: foreign too */
}

/* With the kernel's verdicts (the sensor): a Protect finding says kill
 * only when the kernel killed; otherwise alert, and why not. */
static void test_kernel_verdicts(void **state)
{
	const uint32_t killed = WACHT_V_ENFORCED | WACHT_V_KILLED;
	char yaml[4096];

	(void)state;
	fx_kernel_verdicts = true;
	snprintf(yaml, sizeof(yaml), zd_yaml_fmt, "zero-drift", "Protect");
	fx_init("zd.yaml", yaml);
	const char *opt = rule_id("zd.yaml", yaml, "path: /opt/app/*");
	exec_p(&web_init, 100, 90, "/opt/app/server");
	/* killed by the kernel: kill */
	fork_p(&web_init, 100, 101);
	exec_x(&web_init, 101, 100, "/bin/nmap2", &(struct xspec){ .verdict = killed | WACHT_KR_NOT_ALLOWED });
	expect_n(1);
	expect_got(0, FN_PROCESS_VIOLATION, FACT_KILL, MODE_PROTECT, "profile:nv.web.shop", "",
		   "nv.web.shop", "/bin/nmap2");
	assert_string_equal(got[0].msg, "nmap2 (/bin/nmap2): not in the process profile");
	/* the kernel decided and let it run (its maps were older): alert */
	fork_p(&web_init, 100, 102);
	exec_x(&web_init, 102, 100, "/bin/other", &(struct xspec){ .verdict = WACHT_V_ENFORCED });
	expect_n(2);
	expect_got(1, FN_PROCESS_VIOLATION, FACT_ALERT, MODE_PROTECT, "profile:nv.web.shop", "",
		   "nv.web.shop", "/bin/other");
	assert_string_equal(got[1].msg, "other (/bin/other): not in the process profile (not killed: "
					"the kernel's policy allowed it)");
	/* not compiled in the kernel at all */
	fork_p(&web_init, 100, 103);
	exec_x(&web_init, 103, 100, "/bin/third", NULL);
	expect_n(3);
	assert_int_equal(got[2].action, FACT_ALERT);
	assert_string_equal(got[2].msg, "third (/bin/third): not in the process profile (not killed: "
					"not enforced in the kernel)");
	/* the kernel knew of a write the engine did not see: its reason */
	fork_p(&web_init, 100, 104);
	exec_x(&web_init, 104, 100, "/opt/app/new", &(struct xspec){ .verdict = killed | WACHT_KR_DRIFT });
	expect_n(4);
	expect_got(3, FN_PROCESS_VIOLATION, FACT_KILL, MODE_PROTECT, opt, "*", "nv.web.shop",
		   "/opt/app/new");
	assert_string_equal(got[3].msg, "new (/opt/app/new): zero-drift: the binary was written or "
					"replaced after the container started");
	/* allowed and not killed: nothing */
	fork_p(&web_init, 100, 105);
	exec_x(&web_init, 105, 100, "/opt/app/ok", &(struct xspec){ .verdict = WACHT_V_ENFORCED });
	expect_n(4);
	fx_teardown(NULL);

	/* alert-only says so */
	fx_alert_only = true;
	fx_init("zd.yaml", yaml);
	exec_p(&web_init, 100, 90, "/opt/app/server");
	fork_p(&web_init, 100, 101);
	exec_p(&web_init, 101, 100, "/bin/nmap2");
	expect_n(1);
	assert_int_equal(got[0].action, FACT_ALERT);
	assert_string_equal(got[0].msg, "nmap2 (/bin/nmap2): not in the process profile (not killed: "
					"enforcement is off, --alert-only)");
	fx_alert_only = false;
	fx_kernel_verdicts = false;
}

static void test_zero_drift(void **state)
{
	char yaml[4096];

	(void)state;
	/* basic: none of it matters */
	snprintf(yaml, sizeof(yaml), zd_yaml_fmt, "basic", "Protect");
	fx_init("zd.yaml", yaml);
	zd_scenario();
	expect_n(0);
	fx_teardown(NULL);

	snprintf(yaml, sizeof(yaml), zd_yaml_fmt, "zero-drift", "Protect");
	fx_init("zd.yaml", yaml);
	zd_scenario();
	const char *opt = rule_id("zd.yaml", yaml, "path: /opt/app/*");
	const char *usr = rule_id("zd.yaml", yaml, "path: /usr/bin/*");
	expect_n(5);
	expect_got(0, FN_PROCESS_VIOLATION, FACT_KILL, MODE_PROTECT, opt, "*", "nv.web.shop",
		   "/opt/app/tool");
	assert_string_equal(got[0].msg, "tool (/opt/app/tool): zero-drift: the binary was written or "
					"replaced after the container started");
	expect_got(1, FN_PROCESS_VIOLATION, FACT_KILL, MODE_PROTECT, opt, "*", "nv.web.shop",
		   "/opt/app/renamed");
	expect_got(2, FN_PROCESS_VIOLATION, FACT_KILL, MODE_PROTECT, usr, "*", "nv.web.shop",
		   "/usr/bin/env");
	assert_int_equal(got[2].pid, 106);
	assert_string_equal(got[2].msg, "env (/usr/bin/env): zero-drift: the binary was written or "
					"replaced after the container started");
	expect_got(3, FN_PROCESS_VIOLATION, FACT_KILL, MODE_PROTECT, usr, "*", "nv.web.shop",
		   "/usr/bin/top");
	assert_int_equal(got[3].pid, 200);
	assert_string_equal(got[3].msg,
			    "top (/usr/bin/top): zero-drift: not started by the container's root process");
	assert_string_equal(got[3].parent_exe, "/usr/bin/conmon");
	expect_got(4, FN_PROCESS_VIOLATION, FACT_KILL, MODE_PROTECT, usr, "*", "nv.web.shop",
		   "/usr/bin/id");
	assert_int_equal(got[4].pid, 201);
	fx_teardown(NULL);

	/* Monitor alerts the same; Discover does not flag allowed drift */
	snprintf(yaml, sizeof(yaml), zd_yaml_fmt, "zero-drift", "Monitor");
	fx_init("zd.yaml", yaml);
	zd_scenario();
	expect_n(5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(got[i].action, FACT_ALERT);
		assert_int_equal(got[i].mode, MODE_MONITOR);
	}
	fx_teardown(NULL);
	snprintf(yaml, sizeof(yaml), zd_yaml_fmt, "zero-drift", "Discover");
	fx_init("zd.yaml", yaml);
	zd_scenario();
	expect_n(0);
	fx_teardown(NULL);

	/* a drifted binary that matches no rule: the message says why */
	snprintf(yaml, sizeof(yaml), zd_yaml_fmt, "zero-drift", "Protect");
	fx_init("zd.yaml", yaml);
	exec_p(&web_init, 100, 90, "/opt/app/server");
	file_p(&web_init, 100, WACHT_FILE_OPEN, O_WRONLY | O_CREAT, 3, "/tmp/x", NULL);
	fork_p(&web_init, 100, 101);
	exec_p(&web_init, 101, 100, "/tmp/x");
	expect_n(1);
	expect_got(0, FN_PROCESS_VIOLATION, FACT_KILL, MODE_PROTECT, "profile:nv.web.shop", "",
		   "nv.web.shop", "/tmp/x");
	assert_string_equal(got[0].msg, "x (/tmp/x): zero-drift: the binary was written or replaced "
					"after the container started");
	/* the written set is per container: db's /tmp/x is its own */
	fx_teardown(NULL);
}

/* ------------------------------------------------------------------ */
/* Built-in detections                                                 */

static const char *bi_yaml_fmt =
	WEB_GROUP_HEAD("  process_profile: {baseline: basic, mode: %s}\n")
	"  process:\n"
	"  - {name: \"*\", path: /bin/*, action: allow}\n";

static void test_builtin_suspicious(void **state)
{
	static const struct {
		const char *mode;
		enum policy_mode m;
		enum finding_action act;
	} modes[] = {
		{ "Monitor", MODE_MONITOR, FACT_ALERT },
		{ "Protect", MODE_PROTECT, FACT_KILL },
	};
	char yaml[4096];

	(void)state;
	for (size_t mi = 0; mi < 2; mi++) {
		snprintf(yaml, sizeof(yaml), bi_yaml_fmt, modes[mi].mode);
		fx_init("bi.yaml", yaml);
		exec_p(&web, 100, 1, "/bin/sh");
		fork_p(&web, 100, 300);
		exec_p(&web, 300, 100, "/usr/bin/ncat");
		expect_n(2);
		expect_got(0, FN_SUSPICIOUS, modes[mi].act, modes[mi].m, "builtin:suspicious-process",
			   "suspicious process", "", "/usr/bin/ncat");
		assert_string_equal(got[0].msg, "suspicious process ncat (/usr/bin/ncat)");
		assert_int_equal(got[0].sev, SEV_HIGH);
		assert_string_equal(got[0].parent_exe, "/bin/sh");
		expect_got(1, FN_PROCESS_VIOLATION, modes[mi].act, modes[mi].m, "profile:nv.web.shop", "",
			   "nv.web.shop", "/usr/bin/ncat");
		const struct proc_entry *pe = proc_table__lookup(pt, 300);
		assert_non_null(pe);
		assert_true(pe->flags & PROC_F_SUSPICIOUS);

		/* its children, through fork, whatever they run */
		fork_p(&web, 300, 301);
		exec_p(&web, 301, 300, "/usr/local/bin/id");
		expect_n(4);
		expect_got(2, FN_SUSPICIOUS, modes[mi].act, modes[mi].m, "builtin:suspicious-process",
			   "suspicious process", "", "/usr/local/bin/id");
		assert_string_equal(got[2].msg, "id started by a suspicious process");
		assert_string_equal(got[2].parent_exe, "/usr/bin/ncat");
		expect_got(3, FN_PROCESS_VIOLATION, modes[mi].act, modes[mi].m, "profile:nv.web.shop", "",
			   "nv.web.shop", "/usr/local/bin/id");
		fork_p(&web, 301, 302);
		exec_p(&web, 302, 301, "/usr/local/bin/whoami");
		expect_n(6);
		assert_string_equal(got[4].name, FN_SUSPICIOUS);
		assert_string_equal(got[4].msg, "whoami started by a suspicious process");

		/* named by the exe's base name too (busybox re-exec as "exe") */
		exec_x(&web, 310, 100, "/usr/bin/socat",
		       &(struct xspec){ .filename = "/proc/self/fd/3", .argv0 = "relay" });
		expect_n(8);
		expect_got(6, FN_SUSPICIOUS, modes[mi].act, modes[mi].m, "builtin:suspicious-process",
			   "suspicious process", "", "/usr/bin/socat");
		assert_string_equal(got[6].pname, "relay");

		/* explicitly allowed: not reported; the sibling of a suspicious
		 * process is not suspicious */
		exec_p(&web, 320, 100, "/bin/nc");
		fork_p(&web, 100, 321);
		exec_p(&web, 321, 100, "/bin/ls");
		expect_n(8);
		assert_false(proc_table__lookup(pt, 321)->flags & PROC_F_SUSPICIOUS);
		/* near misses: only the profile speaks */
		exec_p(&web, 322, 100, "/usr/local/bin/ncx");
		exec_p(&web, 323, 100, "/usr/local/bin/sshfs");
		exec_p(&web, 324, 100, "/usr/local/bin/nc.openbsd");
		expect_n(11);
		for (size_t i = 8; i < 11; i++)
			assert_string_equal(got[i].name, FN_PROCESS_VIOLATION);
		fx_teardown(NULL);
	}
}

static void test_builtin_reverse_shell(void **state)
{
	char yaml[4096];

	(void)state;
	snprintf(yaml, sizeof(yaml), bi_yaml_fmt, "Protect");
	fx_init("bi.yaml", yaml);
	exec_p(&web, 100, 1, "/bin/sh");
	exec_x(&web, 101, 100, "/bin/bash", &(struct xspec){ .flags = WACHT_F_STDIO_SOCKET });
	expect_n(1);
	/* explicitly allowed bash, still killed: the shape is the threat */
	expect_got(0, FN_TUNNEL, FACT_KILL, MODE_PROTECT, "builtin:reverse-shell", "reverse shell", "",
		   "/bin/bash");
	assert_int_equal(got[0].sev, SEV_CRITICAL);
	assert_string_equal(got[0].msg, "bash runs with standard input and output on one socket");
	/* other flags are not the shape */
	exec_x(&web, 102, 100, "/bin/bash",
	       &(struct xspec){ .flags = WACHT_F_PATH_TRUNC | WACHT_F_ARGS_TRUNC | WACHT_F_READ_FAIL });
	expect_n(1);
	fx_teardown(NULL);

	snprintf(yaml, sizeof(yaml), bi_yaml_fmt, "Discover");
	fx_init("bi.yaml", yaml);
	exec_x(&web, 101, 1, "/bin/bash", &(struct xspec){ .flags = WACHT_F_STDIO_SOCKET });
	expect_n(1);
	expect_got(0, FN_TUNNEL, FACT_ALERT, MODE_DISCOVER, "builtin:reverse-shell", "reverse shell",
		   "", "/bin/bash");
	fx_teardown(NULL);
}

static void test_builtin_escalation(void **state)
{
	static const struct {
		const char *mode;
		enum policy_mode m;
		enum finding_action act;
	} modes[] = {
		{ "Monitor", MODE_MONITOR, FACT_ALERT },
		{ "Protect", MODE_PROTECT, FACT_KILL },
	};
	char yaml[4096];

	(void)state;
	for (size_t mi = 0; mi < 2; mi++) {
		snprintf(yaml, sizeof(yaml), bi_yaml_fmt, modes[mi].mode);
		fx_init("bi.yaml", yaml);
		struct xspec user = { .uid = 1000, .euid = 1000 };
		struct xspec setuid = { .uid = 1000, .euid = 0 };
		exec_x(&web, 400, 1, "/bin/sh", &user);
		expect_n(0);

		/* a setuid binary: euid 1000 -> 0 */
		fork_p(&web, 400, 401);
		exec_x(&web, 401, 400, "/bin/mount", &setuid);
		expect_n(1);
		/* reported, never killed: the kernel does not decide on credentials */
		expect_got(0, FN_PRIV_ESC, FACT_ALERT, modes[mi].m, "builtin:privilege-escalation",
			   "privilege escalation", "", "/bin/mount");
		assert_int_equal(got[0].sev, SEV_CRITICAL);
		assert_int_equal(got[0].uid, 1000);
		assert_int_equal(got[0].euid, 0);
		assert_string_equal(got[0].msg, "mount became root (euid 1000 -> 0) without su or sudo");
		/* once per process */
		file_p(&web, 401, WACHT_FILE_OPEN, O_RDONLY, 3, "/proc/mounts", NULL);
		expect_n(1);

		/* su / sudo / doas are expected to; what they start is root already */
		fork_p(&web, 400, 402);
		exec_x(&web, 402, 400, "/bin/su", &setuid);
		fork_p(&web, 402, 403);
		exec_x(&web, 403, 402, "/bin/id", &(struct xspec){ .uid = 0, .euid = 0 });
		fork_p(&web, 400, 404);
		exec_x(&web, 404, 400, "/bin/sudo", &setuid);
		fork_p(&web, 400, 405);
		exec_x(&web, 405, 400, "/bin/doas", &setuid);
		/* root staying root */
		exec_x(&web, 406, 1, "/bin/sh", &(struct xspec){ .uid = 0, .euid = 0 });
		fork_p(&web, 406, 407);
		exec_x(&web, 407, 406, "/bin/mount", &(struct xspec){ .uid = 0, .euid = 0 });
		/* dropping root is not escalating */
		exec_x(&web, 408, 406, "/bin/sh", &(struct xspec){ .uid = 0, .euid = 1000 });
		/* the first process ever seen: nothing to compare with */
		exec_x(&web, 409, 77, "/bin/mount", &setuid);
		expect_n(1);

		/* a non-exec event of a process that became root (commit_creds) */
		exec_x(&web, 420, 1, "/bin/sh", &user);
		file_x(&web, 420, WACHT_FILE_OPEN, O_RDONLY, 3, "/etc/shadow", NULL, 0);
		expect_n(2);
		expect_got(1, FN_PRIV_ESC, FACT_ALERT, modes[mi].m, "builtin:privilege-escalation",
			   "privilege escalation", "", "/bin/sh");
		assert_string_equal(got[1].msg, "sh became root (euid 1000 -> 0) without su or sudo");
		assert_string_equal(got[1].fpath, ""); /* not a file finding */

		/* a host process: credentials tracked, no finding */
		exec_x(NULL, 500, 1, "/usr/bin/bash", &user);
		fork_p(NULL, 500, 501);
		exec_x(NULL, 501, 500, "/usr/bin/passwd", &setuid);
		expect_n(2);
		assert_int_equal(proc_table__lookup(pt, 501)->euid, 0);
		fx_teardown(NULL);
	}
}

static void test_builtin_package_manager(void **state)
{
	char yaml[4096];

	(void)state;
	snprintf(yaml, sizeof(yaml), bi_yaml_fmt, "Protect");
	fx_init("bi.yaml", yaml);
	exec_p(&web, 100, 1, "/usr/bin/apt-get");
	expect_n(2);
	expect_got(0, FN_PACKAGE_MANAGER, FACT_KILL, MODE_PROTECT, "builtin:package-manager",
		   "package manager", "", "/usr/bin/apt-get");
	assert_int_equal(got[0].sev, SEV_MEDIUM);
	assert_string_equal(got[0].msg, "package manager apt-get runs in a container");
	expect_got(1, FN_PROCESS_VIOLATION, FACT_KILL, MODE_PROTECT, "profile:nv.web.shop", "",
		   "nv.web.shop", "/usr/bin/apt-get");
	/* explicitly allowed: reported, not killed */
	exec_p(&web, 101, 1, "/bin/rpm");
	expect_n(3);
	expect_got(2, FN_PACKAGE_MANAGER, FACT_ALERT, MODE_PROTECT, "builtin:package-manager",
		   "package manager", "", "/bin/rpm");
	/* by the exe when the name is not it */
	exec_x(&web, 102, 1, "/bin/apk", &(struct xspec){ .filename = "/proc/self/exe", .argv0 = "x" });
	expect_n(4);
	expect_got(3, FN_PACKAGE_MANAGER, FACT_ALERT, MODE_PROTECT, "builtin:package-manager",
		   "package manager", "", "/bin/apk");
	/* near misses */
	exec_p(&web, 103, 1, "/bin/apt-cache");
	exec_p(&web, 104, 1, "/bin/dpkg-query");
	exec_p(&web, 105, 1, "/bin/rpm2cpio");
	expect_n(4);
	fx_teardown(NULL);
}

static void test_builtin_files(void **state)
{
	/* want: NULL none; else finding name and rule name */
	static const struct {
		uint32_t op, oflags;
		int64_t result;
		const char *path, *path2;
		const char *name, *rname, *fpath, *fop;
	} cases[] = {
		{ WACHT_FILE_OPEN, O_WRONLY, 3, "/var/lib/dpkg/status", NULL, FN_PACKAGE_UPDATED,
		  "package database", "/var/lib/dpkg/status", "modify" },
		{ WACHT_FILE_RENAME, 0, 0, "/var/lib/rpm/.tmp", "/var/lib/rpm/Packages", FN_PACKAGE_UPDATED,
		  "package database", "/var/lib/rpm/Packages", "rename" },
		{ WACHT_FILE_OPEN, O_WRONLY | O_CREAT, 3, "/lib/apk/db/installed", NULL, FN_PACKAGE_UPDATED,
		  "package database", "/lib/apk/db/installed", "create" },
		{ WACHT_FILE_UNLINK, 0, 0, "/usr/lib/sysimage/rpm/rpmdb.sqlite", NULL, FN_PACKAGE_UPDATED,
		  "package database", "/usr/lib/sysimage/rpm/rpmdb.sqlite", "delete" },
		{ WACHT_FILE_OPEN, O_RDONLY, 3, "/var/lib/dpkg/status", NULL, NULL, NULL, NULL, NULL },
		{ WACHT_FILE_OPEN, O_WRONLY, -EACCES, "/var/lib/dpkg/status", NULL, NULL, NULL, NULL, NULL },
		{ WACHT_FILE_OPEN, O_WRONLY, 3, "/var/lib/dpkgx", NULL, NULL, NULL, NULL, NULL },
		{ WACHT_FILE_OPEN, O_WRONLY, 3, "/etc/passwd", NULL, FN_FILE_MODIFIED, "account database",
		  "/etc/passwd", "modify" },
		{ WACHT_FILE_OPEN, O_RDWR | O_TRUNC, 3, "/etc/shadow", NULL, FN_FILE_MODIFIED,
		  "account database", "/etc/shadow", "modify" },
		{ WACHT_FILE_OPEN, O_WRONLY | O_CREAT, 3, "/etc/sudoers.d/90-evil", NULL, FN_FILE_MODIFIED,
		  "account database", "/etc/sudoers.d/90-evil", "create" },
		{ WACHT_FILE_OPEN, O_WRONLY | O_TRUNC, 3, "/etc/resolv.conf", NULL, FN_FILE_MODIFIED,
		  "name resolution", "/etc/resolv.conf", "modify" },
		{ WACHT_FILE_RENAME, 0, 0, "/tmp/p", "/etc/ld.so.preload", FN_FILE_MODIFIED,
		  "dynamic loader", "/etc/ld.so.preload", "rename" },
		{ WACHT_FILE_CHMOD, 0, 0, "/usr/bin/x", NULL, FN_FILE_MODIFIED, "binary directory",
		  "/usr/bin/x", "chmod" },
		{ WACHT_FILE_CHOWN, 0, 0, "/usr/local/sbin/y", NULL, FN_FILE_MODIFIED, "binary directory",
		  "/usr/local/sbin/y", "chown" },
		{ WACHT_FILE_OPEN, O_WRONLY | O_CREAT, 3, "/usr/lib/x86_64-linux-gnu/libevil.so.1", NULL,
		  FN_FILE_MODIFIED, "core library", "/usr/lib/x86_64-linux-gnu/libevil.so.1", "create" },
		{ WACHT_FILE_UNLINK, 0, 0, "/home/u/.ssh/authorized_keys", NULL, FN_FILE_MODIFIED,
		  "ssh keys", "/home/u/.ssh/authorized_keys", "delete" },
		{ WACHT_FILE_MKDIR, 0, 0, "/root/.ssh", NULL, FN_FILE_MODIFIED, "ssh keys", "/root/.ssh",
		  "create" },
		/* negatives */
		{ WACHT_FILE_OPEN, O_RDONLY, 3, "/etc/shadow", NULL, NULL, NULL, NULL, NULL },
		{ WACHT_FILE_OPEN, O_WRONLY, -EACCES, "/etc/passwd", NULL, NULL, NULL, NULL, NULL },
		{ WACHT_FILE_OPEN, O_WRONLY, 3, "/etc/passwdx", NULL, NULL, NULL, NULL, NULL },
		{ WACHT_FILE_OPEN, O_WRONLY, 3, "/usr/lib/python3/x.py", NULL, NULL, NULL, NULL, NULL },
		{ WACHT_FILE_OPEN, O_WRONLY, 3, "/home/u/.sshx", NULL, NULL, NULL, NULL, NULL },
		{ WACHT_FILE_OPEN, O_WRONLY, 3, "/binx/y", NULL, NULL, NULL, NULL, NULL },
		{ WACHT_FILE_OPEN, O_WRONLY | O_CREAT, 3, "/tmp/out", NULL, NULL, NULL, NULL, NULL },
		{ WACHT_FILE_UNLINK, 0, -ENOENT, "/usr/bin/x", NULL, NULL, NULL, NULL, NULL },
	};
	char yaml[4096];

	(void)state;
	snprintf(yaml, sizeof(yaml), bi_yaml_fmt, "Protect");
	fx_init("bi.yaml", yaml);
	exec_p(&web, 100, 1, "/bin/sh");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t before = n_got;
		file_p(&web, 100, cases[i].op, cases[i].oflags, cases[i].result, cases[i].path,
		       cases[i].path2);
		if (!cases[i].name) {
			if (n_got != before)
				fprintf(stderr, "file case %zu %s: unexpected %s\n", i, cases[i].path,
					got[before].msg);
			assert_int_equal(n_got, before);
			continue;
		}
		if (n_got != before + 1)
			fprintf(stderr, "file case %zu %s: %zu findings\n", i, cases[i].path, n_got - before);
		assert_int_equal(n_got, before + 1);
		struct got *g = &got[before];
		bool pkg = strcmp(cases[i].name, FN_PACKAGE_UPDATED) == 0;
		assert_string_equal(g->name, cases[i].name);
		assert_string_equal(g->rule_id, pkg ? "builtin:package-database" : "builtin:monitored-file");
		assert_string_equal(g->rule_name, cases[i].rname);
		assert_string_equal(g->rule_group, "");
		assert_int_equal(g->action, FACT_ALERT); /* reported, never blocked */
		assert_int_equal(g->mode, MODE_PROTECT);
		assert_int_equal(g->sev, pkg ? SEV_MEDIUM : SEV_HIGH);
		assert_true(g->has_file);
		assert_string_equal(g->fpath, cases[i].fpath);
		assert_string_equal(g->fop, cases[i].fop);
		assert_string_equal(g->exe, "/bin/sh");
		assert_string_equal(g->pname, "sh");
	}
	expect_n(14);
	assert_string_equal(got[0].msg, "sh changed the dpkg package database (modify /var/lib/dpkg/status)");
	assert_string_equal(got[1].msg, "sh changed the rpm package database (rename /var/lib/rpm/Packages)");
	assert_string_equal(got[4].msg, "sh: modify /etc/passwd (account database)");
	fx_teardown(NULL);
}

/* ------------------------------------------------------------------ */
/* File rules                                                          */

static const char *file_yaml_fmt =
	WEB_GROUP_HEAD("  process_profile: {baseline: basic, mode: %s}\n")
	"  process:\n"
	"  - {name: \"*\", path: \"*\", action: allow}\n"
	"  file:\n"
	"  - {filter: /etc/app/*, recursive: true, behavior: monitor_change}\n"
	"  - {filter: /etc/hosts, recursive: false, behavior: monitor_change}\n"
	"  - {filter: /etc/secret/*, recursive: true, behavior: block_access, app: [nginx]}\n"
	"  - {filter: /data/*.db, recursive: false, behavior: block_access, app: [postgres, a-very-long-app-name]}\n";

static void test_file_rules(void **state)
{
	static const struct {
		const char *mode;
		enum policy_mode m;
		enum finding_action act;
	} modes[] = {
		{ "Monitor", MODE_MONITOR, FACT_ALERT },
		{ "Protect", MODE_PROTECT, FACT_DENY },
	};
	char yaml[4096];

	(void)state;
	for (size_t mi = 0; mi < 2; mi++) {
		snprintf(yaml, sizeof(yaml), file_yaml_fmt, modes[mi].mode);
		fx_init("file.yaml", yaml);
		const char *app_rule = rule_id("file.yaml", yaml, "filter: /etc/app/*");
		const char *hosts_rule = rule_id("file.yaml", yaml, "filter: /etc/hosts");
		const char *secret_rule = rule_id("file.yaml", yaml, "filter: /etc/secret/*");
		const char *db_rule = rule_id("file.yaml", yaml, "filter: /data/*.db");
		exec_p(&web, 600, 1, "/usr/sbin/nginx");
		exec_p(&web, 601, 1, "/bin/cat");
		exec_p(&web, 602, 1, "/bin/sh");
		exec_p(&web, 603, 1, "/usr/local/bin/a-very-long-app-name");
		expect_n(0);

		/* monitor_change: successful changes only */
		file_p(&web, 602, WACHT_FILE_OPEN, O_WRONLY | O_CREAT, 3, "/etc/app/conf.d/a.conf", NULL);
		expect_n(1);
		expect_got(0, FN_FILE_MODIFIED, FACT_ALERT, modes[mi].m, app_rule, "/etc/app/*",
			   "nv.web.shop", "/bin/sh");
		assert_int_equal(got[0].sev, SEV_MEDIUM);
		assert_string_equal(got[0].fpath, "/etc/app/conf.d/a.conf");
		assert_string_equal(got[0].fop, "create");
		assert_string_equal(got[0].msg, "sh: create /etc/app/conf.d/a.conf (watched by /etc/app/*)");
		/* O_CREAT on a file that exists (the kernel did not mark it
		 * created): a modification, and not aggregated with the create */
		created_off = true;
		file_p(&web, 602, WACHT_FILE_OPEN, O_WRONLY | O_CREAT | O_APPEND, 3, "/etc/app/conf.d/a.conf",
		       NULL);
		created_off = false;
		expect_n(2);
		assert_string_equal(got[1].fop, "modify");
		assert_string_equal(got[1].msg, "sh: modify /etc/app/conf.d/a.conf (watched by /etc/app/*)");
		got_pop();
		file_p(&web, 602, WACHT_FILE_OPEN, O_WRONLY, -EACCES, "/etc/app/b.conf", NULL);
		file_p(&web, 602, WACHT_FILE_OPEN, O_RDONLY, 3, "/etc/app/b.conf", NULL);
		file_p(&web, 602, WACHT_FILE_OPEN, O_WRONLY, 3, "/etc/apps/b.conf", NULL);
		expect_n(1);
		/* a rule on a monitored file reports once, as the rule */
		file_p(&web, 602, WACHT_FILE_OPEN, O_WRONLY | O_APPEND, 3, "/etc/hosts", NULL);
		expect_n(2);
		expect_got(1, FN_FILE_MODIFIED, FACT_ALERT, modes[mi].m, hosts_rule, "/etc/hosts",
			   "nv.web.shop", "/bin/sh");
		assert_string_equal(got[1].fop, "modify");
		/* renamed into the watched directory */
		file_p(&web, 602, WACHT_FILE_RENAME, 0, 0, "/tmp/n", "/etc/app/new.conf");
		expect_n(3);
		assert_string_equal(got[2].rule_id, app_rule);
		assert_string_equal(got[2].fpath, "/etc/app/new.conf");
		assert_string_equal(got[2].fop, "rename");

		/* block_access: the listed app may, others may not */
		file_p(&web, 600, WACHT_FILE_OPEN, O_RDONLY, 3, "/etc/secret/tls/key.pem", NULL);
		file_p(&web, 603, WACHT_FILE_OPEN, O_RDONLY, 3, "/data/main.db", NULL);
		expect_n(3);
		file_p(&web, 601, WACHT_FILE_OPEN, O_RDONLY, 3, "/etc/secret/tls/key.pem", NULL);
		expect_n(4);
		expect_got(3, FN_FILE_VIOLATION, modes[mi].act, modes[mi].m, secret_rule, "/etc/secret/*",
			   "nv.web.shop", "/bin/cat");
		assert_int_equal(got[3].sev, SEV_HIGH);
		assert_string_equal(got[3].fpath, "/etc/secret/tls/key.pem");
		assert_string_equal(got[3].fop, "access");
		assert_string_equal(got[3].msg,
				    "cat may not access /etc/secret/tls/key.pem (block_access /etc/secret/*)");
		/* a write by another app */
		file_p(&web, 602, WACHT_FILE_OPEN, O_WRONLY | O_TRUNC, 3, "/data/main.db", NULL);
		expect_n(5);
		expect_got(4, FN_FILE_VIOLATION, modes[mi].act, modes[mi].m, db_rule, "/data/*.db",
			   "nv.web.shop", "/bin/sh");
		assert_string_equal(got[4].fop, "modify");
		/* not recursive: below /data is not covered; not *.db either */
		file_p(&web, 602, WACHT_FILE_OPEN, O_RDONLY, 3, "/data/sub/x.db", NULL);
		file_p(&web, 602, WACHT_FILE_OPEN, O_RDONLY, 3, "/data/main.dbx", NULL);
		file_p(&web, 602, WACHT_FILE_OPEN, O_RDONLY, 3, "/etc/secretx", NULL);
		expect_n(5);
		fx_teardown(NULL);
	}

	/* Discover: the app is learned, then it may */
	snprintf(yaml, sizeof(yaml), file_yaml_fmt, "Discover");
	fx_init("file.yaml", yaml);
	exec_p(&web, 601, 1, "/bin/cat");
	exec_p(&web, 600, 1, "/usr/sbin/nginx");
	file_p(&web, 601, WACHT_FILE_OPEN, O_RDONLY, 3, "/etc/secret/tls/key.pem", NULL);
	expect_n(1);
	expect_got(0, FN_FILE_LEARNED, FACT_LEARN, MODE_DISCOVER,
		   rule_id("file.yaml", yaml, "filter: /etc/secret/*"), "/etc/secret/*", "nv.web.shop",
		   "/bin/cat");
	assert_int_equal(got[0].sev, SEV_INFO);
	assert_string_equal(got[0].msg, "learned cat as an app of /etc/secret/*");
	const struct group *g = grp("nv.web.shop");
	assert_int_equal(g->n_files, 4);
	assert_int_equal(g->files[2].n_apps, 2);
	assert_string_equal(g->files[2].apps[0], "nginx");
	assert_string_equal(g->files[2].apps[1], "cat");
	assert_int_equal(n_learned_cb, 1);
	assert_int_equal(last_learned_group, (size_t)policy__group_find(engine__policy(eng), "nv.web.shop"));
	file_p(&web, 601, WACHT_FILE_OPEN, O_RDONLY, 3, "/etc/secret/other", NULL);
	file_p(&web, 600, WACHT_FILE_OPEN, O_RDONLY, 3, "/etc/secret/other", NULL);
	expect_n(1);
	assert_int_equal(grp("nv.web.shop")->files[2].n_apps, 2);
	fx_teardown(NULL);
}

/* Protect with a file guard: the finding says deny only for an open the
 * guard really stopped; other operations are never stopped. */
static bool guard_answer;
static size_t guard_asked;
static uint32_t guard_tgid;
static char guard_path[64];

static bool guard_cb(void *ctx, const struct wacht_event *ev)
{
	(void)ctx;
	guard_asked++;
	guard_tgid = ev->hdr->tgid;
	snprintf(guard_path, sizeof(guard_path), "%s", ev->path);
	return guard_answer;
}

static void test_file_guard_decides(void **state)
{
	char yaml[4096];
	const char *id;

	(void)state;
	fx_file_denied = guard_cb;
	guard_asked = 0;
	snprintf(yaml, sizeof(yaml), file_yaml_fmt, "Protect");
	fx_init("file.yaml", yaml);
	fx_file_denied = NULL;
	id = rule_id("file.yaml", yaml, "filter: /etc/secret/*");
	exec_p(&web, 600, 1, "/usr/sbin/nginx");
	exec_p(&web, 601, 1, "/bin/cat");
	exec_p(&web, 602, 1, "/bin/rm");

	/* the listed app: no finding, the guard is not asked */
	file_p(&web, 600, WACHT_FILE_OPEN, O_RDONLY, 3, "/etc/secret/key", NULL);
	expect_n(0);
	assert_int_equal(guard_asked, 0);

	/* stopped by the guard: deny */
	guard_answer = true;
	file_p(&web, 601, WACHT_FILE_OPEN, O_RDONLY, -EPERM, "/etc/secret/key", NULL);
	expect_n(1);
	assert_int_equal(guard_asked, 1);
	assert_int_equal(guard_tgid, 601);
	assert_string_equal(guard_path, "/etc/secret/key");
	expect_got(0, FN_FILE_VIOLATION, FACT_DENY, MODE_PROTECT, id, "/etc/secret/*", "nv.web.shop",
		   "/bin/cat");
	assert_string_equal(got[0].msg, "cat may not access /etc/secret/key (block_access /etc/secret/*)");

	/* the open succeeded: not stopped (the guard was off, or the
	 * container not marked yet), and the guard is not asked (a stale
	 * record of that process must not make it a deny) */
	file_p(&web, 601, WACHT_FILE_OPEN, O_RDONLY, 3, "/etc/secret/other", NULL);
	expect_n(2);
	assert_int_equal(guard_asked, 1);
	expect_got(1, FN_FILE_VIOLATION, FACT_ALERT, MODE_PROTECT, id, "/etc/secret/*", "nv.web.shop",
		   "/bin/cat");
	assert_string_equal(got[1].msg, "cat may not access /etc/secret/other (block_access "
					"/etc/secret/*); not enforced: the open was not stopped");
	/* EPERM from something else than the guard */
	guard_answer = false;
	file_p(&web, 601, WACHT_FILE_OPEN, O_WRONLY, -EPERM, "/etc/secret/third", NULL);
	expect_n(3);
	assert_int_equal(guard_asked, 2);
	assert_int_equal(got[2].action, FACT_ALERT);
	assert_string_equal(got[2].msg, "cat may not access /etc/secret/third (block_access "
					"/etc/secret/*); not enforced: the open was not stopped");
	got_pop();

	/* an unlink is never stopped: the guard is not asked */
	guard_answer = true;
	file_p(&web, 602, WACHT_FILE_UNLINK, 0, 0, "/etc/secret/key", NULL);
	expect_n(3);
	assert_int_equal(guard_asked, 2);
	expect_got(2, FN_FILE_VIOLATION, FACT_ALERT, MODE_PROTECT, id, "/etc/secret/*", "nv.web.shop",
		   "/bin/rm");
	assert_string_equal(got[2].fop, "delete");
	assert_string_equal(got[2].msg, "rm may not access /etc/secret/key (block_access "
					"/etc/secret/*); not enforced: only opens and executions are "
					"blocked");
	fx_teardown(NULL);

	/* Monitor: an alert, the guard is not asked */
	fx_file_denied = guard_cb;
	snprintf(yaml, sizeof(yaml), file_yaml_fmt, "Monitor");
	fx_init("file.yaml", yaml);
	fx_file_denied = NULL;
	exec_p(&web, 601, 1, "/bin/cat");
	file_p(&web, 601, WACHT_FILE_OPEN, O_RDONLY, 3, "/etc/secret/key", NULL);
	expect_n(1);
	assert_int_equal(got[0].action, FACT_ALERT);
	assert_string_equal(got[0].msg, "cat may not access /etc/secret/key (block_access /etc/secret/*)");
	assert_int_equal(guard_asked, 2);
	fx_teardown(NULL);
}

/* ------------------------------------------------------------------ */
/* Network                                                             */

static const char *net_yaml_fmt =
	"apiVersion: neuvector.com/v1\n"
	"kind: NvSecurityRule\n"
	"metadata: {name: nv.db.shop, namespace: shop}\n"
	"spec:\n"
	"  target:\n"
	"    selector: {name: nv.db.shop, criteria: [{key: service, op: \"=\", value: db}, {key: domain, op: \"=\", value: shop}]}\n"
	"---\n"
	"apiVersion: neuvector.com/v1\n"
	"kind: NvClusterSecurityRule\n"
	"metadata: {name: corp}\n"
	"spec:\n"
	"  target:\n"
	"    selector: {name: corp, criteria: [{key: address, op: \"=\", value: 10.20.0.0/16}]}\n"
	"---\n"
	"apiVersion: neuvector.com/v1\n"
	"kind: NvSecurityRule\n"
	"metadata: {name: nv.web.shop, namespace: shop}\n"
	"spec:\n"
	"  target:\n"
	"    policymode: %s\n"
	"    selector:\n"
	"      name: nv.web.shop\n"
	"      criteria: [{key: service, op: \"=\", value: web}, {key: domain, op: \"=\", value: shop}]\n"
	"  egress:\n"
	"  - {name: corp-any, action: allow, ports: any, priority: 5, selector: {name: corp}}\n"
	"  - {name: corp-ssh, action: deny, ports: tcp/22, priority: 1, selector: {name: corp}}\n"
	"  - {name: to-db, action: allow, ports: tcp/5432, selector: {name: nv.db.shop}}\n"
	"  - {name: deny-ext-smtp, action: deny, ports: tcp/25, selector: {name: external}}\n"
	"  - {name: ext-web, action: allow, ports: \"tcp/80,tcp/443,tcp/8000-8080\", selector: {name: external}}\n"
	"  - {name: ext-no-8080, action: deny, ports: tcp/8080, selector: {name: external}}\n"
	"  - {name: ext-dns, action: allow, ports: udp/53, selector: {name: external}}\n"
	"  - {name: kubelet, action: allow, ports: tcp/10250, selector: {name: nodes}}\n"
	"  ingress:\n"
	"  - {name: from-lb, action: allow, ports: tcp/8080, selector: {name: nv.lb.shop, criteria: [{key: service, op: \"=\", value: lb}]}}\n"
	"  - {name: from-any-container, action: deny, ports: tcp/9100, selector: {name: containers}}\n";

static const struct engine_peer peer_db = { ENTITY_CONTAINER, &db };
static const struct engine_peer peer_lb = { ENTITY_CONTAINER, &lb };
static const struct engine_peer peer_host = { ENTITY_HOST, NULL };
static const struct engine_peer peer_ext = { ENTITY_EXTERNAL, NULL };
static const struct engine_peer peer_rdb = { ENTITY_CONTAINER, &rdb, NULL, "nv.db.shop" };
static const struct engine_peer peer_rcache = { ENTITY_CONTAINER, &rcache, NULL, "nv.cache.shop" };

static void test_network(void **state)
{
	/* expect: NULL allowed, a rule name (denied by it), "" unmatched */
	static const struct {
		uint32_t op;
		uint8_t proto;
		const char *raddr;
		uint16_t rport, lport;
		const struct engine_peer *peer;
		const char *expect, *peer_group;
	} cases[] = {
		/* container peer, by its group */
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "10.244.1.8", 5432, 0, &peer_db, NULL, NULL },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "10.244.1.8", 5433, 0, &peer_db, "", "nv.db.shop" },
		{ WACHT_NET_UDP_SEND, IPPROTO_UDP, "10.244.1.8", 5432, 0, &peer_db, "", "nv.db.shop" },
		/* a pod of another node: by its group like one here (the
		 * state computed for one is not another's) */
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "10.244.2.8", 5432, 0, &peer_rdb, NULL, NULL },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "10.244.2.5", 5432, 0, &peer_rcache, "", "nv.cache.shop" },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "10.244.2.8", 5433, 0, &peer_rdb, "", "nv.db.shop" },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "10.244.2.8", 5432, 0, &peer_rdb, NULL, NULL },
		/* the same address unresolved is external, not the db */
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "10.244.1.8", 5432, 0, NULL, "", "external" },
		/* external: ports, lists, ranges, order */
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 443, 0, &peer_ext, NULL, NULL },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 80, 0, NULL, NULL, NULL },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 8000, 0, NULL, NULL, NULL },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 8080, 0, NULL, NULL, NULL }, /* ext-web before ext-no-8080 */
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 8081, 0, NULL, "", "external" },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 7999, 0, NULL, "", "external" },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 25, 0, NULL, "deny-ext-smtp", "external" },
		{ WACHT_NET_UDP_SEND, IPPROTO_UDP, "203.0.113.53", 53, 0, NULL, NULL, NULL },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.53", 53, 0, NULL, "", "external" },
		{ WACHT_NET_UDP_SEND, IPPROTO_UDP, "203.0.113.10", 443, 0, NULL, "", "external" },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "2001:db8::10", 443, 0, NULL, NULL, NULL },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "2001:db8::10", 444, 0, NULL, "", "external" },
		/* address group: priority before order */
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "10.20.3.4", 22, 0, NULL, "corp-ssh", "corp" },
		{ WACHT_NET_UDP_SEND, IPPROTO_UDP, "10.20.3.4", 5000, 0, NULL, NULL, NULL },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "10.20.3.4", 25, 0, NULL, "deny-ext-smtp", "corp" },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "10.21.3.4", 22, 0, NULL, "", "external" },
		/* hosts */
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "192.0.2.2", 10250, 0, &peer_host, NULL, NULL },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "192.0.2.2", 10255, 0, &peer_host, "", "nodes" },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "192.0.2.9", 10250, 0, NULL, "", "external" },
		/* ingress: by the local port */
		{ WACHT_NET_ACCEPT, IPPROTO_TCP, "10.244.1.9", 51000, 8080, &peer_lb, NULL, NULL },
		{ WACHT_NET_ACCEPT, IPPROTO_TCP, "10.244.1.9", 51000, 9090, &peer_lb, "", "nv.lb.shop" },
		{ WACHT_NET_ACCEPT, IPPROTO_TCP, "203.0.113.10", 51000, 8080, NULL, "", "external" },
		{ WACHT_NET_ACCEPT, IPPROTO_TCP, "10.244.1.8", 51000, 9100, &peer_db, "from-any-container", "nv.db.shop" },
		{ WACHT_NET_ACCEPT, IPPROTO_TCP, "10.244.2.8", 51000, 9100, &peer_rdb, "from-any-container", "nv.db.shop" },
		/* loopback, bind and listen: not evaluated */
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "127.0.0.1", 9999, 0, NULL, NULL, NULL },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "127.1.2.3", 25, 0, NULL, NULL, NULL },
		{ WACHT_NET_CONNECT, IPPROTO_TCP, "::1", 9999, 0, NULL, NULL, NULL },
		{ WACHT_NET_BIND, IPPROTO_TCP, "0.0.0.0", 0, 9999, NULL, NULL, NULL },
		{ WACHT_NET_LISTEN, IPPROTO_TCP, "0.0.0.0", 0, 9999, NULL, NULL, NULL },
	};
	static const struct {
		const char *mode;
		enum policy_mode m;
		enum finding_action act;
	} modes[] = {
		{ "Monitor", MODE_MONITOR, FACT_ALERT },
		{ "Protect", MODE_PROTECT, FACT_DENY },
	};
	char yaml[8192];

	(void)state;
	for (size_t mi = 0; mi < 2; mi++) {
		snprintf(yaml, sizeof(yaml), net_yaml_fmt, modes[mi].mode);
		fx_init("net.yaml", yaml);
		exec_p(&web, 700, 1, "/usr/bin/curl");
		expect_n(1); /* process mode: Discover (learned) */
		assert_string_equal(got[0].name, FN_PROCESS_LEARNED);
		size_t n_expected = 1;
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			size_t before = n_got;
			bool in = cases[i].op == WACHT_NET_ACCEPT;
			uint16_t port = in ? cases[i].lport : cases[i].rport;
			const char *proto = cases[i].proto == IPPROTO_TCP ? "tcp" : "udp";
			char msg[256], ridbuf[64];

			/* in Protect the kernel refuses what the policy forbids */
			net_flags = modes[mi].m == MODE_PROTECT && cases[i].expect ? WACHT_F_DENIED : 0;
			net_x(&web, 700,
			      &(struct nspec){ cases[i].op, cases[i].proto, cases[i].raddr, cases[i].rport,
					       cases[i].lport },
			      cases[i].peer);
			net_flags = 0;
			if (!cases[i].expect) {
				if (n_got != before)
					fprintf(stderr, "net case %zu: unexpected %s\n", i, got[before].msg);
				assert_int_equal(n_got, before);
				continue;
			}
			if (n_got != before + 1)
				fprintf(stderr, "net case %zu: %zu findings\n", i, n_got - before);
			assert_int_equal(n_got, before + 1);
			n_expected++;
			struct got *g = &got[before];
			assert_string_equal(g->name, FN_NET_VIOLATION);
			assert_int_equal(g->action, modes[mi].act);
			assert_int_equal(g->mode, modes[mi].m);
			assert_true(g->has_net);
			assert_int_equal(g->inbound, in);
			assert_int_equal(g->proto, cases[i].proto);
			assert_int_equal(g->rport, cases[i].rport);
			assert_int_equal(g->lport, in ? cases[i].lport : 41000);
			assert_string_equal(g->peer, cases[i].peer_group);
			assert_string_equal(g->exe, "/usr/bin/curl");
			assert_string_equal(g->rule_group, "nv.web.shop");
			uint8_t a[16] = { 0 };
			assert_int_equal(inet_pton(strchr(cases[i].raddr, ':') ? AF_INET6 : AF_INET,
						   cases[i].raddr, a),
					 1);
			assert_memory_equal(g->raddr, a, 16);
			assert_int_equal(g->family, strchr(cases[i].raddr, ':') ? AF_INET6 : AF_INET);
			if (cases[i].expect[0]) {
				snprintf(ridbuf, sizeof(ridbuf), "name: %s,", cases[i].expect);
				assert_string_equal(g->rule_id, rule_id("net.yaml", yaml, ridbuf));
				assert_string_equal(g->rule_name, cases[i].expect);
				assert_int_equal(g->sev, SEV_HIGH);
				snprintf(msg, sizeof(msg), "%s %s/%u %s nv.web.shop denied by rule %s",
					 in ? "from" : "to", proto, port, in ? "to" : "from", cases[i].expect);
			} else {
				assert_string_equal(g->rule_id, "profile:nv.web.shop");
				assert_string_equal(g->rule_name, "");
				assert_int_equal(g->sev, SEV_MEDIUM);
				snprintf(msg, sizeof(msg), "%s %s %s/%u matches no network rule",
					 in ? "connection from" : "connection to", cases[i].peer_group, proto,
					 port);
			}
			assert_string_equal(g->msg, msg);
		}
		expect_n(n_expected);
		assert_int_equal(n_expected, 1 + 17 + 3);
		assert_int_equal(n_learned_cb, 1);
		fx_teardown(NULL);
	}
}

/* A dual-stack socket reaches 127.0.0.1 as ::ffff:127.0.0.1: still loopback. */
static void test_network_mapped_loopback(void **state)
{
	char yaml[8192];

	(void)state;
	snprintf(yaml, sizeof(yaml), net_yaml_fmt, "Protect");
	fx_init("net.yaml", yaml);
	exec_p(&web, 700, 1, "/usr/bin/java");
	expect_n(1);
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "::ffff:127.0.0.1", 9999, 0 },
	      NULL);
	expect_n(1);
	/* and 10.20.3.4 reached that way is still in the address group corp */
	net_flags = WACHT_F_DENIED;
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "::ffff:10.20.3.4", 22, 0 },
	      NULL);
	net_flags = 0;
	expect_n(2);
	expect_got(1, FN_NET_VIOLATION, FACT_DENY, MODE_PROTECT,
		   rule_id("net.yaml", yaml, "name: corp-ssh"), "corp-ssh", "nv.web.shop",
		   "/usr/bin/java");
	assert_string_equal(got[1].peer, "corp");
	fx_teardown(NULL);
}

/* The finding says what the kernel did: refused (WACHT_F_DENIED) is deny;
 * forbidden but let through is alert with the reason; refused though the
 * engine's policy allows it (compiled before a change) is deny. An inbound
 * SYN the kernel dropped comes without a process. */
static void test_network_kernel_verdict(void **state)
{
	char yaml[8192];
	const struct engine_peer unenforced = { ENTITY_EXTERNAL, NULL,
						"the sensor runs with --alert-only" };

	(void)state;
	snprintf(yaml, sizeof(yaml), net_yaml_fmt, "Protect");
	fx_init("net.yaml", yaml);
	exec_p(&web, 700, 1, "/usr/bin/curl");
	expect_n(1);
	/* deny-ext-smtp, not refused: alert, and why */
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 25, 0 },
	      &unenforced);
	expect_n(2);
	expect_got(1, FN_NET_VIOLATION, FACT_ALERT, MODE_PROTECT,
		   rule_id("net.yaml", yaml, "name: deny-ext-smtp"), "deny-ext-smtp", "nv.web.shop",
		   "/usr/bin/curl");
	assert_string_equal(got[1].msg, "to tcp/25 from nv.web.shop denied by rule deny-ext-smtp "
					"(not enforced: the sensor runs with --alert-only)");
	/* no rule, not refused, reason unknown */
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 7, 0 },
	      NULL);
	expect_n(3);
	expect_got(2, FN_NET_VIOLATION, FACT_ALERT, MODE_PROTECT, "profile:nv.web.shop", "",
		   "nv.web.shop", "/usr/bin/curl");
	assert_string_equal(got[2].msg, "connection to external tcp/7 matches no network rule "
					"(not enforced: the kernel did not refuse it)");
	/* ext-web allows tcp/443, but the kernel (an older policy) refused it */
	net_flags = WACHT_F_DENIED;
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 443, 0 },
	      NULL);
	expect_n(4);
	expect_got(3, FN_NET_VIOLATION, FACT_DENY, MODE_PROTECT, "profile:nv.web.shop", "",
		   "nv.web.shop", "/usr/bin/curl");
	assert_string_equal(got[3].msg, "connection to external tcp/443 refused by the policy in "
					"the kernel, compiled before the last change");
	/* an inbound SYN dropped in the kernel (no process: pid 0) */
	net_x(&web, 0, &(struct nspec){ WACHT_NET_ACCEPT, IPPROTO_TCP, "203.0.113.10", 40000, 9100 },
	      &peer_ext);
	net_flags = 0;
	expect_n(5);
	expect_got(4, FN_NET_VIOLATION, FACT_DENY, MODE_PROTECT, "profile:nv.web.shop", "",
		   "nv.web.shop", "");
	assert_true(got[4].inbound);
	assert_int_equal(got[4].pid, 0);
	assert_int_equal(got[4].lport, 9100);
	assert_string_equal(got[4].msg, "connection from external tcp/9100 matches no network rule");
	fx_teardown(NULL);
}

static void test_network_discover(void **state)
{
	char yaml[8192];

	(void)state;
	snprintf(yaml, sizeof(yaml), net_yaml_fmt, "Discover");
	fx_init("net.yaml", yaml);
	exec_p(&web, 700, 1, "/usr/bin/curl");
	expect_n(1);
	size_t web_g = (size_t)policy__group_find(engine__policy(eng), "nv.web.shop");
	size_t n_net = engine__policy(eng)->n_net;

	/* egress to an external peer */
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 9000, 0 }, NULL);
	expect_n(2);
	expect_got(1, FN_NET_LEARNED, FACT_LEARN, MODE_DISCOVER, "learned:nv.web.shop", "learned-1",
		   "nv.web.shop", "/usr/bin/curl");
	assert_int_equal(got[1].sev, SEV_INFO);
	assert_string_equal(got[1].peer, "external");
	assert_string_equal(got[1].msg, "learned nv.web.shop -> external tcp/9000");
	assert_int_equal(n_learned_cb, 2);
	assert_int_equal(last_learned_group, web_g);
	const struct policy *p = engine__policy(eng);
	assert_int_equal(p->n_net, n_net + 1);
	const struct net_rule *r = NULL;
	for (size_t i = 0; i < p->n_net; i++)
		if (strcmp(p->net[i].name, "learned-1") == 0)
			r = &p->net[i];
	assert_non_null(r);
	assert_true(r->learned);
	assert_int_equal(r->action, ACTION_ALLOW);
	assert_int_equal(r->from, web_g);
	assert_int_equal(r->to, POLICY_G_EXTERNAL);
	assert_int_equal(r->owner, web_g);
	assert_false(r->ingress);
	assert_string_equal(r->ports_spec, "tcp/9000");
	/* then silent; another port is learned again */
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "198.51.100.7", 9000, 0 }, NULL);
	expect_n(2);
	net_x(&web, 700, &(struct nspec){ WACHT_NET_UDP_SEND, IPPROTO_UDP, "198.51.100.7", 9000, 0 }, NULL);
	expect_n(3);
	assert_string_equal(got[2].msg, "learned nv.web.shop -> external udp/9000");
	assert_string_equal(got[2].rule_name, "learned-2");

	/* explicit deny still alerts, nothing learned */
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 25, 0 }, NULL);
	expect_n(4);
	expect_got(3, FN_NET_VIOLATION, FACT_ALERT, MODE_DISCOVER,
		   rule_id("net.yaml", yaml, "name: deny-ext-smtp"), "deny-ext-smtp", "nv.web.shop",
		   "/usr/bin/curl");
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "203.0.113.10", 25, 0 }, NULL);
	expect_n(4); /* counted */

	/* an address group peer is learned as that group */
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "10.20.9.9", 22, 0 }, NULL);
	expect_n(5);
	expect_got(4, FN_NET_VIOLATION, FACT_ALERT, MODE_DISCOVER,
		   rule_id("net.yaml", yaml, "name: corp-ssh"), "corp-ssh", "nv.web.shop",
		   "/usr/bin/curl");
	assert_string_equal(got[4].peer, "corp");
	assert_int_equal(engine__policy(eng)->n_net, n_net + 2);
	fx_teardown(NULL);
}

static void test_network_discover_peers(void **state)
{
	static const char yaml[] =
		"apiVersion: neuvector.com/v1\n"
		"kind: NvClusterSecurityRule\n"
		"metadata: {name: corp}\n"
		"spec:\n"
		"  target:\n"
		"    selector: {name: corp, criteria: [{key: address, op: \"=\", value: 10.20.0.0/16}]}\n";

	(void)state;
	fx_init("peers.yaml", yaml);
	exec_p(&web, 700, 1, "/usr/bin/curl");
	exec_p(&lb, 800, 1, "/usr/sbin/haproxy");
	expect_n(2);
	/* container peers without groups yet: nv.db.shop is created */
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "10.244.1.8", 5432, 0 }, &peer_db);
	expect_n(3);
	expect_got(2, FN_NET_LEARNED, FACT_LEARN, MODE_DISCOVER, "learned:nv.web.shop", "learned-1",
		   "nv.web.shop", "/usr/bin/curl");
	assert_string_equal(got[2].msg, "learned nv.web.shop -> nv.db.shop tcp/5432");
	assert_string_equal(got[2].peer, "nv.db.shop");
	assert_int_equal(grp("nv.db.shop")->kind, GROUP_LEARNED);
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "10.244.1.8", 5432, 0 }, &peer_db);
	expect_n(3);
	/* inbound from lb: learned into web's group as ingress */
	net_x(&web, 700, &(struct nspec){ WACHT_NET_ACCEPT, IPPROTO_TCP, "10.244.1.9", 50123, 8080 }, &peer_lb);
	expect_n(4);
	assert_string_equal(got[3].msg, "learned nv.lb.shop -> nv.web.shop tcp/8080");
	assert_string_equal(got[3].rule_group, "nv.web.shop");
	assert_true(got[3].inbound);
	net_x(&web, 700, &(struct nspec){ WACHT_NET_ACCEPT, IPPROTO_TCP, "10.244.1.9", 50999, 8080 }, &peer_lb);
	expect_n(4);
	/* lb's side of the same connection: the rule lb -> web covers it */
	net_x(&lb, 800, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "10.244.1.7", 8080, 0 },
	      &(struct engine_peer){ ENTITY_CONTAINER, &web });
	expect_n(4);
	/* an address-group peer: learned as the group; a host as nodes */
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "10.20.1.1", 636, 0 }, NULL);
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "192.0.2.2", 10250, 0 }, &peer_host);
	expect_n(6);
	assert_string_equal(got[4].msg, "learned nv.web.shop -> corp tcp/636");
	assert_string_equal(got[4].peer, "corp");
	assert_string_equal(got[5].msg, "learned nv.web.shop -> nodes tcp/10250");
	assert_string_equal(got[5].peer, "nodes");
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "10.20.77.1", 636, 0 }, NULL);
	net_x(&web, 700, &(struct nspec){ WACHT_NET_CONNECT, IPPROTO_TCP, "192.0.2.3", 10250, 0 }, &peer_host);
	expect_n(6);
	fx_teardown(NULL);
}

/* ------------------------------------------------------------------ */
/* Aggregation through the engine                                      */

static void test_aggregation(void **state)
{
	struct engine_stats st;

	(void)state;
	fx_init("proc.yaml", proc_yaml("Monitor"));
	for (uint32_t i = 0; i < 100; i++)
		exec_p(&web, 2000 + i, 1, "/opt/app/loop");
	expect_n(1);
	assert_int_equal(got[0].count, 1);
	assert_int_equal(got[0].pid, 2000);
	assert_int_equal(engine__suppressed(eng), 99);
	engine__tick(eng, clock_ns); /* the window is still open */
	expect_n(1);
	flush();
	expect_n(2);
	assert_string_equal(got[1].name, FN_PROCESS_VIOLATION);
	assert_string_equal(got[1].rule_id, "profile:nv.web.shop");
	assert_string_equal(got[1].exe, "/opt/app/loop");
	assert_string_equal(got[1].cid, web_view.id);
	assert_int_equal(got[1].count, 99);
	assert_int_equal(got[0].count + got[1].count, 100);
	assert_string_equal(got[1].msg, "repeated 99 times in 1 s");
	engine__stats(eng, &st);
	assert_int_equal(st.findings, 100);
	assert_int_equal(st.evaluated, 100);

	/* after the window: a new first record */
	clock_ns += 2 * WINDOW_NS;
	exec_p(&web, 3000, 1, "/opt/app/loop");
	expect_n(3);
	assert_int_equal(got[2].count, 1);
	assert_int_equal(got[2].pid, 3000);
	fx_teardown(NULL);
}

/* Forget a container: its written-paths set goes with it. */
static void test_container_gone(void **state)
{
	char yaml[4096];
	struct engine_stats st;

	(void)state;
	snprintf(yaml, sizeof(yaml), zd_yaml_fmt, "zero-drift", "Monitor");
	fx_init("zd.yaml", yaml);
	exec_p(&web, 100, 1, "/opt/app/server");
	file_p(&web, 100, WACHT_FILE_OPEN, O_WRONLY | O_CREAT, 3, "/opt/app/tool", NULL);
	engine__container_gone(eng, web_view.cgroup_id);
	engine__container_gone(eng, 0xdead); /* unknown: nothing */
	engine__stats(eng, &st);
	assert_int_equal(st.recomputed, 1);
	exec_p(&web, 101, 100, "/opt/app/tool");
	expect_n(0);
	engine__stats(eng, &st);
	assert_int_equal(st.recomputed, 2);
	fx_teardown(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_teardown(test_process_matching, fx_teardown),
		cmocka_unit_test_teardown(test_mode_discover_learns, fx_teardown),
		cmocka_unit_test_teardown(test_mode_monitor_protect, fx_teardown),
		cmocka_unit_test_teardown(test_group_order, fx_teardown),
		cmocka_unit_test_teardown(test_mode_precedence, fx_teardown),
		cmocka_unit_test_teardown(test_mode_separate, fx_teardown),
		cmocka_unit_test_teardown(test_zero_drift, fx_teardown),
		cmocka_unit_test_teardown(test_kernel_verdicts, fx_teardown),
		cmocka_unit_test_teardown(test_builtin_suspicious, fx_teardown),
		cmocka_unit_test_teardown(test_builtin_reverse_shell, fx_teardown),
		cmocka_unit_test_teardown(test_builtin_escalation, fx_teardown),
		cmocka_unit_test_teardown(test_builtin_package_manager, fx_teardown),
		cmocka_unit_test_teardown(test_builtin_files, fx_teardown),
		cmocka_unit_test_teardown(test_file_rules, fx_teardown),
		cmocka_unit_test_teardown(test_file_guard_decides, fx_teardown),
		cmocka_unit_test_teardown(test_network, fx_teardown),
		cmocka_unit_test_teardown(test_network_mapped_loopback, fx_teardown),
		cmocka_unit_test_teardown(test_network_kernel_verdict, fx_teardown),
		cmocka_unit_test_teardown(test_network_discover, fx_teardown),
		cmocka_unit_test_teardown(test_network_discover_peers, fx_teardown),
		cmocka_unit_test_teardown(test_aggregation, fx_teardown),
		cmocka_unit_test_teardown(test_container_gone, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
