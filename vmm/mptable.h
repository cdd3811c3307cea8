/* SPDX-License-Identifier: MIT */
/* The Intel MultiProcessor Specification 1.4 table, beside the ACPI MADT. */
#ifndef SOFTKVM_VMM_MPTABLE_H
#define SOFTKVM_VMM_MPTABLE_H

#include <stdint.h>

/* in the BIOS area, after the RSDP at 0xf0000 */
#define MPTABLE_FLOATING_ADDR 0xf0040u
#define MPTABLE_CONFIG_ADDR   0xf0100u
#define MPTABLE_MAX_SIZE      0x1f00u

/*
 * Write the floating pointer and the configuration table for ncpus
 * processors (APIC IDs 0..ncpus-1, at most 255) into guest memory: `low` is
 * the host mapping of guest physical 0.
 */
void mptable_build(uint8_t *low, unsigned ncpus);

#endif
