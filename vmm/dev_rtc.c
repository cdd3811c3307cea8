/* SPDX-License-Identifier: MIT */
/*
 * MC146818A real-time clock and CMOS RAM (Motorola MC146818A data sheet;
 * QEMU's hw/rtc/mc146818rtc.c for the PC details). Port 0x70 selects a
 * register (bit 7 is the NMI mask, ignored), port 0x71 reads or writes it.
 *
 * The clock is the host's CLOCK_REALTIME (UTC) plus a whole-second offset
 * the guest sets by writing the time. Register B chooses BCD or binary
 * (DM) and 12 or 24 hours (24/12) for every time and alarm register; SET
 * freezes the time registers for the guest to write, and clearing it starts
 * the clock from what was written. Register A's UIP is set for the 244 us
 * before each update (each second boundary), as Linux's mc146818_avoid_UIP()
 * expects. Register C holds PF (periodic, at the rate RS selects), AF (alarm,
 * with the 0xc0 don't-care values) and UF (update ended), and IRQF when an
 * enabled one (PIE, AIE, UIE in register B) is set; reading C clears them
 * and lowers IRQ 8. The flags are brought up to date lazily on each access;
 * while an interrupt is enabled a thread wakes at the next event to raise
 * the line. Register D reports a good battery (VRT).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "dev_rtc.h"

enum {
	REG_SEC = 0,
	REG_SEC_ALARM = 1,
	REG_MIN = 2,
	REG_MIN_ALARM = 3,
	REG_HOUR = 4,
	REG_HOUR_ALARM = 5,
	REG_WDAY = 6,
	REG_MDAY = 7,
	REG_MONTH = 8,
	REG_YEAR = 9,
	REG_A = 10,
	REG_B = 11,
	REG_C = 12,
	REG_D = 13,
};

#define A_UIP	   0x80
#define A_DV_MASK  0x70
#define A_DV_32KHZ 0x20
#define A_RS_MASK  0x0f
#define B_SET	   0x80
#define B_PIE	   0x40
#define B_AIE	   0x20
#define B_UIE	   0x10
#define B_DM	   0x04 /* binary */
#define B_24H	   0x02
#define C_IRQF	   0x80
#define C_PF	   0x40
#define C_AF	   0x20
#define C_UF	   0x10
#define D_VRT	   0x80

#define NS     1000000000ll
#define UIP_NS 244000ll /* t_BUC: UIP is set this long before the update */
#define UIP_GRACE_NS                                                                               \
	1000000000ll	/* a poller that lost its host thread across an update for up              \
			  to this long still sees UIP once (loaded hosts: 100 ms was missed) */
#define MAX_CATCH 86400 /* seconds of missed updates examined for an alarm match */

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static bool binary(const struct rtc *r)
{
	return r->cmos[REG_B] & B_DM;
}

static uint8_t to_reg(const struct rtc *r, unsigned v)
{
	return binary(r) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned from_reg(const struct rtc *r, uint8_t v)
{
	return binary(r) ? v : (unsigned)((v >> 4) * 10 + (v & 0xf));
}

static uint8_t hour_to_reg(const struct rtc *r, unsigned h)
{
	if (r->cmos[REG_B] & B_24H)
		return to_reg(r, h);
	return (uint8_t)(to_reg(r, h % 12 ? h % 12 : 12) | (h >= 12 ? 0x80 : 0));
}

static unsigned hour_from_reg(const struct rtc *r, uint8_t v)
{
	if (r->cmos[REG_B] & B_24H)
		return from_reg(r, v);
	unsigned h = from_reg(r, v & 0x7f) % 12;
	return h + ((v & 0x80) ? 12 : 0);
}

static bool clock_running(const struct rtc *r)
{
	return !(r->cmos[REG_B] & B_SET) && (r->cmos[REG_A] & A_DV_MASK) == A_DV_32KHZ;
}

int64_t rtc_guest_time(const struct rtc *r)
{
	return floor_div(realtime_ns(), NS) + r->offset;
}

/* The time registers (0-9) and the century for guest time t. */
static void encode_time(const struct rtc *r, int64_t t, uint8_t regs[10], uint8_t *century)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	regs[REG_SEC] = to_reg(r, (unsigned)tm.tm_sec);
	regs[REG_MIN] = to_reg(r, (unsigned)tm.tm_min);
	regs[REG_HOUR] = hour_to_reg(r, (unsigned)tm.tm_hour);
	regs[REG_WDAY] = to_reg(r, (unsigned)tm.tm_wday + 1);
	regs[REG_MDAY] = to_reg(r, (unsigned)tm.tm_mday);
	regs[REG_MONTH] = to_reg(r, (unsigned)tm.tm_mon + 1);
	regs[REG_YEAR] = to_reg(r, (unsigned)(tm.tm_year + 1900) % 100);
	*century = to_reg(r, (unsigned)(tm.tm_year + 1900) / 100);
}

