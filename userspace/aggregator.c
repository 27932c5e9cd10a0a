// SPDX-License-Identifier: Apache-2.0
/* aggregator.c: wacht-aggregator's epoll loop: accept, TLS, ingest, ack. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include "agg_bus.h"
#include "aggregator.h"
#include "clock.h"
#include "endpoint.h"
#include "ingest.h"
#include "peermap.h"
#include "store.h"
#include "wire.h"

#define DEFAULT_MAX_CONNS 4096
#define DEFAULT_HELLO_TIMEOUT_S 10
/* Reads per connection per loop turn: one busy sensor cannot starve the
 * others (level-triggered epoll brings it back next turn). */
#define READS_PER_TURN 8
#define READ_CHUNK (64u << 10)
/* Acks are a few bytes each, and a peer map is pushed only to a sensor
 * that read the one before (PEERS_PUSH_BELOW): a sensor that lets more
 * than the largest map and this much pile up is not reading. */
#define OUT_MAX (WIRE_FRAME_MAX + (1u << 20))
/* A changed peer map goes to a sensor once its output is below this. */
#define PEERS_PUSH_BELOW (64u << 10)
#define DEFAULT_PEER_GRACE_S 60
#define RETENTION_EVERY_S 60

struct conn {
	struct conn *prev, *next;
	struct tls_conn *tls;
	struct ingest_conn *ic;
	char addr[INET6_ADDRSTRLEN + 8];
	time_t accepted;        /* CLOCK_MONOTONIC seconds */
	bool established;
	uint32_t events;        /* registered with epoll */
	bool dead;              /* closed; freed at the end of the loop turn */
	bool touched;           /* holds acks for this turn's commit */
	struct conn *tnext;     /* touched list */
	struct conn *gnext;     /* graveyard list */
	uint64_t serial;        /* owner of its endpoints in the peer map */
};

struct agg_server {
	const struct agg_config *cfg;
	struct store *store;
	/* checkpoints run on their own connection and thread: copying the
	 * WAL into the database was a tenth of the ingest loop's time */
	struct store *ckpt_store;
	pthread_t ckpt_thread;
	bool ckpt_running;
	int ckpt_pipe[2];       /* closed write end: stop */
	struct tls_ctx *tls;       /* NULL without a listener */
	struct agg_bus *bus;       /* NULL without --nats */
	int lfd, epfd, sfd, tfd;
	struct conn *conns;     /* doubly linked, newest first */
	unsigned nconns;
	struct conn *touched;   /* connections with acks held this turn */
	struct conn *graveyard; /* closed this turn: still pointed to by evs */
	bool in_txn;
	bool no_txn;            /* the store has no outer transactions (PostgreSQL) */
	uint8_t *rbuf;
	struct peer_map *peers; /* every sensor's containers (issue 6) */
	uint64_t conn_serial;
	struct {
		uint64_t accepted, refused, closed_bad;
		uint64_t batches, findings, stored;
	} st, st_last;
};

/* epoll tags for the fds that are not connections */
static char tag_listen, tag_signal, tag_timer;

static time_t now_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int listen_on(const char *spec)
{
	char host[256], port[16];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res, *ai;
	int fd = -1, one = 1, rc;

	if (endpoint_split(spec, host, sizeof(host), port, sizeof(port))) {
		fprintf(stderr, "wacht-aggregator: --listen: '%s' is not ADDR:PORT (e.g. 0.0.0.0:7443, "
				"[::]:7443, :7443)\n", spec);
		return -EINVAL;
	}
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc) {
		fprintf(stderr, "wacht-aggregator: failed to resolve listen address %s: %s\n", spec,
			gai_strerror(rc));
		return -EINVAL;
	}
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		/* a restart right after a crash must not wait for TIME_WAIT */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		rc = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "wacht-aggregator: failed to listen on %s: %s\n", spec, strerror(-rc));
	return fd < 0 ? rc : fd;
}

struct agg_server *agg_server__new(const struct agg_config *cfg)
{
	struct agg_server *srv = calloc(1, sizeof(*srv));
	char *err = NULL;

