// SPDX-License-Identifier: Apache-2.0
/* wire.c: length-prefixed protobuf frames, and findings to and from protobuf. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "wire.h"

/* ---- framing */

void wire_envelope_init(Wacht__V1__Envelope *env)
{
	wacht__v1__envelope__init(env);
	env->version = WIRE_VERSION;
}

void wire_envelope_free(Wacht__V1__Envelope *env)
{
	if (env)
		wacht__v1__envelope__free_unpacked(env, NULL);
}

size_t wire_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

int wire_frame_envelope(const Wacht__V1__Envelope *env, uint8_t **out, size_t *len)
{
	size_t n = wacht__v1__envelope__get_packed_size(env);
	uint8_t *buf;

	*out = NULL;
	*len = 0;
	if (n > UINT32_MAX)
		return -EMSGSIZE;
	buf = malloc(WIRE_HEADER_LEN + n);
	if (!buf)
		return -ENOMEM;
	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	wacht__v1__envelope__pack(env, buf + WIRE_HEADER_LEN);
	*out = buf;
	*len = WIRE_HEADER_LEN + n;
	return 0;
}

struct wire_reader {
	uint8_t *buf;
	size_t off;       /* start of the next frame */
	size_t len;       /* bytes in buf */
	size_t cap;
	size_t max_frame;
	int err;          /* sticky */
};

struct wire_reader *wire_reader__new(size_t max_frame)
{
	struct wire_reader *r = calloc(1, sizeof(*r));

	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	r->max_frame = max_frame ? max_frame : WIRE_FRAME_MAX;
	if (r->max_frame > UINT32_MAX)
		r->max_frame = UINT32_MAX;
	return r;
}

void wire_reader__free(struct wire_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

static int reader_fail(struct wire_reader *r, int err)
{
	r->err = err;
	free(r->buf);
	r->buf = NULL;
	r->off = r->len = r->cap = 0;
	return err;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int wire_reader__feed(struct wire_reader *r, const void *buf, size_t len)
{
	if (r->err)
		return r->err;
	if (!len)
		return 0;
	if (r->off) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	/* Judge the header as soon as its 4 bytes are here: an oversized
	 * frame is refused before any of its payload is kept. */
	if (r->len < WIRE_HEADER_LEN && r->len + len >= WIRE_HEADER_LEN) {
		uint8_t hdr[WIRE_HEADER_LEN];

		if (r->len)
			memcpy(hdr, r->buf, r->len);
		memcpy(hdr + r->len, buf, WIRE_HEADER_LEN - r->len);
		if (be32(hdr) > r->max_frame)
			return reader_fail(r, -EMSGSIZE);
	}
	if (len > SIZE_MAX - r->len)
		return reader_fail(r, -ENOMEM);
	if (r->len + len > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		uint8_t *nb;

		while (cap < r->len + len)
			cap = cap > SIZE_MAX / 2 ? r->len + len : cap * 2;
		nb = realloc(r->buf, cap);
		if (!nb)
			return reader_fail(r, -ENOMEM);
		r->buf = nb;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, buf, len);
	r->len += len;
	return 0;
}

static bool body_known(Wacht__V1__Envelope__BodyCase c)
{
	switch (c) {
	case WACHT__V1__ENVELOPE__BODY_HELLO:
	case WACHT__V1__ENVELOPE__BODY_SERVER_HELLO:
	case WACHT__V1__ENVELOPE__BODY_FINDINGS:
	case WACHT__V1__ENVELOPE__BODY_ACK:
	case WACHT__V1__ENVELOPE__BODY_FLOWS:
	case WACHT__V1__ENVELOPE__BODY_LEARNED:
	case WACHT__V1__ENVELOPE__BODY_ENDPOINTS:
	case WACHT__V1__ENVELOPE__BODY_PEERS:
		return true;
	default:
		return false;
	}
}

/* protobuf-c keeps an unknown field numbered 0 when its tag is encoded in
 * more bytes than needed, and then cannot read its own packing of it back.
 * Field 0 does not exist in protobuf: such a payload is not an Envelope. */
static bool unknown_fields_valid(const ProtobufCMessage *m, unsigned depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (depth > 8) /* wacht.proto nests 4 deep */
		return false;
	for (unsigned i = 0; i < m->n_unknown_fields; i++)
		if (m->unknown_fields[i].tag == 0)
			return false;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		const char *member = (const char *)m + fd->offset;

		if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + fd->quantifier_offset);
			ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)member;

			for (size_t j = 0; j < n; j++)
				if (v[j] && !unknown_fields_valid(v[j], depth + 1))
					return false;
		} else {
			const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)member;

			/* a oneof member that is not the chosen one holds another
			 * member's pointer */
			if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
			    *(const uint32_t *)((const char *)m + fd->quantifier_offset) != fd->id)
				continue;
			if (sub && !unknown_fields_valid(sub, depth + 1))
				return false;
		}
	}
	return true;
}

