// SPDX-License-Identifier: Apache-2.0
/* peermap.c: cluster-wide address -> container maps (see peermap.h). */
#include "hash.h"
#include "peermap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bytebuf.h"
#include "wire.h"

static char *dup(const char *s)
{
	return strdup(s ? s : "");
}

/* ---- a sensor's announcement */

enum { S_ID, S_NAME, S_IMAGE, S_POD, S_NS, S_GROUP, S_N };

struct ann_item {
	char *s[S_N];
	uint8_t ip[PEER_ADDRS_MAX][16];
	ProtobufCBinaryData ips[PEER_ADDRS_MAX];
	size_t n_ips;
	Wacht__V1__PeerEndpoint ep;
	Wacht__V1__Container ct;
};

struct peer_announce {
	struct ann_item **items;
	Wacht__V1__PeerEndpoint **eps;
	size_t n, cap;
	Wacht__V1__SensorEndpoints msg;
};

struct peer_announce *peer_announce__new(void)
{
	return calloc(1, sizeof(struct peer_announce));
}

static void ann_item_free(struct ann_item *it)
{
	if (!it)
		return;
	for (int i = 0; i < S_N; i++)
		free(it->s[i]);
	free(it);
}

void peer_announce__reset(struct peer_announce *a)
{
	for (size_t i = 0; i < a->n; i++)
		ann_item_free(a->items[i]);
	a->n = 0;
}

void peer_announce__free(struct peer_announce *a)
{
	if (!a)
		return;
	peer_announce__reset(a);
	free(a->items);
	free(a->eps);
	free(a);
}

int peer_announce__add(struct peer_announce *a, const struct container_view *v, const char *group,
		       const struct entity_addr *addrs, size_t n_addrs)
{
	struct ann_item *it;

	if (!n_addrs)
		return 0;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		struct ann_item **items = realloc(a->items, cap * sizeof(*items));

		if (!items)
			return -ENOMEM;
		a->items = items;
		Wacht__V1__PeerEndpoint **eps = realloc(a->eps, cap * sizeof(*eps));
		if (!eps)
			return -ENOMEM;
		a->eps = eps;
		a->cap = cap;
	}
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	const char *src[S_N] = {v->id, v->name, v->image, v->pod, v->namespace, group};
	for (int i = 0; i < S_N; i++) {
		if (!(it->s[i] = dup(src[i]))) {
			ann_item_free(it);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < n_addrs && it->n_ips < PEER_ADDRS_MAX; i++) {
		size_t len = addrs[i].family == AF_INET6 ? 16 : 4;

		memcpy(it->ip[it->n_ips], addrs[i].addr, len);
		it->ips[it->n_ips].data = it->ip[it->n_ips];
		it->ips[it->n_ips].len = len;
		it->n_ips++;
	}
	wacht__v1__container__init(&it->ct);
	it->ct.id = it->s[S_ID];
	it->ct.name = it->s[S_NAME];
	it->ct.image = it->s[S_IMAGE];
	it->ct.pod = it->s[S_POD];
	it->ct.namespace_ = it->s[S_NS];
	it->ct.group = it->s[S_GROUP];
	wacht__v1__peer_endpoint__init(&it->ep);
	it->ep.n_ips = it->n_ips;
	it->ep.ips = it->ips;
	it->ep.container = &it->ct;
	a->items[a->n++] = it;
	return 0;
}

static int item_cmp(const void *x, const void *y)
{
	const struct ann_item *a = *(const struct ann_item *const *)x;
	const struct ann_item *b = *(const struct ann_item *const *)y;

	return strcmp(a->s[S_ID], b->s[S_ID]);
}

