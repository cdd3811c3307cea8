/* SPDX-License-Identifier: MIT */
/* bench-cpu internals shared between bench-cpu.c and qemu.c. */
#ifndef SOFTKVM_BENCH_H
#define SOFTKVM_BENCH_H

#include <stddef.h>
#include <stdint.h>

extern const uint8_t kimg_basic[], kimg_basic_end[], kimg_full[], kimg_full_end[];
extern const uint8_t qstub[], qstub_end[];

/* Path of qemu-system-x86_64 ($QEMU overrides), or NULL if there is none. */
const char *qemu_find(void);

struct qemu_times {
	double cpu;  /* CPU time of the kernel: QEMU's minus a null run's */
	double tsc;  /* elapsed time of the kernel call by the guest TSC */
	double wall; /* the whole QEMU process, start-up included */
};

/*
 * Run kernel entry of image img under QEMU TCG. Returns 0, or -1 with a
 * message on stderr.
 */
int qemu_run_kernel(const char *qemu, const uint8_t *img, size_t img_len, uint64_t entry,
		    const uint64_t args[4], struct qemu_times *t, uint64_t *result);

double now_wall(void);
/* Call fn(arg) from a signal handler in secs seconds (fn NULL: cancel). */
void watchdog(void (*fn)(void *), void *arg, unsigned secs);

#endif
