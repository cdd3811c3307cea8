/* SPDX-License-Identifier: MIT */
/*
 * softkvm run's virtio-pci devices (vmm/virtio/) driven by hand, first as a
 * well-behaved virtio 1 driver and then as a hostile one.
 *
 * Run with a 64 KiB read-write drive holding byte i = (i * 7 + 3) & 0xff
 * (serial "SKVM-GUEST"), a read-only drive and --rng: 00:02.0, 00:03.0 and
 * 00:04.0. The driver: the PCI capabilities, feature negotiation (FEATURES_OK
 * is refused without VERSION_1), MSI-X (a vector per queue and one for
 * configuration changes, masking with the pending bit), a split queue of 8
 * with IN, GET_ID, OUT to the read-only drive, out-of-range and unknown
 * requests, indirect descriptors, virtio-rng. The hostile driver: a
 * descriptor loop, buffers outside RAM or wrapping around, an avail index
 * far ahead, a head out of range, rings outside RAM, a request without its
 * status byte; each must leave the device in DEVICE_NEEDS_RESET with a
 * configuration interrupt and nothing used, and a reset must bring it back.
 * Then chaos: random register writes and random rings (confined to a scratch
 * area or outside RAM, so the device cannot write over this kernel). The VMM
 * must survive all of it, and the device must work after a reset.
 *
 * With --net user too, virtio-net at 00:05.0: its identity, the MAC and link
 * status in its configuration, an ARP request for the gateway 10.0.2.2 sent
 * on the transmit queue answered by libslirp on the receive queue (the
 * 12-byte header with num_buffers 1), then as a hostile driver: a transmit
 * chain shorter than the header, a writable transmit buffer, a receive
 * buffer under 1526 bytes, a read-only receive buffer (DEVICE_NEEDS_RESET
 * each, and the ARP exchange works again after a reset).
 *
 * With --vsock cid=7,path=SOCK too, virtio-vsock at 00:06.0: the CID in its
 * configuration, three queues, a REQUEST to CID 2 port 4321 (nobody listens
 * on SOCK_4321) and data for no connection answered with RST; as a hostile
 * driver a transmit chain shorter than the 44-byte header, a writable
 * transmit buffer, a header whose len runs past the chain, a read-only
 * receive buffer (DEVICE_NEEDS_RESET each, the exchange works after a
 * reset), then chaos on its three queues.
 */
#include "apic.h"

#define VEC_CFG 0x40
#define VEC_Q	0x41

#define ST_ACK	       1
#define ST_DRIVER      2
#define ST_DRIVER_OK   4
#define ST_FEATURES_OK 8
#define ST_NEEDS_RESET 64

#define C_DFSEL	 0x00
#define C_DF	 0x04
#define C_GFSEL	 0x08
#define C_GF	 0x0c
#define C_MSIX	 0x10
#define C_NUMQ	 0x12
#define C_STATUS 0x14
#define C_QSEL	 0x16
#define C_QSIZE	 0x18
#define C_QMSIX	 0x1a
#define C_QEN	 0x1c
#define C_QNOFF	 0x1e
#define C_QDESC	 0x20
#define C_QDRV	 0x28
#define C_QDEV	 0x30

#define F_NEXT	   1
#define F_WRITE	   2
#define F_INDIRECT 4

#define QSIZE 8

struct desc {
	u64 addr;
	u32 len;
	u16 flags, next;
};

struct vdev {
	int slot;
	u8 *common, *isr, *devcfg, *notify;
	u32 notify_mult;
	volatile u32 *msix;
	volatile u32 *pba;
	int msix_cap;
	bool caps_ok;
	/* the queue */
	struct desc *desc;
	volatile u16 *avail, *used;
	u16 avail_idx, used_seen;
};

static u8 rings[3][8192] aligned(4096);
static u8 bufs[4096] aligned(4096);
static struct desc itable[4] aligned(16);
static volatile u32 n_cfg, n_q;

static void cfg_irq(struct ex_regs *r)
{
	(void)r;
	n_cfg++;
	apic_eoi();
}

static void q_irq(struct ex_regs *r)
{
	(void)r;
	n_q++;
	apic_eoi();
}

/* ---- PCI configuration ---- */
static u32 cfg_addr(int dev, int reg)
{
	return 0x80000000u | (u32)dev << 11 | (u32)(reg & 0xfc);
}

static u32 cfg_rd32(int dev, int reg)
{
	outl(0xcf8, cfg_addr(dev, reg));
	return inl(0xcfc);
}

static u8 cfg_rd8(int dev, int reg)
{
	outl(0xcf8, cfg_addr(dev, reg));
	return inb(0xcfc + (reg & 3));
}

static void cfg_wr16(int dev, int reg, u16 v)
{
	outl(0xcf8, cfg_addr(dev, reg));
	outw(0xcfc + (reg & 2), v);
}

/* ---- MMIO ---- */
static u8 rd8(u8 *p)
{
	return *(volatile u8 *)p;
}
static u16 rd16(u8 *p)
{
	return *(volatile u16 *)p;
}
static u32 rd32(u8 *p)
{
	return *(volatile u32 *)p;
}
static void wr8(u8 *p, u8 v)
{
	*(volatile u8 *)p = v;
}
static void wr16(u8 *p, u16 v)
{
	*(volatile u16 *)p = v;
}
static void wr32(u8 *p, u32 v)
{
	*(volatile u32 *)p = v;
}
static void wr64(u8 *p, u64 v)
{
	wr32(p, (u32)v);
	wr32(p + 4, (u32)(v >> 32));
}

/* the first function from slot `from` on with this device ID, or -1 */
static int find(u16 device, int from)
{
	for (int s = from; s < 32; s++)
		if (cfg_rd32(s, 0) == (0x1af4u | (u32)device << 16))
			return s;
	return -1;
}

