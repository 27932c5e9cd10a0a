// SPDX-License-Identifier: Apache-2.0
/* fuzz_wire.c: libFuzzer target for the frame reader (what the aggregator
 * decodes from every sensor connection), and for the JSON of any finding
 * it lets through. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "wire.h"

/* A decoded envelope must frame again and read back as the same body. */
static void check_envelope(struct jsonw *w, const Wacht__V1__Envelope *env)
{
	struct wire_reader *r;
	Wacht__V1__Envelope *again = NULL;
	uint8_t *buf;
	size_t len;

	if (env->body_case == WACHT__V1__ENVELOPE__BODY_FINDINGS) {
		for (size_t i = 0; i < env->findings->n_findings; i++) {
			jsonw__reset(w);
			wire_finding_format(w, env->findings->findings[i]);
			if (jsonw__error(w))
				abort();
		}
	}
	if (wire_frame_envelope(env, &buf, &len))
		return;
	r = wire_reader__new(UINT32_MAX);
	if (r && wire_reader__feed(r, buf, len) == 0) {
		if (wire_reader__next(r, &again) != 1 || again->body_case != env->body_case)
			abort();
		wire_envelope_free(again);
	}
	wire_reader__free(r);
	free(buf);
}

/* data[0]: the limit (small ones make size errors reachable); data[1]:
 * the chunk size the rest is fed in (0: one feed). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_reader *r;
	struct jsonw *w;
	size_t max, chunk, off = 2;
	int rc = 0;

	if (size < 2)
		return 0;
	max = data[0] < 128 ? (size_t)data[0] * 64 + 1 : 0;
	chunk = data[1];
	r = wire_reader__new(max);
	w = jsonw__new();
	if (!r || !w)
		goto out;
	while (off < size && rc >= 0) {
		size_t n = chunk ? chunk : size - off;
		Wacht__V1__Envelope *env;

		if (n > size - off)
			n = size - off;
		rc = wire_reader__feed(r, data + off, n);
		off += n;
		while (rc >= 0 && (rc = wire_reader__next(r, &env)) == 1) {
			check_envelope(w, env);
			wire_envelope_free(env);
		}
	}
	if (rc < 0) {
		Wacht__V1__Envelope *env = (void *)1;

		/* errors are final */
		if (wire_reader__next(r, &env) != rc || env || wire_reader__feed(r, data, 1) != rc)
			abort();
	}
out:
	jsonw__free(w);
	wire_reader__free(r);
	return 0;
}
