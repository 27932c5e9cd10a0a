/* SPDX-License-Identifier: Apache-2.0 */
/* oci: container metadata from an OCI bundle's config.json and runc's state.json. */
#ifndef WACHT_OCI_H
#define WACHT_OCI_H

#include <stdbool.h>
#include <stddef.h>

/* Largest document accepted. Real ones are tens of KiB (a seccomp profile
 * is the bulk of them); a bound keeps a hostile file from costing more. */
#define OCI_JSON_MAX (16u << 20)

#define OCI_LABELS_MAX 32

struct oci_label {
	char key[128];
	char value[256];
};

struct container_meta {
	char name[256];      /* io.kubernetes.container.name | io.kubernetes.cri.container-name */
	char pod[256];       /* io.kubernetes.pod.name | io.kubernetes.cri.sandbox-name */
	char namespace[256]; /* io.kubernetes.pod.namespace | io.kubernetes.cri.sandbox-namespace */
	char pod_uid[64];    /* io.kubernetes.pod.uid | io.kubernetes.cri.sandbox-uid */
	char image[512];     /* io.kubernetes.cri-o.ImageName | io.kubernetes.cri-o.Image |
			      * io.kubernetes.cri.image-name | org.opencontainers.image.ref.name */
	char sandbox_id[128];/* io.kubernetes.cri-o.SandboxID | io.kubernetes.cri.sandbox-id */
	bool is_sandbox;     /* io.kubernetes.cri-o.ContainerType | io.kubernetes.cri.container-type
			      * == "sandbox" (the pause container) */
	char hostname[256];  /* "hostname" of the runtime spec */
	/*
	 * Labels from io.kubernetes.cri-o.Labels (a JSON object encoded in
	 * the annotation's string), in document order. For a container these
	 * are the CRI labels kubelet sets (io.kubernetes.container.name,
	 * io.kubernetes.pod.name, ...); the pod's own labels are on the
	 * sandbox's config (see sandbox_id). Labels beyond OCI_LABELS_MAX,
	 * with a non-string value, or too long for key/value are counted in
	 * labels_dropped, never truncated: a cut key could match a rule the
	 * whole key would not.
	 */
	unsigned n_labels;
	unsigned labels_dropped;
	struct oci_label labels[OCI_LABELS_MAX];
};

/*
 * Parse a runtime spec (bundle config.json) of len bytes; json need not be
 * NUL-terminated. The first non-empty string annotation of each list above
 * wins; a missing or non-string annotation leaves its field "" (meta is
 * zeroed first). Over-long values are cut at a UTF-8 character boundary and
 * NUL-terminated. Returns 0; -EINVAL when json is not exactly one JSON
 * object (malformed, truncated, trailing bytes other than whitespace, NULL);
 * -EFBIG above OCI_JSON_MAX; -ENOMEM.
 */
int oci_config_parse(const char *json, size_t len, struct container_meta *meta);

struct oci_state {
	char id[128];
	char bundle[4096];
	int init_pid;
	char created[64];      /* RFC 3339, as runc wrote it */
	/* cgroup_paths[""]: the container's directory in the unified
	 * hierarchy, absolute, as mounted when runc ran it
	 * ("/sys/fs/cgroup/<path>", or "/sys/fs/cgroup/unified/<path>" on a
	 * hybrid host); "" when runc recorded none or it did not fit. */
	char cgroup_dir[4096];
};

/*
 * Parse runc's (libcontainer's) state.json, /run/runc/<id>/state.json:
 * "id", "init_process_pid", "created", "cgroup_paths", and the bundle from
 * the "bundle=<path>" entry runc appends to "config"."labels". Returns 0;
 * -EINVAL when malformed (as oci_config_parse, or id / init_process_pid
 * missing or of the wrong type, or the bundle not absolute); -ENOENT when
 * there is no bundle label; -ENAMETOOLONG when id or bundle does not fit;
 * -EFBIG; -ENOMEM. *st is zeroed on error.
 */
int oci_state_parse(const char *json, size_t len, struct oci_state *st);

/*
 * Container metadata from state.json alone: runc copies every annotation
 * of config.json into "config"."labels" as "key=value" (split at the first
 * '='; a repeated key: the last one wins, as in runc), and the hostname into
 * "config"."hostname". Same fields, rules and returns as oci_config_parse;
 * the "bundle" label is not an annotation and is ignored.
 */
int oci_state_parse_meta(const char *json, size_t len, struct container_meta *meta);

#endif /* WACHT_OCI_H */
