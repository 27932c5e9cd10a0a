// SPDX-License-Identifier: Apache-2.0
/* bytebuf.c: a growable byte queue (see bytebuf.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bytebuf.h"

uint8_t *bytebuf_reserve(struct bytebuf *b, size_t n)
{
	if (b->off && b->len + n > b->cap) {
		/* reuse the consumed front before growing */
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (n > SIZE_MAX / 2 - b->len)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return NULL;
		b->data = d;
		b->cap = cap;
	}
	return b->data + b->len;
}

void bytebuf_commit(struct bytebuf *b, size_t n)
{
	b->len += n;
}

int bytebuf_append(struct bytebuf *b, const void *p, size_t n)
{
	uint8_t *at;

	if (!n)
		return 0;
	at = bytebuf_reserve(b, n);
	if (!at)
		return -ENOMEM;
	memcpy(at, p, n);
	b->len += n;
	return 0;
}

void bytebuf_consume(struct bytebuf *b, size_t n)
{
	b->off += n < b->len - b->off ? n : b->len - b->off;
	if (b->off == b->len)
		b->off = b->len = 0;
}

void bytebuf_clear(struct bytebuf *b)
{
	b->off = b->len = 0;
}

void bytebuf_release(struct bytebuf *b)
{
	free(b->data);
	*b = (struct bytebuf){ 0 };
}
