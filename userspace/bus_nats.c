/* SPDX-License-Identifier: Apache-2.0 */
/* bus_nats.c: findings over NATS JetStream (see bus_nats.h). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "bus_nats.h"
#include "wire.h"

#define NS_PER_MS 1000000LL
#define DEFAULT_ACK_WAIT_NS (30LL * 1000 * NS_PER_MS)
#define STREAM_MAX_AGE_NS (7LL * 24 * 3600 * 1000 * NS_PER_MS)
#define STREAM_MAX_BYTES (1LL << 30)
#define STREAM_DUP_WINDOW_NS (10LL * 60 * 1000 * NS_PER_MS)
/* A publish not answered within this is reported failed (and may be
 * republished: the msg id makes that safe). */
#define PUB_ACK_WAIT_MS 10000
/* Publishes awaiting their ack at once: what a sensor's shipper keeps in
 * flight. Above it bus_pub__publish says -EAGAIN. */
#define PUB_MAX_PENDING 1024
/* A failed message is redelivered after this, not at once: the store may
 * need a moment (a restarting database). */
#define NAK_DELAY_MS 1000

int bus_subject_format(char *buf, size_t size, const char *node)
{
	size_t pre = strlen(BUS_SUBJECT_PREFIX) + 1, n;

	if (!node || !node[0])
		return -EINVAL;
	n = strlen(node);
	if (pre + n + 1 > size)
		return -ENAMETOOLONG;
	memcpy(buf, BUS_SUBJECT_PREFIX ".", pre);
	for (size_t i = 0; i < n; i++) {
		char c = node[i];

		/* a subject token may not hold the separator, the wildcards or
		 * white space */
		buf[pre + i] = c == '.' || c == '*' || c == '>' || (unsigned char)c <= ' ' ||
				       c == 0x7f ? '_' : c;
	}
	buf[pre + n] = 0;
	return 0;
}

