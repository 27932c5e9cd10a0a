/* SPDX-License-Identifier: Apache-2.0 */
/* jsonw.h: streaming JSON writer for one-object-per-line output. */
#ifndef WACHT_JSONW_H
#define WACHT_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A growable buffer that JSON values are appended to. Commas are inserted
 * automatically; containers nest up to JSONW_DEPTH_MAX levels. Values
 * written one after another at the top level are separated by '\n' (JSON
 * Lines), so a batch of findings can be built in one buffer.
 *
 * Strings are escaped per RFC 8259: '"' and '\\', control characters (\n
 * \t \r \b \f short, others \u00XX), DEL as \u007f. Valid UTF-8 passes
 * through unchanged. Each byte of INVALID UTF-8 (bad lead byte, truncated
 * sequence, overlong encoding, surrogate D800-DFFF, above U+10FFFF) is
 * written as \u00XX of that byte: file names and argv are arbitrary bytes,
 * and an alert must neither drop bytes nor merge several into one U+FFFD.
 * Note that a reader decodes \u00e9 to U+00E9, the same as the valid UTF-8
 * "\xc3\xa9"; use jsonw_utf8_valid() to tell the two apart when it matters.
 *
 * Misuse (a key inside an array or at the top level, no key inside an
 * object, nesting deeper than JSONW_DEPTH_MAX, an end that does not match
 * its begin) sets -EINVAL; a failed growth sets -ENOMEM. After either, every
 * call is ignored until jsonw__reset() and the output is unusable.
 */
#define JSONW_DEPTH_MAX 32

struct jsonw;

/* NULL with errno = ENOMEM on failure. Free with jsonw__free(). */
struct jsonw *jsonw__new(void);
void jsonw__free(struct jsonw *w); /* accepts NULL */
/* Empty the buffer (capacity kept) and clear any error. */
void jsonw__reset(struct jsonw *w);

/* key: NULL at the top level or inside an array, the member name inside an
 * object (escaped like any string). */
void jsonw__obj_begin(struct jsonw *w, const char *key);
void jsonw__obj_end(struct jsonw *w);
void jsonw__arr_begin(struct jsonw *w, const char *key);
void jsonw__arr_end(struct jsonw *w);
void jsonw__str(struct jsonw *w, const char *key, const char *s); /* s NULL -> null */
/* n bytes of s, NUL bytes included (as \u0000); s NULL -> null. */
void jsonw__strn(struct jsonw *w, const char *key, const char *s, size_t n);
void jsonw__u64(struct jsonw *w, const char *key, uint64_t v);
void jsonw__i64(struct jsonw *w, const char *key, int64_t v);
void jsonw__bool(struct jsonw *w, const char *key, bool v);
void jsonw__null(struct jsonw *w, const char *key);

/* The text so far, NUL-terminated, no trailing newline; borrowed until the
 * next call on w. len may be NULL. "" (len 0) while jsonw__error() != 0. */
const char *jsonw__data(const struct jsonw *w, size_t *len);
/* 0, -ENOMEM if any growth failed, -EINVAL on misuse (see above). */
int jsonw__error(const struct jsonw *w);

/* true when the n bytes of s are valid UTF-8 (RFC 3629), i.e. jsonw writes
 * them without any \u00XX escape of a byte >= 0x80. */
bool jsonw_utf8_valid(const char *s, size_t n);

#endif /* WACHT_JSONW_H */
