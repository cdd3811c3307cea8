/* SPDX-License-Identifier: MIT */
/*
 * The record stream of vmm/migration/ (README.md, "Format"): private to
 * this folder. Writers buffer into a descriptor and checksum every record;
 * readers check every header and payload as they come.
 */
#ifndef SOFTKVM_VMM_MIGRATION_STREAM_H
#define SOFTKVM_VMM_MIGRATION_STREAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_MAGIC	"SKVMSNAP"
#define MIG_HDR_LEN	32
#define MIG_REC_HDR_LEN 24
#define MIG_REC_MAX	(64u << 20) /* bytes of one record's payload */
#define MIG_RAM_PAGES	512	    /* pages of one RAM record (2 MiB) */
#define MIG_RAM_HDR_LEN (16 + 2 * MIG_RAM_PAGES / 8)
#define MIG_PAGE	4096u

enum mig_rec {
	REC_CONFIG = 1,
	REC_RAM = 2,
	REC_VCPU_REGS = 0x10,
	REC_VCPU_SREGS,
	REC_VCPU_XSAVE,
	REC_VCPU_XCRS,
	REC_VCPU_MSRS,
	REC_VCPU_LAPIC,
	REC_VCPU_EVENTS,
	REC_VCPU_MP_STATE,
	REC_VCPU_DEBUGREGS,
	REC_IRQCHIP = 0x20,
	REC_PIT2,
	REC_CLOCK,
	REC_DEV_SERIAL = 0x30,
	REC_DEV_RTC,
	REC_DEV_PM,
	REC_DEV_I8042,
	REC_DEV_RESET,
	REC_DEV_PCIBUS,
	REC_DEV_PCI,
	REC_DEV_FWCFG,
	REC_DEV_PCTESTDEV,
	REC_DEV_PCITESTDEV,
	REC_DEV_VIRTIO,
	REC_END = 0xff,
};

uint32_t mig_crc32c(uint32_t crc, const void *p, size_t n);

struct wstream {
	int fd;
	uint8_t *buf;
	size_t len;
	uint64_t off;	  /* bytes written so far (flushed or buffered) */
	uint32_t crc_all; /* of every record before END */
	uint64_t nrec;
	int err; /* first error (-errno), sticky */
	const atomic_bool *cancel;
};

int ws_init(struct wstream *w, int fd, const atomic_bool *cancel);
void ws_free(struct wstream *w);
void ws_header(struct wstream *w);
void ws_record(struct wstream *w, uint32_t type, uint32_t index, const void *p, size_t len);
/* a record whose payload is two parts (RAM: header, compressed pages) */
void ws_record2(struct wstream *w, uint32_t type, uint32_t index, const void *a, size_t alen,
		const void *b, size_t blen);
void ws_end(struct wstream *w);
int ws_flush(struct wstream *w);

struct rstream {
	int fd;
	uint8_t *buf;
	size_t pos, len;
	uint64_t off;	/* stream offset of buf[pos] */
	char what[300]; /* "snapshot /path" */
};

struct rrec {
	uint32_t type, index;
	uint64_t len, at; /* payload length, offset of the record */
	uint8_t *p;	  /* payload (owned by the caller once read) */
};

int rs_init(struct rstream *r, int fd, const char *what);
void rs_free(struct rstream *r);
/* The file header: 0 or -errno with one line in err. */
int rs_header(struct rstream *r, char *err, size_t errlen);
/* The next record: 0 or -errno with one line in err. rec->p is malloc'd. */
int rs_record(struct rstream *r, struct rrec *rec, uint32_t *crc_all, char *err, size_t errlen);

#endif
