/* SPDX-License-Identifier: MIT */
/*
 * softkvm's public interface.
 *
 * softkvm serves the /dev/kvm ioctl ABI of <linux/kvm.h> in user space. A
 * program uses it either unmodified, through the LD_PRELOAD library
 * (`softkvm exec -- PROGRAM`), or directly through the three calls below,
 * which behave like open("/dev/kvm"), ioctl() and close() on Linux.
 * Descriptors are real file descriptors (memfds): mmap(), poll(), dup() and
 * close() work on them as usual.
 */
#ifndef SOFTKVM_H
#define SOFTKVM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* open("/dev/kvm", flags): returns a descriptor or -1 with errno set */
int softkvm_open(int flags);
/* ioctl(fd, request, arg) on a softkvm descriptor: returns like ioctl(2) */
int softkvm_ioctl(int fd, unsigned long request, void *arg);
/* close(fd), releasing the KVM object behind it */
int softkvm_close(int fd);
/* true if fd is a softkvm descriptor */
bool softkvm_owns_fd(int fd);
/* mmap(); on a vCPU descriptor it also maps the VM's coalesced MMIO ring page */
void *softkvm_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
/*
 * Signal eventfd fd (add 1, as write(2) of a 64-bit 1 does). When fd is an
 * irqfd (KVM_IRQFD) of a softkvm VM of this process whose GSI routes to an
 * MSI, the interrupt is delivered from the calling thread instead: the
 * destination LAPIC's IRR is set and its vCPU kicked or woken, without the
 * eventfd write and the hop through softkvm's service thread (IRQ offload,
 * as Linux's irqfd_wakeup -> kvm_arch_set_irq_inatomic). Returns 0, or -1
 * with errno set by write(2).
 */
int softkvm_eventfd_signal(int fd);

/*
 * softkvm-specific capabilities (KVM_CHECK_EXTENSION / KVM_ENABLE_CAP on the
 * VM fd). The numbers are far above Linux's so they never collide.
 *
 * KVM_CAP_SOFTKVM_QUIRKS: KVM_CHECK_EXTENSION returns the mask of supported
 * quirks; KVM_ENABLE_CAP with args[0] = mask enables them for the VM (before
 * any vCPU is created).
 */
#define KVM_CAP_SOFTKVM_QUIRKS 0x50000

/*
 * LAPIC timer: switching LVTT from one-shot to periodic after the one-shot
 * expired, without a TMICT write, restarts the counter (the behaviour the
 * withdrawn patch "KVM: lapic: restart counter on change to periodic mode"
 * proposed for guests that rely on it). Default off: like hardware and
 * Linux 6.1, the current count stays 0 and no further interrupts come.
 */
#define SOFTKVM_QUIRK_LAPIC_PERIODIC_RESTART (1ull << 0)

#define SOFTKVM_QUIRKS_ALL SOFTKVM_QUIRK_LAPIC_PERIODIC_RESTART

#ifdef __cplusplus
}
#endif

#endif
