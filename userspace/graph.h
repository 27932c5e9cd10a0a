/* SPDX-License-Identifier: Apache-2.0 */
/* graph.h: the cluster's conversation graph in the aggregator: conversation
 * records from every sensor merged into endpoints and edges, the same
 * conversation reported by both of its ends counted once, collapsed by pod,
 * group or namespace, and written as DOT, GraphML or JSON. Pure: the store
 * hands it rows, so cmocka tests it without a database. */
#ifndef WACHT_GRAPH_H
#define WACHT_GRAPH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* What an end of a conversation is. The numbers are proto EndpointKind's. */
enum graph_kind {
	GRAPH_KIND_UNKNOWN = 0,
	GRAPH_KIND_CONTAINER = 1, /* a container, on `node` */
	GRAPH_KIND_NODE = 2,      /* a host (the node itself) */
	GRAPH_KIND_EXTERNAL = 3,  /* any other address */
};

/* The policy verdict; the numbers are proto FlowVerdict's. Larger is worse:
 * an edge carries the worst of its records. */
enum graph_verdict {
	GRAPH_VERDICT_UNKNOWN = 0,   /* not evaluated */
	GRAPH_VERDICT_ALLOWED = 1,
	GRAPH_VERDICT_VIOLATION = 2, /* went through, raised a finding */
	GRAPH_VERDICT_DENIED = 3,    /* refused in the kernel */
};

/* One end as a record names it. Strings are borrowed for the call of
 * graph__add (the graph copies what it keeps); NULL or "" = not known. */
struct graph_endpoint {
	enum graph_kind kind;
	const char *ip;           /* text form, v4 or v6 */
	const char *node;         /* a container's node, or the host's name */
	const char *container_id;
	const char *container;    /* container name */
	const char *image;
	const char *pod;
	const char *namespace;
	const char *group;        /* nv.<service>.<namespace> */
};

/* One conversation record (a FlowRecord with its reporter), or a stored
 * row that sums several of them over a time bucket. */
struct graph_record {
	struct graph_endpoint client, server;
	uint8_t proto;            /* 6 tcp, 17 udp */
	uint16_t server_port;
	bool reported_by_client;  /* which end's sensor counted it */
	uint64_t bytes_to_server, bytes_to_client;
	uint64_t packets_to_server, packets_to_client;
	uint64_t sessions;
	int64_t first_seen_ns, last_seen_ns; /* unix ns */
	enum graph_verdict verdict;
};

enum graph_collapse {
	GRAPH_COLLAPSE_NONE = 0,  /* one vertex per container */
	GRAPH_COLLAPSE_POD,
	GRAPH_COLLAPSE_GROUP,
	GRAPH_COLLAPSE_NAMESPACE,
};

enum graph_format {
	GRAPH_FORMAT_JSON = 0,
	GRAPH_FORMAT_DOT,
	GRAPH_FORMAT_GRAPHML,
};

struct graph_options {
	enum graph_collapse collapse;
	/* Only conversations with an end in this namespace (NULL: all). */
	const char *namespace;
	/* Only records whose last_seen_ns >= since_ns (0: all). */
	int64_t since_ns;
	/* External addresses inside one of these CIDRs ("10.0.0.0/8",
	 * "2001:db8::/32") become one vertex named by the CIDR. */
	const char *const *external_cidrs;
	int n_external_cidrs;
	/* The export's "generated_at" (unix ns; 0: the time of graph__write),
	 * so that a test or a replay writes the same bytes twice. */
	int64_t generated_at_ns;
};

struct graph;
/* NULL on ENOMEM or an unparsable CIDR (-EINVAL in *err if err). */
struct graph *graph__new(const struct graph_options *opt, int *err);
void graph__free(struct graph *g); /* accepts NULL */

/* Adds a record. An external end whose IP is a container's in any record
 * of the graph is that container (a pod on another node that the
 * reporting sensor knew only by its address). 0, or -ENOMEM / -EINVAL. */
int graph__add(struct graph *g, const struct graph_record *r);

/* Writes the merged graph. 0 or a negative errno from the stream. */
int graph__write(struct graph *g, enum graph_format fmt, FILE *out);

size_t graph__endpoints(const struct graph *g);     /* vertices after merging */
size_t graph__conversations(const struct graph *g); /* edges after merging */

/* "json" | "dot" | "graphml" and "none" | "pod" | "group" | "namespace";
 * 0 or -EINVAL. */
int graph_format_parse(const char *s, enum graph_format *out);
int graph_collapse_parse(const char *s, enum graph_collapse *out);
/* 0 when graph__new accepts cidr as an external_cidrs entry ("10.0.0.0/8",
 * "2001:db8::/32"; host bits are cleared), else -EINVAL: lets a caller say
 * which of several was wrong. */
int graph_cidr_check(const char *cidr);
/* Stricter: true when cidr passes graph_cidr_check with no host bits set
 * ("10.1.2.3/8" names a host, not a network). */
bool graph_cidr_is_network(const char *cidr);

#endif
