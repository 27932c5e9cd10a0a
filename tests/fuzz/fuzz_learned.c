// SPDX-License-Identifier: Apache-2.0
/* fuzz_learned.c: libFuzzer target for the merge of learned profiles
 * (YAML that sensors send): two profiles, split at the first NUL byte, are
 * merged; whatever the merge exports must load back without an error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *a = (const char *)data, *nul = memchr(data, 0, size);
	size_t la = nul ? (size_t)(nul - a) : size;
	struct learned_merge *m = learned_merge__new();
	struct diags d = {0}, d2 = {0};
	struct policy *p;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	if (!m)
		return 0;
	learned_merge__add(m, "node-a", a, la, &d);
	if (nul)
		learned_merge__add(m, "node-b", nul + 1, size - la - 1, &d);
	f = open_memstream(&text, &len);
	if (!f) {
		learned_merge__free(m);
		diags__free(&d);
		return 0;
	}
	rc = learned_merge__export(m, f, &d);
	fclose(f);
	if (rc > 0) {
		p = policy__new();
		if (p && (policy__load_buffer(p, "merged", text, len, &d2) ||
			  policy__finish(p, &d2) || d2.n_errors))
			abort();
		policy__free(p);
	}
	free(text);
	diags__free(&d);
	diags__free(&d2);
	learned_merge__free(m);
	return 0;
}
