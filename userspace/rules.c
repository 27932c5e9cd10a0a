// SPDX-License-Identifier: Apache-2.0
/* rules: loads NvSecurityRule / NvClusterSecurityRule YAML into a policy, with file:line:column
 * diagnostics. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>
#include <yaml.h>

#include "hash.h"
#include "policy.h"

/* A rule file is written by a person: 16 MiB is far beyond any real one
 * and keeps a mistaken path (a log, an image) from being read whole. */
#define RULES_MAX_BYTES (16u << 20)
/* Documents and rules per policy. Aliases let a small file repeat a big
 * list many times, so list entries (criteria, apps) have their own bound. */
#define RULES_MAX_DOCS 100000
#define RULES_MAX_RULES 100000
#define RULES_MAX_ITEMS 1000000
/* Rule documents nest six levels; 64 is generous and bounds the depth of
 * anything walked. */
#define RULES_MAX_DEPTH 64

#define API_VERSION "neuvector.com/v1"
#define KIND_NS "NvSecurityRule"
#define KIND_CLUSTER "NvClusterSecurityRule"

/* ---- diagnostics */

static void diags_vadd(struct diags *d, bool error, const char *file, unsigned line, unsigned col,
		       const char *fmt, va_list ap)
{
	struct diag *v, *e;
	char *msg = NULL, *f = NULL;
	size_t cap;

	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	if (file) {
		f = strdup(file);
		if (!f)
			goto fail;
	}
	if (d->n == d->cap) {
		cap = d->cap ? d->cap * 2 : 16;
		v = reallocarray(d->v, cap, sizeof(*v));
		if (!v)
			goto fail;
		d->v = v;
		d->cap = cap;
	}
	e = &d->v[d->n++];
	e->error = error;
	e->file = f;
	e->line = line;
	e->col = col;
	e->msg = msg;
	if (error)
		d->n_errors++;
	else
		d->n_warnings++;
	return;
fail:
	/* Out of memory while reporting: the error count still says the load
	 * failed, even if its text is lost. */
	if (error)
		d->n_errors++;
	free(msg);
	free(f);
}

void diags__add(struct diags *d, bool error, const char *file, unsigned line, unsigned col,
		const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diags_vadd(d, error, file, line, col, fmt, ap);
	va_end(ap);
}

void diags__print(const struct diags *d, FILE *out)
{
	const struct diag *e;
	size_t i;

	for (i = 0; i < d->n; i++) {
		e = &d->v[i];
		if (e->file && e->line)
			fprintf(out, "%s:%u:%u: ", e->file, e->line, e->col);
		else if (e->file)
			fprintf(out, "%s: ", e->file);
		fprintf(out, "%s: %s\n", e->error ? "error" : "warning", e->msg);
	}
}