Wacht__V1__SensorEndpoints *peer_announce__msg(struct peer_announce *a, const char *node)
{
	/* the containers come in the order of a hash table: sorted, an
	 * unchanged node is the same message */
	if (a->n > 1)
		qsort(a->items, a->n, sizeof(a->items[0]), item_cmp);
	for (size_t i = 0; i < a->n; i++)
		a->eps[i] = &a->items[i]->ep;
	wacht__v1__sensor_endpoints__init(&a->msg);
	a->msg.node = (char *)(node ? node : "");
	a->msg.n_endpoints = a->n;
	a->msg.endpoints = a->eps;
	return &a->msg;
}

uint64_t peer_announce__hash(struct peer_announce *a, const char *node)
{
	Wacht__V1__SensorEndpoints *m = peer_announce__msg(a, node);
	uint64_t h = hash_fnv1a(HASH_FNV_OFFSET, m->node, strlen(m->node) + 1);

	/* the message's parts, as packing would see them, without the time */
	for (size_t i = 0; i < a->n; i++) {
		const struct ann_item *it = a->items[i];

		for (int s = 0; s < S_N; s++)
			h = hash_fnv1a(h, it->s[s], strlen(it->s[s]) + 1);
		for (size_t k = 0; k < it->n_ips; k++)
			h = hash_fnv1a(h, it->ip[k], it->ips[k].len);
		h = hash_fnv1a(h, "\n", 1);
	}
	return h;
}

/* ---- the merge */

struct pnode {
	char *node;
	uint64_t owner;
	int64_t released_at; /* 0: held by owner */
	struct bytebuf blob; /* PeerMap field 1 records, each tag + length + PeerEndpoint */
	size_t *ends;	     /* end offset of each record in blob */
	size_t n;
};

struct peer_map {
	struct pnode **nodes; /* sorted by name */
	size_t n, cap;
	uint64_t version;
	size_t endpoints;
};

struct peer_map *peer_map__new(void)
{
	return calloc(1, sizeof(struct peer_map));
}

static void pnode_free(struct pnode *p)
{
	if (!p)
		return;
	free(p->node);
	bytebuf_release(&p->blob);
	free(p->ends);
	free(p);
}

void peer_map__free(struct peer_map *pm)
{
	if (!pm)
		return;
	for (size_t i = 0; i < pm->n; i++)
		pnode_free(pm->nodes[i]);
	free(pm->nodes);
	free(pm);
}