static bool probe(struct vdev *d, int slot)
{
	memset(d, 0, sizeof(*d));
	d->slot = slot;
	if (slot < 0)
		return false;
	u8 *bar = (u8 *)(ulong)(cfg_rd32(d->slot, 0x10) & ~0xfu);
	unsigned seen = 0;
	for (int p = cfg_rd8(d->slot, 0x34), n = 0; p && n < 16; p = cfg_rd8(d->slot, p + 1), n++) {
		u8 id = cfg_rd8(d->slot, p);
		if (id == 0x11) {
			d->msix_cap = p;
			u32 t = cfg_rd32(d->slot, p + 4), b = cfg_rd32(d->slot, p + 8);
			d->msix = (volatile u32 *)(bar + (t & ~7u));
			d->pba = (volatile u32 *)(bar + (b & ~7u));
			seen |= 1u << 5;
			continue;
		}
		if (id != 0x09)
			continue;
		u8 type = cfg_rd8(d->slot, p + 3);
		u8 *at = bar + cfg_rd32(d->slot, p + 8);
		if (cfg_rd8(d->slot, p + 4) != 0)
			continue; /* BAR0 only here */
		seen |= 1u << type;
		if (type == 1)
			d->common = at;
		else if (type == 2) {
			d->notify = at;
			d->notify_mult = cfg_rd32(d->slot, p + 16);
		} else if (type == 3)
			d->isr = at;
		else if (type == 4)
			d->devcfg = at;
	}
	d->caps_ok = seen == 0x3e;
	return d->caps_ok;
}

static void msix_setup(struct vdev *d)
{
	/* enable MSI-X, then vector 0: configuration, vector 1: the queue, to the BSP */
	cfg_wr16(d->slot, d->msix_cap + 2, 0x8000);
	for (int v = 0; v < 2; v++) {
		d->msix[4 * v + 0] = 0xfee00000u;
		d->msix[4 * v + 1] = 0;
		d->msix[4 * v + 2] = v ? VEC_Q : VEC_CFG;
		d->msix[4 * v + 3] = 0; /* unmasked */
	}
}

static u8 status(struct vdev *d)
{
	return rd8(d->common + C_STATUS);
}

/* reset, negotiate VERSION_1 (+ `extra` low feature bits), set up queue 0; false on failure */
static bool init(struct vdev *d, unsigned ring, u32 extra)
{
	wr8(d->common + C_STATUS, 0);
	if (status(d) != 0)
		return false;
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER);
	wr32(d->common + C_GFSEL, 0);
	wr32(d->common + C_GF, extra);
	wr32(d->common + C_GFSEL, 1);
	wr32(d->common + C_GF, 1); /* VERSION_1 */
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(status(d) & ST_FEATURES_OK))
		return false;
	wr16(d->common + C_MSIX, 0);
	if (rd16(d->common + C_MSIX) != 0)
		return false;
	memset(rings[ring], 0, sizeof(rings[ring]));
	d->desc = (struct desc *)rings[ring];
	d->avail = (volatile u16 *)(rings[ring] + 16 * QSIZE);
	d->used = (volatile u16 *)(rings[ring] + 4096);
	d->avail_idx = d->used_seen = 0;
	wr16(d->common + C_QSEL, 0);
	wr16(d->common + C_QSIZE, QSIZE);
	wr16(d->common + C_QMSIX, 1);
	wr64(d->common + C_QDESC, (ulong)d->desc);
	wr64(d->common + C_QDRV, (ulong)d->avail);
	wr64(d->common + C_QDEV, (ulong)d->used);
	wr16(d->common + C_QEN, 1);
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	return status(d) == (ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK) &&
	       rd16(d->common + C_QMSIX) == 1;
}

static void kick(struct vdev *d, u16 head)
{
	d->avail[2 + (d->avail_idx % QSIZE)] = head;
	__sync_synchronize();
	d->avail[1] = ++d->avail_idx;
	__sync_synchronize();
	wr16(d->notify + 0 * d->notify_mult, 0);
}

/* wait up to 500 ms for the device to use a buffer; the used length, or -1 */
static long wait_used(struct vdev *d)
{
	for (int k = 0; k < 5000; k++) {
		if (d->used[1] != d->used_seen) {
			volatile u32 *e =
			    (volatile u32 *)(d->used + 2) + 2 * (d->used_seen % QSIZE);
			d->used_seen++;
			return e[1];
		}
		udelay(100);
	}
	return -1;
}

/* wait for a counter to move past `was` (interrupts may lag the used ring a little) */
static bool wait_irq(volatile u32 *n, u32 was)
{
	for (int k = 0; k < 2000 && *n == was; k++)
		udelay(100);
	return *n != was;
}

static struct {
	u32 type, reserved;
	u64 sector;
} hdr aligned(16);
static u8 st;

/* a three-descriptor request at descriptors 0-2; returns the status byte, 0xee if not used */
static u8 blk_req(struct vdev *d, u32 type, u64 sector, void *data, u32 len, bool in, long *used)
{
	hdr.type = type;
	hdr.reserved = 0;
	hdr.sector = sector;
	st = 0xee;
	d->desc[0] = (struct desc){(ulong)&hdr, 16, F_NEXT, 1};
	d->desc[1] = (struct desc){(ulong)data, len, (u16)(F_NEXT | (in ? F_WRITE : 0)), 2};
	d->desc[2] = (struct desc){(ulong)&st, 1, F_WRITE, 0};
	kick(d, 0);
	long u = wait_used(d);
	if (used)
		*used = u;
	return st;
}

static bool pattern_ok(const u8 *p, u32 len, u32 off)
{
	for (u32 k = 0; k < len; k++)
		if (p[k] != (u8)((off + k) * 7 + 3))
			return false;
	return true;
}

