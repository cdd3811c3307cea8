/* SPDX-License-Identifier: MIT */
/*
 * ABI tests speak only <linux/kvm.h>. The same source is built twice: linked
 * against libsoftkvm and calling it in-process (SOFTKVM_INPROC), and as a
 * plain program run under `softkvm exec` that uses open/ioctl/mmap directly
 * (and would run unchanged on a real /dev/kvm).
 */
#ifndef SOFTKVM_TESTS_KVMTEST_H
#define SOFTKVM_TESTS_KVMTEST_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef SOFTKVM_INPROC
#include "softkvm/softkvm.h"
static inline int kt_open(void)
{
	return softkvm_open(O_RDWR);
}
static inline int kt_ioctl(int fd, unsigned long req, void *arg)
{
	return softkvm_ioctl(fd, req, arg);
}
static inline void *kt_mmap(size_t len, int fd)
{
	return softkvm_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
}
static inline int kt_close(int fd)
{
	return softkvm_close(fd);
}
#else
static inline int kt_open(void)
{
	return open("/dev/kvm", O_RDWR | O_CLOEXEC);
}
static inline int kt_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg);
}
static inline void *kt_mmap(size_t len, int fd)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
}
static inline int kt_close(int fd)
{
	return close(fd);
}
#endif

#define KT_IOCTL(fd, req, arg) kt_ioctl((fd), (req), (void *)(uintptr_t)(arg))

static int kt_failures, kt_checks;

#define KT_CHECK(cond)                                                                             \
	do {                                                                                       \
		kt_checks++;                                                                       \
		if (!(cond)) {                                                                     \
			kt_failures++;                                                             \
			fprintf(stderr, "%s:%d: CHECK failed: %s (errno %d %s)\n", __FILE__,       \
				__LINE__, #cond, errno, strerror(errno));                          \
		}                                                                                  \
	} while (0)

#define KT_EQ(a, b)                                                                                \
	do {                                                                                       \
		uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);                                   \
		kt_checks++;                                                                       \
		if (_a != _b) {                                                                    \
			kt_failures++;                                                             \
			fprintf(stderr,                                                            \
				"%s:%d: %s == %s failed: %#" PRIx64 " != %#" PRIx64                \
				" (errno %d)\n",                                                   \
				__FILE__, __LINE__, #a, #b, _a, _b, errno);                        \
		}                                                                                  \
	} while (0)

/* ioctl must fail with errno e */
#define KT_FAILS(call, e)                                                                          \
	do {                                                                                       \
		errno = 0;                                                                         \
		int _r = (call);                                                                   \
		kt_checks++;                                                                       \
		if (_r != -1 || errno != (e)) {                                                    \
			kt_failures++;                                                             \
			fprintf(stderr, "%s:%d: %s: expected -1/%s, got %d/%s\n", __FILE__,        \
				__LINE__, #call, strerror(e), _r, strerror(errno));                \
		}                                                                                  \
	} while (0)

static inline int kt_done(const char *name)
{
	printf("%s: %d checks, %d failures\n", name, kt_checks, kt_failures);
	return kt_failures ? 1 : 0;
}

/* A VM with one vCPU and RAM at guest-physical 0. */
struct kt_vm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	uint8_t *mem;
	size_t mem_size;
};

/*
 * A VM with mem_size bytes of RAM at 0 and one vCPU; setup (optional) runs
 * on the new VM before the memory and the vCPU exist (irqchip, caps).
 */
static inline int kt_vm_create_setup(struct kt_vm *t, size_t mem_size,
				     void (*setup)(struct kt_vm *t))
{
	memset(t, 0, sizeof(*t));
	t->kvm = kt_open();
	if (t->kvm < 0)
		return -1;
	t->vm = KT_IOCTL(t->kvm, KVM_CREATE_VM, 0);
	if (t->vm < 0)
		return -1;
	if (setup)
		setup(t);
	t->mem_size = mem_size;
	t->mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = {.slot = 0,
						.guest_phys_addr = 0,
						.memory_size = mem_size,
						.userspace_addr = (uintptr_t)t->mem};
	if (KT_IOCTL(t->vm, KVM_SET_USER_MEMORY_REGION, &r))
		return -1;
	t->vcpu = KT_IOCTL(t->vm, KVM_CREATE_VCPU, 0);
	if (t->vcpu < 0)
		return -1;
	int sz = KT_IOCTL(t->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	t->run = kt_mmap((size_t)sz, t->vcpu);
	return t->run == MAP_FAILED ? -1 : 0;
}

static inline int kt_vm_create(struct kt_vm *t, size_t mem_size)
{
	return kt_vm_create_setup(t, mem_size, NULL);
}

/* Load the guest binary at path to guest-physical 0x1000; its size, 0 on failure */
static inline size_t kt_load_guest(struct kt_vm *t, const char *path)
{
	FILE *f = fopen(path, "rb");
	KT_CHECK(f != NULL);
	if (!f)
		return 0;
	size_t n = fread(t->mem + 0x1000, 1, 0x4000, f);
	fclose(f);
	KT_CHECK(n > 0);
	return n;
}

/* 32-bit flat protected mode (code 0x08, data 0x10 as the guests' GDTs have them) at eip */
static inline void kt_flat32(int vcpu, uint32_t eip, uint64_t rsp)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	KT_IOCTL(vcpu, KVM_GET_SREGS, &s);
	struct kvm_segment cs = {.base = 0,
				 .limit = 0xffffffff,
				 .selector = 0x08,
				 .type = 0xb,
				 .present = 1,
				 .dpl = 0,
				 .db = 1,
				 .s = 1,
				 .g = 1};
	struct kvm_segment ds = cs;
	ds.selector = 0x10;
	ds.type = 3;
	s.cs = cs;
	s.ds = s.es = s.fs = s.gs = s.ss = ds;
	s.cr0 |= 1;
	KT_EQ(KT_IOCTL(vcpu, KVM_SET_SREGS, &s), 0);
	memset(&r, 0, sizeof(r));
	r.rip = eip;
	r.rsp = rsp;
	r.rflags = 2;
	KT_EQ(KT_IOCTL(vcpu, KVM_SET_REGS, &r), 0);
}

static inline void kt_vm_destroy(struct kt_vm *t)
{
	if (t->vcpu > 0)
		kt_close(t->vcpu);
	if (t->vm > 0)
		kt_close(t->vm);
	if (t->kvm > 0)
		kt_close(t->kvm);
	if (t->mem)
		munmap(t->mem, t->mem_size);
}

/* real mode, CS:IP = 0:ip */
static inline void kt_real_mode(struct kt_vm *t, uint16_t ip)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	KT_IOCTL(t->vcpu, KVM_GET_SREGS, &s);
	s.cs.base = 0;
	s.cs.selector = 0;
	KT_IOCTL(t->vcpu, KVM_SET_SREGS, &s);
	memset(&r, 0, sizeof(r));
	r.rip = ip;
	r.rflags = 2;
	r.rsp = 0x8000;
	KT_IOCTL(t->vcpu, KVM_SET_REGS, &r);
}

#endif
