// SPDX-License-Identifier: Apache-2.0
/* test_decode.c: unit tests of ring-buffer record decoding and rejection. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <linux/types.h>
#include "events.h"
#include "decode.h"

/* Records as the ring buffer delivers them: 8-byte aligned. */
static _Alignas(8) unsigned char rec[WACHT_RECORD_MAX + 64];

/* Append len bytes of s at *off; returns len for the body's *_len. */
static __u32 put(size_t *off, const void *s, size_t len)
{
	memcpy(rec + *off, s, len);
	*off += len;
	return (__u32)len;
}

static void hdr_init(struct wacht_hdr *h, __u32 type, size_t size)
{
	h->ts_ns = 1000000007ull;
	h->cgroup_id = 0x1234abcdull;
	h->type = type;
	h->size = (__u32)size;
	h->pid = 101;
	h->tgid = 100;
	h->ppid = 1;
	h->uid = 1000;
	h->euid = 0;
	h->gid = 1000;
	h->mntns = 4026531841u;
	h->pidns = 4026531836u;
	h->flags = WACHT_F_HOST;
	h->cpu = 3;
	memcpy(h->comm, "curl", 5);
}

static const char ARGV[] = "curl\0-s\0http://10.0.0.1:8080/\0";

/* A valid exec record: exe, filename, argv of 3 strings. */
static size_t build_exec(void)
{
	struct wacht_exec *e = (struct wacht_exec *)rec;
	size_t off = sizeof(*e);

	memset(rec, 0, sizeof(rec));
	e->exe_ino = 777;
	e->exe_ctime_ns = 11;
	e->exe_mtime_ns = 12;
	e->exe_dev = 0x800001;
	e->exe_nlink = 1;
	e->exe_len = put(&off, "/usr/bin/curl", 14);
	e->filename_len = put(&off, "/usr/local/bin/curl", 20);
	e->argv_len = put(&off, ARGV, sizeof(ARGV) - 1);
	e->argc = 3;
	e->old_pid = 101;
	hdr_init(&e->hdr, WACHT_EV_EXEC, off);
	return off;
}

static size_t build_file(void)
{
	struct wacht_file *f = (struct wacht_file *)rec;
	size_t off = sizeof(*f);

	memset(rec, 0, sizeof(rec));
	f->op = WACHT_FILE_RENAME;
	f->syscall = 316;
	f->result = 0;
	f->path_len = put(&off, "/etc/passwd+", 13);
	f->path2_len = put(&off, "/etc/passwd", 12);
	hdr_init(&f->hdr, WACHT_EV_FILE, off);
	return off;
}

static size_t build_cgroup(__u32 type)
{
	struct wacht_cgroup *c = (struct wacht_cgroup *)rec;
	static const char p[] = "/kubepods.slice/kubepods-besteffort.slice/"
				"cri-containerd-0123abcd.scope";
	size_t off = sizeof(*c);

	memset(rec, 0, sizeof(rec));
	c->path_len = put(&off, p, sizeof(p));
	c->level = 3;
	hdr_init(&c->hdr, type, off);
	return off;
}

static void test_exec(void **state)
{
	struct wacht_event ev;
	size_t size = build_exec();

	(void)state;
	assert_int_equal(size, 136 + 14 + 20 + 30);
	assert_int_equal(event_decode(rec, size, &ev), 0);
	assert_ptr_equal(ev.hdr, rec);
	assert_ptr_equal(ev.exec, rec);
	assert_int_equal(ev.hdr->type, WACHT_EV_EXEC);
	assert_int_equal(ev.hdr->tgid, 100);
	assert_int_equal(ev.hdr->cgroup_id, 0x1234abcdull);
	assert_string_equal((const char *)ev.hdr->comm, "curl");
	assert_int_equal(ev.exec->exe_ino, 777);
	assert_int_equal(ev.exec->exe_dev, 0x800001);
	assert_int_equal(ev.exec->old_pid, 101);
	assert_string_equal(ev.exe, "/usr/bin/curl");
	assert_ptr_equal(ev.exe, rec + 136);
	assert_string_equal(ev.filename, "/usr/local/bin/curl");
	assert_int_equal(ev.argc, 3);
	assert_int_equal(ev.argv_len, 30);
	assert_memory_equal(ev.argv, ARGV, 30);
	assert_string_equal(ev.argv, "curl");
	assert_string_equal(ev.argv + 5, "-s");
	assert_string_equal(ev.argv + 8, "http://10.0.0.1:8080/");
	/* what the type does not have is "" */
	assert_string_equal(ev.path, "");
	assert_string_equal(ev.path2, "");
	assert_string_equal(ev.cgroup_path, "");
}

