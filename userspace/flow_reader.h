/* SPDX-License-Identifier: Apache-2.0 */
/* flow_reader.h: reads the kernel's flow map every --flow-interval, ages
 * out idle entries and turns the counters into conversation records
 * (flows.h). */
#ifndef WACHT_FLOW_READER_H
#define WACHT_FLOW_READER_H

#include <stdint.h>

#include "flows.h"

struct loader;
struct flow_reader;

/* Borrows l; owns a struct flows. NULL on ENOMEM. */
struct flow_reader *flow_reader__new(const struct loader *l);
void flow_reader__free(struct flow_reader *fr); /* accepts NULL */
/* The verdict table the engine's callback writes (flows__set_verdict). */
struct flows *flow_reader__flows(struct flow_reader *fr);

/* One pass: every entry is read, what changed since the last pass is
 * reported through fn, and entries idle for longer than idle_ns (last
 * packet before now_ns - idle_ns) are deleted after being reported.
 * Returns the number of records or -errno. */
int flow_reader__read(struct flow_reader *fr, uint64_t now_ns, uint64_t idle_ns, flow_record_fn fn,
		      void *ctx);

struct flow_reader_stats {
	uint64_t alive;     /* entries in the map at the last pass */
	uint64_t inserted;  /* by the kernel, ever (WACHT_FC_INSERTED) */
	uint64_t deleted;   /* by the reader (idle), ever */
	uint64_t evicted;   /* by the kernel's LRU: flows_evictions() */
	uint64_t insert_failed;
	uint64_t records;   /* conversation records reported, ever */
};
void flow_reader__stats(const struct flow_reader *fr, struct flow_reader_stats *out);

#endif
