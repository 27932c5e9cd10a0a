/* SPDX-License-Identifier: Apache-2.0 */
/* hash.h: FNV-1a, 64 bit: the hash of the hash tables, change detection
 * and merge keys. (The kernel's rule hashes are bpf/enforce.h's, computed
 * by enforce_compile.c: an ABI, kept apart.) */
#ifndef WACHT_HASH_H
#define WACHT_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_OFFSET 0xcbf29ce484222325ULL

/* h continued over n bytes at p (start with HASH_FNV_OFFSET). */
static inline uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* The same over a string's bytes (not its NUL). */
static inline uint64_t hash_fnv1a_str(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

#endif
