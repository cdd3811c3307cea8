/* SPDX-License-Identifier: MIT */
/* The emulated side of the differential test (emu.c). */
#ifndef SOFTKVM_DIFFTEST_EMU_H
#define SOFTKVM_DIFFTEST_EMU_H

#include <stddef.h>

#include "difftest.h"

struct emu;

struct emu_result {
	struct dt_result r;
	bool halted; /* the run ended in a HLT (of an exception stub) */
	int exit;    /* enum cpu_exit */
};

/* vendor: -1 the host's, else CPU_VENDOR_* with the host's CPUID bits */
struct emu *emu_create(int vendor);
void emu_run(struct emu *em, const struct dt_case *tc, struct emu_result *out);
void emu_data(struct emu *em, uint8_t *out);
void emu_destroy(struct emu *em);
const char *emu_exit_name(int e);

/* "vendor mode: ..." for the report */
void emu_vendor_desc(char *buf, size_t n, int vendor);

#endif
