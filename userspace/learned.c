// SPDX-License-Identifier: Apache-2.0
/* learned.c: merging learned profiles across nodes (see learned.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learned.h"

struct learned_merge {
	struct policy *p; /* the union so far; finished by export */
	bool exported;
	/* What went into p, in order: a policy remembers every error loaded
	 * into it, so after a refused profile p is rebuilt from these. */
	char **texts, **names;
	size_t n_texts;
};

struct learned_merge *learned_merge__new(void)
{
	struct learned_merge *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->p = policy__new();
	if (!m->p) {
		free(m);
		return NULL;
	}
	/* every rule read is learned; equal file rules merge their apps */
	m->p->load_learned = true;
	return m;
}

void learned_merge__free(struct learned_merge *m)
{
	if (!m)
		return;
	policy__free(m->p);
	for (size_t i = 0; i < m->n_texts; i++) {
		free(m->texts[i]);
		free(m->names[i]);
	}
	free(m->texts);
	free(m->names);
	free(m);
}

static bool str_eq(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

static bool proc_same(const struct proc_rule *a, const struct proc_rule *b)
{
	return str_eq(a->name, b->name) && str_eq(a->path, b->path) && a->action == b->action &&
	       a->allow_update == b->allow_update;
}

/* Same rule, compared by group names: a and b live in different policies. */
static bool net_same(const struct policy *pa, const struct net_rule *a, const struct policy *pb,
		     const struct net_rule *b)
{
	return a->ingress == b->ingress && a->action == b->action &&
	       str_eq(a->ports_spec, b->ports_spec) &&
	       str_eq(pa->groups[a->owner].name, pb->groups[b->owner].name) &&
	       str_eq(pa->groups[a->from].name, pb->groups[b->from].name) &&
	       str_eq(pa->groups[a->to].name, pb->groups[b->to].name);
}

/* Drops from b's groups the process rules m already has. */
static void procs_dedup(const struct policy *m, struct policy *b)
{
	for (size_t g = 0; g < b->n_groups; g++) {
		struct group *gb = &b->groups[g];
		long gm = policy__group_find(m, gb->name);
		size_t n = 0;

		for (size_t i = 0; i < gb->n_procs; i++) {
			bool dup = false;

			for (size_t j = 0; gm >= 0 && j < m->groups[gm].n_procs && !dup; j++)
				dup = proc_same(&m->groups[gm].procs[j], &gb->procs[i]);
			/* a node's own profile repeats nothing, but be safe */
			for (size_t j = 0; j < n && !dup; j++)
				dup = proc_same(&gb->procs[j], &gb->procs[i]);
			if (dup) {
				free(gb->procs[i].name);
				free(gb->procs[i].path);
			} else {
				gb->procs[n++] = gb->procs[i];
			}
		}
		gb->n_procs = n;
	}
}

static void net_rule_release(struct net_rule *r)
{
	free(r->name);
	free(r->ports_spec);
	free(r->ports);
	for (size_t i = 0; i < r->n_apps; i++)
		free(r->apps[i]);
	free(r->apps);
}

/* Whether a network rule of the group named owner is called name, in p. */
static bool net_name_taken(const struct policy *p, const char *owner, const char *name,
			   const struct net_rule *except)
{
	for (size_t i = 0; i < p->n_net; i++)
		if (&p->net[i] != except && str_eq(p->groups[p->net[i].owner].name, owner) &&
		    str_eq(p->net[i].name, name))
			return true;
	return false;
}

/* Drops from b the network rules m already has; then renames the others
 * whose name m's group already uses (the loader refuses a duplicate name),
 * to the first "learned-<n>" free in both. */
static int nets_dedup(const struct policy *m, struct policy *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->n_net; i++) {
		bool dup = false;

		for (size_t j = 0; j < m->n_net && !dup; j++)
			dup = net_same(m, &m->net[j], b, &b->net[i]);
		if (dup)
			net_rule_release(&b->net[i]);
		else
			b->net[n++] = b->net[i];
	}
	b->n_net = n;
	for (size_t i = 0; i < b->n_net; i++) {
		struct net_rule *r = &b->net[i];
		const char *owner = b->groups[r->owner].name;
		char name[32], *v;

		if (!net_name_taken(m, owner, r->name, NULL))
			continue;
		for (unsigned k = 1;; k++) {
			snprintf(name, sizeof(name), "learned-%u", k);
			if (!net_name_taken(m, owner, name, NULL) && !net_name_taken(b, owner, name, r))
				break;
		}
		v = strdup(name);
		if (!v)
			return -ENOMEM;
		free(r->name);
		r->name = v;
	}
	return 0;
}

