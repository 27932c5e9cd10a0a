// SPDX-License-Identifier: Apache-2.0
/* health.c: /healthz/live, /healthz/ready and /metrics over libmicrohttpd. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "health.h"
#include "sensor_metrics.h"

struct health {
	struct MHD_Daemon *d;
	/* the loop's side, read by the HTTP thread without a lock */
	uint64_t last_turn_ms; /* __atomic */
	bool started;	       /* __atomic */
	size_t programs;       /* written before started */
	pthread_mutex_t lock;  /* snap */
	struct metrics *snap;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
			       char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A JSON body, copied. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *json)
{
	char *body = strdup(json);

	return body ? respond(conn, status, "application/json", body, strlen(body)) : MHD_NO;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct health *h = cls;
	char line[512];
	int status;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(conn, 405, "{\"error\":\"only GET\"}\n");
	if (!strcmp(url, "/healthz/live") || !strcmp(url, "/healthz/ready")) {
		struct health_state st = {
		    .started = __atomic_load_n(&h->started, __ATOMIC_ACQUIRE),
		    .last_turn_ms = __atomic_load_n(&h->last_turn_ms, __ATOMIC_ACQUIRE),
		};
		st.programs = st.started ? h->programs : 0;
		if (!strcmp(url, "/healthz/live"))
			status = health_live(&st, mono_ms(), line, sizeof(line));
		else
			status = health_ready(&st, mono_ms(), line, sizeof(line));
		strncat(line, "\n", sizeof(line) - strlen(line) - 1);
		return reply(conn, status, line);
	}
	if (!strcmp(url, "/metrics")) {
		char *body = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&body, &len);

		if (!f)
			return MHD_NO;
		pthread_mutex_lock(&h->lock);
		if (h->snap)
			metrics__write(h->snap, f);
		pthread_mutex_unlock(&h->lock);
		if (fclose(f)) {
			free(body);
			return MHD_NO;
		}
		return respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
	}
	return reply(conn, 404,
		     "{\"error\":\"not found: /healthz/live, /healthz/ready, /metrics\"}\n");
}

int health_parse_listen(const char *s, struct sockaddr_storage *ss)
{
	char host[256];
	const char *colon = strrchr(s, ':');
	char *end;

	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port > 65535)
		return -EINVAL;
	memcpy(host, s, colon - s);
	host[colon - s] = 0;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[strlen(host) - 1] = 0;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -EINVAL;
}

struct health *health__start(const char *listen, char **err)
{
	struct sockaddr_storage ss;
	struct health *h;

	*err = NULL;
	if (health_parse_listen(listen, &ss)) {
		if (asprintf(err,
			     "health: failed to parse --health-listen '%s': want ADDR:PORT, "
			     "e.g. 0.0.0.0:9090 or [::]:9090",
			     listen) < 0)
			*err = NULL;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	/* the thread inherits this mask: every signal stays the event loop's
	 * (its signalfd), else a SIGTERM landing on the HTTP thread would
	 * kill the sensor without its final drain and stats */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	errno = 0;
	/* one thread polls all connections: probes and scrapes are a few a
	 * second at most, and a thread per connection would let a flood of
	 * them take the node's memory */
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				    (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				0, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, &ss,
				MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT,
				10u, MHD_OPTION_END);
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!h->d) {

		if (asprintf(err, "health: failed to listen on %s: %s", listen,
			     e ? strerror(e) : "libmicrohttpd could not start") < 0)
			*err = NULL;
		pthread_mutex_destroy(&h->lock);
		free(h);
		return NULL;
	}
	return h;
}

void health__free(struct health *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	metrics__free(h->snap);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void health__started(struct health *h, size_t programs)
{
	h->programs = programs;
	__atomic_store_n(&h->started, true, __ATOMIC_RELEASE);
}

void health__turn(struct health *h, uint64_t now_ms)
{
	__atomic_store_n(&h->last_turn_ms, now_ms, __ATOMIC_RELEASE);
}

void health__publish(struct health *h, struct metrics *snapshot)
{
	struct metrics *old;

	pthread_mutex_lock(&h->lock);
	old = h->snap;
	h->snap = snapshot;
	pthread_mutex_unlock(&h->lock);
	metrics__free(old);
}
