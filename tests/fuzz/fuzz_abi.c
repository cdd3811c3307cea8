/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the ioctl layer: libsoftkvm's public interface
 * (softkvm_open/ioctl/mmap/close) driven by a program decoded from the input,
 * while a vCPU thread sits in KVM_RUN and another thread changes memory
 * slots. Invariants: no crash, leak or undefined behaviour (ASan, LSan,
 * UBSan), no data race (the TSan build), no hang (a watchdog stops the
 * threads after 3 s and aborts if they do not stop 5 s later), no leaked
 * descriptor or thread after the VM is closed, and no access to the memory
 * of a slot once the ioctl that deleted it returned (that memory is made
 * inaccessible at once, so an access is a SIGSEGV).
 *
 * Input: a 4-byte header, the guest code, then three byte streams.
 *   byte 0  set-up: bits 0-1 the guest (real-mode code at 0x1000; a 32-bit
 *           paging loop over the slot thread's memory; flat 32-bit code;
 *           64-bit code), bit 2 in-kernel irqchip, bit 3 split irqchip
 *           (if not bit 2), bit 4 PIT, bit 5 a second vCPU with a runner of
 *           its own, bit 6 CPUID from KVM_GET_SUPPORTED_CPUID, bit 7
 *           kvmclock and VAPIC pages in the slot thread's memory
 *   byte 1  bits 0-6 code length, bit 7 copy ioctl arguments through a
 *           pipe, as when process_vm_readv/writev are refused (seccomp)
 *   byte 2  share of the rest for the runners' stream (/256)
 *   byte 3  share of what remains for the slot thread's stream (/256);
 *           the main program gets the rest
 *
 * The runner answers exits (MMIO and port data from its stream) and
 * scribbles over kvm_run as a hostile VMM may; a per-thread timer signal
 * ends its KVM_RUN every 2 ms. The slot thread adds, moves, re-flags and
 * deletes slots 1-3 in its own memory chunks, reads and clears their dirty
 * logs. The main program issues the system, VM and vCPU ioctls with
 * arguments built from templates (often what the matching GET returned),
 * then mutated, with wrong sizes, bad descriptors and bad pointers (NULL,
 * unmapped, read-only, straddling into an unmapped page, kernel addresses),
 * writes guest memory, closes descriptors and maps vCPU descriptors.
 *
 * Memory given to slots by the main program always lies in one large
 * mapping that stays accessible until the VM is gone: the host memory of
 * a slot must stay mapped while the slot exists (softkvm's processor uses
 * it directly; Linux would fail KVM_RUN with EFAULT instead).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <sys/uio.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "softkvm/softkvm.h"
#include "replay.h"
#include "watchdog.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif
#ifndef TSAN_BUILD
#define TSAN_BUILD 0
#endif

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define STABLE_SIZE (64ull << 20) /* slot 0 and the main program's slots */
#define SLOT0_SIZE  (1ull << 20)  /* guest RAM at 0 */
#define NCHUNK	    4		  /* the slot thread's memory */
#define CHUNK_SIZE  (64ull << 10)
#define SLOT_GPA    0x100000ull /* where the slot thread puts slot 1 by default */
#define BUF_SIZE    (64u << 10) /* ioctl arguments; an unmapped page follows */
#define MAX_FDS	    24
#define MAX_RUNNERS 2
#define RUN_TICK_NS 2000000 /* the runner's KVM_RUN ends at least this often */
#define WATCHDOG_MS 3000

/* ---- the input ---- */

struct stream {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct stream *s)
{
	if (!s->n)
		return 0;
	s->n--;
	return *s->p++;
}

static uint16_t u16(struct stream *s)
{
	return (uint16_t)(u8(s) | u8(s) << 8);
}

static uint32_t u32(struct stream *s)
{
	return u16(s) | (uint32_t)u16(s) << 16;
}

static uint64_t u64(struct stream *s)
{
	return u32(s) | (uint64_t)u32(s) << 32;
}

/* a value that is often small or special, sometimes anything */
static uint64_t num(struct stream *s)
{
	static const uint64_t special[] = {0,	    1,		2,	    3,		4,
					   8,	    0xff,	0x100,	    0x1000,	0xffff,
					   0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 1ull << 32,
					   ~0ull,   ~0ull >> 1, 1ull << 63, 0xfee00000, 0xfec00000};
	uint8_t k = u8(s);
	if (k < 96)
		return k & 15;
	if (k < 160)
		return special[k % (sizeof(special) / sizeof(special[0]))];
	if (k < 224)
		return u16(s);
	return u64(s);
}

/* ---- per-process state ---- */

struct runner {
	pthread_t th;
	int fd;
	struct kvm_run *run;
	struct stream in;
	_Atomic bool started, done;
	unsigned long runs;
};

struct chunk {
	uint8_t *mem;
	int slot; /* the slot thread registered it in this slot, or -1 */
};

static struct {
	uint8_t *stable, *chunks, *buf, *guard, *ro;
	int efd[2], pipefd[2];
	int sys, vm, vcpu[2], nvcpu;
	struct kvm_run *run[2];
	size_t run_size;
	int fds[MAX_FDS];
	unsigned nfds;
	void *maps[8];
	size_t map_len[8];
	unsigned nmaps;
	struct runner runners[MAX_RUNNERS];
	unsigned nrunners;
	pthread_t slotter;
	struct stream slot_in;
	struct chunk chunk[NCHUNK];
	_Atomic bool stop;
	int sig_run;
	struct kvm_cpuid2 *supported;
} g;

/* what happened, for FUZZ_STATS=1 and the replay driver */
static _Atomic unsigned long st_inputs, st_ioctls, st_ok, st_efault, st_other_err, st_runs,
    st_exits[64], st_slot_ok, st_slot_fail, st_deleted;

/* the input being run, saved where FUZZ_ABI_SAVE says when something fails
 * (the replay driver has no artifact files of its own) */
static const uint8_t *cur_data;
static size_t cur_size;

static void save_input(void)
{
	const char *path = getenv("FUZZ_ABI_SAVE");
	FILE *f;
	if (!path || !cur_data || !(f = fopen(path, "wb")))
		return;
	if (fwrite(cur_data, 1, cur_size, f) == cur_size)
		fprintf(stderr, "fuzz_abi: the input is in %s\n", path);
	fclose(f);
}

/* the sanitizers call it before they end the process */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void on_crash(int sig)
{
	save_input(); /* not async-signal safe; the process ends anyway */
	raise(sig);
}

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_abi: invariant violated: %s\n", what);
	save_input();
	abort();
}

/* ---- descriptors ---- */

static void track(int fd)
{
	if (fd < 0)
		return;
	if (g.nfds == MAX_FDS) {
		softkvm_close(fd);
		return;
	}
	g.fds[g.nfds++] = fd;
}

static void untrack_close(unsigned k)
{
	softkvm_close(g.fds[k]);
	g.fds[k] = g.fds[--g.nfds];
}

/* a descriptor for an ioctl: ours, or one that is not a KVM object at all */
static int pick_fd(struct stream *s)
{
	uint8_t k = u8(s);
	switch (k & 15) {
	case 0:
	case 1:
	case 2:
		return g.vm;
	case 3:
	case 4:
	case 5:
	case 6:
		return g.vcpu[(k >> 4) % (unsigned)g.nvcpu];
	case 7:
		return g.sys;
	case 8:
	case 9:
		return g.nfds ? g.fds[(k >> 4) % g.nfds] : g.vm;
	case 10:
		return -1;
	case 11:
		return g.efd[0];
	case 12:
		return g.pipefd[0];
	case 13:
		return 1 << 20;
	default:
		return g.vcpu[0];
	}
}

/* ---- pointers ---- */

