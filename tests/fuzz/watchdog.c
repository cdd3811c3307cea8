/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "watchdog.h"

/* a real-time signal: libFuzzer owns SIGALRM (-timeout) and SIGUSR1/2 */
#define WD_SIGNAL (SIGRTMIN + 1)
/* after the kick, cpu_run() must return within this */
#define WD_KICK_GRACE_S 5

static const char *volatile wd_msg =
    "fuzz: invariant violated: hang: cpu_run() does not return after cpu_kick()\n";
static void (*volatile wd_kick)(void *);
static void (*volatile wd_on_hang)(void);
static void *volatile wd_arg;
static volatile sig_atomic_t wd_fired;
static timer_t wd_timer;
static bool wd_ready;

static void wd_handler(int sig)
{
	void (*kick)(void *) = wd_kick;

	(void)sig;
	if (wd_fired && kick) {
		/* the second expiry: the kick was ignored */
		if (write(2, wd_msg, strlen(wd_msg)) < 0)
			_exit(2);
		if (wd_on_hang)
			wd_on_hang(); /* not async-signal safe; the process ends anyway */
		abort();
	}
	wd_fired = 1;
	if (kick)
		kick(wd_arg);
}

void wd_set_message(const char *msg)
{
	wd_msg = msg;
}

void wd_set_on_hang(void (*fn)(void))
{
	wd_on_hang = fn;
}

void wd_init(void)
{
	struct sigaction sa;
	struct sigevent sev;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wd_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(WD_SIGNAL, &sa, NULL);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = WD_SIGNAL;
	wd_ready = timer_create(CLOCK_MONOTONIC, &sev, &wd_timer) == 0;
}

void wd_arm(void (*kick)(void *), void *arg, unsigned ms)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	wd_fired = 0;
	wd_arg = arg;
	wd_kick = kick;
	if (!wd_ready)
		return;
	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	its.it_interval.tv_sec = WD_KICK_GRACE_S;
	timer_settime(wd_timer, 0, &its, NULL);
}

bool wd_disarm(void)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (wd_ready)
		timer_settime(wd_timer, 0, &its, NULL);
	wd_kick = NULL;
	return wd_fired != 0;
}
