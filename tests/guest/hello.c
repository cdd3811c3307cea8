/* SPDX-License-Identifier: MIT */
/* The smallest test kernel: the library works (output, report, summary, exit). */
#include "libtest.h"

int main(void)
{
	report("multiboot magic in EAX", mb_magic == 0x2badb002);
	report("printf formats", ({
		       char b[64];
		       snprintf(b, sizeof(b), "%d %u %x %05d %-3s| %lx %llx %c", -42, 7u, 0xbeefu,
				12, "ab", 0x1234ul, 0x123456789abcull, 'z');
		       !strcmp(b, "-42 7 beef 00012 ab | 1234 123456789abc z");
	       }));
	report_summary();
}
