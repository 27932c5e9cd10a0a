// SPDX-License-Identifier: Apache-2.0
/*
 * api.c: the aggregator's HTTP JSON API on libmicrohttpd.
 *
 * Routes (JSON unless said otherwise; errors are {"error": "what was
 * wrong"} with the status below):
 *
 *   GET    /healthz                      200 {"status":"ok"} | 503   no token
 *   GET    /metrics                      Prometheus text              no token
 *   GET    /ui/ and /ui/FILE             the web page (ui/, embedded) no token
 *   GET    / and /ui                     302 to /ui/                  no token
 *   GET    /api/v1/findings              {"findings":[...],"next":"CURSOR"|null}
 *          ?since=&until=    RFC 3339 (2024-05-01T10:00:00Z, offsets and
 *                            fractions allowed) or relative: 90s, 30m, 1h, 7d
 *          &severity=        minimum: info|low|medium|high|critical
 *          &namespace=&pod=&name=&node=   exact match
 *          &acknowledged=    true|false
 *          &limit=           1..1000 (default 100)
 *          &cursor=          the "next" of the previous page
 *   GET    /api/v1/findings/{id}         one finding | 404
 *   POST   /api/v1/findings/{id}/ack     body {"comment": "..."} (optional)
 *   DELETE /api/v1/findings/{id}/ack     unacknowledge; both answer the finding
 *   GET    /api/v1/graph                 the network graph (README "Network graph")
 *          ?format=          json (application/json, default) | dot
 *                            (text/vnd.graphviz) | graphml
 *                            (application/graphml+xml)
 *          &namespace=       conversations with an end in this namespace
 *          &since=           as for findings: conversations last seen since
 *                            (stored per minute: exact to the minute)
 *          &collapse=        none (default) | pod | group | namespace
 *          &cidr=CIDR,...    external addresses in a CIDR become one vertex
 *   GET    /api/v1/sensors               {"sensors":[...]}             scope * only
 *   GET    /api/v1/rules/learned         text/yaml, ?group= (optional) scope * only
 *   GET    /api/v1/backup                the store as one SQLite file  scope * only
 *
 * A finding is the sensor's JSON object (wire_finding_fields; "time" is the
 * last occurrence) plus id, first_seen, last_seen, acknowledged, ack_by,
 * ack_comment and ack_time (null until acked or unacked).
 *
 * Tokens (api_tokens.h): `Authorization: Bearer TOKEN` on every /api/ route.
 * Missing or unknown: 401 with WWW-Authenticate. A token scoped to
 * namespaces sees only their findings: lists are filtered, ?namespace=
 * naming another namespace is 403, and one finding outside the scope
 * (show, ack, unack) is 404 exactly as if it did not exist, so that ids do
 * not tell a project team about other teams' findings. The graph of a
 * scoped token holds only conversations with an end in its namespaces
 * (?namespace= outside them is 403). Cluster-wide data
 * (sensors, learned rules of every group, backups) needs scope `*`: 403.
 *
 * Other statuses: 400 malformed request (bad parameter, unknown parameter,
 * bad JSON body), 404 unknown route, 405 wrong method (with Allow), 413 body
 * over 64 KiB, 500 store errors, 503 store unavailable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "api.h"
#include "api_request.h"
#include "api_tokens.h"
#include "graph.h"
#include "jsonw.h"
#include "learned.h"
#include "store.h"
#include "ui_files.h"
#include "wire.h"

#define SEC 1000000000LL
#define BODY_MAX (64 * 1024)
#define ID_MAX 256
#define POOL_KEEP 16
#define DEFAULT_THREADS 4
#define DEFAULT_ACTIVE_NS (300 * SEC)

static struct {
	struct MHD_Daemon *d;
	/* read-locked for a whole request (its token is borrowed from
	 * here), write-locked to swap in a reloaded file */
	pthread_rwlock_t tokens_lock;
	struct api_tokens *tokens;
	char *tokens_path;
	char *store_path;
	char *cert, *key; /* PEM text; libmicrohttpd reads it at start */
	int64_t active_ns;
	uint16_t port;
	pthread_mutex_t lock; /* the pool */
	struct store *pool[POOL_KEEP];
	size_t n_pool;
} A = { .lock = PTHREAD_MUTEX_INITIALIZER, .tokens_lock = PTHREAD_RWLOCK_INITIALIZER };

/* ---- store connections: one per request in flight, reused */

static struct store *pool_get(void)
{
	struct store *s = NULL;
	char *err = NULL;

	pthread_mutex_lock(&A.lock);
	if (A.n_pool)
		s = A.pool[--A.n_pool];
	pthread_mutex_unlock(&A.lock);
	if (s)
		return s;
	s = store__open(A.store_path, NULL, &err);
	if (!s) {
		fprintf(stderr, "%s\n", err ? err : "api: failed to open the store");
		free(err);
	}
	return s;
}

static void pool_put(struct store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&A.lock);
	if (A.n_pool < POOL_KEEP) {
		A.pool[A.n_pool++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&A.lock);
	store__close(s);
}

/* ---- requests */

struct req {
	char *body;
	size_t len;
	bool too_big;
};

struct ctx {
	struct MHD_Connection *c;
	struct req *r;
	const char *route;             /* template, for metrics */
	const struct api_token *tok;
	struct store *s;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void count_request(const char *route, unsigned status)
{
	char labels[160];

	snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%u\"", route, status);
	api__metric_add("wacht_api_requests_total", labels, 1);
}

/* Queues a response; body copied. extra: NULL or "Header: value" pairs as
 * alternating name, value, NULL-terminated. */
