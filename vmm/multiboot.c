/* SPDX-License-Identifier: MIT */
/*
 * Multiboot v1 loading (Multiboot Specification 0.6.96, 3.1 and 3.3), the
 * way QEMU's -kernel does it (hw/i386/multiboot.c):
 *
 * - the header is the first 4-byte aligned magic 0x1BADB002 in the first
 *   8 KiB whose checksum holds; flag bit 16 selects the "a.out kludge"
 *   address fields, otherwise the file must be an ELF32 i386 executable whose
 *   PT_LOAD segments are loaded at their physical addresses (p_paddr);
 * - segments load anywhere in the platform's RAM (its memory map's RAM
 *   entries, less the real-mode IVT and BIOS data area at 0-0x500): below
 *   the EBDA (0x9fc00) or from 1 MiB; never over the EBDA, the VGA hole or
 *   the BIOS area (0x9fc00-0xfffff, where the boot GDT and the ACPI and MP
 *   tables are) nor beyond RAM;
 * - the information structure is at 0x9500 and the memory map at 0x9000
 *   unless a segment is there; then they go to the first page after the
 *   kernel (and after 1 MiB). From that page (or the next, after them) come
 *   the module list and the strings, then each module on its own page;
 * - the command line is "KERNEL APPEND" (QEMU's convention: the first word
 *   is the kernel's file name); a module's string is its --initrd entry.
 *
 * Everything the file says is checked before it is used: a bad kernel gives
 * a message, never a crash.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "multiboot.h"

#define MB_HEADER_MAGIC	    0x1badb002u
#define MB_SEARCH	    8192
#define MB_FLAG_PAGE_ALIGN  (1u << 0)
#define MB_FLAG_MEMORY	    (1u << 1)
#define MB_FLAG_VIDEO	    (1u << 2)
#define MB_FLAG_AOUT_KLUDGE (1u << 16)
#define MB_FLAGS_SUPPORTED  (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY | MB_FLAG_VIDEO)

/* multiboot_info flags (3.3) */
#define MBI_MEMORY  (1u << 0)
#define MBI_BOOTDEV (1u << 1)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS    (1u << 3)
#define MBI_MMAP    (1u << 6)
#define MBI_LOADER  (1u << 9)

#define MBI_MMAP_ADDR 0x9000u
#define MBI_ADDR      0x9500u
#define MBI_SIZE      88u
#define MBI_MAX_MMAP  ((MBI_ADDR - MBI_MMAP_ADDR) / 24)
#define KERNEL_MIN    0x100000u
#define LOW_RAM_MIN   0x500u /* above the real-mode IVT and the BIOS data area */
#define PAGE	      4096u
#define MAX_MODULES   64
#define MAX_SEGMENTS  64

struct loader {
	const struct multiboot_args *a;
	char *err;
	size_t errlen;
	uint32_t lo, hi; /* extent of the loaded image */
	unsigned nseg;	 /* the loaded segments, [start, end) */
	uint64_t seg[MAX_SEGMENTS][2];
};

static int fail(struct loader *l, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->err, l->errlen, fmt, ap);
	va_end(ap);
	return -e;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
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

static uint64_t page_up(uint64_t v)
{
	return (v + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

/* Read a whole regular file of at most max bytes. */
static int read_file(struct loader *l, const char *path, const char *what, uint64_t max,
		     uint8_t **out, size_t *outlen)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(l, errno, "%s '%s': %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		return fail(l, e, "%s '%s': %s", what, path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail(l, EINVAL, "%s '%s': not a regular file", what, path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return fail(l, EFBIG, "%s '%s': too large for guest memory (%llu bytes)", what,
			    path, (unsigned long long)st.st_size);
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return fail(l, ENOMEM, "%s '%s': out of memory", what, path);
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : EIO;
			free(buf);
			close(fd);
			return fail(l, e, "%s '%s': read error: %s", what, path, strerror(e));
		}
		done += (size_t)n;
	}
	close(fd);
	*out = buf;
	*outlen = done;
	return 0;
}

/* [addr, addr + len) must lie in one RAM entry of the platform's map, above
 * LOW_RAM_MIN and below ram_size. */
