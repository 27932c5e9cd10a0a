/* SPDX-License-Identifier: Apache-2.0 */
/* learned.h: the learned profiles of many sensors merged into one
 * NvSecurityRule per group (a group spans nodes; each node learns part). */
#ifndef WACHT_LEARNED_H
#define WACHT_LEARNED_H

#include <stddef.h>
#include <stdio.h>

#include "policy.h"

/*
 *   struct learned_merge *m = learned_merge__new();
 *   learned_merge__add(m, "node-a", yaml_a, len_a, &d);  // any number
 *   learned_merge__add(m, "node-b", yaml_b, len_b, &d);
 *   learned_merge__export(m, stdout);
 *   learned_merge__free(m);
 *
 * The merge is the union of the rules: a process rule (name, path, action,
 * allow_update) or a network rule (owner, direction, peer, action, ports)
 * that several nodes learned is kept once; file rules equal in filter,
 * recursion and behavior are kept once with the union of their apps (the
 * loader's learned-profile semantics). Network rules are named by each
 * sensor ("learned-<n>") independently, so a different rule under a name
 * already taken is renamed to the next free "learned-<n>" of its group.
 */
struct learned_merge;
/* NULL on ENOMEM. Free with learned_merge__free. */
struct learned_merge *learned_merge__new(void);
void learned_merge__free(struct learned_merge *m); /* accepts NULL */

/*
 * Adds one node's profile (YAML as `wacht-sensor --export-learned` writes,
 * any number of documents). Diagnostics are called "NODE:learned" and go to
 * d. A profile with errors (syntax, or a group whose criteria differ from
 * another node's definition) adds nothing: 0 when added, -EINVAL when it was
 * refused (d says why; the merge goes on without it), -ENOMEM.
 */
int learned_merge__add(struct learned_merge *m, const char *node, const char *yaml, size_t len,
		       struct diags *d);

/* Writes every group that has learned rules, in group name order, each an
 * NvSecurityRule (or NvClusterSecurityRule) document starting with "---"
 * (nothing at all when nothing was learned). Once exported, no more adds.
 * Returns the number of groups written, or -errno (-EINVAL: the merged
 * policy did not resolve, d says why). */
int learned_merge__export(struct learned_merge *m, FILE *out, struct diags *d);

#endif /* WACHT_LEARNED_H */
