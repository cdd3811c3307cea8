/* SPDX-License-Identifier: MIT */
/*
 * Print softkvm's KVM_GET_SUPPORTED_CPUID, one entry a line:
 *   function index flags eax ebx ecx edx   (hex)
 * The system test compares the guest's /proc/cpuinfo flags with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "softkvm/softkvm.h"

int main(void)
{
	int fd = softkvm_open(O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "supported-cpuid: softkvm_open: %s\n", strerror(errno));
		return 2;
	}
	for (unsigned n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return 2;
		c->nent = n;
		if (softkvm_ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			for (unsigned k = 0; k < c->nent; k++) {
				const struct kvm_cpuid_entry2 *e = &c->entries[k];
				printf("%x %x %x %x %x %x %x\n", e->function, e->index, e->flags,
				       e->eax, e->ebx, e->ecx, e->edx);
			}
			free(c);
			softkvm_close(fd);
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			break;
	}
	fprintf(stderr, "supported-cpuid: KVM_GET_SUPPORTED_CPUID: %s\n", strerror(errno));
	return 2;
}
