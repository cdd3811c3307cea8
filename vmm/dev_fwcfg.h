/* SPDX-License-Identifier: MIT */
/* QEMU fw_cfg, I/O port interface (selector 0x510, data 0x511). */
#ifndef SOFTKVM_VMM_DEV_FWCFG_H
#define SOFTKVM_VMM_DEV_FWCFG_H

#include <stdbool.h>
#include <stdint.h>

#define FWCFG_PORT 0x510

#define FW_CFG_SIGNATURE  0x00
#define FW_CFG_ID	  0x01
#define FW_CFG_UUID	  0x02
#define FW_CFG_RAM_SIZE	  0x03
#define FW_CFG_NOGRAPHIC  0x04
#define FW_CFG_NB_CPUS	  0x05
#define FW_CFG_MACHINE_ID 0x06
#define FW_CFG_BOOT_MENU  0x0e
#define FW_CFG_MAX_CPUS	  0x0f
#define FW_CFG_FILE_DIR	  0x19
#define FW_CFG_FILE_FIRST 0x20
#define FW_CFG_MAX_FILES  16
#define FW_CFG_ENTRY_MASK 0x3fff /* the key without its write and arch-local bits */
#define FW_CFG_NKEYS	  (FW_CFG_FILE_FIRST + FW_CFG_MAX_FILES)
#define FW_CFG_NAME_LEN	  56

struct fwcfg_item {
	uint8_t *data;
	uint32_t len;
};

struct fwcfg {
	struct fwcfg_item items[FW_CFG_NKEYS];
	char names[FW_CFG_MAX_FILES][FW_CFG_NAME_LEN];
	unsigned nfiles;
	uint16_t key;	 /* selected item */
	bool valid;	 /* the selected key names an item */
	uint32_t offset; /* read position in the selected item */
};

void fwcfg_init(struct fwcfg *f);
void fwcfg_destroy(struct fwcfg *f);
/* Copies data. Returns 0 or -errno. */
int fwcfg_add(struct fwcfg *f, uint16_t key, const void *data, uint32_t len);
int fwcfg_add_u16(struct fwcfg *f, uint16_t key, uint16_t v);
int fwcfg_add_u32(struct fwcfg *f, uint16_t key, uint32_t v);
int fwcfg_add_u64(struct fwcfg *f, uint16_t key, uint64_t v);
/* A named file; the directory (FW_CFG_FILE_DIR) is kept sorted by name, as QEMU does. */
int fwcfg_add_file(struct fwcfg *f, const char *name, const void *data, uint32_t len);
void fwcfg_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);

#endif