void diags__free(struct diags *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* ---- enums */

const char *policy_mode_name(enum policy_mode m)
{
	switch (m) {
	case MODE_DISCOVER:
		return "Discover";
	case MODE_MONITOR:
		return "Monitor";
	case MODE_PROTECT:
		return "Protect";
	default:
		return "";
	}
}

/* The enums of the rule files: names (case-insensitive) to values. */
struct enum_name {
	const char *name;
	int value;
};

static int enum_parse(const struct enum_name *t, const char *s, int *out)
{
	for (; t->name; t++) {
		if (!strcasecmp(s, t->name)) {
			*out = t->value;
			return 0;
		}
	}
	return -EINVAL;
}

int policy_mode_parse(const char *s, enum policy_mode *out)
{
	static const struct enum_name t[] = {
		{ "Discover", MODE_DISCOVER }, { "Monitor", MODE_MONITOR },
		{ "Protect", MODE_PROTECT },   { "N/A", MODE_UNSET },
		{ NULL, 0 },
	};
	int v, err = enum_parse(t, s, &v);

	if (!err)
		*out = v;
	return err;
}

static int baseline_parse(const char *s, enum policy_baseline *out)
{
	static const struct enum_name t[] = {
		{ "basic", BASELINE_BASIC },	     { "default", BASELINE_BASIC },
		{ "zero-drift", BASELINE_ZERO_DRIFT }, { "zero_drift", BASELINE_ZERO_DRIFT },
		{ NULL, 0 },
	};
	int v, err = enum_parse(t, s, &v);

	if (!err)
		*out = v;
	return err;
}

static int action_parse(const char *s, enum policy_action *out)
{
	static const struct enum_name t[] = {
		{ "allow", ACTION_ALLOW }, { "deny", ACTION_DENY }, { NULL, 0 },
	};
	int v, err = enum_parse(t, s, &v);

	if (!err)
		*out = v;
	return err;
}

static int behavior_parse(const char *s, enum file_behavior *out)
{
	static const struct enum_name t[] = {
		{ "monitor_change", FILE_MONITOR_CHANGE }, { "block_access", FILE_BLOCK_ACCESS },
		{ NULL, 0 },
	};
	int v, err = enum_parse(t, s, &v);

	if (!err)
		*out = v;
	return err;
}

static enum group_kind group_kind_of(const char *name)
{
	if (!strcmp(name, "containers"))
		return GROUP_CONTAINERS;
	if (!strcmp(name, "nodes"))
		return GROUP_NODES;
	if (!strcmp(name, "external"))
		return GROUP_EXTERNAL;
	if (!strncmp(name, "nv.", 3))
		return GROUP_LEARNED;
	return GROUP_CUSTOM;
}

static bool group_reserved(const struct group *g)
{
	return g->kind == GROUP_CONTAINERS || g->kind == GROUP_NODES || g->kind == GROUP_EXTERNAL;
}

/* ---- a string -> index map (open addressing; keys owned) */

struct strmap_ent {
	char *key;
	size_t val;
};
struct strmap {
	struct strmap_ent *v;
	size_t cap, n; /* cap a power of two */
};

static size_t str_hash(const char *s)
{
	return (size_t)hash_fnv1a_str(HASH_FNV_OFFSET, s);
}

static bool strmap_get(const struct strmap *m, const char *key, size_t *val)
{
	size_t i;

	if (!m->cap)
		return false;
	for (i = str_hash(key) & (m->cap - 1); m->v[i].key; i = (i + 1) & (m->cap - 1)) {
		if (!strcmp(m->v[i].key, key)) {
			if (val)
				*val = m->v[i].val;
			return true;
		}
	}
	return false;
}

static void strmap_place(struct strmap_ent *v, size_t cap, char *key, size_t val)
{
	size_t i;

	for (i = str_hash(key) & (cap - 1); v[i].key; i = (i + 1) & (cap - 1))
		;
	v[i].key = key;
	v[i].val = val;
}

/* Sets key (copied) to val, replacing an earlier value. 0 or -ENOMEM. */
static int strmap_put(struct strmap *m, const char *key, size_t val)
{
	struct strmap_ent *v;
	size_t i, cap;
	char *k;

	if (m->cap) {
		for (i = str_hash(key) & (m->cap - 1); m->v[i].key; i = (i + 1) & (m->cap - 1)) {
			if (!strcmp(m->v[i].key, key)) {
				m->v[i].val = val;
				return 0;
			}
		}
	}
	/* Kept at most half full. */
	if ((m->n + 1) * 2 > m->cap) {
		cap = m->cap ? m->cap * 2 : 64;
		v = calloc(cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (i = 0; i < m->cap; i++) {
			if (m->v[i].key)
				strmap_place(v, cap, m->v[i].key, m->v[i].val);
		}
		free(m->v);
		m->v = v;
		m->cap = cap;
	}
	k = strdup(key);
	if (!k)
		return -ENOMEM;
	strmap_place(m->v, m->cap, k, val);
	m->n++;
	return 0;
}

static void strmap_free(struct strmap *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		free(m->v[i].key);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* ---- loader state kept in policy->priv */

struct group_extra {
	struct src_pos net_mode_pos, proc_mode_pos, baseline_pos, ns_pos;
};
struct group_ref {
	size_t g;
	struct src_pos pos;
};
struct doc_rec {
	struct src_pos pos;
};
struct policy_priv {
	struct strmap groups;	/* name -> group index */
	struct group_extra *gx; /* parallel to policy->groups */
	size_t gx_cap, groups_cap;
	struct strmap net_names; /* "<owner>/<name>" -> 1 */
	size_t net_cap;
	struct group_ref *refs; /* name-only selectors, checked in finish */
	size_t n_refs, refs_cap;
	struct strmap docs; /* "kind/namespace/name" -> index in doc_pos */
	struct doc_rec *doc_pos;
	size_t n_docs, docs_cap;
	size_t n_docs_seen, n_rules, n_items;
	size_t n_errors; /* from every load on this policy */
	size_t learned_seq;
};

static struct policy_priv *priv(const struct policy *p)
{
	return p->priv;
}

/* Room for one more element in *v (n used, *cap allocated). */
static int grow(void *v, size_t *cap, size_t n, size_t size)
{
	void **pv = v;
	void *nv;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	nv = reallocarray(*pv, ncap, size);
	if (!nv)
		return -ENOMEM;
	*pv = nv;
	*cap = ncap;
	return 0;
}

static int intern_file(struct policy *p, const char *name, const char **out)
{
	char **v, *s;
	size_t i;

	for (i = 0; i < p->n_files; i++) {
		if (!strcmp(p->files[i], name)) {
			*out = p->files[i];
			return 0;
		}
	}
	s = strdup(name);
	if (!s)
		return -ENOMEM;
	v = reallocarray(p->files, p->n_files + 1, sizeof(*v));
	if (!v) {
		free(s);
		return -ENOMEM;
	}
	p->files = v;
	p->files[p->n_files++] = s;
	*out = s;
	return 0;
}

/* Appends a group (no criteria, not defined unless reserved). Index or -ENOMEM. */
static long group_add(struct policy *p, const char *name, const struct src_pos *pos)
{
	struct policy_priv *pv = priv(p);
	struct group *g;
	size_t gx_cap = pv->gx_cap;

	if (grow(&p->groups, &pv->groups_cap, p->n_groups, sizeof(*p->groups)) < 0 ||
	    grow(&pv->gx, &gx_cap, p->n_groups, sizeof(*pv->gx)) < 0)
		return -ENOMEM;
	pv->gx_cap = gx_cap;
	g = &p->groups[p->n_groups];
	memset(g, 0, sizeof(*g));
	memset(&pv->gx[p->n_groups], 0, sizeof(*pv->gx));
	g->name = strdup(name);
	if (!g->name)
		return -ENOMEM;
	g->kind = group_kind_of(name);
	g->defined = group_reserved(g);
	if (pos)
		g->pos = *pos;
	if (strmap_put(&pv->groups, name, p->n_groups) < 0) {
		free(g->name);
		return -ENOMEM;
	}
	return (long)p->n_groups++;
}

long policy__group_find(const struct policy *p, const char *name)
{
	size_t i;

	if (!p || !name || !strmap_get(&priv(p)->groups, name, &i))
		return -1;
	return (long)i;
}

static long group_get(struct policy *p, const char *name, const struct src_pos *pos)
{
	long g = policy__group_find(p, name);

	return g >= 0 ? g : group_add(p, name, pos);
}

struct policy *policy__new(void)
{
	static const char *const reserved[] = {"containers", "nodes", "external"};
	struct policy *p;
	size_t i;

	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->priv = calloc(1, sizeof(struct policy_priv));
	if (!p->priv)
		goto fail;
	/* Indexes 0..2 are POLICY_G_CONTAINERS, _NODES, _EXTERNAL. */
	for (i = 0; i < 3; i++) {
		if (group_add(p, reserved[i], NULL) < 0)
			goto fail;
	}
	return p;
fail:
	policy__free(p);
	return NULL;
}

static void proc_rule_free(struct proc_rule *r)
{
	free(r->name);
	free(r->path);
}

static void strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void file_rule_free(struct file_rule *r)
{
	file_filter_free(&r->filter);
	strv_free(r->apps, r->n_apps);
}

static void net_rule_free(struct net_rule *r)
{
	free(r->name);
	free(r->ports_spec);
	free(r->ports);
	strv_free(r->apps, r->n_apps);
}

static void crit_free(struct criterion *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		criterion_free(&c[i]);
	free(c);
}

void policy__free(struct policy *p)
{
	struct policy_priv *pv;
	struct group *g;
	size_t i, j;

	if (!p)
		return;
	for (i = 0; i < p->n_groups; i++) {
		g = &p->groups[i];
		free(g->name);
		free(g->namespace);
		crit_free(g->crit, g->n_crit);
		free(g->crit_pos);
		for (j = 0; j < g->n_procs; j++)
			proc_rule_free(&g->procs[j]);
		free(g->procs);
		for (j = 0; j < g->n_files; j++)
			file_rule_free(&g->files[j]);
		free(g->files);
	}
	free(p->groups);
	for (i = 0; i < p->n_net; i++)
		net_rule_free(&p->net[i]);
	free(p->net);
	strv_free(p->files, p->n_files);
	pv = p->priv;
	if (pv) {
		strmap_free(&pv->groups);
		strmap_free(&pv->net_names);
		strmap_free(&pv->docs);
		free(pv->gx);
		free(pv->refs);
		free(pv->doc_pos);
		free(pv);
	}
	free(p);
}

/* ---- walking one YAML document */

/* One load_buffer call. */
struct ldr {
	struct policy *p;
	struct diags *d;
	const char *file; /* interned */
	yaml_document_t *doc;
	unsigned doc_errors; /* in the current document */
	bool stop;	     /* a bound was hit: read no further */
	int err;	     /* -ENOMEM */
};

static void diag_node(struct ldr *l, bool error, const yaml_node_t *n, unsigned coladd,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void diag_node(struct ldr *l, bool error, const yaml_node_t *n, unsigned coladd,
		      const char *fmt, ...)
{
	va_list ap;
	unsigned line = 0, col = 0;

	if (n) {
		line = (unsigned)n->start_mark.line + 1;
		col = (unsigned)n->start_mark.column + 1 + coladd;
	}
	va_start(ap, fmt);
	diags_vadd(l->d, error, l->file, line, col, fmt, ap);
	va_end(ap);
	if (error) {
		l->doc_errors++;
		priv(l->p)->n_errors++;
	}
}

#define ERR(l, n, ...) diag_node((l), true, (n), 0, __VA_ARGS__)
#define WARN(l, n, ...) diag_node((l), false, (n), 0, __VA_ARGS__)

static struct src_pos pos_of(const struct ldr *l, const yaml_node_t *n)
{
	struct src_pos pos = {l->file, (unsigned)n->start_mark.line + 1,
			      (unsigned)n->start_mark.column + 1};

	return pos;
}

static yaml_node_t *node_at(struct ldr *l, int i)
{
	return yaml_document_get_node(l->doc, i);
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (!n)
		return true;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = sval(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

static const char *type_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a string";
	}
}

/* Characters of s[0..off) (libyaml counts columns in characters). */
static size_t utf8_chars(const char *s, size_t off)
{
	size_t i, n = 0;

	for (i = 0; i < off && s[i]; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	}
	return n;
}

/* Columns from the scalar's start to byte off of its value, when the value
 * stands as written on one line (plain, or quoted without escapes). */
static unsigned scalar_coladd(const yaml_node_t *n, size_t off)
{
	size_t chars = utf8_chars(sval(n), n->data.scalar.length);
	size_t span = n->end_mark.index - n->start_mark.index;

	if (n->start_mark.line != n->end_mark.line || off > n->data.scalar.length)
		return 0;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && span == chars)
		return (unsigned)utf8_chars(sval(n), off);
	if ((n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
	     n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE) &&
	    span == chars + 2)
		return 1 + (unsigned)utf8_chars(sval(n), off);
	return 0;
}

/* The fields of a mapping a caller knows. */
struct field {
	const char *name;
	yaml_node_t *key, *val;
};

enum {
	FIELDS_WARN = 0,   /* unknown fields are warnings */
	FIELDS_SILENT = 1, /* unknown fields are ignored (metadata) */
};

static const char *const unsupported_spec[] = {"dlp", "waf", NULL};
static const char *const silent_top[] = {"status", NULL};

static bool in_list(const char *const *v, const char *s)
{
	for (; v && *v; v++) {
		if (!strcmp(*v, s))
			return true;
	}
	return false;
}

/* Fills f[i].key/val from map (a mapping node). Unknown fields warn,
 * except those in silent (ignored) and unsupported (warned as such). */
static void fields_get(struct ldr *l, yaml_node_t *map, const char *what, struct field *f,
		       size_t nf, int flags, const char *const *silent,
		       const char *const *unsupported)
{
	yaml_node_pair_t *pr;
	yaml_node_t *k, *v;
	const char *name;
	size_t i;

	for (i = 0; i < nf; i++)
		f[i].key = f[i].val = NULL;
	for (pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		k = node_at(l, pr->key);
		v = node_at(l, pr->value);
		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			ERR(l, k, "a key in %s is %s, expected a string", what, type_name(k));
			continue;
		}
		name = sval(k);
		for (i = 0; i < nf; i++) {
			if (!strcmp(f[i].name, name))
				break;
		}
		if (i < nf) {
			/* libyaml does not check; YAML forbids it, and the
			 * second would silently win in Kubernetes. */
			if (f[i].key)
				ERR(l, k, "duplicate field \"%s\" in %s (first at line %u)", name,
				    what, (unsigned)f[i].key->start_mark.line + 1);
			else {
				f[i].key = k;
				f[i].val = v;
			}
			continue;
		}
		if (in_list(unsupported, name))
			WARN(l, k, "field \"%s\" in %s is not supported, ignored", name, what);
		else if (flags != FIELDS_SILENT && !in_list(silent, name))
			WARN(l, k, "unknown field \"%s\" in %s, ignored", name, what);
	}
}

static bool present(const struct field *f)
{
	return f->val && !is_null(f->val);
}

/* A string field: NULL when absent or null (an error if required). */
static const char *f_str(struct ldr *l, const struct field *f, yaml_node_t *map, const char *what,
			 bool required)
{
	if (!present(f)) {
		if (required)
			ERR(l, f->key ? f->key : map, "missing required field \"%s\" in %s",
			    f->name, what);
		return NULL;
	}
	if (f->val->type != YAML_SCALAR_NODE) {
		ERR(l, f->val, "\"%s\" in %s is %s, expected a string", f->name, what,
		    type_name(f->val));
		return NULL;
	}
	if (strlen(sval(f->val)) != f->val->data.scalar.length) {
		ERR(l, f->val, "\"%s\" in %s contains a NUL character", f->name, what);
		return NULL;
	}
	return sval(f->val);
}

/* A list or mapping field: NULL when absent, null, or of another type (an error). */
static yaml_node_t *f_node(struct ldr *l, const struct field *f, const char *what,
			   yaml_node_type_t type)
{
	if (!present(f))
		return NULL;
	if (f->val->type != type) {
		ERR(l, f->val, "\"%s\" in %s is %s, expected %s", f->name, what, type_name(f->val),
		    type == YAML_MAPPING_NODE ? "a mapping" : "a list");
		return NULL;
	}
	return f->val;
}

/* A boolean field; absent is false. */
static bool f_bool(struct ldr *l, const struct field *f, const char *what)
{
	const char *s = f_str(l, f, NULL, what, false);

	if (!s)
		return false;
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes"))
		return true;
	if (!strcasecmp(s, "false") || !strcasecmp(s, "no"))
		return false;
	ERR(l, f->val, "bad %s \"%s\" in %s (expected true or false)", f->name, s, what);
	return false;
}

static int item_budget(struct ldr *l, const yaml_node_t *n, size_t count)
{
	struct policy_priv *pv = priv(l->p);

	if (pv->n_items + count > RULES_MAX_ITEMS) {
		ERR(l, n, "too many list entries (more than %u in all), not read further",
		    RULES_MAX_ITEMS);
		l->stop = true;
		return -E2BIG;
	}
	pv->n_items += count;
	return 0;
}

/* A list of strings (or one string) into *out / *n. */
static void f_strlist(struct ldr *l, const struct field *f, const char *what, char ***out,
		      size_t *n)
{
	yaml_node_item_t *it;
	yaml_node_t *v;
	char **vec;
	size_t cnt = 0;

	*out = NULL;
	*n = 0;
	if (!present(f))
		return;
	if (f->val->type == YAML_SCALAR_NODE) {
		const char *s = f_str(l, f, NULL, what, false);

		if (!s)
			return;
		vec = calloc(1, sizeof(*vec));
		if (!vec || !(vec[0] = strdup(s))) {
			free(vec);
			l->err = -ENOMEM;
			return;
		}
		*out = vec;
		*n = 1;
		return;
	}
	if (f->val->type != YAML_SEQUENCE_NODE) {
		ERR(l, f->val, "\"%s\" in %s is %s, expected a list of strings", f->name, what,
		    type_name(f->val));
		return;
	}
	cnt = (size_t)(f->val->data.sequence.items.top - f->val->data.sequence.items.start);
	if (!cnt || item_budget(l, f->val, cnt) < 0)
		return;
	vec = calloc(cnt, sizeof(*vec));
	if (!vec) {
		l->err = -ENOMEM;
		return;
	}
	cnt = 0;
	for (it = f->val->data.sequence.items.start; it < f->val->data.sequence.items.top; it++) {
		v = node_at(l, *it);
		if (!v)
			continue;
		if (v->type != YAML_SCALAR_NODE || is_null(v) ||
		    strlen(sval(v)) != v->data.scalar.length) {
			ERR(l, v, "an entry of \"%s\" in %s is %s, expected a string", f->name,
			    what, is_null(v) ? "empty" : type_name(v));
			continue;
		}
		vec[cnt] = strdup(sval(v));
		if (!vec[cnt]) {
			l->err = -ENOMEM;
			break;
		}
		cnt++;
	}
	*out = vec;
	*n = cnt;
}

/* ---- the document being read, committed only if it has no error */

struct sel {
	const char *name; /* borrowed from the YAML document */
	yaml_node_t *name_node;
	struct criterion *crit;
	struct src_pos *crit_pos;
	size_t n_crit, cap_crit;
	yaml_node_t *crit_node; /* the criteria list, when not empty */
};

struct stage_net {
	struct net_rule r;
	struct sel peer;
	yaml_node_t *name_node;
};

struct stage {
	bool cluster;
	const char *name, *ns;
	yaml_node_t *name_node, *ns_node;
	struct sel target;
	enum policy_mode net_mode, proc_mode;
	enum policy_baseline baseline;
	yaml_node_t *net_mode_node, *proc_mode_node, *baseline_node;
	struct proc_rule *procs;
	size_t n_procs, cap_procs;
	struct file_rule *files;
	size_t n_files, cap_files;
	struct stage_net *nets;
	size_t n_nets, cap_nets;
};

static void sel_free(struct sel *s)
{
	crit_free(s->crit, s->n_crit);
	free(s->crit_pos);
	s->crit = NULL;
	s->crit_pos = NULL;
	s->n_crit = s->cap_crit = 0;
}

static void stage_free(struct stage *st)
{
	size_t i;

	sel_free(&st->target);
	for (i = 0; i < st->n_procs; i++)
		proc_rule_free(&st->procs[i]);
	free(st->procs);
	for (i = 0; i < st->n_files; i++)
		file_rule_free(&st->files[i]);
	free(st->files);
	for (i = 0; i < st->n_nets; i++) {
		net_rule_free(&st->nets[i].r);
		sel_free(&st->nets[i].peer);
	}
	free(st->nets);
	memset(st, 0, sizeof(*st));
}

static int rule_budget(struct ldr *l, const yaml_node_t *n)
{
	struct policy_priv *pv = priv(l->p);

	if (pv->n_rules >= RULES_MAX_RULES) {
		ERR(l, n, "too many rules (more than %u), not read further", RULES_MAX_RULES);
		l->stop = true;
		return -E2BIG;
	}
	pv->n_rules++;
	return 0;
}

static void crit_error(struct ldr *l, const yaml_node_t *vn, enum crit_key key, enum crit_op op,
		       const char *value, const char *why, const char *errbuf)
{
	if ((op == CRIT_REGEX || op == CRIT_NOT_REGEX) && errbuf[0])
		ERR(l, vn, "bad regex \"%s\": %s", value, errbuf);
	else if (key == CRIT_ADDRESS)
		ERR(l, vn, "bad address \"%s\": %s", value, why ? why : "invalid");
	else
		ERR(l, vn, "bad %s criterion \"%s\": %s", crit_key_name(key), value,
		    why ? why : "invalid");
}

static void parse_criteria(struct ldr *l, yaml_node_t *seq, struct sel *s)
{
	static const char what[] = "criteria";
	struct field f[3] = {{.name = "key"}, {.name = "op"}, {.name = "value"}};
	yaml_node_item_t *it;
	yaml_node_t *item, *addr = NULL, *other = NULL;
	const char *k, *o, *v, *why;
	enum crit_key key;
	enum crit_op op;
	char errbuf[256];
	int rc;

	if (item_budget(l, seq,
			(size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start)) <
	    0)
		return;
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		item = node_at(l, *it);
		if (!item)
			continue;
		if (item->type != YAML_MAPPING_NODE) {
			ERR(l, item, "a criteria entry is %s, expected a mapping {key, op, value}",
			    type_name(item));
			continue;
		}
		fields_get(l, item, what, f, 3, FIELDS_WARN, NULL, NULL);
		k = f_str(l, &f[0], item, what, true);
		o = f_str(l, &f[1], item, what, true);
		v = f_str(l, &f[2], item, what, true);
		key = k ? crit_key_parse(k) : 0;
		op = o ? crit_op_parse(o) : 0;
		if (k && !key)
			ERR(l, f[0].val,
			    "unknown criteria key \"%s\" (expected container, image, service, "
			    "domain, namespace, label, node or address)",
			    k);
		if (o && !op)
			ERR(l, f[1].val,
			    "unknown criteria op \"%s\" (expected =, !=, contains, prefix, regex "
			    "or !regex)",
			    o);
		if (!key || !op || !v)
			continue;
		if (key == CRIT_ADDRESS && !addr)
			addr = item;
		else if (key != CRIT_ADDRESS && !other)
			other = item;
		if (grow(&s->crit, &s->cap_crit, s->n_crit, sizeof(*s->crit)) < 0) {
			l->err = -ENOMEM;
			return;
		}
		{
			/* crit_pos grows in step with crit. */
			struct src_pos *np = reallocarray(s->crit_pos, s->cap_crit, sizeof(*np));
			if (!np) {
				l->err = -ENOMEM;
				return;
			}
			s->crit_pos = np;
		}
		why = NULL;
		errbuf[0] = '\0';
		rc = criterion_compile(&s->crit[s->n_crit], key, op, v, &why, errbuf,
				       sizeof(errbuf));
		if (rc == -ENOMEM) {
			l->err = rc;
			return;
		}
		if (rc < 0) {
			crit_error(l, f[2].val, key, op, v, why, errbuf);
			continue;
		}
		s->crit_pos[s->n_crit++] = pos_of(l, item);
	}
	/* A group is either workloads or addresses, never both: NeuVector
	 * refuses the mix, and no entity could match both kinds. */
	if (addr && other)
		ERR(l, addr,
		    "address criteria cannot be mixed with container criteria (group \"%s\")",
		    s->name ? s->name : "");
	if (s->n_crit)
		s->crit_node = seq;
}

/* A selector {name, criteria}. Returns false if it has an error. */
static bool parse_selector(struct ldr *l, yaml_node_t *n, const char *what, struct sel *s)
{
	struct field f[4] = {
	    {.name = "name"}, {.name = "criteria"}, {.name = "comment"}, {.name = "original_name"}};
	unsigned before = l->doc_errors;
	yaml_node_t *crit;

	if (n->type != YAML_MAPPING_NODE) {
		ERR(l, n, "selector in %s is %s, expected a mapping {name, criteria}", what,
		    type_name(n));
		return false;
	}
	fields_get(l, n, "selector", f, 4, FIELDS_WARN, NULL, NULL);
	s->name = f_str(l, &f[0], n, "selector", true);
	s->name_node = f[0].val;
	if (s->name && !*s->name)
		ERR(l, f[0].val, "empty selector name");
	f_str(l, &f[2], n, "selector", false);
	f_str(l, &f[3], n, "selector", false);
	crit = f_node(l, &f[1], "selector", YAML_SEQUENCE_NODE);
	if (crit && s->name)
		parse_criteria(l, crit, s);
	return l->doc_errors == before;
}

static void parse_net(struct ldr *l, yaml_node_t *seq, struct stage *st, bool ingress)
{
	const char *what = ingress ? "ingress rule" : "egress rule";
	struct field f[6] = {{.name = "name"},	   {.name = "action"},	 {.name = "ports"},
			     {.name = "priority"}, {.name = "selector"}, {.name = "applications"}};
	yaml_node_item_t *it;
	yaml_node_t *item;
	struct stage_net *sn;
	const char *name, *action, *ports, *prio, *why;
	size_t off;
	long pr;
	char *end;
	int rc;

	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		item = node_at(l, *it);
		if (!item)
			continue;
		if (item->type != YAML_MAPPING_NODE) {
			ERR(l, item, "an %s is %s, expected a mapping", what, type_name(item));
			continue;
		}
		if (rule_budget(l, item) < 0)
			return;
		if (grow(&st->nets, &st->cap_nets, st->n_nets, sizeof(*st->nets)) < 0) {
			l->err = -ENOMEM;
			return;
		}
		sn = &st->nets[st->n_nets++];
		memset(sn, 0, sizeof(*sn));
		sn->r.ingress = ingress;
		sn->r.pos = pos_of(l, item);
		fields_get(l, item, what, f, 6, FIELDS_WARN, NULL, NULL);
		name = f_str(l, &f[0], item, what, true);
		sn->name_node = f[0].val;
		if (name && !*name)
			ERR(l, f[0].val, "empty %s name", what);
		action = f_str(l, &f[1], item, what, true);
		if (action && action_parse(action, &sn->r.action) < 0)
			ERR(l, f[1].val, "unknown action \"%s\" (expected allow or deny)", action);
		ports = f_str(l, &f[2], item, what, false);
		/* A ports of the wrong type is reported by f_str(). */
		if (ports || !present(&f[2])) {
			if (!ports)
				ports = "any";
			why = NULL;
			off = 0;
			rc = ports_parse(ports, &sn->r.ports, &sn->r.n_ports, &off, &why);
			if (rc == -ENOMEM) {
				l->err = rc;
				return;
			}
			if (rc < 0) {
				size_t len = strcspn(ports + off, ",");

				while (len && (ports[off + len - 1] == ' ' ||
					       ports[off + len - 1] == '\t'))
					len--;
				diag_node(l, true, f[2].val,
					  f[2].val ? scalar_coladd(f[2].val, off) : 0,
					  "bad ports \"%.*s\": %s (expected e.g. tcp/80, udp/53, "
					  "tcp/8000-8080, icmp or any)",
					  (int)len, ports + off, why ? why : "invalid");
			}
			sn->r.ports_spec = strdup(ports);
			if (!sn->r.ports_spec) {
				l->err = -ENOMEM;
				return;
			}
		}
		prio = f_str(l, &f[3], item, what, false);
		if (prio) {
			errno = 0;
			pr = strtol(prio, &end, 10);
			if (!*prio || *end || errno || pr < 0 || pr > 65535)
				ERR(l, f[3].val,
				    "bad priority \"%s\" (expected an integer 0 to 65535)", prio);
			else
				sn->r.priority = (int)pr;
		}
		if (!present(&f[4]))
			ERR(l, f[4].key ? f[4].key : item,
			    "missing required field \"selector\" in %s", what);
		else
			parse_selector(l, f[4].val, what, &sn->peer);
		f_strlist(l, &f[5], what, &sn->r.apps, &sn->r.n_apps);
		if (name) {
			sn->r.name = strdup(name);
			if (!sn->r.name) {
				l->err = -ENOMEM;
				return;
			}
		}
		if (l->err || l->stop)
			return;
	}
}

