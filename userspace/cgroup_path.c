// SPDX-License-Identifier: Apache-2.0
/* cgroup_path: which container (and runtime, and pod) a cgroup v2 path belongs to. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "cgroup_path.h"

/* One path component: not NUL-terminated, it points into the caller's path. */
struct comp {
	const char *s;
	size_t n;
};

/* Container ids of CRI-O, containerd, Docker and Podman: 64 lowercase hex. */
#define CONTAINER_ID_LEN 64

/*
 * Scope and directory names the runtimes create for a container, id in
 * between. The "" suffixes are the cgroupfs drivers; the systemd drivers
 * append ".scope". Docker and containerd under cgroupfs use the bare id,
 * handled by comp_match_bare().
 */
static const struct shape {
	const char *prefix;
	const char *suffix;
	enum wacht_runtime rt;
} shapes[] = {
	{ "crio-", ".scope", WACHT_RT_CRIO },
	{ "crio-", "", WACHT_RT_CRIO },
	{ "cri-containerd-", ".scope", WACHT_RT_CONTAINERD },
	{ "docker-", ".scope", WACHT_RT_DOCKER },
	{ "libpod-", ".scope", WACHT_RT_PODMAN },
	{ "libpod-", "", WACHT_RT_PODMAN },
};

/* The middle field of "<slice>:<prefix>:<id>", the name a runtime asks for
 * under the systemd driver; it becomes a directory of that literal name
 * when the runtime itself runs the cgroupfs driver (containerd inside
 * system.slice/containerd.service with kubelet on systemd). */
static const struct colon_shape {
	const char *prefix;
	enum wacht_runtime rt;
} colon_shapes[] = {
	{ "cri-containerd", WACHT_RT_CONTAINERD },
	{ "crio", WACHT_RT_CRIO },
	{ "docker", WACHT_RT_DOCKER },
};

/* The conmon monitors CRI-O and Podman put next to each container: they
 * run on the host's behalf, not the container's. */
static const char *const conmon_prefixes[] = {
	"crio-conmon-",
	"libpod-conmon-",
};

/* systemd unit types: a component with one of these suffixes is a unit,
 * never a runc container id (which a runtime scope would have matched). */
