// SPDX-License-Identifier: Apache-2.0
/* enforce_net.c: network segmentation compiled into the kernel's policy
 * maps (see enforce_net.h, bpf/enforce.h, bpf/include/netpolicy.bpf.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "enforce_net.h"

typedef unsigned __int128 u128;

struct class_ent {
	char *key;     /* the names of its groups, sorted, '\x1f'-separated */
	uint32_t id;
	bool used;
};
struct set_ent {
	uint64_t cgroup_id;
	uint32_t id;
	bool used;
};

struct enforce_net {
	struct class_ent *classes;
	size_t n_classes, cap_classes;
	struct set_ent *sets;
	size_t n_sets, cap_sets;
	uint32_t next_class, next_set;
};

struct enforce_net *enforce_net__new(void)
{
	struct enforce_net *en = calloc(1, sizeof(*en));

	if (!en)
		return NULL;
	en->next_class = WACHT_CLASS_NODES + 1;
	en->next_set = 1;
	return en;
}

void enforce_net__free(struct enforce_net *en)
{
	if (!en)
		return;
	for (size_t i = 0; i < en->n_classes; i++)
		free(en->classes[i].key);
	free(en->classes);
	free(en->sets);
	free(en);
}

void enforce_net_result_free(struct enforce_net_result *r)
{
	if (!r)
		return;
	free(r->addrs);
	free(r->cidrs);
	free(r->tables);
	free(r->cgs);
	free(r);
}

/* ---- growable arrays */

static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 16;
	void *nv = realloc(*v, nc * elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}
#define PUSH(arr, n, cap, val)                                                  \
	({                                                                      \
		int __e = grow((void **)&(arr), &(cap), (n), sizeof(*(arr)));   \
		if (!__e)                                                       \
			(arr)[(n)++] = (val);                                   \
		__e;                                                            \
	})

/* ---- addresses as 128-bit numbers */

static unsigned width(uint8_t family)
{
	return family == AF_INET ? 32 : 128;
}

/* Right-aligned: the address's value in its family's width. */
static u128 addr_value(uint8_t family, const uint8_t *a)
{
	u128 v = 0;

	for (unsigned i = 0; i < width(family) / 8; i++)
		v = v << 8 | a[i];
	return v;
}

