// SPDX-License-Identifier: Apache-2.0
/* format.c: captured events to JSON, field names as in DESIGN.md "Findings". */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/types.h>

#include "events.h"
#include "enforce_compile.h"
#include "format.h"
#include "pathutil.h"

void format_time(char *buf, size_t size, uint64_t boot_ns, int64_t boot_to_real_ns)
{
	int64_t real = (int64_t)boot_ns + boot_to_real_ns;
	time_t sec = real / 1000000000LL;
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (long long)(real % 1000000000LL));
}

const char *format_errno(int64_t result, char *buf, size_t size)
{
	const char *name = NULL;

	if (result < 0 && result > -4096)
		name = strerrorname_np((int)-result);
	if (name)
		return name;
	snprintf(buf, size, "E%lld", (long long)-result);
	return buf;
}

static void put_result(struct jsonw *w, int64_t result)
{
	char buf[32];

	jsonw__i64(w, "result", result);
	if (result < 0)
		jsonw__str(w, "error", format_errno(result, buf, sizeof(buf)));
}

static void put_container(struct jsonw *w, const struct container_view *c)
{
	if (!c) {
		jsonw__null(w, "container");
		return;
	}
	jsonw__obj_begin(w, "container");
	jsonw__str(w, "id", c->id);
	jsonw__str(w, "runtime", c->runtime);
	jsonw__str(w, "name", c->name);
	jsonw__str(w, "image", c->image);
	jsonw__str(w, "pod", c->pod);
	jsonw__str(w, "namespace", c->namespace);
	jsonw__str(w, "pod_uid", c->pod_uid);
	jsonw__str(w, "cgroup", c->cgroup);
	jsonw__u64(w, "cgroup_id", c->cgroup_id);
	jsonw__obj_end(w);
}

/* A path for output, normalised: a path the process wrote ("/tmp/../etc/x")
 * or one the kernel joined from dir + name is reported as the file it names.
 * Paths walked from a dentry are canonical already. */
static void put_path(struct jsonw *w, const char *key, const char *path, uint32_t flags)
{
	char norm[WACHT_PATH_MAX + 2];

	if (!(flags & WACHT_F_PATH_FROM_FD) && path[0] == '/' &&
	    path_normalize(path, norm, sizeof(norm)) >= 0) {
		jsonw__str(w, key, norm);
		return;
	}
	jsonw__str(w, key, path);
}

static const char *open_access(uint32_t flags)
{
	switch (flags & 3) {
	case 0:
		return "read";
	case 1:
		return "write";
	default:
		return "read_write";
	}
}

static void put_file(struct jsonw *w, const struct wacht_event *ev)
{
	const struct wacht_file *f = ev->file;
	uint32_t flags = f->hdr.flags;

	jsonw__obj_begin(w, "file");
	jsonw__str(w, "op", file_op_name(f->op));
	/* a symlink's target is a string stored in the link, not a path we
	 * resolved: printed exactly as written */
	if (f->op == WACHT_FILE_SYMLINK)
		jsonw__str(w, "path", ev->path);
	else
		put_path(w, "path", ev->path, flags);
	if (f->path2_len)
		put_path(w, "new_path", ev->path2, flags);
	if (f->op == WACHT_FILE_OPEN || f->op == WACHT_FILE_CREAT) {
		jsonw__str(w, "access", open_access(f->open_flags));
		jsonw__bool(w, "create", f->open_flags & 0100);
		jsonw__bool(w, "truncate", f->open_flags & 01000);
		jsonw__u64(w, "flags", f->open_flags);
	}
	if (f->op == WACHT_FILE_CHMOD || f->op == WACHT_FILE_MKDIR || f->op == WACHT_FILE_CREAT ||
	    ((f->op == WACHT_FILE_OPEN) && (f->open_flags & 0100)))
		jsonw__u64(w, "mode", f->mode & 07777);
	if (f->op == WACHT_FILE_CHOWN) {
		jsonw__i64(w, "owner_uid", (int32_t)f->owner_uid);
		jsonw__i64(w, "owner_gid", (int32_t)f->owner_gid);
	}
	if (flags & WACHT_F_PATH_TRUNC)
		jsonw__bool(w, "path_truncated", true);
	put_result(w, f->result);
	jsonw__obj_end(w);
}

static void put_addr(struct jsonw *w, const char *key, uint16_t family, const uint8_t *addr)
{
	char buf[INET6_ADDRSTRLEN];

	if (!inet_ntop(family == 10 ? AF_INET6 : AF_INET, addr, buf, sizeof(buf)))
		buf[0] = 0;
	jsonw__str(w, key, buf);
}

