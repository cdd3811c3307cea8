/* SPDX-License-Identifier: MIT */
/*
 * The guest's load generator for make bench-virtio (bench/virtio/), built
 * static by run-bench-virtio.py and shipped in the guest's initramfs.
 *
 *   vbench blk DEV SECONDS THREADS   4 KiB O_DIRECT preads at random aligned
 *                                    offsets from THREADS threads (queue
 *                                    depth THREADS); prints "blk ios N
 *                                    seconds S iops I"
 *   vbench udp IP PORT SECONDS SIZE  UDP datagrams of SIZE bytes to IP:PORT
 *                                    as fast as the guest sends them; prints
 *                                    "udp sent N seconds S pps P"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_bool stop;
static atomic_ulong total;
static int dev_fd;
static uint64_t dev_blocks;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *reader(void *arg)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1), n = 0;
	void *buf;

	if (posix_memalign(&buf, 4096, 4096))
		return NULL;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (pread(dev_fd, buf, 4096, (off_t)((x % dev_blocks) * 4096)) != 4096) {
			perror("pread");
			exit(1);
		}
		n++;
	}
	atomic_fetch_add(&total, n);
	free(buf);
	return NULL;
}

static int blk(const char *dev, double secs, unsigned threads)
{
	pthread_t t[256];
	off_t size;
	double t0, t1;

	dev_fd = open(dev, O_RDONLY | O_DIRECT);
	if (dev_fd < 0 || (size = lseek(dev_fd, 0, SEEK_END)) < 4096) {
		perror(dev);
		return 1;
	}
	dev_blocks = (uint64_t)size / 4096;
	if (threads > 256)
		threads = 256;
	t0 = now();
	for (unsigned k = 0; k < threads; k++)
		pthread_create(&t[k], NULL, reader, (void *)(uintptr_t)k);
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&stop, true);
	for (unsigned k = 0; k < threads; k++)
		pthread_join(t[k], NULL);
	t1 = now();
	printf("blk ios %lu seconds %.3f iops %.0f\n", atomic_load(&total), t1 - t0,
	       (double)atomic_load(&total) / (t1 - t0));
	return 0;
}

static int udp(const char *ip, unsigned port, double secs, unsigned size)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	static char buf[65536];
	unsigned long n = 0, err = 0;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	double t0, t1, end;

	inet_pton(AF_INET, ip, &a.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("udp");
		return 1;
	}
	if (size > sizeof(buf))
		size = sizeof(buf);
	t0 = now();
	end = t0 + secs;
	for (;;) {
		for (unsigned k = 0; k < 64; k++) {
			memcpy(buf, &n, sizeof(n));
			if (send(fd, buf, size, 0) == (ssize_t)size)
				n++;
			else
				err++;
		}
		if ((t1 = now()) >= end)
			break;
	}
	printf("udp sent %lu errors %lu seconds %.3f pps %.0f\n", n, err, t1 - t0,
	       (double)n / (t1 - t0));
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "blk"))
		return blk(argv[2], atof(argv[3]), (unsigned)atoi(argv[4]));
	if (argc == 6 && !strcmp(argv[1], "udp"))
		return udp(argv[2], (unsigned)atoi(argv[3]), atof(argv[4]),
			   (unsigned)atoi(argv[5]));
	fprintf(stderr, "usage: vbench blk DEV SECONDS THREADS | udp IP PORT SECONDS SIZE\n");
	return 2;
}
