/* SPDX-License-Identifier: Apache-2.0 */
/* test_api.c: the HTTP API on 127.0.0.1 over a fixture store, called with
 * libcurl: every route, filters, pages, token scopes, acks, bad requests,
 * metrics, the learned-profile merge, backup and restore, TLS. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "api.h"
#include "api_tokens.h"
#include "learned.h"
#include "learned_fixtures.h"
#include "policy.h"
#include "store.h"
#include "ui_files.h"

#define SEC 1000000000LL
#define MIN (60 * SEC)

/* Tokens: the security team sees all, the shop team its namespace, the
 * platform team two. Only the hashes are in the file. */
#define TOK_SEC "s3cur1ty-team-token"
#define TOK_SHOP "shop-team-token"
#define TOK_TWO "shop-and-pay-token"

static char dir[64], db[128], tokens[128], tokens_text[512];
static int64_t now0;
static char base[64];

/* One finding and its parts, built like a decoded wire message. */
struct tf {
	Wacht__V1__Finding f;
	Wacht__V1__Rule r;
	Wacht__V1__Container c;
	Wacht__V1__Process p;
	Wacht__V1__File file;
	Wacht__V1__Network net;
	ProtobufCBinaryData args[2];
	uint8_t rip[4];
};

static int64_t realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void tf_init(struct tf *t, const char *id, int64_t time, const char *node,
		    const char *name, int severity, const char *ns, const char *pod,
		    const char *exe)
{
	static const Wacht__V1__Finding f0 = WACHT__V1__FINDING__INIT;
	static const Wacht__V1__Rule r0 = WACHT__V1__RULE__INIT;
	static const Wacht__V1__Container c0 = WACHT__V1__CONTAINER__INIT;
	static const Wacht__V1__Process p0 = WACHT__V1__PROCESS__INIT;
	static const Wacht__V1__File file0 = WACHT__V1__FILE__INIT;
	static const Wacht__V1__Network net0 = WACHT__V1__NETWORK__INIT;

	t->f = f0;
	t->r = r0;
	t->c = c0;
	t->p = p0;
	t->file = file0;
	t->net = net0;
	t->f.id = (char *)id;
	t->f.time_unix_ns = time;
	t->f.node = (char *)node;
	t->f.name = (char *)name;
	t->f.severity = severity;
	t->f.action = WACHT__V1__ACTION__ACTION_ALERT;
	t->f.mode = WACHT__V1__MODE__MODE_MONITOR;
	t->r.id = "rules.yaml:12";
	t->r.name = "no-shell";
	t->r.group = "nv.web.shop";
	t->f.rule = &t->r;
	if (ns) {
		t->c.id = "c0ffee";
		t->c.name = "web";
		t->c.image = "nginx:1.25";
		t->c.pod = (char *)pod;
		t->c.namespace_ = (char *)ns;
		t->c.group = "nv.web.shop";
		t->f.container = &t->c;
	}
	t->p.pid = 4242;
	t->p.ppid = 4200;
	t->p.uid = 33;
	t->p.euid = 33;
	t->p.exe.data = (uint8_t *)exe;
	t->p.exe.len = strlen(exe);
	t->p.name.data = (uint8_t *)"sh";
	t->p.name.len = 2;
	t->p.parent_exe.data = (uint8_t *)"/usr/sbin/nginx";
	t->p.parent_exe.len = strlen("/usr/sbin/nginx");
	t->args[0].data = (uint8_t *)"sh";
	t->args[0].len = 2;
	t->args[1].data = (uint8_t *)"-c";
	t->args[1].len = 2;
	t->p.args = t->args;
	t->p.n_args = 2;
	t->f.process = &t->p;
	t->f.message.data = (uint8_t *)"it happened";
	t->f.message.len = strlen("it happened");
	t->f.count = 1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void sha256_hex(const char *tok, char out[65])
{
	char cmd[256];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "printf %%s '%s' | sha256sum", tok);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, 65, p));
	pclose(p);
}

/*
 * The fixture, one minute apart, newest last:
 *   s1:1  -9m node-a Process.Profile.Violation    high     shop/web-1 /bin/sh
 *   s1:2  -8m node-a Container.Suspicious.Process critical shop/web-2 /usr/bin/nc
 *   s2:1  -7m node-b Network.Violation            medium   pay/api-1  (network)
 *   s2:2  -6m node-b Container.Package.Updated    low      host       (file)
 *   s1:3  -5m node-a Container.FileAccess.Violation medium shop/web-1 (file)
 */
static void fill(struct store *s)
{
	struct tf t[5];
	const Wacht__V1__Finding *v[5];
	Wacht__V1__SensorHello h = WACHT__V1__SENSOR_HELLO__INIT;

	tf_init(&t[0], "s1:1", now0 - 9 * MIN, "node-a", "Process.Profile.Violation",
		WACHT__V1__SEVERITY__SEVERITY_HIGH, "shop", "web-1", "/bin/sh");
	tf_init(&t[1], "s1:2", now0 - 8 * MIN, "node-a", "Container.Suspicious.Process",
		WACHT__V1__SEVERITY__SEVERITY_CRITICAL, "shop", "web-2", "/usr/bin/nc");
	tf_init(&t[2], "s2:1", now0 - 7 * MIN, "node-b", "Network.Violation",
		WACHT__V1__SEVERITY__SEVERITY_MEDIUM, "pay", "api-1", "/usr/bin/curl");
	t[2].net.proto = 6;
	t[2].net.direction = WACHT__V1__DIRECTION__DIRECTION_OUTBOUND;
	memcpy(t[2].rip, (uint8_t[]){ 10, 0, 0, 5 }, 4);
	t[2].net.remote_ip.data = t[2].rip;
	t[2].net.remote_ip.len = 4;
	t[2].net.remote_port = 5432;
	t[2].f.network = &t[2].net;
	tf_init(&t[3], "s2:2", now0 - 6 * MIN, "node-b", "Container.Package.Updated",
		WACHT__V1__SEVERITY__SEVERITY_LOW, NULL, NULL, "/usr/bin/dpkg");
	t[3].file.path.data = (uint8_t *)"/var/lib/dpkg/status";
	t[3].file.path.len = strlen("/var/lib/dpkg/status");
	t[3].file.op = "modify";
	t[3].f.file = &t[3].file;
	tf_init(&t[4], "s1:3", now0 - 5 * MIN, "node-a", "Container.FileAccess.Violation",
		WACHT__V1__SEVERITY__SEVERITY_MEDIUM, "shop", "web-1", "/bin/cat");
	t[4].file.path.data = (uint8_t *)"/etc/shadow";
	t[4].file.path.len = strlen("/etc/shadow");
	t[4].file.op = "access";
	t[4].f.file = &t[4].file;
	t[4].f.count = 3;
	for (int i = 0; i < 5; i++)
		v[i] = &t[i].f;
	assert_int_equal(store__add_findings(s, v, 5, now0), 5);

	h.node = "node-a";
	h.sensor_id = "s1";
	h.sensor_version = "v0.3.0";
	h.kernel = "6.1.0-18-amd64";
	assert_int_equal(store__sensor_hello(s, &h, now0 - MIN), 0);
	h.node = "node-b";
	h.sensor_id = "s2";
	h.kernel = "6.1.0-20-amd64";
	assert_int_equal(store__sensor_hello(s, &h, now0 - 60 * MIN), 0);
	assert_int_equal(store__sensor_drops(s, "s2", 17, now0 - 60 * MIN), 0);

	assert_int_equal(store__learned_put(s, "nv.web.shop", "node-a", node_a_yaml, now0), 0);
	assert_int_equal(store__learned_put(s, "nv.web.shop", "node-b", node_b_yaml, now0), 0);
}

