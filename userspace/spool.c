/* SPDX-License-Identifier: Apache-2.0 */
/* spool.c: bounded, crash-safe on-disk queue of records (see spool.h). */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPOOL_MAGIC 0x31505357u /* "WSP1" read as little-endian */
#define SEG_NAME_MAX 64

/* One unacknowledged record: where it is. */
struct rec {
	uint64_t seq;
	uint64_t seg; /* first_seq of its segment */
	uint64_t off;
	uint32_t len;
};

struct seg {
	uint64_t first; /* from the file name */
	uint64_t last;  /* 0: no record yet */
	uint64_t bytes;
};

struct spool {
	char *dir;
	int dfd;
	uint64_t max_bytes;
	uint64_t seg_max;
	struct seg *segs; /* oldest first; the last one is appended to */
	size_t nsegs, segs_cap;
	int active_fd;    /* fd of segs[nsegs - 1], or -1: next append starts one */
	struct rec *recs; /* unacknowledged, recs[head..nrecs) */
	size_t head, nrecs, recs_cap;
	uint64_t total_bytes; /* of all segment files */
	uint64_t pending_bytes;
	uint64_t acked, floor, dropped, next_seq;
};

/* CRC-32, the IEEE/zlib polynomial (same values as zlib's crc32()); kept
 * here so the pure modules need no extra library. */