static void test_driver(struct vdev *d, struct vdev *ro)
{
	long used;
	u32 q0;

	/* FEATURES_OK without VERSION_1 is refused */
	wr8(d->common + C_STATUS, 0);
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER);
	wr32(d->common + C_GFSEL, 1);
	wr32(d->common + C_GF, 0);
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	report("FEATURES_OK without VERSION_1 does not stick", !(status(d) & ST_FEATURES_OK));
	wr32(d->common + C_DFSEL, 1);
	report("device features: VERSION_1", rd32(d->common + C_DF) & 1);
	wr32(d->common + C_DFSEL, 0);
	report("device features: INDIRECT_DESC, EVENT_IDX, FLUSH, SEG_MAX, DISCARD",
	       (rd32(d->common + C_DF) & 0x30002204u) == 0x30002204u);
	report("one queue, of at most 256, notify offset 0", rd16(d->common + C_NUMQ) == 1 &&
								 rd16(d->common + C_QSIZE) == 256 &&
								 rd16(d->common + C_QNOFF) == 0);

	msix_setup(d);
	report("the driver sets it up (FEATURES_OK, vectors, queue, DRIVER_OK)", init(d, 0, 0));
	report("capacity 128 sectors", rd32(d->devcfg) == 128 && rd32(d->devcfg + 4) == 0);

	q0 = n_q;
	memset(bufs, 0, 512);
	u8 s = blk_req(d, 0, 0, bufs, 512, true, &used);
	report("IN sector 0: OK, used length 513, the pattern",
	       s == 0 && used == 513 && pattern_ok(bufs, 512, 0));
	report("the queue's MSI-X vector interrupts", wait_irq(&n_q, q0));

	s = blk_req(d, 0, 100, bufs, 1024, true, &used);
	report("IN sectors 100-101: OK, the pattern", s == 0 && pattern_ok(bufs, 1024, 100 * 512));
	s = blk_req(d, 0, 127, bufs, 1024, true, &used);
	report("IN beyond the end: IOERR", s == 1 && used == 1);
	s = blk_req(d, 77, 0, bufs, 16, true, &used);
	report("an unknown request type: UNSUPP", s == 2);
	memset(bufs, 0, 32);
	s = blk_req(d, 8, 0, bufs, 20, true, &used);
	report("GET_ID: the serial", s == 0 && used == 21 && !memcmp(bufs, "SKVM-GUEST\0", 11));
	s = blk_req(d, 4, 0, bufs, 0, true, &used);
	report("FLUSH: OK", s == 0);

	/* a masked vector sets its pending bit; unmasking delivers */
	d->msix[4 * 1 + 3] = 1;
	q0 = n_q;
	s = blk_req(d, 0, 0, bufs, 512, true, &used);
	udelay(5000);
	report("masked vector: the request completes, no interrupt, pending bit set",
	       s == 0 && n_q == q0 && (d->pba[0] & 2));
	d->msix[4 * 1 + 3] = 0;
	report("unmasked: the pending interrupt arrives, the bit clears",
	       wait_irq(&n_q, q0) && !(d->pba[0] & 2));

	/* indirect descriptors (negotiated: feature bit 28) */
	report("again with INDIRECT_DESC", init(d, 0, 1u << 28));
	hdr.type = 0;
	hdr.sector = 2;
	st = 0xee;
	itable[0] = (struct desc){(ulong)&hdr, 16, F_NEXT, 1};
	itable[1] = (struct desc){(ulong)bufs, 512, F_NEXT | F_WRITE, 2};
	itable[2] = (struct desc){(ulong)&st, 1, F_WRITE, 0};
	d->desc[5] = (struct desc){(ulong)itable, 3 * 16, F_INDIRECT, 0};
	kick(d, 5);
	used = wait_used(d);
	report("an indirect request: OK, the pattern",
	       st == 0 && used == 513 && pattern_ok(bufs, 512, 1024));

	/* the read-only drive */
	msix_setup(ro);
	report("the read-only drive: VIRTIO_BLK_F_RO", ({
		       wr32(ro->common + C_DFSEL, 0);
		       (rd32(ro->common + C_DF) & (1u << 5)) &&
			   !(rd32(ro->common + C_DF) & (1u << 13));
	       }));
	report("the read-only drive is set up", init(ro, 1, 0));
	s = blk_req(ro, 1, 0, bufs, 512, false, &used);
	report("OUT to the read-only drive: IOERR", s == 1);
	s = blk_req(ro, 0, 0, bufs, 512, true, &used);
	report("IN from the read-only drive: OK", s == 0);
}

/* the guest breaks a rule: DEVICE_NEEDS_RESET, a configuration interrupt, nothing used */
static void expect_broken(struct vdev *d, const char *what, u32 cfg_before)
{
	bool nr = false;
	for (int k = 0; k < 5000 && !nr; k++) {
		nr = status(d) & ST_NEEDS_RESET;
		if (!nr)
			udelay(100);
	}
	reportf(nr, "%s: DEVICE_NEEDS_RESET", what);
	reportf(wait_irq(&n_cfg, cfg_before) && (rd8(d->isr) & 2),
		"%s: configuration interrupt, ISR bit 1", what);
	reportf(d->used[1] == d->used_seen, "%s: nothing used", what);
	reportf(init(d, 0, 1u << 28), "%s: the device works again after a reset", what);
	long used;
	u8 s = blk_req(d, 0, 0, bufs, 512, true, &used);
	reportf(s == 0 && pattern_ok(bufs, 512, 0), "%s: then a request succeeds", what);
}

