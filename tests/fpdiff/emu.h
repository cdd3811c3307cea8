/* SPDX-License-Identifier: MIT */
/* The emulated side of the x87/SSE differential test (emu.c). */
#ifndef SOFTKVM_FPDIFF_EMU_H
#define SOFTKVM_FPDIFF_EMU_H

#include <stddef.h>

#include "fpdiff.h"

struct emu;

struct fd_emu_result {
	struct fd_result r;
	bool halted; /* the run ended in a HLT (of an exception stub) */
	int exit;    /* enum cpu_exit */
};

struct emu *fd_emu_create(void);
void fd_emu_run(struct emu *em, const struct fd_case *tc, struct fd_emu_result *out);
void fd_emu_data(struct emu *em, uint8_t *out);
void fd_emu_destroy(struct emu *em);
const char *fd_emu_exit_name(int e);

/* "vendor mode: ..." for the report */
void fd_emu_vendor_desc(char *buf, size_t n);

#endif
