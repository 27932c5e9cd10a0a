// SPDX-License-Identifier: Apache-2.0
/* proc_table.c: the process tree kept from exec/fork/exit events. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "proc_table.h"

/* Nodes are numbered from 1 so that 0 means "none" everywhere: slot arrays
 * straight from calloc read as empty, and pages of the node array that were
 * never handed out stay unbacked (RSS follows the live processes). */
#define PROC_NONE 0u
#define PROC_MAX_ENTRIES (1u << 24)
#define PROC_BUDGET_PER_ENTRY 128
#define PROC_BUDGET_MIN (64 * 1024)

/* An interned exe path, shared by every entry that runs it. */
struct proc_str {
	uint32_t refs;
	uint32_t len;  /* strlen(s) */
	uint64_t hash;
	char s[];
};

struct proc_node {
	struct proc_entry e;   /* first: lookup hands out &node->e */
	struct proc_str *exe;  /* NULL: exe "" */
	uint32_t prev, next;   /* age list (oldest -> newest); next also links free nodes */
};

/* Open addressing with linear probing: tgids are dense small integers, so
 * a multiplicative hash spreads them and one cache line holds 8 probes. */
struct proc_slot {
	uint32_t tgid;
	uint32_t node; /* PROC_NONE: empty */
};

struct proc_table {
	struct proc_node *nodes; /* [1..max] */
	uint32_t max;
	uint32_t used;           /* nodes[1..used] have been handed out once */
	uint32_t free_head;      /* nodes released since, linked by next */
	uint32_t count;
	uint32_t oldest, newest;
	struct proc_slot *slots; /* by tgid, load <= 1/2 */
	uint32_t slot_mask;
	struct proc_str **strs;  /* interned exe strings, load <= 1/2 */
	uint32_t str_mask;
	size_t str_bytes;
	size_t str_budget;
	uint64_t evictions;
	uint64_t seed[2];
};

static uint32_t proc_tgid_hash(uint32_t tgid)
{
	uint32_t h = tgid * 0x9e3779b1u; /* 2^32 / golden ratio */

	return h ^ (h >> 16);
}

#define ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND							\
	do {								\
		v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0;		\
		v0 = ROTL64(v0, 32);					\
		v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;		\
		v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;		\
		v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2;		\
		v2 = ROTL64(v2, 32);					\
	} while (0)

/*
 * SipHash-1-3 with a per-table random key. Exe paths are chosen by whoever
 * runs in a container: with an unkeyed hash they could pick paths that all
 * land in one probe run and make every exec cost O(n).
 */
static uint64_t proc_str_hash(const uint64_t key[2], const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint64_t v0 = key[0] ^ 0x736f6d6570736575ull;
	uint64_t v1 = key[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = key[0] ^ 0x6c7967656e657261ull;
	uint64_t v3 = key[1] ^ 0x7465646279746573ull;
	uint64_t m, b = (uint64_t)len << 56;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&m, p + i, 8); /* host order: the hash never leaves the process */
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static size_t proc_str_size(const struct proc_str *s)
{
	return sizeof(*s) + s->len + 1;
}

/* Take a reference to the interned copy of exe (NULL for ""). */
static int proc_str_get(struct proc_table *t, const char *exe,
			struct proc_str **out)
{
	struct proc_str *s;
	size_t len;
	uint64_t h;
	uint32_t i;

	*out = NULL;
	len = exe ? strnlen(exe, PROC_EXE_MAX) : 0;
	if (len >= PROC_EXE_MAX)
		return -ENAMETOOLONG;
	if (len == 0)
		return 0;
	h = proc_str_hash(t->seed, exe, len);
	for (i = (uint32_t)h & t->str_mask; (s = t->strs[i]);
	     i = (i + 1) & t->str_mask) {
		if (s->hash == h && s->len == len && !memcmp(s->s, exe, len)) {
			s->refs++;
			*out = s;
			return 0;
		}
	}
	s = malloc(sizeof(*s) + len + 1);
	if (!s)
		return -ENOMEM;
	s->refs = 1;
	s->len = (uint32_t)len;
	s->hash = h;
	memcpy(s->s, exe, len);
	s->s[len] = '\0';
	t->strs[i] = s;
	t->str_bytes += proc_str_size(s);
	*out = s;
	return 0;
}

/* Backward-shift deletion for linear probing (no tombstones, so probe runs
 * never grow with churn): move each later entry of the run into the hole
 * unless its home lies cyclically after the hole. */
static void proc_str_unlink(struct proc_table *t, uint32_t hole)
{
	uint32_t mask = t->str_mask, j = hole, home;

	for (;;) {
		j = (j + 1) & mask;
		if (!t->strs[j])
			break;
		home = (uint32_t)t->strs[j]->hash & mask;
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			t->strs[hole] = t->strs[j];
			hole = j;
		}
	}
	t->strs[hole] = NULL;
}

