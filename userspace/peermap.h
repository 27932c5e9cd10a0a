/* SPDX-License-Identifier: Apache-2.0 */
/* peermap.h: which addresses belong to which containers cluster-wide
 * (proto/wacht.proto SensorEndpoints, PeerMap): what a sensor announces,
 * the merge of every node's announcement (the aggregator's, or a NATS
 * sensor's own), and the sensor's lookup table of a received map. */
#ifndef WACHT_PEERMAP_H
#define WACHT_PEERMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "match.h"
#include "wacht.pb-c.h"

/* Endpoints one node may announce (more are dropped and counted): far
 * above the pods a node runs (Kubernetes' default limit is 110). */
#define PEER_NODE_MAX 4096
/* Addresses one endpoint may carry (more are ignored). */
#define PEER_ADDRS_MAX 16
/* Addresses a sensor's table holds (more are dropped and counted). */
#define PEER_TABLE_MAX 65536

/* ---- a sensor's announcement: this node's containers and addresses */

struct peer_announce;
struct peer_announce *peer_announce__new(void);	   /* NULL on ENOMEM */
void peer_announce__free(struct peer_announce *a); /* accepts NULL */
/* Starts a new announcement (the previous one's content is forgotten). */
void peer_announce__reset(struct peer_announce *a);
/* One container (its strings copied) with its addresses; one without
 * addresses is skipped (nothing could name it). 0 or -ENOMEM. */
int peer_announce__add(struct peer_announce *a, const struct container_view *v, const char *group,
		       const struct entity_addr *addrs, size_t n_addrs);
/* The message since the reset, in a stable order (by container id), so
 * that an unchanged node packs to the same bytes; borrowed until the next
 * reset or add. */
Wacht__V1__SensorEndpoints *peer_announce__msg(struct peer_announce *a, const char *node);
/* The FNV-1a hash of the message packed without its time: equal for an
 * unchanged node. */
uint64_t peer_announce__hash(struct peer_announce *a, const char *node);

/* ---- the merge of every node's announcement */

struct peer_map;
/* NULL on ENOMEM. */
struct peer_map *peer_map__new(void);
void peer_map__free(struct peer_map *pm); /* accepts NULL */
/*
 * Replaces node's endpoints with se's (each stamped with node). owner
 * names who holds them (a connection): release only forgets them for the
 * same owner, so a sensor that reconnected before its old connection was
 * seen closing keeps its map. Endpoints past PEER_NODE_MAX, addresses that
 * are neither 4 nor 16 bytes and endpoints without a container or address
 * are dropped (counted in *dropped if not NULL). The version increases if
 * anything changed. 0 or -ENOMEM (the previous endpoints stay).
 */
int peer_map__put(struct peer_map *pm, const char *node, uint64_t owner,
		  const Wacht__V1__SensorEndpoints *se, size_t *dropped);
/* owner let go of node (its connection closed) at now: forgotten by the
 * first expire at or after now + grace unless put again before. */
void peer_map__release(struct peer_map *pm, const char *node, uint64_t owner, int64_t now);
/* Forgets the nodes whose grace ended; the number forgotten. */
size_t peer_map__expire(struct peer_map *pm, int64_t now, int64_t grace);
/* Forgets node now (whoever holds it); true if it was there. */
bool peer_map__drop(struct peer_map *pm, const char *node);
uint64_t peer_map__version(const struct peer_map *pm);
size_t peer_map__nodes(const struct peer_map *pm);
size_t peer_map__endpoints(const struct peer_map *pm);
/* The current map as one framed Envelope{peers} whose payload is at most
 * max_frame bytes: endpoints that do not fit are left out (whole nodes
 * last first) and counted in PeerMap.omitted and *omitted. *out is the
 * caller's to free. 0, -ENOMEM, or -EMSGSIZE (not even an empty map fits). */
int peer_map__frame(const struct peer_map *pm, size_t max_frame, uint8_t **out, size_t *len,
		    uint32_t *omitted);

/* ---- a sensor's lookup table of the last PeerMap */

/* One remote container: view (id, name, image, pod, namespace; the other
 * members empty), its group and node. Borrowed until the next apply. */
struct peer_entry {
	struct container_view view;
	const char *group;
	const char *node;
};

struct peer_table_stats {
	uint64_t maps;	    /* PeerMaps applied */
	uint64_t version;   /* of the last one */
	uint64_t endpoints; /* remote containers in the table */
	uint64_t addresses; /* their addresses in the table */
	uint64_t dropped;   /* addresses of the last map over PEER_TABLE_MAX, or malformed */
	uint64_t omitted;   /* the last map's PeerMap.omitted */
};

struct peer_table;
/* max_addrs: addresses held at most (0: PEER_TABLE_MAX). NULL on ENOMEM. */
struct peer_table *peer_table__new(size_t max_addrs);
void peer_table__free(struct peer_table *t); /* accepts NULL */
/* Replaces the whole table with m's endpoints, leaving out those of
 * own_node (this sensor knows its own containers better). 0, or -ENOMEM
 * (the table is then empty: no stale answers). */
int peer_table__apply(struct peer_table *t, const Wacht__V1__PeerMap *m, const char *own_node);
/* The remote container that has addr (4 or 16 bytes by family; an IPv4
 * address mapped into IPv6 is looked up as IPv4), or NULL. */
const struct peer_entry *peer_table__lookup(const struct peer_table *t, uint8_t family,
					    const uint8_t *addr);
/* Every address in the table with its container, in no particular order
 * (t NULL: none). */
typedef void (*peer_table_addr_cb)(void *ctx, const struct peer_entry *e, uint8_t family,
				   const uint8_t *addr);
void peer_table__foreach_addr(const struct peer_table *t, peer_table_addr_cb cb, void *ctx);
void peer_table__stats(const struct peer_table *t, struct peer_table_stats *st);

#endif /* WACHT_PEERMAP_H */
