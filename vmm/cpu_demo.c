/* SPDX-License-Identifier: MIT */
/*
 * `softkvm cpu-demo`: runs a built-in 64-bit guest program on the bare
 * processor (cpu/harness.h) and prints what it prints. It exercises the
 * processor without the KVM layer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"
#include "cli.h"

extern const unsigned char softkvm_demo_bin[], softkvm_demo_bin_end[];

int cmd_cpu_demo(int argc, char **argv)
{
	struct hx *h;
	enum cpu_exit e;
	struct timespec t0, t1;
	int rc;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "softkvm cpu-demo: unexpected argument '%s'\n", argv[1]);
		return 2;
	}
	h = hx_create(64ull << 20);
	if (!h) {
		fprintf(stderr, "softkvm cpu-demo: cannot allocate guest memory\n");
		return 1;
	}
	h->console = stdout;
	hx_load(h, 0x100000, softkvm_demo_bin, (size_t)(softkvm_demo_bin_end - softkvm_demo_bin));
	hx_setup_long64(h, 0x100000, 0x300000, false);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = hx_run(h, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fflush(stdout);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (h->exited) {
		fprintf(stderr,
			"cpu-demo: guest exited with %d after %llu instructions (%.3f ms)\n",
			h->exit_code, (unsigned long long)cpu_insn_count(h->cpu), secs * 1e3);
		rc = h->exit_code == 0 ? 0 : 1;
	} else {
		fprintf(stderr, "cpu-demo: guest stopped: %s at rip=%#llx\n", hx_exit_name(e),
			(unsigned long long)0);
		rc = 1;
	}
	hx_destroy(h);
	return rc;
}
