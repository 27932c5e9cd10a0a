/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* maps.bpf.h: every map and load-time setting of Wacht, declared once. */
#ifndef WACHT_MAPS_BPF_H
#define WACHT_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "events.h"
#include "enforce.h"

/*
 * maps.bpf.c defines WACHT_DEFINE_MAPS before including this header and so
 * owns the definitions; every other object sees the same text as extern
 * declarations, which the libbpf static linker resolves (bpftool gen object).
 */
#ifdef WACHT_DEFINE_MAPS
#define WACHT_EXTERN
#define WACHT_RODATA(type, name, init) const volatile type name = init
#else
#define WACHT_EXTERN extern
#define WACHT_RODATA(type, name, init) extern const volatile type name
#endif

/* Load-time settings (owner: userspace loader, set before load). */
WACHT_RODATA(__u32, cfg_sensor_tgid, 0);   /* never report or act on the sensor */
WACHT_RODATA(__u32, cfg_host_mntns, 0);    /* the host's mount namespace inode */
WACHT_RODATA(__u8, cfg_capture_host, 0);   /* also report host processes */
WACHT_RODATA(__u8, cfg_file_filter, 0);    /* file events only under file_prefixes */
WACHT_RODATA(__u8, cfg_capture_file, 1);
WACHT_RODATA(__u8, cfg_capture_net, 1);
/* 0: alert-only (--alert-only): the kernel never kills, stops or refuses */
WACHT_RODATA(__u8, cfg_enforce, 0);

/* All events to userspace, in one ring so that their order is global: a
 * process's exit always follows everything it did. 8 MiB holds ~40k typical
 * records while userspace is descheduled; userspace maps it, so it counts
 * toward the sensor's RSS. Owner: kernel writes, userspace reads. */
#define WACHT_RINGBUF_BYTES (8 * 1024 * 1024)
/* Wake the reader only once this much is waiting (it also drains every
 * WACHT_DRAIN_MS): a wakeup per event costs the traced task an IPI. */
#define WACHT_WAKEUP_BYTES (256 * 1024)
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, WACHT_RINGBUF_BYTES);
} events SEC(".maps");

/* Per-CPU counters of lost/degraded events: index type * WACHT_DROP_MAX +
 * reason. Owner: kernel increments, userspace reads. */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WACHT_EV_MAX * WACHT_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drop_counters SEC(".maps");

/* Per-CPU counters of delivered events, index = event type. */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WACHT_EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sent_counters SEC(".maps");

/* Per-CPU scratch space for building one record and one path: records are
 * far larger than the 512-byte BPF stack. Tracepoint programs do not nest
 * on one CPU except from interrupts, where none of ours run. */
/* The state of a string hash loop (enforce.bpf.h). */
struct wacht_hash_state {
	__u64 h, base;
	__u32 pos, len, dirs, _pad;
};
struct wacht_scratch {
	__u8 rec[WACHT_RECORD_MAX];
	__u8 path[WACHT_PATH_MAX * 2]; /* a path is built backwards in the lower half */
	struct wacht_prefix_key key;
	struct wacht_exec_keys keys;   /* an exec's enforcement lookup keys */
	struct wacht_hash_state hash;
};
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wacht_scratch);
} scratch SEC(".maps");

/* A syscall we report, held from entry to exit: the exit has the result,
 * the entry has the arguments. Task-local storage: one slot per thread,
 * found through the task itself (cheaper than a hash keyed by pid_tgid) and
 * freed with the thread, so a thread killed inside a syscall leaks nothing.
 * valid is cleared at exit. */
struct wacht_pending {
	__u64 args[6];
	__u32 nr;
	__u32 valid;
};
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct wacht_pending);
} pending SEC(".maps");

/* Programs that finish a syscall's record, chosen at sys_exit by kind.
 * Owner: userspace loader fills it after load. */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, WACHT_SC_MAX);
	__type(key, __u32);
	__type(value, __u32);
} exit_progs SEC(".maps");

/* Path prefixes that file events are limited to when cfg_file_filter is
 * set; longest-prefix match over path bytes. Owner: userspace (the rule
 * engine later). Value unused (1). */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct wacht_prefix_key);
	__type(value, __u8);
} file_prefixes SEC(".maps");