	if (!srv || !(srv->rbuf = malloc(READ_CHUNK))) {
		fprintf(stderr, "wacht-aggregator: out of memory\n");
		free(srv);
		return NULL;
	}
	srv->cfg = cfg;
	if (!(srv->peers = peer_map__new())) {
		fprintf(stderr, "wacht-aggregator: out of memory\n");
		free(srv->rbuf);
		free(srv);
		return NULL;
	}
	srv->lfd = srv->epfd = srv->sfd = srv->tfd = -1;
	srv->ckpt_pipe[0] = srv->ckpt_pipe[1] = -1;
	/* before libnats starts its threads: a signal must go to the
	 * signalfd of agg_server__run, never to a thread that does not block
	 * it (the default action would end the process mid-commit) */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if (cfg->listen && !(srv->tls = tls_ctx__new(&cfg->tls, true, &err))) {
		fprintf(stderr, "wacht-aggregator: %s\n", err ? err : "tls: out of memory");
		free(err);
		goto fail;
	}
	struct store_opts so = { .no_autocheckpoint = true };

	srv->store = store__open(cfg->store_path, &so, &err);
	if (!srv->store) {
		fprintf(stderr, "wacht-aggregator: %s\n", err ? err : "store: out of memory");
		free(err);
		goto fail;
	}
	srv->ckpt_store = store__open(cfg->store_path, NULL, &err);
	if (!srv->ckpt_store) {
		fprintf(stderr, "wacht-aggregator: %s\n", err ? err : "store: out of memory");
		free(err);
		goto fail;
	}
	if (cfg->listen) {
		srv->lfd = listen_on(cfg->listen);
		if (srv->lfd < 0)
			goto fail;
	}
	if (cfg->nats.url) {
		srv->bus = agg_bus__new(&cfg->nats, cfg->store_path);
		if (!srv->bus)
			goto fail;
	}
	return srv;
fail:
	agg_server__free(srv);
	return NULL;
}

static void conn_close(struct agg_server *srv, struct conn *c, const char *why, bool bad)
{
	const char *sid = ingest_conn__sensor_id(c->ic);

	if (why)
		fprintf(stderr, "wacht-aggregator: closed connection from %s%s%s%s: %s\n", c->addr,
			*sid ? " (sensor " : "", sid, *sid ? ")" : "", why);
	if (bad)
		srv->st.closed_bad++;
	/* its containers stay in the map for the grace period: a sensor
	 * that reconnects at once changes nothing for the others */
	if (ingest_conn__hello_done(c->ic))
		peer_map__release(srv->peers, ingest_conn__node(c->ic), c->serial, now_mono_s());
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, tls_conn__fd(c->tls), NULL);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	tls_conn__free(c->tls);
	c->tls = NULL;
	c->dead = true;
	c->gnext = srv->graveyard;
	srv->graveyard = c;
}

static void bury(struct agg_server *srv)
{
	while (srv->graveyard) {
		struct conn *c = srv->graveyard;

		srv->graveyard = c->gnext;
		ingest_conn__free(c->ic);
		free(c);
	}
}

static void accept_all(struct agg_server *srv)
{
	unsigned max = srv->cfg->max_conns ? srv->cfg->max_conns : DEFAULT_MAX_CONNS;

	for (;;) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		char host[INET6_ADDRSTRLEN] = "?";
		unsigned port = 0;
		int one = 1, fd;
		struct conn *c;

		fd = accept4(srv->lfd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				fprintf(stderr, "wacht-aggregator: failed to accept a connection: %s\n",
					strerror(errno));
			return;
		}
		if (sa.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const void *)&sa;
			inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
			port = ntohs(in->sin_port);
		} else if (sa.ss_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const void *)&sa;
			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
			port = ntohs(in6->sin6_port);
		}
		if (srv->nconns >= max) {
			fprintf(stderr, "wacht-aggregator: refused connection from %s:%u: %u connections "
					"open (the limit)\n", host, port, srv->nconns);
			srv->st.refused++;
			close(fd);
			continue;
		}
		/* acks are small and must not wait for Nagle */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (c)
			c->tls = tls_conn__new(srv->tls, fd, NULL);
		if (c && c->tls)
			c->ic = ingest_conn__new(srv->store, srv->cfg->max_frame);
		if (c && c->ic) {
			ingest_conn__hold_acks(c->ic); /* released after the turn's commit */
			c->serial = ++srv->conn_serial;
			ingest_conn__set_peers(c->ic, srv->peers, c->serial);
		}
		if (!c || !c->tls || !c->ic) {
			fprintf(stderr, "wacht-aggregator: refused connection from %s:%u: out of memory\n",
				host, port);
			if (c) {
				if (c->tls)
					tls_conn__free(c->tls);
				else
					close(fd);
				free(c);
			} else {
				close(fd);
			}
			continue;
		}
		snprintf(c->addr, sizeof(c->addr), "%s:%u", host, port);
		c->accepted = now_mono_s();
		c->events = EPOLLIN;
		struct epoll_event ee = { .events = c->events, .data.ptr = c };
		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ee)) {
			fprintf(stderr, "wacht-aggregator: failed to watch connection from %s: %s\n",
				c->addr, strerror(errno));
			tls_conn__free(c->tls);
			ingest_conn__free(c->ic);
			free(c);
			continue;
		}
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		srv->nconns++;
		srv->st.accepted++;
	}
}

