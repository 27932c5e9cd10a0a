// SPDX-License-Identifier: Apache-2.0
/* sysenv.c: privileges, BTF, cgroup v2 mount, node name, clocks. */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <linux/capability.h>
#include <sys/syscall.h>

#include "sysenv.h"

#define WACHT_CGROUP2_MNT "/run/wacht/cgroup2"

static int has_cap(int cap)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data))
		return 0;
	return !!(data[cap / 32].effective & (1u << (cap % 32)));
}

int sysenv_check(void)
{
	struct stat st;

	/* CAP_BPF (39) and CAP_PERFMON (38) suffice for loading on 5.8+, but
	 * reading other tasks' memory and cgroup state needs CAP_SYS_ADMIN */
	if (geteuid() != 0 && !(has_cap(CAP_SYS_ADMIN) && has_cap(38) && has_cap(39))) {
		fprintf(stderr,
			"wacht-sensor: must run as root (or with CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON\n"
			"  and CAP_SYS_RESOURCE): it loads eBPF programs into the kernel.\n"
			"  Try: sudo %s\n",
			"wacht-sensor");
		return -EPERM;
	}
	if (stat("/sys/kernel/btf/vmlinux", &st)) {
		int err = -errno;
		fprintf(stderr,
			"wacht-sensor: kernel BTF not found at /sys/kernel/btf/vmlinux: %s\n"
			"  Wacht relocates its programs with CO-RE against the running kernel's BTF.\n"
			"  Use a kernel built with CONFIG_DEBUG_INFO_BTF=y (RHEL/RHCOS 8.2+, Debian 11+,\n"
			"  Ubuntu 20.10+); if /sys is not mounted in this container, mount the host's\n"
			"  /sys/kernel/btf.\n",
			strerror(-err));
		return err;
	}
	return 0;
}

/* Whether /proc/2 is kthreadd: PID 2 of the initial PID namespace, the
 * parent (PPid 0) of every kernel thread. */
static bool pid2_is_kthreadd(void)
{
	char buf[256];
	FILE *f = fopen("/proc/2/stat", "re");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	int ppid = -1;

	if (f)
		fclose(f);
	buf[n] = 0;
	const char *end = strrchr(buf, ')');
	return strncmp(buf, "2 (kthreadd)", 12) == 0 && end && sscanf(end + 1, " %*c %d", &ppid) == 1 &&
	       ppid == 0;
}

int64_t sysenv_host_mntns(void)
{
	struct stat st;

	/* /proc/1 is the host's init when the sensor runs with hostPID (as the
	 * DaemonSet does) or directly on the node */
	if (stat("/proc/1/ns/mnt", &st) == 0)
		return (int64_t)st.st_ino;
	/* PID 1 can be protected from inspection (the non-dumpable init of a
	 * VM sandbox, whose capabilities exceed ours). Kernel threads live in
	 * the initial mount namespace, where such an init and the node's
	 * runtimes are; the sensor's own namespace is the host's only when it
	 * runs directly on the node, not in a pod. */
	if (errno == EACCES || errno == EPERM) {
		if (pid2_is_kthreadd() && stat("/proc/2/ns/mnt", &st) == 0) {
			fprintf(stderr, "wacht-sensor: /proc/1/ns/mnt is not readable; taking kthreadd's "
					"(/proc/2/ns/mnt) mount namespace as the host's\n");
			return (int64_t)st.st_ino;
		}
		if (stat("/proc/self/ns/mnt", &st) == 0) {
			fprintf(stderr, "wacht-sensor: /proc/1/ns/mnt and /proc/2/ns/mnt are not readable; "
					"taking this process's mount namespace as the host's\n");
			return (int64_t)st.st_ino;
		}
	}
	{
		int err = -errno;
		fprintf(stderr,
			"wacht-sensor: failed to read the host mount namespace (/proc/1/ns/mnt): %s\n"
			"  Run in the host PID namespace (hostPID: true) with the host's /proc.\n",
			strerror(-err));
		return err;
	}
}

/*
 * What the sensor mounts (cgroup2, tracefs when absent) it mounts in a mount
 * namespace of its own, made on first need: no other process sees those
 * mounts, they vanish with the sensor even if it is killed, and another
 * sensor or tool that mounts or unmounts the same file systems meanwhile
 * cannot pull them away from this one. Mounts stay slaves of the host's,
 * so runtimes' new state directories and mounts still show here. The host
 * mount namespace was recorded before (sysenv_host_mntns).
 */
static int private_mounts(void)
{
	static bool done;

	if (done)
		return 0;
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL)) {
		int err = -errno;
		fprintf(stderr, "wacht-sensor: failed to make a private mount namespace: %s\n",
			strerror(-err));
		errno = -err;
		return err;
	}
	done = true;
	return 0;
}

