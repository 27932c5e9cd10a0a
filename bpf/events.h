/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) OR Apache-2.0 */
/*
 * events.h: THE kernel/userspace ABI of Wacht.
 *
 * Rules (see STYLE.md): this header includes nothing; every field has a
 * fixed width and explicit padding; event type numbers are never reused;
 * every size is checked by _Static_assert so a change to a struct is a
 * compile error on both sides until WACHT_ABI_VERSION is bumped.
 *
 * Every record in the ring buffer starts with struct wacht_hdr. hdr.size is
 * the size of the whole record; variable-length strings follow the fixed
 * part in the order the body documents, each NUL-terminated, their lengths
 * (including the NUL) given by the body's *_len fields.
 */
#ifndef WACHT_EVENTS_H
#define WACHT_EVENTS_H

/* The includer provides __u8..__u64/__s32/__s64: vmlinux.h in BPF code,
 * <linux/types.h> in userspace. */
#define WACHT_ABI_VERSION 2

/* Event types. Numbers are never reused; retire by leaving a gap. */
enum wacht_event_type {
	WACHT_EV_EXEC = 1,
	WACHT_EV_FORK = 2,
	WACHT_EV_EXIT = 3,
	WACHT_EV_FILE = 4,
	WACHT_EV_NET = 5,
	WACHT_EV_CGROUP_MKDIR = 6,
	WACHT_EV_CGROUP_RMDIR = 7,
	WACHT_EV_MAX = 8, /* array bound, not a type */
};

/* Why an event was lost or degraded. Counted per CPU and per event type in
 * the drop_counters map at index type * WACHT_DROP_MAX + reason. */
enum wacht_drop_reason {
	WACHT_DROP_RINGBUF_FULL = 0,  /* bpf_ringbuf_output failed: event lost */
	WACHT_DROP_READ_FAIL = 1,     /* a kernel/user read failed: field empty */
	WACHT_DROP_PATH_TRUNC = 2,    /* a path was longer than the bound */
	WACHT_DROP_ARGS_TRUNC = 3,    /* argv longer than WACHT_ARGS_MAX */
	WACHT_DROP_PENDING_FULL = 4,  /* no task-local slot for a syscall's arguments: event lost */
	WACHT_DROP_NO_SCRATCH = 5,    /* per-CPU scratch lookup failed: event lost */
	WACHT_DROP_TAIL_CALL = 6,     /* no program to finish a syscall record: event lost */
	WACHT_DROP_MAX = 7,
};

/* Counters of what was delivered, per CPU, index = event type. */

/* Bounds. Why these: a path component is at most NAME_MAX (255); 64
 * components cover every real container path while keeping the verifier's
 * state small; 4 KiB of argv is what `ps` shows and bounds the record. */
#define WACHT_PATH_MAX 4096
#define WACHT_PATH_DEPTH 64
#define WACHT_ARGS_MAX 4096
#define WACHT_COMM_LEN 16
#define WACHT_CGROUP_PATH_MAX 1024
/* userspace drains the ring at least this often (the kernel wakes it only
 * when much is waiting) */
#define WACHT_DRAIN_MS 50
/* Largest record: exec with exe path, filename and argv. */
#define WACHT_RECORD_MAX 16384

/* hdr.flags */
#define WACHT_F_PATH_TRUNC (1u << 0)  /* a path field was cut at the bound */
#define WACHT_F_ARGS_TRUNC (1u << 1)  /* argv was cut at WACHT_ARGS_MAX */
#define WACHT_F_READ_FAIL (1u << 2)   /* some field could not be read */
#define WACHT_F_PATH_RELATIVE (1u << 3) /* path = dir + "/" + relative name, not normalised */
#define WACHT_F_PATH_FROM_FD (1u << 4)  /* path taken from the opened file itself */
#define WACHT_F_HOST (1u << 5)        /* process in the host mount namespace */
#define WACHT_F_STDIO_SOCKET (1u << 6) /* exec: fd 0 and fd 1 are one socket (a reverse shell's shape) */
#define WACHT_F_CREATED (1u << 7)     /* file open/creat: this call created the file */
#define WACHT_F_DENIED (1u << 8)      /* net: refused by the kernel (cgroup hook), not by the peer */

