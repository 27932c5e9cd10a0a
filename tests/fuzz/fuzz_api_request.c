// SPDX-License-Identifier: Apache-2.0
/* fuzz_api_request.c: libFuzzer target for what the API parses from any
 * client: query parameters (times, cursors, severities, limits) and the ack
 * body; the graph's parameters (format, collapse, cidr lists). Input: the
 * body up to the first '\n', then "key=value" lines, each given to both
 * parameter parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct api_query q = { .now = 1768471200LL * 1000000000LL };
	struct api_graph_query gq = { .now = 1768471200LL * 1000000000LL };
	char *comment = NULL, *line, *eq, buf[64];
	const char *why;
	struct store_cursor c;
	int64_t t, t2;

	nl = memchr(p, '\n', size);
	why = api_ack_body_parse(p, nl ? (size_t)(nl - p) : size, &comment);
	/* an accepted body gives at most a bounded comment without NUL */
	if (why && comment)
		abort();
	if (comment && strlen(comment) > API_COMMENT_MAX)
		abort();
	free(comment);
	p = nl ? nl + 1 : end;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		line = strndup(p, nl ? (size_t)(nl - p) : (size_t)(end - p));
		p = nl ? nl + 1 : end;
		if (!line)
			return 0;
		eq = strchr(line, '=');
		if (eq)
			*eq = 0;
		if (api_query_param(&q, line, eq ? eq + 1 : NULL) == 0 && q.err[0])
			abort();
		if (api_graph_param(&gq, line, eq ? eq + 1 : NULL) == 0 && gq.err[0])
			abort();
		/* what parses formats back to itself */
		if (eq && api_time_parse(eq + 1, q.now, &t) == 0 && t > 0) {
			api_time_format(buf, sizeof(buf), t);
			if (api_time_parse(buf, 0, &t2) || t2 != t)
				abort();
		}
		if (eq && api_cursor_parse(eq + 1, &c) == 0) {
			struct store_cursor c2;

			api_cursor_format(buf, sizeof(buf), &c);
			if (api_cursor_parse(buf, &c2) || c2.last_seen != c.last_seen ||
			    c2.rowid != c.rowid)
				abort();
		}
		free(line);
	}
	if (q.err[0] && api_query_param(&q, "limit", "1") == 0)
		abort();
	if (q.f.limit > API_LIMIT_MAX)
		abort();
	/* every accepted network is one, within the buffer */
	if (gq.n_cidrs < 0 || gq.n_cidrs > API_CIDRS_MAX)
		abort();
	for (int i = 0; i < gq.n_cidrs; i++)
		if (!api_cidr_ok(gq.cidrs[i]) || gq.cidrs[i] < gq.cidr_buf ||
		    gq.cidrs[i] >= gq.cidr_buf + sizeof(gq.cidr_buf))
			abort();
	if ((unsigned)gq.format > GRAPH_FORMAT_GRAPHML ||
	    (unsigned)gq.collapse > GRAPH_COLLAPSE_NAMESPACE)
		abort();
	return 0;
}
