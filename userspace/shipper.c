// SPDX-License-Identifier: Apache-2.0
/* shipper.c: findings -> batches -> spool -> TLS -> aggregator, or -> NATS
 * JetStream (see shipper.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "ack_handoff.h"
#include "bytebuf.h"
#include "endpoint.h"
#include "shipper.h"
#include "spool.h"
#include "wire.h"

#ifndef WACHT_VERSION
#define WACHT_VERSION "unknown"
#endif

/* A connection that has not got as far as the aggregator's hello by then
 * is given up (and retried with backoff). */
#define CONNECT_TIMEOUT_MS 10000
/* The out buffer is refilled from the spool below OUT_LOW, up to about
 * OUT_HIGH: a long backlog is streamed, not loaded into memory. */
#define OUT_LOW (256u << 10)
#define OUT_HIGH (1u << 20)
/* Acks and the server hello are small; a PeerMap (the cluster's
 * containers) may be as large as a frame gets. */
#define IN_FRAME_MAX WIRE_FRAME_MAX

enum ship_state {
	ST_IDLE,        /* not connected; next attempt at retry_at */
	ST_RESOLVING,   /* getaddrinfo_a running */
	ST_CONNECTING,  /* non-blocking connect */
	ST_HANDSHAKE,   /* TLS */
	ST_HELLO,       /* our hello sent, waiting for the aggregator's */
	ST_STREAM,      /* sending batches, reading acks */
};

struct shipper {
	struct shipper_config cfg;
	char host[256], port[16];
	char sensor_id[300];
	char kernel[128];
	int64_t start_ns;
	struct spool *spool;
	char *reported_path;     /* <spool_dir>/reported-drops */
	struct tls_ctx *tls;
	int epfd;

	/* the batch being filled */
	struct bytebuf cur;      /* encoded "findings" fields of a FindingBatch */
	size_t cur_n;
	uint64_t cur_seq;        /* the spool seq it will get */
	uint64_t cur_opened;     /* now_ms of its first finding */

	/* the connection */
	enum ship_state state;
	struct gaicb gai;
	struct gaicb *gai_list[1];
	bool gai_busy;
	struct tls_conn *conn;
	int fd;
	uint32_t registered;     /* events registered for fd */
	struct wire_reader *in;
	struct bytebuf out;
	uint64_t sent_seq;       /* highest seq put into out on this connection */
	uint64_t state_since;
	uint64_t retry_at;
	unsigned failures;       /* consecutive */
	char last_error[256];

	/* NATS (cfg.nats.url): the publisher, NULL until connected and after
	 * a failure; acks come through the handoff. sent_seq and failures
	 * above serve both transports. */
	struct bus_pub *pub;
	struct ack_handoff *acks;

	/* the newest learned profile of each group, and whether this
	 * connection has it */
	struct learned_item {
		char *group, *yaml;
		bool sent;
	} *learned;
	size_t n_learned;
	/* the newest SensorEndpoints, framed, and whether this connection has it */
	uint8_t *endpoints;
	size_t endpoints_len;
	bool endpoints_sent;
	bool peer_map_ok;        /* this aggregator takes them (ServerHello.peer_map) */
	uint64_t lost;           /* batches that could not be spooled */
	uint64_t reported;       /* drops already reported as a finding */
	struct shipper_stats st;
	bool in_poll;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t shipper_backoff_ms(unsigned failures, uint32_t rnd)
{
	uint64_t base = SHIPPER_BACKOFF_MIN_MS;

	for (unsigned i = 1; i < failures && base < SHIPPER_BACKOFF_MAX_MS; i++)
		base *= 2;
	if (base > SHIPPER_BACKOFF_MAX_MS)
		base = SHIPPER_BACKOFF_MAX_MS;
	return base / 2 + rnd % (base / 2 + 1);
}

/* ---- small files in the spool directory */

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	return 0;
}

/* tmp + fsync + rename: a crash leaves the old or the new content */
static int write_small(const char *path, const char *text)
{
	char tmp[4200];
	int fd, err = 0;
	size_t len = strlen(text);

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd))
		err = errno ? -errno : -EIO;
	close(fd);
	if (!err && rename(tmp, path))
		err = -errno;
	return err;
}

static int load_sensor_id(struct shipper *sh, char **err)
{
	char path[4200], buf[64], node[200], text[80];
	int rc;

	snprintf(path, sizeof(path), "%s/sensor-id", sh->cfg.spool_dir);
	rc = read_small(path, buf, sizeof(buf));
	if (rc == 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (strlen(buf) != 12 || strspn(buf, "0123456789abcdef") != 12)
			rc = -EBADMSG;
	}
	if (rc == -ENOENT) {
		uint8_t r[6];

		if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
			rc = -errno;
		} else {
			snprintf(buf, sizeof(buf), "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
				 r[4], r[5]);
			snprintf(text, sizeof(text), "%s\n", buf);
			rc = write_small(path, text);
		}
	}
	if (rc) {
		if (asprintf(err, "shipper: failed to read or create %s: %s", path, strerror(-rc)) < 0)
			*err = NULL;
		return rc;
	}
	/* ':' separates the sensor id from the sequence in finding ids */
	snprintf(node, sizeof(node), "%s", sh->cfg.node && *sh->cfg.node ? sh->cfg.node : "node");
	for (char *p = node; *p; p++)
		if (*p == ':' || *p == '/' || (unsigned char)*p < 0x20)
			*p = '_';
	snprintf(sh->sensor_id, sizeof(sh->sensor_id), "%s-%s", node, buf);
	return 0;
}

struct shipper *shipper__new(const struct shipper_config *cfg, char **err)
{
	struct shipper *sh = calloc(1, sizeof(*sh));
	struct utsname un;
	struct timespec ts;
	char buf[64];
	int rc;