static void test_hostile(struct vdev *d)
{
	u32 c;

	init(d, 0, 1u << 28);
	c = n_cfg;
	d->desc[0] = (struct desc){(ulong)&hdr, 16, F_NEXT, 1};
	d->desc[1] = (struct desc){(ulong)bufs, 512, F_NEXT, 0};
	kick(d, 0);
	expect_broken(d, "a descriptor loop", c);

	c = n_cfg;
	d->desc[0] = (struct desc){(ulong)&hdr, 16, F_NEXT, 1};
	d->desc[1] = (struct desc){(ulong)bufs, 512, F_NEXT | F_WRITE, 2};
	d->desc[2] = (struct desc){(ulong)&hdr, 16, 0, 0};
	kick(d, 0);
	expect_broken(d, "a readable buffer after a writable one", c);

	c = n_cfg;
	d->desc[0] = (struct desc){(ulong)&hdr, 16, F_NEXT, 1};
	d->desc[1] = (struct desc){0x7ff00000ull, 512, F_NEXT | F_WRITE, 2}; /* beyond 128M */
	d->desc[2] = (struct desc){(ulong)&st, 1, F_WRITE, 0};
	kick(d, 0);
	expect_broken(d, "a buffer outside RAM", c);

	c = n_cfg;
	d->desc[1] = (struct desc){0xfe100000ull, 512, F_NEXT | F_WRITE, 2}; /* the BAR itself */
	kick(d, 0);
	expect_broken(d, "a buffer on the device's own BAR", c);

	c = n_cfg;
	d->desc[1] = (struct desc){0xfffffffffffff000ull, 0xffffffffu, F_NEXT | F_WRITE, 2};
	kick(d, 0);
	expect_broken(d, "a buffer whose end wraps around", c);

	c = n_cfg;
	d->avail[1] = (u16)(d->avail_idx + 100);
	wr16(d->notify, 0);
	expect_broken(d, "an avail index 100 ahead", c);

	c = n_cfg;
	kick(d, 200);
	expect_broken(d, "a head out of range", c);

	c = n_cfg;
	d->desc[0] = (struct desc){(ulong)&hdr, 16, 0, 0};
	kick(d, 0);
	expect_broken(d, "a request without a status byte", c);

	c = n_cfg;
	itable[0] = (struct desc){(ulong)itable, 32, F_INDIRECT, 0};
	d->desc[0] = (struct desc){(ulong)itable, 32, F_INDIRECT, 0};
	kick(d, 0);
	expect_broken(d, "an indirect table inside an indirect table", c);

	/* rings outside RAM at queue enable */
	c = n_cfg;
	wr8(d->common + C_STATUS, 0);
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER);
	wr32(d->common + C_GFSEL, 1);
	wr32(d->common + C_GF, 1);
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	wr16(d->common + C_MSIX, 0);
	wr16(d->common + C_QSEL, 0);
	wr16(d->common + C_QSIZE, QSIZE);
	wr64(d->common + C_QDESC, 0xf0000000ull);
	wr64(d->common + C_QDRV, (ulong)d->avail);
	wr64(d->common + C_QDEV, (ulong)d->used);
	wr16(d->common + C_QEN, 1);
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	d->used_seen = d->used[1];
	expect_broken(d, "a descriptor table outside RAM", c);
}

/* ---- chaos: random register writes and random rings ---- */

static u8 scratch[65536] aligned(4096);
static u32 rng_state = 0x2545f491u;
static unsigned chaos_queues = 1; /* the queues a ring is set up on (virtio-net: 2) */

static u32 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/*
 * A guest address the device may use: inside the scratch area (so that what
 * the device writes lands there and nowhere else in this kernel), just past
 * it, or far outside RAM (which has 128 MiB). Never elsewhere in RAM.
 */
static u64 rnd_gpa(void)
{
	ulong base = (ulong)scratch;
	switch (rnd() % 4) {
	case 0:
	case 1:
		return base + rnd() % sizeof(scratch);
	case 2:
		return 0x10000000ull + rnd();
	default:
		return (u64)rnd() << 32 | rnd();
	}
}

static void chaos_step(struct vdev *d)
{
	static const u8 offs[] = {C_DFSEL,  C_DF,   C_GFSEL, C_GF,    C_MSIX, C_NUMQ,
				  C_STATUS, C_QSEL, C_QSIZE, C_QMSIX, C_QEN,  C_QNOFF,
				  C_QDESC,  C_QDRV, C_QDEV,  0x15,    0x37,   0x38};
	u32 r = rnd();
	u8 *a;

	switch (r % 10) {
	case 0:
	case 1:
	case 2: { /* a common configuration register, a random width and value */
		unsigned off = offs[rnd() % sizeof(offs)];
		a = d->common + off;
		u32 v = rnd() % 3 ? rnd() % 512 : rnd();
		if (off == C_QDESC || off == C_QDRV || off == C_QDEV) {
			wr64(a, rnd_gpa());
			break;
		}
		if (off == C_QMSIX || off == C_MSIX)
			v = rnd() % 4; /* our two vectors, or none */
		if (off == C_STATUS && rnd() % 2)
			v = rnd() % 16; /* the driver-side bits, no NEEDS_RESET games */
		switch (rnd() % 3) {
		case 0:
			wr8(a, (u8)v);
			break;
		case 1:
			wr16(a, (u16)v);
			break;
		default:
			wr32(a, v);
		}
		break;
	}
	case 3: { /* a ring set up in the scratch area and made live */
		u64 base = (ulong)scratch + (rnd() % 8) * 4096;
		wr8(d->common + C_STATUS, (u8)(rnd() % 2 ? 0 : ST_ACK | ST_DRIVER));
		wr32(d->common + C_GFSEL, 1);
		wr32(d->common + C_GF, 1);
		wr32(d->common + C_GFSEL, 0);
		wr32(d->common + C_GF, rnd() & (3u << 28));
		wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
		wr16(d->common + C_QSEL, (u16)(chaos_queues > 1 ? rnd() % chaos_queues : 0));
		wr16(d->common + C_QSIZE, (u16)(1u << (rnd() % 9)));
		wr16(d->common + C_QMSIX, (u16)(rnd() % 3));
		wr64(d->common + C_QDESC, base);
		wr64(d->common + C_QDRV, base + 4096);
		wr64(d->common + C_QDEV, base + 8192);
		wr16(d->common + C_QEN, 1);
		wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
		break;
	}
	case 4:
	case 5: { /* random descriptors and avail entries in the scratch rings */
		struct desc *t = (struct desc *)(scratch + (rnd() % 8) * 4096);
		for (int k = 0; k < 8; k++) {
			struct desc *x = &t[rnd() % 256];
			x->addr = rnd_gpa();
			x->len = rnd() % 4 ? rnd() % 8192 : rnd();
			x->flags = (u16)(rnd() % 8);
			x->next = (u16)(rnd() % 4 ? rnd() % 16 : rnd());
		}
		u16 *av = (u16 *)(scratch + (rnd() % 8) * 4096 + 4096);
		av[2 + rnd() % 256] = (u16)(rnd() % 4 ? rnd() % 16 : rnd());
		av[1] = (u16)(av[1] + rnd() % 3);
		break;
	}
	case 6:
	case 7: /* notify: queue 0, a queue that is not there, odd widths */
		a = d->notify + 4 * (rnd() % 2);
		if (rnd() % 2)
			wr16(a, (u16)(rnd() % 3));
		else
			wr32(a, rnd());
		break;
	case 8: /* MSI-X: mask and unmask vectors, the function mask, read the PBA */
		d->msix[4 * (rnd() % 2) + 3] = rnd() % 2;
		if (rnd() % 4 == 0)
			cfg_wr16(d->slot, d->msix_cap + 2,
				 (u16)(0x8000 | (rnd() % 2 ? 0x4000 : 0)));
		(void)d->pba[0];
		break;
	default: /* reads: ISR (clears it), device configuration, beyond the registers */
		(void)rd8(d->isr);
		(void)rd32(d->devcfg + rnd() % 64);
		(void)rd32(d->common + 0x38 + rnd() % 0x100);
		break;
	}
}

