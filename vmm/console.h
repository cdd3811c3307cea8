/* SPDX-License-Identifier: MIT */
/*
 * The interactive console: host standard input to COM1's receiver. On a
 * terminal, input is raw (every key, Ctrl-C included, goes to the guest) and
 * QEMU's escapes work: Ctrl-A x quits, Ctrl-A h lists the escapes, Ctrl-A
 * Ctrl-A sends Ctrl-A. The terminal is restored on exit. The console also
 * pushes COM1's buffered output out within 10-80 ms (prompts end without a
 * newline).
 */
#ifndef SOFTKVM_VMM_CONSOLE_H
#define SOFTKVM_VMM_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vmm;

struct console {
	struct vmm *vm;
	int in_fd;
	int wake[2]; /* a pipe that tells the input thread to stop */
	bool tty, escape, started, eof;
	pthread_t thread;
	uint8_t pending[256]; /* input the UART had no room for yet */
	unsigned npending, pending_off;
};

/* Start feeding in_fd to the guest's COM1; 0 or -errno. */
int console_start(struct console *con, struct vmm *vm, int in_fd);
/* Stop the input thread and restore the terminal. */
void console_stop(struct console *con);

#endif