/* ---- conversations (the graph's fixture) */

struct tfl {
	Wacht__V1__FlowBatch b;
	Wacht__V1__FlowRecord r[4], *rp[4];
	Wacht__V1__FlowEndpoint ep[4][2];
	Wacht__V1__Container ct[4][2];
	uint8_t ip[4][2][4];
};

/* An end: a container (id set, in ns, pod, 10.1.0.last) or an external
 * address 10.0.0.last. */
static void tfl_end(struct tfl *t, int i, int e, const char *cid, const char *ns,
		    const char *pod, uint8_t last)
{
	Wacht__V1__FlowEndpoint *ep = &t->ep[i][e];

	wacht__v1__flow_endpoint__init(ep);
	memcpy(t->ip[i][e], (uint8_t[]){ 10, cid ? 1 : 0, 0, last }, 4);
	ep->ip.data = t->ip[i][e];
	ep->ip.len = 4;
	ep->kind = cid ? WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_CONTAINER
		       : WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_EXTERNAL;
	if (cid) {
		Wacht__V1__Container *c = &t->ct[i][e];

		wacht__v1__container__init(c);
		c->id = (char *)cid;
		c->name = "app";
		c->pod = (char *)pod;
		c->namespace_ = (char *)ns;
		ep->container = c;
	}
}

static void tfl_rec(struct tfl *t, const char *ccid, const char *cns, const char *cpod,
		    uint8_t cip, const char *scid, const char *sns, const char *spod, uint8_t sip,
		    uint32_t port, bool by_client, uint64_t bytes, int64_t last,
		    Wacht__V1__FlowVerdict v)
{
	int i = (int)t->b.n_records++;
	Wacht__V1__FlowRecord *r = &t->r[i];

	wacht__v1__flow_record__init(r);
	tfl_end(t, i, 0, ccid, cns, cpod, cip);
	tfl_end(t, i, 1, scid, sns, spod, sip);
	r->client = &t->ep[i][0];
	r->server = &t->ep[i][1];
	r->proto = 6;
	r->server_port = port;
	r->reported_by_client = by_client;
	r->bytes_to_server = bytes;
	r->packets_to_server = 1;
	r->sessions = 1;
	r->first_seen_unix_ns = last - SEC;
	r->last_seen_unix_ns = last;
	r->verdict = v;
	t->rp[i] = r;
}

/*
 * node-a's sensor (s1):
 *   shop/web-1 -> shop/db-0   tcp/5432  -10s  by the client 1000 bytes and
 *                                              by the server 990 (de-dup)
 *   shop/web-1 -> pay/api-1   tcp/8080  -3m   allowed, 300 bytes
 *   pay/api-1  -> 10.0.0.5    tcp/443   -3m   denied (no bytes)
 */
static void fill_flows(struct store *s)
{
	struct tfl t;

	memset(&t, 0, sizeof(t));
	wacht__v1__flow_batch__init(&t.b);
	t.b.batch_seq = 1;
	t.b.node = "node-a";
	t.b.time_unix_ns = now0;
	t.b.records = t.rp;
	tfl_rec(&t, "c0ffee", "shop", "web-1", 1, "db0", "shop", "db-0", 2, 5432, true, 1000,
		now0 - 10 * SEC, WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_ALLOWED);
	tfl_rec(&t, "c0ffee", "shop", "web-1", 1, "db0", "shop", "db-0", 2, 5432, false, 990,
		now0 - 10 * SEC, WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_ALLOWED);
	tfl_rec(&t, "c0ffee", "shop", "web-1", 1, "api1", "pay", "api-1", 3, 8080, true, 300,
		now0 - 3 * MIN, WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_ALLOWED);
	tfl_rec(&t, "api1", "pay", "api-1", 3, NULL, NULL, NULL, 5, 443, true, 0,
		now0 - 3 * MIN, WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_DENIED);
	assert_int_equal(store__add_flows(s, "s1", 1, "node-a", &t.b, now0), 4);
}

static int setup(void **state)
{
	struct api_config cfg = {0};
	char h1[65], h2[65], h3[65], text[512];
	struct store *s;
	char *err = NULL;

	(void)state;
	now0 = realtime();
	strcpy(dir, "/tmp/test_api.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/wacht.db", dir);
	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	sha256_hex(TOK_SEC, h1);
	sha256_hex(TOK_SHOP, h2);
	sha256_hex(TOK_TWO, h3);
	snprintf(text, sizeof(text),
		 "# NAME SHA256 SCOPE\n"
		 "security %s *\n"
		 "shop-team %s shop   # the shop namespace only\n"
		 "\n"
		 "platform\t%s\tshop,pay\n",
		 h1, h2, h3);
	write_file(tokens, text);
	snprintf(tokens_text, sizeof(tokens_text), "%s", text);

	s = store__open(db, NULL, &err);
	assert_non_null(s);
	fill(s);
	fill_flows(s);
	store__close(s);

	cfg.listen_addr = "127.0.0.1";
	cfg.port = 0;
	cfg.store_path = db;
	cfg.tokens_path = tokens;
	cfg.threads = 2;
	assert_int_equal(api__start(&cfg), 0);
	assert_true(api__port() > 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", api__port());
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	api__stop();
	assert_int_equal(api__port(), 0);
	curl_global_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ---- the client */

struct resp {
	long status;
	char *body, *headers;
	size_t len, hlen;
	struct json_object *json;
};

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	fwrite(p, size, n, ctx);
	return size * n;
}

static void resp_free(struct resp *r)
{
	free(r->body);
	free(r->headers);
	json_object_put(r->json);
	memset(r, 0, sizeof(*r));
}

/* method path (relative to base, or a full URL) with token (NULL: none),
 * body (NULL: none). The answer parsed as JSON when it is JSON. */
static struct resp call(const char *method, const char *path, const char *token,
			const char *body)
{
	struct resp r = {0};
	struct curl_slist *hdr = NULL;
	char url[512], auth[256];
	FILE *out = open_memstream(&r.body, &r.len);
	FILE *hout = open_memstream(&r.headers, &r.hlen);
	CURL *c = curl_easy_init();

	assert_non_null(c);
	snprintf(url, sizeof(url), "%s%s", strncmp(path, "http", 4) ? base : "", path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, hout);
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdr = curl_slist_append(hdr, auth);
	}
	if (body) {
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	fclose(out);
	fclose(hout);
	if (r.len && r.body[0] == '{')
		r.json = json_tokener_parse(r.body);
	return r;
}

static struct resp get(const char *path, const char *token)
{
	return call("GET", path, token, NULL);
}

static const char *jstr(struct json_object *o, const char *path)
{
	char buf[128], *save = NULL, *k;

	snprintf(buf, sizeof(buf), "%s", path);
	for (k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(o, k, &o))
			o = NULL;
	return o ? json_object_get_string(o) : NULL;
}

/* The ids of a findings page, comma-separated. */
static void ids(const struct resp *r, char *out, size_t size)
{
	struct json_object *arr;
	size_t n = 0;

	out[0] = 0;
	assert_non_null(r->json);
	assert_true(json_object_object_get_ex(r->json, "findings", &arr));
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		n += (size_t)snprintf(out + n, size - n, "%s%s", i ? "," : "",
				      jstr(json_object_array_get_idx(arr, i), "id"));
}

static void assert_list(const char *query, const char *token, long status, const char *want)
{
	char path[512], got[256];
	struct resp r;

	snprintf(path, sizeof(path), "/api/v1/findings%s", query);
	r = get(path, token);
	if (r.status != status)
		fail_msg("%s: status %ld, want %ld: %s", path, r.status, status, r.body);
	if (want) {
		ids(&r, got, sizeof(got));
		if (strcmp(got, want))
			fail_msg("%s: got [%s], want [%s]", path, got, want);
	}
	resp_free(&r);
}

static void assert_error(const char *method, const char *path, const char *token,
			 const char *body, long status, const char *msg_part)
{
	struct resp r = call(method, path, token, body);
	const char *msg;

	if (r.status != status)
		fail_msg("%s %s: status %ld, want %ld: %s", method, path, r.status, status, r.body);
	assert_non_null(r.json);
	msg = jstr(r.json, "error");
	assert_non_null(msg);
	if (!strstr(msg, msg_part))
		fail_msg("%s %s: error \"%s\" does not say \"%s\"", method, path, msg, msg_part);
	resp_free(&r);
}

/* ---- tests */

static void test_tokens_required(void **state)
{
	struct resp r;

	(void)state;
	r = get("/api/v1/findings", NULL);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.headers, "WWW-Authenticate: Bearer realm=\"wacht\"\r\n"));
	assert_string_equal(jstr(r.json, "error"), "no token: send Authorization: Bearer TOKEN");
	resp_free(&r);
	r = get("/api/v1/findings", "not-a-token");
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.headers,
			       "WWW-Authenticate: Bearer realm=\"wacht\", error=\"invalid_token\""));
	resp_free(&r);
	/* a token's hash is not a token */
	r = get("/api/v1/findings/s1:1", "Basic c2VjdXJpdHk6eA==");
	assert_int_equal(r.status, 401);
	resp_free(&r);
	/* unknown routes under /api/ are not revealed either */
	r = get("/api/v2/anything", NULL);
	assert_int_equal(r.status, 401);
	resp_free(&r);
}

