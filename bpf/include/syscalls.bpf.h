/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* syscalls.bpf.h: which syscalls Wacht reports, and where their arguments are. */
#ifndef WACHT_SYSCALLS_BPF_H
#define WACHT_SYSCALLS_BPF_H

#include "maps.bpf.h"

/*
 * Syscall numbers are per architecture and not in BTF, so they are listed
 * here (from arch/x86/entry/syscalls/syscall_64.tbl and
 * include/uapi/asm-generic/unistd.h). -1 marks a syscall the architecture
 * does not have (arm64 only has the *at variants).
 */
#if defined(__TARGET_ARCH_x86)
#define NR_open 2
#define NR_creat 85
#define NR_unlink 87
#define NR_rename 82
#define NR_chmod 90
#define NR_chown 92
#define NR_lchown 94
#define NR_link 86
#define NR_symlink 88
#define NR_mkdir 83
#define NR_rmdir 84
#define NR_openat 257
#define NR_openat2 437
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_renameat2 316
#define NR_fchmod 91
#define NR_fchmodat 268
#define NR_fchmodat2 452
#define NR_fchown 93
#define NR_fchownat 260
#define NR_truncate 76
#define NR_ftruncate 77
#define NR_linkat 265
#define NR_symlinkat 266
#define NR_mkdirat 258
#define NR_connect 42
#define NR_accept 43
#define NR_accept4 288
#define NR_bind 49
#define NR_listen 50
#define NR_sendto 44
#define NR_sendmsg 46
#elif defined(__TARGET_ARCH_arm64)
#define NR_open -1
#define NR_creat -2
#define NR_unlink -3
#define NR_rename -4
#define NR_chmod -5
#define NR_chown -6
#define NR_lchown -7
#define NR_link -8
#define NR_symlink -9
#define NR_mkdir -10
#define NR_rmdir -11
#define NR_openat 56
#define NR_openat2 437
#define NR_unlinkat 35
#define NR_renameat 38
#define NR_renameat2 276
#define NR_fchmod 52
#define NR_fchmodat 53
#define NR_fchmodat2 452
#define NR_fchown 55
#define NR_fchownat 54
#define NR_truncate 45
#define NR_ftruncate 46
#define NR_linkat 37
#define NR_symlinkat 36
#define NR_mkdirat 34
#define NR_connect 203
#define NR_accept 202
#define NR_accept4 242
#define NR_bind 200
#define NR_listen 201
#define NR_sendto 206
#define NR_sendmsg 211
#else
#error "Wacht: add this architecture's syscall numbers"
#endif

/*
 * The syscalls Wacht reports, one syscalls:sys_enter_X/sys_exit_X tracepoint
 * pair each: X(name, kind, number of arguments). The argument count matters:
 * the kernel refuses to attach a program that reads past the tracepoint's
 * record (perf_event_set_bpf_prog: max_ctx_offset). A syscall the running kernel or architecture
 * lacks (fchmodat2 before 6.6, open/creat/... on arm64) has no tracepoint;
 * the loader skips it and says so.
 */
#define WACHT_SYSCALLS(X) \
	X(open, WACHT_SC_FILE, 3) \
	X(openat, WACHT_SC_FILE, 4) \
	X(openat2, WACHT_SC_FILE, 4) \
	X(creat, WACHT_SC_FILE, 2) \
	X(unlink, WACHT_SC_FILE, 1) \
	X(unlinkat, WACHT_SC_FILE, 3) \
	X(rename, WACHT_SC_FILE, 2) \
	X(renameat, WACHT_SC_FILE, 4) \
	X(renameat2, WACHT_SC_FILE, 5) \
	X(chmod, WACHT_SC_FILE, 2) \
	X(fchmod, WACHT_SC_FILE, 2) \
	X(fchmodat, WACHT_SC_FILE, 3) \
	X(fchmodat2, WACHT_SC_FILE, 4) \
	X(chown, WACHT_SC_FILE, 3) \
	X(fchown, WACHT_SC_FILE, 3) \
	X(lchown, WACHT_SC_FILE, 3) \
	X(fchownat, WACHT_SC_FILE, 5) \
	X(truncate, WACHT_SC_FILE, 2) \
	X(ftruncate, WACHT_SC_FILE, 2) \
	X(link, WACHT_SC_FILE, 2) \
	X(linkat, WACHT_SC_FILE, 5) \
	X(symlink, WACHT_SC_FILE, 2) \
	X(symlinkat, WACHT_SC_FILE, 3) \
	X(mkdir, WACHT_SC_FILE, 2) \
	X(mkdirat, WACHT_SC_FILE, 3) \
	X(rmdir, WACHT_SC_FILE, 1) \
	X(connect, WACHT_SC_NET, 3) \
	X(accept, WACHT_SC_NET, 3) \
	X(accept4, WACHT_SC_NET, 4) \
	X(bind, WACHT_SC_NET, 3) \
	X(listen, WACHT_SC_NET, 2) \
	X(sendto, WACHT_SC_NET, 6) \
	X(sendmsg, WACHT_SC_NET, 3)

/* Layout of every syscalls:sys_enter_X / sys_exit_X record (see
 * /sys/kernel/tracing/events/syscalls/sys_enter_openat/format): the common
 * header, int __syscall_nr, then 8-byte arguments or the return value. */
struct sc_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 _pad;
	__u64 args[6];
};
struct sc_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 _pad;
	__s64 ret;
};

