// SPDX-License-Identifier: Apache-2.0
/* ruleset.c: assembling the active policy, and keeping what was learned. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "ruleset.h"

struct policy *ruleset_load(const struct ruleset_source *src, struct diags *d)
{
	struct policy *p = policy__new();
	char dir[4096];
	struct stat st;

	if (!p) {
		diags__add(d, true, "wacht-sensor", 0, 0, "out of memory");
		return NULL;
	}
	if (src->paths && src->paths[0]) {
		for (size_t i = 0; src->paths[i]; i++)
			policy__load_path(p, src->paths[i], d);
	} else if (src->default_yaml) {
		policy__load_buffer(p, src->default_name, src->default_yaml, src->default_len, d);
	}
	if (src->state_dir) {
		snprintf(dir, sizeof(dir), "%s/learned", src->state_dir);
		if (stat(dir, &st) == 0) {
			p->load_learned = true;
			policy__load_path(p, dir, d);
			p->load_learned = false;
		}
	}
	if (policy__finish(p, d) < 0 || d->n_errors) {
		policy__free(p);
		return NULL;
	}
	return p;
}

void ruleset_learned_name(const char *group, char *out, size_t size)
{
	size_t i = 0;

	for (; group[i] && i + 6 < size; i++) {
		char ch = group[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
		out[i] = ok && !(i == 0 && ch == '.') ? ch : '_';
	}
	snprintf(out + i, size - i, ".yaml");
}

static int mkdir_p(const char *path)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Writes group g to dir/<name>.yaml atomically. */
static int write_group(const struct policy *p, size_t g, const char *dir)
{
	char name[512], path[4096], tmp[4096];
	int err = 0;

	ruleset_learned_name(p->groups[g].name, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		unlink(tmp);
		return err;
	}
	err = policy__export_group(p, g, true, f);
	if (!err && fflush(f))
		err = -errno;
	if (!err && fsync(fd))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

int ruleset_save_learned(const struct policy *p, size_t g, const char *state_dir)
{
	char dir[4096];
	int err;

	snprintf(dir, sizeof(dir), "%s/learned", state_dir);
	if ((err = mkdir_p(dir)))
		return err;
	return write_group(p, g, dir);
}

static bool has_learned(const struct policy *p, size_t g)
{
	const struct group *gr = &p->groups[g];

	for (size_t i = 0; i < gr->n_procs; i++)
		if (gr->procs[i].learned)
			return true;
	for (size_t i = 0; i < p->n_net; i++)
		if (p->net[i].owner == g && p->net[i].learned)
			return true;
	for (size_t i = 0; i < gr->n_files; i++)
		if (gr->files[i].n_apps)
			return true;
	return false;
}

int ruleset_export_learned(const struct policy *p, const char *out_dir)
{
	int n = 0, err;

	if ((err = mkdir_p(out_dir)))
		return err;
	for (size_t g = 0; g < p->n_groups; g++) {
		if (!has_learned(p, g))
			continue;
		if ((err = write_group(p, g, out_dir)))
			return err;
		n++;
	}
	return n;
}
