/* SPDX-License-Identifier: MIT */
/*
 * The optional QEMU TCG comparison of bench-cpu: the same kernel image runs
 * under qemu-system-x86_64 (there is no qemu-x86_64 user-mode package in
 * the base system, and the kernels need no OS) through a multiboot boot
 * stub (qemu_stub.asm) that reports the result and the TSC cycles of the
 * kernel call.
 *
 * The time reported is CPU time, as for the other two columns: the CPU time
 * of the QEMU process minus that of a run whose kernel does nothing (QEMU's
 * start-up and exit). The guest TSC (which TCG derives from the host TSC)
 * gives the kernel's elapsed time too; it is printed with --verbose and is
 * only trustworthy on an idle machine.
 */
#include <signal.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench.h"
#include "kernels.h"

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

/* One QEMU run; *cpu is the CPU time (user + system) of the whole process. */
static int qemu_run_file(const char *qemu, const char *file, uint64_t *result, double *tsc_secs,
			 double *cpu, double *wall)
{
	char *argv[] = {
	    (char *)qemu,
	    "-accel",
	    "tcg",
	    "-nodefaults",
	    "-display",
	    "none",
	    "-no-reboot",
	    "-m",
	    "128",
	    "-device",
	    "isa-debug-exit,iobase=0xf4,iosize=4",
	    "-debugcon",
	    "stdio",
	    "-kernel",
	    (char *)file,
	    NULL,
	};
	unsigned long long r, t;
	char line[512];
	struct rusage ru;
	int pfd[2], status, rc = -1;
	double t0 = now_wall();
	pid_t pid;
	FILE *f;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		execv(qemu, argv);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "R=%llx T=%llx", &r, &t) == 2) {
			*result = r;
			*tsc_secs = (double)t / tsc_hz();
			rc = 0;
		} else {
			fprintf(stderr, "bench-cpu: qemu: %s", line);
		}
	}
	if (f)
		fclose(f);
	else
		close(pfd[0]);
	if (wait4(pid, &status, 0, &ru) < 0)
		return -1;
	*wall = now_wall() - t0;
	*cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	if (rc)
		fprintf(stderr, "bench-cpu: qemu printed no result\n");
	return rc;
}

/* Write stub + image with the parameters to a temporary file. */
static int qemu_image(char *file, const uint8_t *img, size_t img_len, uint64_t entry,
		      const uint64_t args[4])
{
	size_t stub_len = (size_t)(qstub_end - qstub);
	uint64_t size = img_len;
	uint8_t *buf = malloc(stub_len + img_len);
	int fd;

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
		if (fd >= 0) {
			close(fd);
			unlink(file);
		}
		free(buf);
		return -1;
	}
	close(fd);
	free(buf);
	return 0;
}

/*
 * CPU time of a QEMU run that boots and calls a kernel with nothing to do
 * (interp with size 0): QEMU's start-up and exit. Best of two, once per
 * image.
 */
static double qemu_null_cpu(const char *qemu, const uint8_t *img, size_t img_len)
{
	static const uint8_t *cached_img;
	static double cached;
	const struct ktab *kt = (const struct ktab *)img;
	uint64_t args[4] = {KWORK_BASE, 0, 0, 0}, r;
	char file[] = "/tmp/softkvm-bench-XXXXXX";
	double best = -1, tsc, cpu, wall;

	if (cached_img == img)
		return cached;
	if (qemu_image(file, img, img_len, kt->entry[K_INTERP], args) < 0)
		return -1;
	for (int k = 0; k < 2; k++)
		if (qemu_run_file(qemu, file, &r, &tsc, &cpu, &wall) == 0 &&
		    (best < 0 || cpu < best))
			best = cpu;
	unlink(file);
	cached_img = img;
	cached = best;
	return best;
}

int qemu_run_kernel(const char *qemu, const uint8_t *img, size_t img_len, uint64_t entry,
		    const uint64_t args[4], struct qemu_times *t, uint64_t *result)
{
	char file[] = "/tmp/softkvm-bench-XXXXXX";
	double null_cpu, cpu;
	int rc;

	tsc_hz();
	null_cpu = qemu_null_cpu(qemu, img, img_len);
	if (null_cpu < 0)
		return -1;
	if (qemu_image(file, img, img_len, entry, args) < 0)
		return -1;
	rc = qemu_run_file(qemu, file, result, &t->tsc, &cpu, &t->wall);
	unlink(file);
	t->cpu = cpu - null_cpu;
	return rc;
}
