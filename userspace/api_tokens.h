/* SPDX-License-Identifier: Apache-2.0 */
/* api_tokens.h: the API's bearer tokens: a file of names, SHA-256 hashes
 * (never the tokens themselves) and namespace scopes. */
#ifndef WACHT_API_TOKENS_H
#define WACHT_API_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#define API_TOKEN_HASH_LEN 32 /* SHA-256 */

/*
 * The tokens file: one token per line, `NAME SHA256 SCOPE`, fields
 * separated by spaces or tabs; '#' starts a comment, blank lines are
 * skipped.
 *   NAME    who the token is, recorded as ack_by: [A-Za-z0-9._@-]+, unique
 *   SHA256  64 hex digits: sha256 of the token (printf %s TOKEN | sha256sum)
 *   SCOPE   `*` (every namespace: the security team) or a comma-separated
 *           list of namespaces the token may see (host findings, which
 *           have no namespace, are seen by `*` only)
 */
struct api_token {
	char *name;
	unsigned char hash[API_TOKEN_HASH_LEN];
	bool all;      /* scope `*` */
	char **ns;     /* the namespaces, when not all */
	size_t n_ns;
};

struct api_tokens;
/* NULL on failure, with *err "api: failed to load tokens PATH: line N:
 * reason" (or the open error) for the caller to free. Free with
 * api_tokens__free. A file without any token is an error: the API would
 * refuse everyone. */
struct api_tokens *api_tokens__load(const char *path, char **err);
/* The same from a buffer; name is what errors call it. */
struct api_tokens *api_tokens__parse(const char *name, const char *buf, size_t len, char **err);
void api_tokens__free(struct api_tokens *t); /* accepts NULL */
size_t api_tokens__count(const struct api_tokens *t);

/* The token whose hash is sha256(token), or NULL. Every entry is compared
 * in constant time, so the time taken says nothing about which hash (or
 * how much of one) matched. Borrowed from t. */
const struct api_token *api_tokens__find(const struct api_tokens *t, const char *token,
					 size_t len);

/* Whether the token may see findings of namespace ns ("" for the host). */
bool api_token__sees(const struct api_token *tok, const char *ns);

#endif /* WACHT_API_TOKENS_H */
