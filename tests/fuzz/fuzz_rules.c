// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target for the rule loader: policy__load_buffer() and policy__finish(). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static void check(const struct policy *p, const struct diags *d, int rc_load, int rc_finish)
{
	const struct group *g;
	size_t i, j;

	/* A failed load or finish always says why, and only then. */
	if (rc_load != 0 && d->n_errors == 0)
		abort();
	if ((rc_finish == 0) != (d->n_errors == 0))
		abort();
	for (i = 0; i < d->n; i++) {
		if (!d->v[i].msg || !d->v[i].file || strcmp(d->v[i].file, "fuzz.yaml"))
			abort();
	}
	if (p->n_groups < 3 || strcmp(p->groups[POLICY_G_EXTERNAL].name, "external"))
		abort();
	for (i = 0; i < p->n_groups; i++) {
		g = &p->groups[i];
		if (rc_finish == 0 && !g->defined)
			abort();
		for (j = 0; j < g->n_procs; j++) {
			if (!g->procs[j].name || !g->procs[j].path)
				abort();
		}
	}
	for (i = 0; i < p->n_net; i++) {
		if (p->net[i].from >= p->n_groups || p->net[i].to >= p->n_groups ||
		    !p->net[i].n_ports || p->net[i].priority < 0 || p->net[i].priority > 65535)
			abort();
		if (i && p->net[i - 1].priority > p->net[i].priority)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diags d = {0};
	struct policy *p;
	int rc_load, rc_finish;

	p = policy__new();
	if (!p)
		return 0;
	/* data is exactly size bytes, not NUL-terminated. */
	rc_load = policy__load_buffer(p, "fuzz.yaml", (const char *)data, size, &d);
	rc_finish = policy__finish(p, &d);
	check(p, &d, rc_load, rc_finish);
	/* Learning on whatever was loaded. */
	if (rc_finish == 0 && p->n_groups > 3)
		policy__net_add(p, 3, POLICY_G_EXTERNAL, 3, 6, 443);
	policy__free(p);
	diags__free(&d);
	return 0;
}
