/* SPDX-License-Identifier: MIT */
/*
 * A minimal machine around the bare processor, for tests, benchmarks, the
 * fuzzer and `softkvm cpu-demo`: RAM at guest-physical 0, a debug console on
 * port 0xe9, an exit port at 0xf4 (isa-debug-exit style), and helpers that
 * put the vCPU straight into real, protected or long mode with identity
 * mapping. It is not the KVM ABI; the VMM never uses it.
 */
#ifndef SOFTKVM_CPU_HARNESS_H
#define SOFTKVM_CPU_HARNESS_H

#include <stdio.h>

#include "cpu.h"

/* system area at the end of RAM used by the mode helpers */
#define HX_SYS_SIZE 0x20000

/* GDT layout installed by the mode helpers */
#define HX_SEL_CODE64  0x08
#define HX_SEL_DATA    0x10
#define HX_SEL_CODE32  0x18
#define HX_SEL_CODE16  0x20
#define HX_SEL_DATA16  0x28
#define HX_SEL_UCODE32 0x30 /* DPL 3 */
#define HX_SEL_UDATA   0x38 /* DPL 3 */
#define HX_SEL_UCODE64 0x40 /* DPL 3 */
#define HX_SEL_TSS     0x48 /* 16 bytes in long mode */

struct hx {
	struct cpu_mem *mem;
	struct cpu *cpu;
	uint8_t *ram;
	uint64_t ram_size;
	uint64_t sys_base;	      /* guest-physical address of the system area */
	uint64_t gdt, idt, tss, pml4; /* addresses inside the system area */
	FILE *console;		      /* where port 0xe9 output goes (may be NULL) */
	char *out;		      /* captured port 0xe9 output */
	size_t out_len, out_cap;
	int exit_code; /* value written to port 0xf4, -1 if none */
	bool exited;
	uint32_t cpuid_max_ext;
};

struct hx *hx_create(uint64_t ram_size);
void hx_destroy(struct hx *h);
/* Copy bytes into guest-physical memory. */
void hx_load(struct hx *h, uint64_t gpa, const void *data, size_t len);
/* Real mode at CS:IP = 0:ip, SS:SP = 0:sp. */
void hx_setup_real(struct hx *h, uint16_t ip, uint16_t sp);
/* Flat 32-bit protected mode, paging off, CPL 0 (or 3 with user = true). */
void hx_setup_prot32(struct hx *h, uint32_t eip, uint32_t esp, bool user);
/* 64-bit mode, first 4 GiB identity mapped with 2 MiB pages (user accessible). */
void hx_setup_long64(struct hx *h, uint64_t rip, uint64_t rsp, bool user);
/* Run until an exit the harness does not handle itself, or budget instructions. */
enum cpu_exit hx_run(struct hx *h, uint64_t budget);
const char *hx_exit_name(enum cpu_exit e);

#endif
