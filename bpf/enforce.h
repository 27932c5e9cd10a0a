/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) OR Apache-2.0 */
/*
 * enforce.h: the ABI of the policy maps, which userspace (the enforcement
 * compiler, userspace/enforce_compile.c and enforce_net.c) fills and the kernel decides from.
 *
 * Same rules as events.h: includes nothing (the includer provides the
 * __u* types), fixed widths, explicit padding, a size assert on every
 * struct, numbers never reused.
 *
 * Decisions are taken in the kernel, synchronously, from these maps;
 * userspace only compiles the policy into them. Strings are never compared
 * in the kernel: process names and paths are looked up by their 64-bit
 * FNV-1a hash (wacht_hash_*), which userspace computes the same way.
 */
#ifndef WACHT_ENFORCE_H
#define WACHT_ENFORCE_H

/* ---- what enforcement did: indexes of the per-CPU enforce_counters map */
#define WACHT_EC_KILL 0
#define WACHT_EC_HOLD 1
#define WACHT_EC_CONNECT_DENY 2
#define WACHT_EC_SENDMSG_DENY 3
#define WACHT_EC_INGRESS_DROP 4
#define WACHT_EC_HOLD_FULL 5 /* held_execs full: the exec ran unchecked */
#define WACHT_EC_MAX 8

/* ---- per container: key = cgroup v2 id (map enforce_cgroups) */
#define WACHT_CG_PROC_PROTECT (1u << 0) /* kill execs the process profile forbids */
#define WACHT_CG_ZERO_DRIFT (1u << 1)   /* baseline zero-drift */
#define WACHT_CG_NET_PROTECT (1u << 2)  /* refuse connections the network rules forbid */
#define WACHT_CG_KNOWN (1u << 3)        /* identity resolved (an entry without it: never act) */

struct wacht_cg_policy {
	__u32 flags;     /* WACHT_CG_* */
	__u32 proc_set;  /* the key space of this container's process rules */
	__u32 net_set;   /* this container as a source/destination in net_rules */
	__u32 init_tgid; /* the container's root process (host pid); 0 unknown */
};
_Static_assert(sizeof(struct wacht_cg_policy) == 16, "wacht_cg_policy ABI");

/* ---- process rules (map proc_rules). One entry per (rule, name, path)
 * form; an exec looks up every form it could match and takes the entry
 * with the lowest order: first match wins, as in the rule files. */
enum wacht_path_kind {
	WACHT_PK_ANY = 0,   /* path "*": path_hash 0 */
	WACHT_PK_EXACT = 1, /* the executed file's full path */
	WACHT_PK_DIR = 2,   /* "DIR/ *": hash of DIR (no trailing '/'), any depth below */
};
struct wacht_proc_key {
	__u32 set;
	__u32 path_kind;  /* enum wacht_path_kind */
	__u64 name_hash;  /* 0: any name ("*") */
	__u64 path_hash;
};
_Static_assert(sizeof(struct wacht_proc_key) == 24, "wacht_proc_key ABI");

#define WACHT_PR_DENY (1u << 0)         /* action deny (else allow) */
#define WACHT_PR_ALLOW_UPDATE (1u << 1) /* zero-drift: a modified binary is still allowed */
#define WACHT_PR_LEARNED (1u << 2)      /* learned, not from a rule file */
struct wacht_proc_val {
	__u32 order; /* position in the container's first-match list */
	__u32 flags; /* WACHT_PR_* */
};
_Static_assert(sizeof(struct wacht_proc_val) == 8, "wacht_proc_val ABI");

/* Built-in process names (map builtin_names, key = name hash). */
#define WACHT_BUILTIN_SUSPICIOUS 1
#define WACHT_BUILTIN_PACKAGE_MANAGER 2

/* ---- the verdict on an exec, in wacht_exec.verdict: reason | flags */
enum wacht_kill_reason {
	WACHT_KR_NONE = 0,
	WACHT_KR_DENY_RULE = 1,      /* a deny rule matched */
	WACHT_KR_NOT_ALLOWED = 2,    /* no rule matched (not in the profile) */
	WACHT_KR_DRIFT = 3,          /* zero-drift: binary written after the start */
	WACHT_KR_FOREIGN = 4,        /* zero-drift: not from the container's root process */
	WACHT_KR_SUSPICIOUS = 5,     /* built-in: suspicious process */
	WACHT_KR_REVERSE_SHELL = 6,  /* built-in: stdin/stdout on one socket */
	WACHT_KR_PACKAGE_MANAGER = 7,/* built-in: package manager */
};
#define WACHT_V_REASON_MASK 0xffu
#define WACHT_V_KILLED (1u << 8)   /* SIGKILL sent before the new image ran */
#define WACHT_V_HELD (1u << 9)     /* container not compiled yet: stopped (SIGSTOP) until it is */
#define WACHT_V_ENFORCED (1u << 10)/* the container's policy was in the maps (a decision was taken) */
#define WACHT_V_DRIFT (1u << 11)   /* the binary was written in a container after its start */

