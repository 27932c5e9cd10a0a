/* SPDX-License-Identifier: Apache-2.0 */
/* ui_files.h: the web page's files (every file of ui/), embedded into
 * wacht-aggregator at build time by scripts/embed-ui.sh (build/ui_files.c,
 * generated) and served by api.c under /ui/. */
#ifndef WACHT_UI_FILES_H
#define WACHT_UI_FILES_H

#include <stddef.h>

struct ui_file {
	const char *name;          /* "index.html": the path under /ui/ */
	const char *type;          /* the Content-Type */
	const unsigned char *data; /* len bytes (and a NUL after them) */
	size_t len;
};

extern const struct ui_file ui_files[];
extern const size_t ui_n_files;

#endif /* WACHT_UI_FILES_H */
