/* SPDX-License-Identifier: MIT */
/*
 * PCI configuration mechanism #1 (0xcf8/0xcfc), the i440FX host bridge,
 * and QEMU's pci-testdev (1b36:0005): identification, BAR types and the
 * sizing protocol, decoding controlled by the command register, the
 * device's test protocol through both BARs (kvm-unit-tests' criteria), and
 * BARs moved by the guest.
 */
#include "libtest.h"

static u32 cfg_addr(int dev, int fn, int reg)
{
	return 0x80000000u | (u32)dev << 11 | (u32)fn << 8 | (u32)(reg & 0xfc);
}

static u32 cfg_read32(int dev, int reg)
{
	outl(0xcf8, cfg_addr(dev, 0, reg));
	return inl(0xcfc);
}

static u16 cfg_read16(int dev, int reg)
{
	outl(0xcf8, cfg_addr(dev, 0, reg));
	return inw(0xcfc + (reg & 2));
}

static u8 cfg_read8(int dev, int reg)
{
	outl(0xcf8, cfg_addr(dev, 0, reg));
	return inb(0xcfc + (reg & 3));
}

static void cfg_write32(int dev, int reg, u32 v)
{
	outl(0xcf8, cfg_addr(dev, 0, reg));
	outl(0xcfc, v);
}

static void cfg_write16(int dev, int reg, u16 v)
{
	outl(0xcf8, cfg_addr(dev, 0, reg));
	outw(0xcfc + (reg & 2), v);
}

static void cfg_write8(int dev, int reg, u8 v)
{
	outl(0xcf8, cfg_addr(dev, 0, reg));
	outb(0xcfc + (reg & 3), v);
}

/* ---- the pci-testdev protocol, through one BAR ---- */

struct bar_io {
	bool mmio;
	ulong base;
};

static u8 bar_rb(const struct bar_io *b, unsigned off)
{
	return b->mmio ? readb(b->base + off) : inb((u16)(b->base + off));
}

static u32 bar_rl(const struct bar_io *b, unsigned off)
{
	return b->mmio ? readl(b->base + off) : inl((u16)(b->base + off));
}

static void bar_wb(const struct bar_io *b, unsigned off, u8 v)
{
	if (b->mmio)
		writeb(b->base + off, v);
	else
		outb((u16)(b->base + off), v);
}

/* select test n: header { u8 test, width, pad[2]; u32 offset; u8 data, pad[3]; u32 count; name } */
static bool run_testdev(const struct bar_io *b, unsigned n, const char *want_name, u32 *count_out,
			bool wrong_data)
{
	char name[32];
	unsigned k;

	bar_wb(b, 0, (u8)n);
	if (bar_rl(b, 12) != 0)
		return false;
	if (bar_rb(b, 1) != 1) /* width */
		return false;
	for (k = 0; k < sizeof(name) - 1; k++) {
		name[k] = (char)bar_rb(b, 16 + k);
		if (!name[k])
			break;
	}
	name[k] = 0;
	if (strcmp(name, want_name))
		return false;
	u32 off = bar_rl(b, 4);
	u8 data = bar_rb(b, 8);
	for (int i = 0; i < 16; i++)
		bar_wb(b, off, wrong_data ? (u8)~data : data);
	*count_out = bar_rl(b, 12);
	return true;
}

static void testdev_round(const struct bar_io *b, const char *where)
{
	static const char *const names[2][3] = {
	    {"mmio-no-eventfd", "mmio-wildcard-eventfd", "mmio-datamatch-eventfd"},
	    {"portio-no-eventfd", "portio-wildcard-eventfd", "portio-datamatch-eventfd"},
	};
	int type = b->mmio ? 0 : 1;
	u32 c = ~0u;

	bool ok = run_testdev(b, 0, names[type][0], &c, false);
	reportf(ok && c == 16, "%s: %s counts all 16 writes", where, names[type][0]);
	/* with an ioeventfd behind them (QEMU) the writes are consumed: 0 or 16 both pass */
	ok = run_testdev(b, 1, names[type][1], &c, false);
	reportf(ok && (c == 0 || c == 16), "%s: %s", where, names[type][1]);
	ok = run_testdev(b, 2, names[type][2], &c, false);
	reportf(ok && (c == 0 || c == 16), "%s: %s", where, names[type][2]);
	ok = run_testdev(b, 2, names[type][2], &c, true);
	reportf(ok && c == 0, "%s: datamatch ignores other data", where);
}

