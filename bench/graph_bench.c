// SPDX-License-Identifier: Apache-2.0
/* graph_bench.c: how long the aggregator's graph (userspace/graph.c) takes
 * to merge and export a 10,000-endpoint, 100,000-conversation graph, per
 * format, to /dev/null and to memory; prints a markdown table (make
 * bench-graph writes it to bench/RESULTS-graph.md). No root. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "graph.h"

#define NS 1000000000LL
#define T0 (1795791600LL * NS)

/* The cluster: 20 namespaces of 20 services; pods of 1 or 2 containers
 * (every fourth has a sidecar) up to N_CONTAINERS; 20 nodes; the rest of
 * the 10,000 endpoints external addresses, a third of them IPv6. */
#define N_NAMESPACES 20
#define N_SERVICES 20
#define N_CONTAINERS 8800
#define N_NODES 20
#define N_ENDPOINTS 10000
#define N_EXTERNALS (N_ENDPOINTS - N_CONTAINERS - N_NODES)
#define N_CONVERSATIONS 100000
#define RUNS 5

struct container {
	char id[20], name[16], pod[48], ns[16], group[48], node[16], ip[20];
};

static struct container containers[N_CONTAINERS];
static char node_names[N_NODES][16], node_ips[N_NODES][20];
static char ext_ips[N_EXTERNALS][48];

static struct graph_record *records;
static size_t n_records, cap_records;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	uint64_t x = rng_state; /* xorshift64* */

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static void build_cluster(void)
{
	unsigned pod = 0, i = 0;

	for (unsigned n = 0; n < N_NODES; n++) {
		snprintf(node_names[n], sizeof(node_names[n]), "node-%02u", n);
		snprintf(node_ips[n], sizeof(node_ips[n]), "172.16.0.%u", n + 1);
	}
	while (i < N_CONTAINERS) {
		unsigned ns = pod % N_NAMESPACES, svc = (pod / N_NAMESPACES) % N_SERVICES;
		unsigned per_pod = pod % 4 == 0 ? 2 : 1;

		for (unsigned c = 0; c < per_pod && i < N_CONTAINERS; c++, i++) {
			struct container *k = &containers[i];

			snprintf(k->id, sizeof(k->id), "%016x", i * 2654435761u);
			snprintf(k->name, sizeof(k->name), c ? "envoy" : "app");
			snprintf(k->ns, sizeof(k->ns), "ns-%02u", ns);
			snprintf(k->pod, sizeof(k->pod), "svc%02u-%06x-%05u", svc, pod * 7919u,
				 pod);
			snprintf(k->group, sizeof(k->group), "nv.svc%02u.%s", svc, k->ns);
			snprintf(k->node, sizeof(k->node), "%s", node_names[pod % N_NODES]);
			/* a pod's containers share its address */
			snprintf(k->ip, sizeof(k->ip), "10.%u.%u.%u", 64 + pod / 65536,
				 (pod / 256) % 256, pod % 256);
		}
		pod++;
	}
	for (unsigned e = 0; e < N_EXTERNALS; e++) {
		if (e % 3 == 2)
			snprintf(ext_ips[e], sizeof(ext_ips[e]), "2001:db8:%x::%x", e / 256,
				 e % 256 + 1);
		else
			snprintf(ext_ips[e], sizeof(ext_ips[e]), "%u.%u.%u.%u", 198 + e % 2,
				 51 + (e / 65536) % 50, (e / 256) % 256, e % 256);
	}
}

static struct graph_endpoint container_end(const struct container *k)
{
	return (struct graph_endpoint){
		.kind = GRAPH_KIND_CONTAINER,
		.ip = k->ip,
		.node = k->node,
		.container_id = k->id,
		.container = k->name,
		.pod = k->pod,
		.namespace = k->ns,
		.group = k->group,
	};
}

static void push(const struct graph_record *r)
{
	if (n_records == cap_records) {
		cap_records = cap_records ? cap_records * 2 : 65536;
		records = realloc(records, cap_records * sizeof(*records));
		if (!records) {
			perror("graph_bench: realloc");
			exit(1);
		}
	}
	records[n_records++] = *r;
}

/* Pairs already made, so that there are exactly N_CONVERSATIONS. */
static uint64_t *pairs;
#define PAIRS_CAP (1u << 18)

static int pair_new(uint32_t c, uint32_t s)
{
	uint64_t key = ((uint64_t)c << 32 | s) + 1, h = key * 0x9e3779b97f4a7c15ULL;

	for (uint32_t p = (uint32_t)(h >> 40) & (PAIRS_CAP - 1);; p = (p + 1) & (PAIRS_CAP - 1)) {
		if (pairs[p] == key)
			return 0;
		if (!pairs[p]) {
			pairs[p] = key;
			return 1;
		}
	}
}

/* Server ids: [0, N_CONTAINERS) containers, then nodes, then externals.
 * Every container is a client, only apps are servers (a sidecar shares
 * its pod's address); every node and external address is a server at least
 * once, so all 10,000 endpoints appear. Container-to-container
 * conversations are reported by both ends (the server's sensor sees a bit
 * less), one in ten by the client as the bare address (a peer its sensor
 * did not know yet). Some ports come in two time buckets. */
