// SPDX-License-Identifier: Apache-2.0
/* loader.c: the only file that includes the BPF skeleton. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>

#include <fcntl.h>

#include "events.h"
#include "enforce_net.h"
#include "loader.h"
#include "sysenv.h"
#include "wacht.skel.h"

struct loader {
	struct wacht_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[128];
	size_t n_links;
	int ncpu;
};

static bool libbpf_verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !libbpf_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int attach(struct loader *l, struct bpf_program *prog)
{
	struct bpf_link *link = bpf_program__attach(prog);

	if (!link) {
		int err = -errno;

		fprintf(stderr,
			"wacht-sensor: failed to attach %s: %s\n"
			"  This kernel lacks the hook or forbids it. Wacht needs BTF tracepoints\n"
			"  (sched_process_exec/fork/exit, cgroup_mkdir/rmdir) and syscall\n"
			"  tracepoints (CONFIG_FTRACE_SYSCALLS, tracefs): Linux 5.17 or later with\n"
			"  CONFIG_DEBUG_INFO_BTF=y.\n",
			bpf_program__name(prog), strerror(-err));
		return err;
	}
	l->links[l->n_links++] = link;
	return 0;
}

/*
 * The syscalls:sys_enter_X/sys_exit_X programs. A syscall this kernel does
 * not have (no tracepoint: fchmodat2 before 6.6, the legacy open/creat/...
 * on arm64) is skipped and named; one that exists but cannot be attached is
 * an error, since its events would be missed.
 */
static int attach_syscalls(struct loader *l)
{
	struct bpf_program *prog;
	char missing[1024] = "";
	size_t mlen = 0;

	bpf_object__for_each_program(prog, l->skel->obj) {
		const char *sec = bpf_program__section_name(prog);
		const char *tp = sec + strlen("tp/syscalls/");

		if (strncmp(sec, "tp/syscalls/", strlen("tp/syscalls/")) != 0)
			continue;
		if (!sysenv_tracepoint_exists("syscalls", tp)) {
			if (strncmp(tp, "sys_enter_", 10) == 0 && mlen < sizeof(missing) - 40)
				mlen += snprintf(missing + mlen, sizeof(missing) - mlen, " %s", tp + 10);
			continue;
		}
		if (l->n_links == sizeof(l->links) / sizeof(l->links[0]))
			return -E2BIG;
		int err = attach(l, prog);
		if (err)
			return err;
	}
	if (mlen)
		fprintf(stderr, "wacht-sensor: this kernel has no tracepoint for:%s; "
				"those syscalls are not reported\n", missing);
	return 0;
}

/*
 * Network segmentation's cgroup programs, on the cgroup v2 root: they run
 * for every socket below it and act only on enforced containers. bpf_links,
 * never pinned: detached when the sensor exits, so enforcement stops with
 * it (and coexists with other programs on the root, like any link).
 */
static int attach_netguard(struct loader *l, const char *cgroup2_root)
{
	struct bpf_program *progs[] = {
		l->skel->progs.handle_connect4, l->skel->progs.handle_connect6,
		l->skel->progs.handle_sendmsg4, l->skel->progs.handle_sendmsg6,
		/* ingress: the SYN check and the flow accounting in one */
		l->skel->progs.handle_ingress,
		/* egress flow accounting (flow.bpf.c), never drops */
		l->skel->progs.handle_flow_egress,
	};
	int fd, err = 0;

	if (!cgroup2_root)
		return 0;
	fd = open(cgroup2_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "wacht-sensor: failed to open cgroup root %s: %s\n", cgroup2_root,
			strerror(-err));
		return err;
	}
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (l->n_links == sizeof(l->links) / sizeof(l->links[0])) {
			err = -E2BIG;
			break;
		}
		struct bpf_link *link = bpf_program__attach_cgroup(progs[i], fd);
		if (!link) {
			err = -errno;
			fprintf(stderr, "wacht-sensor: failed to attach %s to cgroup %s: %s\n"
					"  Network segmentation needs cgroup BPF (CONFIG_CGROUP_BPF).\n",
				bpf_program__name(progs[i]), cgroup2_root, strerror(-err));
			break;
		}
		l->links[l->n_links++] = link;
	}
	close(fd);
	return err;
}

