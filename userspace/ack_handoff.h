/* SPDX-License-Identifier: Apache-2.0 */
/* ack_handoff.h: hands publish acknowledgements from a library thread (the
 * NATS client's) to the sensor's event loop through an eventfd, so that
 * only the loop's thread ever touches the spool. */
#ifndef WACHT_ACK_HANDOFF_H
#define WACHT_ACK_HANDOFF_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Any thread:   ack_handoff__post(h, seq, acked_through, err)
 * The loop:     epoll on ack_handoff__fd(h) (EPOLLIN), then
 *               ack_handoff__take(h, &t) for everything posted since the
 *               last take, merged:
 *   acked_through  the highest cumulative acked_through posted (acks are
 *                  cumulative, so the highest one says everything)
 *   failed         publishes that failed (err != 0) since the last take
 *   first_err      the first of their errors, failed_seq its seq
 * Posting never blocks and never allocates: a burst of thousands of acks
 * costs the loop one wakeup.
 */
struct ack_handoff;

struct ack_taken {
	uint64_t acked_through;
	uint64_t failed;
	uint64_t failed_seq;
	int first_err;
};

/* NULL with errno set. Free with ack_handoff__free once no thread posts. */
struct ack_handoff *ack_handoff__new(void);
void ack_handoff__free(struct ack_handoff *h); /* accepts NULL */
/* Readable (EPOLLIN) while something was posted and not taken. */
int ack_handoff__fd(const struct ack_handoff *h);
void ack_handoff__post(struct ack_handoff *h, uint64_t seq, uint64_t acked_through, int err);
/* true when anything was posted since the last take (t filled), else
 * false (t zeroed). Clears the fd's readiness. */
bool ack_handoff__take(struct ack_handoff *h, struct ack_taken *t);

#endif /* WACHT_ACK_HANDOFF_H */
