/* SPDX-License-Identifier: MIT */
/*
 * Linux loaders (Documentation/x86/boot.rst, zero-page.rst), as kvmtool and
 * Firecracker do it:
 *
 * - bzImage: the setup header is checked (boot flag, "HdrS", protocol 2.06
 *   or later, LOADED_HIGH) and copied into a zeroed boot_params at 0x7000;
 *   the protected-mode kernel goes to the first address from 1 MiB up that
 *   satisfies kernel_alignment (relocatable kernels) or to pref_address /
 *   1 MiB, with init_size bytes of RAM from there. A kernel that sets
 *   XLF_KERNEL_64 (2.12+) is entered at its 64-bit entry (load address +
 *   0x200) in long mode with 0-4 GiB identity mapped by 2 MiB pages; older
 *   ones at the 32-bit entry (code32_start) with paging off. Both get a flat
 *   GDT with __BOOT_CS = 0x10 and __BOOT_DS = 0x18, interrupts off and RSI
 *   pointing at boot_params.
 * - vmlinux (ELF64 x86-64): PT_LOAD segments at their physical addresses,
 *   entered at e_entry (phys_startup_64) the same way, with a setup header
 *   made up by the loader.
 *
 * Both take the command line at 0x20000, the e820 map from the platform, and
 * the initrd at the top of RAM below initrd_addr_max, page aligned.
 * Everything in the file is checked before it is used.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader_linux.h"

/* setup header offsets, in the file and in boot_params alike */
#define HDR_SETUP_SECTS	    0x1f1
#define HDR_VID_MODE	    0x1fa
#define HDR_BOOT_FLAG	    0x1fe
#define HDR_HEADER	    0x202
#define HDR_VERSION	    0x206
#define HDR_TYPE_OF_LOADER  0x210
#define HDR_LOADFLAGS	    0x211
#define HDR_CODE32_START    0x214
#define HDR_RAMDISK_IMAGE   0x218
#define HDR_RAMDISK_SIZE    0x21c
#define HDR_HEAP_END_PTR    0x224
#define HDR_CMD_LINE_PTR    0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGN    0x230
#define HDR_RELOCATABLE	    0x234
#define HDR_XLOADFLAGS	    0x236
#define HDR_CMDLINE_SIZE    0x238
#define HDR_PREF_ADDRESS    0x258
#define HDR_INIT_SIZE	    0x260
#define HDR_MAX_END	    0x290 /* sizeof(struct setup_header) ends here in 6.1 */

/* boot_params outside the setup header */
#define BP_ACPI_RSDP_ADDR   0x070
#define BP_EXT_RAMDISK_IMG  0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES	    0x1e8
#define BP_E820_TABLE	    0x2d0
#define BP_E820_MAX	    128

#define HDRS_MAGIC	0x53726448u /* "HdrS" */
#define LOADED_HIGH	0x01
#define CAN_USE_HEAP	0x80
#define XLF_KERNEL_64	0x01
#define MB_HEADER_MAGIC 0x1badb002u
#define PAGE		4096u

struct ldr {
	const struct linux_args *a;
	char *err;
	size_t errlen;
};

static int fail(struct ldr *l, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->err, l->errlen, fmt, ap);
	va_end(ap);
	return -e;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

/* Read the whole file (at most max bytes) into a new buffer. */
static int read_file(struct ldr *l, const char *path, uint64_t max, uint8_t **buf, size_t *len)
{
	struct stat st;
	uint8_t *b;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fail(l, errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(l, EINVAL, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return fail(l, EFBIG, "%s: %llu bytes do not fit in guest RAM (--mem)", path,
			    (unsigned long long)st.st_size);
	}
	b = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!b) {
		close(fd);
		return fail(l, ENOMEM, "%s: out of memory", path);
	}
	while (done < (size_t)st.st_size) {
		ssize_t r = read(fd, b + done, (size_t)st.st_size - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			free(b);
			close(fd);
			return fail(l, e, "%s: read error: %s", path, strerror(e));
		}
		done += (size_t)r;
	}
	close(fd);
	*buf = b;
	*len = done;
	return 0;
}

