// SPDX-License-Identifier: Apache-2.0
/* flow_reader.c: the kernel's flow map, read and aged from userspace. */
#include "flow_reader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"

struct flow_reader {
	struct loader_flows fd;
	struct flows *flows;
	struct flow_reader_stats st;
	struct wacht_flow_key *idle; /* keys to delete after the pass */
	size_t n_idle, cap_idle;
	int ncpu;
};

struct flow_reader *flow_reader__new(const struct loader *l)
{
	struct flow_reader *fr = calloc(1, sizeof(*fr));

	if (!fr)
		return NULL;
	loader__flow_fds(l, &fr->fd);
	fr->flows = flows__new();
	fr->ncpu = libbpf_num_possible_cpus();
	if (!fr->flows || fr->ncpu <= 0) {
		flow_reader__free(fr);
		return NULL;
	}
	return fr;
}

void flow_reader__free(struct flow_reader *fr)
{
	if (!fr)
		return;
	flows__free(fr->flows);
	free(fr->idle);
	free(fr);
}

struct flows *flow_reader__flows(struct flow_reader *fr)
{
	return fr->flows;
}

static uint64_t counter_sum(struct flow_reader *fr, uint32_t idx)
{
	uint64_t v[fr->ncpu], sum = 0;

	if (bpf_map_lookup_elem(fr->fd.counters, &idx, v))
		return 0;
	for (int i = 0; i < fr->ncpu; i++)
		sum += v[i];
	return sum;
}

static int idle_push(struct flow_reader *fr, const struct wacht_flow_key *k)
{
	if (fr->n_idle == fr->cap_idle) {
		size_t cap = fr->cap_idle ? fr->cap_idle * 2 : 256;
		void *p = realloc(fr->idle, cap * sizeof(*fr->idle));
		if (!p)
			return -ENOMEM;
		fr->idle = p;
		fr->cap_idle = cap;
	}
	fr->idle[fr->n_idle++] = *k;
	return 0;
}

int flow_reader__read(struct flow_reader *fr, uint64_t now_ns, uint64_t idle_ns, flow_record_fn fn,
		      void *ctx)
{
	struct wacht_flow_key cur, next;
	struct wacht_flow_val v;
	const void *prev = NULL;
	uint64_t alive = 0;
	int err = 0;

	fr->n_idle = 0;
	/* the inserts counted before the walk: an entry inserted during it
	 * may or may not be seen, and one not counted must not be (it would
	 * look evicted) */
	uint64_t inserted = counter_sum(fr, WACHT_FC_INSERTED);
	while (bpf_map_get_next_key(fr->fd.flows, prev, &next) == 0) {
		cur = next;
		prev = &cur;
		if (bpf_map_lookup_elem(fr->fd.flows, &cur, &v))
			continue; /* evicted or deleted since */
		alive++;
		if ((err = flows__add(fr->flows, &cur, &v)))
			break;
		if (now_ns > idle_ns && v.last_ns < now_ns - idle_ns && (err = idle_push(fr, &cur)))
			break;
	}
	/* deleted after the walk: deleting during it can restart it */
	for (size_t i = 0; i < fr->n_idle; i++) {
		if (bpf_map_delete_elem(fr->fd.flows, &fr->idle[i]) == 0) {
			fr->st.deleted++;
			alive--;
		}
	}
	int n = (int)flows__report(fr->flows, fn, ctx);
	fr->st.records += n;
	fr->st.alive = alive;
	fr->st.inserted = inserted;
	fr->st.insert_failed = counter_sum(fr, WACHT_FC_INSERT_FAIL);
	uint64_t ev = flows_evictions(inserted, fr->st.deleted, alive);
	/* evictions never un-happen: a walk that saw an entry inserted after
	 * the counter was read would lower the estimate */
	if (ev > fr->st.evicted)
		fr->st.evicted = ev;
	if (err) {
		fprintf(stderr, "wacht-sensor: flows: failed to read the flow map: %s\n",
			strerror(-err));
		return err;
	}
	return n;
}

void flow_reader__stats(const struct flow_reader *fr, struct flow_reader_stats *out)
{
	*out = fr->st;
}