int bus_msg_id_format(char *buf, size_t size, const char *sensor_id, uint64_t batch_seq)
{
	int n;

	if (!sensor_id || !sensor_id[0])
		return -EINVAL;
	n = snprintf(buf, size, "%s:%" PRIu64, sensor_id, batch_seq);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int bus_msg_id_seq(const char *msg_id, uint64_t *batch_seq)
{
	const char *colon = msg_id ? strrchr(msg_id, ':') : NULL;
	char *end;

	*batch_seq = 0;
	if (!colon || colon == msg_id || !colon[1] || colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	errno = 0;
	*batch_seq = strtoull(colon + 1, &end, 10);
	if (errno || *end) {
		*batch_seq = 0;
		return -EINVAL;
	}
	return 0;
}

static int nats_errno(natsStatus s)
{
	switch (s) {
	case NATS_OK:
		return 0;
	case NATS_TIMEOUT:
		return -ETIMEDOUT;
	case NATS_NO_MEMORY:
		return -ENOMEM;
	case NATS_CONNECTION_CLOSED:
	case NATS_CONNECTION_DISCONNECTED:
	case NATS_NO_SERVER:
		return -ENOTCONN;
	case NATS_NOT_FOUND:
		return -ENOENT;
	case NATS_INVALID_ARG:
		return -EINVAL;
	case NATS_SSL_ERROR:
	case NATS_NOT_PERMITTED:
		return -EACCES;
	default:
		return -EIO;
	}
}

static void set_err(char **err, const char *what, const char *obj, natsStatus s)
{
	const char *detail = nats_GetLastError(NULL);

	if (err && asprintf(err, "bus: failed to %s %s: %s", what, obj,
			    detail && detail[0] ? detail : natsStatus_GetText(s)) < 0)
		*err = NULL;
}

/* One connection and its JetStream context, from opts. */
struct conn {
	natsConnection *nc;
	jsCtx *js;
	const char *stream;
};

static natsStatus conn_open(struct conn *c, const struct bus_opts *o, jsOptions *jo,
			    char **err)
{
	natsOptions *no = NULL;
	natsStatus s;

	c->stream = o->stream && o->stream[0] ? o->stream : BUS_DEFAULT_STREAM;
	s = natsOptions_Create(&no);
	if (s == NATS_OK)
		s = natsOptions_SetURL(no, o->url);
	if (s == NATS_OK && o->name)
		s = natsOptions_SetName(no, o->name);
	/* the bus is long-lived: reconnect forever, buffering what is
	 * published meanwhile (acks say what arrived) */
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(no, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(no, 500);
	if (s == NATS_OK && (o->tls_ca || o->tls_cert))
		s = natsOptions_SetSecure(no, true);
	if (s == NATS_OK && o->tls_ca)
		s = natsOptions_LoadCATrustedCertificates(no, o->tls_ca);
	if (s == NATS_OK && o->tls_cert)
		s = natsOptions_LoadCertificatesChain(no, o->tls_cert, o->tls_key);
	if (s != NATS_OK) {
		set_err(err, "configure", o->url, s);
		natsOptions_Destroy(no);
		return s;
	}
	s = natsConnection_Connect(&c->nc, no);
	natsOptions_Destroy(no);
	if (s != NATS_OK) {
		set_err(err, "connect to", o->url, s);
		return s;
	}
	s = natsConnection_JetStream(&c->js, c->nc, jo);
	if (s != NATS_OK)
		set_err(err, "open JetStream on", o->url, s);
	return s;
}

static void conn_close(struct conn *c)
{
	jsCtx_Destroy(c->js);
	natsConnection_Destroy(c->nc);
	c->js = NULL;
	c->nc = NULL;
}

/* The stream, created with the documented limits when missing. An existing
 * stream is used as it is: an operator may have changed its limits. */
static natsStatus stream_ensure(struct conn *c, char **err)
{
	static const char *subjects[] = { BUS_SUBJECT_PREFIX ".>" };
	jsStreamInfo *si = NULL;
	jsStreamConfig cfg;
	jsErrCode jerr = 0;
	natsStatus s;

	s = js_GetStreamInfo(&si, c->js, c->stream, NULL, &jerr);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return s;
	}
	if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
		set_err(err, "look up stream", c->stream, s);
		return s;
	}
	jsStreamConfig_Init(&cfg);
	cfg.Name = c->stream;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Retention = js_LimitsPolicy;
	cfg.Discard = js_DiscardOld;
	cfg.MaxAge = STREAM_MAX_AGE_NS;
	cfg.MaxBytes = STREAM_MAX_BYTES;
	cfg.Duplicates = STREAM_DUP_WINDOW_NS;
	s = js_AddStream(&si, c->js, &cfg, NULL, &jerr);
	jsStreamInfo_Destroy(si);
	/* another replica or sensor created it meanwhile: fine */
	if (s != NATS_OK && jerr == JSStreamNameExistErr)
		s = NATS_OK;
	if (s != NATS_OK)
		set_err(err, "create stream", c->stream, s);
	return s;
}

/* ---- publisher */

/* A publish awaiting its ack, in publish order. */
struct inflight {
	uint64_t seq;
	enum { PENDING, ACKED, FAILED } state;
};

struct bus_pub {
	struct conn c;
	char subject[256];
	char *sensor_id;
	bus_ack_fn on_ack;
	void *ctx;
	pthread_mutex_t lock; /* the fields below; acks come on a libnats thread */
	struct inflight *fl;  /* ring of PUB_MAX_PENDING */
	size_t head, n;
	uint64_t acked_through;
};

/* Marks seq answered and advances acked_through over the answered prefix.
 * A failed publish stops the prefix until it is republished and acked. */
static uint64_t pub_settle(struct bus_pub *p, uint64_t seq, bool ok)
{
	uint64_t through;

	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n; i++) {
		struct inflight *f = &p->fl[(p->head + i) % PUB_MAX_PENDING];

		if (f->seq == seq && f->state != ACKED) {
			f->state = ok ? ACKED : FAILED;
			break;
		}
	}
	while (p->n && p->fl[p->head].state == ACKED) {
		if (p->fl[p->head].seq > p->acked_through)
			p->acked_through = p->fl[p->head].seq;
		p->head = (p->head + 1) % PUB_MAX_PENDING;
		p->n--;
	}
	through = p->acked_through;
	pthread_mutex_unlock(&p->lock);
	return through;
}