static const char *const unit_suffixes[] = {
	".service", ".scope", ".slice", ".mount", ".socket", ".swap",
	".target", ".device", ".automount", ".timer", ".path",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(sizeof(((struct cgroup_ref *)0)->pod_uid) == 64, "pod_uid_from() writes 64 bytes");
_Static_assert(sizeof(((struct cgroup_ref *)0)->id) > CONTAINER_ID_LEN, "id holds 64 hex");

const char *runtime_name(enum wacht_runtime rt)
{
	switch (rt) {
	case WACHT_RT_CRIO:
		return "cri-o";
	case WACHT_RT_CONTAINERD:
		return "containerd";
	case WACHT_RT_DOCKER:
		return "docker";
	case WACHT_RT_PODMAN:
		return "podman";
	case WACHT_RT_RUNC:
		return "runc";
	case WACHT_RT_UNKNOWN:
		break;
	}
	return "unknown";
}

static bool comp_has_prefix(const struct comp *c, const char *prefix)
{
	size_t n = strlen(prefix);

	return c->n >= n && memcmp(c->s, prefix, n) == 0;
}

static bool comp_has_suffix(const struct comp *c, const char *suffix)
{
	size_t n = strlen(suffix);

	return c->n >= n && memcmp(c->s + c->n - n, suffix, n) == 0;
}

static bool comp_equals(const struct comp *c, const char *s)
{
	return c->n == strlen(s) && memcmp(c->s, s, c->n) == 0;
}

static bool comp_contains(const struct comp *c, const char *needle)
{
	return memmem(c->s, c->n, needle, strlen(needle)) != NULL;
}

static bool is_hex64(const char *s, size_t n)
{
	size_t i;

	if (n != CONTAINER_ID_LEN)
		return false;
	for (i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* runc's validateID(): [A-Za-z0-9_+.-]+ and not "." or "..", which would
 * not survive its path cleaning. */
static bool is_runc_id(const char *s, size_t n)
{
	size_t i;
	char ch;

	if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (i = 0; i < n; i++) {
		ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '+' || ch == '-' ||
		      ch == '.'))
			return false;
	}
	return true;
}

/* The component that ends at *end, skipping empty ones ("//", a trailing
 * "/"); *end moves to its start. False once only the root is left. */
static bool comp_prev(const char *path, const char **end, struct comp *c)
{
	const char *e = *end, *s;

	while (e > path && e[-1] == '/')
		e--;
	if (e == path)
		return false;
	s = e;
	while (s > path && s[-1] != '/')
		s--;
	c->s = s;
	c->n = (size_t)(e - s);
	*end = s;
	return true;
}

/*
 * Pod UID named by one component, into out: "pod<uid>" under the
 * cgroupfs driver, "<parent>-pod<uid_>.slice" under the systemd driver,
 * which cannot carry "-" inside a slice name and writes "_" instead.
 * UIDs are lowercase UUIDs, or lowercase hex hashes for static pods.
 */
static bool pod_uid_from(const struct comp *c, char out[64])
{
	char buf[64];
	const char *uid = NULL;
	size_t n = 0, i, body;
	char sep;

	if (comp_has_suffix(c, ".slice")) {
		/* The last "-pod": everything before it names parent slices. */
		body = c->n - strlen(".slice");
		for (i = body; i >= 4; i--) {
			if (memcmp(c->s + i - 4, "-pod", 4) == 0) {
				uid = c->s + i;
				n = body - i;
				break;
			}
		}
		sep = '_';
	} else if (comp_has_prefix(c, "pod")) {
		uid = c->s + 3;
		n = c->n - 3;
		sep = '-';
	} else {
		return false;
	}
	if (!uid || n == 0 || n >= sizeof(buf))
		return false;
	for (i = 0; i < n; i++) {
		if (uid[i] == sep)
			buf[i] = '-';
		else if ((uid[i] >= '0' && uid[i] <= '9') || (uid[i] >= 'a' && uid[i] <= 'f'))
			buf[i] = uid[i];
		else
			return false;
	}
	buf[n] = '\0';
	/* Only a whole UID reaches out: a half-copied one would name the
	 * wrong pod. */
	memcpy(out, buf, n + 1);
	return true;
}

/*
 * Fill ref->pod_uid from the components before end (the container's
 * ancestors), nearest first, but only under a kubepods hierarchy: outside
 * Kubernetes a "pod..." directory means nothing.
 */
/* Whether a component before end names the kubepods hierarchy (also
 * kind's "kubelet-kubepods.slice"). */
static bool under_kubepods(const char *path, const char *end)
{
	struct comp c;

	while (comp_prev(path, &end, &c)) {
		if (comp_contains(&c, "kubepods"))
			return true;
	}
	return false;
}

static void pod_uid_find(const char *path, const char *end, struct cgroup_ref *ref)
{
	struct comp c;

	if (!under_kubepods(path, end))
		return;
	while (comp_prev(path, &end, &c)) {
		if (pod_uid_from(&c, ref->pod_uid))
			return;
	}
}

static void ref_set_id(struct cgroup_ref *ref, enum wacht_runtime rt, const char *id, size_t n)
{
	ref->runtime = rt;
	memcpy(ref->id, id, n);
	ref->id[n] = '\0';
}

/* "<slice>:<prefix>:<64hex>"; the pod UID is in the slice part. */
static bool comp_match_colon(const struct comp *c, struct cgroup_ref *ref)
{
	const char *c1, *c2, *end = c->s + c->n;
	struct comp slice, prefix;
	size_t i;

	c1 = memchr(c->s, ':', c->n);
	if (!c1)
		return false;
	c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
	if (!c2 || !is_hex64(c2 + 1, (size_t)(end - c2 - 1)))
		return false;
	prefix.s = c1 + 1;
	prefix.n = (size_t)(c2 - c1 - 1);
	for (i = 0; i < ARRAY_SIZE(colon_shapes); i++) {
		if (!comp_equals(&prefix, colon_shapes[i].prefix))
			continue;
		ref_set_id(ref, colon_shapes[i].rt, c2 + 1, CONTAINER_ID_LEN);
		slice.s = c->s;
		slice.n = (size_t)(c1 - c->s);
		if (comp_contains(&slice, "kubepods"))
			pod_uid_from(&slice, ref->pod_uid);
		return true;
	}
	return false;
}

/*
 * A bare 64-hex directory: Docker's cgroupfs driver ("/docker/<id>") and
 * containerd's under kubelet's cgroupfs driver ("/kubepods/<qos>/pod<uid>/<id>",
 * also what dockershim produced; containerd is what remains in use).
 */
static bool comp_match_bare(const char *path, const struct comp *c, const struct comp *parent,
			    struct cgroup_ref *ref)
{
	char uid[sizeof(ref->pod_uid)];

	if (!parent || !is_hex64(c->s, c->n))
		return false;
	if (comp_equals(parent, "docker")) {
		ref_set_id(ref, WACHT_RT_DOCKER, c->s, c->n);
		return true;
	}
	/* Ancestors are scanned last, and only here: on every component
	 * that would make a deep path quadratic. */
	if (comp_has_prefix(parent, "pod") && pod_uid_from(parent, uid) &&
	    under_kubepods(path, parent->s)) {
		ref_set_id(ref, WACHT_RT_CONTAINERD, c->s, c->n);
		return true;
	}
	return false;
}

/* 1 when c names a container (ref filled), 0 when not, -ENOENT for a
 * conmon cgroup. c's ancestors are the components of path before c->s. */
static int comp_match(const char *path, const struct comp *c, const struct comp *parent,
		      struct cgroup_ref *ref)
{
	const struct shape *sh;
	size_t i, plen, slen;

	for (i = 0; i < ARRAY_SIZE(conmon_prefixes); i++) {
		if (comp_has_prefix(c, conmon_prefixes[i]))
			return -ENOENT;
	}
	for (i = 0; i < ARRAY_SIZE(shapes); i++) {
		sh = &shapes[i];
		plen = strlen(sh->prefix);
		slen = strlen(sh->suffix);
		if (c->n != plen + CONTAINER_ID_LEN + slen || !comp_has_prefix(c, sh->prefix) ||
		    !comp_has_suffix(c, sh->suffix) || !is_hex64(c->s + plen, CONTAINER_ID_LEN))
			continue;
		ref_set_id(ref, sh->rt, c->s + plen, CONTAINER_ID_LEN);
		return 1;
	}
	/* runc's own systemd driver: "system.slice:runc:<id>" by default. */
	plen = strlen("runc-");
	slen = strlen(".scope");
	if (comp_has_prefix(c, "runc-") && comp_has_suffix(c, ".scope") && c->n > plen + slen &&
	    c->n - plen - slen < sizeof(ref->id) && is_runc_id(c->s + plen, c->n - plen - slen)) {
		ref_set_id(ref, WACHT_RT_RUNC, c->s + plen, c->n - plen - slen);
		return 1;
	}
	if (comp_match_colon(c, ref) || comp_match_bare(path, c, parent, ref))
		return 1;
	return 0;
}

/* No runtime shape anywhere: is the last component a plain runc id? */
static int runc_fallback(const char *path, const struct comp *last, struct cgroup_ref *ref)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(unit_suffixes); i++) {
		if (comp_has_suffix(last, unit_suffixes[i]))
			return -ENOENT;
	}
	/* Podman's cgroupfs driver puts conmon in "<parent>/conmon". */
	if (comp_equals(last, "conmon"))
		return -ENOENT;
	/* Under kubepods everything that is not a runtime's container is a
	 * QoS or pod cgroup (or a runtime this parser does not know), never
	 * a container run by hand. */
	if (under_kubepods(path, last->s + last->n))
		return -ENOENT;
	if (!is_runc_id(last->s, last->n))
		return -ENOENT;
	if (last->n >= sizeof(ref->id))
		return -ENAMETOOLONG;
	ref_set_id(ref, WACHT_RT_RUNC, last->s, last->n);
	ref->cgroup_len = (size_t)(last->s + last->n - path);
	return 1;
}

