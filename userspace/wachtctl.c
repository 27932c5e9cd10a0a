// SPDX-License-Identifier: Apache-2.0
/*
 * wachtctl.c: the security engineer's command line for the aggregator's
 * HTTP API (userspace/api.c): list, show, acknowledge alerts, list sensors,
 * export the learned rules and the network graph. Tables for people, --json
 * for scripts.
 *
 * Exit codes (scripts rely on them):
 *   0 ok   1 error (connection, TLS, server 5xx, bad answer)   2 usage (also
 *   a request the server calls malformed, 400)   3 not found (404)
 *   4 unauthorized or forbidden (401, 403)
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

enum exit_code {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
	EXIT_NOT_FOUND = 3,
	EXIT_DENIED = 4,
};

static const char usage_main[] =
	"usage: wachtctl [--server URL] [--token-file FILE] [--cacert FILE] [--json] COMMAND ...\n"
	"\n"
	"commands:\n"
	"  alerts                 list findings (newest first), --follow to watch\n"
	"  alert ID               show one finding\n"
	"  ack ID --comment TEXT  acknowledge a finding\n"
	"  unack ID               unacknowledge a finding\n"
	"  sensors                list sensors, last seen and drop counters\n"
	"  rules export-learned   the learned profiles of all nodes, merged, as YAML\n"
	"  graph                  the network graph (who talks to whom) as JSON, DOT or\n"
	"                         GraphML\n"
	"\n"
	"  --server URL       the aggregator API (default $WACHT_SERVER), e.g. https://agg:9443\n"
	"  --token-file FILE  file holding the API token (default: the token in $WACHT_TOKEN)\n"
	"  --cacert FILE      CA certificate to verify an https server (default $WACHT_CACERT,\n"
	"                     else the system's CAs)\n"
	"  --json             print the API's JSON instead of a table\n"
	"\n"
	"`wachtctl COMMAND --help` for a command's options.\n"
	"exit status: 0 ok, 1 error (connection, server), 2 usage or bad request,\n"
	"3 not found, 4 unauthorized or forbidden\n";

static const char usage_alerts[] =
	"usage: wachtctl alerts [--since T] [--until T] [--severity S] [--namespace NS]\n"
	"                       [--pod P] [--name N] [--node N] [--all|--unacked|--acked]\n"
	"                       [--limit N] [--follow [--interval SEC]] [--json]\n"
	"\n"
	"  --since T, --until T  RFC 3339 time (2024-05-01T10:00:00Z) or a duration ago\n"
	"                        (90s, 30m, 1h, 7d)\n"
	"  --severity S          minimum severity: info, low, medium, high, critical\n"
	"  --namespace, --pod, --name (finding name), --node: exact match\n"
	"  --unacked             only unacknowledged findings (the default)\n"
	"  --all                 acknowledged ones too; --acked: only those\n"
	"  --limit N             at most N findings (default 50; pages are followed)\n"
	"  --follow              after the list, print new findings as they arrive, oldest\n"
	"                        first, every --interval seconds (default 2) until interrupted\n"
	"  --json                the API's JSON ({\"findings\": [...], \"next\": ...});\n"
	"                        with --follow one finding object per line\n";

static const char usage_alert[] =
	"usage: wachtctl alert ID [--json]\n"
	"\n"
	"Shows every field of one finding. Exit 3 if there is no such finding (or it is\n"
	"outside the token's namespaces).\n";

static const char usage_ack[] =
	"usage: wachtctl ack ID --comment TEXT [--json]\n"
	"\n"
	"Acknowledges a finding; the API records the token's name and the time.\n";

static const char usage_unack[] =
	"usage: wachtctl unack ID [--json]\n"
	"\n"
	"Makes an acknowledged finding unacknowledged again.\n";

static const char usage_sensors[] =
	"usage: wachtctl sensors [--json]\n"
	"\n"
	"Every sensor that said hello: node, sensor id, version, kernel, last seen, events\n"
	"dropped. Needs a token with scope *.\n";

static const char usage_rules[] =
	"usage: wachtctl rules export-learned [-o FILE] [--group GROUP]\n"
	"\n"
	"What the sensors learned in Discover mode, merged per group across nodes, as\n"
	"NvSecurityRule YAML (loadable with wacht-sensor --rules). Needs scope *.\n"
	"  -o FILE        write to FILE instead of standard output\n"
	"  --group GROUP  only this group (e.g. nv.web.shop)\n";

static const char usage_graph[] =
	"usage: wachtctl graph [--format json|dot|graphml] [--namespace NS] [--since T]\n"
	"                      [--collapse none|pod|group|namespace] [--cidr CIDR[,CIDR]]\n"
	"                      [-o FILE]\n"
	"\n"
	"The cluster's conversations from every sensor, merged: endpoints (containers,\n"
	"nodes, external addresses) and who talked to whom, on which ports, bytes,\n"
	"sessions and the worst policy action (allow, violate, deny). A conversation\n"
	"both of whose ends reported it is counted once. Printed as the API answers.\n"
	"  --format F     json (default; NeuVector's field names), dot (Graphviz:\n"
	"                 dot -Tsvg), graphml (yEd, Gephi)\n"
	"  --namespace NS only conversations with an end in namespace NS\n"
	"  --since T      only conversations last seen since T: RFC 3339 or a duration\n"
	"                 ago (90s, 30m, 1h, 7d); exact to the minute\n"
	"  --collapse C   one vertex per container (none, the default), pod, group\n"
	"                 (nv.<service>.<namespace>) or namespace\n"
	"  --cidr CIDR    external addresses in CIDR become one vertex (repeatable,\n"
	"                 or comma-separated)\n"
	"  -o FILE        write to FILE instead of standard output\n"
	"A token scoped to namespaces sees the conversations with an end in them.\n";

/* ---- options */

