// SPDX-License-Identifier: Apache-2.0
/* api_request.c: parsing what a request to the API carries (see
 * api_request.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "api_request.h"

#define SEC 1000000000LL

static const char *const severity_names[] = { "", "info", "low", "medium", "high", "critical" };

const char *api_severity_name(int severity)
{
	return severity > 0 && severity < 6 ? severity_names[severity] : "unknown";
}

int api_severity_parse(const char *s)
{
	for (int i = 1; i < (int)(sizeof(severity_names) / sizeof(severity_names[0])); i++)
		if (!strcasecmp(s, severity_names[i]))
			return i;
	return -1;
}

/* n digits as a number; -1 if not all digits. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM). */
static int rfc3339_parse(const char *s, int64_t *out)
{
	int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0;
	int64_t frac = 0, scale = SEC / 10;
	struct tm tm = {0};
	time_t t;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -EINVAL;
	Y = digits(s, 4);
	M = digits(s + 5, 2);
	D = digits(s + 8, 2);
	h = digits(s + 11, 2);
	m = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || m < 0 ||
	    m > 59 || sec < 0 || sec > 60)
		return -EINVAL;
	s += 19;
	if (*s == '.') {
		if (s[1] < '0' || s[1] > '9')
			return -EINVAL;
		for (s++; *s >= '0' && *s <= '9'; s++) {
			frac += (*s - '0') * scale;
			scale /= 10;
		}
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '+' ? 1 : -1;
		if (strlen(s) != 6 || s[3] != ':' || (oh = digits(s + 1, 2)) < 0 || (om = digits(s + 4, 2)) < 0 ||
		    oh > 23 || om > 59)
			return -EINVAL;
		s += 6;
	} else {
		return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm normalises (Feb 31 -> Mar 3): a date that moved was not one */
	if (t == (time_t)-1 || tm.tm_mday != D || tm.tm_mon != M - 1)
		return -EINVAL;
	t -= sign * (oh * 3600 + om * 60);
	/* nanoseconds since 1970 in 64 bits end in 2262 */
	if (t < 0 || t >= INT64_MAX / SEC)
		return -EINVAL;
	*out = (int64_t)t * SEC + frac;
	return 0;
}

/* A time: RFC 3339, or relative to now ("90s", "30m", "1h", "7d"). */
int api_time_parse(const char *s, int64_t now, int64_t *out)
{
	char *end;
	long long n;
	int64_t unit;

	if (*s >= '0' && *s <= '9' && strlen(s) < 12) {
		errno = 0;
		n = strtoll(s, &end, 10);
		if (!errno && end != s && end[0] && !end[1]) {
			switch (*end) {
			case 's': unit = SEC; break;
			case 'm': unit = 60 * SEC; break;
			case 'h': unit = 3600 * SEC; break;
			case 'd': unit = 86400 * SEC; break;
			default: return -EINVAL;
			}
			if (n > INT64_MAX / unit)
				return -EINVAL;
			*out = now - n * unit;
			return 0;
		}
	}
	return rfc3339_parse(s, out);
}

void api_time_format(char *buf, size_t size, int64_t ns)
{
	int64_t sec = ns / SEC, nsec = ns % SEC;
	time_t t;
	struct tm tm;

	if (nsec < 0) {
		nsec += SEC;
		sec--;
	}
	t = (time_t)sec;
	buf[0] = 0;
	if (gmtime_r(&t, &tm))
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (long long)nsec);
}

/* The opaque cursor: "<last_seen>.<rowid>" (decimal). */
int api_cursor_parse(const char *s, struct store_cursor *c)
{
	char *end;

	errno = 0;
	c->last_seen = strtoll(s, &end, 10);
	if (errno || end == s || *end != '.' || c->last_seen < 0)
		return -EINVAL;
	s = end + 1;
	c->rowid = strtoll(s, &end, 10);
	if (errno || end == s || *end || c->rowid <= 0)
		return -EINVAL;
	return 0;
}

void api_cursor_format(char *buf, size_t size, const struct store_cursor *c)
{
	snprintf(buf, size, "%" PRId64 ".%" PRId64, c->last_seen, c->rowid);
}

