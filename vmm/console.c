/* SPDX-License-Identifier: MIT */
/*
 * The interactive console (see console.h). One thread reads standard input
 * and feeds COM1's receive FIFO under io_lock, which raises the receive
 * interrupt (IRQ 4); what the 16-byte FIFO cannot take yet is kept and
 * retried every millisecond until the guest has read the FIFO.
 *
 * The same thread flushes COM1's output: the UART buffers it up to a
 * newline, and a shell prompt or a terminal query (ash's cursor position
 * request) has none. It looks every 10 ms while the guest writes, backing off
 * to every 80 ms when nothing came, so an idle guest costs a dozen wake-ups a
 * second.
 *
 * On a terminal the input is raw, as QEMU's stdio character device makes it
 * (no echo, no line editing, no signals: Ctrl-C is the guest's), output
 * processing stays on. The settings are restored when the console stops, at
 * exit, and on SIGTERM, SIGHUP, SIGINT and SIGQUIT (then re-raised).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "console.h"
#include "vmm.h"

#define CTRL_A	     0x01
#define FLUSH_MIN_MS 10
#define FLUSH_MAX_MS 80

/*
 * The terminal is the process's, not a VM's: its saved settings are the one
 * piece of global state here, so that exit and signal handlers can restore it.
 */
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

static void restore_terminal(void)
{
	if (tio_saved) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
		tio_saved = 0;
	}
}

static void restore_and_reraise(int sig)
{
	restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int make_raw(int fd)
{
	static bool handlers;
	struct termios t;

	if (tcgetattr(fd, &saved_tio) < 0)
		return -errno;
	t = saved_tio;
	/* QEMU's qemu_chr_set_echo_stdio(false) with ISIG off as for -nographic */
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_oflag |= OPOST;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | IEXTEN | ISIG);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	tio_saved = 1;
	if (!handlers) {
		static const int sigs[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT};
		handlers = true;
		atexit(restore_terminal);
		for (unsigned k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
			signal(sigs[k], restore_and_reraise);
	}
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		tio_saved = 0;
		return -errno;
	}
	return 0;
}

static void escape_help(void)
{
	/* raw mode: the terminal still turns \n into \r\n (OPOST) */
	fputs("\nC-a h    print this help\n"
	      "C-a x    exit softkvm\n"
	      "C-a C-a  send C-a\n",
	      stderr);
}

/* Queue a byte for the guest; the pending buffer has room (see feed()). */
static void queue(struct console *con, uint8_t c)
{
	con->pending[con->pending_off + con->npending++] = c;
}

/* Take what was read: Ctrl-A escapes on a terminal; false when the user quit. */
static bool take_input(struct console *con, const uint8_t *buf, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		uint8_t c = buf[k];

		if (!con->tty) {
			queue(con, c);
			continue;
		}
		if (con->escape) {
			con->escape = false;
			if (c == 'x' || c == 'X') {
				restore_terminal();
				fputs("softkvm: terminated (C-a x)\n", stderr);
				vmm_stop(con->vm, VMM_EXIT_STOPPED);
				return false;
			} else if (c == 'h' || c == '?') {
				escape_help();
			} else if (c == CTRL_A) {
				queue(con, c);
			}
			continue;
		}
		if (c == CTRL_A)
			con->escape = true;
		else
			queue(con, c);
	}
	return true;
}

/* Give the UART what it can take now. */
static void feed(struct console *con)
{
	struct vmm *vm = con->vm;
	unsigned took;

	if (!con->npending)
		return;
	/* --console virtio: the input goes to hvc0 instead (vmm/virtio/vconsole.c) */
	int v = virtio_console_receive(vm, con->pending + con->pending_off, con->npending);
	if (v >= 0) {
		took = (unsigned)v;
	} else {
		pthread_mutex_lock(&vm->io_lock);
		took = serial_receive(&vm->serial, con->pending + con->pending_off, con->npending);
		pthread_mutex_unlock(&vm->io_lock);
	}
	con->pending_off += took;
	con->npending -= took;
	if (!con->npending)
		con->pending_off = 0;
}

/* Output the UART holds back (no newline yet) goes to the terminal now; true if any. */
static bool flush_output(struct console *con)
{
	struct vmm *vm = con->vm;
	bool any;

	pthread_mutex_lock(&vm->io_lock);
	any = vm->serial.nout != 0;
	if (any)
		serial_flush(&vm->serial);
	pthread_mutex_unlock(&vm->io_lock);
	return any;
}

static void *console_thread(void *arg)
{
	struct console *con = arg;
	int flush_ms = FLUSH_MIN_MS;

	for (;;) {
		struct pollfd p[2] = {{.fd = con->wake[0], .events = POLLIN},
				      {.fd = con->in_fd, .events = POLLIN}};
		/* read more only when the pending buffer is empty: it holds one read */
		bool want_input = !con->eof && !con->npending;
		int n = poll(p, want_input ? 2 : 1, con->npending ? 1 : flush_ms);

		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && (p[0].revents & POLLIN))
			break;
		if (n > 0 && want_input && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			uint8_t buf[sizeof(con->pending)];
			ssize_t r = read(con->in_fd, buf, sizeof(buf));

			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				con->eof = true; /* the guest keeps running without input */
				continue;
			}
			if (!take_input(con, buf, (size_t)r))
				break;
		}
		feed(con);
		if (flush_output(con))
			flush_ms = FLUSH_MIN_MS;
		else if (flush_ms < FLUSH_MAX_MS)
			flush_ms *= 2;
	}
	return NULL;
}

int console_start(struct console *con, struct vmm *vm, int in_fd)
{
	int r;

	memset(con, 0, sizeof(*con));
	con->vm = vm;
	con->in_fd = in_fd;
	con->wake[0] = con->wake[1] = -1;
	if (fcntl(in_fd, F_GETFL) < 0)
		con->eof = true; /* no standard input at all: the thread only flushes output */
	if (pipe2(con->wake, O_CLOEXEC) < 0)
		return -errno;
	con->tty = !con->eof && isatty(in_fd);
	if (con->tty) {
		r = make_raw(in_fd);
		if (r < 0)
			con->tty = false; /* not a usable terminal: plain input */
	}
	r = pthread_create(&con->thread, NULL, console_thread, con);
	if (r) {
		restore_terminal();
		return -r;
	}
	con->started = true;
	return 0;
}

void console_stop(struct console *con)
{
	if (con->started) {
		if (write(con->wake[1], "x", 1) < 0) {
			/* cannot happen with an open pipe; the join below would hang */
			pthread_cancel(con->thread);
		}
		pthread_join(con->thread, NULL);
		con->started = false;
	}
	for (int k = 0; k < 2; k++)
		if (con->wake[k] >= 0)
			close(con->wake[k]);
	con->wake[0] = con->wake[1] = -1;
	restore_terminal();
}
