// SPDX-License-Identifier: Apache-2.0
/* sensor_metrics.c: the stats line as Prometheus series; live and ready. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "sensor_metrics.h"

static double num(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return 0;
	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v) ? 1 : 0;
	return (double)json_object_get_uint64(v);
}

static struct json_object *obj(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

struct plain {
	const char *section, *key, *name, *help;
};

/* Series without labels: the member key of the stats line's object section. */
static const struct plain plain[] = {
    {"userspace", "decode_errors", "wacht_decode_errors_total",
     "Events from the ring buffer that did not decode (lost)."},
    {"userspace", "write_errors", "wacht_write_errors_total",
     "JSON lines that could not be written to the output."},
    {"userspace", "process_table", "wacht_process_table_entries", "Processes the sensor tracks."},
    {"userspace", "process_evictions", "wacht_process_table_evictions_total",
     "Processes evicted from the full process table."},
    {"userspace", "cgroups_known", "wacht_cgroups_known", "Cgroups the sensor has attributed."},
    {"rules", "groups", "wacht_rule_groups", "Groups in the active policy."},
    {"rules", "network_rules", "wacht_network_rules", "Network rules in the active policy."},
    {"rules", "evaluated", "wacht_rules_evaluated_total", "Events evaluated against the rules."},
    {"rules", "aggregated", "wacht_findings_aggregated_total",
     "Identical findings counted into an earlier record instead of reported."},
    {"rules", "learned", "wacht_learned_total", "Rules or apps learned (Discover mode)."},
    {"rules", "reloads", "wacht_rule_reloads_total", "Policy reloads that succeeded."},
    {"rules", "reload_failures", "wacht_rule_reload_failures_total",
     "Policy reloads rejected (the previous policy stayed active)."},
    {"enforcement", "enabled", "wacht_enforcing",
     "1 when Protect mode acts (kills, refuses, blocks), 0 with --alert-only."},
    {"aggregator", "connected", "wacht_aggregator_connected",
     "1 while the aggregator (or NATS) accepts findings from this sensor."},
    {"aggregator", "spool_batches", "wacht_spool_batches",
     "Finding batches in the spool, waiting for an acknowledgement."},
    {"aggregator", "spool_bytes", "wacht_spool_bytes", "Bytes in the spool."},
    {"aggregator", "dropped", "wacht_spool_dropped_batches_total",
     "Finding batches dropped because the spool was full."},
    {"aggregator", "acked", "wacht_shipped_batches_total",
     "Finding batches the aggregator acknowledged."},
    {"aggregator", "failures", "wacht_aggregator_failures_total",
     "Connections to the aggregator that failed."},
    {"flows", "alive", "wacht_flow_entries",
     "Conversations in the kernel's flow map (LRU, 65536 at most)."},
    {"flows", "evicted", "wacht_flow_evicted_total",
     "Conversations the kernel's full flow map evicted before they were reported (their last "
     "counts are lost)."},
    {"flows", "insert_failed", "wacht_flow_insert_failures_total",
     "Packets the kernel could not account because a flow entry could not be created."},
    {"flows", "records", "wacht_flow_records_total", "Conversation records reported."},
    {"peers", "containers", "wacht_peer_map_containers",
     "Containers of other nodes in the peer map (named in flows by pod and node)."},
    {"peers", "addresses", "wacht_peer_map_addresses", "Their addresses in the peer map."},
    {"peers", "maps", "wacht_peer_maps_total", "Peer maps applied."},
    {"peers", "dropped", "wacht_peer_map_dropped",
     "Addresses of the last peer map left out (over the table's bound, or malformed)."},
};

/* Sections whose members are event types: one series per type. */
static const struct {
	const char *section, *name;
} by_type[] = {
    {"delivered", "wacht_events_total"},
    {"received", "wacht_events_received_total"},
};

struct action {
	const char *section, *key, *action;
};

/* wacht_enforcement_total{action}: what the kernel and the file guard did
 * (file_guard is a member of "rules"). */
static const struct action actions[] = {
    {"enforcement", "killed", "kill"},
    {"enforcement", "held", "hold"},
    {"enforcement", "held_killed", "hold_kill"},
    {"enforcement", "hold_full", "hold_full"},
    {"network_enforcement", "connect_refused", "connect_refuse"},
    {"network_enforcement", "sendmsg_refused", "sendmsg_refuse"},
    {"network_enforcement", "ingress_dropped", "ingress_drop"},
    {"file_guard", "denied", "file_deny"},
};

int sensor_metrics_from_stats(struct metrics *m, const char *json, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root, *kind, *sec;
	char labels[256];
	int err = 0;

	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (!root || !json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "kind", &kind) ||
	    strcmp(json_object_get_string(kind), "stats")) {
		json_object_put(root);
		return -EINVAL;
	}
