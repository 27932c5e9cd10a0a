/* SPDX-License-Identifier: Apache-2.0 */
/* match.h: the matching primitives of the rule model (ports, addresses,
 * group criteria, wildcards, process paths, file filters); pure functions. */
#ifndef WACHT_MATCH_H
#define WACHT_MATCH_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- ports: "tcp/80", "udp/53", "tcp/8000-8080", "icmp", "any",
 * "tcp/any", "udp/any", comma-separated lists ("tcp/80,udp/53"),
 * whitespace around items allowed. */
#define PORT_PROTO_ANY 0 /* any protocol, any port */
struct port_range {
	uint8_t proto; /* PORT_PROTO_ANY, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP */
	uint16_t lo, hi; /* inclusive; 0-65535 for "any" and icmp */
};

/*
 * Parses spec into a malloc'd array (*out, caller frees; *n entries).
 * 0, or -EINVAL with *why a static message and *err_off the byte offset in
 * spec where the bad item starts (for file:line:column), or -ENOMEM.
 * Errors: empty spec or item, unknown protocol, port not a number or above
 * 65535, range with lo > hi, a port on icmp/any.
 */
int ports_parse(const char *spec, struct port_range **out, size_t *n, size_t *err_off,
		const char **why);
bool ports_match(const struct port_range *r, size_t n, uint8_t proto, uint16_t port);

/* ---- addresses: "10.0.0.1", "10.0.0.0/8", "10.0.0.1-10.0.0.9", and the
 * IPv6 forms of each. Addresses are in network byte order, IPv4 in the
 * first 4 bytes (as in events.h). */
struct addr_range {
	uint8_t family; /* AF_INET / AF_INET6 */
	uint8_t lo[16], hi[16]; /* inclusive, compared bytewise */
};
/* 0, or -EINVAL with *why (bad address, prefix length beyond the family,
 * range ends of different families, lo > hi). */
int addr_range_parse(const char *s, struct addr_range *out, const char **why);
bool addr_range_contains(const struct addr_range *r, uint8_t family, const uint8_t addr[16]);

/* ---- '*' wildcards: '*' matches any run of characters (also '/'); every
 * other character matches itself. */
bool wildcard_match(const char *pattern, const char *s);

/* ---- group criteria */
enum crit_key {
	CRIT_CONTAINER = 1, /* container name */
	CRIT_IMAGE,
	CRIT_SERVICE,       /* see service_name() */
	CRIT_NAMESPACE,     /* "namespace" and its NeuVector name "domain" */
	CRIT_LABEL,         /* value "key=value" or "key" (label present) */
	CRIT_NODE,
	CRIT_ADDRESS,       /* IP, CIDR or range; matches an entity's addresses */
};
enum crit_op { CRIT_EQ = 1, CRIT_NE, CRIT_CONTAINS, CRIT_PREFIX, CRIT_REGEX, CRIT_NOT_REGEX };

struct criterion {
	enum crit_key key;
	enum crit_op op;
	char *value;      /* as written (owned) */
	char *label_key;  /* CRIT_LABEL: the part before '=' (owned), value
			   * then points past it into a copy; NULL otherwise */
	char *label_val;  /* CRIT_LABEL: after '=', NULL for "key" alone */
	bool has_regex;
	regex_t re;       /* CRIT_REGEX / CRIT_NOT_REGEX: POSIX extended, unanchored */
	struct addr_range addr; /* CRIT_ADDRESS */
};

/* "container" -> CRIT_CONTAINER ...; 0 if unknown. */
enum crit_key crit_key_parse(const char *s);
enum crit_op crit_op_parse(const char *s);
const char *crit_key_name(enum crit_key k); /* "domain" is written "namespace" */
const char *crit_op_name(enum crit_op o);

/*
 * Fills c (zeroed first). 0, or -EINVAL with *why: bad regex (the regerror
 * text is not static, so *why is a fixed message; see errbuf), address
 * criteria with an op other than = / !=, bad address, label without a key.
 * errbuf (may be NULL) receives regerror's text for a bad regex.
 */
int criterion_compile(struct criterion *c, enum crit_key key, enum crit_op op, const char *value,
		      const char **why, char *errbuf, size_t errlen);
void criterion_free(struct criterion *c);

/* What criteria are matched against. Strings "" when unknown, never NULL. */
enum entity_kind { ENTITY_CONTAINER = 1, ENTITY_HOST, ENTITY_EXTERNAL };
struct entity_label {
	const char *key, *value;
};
struct entity_addr {
	uint8_t family;
	uint8_t addr[16];
};
struct entity {
	enum entity_kind kind;
	const char *container, *image, *service, *namespace, *node, *pod;
	const struct entity_label *labels;
	size_t n_labels;
	const struct entity_addr *addrs;
	size_t n_addrs;
};

/*
 * One criterion: =, != compare with '*' wildcards (!= is the negation of =);
 * contains / prefix are plain substring / prefix tests; regex / !regex use
 * the compiled regex. A label criterion "k=v" matches when some label has
 * key k and value v (wildcards allowed in v); "k" alone when label k exists.
 * An address criterion matches when any of the entity's addresses is in
 * the range (!= : none is).
 */
bool criterion_match(const struct criterion *c, const struct entity *e);
/* The NeuVector rule: criteria with different keys AND, repeats of one key
 * OR. n == 0 matches nothing (a group without criteria has no members
 * unless it is reserved). */
bool criteria_match(const struct criterion *c, size_t n, const struct entity *e);

/* A deployment's name from a pod name, as NeuVector names services: the
 * ReplicaSet hash and pod suffix ("web-7d9f8c6b5-x2x7k" -> "web"), a
 * StatefulSet ordinal ("db-0" -> "db"), a DaemonSet/Job suffix ("agent-x2x7k"
 * -> "agent") are removed. Falls back to container when pod is "". Writes
 * at most size bytes, NUL-terminated. */
void service_name(const char *pod, const char *container, char *out, size_t size);

// ---- process rules: name '*' or a name with wildcards, matched against the
// process name; path "*" or "" (any), "dir/*" (anything below dir, at any
// depth), or an exact path, matched against the executable's path.
// (Line comments here and below: the examples hold "/*", which -Wcomment
// rejects inside a block comment.)
bool proc_path_match(const char *rule_path, const char *exe);
bool proc_name_match(const char *rule_name, const char *name);

// ---- file filters: "/etc/passwd", "/etc/secret/*", "/var/log/*.log",
// "/home/*/.ssh/*". The last component is a wildcard
// pattern for the file name, the part before it the directory.
// Not recursive: the path's directory matches the filter's directory.
// Recursive: the directory or any directory below it. A filter naming a
// file or directory exactly also matches that path itself, and (recursive)
// everything below it.
struct file_filter {
	char *pattern;   /* owned, as written */
	char *dir;       /* owned: pattern up to its last '/', "" for "/x" */
	char *base;      /* owned: after the last '/' */
	size_t lit_len;  /* bytes of pattern every match starts with: up to the
			  * first '*' (recursive with a '*' in the name: at most
			  * the directory and its '/'); a fast reject */
	bool recursive;
};
/* 0, or -EINVAL with *why (not absolute, empty, trailing '/', "..", "//"). */
int file_filter_compile(struct file_filter *f, const char *pattern, bool recursive,
			const char **why);
void file_filter_free(struct file_filter *f);
bool file_filter_match(const struct file_filter *f, const char *path);

#endif /* WACHT_MATCH_H */