enum opt {
	O_SERVER = 1,
	O_TOKEN_FILE,
	O_CACERT,
	O_JSON,
	O_HELP,
	O_SINCE,
	O_UNTIL,
	O_SEVERITY,
	O_NAMESPACE,
	O_POD,
	O_NAME,
	O_NODE,
	O_ALL,
	O_UNACKED,
	O_ACKED,
	O_FOLLOW,
	O_INTERVAL,
	O_LIMIT,
	O_COMMENT,
	O_OUTPUT,
	O_GROUP,
	O_FORMAT,
	O_COLLAPSE,
	O_CIDR,
	O__COUNT,
};

struct opts {
	const char *server, *token_file, *cacert;
	bool json, help;
	const char *since, *until, *severity, *namespace_, *pod, *name, *node;
	const char *ack; /* "true", "false" or NULL (all) */
	bool follow;
	int interval;
	long limit;
	const char *comment, *output, *group;
	const char *format, *collapse;
	char *cidrs; /* --cidr values joined by ',' (owned) */
	bool given[O__COUNT];
};

static const struct option long_opts[] = {
	{ "server", required_argument, NULL, O_SERVER },
	{ "token-file", required_argument, NULL, O_TOKEN_FILE },
	{ "cacert", required_argument, NULL, O_CACERT },
	{ "json", no_argument, NULL, O_JSON },
	{ "help", no_argument, NULL, O_HELP },
	{ "since", required_argument, NULL, O_SINCE },
	{ "until", required_argument, NULL, O_UNTIL },
	{ "severity", required_argument, NULL, O_SEVERITY },
	{ "namespace", required_argument, NULL, O_NAMESPACE },
	{ "pod", required_argument, NULL, O_POD },
	{ "name", required_argument, NULL, O_NAME },
	{ "node", required_argument, NULL, O_NODE },
	{ "all", no_argument, NULL, O_ALL },
	{ "unacked", no_argument, NULL, O_UNACKED },
	{ "acked", no_argument, NULL, O_ACKED },
	{ "follow", no_argument, NULL, O_FOLLOW },
	{ "interval", required_argument, NULL, O_INTERVAL },
	{ "limit", required_argument, NULL, O_LIMIT },
	{ "comment", required_argument, NULL, O_COMMENT },
	{ "output", required_argument, NULL, O_OUTPUT },
	{ "group", required_argument, NULL, O_GROUP },
	{ "format", required_argument, NULL, O_FORMAT },
	{ "collapse", required_argument, NULL, O_COLLAPSE },
	{ "cidr", required_argument, NULL, O_CIDR },
	{ NULL, 0, NULL, 0 },
};

static const char *opt_name(int o)
{
	for (const struct option *p = long_opts; p->name; p++)
		if (p->val == o)
			return p->name;
	return "?";
}

