/* SPDX-License-Identifier: Apache-2.0 */
/* file_policy.h: what the file guard decides from, and what it remembers:
 * a container's block_access rules compiled into an immutable table, the
 * allow/deny decision on one open, and the bounded log of denials the
 * engine asks "was this really stopped?". Pure: no root, no kernel. */
#ifndef WACHT_FILE_POLICY_H
#define WACHT_FILE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/*
 * An app name (a block_access rule's `app`) against a process name: equal,
 * or the process name is 15 bytes long (comm is cut there) and the app name
 * starts with it.
 */
bool file_app_match(const char *app, const char *name);

/*
 * The block_access rules of one container, copied out of the policy so the
 * guard thread can read them while the main thread reloads: immutable once
 * built, owned by whoever holds the pointer.
 */
struct file_policy;

/* The block_access rules of the groups in order (a container's member
 * groups, engine_view.order), in that order. NULL on ENOMEM; a table with
 * no rules when the groups have none (file_policy__count says 0). */
struct file_policy *file_policy__new(const struct policy *p, const size_t *order, size_t n_order);
void file_policy__free(struct file_policy *fp); /* accepts NULL */
size_t file_policy__count(const struct file_policy *fp);
/* Equal rules (filters, recursion, apps, in order): a reload that did not
 * change this container's rules need not touch its mark. */
bool file_policy__equal(const struct file_policy *a, const struct file_policy *b);

/* Whether any block_access filter matches path: if not, the open is
 * allowed whoever makes it (the guard then needs nothing else). */
bool file_policy__covers(const struct file_policy *fp, const char *path);

/*
 * The decision on an access to path (inside the container) by a process
 * named name: deny when some block_access filter matches and no matching
 * rule lists the name, as the engine's block_access finding says. *rule
 * (may be NULL) receives the filter pattern of the first matching rule
 * (borrowed from fp) on deny.
 */
bool file_policy__denies(const struct file_policy *fp, const char *path, const char *name,
			 const char **rule);

/*
 * The denials the guard made, most recent FILE_DENIALS of them, so that the
 * engine, when the open's syscall-exit event arrives (after the denial:
 * the open returns only once answered), can tell a denial from an access
 * the guard let through. Thread-safe: the guard thread adds, the main
 * thread takes.
 */
#define FILE_DENIALS 256
#define FILE_DENIAL_PATH 256 /* paths longer than this compare on their first bytes */
struct denial_log;
struct denial_log *denial_log__new(void); /* NULL on ENOMEM */
void denial_log__free(struct denial_log *l); /* accepts NULL */
/* A denial of process tgid opening path at ts_ns (any clock, only kept);
 * exec: the open of an execve. The oldest record goes when full. */
void denial_log__add(struct denial_log *l, uint32_t tgid, const char *path, bool exec,
		     uint64_t ts_ns);
/* Takes (removes) the record of a denial of tgid: the one for path if
 * there is one, else the oldest of tgid (the event's path is the name the
 * program gave, the guard's the file it reached: a symlink makes them
 * differ). false if tgid has none. */
bool denial_log__take(struct denial_log *l, uint32_t tgid, const char *path);
/* Takes the oldest exec denial (nothing claims them: a failed execve makes
 * no event) made at or before `before` (the time of the event the caller
 * handles: the process that tried must be known by then). false if none;
 * path is written (NUL-terminated, at most size bytes). */
bool denial_log__take_exec(struct denial_log *l, uint64_t before, uint32_t *tgid, char *path,
			   size_t size, uint64_t *ts_ns);
/* Takes the oldest open (not exec) denial of tgid made at or before
 * `before`: one its open's event did not claim (that event named another
 * path: a symlink to the file). false if none. */
bool denial_log__take_open(struct denial_log *l, uint32_t tgid, uint64_t before, char *path,
			   size_t size, uint64_t *ts_ns);
/* Exec denials not taken yet (a hint read without the lock: cheap
 * enough to ask on every event). */
uint64_t denial_log__execs(const struct denial_log *l);
/* Records overwritten before anyone took them. */
uint64_t denial_log__lost(const struct denial_log *l);

#endif /* WACHT_FILE_POLICY_H */
