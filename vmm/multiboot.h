/* SPDX-License-Identifier: MIT */
/* Multiboot v1 loader: ELF32 kernels and the a.out kludge, modules, boot information. */
#ifndef SOFTKVM_VMM_MULTIBOOT_H
#define SOFTKVM_VMM_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002u

#define E820_RAM      1
#define E820_RESERVED 2

struct e820_entry {
	uint64_t addr, len;
	uint32_t type;
};

struct multiboot_args {
	const char *kernel; /* path, also the first word of the command line */
	const char *append; /* rest of the command line ("" if none) */
	const char *initrd; /* modules: "FILE [ARGS][,FILE [ARGS]...]" (",," is a comma), or NULL */
	uint8_t *ram;	    /* host mapping of guest physical 0 */
	uint64_t ram_size;  /* bytes of RAM from guest physical 0 (below 4 GiB) */
	const struct e820_entry *map; /* the platform's memory map */
	unsigned nmap;
	const char *loader_name;
};

struct multiboot_boot {
	uint32_t entry;		       /* EIP */
	uint32_t mbi;		       /* EBX */
	uint32_t kernel_lo, kernel_hi; /* loaded image [lo, hi) */
	uint32_t info_end;	       /* end of everything placed in RAM */
};

/*
 * Load the kernel, its modules and the boot information into guest RAM.
 * Returns 0, or -errno with a one-line message (naming the file) in err.
 */
int multiboot_load(const struct multiboot_args *a, struct multiboot_boot *out, char *err,
		   size_t errlen);

#endif