static void proc_str_put(struct proc_table *t, struct proc_str *s)
{
	uint32_t i;

	if (!s || --s->refs > 0)
		return;
	for (i = (uint32_t)s->hash & t->str_mask; t->strs[i] != s;
	     i = (i + 1) & t->str_mask)
		;
	proc_str_unlink(t, i);
	t->str_bytes -= proc_str_size(s);
	free(s);
}

static uint32_t proc_slot_find(const struct proc_table *t, uint32_t tgid)
{
	uint32_t i = proc_tgid_hash(tgid) & t->slot_mask;

	while (t->slots[i].node != PROC_NONE) {
		if (t->slots[i].tgid == tgid)
			return i;
		i = (i + 1) & t->slot_mask;
	}
	return UINT32_MAX;
}

static void proc_slot_delete(struct proc_table *t, uint32_t hole)
{
	uint32_t mask = t->slot_mask, j = hole, home;

	for (;;) {
		j = (j + 1) & mask;
		if (t->slots[j].node == PROC_NONE)
			break;
		home = proc_tgid_hash(t->slots[j].tgid) & mask;
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			t->slots[hole] = t->slots[j];
			hole = j;
		}
	}
	t->slots[hole].node = PROC_NONE;
}

static void proc_age_unlink(struct proc_table *t, uint32_t n)
{
	struct proc_node *x = &t->nodes[n];

	if (x->prev != PROC_NONE)
		t->nodes[x->prev].next = x->next;
	else
		t->oldest = x->next;
	if (x->next != PROC_NONE)
		t->nodes[x->next].prev = x->prev;
	else
		t->newest = x->prev;
	x->prev = x->next = PROC_NONE;
}

static void proc_age_push(struct proc_table *t, uint32_t n)
{
	struct proc_node *x = &t->nodes[n];

	x->prev = t->newest;
	x->next = PROC_NONE;
	if (t->newest != PROC_NONE)
		t->nodes[t->newest].next = n;
	else
		t->oldest = n;
	t->newest = n;
}

/* Mark node n as just seen. */
static void proc_age_touch(struct proc_table *t, uint32_t n)
{
	if (t->newest == n)
		return;
	proc_age_unlink(t, n);
	proc_age_push(t, n);
}

static void proc_remove(struct proc_table *t, uint32_t slot)
{
	uint32_t n = t->slots[slot].node;
	struct proc_node *x = &t->nodes[n];

	proc_slot_delete(t, slot);
	proc_age_unlink(t, n);
	proc_str_put(t, x->exe);
	x->exe = NULL;
	x->next = t->free_head;
	t->free_head = n;
	t->count--;
}

static void proc_evict_oldest(struct proc_table *t)
{
	uint32_t slot = proc_slot_find(t, t->nodes[t->oldest].e.tgid);

	proc_remove(t, slot);
	t->evictions++;
}

/* Create an entry for tgid (not present), evicting the oldest if full. The
 * node is blank and newest; returns its number. */
