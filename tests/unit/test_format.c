// SPDX-License-Identifier: Apache-2.0
/* test_format.c: a kernel record, decoded and printed, gives the exact JSON
 * a user reads (field names of DESIGN.md "Findings"). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <linux/types.h>

#include "decode.h"
#include "events.h"
#include "format.h"
#include "jsonw.h"

static uint8_t rec[WACHT_RECORD_MAX];

static void hdr_init(struct wacht_hdr *h, uint32_t type)
{
	memset(h, 0, sizeof(*h));
	h->ts_ns = 1000000000ULL;  /* 1 s after boot */
	h->cgroup_id = 4242;
	h->type = type;
	h->pid = 101;
	h->tgid = 100;
	h->ppid = 99;
	h->uid = 1000;
	h->euid = 0;
	h->gid = 1000;
	h->mntns = 4026532001u;
	h->pidns = 4026532002u;
	memcpy(h->comm, "cat", 4);
}

/* append a string with its NUL, return its length incl. NUL */
static uint32_t put(size_t *pos, const char *s, size_t n)
{
	memcpy(rec + *pos, s, n);
	*pos += n;
	return n;
}

static const struct container_view ctr = {
	.id = "abc", .runtime = "cri-o", .name = "nginx", .image = "busybox:1.36",
	.pod = "web-1", .namespace = "shop", .pod_uid = "u-1", .cgroup = "/kubepods/x", .cgroup_id = 4242,
};
/* 1 s after boot is 2026-11-27T00:00:00Z */
static const struct format_ctx fc = { .node = "node-a", .boot_to_real_ns = 1795737599000000000LL };

static const char *render(size_t size, const struct container_view *c, const struct process_view *pv)
{
	static char out[8192];
	struct wacht_event ev;
	struct jsonw *w = jsonw__new();
	size_t len;

	((struct wacht_hdr *)rec)->size = size;
	assert_int_equal(event_decode(rec, size, &ev), 0);
	assert_int_equal(format_event(w, &fc, &ev, c, pv), 0);
	const char *d = jsonw__data(w, &len);
	assert_true(len < sizeof(out));
	memcpy(out, d, len + 1);
	jsonw__free(w);
	return out;
}

static void test_exec(void **state)
{
	(void)state;
	struct wacht_exec *e = (void *)rec;
	size_t pos = sizeof(*e);

	memset(rec, 0, sizeof(rec));
	hdr_init(&e->hdr, WACHT_EV_EXEC);
	e->exe_ino = 77;
	e->exe_len = put(&pos, "/bin/busybox", 13);
	e->filename_len = put(&pos, "/bin/cat", 9);
	e->argv_len = put(&pos, "cat\0/etc/passwd", 16);
	e->argc = 2;
	struct process_view pv = { .exe = "", .parent_exe = "/bin/sh" };
	assert_string_equal(render(pos, &ctr, &pv),
		"{\"time\":\"2026-11-27T00:00:00.000000000Z\",\"node\":\"node-a\",\"kind\":\"event\",\"event\":\"exec\","
		"\"container\":{\"id\":\"abc\",\"runtime\":\"cri-o\",\"name\":\"nginx\",\"image\":\"busybox:1.36\","
		"\"pod\":\"web-1\",\"namespace\":\"shop\",\"pod_uid\":\"u-1\",\"cgroup\":\"/kubepods/x\",\"cgroup_id\":4242},"
		"\"process\":{\"pid\":100,\"tid\":101,\"ppid\":99,\"uid\":1000,\"euid\":0,\"gid\":1000,\"comm\":\"cat\","
		"\"exe\":\"/bin/busybox\",\"filename\":\"/bin/cat\",\"args\":[\"cat\",\"/etc/passwd\"],"
		"\"args_truncated\":false,\"exe_inode\":77,\"parent_exe\":\"/bin/sh\",\"pidns\":4026532002,"
		"\"mntns\":4026532001}}");
}

static void test_file_relative_normalised(void **state)
{
	(void)state;
	struct wacht_file *f = (void *)rec;
	size_t pos = sizeof(*f);

	memset(rec, 0, sizeof(rec));
	hdr_init(&f->hdr, WACHT_EV_FILE);
	f->hdr.flags = WACHT_F_PATH_RELATIVE;
	f->op = WACHT_FILE_RENAME;
	f->result = -2;
	f->path_len = put(&pos, "/tmp/./a//x", 12);
	f->path2_len = put(&pos, "/tmp/a/../y", 12);
	struct process_view pv = { .exe = "/bin/busybox", .parent_exe = "" };
	const char *s = render(pos, &ctr, &pv);
	assert_non_null(strstr(s, "\"file\":{\"op\":\"rename\",\"path\":\"/tmp/a/x\",\"new_path\":\"/tmp/y\","
				  "\"result\":-2,\"error\":\"ENOENT\"}"));
	assert_non_null(strstr(s, "\"exe\":\"/bin/busybox\""));
}

