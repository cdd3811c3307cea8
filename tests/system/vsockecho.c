/* SPDX-License-Identifier: MIT */
/*
 * A tiny AF_VSOCK tool for the guest of run-virtio.py --vsock (busybox has
 * none), built static by the test and shipped in its initramfs.
 *
 *   vsockecho connect CID PORT BYTES   connect, send BYTES of a pattern
 *                                      (then shut down writing) while
 *                                      reading what comes back; print
 *                                      "echo ok N" when the N bytes read are
 *                                      the pattern, else what went wrong
 *   vsockecho listen PORT COUNT        accept COUNT connections one after
 *                                      another, echo each until its end
 *                                      (forked: the sender and the reader
 *                                      of one connection never wait on
 *                                      each other)
 */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned char pat(unsigned long i)
{
	return (unsigned char)((i * 131 + (i >> 12)) & 0xff);
}

static int do_connect(unsigned cid, unsigned port, unsigned long bytes)
{
	struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	unsigned long got = 0;
	unsigned char buf[8192];
	pid_t pid;
	int st;

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		printf("connect failed: %s\n", strerror(errno));
		return 1;
	}
	pid = fork();
	if (pid == 0) {
		unsigned long sent = 0;
		while (sent < bytes) {
			size_t n = bytes - sent < sizeof(buf) ? bytes - sent : sizeof(buf);
			for (size_t k = 0; k < n; k++)
				buf[k] = pat(sent + k);
			ssize_t r = write(fd, buf, n);
			if (r <= 0) {
				printf("write failed: %s\n", strerror(errno));
				_exit(1);
			}
			sent += (unsigned long)r;
		}
		shutdown(fd, SHUT_WR);
		_exit(0);
	}
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			printf("read failed after %lu bytes: %s\n", got, strerror(errno));
			return 1;
		}
		if (r == 0)
			break;
		for (ssize_t k = 0; k < r; k++) {
			if (buf[k] != pat(got + (unsigned long)k)) {
				printf("mismatch at byte %lu\n", got + (unsigned long)k);
				return 1;
			}
		}
		got += (unsigned long)r;
	}
	waitpid(pid, &st, 0);
	close(fd);
	if (got != bytes || !WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("echo short: %lu of %lu bytes, writer status %d\n", got, bytes, st);
		return 1;
	}
	printf("echo ok %lu\n", got);
	return 0;
}

static int do_listen(unsigned port, unsigned count)
{
	struct sockaddr_vm a = {
	    .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 4) < 0) {
		printf("listen failed: %s\n", strerror(errno));
		return 1;
	}
	printf("listening on %u\n", port);
	fflush(stdout);
	for (unsigned k = 0; k < count; k++) {
		int fd = accept(s, NULL, NULL);
		char buf[8192];

		if (fd < 0) {
			printf("accept failed: %s\n", strerror(errno));
			return 1;
		}
		for (;;) {
			ssize_t r = read(fd, buf, sizeof(buf)), w = 0;
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			while (w < r) {
				ssize_t x = write(fd, buf + w, (size_t)(r - w));
				if (x <= 0)
					break;
				w += x;
			}
			if (w < r)
				break;
		}
		close(fd);
	}
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "connect"))
		return do_connect((unsigned)strtoul(argv[2], NULL, 0),
				  (unsigned)strtoul(argv[3], NULL, 0), strtoul(argv[4], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "listen"))
		return do_listen((unsigned)strtoul(argv[2], NULL, 0),
				 (unsigned)strtoul(argv[3], NULL, 0));
	fprintf(stderr, "usage: vsockecho connect CID PORT BYTES | listen PORT COUNT\n");
	return 2;
}
