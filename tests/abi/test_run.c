/* SPDX-License-Identifier: MIT */
/*
 * KVM_RUN with a user-space interrupt controller and the debugger
 * interfaces (Linux 6.1, api.rst 4.16 KVM_INTERRUPT, 4.17 KVM_NMI, 5
 * "request_interrupt_window", 4.38 KVM_SET_GUEST_DEBUG): the interrupt
 * window exit, an injected vector and an NMI reaching their handlers,
 * single-stepping (held back one instruction by MOV SS), INT3 and
 * instruction breakpoints as KVM_EXIT_DEBUG, a
 * triple fault as KVM_EXIT_SHUTDOWN; and KVM_TRANSLATE, KVM_SET_TSS_ADDR,
 * KVM_GET/SET_CLOCK.
 * argv[1]: the guest binary (guest_run.asm).
 */
#include "kvmtest.h"

static void run_to_port(struct kt_vm *t, uint16_t port)
{
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	KT_EQ(t->run->exit_reason, KVM_EXIT_IO);
	KT_EQ(t->run->io.port, port);
}

static int guest_debug(struct kt_vm *t, uint32_t control, uint64_t dr0, uint64_t dr7)
{
	struct kvm_guest_debug d = {.control = control};
	d.arch.debugreg[0] = dr0;
	d.arch.debugreg[7] = dr7;
	return KT_IOCTL(t->vcpu, KVM_SET_GUEST_DEBUG, &d);
}

static void expect_debug(struct kt_vm *t, uint32_t exception, uint64_t pc)
{
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	KT_EQ(t->run->exit_reason, KVM_EXIT_DEBUG);
	KT_EQ(t->run->debug.arch.exception, exception);
	KT_EQ(t->run->debug.arch.pc, pc);
}

static void test_guest(struct kt_vm *t, uint64_t ss_start)
{
	uint64_t sw_bp = ss_start + 3, hw_bp = ss_start + 4;

	run_to_port(t, 0x10);

	/* the interrupt window: an exit as soon as the guest can take one */
	t->run->request_interrupt_window = 1;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	KT_EQ(t->run->exit_reason, KVM_EXIT_IRQ_WINDOW_OPEN);
	KT_EQ(t->run->ready_for_interrupt_injection, 1);
	KT_EQ(t->run->if_flag, 1);
	struct kvm_interrupt irq = {.irq = 0x40};
	KT_EQ(KT_IOCTL(t->vcpu, KVM_INTERRUPT, &irq), 0);
	t->run->request_interrupt_window = 0;
	run_to_port(t, 0x11);
	KT_EQ(t->run->if_flag, 1); /* the OUT comes before the CLI */

	/* an NMI gets through IF=0 */
	KT_EQ(KT_IOCTL(t->vcpu, KVM_NMI, 0), 0);
	run_to_port(t, 0x12);

	/* single steps: the completed OUT is the first step (KVM skips the
	 * emulated instruction under single-step) */
	KT_EQ(guest_debug(t, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP, 0, 0), 0);
	for (unsigned k = 0; k < 4; k++) {
		expect_debug(t, 1, ss_start + k);
		KT_EQ(t->run->debug.arch.dr6 & 0x4000, 0x4000); /* BS */
	}

	/* INT3 and an instruction breakpoint in DR0 */
	KT_EQ(guest_debug(t, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP | KVM_GUESTDBG_USE_HW_BP,
			  hw_bp, 0x402),
	      0);
	expect_debug(t, 3, sw_bp);
	struct kvm_regs r;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_REGS, &r), 0);
	KT_EQ(r.rip, sw_bp);
	r.rip += 1;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_REGS, &r), 0);
	expect_debug(t, 1, hw_bp);
	KT_EQ(t->run->debug.arch.dr6 & 0xf, 1);

	/* off again: the OUT runs, then the triple fault */
	KT_EQ(guest_debug(t, 0, 0, 0), 0);
	run_to_port(t, 0x13);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	KT_EQ(t->run->exit_reason, KVM_EXIT_SHUTDOWN);
}

static void test_translate(void)
{
	struct kt_vm t;
	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	/* real mode: linear is physical */
	struct kvm_translation tr = {.linear_address = 0x12345};
	KT_EQ(KT_IOCTL(t.vcpu, KVM_TRANSLATE, &tr), 0);
	KT_EQ(tr.valid, 1);
	KT_EQ(tr.physical_address, 0x12345);

	/* 32-bit paging: PDE 0 -> page table at 0x21000, PTE 5 -> 0x7000 */
	uint32_t pde = 0x21000 | 3, pte = 0x7000 | 3;
	memcpy(t.mem + 0x20000, &pde, 4);
	memcpy(t.mem + 0x21000 + 5 * 4, &pte, 4);
	struct kvm_sregs s;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_SREGS, &s), 0);
	s.cr0 |= 0x80000001;
	s.cr3 = 0x20000;
	s.cs.db = 1;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &s), 0);
	tr.linear_address = 0x5123;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_TRANSLATE, &tr), 0);
	KT_EQ(tr.valid, 1);
	KT_EQ(tr.physical_address, 0x7123);
	tr.linear_address = 0x6000; /* not present */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_TRANSLATE, &tr), 0);
	KT_EQ(tr.valid, 0);
	kt_vm_destroy(&t);
}

