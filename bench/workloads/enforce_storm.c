// SPDX-License-Identifier: Apache-2.0
/* enforce_storm: the workloads of bench/enforce, with the latency of every
 * operation (static, so it runs in a busybox container):
 *   exec N PROGRAM      fork + execve + waitpid, N times; counts the runs
 *                       killed by SIGKILL (enforcement) and times each
 *   connect N IP PORT   TCP connect + close, N times (IPv4); counts EPERM
 *   serve PORT          accept and close connections until killed
 * Prints one JSON line: ops, seconds, killed/refused, and the latency
 * percentiles (microseconds) of one operation. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void result(const char *op, long n, double secs, long special, const char *special_name,
		   double *lat)
{
	qsort(lat, n, sizeof(*lat), cmp);
	printf("{\"op\":\"%s\",\"ops\":%ld,\"seconds\":%.6f,\"%s\":%ld,\"p50_us\":%.1f,"
	       "\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
	       op, n, secs, special_name, special, lat[n / 2] * 1e6, lat[n * 9 / 10] * 1e6,
	       lat[n * 99 / 100] * 1e6, lat[n - 1] * 1e6);
}

static int do_exec(long n, char *prog)
{
	char *argv[] = { prog, NULL }, *envp[] = { "PATH=/bin", NULL };
	double *lat = calloc(n, sizeof(*lat)), t0 = now_s();
	long killed = 0;

	for (long i = 0; i < n; i++) {
		double t = now_s();
		int st;
		pid_t pid = fork();

		if (pid < 0) {
			perror("enforce_storm: fork");
			return 1;
		}
		if (pid == 0) {
			execve(prog, argv, envp);
			_exit(127);
		}
		if (waitpid(pid, &st, 0) < 0) {
			perror("enforce_storm: waitpid");
			return 1;
		}
		lat[i] = now_s() - t;
		if (WIFSIGNALED(st) && WTERMSIG(st) == 9)
			killed++;
	}
	result("exec", n, now_s() - t0, killed, "killed", lat);
	return 0;
}

static int do_connect(long n, const char *ip, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	double *lat = calloc(n, sizeof(*lat)), t0 = now_s();
	long refused = 0;

	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		fprintf(stderr, "enforce_storm: bad address %s\n", ip);
		return 2;
	}
	for (long i = 0; i < n; i++) {
		double t = now_s();
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			perror("enforce_storm: socket");
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			if (errno != EPERM) {
				perror("enforce_storm: connect");
				return 1;
			}
			refused++;
		}
		close(fd);
		lat[i] = now_s() - t;
	}
	result("connect", n, now_s() - t0, refused, "refused", lat);
	return 0;
}

static int do_serve(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1024)) {
		perror("enforce_storm: listen");
		return 1;
	}
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c >= 0)
			close(c);
	}
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "exec") == 0)
		return do_exec(parse_count("enforce_storm", argv[2]), argv[3]);
	if (argc == 5 && strcmp(argv[1], "connect") == 0)
		return do_connect(parse_count("enforce_storm", argv[2]), argv[3], atoi(argv[4]));
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return do_serve(atoi(argv[2]));
	fprintf(stderr, "usage: enforce_storm exec N PROGRAM | connect N IP PORT | serve PORT\n");
	return 2;
}
