// SPDX-License-Identifier: Apache-2.0
/* test_detect.c: unit tests of the built-in detections' tables: every
 * entry, and the near misses that must not match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "detect.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_suspicious(void **state)
{
	static const char *const yes[] = {
		"nmap", "nc", "ncat", "netcat", "socat", "sshd", "ssh", "scp", "telnet", "in.telnetd",
		"iodine", "iodined", "dnscat", "dns2tcpc", "dns2tcpd",
	};
	static const char *const no[] = {
		"", "n", "ncx", "nc ", " nc", "NC", "Nmap", "nc.openbsd", "ncat2", "netcat-traditional",
		"sshfs", "ssh-keygen", "ssh-agent", "sftp", "scpx", "telnetd", "dnscat2", "dns2tcp",
		"iodine-client", "/usr/bin/nc", "socat1", "bash", "sh", "curl",
	};

	(void)state;
	for (size_t i = 0; i < N(yes); i++) {
		if (!detect_suspicious(yes[i]))
			fprintf(stderr, "not suspicious: %s\n", yes[i]);
		assert_true(detect_suspicious(yes[i]));
	}
	for (size_t i = 0; i < N(no); i++) {
		if (detect_suspicious(no[i]))
			fprintf(stderr, "suspicious: \"%s\"\n", no[i]);
		assert_false(detect_suspicious(no[i]));
	}
}

static void test_package_manager(void **state)
{
	static const char *const yes[] = {
		"apt", "apt-get", "aptitude", "dpkg", "rpm", "yum", "dnf", "microdnf", "apk", "zypper",
	};
	static const char *const no[] = {
		"", "ap", "apt-cache", "apt-key", "dpkg-query", "dpkg-deb", "rpm2cpio", "rpmbuild",
		"yum-config-manager", "dnf5", "apk-tools", "APT", "/usr/bin/apt", "pip", "npm",
	};

	(void)state;
	for (size_t i = 0; i < N(yes); i++)
		assert_true(detect_package_manager(yes[i]));
	for (size_t i = 0; i < N(no); i++) {
		if (detect_package_manager(no[i]))
			fprintf(stderr, "package manager: \"%s\"\n", no[i]);
		assert_false(detect_package_manager(no[i]));
	}
}

static void test_escalation_tool(void **state)
{
	static const char *const no[] = { "", "s", "sux", "sudox", "Sudo", "doas2", "/bin/su", "sh" };

	(void)state;
	assert_true(detect_escalation_tool("su"));
	assert_true(detect_escalation_tool("sudo"));
	assert_true(detect_escalation_tool("doas"));
	for (size_t i = 0; i < N(no); i++)
		assert_false(detect_escalation_tool(no[i]));
}

static void test_package_db(void **state)
{
	static const struct {
		const char *path, *want;
	} cases[] = {
		{ "/var/lib/dpkg", "dpkg" },
		{ "/var/lib/dpkg/status", "dpkg" },
		{ "/var/lib/dpkg/info/bash.list", "dpkg" },
		{ "/var/lib/dpkg/updates/0001", "dpkg" },
		{ "/var/lib/rpm", "rpm" },
		{ "/var/lib/rpm/Packages", "rpm" },
		{ "/var/lib/rpm/rpmdb.sqlite", "rpm" },
		{ "/usr/lib/sysimage/rpm", "rpm" },
		{ "/usr/lib/sysimage/rpm/rpmdb.sqlite", "rpm" },
		{ "/lib/apk/db", "apk" },
		{ "/lib/apk/db/installed", "apk" },
		{ "/lib/apk/db/lock", "apk" },
		/* near misses */
		{ "", NULL },
		{ "/", NULL },
		{ "/var/lib", NULL },
		{ "/var/lib/dpkgx", NULL },
		{ "/var/lib/dpkg.bak/status", NULL },
		{ "/var/lib/rpmstate/x", NULL },
		{ "/var/lib/rpm-state", NULL },
		{ "/usr/lib/sysimage/rpmx", NULL },
		{ "/usr/lib/sysimage", NULL },
		{ "/lib/apk", NULL },
		{ "/lib/apk/dbx", NULL },
		{ "/lib/apk/keys/x.pub", NULL },
		{ "var/lib/dpkg/status", NULL },
		{ "/srv/var/lib/dpkg/status", NULL },
		{ "/var/cache/apt/archives/x.deb", NULL },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		const char *got = detect_package_db(cases[i].path);
		if (!cases[i].want) {
			if (got)
				fprintf(stderr, "package db %s: %s\n", cases[i].path, got);
			assert_null(got);
		} else {
			if (!got)
				fprintf(stderr, "package db %s: NULL\n", cases[i].path);
			assert_non_null(got);
			assert_string_equal(got, cases[i].want);
		}
	}
}

