// SPDX-License-Identifier: Apache-2.0
/* bulk: an iperf-like bulk TCP transfer, for bench/flows: BYTES in writes
 * of WRITE bytes over one connection, timed from the connect to the
 * receiver's close after it read everything (so every byte was delivered),
 * with the CPU time (user + sys) of both ends.
 *
 *   bulk loop ADDR BYTES WRITE        receiver (a forked child listening on
 *                                     ADDR, an address of this netns) and
 *                                     sender in one process tree
 *   bulk recv ADDR PORT               receiver alone (one connection)
 *   bulk send ADDR PORT BYTES WRITE   sender alone
 *
 * Prints one JSON line: {"bytes":N,"seconds":S,"gbps":G,"user_s":U,
 * "sys_s":Y,"port":P,"wire_bytes":W,"retrans_bytes":R} (loop: both ends'
 * CPU; recv/send: its own). wire_bytes: the payload bytes the sender's TCP
 * sent, retransmissions included (TCP_INFO tcpi_bytes_sent), which is what
 * a packet counter sees; 0 from recv. The
 * receiver counts what it read and exits 1 if that is not what the
 * sender announced in its first 8 bytes (part of BYTES). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* tcp_info with tcpi_bytes_sent (glibc's lacks it) */
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static int die(const char *what)
{
	perror(what);
	exit(1);
}

static int listen_on(const char *addr, int port, int *bound_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(sa);
	int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
	    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 1) ||
	    getsockname(s, (struct sockaddr *)&sa, &len))
		die("bulk: listen");
	*bound_port = ntohs(sa.sin_port);
	return s;
}

/* Reads one connection to its end; the count, checked against the first
 * 8 bytes (the total the sender announces). */
static long long receive(int ls)
{
	static char buf[1 << 17];
	long long got = 0, want = -1;
	unsigned char hdr[8];
	size_t hl = 0;
	int c = accept(ls, NULL, NULL);

	if (c < 0)
		die("bulk: accept");
	for (;;) {
		ssize_t n = read(c, buf, sizeof(buf));

		if (n < 0)
			die("bulk: read");
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n && hl < 8; i++)
			hdr[hl++] = (unsigned char)buf[i];
		if (hl == 8 && want < 0) {
			want = 0;
			for (int i = 0; i < 8; i++)
				want = (want << 8) | hdr[i];
		}
		got += n;
	}
	close(c);
	if (got != want) {
		fprintf(stderr, "bulk: received %lld bytes, the sender announced %lld\n", got,
			want);
		exit(1);
	}
	return got;
}

static unsigned long long wire_bytes, retrans_bytes;

static void send_all(const char *addr, int port, long long bytes, long wsize)
{
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char *buf = calloc(1, (size_t)wsize), tmp[16];
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (!buf || s < 0 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		die("bulk: connect");
	for (int i = 0; i < 8; i++)
		buf[i] = (char)(bytes >> (56 - 8 * i));
	for (long long left = bytes; left > 0;) {
		ssize_t n = write(s, buf, (size_t)(left < wsize ? left : wsize));

		if (n <= 0)
			die("bulk: write");
		left -= n;
		if (n >= 8)
			memset(buf, 0, 8); /* the header once */
	}
	/* everything delivered: the receiver closes after reading the end */
	shutdown(s, SHUT_WR);
	while (read(s, tmp, sizeof(tmp)) > 0)
		;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &tl))
		die("bulk: TCP_INFO");
	wire_bytes = ti.tcpi_bytes_sent;
	retrans_bytes = ti.tcpi_bytes_retrans;
	close(s);
	free(buf);
}

static double cpu(int who, double *user, double *sys)
{
	struct rusage ru;

	getrusage(who, &ru);
	*user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
	*sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	return *user + *sys;
}

static void result(long long bytes, double secs, double user, double sys, int port)
{
	printf("{\"bytes\":%lld,\"seconds\":%.6f,\"gbps\":%.3f,\"user_s\":%.3f,\"sys_s\":%.3f,"
	       "\"port\":%d,\"wire_bytes\":%llu,\"retrans_bytes\":%llu}\n",
	       bytes, secs, bytes * 8 / secs / 1e9, user, sys, port, wire_bytes, retrans_bytes);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	double u0, s0, u1, s1, cu, cs;
	int port;

	if (argc == 5 && strcmp(argv[1], "loop") == 0) {
		long long bytes = parse_count("bulk", argv[3]);
		long wsize = parse_count("bulk", argv[4]);
		int ls = listen_on(argv[2], 0, &port), status;

		pid_t child = fork();
		if (child < 0)
			die("bulk: fork");
		if (child == 0)
			_exit(receive(ls) == bytes ? 0 : 1);
		close(ls);
		cpu(RUSAGE_SELF, &u0, &s0);
		double t0 = now_s();
		send_all(argv[2], port, bytes, wsize);
		double t1 = now_s();
		if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			return 1;
		cpu(RUSAGE_SELF, &u1, &s1);
		cpu(RUSAGE_CHILDREN, &cu, &cs);
		result(bytes, t1 - t0, u1 - u0 + cu, s1 - s0 + cs, port);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "recv") == 0) {
		int ls = listen_on(argv[2], (int)parse_count("bulk", argv[3]), &port);

		printf("listening\n");
		fflush(stdout);
		double t0 = now_s();
		long long got = receive(ls);
		cpu(RUSAGE_SELF, &u1, &s1);
		result(got, now_s() - t0, u1, s1, port);
		return 0;
	}
	if (argc == 6 && strcmp(argv[1], "send") == 0) {
		long long bytes = parse_count("bulk", argv[4]);

		port = (int)parse_count("bulk", argv[3]);
		double t0 = now_s();
		send_all(argv[2], port, bytes, parse_count("bulk", argv[5]));
		cpu(RUSAGE_SELF, &u1, &s1);
		result(bytes, now_s() - t0, u1, s1, port);
		return 0;
	}
	fprintf(stderr, "usage: bulk loop ADDR BYTES WRITE | recv ADDR PORT | "
			"send ADDR PORT BYTES WRITE\n");
	return 2;
}
