/* SPDX-License-Identifier: MIT */
/* The native side of the differential test (native.c). */
#ifndef SOFTKVM_DIFFTEST_NATIVE_H
#define SOFTKVM_DIFFTEST_NATIVE_H

#include <sys/types.h>

#include "difftest.h"

#define DT_BATCH 64

/* shared between the parent and the native child */
struct dt_shared {
	struct dt_case cases[DT_BATCH];
	struct dt_result res[DT_BATCH];
	uint8_t data[DT_BATCH][DT_DATA_SIZE]; /* the data area after each case */
	uint32_t mode32_ok; /* the host runs 32-bit user code (set by the child at start) */
};

struct dt_native {
	struct dt_shared *sh;
	pid_t pid;
	int rfd, wfd;
};

/* Fork the child (mapping the shared block on first use) and wait until it is ready; 0 or -1. */
int dt_native_start(struct dt_native *nv);

#endif
