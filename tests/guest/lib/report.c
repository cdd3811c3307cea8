/* SPDX-License-Identifier: MIT */
/* Console output on COM1, test reporting and exit through isa-debug-exit. */
#include "libtest.h"

static int tests, failures;

static void serial_putc(char c)
{
	/* wait for THR empty (LSR bit 5); the VMM and QEMU both drain at once */
	for (int k = 0; k < 100000 && !(inb(COM1 + 5) & 0x20); k++)
		;
	outb(COM1, (u8)c);
}

void puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

int printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	puts(buf);
	return r;
}

void report(const char *name, bool pass)
{
	tests++;
	if (!pass)
		failures++;
	printf("%s: %s\n", pass ? "PASS" : "FAIL", name);
}

void reportf(bool pass, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	report(buf, pass);
}

void report_skip(const char *name)
{
	printf("SKIP: %s\n", name);
}

void info(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("INFO: %s\n", buf);
}

int report_failures(void)
{
	return failures;
}

noreturn void exit(int code)
{
	/* QEMU and softkvm: the process exits with (code << 1) | 1 */
	outl(DEBUG_EXIT_PORT, (u32)code);
	for (;;)
		asm volatile("cli; hlt");
}

void report_summary_print(void)
{
	printf("SUMMARY: %d tests, %d failures\n", tests, failures);
}

noreturn void report_summary(void)
{
	report_summary_print();
	exit(failures ? 1 : 0);
}

/* ---- command line: "PROGRAM key=value ..." ---- */

const char *cmdline_arg(const char *key, char *buf, size_t n)
{
	struct mb_info *mbi = (struct mb_info *)(ulong)mb_info;
	const char *p;
	size_t kl = strlen(key);

	if (mb_magic != 0x2badb002 || !(mbi->flags & (1u << 2)))
		return NULL;
	p = (const char *)(ulong)mbi->cmdline;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		if ((size_t)(p - w) > kl && !strncmp(w, key, kl) && w[kl] == '=') {
			size_t l = (size_t)(p - w) - kl - 1;
			if (l >= n)
				l = n - 1;
			memcpy(buf, w + kl + 1, l);
			buf[l] = 0;
			return buf;
		}
	}
	return NULL;
}

ulong cmdline_ulong(const char *key, ulong def)
{
	char buf[32];
	const char *v = cmdline_arg(key, buf, sizeof(buf));
	ulong r = 0;
	unsigned base = 10;

	if (!v || !*v)
		return def;
	if (v[0] == '0' && v[1] == 'x') {
		base = 16;
		v += 2;
	}
	for (; *v; v++) {
		unsigned d;
		if (*v >= '0' && *v <= '9')
			d = (unsigned)(*v - '0');
		else if (base == 16 && *v >= 'a' && *v <= 'f')
			d = (unsigned)(*v - 'a' + 10);
		else
			break;
		r = r * base + d;
	}
	return r;
}
