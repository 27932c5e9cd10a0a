// SPDX-License-Identifier: Apache-2.0
/* detect.c: the built-in detections' tables. */
#include <string.h>

#include "detect.h"

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* NeuVector's list of suspicious processes: scanners, raw tunnels, remote
 * shells and DNS tunnels. */
static const char *const suspicious[] = {
	"nmap", "nc", "ncat", "netcat", "socat", "sshd", "ssh", "scp", "telnet", "in.telnetd",
	"iodine", "iodined", "dnscat", "dns2tcpc", "dns2tcpd", NULL,
};
static const char *const package_managers[] = {
	"apt", "apt-get", "aptitude", "dpkg", "rpm", "yum", "dnf", "microdnf", "apk", "zypper", NULL,
};
static const char *const escalation_tools[] = { "su", "sudo", "doas", NULL };

const char *const *detect_suspicious_names(void)
{
	return suspicious;
}

const char *const *detect_package_manager_names(void)
{
	return package_managers;
}

bool detect_suspicious(const char *name)
{
	return in_list(suspicious, name);
}

bool detect_package_manager(const char *name)
{
	return in_list(package_managers, name);
}

bool detect_escalation_tool(const char *name)
{
	return in_list(escalation_tools, name);
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == 0);
}

const char *detect_package_db(const char *path)
{
	if (under(path, "/var/lib/dpkg"))
		return "dpkg";
	if (under(path, "/var/lib/rpm") || under(path, "/usr/lib/sysimage/rpm"))
		return "rpm";
	if (under(path, "/lib/apk/db"))
		return "apk";
	return NULL;
}

static const char *const accounts[] = {
	"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/sudoers", NULL,
};
static const char *const resolution[] = { "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", NULL };
static const char *const bin_dirs[] = {
	"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", NULL,
};
static const char *const lib_dirs[] = { "/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", NULL };

const char *detect_monitored(const char *path)
{
	/* cheap rejects first: every monitored path is under /etc, a bin or
	 * lib directory, or has a .ssh component */
	if (in_list(accounts, path) || under(path, "/etc/sudoers.d"))
		return "account database";
	if (in_list(resolution, path))
		return "name resolution";
	if (strcmp(path, "/etc/ld.so.preload") == 0 || strcmp(path, "/etc/ld.so.conf") == 0 ||
	    under(path, "/etc/ld.so.conf.d"))
		return "dynamic loader";
	for (const char *const *d = bin_dirs; *d; d++)
		if (under(path, *d))
			return "binary directory";
	for (const char *const *d = lib_dirs; *d; d++) {
		if (!under(path, *d))
			continue;
		/* shared objects and the loader, not caches or data files */
		const char *base = strrchr(path, '/');
		if (strstr(base, ".so") || strncmp(base, "/ld-", 4) == 0)
			return "core library";
	}
	for (const char *ssh = strstr(path, "/.ssh"); ssh; ssh = strstr(ssh + 1, "/.ssh"))
		if (ssh[5] == '/' || ssh[5] == 0)
			return "ssh keys";
	return NULL;
}
