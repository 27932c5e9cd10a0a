/* SPDX-License-Identifier: Apache-2.0 */
/* tls.h: mutually authenticated TLS (OpenSSL 3) over non-blocking sockets,
 * for the sensor -> aggregator stream; plain TCP only when asked for. */
#ifndef WACHT_TLS_H
#define WACHT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_config {
	const char *ca;     /* PEM file of the CA that signs both sides' certificates */
	const char *cert;   /* PEM certificate of this side */
	const char *key;    /* PEM private key of this side */
	bool plaintext;     /* no TLS at all (local development only) */
};

/*
 * A context: the CA, this side's certificate and key, TLS 1.2 or later.
 * A server requires a client certificate signed by the CA; a client
 * verifies the server's certificate against the CA and the name or IP
 * address it connects to. With cfg->plaintext nothing is loaded and every
 * connection is plain TCP. NULL on failure, with *err (if err is not NULL)
 * "tls: failed to VERB WHAT: reason", which the caller frees.
 */
struct tls_ctx;
struct tls_ctx *tls_ctx__new(const struct tls_config *cfg, bool server, char **err);
void tls_ctx__free(struct tls_ctx *ctx); /* accepts NULL */
bool tls_ctx__plaintext(const struct tls_ctx *ctx);

/*
 * One connection on a connected (client) or accepted (server) non-blocking
 * socket fd, which the connection owns and closes when freed. peer: for a
 * client, the host name or IP address the server's certificate must carry
 * (ignored by a server). NULL with errno set on failure.
 *
 * handshake, read and write return -EAGAIN when the socket must become
 * ready first: then tls_conn__want() says for what (EPOLLIN or EPOLLOUT;
 * OpenSSL may need to write in order to read and the reverse). Other
 * negative values are final: the connection is unusable, and
 * tls_conn__error() says why.
 *
 * OpenSSL writes to the socket with write(2): a process using this ignores
 * SIGPIPE (signal(SIGPIPE, SIG_IGN)), or a peer that went away kills it.
 */
struct tls_conn;
struct tls_conn *tls_conn__new(struct tls_ctx *ctx, int fd, const char *peer);
void tls_conn__free(struct tls_conn *c); /* accepts NULL; closes the fd */
int tls_conn__fd(const struct tls_conn *c);
/* 1 when established (also every call after), -EAGAIN, or an error. */
int tls_conn__handshake(struct tls_conn *c);
/* Bytes read (> 0), 0 at the end of the stream, -EAGAIN, or an error. */
ssize_t tls_conn__read(struct tls_conn *c, void *buf, size_t len);
/* Bytes written (> 0), -EAGAIN, or an error. A write that returned
 * -EAGAIN must be repeated with the same bytes. */
ssize_t tls_conn__write(struct tls_conn *c, const void *buf, size_t len);
/* EPOLLIN or EPOLLOUT: what the last -EAGAIN waits for (EPOLLIN before any). */
unsigned tls_conn__want(const struct tls_conn *c);
/* Why the last call failed (borrowed; "" when none did). */
const char *tls_conn__error(const struct tls_conn *c);
/* The peer certificate's subject common name once established ("" for
 * plain TCP or none; borrowed). */
const char *tls_conn__peer_name(const struct tls_conn *c);

#endif /* WACHT_TLS_H */
