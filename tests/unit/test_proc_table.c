// SPDX-License-Identifier: Apache-2.0
/* test_proc_table.c: unit tests of the process table (tree, eviction, scale). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proc_table.h"

static void test_new_free(void **state)
{
	(void)state;
	errno = 0;
	assert_null(proc_table__new(0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(proc_table__new((1u << 24) + 1));
	assert_int_equal(errno, EINVAL);
	proc_table__free(NULL);
}

static void test_exec_fork_exit(void **state)
{
	struct proc_table *t = proc_table__new(16);
	const struct proc_entry *e, *c;
	size_t bytes;

	(void)state;
	assert_non_null(t);
	assert_int_equal(proc_table__exec(t, 100, 1, 0xc1, "/usr/sbin/nginx", "nginx", 5), 0);
	e = proc_table__lookup(t, 100);
	assert_non_null(e);
	assert_int_equal(e->tgid, 100);
	assert_int_equal(e->ppid, 1);
	assert_int_equal(e->cgroup_id, 0xc1);
	assert_int_equal(e->start_ns, 5);
	assert_string_equal(e->comm, "nginx");
	assert_string_equal(e->exe, "/usr/sbin/nginx");
	assert_int_equal(proc_table__count(t), 1);
	bytes = proc_table__exe_bytes(t);
	assert_true(bytes > strlen("/usr/sbin/nginx"));

	/* the child inherits exe and comm, shares the string */
	assert_int_equal(proc_table__fork(t, 100, 101, 0xc2, 6), 0);
	e = proc_table__lookup(t, 100);
	c = proc_table__lookup(t, 101);
	assert_non_null(c);
	assert_int_equal(c->tgid, 101);
	assert_int_equal(c->ppid, 100);
	assert_int_equal(c->cgroup_id, 0xc2);
	assert_int_equal(c->start_ns, 6);
	assert_string_equal(c->comm, "nginx");
	assert_string_equal(c->exe, "/usr/sbin/nginx");
	assert_ptr_equal(c->exe, e->exe);
	assert_int_equal(proc_table__exe_bytes(t), bytes);
	assert_int_equal(proc_table__count(t), 2);

	/* exec in the child replaces exe and comm, keeps the start time */
	assert_int_equal(proc_table__exec(t, 101, 100, 0xc2, "/bin/sh", "sh", 7), 0);
	c = proc_table__lookup(t, 101);
	assert_string_equal(c->exe, "/bin/sh");
	assert_string_equal(c->comm, "sh");
	assert_int_equal(c->start_ns, 6);
	assert_int_equal(c->ppid, 100);
	e = proc_table__lookup(t, 100);
	assert_string_equal(e->exe, "/usr/sbin/nginx");
	assert_string_equal(e->comm, "nginx");

	/* exit removes; a second exit is -ENOENT */
	assert_int_equal(proc_table__exit(t, 101), 0);
	assert_null(proc_table__lookup(t, 101));
	assert_int_equal(proc_table__exit(t, 101), -ENOENT);
	assert_int_equal(proc_table__exit(t, 4242), -ENOENT);
	assert_int_equal(proc_table__count(t), 1);
	/* "/bin/sh" had no other user: freed */
	assert_int_equal(proc_table__exe_bytes(t), bytes);
	assert_int_equal(proc_table__exit(t, 100), 0);
	assert_int_equal(proc_table__count(t), 0);
	assert_int_equal(proc_table__exe_bytes(t), 0);
	assert_int_equal(proc_table__evictions(t), 0);
	proc_table__free(t);
}

