// SPDX-License-Identifier: Apache-2.0
/* peer_bus.c: endpoints exchanged between sensors over core NATS (see
 * peer_bus.h). */
#include "peer_bus.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "wire.h"

/* Messages waiting for the loop, one per node (a newer replaces it): a
 * node cannot make the queue grow. */
#define PENDING_MAX 4096

struct pending {
	char *node;
	uint8_t *data;
	size_t len;
};

struct seen {
	char *node;
	int64_t at;
};

struct peer_bus {
	const struct bus_opts *o;
	const char *node;
	int64_t grace;
	char subject[512], wildcard[300];
	natsConnection *nc;
	natsSubscription *sub;
	int64_t retry_at, published_at;
	uint8_t *own; /* this node's SensorEndpoints, packed */
	size_t own_len;
	bool own_dirty;	    /* changed since it was last published */
	pthread_mutex_t mu; /* pending and the stats the callback counts */
	struct pending *pend;
	size_t n_pend;
	struct seen *seen;
	size_t n_seen;
	struct peer_map *pm;
	uint64_t applied; /* map version last given to apply */
	struct peer_bus_stats st;
};

int peer_bus_subject(char *buf, size_t size, const char *stream, const char *node)
{
	const char *s = stream && stream[0] ? stream : BUS_DEFAULT_STREAM;
	int n;

	if (!node || !node[0])
		return -EINVAL;
	n = snprintf(buf, size, "%s." PEER_BUS_SUBJECT_TOKEN ".%s", s, node);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	/* the node is one token: no separator, wildcard or blank in it */
	for (char *p = buf + n - strlen(node); *p; p++)
		if (*p == '.' || *p == '*' || *p == '>' || (unsigned char)*p <= ' ' || *p == 0x7f)
			*p = '_';
	return 0;
}

struct peer_bus *peer_bus__new(const struct bus_opts *o, const char *node, unsigned grace_s)
{
	struct peer_bus *pb = calloc(1, sizeof(*pb));

	if (!pb)
		return NULL;
	pb->o = o;
	pb->node = node;
	pb->grace = grace_s ? grace_s : PEER_BUS_DEFAULT_GRACE_S;
	pthread_mutex_init(&pb->mu, NULL);
	pb->pm = peer_map__new();
	if (!pb->pm || peer_bus_subject(pb->subject, sizeof(pb->subject), o->stream, node) ||
	    snprintf(pb->wildcard, sizeof(pb->wildcard), "%s." PEER_BUS_SUBJECT_TOKEN ".*",
		     o->stream && o->stream[0] ? o->stream : BUS_DEFAULT_STREAM) >=
		(int)sizeof(pb->wildcard)) {
		peer_bus__free(pb);
		return NULL;
	}
	return pb;
}

static void pending_clear(struct peer_bus *pb)
{
	for (size_t i = 0; i < pb->n_pend; i++) {
		free(pb->pend[i].node);
		free(pb->pend[i].data);
	}
	pb->n_pend = 0;
}

void peer_bus__free(struct peer_bus *pb)
{
	if (!pb)
		return;
	/* the subscription's callbacks end before the connection goes */
	if (pb->sub)
		natsSubscription_Unsubscribe(pb->sub);
	natsSubscription_Destroy(pb->sub);
	natsConnection_Destroy(pb->nc);
	pending_clear(pb);
	free(pb->pend);
	for (size_t i = 0; i < pb->n_seen; i++)
		free(pb->seen[i].node);
	free(pb->seen);
	free(pb->own);
	peer_map__free(pb->pm);
	pthread_mutex_destroy(&pb->mu);
	free(pb);
}