static void test_vm_misc(void)
{
	int kvm = kt_open(), vm = KT_IOCTL(kvm, KVM_CREATE_VM, 0);

	/* the three-page TSS must lie below 4 GiB */
	KT_EQ(KT_IOCTL(vm, KVM_SET_TSS_ADDR, 0xfffbd000), 0);
	KT_EQ(KT_IOCTL(vm, KVM_SET_TSS_ADDR, 0xffffd000), 0);
	KT_FAILS(KT_IOCTL(vm, KVM_SET_TSS_ADDR, 0xffffe000), EINVAL);
	uint64_t ident = 0xfeffc000;
	KT_EQ(KT_IOCTL(vm, KVM_SET_IDENTITY_MAP_ADDR, &ident), 0);

	/* the VM clock: set, read back moving forward from there */
	struct kvm_clock_data c = {.clock = 5000000000ull};
	KT_EQ(KT_IOCTL(vm, KVM_SET_CLOCK, &c), 0);
	struct kvm_clock_data g;
	KT_EQ(KT_IOCTL(vm, KVM_GET_CLOCK, &g), 0);
	KT_CHECK(g.clock >= 5000000000ull && g.clock < 6000000000ull);
	KT_CHECK(g.flags & KVM_CLOCK_REALTIME);
	/* with KVM_CLOCK_REALTIME the time since the realtime stamp is added */
	c.clock = 1000000000ull;
	c.flags = KVM_CLOCK_REALTIME;
	c.realtime = g.realtime - 2000000000ull;
	KT_EQ(KT_IOCTL(vm, KVM_SET_CLOCK, &c), 0);
	KT_EQ(KT_IOCTL(vm, KVM_GET_CLOCK, &g), 0);
	KT_CHECK(g.clock >= 3000000000ull && g.clock < 4000000000ull);
	kt_close(vm);
	kt_close(kvm);
}

/*
 * KVM single-steps with TF, which MOV SS holds back (SDM vol. 3A, 6.8.3): the
 * step after a MOV SS comes only after the instruction that follows it, and
 * no interrupt shadow is left at that exit.
 */
static void test_step_over_mov_ss(void)
{
	/* nop; mov ss, ax; nop; nop; hlt */
	static const uint8_t code[] = {0x90, 0x8e, 0xd0, 0x90, 0x90, 0xf4};
	struct kvm_vcpu_events ev;
	struct kt_vm t;

	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	memcpy(t.mem + 0x1000, code, sizeof(code));
	kt_real_mode(&t, 0x1000);
	KT_EQ(guest_debug(&t, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP, 0, 0), 0);
	expect_debug(&t, 1, 0x1001);
	expect_debug(&t, 1, 0x1004); /* MOV SS and the NOP after it: one step */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_VCPU_EVENTS, &ev), 0);
	KT_EQ(ev.interrupt.shadow, 0);
	expect_debug(&t, 1, 0x1005);
	kt_vm_destroy(&t);
}

int main(int argc, char **argv)
{
	struct kt_vm t;
	if (argc < 2) {
		fprintf(stderr, "usage: %s guest_run.bin\n", argv[0]);
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	KT_CHECK(f != NULL);
	if (!f)
		return kt_done("test_run");
	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	size_t n = fread(t.mem + 0x1000, 1, 0x4000, f);
	fclose(f);
	KT_CHECK(n > 0);
	/* find nop; inc ax; nop; int3; out 0x13, al */
	static const uint8_t marks[] = {0x90, 0x40, 0x90, 0xcc, 0xe6, 0x13};
	uint64_t ss_start = 0;
	for (size_t k = 0; k + sizeof(marks) <= n; k++)
		if (!memcmp(t.mem + 0x1000 + k, marks, sizeof(marks)))
			ss_start = 0x1000 + k;
	KT_CHECK(ss_start != 0);
	kt_real_mode(&t, 0x1000);
	test_guest(&t, ss_start);
	kt_vm_destroy(&t);
	test_translate();
	test_vm_misc();
	test_step_over_mov_ss();
	return kt_done("test_run");
}