static void parse_procs(struct ldr *l, yaml_node_t *seq, struct stage *st)
{
	static const char what[] = "process rule";
	struct field f[4] = {
	    {.name = "name"}, {.name = "path"}, {.name = "action"}, {.name = "allow_update"}};
	yaml_node_item_t *it;
	yaml_node_t *item;
	struct proc_rule *r;
	const char *name, *path, *action;

	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		item = node_at(l, *it);
		if (!item)
			continue;
		if (item->type != YAML_MAPPING_NODE) {
			ERR(l, item, "a %s is %s, expected a mapping", what, type_name(item));
			continue;
		}
		if (rule_budget(l, item) < 0)
			return;
		fields_get(l, item, what, f, 4, FIELDS_WARN, NULL, NULL);
		name = f_str(l, &f[0], item, what, true);
		if (name && !*name)
			ERR(l, f[0].val, "empty process name (use \"*\" for any)");
		/* NeuVector exports path: "" for a process whose path it did
		 * not see; absent means the same, any path. */
		path = f_str(l, &f[1], item, what, false);
		if (!path && !present(&f[1]) && !f[1].key)
			path = "*";
		else if (!path)
			path = "";
		action = f_str(l, &f[2], item, what, false);
		if (grow(&st->procs, &st->cap_procs, st->n_procs, sizeof(*st->procs)) < 0) {
			l->err = -ENOMEM;
			return;
		}
		r = &st->procs[st->n_procs];
		memset(r, 0, sizeof(*r));
		r->action = ACTION_ALLOW;
		if (action && action_parse(action, &r->action) < 0)
			ERR(l, f[2].val, "unknown action \"%s\" (expected allow or deny)", action);
		r->allow_update = f_bool(l, &f[3], what);
		r->pos = pos_of(l, item);
		if (!name)
			continue;
		r->name = strdup(name);
		r->path = strdup(path);
		st->n_procs++;
		if (!r->name || !r->path) {
			l->err = -ENOMEM;
			return;
		}
	}
}

