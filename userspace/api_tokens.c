// SPDX-License-Identifier: Apache-2.0
/* api_tokens.c: loading the tokens file and finding a presented token. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "api_tokens.h"

struct api_tokens {
	struct api_token *v;
	size_t n;
};

void api_tokens__free(struct api_tokens *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].name);
		for (size_t j = 0; j < t->v[i].n_ns; j++)
			free(t->v[i].ns[j]);
		free(t->v[i].ns);
	}
	free(t->v);
	free(t);
}

size_t api_tokens__count(const struct api_tokens *t)
{
	return t ? t->n : 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._@-", *s)))
			return false;
	return true;
}

/* A Kubernetes namespace name (RFC 1123 label), which is also all a
 * scope can usefully name. */
static bool ns_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] == '-' && i && i + 1 < n)))
			return false;
	return true;
}

/* One line's fields into tok. NULL or the reason it is wrong. */
static const char *parse_line(char *line, struct api_token *tok)
{
	char *f[4], *save = NULL, *p;
	size_t n = 0;

	for (p = strtok_r(line, " \t\r", &save); p && n < 4; p = strtok_r(NULL, " \t\r", &save))
		f[n++] = p;
	if (n != 3)
		return "expected NAME SHA256 SCOPE";
	if (!name_ok(f[0]))
		return "bad NAME (letters, digits and ._@- only)";
	if (strlen(f[1]) != 2 * API_TOKEN_HASH_LEN)
		return "bad SHA256 (64 hex digits of sha256(token) expected)";
	for (size_t i = 0; i < API_TOKEN_HASH_LEN; i++) {
		int hi = hexval(f[1][2 * i]), lo = hexval(f[1][2 * i + 1]);

		if (hi < 0 || lo < 0)
			return "bad SHA256 (64 hex digits of sha256(token) expected)";
		tok->hash[i] = (unsigned char)(hi << 4 | lo);
	}
	tok->name = strdup(f[0]);
	if (!tok->name)
		return "out of memory";
	if (!strcmp(f[2], "*")) {
		tok->all = true;
		return NULL;
	}
	for (p = f[2];;) {
		char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char **v;

		if (!ns_ok(p, len))
			return "bad SCOPE (`*` or namespaces separated by commas)";
		v = reallocarray(tok->ns, tok->n_ns + 1, sizeof(*v));
		if (!v)
			return "out of memory";
		tok->ns = v;
		tok->ns[tok->n_ns] = strndup(p, len);
		if (!tok->ns[tok->n_ns])
			return "out of memory";
		tok->n_ns++;
		if (!comma)
			return NULL;
		p = comma + 1;
	}
}

static void set_err(char **err, const char *name, unsigned line, const char *why)
{
	int rc;

	if (!err)
		return;
	if (line)
		rc = asprintf(err, "api: failed to load tokens %s: line %u: %s", name, line, why);
	else
		rc = asprintf(err, "api: failed to load tokens %s: %s", name, why);
	if (rc < 0)
		*err = NULL;
}

struct api_tokens *api_tokens__parse(const char *name, const char *buf, size_t len, char **err)
{
	struct api_tokens *t = calloc(1, sizeof(*t));
	const char *why = NULL, *end = buf + len;
	unsigned lineno = 0;
	char *line = NULL;

	if (err)
		*err = NULL;
	if (!t) {
		set_err(err, name, 0, strerror(ENOMEM));
		return NULL;
	}
	while (buf < end && !why) {
		const char *nl = memchr(buf, '\n', (size_t)(end - buf));
		size_t n = nl ? (size_t)(nl - buf) : (size_t)(end - buf);
		struct api_token *v;
		char *hash;

		lineno++;
		free(line);
		line = strndup(buf, n);
		buf += n + (nl ? 1 : 0);
		if (!line) {
			why = "out of memory";
			break;
		}
		if (strlen(line) != n) {
			why = "NUL byte in line";
			break;
		}
		if ((hash = strchr(line, '#')))
			*hash = 0;
		if (line[strspn(line, " \t\r")] == 0)
			continue;
		v = reallocarray(t->v, t->n + 1, sizeof(*v));
		if (!v) {
			why = "out of memory";
			break;
		}
		t->v = v;
		memset(&t->v[t->n], 0, sizeof(t->v[t->n]));
		why = parse_line(line, &t->v[t->n]);
		t->n++;
		for (size_t i = 0; !why && i + 1 < t->n; i++) {
			if (!strcmp(t->v[i].name, t->v[t->n - 1].name))
				why = "duplicate NAME";
			else if (!memcmp(t->v[i].hash, t->v[t->n - 1].hash, API_TOKEN_HASH_LEN))
				why = "duplicate SHA256 (two names for one token)";
		}
	}
	free(line);
	if (!why && t->n == 0) {
		lineno = 0;
		why = "no tokens (NAME SHA256 SCOPE per line): the API would refuse everyone";
	}
	if (why) {
		set_err(err, name, lineno, why);
		api_tokens__free(t);
		return NULL;
	}
	return t;
}

struct api_tokens *api_tokens__load(const char *path, char **err)
{
	struct api_tokens *t;
	char *buf = NULL;
	size_t len = 0;
	FILE *f, *m;
	char chunk[4096];
	size_t n;

	f = fopen(path, "re");
	if (!f) {
		set_err(err, path, 0, strerror(errno));
		return NULL;
	}
	m = open_memstream(&buf, &len);
	if (!m) {
		fclose(f);
		set_err(err, path, 0, strerror(ENOMEM));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	if (ferror(f)) {
		fclose(f);
		fclose(m);
		free(buf);
		set_err(err, path, 0, strerror(EIO));
		return NULL;
	}
	fclose(f);
	fclose(m);
	t = api_tokens__parse(path, buf, len, err);
	free(buf);
	return t;
}

const struct api_token *api_tokens__find(const struct api_tokens *t, const char *token,
					 size_t len)
{
	unsigned char h[API_TOKEN_HASH_LEN];
	const struct api_token *found = NULL;

	if (!t || !token || !len)
		return NULL;
	SHA256((const unsigned char *)token, len, h);
	/* no early exit: every hash costs the same whatever matched */
	for (size_t i = 0; i < t->n; i++) {
		int diff = CRYPTO_memcmp(h, t->v[i].hash, API_TOKEN_HASH_LEN);

		if (diff == 0)
			found = &t->v[i];
	}
	return found;
}

bool api_token__sees(const struct api_token *tok, const char *ns)
{
	if (tok->all)
		return true;
	for (size_t i = 0; i < tok->n_ns; i++)
		if (!strcmp(tok->ns[i], ns))
			return true;
	return false;
}
