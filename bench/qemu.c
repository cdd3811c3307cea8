/* SPDX-License-Identifier: MIT */
/*
 * The optional QEMU TCG comparison of bench-cpu: the same kernel image runs
 * under qemu-system-x86_64 (there is no qemu-x86_64 user-mode package in
 * the base system, and the kernels need no OS) through a multiboot boot
 * stub (qemu_stub.asm) that reports the result and the TSC cycles of the
 * kernel call. TCG's guest TSC follows the host TSC, so the cycles convert
 * to seconds with the host TSC frequency, measured here; QEMU's start-up
 * time is excluded.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench.h"

#define QSTUB_PARAMS 64 /* file offset of the stub's parameter block */

double now_wall(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void (*volatile wd_fn)(void *);
static void *volatile wd_arg;

static void on_alarm(int sig)
{
	void (*fn)(void *) = wd_fn;

	(void)sig;
	if (fn)
		fn(wd_arg);
}

/* here rather than in bench-cpu.c: <signal.h> clashes with cpu.h's REG_RAX */
void watchdog(void (*fn)(void *), void *arg, unsigned secs)
{
	static bool installed;

	if (!installed) {
		signal(SIGALRM, on_alarm);
		installed = true;
	}
	alarm(0);
	wd_arg = arg;
	wd_fn = fn;
	if (fn)
		alarm(secs);
}

const char *qemu_find(void)
{
	static char path[4096];
	const char *env = getenv("QEMU"), *p;

	if (env)
		return *env && access(env, X_OK) == 0 ? env : NULL;
	p = getenv("PATH");
	if (!p)
		p = "/usr/bin:/bin";
	while (*p) {
		size_t n = strcspn(p, ":");
		if (n && n < sizeof(path) - 32) {
			memcpy(path, p, n);
			strcpy(path + n, "/qemu-system-x86_64");
			if (access(path, X_OK) == 0)
				return path;
		}
		p += n + (p[n] == ':');
	}
	return NULL;
}

/* Host TSC ticks per second, measured once against CLOCK_MONOTONIC. */
static double tsc_hz(void)
{
	static double hz;
	if (hz == 0) {
		double t0 = now_wall(), t1;
		uint64_t c0 = __rdtsc(), c1;
		do {
			t1 = now_wall();
		} while (t1 - t0 < 0.05);
		c1 = __rdtsc();
		hz = (double)(c1 - c0) / (t1 - t0);
	}
	return hz;
}

int qemu_run_kernel(const char *qemu, const uint8_t *img, size_t img_len, uint64_t entry,
		    const uint64_t args[4], uint64_t *result, double *secs, double *wall)
{
	size_t stub_len = (size_t)(qstub_end - qstub);
	char file[] = "/tmp/softkvm-bench-XXXXXX";
	char cmd[8192], line[512] = "";
	unsigned long long r, t;
	uint64_t size = img_len;
	uint8_t *buf;
	FILE *f;
	int fd, rc = -1;
	double t0;

	buf = malloc(stub_len + img_len);
	if (!buf)
		return -1;
	memcpy(buf, qstub, stub_len);
	memcpy(buf + stub_len, img, img_len);
	memcpy(buf + QSTUB_PARAMS, &entry, 8);
	memcpy(buf + QSTUB_PARAMS + 8, args, 32);
	memcpy(buf + QSTUB_PARAMS + 40, &size, 8);
	fd = mkstemp(file);
	if (fd < 0 || write(fd, buf, stub_len + img_len) != (ssize_t)(stub_len + img_len)) {
		perror("bench-cpu: qemu image");
		if (fd >= 0)
			close(fd);
		free(buf);
		return -1;
	}
	close(fd);
	free(buf);
	tsc_hz();
	snprintf(cmd, sizeof(cmd),
		 "'%s' -accel tcg -nodefaults -display none -no-reboot -m 128 "
		 "-device isa-debug-exit,iobase=0xf4,iosize=4 -debugcon stdio -kernel '%s' "
		 "</dev/null 2>&1",
		 qemu, file);
	t0 = now_wall();
	f = popen(cmd, "r");
	if (!f) {
		perror("bench-cpu: popen");
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "R=%llx T=%llx", &r, &t) == 2) {
			*result = r;
			*secs = (double)t / tsc_hz();
			rc = 0;
		} else {
			fprintf(stderr, "bench-cpu: qemu: %s", line);
		}
	}
	pclose(f);
	*wall = now_wall() - t0;
	if (rc)
		fprintf(stderr, "bench-cpu: qemu printed no result\n");
out:
	unlink(file);
	return rc;
}
