/* SPDX-License-Identifier: Apache-2.0 */
/* test_spool.c: the sensor's on-disk spool (order, ack, torn tail, bound). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "spool.h"

struct fx {
	char dir[64];
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/wacht-spool-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Collects peeked records as "seq:payload," */
struct seen {
	char text[4096];
	int n;
	int stop_after;
};

static int collect(void *ctx, uint64_t seq, const void *data, size_t len)
{
	struct seen *s = ctx;
	size_t at = strlen(s->text);
	snprintf(s->text + at, sizeof(s->text) - at, "%llu:%.*s,", (unsigned long long)seq,
		 (int)len, (const char *)data);
	s->n++;
	return s->stop_after && s->n == s->stop_after ? 42 : 0;
}

static const char *peek_all(struct spool *sp, uint64_t after, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(spool__peek(sp, after, collect, s), 0);
	return s->text;
}

static void append_str(struct spool *sp, const char *str, uint64_t want)
{
	uint64_t seq = 0;
	assert_int_equal(spool__append(sp, str, strlen(str), &seq), 0);
	assert_int_equal(seq, want);
}

static struct spool *open_ok(const char *dir, uint64_t max)
{
	int err = 0;
	struct spool *sp = spool__open(dir, max, &err);
	assert_int_equal(err, 0);
	assert_non_null(sp);
	return sp;
}

static int count_segs(const char *dir)
{
	char cmd[160];
	FILE *p;
	int n = -1;
	snprintf(cmd, sizeof(cmd), "ls %s | grep -c '^seg-'", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static void test_empty_and_bad_dir(void **state)
{
	struct fx *f = *state;
	struct seen s;
	int err = 0;
	struct spool *sp = open_ok(f->dir, 1 << 20);

	assert_int_equal(spool__pending_count(sp), 0);
	assert_int_equal(spool__pending_bytes(sp), 0);
	assert_int_equal(spool__dropped(sp), 0);
	assert_int_equal(spool__next_seq(sp), 1);
	assert_string_equal(peek_all(sp, 0, &s), "");
	assert_int_equal(spool__ack(sp, 1), -EINVAL);
	spool__free(sp);
	spool__free(NULL);

	assert_null(spool__open("/nonexistent/wacht-spool", 1 << 20, &err));
	assert_int_equal(err, -ENOENT);
	assert_null(spool__open(f->dir, 10, &err));
	assert_int_equal(err, -EINVAL);
}

static void test_append_peek_order(void **state)
{
	struct fx *f = *state;
	struct seen s;
	uint64_t seq;
	struct spool *sp = open_ok(f->dir, 1 << 20);

	append_str(sp, "alpha", 1);
	append_str(sp, "beta", 2);
	append_str(sp, "gamma", 3);
	assert_int_equal(spool__pending_count(sp), 3);
	assert_int_equal(spool__pending_bytes(sp), 3 * SPOOL_HEADER_LEN + 5 + 4 + 5);
	assert_string_equal(peek_all(sp, 0, &s), "1:alpha,2:beta,3:gamma,");
	assert_string_equal(peek_all(sp, 1, &s), "2:beta,3:gamma,");
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	assert_int_equal(spool__peek(sp, 0, collect, &s), 42);
	assert_string_equal(s.text, "1:alpha,2:beta,");
	assert_int_equal(spool__append(sp, "x", 0, &seq), -EINVAL);
	spool__free(sp);
}

static void test_ack_deletes_and_survives_reopen(void **state)
{
	struct fx *f = *state;
	struct seen s;
	/* seg_max = 400 / 4 = 100 bytes: each 30-byte record (20 + 10)
	 * fills a segment three at a time */
	struct spool *sp = open_ok(f->dir, 400);

	for (int i = 1; i <= 7; i++) {
		char p[32];
		snprintf(p, sizeof(p), "record-%03d", i);
		append_str(sp, p, (uint64_t)i);
	}
	assert_int_equal(count_segs(f->dir), 3); /* 1-3, 4-6, 7 */
	assert_int_equal(spool__ack(sp, 4), 0);
	assert_int_equal(count_segs(f->dir), 2); /* 4-6 still holds 5, 6 */
	assert_int_equal(spool__pending_count(sp), 3);
	assert_int_equal(spool__pending_bytes(sp), 90);
	assert_string_equal(peek_all(sp, 0, &s), "5:record-005,6:record-006,7:record-007,");
	spool__free(sp);

	sp = open_ok(f->dir, 400);
	assert_int_equal(spool__acked(sp), 4);
	assert_int_equal(spool__pending_count(sp), 3);
	assert_string_equal(peek_all(sp, 0, &s), "5:record-005,6:record-006,7:record-007,");
	assert_int_equal(spool__ack(sp, 7), 0);
	assert_int_equal(count_segs(f->dir), 0);
	assert_int_equal(spool__pending_count(sp), 0);
	spool__free(sp);

	/* the sequence continues even with no segment left */
	sp = open_ok(f->dir, 400);
	assert_int_equal(spool__next_seq(sp), 8);
	append_str(sp, "record-008", 8);
	assert_string_equal(peek_all(sp, 0, &s), "8:record-008,");
	spool__free(sp);
}

static void test_seq_continues_after_reopen(void **state)
{
	struct fx *f = *state;
	struct seen s;
	struct spool *sp = open_ok(f->dir, 1 << 20);

	append_str(sp, "a", 1);
	append_str(sp, "b", 2);
	spool__free(sp);
	sp = open_ok(f->dir, 1 << 20);
	append_str(sp, "c", 3);
	assert_string_equal(peek_all(sp, 0, &s), "1:a,2:b,3:c,");
	spool__free(sp);
}

static char *only_seg(const char *dir)
{
	static char path[160];
	snprintf(path, sizeof(path), "%s/seg-%020d.log", dir, 1);
	return path;
}

static void test_torn_tail_truncated(void **state)
{
	struct fx *f = *state;
	struct seen s;
	struct stat st;
	struct spool *sp = open_ok(f->dir, 1 << 20);

	append_str(sp, "first", 1);
	append_str(sp, "second", 2);
	append_str(sp, "third", 3);
	spool__free(sp);

	/* a crash mid-record: the last one has only part of its payload */
	assert_int_equal(stat(only_seg(f->dir), &st), 0);
	assert_int_equal(st.st_size, 3 * SPOOL_HEADER_LEN + 5 + 6 + 5);
	assert_int_equal(truncate(only_seg(f->dir), st.st_size - 2), 0);
	sp = open_ok(f->dir, 1 << 20);
	assert_string_equal(peek_all(sp, 0, &s), "1:first,2:second,");
	assert_int_equal(stat(only_seg(f->dir), &st), 0);
	assert_int_equal(st.st_size, 2 * SPOOL_HEADER_LEN + 5 + 6);
	append_str(sp, "again", 3);
	spool__free(sp);

	/* the last record's crc is wrong (a flipped payload byte) */
	{
		int fd = open(only_seg(f->dir), O_WRONLY);
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, "X", 1, 2 * SPOOL_HEADER_LEN + 5 + 6 + SPOOL_HEADER_LEN), 1);
		close(fd);
	}
	sp = open_ok(f->dir, 1 << 20);
	assert_string_equal(peek_all(sp, 0, &s), "1:first,2:second,");
	assert_int_equal(spool__pending_count(sp), 2);
	append_str(sp, "fourth", 3);
	assert_string_equal(peek_all(sp, 0, &s), "1:first,2:second,3:fourth,");
	spool__free(sp);

	/* a header cut short */
	assert_int_equal(stat(only_seg(f->dir), &st), 0);
	assert_int_equal(truncate(only_seg(f->dir), st.st_size - SPOOL_HEADER_LEN - 6 + 7), 0);
	sp = open_ok(f->dir, 1 << 20);
	assert_string_equal(peek_all(sp, 0, &s), "1:first,2:second,");
	spool__free(sp);
}