static bool has_multiboot_header(const uint8_t *b, size_t len)
{
	for (size_t off = 0; off + 12 <= len && off < 8192; off += 4)
		if (rd32(b + off) == MB_HEADER_MAGIC &&
		    (uint32_t)(rd32(b + off) + rd32(b + off + 4) + rd32(b + off + 8)) == 0)
			return true;
	return false;
}

int kernel_probe(const char *path, enum kernel_format *fmt, char *err, size_t errlen)
{
	struct ldr l = {.err = err, .errlen = errlen};
	uint8_t b[8192];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fail(&l, errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(&l, EINVAL, "%s: not a regular file", path);
	}
	n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n < 0)
		return fail(&l, errno, "%s: read error: %s", path, strerror(errno));
	*fmt = KERNEL_MULTIBOOT; /* the multiboot loader explains what is wrong with others */
	if (n >= HDR_HEADER + 4 && rd32(b + HDR_HEADER) == HDRS_MAGIC)
		*fmt = KERNEL_BZIMAGE;
	else if (n >= EI_NIDENT && !memcmp(b, ELFMAG, SELFMAG) && b[EI_CLASS] == ELFCLASS64 &&
		 !has_multiboot_header(b, (size_t)n))
		*fmt = KERNEL_VMLINUX;
	return 0;
}

/* ---- what both loaders share ---- */

static void write_gdt(uint8_t *ram, bool long_mode)
{
	uint8_t *g = ram + LINUX_GDT_ADDR;

	memset(g, 0, 4 * 8);
	/* 0x10: __BOOT_CS, flat, execute/read (L for 64-bit); 0x18: __BOOT_DS, read/write */
	wr64(g + LINUX_BOOT_CS, long_mode ? 0x00af9b000000ffffull : 0x00cf9b000000ffffull);
	wr64(g + LINUX_BOOT_DS, 0x00cf93000000ffffull);
}

/* PML4 -> PDPT -> 4 PDs of 2 MiB pages: 0-4 GiB identity mapped (SDM Vol. 3A, 4.5) */
static void write_page_tables(uint8_t *ram)
{
	uint8_t *pml4 = ram + LINUX_PML4_ADDR, *pdpt = pml4 + PAGE, *pd = pdpt + PAGE;

	memset(pml4, 0, 6 * PAGE);
	wr64(pml4, (LINUX_PML4_ADDR + PAGE) | 0x3);
	for (unsigned k = 0; k < 4; k++)
		wr64(pdpt + 8 * k, (LINUX_PML4_ADDR + (2 + k) * PAGE) | 0x3);
	for (uint64_t k = 0; k < 4 * 512; k++)
		wr64(pd + 8 * k, (k << 21) | 0x83); /* P, RW, PS */
}

static int write_cmdline(struct ldr *l, uint8_t *bp, uint32_t max_len)
{
	const char *s = l->a->append ? l->a->append : "";
	size_t n = strlen(s);

	if (max_len > LINUX_CMDLINE_MAX - 1)
		max_len = LINUX_CMDLINE_MAX - 1;
	if (n > max_len)
		return fail(l, E2BIG, "--append: the command line has %zu bytes, %s accepts %u", n,
			    l->a->kernel, max_len);
	memcpy(l->a->ram + LINUX_CMDLINE_ADDR, s, n + 1);
	wr32(bp + HDR_CMD_LINE_PTR, LINUX_CMDLINE_ADDR);
	return 0;
}

static void write_e820(const struct ldr *l, uint8_t *bp)
{
	unsigned n = 0;

	for (unsigned k = 0; k < l->a->nmap && n < BP_E820_MAX; k++, n++) {
		uint8_t *e = bp + BP_E820_TABLE + 20 * n;
		wr64(e, l->a->map[k].addr);
		wr64(e + 8, l->a->map[k].len);
		wr32(e + 16, l->a->map[k].type);
	}
	bp[BP_E820_ENTRIES] = (uint8_t)n;
}

/*
 * The initrd at the top of RAM below initrd_addr_max, page aligned
 * (boot.rst: "as high as possible"), above everything the kernel needs.
 */
