/* SPDX-License-Identifier: MIT */
/*
 * The IOAPIC (82093AA) driven through pc-testdev's IRQ lines (port 0x2000+n
 * sets ISA IRQ n, i.e. GSI n, to the value written): edge-triggered pins
 * take one interrupt per rising edge, level-triggered ones hold Remote IRR
 * until the LAPIC's EOI and deliver again while the line stays high;
 * masking, the IRQ0 -> pin 2 override, physical and logical destinations
 * (an AP), and the registers (ID, version, entry read-back). The 8259s are
 * masked. Run with 2 CPUs; "softkvm=1" adds GSI 23 (QEMU's pc-testdev has
 * only the 16 ISA lines).
 */
#include "apic.h"

#define VEC_EDGE  0x50
#define VEC_LEVEL 0x60
#define VEC_AP	  0x70
#define VEC_PIN2  0x58
#define VEC_PIN0  0x59

#define PIN_EDGE  5
#define PIN_LEVEL 10
#define PIN_AP	  11

static volatile u32 n_edge, n_pin2, n_pin0, n_level, n_ap[2];
static volatile u32 level_irr_in_handler, level_tmr_in_handler;
static volatile u32 level_lower_at; /* the handler lowers the line on this hit */

static void edge_irq(struct ex_regs *r)
{
	(void)r;
	n_edge++;
	apic_eoi();
}

static void pin2_irq(struct ex_regs *r)
{
	(void)r;
	n_pin2++;
	apic_eoi();
}

static void pin0_irq(struct ex_regs *r)
{
	(void)r;
	n_pin0++;
	apic_eoi();
}

static void level_irq(struct ex_regs *r)
{
	(void)r;
	n_level++;
	level_irr_in_handler = ioapic_redir_lo(PIN_LEVEL) & IOAPIC_REMOTE_IRR;
	level_tmr_in_handler = apic_vec_bit(APIC_TMR, VEC_LEVEL);
	if (n_level >= level_lower_at)
		testdev_irq(PIN_LEVEL, 0);
	apic_eoi();
}

static void ap_irq(struct ex_regs *r)
{
	(void)r;
	n_ap[apic_id() & 1]++;
	apic_eoi();
}

static void settle(void)
{
	udelay(3000);
}

static void test_registers(void)
{
	u32 ver = ioapic_read(1);
	info("IOAPIC version register %#x", ver);
	report("IOAPIC: 24 redirection entries (version register bits 23:16 = 23)",
	       ((ver >> 16) & 0xff) == 23);
	ioapic_set_redir(PIN_EDGE, IOAPIC_MASKED | VEC_EDGE, 0x03);
	report("IOAPIC: an entry reads back (low and high dwords)",
	       ioapic_redir_lo(PIN_EDGE) == (IOAPIC_MASKED | VEC_EDGE) &&
		   ioapic_read(0x10 + 2 * PIN_EDGE + 1) >> 24 == 0x03);
	ioapic_set_redir(PIN_EDGE, IOAPIC_MASKED | IOAPIC_REMOTE_IRR | (1u << 12) | VEC_EDGE, 0);
	report("IOAPIC: delivery status and Remote IRR are read-only",
	       (ioapic_redir_lo(PIN_EDGE) & (IOAPIC_REMOTE_IRR | (1u << 12))) == 0);
}