	*err = NULL;
	if (!sh) {
		if (asprintf(err, "shipper: failed to allocate: %s", strerror(ENOMEM)) < 0)
			*err = NULL;
		return NULL;
	}
	sh->cfg = *cfg;
	sh->fd = -1;
	sh->epfd = -1;
	if (!sh->cfg.batch_findings || sh->cfg.batch_findings > SHIPPER_BATCH_FINDINGS)
		sh->cfg.batch_findings = SHIPPER_BATCH_FINDINGS;
	if (!sh->cfg.batch_bytes)
		sh->cfg.batch_bytes = SHIPPER_BATCH_BYTES;
	if (!sh->cfg.batch_ms)
		sh->cfg.batch_ms = SHIPPER_BATCH_MS;
	if (!sh->cfg.spool_max)
		sh->cfg.spool_max = SHIPPER_SPOOL_MAX;
	if (cfg->nats.url) {
		/* no TLS connection of our own: libnats does it */
	} else if (endpoint_split(cfg->aggregator, sh->host, sizeof(sh->host), sh->port,
				  sizeof(sh->port)) || !sh->host[0]) {
		if (asprintf(err, "shipper: failed to parse --aggregator '%s': want HOST:PORT",
			     cfg->aggregator ? cfg->aggregator : "") < 0)
			*err = NULL;
		goto fail;
	}
	if (!cfg->nats.url && !(sh->tls = tls_ctx__new(&cfg->tls, false, err)))
		goto fail;
	if (mkdir(cfg->spool_dir, 0700) && errno != EEXIST) {
		if (asprintf(err, "shipper: failed to create spool directory %s: %s", cfg->spool_dir,
			     strerror(errno)) < 0)
			*err = NULL;
		goto fail;
	}
	sh->spool = spool__open(cfg->spool_dir, sh->cfg.spool_max, &rc);
	if (!sh->spool) {
		if (asprintf(err, "shipper: failed to open spool %s: %s", cfg->spool_dir,
			     strerror(-rc)) < 0)
			*err = NULL;
		goto fail;
	}
	if (load_sensor_id(sh, err))
		goto fail;
	if (asprintf(&sh->reported_path, "%s/reported-drops", cfg->spool_dir) < 0) {
		sh->reported_path = NULL;
		goto oom;
	}
	if (read_small(sh->reported_path, buf, sizeof(buf)) == 0)
		sh->reported = strtoull(buf, NULL, 10);
	sh->in = wire_reader__new(IN_FRAME_MAX);
	sh->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!sh->in || sh->epfd < 0)
		goto oom;
	if (cfg->nats.url) {
		struct epoll_event ee = { .events = EPOLLIN };

		sh->acks = ack_handoff__new();
		if (!sh->acks)
			goto oom;
		ee.data.fd = ack_handoff__fd(sh->acks);
		if (epoll_ctl(sh->epfd, EPOLL_CTL_ADD, ee.data.fd, &ee)) {
			if (asprintf(err, "shipper: failed to watch the ack eventfd: %s",
				     strerror(errno)) < 0)
				*err = NULL;
			goto fail;
		}
	}
	if (uname(&un) == 0)
		snprintf(sh->kernel, sizeof(sh->kernel), "%s", un.release);
	clock_gettime(CLOCK_REALTIME, &ts);
	sh->start_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	sh->cur_seq = spool__next_seq(sh->spool);
	/* a TLS write to a peer that went away must be an error, not SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	if (cfg->nats.url)
		fprintf(stderr, "wacht-sensor: shipping findings to NATS JetStream %s (stream %s, %s) "
				"as sensor %s, spool %s (%" PRIu64 " bytes at most, %" PRIu64
				" batches waiting)\n",
			cfg->nats.url, cfg->nats.stream ? cfg->nats.stream : BUS_DEFAULT_STREAM,
			cfg->nats.tls_ca || cfg->nats.tls_cert ? "TLS" : "no TLS unless the URL is tls://",
			sh->sensor_id, cfg->spool_dir, sh->cfg.spool_max,
			spool__pending_count(sh->spool));
	else
		fprintf(stderr, "wacht-sensor: shipping findings to %s as sensor %s (%s), spool %s "
				"(%" PRIu64 " bytes at most, %" PRIu64 " batches waiting)\n",
			cfg->aggregator, sh->sensor_id,
			tls_ctx__plaintext(sh->tls) ? "PLAINTEXT: NOT ENCRYPTED, NOT AUTHENTICATED"
						    : "TLS",
			cfg->spool_dir, sh->cfg.spool_max, spool__pending_count(sh->spool));
	return sh;
oom:
	if (asprintf(err, "shipper: failed to allocate: %s", strerror(ENOMEM)) < 0)
		*err = NULL;
fail:
	shipper__free(sh);
	return NULL;
}

/* ---- protobuf encoding of a batch, by hand: the findings are packed one by
 * one as they come (their strings are borrowed only for the emit call), and
 * a FindingBatch is those packed messages each as field 2. */

