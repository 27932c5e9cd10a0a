// SPDX-License-Identifier: Apache-2.0
/* oci: container metadata from an OCI bundle's config.json and runc's state.json. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "oci.h"

/* Where each field comes from, first present wins: CRI-O's annotations,
 * then containerd's CRI plugin's, then the generic OCI image annotation. */
static const char *const keys_name[] = {
	"io.kubernetes.container.name", "io.kubernetes.cri.container-name", NULL,
};
static const char *const keys_pod[] = {
	"io.kubernetes.pod.name", "io.kubernetes.cri.sandbox-name", NULL,
};
static const char *const keys_namespace[] = {
	"io.kubernetes.pod.namespace", "io.kubernetes.cri.sandbox-namespace", NULL,
};
static const char *const keys_pod_uid[] = {
	"io.kubernetes.pod.uid", "io.kubernetes.cri.sandbox-uid", NULL,
};
static const char *const keys_image[] = {
	"io.kubernetes.cri-o.ImageName", "io.kubernetes.cri-o.Image",
	"io.kubernetes.cri.image-name", "org.opencontainers.image.ref.name", NULL,
};
static const char *const keys_sandbox_id[] = {
	"io.kubernetes.cri-o.SandboxID", "io.kubernetes.cri.sandbox-id", NULL,
};
static const char *const keys_container_type[] = {
	"io.kubernetes.cri-o.ContainerType", "io.kubernetes.cri.container-type", NULL,
};

#define CRIO_LABELS "io.kubernetes.cri-o.Labels"
#define BUNDLE_LABEL "bundle="

static bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Parse exactly one JSON object from json[0..len): "{} {}" or "{}x" is not
 * a config anyone wrote. json-c stops at the end of the first value; its
 * strict mode rejects what follows, checked here again so that does not
 * depend on the json-c release. The caller must json_object_put(*out).
 */
static int json_parse_object(const char *json, size_t len, struct json_object **out)
{
	struct json_tokener *tok;
	struct json_object *obj;
	enum json_tokener_error jerr;
	size_t end;

	*out = NULL;
	if (!json || len == 0)
		return -EINVAL;
	/* Also keeps len within the int json_tokener_parse_ex() takes. */
	if (len > OCI_JSON_MAX)
		return -EFBIG;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	/* Runtimes write these with Go's encoding/json, which is strict;
	 * reading what Go would refuse ('single quotes', trailing commas)
	 * would let a document mean one thing to runc and another to us. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, json, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	/* NULL also for a value with no end of its own ("1", "tru"): json-c
	 * waits for more input, which there is not. */
	if (!obj)
		return -EINVAL;
	if (jerr != json_tokener_success || !json_object_is_type(obj, json_type_object))
		goto invalid;
	for (; end < len; end++) {
		if (!is_json_space(json[end]))
			goto invalid;
	}
	*out = obj;
	return 0;
invalid:
	json_object_put(obj);
	return -EINVAL;
}

/*
 * Copy src[0..len) into dst[size], stopping at an embedded NUL. When it does
 * not fit, cut before the last whole UTF-8 character rather than inside
 * one: names end up in protobuf strings, which must be valid UTF-8. At most
 * three continuation bytes are stepped back over, so a string of stray
 * continuation bytes is cut, not emptied.
 */
