/* SPDX-License-Identifier: MIT */
/*
 * Wall-clock watchdog of the fuzz target: a POSIX timer whose signal handler
 * calls kick(arg) (cpu_kick() is signal safe) after ms milliseconds, and
 * aborts the process if the run has still not ended a few seconds after
 * that (cpu_run() ignored the kick: a host hang). Kept apart from fuzz_cpu.c
 * because <signal.h> under _GNU_SOURCE defines REG_RAX & co., as cpu.h does.
 */
#ifndef SOFTKVM_FUZZ_WATCHDOG_H
#define SOFTKVM_FUZZ_WATCHDOG_H

#include <stdbool.h>

void wd_init(void);
/* what the abort after an ignored kick says (a line ending in \n) */
void wd_set_message(const char *msg);
/* called before that abort (e.g. to save the input) */
void wd_set_on_hang(void (*fn)(void));
void wd_arm(void (*kick)(void *), void *arg, unsigned ms);
/* Returns whether the watchdog fired since wd_arm(). */
bool wd_disarm(void);

#endif
