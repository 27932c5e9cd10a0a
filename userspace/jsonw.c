// SPDX-License-Identifier: Apache-2.0
/* jsonw.c: streaming JSON writer for one-object-per-line output. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

/* One finding is a few hundred bytes; paths and argv make it grow to a few
 * KiB at most, after which the buffer is reused without reallocation. */
#define JSONW_INIT_CAP 1024

struct jsonw {
	char *buf;         /* always NUL-terminated at len */
	size_t len;
	size_t cap;        /* > len */
	int err;
	unsigned int depth;  /* open containers, <= JSONW_DEPTH_MAX */
	uint64_t is_arr;   /* bit d: the container at depth d is an array */
	uint64_t has_item; /* bit d: depth d holds a value (bit 0: top level) */
};

struct jsonw *jsonw__new(void)
{
	struct jsonw *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->buf = malloc(JSONW_INIT_CAP);
	if (!w->buf) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	w->cap = JSONW_INIT_CAP;
	w->buf[0] = '\0';
	return w;
}

void jsonw__free(struct jsonw *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w);
}

void jsonw__reset(struct jsonw *w)
{
	if (!w)
		return;
	w->len = 0;
	w->buf[0] = '\0';
	w->err = 0;
	w->depth = 0;
	w->is_arr = 0;
	w->has_item = 0;
}

/* Make room for n more bytes and the NUL. */
static bool jsonw_reserve(struct jsonw *w, size_t n)
{
	size_t need, cap;
	char *buf;

	if (w->err)
		return false;
	if (n < w->cap - w->len)
		return true;
	if (n > SIZE_MAX / 4 - w->len) {
		w->err = -ENOMEM;
		return false;
	}
	need = w->len + n + 1;
	cap = w->cap;
	while (cap < need)
		cap *= 2;
	buf = realloc(w->buf, cap);
	if (!buf) {
		w->err = -ENOMEM;
		return false;
	}
	w->buf = buf;
	w->cap = cap;
	return true;
}

static void jsonw_put(struct jsonw *w, const char *s, size_t n)
{
	if (!jsonw_reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void jsonw_putc(struct jsonw *w, char c)
{
	jsonw_put(w, &c, 1);
}

/* Length of the valid UTF-8 sequence at s (n > 0 bytes left, s[0] >=
 * 0x80), 0 if it is not one. RFC 3629 table 4: the second byte's range
 * excludes overlong forms (E0, F0), surrogates (ED) and code points above
 * U+10FFFF (F4); C0, C1 and F5..FF never start a sequence. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

bool jsonw_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_seq(p + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

static void jsonw_put_str(struct jsonw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	char *o;

	/* At worst every byte becomes \u00XX: reserve once so that the loop
	 * copies runs of plain bytes without a bounds check per byte. */
	if (n > (SIZE_MAX / 4 - 2) / 6) {
		w->err = -ENOMEM;
		return;
	}
	if (!jsonw_reserve(w, n * 6 + 2))
		return;
	o = w->buf + w->len;
	*o++ = '"';
	while (i < n) {
		size_t start = i;
		unsigned char c;

		while (i < n) {
			c = p[i];
			if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
				i++;
			else if (c >= 0x80 && (k = utf8_seq(p + i, n - i)))
				i += k;
			else
				break;
		}
		memcpy(o, p + start, i - start);
		o += i - start;
		if (i == n)
			break;
		c = p[i++];
		*o++ = '\\';
		switch (c) {
		case '"':
			*o++ = '"';
			break;
		case '\\':
			*o++ = '\\';
			break;
		case '\b':
			*o++ = 'b';
			break;
		case '\f':
			*o++ = 'f';
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		default: /* other controls, DEL, and bytes of invalid UTF-8 */
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 0xf];
			break;
		}
	}
	*o++ = '"';
	w->len = (size_t)(o - w->buf);
	w->buf[w->len] = '\0';
}

