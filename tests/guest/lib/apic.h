/* SPDX-License-Identifier: MIT */
/*
 * Interrupt controllers, timers and SMP for the test kernels: the local
 * APIC (xAPIC MMIO, SDM Vol. 3A, chapter 11), the IOAPIC (82093AA), the
 * 8259A pair, the PM timer as a reference clock, and AP bring-up with
 * INIT-SIPI-SIPI (SDM Vol. 3A, 9.4.4) through a real-mode trampoline at
 * 0x7000 (SIPI vector 0x07).
 */
#ifndef GUEST_APIC_H
#define GUEST_APIC_H

#include "libtest.h"

/* ---- local APIC (xAPIC, default base) ---- */
#define APIC_DEFAULT_BASE 0xfee00000ul
#define APIC_ID		  0x20
#define APIC_LVR	  0x30
#define APIC_TASKPRI	  0x80
#define APIC_PROCPRI	  0xa0
#define APIC_EOI	  0xb0
#define APIC_LDR	  0xd0
#define APIC_DFR	  0xe0
#define APIC_SPIV	  0xf0
#define APIC_ISR	  0x100
#define APIC_TMR	  0x180
#define APIC_IRR	  0x200
#define APIC_ESR	  0x280
#define APIC_ICR	  0x300
#define APIC_ICR2	  0x310
#define APIC_LVTT	  0x320
#define APIC_LVT0	  0x350
#define APIC_LVT1	  0x360
#define APIC_LVTERR	  0x370
#define APIC_TMICT	  0x380
#define APIC_TMCCT	  0x390
#define APIC_TDCR	  0x3e0

#define APIC_LVT_MASKED	    (1u << 16)
#define APIC_TIMER_ONESHOT  (0u << 17)
#define APIC_TIMER_PERIODIC (1u << 17)
#define APIC_TIMER_TSCDL    (2u << 17)

/* ICR: delivery mode, destination mode, level, trigger, shorthand */
#define ICR_FIXED   (0u << 8)
#define ICR_LOWEST  (1u << 8)
#define ICR_NMI	    (4u << 8)
#define ICR_INIT    (5u << 8)
#define ICR_SIPI    (6u << 8)
#define ICR_LOGICAL (1u << 11)
#define ICR_BUSY    (1u << 12)
#define ICR_ASSERT  (1u << 14)
#define ICR_LEVEL   (1u << 15)
#define ICR_SELF    (1u << 18)
#define ICR_ALL	    (2u << 18)
#define ICR_OTHERS  (3u << 18)

#define MSR_APIC_BASE	 0x1b
#define MSR_TSC_DEADLINE 0x6e0

static inline u32 apic_read(unsigned reg)
{
	return readl(APIC_DEFAULT_BASE + reg);
}

static inline void apic_write(unsigned reg, u32 v)
{
	writel(APIC_DEFAULT_BASE + reg, v);
}

static inline u32 apic_id(void)
{
	return apic_read(APIC_ID) >> 24;
}

static inline void apic_eoi(void)
{
	apic_write(APIC_EOI, 0);
}

/* IRR/ISR/TMR bit of a vector */
static inline bool apic_vec_bit(unsigned reg, unsigned vec)
{
	return (apic_read(reg + 0x10 * (vec / 32)) >> (vec % 32)) & 1;
}

/* software-enable the LAPIC (SPIV bit 8, spurious vector 0xff) */
void apic_sw_enable(void);
/*
 * Before STI: the 8259s reprogrammed to vectors 0x20/0x28 and fully masked
 * (SeaBIOS leaves IRQ0 unmasked at vector 8, with the PIT running), the PIT
 * stopped, the LAPIC software-enabled.
 */
void irq_platform_init(void);
/* send an IPI: ICR2 = dest << 24, then ICR low (waits for the previous one to be sent) */
void apic_icr(u32 dest, u32 lo);