/* On a libnats thread: only keep the newest message of each node. */
static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	struct peer_bus *pb = closure;
	const char *subj = natsMsg_GetSubject(msg), *node = strrchr(subj, '.');
	int len = natsMsg_GetDataLength(msg);

	(void)nc;
	(void)sub;
	node = node ? node + 1 : "";
	pthread_mutex_lock(&pb->mu);
	pb->st.received++;
	struct pending *p = NULL;
	for (size_t i = 0; i < pb->n_pend && !p; i++)
		if (strcmp(pb->pend[i].node, node) == 0)
			p = &pb->pend[i];
	if (!p && pb->n_pend < PENDING_MAX) {
		struct pending *v = realloc(pb->pend, (pb->n_pend + 1) * sizeof(*v));
		if (v) {
			pb->pend = v;
			p = &v[pb->n_pend];
			*p = (struct pending){strdup(node), NULL, 0};
			if (p->node)
				pb->n_pend++;
			else
				p = NULL;
		}
	}
	uint8_t *data = p && len > 0 ? malloc((size_t)len) : NULL;
	if (data) {
		memcpy(data, natsMsg_GetData(msg), (size_t)len);
		free(p->data);
		p->data = data;
		p->len = (size_t)len;
	} else {
		pb->st.rejected++;
	}
	pthread_mutex_unlock(&pb->mu);
	natsMsg_Destroy(msg);
}

static void disconnect(struct peer_bus *pb, int64_t now)
{
	if (pb->sub)
		natsSubscription_Unsubscribe(pb->sub);
	natsSubscription_Destroy(pb->sub);
	natsConnection_Destroy(pb->nc);
	pb->sub = NULL;
	pb->nc = NULL;
	pb->retry_at = now + pb->grace / 3 + 1;
}

static void connect_bus(struct peer_bus *pb, int64_t now)
{
	const struct bus_opts *o = pb->o;
	natsOptions *no = NULL;
	natsStatus s = natsOptions_Create(&no);

	if (s == NATS_OK)
		s = natsOptions_SetURL(no, o->url);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(no, -1);
	/* the connect runs on the sensor's loop: while NATS is unreachable
	 * it stalls the loop this long every grace/3 seconds, not libnats's
	 * default 2 s */
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(no, 1000);
	if (s == NATS_OK && (o->tls_ca || o->tls_cert))
		s = natsOptions_SetSecure(no, true);
	if (s == NATS_OK && o->tls_ca)
		s = natsOptions_LoadCATrustedCertificates(no, o->tls_ca);
	if (s == NATS_OK && o->tls_cert)
		s = natsOptions_LoadCertificatesChain(no, o->tls_cert, o->tls_key);
	if (s == NATS_OK)
		s = natsConnection_Connect(&pb->nc, no);
	natsOptions_Destroy(no);
	if (s == NATS_OK)
		s = natsConnection_Subscribe(&pb->sub, pb->nc, pb->wildcard, on_msg, pb);
	if (s != NATS_OK) {
		const char *d = nats_GetLastError(NULL);

		fprintf(stderr,
			"wacht-sensor: peer map: failed to subscribe to %s at %s: %s; "
			"retrying in %lld s\n",
			pb->wildcard, o->url, d && d[0] ? d : natsStatus_GetText(s),
			(long long)(pb->grace / 3 + 1));
		disconnect(pb, now);
		return;
	}
	pb->own_dirty = true; /* the others hear us at once */
}

int peer_bus__announce(struct peer_bus *pb, const Wacht__V1__SensorEndpoints *se)
{
	size_t len = wacht__v1__sensor_endpoints__get_packed_size(se);
	uint8_t *buf = malloc(len ? len : 1);

	if (!buf)
		return -ENOMEM;
	wacht__v1__sensor_endpoints__pack(se, buf);
	free(pb->own);
	pb->own = buf;
	pb->own_len = len;
	pb->own_dirty = true;
	return 0;
}

static int seen_index(struct peer_bus *pb, const char *node)
{
	for (size_t i = 0; i < pb->n_seen; i++)
		if (strcmp(pb->seen[i].node, node) == 0)
			return (int)i;
	return -1;
}

/* The same shape the aggregator requires (ingest.c): else dropped. */
static bool valid(const Wacht__V1__SensorEndpoints *se, const char *node)
{
	char want[512], got[512];

	if (!se->node || !se->node[0] || se->n_endpoints > PEER_NODE_MAX ||
	    peer_bus_subject(want, sizeof(want), NULL, se->node) ||
	    peer_bus_subject(got, sizeof(got), NULL, node) || strcmp(want, got))
		return false;
	for (size_t i = 0; i < se->n_endpoints; i++) {
		const Wacht__V1__PeerEndpoint *e = se->endpoints[i];

		if (!e->container || !e->n_ips || e->n_ips > PEER_ADDRS_MAX)
			return false;
		for (size_t k = 0; k < e->n_ips; k++)
			if (e->ips[k].len != 4 && e->ips[k].len != 16)
				return false;
	}
	return true;
}