/* Everything that precedes a value: the separator and the member name.
 * false when nothing may be written. */
static bool jsonw_value(struct jsonw *w, const char *key)
{
	uint64_t bit;
	bool in_obj;

	if (!w || w->err)
		return false;
	bit = 1ull << w->depth;
	in_obj = w->depth > 0 && !(w->is_arr & bit);
	if (in_obj != (key != NULL)) {
		w->err = -EINVAL;
		return false;
	}
	if (w->has_item & bit)
		jsonw_putc(w, w->depth > 0 ? ',' : '\n');
	w->has_item |= bit;
	if (key) {
		jsonw_put_str(w, key, strlen(key));
		jsonw_putc(w, ':');
	}
	return w->err == 0;
}

static void jsonw_begin(struct jsonw *w, const char *key, bool arr)
{
	uint64_t bit;

	if (w && !w->err && w->depth >= JSONW_DEPTH_MAX)
		w->err = -EINVAL;
	if (!jsonw_value(w, key))
		return;
	jsonw_putc(w, arr ? '[' : '{');
	w->depth++;
	bit = 1ull << w->depth;
	if (arr)
		w->is_arr |= bit;
	else
		w->is_arr &= ~bit;
	w->has_item &= ~bit;
}

static void jsonw_end(struct jsonw *w, bool arr)
{
	if (!w || w->err)
		return;
	if (w->depth == 0 || !!(w->is_arr & (1ull << w->depth)) != arr) {
		w->err = -EINVAL;
		return;
	}
	jsonw_putc(w, arr ? ']' : '}');
	w->depth--;
}

void jsonw__obj_begin(struct jsonw *w, const char *key)
{
	jsonw_begin(w, key, false);
}

void jsonw__obj_end(struct jsonw *w)
{
	jsonw_end(w, false);
}

void jsonw__arr_begin(struct jsonw *w, const char *key)
{
	jsonw_begin(w, key, true);
}

void jsonw__arr_end(struct jsonw *w)
{
	jsonw_end(w, true);
}

void jsonw__strn(struct jsonw *w, const char *key, const char *s, size_t n)
{
	if (!jsonw_value(w, key))
		return;
	if (!s)
		jsonw_put(w, "null", 4);
	else
		jsonw_put_str(w, s, n);
}

void jsonw__str(struct jsonw *w, const char *key, const char *s)
{
	jsonw__strn(w, key, s, s ? strlen(s) : 0);
}

static void jsonw_put_num(struct jsonw *w, uint64_t mag, bool neg)
{
	char tmp[21]; /* 20 digits of UINT64_MAX, or '-' and 19 digits */
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag);
	if (neg)
		tmp[--i] = '-';
	jsonw_put(w, tmp + i, sizeof(tmp) - i);
}

void jsonw__u64(struct jsonw *w, const char *key, uint64_t v)
{
	if (jsonw_value(w, key))
		jsonw_put_num(w, v, false);
}

void jsonw__i64(struct jsonw *w, const char *key, int64_t v)
{
	/* Negate in unsigned arithmetic: -INT64_MIN overflows int64_t. */
	if (jsonw_value(w, key))
		jsonw_put_num(w, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0);
}

void jsonw__bool(struct jsonw *w, const char *key, bool v)
{
	if (!jsonw_value(w, key))
		return;
	if (v)
		jsonw_put(w, "true", 4);
	else
		jsonw_put(w, "false", 5);
}

void jsonw__null(struct jsonw *w, const char *key)
{
	if (jsonw_value(w, key))
		jsonw_put(w, "null", 4);
}

const char *jsonw__data(const struct jsonw *w, size_t *len)
{
	if (!w || w->err) {
		if (len)
			*len = 0;
		return "";
	}
	if (len)
		*len = w->len;
	return w->buf;
}

int jsonw__error(const struct jsonw *w)
{
	if (!w)
		return -EINVAL;
	return w->err;
}
