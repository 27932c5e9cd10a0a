// SPDX-License-Identifier: Apache-2.0
/* graph.c: conversation records merged into the cluster's graph (both ends'
 * reports counted once, externals that are containers relabelled, filtered
 * and collapsed) and written as JSON, DOT or GraphML. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "graph.h"
#include "hash.h"
#include "jsonw.h"

/* ------------------------------------------------------------------ */
/* An open-addressing index: each slot holds a hash and index+1 into an
 * array the caller owns, so one implementation serves every table and
 * entries never move when it grows. */

struct hslot {
	uint32_t hash;
	uint32_t idx1; /* 0: empty */
};

struct htab {
	struct hslot *slots;
	uint32_t mask; /* capacity - 1, capacity a power of two */
	uint32_t n;
};

typedef bool (*htab_eq_fn)(const struct graph *g, uint32_t idx, const void *key);

static void htab_fini(struct htab *t)
{
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static int htab_rehash(struct htab *t, uint32_t cap)
{
	struct hslot *slots = calloc(cap, sizeof(*slots));
	uint32_t i, pos;

	if (!slots)
		return -ENOMEM;
	for (i = 0; t->slots && i <= t->mask; i++) {
		if (!t->slots[i].idx1)
			continue;
		pos = t->slots[i].hash & (cap - 1);
		while (slots[pos].idx1)
			pos = (pos + 1) & (cap - 1);
		slots[pos] = t->slots[i];
	}
	free(t->slots);
	t->slots = slots;
	t->mask = cap - 1;
	return 0;
}

/* The index stored under key, or -1 with *pos where it would go. */
static int64_t htab_find(const struct graph *g, const struct htab *t, uint32_t hash, htab_eq_fn eq,
			 const void *key, uint32_t *pos)
{
	uint32_t p;

	if (!t->slots) {
		*pos = UINT32_MAX;
		return -1;
	}
	for (p = hash & t->mask; t->slots[p].idx1; p = (p + 1) & t->mask) {
		if (t->slots[p].hash == hash && eq(g, t->slots[p].idx1 - 1, key))
			return t->slots[p].idx1 - 1;
	}
	*pos = p;
	return -1;
}

/* Stores idx at pos (from a failed htab_find just before), growing the table
 * when it gets half full so that probes stay short. */
static int htab_put(struct htab *t, uint32_t pos, uint32_t hash, uint32_t idx)
{
	int err;

	if (!t->slots) {
		err = htab_rehash(t, 64);
		if (err)
			return err;
		pos = hash & t->mask;
		while (t->slots[pos].idx1)
			pos = (pos + 1) & t->mask;
	}
	t->slots[pos].hash = hash;
	t->slots[pos].idx1 = idx + 1;
	t->n++;
	if (t->n > t->mask / 2)
		return htab_rehash(t, (t->mask + 1) * 2);
	return 0;
}

static uint32_t hash_str(const char *s)
{
	uint64_t h = hash_fnv1a_str(HASH_FNV_OFFSET, s);

	return (uint32_t)(h ^ (h >> 32));
}

static uint32_t hash_u64(uint64_t x)
{
	x ^= x >> 30; /* splitmix64's finalizer */
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (uint32_t)x;
}

/* Makes room for n items in *arr of *cap (doubling). 0 or -ENOMEM. */
static int grow(void **arr, uint32_t *cap, uint32_t n, size_t size)
{
	uint32_t c = *cap ? *cap : 16;
	void *p;

	if (n <= *cap)
		return 0;
	while (c < n) {
		if (c > UINT32_MAX / 2)
			return -ENOMEM;
		c *= 2;
	}
	p = realloc(*arr, (size_t)c * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

/* ------------------------------------------------------------------ */

/* The kinds of a vertex in the output; the first three are also the kinds
 * of the ends records name. */
enum vkind {
	VK_CONTAINER,
	VK_NODE,
	VK_EXTERNAL,
	VK_POD,
	VK_GROUP,
	VK_NAMESPACE,
};

static const char *const vkind_names[] = {
	[VK_CONTAINER] = "container",
	[VK_NODE] = "node",
	[VK_EXTERNAL] = "external",
	[VK_POD] = "pod",
	[VK_GROUP] = "group",
	[VK_NAMESPACE] = "namespace",
};

struct ipaddr {
	int af; /* AF_INET or AF_INET6; v4-mapped v6 is stored as v4 */
	uint8_t b[16];
};

struct cidr {
	struct ipaddr net;
	unsigned int plen;
	const char *text; /* interned, normalized: "10.0.0.0/8" */
};

/* A vertex: a record's end (base) or an output vertex after collapse. All
 * strings are interned in g->strs (freed with the graph). */
struct vertex {
	const char *id;
	enum vkind kind;
	const char *display;
	const char *ns, *group, *pod, *node, *container_id, *container;
	const char **ips; /* interned, in the order seen */
	uint32_t n_ips, cap_ips;
	int64_t attrs_seen; /* base: last_seen of the record the attributes came from */
	struct ipaddr addr; /* VK_EXTERNAL base vertices */
	uint32_t out;  /* base: its output vertex (UINT32_MAX: not yet known) */
	uint32_t rank; /* output: position in id order */
};

/* The counters one end's sensor reported. */
struct counters {
	uint64_t bts, btc, pts, ptc, sessions;
};

/* Records summed per (client, server, proto, port) and per reporting side:
 * side[1] what the client's sensor counted, side[0] the server's. */
struct flow {
	uint32_t c, s;
	uint8_t proto;
	uint16_t port;
	struct counters side[2];
	int64_t first, last;
	enum graph_verdict verdict;
};

/* An output edge: from, to (output vertices) and its entries. */
struct conv {
	uint32_t from, to;
	struct counters sum;
	int64_t first, last;
	enum graph_verdict verdict;
	uint32_t rank;                   /* position in (from, to) order */
	uint32_t first_entry, n_entries; /* in g->entry_order */
};

struct entry {
	uint32_t conv;
	uint8_t proto;
	uint16_t port;
	struct counters sum;
	int64_t first, last;
	enum graph_verdict verdict;
};

/* Which container an address is: per address (proto and port 0), and per
 * address and server port, since a pod's containers share its address and
 * the one that listens on the port is the server. */
struct ipmap_item {
	const char *ip; /* interned: pointer equality is string equality */
	uint8_t proto;
	uint16_t port;
	uint32_t vertex;
	int64_t last_seen;
};

struct graph {
	enum graph_collapse collapse;
	const char *ns_filter; /* interned */
	int64_t since_ns;
	int64_t generated_at_ns;
	struct cidr *cidrs;
	uint32_t n_cidrs;

	/* string pool */
	char **strs;
	uint32_t n_strs, cap_strs;
	struct htab strs_tab;

	/* base vertices, by id */
	struct vertex *v;
	uint32_t n_v, cap_v;
	struct htab v_tab;

	/* container IPs: the container that had it last */
	struct ipmap_item *ipmap;
	uint32_t n_ipmap, cap_ipmap;
	struct htab ipmap_tab;

	/* flows, by (client, server, proto, port) */
	struct flow *f;
	uint32_t n_f, cap_f;
	struct htab f_tab;

	char *scratch; /* ids being built */
	size_t cap_scratch;

	/* the merge, rebuilt when dirty */
	bool dirty;
	struct flow *mf; /* flows after relabelling */
	uint32_t n_mf, cap_mf;
	struct htab mf_tab;
	struct vertex *ov; /* output vertices */
	uint32_t n_ov, cap_ov;
	struct htab ov_tab;
	uint32_t *ov_order; /* output vertices by id */
	struct conv *cv;
	uint32_t n_cv, cap_cv;
	struct htab cv_tab;
	uint32_t *cv_order; /* by (from id, to id) */
	struct entry *en;
	uint32_t n_en, cap_en;
	struct htab en_tab;
	uint32_t *entry_order; /* by conversation, then proto and port */
};

/* ------------------------------------------------------------------ */
/* Strings */

static bool str_eq(const struct graph *g, uint32_t idx, const void *key)
{
	return strcmp(g->strs[idx], key) == 0;
}

/* The pooled copy of s; NULL for NULL or "" (not known), and on ENOMEM
 * with *err set. */
static const char *intern(struct graph *g, const char *s, int *err)
{
	uint32_t hash, pos;
	int64_t i;
	char *copy;

	if (!s || !*s)
		return NULL;
	hash = hash_str(s);
	i = htab_find(g, &g->strs_tab, hash, str_eq, s, &pos);
	if (i >= 0)
		return g->strs[i];
	if (grow((void **)&g->strs, &g->cap_strs, g->n_strs + 1, sizeof(*g->strs)))
		goto nomem;
	copy = strdup(s);
	if (!copy)
		goto nomem;
	if (htab_put(&g->strs_tab, pos, hash, g->n_strs)) {
		free(copy);
		goto nomem;
	}
	g->strs[g->n_strs++] = copy;
	return copy;
nomem:
	*err = -ENOMEM;
	return NULL;
}

/* Joins parts into g->scratch. NULL parts are "". 0 or -ENOMEM. */
static int scratch_join(struct graph *g, const char *const *parts, int n)
{
	size_t len = 1, off = 0;
	char *p;
	int i;

	for (i = 0; i < n; i++)
		len += parts[i] ? strlen(parts[i]) : 0;
	if (len > g->cap_scratch) {
		p = realloc(g->scratch, len * 2);
		if (!p)
			return -ENOMEM;
		g->scratch = p;
		g->cap_scratch = len * 2;
	}
	for (i = 0; i < n; i++) {
		size_t l = parts[i] ? strlen(parts[i]) : 0;

		if (l)
			memcpy(g->scratch + off, parts[i], l);
		off += l;
	}
	g->scratch[off] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ */
/* Addresses */

static int ip_parse(const char *s, struct ipaddr *a)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(a, 0, sizeof(*a));
	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, a->b) == 1) {
		a->af = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->b) != 1)
		return -EINVAL;
	a->af = AF_INET6;
	/* a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; one
	 * address must be one vertex */
	if (!memcmp(a->b, v4mapped, sizeof(v4mapped))) {
		memmove(a->b, a->b + 12, 4);
		memset(a->b + 4, 0, 12);
		a->af = AF_INET;
	}
	return 0;
}