static void value_addr(uint8_t family, u128 v, uint8_t *a)
{
	memset(a, 0, 16);
	for (int i = (int)width(family) / 8 - 1; i >= 0; i--) {
		a[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* The low k bits set (k <= 128). */
static u128 low_mask(unsigned k)
{
	return k >= 128 ? ~(u128)0 : ((u128)1 << k) - 1;
}

int enforce_net_range_cidrs(uint8_t family, const uint8_t *lo, const uint8_t *hi,
			    struct enforce_net_block *out, size_t max)
{
	unsigned w = width(family);
	u128 l = addr_value(family, lo), h = addr_value(family, hi);
	size_t n = 0;

	if (l > h)
		return -EINVAL;
	for (;;) {
		/* the largest aligned block starting at l that ends by h */
		unsigned k = 0;
		while (k < w) {
			u128 m = low_mask(k + 1);
			if ((l & m) != 0 || h - l < m)
				break;
			k++;
		}
		if (n == max)
			return -E2BIG;
		value_addr(family, l, out[n].addr);
		out[n].plen = w - k;
		n++;
		u128 m = low_mask(k);
		if (h - l == m)
			return (int)n;
		l += m + 1;
	}
}

/* ---- address-group CIDRs: left-aligned so one mask serves both families */

struct cidr {
	uint8_t family;
	uint8_t plen;  /* address bits */
	u128 base;     /* left-aligned in 128 bits */
};

static u128 prefix_mask(unsigned plen)
{
	return plen == 0 ? 0 : ~(u128)0 << (128 - plen);
}

static u128 left(uint8_t family, const uint8_t *a)
{
	u128 v = addr_value(family, a);

	return family == AF_INET ? v << 96 : v;
}

static void left_addr(uint8_t family, u128 v, uint8_t *a)
{
	value_addr(family, family == AF_INET ? v >> 96 : v, a);
}

/* An address in the block (base, plen) that no CIDR more specific than
 * cplen covers; false when they cover all of it. Only blocks holding such
 * a CIDR are split, so this visits at most width x n blocks. */
static bool find_rep(const struct cidr *v, size_t n, uint8_t family, u128 base, unsigned plen,
		     unsigned cplen, u128 *out)
{
	bool inside = false;

	for (size_t i = 0; i < n; i++) {
		if (v[i].family != family || v[i].plen <= cplen)
			continue;
		if (v[i].plen <= plen && (base & prefix_mask(v[i].plen)) == v[i].base)
			return false;
		if (v[i].plen > plen && (v[i].base & prefix_mask(plen)) == base)
			inside = true;
	}
	if (!inside) {
		*out = base;
		return true;
	}
	if (plen >= width(family))
		return false;
	u128 bit = (u128)1 << (127 - plen);
	return find_rep(v, n, family, base, plen + 1, cplen, out) ||
	       find_rep(v, n, family, base | bit, plen + 1, cplen, out);
}

static bool cidr_eq(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && a->plen == b->plen && a->base == b->base;
}

/* Every CIDR of every address criterion (= and !=; ranges decomposed),
 * plus 0.0.0.0/0 and ::/0: the class of an address in no group. */
static int collect_cidrs(const struct policy *p, struct cidr **out, size_t *n)
{
	struct cidr *v = NULL;
	size_t nv = 0, cap = 0;
	struct enforce_net_block blocks[256];

	struct cidr roots[2] = { { AF_INET, 0, 0 }, { AF_INET6, 0, 0 } };
	for (int i = 0; i < 2; i++)
		if (PUSH(v, nv, cap, roots[i]))
			goto nomem;
	for (size_t g = 0; g < p->n_groups; g++) {
		for (size_t k = 0; k < p->groups[g].n_crit; k++) {
			const struct criterion *c = &p->groups[g].crit[k];
			if (c->key != CRIT_ADDRESS)
				continue;
			/* at most 2 * width blocks: always fits */
			int nb = enforce_net_range_cidrs(c->addr.family, c->addr.lo, c->addr.hi, blocks,
							 sizeof(blocks) / sizeof(blocks[0]));
			for (int b = 0; b < nb; b++) {
				struct cidr x = { c->addr.family, blocks[b].plen,
						  left(c->addr.family, blocks[b].addr) };
				bool dup = false;
				for (size_t i = 0; i < nv && !dup; i++)
					dup = cidr_eq(&v[i], &x);
				if (!dup && PUSH(v, nv, cap, x))
					goto nomem;
			}
		}
	}
	*out = v;
	*n = nv;
	return 0;
nomem:
	free(v);
	return -ENOMEM;
}

/* ---- classes */

struct cls {
	uint32_t id;
	uint64_t *bits;
};

struct compile {
	struct enforce_net *en;
	const struct enforce_net_input *in;
	size_t words;
	struct cls *cls;
	size_t n_cls, cap_cls;
	struct enforce_net_result *r;
	size_t cap_addrs, cap_cidrs, cap_tables, cap_cgs;
};

static bool bit(const uint64_t *m, size_t words, size_t i)
{
	return i / 64 < words && (m[i / 64] >> (i % 64)) & 1;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *class_key(const struct policy *p, const uint64_t *bits, size_t words)
{
	const char **names = malloc((p->n_groups + 1) * sizeof(*names));
	size_t n = 0, len = 1;
	char *key;

	if (!names)
		return NULL;
	for (size_t g = 0; g < p->n_groups; g++) {
		if (bit(bits, words, g)) {
			names[n++] = p->groups[g].name;
			len += strlen(p->groups[g].name) + 1;
		}
	}
	qsort(names, n, sizeof(*names), name_cmp);
	key = malloc(len);
	if (key) {
		char *o = key;
		for (size_t i = 0; i < n; i++) {
			size_t l = strlen(names[i]);
			memcpy(o, names[i], l);
			o += l;
			*o++ = '\x1f';
		}
		*o = 0;
	}
	free(names);
	return key;
}

static bool only(const uint64_t *bits, size_t words, size_t g)
{
	for (size_t w = 0; w < words; w++) {
		uint64_t want = w == g / 64 ? 1ULL << (g % 64) : 0;
		if (bits[w] != want)
			return false;
	}
	return true;
}

/* The id a membership has this compile (the same id as last time for the
 * same set of group names). Returns 0 on ENOMEM. */
static uint32_t class_of(struct compile *c, const uint64_t *member, size_t member_words)
{
	size_t words = c->words;
	uint64_t *bits = calloc(words ? words : 1, sizeof(*bits));

	if (!bits)
		return 0;
	if (member && member_words)
		memcpy(bits, member, (member_words < words ? member_words : words) * sizeof(*bits));
	for (size_t i = 0; i < c->n_cls; i++) {
		if (memcmp(c->cls[i].bits, bits, words * sizeof(*bits)) == 0) {
			free(bits);
			return c->cls[i].id;
		}
	}
	uint32_t id = 0;
	if (only(bits, words, POLICY_G_EXTERNAL)) {
		id = WACHT_CLASS_EXTERNAL;
	} else if (only(bits, words, POLICY_G_NODES)) {
		id = WACHT_CLASS_NODES;
	} else {
		char *key = class_key(c->in->policy, bits, words);
		struct enforce_net *en = c->en;
		if (!key)
			goto nomem;
		for (size_t i = 0; i < en->n_classes && !id; i++) {
			if (strcmp(en->classes[i].key, key) == 0) {
				id = en->classes[i].id;
				en->classes[i].used = true;
			}
		}
		if (id) {
			free(key);
		} else {
			struct class_ent ce = { key, en->next_class, true };
			if (PUSH(en->classes, en->n_classes, en->cap_classes, ce)) {
				free(key);
				goto nomem;
			}
			id = en->next_class++;
		}
	}
	struct cls k = { id, bits };
	if (PUSH(c->cls, c->n_cls, c->cap_cls, k))
		goto nomem;
	return id;
nomem:
	free(bits);
	return 0;
}

static uint32_t set_of(struct enforce_net *en, uint64_t cgroup_id)
{
	for (size_t i = 0; i < en->n_sets; i++) {
		if (en->sets[i].cgroup_id == cgroup_id) {
			en->sets[i].used = true;
			return en->sets[i].id;
		}
	}
	struct set_ent s = { cgroup_id, en->next_set, true };
	if (PUSH(en->sets, en->n_sets, en->cap_sets, s))
		return 0;
	return en->next_set++;
}

/* ---- peers */

static int add_addr(struct compile *c, const struct entity_addr *a, uint32_t class)
{
	struct enforce_net_addr e = { .key = { .family = a->family }, .class = class };
	struct enforce_net_result *r = c->r;

	memcpy(e.key.addr, a->addr, a->family == AF_INET ? 4 : 16);
	return PUSH(r->addrs, r->n_addrs, c->cap_addrs, e);
}

struct seq_addr {
	struct enforce_net_addr a;
	size_t seq;
};

static int seq_addr_cmp(const void *x, const void *y)
{
	const struct seq_addr *a = x, *b = y;
	int d = memcmp(&a->a.key, &b->a.key, sizeof(a->a.key));

	return d ? d : a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Sorted by key, one entry per address: the first added wins. The host's
 * addresses come first: the sensor resolves a peer that is this host (a
 * host-network container's too) as the host; a container here wins over
 * one of another node the same way. */
static int addrs_unique(struct enforce_net_result *r)
{
	struct seq_addr *v = malloc((r->n_addrs ? r->n_addrs : 1) * sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_addrs; i++)
		v[i] = (struct seq_addr){ r->addrs[i], i };
	qsort(v, r->n_addrs, sizeof(*v), seq_addr_cmp);
	for (size_t i = 0; i < r->n_addrs; i++)
		if (!n || memcmp(&r->addrs[n - 1].key, &v[i].a.key, sizeof(v[i].a.key)) != 0)
			r->addrs[n++] = v[i].a;
	r->n_addrs = n;
	free(v);
	return 0;
}

static int peers_compile(struct compile *c)
{
	const struct enforce_net_input *in = c->in;
	uint64_t *bits = calloc(c->words ? c->words : 1, sizeof(*bits));
	struct cidr *v = NULL;
	size_t nv = 0;
	int err = -ENOMEM;

	if (!bits)
		return -ENOMEM;
	/* the fallback of the kernel (no trie entry): in no address group */
	memset(bits, 0, c->words * sizeof(*bits));
	bits[POLICY_G_EXTERNAL / 64] |= 1ULL << (POLICY_G_EXTERNAL % 64);
	if (!class_of(c, bits, c->words))
		goto out;
	for (size_t i = 0; i < in->n_host; i++) {
		const struct entity_addr *a = &in->host[i];
		memset(bits, 0, c->words * sizeof(*bits));
		in->member(in->member_ctx, true, a->family, a->addr, bits, c->words);
		uint32_t id = class_of(c, bits, c->words);
		if (!id || add_addr(c, a, id))
			goto out;
	}
	for (size_t k = 0; k < in->n_containers; k++) {
		const struct enforce_net_container *ct = &in->containers[k];
		uint32_t id = ct->n_addrs ? class_of(c, ct->member, ct->member_words) : 1;
		if (!id)
			goto out;
		for (size_t i = 0; i < ct->n_addrs; i++)
			if (add_addr(c, &ct->addrs[i], id))
				goto out;
	}
	/* after this node's: an address claimed here too stays ours */
	for (size_t k = 0; k < in->n_remote; k++) {
		const struct enforce_net_remote *rm = &in->remote[k];
		uint32_t id = class_of(c, rm->member, rm->member_words);
		if (!id || add_addr(c, &rm->addr, id))
			goto out;
	}
	if ((err = collect_cidrs(in->policy, &v, &nv)))
		goto out;
	err = -ENOMEM;
	for (size_t i = 0; i < nv; i++) {
		u128 rep;
		/* an address in this CIDR but in none more specific: its groups
		 * are those of every address the trie maps to this entry */
		if (!find_rep(v, nv, v[i].family, v[i].base, v[i].plen, v[i].plen, &rep))
			continue;
		struct enforce_net_cidr e = { .key = { .prefixlen = 32 + v[i].plen,
						       .family = v[i].family } };
		uint8_t a[16];
		left_addr(v[i].family, rep, a);
		memset(bits, 0, c->words * sizeof(*bits));
		in->member(in->member_ctx, false, v[i].family, a, bits, c->words);
		if (!(e.class = class_of(c, bits, c->words)))
			goto out;
		left_addr(v[i].family, v[i].base, e.key.addr);
		if (PUSH(c->r->cidrs, c->r->n_cidrs, c->cap_cidrs, e))
			goto out;
	}
	err = 0;
out:
	free(v);
	free(bits);
	return err;
}

/* ---- tables */

struct entries {
	struct wacht_net_entry *v;
	size_t n, cap;
};

/* The rules of list (egress: peer = to; ingress: peer = from) that apply
 * to a peer of class k, flattened. */
static int table_build(const struct policy *p, const size_t *list, size_t n_list, bool ingress,
		       const struct cls *k, size_t words, struct entries *out)
{
	out->n = 0;
	for (size_t i = 0; i < n_list; i++) {
		const struct net_rule *r = &p->net[list[i]];
		if (!bit(k->bits, words, ingress ? r->from : r->to))
			continue;
		for (size_t j = 0; j < r->n_ports; j++) {
			const struct port_range *pr = &r->ports[j];
			struct wacht_net_entry e = {
				.action = r->action == ACTION_ALLOW ? WACHT_NA_ALLOW : WACHT_NA_DENY,
			};
			if (pr->proto == PORT_PROTO_ANY) {
				e.lo = 0;
				e.hi = 65535;
			} else if (pr->proto == IPPROTO_TCP || pr->proto == IPPROTO_UDP) {
				e.proto = pr->proto;
				e.lo = pr->lo;
				e.hi = pr->hi;
			} else {
				continue; /* icmp: never seen by the hooks */
			}
			if (PUSH(out->v, out->n, out->cap, e))
				return -ENOMEM;
			if (e.proto == 0 && e.lo == 0 && e.hi == 65535)
				return 0; /* a catch-all: nothing after it is reached */
		}
	}
	return 0;
}

static int tables_compile(struct compile *c)
{
	const struct enforce_net_input *in = c->in;
	struct enforce_net_result *r = c->r;
	struct entries ent = { 0 };
	int err = 0;

	for (size_t k = 0; k < in->n_containers && !err; k++) {
		const struct enforce_net_container *ct = &in->containers[k];
		struct enforce_net_cg cg = { .cgroup_id = ct->cgroup_id, .protect = ct->protect };

		if (ct->protect && !(cg.net_set = set_of(c->en, ct->cgroup_id))) {
			err = -ENOMEM;
			break;
		}
		for (size_t i = 0; ct->protect && i < c->n_cls && !err; i++) {
			for (int dir = WACHT_DIR_EGRESS; dir <= WACHT_DIR_INGRESS && !err; dir++) {
				bool ing = dir == WACHT_DIR_INGRESS;
				if ((err = table_build(in->policy, ing ? ct->ingress : ct->egress,
						       ing ? ct->n_ingress : ct->n_egress, ing, &c->cls[i],
						       c->words, &ent)))
					break;
				/* deny entries at the end say what the default says */
				while (ent.n && ent.v[ent.n - 1].action == WACHT_NA_DENY)
					ent.n--;
				if (!ent.n)
					continue; /* no table: deny */
				struct enforce_net_table t = {
					.key = { .set = cg.net_set, .peer_class = c->cls[i].id,
						 .direction = dir },
					.rules = { .dflt = WACHT_NA_DENY },
				};
				if (ent.n > WACHT_NET_ENTRIES) {
					t.rules.dflt = WACHT_NA_ALLOW;
					cg.overflow = true;
					r->n_overflow++;
				} else {
					t.rules.n = ent.n;
					memcpy(t.rules.e, ent.v, ent.n * sizeof(*ent.v));
				}
				err = PUSH(r->tables, r->n_tables, c->cap_tables, t);
			}
		}
		if (!err)
			err = PUSH(r->cgs, r->n_cgs, c->cap_cgs, cg);
	}
	free(ent.v);
	return err;
}

/* ---- sorting and lookup */

static int addr_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct wacht_addr_key));
}
static int cidr_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct wacht_cidr_key));
}
static int table_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct wacht_net_key));
}
static int cg_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct enforce_net_cg *)a)->cgroup_id;
	uint64_t y = ((const struct enforce_net_cg *)b)->cgroup_id;

	return x < y ? -1 : x > y;
}