/* Writes what the connection has to say; false when it failed (closed). */
static bool conn_flush(struct agg_server *srv, struct conn *c)
{
	size_t len;
	const uint8_t *p;

	while ((p = ingest_conn__output(c->ic, &len)) && len) {
		ssize_t n = tls_conn__write(c->tls, p, len);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			conn_close(srv, c, tls_conn__error(c->tls), false);
			return false;
		}
		ingest_conn__consume(c->ic, (size_t)n);
	}
	ingest_conn__output(c->ic, &len);
	if (len > OUT_MAX) {
		conn_close(srv, c, "the sensor does not read its acknowledgements", true);
		return false;
	}
	return true;
}

static void conn_update_events(struct agg_server *srv, struct conn *c)
{
	size_t len;
	uint32_t ev = EPOLLIN;

	ingest_conn__output(c->ic, &len);
	if (len || tls_conn__want(c->tls) == EPOLLOUT)
		ev |= EPOLLOUT;
	if (ev != c->events) {
		struct epoll_event ee = { .events = ev, .data.ptr = c };

		if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, tls_conn__fd(c->tls), &ee) == 0)
			c->events = ev;
	}
}

static void conn_io(struct agg_server *srv, struct conn *c)
{
	if (!c->established) {
		int rc = tls_conn__handshake(c->tls);

		if (rc == -EAGAIN) {
			conn_update_events(srv, c);
			return;
		}
		if (rc < 0) {
			conn_close(srv, c, tls_conn__error(c->tls), true);
			return;
		}
		c->established = true;
	}
	for (int i = 0; i < READS_PER_TURN; i++) {
		ssize_t n = tls_conn__read(c->tls, srv->rbuf, READ_CHUNK);
		bool had_hello = ingest_conn__hello_done(c->ic);
		int rc;

		if (n == -EAGAIN)
			break;
		if (n == 0) {
			conn_close(srv, c, had_hello ? NULL : "closed by the peer before its hello",
				   !had_hello);
			return;
		}
		if (n < 0) {
			conn_close(srv, c, tls_conn__error(c->tls), false);
			return;
		}
		const struct ingest_stats before = *ingest_conn__stats(c->ic);
		rc = ingest_conn__feed(c->ic, srv->rbuf, (size_t)n, clock_real_ns());
		const struct ingest_stats *after = ingest_conn__stats(c->ic);
		srv->st.batches += after->batches - before.batches;
		srv->st.findings += after->findings - before.findings;
		srv->st.stored += after->stored - before.stored;
		if (!had_hello && ingest_conn__hello_done(c->ic)) {
			const char *cn = tls_conn__peer_name(c->tls);

			fprintf(stderr, "wacht-aggregator: sensor %s (node %s) connected from %s%s%s\n",
				ingest_conn__sensor_id(c->ic), ingest_conn__node(c->ic), c->addr,
				*cn ? ", certificate CN=" : "", cn);
		}
		if (rc < 0) {
			/* what was acknowledged before the error still goes
			 * out (conn_flush closes the connection if it fails) */
			if (conn_flush(srv, c))
				conn_close(srv, c, ingest_conn__error(c->ic), true);
			return;
		}
	}
	if (ingest_conn__held(c->ic) && !c->touched) {
		c->touched = true;
		c->tnext = srv->touched;
		srv->touched = c;
	}
	if (!conn_flush(srv, c))
		return;
	conn_update_events(srv, c);
}