static void test_chaos(struct vdev *d)
{
	u32 broke = 0;

	for (int k = 0; k < 4000; k++) {
		chaos_step(d);
		if (status(d) & ST_NEEDS_RESET)
			broke++;
		if (k % 64 == 0)
			udelay(200); /* let the worker look at what is there */
	}
	reportf(broke > 0,
		"chaos: 4000 random register writes and rings (DEVICE_NEEDS_RESET seen after %u)",
		broke);
	cfg_wr16(d->slot, d->msix_cap + 2, 0x8000);
	msix_setup(d);
	report("chaos: afterwards the device resets and sets up", init(d, 0, 1u << 28));
	long used;
	u8 s = blk_req(d, 0, 0, bufs, 512, true, &used);
	report("chaos: afterwards a request succeeds", s == 0 && pattern_ok(bufs, 512, 0));
}

static void test_rng(struct vdev *r)
{
	static u8 rnd[64];
	msix_setup(r);
	report("virtio-rng is set up", init(r, 2, 0));
	r->desc[0] = (struct desc){(ulong)rnd, sizeof(rnd), F_WRITE, 0};
	kick(r, 0);
	long used = wait_used(r);
	bool nonzero = false;
	for (unsigned k = 0; k < sizeof(rnd); k++)
		nonzero |= rnd[k] != 0;
	report("virtio-rng fills 64 bytes", used == 64 && nonzero);
}

/* ---- virtio-net ---- */

static u8 net_rings[2][8192] aligned(4096);
static u8 net_rx[2][2048] aligned(4096);
static u8 net_tx[128] aligned(64);
static const u8 net_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

struct nq {
	struct desc *desc;
	volatile u16 *avail, *used;
	u16 avail_idx, used_seen;
};
static struct nq nrx, ntx;

static void nq_setup(struct vdev *d, struct nq *q, unsigned idx)
{
	memset(net_rings[idx], 0, sizeof(net_rings[idx]));
	q->desc = (struct desc *)net_rings[idx];
	q->avail = (volatile u16 *)(net_rings[idx] + 16 * QSIZE);
	q->used = (volatile u16 *)(net_rings[idx] + 4096);
	q->avail_idx = q->used_seen = 0;
	wr16(d->common + C_QSEL, (u16)idx);
	wr16(d->common + C_QSIZE, QSIZE);
	wr16(d->common + C_QMSIX, 1);
	wr64(d->common + C_QDESC, (ulong)q->desc);
	wr64(d->common + C_QDRV, (ulong)q->avail);
	wr64(d->common + C_QDEV, (ulong)q->used);
	wr16(d->common + C_QEN, 1);
}

/* reset, negotiate VERSION_1 + MAC + STATUS, both queues; false on failure */
static bool net_init(struct vdev *d)
{
	wr8(d->common + C_STATUS, 0);
	if (status(d) != 0)
		return false;
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER);
	wr32(d->common + C_GFSEL, 0);
	wr32(d->common + C_GF, (1u << 5) | (1u << 16));
	wr32(d->common + C_GFSEL, 1);
	wr32(d->common + C_GF, 1);
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(status(d) & ST_FEATURES_OK))
		return false;
	wr16(d->common + C_MSIX, 0);
	nq_setup(d, &nrx, 0);
	nq_setup(d, &ntx, 1);
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	return status(d) == (ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
}

static void nq_kick(struct vdev *d, struct nq *q, unsigned idx, u16 head)
{
	q->avail[2 + (q->avail_idx % QSIZE)] = head;
	__sync_synchronize();
	q->avail[1] = ++q->avail_idx;
	__sync_synchronize();
	wr16(d->notify + idx * d->notify_mult, (u16)idx);
}

static long nq_wait(struct nq *q)
{
	for (int k = 0; k < 5000; k++) {
		if (q->used[1] != q->used_seen) {
			volatile u32 *e =
			    (volatile u32 *)(q->used + 2) + 2 * (q->used_seen % QSIZE);
			q->used_seen++;
			return e[1];
		}
		udelay(100);
	}
	return -1;
}

