/* SPDX-License-Identifier: Apache-2.0 */
/* wire.h: the sensor <-> aggregator wire format (proto/wacht.proto): framing
 * of envelopes, and findings converted to and from their protobuf form. */
#ifndef WACHT_WIRE_H
#define WACHT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "finding.h"
#include "format.h"
#include "jsonw.h"
#include "wacht.pb-c.h" /* generated from proto/wacht.proto */

/* Envelope.version this code writes and the only one it reads. */
#define WIRE_VERSION 1
/* Default largest frame payload (one packed Envelope). A batch of findings
 * is cut well below it; the limit exists so that a peer cannot make the
 * other side buffer without bound. */
#define WIRE_FRAME_MAX (4u << 20)
/* The frame header: payload length, 4 bytes, big-endian. */
#define WIRE_HEADER_LEN 4

/* Envelope init with version = WIRE_VERSION and no body. */
void wire_envelope_init(Wacht__V1__Envelope *env);
/* Frees an envelope returned by wire_reader__next; accepts NULL. */
void wire_envelope_free(Wacht__V1__Envelope *env);

/* v as a protobuf varint at p (room for 10 bytes); returns its length.
 * For messages packed by hand (shipper.c's batches, peermap.c's maps). */
size_t wire_put_varint(uint8_t *p, uint64_t v);

/* One frame (header + packed env) in *out, *len bytes; the caller frees
 * *out. env is framed as it is (its version and body are not checked).
 * 0, -ENOMEM, or -EMSGSIZE if the payload does not fit the 4-byte length.
 * The caller keeps frames within what the peer accepts (max_frame_bytes of
 * its hello). */
int wire_frame_envelope(const Wacht__V1__Envelope *env, uint8_t **out, size_t *len);

/*
 * Incremental frame decoder for a byte stream (a socket, a spool file):
 *
 *   struct wire_reader *r = wire_reader__new(0);
 *   while ((n = read(fd, buf, sizeof(buf))) > 0) {
 *           if (wire_reader__feed(r, buf, n) < 0) break;      // bad stream
 *           while ((rc = wire_reader__next(r, &env)) == 1) {
 *                   handle(env);
 *                   wire_envelope_free(env);
 *           }
 *           if (rc < 0) break;                                // bad stream
 *   }
 *
 * Errors (negative errno) are final: once a reader returned one, feed and
 * next return it again, as the stream can no longer be trusted to be at a
 * frame boundary; the caller drops the connection.
 *   -EMSGSIZE  a header announced a payload above max_frame. Found from the
 *              4 header bytes alone, before any of the payload is buffered.
 *   -EBADMSG   a payload that is not an Envelope, an envelope whose version
 *              is not WIRE_VERSION, or one with no (or an unknown) body.
 *   -ENOMEM    the buffer could not grow (feed).
 * The reader holds at most one partial frame plus what the last feed
 * brought, as long as next is called until it returns 0 after each feed.
 */
struct wire_reader;
/* max_frame: largest payload accepted, 0 for WIRE_FRAME_MAX (at most
 * UINT32_MAX). NULL with errno = ENOMEM. Free with wire_reader__free. */
struct wire_reader *wire_reader__new(size_t max_frame);
void wire_reader__free(struct wire_reader *r); /* accepts NULL */
/* Appends len bytes (copied). 0 or the reader's error. */
int wire_reader__feed(struct wire_reader *r, const void *buf, size_t len);
/* 1 with *out an envelope the caller frees with wire_envelope_free, 0 when
 * more bytes are needed (*out NULL), or the reader's error (*out NULL). */
int wire_reader__next(struct wire_reader *r, Wacht__V1__Envelope **out);
/* Bytes fed and not yet returned as envelopes. */
size_t wire_reader__buffered(const struct wire_reader *r);

/*
 * A finding as the engine emits it, in its protobuf form. The message and
 * its parts live inside struct wire_finding (so it must not be copied or
 * moved while in use); strings and argv are BORROWED from the finding and
 * format_ctx, which must stay valid and unchanged until the message is
 * packed. Only the id and the argv array are allocated, and
 * wire_finding__release frees them.
 *
 *   struct wire_finding wf;
 *   if (wire_finding__init(&wf, &fc, sensor_id, seq, f) == 0) {
 *           batch.findings[i] = &wf.msg;  ... pack ...
 *           wire_finding__release(&wf);
 *   }
 */
struct wire_finding {
	Wacht__V1__Finding msg;
	Wacht__V1__Rule rule;
	Wacht__V1__Container container;
	Wacht__V1__Process process;
	Wacht__V1__File file;
	Wacht__V1__Network network;
	char *id;                   /* owned: "<sensor_id>:<seq>" */
	ProtobufCBinaryData *args;  /* owned array; the bytes are f's argv */
	uint8_t laddr[16], raddr[16];
};
/* id = "<sensor_id>:<seq>", node and time (CLOCK_REALTIME) from fc. 0 or
 * -ENOMEM (wf then holds nothing to release, but release is harmless). */
int wire_finding__init(struct wire_finding *wf, const struct format_ctx *fc,
		       const char *sensor_id, uint64_t seq, const struct finding *f);
void wire_finding__release(struct wire_finding *wf);

/* The JSON object of finding_format (same field names, order and values)
 * without "kind", from a protobuf Finding, e.g. one just unpacked: any
 * message is accepted (absent parts are written as empty, an enum value
 * this version does not know as "", an address that is neither 4 nor 16
 * bytes as ""). Appended to w like finding_format. */
void wire_finding_format(struct jsonw *w, const Wacht__V1__Finding *f);
/* The same members without the enclosing braces, into an object the caller
 * opened (the API adds its own members after them). */
void wire_finding_fields(struct jsonw *w, const Wacht__V1__Finding *f);

#endif /* WACHT_WIRE_H */