bool api_param_ok(const char *v)
{
	return v && v[0] && strlen(v) <= 253;
}

int api_query_param(struct api_query *p, const char *key, const char *v)
{
	long long n;
	char *end;

	if (p->err[0])
		return -EINVAL;
	if (!v)
		v = "";
	if (!strcmp(key, "since") || !strcmp(key, "until")) {
		int64_t t;

		if (api_time_parse(v, p->now, &t) < 0 || t <= 0) {
			snprintf(p->err, sizeof(p->err),
				 "bad %s \"%.64s\": expected RFC 3339 (2024-05-01T10:00:00Z) or"
				 " a duration ago (90s, 30m, 1h, 7d)", key, v);
			return -EINVAL;
		}
		if (key[0] == 's')
			p->f.since = t;
		else
			p->f.until = t;
	} else if (!strcmp(key, "severity")) {
		p->f.min_severity = api_severity_parse(v);
		if (p->f.min_severity < 0)
			snprintf(p->err, sizeof(p->err),
				 "bad severity \"%.64s\": expected info, low, medium, high or"
				 " critical", v);
	} else if (!strcmp(key, "namespace") || !strcmp(key, "pod") || !strcmp(key, "name") ||
		   !strcmp(key, "node")) {
		if (!api_param_ok(v))
			snprintf(p->err, sizeof(p->err), "bad %s: empty or too long", key);
		else if (!strcmp(key, "namespace"))
			p->f.namespace_ = v;
		else if (!strcmp(key, "pod"))
			p->f.pod = v;
		else if (!strcmp(key, "name"))
			p->f.name = v;
		else
			p->f.node = v;
	} else if (!strcmp(key, "acknowledged")) {
		if (!strcmp(v, "true"))
			p->f.ack = STORE_ACK_YES;
		else if (!strcmp(v, "false"))
			p->f.ack = STORE_ACK_NO;
		else
			snprintf(p->err, sizeof(p->err),
				 "bad acknowledged \"%.64s\": expected true or false", v);
	} else if (!strcmp(key, "limit")) {
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno || end == v || *end || n < 1 || n > API_LIMIT_MAX)
			snprintf(p->err, sizeof(p->err), "bad limit \"%.64s\": expected 1 to %d",
				 v, API_LIMIT_MAX);
		else
			p->f.limit = (size_t)n;
	} else if (!strcmp(key, "cursor")) {
		if (api_cursor_parse(v, &p->after) < 0)
			snprintf(p->err, sizeof(p->err),
				 "bad cursor \"%.64s\": use the \"next\" of the previous page", v);
		else
			p->f.after = &p->after;
	} else {
		snprintf(p->err, sizeof(p->err),
			 "unknown parameter \"%.64s\" (since, until, severity, namespace, pod,"
			 " name, node, acknowledged, limit, cursor)", key);
	}
	return p->err[0] ? -EINVAL : 0;
}

bool api_cidr_ok(const char *s)
{
	/* "10.1.2.3/8" names a host, not a network: a typo more likely than
	 * what was meant */
	return graph_cidr_is_network(s);
}