static void test_list_and_shape(void **state)
{
	struct json_object *arr, *f;
	struct resp r;

	(void)state;
	r = get("/api/v1/findings", TOK_SEC);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Content-Type: application/json\r\n"));
	ids(&r, (char[256]){0}, 256);
	assert_true(json_object_object_get_ex(r.json, "findings", &arr));
	assert_int_equal(json_object_array_length(arr), 5);
	assert_null(jstr(r.json, "next"));
	/* newest first */
	f = json_object_array_get_idx(arr, 0);
	assert_string_equal(jstr(f, "id"), "s1:3");
	assert_string_equal(jstr(f, "name"), "Container.FileAccess.Violation");
	assert_string_equal(jstr(f, "severity"), "medium");
	assert_string_equal(jstr(f, "file.path"), "/etc/shadow");
	assert_string_equal(jstr(f, "file.op"), "access");
	assert_string_equal(jstr(f, "count"), "3");
	f = json_object_array_get_idx(arr, 2);
	assert_string_equal(jstr(f, "id"), "s2:1");
	assert_string_equal(jstr(f, "network.proto"), "tcp");
	assert_string_equal(jstr(f, "network.direction"), "outbound");
	assert_string_equal(jstr(f, "network.remote_ip"), "10.0.0.5");
	assert_string_equal(jstr(f, "network.remote_port"), "5432");
	assert_string_equal(jstr(f, "container.namespace"), "pay");
	f = json_object_array_get_idx(arr, 1);
	assert_string_equal(jstr(f, "id"), "s2:2");
	assert_null(jstr(f, "container")); /* a host finding */
	resp_free(&r);

	r = get("/api/v1/findings/s1:1", TOK_SEC);
	assert_int_equal(r.status, 200);
	f = r.json;
	assert_string_equal(jstr(f, "id"), "s1:1");
	assert_string_equal(jstr(f, "node"), "node-a");
	assert_string_equal(jstr(f, "name"), "Process.Profile.Violation");
	assert_string_equal(jstr(f, "severity"), "high");
	assert_string_equal(jstr(f, "action"), "alert");
	assert_string_equal(jstr(f, "mode"), "Monitor");
	assert_string_equal(jstr(f, "rule.id"), "rules.yaml:12");
	assert_string_equal(jstr(f, "container.pod"), "web-1");
	assert_string_equal(jstr(f, "container.namespace"), "shop");
	assert_string_equal(jstr(f, "container.image"), "nginx:1.25");
	assert_string_equal(jstr(f, "process.exe"), "/bin/sh");
	assert_string_equal(jstr(f, "process.ppid"), "4200");
	assert_string_equal(jstr(f, "process.uid"), "33");
	assert_string_equal(jstr(f, "process.parent_exe"), "/usr/sbin/nginx");
	assert_non_null(strstr(r.body, "\"args\":[\"sh\",\"-c\"]"));
	assert_string_equal(jstr(f, "message"), "it happened");
	assert_string_equal(jstr(f, "count"), "1");
	assert_string_equal(jstr(f, "acknowledged"), "false");
	assert_string_equal(jstr(f, "ack_by"), "");
	assert_null(jstr(f, "ack_time"));
	assert_string_equal(jstr(f, "time"), jstr(f, "last_seen"));
	assert_string_equal(jstr(f, "first_seen"), jstr(f, "last_seen"));
	assert_int_equal(strlen(jstr(f, "first_seen")), strlen("2026-01-01T00:00:00.000000000Z"));
	resp_free(&r);

	assert_error("GET", "/api/v1/findings/s9:9", TOK_SEC, NULL, 404, "no finding \"s9:9\"");
}

static void test_filters(void **state)
{
	char q[256], ts[64];
	time_t t;
	struct tm tm;

	(void)state;
	assert_list("?severity=high", TOK_SEC, 200, "s1:2,s1:1");
	assert_list("?severity=CRITICAL", TOK_SEC, 200, "s1:2");
	assert_list("?severity=info", TOK_SEC, 200, "s1:3,s2:2,s2:1,s1:2,s1:1");
	assert_list("?namespace=shop", TOK_SEC, 200, "s1:3,s1:2,s1:1");
	assert_list("?namespace=shop&pod=web-1", TOK_SEC, 200, "s1:3,s1:1");
	assert_list("?name=Network.Violation", TOK_SEC, 200, "s2:1");
	assert_list("?node=node-b", TOK_SEC, 200, "s2:2,s2:1");
	assert_list("?acknowledged=false", TOK_SEC, 200, "s1:3,s2:2,s2:1,s1:2,s1:1");
	assert_list("?acknowledged=true", TOK_SEC, 200, "");
	/* -7m is in, -8m out; relative times count from now */
	assert_list("?since=450s", TOK_SEC, 200, "s1:3,s2:2,s2:1");
	assert_list("?since=1h", TOK_SEC, 200, "s1:3,s2:2,s2:1,s1:2,s1:1");
	assert_list("?since=2m", TOK_SEC, 200, "");
	/* RFC 3339 (UTC, and the same moment with an offset) */
	t = (time_t)((now0 - 8 * MIN - 30 * SEC) / SEC);
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(q, sizeof(q), "?until=%s", ts);
	assert_list(q, TOK_SEC, 200, "s1:1");
	t += 3600;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S.5%%2B01:00", &tm);
	snprintf(q, sizeof(q), "?until=%s&since=1h", ts);
	assert_list(q, TOK_SEC, 200, "s1:1");
}

