/* SPDX-License-Identifier: Apache-2.0 */
/* ruleset.h: which files make the active policy (the --rules paths, or the
 * built-in default rules), plus the learned profiles kept in the state
 * directory; atomic saving and export of learned profiles. */
#ifndef WACHT_RULESET_H
#define WACHT_RULESET_H

#include <stddef.h>

#include "policy.h"

struct ruleset_source {
	const char *const *paths;   /* NULL-terminated; NULL or empty: use the default */
	const char *default_name;   /* what diagnostics call the default rules */
	const char *default_yaml;   /* the built-in default rules */
	size_t default_len;
	const char *state_dir;      /* NULL: nothing learned is loaded */
};

/*
 * A finished policy from src: the rule files in order, then every
 * <state_dir>/learned/ *.yaml (rules there are marked learned). NULL when
 * anything is wrong; d says what, with file:line:column.
 */
struct policy *ruleset_load(const struct ruleset_source *src, struct diags *d);

/* <state_dir>/learned/<group>.yaml with what group g learned (export,
 * learned rules only), written to a temporary file, fsync'd and renamed:
 * a crash leaves the old file or the new one. Creates the directories.
 * 0 or -errno. */
int ruleset_save_learned(const struct policy *p, size_t g, const char *state_dir);

/* The file name a group's learned profile is kept under (characters other
 * than [A-Za-z0-9._-] become '_'), plus ".yaml". */
void ruleset_learned_name(const char *group, char *out, size_t size);

/* Writes each group with learned rules to out_dir/<group>.yaml. Returns the
 * number of files written or -errno. */
int ruleset_export_learned(const struct policy *p, const char *out_dir);

#endif