/* The index of node, or where it would go (*found false). */
static size_t find(const struct peer_map *pm, const char *node, bool *found)
{
	size_t lo = 0, hi = pm->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(pm->nodes[mid]->node, node);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static void remove_at(struct peer_map *pm, size_t i)
{
	pm->endpoints -= pm->nodes[i]->n;
	pnode_free(pm->nodes[i]);
	memmove(pm->nodes + i, pm->nodes + i + 1, (pm->n - i - 1) * sizeof(pm->nodes[0]));
	pm->n--;
	pm->version++;
}

int peer_map__put(struct peer_map *pm, const char *node, uint64_t owner,
		  const Wacht__V1__SensorEndpoints *se, size_t *dropped)
{
	struct pnode *p = calloc(1, sizeof(*p));
	size_t drop = 0, n_max = se->n_endpoints < PEER_NODE_MAX ? se->n_endpoints : PEER_NODE_MAX;
	bool found;
	int err = -ENOMEM;

	if (!p || !(p->node = strdup(node)) ||
	    (n_max && !(p->ends = malloc(n_max * sizeof(p->ends[0])))))
		goto fail;
	p->owner = owner;
	for (size_t i = 0; i < se->n_endpoints; i++) {
		const Wacht__V1__PeerEndpoint *e = se->endpoints[i];
		ProtobufCBinaryData ips[PEER_ADDRS_MAX];
		Wacht__V1__PeerEndpoint copy = WACHT__V1__PEER_ENDPOINT__INIT;
		size_t n_ips = 0;

		for (size_t k = 0; k < e->n_ips && n_ips < PEER_ADDRS_MAX; k++)
			if (e->ips[k].len == 4 || e->ips[k].len == 16)
				ips[n_ips++] = e->ips[k];
		if (p->n == n_max || !e->container || !n_ips) {
			drop++;
			continue;
		}
		copy.n_ips = n_ips;
		copy.ips = ips;
		copy.container = e->container;
		copy.node = (char *)node;
		size_t size = wacht__v1__peer_endpoint__get_packed_size(&copy);
		uint8_t *q = bytebuf_reserve(&p->blob, 1 + 10 + size);
		if (!q)
			goto fail;
		q[0] = 0x0a; /* PeerMap field 1, length-delimited */
		size_t hl = 1 + wire_put_varint(q + 1, size);
		wacht__v1__peer_endpoint__pack(&copy, q + hl);
		bytebuf_commit(&p->blob, hl + size);
		p->ends[p->n++] = bytebuf_size(&p->blob);
	}
	if (dropped)
		*dropped = drop;
	size_t i = find(pm, node, &found);
	if (found) {
		struct pnode *old = pm->nodes[i];
		bool same = old->n == p->n && bytebuf_size(&old->blob) == bytebuf_size(&p->blob) &&
			    memcmp(bytebuf_head(&old->blob), bytebuf_head(&p->blob),
				   bytebuf_size(&p->blob)) == 0;

		if (same) {
			/* held again (maybe by a new connection), nothing new */
			old->owner = owner;
			old->released_at = 0;
			pnode_free(p);
			return 0;
		}
		pm->endpoints -= old->n;
		pnode_free(old);
		pm->nodes[i] = p;
	} else {
		if (pm->n == pm->cap) {
			size_t cap = pm->cap ? pm->cap * 2 : 16;
			struct pnode **v = realloc(pm->nodes, cap * sizeof(*v));

			if (!v)
				goto fail;
			pm->nodes = v;
			pm->cap = cap;
		}
		memmove(pm->nodes + i + 1, pm->nodes + i, (pm->n - i) * sizeof(pm->nodes[0]));
		pm->nodes[i] = p;
		pm->n++;
	}
	pm->endpoints += p->n;
	pm->version++;
	return 0;
fail:
	pnode_free(p);
	return err;
}

void peer_map__release(struct peer_map *pm, const char *node, uint64_t owner, int64_t now)
{
	bool found;
	size_t i = find(pm, node, &found);

	if (found && pm->nodes[i]->owner == owner && !pm->nodes[i]->released_at)
		pm->nodes[i]->released_at = now ? now : 1;
}

size_t peer_map__expire(struct peer_map *pm, int64_t now, int64_t grace)
{
	size_t gone = 0;

	for (size_t i = pm->n; i-- > 0;) {
		int64_t r = pm->nodes[i]->released_at;

		if (r && now - r >= grace) {
			remove_at(pm, i);
			gone++;
		}
	}
	return gone;
}

bool peer_map__drop(struct peer_map *pm, const char *node)
{
	bool found;
	size_t i = find(pm, node, &found);

	if (found)
		remove_at(pm, i);
	return found;
}

uint64_t peer_map__version(const struct peer_map *pm)
{
	return pm->version;
}

size_t peer_map__nodes(const struct peer_map *pm)
{
	return pm->n;
}

size_t peer_map__endpoints(const struct peer_map *pm)
{
	return pm->endpoints;
}

int peer_map__frame(const struct peer_map *pm, size_t max_frame, uint8_t **out, size_t *len,
		    uint32_t *omitted_out)
{
	/* Envelope: 1 version (2 bytes), 9 peers (1 + up to 5 length);
	 * PeerMap: 2 version, 3 omitted (1 + up to 10 each) after the records */
	const size_t over = 2 + 6 + 22;
	size_t body = 0, omitted = 0;
	size_t take[pm->n ? pm->n : 1];

	if (max_frame < over)
		return -EMSGSIZE;
	if (max_frame > UINT32_MAX)
		max_frame = UINT32_MAX;
	for (size_t i = 0; i < pm->n; i++) {
		const struct pnode *p = pm->nodes[i];
		size_t k = 0;

		/* the records of a node in order, as many as fit */
		while (k < p->n && body + p->ends[k] + over <= max_frame)
			k++;
		take[i] = k;
		body += k ? p->ends[k - 1] : 0;
		omitted += p->n - k;
	}
	uint8_t tail[24];
	size_t tl = 0;
	if (pm->version) {
		tail[tl++] = 0x10;
		tl += wire_put_varint(tail + tl, pm->version);
	}
	if (omitted) {
		tail[tl++] = 0x18;
		tl += wire_put_varint(tail + tl, omitted);
	}
	size_t peers_len = body + tl;
	uint8_t ehdr[16];
	size_t el = 0;
	ehdr[el++] = 0x08;
	el += wire_put_varint(ehdr + el, WIRE_VERSION);
	ehdr[el++] = 0x4a; /* Envelope field 9 (peers), length-delimited */
	el += wire_put_varint(ehdr + el, peers_len);
	size_t env_len = el + peers_len;
	uint8_t *f = malloc(WIRE_HEADER_LEN + env_len), *q = f;
	if (!f)
		return -ENOMEM;
	*q++ = (uint8_t)(env_len >> 24);
	*q++ = (uint8_t)(env_len >> 16);
	*q++ = (uint8_t)(env_len >> 8);
	*q++ = (uint8_t)env_len;
	memcpy(q, ehdr, el);
	q += el;
	for (size_t i = 0; i < pm->n; i++) {
		size_t n = take[i] ? pm->nodes[i]->ends[take[i] - 1] : 0;

		memcpy(q, bytebuf_head(&pm->nodes[i]->blob), n);
		q += n;
	}
	memcpy(q, tail, tl);
	*out = f;
	*len = WIRE_HEADER_LEN + env_len;
	if (omitted_out)
		*omitted_out = omitted > UINT32_MAX ? UINT32_MAX : (uint32_t)omitted;
	return 0;
}

/* ---- the sensor's table */

struct slot {
	uint32_t entry; /* index + 1; 0: empty */
	uint8_t family;
	uint8_t addr[16];
};

struct tentry {
	struct peer_entry e;
	char *s[S_N + 1]; /* S_N: the node */
};

struct peer_table {
	size_t max;
	struct tentry *entries;
	size_t n;
	struct slot *slots;
	size_t n_slots; /* a power of two, or 0 */
	size_t n_addrs;
	struct peer_table_stats st;
};

struct peer_table *peer_table__new(size_t max_addrs)
{
	struct peer_table *t = calloc(1, sizeof(*t));

	if (t)
		t->max = max_addrs ? max_addrs : PEER_TABLE_MAX;
	return t;
}

static void table_clear(struct peer_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		for (int s = 0; s <= S_N; s++)
			free(t->entries[i].s[s]);
	free(t->entries);
	free(t->slots);
	t->entries = NULL;
	t->slots = NULL;
	t->n = t->n_slots = t->n_addrs = 0;
}

void peer_table__free(struct peer_table *t)
{
	if (!t)
		return;
	table_clear(t);
	free(t);
}

static size_t slot_of(uint8_t family, const uint8_t *addr, size_t mask)
{
	uint64_t h = hash_fnv1a(HASH_FNV_OFFSET, &family, 1);

	return (size_t)hash_fnv1a(h, addr, family == AF_INET6 ? 16 : 4) & mask;
}

static struct slot *slot_find(const struct peer_table *t, uint8_t family, const uint8_t *addr,
			      bool *found)
{
	size_t mask = t->n_slots - 1, len = family == AF_INET6 ? 16 : 4;

	for (size_t i = slot_of(family, addr, mask);; i = (i + 1) & mask) {
		struct slot *s = &t->slots[i];

		if (!s->entry || (s->family == family && memcmp(s->addr, addr, len) == 0)) {
			*found = s->entry != 0;
			return s;
		}
	}
}

int peer_table__apply(struct peer_table *t, const Wacht__V1__PeerMap *m, const char *own_node)
{
	size_t n_ep = 0, n_ip = 0, dropped = 0;

	table_clear(t);
	t->st.maps++;
	t->st.version = m->version;
	t->st.omitted = m->omitted;
	for (size_t i = 0; i < m->n_endpoints; i++) {
		n_ep++;
		n_ip += m->endpoints[i]->n_ips;
	}
	if (n_ip > t->max)
		n_ip = t->max;
	size_t slots = 16;
	while (slots < 2 * n_ip)
		slots *= 2;
	t->entries = calloc(n_ep ? n_ep : 1, sizeof(t->entries[0]));
	t->slots = calloc(slots, sizeof(t->slots[0]));
	if (!t->entries || !t->slots)
		goto oom;
	t->n_slots = slots;
	for (size_t i = 0; i < m->n_endpoints; i++) {
		const Wacht__V1__PeerEndpoint *pe = m->endpoints[i];
		const Wacht__V1__Container *c = pe->container;
		struct tentry *te = &t->entries[t->n];
		size_t added = 0;

		if (!c || !pe->node || !pe->node[0] ||
		    (own_node && strcmp(pe->node, own_node) == 0))
			continue;
		const char *src[S_N + 1] = {c->id,	   c->name,  c->image, c->pod,
					    c->namespace_, c->group, pe->node};
		for (int s = 0; s <= S_N; s++)
			if (!(te->s[s] = dup(src[s])))
				goto oom_entry;
		te->e.view = (struct container_view){.id = te->s[S_ID],
						     .name = te->s[S_NAME],
						     .image = te->s[S_IMAGE],
						     .pod = te->s[S_POD],
						     .namespace = te->s[S_NS],
						     .runtime = "",
						     .pod_uid = "",
						     .cgroup = ""};
		te->e.group = te->s[S_GROUP];
		te->e.node = te->s[S_N];
		for (size_t k = 0; k < pe->n_ips; k++) {
			const ProtobufCBinaryData *ip = &pe->ips[k];
			uint8_t family = ip->len == 16 ? AF_INET6 : AF_INET;
			bool found;

			if ((ip->len != 4 && ip->len != 16) || t->n_addrs >= t->max) {
				dropped++;
				continue;
			}
			struct slot *s = slot_find(t, family, ip->data, &found);
			if (found)
				continue; /* two claim one address: the first keeps it */
			s->entry = (uint32_t)t->n + 1;
			s->family = family;
			memcpy(s->addr, ip->data, ip->len);
			t->n_addrs++;
			added++;
		}
		if (!added) {
			for (int s = 0; s <= S_N; s++)
				free(te->s[s]);
			memset(te, 0, sizeof(*te));
			continue;
		}
		t->n++;
	}
	t->st.endpoints = t->n;
	t->st.addresses = t->n_addrs;
	t->st.dropped = dropped;
	return 0;
oom_entry:
	for (int s = 0; s <= S_N; s++)
		free(t->entries[t->n].s[s]);
oom:
	table_clear(t);
	t->st.endpoints = t->st.addresses = 0;
	return -ENOMEM;
}

const struct peer_entry *peer_table__lookup(const struct peer_table *t, uint8_t family,
					    const uint8_t *addr)
{
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
	bool found;

	if (!t || !t->n_slots)
		return NULL;
	if (family == AF_INET6 && memcmp(addr, mapped, 12) == 0) {
		family = AF_INET;
		addr += 12;
	}
	const struct slot *s = slot_find(t, family, addr, &found);
	return found ? &t->entries[s->entry - 1].e : NULL;
}

void peer_table__foreach_addr(const struct peer_table *t, peer_table_addr_cb cb, void *ctx)
{
	for (size_t i = 0; t && i < t->n_slots; i++) {
		const struct slot *s = &t->slots[i];

		if (s->entry)
			cb(ctx, &t->entries[s->entry - 1].e, s->family, s->addr);
	}
}

void peer_table__stats(const struct peer_table *t, struct peer_table_stats *st)
{
	*st = t->st;
}
