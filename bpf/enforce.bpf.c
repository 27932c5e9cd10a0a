// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* enforce.bpf.c: the decision on an exec that was held because its
 * container was not compiled yet, run by userspace (BPF_PROG_TEST_RUN) once
 * it is: the same code as at the exec itself (enforce.bpf.h), so userspace
 * only delivers the verdict to the stopped process. */
#include "enforce.bpf.h"

SEC("syscall")
int decide_held(struct wacht_exec_keys *ctx)
{
	struct wacht_exec_keys k;

	/* the context is user memory copied in: fixed offsets only */
	__builtin_memcpy(&k, ctx, sizeof(k));
	ctx->verdict = 0;
	if (!cfg_enforce)
		return 0;
	struct wacht_cg_policy *cg = bpf_map_lookup_elem(&enforce_cgroups, &k.cgroup_id);
	if (!cg || (cg->flags & (WACHT_CG_KNOWN | WACHT_CG_PROC_PROTECT)) !=
			   (WACHT_CG_KNOWN | WACHT_CG_PROC_PROTECT))
		return 0;
	ctx->verdict = exec_decide(&k, cg);
	return 0;
}