int sysenv_cgroup2_root(char *buf, size_t size, int *mounted_here)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int err;

	*mounted_here = 0;
	if (!f) {
		err = -errno;
		fprintf(stderr, "wacht-sensor: failed to read /proc/self/mountinfo: %s\n", strerror(-err));
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		/* "36 35 0:31 / /sys/fs/cgroup rw,... - cgroup2 cgroup2 rw" */
		char root[1024], mnt[1024], fstype[64];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*d %*d %*s %1023s %1023s", root, mnt) != 2 ||
		    sscanf(sep + 3, "%63s", fstype) != 1)
			continue;
		if (strcmp(fstype, "cgroup2") == 0 && strcmp(root, "/") == 0) {
			snprintf(buf, size, "%s", mnt);
			fclose(f);
			return 0;
		}
	}
	fclose(f);

	if (private_mounts())
		goto mount_fail;
	if (mkdir("/run/wacht", 0700) && errno != EEXIST)
		goto mount_fail;
	if (mkdir(WACHT_CGROUP2_MNT, 0700) && errno != EEXIST)
		goto mount_fail;
	if (mount("cgroup2", WACHT_CGROUP2_MNT, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
		goto mount_fail;
	snprintf(buf, size, "%s", WACHT_CGROUP2_MNT);
	*mounted_here = 1;
	return 0;
mount_fail:
	err = -errno;
	fprintf(stderr,
		"wacht-sensor: cgroup v2 is not mounted and mounting it at %s failed: %s\n"
		"  Wacht attributes events to containers by their cgroup v2 id. Mount it\n"
		"  (mount -t cgroup2 none /sys/fs/cgroup/unified) or give the sensor the host's\n"
		"  /sys/fs/cgroup.\n",
		WACHT_CGROUP2_MNT, strerror(-err));
	return err;
}

void sysenv_unmount_cgroup2(const char *path)
{
	if (umount2(path, MNT_DETACH))
		fprintf(stderr, "wacht-sensor: failed to unmount %s: %s\n", path, strerror(errno));
	rmdir(path);
}

#define TRACEFS "/sys/kernel/tracing"
#define DEBUGFS_TRACING "/sys/kernel/debug/tracing"

int sysenv_tracefs(int *mounted_here)
{
	*mounted_here = 0;
	if (access(TRACEFS "/events/syscalls", F_OK) == 0 ||
	    access(DEBUGFS_TRACING "/events/syscalls", F_OK) == 0)
		return 0;
	if (access(TRACEFS, F_OK) != 0 || private_mounts() ||
	    mount("tracefs", TRACEFS, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		int err = -errno;
		fprintf(stderr,
			"wacht-sensor: tracefs is not mounted and mounting it at %s failed: %s\n"
			"  The syscall tracepoints are found through tracefs. Mount it\n"
			"  (mount -t tracefs tracefs %s) or give the sensor the host's\n"
			"  /sys/kernel/tracing (hostPath) and CAP_SYS_ADMIN.\n",
			TRACEFS, strerror(-err), TRACEFS);
		return err;
	}
	*mounted_here = 1;
	if (access(TRACEFS "/events/syscalls", F_OK) != 0) {
		fprintf(stderr,
			"wacht-sensor: %s has no events/syscalls: this kernel was built without\n"
			"  CONFIG_FTRACE_SYSCALLS, which Wacht needs for file and network events.\n",
			TRACEFS);
		sysenv_unmount_tracefs();
		*mounted_here = 0;
		return -ENOENT;
	}
	return 0;
}

void sysenv_unmount_tracefs(void)
{
	/* lazily: attached tracepoints do not need the mount */
	if (umount2(TRACEFS, MNT_DETACH))
		fprintf(stderr, "wacht-sensor: failed to unmount %s: %s\n", TRACEFS, strerror(errno));
}

bool sysenv_tracepoint_exists(const char *category, const char *event)
{
	static const char *const roots[] = { TRACEFS, DEBUGFS_TRACING };
	char path[512];

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		snprintf(path, sizeof(path), "%s/events/%s/%s", roots[i], category, event);
		if (access(path, F_OK) == 0)
			return true;
	}
	return false;
}

void sysenv_node_name(char *buf, size_t size)
{
	const char *env = getenv("NODE_NAME");
	struct utsname u;

	if (env && *env) {
		snprintf(buf, size, "%s", env);
		return;
	}
	if (uname(&u) == 0)
		snprintf(buf, size, "%s", u.nodename);
	else
		snprintf(buf, size, "unknown");
}

int64_t sysenv_boot_to_real_ns(void)
{
	struct timespec r, b;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_BOOTTIME, &b);
	return ((int64_t)r.tv_sec - b.tv_sec) * 1000000000LL + (r.tv_nsec - b.tv_nsec);
}