static void merge(struct peer_bus *pb, int64_t now)
{
	struct pending *taken;
	size_t n;

	pthread_mutex_lock(&pb->mu);
	taken = pb->pend;
	n = pb->n_pend;
	pb->pend = NULL;
	pb->n_pend = 0;
	pthread_mutex_unlock(&pb->mu);
	for (size_t i = 0; i < n; i++) {
		char own[512], theirs[512];
		Wacht__V1__SensorEndpoints *se = NULL;

		/* our own comes back from the server: not a peer */
		if (peer_bus_subject(own, sizeof(own), NULL, pb->node) == 0 &&
		    peer_bus_subject(theirs, sizeof(theirs), NULL, taken[i].node) == 0 &&
		    strcmp(own, theirs) == 0)
			goto next;
		se = wacht__v1__sensor_endpoints__unpack(NULL, taken[i].len, taken[i].data);
		if (!se || !valid(se, taken[i].node) ||
		    peer_map__put(pb->pm, se->node, 1, se, NULL)) {
			pthread_mutex_lock(&pb->mu);
			pb->st.rejected++;
			pthread_mutex_unlock(&pb->mu);
		} else {
			int k = seen_index(pb, se->node);
			if (k < 0) {
				struct seen *v = realloc(pb->seen, (pb->n_seen + 1) * sizeof(*v));
				char *name = strdup(se->node);
				if (v && name) {
					pb->seen = v;
					v[pb->n_seen++] = (struct seen){name, now};
				} else {
					free(v == pb->seen ? NULL : v);
					free(name);
				}
			} else {
				pb->seen[k].at = now;
			}
		}
		wacht__v1__sensor_endpoints__free_unpacked(se, NULL);
	next:
		free(taken[i].node);
		free(taken[i].data);
	}
	free(taken);
	/* a node silent for the grace period is gone */
	for (size_t i = pb->n_seen; i-- > 0;) {
		if (now - pb->seen[i].at < pb->grace)
			continue;
		peer_map__drop(pb->pm, pb->seen[i].node);
		free(pb->seen[i].node);
		pb->seen[i] = pb->seen[--pb->n_seen];
	}
}

void peer_bus__tick(struct peer_bus *pb, int64_t now,
		    void (*apply)(void *ctx, const Wacht__V1__PeerMap *m), void *ctx)
{
	if (!pb->nc && now >= pb->retry_at)
		connect_bus(pb, now);
	if (pb->nc && pb->own &&
	    (pb->own_dirty || now - pb->published_at >= pb->grace / 3 + (pb->grace < 3))) {
		natsStatus s =
		    natsConnection_Publish(pb->nc, pb->subject, pb->own, (int)pb->own_len);

		/* while libnats reconnects it buffers; a hard failure is retried
		 * on the next tick */
		if (s == NATS_OK) {
			pb->own_dirty = false;
			pb->published_at = now;
			pb->st.published++;
		}
	}
	merge(pb, now);
	if (peer_map__version(pb->pm) == pb->applied)
		return;
	uint8_t *frame;
	size_t len;
	if (peer_map__frame(pb->pm, WIRE_FRAME_MAX, &frame, &len, NULL))
		return;
	/* the frame is an Envelope{peers}: read it back as the sensor would */
	struct wire_reader *r = wire_reader__new(0);
	Wacht__V1__Envelope *env = NULL;
	if (r && wire_reader__feed(r, frame, len) == 0 && wire_reader__next(r, &env) == 1 &&
	    env->body_case == WACHT__V1__ENVELOPE__BODY_PEERS) {
		apply(ctx, env->peers);
		pb->applied = peer_map__version(pb->pm);
	}
	wire_envelope_free(env);
	wire_reader__free(r);
	free(frame);
}

void peer_bus__stats(const struct peer_bus *pb, struct peer_bus_stats *st)
{
	pthread_mutex_lock((pthread_mutex_t *)&pb->mu);
	*st = pb->st;
	pthread_mutex_unlock((pthread_mutex_t *)&pb->mu);
	st->nodes = pb->n_seen;
	st->connected = pb->nc && natsConnection_Status(pb->nc) == NATS_CONN_STATUS_CONNECTED;
}
