// SPDX-License-Identifier: Apache-2.0
/* match.c: the matching primitives of the rule model: parsers run once at
 * load, matchers run on every event and never allocate. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "match.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Narrows [*b, *e) of s to its non-space bytes. */
static void trim(const char *s, size_t *b, size_t *e)
{
	while (*b < *e && is_space(s[*b]))
		(*b)++;
	while (*e > *b && is_space(s[*e - 1]))
		(*e)--;
}

static bool word_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* ---- ports */

/* A decimal port in s[0..n): digits only (no sign, no space). */
static int port_parse_num(const char *s, size_t n, uint16_t *out, const char **why)
{
	uint32_t v = 0;

	if (n == 0) {
		*why = "port is not a number";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			*why = "port is not a number";
			return -EINVAL;
		}
		/* saturate: a 30-digit port must say "above 65535", not wrap */
		if (v <= 65535)
			v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > 65535) {
		*why = "port above 65535";
		return -EINVAL;
	}
	*out = (uint16_t)v;
	return 0;
}

/* One trimmed, non-empty item s[0..n). */
static int port_parse_item(const char *s, size_t n, struct port_range *r, const char **why)
{
	const char *slash = memchr(s, '/', n);
	size_t pn = slash ? (size_t)(slash - s) : n;
	const char *p, *dash;
	size_t rest;
	int err;

	r->lo = 0;
	r->hi = 65535;
	if (word_is(s, pn, "any") || word_is(s, pn, "icmp")) {
		r->proto = word_is(s, pn, "any") ? PORT_PROTO_ANY : IPPROTO_ICMP;
		if (slash) {
			*why = "icmp and any take no port";
			return -EINVAL;
		}
		return 0;
	}
	if (word_is(s, pn, "tcp"))
		r->proto = IPPROTO_TCP;
	else if (word_is(s, pn, "udp"))
		r->proto = IPPROTO_UDP;
	else {
		*why = "unknown protocol (expected tcp/PORT, udp/PORT, icmp or any)";
		return -EINVAL;
	}
	if (!slash) {
		*why = "tcp and udp need a port (tcp/80, tcp/8000-8080 or tcp/any)";
		return -EINVAL;
	}
	p = slash + 1;
	rest = n - pn - 1;
	if (word_is(p, rest, "any"))
		return 0;
	dash = memchr(p, '-', rest);
	if (!dash) {
		err = port_parse_num(p, rest, &r->lo, why);
		r->hi = r->lo;
		return err;
	}
	err = port_parse_num(p, (size_t)(dash - p), &r->lo, why);
	if (err)
		return err;
	err = port_parse_num(dash + 1, rest - (size_t)(dash - p) - 1, &r->hi, why);
	if (err)
		return err;
	if (r->lo > r->hi) {
		*why = "port range has its low end above its high end";
		return -EINVAL;
	}
	return 0;
}

int ports_parse(const char *spec, struct port_range **out, size_t *n, size_t *err_off,
		const char **why)
{
	struct port_range *v;
	size_t len, cap = 1, cnt = 0, pos = 0;

	*out = NULL;
	*n = 0;
	*err_off = 0;
	if (!spec) {
		*why = "empty port list";
		return -EINVAL;
	}
	len = strlen(spec);
	{
		size_t b = 0, e = len;

		trim(spec, &b, &e);
		if (b == e) {
			*why = "empty port list";
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < len; i++)
		cap += spec[i] == ',';
	v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (;;) {
		const char *comma = strchr(spec + pos, ',');
		size_t end = comma ? (size_t)(comma - spec) : len;
		size_t b = pos, e = end;
		int err;

		trim(spec, &b, &e);
		*err_off = b;
		if (b == e) {
			*why = "empty item in port list";
			free(v);
			return -EINVAL;
		}
		err = port_parse_item(spec + b, e - b, &v[cnt], why);
		if (err) {
			free(v);
			return err;
		}
		cnt++;
		if (!comma)
			break;
		pos = end + 1;
	}
	*err_off = 0;
	*out = v;
	*n = cnt;
	return 0;
}

bool ports_match(const struct port_range *r, size_t n, uint8_t proto, uint16_t port)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i].proto == PORT_PROTO_ANY)
			return true;
		if (r[i].proto == proto && port >= r[i].lo && port <= r[i].hi)
			return true;
	}
	return false;
}

