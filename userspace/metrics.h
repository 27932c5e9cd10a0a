/* SPDX-License-Identifier: Apache-2.0 */
/* metrics.h: one snapshot of Prometheus series (name, labels, value) and
 * its text exposition. Not thread-safe: a snapshot is filled by one thread,
 * then handed over whole (health.h). */
#ifndef WACHT_METRICS_H
#define WACHT_METRICS_H

#include <stddef.h>
#include <stdio.h>

struct metrics;

struct metrics *metrics__new(void);    /* NULL on ENOMEM */
void metrics__free(struct metrics *m); /* accepts NULL */

/* Sets the series name{labels} (labels: NULL or "" for none, else
 * preformatted `k="v",k2="v2"`, see metrics_labels). A name ending in
 * _total is exposed as a counter, any other as a gauge. 0, -EINVAL for a
 * name Prometheus rejects, -ENOMEM. */
int metrics__set(struct metrics *m, const char *name, const char *labels, double value);
/* Adds to the series (created at 0). */
int metrics__add(struct metrics *m, const char *name, const char *labels, double value);
/* The # HELP text of a name (one line). */
int metrics__help(struct metrics *m, const char *name, const char *text);
/* Adds every series of src to dst's, and takes src's help texts. */
int metrics__merge(struct metrics *dst, const struct metrics *src);
/* The value of a series, or -1 when there is none (for tests and checks). */
double metrics__get(const struct metrics *m, const char *name, const char *labels);

/* The text exposition format (version 0.0.4): one HELP/TYPE block per
 * name, names and labels sorted, so two snapshots diff line by line. */
void metrics__write(const struct metrics *m, FILE *out);

/* `k1="v1"` or `k1="v1",k2="v2"` (k2 NULL: one label) into buf, values
 * escaped as the format requires (\\, \" and \n). Returns buf; truncated
 * (never overflowing) when it does not fit. */
char *metrics_labels(char *buf, size_t size, const char *k1, const char *v1, const char *k2,
		     const char *v2);

#endif
