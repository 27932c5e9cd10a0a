// SPDX-License-Identifier: Apache-2.0
/* peer_sensor.c: a sensor of another node, as far as the peer map goes,
 * for tests/integration/test_peermap.py: connects to wacht-aggregator
 * over TLS, says hello as node --node, announces the containers given
 * with --endpoint (SensorEndpoints) and prints every PeerMap it receives
 * as a JSON line on stdout. Closes the connection and exits when its
 * stdin ends (or on SIGTERM).
 *
 * Usage: wacht-peer-sensor --connect HOST:PORT --tls-ca F --tls-cert F
 *        --tls-key F --node NODE [--endpoint ID,POD,NAMESPACE,GROUP,IP[,IP]...]...
 *        wacht-peer-sensor --nats URL [--nats-stream NAME] --node NODE
 *        [--endpoint ...]...
 * With --nats it does what a sensor started with --nats does for the peer
 * map (userspace/peer_bus.c): publishes its SensorEndpoints on core NATS
 * every second, and prints every other node's it hears as a JSON line
 * ({"kind":"endpoints","node":...,"endpoints":[...]}).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <nats/nats.h>

#include "bytebuf.h"
#include "endpoint.h"
#include "jsonw.h"
#include "peer_bus.h"
#include "peermap.h"
#include "tls.h"
#include "wire.h"

#define MAX_EPS 16

static int die(const char *fmt, const char *arg)
{
	fprintf(stderr, "wacht-peer-sensor: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static void print_eps(struct jsonw *w, Wacht__V1__PeerEndpoint **eps, size_t n, const char *node)
{
	char ip[INET6_ADDRSTRLEN];

	jsonw__arr_begin(w, "endpoints");
	for (size_t i = 0; i < n; i++) {
		const Wacht__V1__PeerEndpoint *e = eps[i];
		const Wacht__V1__Container *c = e->container;

		jsonw__obj_begin(w, NULL);
		jsonw__str(w, "node", node ? node : e->node);
		jsonw__str(w, "id", c ? c->id : "");
		jsonw__str(w, "pod", c ? c->pod : "");
		jsonw__str(w, "namespace", c ? c->namespace_ : "");
		jsonw__str(w, "group", c ? c->group : "");
		jsonw__arr_begin(w, "ips");
		for (size_t k = 0; k < e->n_ips; k++) {
			inet_ntop(e->ips[k].len == 16 ? AF_INET6 : AF_INET, e->ips[k].data, ip,
				  sizeof(ip));
			jsonw__str(w, NULL, ip);
		}
		jsonw__arr_end(w);
		jsonw__obj_end(w);
	}
	jsonw__arr_end(w);
}

static void print_map(const Wacht__V1__PeerMap *m)
{
	struct jsonw *w = jsonw__new();
	size_t len;

	jsonw__obj_begin(w, NULL);
	jsonw__str(w, "kind", "peer_map");
	jsonw__u64(w, "version", m->version);
	jsonw__u64(w, "omitted", m->omitted);
	print_eps(w, m->endpoints, m->n_endpoints, NULL);
	jsonw__obj_end(w);
	printf("%s\n", jsonw__data(w, &len));
	fflush(stdout);
	jsonw__free(w);
}

static pthread_mutex_t print_mu = PTHREAD_MUTEX_INITIALIZER;

/* On a libnats thread: another sensor's endpoints, as a JSON line. */
static void on_endpoints(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *own)
{
	Wacht__V1__SensorEndpoints *se = wacht__v1__sensor_endpoints__unpack(
	    NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));

	(void)nc;
	(void)sub;
	if (se && strcmp(se->node, own)) {
		struct jsonw *w = jsonw__new();
		size_t len;

		jsonw__obj_begin(w, NULL);
		jsonw__str(w, "kind", "endpoints");
		jsonw__str(w, "node", se->node);
		print_eps(w, se->endpoints, se->n_endpoints, se->node);
		jsonw__obj_end(w);
		pthread_mutex_lock(&print_mu);
		printf("%s\n", jsonw__data(w, &len));
		fflush(stdout);
		pthread_mutex_unlock(&print_mu);
		jsonw__free(w);
	}
	wacht__v1__sensor_endpoints__free_unpacked(se, NULL);
	natsMsg_Destroy(msg);
}

