/* SPDX-License-Identifier: Apache-2.0 */
/* endpoint.h: "HOST:PORT" command-line addresses, split for getaddrinfo. */
#ifndef WACHT_ENDPOINT_H
#define WACHT_ENDPOINT_H

#include <stddef.h>

/*
 * Splits "host:port", "[v6addr]:port" or ":port" (host "" then: any
 * address) into host and port. The port must be a number from 1 to 65535.
 * 0, or -EINVAL for anything else (-ENAMETOOLONG if a part does not fit).
 */
int endpoint_split(const char *s, char *host, size_t host_len, char *port, size_t port_len);

#endif /* WACHT_ENDPOINT_H */
