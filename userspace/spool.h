/* SPDX-License-Identifier: Apache-2.0 */
/* spool.h: the sensor's bounded, crash-safe on-disk queue of records (packed
 * FindingBatch frames) kept until the aggregator acknowledges them. */
#ifndef WACHT_SPOOL_H
#define WACHT_SPOOL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Layout of a spool directory (owned by one process at a time):
 *   seg-<first_seq, 20 digits>.log  append-only segments of records
 *   state                           acked, floor, dropped, next (text),
 *                                   replaced atomically (tmp + rename)
 * A record is a 20-byte header {magic "WSP1", u32 len, u64 seq, u32 crc}
 * (host byte order: a spool is never moved between machines) followed by
 * len payload bytes; crc is CRC-32 (the zlib/IEEE polynomial) of len, seq
 * and the payload. Sequence numbers start at 1, grow by one per append and
 * are never reused, also across restarts.
 *
 * Durability: every append is fdatasync'ed before spool__append returns, so
 * a record whose seq was handed out survives a crash. Findings arrive in
 * batches (one append per batch), which keeps the sync rate low. A crash in
 * the middle of an append leaves a torn tail; spool__open truncates a
 * segment at its first record that is partial, has a bad magic or crc, or
 * does not continue the sequence, and keeps every record before it.
 *
 * Bound: the segment files never hold more than max_bytes. A segment is cut
 * at max_bytes / 4, so that making room drops at most a quarter of the
 * spool. When an append would exceed max_bytes the OLDEST segments are
 * deleted whole and their unacknowledged records counted in
 * spool__dropped(): the newest findings describe what is happening now,
 * which is what a responder needs after an outage, and the aggregator is
 * told how many older ones were lost. The count persists across restarts.
 */
struct spool;

/* Opens (creating the files, not dir) the spool in dir. NULL on failure
 * with *err = -errno: -ENOENT/-ENOTDIR/-EACCES for a bad dir, -EINVAL if
 * max_bytes cannot hold one record header, -EBADMSG for a corrupt state
 * file. The caller frees with spool__free. */
struct spool *spool__open(const char *dir, uint64_t max_bytes, int *err);
/* Closes the spool; accepts NULL. */
void spool__free(struct spool *sp);

/* Appends one record of len bytes (len > 0) and sets *seq to its sequence
 * number. 0, -EMSGSIZE if the record alone exceeds max_bytes (or 4 GiB),
 * or -errno from the file system. */
int spool__append(struct spool *sp, const void *data, size_t len, uint64_t *seq);

/* Called by spool__peek for each record; non-zero stops the walk and is
 * returned by spool__peek. data is valid only during the call. */
typedef int (*spool_record_fn)(void *ctx, uint64_t seq, const void *data, size_t len);

/* Calls fn, in sequence order, for every unacknowledged record with a
 * sequence number above after_seq (0: all of them). 0 when all were
 * visited, fn's non-zero value, -EIO if a stored record no longer matches
 * its crc, or -errno. */
int spool__peek(struct spool *sp, uint64_t after_seq, spool_record_fn fn, void *ctx);

/* Acknowledges every record up to and including seq: they are no longer
 * peeked, fully acknowledged segments are deleted, and the position is
 * persisted. 0, -EINVAL if seq was never handed out, or -errno. */
int spool__ack(struct spool *sp, uint64_t seq);

/* Unacknowledged records still stored: their number, and their bytes
 * (headers included). */
uint64_t spool__pending_count(const struct spool *sp);
uint64_t spool__pending_bytes(const struct spool *sp);
/* Records dropped (never acknowledged) to keep within max_bytes, in the
 * whole life of this spool directory. */
uint64_t spool__dropped(const struct spool *sp);
/* Highest acknowledged sequence number (0: none). */
uint64_t spool__acked(const struct spool *sp);
/* Sequence number the next append gets. */
uint64_t spool__next_seq(const struct spool *sp);

#define SPOOL_HEADER_LEN 20

#endif /* WACHT_SPOOL_H */
