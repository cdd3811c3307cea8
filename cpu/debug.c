/* SPDX-License-Identifier: MIT */
/* Data breakpoints (DR0-DR3 with R/W = 01 or 11), SDM vol. 3B, 17.2. */
#include "internal.h"

void debug_check_data(struct cpu *c, uint64_t la, unsigned size, bool write)
{
	uint64_t dr7 = c->dr[7], hit = 0;
	static const unsigned lens[4] = {1, 2, 8, 4};

	for (int n = 0; n < 4; n++) {
		if (!((dr7 >> (2 * n)) & 3))
			continue;
		unsigned rw = (dr7 >> (16 + 4 * n)) & 3;
		unsigned len = lens[(dr7 >> (18 + 4 * n)) & 3];
		if (rw == 0 || rw == 2)
			continue; /* execution; I/O breakpoints are not supported */
		if (rw == 1 && !write)
			continue;
		uint64_t a = c->dr[n] & ~(uint64_t)(len - 1);
		if (la <= a + len - 1 && a <= la + size - 1)
			hit |= 1u << n;
	}
	/* a data breakpoint is a trap: reported after the instruction completes */
	if (hit)
		c->pending_db_trap |= hit;
}