static int graph_cidrs(struct api_graph_query *q, const char *v)
{
	size_t used = 0, n = strlen(v);
	char *p, *tok, *save = NULL;

	for (int i = 0; i < q->n_cidrs; i++)
		used += strlen(q->cidrs[i]) + 1;
	if (!n || used + n + 1 > sizeof(q->cidr_buf)) {
		snprintf(q->err, sizeof(q->err), "bad cidr: %s", n ? "the list is too long"
								    : "empty");
		return -EINVAL;
	}
	p = q->cidr_buf + used;
	memcpy(p, v, n + 1);
	for (tok = strtok_r(p, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (q->n_cidrs == API_CIDRS_MAX) {
			snprintf(q->err, sizeof(q->err), "bad cidr: more than %d networks",
				 API_CIDRS_MAX);
			return -EINVAL;
		}
		if (!api_cidr_ok(tok)) {
			snprintf(q->err, sizeof(q->err),
				 "bad cidr \"%.64s\": expected a network such as 10.0.0.0/8 or"
				 " 2001:db8::/32 (comma-separated)", tok);
			return -EINVAL;
		}
		q->cidrs[q->n_cidrs++] = tok;
	}
	/* ",," or a trailing comma: an empty item */
	if (strstr(v, ",,") || v[0] == ',' || v[n - 1] == ',') {
		snprintf(q->err, sizeof(q->err), "bad cidr \"%.64s\": an empty item", v);
		return -EINVAL;
	}
	return 0;
}

int api_graph_param(struct api_graph_query *q, const char *key, const char *v)
{
	if (q->err[0])
		return -EINVAL;
	if (!v)
		v = "";
	if (!strcmp(key, "format")) {
		if (graph_format_parse(v, &q->format))
			snprintf(q->err, sizeof(q->err),
				 "bad format \"%.64s\": expected json, dot or graphml", v);
	} else if (!strcmp(key, "collapse")) {
		if (graph_collapse_parse(v, &q->collapse))
			snprintf(q->err, sizeof(q->err),
				 "bad collapse \"%.64s\": expected none, pod, group or namespace", v);
	} else if (!strcmp(key, "namespace")) {
		if (!api_param_ok(v))
			snprintf(q->err, sizeof(q->err), "bad namespace: empty or too long");
		else
			q->namespace_ = v;
	} else if (!strcmp(key, "since")) {
		int64_t t;

		if (api_time_parse(v, q->now, &t) < 0 || t <= 0)
			snprintf(q->err, sizeof(q->err),
				 "bad since \"%.64s\": expected RFC 3339 (2024-05-01T10:00:00Z) or"
				 " a duration ago (90s, 30m, 1h, 7d)", v);
		else
			q->since = t;
	} else if (!strcmp(key, "cidr")) {
		graph_cidrs(q, v);
	} else {
		snprintf(q->err, sizeof(q->err),
			 "unknown parameter \"%.64s\" (format, namespace, since, collapse, cidr)",
			 key);
	}
	return q->err[0] ? -EINVAL : 0;
}

/* Whether the n bytes at p are all JSON whitespace. */
static bool only_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\r\n", p[i]) || !p[i])
			return false;
	return true;
}

const char *api_ack_body_parse(const char *body, size_t len, char **comment)
{
	struct json_tokener *tk;
	struct json_object *o, *v;
	const char *why = NULL;
	size_t end;

	*comment = NULL;
	if (len == 0 || only_space(body, len))
		return NULL;
	if (len > INT32_MAX)
		return "body too large";
	tk = json_tokener_new();
	if (!tk)
		return "out of memory";
	o = json_tokener_parse_ex(tk, body, (int)len);
	end = o ? json_tokener_get_parse_end(tk) : 0;
	/* one value, then nothing but whitespace (the length counts, not a
	 * NUL: "{}\0{}" is not one object) */
	if (!o || json_tokener_get_error(tk) != json_tokener_success || end > len ||
	    !only_space(body + end, len - end)) {
		why = "body is not JSON: expected {\"comment\": \"...\"}";
		goto out;
	}
	if (!json_object_is_type(o, json_type_object)) {
		why = "body must be a JSON object: {\"comment\": \"...\"}";
		goto out;
	}
	json_object_object_foreach(o, key, val) {
		(void)val;
		if (strcmp(key, "comment")) {
			why = "unknown member in body (only \"comment\")";
			goto out;
		}
	}
	if (json_object_object_get_ex(o, "comment", &v)) {
		if (!json_object_is_type(v, json_type_string)) {
			why = "\"comment\" must be a string";
			goto out;
		}
		if (json_object_get_string_len(v) > API_COMMENT_MAX) {
			why = "\"comment\" is longer than 1024 bytes";
			goto out;
		}
		if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
			why = "\"comment\" contains a NUL character";
			goto out;
		}
		*comment = strdup(json_object_get_string(v));
		if (!*comment)
			why = "out of memory";
	}
out:
	json_object_put(o);
	json_tokener_free(tk);
	return why;
}

