/* SPDX-License-Identifier: Apache-2.0 */
/* engine.h: the rule engine. Captured activity in, findings out: group
 * membership, process/file/network rules, modes, baselines, built-in
 * detections, learning in Discover mode. Pure: no root, no kernel. */
#ifndef WACHT_ENGINE_H
#define WACHT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "finding.h"
#include "flows.h"
#include "format.h"
#include "match.h"
#include "policy.h"
#include "proc_table.h"

/* What the sensor knows of a container, for group membership. Borrowed
 * for the call. view->cgroup_id keys the engine's per-container state. */
struct engine_container {
	const struct container_view *view;
	const struct entity_label *labels;
	size_t n_labels;
	const struct entity_addr *addrs; /* the container's own addresses */
	size_t n_addrs;
	uint32_t init_pid;   /* the container's root process (host pid), 0 unknown */
	const char *node;
	/* A container of another node (the peer map), only ever a peer: no
	 * state is kept for it (view->cgroup_id means nothing); its groups
	 * are computed again on every call. */
	bool remote;
};

/* Facts about an exec only the system can tell. */
struct engine_exec_facts {
	bool exe_in_upper;   /* the binary is in the container's writable layer */
	uint32_t verdict;    /* the kernel's: WACHT_V_* | reason (bpf/enforce.h) */
};

/* The other end of a connection, resolved by the sensor. */
struct engine_peer {
	enum entity_kind kind;                 /* container (container->remote: of another
						* node), host, external */
	const struct engine_container *container; /* kind == ENTITY_CONTAINER */
	/* Why the kernel would let this connection through though the
	 * policy forbids it (alert-only, not compiled yet, ...), for a
	 * Protect finding whose record lacks WACHT_F_DENIED; NULL: not known. */
	const char *not_enforced;
	/* kind ENTITY_EXTERNAL: a group to name the peer by in findings
	 * instead of external (the caller knows more than the policy sees).
	 * A container of another node is passed as a remote container, whose
	 * own group names it. NULL: none. */
	const char *remote_group;
};

struct engine_config {
	uint64_t window_ns;  /* aggregation window for identical findings */
	bool alert_only;     /* enforcement is off: Protect findings say so */
	/* The caller passes the kernel's verdict on each exec (the sensor):
	 * a finding says kill only if the kernel killed. false: offline
	 * evaluation, findings say what the policy prescribes. */
	bool kernel_verdicts;
	finding_sink sink;   /* receives every finding (after aggregation) */
	void *sink_ctx;
	/* a group's learned profile grew (persist it); may be NULL */
	void (*learned)(void *ctx, size_t group);
	void *learned_ctx;
	/* Protect mode, a block_access violation by an open that failed with
	 * EPERM: whether the file guard denied it (its record, taken). false,
	 * or an open that did not fail so, makes the finding an alert saying
	 * it was not enforced. NULL: the mode decides alone (deny in
	 * Protect). With it set, operations other than opens are never
	 * denied: their findings are alerts that say so. */
	bool (*file_denied)(void *ctx, const struct wacht_event *ev);
	void *file_denied_ctx;
	/* Every connection evaluated (connect, accept, first UDP send; not
	 * loopback): the container, the direction, the peer (IPv4-mapped
	 * unmapped), protocol, server port and what became of it, for the
	 * conversation records (flows.h). May be NULL. */
	void (*net_verdict)(void *ctx, uint64_t cgroup_id, bool inbound, uint8_t family,
			    const uint8_t *raddr, uint8_t proto, uint16_t port, enum flow_verdict v);
	void *net_verdict_ctx;
};

struct engine_stats {
	uint64_t evaluated;   /* exec, file and net events evaluated */
	uint64_t findings;    /* produced, before aggregation */
	uint64_t learned;     /* rules or apps learned */
	uint64_t learn_failed;/* learning that failed (out of memory) */
	uint64_t recomputed;  /* container memberships (re)computed */
};

struct engine;
/* procs: the process table the caller keeps (the engine reads it and sets
 * PROC_F_* flags and credentials). NULL on ENOMEM. */
struct engine *engine__new(const struct engine_config *cfg, struct proc_table *procs);
void engine__free(struct engine *e); /* accepts NULL; frees its policy */

/* Takes ownership of a finished policy (frees the previous one); every
 * container's membership is recomputed on its next event. */
void engine__set_policy(struct engine *e, struct policy *p);
struct policy *engine__policy(const struct engine *e);

/*
 * One decoded event, after the caller updated the process table for it
 * (exec/fork) and before exit removes the process. c NULL: a host
 * process (only credentials are tracked). xf for exec, peer for net
 * (NULL: resolved as external).
 */
void engine__event(struct engine *e, const struct wacht_event *ev, const struct engine_container *c,
		   const struct engine_exec_facts *xf, const struct engine_peer *peer);

/*
 * What the enforcement compiler reads of a container's evaluated state.
 * Borrowed: valid until the next call into the engine.
 */
struct engine_view {
	const char *group;           /* its own group's name, nv.<service>.<namespace> */
	const uint64_t *member;      /* bitmap over the policy's groups */
	size_t member_words;
	const size_t *order;         /* member groups, in process/file rule order */
	size_t n_order;
	const size_t *egress, *ingress; /* indexes into policy->net, in match order */
	size_t n_egress, n_ingress;
	enum policy_mode net_mode, proc_mode;
	enum policy_baseline baseline;
};
/* 0, or -ENOMEM; also (re)computes membership as an event would. For a
 * remote container only group, member and the rule lists mean anything
 * (it is never enforced here). */
int engine__view(struct engine *e, const struct engine_container *c, struct engine_view *out);
/* Groups a peer that is not a container is in: nodes (host) or external,
 * plus every group whose address criteria match addr. bits has words
 * words, zeroed by the caller. */
void engine__peer_member(struct engine *e, bool host, uint8_t family, const uint8_t *addr,
			 uint64_t *bits, size_t words);

/* The container with this cgroup is gone: its state is freed. */
void engine__container_gone(struct engine *e, uint64_t cgroup_id);
/* Closes aggregation windows (call about once a second; UINT64_MAX: all). */
void engine__tick(struct engine *e, uint64_t now_ns);
void engine__stats(const struct engine *e, struct engine_stats *out);
uint64_t engine__suppressed(const struct engine *e);

/* The name process rules match for an exec: the file name given to execve,
 * or argv[0] for a re-execution through /proc/self/exe or an fd. The
 * caller should record it as the process's comm. */
const char *engine_exec_name(const struct wacht_event *ev);

/* The name of the container's learned group: "nv.<service>.<namespace>". */
void engine_group_name(const struct container_view *v, char *out, size_t size);

#endif /* WACHT_ENGINE_H */
