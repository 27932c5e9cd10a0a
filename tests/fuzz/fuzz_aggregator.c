// SPDX-License-Identifier: Apache-2.0
/* fuzz_aggregator.c: libFuzzer target for what the aggregator does with the
 * bytes of one sensor connection (ingest.c: frame reader, protocol state
 * machine, store, the peer map of SensorEndpoints), against an in-memory
 * SQLite store. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "peermap.h"
#include "store.h"
#include "wire.h"

static struct store *st;
static struct peer_map *pm;
static uint64_t owner;

/* Everything the connection answers must be well-formed frames: a
 * ServerHello first, then Acks in increasing order, and PeerMaps (after
 * SensorEndpoints) whose endpoints all carry a node and an address. */
static void check_output(struct ingest_conn *ic, uint64_t *last_ack, int *n_out)
{
	struct wire_reader *r = wire_reader__new(0);
	Wacht__V1__Envelope *env;
	const uint8_t *out;
	size_t len;

	out = ingest_conn__output(ic, &len);
	if (!r || wire_reader__feed(r, out, len))
		abort();
	while (wire_reader__next(r, &env) == 1) {
		if (*n_out == 0 && env->body_case != WACHT__V1__ENVELOPE__BODY_SERVER_HELLO)
			abort();
		if (*n_out > 0 && env->body_case == WACHT__V1__ENVELOPE__BODY_PEERS) {
			for (size_t i = 0; i < env->peers->n_endpoints; i++) {
				const Wacht__V1__PeerEndpoint *e = env->peers->endpoints[i];
				if (!e->node || !e->node[0] || !e->n_ips || !e->container)
					abort();
			}
		} else if (*n_out > 0) {
			if (env->body_case != WACHT__V1__ENVELOPE__BODY_ACK ||
			    env->ack->batch_seq <= *last_ack)
				abort();
			*last_ack = env->ack->batch_seq;
		}
		(*n_out)++;
		wire_envelope_free(env);
	}
	if (wire_reader__buffered(r))
		abort();
	wire_reader__free(r);
	ingest_conn__consume(ic, len);
}

/* data[0]: the frame limit (small ones make size errors reachable);
 * data[1]: the chunk size the rest is fed in (0: one feed). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ingest_conn *ic;
	size_t max, chunk, off = 2;
	uint64_t last_ack = 0;
	int rc = 0, n_out = 0;

	if (!st) {
		st = store__open(":memory:", NULL, NULL);
		pm = peer_map__new();
		if (!st || !pm)
			abort();
	}
	if (size < 2)
		return 0;
	max = data[0] < 128 ? (size_t)data[0] * 64 + 1 : 0;
	chunk = data[1];
	ic = ingest_conn__new(st, max);
	if (!ic)
		return 0;
	/* the map outlives connections, as in the aggregator: each one's
	 * endpoints are released when it ends and forgotten at once */
	ingest_conn__set_peers(ic, pm, ++owner);
	while (off < size && rc >= 0) {
		size_t n = chunk ? chunk : size - off;

		if (n > size - off)
			n = size - off;
		rc = ingest_conn__feed(ic, data + off, n, 1700000000000000000LL);
		off += n;
		check_output(ic, &last_ack, &n_out);
	}
	if (rc < 0) {
		/* errors are final and say why */
		if (!ingest_conn__error(ic)[0] || ingest_conn__feed(ic, data, 1, 0) != rc)
			abort();
	}
	if (ingest_conn__hello_done(ic))
		peer_map__release(pm, ingest_conn__node(ic), owner, 1);
	peer_map__expire(pm, 1, 0);
	if (peer_map__nodes(pm))
		abort(); /* a released node outlived its grace */
	ingest_conn__free(ic);
	return 0;
}
