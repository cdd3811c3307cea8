/* SPDX-License-Identifier: MIT */
/*
 * The VM service thread: the part of "the kernel" that runs when no vCPU
 * does. It sleeps in epoll_wait on the irqfds, a control eventfd and a
 * timerfd set to the earliest deadline among the PIT, the LAPIC timers of
 * running vCPUs and (while any vCPU runs) a 1 ms poll that lets KVM_RUN
 * notice signals. Halted vCPUs wait on their own (kvm/vcpu.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "kvm_internal.h"
#include "irq.h"

#define POLL_NS	  1000000ull /* signal polling while a vCPU runs */
#define TAG_CTL	  ((void *)1)
#define TAG_TIMER ((void *)2)

void service_wake(struct kvm_vm *vm)
{
	uint64_t one = 1;
	if (vm->svc_ctl >= 0 && write(vm->svc_ctl, &one, sizeof(one)) < 0) {
		/* counter saturated: a wake-up is already pending */
	}
}

/*
 * A vCPU is about to enter the processor (in_run already set). The service
 * thread may have looked at it just before and decided to sleep past a poll
 * period (nothing running, no deadline): then wake it, or the vCPU would run
 * without kicks, timers and signal polls until its next exit. The two sides
 * are a store-then-load pair each (in_run / svc_target, sequentially
 * consistent): either the vCPU sees the long sleep here, or the service
 * thread sees in_run in its re-check.
 */
void service_vcpu_enters(struct kvm_vm *vm)
{
	uint64_t t = atomic_load(&vm->svc_target);
	if (!t || t > kvm_host_ns() + POLL_NS)
		service_wake(vm);
}

static bool any_in_run(struct kvm_vm *vm)
{
	bool r = false;
	pthread_mutex_lock(&vm->lock);
	for (unsigned k = 0; k < vm->nvcpus && !r; k++)
		r = atomic_load(&vm->vcpus[k]->in_run);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void service_deadline(struct kvm_vm *vm, uint64_t ns)
{
	uint64_t cur = atomic_load(&vm->svc_target);
	if (!cur || ns < cur)
		service_wake(vm);
}

void service_add_fd(struct kvm_vm *vm, int fd, void *tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
	epoll_ctl(vm->svc_ep, EPOLL_CTL_ADD, fd, &ev);
}

void service_del_fd(struct kvm_vm *vm, int fd)
{
	epoll_ctl(vm->svc_ep, EPOLL_CTL_DEL, fd, NULL);
}

static void *service_main(void *arg)
{
	struct kvm_vm *vm = arg;
	struct epoll_event evs[16];

	while (!atomic_load(&vm->svc_stop)) {
		uint64_t now = kvm_host_ns(), next = 0;
		bool running = false;

		irq_process_acks(vm);
		{
			bool fire = false;
			/* vm->pit appears under irq_lock (KVM_CREATE_PIT2 while we run) */
			pthread_mutex_lock(&vm->irq_lock);
			if (vm->pit)
				next = pit_check_timer(vm->pit, now, &fire);
			pthread_mutex_unlock(&vm->irq_lock);
			/* irq_set_gsi() takes irq_lock itself */
			if (fire) {
				irq_set_gsi(vm, 0, true, IRQ_SOURCE_PIT);
				irq_set_gsi(vm, 0, false, IRQ_SOURCE_PIT);
			}
		}
		pthread_mutex_lock(&vm->lock);
		for (unsigned k = 0; k < vm->nvcpus; k++) {
			struct kvm_vcpu *v = vm->vcpus[k];
			if (!atomic_load(&v->in_run))
				continue;
			running = true;
			uint64_t d = v->lapic ? lapic_deadline(v->lapic) : 0;
			if (d && d <= now)
				cpu_kick(v->cpu); /* it fires its own timer */
			else if (d && (!next || d < next))
				next = d;
		}
		pthread_mutex_unlock(&vm->lock);
		if (running && (!next || next > now + POLL_NS))
			next = now + POLL_NS;
		atomic_store(&vm->svc_target, next);
		/* a vCPU entered the processor since we looked: look again */
		if (!running && any_in_run(vm))
			continue;

		struct itimerspec its = {0};
		if (next) {
			its.it_value.tv_sec = (time_t)(next / 1000000000ull);
			its.it_value.tv_nsec = (long)(next % 1000000000ull);
		}
		timerfd_settime(vm->svc_timer, TFD_TIMER_ABSTIME, &its, NULL);

		int n = epoll_wait(vm->svc_ep, evs, 16, -1);
		for (int k = 0; k < n; k++) {
			uint64_t cnt;
			if (evs[k].data.ptr == TAG_CTL || evs[k].data.ptr == TAG_TIMER) {
				if (read(evs[k].data.ptr == TAG_CTL ? vm->svc_ctl : vm->svc_timer,
					 &cnt, sizeof(cnt)) < 0) {
					/* spurious: nothing to drain */
				}
				continue;
			}
			irqfd_fire(vm, evs[k].data.ptr);
		}
		/* running vCPUs poll for signals and timers at each tick */
		pthread_mutex_lock(&vm->lock);
		now = kvm_host_ns();
		for (unsigned k = 0; k < vm->nvcpus; k++) {
			struct kvm_vcpu *v = vm->vcpus[k];
			if (atomic_load(&v->in_run) && now >= v->last_poll + POLL_NS) {
				v->last_poll = now;
				cpu_kick(v->cpu);
			}
		}
		pthread_mutex_unlock(&vm->lock);
	}
	return NULL;
}

int service_start(struct kvm_vm *vm)
{
	if (vm->svc_started)
		return 0;
	vm->svc_ep = epoll_create1(EPOLL_CLOEXEC);
	vm->svc_ctl = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->svc_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (vm->svc_ep < 0 || vm->svc_ctl < 0 || vm->svc_timer < 0)
		return -errno;
	service_add_fd(vm, vm->svc_ctl, TAG_CTL);
	service_add_fd(vm, vm->svc_timer, TAG_TIMER);
	if (pthread_create(&vm->svc_thread, NULL, service_main, vm) != 0)
		return -EAGAIN;
	vm->svc_started = true;
	return 0;
}

void service_stop(struct kvm_vm *vm)
{
	if (vm->svc_started) {
		atomic_store(&vm->svc_stop, true);
		service_wake(vm);
		pthread_join(vm->svc_thread, NULL);
		vm->svc_started = false;
	}
	if (vm->svc_ep >= 0)
		close(vm->svc_ep);
	if (vm->svc_ctl >= 0)
		close(vm->svc_ctl);
	if (vm->svc_timer >= 0)
		close(vm->svc_timer);
	vm->svc_ep = vm->svc_ctl = vm->svc_timer = -1;
}
