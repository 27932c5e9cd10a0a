// SPDX-License-Identifier: Apache-2.0
/* endpoint.c: "HOST:PORT" parsing (see endpoint.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"

int endpoint_split(const char *s, char *host, size_t host_len, char *port, size_t port_len)
{
	const char *h = s, *colon, *p;
	size_t hl;
	char *end;
	long v;

	if (!s || !*s)
		return -EINVAL;
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		if (!hl)
			return -EINVAL;
		p = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL; /* none, or an IPv6 address without [] */
		hl = (size_t)(colon - s);
		p = colon + 1;
	}
	if (!*p || *p == '-' || *p == '+')
		return -EINVAL;
	v = strtol(p, &end, 10);
	if (*end || v < 1 || v > 65535)
		return -EINVAL;
	if (hl >= host_len || strlen(p) >= port_len)
		return -ENAMETOOLONG;
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, p);
	return 0;
}
