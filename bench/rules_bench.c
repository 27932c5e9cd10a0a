// SPDX-License-Identifier: Apache-2.0
/*
 * rules_bench: rule-matching throughput of the collector, one core.
 *
 * A synthetic stream of ring-buffer records as the kernel writes them (60%
 * file reads, 10% file writes, 15% execs, 15% connects, from 64 containers)
 * is decoded and evaluated over and over. Configurations, all in one run:
 *
 *   decode-only      event_decode + process-table upkeep, no rules: the floor
 *   default          rules/default.yaml (Discover: learns, then matches)
 *   default-monitor  the same groups in Monitor: unmatched execs and
 *                    connections become findings (aggregated)
 *   1000x50          1,000 groups (service/namespace criteria) x 50 rules
 *                    (30 process, 10 file, 10 network), Monitor
 *
 * Time is the thread's CPU time; each configuration runs --rounds times
 * (default 7) and the table shows the median. Usage:
 *   rules_bench [--rounds N] [--events N] [--rules-file rules/default.yaml]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/types.h>

#include "decode.h"
#include "engine.h"
#include "events.h"
#include "policy.h"
#include "proc_table.h"

#define N_CONTAINERS 64
#define PROCS_PER 4

struct stream {
	unsigned char *buf; /* records, each 8-byte aligned */
	size_t *off;
	size_t n;
};

static const char *const read_paths[] = {
	"/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache", "/proc/self/stat",
	"/app/data/file-0017.json", "/etc/nginx/nginx.conf", "/usr/share/zoneinfo/UTC",
	"/var/www/html/index.html", "/etc/hosts", "/usr/lib/python3.11/os.py", "/dev/null",
};
static const char *const write_paths[] = {
	"/tmp/upload-123", "/var/log/app.log", "/app/cache/item-77", "/var/run/app.pid",
};
static const char *const exe_names[] = { "ls", "cat", "sh", "python3", "nginx", "curl", "grep", "sed" };

static struct container_view views[N_CONTAINERS];
static struct engine_container ecs[N_CONTAINERS];
static char names[N_CONTAINERS][3][72];
static struct entity_addr addrs[N_CONTAINERS];

static void *add_record(struct stream *s, size_t *cap, size_t size)
{
	size_t used = s->n ? s->off[s->n - 1] : 0;

	if (s->n) {
		const struct wacht_hdr *h = (void *)(s->buf + used);
		used += (h->size + 7) & ~7u;
	}
	if (used + size + 8 > *cap) {
		*cap = (*cap + size) * 2;
		s->buf = realloc(s->buf, *cap);
	}
	s->off = realloc(s->off, (s->n + 1) * sizeof(*s->off));
	s->off[s->n++] = used;
	memset(s->buf + used, 0, size);
	return s->buf + used;
}

static void hdr(struct wacht_hdr *h, uint32_t type, uint32_t size, unsigned c, unsigned p, uint64_t ts)
{
	h->type = type;
	h->size = size;
	h->ts_ns = ts;
	h->cgroup_id = views[c].cgroup_id;
	h->tgid = h->pid = 10000 + c * PROCS_PER + p;
	h->ppid = 10000 + c * PROCS_PER;
	h->uid = h->euid = 0;
	snprintf((char *)h->comm, sizeof(h->comm), "%s", exe_names[p % 8]);
}

static struct stream make_stream(size_t n, unsigned seed)
{
	struct stream s = { 0 };
	size_t cap = 0;

	srand(seed);
	for (size_t i = 0; i < n; i++) {
		unsigned c = rand() % N_CONTAINERS, p = rand() % PROCS_PER, k = rand() % 100;
		uint64_t ts = 1000000000ULL + i * 1000;

		if (k < 70) {
			const char *path = k < 60 ? read_paths[rand() % 10] : write_paths[rand() % 4];
			size_t len = strlen(path) + 1, size = sizeof(struct wacht_file) + len;
			struct wacht_file *f = add_record(&s, &cap, size);
			hdr(&f->hdr, WACHT_EV_FILE, size, c, p, ts);
			f->op = WACHT_FILE_OPEN;
			f->open_flags = k < 60 ? 0 : 01101; /* O_WRONLY|O_CREAT|O_TRUNC */
			f->result = 3;
			f->path_len = len;
			memcpy(f + 1, path, len);
		} else if (k < 85) {
			const char *name = exe_names[rand() % 8];
			char exe[64], argv[64];
			snprintf(exe, sizeof(exe), "/usr/bin/%s", name);
			size_t el = strlen(exe) + 1, al = snprintf(argv, sizeof(argv), "%s%c-l", name, 0) + 1;
			size_t size = sizeof(struct wacht_exec) + el + el + al;
			struct wacht_exec *x = add_record(&s, &cap, size);
			hdr(&x->hdr, WACHT_EV_EXEC, size, c, p, ts);
			x->exe_len = x->filename_len = el;
			x->argv_len = al;
			x->argc = 2;
			char *q = (char *)(x + 1);
			memcpy(q, exe, el);
			memcpy(q + el, exe, el);
			memcpy(q + 2 * el, argv, al);
		} else {
			struct wacht_net *nt = add_record(&s, &cap, sizeof(*nt));
			hdr(&nt->hdr, WACHT_EV_NET, sizeof(*nt), c, p, ts);
			nt->op = WACHT_NET_CONNECT;
			nt->family = AF_INET;
			nt->proto = IPPROTO_TCP;
			nt->direction = WACHT_DIR_OUT;
			memcpy(nt->laddr, addrs[c].addr, 4);
			unsigned peer = rand() % (N_CONTAINERS + 8);
			if (peer < N_CONTAINERS)
				memcpy(nt->raddr, addrs[peer].addr, 4);
			else
				inet_pton(AF_INET, "203.0.113.9", nt->raddr);
			nt->rport = (uint16_t[]){ 80, 443, 5432, 6379 }[rand() % 4];
			nt->lport = 40000 + rand() % 1000;
		}
	}
	return s;
}