struct wacht_hdr {
	__u64 ts_ns;     /* bpf_ktime_get_boot_ns() */
	__u64 cgroup_id; /* cgroup v2 id of the task (or of the cgroup, for cgroup events) */
	__u32 type;      /* enum wacht_event_type */
	__u32 size;      /* bytes of the whole record, header included */
	__u32 pid;       /* thread id (host pid namespace) */
	__u32 tgid;      /* process id (host pid namespace) */
	__u32 ppid;      /* real parent's tgid */
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u32 mntns;     /* mount namespace inode number */
	__u32 pidns;     /* pid namespace inode number */
	__u32 flags;     /* WACHT_F_* */
	__u32 cpu;
	__u8 comm[WACHT_COMM_LEN];
};
_Static_assert(sizeof(struct wacht_hdr) == 80, "wacht_hdr ABI");

/* EXEC: followed by exe path, filename as passed to execve, argv (NUL
 * separated, argv_len bytes, argc strings). */
struct wacht_exec {
	struct wacht_hdr hdr;
	__u64 exe_ino;
	__u64 exe_ctime_ns;  /* inode change time of the executed file */
	__u64 exe_mtime_ns;
	__u32 exe_dev;       /* s_dev of the executed file's superblock */
	__u32 exe_nlink;
	__u32 exe_len;
	__u32 filename_len;
	__u32 argv_len;
	__u32 argc;
	__u32 old_pid;       /* pid before exec (differs when a thread execs) */
	__u32 verdict;       /* enforcement: WACHT_V_* | enum wacht_kill_reason (enforce.h) */
};
_Static_assert(sizeof(struct wacht_exec) == 136, "wacht_exec ABI");

/* FORK: a new process (not a thread). hdr describes the parent. */
struct wacht_fork {
	struct wacht_hdr hdr;
	__u32 child_pid;
	__u32 child_tgid;
	__u64 child_cgroup_id;
};
_Static_assert(sizeof(struct wacht_fork) == 96, "wacht_fork ABI");

/* EXIT: the last thread of a process exited. */
struct wacht_exit {
	struct wacht_hdr hdr;
	__s32 exit_code; /* wait(2) status: code << 8 | signal */
	__u32 _pad;
};
_Static_assert(sizeof(struct wacht_exit) == 88, "wacht_exit ABI");

enum wacht_file_op {
	WACHT_FILE_OPEN = 1,
	WACHT_FILE_CREAT = 2,
	WACHT_FILE_UNLINK = 3,
	WACHT_FILE_RENAME = 4,
	WACHT_FILE_CHMOD = 5,
	WACHT_FILE_CHOWN = 6,
	WACHT_FILE_TRUNCATE = 7,
	WACHT_FILE_LINK = 8,
	WACHT_FILE_SYMLINK = 9,
	WACHT_FILE_MKDIR = 10,
	WACHT_FILE_RMDIR = 11,
	WACHT_FILE_OP_MAX = 12,
};

/* FILE: followed by path (the object) and, for rename/link/symlink, path2
 * (the new name; for symlink, path is the link target as written). */
struct wacht_file {
	struct wacht_hdr hdr;
	__u32 op;        /* enum wacht_file_op */
	__u32 syscall;   /* syscall number (architecture's) */
	__s64 result;    /* syscall return: >= 0 success, < 0 -errno */
	__u32 open_flags;/* O_* flags for open/openat/openat2/creat */
	__u32 mode;      /* mode for creat/chmod/mkdir */
	__u32 owner_uid; /* chown */
	__u32 owner_gid;
	__u32 path_len;
	__u32 path2_len;
};
_Static_assert(sizeof(struct wacht_file) == 120, "wacht_file ABI");

enum wacht_net_op {
	WACHT_NET_CONNECT = 1,
	WACHT_NET_ACCEPT = 2,
	WACHT_NET_BIND = 3,
	WACHT_NET_LISTEN = 4,
	WACHT_NET_UDP_SEND = 5,
	WACHT_NET_OP_MAX = 6,
};

#define WACHT_DIR_OUT 1
#define WACHT_DIR_IN 2