/* A pointer for an argument of size n whose contents are at buf: mostly buf
 * itself, else NULL, unmapped, read-only, straddling into the unmapped page,
 * misaligned or a kernel address. */
static void *pick_ptr(struct stream *s, void *at, size_t n)
{
	uint8_t k = u8(s);
	if (k < 200)
		return at;
	switch (k % 8) {
	case 0:
		return NULL;
	case 1:
		return g.guard;
	case 2:
		return g.ro;
	case 3: {
		/* the first half readable, the rest in the unmapped page */
		size_t half = n / 2 ? n / 2 : 1;
		uint8_t *p = g.guard - half;
		memmove(p, at, half);
		return p;
	}
	case 4: {
		uint8_t *p = (uint8_t *)at + 1 + (k >> 5) % 7;
		if ((uint8_t *)at + n + 8 <= g.buf + BUF_SIZE)
			memmove(p, at, n);
		return p;
	}
	case 5:
		return (void *)0xffff888000000000ull;
	case 6:
		return (void *)(uintptr_t)-4096;
	default:
		/* anything in the kernel half: never mapped, also not a sanitizer's
		 * shadow (mapped memory a pointer must not reach into) */
		return (void *)(uintptr_t)(u64(s) | 1ull << 63);
	}
}

/* ---- guest physical addresses worth using ---- */

static uint64_t pick_gpa(struct stream *s)
{
	static const uint64_t gpas[] = {0,
					0x1000,
					0x8000,
					0x40000,
					0xf0000,
					SLOT_GPA,
					SLOT_GPA + 0x1000,
					0x200000,
					0x300000,
					0xc0000000,
					0xfee00000,
					0xfec00000,
					0x100000000ull};
	uint8_t k = u8(s);
	if (k < 224)
		return gpas[k % (sizeof(gpas) / sizeof(gpas[0]))];
	return u64(s) & ~0xfffull;
}

/* ---- argument templates ---- */

enum { O_SYS = 1, O_VM = 2, O_VCPU = 4 };
enum { A_NONE, A_INT, A_IN, A_OUT, A_INOUT };

struct ioc;
typedef size_t (*fill_fn)(const struct ioc *c, struct stream *s, uint8_t *b);

struct ioc {
	unsigned long req;
	uint8_t obj, kind;
	unsigned long get; /* the ioctl whose result is the template */
	fill_fn fill;
};

static const uint32_t msr_list[] = {
    0x10,	0x1b,	    0x3a,	0x48,	    0x8b,	0xe1,	    0x174,	0x175,
    0x176,	0x179,	    0x17a,	0x1a0,	    0x277,	0x2ff,	    0x400,	0x401,
    0x402,	0x403,	    0x6e0,	0x800,	    0x808,	0x80b,	    0x830,	0x838,
    0xc0000080, 0xc0000081, 0xc0000082, 0xc0000100, 0xc0000101, 0xc0000102, 0xc0000103, 0x11,
    0x12,	0x4b564d00, 0x4b564d01, 0x4b564d02, 0x4b564d03, 0x4b564d04, 0x4b564d05, 0x40000000,
    0xc0010015, 0x3b,	    0x122,	0x10a,	    0xdeadbeef,
};

static uint32_t pick_msr(struct stream *s)
{
	uint8_t k = u8(s);
	if (k < 240)
		return msr_list[k % (sizeof(msr_list) / sizeof(msr_list[0]))];
	return u32(s);
}

/* an MSR value: for the kvmclock and wall-clock MSRs, mostly a page in a slot */
static uint64_t msr_value(struct stream *s, uint32_t index)
{
	if ((index == 0x4b564d00 || index == 0x4b564d01 || index == 0x11 || index == 0x12) &&
	    u8(s) < 200)
		return pick_gpa(s) | (u8(s) & 0x41);
	return num(s);
}

static size_t fill_msrs(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_msrs *m = (struct kvm_msrs *)b;
	uint32_t n = u8(s) % 12;
	(void)c;
	if (u8(s) > 250)
		n = u16(s);
	m->nmsrs = n;
	for (uint32_t k = 0; k < n && k < 256; k++) {
		m->entries[k].index = pick_msr(s);
		m->entries[k].data = msr_value(s, m->entries[k].index);
	}
	return sizeof(*m) + (n < 256 ? n : 256) * sizeof(m->entries[0]);
}

static size_t fill_msr_list(const struct ioc *c, struct stream *s, uint8_t *b)
{
	(void)c;
	((struct kvm_msr_list *)b)->nmsrs = u8(s) < 128 ? 256 : (uint32_t)num(s);
	return sizeof(struct kvm_msr_list) + 256 * 4;
}

static size_t fill_cpuid_hdr(const struct ioc *c, struct stream *s, uint8_t *b)
{
	(void)c;
	((struct kvm_cpuid2 *)b)->nent = u8(s) < 128 ? 256 : (uint32_t)num(s);
	return sizeof(struct kvm_cpuid2) + 256 * sizeof(struct kvm_cpuid_entry2);
}

static size_t fill_cpuid2(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_cpuid2 *cp = (struct kvm_cpuid2 *)b;
	uint32_t n = g.supported ? g.supported->nent : 0;
	(void)c;
	if (n && u8(s) < 128)
		n = u8(s) % (n + 1);
	if (n)
		memcpy(cp->entries, g.supported->entries, n * sizeof(cp->entries[0]));
	cp->nent = u8(s) < 250 ? n : (uint32_t)num(s);
	return sizeof(*cp) + n * sizeof(cp->entries[0]);
}

static size_t fill_cpuid1(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_cpuid *cp = (struct kvm_cpuid *)b;
	uint32_t n = u8(s) % 8;
	(void)c;
	cp->nent = n;
	for (uint32_t k = 0; k < n; k++) {
		cp->entries[k].function = (uint32_t)num(s);
		cp->entries[k].eax = u32(s);
		cp->entries[k].ebx = u32(s);
		cp->entries[k].ecx = u32(s);
		cp->entries[k].edx = u32(s);
	}
	return sizeof(*cp) + n * sizeof(cp->entries[0]);
}

/*
 * A memory region: the checks Linux makes before looking at the memory are
 * left to fail on their own; anything that could be accepted gets memory of
 * the stable mapping, which stays accessible while any slot may use it.
 */
static size_t fill_region(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_userspace_memory_region *r = (struct kvm_userspace_memory_region *)b;
	(void)c;
	r->slot = u8(s) < 200 ? u8(s) % 8 : u32(s);
	r->flags = u8(s) < 200 ? u8(s) & 3 : u32(s);
	r->guest_phys_addr = pick_gpa(s);
	r->memory_size = u8(s) < 200 ? (uint64_t)(u8(s) % 64) << 12 : u64(s);
	r->userspace_addr = (uintptr_t)g.stable + ((uint64_t)u16(s) << 12);
	return sizeof(*r);
}

static void fixup_region(struct kvm_userspace_memory_region *r)
{
	uint64_t off;

	if ((r->memory_size | r->guest_phys_addr | r->userspace_addr) & 0xfff)
		return; /* EINVAL */
	if ((r->flags & ~3u) || (uint16_t)r->slot >= 512 || (r->slot >> 16))
		return;
	if (r->guest_phys_addr + r->memory_size < r->guest_phys_addr)
		return;
	off = (r->userspace_addr - (uintptr_t)g.stable) % STABLE_SIZE;
	r->userspace_addr = (uintptr_t)g.stable + off;
	if (r->memory_size > STABLE_SIZE - off)
		r->memory_size = STABLE_SIZE - off;
}