int wire_reader__next(struct wire_reader *r, Wacht__V1__Envelope **out)
{
	Wacht__V1__Envelope *env;
	uint32_t n;

	*out = NULL;
	if (r->err)
		return r->err;
	if (r->len - r->off < WIRE_HEADER_LEN)
		return 0;
	n = be32(r->buf + r->off);
	if (n > r->max_frame)
		return reader_fail(r, -EMSGSIZE);
	if (r->len - r->off - WIRE_HEADER_LEN < n)
		return 0;
	env = wacht__v1__envelope__unpack(NULL, n, r->buf + r->off + WIRE_HEADER_LEN);
	r->off += WIRE_HEADER_LEN + n;
	if (r->off == r->len)
		r->off = r->len = 0;
	if (!env)
		return reader_fail(r, -EBADMSG);
	if (env->version != WIRE_VERSION || !body_known(env->body_case) ||
	    !unknown_fields_valid(&env->base, 0)) {
		wire_envelope_free(env);
		return reader_fail(r, -EBADMSG);
	}
	*out = env;
	return 1;
}

size_t wire_reader__buffered(const struct wire_reader *r)
{
	return r->len - r->off;
}

/* ---- findings -> protobuf */

static char *str(const char *s)
{
	return (char *)(s ? s : "");
}

static ProtobufCBinaryData bin(const char *s)
{
	ProtobufCBinaryData b = { s ? strlen(s) : 0, (uint8_t *)(s ? s : "") };

	return b;
}

static Wacht__V1__Severity severity_to_pb(enum severity s)
{
	switch (s) {
	case SEV_INFO: return WACHT__V1__SEVERITY__SEVERITY_INFO;
	case SEV_LOW: return WACHT__V1__SEVERITY__SEVERITY_LOW;
	case SEV_MEDIUM: return WACHT__V1__SEVERITY__SEVERITY_MEDIUM;
	case SEV_HIGH: return WACHT__V1__SEVERITY__SEVERITY_HIGH;
	case SEV_CRITICAL: return WACHT__V1__SEVERITY__SEVERITY_CRITICAL;
	}
	return WACHT__V1__SEVERITY__SEVERITY_INFO; /* as severity_name */
}

static Wacht__V1__Action action_to_pb(enum finding_action a)
{
	switch (a) {
	case FACT_ALERT: return WACHT__V1__ACTION__ACTION_ALERT;
	case FACT_DENY: return WACHT__V1__ACTION__ACTION_DENY;
	case FACT_KILL: return WACHT__V1__ACTION__ACTION_KILL;
	case FACT_LEARN: return WACHT__V1__ACTION__ACTION_LEARN;
	}
	return WACHT__V1__ACTION__ACTION_ALERT; /* as finding_action_name */
}

static Wacht__V1__Mode mode_to_pb(enum policy_mode m)
{
	switch (m) {
	case MODE_UNSET: return WACHT__V1__MODE__MODE_UNSPECIFIED;
	case MODE_DISCOVER: return WACHT__V1__MODE__MODE_DISCOVER;
	case MODE_MONITOR: return WACHT__V1__MODE__MODE_MONITOR;
	case MODE_PROTECT: return WACHT__V1__MODE__MODE_PROTECT;
	}
	return WACHT__V1__MODE__MODE_UNSPECIFIED;
}