static bool in_ram(const struct loader *l, uint64_t addr, uint64_t len)
{
	if (addr + len < addr)
		return false;
	for (unsigned k = 0; k < l->a->nmap; k++) {
		const struct e820_entry *e = &l->a->map[k];
		uint64_t lo = e->addr < LOW_RAM_MIN ? LOW_RAM_MIN : e->addr;
		uint64_t hi = e->addr + e->len > l->a->ram_size ? l->a->ram_size : e->addr + e->len;

		if (e->type == E820_RAM && addr >= lo && addr + len <= hi)
			return true;
	}
	return false;
}

/* The RAM a kernel may load into, for messages: "0x500-0x9fc00, 0x100000-0x8000000". */
static const char *ram_ranges(const struct loader *l, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (unsigned k = 0; k < l->a->nmap && n < len; k++) {
		const struct e820_entry *e = &l->a->map[k];
		uint64_t lo = e->addr < LOW_RAM_MIN ? LOW_RAM_MIN : e->addr;
		uint64_t hi = e->addr + e->len > l->a->ram_size ? l->a->ram_size : e->addr + e->len;

		if (e->type != E820_RAM || lo >= hi)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%#llx-%#llx", n ? ", " : "",
				      (unsigned long long)lo, (unsigned long long)hi);
	}
	return buf;
}

static bool overlaps_kernel(const struct loader *l, uint64_t addr, uint64_t len)
{
	for (unsigned k = 0; k < l->nseg; k++)
		if (addr < l->seg[k][1] && l->seg[k][0] < addr + len)
			return true;
	return false;
}

static int note_extent(struct loader *l, uint32_t addr, uint32_t len)
{
	if (l->nseg == MAX_SEGMENTS)
		return fail(l, E2BIG, "'%s': more than %d loadable segments", l->a->kernel,
			    MAX_SEGMENTS);
	l->seg[l->nseg][0] = addr;
	l->seg[l->nseg][1] = (uint64_t)addr + len;
	l->nseg++;
	if (addr < l->lo)
		l->lo = addr;
	if (addr + len > l->hi)
		l->hi = addr + len;
	return 0;
}

/* Find the header: offset or -1. */
static long find_header(const uint8_t *buf, size_t len)
{
	size_t end = len < MB_SEARCH ? len : MB_SEARCH;

	for (size_t i = 0; i + 12 <= end; i += 4) {
		uint32_t magic = rd32(buf + i), flags = rd32(buf + i + 4), sum = rd32(buf + i + 8);
		if (magic == MB_HEADER_MAGIC && (uint32_t)(magic + flags + sum) == 0)
			return (long)i;
	}
	return -1;
}

static int load_aout(struct loader *l, const uint8_t *buf, size_t len, size_t hoff, uint32_t *entry)
{
	const char *path = l->a->kernel;
	const uint8_t *h = buf + hoff;
	uint32_t header_addr, load_addr, load_end, bss_end, text_off;
	uint64_t load_size, mem_size;

	if (hoff + 32 > len)
		return fail(l, ENOEXEC, "'%s': multiboot header truncated (address fields missing)",
			    path);
	header_addr = rd32(h + 12);
	load_addr = rd32(h + 16);
	load_end = rd32(h + 20);
	bss_end = rd32(h + 24);
	*entry = rd32(h + 28);
	if (header_addr < load_addr || header_addr - load_addr > hoff)
		return fail(l, ENOEXEC,
			    "'%s': multiboot header_addr %#x / load_addr %#x do not match the "
			    "header's file offset %#zx",
			    path, header_addr, load_addr, hoff);
	text_off = (uint32_t)(hoff - (header_addr - load_addr));
	if (load_end) {
		if (load_end < load_addr)
			return fail(l, ENOEXEC,
				    "'%s': multiboot load_end_addr %#x below load_addr %#x", path,
				    load_end, load_addr);
		load_size = load_end - load_addr;
		if (text_off + load_size > len)
			return fail(
			    l, ENOEXEC,
			    "'%s': truncated: load_end_addr needs %llu bytes from offset %#x, "
			    "the file has %zu",
			    path, (unsigned long long)load_size, text_off, len);
	} else {
		load_size = len - text_off;
	}
	mem_size = load_size;
	if (bss_end) {
		if (bss_end < load_addr + load_size)
			return fail(l, ENOEXEC,
				    "'%s': multiboot bss_end_addr %#x below the loaded image", path,
				    bss_end);
		mem_size = bss_end - load_addr;
	}
	if (!mem_size)
		return fail(l, ENOEXEC, "'%s': multiboot image is empty", path);
	if (!in_ram(l, load_addr, mem_size)) {
		char ranges[160];
		return fail(l, ERANGE, "'%s': image %#x-%#llx is outside guest RAM (%s)", path,
			    load_addr, (unsigned long long)(load_addr + mem_size),
			    ram_ranges(l, ranges, sizeof(ranges)));
	}
	if (*entry < load_addr || *entry >= load_addr + mem_size)
		return fail(l, ENOEXEC, "'%s': entry point %#x is outside the image %#x-%#llx",
			    path, *entry, load_addr, (unsigned long long)(load_addr + mem_size));
	memcpy(l->a->ram + load_addr, buf + text_off, load_size);
	memset(l->a->ram + load_addr + load_size, 0, mem_size - load_size);
	return note_extent(l, load_addr, (uint32_t)mem_size);
}