static void test_unknown_parent_and_defaults(void **state)
{
	struct proc_table *t = proc_table__new(16);
	const struct proc_entry *e;
	char exe[PROC_EXE_MAX + 1];

	(void)state;
	/* fork from a parent never seen (started before the sensor) */
	assert_int_equal(proc_table__fork(t, 7, 8, 0xc, 1), 0);
	e = proc_table__lookup(t, 8);
	assert_string_equal(e->exe, "");
	assert_string_equal(e->comm, "");
	assert_int_equal(e->ppid, 7);
	assert_null(proc_table__lookup(t, 7));

	/* NULL exe/comm, and comm cut to 15 bytes like the kernel's */
	assert_int_equal(proc_table__exec(t, 9, 1, 0, NULL, NULL, 2), 0);
	e = proc_table__lookup(t, 9);
	assert_string_equal(e->exe, "");
	assert_string_equal(e->comm, "");
	assert_int_equal(proc_table__exec(t, 9, 1, 0, "/x", "a-very-long-command-name", 3), 0);
	e = proc_table__lookup(t, 9);
	assert_string_equal(e->comm, "a-very-long-com");
	assert_int_equal(e->start_ns, 2);

	/* tgid 0 is a key like any other */
	assert_int_equal(proc_table__exec(t, 0, 0, 0, "/swapper", "swapper/0", 0), 0);
	assert_string_equal(proc_table__lookup(t, 0)->exe, "/swapper");

	/* the longest exe accepted: PROC_EXE_MAX - 1 bytes */
	memset(exe, 'a', sizeof(exe));
	exe[0] = '/';
	exe[PROC_EXE_MAX - 1] = '\0';
	assert_int_equal(proc_table__exec(t, 10, 1, 0, exe, "a", 4), 0);
	assert_int_equal(strlen(proc_table__lookup(t, 10)->exe), PROC_EXE_MAX - 1);
	/* one more is refused, and the entry is dropped, not left stale */
	exe[PROC_EXE_MAX - 1] = 'a';
	exe[PROC_EXE_MAX] = '\0';
	assert_int_equal(proc_table__exec(t, 10, 1, 0, exe, "a", 5), -ENAMETOOLONG);
	assert_null(proc_table__lookup(t, 10));
	assert_int_equal(proc_table__exec(t, 11, 1, 0, exe, "a", 5), -ENAMETOOLONG);
	assert_null(proc_table__lookup(t, 11));
	assert_int_equal(proc_table__count(t), 3);
	proc_table__free(t);
}

static void test_pid_reuse(void **state)
{
	struct proc_table *t = proc_table__new(16);
	const struct proc_entry *e;

	(void)state;
	assert_int_equal(proc_table__exec(t, 1, 0, 1, "/sbin/init", "init", 1), 0);
	assert_int_equal(proc_table__exec(t, 50, 1, 5, "/usr/bin/old", "old", 2), 0);
	/* 50's exit was lost; pid 50 comes back as a child of init */
	assert_int_equal(proc_table__fork(t, 1, 50, 6, 9), 0);
	e = proc_table__lookup(t, 50);
	assert_string_equal(e->exe, "/sbin/init");
	assert_string_equal(e->comm, "init");
	assert_int_equal(e->cgroup_id, 6);
	assert_int_equal(e->start_ns, 9);
	assert_int_equal(proc_table__count(t), 2);
	/* a process forking "itself" (nonsense input) keeps a valid entry */
	assert_int_equal(proc_table__fork(t, 50, 50, 6, 10), 0);
	e = proc_table__lookup(t, 50);
	assert_string_equal(e->exe, "/sbin/init");
	assert_int_equal(e->ppid, 50);
	proc_table__free(t);
}

static void test_chain(void **state)
{
	struct proc_table *t = proc_table__new(64);
	static const char *const exes[] = {
		"/usr/bin/containerd-shim-runc-v2", "/usr/bin/bash",
		"/usr/bin/python3.11", "/bin/sh", "/usr/bin/nc",
	};
	const struct proc_entry *e;
	uint32_t tgid;
	int depth;

	(void)state;
	/* shim -> bash -> python -> sh -> nc, each forked then exec'd */
	assert_int_equal(proc_table__exec(t, 1000, 1, 0, exes[0], "containerd-shim", 0), 0);
	for (uint32_t i = 1; i < 5; i++) {
		assert_int_equal(proc_table__fork(t, 1000 + i - 1, 1000 + i, 0xabc, i), 0);
		assert_string_equal(proc_table__lookup(t, 1000 + i)->exe, exes[i - 1]);
		assert_int_equal(proc_table__exec(t, 1000 + i, 1000 + i - 1, 0xabc,
						  exes[i], strrchr(exes[i], '/') + 1, i), 0);
	}
	/* walk from nc up to the shim through ppid */
	tgid = 1004;
	for (depth = 4; depth >= 0; depth--) {
		e = proc_table__lookup(t, tgid);
		assert_non_null(e);
		assert_string_equal(e->exe, exes[depth]);
		tgid = e->ppid;
	}
	assert_int_equal(tgid, 1);
	/* the middle exits: the child still names its ppid, the lookup fails */
	assert_int_equal(proc_table__exit(t, 1002), 0);
	assert_int_equal(proc_table__lookup(t, 1003)->ppid, 1002);
	assert_null(proc_table__lookup(t, 1002));
	proc_table__free(t);
}

