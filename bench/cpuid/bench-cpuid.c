/* SPDX-License-Identifier: MIT */
/*
 * bench-cpuid: the cost of a guest CR4.OSXSAVE toggle (MOV CR4, which makes
 * KVM update CPUID.1:ECX.OSXSAVE) as the guest's CPUID table grows from 8 to
 * 128 entries. With the per-cause update and the O(1) (function, index)
 * index the cost stays flat. Runs in-process on softkvm.
 * usage: bench-cpuid GUEST_CPUID_BIN [TOGGLES]
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "softkvm/softkvm.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_once(const uint8_t *img, size_t len, unsigned nent, uint32_t toggles, double *ns)
{
	int kvm = softkvm_open(O_RDWR), vm = softkvm_ioctl(kvm, KVM_CREATE_VM, 0);
	uint8_t *mem =
	    mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = {0, 0, 0, 1 << 20, (uintptr_t)mem};
	if (vm < 0 || mem == MAP_FAILED || softkvm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r))
		return -1;
	memcpy(mem + 0x1000, img, len);
	int vcpu = softkvm_ioctl(vm, KVM_CREATE_VCPU, 0);
	struct kvm_run *run =
	    softkvm_mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);

	/* the supported model, padded with leaves up to nent entries */
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[256];
	} cp = {.c.nent = 256};
	if (softkvm_ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cp))
		return -1;
	for (unsigned k = cp.c.nent; k < nent; k++) {
		memset(&cp.e[k], 0, sizeof(cp.e[k]));
		cp.e[k].function = 0x40000100 + k;
	}
	if (nent > cp.c.nent)
		cp.c.nent = nent;
	else
		cp.c.nent = nent; /* the first entries: leaf 0 and 1 come first */
	if (softkvm_ioctl(vcpu, KVM_SET_CPUID2, &cp))
		return -1;

	uint16_t entry[4];
	memcpy(entry, img, 8);
	memcpy(mem + entry[3] + 8, &toggles, 4); /* vars.count */
	struct kvm_sregs s;
	struct kvm_regs rg = {.rip = entry[2], .rflags = 2, .rsp = 0x8000};
	softkvm_ioctl(vcpu, KVM_GET_SREGS, &s);
	s.cs.base = 0;
	s.cs.selector = 0;
	softkvm_ioctl(vcpu, KVM_SET_SREGS, &s);
	softkvm_ioctl(vcpu, KVM_SET_REGS, &rg);
	double t0 = now();
	int rc = softkvm_ioctl(vcpu, KVM_RUN, 0);
	double t1 = now();
	if (rc || run->exit_reason != KVM_EXIT_IO || run->io.port != 0x33)
		return -1;
	*ns = (t1 - t0) * 1e9 / toggles;
	softkvm_close(vcpu);
	softkvm_close(vm);
	softkvm_close(kvm);
	munmap(mem, 1 << 20);
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t img[0x1000];
	if (argc < 2) {
		fprintf(stderr, "usage: bench-cpuid GUEST_CPUID_BIN [TOGGLES]\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		fprintf(stderr, "bench-cpuid: cannot open '%s'\n", argv[1]);
		return 2;
	}
	size_t len = fread(img, 1, sizeof(img), f);
	fclose(f);
	uint32_t toggles = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 0) : 1000000;

	printf("CR4.OSXSAVE toggles in the guest, %u per table size (thread CPU time)\n", toggles);
	printf("%-14s %14s\n", "CPUID entries", "ns per toggle");
	for (unsigned n = 8; n <= 128; n *= 2) {
		double best = 1e30;
		for (int rep = 0; rep < 3; rep++) {
			double ns;
			if (run_once(img, len, n, toggles, &ns)) {
				fprintf(stderr, "bench-cpuid: run failed at %u entries\n", n);
				return 1;
			}
			if (ns < best)
				best = ns;
		}
		printf("%-14u %14.1f\n", n, best);
	}
	return 0;
}