static int fill_prefixes(struct loader *l, const char *const *prefixes)
{
	int fd = bpf_map__fd(l->skel->maps.file_prefixes);

	for (size_t i = 0; prefixes && prefixes[i]; i++) {
		struct wacht_prefix_key key = {};
		size_t n = strlen(prefixes[i]);
		__u8 one = 1;

		if (n == 0 || n > WACHT_PREFIX_MAX) {
			fprintf(stderr, "wacht-sensor: file prefix '%s' must be 1..%d bytes\n",
				prefixes[i], WACHT_PREFIX_MAX);
			return -EINVAL;
		}
		memcpy(key.path, prefixes[i], n);
		key.prefixlen = n * 8;
		if (bpf_map_update_elem(fd, &key, &one, BPF_ANY)) {
			int err = -errno;
			fprintf(stderr, "wacht-sensor: failed to add file prefix '%s': %s\n",
				prefixes[i], strerror(-err));
			return err;
		}
	}
	return 0;
}

struct loader *loader__open(const struct loader_config *cfg, int *errp)
{
	struct loader *l = calloc(1, sizeof(*l));
	int err;

	if (!l) {
		*errp = -ENOMEM;
		return NULL;
	}
	libbpf_verbose = cfg->verbose_libbpf;
	libbpf_set_print(libbpf_print);
	l->ncpu = libbpf_num_possible_cpus();
	if (l->ncpu <= 0) {
		err = l->ncpu ? l->ncpu : -EINVAL;
		fprintf(stderr, "wacht-sensor: failed to count CPUs: %s\n", strerror(-err));
		goto fail;
	}

	l->skel = wacht_bpf__open();
	if (!l->skel) {
		err = -errno;
		fprintf(stderr, "wacht-sensor: failed to open BPF object: %s\n", strerror(-err));
		goto fail;
	}
	l->skel->rodata->cfg_sensor_tgid = cfg->sensor_tgid;
	l->skel->rodata->cfg_host_mntns = cfg->host_mntns;
	l->skel->rodata->cfg_capture_host = cfg->capture_host;
	l->skel->rodata->cfg_capture_file = cfg->capture_file;
	l->skel->rodata->cfg_capture_net = cfg->capture_net;
	l->skel->rodata->cfg_file_filter = cfg->file_prefixes && cfg->file_prefixes[0];
	l->skel->rodata->cfg_enforce = cfg->enforce;
	/* tail-call targets are attached through exit_progs, not by libbpf */
	bpf_program__set_autoattach(l->skel->progs.handle_file_exit, false);
	bpf_program__set_autoattach(l->skel->progs.handle_net_exit, false);

	err = wacht_bpf__load(l->skel);
	if (err) {
		fprintf(stderr,
			"wacht-sensor: failed to load BPF programs: %s\n"
			"  Run with --debug-bpf to see the verifier log. The kernel needs BTF\n"
			"  (/sys/kernel/btf/vmlinux), BPF ring buffers (5.8+) and bpf_loop (5.17+).\n",
			strerror(-err));
		goto fail;
	}

	int map = bpf_map__fd(l->skel->maps.exit_progs);
	__u32 k = WACHT_SC_FILE;
	int pfd = bpf_program__fd(l->skel->progs.handle_file_exit);
	if (bpf_map_update_elem(map, &k, &pfd, BPF_ANY)) {
		err = -errno;
		fprintf(stderr, "wacht-sensor: failed to install file exit program: %s\n", strerror(-err));
		goto fail;
	}
	k = WACHT_SC_NET;
	pfd = bpf_program__fd(l->skel->progs.handle_net_exit);
	if (bpf_map_update_elem(map, &k, &pfd, BPF_ANY)) {
		err = -errno;
		fprintf(stderr, "wacht-sensor: failed to install net exit program: %s\n", strerror(-err));
		goto fail;
	}
	err = fill_prefixes(l, cfg->file_prefixes);
	if (err)
		goto fail;

	/* cgroup events first, then process events, then syscalls: a container
	 * created while we attach is seen from its cgroup on */
	struct bpf_program *order[] = {
		l->skel->progs.handle_cgroup_mkdir, l->skel->progs.handle_cgroup_rmdir,
		l->skel->progs.handle_fork,         l->skel->progs.handle_exec,
		l->skel->progs.handle_exit,
	};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		err = attach(l, order[i]);
		if (err)
			goto fail;
	}
	err = attach_syscalls(l);
	if (err)
		goto fail;
	err = attach_netguard(l, cfg->cgroup2_root);
	if (err)
		goto fail;
	return l;
fail:
	loader__free(l);
	*errp = err;
	return NULL;
}

#define DETACH_THREADS 16

struct detach_job {
	struct loader *l;
	size_t first;
};

static void *detach_some(void *arg)
{
	struct detach_job *j = arg;

	for (size_t i = j->first; i < j->l->n_links; i += DETACH_THREADS) {
		bpf_link__destroy(j->l->links[i]);
		j->l->links[i] = NULL;
	}
	return NULL;
}