static enum MHD_Result respond(struct ctx *x, unsigned status, const char *type,
			       const void *body, size_t len, const char *const *extra)
{
	struct MHD_Response *res;
	enum MHD_Result ok;

	res = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!res)
		return MHD_NO;
	MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	for (size_t i = 0; extra && extra[i]; i += 2)
		MHD_add_response_header(res, extra[i], extra[i + 1]);
	ok = MHD_queue_response(x->c, status, res);
	MHD_destroy_response(res);
	count_request(x->route, status);
	return ok;
}

/* The JSON in w plus a newline (friendly to curl and line-based tools). */
static enum MHD_Result respond_jsonw(struct ctx *x, unsigned status, struct jsonw *w,
				     const char *const *extra)
{
	static const char oom[] = "{\"error\":\"out of memory\"}\n";
	enum MHD_Result ok;
	const char *data;
	size_t len;
	char *buf;

	if (jsonw__error(w))
		return respond(x, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", oom,
			       sizeof(oom) - 1, NULL);
	data = jsonw__data(w, &len);
	buf = malloc(len + 1);
	if (!buf)
		return MHD_NO;
	memcpy(buf, data, len);
	buf[len] = '\n';
	ok = respond(x, status, "application/json", buf, len + 1, extra);
	free(buf);
	return ok;
}

static enum MHD_Result respond_json(struct ctx *x, unsigned status, struct jsonw *w)
{
	return respond_jsonw(x, status, w, NULL);
}

