// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* maps.bpf.c: the one definition of every map and load-time setting. */
#define WACHT_DEFINE_MAPS
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
