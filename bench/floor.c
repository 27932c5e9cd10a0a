// SPDX-License-Identifier: Apache-2.0
/* floor.c: load bench/floor.bpf.o (Wacht's hooks, empty programs), attach
 * every program, wait for SIGINT/SIGTERM, detach. The benchmark's "floor":
 * what any sensor on these hooks costs before it does any work. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <bpf/libbpf.h>

#define MAX_LINKS 256
#define TRACEFS "/sys/kernel/tracing"

/* libbpf finds syscalls:* tracepoint ids through tracefs. Mount it if no one
 * has; returns 1 when mounted here (unmount once attached: an attached
 * tracepoint does not need the mount). */
static int tracefs_ensure(void)
{
	if (access(TRACEFS "/events/syscalls", F_OK) == 0 ||
	    access("/sys/kernel/debug/tracing/events/syscalls", F_OK) == 0)
		return 0;
	if (mount("tracefs", TRACEFS, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		fprintf(stderr, "floor: failed to mount tracefs at %s: %s\n", TRACEFS,
			strerror(errno));
		return -1;
	}
	return 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: floor [--ready-file FILE] [OBJECT]\n"
"Attach every program of OBJECT (default: floor.bpf.o next to this binary)\n"
"and keep them attached until SIGINT or SIGTERM.\n");
}

static int write_ready(const char *path, size_t n_links)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "we")))
		return -errno;
	fprintf(f, "pid %d\nlinks %zu\n", getpid(), n_links);
	if (fclose(f))
		return -errno;
	return rename(tmp, path) ? -errno : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ready-file", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct bpf_link *links[MAX_LINKS];
	const char *ready = NULL;
	char objpath[4096];
	struct bpf_object *obj = NULL;
	struct bpf_program *prog;
	size_t n_links = 0, n_skipped = 0;
	int c, err, ret = 1, tracefs_here = 0;
	sigset_t mask;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			ready = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		snprintf(objpath, sizeof(objpath), "%s", argv[optind]);
	} else {
		ssize_t n = readlink("/proc/self/exe", objpath, sizeof(objpath) - 32);
		char *slash;

		if (n < 0) {
			fprintf(stderr, "floor: failed to read /proc/self/exe: %s\n", strerror(errno));
			return 1;
		}
		objpath[n] = 0;
		slash = strrchr(objpath, '/');
		strcpy(slash ? slash + 1 : objpath, "floor.bpf.o");
	}

	/* block before attaching, so a signal during load is not lost */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	libbpf_set_print(libbpf_print);
	obj = bpf_object__open_file(objpath, NULL);
	if (!obj) {
		err = -errno;
		fprintf(stderr, "floor: failed to open BPF object %s: %s\n", objpath, strerror(-err));
		return 1;
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "floor: failed to load BPF object %s: %s\n", objpath, strerror(-err));
		goto out;
	}
	bpf_object__for_each_program(prog, obj) {
		if (strncmp(bpf_program__section_name(prog), "tp/", 3) == 0) {
			tracefs_here = tracefs_ensure();
			if (tracefs_here < 0)
				goto out;
			break;
		}
	}
	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		struct bpf_link *link;

		if (n_links == MAX_LINKS) {
			fprintf(stderr, "floor: more than %d programs\n", MAX_LINKS);
			goto out;
		}
		link = bpf_program__attach(prog);
		if (!link) {
			err = -errno;
			/* as Wacht's loader: a syscall this kernel lacks has no tracepoint */
			if (err == -ENOENT && strncmp(sec, "tp/syscalls/", 12) == 0) {
				fprintf(stderr, "floor: no tracepoint %s on this kernel, skipped\n",
					sec + 3);
				n_skipped++;
				continue;
			}
			fprintf(stderr, "floor: failed to attach %s: %s\n", bpf_program__name(prog),
				strerror(-err));
			goto out;
		}
		links[n_links++] = link;
	}
	if (tracefs_here == 1) {
		if (umount2(TRACEFS, MNT_DETACH))
			fprintf(stderr, "floor: failed to unmount %s: %s\n", TRACEFS, strerror(errno));
		tracefs_here = 0;
	}
	if (ready && (err = write_ready(ready, n_links))) {
		fprintf(stderr, "floor: failed to write ready file %s: %s\n", ready, strerror(-err));
		goto out;
	}
	fprintf(stderr, "floor: %zu programs attached (%zu skipped)\n", n_links, n_skipped);

	for (;;) {
		int sig;

		if (sigwait(&mask, &sig) == 0 && (sig == SIGINT || sig == SIGTERM))
			break;
	}
	ret = 0;
out:
	if (tracefs_here == 1)
		umount2(TRACEFS, MNT_DETACH);
	while (n_links > 0)
		bpf_link__destroy(links[--n_links]);
	bpf_object__close(obj);
	if (ready)
		unlink(ready);
	return ret;
}
