/* SPDX-License-Identifier: MIT */
/*
 * Guest program of run-migrate.py (runs inside Linux, statically linked):
 * keeps rewriting a buffer of MB MiB for SECS seconds, one pass after the
 * other. Before a word is rewritten it is checked against what the last
 * pass wrote there, so a page whose last write was lost (a migration or a
 * snapshot that missed it) is found wherever and whenever it happened. Each
 * pass prints the checksum of what it read and the checksum that was
 * expected; the last line gives the number of bad pages.
 *
 *   memstress MB SECS
 *
 * SECS 0: until the file /tmp/memstress.stop exists (looked for after each pass).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t pattern(uint64_t pass, uint64_t word)
{
	uint64_t x = (pass << 40) ^ (word * 0x9e3779b97f4a7c15ull);
	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ull;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: memstress MB SECS\n");
		return 2;
	}
	size_t words = (size_t)atoi(argv[1]) << 17, per_page = 4096 / 8;
	double end = now() + atof(argv[2]);
	uint64_t *buf =
	    mmap(NULL, words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long bad_pages = 0, pass;

	if (buf == MAP_FAILED) {
		perror("memstress: mmap");
		return 2;
	}
	for (size_t k = 0; k < words; k++)
		buf[k] = pattern(0, k);
	double secs = atof(argv[2]);
	for (pass = 1; secs > 0 ? now() < end : access("/tmp/memstress.stop", F_OK) != 0; pass++) {
		uint64_t sum = 0, expect = 0;
		for (size_t pg = 0; pg < words / per_page; pg++) {
			int bad = 0;
			for (size_t k = pg * per_page; k < (pg + 1) * per_page; k++) {
				uint64_t want = pattern(pass - 1, k), v = buf[k];
				sum += v;
				expect += want;
				bad |= v != want;
				buf[k] = pattern(pass, k);
			}
			if (bad && bad_pages++ < 10)
				printf("memstress: pass %lu: page %zu lost its last write\n", pass,
				       pg);
		}
		printf("memstress: pass %lu sum %016llx expect %016llx %s\n", pass,
		       (unsigned long long)sum, (unsigned long long)expect,
		       sum == expect ? "agree" : "DIFFER");
		fflush(stdout);
	}
	/* the last pass's writes, read back once more */
	uint64_t sum = 0, expect = 0;
	for (size_t k = 0; k < words; k++) {
		sum += buf[k];
		expect += pattern(pass - 1, k);
	}
	printf("memstress: done, %lu passes, %lu bad pages, final sum %016llx expect %016llx %s\n",
	       pass - 1, bad_pages, (unsigned long long)sum, (unsigned long long)expect,
	       sum == expect && !bad_pages ? "agree" : "DIFFER");
	return bad_pages || sum != expect;
}