static uint32_t proc_insert(struct proc_table *t, uint32_t tgid)
{
	uint32_t n, i;

	if (t->count == t->max)
		proc_evict_oldest(t);
	if (t->free_head != PROC_NONE) {
		n = t->free_head;
		t->free_head = t->nodes[n].next;
	} else {
		n = ++t->used; /* count < max, so used < max too */
	}
	memset(&t->nodes[n], 0, sizeof(t->nodes[n]));
	t->nodes[n].e.tgid = tgid;
	t->nodes[n].e.exe = "";
	for (i = proc_tgid_hash(tgid) & t->slot_mask;
	     t->slots[i].node != PROC_NONE; i = (i + 1) & t->slot_mask)
		;
	t->slots[i].tgid = tgid;
	t->slots[i].node = n;
	t->count++;
	proc_age_push(t, n);
	return n;
}

static void proc_set_exe(struct proc_node *x, struct proc_str *s)
{
	x->exe = s;
	x->e.exe = s ? s->s : "";
}

/* Keep exe strings within budget; keep (the newest) is never evicted, and
 * one string alone is always within budget (PROC_BUDGET_MIN). */
static void proc_trim(struct proc_table *t, uint32_t keep)
{
	while (t->str_bytes > t->str_budget && t->oldest != keep)
		proc_evict_oldest(t);
}

struct proc_table *proc_table__new(size_t max_entries)
{
	struct proc_table *t;
	size_t nslots = 2;