static enum MHD_Result respond_error(struct ctx *x, unsigned status, const char *const *extra,
				     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result respond_error(struct ctx *x, unsigned status, const char *const *extra,
				     const char *fmt, ...)
{
	struct jsonw *w = jsonw__new();
	enum MHD_Result ok;
	char msg[512];
	va_list ap;

	if (!w)
		return MHD_NO;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jsonw__obj_begin(w, NULL);
	jsonw__str(w, "error", msg);
	jsonw__obj_end(w);
	ok = respond_jsonw(x, status, w, extra);
	jsonw__free(w);
	return ok;
}

static enum MHD_Result respond_store_error(struct ctx *x, int err)
{
	return respond_error(x, err == -EBUSY ? MHD_HTTP_SERVICE_UNAVAILABLE
					      : MHD_HTTP_INTERNAL_SERVER_ERROR,
			     NULL, "store: %s", strerror(-err));
}

/* ---- parameters (parsed by api_request.c) */

static void put_time(struct jsonw *w, const char *key, int64_t ns)
{
	char buf[64];

	api_time_format(buf, sizeof(buf), ns);
	jsonw__str(w, key, buf);
}

static enum MHD_Result param_one(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *v)
{
	(void)kind;
	return api_query_param(cls, key, v) ? MHD_NO : MHD_YES;
}

/* ---- findings as JSON */

static ProtobufCBinaryData bin(const char *s)
{
	return (ProtobufCBinaryData){ .len = strlen(s), .data = (uint8_t *)s };
}

static ProtobufCBinaryData bin_n(const void *p, size_t n)
{
	return (ProtobufCBinaryData){ .len = p ? n : 0, .data = (uint8_t *)p };
}

/* The stored row as the finding the sensor sent, plus the store's fields. */
static void finding_json(struct jsonw *w, const char *key, const struct store_row *r)
{
	Wacht__V1__Finding f = WACHT__V1__FINDING__INIT;
	Wacht__V1__Rule rule = WACHT__V1__RULE__INIT;
	Wacht__V1__Container ct = WACHT__V1__CONTAINER__INIT;
	Wacht__V1__Process proc = WACHT__V1__PROCESS__INIT;
	Wacht__V1__File file = WACHT__V1__FILE__INIT;
	Wacht__V1__Network net = WACHT__V1__NETWORK__INIT;
	ProtobufCBinaryData *args = NULL;
	struct json_object *ja = json_tokener_parse(r->args_json);
	size_t n_args = 0;

	f.time_unix_ns = r->last_seen;
	f.node = (char *)r->node;
	f.name = (char *)r->name;
	f.severity = r->severity;
	f.action = r->action;
	f.mode = r->mode;
	rule.id = (char *)r->rule_id;
	rule.name = (char *)r->rule_name;
	rule.group = (char *)r->rule_group;
	f.rule = &rule;
	/* the store keeps "" for the parts of a finding that had none */
	if (r->container_id[0] || r->namespace_[0] || r->pod[0]) {
		ct.id = (char *)r->container_id;
		ct.name = (char *)r->container_name;
		ct.image = (char *)r->image;
		ct.pod = (char *)r->pod;
		ct.namespace_ = (char *)r->namespace_;
		ct.group = (char *)r->group;
		f.container = &ct;
	}
	proc.pid = r->pid;
	proc.ppid = r->ppid;
	proc.uid = r->uid;
	proc.euid = r->euid;
	proc.name = bin(r->process_name);
	proc.exe = bin(r->exe);
	proc.parent_exe = bin(r->parent_exe);
	if (ja && json_object_is_type(ja, json_type_array)) {
		n_args = json_object_array_length(ja);
		args = calloc(n_args ? n_args : 1, sizeof(*args));
		for (size_t i = 0; args && i < n_args; i++) {
			struct json_object *e = json_object_array_get_idx(ja, i);

			args[i] = bin_n(json_object_get_string(e),
					(size_t)json_object_get_string_len(e));
		}
		proc.args = args;
		proc.n_args = args ? n_args : 0;
	}
	f.process = &proc;
	if (r->file_path[0] || r->file_op[0]) {
		file.path = bin(r->file_path);
		file.op = (char *)r->file_op;
		f.file = &file;
	}
	if (r->net_proto || r->remote_ip_len || r->remote_port) {
		net.proto = r->net_proto;
		net.direction = r->net_direction;
		net.local_ip = bin_n(r->local_ip, r->local_ip_len);
		net.local_port = r->local_port;
		net.remote_ip = bin_n(r->remote_ip, r->remote_ip_len);
		net.remote_port = r->remote_port;
		net.peer_group = (char *)r->peer_group;
		f.network = &net;
	}
	f.message = bin(r->message);
	f.count = r->count;

	jsonw__obj_begin(w, key);
	jsonw__str(w, "id", r->id);
	wire_finding_fields(w, &f);
	put_time(w, "first_seen", r->first_seen);
	put_time(w, "last_seen", r->last_seen);
	jsonw__bool(w, "acknowledged", r->acknowledged);
	jsonw__str(w, "ack_by", r->ack_by);
	jsonw__str(w, "ack_comment", r->ack_comment);
	if (r->ack_time)
		put_time(w, "ack_time", r->ack_time);
	else
		jsonw__null(w, "ack_time");
	jsonw__obj_end(w);
	free(args);
	json_object_put(ja);
}

struct page {
	struct jsonw *w;
	size_t limit, n;
	struct store_cursor last;
	bool more;
};

static int page_row(void *ctx, const struct store_row *r)
{
	struct page *pg = ctx;

	/* one row beyond the page says whether there is a next page */
	if (pg->n == pg->limit) {
		pg->more = true;
		return 1;
	}
	finding_json(pg->w, NULL, r);
	pg->last.last_seen = r->last_seen;
	pg->last.rowid = r->rowid;
	pg->n++;
	return 0;
}

/* Fills flt's scope from the token. */
static void scope_set(struct store_filter *flt, const struct api_token *tok)
{
	flt->scoped = !tok->all;
	flt->scope = (const char *const *)tok->ns;
	flt->n_scope = tok->n_ns;
}

static enum MHD_Result findings_list(struct ctx *x)
{
	struct api_query p = { .now = now_ns() };
	struct page pg = {0};
	enum MHD_Result ok;
	char next[64];
	int rc;

	MHD_get_connection_values(x->c, MHD_GET_ARGUMENT_KIND, param_one, &p);
	if (p.err[0])
		return respond_error(x, MHD_HTTP_BAD_REQUEST, NULL, "%s", p.err);
	if (p.f.since && p.f.until && p.f.since > p.f.until)
		return respond_error(x, MHD_HTTP_BAD_REQUEST, NULL, "since is after until");
	if (p.f.namespace_ && !api_token__sees(x->tok, p.f.namespace_))
		return respond_error(x, MHD_HTTP_FORBIDDEN, NULL,
				     "token \"%s\" may not see namespace \"%s\"", x->tok->name,
				     p.f.namespace_);
	scope_set(&p.f, x->tok);
	pg.limit = p.f.limit ? p.f.limit : API_LIMIT_DEFAULT;
	p.f.limit = pg.limit + 1;
	pg.w = jsonw__new();
	if (!pg.w)
		return MHD_NO;
	jsonw__obj_begin(pg.w, NULL);
	jsonw__arr_begin(pg.w, "findings");
	rc = store__query(x->s, &p.f, page_row, &pg, NULL);
	if (rc < 0) {
		jsonw__free(pg.w);
		return respond_store_error(x, rc);
	}
	jsonw__arr_end(pg.w);
	if (pg.more) {
		api_cursor_format(next, sizeof(next), &pg.last);
		jsonw__str(pg.w, "next", next);
	} else {
		jsonw__null(pg.w, "next");
	}
	jsonw__obj_end(pg.w);
	ok = respond_json(x, MHD_HTTP_OK, pg.w);
	jsonw__free(pg.w);
	return ok;
}

static int one_row(void *ctx, const struct store_row *r)
{
	finding_json(ctx, NULL, r);
	return 0;
}

/* The finding with this id in the token's scope as JSON in w: 1 found,
 * 0 not (or outside the scope), -errno. */
static int finding_get(struct ctx *x, const char *id, struct jsonw *w)
{
	struct store_filter flt = { .id = id, .limit = 1 };

	scope_set(&flt, x->tok);
	return store__query(x->s, &flt, one_row, w, NULL);
}

static enum MHD_Result finding_show(struct ctx *x, const char *id)
{
	struct jsonw *w = jsonw__new();
	enum MHD_Result ok;
	int rc;

	if (!w)
		return MHD_NO;
	rc = finding_get(x, id, w);
	if (rc < 0)
		ok = respond_store_error(x, rc);
	else if (rc == 0)
		ok = respond_error(x, MHD_HTTP_NOT_FOUND, NULL, "no finding \"%s\"", id);
	else
		ok = respond_json(x, MHD_HTTP_OK, w);
	jsonw__free(w);
	return ok;
}

static enum MHD_Result finding_ack(struct ctx *x, const char *id, bool ack)
{
	struct jsonw *w = NULL;
	enum MHD_Result ok;
	char *comment = NULL;
	const char *why = NULL;
	int rc;

	if (ack)
		why = api_ack_body_parse(x->r->body, x->r->len, &comment);
	if (why)
		return respond_error(x, MHD_HTTP_BAD_REQUEST, NULL, "%s", why);
	w = jsonw__new();
	if (!w) {
		free(comment);
		return MHD_NO;
	}
	/* the scope decides first: outside it, the finding does not exist */
	rc = finding_get(x, id, w);
	if (rc == 1) {
		rc = store__ack(x->s, id, ack, x->tok->name, comment, now_ns());
		jsonw__reset(w);
		if (!rc)
			rc = finding_get(x, id, w);
	}
	free(comment);
	if (rc < 0 && rc != -ENOENT)
		ok = respond_store_error(x, rc);
	else if (rc <= 0)
		ok = respond_error(x, MHD_HTTP_NOT_FOUND, NULL, "no finding \"%s\"", id);
	else
		ok = respond_json(x, MHD_HTTP_OK, w);
	jsonw__free(w);
	return ok;
}

/* ---- the network graph */

static enum MHD_Result graph_param_one(void *cls, enum MHD_ValueKind kind, const char *key,
				       const char *v)
{
	(void)kind;
	return api_graph_param(cls, key, v) ? MHD_NO : MHD_YES;
}

struct graph_rows {
	struct graph *g;
	uint64_t skipped; /* rows with an end nothing names */
};

/* A row whose end has neither a container identity nor an address (a
 * container gone before its sensor reported a connect refused before the
 * socket was bound) cannot be drawn: it is left out and counted in the
 * X-Wacht-Skipped-Rows header, not allowed to fail the whole export. */
static int graph_row(void *ctx, const struct graph_record *r)
{
	struct graph_rows *gr = ctx;
	int rc = graph__add(gr->g, r);

	if (rc == -EINVAL) {
		gr->skipped++;
		return 0;
	}
	return rc;
}

static enum MHD_Result graph_export(struct ctx *x)
{
	static const char *const types[] = {
		[GRAPH_FORMAT_JSON] = "application/json",
		[GRAPH_FORMAT_DOT] = "text/vnd.graphviz",
		[GRAPH_FORMAT_GRAPHML] = "application/graphml+xml",
	};
	struct api_graph_query q = { .now = now_ns() };
	struct store_conv_filter flt = { 0 };
	struct graph_options go = { 0 };
	enum MHD_Result ok;
	struct graph *g;
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int rc = 0;

	MHD_get_connection_values(x->c, MHD_GET_ARGUMENT_KIND, graph_param_one, &q);
	if (q.err[0])
		return respond_error(x, MHD_HTTP_BAD_REQUEST, NULL, "%s", q.err);
	if (q.namespace_ && !api_token__sees(x->tok, q.namespace_))
		return respond_error(x, MHD_HTTP_FORBIDDEN, NULL,
				     "token \"%s\" may not see namespace \"%s\"", x->tok->name,
				     q.namespace_);
	go.collapse = q.collapse;
	go.namespace = q.namespace_;
	go.since_ns = q.since;
	go.external_cidrs = q.cidrs;
	go.n_external_cidrs = q.n_cidrs;
	g = graph__new(&go, &rc);
	if (!g && rc == -EINVAL)
		return respond_error(x, MHD_HTTP_BAD_REQUEST, NULL, "bad cidr: not a network");
	if (!g)
		return MHD_NO;
	/* the filters in SQL; the graph applies them again (and says them in
	 * its output) */
	flt.since = q.since;
	flt.namespace_ = q.namespace_;
	flt.scoped = !x->tok->all;
	flt.scope = (const char *const *)x->tok->ns;
	flt.n_scope = x->tok->n_ns;
	struct graph_rows gr = { g, 0 };
	rc = store__conversations(x->s, &flt, graph_row, &gr);
	if (rc < 0) {
		graph__free(g);
		return respond_store_error(x, rc);
	}
	out = open_memstream(&text, &len);
	if (!out) {
		graph__free(g);
		return MHD_NO;
	}
	rc = graph__write(g, q.format, out);
	if (fclose(out) && !rc)
		rc = -ENOMEM;
	graph__free(g);
	if (rc)
		ok = respond_error(x, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
				   "failed to write the graph: %s", strerror(-rc));
	else {
		char skipped[24];
		const char *const extra[] = { "X-Wacht-Skipped-Rows", skipped, NULL };

		snprintf(skipped, sizeof(skipped), "%" PRIu64, gr.skipped);
		ok = respond(x, MHD_HTTP_OK, types[q.format], text, len, extra);
	}
	free(text);
	return ok;
}

static int sensor_row(void *ctx, const struct store_sensor *s)
{
	struct jsonw *w = ctx;

	jsonw__obj_begin(w, NULL);
	jsonw__str(w, "node", s->node);
	jsonw__str(w, "sensor_id", s->sensor_id);
	jsonw__str(w, "version", s->version);
	jsonw__str(w, "kernel", s->kernel);
	put_time(w, "last_seen", s->last_seen);
	jsonw__u64(w, "drops", s->drops);
	jsonw__obj_end(w);
	return 0;
}

static enum MHD_Result sensors_list(struct ctx *x)
{
	struct jsonw *w = jsonw__new();
	enum MHD_Result ok;
	int rc;

	if (!w)
		return MHD_NO;
	jsonw__obj_begin(w, NULL);
	jsonw__arr_begin(w, "sensors");
	rc = store__sensors(x->s, sensor_row, w);
	jsonw__arr_end(w);
	jsonw__obj_end(w);
	ok = rc < 0 ? respond_store_error(x, rc) : respond_json(x, MHD_HTTP_OK, w);
	jsonw__free(w);
	return ok;
}

struct learned_ctx {
	struct learned_merge *m;
	struct diags d;
	size_t n;
};

static int learned_row(void *ctx, const struct store_learned *row)
{
	struct learned_ctx *lc = ctx;
	int rc = learned_merge__add(lc->m, row->node, row->yaml, row->yaml_len, &lc->d);

	lc->n++;
	/* a refused profile is reported in the answer, the others still merge */
	return rc == -ENOMEM ? rc : 0;
}

static enum MHD_Result learned_export(struct ctx *x)
{
	struct learned_ctx lc = {0};
	const char *group = MHD_lookup_connection_value(x->c, MHD_GET_ARGUMENT_KIND, "group");
	enum MHD_Result ok;
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int rc;

	if (group && !api_param_ok(group))
		return respond_error(x, MHD_HTTP_BAD_REQUEST, NULL, "bad group: empty or too long");
	lc.m = learned_merge__new();
	out = open_memstream(&text, &len);
	if (!lc.m || !out) {
		learned_merge__free(lc.m);
		if (out)
			fclose(out);
		free(text);
		return MHD_NO;
	}
	rc = store__learned_foreach(x->s, group, learned_row, &lc);
	if (rc >= 0) {
		fprintf(out, "# learned profiles of %zu node profile(s), merged per group\n",
			lc.n);
		/* YAML comments: what was refused, without breaking the export */
		for (size_t i = 0; i < lc.d.n; i++)
			fprintf(out, "# %s:%u:%u: %s: %s\n", lc.d.v[i].file ? lc.d.v[i].file : "",
				lc.d.v[i].line, lc.d.v[i].col,
				lc.d.v[i].error ? "error" : "warning", lc.d.v[i].msg);
		rc = learned_merge__export(lc.m, out, &lc.d);
	}
	fclose(out);
	if (rc < 0 && rc != -EINVAL)
		ok = respond_store_error(x, rc);
	else if (rc < 0)
		ok = respond_error(x, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
				   "the merged learned profiles do not resolve: %s",
				   lc.d.n ? lc.d.v[0].msg : "unknown reason");
	else
		ok = respond(x, MHD_HTTP_OK, "text/yaml; charset=utf-8", text, len, NULL);
	free(text);
	diags__free(&lc.d);
	learned_merge__free(lc.m);
	return ok;
}

static enum MHD_Result backup_send(struct ctx *x)
{
	static const char *const hdr[] = { "Content-Disposition",
					   "attachment; filename=\"wacht-backup.db\"", NULL };
	struct MHD_Response *res;
	enum MHD_Result ok;
	struct stat st;
	char *tmp = NULL;
	int fd, rc;

	if (asprintf(&tmp, "%s.api-backup-XXXXXX", A.store_path) < 0)
		return MHD_NO;
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		free(tmp);
		return respond_store_error(x, rc);
	}
	close(fd);
	/* a consistent snapshot next to the store (same filesystem, the
	 * store's permissions), streamed from an unlinked file */
	rc = store__backup(x->s, tmp);
	fd = rc ? -1 : open(tmp, O_RDONLY | O_CLOEXEC);
	if (!rc && fd < 0)
		rc = -errno;
	unlink(tmp);
	free(tmp);
	if (!rc && fstat(fd, &st))
		rc = -errno;
	if (rc) {
		if (fd >= 0)
			close(fd);
		return respond_store_error(x, rc);
	}
	res = MHD_create_response_from_fd((size_t)st.st_size, fd); /* owns fd */
	if (!res) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, "application/vnd.sqlite3");
	MHD_add_response_header(res, hdr[0], hdr[1]);
	MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ok = MHD_queue_response(x->c, MHD_HTTP_OK, res);
	MHD_destroy_response(res);
	count_request(x->route, MHD_HTTP_OK);
	return ok;
}