static void test_evict_oldest(void **state)
{
	struct proc_table *t = proc_table__new(4);
	char exe[32];

	(void)state;
	for (uint32_t i = 1; i <= 4; i++) {
		snprintf(exe, sizeof(exe), "/bin/p%u", i);
		assert_int_equal(proc_table__exec(t, i, 0, 0, exe, "p", i), 0);
	}
	/* 1 forks: it is seen again, so 2 is now the oldest and goes */
	assert_int_equal(proc_table__fork(t, 1, 5, 0, 5), 0);
	assert_int_equal(proc_table__count(t), 4);
	assert_int_equal(proc_table__evictions(t), 1);
	assert_null(proc_table__lookup(t, 2));
	assert_string_equal(proc_table__lookup(t, 1)->exe, "/bin/p1");
	assert_string_equal(proc_table__lookup(t, 5)->exe, "/bin/p1");
	/* exec of a known process makes it newest: 3 stays, 4 goes */
	assert_int_equal(proc_table__exec(t, 3, 0, 0, "/bin/q3", "q", 6), 0);
	assert_int_equal(proc_table__exec(t, 6, 0, 0, "/bin/p6", "p", 7), 0);
	assert_int_equal(proc_table__evictions(t), 2);
	assert_null(proc_table__lookup(t, 4));
	assert_non_null(proc_table__lookup(t, 3));
	assert_non_null(proc_table__lookup(t, 1));
	/* exit frees a place: no eviction */
	assert_int_equal(proc_table__exit(t, 1), 0);
	assert_int_equal(proc_table__exec(t, 7, 0, 0, "/bin/p7", "p", 8), 0);
	assert_int_equal(proc_table__evictions(t), 2);
	assert_int_equal(proc_table__count(t), 4);
	proc_table__free(t);

	/* capacity 1: the child's insertion evicts its own parent, whose exe
	 * the child must still get (run under ASan) */
	t = proc_table__new(1);
	assert_int_equal(proc_table__exec(t, 1, 0, 0, "/bin/only", "only", 1), 0);
	assert_int_equal(proc_table__fork(t, 1, 2, 0, 2), 0);
	assert_null(proc_table__lookup(t, 1));
	assert_string_equal(proc_table__lookup(t, 2)->exe, "/bin/only");
	assert_string_equal(proc_table__lookup(t, 2)->comm, "only");
	assert_int_equal(proc_table__evictions(t), 1);
	proc_table__free(t);
}

static void test_interning(void **state)
{
	struct proc_table *t = proc_table__new(2048);
	char exe[PROC_EXE_MAX];
	size_t one;

	(void)state;
	/* 1000 processes exec the same 4 KiB path: one copy */
	memset(exe, 'd', sizeof(exe));
	exe[0] = '/';
	exe[PROC_EXE_MAX - 1] = '\0';
	assert_int_equal(proc_table__exec(t, 1, 0, 0, exe, "x", 0), 0);
	one = proc_table__exe_bytes(t);
	assert_true(one >= PROC_EXE_MAX && one < PROC_EXE_MAX + 64);
	for (uint32_t i = 2; i <= 1000; i++)
		assert_int_equal(proc_table__exec(t, i, 0, 0, exe, "x", i), 0);
	assert_int_equal(proc_table__exe_bytes(t), one);
	assert_ptr_equal(proc_table__lookup(t, 1)->exe, proc_table__lookup(t, 1000)->exe);
	/* re-exec of the same binary keeps the same string */
	assert_int_equal(proc_table__exec(t, 1, 0, 0, exe, "x", 0), 0);
	assert_int_equal(proc_table__exe_bytes(t), one);
	/* the string lives until its last user leaves */
	for (uint32_t i = 1; i < 1000; i++)
		assert_int_equal(proc_table__exit(t, i), 0);
	assert_int_equal(proc_table__exe_bytes(t), one);
	assert_int_equal(proc_table__exit(t, 1000), 0);
	assert_int_equal(proc_table__exe_bytes(t), 0);
	assert_int_equal(proc_table__evictions(t), 0);
	proc_table__free(t);
}

/* Distinct long paths beyond the string budget evict the oldest rather
 * than grow: 64 entries x 128 bytes is under the 64 KiB floor, which 100
 * distinct 4 KiB paths exceed. */