/* Ids not used by this compile are forgotten (never given out again). */
static void registry_sweep(struct enforce_net *en)
{
	size_t j = 0;

	for (size_t i = 0; i < en->n_classes; i++) {
		if (en->classes[i].used) {
			en->classes[i].used = false;
			en->classes[j++] = en->classes[i];
		} else {
			free(en->classes[i].key);
		}
	}
	en->n_classes = j;
	j = 0;
	for (size_t i = 0; i < en->n_sets; i++) {
		if (en->sets[i].used) {
			en->sets[i].used = false;
			en->sets[j++] = en->sets[i];
		}
	}
	en->n_sets = j;
}

int enforce_net__compile(struct enforce_net *en, const struct enforce_net_input *in,
			 struct enforce_net_result **out)
{
	struct compile c = { .en = en, .in = in, .words = (in->policy->n_groups + 63) / 64 };
	int err;

	*out = NULL;
	if (!(c.r = calloc(1, sizeof(*c.r))))
		return -ENOMEM;
	err = peers_compile(&c);
	if (!err)
		err = addrs_unique(c.r);
	if (!err)
		err = tables_compile(&c);
	for (size_t i = 0; i < c.n_cls; i++)
		free(c.cls[i].bits);
	free(c.cls);
	if (err) {
		/* keep the ids of the last good compile */
		for (size_t i = 0; i < en->n_classes; i++)
			en->classes[i].used = true;
		for (size_t i = 0; i < en->n_sets; i++)
			en->sets[i].used = true;
		registry_sweep(en);
		enforce_net_result_free(c.r);
		return err;
	}
	registry_sweep(en);
	c.r->n_classes = c.n_cls;
	qsort(c.r->cidrs, c.r->n_cidrs, sizeof(*c.r->cidrs), cidr_cmp);
	qsort(c.r->tables, c.r->n_tables, sizeof(*c.r->tables), table_cmp);
	qsort(c.r->cgs, c.r->n_cgs, sizeof(*c.r->cgs), cg_cmp);
	*out = c.r;
	return 0;
}