/* Take the current thread's pending syscall (copied out, slot released).
 * Returns false when there is none. */
static __always_inline bool pending_take(struct task_struct *task, struct wacht_pending *out)
{
	struct wacht_pending *pp = bpf_task_storage_get(&pending, task, 0, 0);

	if (!pp || !pp->valid)
		return false;
	*out = *pp;
	pp->valid = 0;
	return true;
}

#define ARG_NONE 7 /* no such argument */
#define ARG_CWD 6  /* directory is the cwd (AT_FDCWD implied) */

/* Where a file syscall keeps its operands. Index into args[]. */
struct file_sc {
	__u8 op;         /* enum wacht_file_op, 0 = not a file syscall */
	__u8 dfd;        /* dirfd of path, ARG_CWD when implied */
	__u8 path;       /* user string, ARG_NONE when the object is an fd */
	__u8 fd;         /* fd naming the object (fchmod...), else ARG_NONE */
	__u8 dfd2;       /* second path's dirfd */
	__u8 path2;      /* second path, ARG_NONE if none */
	__u8 flags;      /* open flags argument, ARG_NONE if none */
	__u8 mode;       /* mode argument, ARG_NONE if none */
};

#define FSC(o, d, p, f, d2, p2, fl, m) \
	(struct file_sc){ .op = o, .dfd = d, .path = p, .fd = f, .dfd2 = d2, .path2 = p2, .flags = fl, .mode = m }

static __always_inline struct file_sc file_sc_lookup(long nr)
{
	switch (nr) {
	case NR_open:     return FSC(WACHT_FILE_OPEN, ARG_CWD, 0, ARG_NONE, ARG_NONE, ARG_NONE, 1, 2);
	case NR_openat:   return FSC(WACHT_FILE_OPEN, 0, 1, ARG_NONE, ARG_NONE, ARG_NONE, 2, 3);
	case NR_openat2:  return FSC(WACHT_FILE_OPEN, 0, 1, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE);
	case NR_creat:    return FSC(WACHT_FILE_CREAT, ARG_CWD, 0, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE, 1);
	case NR_unlink:   return FSC(WACHT_FILE_UNLINK, ARG_CWD, 0, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE);
	case NR_unlinkat: return FSC(WACHT_FILE_UNLINK, 0, 1, ARG_NONE, ARG_NONE, ARG_NONE, 2, ARG_NONE);
	case NR_rename:   return FSC(WACHT_FILE_RENAME, ARG_CWD, 0, ARG_NONE, ARG_CWD, 1, ARG_NONE, ARG_NONE);
	case NR_renameat: return FSC(WACHT_FILE_RENAME, 0, 1, ARG_NONE, 2, 3, ARG_NONE, ARG_NONE);
	case NR_renameat2:return FSC(WACHT_FILE_RENAME, 0, 1, ARG_NONE, 2, 3, ARG_NONE, ARG_NONE);
	case NR_chmod:    return FSC(WACHT_FILE_CHMOD, ARG_CWD, 0, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE, 1);
	case NR_fchmod:   return FSC(WACHT_FILE_CHMOD, ARG_NONE, ARG_NONE, 0, ARG_NONE, ARG_NONE, ARG_NONE, 1);
	case NR_fchmodat: return FSC(WACHT_FILE_CHMOD, 0, 1, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE, 2);
	case NR_fchmodat2:return FSC(WACHT_FILE_CHMOD, 0, 1, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE, 2);
	case NR_chown:    return FSC(WACHT_FILE_CHOWN, ARG_CWD, 0, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE);
	case NR_lchown:   return FSC(WACHT_FILE_CHOWN, ARG_CWD, 0, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE);
	case NR_fchown:   return FSC(WACHT_FILE_CHOWN, ARG_NONE, ARG_NONE, 0, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE);
	case NR_fchownat: return FSC(WACHT_FILE_CHOWN, 0, 1, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE);
	case NR_truncate: return FSC(WACHT_FILE_TRUNCATE, ARG_CWD, 0, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE);
	case NR_ftruncate:return FSC(WACHT_FILE_TRUNCATE, ARG_NONE, ARG_NONE, 0, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE);
	case NR_link:     return FSC(WACHT_FILE_LINK, ARG_CWD, 0, ARG_NONE, ARG_CWD, 1, ARG_NONE, ARG_NONE);
	case NR_linkat:   return FSC(WACHT_FILE_LINK, 0, 1, ARG_NONE, 2, 3, ARG_NONE, ARG_NONE);
	/* symlink: path is the target exactly as written (never resolved:
	 * it is interpreted relative to the link at lookup time). */
	case NR_symlink:  return FSC(WACHT_FILE_SYMLINK, ARG_NONE, 0, ARG_NONE, ARG_CWD, 1, ARG_NONE, ARG_NONE);
	case NR_symlinkat:return FSC(WACHT_FILE_SYMLINK, ARG_NONE, 0, ARG_NONE, 1, 2, ARG_NONE, ARG_NONE);
	case NR_mkdir:    return FSC(WACHT_FILE_MKDIR, ARG_CWD, 0, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE, 1);
	case NR_mkdirat:  return FSC(WACHT_FILE_MKDIR, 0, 1, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE, 2);
	case NR_rmdir:    return FSC(WACHT_FILE_RMDIR, ARG_CWD, 0, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE, ARG_NONE);
	}
	return FSC(0, 0, 0, 0, 0, 0, 0, 0);
}


#endif