static void test_pages(void **state)
{
	struct resp r;
	char next[64], path[128], got[128];

	(void)state;
	r = get("/api/v1/findings?limit=2", TOK_SEC);
	assert_int_equal(r.status, 200);
	ids(&r, got, sizeof(got));
	assert_string_equal(got, "s1:3,s2:2");
	assert_non_null(jstr(r.json, "next"));
	snprintf(next, sizeof(next), "%s", jstr(r.json, "next"));
	resp_free(&r);

	snprintf(path, sizeof(path), "/api/v1/findings?limit=2&cursor=%s", next);
	r = get(path, TOK_SEC);
	assert_int_equal(r.status, 200);
	ids(&r, got, sizeof(got));
	assert_string_equal(got, "s2:1,s1:2");
	assert_non_null(jstr(r.json, "next"));
	snprintf(next, sizeof(next), "%s", jstr(r.json, "next"));
	resp_free(&r);

	snprintf(path, sizeof(path), "/api/v1/findings?limit=2&cursor=%s", next);
	r = get(path, TOK_SEC);
	ids(&r, got, sizeof(got));
	assert_string_equal(got, "s1:1");
	assert_null(jstr(r.json, "next"));
	resp_free(&r);

	/* a page that ends exactly at the last finding has no next */
	r = get("/api/v1/findings?limit=5", TOK_SEC);
	assert_null(jstr(r.json, "next"));
	resp_free(&r);
	/* filters apply on every page */
	r = get("/api/v1/findings?namespace=shop&limit=1", TOK_SEC);
	ids(&r, got, sizeof(got));
	assert_string_equal(got, "s1:3");
	snprintf(path, sizeof(path), "/api/v1/findings?namespace=shop&limit=5&cursor=%s",
		 jstr(r.json, "next"));
	resp_free(&r);
	assert_list(path + strlen("/api/v1/findings"), TOK_SEC, 200, "s1:2,s1:1");
}

static void test_scopes(void **state)
{
	(void)state;
	/* a scoped token sees only its namespaces, never host findings */
	assert_list("", TOK_SHOP, 200, "s1:3,s1:2,s1:1");
	assert_list("", TOK_TWO, 200, "s1:3,s2:1,s1:2,s1:1");
	assert_list("?namespace=shop&severity=critical", TOK_SHOP, 200, "s1:2");
	assert_list("?node=node-b", TOK_SHOP, 200, "");
	/* naming another namespace is forbidden, not an empty list */
	assert_error("GET", "/api/v1/findings?namespace=pay", TOK_SHOP, NULL, 403,
		     "token \"shop-team\" may not see namespace \"pay\"");
	/* one finding outside the scope is as absent as a missing one */
	assert_error("GET", "/api/v1/findings/s2:1", TOK_SHOP, NULL, 404, "no finding");
	assert_error("GET", "/api/v1/findings/s2:2", TOK_TWO, NULL, 404, "no finding");
	assert_error("POST", "/api/v1/findings/s2:1/ack", TOK_SHOP, "{\"comment\":\"x\"}", 404,
		     "no finding");
	assert_error("DELETE", "/api/v1/findings/s2:1/ack", TOK_SHOP, NULL, 404, "no finding");
	/* cluster-wide data needs scope * */
	assert_error("GET", "/api/v1/sensors", TOK_SHOP, NULL, 403, "needs scope *");
	assert_error("GET", "/api/v1/rules/learned", TOK_TWO, NULL, 403, "needs scope *");
	assert_error("GET", "/api/v1/backup", TOK_SHOP, NULL, 403, "needs scope *");
	/* and the ack outside the scope changed nothing */
	assert_list("?acknowledged=true", TOK_SEC, 200, "");
}

static void test_ack_unack(void **state)
{
	struct resp r;

	(void)state;
	r = call("POST", "/api/v1/findings/s1:1/ack", TOK_SEC,
		 "{\"comment\": \"admin shell, ticket SEC-12\"}");
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "id"), "s1:1");
	assert_string_equal(jstr(r.json, "acknowledged"), "true");
	assert_string_equal(jstr(r.json, "ack_by"), "security");
	assert_string_equal(jstr(r.json, "ack_comment"), "admin shell, ticket SEC-12");
	assert_non_null(jstr(r.json, "ack_time"));
	resp_free(&r);
	assert_list("?acknowledged=true", TOK_SEC, 200, "s1:1");
	assert_list("?acknowledged=false", TOK_SEC, 200, "s1:3,s2:2,s2:1,s1:2");

	/* the shop team acks its own, without a body: who is its token */
	r = call("POST", "/api/v1/findings/s1:2/ack", TOK_SHOP, "");
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "ack_by"), "shop-team");
	assert_string_equal(jstr(r.json, "ack_comment"), "");
	resp_free(&r);
	assert_list("?acknowledged=true", TOK_SHOP, 200, "s1:2,s1:1");

	r = call("DELETE", "/api/v1/findings/s1:1/ack", TOK_SHOP, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "acknowledged"), "false");
	assert_string_equal(jstr(r.json, "ack_by"), "shop-team");
	resp_free(&r);
	r = call("DELETE", "/api/v1/findings/s1:2/ack", TOK_SEC, NULL);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_list("?acknowledged=true", TOK_SEC, 200, "");
	assert_error("POST", "/api/v1/findings/nope/ack", TOK_SEC, "{}", 404,
		     "no finding \"nope\"");
}