/*
 * Detaching a tracepoint link waits for an RCU grace period in the kernel
 * (tracepoint_probe_unregister), about 70 ms each on a small VM: one after
 * the other, the sensor's ~70 links took 5 s to let go. Grace periods that
 * threads wait for at the same time are shared, so the links are destroyed
 * from several threads at once; whatever a thread could not be started for
 * is destroyed here, in order.
 */
static void detach_all(struct loader *l)
{
	pthread_t th[DETACH_THREADS];
	struct detach_job jobs[DETACH_THREADS];
	bool started[DETACH_THREADS] = { false };

	for (size_t t = 0; t < DETACH_THREADS && t < l->n_links; t++) {
		jobs[t] = (struct detach_job){ l, t };
		started[t] = !pthread_create(&th[t], NULL, detach_some, &jobs[t]);
	}
	for (size_t t = 0; t < DETACH_THREADS && t < l->n_links; t++)
		if (started[t])
			pthread_join(th[t], NULL);
	for (size_t i = 0; i < l->n_links; i++)
		bpf_link__destroy(l->links[i]); /* NULL: already done */
	l->n_links = 0;
}

void loader__free(struct loader *l)
{
	if (!l)
		return;
	ring_buffer__free(l->rb);
	detach_all(l);
	wacht_bpf__destroy(l->skel);
	free(l);
}