int wire_finding__init(struct wire_finding *wf, const struct format_ctx *fc,
		       const char *sensor_id, uint64_t seq, const struct finding *f)
{
	const struct container_view *c = f->container;
	Wacht__V1__Finding *m = &wf->msg;
	const char *a = f->process.argv;

	memset(wf, 0, sizeof(*wf));
	if (asprintf(&wf->id, "%s:%" PRIu64, sensor_id ? sensor_id : "", seq) < 0) {
		wf->id = NULL;
		return -ENOMEM;
	}
	if (a && f->process.argc) {
		wf->args = calloc(f->process.argc, sizeof(*wf->args));
		if (!wf->args) {
			free(wf->id);
			wf->id = NULL;
			return -ENOMEM;
		}
	}

	wacht__v1__finding__init(m);
	m->id = wf->id;
	m->time_unix_ns = (int64_t)f->ts_ns + fc->boot_to_real_ns;
	m->node = str(fc->node);
	m->name = str(f->name);
	m->severity = severity_to_pb(f->severity);
	m->action = action_to_pb(f->action);
	m->mode = mode_to_pb(f->mode);
	m->message = bin(f->message);
	m->count = f->count;

	wacht__v1__rule__init(&wf->rule);
	wf->rule.id = str(f->rule.id);
	wf->rule.name = str(f->rule.name);
	wf->rule.group = str(f->rule.group);
	m->rule = &wf->rule;

	if (c) {
		wacht__v1__container__init(&wf->container);
		wf->container.id = str(c->id);
		wf->container.name = str(c->name);
		wf->container.image = str(c->image);
		wf->container.pod = str(c->pod);
		wf->container.namespace_ = str(c->namespace);
		wf->container.group = str(f->group);
		m->container = &wf->container;
	}

	wacht__v1__process__init(&wf->process);
	wf->process.pid = f->process.pid;
	wf->process.ppid = f->process.ppid;
	wf->process.uid = f->process.uid;
	wf->process.euid = f->process.euid;
	wf->process.name = bin(f->process.name);
	wf->process.exe = bin(f->process.exe);
	wf->process.parent_exe = bin(f->process.parent_exe);
	for (uint32_t i = 0; wf->args && i < f->process.argc; i++, a += strlen(a) + 1)
		wf->args[i] = bin(a);
	wf->process.args = wf->args;
	wf->process.n_args = wf->args ? f->process.argc : 0;
	m->process = &wf->process;

	if (f->has_file) {
		wacht__v1__file__init(&wf->file);
		wf->file.path = bin(f->file.path);
		wf->file.op = str(f->file.op);
		m->file = &wf->file;
	}

	if (f->has_net) {
		/* as finding_format: AF_INET6 or else IPv4 */
		size_t alen = f->net.family == AF_INET6 ? 16 : 4;

		wacht__v1__network__init(&wf->network);
		wf->network.proto = f->net.proto;
		wf->network.direction = f->net.inbound ? WACHT__V1__DIRECTION__DIRECTION_INBOUND :
							 WACHT__V1__DIRECTION__DIRECTION_OUTBOUND;
		memcpy(wf->laddr, f->net.laddr, 16);
		memcpy(wf->raddr, f->net.raddr, 16);
		wf->network.local_ip.data = wf->laddr;
		wf->network.local_ip.len = alen;
		wf->network.local_port = f->net.lport;
		wf->network.remote_ip.data = wf->raddr;
		wf->network.remote_ip.len = alen;
		wf->network.remote_port = f->net.rport;
		wf->network.peer_group = str(f->net.peer_group);
		m->network = &wf->network;
	}
	return 0;
}

void wire_finding__release(struct wire_finding *wf)
{
	free(wf->id);
	free(wf->args);
	wf->id = NULL;
	wf->args = NULL;
}

/* ---- protobuf -> JSON */

static const char *severity_json(Wacht__V1__Severity s)
{
	switch (s) {
	case WACHT__V1__SEVERITY__SEVERITY_INFO: return severity_name(SEV_INFO);
	case WACHT__V1__SEVERITY__SEVERITY_LOW: return severity_name(SEV_LOW);
	case WACHT__V1__SEVERITY__SEVERITY_MEDIUM: return severity_name(SEV_MEDIUM);
	case WACHT__V1__SEVERITY__SEVERITY_HIGH: return severity_name(SEV_HIGH);
	case WACHT__V1__SEVERITY__SEVERITY_CRITICAL: return severity_name(SEV_CRITICAL);
	default: return "";
	}
}

static const char *action_json(Wacht__V1__Action a)
{
	switch (a) {
	case WACHT__V1__ACTION__ACTION_ALERT: return finding_action_name(FACT_ALERT);
	case WACHT__V1__ACTION__ACTION_DENY: return finding_action_name(FACT_DENY);
	case WACHT__V1__ACTION__ACTION_KILL: return finding_action_name(FACT_KILL);
	case WACHT__V1__ACTION__ACTION_LEARN: return finding_action_name(FACT_LEARN);
	default: return "";
	}
}

static const char *mode_json(Wacht__V1__Mode m)
{
	switch (m) {
	case WACHT__V1__MODE__MODE_DISCOVER: return policy_mode_name(MODE_DISCOVER);
	case WACHT__V1__MODE__MODE_MONITOR: return policy_mode_name(MODE_MONITOR);
	case WACHT__V1__MODE__MODE_PROTECT: return policy_mode_name(MODE_PROTECT);
	default: return policy_mode_name(MODE_UNSET);
	}
}