static void test_bad_requests(void **state)
{
	(void)state;
	assert_error("GET", "/api/v1/findings?severity=urgent", TOK_SEC, NULL, 400,
		     "bad severity \"urgent\"");
	assert_error("GET", "/api/v1/findings?since=yesterday", TOK_SEC, NULL, 400,
		     "bad since \"yesterday\"");
	assert_error("GET", "/api/v1/findings?until=2024-13-01T00:00:00Z", TOK_SEC, NULL, 400,
		     "bad until");
	assert_error("GET", "/api/v1/findings?since=5w", TOK_SEC, NULL, 400, "bad since");
	assert_error("GET", "/api/v1/findings?since=1h&until=2h", TOK_SEC, NULL, 400,
		     "since is after until");
	assert_error("GET", "/api/v1/findings?limit=0", TOK_SEC, NULL, 400, "bad limit");
	assert_error("GET", "/api/v1/findings?limit=1001", TOK_SEC, NULL, 400, "bad limit");
	assert_error("GET", "/api/v1/findings?limit=ten", TOK_SEC, NULL, 400, "bad limit");
	assert_error("GET", "/api/v1/findings?cursor=abc", TOK_SEC, NULL, 400, "bad cursor");
	assert_error("GET", "/api/v1/findings?acknowledged=maybe", TOK_SEC, NULL, 400,
		     "bad acknowledged");
	assert_error("GET", "/api/v1/findings?namespace=", TOK_SEC, NULL, 400, "bad namespace");
	assert_error("GET", "/api/v1/findings?sevrity=high", TOK_SEC, NULL, 400,
		     "unknown parameter \"sevrity\"");
	assert_error("GET", "/api/v1/findings/s1:1?x=1", TOK_SEC, NULL, 400,
		     "unknown parameter \"x\"");
	assert_error("POST", "/api/v1/findings/s1:1/ack", TOK_SEC, "comment=hi", 400,
		     "body is not JSON");
	assert_error("POST", "/api/v1/findings/s1:1/ack", TOK_SEC, "[\"hi\"]", 400,
		     "must be a JSON object");
	assert_error("POST", "/api/v1/findings/s1:1/ack", TOK_SEC, "{\"comment\": 5}", 400,
		     "\"comment\" must be a string");
	assert_error("POST", "/api/v1/findings/s1:1/ack", TOK_SEC, "{\"who\": \"me\"}", 400,
		     "unknown member");
	assert_error("POST", "/api/v1/findings/s1:1/ack", TOK_SEC, "{\"comment\": \"x\"} {", 400,
		     "body is not JSON");
	assert_error("POST", "/api/v1/findings", TOK_SEC, "{}", 405, "method not allowed (GET)");
	assert_error("PUT", "/api/v1/findings/s1:1/ack", TOK_SEC, "{}", 405,
		     "method not allowed (POST, DELETE)");
	assert_error("GET", "/api/v1/nothing", TOK_SEC, NULL, 404, "no route /api/v1/nothing");
	assert_error("GET", "/nothing", NULL, NULL, 404, "no route /nothing");
	/* a body over the limit is refused whole */
	{
		size_t n = 70 * 1024;
		char *big = malloc(n + 32);

		assert_non_null(big);
		strcpy(big, "{\"comment\": \"");
		memset(big + 13, 'a', n);
		strcpy(big + 13 + n, "\"}");
		assert_error("POST", "/api/v1/findings/s1:1/ack", TOK_SEC, big, 413,
			     "request body larger than 65536 bytes");
		free(big);
	}
	/* nothing was acked by any of it */
	assert_list("?acknowledged=true", TOK_SEC, 200, "");
}

static void test_sensors(void **state)
{
	struct json_object *arr, *s;
	struct resp r;

	(void)state;
	r = get("/api/v1/sensors", TOK_SEC);
	assert_int_equal(r.status, 200);
	assert_true(json_object_object_get_ex(r.json, "sensors", &arr));
	assert_int_equal(json_object_array_length(arr), 2);
	s = json_object_array_get_idx(arr, 0);
	assert_string_equal(jstr(s, "node"), "node-a");
	assert_string_equal(jstr(s, "sensor_id"), "s1");
	assert_string_equal(jstr(s, "version"), "v0.3.0");
	assert_string_equal(jstr(s, "kernel"), "6.1.0-18-amd64");
	assert_string_equal(jstr(s, "drops"), "0");
	s = json_object_array_get_idx(arr, 1);
	assert_string_equal(jstr(s, "node"), "node-b");
	assert_string_equal(jstr(s, "kernel"), "6.1.0-20-amd64");
	assert_string_equal(jstr(s, "drops"), "17");
	resp_free(&r);
}

/* The header's value in an answer's headers (in buf), or NULL. */
static const char *header(const struct resp *r, const char *name, char *buf, size_t size)
{
	size_t n = strlen(name);

	for (const char *p = r->headers; p && *p; p = strchr(p, '\n') + 1) {
		if (!strncasecmp(p, name, n) && p[n] == ':') {
			const char *v = p + n + 1 + strspn(p + n + 1, " ");

			snprintf(buf, size, "%.*s", (int)strcspn(v, "\r\n"), v);
			return buf;
		}
		if (!strchr(p, '\n'))
			break;
	}
	return NULL;
}

/* The web page: files without a token, exactly as embedded, strict. */
static void test_web_page(void **state)
{
	static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self';"
				  " img-src 'self'; connect-src 'self'; object-src 'none';"
				  " base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
	static const struct { const char *path, *file, *type; } files[] = {
		{ "/ui/", "index.html", "text/html; charset=utf-8" },
		{ "/ui/index.html", "index.html", "text/html; charset=utf-8" },
		{ "/ui/app.js", "app.js", "text/javascript; charset=utf-8" },
		{ "/ui/graph.js", "graph.js", "text/javascript; charset=utf-8" },
		{ "/ui/style.css", "style.css", "text/css; charset=utf-8" },
		{ "/ui/favicon.svg", "favicon.svg", "image/svg+xml" },
	};
	char buf[512];
	struct resp r;

	(void)state;
	assert_int_equal(ui_n_files, 5);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const struct ui_file *f = NULL;

		for (size_t j = 0; j < ui_n_files; j++)
			if (!strcmp(ui_files[j].name, files[i].file))
				f = &ui_files[j];
		assert_non_null(f);
		r = get(files[i].path, NULL);
		if (r.status != 200)
			fail_msg("GET %s: %ld", files[i].path, r.status);
		assert_int_equal(r.len, f->len);
		assert_memory_equal(r.body, f->data, f->len);
		assert_string_equal(header(&r, "Content-Type", buf, sizeof(buf)), files[i].type);
		assert_string_equal(header(&r, "Content-Security-Policy", buf, sizeof(buf)), csp);
		assert_string_equal(header(&r, "X-Content-Type-Options", buf, sizeof(buf)), "nosniff");
		assert_string_equal(header(&r, "X-Frame-Options", buf, sizeof(buf)), "DENY");
		resp_free(&r);
	}
	/* the embedded page is ui/ as checked in (the tests run from the top) */
	{
		FILE *in = fopen("ui/index.html", "r");
		char *text = calloc(1, ui_files[3].len + 2);

		assert_non_null(in);
		assert_non_null(text);
		assert_int_equal(fread(text, 1, ui_files[3].len + 1, in), ui_files[3].len);
		assert_string_equal(ui_files[3].name, "index.html");
		assert_memory_equal(text, ui_files[3].data, ui_files[3].len);
		fclose(in);
		free(text);
	}
	/* a token changes nothing; the page itself has no data */
	r = get("/ui/", TOK_SEC);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	for (int i = 0; i < 2; i++) {
		r = get(i ? "/ui" : "/", NULL);
		assert_int_equal(r.status, 302);
		assert_string_equal(header(&r, "Location", buf, sizeof(buf)), "/ui/");
		resp_free(&r);
	}
	assert_error("GET", "/ui/nothing.js", NULL, NULL, 404, "no file /ui/nothing.js");
	assert_error("GET", "/ui/x/index.html", NULL, NULL, 404, "no file /ui/x/index.html");
	assert_error("POST", "/ui/", NULL, "{}", 405, "method not allowed (GET)");
	assert_error("DELETE", "/", NULL, NULL, 405, "method not allowed (GET)");
	/* the data still needs the token */
	assert_error("GET", "/api/v1/findings", NULL, NULL, 401, "no token");
}

static void test_health_and_metrics(void **state)
{
	struct resp r;

	(void)state;
	api_metrics_reset();
	for (int i = 0; i < 2; i++) {
		r = get("/healthz", NULL);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.body, "{\"status\":\"ok\"}\n");
		resp_free(&r);
	}
	assert_list("?severity=bogus", TOK_SEC, 400, NULL);
	/* what the ingest side adds */
	assert_int_equal(api__metric_add("wacht_ingest_findings_total", "node=\"node-a\"", 3), 0);
	assert_int_equal(api__metric_add("wacht_ingest_findings_total", "node=\"node-a\"", 2), 0);
	assert_int_equal(api__metric_set("wacht_sensors_connected", NULL, 2), 0);
	assert_int_equal(api__metric_add("bad name", NULL, 1), -EINVAL);

	r = get("/metrics", NULL);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Content-Type: text/plain; version=0.0.4"));
