// SPDX-License-Identifier: Apache-2.0
/* finding.c: findings as JSON, and aggregation of identical findings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "finding.h"
#include "hash.h"

const char *severity_name(enum severity s)
{
	static const char *const names[] = { "info", "low", "medium", "high", "critical" };

	return (unsigned)s < 5 ? names[s] : "info";
}

const char *finding_action_name(enum finding_action a)
{
	switch (a) {
	case FACT_ALERT: return "alert";
	case FACT_DENY: return "deny";
	case FACT_KILL: return "kill";
	case FACT_LEARN: return "learn";
	}
	return "alert";
}

static void put_addr(struct jsonw *w, const char *key, uint8_t family, const uint8_t *a)
{
	char buf[INET6_ADDRSTRLEN] = "";

	inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, a, buf, sizeof(buf));
	jsonw__str(w, key, buf);
}

void finding_format(struct jsonw *w, const struct format_ctx *fc, const struct finding *f)
{
	const struct container_view *c = f->container;
	char ts[64];

	format_time(ts, sizeof(ts), f->ts_ns, fc->boot_to_real_ns);
	jsonw__obj_begin(w, NULL);
	jsonw__str(w, "time", ts);
	jsonw__str(w, "node", fc->node);
	jsonw__str(w, "kind", "finding");
	if (f->id)
		jsonw__str(w, "id", f->id);
	jsonw__str(w, "name", f->name);
	jsonw__str(w, "severity", severity_name(f->severity));
	jsonw__str(w, "action", finding_action_name(f->action));
	jsonw__str(w, "mode", policy_mode_name(f->mode));
	jsonw__obj_begin(w, "rule");
	jsonw__str(w, "id", f->rule.id);
	jsonw__str(w, "name", f->rule.name);
	jsonw__str(w, "group", f->rule.group);
	jsonw__obj_end(w);
	if (c) {
		jsonw__obj_begin(w, "container");
		jsonw__str(w, "id", c->id);
		jsonw__str(w, "name", c->name);
		jsonw__str(w, "image", c->image);
		jsonw__str(w, "pod", c->pod);
		jsonw__str(w, "namespace", c->namespace);
		jsonw__str(w, "group", f->group);
		jsonw__obj_end(w);
	} else {
		jsonw__null(w, "container");
	}
	jsonw__obj_begin(w, "process");
	jsonw__u64(w, "pid", f->process.pid);
	jsonw__u64(w, "ppid", f->process.ppid);
	jsonw__u64(w, "uid", f->process.uid);
	jsonw__u64(w, "euid", f->process.euid);
	jsonw__str(w, "name", f->process.name);
	jsonw__str(w, "exe", f->process.exe);
	jsonw__arr_begin(w, "args");
	const char *a = f->process.argv;
	for (uint32_t i = 0; a && i < f->process.argc; i++, a += strlen(a) + 1)
		jsonw__str(w, NULL, a);
	jsonw__arr_end(w);
	jsonw__str(w, "parent_exe", f->process.parent_exe);
	jsonw__obj_end(w);
	if (f->has_file) {
		jsonw__obj_begin(w, "file");
		jsonw__str(w, "path", f->file.path);
		jsonw__str(w, "op", f->file.op);
		jsonw__obj_end(w);
	}
	if (f->has_net) {
		jsonw__obj_begin(w, "network");
		jsonw__str(w, "proto", f->net.proto == IPPROTO_TCP ? "tcp" :
				       f->net.proto == IPPROTO_UDP ? "udp" : "other");
		jsonw__str(w, "direction", f->net.inbound ? "inbound" : "outbound");
		put_addr(w, "local_ip", f->net.family, f->net.laddr);
		jsonw__u64(w, "local_port", f->net.lport);
		put_addr(w, "remote_ip", f->net.family, f->net.raddr);
		jsonw__u64(w, "remote_port", f->net.rport);
		jsonw__str(w, "peer_group", f->net.peer_group);
		jsonw__obj_end(w);
	}
	jsonw__str(w, "message", f->message);
	jsonw__u64(w, "count", f->count);
	jsonw__obj_end(w);
}

/* ---- aggregation */

/* A finding held for its window: a deep copy in one allocation. Windows
 * live in a fixed array of max_keys slots, found by key through a chained
 * hash, and kept on a list in the order they opened (= the order they
 * close, as every window is equally long). */
