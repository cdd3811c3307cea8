/* SPDX-License-Identifier: MIT */
/*
 * GSI routing (KVM_SET_GSI_ROUTING, KVM_IRQ_LINE(_STATUS), KVM_SIGNAL_MSI),
 * irqfd (with resample) and ioeventfd, with Linux 6.1's validation
 * (virt/kvm/irqchip.c, eventfd.c, arch/x86/kvm/irq_comm.c).
 *
 * Line levels are kept per interrupt source, as Linux does (user space,
 * irqfd resampler, PIT), and ORed into the pin.
 */
#include <errno.h>
#include <poll.h>
#include <sys/uio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kvm_internal.h"
#include "irq.h"

#define MAX_ROUTES 4096 /* KVM_MAX_IRQ_ROUTES */

struct kvm_irq_routes {
	uint32_t n;
	struct kvm_irq_routing_entry e[];
};

/* ---- line state ---- */

static bool line_level(uint32_t *state, int source, bool level)
{
	if (level)
		*state |= 1u << source;
	else
		*state &= ~(1u << source);
	return *state != 0;
}

static int set_irqchip_pin(struct kvm_vm *vm, uint32_t chip, uint32_t pin, bool level, int source)
{
	if (chip == KVM_IRQCHIP_IOAPIC) {
		if (!vm->ioapic || pin >= 24)
			return -1;
		return ioapic_set_irq(vm->ioapic, pin,
				      line_level(&vm->ioapic_lines[pin], source, level));
	}
	if (!vm->pic || pin >= 8)
		return -1;
	unsigned irq = pin + (chip == KVM_IRQCHIP_PIC_SLAVE ? 8 : 0);
	return pic_set_irq(vm->pic, irq, line_level(&vm->pic_lines[irq], source, level));
}

/*
 * An MSI message as Linux's kvm_set_msi_irq() decodes it: destination
 * address[19:12] (address_hi is not used without KVM_CAP_X2APIC_API),
 * destination mode address[2], redirection hint address[3]; vector
 * data[7:0], delivery mode data[10:8], trigger mode data[15]; always an
 * assert. The address is not checked for the 0xfee prefix: QEMU's APIC MSI
 * region passes the offset in its window.
 */
static void msi_to_irq(uint64_t addr, uint32_t data, struct apic_irq *irq)
{
	memset(irq, 0, sizeof(*irq));
	irq->dest_id = (uint32_t)((addr >> 12) & 0xff);
	irq->dest_logical = (addr >> 2) & 1;
	irq->redir_hint = (addr >> 3) & 1;
	irq->vector = data & 0xff;
	irq->delivery_mode = (data >> 8) & 7;
	irq->trig_level = (data >> 15) & 1;
	irq->level = true;
	irq->shorthand = SH_NONE;
}

/*
 * The split irqchip's "IOAPIC handled vectors" (Linux kvm_scan_ioapic_routes):
 * the MSI routes of GSIs below the reserved IOAPIC pin count that are level
 * triggered and whose destination includes t. Evaluated at the EOI itself,
 * so routing and APIC ID/LDR changes are always current.
 */
bool irq_split_handles_vector(struct kvm_vm *vm, struct kvm_lapic *t, uint8_t vector)
{
	bool found = false;

	pthread_mutex_lock(&vm->irq_lock);
	const struct kvm_irq_routes *rt = vm->routes;
	for (uint32_t k = 0; rt && k < rt->n && !found; k++) {
		const struct kvm_irq_routing_entry *e = &rt->e[k];
		struct apic_irq irq;
		if (e->type != KVM_IRQ_ROUTING_MSI || e->gsi >= vm->nr_reserved_ioapic_pins)
			continue;
		msi_to_irq(e->u.msi.address_lo | ((uint64_t)e->u.msi.address_hi << 32),
			   e->u.msi.data, &irq);
		found = irq.trig_level && irq.vector == vector &&
			lapic_match_dest(t, irq.dest_id, irq.dest_logical);
	}
	pthread_mutex_unlock(&vm->irq_lock);
	return found;
}

int irq_deliver_msi(struct kvm_vm *vm, uint64_t addr, uint32_t data)
{
	struct apic_irq irq;
	msi_to_irq(addr, data, &irq);
	return apic_deliver(vm, NULL, &irq);
}