#define HAS(line)                                                                        \
	do {                                                                             \
		if (!strstr(r.body, line "\n"))                                         \
			fail_msg("/metrics lacks \"%s\":\n%s", line, r.body);           \
	} while (0)
	HAS("# TYPE wacht_findings gauge");
	HAS("wacht_findings{name=\"Container.FileAccess.Violation\",severity=\"medium\"} 1");
	HAS("wacht_findings{name=\"Container.Package.Updated\",severity=\"low\"} 1");
	HAS("wacht_findings{name=\"Container.Suspicious.Process\",severity=\"critical\"} 1");
	HAS("wacht_findings{name=\"Network.Violation\",severity=\"medium\"} 1");
	HAS("wacht_findings{name=\"Process.Profile.Violation\",severity=\"high\"} 1");
	HAS("wacht_finding_occurrences{name=\"Container.FileAccess.Violation\",severity=\"medium\"} 3");
	HAS("wacht_sensors_known 2");
	/* s1 was seen a minute ago, s2 an hour ago */
	HAS("wacht_sensors_active 1");
	HAS("# TYPE wacht_conversation_rows gauge");
	HAS("wacht_conversation_rows 4");
	HAS("# TYPE wacht_api_requests_total counter");
	HAS("wacht_api_requests_total{route=\"/healthz\",code=\"200\"} 2");
	HAS("wacht_api_requests_total{route=\"/api/v1/findings\",code=\"400\"} 1");
	HAS("# TYPE wacht_ingest_findings_total counter");
	HAS("wacht_ingest_findings_total{node=\"node-a\"} 5");
	HAS("# TYPE wacht_sensors_connected gauge");
	HAS("wacht_sensors_connected 2");
#undef HAS
	{
		const char *p = strstr(r.body, "\nwacht_store_bytes ");

		assert_non_null(p);
		assert_true(strtoll(p + 19, NULL, 10) >= 4096);
	}
	resp_free(&r);
	assert_error("POST", "/healthz", NULL, "{}", 405, "method not allowed");
}

static void test_learned_export(void **state)
{
	struct policy *p = policy__new();
	struct diags d = {0};
	struct resp r;
	const char *body;
	long gi;

	(void)state;
	r = get("/api/v1/rules/learned", TOK_SEC);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Content-Type: text/yaml; charset=utf-8\r\n"));
	/* a comment line, then exactly the merge of the two nodes */
	body = "# learned profiles of 2 node profile(s), merged per group\n";
	assert_memory_equal(r.body, body, strlen(body));
	assert_string_equal(r.body + strlen(body), merged_yaml);
	assert_int_equal(policy__load_buffer(p, "api", r.body, r.len, &d), 0);
	assert_int_equal(policy__finish(p, &d), 0);
	gi = policy__group_find(p, "nv.web.shop");
	assert_true(gi >= 0);
	assert_int_equal(p->groups[gi].n_procs, 3);
	policy__free(p);
	diags__free(&d);
	resp_free(&r);

	r = get("/api/v1/rules/learned?group=nv.other", TOK_SEC);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "# learned profiles of 0 node profile(s), merged per group\n");
	resp_free(&r);
	assert_error("GET", "/api/v1/rules/learned?grp=x", TOK_SEC, NULL, 400,
		     "unknown parameter \"grp\"");
}

struct count {
	int n;
	char ids[128];
};

static int count_row(void *ctx, const struct store_row *row)
{
	struct count *c = ctx;
	size_t len = strlen(c->ids);

	snprintf(c->ids + len, sizeof(c->ids) - len, "%s%s", c->n ? "," : "", row->id);
	c->n++;
	return 0;
}

static void test_backup_and_restore(void **state)
{
	struct store_filter all = {0};
	struct count c = {0};
	char path[160], restored[160], bad[160];
	struct store *s;
	struct resp r;
	char *err = NULL;
	FILE *f;

	(void)state;
	r = get("/api/v1/backup", TOK_SEC);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Content-Type: application/vnd.sqlite3\r\n"));
	assert_memory_equal(r.body, "SQLite format 3", 16);
	snprintf(path, sizeof(path), "%s/backup.db", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(r.body, 1, r.len, f), r.len);
	fclose(f);
	resp_free(&r);

	/* restore into a store that has something else */
	snprintf(restored, sizeof(restored), "%s/restored.db", dir);
	s = store__open(restored, NULL, &err);
	assert_non_null(s);
	store__close(s);
	assert_int_equal(store__restore(restored, path, &err), 0);
	assert_null(err);
	s = store__open(restored, NULL, &err);
	assert_non_null(s);
	assert_int_equal(store__query(s, &all, count_row, &c, NULL), 5);
	assert_string_equal(c.ids, "s1:3,s2:2,s2:1,s1:2,s1:1");
	store__close(s);
	/* no temporary backups left next to the store */
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "ls %s | grep -c api-backup", dir);
		f = popen(cmd, "r");
		assert_int_equal(fgetc(f), '0');
		pclose(f);
	}

	/* not a store: refused, the destination untouched */
	snprintf(bad, sizeof(bad), "%s/bad.db", dir);
	write_file(bad, "this is not an sqlite database, not at all, not even close......\n");
	assert_true(store__restore(restored, bad, &err) < 0);
	assert_non_null(err);
	assert_non_null(strstr(err, "store: failed to restore"));
	free(err);
	err = NULL;
	s = store__open(restored, NULL, &err);
	assert_non_null(s);
	c.n = 0;
	c.ids[0] = 0;
	assert_int_equal(store__query(s, &all, count_row, &c, NULL), 5);
	store__close(s);
}

