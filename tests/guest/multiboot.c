/* SPDX-License-Identifier: MIT */
/*
 * What the boot loader hands over (Multiboot Specification 0.6.96, 3.2 and
 * 3.3): the machine state at entry, a zeroed BSS, and the information
 * structure: flags, mem_lower/mem_upper, the command line (QEMU convention:
 * the kernel's file name, then the appended arguments), the boot loader
 * name, the module (its string, page alignment, placement above the kernel,
 * contents) and the memory map. Run with
 *   --append "foo=bar answer=42" --initrd "PATH/module.bin modarg=1"
 * and the default 128 MiB. Built three times: as an ELF (multiboot), as a
 * flat binary with the a.out kludge address fields (mbaout), and as an ELF
 * linked at LOW_LOAD (mblow: 0x8000, in conventional memory below 1 MiB,
 * over the place the loader's information structure usually takes).
 */
#include "libtest.h"

#define MODULE_SIZE 5000

static u8 zeroed[4096]; /* in .bss: the loader must clear it */

static const char *basename_of(const char *p, size_t len, size_t *blen)
{
	const char *b = p;
	for (size_t k = 0; k < len; k++)
		if (p[k] == '/')
			b = p + k + 1;
	*blen = len - (size_t)(b - p);
	return b;
}

int main(void)
{
	bool z = true;
	for (unsigned k = 0; k < sizeof(zeroed); k++)
		z &= zeroed[k] == 0;
	report("BSS is zeroed by the loader", z);
	report("EAX = 0x2BADB002", mb_magic == 0x2badb002);
	report("entry: EFLAGS.IF and EFLAGS.VM clear",
	       !(mb_entry_eflags & (X86_EFLAGS_IF | (1u << 17))));
	report("entry: CR0.PE set, CR0.PG clear",
	       (mb_entry_cr0 & 1) && !(mb_entry_cr0 & 0x80000000u));

	const struct mb_info *mbi = (const struct mb_info *)(ulong)mb_info;
	u32 need = (1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9);
	report("flags: memory, cmdline, modules, mmap, boot loader name",
	       (mbi->flags & need) == need);
	report("the information structure is outside the kernel image",
	       mb_info + sizeof(*mbi) <= (ulong)_start || mb_info >= (ulong)_end);
#ifdef LOW_LOAD
	report("the kernel runs where it is linked, below 1 MiB",
	       (ulong)_start >= LOW_LOAD && (ulong)_end <= 0x9fc00 && (ulong)&main >= LOW_LOAD &&
		   (ulong)&main < 0x100000);
	const struct mb_info *m0 = mbi;
	report("the memory map and module list are outside the kernel image",
	       (m0->mmap_addr >= (ulong)_end || m0->mmap_addr + m0->mmap_length <= (ulong)_start) &&
		   (m0->mods_addr >= (ulong)_end || m0->mods_addr + 16 <= (ulong)_start));
#endif
	reportf(mbi->mem_lower >= 600 && mbi->mem_lower <= 640, "mem_lower is 600-640 KiB");
	u64 upper = ((u64)mbi->mem_upper + 1024) << 10;
	report("mem_upper: RAM from 1 MiB, 120-128 MiB in all",
	       upper <= (128ull << 20) && upper >= (120ull << 20));

	/* command line: "<path>/NAME foo=bar answer=42" */
	const char *cmd = (const char *)(ulong)mbi->cmdline;
	const char *sp = strchr(cmd, ' ');
	size_t blen;
	const char *base = basename_of(cmd, sp ? (size_t)(sp - cmd) : strlen(cmd), &blen);
#ifdef AOUT
	const char *want = TEST_NAME ".bin";
#else
	const char *want = TEST_NAME ".elf";
#endif
	report("cmdline: the first word is the kernel's file name",
	       blen == strlen(want) && !strncmp(base, want, blen));
	report("cmdline: then the appended arguments", sp && !strcmp(sp + 1, "foo=bar answer=42"));
	char v[16];
	report("cmdline: key=value lookup", cmdline_ulong("answer", 0) == 42 &&
						!strcmp(cmdline_arg("foo", v, sizeof(v)), "bar"));

	const char *loader = (const char *)(ulong)mbi->boot_loader_name;
	bool printable = loader[0] != 0;
	for (const char *c = loader; *c; c++)
		printable &= *c >= 0x20 && *c < 0x7f;
	report("boot loader name: a non-empty string", printable);

	/* the module */
	report("one module", mbi->mods_count == 1);
	if (mbi->mods_count >= 1) {
		const struct mb_module *m = (const struct mb_module *)(ulong)mbi->mods_addr;
		report("module page-aligned (header flag 0)", (m->mod_start & 0xfff) == 0);
		report("module above the kernel", m->mod_start >= (ulong)_end);
		reportf(m->mod_end - m->mod_start == MODULE_SIZE, "module size %d", MODULE_SIZE);
		const u8 *p = (const u8 *)(ulong)m->mod_start;
		bool same = !memcmp(p, "SOFTKVM-MODULE\n", 15);
		for (int k = 15; k < MODULE_SIZE; k++)
			same &= p[k] == (u8)(k * 13 + 7);
		report("module contents", same);
		const char *s = (const char *)(ulong)m->string;
		const char *msp = strchr(s, ' ');
		const char *mb = basename_of(s, msp ? (size_t)(msp - s) : strlen(s), &blen);
		report("module string: its file name, then its arguments",
		       blen == 10 && !strncmp(mb, "module.bin", 10) && msp &&
			   !strcmp(msp + 1, "modarg=1"));
	}

	/* the memory map: { u32 size; u64 addr, len; u32 type }, size excludes itself */
	ulong p = mbi->mmap_addr, end = p + mbi->mmap_length;
	bool sizes = true, sorted = true, low = false, high = false, bios_free = true;
	u64 prev_end = 0, ram = 0;
	int n = 0;
	while (p < end && n < 64) {
		const struct mb_mmap *e = (const struct mb_mmap *)p;
		if (e->size < 20)
			sizes = false;
		if (e->addr < prev_end)
			sorted = false;
		prev_end = e->addr + e->len;
		if (e->type == 1) {
			ram += e->len;
			if (e->addr == 0 && e->len >= (u64)mbi->mem_lower << 10)
				low = true;
			if (e->addr <= 0x100000 &&
			    e->addr + e->len >= 0x100000 + ((u64)mbi->mem_upper << 10))
				high = true;
			if (e->addr < 0x100000 && e->addr + e->len > 0xf0000)
				bios_free = false;
		}
		p += e->size + 4;
		n++;
	}
	report("mmap: at least 3 entries of size >= 20", n >= 3 && sizes);
	report("mmap: sorted, no overlaps", sorted);
	report("mmap: RAM from 0 covers mem_lower", low);
	report("mmap: RAM from 1 MiB covers mem_upper", high);
	report("mmap: the BIOS area 0xf0000-0xfffff is not RAM", bios_free);
	report("mmap: no more RAM than the machine has",
	       ram <= (128ull << 20) && ram > (120ull << 20));
	report_summary();
}
