/* SPDX-License-Identifier: Apache-2.0 */
/* containers.h: cgroup id -> cgroup path -> container id -> pod metadata. */
#ifndef WACHT_CONTAINERS_H
#define WACHT_CONTAINERS_H

#include <stdbool.h>
#include <stdint.h>

#include "format.h"

struct containers; /* opaque */

/* cgroup_root: where cgroup v2 is mounted. runtime_roots: extra runc-style
 * state directories (NULL-terminated, may be NULL) besides the defaults. */
struct containers *containers__new(const char *cgroup_root, const char *const *runtime_roots);
void containers__free(struct containers *c); /* accepts NULL */

/* Walk the cgroup v2 tree once, learning every existing cgroup's id. */
int containers__scan(struct containers *c);
/* From cgroup_mkdir / cgroup_rmdir events. */
void containers__cgroup_created(struct containers *c, uint64_t id, const char *path);
void containers__cgroup_removed(struct containers *c, uint64_t id, uint64_t now_ns);

/* The container a cgroup id belongs to, or NULL for a cgroup that is not a
 * container's. tgid helps find an id never seen (via /proc/TGID/cgroup).
 * The view's strings are borrowed until the next call that changes c. */
const struct container_view *containers__lookup(struct containers *c, uint64_t cgroup_id,
						uint32_t tgid);

/* inotify fd watching the runtimes' state directories; call
 * containers__handle_inotify when it is readable. */
/* As lookup, but first reads what inotify has waiting and, if the
 * container's metadata is still unknown, looks on disk now: for a decision
 * that cannot wait (a held exec). */
const struct container_view *containers__refresh(struct containers *c, uint64_t cgroup_id,
						 uint32_t tgid);

int containers__inotify_fd(const struct containers *c);
void containers__handle_inotify(struct containers *c);
/* Forget containers gone for longer than the grace period. */
void containers__expire(struct containers *c, uint64_t now_ns);
size_t containers__count(const struct containers *c);

struct container_meta;
/* What the runtime recorded beyond the view: the root process and the
 * metadata (labels). */
struct container_detail {
	uint32_t init_pid;                 /* 0 when unknown */
	const struct container_meta *meta; /* NULL when unknown; borrowed like the view */
	const struct container_meta *sandbox; /* its pod's sandbox, if known (pod labels) */
};
/* For a cgroup containers__lookup attributed to a container: 0, or -ENOENT. */
int containers__detail(struct containers *c, uint64_t cgroup_id, struct container_detail *out);
/* Calls cb for every live container cgroup known. cb must not change c. */
typedef void (*containers_visit)(void *ctx, const struct container_view *v,
				 const struct container_detail *d);
void containers__foreach(struct containers *c, containers_visit cb, void *ctx);

#endif
