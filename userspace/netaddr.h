/* SPDX-License-Identifier: Apache-2.0 */
/* netaddr.h: the local addresses of a network namespace, read from
 * /proc/PID/net (fib_trie for IPv4, if_inet6 for IPv6): how the sensor
 * knows which peer address is which container on this node. */
#ifndef WACHT_NETADDR_H
#define WACHT_NETADDR_H

#include <stddef.h>

#include "match.h"

/* Local (non-loopback) addresses in /proc/net/fib_trie text: the address
 * line before each "/32 host LOCAL". Returns how many were stored (at most
 * max; duplicates once). */
size_t netaddr_parse_fib_trie(const char *text, struct entity_addr *out, size_t max);
/* Global and link addresses in /proc/net/if_inet6 text, except ::1. */
size_t netaddr_parse_if_inet6(const char *text, struct entity_addr *out, size_t max);
/* Both, for the network namespace of pid (0: this process). -errno if
 * neither file can be read. */
int netaddr_read(unsigned pid, struct entity_addr *out, size_t max);

#endif