static void put_str(struct jsonw *w, const char *key, const char *s)
{
	jsonw__str(w, key, s ? s : "");
}

static void put_bin(struct jsonw *w, const char *key, ProtobufCBinaryData b)
{
	jsonw__strn(w, key, b.data ? (const char *)b.data : "", b.data ? b.len : 0);
}

static void put_ip(struct jsonw *w, const char *key, ProtobufCBinaryData b)
{
	char buf[INET6_ADDRSTRLEN] = "";

	if (b.data && (b.len == 4 || b.len == 16))
		inet_ntop(b.len == 16 ? AF_INET6 : AF_INET, b.data, buf, sizeof(buf));
	jsonw__str(w, key, buf);
}

/* As format_time ("2026-11-27T06:40:00.123456789Z"), for any int64: ""
 * where gmtime_r cannot say (years beyond int). */
static void put_time(struct jsonw *w, int64_t ns)
{
	int64_t sec = ns / 1000000000LL, nsec = ns % 1000000000LL;
	char buf[96] = "";
	struct tm tm;
	time_t t;

	if (nsec < 0) {
		nsec += 1000000000LL;
		sec--;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm))
		snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (long long)nsec);
	jsonw__str(w, "time", buf);
}

void wire_finding_format(struct jsonw *w, const Wacht__V1__Finding *f)
{
	jsonw__obj_begin(w, NULL);
	wire_finding_fields(w, f);
	jsonw__obj_end(w);
}

void wire_finding_fields(struct jsonw *w, const Wacht__V1__Finding *f)
{
	static const Wacht__V1__Rule no_rule = WACHT__V1__RULE__INIT;
	static const Wacht__V1__Process no_process = WACHT__V1__PROCESS__INIT;
	const Wacht__V1__Rule *r = f->rule ? f->rule : &no_rule;
	const Wacht__V1__Process *p = f->process ? f->process : &no_process;
	const Wacht__V1__Container *c = f->container;

	put_time(w, f->time_unix_ns);
	put_str(w, "node", f->node);
	put_str(w, "name", f->name);
	jsonw__str(w, "severity", severity_json(f->severity));
	jsonw__str(w, "action", action_json(f->action));
	jsonw__str(w, "mode", mode_json(f->mode));
	jsonw__obj_begin(w, "rule");
	put_str(w, "id", r->id);
	put_str(w, "name", r->name);
	put_str(w, "group", r->group);
	jsonw__obj_end(w);
	if (c) {
		jsonw__obj_begin(w, "container");
		put_str(w, "id", c->id);
		put_str(w, "name", c->name);
		put_str(w, "image", c->image);
		put_str(w, "pod", c->pod);
		put_str(w, "namespace", c->namespace_);
		put_str(w, "group", c->group);
		jsonw__obj_end(w);
	} else {
		jsonw__null(w, "container");
	}
	jsonw__obj_begin(w, "process");
	jsonw__u64(w, "pid", p->pid);
	jsonw__u64(w, "ppid", p->ppid);
	jsonw__u64(w, "uid", p->uid);
	jsonw__u64(w, "euid", p->euid);
	put_bin(w, "name", p->name);
	put_bin(w, "exe", p->exe);
	jsonw__arr_begin(w, "args");
	for (size_t i = 0; p->args && i < p->n_args; i++)
		put_bin(w, NULL, p->args[i]);
	jsonw__arr_end(w);
	put_bin(w, "parent_exe", p->parent_exe);
	jsonw__obj_end(w);
	if (f->file) {
		jsonw__obj_begin(w, "file");
		put_bin(w, "path", f->file->path);
		put_str(w, "op", f->file->op);
		jsonw__obj_end(w);
	}
	if (f->network) {
		const Wacht__V1__Network *n = f->network;

		jsonw__obj_begin(w, "network");
		jsonw__str(w, "proto", n->proto == IPPROTO_TCP ? "tcp" :
				       n->proto == IPPROTO_UDP ? "udp" : "other");
		jsonw__str(w, "direction",
			   n->direction == WACHT__V1__DIRECTION__DIRECTION_INBOUND ? "inbound" :
			   n->direction == WACHT__V1__DIRECTION__DIRECTION_OUTBOUND ? "outbound" : "");
		put_ip(w, "local_ip", n->local_ip);
		jsonw__u64(w, "local_port", n->local_port);
		put_ip(w, "remote_ip", n->remote_ip);
		jsonw__u64(w, "remote_port", n->remote_port);
		put_str(w, "peer_group", n->peer_group);
		jsonw__obj_end(w);
	}
	put_bin(w, "message", f->message);
	jsonw__u64(w, "count", f->count);
}