static void test_exec_argc_recount(void **state)
{
	struct wacht_exec *e = (struct wacht_exec *)rec;
	struct wacht_event ev;
	size_t size, off;

	(void)state;
	/* the kernel's argc is not trusted */
	size = build_exec();
	e->argc = 7;
	assert_int_equal(event_decode(rec, size, &ev), 0);
	assert_int_equal(ev.argc, 3);
	e->argc = 0;
	assert_int_equal(event_decode(rec, size, &ev), 0);
	assert_int_equal(ev.argc, 3);

	/* empty arguments count: sh -c "" x -> 4 */
	build_exec();
	off = sizeof(*e) + 14 + 20;
	e->argv_len = put(&off, "sh\0-c\0\0x\0", 9);
	e->argc = 4;
	e->hdr.size = (__u32)off;
	assert_int_equal(event_decode(rec, off, &ev), 0);
	assert_int_equal(ev.argc, 4);
	assert_int_equal(ev.argv_len, 9);

	/* a single empty argument: argv = "" */
	build_exec();
	off = sizeof(*e) + 14 + 20;
	e->argv_len = put(&off, "", 1);
	e->hdr.size = (__u32)off;
	assert_int_equal(event_decode(rec, off, &ev), 0);
	assert_int_equal(ev.argc, 1);
}

static void test_exec_absent_strings(void **state)
{
	struct wacht_exec *e = (struct wacht_exec *)rec;
	struct wacht_event ev;

	(void)state;
	build_exec();
	e->exe_len = 0;
	e->filename_len = 0;
	e->argv_len = 0;
	e->argc = 2;
	e->hdr.size = sizeof(*e);
	assert_int_equal(event_decode(rec, sizeof(*e), &ev), 0);
	assert_string_equal(ev.exe, "");
	assert_string_equal(ev.filename, "");
	assert_string_equal(ev.argv, "");
	assert_int_equal(ev.argv_len, 0);
	assert_int_equal(ev.argc, 0);

	/* absent exe, present filename: the filename starts right after the body */
	build_exec();
	e->exe_len = 0;
	memmove(rec + sizeof(*e), rec + sizeof(*e) + 14, 50);
	e->hdr.size = sizeof(*e) + 50;
	assert_int_equal(event_decode(rec, sizeof(*e) + 50, &ev), 0);
	assert_string_equal(ev.exe, "");
	assert_string_equal(ev.filename, "/usr/local/bin/curl");
	assert_int_equal(ev.argc, 3);
}

static void test_exec_largest(void **state)
{
	struct wacht_exec *e = (struct wacht_exec *)rec;
	struct wacht_event ev;
	size_t off = sizeof(*e);

	(void)state;
	/* every field at its bound: 136 + 3 * 4096 bytes */
	memset(rec, 'p', sizeof(rec));
	memset(e, 0, sizeof(*e));
	rec[0] = 0;
	rec[off] = '/';
	rec[off + WACHT_PATH_MAX - 1] = '\0';
	e->exe_len = WACHT_PATH_MAX;
	off += WACHT_PATH_MAX;
	rec[off + WACHT_PATH_MAX - 1] = '\0';
	e->filename_len = WACHT_PATH_MAX;
	off += WACHT_PATH_MAX;
	for (size_t i = 1; i <= WACHT_ARGS_MAX / 2; i++)
		rec[off + 2 * i - 1] = '\0'; /* 2048 one-letter arguments */
	e->argv_len = WACHT_ARGS_MAX;
	off += WACHT_ARGS_MAX;
	hdr_init(&e->hdr, WACHT_EV_EXEC, off);
	e->hdr.flags |= WACHT_F_ARGS_TRUNC;
	assert_int_equal(event_decode(rec, off, &ev), 0);
	assert_int_equal(strlen(ev.exe), WACHT_PATH_MAX - 1);
	assert_int_equal(strlen(ev.filename), WACHT_PATH_MAX - 1);
	assert_int_equal(ev.argc, WACHT_ARGS_MAX / 2);
}

