/* SPDX-License-Identifier: Apache-2.0 */
/* clock.h: the clocks as nanoseconds. Boot time is the kernel's
 * bpf_ktime_get_boot_ns() (event timestamps, the flow map); real time is
 * unix time for what leaves the node. */
#ifndef WACHT_CLOCK_H
#define WACHT_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline int64_t clock_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif
