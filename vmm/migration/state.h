/* SPDX-License-Identifier: MIT */
/* The machine's state as records (state.c); private to vmm/migration/. */
#ifndef SOFTKVM_VMM_MIGRATION_STATE_H
#define SOFTKVM_VMM_MIGRATION_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../vmm.h"
#include "stream.h"

struct mig_ram_ctx {
	void *cctx; /* ZSTD_CCtx */
	uint8_t *stage, *zbuf;
	size_t zbuf_len;
	uint64_t normal_pages, zero_pages;
};

struct mig_loader {
	struct vmm *vm; /* NULL: check only */
	char what[300];
	struct vmm_config cfg; /* from the configuration record */
	bool have_cfg;
	unsigned nvirtio;  /* virtio devices of the source */
	struct rrec *recs; /* state records kept for mig_apply_state */
	size_t nrecs, cap;
	void *dctx; /* ZSTD_DCtx */
	uint8_t *scratch;
	struct vmm *dummy; /* device record sizes */
	int xlen;
};

void mig_write_config(struct wstream *w, struct vmm *vm, const struct vmm_config *c);
int mig_parse_config(const struct rrec *rec, struct vmm_config *c, unsigned *nvirtio,
		     const char *what, char *err, size_t errlen);
int mig_ram_ctx_init(struct mig_ram_ctx *x);
void mig_ram_ctx_free(struct mig_ram_ctx *x);
void mig_write_ram(struct wstream *w, struct vmm *vm, unsigned slot, const uint64_t *bitmap,
		   struct mig_ram_ctx *x);
/* with vm->io_lock and the virtio device locks held (mig_lock_devices) */
int mig_write_state(struct wstream *w, struct vmm *vm, char *err, size_t errlen);
void mig_lock_devices(struct vmm *vm);
void mig_unlock_devices(struct vmm *vm);

int mig_loader_init(struct mig_loader *L, struct vmm *vm, const char *what);
void mig_loader_free(struct mig_loader *L);
int mig_read_ram(struct mig_loader *L, const struct rrec *rec, bool apply, char *err,
		 size_t errlen);
int mig_keep_record(struct mig_loader *L, struct rrec *rec, char *err, size_t errlen);
int mig_check_complete(struct mig_loader *L, char *err, size_t errlen);
int mig_check_vm(struct mig_loader *L, char *err, size_t errlen);
/* with the device locks taken (then routes and kicks for the virtio devices) */
int mig_apply_state(struct mig_loader *L, char *err, size_t errlen);
/* the same with them held already (mig_lock_devices); virtio_restored() after unlocking */
int mig_apply_state_locked(struct mig_loader *L, char *err, size_t errlen);
void mig_zero_ram(struct vmm *vm);

#endif
