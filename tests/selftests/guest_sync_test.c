// SPDX-License-Identifier: MIT
/*
 * guest_sync_test: the smallest KVM selftest. The guest reports GUEST_SYNC
 * with stages 1..NR_SYNCS and a value it computed, then GUEST_DONE; the
 * host checks each stage, changes a guest variable between runs and checks
 * that the guest saw it. Built with the selftest library of Linux 6.1
 * (tools/testing/selftests/kvm) by scripts/selftests.sh; the 6.1 tree has no
 * test this small.
 */
#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"

#define NR_SYNCS 5

static uint64_t host_value;

static void guest_code(void)
{
	uint64_t sum = 0;

	for (uint64_t stage = 1; stage <= NR_SYNCS; stage++) {
		sum += host_value;
		GUEST_SYNC_ARGS(stage, sum, host_value, 0, 0);
	}
	GUEST_DONE();
}

int main(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	uint64_t expect_sum = 0;

	setbuf(stdout, NULL);
	vm = vm_create_with_one_vcpu(&vcpu, guest_code);

	for (uint64_t stage = 1;; stage++) {
		uint64_t value = stage * 0x1111;

		host_value = value;
		sync_global_to_guest(vm, host_value);
		expect_sum += value;

		vcpu_run(vcpu);
		TEST_ASSERT(vcpu->run->exit_reason == KVM_EXIT_IO,
			    "stage %lu: unexpected exit reason %u (%s)", stage,
			    vcpu->run->exit_reason, exit_reason_str(vcpu->run->exit_reason));

		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			TEST_ASSERT(uc.args[1] == stage, "stage %lu: guest reported stage %lu",
				    stage, uc.args[1]);
			TEST_ASSERT(uc.args[2] == expect_sum && uc.args[3] == value,
				    "stage %lu: guest sum %#lx value %#lx, expected %#lx %#lx",
				    stage, uc.args[2], uc.args[3], expect_sum, value);
			break;
		case UCALL_DONE:
			TEST_ASSERT(stage == NR_SYNCS + 1, "GUEST_DONE after %lu syncs", stage - 1);
			printf("guest_sync_test: %d syncs, done\n", NR_SYNCS);
			kvm_vm_free(vm);
			return 0;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
		default:
			TEST_FAIL("stage %lu: unexpected ucall %lu", stage, uc.cmd);
		}
	}
}