static size_t fill_dirty_log(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_dirty_log *d = (struct kvm_dirty_log *)b;
	(void)c;
	d->slot = u8(s) < 240 ? u8(s) % 8 : u32(s);
	d->dirty_bitmap = pick_ptr(s, g.buf + BUF_SIZE / 2, BUF_SIZE / 2);
	return sizeof(*d);
}

static size_t fill_clear_log(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_clear_dirty_log *d = (struct kvm_clear_dirty_log *)b;
	(void)c;
	d->slot = u8(s) < 240 ? u8(s) % 8 : u32(s);
	d->first_page = u8(s) < 200 ? (u8(s) % 4) * 64 : u64(s);
	d->num_pages = u8(s) < 200 ? (uint32_t)(u8(s) % 4) * 64 : u32(s);
	memset(g.buf + BUF_SIZE / 2, u8(s), 512);
	d->dirty_bitmap = pick_ptr(s, g.buf + BUF_SIZE / 2, 512);
	return sizeof(*d);
}

static const uint32_t vm_caps[] = {
    KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
    KVM_CAP_SPLIT_IRQCHIP,
    KVM_CAP_X86_USER_SPACE_MSR,
    KVM_CAP_MAX_VCPU_ID,
    KVM_CAP_SOFTKVM_QUIRKS,
    KVM_CAP_X86_DISABLE_EXITS,
    KVM_CAP_DISABLE_QUIRKS,
    KVM_CAP_EXCEPTION_PAYLOAD,
    KVM_CAP_HYPERV_SYNIC,
    0,
};

static size_t fill_enable_cap(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_enable_cap *e = (struct kvm_enable_cap *)b;
	(void)c;
	e->cap = u8(s) < 220 ? vm_caps[u8(s) % (sizeof(vm_caps) / sizeof(vm_caps[0]))] : u32(s);
	e->flags = u8(s) < 240 ? 0 : u32(s);
	for (int k = 0; k < 4; k++)
		e->args[k] = num(s);
	return sizeof(*e);
}

static size_t fill_zone(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_coalesced_mmio_zone *z = (struct kvm_coalesced_mmio_zone *)b;
	(void)c;
	z->addr = u8(s) < 128 ? pick_gpa(s) : num(s);
	z->size = (uint32_t)num(s);
	z->pio = u8(s) < 200 ? u8(s) & 1 : u32(s);
	return sizeof(*z);
}

static size_t fill_msr_filter(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_msr_filter *f = (struct kvm_msr_filter *)b;
	uint8_t *bm = g.buf + BUF_SIZE / 2;
	(void)c;
	f->flags = u8(s) < 240 ? u8(s) & 1 : u32(s);
	unsigned n = u8(s) % 5;
	for (unsigned k = 0; k < n && k < KVM_MSR_FILTER_MAX_RANGES; k++) {
		struct kvm_msr_filter_range *r = &f->ranges[k];
		r->flags = u8(s) < 240 ? u8(s) % 4 : u32(s);
		r->base = pick_msr(s) & ~63u;
		r->nmsrs = u8(s) < 200 ? (uint32_t)(u8(s) % 8) * 64 : u32(s);
		memset(bm + 0x600 * k, u8(s), 0x600);
		r->bitmap = pick_ptr(s, bm + 0x600 * k, 0x600);
	}
	return sizeof(*f);
}

static size_t fill_routing(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_irq_routing *r = (struct kvm_irq_routing *)b;
	uint32_t n = u8(s) % 8;
	(void)c;
	r->nr = u8(s) < 240 ? n : (uint32_t)num(s);
	r->flags = u8(s) < 240 ? 0 : u32(s);
	for (uint32_t k = 0; k < n; k++) {
		struct kvm_irq_routing_entry *e = &r->entries[k];
		e->gsi = (uint32_t)num(s);
		e->type = u8(s) % 4 + (u8(s) > 250 ? 7 : 0);
		e->flags = u8(s) < 240 ? 0 : u32(s);
		if (e->type == KVM_IRQ_ROUTING_IRQCHIP) {
			e->u.irqchip.irqchip = u8(s) % 4;
			e->u.irqchip.pin = u8(s) % 32;
		} else {
			e->u.msi.address_lo = 0xfee00000 | (u8(s) << 12) | (u8(s) & 0xc);
			e->u.msi.address_hi = u8(s) < 240 ? 0 : u32(s);
			e->u.msi.data = u16(s);
		}
	}
	return sizeof(*r) + n * sizeof(r->entries[0]);
}

/* an eventfd-ish descriptor: ours, a pipe, a KVM object, nothing */
static int pick_efd(struct stream *s)
{
	uint8_t k = u8(s);
	switch (k % 8) {
	case 0:
	case 1:
	case 2:
		return g.efd[0];
	case 3:
		return g.efd[1];
	case 4:
		return g.pipefd[0];
	case 5:
		return g.vm;
	case 6:
		return -1;
	default:
		return 1 << 20;
	}
}

static size_t fill_irqfd(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_irqfd *f = (struct kvm_irqfd *)b;
	(void)c;
	f->fd = (uint32_t)pick_efd(s);
	f->gsi = (uint32_t)num(s);
	f->flags = u8(s) < 240 ? u8(s) & 3 : u32(s);
	f->resamplefd = (uint32_t)pick_efd(s);
	return sizeof(*f);
}

static size_t fill_ioeventfd(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_ioeventfd *e = (struct kvm_ioeventfd *)b;
	(void)c;
	e->datamatch = num(s);
	e->addr = u8(s) < 128 ? pick_gpa(s) : num(s);
	e->len = u8(s) < 200 ? (uint32_t)(1u << (u8(s) % 4)) : u32(s);
	e->fd = pick_efd(s);
	e->flags = u8(s) < 200 ? u8(s) & 0xf : u32(s);
	return sizeof(*e);
}

static size_t fill_sigmask(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_signal_mask *m = (struct kvm_signal_mask *)b;
	uint64_t set = u64(s);
	(void)c;
	m->len = u8(s) < 240 ? 8 : u32(s);
	memcpy(m->sigset, &set, 8);
	return sizeof(*m) + 8;
}

/* never the runner's own signal: its KVM_RUN must stay interruptible (with
 * it blocked, a halted vCPU sleeps for good, as on Linux) */
static void fixup_sigmask(uint8_t *b)
{
	uint64_t set;
	memcpy(&set, b + 4, 8);
	set &= ~(1ull << (g.sig_run - 1));
	memcpy(b + 4, &set, 8);
}

static size_t fill_u64(const struct ioc *c, struct stream *s, uint8_t *b)
{
	uint64_t v = (c->req == KVM_SET_IDENTITY_MAP_ADDR) ? pick_gpa(s) : num(s);
	memcpy(b, &v, 8);
	return 8;
}

static size_t fill_vapic(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_vapic_addr *a = (struct kvm_vapic_addr *)b;
	(void)c;
	a->vapic_addr = pick_gpa(s) + (u8(s) < 200 ? 0x80 : u16(s));
	return sizeof(*a);
}

static size_t fill_translate(const struct ioc *c, struct stream *s, uint8_t *b)
{
	struct kvm_translation *t = (struct kvm_translation *)b;
	(void)c;
	t->linear_address = u8(s) < 128 ? pick_gpa(s) + (u8(s) << 4) : u64(s);
	return sizeof(*t);
}

static size_t fill_irqchip_id(const struct ioc *c, struct stream *s, uint8_t *b)
{
	(void)c;
	((struct kvm_irqchip *)b)->chip_id = u8(s) < 240 ? u8(s) % 3 : u32(s);
	return sizeof(struct kvm_irqchip);
}

#define IOC(r, o, k, gt, f)                                                                        \
	{                                                                                          \
		r, o, k, gt, f                                                                     \
	}
