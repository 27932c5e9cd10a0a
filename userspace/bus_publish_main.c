/* SPDX-License-Identifier: Apache-2.0 */
/* bus_publish_main.c: wacht-bus-publish, a simulated sensor for the
 * scale-out path: publishes N synthetic findings in FindingBatch envelopes
 * to JetStream and waits until every batch is acknowledged. To be replaced
 * by wacht-sensor's shipper (--nats); kept small. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "bus_nats.h"
#include "wire.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wacht-bus-publish --nats URL --sensor-id ID --node NODE --count N\n"
		"         [--batch N] [--nats-stream NAME] [--time-base NS] [--dup-every K]\n"
		"         [--resend-every K] [--garbage] [--nats-ca FILE]\n"
		"         [--nats-cert FILE --nats-key FILE]\n"
		"Publishes findings ID:0 .. ID:N-1, --batch per FindingBatch (batch_seq 1, 2,\n"
		"...), and waits for every ack. Finding i is a suspicious process at\n"
		"time-base + i ms; when i %% 10 == 0 it is /usr/bin/nc (identical findings,\n"
		"merged by the store), else /bin/x<i> (one row each). --dup-every K publishes\n"
		"every K-th batch twice with the same Nats-Msg-Id (deduplicated by JetStream);\n"
		"--resend-every K publishes it again under a new message id, as a sensor\n"
		"resending after the dedupe window would (deduplicated by the store).\n"
		"--garbage first publishes one message that is not an Envelope (batch_seq\n"
		"N + 2000000), which consumers must drop, not redeliver forever.\n"
		"Prints {\"published\":..,\"batches\":..,\"acked_through\":..,\"duplicates\":..}.\n");
}

struct acks {
	uint64_t duplicates, failed;
};

static void on_ack(void *ctx, uint64_t seq, uint64_t through, int err)
{
	struct acks *a = ctx;

	(void)seq;
	(void)through;
	/* counters only: main checks acked_through after waiting */
	if (err)
		__atomic_add_fetch(&a->failed, 1, __ATOMIC_RELAXED);
}