static void test_fork_exit_net(void **state)
{
	struct wacht_fork *f = (struct wacht_fork *)rec;
	struct wacht_exit *x = (struct wacht_exit *)rec;
	struct wacht_net *n = (struct wacht_net *)rec;
	struct wacht_event ev;

	(void)state;
	memset(rec, 0, sizeof(rec));
	hdr_init(&f->hdr, WACHT_EV_FORK, sizeof(*f));
	f->child_pid = 202;
	f->child_tgid = 202;
	f->child_cgroup_id = 99;
	assert_int_equal(event_decode(rec, sizeof(*f), &ev), 0);
	assert_ptr_equal(ev.fork, rec);
	assert_int_equal(ev.fork->child_tgid, 202);
	assert_int_equal(ev.fork->child_cgroup_id, 99);
	assert_string_equal(ev.exe, "");
	assert_string_equal(ev.path, "");

	memset(rec, 0, sizeof(rec));
	hdr_init(&x->hdr, WACHT_EV_EXIT, sizeof(*x));
	x->exit_code = 9; /* killed by SIGKILL */
	assert_int_equal(event_decode(rec, sizeof(*x), &ev), 0);
	assert_int_equal(ev.exit->exit_code, 9);

	memset(rec, 0, sizeof(rec));
	hdr_init(&n->hdr, WACHT_EV_NET, sizeof(*n));
	n->op = WACHT_NET_CONNECT;
	n->family = 2;   /* AF_INET */
	n->proto = 6;    /* IPPROTO_TCP */
	n->direction = WACHT_DIR_OUT;
	n->result = -111; /* -ECONNREFUSED */
	memcpy(n->raddr, "\x0a\x00\x00\x01", 4);
	n->rport = 5432;
	n->lport = 40000;
	n->fd = 3;
	assert_int_equal(event_decode(rec, sizeof(*n), &ev), 0);
	assert_int_equal(ev.net->op, WACHT_NET_CONNECT);
	assert_int_equal(ev.net->rport, 5432);
	assert_int_equal(ev.net->result, -111);
	assert_memory_equal(ev.net->raddr, "\x0a\x00\x00\x01", 4);
	assert_string_equal(net_op_name(ev.net->op), "connect");
}

static void test_file(void **state)
{
	struct wacht_file *f = (struct wacht_file *)rec;
	struct wacht_event ev;
	size_t size = build_file(), off;

	(void)state;
	assert_int_equal(event_decode(rec, size, &ev), 0);
	assert_ptr_equal(ev.file, rec);
	assert_int_equal(ev.file->op, WACHT_FILE_RENAME);
	assert_string_equal(file_op_name(ev.file->op), "rename");
	assert_string_equal(ev.path, "/etc/passwd+");
	assert_string_equal(ev.path2, "/etc/passwd");
	assert_string_equal(ev.exe, "");

	/* open: no path2 */
	memset(rec, 0, sizeof(rec));
	off = sizeof(*f);
	f->op = WACHT_FILE_OPEN;
	f->open_flags = 01; /* O_WRONLY */
	f->result = 3;
	f->path_len = put(&off, "/etc/shadow", 12);
	hdr_init(&f->hdr, WACHT_EV_FILE, off);
	assert_int_equal(event_decode(rec, off, &ev), 0);
	assert_string_equal(ev.path, "/etc/shadow");
	assert_string_equal(ev.path2, "");
	assert_int_equal(ev.file->result, 3);

	/* file names are arbitrary bytes */
	memset(rec, 0, sizeof(rec));
	off = sizeof(*f);
	f->op = WACHT_FILE_CREAT;
	f->path_len = put(&off, "/tmp/\xff\n\x01", 9);
	hdr_init(&f->hdr, WACHT_EV_FILE, off);
	assert_int_equal(event_decode(rec, off, &ev), 0);
	assert_string_equal(ev.path, "/tmp/\xff\n\x01");
}