static void pub_ack_handler(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
			    void *closure)
{
	struct bus_pub *p = closure;
	const char *id = NULL;
	uint64_t seq = 0, through;
	int err = 0;

	(void)js;
	if (natsMsgHeader_Get(msg, BUS_MSG_ID_HEADER, &id) == NATS_OK)
		bus_msg_id_seq(id, &seq);
	if (!pa)
		err = pae ? nats_errno(pae->Err) : -EIO;
	if (!err && !pa)
		err = -EIO;
	through = pub_settle(p, seq, err == 0);
	if (p->on_ack)
		p->on_ack(p->ctx, seq, through, err);
	natsMsg_Destroy(msg);
}

struct bus_pub *bus_pub__new(const struct bus_opts *o, const char *sensor_id, const char *node,
			     bus_ack_fn on_ack, void *ctx, char **err)
{
	struct bus_pub *p = calloc(1, sizeof(*p));
	jsOptions jo;
	natsStatus s;
	int rc;

	if (err)
		*err = NULL;
	if (!p || !(p->fl = calloc(PUB_MAX_PENDING, sizeof(*p->fl))) ||
	    !(p->sensor_id = strdup(sensor_id ? sensor_id : ""))) {
		if (p)
			free(p->fl);
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	p->on_ack = on_ack;
	p->ctx = ctx;
	rc = bus_subject_format(p->subject, sizeof(p->subject), node);
	if (!rc && !p->sensor_id[0])
		rc = -EINVAL; /* no message id without it */
	if (rc) {
		if (err && asprintf(err, "bus: failed to name subject for node %s, sensor %s: %s",
				    node ? node : "(null)", p->sensor_id, strerror(-rc)) < 0)
			*err = NULL;
		bus_pub__free(p, 0);
		errno = -rc;
		return NULL;
	}
	jsOptions_Init(&jo);
	jo.PublishAsync.AckHandler = pub_ack_handler;
	jo.PublishAsync.AckHandlerClosure = p;
	jo.PublishAsync.MaxPending = PUB_MAX_PENDING;
	s = conn_open(&p->c, o, &jo, err);
	if (s == NATS_OK)
		s = stream_ensure(&p->c, err);
	if (s != NATS_OK) {
		bus_pub__free(p, 0);
		errno = -nats_errno(s);
		return NULL;
	}
	return p;
}

int bus_pub__wait(struct bus_pub *p, int64_t timeout_ms)
{
	jsPubOptions po;

	jsPubOptions_Init(&po);
	po.MaxWait = timeout_ms > 0 ? timeout_ms : 1;
	return nats_errno(js_PublishAsyncComplete(p->c.js, &po));
}

void bus_pub__free(struct bus_pub *p, int64_t timeout_ms)
{
	if (!p)
		return;
	if (p->c.js && timeout_ms > 0)
		bus_pub__wait(p, timeout_ms);
	conn_close(&p->c);
	pthread_mutex_destroy(&p->lock);
	free(p->fl);
	free(p->sensor_id);
	free(p);
}

/* One JetStream message with its dedupe id, published asynchronously (the
 * ack comes to the connection's handler). */
static natsStatus publish_msg(struct bus_pub *p, const char *id, const void *data, size_t len)
{
	natsMsg *msg = NULL;
	jsPubOptions po;
	natsStatus s = natsMsg_Create(&msg, p->subject, NULL, data, (int)len);

	if (s == NATS_OK)
		s = natsMsgHeader_Set(msg, BUS_MSG_ID_HEADER, id);
	if (s == NATS_OK) {
		jsPubOptions_Init(&po);
		po.MaxWait = PUB_ACK_WAIT_MS;
		s = js_PublishMsgAsync(p->c.js, &msg, &po);
	}
	natsMsg_Destroy(msg); /* NULL once the library took it */
	return s;
}

/* An envelope that settles no batch (a hello, a learned profile): its id is
 * not "<sensor_id>:<digits>", so bus_msg_id_seq finds no batch in it. */
static int publish_unbatched(struct bus_pub *p, const char *id, const Wacht__V1__Envelope *env)
{
	size_t len = wacht__v1__envelope__get_packed_size(env);
	uint8_t *buf = malloc(len ? len : 1);

	if (!buf)
		return -ENOMEM;
	wacht__v1__envelope__pack(env, buf);
	natsStatus s = publish_msg(p, id, buf, len);
	free(buf);
	return nats_errno(s);
}

int bus_pub__publish(struct bus_pub *p, uint64_t batch_seq, const void *data, size_t len)
{
	char id[256];
	natsStatus s;
	bool known = false;
	int rc;

	rc = bus_msg_id_format(id, sizeof(id), p->sensor_id, batch_seq);
	if (rc)
		return rc;
	if (len > INT32_MAX)
		return -EMSGSIZE;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n; i++) {
		struct inflight *f = &p->fl[(p->head + i) % PUB_MAX_PENDING];

		if (f->seq == batch_seq) {
			f->state = PENDING; /* a republish */
			known = true;
		}
	}
	if (!known && p->n == PUB_MAX_PENDING)
		rc = -EAGAIN;
	else if (!known)
		p->fl[(p->head + p->n++) % PUB_MAX_PENDING] =
			(struct inflight){ .seq = batch_seq, .state = PENDING };
	pthread_mutex_unlock(&p->lock);
	if (rc)
		return rc;

	s = publish_msg(p, id, data, len);
	if (s != NATS_OK) {
		pub_settle(p, batch_seq, false);
		return nats_errno(s);
	}
	return 0;
}

