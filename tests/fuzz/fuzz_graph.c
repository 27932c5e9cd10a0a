// SPDX-License-Identifier: Apache-2.0
/* fuzz_graph.c: libFuzzer target for the conversation graph (graph.c): the
 * names and addresses in sensors' records are untrusted. Records made of
 * the input's fields are merged and written in every format; the JSON
 * must parse, and every format must be written without error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "graph.h"

/* The input as NUL-separated fields, consumed one by one ("" at the end). */
struct fields {
	char *buf;
	size_t len, off;
};

static const char *field(struct fields *f)
{
	const char *s;

	if (f->off >= f->len)
		return "";
	s = f->buf + f->off;
	f->off += strlen(s) + 1;
	return s;
}

static void endpoint(struct fields *f, struct graph_endpoint *e)
{
	const char *k = field(f);

	e->kind = (enum graph_kind)(k[0] % 4);
	e->ip = field(f);
	e->node = field(f);
	e->container_id = field(f);
	e->container = field(f);
	e->pod = field(f);
	e->namespace = field(f);
	e->group = field(f);
}

static void write_all(struct graph *g)
{
	for (int fmt = GRAPH_FORMAT_JSON; fmt <= GRAPH_FORMAT_GRAPHML; fmt++) {
		char *out = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&out, &len);

		if (!m || graph__write(g, (enum graph_format)fmt, m))
			abort();
		fclose(m);
		if (fmt == GRAPH_FORMAT_JSON) {
			json_object *root = json_tokener_parse(out);

			if (!root)
				abort();
			json_object_put(root);
		}
		free(out);
	}
}

/* data[0]: collapse and options; then fields: a CIDR, a namespace filter,
 * then per record a flags field, the client's and the server's fields. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fields f = {0};
	const char *cidr[1], *ns;
	struct graph_options o = {.generated_at_ns = 1};
	struct graph *g;
	int n = 0;

	if (size < 1)
		return 0;
	f.buf = malloc(size);
	if (!f.buf)
		return 0;
	memcpy(f.buf, data + 1, size - 1);
	f.buf[size - 1] = '\0';
	f.len = size;
	o.collapse = (enum graph_collapse)(data[0] % 4);
	cidr[0] = field(&f);
	ns = field(&f);
	if (data[0] & 4) {
		o.external_cidrs = cidr;
		o.n_external_cidrs = 1;
	}
	if (data[0] & 8)
		o.namespace = ns;
	if (data[0] & 16)
		o.since_ns = data[0] & 64 ? -50 : 50;
	if (data[0] & 32)
		o.generated_at_ns = -1; /* before 1970: not a time */
	g = graph__new(&o, NULL);
	if (!g) {
		if (graph_cidr_check(cidr[0]) == 0)
			abort(); /* a valid CIDR must be accepted */
		free(f.buf);
		return 0;
	}
	while (f.off < f.len && n++ < 64) {
		const char *flags = field(&f);
		unsigned char fl = (unsigned char)flags[0];
		struct graph_record r = {
			.proto = fl & 1 ? 17 : 6,
			.server_port = (uint16_t)(fl * 257),
			.reported_by_client = fl & 2,
			.bytes_to_server = fl,
			.bytes_to_client = (uint64_t)fl << 56,
			.packets_to_server = 1,
			.sessions = fl >> 4,
			.first_seen_ns = fl,
			.last_seen_ns = fl + 10,
			.verdict = (enum graph_verdict)((fl >> 2) % 4),
		};

		endpoint(&f, &r.client);
		endpoint(&f, &r.server);
		graph__add(g, &r);
		if (n == 8)
			write_all(g); /* a merge, then more records */
	}
	write_all(g);
	graph__free(g);
	free(f.buf);
	return 0;
}
