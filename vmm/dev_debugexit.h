/* SPDX-License-Identifier: MIT */
/* isa-debug-exit (QEMU): a write of v makes the VMM exit with status (v << 1) | 1. */
#ifndef SOFTKVM_VMM_DEV_DEBUGEXIT_H
#define SOFTKVM_VMM_DEV_DEBUGEXIT_H

#include <stdbool.h>
#include <stdint.h>

#define DEBUGEXIT_PORT 0xf4
#define DEBUGEXIT_SIZE 4

struct debugexit {
	bool fired;
	uint64_t value;
};

static inline void debugexit_access(void *dev, uint64_t off, uint64_t *val, unsigned len,
				    bool write)
{
	struct debugexit *d = dev;

	(void)off, (void)len;
	if (!write)
		return; /* write-only; reads float */
	d->fired = true;
	d->value = *val;
}

/* The process exit status QEMU gives: (value << 1) | 1, of which the shell sees 8 bits. */
static inline int debugexit_status(const struct debugexit *d)
{
	return (int)(((d->value << 1) | 1) & 0xff);
}

#endif
