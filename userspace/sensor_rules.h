/* SPDX-License-Identifier: Apache-2.0 */
/* sensor_rules.h: the sensor's rule side: the active policy and its
 * reloads, the facts about containers the engine needs from the system
 * (root process, labels, addresses, writable layer), peer resolution, and
 * keeping learned profiles. */
#ifndef WACHT_SENSOR_RULES_H
#define WACHT_SENSOR_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "containers.h"
#include "decode.h"
#include "enforcer.h"
#include "engine.h"
#include "jsonw.h"
#include "policy.h"
#include "proc_table.h"
#include "ruleset.h"

struct sensor_rules;

struct sensor_rules_config {
	struct ruleset_source src;
	const char *node;
	uint64_t window_ns;
	bool alert_only;          /* nothing enforced: no file guard, Protect findings say alert */
	finding_sink sink;
	/* after every load or reload attempt: ok, and what the diagnostics say */
	void (*policy_loaded)(void *ctx, bool ok, const char *why, const struct diags *d,
			      const struct policy *p);
	void *ctx;
	/* a group's learned profile changed (NvSecurityRule YAML, learned rules
	 * only): e.g. sent to the aggregator, which merges nodes; may be NULL */
	void (*learned_profile)(void *ctx, const char *group, const char *yaml);
	/* every connection the engine evaluated, and its verdict
	 * (engine_config.net_verdict; called with ctx); may be NULL */
	void (*net_verdict)(void *ctx, uint64_t cgroup_id, bool inbound, uint8_t family,
			    const uint8_t *raddr, uint8_t proto, uint16_t port, enum flow_verdict v);
	/* ---- file guard (issue 4: block_access enforced) */
	const char *cgroup_root;  /* where cgroup v2 is mounted */
};

/* Loads the policy. NULL if it has errors (printed via policy_loaded). */
struct sensor_rules *sensor_rules__new(const struct sensor_rules_config *cfg,
				       struct containers *c, struct proc_table *procs);
void sensor_rules__free(struct sensor_rules *r); /* accepts NULL; saves what was learned */

/* Enforcement: from now on every container's policy is compiled into the
 * kernel through enf (borrowed; NULL: none). Compiles every container
 * known now. */
void sensor_rules__set_enforcer(struct sensor_rules *r, struct enforcer *enf);

/* One event, after the process table was updated for it. cv: the
 * container (NULL for a host process). */
void sensor_rules__event(struct sensor_rules *r, const struct wacht_event *ev,
			 const struct container_view *cv);
void sensor_rules__container_gone(struct sensor_rules *r, uint64_t cgroup_id);
/* An event of the runtime setting container cv up (not evaluated): its
 * block_access rules are enforced from now on, before its first program
 * runs if the sensor keeps up (issue 4, file guard). */
void sensor_rules__container_seen(struct sensor_rules *r, const struct container_view *cv);

/* Rule files are watched: when this fd is readable call handle_inotify; the
 * reload happens on the next tick (changes within a second are one reload). */
int sensor_rules__inotify_fd(const struct sensor_rules *r);
void sensor_rules__handle_inotify(struct sensor_rules *r);
/* Loads the rules again; on any error the previous policy stays. 0 or -EINVAL. */
int sensor_rules__reload(struct sensor_rules *r, const char *why);
/* Once a second: aggregation windows, learned profiles to disk, pending reload. */
void sensor_rules__tick(struct sensor_rules *r, uint64_t now_ns);
struct loader;
/* Network segmentation (enforce_net.h) from now on compiled into l's maps
 * whenever the policy, the containers or their addresses change; enforce
 * false: alert-only (the kernel never refuses; findings say so). */
void sensor_rules__set_loader(struct sensor_rules *r, struct loader *l, bool enforce);
/* One end of a conversation as the graph names it: a container on this
 * node (view and group borrowed/filled) or of another (node set), this
 * node, or an external
 * address. */
struct sensor_endpoint {
	enum entity_kind kind;
	const struct container_view *view; /* kind ENTITY_CONTAINER; borrowed until
					    * the next call into the containers */
	char group[256];                   /* kind ENTITY_CONTAINER: nv.<service>.<namespace> */
	const char *node;                  /* a container of another node: its node
					    * (borrowed like view); NULL: this node */
};
/* The container of a cgroup: 0, or -ENOENT (not a container's). */
int sensor_rules__endpoint_container(struct sensor_rules *r, uint64_t cgroup_id,
				     struct sensor_endpoint *out);
/* A peer address, resolved as the engine resolves connection peers. */
void sensor_rules__endpoint_peer(struct sensor_rules *r, uint8_t family, const uint8_t *addr,
				 struct sensor_endpoint *out);
struct peer_table;
/* Containers of other nodes (the last PeerMap; borrowed, NULL: none), and
 * call again whenever the table changed. An address there that is not
 * the host's or a container's of this node is a container peer: the
 * policy matches it to groups by what the map carries (name, image, pod,
 * namespace, node, the address; not labels), findings name it by its
 * group, endpoint_peer answers it with its node, and the kernel's peer
 * classes include it (recompiled on the next tick). */
void sensor_rules__set_peers(struct sensor_rules *r, const struct peer_table *t);
/* Every container of this node whose metadata is known and that has an
 * address of its own (not one of the node's: host network), for the
 * SensorEndpoints. Addresses are read again at most every 30 s. */
typedef void (*sensor_rules_endpoint_cb)(void *ctx, const struct container_view *v,
					 const char *group, const struct entity_addr *addrs,
					 size_t n_addrs);
void sensor_rules__foreach_endpoint(struct sensor_rules *r, sensor_rules_endpoint_cb cb, void *ctx);
/* A "rules" object for the stats line. */
void sensor_rules__stats(const struct sensor_rules *r, struct jsonw *w);

#endif