const struct enforce_net_cg *enforce_net_cg_find(const struct enforce_net_result *r,
						 uint64_t cgroup_id)
{
	struct enforce_net_cg k = { .cgroup_id = cgroup_id };

	return r ? bsearch(&k, r->cgs, r->n_cgs, sizeof(k), cg_cmp) : NULL;
}

int enforce_net_decide(const struct enforce_net_result *r, uint64_t cgroup_id, uint8_t family,
		       const uint8_t *addr, int direction, uint8_t proto, uint16_t port)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t v6lo[16] = { [15] = 1 };
	struct wacht_addr_key ak = { .family = family };
	const struct enforce_net_cg *cg = enforce_net_cg_find(r, cgroup_id);

	if (!cg || !cg->protect)
		return 0;
	if (family == AF_INET6 && memcmp(addr, mapped, 12) == 0) {
		ak.family = AF_INET;
		memcpy(ak.addr, addr + 12, 4);
	} else {
		memcpy(ak.addr, addr, family == AF_INET ? 4 : 16);
	}
	if (ak.family == AF_INET ? ak.addr[0] == 127 : memcmp(ak.addr, v6lo, 16) == 0)
		return 0;

	uint32_t class = WACHT_CLASS_EXTERNAL;
	const struct enforce_net_addr *a = bsearch(&ak, r->addrs, r->n_addrs, sizeof(*r->addrs),
						   addr_cmp);
	if (a) {
		class = a->class;
	} else {
		/* longest prefix, as the trie */
		uint32_t best = 0;
		u128 v = left(ak.family, ak.addr);
		for (size_t i = 0; i < r->n_cidrs; i++) {
			const struct wacht_cidr_key *k = &r->cidrs[i].key;
			unsigned plen = k->prefixlen - 32;
			if (k->family != ak.family || k->prefixlen < best + 1)
				continue;
			if ((v & prefix_mask(plen)) == left(ak.family, k->addr)) {
				best = k->prefixlen;
				class = r->cidrs[i].class;
			}
		}
	}
	struct wacht_net_key tk = { .set = cg->net_set, .peer_class = class, .direction = direction };
	const struct enforce_net_table *t = bsearch(&tk, r->tables, r->n_tables, sizeof(*r->tables),
						    table_cmp);
	if (!t)
		return WACHT_NA_DENY;
	for (uint32_t i = 0; i < t->rules.n && i < WACHT_NET_ENTRIES; i++) {
		const struct wacht_net_entry *e = &t->rules.e[i];
		if ((e->proto == 0 || e->proto == proto) && e->lo <= port && port <= e->hi)
			return e->action;
	}
	return t->rules.dflt;
}
