/* SPDX-License-Identifier: Apache-2.0 */
/* loader.h: open, configure, load and attach Wacht's BPF programs. */
#ifndef WACHT_LOADER_H
#define WACHT_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loader_config {
	uint32_t sensor_tgid;
	uint32_t host_mntns;
	bool capture_host;
	bool capture_file;
	bool capture_net;
	const char *const *file_prefixes; /* NULL-terminated; empty = no filter */
	bool verbose_libbpf;
	bool enforce;                /* false: alert-only, the kernel never refuses */
	const char *cgroup2_root;    /* where the cgroup programs attach (netguard) */
};

struct loader; /* opaque: owns the skeleton, links and ring buffer */

/* Loads and attaches everything, or returns NULL with *err = -errno and a
 * message already printed saying what to do. */
struct loader *loader__open(const struct loader_config *cfg, int *err);
void loader__free(struct loader *l); /* detaches everything; accepts NULL */

typedef int (*loader_event_fn)(void *ctx, const void *data, size_t size);
/* Ring buffer consumer. Returns 0 or -errno. */
int loader__set_consumer(struct loader *l, loader_event_fn fn, void *ctx);
/* Consumes every record waiting (never blocks). Events consumed or -errno. */
int loader__drain(struct loader *l);
/* Readable when the kernel signals that much is waiting (then drain). */
int loader__epoll_fd(const struct loader *l);

/* Sum over CPUs of drops[type][reason] and sent[type]. */
int loader__read_counters(const struct loader *l, uint64_t *drops /* [WACHT_EV_MAX*WACHT_DROP_MAX] */,
			  uint64_t *sent /* [WACHT_EV_MAX] */);
/* The enforcement maps and the held-exec decision program (bpf/enforce.h),
 * for the enforcer, which owns their contents. Borrowed fds. */
struct loader_enforce {
	int cgroups, proc_rules, builtin_names, cgroups_new, held, heartbeat, counters;
	int decide_held; /* program fd */
};
void loader__enforce_fds(const struct loader *l, struct loader_enforce *out);

/* The flow accounting maps (bpf/events.h wacht_flow_*), for the sensor's
 * flow reader, which reads and ages the entries. Borrowed fds. */
struct loader_flows {
	int flows;    /* LRU hash wacht_flow_key -> wacht_flow_val */
	int counters; /* per-CPU WACHT_FC_* */
};
void loader__flow_fds(const struct loader *l, struct loader_flows *out);

/* Number of links attached (for the status line). */
size_t loader__link_count(const struct loader *l);

struct enforce_net_result;
/*
 * Network segmentation (enforce_net.h) into the kernel maps, replacing
 * old (what the last call applied; NULL: nothing) without a moment where
 * an allowed connection is refused: the new tables first, then the peer
 * classes that point at them, then the containers' flags, then what old
 * had and next has not is deleted. 0, or the first -errno (the maps then
 * hold a mix of both: call again, with old still what was applied last).
 */
int loader__net_apply(struct loader *l, const struct enforce_net_result *next,
		      const struct enforce_net_result *old);
/* Sum over CPUs of the enforce_counters map (WACHT_EC_MAX of them). */
int loader__enforce_counters(const struct loader *l, uint64_t *out);

#endif
