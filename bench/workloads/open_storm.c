// SPDX-License-Identifier: Apache-2.0
/* open_storm: open(2) + close(2) N times, cycling through PATH... (each must
 * exist and be readable): the syscall pair every file monitor hooks. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: open_storm N PATH...\n");
		return 2;
	}
	long n = parse_count("open_storm", argv[1]);
	char **paths = argv + 2;
	int npaths = argc - 2;

	for (int i = 0; i < npaths; i++) {
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			fprintf(stderr, "open_storm: %s: %s\n", paths[i], strerror(errno));
			return 1;
		}
		close(fd);
	}
	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		int fd = open(paths[i % npaths], O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			fprintf(stderr, "open_storm: %s: %s\n", paths[i % npaths], strerror(errno));
			return 1;
		}
		close(fd);
	}
	report("open_storm", n, now_s() - t0);
	return 0;
}