static void parse_files(struct ldr *l, yaml_node_t *seq, struct stage *st)
{
	static const char what[] = "file rule";
	struct field f[4] = {
	    {.name = "filter"}, {.name = "recursive"}, {.name = "behavior"}, {.name = "app"}};
	yaml_node_item_t *it;
	yaml_node_t *item;
	struct file_rule *r;
	const char *filter, *behavior, *why;
	bool recursive;
	int rc;

	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		item = node_at(l, *it);
		if (!item)
			continue;
		if (item->type != YAML_MAPPING_NODE) {
			ERR(l, item, "a %s is %s, expected a mapping", what, type_name(item));
			continue;
		}
		if (rule_budget(l, item) < 0)
			return;
		fields_get(l, item, what, f, 4, FIELDS_WARN, NULL, NULL);
		filter = f_str(l, &f[0], item, what, true);
		recursive = f_bool(l, &f[1], what);
		behavior = f_str(l, &f[2], item, what, false);
		if (grow(&st->files, &st->cap_files, st->n_files, sizeof(*st->files)) < 0) {
			l->err = -ENOMEM;
			return;
		}
		r = &st->files[st->n_files];
		memset(r, 0, sizeof(*r));
		r->behavior = FILE_MONITOR_CHANGE;
		r->pos = pos_of(l, item);
		if (behavior && behavior_parse(behavior, &r->behavior) < 0)
			ERR(l, f[2].val,
			    "unknown behavior \"%s\" (expected monitor_change or block_access)",
			    behavior);
		if (!filter)
			continue;
		why = NULL;
		rc = file_filter_compile(&r->filter, filter, recursive, &why);
		if (rc == -ENOMEM) {
			l->err = rc;
			return;
		}
		if (rc < 0) {
			ERR(l, f[0].val,
			    "bad file filter \"%s\": %s (expected an absolute path, "
			    "e.g. /etc/passwd or /etc/ssl/*)",
			    filter, why ? why : "invalid");
			continue;
		}
		st->n_files++;
		f_strlist(l, &f[3], what, &r->apps, &r->n_apps);
		if (l->err || l->stop)
			return;
	}
}

static void parse_mode(struct ldr *l, const struct field *f, const char *what,
		       enum policy_mode *out, yaml_node_t **node)
{
	const char *s = f_str(l, f, NULL, what, false);

	if (!s)
		return;
	if (policy_mode_parse(s, out) < 0)
		ERR(l, f->val, "unknown %s \"%s\" (expected Discover, Monitor or Protect)", f->name,
		    s);
	else if (*out != MODE_UNSET)
		*node = f->val;
}

static void parse_spec(struct ldr *l, yaml_node_t *spec, struct stage *st)
{
	struct field f[6] = {{.name = "target"},	  {.name = "ingress"}, {.name = "egress"},
			     {.name = "process_profile"}, {.name = "process"}, {.name = "file"}};
	struct field tf[2] = {{.name = "policymode"}, {.name = "selector"}};
	struct field pf[2] = {{.name = "baseline"}, {.name = "mode"}};
	yaml_node_t *target, *n;
	const char *s;

	fields_get(l, spec, "spec", f, 6, FIELDS_WARN, NULL, unsupported_spec);
	target = f_node(l, &f[0], "spec", YAML_MAPPING_NODE);
	if (!present(&f[0]))
		ERR(l, f[0].key ? f[0].key : spec, "missing required field \"target\" in spec");
	if (target) {
		fields_get(l, target, "target", tf, 2, FIELDS_WARN, NULL, NULL);
		parse_mode(l, &tf[0], "target", &st->net_mode, &st->net_mode_node);
		if (!present(&tf[1]))
			ERR(l, tf[1].key ? tf[1].key : target,
			    "missing required field \"selector\" in target");
		else
			parse_selector(l, tf[1].val, "target", &st->target);
	}
	n = f_node(l, &f[3], "spec", YAML_MAPPING_NODE);
	if (n) {
		fields_get(l, n, "process_profile", pf, 2, FIELDS_WARN, NULL, NULL);
		s = f_str(l, &pf[0], NULL, "process_profile", false);
		if (s && baseline_parse(s, &st->baseline) < 0)
			ERR(l, pf[0].val, "unknown baseline \"%s\" (expected basic or zero-drift)",
			    s);
		else if (s)
			st->baseline_node = pf[0].val;
		parse_mode(l, &pf[1], "process_profile", &st->proc_mode, &st->proc_mode_node);
	}
	if (l->err || l->stop)
		return;
	n = f_node(l, &f[1], "spec", YAML_SEQUENCE_NODE);
	if (n)
		parse_net(l, n, st, true);
	if (l->err || l->stop)
		return;
	n = f_node(l, &f[2], "spec", YAML_SEQUENCE_NODE);
	if (n)
		parse_net(l, n, st, false);
	if (l->err || l->stop)
		return;
	n = f_node(l, &f[4], "spec", YAML_SEQUENCE_NODE);
	if (n)
		parse_procs(l, n, st);
	if (l->err || l->stop)
		return;
	n = f_node(l, &f[5], "spec", YAML_SEQUENCE_NODE);
	if (n)
		parse_files(l, n, st);
}

