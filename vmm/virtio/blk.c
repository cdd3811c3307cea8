/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.2, 5.2) on a raw image file or block device:
 * `--drive file=PATH[,format=raw][,readonly=on][,cache=none|writeback|
 * writethrough][,serial=S]`.
 *
 * One request queue of VIRTQ_MAX_SIZE entries, served by the device's
 * worker with preadv/pwritev on the file (cache=none opens it O_DIRECT and
 * falls back to a second, buffered descriptor for a request whose buffers
 * O_DIRECT refuses; writethrough opens it O_DSYNC). Requests: IN, OUT,
 * FLUSH (fdatasync), GET_ID (the serial, up to 20 bytes), DISCARD
 * (fallocate PUNCH_HOLE, one segment per request); VIRTIO_BLK_F_RO for a
 * read-only drive, whose OUT and DISCARD requests fail with IOERR. Out of
 * range or short requests answer IOERR; a chain without room for the
 * header or the status byte is the guest breaking the rules (the device
 * needs a reset). The image is locked (flock: shared when read-only,
 * exclusive otherwise) so that two VMs cannot write it at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio.h"

#define VIRTIO_BLK_F_SEG_MAX  2
#define VIRTIO_BLK_F_RO	      5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH    9
#define VIRTIO_BLK_F_DISCARD  13

#define VIRTIO_BLK_T_IN	     0
#define VIRTIO_BLK_T_OUT     1
#define VIRTIO_BLK_T_FLUSH   4
#define VIRTIO_BLK_T_GET_ID  8
#define VIRTIO_BLK_T_DISCARD 11

#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define SECTOR		    512ull
#define MAX_DISCARD_SECTORS 0x3fffffu

struct blk {
	int fd, fd_buffered; /* fd_buffered: the O_DIRECT fallback, or -1 */
	uint64_t sectors;
	bool readonly;
	char serial[VIRTIO_BLK_ID_BYTES];
	struct iovec iov[VIRTQ_MAX_SIZE];
};

/* ---- options ---- */

/* the next item of a QEMU-style list (",," is a literal comma); false at the end */
static bool next_item(const char **p, char *item, size_t len, bool *truncated)
{
	const char *s = *p;
	size_t n = 0;

	if (!*s)
		return false;
	*truncated = false;
	while (*s && !(*s == ',' && s[1] != ',')) {
		if (*s == ',')
			s++; /* ",," */
		if (n + 1 < len)
			item[n++] = *s;
		else
			*truncated = true;
		s++;
	}
	item[n] = 0;
	*p = *s ? s + 1 : s;
	return true;
}

