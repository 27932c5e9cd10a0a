// SPDX-License-Identifier: Apache-2.0
/* sensor.c: load, attribute, print; the loop between kernel and output. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/types.h>

#include "clock.h"
#include "containers.h"
#include "decode.h"
#include "engine.h"
#include "events.h"
#include "flow_batch.h"
#include "flow_reader.h"
#include "format.h"
#include "health.h"
#include "jsonw.h"
#include "loader.h"
#include "metrics.h"
#include "peer_bus.h"
#include "peermap.h"
#include "proc_table.h"
#include "sensor.h"
#include "sensor_metrics.h"
#include "sensor_rules.h"
#include "shipper.h"
#include "sysenv.h"

#define PROC_TABLE_MAX 65536

/* Userspace's own losses, reported beside the kernel's. */
struct user_counters {
	uint64_t decode_errors;
	uint64_t write_errors;
	uint64_t not_container; /* own mount namespace but no container cgroup */
	uint64_t runtime_init;  /* events of a runtime preparing a container */
	uint64_t printed;
	uint64_t findings;
};

struct sensor {
	const struct sensor_config *cfg;
	struct loader *loader;
	struct enforcer *enf;
	struct containers *containers;
	struct proc_table *procs;
	struct sensor_rules *rules;
	struct jsonw *w;
	struct shipper *ship;           /* NULL without --aggregator */
	struct health *health;          /* NULL without --health-listen */
	struct metrics *findings;       /* wacht_findings_total, kept across snapshots */
	struct flow_reader *flows;      /* NULL with --flow-interval 0 */
	struct flow_batch *flow_batch;  /* to the aggregator; NULL without one */
	/* containers of other nodes (the aggregator's PeerMap) and what this
	 * node announces; NULL without --aggregator / --nats */
	struct peer_table *peers;
	struct peer_announce *announce;
	struct peer_bus *bus_peers;     /* --nats: endpoints over core NATS */
	uint64_t announce_hash;
	bool announced;
	uint64_t peers_left_out;        /* dropped + omitted of the last map said */
	FILE *out;
	struct format_ctx fc;
	char node[256];
	uint64_t host_mntns;
	struct user_counters uc;
	uint64_t seen[WACHT_EV_MAX];
};

