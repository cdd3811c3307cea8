/* SPDX-License-Identifier: MIT */
/* The native side of the x87/SSE differential test (native.c). */
#ifndef SOFTKVM_FPDIFF_NATIVE_H
#define SOFTKVM_FPDIFF_NATIVE_H

#include <sys/types.h>

#include "fpdiff.h"

#define FD_BATCH 64

/* shared between the parent and the native child */
struct fd_shared {
	struct fd_case cases[FD_BATCH];
	struct fd_result res[FD_BATCH];
	uint8_t data[FD_BATCH][FD_DATA_SIZE]; /* the data area after each case */
};

struct fd_native {
	struct fd_shared *sh;
	pid_t pid;
	int rfd, wfd;
};

/* Fork the child (mapping the shared block on first use); 0 or -1. */
int fd_native_start(struct fd_native *nv);
void fd_native_stop(struct fd_native *nv);

#endif
