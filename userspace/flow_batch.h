/* SPDX-License-Identifier: Apache-2.0 */
/* flow_batch.h: conversation records (flows.h) into the FlowBatch the
 * sensor sends the aggregator every --flow-interval (proto/wacht.proto). */
#ifndef WACHT_FLOW_BATCH_H
#define WACHT_FLOW_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "flows.h"
#include "format.h"
#include "match.h"
#include "wacht.pb-c.h"

/* One end of a record as the sensor named it. */
struct flow_end {
	enum entity_kind kind;             /* ENTITY_CONTAINER, ENTITY_HOST or ENTITY_EXTERNAL */
	const struct container_view *view; /* kind ENTITY_CONTAINER */
	const char *group;                 /* kind ENTITY_CONTAINER */
	const char *node;                  /* a container of another node; NULL: this one */
};

struct flow_batch;
struct flow_batch *flow_batch__new(const char *node); /* NULL on ENOMEM; node borrowed */
void flow_batch__free(struct flow_batch *b);           /* accepts NULL */
/* Copies everything it needs (r, the ends' strings). 0 or -ENOMEM. */
int flow_batch__add(struct flow_batch *b, const struct flow_record *r, const struct flow_end *client,
		    const struct flow_end *server, int64_t boot_to_real_ns);
size_t flow_batch__count(const struct flow_batch *b);
/* The message (batch_seq is the shipper's), borrowed until the next add or
 * clear. */
Wacht__V1__FlowBatch *flow_batch__msg(struct flow_batch *b, int64_t now_unix_ns, uint64_t evicted);
void flow_batch__clear(struct flow_batch *b);

#endif
