// SPDX-License-Identifier: Apache-2.0
/* netaddr.c: local addresses of a network namespace from /proc. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "netaddr.h"

static size_t add(struct entity_addr *out, size_t n, size_t max, uint8_t family, const uint8_t *a)
{
	size_t len = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < n; i++)
		if (out[i].family == family && memcmp(out[i].addr, a, len) == 0)
			return n;
	if (n == max)
		return n;
	memset(&out[n], 0, sizeof(out[n]));
	out[n].family = family;
	memcpy(out[n].addr, a, len);
	return n + 1;
}

size_t netaddr_parse_fib_trie(const char *text, struct entity_addr *out, size_t max)
{
	char last[INET_ADDRSTRLEN] = "";
	size_t n = 0;

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *leaf = memmem(line, len, "|-- ", 4);

		if (leaf) {
			size_t l = len - (leaf + 4 - line);
			if (l >= sizeof(last))
				l = sizeof(last) - 1;
			memcpy(last, leaf + 4, l);
			last[l] = 0;
			last[strcspn(last, " \t\r")] = 0;
		} else if (memmem(line, len, "/32 host LOCAL", 14) && last[0]) {
			uint8_t a[4];
			if (inet_pton(AF_INET, last, a) == 1 && a[0] != 127)
				n = add(out, n, max, AF_INET, a);
		}
	}
	return n;
}

size_t netaddr_parse_if_inet6(const char *text, struct entity_addr *out, size_t max)
{
	static const uint8_t lo[16] = { [15] = 1 };
	size_t n = 0;

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		uint8_t a[16];
		size_t i;

		for (i = 0; i < 16; i++) {
			unsigned v;
			if (sscanf(line + 2 * i, "%2x", &v) != 1 || !line[2 * i] || !line[2 * i + 1])
				break;
			a[i] = v;
		}
		if (i == 16 && line[32] == ' ' && memcmp(a, lo, 16) != 0)
			n = add(out, n, max, AF_INET6, a);
	}
	return n;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	size_t cap = 16384, n = 0;
	char *buf;

	if (!f)
		return NULL;
	buf = malloc(cap);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
		if (n + 1 == cap) {
			if (cap >= (4u << 20))
				break; /* a bound: a namespace with that many routes is not a pod */
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf)
		buf[n] = 0;
	return buf;
}

int netaddr_read(unsigned pid, struct entity_addr *out, size_t max)
{
	char path[64];
	size_t n = 0;
	bool any = false;
	char *t;

	snprintf(path, sizeof(path), pid ? "/proc/%u/net/fib_trie" : "/proc/self/net/fib_trie", pid);
	if ((t = slurp(path))) {
		n = netaddr_parse_fib_trie(t, out, max);
		free(t);
		any = true;
	}
	snprintf(path, sizeof(path), pid ? "/proc/%u/net/if_inet6" : "/proc/self/net/if_inet6", pid);
	if ((t = slurp(path))) {
		n += netaddr_parse_if_inet6(t, out + n, max - n);
		free(t);
		any = true;
	}
	return any ? (int)n : -ENOENT;
}
