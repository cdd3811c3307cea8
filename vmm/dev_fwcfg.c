/* SPDX-License-Identifier: MIT */
/*
 * QEMU's firmware configuration device, traditional I/O interface
 * (docs/specs/fw_cfg.txt in QEMU): a 16-bit write to 0x510 selects an item
 * and rewinds it; byte reads of 0x511 (or 0x510) return its bytes in order,
 * then zeros past the end or for an unknown key. Data writes are ignored (as
 * in QEMU since 2.4). The DMA interface is not offered: FW_CFG_ID is 1.
 * Integers are little endian; the file directory is big endian.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev_fwcfg.h"

#define FW_CFG_ARCH_LOCAL 0x8000

void fwcfg_init(struct fwcfg *f)
{
	memset(f, 0, sizeof(*f));
}

void fwcfg_destroy(struct fwcfg *f)
{
	for (unsigned k = 0; k < FW_CFG_NKEYS; k++)
		free(f->items[k].data);
	memset(f, 0, sizeof(*f));
}

int fwcfg_add(struct fwcfg *f, uint16_t key, const void *data, uint32_t len)
{
	uint8_t *p;

	if (key >= FW_CFG_NKEYS)
		return -EINVAL;
	p = malloc(len ? len : 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, data, len);
	free(f->items[key].data);
	f->items[key].data = p;
	f->items[key].len = len;
	return 0;
}

int fwcfg_add_u16(struct fwcfg *f, uint16_t key, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	return fwcfg_add(f, key, b, sizeof(b));
}

int fwcfg_add_u32(struct fwcfg *f, uint16_t key, uint32_t v)
{
	uint8_t b[4];
	for (int k = 0; k < 4; k++)
		b[k] = (uint8_t)(v >> (8 * k));
	return fwcfg_add(f, key, b, sizeof(b));
}

int fwcfg_add_u64(struct fwcfg *f, uint16_t key, uint64_t v)
{
	uint8_t b[8];
	for (int k = 0; k < 8; k++)
		b[k] = (uint8_t)(v >> (8 * k));
	return fwcfg_add(f, key, b, sizeof(b));
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Rebuild FW_CFG_FILE_DIR: be32 count, then { be32 size, be16 select, be16 0, name[56] }. */
static int fwcfg_build_dir(struct fwcfg *f)
{
	uint32_t len = 4 + 64 * f->nfiles;
	uint8_t *d = calloc(1, len);
	int r;

	if (!d)
		return -ENOMEM;
	put_be32(d, f->nfiles);
	for (unsigned k = 0; k < f->nfiles; k++) {
		uint8_t *e = d + 4 + 64 * k;
		uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + k);

		put_be32(e, f->items[key].len);
		e[4] = (uint8_t)(key >> 8);
		e[5] = (uint8_t)key;
		memcpy(e + 8, f->names[k], FW_CFG_NAME_LEN);
	}
	r = fwcfg_add(f, FW_CFG_FILE_DIR, d, len);
	free(d);
	return r;
}

int fwcfg_add_file(struct fwcfg *f, const char *name, const void *data, uint32_t len)
{
	unsigned pos;
	int r;

	if (strlen(name) >= FW_CFG_NAME_LEN)
		return -ENAMETOOLONG;
	if (f->nfiles >= FW_CFG_MAX_FILES)
		return -ENOSPC;
	for (pos = 0; pos < f->nfiles; pos++) {
		int c = strcmp(name, f->names[pos]);
		if (c == 0)
			return -EEXIST;
		if (c < 0)
			break;
	}
	/* insert at pos, shifting later files (and their selectors) up by one */
	for (unsigned k = f->nfiles; k > pos; k--) {
		memcpy(f->names[k], f->names[k - 1], FW_CFG_NAME_LEN);
		f->items[FW_CFG_FILE_FIRST + k] = f->items[FW_CFG_FILE_FIRST + k - 1];
	}
	f->items[FW_CFG_FILE_FIRST + pos].data = NULL;
	f->items[FW_CFG_FILE_FIRST + pos].len = 0;
	memset(f->names[pos], 0, FW_CFG_NAME_LEN);
	strcpy(f->names[pos], name);
	f->nfiles++;
	r = fwcfg_add(f, (uint16_t)(FW_CFG_FILE_FIRST + pos), data, len);
	if (r)
		return r;
	return fwcfg_build_dir(f);
}

static void fwcfg_select(struct fwcfg *f, uint16_t key)
{
	uint16_t k = key & FW_CFG_ENTRY_MASK;

	f->key = key;
	f->offset = 0;
	/* no architecture-local items are offered */
	f->valid = !(key & FW_CFG_ARCH_LOCAL) && k < FW_CFG_NKEYS && f->items[k].data;
}

static uint8_t fwcfg_read_byte(struct fwcfg *f)
{
	const struct fwcfg_item *it;

	if (!f->valid)
		return 0;
	it = &f->items[f->key & FW_CFG_ENTRY_MASK];
	if (f->offset >= it->len)
		return 0;
	return it->data[f->offset++];
}

void fwcfg_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct fwcfg *f = dev;

	if (write) {
		/* a 16-bit write to the selector; byte writes are legacy data writes, ignored */
		if (off == 0 && len == 2)
			fwcfg_select(f, (uint16_t)*val);
		return;
	}
	/* the data register is 8 bits wide; a byte read of either port returns data */
	if (len == 1)
		*val = fwcfg_read_byte(f);
}