/* Start the clock from the frozen registers (what the guest wrote). */
static void set_time_from_frozen(struct rtc *r)
{
	struct tm tm = {0};
	unsigned year = from_reg(r, r->frozen_century) * 100 + from_reg(r, r->frozen[REG_YEAR]);

	tm.tm_sec = (int)from_reg(r, r->frozen[REG_SEC]);
	tm.tm_min = (int)from_reg(r, r->frozen[REG_MIN]);
	tm.tm_hour = (int)hour_from_reg(r, r->frozen[REG_HOUR]);
	tm.tm_mday = (int)from_reg(r, r->frozen[REG_MDAY]);
	tm.tm_mon = (int)from_reg(r, r->frozen[REG_MONTH]) - 1;
	tm.tm_year = (int)year - 1900;
	r->offset = (int64_t)timegm(&tm) - floor_div(realtime_ns(), NS);
	r->last_ns = realtime_ns();
}

static bool alarm_matches(const struct rtc *r, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	uint8_t s = r->cmos[REG_SEC_ALARM], m = r->cmos[REG_MIN_ALARM], h = r->cmos[REG_HOUR_ALARM];

	gmtime_r(&tt, &tm);
	return ((s & 0xc0) == 0xc0 || from_reg(r, s) == (unsigned)tm.tm_sec) &&
	       ((m & 0xc0) == 0xc0 || from_reg(r, m) == (unsigned)tm.tm_min) &&
	       ((h & 0xc0) == 0xc0 || hour_from_reg(r, h) == (unsigned)tm.tm_hour);
}

/* Periodic interrupt period for RS (data sheet table 5, 32.768 kHz time base); 0: none. */
static int64_t periodic_ns(const struct rtc *r)
{
	unsigned rs = r->cmos[REG_A] & A_RS_MASK;

	if (!rs || (r->cmos[REG_A] & A_DV_MASK) != A_DV_32KHZ)
		return 0;
	if (rs <= 2)
		rs += 7; /* 256 Hz and 128 Hz, as rates 8 and 9 */
	return NS * (1ll << (rs - 1)) / 32768;
}

static void update_irq(struct rtc *r)
{
	uint8_t c = r->cmos[REG_C] & (C_PF | C_AF | C_UF);
	bool irq = (c & (r->cmos[REG_B] & (B_PIE | B_AIE | B_UIE))) != 0;

	r->cmos[REG_C] = (uint8_t)(c | (irq ? C_IRQF : 0));
	if (irq != r->irq && r->set_irq)
		r->set_irq(r->irq_opaque, irq);
	r->irq = irq;
}

