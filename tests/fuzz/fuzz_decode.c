// SPDX-License-Identifier: Apache-2.0
/* fuzz_decode.c: libFuzzer target for event_decode (ring-buffer records). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

/* Read every byte a consumer could reach through ev, so that ASan flags any
 * pointer or length the decoder let through past the record. */
static void fuzz_touch(const struct wacht_event *ev, const char *rec,
		       size_t size)
{
	const char *strs[] = { ev->exe, ev->filename, ev->path, ev->path2,
			       ev->cgroup_path };
	const char *p = ev->argv, *end = ev->argv + ev->argv_len;
	uint32_t argc = 0;
	volatile size_t sink = 0;

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (!strs[i])
			abort();
		sink += strlen(strs[i]);
	}
	/* argv: exactly argc strings, the last ending on argv's last byte */
	while (p < end) {
		p += strlen(p) + 1;
		argc++;
	}
	if (p != end || argc != ev->argc)
		abort();
	if (ev->hdr != (const void *)rec || ev->hdr->size != size)
		abort();
	sink += strlen(event_type_name(ev->hdr->type));
	if (ev->hdr->type == WACHT_EV_FILE)
		sink += strlen(file_op_name(ev->file->op));
	if (ev->hdr->type == WACHT_EV_NET)
		sink += strlen(net_op_name(ev->net->op));
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wacht_event ev;
	char *rec;

	/* An exactly-sized heap copy: aligned like a ring-buffer record, and
	 * one byte past its end is a redzone ASan watches. */
	rec = malloc(size ? size : 1);
	if (!rec)
		return 0;
	memcpy(rec, data, size);
	if (event_decode(rec, size, &ev) == 0)
		fuzz_touch(&ev, rec, size);
	else if (ev.hdr || ev.exe || ev.argc)
		abort(); /* a rejected record must leave nothing usable */
	free(rec);
	return 0;
}