/* ---- health and metrics */

static enum MHD_Result healthz(struct ctx *x)
{
	static const char ok_body[] = "{\"status\":\"ok\"}\n";
	int v = x->s ? store__schema_version(x->s) : -EIO;

	if (x->s && v == store__schema_expected(x->s))
		return respond(x, MHD_HTTP_OK, "application/json", ok_body, sizeof(ok_body) - 1,
			       NULL);
	return respond_error(x, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "store: %s",
			     v < 0 ? strerror(-v) : "unexpected schema version");
}

static void label_value(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(out, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

struct count_ctx {
	FILE *out;
	bool occurrences;
};

static int count_row(void *ctx, const char *name, int severity, uint64_t rows, uint64_t occ)
{
	struct count_ctx *cc = ctx;
	const char *sev = api_severity_name(severity);

	fputs(cc->occurrences ? "wacht_finding_occurrences{name=\"" : "wacht_findings{name=\"",
	      cc->out);
	label_value(cc->out, name);
	fprintf(cc->out, "\",severity=\"%s\"} %" PRIu64 "\n", sev, cc->occurrences ? occ : rows);
	return 0;
}

struct sensor_count {
	int64_t since;
	uint64_t known, active;
};

static int sensor_count(void *ctx, const struct store_sensor *s)
{
	struct sensor_count *sc = ctx;

	sc->known++;
	sc->active += s->last_seen >= sc->since;
	return 0;
}

static enum MHD_Result metrics(struct ctx *x)
{
	struct sensor_count sc = { .since = now_ns() - A.active_ns };
	struct count_ctx cc;
	enum MHD_Result ok;
	char *text = NULL;
	size_t len = 0;
	int64_t size;
	FILE *out;
	int rc;

	out = open_memstream(&text, &len);
	if (!out)
		return MHD_NO;
	cc.out = out;
	fputs("# HELP wacht_findings Findings stored (rows, after merging), by name and"
	      " severity.\n# TYPE wacht_findings gauge\n", out);
	cc.occurrences = false;
	rc = store__counts(x->s, count_row, &cc);
	fputs("# HELP wacht_finding_occurrences Occurrences the stored findings stand for.\n"
	      "# TYPE wacht_finding_occurrences gauge\n", out);
	cc.occurrences = true;
	if (!rc)
		rc = store__counts(x->s, count_row, &cc);
	if (!rc)
		rc = store__sensors(x->s, sensor_count, &sc);
	size = rc ? rc : store__size_bytes(x->s);
	if (size < 0)
		rc = (int)size;
	int64_t convs = rc ? 0 : store__conversation_rows(x->s);
	if (convs < 0)
		rc = (int)convs;
	fprintf(out, "# HELP wacht_sensors_known Sensors that ever said hello.\n"
		     "# TYPE wacht_sensors_known gauge\nwacht_sensors_known %" PRIu64 "\n",
		sc.known);
	fprintf(out, "# HELP wacht_sensors_active Sensors seen in the last %" PRId64 " s.\n"
		     "# TYPE wacht_sensors_active gauge\nwacht_sensors_active %" PRIu64 "\n",
		(int64_t)(A.active_ns / SEC), sc.active);
	fprintf(out, "# HELP wacht_conversation_rows Network graph rows stored (one per"
		     " conversation, reporter and minute).\n"
		     "# TYPE wacht_conversation_rows gauge\nwacht_conversation_rows %" PRId64 "\n",
		convs < 0 ? 0 : convs);
	fprintf(out, "# HELP wacht_store_bytes Size of the store's database file.\n"
		     "# TYPE wacht_store_bytes gauge\nwacht_store_bytes %" PRId64 "\n",
		size < 0 ? 0 : size);
	api_metrics_write(out);
	fclose(out);
	if (rc < 0)
		ok = respond_store_error(x, rc);
	else
		ok = respond(x, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len,
			     NULL);
	free(text);
	return ok;
}

/* ---- the web page: files only, every piece of data comes from /api/ with
 * the token the person pasted into it */

static enum MHD_Result ui_send(struct ctx *x, const char *name)
{
	/* no inline script or style, nothing from elsewhere, not framed: data
	 * shown by the page can never run as code */
	static const char *const hdr[] = {
		"Content-Security-Policy",
		"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self';"
		" connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none';"
		" frame-ancestors 'none'",
		"X-Content-Type-Options", "nosniff",
		"X-Frame-Options", "DENY",
		"Referrer-Policy", "no-referrer",
		NULL
	};

	if (!*name)
		name = "index.html";
	for (size_t i = 0; i < ui_n_files; i++)
		if (!strcmp(ui_files[i].name, name))
			return respond(x, MHD_HTTP_OK, ui_files[i].type, ui_files[i].data,
				       ui_files[i].len, hdr);
	return respond_error(x, MHD_HTTP_NOT_FOUND, NULL, "no file /ui/%s", name);
}

/* ---- routing */

static enum MHD_Result unauthorized(struct ctx *x, bool presented)
{
	static const char *const none[] = { MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					     "Bearer realm=\"wacht\"", NULL };
	static const char *const bad[] = { MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					   "Bearer realm=\"wacht\", error=\"invalid_token\"",
					   NULL };

	return respond_error(x, MHD_HTTP_UNAUTHORIZED, presented ? bad : none,
			     presented ? "invalid token"
				       : "no token: send Authorization: Bearer TOKEN");
}

/* The token of the request, or NULL (*presented: whether one was sent). */
static const struct api_token *authenticate(struct MHD_Connection *c, bool *presented)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);

	*presented = h != NULL;
	if (!h || strncasecmp(h, "Bearer ", 7))
		return NULL;
	h += 7;
	h += strspn(h, " ");
	return api_tokens__find(A.tokens, h, strlen(h));
}

