// SPDX-License-Identifier: Apache-2.0
/* test_match.c: unit tests of the rule model's matching primitives. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "match.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- ports */

struct port_ok_case {
	const char *spec;
	size_t n;
	struct port_range want[3];
};

static void test_ports_parse_ok(void **state)
{
	static const struct port_ok_case cases[] = {
		{ "tcp/80", 1, { { IPPROTO_TCP, 80, 80 } } },
		{ "udp/53", 1, { { IPPROTO_UDP, 53, 53 } } },
		{ "TCP/443", 1, { { IPPROTO_TCP, 443, 443 } } },
		{ "Udp/Any", 1, { { IPPROTO_UDP, 0, 65535 } } },
		{ "tcp/8000-8080", 1, { { IPPROTO_TCP, 8000, 8080 } } },
		{ "tcp/any", 1, { { IPPROTO_TCP, 0, 65535 } } },
		{ "icmp", 1, { { IPPROTO_ICMP, 0, 65535 } } },
		{ "ICMP", 1, { { IPPROTO_ICMP, 0, 65535 } } },
		{ "any", 1, { { PORT_PROTO_ANY, 0, 65535 } } },
		{ "ANY", 1, { { PORT_PROTO_ANY, 0, 65535 } } },
		{ "tcp/0", 1, { { IPPROTO_TCP, 0, 0 } } },
		{ "tcp/65535", 1, { { IPPROTO_TCP, 65535, 65535 } } },
		{ "udp/0-65535", 1, { { IPPROTO_UDP, 0, 65535 } } },
		{ "tcp/22-22", 1, { { IPPROTO_TCP, 22, 22 } } },
		{ "tcp/080", 1, { { IPPROTO_TCP, 80, 80 } } },
		{ "tcp/80,udp/53", 2, { { IPPROTO_TCP, 80, 80 }, { IPPROTO_UDP, 53, 53 } } },
		{ "  tcp/80 ,\tudp/53 , icmp  ",
		  3,
		  { { IPPROTO_TCP, 80, 80 }, { IPPROTO_UDP, 53, 53 }, { IPPROTO_ICMP, 0, 65535 } } },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct port_range *r = (void *)1;
		size_t n = 99, off = 99;
		const char *why = NULL;

		print_message("ports_parse(\"%s\")\n", cases[i].spec);
		assert_int_equal(ports_parse(cases[i].spec, &r, &n, &off, &why), 0);
		assert_non_null(r);
		assert_int_equal(n, cases[i].n);
		for (size_t j = 0; j < n; j++) {
			assert_int_equal(r[j].proto, cases[i].want[j].proto);
			assert_int_equal(r[j].lo, cases[i].want[j].lo);
			assert_int_equal(r[j].hi, cases[i].want[j].hi);
		}
		free(r);
	}
}

struct port_err_case {
	const char *spec;
	size_t off;
	const char *why;
};

static void test_ports_parse_errors(void **state)
{
	static const char *const not_num = "port is not a number";
	static const char *const above = "port above 65535";
	static const char *const unknown =
		"unknown protocol (expected tcp/PORT, udp/PORT, icmp or any)";
	static const char *const noport = "icmp and any take no port";
	static const char *const needport =
		"tcp and udp need a port (tcp/80, tcp/8000-8080 or tcp/any)";
	static const char *const empty_item = "empty item in port list";
	static const struct port_err_case cases[] = {
		{ "", 0, "empty port list" },
		{ "   ", 0, "empty port list" },
		{ "tcp/65536", 0, above },
		{ "tcp/99999999999999999999", 0, above },
		{ "tcp/4294967376", 0, above }, /* 2^32 + 80: must not wrap to 80 */
		{ "tcp/80-65536", 0, above },
		{ "tcp/", 0, not_num },
		{ "tcp/8o", 0, not_num },
		{ "tcp/-1", 0, not_num },
		{ "tcp/+80", 0, not_num },
		{ "tcp/80-", 0, not_num },
		{ "tcp/ 80", 0, not_num },
		{ "tcp/80-90-100", 0, not_num },
		{ "tcp/90-80", 0, "port range has its low end above its high end" },
		{ "sctp/80", 0, unknown },
		{ "tcp80", 0, unknown },
		{ "tcp", 0, needport },
		{ "udp", 0, needport },
		{ "icmp/8", 0, noport },
		{ "any/80", 0, noport },
		{ "any/", 0, noport },
		{ "tcp/80,", 7, empty_item },
		{ "tcp/80, ,udp/53", 8, empty_item },
		{ ",tcp/80", 0, empty_item },
		{ "tcp/80,  udp/x", 9, not_num },
		{ "tcp/80, udp/53 ,  bogus ", 18, unknown },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct port_range *r = (void *)1;
		size_t n = 99, off = 99;
		const char *why = NULL;

		print_message("ports_parse(\"%s\")\n", cases[i].spec);
		assert_int_equal(ports_parse(cases[i].spec, &r, &n, &off, &why), -EINVAL);
		assert_null(r);
		assert_int_equal(n, 0);
		assert_int_equal(off, cases[i].off);
		assert_string_equal(why, cases[i].why);
	}
	{
		struct port_range *r = (void *)1;
		size_t n = 99, off = 99;
		const char *why = NULL;

		assert_int_equal(ports_parse(NULL, &r, &n, &off, &why), -EINVAL);
		assert_null(r);
		assert_string_equal(why, "empty port list");
	}
}

static void test_ports_match(void **state)
{
	struct port_range *r;
	size_t n, off;
	const char *why;

	(void)state;
	assert_int_equal(ports_parse("tcp/80,udp/53,tcp/8000-8080", &r, &n, &off, &why), 0);
	assert_true(ports_match(r, n, IPPROTO_TCP, 80));
	assert_false(ports_match(r, n, IPPROTO_UDP, 80));
	assert_false(ports_match(r, n, IPPROTO_TCP, 81));
	assert_false(ports_match(r, n, IPPROTO_TCP, 79));
	assert_true(ports_match(r, n, IPPROTO_UDP, 53));
	assert_false(ports_match(r, n, IPPROTO_TCP, 53));
	assert_true(ports_match(r, n, IPPROTO_TCP, 8000));
	assert_true(ports_match(r, n, IPPROTO_TCP, 8080));
	assert_false(ports_match(r, n, IPPROTO_TCP, 7999));
	assert_false(ports_match(r, n, IPPROTO_TCP, 8081));
	assert_false(ports_match(r, n, IPPROTO_ICMP, 0));
	free(r);

	assert_int_equal(ports_parse("any", &r, &n, &off, &why), 0);
	assert_true(ports_match(r, n, IPPROTO_TCP, 1));
	assert_true(ports_match(r, n, IPPROTO_UDP, 65535));
	assert_true(ports_match(r, n, IPPROTO_ICMP, 0));
	free(r);

	assert_int_equal(ports_parse("icmp", &r, &n, &off, &why), 0);
	assert_true(ports_match(r, n, IPPROTO_ICMP, 0));
	assert_false(ports_match(r, n, IPPROTO_TCP, 0));
	free(r);

	assert_int_equal(ports_parse("tcp/0,tcp/65535", &r, &n, &off, &why), 0);
	assert_true(ports_match(r, n, IPPROTO_TCP, 0));
	assert_true(ports_match(r, n, IPPROTO_TCP, 65535));
	assert_false(ports_match(r, n, IPPROTO_TCP, 1));
	assert_false(ports_match(r, n, IPPROTO_TCP, 65534));
	free(r);

	assert_int_equal(ports_parse("udp/any", &r, &n, &off, &why), 0);
	assert_true(ports_match(r, n, IPPROTO_UDP, 0));
	assert_true(ports_match(r, n, IPPROTO_UDP, 65535));
	assert_false(ports_match(r, n, IPPROTO_TCP, 80));
	free(r);

	assert_false(ports_match(NULL, 0, IPPROTO_TCP, 80));
}