static void test_exe_budget(void **state)
{
	struct proc_table *t = proc_table__new(128);
	char exe[PROC_EXE_MAX];
	uint32_t i;

	(void)state;
	memset(exe, 'b', sizeof(exe));
	exe[0] = '/';
	exe[PROC_EXE_MAX - 1] = '\0';
	for (i = 1; i <= 100; i++) {
		/* "/0001/bbb...": distinct paths of PROC_EXE_MAX - 1 bytes */
		exe[1] = (char)('0' + i / 1000);
		exe[2] = (char)('0' + i / 100 % 10);
		exe[3] = (char)('0' + i / 10 % 10);
		exe[4] = (char)('0' + i % 10);
		exe[5] = '/';
		assert_int_equal(proc_table__exec(t, i, 0, 0, exe, "b", i), 0);
		assert_true(proc_table__exe_bytes(t) <= 64 * 1024);
	}
	assert_true(proc_table__evictions(t) > 0);
	assert_int_equal(proc_table__count(t) + proc_table__evictions(t), 100);
	/* the newest are kept, with the right path */
	assert_non_null(proc_table__lookup(t, 100));
	assert_memory_equal(proc_table__lookup(t, 100)->exe, "/0100/", 6);
	assert_null(proc_table__lookup(t, 1));
	/* short paths still fit beside them */
	assert_int_equal(proc_table__exec(t, 500, 0, 0, "/bin/sh", "sh", 0), 0);
	assert_string_equal(proc_table__lookup(t, 500)->exe, "/bin/sh");
	proc_table__free(t);
}

static void test_100k(void **state)
{
	static const char *const exes[] = {
		"/usr/bin/python3", "/bin/sh", "/usr/sbin/nginx", "/usr/bin/java",
		"/usr/local/bin/node", "/bin/busybox", "/usr/bin/curl",
	};
	const size_t n = 100000, nexe = sizeof(exes) / sizeof(exes[0]);
	struct proc_table *t = proc_table__new(n);
	const struct proc_entry *e;
	uint32_t i, base = 300000; /* pid_max-like numbers, dense */

	(void)state;
	assert_non_null(t);
	assert_int_equal(proc_table__exec(t, base, 1, 1, exes[0], "init", 0), 0);
	for (i = 1; i < n; i++) {
		assert_int_equal(proc_table__fork(t, base + i / 2, base + i, 1, i), 0);
		if (i % 3 == 0)
			assert_int_equal(proc_table__exec(t, base + i, base + i / 2, 1,
							  exes[i % nexe], "w", i), 0);
	}
	assert_int_equal(proc_table__count(t), n);
	assert_int_equal(proc_table__evictions(t), 0);
	for (i = 1; i < n; i++) {
		e = proc_table__lookup(t, base + i);
		assert_non_null(e);
		assert_int_equal(e->ppid, base + i / 2);
		assert_int_equal(e->start_ns, i);
		if (i % 3 == 0)
			assert_string_equal(e->exe, exes[i % nexe]);
	}
	/* strings: at most one per distinct path */
	assert_true(proc_table__exe_bytes(t) < nexe * 64);

	/* every third exits; the rest are still found (deletions in the
	 * probe runs must not hide anything) */
	for (i = 0; i < n; i += 3)
		assert_int_equal(proc_table__exit(t, base + i), 0);
	for (i = 0; i < n; i++) {
		e = proc_table__lookup(t, base + i);
		if (i % 3 == 0) {
			assert_null(e);
		} else {
			assert_non_null(e);
			assert_int_equal(e->tgid, base + i);
		}
	}
	/* refill to capacity and 1000 past it: exactly 1000 evictions, the
	 * least recently seen first (base + 1, last seen when it forked
	 * base + 3) */
	uint32_t refill = (uint32_t)(n - proc_table__count(t)) + 1000;

	for (i = 0; i < refill; i++)
		assert_int_equal(proc_table__exec(t, 1000000 + i, 1, 2, "/bin/new", "new", 0), 0);
	assert_int_equal(proc_table__count(t), n);
	assert_int_equal(proc_table__evictions(t), 1000);
	assert_null(proc_table__lookup(t, base + 1));
	assert_null(proc_table__lookup(t, base + 2));
	assert_non_null(proc_table__lookup(t, base + n - 2)); /* n - 1 exited */
	assert_string_equal(proc_table__lookup(t, 1000000 + refill - 1)->exe, "/bin/new");
	proc_table__free(t);
}

/* Random exec/fork/exit against a plain-array model of the same rules
 * (least recently seen evicted first). */
#define M_TGIDS 1024
#define M_MAX 200
struct model {
	bool present[M_TGIDS];
	int exe[M_TGIDS]; /* -1: "" */
	uint32_t ppid[M_TGIDS];
	uint32_t age[M_TGIDS]; /* tgids, oldest first */
	size_t n;
	uint64_t evictions;
};

