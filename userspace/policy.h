/* SPDX-License-Identifier: Apache-2.0 */
/* policy.h: the rule model in memory (NeuVector NvSecurityRule /
 * NvClusterSecurityRule), its loader with file:line:column diagnostics, and
 * the mutations learning makes. */
#ifndef WACHT_POLICY_H
#define WACHT_POLICY_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "match.h"

/* ---- diagnostics: what a person reads when a rule file is wrong */
struct diag {
	bool error;        /* false: warning */
	char *file;        /* owned */
	unsigned line, col;/* 1-based; 0 when not known */
	char *msg;         /* owned, no trailing newline */
};
struct diags {
	struct diag *v;
	size_t n, cap;
	size_t n_errors, n_warnings;
};
void diags__add(struct diags *d, bool error, const char *file, unsigned line, unsigned col,
		const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* One line each: "FILE:LINE:COL: error: MSG" (or "warning:"). */
void diags__print(const struct diags *d, FILE *out);
void diags__free(struct diags *d); /* leaves d empty and reusable */

/* ---- the model */
struct src_pos {
	const char *file; /* interned in the policy (policy->files), NULL for learned rules */
	unsigned line, col;
};

enum policy_mode { MODE_UNSET = 0, MODE_DISCOVER, MODE_MONITOR, MODE_PROTECT };
enum policy_baseline { BASELINE_UNSET = 0, BASELINE_BASIC, BASELINE_ZERO_DRIFT };
enum policy_action { ACTION_ALLOW = 1, ACTION_DENY };
enum file_behavior { FILE_MONITOR_CHANGE = 1, FILE_BLOCK_ACCESS };
enum group_kind {
	GROUP_CONTAINERS = 1, /* reserved: every container */
	GROUP_NODES,          /* reserved: every host (node) */
	GROUP_EXTERNAL,       /* reserved: every peer that is neither */
	GROUP_CUSTOM,         /* any other name */
	GROUP_LEARNED,        /* a name starting "nv." (NeuVector's learned/service groups) */
};
/* The reserved groups always exist, at these indexes. */
#define POLICY_G_CONTAINERS 0
#define POLICY_G_NODES 1
#define POLICY_G_EXTERNAL 2

/* "Discover" / "Monitor" / "Protect" ("" for unset), and the reverse
 * (case-insensitive; "N/A" -> MODE_UNSET with 0; -EINVAL if unknown). */
const char *policy_mode_name(enum policy_mode m);
int policy_mode_parse(const char *s, enum policy_mode *out);

struct proc_rule {
	char *name;        /* owned; "*" = any */
	char *path;        /* owned; "*" = any, "DIR/ *" (no space), or exact */
	enum policy_action action;
	bool allow_update; /* zero-drift: a modified binary is still allowed */
	bool learned;      /* added by learning, not from a rule file */
	struct src_pos pos;
};

struct file_rule {
	struct file_filter filter;
	enum file_behavior behavior;
	char **apps;       /* owned; process names allowed to access (block_access) */
	size_t n_apps;
	struct src_pos pos;
};

struct net_rule {
	char *name;        /* owned */
	enum policy_action action;
	int priority;      /* lower first */
	size_t order;      /* load order, the tie-break */
	size_t from, to;   /* group indexes: client group -> server group */
	size_t owner;      /* group whose document declared it */
	bool ingress;      /* declared under ingress (owner == to) or egress (owner == from) */
	char *ports_spec;  /* owned, as written ("any" when absent) */
	struct port_range *ports; /* owned */
	size_t n_ports;
	char **apps;       /* owned: "applications", kept and exported, not enforced */
	size_t n_apps;
	bool learned;
	struct src_pos pos;
};

struct group {
	char *name;        /* owned */
	enum group_kind kind;
	char *namespace;   /* owned: metadata.namespace of the NvSecurityRule that
			    * targets it, NULL for NvClusterSecurityRule / never targeted */
	struct criterion *crit; /* owned */
	struct src_pos *crit_pos;
	size_t n_crit;
	bool defined;      /* criteria given somewhere (or reserved, or learned by the sensor) */
	enum policy_mode net_mode;   /* spec.target.policymode */
	enum policy_mode proc_mode;  /* spec.process_profile.mode (process and file) */
	enum policy_baseline baseline;
	struct proc_rule *procs;
	size_t n_procs;
	struct file_rule *files;
	size_t n_files;
	struct src_pos pos; /* first mention */
};

struct policy {
	struct group *groups; /* [0..2] the reserved ones */
	size_t n_groups;
	struct net_rule *net; /* sorted by (priority, order) once finished */
	size_t n_net;
	char **files;         /* interned source file names */
	size_t n_files;
	size_t next_order;
	bool load_learned;    /* set while loading learned profiles: process and
			       * network rules read are marked learned, file rules
			       * merge into an equal one (same filter, recursive,
			       * behavior) of the group by adding their apps */
	void *priv;           /* loader state (pending references, doc names) */
};

/*
 * Loading. A policy is built by any number of load calls, then finished:
 *
 *   struct policy *p = policy__new();
 *   policy__load_path(p, "rules/", &d);     // file, or directory: *.yaml
 *   policy__load_path(p, "more.yaml", &d);  // and *.yml in name order
 *   if (policy__finish(p, &d) < 0) ...       // d says why, file:line:col
 *
 * A document is `apiVersion: neuvector.com/v1`, `kind: NvSecurityRule` or
 * `NvClusterSecurityRule`, `metadata: {name, namespace}` (namespace for
 * NvSecurityRule only), and `spec`:
 *   target: {policymode, selector: {name, criteria: [{key, op, value}]}}
 *   ingress / egress: [{name, action, ports, priority, selector, applications}]
 *   process_profile: {baseline, mode}
 *   process: [{name, path, action, allow_update}]
 *   file: [{filter, recursive, behavior, app: [..]}]
 * Multi-document YAML; an empty document is skipped. The group named by
 * target.selector.name is the target; a selector with criteria defines (or
 * repeats, identically) the group it names; one with only a name refers to
 * a group defined elsewhere (any file, any order) or reserved. A target
 * selector naming a reserved group takes no criteria. Documents that target
 * the same group add to it in load order; a mode or baseline given twice
 * with different values is an error naming both places.
 *
 * Errors (each a diag with file:line:column, loading continues to find
 * more; the document in error adds nothing): YAML syntax, wrong type (a map
 * where a list is expected, ...), missing required field (metadata.name,
 * target.selector.name, rule name/action, process name, file filter),
 * unknown enum value (kind, apiVersion, policymode, action, behavior,
 * baseline, criteria key/op), bad ports, bad regex, bad address/CIDR/range,
 * bad file filter, duplicate document (kind+namespace+name), duplicate
 * network rule name within one group, group redefined with other criteria,
 * reference to a group never defined, address criteria in a group that
 * also has container criteria. Unknown fields are warnings naming the field
 * (dlp and waf: "not supported, ignored"); `status` and any metadata field
 * other than name/namespace are ignored silently, as Kubernetes adds them.
 */
struct policy *policy__new(void); /* NULL on ENOMEM; free with policy__free */
void policy__free(struct policy *p); /* accepts NULL */
/* 0, -EINVAL (errors in d), or -errno for a file that cannot be read (also
 * in d). A directory is read non-recursively, *.yaml and *.yml, sorted. */
int policy__load_path(struct policy *p, const char *path, struct diags *d);
/* name is what diagnostics call the buffer; buf need not be NUL-terminated. */
int policy__load_buffer(struct policy *p, const char *name, const char *buf, size_t len,
			struct diags *d);
/* Resolves references and sorts network rules. 0, or -EINVAL if d holds any
 * error from loading or resolution. A policy that failed must not be used. */
int policy__finish(struct policy *p, struct diags *d);

/* Index of the group, or -1. */
long policy__group_find(const struct policy *p, const char *name);

/*
 * Learning (on a finished policy). Each returns the new element's index or
 * a negative errno. Indexes of existing groups and rules stay valid; the
 * arrays may move, so keep indexes, not pointers.
 *
 * group_learned: the group `nv.<service>.<namespace>` for a container,
 * created (kind GROUP_LEARNED, defined, criteria service=<service> and, if
 * namespace is not "", namespace=<namespace>, namespace field set) unless a
 * group of that name exists, whose index is returned.
 * proc_add: appends {name, path, allow, learned} to group g.
 * file_app_add: adds app to file rule r of group g if not there; 0 or 1
 * (added).
 * net_add: a learned allow rule from -> to for proto/port, owned by owner
 * (ingress = owner is to), named "learned-<n>", priority 0, inserted so the
 * list stays sorted (after every rule of equal priority).
 */
long policy__group_learned(struct policy *p, const char *service, const char *namespace);
long policy__proc_add(struct policy *p, size_t g, const char *name, const char *path);
int policy__file_app_add(struct policy *p, size_t g, size_t r, const char *app);
long policy__net_add(struct policy *p, size_t from, size_t to, size_t owner, uint8_t proto,
		     uint16_t port);

/*
 * Export group g as one YAML document (NvSecurityRule with its namespace,
 * or NvClusterSecurityRule without), that policy__load_buffer reads back
 * to the same group: target (selector with criteria; policymode if set),
 * process_profile (if baseline or mode set), process and file rules, and
 * the network rules g owns as ingress/egress with their peer selectors
 * (name and criteria). learned_only: only rules marked learned (file rules
 * with their apps are always written), and no policymode/process_profile:
 * a learned profile never overrides the modes of the rule files. Written to
 * out starting with "---". 0 or -errno (ENOMEM, EIO, EILSEQ for a string
 * that is not UTF-8, which YAML cannot hold).
 */
int policy__export_group(const struct policy *p, size_t g, bool learned_only, FILE *out);

#endif /* WACHT_POLICY_H */
