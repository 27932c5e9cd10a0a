/* SPDX-License-Identifier: Apache-2.0 */
/* enforce_compile.h: the enforcement compiler: a container's effective process
 * policy (the rule engine's view of it) compiled into the entries of the
 * kernel's policy maps (bpf/enforce.h). Pure: no root, no kernel. */
#ifndef WACHT_ENFORCE_COMPILE_H
#define WACHT_ENFORCE_COMPILE_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enforce.h"
#include "engine.h"
#include "policy.h"

/* The kernel's hash (bpf/include/enforce.bpf.h): FNV-1a 64 over the bytes,
 * 0 mapped to 1 (0 means "any"). */
uint64_t enforce_hash(const char *s);
uint64_t enforce_hash_n(const char *s, size_t n);

struct enforce_proc_entry {
	struct wacht_proc_key key;
	struct wacht_proc_val val;
};

/* A compiled process rule list. */
struct enforce_procs {
	struct enforce_proc_entry *v; /* owned; one per distinct key, lowest order kept */
	size_t n;
	/* the first rule the kernel cannot match exactly (a name with
	 * wildcards other than "*"): NULL if none. The list is then not
	 * enforced in the kernel (see enforce_cg_flags). */
	const struct proc_rule *uncompilable;
	size_t uncompilable_group;
};

/* The process rules of the groups in v->order, in order, for key space
 * set. 0 or -ENOMEM. Free with enforce_procs_free. */
int enforce_compile_procs(const struct policy *p, const struct engine_view *v, uint32_t set,
			  struct enforce_procs *out);
void enforce_procs_free(struct enforce_procs *ep);

/* The container's process WACHT_CG_* flags: KNOWN, PROC_PROTECT when its
 * process mode is Protect, enforcement is on and its rules compiled, and
 * ZERO_DRIFT. (NET_PROTECT and net_set are the network compiler's.) */
uint32_t enforce_cg_flags(const struct engine_view *v, const struct enforce_procs *ep, bool enforce);

/* Built-in names for the builtin_names map: calls fn(hash, kind) for each. */
void enforce_builtin_names(void (*fn)(void *ctx, uint64_t hash, uint32_t kind), void *ctx);

/* A signature of v's process rule list: containers with equal signatures
 * (for one policy) share one compiled set. */
uint64_t enforce_procs_signature(const struct engine_view *v);

/* "deny rule", "not in the process profile", ... for a WACHT_KR_* reason. */
const char *enforce_reason_name(uint32_t reason);

#endif
