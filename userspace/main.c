// SPDX-License-Identifier: Apache-2.0
/* main.c: command line of wacht-sensor; wiring only. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensor.h"

#define MAX_LIST 64

static void usage(FILE *f)
{
	fprintf(f,
"Usage: wacht-sensor [OPTION]...\n"
"Watch every container on this node with eBPF: process executions, file\n"
"access and network connections, attributed to their pod, as JSON lines.\n"
"\n"
"Output\n"
"  -o, --output FILE        append JSON lines to FILE (default: standard output)\n"
"  -v, --verbose            also print fork, exit and cgroup events (default:\n"
"                           exec, file and network events)\n"
"      --node NAME          node name in every record (default: $NODE_NAME,\n"
"                           else the host name)\n"
"      --stats-interval SEC print a stats line (events delivered and dropped,\n"
"                           per type and reason) every SEC seconds; 0 = only\n"
"                           at exit (default: 60)\n"
"      --ready-file FILE    create FILE once the programs are attached and the\n"
"                           existing containers are known; removed at exit\n"
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
"syscall; mounts tracefs at /sys/kernel/tracing if it is not mounted (and\n"
"unmounts it at exit); pins nothing. SIGINT or SIGTERM detaches everything\n"
"and prints final counters. Exit status: 0 after a signal, 1 when it cannot\n"
"start, 2 on a usage error.\n");
}

enum {
	OPT_NODE = 256, OPT_STATS, OPT_READY, OPT_HOST, OPT_PREFIX, OPT_NO_FILE, OPT_NO_NET,
	OPT_RUNTIME_ROOT, OPT_DEBUG_BPF, OPT_VERSION,
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "node", required_argument, NULL, OPT_NODE },
		{ "stats-interval", required_argument, NULL, OPT_STATS },
		{ "ready-file", required_argument, NULL, OPT_READY },
		{ "host", no_argument, NULL, OPT_HOST },
		{ "file-prefix", required_argument, NULL, OPT_PREFIX },
		{ "no-file", no_argument, NULL, OPT_NO_FILE },
		{ "no-net", no_argument, NULL, OPT_NO_NET },
		{ "runtime-root", required_argument, NULL, OPT_RUNTIME_ROOT },
		{ "debug-bpf", no_argument, NULL, OPT_DEBUG_BPF },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	static const char *prefixes[MAX_LIST + 1], *roots[MAX_LIST + 1];
	size_t n_prefixes = 0, n_roots = 0;
	struct sensor_config cfg = {
		.capture_file = true,
		.capture_net = true,
		.stats_interval = 60,
		.file_prefixes = prefixes,
		.runtime_roots = roots,
	};
	int c;

	while ((c = getopt_long(argc, argv, "o:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			cfg.output = optarg;
			break;
		case 'v':
			cfg.verbose = true;
			break;
		case OPT_NODE:
			cfg.node = optarg;
			break;
		case OPT_STATS: {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || v > 86400) {
				fprintf(stderr, "wacht-sensor: --stats-interval: '%s' is not a number of "
						"seconds from 0 to 86400\n", optarg);
				return 2;
			}
			cfg.stats_interval = v;
			break;
		}
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
	return sensor_run(&cfg);
}
