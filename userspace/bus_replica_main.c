/* SPDX-License-Identifier: Apache-2.0 */
/* bus_replica_main.c: wacht-bus-replica, one aggregator replica of the
 * scale-out path: consumes the JetStream stream into a store until SIGTERM,
 * and lists a store's findings (--list). To be merged into
 * wacht-aggregator; kept small. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "bus_nats.h"
#include "store.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wacht-bus-replica --nats URL --store URL [--nats-stream NAME]\n"
		"         [--nats-durable NAME] [--nats-ca FILE] [--nats-cert FILE --nats-key FILE]\n"
		"         [--ack-wait SECONDS] [--batch N] [--ready-file PATH]\n"
		"       wacht-bus-replica --store URL --list\n"
		"Consumes findings from NATS JetStream into the store (a path, sqlite:PATH or\n"
		"postgresql://...) until SIGTERM, then prints its counters as JSON. --list\n"
		"prints every stored finding as JSON (id, count, node, first/last seen).\n");
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct replica {
	struct store *st;
	uint64_t messages, findings, stored;
};

/* One message: committed to the store, or an error to have it redelivered. */
static int handle(void *ctx, const Wacht__V1__Envelope *env, const char *msg_id)
{
	struct replica *r = ctx;
	const Wacht__V1__FindingBatch *b;
	int rc;

	switch (env->body_case) {
	case WACHT__V1__ENVELOPE__BODY_FINDINGS:
		b = env->findings;
		rc = store__add_findings(r->st, (const Wacht__V1__Finding *const *)b->findings,
					 b->n_findings, now_ns());
		if (rc < 0) {
			fprintf(stderr, "wacht-bus-replica: failed to store batch %s: %s (%s)\n",
				msg_id, strerror(-rc), store__errmsg(r->st));
			return rc;
		}
		r->findings += b->n_findings;
		r->stored += (uint64_t)rc;
		break;
	case WACHT__V1__ENVELOPE__BODY_HELLO:
		rc = store__sensor_hello(r->st, env->hello, now_ns());
		if (rc < 0) {
			fprintf(stderr, "wacht-bus-replica: failed to store hello %s: %s\n", msg_id,
				strerror(-rc));
			return rc;
		}
		break;
	default:
		/* nothing a sensor sends on the bus for now; acked and dropped */
		break;
	}
	r->messages++;
	return 0;
}

static int print_row(void *ctx, const struct store_row *row)
{
	(void)ctx;
	/* ids, nodes and names come from our own sensors: plain ASCII */
	printf("{\"id\":\"%s\",\"count\":%llu,\"node\":\"%s\",\"first_seen\":%lld,"
	       "\"last_seen\":%lld}\n",
	       row->id, (unsigned long long)row->count, row->node, (long long)row->first_seen,
	       (long long)row->last_seen);
	return 0;
}

static int list(struct store *st)
{
	struct store_cursor cur;
	struct store_filter flt = { .limit = 1000 };
	int n;

	do {
		n = store__query(st, &flt, print_row, NULL, &cur);
		flt.after = &cur;
	} while (n > 0);
	if (n < 0)
		fprintf(stderr, "wacht-bus-replica: failed to query store: %s (%s)\n",
			strerror(-n), store__errmsg(st));
	return n < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "nats", required_argument, NULL, 'n' },
		{ "nats-stream", required_argument, NULL, 's' },
		{ "nats-durable", required_argument, NULL, 'd' },
		{ "nats-ca", required_argument, NULL, 'C' },
		{ "nats-cert", required_argument, NULL, 'c' },
		{ "nats-key", required_argument, NULL, 'k' },
		{ "store", required_argument, NULL, 'S' },
		{ "ack-wait", required_argument, NULL, 'a' },
		{ "batch", required_argument, NULL, 'b' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct bus_opts bo = { .name = "wacht-bus-replica" };
	const char *store_url = NULL, *ready = NULL;
	struct replica r = { 0 };
	struct bus_sub *sub = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	int opt, batch = 64, do_list = 0, rc = 1, n;
	char *err = NULL;

	while ((opt = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'n': bo.url = optarg; break;
		case 's': bo.stream = optarg; break;
		case 'd': bo.durable = optarg; break;
		case 'C': bo.tls_ca = optarg; break;
		case 'c': bo.tls_cert = optarg; break;
		case 'k': bo.tls_key = optarg; break;
		case 'S': store_url = optarg; break;
		case 'a': bo.ack_wait_ns = (int64_t)(atof(optarg) * 1e9); break;
		case 'b': batch = atoi(optarg); break;
		case 'r': ready = optarg; break;
		case 'l': do_list = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!store_url || (!do_list && !bo.url) || batch <= 0 || optind != argc) {
		usage(stderr);
		return 2;
	}
	r.st = store__open(store_url, NULL, &err);
	if (!r.st) {
		fprintf(stderr, "wacht-bus-replica: %s\n", err ? err : strerror(errno));
		free(err);
		return 1;
	}
	if (do_list) {
		rc = list(r.st);
		store__close(r.st);
		return rc;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sub = bus_sub__new(&bo, &err);
	if (!sub) {
		fprintf(stderr, "wacht-bus-replica: %s\n", err ? err : strerror(errno));
		free(err);
		goto out;
	}
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f)
			fclose(f);
	}
	while (!stop) {
		/* a short wait, so SIGTERM is seen within it */
		n = bus_sub__fetch(sub, batch, 200, handle, &r);
		if (n < 0 && n != -ETIMEDOUT) {
			fprintf(stderr, "wacht-bus-replica: failed to fetch: %s\n", strerror(-n));
			struct timespec ts = { 0, 200000000 };
			nanosleep(&ts, NULL); /* the connection is reconnecting */
		}
	}
	printf("{\"messages\":%llu,\"findings\":%llu,\"stored\":%llu,\"bad\":%llu,"
	       "\"failed\":%llu}\n",
	       (unsigned long long)r.messages, (unsigned long long)r.findings,
	       (unsigned long long)r.stored, (unsigned long long)bus_sub__bad(sub),
	       (unsigned long long)bus_sub__failed(sub));
	rc = 0;
out:
	bus_sub__free(sub);
	store__close(r.st);
	nats_Close();
	return rc;
}