static const struct ioc iocs[] = {
    IOC(KVM_GET_API_VERSION, O_SYS, A_INT, 0, NULL),
    IOC(KVM_CREATE_VM, O_SYS, A_INT, 0, NULL),
    IOC(KVM_CHECK_EXTENSION, O_SYS | O_VM, A_INT, 0, NULL),
    IOC(KVM_GET_VCPU_MMAP_SIZE, O_SYS, A_INT, 0, NULL),
    IOC(KVM_GET_SUPPORTED_CPUID, O_SYS, A_INOUT, 0, fill_cpuid_hdr),
    IOC(KVM_GET_MSR_INDEX_LIST, O_SYS, A_INOUT, 0, fill_msr_list),
    IOC(KVM_GET_MSR_FEATURE_INDEX_LIST, O_SYS, A_INOUT, 0, fill_msr_list),
    IOC(KVM_GET_MSRS, O_SYS | O_VCPU, A_INOUT, 0, fill_msrs),
    IOC(KVM_X86_GET_MCE_CAP_SUPPORTED, O_SYS, A_OUT, 0, NULL),
    IOC(KVM_CREATE_VCPU, O_VM, A_INT, 0, NULL),
    IOC(KVM_SET_USER_MEMORY_REGION, O_VM, A_IN, 0, fill_region),
    IOC(KVM_GET_DIRTY_LOG, O_VM, A_IN, 0, fill_dirty_log),
    IOC(KVM_CLEAR_DIRTY_LOG, O_VM, A_IN, 0, fill_clear_log),
    IOC(KVM_SET_TSS_ADDR, O_VM, A_INT, 0, NULL),
    IOC(KVM_SET_IDENTITY_MAP_ADDR, O_VM, A_IN, 0, fill_u64),
    IOC(KVM_ENABLE_CAP, O_VM | O_VCPU, A_IN, 0, fill_enable_cap),
    IOC(KVM_REGISTER_COALESCED_MMIO, O_VM, A_IN, 0, fill_zone),
    IOC(KVM_UNREGISTER_COALESCED_MMIO, O_VM, A_IN, 0, fill_zone),
    IOC(KVM_X86_SET_MSR_FILTER, O_VM, A_IN, 0, fill_msr_filter),
    IOC(KVM_GET_CLOCK, O_VM, A_OUT, 0, NULL),
    IOC(KVM_SET_CLOCK, O_VM, A_IN, KVM_GET_CLOCK, NULL),
    IOC(KVM_SET_TSC_KHZ, O_VM | O_VCPU, A_INT, 0, NULL),
    IOC(KVM_GET_TSC_KHZ, O_VM | O_VCPU, A_NONE, 0, NULL),
    IOC(KVM_SET_NR_MMU_PAGES, O_VM, A_INT, 0, NULL),
    IOC(KVM_GET_NR_MMU_PAGES, O_VM, A_NONE, 0, NULL),
    IOC(KVM_CREATE_IRQCHIP, O_VM, A_NONE, 0, NULL),
    IOC(KVM_CREATE_PIT2, O_VM, A_IN, 0, NULL),
    IOC(KVM_GET_IRQCHIP, O_VM, A_INOUT, 0, fill_irqchip_id),
    IOC(KVM_SET_IRQCHIP, O_VM, A_IN, KVM_GET_IRQCHIP, fill_irqchip_id),
    IOC(KVM_GET_PIT2, O_VM, A_OUT, 0, NULL),
    IOC(KVM_SET_PIT2, O_VM, A_IN, KVM_GET_PIT2, NULL),
    IOC(KVM_GET_PIT, O_VM, A_OUT, 0, NULL),
    IOC(KVM_SET_PIT, O_VM, A_IN, KVM_GET_PIT, NULL),
    IOC(KVM_REINJECT_CONTROL, O_VM, A_IN, 0, NULL),
    IOC(KVM_IRQ_LINE, O_VM, A_IN, 0, NULL),
    IOC(KVM_IRQ_LINE_STATUS, O_VM, A_INOUT, 0, NULL),
    IOC(KVM_SET_GSI_ROUTING, O_VM, A_IN, 0, fill_routing),
    IOC(KVM_SIGNAL_MSI, O_VM, A_IN, 0, NULL),
    IOC(KVM_IRQFD, O_VM, A_IN, 0, fill_irqfd),
    IOC(KVM_IOEVENTFD, O_VM, A_IN, 0, fill_ioeventfd),
    IOC(KVM_GET_REGS, O_VCPU, A_OUT, 0, NULL),
    IOC(KVM_SET_REGS, O_VCPU, A_IN, KVM_GET_REGS, NULL),
    IOC(KVM_GET_SREGS, O_VCPU, A_OUT, 0, NULL),
    IOC(KVM_SET_SREGS, O_VCPU, A_IN, KVM_GET_SREGS, NULL),
    IOC(KVM_GET_SREGS2, O_VCPU, A_OUT, 0, NULL),
    IOC(KVM_SET_SREGS2, O_VCPU, A_IN, KVM_GET_SREGS2, NULL),
    IOC(KVM_GET_FPU, O_VCPU, A_OUT, 0, NULL),
    IOC(KVM_SET_FPU, O_VCPU, A_IN, KVM_GET_FPU, NULL),
    IOC(KVM_GET_XSAVE, O_VCPU, A_OUT, 0, NULL),
    IOC(KVM_GET_XSAVE2, O_VCPU, A_OUT, 0, NULL),
    IOC(KVM_SET_XSAVE, O_VCPU, A_IN, KVM_GET_XSAVE, NULL),
    IOC(KVM_GET_XCRS, O_VCPU, A_OUT, 0, NULL),
    IOC(KVM_SET_XCRS, O_VCPU, A_IN, KVM_GET_XCRS, NULL),
    IOC(KVM_SET_MSRS, O_VCPU, A_IN, 0, fill_msrs),
    IOC(KVM_SET_CPUID, O_VCPU, A_IN, 0, fill_cpuid1),
    IOC(KVM_SET_CPUID2, O_VCPU, A_IN, 0, fill_cpuid2),
    IOC(KVM_GET_CPUID2, O_VCPU, A_INOUT, 0, fill_cpuid_hdr),
    IOC(KVM_GET_MP_STATE, O_VCPU, A_OUT, 0, NULL),
    IOC(KVM_SET_MP_STATE, O_VCPU, A_IN, KVM_GET_MP_STATE, NULL),
    IOC(KVM_GET_VCPU_EVENTS, O_VCPU, A_OUT, 0, NULL),
    IOC(KVM_SET_VCPU_EVENTS, O_VCPU, A_IN, KVM_GET_VCPU_EVENTS, NULL),
    IOC(KVM_GET_DEBUGREGS, O_VCPU, A_OUT, 0, NULL),
    IOC(KVM_SET_DEBUGREGS, O_VCPU, A_IN, KVM_GET_DEBUGREGS, NULL),
    IOC(KVM_TRANSLATE, O_VCPU, A_INOUT, 0, fill_translate),
    IOC(KVM_SET_GUEST_DEBUG, O_VCPU, A_IN, 0, NULL),
    IOC(KVM_SET_SIGNAL_MASK, O_VCPU, A_IN, 0, fill_sigmask),
    IOC(KVM_INTERRUPT, O_VCPU, A_IN, 0, NULL),
    IOC(KVM_NMI, O_VCPU, A_NONE, 0, NULL),
    IOC(KVM_GET_LAPIC, O_VCPU, A_OUT, 0, NULL),
    IOC(KVM_SET_LAPIC, O_VCPU, A_IN, KVM_GET_LAPIC, NULL),
    IOC(KVM_KVMCLOCK_CTRL, O_VCPU, A_NONE, 0, NULL),
    IOC(KVM_X86_SETUP_MCE, O_VCPU, A_IN, 0, fill_u64),
    IOC(KVM_X86_SET_MCE, O_VCPU, A_IN, 0, NULL),
    IOC(KVM_SET_VAPIC_ADDR, O_VCPU, A_IN, 0, fill_vapic),
    IOC(KVM_TPR_ACCESS_REPORTING, O_VCPU, A_INOUT, 0, NULL),
};
#define NIOCS (sizeof(iocs) / sizeof(iocs[0]))