static void write_line(struct sensor *s)
{
	size_t len;
	const char *data = jsonw__data(s->w, &len);

	if (jsonw__error(s->w)) {
		s->uc.write_errors++;
		return;
	}
	if (fwrite(data, 1, len, s->out) != len || fputc('\n', s->out) == EOF)
		s->uc.write_errors++;
	else
		s->uc.printed++;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void print_finding(void *ctx, const struct finding *f)
{
	struct sensor *s = ctx;
	struct finding shipped;
	char id[400];

	/* shipped too, and printed with the id the aggregator stores it under */
	if (s->ship && shipper__add(s->ship, &s->fc, f, mono_ms(), id, sizeof(id)) == 0) {
		shipped = *f;
		shipped.id = id;
		f = &shipped;
	}
	jsonw__reset(s->w);
	finding_format(s->w, &s->fc, f);
	write_line(s);
	s->uc.findings++;
	if (s->findings && sensor_metrics_finding(s->findings, f->name,
						  finding_action_name(f->action)))
		fprintf(stderr, "wacht-sensor: failed to count a finding for /metrics: out of memory\n");
}

/* A group's learned profile changed: to the aggregator, which merges the
 * nodes' profiles (none without --aggregator). */
static void ship_learned(void *ctx, const char *group, const char *yaml)
{
	struct sensor *s = ctx;

	if (s->ship && shipper__learned(s->ship, group, yaml))
		fprintf(stderr, "wacht-sensor: failed to queue the learned profile of %s: out of memory\n",
			group);
}

static void print_policy(void *ctx, bool ok, const char *why, const struct diags *d,
			 const struct policy *p)
{
	struct sensor *s = ctx;
	char ts[64];

	diags__print(d, stderr);
	if (ok)
		fprintf(stderr, "wacht-sensor: rules loaded (%s): %zu groups, %zu network rules%s\n", why,
			p->n_groups, p->n_net, d->n_warnings ? ", with warnings above" : "");
	else
		fprintf(stderr, "wacht-sensor: rules not loaded (%s): %zu errors above; %s\n", why,
			d->n_errors, s->rules ? "the previous policy stays active" : "not starting");
	jsonw__reset(s->w);
	jsonw__obj_begin(s->w, NULL);
	format_time(ts, sizeof(ts), clock_boot_ns(), s->fc.boot_to_real_ns);
	jsonw__str(s->w, "time", ts);
	jsonw__str(s->w, "node", s->node);
	jsonw__str(s->w, "kind", "policy");
	jsonw__str(s->w, "status", ok ? "loaded" : "rejected");
	jsonw__str(s->w, "reason", why);
	if (ok) {
		jsonw__u64(s->w, "groups", p->n_groups);
		jsonw__u64(s->w, "network_rules", p->n_net);
	}
	jsonw__arr_begin(s->w, "diagnostics");
	for (size_t i = 0; i < d->n; i++) {
		char line[1024];
		snprintf(line, sizeof(line), "%s:%u:%u: %s: %s", d->v[i].file, d->v[i].line, d->v[i].col,
			 d->v[i].error ? "error" : "warning", d->v[i].msg);
		jsonw__str(s->w, NULL, line);
	}
	jsonw__arr_end(s->w);
	jsonw__obj_end(s->w);
	if (s->out) {
		write_line(s);
		fflush(s->out);
	}
}

static bool printed_by_default(uint32_t type)
{
	return type == WACHT_EV_EXEC || type == WACHT_EV_FILE || type == WACHT_EV_NET;
}

/* A process the sensor has not seen exec (a host process such as the
 * container runtime, started after the sensor): ask /proc, as seen from
 * inside its own root. */
static void learn_proc(struct sensor *s, uint32_t tgid)
{
	char path[64], exe[4096], root[4096], line[512];
	uint32_t ppid = 0;
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/stat", tgid);
	if (!(f = fopen(path, "re")))
		return;
	if (fgets(line, sizeof(line), f)) {
		const char *rp = strrchr(line, ')');
		if (rp)
			sscanf(rp + 1, " %*c %u", &ppid);
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%u/exe", tgid);
	ssize_t n = readlink(path, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	snprintf(path, sizeof(path), "/proc/%u/root", tgid);
	ssize_t r = readlink(path, root, sizeof(root) - 1);
	root[r > 0 ? r : 0] = 0;
	const char *e = exe;
	size_t rl = strlen(root);
	if (rl > 1 && strncmp(exe, root, rl) == 0 && exe[rl] == '/')
		e = exe + rl;
	proc_table__exec(s->procs, tgid, ppid, 0, e, "", 0);
	snprintf(path, sizeof(path), "/proc/%u/ns/mnt", tgid);
	if (stat(path, &st) == 0 && st.st_ino != s->host_mntns)
		proc_table__set_flags(s->procs, tgid, PROC_F_WORKLOAD);
}

static int handle_event(void *ctx, const void *data, size_t size)
{
	struct sensor *s = ctx;
	struct wacht_event ev;

	if (event_decode(data, size, &ev)) {
		s->uc.decode_errors++;
		return 0;
	}
	const struct wacht_hdr *h = ev.hdr;
	s->seen[h->type < WACHT_EV_MAX ? h->type : 0]++;

	switch (h->type) {
	case WACHT_EV_CGROUP_MKDIR:
		containers__cgroup_created(s->containers, h->cgroup_id, ev.cgroup_path);
		break;
	case WACHT_EV_CGROUP_RMDIR:
		containers__cgroup_removed(s->containers, h->cgroup_id, h->ts_ns);
		break;
	case WACHT_EV_EXEC:
		if (!proc_table__lookup(s->procs, h->ppid))
			learn_proc(s, h->ppid);
		proc_table__exec(s->procs, h->tgid, h->ppid, h->cgroup_id, ev.exe,
				 engine_exec_name(&ev), h->ts_ns);
		if (!(h->flags & WACHT_F_HOST))
			proc_table__set_flags(s->procs, h->tgid, PROC_F_WORKLOAD);
		break;
	case WACHT_EV_FORK:
		proc_table__fork(s->procs, h->tgid, ev.fork->child_tgid, ev.fork->child_cgroup_id,
				 h->ts_ns);
		break;
	default:
		break;
	}

	bool cgroup_ev = h->type == WACHT_EV_CGROUP_MKDIR || h->type == WACHT_EV_CGROUP_RMDIR;
	const struct proc_entry *self = cgroup_ev ? NULL : proc_table__lookup(s->procs, h->tgid);
	/* the runtime (runc init) preparing a container acts inside it before
	 * the first exec: shown with -v only, marked, and counted */
	bool runtime_init = self && !(h->flags & WACHT_F_HOST) && !(self->flags & PROC_F_WORKLOAD);
	if (runtime_init)
		s->uc.runtime_init++;
	/* the rule engine sees what a container's workload does (not the
	 * runtime preparing it), and every process's credentials */
	bool host = h->flags & WACHT_F_HOST;
	bool evaluate = !cgroup_ev && !runtime_init && s->rules;
	bool print = s->cfg->verbose ||
		     (s->cfg->events && printed_by_default(h->type) && !runtime_init);
	const struct container_view *cv = NULL;

	/* one lookup serves both */
	if ((evaluate && !host) || (print && (!cgroup_ev || !host)))
		cv = containers__lookup(s->containers, h->cgroup_id, cgroup_ev ? 0 : h->tgid);
	if (evaluate)
		sensor_rules__event(s->rules, &ev, host ? NULL : cv);
	/* file guard (issue 4): from the runtime's first event in a container */
	if (runtime_init && s->rules && !host)
		sensor_rules__container_seen(s->rules, cv ? cv : containers__lookup(s->containers,
							h->cgroup_id, h->tgid));
	if (h->type == WACHT_EV_CGROUP_RMDIR && s->rules)
		sensor_rules__container_gone(s->rules, h->cgroup_id);
	if (print) {
		if (!cv && !cgroup_ev && !s->cfg->capture_host) {
			/* a sandboxed host service (own mount namespace, no
			 * container cgroup): not a container */
			s->uc.not_container++;
		} else {
			const char *exe = self ? self->exe : "";
			const struct proc_entry *parent = proc_table__lookup(s->procs, h->ppid);
			struct process_view pv = {
				.exe = exe,
				.parent_exe = parent ? parent->exe : "",
				.runtime_init = runtime_init,
			};
			if (format_event(s->w, &s->fc, &ev, cv, &pv) == 0)
				write_line(s);
			else
				s->uc.write_errors++;
		}
	}
	if (h->type == WACHT_EV_EXIT)
		proc_table__exit(s->procs, h->tgid);
	return 0;
}

/* ---- conversations (flows.h): a JSON line per record */

/* The engine's verdict on each connection, kept for the records. */
static void flow_verdict(void *ctx, uint64_t cgroup_id, bool inbound, uint8_t family,
			 const uint8_t *raddr, uint8_t proto, uint16_t port, enum flow_verdict v)
{
	struct sensor *s = ctx;

	if (!s->flows)
		return;
	flows__set_verdict(flow_reader__flows(s->flows), cgroup_id, inbound, family, raddr, proto,
			   port, v);
	/* a refused connect/send never reaches the flow map (no packet) */
	if (v == FLOW_VERDICT_DENIED && !inbound)
		flows__add_refused(flow_reader__flows(s->flows), cgroup_id, family, raddr, proto, port,
				   clock_boot_ns());
}

static void endpoint_write(struct jsonw *w, const char *name, const struct sensor_endpoint *ep,
			   uint8_t family, const uint8_t *addr)
{
	char ip[INET6_ADDRSTRLEN] = "";

	inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, ip, sizeof(ip));
	jsonw__obj_begin(w, name);
	jsonw__str(w, "kind", ep->kind == ENTITY_CONTAINER ? "container"
			      : ep->kind == ENTITY_HOST    ? "node"
							   : "external");
	jsonw__str(w, "ip", ip);
	if (ep->kind == ENTITY_CONTAINER && ep->view) {
		jsonw__str(w, "id", ep->view->id ? ep->view->id : "");
		jsonw__str(w, "name", ep->view->name ? ep->view->name : "");
		jsonw__str(w, "pod", ep->view->pod ? ep->view->pod : "");
		jsonw__str(w, "namespace", ep->view->namespace ? ep->view->namespace : "");
		jsonw__str(w, "group", ep->group);
		/* a container of another node (the aggregator's peer map) */
		if (ep->node)
			jsonw__str(w, "node", ep->node);
	}
	jsonw__obj_end(w);
}

/*
 * {"kind":"flow"}: one conversation since the last report, from the side
 * of the container on this node ("reporter": client or server; when both
 * ends are containers here, each reports its own). Bytes are TCP/UDP
 * payload, packets are wire packets, both per direction.
 */
static void print_flow(void *ctx, const struct flow_record *r)
{
	struct sensor *s = ctx;
	struct sensor_endpoint local, peer;
	char ts[64], first[64], last[64];

	if (sensor_rules__endpoint_container(s->rules, r->cgroup_id, &local))
		return; /* gone and forgotten: nothing to name it by */
	/* copied: the peer's lookup may change what local->view points to */
	struct container_view lv = *local.view;
	local.view = &lv;
	sensor_rules__endpoint_peer(s->rules, r->family, r->raddr, &peer);
	format_time(ts, sizeof(ts), clock_boot_ns(), s->fc.boot_to_real_ns);
	format_time(first, sizeof(first), r->first_ns, s->fc.boot_to_real_ns);
	format_time(last, sizeof(last), r->last_ns, s->fc.boot_to_real_ns);
	jsonw__reset(s->w);
	jsonw__obj_begin(s->w, NULL);
	jsonw__str(s->w, "time", ts);
	jsonw__str(s->w, "node", s->node);
	jsonw__str(s->w, "kind", "flow");
	jsonw__str(s->w, "reporter", r->container_is_client ? "client" : "server");
	if (r->container_is_client) {
		endpoint_write(s->w, "client", &local, r->family, r->laddr);
		endpoint_write(s->w, "server", &peer, r->family, r->raddr);
	} else {
		endpoint_write(s->w, "client", &peer, r->family, r->raddr);
		endpoint_write(s->w, "server", &local, r->family, r->laddr);
	}
	jsonw__str(s->w, "proto", r->proto == IPPROTO_TCP ? "tcp" : "udp");
	jsonw__u64(s->w, "server_port", r->server_port);
	jsonw__u64(s->w, "bytes_to_server", r->bytes_to_server);
	jsonw__u64(s->w, "bytes_to_client", r->bytes_to_client);
	jsonw__u64(s->w, "packets_to_server", r->pkts_to_server);
	jsonw__u64(s->w, "packets_to_client", r->pkts_to_client);
	jsonw__u64(s->w, "sessions", r->sessions);
	jsonw__str(s->w, "first_seen", first);
	jsonw__str(s->w, "last_seen", last);
	jsonw__str(s->w, "verdict", flow_verdict_name(r->verdict));
	jsonw__obj_end(s->w);
	write_line(s);
	if (s->flow_batch) {
		struct flow_end le = { local.kind, local.view, local.group, NULL };
		struct flow_end pe = { peer.kind, peer.view, peer.group, peer.node };
		/* a record that does not fit is only printed */
		flow_batch__add(s->flow_batch, r, r->container_is_client ? &le : &pe,
				r->container_is_client ? &pe : &le, s->fc.boot_to_real_ns);
	}
}

/* ---- peers on other nodes (README "Peers on other nodes") */

static void announce_visit(void *ctx, const struct container_view *v, const char *group,
			   const struct entity_addr *addrs, size_t n)
{
	struct sensor *s = ctx;

	/* out of memory: this container is missing from this announcement,
	 * and the next tick's differs and is sent */
	peer_announce__add(s->announce, v, group, addrs, n);
}

/* Once a second: this node's containers and addresses, sent when they
 * changed (so a burst of starts is one message a second at most). */
static void peers_announce(struct sensor *s)
{
	if (!s->announce)
		return;
	peer_announce__reset(s->announce);
	sensor_rules__foreach_endpoint(s->rules, announce_visit, s);
	uint64_t h = peer_announce__hash(s->announce, s->node);
	if (s->announced && h == s->announce_hash)
		return;
	Wacht__V1__SensorEndpoints *m = peer_announce__msg(s->announce, s->node);
	m->time_unix_ns = clock_real_ns();
	if (shipper__endpoints(s->ship, m))
		return;
	if (s->bus_peers && peer_bus__announce(s->bus_peers, m))
		return;
	s->announce_hash = h;
	s->announced = true;
}

/* A PeerMap from the aggregator (or built from the other sensors' over
 * NATS): the whole table is replaced. */
static void apply_peers(void *ctx, const Wacht__V1__PeerMap *m)
{
	struct sensor *s = ctx;
	struct peer_table_stats st;

	if (peer_table__apply(s->peers, m, s->node))
		fprintf(stderr, "wacht-sensor: peer map: out of memory; peers on other nodes are "
				"external until the next map\n");
	/* the policy's view of their addresses changed (the kernel's maps
	 * follow on the next tick) */
	if (s->rules)
		sensor_rules__set_peers(s->rules, s->peers);
	peer_table__stats(s->peers, &st);
	/* every pod start in the cluster changes the map: the first one is
	 * said here, and a change in what was left out; the rest is in the
	 * stats line's "peers" */
	uint64_t left_out = st.dropped + st.omitted;
	if (st.maps > 1 && left_out == s->peers_left_out)
		return;
	s->peers_left_out = left_out;
	fprintf(stderr, "wacht-sensor: peer map %" PRIu64 ": %" PRIu64 " containers (%" PRIu64
			" addresses) on other nodes%s\n", st.version, st.endpoints, st.addresses,
		st.dropped || st.omitted ? ", some left out (see the stats line's peers)" : "");
}

/* Idle entries leave the map after this long (at least 3 intervals): a
 * quiet connection that talks again is counted from a new entry. */
#define FLOW_IDLE_NS (60ULL * 1000000000ULL)

static void flows_report(struct sensor *s)
{
	uint64_t idle = (uint64_t)s->cfg->flow_interval * 3 * 1000000000ULL;

	if (!s->flows)
		return;
	flow_reader__read(s->flows, clock_boot_ns(), idle > FLOW_IDLE_NS ? idle : FLOW_IDLE_NS,
			  print_flow, s);
	if (s->flow_batch && flow_batch__count(s->flow_batch)) {
		struct flow_reader_stats fs;

		flow_reader__stats(s->flows, &fs);
		shipper__flows(s->ship, flow_batch__msg(s->flow_batch, clock_real_ns(), fs.evicted));
		flow_batch__clear(s->flow_batch);
	}
}

/* The stats object into s->w (after a reset); *total: the events lost.
 * The stats line and /metrics are both made from it. */
static int stats_build(struct sensor *s, bool final, uint64_t *sent, uint64_t *total_out)
{
	uint64_t drops[WACHT_EV_MAX * WACHT_DROP_MAX] = {};
	uint64_t total = 0;
	char ts[64];

	if (loader__read_counters(s->loader, drops, sent)) {
		fprintf(stderr, "wacht-sensor: failed to read BPF counters\n");
		return -EIO;
	}
	format_time(ts, sizeof(ts), clock_boot_ns(), s->fc.boot_to_real_ns);
	jsonw__reset(s->w);
	jsonw__obj_begin(s->w, NULL);
	jsonw__str(s->w, "time", ts);
	jsonw__str(s->w, "node", s->node);
	jsonw__str(s->w, "kind", "stats");
	jsonw__bool(s->w, "final", final);
	jsonw__obj_begin(s->w, "delivered");
	for (uint32_t t = 1; t < WACHT_EV_MAX; t++)
		jsonw__u64(s->w, event_type_name(t), sent[t]);
	jsonw__obj_end(s->w);
	jsonw__obj_begin(s->w, "received");
	for (uint32_t t = 1; t < WACHT_EV_MAX; t++)
		jsonw__u64(s->w, event_type_name(t), s->seen[t]);
	jsonw__obj_end(s->w);
	jsonw__obj_begin(s->w, "drops");
	for (uint32_t t = 1; t < WACHT_EV_MAX; t++) {
		jsonw__obj_begin(s->w, event_type_name(t));
		for (uint32_t r = 0; r < WACHT_DROP_MAX; r++) {
			uint64_t v = drops[t * WACHT_DROP_MAX + r];
			jsonw__u64(s->w, drop_reason_name(r), v);
			/* truncations degrade an event; the others lose it */
			if (r != WACHT_DROP_PATH_TRUNC && r != WACHT_DROP_ARGS_TRUNC &&
			    r != WACHT_DROP_READ_FAIL)
				total += v;
		}
		jsonw__obj_end(s->w);
	}
	jsonw__obj_end(s->w);
	jsonw__u64(s->w, "total_dropped", total);
	jsonw__obj_begin(s->w, "userspace");
	jsonw__u64(s->w, "decode_errors", s->uc.decode_errors);
	jsonw__u64(s->w, "write_errors", s->uc.write_errors);
	jsonw__u64(s->w, "not_container", s->uc.not_container);
	jsonw__u64(s->w, "runtime_init", s->uc.runtime_init);
	jsonw__u64(s->w, "printed", s->uc.printed);
	jsonw__u64(s->w, "findings", s->uc.findings);
	jsonw__u64(s->w, "process_table", proc_table__count(s->procs));
	jsonw__u64(s->w, "process_evictions", proc_table__evictions(s->procs));
	jsonw__u64(s->w, "cgroups_known", containers__count(s->containers));
	jsonw__obj_end(s->w);
	if (s->flows) {
		struct flow_reader_stats fs;
		flow_reader__stats(s->flows, &fs);
		jsonw__obj_begin(s->w, "flows");
		jsonw__u64(s->w, "alive", fs.alive);
		jsonw__u64(s->w, "inserted", fs.inserted);
		jsonw__u64(s->w, "deleted_idle", fs.deleted);
		jsonw__u64(s->w, "evicted", fs.evicted);
		jsonw__u64(s->w, "insert_failed", fs.insert_failed);
		jsonw__u64(s->w, "records", fs.records);
		jsonw__obj_end(s->w);
	}
	if (s->rules)
		sensor_rules__stats(s->rules, s->w);
	if (s->peers) {
		struct peer_table_stats ps;

		peer_table__stats(s->peers, &ps);
		jsonw__obj_begin(s->w, "peers");
		jsonw__u64(s->w, "maps", ps.maps);
		jsonw__u64(s->w, "version", ps.version);
		jsonw__u64(s->w, "containers", ps.endpoints);
		jsonw__u64(s->w, "addresses", ps.addresses);
		jsonw__u64(s->w, "dropped", ps.dropped);
		jsonw__u64(s->w, "omitted", ps.omitted);
		if (s->bus_peers) {
			struct peer_bus_stats bs;

			peer_bus__stats(s->bus_peers, &bs);
			jsonw__bool(s->w, "nats_connected", bs.connected);
			jsonw__u64(s->w, "nats_published", bs.published);
			jsonw__u64(s->w, "nats_received", bs.received);
			jsonw__u64(s->w, "nats_rejected", bs.rejected);
			jsonw__u64(s->w, "nats_nodes", bs.nodes);
		}
		jsonw__obj_end(s->w);
	}
	if (s->ship)
		shipper__stats_json(s->ship, s->w);
	jsonw__obj_end(s->w);
	*total_out = total;
	return 0;
}

static void print_stats(struct sensor *s, bool final)
{
	uint64_t sent[WACHT_EV_MAX] = {};
	uint64_t total = 0;

	if (stats_build(s, final, sent, &total))
		return;
	write_line(s);
	fflush(s->out);
	if (final || total)
		fprintf(stderr, "wacht-sensor: %s: delivered exec=%llu file=%llu net=%llu, dropped %llu, "
				"decode errors %llu\n",
			final ? "exit" : "stats", (unsigned long long)sent[WACHT_EV_EXEC],
			(unsigned long long)sent[WACHT_EV_FILE], (unsigned long long)sent[WACHT_EV_NET],
			(unsigned long long)total, (unsigned long long)s->uc.decode_errors);
}

/* A fresh /metrics snapshot, from the same numbers as the stats line
 * (about once a second: reading the per-CPU counters is a few syscalls). */
static void publish_metrics(struct sensor *s)
{
	uint64_t sent[WACHT_EV_MAX] = {};
	uint64_t total;
	struct metrics *m;
	const char *data;
	size_t len;

	if (stats_build(s, false, sent, &total))
		return;
	data = jsonw__data(s->w, &len);
	m = metrics__new();
	if (!m || jsonw__error(s->w) || sensor_metrics_from_stats(m, data, len) ||
	    metrics__merge(m, s->findings)) {
		fprintf(stderr, "wacht-sensor: failed to build the metrics snapshot: out of memory\n");
		metrics__free(m);
		return;
	}
	health__publish(s->health, m);
}

/* Processes that started before the sensor: their exe (as seen from inside
 * their root) and parent, so that parent_exe is known from the start. */
static void scan_procs(struct sensor *s)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		uint32_t tgid = strtoul(de->d_name, NULL, 10);

		if (tgid)
			learn_proc(s, tgid);
	}
	closedir(d);
}