/* Set GSI to level from source; returns the KVM_IRQ_LINE_STATUS result. Caller: no locks. */
int irq_set_gsi(struct kvm_vm *vm, uint32_t gsi, bool level, int source)
{
	int ret = -1;
	bool msi_pending = false;
	uint64_t maddr = 0;
	uint32_t mdata = 0;

	pthread_mutex_lock(&vm->irq_lock);
	struct kvm_irq_routes *rt = vm->routes;
	for (uint32_t k = 0; rt && k < rt->n; k++) {
		const struct kvm_irq_routing_entry *e = &rt->e[k];
		if (e->gsi != gsi)
			continue;
		int r;
		if (e->type == KVM_IRQ_ROUTING_IRQCHIP) {
			r = set_irqchip_pin(vm, e->u.irqchip.irqchip, e->u.irqchip.pin, level,
					    source);
		} else if (e->type == KVM_IRQ_ROUTING_MSI) {
			if (!level)
				continue;
			maddr = e->u.msi.address_lo | ((uint64_t)e->u.msi.address_hi << 32);
			mdata = e->u.msi.data;
			msi_pending = true;
			continue;
		} else {
			continue;
		}
		if (r < 0)
			continue;
		ret = r + (ret < 0 ? 0 : ret);
	}
	pthread_mutex_unlock(&vm->irq_lock);
	if (msi_pending) {
		int r = irq_deliver_msi(vm, maddr, mdata);
		if (r >= 0)
			ret = r + (ret < 0 ? 0 : ret);
	}
	return ret;
}

/* Linux's default routing: GSI 0-15 to the PIC and IOAPIC, 16-23 to the IOAPIC. */
int irq_setup_default_routing(struct kvm_vm *vm)
{
	struct kvm_irq_routes *rt = calloc(1, sizeof(*rt) + 40 * sizeof(rt->e[0]));
	if (!rt)
		return -ENOMEM;
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		struct kvm_irq_routing_entry *e = &rt->e[rt->n++];
		e->gsi = gsi;
		e->type = KVM_IRQ_ROUTING_IRQCHIP;
		e->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e->u.irqchip.pin = gsi;
		if (gsi < 16) {
			e = &rt->e[rt->n++];
			e->gsi = gsi;
			e->type = KVM_IRQ_ROUTING_IRQCHIP;
			e->u.irqchip.irqchip =
			    gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			e->u.irqchip.pin = gsi & 7;
		}
	}
	pthread_mutex_lock(&vm->irq_lock);
	struct kvm_irq_routes *old = vm->routes;
	vm->routes = rt;
	pthread_mutex_unlock(&vm->irq_lock);
	free(old);
	return 0;
}

int kvm_vm_set_gsi_routing(struct kvm_vm *vm, const struct kvm_irq_routing_entry *e, uint32_t n,
			   uint32_t flags)
{
	if (!vm->irqchip_in_kernel && !vm->split_irqchip)
		return -EINVAL;
	if (n > MAX_ROUTES || flags)
		return -EINVAL;
	for (uint32_t k = 0; k < n; k++) {
		if (e[k].gsi >= MAX_ROUTES || e[k].flags)
			return -EINVAL;
		switch (e[k].type) {
		case KVM_IRQ_ROUTING_IRQCHIP:
			if (vm->split_irqchip)
				return -EINVAL;
			if (e[k].u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
				if (e[k].u.irqchip.pin >= 24)
					return -EINVAL;
			} else if (e[k].u.irqchip.irqchip <= KVM_IRQCHIP_PIC_SLAVE) {
				if (e[k].u.irqchip.pin >= 8)
					return -EINVAL;
			} else {
				return -EINVAL;
			}
			break;
		case KVM_IRQ_ROUTING_MSI:
			break;
		default:
			return -EINVAL;
		}
		/* one GSI: several irqchip routes on different chips, or one MSI route */
		for (uint32_t j = 0; j < k; j++) {
			if (e[j].gsi != e[k].gsi)
				continue;
			if (e[j].type != KVM_IRQ_ROUTING_IRQCHIP ||
			    e[k].type != KVM_IRQ_ROUTING_IRQCHIP ||
			    e[j].u.irqchip.irqchip == e[k].u.irqchip.irqchip)
				return -EINVAL;
		}
	}
	struct kvm_irq_routes *rt = calloc(1, sizeof(*rt) + (n ? n : 1) * sizeof(rt->e[0]));
	if (!rt)
		return -ENOMEM;
	memcpy(rt->e, e, n * sizeof(*e));
	rt->n = n;
	pthread_mutex_lock(&vm->irq_lock);
	struct kvm_irq_routes *old = vm->routes;
	vm->routes = rt;
	/* split irqchip: vectors whose EOI goes to user space (KVM_EXIT_IOAPIC_EOI) */
	pthread_mutex_unlock(&vm->irq_lock);
	free(old);
	return 0;
}

