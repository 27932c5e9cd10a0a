// SPDX-License-Identifier: Apache-2.0
/* tls.c: mutual TLS (OpenSSL 3) or plain TCP on non-blocking sockets (see tls.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"

struct tls_ctx {
	SSL_CTX *ssl;   /* NULL: plain TCP */
	bool server;
};

struct tls_conn {
	struct tls_ctx *ctx;
	SSL *ssl;       /* NULL: plain TCP */
	int fd;
	bool established;
	unsigned want;
	char error[256];
	char peer_name[256];
};

/* The oldest queued OpenSSL error, or fallback. */
static const char *ssl_reason(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ERR_get_error();

	if (!e) {
		snprintf(buf, len, "%s", fallback);
		return buf;
	}
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static struct tls_ctx *ctx_fail(struct tls_ctx *t, char **err, const char *what, const char *path)
{
	char reason[256];

	ssl_reason(reason, sizeof(reason), "unknown error");
	if (err && asprintf(err, "tls: failed to %s %s: %s", what, path ? path : "", reason) < 0)
		*err = NULL;
	tls_ctx__free(t);
	return NULL;
}

struct tls_ctx *tls_ctx__new(const struct tls_config *cfg, bool server, char **err)
{
	struct tls_ctx *t = calloc(1, sizeof(*t));

	if (err)
		*err = NULL;
	if (!t) {
		if (err && asprintf(err, "tls: failed to allocate context: %s", strerror(ENOMEM)) < 0)
			*err = NULL;
		return NULL;
	}
	t->server = server;
	if (cfg->plaintext)
		return t;
	if (!cfg->ca || !cfg->cert || !cfg->key) {
		if (err && asprintf(err, "tls: failed to configure TLS: --tls-ca, --tls-cert and "
					 "--tls-key are all required (or --plaintext)") < 0)
			*err = NULL;
		free(t);
		return NULL;
	}
	t->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!t->ssl)
		return ctx_fail(t, err, "create", "context");
	/* TLS 1.0 and 1.1 are deprecated (RFC 8996) */
	if (!SSL_CTX_set_min_proto_version(t->ssl, TLS1_2_VERSION))
		return ctx_fail(t, err, "set", "minimum version TLS 1.2");
	if (SSL_CTX_load_verify_locations(t->ssl, cfg->ca, NULL) != 1)
		return ctx_fail(t, err, "load CA", cfg->ca);
	if (SSL_CTX_use_certificate_chain_file(t->ssl, cfg->cert) != 1)
		return ctx_fail(t, err, "load certificate", cfg->cert);
	if (SSL_CTX_use_PrivateKey_file(t->ssl, cfg->key, SSL_FILETYPE_PEM) != 1)
		return ctx_fail(t, err, "load key", cfg->key);
	if (SSL_CTX_check_private_key(t->ssl) != 1)
		return ctx_fail(t, err, "match key to certificate", cfg->key);
	if (server) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca);

		if (!names)
			return ctx_fail(t, err, "read CA names from", cfg->ca);
		SSL_CTX_set_client_CA_list(t->ssl, names);
		/* no certificate, or one the CA did not sign: no connection */
		SSL_CTX_set_verify(t->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	} else {
		SSL_CTX_set_verify(t->ssl, SSL_VERIFY_PEER, NULL);
	}
	/* the caller's write buffer may move between retries (it grows) */
	SSL_CTX_set_mode(t->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return t;
}

void tls_ctx__free(struct tls_ctx *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ssl);
	free(t);
}

bool tls_ctx__plaintext(const struct tls_ctx *t)
{
	return !t->ssl;
}

struct tls_conn *tls_conn__new(struct tls_ctx *t, int fd, const char *peer)
{
	struct tls_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->ctx = t;
	c->fd = fd;
	c->want = EPOLLIN;
	if (!t->ssl) {
		c->established = true;
		return c;
	}
	c->ssl = SSL_new(t->ssl);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1)
		goto fail;
	if (t->server) {
		SSL_set_accept_state(c->ssl);
	} else {
		struct in6_addr a6;

		SSL_set_connect_state(c->ssl);
		if (peer && *peer) {
			bool ip = inet_pton(AF_INET, peer, &a6) == 1 || inet_pton(AF_INET6, peer, &a6) == 1;

			/* the certificate must name what we connect to: a DNS
			 * name (SAN or CN) or an IP address SAN */
			if (ip) {
				if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), peer) != 1)
					goto fail;
			} else if (SSL_set1_host(c->ssl, peer) != 1 ||
				   SSL_set_tlsext_host_name(c->ssl, peer) != 1) {
				goto fail;
			}
		}
	}
	return c;
