/* SPDX-License-Identifier: MIT */
/*
 * The trap registry: one table per address space (port I/O, MMIO) mapping a
 * range to a device's access function. KVM_EXIT_IO and KVM_EXIT_MMIO are
 * both dispatched through it.
 */
#ifndef SOFTKVM_VMM_IOBUS_H
#define SOFTKVM_VMM_IOBUS_H

#include <stdbool.h>
#include <stdint.h>

#define IOBUS_MAX_REGIONS 32

/*
 * A device access: `off` is relative to the region's base; on a write *val
 * holds the value (len bytes, little endian), on a read the device stores
 * the result there (pre-filled with all ones).
 */
typedef void iobus_access_fn(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);

struct io_region {
	uint64_t base, len;
	bool enabled;
	const char *name;
	void *dev;
	iobus_access_fn *access;
};

struct iobus {
	struct io_region regions[IOBUS_MAX_REGIONS];
	unsigned n;
	uint64_t unhandled; /* accesses that hit no device */
};

/* Register a region; returns its handle (>= 0) or -ENOSPC / -EINVAL. */
int iobus_add(struct iobus *b, uint64_t base, uint64_t len, const char *name, void *dev,
	      iobus_access_fn *access, bool enabled);
/* Move or disable a region (PCI BAR programming). */
void iobus_move(struct iobus *b, int handle, uint64_t base, bool enabled);
/*
 * Dispatch an access of 1-8 bytes. Returns false if no enabled region holds
 * addr; a read then returns `fill` (all ones for port I/O, as an open bus).
 */
bool iobus_access(struct iobus *b, uint64_t addr, void *data, unsigned len, bool write,
		  uint8_t fill);

#endif