static int load_elf(struct loader *l, const uint8_t *buf, size_t len, uint32_t *entry)
{
	const char *path = l->a->kernel;
	Elf32_Ehdr eh;
	bool entry_ok = false;
	unsigned nload = 0;

	if (len < EI_NIDENT || memcmp(buf, ELFMAG, SELFMAG) != 0)
		return fail(l, ENOEXEC,
			    "'%s': not an ELF file, and its multiboot header has no address fields",
			    path);
	if (buf[EI_CLASS] == ELFCLASS64)
		return fail(l, ENOEXEC, "'%s': 64-bit ELF; a multiboot kernel must be ELF32", path);
	if (buf[EI_CLASS] != ELFCLASS32 || buf[EI_DATA] != ELFDATA2LSB)
		return fail(l, ENOEXEC, "'%s': not a little-endian ELF32 file", path);
	if (len < sizeof(eh))
		return fail(l, ENOEXEC, "'%s': truncated ELF header", path);
	memcpy(&eh, buf, sizeof(eh));
	if (eh.e_machine != EM_386)
		return fail(l, ENOEXEC, "'%s': ELF machine %u is not i386", path, eh.e_machine);
	if (eh.e_type != ET_EXEC)
		return fail(l, ENOEXEC, "'%s': not an executable ELF file (type %u)", path,
			    eh.e_type);
	if (eh.e_phnum == 0)
		return fail(l, ENOEXEC, "'%s': ELF file has no program headers", path);
	if (eh.e_phentsize != sizeof(Elf32_Phdr))
		return fail(l, ENOEXEC, "'%s': bad ELF program header size %u", path,
			    eh.e_phentsize);
	if ((uint64_t)eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf32_Phdr) > len)
		return fail(l, ENOEXEC, "'%s': truncated: program headers extend past the end",
			    path);

	for (unsigned pass = 0; pass < 2; pass++) {
		/* pass 0 checks every segment, pass 1 loads */
		for (unsigned k = 0; k < eh.e_phnum; k++) {
			Elf32_Phdr ph;

			memcpy(&ph, buf + eh.e_phoff + k * sizeof(ph), sizeof(ph));
			if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
				continue;
			if (pass == 1) {
				memcpy(l->a->ram + ph.p_paddr, buf + ph.p_offset, ph.p_filesz);
				memset(l->a->ram + ph.p_paddr + ph.p_filesz, 0,
				       ph.p_memsz - ph.p_filesz);
				continue;
			}
			if (ph.p_filesz > ph.p_memsz)
				return fail(
				    l, ENOEXEC,
				    "'%s': bad program header %u: file size %#x > memory size %#x",
				    path, k, ph.p_filesz, ph.p_memsz);
			if ((uint64_t)ph.p_offset + ph.p_filesz > len)
				return fail(
				    l, ENOEXEC,
				    "'%s': truncated: segment %u needs bytes %#x-%#llx, the file "
				    "has %zu",
				    path, k, ph.p_offset,
				    (unsigned long long)ph.p_offset + ph.p_filesz, len);
			if (!in_ram(l, ph.p_paddr, ph.p_memsz)) {
				char ranges[160];
				return fail(l, ERANGE,
					    "'%s': segment %u at %#x-%#llx is outside guest RAM "
					    "(%s)",
					    path, k, ph.p_paddr,
					    (unsigned long long)ph.p_paddr + ph.p_memsz,
					    ram_ranges(l, ranges, sizeof(ranges)));
			}
			/* e_entry is a virtual address: translate it through its segment */
			if (!entry_ok && eh.e_entry >= ph.p_vaddr &&
			    eh.e_entry - ph.p_vaddr < ph.p_memsz) {
				*entry = eh.e_entry - ph.p_vaddr + ph.p_paddr;
				entry_ok = true;
			}
			int r = note_extent(l, ph.p_paddr, ph.p_memsz);
			if (r)
				return r;
			nload++;
		}
		if (pass == 0 && !nload)
			return fail(l, ENOEXEC, "'%s': ELF file has no loadable segments", path);
		if (pass == 0 && !entry_ok)
			return fail(l, ENOEXEC, "'%s': entry point %#x is not in a loaded segment",
				    path, eh.e_entry);
	}
	return 0;
}

