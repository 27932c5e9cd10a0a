/* SPDX-License-Identifier: Apache-2.0 */
/* detect.h: the built-in detections' tables (rules/README.md lists them):
 * what is suspicious, what is a package manager or its database, which
 * files are monitored in every container. */
#ifndef WACHT_DETECT_H
#define WACHT_DETECT_H

#include <stdbool.h>

/* nmap, nc, ncat, netcat, socat, sshd, ssh, scp, telnet, in.telnetd,
 * iodine, iodined, dnscat, dns2tcpc, dns2tcpd (exact process name). */
bool detect_suspicious(const char *name);
/* The tables themselves, NULL-terminated (compiled into the kernel's
 * builtin_names map for enforcement). */
const char *const *detect_suspicious_names(void);
const char *const *detect_package_manager_names(void);
/* apt, apt-get, aptitude, dpkg, rpm, yum, dnf, microdnf, apk, zypper. */
bool detect_package_manager(const char *name);
/* su, sudo, doas: expected to make a non-root user root. */
bool detect_escalation_tool(const char *name);
/* The package database a path belongs to ("dpkg", "rpm", "apk"), or NULL. */
const char *detect_package_db(const char *path);
/* Why a path is monitored ("account database", "name resolution",
 * "binary directory", "core library", "ssh keys", "dynamic loader"), or
 * NULL when it is not. */
const char *detect_monitored(const char *path);

#endif