static void setup_containers(void)
{
	for (unsigned c = 0; c < N_CONTAINERS; c++) {
		snprintf(names[c][0], 72, "svc%u-7d9f8c6b5-x2x7k", c);
		snprintf(names[c][1], 72, "ns%u", c % 8);
		snprintf(names[c][2], 72, "%064x", c);
		views[c] = (struct container_view){ .id = names[c][2], .runtime = "runc", .name = "app",
						    .image = "registry/app:1", .pod = names[c][0],
						    .namespace = names[c][1], .pod_uid = "", .cgroup = "",
						    .cgroup_id = 5000 + c };
		addrs[c].family = AF_INET;
		addrs[c].addr[0] = 10;
		addrs[c].addr[1] = 244;
		addrs[c].addr[2] = c / 250;
		addrs[c].addr[3] = c % 250 + 1;
		ecs[c] = (struct engine_container){ .view = &views[c], .addrs = &addrs[c], .n_addrs = 1,
						    .init_pid = 10000 + c * PROCS_PER, .node = "bench" };
	}
}

static void fill_procs(struct proc_table *t)
{
	for (unsigned c = 0; c < N_CONTAINERS; c++)
		for (unsigned p = 0; p < PROCS_PER; p++)
			proc_table__exec(t, 10000 + c * PROCS_PER + p, 10000 + c * PROCS_PER,
					 views[c].cgroup_id, "/usr/bin/sh", exe_names[p % 8], 1);
}

static uint64_t findings;
static void count_finding(void *ctx, const struct finding *f)
{
	(void)ctx;
	(void)f;
	findings++;
}

