/* SPDX-License-Identifier: MIT */
/*
 * Linux loaders: bzImage through the 64-bit (or 32-bit) boot protocol of
 * Documentation/x86/boot.rst, and an uncompressed vmlinux ELF64; plus the
 * probe that tells a kernel file's format.
 */
#ifndef SOFTKVM_VMM_LOADER_LINUX_H
#define SOFTKVM_VMM_LOADER_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "multiboot.h" /* struct e820_entry */

enum kernel_format {
	KERNEL_MULTIBOOT, /* ELF32 or a.out kludge with a multiboot header (or unknown) */
	KERNEL_BZIMAGE,	  /* Linux boot protocol: "HdrS" at 0x202 */
	KERNEL_VMLINUX,	  /* ELF64 x86-64 without a multiboot header */
};

/* Guest-physical layout of the boot structures (below the EBDA, as Firecracker) */
#define LINUX_GDT_ADDR	   0x500u
#define LINUX_ZERO_PAGE	   0x7000u
#define LINUX_STACK_TOP	   0x8ff0u
#define LINUX_PML4_ADDR	   0x9000u /* then the PDPT and four PDs: 0-4 GiB, 2 MiB pages */
#define LINUX_CMDLINE_ADDR 0x20000u
#define LINUX_CMDLINE_MAX  0x10000u
#define LINUX_KERNEL_MIN   0x100000u
#define LINUX_BOOT_CS	   0x10 /* __BOOT_CS */
#define LINUX_BOOT_DS	   0x18 /* __BOOT_DS */

struct linux_args {
	const char *kernel, *append, *initrd;
	uint8_t *ram;	   /* host mapping of guest physical 0 */
	uint64_t ram_size; /* bytes of RAM from guest physical 0 (below 4 GiB) */
	const struct e820_entry *map;
	unsigned nmap;
	uint64_t rsdp; /* ACPI RSDP address for boot_params.acpi_rsdp_addr, 0 if none */
};

struct linux_boot {
	bool long_mode;	      /* 64-bit entry (else the 32-bit protected-mode entry) */
	uint64_t entry;	      /* RIP */
	uint64_t boot_params; /* RSI */
	uint64_t kernel_lo, kernel_hi, initrd_lo, initrd_hi;
};

/*
 * Read the start of the file and tell its format; 0, or -errno with a
 * message naming the file.
 */
int kernel_probe(const char *path, enum kernel_format *fmt, char *err, size_t errlen);

/*
 * Load a bzImage or a vmlinux, the initrd and the boot structures (zero page,
 * command line, e820, GDT, identity-mapped page tables) into guest RAM.
 * Returns 0, or -errno with a one-line message in err.
 */
int linux_load_bzimage(const struct linux_args *a, struct linux_boot *out, char *err,
		       size_t errlen);
int linux_load_vmlinux(const struct linux_args *a, struct linux_boot *out, char *err,
		       size_t errlen);

struct vmm;
struct vmm_config;
/* Load c->kernel (a bzImage or a vmlinux, as fmt says) into vm's RAM. */
int linux_load(struct vmm *vm, const struct vmm_config *c, enum kernel_format fmt,
	       struct linux_boot *out, char *err, size_t errlen);
/* Put the BSP at the kernel's entry state (the 64-bit or 32-bit boot protocol). */
int linux_setup_entry(struct vmm *vm, const struct linux_boot *b, char *err, size_t errlen);

#endif