int kvm_vm_irq_line(struct kvm_vm *vm, uint32_t irq, uint32_t level, int *status)
{
	if (!vm->irqchip_in_kernel && !vm->split_irqchip)
		return -ENXIO;
	/* whoever raises a line may have written RAM first (DMA) */
	cpu_mem_note_external_write(vm->mem);
	*status = irq_set_gsi(vm, irq, level != 0, IRQ_SOURCE_USER);
	return 0;
}

int kvm_vm_signal_msi(struct kvm_vm *vm, const struct kvm_msi *m)
{
	if ((!vm->irqchip_in_kernel && !vm->split_irqchip) ||
	    (m->flags & ~(uint32_t)KVM_MSI_VALID_DEVID))
		return -EINVAL;
	cpu_mem_note_external_write(vm->mem);
	int r = irq_deliver_msi(vm, m->address_lo | ((uint64_t)m->address_hi << 32), m->data);
	return r < 0 ? 0 : r;
}

/* ---- irqfd ---- */

/* an eventfd's identity as /proc/self/fdinfo shows it (Linux 5.2+), or -1 */
static long eventfd_id(int fd)
{
	char path[64], buf[256];
	long id = -1;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "eventfd-id: %ld", &id) == 1)
			break;
	fclose(f);
	return id;
}

/*
 * Do two descriptors refer to the same eventfd (Linux compares the eventfd
 * contexts)? Not their inode: every eventfd shares one anonymous inode.
 * kcmp(KCMP_FILE) says whether they are one open file; without it (no
 * CONFIG_KCMP, a seccomp filter) the eventfd-id of fdinfo does, and failing
 * that the inode.
 */
static bool same_file(int a, int b)
{
	pid_t p = getpid();
	long r = syscall(SYS_kcmp, p, p, 0 /* KCMP_FILE */, a, b);
	if (r >= 0)
		return r == 0;
	long ia = eventfd_id(a), ib = eventfd_id(b);
	if (ia >= 0 && ib >= 0)
		return ia == ib;
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static bool is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = 0;
	return strcmp(link, "anon_inode:[eventfd]") == 0;
}

/* the route of gsi if it is an MSI, for irqfd injection */
static bool gsi_msi(struct kvm_vm *vm, uint32_t gsi, uint64_t *addr, uint32_t *data)
{
	bool found = false;
	pthread_mutex_lock(&vm->irq_lock);
	for (uint32_t k = 0; vm->routes && k < vm->routes->n; k++) {
		const struct kvm_irq_routing_entry *e = &vm->routes->e[k];
		if (e->gsi == gsi && e->type == KVM_IRQ_ROUTING_MSI) {
			*addr = e->u.msi.address_lo | ((uint64_t)e->u.msi.address_hi << 32);
			*data = e->u.msi.data;
			found = true;
		}
	}
	pthread_mutex_unlock(&vm->irq_lock);
	return found;
}

/*
 * Consume an eventfd's count without ever blocking: the descriptor shares
 * the client's open file (maybe blocking), and the client itself may read
 * it between our poll and our read. RWF_NOWAIT makes eventfd's read return
 * EAGAIN (Linux 5.10+); older kernels get poll, then read.
 */
static bool eventfd_consume(int fd)
{
	uint64_t cnt;
	struct iovec v = {&cnt, sizeof(cnt)};
	ssize_t n = preadv2(fd, &v, 1, -1, RWF_NOWAIT);
	if (n >= 0 || errno != EOPNOTSUPP)
		return n == (ssize_t)sizeof(cnt);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) && read(fd, &cnt, sizeof(cnt)) == 8;
}

/*
 * IRQ offload (seed 003, "IRQ offloading for vDPA"): an irqfd signalled
 * through kvm_irqfd_signal() by the device's own thread is delivered from
 * that thread when its route is an MSI: the destination LAPIC's IRR is set
 * and the vCPU kicked or woken by apic_deliver(), without the eventfd write
 * and the service thread's wake-up (Linux: irqfd_wakeup ->
 * kvm_arch_set_irq_inatomic). Other routes (IOAPIC and PIC pins, resampled
 * irqfds) write the eventfd as before.
 *
 * The registry below maps the client's descriptor numbers to irqfds of all
 * VMs of the process; a signaller holds fast_lock for reading while it
 * delivers, assign/deassign/VM destruction change the registry holding it for
 * writing, before any VM lock (so an irqfd is not freed under a signaller).
 * A number the client reused for another eventfd is told apart by
 * same_file().
 */