static enum MHD_Result method_not_allowed(struct ctx *x, const char *allow)
{
	const char *const hdr[] = { MHD_HTTP_HEADER_ALLOW, allow, NULL };

	return respond_error(x, MHD_HTTP_METHOD_NOT_ALLOWED, hdr, "method not allowed (%s)",
			     allow);
}

struct arg_check {
	const char *allowed; /* space-separated */
	char *bad;
	size_t size;
};

static enum MHD_Result arg_check_one(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *v)
{
	struct arg_check *ac = cls;
	const char *p = ac->allowed;
	size_t n = strlen(key);

	(void)kind;
	(void)v;
	while (p && *p) {
		size_t m = strcspn(p, " ");

		if (m == n && !strncmp(p, key, n))
			return MHD_YES;
		p += m + (p[m] == ' ');
	}
	snprintf(ac->bad, ac->size, "%s", key);
	return MHD_NO;
}

/* Whether every query parameter is one of allowed; the first other in bad. */
static bool only_args(struct ctx *x, const char *allowed, char *bad, size_t size)
{
	struct arg_check ac = { allowed, bad, size };

	bad[0] = 0;
	MHD_get_connection_values(x->c, MHD_GET_ARGUMENT_KIND, arg_check_one, &ac);
	return bad[0] == 0;
}

