/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables and fixed hardware (ACPI 6.4: 5.2.5 RSDP, 5.2.7 RSDT, 5.2.9
 * FADT, 5.2.10 FACS, 5.2.11.1 DSDT; 4.8.3 PM1 registers, 4.8.3.3 PM timer).
 *
 * RSDP revision 0 points at an RSDT holding the FADT; the FADT (revision 3,
 * 244 bytes, both the 32-bit and the X_ generic-address forms filled in and
 * agreeing) points at the FACS, the DSDT and the PM blocks at 0x600. The
 * DSDT's AML defines \_S5 = {0, 0}, so writing SLP_TYP 0 with SLP_EN to
 * PM1a_CNT powers off, as on QEMU's PIIX4, and the PCI root bridge
 * \_SB.PCI0 (PNP0A03; bus 0-255, configuration ports 0xcf8-0xcff, the I/O
 * windows around them and the memory window from the end of low RAM to the
 * IOAPIC), without which Linux does not scan the PCI bus at all. SMI_CMD is
 * 0: the platform is always in ACPI mode (SCI_EN reads as 1). The FADT's
 * PWR_BUTTON flag is clear: the power button is the fixed feature (PM1
 * PWRBTN_STS/EN, 4.8.3.1), pressed by acpi_pm_power_button(); the SCI is
 * level-triggered and high while an enabled status bit (TMR, GBL, PWRBTN,
 * RTC) is set.
 */
#include <string.h>
#include <time.h>

#include "dev_acpi.h"

#define ACPI_HDR_LEN 36
#define FADT_LEN     244
#define FACS_LEN     64

/* offsets in the ACPI_TABLES_ADDR page */
#define FACS_OFF 0x000 /* 64-byte aligned */
#define DSDT_OFF 0xc00 /* up to ACPI_TABLES_SIZE (after the largest MADT) */
#define FADT_OFF 0x100
#define RSDT_OFF 0x200
#define MADT_OFF 0x300 /* up to 44 + 8 * 255 + 12 + 2 * 10 + 6 bytes */

static const uint8_t dsdt_aml[] = {
    /* Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero }) */
    0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
};

/* AML PkgLength (ACPI 6.4, 20.2.4) of a package whose body is `body` bytes; returns its size */
static unsigned aml_pkglen(uint8_t *p, unsigned body)
{
	unsigned n = body + 1 < 0x40 ? 1 : body + 2 < 0x1000 ? 2 : 3;
	unsigned len = body + n;

	if (n == 1) {
		p[0] = (uint8_t)len;
	} else {
		p[0] = (uint8_t)((n - 1) << 6 | (len & 0xf));
		for (unsigned k = 1; k < n; k++)
			p[k] = (uint8_t)(len >> (4 + 8 * (k - 1)));
	}
	return n;
}

/* Word (0x88) or DWord (0x87) Address Space Descriptor (6.4.3.5.2/3): producer, fixed */
static unsigned res_addr(uint8_t *p, bool dword, uint8_t type, uint8_t tflags, uint32_t min,
			 uint32_t max)
{
	unsigned w = dword ? 4 : 2, len = 3 + 5 * w;
	uint32_t v[5] = {0, min, max, 0, max - min + 1};

	p[0] = dword ? 0x87 : 0x88;
	p[1] = (uint8_t)len;
	p[2] = 0;
	p[3] = type; /* 0 memory, 1 I/O, 2 bus number */
	p[4] = 0x0c; /* _MAF, _MIF; positive decode; producer */
	p[5] = tflags;
	for (unsigned k = 0; k < 5; k++)
		for (unsigned b = 0; b < w; b++)
			p[6 + k * w + b] = (uint8_t)(v[k] >> (8 * b));
	return 3 + len;
}

/*
 * Scope (\_SB) { Device (PCI0) { Name (_HID, EisaId ("PNP0A03")) Name (_UID, 0)
 * Name (_CRS, ResourceTemplate () { bus 0-0xff, IO 0xcf8/8, I/O 0-0xcf7 and 0xd00-0xffff,
 * memory pci_mem-0xfebfffff }) } }; returns the length.
 */
