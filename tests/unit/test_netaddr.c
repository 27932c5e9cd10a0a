// SPDX-License-Identifier: Apache-2.0
/* test_netaddr.c: unit tests of reading a network namespace's local
 * addresses from /proc/net/fib_trie and /proc/net/if_inet6 text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "netaddr.h"

/* /proc/net/fib_trie of a pod (one interface, 192.0.2.2/24), as read on
 * the build machine: the address appears in Main and in Local. */
static const char fib_one[] =
	"Main:\n"
	"  +-- 0.0.0.0/0 3 0 5\n"
	"     |-- 0.0.0.0\n"
	"        /0 universe UNICAST\n"
	"     +-- 127.0.0.0/8 2 0 2\n"
	"        +-- 127.0.0.0/31 1 0 0\n"
	"           |-- 127.0.0.0\n"
	"              /8 host LOCAL\n"
	"           |-- 127.0.0.1\n"
	"              /32 host LOCAL\n"
	"        |-- 127.255.255.255\n"
	"           /32 link BROADCAST\n"
	"     +-- 192.0.2.0/24 2 0 2\n"
	"        +-- 192.0.2.0/30 2 0 2\n"
	"           |-- 192.0.2.0\n"
	"              /24 link UNICAST\n"
	"           |-- 192.0.2.2\n"
	"              /32 host LOCAL\n"
	"        |-- 192.0.2.255\n"
	"           /32 link BROADCAST\n"
	"Local:\n"
	"  +-- 0.0.0.0/0 3 0 5\n"
	"     |-- 0.0.0.0\n"
	"        /0 universe UNICAST\n"
	"     +-- 127.0.0.0/8 2 0 2\n"
	"        +-- 127.0.0.0/31 1 0 0\n"
	"           |-- 127.0.0.0\n"
	"              /8 host LOCAL\n"
	"           |-- 127.0.0.1\n"
	"              /32 host LOCAL\n"
	"        |-- 127.255.255.255\n"
	"           /32 link BROADCAST\n"
	"     +-- 192.0.2.0/24 2 0 2\n"
	"        +-- 192.0.2.0/30 2 0 2\n"
	"           |-- 192.0.2.0\n"
	"              /24 link UNICAST\n"
	"           |-- 192.0.2.2\n"
	"              /32 host LOCAL\n"
	"        |-- 192.0.2.255\n"
	"           /32 link BROADCAST\n";

/* A node: eth0 10.0.2.15/24, cni0 10.244.0.1/24, docker0 172.17.0.1/16,
 * a leaf with two prefixes, and 10.96.0.10 on kube-ipvs0. */
static const char fib_multi[] =
	"Main:\n"
	"  +-- 0.0.0.0/0 3 0 5\n"
	"     |-- 0.0.0.0\n"
	"        /0 universe UNICAST\n"
	"     +-- 10.0.0.0/8 2 0 2\n"
	"        +-- 10.0.2.0/24 2 0 2\n"
	"           +-- 10.0.2.0/28 2 0 2\n"
	"              |-- 10.0.2.0\n"
	"                 /24 link UNICAST\n"
	"              |-- 10.0.2.2\n"
	"                 /32 link UNICAST\n"
	"           |-- 10.0.2.255\n"
	"              /32 link BROADCAST\n"
	"        +-- 10.244.0.0/24 2 0 2\n"
	"           |-- 10.244.0.0\n"
	"              /24 link UNICAST\n"
	"              /16 universe UNICAST\n"
	"     +-- 127.0.0.0/8 2 0 2\n"
	"        |-- 127.0.0.1\n"
	"           /32 host LOCAL\n"
	"Local:\n"
	"  +-- 0.0.0.0/0 3 0 5\n"
	"     +-- 10.0.0.0/8 2 0 2\n"
	"        +-- 10.0.2.0/24 2 0 2\n"
	"           +-- 10.0.2.0/28 2 0 2\n"
	"              |-- 10.0.2.0\n"
	"                 /24 link UNICAST\n"
	"              |-- 10.0.2.15\n"
	"                 /32 host LOCAL\n"
	"           |-- 10.0.2.255\n"
	"              /32 link BROADCAST\n"
	"        +-- 10.96.0.0/24 2 0 2\n"
	"           |-- 10.96.0.10\n"
	"              /32 host LOCAL\n"
	"        +-- 10.244.0.0/24 2 0 2\n"
	"           |-- 10.244.0.1\n"
	"              /24 link UNICAST\n"
	"              /32 host LOCAL\n"
	"           |-- 10.244.0.255\n"
	"              /32 link BROADCAST\n"
	"     +-- 127.0.0.0/8 2 0 2\n"
	"        +-- 127.0.0.0/31 1 0 0\n"
	"           |-- 127.0.0.0\n"
	"              /8 host LOCAL\n"
	"           |-- 127.0.0.1\n"
	"              /32 host LOCAL\n"
	"        |-- 127.255.255.255\n"
	"           /32 link BROADCAST\n"
	"     +-- 172.17.0.0/16 2 0 2\n"
	"        +-- 172.17.0.0/30 2 0 2\n"
	"           |-- 172.17.0.0\n"
	"              /16 link UNICAST\n"
	"           |-- 172.17.0.1\n"
	"              /32 host LOCAL\n"
	"        |-- 172.17.255.255\n"
	"           /32 link BROADCAST\n";

/* /proc/net/if_inet6 as read on the build machine. */
static const char inet6_one[] =
	"fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n"
	"fd000000000000000000000000000002 04 40 00 82     eth0\n"
	"00000000000000000000000000000001 01 80 10 80       lo\n";

