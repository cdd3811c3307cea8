/* SPDX-License-Identifier: MIT */
/*
 * Runs one ring-0 test image (tests/cpu/\*.asm) on the processor through
 * the harness: loads it at 1 MiB, enters flat 32-bit protected mode at
 * CPL 0 (the multiboot entry state) and checks the console output:
 * every line "PASS ..." or "FAIL ...", a final "SUMMARY: n passed, 0 failed"
 * and exit code 0 on port 0xf4.
 *
 *   runner [--shutdown] [--min N] image.bin
 *
 * --shutdown: the test ends in a triple fault; cpu_run() must report
 * CPU_EXIT_SHUTDOWN after all its checks passed (no SUMMARY line needed).
 * --min N: at least N checks must have passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define LOAD_ADDR 0x100000
#define RAM_SIZE  (64ull << 20)
#define BUDGET	  200000000ull

static int count_prefix(const char *out, const char *prefix)
{
	int n = 0;
	size_t l = strlen(prefix);
	for (const char *p = out; p && *p;) {
		if (strncmp(p, prefix, l) == 0)
			n++;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

int main(int argc, char **argv)
{
	bool want_shutdown = false;
	int min = 1, a = 1;
	const char *path;

	for (; a < argc && argv[a][0] == '-'; a++) {
		if (!strcmp(argv[a], "--shutdown"))
			want_shutdown = true;
		else if (!strcmp(argv[a], "--min") && a + 1 < argc)
			min = atoi(argv[++a]);
	}
	if (a >= argc) {
		fprintf(stderr, "usage: %s [--shutdown] [--min N] image.bin\n", argv[0]);
		return 2;
	}
	path = argv[a];
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "%s: cannot open\n", path);
		return 2;
	}
	static uint8_t img[8 << 20];
	size_t n = fread(img, 1, sizeof(img), f);
	fclose(f);

	struct hx *h = hx_create(RAM_SIZE);
	if (!h) {
		fprintf(stderr, "cannot create the machine\n");
		return 2;
	}
	h->console = stdout;
	hx_load(h, LOAD_ADDR, img, n);
	hx_setup_prot32(h, LOAD_ADDR, 0x7fff0, false);
	enum cpu_exit e = hx_run(h, BUDGET);
	fflush(stdout);

	const char *out = h->out ? h->out : "";
	int pass = count_prefix(out, "PASS "), fail = count_prefix(out, "FAIL ");
	int ok = 1;
	if (want_shutdown) {
		if (e != CPU_EXIT_SHUTDOWN) {
			fprintf(stderr, "%s: expected a triple fault (shutdown), got exit '%s'\n",
				path, hx_exit_name(e));
			ok = 0;
		}
	} else {
		if (!h->exited) {
			struct cpu_regs r;
			struct cpu_sregs s;
			cpu_get_regs(h->cpu, &r);
			cpu_get_sregs(h->cpu, &s);
			fprintf(stderr,
				"%s: did not write the exit port (exit '%s', cs:rip %#x:%#llx, "
				"rflags %#llx, cr0 %#llx)\n",
				path, hx_exit_name(e), s.seg[SEG_CS].sel, (unsigned long long)r.rip,
				(unsigned long long)r.rflags, (unsigned long long)s.cr0);
			ok = 0;
		} else if (h->exit_code != 0) {
			fprintf(stderr, "%s: exit code %d\n", path, h->exit_code);
			ok = 0;
		}
		if (!strstr(out, "SUMMARY: ")) {
			fprintf(stderr, "%s: no SUMMARY line\n", path);
			ok = 0;
		}
	}
	if (fail || pass < min) {
		fprintf(stderr, "%s: %d passed, %d failed (at least %d must pass)\n", path, pass,
			fail, min);
		ok = 0;
	}
	hx_destroy(h);
	return ok ? 0 : 1;
}