static void ip_text(const struct ipaddr *a, char *buf, size_t size)
{
	if (!inet_ntop(a->af, a->b, buf, size))
		snprintf(buf, size, "?");
}

/* "10.0.0.0/8", "2001:db8::/32"; host bits are cleared (*host_bits, if
 * not NULL, says whether there were any). */
static int cidr_parse(const char *s, struct cidr *c, bool *host_bits)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash, *p;
	unsigned int plen = 0, bits;
	size_t len;

	memset(c, 0, sizeof(*c));
	if (!s || !(slash = strchr(s, '/')))
		return -EINVAL;
	len = (size_t)(slash - s);
	if (len == 0 || len >= INET6_ADDRSTRLEN)
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, c->net.b) == 1)
		c->net.af = AF_INET;
	else if (inet_pton(AF_INET6, buf, c->net.b) == 1)
		c->net.af = AF_INET6;
	else
		return -EINVAL;
	bits = c->net.af == AF_INET ? 32 : 128;
	p = slash + 1;
	if (!*p || strlen(p) > 3)
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		plen = plen * 10 + (unsigned int)(*p - '0');
	}
	if (plen > bits)
		return -EINVAL;
	c->plen = plen;
	if (host_bits)
		*host_bits = false;
	for (unsigned int i = 0; i < 16; i++) {
		unsigned int keep = plen > i * 8 ? plen - i * 8 : 0;
		uint8_t mask;

		if (keep >= 8)
			continue;
		mask = (uint8_t)(0xff00 >> keep);
		if (host_bits && (c->net.b[i] & ~mask))
			*host_bits = true;
		c->net.b[i] &= mask;
	}
	return 0;
}

int graph_cidr_check(const char *cidr)
{
	struct cidr c;

	return cidr_parse(cidr, &c, NULL);
}

bool graph_cidr_is_network(const char *cidr)
{
	struct cidr c;
	bool host_bits;

	return cidr_parse(cidr, &c, &host_bits) == 0 && !host_bits;
}