static void test_overflow_drops_oldest(void **state)
{
	struct fx *f = *state;
	struct seen s;
	/* 30-byte records, 3 per 100-byte segment, at most 400 bytes on disk */
	struct spool *sp = open_ok(f->dir, 400);

	for (int i = 1; i <= 12; i++) {
		char p[32];
		snprintf(p, sizeof(p), "record-%03d", i);
		append_str(sp, p, (uint64_t)i);
	}
	/* segments 1-3, 4-6, 7-9, 10-12: 360 bytes, nothing dropped yet */
	assert_int_equal(spool__dropped(sp), 0);
	assert_int_equal(spool__pending_count(sp), 12);
	assert_int_equal(spool__ack(sp, 1), 0);
	/* 13 opens a fifth segment: 390 bytes fit */
	append_str(sp, "record-013", 13);
	assert_int_equal(spool__dropped(sp), 0);
	/* 14 would make 420: segment 1-3 goes, 2 and 3 were not acked */
	append_str(sp, "record-014", 14);
	assert_int_equal(spool__dropped(sp), 2);
	assert_int_equal(spool__pending_count(sp), 11);
	assert_int_equal(count_segs(f->dir), 4);
	memset(&s, 0, sizeof(s));
	assert_int_equal(spool__peek(sp, 0, collect, &s), 0);
	assert_int_equal(s.n, 11);
	assert_int_equal(strncmp(s.text, "4:record-004,", 13), 0);
	assert_non_null(strstr(s.text, "14:record-014,"));
	assert_int_equal(spool__append(sp, NULL, 400, &(uint64_t){ 0 }), -EMSGSIZE);
	spool__free(sp);

	/* the count and the surviving records persist */
	sp = open_ok(f->dir, 400);
	assert_int_equal(spool__dropped(sp), 2);
	assert_int_equal(spool__pending_count(sp), 11);
	assert_int_equal(spool__next_seq(sp), 15);
	for (int i = 15; i <= 17; i++) {
		char p[32];
		snprintf(p, sizeof(p), "record-%03d", i);
		append_str(sp, p, (uint64_t)i);
	}
	/* 16 opens a segment: 4-6 (all unacked) goes, 3 more dropped */
	assert_int_equal(spool__dropped(sp), 5);
	assert_string_equal(peek_all(sp, 12, &s), "13:record-013,14:record-014,15:record-015,"
						   "16:record-016,17:record-017,");
	spool__free(sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_and_bad_dir, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_append_peek_order, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ack_deletes_and_survives_reopen, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_seq_continues_after_reopen, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_truncated, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_overflow_drops_oldest, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