#define MAX_FAST_IRQFDS 256

static pthread_rwlock_t fast_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct fast_irqfd {
	int user_fd;
	struct kvm_vm *vm;
	struct kvm_irqfd_int *f;
} fast[MAX_FAST_IRQFDS];
static unsigned nfast;
/* the client descriptor numbers below FAST_FD_BITS that the registry holds: a cheap first test */
#define FAST_FD_BITS 4096
static atomic_ulong fast_fds[FAST_FD_BITS / 64];

static void fast_fd_bit(int fd)
{
	bool any = false;

	if (fd < 0 || fd >= FAST_FD_BITS)
		return;
	for (unsigned k = 0; k < nfast && !any; k++)
		any = fast[k].user_fd == fd;
	if (any)
		atomic_fetch_or(&fast_fds[fd / 64], 1ul << (fd % 64));
	else
		atomic_fetch_and(&fast_fds[fd / 64], ~(1ul << (fd % 64)));
}

bool kvm_irqfd_candidate(int fd)
{
	return fd >= 0 && fd < FAST_FD_BITS &&
	       (atomic_load_explicit(&fast_fds[fd / 64], memory_order_relaxed) >> (fd % 64) & 1);
}

static void fast_add(struct kvm_vm *vm, struct kvm_irqfd_int *f)
{
	pthread_rwlock_wrlock(&fast_lock);
	if (nfast < MAX_FAST_IRQFDS) { /* beyond: the eventfd path */
		fast[nfast++] = (struct fast_irqfd){f->user_fd, vm, f};
		fast_fd_bit(f->user_fd);
	}
	pthread_rwlock_unlock(&fast_lock);
}

/* forget f (f NULL: every irqfd of vm); the caller holds fast_lock for writing */
static void fast_del_locked(struct kvm_vm *vm, struct kvm_irqfd_int *f)
{
	for (unsigned k = 0; k < nfast;) {
		if (fast[k].vm == vm && (!f || fast[k].f == f)) {
			int fd = fast[k].user_fd;
			fast[k] = fast[--nfast];
			fast_fd_bit(fd);
		} else {
			k++;
		}
	}
}

void irqfd_forget_vm(struct kvm_vm *vm)
{
	pthread_rwlock_wrlock(&fast_lock);
	fast_del_locked(vm, NULL);
	pthread_rwlock_unlock(&fast_lock);
}

int kvm_irqfd_signal(int fd)
{
	int r = 0;

	if (!kvm_irqfd_candidate(fd) && fd < FAST_FD_BITS)
		return 0;
	pthread_rwlock_rdlock(&fast_lock);
	for (unsigned k = 0; k < nfast; k++) {
		struct fast_irqfd *e = &fast[k];
		uint64_t addr;
		uint32_t data;

		if (e->user_fd != fd || e->f->resamplefd >= 0 || !same_file(e->f->fd, fd))
			continue;
		if (gsi_msi(e->vm, e->f->gsi, &addr, &data)) {
			/* the device wrote guest memory before it signals */
			cpu_mem_note_external_write(e->vm->mem);
			irq_deliver_msi(e->vm, addr, data);
			atomic_fetch_add(&e->vm->irqfd_direct, 1);
			r = 1;
		}
		break;
	}
	pthread_rwlock_unlock(&fast_lock);
	return r;
}

/* an irqfd's eventfd was signalled (service thread) */
void irqfd_fire(struct kvm_vm *vm, struct kvm_irqfd_int *f)
{
	uint64_t addr;
	uint32_t data;
	if (!eventfd_consume(f->fd))
		return;
	cpu_mem_note_external_write(vm->mem);
	if (gsi_msi(vm, f->gsi, &addr, &data)) {
		irq_deliver_msi(vm, addr, data);
		return;
	}
	if (f->resamplefd >= 0) {
		/* level-triggered: asserted until the guest EOIs, then resampled */
		irq_set_gsi(vm, f->gsi, true, IRQ_SOURCE_RESAMPLE);
		return;
	}
	irq_set_gsi(vm, f->gsi, true, IRQ_SOURCE_USER);
	irq_set_gsi(vm, f->gsi, false, IRQ_SOURCE_USER);
}