#define SET(name, lab, v)                                                                          \
	do {                                                                                       \
		int e_ = metrics__set(m, name, lab, v);                                            \
		if (e_)                                                                            \
			err = e_;                                                                  \
	} while (0)
	metrics__help(m, "wacht_events_total",
		      "Events the kernel delivered to the ring buffer, by type.");
	metrics__help(m, "wacht_events_received_total", "Events the sensor read, by type.");
	metrics__help(m, "wacht_events_dropped_total",
		      "Events the kernel lost (or, for *_truncated and read_fail, degraded), by "
		      "type and reason.");
	for (size_t i = 0; i < sizeof(by_type) / sizeof(by_type[0]); i++) {
		if (!(sec = obj(root, by_type[i].section)))
			continue;
		json_object_object_foreach(sec, k, v)
		{
			(void)v;
			SET(by_type[i].name,
			    metrics_labels(labels, sizeof(labels), "type", k, NULL, NULL),
			    num(sec, k));
		}
	}
	if ((sec = obj(root, "drops"))) {
		json_object_object_foreach(sec, type, reasons)
		{
			if (!json_object_is_type(reasons, json_type_object))
				continue;
			json_object_object_foreach(reasons, reason, v)
			{
				(void)v;
				SET("wacht_events_dropped_total",
				    metrics_labels(labels, sizeof(labels), "type", type, "reason",
						   reason),
				    num(reasons, reason));
			}
		}
	}
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		struct json_object *o = obj(root, plain[i].section);

		if (!o)
			continue;
		metrics__help(m, plain[i].name, plain[i].help);
		SET(plain[i].name, NULL, num(o, plain[i].key));
	}
	metrics__help(
	    m, "wacht_enforcement_total",
	    "Enforcement actions: execs killed or held, connections and datagrams refused, "
	    "packets dropped, opens denied.");
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		struct json_object *o = !strcmp(actions[i].section, "file_guard")
					    ? obj(obj(root, "rules"), "file_guard")
					    : obj(root, actions[i].section);

		SET("wacht_enforcement_total",
		    metrics_labels(labels, sizeof(labels), "action", actions[i].action, NULL, NULL),
		    num(o, actions[i].key));
	}
#undef SET
	json_object_put(root);
	return err;
}

int sensor_metrics_finding(struct metrics *m, const char *name, const char *action)
{
	char labels[256];

	metrics__help(
	    m, "wacht_findings_total",
	    "Finding records reported, by name and action (an aggregated record counts once).");
	return metrics__add(m, "wacht_findings_total",
			    metrics_labels(labels, sizeof(labels), "name", name, "action", action),
			    1);
}

int health_live(const struct health_state *st, uint64_t now_ms, char *body, size_t size)
{
	/* startup (loading and verifying the programs) is not the loop: a
	 * startupProbe or initialDelaySeconds covers it */
	if (!st->started) {
		snprintf(body, size, "{\"status\":\"starting\"}");
		return 200;
	}
	if (now_ms - st->last_turn_ms > HEALTH_LIVE_MS) {
		snprintf(body, size,
			 "{\"status\":\"stalled\",\"reason\":\"the event loop has not turned for "
			 "%" PRIu64 " ms (limit %d ms)\"}",
			 now_ms - st->last_turn_ms, HEALTH_LIVE_MS);
		return 503;
	}
	snprintf(body, size, "{\"status\":\"alive\"}");
	return 200;
}

int health_ready(const struct health_state *st, uint64_t now_ms, char *body, size_t size)
{
	if (!st->started) {
		snprintf(
		    body, size,
		    "{\"status\":\"not ready\",\"reason\":\"starting: BPF programs not attached or "
		    "existing containers not scanned and compiled yet\"}");
		return 503;
	}
	/* events flowing: the ring buffer was drained since the programs were
	 * attached, and is still being drained; an idle node that produces no
	 * events is ready, a loop that stopped reading is not */
	if (!st->last_turn_ms) {
		snprintf(body, size,
			 "{\"status\":\"not ready\",\"reason\":\"the ring buffer has not been "
			 "drained yet\"}");
		return 503;
	}
	if (now_ms - st->last_turn_ms > HEALTH_LIVE_MS) {
		snprintf(body, size,
			 "{\"status\":\"not ready\",\"reason\":\"the ring buffer has not been "
			 "drained for %" PRIu64 " ms (limit %d ms)\"}",
			 now_ms - st->last_turn_ms, HEALTH_LIVE_MS);
		return 503;
	}
	snprintf(body, size, "{\"status\":\"ready\",\"programs\":%zu}", st->programs);
	return 200;
}