static int load_kernel(struct loader *l, uint32_t *entry)
{
	const char *path = l->a->kernel;
	uint8_t *buf;
	size_t len;
	long hoff;
	uint32_t flags;
	int r;

	r = read_file(l, path, "kernel", l->a->ram_size, &buf, &len);
	if (r)
		return r;
	if (len == 0) {
		r = fail(l, ENOEXEC, "'%s': empty file", path);
		goto out;
	}
	hoff = find_header(buf, len);
	if (hoff < 0) {
		r = fail(l, ENOEXEC,
			 "'%s': not a multiboot kernel (no multiboot header in the "
			 "first 8 KiB)",
			 path);
		goto out;
	}
	flags = rd32(buf + hoff + 4);
	if (flags & 0xffff & ~MB_FLAGS_SUPPORTED) {
		r = fail(l, ENOTSUP,
			 "'%s': multiboot header requires unsupported features "
			 "(flags %#x)",
			 path, flags);
		goto out;
	}
	if (flags & MB_FLAG_VIDEO)
		fprintf(stderr, "softkvm: '%s' asks for a video mode; none is set\n", path);
	if (flags & MB_FLAG_AOUT_KLUDGE)
		r = load_aout(l, buf, len, (size_t)hoff, entry);
	else
		r = load_elf(l, buf, len, entry);
out:
	free(buf);
	return r;
}

/* Split the --initrd list: entries separated by ',', ",," stands for a comma. */
static int split_modules(struct loader *l, const char *list, char **ent, unsigned *n)
{
	size_t len = strlen(list);
	char *cur = malloc(len + 1);
	size_t c = 0;

	*n = 0;
	if (!cur)
		return fail(l, ENOMEM, "out of memory");
	for (size_t i = 0;; i++) {
		if (list[i] == ',' && list[i + 1] == ',') {
			cur[c++] = ',';
			i++;
			continue;
		}
		if (list[i] == ',' || list[i] == 0) {
			cur[c] = 0;
			if (!c || cur[0] == ' ') {
				free(cur);
				return fail(l, EINVAL, "--initrd '%s': empty module file name",
					    list);
			}
			if (*n >= MAX_MODULES) {
				free(cur);
				return fail(l, E2BIG, "--initrd: more than %d modules",
					    MAX_MODULES);
			}
			ent[(*n)++] = strdup(cur);
			if (!ent[*n - 1]) {
				free(cur);
				return fail(l, ENOMEM, "out of memory");
			}
			c = 0;
			if (!list[i])
				break;
			continue;
		}
		cur[c++] = list[i];
	}
	free(cur);
	return 0;
}