int virtio_parse_drive(struct virtio_opts *o, const char *spec, char *err, size_t errlen)
{
	struct virtio_drive_opts d = {0};
	const char *p = spec;
	/* the unescaped file names, for the whole run (options are parsed once per process) */
	static char files[VIRTIO_MAX_DRIVES][4096];
	char item[4096], *key, *val;
	bool truncated;

	if (o->ndrives == VIRTIO_MAX_DRIVES) {
		snprintf(err, errlen, "--drive '%s': at most %d drives", spec, VIRTIO_MAX_DRIVES);
		return -EINVAL;
	}
	while (next_item(&p, item, sizeof(item), &truncated)) {
		key = item;
		val = strchr(item, '=');
		if (truncated) {
			snprintf(err, errlen, "--drive '%.64s...': an option is too long", spec);
			return -EINVAL;
		}
		if (!val) {
			snprintf(err, errlen, "--drive '%s': '%s' is not KEY=VALUE", spec, key);
			return -EINVAL;
		}
		*val++ = 0;
		if (!strcmp(key, "file")) {
			if (!val[0]) {
				snprintf(err, errlen, "--drive '%s': file= is empty", spec);
				return -EINVAL;
			}
			snprintf(files[o->ndrives], sizeof(files[0]), "%s", val);
			d.file = files[o->ndrives];
		} else if (!strcmp(key, "format")) {
			if (strcmp(val, "raw")) {
				snprintf(err, errlen,
					 "--drive '%s': format '%s' is not supported (only raw)",
					 spec, val);
				return -EINVAL;
			}
		} else if (!strcmp(key, "readonly")) {
			if (!strcmp(val, "on")) {
				d.readonly = true;
			} else if (!strcmp(val, "off")) {
				d.readonly = false;
			} else {
				snprintf(err, errlen,
					 "--drive '%s': readonly '%s': must be on or off", spec,
					 val);
				return -EINVAL;
			}
		} else if (!strcmp(key, "cache")) {
			d.direct = !strcmp(val, "none");
			d.writethrough = !strcmp(val, "writethrough");
			if (!d.direct && !d.writethrough && strcmp(val, "writeback")) {
				snprintf(err, errlen,
					 "--drive '%s': cache '%s': must be none, writeback or "
					 "writethrough",
					 spec, val);
				return -EINVAL;
			}
		} else if (!strcmp(key, "serial")) {
			if (strlen(val) > VIRTIO_BLK_ID_BYTES) {
				snprintf(err, errlen,
					 "--drive '%s': serial '%s' is longer than %d bytes", spec,
					 val, VIRTIO_BLK_ID_BYTES);
				return -EINVAL;
			}
			snprintf(d.serial, sizeof(d.serial), "%s", val);
		} else {
			snprintf(
			    err, errlen,
			    "--drive '%s': unknown option '%s' (known: file, format, readonly, "
			    "cache, serial)",
			    spec, key);
			return -EINVAL;
		}
	}
	if (!d.file) {
		snprintf(err, errlen, "--drive '%s': file=PATH is missing", spec);
		return -EINVAL;
	}
	o->drive[o->ndrives++] = d;
	return 0;
}

bool virtio_option_known(const char *name)
{
	return !strcmp(name, "--drive") || !strcmp(name, "--console") || !strcmp(name, "--net") ||
	       !strcmp(name, "--vsock");
}

int virtio_parse_option(struct virtio_opts *o, const char *name, const char *val, char *err,
			size_t errlen)
{
	if (!strcmp(name, "--drive"))
		return virtio_parse_drive(o, val, err, errlen);
	if (!strcmp(name, "--net"))
		return virtio_parse_net(o, val, err, errlen);
	if (!strcmp(name, "--vsock"))
		return virtio_parse_vsock(o, val, err, errlen);
	if (!strcmp(val, "virtio") || !strcmp(val, "serial")) {
		o->console = !strcmp(val, "virtio");
		return 0;
	}
	snprintf(err, errlen, "--console '%s': must be 'serial' or 'virtio'", val);
	return -EINVAL;
}

/* ---- requests ---- */

/* the iovecs of bytes [off, off + len) of the chain's readable (or writable) part */
static unsigned slice(const struct virtq_chain *c, bool in, uint64_t off, uint64_t len,
		      struct iovec *out)
{
	unsigned first = in ? c->nout : 0, n = in ? c->nin : c->nout, k2 = 0;

	for (unsigned k = first; k < first + n && len; k++) {
		const struct iovec *v = &c->iov[k];
		if (off >= v->iov_len) {
			off -= v->iov_len;
			continue;
		}
		uint64_t chunk = v->iov_len - off;
		if (chunk > len)
			chunk = len;
		out[k2++] = (struct iovec){(uint8_t *)v->iov_base + off, chunk};
		len -= chunk;
		off = 0;
	}
	return k2;
}

static bool aligned(const struct iovec *iov, unsigned n, uint64_t pos)
{
	if (pos % 4096)
		return false;
	for (unsigned k = 0; k < n; k++)
		if ((uintptr_t)iov[k].iov_base % 4096 || iov[k].iov_len % 4096)
			return false;
	return true;
}