static const uint32_t check_caps[] = {
    KVM_CAP_NR_MEMSLOTS,
    KVM_CAP_MAX_VCPUS,
    KVM_CAP_XSAVE2,
    KVM_CAP_IRQCHIP,
    KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
    KVM_CAP_X86_USER_SPACE_MSR,
    KVM_CAP_SOFTKVM_QUIRKS,
    KVM_CAP_COALESCED_MMIO,
    KVM_CAP_MAX_VCPU_ID,
    KVM_CAP_SYNC_REGS,
};

/* the integer argument of an A_INT ioctl */
static unsigned long int_arg(const struct ioc *c, struct stream *s)
{
	switch (c->req) {
	case KVM_CHECK_EXTENSION:
		return u8(s) < 200
			   ? check_caps[u8(s) % (sizeof(check_caps) / sizeof(check_caps[0]))]
			   : (unsigned long)num(s);
	case KVM_CREATE_VCPU:
		return u8(s) < 220 ? u8(s) % 4 : (unsigned long)num(s);
	case KVM_CREATE_VM:
		return u8(s) < 240 ? 0 : (unsigned long)num(s);
	case KVM_SET_TSS_ADDR:
		return (unsigned long)pick_gpa(s);
	case KVM_SET_TSC_KHZ:
		return u8(s) < 128 ? 1000000 + u16(s) * 16ul : (unsigned long)num(s);
	default:
		return (unsigned long)num(s);
	}
}

static void count_result(int r)
{
	st_ioctls++;
	if (r >= 0)
		st_ok++;
	else if (errno == EFAULT)
		st_efault++;
	else
		st_other_err++;
}

/* one ioctl of the main program */
static void op_ioctl(struct stream *s)
{
	const struct ioc *c = &iocs[u8(s) % NIOCS];
	int fd = pick_fd(s);
	unsigned long req = c->req;
	uint8_t *b = g.buf;
	size_t size = _IOC_SIZE(req);
	void *arg;
	int r;

	if (u8(s) > 245) /* the same request with another size: a different ioctl */
		req = (req & ~((unsigned long)_IOC_SIZEMASK << _IOC_SIZESHIFT)) |
		      ((unsigned long)(u8(s) * 8u) << _IOC_SIZESHIFT);
	memset(b, 0, BUF_SIZE / 2);
	switch (c->kind) {
	case A_NONE:
		arg = u8(s) < 240 ? NULL : (void *)(uintptr_t)num(s);
		break;
	case A_INT:
		arg = (void *)int_arg(c, s);
		break;
	default:
		if (c->get) {
			/* the current state as the template */
			if (c->fill)
				c->fill(c, s, b);
			softkvm_ioctl(fd, c->get, b);
		}
		if (c->fill) {
			size_t n = c->fill(c, s, b);
			if (n > size)
				size = n;
		}
		if (c->req == KVM_SET_USER_MEMORY_REGION)
			fixup_region((struct kvm_userspace_memory_region *)b);
		/* mutations */
		for (unsigned k = u8(s) % 4; k; k--) {
			size_t at = size ? u16(s) % size : 0;
			uint8_t v = u8(s);
			if (at < BUF_SIZE / 2)
				b[at] = v;
		}
		if (c->req == KVM_SET_USER_MEMORY_REGION)
			fixup_region((struct kvm_userspace_memory_region *)b);
		if (c->req == KVM_SET_SIGNAL_MASK)
			fixup_sigmask(b);
		arg = pick_ptr(s, b, size);
		break;
	}
	if (req == KVM_RUN)
		return; /* only the runners run */
	r = softkvm_ioctl(fd, req, arg);
	count_result(r);
	if (r >= 0 && (req == KVM_CREATE_VM || req == KVM_CREATE_VCPU))
		track(r);
}

/* an ioctl number that is none of the above, or one of another subsystem */
static void op_raw_ioctl(struct stream *s)
{
	int fd = pick_fd(s);
	unsigned long req = u8(s) < 128 ? (0xae00u | u8(s)) | ((unsigned long)u8(s) & 0xc0) << 24 |
					      (unsigned long)u16(s) % 4096 << 16
					: (unsigned long)u64(s);
	uint8_t *b = g.buf;

	for (unsigned k = 0; k < 64; k++)
		b[k] = u8(s);
	if ((unsigned)req == KVM_RUN)
		return;
	if ((unsigned)req == KVM_SET_SIGNAL_MASK)
		fixup_sigmask(b);
	count_result(softkvm_ioctl(fd, req, u8(s) < 128 ? pick_ptr(s, b, 64) : (void *)num(s)));
}

/* ---- the runners ---- */

static void on_sig_run(int sig)
{
	(void)sig;
}

static void *runner_main(void *arg)
{
	struct runner *r = arg;
	struct sigevent sev;
	timer_t timer;
	bool have_timer;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, g.sig_run);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = g.sig_run;
	sev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
	have_timer = timer_create(CLOCK_MONOTONIC, &sev, &timer) == 0;
	if (have_timer) {
		struct itimerspec its = {{0, RUN_TICK_NS}, {0, RUN_TICK_NS}};
		timer_settime(timer, 0, &its, NULL);
	}
	atomic_store(&r->started, true);
	while (!atomic_load(&g.stop)) {
		struct kvm_run *run = r->run;
		int rc = softkvm_ioctl(r->fd, KVM_RUN, NULL);
		r->runs++;
		if (rc < 0) {
			if (errno == EINTR)
				sched_yield(); /* let other threads have the vCPU's lock */
			if (errno != EINTR && errno != EAGAIN) {
				/* a closed descriptor, kvm_run flags we set: keep going */
				if (run)
					run->kvm_valid_regs = run->kvm_dirty_regs = 0;
				sched_yield();
			}
			continue;
		}
		if (!run)
			continue;
		st_exits[run->exit_reason & 63]++;
		switch (run->exit_reason) {
		case KVM_EXIT_MMIO:
			if (!run->mmio.is_write)
				for (unsigned k = 0; k < 8; k++)
					run->mmio.data[k] = u8(&r->in);
			break;
		case KVM_EXIT_IO:
			if (run->io.direction == KVM_EXIT_IO_IN &&
			    run->io.data_offset < g.run_size &&
			    (size_t)run->io.size * run->io.count <=
				g.run_size - run->io.data_offset)
				for (unsigned k = 0; k < (unsigned)run->io.size * run->io.count;
				     k++)
					((uint8_t *)run)[run->io.data_offset + k] = u8(&r->in);
			break;
		case KVM_EXIT_X86_RDMSR:
		case KVM_EXIT_X86_WRMSR:
			run->msr.error = u8(&r->in) & 1;
			run->msr.data = u64(&r->in);
			break;
		default:
			break;
		}
		/* a hostile VMM rewrites kvm_run between runs */
		uint8_t k = u8(&r->in);
		if (k >= 200) {
			switch (k % 8) {
			case 0:
				run->io.data_offset = u32(&r->in);
				break;
			case 1:
				run->io.direction ^= 1;
				break;
			case 2:
				run->mmio.is_write ^= 1;
				break;
			case 3:
				run->request_interrupt_window = u8(&r->in);
				break;
			case 4:
				run->exit_reason = u32(&r->in);
				break;
			case 5:
				run->cr8 = u8(&r->in) % 20;
				break;
			case 6:
				run->immediate_exit = u8(&r->in) & 1;
				break;
			default:
				run->kvm_dirty_regs = u8(&r->in) & 7;
				break;
			}
		}
	}
	if (have_timer)
		timer_delete(timer);
	atomic_store(&r->done, true);
	return NULL;
}