static void model_touch(struct model *m, uint32_t tgid)
{
	size_t i;

	for (i = 0; i < m->n && m->age[i] != tgid; i++)
		;
	if (i < m->n) {
		memmove(m->age + i, m->age + i + 1, (m->n - i - 1) * sizeof(m->age[0]));
		m->n--;
	} else if (m->n == M_MAX) {
		m->present[m->age[0]] = false;
		memmove(m->age, m->age + 1, (m->n - 1) * sizeof(m->age[0]));
		m->n--;
		m->evictions++;
	}
	m->age[m->n++] = tgid;
	m->present[tgid] = true;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(uint32_t bound)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % bound);
}

static void test_model(void **state)
{
	static struct model m;
	struct proc_table *t = proc_table__new(M_MAX);
	char exes[16][24];
	const struct proc_entry *e;

	(void)state;
	for (unsigned int i = 0; i < 16; i++)
		snprintf(exes[i], sizeof(exes[i]), "/bin/e%u", i);
	for (int op = 0; op < 200000; op++) {
		uint32_t a = rnd(M_TGIDS), b = rnd(M_TGIDS);
		int x = (int)rnd(16);

		switch (rnd(3)) {
		case 0:
			assert_int_equal(proc_table__exec(t, a, b, 0, exes[x], "e", op), 0);
			model_touch(&m, a);
			m.exe[a] = x;
			m.ppid[a] = b;
			break;
		case 1: {
			int pexe = m.present[a] ? m.exe[a] : -1;

			assert_int_equal(proc_table__fork(t, a, b, 0, op), 0);
			if (m.present[a])
				model_touch(&m, a);
			model_touch(&m, b);
			m.exe[b] = pexe;
			m.ppid[b] = a;
			break;
		}
		default:
			if (m.present[a]) {
				assert_int_equal(proc_table__exit(t, a), 0);
				model_touch(&m, a); /* move to the end, then drop */
				m.n--;
				m.present[a] = false;
			} else {
				assert_int_equal(proc_table__exit(t, a), -ENOENT);
			}
			break;
		}
		assert_int_equal(proc_table__count(t), m.n);
		assert_int_equal(proc_table__evictions(t), m.evictions);
		if (op % 1000 != 0)
			continue;
		for (uint32_t g = 0; g < M_TGIDS; g++) {
			e = proc_table__lookup(t, g);
			if (!m.present[g]) {
				assert_null(e);
				continue;
			}
			assert_non_null(e);
			assert_int_equal(e->ppid, m.ppid[g]);
			assert_string_equal(e->exe, m.exe[g] < 0 ? "" : exes[m.exe[g]]);
		}
	}
	proc_table__free(t);
}

/* runc init (no exec yet) is not workload; the entrypoint's exec marks it,
 * its children inherit, exec keeps it, unknown pids are refused. */
static void test_workload_flag(void **state)
{
	(void)state;
	struct proc_table *t = proc_table__new(16);

	assert_non_null(t);
	assert_int_equal(proc_table__fork(t, 10, 11, 7, 1), 0); /* runc -> runc init */
	assert_int_equal(proc_table__lookup(t, 11)->flags, 0);
	assert_int_equal(proc_table__exec(t, 11, 10, 7, "/bin/sh", "sh", 2), 0);
	assert_int_equal(proc_table__lookup(t, 11)->flags, 0);
	assert_int_equal(proc_table__set_flags(t, 11, PROC_F_WORKLOAD), 0);
	assert_int_equal(proc_table__fork(t, 11, 12, 7, 3), 0);
	assert_int_equal(proc_table__lookup(t, 12)->flags, PROC_F_WORKLOAD);
	assert_int_equal(proc_table__exec(t, 12, 11, 7, "/bin/cat", "cat", 4), 0);
	assert_int_equal(proc_table__lookup(t, 12)->flags, PROC_F_WORKLOAD);
	assert_int_equal(proc_table__set_flags(t, 99, PROC_F_WORKLOAD), -ENOENT);
	proc_table__free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_free),
		cmocka_unit_test(test_exec_fork_exit),
		cmocka_unit_test(test_unknown_parent_and_defaults),
		cmocka_unit_test(test_pid_reuse),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_evict_oldest),
		cmocka_unit_test(test_interning),
		cmocka_unit_test(test_exe_budget),
		cmocka_unit_test(test_100k),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_workload_flag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
