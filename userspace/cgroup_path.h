/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup_path: which container (and runtime, and pod) a cgroup v2 path belongs to. */
#ifndef WACHT_CGROUP_PATH_H
#define WACHT_CGROUP_PATH_H

#include <stddef.h>

/* Longest path accepted: a cgroup that cannot be opened below
 * /sys/fs/cgroup (PATH_MAX) cannot be confirmed either. */
#define CGROUP_PATH_MAX 4096

enum wacht_runtime {
	WACHT_RT_UNKNOWN = 0,
	WACHT_RT_CRIO,
	WACHT_RT_CONTAINERD,
	WACHT_RT_DOCKER,
	WACHT_RT_PODMAN,
	WACHT_RT_RUNC,
};

/* "unknown", "cri-o", "containerd", "docker", "podman", "runc"; "unknown"
 * for values outside the enum. Never NULL. */
const char *runtime_name(enum wacht_runtime rt);

struct cgroup_ref {
	enum wacht_runtime runtime;
	char id[128];     /* 64 lowercase hex, or a runc container id */
	char pod_uid[64]; /* with dashes, as in the API; "" outside kubepods */
	/* Bytes of the parsed path up to and including the component that
	 * named the container: path[0..cgroup_len) is the container's own
	 * cgroup, whatever the process nested below it (podman's
	 * ".../libpod-<id>.scope/container", systemd's init.scope). Compare
	 * it with the cgroup the runtime recorded for the id before trusting
	 * the id: a container allowed to create sub-cgroups can name one
	 * after another container. */
	size_t cgroup_len;
};

/*
 * Parse a cgroup v2 path relative to the hierarchy root (the "0::" line of
 * /proc/PID/cgroup), e.g.
 * "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/
 *  crio-<64hex>.scope".
 *
 * Returns 0 and fills *ref when a runtime's shape matched (the deepest one
 * in the path); 1 when none matched but the last component can be a plain
 * runc container id (ref->runtime = WACHT_RT_RUNC, ref->id = that component;
 * the caller confirms it against runc's state directory); -ENOENT when the
 * path cannot be a container ("/", "", systemd units, conmon scopes, pod and
 * QoS cgroups); -EINVAL for NULL or a relative path; -ENAMETOOLONG for a
 * path of CGROUP_PATH_MAX bytes or more, or a runc id that does not fit
 * ref->id. *ref is zeroed whenever ref is not NULL.
 */
int cgroup_path_parse(const char *path, struct cgroup_ref *ref);

#endif /* WACHT_CGROUP_PATH_H */