/* The end of a loop turn: one commit for every batch stored in it, then
 * the acks go out. If the commit fails nothing of the turn is stored:
 * those connections are closed unacknowledged, and their sensors resend. */
static void end_turn(struct agg_server *srv)
{
	int err = 0;

	if (srv->in_txn) {
		err = store__commit(srv->store);
		srv->in_txn = false;
		if (err)
			fprintf(stderr, "wacht-aggregator: failed to commit: %s (%s)\n", strerror(-err),
				store__errmsg(srv->store));
	}
	while (srv->touched) {
		struct conn *c = srv->touched;

		srv->touched = c->tnext;
		c->touched = false;
		if (c->dead)
			continue;
		if (err) {
			conn_close(srv, c, "the store failed to commit; the sensor will resend", false);
		} else if (ingest_conn__release(c->ic)) {
			conn_close(srv, c, "out of memory", false);
		} else if (conn_flush(srv, c)) {
			conn_update_events(srv, c);
		}
	}
	bury(srv);
}

/* The peer map to every sensor whose copy is older, once a second at
 * most (the tick): one frame for all that accept its size. */
static void push_peers(struct agg_server *srv, time_t now)
{
	unsigned grace = srv->cfg->peer_grace_set ? srv->cfg->peer_grace_s : DEFAULT_PEER_GRACE_S;
	uint8_t *frame = NULL;
	size_t len = 0;
	struct conn *c, *next;
	size_t gone = peer_map__expire(srv->peers, now, (int64_t)grace);

	if (gone)
		fprintf(stderr, "wacht-aggregator: peer map: forgot the containers of %zu node%s "
				"(disconnected for %u s)\n", gone, gone == 1 ? "" : "s", grace);
	for (c = srv->conns; c; c = next) {
		size_t out;

		next = c->next;
		ingest_conn__output(c->ic, &out);
		if (!ingest_conn__peers_due(c->ic) || out >= PEERS_PUSH_BELOW)
			continue;
		if (!frame) {
			uint32_t omitted = 0;
			int err = peer_map__frame(srv->peers, WIRE_FRAME_MAX, &frame, &len, &omitted);

			if (err) {
				fprintf(stderr, "wacht-aggregator: failed to build the peer map: %s\n",
					strerror(-err));
				return;
			}
			if (omitted)
				fprintf(stderr, "wacht-aggregator: peer map: %u containers left out (the "
						"map is larger than a frame)\n", omitted);
		}
		if (ingest_conn__send_peers(c->ic, frame, len)) {
			conn_close(srv, c, ingest_conn__error(c->ic), false);
			continue;
		}
		if (conn_flush(srv, c))
			conn_update_events(srv, c);
	}
	free(frame);
}