/* What enforcement did, per CPU (map enforce_counters): index WACHT_EC_*. */
#define WACHT_EC_KILL 0
#define WACHT_EC_HOLD 1
#define WACHT_EC_CONNECT_DENY 2
#define WACHT_EC_SENDMSG_DENY 3
#define WACHT_EC_INGRESS_DROP 4
#define WACHT_EC_HOLD_FULL 5 /* held_execs full: the exec ran unchecked */
#define WACHT_EC_MAX 8

/* ---- hashing (FNV-1a, 64 bit); 0 is reserved for "any" */
#define WACHT_HASH_INIT 0xcbf29ce484222325ULL
#define WACHT_HASH_PRIME 0x100000001b3ULL

/* An exec held for a container not compiled yet (map held_execs, key =
 * tgid): what the decision needs, taken at the exec itself. Userspace runs
 * the same decision in the kernel (program decide_held, BPF_PROG_TEST_RUN)
 * once the container's policy is in the maps, then delivers SIGKILL or
 * SIGCONT to the stopped process. */
#define WACHT_DIRS_MAX 16
#define WACHT_ANC_MAX 8
struct wacht_exec_keys {
	__u64 cgroup_id;
	__u64 name_hash;              /* the name process rules match (engine_exec_name) */
	__u64 base_hash;              /* basename of the executed file */
	__u64 exe_hash;               /* the executed file's path in the container */
	__u64 dir_hash[WACHT_DIRS_MAX];/* exe's directories: the prefix before each '/', shallowest first */
	__u32 n_dirs;
	__u32 flags;                  /* WACHT_XK_* */
	__u32 tgid;
	__u32 verdict;                /* out: WACHT_V_* | reason */
	__u32 anc[WACHT_ANC_MAX];     /* tgid, then its ancestors while in the same cgroup */
	__u32 n_anc;
	__u32 _pad;
};
_Static_assert(sizeof(struct wacht_exec_keys) == 216, "wacht_exec_keys ABI");
#define WACHT_XK_STDIO_SOCKET (1u << 0)
#define WACHT_XK_DRIFT (1u << 1)
#define WACHT_XK_ANC_END (1u << 2)   /* anc[] ends where the chain leaves the cgroup */

/* Written binaries (map written_inodes, LRU): key = (s_dev, i_ino). */
struct wacht_inode_key {
	__u64 ino;
	__u32 dev;
	__u32 _pad;
};
_Static_assert(sizeof(struct wacht_inode_key) == 16, "wacht_inode_key ABI");

/* ---- network (maps peer_addrs, peer_cidrs, net_rules) */
/* Peer classes: every distinct set of groups a peer can be in gets a class
 * id. These two always exist. */
#define WACHT_CLASS_EXTERNAL 1
#define WACHT_CLASS_NODES 2

struct wacht_addr_key {    /* peer_addrs: exact addresses (containers, host) */
	__u32 family;      /* AF_INET / AF_INET6 */
	__u8 addr[16];     /* IPv4 in the first 4 bytes */
};
_Static_assert(sizeof(struct wacht_addr_key) == 20, "wacht_addr_key ABI");

struct wacht_cidr_key {    /* peer_cidrs (LPM): prefixlen counts family bits too */
	__u32 prefixlen;   /* 32 (family) + address bits */
	__u32 family;      /* host order: every prefixlen is >= 32, so the trie
			    * only ever compares it whole and byte order does
			    * not matter */
	__u8 addr[16];
};
_Static_assert(sizeof(struct wacht_cidr_key) == 24, "wacht_cidr_key ABI");

#define WACHT_DIR_EGRESS 0
#define WACHT_DIR_INGRESS 1
struct wacht_net_key {     /* net_rules */
	__u32 set;         /* the container's net_set */
	__u32 peer_class;
	__u32 direction;   /* WACHT_DIR_EGRESS / WACHT_DIR_INGRESS */
};
_Static_assert(sizeof(struct wacht_net_key) == 12, "wacht_net_key ABI");

#define WACHT_NET_ENTRIES 64
#define WACHT_NA_ALLOW 1
#define WACHT_NA_DENY 2
struct wacht_net_entry {
	__u8 proto;        /* IPPROTO_TCP / IPPROTO_UDP / 1 ICMP; 0 = any */
	__u8 action;       /* WACHT_NA_* */
	__u16 lo, hi;      /* port range, inclusive (0-65535 = any) */
	__u16 _pad;
};
_Static_assert(sizeof(struct wacht_net_entry) == 8, "wacht_net_entry ABI");
/* No entry for a (set, class, direction): no rule applies to that peer,
 * which Protect refuses. Userspace writes only tables with entries. */
struct wacht_net_rules {
	__u32 n;                       /* entries used, first match wins */
	__u32 dflt;                    /* no match: WACHT_NA_* */
	struct wacht_net_entry e[WACHT_NET_ENTRIES];
};
_Static_assert(sizeof(struct wacht_net_rules) == 520, "wacht_net_rules ABI");

/* ingress_reported: a dropped inbound connection, for rate-limiting its
 * reports. */
struct wacht_ingress_key {
	__u64 cgroup_id;
	__u32 family;
	__u16 port;        /* local port, host order */
	__u16 _pad;
	__u8 addr[16];     /* the peer */
};
_Static_assert(sizeof(struct wacht_ingress_key) == 32, "wacht_ingress_key ABI");

#endif /* WACHT_ENFORCE_H */
