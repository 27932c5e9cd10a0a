/* SPDX-License-Identifier: Apache-2.0 */
/* test_ack_handoff.c: acks posted from other threads reach the loop's
 * thread through the eventfd: readiness, merging (highest acked_through,
 * first error), nothing lost under concurrent posters, an empty take. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ack_handoff.h"

static bool readable(const struct ack_handoff *h)
{
	struct pollfd p = { .fd = ack_handoff__fd(h), .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_merge_and_readiness(void **state)
{
	struct ack_handoff *h = ack_handoff__new();
	struct ack_taken t;

	(void)state;
	assert_non_null(h);
	assert_false(readable(h));
	assert_false(ack_handoff__take(h, &t));
	assert_int_equal(t.acked_through, 0);

	/* out of order: the highest cumulative value wins */
	ack_handoff__post(h, 3, 3, 0);
	assert_true(readable(h));
	ack_handoff__post(h, 5, 5, 0);
	ack_handoff__post(h, 4, 4, 0);
	ack_handoff__post(h, 7, 5, -ETIMEDOUT);
	ack_handoff__post(h, 8, 5, -ENOTCONN);
	assert_true(ack_handoff__take(h, &t));
	assert_false(readable(h));
	assert_int_equal(t.acked_through, 5);
	assert_int_equal(t.failed, 2);
	assert_int_equal(t.failed_seq, 7);
	assert_int_equal(t.first_err, -ETIMEDOUT);

	/* the failures were taken; acked_through is never lowered */
	ack_handoff__post(h, 6, 2, 0);
	assert_true(ack_handoff__take(h, &t));
	assert_int_equal(t.acked_through, 5);
	assert_int_equal(t.failed, 0);
	assert_int_equal(t.first_err, 0);
	assert_false(ack_handoff__take(h, &t));
	assert_false(readable(h));
	ack_handoff__free(h);
	ack_handoff__free(NULL);
}

#define POSTERS 4
#define PER_POSTER 20000

struct poster {
	struct ack_handoff *h;
	unsigned id;
};

static void *post_many(void *arg)
{
	struct poster *p = arg;

	/* poster i posts seqs i+1, i+1+POSTERS, ...; each a failure when
	 * seq % 1000 == 0 */
	for (uint64_t k = 0; k < PER_POSTER; k++) {
		uint64_t seq = p->id + 1 + k * POSTERS;

		ack_handoff__post(p->h, seq, seq, seq % 1000 == 0 ? -EIO : 0);
	}
	return NULL;
}

static void test_concurrent_posters(void **state)
{
	struct ack_handoff *h = ack_handoff__new();
	struct poster ps[POSTERS];
	pthread_t th[POSTERS];
	uint64_t failed = 0, through = 0;
	struct ack_taken t;

	(void)state;
	assert_non_null(h);
	for (unsigned i = 0; i < POSTERS; i++) {
		ps[i] = (struct poster){ h, i };
		assert_int_equal(pthread_create(&th[i], NULL, post_many, &ps[i]), 0);
	}
	/* the loop: wait for readiness, take; until every poster is done */
	bool joined[POSTERS] = { false };
	for (unsigned done = 0; done < POSTERS;) {
		struct pollfd p = { .fd = ack_handoff__fd(h), .events = POLLIN };

		if (poll(&p, 1, 10) == 1 && ack_handoff__take(h, &t)) {
			assert_true(t.acked_through >= through);
			through = t.acked_through;
			failed += t.failed;
		}
		for (unsigned i = 0; i < POSTERS; i++)
			if (!joined[i] && pthread_tryjoin_np(th[i], NULL) == 0) {
				joined[i] = true;
				done++;
			}
	}
	/* what was posted after the last take is readable, not lost */
	if (readable(h)) {
		assert_true(ack_handoff__take(h, &t));
		through = t.acked_through;
		failed += t.failed;
	}
	assert_false(readable(h));
	assert_int_equal(through, (uint64_t)POSTERS * PER_POSTER);
	assert_int_equal(failed, (uint64_t)POSTERS * PER_POSTER / 1000);
	ack_handoff__free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_and_readiness),
		cmocka_unit_test(test_concurrent_posters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
