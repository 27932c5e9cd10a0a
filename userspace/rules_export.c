// SPDX-License-Identifier: Apache-2.0
/* rules_export.c: one group of the policy written back as a NeuVector
 * NvSecurityRule / NvClusterSecurityRule document that rules.c loads again. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "policy.h"

/* libyaml does the quoting and escaping; this file only decides which
 * strings must not be written plain. The first error sticks and every later
 * call is a no-op, so the writers below read as the document they write. */
struct exporter {
	yaml_emitter_t y;
	int err;
};

static int ex_emit(struct exporter *x, yaml_event_t *ev, int init_ok)
{
	if (x->err) {
		if (init_ok)
			yaml_event_delete(ev);
		return x->err;
	}
	if (!init_ok)
		return x->err = -ENOMEM;
	/* yaml_emitter_emit frees ev, also when it fails. */
	errno = 0;
	if (!yaml_emitter_emit(&x->y, ev)) {
		if (x->y.error == YAML_MEMORY_ERROR)
			x->err = -ENOMEM;
		else if (x->y.error == YAML_WRITER_ERROR)
			x->err = errno ? -errno : -EIO; /* fwrite's errno, e.g. ENOSPC */
		else
			x->err = -EINVAL; /* an event out of order: a bug here */
	}
	return x->err;
}

static void ex_map_start(struct exporter *x)
{
	yaml_event_t ev;
	int ok = yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);

	ex_emit(x, &ev, ok);
}

static void ex_map_end(struct exporter *x)
{
	yaml_event_t ev;
	int ok = yaml_mapping_end_event_initialize(&ev);

	ex_emit(x, &ev, ok);
}

static void ex_seq_start(struct exporter *x)
{
	yaml_event_t ev;
	int ok =
	    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);

	ex_emit(x, &ev, ok);
}

static void ex_seq_end(struct exporter *x)
{
	yaml_event_t ev;
	int ok = yaml_sequence_end_event_initialize(&ev);

	ex_emit(x, &ev, ok);
}

static bool is_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p++, n, cp;

		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return false;
		for (; n; n--, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (*p & 0x3f);
		}
		/* overlong 3/4-byte forms, surrogates, beyond U+10FFFF */
		if ((c >= 0xe0 && cp < 0x800) || (c >= 0xf0 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
	}
	return true;
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Plain only for the plainest strings (names, paths, "app=web", "tcp/80");
 * everything else is double-quoted, so "*", "=", "!=", "a: b", "-x", "#x"
 * and "" look alike in the output and libyaml escapes what needs escaping.
 * rules.c reads every scalar as a string, but the CRD is also applied with
 * kubectl (go-yaml) and read by PyYAML, which take plain null/bool/number
 * forms for what they look like (YAML 1.1 and the 1.2 core schema): `value:
 * 80` is not a string there, `op: =` does not load in PyYAML. A leading
 * digit, sign, '.', '~' or indicator is quoted by the first test (numbers
 * in any base, sexagesimals "1:30", timestamps, ".inf"; over-quoting
 * "3rd-party" costs two characters), the bool and null words by the last.
 */
static bool plain_ok(const char *s)
{
	static const char *const words[] = {
	    "null", "y", "yes", "n", "no", "true", "false", "on", "off",
	};
	const char *c;

	if (!(is_alpha(*s) || *s == '/' || *s == '_'))
		return false;
	for (c = s; *c; c++)
		if (!(is_alpha(*c) || is_digit(*c) || strchr("_./-=+@", *c)))
			return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(s, words[i]))
			return false;
	return true;
}

static void ex_scalar(struct exporter *x, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;
	int ok;

	if (x->err)
		return;
	/* libyaml refuses invalid UTF-8 (so would every reader); a learned
	 * path can hold any bytes, and writing it altered would make a rule
	 * that matches nothing. */
	if (!is_utf8(s)) {
		x->err = -EILSEQ;
		return;
	}
	ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
					  style);
	ex_emit(x, &ev, ok);
}