static bool id_ok(const char *id, size_t n)
{
	if (n == 0 || n > ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x20 || id[i] == '/')
			return false;
	return true;
}

static enum MHD_Result route(struct ctx *x, const char *url, const char *method)
{
	bool get = !strcmp(method, MHD_HTTP_METHOD_GET), presented;
	const char *rest;
	char bad[80], id[ID_MAX + 1];
	size_t n;

	if (!strcmp(url, "/healthz")) {
		x->route = "/healthz";
		return get ? healthz(x) : method_not_allowed(x, "GET");
	}
	if (!strcmp(url, "/metrics")) {
		x->route = "/metrics";
		return get ? metrics(x) : method_not_allowed(x, "GET");
	}
	if (!strcmp(url, "/") || !strcmp(url, "/ui") || !strncmp(url, "/ui/", 4)) {
		static const char *const to_ui[] = { MHD_HTTP_HEADER_LOCATION, "/ui/", NULL };
		static const char moved[] = "the web page is at /ui/\n";

		x->route = "/ui/";
		if (!get)
			return method_not_allowed(x, "GET");
		if (url[1] && url[3] == '/')
			return ui_send(x, url + 4);
		return respond(x, MHD_HTTP_FOUND, "text/plain; charset=utf-8", moved,
			       sizeof(moved) - 1, to_ui);
	}
	x->route = "other";
	if (strncmp(url, "/api/", 5))
		return respond_error(x, MHD_HTTP_NOT_FOUND, NULL, "no route %s", url);