/* UDP peers a process already sent to: only the first send to a peer is
 * reported. LRU because peers are unbounded; an evicted peer is reported
 * again, never lost. */
struct wacht_udp_peer {
	__u32 tgid;
	__u16 family;
	__u16 rport;
	__u8 raddr[16];
};
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct wacht_udp_peer);
	__type(value, __u8);
} udp_peers SEC(".maps");

/* ---- enforcement (bpf/enforce.h). Owner of every policy map: userspace's
 * enforcement compiler (userspace/enforce_compile.c) writes, the kernel reads. */

/* Per container, by cgroup id. No entry: identity not resolved, never act. */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct wacht_cg_policy);
} enforce_cgroups SEC(".maps");

/* Process rules of every container's first-match list (bpf/enforce.h). */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct wacht_proc_key);
	__type(value, struct wacht_proc_val);
} proc_rules SEC(".maps");

/* Built-in names: hash of a process name -> WACHT_BUILTIN_*. */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, __u64);
	__type(value, __u32);
} builtin_names SEC(".maps");

/* Files a container process opened for writing (or created): a binary
 * among them is drift under zero-drift. Owner: kernel (file.bpf.c).
 * LRU: an evicted inode is only found by userspace's upper-layer check. */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct wacht_inode_key);
	__type(value, __u64);
} written_inodes SEC(".maps");

/* Cgroups created after the sensor started and not compiled yet: the
 * first exec in one is held (SIGSTOP) until userspace compiled it. Owner:
 * kernel inserts (cgroup_mkdir), userspace deletes once compiled. Value:
 * creation time (boot ns). */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} cgroups_new SEC(".maps");

/* Held execs, by tgid (bpf/enforce.h). Owner: kernel inserts, userspace
 * decides (decide_held) and deletes. */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct wacht_exec_keys);
} held_execs SEC(".maps");

/* [0]: boot time of userspace's last heartbeat. Execs are held only while
 * it is recent (5 s: a busy node may not run the sensor for a while), so
 * a sensor that stopped never leaves a new process waiting. */
#define WACHT_HEARTBEAT_NS (5ULL * 1000000000ULL)
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} heartbeat SEC(".maps");

/* What enforcement did, per CPU: index WACHT_EC_* (enforce.h: userspace
 * reads them too). */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WACHT_EC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} enforce_counters SEC(".maps");

/* Network segmentation: peer classes of exact addresses and of address
 * groups' CIDRs, and per (container, peer class, direction) the rules. */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct wacht_addr_key);
	__type(value, __u32);
} peer_addrs SEC(".maps");

WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct wacht_cidr_key);
	__type(value, __u32);
} peer_cidrs SEC(".maps");

WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct wacht_net_key);
	__type(value, struct wacht_net_rules);
} net_rules SEC(".maps");

/* A connect/sendmsg the cgroup hook refused, by pid_tgid, for the record
 * the syscall's exit writes (WACHT_F_DENIED). */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} net_denied SEC(".maps");

/* Inbound connections dropped by network policy, last reported (boot ns)
 * per (container, peer, local port): a SYN flood is reported once a
 * second, not per packet. Owner: kernel (netguard.bpf.c). */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct wacht_ingress_key);
	__type(value, __u64);
} ingress_reported SEC(".maps");

/* ---- flow accounting (events.h wacht_flow_*). Owner: kernel inserts and
 * adds (flow.bpf.h), userspace reads and deletes idle entries (flow_reader
 * in userspace/sensor.c). LRU: when full the least recently used
 * conversation is evicted (its unreported counts are lost and the eviction
 * is counted, never silent); 65536 entries of 104 B plus the kernel's
 * per-element overhead: about 10 MiB at most. */
WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WACHT_FLOWS_MAX);
	__type(key, struct wacht_flow_key);
	__type(value, struct wacht_flow_val);
} flows SEC(".maps");

WACHT_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WACHT_FC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} flow_counters SEC(".maps");

static __always_inline void enforce_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&enforce_counters, &idx);

	if (c)
		*c += 1;
}

#endif /* WACHT_MAPS_BPF_H */