int kvm_vm_irqfd(struct kvm_vm *vm, const struct kvm_irqfd *a)
{
	if (a->flags & ~(uint32_t)(KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE))
		return -EINVAL;
	if (a->flags & KVM_IRQFD_FLAG_DEASSIGN) {
		pthread_rwlock_wrlock(&fast_lock);
		pthread_mutex_lock(&vm->lock);
		for (unsigned k = 0; k < vm->nirqfds; k++) {
			struct kvm_irqfd_int *f = vm->irqfds[k];
			if (f->user_fd == (int)a->fd && f->gsi == a->gsi) {
				fast_del_locked(vm, f);
				service_del_fd(vm, f->fd);
				if (f->resamplefd >= 0)
					close(f->resamplefd);
				close(f->fd);
				vm->irqfds[k] = vm->irqfds[--vm->nirqfds];
				free(f);
				break;
			}
		}
		pthread_mutex_unlock(&vm->lock);
		pthread_rwlock_unlock(&fast_lock);
		return 0;
	}
	bool resample = a->flags & KVM_IRQFD_FLAG_RESAMPLE;
	if (resample ? !vm->irqchip_in_kernel : (!vm->irqchip_in_kernel && !vm->split_irqchip))
		return -EINVAL;
	if (!is_eventfd((int)a->fd))
		return fcntl_valid((int)a->fd) ? -EINVAL : -EBADF;
	if (resample && !is_eventfd((int)a->resamplefd))
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	for (unsigned k = 0; k < vm->nirqfds; k++) {
		if (same_file(vm->irqfds[k]->fd, (int)a->fd)) {
			pthread_mutex_unlock(&vm->lock);
			return -EBUSY;
		}
	}
	if (vm->nirqfds == MAX_IRQFDS) {
		pthread_mutex_unlock(&vm->lock);
		return -ENOSPC;
	}
	struct kvm_irqfd_int *f = calloc(1, sizeof(*f));
	if (!f) {
		pthread_mutex_unlock(&vm->lock);
		return -ENOMEM;
	}
	/* our own references, so the client may close its descriptors */
	f->fd = fcntl_dup((int)a->fd);
	f->user_fd = (int)a->fd;
	f->gsi = a->gsi;
	f->resamplefd = resample ? fcntl_dup((int)a->resamplefd) : -1;
	vm->irqfds[vm->nirqfds++] = f;
	pthread_mutex_unlock(&vm->lock);
	/* an event pending since before registration fires at once: the
	 * service thread's (level-triggered) epoll sees it, as Linux's
	 * kvm_irqfd_assign schedules the injection */
	service_add_fd(vm, f->fd, f);
	fast_add(vm, f);
	return 0;
}

/*
 * eventfd_signal(): add one without ever blocking (the descriptor is the
 * client's, maybe blocking): a counter at its maximum means the event is
 * pending anyway. Only the client writing the same eventfd at the same
 * moment could still make the write wait, until it reads.
 */
static void eventfd_signal(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	uint64_t one = 1;

	if (poll(&p, 1, 0) == 1 && (p.revents & POLLOUT) && write(fd, &one, sizeof(one)) < 0) {
		/* not an eventfd any more: nothing to signal */
	}
}

/* guest EOI of a level-triggered GSI: de-assert resampled irqfds, signal user space */
static void resample(struct kvm_vm *vm, unsigned gsi)
{
	for (unsigned k = 0; k < vm->nirqfds; k++) {
		struct kvm_irqfd_int *f = vm->irqfds[k];
		if (f->resamplefd < 0 || f->gsi != gsi)
			continue;
		eventfd_signal(f->resamplefd);
		f->pending_deassert = true;
	}
}

/* called with irq_lock held by the IOAPIC (pin) */
void irq_ack_notify(struct kvm_vm *vm, unsigned pin)
{
	/* de-assertion must not re-enter irq_lock: mark, and let the service thread finish */
	vm->ack_pending |= 1ull << (pin & 63);
	service_wake(vm);
}

void irq_ack_notify_pic(struct kvm_vm *vm, unsigned irq)
{
	vm->ack_pending_pic |= 1u << (irq & 15);
	service_wake(vm);
}