/* ---- checks against the policy, then commit */

static int crit_cmp(const struct criterion *a, const struct criterion *b)
{
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	if (a->op != b->op)
		return a->op < b->op ? -1 : 1;
	return strcmp(a->value, b->value);
}

static int crit_ptr_cmp(const void *a, const void *b)
{
	return crit_cmp(*(const struct criterion *const *)a, *(const struct criterion *const *)b);
}

/* Same criteria in any order. -ENOMEM, 0 (differ) or 1 (same). */
static int crit_same(const struct criterion *a, size_t na, const struct criterion *b, size_t nb)
{
	const struct criterion **pa, **pb;
	size_t i;
	int same = 1;

	if (na != nb)
		return 0;
	if (!na)
		return 1;
	pa = calloc(na, sizeof(*pa));
	pb = calloc(nb, sizeof(*pb));
	if (!pa || !pb) {
		free(pa);
		free(pb);
		return -ENOMEM;
	}
	for (i = 0; i < na; i++) {
		pa[i] = &a[i];
		pb[i] = &b[i];
	}
	qsort(pa, na, sizeof(*pa), crit_ptr_cmp);
	qsort(pb, nb, sizeof(*pb), crit_ptr_cmp);
	for (i = 0; i < na && same; i++)
		same = crit_cmp(pa[i], pb[i]) == 0;
	free(pa);
	free(pb);
	return same;
}

static const char *pos_file(const struct src_pos *pos)
{
	return pos->file ? pos->file : "(learned)";
}

/* A selector that defines its group: against the group as defined before
 * this document, or as an earlier selector of this document defines it. */
static void check_definition(struct ldr *l, struct sel *s, struct strmap *seen, struct sel **sels,
			     size_t *n_sels)
{
	const struct policy *p = l->p;
	const struct group *g;
	struct sel *first;
	long gi;
	size_t i;
	int same;

	if (!s->name)
		return;
	gi = policy__group_find(p, s->name);
	if (gi >= 0 && group_reserved(&p->groups[gi])) {
		/* NeuVector documents the same: criteria on a reserved
		 * group are ignored, its rules kept. */
		if (s->crit_node)
			WARN(l, s->crit_node, "criteria of reserved group \"%s\" ignored", s->name);
		sel_free(s);
		s->crit_node = NULL;
		return;
	}
	if (!s->crit_node)
		return;
	if (gi >= 0 && p->groups[gi].defined) {
		g = &p->groups[gi];
		same = crit_same(g->crit, g->n_crit, s->crit, s->n_crit);
		if (same < 0)
			l->err = same;
		else if (!same)
			ERR(l, s->name_node,
			    "group \"%s\" redefined with other criteria (first defined at "
			    "%s:%u:%u)",
			    s->name, pos_file(&g->pos), g->pos.line, g->pos.col);
		return;
	}
	if (strmap_get(seen, s->name, &i)) {
		first = sels[i];
		same = crit_same(first->crit, first->n_crit, s->crit, s->n_crit);
		if (same < 0)
			l->err = same;
		else if (!same)
			ERR(l, s->name_node,
			    "group \"%s\" redefined with other criteria (first defined at "
			    "%s:%u:%u)",
			    s->name, l->file, (unsigned)first->name_node->start_mark.line + 1,
			    (unsigned)first->name_node->start_mark.column + 1);
		return;
	}
	if (strmap_put(seen, s->name, *n_sels) < 0) {
		l->err = -ENOMEM;
		return;
	}
	sels[(*n_sels)++] = s;
}

static void check_mode(struct ldr *l, const char *what, const char *value, yaml_node_t *node,
		       const char *old, const struct src_pos *old_pos)
{
	if (!node || !old_pos->line || !strcasecmp(value, old))
		return;
	ERR(l, node, "%s \"%s\" conflicts with \"%s\" given at %s:%u:%u", what, value, old,
	    pos_file(old_pos), old_pos->line, old_pos->col);
}

static const char *baseline_name(enum policy_baseline b)
{
	return b == BASELINE_ZERO_DRIFT ? "zero-drift" : b == BASELINE_BASIC ? "basic" : "";
}

static char *net_key(size_t owner, const char *name)
{
	char *k = NULL;

	if (asprintf(&k, "%zu/%s", owner, name) < 0)
		return NULL;
	return k;
}

static const struct net_rule *net_find(const struct policy *p, size_t owner, const char *name)
{
	size_t i;

	for (i = 0; i < p->n_net; i++) {
		if (p->net[i].owner == owner && !strcmp(p->net[i].name, name))
			return &p->net[i];
	}
	return NULL;
}

static void check_doc(struct ldr *l, struct stage *st, const char *doc_key)
{
	struct policy *p = l->p;
	struct policy_priv *pv = priv(p);
	struct strmap seen = {0}, names = {0};
	struct sel **sels;
	const struct group *g = NULL;
	const struct group_extra *gx;
	const struct src_pos *dp;
	const struct net_rule *nr;
	struct stage_net *first;
	size_t i, j, n_sels = 0;
	long gi;
	char *k;

	/* A learned profile is exported under its rule file's document
	 * name, and read back over it. */
	if (!p->load_learned && strmap_get(&pv->docs, doc_key, &i)) {
		dp = &pv->doc_pos[i].pos;
		ERR(l, st->name_node, "duplicate %s \"%s%s%s\" (first at %s:%u:%u)",
		    st->cluster ? KIND_CLUSTER : KIND_NS, st->cluster ? "" : st->ns,
		    st->cluster ? "" : "/", st->name, dp->file, dp->line, dp->col);
	}
	sels = calloc(st->n_nets + 1, sizeof(*sels));
	if (!sels) {
		l->err = -ENOMEM;
		return;
	}
	check_definition(l, &st->target, &seen, sels, &n_sels);
	for (i = 0; i < st->n_nets && !l->err; i++)
		check_definition(l, &st->nets[i].peer, &seen, sels, &n_sels);
	free(sels);
	strmap_free(&seen);

	gi = st->target.name ? policy__group_find(p, st->target.name) : -1;
	if (gi >= 0) {
		g = &p->groups[gi];
		gx = &pv->gx[gi];
		check_mode(l, "policymode", policy_mode_name(st->net_mode), st->net_mode_node,
			   policy_mode_name(g->net_mode), &gx->net_mode_pos);
		check_mode(l, "process_profile mode", policy_mode_name(st->proc_mode),
			   st->proc_mode_node, policy_mode_name(g->proc_mode), &gx->proc_mode_pos);
		check_mode(l, "baseline", baseline_name(st->baseline), st->baseline_node,
			   baseline_name(g->baseline), &gx->baseline_pos);
		if (!st->cluster && g->namespace && strcmp(g->namespace, st->ns))
			WARN(
			    l, st->ns_node ? st->ns_node : st->name_node,
			    "group \"%s\" is already targeted from namespace \"%s\" (at %s:%u:%u); "
			    "namespace \"%s\" ignored for it",
			    g->name, g->namespace, pos_file(&gx->ns_pos), gx->ns_pos.line,
			    gx->ns_pos.col, st->ns);
	}

	/* Every rule of this document is owned by the target. */
	for (i = 0; i < st->n_nets && gi >= 0 && !l->err; i++) {
		if (!st->nets[i].r.name)
			continue;
		k = net_key((size_t)gi, st->nets[i].r.name);
		if (!k) {
			l->err = -ENOMEM;
			break;
		}
		if (strmap_get(&pv->net_names, k, NULL) &&
		    (nr = net_find(p, (size_t)gi, st->nets[i].r.name)))
			ERR(l, st->nets[i].name_node,
			    "duplicate network rule \"%s\" in group \"%s\" (first at %s:%u:%u)",
			    nr->name, st->target.name, pos_file(&nr->pos), nr->pos.line,
			    nr->pos.col);
		free(k);
	}
	for (i = 0; i < st->n_nets && !l->err; i++) {
		if (!st->nets[i].r.name)
			continue;
		if (strmap_get(&names, st->nets[i].r.name, &j)) {
			first = &st->nets[j];
			ERR(l, st->nets[i].name_node,
			    "duplicate network rule \"%s\" in group \"%s\" (first at %s:%u:%u)",
			    first->r.name, st->target.name ? st->target.name : "", l->file,
			    first->r.pos.line, first->r.pos.col);
		} else if (strmap_put(&names, st->nets[i].r.name, i) < 0) {
			l->err = -ENOMEM;
		}
	}
	strmap_free(&names);
}

static int ref_add(struct policy *p, size_t g, const struct src_pos *pos)
{
	struct policy_priv *pv = priv(p);

	if (grow(&pv->refs, &pv->refs_cap, pv->n_refs, sizeof(*pv->refs)) < 0)
		return -ENOMEM;
	pv->refs[pv->n_refs].g = g;
	pv->refs[pv->n_refs].pos = *pos;
	pv->n_refs++;
	return 0;
}