int shipper__add(struct shipper *sh, const struct format_ctx *fc, const struct finding *f,
		 uint64_t now_ms, char *id, size_t len)
{
	struct wire_finding wf;
	uint64_t seq;
	size_t size;
	uint8_t *p;
	int err;

	if (sh->cur_n && (sh->cur_n >= sh->cfg.batch_findings ||
			  bytebuf_size(&sh->cur) >= sh->cfg.batch_bytes))
		shipper__flush(sh);
	if (!sh->cur_n) {
		sh->cur_seq = spool__next_seq(sh->spool);
		sh->cur_opened = now_ms;
	}
	seq = sh->cur_seq * SHIPPER_ID_STRIDE + sh->cur_n;
	err = wire_finding__init(&wf, fc, sh->sensor_id, seq, f);
	if (err)
		goto lost;
	size = wacht__v1__finding__get_packed_size(&wf.msg);
	p = bytebuf_reserve(&sh->cur, 1 + 10 + size);
	if (!p) {
		wire_finding__release(&wf);
		err = -ENOMEM;
		goto lost;
	}
	p[0] = 0x12; /* field 2 (findings), length-delimited */
	size_t hl = 1 + wire_put_varint(p + 1, size);
	wacht__v1__finding__pack(&wf.msg, p + hl);
	bytebuf_commit(&sh->cur, hl + size);
	snprintf(id, len, "%s", wf.id);
	wire_finding__release(&wf);
	sh->cur_n++;
	sh->st.findings++;
	if (sh->cur_n >= sh->cfg.batch_findings || bytebuf_size(&sh->cur) >= sh->cfg.batch_bytes)
		shipper__flush(sh);
	return 0;
lost:
	snprintf(id, len, "%s", "");
	return err;
}

void shipper__flush(struct shipper *sh)
{
	uint64_t dropped = spool__dropped(sh->spool) + sh->lost, seq;
	size_t body_len, env_len;
	uint8_t hdr[32], *frame, *p;
	size_t n;
	int err;

	if (!sh->cur_n)
		return;
	/* FindingBatch: 1 batch_seq, 2 findings (in cur), 3 spool_dropped */
	n = 0;
	hdr[n++] = 0x08;
	n += wire_put_varint(hdr + n, sh->cur_seq);
	uint8_t tail[16];
	size_t tl = 0;
	if (dropped) {
		tail[tl++] = 0x18;
		tl += wire_put_varint(tail + tl, dropped);
	}
	body_len = n + bytebuf_size(&sh->cur) + tl;
	/* Envelope: 1 version, 4 findings */
	uint8_t ehdr[16];
	size_t el = 0;
	ehdr[el++] = 0x08;
	el += wire_put_varint(ehdr + el, WIRE_VERSION);
	ehdr[el++] = 0x22;
	el += wire_put_varint(ehdr + el, body_len);
	env_len = el + body_len;
	frame = malloc(WIRE_HEADER_LEN + env_len);
	if (!frame) {
		err = -ENOMEM;
		goto lost;
	}
	p = frame;
	*p++ = (uint8_t)(env_len >> 24);
	*p++ = (uint8_t)(env_len >> 16);
	*p++ = (uint8_t)(env_len >> 8);
	*p++ = (uint8_t)env_len;
	memcpy(p, ehdr, el);
	p += el;
	memcpy(p, hdr, n);
	p += n;
	memcpy(p, bytebuf_head(&sh->cur), bytebuf_size(&sh->cur));
	p += bytebuf_size(&sh->cur);
	memcpy(p, tail, tl);
	/* into the spool before anything is sent: what was cut survives a
	 * crash and an outage */
	err = spool__append(sh->spool, frame, WIRE_HEADER_LEN + env_len, &seq);
	free(frame);
	if (err)
		goto lost;
	if (seq != sh->cur_seq) {
		/* cannot happen: only this shipper appends, one batch at a time */
		fprintf(stderr, "wacht-sensor: shipper: batch spooled as %" PRIu64 ", expected %" PRIu64
				"\n", seq, sh->cur_seq);
	}
	sh->st.batches++;
	bytebuf_clear(&sh->cur);
	sh->cur_n = 0;
	sh->cur_seq = spool__next_seq(sh->spool);
	return;
lost:
	fprintf(stderr, "wacht-sensor: shipper: failed to spool a batch of %zu findings: %s; "
			"they are counted as dropped\n", sh->cur_n, strerror(-err));
	sh->lost++;
	bytebuf_clear(&sh->cur);
	sh->cur_n = 0;
}

/* ---- the connection */

static void set_state(struct shipper *sh, enum ship_state st, uint64_t now)
{
	sh->state = st;
	sh->state_since = now;
}

static void watch(struct shipper *sh, uint32_t events)
{
	struct epoll_event ee = { .events = events, .data.fd = sh->fd };

	if (sh->fd < 0 || events == sh->registered)
		return;
	if (epoll_ctl(sh->epfd, sh->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, sh->fd, &ee) == 0)
		sh->registered = events;
}

/* One more failure (TLS or NATS alike): the next attempt after a jittered
 * backoff. Returns the delay in ms. */
static uint64_t schedule_retry(struct shipper *sh, uint64_t now)
{
	uint32_t rnd = 0;
	uint64_t delay;

	sh->failures++;
	sh->st.failures++;
	sh->st.connected = false;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)now * 2654435761u;
	delay = shipper_backoff_ms(sh->failures, rnd);
	sh->retry_at = now + delay;
	return delay;
}

static void disconnect(struct shipper *sh, uint64_t now, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void disconnect(struct shipper *sh, uint64_t now, const char *fmt, ...)
{
	uint64_t delay;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sh->last_error, sizeof(sh->last_error), fmt, ap);
	va_end(ap);
	if (sh->fd >= 0 && sh->registered)
		epoll_ctl(sh->epfd, EPOLL_CTL_DEL, sh->fd, NULL);
	sh->registered = 0;
	if (sh->conn)
		tls_conn__free(sh->conn); /* closes fd */
	else if (sh->fd >= 0)
		close(sh->fd);
	sh->conn = NULL;
	sh->fd = -1;
	bytebuf_clear(&sh->out);
	wire_reader__free(sh->in);
	sh->in = wire_reader__new(IN_FRAME_MAX);
	delay = schedule_retry(sh, now);
	fprintf(stderr, "wacht-sensor: aggregator %s:%s: %s; retrying in %.1f s (%" PRIu64
			" batches spooled)\n", sh->host, sh->port, sh->last_error, delay / 1000.0,
		spool__pending_count(sh->spool));
	set_state(sh, ST_IDLE, now);
}

