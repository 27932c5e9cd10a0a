/* SPDX-License-Identifier: Apache-2.0 */
/* finding.h: what the rule engine reports (the DESIGN.md "Findings" schema),
 * its JSON form, and the aggregation of identical findings. */
#ifndef WACHT_FINDING_H
#define WACHT_FINDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "jsonw.h"
#include "policy.h"

enum severity { SEV_INFO = 0, SEV_LOW, SEV_MEDIUM, SEV_HIGH, SEV_CRITICAL };
enum finding_action { FACT_ALERT = 1, FACT_DENY, FACT_KILL, FACT_LEARN };

/* Finding names (NeuVector's where it has one). */
#define FN_PROCESS_VIOLATION "Process.Profile.Violation"
#define FN_PROCESS_LEARNED "Process.Profile.Learned"
#define FN_SUSPICIOUS "Container.Suspicious.Process"
#define FN_TUNNEL "Container.Tunnel.Detected"
#define FN_PRIV_ESC "Container.Privilege.Escalation"
#define FN_PACKAGE_UPDATED "Container.Package.Updated"
#define FN_PACKAGE_MANAGER "Container.Package.Manager"
#define FN_FILE_MODIFIED "Container.File.Modified"
#define FN_FILE_VIOLATION "Container.FileAccess.Violation"
#define FN_FILE_LEARNED "Container.FileAccess.Learned"
#define FN_NET_VIOLATION "Network.Violation"
#define FN_NET_LEARNED "Network.Profile.Learned"

/* Every string is borrowed for the duration of the emit call; "" when
 * unknown, never NULL (except container: NULL for a host process). */
struct finding {
	uint64_t ts_ns;          /* CLOCK_BOOTTIME */
	const char *name;        /* FN_* */
	enum severity severity;
	enum finding_action action;
	enum policy_mode mode;   /* the mode that decided the action */
	struct {
		const char *id;  /* "FILE:LINE" of the rule, "builtin:<detection>", "profile:<group>" */
		const char *name;
		const char *group;
	} rule;
	const struct container_view *container;
	const char *group;       /* the container's learned group, nv.<service>.<namespace> */
	struct {
		uint32_t pid, ppid, uid, euid;
		const char *name, *exe, *parent_exe;
		const char *argv;    /* argc NUL-terminated strings */
		uint32_t argc;
	} process;
	bool has_file;
	struct {
		const char *path, *op; /* op: "create", "modify", "delete", "rename", "chmod", "chown", "access" ... */
	} file;
	bool has_net;
	struct {
		uint8_t proto;       /* IPPROTO_* */
		uint8_t family;      /* AF_INET / AF_INET6 */
		bool inbound;
		uint8_t laddr[16], raddr[16];
		uint16_t lport, rport;
		const char *peer_group;
	} net;
	const char *message;
	uint64_t count;          /* occurrences this record stands for */
	const char *id;          /* NULL, or the id it is shipped with (shipper.h) */
};

const char *severity_name(enum severity s);
const char *finding_action_name(enum finding_action a);

/* The whole object, "kind":"finding", into w (after jsonw__reset). */
void finding_format(struct jsonw *w, const struct format_ctx *fc, const struct finding *f);

/*
 * Aggregation: the first finding of a kind is passed on at once; identical
 * ones (same name, rule, action, container, process exe, file path, network
 * peer and port) within window_ns after it are counted instead, and when
 * the window closes one finding with count = the number suppressed is
 * passed on. So a loop of violations yields a bounded number of records and
 * the sum of counts is the number of occurrences. At most max_keys windows
 * are open; when full, the oldest window is closed early (flushed), never
 * dropped.
 */
typedef void (*finding_sink)(void *ctx, const struct finding *f);
struct aggregator;
struct aggregator *aggregator__new(uint64_t window_ns, size_t max_keys, finding_sink sink,
				   void *ctx);
void aggregator__free(struct aggregator *a); /* flushes nothing; call flush first */
void aggregator__add(struct aggregator *a, const struct finding *f);
/* Closes windows older than window_ns at now_ns (all when now_ns == UINT64_MAX). */
void aggregator__flush(struct aggregator *a, uint64_t now_ns);
uint64_t aggregator__suppressed(const struct aggregator *a); /* total counted, not passed on */
size_t aggregator__open(const struct aggregator *a);

#endif /* WACHT_FINDING_H */
