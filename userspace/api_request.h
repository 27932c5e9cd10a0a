/* SPDX-License-Identifier: Apache-2.0 */
/* api_request.h: what the API reads from a request (query parameters,
 * times, cursors, the ack body), apart from HTTP so that it can be fuzzed:
 * every byte of it comes from whoever connects. */
#ifndef WACHT_API_REQUEST_H
#define WACHT_API_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "store.h"

#define API_LIMIT_DEFAULT 100
#define API_LIMIT_MAX 1000
#define API_COMMENT_MAX 1024

/* "info" .. "critical" for 1 .. 5, "unknown" otherwise. */
const char *api_severity_name(int severity);
/* The severity (1 .. 5) named s (case-insensitive), or -1. */
int api_severity_parse(const char *s);

/* A time: RFC 3339 (2024-05-01T10:00:00Z; fractions and +hh:mm offsets
 * allowed, years from 1970) or a duration before now: digits and one of
 * s, m, h, d ("90s", "30m", "1h", "7d"). 0 or -EINVAL. */
int api_time_parse(const char *s, int64_t now, int64_t *out);
/* RFC 3339 UTC with nanoseconds, as the sensor writes times. */
void api_time_format(char *buf, size_t size, int64_t ns);

/* The opaque page cursor, "<last_seen>.<rowid>". parse: 0 or -EINVAL. */
int api_cursor_parse(const char *s, struct store_cursor *c);
void api_cursor_format(char *buf, size_t size, const struct store_cursor *c);

/* A string parameter: not empty, at most 253 bytes (a DNS name). */
bool api_param_ok(const char *v);

/* GET /api/v1/findings parameters, one at a time, into a filter. */
struct api_query {
	struct store_filter f;    /* strings borrowed from the request */
	struct store_cursor after;
	int64_t now;              /* for relative times; set by the caller */
	char err[300];            /* the first error, for the 400 answer */
};
/* 0, or -EINVAL with q->err saying what was wrong (unknown parameter, bad
 * value); after an error every call returns -EINVAL. value NULL: "". */
int api_query_param(struct api_query *q, const char *key, const char *value);

/* GET /api/v1/graph parameters. */
#define API_CIDRS_MAX 32
struct api_graph_query {
	enum graph_format format;     /* default json */
	enum graph_collapse collapse; /* default none */
	const char *namespace_;       /* borrowed from the request; NULL: all */
	int64_t since;                /* 0: all */
	/* cidr=C1,C2 (repeatable): copies, each a valid CIDR */
	char cidr_buf[1024];
	const char *cidrs[API_CIDRS_MAX];
	int n_cidrs;
	int64_t now;                  /* for relative times; set by the caller */
	char err[300];                /* the first error, naming the parameter */
};
/* One parameter (format, namespace, since, collapse, cidr) into q. 0, or
 * -EINVAL with q->err saying which parameter and what was wrong; after an
 * error every call returns -EINVAL. value NULL: "". */
int api_graph_param(struct api_graph_query *q, const char *key, const char *value);
/* Whether s is an IPv4 or IPv6 CIDR ("10.0.0.0/8", "2001:db8::/32"; a bare
 * address is not one): a prefix length within the family's bits and no
 * bits set beyond it. */
bool api_cidr_ok(const char *s);

/* The ack body: empty (or whitespace), or exactly {"comment": "..."}, the
 * comment a string of at most API_COMMENT_MAX bytes without NUL. NULL with
 * *comment (NULL when absent) for the caller to free, or what is wrong. */
const char *api_ack_body_parse(const char *body, size_t len, char **comment);

#endif /* WACHT_API_REQUEST_H */
