// SPDX-License-Identifier: Apache-2.0
/* enforce_compile.c: compile a container's process policy into the kernel's
 * policy map entries (see enforce_compile.h and bpf/include/enforce.bpf.h, whose
 * decision this must feed exactly). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "enforce_compile.h"

uint64_t enforce_hash_n(const char *s, size_t n)
{
	uint64_t h = WACHT_HASH_INIT;

	for (size_t i = 0; i < n && s[i]; i++)
		h = (h ^ (unsigned char)s[i]) * WACHT_HASH_PRIME;
	return h ? h : 1;
}

uint64_t enforce_hash(const char *s)
{
	return enforce_hash_n(s, strlen(s));
}

static bool has_wildcard(const char *s)
{
	return strchr(s, '*') || strchr(s, '?');
}

static int push(struct enforce_procs *ep, size_t *cap, const struct wacht_proc_key *k,
		const struct wacht_proc_val *v)
{
	if (ep->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct enforce_proc_entry *nv = realloc(ep->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		ep->v = nv;
		*cap = nc;
	}
	ep->v[ep->n].key = *k;
	ep->v[ep->n].val = *v;
	ep->n++;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct enforce_proc_entry *x = a, *y = b;
	int c = memcmp(&x->key, &y->key, sizeof(x->key));

	if (c)
		return c;
	return x->val.order < y->val.order ? -1 : x->val.order > y->val.order;
}

int enforce_compile_procs(const struct policy *p, const struct engine_view *v, uint32_t set,
			  struct enforce_procs *out)
{
	size_t cap = 0;
	uint32_t order = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < v->n_order; i++) {
		const struct group *g = &p->groups[v->order[i]];
		for (size_t k = 0; k < g->n_procs; k++, order++) {
			const struct proc_rule *r = &g->procs[k];
			const char *name = r->name ? r->name : "*";
			const char *path = r->path && r->path[0] ? r->path : "*";
			struct wacht_proc_key key = { .set = set };
			struct wacht_proc_val val = { .order = order };
			size_t n = strlen(path);

			if (strcmp(name, "*") != 0 && has_wildcard(name)) {
				if (!out->uncompilable) {
					out->uncompilable = r;
					out->uncompilable_group = v->order[i];
				}
				continue;
			}
			key.name_hash = strcmp(name, "*") == 0 ? 0 : enforce_hash(name);
			if (strcmp(path, "*") == 0) {
				key.path_kind = WACHT_PK_ANY;
			} else if (n >= 2 && path[n - 2] == '/' && path[n - 1] == '*') {
				key.path_kind = WACHT_PK_DIR;
				key.path_hash = enforce_hash_n(path, n - 2);
			} else if (has_wildcard(path)) {
				if (!out->uncompilable) {
					out->uncompilable = r;
					out->uncompilable_group = v->order[i];
				}
				continue;
			} else {
				key.path_kind = WACHT_PK_EXACT;
				key.path_hash = enforce_hash(path);
			}
			val.flags = (r->action == ACTION_DENY ? WACHT_PR_DENY : 0) |
				    (r->allow_update ? WACHT_PR_ALLOW_UPDATE : 0) |
				    (r->learned ? WACHT_PR_LEARNED : 0);
			if (push(out, &cap, &key, &val)) {
				enforce_procs_free(out);
				return -ENOMEM;
			}
		}
	}
	/* one entry per key: the first rule with it wins */
	qsort(out->v, out->n, sizeof(*out->v), key_cmp);
	size_t w = 0;
	for (size_t i = 0; i < out->n; i++)
		if (w == 0 || memcmp(&out->v[w - 1].key, &out->v[i].key, sizeof(out->v[i].key)) != 0)
			out->v[w++] = out->v[i];
	out->n = w;
	return 0;
}

void enforce_procs_free(struct enforce_procs *ep)
{
	free(ep->v);
	memset(ep, 0, sizeof(*ep));
}

uint32_t enforce_cg_flags(const struct engine_view *v, const struct enforce_procs *ep, bool enforce)
{
	uint32_t f = WACHT_CG_KNOWN;

	if (enforce && v->proc_mode == MODE_PROTECT && (!ep || !ep->uncompilable))
		f |= WACHT_CG_PROC_PROTECT;
	if (v->baseline == BASELINE_ZERO_DRIFT)
		f |= WACHT_CG_ZERO_DRIFT;
	/* WACHT_CG_NET_PROTECT is the network compiler's (enforce_net.c) */
	return f;
}

void enforce_builtin_names(void (*fn)(void *ctx, uint64_t hash, uint32_t kind), void *ctx)
{
	for (const char *const *s = detect_suspicious_names(); *s; s++)
		fn(ctx, enforce_hash(*s), WACHT_BUILTIN_SUSPICIOUS);
	for (const char *const *s = detect_package_manager_names(); *s; s++)
		fn(ctx, enforce_hash(*s), WACHT_BUILTIN_PACKAGE_MANAGER);
}

uint64_t enforce_procs_signature(const struct engine_view *v)
{
	uint64_t h = WACHT_HASH_INIT;

	for (size_t i = 0; i < v->n_order; i++)
		h = (h ^ (v->order[i] + 1)) * WACHT_HASH_PRIME;
	return h;
}

const char *enforce_reason_name(uint32_t reason)
{
	switch (reason & WACHT_V_REASON_MASK) {
	case WACHT_KR_DENY_RULE:
		return "denied by rule";
	case WACHT_KR_NOT_ALLOWED:
		return "not in the process profile";
	case WACHT_KR_DRIFT:
		return "zero-drift: the binary was written or replaced after the container started";
	case WACHT_KR_FOREIGN:
		return "zero-drift: not started by the container's root process";
	case WACHT_KR_SUSPICIOUS:
		return "suspicious process";
	case WACHT_KR_REVERSE_SHELL:
		return "reverse shell";
	case WACHT_KR_PACKAGE_MANAGER:
		return "package manager";
	default:
		return "";
	}
}