/* ---- addresses */

static void v4(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	assert_int_equal(inet_pton(AF_INET, s, out), 1);
}

static void v6(const char *s, uint8_t out[16])
{
	assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

struct addr_ok_case {
	const char *s;
	uint8_t family;
	const char *lo, *hi;
};

static void test_addr_parse_ok(void **state)
{
	static const struct addr_ok_case cases[] = {
		{ "10.0.0.1", AF_INET, "10.0.0.1", "10.0.0.1" },
		{ " 10.0.0.1\t", AF_INET, "10.0.0.1", "10.0.0.1" },
		{ "10.0.0.0/8", AF_INET, "10.0.0.0", "10.255.255.255" },
		{ "10.1.2.3/8", AF_INET, "10.0.0.0", "10.255.255.255" },
		{ "192.168.1.77/26", AF_INET, "192.168.1.64", "192.168.1.127" },
		{ "172.16.0.0/12", AF_INET, "172.16.0.0", "172.31.255.255" },
		{ "0.0.0.0/0", AF_INET, "0.0.0.0", "255.255.255.255" },
		{ "1.2.3.4/0", AF_INET, "0.0.0.0", "255.255.255.255" },
		{ "1.2.3.4/32", AF_INET, "1.2.3.4", "1.2.3.4" },
		{ "1.2.3.4/31", AF_INET, "1.2.3.4", "1.2.3.5" },
		{ "1.2.3.4/1", AF_INET, "0.0.0.0", "127.255.255.255" },
		{ "10.0.0.1-10.0.0.9", AF_INET, "10.0.0.1", "10.0.0.9" },
		{ "10.0.0.1 - 10.0.0.9", AF_INET, "10.0.0.1", "10.0.0.9" },
		{ "10.0.0.5-10.0.0.5", AF_INET, "10.0.0.5", "10.0.0.5" },
		{ "9.255.255.255-10.0.0.0", AF_INET, "9.255.255.255", "10.0.0.0" },
		{ "::1", AF_INET6, "::1", "::1" },
		{ "fe80::1/64", AF_INET6, "fe80::", "fe80::ffff:ffff:ffff:ffff" },
		{ "2001:db8::/32", AF_INET6, "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff" },
		{ "2001:db8::7/127", AF_INET6, "2001:db8::6", "2001:db8::7" },
		{ "::/0", AF_INET6, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
		{ "2001:db8::1/128", AF_INET6, "2001:db8::1", "2001:db8::1" },
		{ "2001:db8::1-2001:db8::ff", AF_INET6, "2001:db8::1", "2001:db8::ff" },
		{ "::ffff:10.0.0.1", AF_INET6, "::ffff:10.0.0.1", "::ffff:10.0.0.1" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct addr_range r;
		const char *why = NULL;
		uint8_t lo[16], hi[16];

		print_message("addr_range_parse(\"%s\")\n", cases[i].s);
		memset(&r, 0xaa, sizeof(r));
		assert_int_equal(addr_range_parse(cases[i].s, &r, &why), 0);
		assert_int_equal(r.family, cases[i].family);
		if (cases[i].family == AF_INET) {
			v4(cases[i].lo, lo);
			v4(cases[i].hi, hi);
		} else {
			v6(cases[i].lo, lo);
			v6(cases[i].hi, hi);
		}
		/* IPv4: the trailing 12 bytes are zero too */
		assert_memory_equal(r.lo, lo, 16);
		assert_memory_equal(r.hi, hi, 16);
	}
}

static void test_addr_parse_errors(void **state)
{
	static const char *const bad = "bad address (expected an IPv4 or IPv6 address, a CIDR "
				       "like 10.0.0.0/8, or a range like 10.0.0.1-10.0.0.9)";
	static const char *const badlen = "bad prefix length (expected ADDRESS/BITS)";
	static const char *const beyond = "prefix length beyond the address family (at most 32 "
					  "for IPv4, 128 for IPv6)";
	static const struct {
		const char *s, *why;
	} cases[] = {
		{ "", "empty address" },
		{ "  ", "empty address" },
		{ "10.0.0", bad },
		{ "10.0.0.256", bad },
		{ "example.com", bad },
		{ "10.0.0.1/", badlen },
		{ "10.0.0.1/x", badlen },
		{ "10.0.0.1/-1", badlen },
		{ "10.0.0.1/0008", badlen },
		{ "10.0.0.1/33", beyond },
		{ "::/129", beyond },
		{ "/8", bad },
		{ "10.0.0.9-10.0.0.1", "address range has its low end above its high end" },
		{ "2001:db8::ff-2001:db8::1", "address range has its low end above its high end" },
		{ "10.0.0.1-::1", "range ends of different address families" },
		{ "::1-10.0.0.1", "range ends of different address families" },
		{ "10.0.0.1-", bad },
		{ "-10.0.0.1", bad },
		{ "10.0.0.1-10.0.0.2-10.0.0.3", bad },
		{ "fe80::1%eth0", bad },
		{ "1111:2222:3333:4444:5555:6666:7777:8888:9999", bad },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct addr_range r, zero;
		const char *why = NULL;

		print_message("addr_range_parse(\"%s\")\n", cases[i].s);
		memset(&r, 0xaa, sizeof(r));
		memset(&zero, 0, sizeof(zero));
		assert_int_equal(addr_range_parse(cases[i].s, &r, &why), -EINVAL);
		assert_string_equal(why, cases[i].why);
		assert_memory_equal(&r, &zero, sizeof(r)); /* never half a range */
	}
	{
		struct addr_range r;
		const char *why = NULL;

		assert_int_equal(addr_range_parse(NULL, &r, &why), -EINVAL);
		assert_string_equal(why, "empty address");
	}
}

static bool contains4(const struct addr_range *r, const char *s)
{
	uint8_t a[16];

	v4(s, a);
	return addr_range_contains(r, AF_INET, a);
}

static bool contains6(const struct addr_range *r, const char *s)
{
	uint8_t a[16];

	v6(s, a);
	return addr_range_contains(r, AF_INET6, a);
}

static void test_addr_contains(void **state)
{
	struct addr_range r;
	const char *why;
	uint8_t a[16];

	(void)state;
	assert_int_equal(addr_range_parse("10.0.0.0/8", &r, &why), 0);
	assert_true(contains4(&r, "10.0.0.0"));
	assert_true(contains4(&r, "10.1.2.3"));
	assert_true(contains4(&r, "10.255.255.255"));
	assert_false(contains4(&r, "11.0.0.0"));
	assert_false(contains4(&r, "9.255.255.255"));
	/* the same bytes as IPv6 are another address */
	v4("10.1.2.3", a);
	assert_false(addr_range_contains(&r, AF_INET6, a));
	assert_false(addr_range_contains(&r, 0, a));

	/* a range crossing an octet boundary compares bytewise, big-endian */
	assert_int_equal(addr_range_parse("10.0.0.250-10.0.1.5", &r, &why), 0);
	assert_true(contains4(&r, "10.0.0.255"));
	assert_true(contains4(&r, "10.0.1.0"));
	assert_true(contains4(&r, "10.0.1.5"));
	assert_false(contains4(&r, "10.0.1.6"));
	assert_false(contains4(&r, "10.0.0.249"));
	assert_false(contains4(&r, "10.0.0.6")); /* little-endian compare would accept */

	assert_int_equal(addr_range_parse("0.0.0.0/0", &r, &why), 0);
	assert_true(contains4(&r, "0.0.0.0"));
	assert_true(contains4(&r, "255.255.255.255"));
	assert_false(contains6(&r, "::1"));

	assert_int_equal(addr_range_parse("192.168.1.1/32", &r, &why), 0);
	assert_true(contains4(&r, "192.168.1.1"));
	assert_false(contains4(&r, "192.168.1.2"));
	assert_false(contains4(&r, "192.168.1.0"));

	assert_int_equal(addr_range_parse("fd00::/8", &r, &why), 0);
	assert_true(contains6(&r, "fd12:3456::1"));
	assert_true(contains6(&r, "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(contains6(&r, "fe00::"));
	assert_false(contains6(&r, "fc00::1"));

	assert_int_equal(addr_range_parse("2001:db8::10-2001:db8::1:0", &r, &why), 0);
	assert_true(contains6(&r, "2001:db8::10"));
	assert_true(contains6(&r, "2001:db8::ffff"));
	assert_true(contains6(&r, "2001:db8::1:0"));
	assert_false(contains6(&r, "2001:db8::f"));
	assert_false(contains6(&r, "2001:db8::1:1"));

	assert_int_equal(addr_range_parse("::1/128", &r, &why), 0);
	assert_true(contains6(&r, "::1"));
	assert_false(contains6(&r, "::2"));
	assert_false(contains6(&r, "::"));

	assert_int_equal(addr_range_parse("::/0", &r, &why), 0);
	assert_true(contains6(&r, "::"));
	assert_true(contains6(&r, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(contains4(&r, "1.2.3.4"));
}

/* ---- wildcards */

static void test_wildcard(void **state)
{
	static const struct {
		const char *p, *s;
		bool want;
	} cases[] = {
		{ "", "", true },
		{ "", "a", false },
		{ "a", "", false },
		{ "*", "", true },
		{ "*", "anything/at/all", true },
		{ "**", "", true },
		{ "abc", "abc", true },
		{ "abc", "abcd", false },
		{ "abc", "ab", false },
		{ "abc", "ABC", false },
		{ "a*", "a", true },
		{ "a*", "abc", true },
		{ "a*", "ba", false },
		{ "*c", "abc", true },
		{ "*c", "abcd", false },
		{ "a*c", "ac", true },
		{ "a*c", "abbbc", true },
		{ "a*c", "abcbd", false },
		{ "a*b*c", "aXbYc", true },
		{ "a*b*c", "abcbc", true },
		{ "a*b*c", "acb", false },
		{ "*.log", "x.log", true },
		{ "*.log", "x.log.1", false },
		{ "*.log", "a.log.log", true },
		{ "nginx*", "nginx: worker", true },
		{ "*/bin/*", "/usr/bin/python3", true },
		{ "*aab", "aaaaab", true }, /* needs backtracking */
		{ "*ab*ab", "abababab", true },
		{ "*ab*abx", "abababab", false },
		{ "?", "?", true }, /* only '*' is special */
		{ "?", "a", false },
		{ "[a]", "a", false },
		{ "[a]", "[a]", true },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		print_message("wildcard_match(\"%s\", \"%s\")\n", cases[i].p, cases[i].s);
		assert_int_equal(wildcard_match(cases[i].p, cases[i].s), cases[i].want);
	}
	assert_false(wildcard_match(NULL, "a"));
	assert_false(wildcard_match("*", NULL));
}

/* A pathological pattern must not take exponential time (a recursive
 * matcher would run for ages on this). */
static void test_wildcard_linear(void **state)
{
	char p[200], s[4001];

	(void)state;
	/* "*a*a...*ab" */
	for (size_t i = 0; i < sizeof(p) - 2; i++)
		p[i] = i % 2 ? 'a' : '*';
	p[sizeof(p) - 2] = 'b';
	p[sizeof(p) - 1] = '\0';
	memset(s, 'a', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	assert_false(wildcard_match(p, s));
	s[sizeof(s) - 2] = 'b';
	assert_true(wildcard_match(p, s));
}

/* ---- criteria: names */

static void test_crit_names(void **state)
{
	static const struct {
		const char *s;
		enum crit_key k;
	} keys[] = {
		{ "container", CRIT_CONTAINER }, { "image", CRIT_IMAGE },
		{ "service", CRIT_SERVICE },     { "namespace", CRIT_NAMESPACE },
		{ "domain", CRIT_NAMESPACE },    { "label", CRIT_LABEL },
		{ "node", CRIT_NODE },           { "address", CRIT_ADDRESS },
		{ "Container", 0 },              { "", 0 },
		{ "pod", 0 },                    { "addresses", 0 },
	};
	static const struct {
		const char *s;
		enum crit_op o;
	} ops[] = {
		{ "=", CRIT_EQ },	      { "!=", CRIT_NE },	 { "contains", CRIT_CONTAINS },
		{ "prefix", CRIT_PREFIX }, { "regex", CRIT_REGEX }, { "!regex", CRIT_NOT_REGEX },
		{ "==", 0 },		      { "", 0 },		 { "Regex", 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		assert_int_equal(crit_key_parse(keys[i].s), keys[i].k);
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		assert_int_equal(crit_op_parse(ops[i].s), ops[i].o);
	assert_int_equal(crit_key_parse(NULL), 0);
	assert_int_equal(crit_op_parse(NULL), 0);

	assert_string_equal(crit_key_name(CRIT_CONTAINER), "container");
	assert_string_equal(crit_key_name(CRIT_IMAGE), "image");
	assert_string_equal(crit_key_name(CRIT_SERVICE), "service");
	assert_string_equal(crit_key_name(CRIT_NAMESPACE), "namespace");
	assert_string_equal(crit_key_name(CRIT_LABEL), "label");
	assert_string_equal(crit_key_name(CRIT_NODE), "node");
	assert_string_equal(crit_key_name(CRIT_ADDRESS), "address");
	assert_string_equal(crit_key_name(0), "unknown");
	assert_string_equal(crit_key_name(99), "unknown");
	assert_string_equal(crit_op_name(CRIT_EQ), "=");
	assert_string_equal(crit_op_name(CRIT_NE), "!=");
	assert_string_equal(crit_op_name(CRIT_CONTAINS), "contains");
	assert_string_equal(crit_op_name(CRIT_PREFIX), "prefix");
	assert_string_equal(crit_op_name(CRIT_REGEX), "regex");
	assert_string_equal(crit_op_name(CRIT_NOT_REGEX), "!regex");
	assert_string_equal(crit_op_name(0), "unknown");
	assert_string_equal(crit_op_name(7), "unknown");
	/* every name parses back to itself */
	for (int k = CRIT_CONTAINER; k <= CRIT_ADDRESS; k++)
		assert_int_equal(crit_key_parse(crit_key_name(k)), k);
	for (int o = CRIT_EQ; o <= CRIT_NOT_REGEX; o++)
		assert_int_equal(crit_op_parse(crit_op_name(o)), o);
}

/* ---- criteria: compile */

static void test_criterion_compile(void **state)
{
	struct criterion c;
	const char *why = NULL;
	char err[128] = "junk";
	uint8_t a[16];

	(void)state;
	assert_int_equal(criterion_compile(&c, CRIT_IMAGE, CRIT_EQ, "nginx:*", &why, err,
					   sizeof(err)),
			 0);
	assert_int_equal(c.key, CRIT_IMAGE);
	assert_int_equal(c.op, CRIT_EQ);
	assert_string_equal(c.value, "nginx:*");
	assert_null(c.label_key);
	assert_null(c.label_val);
	assert_false(c.has_regex);
	assert_string_equal(err, "");
	criterion_free(&c);
	assert_null(c.value);

	assert_int_equal(criterion_compile(&c, CRIT_LABEL, CRIT_EQ, "app=web=1", &why, NULL, 0), 0);
	assert_string_equal(c.value, "app=web=1");
	assert_string_equal(c.label_key, "app");
	assert_string_equal(c.label_val, "web=1"); /* split at the first '=' */
	criterion_free(&c);

	assert_int_equal(criterion_compile(&c, CRIT_LABEL, CRIT_NE, "tier", &why, NULL, 0), 0);
	assert_string_equal(c.label_key, "tier");
	assert_null(c.label_val);
	criterion_free(&c);

	assert_int_equal(criterion_compile(&c, CRIT_LABEL, CRIT_EQ, "tier=", &why, NULL, 0), 0);
	assert_string_equal(c.label_key, "tier");
	assert_string_equal(c.label_val, "");
	criterion_free(&c);

	assert_int_equal(criterion_compile(&c, CRIT_ADDRESS, CRIT_NE, "10.0.0.0/8", &why, NULL, 0),
			 0);
	assert_int_equal(c.addr.family, AF_INET);
	v4("10.255.255.255", a);
	assert_memory_equal(c.addr.hi, a, 16);
	criterion_free(&c);

	assert_int_equal(criterion_compile(&c, CRIT_SERVICE, CRIT_REGEX, "^web-(a|b)$", &why, err,
					   sizeof(err)),
			 0);
	assert_true(c.has_regex);
	criterion_free(&c);
	assert_false(c.has_regex);

	/* a NULL value is the empty string */
	assert_int_equal(criterion_compile(&c, CRIT_NODE, CRIT_EQ, NULL, &why, NULL, 0), 0);
	assert_string_equal(c.value, "");
	criterion_free(&c);

	criterion_free(NULL);
}

static void test_criterion_compile_errors(void **state)
{
	static const struct {
		enum crit_key key;
		enum crit_op op;
		const char *value, *why;
	} cases[] = {
		{ 0, CRIT_EQ, "x", "unknown criterion key" },
		{ 8, CRIT_EQ, "x", "unknown criterion key" },
		{ CRIT_IMAGE, 0, "x",
		  "unknown criterion operator (expected =, !=, contains, prefix, regex or !regex)" },
		{ CRIT_IMAGE, 7, "x",
		  "unknown criterion operator (expected =, !=, contains, prefix, regex or !regex)" },
		{ CRIT_ADDRESS, CRIT_CONTAINS, "10.0.0.1", "address criteria take only = and !=" },
		{ CRIT_ADDRESS, CRIT_PREFIX, "10.0.0.1", "address criteria take only = and !=" },
		{ CRIT_ADDRESS, CRIT_REGEX, "10\\..*", "address criteria take only = and !=" },
		{ CRIT_ADDRESS, CRIT_NOT_REGEX, "10\\..*", "address criteria take only = and !=" },
		{ CRIT_ADDRESS, CRIT_EQ, "10.0.0.0/33",
		  "prefix length beyond the address family (at most 32 for IPv4, 128 for IPv6)" },
		{ CRIT_ADDRESS, CRIT_EQ, "",  "empty address" },
		{ CRIT_ADDRESS, CRIT_NE, "10.0.0.2-10.0.0.1",
		  "address range has its low end above its high end" },
		{ CRIT_LABEL, CRIT_EQ, "", "label criterion without a key (expected key=value or key)" },
		{ CRIT_LABEL, CRIT_EQ, "=web",
		  "label criterion without a key (expected key=value or key)" },
		{ CRIT_LABEL, CRIT_CONTAINS, "app",
		  "a label criterion without '=value' tests presence and takes only = and !=" },
		{ CRIT_LABEL, CRIT_REGEX, "app",
		  "a label criterion without '=value' tests presence and takes only = and !=" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct criterion c;
		const char *why = NULL;
		char err[64] = "junk";

		print_message("criterion_compile(%d, %d, \"%s\")\n", cases[i].key, cases[i].op,
			      cases[i].value);
		assert_int_equal(criterion_compile(&c, cases[i].key, cases[i].op, cases[i].value,
						   &why, err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(why, cases[i].why);
		assert_string_equal(err, ""); /* only regex errors fill errbuf */
		/* a failed compile leaves nothing to free */
		assert_null(c.value);
		assert_null(c.label_key);
		assert_false(c.has_regex);
		criterion_free(&c);
	}
}

static void test_criterion_compile_regex_errors(void **state)
{
	static const struct {
		enum crit_key key;
		enum crit_op op;
		const char *value, *errtext;
	} cases[] = {
		/* glibc's regerror texts */
		{ CRIT_IMAGE, CRIT_REGEX, "web(", "Unmatched ( or \\(" },
		{ CRIT_CONTAINER, CRIT_NOT_REGEX, "[a-", "Unmatched [, [^, [:, [., or [=" },
		{ CRIT_SERVICE, CRIT_REGEX, "a{2,1}", "Invalid content of \\{\\}" },
		{ CRIT_NAMESPACE, CRIT_REGEX, "[[:nope:]]", "Invalid character class name" },
		{ CRIT_LABEL, CRIT_REGEX, "app=web(", "Unmatched ( or \\(" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct criterion c;
		const char *why = NULL;
		char err[128] = "junk";

		print_message("regex \"%s\"\n", cases[i].value);
		assert_int_equal(criterion_compile(&c, cases[i].key, cases[i].op, cases[i].value,
						   &why, err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(why, "invalid regular expression");
		assert_string_equal(err, cases[i].errtext);
		assert_null(c.value);
		assert_null(c.label_key);
		assert_false(c.has_regex);
	}
	{
		struct criterion c;
		const char *why = NULL;
		char err[8];

		/* errbuf NULL is allowed; a short errbuf is cut, NUL-terminated */
		assert_int_equal(criterion_compile(&c, CRIT_IMAGE, CRIT_REGEX, "(", &why, NULL, 0),
				 -EINVAL);
		assert_string_equal(why, "invalid regular expression");
		assert_int_equal(criterion_compile(&c, CRIT_IMAGE, CRIT_REGEX, "(", &why, err,
						   sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, "Unmatch");
	}
}

/* ---- criteria: match */

static const struct entity_label web_labels[] = {
	{ "app", "web" },
	{ "tier", "frontend" },
	{ "version", "" },
};
static struct entity_addr web_addrs[2];

static struct entity web_entity(void)
{
	struct entity e = {
		.kind = ENTITY_CONTAINER,
		.container = "web-1",
		.image = "docker.io/library/nginx:1.25",
		.service = "web",
		.namespace = "shop",
		.node = "worker-3",
		.pod = "web-7d9f8c6b5-x2x7k",
		.labels = web_labels,
		.n_labels = ARRAY_SIZE(web_labels),
		.addrs = web_addrs,
		.n_addrs = ARRAY_SIZE(web_addrs),
	};

	web_addrs[0].family = AF_INET;
	v4("10.1.2.3", web_addrs[0].addr);
	web_addrs[1].family = AF_INET6;
	v6("fd00::3", web_addrs[1].addr);
	return e;
}

static bool crit1(enum crit_key key, enum crit_op op, const char *value, const struct entity *e)
{
	struct criterion c;
	const char *why = NULL;
	bool m;

	assert_int_equal(criterion_compile(&c, key, op, value, &why, NULL, 0), 0);
	m = criterion_match(&c, e);
	criterion_free(&c);
	return m;
}

static void test_criterion_match(void **state)
{
	struct entity e = web_entity();
	struct entity bare = { .kind = ENTITY_HOST,
			       .container = "",
			       .image = "",
			       .service = "",
			       .namespace = "",
			       .node = "",
			       .pod = "" };
	static const struct {
		enum crit_key key;
		enum crit_op op;
		const char *value;
		bool want;
	} cases[] = {
		{ CRIT_CONTAINER, CRIT_EQ, "web-1", true },
		{ CRIT_CONTAINER, CRIT_EQ, "web", false },
		{ CRIT_CONTAINER, CRIT_EQ, "web-*", true },
		{ CRIT_CONTAINER, CRIT_EQ, "*", true },
		{ CRIT_CONTAINER, CRIT_NE, "web-1", false },
		{ CRIT_CONTAINER, CRIT_NE, "db-*", true },
		{ CRIT_CONTAINER, CRIT_NE, "web-*", false },
		{ CRIT_IMAGE, CRIT_CONTAINS, "nginx", true },
		{ CRIT_IMAGE, CRIT_CONTAINS, "redis", false },
		{ CRIT_IMAGE, CRIT_CONTAINS, "ngi*", false }, /* contains is literal */
		{ CRIT_IMAGE, CRIT_CONTAINS, "", true },
		{ CRIT_IMAGE, CRIT_PREFIX, "docker.io/", true },
		{ CRIT_IMAGE, CRIT_PREFIX, "quay.io/", false },
		{ CRIT_IMAGE, CRIT_PREFIX, "docker.io/library/nginx:1.25.1", false },
		{ CRIT_IMAGE, CRIT_REGEX, "nginx:1\\.[0-9]+$", true },
		{ CRIT_IMAGE, CRIT_REGEX, "library", true }, /* unanchored */
		{ CRIT_IMAGE, CRIT_REGEX, "^nginx", false },
		{ CRIT_IMAGE, CRIT_NOT_REGEX, "^nginx", true },
		{ CRIT_IMAGE, CRIT_NOT_REGEX, "nginx", false },
		{ CRIT_SERVICE, CRIT_EQ, "web", true },
		{ CRIT_SERVICE, CRIT_EQ, "WEB", false },
		{ CRIT_NAMESPACE, CRIT_EQ, "shop", true },
		{ CRIT_NAMESPACE, CRIT_EQ, "kube-system", false },
		{ CRIT_NODE, CRIT_PREFIX, "worker-", true },
		{ CRIT_NODE, CRIT_EQ, "worker-?", false },
		{ CRIT_LABEL, CRIT_EQ, "app=web", true },
		{ CRIT_LABEL, CRIT_EQ, "app=db", false },
		{ CRIT_LABEL, CRIT_EQ, "app=w*", true },
		{ CRIT_LABEL, CRIT_EQ, "app", true },
		{ CRIT_LABEL, CRIT_EQ, "owner", false },
		{ CRIT_LABEL, CRIT_EQ, "web", false }, /* a value is not a key */
		{ CRIT_LABEL, CRIT_EQ, "version=", true },
		{ CRIT_LABEL, CRIT_EQ, "version=*", true },
		{ CRIT_LABEL, CRIT_EQ, "tier=front", false },
		{ CRIT_LABEL, CRIT_NE, "app=web", false },
		{ CRIT_LABEL, CRIT_NE, "app=db", true },
		{ CRIT_LABEL, CRIT_NE, "owner", true },
		{ CRIT_LABEL, CRIT_NE, "app", false },
		{ CRIT_LABEL, CRIT_NE, "owner=x", true }, /* no such label: not equal */
		{ CRIT_LABEL, CRIT_CONTAINS, "tier=front", true },
		{ CRIT_LABEL, CRIT_CONTAINS, "app=front", false },
		{ CRIT_LABEL, CRIT_PREFIX, "tier=fr", true },
		{ CRIT_LABEL, CRIT_PREFIX, "tier=end", false },
		{ CRIT_LABEL, CRIT_REGEX, "tier=^front(end)?$", true },
		{ CRIT_LABEL, CRIT_REGEX, "app=^front", false },
		{ CRIT_LABEL, CRIT_NOT_REGEX, "tier=^back", true },
		{ CRIT_LABEL, CRIT_NOT_REGEX, "owner=.*", true },
		{ CRIT_ADDRESS, CRIT_EQ, "10.0.0.0/8", true },
		{ CRIT_ADDRESS, CRIT_EQ, "10.1.2.3", true },
		{ CRIT_ADDRESS, CRIT_EQ, "192.168.0.0/16", false },
		{ CRIT_ADDRESS, CRIT_EQ, "fd00::/8", true }, /* the second address */
		{ CRIT_ADDRESS, CRIT_EQ, "10.1.2.4-10.1.2.9", false },
		{ CRIT_ADDRESS, CRIT_NE, "10.0.0.0/8", false },
		{ CRIT_ADDRESS, CRIT_NE, "192.168.0.0/16", true },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		print_message("%s %s \"%s\"\n", crit_key_name(cases[i].key),
			      crit_op_name(cases[i].op), cases[i].value);
		assert_int_equal(crit1(cases[i].key, cases[i].op, cases[i].value, &e),
				 cases[i].want);
	}
	/* an entity with nothing known: "" fields, no labels, no addresses */
	assert_true(crit1(CRIT_CONTAINER, CRIT_EQ, "*", &bare));
	assert_true(crit1(CRIT_CONTAINER, CRIT_EQ, "", &bare));
	assert_false(crit1(CRIT_CONTAINER, CRIT_EQ, "web", &bare));
	assert_true(crit1(CRIT_CONTAINER, CRIT_NE, "web", &bare));
	assert_false(crit1(CRIT_LABEL, CRIT_EQ, "app", &bare));
	assert_true(crit1(CRIT_LABEL, CRIT_NE, "app", &bare));
	assert_false(crit1(CRIT_ADDRESS, CRIT_EQ, "0.0.0.0/0", &bare));
	assert_true(crit1(CRIT_ADDRESS, CRIT_NE, "0.0.0.0/0", &bare));
	/* NULL strings are treated as "" */
	bare.image = NULL;
	assert_true(crit1(CRIT_IMAGE, CRIT_EQ, "", &bare));
	assert_false(crit1(CRIT_IMAGE, CRIT_REGEX, ".", &bare));
}

struct crit_spec {
	enum crit_key key;
	enum crit_op op;
	const char *value;
};

static bool crits(const struct crit_spec *s, size_t n, const struct entity *e)
{
	struct criterion c[8];
	const char *why = NULL;
	bool m;

	assert_true(n <= ARRAY_SIZE(c));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(criterion_compile(&c[i], s[i].key, s[i].op, s[i].value, &why, NULL,
						   0),
				 0);
	m = criteria_match(c, n, e);
	for (size_t i = 0; i < n; i++)
		criterion_free(&c[i]);
	return m;
}

#define CRITS(e, ...)                                                                              \
	crits((const struct crit_spec[]){ __VA_ARGS__ },                                           \
	      sizeof((const struct crit_spec[]){ __VA_ARGS__ }) / sizeof(struct crit_spec), e)

static void test_criteria_match(void **state)
{
	struct entity e = web_entity();

	(void)state;
	assert_false(criteria_match(NULL, 0, &e)); /* no criteria, no members */

	/* one key, repeats OR */
	assert_true(CRITS(&e, { CRIT_SERVICE, CRIT_EQ, "web" }));
	assert_true(CRITS(&e, { CRIT_SERVICE, CRIT_EQ, "db" }, { CRIT_SERVICE, CRIT_EQ, "web" }));
	assert_true(CRITS(&e, { CRIT_SERVICE, CRIT_EQ, "web" }, { CRIT_SERVICE, CRIT_EQ, "db" }));
	assert_false(CRITS(&e, { CRIT_SERVICE, CRIT_EQ, "db" }, { CRIT_SERVICE, CRIT_EQ, "api" }));
	assert_true(CRITS(&e, { CRIT_IMAGE, CRIT_PREFIX, "quay.io/" },
			  { CRIT_IMAGE, CRIT_REGEX, "nginx" }));

	/* different keys AND */
	assert_true(CRITS(&e, { CRIT_SERVICE, CRIT_EQ, "web" }, { CRIT_NAMESPACE, CRIT_EQ, "shop" }));
	assert_false(
		CRITS(&e, { CRIT_SERVICE, CRIT_EQ, "web" }, { CRIT_NAMESPACE, CRIT_EQ, "prod" }));
	assert_false(
		CRITS(&e, { CRIT_SERVICE, CRIT_EQ, "db" }, { CRIT_NAMESPACE, CRIT_EQ, "shop" }));
	/* OR within a key, AND across, interleaved in any order */
	assert_true(CRITS(&e, { CRIT_SERVICE, CRIT_EQ, "db" }, { CRIT_NAMESPACE, CRIT_EQ, "shop" },
			  { CRIT_SERVICE, CRIT_EQ, "web" }));
	assert_false(CRITS(&e, { CRIT_SERVICE, CRIT_EQ, "db" }, { CRIT_NAMESPACE, CRIT_EQ, "shop" },
			   { CRIT_SERVICE, CRIT_EQ, "api" }));
	assert_false(CRITS(&e, { CRIT_SERVICE, CRIT_EQ, "db" }, { CRIT_NAMESPACE, CRIT_EQ, "prod" },
			   { CRIT_SERVICE, CRIT_EQ, "web" }, { CRIT_NAMESPACE, CRIT_EQ, "test" }));
	assert_true(CRITS(&e, { CRIT_SERVICE, CRIT_EQ, "db" }, { CRIT_NAMESPACE, CRIT_EQ, "prod" },
			  { CRIT_SERVICE, CRIT_EQ, "web" }, { CRIT_NAMESPACE, CRIT_EQ, "shop" }));

	/* negatives of one key AND: "not a and not b" */
	assert_true(CRITS(&e, { CRIT_SERVICE, CRIT_NE, "db" }, { CRIT_SERVICE, CRIT_NE, "api" }));
	assert_false(CRITS(&e, { CRIT_SERVICE, CRIT_NE, "db" }, { CRIT_SERVICE, CRIT_NE, "web" }));
	assert_false(CRITS(&e, { CRIT_SERVICE, CRIT_NE, "web" }, { CRIT_SERVICE, CRIT_NE, "db" }));
	assert_false(CRITS(&e, { CRIT_IMAGE, CRIT_NOT_REGEX, "redis" },
			   { CRIT_IMAGE, CRIT_NOT_REGEX, "nginx" }));
	assert_false(
		CRITS(&e, { CRIT_IMAGE, CRIT_NE, "redis*" }, { CRIT_IMAGE, CRIT_NOT_REGEX, "nginx" }));
	/* a key with both: one positive and all negatives */
	assert_true(CRITS(&e, { CRIT_CONTAINER, CRIT_EQ, "web-*" },
			  { CRIT_CONTAINER, CRIT_NE, "web-2" }));
	assert_false(CRITS(&e, { CRIT_CONTAINER, CRIT_EQ, "web-*" },
			   { CRIT_CONTAINER, CRIT_NE, "web-1" }));
	assert_false(CRITS(&e, { CRIT_CONTAINER, CRIT_NE, "web-2" },
			   { CRIT_CONTAINER, CRIT_EQ, "db-*" }));
	assert_true(CRITS(&e, { CRIT_CONTAINER, CRIT_NE, "web-2" },
			  { CRIT_CONTAINER, CRIT_EQ, "db-*" }, { CRIT_CONTAINER, CRIT_PREFIX, "web" }));
	/* negatives of one key AND'ed with another key */
	assert_true(CRITS(&e, { CRIT_NAMESPACE, CRIT_NE, "kube-system" },
			  { CRIT_NAMESPACE, CRIT_NE, "default" }, { CRIT_SERVICE, CRIT_EQ, "web" }));
	assert_false(CRITS(&e, { CRIT_NAMESPACE, CRIT_NE, "kube-system" },
			   { CRIT_NAMESPACE, CRIT_NE, "shop" }, { CRIT_SERVICE, CRIT_EQ, "web" }));

	/* labels group by their own key: different label keys AND */
	assert_true(CRITS(&e, { CRIT_LABEL, CRIT_EQ, "app=web" },
			  { CRIT_LABEL, CRIT_EQ, "tier=frontend" }));
	assert_false(CRITS(&e, { CRIT_LABEL, CRIT_EQ, "app=web" },
			   { CRIT_LABEL, CRIT_EQ, "tier=backend" }));
	/* the same label key ORs */
	assert_true(CRITS(&e, { CRIT_LABEL, CRIT_EQ, "app=db" }, { CRIT_LABEL, CRIT_EQ, "app=web" }));
	assert_false(CRITS(&e, { CRIT_LABEL, CRIT_EQ, "app=db" }, { CRIT_LABEL, CRIT_EQ, "app=api" }));
	assert_false(CRITS(&e, { CRIT_LABEL, CRIT_NE, "app=db" }, { CRIT_LABEL, CRIT_NE, "app=web" }));

	/* addresses: repeats OR, != AND */
	assert_true(CRITS(&e, { CRIT_ADDRESS, CRIT_EQ, "192.168.0.0/16" },
			  { CRIT_ADDRESS, CRIT_EQ, "10.0.0.0/8" }));
	assert_false(CRITS(&e, { CRIT_ADDRESS, CRIT_NE, "192.168.0.0/16" },
			   { CRIT_ADDRESS, CRIT_NE, "10.0.0.0/8" }));
	assert_true(CRITS(&e, { CRIT_ADDRESS, CRIT_EQ, "10.0.0.0/8" },
			  { CRIT_SERVICE, CRIT_EQ, "web" }));
}

/* ---- service names */

static void test_service_name(void **state)
{
	static const struct {
		const char *pod, *container, *want;
	} cases[] = {
		{ "web-7d9f8c6b5-x2x7k", "nginx", "web" },
		{ "my-app-5c6b8d9f7b-zq2xw", "", "my-app" },
		{ "api-bcdfgh-bcdfg", "", "api" },	    /* 6-char hash */
		{ "api-bcdfghjklm-bcdfg", "", "api" },    /* 10-char hash */
		{ "api-bcdfghjklmn-bcdfg", "", "api-bcdfghjklmn" }, /* 11: not a hash */
		{ "api-bcdfg-bcdfg", "", "api-bcdfg" },   /* 5: not a hash */
		{ "api-7d9f8c6b5a-x2x7k", "", "api-7d9f8c6b5a" }, /* 'a' is not generated */
		{ "db-0", "postgres", "db" },
		{ "db-12", "", "db" },
		{ "redis-cluster-2", "", "redis-cluster" },
		{ "agent-x2x7k", "", "agent" },
		{ "job-28373920-x2x7k", "", "job-28373920" }, /* 8 digits: 0, 3 not in the alphabet */
		{ "nginx", "", "nginx" },
		{ "", "app", "app" },
		{ "", "", "" },
		{ "my-app-v2", "", "my-app-v2" },
		{ "my-app-12345", "", "my-app" }, /* 1 and 3 not generated: an ordinal */
		{ "my-app-abcde", "", "my-app-abcde" },
		{ "web-X2X7K", "", "web-X2X7K" }, /* upper case is never generated */
		{ "x2x7k", "", "x2x7k" },	  /* a suffix is never the whole name */
		{ "-x2x7k", "", "-x2x7k" },
		{ "-0", "", "-0" },
		{ "db-", "", "db-" },
		{ "db-0-x2x7k", "", "db-0" }, /* 5-char suffix, then no hash: ordinal kept */
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char out[64];

		memset(out, 'X', sizeof(out));
		print_message("service_name(\"%s\", \"%s\")\n", cases[i].pod, cases[i].container);
		service_name(cases[i].pod, cases[i].container, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
	}
}

static void test_service_name_size(void **state)
{
	char out[8];

	(void)state;
	memset(out, 'X', sizeof(out));
	service_name("frontend-7d9f8c6b5-x2x7k", "", out, 4);
	assert_string_equal(out, "fro");
	assert_int_equal(out[4], 'X'); /* nothing written past size */
	service_name("web-7d9f8c6b5-x2x7k", "", out, 4);
	assert_string_equal(out, "web");
	service_name("web-7d9f8c6b5-x2x7k", "", out, 1);
	assert_string_equal(out, "");
	out[0] = 'Y';
	service_name("web", "", out, 0);
	assert_int_equal(out[0], 'Y');
	service_name(NULL, "app", out, sizeof(out));
	assert_string_equal(out, "app");
	service_name(NULL, NULL, out, sizeof(out));
	assert_string_equal(out, "");
}

/* ---- process rules */

static void test_proc_path_match(void **state)
{
	static const struct {
		const char *rule, *exe;
		bool want;
	} cases[] = {
		{ "*", "/usr/bin/python3", true },
		{ "", "/usr/bin/python3", true },
		{ "*", "", true },
		{ "/usr/bin/python3", "/usr/bin/python3", true },
		{ "/usr/bin/python3", "/usr/bin/python3.11", false },
		{ "/usr/bin/python3", "/usr/bin/python", false },
		{ "/usr/bin/python3", "/usr/local/bin/python3", false },
		{ "/usr/bin/*", "/usr/bin/python3", true },
		{ "/usr/bin/*", "/usr/bin/x/y/z", true }, /* any depth */
		{ "/usr/bin/*", "/usr/bin/", false },
		{ "/usr/bin/*", "/usr/bin", false },
		{ "/usr/bin/*", "/usr/binx/sh", false },
		{ "/usr/bin/*", "/usr/sbin/sh", false },
		{ "/*", "/anything", true },
		{ "/*", "/a/b", true },
		{ "/*", "relative", false },
		/* '*' other than a final one after '/' is literal in a path */
		{ "/usr/*/python3", "/usr/bin/python3", false },
		{ "/usr/*/python3", "/usr/*/python3", true },
		{ "/usr/bin/py*", "/usr/bin/python3", false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		print_message("proc_path_match(\"%s\", \"%s\")\n", cases[i].rule, cases[i].exe);
		assert_int_equal(proc_path_match(cases[i].rule, cases[i].exe), cases[i].want);
	}
	assert_true(proc_path_match(NULL, "/bin/sh"));
	assert_false(proc_path_match("/bin/sh", NULL));
}

static void test_proc_name_match(void **state)
{
	(void)state;
	assert_true(proc_name_match("*", "nginx"));
	assert_true(proc_name_match("*", ""));
	assert_true(proc_name_match("nginx", "nginx"));
	assert_false(proc_name_match("nginx", "nginx2"));
	assert_false(proc_name_match("nginx", "Nginx"));
	assert_true(proc_name_match("python*", "python3.11"));
	assert_false(proc_name_match("python*", "ipython"));
	assert_true(proc_name_match("*sh", "bash"));
	assert_true(proc_name_match("*sh", "sh"));
	assert_false(proc_name_match("*sh", "shell"));
	assert_false(proc_name_match("", "sh"));
	assert_true(proc_name_match(NULL, "sh"));
	assert_false(proc_name_match("sh", NULL));
}

/* ---- file filters */

static void test_file_filter_compile(void **state)
{
	static const struct {
		const char *pattern;
		bool recursive;
		const char *dir, *base;
		size_t lit_len;
	} cases[] = {
		{ "/etc/passwd", false, "/etc", "passwd", 11 },
		{ "/etc/passwd", true, "/etc", "passwd", 11 },
		{ "/etc/secret/*", false, "/etc/secret", "*", 12 },
		{ "/etc/secret/*", true, "/etc/secret", "*", 12 },
		{ "/var/log/*.log", true, "/var/log", "*.log", 9 },
		{ "/var/log/app*.log", false, "/var/log", "app*.log", 12 },
		{ "/var/log/app*.log", true, "/var/log", "app*.log", 9 },
		{ "/home/*/.ssh/*", false, "/home/*/.ssh", "*", 6 },
		{ "/home/*/.ssh/*", true, "/home/*/.ssh", "*", 6 },
		{ "/bin", true, "", "bin", 4 },
		{ "/*", true, "", "*", 1 },
		{ "/x*", true, "", "x*", 1 },
		{ "/etc/.hidden", false, "/etc", ".hidden", 12 },
		{ "/etc/..x", false, "/etc", "..x", 8 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct file_filter f;
		const char *why = NULL;

		print_message("file_filter_compile(\"%s\", %d)\n", cases[i].pattern,
			      cases[i].recursive);
		assert_int_equal(file_filter_compile(&f, cases[i].pattern, cases[i].recursive, &why),
				 0);
		assert_string_equal(f.pattern, cases[i].pattern);
		assert_string_equal(f.dir, cases[i].dir);
		assert_string_equal(f.base, cases[i].base);
		assert_int_equal(f.lit_len, cases[i].lit_len);
		assert_int_equal(f.recursive, cases[i].recursive);
		file_filter_free(&f);
		assert_null(f.pattern);
	}
	file_filter_free(NULL);
}

static void test_file_filter_compile_errors(void **state)
{
	static const char *const dots =
		"file filter contains a '.' or '..' component (write the path it names)";
	static const char *const slash = "file filter ends with '/' (name the directory without "
					 "it, or use DIR/* for its files)";
	static const struct {
		const char *pattern, *why;
	} cases[] = {
		{ "", "empty file filter" },
		{ "etc/passwd", "file filter is not an absolute path (it must start with '/')" },
		{ "*/passwd", "file filter is not an absolute path (it must start with '/')" },
		{ "//etc", "file filter contains '//'" },
		{ "/etc//passwd", "file filter contains '//'" },
		{ "/etc/./passwd", dots },
		{ "/etc/../passwd", dots },
		{ "/etc/.", dots },
		{ "/etc/..", dots },
		{ "/..", dots },
		{ "/etc/", slash },
		{ "/", slash },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct file_filter f;
		const char *why = NULL;

		print_message("file_filter_compile(\"%s\")\n", cases[i].pattern);
		assert_int_equal(file_filter_compile(&f, cases[i].pattern, true, &why), -EINVAL);
		assert_string_equal(why, cases[i].why);
		assert_null(f.pattern);
		assert_null(f.dir);
		assert_null(f.base);
		file_filter_free(&f);
	}
	{
		struct file_filter f;
		const char *why = NULL;

		assert_int_equal(file_filter_compile(&f, NULL, false, &why), -EINVAL);
		assert_string_equal(why, "empty file filter");
	}
}

struct ff_case {
	const char *path;
	bool flat, rec; /* want, not recursive / recursive */
};

static void check_filter(const char *pattern, const struct ff_case *cases, size_t n)
{
	struct file_filter flat, rec;
	const char *why = NULL;

	assert_int_equal(file_filter_compile(&flat, pattern, false, &why), 0);
	assert_int_equal(file_filter_compile(&rec, pattern, true, &why), 0);
	for (size_t i = 0; i < n; i++) {
		print_message("\"%s\" vs \"%s\"\n", pattern, cases[i].path);
		assert_int_equal(file_filter_match(&flat, cases[i].path), cases[i].flat);
		assert_int_equal(file_filter_match(&rec, cases[i].path), cases[i].rec);
	}
	file_filter_free(&flat);
	file_filter_free(&rec);
}

#define CHECK_FILTER(p, ...)                                                                       \
	check_filter(p, (const struct ff_case[]){ __VA_ARGS__ },                                   \
		     sizeof((const struct ff_case[]){ __VA_ARGS__ }) / sizeof(struct ff_case))

static void test_file_filter_match(void **state)
{
	(void)state;
	CHECK_FILTER("/etc/passwd",
		     { "/etc/passwd", true, true },
		     { "/etc/passwd/x", false, true },
		     { "/etc/passwd/x/y", false, true },
		     { "/etc/passwd-", false, false },
		     { "/etc/passwdx/y", false, false },
		     { "/etc/x/passwd", false, false },
		     { "/etc/passw", false, false },
		     { "/etc", false, false },
		     { "/usr/etc/passwd", false, false },
		     { "", false, false },
		     { "etc/passwd", false, false });
	CHECK_FILTER("/etc/secret/*",
		     { "/etc/secret/a", true, true },
		     { "/etc/secret/.k", true, true },
		     { "/etc/secret/a/b", false, true },
		     { "/etc/secret/a/b/c", false, true },
		     { "/etc/secretx/a", false, false },
		     { "/etc/secret", false, false },
		     { "/etc/a", false, false });
	CHECK_FILTER("/var/log/*.log",
		     { "/var/log/x.log", true, true },
		     { "/var/log/.log", true, true },
		     { "/var/log/app/x.log", false, true },
		     { "/var/log/app/x.txt", false, false },
		     { "/var/log/x.log.1", false, false },
		     { "/var/log.log", false, false },
		     { "/var/logs/x.log", false, false },
		     { "/var/x.log", false, false });
	CHECK_FILTER("/var/log/app*.log",
		     { "/var/log/app.log", true, true },
		     { "/var/log/app-1.log", true, true },
		     { "/var/log/sub/app-1.log", false, true }, /* below the literal prefix */
		     { "/var/log/sub/x.log", false, false },
		     { "/var/log/ap.log", false, false });
	CHECK_FILTER("/home/*/.ssh/*",
		     { "/home/u/.ssh/authorized_keys", true, true },
		     { "/home/u/.ssh/keys/id", false, true },
		     { "/home/a/b/.ssh/k", true, true }, /* '*' matches '/' too */
		     { "/home/u/.sshx/k", false, false },
		     { "/home/u/.ssh", false, false },
		     { "/root/.ssh/k", false, false });
	CHECK_FILTER("/home/*/.bashrc",
		     { "/home/u/.bashrc", true, true },
		     { "/home/u/.bashrc/x", false, true },
		     { "/home/u/.bashrcx", false, false },
		     { "/home/.bashrc", false, false });
	CHECK_FILTER("/bin",
		     { "/bin", true, true },
		     { "/bin/sh", false, true },
		     { "/bin/x/y", false, true },
		     { "/binx", false, false },
		     { "/usr/bin", false, false },
		     { "/", false, false });
	CHECK_FILTER("/*",
		     { "/bin", true, true },
		     { "/bin/sh", false, true },
		     { "/", true, true }, /* the root's "" name fits '*' */
		     { "relative", false, false });
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ports_parse_ok),
		cmocka_unit_test(test_ports_parse_errors),
		cmocka_unit_test(test_ports_match),
		cmocka_unit_test(test_addr_parse_ok),
		cmocka_unit_test(test_addr_parse_errors),
		cmocka_unit_test(test_addr_contains),
		cmocka_unit_test(test_wildcard),
		cmocka_unit_test(test_wildcard_linear),
		cmocka_unit_test(test_crit_names),
		cmocka_unit_test(test_criterion_compile),
		cmocka_unit_test(test_criterion_compile_errors),
		cmocka_unit_test(test_criterion_compile_regex_errors),
		cmocka_unit_test(test_criterion_match),
		cmocka_unit_test(test_criteria_match),
		cmocka_unit_test(test_service_name),
		cmocka_unit_test(test_service_name_size),
		cmocka_unit_test(test_proc_path_match),
		cmocka_unit_test(test_proc_name_match),
		cmocka_unit_test(test_file_filter_compile),
		cmocka_unit_test(test_file_filter_compile_errors),
		cmocka_unit_test(test_file_filter_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