/* ---- the slot thread ---- */

static int slot_set(uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {slot, flags, gpa, size, (uintptr_t)hva};
	int rc = softkvm_ioctl(g.vm, KVM_SET_USER_MEMORY_REGION, &r);
	if (rc)
		st_slot_fail++;
	else
		st_slot_ok++;
	return rc;
}

static void *slotter_main(void *arg)
{
	struct stream *s = arg;
	uint64_t gpa_of[4] = {0};
	uint64_t size_of[4] = {0};
	/* as large as any slot's: the main program may have made the slot */
	static uint64_t bitmap[STABLE_SIZE / 4096 / 64];

	(void)arg;
	while (s->n && !atomic_load(&g.stop)) {
		uint8_t op = u8(s);
		unsigned slot = 1 + (op >> 4) % 3;
		int c = -1;
		for (int k = 0; k < NCHUNK; k++)
			if (g.chunk[k].slot == (int)slot)
				c = k;
		switch (op & 7) {
		case 0:
		case 1: { /* add the slot in a free chunk */
			if (c >= 0)
				break;
			for (int k = 0; k < NCHUNK && c < 0; k++)
				if (g.chunk[k].slot < 0)
					c = k;
			if (c < 0)
				break;
			if (mprotect(g.chunk[c].mem, CHUNK_SIZE, PROT_READ | PROT_WRITE))
				fail("mprotect");
			uint64_t gpa = (op & 1) ? pick_gpa(s) : SLOT_GPA + (slot - 1) * CHUNK_SIZE;
			uint64_t size = u8(s) < 128 ? CHUNK_SIZE : (uint64_t)(1 + u8(s) % 16) << 12;
			uint32_t flags = u8(s) & 3;
			if (!slot_set(slot, flags, gpa, size, g.chunk[c].mem)) {
				g.chunk[c].slot = (int)slot;
				gpa_of[slot] = gpa;
				size_of[slot] = size;
			}
			break;
		}
		case 2:
		case 3: /* delete it: from now on its memory must stay untouched */
			if (c < 0)
				break;
			if (!slot_set(slot, 0, gpa_of[slot], 0, g.chunk[c].mem)) {
				if (mprotect(g.chunk[c].mem, CHUNK_SIZE, PROT_NONE))
					fail("mprotect");
				g.chunk[c].slot = -1;
				st_deleted++;
			} else if (errno != EINVAL) {
				fail("deleting a slot failed with other than EINVAL");
			}
			break;
		case 4: /* move it */
			if (c >= 0) {
				uint64_t gpa = pick_gpa(s);
				if (!slot_set(slot, u8(s) & 3, gpa, size_of[slot], g.chunk[c].mem))
					gpa_of[slot] = gpa;
			}
			break;
		case 5: /* dirty logging on or off */
			if (c >= 0)
				slot_set(slot, u8(s) & 1, gpa_of[slot], size_of[slot],
					 g.chunk[c].mem);
			break;
		case 6: {
			struct kvm_dirty_log d = {.slot = slot, .dirty_bitmap = bitmap};
			count_result(softkvm_ioctl(g.vm, KVM_GET_DIRTY_LOG, &d));
			break;
		}
		default: {
			struct kvm_clear_dirty_log d = {.slot = slot,
							.num_pages =
							    (uint32_t)(size_of[slot] >> 12),
							.dirty_bitmap = bitmap};
			memset(bitmap, 0xff, sizeof(bitmap));
			count_result(softkvm_ioctl(g.vm, KVM_CLEAR_DIRTY_LOG, &d));
			struct timespec ts = {0, (long)u8(s) * 4000};
			nanosleep(&ts, NULL);
			break;
		}
		}
	}
	return NULL;
}

/* ---- the guest ---- */

static void set_regs(int fd, uint64_t rip)
{
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	r.rip = rip;
	r.rsp = 0x8000;
	r.rflags = 2;
	softkvm_ioctl(fd, KVM_SET_REGS, &r);
}

static void set_mode(int fd, unsigned mode)
{
	struct kvm_sregs s;
	if (softkvm_ioctl(fd, KVM_GET_SREGS, &s))
		return;
	if (mode == 0) {
		s.cs.base = 0;
		s.cs.selector = 0;
	} else {
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
		if (mode == 3) {
			cs.db = 0;
			cs.l = 1;
		}
		s.cs = cs;
		s.ds = s.es = s.fs = s.gs = s.ss = ds;
		s.cr0 = 0x11; /* PE | ET */
		if (mode == 1) {
			s.cr3 = 0x1000;
			s.cr0 |= 0x80000000;
		} else if (mode == 3) {
			s.cr3 = 0x10000;
			s.cr4 = 0x20;	/* PAE */
			s.efer = 0x500; /* LME | LMA */
			s.cr0 |= 0x80000000;
		}
	}
	softkvm_ioctl(fd, KVM_SET_SREGS, &s);
}

/* guest RAM at 0 (slot 0): code at 0x1000, page tables, the templates */
static void build_guest(unsigned tmpl, const uint8_t *code, size_t len)
{
	uint8_t *m = g.stable;

	memset(m, 0, SLOT0_SIZE);
	if (tmpl == 1) {
		/* 32-bit paging, identity for 4 MiB; a loop over the slot thread's
		 * slot 1 (reads, writes, an I/O exit every 64 rounds) */
		uint32_t *pd = (uint32_t *)(m + 0x1000), *pt = (uint32_t *)(m + 0x2000);
		pd[0] = 0x2000 | 7;
		for (unsigned k = 0; k < 1024; k++)
			pt[k] = (k << 12) | 7;
		static const uint8_t loop[] = {
		    0xb9, 0x40, 0x00, 0x00, 0x00,	/* top: mov ecx, 64 */
		    0xa1, 0x00, 0x00, 0x10, 0x00,	/* l: mov eax, [SLOT_GPA] */
		    0xa3, 0x40, 0x10, 0x10, 0x00,	/* mov [SLOT_GPA + 0x1040], eax */
		    0xff, 0x05, 0x80, 0x20, 0x10, 0x00, /* inc dword [SLOT_GPA + 0x2080] */
		    0xe2, 0xee,				/* loop l */
		    0xe6, 0x80,				/* out 0x80, al */
		    0xeb, 0xe5,				/* jmp top */
		};
		memcpy(m + 0x3000, loop, sizeof(loop));
		memcpy(m + 0x3100, code, len > 0xf00 ? 0xf00 : len);
		return;
	}
	if (tmpl == 3) {
		/* 4-level paging, 2 MiB pages, identity for 4 GiB */
		uint64_t *pml4 = (uint64_t *)(m + 0x10000), *pdpt = (uint64_t *)(m + 0x11000);
		pml4[0] = 0x11000 | 7;
		for (unsigned k = 0; k < 4; k++) {
			uint64_t *pd = (uint64_t *)(m + 0x12000 + 0x1000 * k);
			pdpt[k] = (0x12000 + 0x1000 * k) | 7;
			for (unsigned e = 0; e < 512; e++)
				pd[e] = ((uint64_t)k << 30) | ((uint64_t)e << 21) | 0x87;
		}
	}
	memcpy(m + 0x1000, code, len);
}

/* ---- set-up and tear-down ---- */

static void *nothing(void *arg)
{
	return arg;
}