static int publish_retry(struct bus_pub *p, uint64_t seq, const void *buf, size_t len)
{
	int rc;

	/* -EAGAIN: too many acks pending; wait for some */
	while ((rc = bus_pub__publish(p, seq, buf, len)) == -EAGAIN)
		bus_pub__wait(p, 1000);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "nats", required_argument, NULL, 'n' },
		{ "nats-stream", required_argument, NULL, 's' },
		{ "sensor-id", required_argument, NULL, 'i' },
		{ "node", required_argument, NULL, 'N' },
		{ "count", required_argument, NULL, 'c' },
		{ "batch", required_argument, NULL, 'b' },
		{ "time-base", required_argument, NULL, 't' },
		{ "dup-every", required_argument, NULL, 'D' },
		{ "resend-every", required_argument, NULL, 'R' },
		{ "garbage", no_argument, NULL, 'G' },
		{ "nats-ca", required_argument, NULL, 'C' },
		{ "nats-cert", required_argument, NULL, 'T' },
		{ "nats-key", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct bus_opts bo = { .name = "wacht-bus-publish" };
	const char *sensor_id = NULL, *node = NULL;
	long count = -1, batch = 100, dup_every = 0, resend_every = 0;
	int64_t time_base = 0;
	struct acks acks = { 0 };
	struct bus_pub *p;
	char *err = NULL;
	int opt, rc = 0, garbage = 0;
	uint64_t seq = 0, resend_seq, published = 0;

	while ((opt = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'n': bo.url = optarg; break;
		case 's': bo.stream = optarg; break;
		case 'i': sensor_id = optarg; break;
		case 'N': node = optarg; break;
		case 'c': count = atol(optarg); break;
		case 'b': batch = atol(optarg); break;
		case 't': time_base = strtoll(optarg, NULL, 10); break;
		case 'D': dup_every = atol(optarg); break;
		case 'R': resend_every = atol(optarg); break;
		case 'G': garbage = 1; break;
		case 'C': bo.tls_ca = optarg; break;
		case 'T': bo.tls_cert = optarg; break;
		case 'K': bo.tls_key = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!bo.url || !sensor_id || !node || count < 0 || batch <= 0 || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!time_base) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		time_base = ts.tv_sec * 1000000000LL + ts.tv_nsec;
	}
	/* resent batches get sequence numbers far above the real ones, as a
	 * sensor's later batches would have */
	resend_seq = (uint64_t)count + 1000000;

	p = bus_pub__new(&bo, sensor_id, node, on_ack, &acks, &err);
	if (!p) {
		fprintf(stderr, "wacht-bus-publish: %s\n", err ? err : strerror(errno));
		free(err);
		return 1;
	}

	struct wf {
		Wacht__V1__Finding f;
		Wacht__V1__Rule r;
		Wacht__V1__Container c;
		Wacht__V1__Process pr;
		char id[96], exe[32];
	} *w = calloc((size_t)batch, sizeof(*w));
	Wacht__V1__Finding **fp = calloc((size_t)batch, sizeof(*fp));

	if (!w || !fp) {
		fprintf(stderr, "wacht-bus-publish: %s\n", strerror(ENOMEM));
		return 1;
	}
	/* an Envelope must have version 1 and a body: this has neither */
	if (garbage)
		rc = publish_retry(p, (uint64_t)count + 2000000, "\x08\x07", 2);
	for (long first = 0; first < count && !rc; first += batch) {
		Wacht__V1__FindingBatch b = WACHT__V1__FINDING_BATCH__INIT;
		Wacht__V1__Envelope env;
		uint8_t *buf;
		size_t len;
		long n = count - first < batch ? count - first : batch;

		for (long j = 0; j < n; j++) {
			long i = first + j;
			struct wf *x = &w[j];

			wacht__v1__finding__init(&x->f);
			wacht__v1__rule__init(&x->r);
			wacht__v1__container__init(&x->c);
			wacht__v1__process__init(&x->pr);
			snprintf(x->id, sizeof(x->id), "%s:%ld", sensor_id, i);
			snprintf(x->exe, sizeof(x->exe), i % 10 ? "/bin/x%ld" : "/usr/bin/nc", i);
			x->f.id = x->id;
			x->f.time_unix_ns = time_base + i * 1000000LL;
			x->f.node = (char *)node;
			x->f.name = "Container.Suspicious.Process";
			x->f.severity = WACHT__V1__SEVERITY__SEVERITY_HIGH;
			x->f.action = WACHT__V1__ACTION__ACTION_ALERT;
			x->f.mode = WACHT__V1__MODE__MODE_MONITOR;
			x->r.id = "builtin:suspicious-process";
			x->r.name = "suspicious-process";
			x->f.rule = &x->r;
			x->c.id = "c0ffee";
			x->c.name = "web";
			x->c.pod = "web-1";
			x->c.namespace_ = "shop";
			x->f.container = &x->c;
			x->pr.pid = (uint32_t)(1000 + i);
			x->pr.exe.data = (uint8_t *)x->exe;
			x->pr.exe.len = strlen(x->exe);
			x->f.process = &x->pr;
			x->f.count = 1;
			fp[j] = &x->f;
		}
		b.batch_seq = ++seq;
		b.findings = fp;
		b.n_findings = (size_t)n;
		wire_envelope_init(&env);
		env.body_case = WACHT__V1__ENVELOPE__BODY_FINDINGS;
		env.findings = &b;
		len = wacht__v1__envelope__get_packed_size(&env);
		buf = malloc(len);
		if (!buf) {
			rc = -ENOMEM;
			break;
		}
		wacht__v1__envelope__pack(&env, buf);
		rc = publish_retry(p, seq, buf, len);
		published += (uint64_t)n;
		if (!rc && dup_every && seq % (uint64_t)dup_every == 0) {
			/* the same message id again: a publish whose ack was lost */
			rc = publish_retry(p, seq, buf, len);
			acks.duplicates++;
		}
		if (!rc && resend_every && seq % (uint64_t)resend_every == 0)
			rc = publish_retry(p, ++resend_seq, buf, len);
		free(buf);
	}
	if (rc) {
		fprintf(stderr, "wacht-bus-publish: failed to publish batch %" PRIu64 ": %s\n", seq,
			strerror(-rc));
	} else if ((rc = bus_pub__wait(p, 30000))) {
		fprintf(stderr, "wacht-bus-publish: failed to get every ack: %s\n", strerror(-rc));
	}
	if (!rc && (acks.failed ||
		    bus_pub__acked_through(p) < (resend_every ? resend_seq : seq))) {
		fprintf(stderr, "wacht-bus-publish: %" PRIu64 " publishes failed, acked through %"
			PRIu64 "\n", acks.failed, bus_pub__acked_through(p));
		rc = -EIO;
	}
	printf("{\"published\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"acked_through\":%" PRIu64
	       ",\"duplicates\":%" PRIu64 "}\n",
	       published, seq, bus_pub__acked_through(p), acks.duplicates);
	bus_pub__free(p, 5000);
	free(w);
	free(fp);
	nats_Close();
	return rc ? 1 : 0;
}
