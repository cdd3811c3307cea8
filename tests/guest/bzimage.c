/* SPDX-License-Identifier: MIT */
/*
 * The Linux boot protocol as a boot loader must follow it
 * (Documentation/x86/boot.rst, zero-page.rst), checked from inside a test
 * kernel in bzImage form (make-bzimage.py): the entry state of the 64-bit or
 * 32-bit protocol, the identity map at the 64-bit entry, where the kernel,
 * the command line and the initrd were put, and the boot_params fields a
 * loader fills. Built as
 *   bzimage64: protocol 2.15, XLF_KERNEL_64, relocatable (2 MiB alignment),
 *              initrd_addr_max 64 MiB - 1
 *   bzimage32: protocol 2.10, no xloadflags (32-bit entry), not relocatable,
 *              loaded at pref_address 4 MiB
 * and run with --append "BZ_CMDLINE" --initrd module.bin (5000 bytes).
 */
#include "libtest.h"

#define MODULE_SIZE 5000

extern u64 entry_bp, entry_cr3;
extern u32 entry_mode, entry_eflags, entry_cr0, entry_cr4, entry_efer;
extern u16 entry_cs, entry_ds, entry_es, entry_ss;

static const u8 *bp;

static u8 rd8(unsigned off)
{
	return bp[off];
}

static u16 rd16(unsigned off)
{
	return (u16)(bp[off] | bp[off + 1] << 8);
}

static u32 rd32(unsigned off)
{
	return (u32)rd16(off) | (u32)rd16(off + 2) << 16;
}

static u64 rd64(unsigned off)
{
	return (u64)rd32(off) | (u64)rd32(off + 4) << 32;
}

/* Walk the entry page tables (4-level) for a linear address; true if it maps to itself. */
static bool identity_mapped(u64 cr3, u64 va)
{
	u64 table = cr3 & ~0xfffull;

	for (int level = 3; level >= 0; level--) {
		u64 e = ((const u64 *)(ulong)table)[(va >> (12 + 9 * level)) & 511];
		if (!(e & 1))
			return false;
		if (level == 0 || (level <= 2 && (e & 0x80))) {
			u64 size = 1ull << (12 + 9 * level);
			u64 base = e & 0x000ffffffffff000ull & ~(size - 1);
			return base + (va & (size - 1)) == va;
		}
		table = e & 0x000ffffffffff000ull;
	}
	return false;
}

static bool range_mapped(u64 cr3, u64 lo, u64 hi)
{
	for (u64 a = lo & ~0xfffull; a < hi; a += 4096)
		if (!identity_mapped(cr3, a))
			return false;
	return true;
}

struct e820 {
	u64 addr, len;
	u32 type;
};

static unsigned ne820;
static struct e820 map[128];

static bool in_ram(u64 lo, u64 hi)
{
	for (unsigned k = 0; k < ne820; k++)
		if (map[k].type == 1 && lo >= map[k].addr && hi <= map[k].addr + map[k].len)
			return true;
	return false;
}