/* service thread: finish ack notifications outside the irq lock */
void irq_process_acks(struct kvm_vm *vm)
{
	pthread_mutex_lock(&vm->irq_lock);
	uint64_t io = vm->ack_pending;
	uint32_t pic = vm->ack_pending_pic;
	vm->ack_pending = 0;
	vm->ack_pending_pic = 0;
	pthread_mutex_unlock(&vm->irq_lock);
	if (!io && !pic)
		return;
	pthread_mutex_lock(&vm->lock);
	for (unsigned gsi = 0; gsi < 64; gsi++) {
		bool hit = (io >> gsi) & 1;
		if (gsi < 16 && ((pic >> gsi) & 1))
			hit = true;
		if (!hit)
			continue;
		resample(vm, gsi);
	}
	for (unsigned k = 0; k < vm->nirqfds; k++) {
		struct kvm_irqfd_int *f = vm->irqfds[k];
		if (f->pending_deassert) {
			f->pending_deassert = false;
			pthread_mutex_unlock(&vm->lock);
			irq_set_gsi(vm, f->gsi, false, IRQ_SOURCE_RESAMPLE);
			pthread_mutex_lock(&vm->lock);
		}
	}
	pthread_mutex_unlock(&vm->lock);
}

/* ---- ioeventfd ---- */

int kvm_vm_ioeventfd(struct kvm_vm *vm, const struct kvm_ioeventfd *a)
{
	const uint32_t valid =
	    KVM_IOEVENTFD_FLAG_DATAMATCH | KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DEASSIGN;
	bool pio = a->flags & KVM_IOEVENTFD_FLAG_PIO, dm = a->flags & KVM_IOEVENTFD_FLAG_DATAMATCH;

	if (a->flags & ~valid)
		return -EINVAL;
	switch (a->len) {
	case 0:
	case 1:
	case 2:
	case 4:
	case 8:
		break;
	default:
		return -EINVAL;
	}
	if (a->addr + a->len < a->addr)
		return -EINVAL;
	if (!a->len && dm)
		return -EINVAL; /* a wildcard length cannot match data */
	if (a->flags & KVM_IOEVENTFD_FLAG_DEASSIGN) {
		int r = -ENOENT;
		pthread_mutex_lock(&vm->lock);
		for (unsigned k = 0; k < vm->nioeventfds; k++) {
			struct kvm_ioeventfd_int *e = &vm->ioeventfds[k];
			if (e->addr == a->addr && e->len == a->len && e->pio == pio &&
			    same_file(e->fd, (int)a->fd) && e->datamatch == dm &&
			    (!dm || e->data == a->datamatch)) {
				close(e->fd);
				vm->ioeventfds[k] = vm->ioeventfds[--vm->nioeventfds];
				r = 0;
				break;
			}
		}
		pthread_mutex_unlock(&vm->lock);
		return r;
	}
	if (!is_eventfd((int)a->fd))
		return fcntl_valid((int)a->fd) ? -EINVAL : -EBADF;
	pthread_mutex_lock(&vm->lock);
	for (unsigned k = 0; k < vm->nioeventfds; k++) {
		struct kvm_ioeventfd_int *e = &vm->ioeventfds[k];
		if (e->addr == a->addr && e->len == a->len && e->pio == pio &&
		    (!e->datamatch || !dm || e->data == a->datamatch)) {
			pthread_mutex_unlock(&vm->lock);
			return -EEXIST;
		}
	}
	if (vm->nioeventfds == MAX_IOEVENTFDS) {
		pthread_mutex_unlock(&vm->lock);
		return -ENOSPC;
	}
	struct kvm_ioeventfd_int *e = &vm->ioeventfds[vm->nioeventfds];
	e->addr = a->addr;
	e->len = a->len;
	e->pio = pio;
	e->datamatch = dm;
	e->data = a->datamatch;
	e->fd = fcntl_dup((int)a->fd);
	atomic_store(&vm->nioeventfds_pub, ++vm->nioeventfds);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/* a guest write: signal a matching ioeventfd instead of exiting */
bool ioeventfd_write(struct kvm_vm *vm, uint64_t addr, unsigned len, const void *data, bool pio)
{
	bool hit = false;
	uint64_t v = 0;

	if (!atomic_load_explicit(&vm->nioeventfds_pub, memory_order_relaxed))
		return false;
	memcpy(&v, data, len > 8 ? 8 : len);
	pthread_mutex_lock(&vm->lock);
	for (unsigned k = 0; k < vm->nioeventfds; k++) {
		struct kvm_ioeventfd_int *e = &vm->ioeventfds[k];
		if (e->pio != pio || e->addr != addr || (e->len && e->len != len))
			continue;
		if (e->datamatch && (v & (len == 8 ? ~0ull : (1ull << (8 * len)) - 1)) != e->data)
			continue;
		eventfd_signal(e->fd);
		hit = true;
		break;
	}
	pthread_mutex_unlock(&vm->lock);
	return hit;
}