static void test_monitored(void **state)
{
	static const struct {
		const char *path, *want;
	} cases[] = {
		{ "/etc/passwd", "account database" },
		{ "/etc/shadow", "account database" },
		{ "/etc/group", "account database" },
		{ "/etc/gshadow", "account database" },
		{ "/etc/sudoers", "account database" },
		{ "/etc/sudoers.d", "account database" },
		{ "/etc/sudoers.d/90-cloud-init-users", "account database" },
		{ "/etc/hosts", "name resolution" },
		{ "/etc/resolv.conf", "name resolution" },
		{ "/etc/nsswitch.conf", "name resolution" },
		{ "/etc/ld.so.preload", "dynamic loader" },
		{ "/etc/ld.so.conf", "dynamic loader" },
		{ "/etc/ld.so.conf.d", "dynamic loader" },
		{ "/etc/ld.so.conf.d/x86_64-linux-gnu.conf", "dynamic loader" },
		{ "/bin", "binary directory" },
		{ "/bin/sh", "binary directory" },
		{ "/sbin/init", "binary directory" },
		{ "/usr/bin/curl", "binary directory" },
		{ "/usr/bin/x/y/z", "binary directory" },
		{ "/usr/sbin/nginx", "binary directory" },
		{ "/usr/local/bin/app", "binary directory" },
		{ "/usr/local/sbin/tool", "binary directory" },
		{ "/lib/x86_64-linux-gnu/libc.so.6", "core library" },
		{ "/lib/ld-musl-x86_64.so.1", "core library" },
		{ "/lib64/ld-linux-x86-64.so.2", "core library" },
		{ "/lib64/ld-2.31", "core library" },
		{ "/usr/lib/libssl.so.3", "core library" },
		{ "/usr/lib/x86_64-linux-gnu/security/pam_unix.so", "core library" },
		{ "/usr/lib64/libz.so", "core library" },
		{ "/usr/local/lib/libfoo.so.1.2", "core library" },
		{ "/root/.ssh", "ssh keys" },
		{ "/root/.ssh/authorized_keys", "ssh keys" },
		{ "/home/u/.ssh/id_ed25519", "ssh keys" },
		{ "/.ssh", "ssh keys" },
		{ "/home/.ssh-users/alice/.ssh/authorized_keys", "ssh keys" }, /* a later .ssh */
		/* near misses */
		{ "", NULL },
		{ "/", NULL },
		{ "/etc", NULL },
		{ "/etc/passwd-", NULL },
		{ "/etc/passwdx", NULL },
		{ "/etc/group.lock", NULL },
		{ "/etc/passwd/x", NULL },
		{ "/home/etc/passwd", NULL },
		{ "/etc/sudoers.dx", NULL },
		{ "/etc/hostsx", NULL },
		{ "/etc/hosts.allow", NULL },
		{ "/etc/hostname", NULL },
		{ "/etc/resolv.conf.bak", NULL },
		{ "/etc/ld.so.cache", NULL },
		{ "/etc/ld.so.conf.dx", NULL },
		{ "/binx", NULL },
		{ "/binx/y", NULL },
		{ "/sbinx/y", NULL },
		{ "/usr/binx/y", NULL },
		{ "/usr/local/binx", NULL },
		{ "/opt/bin/x", NULL },
		{ "/usr/share/bin/x", NULL },
		{ "/lib", NULL },
		{ "/usr/lib/python3/x.py", NULL },
		{ "/usr/lib/os-release", NULL },
		{ "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache", NULL },
		{ "/usr/libexec/a.so", NULL },
		{ "/libx/a.so", NULL },
		{ "/usr/share/lib/a.so", NULL },
		{ "/opt/app/lib/a.so", NULL },
		{ "/home/u/.sshx", NULL },
		{ "/home/u/.sshx/authorized_keys", NULL },
		{ "/home/u/ssh/authorized_keys", NULL },
		{ "/home/u/x.ssh/k", NULL },
		{ "/tmp/out", NULL },
		{ "/var/log/app.log", NULL },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		const char *got = detect_monitored(cases[i].path);
		if (!cases[i].want) {
			if (got)
				fprintf(stderr, "monitored %s: %s\n", cases[i].path, got);
			assert_null(got);
		} else {
			if (!got || strcmp(got, cases[i].want) != 0)
				fprintf(stderr, "monitored %s: %s, want %s\n", cases[i].path,
					got ? got : "NULL", cases[i].want);
			assert_non_null(got);
			assert_string_equal(got, cases[i].want);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suspicious),
		cmocka_unit_test(test_package_manager),
		cmocka_unit_test(test_escalation_tool),
		cmocka_unit_test(test_package_db),
		cmocka_unit_test(test_monitored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