static void init_once(void)
{
	size_t bsz = BUF_SIZE + 2 * 4096;

	g.stable = mmap(NULL, STABLE_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	g.chunks = mmap(NULL, NCHUNK * CHUNK_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g.buf = mmap(NULL, bsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g.stable == MAP_FAILED || g.chunks == MAP_FAILED || g.buf == MAP_FAILED)
		fail("mmap");
	g.guard = g.buf + BUF_SIZE;
	g.ro = g.guard + 4096;
	memset(g.ro, 0x5a, 4096);
	if (mprotect(g.guard, 4096, PROT_NONE) || mprotect(g.ro, 4096, PROT_READ))
		fail("mprotect");
	g.sig_run = SIGRTMIN + 4;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig_run;
	sigemptyset(&sa.sa_mask);
	sigaction(g.sig_run, &sa, NULL);
	/* sanitizer runtimes start helper threads with the first thread: before
	 * the per-input thread count is taken */
	pthread_t th;
	if (pthread_create(&th, NULL, nothing, NULL) == 0)
		pthread_join(th, NULL);
	wd_init();
	wd_set_message("fuzz_abi: invariant violated: hang: the vCPU, slot or main thread did "
		       "not stop 5 s after the watchdog asked\n");
	/* the supported CPUID, for KVM_SET_CPUID2 templates */
	int sys = softkvm_open(O_RDWR);
	g.supported = calloc(1, sizeof(*g.supported) + 256 * sizeof(struct kvm_cpuid_entry2));
	if (sys < 0 || !g.supported)
		fail("softkvm_open");
	g.supported->nent = 256;
	if (softkvm_ioctl(sys, KVM_GET_SUPPORTED_CPUID, g.supported))
		g.supported->nent = 0;
	softkvm_close(sys);
}

static void stats_at_exit(void)
{
	fuzz_stats(stderr);
}

/* descriptors softkvm makes: its memfds, eventfds, signalfds, epoll and
 * timer fds (not what a sanitizer's symbolizer opens) */
static unsigned count_kvm_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[300], link[256];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = 0;
		n += !strncmp(link, "/memfd:softkvm", 14) || !strncmp(link, "anon_inode:", 11);
	}
	closedir(d);
	return n;
}

static unsigned count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	unsigned n = 0;
	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void kick_all(void *arg)
{
	(void)arg;
	atomic_store(&g.stop, true);
	for (unsigned k = 0; k < g.nrunners; k++)
		pthread_kill(g.runners[k].th, g.sig_run);
}

static void setup(uint8_t cfg)
{
	struct kvm_userspace_memory_region r0 = {0, 0, 0, SLOT0_SIZE, (uintptr_t)g.stable};

	g.sys = softkvm_open(O_RDWR);
	g.vm = softkvm_ioctl(g.sys, KVM_CREATE_VM, 0);
	if (g.sys < 0 || g.vm < 0)
		fail("KVM_CREATE_VM");
	if (cfg & 4) {
		softkvm_ioctl(g.vm, KVM_CREATE_IRQCHIP, NULL);
		if (cfg & 16) {
			struct kvm_pit_config pc = {0};
			softkvm_ioctl(g.vm, KVM_CREATE_PIT2, &pc);
		}
	} else if (cfg & 8) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {24}};
		softkvm_ioctl(g.vm, KVM_ENABLE_CAP, &cap);
	}
	if (softkvm_ioctl(g.vm, KVM_SET_USER_MEMORY_REGION, &r0))
		fail("slot 0");
	g.run_size = (size_t)softkvm_ioctl(g.sys, KVM_GET_VCPU_MMAP_SIZE, NULL);
	g.nvcpu = (cfg & 32) ? 2 : 1;
	for (int k = 0; k < g.nvcpu; k++) {
		g.vcpu[k] = softkvm_ioctl(g.vm, KVM_CREATE_VCPU, (void *)(uintptr_t)k);
		if (g.vcpu[k] < 0)
			fail("KVM_CREATE_VCPU");
		g.run[k] = softkvm_mmap(NULL, g.run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
					g.vcpu[k], 0);
		if (g.run[k] == MAP_FAILED)
			fail("mmap kvm_run");
		if ((cfg & 64) && g.supported->nent) /* WAITPKG included: UMONITOR/UMWAIT run */
			softkvm_ioctl(g.vcpu[k], KVM_SET_CPUID2, g.supported);
		set_mode(g.vcpu[k], cfg & 3);
		set_regs(g.vcpu[k], (cfg & 3) == 1 ? 0x3000 : 0x1000);
		if (cfg & 128) {
			/* kvmclock pages and the VAPIC page in the slot thread's slot 1 */
			uint64_t
			    mb[(sizeof(struct kvm_msrs) + 2 * sizeof(struct kvm_msr_entry)) / 8];
			struct kvm_msrs *m = (struct kvm_msrs *)mb;
			memset(mb, 0, sizeof(mb));
			m->nmsrs = 2;
			m->entries[0].index = 0x4b564d01;
			m->entries[0].data = SLOT_GPA + 0x3001;
			m->entries[1].index = 0x4b564d00;
			m->entries[1].data = SLOT_GPA + 0x3040;
			softkvm_ioctl(g.vcpu[k], KVM_SET_MSRS, m);
			struct kvm_vapic_addr va = {SLOT_GPA + 0x3080};
			softkvm_ioctl(g.vcpu[k], KVM_SET_VAPIC_ADDR, &va);
		}
	}
	g.efd[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	g.efd[1] = eventfd(0, EFD_CLOEXEC);
	if (pipe2(g.pipefd, O_CLOEXEC))
		fail("pipe");
	for (int k = 0; k < NCHUNK; k++) {
		g.chunk[k].mem = g.chunks + k * CHUNK_SIZE;
		g.chunk[k].slot = -1;
		if (mprotect(g.chunk[k].mem, CHUNK_SIZE, PROT_READ | PROT_WRITE))
			fail("mprotect");
	}
}

static void teardown(void)
{
	atomic_store(&g.stop, true);
	pthread_join(g.slotter, NULL);
	for (unsigned k = 0; k < g.nrunners; k++) {
		struct runner *r = &g.runners[k];
		/* the signal ends its KVM_RUN; it sees stop then */
		while (!atomic_load(&r->done)) {
			pthread_kill(r->th, g.sig_run);
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL);
		}
		pthread_join(r->th, NULL);
		st_runs += r->runs;
	}
	while (g.nfds)
		untrack_close(g.nfds - 1);
	for (int k = 0; k < g.nvcpu; k++) {
		munmap(g.run[k], g.run_size);
		if (g.vcpu[k] >= 0)
			softkvm_close(g.vcpu[k]);
	}
	for (unsigned k = 0; k < g.nmaps; k++)
		munmap(g.maps[k], g.map_len[k]);
	softkvm_close(g.vm);
	softkvm_close(g.sys);
	close(g.efd[0]);
	close(g.efd[1]);
	close(g.pipefd[0]);
	close(g.pipefd[1]);
}

/* ---- the main program ---- */

static void op_map(struct stream *s)
{
	int fd = pick_fd(s);
	size_t len = u8(s) < 200 ? (size_t)(1 + u8(s) % 4) * 4096 : (size_t)num(s);
	off_t off = u8(s) < 200 ? (off_t)(u8(s) % 4) * 4096 : (off_t)num(s);
	if (g.nmaps == sizeof(g.maps) / sizeof(g.maps[0]))
		return;
	void *p = softkvm_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	if (p != MAP_FAILED) {
		g.maps[g.nmaps] = p;
		g.map_len[g.nmaps++] = len;
		((volatile uint8_t *)p)[0] = ((volatile uint8_t *)p)[0];
	}
}

/* the VMM writes guest RAM behind the processor (as a device would) */
static void guest_write(struct stream *s)
{
	size_t at = (size_t)u16(s) * 16 % (SLOT0_SIZE - 256), n = u8(s);
	for (size_t k = 0; k < n; k++)
		g.stable[at + k] = u8(s);
}