/* ---- addresses */

static const char *const addr_bad = "bad address (expected an IPv4 or IPv6 address, "
				    "a CIDR like 10.0.0.0/8, or a range like 10.0.0.1-10.0.0.9)";

/* One address s[b..e) (trimmed here) into family and bytes[16]. */
static int addr_parse_one(const char *s, size_t b, size_t e, uint8_t *family, uint8_t *bytes)
{
	char buf[INET6_ADDRSTRLEN + 1];

	trim(s, &b, &e);
	if (b == e || e - b >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s + b, e - b);
	buf[e - b] = '\0';
	memset(bytes, 0, 16);
	if (inet_pton(AF_INET, buf, bytes) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, bytes) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static size_t addr_len(uint8_t family)
{
	return family == AF_INET ? 4 : 16;
}

static int addr_range_parse_into(const char *s, struct addr_range *out, const char **why)
{
	size_t b = 0, e, sep;
	const char *p;

	memset(out, 0, sizeof(*out));
	if (!s) {
		*why = "empty address";
		return -EINVAL;
	}
	e = strlen(s);
	trim(s, &b, &e);
	if (b == e) {
		*why = "empty address";
		return -EINVAL;
	}
	if ((p = memchr(s + b, '/', e - b))) {
		size_t pb, pe, alen;
		unsigned plen = 0;

		sep = (size_t)(p - s);
		if (addr_parse_one(s, b, sep, &out->family, out->lo)) {
			*why = addr_bad;
			return -EINVAL;
		}
		pb = sep + 1;
		pe = e;
		trim(s, &pb, &pe);
		if (pb == pe || pe - pb > 3) {
			*why = "bad prefix length (expected ADDRESS/BITS)";
			return -EINVAL;
		}
		for (size_t i = pb; i < pe; i++) {
			if (s[i] < '0' || s[i] > '9') {
				*why = "bad prefix length (expected ADDRESS/BITS)";
				return -EINVAL;
			}
			plen = plen * 10 + (unsigned)(s[i] - '0');
		}
		alen = addr_len(out->family);
		if (plen > alen * 8) {
			*why = "prefix length beyond the address family (at most 32 for IPv4, "
			       "128 for IPv6)";
			return -EINVAL;
		}
		memcpy(out->hi, out->lo, alen);
		for (size_t i = 0; i < alen; i++) {
			unsigned keep = plen >= (i + 1) * 8 ? 8 : plen > i * 8 ? plen - i * 8 : 0;
			uint8_t mask = (uint8_t)(0xff00u >> keep);

			out->lo[i] &= mask;
			out->hi[i] |= (uint8_t)~mask;
		}
		return 0;
	}
	if ((p = memchr(s + b, '-', e - b))) {
		uint8_t hif;

		sep = (size_t)(p - s);
		if (addr_parse_one(s, b, sep, &out->family, out->lo) ||
		    addr_parse_one(s, sep + 1, e, &hif, out->hi)) {
			*why = addr_bad;
			return -EINVAL;
		}
		if (hif != out->family) {
			*why = "range ends of different address families";
			return -EINVAL;
		}
		if (memcmp(out->lo, out->hi, addr_len(hif)) > 0) {
			*why = "address range has its low end above its high end";
			return -EINVAL;
		}
		return 0;
	}
	if (addr_parse_one(s, b, e, &out->family, out->lo)) {
		*why = addr_bad;
		return -EINVAL;
	}
	memcpy(out->hi, out->lo, sizeof(out->hi));
	return 0;
}

int addr_range_parse(const char *s, struct addr_range *out, const char **why)
{
	int err = addr_range_parse_into(s, out, why);

	if (err)
		memset(out, 0, sizeof(*out)); /* never half a range */
	return err;
}

bool addr_range_contains(const struct addr_range *r, uint8_t family, const uint8_t addr[16])
{
	size_t n;

	if (r->family != family || (family != AF_INET && family != AF_INET6))
		return false;
	n = addr_len(family);
	return memcmp(r->lo, addr, n) <= 0 && memcmp(addr, r->hi, n) <= 0;
}

/* ---- wildcards */

/*
 * The classic greedy matcher: on a mismatch, back up to the last '*' and let
 * it swallow one more byte. Only the last '*' needs remembering (an earlier
 * one can never need to swallow more once a later one matched), so this is
 * O(len(p) * len(s)) at worst with no recursion and no allocation.
 */
static bool wildcard_match_n(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;

	while (si < sn) {
		if (pi < pn && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pn && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

bool wildcard_match(const char *pattern, const char *s)
{
	if (!pattern || !s)
		return false;
	/* most rule values have no '*': one strcmp */
	if (!strchr(pattern, '*'))
		return strcmp(pattern, s) == 0;
	return wildcard_match_n(pattern, strlen(pattern), s, strlen(s));
}

/* ---- group criteria */

static const char *const crit_key_names[] = {
	[CRIT_CONTAINER] = "container", [CRIT_IMAGE] = "image", [CRIT_SERVICE] = "service",
	[CRIT_NAMESPACE] = "namespace", [CRIT_LABEL] = "label", [CRIT_NODE] = "node",
	[CRIT_ADDRESS] = "address",
};
static const char *const crit_op_names[] = {
	[CRIT_EQ] = "=",	   [CRIT_NE] = "!=",	[CRIT_CONTAINS] = "contains",
	[CRIT_PREFIX] = "prefix", [CRIT_REGEX] = "regex", [CRIT_NOT_REGEX] = "!regex",
};
#define N_KEYS (sizeof(crit_key_names) / sizeof(crit_key_names[0]))
#define N_OPS (sizeof(crit_op_names) / sizeof(crit_op_names[0]))

enum crit_key crit_key_parse(const char *s)
{
	if (!s)
		return 0;
	if (strcmp(s, "domain") == 0)
		return CRIT_NAMESPACE;
	for (size_t i = 1; i < N_KEYS; i++)
		if (strcmp(s, crit_key_names[i]) == 0)
			return (enum crit_key)i;
	return 0;
}

enum crit_op crit_op_parse(const char *s)
{
	if (!s)
		return 0;
	for (size_t i = 1; i < N_OPS; i++)
		if (strcmp(s, crit_op_names[i]) == 0)
			return (enum crit_op)i;
	return 0;
}

const char *crit_key_name(enum crit_key k)
{
	if ((size_t)k >= 1 && (size_t)k < N_KEYS)
		return crit_key_names[k];
	return "unknown";
}

const char *crit_op_name(enum crit_op o)
{
	if ((size_t)o >= 1 && (size_t)o < N_OPS)
		return crit_op_names[o];
	return "unknown";
}

static bool crit_op_negative(enum crit_op op)
{
	return op == CRIT_NE || op == CRIT_NOT_REGEX;
}

/*
 * Label criteria: label_key is a copy of the whole value cut at the first
 * '=' (so it is the only allocation to free besides value), and label_val
 * points past that '=' into the same copy. The op applies to the label's
 * value: "k=v*" with = matches a label k whose value fits v*; "k" alone
 * (no '=') tests presence and so only takes = and !=.
 */
int criterion_compile(struct criterion *c, enum crit_key key, enum crit_op op, const char *value,
		      const char **why, char *errbuf, size_t errlen)
{
	const char *re_src;
	int err;

	memset(c, 0, sizeof(*c));
	if (errbuf && errlen > 0)
		errbuf[0] = '\0';
	if ((size_t)key < 1 || (size_t)key >= N_KEYS) {
		*why = "unknown criterion key";
		return -EINVAL;
	}
	if ((size_t)op < 1 || (size_t)op >= N_OPS) {
		*why = "unknown criterion operator (expected =, !=, contains, prefix, regex "
		       "or !regex)";
		return -EINVAL;
	}
	if (!value)
		value = "";
	c->key = key;
	c->op = op;
	c->value = strdup(value);
	if (!c->value)
		return -ENOMEM;
	re_src = c->value;

	if (key == CRIT_ADDRESS) {
		if (op != CRIT_EQ && op != CRIT_NE) {
			*why = "address criteria take only = and !=";
			err = -EINVAL;
			goto fail;
		}
		err = addr_range_parse(value, &c->addr, why);
		if (err)
			goto fail;
		return 0;
	}
	if (key == CRIT_LABEL) {
		char *eq;

		c->label_key = strdup(value);
		if (!c->label_key) {
			err = -ENOMEM;
			goto fail;
		}
		eq = strchr(c->label_key, '=');
		if (eq) {
			*eq = '\0';
			c->label_val = eq + 1;
		}
		if (c->label_key[0] == '\0') {
			*why = "label criterion without a key (expected key=value or key)";
			err = -EINVAL;
			goto fail;
		}
		if (!c->label_val && op != CRIT_EQ && op != CRIT_NE) {
			*why = "a label criterion without '=value' tests presence and takes "
			       "only = and !=";
			err = -EINVAL;
			goto fail;
		}
		re_src = c->label_val;
	}
	if (op == CRIT_REGEX || op == CRIT_NOT_REGEX) {
		int rc = regcomp(&c->re, re_src, REG_EXTENDED | REG_NOSUB);

		if (rc != 0) {
			if (errbuf && errlen > 0)
				regerror(rc, &c->re, errbuf, errlen);
			*why = "invalid regular expression";
			err = -EINVAL;
			goto fail;
		}
		c->has_regex = true;
	}
	return 0;
fail:
	criterion_free(c);
	return err;
}

void criterion_free(struct criterion *c)
{
	if (!c)
		return;
	free(c->value);
	free(c->label_key); /* label_val points into it */
	if (c->has_regex)
		regfree(&c->re);
	memset(c, 0, sizeof(*c));
}

/* The positive form of op (= for !=, regex for !regex) applied to s. */
static bool crit_test(const struct criterion *c, const char *pat, const char *s)
{
	switch (c->op) {
	case CRIT_EQ:
	case CRIT_NE:
		return wildcard_match(pat, s);
	case CRIT_CONTAINS:
		return strstr(s, pat) != NULL;
	case CRIT_PREFIX:
		return strncmp(s, pat, strlen(pat)) == 0;
	case CRIT_REGEX:
	case CRIT_NOT_REGEX:
		return c->has_regex && regexec(&c->re, s, 0, NULL, 0) == 0;
	}
	return false;
}

static const char *entity_field(const struct entity *e, enum crit_key k)
{
	const char *s = NULL;

	switch (k) {
	case CRIT_CONTAINER:
		s = e->container;
		break;
	case CRIT_IMAGE:
		s = e->image;
		break;
	case CRIT_SERVICE:
		s = e->service;
		break;
	case CRIT_NAMESPACE:
		s = e->namespace;
		break;
	case CRIT_NODE:
		s = e->node;
		break;
	case CRIT_LABEL:
	case CRIT_ADDRESS:
		break;
	}
	return s ? s : "";
}

bool criterion_match(const struct criterion *c, const struct entity *e)
{
	bool hit = false;

	if (c->key == CRIT_ADDRESS) {
		for (size_t i = 0; i < e->n_addrs && !hit; i++)
			hit = addr_range_contains(&c->addr, e->addrs[i].family, e->addrs[i].addr);
	} else if (c->key == CRIT_LABEL) {
		for (size_t i = 0; i < e->n_labels && !hit; i++) {
			const struct entity_label *l = &e->labels[i];

			if (!l->key || strcmp(l->key, c->label_key) != 0)
				continue;
			hit = !c->label_val || crit_test(c, c->label_val, l->value ? l->value : "");
		}
	} else {
		hit = crit_test(c, c->value, entity_field(e, c->key));
	}
	return crit_op_negative(c->op) ? !hit : hit;
}

/* Criteria a and b compare the same thing: one key, and for labels one
 * label key (NeuVector's criterion key is the label's key itself). */
static bool crit_same_key(const struct criterion *a, const struct criterion *b)
{
	if (a->key != b->key)
		return false;
	return a->key != CRIT_LABEL || strcmp(a->label_key, b->label_key) == 0;
}

/*
 * Criteria are grouped by key (labels by their label key); groups AND.
 * Within a group the positive criteria (=, contains, prefix, regex) OR and
 * the negative ones (!=, !regex) AND, as NeuVector does: OR-ing
 * "image != a" with "image != b" would match every image. A group with
 * both needs one positive and all negatives; a group of negatives alone
 * needs all of them. Groups are found by scanning back for an earlier
 * criterion of the same key, O(n^2) on a handful of criteria and no
 * allocation on the match path.
 */
bool criteria_match(const struct criterion *c, size_t n, const struct entity *e)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool first = true, has_pos = false, pos_ok = false;

		for (size_t j = 0; j < i && first; j++)
			first = !crit_same_key(&c[j], &c[i]);
		if (!first)
			continue; /* group already decided at its first criterion */
		for (size_t j = i; j < n; j++) {
			if (!crit_same_key(&c[j], &c[i]))
				continue;
			if (crit_op_negative(c[j].op)) {
				if (!criterion_match(&c[j], e))
					return false;
			} else {
				has_pos = true;
				if (!pos_ok)
					pos_ok = criterion_match(&c[j], e);
			}
		}
		if (has_pos && !pos_ok)
			return false;
	}
	return true;
}

/* ---- service names */

/* Kubernetes' rand.SafeEncodeString alphabet: no vowels, no 0/1/3 (which
 * read like letters), so generated suffixes never spell words. */
static bool k8s_generated(const char *s, size_t n)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";

	for (size_t i = 0; i < n; i++)
		if (!s[i] || !strchr(alphabet, s[i]))
			return false;
	return true;
}

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Length of name[0..len) without its last "-SUFFIX" if the suffix is
 * min..max bytes and passes ok(); len unchanged otherwise. A suffix is
 * never the whole name. */
static size_t strip_suffix(const char *name, size_t len, size_t min, size_t max,
			   bool (*ok)(const char *, size_t))
{
	size_t d = len;

	while (d > 0 && name[d - 1] != '-')
		d--;
	if (d < 2) /* no '-', or '-' first: nothing would be left */
		return len;
	if (len - d < min || len - d > max || !ok(name + d, len - d))
		return len;
	return d - 1;
}

void service_name(const char *pod, const char *container, char *out, size_t size)
{
	const char *src = pod && pod[0] ? pod : container ? container : "";
	size_t len = strlen(src), n;

	if (size == 0)
		return;
	if (src == pod) {
		n = strip_suffix(src, len, 5, 5, k8s_generated);
		if (n != len)
			n = strip_suffix(src, n, 6, 10, k8s_generated);
		else
			n = strip_suffix(src, len, 1, len, all_digits);
		len = n;
	}
	if (len >= size)
		len = size - 1;
	memcpy(out, src, len);
	out[len] = '\0';
}

/* ---- process rules */

bool proc_path_match(const char *rule_path, const char *exe)
{
	size_t n;

	if (!rule_path || rule_path[0] == '\0' || strcmp(rule_path, "*") == 0)
		return true;
	if (!exe)
		return false;
	n = strlen(rule_path);
	if (n >= 2 && rule_path[n - 2] == '/' && rule_path[n - 1] == '*')
		/* "dir/" then '*': compare "dir/" and require a name after it */
		return strncmp(exe, rule_path, n - 1) == 0 && exe[n - 1] != '\0';
	return strcmp(rule_path, exe) == 0;
}

bool proc_name_match(const char *rule_name, const char *name)
{
	if (!rule_name || strcmp(rule_name, "*") == 0)
		return true;
	return wildcard_match(rule_name, name ? name : "");
}

/* ---- file filters */

static bool str_ends_with(const char *s, size_t n, const char *suf)
{
	size_t m = strlen(suf);

	return n >= m && memcmp(s + n - m, suf, m) == 0;
}

int file_filter_compile(struct file_filter *f, const char *pattern, bool recursive,
			const char **why)
{
	const char *slash, *star;
	size_t n;

	memset(f, 0, sizeof(*f));
	if (!pattern || pattern[0] == '\0') {
		*why = "empty file filter";
		return -EINVAL;
	}
	n = strlen(pattern);
	if (pattern[0] != '/') {
		*why = "file filter is not an absolute path (it must start with '/')";
		return -EINVAL;
	}
	if (strstr(pattern, "//")) {
		*why = "file filter contains '//'";
		return -EINVAL;
	}
	if (strstr(pattern, "/./") || strstr(pattern, "/../") || str_ends_with(pattern, n, "/.") ||
	    str_ends_with(pattern, n, "/..")) {
		*why = "file filter contains a '.' or '..' component (write the path it names)";
		return -EINVAL;
	}
	if (pattern[n - 1] == '/') {
		*why = "file filter ends with '/' (name the directory without it, or use "
		       "DIR/* for its files)";
		return -EINVAL;
	}
	slash = strrchr(pattern, '/');
	f->pattern = strdup(pattern);
	f->dir = strndup(pattern, (size_t)(slash - pattern));
	f->base = strdup(slash + 1);
	if (!f->pattern || !f->dir || !f->base) {
		file_filter_free(f);
		return -ENOMEM;
	}
	star = strchr(pattern, '*');
	f->lit_len = star ? (size_t)(star - pattern) : n;
	/* A recursive name pattern matches in subdirectories too, so only
	 * the directory and its '/' are a prefix of every match. */
	if (recursive && strchr(f->base, '*') && f->lit_len > strlen(f->dir) + 1)
		f->lit_len = strlen(f->dir) + 1;
	f->recursive = recursive;
	return 0;
}

void file_filter_free(struct file_filter *f)
{
	if (!f)
		return;
	free(f->pattern);
	free(f->dir);
	free(f->base);
	memset(f, 0, sizeof(*f));
}

/*
 * Two kinds of filter. A filter whose last component has no '*' names a
 * file or directory: it matches that path (the directory part may hold
 * '*'), and if recursive everything below it. A filter whose last component
 * has a '*' is a name pattern in a directory: the path's last component
 * must fit the pattern and the path's directory must be the filter's
 * directory (not recursive) or it or any directory below it (recursive).
 * Both kinds start with the literal prefix, checked first with one memcmp.
 */
bool file_filter_match(const struct file_filter *f, const char *path)
{
	size_t plen, dlen, blen, last;
	bool dir_literal;

	if (!f->pattern || !path)
		return false;
	plen = strlen(path);
	if (plen < f->lit_len || memcmp(path, f->pattern, f->lit_len) != 0)
		return false;
	dlen = strlen(f->dir);
	if (!strchr(f->base, '*')) {
		size_t n = strlen(f->pattern);

		if (f->lit_len == n) /* no '*' at all: the prefix was the path */
			return path[n] == '\0' || (f->recursive && path[n] == '/');
		if (wildcard_match_n(f->pattern, n, path, plen))
			return true;
		if (!f->recursive)
			return false;
		/* '*' in the directory part: try each ancestor of path */
		for (size_t i = plen; i > 0; i--)
			if (path[i - 1] == '/' && i - 1 >= f->lit_len &&
			    wildcard_match_n(f->pattern, n, path, i - 1))
				return true;
		return false;
	}

	last = plen;
	while (last > 0 && path[last - 1] != '/')
		last--;
	if (last == 0)
		return false; /* no '/': not an absolute path */
	last--; /* path[last] == '/', the directory is path[0..last) */
	blen = strlen(f->base);
	if (!wildcard_match_n(f->base, blen, path + last + 1, plen - last - 1))
		return false;
	/* lit_len > dlen: the directory has no '*' and the memcmp above
	 * already compared it and its '/' */
	dir_literal = f->lit_len > dlen;
	if (dir_literal)
		return last == dlen || (f->recursive && last > dlen);
	if (wildcard_match_n(f->dir, dlen, path, last))
		return true;
	if (!f->recursive)
		return false;
	for (size_t i = last; i > 0; i--)
		if (path[i - 1] == '/' && wildcard_match_n(f->dir, dlen, path, i - 1))
			return true;
	return false;
}