/* Bring PF, UF and AF up to host time now. */
static void update_flags(struct rtc *r, int64_t now)
{
	int64_t period = periodic_ns(r), last = r->last_ns;

	r->last_ns = now;
	if (now <= last)
		return;
	if (period && floor_div(now, period) != floor_div(last, period))
		r->cmos[REG_C] |= C_PF;
	if (clock_running(r)) {
		int64_t from = floor_div(last, NS) + r->offset, to = floor_div(now, NS) + r->offset;
		if (to > from) {
			r->cmos[REG_C] |= C_UF;
			if (to - from > MAX_CATCH)
				from = to - MAX_CATCH;
			for (int64_t t = from + 1; t <= to; t++) {
				if (alarm_matches(r, t)) {
					r->cmos[REG_C] |= C_AF;
					break;
				}
			}
		}
	}
	update_irq(r);
}

/* Host realtime of the next event an enabled interrupt waits for; 0 if none. */
static int64_t next_event(const struct rtc *r, int64_t now)
{
	uint8_t b = r->cmos[REG_B];
	int64_t next = 0, period = periodic_ns(r);

	if ((b & B_PIE) && period)
		next = (floor_div(now, period) + 1) * period;
	if ((b & (B_UIE | B_AIE)) && clock_running(r)) {
		int64_t s = (floor_div(now, NS) + 1) * NS;
		if (!next || s < next)
			next = s;
	}
	return next;
}

static void *rtc_thread(void *arg)
{
	struct rtc *r = arg;

	pthread_mutex_lock(r->lock);
	while (!r->stop) {
		int64_t now = realtime_ns(), next;

		update_flags(r, now);
		next = next_event(r, now);
		if (!next || (r->irq && !(r->cmos[REG_B] & B_PIE))) {
			/* nothing to raise until the guest reads C or changes B */
			pthread_cond_wait(&r->cond, r->lock);
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t at = (int64_t)ts.tv_sec * NS + ts.tv_nsec + (next - now);
		ts.tv_sec = (time_t)(at / NS);
		ts.tv_nsec = (long)(at % NS);
		pthread_cond_timedwait(&r->cond, r->lock, &ts);
	}
	pthread_mutex_unlock(r->lock);
	return NULL;
}

/* After the guest changed A, B or C: wake the timer thread (starting it if needed). */
static void kick_timer(struct rtc *r)
{
	if (!(r->cmos[REG_B] & (B_PIE | B_AIE | B_UIE)) && !r->thread_started)
		return;
	if (!r->thread_started && r->lock) {
		pthread_condattr_t a;
		pthread_condattr_init(&a);
		pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
		pthread_cond_init(&r->cond, &a);
		pthread_condattr_destroy(&a);
		r->thread_started = pthread_create(&r->thread, NULL, rtc_thread, r) == 0;
		if (!r->thread_started)
			pthread_cond_destroy(&r->cond);
		return;
	}
	if (r->thread_started)
		pthread_cond_signal(&r->cond);
}

/* Its registers were loaded from a snapshot (r->lock held): run the timer as they say. */
void rtc_restored(struct rtc *r)
{
	kick_timer(r);
}

void rtc_init(struct rtc *r, pthread_mutex_t *lock)
{
	memset(r, 0, sizeof(*r));
	r->lock = lock;
	r->cmos[REG_A] = A_DV_32KHZ | 0x06; /* 32.768 kHz, 1024 Hz periodic rate */
	r->cmos[REG_B] = B_24H;		    /* BCD, 24 hours: the PC BIOS setting */
	r->cmos[REG_D] = D_VRT;
	r->last_ns = realtime_ns();
}

void rtc_destroy(struct rtc *r)
{
	if (!r->thread_started)
		return;
	pthread_mutex_lock(r->lock);
	r->stop = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(r->lock);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cond);
	r->thread_started = false;
}

static bool is_time_reg(unsigned idx)
{
	return idx == REG_SEC || idx == REG_MIN || idx == REG_HOUR ||
	       (idx >= REG_WDAY && idx <= REG_YEAR) || idx == RTC_CENTURY_REG;
}