static void test_edge(void)
{
	testdev_irq(PIN_EDGE, 0);
	ioapic_set_redir(PIN_EDGE, VEC_EDGE, 0); /* fixed, physical, edge, high, unmasked */
	testdev_irq(PIN_EDGE, 1);
	settle();
	report("edge: a rising line delivers one interrupt", n_edge == 1);
	testdev_irq(PIN_EDGE, 0);
	settle();
	report("edge: the falling line delivers nothing", n_edge == 1);
	testdev_irq(PIN_EDGE, 1);
	settle();
	report("edge: the next rising edge delivers again", n_edge == 2);
	testdev_irq(PIN_EDGE, 1);
	settle();
	report("edge: raising a line that is already high is no edge", n_edge == 2);
	testdev_irq(PIN_EDGE, 0);
	report("edge: Remote IRR stays clear", !(ioapic_redir_lo(PIN_EDGE) & IOAPIC_REMOTE_IRR));

	/* masked: the edge is lost, unmasking does not bring it back */
	u32 base = n_edge;
	ioapic_set_redir(PIN_EDGE, IOAPIC_MASKED | VEC_EDGE, 0);
	testdev_irq(PIN_EDGE, 1);
	settle();
	bool none = n_edge == base;
	testdev_irq(PIN_EDGE, 0);
	ioapic_set_redir(PIN_EDGE, VEC_EDGE, 0);
	settle();
	report("edge: a masked pin delivers nothing, and its edge is not kept",
	       none && n_edge == base);

	/* ISA IRQ0 is pin 2 (the MADT override), not pin 0 */
	ioapic_set_redir(2, VEC_PIN2, 0);
	ioapic_set_redir(0, VEC_PIN0, 0);
	testdev_irq(0, 1);
	settle();
	testdev_irq(0, 0);
	report("ISA IRQ0 arrives on IOAPIC pin 2, not pin 0", n_pin2 == 1 && n_pin0 == 0);
	ioapic_set_redir(2, IOAPIC_MASKED | VEC_PIN2, 0);
	ioapic_set_redir(0, IOAPIC_MASKED | VEC_PIN0, 0);

	/* GSIs 16-23 exist only on the IOAPIC; QEMU's pc-testdev asserts on lines >= 16 */
	const char *name = "GSI 23 (pc-testdev line 23) arrives on IOAPIC pin 23";
	if (!cmdline_ulong("softkvm", 0)) {
		report_skip(name);
		return;
	}
	ioapic_set_redir(23, VEC_PIN2, 0);
	n_pin2 = 0;
	testdev_irq(23, 1);
	settle();
	testdev_irq(23, 0);
	report(name, n_pin2 == 1);
	ioapic_set_redir(23, IOAPIC_MASKED | VEC_PIN2, 0);
}

static void test_level(void)
{
	testdev_irq(PIN_LEVEL, 0);
	level_lower_at = 1;
	ioapic_set_redir(PIN_LEVEL, IOAPIC_LEVEL | VEC_LEVEL, 0);
	testdev_irq(PIN_LEVEL, 1);
	settle();
	report("level: one interrupt; the handler lowers the line before EOI", n_level == 1);
	report("level: Remote IRR set while the interrupt is in service", level_irr_in_handler);
	report("level: the LAPIC's TMR marks the vector level-triggered", level_tmr_in_handler);
	report("level: EOI clears Remote IRR", !(ioapic_redir_lo(PIN_LEVEL) & IOAPIC_REMOTE_IRR));

	/* a line still high at EOI delivers again */
	n_level = 0;
	level_lower_at = 3;
	testdev_irq(PIN_LEVEL, 1);
	settle();
	report("level: a line still high at EOI interrupts again (3 times)", n_level == 3);

	/* with IF = 0 the interrupt waits in the LAPIC; Remote IRR is already set */
	n_level = 0;
	level_lower_at = 1;
	irq_disable();
	testdev_irq(PIN_LEVEL, 1);
	udelay(2000);
	bool rirr = ioapic_redir_lo(PIN_LEVEL) & IOAPIC_REMOTE_IRR;
	bool irr = apic_vec_bit(APIC_IRR, VEC_LEVEL);
	irq_enable();
	settle();
	report("level, IF = 0: Remote IRR set and the vector pending in IRR", rirr && irr);
	report("level, IF = 0: delivered once after STI, Remote IRR cleared by EOI",
	       n_level == 1 && !(ioapic_redir_lo(PIN_LEVEL) & IOAPIC_REMOTE_IRR));

	/* masked while asserted: unmasking delivers the pending level */
	n_level = 0;
	ioapic_set_redir(PIN_LEVEL, IOAPIC_MASKED | IOAPIC_LEVEL | VEC_LEVEL, 0);
	testdev_irq(PIN_LEVEL, 1);
	settle();
	bool held = n_level == 0;
	ioapic_set_redir(PIN_LEVEL, IOAPIC_LEVEL | VEC_LEVEL, 0);
	settle();
	report("level: a masked, asserted pin delivers when unmasked", held && n_level == 1);

	/* a level interrupt not yet EOIed holds further ones back (Remote IRR) */
	n_level = 0;
	level_lower_at = 100;
	ioapic_set_redir(PIN_LEVEL, IOAPIC_MASKED | IOAPIC_LEVEL | VEC_LEVEL, 0);
	testdev_irq(PIN_LEVEL, 0);
	ioapic_set_redir(PIN_LEVEL, IOAPIC_LEVEL | VEC_LEVEL, 0);
	apic_write(APIC_TASKPRI, 0x60); /* the vector stays in IRR: not EOIed */
	testdev_irq(PIN_LEVEL, 1);
	testdev_irq(PIN_LEVEL, 0);
	testdev_irq(PIN_LEVEL, 1);
	udelay(2000);
	bool one_pending = apic_vec_bit(APIC_IRR, VEC_LEVEL) && n_level == 0 &&
			   (ioapic_redir_lo(PIN_LEVEL) & IOAPIC_REMOTE_IRR);
	testdev_irq(PIN_LEVEL, 0);
	level_lower_at = 1;
	apic_write(APIC_TASKPRI, 0);
	settle();
	report("level: Remote IRR coalesces re-assertions until EOI",
	       one_pending && n_level == 1 && !(ioapic_redir_lo(PIN_LEVEL) & IOAPIC_REMOTE_IRR));
	ioapic_set_redir(PIN_LEVEL, IOAPIC_MASKED | IOAPIC_LEVEL | VEC_LEVEL, 0);
}