static unsigned aml_pci_root(uint8_t *out, uint32_t pci_mem)
{
	uint8_t res[128], crs[160], dev[224];
	unsigned r = 0, c = 0, d = 0, o = 0;

	r += res_addr(res + r, false, 2, 0, 0, 0xff);
	memcpy(res + r, (const uint8_t[]){0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08}, 8);
	r += 8; /* IO (Decode16, 0xcf8, 0xcf8, 1, 8) */
	r += res_addr(res + r, false, 1, 3, 0, 0xcf7);
	r += res_addr(res + r, false, 1, 3, 0xd00, 0xffff);
	r += res_addr(res + r, true, 0, 1, pci_mem, 0xfebfffff); /* read/write, non-cacheable */
	res[r++] = 0x79;					 /* End Tag */
	res[r++] = 0;

	/* Name (_CRS, Buffer (r) {...}) */
	memcpy(crs, "\x08_CRS\x11", 6);
	c = 6;
	c += aml_pkglen(crs + c, 2 + r);
	crs[c++] = 0x0a; /* ByteConst */
	crs[c++] = (uint8_t)r;
	memcpy(crs + c, res, r);
	c += r;

	static const uint8_t ids[] = {
	    'P',  'C', 'I',  '0',  0x08, '_',  'H',
	    'I',  'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03, /* PNP0A03 */
	    0x08, '_', 'U',  'I',  'D',	 0x00,
	};
	memcpy(dev, ids, sizeof(ids));
	memcpy(dev + sizeof(ids), crs, c);
	d = (unsigned)sizeof(ids) + c;

	/* Scope (\_SB) { Device (PCI0) { dev } } */
	uint8_t inner[256];
	unsigned i = 0;
	inner[i++] = 0x5b; /* ExtOpPrefix */
	inner[i++] = 0x82; /* DeviceOp */
	i += aml_pkglen(inner + i, d);
	memcpy(inner + i, dev, d);
	i += d;
	out[o++] = 0x10; /* ScopeOp */
	o += aml_pkglen(out + o, 5 + i);
	memcpy(out + o, "\\_SB_", 5);
	o += 5;
	memcpy(out + o, inner, i);
	return o + i;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint8_t checksum(const uint8_t *p, unsigned len)
{
	uint8_t s = 0;
	for (unsigned k = 0; k < len; k++)
		s = (uint8_t)(s + p[k]);
	return (uint8_t)-s;
}

/* The common description header (5.2.6); the checksum is set by table_done(). */
static void table_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memset(t, 0, len);
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "SOFTKV", 6);   /* OEM ID */
	memcpy(t + 16, "SOFTKVM ", 8); /* OEM table ID */
	put32(t + 24, 1);	       /* OEM revision */
	memcpy(t + 28, "SKVM", 4);     /* creator ID */
	put32(t + 32, 1);	       /* creator revision */
}

static void table_done(uint8_t *t, uint32_t len)
{
	t[9] = 0;
	t[9] = checksum(t, len);
}

/* Generic Address Structure (5.2.3.2) for a system I/O register block. */
static void gas_io(uint8_t *g, uint8_t bits, uint8_t access, uint16_t port)
{
	g[0] = 1; /* system I/O */
	g[1] = bits;
	g[2] = 0;
	g[3] = access; /* 1 byte, 2 word, 3 dword */
	put64(g + 4, port);
}

/*
 * MADT (5.2.12), as QEMU's pc machine builds it: one Processor Local APIC per
 * vCPU (UID = APIC ID = index), the IOAPIC (ID 0, 0xfec00000, GSI base 0),
 * the overrides IRQ0 -> GSI 2 and SCI IRQ9 level/active-high, and LINT1 as
 * NMI on every processor. Returns the table's length.
 */
static uint32_t build_madt(uint8_t *t, unsigned ncpus)
{
	uint32_t len = ACPI_HDR_LEN + 8 + 8 * ncpus + 12 + 2 * 10 + 6;
	uint8_t *p;

	table_header(t, "APIC", len, 1);
	put32(t + 36, ACPI_LAPIC_ADDR);
	put32(t + 40, 1); /* PCAT_COMPAT: there are 8259s too */
	p = t + 44;
	for (unsigned k = 0; k < ncpus; k++, p += 8) {
		p[0] = 0; /* Processor Local APIC */
		p[1] = 8;
		p[2] = (uint8_t)k; /* ACPI processor UID */
		p[3] = (uint8_t)k; /* APIC ID */
		put32(p + 4, 1);   /* enabled */
	}
	p[0] = 1; /* I/O APIC */
	p[1] = 12;
	p[2] = 0; /* IOAPIC ID */
	put32(p + 4, ACPI_IOAPIC_ADDR);
	put32(p + 8, 0); /* GSI base */
	p += 12;
	p[0] = 2; /* Interrupt Source Override: ISA IRQ0 (the PIT) is GSI 2 */
	p[1] = 10;
	put32(p + 4, 2);
	put16(p + 8, 0); /* conforms to the bus: edge, active high */
	p += 10;
	p[0] = 2; /* the SCI: IRQ9, level triggered, active high */
	p[1] = 10;
	p[3] = ACPI_SCI_IRQ;
	put32(p + 4, ACPI_SCI_IRQ);
	put16(p + 8, 0x000d);
	p += 10;
	p[0] = 4; /* Local APIC NMI: all processors, LINT1 */
	p[1] = 6;
	p[2] = 0xff;
	put16(p + 3, 0);
	p[5] = 1;
	table_done(t, len);
	return len;
}

