/* SPDX-License-Identifier: MIT */
/* softkvm: the command-line tool. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
	fputs("usage: softkvm COMMAND [ARGS]\n"
	      "\n"
	      "commands:\n"
	      "  run --kernel FILE [...]  boot Linux or a multiboot kernel ('softkvm run --help')\n"
	      "  exec -- PROGRAM [ARGS]  run a KVM program with /dev/kvm served by softkvm\n"
	      "  cpu-demo     run the built-in demo program on the software processor\n"
	      "  version      print the version\n"
	      "  help         this text\n",
	      f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "exec"))
		return cmd_exec(argc - 1, argv + 1);
	if (!strcmp(argv[1], "cpu-demo"))
		return cmd_cpu_demo(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		puts("softkvm " SOFTKVM_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "softkvm: unknown command '%s' (try 'softkvm help')\n", argv[1]);
	return 2;
}
