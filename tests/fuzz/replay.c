/* SPDX-License-Identifier: MIT */
/*
 * Regression driver for the fuzz target without libFuzzer: replays files
 * and directories (the committed corpus, saved crashes) and then a number of
 * deterministic pseudo-random inputs through LLVMFuzzerTestOneInput().
 *
 *   fuzz_replay [--random N] [--seed S] [FILE|DIR]...
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void fuzz_cpu_stats(FILE *f);

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

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/*
 * Random inputs shaped like real ones: every mode in turn, and code mixing
 * random bytes with common opcodes and prefixes so that more of it decodes.
 */
static void random_input(uint64_t *s, unsigned long k, uint8_t *buf, size_t *len)
{
	static const uint8_t common[] = {
	    0x66, 0x67, 0xf3, 0xf2, 0xf0, 0x2e, 0x26, 0x64, 0x65, 0x48, 0x4c, 0x0f, 0x0f,
	    0x89, 0x8b, 0x01, 0x31, 0x83, 0xff, 0xe8, 0xc3, 0x74, 0x75, 0xeb, 0xcd, 0xcf,
	    0x9c, 0x9d, 0x50, 0x58, 0xa4, 0xa5, 0xab, 0xc1, 0xd3, 0xf7, 0xfa, 0xfb, 0xf4,
	    0x8e, 0xea, 0x9a, 0xca, 0xcb, 0x05, 0x07, 0x34, 0x35, 0x01, 0x20, 0x22, 0xa2,
	};
	size_t n = 8 + (size_t)(xorshift(s) % 256);

	for (size_t i = 0; i < n; i++) {
		uint64_t r = xorshift(s);
		buf[i] = (r & 3) ? (uint8_t)(r >> 8) : common[(r >> 8) % sizeof(common)];
	}
	buf[0] = (uint8_t)((buf[0] & ~7u) | (k & 7)); /* cycle through the modes */
	if (k % 8)
		buf[7] &= 0x7f; /* mostly the short instruction budget */
	*len = n;
}

int main(int argc, char **argv)
{
	unsigned long nrand = 0;
	uint64_t seed = 1;
	uint8_t buf[512];
	int rc = 0;

	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--random") && a + 1 < argc) {
			nrand = strtoul(argv[++a], NULL, 0);
		} else if (!strcmp(argv[a], "--seed") && a + 1 < argc) {
			seed = strtoull(argv[++a], NULL, 0);
			if (!seed)
				seed = 1;
		} else if (replay_path(argv[a]) < 0) {
			rc = 1;
		}
	}
	for (unsigned long k = 0; k < nrand; k++) {
		size_t len;
		random_input(&seed, k, buf, &len);
		LLVMFuzzerTestOneInput(buf, len);
	}
	fuzz_cpu_stats(stdout);
	printf("fuzz_replay: %lu files, %lu random inputs, no invariant violated\n", files, nrand);
	return rc;
}