static void build_records(void)
{
	static const uint16_t ports[] = {80, 443, 5432, 6379, 8080, 9090, 53};
	uint32_t made = 0, next_node = 0, next_ext = 0;

	pairs = calloc(PAIRS_CAP, sizeof(*pairs));
	if (!pairs) {
		perror("graph_bench: calloc");
		exit(1);
	}
	for (uint32_t i = 0; made < N_CONVERSATIONS; i++) {
		uint32_t c = i % N_CONTAINERS, s, kind = (uint32_t)(rnd() % 100);
		struct graph_record r = {0};
		unsigned nports = rnd() % 4 == 0 ? 2 : 1;

		if (kind < 80) {
			s = (uint32_t)(rnd() % N_CONTAINERS);
			/* the app listens; its sidecar only calls out */
			if (!strcmp(containers[s].name, "envoy"))
				s--;
		} else if (kind < 83 || next_ext >= N_EXTERNALS) {
			s = next_node < N_NODES ? N_CONTAINERS + next_node++
						: N_CONTAINERS + (uint32_t)(rnd() % N_NODES);
		} else {
			s = N_CONTAINERS + N_NODES + next_ext++;
		}
		if (s == c || !pair_new(c, s))
			continue;
		made++;
		r.client = container_end(&containers[c]);
		if (s < N_CONTAINERS) {
			r.server = container_end(&containers[s]);
		} else if (s < N_CONTAINERS + N_NODES) {
			r.server = (struct graph_endpoint){.kind = GRAPH_KIND_NODE,
							   .ip = node_ips[s - N_CONTAINERS],
							   .node = node_names[s - N_CONTAINERS]};
		} else {
			r.server = (struct graph_endpoint){
			    .kind = GRAPH_KIND_EXTERNAL, .ip = ext_ips[s - N_CONTAINERS - N_NODES]};
		}
		for (unsigned p = 0; p < nports; p++) {
			uint16_t port = ports[(i + p * 3) % 7];
			unsigned buckets = rnd() % 8 == 0 ? 2 : 1;

			r.proto = port == 53 ? 17 : 6;
			r.server_port = port;
			for (unsigned b = 0; b < buckets; b++) {
				r.bytes_to_server = 100 + rnd() % 100000;
				r.bytes_to_client = 100 + rnd() % 1000000;
				r.packets_to_server = r.bytes_to_server / 1000 + 1;
				r.packets_to_client = r.bytes_to_client / 1400 + 1;
				r.sessions = 1 + rnd() % 20;
				r.first_seen_ns = T0 + (int64_t)b * 10 * NS;
				r.last_seen_ns = r.first_seen_ns + (int64_t)(rnd() % 10) * NS;
				r.verdict = rnd() % 50 == 0    ? GRAPH_VERDICT_VIOLATION
					    : rnd() % 200 == 0 ? GRAPH_VERDICT_DENIED
							       : GRAPH_VERDICT_ALLOWED;
				r.reported_by_client = true;
				if (s < N_CONTAINERS && i % 10 == 0) {
					struct graph_record a = r;

					a.server = (struct graph_endpoint){
					    .kind = GRAPH_KIND_EXTERNAL, .ip = containers[s].ip};
					push(&a);
				} else {
					push(&r);
				}
				if (s < N_CONTAINERS) {
					struct graph_record srv = r;

					srv.reported_by_client = false;
					srv.bytes_to_server -= srv.bytes_to_server / 100;
					push(&srv);
				}
			}
		}
	}
	free(pairs);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v)
{
	qsort(v, RUNS, sizeof(*v), dcmp);
	return v[RUNS / 2];
}

enum step { S_ADD, S_MERGE, S_JSON, S_DOT, S_GRAPHML, S_N };

struct result {
	double null_ms[S_N][RUNS], mem_ms[S_N][RUNS];
	double export_ms[3][RUNS]; /* add + merge + write to memory */
	size_t bytes[3];
	size_t endpoints, conversations;
};

static struct graph *fill(enum graph_collapse collapse, double *add_ms)
{
	struct graph_options o = {.collapse = collapse, .generated_at_ns = T0};
	struct graph *g;
	double t;
	int err = 0;

	g = graph__new(&o, &err);
	if (!g) {
		fprintf(stderr, "graph_bench: graph__new: %s\n", strerror(-err));
		exit(1);
	}
	t = now_ms();
	for (size_t i = 0; i < n_records; i++) {
		err = graph__add(g, &records[i]);
		if (err) {
			fprintf(stderr, "graph_bench: graph__add record %zu: %s\n", i,
				strerror(-err));
			exit(1);
		}
	}
	*add_ms = now_ms() - t;
	return g;
}

static void write_checked(struct graph *g, enum graph_format f, FILE *out)
{
	int err = graph__write(g, f, out);

	if (err) {
		fprintf(stderr, "graph_bench: graph__write: %s\n", strerror(-err));
		exit(1);
	}
}