struct held {
	uint64_t key;
	uint64_t first_ns;
	uint64_t suppressed;
	struct finding f;
	struct container_view cv;
	char *blob;
	uint32_t hnext;          /* next slot in the hash chain */
	uint32_t older, newer;   /* open-order list */
};

#define NIL UINT32_MAX

struct aggregator {
	uint64_t window_ns;
	size_t max_keys;
	finding_sink sink;
	void *ctx;
	struct held *v;          /* max_keys slots */
	uint32_t *buckets;       /* n_buckets chain heads */
	size_t n_buckets;
	uint32_t free_head;      /* free slots, chained through hnext */
	uint32_t oldest, newest;
	size_t n;
	uint64_t suppressed_total;
};

static uint64_t fnv_str(uint64_t h, const char *s)
{
	return hash_fnv1a(h, s ? s : "", (s ? strlen(s) : 0) + 1);
}

static uint64_t finding_key(const struct finding *f)
{
	uint64_t h = HASH_FNV_OFFSET;

	h = fnv_str(h, f->name);
	h = fnv_str(h, f->rule.id);
	h = hash_fnv1a(h, &f->action, sizeof(f->action));
	h = fnv_str(h, f->container ? f->container->id : "");
	h = fnv_str(h, f->process.exe);
	h = fnv_str(h, f->process.name);
	/* the reason, e.g. which zero-drift condition (messages hold no pid
	 * or time) */
	h = fnv_str(h, f->message);
	if (f->has_file) {
		h = fnv_str(h, f->file.path);
		h = fnv_str(h, f->file.op);
	}
	if (f->has_net) {
		h = hash_fnv1a(h, &f->net.proto, 1);
		h = hash_fnv1a(h, &f->net.inbound, 1);
		h = hash_fnv1a(h, f->net.raddr, 16);
		h = hash_fnv1a(h, f->net.inbound ? &f->net.lport : &f->net.rport, 2);
	}
	return h;
}

struct aggregator *aggregator__new(uint64_t window_ns, size_t max_keys, finding_sink sink,
				   void *ctx)
{
	struct aggregator *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->window_ns = window_ns;
	a->max_keys = max_keys ? (max_keys < NIL ? max_keys : NIL - 1) : 1;
	a->sink = sink;
	a->ctx = ctx;
	a->n_buckets = 1;
	while (a->n_buckets < a->max_keys)
		a->n_buckets <<= 1;
	a->v = calloc(a->max_keys, sizeof(*a->v));
	a->buckets = malloc(a->n_buckets * sizeof(*a->buckets));
	if (!a->v || !a->buckets) {
		free(a->v);
		free(a->buckets);
		free(a);
		return NULL;
	}
	for (size_t i = 0; i < a->n_buckets; i++)
		a->buckets[i] = NIL;
	for (size_t i = 0; i < a->max_keys; i++)
		a->v[i].hnext = i + 1 < a->max_keys ? (uint32_t)i + 1 : NIL;
	a->free_head = 0;
	a->oldest = a->newest = NIL;
	return a;
}

void aggregator__free(struct aggregator *a)
{
	if (!a)
		return;
	for (uint32_t i = a->oldest; i != NIL; i = a->v[i].newer)
		free(a->v[i].blob);
	free(a->v);
	free(a->buckets);
	free(a);
}

