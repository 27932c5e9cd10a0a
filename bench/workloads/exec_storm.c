// SPDX-License-Identifier: Apache-2.0
/* exec_storm: fork + execve PROGRAM (default /bin/true) N times, one at a
 * time, waiting for each child: process creation as a shell script does it. */
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "common.h"

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: exec_storm N [PROGRAM]\n");
		return 2;
	}
	long n = parse_count("exec_storm", argv[1]);
	char *prog = argc == 3 ? argv[2] : "/bin/true";
	char *cargv[] = { prog, NULL };
	char *cenv[] = { "PATH=/usr/bin:/bin", NULL };

	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0) {
			perror("exec_storm: fork");
			return 1;
		}
		if (pid == 0) {
			execve(prog, cargv, cenv);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) != pid) {
			perror("exec_storm: waitpid");
			return 1;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "exec_storm: %s failed (status 0x%x)\n", prog, status);
			return 1;
		}
	}
	report("exec_storm", n, now_s() - t0);
	return 0;
}