int bus_pub__publish_hello(struct bus_pub *p, const Wacht__V1__SensorHello *h)
{
	Wacht__V1__Envelope env;
	char id[300];
	int n = snprintf(id, sizeof(id), "%s:hello-%" PRId64, p->sensor_id, h->start_time_unix_ns);

	if (n < 0 || (size_t)n >= sizeof(id))
		return -ENAMETOOLONG;
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_HELLO;
	env.hello = (Wacht__V1__SensorHello *)h;
	return publish_unbatched(p, id, &env);
}

int bus_pub__publish_learned(struct bus_pub *p, const Wacht__V1__LearnedProfile *lp)
{
	Wacht__V1__Envelope env;
	char id[600];
	int n = snprintf(id, sizeof(id), "%s:learned-%" PRId64 "-%s", p->sensor_id,
			 lp->time_unix_ns, lp->group);

	if (n < 0 || (size_t)n >= sizeof(id))
		return -ENAMETOOLONG;
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_LEARNED;
	env.learned = (Wacht__V1__LearnedProfile *)lp;
	return publish_unbatched(p, id, &env);
}

int bus_pub__publish_flows(struct bus_pub *p, const Wacht__V1__FlowBatch *b, int64_t start_ns)
{
	Wacht__V1__Envelope env;
	char id[320];
	int n = snprintf(id, sizeof(id), "%s:flows-%" PRId64 "-%" PRIu64, p->sensor_id, start_ns,
			 b->batch_seq);

	if (n < 0 || (size_t)n >= sizeof(id))
		return -ENAMETOOLONG;
	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_FLOWS;
	env.flows = (Wacht__V1__FlowBatch *)b;
	return publish_unbatched(p, id, &env);
}

int bus_pub__publish_batch(struct bus_pub *p, const Wacht__V1__FindingBatch *b)
{
	Wacht__V1__Envelope env;
	uint8_t *buf;
	size_t len;
	int rc;

	wire_envelope_init(&env);
	env.body_case = WACHT__V1__ENVELOPE__BODY_FINDINGS;
	env.findings = (Wacht__V1__FindingBatch *)b;
	len = wacht__v1__envelope__get_packed_size(&env);
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	wacht__v1__envelope__pack(&env, buf);
	rc = bus_pub__publish(p, b->batch_seq, buf, len);
	free(buf);
	return rc;
}

bool bus_pub__connected(struct bus_pub *p)
{
	return natsConnection_Status(p->c.nc) == NATS_CONN_STATUS_CONNECTED;
}

uint64_t bus_pub__acked_through(struct bus_pub *p)
{
	uint64_t t;

	pthread_mutex_lock(&p->lock);
	t = p->acked_through;
	pthread_mutex_unlock(&p->lock);
	return t;
}

/* ---- consumer */

struct bus_sub {
	struct conn c;
	natsSubscription *sub;
	uint64_t bad, failed;
};