/* A string value: plain when safe, double-quoted otherwise. */
static void ex_str(struct exporter *x, const char *s)
{
	ex_scalar(x, s, plain_ok(s) ? YAML_PLAIN_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

/* A key, or a value that is a bool, number or enum name of ours. */
static void ex_word(struct exporter *x, const char *s)
{
	ex_scalar(x, s, YAML_PLAIN_SCALAR_STYLE);
}

static void ex_kv(struct exporter *x, const char *key, const char *val)
{
	ex_word(x, key);
	ex_str(x, val);
}

static void ex_kw(struct exporter *x, const char *key, const char *word)
{
	ex_word(x, key);
	ex_word(x, word);
}

static void ex_kbool(struct exporter *x, const char *key, bool v)
{
	ex_kw(x, key, v ? "true" : "false");
}

static void ex_kint(struct exporter *x, const char *key, int v)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%d", v);
	ex_kw(x, key, buf);
}

static void ex_kstrs(struct exporter *x, const char *key, char *const *v, size_t n)
{
	if (!n)
		return;
	ex_word(x, key);
	ex_seq_start(x);
	for (size_t i = 0; i < n; i++)
		ex_str(x, v[i]);
	ex_seq_end(x);
}

static const char *action_name(enum policy_action a)
{
	return a == ACTION_DENY ? "deny" : "allow";
}

static const char *baseline_name(enum policy_baseline b)
{
	return b == BASELINE_ZERO_DRIFT ? "zero-drift" : "basic";
}

static const char *behavior_name(enum file_behavior b)
{
	return b == FILE_BLOCK_ACCESS ? "block_access" : "monitor_change";
}

static bool group_reserved(const struct group *g)
{
	return g->kind == GROUP_CONTAINERS || g->kind == GROUP_NODES || g->kind == GROUP_EXTERNAL;
}

/* selector: {name, criteria}. Always with the criteria (a name alone is a
 * reference that needs a definition elsewhere, which the reader of one
 * exported document may not have); reserved groups take none. */
static void ex_selector(struct exporter *x, const struct group *g)
{
	ex_word(x, "selector");
	ex_map_start(x);
	ex_kv(x, "name", g->name);
	if (!group_reserved(g) && g->n_crit) {
		ex_word(x, "criteria");
		ex_seq_start(x);
		for (size_t i = 0; i < g->n_crit; i++) {
			const struct criterion *c = &g->crit[i];

			ex_map_start(x);
			ex_kv(x, "key", crit_key_name(c->key));
			ex_kv(x, "op", crit_op_name(c->op));
			/* as written: for a label the whole "k=v" */
			ex_kv(x, "value", c->value);
			ex_map_end(x);
		}
		ex_seq_end(x);
	}
	ex_map_end(x);
}

static bool net_wanted(const struct net_rule *r, size_t g, bool ingress, bool learned_only)
{
	return r->owner == g && r->ingress == ingress && (!learned_only || r->learned);
}

/* ingress / egress: the rules g declared, in evaluation order (p->net is
 * sorted by priority then load order, and the reader numbers them again in
 * document order, so the order within each list survives). */
static void ex_net(struct exporter *x, const struct policy *p, size_t g, bool ingress,
		   bool learned_only)
{
	size_t i;

	for (i = 0; i < p->n_net; i++)
		if (net_wanted(&p->net[i], g, ingress, learned_only))
			break;
	if (i == p->n_net)
		return;
	ex_word(x, ingress ? "ingress" : "egress");
	ex_seq_start(x);
	for (; i < p->n_net; i++) {
		const struct net_rule *r = &p->net[i];

		if (!net_wanted(r, g, ingress, learned_only))
			continue;
		ex_map_start(x);
		ex_kv(x, "name", r->name);
		ex_kw(x, "action", action_name(r->action));
		ex_kv(x, "ports", r->ports_spec ? r->ports_spec : "any");
		ex_kint(x, "priority", r->priority);
		ex_selector(x, &p->groups[ingress ? r->from : r->to]);
		ex_kstrs(x, "applications", r->apps, r->n_apps);
		ex_map_end(x);
	}
	ex_seq_end(x);
}

static void ex_procs(struct exporter *x, const struct group *g, bool learned_only)
{
	size_t i;

	for (i = 0; i < g->n_procs; i++)
		if (!learned_only || g->procs[i].learned)
			break;
	if (i == g->n_procs)
		return;
	ex_word(x, "process");
	ex_seq_start(x);
	for (; i < g->n_procs; i++) {
		const struct proc_rule *r = &g->procs[i];

		if (learned_only && !r->learned)
			continue;
		ex_map_start(x);
		ex_kv(x, "name", r->name);
		ex_kv(x, "path", r->path ? r->path : "");
		ex_kw(x, "action", action_name(r->action));
		ex_kbool(x, "allow_update", r->allow_update);
		ex_map_end(x);
	}
	ex_seq_end(x);
}

/* Learning adds apps to file rules but never makes one, so with
 * learned_only they are all written: the apps are what was learned. */
static void ex_files(struct exporter *x, const struct group *g)
{
	if (!g->n_files)
		return;
	ex_word(x, "file");
	ex_seq_start(x);
	for (size_t i = 0; i < g->n_files; i++) {
		const struct file_rule *r = &g->files[i];

		ex_map_start(x);
		ex_kv(x, "filter", r->filter.pattern);
		ex_kbool(x, "recursive", r->filter.recursive);
		ex_kw(x, "behavior", behavior_name(r->behavior));
		ex_kstrs(x, "app", r->apps, r->n_apps);
		ex_map_end(x);
	}
	ex_seq_end(x);
}

static void ex_document(struct exporter *x, const struct policy *p, size_t gi, bool learned_only)
{
	const struct group *g = &p->groups[gi];
	/* An empty namespace is no namespace: NvSecurityRule needs one. */
	bool ns = g->namespace && *g->namespace;
	yaml_event_t ev;
	int ok;

	ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	ex_emit(x, &ev, ok);
	/* explicit "---": the caller concatenates documents of many groups */
	ok = yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0);
	ex_emit(x, &ev, ok);
	ex_map_start(x);

	ex_kw(x, "apiVersion", "neuvector.com/v1");
	ex_kw(x, "kind", ns ? "NvSecurityRule" : "NvClusterSecurityRule");
	ex_word(x, "metadata");
	ex_map_start(x);
	ex_kv(x, "name", g->name);
	if (ns)
		ex_kv(x, "namespace", g->namespace);
	ex_map_end(x);

	ex_word(x, "spec");
	ex_map_start(x);
	ex_word(x, "target");
	ex_map_start(x);
	/* a learned profile is rules only: modes stay the user's, so that
	 * reloading it never conflicts with a mode changed since */
	if (!learned_only && g->net_mode != MODE_UNSET)
		ex_kw(x, "policymode", policy_mode_name(g->net_mode));
	ex_selector(x, g);
	ex_map_end(x);

	ex_net(x, p, gi, true, learned_only);
	ex_net(x, p, gi, false, learned_only);

	if (!learned_only && (g->baseline != BASELINE_UNSET || g->proc_mode != MODE_UNSET)) {
		ex_word(x, "process_profile");
		ex_map_start(x);
		if (g->baseline != BASELINE_UNSET)
			ex_kw(x, "baseline", baseline_name(g->baseline));
		if (g->proc_mode != MODE_UNSET)
			ex_kw(x, "mode", policy_mode_name(g->proc_mode));
		ex_map_end(x);
	}
	ex_procs(x, g, learned_only);
	ex_files(x, g);

	ex_map_end(x); /* spec */
	ex_map_end(x); /* document */
	ok = yaml_document_end_event_initialize(&ev, 1);
	ex_emit(x, &ev, ok);
	ok = yaml_stream_end_event_initialize(&ev);
	ex_emit(x, &ev, ok);
}

/* On error out may hold part of a document: callers that keep the result
 * write to a temporary file and rename it (ruleset.c). -EILSEQ: a string
 * (a learned process name or path) is not UTF-8, which YAML cannot hold. */
int policy__export_group(const struct policy *p, size_t g, bool learned_only, FILE *out)
{
	struct exporter x = {.err = 0};

	if (!p || !out || g >= p->n_groups)
		return -EINVAL;
	if (!yaml_emitter_initialize(&x.y))
		return -ENOMEM;
	yaml_emitter_set_output_file(&x.y, out);
	yaml_emitter_set_encoding(&x.y, YAML_UTF8_ENCODING);
	yaml_emitter_set_unicode(&x.y, 1); /* UTF-8 as is, not \u escapes */
	yaml_emitter_set_width(&x.y, -1);  /* never fold a long path */
	yaml_emitter_set_indent(&x.y, 2);

	ex_document(&x, p, g, learned_only);
	yaml_emitter_delete(&x.y);
	if (x.err)
		return x.err;
	/* libyaml fwrite()s into out's buffer; a full disk shows up here */
	if (fflush(out) == EOF)
		return errno ? -errno : -EIO;
	return 0;
}