static void on_tick(struct agg_server *srv, time_t now)
{
	static time_t last_retention, last_stats;
	unsigned hello_to = srv->cfg->hello_timeout_s ? srv->cfg->hello_timeout_s
						      : DEFAULT_HELLO_TIMEOUT_S;
	struct conn *c, *next;

	/* a peer that connects and says nothing holds a slot: not for long */
	for (c = srv->conns; c; c = next) {
		next = c->next;
		if (!ingest_conn__hello_done(c->ic) && now - c->accepted >= (time_t)hello_to)
			conn_close(srv, c, "no hello within the timeout", true);
	}
	push_peers(srv, now);
	/* the network graph's conversations: by age only, the shorter of the
	 * two limits (one row per conversation and minute adds up) */
	unsigned flow_days = srv->cfg->graph_retention_days;
	if (srv->cfg->retention_days && (!flow_days || srv->cfg->retention_days < flow_days))
		flow_days = srv->cfg->retention_days;
	if ((srv->cfg->retention_days || srv->cfg->retention_rows || flow_days) &&
	    now - last_retention >= RETENTION_EVERY_S) {
		int64_t n = 0;

		last_retention = now;
		if (srv->cfg->retention_days || srv->cfg->retention_rows)
			n = store__retention(srv->store,
					     (int64_t)srv->cfg->retention_days * 86400LL * 1000000000LL,
					     srv->cfg->retention_rows, clock_real_ns());
		if (n < 0)
			fprintf(stderr, "wacht-aggregator: failed to apply retention: %s (%s)\n",
				strerror((int)-n), store__errmsg(srv->store));
		else if (n > 0)
			fprintf(stderr, "wacht-aggregator: retention deleted %" PRId64 " findings\n", n);
		n = flow_days ? store__retention_flows(srv->store,
						       (int64_t)flow_days * 86400LL * 1000000000LL,
						       clock_real_ns())
			      : 0;
		if (n < 0)
			fprintf(stderr, "wacht-aggregator: failed to apply retention to conversations:"
					" %s (%s)\n", strerror((int)-n), store__errmsg(srv->store));
		else if (n > 0)
			fprintf(stderr, "wacht-aggregator: retention deleted %" PRId64
					" conversation rows\n", n);
	}
	if (srv->cfg->stats_interval_s && now - last_stats >= (time_t)srv->cfg->stats_interval_s) {
		fprintf(stderr, "wacht-aggregator: stats: %u connections, accepted %" PRIu64
				", closed for errors %" PRIu64 ", batches %" PRIu64 " (+%" PRIu64
				"), findings %" PRIu64 " (+%" PRIu64 "), new %" PRIu64 "\n",
			srv->nconns, srv->st.accepted, srv->st.closed_bad, srv->st.batches,
			srv->st.batches - srv->st_last.batches, srv->st.findings,
			srv->st.findings - srv->st_last.findings, srv->st.stored);
		srv->st_last = srv->st;
		if (srv->bus) {
			struct bus_ingest_stats bs;
			uint64_t bad, failed;

			agg_bus__stats(srv->bus, &bs, &bad, &failed);
			fprintf(stderr, "wacht-aggregator: stats: NATS messages %" PRIu64 ", batches %"
					PRIu64 ", findings %" PRIu64 ", new %" PRIu64 ", rejected %" PRIu64
					", undecodable %" PRIu64 ", not acknowledged %" PRIu64 "\n",
				bs.messages, bs.batches, bs.findings, bs.stored, bs.rejected, bad, failed);
		}
		last_stats = now;
	}
}

static void *checkpointer(void *arg)
{
	struct agg_server *srv = arg;
	struct pollfd p = { .fd = srv->ckpt_pipe[0], .events = POLLIN };

	/* every second, until the write end of the pipe is closed */
	while (poll(&p, 1, 1000) == 0) {
		int err = store__checkpoint(srv->ckpt_store);

		if (err)
			fprintf(stderr, "wacht-aggregator: failed to checkpoint the store: %s (%s)\n",
				strerror(-err), store__errmsg(srv->ckpt_store));
	}
	store__checkpoint(srv->ckpt_store);
	return NULL;
}

