/* SPDX-License-Identifier: Apache-2.0 */
/* file_guard.h: block_access enforced: a fanotify permission group whose
 * own thread answers every open and exec of a file on the root mount of a
 * guarded container (Protect mode, block_access rules), denying what the
 * rules forbid. See the comment at the top of file_guard.c for what is
 * denied and what is only reported. */
#ifndef WACHT_FILE_GUARD_H
#define WACHT_FILE_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "file_policy.h"
#include "jsonw.h"

struct file_guard_config {
	const char *cgroup_root; /* where cgroup v2 is mounted (a process's cgroup id) */
	bool alert_only;         /* never mark anything: every access is allowed */
};

struct file_guard;

/* The fanotify group and its thread. NULL with *err (-errno) when the
 * kernel has no fanotify permission events or the thread cannot start
 * (said on stderr). Free with file_guard__free. */
struct file_guard *file_guard__new(const struct file_guard_config *cfg, int *err);
/* Stops answering (every pending and later open is allowed: the kernel
 * allows what a closed group never answered) and removes every mark.
 * Accepts NULL. */
void file_guard__free(struct file_guard *g);

/*
 * The container with this cgroup, whose root process is init_pid, is
 * guarded with fp (ownership passes to the guard, also on error): its root
 * mount (/proc/INIT_PID/root) is marked. fp NULL or without rules: it is
 * not guarded any more (as file_guard__remove). An unchanged fp for the
 * same init_pid changes nothing. 0 or -errno (the mark failed; said once
 * on stderr).
 */
int file_guard__set(struct file_guard *g, uint64_t cgroup_id, uint32_t init_pid,
		    struct file_policy *fp);
/* The container is gone or left Protect: its mark is removed (a mark on a
 * mount that went with its namespace is gone already). */
void file_guard__remove(struct file_guard *g, uint64_t cgroup_id);
bool file_guard__guarded(const struct file_guard *g, uint64_t cgroup_id);

/* Whether the guard denied an open of path by tgid (path as the open's
 * event names it); the record is taken. */
bool file_guard__denied(struct file_guard *g, uint32_t tgid, const char *path);
/* The oldest exec the guard denied, at or before `before`, that nobody
 * reported yet (a failed execve makes no event): false if none (cheap
 * when there is none). Times are CLOCK_BOOTTIME, as the events' ts_ns. */
bool file_guard__take_exec(struct file_guard *g, uint64_t before, uint32_t *tgid, char *path,
			   size_t size, uint64_t *ts_ns);

/* The oldest open denial of tgid, at or before `before`, that the open's
 * event did not claim (it named a symlink, not the file): false if none. */
bool file_guard__take_open(struct file_guard *g, uint32_t tgid, uint64_t before, char *path,
			   size_t size, uint64_t *ts_ns);

/* A "file_guard" object for the stats line: marks, events, allowed,
 * denied, and the events allowed for want of information (unresolved). */
void file_guard__stats(const struct file_guard *g, struct jsonw *w);

#endif