static int load_initrd(struct ldr *l, uint8_t *bp, uint64_t kernel_hi, uint64_t initrd_max,
		       struct linux_boot *out)
{
	const char *path = l->a->initrd;
	struct stat st;
	uint64_t top, addr;
	size_t done = 0;
	int fd;

	if (!path || !*path)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(l, errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(l, EINVAL, "%s: not a regular file", path);
	}
	top = l->a->ram_size < initrd_max + 1 ? l->a->ram_size : initrd_max + 1;
	if ((uint64_t)st.st_size > top ||
	    ((top - (uint64_t)st.st_size) & ~(uint64_t)(PAGE - 1)) < kernel_hi) {
		close(fd);
		return fail(l, ENOMEM,
			    "%s: the initrd (%llu KiB) does not fit between the kernel (up to "
			    "%#llx) and %#llx (more --mem?)",
			    path, (unsigned long long)(st.st_size >> 10),
			    (unsigned long long)kernel_hi, (unsigned long long)top);
	}
	addr = (top - (uint64_t)st.st_size) & ~(uint64_t)(PAGE - 1);
	while (done < (size_t)st.st_size) {
		ssize_t r =
		    pread(fd, l->a->ram + addr + done, (size_t)st.st_size - done, (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			close(fd);
			return fail(l, e, "%s: read error: %s", path, strerror(e));
		}
		done += (size_t)r;
	}
	close(fd);
	wr32(bp + HDR_RAMDISK_IMAGE, (uint32_t)addr);
	wr32(bp + HDR_RAMDISK_SIZE, (uint32_t)st.st_size);
	wr32(bp + BP_EXT_RAMDISK_IMG, (uint32_t)(addr >> 32));
	wr32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)st.st_size >> 32));
	out->initrd_lo = addr;
	out->initrd_hi = addr + (uint64_t)st.st_size;
	return 0;
}

/* The fields every loader fills (boot.rst, "Details of header fields"). */
static void fill_loader_fields(const struct ldr *l, uint8_t *bp)
{
	wr16(bp + HDR_VID_MODE, 0xffff); /* "normal" */
	bp[HDR_TYPE_OF_LOADER] = 0xff;	 /* undefined boot loader */
	bp[HDR_LOADFLAGS] |= CAN_USE_HEAP;
	wr16(bp + HDR_HEAP_END_PTR, 0xfe00 - 0x200);
	wr32(bp + BP_EXT_CMD_LINE_PTR, 0);
	if (l->a->rsdp && rd16(bp + HDR_VERSION) >= 0x20e)
		wr64(bp + BP_ACPI_RSDP_ADDR, l->a->rsdp);
	write_e820(l, bp);
}

static int check_fits(struct ldr *l, const char *what, uint64_t lo, uint64_t size)
{
	if (lo < LINUX_KERNEL_MIN || size > l->a->ram_size || lo > l->a->ram_size - size)
		return fail(l, ENOMEM,
			    "%s: %s [%#llx, %#llx) does not fit in guest RAM below %#llx (more "
			    "--mem?)",
			    l->a->kernel, what, (unsigned long long)lo,
			    (unsigned long long)(lo + size), (unsigned long long)l->a->ram_size);
	return 0;
}

/* ---- bzImage ---- */