/* the 12-byte header and an ARP request for 10.0.2.2 from 10.0.2.15: 54 bytes */
static u32 arp_request(u8 *p)
{
	static const u8 frame[42] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06,
	    0x00, 0x01, 0x08, 0x00, 6,	  4,	0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	    10,	  0,	2,    15,   0,	  0,	0,    0,    0,	  0,	10,   0,    2,	  2};
	memset(p, 0, 12);
	memcpy(p + 12, frame, sizeof(frame));
	return 12 + sizeof(frame);
}

/* post one receive buffer (descriptor 0 of the receive queue) and send an ARP request */
static long net_arp(struct vdev *d, long *rx_len)
{
	memset(net_rx[0], 0xcc, sizeof(net_rx[0]));
	nrx.desc[0] = (struct desc){(ulong)net_rx[0], sizeof(net_rx[0]), F_WRITE, 0};
	nq_kick(d, &nrx, 0, 0);
	ntx.desc[0] = (struct desc){(ulong)net_tx, arp_request(net_tx), 0, 0};
	nq_kick(d, &ntx, 1, 0);
	long t = nq_wait(&ntx);
	*rx_len = nq_wait(&nrx);
	return t;
}

static bool arp_reply_ok(const u8 *p, long len)
{
	static const u8 gw[4] = {10, 0, 2, 2}, me[4] = {10, 0, 2, 15};
	return len >= 12 + 42 && len <= 12 + 1514 && p[10] == 1 && p[11] == 0 && p[0] == 0 &&
	       !memcmp(p + 12, net_mac, 6) && p[24] == 0x08 && p[25] == 0x06 && p[32] == 0 &&
	       p[33] == 2 && !memcmp(p + 40, gw, 4) && !memcmp(p + 44, net_mac, 6) &&
	       !memcmp(p + 50, me, 4);
}

static void net_expect_broken(struct vdev *d, const char *what, struct nq *q, u16 used_before,
			      u32 cfg_before)
{
	bool nr = false;
	for (int k = 0; k < 5000 && !nr; k++) {
		nr = status(d) & ST_NEEDS_RESET;
		if (!nr)
			udelay(100);
	}
	reportf(nr, "virtio-net, %s: DEVICE_NEEDS_RESET", what);
	reportf(wait_irq(&n_cfg, cfg_before), "virtio-net, %s: configuration interrupt", what);
	reportf(q->used[1] == used_before, "virtio-net, %s: nothing used", what);
	long rx_len, t;
	bool ok = net_init(d);
	t = net_arp(d, &rx_len);
	reportf(ok && t == 0 && arp_reply_ok(net_rx[0], rx_len),
		"virtio-net, %s: after a reset the ARP exchange works again", what);
}

/* chaos on virtio-net: both queues, then a reset and the ARP exchange must work */
static void test_net_chaos(struct vdev *d)
{
	u32 broke = 0;
	long rx_len, t;

	chaos_queues = 2;
	for (int k = 0; k < 4000; k++) {
		chaos_step(d);
		if (status(d) & ST_NEEDS_RESET)
			broke++;
		if (k % 64 == 0)
			udelay(200);
	}
	reportf(broke > 0, "virtio-net chaos: 4000 random steps (DEVICE_NEEDS_RESET seen after %u)",
		broke);
	msix_setup(d);
	bool ok = net_init(d);
	t = net_arp(d, &rx_len);
	report("virtio-net chaos: afterwards a reset and the ARP exchange work",
	       ok && t == 0 && arp_reply_ok(net_rx[0], rx_len));
}

static void test_net(struct vdev *d)
{
	long rx_len, t;
	u32 c;

	report("virtio-net: class 0x020000, revision 1", cfg_rd32(d->slot, 8) == 0x02000001u);
	wr32(d->common + C_DFSEL, 0);
	u32 f0 = rd32(d->common + C_DF);
	wr32(d->common + C_DFSEL, 1);
	u32 f1 = rd32(d->common + C_DF);
	reportf((f0 & ((1u << 5) | (1u << 16))) == ((1u << 5) | (1u << 16)) &&
		    !(f0 & ((1u << 0) | (1u << 1) | (1u << 15) | (1u << 7) | (1u << 11))) &&
		    (f1 & 1),
		"virtio-net: MAC, STATUS and VERSION_1 offered, no CSUM, GUEST_CSUM, "
		"MRG_RXBUF, TSO (features %08x %08x)",
		f1, f0);
	bool mac = true;
	for (int k = 0; k < 6; k++)
		mac &= rd8(d->devcfg + k) == net_mac[k];
	report("virtio-net: the MAC is 52:54:00:12:34:56, the link is up",
	       mac && rd16(d->devcfg + 6) == 1);
	report("virtio-net: two queues", rd16(d->common + C_NUMQ) == 2);
	msix_setup(d);
	report("virtio-net is set up", net_init(d));
	t = net_arp(d, &rx_len);
	reportf(t == 0 && arp_reply_ok(net_rx[0], rx_len),
		"virtio-net: an ARP request for 10.0.2.2 is answered (transmit used %ld, received "
		"%ld bytes)",
		t, rx_len);

	/* a frame over 64 KiB (no GSO) and a runt: both dropped, the device goes on */
	ntx.desc[0] = (struct desc){(ulong)scratch, 12 + 70000, 0, 0};
	nq_kick(d, &ntx, 1, 0);
	t = nq_wait(&ntx);
	ntx.desc[0] = (struct desc){(ulong)net_tx, 12 + 6, 0, 0};
	nq_kick(d, &ntx, 1, 0);
	long t2 = nq_wait(&ntx);
	long t3 = net_arp(d, &rx_len);
	reportf(t == 0 && t2 == 0 && !(status(d) & ST_NEEDS_RESET) && t3 == 0 &&
		    arp_reply_ok(net_rx[0], rx_len),
		"virtio-net: a 70000-byte frame and a 6-byte one are dropped (used %ld, %ld), the "
		"next ARP request is answered",
		t, t2);

	c = n_cfg;
	ntx.desc[0] = (struct desc){(ulong)net_tx, 4, 0, 0};
	nq_kick(d, &ntx, 1, 0);
	net_expect_broken(d, "a transmit chain shorter than its header", &ntx, ntx.used_seen, c);

	c = n_cfg;
	ntx.desc[0] = (struct desc){(ulong)net_tx, arp_request(net_tx), F_NEXT, 1};
	ntx.desc[1] = (struct desc){(ulong)net_rx[1], 64, F_WRITE, 0};
	nq_kick(d, &ntx, 1, 0);
	net_expect_broken(d, "a writable transmit buffer", &ntx, ntx.used_seen, c);

	c = n_cfg;
	nrx.desc[0] = (struct desc){(ulong)net_rx[0], 1000, F_WRITE, 0};
	nq_kick(d, &nrx, 0, 0);
	ntx.desc[0] = (struct desc){(ulong)net_tx, arp_request(net_tx), 0, 0};
	nq_kick(d, &ntx, 1, 0);
	nq_wait(&ntx);
	net_expect_broken(d, "a receive buffer of 1000 bytes", &nrx, nrx.used_seen, c);

	c = n_cfg;
	nrx.desc[0] = (struct desc){(ulong)net_rx[0], 2048, 0, 0};
	nq_kick(d, &nrx, 0, 0);
	ntx.desc[0] = (struct desc){(ulong)net_tx, arp_request(net_tx), 0, 0};
	nq_kick(d, &ntx, 1, 0);
	nq_wait(&ntx);
	net_expect_broken(d, "a read-only receive buffer", &nrx, nrx.used_seen, c);
}