static void test_cgroup(void **state)
{
	struct wacht_event ev;
	size_t size;

	(void)state;
	size = build_cgroup(WACHT_EV_CGROUP_MKDIR);
	assert_int_equal(event_decode(rec, size, &ev), 0);
	assert_ptr_equal(ev.cgroup, rec);
	assert_int_equal(ev.cgroup->level, 3);
	assert_string_equal(ev.cgroup_path, "/kubepods.slice/kubepods-besteffort.slice/"
			    "cri-containerd-0123abcd.scope");
	size = build_cgroup(WACHT_EV_CGROUP_RMDIR);
	assert_int_equal(event_decode(rec, size, &ev), 0);
	assert_string_equal(event_type_name(ev.hdr->type), "cgroup_rmdir");
	assert_string_equal(ev.cgroup_path, "/kubepods.slice/kubepods-besteffort.slice/"
			    "cri-containerd-0123abcd.scope");
}

static void test_trailing_padding(void **state)
{
	struct wacht_hdr *h = (struct wacht_hdr *)rec;
	struct wacht_event ev;
	size_t size = build_file();

	(void)state;
	/* bytes after the last string (e.g. alignment) are allowed */
	memset(rec + size, 0xaa, 8);
	h->size = (__u32)(size + 8);
	assert_int_equal(event_decode(rec, size + 8, &ev), 0);
	assert_string_equal(ev.path2, "/etc/passwd");
}

/* Rejected, and ev left zeroed (no dangling pointer to use by mistake). */
static void check_reject(const void *data, size_t size)
{
	struct wacht_event ev;

	memset(&ev, 0x5a, sizeof(ev));
	assert_int_equal(event_decode(data, size, &ev), -EINVAL);
	assert_null(ev.hdr);
	assert_null(ev.exe);
	assert_null(ev.path);
	assert_int_equal(ev.argc, 0);
}

static void test_reject_header(void **state)
{
	struct wacht_hdr *h = (struct wacht_hdr *)rec;
	size_t size;

	(void)state;
	size = build_exec();
	check_reject(NULL, size);
	check_reject(rec, 0);
	check_reject(rec, sizeof(*h) - 1);
	/* hdr.size must equal what the ring buffer delivered */
	h->size = (__u32)size - 1;
	check_reject(rec, size);
	h->size = (__u32)size + 1;
	check_reject(rec, size);
	h->size = 0;
	check_reject(rec, size);
	/* a size_t beyond 32 bits never matches hdr.size */
	h->size = (__u32)size;
	check_reject(rec, size + (1ull << 32));
	/* misaligned record */
	memmove(rec + 4, rec, size);
	check_reject(rec + 4, size);
}

static void test_reject_type(void **state)
{
	struct wacht_hdr *h = (struct wacht_hdr *)rec;
	static const __u32 bad[] = { 0, WACHT_EV_MAX, 9, 0x7fffffff, 0xffffffff };
	size_t size;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size = build_exec();
		h->type = bad[i];
		check_reject(rec, size);
	}
}