void acpi_build_tables(uint8_t *low, unsigned ncpus, uint32_t pci_mem)
{
	uint8_t *base = low + ACPI_TABLES_ADDR;
	uint8_t *facs = base + FACS_OFF, *dsdt = base + DSDT_OFF, *fadt = base + FADT_OFF;
	uint8_t *rsdt = base + RSDT_OFF, *rsdp = low + ACPI_RSDP_ADDR;
	uint8_t pci_aml[320];
	unsigned pci_len = aml_pci_root(pci_aml, pci_mem);
	uint32_t dsdt_len = ACPI_HDR_LEN + sizeof(dsdt_aml) + pci_len;
	uint32_t rsdt_len = ACPI_HDR_LEN + (ncpus ? 8 : 4);

	memset(base, 0, ACPI_TABLES_SIZE);

	/* FACS: no checksum; version 2 (ACPI 4.0+ layout) */
	memcpy(facs, "FACS", 4);
	put32(facs + 4, FACS_LEN);
	facs[32] = 2;

	table_header(dsdt, "DSDT", dsdt_len, 2);
	memcpy(dsdt + ACPI_HDR_LEN, dsdt_aml, sizeof(dsdt_aml));
	memcpy(dsdt + ACPI_HDR_LEN + sizeof(dsdt_aml), pci_aml, pci_len);
	table_done(dsdt, dsdt_len);

	table_header(fadt, "FACP", FADT_LEN, 3);
	put32(fadt + 36, ACPI_TABLES_ADDR + FACS_OFF); /* FIRMWARE_CTRL */
	put32(fadt + 40, ACPI_TABLES_ADDR + DSDT_OFF); /* DSDT */
	put16(fadt + 46, ACPI_SCI_IRQ);		       /* SCI_INT */
	put32(fadt + 48, 0);			       /* SMI_CMD: no mode switch */
	put32(fadt + 56, ACPI_PM1_EVT_BLK);
	put32(fadt + 64, ACPI_PM1_CNT_BLK);
	put32(fadt + 76, ACPI_PM_TMR_BLK);
	fadt[88] = 4;		  /* PM1_EVT_LEN */
	fadt[89] = 2;		  /* PM1_CNT_LEN */
	fadt[91] = 4;		  /* PM_TMR_LEN */
	put16(fadt + 96, 0x0fff); /* P_LVL2_LAT: no C2 */
	put16(fadt + 98, 0x0fff); /* P_LVL3_LAT: no C3 */
	fadt[108] = 0x32;	  /* CENTURY: RTC CMOS index */
	/* flags: WBINVD, PROC_C1, SLP_BUTTON (no fixed sleep button); TMR_VAL_EXT clear:
	 * the PM timer is 24 bits wide */
	put32(fadt + 112, (1u << 0) | (1u << 2) | (1u << 5));
	put64(fadt + 140, ACPI_TABLES_ADDR + DSDT_OFF); /* X_DSDT */
	gas_io(fadt + 148, 32, 2, ACPI_PM1_EVT_BLK);	/* X_PM1a_EVT_BLK */
	gas_io(fadt + 172, 16, 2, ACPI_PM1_CNT_BLK);	/* X_PM1a_CNT_BLK */
	gas_io(fadt + 208, 32, 3, ACPI_PM_TMR_BLK);	/* X_PM_TMR_BLK */
	table_done(fadt, FADT_LEN);

	table_header(rsdt, "RSDT", rsdt_len, 1);
	put32(rsdt + ACPI_HDR_LEN, ACPI_TABLES_ADDR + FADT_OFF);
	if (ncpus) {
		build_madt(base + MADT_OFF, ncpus);
		put32(rsdt + ACPI_HDR_LEN + 4, ACPI_TABLES_ADDR + MADT_OFF);
	}
	table_done(rsdt, rsdt_len);

	/* RSDP revision 0 (ACPI 1.0 form, 20 bytes), like QEMU's for the pc machine */
	memset(rsdp, 0, 20);
	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, "SOFTKV", 6);
	rsdp[15] = 0;
	put32(rsdp + 16, ACPI_TABLES_ADDR + RSDT_OFF);
	rsdp[8] = checksum(rsdp, 20);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void acpi_pm_init(struct acpi_pm *pm)
{
	memset(pm, 0, sizeof(*pm));
	pm->pm1_cnt = 1; /* SCI_EN */
	pm->start_ns = now_ns();
}