/* The big policy: 1,000 groups, each 30 process, 10 file, 10 network rules. */
static char *big_yaml(size_t *len)
{
	size_t cap = 64 << 20, n = 0;
	char *y = malloc(cap);

	for (unsigned g = 0; g < 1000; g++) {
		n += snprintf(y + n, cap - n,
			      "---\napiVersion: neuvector.com/v1\nkind: NvSecurityRule\n"
			      "metadata: {name: nv.svc%u.ns%u, namespace: ns%u}\nspec:\n"
			      "  target:\n    policymode: Monitor\n    selector:\n      name: nv.svc%u.ns%u\n"
			      "      criteria:\n      - {key: service, op: \"=\", value: svc%u}\n"
			      "      - {key: namespace, op: \"=\", value: ns%u}\n"
			      "  process_profile: {baseline: basic, mode: Monitor}\n  process:\n",
			      g, g % 8, g % 8, g, g % 8, g, g % 8);
		for (unsigned r = 0; r < 30; r++)
			n += snprintf(y + n, cap - n, "  - {name: tool%u, path: /opt/g%u/bin/tool%u, action: allow}\n",
				      r, g, r);
		n += snprintf(y + n, cap - n, "  file:\n");
		for (unsigned r = 0; r < 10; r++)
			n += snprintf(y + n, cap - n,
				      "  - {filter: /srv/g%u/data%u/*, recursive: true, behavior: %s, app: [tool%u]}\n",
				      g, r, r % 2 ? "monitor_change" : "block_access", r);
		n += snprintf(y + n, cap - n, "  egress:\n");
		for (unsigned r = 0; r < 10; r++)
			n += snprintf(y + n, cap - n,
				      "  - {name: to-%u, action: allow, ports: tcp/%u, selector: {name: external}}\n",
				      r, 7000 + r);
	}
	*len = n;
	return y;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *b = malloc(1 << 20);

	if (!f) {
		fprintf(stderr, "rules_bench: failed to open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	*len = fread(b, 1, (1 << 20) - 1, f);
	fclose(f);
	return b;
}

static struct policy *load(const char *name, const char *yaml, size_t len, const char *monitor_from)
{
	struct policy *p = policy__new();
	struct diags d = { 0 };
	char *copy = NULL;

	if (monitor_from) { /* the default rules with Discover turned into Monitor */
		copy = malloc(len * 2 + 1);
		size_t n = 0;
		for (size_t i = 0; i < len;) {
			if (len - i >= 8 && memcmp(yaml + i, "Discover", 8) == 0) {
				memcpy(copy + n, "Monitor", 7);
				n += 7;
				i += 8;
			} else {
				copy[n++] = yaml[i++];
			}
		}
		yaml = copy;
		len = n;
	}
	policy__load_buffer(p, name, yaml, len, &d);
	if (policy__finish(p, &d) < 0) {
		diags__print(&d, stderr);
		exit(1);
	}
	diags__free(&d);
	free(copy);
	return p;
}

static double thread_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One pass over the stream; engine NULL = decode-only. */
static void pass(const struct stream *s, struct engine *e, struct proc_table *t)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct wacht_hdr *h = (const void *)(s->buf + s->off[i]);
		struct wacht_event ev;

		if (event_decode(h, h->size, &ev))
			abort();
		if (h->type == WACHT_EV_EXEC)
			proc_table__exec(t, h->tgid, h->ppid, h->cgroup_id, ev.exe, engine_exec_name(&ev),
					 h->ts_ns);
		const struct engine_container *c = &ecs[h->cgroup_id - 5000];
		if (!proc_table__lookup(t, h->tgid))
			abort();
		if (!e)
			continue;
		struct engine_peer peer = { .kind = ENTITY_EXTERNAL };
		struct engine_exec_facts xf = { 0 };
		if (h->type == WACHT_EV_NET && ev.net->raddr[0] == 10)
			peer = (struct engine_peer){ .kind = ENTITY_CONTAINER,
						     .container = &ecs[ev.net->raddr[3] - 1 + 250 * ev.net->raddr[2]] };
		engine__event(e, &ev, c, &xf, &peer);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned rounds = 7;
	size_t n_events = 200000;
	const char *rules_file = "rules/default.yaml";

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--events") && i + 1 < argc)
			n_events = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--rules-file") && i + 1 < argc)
			rules_file = argv[++i];
		else {
			fprintf(stderr, "usage: rules_bench [--rounds N] [--events N] [--rules-file F]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > 100)
		rounds = 7;
	setup_containers();
	struct stream s = make_stream(n_events, 42);
	size_t dlen, blen;
	char *def = slurp(rules_file, &dlen);
	char *big = big_yaml(&blen);

	const char *cfgs[] = { "decode-only", "default", "default-monitor", "1000x50" };
	double med[4];
	uint64_t fnd[4];
	printf("rule-matching throughput, %zu events per pass (60%% file reads, 10%% writes, "
	       "15%% exec, 15%% connect; 64 containers), %u rounds, one core (thread CPU time)\n\n",
	       s.n, rounds);
	for (int c = 0; c < 4; c++) {
		double t[100];
		for (unsigned r = 0; r < rounds; r++) {
			struct proc_table *pt = proc_table__new(65536);
			struct engine_config ec = { .window_ns = 10000000000ULL, .sink = count_finding };
			struct engine *e = c ? engine__new(&ec, pt) : NULL;
			fill_procs(pt);
			if (c == 1)
				engine__set_policy(e, load(rules_file, def, dlen, NULL));
			else if (c == 2)
				engine__set_policy(e, load(rules_file, def, dlen, "monitor"));
			else if (c == 3)
				engine__set_policy(e, load("1000x50.yaml", big, blen, NULL));
			/* warm-up pass: Discover learns here, caches fill */
			pass(&s, e, pt);
			findings = 0;
			double t0 = thread_s();
			pass(&s, e, pt);
			if (e)
				engine__tick(e, UINT64_MAX);
			t[r] = thread_s() - t0;
			fnd[c] = findings;
			engine__free(e);
			proc_table__free(pt);
		}
		qsort(t, rounds, sizeof(t[0]), cmp_double);
		med[c] = t[rounds / 2];
	}
	printf("| configuration   | events/s (median) | ns/event | vs decode-only | findings/pass |\n");
	printf("|-----------------|------------------:|---------:|---------------:|--------------:|\n");
	for (int c = 0; c < 4; c++)
		printf("| %-15s | %17.0f | %8.1f | %13.2fx | %13llu |\n", cfgs[c], s.n / med[c],
		       med[c] * 1e9 / s.n, med[c] / med[0], (unsigned long long)fnd[c]);
	printf("\ntarget: default >= 1,000,000 events/s per core: %s\n",
	       s.n / med[1] >= 1e6 ? "met" : "MISSED");
	free(def);
	free(big);
	free(s.buf);
	free(s.off);
	return 0;
}