/* ---- virtio-vsock (--vsock cid=7,path=SOCK; nothing listens on SOCK_4321) ---- */
static u8 vs_rings[3][8192] aligned(4096);
static u8 vs_rx[512] aligned(64);
static u8 vs_tx[128] aligned(64);
static struct nq vrx, vtx, vev;

static void vs_qsetup(struct vdev *d, struct nq *q, unsigned idx)
{
	memset(vs_rings[idx], 0, sizeof(vs_rings[idx]));
	q->desc = (struct desc *)vs_rings[idx];
	q->avail = (volatile u16 *)(vs_rings[idx] + 16 * QSIZE);
	q->used = (volatile u16 *)(vs_rings[idx] + 4096);
	q->avail_idx = q->used_seen = 0;
	wr16(d->common + C_QSEL, (u16)idx);
	wr16(d->common + C_QSIZE, QSIZE);
	wr16(d->common + C_QMSIX, 1);
	wr64(d->common + C_QDESC, (ulong)q->desc);
	wr64(d->common + C_QDRV, (ulong)q->avail);
	wr64(d->common + C_QDEV, (ulong)q->used);
	wr16(d->common + C_QEN, 1);
}

static bool vs_init(struct vdev *d)
{
	wr8(d->common + C_STATUS, 0);
	if (status(d) != 0)
		return false;
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER);
	wr32(d->common + C_GFSEL, 0);
	wr32(d->common + C_GF, 0);
	wr32(d->common + C_GFSEL, 1);
	wr32(d->common + C_GF, 1);
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(status(d) & ST_FEATURES_OK))
		return false;
	wr16(d->common + C_MSIX, 0);
	vs_qsetup(d, &vrx, 0);
	vs_qsetup(d, &vtx, 1);
	vs_qsetup(d, &vev, 2);
	wr8(d->common + C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	return status(d) == (ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
}

/* a 44-byte packet header into p */
static void vs_hdr(u8 *p, u64 src_cid, u64 dst_cid, u32 src_port, u32 dst_port, u32 len, u16 op)
{
	memset(p, 0, 44);
	memcpy(p + 0, &src_cid, 8);
	memcpy(p + 8, &dst_cid, 8);
	memcpy(p + 16, &src_port, 4);
	memcpy(p + 20, &dst_port, 4);
	memcpy(p + 24, &len, 4);
	p[28] = 1; /* stream */
	memcpy(p + 30, &op, 2);
	u32 buf_alloc = 65536;
	memcpy(p + 36, &buf_alloc, 4);
}

/* post a receive buffer, send one packet (op, to CID 2 port 4321 from 1000); the reply's length */
static long vs_exchange(struct vdev *d, u16 op, long *tx_used)
{
	memset(vs_rx, 0xcc, sizeof(vs_rx));
	vrx.desc[0] = (struct desc){(ulong)vs_rx, sizeof(vs_rx), F_WRITE, 0};
	nq_kick(d, &vrx, 0, 0);
	vs_hdr(vs_tx, 7, 2, 1000, 4321, op == 5 ? 16 : 0, op);
	vtx.desc[0] = (struct desc){(ulong)vs_tx, op == 5 ? 44 + 16 : 44, 0, 0};
	nq_kick(d, &vtx, 1, 0);
	*tx_used = nq_wait(&vtx);
	return nq_wait(&vrx);
}

/* the device's RST from CID 2 port 4321 to CID 7 port 1000 */
static bool vs_rst_ok(long len)
{
	u64 src, dst;
	u32 sp, dp, l;
	u16 op;
	memcpy(&src, vs_rx, 8);
	memcpy(&dst, vs_rx + 8, 8);
	memcpy(&sp, vs_rx + 16, 4);
	memcpy(&dp, vs_rx + 20, 4);
	memcpy(&l, vs_rx + 24, 4);
	memcpy(&op, vs_rx + 30, 2);
	return len == 44 && src == 2 && dst == 7 && sp == 4321 && dp == 1000 && l == 0 && op == 3 &&
	       vs_rx[28] == 1;
}

static void vs_expect_broken(struct vdev *d, const char *what, struct nq *q, u16 used_before,
			     u32 cfg_before)
{
	bool nr = false;
	for (int k = 0; k < 5000 && !nr; k++) {
		nr = status(d) & ST_NEEDS_RESET;
		if (!nr)
			udelay(100);
	}
	reportf(nr, "virtio-vsock, %s: DEVICE_NEEDS_RESET", what);
	reportf(wait_irq(&n_cfg, cfg_before), "virtio-vsock, %s: configuration interrupt", what);
	reportf(q->used[1] == used_before, "virtio-vsock, %s: nothing used", what);
	long t, len;
	bool ok = vs_init(d);
	len = vs_exchange(d, 1, &t);
	reportf(ok && t == 0 && vs_rst_ok(len),
		"virtio-vsock, %s: after a reset a REQUEST is answered again", what);
}

static void test_vsock(struct vdev *d)
{
	long t, len;
	u32 c;

	report("virtio-vsock: class 0x078000, revision 1", cfg_rd32(d->slot, 8) == 0x07800001u);
	report("virtio-vsock: the guest CID 7 in its configuration",
	       rd32(d->devcfg) == 7 && rd32(d->devcfg + 4) == 0);
	report("virtio-vsock: three queues", rd16(d->common + C_NUMQ) == 3);
	msix_setup(d);
	report("virtio-vsock is set up", vs_init(d));
	len = vs_exchange(d, 1, &t);
	reportf(t == 0 && vs_rst_ok(len),
		"virtio-vsock: a REQUEST to CID 2 port 4321 (no listener) is answered with RST (tx "
		"used %ld, rx %ld bytes)",
		t, len);
	len = vs_exchange(d, 5, &t);
	reportf(t == 0 && vs_rst_ok(len), "virtio-vsock: data for no connection: RST (%ld bytes)",
		len);

	c = n_cfg;
	vtx.desc[0] = (struct desc){(ulong)vs_tx, 20, 0, 0};
	nq_kick(d, &vtx, 1, 0);
	vs_expect_broken(d, "a transmit chain shorter than its header", &vtx, vtx.used_seen, c);

	c = n_cfg;
	vs_hdr(vs_tx, 7, 2, 1000, 4321, 0, 1);
	vtx.desc[0] = (struct desc){(ulong)vs_tx, 44, F_NEXT, 1};
	vtx.desc[1] = (struct desc){(ulong)vs_rx, 64, F_WRITE, 0};
	nq_kick(d, &vtx, 1, 0);
	vs_expect_broken(d, "a writable transmit buffer", &vtx, vtx.used_seen, c);

	c = n_cfg;
	vs_hdr(vs_tx, 7, 2, 1000, 4321, 100, 5);
	vtx.desc[0] = (struct desc){(ulong)vs_tx, 44 + 10, 0, 0};
	nq_kick(d, &vtx, 1, 0);
	vs_expect_broken(d, "a len beyond the chain", &vtx, vtx.used_seen, c);

	c = n_cfg;
	vrx.desc[0] = (struct desc){(ulong)vs_rx, sizeof(vs_rx), 0, 0};
	nq_kick(d, &vrx, 0, 0);
	vs_hdr(vs_tx, 7, 2, 1000, 4321, 0, 1);
	vtx.desc[0] = (struct desc){(ulong)vs_tx, 44, 0, 0};
	nq_kick(d, &vtx, 1, 0);
	nq_wait(&vtx);
	vs_expect_broken(d, "a read-only receive buffer", &vrx, vrx.used_seen, c);

	/* chaos on its three queues, then a reset and the exchange must work */
	u32 broke = 0;
	chaos_queues = 3;
	for (int k = 0; k < 4000; k++) {
		chaos_step(d);
		if (status(d) & ST_NEEDS_RESET)
			broke++;
		if (k % 64 == 0)
			udelay(200);
	}
	reportf(broke > 0,
		"virtio-vsock chaos: 4000 random steps (DEVICE_NEEDS_RESET seen after %u)", broke);
	cfg_wr16(d->slot, d->msix_cap + 2, 0x8000);
	msix_setup(d);
	bool ok = vs_init(d);
	len = vs_exchange(d, 1, &t);
	report("virtio-vsock chaos: afterwards a reset and a REQUEST -> RST work",
	       ok && t == 0 && vs_rst_ok(len));
}

int main(void)
{
	struct vdev blk, ro, rng, net;
	int b = find(0x1042, 0), r = b >= 0 ? find(0x1042, b + 1) : -1, g = find(0x1044, 0);

	set_ex_handler(VEC_CFG, cfg_irq);
	set_ex_handler(VEC_Q, q_irq);
	apic_sw_enable();
	irq_enable();
	report("virtio-blk 1af4:1042 at 00:02.0 and 00:03.0, virtio-rng 1af4:1044 at 00:04.0",
	       b == 2 && r == 3 && g == 4);
	report("capabilities: common, notify, ISR, device configuration, MSI-X",
	       probe(&blk, b) && probe(&ro, r) && probe(&rng, g));
	report("revision 1 (virtio 1, not transitional), class 0x018000, no INTx pin",
	       b >= 0 && cfg_rd32(b, 8) == 0x01800001u && cfg_rd8(b, 0x3d) == 0);
	report("notify_off_multiplier 4, a 2-entry MSI-X table",
	       blk.notify_mult == 4 && blk.msix_cap &&
		   (cfg_rd32(b, blk.msix_cap) >> 16 & 0x7ff) == 1);
	if (!blk.caps_ok || !ro.caps_ok || !rng.caps_ok)
		report_summary();
	test_driver(&blk, &ro);
	test_hostile(&blk);
	test_chaos(&blk);
	test_rng(&rng);
	int n = find(0x1041, 0);
	report("virtio-net 1af4:1041 at 00:05.0", n == 5);
	if (probe(&net, n)) {
		test_net(&net);
		test_net_chaos(&net);
	}
	struct vdev vs;
	int v = find(0x1053, 0);
	report("virtio-vsock 1af4:1053 at 00:06.0", v == 6);
	if (probe(&vs, v))
		test_vsock(&vs);
	report_summary();
}
