/* SPDX-License-Identifier: Apache-2.0 */
/* pathutil.h: lexical path helpers (normalise, join, prefix test). */
#ifndef WACHT_PATHUTIL_H
#define WACHT_PATHUTIL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Lexically normalise an absolute path: collapse "//", "." and ".." ("/.."
 * stays "/"); no trailing slash except for "/". Purely lexical: symlinks are
 * not followed, so "/a/link/.." becomes "/a" whatever link points to.
 * Returns the length written, -EINVAL if in is not absolute (or NULL),
 * -ENAMETOOLONG if the result does not fit in outsz. out is always
 * NUL-terminated when outsz > 0; on error it holds "" so that a cut path is
 * never mistaken for a real one. in and out must not overlap. Whether the
 * result fits is judged on the result alone: "/<5000 bytes>/.." fits in 2.
 */
int path_normalize(const char *in, char *out, size_t outsz);

/*
 * Resolve rel against the absolute directory dir (rel absolute -> dir
 * ignored and may be NULL; rel "" -> dir), then normalise. Same returns;
 * -EINVAL also when rel is NULL. Neither argument may overlap out.
 */
int path_join(const char *dir, const char *rel, char *out, size_t outsz);

/*
 * true when path equals prefix or lies under it component-wise ("/etc"
 * covers "/etc/passwd", not "/etcx"); a prefix ending in '/' is treated the
 * same as without, so "/" covers every absolute path. Lexical: pass
 * normalised paths ("/etc/../root" is "under" "/etc"). NULL or "" never
 * match.
 */
bool path_under(const char *path, const char *prefix);

#endif /* WACHT_PATHUTIL_H */