	if (max_entries == 0 || max_entries > PROC_MAX_ENTRIES) {
		errno = EINVAL;
		return NULL;
	}
	/* Both probe tables at most half full; strings can number max + 1
	 * (an exec holds the new one before dropping the old). */
	while (nslots < 2 * (max_entries + 1))
		nslots *= 2;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->max = (uint32_t)max_entries;
	t->nodes = calloc(max_entries + 1, sizeof(*t->nodes));
	t->slots = calloc(nslots, sizeof(*t->slots));
	t->strs = calloc(nslots, sizeof(*t->strs));
	if (!t->nodes || !t->slots || !t->strs) {
		proc_table__free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->slot_mask = t->str_mask = (uint32_t)(nslots - 1);
	t->str_budget = max_entries * PROC_BUDGET_PER_ENTRY;
	if (t->str_budget < PROC_BUDGET_MIN)
		t->str_budget = PROC_BUDGET_MIN;
	if (getrandom(t->seed, sizeof(t->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(t->seed)) {
		/* Early boot without entropy: weaker, still not constant. */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t->seed[0] = (uint64_t)(uintptr_t)t ^ (uint64_t)ts.tv_nsec;
		t->seed[1] = (uint64_t)ts.tv_sec * 0x9e3779b97f4a7c15ull;
	}
	return t;
}

void proc_table__free(struct proc_table *t)
{
	if (!t)
		return;
	if (t->strs)
		for (uint32_t i = 0; i <= t->str_mask; i++)
			free(t->strs[i]);
	free(t->strs);
	free(t->slots);
	free(t->nodes);
	free(t);
}

static void proc_set_comm(struct proc_node *x, const char *comm)
{
	size_t n = comm ? strnlen(comm, PROC_COMM_LEN - 1) : 0;

	memcpy(x->e.comm, comm ? comm : "", n);
	memset(x->e.comm + n, 0, PROC_COMM_LEN - n);
}

int proc_table__exec(struct proc_table *t, uint32_t tgid, uint32_t ppid,
		     uint64_t cgroup_id, const char *exe, const char *comm,
		     uint64_t ts)
{
	uint32_t slot = proc_slot_find(t, tgid), n;
	struct proc_str *s;
	struct proc_node *x;
	int err;

	/* Intern first: when the process keeps its binary the old reference
	 * then holds the string, and it is not freed and copied again. */
	err = proc_str_get(t, exe, &s);
	if (err) {
		if (slot != UINT32_MAX)
			proc_remove(t, slot);
		return err;
	}
	if (slot != UINT32_MAX) {
		n = t->slots[slot].node;
		proc_str_put(t, t->nodes[n].exe);
		proc_age_touch(t, n);
	} else {
		n = proc_insert(t, tgid);
		t->nodes[n].e.start_ns = ts;
		t->nodes[n].e.flags = 0;
		t->nodes[n].e.uid = t->nodes[n].e.euid = PROC_UID_UNKNOWN;
	}
	x = &t->nodes[n];
	x->e.ppid = ppid;
	x->e.cgroup_id = cgroup_id;
	proc_set_comm(x, comm);
	proc_set_exe(x, s);
	proc_trim(t, n);
	return 0;
}

int proc_table__fork(struct proc_table *t, uint32_t parent_tgid,
		     uint32_t child_tgid, uint64_t child_cgroup_id, uint64_t ts)
{
	uint32_t pslot = proc_slot_find(t, parent_tgid), cslot, n;
	char comm[PROC_COMM_LEN] = "";
	struct proc_str *exe = NULL;
	struct proc_node *x;
	uint32_t flags = 0, uid = PROC_UID_UNKNOWN, euid = PROC_UID_UNKNOWN;

	/* Copy from the parent before the child's insertion can evict it. */
	if (pslot != UINT32_MAX) {
		n = t->slots[pslot].node;
		flags = t->nodes[n].e.flags;
		uid = t->nodes[n].e.uid;
		euid = t->nodes[n].e.euid;
		exe = t->nodes[n].exe;
		if (exe)
			exe->refs++;
		memcpy(comm, t->nodes[n].e.comm, sizeof(comm));
		proc_age_touch(t, n);
	}
	cslot = proc_slot_find(t, child_tgid);
	if (cslot != UINT32_MAX) {
		n = t->slots[cslot].node;
		proc_str_put(t, t->nodes[n].exe);
		proc_age_touch(t, n);
	} else {
		n = proc_insert(t, child_tgid);
	}
	x = &t->nodes[n];
	x->e.ppid = parent_tgid;
	x->e.cgroup_id = child_cgroup_id;
	x->e.start_ns = ts;
	x->e.flags = flags;
	x->e.uid = uid;
	x->e.euid = euid;
	memcpy(x->e.comm, comm, sizeof(comm));
	proc_set_exe(x, exe);
	return 0;
}

int proc_table__set_flags(struct proc_table *t, uint32_t tgid, uint32_t flags)
{
	uint32_t slot = proc_slot_find(t, tgid);

	if (slot == UINT32_MAX)
		return -ENOENT;
	t->nodes[t->slots[slot].node].e.flags |= flags;
	return 0;
}

int proc_table__set_creds(struct proc_table *t, uint32_t tgid, uint32_t uid, uint32_t euid)
{
	uint32_t slot = proc_slot_find(t, tgid);

	if (slot == UINT32_MAX)
		return -ENOENT;
	t->nodes[t->slots[slot].node].e.uid = uid;
	t->nodes[t->slots[slot].node].e.euid = euid;
	return 0;
}

int proc_table__exit(struct proc_table *t, uint32_t tgid)
{
	uint32_t slot = proc_slot_find(t, tgid);

	if (slot == UINT32_MAX)
		return -ENOENT;
	proc_remove(t, slot);
	return 0;
}

const struct proc_entry *proc_table__lookup(const struct proc_table *t,
					    uint32_t tgid)
{
	uint32_t slot = proc_slot_find(t, tgid);

	if (slot == UINT32_MAX)
		return NULL;
	return &t->nodes[t->slots[slot].node].e;
}

size_t proc_table__count(const struct proc_table *t)
{
	return t->count;
}

uint64_t proc_table__evictions(const struct proc_table *t)
{
	return t->evictions;
}

size_t proc_table__exe_bytes(const struct proc_table *t)
{
	return t->str_bytes;
}