/* --nats: publish every second until stdin ends. */
static int run_nats(const char *url, const char *stream, const char *node,
		    const Wacht__V1__SensorEndpoints *se)
{
	char subject[512], wildcard[300];
	natsConnection *nc = NULL;
	natsSubscription *sub = NULL;
	size_t len = wacht__v1__sensor_endpoints__get_packed_size(se);
	uint8_t *buf = malloc(len + 1);

	snprintf(wildcard, sizeof(wildcard), "%s." PEER_BUS_SUBJECT_TOKEN ".*",
		 stream ? stream : BUS_DEFAULT_STREAM);
	if (!buf || peer_bus_subject(subject, sizeof(subject), stream, node) ||
	    natsConnection_ConnectTo(&nc, url) != NATS_OK ||
	    natsConnection_Subscribe(&sub, nc, wildcard, on_endpoints, (void *)node) != NATS_OK)
		die("failed to connect to NATS %s", url);
	wacht__v1__sensor_endpoints__pack(se, buf);
	for (;;) {
		struct pollfd p = {.fd = 0, .events = POLLIN};
		char tmp[256];

		if (natsConnection_Publish(nc, subject, buf, (int)len) != NATS_OK)
			fprintf(stderr, "wacht-peer-sensor: failed to publish on %s\n", subject);
		natsConnection_Flush(nc);
		if (poll(&p, 1, 1000) == 1 && read(0, tmp, sizeof(tmp)) <= 0)
			break; /* stdin ended: go away */
	}
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"connect", required_argument, NULL, 'c'},
	    {"tls-ca", required_argument, NULL, 'a'},
	    {"tls-cert", required_argument, NULL, 'e'},
	    {"tls-key", required_argument, NULL, 'k'},
	    {"node", required_argument, NULL, 'n'},
	    {"endpoint", required_argument, NULL, 'p'},
	    {"nats", required_argument, NULL, 'N'},
	    {"nats-stream", required_argument, NULL, 'S'},
	    {0},
	};
	struct tls_config tc = {0};
	const char *connect_to = NULL, *node = NULL, *nats = NULL, *stream = NULL;
	struct container_view views[MAX_EPS];
	struct entity_addr addrs[MAX_EPS][PEER_ADDRS_MAX];
	size_t n_addrs[MAX_EPS], n_eps = 0;
	char *groups[MAX_EPS];
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			connect_to = optarg;
			break;
		case 'a':
			tc.ca = optarg;
			break;
		case 'e':
			tc.cert = optarg;
			break;
		case 'k':
			tc.key = optarg;
			break;
		case 'n':
			node = optarg;
			break;
		case 'N':
			nats = optarg;
			break;
		case 'S':
			stream = optarg;
			break;
		case 'p': {
			char *f[4 + PEER_ADDRS_MAX], *save = NULL, *p = strdup(optarg);
			size_t nf = 0;

			if (n_eps == MAX_EPS)
				die("more than 16 --endpoint", "");
			for (char *t = strtok_r(p, ",", &save); t && nf < 4 + PEER_ADDRS_MAX;
			     t = strtok_r(NULL, ",", &save))
				f[nf++] = t;
			if (nf < 5)
				die("--endpoint '%s': want ID,POD,NAMESPACE,GROUP,IP[,IP]...",
				    optarg);
			views[n_eps] = (struct container_view){
			    .id = f[0], .name = f[1], .image = "", .pod = f[1], .namespace = f[2]};
			groups[n_eps] = f[3];
			n_addrs[n_eps] = 0;
			for (size_t i = 4; i < nf; i++) {
				struct entity_addr *a = &addrs[n_eps][n_addrs[n_eps]++];

				a->family = strchr(f[i], ':') ? AF_INET6 : AF_INET;
				if (inet_pton(a->family, f[i], a->addr) != 1)
					die("--endpoint: '%s' is not an IP address", f[i]);
			}
			n_eps++;
			break;
		}
		default:
			return 2;
		}
	}
	if ((!connect_to && !nats) || !node)
		die("--connect or --nats, and --node are required%s", "");
	signal(SIGPIPE, SIG_IGN);
	if (nats) {
		struct peer_announce *pa = peer_announce__new();

		for (size_t i = 0; i < n_eps; i++)
			peer_announce__add(pa, &views[i], groups[i], addrs[i], n_addrs[i]);
		int rc = run_nats(nats, stream, node, peer_announce__msg(pa, node));
		peer_announce__free(pa);
		return rc;
	}

	char *err = NULL, host[256], port[16];
	struct tls_ctx *ctx = tls_ctx__new(&tc, false, &err);
	if (!ctx)
		die("%s", err ? err : "tls: out of memory");
	if (endpoint_split(connect_to, host, sizeof(host), port, sizeof(port)))
		die("--connect '%s' is not HOST:PORT", connect_to);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	if (getaddrinfo(host, port, &hints, &ai))
		die("cannot resolve %s", host);
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen))
		die("failed to connect: %s", strerror(errno));
	freeaddrinfo(ai);
	/* non-blocking, as tls.h wants: reads end in -EAGAIN */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	struct tls_conn *c = tls_conn__new(ctx, fd, host);
	if (!c)
		die("tls: %s", strerror(errno));

	/* the hello and the endpoints go out together: the aggregator
	 * handles them in order */
	struct bytebuf out = {0};
	Wacht__V1__Envelope env;
	Wacht__V1__SensorHello h = WACHT__V1__SENSOR_HELLO__INIT;
	char sid[300];
	uint8_t *frame;
	size_t len;

	snprintf(sid, sizeof(sid), "%s-peersim", node);
	h.node = (char *)node;
	h.sensor_id = sid;
	h.sensor_version = "peer-sensor";
	h.max_frame_bytes = WIRE_FRAME_MAX;
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	if (wire_frame_envelope(&env, &frame, &len) || bytebuf_append(&out, frame, len))
		die("out of memory%s", "");
	free(frame);
	struct peer_announce *a = peer_announce__new();
	for (size_t i = 0; i < n_eps; i++)
		peer_announce__add(a, &views[i], groups[i], addrs[i], n_addrs[i]);
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_ENDPOINTS;
	env.endpoints = peer_announce__msg(a, node);
	if (wire_frame_envelope(&env, &frame, &len) || bytebuf_append(&out, frame, len))
		die("out of memory%s", "");
	free(frame);

	struct wire_reader *r = wire_reader__new(0);
	uint8_t buf[16384];
	int rc = 0;
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};

		if (bytebuf_size(&out) || tls_conn__want(c) == POLLOUT)
			p[0].events |= POLLOUT;
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n <= 0)
				break; /* stdin ended: go away */
		}
		if (tls_conn__handshake(c) == -EAGAIN)
			continue;
		while (bytebuf_size(&out)) {
			ssize_t n = tls_conn__write(c, bytebuf_head(&out), bytebuf_size(&out));
			if (n == -EAGAIN)
				break;
			if (n < 0)
				die("write: %s", tls_conn__error(c));
			bytebuf_consume(&out, (size_t)n);
		}
		/* until -EAGAIN: OpenSSL may hold records the socket no longer
		 * signals (poll would not wake us for them) */
		ssize_t n;
		while ((n = tls_conn__read(c, buf, sizeof(buf))) > 0) {
			Wacht__V1__Envelope *e;
			int frc = wire_reader__feed(r, buf, (size_t)n);
			while (frc == 0 && (frc = wire_reader__next(r, &e)) == 1) {
				if (e->body_case == WACHT__V1__ENVELOPE__BODY_PEERS)
					print_map(e->peers);
				wire_envelope_free(e);
				frc = 0; /* the next frame of this read, if any */
			}
			if (frc < 0)
				die("undecodable frames from the aggregator%s", "");
		}
		if (n == -EAGAIN)
			continue;
		fprintf(stderr, "wacht-peer-sensor: the aggregator closed the connection%s%s\n",
			n < 0 ? ": " : "", n < 0 ? tls_conn__error(c) : "");
		rc = 1;
		break;
	}
	tls_conn__free(c);
	tls_ctx__free(ctx);
	wire_reader__free(r);
	peer_announce__free(a);
	bytebuf_release(&out);
	return rc;
}