static void start_resolve(struct shipper *sh, uint64_t now)
{
	static const struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	int rc;

	memset(&sh->gai, 0, sizeof(sh->gai));
	sh->gai.ar_name = sh->host;
	sh->gai.ar_service = sh->port;
	sh->gai.ar_request = &hints;
	sh->gai_list[0] = &sh->gai;
	/* asynchronous: a slow DNS must not stall the sensor's event loop */
	rc = getaddrinfo_a(GAI_NOWAIT, sh->gai_list, 1, NULL);
	if (rc) {
		disconnect(sh, now, "failed to resolve %s: %s", sh->host, gai_strerror(rc));
		return;
	}
	sh->gai_busy = true;
	set_state(sh, ST_RESOLVING, now);
}

static void start_connect(struct shipper *sh, const struct addrinfo *ai, uint64_t now)
{
	int one = 1;

	sh->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (sh->fd < 0) {
		disconnect(sh, now, "failed to create a socket: %s", strerror(errno));
		return;
	}
	setsockopt(sh->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(sh->fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
		disconnect(sh, now, "failed to connect: %s", strerror(errno));
		return;
	}
	set_state(sh, ST_CONNECTING, now);
	watch(sh, EPOLLOUT);
}

static int queue_hello(struct shipper *sh)
{
	Wacht__V1__Envelope env;
	Wacht__V1__SensorHello h = WACHT__V1__SENSOR_HELLO__INIT;
	uint8_t *frame;
	size_t len;
	int err;

	wire_envelope_init(&env);
	h.node = (char *)(sh->cfg.node ? sh->cfg.node : "");
	h.sensor_id = sh->sensor_id;
	h.sensor_version = (char *)WACHT_VERSION;
	h.kernel = sh->kernel;
	h.start_time_unix_ns = sh->start_ns;
	h.max_frame_bytes = IN_FRAME_MAX;
	h.spool_dropped = spool__dropped(sh->spool) + sh->lost;
	env.body_case = WACHT__V1__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	err = wire_frame_envelope(&env, &frame, &len);
	if (err)
		return err;
	err = bytebuf_append(&sh->out, frame, len);
	free(frame);
	return err;
}

int shipper__learned(struct shipper *sh, const char *group, const char *yaml)
{
	struct learned_item *it = NULL;
	char *y = strdup(yaml);

	if (!y)
		return -ENOMEM;
	for (size_t i = 0; i < sh->n_learned && !it; i++)
		if (strcmp(sh->learned[i].group, group) == 0)
			it = &sh->learned[i];
	if (!it) {
		struct learned_item *v = realloc(sh->learned, (sh->n_learned + 1) * sizeof(*v));
		char *g = strdup(group);
		if (!v || !g) {
			free(v == sh->learned ? NULL : v);
			free(g);
			free(y);
			return -ENOMEM;
		}
		sh->learned = v;
		it = &sh->learned[sh->n_learned++];
		it->group = g;
		it->yaml = NULL;
	}
	free(it->yaml);
	it->yaml = y;
	it->sent = false;
	return 0;
}

/* Learned profiles this connection does not have yet, into out. */
static int queue_learned(struct shipper *sh)
{
	for (size_t i = 0; i < sh->n_learned; i++) {
		struct learned_item *it = &sh->learned[i];
		Wacht__V1__LearnedProfile lp = WACHT__V1__LEARNED_PROFILE__INIT;
		Wacht__V1__Envelope env;
		struct timespec ts;
		uint8_t *frame;
		size_t len;

		if (it->sent)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		wire_envelope_init(&env);
		lp.group = it->group;
		lp.node = (char *)(sh->cfg.node ? sh->cfg.node : "");
		lp.yaml = it->yaml;
		lp.time_unix_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		env.body_case = WACHT__V1__ENVELOPE__BODY_LEARNED;
		env.learned = &lp;
		int err = wire_frame_envelope(&env, &frame, &len);
		if (err)
			return err;
		err = bytebuf_append(&sh->out, frame, len);
		free(frame);
		if (err)
			return err;
		it->sent = true;
	}
	return 0;
}

/* One FlowBatch (a slice of the report) onto the stream or to NATS. */
static int flows_send(struct shipper *sh, Wacht__V1__FlowBatch *b)
{
	Wacht__V1__Envelope env;
	uint8_t *frame;
	size_t len;
	int err;

	b->batch_seq = sh->st.flows_sent + sh->st.flows_dropped + 1;
	b->flows_dropped = sh->st.flows_dropped;
	if (sh->cfg.nats.url) {
		/* a failed publish is reported through the acks like the hello's,
		 * and the publisher is made again */
		err = bus_pub__publish_flows(sh->pub, b, sh->start_ns);
		if (err) {
			sh->st.flows_dropped++;
			return err;
		}
		sh->st.flows_sent++;
		return 0;
	}
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_FLOWS;
	env.flows = b;
	err = wire_frame_envelope(&env, &frame, &len);
	if (err)
		return err;
	err = bytebuf_append(&sh->out, frame, len);
	free(frame);
	if (err)
		return err;
	sh->st.flows_sent++;
	return 0;
}

int shipper__flows(struct shipper *sh, Wacht__V1__FlowBatch *b)
{
	Wacht__V1__FlowRecord **all = b->records;
	size_t n = b->n_records, off = 0;
	int err = 0;

	/* a report of the last interval: behind a backlog it is still sent
	 * (after what is queued), never kept for a later connection; over
	 * NATS, not while libnats reconnects (it would buffer it) */
	bool up = sh->cfg.nats.url ? sh->pub && bus_pub__connected(sh->pub) : sh->state == ST_STREAM;
	if (!up) {
		sh->st.flows_dropped++;
		return -ENOTCONN;
	}
	/* in slices: a busy node's report (up to the kernel map's 65536
	 * conversations) would exceed the aggregator's frame limit and NATS's
	 * message size (1 MiB by default) */
	do {
		b->records = all + off;
		b->n_records = n - off < SHIPPER_FLOW_RECORDS ? n - off : SHIPPER_FLOW_RECORDS;
		err = flows_send(sh, b);
		off += b->n_records;
	} while (!err && off < n);
	b->records = all;
	b->n_records = n;
	return err;
}

int shipper__endpoints(struct shipper *sh, const Wacht__V1__SensorEndpoints *se)
{
	Wacht__V1__Envelope env;
	uint8_t *frame;
	size_t len;

	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_ENDPOINTS;
	env.endpoints = (Wacht__V1__SensorEndpoints *)se;
	int err = wire_frame_envelope(&env, &frame, &len);
	if (err)
		return err;
	free(sh->endpoints);
	sh->endpoints = frame;
	sh->endpoints_len = len;
	sh->endpoints_sent = false;
	return 0;
}

/* The endpoints, if this connection does not have them yet. */
static int queue_endpoints(struct shipper *sh)
{
	if (!sh->endpoints || sh->endpoints_sent || sh->cfg.nats.url || !sh->peer_map_ok)
		return 0;
	int err = bytebuf_append(&sh->out, sh->endpoints, sh->endpoints_len);
	if (err)
		return err;
	sh->endpoints_sent = true;
	sh->st.endpoints_sent++;
	return 0;
}

static int refill_one(void *ctx, uint64_t seq, const void *data, size_t len)
{
	struct shipper *sh = ctx;

	if (bytebuf_append(&sh->out, data, len))
		return -ENOMEM;
	sh->sent_seq = seq;
	sh->st.sent++;
	return bytebuf_size(&sh->out) >= OUT_HIGH ? 1 : 0;
}

/* Everything spooled and not yet on this connection, in order, as far as
 * the out buffer goes. */
static int refill(struct shipper *sh)
{
	int rc;

	if (sh->state != ST_STREAM || bytebuf_size(&sh->out) >= OUT_LOW ||
	    sh->sent_seq + 1 >= spool__next_seq(sh->spool))
		return 0;
	rc = spool__peek(sh->spool, sh->sent_seq, refill_one, sh);
	return rc < 0 ? rc : 0;
}

static int on_frame(struct shipper *sh, const Wacht__V1__Envelope *env, uint64_t now)
{
	if (env->body_case == WACHT__V1__ENVELOPE__BODY_SERVER_HELLO && sh->state == ST_HELLO) {
		fprintf(stderr, "wacht-sensor: connected to aggregator %s:%s (version %s%s%s), "
				"sending %" PRIu64 " spooled batches\n", sh->host, sh->port,
			env->server_hello->aggregator_version,
			tls_conn__peer_name(sh->conn)[0] ? ", certificate CN=" : "",
			tls_conn__peer_name(sh->conn), spool__pending_count(sh->spool));
		set_state(sh, ST_STREAM, now);
		sh->failures = 0;
		sh->sent_seq = 0; /* resend every unacknowledged batch */
		for (size_t i = 0; i < sh->n_learned; i++)
			sh->learned[i].sent = false; /* and every learned profile */
		sh->endpoints_sent = false;      /* and the endpoints, if it takes them */
		sh->peer_map_ok = env->server_hello->peer_map;
		sh->st.connects++;
		sh->st.connected = true;
		return 0;
	}
	if (env->body_case == WACHT__V1__ENVELOPE__BODY_PEERS && sh->state == ST_STREAM) {
		sh->st.peer_maps++;
		if (sh->cfg.peers)
			sh->cfg.peers(sh->cfg.peers_ctx, env->peers);
		return 0;
	}
	if (env->body_case == WACHT__V1__ENVELOPE__BODY_ACK && sh->state == ST_STREAM) {
		uint64_t seq = env->ack->batch_seq, before = spool__pending_count(sh->spool);
		int err;

		if (seq > sh->sent_seq || seq == 0)
			return -EPROTO;
		err = spool__ack(sh->spool, seq);
		if (err)
			return err;
		sh->st.acked += before - spool__pending_count(sh->spool);
		return 0;
	}
	return -EPROTO;
}

static void do_read(struct shipper *sh, uint64_t now)
{
	uint8_t buf[16384];

	for (;;) {
		ssize_t n = tls_conn__read(sh->conn, buf, sizeof(buf));
		Wacht__V1__Envelope *env;
		int rc;

		if (n == -EAGAIN)
			return;
		if (n == 0) {
			disconnect(sh, now, "the aggregator closed the connection");
			return;
		}
		if (n < 0) {
			disconnect(sh, now, "%s", tls_conn__error(sh->conn));
			return;
		}
		rc = wire_reader__feed(sh->in, buf, (size_t)n);
		while (rc == 0 && (rc = wire_reader__next(sh->in, &env)) == 1) {
			rc = on_frame(sh, env, now);
			wire_envelope_free(env);
		}
		if (rc < 0) {
			disconnect(sh, now, "failed to read the aggregator's frames: %s",
				   rc == -EPROTO ? "out of protocol" : strerror(-rc));
			return;
		}
	}
}

static void do_write(struct shipper *sh, uint64_t now)
{
	for (;;) {
		int rc = sh->state == ST_STREAM ? queue_endpoints(sh) : 0;

		if (!rc && sh->state == ST_STREAM)
			rc = queue_learned(sh);

		if (!rc)
			rc = refill(sh);

		if (rc) {
			disconnect(sh, now, "failed to read the spool: %s", strerror(-rc));
			return;
		}
		if (!bytebuf_size(&sh->out))
			return;
		ssize_t n = tls_conn__write(sh->conn, bytebuf_head(&sh->out), bytebuf_size(&sh->out));
		if (n == -EAGAIN)
			return;
		if (n < 0) {
			disconnect(sh, now, "%s", tls_conn__error(sh->conn));
			return;
		}
		bytebuf_consume(&sh->out, (size_t)n);
	}
}

/* Reports drops not reported before, once the aggregator listens. */
static void report_drops(struct shipper *sh, uint64_t now)
{
	uint64_t dropped = spool__dropped(sh->spool) + sh->lost;
	char msg[512], text[32];
	struct finding f = { 0 };
	struct timespec ts;

	if (sh->state != ST_STREAM || dropped <= sh->reported || !sh->cfg.sink)
		return;
	/* libnats reconnecting is not "reachable again": the report would
	 * only fill the spool further */
	if (sh->cfg.nats.url && (!sh->pub || !bus_pub__connected(sh->pub)))
		return;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	snprintf(msg, sizeof(msg),
		 "%" PRIu64 " batches of findings were dropped unsent (in all, %" PRIu64
		 " since the spool %s was created): the spool was full (--spool-max %" PRIu64
		 " bytes) while the %s was unreachable, and the oldest batches go first",
		 dropped - sh->reported, dropped, sh->cfg.spool_dir, sh->cfg.spool_max,
		 sh->cfg.nats.url ? "NATS server" : "aggregator");
	f.ts_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	f.name = FN_FINDINGS_DROPPED;
	f.severity = SEV_HIGH;
	f.action = FACT_ALERT;
	f.mode = MODE_UNSET;
	f.rule.id = "builtin:spool";
	f.rule.name = "spool";
	f.rule.group = "";
	f.group = "";
	f.process.pid = (uint32_t)getpid();
	f.process.name = "wacht-sensor";
	f.process.exe = "";
	f.process.parent_exe = "";
	f.message = msg;
	f.count = 1;
	sh->reported = dropped;
	snprintf(text, sizeof(text), "%" PRIu64 "\n", dropped);
	if (write_small(sh->reported_path, text))
		fprintf(stderr, "wacht-sensor: shipper: failed to write %s: %s\n", sh->reported_path,
			strerror(errno));
	fprintf(stderr, "wacht-sensor: %s\n", msg);
	(void)now;
	sh->cfg.sink(sh->cfg.sink_ctx, &f);
}

/* ---- NATS JetStream (see shipper.h) */

/* On a libnats thread: only hand the ack to the loop. */
static void nats_on_ack(void *ctx, uint64_t seq, uint64_t acked_through, int err)
{
	struct shipper *sh = ctx;

	ack_handoff__post(sh->acks, seq, acked_through, err);
}

static void nats_fail(struct shipper *sh, uint64_t now, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void nats_fail(struct shipper *sh, uint64_t now, const char *fmt, ...)
{
	struct ack_taken t;
	uint64_t delay;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sh->last_error, sizeof(sh->last_error), fmt, ap);
	va_end(ap);
	/* A fresh publisher after the backoff, as a fresh TLS connection: its
	 * acks cannot be confused with this one's late failures, and it does
	 * not wait for batches the spool dropped meanwhile. What this one
	 * posted until now still counts: acks are facts about the stream. */
	bus_pub__free(sh->pub, 0);
	sh->pub = NULL;
	if (ack_handoff__take(sh->acks, &t) && t.acked_through > spool__acked(sh->spool) &&
	    t.acked_through < spool__next_seq(sh->spool)) {
		uint64_t before = spool__pending_count(sh->spool);

		if (spool__ack(sh->spool, t.acked_through) == 0)
			sh->st.acked += before - spool__pending_count(sh->spool);
	}
	delay = schedule_retry(sh, now);
	fprintf(stderr, "wacht-sensor: NATS %s: %s; retrying in %.1f s (%" PRIu64
			" batches spooled)\n", sh->cfg.nats.url, sh->last_error, delay / 1000.0,
		spool__pending_count(sh->spool));
	set_state(sh, ST_IDLE, now);
}

struct nats_walk {
	struct shipper *sh;
	int err;
};

static int nats_publish_one(void *ctx, uint64_t seq, const void *data, size_t len)
{
	struct nats_walk *w = ctx;
	struct shipper *sh = w->sh;
	int rc;

	if (seq > spool__acked(sh->spool) + SHIPPER_NATS_WINDOW)
		return 1; /* enough in flight; more as acks come */
	/* the spool keeps wire frames; a NATS message is the bare Envelope */
	if (len <= WIRE_HEADER_LEN)
		return 0;
	rc = bus_pub__publish(sh->pub, seq, (const uint8_t *)data + WIRE_HEADER_LEN,
			      len - WIRE_HEADER_LEN);
	if (rc == -EAGAIN)
		return 1;
	if (rc) {
		w->err = rc;
		return 1;
	}
	sh->sent_seq = seq;
	sh->st.sent++;
	return 0;
}

static void nats_connect(struct shipper *sh, uint64_t now)
{
	Wacht__V1__SensorHello h = WACHT__V1__SENSOR_HELLO__INIT;
	char *err = NULL;
	int rc;

	sh->pub = bus_pub__new(&sh->cfg.nats, sh->sensor_id, sh->cfg.node, nats_on_ack, sh, &err);
	if (!sh->pub) {
		nats_fail(sh, now, "%s", err ? err : strerror(errno));
		free(err);
		return;
	}
	/* the hello tells the aggregators' store who this sensor is (its
	 * sensors table); acks of it carry no batch and change nothing */
	h.node = (char *)(sh->cfg.node ? sh->cfg.node : "");
	h.sensor_id = sh->sensor_id;
	h.sensor_version = (char *)WACHT_VERSION;
	h.kernel = sh->kernel;
	h.start_time_unix_ns = sh->start_ns;
	h.spool_dropped = spool__dropped(sh->spool) + sh->lost;
	rc = bus_pub__publish_hello(sh->pub, &h);
	if (rc) {
		nats_fail(sh, now, "failed to publish the hello: %s", strerror(-rc));
		return;
	}
	fprintf(stderr, "wacht-sensor: connected to NATS %s, publishing %" PRIu64
			" spooled batches\n", sh->cfg.nats.url, spool__pending_count(sh->spool));
	set_state(sh, ST_STREAM, now);
	sh->sent_seq = 0; /* republish every unacknowledged batch */
	for (size_t i = 0; i < sh->n_learned; i++)
		sh->learned[i].sent = false; /* and every learned profile */
	sh->st.connects++;
	sh->st.connected = true;
}

/* Learned profiles not published on this connection yet. */
static void nats_publish_learned(struct shipper *sh, uint64_t now)
{
	for (size_t i = 0; i < sh->n_learned && sh->pub; i++) {
		struct learned_item *it = &sh->learned[i];
		Wacht__V1__LearnedProfile lp = WACHT__V1__LEARNED_PROFILE__INIT;
		struct timespec ts;

		if (it->sent)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		lp.group = it->group;
		lp.node = (char *)(sh->cfg.node ? sh->cfg.node : "");
		lp.yaml = it->yaml;
		lp.time_unix_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		int rc = bus_pub__publish_learned(sh->pub, &lp);
		if (rc) {
			nats_fail(sh, now, "failed to publish the learned profile of %s: %s", it->group,
				  strerror(-rc));
			return;
		}
		it->sent = true;
	}
}

static void nats_poll(struct shipper *sh, uint64_t now)
{
	struct ack_taken t;

	if (ack_handoff__take(sh->acks, &t)) {
		uint64_t before = spool__pending_count(sh->spool);

		if (t.acked_through > spool__acked(sh->spool) &&
		    t.acked_through < spool__next_seq(sh->spool)) {
			int err = spool__ack(sh->spool, t.acked_through);

			if (err) {
				nats_fail(sh, now, "failed to acknowledge the spool through %" PRIu64
					  ": %s", t.acked_through, strerror(-err));
				return;
			}
			sh->st.acked += before - spool__pending_count(sh->spool);
			sh->failures = 0;
		}
		/* a failure of the hello (seq 0) too: the connection is bad */
		if (t.failed && sh->pub) {
			nats_fail(sh, now, "JetStream did not store %s %" PRIu64 ": %s (%" PRIu64
				  " publishes failed)", t.failed_seq ? "batch"
				  : "the hello, a learned profile or a flow batch",
				  t.failed_seq, strerror(-t.first_err), t.failed);
			return;
		}
	}
	if (!sh->pub) {
		if (now < sh->retry_at)
			return;
		nats_connect(sh, now);
		if (!sh->pub)
			return;
	}
	sh->st.connected = bus_pub__connected(sh->pub);
	nats_publish_learned(sh, now);
	if (!sh->pub)
		return;
	if (sh->sent_seq < spool__acked(sh->spool))
		sh->sent_seq = spool__acked(sh->spool);
	if (sh->sent_seq + 1 < spool__next_seq(sh->spool)) {
		struct nats_walk w = { .sh = sh };
		int rc = spool__peek(sh->spool, sh->sent_seq, nats_publish_one, &w);

		if (w.err)
			nats_fail(sh, now, "failed to publish batch %" PRIu64 ": %s", sh->sent_seq + 1,
				  strerror(-w.err));
		else if (rc < 0)
			nats_fail(sh, now, "failed to read the spool: %s", strerror(-rc));
	}
}

void shipper__poll(struct shipper *sh, uint64_t now)
{
	if (sh->cfg.nats.url) {
		if (sh->in_poll)
			return;
		sh->in_poll = true;
		if (sh->cur_n && now - sh->cur_opened >= sh->cfg.batch_ms)
			shipper__flush(sh);
		nats_poll(sh, now);
		sh->in_poll = false;
		report_drops(sh, now);
		return;
	}
	/* sh->epfd needs no reading: it is level-triggered and reports ready
	 * as long as the socket is; the state machine tries what it can */
	if (sh->in_poll)
		return;
	sh->in_poll = true;
	if (sh->cur_n && now - sh->cur_opened >= sh->cfg.batch_ms)
		shipper__flush(sh);
	if (sh->state != ST_IDLE && sh->state != ST_STREAM &&
	    now - sh->state_since >= CONNECT_TIMEOUT_MS)
		disconnect(sh, now, "no answer within %d s", CONNECT_TIMEOUT_MS / 1000);

	switch (sh->state) {
	case ST_IDLE:
		if (now >= sh->retry_at)
			start_resolve(sh, now);
		break;
	case ST_RESOLVING: {
		int rc = gai_error(&sh->gai);

		if (rc == EAI_INPROGRESS)
			break;
		sh->gai_busy = false;
		if (rc) {
			disconnect(sh, now, "failed to resolve %s: %s", sh->host, gai_strerror(rc));
			break;
		}
		start_connect(sh, sh->gai.ar_result, now);
		freeaddrinfo(sh->gai.ar_result);
		sh->gai.ar_result = NULL;
		break;
	}
	default:
		break;
	}
	if (sh->state == ST_CONNECTING) {
		struct pollfd pfd = { .fd = sh->fd, .events = POLLOUT };
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		/* writable: the connect finished, one way or the other */
		if (poll(&pfd, 1, 0) == 1) {
			if (getsockopt(sh->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
				disconnect(sh, now, "failed to connect: %s", strerror(soerr ? soerr : errno));
			} else {
				sh->conn = tls_conn__new(sh->tls, sh->fd, sh->host);
				if (!sh->conn)
					disconnect(sh, now, "failed to set up TLS: %s", strerror(errno));
				else
					set_state(sh, ST_HANDSHAKE, now);
			}
		}
	}
	if (sh->state == ST_HANDSHAKE) {
		int rc = tls_conn__handshake(sh->conn);

		if (rc == 1) {
			if (queue_hello(sh))
				disconnect(sh, now, "failed to build the hello: out of memory");
			else
				set_state(sh, ST_HELLO, now);
		} else if (rc != -EAGAIN) {
			disconnect(sh, now, "%s", tls_conn__error(sh->conn));
		}
	}
	if (sh->state == ST_HELLO || sh->state == ST_STREAM)
		do_read(sh, now);
	if (sh->state == ST_HELLO || sh->state == ST_STREAM)
		do_write(sh, now);
	if (sh->state == ST_HANDSHAKE || sh->state == ST_HELLO || sh->state == ST_STREAM) {
		uint32_t ev = EPOLLIN;

		if (bytebuf_size(&sh->out) || tls_conn__want(sh->conn) == EPOLLOUT)
			ev |= EPOLLOUT;
		watch(sh, ev);
	}
	sh->in_poll = false;
	report_drops(sh, now);
}

void shipper__drain(struct shipper *sh, uint64_t timeout_ms)
{
	uint64_t start = mono_ms(), now;

	shipper__flush(sh);
	while ((now = mono_ms()) - start < timeout_ms && spool__pending_count(sh->spool)) {
		struct epoll_event ev;

		if ((sh->state == ST_IDLE && sh->failures) || (sh->cfg.nats.url && !sh->pub))
			break; /* not connected: it is all in the spool for the next start */
		epoll_wait(sh->epfd, &ev, 1, 20);
		shipper__poll(sh, now);
		shipper__flush(sh);
	}
}

int shipper__fd(const struct shipper *sh)
{
	return sh->epfd;
}

void shipper__free(struct shipper *sh)
{
	if (!sh)
		return;
	if (sh->spool)
		shipper__flush(sh);
	if (sh->gai_busy && gai_cancel(&sh->gai) == EAI_NOTCANCELED) {
		/* the resolver thread still writes into sh->gai: wait for it */
		const struct gaicb *list[1] = { &sh->gai };
		struct timespec to = { 2, 0 };

		gai_suspend(list, 1, &to);
	}
	if (sh->gai.ar_result)
		freeaddrinfo(sh->gai.ar_result);
	if (sh->conn)
		tls_conn__free(sh->conn);
	else if (sh->fd >= 0)
		close(sh->fd);
	/* before the handoff: its ack callbacks post there until closed */
	bus_pub__free(sh->pub, 0);
	ack_handoff__free(sh->acks);
	if (sh->epfd >= 0)
		close(sh->epfd);
	wire_reader__free(sh->in);
	bytebuf_release(&sh->out);
	bytebuf_release(&sh->cur);
	spool__free(sh->spool);
	tls_ctx__free(sh->tls);
	for (size_t i = 0; i < sh->n_learned; i++) {
		free(sh->learned[i].group);
		free(sh->learned[i].yaml);
	}
	free(sh->learned);
	free(sh->endpoints);
	free(sh->reported_path);
	free(sh);
}

void shipper__stats(const struct shipper *sh, struct shipper_stats *st)
{
	*st = sh->st;
	st->dropped = spool__dropped(sh->spool) + sh->lost;
	st->spool_batches = spool__pending_count(sh->spool);
	st->spool_bytes = spool__pending_bytes(sh->spool);
}

void shipper__stats_json(const struct shipper *sh, struct jsonw *w)
{
	struct shipper_stats st;
	char addr[300];

	shipper__stats(sh, &st);
	snprintf(addr, sizeof(addr), "%s:%s", sh->host, sh->port);
	jsonw__obj_begin(w, "aggregator");
	jsonw__str(w, "transport", sh->cfg.nats.url ? "nats" : "tls");
	jsonw__str(w, "address", sh->cfg.nats.url ? sh->cfg.nats.url : addr);
	jsonw__str(w, "sensor_id", sh->sensor_id);
	jsonw__bool(w, "connected", st.connected);
	jsonw__u64(w, "findings", st.findings);
	jsonw__u64(w, "batches", st.batches);
	jsonw__u64(w, "sent", st.sent);
	jsonw__u64(w, "acked", st.acked);
	jsonw__u64(w, "dropped", st.dropped);
	jsonw__u64(w, "spool_batches", st.spool_batches);
	jsonw__u64(w, "spool_bytes", st.spool_bytes);
	jsonw__u64(w, "connects", st.connects);
	jsonw__u64(w, "failures", st.failures);
	jsonw__u64(w, "flow_batches_sent", st.flows_sent);
	jsonw__u64(w, "flow_batches_dropped", st.flows_dropped);
	jsonw__u64(w, "endpoints_sent", st.endpoints_sent);
	jsonw__u64(w, "peer_maps", st.peer_maps);
	jsonw__obj_end(w);
}

const char *shipper__sensor_id(const struct shipper *sh)
{
	return sh->sensor_id;
}