/* ---- IOAPIC ---- */
#define IOAPIC_BASE	  0xfec00000ul
#define IOAPIC_LEVEL	  (1u << 15)
#define IOAPIC_REMOTE_IRR (1u << 14)
#define IOAPIC_MASKED	  (1u << 16)
#define IOAPIC_LOGICAL	  (1u << 11)
u32 ioapic_read(unsigned reg);
void ioapic_write(unsigned reg, u32 v);
/* redirection entry: high dword (destination) first, then the low dword */
void ioapic_set_redir(unsigned pin, u32 lo, u8 dest);
u32 ioapic_redir_lo(unsigned pin);

/* ---- 8259A pair ---- */
/* ICW1-4: edge, cascade on IRQ2, 8086 mode; vectors base, base2; then OCW1 = mask */
void pic_init(u8 base, u8 base2, u16 mask);
void pic_set_mask(u16 mask);

/* ---- pc-testdev IRQ lines (QEMU: ISA IRQs 0-15, line n = GSI n) ---- */
static inline void testdev_irq(unsigned line, bool level)
{
	outb((u16)(0x2000 + line), level);
}

/* ---- time ---- */
#define PM_TIMER_PORT 0x608 /* PIIX4 PM base 0x600, as SeaBIOS sets it and softkvm has it */
#define PM_TIMER_HZ   3579545u
static inline u32 pm_timer(void)
{
	return inl(PM_TIMER_PORT) & 0xffffff;
}
/* PM timer ticks since `start` (24 bits, so for less than 4.6 s) */
static inline u32 pm_elapsed(u32 start)
{
	return (pm_timer() - start) & 0xffffff;
}
void udelay(u32 us);
/* TSC ticks per millisecond, measured against the PM timer on first use */
u64 tsc_per_ms(void);
static inline void cpu_relax(void)
{
	asm volatile("pause" : : : "memory");
}
static inline void irq_enable(void)
{
	asm volatile("sti" : : : "memory");
}
static inline void irq_disable(void)
{
	asm volatile("cli" : : : "memory");
}
/* sti; hlt: the interrupt shadow of STI makes the pair atomic */
static inline void safe_halt(void)
{
	asm volatile("sti; hlt" : : : "memory");
}
/* spin until cond (an expression) holds or ms milliseconds passed; true if it held */
#define wait_until(cond, ms)                                                                       \
	({                                                                                         \
		u64 __t0 = rdtsc(), __lim = tsc_per_ms() * (ms);                                   \
		bool __ok;                                                                         \
		while (!(__ok = (cond)) && rdtsc() - __t0 < __lim)                                 \
			cpu_relax();                                                               \
		__ok;                                                                              \
	})

/* ---- SMP ---- */
#define MAX_CPUS	16
#define SIPI_VECTOR	0x07		      /* the trampoline runs at 0x7000 */
#define IPI_CALL_VECTOR 0xf0		      /* wakes an AP to run its mailbox */
extern volatile u32 smp_online;		      /* CPUs that came up, the BSP included */
extern volatile u32 ap_boots[MAX_CPUS];	      /* times each APIC ID ran the trampoline */
extern volatile u16 ap_sipi_cs[MAX_CPUS];     /* CS each AP started with */
extern volatile u32 ap_init_eflags[MAX_CPUS]; /* EFLAGS[7:0] at the SIPI entry */
extern volatile u32 ap_cpuid_apic[MAX_CPUS];  /* CPUID.1:EBX[31:24] seen by each AP */
/* fw_cfg NB_CPUS: how many vCPUs the VMM created */
unsigned fwcfg_nb_cpus(void);
/*
 * INIT-SIPI-SIPI to all but self; wait (up to timeout_ms) until `expect`
 * CPUs are online. Each AP enables its LAPIC and runs the idle loop, which
 * runs what on_cpu() posts. Returns the number of CPUs online.
 */
unsigned smp_boot(unsigned expect, unsigned timeout_ms);
/* run fn(arg) on the CPU with APIC ID id and wait for it (BSP only) */
void on_cpu(unsigned id, void (*fn)(void *), void *arg);
/* post fn(arg) to an AP without waiting */
void on_cpu_async(unsigned id, void (*fn)(void *), void *arg);
/* the AP's idle loop: runs posted work, halts with interrupts enabled otherwise */
noreturn void ap_idle(void);

#endif
