/* SPDX-License-Identifier: Apache-2.0 */
/* proc_table.h: the process tree kept from exec/fork/exit events. */
#ifndef WACHT_PROC_TABLE_H
#define WACHT_PROC_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define PROC_COMM_LEN 16
/* Longest exe accepted, NUL included: the kernel's PATH_MAX, which is also
 * WACHT_PATH_MAX in events.h. */
#define PROC_EXE_MAX 4096

struct proc_entry {
	uint32_t tgid;
	uint32_t ppid;
	uint64_t cgroup_id;
	uint64_t start_ns;    /* fork time; first exec seen if the fork was not */
	char comm[PROC_COMM_LEN]; /* NUL-terminated */
	const char *exe;      /* owned by the table, never NULL ("" if unknown) */
	uint32_t flags;       /* PROC_F_*: kept across exec, inherited by fork */
	uint32_t uid, euid;   /* last seen; PROC_UID_UNKNOWN until set, inherited by fork */
};

#define PROC_UID_UNKNOWN UINT32_MAX

/* The process, or an ancestor, executed a program inside its container: it
 * is the container's workload, not the runtime setting the container up
 * (runc init acts inside the container's cgroup before the first exec). */
#define PROC_F_WORKLOAD (1u << 0)
/* The process is, or descends from, a suspicious program (nc, socat...). */
#define PROC_F_SUSPICIOUS (1u << 1)
/* A privilege escalation of this process was reported already. */
#define PROC_F_ESCALATED (1u << 2)
/* zero-drift: the process, or an ancestor, runs a binary that drifted. */
#define PROC_F_DRIFT (1u << 3)

/*
 * A hash table keyed by tgid (O(1) per event) holding at most max_entries
 * processes. Exe strings are interned and reference-counted: a fork shares
 * its parent's string and every process running one binary shares one copy,
 * so memory follows the distinct paths, not the process count.
 *
 * Nothing is refused for lack of room: when the table is full, or when the
 * exe strings exceed their budget (128 bytes per entry on average, at least
 * 64 KiB; a bound on what long distinct paths can make the sensor hold), the
 * least recently seen process is evicted and counted. "Seen" means created
 * or exec'd, or forked a child: a live parent stays, while entries whose
 * exit event was lost age out.
 */
struct proc_table;

/* NULL with errno set (EINVAL: max_entries 0 or above 1<<24, ENOMEM).
 * Free with proc_table__free(). */
struct proc_table *proc_table__new(size_t max_entries);
void proc_table__free(struct proc_table *t); /* accepts NULL */

/*
 * exec replaces exe, comm, ppid and cgroup of tgid, creating the entry (with
 * start_ns = ts) if unknown; a known entry keeps its start_ns. exe/comm NULL
 * mean "". -ENAMETOOLONG if exe is PROC_EXE_MAX bytes or longer, -ENOMEM;
 * on error tgid's entry is removed, so that it never keeps the path of the
 * binary it replaced.
 */
int proc_table__exec(struct proc_table *t, uint32_t tgid, uint32_t ppid,
		     uint64_t cgroup_id, const char *exe, const char *comm,
		     uint64_t ts);
/*
 * fork: child inherits parent's exe/comm (parent unknown -> exe and comm
 * ""), takes child_cgroup_id, ppid = parent_tgid, start_ns = ts. An entry
 * already under child_tgid (a pid reused after a lost exit) is replaced.
 * 0 or -ENOMEM.
 */
int proc_table__fork(struct proc_table *t, uint32_t parent_tgid,
		     uint32_t child_tgid, uint64_t child_cgroup_id, uint64_t ts);
int proc_table__exit(struct proc_table *t, uint32_t tgid); /* -ENOENT if unknown */
/* ORs flags into tgid's entry. -ENOENT if unknown. */
int proc_table__set_flags(struct proc_table *t, uint32_t tgid, uint32_t flags);

/* Records the credentials last seen for tgid. -ENOENT if unknown. */
int proc_table__set_creds(struct proc_table *t, uint32_t tgid, uint32_t uid, uint32_t euid);

/* Borrowed; valid until the next modification of t. NULL if unknown. */
const struct proc_entry *proc_table__lookup(const struct proc_table *t,
					    uint32_t tgid);
size_t proc_table__count(const struct proc_table *t);
/* Entries dropped to make room since creation (capacity or exe budget). */
uint64_t proc_table__evictions(const struct proc_table *t);
/* Bytes held by interned exe strings (headers included, malloc's own
 * overhead not). */
size_t proc_table__exe_bytes(const struct proc_table *t);

#endif /* WACHT_PROC_TABLE_H */
