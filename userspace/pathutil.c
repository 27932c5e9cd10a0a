// SPDX-License-Identifier: Apache-2.0
/* pathutil.c: lexical path helpers (normalise, join, prefix test). */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "pathutil.h"

/* A path given as up to two pieces joined by '/' (dir and rel): joining
 * without a copy means path_join needs no scratch buffer and no bound of
 * its own. */
struct path_seg {
	const char *s;
	size_t n;
};

/*
 * Components are walked from the last to the first, counting pending "..":
 * a name is kept only if no later ".." cancels it, and ".." left over at the
 * start fall off the root. Walking backwards needs no stack of components
 * (a path may have thousands), and a first pass gives the exact result
 * length, so "fits" is decided on the result and not on an intermediate.
 * Pass 1 (out == NULL) returns the length; pass 2 writes the kept components
 * right to left ending at out + len.
 */
static size_t path_walk(const struct path_seg *segs, int nseg, char *out,
			size_t len)
{
	size_t total = 0, skip = 0;

	for (int i = nseg - 1; i >= 0; i--) {
		const char *s = segs[i].s;
		size_t e = segs[i].n;

		while (e > 0) {
			size_t b, n;

			while (e > 0 && s[e - 1] == '/')
				e--;
			b = e;
			while (b > 0 && s[b - 1] != '/')
				b--;
			n = e - b;
			if (n == 0)
				break;
			if (n == 1 && s[b] == '.') {
				/* "." names the directory itself */
			} else if (n == 2 && s[b] == '.' && s[b + 1] == '.') {
				skip++;
			} else if (skip > 0) {
				skip--;
			} else {
				total += n + 1;
				if (out) {
					len -= n;
					memcpy(out + len, s + b, n);
					out[--len] = '/';
				}
			}
			e = b;
		}
	}
	return total;
}

static int path_build(const struct path_seg *segs, int nseg, char *out,
		      size_t outsz)
{
	size_t len = path_walk(segs, nseg, NULL, 0);

	if (len == 0)
		len = 1; /* the root: "/" */
	if (len >= outsz || len > INT_MAX) {
		if (outsz > 0)
			out[0] = '\0';
		return -ENAMETOOLONG;
	}
	out[0] = '/';
	path_walk(segs, nseg, out, len);
	out[len] = '\0';
	return (int)len;
}

int path_normalize(const char *in, char *out, size_t outsz)
{
	struct path_seg seg;

	if (!in || in[0] != '/') {
		if (outsz > 0)
			out[0] = '\0';
		return -EINVAL;
	}
	seg.s = in;
	seg.n = strlen(in);
	return path_build(&seg, 1, out, outsz);
}

int path_join(const char *dir, const char *rel, char *out, size_t outsz)
{
	struct path_seg segs[2];

	if (rel && rel[0] == '/')
		return path_normalize(rel, out, outsz);
	if (!rel || !dir || dir[0] != '/') {
		if (outsz > 0)
			out[0] = '\0';
		return -EINVAL;
	}
	segs[0].s = dir;
	segs[0].n = strlen(dir);
	segs[1].s = rel;
	segs[1].n = strlen(rel);
	return path_build(segs, 2, out, outsz);
}

bool path_under(const char *path, const char *prefix)
{
	size_t n;

	if (!path || !prefix || prefix[0] == '\0')
		return false;
	n = strlen(prefix);
	while (n > 0 && prefix[n - 1] == '/')
		n--;
	/* n == 0: prefix was all slashes, the root, which covers any
	 * absolute path. */
	if (n == 0)
		return path[0] == '/';
	if (strncmp(path, prefix, n) != 0)
		return false;
	return path[n] == '\0' || path[n] == '/';
}