/* Copies every string of f into one blob; pointers re-aimed into it. */
static int held_copy(struct held *h, const struct finding *f)
{
	const char *src[16];
	const char **dst[16];
	size_t n = 0, total = 0, argv_len = 0;
	const char *ap = f->process.argv;

	h->f = *f;
	if (f->container) {
		h->cv = *f->container;
		h->f.container = &h->cv;
		const char **cs[] = { &h->cv.id, &h->cv.name, &h->cv.image, &h->cv.pod, &h->cv.namespace };
		for (size_t i = 0; i < 5; i++) {
			src[n] = *cs[i];
			dst[n++] = cs[i];
		}
		h->cv.runtime = h->cv.pod_uid = h->cv.cgroup = "";
	}
	const char **fs[] = { &h->f.name, &h->f.rule.id, &h->f.rule.name, &h->f.rule.group,
			      &h->f.group, &h->f.process.name, &h->f.process.exe,
			      &h->f.process.parent_exe, &h->f.file.path, &h->f.file.op,
			      &h->f.net.peer_group };
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
		src[n] = *fs[i];
		dst[n++] = fs[i];
	}
	for (size_t i = 0; i < n; i++)
		total += (src[i] ? strlen(src[i]) : 0) + 1;
	for (uint32_t i = 0; ap && i < f->process.argc; i++) {
		size_t l = strlen(ap + argv_len) + 1;
		argv_len += l;
	}
	/* the message of a repeat says it is one */
	total += argv_len + 1;
	h->blob = malloc(total);
	if (!h->blob)
		return -ENOMEM;
	char *p = h->blob;
	for (size_t i = 0; i < n; i++) {
		size_t l = src[i] ? strlen(src[i]) : 0;
		memcpy(p, src[i] ? src[i] : "", l);
		p[l] = 0;
		*dst[i] = p;
		p += l + 1;
	}
	memcpy(p, ap ? ap : "", argv_len);
	p[argv_len] = 0;
	h->f.process.argv = p;
	h->f.message = "";
	return 0;
}

/* Reports the suppressed repeats of slot i and frees it. */
static void held_close(struct aggregator *a, uint32_t i)
{
	struct held *h = &a->v[i];

	if (h->suppressed) {
		char msg[96];

		snprintf(msg, sizeof(msg), "repeated %llu times in %llu s",
			 (unsigned long long)h->suppressed,
			 (unsigned long long)(a->window_ns / 1000000000ULL));
		h->f.count = h->suppressed;
		h->f.message = msg;
		a->sink(a->ctx, &h->f);
	}
	free(h->blob);
	h->blob = NULL;
	/* unlink from its hash chain */
	uint32_t *pp = &a->buckets[h->key & (a->n_buckets - 1)];
	while (*pp != i)
		pp = &a->v[*pp].hnext;
	*pp = h->hnext;
	/* and from the open-order list */
	if (h->older != NIL)
		a->v[h->older].newer = h->newer;
	else
		a->oldest = h->newer;
	if (h->newer != NIL)
		a->v[h->newer].older = h->older;
	else
		a->newest = h->older;
	h->hnext = a->free_head;
	a->free_head = i;
	a->n--;
}

void aggregator__add(struct aggregator *a, const struct finding *f)
{
	uint64_t key = finding_key(f);
	uint64_t c = f->count ? f->count : 1;

	for (uint32_t i = a->buckets[key & (a->n_buckets - 1)]; i != NIL; i = a->v[i].hnext) {
		struct held *h = &a->v[i];

		if (h->key != key)
			continue;
		if (f->ts_ns - h->first_ns < a->window_ns) {
			h->suppressed += c;
			a->suppressed_total += c;
			h->f.ts_ns = f->ts_ns;
			return;
		}
		held_close(a, i);
		break;
	}
	a->sink(a->ctx, f);
	if (a->free_head == NIL)
		held_close(a, a->oldest);
	uint32_t i = a->free_head;
	struct held *h = &a->v[i];
	uint32_t next_free = h->hnext;
	memset(h, 0, sizeof(*h));
	if (held_copy(h, f)) {
		free(h->blob);
		h->blob = NULL;
		h->hnext = next_free;
		return; /* the finding went out; only its repeats are not counted */
	}
	a->free_head = next_free;
	h->key = key;
	h->first_ns = f->ts_ns;
	h->hnext = a->buckets[key & (a->n_buckets - 1)];
	a->buckets[key & (a->n_buckets - 1)] = i;
	h->older = a->newest;
	h->newer = NIL;
	if (a->newest != NIL)
		a->v[a->newest].newer = i;
	else
		a->oldest = i;
	a->newest = i;
	a->n++;
}

void aggregator__flush(struct aggregator *a, uint64_t now_ns)
{
	while (a->oldest != NIL &&
	       (now_ns == UINT64_MAX || now_ns - a->v[a->oldest].first_ns >= a->window_ns))
		held_close(a, a->oldest);
}

uint64_t aggregator__suppressed(const struct aggregator *a)
{
	return a->suppressed_total;
}

size_t aggregator__open(const struct aggregator *a)
{
	return a->n;
}