int linux_load_bzimage(const struct linux_args *a, struct linux_boot *out, char *err, size_t errlen)
{
	struct ldr l = {.a = a, .err = err, .errlen = errlen};
	uint8_t *b = NULL, *bp = a->ram + LINUX_ZERO_PAGE;
	size_t len;
	uint64_t load, need, initrd_max;
	unsigned setup_sects, setup_size, hdr_end;
	uint16_t version;
	int r;

	memset(out, 0, sizeof(*out));
	if (a->ram_size < (4u << 20))
		return fail(&l, ENOMEM, "%s: a Linux guest needs at least 4 MiB of RAM (--mem)",
			    a->kernel);
	r = read_file(&l, a->kernel, a->ram_size, &b, &len);
	if (r)
		return r;
	r = -EINVAL;
	if (len < 1024 || rd32(b + HDR_HEADER) != HDRS_MAGIC) {
		fail(&l, EINVAL, "%s: truncated bzImage (%zu bytes)", a->kernel, len);
		goto out;
	}
	if (rd16(b + HDR_BOOT_FLAG) != 0xaa55) {
		fail(&l, EINVAL, "%s: not a bzImage: boot flag %#x, not 0xaa55", a->kernel,
		     rd16(b + HDR_BOOT_FLAG));
		goto out;
	}
	version = rd16(b + HDR_VERSION);
	if (version < 0x206) {
		fail(&l, EINVAL, "%s: boot protocol %u.%02u is too old (2.06 or later needed)",
		     a->kernel, version >> 8, version & 0xff);
		goto out;
	}
	if (!(b[HDR_LOADFLAGS] & LOADED_HIGH)) {
		fail(&l, EINVAL, "%s: a zImage (loaded low) is not supported, only bzImage",
		     a->kernel);
		goto out;
	}
	setup_sects = b[HDR_SETUP_SECTS] ? b[HDR_SETUP_SECTS] : 4;
	setup_size = (setup_sects + 1) * 512;
	hdr_end = 0x202u + b[0x201];
	if (hdr_end > HDR_MAX_END)
		hdr_end = HDR_MAX_END;
	if (setup_size >= len || hdr_end > setup_size) {
		fail(&l, EINVAL, "%s: truncated bzImage: %u setup sectors, %zu bytes", a->kernel,
		     setup_sects, len);
		goto out;
	}

	/* where the protected-mode kernel goes (boot.rst, "Loading the rest of the kernel") */
	if (b[HDR_RELOCATABLE]) {
		uint32_t align = rd32(b + HDR_KERNEL_ALIGN);
		if (!align || (align & (align - 1)) || align > (1u << 30)) {
			fail(&l, EINVAL, "%s: bad kernel_alignment %#x", a->kernel, align);
			goto out;
		}
		load = ((uint64_t)LINUX_KERNEL_MIN + align - 1) & ~(uint64_t)(align - 1);
	} else {
		load = version >= 0x20a ? rd64(b + HDR_PREF_ADDRESS) : LINUX_KERNEL_MIN;
	}
	need = len - setup_size;
	if (version >= 0x20a && rd32(b + HDR_INIT_SIZE) > need)
		need = rd32(b + HDR_INIT_SIZE);
	r = check_fits(&l, "the kernel and its init_size", load, need);
	if (r)
		goto out;
	out->long_mode = version >= 0x20c && (rd16(b + HDR_XLOADFLAGS) & XLF_KERNEL_64);
	if (!out->long_mode && load + need > 0xffffffffull) {
		r = fail(&l, EINVAL, "%s: a 32-bit entry needs the kernel below 4 GiB", a->kernel);
		goto out;
	}

	memset(bp, 0, PAGE);
	memcpy(bp + HDR_SETUP_SECTS, b + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS);
	memcpy(a->ram + load, b + setup_size, len - setup_size);
	fill_loader_fields(&l, bp);
	wr32(bp + HDR_CODE32_START, (uint32_t)load);
	r = write_cmdline(&l, bp, rd32(b + HDR_CMDLINE_SIZE));
	if (r)
		goto out;
	initrd_max = version >= 0x203 ? rd32(b + HDR_INITRD_ADDR_MAX) : 0x37ffffff;
	out->kernel_lo = load;
	out->kernel_hi = load + need;
	r = load_initrd(&l, bp, out->kernel_hi, initrd_max, out);
	if (r)
		goto out;
	write_gdt(a->ram, out->long_mode);
	write_page_tables(a->ram);
	out->entry = out->long_mode ? load + 0x200 : load;
	out->boot_params = LINUX_ZERO_PAGE;
out:
	free(b);
	return r;
}

/* ---- vmlinux (ELF64) ---- */