static void test_file_open_write_create(void **state)
{
	(void)state;
	struct wacht_file *f = (void *)rec;
	size_t pos = sizeof(*f);

	memset(rec, 0, sizeof(rec));
	hdr_init(&f->hdr, WACHT_EV_FILE);
	f->op = WACHT_FILE_OPEN;
	f->open_flags = 01 | 0100 | 01000; /* O_WRONLY|O_CREAT|O_TRUNC */
	f->mode = 0644;
	f->result = 3;
	f->path_len = put(&pos, "/tmp/x", 7);
	const char *s = render(pos, NULL, NULL);
	assert_non_null(strstr(s, "\"container\":null"));
	assert_non_null(strstr(s, "\"file\":{\"op\":\"open\",\"path\":\"/tmp/x\",\"access\":\"write\","
				  "\"create\":true,\"truncate\":true,\"flags\":577,\"mode\":420,\"result\":3}"));
}

static void test_net_connect_v4_and_v6(void **state)
{
	(void)state;
	struct wacht_net *n = (void *)rec;

	memset(rec, 0, sizeof(rec));
	hdr_init(&n->hdr, WACHT_EV_NET);
	n->op = WACHT_NET_CONNECT;
	n->family = 2;
	n->proto = 6;
	n->direction = WACHT_DIR_OUT;
	n->result = -111;
	memcpy(n->laddr, "\x0a\xd5\x00\x02", 4);
	memcpy(n->raddr, "\x0a\xd5\x00\x01", 4);
	n->lport = 40000;
	n->rport = 8080;
	const char *s = render(sizeof(*n), &ctr, NULL);
	assert_non_null(strstr(s, "\"network\":{\"op\":\"connect\",\"proto\":\"tcp\",\"family\":\"ipv4\","
				  "\"direction\":\"outbound\",\"local_ip\":\"10.213.0.2\",\"local_port\":40000,"
				  "\"remote_ip\":\"10.213.0.1\",\"remote_port\":8080,\"result\":-111,"
				  "\"error\":\"ECONNREFUSED\"}"));

	memset(n->laddr, 0, 16);
	memcpy(n->raddr, "\xfd\x00\x02\x13\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	n->family = 10;
	n->proto = 17;
	n->op = WACHT_NET_UDP_SEND;
	n->result = 5;
	s = render(sizeof(*n), &ctr, NULL);
	assert_non_null(strstr(s, "\"op\":\"udp_send\",\"proto\":\"udp\",\"family\":\"ipv6\","
				  "\"direction\":\"outbound\",\"local_ip\":\"::\",\"local_port\":40000,"
				  "\"remote_ip\":\"fd00:213::1\",\"remote_port\":8080,\"result\":5}"));
}

static void test_exit_code_and_signal(void **state)
{
	(void)state;
	struct wacht_exit *x = (void *)rec;

	memset(rec, 0, sizeof(rec));
	hdr_init(&x->hdr, WACHT_EV_EXIT);
	x->exit_code = 3 << 8;
	assert_non_null(strstr(render(sizeof(*x), &ctr, NULL), "\"exit_code\":3,\"signal\":0"));
	x->exit_code = 9;
	assert_non_null(strstr(render(sizeof(*x), &ctr, NULL), "\"exit_code\":0,\"signal\":9"));
}

static void test_errno_names(void **state)
{
	(void)state;
	char buf[32];

	assert_string_equal(format_errno(-2, buf, sizeof(buf)), "ENOENT");
	assert_string_equal(format_errno(-115, buf, sizeof(buf)), "EINPROGRESS");
	assert_string_equal(format_errno(-5000, buf, sizeof(buf)), "E5000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec),
		cmocka_unit_test(test_file_relative_normalised),
		cmocka_unit_test(test_file_open_write_create),
		cmocka_unit_test(test_net_connect_v4_and_v6),
		cmocka_unit_test(test_exit_code_and_signal),
		cmocka_unit_test(test_errno_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
