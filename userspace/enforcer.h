/* SPDX-License-Identifier: Apache-2.0 */
/* enforcer.h: the owner of the kernel's policy maps. It writes each
 * container's compiled process policy (enforce_compile.h), releases execs
 * the kernel held for a container not compiled yet, and keeps the
 * heartbeat that lets the kernel hold them at all. It never decides:
 * every verdict is the kernel's (bpf/include/enforce.bpf.h). */
#ifndef WACHT_ENFORCER_H
#define WACHT_ENFORCER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "jsonw.h"
#include "loader.h"
#include "policy.h"

struct enforcer;

/* enforce false: alert-only (the kernel never acts; maps still say what
 * would be enforced). NULL on ENOMEM. */
struct enforcer *enforcer__new(struct loader *l, bool enforce);
/* Releases (SIGCONT) every exec still held. Accepts NULL. */
void enforcer__free(struct enforcer *e);

/* The policy changed (reload, or learning added rules): every container
 * must be compiled again (enforcer__container). */
void enforcer__invalidate(struct enforcer *e);
/* Whether cgroup_id is compiled for the current policy. */
bool enforcer__current(const struct enforcer *e, uint64_t cgroup_id);

/* Compiles and writes the container's policy; from then on the kernel
 * decides its execs. 0 or -errno (printed). */
int enforcer__container(struct enforcer *e, uint64_t cgroup_id, const struct policy *p,
			const struct engine_view *v, uint32_t init_pid);
/* A cgroup whose identity cannot be resolved: never acted on. */
void enforcer__unknown(struct enforcer *e, uint64_t cgroup_id);
/* The cgroup is gone: its entries are removed. */
void enforcer__gone(struct enforcer *e, uint64_t cgroup_id);

/* Runs the kernel's decision on the exec held for tgid (its container must
 * have been compiled, or marked unknown, first), then delivers it: SIGKILL
 * or SIGCONT. Returns the verdict (WACHT_V_HELD | the kernel's), or 0 if
 * nothing was held for tgid. */
uint32_t enforcer__release(struct enforcer *e, uint32_t tgid);
/* Execs held now: up to max (tgid, cgroup id) pairs. */
size_t enforcer__held(struct enforcer *e, uint32_t *tgids, uint64_t *cgroups, size_t max);

/* Tells the kernel the sensor is alive (call at least every second). */
void enforcer__heartbeat(struct enforcer *e);
bool enforcer__enforcing(const struct enforcer *e);
/* An "enforcement" object for the stats line. */
void enforcer__stats(const struct enforcer *e, struct jsonw *w);

#endif
