// SPDX-License-Identifier: Apache-2.0
/* ack_handoff.c: acks from a library thread to the event loop (see ack_handoff.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "ack_handoff.h"

struct ack_handoff {
	int efd;
	pthread_mutex_t lock; /* pending and posted */
	struct ack_taken pending;
	bool posted;
};

struct ack_handoff *ack_handoff__new(void)
{
	struct ack_handoff *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	/* non-blocking: the poster must never wait for the loop, and the
	 * loop reads it only to clear readiness */
	h->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->efd < 0) {
		int err = errno;

		free(h);
		errno = err;
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

void ack_handoff__free(struct ack_handoff *h)
{
	if (!h)
		return;
	close(h->efd);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int ack_handoff__fd(const struct ack_handoff *h)
{
	return h->efd;
}

void ack_handoff__post(struct ack_handoff *h, uint64_t seq, uint64_t acked_through, int err)
{
	uint64_t one = 1;
	bool wake;

	pthread_mutex_lock(&h->lock);
	if (acked_through > h->pending.acked_through)
		h->pending.acked_through = acked_through;
	if (err) {
		if (!h->pending.failed) {
			h->pending.first_err = err;
			h->pending.failed_seq = seq;
		}
		h->pending.failed++;
	}
	wake = !h->posted;
	h->posted = true;
	pthread_mutex_unlock(&h->lock);
	/* one wakeup per take: the counter cannot overflow, and a write to
	 * a non-blocking eventfd below its limit does not fail */
	if (wake && write(h->efd, &one, sizeof(one)) != sizeof(one))
		return;
}

bool ack_handoff__take(struct ack_handoff *h, struct ack_taken *t)
{
	uint64_t v;
	bool posted;

	/* read first: a post after it sets posted again and writes again */
	if (read(h->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		v = 0;
	pthread_mutex_lock(&h->lock);
	posted = h->posted;
	*t = h->pending;
	/* acked_through stays: it is cumulative, a later post may not lower it */
	h->pending.failed = 0;
	h->pending.failed_seq = 0;
	h->pending.first_err = 0;
	h->posted = false;
	pthread_mutex_unlock(&h->lock);
	if (!posted)
		memset(t, 0, sizeof(*t));
	return posted;
}
