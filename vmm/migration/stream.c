/* SPDX-License-Identifier: MIT */
/*
 * Record streams (README.md, "Format"): a 32-byte file header, then records
 * of a 24-byte header (type, index, payload length, CRC-32C of the payload,
 * CRC-32C of the header's first 20 bytes) and a payload, ending with REC_END
 * (record count and CRC-32C of every record before it). All little-endian.
 */
#include "stream.h"

#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migration.h"

#define WBUF (1u << 20)
#define RBUF (1u << 20)

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1; /* Castagnoli, reflected */
		crc_tab[0][i] = c;
	}
	for (unsigned i = 0; i < 256; i++)
		for (unsigned t = 1; t < 8; t++)
			crc_tab[t][i] =
			    (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
}

uint32_t mig_crc32c(uint32_t crc, const void *data, size_t n)
{
	const uint8_t *p = data;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (n >= 8) { /* slicing by 8 */
		uint64_t v;
		memcpy(&v, p, 8);
		v ^= crc;
		crc = crc_tab[7][v & 0xff] ^ crc_tab[6][(v >> 8) & 0xff] ^
		      crc_tab[5][(v >> 16) & 0xff] ^ crc_tab[4][(v >> 24) & 0xff] ^
		      crc_tab[3][(v >> 32) & 0xff] ^ crc_tab[2][(v >> 40) & 0xff] ^
		      crc_tab[1][(v >> 48) & 0xff] ^ crc_tab[0][v >> 56];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = (crc >> 8) ^ crc_tab[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* x86: little-endian */
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* ---- writing ---- */

int ws_init(struct wstream *w, int fd, const atomic_bool *cancel)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->cancel = cancel;
	w->buf = malloc(WBUF);
	return w->buf ? 0 : -ENOMEM;
}

void ws_free(struct wstream *w)
{
	free(w->buf);
	w->buf = NULL;
}

int ws_flush(struct wstream *w)
{
	size_t done = 0;

	while (!w->err && done < w->len) {
		if (w->cancel && atomic_load(w->cancel)) {
			w->err = -ECANCELED;
			break;
		}
		ssize_t k = write(w->fd, w->buf + done, w->len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = w->fd, .events = POLLOUT};
			poll(&p, 1, 100);
			continue;
		}
		if (k <= 0) {
			w->err = k < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)k;
	}
	w->len = 0;
	return w->err;
}

static void ws_raw(struct wstream *w, const void *data, size_t n)
{
	const uint8_t *p = data;

	while (n && !w->err) {
		size_t k = WBUF - w->len < n ? WBUF - w->len : n;
		memcpy(w->buf + w->len, p, k);
		w->len += k;
		w->off += k;
		p += k;
		n -= k;
		if (w->len == WBUF)
			ws_flush(w);
	}
}

void ws_header(struct wstream *w)
{
	uint8_t h[MIG_HDR_LEN] = {0};

	memcpy(h, MIG_MAGIC, 8);
	put32(h + 8, MIG_FORMAT_VERSION);
	put32(h + 12, MIG_HDR_LEN);
	put32(h + 28, mig_crc32c(0, h, 28));
	ws_raw(w, h, sizeof(h));
}

void ws_record2(struct wstream *w, uint32_t type, uint32_t index, const void *a, size_t alen,
		const void *b, size_t blen)
{
	uint8_t h[MIG_REC_HDR_LEN];
	uint32_t crc = mig_crc32c(mig_crc32c(0, a, alen), b, blen);

	put32(h, type);
	put32(h + 4, index);
	put64(h + 8, alen + blen);
	put32(h + 16, crc);
	put32(h + 20, mig_crc32c(0, h, 20));
	ws_raw(w, h, sizeof(h));
	ws_raw(w, a, alen);
	ws_raw(w, b, blen);
	w->crc_all = mig_crc32c(w->crc_all, h, sizeof(h));
	w->crc_all = mig_crc32c(mig_crc32c(w->crc_all, a, alen), b, blen);
	w->nrec++;
}

void ws_record(struct wstream *w, uint32_t type, uint32_t index, const void *p, size_t len)
{
	ws_record2(w, type, index, p, len, NULL, 0);
}

void ws_end(struct wstream *w)
{
	uint8_t e[16] = {0};

	put64(e, w->nrec);
	put32(e + 8, w->crc_all);
	ws_record(w, REC_END, 0, e, sizeof(e));
}

/* ---- reading ---- */

int rs_init(struct rstream *r, int fd, const char *what)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	snprintf(r->what, sizeof(r->what), "%s", what);
	r->buf = malloc(RBUF);
	return r->buf ? 0 : -ENOMEM;
}

