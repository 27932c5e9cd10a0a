/* SPDX-License-Identifier: Apache-2.0 */
/* format.h: one captured event as one JSON object (the DESIGN.md schema). */
#ifndef WACHT_FORMAT_H
#define WACHT_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

#include "decode.h"
#include "jsonw.h"

/* What the output says about a container; strings borrowed, "" if unknown. */
struct container_view {
	const char *id, *runtime, *name, *image, *pod, *namespace, *pod_uid, *cgroup;
	uint64_t cgroup_id;
};

/* What the output says about the acting process beyond the record. */
struct process_view {
	const char *exe;        /* for non-exec events: the exe from the process table */
	const char *parent_exe; /* "" when unknown */
	bool runtime_init;      /* the container runtime, before the first exec */
};

struct format_ctx {
	const char *node;
	int64_t boot_to_real_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME */
};

/* "2026-11-27T06:40:00.123456789Z" from a CLOCK_BOOTTIME timestamp. */
void format_time(char *buf, size_t size, uint64_t boot_ns, int64_t boot_to_real_ns);
/* "ENOENT" for -2; "E<n>" for unknown numbers. */
const char *format_errno(int64_t result, char *buf, size_t size);
/* Writes the whole object for ev into w (after jsonw__reset). c NULL = host.
 * Paths flagged relative are normalised here. Returns 0 or -errno. */
int format_event(struct jsonw *w, const struct format_ctx *fc, const struct wacht_event *ev,
		 const struct container_view *c, const struct process_view *pv);

#endif
