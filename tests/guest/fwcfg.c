/* SPDX-License-Identifier: MIT */
/*
 * QEMU fw_cfg, traditional I/O interface (QEMU docs/specs/fw_cfg.txt):
 * selector 0x510 (16-bit write), data 0x511 (byte reads). Run with
 * "cpus=N mem=M" on the command line (M in MiB), matching -smp/-m.
 */
#include "libtest.h"

#define FW_CFG_CTL  0x510
#define FW_CFG_DATA 0x511

static void select_key(u16 key)
{
	outw(FW_CFG_CTL, key);
}

static void read_bytes(void *buf, unsigned n)
{
	u8 *p = buf;
	while (n--)
		*p++ = inb(FW_CFG_DATA);
}

static u64 read_le(u16 key, unsigned n)
{
	u8 b[8] = {0};
	u64 v = 0;

	select_key(key);
	read_bytes(b, n);
	for (int k = (int)n - 1; k >= 0; k--)
		v = v << 8 | b[k];
	return v;
}

static u32 be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

int main(void)
{
	char sig[5] = {0};
	ulong cpus = cmdline_ulong("cpus", 1), mem = cmdline_ulong("mem", 128);

	select_key(0x0000);
	read_bytes(sig, 4);
	report("signature is \"QEMU\"", !strcmp(sig, "QEMU"));
	select_key(0x0000);
	sig[0] = (char)inb(FW_CFG_CTL); /* a byte read of the selector port reads data too */
	sig[1] = (char)inb(FW_CFG_DATA);
	report("selecting rewinds; byte reads of 0x510 return data",
	       sig[0] == 'Q' && sig[1] == 'E');
	outb(FW_CFG_DATA, 0xaa); /* data writes are ignored */
	report("data writes are ignored", inb(FW_CFG_DATA) == 'M' && inb(FW_CFG_DATA) == 'U');
	report("reads past the end of an item return 0",
	       inb(FW_CFG_DATA) == 0 && inb(FW_CFG_DATA) == 0);

	u32 id = (u32)read_le(0x0001, 4);
	report("ID: traditional interface bit set", id & 1);
	u64 nb = read_le(0x0005, 2), max = read_le(0x000f, 2), ram = read_le(0x0003, 8);
	reportf(nb == cpus, "NB_CPUS = %lu", cpus);
	report("MAX_CPUS >= NB_CPUS", max >= nb && max < 1024);
	reportf(ram == (u64)mem << 20, "RAM_SIZE = %lu MiB", mem);

	select_key(0x3fff); /* no such item */
	report("an unknown key reads as 0", inb(FW_CFG_DATA) == 0 && inb(FW_CFG_DATA) == 0);

	/* the file directory: be32 count, then { be32 size, be16 select, be16 rsvd, name[56] } */
	u8 cnt[4], ent[64];
	char prev[57] = "";
	bool sorted = true, found = false;
	u32 e820_size = 0;
	u16 e820_key = 0;

	select_key(0x0019);
	read_bytes(cnt, 4);
	u32 n = be32(cnt);
	report("file directory: 1-100 files", n >= 1 && n <= 100);
	for (u32 k = 0; k < n && k < 100; k++) {
		read_bytes(ent, 64);
		ent[63] = 0;
		const char *name = (const char *)ent + 8;
		if (k && strcmp(prev, name) >= 0)
			sorted = false;
		memcpy(prev, name, 56);
		if (!strcmp(name, "etc/e820")) {
			found = true;
			e820_size = be32(ent);
			e820_key = (u16)(ent[4] << 8 | ent[5]);
		}
	}
	report("file directory sorted by name", sorted);
	report("etc/e820 listed", found && e820_key >= 0x20);
	report("etc/e820: whole 20-byte entries", e820_size && e820_size % 20 == 0);
	if (found) {
		/* QEMU may list reserved ranges too (e.g. the HyperTransport hole), in any order */
		bool ram0 = false;
		select_key(e820_key);
		for (u32 k = 0; k < e820_size / 20 && k < 32; k++) {
			u8 e[20];
			u64 addr = 0, len = 0;
			read_bytes(e, 20);
			for (int b = 7; b >= 0; b--) {
				addr = addr << 8 | e[b];
				len = len << 8 | e[8 + b];
			}
			if (addr == 0 && e[16] == 1 && len == (u64)mem << 20)
				ram0 = true;
		}
		reportf(ram0, "etc/e820: RAM from 0, %lu MiB", mem);
	}
	report_summary();
}