static uint8_t rtc_read(struct rtc *r, unsigned idx)
{
	int64_t now = realtime_ns();
	uint8_t regs[10], century, v;

	update_flags(r, now);
	if (is_time_reg(idx)) {
		if (r->cmos[REG_B] & B_SET)
			return idx == RTC_CENTURY_REG ? r->frozen_century : r->frozen[idx];
		encode_time(r, floor_div(now, NS) + r->offset, regs, &century);
		return idx == RTC_CENTURY_REG ? century : regs[idx];
	}
	switch (idx) {
	case REG_A:
		v = r->cmos[REG_A] & (uint8_t)~A_UIP;
		if (clock_running(r)) {
			int64_t boundary = floor_div(now, NS) * NS, window = boundary - UIP_NS;
			if (now - boundary >= NS - UIP_NS)
				v |= A_UIP;
			/*
			 * A guest polling A that lost its host thread across the whole
			 * window (244 us is shorter than a host time slice) would never
			 * see UIP: when its previous read came shortly before the window
			 * and this one shortly after the update, report the update as
			 * still in progress; the next read sees it ended.
			 */
			else if (r->last_a_read < window &&
				 r->last_a_read > window - UIP_GRACE_NS &&
				 now - boundary < UIP_GRACE_NS)
				v |= A_UIP;
		}
		r->last_a_read = now;
		return v;
	case REG_C:
		v = r->cmos[REG_C];
		r->cmos[REG_C] = 0;
		update_irq(r);
		kick_timer(r);
		return v;
	default:
		return r->cmos[idx];
	}
}

static void rtc_write(struct rtc *r, unsigned idx, uint8_t v)
{
	int64_t now = realtime_ns();
	uint8_t old_b = r->cmos[REG_B];

	update_flags(r, now);
	if (is_time_reg(idx)) {
		if (!(old_b & B_SET)) {
			/* a write with the clock running sets the time at once */
			encode_time(r, floor_div(now, NS) + r->offset, r->frozen,
				    &r->frozen_century);
		}
		if (idx == RTC_CENTURY_REG)
			r->frozen_century = v;
		else
			r->frozen[idx] = v;
		if (!(old_b & B_SET))
			set_time_from_frozen(r);
		return;
	}
	switch (idx) {
	case REG_A:
		r->cmos[REG_A] = v & (uint8_t)~A_UIP;
		break;
	case REG_B:
		if ((v & B_SET) && !(old_b & B_SET)) {
			/* SET freezes the clock where it is; it also clears UIE */
			encode_time(r, floor_div(now, NS) + r->offset, r->frozen,
				    &r->frozen_century);
			v &= (uint8_t)~B_UIE;
		}
		if ((v ^ old_b) & (B_DM | B_24H)) {
			/* the frozen registers are in the old format: keep their meaning */
			if (old_b & B_SET) {
				uint8_t tmp[10], cent;
				set_time_from_frozen(r);
				r->cmos[REG_B] = v;
				encode_time(r, floor_div(now, NS) + r->offset, tmp, &cent);
				memcpy(r->frozen, tmp, sizeof(tmp));
				r->frozen_century = cent;
			}
		}
		r->cmos[REG_B] = v;
		if ((old_b & B_SET) && !(v & B_SET))
			set_time_from_frozen(r);
		update_irq(r);
		break;
	case REG_C:
	case REG_D:
		break; /* read-only */
	default:
		r->cmos[idx] = v;
		return;
	}
	kick_timer(r);
}

void rtc_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct rtc *r = dev;

	if (len != 1) {
		if (!write)
			*val = ~0ull;
		return; /* the chip has byte registers */
	}
	if (off == 0) {
		if (write)
			r->index = (uint8_t)(*val & 0x7f); /* bit 7: NMI mask, elsewhere */
		else
			*val = 0xff; /* the index register is write-only */
		return;
	}
	if (write)
		rtc_write(r, r->index, (uint8_t)*val);
	else
		*val = rtc_read(r, r->index);
}
