// SPDX-License-Identifier: Apache-2.0
/* tcp_storm: N TCP connections over 127.0.0.1, one at a time. A child
 * process accepts and closes each; the client connects and waits for the
 * server's FIN before closing, so the server side holds TIME_WAIT (client
 * ports are never exhausted) and the accept backlog never overflows. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: tcp_storm N\n");
		return 2;
	}
	long n = parse_count("tcp_storm", argv[1]);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	int one = 1, status;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 128) ||
	    getsockname(ls, (struct sockaddr *)&sa, &salen)) {
		perror("tcp_storm: listen on 127.0.0.1");
		return 1;
	}
	pid_t server = fork();
	if (server < 0) {
		perror("tcp_storm: fork");
		return 1;
	}
	if (server == 0) {
		for (long i = 0; i < n; i++) {
			int c = accept(ls, NULL, NULL);

			if (c < 0) {
				perror("tcp_storm: accept");
				_exit(1);
			}
			close(c);
		}
		_exit(0);
	}
	close(ls);

	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		char buf[16];
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
			perror("tcp_storm: connect");
			kill(server, SIGKILL);
			waitpid(server, NULL, 0);
			return 1;
		}
		/* 0 = the server's FIN: accepted and closed */
		while (read(s, buf, sizeof(buf)) > 0)
			;
		close(s);
	}
	double secs = now_s() - t0;

	if (waitpid(server, &status, 0) != server || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "tcp_storm: server failed (status 0x%x)\n", status);
		return 1;
	}
	report("tcp_storm", n, secs);
	return 0;
}
