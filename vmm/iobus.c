/* SPDX-License-Identifier: MIT */
/* The trap registry for port I/O and MMIO (see iobus.h). */
#include <errno.h>
#include <string.h>

#include "iobus.h"

int iobus_add(struct iobus *b, uint64_t base, uint64_t len, const char *name, void *dev,
	      iobus_access_fn *access, bool enabled)
{
	struct io_region *r;

	if (!len || !access || base + len < base)
		return -EINVAL;
	if (b->n >= IOBUS_MAX_REGIONS)
		return -ENOSPC;
	r = &b->regions[b->n];
	r->base = base;
	r->len = len;
	r->enabled = enabled;
	r->name = name;
	r->dev = dev;
	r->access = access;
	return (int)b->n++;
}

void iobus_move(struct iobus *b, int handle, uint64_t base, bool enabled)
{
	if (handle < 0 || (unsigned)handle >= b->n)
		return;
	b->regions[handle].base = base;
	b->regions[handle].enabled = enabled && base + b->regions[handle].len > base;
}

bool iobus_access(struct iobus *b, uint64_t addr, void *data, unsigned len, bool write,
		  uint8_t fill)
{
	uint64_t val = 0;

	if (len == 0 || len > 8)
		return false;
	/* the first matching region wins, in registration order */
	for (unsigned k = 0; k < b->n; k++) {
		struct io_region *r = &b->regions[k];

		if (!r->enabled || addr < r->base || addr - r->base >= r->len)
			continue;
		if (write) {
			memcpy(&val, data, len);
			r->access(r->dev, addr - r->base, &val, len, true);
		} else {
			memset(&val, 0xff, sizeof(val));
			r->access(r->dev, addr - r->base, &val, len, false);
			memcpy(data, &val, len);
		}
		return true;
	}
	b->unhandled++;
	if (!write)
		memset(data, fill, len);
	return false;
}