static int usage_error(const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fputs("wachtctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage, stderr);
	return EXIT_USAGE;
}

/* ---- HTTP */

struct client {
	char *server; /* without a trailing '/' */
	char *token;
	const char *cacert;
	CURL *curl;
};

struct answer {
	long status;
	char *body;
	size_t len;
	struct json_object *json; /* the body when it is a JSON object */
};

static void answer_free(struct answer *a)
{
	free(a->body);
	json_object_put(a->json);
	memset(a, 0, sizeof(*a));
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	return fwrite(p, size, n, ctx) * size;
}

/* The exit code for a transport failure or a status; prints why. */
static int status_exit(const char *method, const char *url, const struct answer *a)
{
	struct json_object *e = NULL;
	const char *msg = NULL;

	if (a->status >= 200 && a->status < 300)
		return EXIT_OK;
	if (a->json && json_object_object_get_ex(a->json, "error", &e))
		msg = json_object_get_string(e);
	fprintf(stderr, "wachtctl: %s %s: HTTP %ld: %s\n", method, url, a->status,
		msg ? msg : "unexpected answer");
	switch (a->status) {
	case 400:
		return EXIT_USAGE;
	case 401:
		fprintf(stderr, "wachtctl: give a valid token (--token-file or $WACHT_TOKEN)\n");
		return EXIT_DENIED;
	case 403:
		return EXIT_DENIED;
	case 404:
		return EXIT_NOT_FOUND;
	default:
		return EXIT_ERROR;
	}
}

/* method path_query body: *a filled; 0 (2xx) or the exit code, printed. */
static int http(struct client *c, const char *method, const char *path, const char *body,
		struct answer *a)
{
	struct curl_slist *hdr = NULL;
	char *url = NULL, *auth = NULL, err[CURL_ERROR_SIZE] = "";
	FILE *out;
	CURLcode rc;
	int code;

	memset(a, 0, sizeof(*a));
	if (asprintf(&url, "%s%s", c->server, path) < 0)
		return EXIT_ERROR;
	out = open_memstream(&a->body, &a->len);
	if (!out) {
		free(url);
		return EXIT_ERROR;
	}
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	if (c->cacert)
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->cacert);
	if (c->token) {
		if (asprintf(&auth, "Authorization: Bearer %s", c->token) < 0)
			auth = NULL;
		hdr = curl_slist_append(hdr, auth);
	}
	if (body) {
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
	rc = curl_easy_perform(c->curl);
	fclose(out);
	curl_slist_free_all(hdr);
	free(auth);
	if (rc != CURLE_OK) {
		fprintf(stderr, "wachtctl: failed to %s %s: %s\n", method, url,
			err[0] ? err : curl_easy_strerror(rc));
		free(url);
		return EXIT_ERROR;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &a->status);
	if (a->len && a->body[0] == '{')
		a->json = json_tokener_parse(a->body);
	code = status_exit(method, url, a);
	if (!code && a->len && a->body[0] == '{' && !a->json) {
		fprintf(stderr, "wachtctl: %s %s: the answer is not valid JSON\n", method, url);
		code = EXIT_ERROR;
	}
	free(url);
	return code;
}

/* ---- reading findings */

static struct json_object *jget(struct json_object *o, const char *path)
{
	char buf[128], *save = NULL, *k;

	snprintf(buf, sizeof(buf), "%s", path);
	for (k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(o, k, &o))
			o = NULL;
	return o && !json_object_is_type(o, json_type_null) ? o : NULL;
}

static const char *jstr(struct json_object *o, const char *path)
{
	struct json_object *v = jget(o, path);

	return v ? json_object_get_string(v) : "";
}

/* "2026-11-27T11:55:05.123456789Z" -> "2026-11-27T11:55:05Z": seconds are
 * what a person compares. */
static void short_time(const char *t, char *out, size_t size)
{
	const char *dot = strchr(t, '.');

	if (dot && strlen(t) > 20)
		snprintf(out, size, "%.*sZ", (int)(dot - t), t);
	else
		snprintf(out, size, "%s", t);
}

/* What the finding is about: the peer, the file or the process. */
static void subject(struct json_object *f, char *out, size_t size)
{
	if (jget(f, "network"))
		snprintf(out, size, "%s %s %s:%s", jstr(f, "network.proto"),
			 !strcmp(jstr(f, "network.direction"), "inbound") ? "<-" : "->",
			 jstr(f, "network.remote_ip"), jstr(f, "network.remote_port"));
	else if (jget(f, "file"))
		snprintf(out, size, "%s (%s)", jstr(f, "file.path"), jstr(f, "file.op"));
	else
		snprintf(out, size, "%s", jstr(f, "process.exe"));
}

#define N_COLS 9
static const char *const col_names[N_COLS] = { "ID",     "TIME",   "SEVERITY",
					       "NAME",   "NAMESPACE/POD", "SUBJECT",
					       "ACTION", "COUNT",  "ACK" };

struct row {
	char *col[N_COLS];
};

static void row_fill(struct row *r, struct json_object *f)
{
	char buf[600];

	r->col[0] = strdup(jstr(f, "id"));
	short_time(jstr(f, "last_seen"), buf, sizeof(buf));
	r->col[1] = strdup(buf);
	r->col[2] = strdup(jstr(f, "severity"));
	r->col[3] = strdup(jstr(f, "name"));
	if (jget(f, "container"))
		snprintf(buf, sizeof(buf), "%s/%s", jstr(f, "container.namespace"),
			 jstr(f, "container.pod"));
	else
		snprintf(buf, sizeof(buf), "(host)");
	r->col[4] = strdup(buf);
	subject(f, buf, sizeof(buf));
	r->col[5] = strdup(buf);
	r->col[6] = strdup(jstr(f, "action"));
	r->col[7] = strdup(jstr(f, "count"));
	r->col[8] = strdup(json_object_get_boolean(jget(f, "acknowledged")) ? "yes" : "no");
}

static void row_free(struct row *r)
{
	for (int i = 0; i < N_COLS; i++)
		free(r->col[i]);
}

static void print_cells(char *const *cells, const size_t *width, int n)
{
	for (int i = 0; i < n; i++) {
		if (i + 1 < n)
			printf("%-*s  ", (int)width[i], cells[i] ? cells[i] : "");
		else
			printf("%s\n", cells[i] ? cells[i] : "");
	}
}

/* A table: header and rows, columns as wide as their widest cell. */
static void print_table(char *const *header, char ***rows, size_t n_rows, int n_cols)
{
	size_t width[16] = {0};

	for (int i = 0; i < n_cols; i++)
		width[i] = strlen(header[i]);
	for (size_t r = 0; r < n_rows; r++)
		for (int i = 0; i < n_cols; i++)
			if (rows[r][i] && strlen(rows[r][i]) > width[i])
				width[i] = strlen(rows[r][i]);
	print_cells(header, width, n_cols);
	for (size_t r = 0; r < n_rows; r++)
		print_cells(rows[r], width, n_cols);
}

/* ---- commands */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Appends "&key=value" (escaped) when value is set. */
static void query_add(struct client *c, FILE *q, const char *key, const char *value)
{
	char *e;

	if (!value)
		return;
	e = curl_easy_escape(c->curl, value, 0);
	fprintf(q, "%s%s=%s", ftell(q) ? "&" : "?", key, e ? e : "");
	curl_free(e);
}

static char *alerts_query(struct client *c, const struct opts *o, const char *since,
			  long limit, const char *cursor)
{
	char *text = NULL, num[32];
	size_t len = 0;
	FILE *q = open_memstream(&text, &len);

	if (!q)
		return NULL;
	query_add(c, q, "since", since);
	query_add(c, q, "until", o->until);
	query_add(c, q, "severity", o->severity);
	query_add(c, q, "namespace", o->namespace_);
	query_add(c, q, "pod", o->pod);
	query_add(c, q, "name", o->name);
	query_add(c, q, "node", o->node);
	query_add(c, q, "acknowledged", o->ack);
	snprintf(num, sizeof(num), "%ld", limit);
	query_add(c, q, "limit", num);
	query_add(c, q, "cursor", cursor);
	fclose(q);
	return text;
}

/* Every finding matching o, up to o->limit, following pages; appended to
 * all (a JSON array). *next: the last page's "next" (the caller frees). */
static int alerts_fetch(struct client *c, const struct opts *o, const char *since,
			struct json_object *all, char **next)
{
	char *cursor = NULL, *q, path[4096];
	struct json_object *arr;
	struct answer a;
	long want;
	int code = 0;

	*next = NULL;
	while ((want = o->limit - (long)json_object_array_length(all)) > 0) {
		q = alerts_query(c, o, since, want > 1000 ? 1000 : want, cursor);
		if (!q)
			return EXIT_ERROR;
		snprintf(path, sizeof(path), "/api/v1/findings%s", q);
		free(q);
		code = http(c, "GET", path, NULL, &a);
		if (!code && !json_object_object_get_ex(a.json, "findings", &arr)) {
			fprintf(stderr, "wachtctl: the answer has no findings\n");
			code = EXIT_ERROR;
		}
		if (code) {
			answer_free(&a);
			break;
		}
		for (size_t i = 0; i < json_object_array_length(arr); i++)
			json_object_array_add(all, json_object_get(json_object_array_get_idx(arr, i)));
		free(cursor);
		cursor = jget(a.json, "next") ? strdup(jstr(a.json, "next")) : NULL;
		answer_free(&a);
		if (!cursor)
			break;
	}
	*next = cursor;
	return code;
}

static void print_findings(struct json_object *arr)
{
	size_t n = json_object_array_length(arr);
	struct row *rows = calloc(n ? n : 1, sizeof(*rows));
	char ***cells = calloc(n ? n : 1, sizeof(*cells));

	if (!rows || !cells) {
		free(rows);
		free(cells);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		row_fill(&rows[i], json_object_array_get_idx(arr, i));
		cells[i] = rows[i].col;
	}
	print_table((char *const *)col_names, cells, n, N_COLS);
	for (size_t i = 0; i < n; i++)
		row_free(&rows[i]);
	free(rows);
	free(cells);
}

/* In --follow, a finding is printed again when its count grows (merged
 * occurrences); the key says what was printed. */
struct seen {
	char **keys;
	size_t n;
};

static bool seen_add(struct seen *s, struct json_object *f)
{
	char *key, **v;

	if (asprintf(&key, "%s#%s", jstr(f, "id"), jstr(f, "count")) < 0)
		return false;
	for (size_t i = 0; i < s->n; i++) {
		if (!strcmp(s->keys[i], key)) {
			free(key);
			return false;
		}
	}
	v = reallocarray(s->keys, s->n + 1, sizeof(*v));
	if (!v) {
		free(key);
		return false;
	}
	s->keys = v;
	s->keys[s->n++] = key;
	return true;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->keys[i]);
	free(s->keys);
}