int multiboot_load(const struct multiboot_args *a, struct multiboot_boot *out, char *err,
		   size_t errlen)
{
	struct loader l = {.a = a, .err = err, .errlen = errlen, .lo = UINT32_MAX, .hi = 0};
	char *mods[MAX_MODULES];
	unsigned nmods = 0, nmap;
	uint64_t info, strings, str_end, next, mem_upper_end, mbi_addr, mmap_addr;
	uint32_t entry = 0;
	uint8_t *mbi, *modlist;
	int r;

	err[0] = 0;
	if (a->ram_size < 2 * KERNEL_MIN || a->ram_size > 0x100000000ull)
		return fail(&l, EINVAL, "guest RAM below 4 GiB must be 2 MiB-4 GiB");
	r = load_kernel(&l, &entry);
	if (r)
		return r;
	if (a->initrd) {
		r = split_modules(&l, a->initrd, mods, &nmods);
		if (r)
			goto out;
	}

	/*
	 * The information structure and the memory map at 0x9500 and 0x9000,
	 * unless a segment of the kernel is there; then on the first page after
	 * the kernel and 1 MiB, where the module list, the strings and the
	 * modules follow.
	 */
	nmap = a->nmap < MBI_MAX_MMAP ? a->nmap : MBI_MAX_MMAP;
	info = page_up(l.hi > KERNEL_MIN ? l.hi : KERNEL_MIN);
	if (!overlaps_kernel(&l, MBI_MMAP_ADDR, MBI_ADDR + MBI_SIZE - MBI_MMAP_ADDR)) {
		mbi_addr = MBI_ADDR;
		mmap_addr = MBI_MMAP_ADDR;
	} else {
		mbi_addr = info;
		mmap_addr = info + MBI_SIZE;
		info = (mmap_addr + 24ull * nmap + 15) & ~15ull;
	}
	strings = info + 16ull * nmods;
	str_end = strings;
	for (unsigned k = 0; k < nmods; k++)
		str_end += strlen(mods[k]) + 1;
	str_end += strlen(a->kernel) + 1 + strlen(a->append) + 1;
	str_end += strlen(a->loader_name) + 1;
	if (str_end > a->ram_size) {
		r = fail(&l, ENOMEM,
			 "kernel command line and boot information do not fit in "
			 "guest RAM (--mem)");
		goto out;
	}
	modlist = a->ram + info;
	memset(modlist, 0, str_end - info);
	next = page_up(str_end);

	/* modules, each page aligned, with their --initrd entry as the string */
	uint64_t sp = strings;
	for (unsigned k = 0; k < nmods; k++) {
		char *file = strdup(mods[k]), *space;
		uint8_t *buf;
		size_t len;

		if (!file) {
			r = fail(&l, ENOMEM, "out of memory");
			goto out;
		}
		space = strchr(file, ' ');
		if (space)
			*space = 0;
		r = read_file(&l, file, "module", a->ram_size, &buf, &len);
		free(file);
		if (r)
			goto out;
		if (next + len > a->ram_size) {
			free(buf);
			r = fail(&l, ENOMEM, "module '%s' does not fit in guest RAM (--mem)",
				 mods[k]);
			goto out;
		}
		memcpy(a->ram + next, buf, len);
		free(buf);
		wr32(modlist + 16 * k, (uint32_t)next);
		wr32(modlist + 16 * k + 4, (uint32_t)(next + len));
		wr32(modlist + 16 * k + 8, (uint32_t)sp);
		strcpy((char *)a->ram + sp, mods[k]);
		sp += strlen(mods[k]) + 1;
		next = page_up(next + len);
	}

	/* the information structure */
	mbi = a->ram + mbi_addr;
	memset(mbi, 0, MBI_SIZE);
	wr32(mbi + 0, MBI_MEMORY | MBI_BOOTDEV | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER);
	mem_upper_end = KERNEL_MIN;
	for (unsigned k = 0; k < a->nmap; k++) {
		const struct e820_entry *e = &a->map[k];
		if (e->type == E820_RAM && e->addr <= mem_upper_end &&
		    e->addr + e->len > mem_upper_end)
			mem_upper_end = e->addr + e->len;
	}
	if (mem_upper_end > 0x100000000ull)
		mem_upper_end = 0x100000000ull;
	wr32(mbi + 4, 639); /* KiB below the EBDA at 0x9fc00 */
	wr32(mbi + 8, (uint32_t)((mem_upper_end - KERNEL_MIN) >> 10));
	wr32(mbi + 12, 0x8000ffff); /* boot device: first BIOS disk, as QEMU says */
	snprintf((char *)a->ram + sp, a->ram_size - sp, "%s %s", a->kernel, a->append);
	wr32(mbi + 16, (uint32_t)sp);
	sp += strlen((char *)a->ram + sp) + 1;
	wr32(mbi + 20, nmods);
	wr32(mbi + 24, (uint32_t)info);
	for (unsigned k = 0; k < nmap; k++) {
		uint8_t *m = a->ram + mmap_addr + 24 * k;
		wr32(m, 20);
		wr64(m + 4, a->map[k].addr);
		wr64(m + 12, a->map[k].len);
		wr32(m + 20, a->map[k].type);
	}
	wr32(mbi + 44, 24 * nmap);
	wr32(mbi + 48, (uint32_t)mmap_addr);
	strcpy((char *)a->ram + sp, a->loader_name);
	wr32(mbi + 64, (uint32_t)sp);

	out->entry = entry;
	out->mbi = (uint32_t)mbi_addr;
	out->kernel_lo = l.lo;
	out->kernel_hi = l.hi;
	out->info_end = (uint32_t)next;
	r = 0;
out:
	for (unsigned k = 0; k < nmods; k++)
		free(mods[k]);
	return r;
}
