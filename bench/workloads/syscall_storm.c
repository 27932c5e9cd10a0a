// SPDX-License-Identifier: Apache-2.0
/* syscall_storm: getppid(2) N times. A syscall no sensor reports: what the
 * syscall hooks cost every other syscall of every task. */
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: syscall_storm N\n");
		return 2;
	}
	long n = parse_count("syscall_storm", argv[1]);

	double t0 = now_s();
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	report("syscall_storm", n, now_s() - t0);
	return 0;
}