	/* Every /api/ answer, even a 404, needs a token: routes and ids are
	 * not for strangers. */
	x->tok = authenticate(x->c, &presented);
	if (!x->tok)
		return unauthorized(x, presented);
	if (x->r->too_big)
		return respond_error(x, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
				     "request body larger than %d bytes", BODY_MAX);

	if (!strcmp(url, "/api/v1/findings")) {
		x->route = "/api/v1/findings";
		return get ? findings_list(x) : method_not_allowed(x, "GET");
	}
	if (!strncmp(url, "/api/v1/findings/", 17)) {
		rest = url + 17;
		n = strlen(rest);
		if (n > 4 && !strcmp(rest + n - 4, "/ack")) {
			x->route = "/api/v1/findings/{id}/ack";
			n -= 4;
		} else {
			x->route = "/api/v1/findings/{id}";
		}
		if (!id_ok(rest, n))
			return respond_error(x, MHD_HTTP_BAD_REQUEST, NULL,
					     "bad finding id (1 to %d characters, no '/' or"
					     " control characters)", ID_MAX);
		memcpy(id, rest, n);
		id[n] = 0;
		if (!only_args(x, "", bad, sizeof(bad)))
			return respond_error(x, MHD_HTTP_BAD_REQUEST, NULL,
					     "unknown parameter \"%s\"", bad);
		if (!strcmp(x->route, "/api/v1/findings/{id}"))
			return get ? finding_show(x, id) : method_not_allowed(x, "GET");
		if (!strcmp(method, MHD_HTTP_METHOD_POST))
			return finding_ack(x, id, true);
		if (!strcmp(method, MHD_HTTP_METHOD_DELETE))
			return finding_ack(x, id, false);
		return method_not_allowed(x, "POST, DELETE");
	}
	if (!strcmp(url, "/api/v1/graph")) {
		x->route = "/api/v1/graph";
		return get ? graph_export(x) : method_not_allowed(x, "GET");
	}
	if (!strcmp(url, "/api/v1/sensors") || !strcmp(url, "/api/v1/rules/learned") ||
	    !strcmp(url, "/api/v1/backup")) {
		x->route = url[8] == 's' ? "/api/v1/sensors" : url[8] == 'r' ? "/api/v1/rules/learned"
									    : "/api/v1/backup";
		if (!get)
			return method_not_allowed(x, "GET");
		if (!x->tok->all)
			return respond_error(x, MHD_HTTP_FORBIDDEN, NULL,
					     "token \"%s\" is scoped to namespaces; %s needs"
					     " scope *", x->tok->name, x->route);
		if (!only_args(x, url[8] == 'r' ? "group" : "", bad, sizeof(bad)))
			return respond_error(x, MHD_HTTP_BAD_REQUEST, NULL,
					     "unknown parameter \"%s\"", bad);
		if (url[8] == 's')
			return sensors_list(x);
		return url[8] == 'r' ? learned_export(x) : backup_send(x);
	}
	return respond_error(x, MHD_HTTP_NOT_FOUND, NULL, "no route %s", url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct req *r = *req_cls;
	struct ctx x = { .c = c };
	enum MHD_Result ok;

	(void)cls;
	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*req_cls = r;
		return MHD_YES;
	}
	if (*upload_size) {
		/* keep reading past the limit (answered with 413 at the end) */
		if (!r->too_big && r->len + *upload_size <= BODY_MAX) {
			char *b = realloc(r->body, r->len + *upload_size + 1);

			if (!b)
				return MHD_NO;
			r->body = b;
			memcpy(r->body + r->len, upload, *upload_size);
			r->len += *upload_size;
			r->body[r->len] = 0;
		} else {
			r->too_big = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	x.r = r;
	x.s = pool_get();
	if (!x.s) {
		x.route = "other";
		return respond_error(&x, MHD_HTTP_SERVICE_UNAVAILABLE, NULL,
				     "store: cannot open %s", A.store_path);
	}
	pthread_rwlock_rdlock(&A.tokens_lock);
	ok = route(&x, url, method);
	pthread_rwlock_unlock(&A.tokens_lock);
	pool_put(x.s);
	return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode code)
{
	struct req *r = *req_cls;

	(void)cls;
	(void)c;
	(void)code;
	if (r) {
		free(r->body);
		free(r);
	}
	*req_cls = NULL;
}

/* ---- start and stop */

static char *read_file(const char *path, int *err)
{
	char *buf = NULL;
	size_t len = 0, n;
	char chunk[4096];
	FILE *f = fopen(path, "re"), *m;

	if (!f) {
		*err = -errno;
		return NULL;
	}
	m = open_memstream(&buf, &len);
	if (!m) {
		fclose(f);
		*err = -ENOMEM;
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	*err = ferror(f) ? -EIO : 0;
	fclose(f);
	fclose(m);
	if (*err) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void api_reset(void)
{
	api_tokens__free(A.tokens);
	A.tokens = NULL;
	free(A.tokens_path);
	A.tokens_path = NULL;
	free(A.store_path);
	A.store_path = NULL;
	free(A.cert);
	free(A.key);
	A.cert = A.key = NULL;
	for (size_t i = 0; i < A.n_pool; i++)
		store__close(A.pool[i]);
	A.n_pool = 0;
	A.port = 0;
}

int api__start(const struct api_config *cfg)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	const char *addr = cfg->listen_addr ? cfg->listen_addr : "127.0.0.1";
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	struct store *s;
	char *err = NULL;
	int rc;

	if (A.d)
		return -EALREADY;
	if (!cfg->store_path || !cfg->tokens_path) {
		fprintf(stderr, "api: failed to start: a store path and a tokens file are"
				" required\n");
		return -EINVAL;
	}
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(cfg->port);
	} else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(cfg->port);
		flags |= MHD_USE_IPv6;
	} else {
		fprintf(stderr, "api: failed to parse listen address %s: not a numeric IPv4 or"
				" IPv6 address\n", addr);
		return -EINVAL;
	}
	A.tokens = api_tokens__load(cfg->tokens_path, &err);
	if (!A.tokens) {
		fprintf(stderr, "%s\n", err ? err : "api: failed to load tokens: out of memory");
		free(err);
		return -EINVAL;
	}
	A.store_path = strdup(cfg->store_path);
	A.tokens_path = strdup(cfg->tokens_path);
	if (!A.store_path || !A.tokens_path) {
		api_reset();
		return -ENOMEM;
	}
	/* open once now: a wrong path is an error at start, not per request
	 * (this also creates or migrates the schema) */
	s = store__open(A.store_path, NULL, &err);
	if (!s) {
		rc = -errno;
		fprintf(stderr, "%s\n", err ? err : "api: failed to open the store");
		free(err);
		api_reset();
		return rc ? rc : -EIO;
	}
	pool_put(s);
	if (!!cfg->tls_cert != !!cfg->tls_key) {
		fprintf(stderr, "api: failed to configure TLS: give both a certificate and a"
				" key\n");
		api_reset();
		return -EINVAL;
	}
	if (cfg->tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			fprintf(stderr, "api: failed to configure TLS: libmicrohttpd was built"
					" without TLS; listen on localhost behind a TLS proxy\n");
			api_reset();
			return -ENOTSUP;
		}
		A.cert = read_file(cfg->tls_cert, &rc);
		if (A.cert)
			A.key = read_file(cfg->tls_key, &rc);
		if (!A.key) {
			fprintf(stderr, "api: failed to read %s: %s\n",
				A.cert ? cfg->tls_key : cfg->tls_cert, strerror(-rc));
			api_reset();
			return rc;
		}
		flags |= MHD_USE_TLS;
	}
	A.active_ns = cfg->sensor_active_ns > 0 ? cfg->sensor_active_ns : DEFAULT_ACTIVE_NS;
	api__metric_help("wacht_api_requests_total", "API requests by route and status.");