static void test_tokens_file(void **state)
{
	static const char h[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	char text[512], *err = NULL;
	struct api_tokens *t;
	const struct api_token *tok;

	(void)state;
	/* sha256("test") */
	snprintf(text, sizeof(text), "ci %s team-a,team-b\n", h);
	t = api_tokens__parse("tokens", text, strlen(text), &err);
	assert_non_null(t);
	tok = api_tokens__find(t, "test", 4);
	assert_non_null(tok);
	assert_string_equal(tok->name, "ci");
	assert_false(tok->all);
	assert_true(api_token__sees(tok, "team-b"));
	assert_false(api_token__sees(tok, "team-c"));
	assert_false(api_token__sees(tok, ""));
	assert_null(api_tokens__find(t, "tesT", 4));
	assert_null(api_tokens__find(t, h, strlen(h)));
	api_tokens__free(t);

#define BAD(txt, msg)                                                                    \
	do {                                                                             \
		t = api_tokens__parse("tokens", txt, strlen(txt), &err);                \
		assert_null(t);                                                          \
		assert_non_null(err);                                                    \
		if (strcmp(err, msg))                                                    \
			fail_msg("got \"%s\", want \"%s\"", err, msg);                  \
		free(err);                                                               \
	} while (0)
	BAD("", "api: failed to load tokens tokens: no tokens (NAME SHA256 SCOPE per line):"
		" the API would refuse everyone");
	BAD("# only a comment\n",
	    "api: failed to load tokens tokens: no tokens (NAME SHA256 SCOPE per line):"
	    " the API would refuse everyone");
	BAD("ci abc *\n", "api: failed to load tokens tokens: line 1: bad SHA256 (64 hex"
			  " digits of sha256(token) expected)");
	snprintf(text, sizeof(text), "\nci %s\n", h);
	BAD(text, "api: failed to load tokens tokens: line 2: expected NAME SHA256 SCOPE");
	snprintf(text, sizeof(text), "c/i %s *\n", h);
	BAD(text, "api: failed to load tokens tokens: line 1: bad NAME (letters, digits and"
		  " ._@- only)");
	snprintf(text, sizeof(text), "ci %s Team_A\n", h);
	BAD(text, "api: failed to load tokens tokens: line 1: bad SCOPE (`*` or namespaces"
		  " separated by commas)");
	snprintf(text, sizeof(text), "ci %s a,,b\n", h);
	BAD(text, "api: failed to load tokens tokens: line 1: bad SCOPE (`*` or namespaces"
		  " separated by commas)");
	snprintf(text, sizeof(text), "ci %s *\nci2 %s *\n", h, h);
	BAD(text, "api: failed to load tokens tokens: line 2: duplicate SHA256 (two names for"
		  " one token)");
#undef BAD
	assert_null(api_tokens__load("/nonexistent/tokens", &err));
	assert_string_equal(err, "api: failed to load tokens /nonexistent/tokens: No such file"
				 " or directory");
	free(err);
}

/* Revoking a token takes a reload, not a restart; a broken file changes
 * nothing. */
static void test_tokens_reload(void **state)
{
	char only_sec[sizeof(tokens_text)], *nl;

	(void)state;
	assert_list("?limit=1", TOK_SHOP, 200, "s1:3");
	/* the file without the shop team's line */
	snprintf(only_sec, sizeof(only_sec), "%s", tokens_text);
	nl = strstr(only_sec, "\nshop-team");
	assert_non_null(nl);
	nl[1] = 0;
	write_file(tokens, only_sec);
	assert_int_equal(api__reload_tokens(), 0);
	assert_list("?limit=1", TOK_SHOP, 401, NULL);
	assert_list("?limit=1", TOK_SEC, 200, "s1:3");
	write_file(tokens, "security not-a-hash *\n");
	assert_int_equal(api__reload_tokens(), -EINVAL);
	assert_list("?limit=1", TOK_SEC, 200, "s1:3");
	assert_list("?limit=1", TOK_SHOP, 401, NULL);
	write_file(tokens, tokens_text);
	assert_int_equal(api__reload_tokens(), 0);
	assert_list("?limit=1", TOK_SHOP, 200, "s1:3");
}

struct reader {
	int ok, other;
	volatile int *stop;
};

static void *read_loop(void *arg)
{
	struct reader *rd = arg;

	while (!*rd->stop) {
		struct resp r = get("/api/v1/findings?limit=20", TOK_SEC);

		if (r.status == 200 && r.json)
			rd->ok++;
		else
			rd->other++;
		resp_free(&r);
	}
	return NULL;
}

/* Readers (four API clients) and the ingest writer (another connection, as
 * the aggregator's ingest loop has) at once: WAL lets both go on, no request
 * fails and every write commits. */
static void test_readers_and_writer(void **state)
{
	struct reader rd[4] = {0};
	pthread_t th[4];
	volatile int stop = 0;
	struct store *s;
	char *err = NULL, id[32];
	struct tf t;
	const Wacht__V1__Finding *v = &t.f;
	struct resp r;

	(void)state;
	s = store__open(db, NULL, &err);
	assert_non_null(s);
	for (int i = 0; i < 4; i++) {
		rd[i].stop = &stop;
		assert_int_equal(pthread_create(&th[i], NULL, read_loop, &rd[i]), 0);
	}
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "w:%d", i);
		tf_init(&t, id, now0 - 30 * MIN + i * SEC, "node-w", "Process.Profile.Violation",
			WACHT__V1__SEVERITY__SEVERITY_LOW, "busy", "writer-1", "/bin/true");
		t.f.message.data = (uint8_t *)id; /* distinct: no merging */
		t.f.message.len = strlen(id);
		assert_int_equal(store__add_findings(s, &v, 1, now0), 1);
	}
	stop = 1;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_true(rd[i].ok > 0);
		assert_int_equal(rd[i].other, 0);
	}
	store__close(s);
	r = get("/api/v1/findings?namespace=busy&limit=1000", TOK_SEC);
	assert_int_equal(r.status, 200);
	{
		struct json_object *arr;

		assert_true(json_object_object_get_ex(r.json, "findings", &arr));
		assert_int_equal(json_object_array_length(arr), 300);
	}
	resp_free(&r);
}

/* The API over HTTPS, with a certificate made for the test. */
static void test_tls(void **state)
{
	struct api_config cfg = {0};
	char cmd[1024], cert[160], key[160], url[128];
	struct resp r;
	FILE *devnull = fopen("/dev/null", "w");
	CURL *c;
	long status = 0;

	(void)state;
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
		 " -keyout %s -out %s -days 1 -subj /CN=localhost"
		 " -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
		 key, cert);
	assert_int_equal(system(cmd), 0);
	api__stop();
	cfg.store_path = db;
	cfg.tokens_path = tokens;
	cfg.tls_cert = cert;
	cfg.tls_key = key;
	assert_int_equal(api__start(&cfg), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/api/v1/findings?limit=1", api__port());

	/* plain HTTP to the TLS port does not get an answer */
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", api__port());
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, base);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, devnull);
	curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 0);
	curl_easy_cleanup(c);

	/* HTTPS, verified against the test's certificate */
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, cert);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, devnull);
	assert_int_equal(curl_easy_perform(c), CURLE_OK); /* no token: 401, over TLS */
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 401);
	curl_easy_cleanup(c);
	(void)r;

	/* both files or none */
	api__stop();
	cfg.tls_key = NULL;
	assert_int_equal(api__start(&cfg), -EINVAL);
	assert_int_equal(api__port(), 0);
	fclose(devnull);
}

/* from -> to of every conversation, "a>b;c>d" (the JSON's order). */
static void graph_pairs(const struct resp *r, char *out, size_t size)
{
	struct json_object *arr;
	size_t n = 0;

	out[0] = 0;
	assert_non_null(r->json);
	assert_true(json_object_object_get_ex(r->json, "conversations", &arr));
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *c = json_object_array_get_idx(arr, i);

		n += (size_t)snprintf(out + n, size - n, "%s%s>%s", i ? ";" : "",
				      jstr(c, "from"), jstr(c, "to"));
	}
}

static void assert_graph(const char *query, const char *token, const char *want)
{
	char path[512], got[1024];
	struct resp r;

	snprintf(path, sizeof(path), "/api/v1/graph%s", query);
	r = get(path, token);
	if (r.status != 200)
		fail_msg("%s: status %ld: %s", path, r.status, r.body);
	graph_pairs(&r, got, sizeof(got));
	if (strcmp(got, want))
		fail_msg("%s: got [%s], want [%s]", path, got, want);
	resp_free(&r);
}

#define WEB "container:shop/web-1/app"
#define DB "container:shop/db-0/app"
#define API "container:pay/api-1/app"