void rs_free(struct rstream *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* n bytes, or -EPIPE at the end of the stream (truncated), -errno on an error */
static int rs_read(struct rstream *r, void *dst, size_t n)
{
	uint8_t *d = dst;

	while (n) {
		if (r->pos == r->len) {
			ssize_t k = read(r->fd, r->buf, RBUF);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return -errno;
			if (k == 0)
				return -EPIPE;
			r->pos = 0;
			r->len = (size_t)k;
		}
		size_t k = r->len - r->pos < n ? r->len - r->pos : n;
		memcpy(d, r->buf + r->pos, k);
		r->pos += k;
		r->off += k;
		d += k;
		n -= k;
	}
	return 0;
}

static int read_fail(struct rstream *r, int e, uint64_t at, char *err, size_t errlen)
{
	if (e == -EPIPE)
		snprintf(err, errlen, "%s: truncated (it ends inside the record at byte %llu)",
			 r->what, (unsigned long long)at);
	else
		snprintf(err, errlen, "%s: read error at byte %llu: %s", r->what,
			 (unsigned long long)at, strerror(-e));
	return e == -EPIPE ? -EINVAL : e;
}

int rs_header(struct rstream *r, char *err, size_t errlen)
{
	uint8_t h[MIG_HDR_LEN];
	int e = rs_read(r, h, sizeof(h));

	if (e == -EPIPE) {
		snprintf(err, errlen, "%s: truncated (%llu bytes, not even the %u-byte header)",
			 r->what, (unsigned long long)r->off, MIG_HDR_LEN);
		return -EINVAL;
	}
	if (e)
		return read_fail(r, e, 0, err, errlen);
	if (memcmp(h, MIG_MAGIC, 8) != 0) {
		snprintf(err, errlen, "%s: not a softkvm snapshot (no \"" MIG_MAGIC "\" header)",
			 r->what);
		return -EINVAL;
	}
	if (get32(h + 28) != mig_crc32c(0, h, 28)) {
		snprintf(err, errlen, "%s: corrupted (header checksum mismatch)", r->what);
		return -EINVAL;
	}
	if (get32(h + 8) != MIG_FORMAT_VERSION) {
		snprintf(err, errlen, "%s: format version %u, this softkvm reads version %u only",
			 r->what, get32(h + 8), MIG_FORMAT_VERSION);
		return -EINVAL;
	}
	if (get32(h + 12) != MIG_HDR_LEN || get64(h + 16) != 0) {
		snprintf(err, errlen, "%s: corrupted (unknown header length or flags)", r->what);
		return -EINVAL;
	}
	return 0;
}

int rs_record(struct rstream *r, struct rrec *rec, uint32_t *crc_all, char *err, size_t errlen)
{
	uint8_t h[MIG_REC_HDR_LEN];
	uint64_t at = r->off;
	int e = rs_read(r, h, sizeof(h));

	memset(rec, 0, sizeof(*rec));
	if (e)
		return read_fail(r, e, at, err, errlen);
	if (get32(h + 20) != mig_crc32c(0, h, 20)) {
		snprintf(err, errlen, "%s: corrupted (record header at byte %llu)", r->what,
			 (unsigned long long)at);
		return -EINVAL;
	}
	rec->type = get32(h);
	rec->index = get32(h + 4);
	rec->len = get64(h + 8);
	rec->at = at;
	if (rec->len > MIG_REC_MAX) {
		snprintf(err, errlen, "%s: corrupted (record at byte %llu of %llu bytes)", r->what,
			 (unsigned long long)at, (unsigned long long)rec->len);
		return -EINVAL;
	}
	rec->p = malloc(rec->len ? rec->len : 1);
	if (!rec->p) {
		snprintf(err, errlen, "%s: out of memory", r->what);
		return -ENOMEM;
	}
	e = rs_read(r, rec->p, rec->len);
	if (e) {
		free(rec->p);
		rec->p = NULL;
		return read_fail(r, e, at, err, errlen);
	}
	if (mig_crc32c(0, rec->p, rec->len) != get32(h + 16)) {
		snprintf(err, errlen,
			 "%s: corrupted (checksum mismatch in the record at byte %llu)", r->what,
			 (unsigned long long)at);
		free(rec->p);
		rec->p = NULL;
		return -EINVAL;
	}
	if (rec->type != REC_END) {
		*crc_all = mig_crc32c(*crc_all, h, sizeof(h));
		*crc_all = mig_crc32c(*crc_all, rec->p, rec->len);
	}
	return 0;
}
