/* SPDX-License-Identifier: Apache-2.0 */
/* bytebuf.h: a growable byte queue (append at the end, consume from the
 * front), the output buffer of a stream connection. */
#ifndef WACHT_BYTEBUF_H
#define WACHT_BYTEBUF_H

#include <stddef.h>
#include <stdint.h>

struct bytebuf {
	uint8_t *data;
	size_t off;   /* start of the unconsumed bytes */
	size_t len;   /* end of the bytes */
	size_t cap;
};

/* A zeroed struct bytebuf is empty and valid. 0 or -ENOMEM. */
int bytebuf_append(struct bytebuf *b, const void *p, size_t n);
/* Makes room for n more bytes and returns where they go (then call
 * bytebuf_commit with how many were written); NULL on -ENOMEM. */
uint8_t *bytebuf_reserve(struct bytebuf *b, size_t n);
void bytebuf_commit(struct bytebuf *b, size_t n);
/* Drops n bytes from the front. */
void bytebuf_consume(struct bytebuf *b, size_t n);
static inline size_t bytebuf_size(const struct bytebuf *b)
{
	return b->len - b->off;
}
static inline const uint8_t *bytebuf_head(const struct bytebuf *b)
{
	return b->data ? b->data + b->off : NULL;
}
void bytebuf_clear(struct bytebuf *b);
void bytebuf_release(struct bytebuf *b); /* frees the memory; b is empty after */

#endif /* WACHT_BYTEBUF_H */