static void copy_str(char *dst, size_t size, const char *src, size_t len)
{
	size_t n = strnlen(src, len), back;

	if (n >= size) {
		n = size - 1;
		for (back = 0; back < 3 && n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80; back++)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* A member of obj of the given type, or NULL. */
static struct json_object *get_typed(struct json_object *obj, const char *key, enum json_type type)
{
	struct json_object *v;

	if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

/* A non-empty string member of obj, its length in *len; else NULL. */
static const char *get_str(struct json_object *obj, const char *key, size_t *len)
{
	struct json_object *v = get_typed(obj, key, json_type_string);

	if (!v || json_object_get_string_len(v) <= 0)
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* The first non-empty annotation of keys into dst; empty ones are skipped
 * so that an empty ImageName still lets Image through. */
static void meta_copy(char *dst, size_t size, struct json_object *ann, const char *const *keys)
{
	const char *s;
	size_t len;

	for (; *keys; keys++) {
		s = get_str(ann, *keys, &len);
		if (s) {
			copy_str(dst, size, s, len);
			return;
		}
	}
}

static void meta_add_label(struct container_meta *meta, const char *key, struct json_object *val)
{
	struct oci_label *l;
	size_t klen = strlen(key), vlen;
	const char *v;

	if (!json_object_is_type(val, json_type_string)) {
		meta->labels_dropped++;
		return;
	}
	v = json_object_get_string(val);
	vlen = (size_t)json_object_get_string_len(val);
	/* An embedded NUL would cut the value where a reader cannot see it. */
	if (meta->n_labels >= OCI_LABELS_MAX || klen == 0 || klen >= sizeof(l->key) ||
	    vlen >= sizeof(l->value) || strlen(v) != vlen) {
		meta->labels_dropped++;
		return;
	}
	l = &meta->labels[meta->n_labels++];
	memcpy(l->key, key, klen + 1);
	memcpy(l->value, v, vlen + 1);
}

/* CRI-O stores the CRI labels as JSON text inside one annotation; text
 * that is not an object yields no labels, the other fields still count. */
static int meta_labels(struct container_meta *meta, struct json_object *ann)
{
	struct json_object *labels;
	const char *s;
	size_t len;
	int err;

	s = get_str(ann, CRIO_LABELS, &len);
	if (!s)
		return 0;
	err = json_parse_object(s, len, &labels);
	if (err == -ENOMEM)
		return err;
	if (err < 0)
		return 0;
	json_object_object_foreach(labels, key, val)
		meta_add_label(meta, key, val);
	json_object_put(labels);
	return 0;
}

/* Every field from an annotations object (may be NULL) and a hostname
 * member of host (may be NULL). */
static int meta_fill(struct container_meta *meta, struct json_object *ann, struct json_object *host)
{
	const char *s;
	size_t len;
	char type[16] = "";

	s = get_str(host, "hostname", &len);
	if (s)
		copy_str(meta->hostname, sizeof(meta->hostname), s, len);
	if (!ann)
		return 0;
	meta_copy(meta->name, sizeof(meta->name), ann, keys_name);
	meta_copy(meta->pod, sizeof(meta->pod), ann, keys_pod);
	meta_copy(meta->namespace, sizeof(meta->namespace), ann, keys_namespace);
	meta_copy(meta->pod_uid, sizeof(meta->pod_uid), ann, keys_pod_uid);
	meta_copy(meta->image, sizeof(meta->image), ann, keys_image);
	meta_copy(meta->sandbox_id, sizeof(meta->sandbox_id), ann, keys_sandbox_id);
	meta_copy(type, sizeof(type), ann, keys_container_type);
	meta->is_sandbox = strcmp(type, "sandbox") == 0;
	return meta_labels(meta, ann);
}

int oci_config_parse(const char *json, size_t len, struct container_meta *meta)
{
	struct json_object *root;
	int err;

	if (!meta)
		return -EINVAL;
	memset(meta, 0, sizeof(*meta));
	err = json_parse_object(json, len, &root);
	if (err < 0)
		return err;
	err = meta_fill(meta, get_typed(root, "annotations", json_type_object), root);
	json_object_put(root);
	if (err < 0)
		memset(meta, 0, sizeof(*meta));
	return err;
}

/*
 * The bundle: the last "bundle=" entry of config.labels. runc appends its
 * own after the annotations, and an annotation named "bundle" comes out as
 * an earlier entry of the same shape; runc's own readers (utils.Annotations,
 * a map) also keep the last one.
 */
static int state_bundle(struct json_object *labels, struct oci_state *st)
{
	struct json_object *v;
	const char *s = NULL, *e;
	size_t i, n, len = 0, plen = strlen(BUNDLE_LABEL);

	n = labels ? json_object_array_length(labels) : 0;
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(labels, i);
		if (!json_object_is_type(v, json_type_string))
			continue;
		e = json_object_get_string(v);
		if (strncmp(e, BUNDLE_LABEL, plen) == 0) {
			s = e + plen;
			len = (size_t)json_object_get_string_len(v) - plen;
		}
	}
	if (!s)
		return -ENOENT;
	if (len == 0 || s[0] != '/' || strlen(s) != len)
		return -EINVAL;
	if (len >= sizeof(st->bundle))
		return -ENAMETOOLONG;
	memcpy(st->bundle, s, len + 1);
	return 0;
}

static int state_fill(struct json_object *root, struct oci_state *st)
{
	struct json_object *v, *config;
	const char *s;
	size_t len;
	int64_t pid;

	s = get_str(root, "id", &len);
	if (!s || strlen(s) != len)
		return -EINVAL;
	if (len >= sizeof(st->id))
		return -ENAMETOOLONG;
	memcpy(st->id, s, len + 1);

	v = get_typed(root, "init_process_pid", json_type_int);
	if (!v)
		return -EINVAL;
	pid = json_object_get_int64(v);
	if (pid <= 0 || pid > INT_MAX)
		return -EINVAL;
	st->init_pid = (int)pid;

	s = get_str(root, "created", &len);
	if (s)
		copy_str(st->created, sizeof(st->created), s, len);

	/* A path cut short would name some other directory: all or nothing. */
	s = get_str(get_typed(root, "cgroup_paths", json_type_object), "", &len);
	if (s && len < sizeof(st->cgroup_dir) && strlen(s) == len)
		memcpy(st->cgroup_dir, s, len + 1);

	config = get_typed(root, "config", json_type_object);
	return state_bundle(get_typed(config, "labels", json_type_array), st);
}

int oci_state_parse(const char *json, size_t len, struct oci_state *st)
{
	struct json_object *root;
	int err;

	if (!st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	err = json_parse_object(json, len, &root);
	if (err < 0)
		return err;
	err = state_fill(root, st);
	json_object_put(root);
	if (err < 0)
		memset(st, 0, sizeof(*st));
	return err;
}

/* Rebuild the annotations object from config.labels' "key=value" entries.
 * The caller must json_object_put(*out). */
static int state_annotations(struct json_object *labels, struct json_object **out)
{
	struct json_object *ann, *v, *str;
	const char *s, *eq;
	size_t i, n, slen;
	char *key;

	*out = NULL;
	ann = json_object_new_object();
	if (!ann)
		return -ENOMEM;
	n = labels ? json_object_array_length(labels) : 0;
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(labels, i);
		if (!json_object_is_type(v, json_type_string))
			continue;
		s = json_object_get_string(v);
		slen = (size_t)json_object_get_string_len(v);
		eq = memchr(s, '=', slen);
		if (!eq || eq == s)
			continue;
		key = strndup(s, (size_t)(eq - s));
		str = json_object_new_string_len(eq + 1, (int)(slen - (size_t)(eq - s) - 1));
		/* json_object_object_add() copies the key and replaces an
		 * earlier value: the last entry of a repeated key wins. */
		if (!key || !str || json_object_object_add(ann, key, str) < 0) {
			free(key);
			json_object_put(str);
			json_object_put(ann);
			return -ENOMEM;
		}
		free(key);
	}
	*out = ann;
	return 0;
}

int oci_state_parse_meta(const char *json, size_t len, struct container_meta *meta)
{
	struct json_object *root, *config, *ann;
	int err;

	if (!meta)
		return -EINVAL;
	memset(meta, 0, sizeof(*meta));
	err = json_parse_object(json, len, &root);
	if (err < 0)
		return err;
	config = get_typed(root, "config", json_type_object);
	err = state_annotations(get_typed(config, "labels", json_type_array), &ann);
	if (err == 0) {
		err = meta_fill(meta, ann, config);
		json_object_put(ann);
	}
	json_object_put(root);
	if (err < 0)
		memset(meta, 0, sizeof(*meta));
	return err;
}