static bool group_has_rules(const struct policy *p, size_t g)
{
	if (p->groups[g].n_procs || p->groups[g].n_files)
		return true;
	for (size_t i = 0; i < p->n_net; i++)
		if (p->net[i].owner == g)
			return true;
	return false;
}

/* b's groups with rules, as YAML in *out (the caller frees). */
static int export_all(const struct policy *b, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	int err = 0;

	if (!f)
		return -ENOMEM;
	for (size_t g = 0; g < b->n_groups && !err; g++)
		if (group_has_rules(b, g))
			err = policy__export_group(b, g, true, f);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (err) {
		free(*out);
		*out = NULL;
	}
	return err;
}

/* p again from the accepted texts alone. 0 or -ENOMEM. */
static int rebuild(struct learned_merge *m)
{
	struct diags d = {0};
	struct policy *p = policy__new();

	if (!p)
		return -ENOMEM;
	p->load_learned = true;
	for (size_t i = 0; i < m->n_texts; i++)
		policy__load_buffer(p, m->names[i], m->texts[i], strlen(m->texts[i]), &d);
	diags__free(&d);
	policy__free(m->p);
	m->p = p;
	return 0;
}

static int remember(struct learned_merge *m, const char *name, char *text)
{
	char **t = reallocarray(m->texts, m->n_texts + 1, sizeof(*t));
	char **n;

	if (!t)
		return -ENOMEM;
	m->texts = t;
	n = reallocarray(m->names, m->n_texts + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	m->names = n;
	m->names[m->n_texts] = strdup(name);
	if (!m->names[m->n_texts])
		return -ENOMEM;
	m->texts[m->n_texts++] = text;
	return 0;
}

int learned_merge__add(struct learned_merge *m, const char *node, const char *yaml, size_t len,
		       struct diags *d)
{
	struct diags local = {0};
	struct policy *b;
	char name[256], *text = NULL;
	size_t text_len = 0;
	int err;

	if (m->exported)
		return -EINVAL;
	snprintf(name, sizeof(name), "%s:learned", node);
	b = policy__new();
	if (!b)
		return -ENOMEM;
	/* The node's profile alone first: what it adds is known, by name,
	 * before anything of it reaches the union. */
	b->load_learned = true;
	err = policy__load_buffer(b, name, yaml, len, d);
	if (!err)
		err = policy__finish(b, &local);
	if (!err) {
		procs_dedup(m->p, b);
		err = nets_dedup(m->p, b);
	}
	if (!err)
		err = export_all(b, &text, &text_len);
	policy__free(b);
	if (!err && text_len) {
		err = policy__load_buffer(m->p, name, text, text_len, &local);
		if (!err && local.n_errors)
			err = -EINVAL;
		if (err) {
			/* e.g. the group defined with other criteria than
			 * another node's: the union without this profile */
			free(text);
			text = NULL;
			if (rebuild(m) < 0)
				err = -ENOMEM;
		} else {
			err = remember(m, name, text);
			text = err ? text : NULL;
		}
	}
	free(text);
	for (size_t i = 0; i < local.n; i++)
		diags__add(d, local.v[i].error, local.v[i].file ? local.v[i].file : name,
			   local.v[i].line, local.v[i].col, "%s", local.v[i].msg);
	if (!err && local.n_errors)
		err = -EINVAL;
	diags__free(&local);
	return err == -ENOMEM ? err : err ? -EINVAL : 0;
}

static int group_cmp(const void *a, const void *b, void *p)
{
	const struct policy *pol = p;

	return strcmp(pol->groups[*(const size_t *)a].name, pol->groups[*(const size_t *)b].name);
}

int learned_merge__export(struct learned_merge *m, FILE *out, struct diags *d)
{
	struct diags local = {0};
	size_t *order, n = 0;
	int err;

	if (m->exported)
		return -EINVAL;
	m->exported = true;
	err = policy__finish(m->p, &local);
	for (size_t i = 0; i < local.n; i++)
		diags__add(d, local.v[i].error, local.v[i].file ? local.v[i].file : "learned",
			   local.v[i].line, local.v[i].col, "%s", local.v[i].msg);
	diags__free(&local);
	if (err)
		return err;
	order = calloc(m->p->n_groups + 1, sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t g = 0; g < m->p->n_groups; g++)
		if (group_has_rules(m->p, g))
			order[n++] = g;
	qsort_r(order, n, sizeof(*order), group_cmp, m->p);
	for (size_t i = 0; i < n && !err; i++)
		err = policy__export_group(m->p, order[i], true, out);
	free(order);
	return err ? err : (int)n;
}