uint32_t acpi_pm_timer(const struct acpi_pm *pm)
{
	uint64_t ns = now_ns() - pm->start_ns;
	/* ticks = ns * 3579545 / 1e9, split to avoid overflow for long uptimes */
	uint64_t ticks = (ns / 1000000000ull) * ACPI_PM_TMR_HZ +
			 (ns % 1000000000ull) * ACPI_PM_TMR_HZ / 1000000000ull;
	return (uint32_t)(ticks & 0xffffff);
}

static void reg_rw(uint8_t *bytes, unsigned size, uint64_t off, uint64_t *val, unsigned len,
		   bool write, const uint8_t *wmask)
{
	for (unsigned k = 0; k < len && off + k < size; k++) {
		unsigned i = (unsigned)off + k;
		if (write) {
			uint8_t v = (uint8_t)(*val >> (8 * k));
			bytes[i] = (uint8_t)((bytes[i] & ~wmask[i]) | (v & wmask[i]));
		} else {
			*val &= ~(0xffull << (8 * k));
			*val |= (uint64_t)bytes[i] << (8 * k);
		}
	}
}

/* the SCI follows PM1_STS & PM1_EN (the enable bits PM1_EN can hold) */
static void sci_update(struct acpi_pm *pm)
{
	bool level = (pm->pm1_sts & pm->pm1_en & 0x0521) != 0;

	if (level != pm->sci) {
		pm->sci = level;
		if (pm->set_irq)
			pm->set_irq(pm->irq_opaque, level);
	}
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
	pm->pm1_sts |= ACPI_PM1_PWRBTN;
	sci_update(pm);
}

void acpi_pm_evt_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct acpi_pm *pm = dev;
	uint8_t b[4] = {(uint8_t)pm->pm1_sts, (uint8_t)(pm->pm1_sts >> 8), (uint8_t)pm->pm1_en,
			(uint8_t)(pm->pm1_en >> 8)};
	/* PM1_STS bits are write-1-to-clear: handled below; PM1_EN: TMR, GBL, PWRBTN, RTC */
	static const uint8_t wm[4] = {0, 0, 0x21, 0x05};

	if (write) {
		for (unsigned k = 0; k < len && off + k < 2; k++) {
			uint16_t clr = (uint16_t)(((*val >> (8 * k)) & 0xff) << (8 * (off + k)));
			pm->pm1_sts &= (uint16_t)~clr;
		}
	}
	reg_rw(b, 4, off, val, len, write, wm);
	if (write) {
		pm->pm1_en = (uint16_t)(b[2] | b[3] << 8);
		sci_update(pm);
	}
}

void acpi_pm_cnt_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct acpi_pm *pm = dev;
	uint8_t b[2] = {(uint8_t)pm->pm1_cnt, (uint8_t)(pm->pm1_cnt >> 8)};
	/* SCI_EN stays 1; BM_RLD, GBL_RLS and SLP_TYP are writable; SLP_EN is write-only */
	static const uint8_t wm[2] = {0x06, 0x1c};

	if (write) {
		uint16_t v = pm->pm1_cnt;
		for (unsigned k = 0; k < len && off + k < 2; k++) {
			unsigned sh = 8 * ((unsigned)off + k);
			v = (uint16_t)((v & ~(0xffu << sh)) | (((*val >> (8 * k)) & 0xff) << sh));
		}
		/* SLP_EN with SLP_TYP 0, which \_S5 names: soft off */
		if ((v & (1u << 13)) && ((v >> 10) & 7) == 0)
			pm->poweroff = true;
	}
	reg_rw(b, 2, off, val, len, write, wm);
	if (write)
		pm->pm1_cnt = (uint16_t)(b[0] | b[1] << 8);
}

void acpi_pm_tmr_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	uint32_t t;

	if (write)
		return; /* read-only */
	t = acpi_pm_timer(dev);
	*val = 0;
	for (unsigned k = 0; k < len && off + k < 4; k++)
		*val |= (uint64_t)((t >> (8 * (off + k))) & 0xff) << (8 * k);
}
