/* SPDX-License-Identifier: Apache-2.0 */
/* test_tls.c: mutual TLS on non-blocking socketpairs (tls.c), with
 * certificates made by the openssl command: a good pair talks; a client
 * certificate from another CA, no client certificate, and a server whose
 * certificate does not name the host are refused; plain TCP mode. Also
 * the HOST:PORT parser (endpoint.c). */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "endpoint.h"
#include "tls.h"

static char dir[64];

static void run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("failed: %s", cmd);
}

/* CA <name>, a server certificate for localhost/127.0.0.1 and a client
 * certificate, all under dir/<name>. */
static void make_pki(const char *name)
{
	run("set -e; d=%s/%s; mkdir -p $d; cd $d;"
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
	    " -keyout ca.key -out ca.crt -days 2 -subj /CN=%s-ca 2>/dev/null;"
	    "for w in server client; do"
	    " openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
	    "  -keyout $w.key -out $w.csr -subj /CN=$w-%s 2>/dev/null; done;"
	    "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext;"
	    "printf 'extendedKeyUsage=clientAuth\\n' > client.ext;"
	    "for w in server client; do"
	    " openssl x509 -req -in $w.csr -CA ca.crt -CAkey ca.key -CAcreateserial"
	    "  -out $w.crt -days 2 -extfile $w.ext 2>/dev/null; done",
	    dir, name, name, name);
}

static int setup(void **state)
{
	(void)state;
	/* as the aggregator and the shipper do: OpenSSL writes to sockets
	 * with write(2), and a peer gone must be EPIPE, not a signal */
	signal(SIGPIPE, SIG_IGN);
	strcpy(dir, "/tmp/wacht-tls-XXXXXX");
	assert_non_null(mkdtemp(dir));
	make_pki("good");
	make_pki("evil");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	run("rm -rf %s", dir);
	return 0;
}

struct side {
	char ca[128], cert[128], key[128];
	struct tls_config cfg;
};

static struct tls_ctx *ctx_for(struct side *s, const char *ca_pki, const char *pki, const char *who,
			       bool server)
{
	char *err = NULL;
	struct tls_ctx *c;

	snprintf(s->ca, sizeof(s->ca), "%s/%s/ca.crt", dir, ca_pki);
	snprintf(s->cert, sizeof(s->cert), "%s/%s/%s.crt", dir, pki, who);
	snprintf(s->key, sizeof(s->key), "%s/%s/%s.key", dir, pki, who);
	s->cfg = (struct tls_config){ .ca = s->ca, .cert = s->cert, .key = s->key };
	c = tls_ctx__new(&s->cfg, server, &err);
	if (!c)
		fail_msg("%s", err);
	return c;
}

/* Runs both handshakes until each is done or failed: *rs, *rc. */
static void handshake(struct tls_conn *s, struct tls_conn *c, int *rs, int *rc)
{
	*rs = *rc = -EAGAIN;
	for (int i = 0; i < 1000 && (*rs == -EAGAIN || *rc == -EAGAIN); i++) {
		if (*rs == -EAGAIN)
			*rs = tls_conn__handshake(s);
		if (*rc == -EAGAIN)
			*rc = tls_conn__handshake(c);
		/* one side failed: the other sees it on its next read */
		if ((*rs < 0 && *rs != -EAGAIN) || (*rc < 0 && *rc != -EAGAIN))
			break;
	}
}

static void pair(struct tls_ctx *sctx, struct tls_ctx *cctx, const char *host,
		 struct tls_conn **s, struct tls_conn **c)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	*s = tls_conn__new(sctx, sv[0], NULL);
	*c = tls_conn__new(cctx, sv[1], host);
	assert_non_null(*s);
	assert_non_null(*c);
}

static void test_mutual_tls_talks(void **state)
{
	struct side ss, cs;
	struct tls_ctx *sctx = ctx_for(&ss, "good", "good", "server", true);
	struct tls_ctx *cctx = ctx_for(&cs, "good", "good", "client", false);
	struct tls_conn *s, *c;
	char buf[64] = "";
	int rs, rc;
	ssize_t n = -EAGAIN;

	(void)state;
	pair(sctx, cctx, "127.0.0.1", &s, &c);
	/* nothing to read before the handshake: wants input */
	assert_int_equal(tls_conn__handshake(s), -EAGAIN);
	assert_int_equal(tls_conn__want(s), EPOLLIN);
	handshake(s, c, &rs, &rc);
	assert_int_equal(rs, 1);
	assert_int_equal(rc, 1);
	assert_string_equal(tls_conn__peer_name(s), "client-good");
	assert_string_equal(tls_conn__peer_name(c), "server-good");
	assert_int_equal(tls_conn__write(c, "hello", 5), 5);
	for (int i = 0; i < 100 && n == -EAGAIN; i++)
		n = tls_conn__read(s, buf, sizeof(buf));
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(tls_conn__read(s, buf, sizeof(buf)), -EAGAIN);
	/* a clean close reads as the end of the stream */
	tls_conn__free(c);
	assert_int_equal(tls_conn__read(s, buf, sizeof(buf)), 0);
	tls_conn__free(s);
	tls_ctx__free(sctx);
	tls_ctx__free(cctx);
}

