/* SPDX-License-Identifier: MIT */
/*
 * `softkvm exec -- PROGRAM ARGS`: run an unmodified KVM client with
 * /dev/kvm served by softkvm (LD_PRELOAD=libsoftkvm-preload.so).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The preload library next to the softkvm binary (build tree or installed tree). */
static int find_preload(char *out, size_t n)
{
	const char *env = getenv("SOFTKVM_PRELOAD");
	char exe[PATH_MAX];
	ssize_t len;
	static const char *const rel[] = {"/libsoftkvm-preload.so", "/../lib/libsoftkvm-preload.so",
					  "/../lib/x86_64-linux-gnu/libsoftkvm-preload.so"};

	if (env && *env) {
		snprintf(out, n, "%s", env);
		return access(out, R_OK) == 0 ? 0 : -1;
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		return -1;
	exe[len] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	for (size_t k = 0; k < sizeof(rel) / sizeof(rel[0]); k++) {
		snprintf(out, n, "%s%s", exe, rel[k]);
		if (access(out, R_OK) == 0) {
			char *real = realpath(out, NULL);
			if (real) {
				snprintf(out, n, "%s", real);
				free(real);
			}
			return 0;
		}
	}
	return -1;
}

int cmd_exec(int argc, char **argv)
{
	char lib[PATH_MAX], env[2 * PATH_MAX];
	int first = 1;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: softkvm exec -- PROGRAM [ARGS...]\n\n"
		       "Run PROGRAM with libsoftkvm-preload.so (LD_PRELOAD): its /dev/kvm is\n"
		       "served by softkvm in the program's own process. The program's own\n"
		       "CPUID instructions answer as on a KVM host (VMX or SVM set):\n"
		       "SOFTKVM_HOST_CPUID=auto (default), fault (CPUID faulting), patch\n"
		       "(rewritten to UD2 in the main executable) or off. Exit status: the\n"
		       "program's; 127 if it cannot be run, 2 on bad usage.\n"
		       "SOFTKVM_ENGINE=jit (default) or interp selects the processor's engine.\n");
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--"))
		first = 2;
	if (first >= argc) {
		fprintf(stderr, "usage: softkvm exec -- PROGRAM [ARGS...]\n");
		return 2;
	}
	if (find_preload(lib, sizeof(lib))) {
		fprintf(stderr, "softkvm exec: cannot find libsoftkvm-preload.so next to softkvm "
				"(set SOFTKVM_PRELOAD)\n");
		return 2;
	}
	const char *old = getenv("LD_PRELOAD");
	if (old && *old)
		snprintf(env, sizeof(env), "%s:%s", lib, old);
	else
		snprintf(env, sizeof(env), "%s", lib);
	setenv("LD_PRELOAD", env, 1);
	execvp(argv[first], &argv[first]);
	fprintf(stderr, "softkvm exec: cannot run '%s': %s\n", argv[first], strerror(errno));
	return 127;
}