static uint32_t crc32_update(uint32_t crc, const void *buf, size_t len)
{
	static uint32_t table[256];
	const uint8_t *p = buf;

	if (!table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t rec_crc(uint32_t len, uint64_t seq, const void *data)
{
	uint8_t hdr[12];
	uint32_t crc;

	memcpy(hdr, &len, 4);
	memcpy(hdr + 4, &seq, 8);
	crc = crc32_update(0, hdr, sizeof(hdr));
	return crc32_update(crc, data, len);
}

static uint64_t done_seq(const struct spool *sp)
{
	return sp->acked > sp->floor ? sp->acked : sp->floor;
}

static void seg_name(char *buf, uint64_t first)
{
	snprintf(buf, SEG_NAME_MAX, "seg-%020" PRIu64 ".log", first);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0; /* short */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 1;
}

/* state is replaced by rename, so a crash leaves the old or the new one. */
static int state_write(struct spool *sp)
{
	char buf[256];
	int fd, err, n;

	n = snprintf(buf, sizeof(buf),
		     "wacht-spool 1\nacked %" PRIu64 "\nfloor %" PRIu64 "\ndropped %" PRIu64
		     "\nnext %" PRIu64 "\n",
		     sp->acked, sp->floor, sp->dropped, sp->next_seq);
	fd = openat(sp->dfd, "state.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = write_all(fd, buf, (size_t)n);
	if (!err && fdatasync(fd) < 0)
		err = -errno;
	close(fd);
	if (!err && renameat(sp->dfd, "state.tmp", sp->dfd, "state") < 0)
		err = -errno;
	if (!err && fsync(sp->dfd) < 0)
		err = -errno;
	return err;
}

static int state_read(struct spool *sp)
{
	char buf[256];
	int fd;
	ssize_t n;

	fd = openat(sp->dfd, "state", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	if (sscanf(buf,
		   "wacht-spool 1\nacked %" SCNu64 "\nfloor %" SCNu64 "\ndropped %" SCNu64
		   "\nnext %" SCNu64,
		   &sp->acked, &sp->floor, &sp->dropped, &sp->next_seq) != 4)
		return -EBADMSG;
	return 0;
}

static int segs_push(struct spool *sp, uint64_t first)
{
	if (sp->nsegs == sp->segs_cap) {
		size_t cap = sp->segs_cap ? sp->segs_cap * 2 : 8;
		struct seg *s = realloc(sp->segs, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		sp->segs = s;
		sp->segs_cap = cap;
	}
	sp->segs[sp->nsegs++] = (struct seg){ .first = first };
	return 0;
}

static int recs_push(struct spool *sp, const struct rec *r)
{
	if (sp->head && sp->nrecs == sp->recs_cap) {
		memmove(sp->recs, sp->recs + sp->head, (sp->nrecs - sp->head) * sizeof(*r));
		sp->nrecs -= sp->head;
		sp->head = 0;
	}
	if (sp->nrecs == sp->recs_cap) {
		size_t cap = sp->recs_cap ? sp->recs_cap * 2 : 64;
		struct rec *n = realloc(sp->recs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		sp->recs = n;
		sp->recs_cap = cap;
	}
	sp->recs[sp->nrecs++] = *r;
	sp->pending_bytes += SPOOL_HEADER_LEN + (uint64_t)r->len;
	return 0;
}

/* Forgets the unacknowledged records up to seq; returns how many. */
static uint64_t recs_pop_through(struct spool *sp, uint64_t seq)
{
	uint64_t n = 0;

	while (sp->head < sp->nrecs && sp->recs[sp->head].seq <= seq) {
		sp->pending_bytes -= SPOOL_HEADER_LEN + (uint64_t)sp->recs[sp->head].len;
		sp->head++;
		n++;
	}
	return n;
}

/* Removes segs[0] (not the active one) from disk and memory. */
static int seg_delete_oldest(struct spool *sp)
{
	char name[SEG_NAME_MAX];

	seg_name(name, sp->segs[0].first);
	if (unlinkat(sp->dfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	sp->total_bytes -= sp->segs[0].bytes;
	memmove(sp->segs, sp->segs + 1, (sp->nsegs - 1) * sizeof(*sp->segs));
	sp->nsegs--;
	return 0;
}

static int close_active(struct spool *sp)
{
	if (sp->active_fd >= 0)
		close(sp->active_fd);
	sp->active_fd = -1;
	return 0;
}

/* Reads the records of one segment into the index, truncating it at the
 * first record that cannot be trusted (a torn or corrupt tail). */
static int seg_scan(struct spool *sp, struct seg *s)
{
	char name[SEG_NAME_MAX];
	uint8_t hdr[SPOOL_HEADER_LEN];
	uint8_t *buf = NULL;
	uint64_t off = 0, prev = s->first - 1;
	struct stat st;
	int fd, err = 0;

	seg_name(name, s->first);
	fd = openat(sp->dfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		uint32_t magic, len, crc;
		uint64_t seq;
		uint8_t *nb;
		int rc = read_full(fd, hdr, sizeof(hdr), off);

		if (rc <= 0) {
			err = rc;
			break;
		}
		memcpy(&magic, hdr, 4);
		memcpy(&len, hdr + 4, 4);
		memcpy(&seq, hdr + 8, 8);
		memcpy(&crc, hdr + 16, 4);
		if (magic != SPOOL_MAGIC || seq != prev + 1 || len == 0 ||
		    off + SPOOL_HEADER_LEN + len > (uint64_t)st.st_size)
			break;
		nb = realloc(buf, len);
		if (!nb) {
			err = -ENOMEM;
			break;
		}
		buf = nb;
		rc = read_full(fd, buf, len, off + SPOOL_HEADER_LEN);
		if (rc < 0)
			err = rc;
		if (rc <= 0 || rec_crc(len, seq, buf) != crc)
			break;
		if (seq > done_seq(sp)) {
			struct rec r = { .seq = seq, .seg = s->first, .off = off, .len = len };
			err = recs_push(sp, &r);
			if (err)
				break;
		}
		s->last = seq;
		prev = seq;
		off += SPOOL_HEADER_LEN + len;
	}
	if (!err && off < (uint64_t)st.st_size) {
		/* torn tail: keep what came before it */
		if (ftruncate(fd, (off_t)off) < 0 || fdatasync(fd) < 0)
			err = -errno;
	}
	s->bytes = off;
out:
	free(buf);
	close(fd);
	return err;
}

static int seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

static int segs_load(struct spool *sp)
{
	DIR *d;
	struct dirent *de;
	int err = 0, fd = dup(sp->dfd);

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	while ((de = readdir(d))) {
		uint64_t first;
		char name[SEG_NAME_MAX];

		if (sscanf(de->d_name, "seg-%20" SCNu64 ".log", &first) != 1 || first == 0)
			continue;
		seg_name(name, first);
		if (strcmp(name, de->d_name))
			continue;
		err = segs_push(sp, first);
		if (err)
			break;
	}
	closedir(d);
	if (err)
		return err;
	if (sp->nsegs)
		qsort(sp->segs, sp->nsegs, sizeof(*sp->segs), seg_cmp);
	for (size_t i = 0; i < sp->nsegs; i++) {
		err = seg_scan(sp, &sp->segs[i]);
		if (err)
			return err;
		sp->total_bytes += sp->segs[i].bytes;
	}
	return 0;
}

struct spool *spool__open(const char *dir, uint64_t max_bytes, int *err)
{
	struct spool *sp;
	int rc;

	if (max_bytes < 4 * (SPOOL_HEADER_LEN + 1)) {
		*err = -EINVAL;
		return NULL;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp || !(sp->dir = strdup(dir))) {
		free(sp);
		*err = -ENOMEM;
		return NULL;
	}
	sp->active_fd = -1;
	sp->dfd = -1;
	sp->max_bytes = max_bytes;
	sp->seg_max = max_bytes / 4;
	sp->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dfd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = state_read(sp);
	if (rc)
		goto fail;
	rc = segs_load(sp);
	if (rc)
		goto fail;
	/* segments entirely acknowledged or dropped (a crash after the state
	 * was written, before the unlink), and empty ones but the last */
	while (sp->nsegs > 1 && (sp->segs[0].last <= done_seq(sp) || !sp->segs[0].last)) {
		rc = seg_delete_oldest(sp);
		if (rc)
			goto fail;
	}
	if (sp->nsegs) {
		struct seg *s = &sp->segs[sp->nsegs - 1];
		uint64_t last = s->last ? s->last : s->first - 1;

		if (last + 1 > sp->next_seq)
			sp->next_seq = last + 1;
		if (s->first == sp->next_seq && !s->last) {
			/* empty segment named for the next seq: append to it */
		} else if (!s->last) {
			/* empty, named for a seq the state says was handed out */
			char name[SEG_NAME_MAX];

			seg_name(name, s->first);
			if (unlinkat(sp->dfd, name, 0) < 0 && errno != ENOENT) {
				rc = -errno;
				goto fail;
			}
			sp->nsegs--;
			s = NULL;
		} else if (s->last + 1 != sp->next_seq) {
			s = NULL; /* the state says later seqs were handed out */
		}
		if (s) {
			char name[SEG_NAME_MAX];

			seg_name(name, s->first);
			sp->active_fd = openat(sp->dfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
			if (sp->active_fd < 0) {
				rc = -errno;
				goto fail;
			}
		}
	}
	if (sp->next_seq <= done_seq(sp))
		sp->next_seq = done_seq(sp) + 1;
	return sp;
fail:
	spool__free(sp);
	*err = rc;
	return NULL;
}

void spool__free(struct spool *sp)
{
	if (!sp)
		return;
	close_active(sp);
	if (sp->dfd >= 0)
		close(sp->dfd);
	free(sp->segs);
	free(sp->recs);
	free(sp->dir);
	free(sp);
}

static int seg_start(struct spool *sp)
{
	char name[SEG_NAME_MAX];
	int rc;

	close_active(sp);
	seg_name(name, sp->next_seq);
	sp->active_fd = openat(sp->dfd, name, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC,
			       0600);
	if (sp->active_fd < 0)
		return -errno;
	rc = segs_push(sp, sp->next_seq);
	if (!rc && fsync(sp->dfd) < 0)
		rc = -errno;
	return rc;
}

/* Deletes the oldest segment to make room, counting its unacknowledged
 * records; the count and floor are persisted before the unlink so that a
 * crash in between cannot count them twice or bring them back. */
static int drop_oldest(struct spool *sp)
{
	uint64_t last = sp->segs[0].last;
	uint64_t n;
	int rc;

	if (last > sp->floor) {
		n = recs_pop_through(sp, last);
		sp->floor = last;
		sp->dropped += n;
		rc = state_write(sp);
		if (rc)
			return rc;
	}
	return seg_delete_oldest(sp);
}

int spool__append(struct spool *sp, const void *data, size_t len, uint64_t *seq)
{
	uint8_t hdr[SPOOL_HEADER_LEN];
	uint64_t size = SPOOL_HEADER_LEN + (uint64_t)len;
	uint32_t len32 = (uint32_t)len, magic = SPOOL_MAGIC, crc;
	struct seg *s;
	struct rec r;
	int rc;

	if (!len)
		return -EINVAL;
	if (len > UINT32_MAX || size > sp->max_bytes)
		return -EMSGSIZE;
	if (sp->active_fd < 0 ||
	    (sp->segs[sp->nsegs - 1].bytes && sp->segs[sp->nsegs - 1].bytes + size > sp->seg_max)) {
		rc = seg_start(sp);
		if (rc)
			return rc;
	}
	/* the active segment is within seg_max, so an older one is always
	 * there to drop while the total is too large */
	while (sp->total_bytes + size > sp->max_bytes && sp->nsegs > 1) {
		rc = drop_oldest(sp);
		if (rc)
			return rc;
	}
	s = &sp->segs[sp->nsegs - 1];
	crc = rec_crc(len32, sp->next_seq, data);
	memcpy(hdr, &magic, 4);
	memcpy(hdr + 4, &len32, 4);
	memcpy(hdr + 8, &sp->next_seq, 8);
	memcpy(hdr + 16, &crc, 4);
	rc = write_all(sp->active_fd, hdr, sizeof(hdr));
	if (!rc)
		rc = write_all(sp->active_fd, data, len);
	if (!rc && fdatasync(sp->active_fd) < 0)
		rc = -errno;
	if (rc) {
		/* cut what was written so the file ends at a record boundary */
		if (ftruncate(sp->active_fd, (off_t)s->bytes) < 0)
			close_active(sp);
		return rc;
	}
	r = (struct rec){ .seq = sp->next_seq, .seg = s->first, .off = s->bytes, .len = len32 };
	rc = recs_push(sp, &r);
	if (rc)
		return rc; /* on disk; found again on the next open */
	s->bytes += size;
	s->last = sp->next_seq;
	sp->total_bytes += size;
	*seq = sp->next_seq++;
	return 0;
}

int spool__peek(struct spool *sp, uint64_t after_seq, spool_record_fn fn, void *ctx)
{
	uint8_t *buf = NULL;
	uint64_t open_seg = 0;
	int fd = -1, rc = 0;

	for (size_t i = sp->head; i < sp->nrecs && !rc; i++) {
		const struct rec *r = &sp->recs[i];
		uint8_t hdr[SPOOL_HEADER_LEN];
		uint32_t crc;
		uint8_t *nb;

		if (r->seq <= after_seq)
			continue;
		if (fd < 0 || open_seg != r->seg) {
			char name[SEG_NAME_MAX];

			if (fd >= 0)
				close(fd);
			seg_name(name, r->seg);
			fd = openat(sp->dfd, name, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				rc = -errno;
				break;
			}
			open_seg = r->seg;
		}
		nb = realloc(buf, r->len);
		if (!nb) {
			rc = -ENOMEM;
			break;
		}
		buf = nb;
		if (read_full(fd, hdr, sizeof(hdr), r->off) != 1 ||
		    read_full(fd, buf, r->len, r->off + SPOOL_HEADER_LEN) != 1) {
			rc = -EIO;
			break;
		}
		memcpy(&crc, hdr + 16, 4);
		if (rec_crc(r->len, r->seq, buf) != crc) {
			rc = -EIO;
			break;
		}
		rc = fn(ctx, r->seq, buf, r->len);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

int spool__ack(struct spool *sp, uint64_t seq)
{
	int rc;

	if (seq >= sp->next_seq)
		return -EINVAL;
	if (seq <= sp->acked)
		return 0;
	recs_pop_through(sp, seq);
	sp->acked = seq;
	rc = state_write(sp);
	if (rc)
		return rc;
	while (sp->nsegs && sp->segs[0].last && sp->segs[0].last <= seq) {
		if (sp->nsegs == 1)
			close_active(sp); /* the next append starts a new one */
		rc = seg_delete_oldest(sp);
		if (rc)
			return rc;
	}
	return 0;
}

uint64_t spool__pending_count(const struct spool *sp)
{
	return sp->nrecs - sp->head;
}

uint64_t spool__pending_bytes(const struct spool *sp)
{
	return sp->pending_bytes;
}

uint64_t spool__dropped(const struct spool *sp)
{
	return sp->dropped;
}

uint64_t spool__acked(const struct spool *sp)
{
	return sp->acked;
}

uint64_t spool__next_seq(const struct spool *sp)
{
	return sp->next_seq;
}
