// SPDX-License-Identifier: Apache-2.0
/* aggregator_main.c: command line of wacht-aggregator; wiring only. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator.h"
#include "api.h"
#include "store.h"
#include "wire.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: wacht-aggregator --store URL [--listen ADDR:PORT]\n"
"                        (--tls-ca FILE --tls-cert FILE --tls-key FILE | --plaintext)\n"
"       wacht-aggregator --store URL --nats URL [--nats-stream NAME]\n"
"                        [--nats-durable NAME] [--listen ADDR:PORT ...]\n"
"Receive findings from wacht-sensors (protobuf frames over mutually\n"
"authenticated TLS) and keep them in a SQLite store. One event loop serves\n"
"every sensor; a sensor's batch is acknowledged only once it is committed,\n"
"and sensors resend what was not acknowledged, so nothing is lost or stored\n"
"twice when either side restarts. Sensors' conversation reports (FlowBatch)\n"
"are stored per minute for the network graph (GET /api/v1/graph).\n"
"With --nats, also (or, without --listen, only) consume what sensors started\n"
"with --nats publish to NATS JetStream: several replicas with the same\n"
"--nats-durable share one durable consumer, each message going to one of\n"
"them, and one store (a postgresql:// URL); a message is acknowledged after\n"
"its commit, and one a replica did not acknowledge (killed, store down) is\n"
"delivered again, the store ignoring the finding ids it has.\n"
"\n"
"Listening\n"
"      --listen ADDR:PORT    where sensors connect (default: 0.0.0.0:7443, or\n"
"                            no listener when --nats is given; [::]:7443 for\n"
"                            IPv6)\n"
"      --tls-ca FILE         PEM CA certificate: sensors must present a\n"
"                            certificate it signed\n"
"      --tls-cert FILE       PEM certificate of this aggregator (signed by the\n"
"                            CA; its name or IP is what sensors connect to)\n"
"      --tls-key FILE        PEM private key of --tls-cert\n"
"      --plaintext           plain TCP: no encryption, no authentication; any\n"
"                            peer may write findings. Local development only\n"
"      --max-frame BYTES     largest frame accepted (default: 4194304); a\n"
"                            larger one closes the connection\n"
"      --max-connections N   connections served at once (default: 4096)\n"
"      --peer-grace SEC      a sensor's containers stay in the peer map sent\n"
"                            to the other sensors this long after its\n"
"                            connection closed (default: 60; README \"Peers on\n"
"                            other nodes\")\n"
"\n"
"NATS JetStream (the scale-out path)\n"
"      --nats URL            consume the stream at nats://HOST:4222 (tls://...,\n"
"                            or a comma-separated list of servers); the\n"
"                            consumer runs in its own thread with its own\n"
"                            connection to --store\n"
"      --nats-stream NAME    stream (default: WACHT; created with subjects\n"
"                            wacht.findings.> if missing)\n"
"      --nats-durable NAME   durable pull consumer the replicas share\n"
"                            (default: wacht-aggregator)\n"
"      --nats-ack-wait SEC   a message not acknowledged SEC seconds after its\n"
"                            delivery goes to a replica again (default: 30)\n"
"      --nats-ca FILE        PEM CA certificate the NATS server's must be\n"
"                            signed by (turns TLS on)\n"
"      --nats-cert FILE      PEM client certificate for NATS (with --nats-key)\n"
"      --nats-key FILE       PEM private key of --nats-cert\n"
"\n"
"Store\n"
"      --store URL           PATH or sqlite:PATH: a SQLite database (created if\n"
"                            missing; WAL mode), the embedded default;\n"
"                            postgresql://...: a PostgreSQL database that\n"
"                            several replicas share\n"
"      --retention-days N    delete findings, and network conversations (the\n"
"                            graph's rows), last seen more than N days ago\n"
"                            (checked every minute; default: keep)\n"
"      --graph-retention-days N  delete network conversations last seen more\n"
"                            than N days ago, even if findings are kept longer\n"
"                            (default: 14; 0 = only --retention-days)\n"
"      --retention-rows N    keep at most N findings, deleting the oldest\n"
"                            (default: no limit)\n"
"\n"
"HTTP API (for wachtctl and tools; README: \"The aggregator API\")\n"
"      --api-listen ADDR:PORT serve the API there (numeric address; default:\n"
"                            127.0.0.1:7080; 'off' for none), and the web\n"
"                            page for people at /ui/ (README: \"The web page\")\n"
"      --api-tokens FILE     tokens, one per line: NAME SHA256 SCOPE (SCOPE: *\n"
"                            or namespaces separated by commas); required\n"
"                            unless --api-listen off\n"
"      --api-tls-cert FILE   serve HTTPS with this PEM certificate ...\n"
"      --api-tls-key FILE    ... and key\n"
"      --restore BACKUP      replace the --store database with BACKUP (a file\n"
"                            from GET /api/v1/backup) and exit; the aggregator\n"
"                            must not be running\n"
"\n"
"Other\n"
"      --stats-interval SEC  a stats line on stderr every SEC seconds\n"
"                            (default: 60; 0: never)\n"
"  -h, --help                this text\n"
"      --version             print the version\n"
"\n"
"A connection that fails the TLS handshake (no certificate, one the CA did\n"
"not sign), sends an oversized or undecodable frame, does not start with a\n"
"SensorHello within 10 s or breaks the protocol is closed with a line on\n"
"stderr saying why; the others are not affected. SIGINT or SIGTERM: finish\n"
"the NATS message in hand, close every connection and the store, exit 0. Exit status 1 when it cannot\n"
"start, 2 on a usage error.\n");
}

/* SIGHUP: the API's tokens again (a revoked token stops working). */
static void reload_tokens(void)
{
	if (api__reload_tokens() == 0)
		fprintf(stderr, "wacht-aggregator: API tokens reloaded\n");
}

/* "ADDR:PORT" ([v6]:PORT) for the API; the address numeric. */
static int parse_api_listen(const char *s, struct api_config *api)
{
	static char addr[64];
	const char *colon = strrchr(s, ':');
	char *end;

	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(addr)) {
		fprintf(stderr, "wacht-aggregator: bad --api-listen '%s' (expected ADDR:PORT)\n", s);
		return -EINVAL;
	}
	const char *a = s, *ae = colon;
	if (*a == '[' && ae[-1] == ']') {
		a++;
		ae--;
	}
	memcpy(addr, a, ae - a);
	addr[ae - a] = 0;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || end == colon + 1) {
		fprintf(stderr, "wacht-aggregator: bad port in --api-listen '%s'\n", s);
		return -EINVAL;
	}
	api->listen_addr = addr;
	api->port = (uint16_t)port;
	return 0;
}

enum {
	OPT_LISTEN = 256, OPT_CA, OPT_CERT, OPT_KEY, OPT_PLAIN, OPT_STORE, OPT_RET_DAYS,
	OPT_RET_ROWS, OPT_GRAPH_RET, OPT_MAX_FRAME, OPT_MAX_CONNS, OPT_STATS, OPT_VERSION, OPT_NATS,
	OPT_NATS_STREAM, OPT_NATS_DURABLE, OPT_NATS_ACK_WAIT, OPT_NATS_CA, OPT_NATS_CERT,
	OPT_NATS_KEY, OPT_API_LISTEN, OPT_API_TOKENS, OPT_API_CERT, OPT_API_KEY, OPT_RESTORE,
	OPT_PEER_GRACE,
};