int main(void)
{
	u64 load = (ulong)_start;

	bp = (const u8 *)(ulong)entry_bp;
	info("entry %u-bit, boot_params %#llx, load %#llx", entry_mode,
	     (unsigned long long)entry_bp, (unsigned long long)load);

	/* ---- the entry state ---- */
	report("entered through the " BZ_ENTRY_NAME " entry", entry_mode == BZ_MODE);
	report("entry: CS = __BOOT_CS (0x10)", entry_cs == 0x10);
	report("entry: DS, ES, SS = __BOOT_DS (0x18)",
	       entry_ds == 0x18 && entry_es == 0x18 && entry_ss == 0x18);
	report("entry: interrupts disabled", !(entry_eflags & X86_EFLAGS_IF));
#if BZ_MODE == 64
	report("entry: long mode with paging (CR0.PG|PE, CR4.PAE, EFER.LME|LMA)",
	       (entry_cr0 & 0x80000001u) == 0x80000001u && (entry_cr4 & 0x20) &&
		   (entry_efer & 0x500) == 0x500);
#else
	report("entry: protected mode, paging off", (entry_cr0 & 1) && !(entry_cr0 & 0x80000000u));
#endif
	report("RSI points at boot_params (boot flag 0xaa55, \"HdrS\")",
	       rd16(0x1fe) == 0xaa55 && rd32(0x202) == 0x53726448);
	report("boot_params lies outside the kernel",
	       entry_bp + 4096 <= load || entry_bp >= load + rd32(0x260));

	/* ---- the setup header, as copied and filled in ---- */
	report("the setup header is copied (version, init_size, kernel_alignment)",
	       rd16(0x206) == BZ_VERSION && rd32(0x260) >= (ulong)_end - load &&
		   rd32(0x230) == 0x200000);
	report("sentinel (0x1ef) is zero", rd8(0x1ef) == 0);
	report("type_of_loader is set", rd8(0x210) != 0);
	report("loadflags: LOADED_HIGH and CAN_USE_HEAP", (rd8(0x211) & 0x81) == 0x81);
	report("heap_end_ptr is set", rd16(0x224) != 0);
	report("vid_mode is 0xffff (normal)", rd16(0x1fa) == 0xffff);
	report("code32_start is the load address", rd32(0x214) == load);
#if BZ_RELOCATABLE
	report("relocatable: loaded at a multiple of kernel_alignment, from 1 MiB",
	       load >= 0x100000 && !(load & (rd32(0x230) - 1)));
#else
	report("not relocatable: loaded at pref_address", load == rd64(0x258));
#endif

	/* ---- the command line ---- */
	const char *cmd = (const char *)(ulong)rd32(0x228);
	report("cmd_line_ptr holds the command line",
	       rd32(0x228) && rd32(0xc8) == 0 && !strcmp(cmd, BZ_CMDLINE));
	report("the command line fits cmdline_size", strlen(cmd) <= rd32(0x238));

	/* ---- the e820 map ---- */
	ne820 = rd8(0x1e8);
	bool sane = ne820 >= 2 && ne820 <= 128;
	u64 ram = 0;
	for (unsigned k = 0; sane && k < ne820; k++) {
		const u8 *e = bp + 0x2d0 + 20 * k;
		memcpy(&map[k], e, 8);
		memcpy(&map[k].len, e + 8, 8);
		memcpy(&map[k].type, e + 16, 4);
		sane &= map[k].len != 0 && map[k].type >= 1 && map[k].type <= 5;
		if (k)
			sane &= map[k].addr >= map[k - 1].addr + map[k - 1].len;
		if (map[k].type == 1)
			ram += map[k].len;
		info("e820: %#llx-%#llx type %u", (unsigned long long)map[k].addr,
		     (unsigned long long)(map[k].addr + map[k].len - 1), map[k].type);
	}
	report("e820: 2-128 sorted, non-overlapping entries of known types", sane);
	report("e820: RAM from 0 (at least 600 KiB) and from 1 MiB",
	       in_ram(0, 600 << 10) && in_ram(0x100000, 0x200000));
	report("e820: 127-128 MiB of RAM in all (--mem 128M)",
	       ram <= (128ull << 20) && ram >= (127ull << 20));
	report("e820: the kernel and its init_size are in RAM", in_ram(load, load + rd32(0x260)));
	report("e820: boot_params and the command line are in RAM",
	       in_ram(entry_bp, entry_bp + 4096) &&
		   in_ram((ulong)cmd, (ulong)cmd + strlen(cmd) + 1));

	/* ---- the initrd ---- */
	u64 img = rd32(0x218) | (u64)rd32(0xc0) << 32, size = rd32(0x21c) | (u64)rd32(0xc4) << 32;
	u64 top = 0;
	for (unsigned k = 0; k < ne820; k++)
		if (map[k].type == 1 && map[k].addr + map[k].len <= 0x100000000ull &&
		    map[k].addr + map[k].len > top)
			top = map[k].addr + map[k].len;
	if (top > (u64)rd32(0x22c) + 1)
		top = (u64)rd32(0x22c) + 1;
	info("initrd at %#llx, %llu bytes; initrd_addr_max %#x", (unsigned long long)img,
	     (unsigned long long)size, rd32(0x22c));
	report("initrd: ramdisk_size is the file's size", size == MODULE_SIZE);
	report("initrd: page aligned", img && !(img & 0xfff));
	report("initrd: above the kernel's init_size", img >= load + rd32(0x260));
	report("initrd: below initrd_addr_max", img + size - 1 <= rd32(0x22c));
	report("initrd: as high as possible", img == ((top - size) & ~0xfffull));
	bool same = img && size == MODULE_SIZE;
	const u8 *m = (const u8 *)(ulong)img;
	if (same)
		same = !memcmp(m, "SOFTKVM-MODULE\n", 15);
	for (unsigned k = 15; same && k < MODULE_SIZE; k++)
		same = m[k] == (u8)(k * 13 + 7);
	report("initrd: contents", same);

	/* ---- the identity map the 64-bit entry runs on ---- */
#if BZ_MODE == 64
	report("entry page tables identity-map the kernel (init_size), boot_params, cmdline",
	       range_mapped(entry_cr3, load, load + rd32(0x260)) &&
		   range_mapped(entry_cr3, entry_bp, entry_bp + 4096) &&
		   range_mapped(entry_cr3, (ulong)cmd, (ulong)cmd + strlen(cmd) + 1));
#else
	(void)range_mapped;
#endif

	/* ---- ACPI ---- */
	u64 rsdp = rd64(0x70);
#if BZ_VERSION >= 0x20e
	report("acpi_rsdp_addr points at the RSDP",
	       rsdp && rsdp < 0x100000 && !memcmp((const void *)(ulong)rsdp, "RSD PTR ", 8));
#else
	report("acpi_rsdp_addr (2.14+) left zero for protocol 2.10", rsdp == 0);
#endif
	report_summary();
}