static void run_program(struct stream *s)
{
	while (s->n && !atomic_load(&g.stop)) {
		uint8_t op = u8(s);
		switch (op % 16) {
		case 8:
			guest_write(s);
			break;
		case 9:
			if (g.nfds)
				untrack_close(u8(s) % g.nfds);
			break;
		case 10:
			op_map(s);
			break;
		case 11: {
			struct timespec ts = {0, (long)u8(s) * 4000};
			nanosleep(&ts, NULL);
			break;
		}
		case 12:
			if (g.nrunners)
				pthread_kill(g.runners[u8(s) % g.nrunners].th, g.sig_run);
			break;
		case 13:
			op_raw_ioctl(s);
			break;
		case 15: { /* the VMM writes its eventfds (irqfd, ioeventfd): up to full */
			uint64_t v = u8(s) < 128 ? 1 : 0xfffffffffffffffeull - u8(s), old;
			struct pollfd p = {.fd = g.efd[u8(s) & 1], .events = POLLIN};
			/* efd[1] is blocking: drain it first so that v fits */
			struct iovec iv = {&old, 8};
			if (poll(&p, 1, 0) == 1 && preadv2(p.fd, &iv, 1, -1, RWF_NOWAIT) < 0) {
				/* raced with softkvm's reader (which may empty it between
				 * the poll and the read: never a blocking read) */
			}
			p.events = POLLOUT | POLLIN; /* POLLIN: not empty, v may not fit */
			if (poll(&p, 1, 0) == 1 && (v == 1 || !(p.revents & POLLIN)) &&
			    write(p.fd, &v, 8) < 0) {
				/* no room for v: fine */
			}
			break;
		}
		case 14: { /* close a vCPU's descriptor while its runner uses it */
			int k = u8(s) % g.nvcpu;
			if (u8(s) > 240 && g.vcpu[k] >= 0) {
				softkvm_close(g.vcpu[k]);
				g.vcpu[k] = -1;
			}
			break;
		}
		default:
			op_ioctl(s);
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* abi/uaccess.c: copy arguments through a pipe instead of process_vm_readv/writev */
void abi_uaccess_force_pipe(bool on);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool initialised;
	struct stream in = {data, size}, code, rs, main_in;
	unsigned fds0, threads0;

	if (size < 4)
		return -1;
	if (!initialised) {
		init_once();
		if (getenv("FUZZ_STATS"))
			atexit(stats_at_exit);
		if (!getenv("FUZZ_ABI_SAVE")) {
			/* libFuzzer saves crashing inputs itself (its own death callback) */
		} else if (__sanitizer_set_death_callback) {
			__sanitizer_set_death_callback(save_input);
		} else {
			/* no sanitizer: save the input on a crash ourselves */
			struct sigaction sa;
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = on_crash;
			sa.sa_flags = SA_RESETHAND;
			sigemptyset(&sa.sa_mask);
			sigaction(SIGSEGV, &sa, NULL);
			sigaction(SIGBUS, &sa, NULL);
			sigaction(SIGABRT, &sa, NULL);
		}
		wd_set_on_hang(save_input);
		initialised = true;
	}
	st_inputs++;
	cur_data = data;
	cur_size = size;
	uint8_t cfg = u8(&in), clen = u8(&in), rshare = u8(&in), sshare = u8(&in);
	abi_uaccess_force_pipe(clen & 0x80);
	clen &= 0x7f;
	code.p = in.p;
	code.n = clen < in.n ? clen : in.n;
	in.p += code.n;
	in.n -= code.n;
	rs.p = in.p;
	rs.n = in.n * rshare / 256;
	g.slot_in.p = rs.p + rs.n;
	g.slot_in.n = (in.n - rs.n) * sshare / 256;
	main_in.p = g.slot_in.p + g.slot_in.n;
	main_in.n = in.n - rs.n - g.slot_in.n;

	fds0 = count_kvm_fds();
	threads0 = count_dir("/proc/self/task");
	memset(&g.runners, 0, sizeof(g.runners));
	g.nrunners = 0;
	g.nfds = g.nmaps = 0;
	atomic_store(&g.stop, false);
	build_guest(cfg & 3, code.p, code.n);
	setup(cfg);

	wd_arm(kick_all, NULL, WATCHDOG_MS);
	for (int k = 0; k < g.nvcpu; k++) {
		struct runner *r = &g.runners[k];
		r->fd = g.vcpu[k];
		r->run = g.run[k];
		/* the runners share one stream, each from its own end */
		r->in.p = rs.p + (k ? rs.n / 2 : 0);
		r->in.n = g.nvcpu == 2 ? rs.n / 2 : rs.n;
		if (pthread_create(&r->th, NULL, runner_main, r))
			fail("pthread_create");
		g.nrunners++;
	}
	if (pthread_create(&g.slotter, NULL, slotter_main, &g.slot_in))
		fail("pthread_create");
	for (unsigned k = 0; k < g.nrunners; k++)
		while (!atomic_load(&g.runners[k].started))
			sched_yield();
	run_program(&main_in);
	/* give the vCPUs a moment with whatever the program left */
	struct timespec ts = {0, 1000000};
	nanosleep(&ts, NULL);
	teardown();
	wd_disarm();

	/* a joined thread's task may linger a moment in /proc; ThreadSanitizer
	 * starts helper threads of its own when it likes */
	for (int k = 0; !TSAN_BUILD && count_dir("/proc/self/task") != threads0; k++) {
		if (k == 100)
			fail("a thread is left after the VM was closed");
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	if (count_kvm_fds() != fds0)
		fail("a descriptor leaked (or was closed) after the VM was closed");
	return 0;
}

/* ---- for the replay driver ---- */

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

size_t fuzz_random_input(uint64_t *s, unsigned long k, uint8_t *buf, size_t cap)
{
	size_t n = 64 + (size_t)(xorshift(s) % 1024);
	if (n > cap)
		n = cap;
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(xorshift(s) >> 24);
	buf[0] = (uint8_t)((buf[0] & ~3u) | (k & 3)); /* every guest in turn */
	buf[1] &= 0xbf; /* short code, sometimes arguments copied through a pipe */
	return n;
}

void fuzz_stats(FILE *f)
{
	static const char *names[] = {
	    [KVM_EXIT_IO] = "IO",
	    [KVM_EXIT_HLT] = "HLT",
	    [KVM_EXIT_MMIO] = "MMIO",
	    [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
	    [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
	    [KVM_EXIT_INTR] = "INTR",
	    [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	    [KVM_EXIT_DEBUG] = "DEBUG",
	    [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
	    [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
	    [KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
	    [KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
	    [KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
	    [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
	};
	fprintf(f,
		"fuzz_abi: %lu inputs, %lu ioctls (%lu ok, %lu EFAULT, %lu other errors), %lu "
		"KVM_RUN, slot changes %lu ok %lu refused, %lu deletes; exits:",
		atomic_load(&st_inputs), atomic_load(&st_ioctls), atomic_load(&st_ok),
		atomic_load(&st_efault), atomic_load(&st_other_err), atomic_load(&st_runs),
		atomic_load(&st_slot_ok), atomic_load(&st_slot_fail), atomic_load(&st_deleted));
	for (unsigned k = 0; k < 64; k++) {
		if (!atomic_load(&st_exits[k]))
			continue;
		if (k < sizeof(names) / sizeof(names[0]) && names[k])
			fprintf(f, " %s %lu", names[k], atomic_load(&st_exits[k]));
		else
			fprintf(f, " exit%u %lu", k, atomic_load(&st_exits[k]));
	}
	fprintf(f, "\n");
}