	if (A.cert)
		A.d = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, NULL,
				       MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				       MHD_OPTION_THREAD_POOL_SIZE,
				       (unsigned)(cfg->threads ? cfg->threads : DEFAULT_THREADS),
				       MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
				       MHD_OPTION_HTTPS_MEM_CERT, A.cert, MHD_OPTION_HTTPS_MEM_KEY,
				       A.key, MHD_OPTION_END);
	else
		A.d = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, NULL,
				       MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				       MHD_OPTION_THREAD_POOL_SIZE,
				       (unsigned)(cfg->threads ? cfg->threads : DEFAULT_THREADS),
				       MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	if (!A.d) {
		fprintf(stderr, "api: failed to listen on %s port %u: address in use, no"
				" permission, or a bad TLS certificate/key\n", addr,
			(unsigned)cfg->port);
		api_reset();
		return -EADDRNOTAVAIL;
	}
	info = MHD_get_daemon_info(A.d, MHD_DAEMON_INFO_BIND_PORT);
	A.port = info ? info->port : cfg->port;
	return 0;
}

void api__stop(void)
{
	if (!A.d)
		return;
	MHD_stop_daemon(A.d);
	A.d = NULL;
	api_reset();
}

uint16_t api__port(void)
{
	return A.d ? A.port : 0;
}

int api__reload_tokens(void)
{
	struct api_tokens *t, *old;
	char *err = NULL;

	if (!A.d)
		return -ENOENT;
	t = api_tokens__load(A.tokens_path, &err);
	if (!t) {
		/* the old tokens stay: a typo must not lock everyone out */
		fprintf(stderr, "%s (the previous tokens stay in use)\n",
			err ? err : "api: failed to load tokens: out of memory");
		free(err);
		return -EINVAL;
	}
	pthread_rwlock_wrlock(&A.tokens_lock);
	old = A.tokens;
	A.tokens = t;
	pthread_rwlock_unlock(&A.tokens_lock);
	api_tokens__free(old);
	return 0;
}