fail:
	ERR_clear_error();
	SSL_free(c->ssl);
	free(c);
	errno = ENOMEM;
	return NULL;
}

void tls_conn__free(struct tls_conn *c)
{
	if (!c)
		return;
	if (c->ssl) {
		/* a close_notify when it can go at once; never waits */
		if (c->established)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		ERR_clear_error();
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

int tls_conn__fd(const struct tls_conn *c)
{
	return c->fd;
}

/* Maps an SSL_get_error() result to -EAGAIN (with c->want) or a final
 * error with c->error set. */
static int ssl_fail(struct tls_conn *c, int ret, const char *op)
{
	int e = SSL_get_error(c->ssl, ret);
	int saved = errno;
	char reason[200];

	switch (e) {
	case SSL_ERROR_WANT_READ:
		c->want = EPOLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		c->want = EPOLLOUT;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(c->error, sizeof(c->error), "%s: peer closed the connection", op);
		return -ECONNRESET;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error()) {
			ssl_reason(reason, sizeof(reason), "");
			snprintf(c->error, sizeof(c->error), "%s: %s", op, reason);
			return -EPROTO;
		}
		snprintf(c->error, sizeof(c->error), "%s: %s", op,
			 saved ? strerror(saved) : "connection closed without close_notify");
		return saved ? -saved : -ECONNRESET;
	default: {
		long v = SSL_get_verify_result(c->ssl);

		ssl_reason(reason, sizeof(reason), "protocol error");
		if (v != X509_V_OK)
			snprintf(c->error, sizeof(c->error), "%s: certificate verify failed: %s (%s)", op,
				 X509_verify_cert_error_string(v), reason);
		else
			snprintf(c->error, sizeof(c->error), "%s: %s", op, reason);
		return -EPROTO;
	}
	}
}

int tls_conn__handshake(struct tls_conn *c)
{
	int ret;

	if (c->established)
		return 1;
	ERR_clear_error();
	ret = SSL_do_handshake(c->ssl);
	if (ret != 1)
		return ssl_fail(c, ret, "TLS handshake");
	c->established = true;
	X509 *cert = SSL_get1_peer_certificate(c->ssl);
	if (cert) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, c->peer_name,
					  sizeof(c->peer_name));
		X509_free(cert);
	}
	return 1;
}

ssize_t tls_conn__read(struct tls_conn *c, void *buf, size_t len)
{
	int ret;

	if (!c->ssl) {
		ssize_t n = recv(c->fd, buf, len, 0);

		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			c->want = EPOLLIN;
			return -EAGAIN;
		}
		snprintf(c->error, sizeof(c->error), "read: %s", strerror(errno));
		return -errno;
	}
	if (!c->established)
		return -ENOTCONN;
	ERR_clear_error();
	ret = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (ret > 0)
		return ret;
	if (SSL_get_error(c->ssl, ret) == SSL_ERROR_ZERO_RETURN)
		return 0; /* close_notify: a clean end */
	return ssl_fail(c, ret, "read");
}

ssize_t tls_conn__write(struct tls_conn *c, const void *buf, size_t len)
{
	int ret;

	if (!c->ssl) {
		/* MSG_NOSIGNAL: a peer that went away is an error, not SIGPIPE */
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			c->want = EPOLLOUT;
			return -EAGAIN;
		}
		snprintf(c->error, sizeof(c->error), "write: %s", strerror(errno));
		return -errno;
	}
	if (!c->established)
		return -ENOTCONN;
	ERR_clear_error();
	ret = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (ret > 0)
		return ret;
	return ssl_fail(c, ret, "write");
}

unsigned tls_conn__want(const struct tls_conn *c)
{
	return c->want;
}

const char *tls_conn__error(const struct tls_conn *c)
{
	return c->error;
}

const char *tls_conn__peer_name(const struct tls_conn *c)
{
	return c->peer_name;
}
