// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target for oci_config_parse(), oci_state_parse() and oci_state_parse_meta(). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"

/* Every string field ends inside its array. */
#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

static void check_meta(int rc, const struct container_meta *m)
{
	unsigned i;

	if (rc != 0)
		return;
	if (!TERMINATED(m->name) || !TERMINATED(m->pod) || !TERMINATED(m->namespace) ||
	    !TERMINATED(m->pod_uid) || !TERMINATED(m->image) || !TERMINATED(m->sandbox_id) ||
	    !TERMINATED(m->hostname) || m->n_labels > OCI_LABELS_MAX)
		abort();
	for (i = 0; i < m->n_labels; i++) {
		if (!TERMINATED(m->labels[i].key) || !TERMINATED(m->labels[i].value) ||
		    m->labels[i].key[0] == '\0')
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct container_meta meta;
	struct oci_state st;
	int rc;

	/* data is not NUL-terminated and is exactly size bytes long: the
	 * parsers must not read past it. */
	rc = oci_config_parse((const char *)data, size, &meta);
	check_meta(rc, &meta);

	rc = oci_state_parse_meta((const char *)data, size, &meta);
	check_meta(rc, &meta);

	rc = oci_state_parse((const char *)data, size, &st);
	if (rc == 0 && (!TERMINATED(st.id) || !TERMINATED(st.bundle) || !TERMINATED(st.created) ||
			!TERMINATED(st.cgroup_dir) || st.init_pid <= 0 || st.bundle[0] != '/' ||
			st.id[0] == '\0'))
		abort();
	return 0;
}