/* The group a selector names: created if new, defined by its criteria
 * (moved out of s) if it was not yet, remembered as a reference if the
 * selector only names it. Index or -ENOMEM. */
static long sel_commit(struct ldr *l, struct sel *s)
{
	struct policy *p = l->p;
	struct src_pos pos = pos_of(l, s->name_node);
	struct group *g;
	long gi;

	gi = group_get(p, s->name, &pos);
	if (gi < 0)
		return gi;
	g = &p->groups[gi];
	if (s->crit_node && !g->defined) {
		g->crit = s->crit;
		g->crit_pos = s->crit_pos;
		g->n_crit = s->n_crit;
		g->defined = true;
		g->pos = pos;
		s->crit = NULL;
		s->crit_pos = NULL;
		s->n_crit = 0;
	} else if (!s->crit_node && !g->defined && ref_add(p, (size_t)gi, &pos) < 0) {
		return -ENOMEM;
	}
	return gi;
}

static bool file_rule_same(const struct file_rule *a, const struct file_rule *b)
{
	return !strcmp(a->filter.pattern, b->filter.pattern) &&
	       a->filter.recursive == b->filter.recursive && a->behavior == b->behavior;
}

/* Adds app to r unless there. 0 or -ENOMEM. */
static int file_rule_app(struct file_rule *r, const char *app)
{
	char **v;
	size_t i;

	for (i = 0; i < r->n_apps; i++) {
		if (!strcmp(r->apps[i], app))
			return 0;
	}
	v = reallocarray(r->apps, r->n_apps + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->apps = v;
	r->apps[r->n_apps] = strdup(app);
	if (!r->apps[r->n_apps])
		return -ENOMEM;
	r->n_apps++;
	return 0;
}

/* Learned profiles: a file rule equal to one of the group's (the learned
 * export writes every file rule, with the apps learned for it) gives only
 * its apps. The staged rules left over are new. */
static int files_merge(struct group *g, struct stage *st)
{
	struct file_rule *r;
	size_t i, j, k, n = 0;
	int rc;

	for (i = 0; i < st->n_files; i++) {
		r = &st->files[i];
		for (j = 0; j < g->n_files && !file_rule_same(&g->files[j], r); j++)
			;
		if (j == g->n_files) {
			st->files[n++] = *r;
			continue;
		}
		for (k = 0; k < r->n_apps; k++) {
			rc = file_rule_app(&g->files[j], r->apps[k]);
			if (rc < 0)
				return rc;
		}
		file_rule_free(r);
	}
	st->n_files = n;
	return 0;
}

static int commit_doc(struct ldr *l, struct stage *st, const char *doc_key)
{
	struct policy *p = l->p;
	struct policy_priv *pv = priv(p);
	struct group *g;
	struct group_extra *gx;
	struct net_rule *r;
	size_t i, cap;
	long gi, peer;
	void *v;
	char *k;
	int rc;

	if (!p->load_learned) {
		if (grow(&pv->doc_pos, &pv->docs_cap, pv->n_docs, sizeof(*pv->doc_pos)) < 0 ||
		    strmap_put(&pv->docs, doc_key, pv->n_docs) < 0)
			return -ENOMEM;
		pv->doc_pos[pv->n_docs++].pos = pos_of(l, st->name_node);
	}

	gi = sel_commit(l, &st->target);
	if (gi < 0)
		return (int)gi;
	g = &p->groups[gi];
	gx = &pv->gx[gi];
	if (!st->cluster && !g->namespace) {
		g->namespace = strdup(st->ns);
		if (!g->namespace)
			return -ENOMEM;
		gx->ns_pos = pos_of(l, st->ns_node ? st->ns_node : st->name_node);
	}
	if (st->net_mode_node) {
		g->net_mode = st->net_mode;
		gx->net_mode_pos = pos_of(l, st->net_mode_node);
	}
	if (st->proc_mode_node) {
		g->proc_mode = st->proc_mode;
		gx->proc_mode_pos = pos_of(l, st->proc_mode_node);
	}
	if (st->baseline_node) {
		g->baseline = st->baseline;
		gx->baseline_pos = pos_of(l, st->baseline_node);
	}
	for (i = 0; i < st->n_procs; i++)
		st->procs[i].learned = p->load_learned;
	if (st->n_procs) {
		v = reallocarray(g->procs, g->n_procs + st->n_procs, sizeof(*g->procs));
		if (!v)
			return -ENOMEM;
		g->procs = v;
		memcpy(&g->procs[g->n_procs], st->procs, st->n_procs * sizeof(*st->procs));
		g->n_procs += st->n_procs;
		st->n_procs = 0;
	}
	if (p->load_learned) {
		rc = files_merge(g, st);
		if (rc < 0)
			return rc;
	}
	if (st->n_files) {
		v = reallocarray(g->files, g->n_files + st->n_files, sizeof(*g->files));
		if (!v)
			return -ENOMEM;
		g->files = v;
		memcpy(&g->files[g->n_files], st->files, st->n_files * sizeof(*st->files));
		g->n_files += st->n_files;
		st->n_files = 0;
	}
	for (i = 0; i < st->n_nets; i++) {
		peer = sel_commit(l, &st->nets[i].peer);
		if (peer < 0)
			return (int)peer;
		cap = pv->net_cap;
		if (grow(&p->net, &cap, p->n_net, sizeof(*p->net)) < 0)
			return -ENOMEM;
		pv->net_cap = cap;
		k = net_key((size_t)gi, st->nets[i].r.name);
		if (!k || strmap_put(&pv->net_names, k, 1) < 0) {
			free(k);
			return -ENOMEM;
		}
		free(k);
		r = &p->net[p->n_net++];
		*r = st->nets[i].r;
		memset(&st->nets[i].r, 0, sizeof(st->nets[i].r));
		r->owner = (size_t)gi;
		r->from = r->ingress ? (size_t)peer : (size_t)gi;
		r->to = r->ingress ? (size_t)gi : (size_t)peer;
		r->order = p->next_order++;
		r->learned = p->load_learned;
	}
	return 0;
}

/* One NvSecurityRule / NvClusterSecurityRule mapping (a document, or an
 * item of a List). apiVersion and kind are already checked. */
static void load_rule_doc(struct ldr *l, yaml_node_t *root, bool cluster, struct field *top)
{
	struct field mf[2] = {{.name = "name"}, {.name = "namespace"}};
	struct stage st = {0};
	yaml_node_t *meta, *spec;
	char *key = NULL;
	int rc;

	l->doc_errors = 0;
	st.cluster = cluster;
	meta = f_node(l, &top[2], "document", YAML_MAPPING_NODE);
	if (!present(&top[2]))
		ERR(l, top[2].key ? top[2].key : root, "missing required field \"metadata\"");
	if (meta) {
		fields_get(l, meta, "metadata", mf, 2, FIELDS_SILENT, NULL, NULL);
		st.name = f_str(l, &mf[0], meta, "metadata", true);
		st.name_node = mf[0].val;
		if (st.name && !*st.name)
			ERR(l, mf[0].val, "empty metadata.name");
		st.ns = f_str(l, &mf[1], meta, "metadata", false);
		st.ns_node = mf[1].val;
		if (!cluster && !st.ns && st.name) {
			/* kubectl puts it in the context's namespace. */
			WARN(l, mf[0].val,
			     "%s \"%s\" has no metadata.namespace, \"default\" assumed", KIND_NS,
			     st.name);
			st.ns = "default";
			st.ns_node = NULL;
		}
	}
	spec = f_node(l, &top[3], "document", YAML_MAPPING_NODE);
	if (!present(&top[3]))
		ERR(l, top[3].key ? top[3].key : root, "missing required field \"spec\"");
	if (spec)
		parse_spec(l, spec, &st);
	if (!l->err && !l->doc_errors && st.name) {
		/* A cluster-scoped resource has no namespace whatever its
		 * metadata says (NeuVector's exports write "default"). */
		if (asprintf(&key, "%s/%s/%s", cluster ? KIND_CLUSTER : KIND_NS,
			     cluster ? "" : st.ns, st.name) < 0)
			key = NULL;
		if (!key)
			l->err = -ENOMEM;
	}
	if (key && !l->err && !l->doc_errors)
		check_doc(l, &st, key);
	if (key && !l->err && !l->doc_errors) {
		rc = commit_doc(l, &st, key);
		if (rc < 0)
			l->err = rc;
	}
	free(key);
	stage_free(&st);
}

static int doc_budget(struct ldr *l, const yaml_node_t *n)
{
	struct policy_priv *pv = priv(l->p);

	/* Counted as seen, not as committed: a List of aliases to one
	 * document in error must not run forever either. */
	if (pv->n_docs_seen >= RULES_MAX_DOCS) {
		ERR(l, n, "too many documents (more than %u), not read further", RULES_MAX_DOCS);
		l->stop = true;
		return -E2BIG;
	}
	pv->n_docs_seen++;
	return 0;
}

static void load_root(struct ldr *l, yaml_node_t *root, bool in_list)
{
	struct field top[5] = {{.name = "apiVersion"},
			       {.name = "kind"},
			       {.name = "metadata"},
			       {.name = "spec"},
			       {.name = "items"}};
	yaml_node_item_t *it;
	yaml_node_t *items, *item;
	const char *api, *kind;

	l->doc_errors = 0;
	if (is_null(root))
		return;
	if (root->type != YAML_MAPPING_NODE) {
		ERR(l, root,
		    "%s is %s, expected a mapping with apiVersion, kind, metadata and spec",
		    in_list ? "a List item" : "the document", type_name(root));
		return;
	}
	if (doc_budget(l, root) < 0)
		return;
	fields_get(l, root, "document", top, 5, FIELDS_WARN, silent_top, NULL);
	api = f_str(l, &top[0], root, "document", true);
	kind = f_str(l, &top[1], root, "document", true);
	if (!api || !kind)
		return;
	/* What `kubectl get -o yaml` and NeuVector's export write around
	 * the rules: a v1 List. */
	if (!in_list && !strcmp(api, "v1") && !strcmp(kind, "List")) {
		items = f_node(l, &top[4], "List", YAML_SEQUENCE_NODE);
		if (!items)
			return;
		for (it = items->data.sequence.items.start; it < items->data.sequence.items.top;
		     it++) {
			item = node_at(l, *it);
			if (item)
				load_root(l, item, true);
			if (l->err || l->stop)
				return;
		}
		return;
	}
	if (top[4].key)
		WARN(l, top[4].key, "unknown field \"items\" in document, ignored");
	if (strcmp(api, API_VERSION)) {
		ERR(l, top[0].val, "unknown apiVersion \"%s\" (expected %s)", api, API_VERSION);
		return;
	}
	if (strcmp(kind, KIND_NS) && strcmp(kind, KIND_CLUSTER)) {
		ERR(l, top[1].val, "unknown kind \"%s\" (expected %s or %s)", kind, KIND_NS,
		    KIND_CLUSTER);
		return;
	}
	load_rule_doc(l, root, !strcmp(kind, KIND_CLUSTER), top);
}

/* ---- the YAML stream */

static void yaml_error(struct ldr *l, const yaml_parser_t *ps, const char *buf, size_t len)
{
	unsigned line, col;
	size_t i, off;

	if (ps->error == YAML_MEMORY_ERROR) {
		l->err = -ENOMEM;
		return;
	}
	if (ps->error == YAML_READER_ERROR) {
		/* A reader error (bad encoding) has a byte offset, no mark. */
		off = ps->problem_offset < len ? ps->problem_offset : len;
		line = 1;
		col = 1;
		for (i = 0; i < off; i++) {
			if (buf[i] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
				col++;
			}
		}
		diags__add(l->d, true, l->file, line, col, "YAML: %s",
			   ps->problem ? ps->problem : "cannot read");
	} else if (ps->context) {
		diags__add(
		    l->d, true, l->file, (unsigned)ps->problem_mark.line + 1,
		    (unsigned)ps->problem_mark.column + 1, "YAML: %s (%s at line %u column %u)",
		    ps->problem ? ps->problem : "syntax error", ps->context,
		    (unsigned)ps->context_mark.line + 1, (unsigned)ps->context_mark.column + 1);
	} else {
		diags__add(l->d, true, l->file, (unsigned)ps->problem_mark.line + 1,
			   (unsigned)ps->problem_mark.column + 1, "YAML: %s",
			   ps->problem ? ps->problem : "syntax error");
	}
	priv(l->p)->n_errors++;
}

/*
 * First pass over the events: finds libyaml's syntax errors and nesting
 * beyond RULES_MAX_DEPTH before any document is built, so that the second
 * pass only loads documents that are whole. Returns how many documents come
 * before the first problem; *problem says whether there is one (reported by
 * the caller, after the documents before it, to keep diagnostics in order).
 */
struct scan_problem {
	bool set;
	bool is_yaml; /* libyaml's error, in ps */
	yaml_mark_t mark;
	const char *msg;
};

static size_t prescan(yaml_parser_t *ps, struct scan_problem *pb)
{
	yaml_event_t ev;
	size_t docs = 0;
	unsigned depth = 0;
	bool done = false;

	memset(pb, 0, sizeof(*pb));
	while (!done) {
		if (!yaml_parser_parse(ps, &ev)) {
			pb->set = true;
			pb->is_yaml = true;
			break;
		}
		switch (ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > RULES_MAX_DEPTH) {
				pb->set = true;
				pb->mark = ev.start_mark;
				pb->msg = "nesting deeper than 64 levels";
				done = true;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (docs >= RULES_MAX_DOCS) {
				pb->set = true;
				pb->mark = ev.start_mark;
				pb->msg = "too many documents (more than 100000), not read further";
				done = true;
			}
			break;
		case YAML_DOCUMENT_END_EVENT:
			docs++;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	return docs;
}

struct diag_ord {
	struct diag v;
	size_t i;
};

static int diag_ord_cmp(const void *a, const void *b)
{
	const struct diag_ord *x = a, *y = b;

	if (x->v.line != y->v.line)
		return x->v.line < y->v.line ? -1 : 1;
	if (x->v.col != y->v.col)
		return x->v.col < y->v.col ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* A document's checks run field by field, not line by line: put what one
 * buffer reported back in file order (stable, so a message and the one it
 * leads to stay together). */
static void diags_sort_from(struct diags *d, size_t from)
{
	struct diag_ord *v;
	size_t i, n = d->n - from;

	if (n < 2)
		return;
	v = calloc(n, sizeof(*v));
	if (!v)
		return;
	for (i = 0; i < n; i++) {
		v[i].v = d->v[from + i];
		v[i].i = i;
	}
	qsort(v, n, sizeof(*v), diag_ord_cmp);
	for (i = 0; i < n; i++)
		d->v[from + i] = v[i].v;
	free(v);
}

int policy__load_buffer(struct policy *p, const char *name, const char *buf, size_t len,
			struct diags *d)
{
	struct diags local = {0};
	struct scan_problem pb;
	yaml_parser_t scan, ps;
	yaml_document_t doc;
	yaml_node_t *root;
	struct ldr l = {0};
	size_t n_docs, i, errors_before, diags_before;
	int rc;

	if (!p || (!buf && len))
		return -EINVAL;
	if (!d)
		d = &local;
	diags_before = d->n;
	if (!name)
		name = "(buffer)";
	l.p = p;
	l.d = d;
	errors_before = priv(p)->n_errors;
	rc = intern_file(p, name, &l.file);
	if (rc < 0)
		goto out;
	if (len > RULES_MAX_BYTES) {
		diags__add(d, true, l.file, 0, 0,
			   "file is %zu bytes, more than the %u allowed for rules", len,
			   RULES_MAX_BYTES);
		priv(p)->n_errors++;
		rc = -EFBIG;
		goto out;
	}
	if (!buf)
		buf = "";

	if (!yaml_parser_initialize(&scan)) {
		rc = -ENOMEM;
		goto out;
	}
	if (!yaml_parser_initialize(&ps)) {
		yaml_parser_delete(&scan);
		rc = -ENOMEM;
		goto out;
	}
	yaml_parser_set_input_string(&scan, (const unsigned char *)buf, len);
	yaml_parser_set_input_string(&ps, (const unsigned char *)buf, len);
	n_docs = prescan(&scan, &pb);
	if (pb.set && pb.is_yaml && scan.error == YAML_MEMORY_ERROR) {
		l.err = -ENOMEM;
		goto done;
	}
	/* Second pass: the documents before the first problem. */
	for (i = 0; i < n_docs && !l.err && !l.stop; i++) {
		if (!yaml_parser_load(&ps, &doc)) {
			/* The composer's errors (an undefined alias) are not
			 * seen by the event pass. */
			yaml_error(&l, &ps, buf, len);
			pb.set = false;
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (!root) {
			yaml_document_delete(&doc);
			break;
		}
		l.doc = &doc;
		load_root(&l, root, false);
		l.doc = NULL;
		yaml_document_delete(&doc);
	}
	if (pb.set && !l.err && !l.stop) {
		if (pb.is_yaml) {
			yaml_error(&l, &scan, buf, len);
		} else {
			diags__add(d, true, l.file, (unsigned)pb.mark.line + 1,
				   (unsigned)pb.mark.column + 1, "%s", pb.msg);
			priv(p)->n_errors++;
		}
	}
done:
	yaml_parser_delete(&scan);
	yaml_parser_delete(&ps);
	diags_sort_from(d, diags_before);
	rc = l.err;
	if (!rc && priv(p)->n_errors != errors_before)
		rc = -EINVAL;
out:
	if (rc == -ENOMEM && d != &local) {
		diags__add(d, true, name, 0, 0, "out of memory while loading rules");
		priv(p)->n_errors++;
	}
	diags__free(&local);
	return rc;
}

/* ---- files and directories */

static int read_file(const char *path, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0, cap;
	ssize_t r;
	int fd, err;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto fail;
	}
	/* Also reads what fstat cannot size (a pipe), up to the bound. */
	cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	if (cap > RULES_MAX_BYTES + 1)
		cap = RULES_MAX_BYTES + 1;
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto fail;
	}
	for (;;) {
		if (n == cap) {
			char *nb;

			if (cap > RULES_MAX_BYTES)
				break;
			cap = cap * 2 > RULES_MAX_BYTES + 1 ? RULES_MAX_BYTES + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				goto fail;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*out = buf;
	*len = n;
	return 0;
fail:
	free(buf);
	close(fd);
	return err;
}

static int load_file(struct policy *p, const char *path, struct diags *d)
{
	char *buf;
	size_t len;
	int rc;

	rc = read_file(path, &buf, &len);
	if (rc < 0) {
		diags__add(d, true, path, 0, 0, "cannot read rule file: %s", strerror(-rc));
		priv(p)->n_errors++;
		return rc;
	}
	rc = policy__load_buffer(p, path, buf, len, d);
	free(buf);
	return rc;
}

static bool rule_file_name(const char *s)
{
	size_t n = strlen(s);

	if (s[0] == '.')
		return false;
	return (n > 5 && !strcmp(s + n - 5, ".yaml")) || (n > 4 && !strcmp(s + n - 4, ".yml"));
}

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether path is a Kubernetes ConfigMap or Secret volume's key whose
 * data is gone: a symlink to ..data/NAME (what the kubelet's atomic writer
 * makes for every key) that no longer resolves. */
static bool configmap_key_removed(const char *path)
{
	char target[PATH_MAX];
	struct stat st;
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n < 0)
		return false;
	target[n] = 0;
	return strncmp(target, "..data/", 7) == 0 && stat(path, &st) != 0 && errno == ENOENT;
}

static int load_dir(struct policy *p, const char *path, struct diags *d)
{
	DIR *dir;
	struct dirent *de;
	struct stat st;
	char **names = NULL, *full;
	size_t n = 0, cap = 0, i, plen = strlen(path);
	int rc = 0, r;

	dir = opendir(path);
	if (!dir) {
		rc = -errno;
		diags__add(d, true, path, 0, 0, "cannot read rule directory: %s", strerror(-rc));
		priv(p)->n_errors++;
		return rc;
	}
	while ((de = readdir(dir))) {
		if (!rule_file_name(de->d_name))
			continue;
		if (asprintf(&full, "%s%s%s", path, plen && path[plen - 1] == '/' ? "" : "/",
			     de->d_name) < 0) {
			rc = -ENOMEM;
			break;
		}
		/* Not recursive: a directory named x.yaml is skipped. */
		if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
			free(full);
			continue;
		}
		/* A ConfigMap key being removed: the kubelet swaps ..data first
		 * and unlinks the key's symlink after, so a reload in between
		 * would fail on a file that is gone by design. */
		if (configmap_key_removed(full)) {
			free(full);
			continue;
		}
		if (grow(&names, &cap, n, sizeof(*names)) < 0) {
			free(full);
			rc = -ENOMEM;
			break;
		}
		names[n++] = full;
	}
	closedir(dir);
	if (!rc) {
		/* Name order makes "10-base.yaml, 20-app.yaml" meaningful:
		 * network rules of equal priority keep load order. */
		if (n)
			qsort(names, n, sizeof(*names), str_ptr_cmp);
		for (i = 0; i < n; i++) {
			r = load_file(p, names[i], d);
			if (r < 0 && (!rc || rc == -EINVAL))
				rc = r;
			if (r == -ENOMEM)
				break;
		}
	} else {
		diags__add(d, true, path, 0, 0, "cannot read rule directory: %s", strerror(-rc));
		priv(p)->n_errors++;
	}
	strv_free(names, n);
	return rc;
}

int policy__load_path(struct policy *p, const char *path, struct diags *d)
{
	struct stat st;
	int rc;

	if (!p || !path || !d)
		return -EINVAL;
	if (stat(path, &st) < 0) {
		rc = -errno;
		diags__add(d, true, path, 0, 0, "cannot read rules: %s", strerror(-rc));
		priv(p)->n_errors++;
		return rc;
	}
	if (S_ISDIR(st.st_mode))
		return load_dir(p, path, d);
	return load_file(p, path, d);
}

/* ---- finish */

static int net_cmp(const void *a, const void *b)
{
	const struct net_rule *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

int policy__finish(struct policy *p, struct diags *d)
{
	struct policy_priv *pv;
	const struct group_ref *r;
	size_t i;

	if (!p || !d)
		return -EINVAL;
	pv = priv(p);
	/* References resolve against every file loaded, so a peer may be
	 * defined after the rule that names it. */
	for (i = 0; i < pv->n_refs; i++) {
		r = &pv->refs[i];
		if (p->groups[r->g].defined)
			continue;
		diags__add(d, true, r->pos.file, r->pos.line, r->pos.col,
			   "group \"%s\" is referenced but never defined (give its selector "
			   "criteria in some document)",
			   p->groups[r->g].name);
		pv->n_errors++;
	}
	/* The order field makes the sort stable. */
	if (p->n_net)
		qsort(p->net, p->n_net, sizeof(*p->net), net_cmp);
	return pv->n_errors || d->n_errors ? -EINVAL : 0;
}

/* ---- learning */

long policy__group_learned(struct policy *p, const char *service, const char *namespace)
{
	struct group *g;
	const char *why = NULL;
	char *name = NULL;
	size_t n = 0;
	long gi;
	int rc;

	if (!p || !service || !*service || !namespace)
		return -EINVAL;
	if (asprintf(&name, *namespace ? "nv.%s.%s" : "nv.%s", service, namespace) < 0)
		return -ENOMEM;
	gi = policy__group_find(p, name);
	if (gi >= 0)
		goto out;
	gi = group_add(p, name, NULL);
	if (gi < 0)
		goto out;
	g = &p->groups[gi];
	g->defined = true;
	g->crit = calloc(2, sizeof(*g->crit));
	g->crit_pos = calloc(2, sizeof(*g->crit_pos));
	if (*namespace)
		g->namespace = strdup(namespace);
	if (!g->crit || !g->crit_pos || (*namespace && !g->namespace)) {
		gi = -ENOMEM;
		goto out;
	}
	rc = criterion_compile(&g->crit[n], CRIT_SERVICE, CRIT_EQ, service, &why, NULL, 0);
	if (rc < 0) {
		gi = rc;
		goto out;
	}
	g->n_crit = ++n;
	if (*namespace) {
		rc = criterion_compile(&g->crit[n], CRIT_NAMESPACE, CRIT_EQ, namespace, &why, NULL,
				       0);
		if (rc < 0) {
			gi = rc;
			goto out;
		}
		g->n_crit = ++n;
	}
out:
	free(name);
	return gi;
}

long policy__proc_add(struct policy *p, size_t g, const char *name, const char *path)
{
	struct group *gr;
	struct proc_rule *r;
	void *v;

	if (!p || g >= p->n_groups || !name || !path)
		return -EINVAL;
	gr = &p->groups[g];
	v = reallocarray(gr->procs, gr->n_procs + 1, sizeof(*gr->procs));
	if (!v)
		return -ENOMEM;
	gr->procs = v;
	r = &gr->procs[gr->n_procs];
	memset(r, 0, sizeof(*r));
	r->name = strdup(name);
	r->path = strdup(path);
	if (!r->name || !r->path) {
		proc_rule_free(r);
		return -ENOMEM;
	}
	r->action = ACTION_ALLOW;
	r->learned = true;
	return (long)gr->n_procs++;
}

int policy__file_app_add(struct policy *p, size_t g, size_t r, const char *app)
{
	struct file_rule *fr;
	size_t n;
	int rc;

	if (!p || g >= p->n_groups || r >= p->groups[g].n_files || !app)
		return -EINVAL;
	fr = &p->groups[g].files[r];
	n = fr->n_apps;
	rc = file_rule_app(fr, app);
	if (rc < 0)
		return rc;
	return fr->n_apps > n;
}

long policy__net_add(struct policy *p, size_t from, size_t to, size_t owner, uint8_t proto,
		     uint16_t port)
{
	struct policy_priv *pv;
	struct net_rule r = {0};
	char *key = NULL;
	size_t i, cap;
	int rc = -ENOMEM;

	if (!p || from >= p->n_groups || to >= p->n_groups || (owner != from && owner != to))
		return -EINVAL;
	pv = priv(p);
	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		rc = asprintf(&r.ports_spec, "%s/%u", proto == IPPROTO_TCP ? "tcp" : "udp",
			      (unsigned)port);
		if (rc < 0)
			r.ports_spec = NULL; /* asprintf leaves it undefined */
		r.ports = calloc(1, sizeof(*r.ports));
		if (rc < 0 || !r.ports)
			goto fail;
		r.ports[0] = (struct port_range){proto, port, port};
		break;
	case IPPROTO_ICMP:
	case PORT_PROTO_ANY:
		r.ports_spec = strdup(proto == IPPROTO_ICMP ? "icmp" : "any");
		r.ports = calloc(1, sizeof(*r.ports));
		if (!r.ports_spec || !r.ports)
			goto fail;
		r.ports[0] = (struct port_range){proto, 0, 65535};
		break;
	default:
		/* The ports syntax has no other protocol to write. */
		return -EPROTONOSUPPORT;
	}
	r.n_ports = 1;
	/* learned-<n>, unique within the owner even if a rule file used the
	 * same name. */
	for (;;) {
		free(r.name);
		r.name = NULL;
		free(key);
		key = NULL;
		if (asprintf(&r.name, "learned-%zu", ++pv->learned_seq) < 0) {
			r.name = NULL;
			goto fail;
		}
		key = net_key(owner, r.name);
		if (!key)
			goto fail;
		if (!strmap_get(&pv->net_names, key, NULL))
			break;
	}
	cap = pv->net_cap;
	if (grow(&p->net, &cap, p->n_net, sizeof(*p->net)) < 0 ||
	    strmap_put(&pv->net_names, key, 1) < 0)
		goto fail;
	pv->net_cap = cap;
	free(key);
	r.action = ACTION_ALLOW;
	r.priority = 0;
	r.order = p->next_order++;
	r.from = from;
	r.to = to;
	r.owner = owner;
	r.ingress = owner == to;
	r.learned = true;
	/* After every rule of priority 0, before the first above it. */
	for (i = 0; i < p->n_net && p->net[i].priority <= 0; i++)
		;
	memmove(&p->net[i + 1], &p->net[i], (p->n_net - i) * sizeof(*p->net));
	p->net[i] = r;
	p->n_net++;
	return (long)i;
fail:
	free(key);
	net_rule_free(&r);
	return -ENOMEM;
}