int linux_load_vmlinux(const struct linux_args *a, struct linux_boot *out, char *err, size_t errlen)
{
	struct ldr l = {.a = a, .err = err, .errlen = errlen};
	uint8_t *b = NULL, *bp = a->ram + LINUX_ZERO_PAGE;
	const Elf64_Ehdr *eh;
	uint64_t lo = UINT64_MAX, hi = 0, entry;
	bool entry_ok = false;
	size_t len;
	int r;

	memset(out, 0, sizeof(*out));
	r = read_file(&l, a->kernel, 1ull << 31, &b, &len);
	if (r)
		return r;
	r = -EINVAL;
	eh = (const Elf64_Ehdr *)b;
	if (len < sizeof(*eh)) {
		fail(&l, EINVAL, "%s: truncated ELF header", a->kernel);
		goto out;
	}
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64 ||
	    eh->e_type != ET_EXEC) {
		fail(&l, EINVAL, "%s: not an x86-64 executable ELF (vmlinux)", a->kernel);
		goto out;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || !eh->e_phnum || eh->e_phoff > len ||
	    (len - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum) {
		fail(&l, EINVAL, "%s: bad program header table", a->kernel);
		goto out;
	}
	entry = eh->e_entry;
	for (unsigned pass = 0; pass < 2; pass++) {
		for (unsigned k = 0; k < eh->e_phnum; k++) {
			Elf64_Phdr ph;

			memcpy(&ph, b + eh->e_phoff + k * sizeof(ph), sizeof(ph));
			if (ph.p_type != PT_LOAD || !ph.p_memsz)
				continue;
			if (pass == 0) {
				if (ph.p_filesz > ph.p_memsz || ph.p_offset > len ||
				    len - ph.p_offset < ph.p_filesz) {
					fail(&l, EINVAL, "%s: segment %u lies outside the file",
					     a->kernel, k);
					goto out;
				}
				r = check_fits(&l, "a segment", ph.p_paddr, ph.p_memsz);
				if (r)
					goto out;
				r = -EINVAL;
				lo = ph.p_paddr < lo ? ph.p_paddr : lo;
				hi = ph.p_paddr + ph.p_memsz > hi ? ph.p_paddr + ph.p_memsz : hi;
				/* e_entry is physical (phys_startup_64), or virtual in a segment */
				if (entry - ph.p_paddr < ph.p_memsz) {
					entry_ok = true;
				} else if (entry - ph.p_vaddr < ph.p_memsz) {
					entry = entry - ph.p_vaddr + ph.p_paddr;
					entry_ok = true;
				}
				continue;
			}
			memcpy(a->ram + ph.p_paddr, b + ph.p_offset, ph.p_filesz);
			memset(a->ram + ph.p_paddr + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		}
		if (pass == 0 && !hi) {
			fail(&l, EINVAL, "%s: no loadable segment", a->kernel);
			goto out;
		}
		if (pass == 0 && !entry_ok) {
			fail(&l, EINVAL, "%s: entry point %#llx is in no segment", a->kernel,
			     (unsigned long long)eh->e_entry);
			goto out;
		}
	}

	/* a setup header as a 2.15 bzImage would have it (boot.rst, zero-page.rst) */
	memset(bp, 0, PAGE);
	wr16(bp + HDR_BOOT_FLAG, 0xaa55);
	wr32(bp + HDR_HEADER, HDRS_MAGIC);
	wr16(bp + HDR_VERSION, 0x020f);
	bp[HDR_LOADFLAGS] = LOADED_HIGH;
	wr32(bp + HDR_CODE32_START, (uint32_t)lo);
	wr32(bp + HDR_INITRD_ADDR_MAX, 0x7fffffff);
	wr32(bp + HDR_KERNEL_ALIGN, 0x200000);
	wr32(bp + HDR_CMDLINE_SIZE, LINUX_CMDLINE_MAX - 1);
	wr64(bp + HDR_PREF_ADDRESS, lo);
	wr32(bp + HDR_INIT_SIZE, (uint32_t)(hi - lo));
	fill_loader_fields(&l, bp);
	r = write_cmdline(&l, bp, LINUX_CMDLINE_MAX - 1);
	if (r)
		goto out;
	out->kernel_lo = lo;
	out->kernel_hi = hi;
	r = load_initrd(&l, bp, hi, 0x7fffffff, out);
	if (r)
		goto out;
	out->long_mode = true;
	write_gdt(a->ram, true);
	write_page_tables(a->ram);
	out->entry = entry;
	out->boot_params = LINUX_ZERO_PAGE;
out:
	free(b);
	return r;
}