/* Follow: fixed columns, oldest first, one line per new finding. */
static void follow_line(struct json_object *f, bool json)
{
	static const size_t width[N_COLS] = { 14, 20, 8, 30, 24, 36, 6, 5, 3 };
	struct row r = {0};

	if (json) {
		printf("%s\n", json_object_to_json_string_ext(f, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		row_fill(&r, f);
		print_cells(r.col, width, N_COLS);
		row_free(&r);
	}
	fflush(stdout);
}

static int cmd_alerts(struct client *c, const struct opts *o)
{
	struct json_object *all = json_object_new_array(), *out;
	struct seen seen = {0};
	char *next = NULL, since[64] = "";
	int code;

	code = alerts_fetch(c, o, o->since, all, &next);
	if (code)
		goto done;
	if (!o->follow) {
		if (o->json) {
			out = json_object_new_object();
			json_object_object_add(out, "findings", json_object_get(all));
			json_object_object_add(out, "next", next ? json_object_new_string(next) : NULL);
			printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
			json_object_put(out);
		} else {
			print_findings(all);
		}
		goto done;
	}

	/* --follow: what is there (oldest first), then what comes */
	if (!o->json) {
		static const size_t width[N_COLS] = { 14, 20, 8, 30, 24, 36, 6, 5, 3 };

		print_cells((char *const *)col_names, width, N_COLS);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (;;) {
		size_t n = json_object_array_length(all);

		for (size_t i = n; i-- > 0;) {
			struct json_object *f = json_object_array_get_idx(all, i);

			if (seen_add(&seen, f))
				follow_line(f, o->json);
			/* newest first: element 0 has the latest last_seen */
			if (i == 0 || !since[0])
				snprintf(since, sizeof(since), "%s", jstr(f, "last_seen"));
		}
		for (int t = 0; t < o->interval * 10 && !stop; t++)
			usleep(100 * 1000);
		if (stop)
			break;
		json_object_put(all);
		all = json_object_new_array();
		free(next);
		/* since is inclusive: the newest seen comes again and is
		 * skipped unless its count changed */
		code = alerts_fetch(c, o, since[0] ? since : o->since, all, &next);
		if (code)
			break;
	}
done:
	seen_free(&seen);
	free(next);
	json_object_put(all);
	return stop ? EXIT_OK : code;
}

static char *escape_id(struct client *c, const char *id)
{
	return curl_easy_escape(c->curl, id, 0);
}

static void print_finding(struct json_object *f)
{
	char t[64];
	struct json_object *args = jget(f, "process.args");

#define LINE(label, ...)                        \
	do {                                    \
		printf("%-14s", label ":");     \
		printf(__VA_ARGS__);            \
		putchar('\n');                  \
	} while (0)
	LINE("ID", "%s", jstr(f, "id"));
	LINE("Name", "%s", jstr(f, "name"));
	LINE("Severity", "%s", jstr(f, "severity"));
	if (jstr(f, "mode")[0])
		LINE("Action", "%s (%s mode)", jstr(f, "action"), jstr(f, "mode"));
	else
		LINE("Action", "%s", jstr(f, "action"));
	LINE("Node", "%s", jstr(f, "node"));
	if (jget(f, "container")) {
		LINE("Namespace", "%s", jstr(f, "container.namespace"));
		LINE("Pod", "%s", jstr(f, "container.pod"));
		LINE("Container", "%s (%s, %s)", jstr(f, "container.name"),
		     jstr(f, "container.image"), jstr(f, "container.id"));
		LINE("Group", "%s", jstr(f, "container.group"));
	} else {
		LINE("Container", "(host)");
	}
	LINE("Process", "%s (pid %s, ppid %s, uid %s, euid %s)", jstr(f, "process.exe"),
	     jstr(f, "process.pid"), jstr(f, "process.ppid"), jstr(f, "process.uid"),
	     jstr(f, "process.euid"));
	printf("%-14s", "Arguments:");
	for (size_t i = 0; args && i < json_object_array_length(args); i++)
		printf("%s%s", i ? " " : "",
		       json_object_get_string(json_object_array_get_idx(args, i)));
	putchar('\n');
	LINE("Parent", "%s", jstr(f, "process.parent_exe"));
	if (jget(f, "file"))
		LINE("File", "%s (%s)", jstr(f, "file.path"), jstr(f, "file.op"));
	if (jget(f, "network"))
		LINE("Network", "%s %s %s:%s -> %s:%s peer %s", jstr(f, "network.direction"),
		     jstr(f, "network.proto"), jstr(f, "network.local_ip"),
		     jstr(f, "network.local_port"), jstr(f, "network.remote_ip"),
		     jstr(f, "network.remote_port"), jstr(f, "network.peer_group"));
	LINE("Rule", "%s %s (group %s)", jstr(f, "rule.id"), jstr(f, "rule.name"),
	     jstr(f, "rule.group"));
	LINE("Message", "%s", jstr(f, "message"));
	LINE("Count", "%s", jstr(f, "count"));
	short_time(jstr(f, "first_seen"), t, sizeof(t));
	LINE("First seen", "%s", t);
	short_time(jstr(f, "last_seen"), t, sizeof(t));
	LINE("Last seen", "%s", t);
	short_time(jstr(f, "ack_time"), t, sizeof(t));
	if (json_object_get_boolean(jget(f, "acknowledged")))
		LINE("Acknowledged", "yes, by %s at %s: %s", jstr(f, "ack_by"), t,
		     jstr(f, "ack_comment"));
	else if (jstr(f, "ack_by")[0])
		LINE("Acknowledged", "no (unacknowledged by %s at %s)", jstr(f, "ack_by"), t);
	else
		LINE("Acknowledged", "no");
#undef LINE
}

static int cmd_alert(struct client *c, const struct opts *o, const char *id)
{
	char *e = escape_id(c, id), path[1024];
	struct answer a;
	int code;

	snprintf(path, sizeof(path), "/api/v1/findings/%s", e ? e : "");
	curl_free(e);
	code = http(c, "GET", path, NULL, &a);
	if (!code && o->json)
		fwrite(a.body, 1, a.len, stdout);
	else if (!code)
		print_finding(a.json);
	answer_free(&a);
	return code;
}

static int cmd_ack(struct client *c, const struct opts *o, const char *id, bool ack)
{
	char *e = escape_id(c, id), path[1024];
	struct json_object *body = NULL;
	struct answer a;
	int code;

	snprintf(path, sizeof(path), "/api/v1/findings/%s/ack", e ? e : "");
	curl_free(e);
	if (ack) {
		body = json_object_new_object();
		json_object_object_add(body, "comment", json_object_new_string(o->comment));
	}
	code = http(c, ack ? "POST" : "DELETE", path,
		    body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : NULL, &a);
	json_object_put(body);
	if (!code && o->json)
		fwrite(a.body, 1, a.len, stdout);
	else if (!code && ack)
		printf("acknowledged %s by %s\n", jstr(a.json, "id"), jstr(a.json, "ack_by"));
	else if (!code)
		printf("unacknowledged %s\n", jstr(a.json, "id"));
	answer_free(&a);
	return code;
}

static int cmd_sensors(struct client *c, const struct opts *o)
{
	static char *const header[] = { "NODE", "SENSOR", "VERSION", "KERNEL", "LAST SEEN",
					"DROPS" };
	struct json_object *arr;
	struct answer a;
	char ***rows = NULL;
	size_t n = 0;
	int code;

	code = http(c, "GET", "/api/v1/sensors", NULL, &a);
	if (!code && !json_object_object_get_ex(a.json, "sensors", &arr)) {
		fprintf(stderr, "wachtctl: the answer has no sensors\n");
		code = EXIT_ERROR;
	}
	if (code || o->json) {
		if (!code)
			fwrite(a.body, 1, a.len, stdout);
		answer_free(&a);
		return code;
	}
	n = json_object_array_length(arr);
	rows = calloc(n ? n : 1, sizeof(*rows));
	for (size_t i = 0; rows && i < n; i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);
		char t[64];

		rows[i] = calloc(6, sizeof(char *));
		if (!rows[i])
			continue;
		short_time(jstr(s, "last_seen"), t, sizeof(t));
		rows[i][0] = strdup(jstr(s, "node"));
		rows[i][1] = strdup(jstr(s, "sensor_id"));
		rows[i][2] = strdup(jstr(s, "version"));
		rows[i][3] = strdup(jstr(s, "kernel"));
		rows[i][4] = strdup(t);
		rows[i][5] = strdup(jstr(s, "drops"));
	}
	if (rows)
		print_table(header, rows, n, 6);
	for (size_t i = 0; rows && i < n; i++) {
		for (int j = 0; rows[i] && j < 6; j++)
			free(rows[i][j]);
		free(rows[i]);
	}
	free(rows);
	answer_free(&a);
	return code;
}

/* The answer's body as it came, to stdout or to -o FILE. */
static int body_write(const struct answer *a, const char *output)
{
	FILE *out = output ? fopen(output, "w") : stdout;

	if (!out) {
		fprintf(stderr, "wachtctl: failed to open %s: %s\n", output, strerror(errno));
		return EXIT_ERROR;
	}
	bool bad = fwrite(a->body, 1, a->len, out) != a->len;
	bad |= (output ? fclose(out) : fflush(out)) != 0;
	if (bad) {
		fprintf(stderr, "wachtctl: failed to write %s: %s\n", output ? output : "stdout",
			strerror(errno));
		return EXIT_ERROR;
	}
	return 0;
}

static int cmd_export_learned(struct client *c, const struct opts *o)
{
	char path[1024] = "/api/v1/rules/learned", *e;
	struct answer a;
	int code;

	if (o->group) {
		e = curl_easy_escape(c->curl, o->group, 0);
		snprintf(path, sizeof(path), "/api/v1/rules/learned?group=%s", e ? e : "");
		curl_free(e);
	}
	code = http(c, "GET", path, NULL, &a);
	if (code) {
		answer_free(&a);
		return code;
	}
	code = body_write(&a, o->output);
	answer_free(&a);
	return code;
}

static int cmd_graph(struct client *c, const struct opts *o)
{
	char *path = NULL;
	size_t len = 0;
	struct answer a;
	FILE *q = open_memstream(&path, &len);
	int code;

	if (!q)
		return EXIT_ERROR;
	/* the format is checked (one of three words); query_add then adds
	 * "&key=value" */
	fprintf(q, "/api/v1/graph?format=%s", o->format ? o->format : "json");
	query_add(c, q, "namespace", o->namespace_);
	query_add(c, q, "since", o->since);
	query_add(c, q, "collapse", o->collapse);
	query_add(c, q, "cidr", o->cidrs);
	if (fclose(q))
		return EXIT_ERROR;
	code = http(c, "GET", path, NULL, &a);
	free(path);
	if (code) {
		answer_free(&a);
		return code;
	}
	code = body_write(&a, o->output);
	answer_free(&a);
	return code;
}

/* ---- main */

static char *read_token(const char *path, int *code)
{
	char buf[4096];
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f) {
		fprintf(stderr, "wachtctl: failed to open token file %s: %s\n", path,
			strerror(errno));
		*code = EXIT_USAGE;
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	if (!buf[0]) {
		fprintf(stderr, "wachtctl: token file %s is empty\n", path);
		*code = EXIT_USAGE;
		return NULL;
	}
	return strdup(buf);
}

/* Which options each command takes (besides the global ones). */
static bool allowed(const char *cmd, int o)
{
	switch (o) {
	case O_SERVER:
	case O_TOKEN_FILE:
	case O_CACERT:
	case O_HELP:
		return true;
	case O_JSON:
		return strcmp(cmd, "rules") && strcmp(cmd, "graph");
	case O_SINCE: case O_NAMESPACE:
		return !strcmp(cmd, "alerts") || !strcmp(cmd, "graph");
	case O_FORMAT: case O_COLLAPSE: case O_CIDR:
		return !strcmp(cmd, "graph");
	case O_UNTIL: case O_SEVERITY: case O_POD:
	case O_NAME: case O_NODE: case O_ALL: case O_UNACKED: case O_ACKED:
	case O_FOLLOW: case O_INTERVAL: case O_LIMIT:
		return !strcmp(cmd, "alerts");
	case O_COMMENT:
		return !strcmp(cmd, "ack");
	case O_OUTPUT:
		return !strcmp(cmd, "rules") || !strcmp(cmd, "graph");
	case O_GROUP:
		return !strcmp(cmd, "rules");
	default:
		return false;
	}
}

static const char *cmd_usage(const char *cmd)
{
	if (!cmd)
		return usage_main;
	if (!strcmp(cmd, "alerts"))
		return usage_alerts;
	if (!strcmp(cmd, "alert"))
		return usage_alert;
	if (!strcmp(cmd, "ack"))
		return usage_ack;
	if (!strcmp(cmd, "unack"))
		return usage_unack;
	if (!strcmp(cmd, "sensors"))
		return usage_sensors;
	if (!strcmp(cmd, "rules"))
		return usage_rules;
	if (!strcmp(cmd, "graph"))
		return usage_graph;
	return NULL;
}

static int run(int argc, char **argv)
{
	struct opts o = { .interval = 2, .limit = 50, .ack = "false" };
	struct client c = {0};
	const char *cmd = NULL, *usage, *arg = NULL;
	char *end;
	int opt, code = 0, n_pos;
	char **pos;

	pos = calloc((size_t)argc + 1, sizeof(*pos));
	if (!pos)
		return EXIT_ERROR;
	n_pos = 0;
	opterr = 0;
	/* options anywhere; positional arguments collected in order */
	while (optind < argc) {
		opt = getopt_long(argc, argv, "-o:h", long_opts, NULL);
		if (opt == -1)
			break;
		if (opt == 1) {
			pos[n_pos++] = optarg;
			continue;
		}
		if (opt == '?') {
			code = usage_error(cmd_usage(n_pos ? pos[0] : NULL) ?: usage_main,
					   "unknown option or missing argument: %s",
					   argv[optind - 1]);
			goto out;
		}
		if (opt == 'h')
			opt = O_HELP;
		if (opt == 'o')
			opt = O_OUTPUT;
		o.given[opt] = true;
		switch (opt) {
		case O_SERVER: o.server = optarg; break;
		case O_TOKEN_FILE: o.token_file = optarg; break;
		case O_CACERT: o.cacert = optarg; break;
		case O_JSON: o.json = true; break;
		case O_HELP: o.help = true; break;
		case O_SINCE: o.since = optarg; break;
		case O_UNTIL: o.until = optarg; break;
		case O_SEVERITY: o.severity = optarg; break;
		case O_NAMESPACE: o.namespace_ = optarg; break;
		case O_POD: o.pod = optarg; break;
		case O_NAME: o.name = optarg; break;
		case O_NODE: o.node = optarg; break;
		case O_ALL: o.ack = NULL; break;
		case O_UNACKED: o.ack = "false"; break;
		case O_ACKED: o.ack = "true"; break;
		case O_FOLLOW: o.follow = true; break;
		case O_COMMENT: o.comment = optarg; break;
		case O_OUTPUT: o.output = optarg; break;
		case O_GROUP: o.group = optarg; break;
		case O_FORMAT: o.format = optarg; break;
		case O_COLLAPSE: o.collapse = optarg; break;
		case O_CIDR: {
			char *j = NULL;

			if (asprintf(&j, "%s%s%s", o.cidrs ? o.cidrs : "", o.cidrs ? "," : "",
				     optarg) < 0) {
				code = EXIT_ERROR;
				goto out;
			}
			free(o.cidrs);
			o.cidrs = j;
			break;
		}
		case O_INTERVAL:
			o.interval = (int)strtol(optarg, &end, 10);
			if (*end || o.interval < 1 || o.interval > 3600) {
				code = usage_error(usage_alerts, "bad --interval %s: 1 to 3600 seconds",
						   optarg);
				goto out;
			}
			break;
		case O_LIMIT:
			o.limit = strtol(optarg, &end, 10);
			if (*end || o.limit < 1 || o.limit > 1000000) {
				code = usage_error(usage_alerts, "bad --limit %s: 1 to 1000000",
						   optarg);
				goto out;
			}
			break;
		}
	}
	cmd = n_pos ? pos[0] : NULL;
	usage = cmd_usage(cmd);
	if (!usage) {
		code = usage_error(usage_main, "unknown command \"%s\"", cmd);
		goto out;
	}
	if (o.help) {
		fputs(usage, stdout);
		goto out;
	}
	if (!cmd) {
		code = usage_error(usage_main, "no command");
		goto out;
	}
	for (int i = 1; i < O__COUNT; i++) {
		if (o.given[i] && !allowed(cmd, i)) {
			code = usage_error(usage, "%s takes no --%s", cmd, opt_name(i));
			goto out;
		}
	}
	if (o.given[O_ALL] + o.given[O_UNACKED] + o.given[O_ACKED] > 1) {
		code = usage_error(usage, "give one of --all, --unacked, --acked");
		goto out;
	}
	if (o.format && strcmp(o.format, "json") && strcmp(o.format, "dot") &&
	    strcmp(o.format, "graphml")) {
		code = usage_error(usage, "bad --format %s: json, dot or graphml", o.format);
		goto out;
	}
	if (o.collapse && strcmp(o.collapse, "none") && strcmp(o.collapse, "pod") &&
	    strcmp(o.collapse, "group") && strcmp(o.collapse, "namespace")) {
		code = usage_error(usage, "bad --collapse %s: none, pod, group or namespace",
				   o.collapse);
		goto out;
	}
	if (o.given[O_INTERVAL] && !o.follow) {
		code = usage_error(usage, "--interval goes with --follow");
		goto out;
	}
	/* positional arguments per command */
	if (!strcmp(cmd, "alert") || !strcmp(cmd, "ack") || !strcmp(cmd, "unack")) {
		if (n_pos != 2 || !pos[1][0]) {
			code = usage_error(usage, "%s takes one finding ID", cmd);
			goto out;
		}
		arg = pos[1];
		if (!strcmp(cmd, "ack") && !o.comment) {
			code = usage_error(usage, "ack needs --comment TEXT (why it is acceptable)");
			goto out;
		}
	} else if (!strcmp(cmd, "rules")) {
		if (n_pos != 2 || strcmp(pos[1], "export-learned")) {
			code = usage_error(usage, "rules takes one subcommand: export-learned");
			goto out;
		}
	} else if (n_pos != 1) {
		code = usage_error(usage, "%s takes no argument \"%s\"", cmd, pos[1]);
		goto out;
	}

	if (!o.server)
		o.server = getenv("WACHT_SERVER");
	if (!o.server || !o.server[0]) {
		code = usage_error(usage, "no server: give --server URL or set WACHT_SERVER");
		goto out;
	}
	c.server = strdup(o.server);
	if (!c.server) {
		code = EXIT_ERROR;
		goto out;
	}
	for (size_t n = strlen(c.server); n && c.server[n - 1] == '/'; n--)
		c.server[n - 1] = 0;
	if (o.token_file) {
		c.token = read_token(o.token_file, &code);
		if (!c.token)
			goto out;
	} else if (getenv("WACHT_TOKEN") && getenv("WACHT_TOKEN")[0]) {
		c.token = strdup(getenv("WACHT_TOKEN"));
	}
	c.cacert = o.cacert ? o.cacert : getenv("WACHT_CACERT");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || !(c.curl = curl_easy_init())) {
		fprintf(stderr, "wachtctl: failed to initialise libcurl\n");
		code = EXIT_ERROR;
		goto out;
	}

	if (!strcmp(cmd, "alerts"))
		code = cmd_alerts(&c, &o);
	else if (!strcmp(cmd, "alert"))
		code = cmd_alert(&c, &o, arg);
	else if (!strcmp(cmd, "ack"))
		code = cmd_ack(&c, &o, arg, true);
	else if (!strcmp(cmd, "unack"))
		code = cmd_ack(&c, &o, arg, false);
	else if (!strcmp(cmd, "sensors"))
		code = cmd_sensors(&c, &o);
	else if (!strcmp(cmd, "graph"))
		code = cmd_graph(&c, &o);
	else
		code = cmd_export_learned(&c, &o);
	curl_easy_cleanup(c.curl);
	curl_global_cleanup();
out:
	free(c.server);
	free(c.token);
	free(o.cidrs);
	free(pos);
	return code;
}

int main(int argc, char **argv)
{
	int code = run(argc, argv);

	if (fflush(stdout) && !code) {
		fprintf(stderr, "wachtctl: failed to write the output: %s\n", strerror(errno));
		code = EXIT_ERROR;
	}
	return code;
}
