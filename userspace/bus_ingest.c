// SPDX-License-Identifier: Apache-2.0
/* bus_ingest.c: one JetStream message into the store (see bus_ingest.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bus_ingest.h"

static int say(struct bus_ingest *bi, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int say(struct bus_ingest *bi, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(bi->error, sizeof(bi->error), fmt, ap);
	va_end(ap);
	if (rc == 1) {
		bi->stats.rejected++;
		bi->stats.messages++;
	}
	return rc;
}

static int note_drops(struct bus_ingest *bi, const char *sensor_id, uint64_t drops, int64_t now)
{
	int err;

	if (!drops)
		return 0;
	err = store__sensor_drops(bi->st, sensor_id, drops, now);
	/* no hello stored yet: a later batch carries the count again */
	if (err == -ENOENT)
		return 0;
	if (err)
		return say(bi, err, "failed to store the drop count of sensor %s: %s (%s)", sensor_id,
			   strerror(-err), store__errmsg(bi->st));
	return 0;
}

/* A sensor speaks for its own node: its id is "<node>-<hex>". */
static bool node_of_sensor(const char *sid, const char *node)
{
	size_t nl = node ? strlen(node) : 0;

	return nl && !strncmp(sid, node, nl) && sid[nl] == '-';
}

int bus_ingest__envelope(struct bus_ingest *bi, const Wacht__V1__Envelope *env,
			 const char *msg_id, int64_t now)
{
	const char *colon = msg_id ? strrchr(msg_id, ':') : NULL;
	char sid[256];
	size_t sl;
	int n;

	bi->error[0] = '\0';
	if (!colon || colon == msg_id || (size_t)(colon - msg_id) >= sizeof(sid))
		return say(bi, 1, "message id '%.64s' names no sensor ('<sensor_id>:<batch>')",
			   msg_id ? msg_id : "");
	sl = (size_t)(colon - msg_id);
	memcpy(sid, msg_id, sl);
	sid[sl] = '\0';

	switch (env->body_case) {
	case WACHT__V1__ENVELOPE__BODY_HELLO: {
		const Wacht__V1__SensorHello *h = env->hello;

		if (!h->sensor_id || strcmp(h->sensor_id, sid))
			return say(bi, 1, "message %s: a hello for sensor '%.64s'", msg_id,
				   h->sensor_id ? h->sensor_id : "");
		n = store__sensor_hello(bi->st, h, now);
		if (n)
			return say(bi, n, "failed to store the hello of sensor %s: %s (%s)", sid,
				   strerror(-n), store__errmsg(bi->st));
		n = note_drops(bi, sid, h->spool_dropped, now);
		if (n)
			return n;
		bi->stats.hellos++;
		break;
	}
	case WACHT__V1__ENVELOPE__BODY_FINDINGS: {
		const Wacht__V1__FindingBatch *b = env->findings;

		for (size_t i = 0; i < b->n_findings; i++) {
			const char *id = b->findings[i]->id;

			if (!id || strncmp(id, sid, sl) || id[sl] != ':' || !id[sl + 1])
				return say(bi, 1, "message %s: finding id '%.64s' is not '%s:<seq>'",
					   msg_id, id ? id : "", sid);
		}
		if (b->n_findings) {
			n = store__add_findings(bi->st, (const Wacht__V1__Finding *const *)b->findings,
						b->n_findings, now);
			if (n < 0)
				return say(bi, n, "failed to store batch %s: %s (%s)", msg_id,
					   strerror(-n), store__errmsg(bi->st));
			bi->stats.stored += (uint64_t)n;
		}
		n = note_drops(bi, sid, b->spool_dropped, now);
		if (n)
			return n;
		bi->stats.batches++;
		bi->stats.findings += b->n_findings;
		break;
	}
	case WACHT__V1__ENVELOPE__BODY_LEARNED: {
		const Wacht__V1__LearnedProfile *lp = env->learned;

		if (!lp->group || !lp->group[0] || !lp->yaml || !node_of_sensor(sid, lp->node))
			return say(bi, 1, "message %s: a learned profile without a group or for "
				   "another node than sensor %s's", msg_id, sid);
		n = store__learned_put(bi->st, lp->group, lp->node, lp->yaml,
				       lp->time_unix_ns ? lp->time_unix_ns : now);
		if (n)
			return say(bi, n, "failed to store the learned profile %s of %s: %s (%s)",
				   lp->group, lp->node, strerror(-n), store__errmsg(bi->st));
		break;
	}
	case WACHT__V1__ENVELOPE__BODY_FLOWS: {
		const Wacht__V1__FlowBatch *b = env->flows;
		const char *node = b->node ? b->node : "";
		int64_t start = 0;
		char why[200];

		/* "<sensor_id>:flows-<start ns>-<batch_seq>" (bus_nats.h): the
		 * start tells a restarted sensor's batch 1 from its last one's */
		if (sscanf(colon + 1, "flows-%" SCNd64 "-", &start) != 1)
			return say(bi, 1, "message %s: a flow batch without 'flows-<start>-<seq>'"
				   " in its id", msg_id);
		if (!node_of_sensor(sid, node))
			return say(bi, 1, "message %s: a flow batch for another node than sensor"
				   " %s's ('%.64s')", msg_id, sid, node);
		if (store_flows_check(b, node, why, sizeof(why)))
			return say(bi, 1, "message %s: %s", msg_id, why);
		n = store__add_flows(bi->st, sid, start, node, b, now);
		if (n < 0)
			return say(bi, n, "failed to store flow batch %s: %s (%s)", msg_id,
				   strerror(-n), store__errmsg(bi->st));
		bi->stats.flow_batches++;
		bi->stats.flow_records += (uint64_t)n;
		break;
	}
	default:
		return say(bi, 1, "message %s: a body only the aggregator sends (%d)", msg_id,
			   (int)env->body_case);
	}
	bi->stats.messages++;
	return 0;
}