struct bus_sub *bus_sub__new(const struct bus_opts *o, char **err)
{
	struct bus_sub *b = calloc(1, sizeof(*b));
	char filter[sizeof(BUS_SUBJECT_PREFIX) + 2];
	const char *durable = o->durable && o->durable[0] ? o->durable : BUS_DEFAULT_DURABLE;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;

	if (err)
		*err = NULL;
	if (!b) {
		errno = ENOMEM;
		return NULL;
	}
	s = conn_open(&b->c, o, NULL, err);
	if (s == NATS_OK)
		s = stream_ensure(&b->c, err);
	if (s != NATS_OK)
		goto fail;
	snprintf(filter, sizeof(filter), "%s.>", BUS_SUBJECT_PREFIX);
	jsSubOptions_Init(&so);
	so.Stream = b->c.stream;
	so.Config.Durable = durable;
	so.Config.AckPolicy = js_AckExplicit;
	so.Config.DeliverPolicy = js_DeliverAll;
	so.Config.AckWait = o->ack_wait_ns > 0 ? o->ack_wait_ns : DEFAULT_ACK_WAIT_NS;
	so.Config.MaxDeliver = -1; /* never give up: a finding is never dropped */
	/* Every replica binds to (or the first creates) the same durable:
	 * the server hands each message to one of them. */
	s = js_PullSubscribe(&b->sub, b->c.js, filter, durable, NULL, &so, &jerr);
	if (s != NATS_OK) {
		set_err(err, "subscribe durable consumer", durable, s);
		goto fail;
	}
	return b;
fail:
	bus_sub__free(b);
	errno = -nats_errno(s);
	return NULL;
}

void bus_sub__free(struct bus_sub *b)
{
	if (!b)
		return;
	/* destroy, not unsubscribe: unsubscribing a durable's only
	 * subscription would delete the consumer for the other replicas */
	natsSubscription_Destroy(b->sub);
	if (b->c.nc)
		natsConnection_FlushTimeout(b->c.nc, 2000); /* the last acks */
	conn_close(&b->c);
	free(b);
}

/* The Envelope in a message; NULL if it is not a valid one. */
static Wacht__V1__Envelope *envelope_decode(natsMsg *m)
{
	Wacht__V1__Envelope *env;
	int len = natsMsg_GetDataLength(m);

	if (len <= 0)
		return NULL;
	env = wacht__v1__envelope__unpack(NULL, (size_t)len,
					  (const uint8_t *)natsMsg_GetData(m));
	if (env && (env->version != WIRE_VERSION ||
		    env->body_case == WACHT__V1__ENVELOPE__BODY__NOT_SET)) {
		wire_envelope_free(env);
		env = NULL;
	}
	return env;
}

int bus_sub__fetch(struct bus_sub *b, int max, int64_t timeout_ms, bus_envelope_fn fn,
		   void *ctx)
{
	natsMsgList list = { 0 };
	jsErrCode jerr = 0;
	natsStatus s;
	int acked = 0;

	s = natsSubscription_Fetch(&list, b->sub, max, timeout_ms, &jerr);
	if (s == NATS_TIMEOUT)
		return 0;
	if (s != NATS_OK)
		return nats_errno(s);
	for (int i = 0; i < list.Count; i++) {
		natsMsg *m = list.Msgs[i];
		Wacht__V1__Envelope *env = envelope_decode(m);
		const char *id = "";
		int rc;

		if (!env) {
			/* can never succeed: terminate, do not redeliver */
			b->bad++;
			natsMsg_Term(m, NULL);
			continue;
		}
		natsMsgHeader_Get(m, BUS_MSG_ID_HEADER, &id);
		rc = fn(ctx, env, id ? id : "");
		wire_envelope_free(env);
		if (rc) {
			b->failed++;
			natsMsg_NakWithDelay(m, NAK_DELAY_MS, NULL);
			continue;
		}
		/* acked only after fn committed; AckSync so that a lost ack is
		 * known (the message then comes back and is skipped by id) */
		if (natsMsg_AckSync(m, NULL, &jerr) == NATS_OK)
			acked++;
		else
			b->failed++;
	}
	natsMsgList_Destroy(&list);
	return acked;
}

uint64_t bus_sub__bad(const struct bus_sub *b)
{
	return b->bad;
}

uint64_t bus_sub__failed(const struct bus_sub *b)
{
	return b->failed;
}