static int write_ready(const char *path, const struct sensor *s)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "we")))
		return -errno;
	fprintf(f, "pid %d\nlinks %zu\n", getpid(), loader__link_count(s->loader));
	if (fclose(f))
		return -errno;
	return rename(tmp, path) ? -errno : 0;
}

int sensor_run(const struct sensor_config *cfg)
{
	struct sensor s = { .cfg = cfg };
	char cgroot[4096];
	int cg_mounted = 0, tracefs_mounted = 0, err, ret = 1;
	int epfd = -1, sfd = -1, tfd = -1;
	sigset_t mask;

	if (sysenv_check())
		return 1;
	int64_t host_mntns = sysenv_host_mntns();
	if (host_mntns < 0)
		return 1;
	s.host_mntns = host_mntns;
	if (sysenv_cgroup2_root(cgroot, sizeof(cgroot), &cg_mounted))
		return 1;
	if ((cfg->capture_file || cfg->capture_net) && sysenv_tracefs(&tracefs_mounted)) {
		if (cg_mounted)
			sysenv_unmount_cgroup2(cgroot);
		return 1;
	}
	if (cfg->node)
		snprintf(s.node, sizeof(s.node), "%s", cfg->node);
	else
		sysenv_node_name(s.node, sizeof(s.node));
	s.fc.node = s.node;
	s.fc.boot_to_real_ns = sysenv_boot_to_real_ns();

	if (cfg->output) {
		s.out = fopen(cfg->output, "ae");
		if (!s.out) {
			fprintf(stderr, "wacht-sensor: failed to open output %s: %s\n", cfg->output,
				strerror(errno));
			goto out;
		}
	} else {
		s.out = stdout;
	}
	s.w = jsonw__new();
	s.procs = proc_table__new(PROC_TABLE_MAX);
	s.containers = containers__new(cgroot, cfg->runtime_roots);
	if (!s.w || !s.procs || !s.containers) {
		fprintf(stderr, "wacht-sensor: out of memory\n");
		goto out;
	}
	if (cfg->aggregator || cfg->nats.url) {
		struct shipper_config shc = {
			.aggregator = cfg->aggregator,
			.tls = cfg->tls,
			.nats = cfg->nats,
			.spool_dir = cfg->spool_dir,
			.spool_max = cfg->spool_max,
			.node = s.node,
			.sink = print_finding,
			.sink_ctx = &s,
			.peers = apply_peers,
			.peers_ctx = &s,
		};
		char *err = NULL;

		s.peers = peer_table__new(0);
		s.announce = peer_announce__new();
		if (cfg->nats.url)
			s.bus_peers = peer_bus__new(&cfg->nats, s.node, cfg->peer_grace);
		if (!s.peers || !s.announce || (cfg->nats.url && !s.bus_peers)) {
			fprintf(stderr, "wacht-sensor: out of memory\n");
			goto out;
		}

		s.ship = shipper__new(&shc, &err);
		if (!s.ship) {
			fprintf(stderr, "wacht-sensor: %s\n", err ? err : "shipper: out of memory");
			free(err);
			goto out;
		}
	}
	/* listening before the programs load: probes get "starting" (503
	 * for ready) instead of a refused connection */
	if (cfg->health_listen) {
		char *herr = NULL;

		s.findings = metrics__new();
		if (!s.findings) {
			fprintf(stderr, "wacht-sensor: out of memory\n");
			goto out;
		}
		s.health = health__start(cfg->health_listen, &herr);
		if (!s.health) {
			fprintf(stderr, "wacht-sensor: %s\n", herr ? herr : "health: out of memory");
			free(herr);
			goto out;
		}
	}
	/* the policy before the kernel: a rule error stops the start here */
	struct sensor_rules_config rc = {
		.src = {
			.paths = cfg->rules,
			.default_name = "<built-in rules/default.yaml>",
			.default_yaml = cfg->default_rules,
			.default_len = cfg->default_rules_len,
			.state_dir = cfg->state_dir,
		},
		.node = s.node,
		.window_ns = (uint64_t)cfg->window * 1000000000ULL,
		.alert_only = cfg->alert_only,
		.sink = print_finding,
		.policy_loaded = print_policy,
		.learned_profile = ship_learned,
		.net_verdict = flow_verdict,
		.ctx = &s,
		.cgroup_root = cgroot,         /* file guard (issue 4) */
	};
	s.rules = sensor_rules__new(&rc, s.containers, s.procs);
	if (!s.rules)
		goto out;

	/* signals through a signalfd, so the loop owns every exit path */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	struct loader_config lc = {
		.sensor_tgid = getpid(),
		.host_mntns = (uint32_t)host_mntns,
		.capture_host = cfg->capture_host,
		.capture_file = cfg->capture_file,
		.capture_net = cfg->capture_net,
		.file_prefixes = cfg->file_prefixes,
		.verbose_libbpf = cfg->debug_bpf,
		.enforce = !cfg->alert_only,
		.cgroup2_root = cgroot,
	};
	s.loader = loader__open(&lc, &err);
	if (!s.loader)
		goto out;
	if (loader__set_consumer(s.loader, handle_event, &s))
		goto out;
	/* attached first, then scanned: whatever starts in between is in the
	 * ring buffer already */
	containers__scan(s.containers);
	scan_procs(&s);
	/* every container known now is compiled into the kernel before we
	 * say ready; new ones are held at their first exec until compiled */
	s.enf = enforcer__new(s.loader, !cfg->alert_only);
	if (!s.enf) {
		fprintf(stderr, "wacht-sensor: out of memory\n");
		goto out;
	}
	sensor_rules__set_enforcer(s.rules, s.enf);
	sensor_rules__set_loader(s.rules, s.loader, !cfg->alert_only);
	sensor_rules__set_peers(s.rules, s.peers);
	if (cfg->flow_interval && s.ship && !(s.flow_batch = flow_batch__new(s.node))) {
		fprintf(stderr, "wacht-sensor: out of memory\n");
		goto out;
	}
	if (cfg->flow_interval && !(s.flows = flow_reader__new(s.loader))) {
		fprintf(stderr, "wacht-sensor: out of memory\n");
		goto out;
	}

	epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	timerfd_settime(tfd, 0, &its, NULL);
	struct epoll_event ee = { .events = EPOLLIN };
	int fds[] = { loader__epoll_fd(s.loader), containers__inotify_fd(s.containers), sfd, tfd,
		      sensor_rules__inotify_fd(s.rules), s.ship ? shipper__fd(s.ship) : -1 };
	for (int i = 0; i < 6; i++) {
		if (fds[i] < 0)
			continue;
		ee.data.fd = fds[i];
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fds[i], &ee)) {
			fprintf(stderr, "wacht-sensor: failed to watch fd: %s\n", strerror(errno));
			goto out;
		}
	}

	if (cfg->ready_file && (err = write_ready(cfg->ready_file, &s)))
		fprintf(stderr, "wacht-sensor: failed to write ready file %s: %s\n", cfg->ready_file,
			strerror(-err));
	fprintf(stderr, "wacht-sensor: ready on node %s: %zu programs attached, %zu cgroups known%s%s\n",
		s.node, loader__link_count(s.loader), containers__count(s.containers),
		cfg->capture_host ? ", host processes included" : "",
		cfg->alert_only ? ", alert-only (nothing is enforced)" : "");

	if (s.health) {
		publish_metrics(&s);
		health__turn(s.health, mono_ms());
		health__started(s.health, loader__link_count(s.loader));
	}

	unsigned ticks = 0;
	bool running = true;
	while (running) {
		struct epoll_event evs[8];
		int n = epoll_wait(epfd, evs, 8, WACHT_DRAIN_MS);

		enforcer__heartbeat(s.enf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "wacht-sensor: epoll_wait failed: %s\n", strerror(errno));
			goto out;
		}
		/* metadata first: a state.json event and the exec it explains
		 * can arrive in one wakeup */
		for (int i = 0; i < n; i++)
			if (evs[i].data.fd == containers__inotify_fd(s.containers))
				containers__handle_inotify(s.containers);
		/* whatever woke us: the kernel signals the ring only when much
		 * is waiting, so it is drained on every turn */
		loader__drain(s.loader);
		fflush(s.out);
		/* after the drain and the write: a loop stuck in either is
		 * neither alive nor ready */
		if (s.health)
			health__turn(s.health, mono_ms());
		/* every turn (at least every WACHT_DRAIN_MS): batch timers,
		 * reconnects and whatever its socket is ready for */
		if (s.ship)
			shipper__poll(s.ship, mono_ms());
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == sfd) {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
						running = false;
					else if (si.ssi_signo == SIGHUP)
						sensor_rules__reload(s.rules, "SIGHUP");
				}
			} else if (fd == sensor_rules__inotify_fd(s.rules)) {
				sensor_rules__handle_inotify(s.rules);
			} else if (fd == tfd) {
				uint64_t exp;
				if (read(tfd, &exp, sizeof(exp)) < 0)
					continue;
				ticks++;
				containers__expire(s.containers, clock_boot_ns());
				sensor_rules__tick(s.rules, clock_boot_ns());
				peers_announce(&s);
				if (s.bus_peers)
					peer_bus__tick(s.bus_peers, (int64_t)(mono_ms() / 1000),
						       apply_peers, &s);
				if (cfg->stats_interval && ticks % cfg->stats_interval == 0)
					print_stats(&s, false);
				if (s.health)
					publish_metrics(&s);
				if (cfg->flow_interval && ticks % cfg->flow_interval == 0)
					flows_report(&s);
			}
		}
	}
	/* drain what the kernel produced before the signal */
	loader__drain(s.loader);
	/* findings held for aggregation, and what was learned, before the end */
	sensor_rules__tick(s.rules, UINT64_MAX);
	/* what was counted since the last report */
	flows_report(&s);
	/* the last findings to the aggregator, if it is there; else they
	 * wait in the spool for the next start */
	if (s.ship)
		shipper__drain(s.ship, 2000);
	print_stats(&s, true);
	ret = 0;
out:
	if (s.out && s.out != stdout)
		fclose(s.out);
	else if (s.out)
		fflush(s.out);
	/* held execs are let go before the programs go */
	if (s.rules)
		sensor_rules__set_enforcer(s.rules, NULL);
	enforcer__free(s.enf);
	flow_reader__free(s.flows);
	flow_batch__free(s.flow_batch);
	loader__free(s.loader);
	peer_bus__free(s.bus_peers);
	peer_table__free(s.peers);
	peer_announce__free(s.announce);
	sensor_rules__free(s.rules);
	shipper__free(s.ship);
	/* the HTTP thread reads nothing of the sensor's but its own copies */
	health__free(s.health);
	metrics__free(s.findings);
	containers__free(s.containers);
	proc_table__free(s.procs);
	jsonw__free(s.w);
	if (epfd >= 0)
		close(epfd);
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	if (cg_mounted)
		sysenv_unmount_cgroup2(cgroot);
	if (tracefs_mounted)
		sysenv_unmount_tracefs();
	if (cfg->ready_file)
		unlink(cfg->ready_file);
	return ret;
}