int main(void)
{
	outl(0xcf8, 0x80001234u & ~3u);
	report("0xcf8 latches a dword and reads it back", inl(0xcf8) == 0x80001234u);

	u32 id0 = cfg_read32(0, 0);
	report("00:00.0 is the i440FX host bridge (8086:1237)", id0 == 0x12378086);
	report("host bridge class 06/00", cfg_read16(0, 0x0a) == 0x0600);
	report("byte and word reads agree with the dword",
	       cfg_read8(0, 0) == 0x86 && cfg_read8(0, 3) == 0x12 && cfg_read16(0, 2) == 0x1237);
	report("slot 31 is empty: all ones", cfg_read32(31, 0) == 0xffffffffu);
	outl(0xcf8, 0x00000000);
	report("with the enable bit clear the data port reads all ones", inl(0xcfc) == 0xffffffffu);
	outl(0xcf8, 0x80010000); /* bus 1 */
	report("bus 1 does not exist", inl(0xcfc) == 0xffffffffu);

	int dev = -1;
	for (int d = 0; d < 32; d++) {
		if (cfg_read32(d, 0) == 0x00051b36) {
			dev = d;
			break;
		}
	}
	report("pci-testdev (1b36:0005) found on bus 0", dev >= 0);
	if (dev < 0)
		report_summary();
	report("pci-testdev class 00/ff, prog-if 0, revision 0", cfg_read32(dev, 8) == 0x00ff0000u);
	report("pci-testdev header type 0", (cfg_read8(dev, 0x0e) & 0x7f) == 0);
	report("pci-testdev subsystem 1af4:1100", cfg_read32(dev, 0x2c) == 0x11001af4);
	report("pci-testdev has no interrupt pin", cfg_read8(dev, 0x3d) == 0);
	cfg_write8(dev, 0x3c, 0x0b);
	report("interrupt line is writable", cfg_read8(dev, 0x3c) == 0x0b);
	cfg_write16(dev, 0x00, 0x1234);
	report("vendor ID is read-only", cfg_read16(dev, 0) == 0x1b36);

	u32 bar0 = cfg_read32(dev, 0x10), bar1 = cfg_read32(dev, 0x14);
	u16 cmd = cfg_read16(dev, 4);
	report("BAR0: 32-bit memory, assigned", !(bar0 & 1) && (bar0 & 6) == 0 && (bar0 & ~0xfu));
	report("BAR1: I/O, assigned", (bar1 & 1) && (bar1 & ~3u));
	report("command: I/O and memory decoding enabled", (cmd & 3) == 3);
	bool empty = true;
	for (int r = 0x18; r <= 0x24; r += 4) {
		u32 old = cfg_read32(dev, r);
		cfg_write32(dev, r, 0xffffffffu);
		empty &= cfg_read32(dev, r) == 0 && old == 0;
	}
	report("BAR2-5 are not implemented (read 0 after writing ones)", empty);

	/* sizing: write all ones, read the mask, restore */
	cfg_write32(dev, 0x10, 0xffffffffu);
	u32 m0 = cfg_read32(dev, 0x10);
	cfg_write32(dev, 0x10, bar0);
	cfg_write32(dev, 0x14, 0xffffffffu);
	u32 m1 = cfg_read32(dev, 0x14);
	cfg_write32(dev, 0x14, bar1);
	reportf(m0 == 0xfffff000u, "BAR0 sizing: 4 KiB memory (mask %#x)", 0xfffff000u);
	reportf((m1 & 0xffff) == 0xff01, "BAR1 sizing: 256 bytes of I/O");
	report("BARs restored", cfg_read32(dev, 0x10) == bar0 && cfg_read32(dev, 0x14) == bar1);

	struct bar_io mem = {true, bar0 & ~0xfu}, io = {false, bar1 & ~3u};
	testdev_round(&mem, "BAR0");
	testdev_round(&io, "BAR1");

	/* memory decoding off: writes to BAR0 do not reach the device */
	u32 c;
	run_testdev(&mem, 0, "mmio-no-eventfd", &c, false);
	u32 off = bar_rl(&mem, 4);
	cfg_write16(dev, 4, cmd & ~2);
	writeb(mem.base + off, 0xfa);
	cfg_write16(dev, 4, cmd);
	report("memory decoding off: BAR0 writes are dropped", bar_rl(&mem, 12) == 16);
	cfg_write16(dev, 4, cmd & ~1);
	outb((u16)(io.base + 0), 0);
	cfg_write16(dev, 4, cmd);
	report("I/O decoding off: BAR1 writes are dropped",
	       bar_rl(&mem, 12) == 16 && bar_rb(&mem, 0) == 0);

	/* the guest moves both BARs */
	struct bar_io mem2 = {true, 0xe0000000ul}, io2 = {false, 0xd000};
	cfg_write32(dev, 0x10, (u32)mem2.base);
	cfg_write32(dev, 0x14, (u32)io2.base);
	report("BARs moved", (cfg_read32(dev, 0x10) & ~0xfu) == mem2.base &&
				 (cfg_read32(dev, 0x14) & ~3u) == io2.base);
	testdev_round(&mem2, "BAR0 moved");
	testdev_round(&io2, "BAR1 moved");
	run_testdev(&mem2, 0, "mmio-no-eventfd", &c, false);
	writeb(mem.base + off, 0xfa); /* the old address no longer decodes */
	report("the old BAR0 address no longer reaches the device", bar_rl(&mem2, 12) == 16);
	cfg_write32(dev, 0x10, bar0);
	cfg_write32(dev, 0x14, bar1);
	report_summary();
}