/* Each type with one byte less than its fixed part, and the bare header. */
static void test_reject_short(void **state)
{
	static const struct {
		__u32 type;
		size_t fixed;
	} types[] = {
		{ WACHT_EV_EXEC, sizeof(struct wacht_exec) },
		{ WACHT_EV_FORK, sizeof(struct wacht_fork) },
		{ WACHT_EV_EXIT, sizeof(struct wacht_exit) },
		{ WACHT_EV_FILE, sizeof(struct wacht_file) },
		{ WACHT_EV_NET, sizeof(struct wacht_net) },
		{ WACHT_EV_CGROUP_MKDIR, sizeof(struct wacht_cgroup) },
		{ WACHT_EV_CGROUP_RMDIR, sizeof(struct wacht_cgroup) },
	};
	struct wacht_hdr *h = (struct wacht_hdr *)rec;
	struct wacht_event ev;

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		memset(rec, 0, sizeof(rec));
		hdr_init(h, types[i].type, types[i].fixed);
		assert_int_equal(event_decode(rec, types[i].fixed, &ev), 0);
		h->size = (__u32)types[i].fixed - 1;
		check_reject(rec, types[i].fixed - 1);
		h->size = sizeof(*h);
		check_reject(rec, sizeof(*h));
	}
}

static void test_reject_exec_strings(void **state)
{
	struct wacht_exec *e = (struct wacht_exec *)rec;
	size_t size;

	(void)state;
	/* each length one byte past the record */
	size = build_exec();
	e->exe_len = (__u32)(size - sizeof(*e) + 1);
	check_reject(rec, size);
	size = build_exec();
	e->filename_len += 31;
	check_reject(rec, size);
	size = build_exec();
	e->argv_len += 1;
	check_reject(rec, size);
	/* the record cut before argv's end */
	size = build_exec();
	e->hdr.size = (__u32)size - 1;
	check_reject(rec, size - 1);

	/* last byte not NUL: exe, filename, argv */
	size = build_exec();
	e->exe_len = 13; /* "/usr/bin/curl" without its NUL */
	check_reject(rec, size);
	size = build_exec();
	rec[sizeof(*e) + 14 + 19] = 'X';
	check_reject(rec, size);
	size = build_exec();
	rec[size - 1] = 'X';
	check_reject(rec, size);

	/* lengths whose 32-bit sum wraps around to exactly the 64 bytes
	 * that follow the body, each string's last byte a NUL */
	size = build_exec();
	assert_int_equal(size - sizeof(*e), 64);
	e->exe_len = 0xffffffffu;
	e->filename_len = 35;
	e->argv_len = 30; /* 0xffffffff + 35 + 30 = 64 in __u32 */
	check_reject(rec, size);
	size = build_exec();
	e->exe_len = 0x80000000u;
	e->filename_len = 0x80000000u;
	e->argv_len = 64; /* 2^31 + 2^31 + 64 = 64 in __u32 */
	check_reject(rec, size);
	size = build_exec();
	e->argv_len = 0xffffffffu;
	check_reject(rec, size);
	size = build_exec();
	e->exe_len = 14;
	e->filename_len = 0u - 14u; /* 14 + 2^32 - 14 = 0 in __u32 */
	check_reject(rec, size);
}

