/* SPDX-License-Identifier: Apache-2.0 */
/* common.h: argument parsing, clock and the one result line every workload
 * prints: "<name> ops=N seconds=S ops_per_sec=R". */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline long parse_count(const char *prog, const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v <= 0) {
		fprintf(stderr, "%s: '%s' is not a positive count\n", prog, s);
		exit(2);
	}
	return v;
}

static inline void report(const char *name, long ops, double secs)
{
	printf("%s ops=%ld seconds=%.6f ops_per_sec=%.1f\n", name, ops, secs, ops / secs);
	fflush(stdout);
}

#endif