int cgroup_path_parse(const char *path, struct cgroup_ref *ref)
{
	const char *end, *up;
	struct comp c = {0}, parent = {0}, last = {0};
	bool have_last = false, have_parent;
	size_t len;
	int err;

	if (ref)
		memset(ref, 0, sizeof(*ref));
	if (!path || !ref)
		return -EINVAL;
	len = strnlen(path, CGROUP_PATH_MAX);
	if (len == CGROUP_PATH_MAX)
		return -ENAMETOOLONG;
	if (len == 0)
		return -ENOENT;
	if (path[0] != '/')
		return -EINVAL;

	/* Deepest first: a container's processes may sit in a sub-cgroup of
	 * its scope (podman's "container", systemd's "init.scope"), and a
	 * nested cluster (kind) puts real pods below its node's container. */
	end = path + len;
	while (comp_prev(path, &end, &c)) {
		if (!have_last) {
			last = c;
			have_last = true;
		}
		up = end;
		have_parent = comp_prev(path, &up, &parent);
		err = comp_match(path, &c, have_parent ? &parent : NULL, ref);
		if (err < 0) {
			memset(ref, 0, sizeof(*ref));
			return err;
		}
		if (err > 0) {
			ref->cgroup_len = (size_t)(c.s + c.n - path);
			if (!ref->pod_uid[0])
				pod_uid_find(path, end, ref);
			return 0;
		}
	}
	if (!have_last)
		return -ENOENT;
	err = runc_fallback(path, &last, ref);
	if (err < 0)
		memset(ref, 0, sizeof(*ref));
	return err;
}