static void test_reject_file_cgroup_strings(void **state)
{
	struct wacht_file *f = (struct wacht_file *)rec;
	struct wacht_cgroup *c = (struct wacht_cgroup *)rec;
	size_t size;

	(void)state;
	size = build_file();
	f->path_len = 0xffffffffu;
	f->path2_len = 26; /* wraps to 25 = what is there */
	check_reject(rec, size);
	size = build_file();
	f->path2_len = 13;
	check_reject(rec, size);
	size = build_file();
	f->path_len = 12; /* cut before its NUL; path2 still ends on a NUL */
	f->path2_len = 13;
	check_reject(rec, size);
	size = build_file();
	rec[size - 1] = '/';
	check_reject(rec, size);
	size = build_file();
	f->path_len = 0;
	f->path2_len = 0xfffffff0u;
	check_reject(rec, size);

	size = build_cgroup(WACHT_EV_CGROUP_MKDIR);
	c->path_len = 0xffffffffu;
	check_reject(rec, size);
	size = build_cgroup(WACHT_EV_CGROUP_MKDIR);
	c->path_len += 1;
	check_reject(rec, size);
	size = build_cgroup(WACHT_EV_CGROUP_RMDIR);
	rec[size - 1] = 'e';
	check_reject(rec, size);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(event_type_name(WACHT_EV_EXEC), "exec");
	assert_string_equal(event_type_name(WACHT_EV_FORK), "fork");
	assert_string_equal(event_type_name(WACHT_EV_EXIT), "exit");
	assert_string_equal(event_type_name(WACHT_EV_FILE), "file");
	assert_string_equal(event_type_name(WACHT_EV_NET), "net");
	assert_string_equal(event_type_name(WACHT_EV_CGROUP_MKDIR), "cgroup_mkdir");
	assert_string_equal(event_type_name(WACHT_EV_CGROUP_RMDIR), "cgroup_rmdir");
	assert_string_equal(event_type_name(0), "unknown");
	assert_string_equal(event_type_name(WACHT_EV_MAX), "unknown");
	assert_string_equal(event_type_name(UINT32_MAX), "unknown");

	assert_string_equal(file_op_name(WACHT_FILE_OPEN), "open");
	assert_string_equal(file_op_name(WACHT_FILE_CREAT), "creat");
	assert_string_equal(file_op_name(WACHT_FILE_UNLINK), "unlink");
	assert_string_equal(file_op_name(WACHT_FILE_RENAME), "rename");
	assert_string_equal(file_op_name(WACHT_FILE_CHMOD), "chmod");
	assert_string_equal(file_op_name(WACHT_FILE_CHOWN), "chown");
	assert_string_equal(file_op_name(WACHT_FILE_TRUNCATE), "truncate");
	assert_string_equal(file_op_name(WACHT_FILE_LINK), "link");
	assert_string_equal(file_op_name(WACHT_FILE_SYMLINK), "symlink");
	assert_string_equal(file_op_name(WACHT_FILE_MKDIR), "mkdir");
	assert_string_equal(file_op_name(WACHT_FILE_RMDIR), "rmdir");
	assert_string_equal(file_op_name(0), "unknown");
	assert_string_equal(file_op_name(WACHT_FILE_OP_MAX), "unknown");

	assert_string_equal(net_op_name(WACHT_NET_CONNECT), "connect");
	assert_string_equal(net_op_name(WACHT_NET_ACCEPT), "accept");
	assert_string_equal(net_op_name(WACHT_NET_BIND), "bind");
	assert_string_equal(net_op_name(WACHT_NET_LISTEN), "listen");
	assert_string_equal(net_op_name(WACHT_NET_UDP_SEND), "udp_send");
	assert_string_equal(net_op_name(0), "unknown");
	assert_string_equal(net_op_name(WACHT_NET_OP_MAX), "unknown");

	assert_string_equal(drop_reason_name(WACHT_DROP_RINGBUF_FULL), "ringbuf_full");
	assert_string_equal(drop_reason_name(WACHT_DROP_READ_FAIL), "read_fail");
	assert_string_equal(drop_reason_name(WACHT_DROP_PATH_TRUNC), "path_truncated");
	assert_string_equal(drop_reason_name(WACHT_DROP_ARGS_TRUNC), "args_truncated");
	assert_string_equal(drop_reason_name(WACHT_DROP_PENDING_FULL), "pending_full");
	assert_string_equal(drop_reason_name(WACHT_DROP_NO_SCRATCH), "no_scratch");
	assert_string_equal(drop_reason_name(WACHT_DROP_TAIL_CALL), "tail_call");
	assert_string_equal(drop_reason_name(WACHT_DROP_MAX), "unknown");
	assert_string_equal(drop_reason_name(UINT32_MAX), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec),
		cmocka_unit_test(test_exec_argc_recount),
		cmocka_unit_test(test_exec_absent_strings),
		cmocka_unit_test(test_exec_largest),
		cmocka_unit_test(test_fork_exit_net),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_cgroup),
		cmocka_unit_test(test_trailing_padding),
		cmocka_unit_test(test_reject_header),
		cmocka_unit_test(test_reject_type),
		cmocka_unit_test(test_reject_short),
		cmocka_unit_test(test_reject_exec_strings),
		cmocka_unit_test(test_reject_file_cgroup_strings),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
