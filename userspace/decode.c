// SPDX-License-Identifier: Apache-2.0
/* decode.c: bounds-checked decoding of one ring-buffer record. */
#include <errno.h>
#include <string.h>

#include "decode.h"

/* The unread part of a record's variable-length tail. */
struct decode_cursor {
	const char *p;
	size_t left;
};

/* Take a string of len bytes (NUL included; 0 = absent). Every length is
 * compared with what is left rather than summed, so no combination of
 * 32-bit lengths can wrap around and pass. */
static int decode_str(struct decode_cursor *c, uint32_t len, const char **out)
{
	if (len == 0) {
		*out = "";
		return 0;
	}
	if (len > c->left || c->p[len - 1] != '\0')
		return -EINVAL;
	*out = c->p;
	c->p += len;
	c->left -= len;
	return 0;
}

/* argv is taken like a string (so it ends with a NUL); its strings are
 * then counted by their terminators. */
static int decode_argv(struct decode_cursor *c, uint32_t len,
		       struct wacht_event *ev)
{
	const char *p, *end;
	int err;

	err = decode_str(c, len, &ev->argv);
	if (err)
		return err;
	ev->argv_len = len;
	ev->argc = 0;
	p = ev->argv;
	end = ev->argv + len;
	while (p < end) {
		p = memchr(p, '\0', (size_t)(end - p));
		p++; /* found: the last byte is a NUL */
		ev->argc++;
	}
	return 0;
}

static size_t decode_fixed_size(uint32_t type)
{
	switch (type) {
	case WACHT_EV_EXEC:
		return sizeof(struct wacht_exec);
	case WACHT_EV_FORK:
		return sizeof(struct wacht_fork);
	case WACHT_EV_EXIT:
		return sizeof(struct wacht_exit);
	case WACHT_EV_FILE:
		return sizeof(struct wacht_file);
	case WACHT_EV_NET:
		return sizeof(struct wacht_net);
	case WACHT_EV_CGROUP_MKDIR:
	case WACHT_EV_CGROUP_RMDIR:
		return sizeof(struct wacht_cgroup);
	default:
		return 0;
	}
}

static int decode_body(const void *data, size_t size, struct wacht_event *ev)
{
	const struct wacht_hdr *h = data;
	struct decode_cursor c;
	size_t fixed;
	int err = 0;

	/* The body structs are cast from the record: misaligned data would be
	 * undefined behaviour at the first field read. */
	if (!data || (uintptr_t)data % _Alignof(struct wacht_exec) != 0)
		return -EINVAL;
	if (size < sizeof(*h) || h->size != size)
		return -EINVAL;
	fixed = decode_fixed_size(h->type);
	if (fixed == 0 || size < fixed)
		return -EINVAL;

	ev->hdr = h;
	ev->exec = data;
	ev->exe = ev->filename = ev->argv = "";
	ev->path = ev->path2 = ev->cgroup_path = "";
	c.p = (const char *)data + fixed;
	c.left = size - fixed;

	switch (h->type) {
	case WACHT_EV_EXEC:
		err = decode_str(&c, ev->exec->exe_len, &ev->exe);
		if (!err)
			err = decode_str(&c, ev->exec->filename_len,
					 &ev->filename);
		if (!err)
			err = decode_argv(&c, ev->exec->argv_len, ev);
		break;
	case WACHT_EV_FILE:
		err = decode_str(&c, ev->file->path_len, &ev->path);
		if (!err)
			err = decode_str(&c, ev->file->path2_len, &ev->path2);
		break;
	case WACHT_EV_CGROUP_MKDIR:
	case WACHT_EV_CGROUP_RMDIR:
		err = decode_str(&c, ev->cgroup->path_len, &ev->cgroup_path);
		break;
	default: /* fork, exit, net: fixed size only */
		break;
	}
	return err;
}

int event_decode(const void *data, size_t size, struct wacht_event *ev)
{
	int err;

	memset(ev, 0, sizeof(*ev));
	err = decode_body(data, size, ev);
	if (err)
		memset(ev, 0, sizeof(*ev));
	return err;
}

/* Indexed by the ABI's numbers (events.h), which are never reused. A new
 * number in events.h fails here until it has a name. */
_Static_assert(WACHT_EV_MAX == 8, "name the new event type");
_Static_assert(WACHT_FILE_OP_MAX == 12, "name the new file op");
_Static_assert(WACHT_NET_OP_MAX == 6, "name the new net op");
_Static_assert(WACHT_DROP_MAX == 7, "name the new drop reason");

static const char *const event_type_names[WACHT_EV_MAX] = {
	[WACHT_EV_EXEC] = "exec",
	[WACHT_EV_FORK] = "fork",
	[WACHT_EV_EXIT] = "exit",
	[WACHT_EV_FILE] = "file",
	[WACHT_EV_NET] = "net",
	[WACHT_EV_CGROUP_MKDIR] = "cgroup_mkdir",
	[WACHT_EV_CGROUP_RMDIR] = "cgroup_rmdir",
};

static const char *const file_op_names[WACHT_FILE_OP_MAX] = {
	[WACHT_FILE_OPEN] = "open",
	[WACHT_FILE_CREAT] = "creat",
	[WACHT_FILE_UNLINK] = "unlink",
	[WACHT_FILE_RENAME] = "rename",
	[WACHT_FILE_CHMOD] = "chmod",
	[WACHT_FILE_CHOWN] = "chown",
	[WACHT_FILE_TRUNCATE] = "truncate",
	[WACHT_FILE_LINK] = "link",
	[WACHT_FILE_SYMLINK] = "symlink",
	[WACHT_FILE_MKDIR] = "mkdir",
	[WACHT_FILE_RMDIR] = "rmdir",
};

static const char *const net_op_names[WACHT_NET_OP_MAX] = {
	[WACHT_NET_CONNECT] = "connect",
	[WACHT_NET_ACCEPT] = "accept",
	[WACHT_NET_BIND] = "bind",
	[WACHT_NET_LISTEN] = "listen",
	[WACHT_NET_UDP_SEND] = "udp_send",
};

static const char *const drop_reason_names[WACHT_DROP_MAX] = {
	[WACHT_DROP_RINGBUF_FULL] = "ringbuf_full",
	[WACHT_DROP_READ_FAIL] = "read_fail",
	[WACHT_DROP_PATH_TRUNC] = "path_truncated",
	[WACHT_DROP_ARGS_TRUNC] = "args_truncated",
	[WACHT_DROP_PENDING_FULL] = "pending_full",
	[WACHT_DROP_NO_SCRATCH] = "no_scratch",
	[WACHT_DROP_TAIL_CALL] = "tail_call",
};

/* A gap in a table (a retired number) is "unknown" like one past its end. */
static const char *name_lookup(const char *const *names, size_t n,
			       uint32_t i)
{
	if (i >= n || !names[i])
		return "unknown";
	return names[i];
}

const char *event_type_name(uint32_t type)
{
	return name_lookup(event_type_names, WACHT_EV_MAX, type);
}

const char *file_op_name(uint32_t op)
{
	return name_lookup(file_op_names, WACHT_FILE_OP_MAX, op);
}

const char *net_op_name(uint32_t op)
{
	return name_lookup(net_op_names, WACHT_NET_OP_MAX, op);
}

const char *drop_reason_name(uint32_t reason)
{
	return name_lookup(drop_reason_names, WACHT_DROP_MAX, reason);
}