static void measure(enum graph_collapse collapse, struct result *res)
{
	FILE *devnull = fopen("/dev/null", "w");

	if (!devnull) {
		perror("graph_bench: /dev/null");
		exit(1);
	}
	for (int run = 0; run < RUNS; run++) {
		struct graph *g;
		double t, add;

		/* to /dev/null: the writers alone, merge timed on its own */
		g = fill(collapse, &add);
		res->null_ms[S_ADD][run] = add;
		t = now_ms();
		res->conversations = graph__conversations(g);
		res->null_ms[S_MERGE][run] = now_ms() - t;
		res->endpoints = graph__endpoints(g);
		for (int f = 0; f < 3; f++) {
			t = now_ms();
			write_checked(g, (enum graph_format)f, devnull);
			res->null_ms[S_JSON + f][run] = now_ms() - t;
		}
		graph__free(g);

		/* to memory (what the API sends): add, merge and write, each
		 * format from a fresh graph as one request would */
		for (int f = 0; f < 3; f++) {
			char *buf = NULL;
			size_t len = 0;
			FILE *mem;
			double merge;

			g = fill(collapse, &add);
			res->mem_ms[S_ADD][run] = add;
			t = now_ms();
			graph__conversations(g);
			merge = now_ms() - t;
			res->mem_ms[S_MERGE][run] = merge;
			mem = open_memstream(&buf, &len);
			if (!mem) {
				perror("graph_bench: open_memstream");
				exit(1);
			}
			t = now_ms();
			write_checked(g, (enum graph_format)f, mem);
			fclose(mem);
			res->mem_ms[S_JSON + f][run] = now_ms() - t;
			res->export_ms[f][run] = add + merge + res->mem_ms[S_JSON + f][run];
			res->bytes[f] = len;
			free(buf);
			graph__free(g);
		}
	}
	fclose(devnull);
}

/* Graphviz's own parser (gc counts nodes and edges without a layout,
 * which for 100,000 edges would take hours) reads the big DOT. */
static void check_dot(void)
{
	char path[] = "/tmp/wacht-graph-bench-XXXXXX", cmd[256], line[256];
	struct graph *g;
	FILE *f, *p;
	double add;
	int fd = mkstemp(path);

	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		perror("graph_bench: mkstemp");
		return;
	}
	g = fill(GRAPH_COLLAPSE_NONE, &add);
	write_checked(g, GRAPH_FORMAT_DOT, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gc -n -e %s 2>&1", path);
	p = popen(cmd, "r");
	printf("Graphviz reads the DOT of the collapse=none graph: `gc -n -e` says ");
	while (p && fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		printf("`%s` ", line);
	}
	printf("(exit %d); graph__endpoints %zu, graph__conversations %zu.\n",
	       p ? WEXITSTATUS(pclose(p)) : -1, graph__endpoints(g), graph__conversations(g));
	graph__free(g);
	unlink(path);
}

static void print_rows(const char *collapse, struct result *res)
{
	static const char *const fmt[] = {"json", "dot", "graphml"};

	printf("| %s | graph__add, %zu records | %.1f | | |\n", collapse, n_records,
	       median(res->null_ms[S_ADD]));
	printf("| %s | merge (first graph__conversations) | %.1f | | |\n", collapse,
	       median(res->null_ms[S_MERGE]));
	for (int f = 0; f < 3; f++)
		printf("| %s | graph__write %s | %.1f | %.1f | %.1f MB |\n", collapse, fmt[f],
		       median(res->null_ms[S_JSON + f]), median(res->mem_ms[S_JSON + f]),
		       (double)res->bytes[f] / 1e6);
	for (int f = 0; f < 3; f++)
		printf("| %s | **export %s** (add + merge + write, to memory) | | **%.1f** | |\n",
		       collapse, fmt[f], median(res->export_ms[f]));
}

int main(int argc, char **argv)
{
	static struct result none, ns;
	bool dot_check = argc > 1 && !strcmp(argv[1], "--check-dot");

	build_cluster();
	build_records();
	measure(GRAPH_COLLAPSE_NONE, &none);
	measure(GRAPH_COLLAPSE_NAMESPACE, &ns);
	printf("Synthetic cluster: %d namespaces x %d services, %d containers (a sidecar in every "
	       "fourth pod), %d nodes, %d external addresses (a third IPv6); %zu records "
	       "(container-to-container conversations reported by both ends, one in ten by the "
	       "client as a bare address, one port in eight in two time buckets).\n\n",
	       N_NAMESPACES, N_SERVICES, N_CONTAINERS, N_NODES, N_EXTERNALS, n_records);
	printf("Merged, collapse=none: %zu endpoints, %zu conversations. collapse=namespace: %zu "
	       "endpoints, %zu conversations.\n\n",
	       none.endpoints, none.conversations, ns.endpoints, ns.conversations);
	printf("Median of %d runs, milliseconds.\n\n", RUNS);
	printf("| collapse | step | /dev/null ms | memory ms | output |\n");
	printf("|---|---|---|---|---|\n");
	print_rows("none", &none);
	print_rows("namespace", &ns);
	if (dot_check) {
		printf("\n");
		check_dot();
	}
	free(records);
	return 0;
}
