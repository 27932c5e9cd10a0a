/* SPDX-License-Identifier: Apache-2.0 */
/* decode.h: bounds-checked decoding of one ring-buffer record. */
#ifndef WACHT_DECODE_H
#define WACHT_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "events.h"

/* One decoded record: every pointer points into the record passed to
 * event_decode() and is valid as long as it is. */
struct wacht_event {
	const struct wacht_hdr *hdr;
	union { /* the body of hdr->type; all alias the record's start */
		const struct wacht_exec *exec;
		const struct wacht_fork *fork;
		const struct wacht_exit *exit;
		const struct wacht_file *file;
		const struct wacht_net *net;
		const struct wacht_cgroup *cgroup;
	};
	const char *exe, *filename;  /* exec */
	const char *argv;            /* exec: argc NUL-terminated strings */
	uint32_t argv_len;           /* bytes of argv, last one a NUL (0: none) */
	uint32_t argc;               /* recounted, see event_decode() */
	const char *path, *path2;    /* file */
	const char *cgroup_path;     /* cgroup_mkdir / cgroup_rmdir */
};

/*
 * data/size: one record from the ring buffer (8-byte aligned, as the ring
 * buffer delivers them). Returns 0 and fills ev (pointers into data; strings
 * the type does not have, and those of length 0, point to ""), or -EINVAL,
 * with ev zeroed, when: data is NULL or misaligned, size < sizeof(hdr),
 * hdr.size != size, the type is unknown, size < the type's fixed size, the
 * variable-length strings (each *_len includes its NUL; 0 = absent) run past
 * the record, or a string's last byte is not NUL. Bytes after the last
 * string are allowed (padding). Strings are not checked for inner NULs;
 * C readers see them up to the first one.
 * argc is the number of NUL-terminated strings in argv, recounted here: the
 * kernel's exec->argc is not trusted and ignored when it disagrees.
 */
int event_decode(const void *data, size_t size, struct wacht_event *ev);

/* Static names for logs and JSON, "unknown" for numbers without one. */
/* "exec", "fork", "exit", "file", "net", "cgroup_mkdir", "cgroup_rmdir" */
const char *event_type_name(uint32_t type);
/* "open", "creat", "unlink", "rename", "chmod", "chown", "truncate",
 * "link", "symlink", "mkdir", "rmdir" */
const char *file_op_name(uint32_t op);
/* "connect", "accept", "bind", "listen", "udp_send" */
const char *net_op_name(uint32_t op);
/* "ringbuf_full", "read_fail", "path_truncated", "args_truncated",
 * "pending_full", "no_scratch", "tail_call" */
const char *drop_reason_name(uint32_t reason);

#endif /* WACHT_DECODE_H */
