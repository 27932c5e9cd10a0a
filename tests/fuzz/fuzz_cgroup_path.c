// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target for cgroup_path_parse(): cgroup paths come from /proc and BPF events. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup_path.h"

static bool is_hex64(const char *s)
{
	size_t i;

	if (strlen(s) != 64)
		return false;
	for (i = 0; i < 64; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cgroup_ref ref;
	size_t len;
	char *path;
	int rc;

	/* The parser takes a C string: copy into an exact-size buffer so
	 * ASan sees any read past its NUL. */
	path = malloc(size + 1);
	if (!path)
		return 0;
	memcpy(path, data, size);
	path[size] = '\0';
	len = strlen(path);

	rc = cgroup_path_parse(path, &ref);
	/* What a caller relies on; a violation is a bug, not just a crash. */
	if (rc == 0 || rc == 1) {
		if (memchr(ref.id, '\0', sizeof(ref.id)) == NULL ||
		    memchr(ref.pod_uid, '\0', sizeof(ref.pod_uid)) == NULL || ref.id[0] == '\0' ||
		    ref.runtime <= WACHT_RT_UNKNOWN || ref.runtime > WACHT_RT_RUNC ||
		    ref.cgroup_len == 0 || ref.cgroup_len > len ||
		    !memmem(path, ref.cgroup_len, ref.id, strlen(ref.id)))
			abort();
		if (ref.runtime != WACHT_RT_RUNC && !is_hex64(ref.id))
			abort();
		if (rc == 1 && (ref.runtime != WACHT_RT_RUNC || ref.pod_uid[0] != '\0'))
			abort();
	} else {
		static const struct cgroup_ref zero;

		if (rc >= 0 || memcmp(&ref, &zero, sizeof(ref)) != 0)
			abort();
	}
	free(path);
	return 0;
}
