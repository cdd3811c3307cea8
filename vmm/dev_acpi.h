/* SPDX-License-Identifier: MIT */
/*
 * ACPI: the tables (RSDP, RSDT, FADT, FACS, DSDT, MADT) and the fixed-hardware
 * registers they point at: PM1a event block 0x600, PM1a control 0x604 and
 * the PM timer 0x608, where QEMU's PIIX4 has them.
 */
#ifndef SOFTKVM_VMM_DEV_ACPI_H
#define SOFTKVM_VMM_DEV_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#define ACPI_PM_BASE	 0x600
#define ACPI_PM1_EVT_BLK (ACPI_PM_BASE + 0)
#define ACPI_PM1_CNT_BLK (ACPI_PM_BASE + 4)
#define ACPI_PM_TMR_BLK	 (ACPI_PM_BASE + 8)
#define ACPI_PM_TMR_HZ	 3579545ull
#define ACPI_SCI_IRQ	 9

/* where the tables go in the BIOS area (reserved in the memory map) */
#define ACPI_TABLES_ADDR 0xe1000u
#define ACPI_TABLES_SIZE 0x1000u
#define ACPI_RSDP_ADDR	 0xf0000u

struct acpi_pm {
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint64_t start_ns;
	/* set when the guest enters S5 (soft off) through PM1a_CNT.SLP_EN */
	bool poweroff;
	/* the SCI (ISA IRQ 9, level, active high): PM1_STS & PM1_EN; set_irq may be NULL */
	bool sci;
	void (*set_irq)(void *opaque, bool level);
	void *irq_opaque;
};

#define ACPI_PM1_PWRBTN (1u << 8) /* PM1_STS.PWRBTN_STS, PM1_EN.PWRBTN_EN */

#define ACPI_LAPIC_ADDR	 0xfee00000u
#define ACPI_IOAPIC_ADDR 0xfec00000u

/*
 * Write the tables into guest memory: `low` is the host mapping of guest
 * physical 0 and must cover 1 MiB. With ncpus > 0 the RSDT also lists a
 * MADT describing ncpus (at most 255) processors and the IOAPIC; 0 means
 * the machine has no APICs (no MADT). The DSDT's PCI root bridge decodes
 * memory from pci_mem (the end of RAM below 4 GiB) to below the IOAPIC.
 */
void acpi_build_tables(uint8_t *low, unsigned ncpus, uint32_t pci_mem);
void acpi_pm_init(struct acpi_pm *pm);
uint32_t acpi_pm_timer(const struct acpi_pm *pm);
void acpi_pm_evt_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);
void acpi_pm_cnt_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);
/* the fixed-feature power button is pressed (QMP system_powerdown): PWRBTN_STS,
 * and the SCI when PWRBTN_EN (the caller holds the device lock) */
void acpi_pm_power_button(struct acpi_pm *pm);
void acpi_pm_tmr_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);

#endif