/* A client certificate the server's CA did not sign. */
static void test_client_from_other_ca_refused(void **state)
{
	struct side ss, cs;
	struct tls_ctx *sctx = ctx_for(&ss, "good", "good", "server", true);
	/* trusts the real server, but presents evil's certificate */
	struct tls_ctx *cctx = ctx_for(&cs, "good", "evil", "client", false);
	struct tls_conn *s, *c;
	int rs, rc;

	(void)state;
	pair(sctx, cctx, "localhost", &s, &c);
	handshake(s, c, &rs, &rc);
	assert_int_equal(rs, -EPROTO);
	assert_non_null(strstr(tls_conn__error(s), "TLS handshake: certificate verify failed: "
						   "unable to get local issuer certificate"));
	tls_conn__free(s);
	tls_conn__free(c);
	tls_ctx__free(sctx);
	tls_ctx__free(cctx);
}

/* The server's certificate names localhost and 127.0.0.1, not 10.9.9.9;
 * and a server signed by another CA. */
static void test_client_verifies_server(void **state)
{
	struct side ss, cs, es;
	struct tls_ctx *sctx = ctx_for(&ss, "good", "good", "server", true);
	struct tls_ctx *cctx = ctx_for(&cs, "good", "good", "client", false);
	struct tls_ctx *ectx = ctx_for(&es, "good", "evil", "server", true);
	struct tls_conn *s, *c;
	int rs, rc;

	(void)state;
	pair(sctx, cctx, "10.9.9.9", &s, &c);
	handshake(s, c, &rs, &rc);
	assert_int_equal(rc, -EPROTO);
	assert_non_null(strstr(tls_conn__error(c), "certificate verify failed: "
						   "IP address mismatch"));
	tls_conn__free(s);
	tls_conn__free(c);

	pair(ectx, cctx, "localhost", &s, &c);
	handshake(s, c, &rs, &rc);
	assert_int_equal(rc, -EPROTO);
	assert_non_null(strstr(tls_conn__error(c), "unable to get local issuer certificate"));
	tls_conn__free(s);
	tls_conn__free(c);
	tls_ctx__free(sctx);
	tls_ctx__free(cctx);
	tls_ctx__free(ectx);
}

static void test_plaintext_and_config_errors(void **state)
{
	struct tls_config plain = { .plaintext = true }, none = { 0 }, bad = {
		.ca = "/nonexistent/ca.crt", .cert = "/nonexistent/c.crt", .key = "/nonexistent/k"
	};
	struct tls_ctx *p1 = tls_ctx__new(&plain, true, NULL), *p2 = tls_ctx__new(&plain, false, NULL);
	struct tls_conn *s, *c;
	char *err = NULL, buf[8];
	int rs, rc;

	(void)state;
	assert_true(tls_ctx__plaintext(p1));
	pair(p1, p2, "localhost", &s, &c);
	handshake(s, c, &rs, &rc);
	assert_int_equal(rs, 1);
	assert_int_equal(rc, 1);
	assert_int_equal(tls_conn__write(c, "abc", 3), 3);
	assert_int_equal(tls_conn__read(s, buf, sizeof(buf)), 3);
	assert_string_equal(tls_conn__peer_name(s), "");
	tls_conn__free(s);
	tls_conn__free(c);
	tls_ctx__free(p1);
	tls_ctx__free(p2);

	assert_null(tls_ctx__new(&none, true, &err));
	assert_string_equal(err, "tls: failed to configure TLS: --tls-ca, --tls-cert and --tls-key "
				 "are all required (or --plaintext)");
	free(err);
	assert_null(tls_ctx__new(&bad, false, &err));
	assert_int_equal(strncmp(err, "tls: failed to load CA /nonexistent/ca.crt: ", 44), 0);
	free(err);
}

static void test_endpoint_split(void **state)
{
	char h[64], p[8];

	(void)state;
	assert_int_equal(endpoint_split("agg.example:7443", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "agg.example");
	assert_string_equal(p, "7443");
	assert_int_equal(endpoint_split("[fd00::1]:443", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "fd00::1");
	assert_string_equal(p, "443");
	assert_int_equal(endpoint_split(":7443", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "");
	assert_int_equal(endpoint_split("fd00::1:443", h, sizeof(h), p, sizeof(p)), -EINVAL);
	assert_int_equal(endpoint_split("host", h, sizeof(h), p, sizeof(p)), -EINVAL);
	assert_int_equal(endpoint_split("host:0", h, sizeof(h), p, sizeof(p)), -EINVAL);
	assert_int_equal(endpoint_split("host:65536", h, sizeof(h), p, sizeof(p)), -EINVAL);
	assert_int_equal(endpoint_split("host:-1", h, sizeof(h), p, sizeof(p)), -EINVAL);
	assert_int_equal(endpoint_split("host:12x", h, sizeof(h), p, sizeof(p)), -EINVAL);
	assert_int_equal(endpoint_split("[]:1", h, sizeof(h), p, sizeof(p)), -EINVAL);
	assert_int_equal(endpoint_split("a-very-long-host-name-indeed-longer-than-sixty-four-bytes.example:1",
					h, sizeof(h), p, sizeof(p)), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutual_tls_talks),
		cmocka_unit_test(test_client_from_other_ca_refused),
		cmocka_unit_test(test_client_verifies_server),
		cmocka_unit_test(test_plaintext_and_config_errors),
		cmocka_unit_test(test_endpoint_split),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