/* NET: addresses in network byte order (IPv4 in the first 4 bytes), ports in
 * host byte order. */
struct wacht_net {
	struct wacht_hdr hdr;
	__u32 op;        /* enum wacht_net_op */
	__u16 family;    /* AF_INET / AF_INET6 */
	__u8 proto;      /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 direction;  /* WACHT_DIR_* */
	__s64 result;    /* syscall return */
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u32 fd;
};
_Static_assert(sizeof(struct wacht_net) == 136, "wacht_net ABI");

/* CGROUP_MKDIR / CGROUP_RMDIR on the cgroup v2 hierarchy; followed by the
 * path relative to the hierarchy root. hdr.cgroup_id is the cgroup's id. */
struct wacht_cgroup {
	struct wacht_hdr hdr;
	__u32 path_len;
	__u32 level;
};
_Static_assert(sizeof(struct wacht_cgroup) == 88, "wacht_cgroup ABI");

/* Slots of the exit_progs program array: which program finishes a syscall's
 * record. The loader fills them after load. */
#define WACHT_SC_FILE 0
#define WACHT_SC_NET 1
#define WACHT_SC_MAX 2

/* Key of the file_prefixes LPM trie: prefixlen in bits over path bytes. */
#define WACHT_PREFIX_MAX 256
struct wacht_prefix_key {
	__u32 prefixlen;
	__u8 path[WACHT_PREFIX_MAX];
};
_Static_assert(sizeof(struct wacht_prefix_key) == 260, "prefix key ABI");


/* ---- flow accounting (map flows, read by userspace every --flow-interval;
 * bpf/include/flow.bpf.h fills it). Not events: counters the kernel keeps
 * per conversation end, so that traffic costs no ring-buffer record. */
#define WACHT_FLOWS_MAX 65536
struct wacht_flow_key {
	__u64 cgroup_id;   /* the container's cgroup (the socket's, bpf_skb_cgroup_id) */
	__u16 family;      /* AF_INET / AF_INET6 */
	__u8 proto;        /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 _pad;
	__u16 lport, rport;/* host order */
	__u8 laddr[16];    /* IPv4 in the first 4 bytes, rest 0 */
	__u8 raddr[16];
};
_Static_assert(sizeof(struct wacht_flow_key) == 48, "wacht_flow_key ABI");

/* Who opened the conversation, as the first packet of it seen showed:
 * a TCP SYN (without ACK), or the first UDP datagram. */
#define WACHT_FLOW_INIT_UNKNOWN 0 /* first seen mid-connection (TCP without SYN) */
#define WACHT_FLOW_INIT_LOCAL 1   /* the container is the client */
#define WACHT_FLOW_INIT_REMOTE 2  /* the peer is the client */
#define WACHT_FLOW_F_SYN_LAST 1   /* the last packet was a SYN: another one is a retransmit */
struct wacht_flow_val {
	/* bytes are L4 payload (TCP/UDP data, no IP/TCP/UDP headers), so they
	 * equal what the applications wrote/read; packets are wire segments
	 * (gso_segs of a GSO/GRO skb) */
	__u64 bytes_out, bytes_in;
	__u64 pkts_out, pkts_in;
	__u64 first_ns, last_ns; /* bpf_ktime_get_boot_ns */
	__u32 sessions;          /* TCP: SYNs without ACK, a retransmitted SYN not again;
				  * UDP: 1 when the entry is created */
	__u16 initiator;         /* WACHT_FLOW_INIT_* (set at creation, a SYN corrects it) */
	__u16 flags;             /* WACHT_FLOW_F_*, the kernel's own state */
};
_Static_assert(sizeof(struct wacht_flow_val) == 56, "wacht_flow_val ABI");

/* Per-CPU counters of the flow map (map flow_counters). Evictions: the
 * kernel does not report LRU evictions, so userspace derives them as
 * inserted - deleted by userspace - entries alive (flows.h). */
#define WACHT_FC_INSERTED 0  /* new entries created by the kernel */
#define WACHT_FC_INSERT_FAIL 1 /* an update failed (should not happen with LRU) */
#define WACHT_FC_MAX 4

#endif /* WACHT_EVENTS_H */