static void set_ldr(void *arg)
{
	apic_write(APIC_DFR, 0xffffffffu);
	apic_write(APIC_LDR, (u32)(ulong)arg << 24);
}

static void test_destinations(void)
{
	testdev_irq(PIN_AP, 0);
	ioapic_set_redir(PIN_AP, VEC_AP, 1);
	testdev_irq(PIN_AP, 1);
	wait_until(n_ap[1] == 1, 2000);
	settle();
	testdev_irq(PIN_AP, 0);
	report("physical destination 1: the AP takes it", n_ap[1] == 1 && n_ap[0] == 0);

	set_ldr((void *)1ul);
	on_cpu(1, set_ldr, (void *)2ul);
	ioapic_set_redir(PIN_AP, IOAPIC_LOGICAL | VEC_AP, 0x01);
	testdev_irq(PIN_AP, 1);
	settle();
	testdev_irq(PIN_AP, 0);
	report("logical destination 0x01: the BSP takes it", n_ap[0] == 1 && n_ap[1] == 1);
	ioapic_set_redir(PIN_AP, IOAPIC_LOGICAL | VEC_AP, 0x03);
	testdev_irq(PIN_AP, 1);
	wait_until(n_ap[0] + n_ap[1] == 4, 2000);
	settle();
	testdev_irq(PIN_AP, 0);
	report("logical destination 0x03, fixed: both CPUs take it", n_ap[0] == 2 && n_ap[1] == 2);
	ioapic_set_redir(PIN_AP, IOAPIC_LOGICAL | (1u << 8) | VEC_AP, 0x03);
	testdev_irq(PIN_AP, 1);
	wait_until(n_ap[0] + n_ap[1] >= 5, 2000);
	settle();
	testdev_irq(PIN_AP, 0);
	report("logical destination 0x03, lowest priority: one CPU takes it",
	       n_ap[0] + n_ap[1] == 5);
	ioapic_set_redir(PIN_AP, IOAPIC_MASKED | VEC_AP, 0);
}

int main(void)
{
	set_ex_handler(VEC_EDGE, edge_irq);
	set_ex_handler(VEC_LEVEL, level_irq);
	set_ex_handler(VEC_AP, ap_irq);
	set_ex_handler(VEC_PIN2, pin2_irq);
	set_ex_handler(VEC_PIN0, pin0_irq);
	irq_platform_init();
	unsigned n = smp_boot(2, 5000);
	report("2 CPUs online", n == 2);
	/* every pin masked, every testdev line low */
	for (unsigned pin = 0; pin < 24; pin++)
		ioapic_set_redir(pin, IOAPIC_MASKED, 0);
	for (unsigned line = 0; line < 16; line++)
		testdev_irq(line, 0);
	irq_enable();
	test_registers();
	test_edge();
	test_level();
	if (n == 2)
		test_destinations();
	report_summary();
}