static bool cidr_contains(const struct cidr *c, const struct ipaddr *a)
{
	unsigned int full = c->plen / 8, rest = c->plen % 8;

	if (c->net.af != a->af)
		return false;
	if (memcmp(c->net.b, a->b, full))
		return false;
	return !rest || ((c->net.b[full] ^ a->b[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

/* ------------------------------------------------------------------ */

struct graph *graph__new(const struct graph_options *opt, int *err)
{
	struct graph_options none = {0};
	struct graph *g;
	int e = 0, i;

	if (!opt)
		opt = &none;
	if (opt->n_external_cidrs < 0 || (opt->n_external_cidrs && !opt->external_cidrs) ||
	    opt->collapse > GRAPH_COLLAPSE_NAMESPACE) {
		e = -EINVAL;
		goto fail;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		e = -ENOMEM;
		goto fail;
	}
	g->collapse = opt->collapse;
	g->since_ns = opt->since_ns;
	g->generated_at_ns = opt->generated_at_ns;
	g->dirty = true;
	if (opt->namespace && *opt->namespace) {
		g->ns_filter = intern(g, opt->namespace, &e);
		if (e)
			goto fail_free;
	}
	if (opt->n_external_cidrs) {
		g->cidrs = calloc((size_t)opt->n_external_cidrs, sizeof(*g->cidrs));
		if (!g->cidrs) {
			e = -ENOMEM;
			goto fail_free;
		}
	}
	for (i = 0; i < opt->n_external_cidrs; i++) {
		struct cidr *c = &g->cidrs[g->n_cidrs];
		char text[INET6_ADDRSTRLEN + 8];
		size_t l;

		e = cidr_parse(opt->external_cidrs[i], c, NULL);
		if (e)
			goto fail_free;
		ip_text(&c->net, text, sizeof(text));
		l = strlen(text);
		snprintf(text + l, sizeof(text) - l, "/%u", c->plen);
		c->text = intern(g, text, &e);
		if (e)
			goto fail_free;
		g->n_cidrs++;
	}
	if (err)
		*err = 0;
	return g;
fail_free:
	graph__free(g);
fail:
	if (err)
		*err = e;
	return NULL;
}

static void vertices_free(struct vertex *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free(v[i].ips);
}

/* Empties one of the merge's tables: its array, index and sort order. */
static void table_drop(void *arr, uint32_t *n, uint32_t *cap, struct htab *t, uint32_t **order)
{
	free(*(void **)arr);
	*(void **)arr = NULL;
	*n = *cap = 0;
	htab_fini(t);
	if (order) {
		free(*order);
		*order = NULL;
	}
}

/* Drops the merge (kept: the strings, base vertices, IP map and flows). */
static void merge_reset(struct graph *g)
{
	vertices_free(g->ov, g->n_ov);
	table_drop(&g->mf, &g->n_mf, &g->cap_mf, &g->mf_tab, NULL);
	table_drop(&g->ov, &g->n_ov, &g->cap_ov, &g->ov_tab, &g->ov_order);
	table_drop(&g->cv, &g->n_cv, &g->cap_cv, &g->cv_tab, &g->cv_order);
	table_drop(&g->en, &g->n_en, &g->cap_en, &g->en_tab, &g->entry_order);
	g->dirty = true;
}

void graph__free(struct graph *g)
{
	if (!g)
		return;
	merge_reset(g);
	for (uint32_t i = 0; i < g->n_strs; i++)
		free(g->strs[i]);
	free(g->strs);
	htab_fini(&g->strs_tab);
	vertices_free(g->v, g->n_v);
	free(g->v);
	htab_fini(&g->v_tab);
	free(g->ipmap);
	htab_fini(&g->ipmap_tab);
	free(g->f);
	htab_fini(&g->f_tab);
	free(g->cidrs);
	free(g->scratch);
	free(g);
}

/* ------------------------------------------------------------------ */
/* Vertices */

static bool vertex_eq(const struct graph *g, uint32_t idx, const void *key)
{
	return strcmp(g->v[idx].id, key) == 0;
}

static bool overtex_eq(const struct graph *g, uint32_t idx, const void *key)
{
	return strcmp(g->ov[idx].id, key) == 0;
}

/* The vertex named g->scratch in (*arr, *n, t), created with kind when new.
 * *created tells which. UINT32_MAX on ENOMEM. */
static uint32_t vertex_get(struct graph *g, struct vertex **arr, uint32_t *n, uint32_t *cap,
			   struct htab *t, htab_eq_fn eq, enum vkind kind, bool *created)
{
	uint32_t hash = hash_str(g->scratch), pos;
	int64_t i = htab_find(g, t, hash, eq, g->scratch, &pos);
	struct vertex *v;
	int err = 0;

	*created = false;
	if (i >= 0)
		return (uint32_t)i;
	if (grow((void **)arr, cap, *n + 1, sizeof(**arr)))
		return UINT32_MAX;
	v = &(*arr)[*n];
	memset(v, 0, sizeof(*v));
	v->id = intern(g, g->scratch, &err);
	if (err)
		return UINT32_MAX;
	v->kind = kind;
	v->attrs_seen = INT64_MIN;
	v->out = UINT32_MAX;
	if (htab_put(t, pos, hash, *n))
		return UINT32_MAX;
	*created = true;
	return (*n)++;
}

/* Adds an interned IP to v's list once. */
static int vertex_add_ip(struct vertex *v, const char *ip)
{
	for (uint32_t i = 0; i < v->n_ips; i++) {
		if (v->ips[i] == ip)
			return 0;
	}
	if (grow((void **)&v->ips, &v->cap_ips, v->n_ips + 1, sizeof(*v->ips)))
		return -ENOMEM;
	v->ips[v->n_ips++] = ip;
	return 0;
}

/* Sets field to s (interned) when s is known and the record is the newest
 * seen, or the field is still unknown. */
static void attr_set(struct graph *g, const char **field, const char *s, bool newest, int *err)
{
	if (!s || !*s || (!newest && *field))
		return;
	if (*field && !strcmp(*field, s))
		return;
	*field = intern(g, s, err);
}

/* A record's end as a base vertex: its index, or -EINVAL / -ENOMEM; *ipp
 * its address, interned (NULL: none). */
static int64_t end_vertex(struct graph *g, const struct graph_endpoint *e, int64_t last_seen,
			  const char **ipp)
{
	char ipbuf[INET6_ADDRSTRLEN];
	const char *ip = NULL, *parts[6];
	struct ipaddr addr;
	struct vertex *v;
	enum vkind kind;
	bool created, newest;
	uint32_t idx;
	int err = 0;

	if (e->ip && *e->ip) {
		if (ip_parse(e->ip, &addr))
			return -EINVAL;
		ip_text(&addr, ipbuf, sizeof(ipbuf));
		ip = ipbuf;
	}
	switch (e->kind) {
	case GRAPH_KIND_CONTAINER:
		kind = VK_CONTAINER;
		if (e->pod && *e->pod && e->container && *e->container) {
			parts[0] = "container:";
			parts[1] = e->namespace;
			parts[2] = "/";
			parts[3] = e->pod;
			parts[4] = "/";
			parts[5] = e->container;
			err = scratch_join(g, parts, 6);
		} else if (e->container_id && *e->container_id) {
			parts[0] = "container:";
			parts[1] = e->container_id;
			err = scratch_join(g, parts, 2);
		} else {
			return -EINVAL; /* nothing names it */
		}
		break;
	case GRAPH_KIND_NODE:
		kind = VK_NODE;
		if (!(e->node && *e->node) && !ip)
			return -EINVAL;
		parts[0] = "node:";
		parts[1] = e->node && *e->node ? e->node : ip;
		err = scratch_join(g, parts, 2);
		break;
	case GRAPH_KIND_EXTERNAL:
		kind = VK_EXTERNAL;
		if (!ip)
			return -EINVAL;
		parts[0] = "external:";
		parts[1] = ip;
		err = scratch_join(g, parts, 2);
		break;
	default:
		return -EINVAL;
	}
	if (err)
		return err;
	idx = vertex_get(g, &g->v, &g->n_v, &g->cap_v, &g->v_tab, vertex_eq, kind, &created);
	if (idx == UINT32_MAX)
		return -ENOMEM;
	v = &g->v[idx];
	if (created && kind == VK_EXTERNAL)
		v->addr = addr;
	newest = last_seen >= v->attrs_seen;
	if (kind == VK_CONTAINER) {
		attr_set(g, &v->ns, e->namespace, newest, &err);
		attr_set(g, &v->group, e->group, newest, &err);
		attr_set(g, &v->pod, e->pod, newest, &err);
		attr_set(g, &v->node, e->node, newest, &err);
		attr_set(g, &v->container_id, e->container_id, newest, &err);
		attr_set(g, &v->container, e->container, newest, &err);
	} else if (kind == VK_NODE) {
		attr_set(g, &v->node, e->node, newest, &err);
	}
	if (newest)
		v->attrs_seen = last_seen;
	if (ip) {
		ip = intern(g, ip, &err);
		if (!err)
			err = vertex_add_ip(&g->v[idx], ip);
		*ipp = ip;
	}
	if (err)
		return err;
	return idx;
}

struct ipmap_key {
	const char *ip;
	uint8_t proto;
	uint16_t port;
};

static uint32_t ipmap_hash(const struct ipmap_key *k)
{
	return hash_u64((uintptr_t)k->ip ^ ((uint64_t)k->proto << 48 | (uint64_t)k->port << 32));
}

static bool ipmap_eq(const struct graph *g, uint32_t idx, const void *key)
{
	const struct ipmap_key *k = key;

	return g->ipmap[idx].ip == k->ip && g->ipmap[idx].proto == k->proto &&
	       g->ipmap[idx].port == k->port;
}

/* Remembers that container vertex idx had ip (interned) at last_seen, as
 * a server on (proto, port) if proto. */
static int ipmap_learn(struct graph *g, const char *ip, uint8_t proto, uint16_t port, uint32_t idx,
		       int64_t last_seen)
{
	struct ipmap_key k = {ip, proto, port};
	uint32_t hash = ipmap_hash(&k), pos;
	int64_t i = htab_find(g, &g->ipmap_tab, hash, ipmap_eq, &k, &pos);

	if (i >= 0) {
		/* an address reused by another container: the later one */
		if (last_seen >= g->ipmap[i].last_seen) {
			g->ipmap[i].vertex = idx;
			g->ipmap[i].last_seen = last_seen;
		}
		return 0;
	}
	if (grow((void **)&g->ipmap, &g->cap_ipmap, g->n_ipmap + 1, sizeof(*g->ipmap)))
		return -ENOMEM;
	g->ipmap[g->n_ipmap] = (struct ipmap_item){ip, proto, port, idx, last_seen};
	if (htab_put(&g->ipmap_tab, pos, hash, g->n_ipmap))
		return -ENOMEM;
	g->n_ipmap++;
	return 0;
}

static const struct ipmap_item *ipmap_get(const struct graph *g, const char *ip, uint8_t proto,
					  uint16_t port)
{
	struct ipmap_key k = {ip, proto, port};
	uint32_t pos;
	int64_t i = htab_find(g, &g->ipmap_tab, ipmap_hash(&k), ipmap_eq, &k, &pos);

	return i < 0 ? NULL : &g->ipmap[i];
}

static bool same_pod(const struct graph *g, uint32_t a, uint32_t b)
{
	const struct vertex *x = &g->v[a], *y = &g->v[b];

	if (a == b)
		return true;
	return x->pod && x->pod == y->pod && x->ns == y->ns;
}

/* The vertex an external end stands for: the container the address
 * belongs to, if any; for a server, the container of the pod that listened
 * on the port (a pod's containers share its address: an app and its
 * sidecar), unless the address went to another pod since. */
static uint32_t end_resolve(const struct graph *g, uint32_t v, bool server, uint8_t proto,
			    uint16_t port)
{
	const struct vertex *x = &g->v[v];
	const struct ipmap_item *any, *on_port;

	if (x->kind != VK_EXTERNAL || !x->n_ips)
		return v;
	any = ipmap_get(g, x->ips[0], 0, 0);
	on_port = server ? ipmap_get(g, x->ips[0], proto, port) : NULL;
	if (on_port && (!any || any->last_seen <= on_port->last_seen ||
			same_pod(g, any->vertex, on_port->vertex)))
		return on_port->vertex;
	return any ? any->vertex : v;
}

/* ------------------------------------------------------------------ */
/* Flows */

struct flow_key {
	uint32_t c, s;
	uint8_t proto;
	uint16_t port;
};

static uint32_t flow_hash(const struct flow_key *k)
{
	return hash_u64(((uint64_t)k->c << 32 | k->s) ^
			hash_u64((uint64_t)k->proto << 16 | k->port) * 0x9e3779b97f4a7c15ULL);
}

static bool flow_eq(const struct flow *f, const struct flow_key *k)
{
	return f->c == k->c && f->s == k->s && f->proto == k->proto && f->port == k->port;
}

static bool f_eq(const struct graph *g, uint32_t idx, const void *key)
{
	return flow_eq(&g->f[idx], key);
}

static bool mf_eq(const struct graph *g, uint32_t idx, const void *key)
{
	return flow_eq(&g->mf[idx], key);
}

static void counters_add(struct counters *a, const struct counters *b)
{
	a->bts += b->bts;
	a->btc += b->btc;
	a->pts += b->pts;
	a->ptc += b->ptc;
	a->sessions += b->sessions;
}

#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Both ends measured the same traffic: each counter is the larger side's. */
static struct counters counters_dedup(const struct counters side[2])
{
	return (struct counters){
		.bts = MAX(side[0].bts, side[1].bts),
		.btc = MAX(side[0].btc, side[1].btc),
		.pts = MAX(side[0].pts, side[1].pts),
		.ptc = MAX(side[0].ptc, side[1].ptc),
		.sessions = MAX(side[0].sessions, side[1].sessions),
	};
}

/* first/last seen (0 = not known) and the worst verdict of b into a. */
static void times_merge(int64_t *first, int64_t *last, enum graph_verdict *verdict, int64_t bfirst,
			int64_t blast, enum graph_verdict bverdict)
{
	if (bfirst && (!*first || bfirst < *first))
		*first = bfirst;
	if (blast > *last)
		*last = blast;
	if (bverdict > *verdict)
		*verdict = bverdict;
}

/* Finds or creates the flow of key in (arr, n, t). NULL on ENOMEM. */
static struct flow *flow_get(struct graph *g, struct flow **arr, uint32_t *n, uint32_t *cap,
			     struct htab *t, htab_eq_fn eq, const struct flow_key *k)
{
	uint32_t hash = flow_hash(k), pos;
	int64_t i = htab_find(g, t, hash, eq, k, &pos);
	struct flow *f;

	if (i >= 0)
		return &(*arr)[i];
	if (grow((void **)arr, cap, *n + 1, sizeof(**arr)))
		return NULL;
	f = &(*arr)[*n];
	memset(f, 0, sizeof(*f));
	f->c = k->c;
	f->s = k->s;
	f->proto = k->proto;
	f->port = k->port;
	if (htab_put(t, pos, hash, *n))
		return NULL;
	(*n)++;
	return f;
}

int graph__add(struct graph *g, const struct graph_record *r)
{
	const char *cip = NULL, *sip = NULL;
	struct flow_key k;
	struct flow *f;
	struct counters c;
	int64_t ci, si;
	int err;

	if (!g || !r || r->verdict > GRAPH_VERDICT_DENIED)
		return -EINVAL;
	/* a vertex made for the client of a record then refused for its
	 * server is never written: only the ends of conversations are */
	if (r->client.kind < GRAPH_KIND_CONTAINER || r->client.kind > GRAPH_KIND_EXTERNAL ||
	    r->server.kind < GRAPH_KIND_CONTAINER || r->server.kind > GRAPH_KIND_EXTERNAL)
		return -EINVAL;
	ci = end_vertex(g, &r->client, r->last_seen_ns, &cip);
	if (ci < 0)
		return (int)ci;
	si = end_vertex(g, &r->server, r->last_seen_ns, &sip);
	if (si < 0)
		return (int)si;
	g->dirty = true;
	/* every record teaches which container an address is, also one that
	 * the since filter drops: a newer record may name that address */
	if (r->client.kind == GRAPH_KIND_CONTAINER && cip &&
	    (err = ipmap_learn(g, cip, 0, 0, (uint32_t)ci, r->last_seen_ns)))
		return err;
	if (r->server.kind == GRAPH_KIND_CONTAINER && sip &&
	    ((err = ipmap_learn(g, sip, 0, 0, (uint32_t)si, r->last_seen_ns)) ||
	     (err = ipmap_learn(g, sip, r->proto, r->server_port, (uint32_t)si, r->last_seen_ns))))
		return err;
	if (g->since_ns && r->last_seen_ns < g->since_ns)
		return 0;
	k = (struct flow_key){(uint32_t)ci, (uint32_t)si, r->proto, r->server_port};
	f = flow_get(g, &g->f, &g->n_f, &g->cap_f, &g->f_tab, f_eq, &k);
	if (!f)
		return -ENOMEM;
	c = (struct counters){r->bytes_to_server, r->bytes_to_client, r->packets_to_server,
			      r->packets_to_client, r->sessions};
	counters_add(&f->side[r->reported_by_client ? 1 : 0], &c);
	times_merge(&f->first, &f->last, &f->verdict, r->first_seen_ns, r->last_seen_ns,
		    r->verdict);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The merge: relabel, de-duplicate, filter, collapse, sort. */

/* The output vertex of base vertex b (collapse and CIDRs applied).
 * UINT32_MAX on ENOMEM. */
static uint32_t out_vertex(struct graph *g, uint32_t b)
{
	struct vertex *bv = &g->v[b], *o;
	enum vkind kind = bv->kind;
	const char *parts[4], *display = NULL;
	const struct cidr *cidr = NULL;
	bool created;
	uint32_t idx;
	int err = 0, np = 0;

	if (bv->out != UINT32_MAX)
		return bv->out;
	parts[np++] = NULL;
	if (kind == VK_CONTAINER && g->collapse == GRAPH_COLLAPSE_POD && bv->pod) {
		kind = VK_POD;
		parts[0] = "pod:";
		parts[np++] = bv->ns;
		parts[np++] = "/";
		parts[np++] = bv->pod;
		display = bv->pod;
	} else if (kind == VK_CONTAINER && g->collapse == GRAPH_COLLAPSE_GROUP && bv->group) {
		kind = VK_GROUP;
		parts[0] = "group:";
		parts[np++] = bv->group;
		display = bv->group;
	} else if (kind == VK_CONTAINER && g->collapse == GRAPH_COLLAPSE_NAMESPACE && bv->ns) {
		kind = VK_NAMESPACE;
		parts[0] = "namespace:";
		parts[np++] = bv->ns;
		display = bv->ns;
	} else if (kind == VK_EXTERNAL && g->n_cidrs) {
		/* the most specific CIDR that holds the address */
		for (uint32_t i = 0; i < g->n_cidrs; i++) {
			if (cidr_contains(&g->cidrs[i], &bv->addr) &&
			    (!cidr || g->cidrs[i].plen > cidr->plen))
				cidr = &g->cidrs[i];
		}
	}
	if (parts[0]) {
		if (scratch_join(g, parts, np))
			return UINT32_MAX;
	} else if (cidr) {
		parts[0] = "external:";
		parts[1] = cidr->text;
		if (scratch_join(g, parts, 2))
			return UINT32_MAX;
		display = cidr->text;
	} else {
		parts[0] = bv->id;
		if (scratch_join(g, parts, 1))
			return UINT32_MAX;
	}
	idx = vertex_get(g, &g->ov, &g->n_ov, &g->cap_ov, &g->ov_tab, overtex_eq, kind, &created);
	if (idx == UINT32_MAX)
		return UINT32_MAX;
	bv = &g->v[b];
	o = &g->ov[idx];
	if (created) {
		o->ns = bv->ns;
		o->display = display;
		switch (kind) {
		case VK_CONTAINER:
			o->group = bv->group;
			o->pod = bv->pod;
			o->node = bv->node;
			o->container_id = bv->container_id;
			o->container = bv->container;
			break;
		case VK_POD:
			o->group = bv->group;
			o->pod = bv->pod;
			o->node = bv->node;
			break;
		case VK_GROUP:
			o->group = bv->group;
			break;
		case VK_NODE:
			o->node = bv->node;
			break;
		default:
			break;
		}
	}
	/* containers, pods, nodes and single addresses list their IPs; a
	 * group, a namespace or a CIDR could hold thousands */
	if (kind == VK_CONTAINER || kind == VK_POD || kind == VK_NODE ||
	    (kind == VK_EXTERNAL && !cidr)) {
		for (uint32_t i = 0; i < bv->n_ips && !err; i++)
			err = vertex_add_ip(o, bv->ips[i]);
		if (err)
			return UINT32_MAX;
	}
	if (!o->display) {
		if (kind == VK_CONTAINER && o->pod && o->container) {
			parts[0] = o->pod;
			parts[1] = "/";
			parts[2] = o->container;
			if (scratch_join(g, parts, 3))
				return UINT32_MAX;
			o->display = intern(g, g->scratch, &err);
		} else if (kind == VK_CONTAINER) {
			/* no pod: the container's name, or its id as docker
			 * shortens it */
			char shortid[13];

			if (o->container) {
				o->display = o->container;
			} else {
				snprintf(shortid, sizeof(shortid), "%s", o->container_id);
				o->display = intern(g, shortid, &err);
			}
		} else if (kind == VK_NODE) {
			o->display = o->node ? o->node : o->id + strlen("node:");
		} else if (kind == VK_EXTERNAL) {
			o->display = o->id + strlen("external:");
		}
		if (err)
			return UINT32_MAX;
	}
	g->v[b].out = idx;
	return idx;
}

static bool cv_eq(const struct graph *g, uint32_t idx, const void *key)
{
	const uint32_t *k = key;

	return g->cv[idx].from == k[0] && g->cv[idx].to == k[1];
}

struct entry_key {
	uint32_t conv;
	uint8_t proto;
	uint16_t port;
};

static bool en_eq(const struct graph *g, uint32_t idx, const void *key)
{
	const struct entry_key *k = key;

	return g->en[idx].conv == k->conv && g->en[idx].proto == k->proto &&
	       g->en[idx].port == k->port;
}

/* Adds a de-duplicated flow to its conversation and entry. */
static int merge_flow(struct graph *g, const struct flow *f)
{
	struct counters c = counters_dedup(f->side);
	uint32_t from, to, hash, pos, k[2];
	struct entry_key ek;
	struct conv *cv;
	struct entry *en;
	int64_t i;

	from = out_vertex(g, f->c);
	to = out_vertex(g, f->s);
	if (from == UINT32_MAX || to == UINT32_MAX)
		return -ENOMEM;
	k[0] = from;
	k[1] = to;
	hash = hash_u64((uint64_t)from << 32 | to);
	i = htab_find(g, &g->cv_tab, hash, cv_eq, k, &pos);
	if (i < 0) {
		if (grow((void **)&g->cv, &g->cap_cv, g->n_cv + 1, sizeof(*g->cv)))
			return -ENOMEM;
		i = g->n_cv;
		memset(&g->cv[i], 0, sizeof(g->cv[i]));
		g->cv[i].from = from;
		g->cv[i].to = to;
		if (htab_put(&g->cv_tab, pos, hash, (uint32_t)i))
			return -ENOMEM;
		g->n_cv++;
	}
	cv = &g->cv[i];
	counters_add(&cv->sum, &c);
	times_merge(&cv->first, &cv->last, &cv->verdict, f->first, f->last, f->verdict);

	ek = (struct entry_key){(uint32_t)i, f->proto, f->port};
	hash = hash_u64((uint64_t)i << 32 | (uint64_t)f->proto << 16 | f->port);
	i = htab_find(g, &g->en_tab, hash, en_eq, &ek, &pos);
	if (i < 0) {
		if (grow((void **)&g->en, &g->cap_en, g->n_en + 1, sizeof(*g->en)))
			return -ENOMEM;
		i = g->n_en;
		memset(&g->en[i], 0, sizeof(g->en[i]));
		g->en[i].conv = ek.conv;
		g->en[i].proto = ek.proto;
		g->en[i].port = ek.port;
		if (htab_put(&g->en_tab, pos, hash, (uint32_t)i))
			return -ENOMEM;
		g->n_en++;
	}
	en = &g->en[i];
	counters_add(&en->sum, &c);
	times_merge(&en->first, &en->last, &en->verdict, f->first, f->last, f->verdict);
	return 0;
}

static int ov_cmp(const void *a, const void *b, void *arg)
{
	const struct graph *g = arg;

	return strcmp(g->ov[*(const uint32_t *)a].id, g->ov[*(const uint32_t *)b].id);
}

static int u32_cmp(uint32_t x, uint32_t y)
{
	return x < y ? -1 : x > y;
}

static int cv_cmp(const void *a, const void *b, void *arg)
{
	const struct graph *g = arg;
	const struct conv *x = &g->cv[*(const uint32_t *)a];
	const struct conv *y = &g->cv[*(const uint32_t *)b];

	if (x->from != y->from)
		return u32_cmp(g->ov[x->from].rank, g->ov[y->from].rank);
	return u32_cmp(g->ov[x->to].rank, g->ov[y->to].rank);
}

static int en_cmp(const void *a, const void *b, void *arg)
{
	const struct graph *g = arg;
	const struct entry *x = &g->en[*(const uint32_t *)a];
	const struct entry *y = &g->en[*(const uint32_t *)b];

	if (x->conv != y->conv)
		return u32_cmp(g->cv[x->conv].rank, g->cv[y->conv].rank);
	if (x->proto != y->proto)
		return u32_cmp(x->proto, y->proto);
	return u32_cmp(x->port, y->port);
}

static bool ns_keep(const struct graph *g, const struct flow *f)
{
	return !g->ns_filter || g->v[f->c].ns == g->ns_filter || g->v[f->s].ns == g->ns_filter;
}

static int merge(struct graph *g)
{
	uint32_t i;
	int err;

	if (!g->dirty)
		return 0;
	merge_reset(g);
	for (i = 0; i < g->n_v; i++)
		g->v[i].out = UINT32_MAX;
	/* an external end whose address a container had is that container;
	 * relabelled flows may now share a key: sum them per side before the
	 * two sides are compared */
	for (i = 0; i < g->n_f; i++) {
		const struct flow *f = &g->f[i];
		struct flow_key k = {end_resolve(g, f->c, false, 0, 0),
				     end_resolve(g, f->s, true, f->proto, f->port), f->proto,
				     f->port};
		struct flow *m = flow_get(g, &g->mf, &g->n_mf, &g->cap_mf, &g->mf_tab, mf_eq, &k);

		if (!m)
			return -ENOMEM;
		f = &g->f[i];
		counters_add(&m->side[0], &f->side[0]);
		counters_add(&m->side[1], &f->side[1]);
		times_merge(&m->first, &m->last, &m->verdict, f->first, f->last, f->verdict);
	}
	for (i = 0; i < g->n_mf; i++) {
		if (!ns_keep(g, &g->mf[i]))
			continue;
		err = merge_flow(g, &g->mf[i]);
		if (err)
			return err;
	}
	g->ov_order = malloc(((size_t)g->n_ov + 1) * sizeof(uint32_t));
	g->cv_order = malloc(((size_t)g->n_cv + 1) * sizeof(uint32_t));
	g->entry_order = malloc(((size_t)g->n_en + 1) * sizeof(uint32_t));
	if (!g->ov_order || !g->cv_order || !g->entry_order)
		return -ENOMEM;
	/* sorted output: endpoints by id, conversations by (from, to),
	 * entries by conversation, protocol and port */
	for (i = 0; i < g->n_ov; i++)
		g->ov_order[i] = i;
	qsort_r(g->ov_order, g->n_ov, sizeof(uint32_t), ov_cmp, g);
	for (i = 0; i < g->n_ov; i++)
		g->ov[g->ov_order[i]].rank = i;
	for (i = 0; i < g->n_cv; i++)
		g->cv_order[i] = i;
	qsort_r(g->cv_order, g->n_cv, sizeof(uint32_t), cv_cmp, g);
	for (i = 0; i < g->n_cv; i++)
		g->cv[g->cv_order[i]].rank = i;
	for (i = 0; i < g->n_en; i++)
		g->entry_order[i] = i;
	qsort_r(g->entry_order, g->n_en, sizeof(uint32_t), en_cmp, g);
	for (i = 0; i < g->n_en; i++) {
		struct conv *cv = &g->cv[g->en[g->entry_order[i]].conv];

		if (!cv->n_entries)
			cv->first_entry = i;
		cv->n_entries++;
	}
	g->dirty = false;
	return 0;
}

size_t graph__endpoints(const struct graph *g)
{
	/* the merge is a cache of what was added: computing it changes
	 * nothing a caller can see */
	if (!g || merge((struct graph *)g))
		return 0;
	return g->n_ov;
}

size_t graph__conversations(const struct graph *g)
{
	if (!g || merge((struct graph *)g))
		return 0;
	return g->n_cv;
}

/* ------------------------------------------------------------------ */
/* Writers */

static const char *const verdict_names[] = {
	[GRAPH_VERDICT_UNKNOWN] = "unknown",
	[GRAPH_VERDICT_ALLOWED] = "allow",
	[GRAPH_VERDICT_VIOLATION] = "violate",
	[GRAPH_VERDICT_DENIED] = "deny",
};

static const char *const collapse_names[] = {
	[GRAPH_COLLAPSE_NONE] = "none",
	[GRAPH_COLLAPSE_POD] = "pod",
	[GRAPH_COLLAPSE_GROUP] = "group",
	[GRAPH_COLLAPSE_NAMESPACE] = "namespace",
};

static const char *const format_names[] = {
	[GRAPH_FORMAT_JSON] = "json",
	[GRAPH_FORMAT_DOT] = "dot",
	[GRAPH_FORMAT_GRAPHML] = "graphml",
};

/* "tcp/443", "udp/53", "icmp/0"; other protocols by number. */
static void port_text(char *buf, size_t size, uint8_t proto, uint16_t port)
{
	switch (proto) {
	case 6:
		snprintf(buf, size, "tcp/%u", port);
		break;
	case 17:
		snprintf(buf, size, "udp/%u", port);
		break;
	case 1:
		snprintf(buf, size, "icmp/%u", port);
		break;
	case 58:
		snprintf(buf, size, "icmpv6/%u", port);
		break;
	default:
		snprintf(buf, size, "%u/%u", proto, port);
		break;
	}
}

#define TIME_LEN 96

/* "2026-11-27T15:00:00.000000000Z"; NULL for 0 or before 1970 (not
 * known). */
static const char *time_text(char *buf, int64_t ns)
{
	time_t sec = (time_t)(ns / 1000000000LL);
	struct tm tm;

	if (ns <= 0 || !gmtime_r(&sec, &tm))
		return NULL;
	snprintf(buf, TIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ns % 1000000000LL));
	return buf;
}

/* time_text for printf: "-" when not known */
static const char *time_str(char *buf, int64_t ns)
{
	const char *s = time_text(buf, ns);

	return s ? s : "-";
}

static int64_t generated_at(const struct graph *g)
{
	struct timespec ts;

	if (g->generated_at_ns)
		return g->generated_at_ns;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const struct entry *conv_entry(const struct graph *g, const struct conv *cv, uint32_t i)
{
	return &g->en[g->entry_order[cv->first_entry + i]];
}

/* One JSON value as text (a string escaped, or null) */
static void json_put_str(struct jsonw *w, FILE *out, const char *s)
{
	jsonw__reset(w);
	jsonw__str(w, NULL, s);
	fputs(jsonw__data(w, NULL), out);
}

static void json_counters(struct jsonw *w, const struct counters *c)
{
	jsonw__u64(w, "bytes", c->bts + c->btc);
	jsonw__u64(w, "bytes_to_server", c->bts);
	jsonw__u64(w, "bytes_to_client", c->btc);
	jsonw__u64(w, "packets", c->pts + c->ptc);
	jsonw__u64(w, "sessions", c->sessions);
}

static void json_times(struct jsonw *w, int64_t first, int64_t last)
{
	char buf[TIME_LEN];

	jsonw__str(w, "first_seen_at", time_text(buf, first));
	jsonw__str(w, "last_seen_at", time_text(buf, last));
}

/* One endpoint or conversation per line: the whole export is one JSON
 * document, and still greps and diffs line by line. */
/* One endpoint or conversation object onto its own line of the array; the
 * writer's error (out of memory) instead of a half-made object. */
static int json_emit(struct jsonw *w, FILE *out, bool first)
{
	int err = jsonw__error(w);

	if (err)
		return err;
	fputs(first ? "\n" : ",\n", out);
	fputs(jsonw__data(w, NULL), out);
	return 0;
}

static int write_json(struct graph *g, FILE *out)
{
	struct jsonw *w = jsonw__new();
	char buf[TIME_LEN], port[32];
	uint32_t i, j;
	int err = 0;

	if (!w)
		return -ENOMEM;
	fputs("{\"generated_at\":", out);
	json_put_str(w, out, time_text(buf, generated_at(g)));
	fputs(",\"since\":", out);
	json_put_str(w, out, g->since_ns ? time_text(buf, g->since_ns) : NULL);
	fputs(",\"namespace\":", out);
	json_put_str(w, out, g->ns_filter);
	fprintf(out, ",\"collapse\":\"%s\",\n\"endpoints\":[", collapse_names[g->collapse]);
	for (i = 0; i < g->n_ov; i++) {
		const struct vertex *v = &g->ov[g->ov_order[i]];

		jsonw__reset(w);
		jsonw__obj_begin(w, NULL);
		jsonw__str(w, "id", v->id);
		jsonw__str(w, "kind", vkind_names[v->kind]);
		jsonw__str(w, "display_name", v->display);
		if (v->ns)
			jsonw__str(w, "domain", v->ns);
		if (v->group)
			jsonw__str(w, "service", v->group);
		if (v->pod)
			jsonw__str(w, "pod", v->pod);
		if (v->node)
			jsonw__str(w, "node", v->node);
		if (v->n_ips) {
			jsonw__arr_begin(w, "ips");
			for (j = 0; j < v->n_ips; j++)
				jsonw__str(w, NULL, v->ips[j]);
			jsonw__arr_end(w);
		}
		jsonw__obj_end(w);
		if ((err = json_emit(w, out, i == 0)))
			goto fail;
	}
	fputs("],\n\"conversations\":[", out);
	for (i = 0; i < g->n_cv; i++) {
		const struct conv *cv = &g->cv[g->cv_order[i]];

		jsonw__reset(w);
		jsonw__obj_begin(w, NULL);
		jsonw__str(w, "from", g->ov[cv->from].id);
		jsonw__str(w, "to", g->ov[cv->to].id);
		json_counters(w, &cv->sum);
		jsonw__arr_begin(w, "ports");
		for (j = 0; j < cv->n_entries; j++) {
			const struct entry *e = conv_entry(g, cv, j);

			port_text(port, sizeof(port), e->proto, e->port);
			jsonw__str(w, NULL, port);
		}
		jsonw__arr_end(w);
		jsonw__str(w, "policy_action", verdict_names[cv->verdict]);
		json_times(w, cv->first, cv->last);
		jsonw__arr_begin(w, "entries");
		for (j = 0; j < cv->n_entries; j++) {
			const struct entry *e = conv_entry(g, cv, j);

			jsonw__obj_begin(w, NULL);
			port_text(port, sizeof(port), e->proto, e->port);
			jsonw__str(w, "port", port);
			json_counters(w, &e->sum);
			jsonw__str(w, "policy_action", verdict_names[e->verdict]);
			json_times(w, e->first, e->last);
			jsonw__obj_end(w);
		}
		jsonw__arr_end(w);
		jsonw__obj_end(w);
		if ((err = json_emit(w, out, i == 0)))
			goto fail;
	}
	fputs("]}\n", out);
fail:
	jsonw__free(w);
	return err;
}

/* Length of the valid UTF-8 sequence at s (a byte >= 0x80), 0 if none. */
static size_t utf8_len(const char *s)
{
	unsigned char c = (unsigned char)*s;
	size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;

	for (size_t i = 1; i < n; i++) {
		if (!s[i])
			return 0;
	}
	return jsonw_utf8_valid(s, n) ? n : 0;
}

/* s inside a DOT quoted string. Graphviz reads labels as escString, so a
 * backslash is doubled; control characters and bytes that are not UTF-8
 * become the text \xNN (Graphviz rejects invalid UTF-8). In a label (or
 * tooltip) Graphviz also decodes HTML entities: '&' is written &amp;. In
 * an id, Graphviz keeps a doubled backslash as two (only \" is an escape
 * there): the id differs from the endpoint's, but stays unique. */
static void dot_put(FILE *out, const char *s, bool label)
{
	size_t n;

	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '&' && label) {
			fputs("&amp;", out);
		} else if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\\\x%02x", c);
		} else if (c < 0x80) {
			fputc(c, out);
		} else if ((n = utf8_len(s))) {
			fwrite(s, 1, n, out);
			s += n - 1;
		} else {
			fprintf(out, "\\\\x%02x", c);
		}
	}
}

static const char *const dot_shapes[] = {
	[VK_CONTAINER] = "box",
	[VK_NODE] = "box3d",
	[VK_EXTERNAL] = "ellipse",
	[VK_POD] = "component",
	[VK_GROUP] = "tab",
	[VK_NAMESPACE] = "folder",
};

static void dot_vertex(FILE *out, const struct vertex *v, const char *indent)
{
	fprintf(out, "%s\"", indent);
	dot_put(out, v->id, false);
	fputs("\" [label=\"", out);
	dot_put(out, v->display, true);
	fprintf(out, "\", shape=%s, tooltip=\"", dot_shapes[v->kind]);
	dot_put(out, v->id, true);
	fputs("\"];\n", out);
}

/* "1.5 KiB" */
static void bytes_text(char *buf, size_t size, uint64_t b)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double x = (double)b;
	int u = -1;

	if (b < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", b);
		return;
	}
	while (x >= 1024 && u < 5) {
		x /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f %s", x, units[u]);
}

/* A picture, not a table: an edge label names at most this many ports. */
#define DOT_PORTS_MAX 4

/* The namespace box a vertex is drawn in (NULL: none; a namespace vertex
 * is its own box). */
static const char *dot_cluster(const struct vertex *v)
{
	return v->kind == VK_NAMESPACE ? NULL : v->ns;
}

static int cluster_cmp(const void *a, const void *b, void *arg)
{
	const struct graph *g = arg;
	const struct vertex *x = &g->ov[*(const uint32_t *)a];
	const struct vertex *y = &g->ov[*(const uint32_t *)b];
	const char *cx = dot_cluster(x), *cy = dot_cluster(y);
	int c = strcmp(cx ? cx : "", cy ? cy : "");

	return c ? c : u32_cmp(x->rank, y->rank);
}

static int write_dot(struct graph *g, FILE *out)
{
	uint32_t *order, i, j;
	char buf[TIME_LEN], port[32], bytes[32];

	order = malloc(((size_t)g->n_ov + 1) * sizeof(*order));
	if (!order)
		return -ENOMEM;
	fputs("digraph wacht {\n", out);
	fprintf(out,
		"\tgraph [rankdir=LR, fontname=\"Helvetica\", labelloc=t, label=\"Wacht "
		"conversations, %s, collapse %s",
		time_str(buf, generated_at(g)), collapse_names[g->collapse]);
	if (g->ns_filter) {
		fputs(", namespace ", out);
		dot_put(out, g->ns_filter, true);
	}
	if (g->since_ns)
		fprintf(out, ", since %s", time_str(buf, g->since_ns));
	fputs("\"];\n", out);
	fputs("\tnode [fontname=\"Helvetica\", fontsize=10];\n"
	      "\tedge [fontname=\"Helvetica\", fontsize=9];\n",
	      out);
	/* one cluster per namespace: vertices in cluster order, a cluster
	 * opened before its first vertex and closed after its last */
	memcpy(order, g->ov_order, (size_t)g->n_ov * sizeof(*order));
	qsort_r(order, g->n_ov, sizeof(*order), cluster_cmp, g);
	for (i = 0; i < g->n_ov; i++) {
		const struct vertex *v = &g->ov[order[i]];
		const char *ns = dot_cluster(v);

		if (!ns) {
			dot_vertex(out, v, "\t");
			continue;
		}
		if (i == 0 || dot_cluster(&g->ov[order[i - 1]]) != ns) {
			fputs("\tsubgraph \"cluster_", out);
			dot_put(out, ns, false);
			fputs("\" {\n\t\tlabel=\"namespace ", out);
			dot_put(out, ns, true);
			fputs("\";\n\t\tstyle=rounded;\n", out);
		}
		dot_vertex(out, v, "\t\t");
		if (i + 1 == g->n_ov || dot_cluster(&g->ov[order[i + 1]]) != ns)
			fputs("\t}\n", out);
	}
	free(order);
	for (i = 0; i < g->n_cv; i++) {
		const struct conv *cv = &g->cv[g->cv_order[i]];

		fputs("\t\"", out);
		dot_put(out, g->ov[cv->from].id, false);
		fputs("\" -> \"", out);
		dot_put(out, g->ov[cv->to].id, false);
		fputs("\" [label=\"", out);
		if (cv->verdict == GRAPH_VERDICT_DENIED)
			fputs("denied\\n", out);
		else if (cv->verdict == GRAPH_VERDICT_VIOLATION)
			fputs("violation\\n", out);
		for (j = 0; j < cv->n_entries && j < DOT_PORTS_MAX; j++) {
			const struct entry *e = conv_entry(g, cv, j);

			port_text(port, sizeof(port), e->proto, e->port);
			fprintf(out, "%s%s", j ? ", " : "", port);
		}
		if (cv->n_entries > DOT_PORTS_MAX)
			fprintf(out, " +%u more", cv->n_entries - DOT_PORTS_MAX);
		bytes_text(bytes, sizeof(bytes), cv->sum.bts + cv->sum.btc);
		fprintf(out, "\\n%s, %" PRIu64 " session%s\"", bytes, cv->sum.sessions,
			cv->sum.sessions == 1 ? "" : "s");
		if (cv->verdict == GRAPH_VERDICT_DENIED)
			fputs(", color=red, fontcolor=red, style=dashed", out);
		else if (cv->verdict == GRAPH_VERDICT_VIOLATION)
			fputs(", color=red, fontcolor=red", out);
		fputs("];\n", out);
	}
	fputs("}\n", out);
	return 0;
}

/* s as XML character data or attribute value. XML 1.0 allows neither
 * most control characters nor invalid UTF-8: those become the text
 * \xNN, as in the DOT. */
static void xml_put(FILE *out, const char *s)
{
	size_t n;

	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&':
			fputs("&amp;", out);
			continue;
		case '<':
			fputs("&lt;", out);
			continue;
		case '>':
			fputs("&gt;", out);
			continue;
		case '"':
			fputs("&quot;", out);
			continue;
		case '\'':
			fputs("&apos;", out);
			continue;
		case '\t':
		case '\n':
		case '\r':
			fprintf(out, "&#%u;", c);
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\x%02x", c);
		} else if (c < 0x80) {
			fputc(c, out);
		} else if ((n = utf8_len(s)) &&
			   /* U+FFFE and U+FFFF are not XML characters */
			   !(n == 3 && (unsigned char)s[0] == 0xef && (unsigned char)s[1] == 0xbf &&
			     (unsigned char)s[2] >= 0xbe)) {
			fwrite(s, 1, n, out);
			s += n - 1;
		} else {
			fprintf(out, "\\x%02x", c);
		}
	}
}