int loader__set_consumer(struct loader *l, loader_event_fn fn, void *ctx)
{
	l->rb = ring_buffer__new(bpf_map__fd(l->skel->maps.events), (ring_buffer_sample_fn)fn, ctx,
				 NULL);
	if (!l->rb) {
		int err = -errno;
		fprintf(stderr, "wacht-sensor: failed to open ring buffer: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

int loader__drain(struct loader *l)
{
	/* consume, not poll: the kernel posts a wakeup only once much is
	 * waiting (WACHT_WAKEUP_BYTES), so epoll readiness misses the rest */
	return ring_buffer__consume(l->rb);
}

int loader__epoll_fd(const struct loader *l)
{
	return ring_buffer__epoll_fd(l->rb);
}

static int sum_percpu(int fd, __u32 key, int ncpu, uint64_t *out)
{
	uint64_t vals[ncpu];

	if (bpf_map_lookup_elem(fd, &key, vals))
		return -errno;
	*out = 0;
	for (int c = 0; c < ncpu; c++)
		*out += vals[c];
	return 0;
}

void loader__enforce_fds(const struct loader *l, struct loader_enforce *out)
{
	const struct wacht_bpf *k = l->skel;

	*out = (struct loader_enforce){
		.cgroups = bpf_map__fd(k->maps.enforce_cgroups),
		.proc_rules = bpf_map__fd(k->maps.proc_rules),
		.builtin_names = bpf_map__fd(k->maps.builtin_names),
		.cgroups_new = bpf_map__fd(k->maps.cgroups_new),
		.held = bpf_map__fd(k->maps.held_execs),
		.heartbeat = bpf_map__fd(k->maps.heartbeat),
		.counters = bpf_map__fd(k->maps.enforce_counters),
		.decide_held = bpf_program__fd(k->progs.decide_held),
	};
}

int loader__read_counters(const struct loader *l, uint64_t *drops, uint64_t *sent)
{
	int dfd = bpf_map__fd(l->skel->maps.drop_counters);
	int sfd = bpf_map__fd(l->skel->maps.sent_counters);
	int err;

	for (__u32 i = 0; i < WACHT_EV_MAX * WACHT_DROP_MAX; i++)
		if ((err = sum_percpu(dfd, i, l->ncpu, &drops[i])))
			return err;
	for (__u32 i = 0; i < WACHT_EV_MAX; i++)
		if ((err = sum_percpu(sfd, i, l->ncpu, &sent[i])))
			return err;
	return 0;
}

void loader__flow_fds(const struct loader *l, struct loader_flows *out)
{
	out->flows = bpf_map__fd(l->skel->maps.flows);
	out->counters = bpf_map__fd(l->skel->maps.flow_counters);
}

size_t loader__link_count(const struct loader *l)
{
	return l->n_links;
}

/* ---- network segmentation maps */

static int map_put(int fd, const void *key, const void *val, const char *what)
{
	if (bpf_map_update_elem(fd, key, val, BPF_ANY)) {
		int err = -errno;
		fprintf(stderr, "wacht-sensor: failed to update %s: %s\n", what, strerror(-err));
		return err;
	}
	return 0;
}

static int map_del(int fd, const void *key, const char *what)
{
	if (bpf_map_delete_elem(fd, key) && errno != ENOENT) {
		int err = -errno;
		fprintf(stderr, "wacht-sensor: failed to delete from %s: %s\n", what, strerror(-err));
		return err;
	}
	return 0;
}

/* This container's network bits in enforce_cgroups. (Minimal: the entry's
 * other fields belong to the process enforcement, which writes the entry
 * for every container; here only KNOWN | NET_PROTECT and net_set are set
 * or cleared, and an entry left with nothing else in it is removed.) */
static int net_cg_flags(int fd, const struct enforce_net_cg *cg)
{
	struct wacht_cg_policy v = { 0 };
	bool had = bpf_map_lookup_elem(fd, &cg->cgroup_id, &v) == 0;

	if (cg->protect) {
		v.flags |= WACHT_CG_KNOWN | WACHT_CG_NET_PROTECT;
		v.net_set = cg->net_set;
	} else {
		if (!had || !(v.flags & WACHT_CG_NET_PROTECT))
			return 0;
		v.flags &= ~WACHT_CG_NET_PROTECT;
		v.net_set = 0;
		if (v.flags == WACHT_CG_KNOWN && !v.proc_set && !v.init_tgid)
			return map_del(fd, &cg->cgroup_id, "enforce_cgroups");
	}
	return map_put(fd, &cg->cgroup_id, &v, "enforce_cgroups");
}

int loader__net_apply(struct loader *l, const struct enforce_net_result *next,
		      const struct enforce_net_result *old)
{
	int tfd = bpf_map__fd(l->skel->maps.net_rules);
	int afd = bpf_map__fd(l->skel->maps.peer_addrs);
	int cfd = bpf_map__fd(l->skel->maps.peer_cidrs);
	int gfd = bpf_map__fd(l->skel->maps.enforce_cgroups);
	int err;

	for (size_t i = 0; i < next->n_tables; i++)
		if ((err = map_put(tfd, &next->tables[i].key, &next->tables[i].rules, "net_rules")))
			return err;
	for (size_t i = 0; i < next->n_cidrs; i++)
		if ((err = map_put(cfd, &next->cidrs[i].key, &next->cidrs[i].class, "peer_cidrs")))
			return err;
	for (size_t i = 0; i < next->n_addrs; i++)
		if ((err = map_put(afd, &next->addrs[i].key, &next->addrs[i].class, "peer_addrs")))
			return err;
	for (size_t i = 0; i < next->n_cgs; i++)
		if ((err = net_cg_flags(gfd, &next->cgs[i])))
			return err;
	if (!old)
		return 0;
	/* what is no longer there: containers first (no longer enforced),
	 * then the tables and peers nothing points at */
	for (size_t i = 0; i < old->n_cgs; i++) {
		const struct enforce_net_cg *cg = &old->cgs[i];
		if (cg->protect && !enforce_net_cg_find(next, cg->cgroup_id)) {
			struct enforce_net_cg off = { .cgroup_id = cg->cgroup_id };
			if ((err = net_cg_flags(gfd, &off)))
				return err;
		}
	}
	for (size_t i = 0, j = 0; i < old->n_tables; i++) {
		while (j < next->n_tables && memcmp(&next->tables[j].key, &old->tables[i].key,
						    sizeof(struct wacht_net_key)) < 0)
			j++;
		if ((j == next->n_tables || memcmp(&next->tables[j].key, &old->tables[i].key,
						   sizeof(struct wacht_net_key))) &&
		    (err = map_del(tfd, &old->tables[i].key, "net_rules")))
			return err;
	}
	for (size_t i = 0, j = 0; i < old->n_cidrs; i++) {
		while (j < next->n_cidrs && memcmp(&next->cidrs[j].key, &old->cidrs[i].key,
						   sizeof(struct wacht_cidr_key)) < 0)
			j++;
		if ((j == next->n_cidrs || memcmp(&next->cidrs[j].key, &old->cidrs[i].key,
						  sizeof(struct wacht_cidr_key))) &&
		    (err = map_del(cfd, &old->cidrs[i].key, "peer_cidrs")))
			return err;
	}
	for (size_t i = 0, j = 0; i < old->n_addrs; i++) {
		while (j < next->n_addrs && memcmp(&next->addrs[j].key, &old->addrs[i].key,
						   sizeof(struct wacht_addr_key)) < 0)
			j++;
		if ((j == next->n_addrs || memcmp(&next->addrs[j].key, &old->addrs[i].key,
						  sizeof(struct wacht_addr_key))) &&
		    (err = map_del(afd, &old->addrs[i].key, "peer_addrs")))
			return err;
	}
	return 0;
}

int loader__enforce_counters(const struct loader *l, uint64_t *out)
{
	int fd = bpf_map__fd(l->skel->maps.enforce_counters);

	for (__u32 i = 0; i < WACHT_EC_MAX; i++) {
		int err = sum_percpu(fd, i, l->ncpu, &out[i]);
		if (err)
			return err;
	}
	return 0;
}