static void put_net(struct jsonw *w, const struct wacht_event *ev)
{
	const struct wacht_net *n = ev->net;

	jsonw__obj_begin(w, "network");
	jsonw__str(w, "op", net_op_name(n->op));
	jsonw__str(w, "proto", n->proto == 6 ? "tcp" : n->proto == 17 ? "udp" : "other");
	jsonw__str(w, "family", n->family == 10 ? "ipv6" : "ipv4");
	jsonw__str(w, "direction", n->direction == WACHT_DIR_IN ? "inbound" : "outbound");
	put_addr(w, "local_ip", n->family, n->laddr);
	jsonw__u64(w, "local_port", n->lport);
	if (n->op != WACHT_NET_BIND && n->op != WACHT_NET_LISTEN) {
		put_addr(w, "remote_ip", n->family, n->raddr);
		jsonw__u64(w, "remote_port", n->rport);
	}
	put_result(w, n->result);
	jsonw__obj_end(w);
}

static void put_process(struct jsonw *w, const struct wacht_event *ev, const struct process_view *pv)
{
	const struct wacht_hdr *h = ev->hdr;

	jsonw__obj_begin(w, "process");
	jsonw__u64(w, "pid", h->tgid);
	jsonw__u64(w, "tid", h->pid);
	jsonw__u64(w, "ppid", h->ppid);
	jsonw__u64(w, "uid", h->uid);
	jsonw__u64(w, "euid", h->euid);
	jsonw__u64(w, "gid", h->gid);
	jsonw__strn(w, "comm", (const char *)h->comm, strnlen((const char *)h->comm, WACHT_COMM_LEN));
	if (h->type == WACHT_EV_EXEC) {
		jsonw__str(w, "exe", ev->exe);
		jsonw__str(w, "filename", ev->filename);
		jsonw__arr_begin(w, "args");
		const char *a = ev->argv;
		for (uint32_t i = 0; i < ev->argc; i++) {
			jsonw__str(w, NULL, a);
			a += strlen(a) + 1;
		}
		jsonw__arr_end(w);
		jsonw__bool(w, "args_truncated", h->flags & WACHT_F_ARGS_TRUNC);
		jsonw__u64(w, "exe_inode", ev->exec->exe_ino);
		/* what Protect mode did in the kernel at this exec */
		uint32_t v = ev->exec->verdict;
		if (v & WACHT_V_KILLED) {
			jsonw__bool(w, "killed", true);
			jsonw__str(w, "kill_reason", enforce_reason_name(v));
		}
		if (v & WACHT_V_HELD)
			jsonw__bool(w, "held", true);
	} else if (pv && pv->exe) {
		jsonw__str(w, "exe", pv->exe);
	}
	if (pv)
		jsonw__str(w, "parent_exe", pv->parent_exe ? pv->parent_exe : "");
	if (pv && pv->runtime_init)
		jsonw__bool(w, "runtime_init", true);
	if (h->type == WACHT_EV_EXIT) {
		int32_t st = ev->exit->exit_code;

		jsonw__i64(w, "exit_code", (st >> 8) & 0xff);
		jsonw__i64(w, "signal", st & 0x7f);
	}
	if (h->type == WACHT_EV_FORK) {
		jsonw__u64(w, "child_pid", ev->fork->child_tgid);
	}
	jsonw__u64(w, "pidns", h->pidns);
	jsonw__u64(w, "mntns", h->mntns);
	jsonw__obj_end(w);
}

int format_event(struct jsonw *w, const struct format_ctx *fc, const struct wacht_event *ev,
		 const struct container_view *c, const struct process_view *pv)
{
	char ts[64];
	const struct wacht_hdr *h = ev->hdr;

	format_time(ts, sizeof(ts), h->ts_ns, fc->boot_to_real_ns);
	jsonw__reset(w);
	jsonw__obj_begin(w, NULL);
	jsonw__str(w, "time", ts);
	jsonw__str(w, "node", fc->node);
	jsonw__str(w, "kind", "event");
	jsonw__str(w, "event", event_type_name(h->type));
	put_container(w, c);
	if (h->type == WACHT_EV_CGROUP_MKDIR || h->type == WACHT_EV_CGROUP_RMDIR) {
		jsonw__obj_begin(w, "cgroup");
		jsonw__str(w, "path", ev->cgroup_path);
		jsonw__u64(w, "id", h->cgroup_id);
		jsonw__u64(w, "level", ev->cgroup->level);
		jsonw__obj_end(w);
	} else {
		put_process(w, ev, pv);
	}
	if (h->type == WACHT_EV_FILE)
		put_file(w, ev);
	else if (h->type == WACHT_EV_NET)
		put_net(w, ev);
	jsonw__obj_end(w);
	return jsonw__error(w);
}