static void xml_data(FILE *out, const char *key, const char *value)
{
	if (!value)
		return;
	fprintf(out, "      <data key=\"%s\">", key);
	xml_put(out, value);
	fputs("</data>\n", out);
}

static void xml_data_u64(FILE *out, const char *key, uint64_t value)
{
	fprintf(out, "      <data key=\"%s\">%" PRIu64 "</data>\n", key, value);
}

/* A conversation's ports, space-separated: "tcp/80 udp/53". */
static void xml_ports(const struct graph *g, const struct conv *cv, FILE *out)
{
	char port[32];

	for (uint32_t j = 0; j < cv->n_entries; j++) {
		const struct entry *e = conv_entry(g, cv, j);

		port_text(port, sizeof(port), e->proto, e->port);
		fprintf(out, "%s%s", j ? " " : "", port);
	}
}

/* Keys: every attribute an application shows or filters on. Gephi and yEd
 * take "label" for the text of a node or edge. */
static const char graphml_head[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\"\n"
	"    xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"\n"
	"    xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns "
	"http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n"
	"  <key id=\"generated_at\" for=\"graph\" attr.name=\"generated_at\" attr.type=\"string\"/>\n"
	"  <key id=\"collapse\" for=\"graph\" attr.name=\"collapse\" attr.type=\"string\"/>\n"
	"  <key id=\"filter_namespace\" for=\"graph\" attr.name=\"namespace\" attr.type=\"string\"/>\n"
	"  <key id=\"since\" for=\"graph\" attr.name=\"since\" attr.type=\"string\"/>\n"
	"  <key id=\"endpoint_id\" for=\"node\" attr.name=\"endpoint_id\" attr.type=\"string\"/>\n"
	"  <key id=\"label\" for=\"node\" attr.name=\"label\" attr.type=\"string\"/>\n"
	"  <key id=\"kind\" for=\"node\" attr.name=\"kind\" attr.type=\"string\"/>\n"
	"  <key id=\"namespace\" for=\"node\" attr.name=\"namespace\" attr.type=\"string\"/>\n"
	"  <key id=\"group\" for=\"node\" attr.name=\"group\" attr.type=\"string\"/>\n"
	"  <key id=\"pod\" for=\"node\" attr.name=\"pod\" attr.type=\"string\"/>\n"
	"  <key id=\"node\" for=\"node\" attr.name=\"node\" attr.type=\"string\"/>\n"
	"  <key id=\"ips\" for=\"node\" attr.name=\"ips\" attr.type=\"string\"/>\n"
	"  <key id=\"edge_label\" for=\"edge\" attr.name=\"label\" attr.type=\"string\"/>\n"
	"  <key id=\"bytes\" for=\"edge\" attr.name=\"bytes\" attr.type=\"long\"/>\n"
	"  <key id=\"bytes_to_server\" for=\"edge\" attr.name=\"bytes_to_server\" "
	"attr.type=\"long\"/>\n"
	"  <key id=\"bytes_to_client\" for=\"edge\" attr.name=\"bytes_to_client\" "
	"attr.type=\"long\"/>\n"
	"  <key id=\"packets\" for=\"edge\" attr.name=\"packets\" attr.type=\"long\"/>\n"
	"  <key id=\"sessions\" for=\"edge\" attr.name=\"sessions\" attr.type=\"long\"/>\n"
	"  <key id=\"ports\" for=\"edge\" attr.name=\"ports\" attr.type=\"string\"/>\n"
	"  <key id=\"policy_action\" for=\"edge\" attr.name=\"policy_action\" "
	"attr.type=\"string\"/>\n"
	"  <key id=\"first_seen_at\" for=\"edge\" attr.name=\"first_seen_at\" "
	"attr.type=\"string\"/>\n"
	"  <key id=\"last_seen_at\" for=\"edge\" attr.name=\"last_seen_at\" attr.type=\"string\"/>\n";

/* Node ids are n<rank> and edge ids e<rank>: GraphML ids are NMTOKENs,
 * which cannot hold the '/' of an endpoint id; that id is the data
 * "endpoint_id". */
static int write_graphml(struct graph *g, FILE *out)
{
	char buf[TIME_LEN];
	uint32_t i, j;

	fputs(graphml_head, out);
	fputs("  <graph id=\"wacht\" edgedefault=\"directed\">\n", out);
	fprintf(out, "    <data key=\"generated_at\">%s</data>\n", time_str(buf, generated_at(g)));
	fprintf(out, "    <data key=\"collapse\">%s</data>\n", collapse_names[g->collapse]);
	if (g->ns_filter) {
		fputs("    <data key=\"filter_namespace\">", out);
		xml_put(out, g->ns_filter);
		fputs("</data>\n", out);
	}
	if (g->since_ns)
		fprintf(out, "    <data key=\"since\">%s</data>\n", time_str(buf, g->since_ns));
	for (i = 0; i < g->n_ov; i++) {
		const struct vertex *v = &g->ov[g->ov_order[i]];

		fprintf(out, "    <node id=\"n%u\">\n", i);
		xml_data(out, "endpoint_id", v->id);
		xml_data(out, "label", v->display);
		xml_data(out, "kind", vkind_names[v->kind]);
		xml_data(out, "namespace", v->ns);
		xml_data(out, "group", v->group);
		xml_data(out, "pod", v->pod);
		xml_data(out, "node", v->node);
		if (v->n_ips) {
			fputs("      <data key=\"ips\">", out);
			for (j = 0; j < v->n_ips; j++) {
				if (j)
					fputc(' ', out);
				xml_put(out, v->ips[j]);
			}
			fputs("</data>\n", out);
		}
		fputs("    </node>\n", out);
	}
	for (i = 0; i < g->n_cv; i++) {
		const struct conv *cv = &g->cv[g->cv_order[i]];
		const char *action = verdict_names[cv->verdict];

		fprintf(out, "    <edge id=\"e%u\" source=\"n%u\" target=\"n%u\">\n", i,
			g->ov[cv->from].rank, g->ov[cv->to].rank);
		fputs("      <data key=\"edge_label\">", out);
		xml_ports(g, cv, out);
		if (cv->verdict == GRAPH_VERDICT_DENIED || cv->verdict == GRAPH_VERDICT_VIOLATION)
			fprintf(out, " (%s)", action);
		fputs("</data>\n", out);
		xml_data_u64(out, "bytes", cv->sum.bts + cv->sum.btc);
		xml_data_u64(out, "bytes_to_server", cv->sum.bts);
		xml_data_u64(out, "bytes_to_client", cv->sum.btc);
		xml_data_u64(out, "packets", cv->sum.pts + cv->sum.ptc);
		xml_data_u64(out, "sessions", cv->sum.sessions);
		fputs("      <data key=\"ports\">", out);
		xml_ports(g, cv, out);
		fputs("</data>\n", out);
		xml_data(out, "policy_action", action);
		xml_data(out, "first_seen_at", time_text(buf, cv->first));
		xml_data(out, "last_seen_at", time_text(buf, cv->last));
		fputs("    </edge>\n", out);
	}
	fputs("  </graph>\n</graphml>\n", out);
	return 0;
}

int graph__write(struct graph *g, enum graph_format fmt, FILE *out)
{
	int err;

	if (!g || !out || fmt > GRAPH_FORMAT_GRAPHML)
		return -EINVAL;
	errno = 0;
	err = merge(g);
	if (err)
		return err;
	switch (fmt) {
	case GRAPH_FORMAT_JSON:
		err = write_json(g, out);
		break;
	case GRAPH_FORMAT_DOT:
		err = write_dot(g, out);
		break;
	case GRAPH_FORMAT_GRAPHML:
		err = write_graphml(g, out);
		break;
	}
	if (err)
		return err;
	/* a full disk or a closed pipe shows only now */
	if (fflush(out) || ferror(out))
		return errno ? -errno : -EIO;
	return 0;
}

static int name_parse(const char *s, const char *const *names, int n)
{
	for (int i = 0; s && i < n; i++) {
		if (!strcmp(s, names[i]))
			return i;
	}
	return -EINVAL;
}

int graph_format_parse(const char *s, enum graph_format *out)
{
	int i = name_parse(s, format_names, 3);

	if (i < 0)
		return i;
	*out = (enum graph_format)i;
	return 0;
}

int graph_collapse_parse(const char *s, enum graph_collapse *out)
{
	int i = name_parse(s, collapse_names, 4);

	if (i < 0)
		return i;
	*out = (enum graph_collapse)i;
	return 0;
}
