/* SPDX-License-Identifier: Apache-2.0 */
/* sysenv.h: what the sensor needs from the host, checked with clear errors. */
#ifndef WACHT_SYSENV_H
#define WACHT_SYSENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Checks privileges and BTF; prints what to do and returns -errno if not. */
int sysenv_check(void);
/* Inode number of the host's mount namespace (/proc/1/ns/mnt), or -errno. */
int64_t sysenv_host_mntns(void);
/* Where cgroup v2 is mounted. Mounts it under /run/wacht/cgroup2 when it is
 * not mounted anywhere (*mounted_here = 1; call sysenv_unmount_cgroup2). */
int sysenv_cgroup2_root(char *buf, size_t size, int *mounted_here);
void sysenv_unmount_cgroup2(const char *path);
/* Makes tracefs reachable where libbpf looks for it (/sys/kernel/tracing,
 * or debugfs's tracing/): the syscall tracepoints are attached by the ids in
 * their events/ directories. Mounts it when absent (*mounted_here = 1; call
 * sysenv_unmount_tracefs at exit). Prints what to do and returns -errno. */
int sysenv_tracefs(int *mounted_here);
void sysenv_unmount_tracefs(void);
/* Whether tracefs has events/CATEGORY/EVENT (after sysenv_tracefs). */
bool sysenv_tracepoint_exists(const char *category, const char *event);
/* Node name: $NODE_NAME (downward API), else the host name. */
void sysenv_node_name(char *buf, size_t size);
/* CLOCK_REALTIME - CLOCK_BOOTTIME, to turn BPF timestamps into wall time. */
int64_t sysenv_boot_to_real_ns(void);

#endif
