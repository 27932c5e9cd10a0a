// SPDX-License-Identifier: Apache-2.0
/* main.c: command line of wacht-sensor; wiring only. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "policy.h"
#include "ruleset.h"
#include "sensor.h"

/* rules/default.yaml, from default_rules.S */
extern const char wacht_default_rules[], wacht_default_rules_end[];

#define MAX_LIST 64

static void usage(FILE *f)
{
	fprintf(f,
"Usage: wacht-sensor [OPTION]...\n"
"       wacht-sensor --check-rules PATH...\n"
"       wacht-sensor [--rules PATH]... [--state-dir DIR] --export-learned DIR\n"
"Watch every container on this node with eBPF: process executions, file\n"
"access and network connections, attributed to their pod; match them against\n"
"NeuVector-style rules (NvSecurityRule YAML) and print findings as JSON lines.\n"
"\n"
"Rules\n"
"      --rules PATH         rule file, or directory of *.yaml/*.yml files\n"
"                           (repeatable; default: the built-in rules/default.yaml).\n"
"                           Reloaded on SIGHUP and when the files change; a\n"
"                           reload with errors keeps the previous policy\n"
"      --state-dir DIR      where learned profiles are kept, one YAML file per\n"
"                           group in DIR/learned (default: /var/lib/wacht)\n"
"      --no-state           keep learned profiles in memory only\n"
"      --window SEC         identical findings within SEC seconds are reported\n"
"                           once, then once with their count (default: 10)\n"
"      --alert-only         never kill, refuse or block, also in Protect mode:\n"
"                           findings say alert (also: WACHT_ALERT_ONLY=1)\n"
"      --check-rules PATH   validate rule files (repeatable) and exit: 0 valid,\n"
"                           1 errors (each as FILE:LINE:COLUMN); loads no BPF\n"
"      --export-learned DIR write what was learned (the state directory, read\n"
"                           with the rules) as NvSecurityRule YAML files, one\n"
"                           per group, to DIR and exit; loads no BPF\n"
"\n"
"Output\n"
"  -o, --output FILE        append JSON lines to FILE (default: standard output)\n"
"      --events             also print every captured exec, file and network\n"
"                           event (default: findings and stats only)\n"
"  -v, --verbose            print every event, fork, exit and cgroup ones too\n"
"      --node NAME          node name in every record (default: $NODE_NAME,\n"
"                           else the host name)\n"
"      --stats-interval SEC print a stats line (events delivered and dropped,\n"
"                           per type and reason) every SEC seconds; 0 = only\n"
"                           at exit (default: 60)\n"
"      --flow-interval SEC  report conversations (bytes, packets, sessions per\n"
"                           container and peer, kind \"flow\") every SEC seconds,\n"
"                           and send them to the aggregator (or NATS) for the\n"
"                           network graph; 0 = never (default: 10)\n"
"      --peer-grace SEC     with --nats: a node whose sensor published no\n"
"                           endpoints for SEC seconds leaves the peer map\n"
"                           (default: 30; README \"Peers on other nodes\")\n"
"      --ready-file FILE    create FILE once the programs are attached and the\n"
"                           existing containers are known; removed at exit\n"
"      --health-listen ADDR:PORT  serve GET /healthz/live, /healthz/ready and\n"
"                           /metrics (Prometheus) over HTTP on ADDR:PORT, e.g.\n"
"                           0.0.0.0:9090 in a DaemonSet (default: off). live:\n"
"                           200 while the event loop turned within 5 s; ready:\n"
"                           200 once the programs are attached, the existing\n"
"                           containers compiled and the ring buffer is being\n"
"                           drained; else 503 with a JSON reason\n"
"\n"
"Findings stream (without --aggregator or --nats nothing is sent)\n"
"      --aggregator HOST:PORT  also send every finding, in batches (512\n"
"                           findings or 256 KiB or 200 ms), to this aggregator;\n"
"                           printed findings then carry the \"id\" it stores\n"
"      --tls-ca FILE        PEM CA certificate the aggregator's must be signed by\n"
"      --tls-cert FILE      PEM client certificate of this sensor (signed by the\n"
"                           CA the aggregator trusts)\n"
"      --tls-key FILE       PEM private key of --tls-cert\n"
"      --plaintext          plain TCP, no TLS: unencrypted, unauthenticated;\n"
"                           local development only\n"
"      --nats URL           instead of --aggregator: publish the batches to NATS\n"
"                           JetStream (nats://HOST:4222, tls://..., a comma-\n"
"                           separated list), where wacht-aggregator replicas\n"
"                           consume them; a batch leaves the spool once\n"
"                           JetStream stored it and every batch before it\n"
"      --nats-stream NAME   JetStream stream (default: WACHT; created with\n"
"                           subjects wacht.findings.> if missing)\n"
"      --nats-ca FILE       PEM CA certificate the NATS server's must be signed\n"
"                           by (turns TLS on)\n"
"      --nats-cert FILE     PEM client certificate for NATS, when the server\n"
"                           asks for one (with --nats-key)\n"
"      --nats-key FILE      PEM private key of --nats-cert\n"
"      --spool-dir DIR      where batches wait until the aggregator (or\n"
"                           JetStream) acknowledges them, across outages and\n"
"                           restarts (default:\n"
"                           /var/lib/wacht/spool)\n"
"      --spool-max BYTES    spool size limit (default: 67108864); when full, the\n"
"                           OLDEST batches are dropped, counted, and reported as\n"
"                           a Sensor.Findings.Dropped finding on reconnection\n"
"                           (to the aggregator or to NATS)\n"
"\n"
"Capture\n"
"      --host               also report processes on the host (default: only\n"
"                           processes in containers; never the sensor itself)\n"
"      --file-prefix PATH   report file events only under PATH (repeatable;\n"
"                           filtered in the kernel, at most 256 bytes each)\n"
"      --no-file            do not capture file events\n"
"      --no-net             do not capture network events\n"
"      --runtime-root DIR   another runc-style state directory to find\n"
"                           containers in (repeatable; /run/runc, containerd's,\n"
"                           docker's and crun's are always searched)\n"
"\n"
"Other\n"
"      --debug-bpf          print libbpf's debug log (verifier output)\n"
"  -h, --help               this text\n"
"      --version            print the version\n"
"\n"
"Needs root (or CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE) and a\n"
"kernel with BTF (/sys/kernel/btf/vmlinux) and syscall tracepoints. Attaches\n"
"BTF tracepoints and one syscalls:sys_enter_X/sys_exit_X pair per reported\n"
"syscall; mounts tracefs at /sys/kernel/tracing (and cgroup2) if not mounted,\n"
"in a private mount namespace only it sees; pins nothing. SIGINT or SIGTERM\n"
"detaches everything and prints final counters. Exit status: 0 after a\n"
"signal, 1 when it cannot start, 2 on a usage error.\n");
}