/* Several interfaces; one link-local address on two of them. */
static const char inet6_multi[] =
	"00000000000000000000000000000001 01 80 10 80       lo\n"
	"fe80000000000000a8bbccfffedd0001 02 40 20 80     eth0\n"
	"20010db8000000000000000000000010 02 40 00 00     eth0\n"
	"fe80000000000000a8bbccfffedd0002 03 40 20 80     cni0\n"
	"fe80000000000000a8bbccfffedd0001 05 40 20 80   veth12\n"
	"fd00000000000000000000000000abcd 03 40 00 80     cni0";

static void expect_addrs(const struct entity_addr *got, size_t n, const char *const *want, size_t n_want)
{
	if (n != n_want) {
		char buf[INET6_ADDRSTRLEN];
		fprintf(stderr, "got %zu addresses, want %zu:\n", n, n_want);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "  %s\n", inet_ntop(got[i].family, got[i].addr, buf, sizeof(buf)));
	}
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n_want; i++) {
		struct entity_addr w = { 0 };
		w.family = strchr(want[i], ':') ? AF_INET6 : AF_INET;
		assert_int_equal(inet_pton(w.family, want[i], w.addr), 1);
		assert_int_equal(got[i].family, w.family);
		/* IPv4 in the first 4 bytes, the rest zero */
		assert_memory_equal(got[i].addr, w.addr, 16);
	}
}

static void test_fib_trie(void **state)
{
	static const char *const one[] = { "192.0.2.2" };
	static const char *const multi[] = { "10.0.2.15", "10.96.0.10", "10.244.0.1", "172.17.0.1" };
	struct entity_addr out[8];

	(void)state;
	memset(out, 0xa5, sizeof(out));
	expect_addrs(out, netaddr_parse_fib_trie(fib_one, out, 8), one, 1);
	memset(out, 0xa5, sizeof(out));
	expect_addrs(out, netaddr_parse_fib_trie(fib_multi, out, 8), multi, 4);

	/* max: the first ones, nothing written beyond */
	memset(out, 0xa5, sizeof(out));
	expect_addrs(out, netaddr_parse_fib_trie(fib_multi, out, 2), multi, 2);
	assert_int_equal(out[2].family, 0xa5);
	assert_int_equal(netaddr_parse_fib_trie(fib_multi, out, 0), 0);

	/* only loopback, empty, no LOCAL, a LOCAL without a leaf */
	assert_int_equal(netaddr_parse_fib_trie("Local:\n  |-- 127.0.0.1\n     /32 host LOCAL\n", out, 8), 0);
	assert_int_equal(netaddr_parse_fib_trie("", out, 8), 0);
	assert_int_equal(netaddr_parse_fib_trie("     |-- 10.1.1.1\n        /24 link UNICAST\n", out, 8), 0);
	assert_int_equal(netaddr_parse_fib_trie("        /32 host LOCAL\n", out, 8), 0);
	/* no trailing newline */
	static const char *const tail[] = { "10.1.1.1" };
	expect_addrs(out, netaddr_parse_fib_trie("     |-- 10.1.1.1\n        /32 host LOCAL", out, 8), tail, 1);
}

static void test_if_inet6(void **state)
{
	static const char *const one[] = { "fe80::fc:ff:fe00:1", "fd00::2" };
	static const char *const multi[] = { "fe80::a8bb:ccff:fedd:1", "2001:db8::10",
					     "fe80::a8bb:ccff:fedd:2", "fd00::abcd" };
	struct entity_addr out[8];

	(void)state;
	expect_addrs(out, netaddr_parse_if_inet6(inet6_one, out, 8), one, 2);
	expect_addrs(out, netaddr_parse_if_inet6(inet6_multi, out, 8), multi, 4);
	memset(out, 0xa5, sizeof(out));
	expect_addrs(out, netaddr_parse_if_inet6(inet6_multi, out, 3), multi, 3);
	assert_int_equal(out[3].family, 0xa5);
	assert_int_equal(netaddr_parse_if_inet6(inet6_multi, out, 0), 0);
	/* only ::1; empty; malformed lines */
	assert_int_equal(netaddr_parse_if_inet6("00000000000000000000000000000001 01 80 10 80 lo\n", out, 8), 0);
	assert_int_equal(netaddr_parse_if_inet6("", out, 8), 0);
	assert_int_equal(netaddr_parse_if_inet6("fe80\n"
						"zz800000000000000000000000000001 02 40 20 80 eth0\n"
						"fe8000000000000000000000000000 02 40 20 80 eth0\n",
						out, 8),
			 0);
}

/* This process's namespace, read by netaddr_read and by hand. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(buf);
	if (!f)
		return buf;
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void test_read(void **state)
{
	struct entity_addr a[64], b[64];
	char *fib = slurp("/proc/self/net/fib_trie"), *in6 = slurp("/proc/self/net/if_inet6");
	size_t n;

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	n = netaddr_parse_fib_trie(fib, b, 64);
	n += netaddr_parse_if_inet6(in6, b + n, 64 - n);
	assert_int_equal(netaddr_read(0, a, 64), (int)n);
	assert_memory_equal(a, b, sizeof(a));
	/* a pid that does not exist */
	assert_int_equal(netaddr_read(0x3fffffff, a, 64), -ENOENT);
	free(fib);
	free(in6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fib_trie),
		cmocka_unit_test(test_if_inet6),
		cmocka_unit_test(test_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