int agg_server__run(struct agg_server *srv)
{
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	struct epoll_event ee = { .events = EPOLLIN };
	sigset_t mask;
	bool running = true;
	int ret = 1;

	/* a sensor gone mid-write is an error on its connection, not SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	srv->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	/* after the signals are blocked: the thread inherits the mask */
	if (pipe2(srv->ckpt_pipe, O_CLOEXEC) == 0 &&
	    pthread_create(&srv->ckpt_thread, NULL, checkpointer, srv) == 0)
		srv->ckpt_running = true;
	else
		fprintf(stderr, "wacht-aggregator: failed to start the checkpoint thread: %s\n",
			strerror(errno));
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (srv->sfd < 0 || srv->epfd < 0 || srv->tfd < 0 ||
	    timerfd_settime(srv->tfd, 0, &its, NULL)) {
		fprintf(stderr, "wacht-aggregator: failed to set up the event loop: %s\n",
			strerror(errno));
		return 1;
	}
	ee.data.ptr = &tag_listen;
	if (srv->lfd >= 0 && epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd, &ee))
		goto fail;
	ee.data.ptr = &tag_signal;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->sfd, &ee))
		goto fail;
	ee.data.ptr = &tag_timer;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->tfd, &ee))
		goto fail;

	if (srv->lfd >= 0)
		fprintf(stderr, "wacht-aggregator: listening on %s (%s), store %s\n", srv->cfg->listen,
			tls_ctx__plaintext(srv->tls) ? "PLAINTEXT, NOT ENCRYPTED OR AUTHENTICATED" :
						       "TLS, client certificates required",
			srv->cfg->store_path);
	if (srv->bus) {
		int err = agg_bus__start(srv->bus);

		if (err) {
			errno = -err;
			goto fail;
		}
		fprintf(stderr, "wacht-aggregator: consuming NATS %s (stream %s, durable %s), "
				"store %s\n", srv->cfg->nats.url,
			srv->cfg->nats.stream ? srv->cfg->nats.stream : BUS_DEFAULT_STREAM,
			srv->cfg->nats.durable ? srv->cfg->nats.durable : BUS_DEFAULT_DURABLE,
			srv->cfg->store_path);
	}
	while (running) {
		struct epoll_event evs[64];
		int n = epoll_wait(srv->epfd, evs, 64, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		/* the connections first, in one transaction */
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if ((void *)c == &tag_listen || (void *)c == &tag_signal ||
			    (void *)c == &tag_timer || c->dead)
				continue;
			if (!srv->in_txn && !srv->no_txn) {
				int err = store__begin(srv->store);

				/* without it each batch commits on its own */
				if (err == 0)
					srv->in_txn = true;
				else if (err == -EOPNOTSUPP)
					srv->no_txn = true;
				else
					fprintf(stderr, "wacht-aggregator: failed to begin a transaction: "
							"%s (%s)\n", strerror(-err),
						store__errmsg(srv->store));
			}
			conn_io(srv, c);
		}
		end_turn(srv);
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &tag_listen) {
				accept_all(srv);
			} else if (p == &tag_signal) {
				struct signalfd_siginfo si;

				while (read(srv->sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						/* e.g. the API's tokens file changed */
						if (srv->cfg->on_sighup)
							srv->cfg->on_sighup();
						continue;
					}
					running = false;
				}
			} else if (p == &tag_timer) {
				uint64_t exp;

				if (read(srv->tfd, &exp, sizeof(exp)) == sizeof(exp))
					on_tick(srv, now_mono_s());
			}
		}
		bury(srv);
	}
	fprintf(stderr, "wacht-aggregator: exit: %" PRIu64 " batches, %" PRIu64 " findings (%" PRIu64
			" new) received; closing %u connections\n",
		srv->st.batches, srv->st.findings, srv->st.stored, srv->nconns);
	if (srv->bus) {
		struct bus_ingest_stats bs;
		uint64_t bad, failed;

		/* the message in hand is finished (committed and acked, or not
		 * acked and redelivered to a replica that stays) */
		agg_bus__stop(srv->bus);
		agg_bus__stats(srv->bus, &bs, &bad, &failed);
		fprintf(stderr, "wacht-aggregator: exit: NATS messages %" PRIu64 ", hellos %" PRIu64
				", batches %" PRIu64 ", findings %" PRIu64 ", new %" PRIu64
				", rejected %" PRIu64 ", undecodable %" PRIu64 ", not acknowledged %"
				PRIu64 "\n", bs.messages, bs.hellos, bs.batches, bs.findings, bs.stored,
			bs.rejected, bad, failed);
	}
	ret = 0;
fail:
	if (ret)
		fprintf(stderr, "wacht-aggregator: event loop failed: %s\n", strerror(errno));
	end_turn(srv);
	while (srv->conns)
		conn_close(srv, srv->conns, NULL, false);
	bury(srv);
	return ret;
}

void agg_server__free(struct agg_server *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_close(srv, srv->conns, NULL, false);
	bury(srv);
	agg_bus__free(srv->bus);
	if (srv->ckpt_running) {
		close(srv->ckpt_pipe[1]);
		srv->ckpt_pipe[1] = -1;
		pthread_join(srv->ckpt_thread, NULL);
	}
	if (srv->ckpt_pipe[0] >= 0)
		close(srv->ckpt_pipe[0]);
	if (srv->ckpt_pipe[1] >= 0)
		close(srv->ckpt_pipe[1]);
	store__close(srv->ckpt_store);
	if (srv->lfd >= 0)
		close(srv->lfd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->sfd >= 0)
		close(srv->sfd);
	if (srv->tfd >= 0)
		close(srv->tfd);
	store__close(srv->store);
	tls_ctx__free(srv->tls);
	peer_map__free(srv->peers);
	free(srv->rbuf);
	free(srv);
}