/* all of [pos, pos + len) through iov, continuing after short transfers; 0 or -errno */
static int rw_full(int fd, struct iovec *iov, unsigned n, uint64_t pos, bool write)
{
	while (n) {
		ssize_t r = write ? pwritev(fd, iov, (int)n, (off_t)pos)
				  : preadv(fd, iov, (int)n, (off_t)pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO; /* the file shrank */
		pos += (uint64_t)r;
		while (n && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static int blk_rw(struct blk *b, struct iovec *iov, unsigned n, uint64_t pos, bool write)
{
	/* O_DIRECT wants aligned buffers: the others go through the page cache */
	int fd = b->fd_buffered >= 0 && !aligned(iov, n, pos) ? b->fd_buffered : b->fd;
	int r = rw_full(fd, iov, n, pos, write);

	if (r == -EINVAL && fd != b->fd_buffered && b->fd_buffered >= 0)
		r = rw_full(b->fd_buffered, iov, n, pos, write);
	if (!r && write && fd == b->fd_buffered && b->fd != b->fd_buffered && fdatasync(fd) < 0)
		r = -errno; /* cache=none promises the write reached the file */
	return r;
}

static int blk_chain(struct virtio_dev *d, unsigned q, const struct virtq_chain *c,
		     uint32_t *written, const char **why)
{
	struct blk *b = d->priv;
	uint8_t hdr[16], status = VIRTIO_BLK_S_OK;
	uint32_t type;
	uint64_t sector, data_len = 0;
	unsigned n;

	(void)q;
	if (c->out_len < sizeof(hdr) || c->in_len < 1) {
		*why = "a request without its header or status byte";
		return -EINVAL;
	}
	virtq_chain_read(c, 0, hdr, sizeof(hdr));
	type = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 |
	       (uint32_t)hdr[3] << 24;
	sector = 0;
	for (int k = 0; k < 8; k++)
		sector |= (uint64_t)hdr[8 + k] << (8 * k);

	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool wr = type == VIRTIO_BLK_T_OUT;
		uint64_t len = wr ? c->out_len - sizeof(hdr) : c->in_len - 1;

		if (wr && b->readonly) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		if (len % SECTOR || sector > b->sectors || len / SECTOR > b->sectors - sector) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		n = wr ? slice(c, false, sizeof(hdr), len, b->iov) : slice(c, true, 0, len, b->iov);
		if (blk_rw(b, b->iov, n, sector * SECTOR, wr))
			status = VIRTIO_BLK_S_IOERR;
		else if (!wr)
			data_len = len;
		break;
	}
	case VIRTIO_BLK_T_FLUSH:
		if (!b->readonly && fdatasync(b->fd) < 0)
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		uint64_t room = c->in_len - 1;
		data_len = room < VIRTIO_BLK_ID_BYTES ? room : VIRTIO_BLK_ID_BYTES;
		virtq_chain_write(c, 0, b->serial, data_len);
		break;
	}
	case VIRTIO_BLK_T_DISCARD: {
		uint8_t seg[16];
		uint64_t s = 0;
		uint32_t num, flags;

		if (b->readonly) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		if (c->out_len != sizeof(hdr) + sizeof(seg)) {
			status = VIRTIO_BLK_S_UNSUPP; /* max_discard_seg is 1 */
			break;
		}
		virtq_chain_read(c, sizeof(hdr), seg, sizeof(seg));
		for (int k = 0; k < 8; k++)
			s |= (uint64_t)seg[k] << (8 * k);
		num = (uint32_t)seg[8] | (uint32_t)seg[9] << 8 | (uint32_t)seg[10] << 16 |
		      (uint32_t)seg[11] << 24;
		flags = (uint32_t)seg[12] | (uint32_t)seg[13] << 8 | (uint32_t)seg[14] << 16 |
			(uint32_t)seg[15] << 24;
		if (flags) {
			status = VIRTIO_BLK_S_UNSUPP;
			break;
		}
		if (num > MAX_DISCARD_SECTORS || s > b->sectors || num > b->sectors - s) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		if (num &&
		    fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(s * SECTOR), (off_t)(num * SECTOR)) < 0 &&
		    errno != EOPNOTSUPP)
			status =
			    VIRTIO_BLK_S_IOERR; /* discarding is advisory: unsupported is fine */
		break;
	}
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	/* the status byte is the last writable byte */
	virtq_chain_write(c, c->in_len - 1, &status, 1);
	*written = (uint32_t)(data_len + 1);
	return 0;
}

static void blk_destroy(struct virtio_dev *d)
{
	struct blk *b = d->priv;

	if (!b)
		return;
	if (b->fd_buffered >= 0 && b->fd_buffered != b->fd)
		close(b->fd_buffered);
	if (b->fd >= 0)
		close(b->fd);
	free(b);
	d->priv = NULL;
}

static const struct virtio_dev_ops blk_ops = {
    .chain = blk_chain,
    .destroy = blk_destroy,
};

static void put32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

int virtio_blk_init(struct virtio_dev *d, const struct virtio_drive_opts *o, char *err,
		    size_t errlen)
{
	struct blk *b = calloc(1, sizeof(*b));
	struct stat st;
	int flags = O_CLOEXEC | (o->readonly ? O_RDONLY : O_RDWR);
	off_t size;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->fd = b->fd_buffered = -1;
	d->priv = b;
	d->ops = &blk_ops;
	d->name = "virtio-blk";
	b->readonly = o->readonly;
	memcpy(b->serial, o->serial, strnlen(o->serial, VIRTIO_BLK_ID_BYTES));
	if (o->writethrough)
		flags |= O_DSYNC;
	b->fd = open(o->file, flags | (o->direct ? O_DIRECT : 0));
	if (b->fd < 0) {
		int e = errno;
		if (!o->readonly && (e == EACCES || e == EROFS || e == EPERM) &&
		    access(o->file, R_OK) == 0)
			snprintf(err, errlen,
				 "--drive file=%s: cannot open it for writing: %s (readonly=on "
				 "opens it read-only)",
				 o->file, strerror(e));
		else if (o->direct && e == EINVAL)
			snprintf(err, errlen,
				 "--drive file=%s: cache=none: its file system does not support "
				 "O_DIRECT",
				 o->file);
		else
			snprintf(err, errlen, "--drive file=%s: %s", o->file, strerror(e));
		return -e;
	}
	if (fstat(b->fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		snprintf(err, errlen, "--drive file=%s: not a regular file or block device",
			 o->file);
		return -EINVAL;
	}
	if (flock(b->fd, (o->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		snprintf(err, errlen, "--drive file=%s: locked by another process (%s)", o->file,
			 strerror(errno));
		return -EBUSY;
	}
	size = lseek(b->fd, 0, SEEK_END);
	if (size < 0) {
		snprintf(err, errlen, "--drive file=%s: cannot find its size: %s", o->file,
			 strerror(errno));
		return -errno;
	}
	if (o->direct) {
		b->fd_buffered = open(o->file, flags);
		if (b->fd_buffered < 0) {
			snprintf(err, errlen, "--drive file=%s: %s", o->file, strerror(errno));
			return -errno;
		}
	}
	b->sectors = (uint64_t)size / SECTOR;

	d->nqueues = 1;
	d->nvectors = 2; /* configuration, request queue */
	d->host_features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
			   (1ull << VIRTIO_BLK_F_FLUSH) |
			   (o->readonly ? 1ull << VIRTIO_BLK_F_RO : 1ull << VIRTIO_BLK_F_DISCARD);
	/* struct virtio_blk_config */
	d->config_len = 60;
	memset(d->config, 0, sizeof(d->config));
	put32(d->config + 0, (uint32_t)b->sectors);
	put32(d->config + 4, (uint32_t)(b->sectors >> 32));
	put32(d->config + 12, VIRTQ_MAX_SIZE - 2);  /* seg_max: header and status need two */
	put32(d->config + 20, SECTOR);		    /* blk_size */
	put32(d->config + 36, MAX_DISCARD_SECTORS); /* max_discard_sectors */
	put32(d->config + 40, 1);		    /* max_discard_seg */
	put32(d->config + 44, 8);		    /* discard_sector_alignment: 4 KiB */
	return 0;
}