/* A whole number from min to max; -EINVAL (said on stderr) otherwise. */
static int parse_u64(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || v < min || v > max) {
		fprintf(stderr, "wacht-aggregator: %s: '%s' is not a number from %llu to %llu\n", opt,
			arg, (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "tls-ca", required_argument, NULL, OPT_CA },
		{ "tls-cert", required_argument, NULL, OPT_CERT },
		{ "tls-key", required_argument, NULL, OPT_KEY },
		{ "plaintext", no_argument, NULL, OPT_PLAIN },
		{ "store", required_argument, NULL, OPT_STORE },
		{ "retention-days", required_argument, NULL, OPT_RET_DAYS },
		{ "retention-rows", required_argument, NULL, OPT_RET_ROWS },
		{ "graph-retention-days", required_argument, NULL, OPT_GRAPH_RET },
		{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },
		{ "max-connections", required_argument, NULL, OPT_MAX_CONNS },
		{ "peer-grace", required_argument, NULL, OPT_PEER_GRACE },
		{ "stats-interval", required_argument, NULL, OPT_STATS },
		{ "nats", required_argument, NULL, OPT_NATS },
		{ "nats-stream", required_argument, NULL, OPT_NATS_STREAM },
		{ "nats-durable", required_argument, NULL, OPT_NATS_DURABLE },
		{ "nats-ack-wait", required_argument, NULL, OPT_NATS_ACK_WAIT },
		{ "nats-ca", required_argument, NULL, OPT_NATS_CA },
		{ "nats-cert", required_argument, NULL, OPT_NATS_CERT },
		{ "nats-key", required_argument, NULL, OPT_NATS_KEY },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "api-listen", required_argument, NULL, OPT_API_LISTEN },
		{ "api-tokens", required_argument, NULL, OPT_API_TOKENS },
		{ "api-tls-cert", required_argument, NULL, OPT_API_CERT },
		{ "api-tls-key", required_argument, NULL, OPT_API_KEY },
		{ "restore", required_argument, NULL, OPT_RESTORE },
		{ 0 },
	};
	struct agg_config cfg = {
		.stats_interval_s = 60,
		.graph_retention_days = 14,
		.nats = { .name = "wacht-aggregator" },
	};
	struct agg_server *srv;
	struct api_config api = { 0 };
	const char *api_listen = "127.0.0.1:7080", *restore = NULL;
	uint64_t v;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			cfg.listen = optarg;
			break;
		case OPT_NATS:
			cfg.nats.url = optarg;
			break;
		case OPT_NATS_STREAM:
			cfg.nats.stream = optarg;
			break;
		case OPT_NATS_DURABLE:
			cfg.nats.durable = optarg;
			break;
		case OPT_NATS_ACK_WAIT:
			if (parse_u64("--nats-ack-wait", optarg, 1, 86400, &v))
				return 2;
			cfg.nats.ack_wait_ns = (int64_t)v * 1000000000LL;
			break;
		case OPT_NATS_CA:
			cfg.nats.tls_ca = optarg;
			break;
		case OPT_NATS_CERT:
			cfg.nats.tls_cert = optarg;
			break;
		case OPT_NATS_KEY:
			cfg.nats.tls_key = optarg;
			break;
		case OPT_CA:
			cfg.tls.ca = optarg;
			break;
		case OPT_CERT:
			cfg.tls.cert = optarg;
			break;
		case OPT_KEY:
			cfg.tls.key = optarg;
			break;
		case OPT_PLAIN:
			cfg.tls.plaintext = true;
			break;
		case OPT_STORE:
			cfg.store_path = optarg;
			break;
		case OPT_API_LISTEN:
			api_listen = optarg;
			break;
		case OPT_API_TOKENS:
			api.tokens_path = optarg;
			break;
		case OPT_API_CERT:
			api.tls_cert = optarg;
			break;
		case OPT_API_KEY:
			api.tls_key = optarg;
			break;
		case OPT_RESTORE:
			restore = optarg;
			break;
		case OPT_RET_DAYS:
			if (parse_u64("--retention-days", optarg, 0, 36500, &v))
				return 2;
			cfg.retention_days = (unsigned)v;
			break;
		case OPT_RET_ROWS:
			if (parse_u64("--retention-rows", optarg, 0, INT64_MAX, &v))
				return 2;
			cfg.retention_rows = v;
			break;
		case OPT_GRAPH_RET:
			if (parse_u64("--graph-retention-days", optarg, 0, 36500, &v))
				return 2;
			cfg.graph_retention_days = (unsigned)v;
			break;
		case OPT_MAX_FRAME:
			if (parse_u64("--max-frame", optarg, 1024, UINT32_MAX, &v))
				return 2;
			cfg.max_frame = v;
			break;
		case OPT_MAX_CONNS:
			if (parse_u64("--max-connections", optarg, 1, 1000000, &v))
				return 2;
			cfg.max_conns = (unsigned)v;
			break;
		case OPT_PEER_GRACE:
			if (parse_u64("--peer-grace", optarg, 0, 86400, &v))
				return 2;
			cfg.peer_grace_s = (unsigned)v;
			cfg.peer_grace_set = true;
			break;
		case OPT_STATS:
			if (parse_u64("--stats-interval", optarg, 0, 86400, &v))
				return 2;
			cfg.stats_interval_s = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("wacht-aggregator %s\n", WACHT_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'wacht-aggregator --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wacht-aggregator: unexpected argument '%s'\n"
				"Try 'wacht-aggregator --help'.\n", argv[optind]);
		return 2;
	}
	if (!cfg.store_path) {
		fprintf(stderr, "wacht-aggregator: --store PATH is required\n"
				"Try 'wacht-aggregator --help'.\n");
		return 2;
	}
	if (restore) {
		char *why = NULL;
		int err = store__restore(cfg.store_path, restore, &why);
		if (err) {
			fprintf(stderr, "wacht-aggregator: failed to restore %s from %s: %s\n",
				cfg.store_path, restore, why ? why : strerror(-err));
			free(why);
			return 1;
		}
		printf("restored %s from %s\n", cfg.store_path, restore);
		return 0;
	}
	bool api_on = strcmp(api_listen, "off") != 0;
	if (api_on && parse_api_listen(api_listen, &api) < 0)
		return 2;
	if (api_on && !api.tokens_path) {
		fprintf(stderr, "wacht-aggregator: --api-tokens FILE is required (or --api-listen off)\n"
				"Try 'wacht-aggregator --help'.\n");
		return 2;
	}
	if (!!api.tls_cert != !!api.tls_key) {
		fprintf(stderr, "wacht-aggregator: --api-tls-cert and --api-tls-key go together\n");
		return 2;
	}
	if (!cfg.listen && !cfg.nats.url)
		cfg.listen = "0.0.0.0:7443";
	if (!cfg.nats.url && (cfg.nats.stream || cfg.nats.durable || cfg.nats.ack_wait_ns ||
			      cfg.nats.tls_ca || cfg.nats.tls_cert || cfg.nats.tls_key)) {
		fprintf(stderr, "wacht-aggregator: the --nats-* options need --nats URL\n");
		return 2;
	}
	if (!!cfg.nats.tls_cert != !!cfg.nats.tls_key) {
		fprintf(stderr, "wacht-aggregator: --nats-cert and --nats-key go together\n");
		return 2;
	}
	if (cfg.listen && !cfg.tls.plaintext && (!cfg.tls.ca || !cfg.tls.cert || !cfg.tls.key)) {
		fprintf(stderr, "wacht-aggregator: --tls-ca, --tls-cert and --tls-key are required "
				"(or --plaintext, for local development only)\n");
		return 2;
	}
	if (cfg.listen && cfg.tls.plaintext)
		fprintf(stderr, "wacht-aggregator: WARNING: --plaintext: findings travel unencrypted "
				"and any peer that can connect may write them. Use TLS in production.\n");

	if (api_on)
		cfg.on_sighup = reload_tokens;
	srv = agg_server__new(&cfg);
	if (!srv)
		return 1;

	/* the API in its own threads, with its own connections to the store
	 * (WAL: they read while this loop writes) */
	api.store_path = cfg.store_path;
	/* the API's threads inherit this mask: SIGINT/SIGTERM must reach the
	 * loop's signalfd, never a thread that would die of them */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (api_on && api__start(&api) < 0) {
		agg_server__free(srv);
		return 1;
	}
	if (api_on)
		fprintf(stderr, "wacht-aggregator: API on %s:%u%s\n", api.listen_addr,
			(unsigned)api__port(), api.tls_cert ? " (HTTPS)" : "");

	ret = agg_server__run(srv);
	api__stop();
	agg_server__free(srv);
	return ret;
}
