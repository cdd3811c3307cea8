/* SPDX-License-Identifier: MIT */
/*
 * Regression driver for a fuzz target without libFuzzer: replays files and
 * directories (the committed corpus, saved crashes) and then a number of
 * deterministic pseudo-random inputs (shaped by the target's
 * fuzz_random_input()) through LLVMFuzzerTestOneInput().
 *
 *   fuzz_replay [--random N] [--seed S] [--seconds T] [FILE|DIR]...
 *
 * --seconds: replay the files and 50 random inputs, again and again, until
 *   T seconds have passed (the ThreadSanitizer run of the ABI target).
 * --dump DIR: write the random inputs to DIR (seeds for libFuzzer) instead.
 *
 * A violated invariant aborts (the sanitizers report their own findings), so
 * the exit status is that of the first failure; otherwise 0.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <time.h>

#include "replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long files;

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f) {
		perror(path);
		return -1;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
		fprintf(stderr, "fuzz_replay: cannot read %s\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (getenv("FUZZ_REPLAY_VERBOSE"))
		fprintf(stderr, "fuzz_replay: %s\n", path);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	files++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_path(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	d = opendir(path);
	if (!d) {
		perror(path);
		return -1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **p = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));
			if (!p)
				break;
			names = p;
		}
		size_t len = strlen(path) + strlen(de->d_name) + 2;
		names[n] = malloc(len);
		if (!names[n])
			break;
		snprintf(names[n], len, "%s/%s", path, de->d_name);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names); /* deterministic order */
	for (size_t k = 0; k < n; k++) {
		if (replay_file(names[k]) < 0)
			rc = -1;
		free(names[k]);
	}
	free(names);
	return rc;
}

static struct timespec t_start;

static double elapsed(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t_start.tv_sec) + (t.tv_nsec - t_start.tv_nsec) / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long nrand = 0, done = 0, k = 0;
	uint64_t seed = 1;
	double seconds = 0;
	const char *dump = NULL, *paths[256];
	unsigned npaths = 0;
	static uint8_t buf[FUZZ_RANDOM_MAX];
	int rc = 0;

	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--random") && a + 1 < argc) {
			nrand = strtoul(argv[++a], NULL, 0);
		} else if (!strcmp(argv[a], "--dump") && a + 1 < argc) {
			dump = argv[++a];
		} else if (!strcmp(argv[a], "--seconds") && a + 1 < argc) {
			seconds = strtod(argv[++a], NULL);
		} else if (!strcmp(argv[a], "--seed") && a + 1 < argc) {
			seed = strtoull(argv[++a], NULL, 0);
			if (!seed)
				seed = 1;
		} else if (npaths < sizeof(paths) / sizeof(paths[0])) {
			paths[npaths++] = argv[a];
		}
	}
	if (dump) {
		for (k = 0; k < nrand; k++) {
			char path[4096];
			size_t len = fuzz_random_input(&seed, k, buf, sizeof(buf));
			snprintf(path, sizeof(path), "%s/random-%04lu", dump, k);
			FILE *f = fopen(path, "wb");
			if (!f || fwrite(buf, 1, len, f) != len) {
				perror(path);
				return 1;
			}
			fclose(f);
		}
		printf("fuzz_replay: wrote %lu inputs to %s\n", nrand, dump);
		return 0;
	}
	/* with --seconds: the files and a batch of random inputs, again and again */
	clock_gettime(CLOCK_MONOTONIC, &t_start);
	do {
		for (unsigned p = 0; p < npaths; p++)
			if (replay_path(paths[p]) < 0)
				rc = 1;
		for (unsigned long b = 0; b < (seconds > 0 ? 50 : nrand); b++) {
			if (seconds > 0 && elapsed() >= seconds)
				break;
			size_t len = fuzz_random_input(&seed, k++, buf, sizeof(buf));
			LLVMFuzzerTestOneInput(buf, len);
			done++;
		}
	} while (seconds > 0 && elapsed() < seconds && !rc);
	fuzz_stats(stdout);
	printf("fuzz_replay: %lu files, %lu random inputs, no invariant violated\n", files, done);
	return rc;
}