static void test_graph_route(void **state)
{
	struct json_object *arr, *c = NULL;
	struct resp r;

	(void)state;
	r = get("/api/v1/graph", TOK_SEC);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Content-Type: application/json\r\n"));
	assert_string_equal(jstr(r.json, "collapse"), "none");
	assert_null(jstr(r.json, "namespace"));
	assert_true(json_object_object_get_ex(r.json, "endpoints", &arr));
	assert_int_equal(json_object_array_length(arr), 4);
	assert_true(json_object_object_get_ex(r.json, "conversations", &arr));
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		if (!strcmp(jstr(json_object_array_get_idx(arr, i), "to"), DB))
			c = json_object_array_get_idx(arr, i);
	/* reported by both ends: the larger of the two, not the sum */
	assert_non_null(c);
	assert_string_equal(jstr(c, "bytes"), "1000");
	assert_string_equal(jstr(c, "sessions"), "1");
	assert_string_equal(jstr(c, "policy_action"), "allow");
	resp_free(&r);
	assert_graph("", TOK_SEC, API ">external:10.0.0.5;" WEB ">" API ";" WEB ">" DB);

	r = get("/api/v1/graph?format=dot", TOK_SEC);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Content-Type: text/vnd.graphviz\r\n"));
	assert_int_equal(strncmp(r.body, "digraph", 7), 0);
	resp_free(&r);
	r = get("/api/v1/graph?format=graphml&namespace=pay", TOK_SEC);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Content-Type: application/graphml+xml\r\n"));
	assert_non_null(strstr(r.body, "<graphml"));
	assert_non_null(strstr(r.body, "api-1"));
	assert_null(strstr(r.body, "db-0"));
	resp_free(&r);

	/* filters: a namespace (either end), since (to the minute) */
	assert_graph("?namespace=pay", TOK_SEC, API ">external:10.0.0.5;" WEB ">" API);
	assert_graph("?since=1m", TOK_SEC, WEB ">" DB);
	assert_graph("?namespace=nowhere", TOK_SEC, "");
	assert_graph("?namespace=pay&collapse=namespace&cidr=10.0.0.0/8", TOK_SEC,
		     "namespace:pay>external:10.0.0.0/8;namespace:shop>namespace:pay");
	assert_graph("?collapse=pod&cidr=192.0.2.0/24,10.0.0.0/24", TOK_SEC,
		     "pod:pay/api-1>external:10.0.0.0/24;pod:shop/web-1>pod:pay/api-1;"
		     "pod:shop/web-1>pod:shop/db-0");
}

static void test_graph_scopes_and_bad_requests(void **state)
{
	(void)state;
	/* a conversation with an end in the token's namespaces */
	assert_graph("", TOK_SHOP, WEB ">" API ";" WEB ">" DB);
	assert_graph("", TOK_TWO, API ">external:10.0.0.5;" WEB ">" API ";" WEB ">" DB);
	assert_graph("?namespace=shop", TOK_SHOP, WEB ">" API ";" WEB ">" DB);
	assert_error("GET", "/api/v1/graph?namespace=pay", TOK_SHOP, NULL, 403,
		     "token \"shop-team\" may not see namespace \"pay\"");
	assert_error("GET", "/api/v1/graph", NULL, NULL, 401, "no token");
	assert_error("GET", "/api/v1/graph?format=svg", TOK_SEC, NULL, 400,
		     "bad format \"svg\": expected json, dot or graphml");
	assert_error("GET", "/api/v1/graph?collapse=node", TOK_SEC, NULL, 400,
		     "bad collapse \"node\"");
	assert_error("GET", "/api/v1/graph?since=yesterday", TOK_SEC, NULL, 400,
		     "bad since \"yesterday\"");
	assert_error("GET", "/api/v1/graph?namespace=", TOK_SEC, NULL, 400, "bad namespace");
	assert_error("GET", "/api/v1/graph?cidr=10.0.0.0/33", TOK_SEC, NULL, 400,
		     "bad cidr \"10.0.0.0/33\"");
	assert_error("GET", "/api/v1/graph?cidr=10.0.0.0/8,10.1.2.3/8", TOK_SEC, NULL, 400,
		     "bad cidr \"10.1.2.3/8\"");
	assert_error("GET", "/api/v1/graph?cidr=10.0.0.0/8,", TOK_SEC, NULL, 400,
		     "an empty item");
	assert_error("GET", "/api/v1/graph?cidr=", TOK_SEC, NULL, 400, "bad cidr: empty");
	assert_error("GET", "/api/v1/graph?limit=5", TOK_SEC, NULL, 400,
		     "unknown parameter \"limit\" (format, namespace, since, collapse, cidr)");
	assert_error("POST", "/api/v1/graph", TOK_SEC, "{}", 405, "method not allowed (GET)");
}

/* A row with an end nothing names (a container gone before its sensor
 * reported a connect refused before the socket was bound: no id, address
 * 0.0.0.0) is left out and counted; the rest of the graph is served. */
static void test_graph_skips_a_nameless_row(void **state)
{
	Wacht__V1__FlowBatch b = WACHT__V1__FLOW_BATCH__INIT;
	Wacht__V1__FlowRecord r = WACHT__V1__FLOW_RECORD__INIT, *rp = &r;
	Wacht__V1__FlowEndpoint c = WACHT__V1__FLOW_ENDPOINT__INIT;
	Wacht__V1__FlowEndpoint sv = WACHT__V1__FLOW_ENDPOINT__INIT;
	uint8_t zero[4] = { 0 }, ext[4] = { 10, 0, 0, 9 };
	char *err = NULL;
	struct store *s;
	struct resp res;

	(void)state;
	c.kind = WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_CONTAINER;
	c.ip.data = zero;
	c.ip.len = 4;
	sv.kind = WACHT__V1__ENDPOINT_KIND__ENDPOINT_KIND_EXTERNAL;
	sv.ip.data = ext;
	sv.ip.len = 4;
	r.client = &c;
	r.server = &sv;
	r.proto = 6;
	r.server_port = 443;
	r.reported_by_client = true;
	r.sessions = 1;
	r.first_seen_unix_ns = now0 - 2 * SEC;
	r.last_seen_unix_ns = now0 - SEC;
	r.verdict = WACHT__V1__FLOW_VERDICT__FLOW_VERDICT_DENIED;
	b.batch_seq = 2;
	b.node = "node-a";
	b.time_unix_ns = now0;
	b.n_records = 1;
	b.records = &rp;
	s = store__open(db, NULL, &err);
	assert_non_null(s);
	assert_int_equal(store__add_flows(s, "s1", 1, "node-a", &b, now0), 1);
	store__close(s);

	res = get("/api/v1/graph", TOK_SEC);
	assert_int_equal(res.status, 200);
	assert_non_null(strstr(res.headers, "X-Wacht-Skipped-Rows: 1\r\n"));
	resp_free(&res);
	assert_graph("", TOK_SEC, API ">external:10.0.0.5;" WEB ">" API ";" WEB ">" DB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens_required),
		cmocka_unit_test(test_list_and_shape),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_pages),
		cmocka_unit_test(test_scopes),
		cmocka_unit_test(test_ack_unack),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_sensors),
		cmocka_unit_test(test_health_and_metrics),
		cmocka_unit_test(test_web_page),
		cmocka_unit_test(test_learned_export),
		cmocka_unit_test(test_backup_and_restore),
		cmocka_unit_test(test_tokens_file),
		cmocka_unit_test(test_tokens_reload),
		cmocka_unit_test(test_readers_and_writer),
		cmocka_unit_test(test_graph_route),
		cmocka_unit_test(test_graph_scopes_and_bad_requests),
		cmocka_unit_test(test_graph_skips_a_nameless_row),
		/* last: restarts the API */
		cmocka_unit_test(test_tls),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
