/* SPDX-License-Identifier: MIT */
/* MC146818 RTC and CMOS RAM at ports 0x70/0x71, IRQ 8, keeping the host's time (UTC). */
#ifndef SOFTKVM_VMM_DEV_RTC_H
#define SOFTKVM_VMM_DEV_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define RTC_PORT	0x70
#define RTC_NPORTS	2
#define RTC_IRQ		8
#define RTC_CMOS_SIZE	128
#define RTC_CENTURY_REG 0x32 /* the FADT's CENTURY */

struct rtc {
	uint8_t index;
	uint8_t cmos[RTC_CMOS_SIZE]; /* NVRAM, the alarm and control registers */
	uint8_t frozen[10];	     /* time registers while SET holds the clock */
	uint8_t frozen_century;
	int64_t offset;	     /* guest seconds - host CLOCK_REALTIME seconds */
	int64_t last_ns;     /* host realtime of the last flag update */
	int64_t last_a_read; /* host realtime of the guest's last read of A */
	bool irq;
	/* the IRQ 8 line; called with *lock held */
	void (*set_irq)(void *opaque, bool level);
	void *irq_opaque;
	/* the interrupt timer thread, started when the guest enables an interrupt */
	pthread_mutex_t *lock; /* the lock device accesses are made under */
	pthread_cond_t cond;
	pthread_t thread;
	bool thread_started, stop;
};

/* lock: the mutex every rtc_access() caller holds (the VMM's io_lock). */
void rtc_init(struct rtc *r, pthread_mutex_t *lock);
/* the registers were loaded from a snapshot (lock held): start or wake the timer thread */
void rtc_restored(struct rtc *r);
void rtc_destroy(struct rtc *r);
void rtc_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);
/* The guest's current time in seconds since the epoch (UTC). */
int64_t rtc_guest_time(const struct rtc *r);

#endif