enum {
	OPT_NODE = 256, OPT_STATS, OPT_READY, OPT_HOST, OPT_PREFIX, OPT_NO_FILE, OPT_NO_NET,
	OPT_RUNTIME_ROOT, OPT_DEBUG_BPF, OPT_VERSION, OPT_RULES, OPT_STATE_DIR, OPT_NO_STATE,
	OPT_WINDOW, OPT_CHECK_RULES, OPT_EXPORT_LEARNED, OPT_EVENTS, OPT_ALERT_ONLY,
	OPT_AGGREGATOR, OPT_TLS_CA, OPT_TLS_CERT, OPT_TLS_KEY, OPT_PLAINTEXT, OPT_SPOOL_DIR,
	OPT_SPOOL_MAX, OPT_NATS, OPT_NATS_STREAM, OPT_NATS_CA, OPT_NATS_CERT, OPT_NATS_KEY,
	OPT_HEALTH_LISTEN, OPT_FLOW_INTERVAL, OPT_PEER_GRACE,
};

/* A whole number of seconds from 0 to max; -EINVAL (said on stderr) otherwise. */
static int parse_seconds(const char *opt, const char *arg, unsigned long max, unsigned *out)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || v > max) {
		fprintf(stderr, "wacht-sensor: %s: '%s' is not a number of seconds from 0 to %lu\n", opt,
			arg, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int check_rules(const char *const *paths)
{
	struct ruleset_source src = { .paths = paths };
	struct diags d = { 0 };
	struct policy *p = ruleset_load(&src, &d);

	diags__print(&d, stderr);
	if (p)
		printf("rules OK: %zu groups, %zu network rules, %zu warnings\n", p->n_groups, p->n_net,
		       d.n_warnings);
	else
		printf("rules INVALID: %zu errors, %zu warnings\n", d.n_errors, d.n_warnings);
	policy__free(p);
	diags__free(&d);
	return p ? 0 : 1;
}

static int export_learned(const struct sensor_config *cfg, const char *dir)
{
	struct ruleset_source src = {
		.paths = cfg->rules,
		.default_name = "<built-in rules/default.yaml>",
		.default_yaml = cfg->default_rules,
		.default_len = cfg->default_rules_len,
		.state_dir = cfg->state_dir,
	};
	struct diags d = { 0 };
	struct policy *p = ruleset_load(&src, &d);
	int n;

	diags__print(&d, stderr);
	diags__free(&d);
	if (!p)
		return 1;
	n = ruleset_export_learned(p, dir);
	policy__free(p);
	if (n < 0) {
		fprintf(stderr, "wacht-sensor: failed to export learned rules to %s: %s\n", dir,
			strerror(-n));
		return 1;
	}
	printf("exported the learned profiles of %d groups to %s\n", n, dir);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "node", required_argument, NULL, OPT_NODE },
		{ "stats-interval", required_argument, NULL, OPT_STATS },
		{ "flow-interval", required_argument, NULL, OPT_FLOW_INTERVAL },
		{ "peer-grace", required_argument, NULL, OPT_PEER_GRACE },
		{ "ready-file", required_argument, NULL, OPT_READY },
		{ "host", no_argument, NULL, OPT_HOST },
		{ "file-prefix", required_argument, NULL, OPT_PREFIX },
		{ "no-file", no_argument, NULL, OPT_NO_FILE },
		{ "no-net", no_argument, NULL, OPT_NO_NET },
		{ "alert-only", no_argument, NULL, OPT_ALERT_ONLY },
		{ "runtime-root", required_argument, NULL, OPT_RUNTIME_ROOT },
		{ "debug-bpf", no_argument, NULL, OPT_DEBUG_BPF },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "rules", required_argument, NULL, OPT_RULES },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "no-state", no_argument, NULL, OPT_NO_STATE },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "check-rules", required_argument, NULL, OPT_CHECK_RULES },
		{ "export-learned", required_argument, NULL, OPT_EXPORT_LEARNED },
		{ "events", no_argument, NULL, OPT_EVENTS },
		{ "aggregator", required_argument, NULL, OPT_AGGREGATOR },
		{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
		{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "plaintext", no_argument, NULL, OPT_PLAINTEXT },
		{ "spool-dir", required_argument, NULL, OPT_SPOOL_DIR },
		{ "spool-max", required_argument, NULL, OPT_SPOOL_MAX },
		{ "nats", required_argument, NULL, OPT_NATS },
		{ "nats-stream", required_argument, NULL, OPT_NATS_STREAM },
		{ "nats-ca", required_argument, NULL, OPT_NATS_CA },
		{ "nats-cert", required_argument, NULL, OPT_NATS_CERT },
		{ "nats-key", required_argument, NULL, OPT_NATS_KEY },
		{ "health-listen", required_argument, NULL, OPT_HEALTH_LISTEN },
		{ 0 },
	};
	static const char *prefixes[MAX_LIST + 1], *roots[MAX_LIST + 1], *rules[MAX_LIST + 1],
		*checks[MAX_LIST + 1];
	size_t n_prefixes = 0, n_roots = 0, n_rules = 0, n_checks = 0;
	const char *export_dir = NULL;
	struct sensor_config cfg = {
		.capture_file = true,
		.capture_net = true,
		.stats_interval = 60,
		.flow_interval = 10,
		.file_prefixes = prefixes,
		.runtime_roots = roots,
		.rules = rules,
		.default_rules = wacht_default_rules,
		.default_rules_len = (size_t)(wacht_default_rules_end - wacht_default_rules),
		.state_dir = "/var/lib/wacht",
		.window = 10,
		.spool_dir = "/var/lib/wacht/spool",
		.nats = { .name = "wacht-sensor" },
	};
	int c;
	/* the same switch for a DaemonSet's environment (a ConfigMap key) */
	const char *ao = getenv("WACHT_ALERT_ONLY");

	if (ao && *ao && strcmp(ao, "0") != 0 && strcmp(ao, "false") != 0)
		cfg.alert_only = true;

	while ((c = getopt_long(argc, argv, "o:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			cfg.output = optarg;
			break;
		case 'v':
			cfg.verbose = true;
			break;
		case OPT_ALERT_ONLY:
			cfg.alert_only = true;
			break;
		case OPT_NODE:
			cfg.node = optarg;
			break;
		case OPT_PEER_GRACE:
			if (parse_seconds("--peer-grace", optarg, 86400, &cfg.peer_grace))
				return 2;
			if (!cfg.peer_grace) {
				fprintf(stderr, "wacht-sensor: --peer-grace: 0 would forget every "
						"node at once; give 1 or more seconds\n");
				return 2;
			}
			break;
		case OPT_FLOW_INTERVAL:
			if (parse_seconds("--flow-interval", optarg, 86400, &cfg.flow_interval))
				return 2;
			break;
		case OPT_STATS:
			if (parse_seconds("--stats-interval", optarg, 86400, &cfg.stats_interval))
				return 2;
			break;
		case OPT_READY:
			cfg.ready_file = optarg;
			break;
		case OPT_HOST:
			cfg.capture_host = true;
			break;
		case OPT_PREFIX:
			if (optarg[0] != '/' || strlen(optarg) > 256 || n_prefixes == MAX_LIST) {
				fprintf(stderr, "wacht-sensor: --file-prefix: '%s' must be an absolute path "
						"of at most 256 bytes (at most %d prefixes)\n", optarg, MAX_LIST);
				return 2;
			}
			prefixes[n_prefixes++] = optarg;
			break;
		case OPT_NO_FILE:
			cfg.capture_file = false;
			break;
		case OPT_NO_NET:
			cfg.capture_net = false;
			break;
		case OPT_RUNTIME_ROOT:
			if (n_roots == MAX_LIST) {
				fprintf(stderr, "wacht-sensor: at most %d --runtime-root\n", MAX_LIST);
				return 2;
			}
			roots[n_roots++] = optarg;
			break;
		case OPT_RULES:
		case OPT_CHECK_RULES:
			if ((c == OPT_RULES ? n_rules : n_checks) == MAX_LIST) {
				fprintf(stderr, "wacht-sensor: at most %d rule paths\n", MAX_LIST);
				return 2;
			}
			if (c == OPT_RULES)
				rules[n_rules++] = optarg;
			else
				checks[n_checks++] = optarg;
			break;
		case OPT_STATE_DIR:
			cfg.state_dir = optarg;
			break;
		case OPT_NO_STATE:
			cfg.state_dir = NULL;
			break;
		case OPT_WINDOW:
			if (parse_seconds("--window", optarg, 3600, &cfg.window))
				return 2;
			break;
		case OPT_EXPORT_LEARNED:
			export_dir = optarg;
			break;
		case OPT_EVENTS:
			cfg.events = true;
			break;
		case OPT_AGGREGATOR:
			cfg.aggregator = optarg;
			break;
		case OPT_TLS_CA:
			cfg.tls.ca = optarg;
			break;
		case OPT_TLS_CERT:
			cfg.tls.cert = optarg;
			break;
		case OPT_TLS_KEY:
			cfg.tls.key = optarg;
			break;
		case OPT_PLAINTEXT:
			cfg.tls.plaintext = true;
			break;
		case OPT_SPOOL_DIR:
			cfg.spool_dir = optarg;
			break;
		case OPT_NATS:
			cfg.nats.url = optarg;
			break;
		case OPT_NATS_STREAM:
			cfg.nats.stream = optarg;
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
		case OPT_SPOOL_MAX: {
			char *end;

			errno = 0;
			cfg.spool_max = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg || optarg[0] == '-' || cfg.spool_max < 4096) {
				fprintf(stderr, "wacht-sensor: --spool-max: '%s' is not a number of bytes "
						"(at least 4096)\n", optarg);
				return 2;
			}
			break;
		}
		case OPT_HEALTH_LISTEN: {
			struct sockaddr_storage ss;

			if (health_parse_listen(optarg, &ss)) {
				fprintf(stderr, "wacht-sensor: --health-listen: '%s' is not ADDR:PORT "
						"(e.g. 0.0.0.0:9090, [::]:9090)\n", optarg);
				return 2;
			}
			cfg.health_listen = optarg;
			break;
		}
		case OPT_DEBUG_BPF:
			cfg.debug_bpf = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("wacht-sensor %s\n", WACHT_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'wacht-sensor --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wacht-sensor: unexpected argument '%s'\nTry 'wacht-sensor --help'.\n",
			argv[optind]);
		return 2;
	}
	if (cfg.aggregator && cfg.nats.url) {
		fprintf(stderr, "wacht-sensor: --aggregator and --nats exclude each other: findings go "
				"to one aggregator over TLS, or to NATS JetStream for replicas\n");
		return 2;
	}
	if (!cfg.nats.url && (cfg.nats.stream || cfg.nats.tls_ca || cfg.nats.tls_cert ||
			      cfg.nats.tls_key)) {
		fprintf(stderr, "wacht-sensor: --nats-stream, --nats-ca, --nats-cert and --nats-key "
				"need --nats URL\n");
		return 2;
	}
	if (!!cfg.nats.tls_cert != !!cfg.nats.tls_key) {
		fprintf(stderr, "wacht-sensor: --nats-cert and --nats-key go together\n");
		return 2;
	}
	if (cfg.aggregator && !cfg.tls.plaintext &&
	    (!cfg.tls.ca || !cfg.tls.cert || !cfg.tls.key)) {
		fprintf(stderr, "wacht-sensor: --aggregator needs --tls-ca, --tls-cert and --tls-key "
				"(or --plaintext, for local development only)\n");
		return 2;
	}
	if (cfg.aggregator && cfg.tls.plaintext)
		fprintf(stderr, "wacht-sensor: WARNING: --plaintext: findings go to the aggregator "
				"unencrypted and unauthenticated. Use TLS in production.\n");
	if (n_checks)
		return check_rules(checks);
	if (export_dir)
		return export_learned(&cfg, export_dir);
	return sensor_run(&cfg);
}
