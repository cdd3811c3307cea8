/* SPDX-License-Identifier: MIT */
/*
 * bench-cpu: runs the guest programs of bench/kernels/ natively and on the
 * software processor (cpu/ through cpu/harness.h), optionally under QEMU TCG,
 * in the same run, and prints guest MIPS and the slowdowns. See
 * bench/README.md. A benchmark reports figures; it asserts nothing about
 * speed. It fails (exit 1) only when a run's result is wrong.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <Zydis/Zydis.h>

#include "bench.h"
#define SOFTKVM_NO_REG_NAMES /* <signal.h> has its own REG_* */
#include "harness.h"
#include "kernels.h"

/* guest memory layout (identity mapped by hx_setup_long64) */
#define G_RAM	    (KWORK_BASE + KWORK_SIZE + HX_SYS_SIZE + 0x100000)
#define G_RETSTUB   0x1000ull /* the kernel returns here */
#define G_EXCSTUB   0x2000ull /* 32 exception stubs of 16 bytes */
#define G_STACK_TOP 0xf00000ull
#define G_TIMEOUT_S 300 /* a safety net for a guest that never returns */

struct kdef {
	const char *name;
	int id;
	uint64_t size, reps, seed;
};

/* sizes: about 50-150 million guest instructions each at --scale 1 */
static const struct kdef kdefs[] = {
    {"crc32", K_CRC32, 64 << 10, 160, 0x1234},
    {"sieve", K_SIEVE, 2000000, 3, 0},
    {"memcpy", K_MEMCPY, 64 << 10, 4000, 7},
    {"interp", K_INTERP, 400000, 1, 12345},
};
#define NKERNELS (sizeof(kdefs) / sizeof(kdefs[0]))

struct variant {
	const char *name;
	const uint8_t *img;
	size_t len;
};

static struct variant variants[2];

/* ---- host reference results ---- */

static uint64_t ref_crc32(uint64_t size, uint64_t reps, uint64_t seed)
{
	uint32_t t[256], crc = 0;
	uint8_t *d = malloc(size + 8);
	uint64_t a = seed, b = seed ^ 0x9e3779b97f4a7c15ull;

	if (!d)
		return 0;
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1));
		t[i] = c;
	}
	for (uint64_t off = 0; off < size; off += 8) {
		uint64_t c = (a + b) ^ off;
		memcpy(d + off, &c, 8);
		a = b;
		b = c;
	}
	for (uint64_t r = 0; r < reps; r++) {
		crc = ~crc;
		for (uint64_t k = 0; k < size; k++)
			crc = t[(crc ^ d[k]) & 0xff] ^ (crc >> 8);
		crc = ~crc;
	}
	free(d);
	return crc;
}

static uint64_t ref_sieve(uint64_t n, uint64_t reps)
{
	uint8_t *f = calloc(n + 1, 1);
	uint64_t count = 0;

	if (!f)
		return 0;
	for (uint64_t i = 2; i <= n; i++) {
		if (f[i])
			continue;
		count++;
		for (uint64_t j = i * i; i <= n / i && j <= n; j += i)
			f[j] = 1;
	}
	free(f);
	return count * reps;
}

static uint64_t ref_memcpy(uint64_t size, uint64_t reps, uint64_t seed)
{
	uint64_t nw, *src, *dst, a = seed, sum = 0, x = 0, idx = 0;

	size &= ~31ull;
	nw = size / 8;
	if (!nw)
		return 0;
	src = malloc(size);
	dst = malloc(size);
	if (!src || !dst) {
		free(src);
		free(dst);
		return 0;
	}
	for (uint64_t i = 0; i < nw; i++) {
		a += 0x9e3779b97f4a7c15ull;
		src[i] = a ^ (i * 8);
	}
	for (uint64_t r = 0; r < reps; r++) {
		memcpy(dst, src, size);
		src[idx] ^= r + 1;
		if (++idx == nw)
			idx = 0;
	}
	for (uint64_t i = 0; i < nw; i++) {
		sum += dst[i];
		x ^= sum;
	}
	free(src);
	free(dst);
	return sum ^ x;
}

static uint64_t ref_interp(uint64_t size, uint64_t reps, uint64_t seed, bool basic)
{
	uint64_t res = 0;

	if (!size)
		return 0;
	for (uint64_t r = 0; r < reps; r++) {
		uint64_t i = size, acc = seed + r, odd = 0;
		do {
			if (acc & 1) {
				acc += i;
				odd++;
			} else if (basic) {
				acc = ((acc ^ i) + 0x5bd1e995) * 2;
			} else {
				uint64_t y = (acc ^ i) * 0x5bd1e995;
				acc = (y ^ (y >> 13)) & 0x7fffffff;
			}
			if (acc < 0x1000)
				acc ^= 0x5a5a5;
		} while (--i);
		res += acc ^ odd;
	}
	return res;
}

static uint64_t ref_result(const struct kdef *k, uint64_t reps, bool basic)
{
	switch (k->id) {
	case K_CRC32:
		return ref_crc32(k->size, reps, k->seed);
	case K_SIEVE:
		return ref_sieve(k->size, reps);
	case K_MEMCPY:
		return ref_memcpy(k->size, reps, k->seed);
	default:
		return ref_interp(k->size, reps, k->seed, basic);
	}
}

/* ---- timing ---- */

static double now_cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- native ---- */

static bool native_ok;

static bool native_map(void)
{
	void *a = mmap((void *)KIMG_BASE, KIMG_MAX, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	void *b = mmap((void *)KWORK_BASE, KWORK_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (a != (void *)KIMG_BASE || b != (void *)KWORK_BASE) {
		fprintf(stderr, "bench-cpu: cannot map %#llx/%#llx for the native runs: %s\n",
			KIMG_BASE, KWORK_BASE, strerror(errno));
		return false;
	}
	return true;
}

static void native_load(const struct variant *v)
{
	mprotect((void *)KIMG_BASE, KIMG_MAX, PROT_READ | PROT_WRITE);
	memset((void *)KIMG_BASE, 0, KIMG_MAX);
	memcpy((void *)KIMG_BASE, v->img, v->len);
	mprotect((void *)KIMG_BASE, KIMG_MAX, PROT_READ | PROT_EXEC);
}

/* best of several runs (at least 3 and 0.3 s); returns thread CPU seconds */
static double native_run(uint64_t entry, const uint64_t a[4], uint64_t *result)
{
	kernel_fn fn = (kernel_fn)(uintptr_t)entry;
	double best = 1e9, total = 0;

	*result = fn(a[0], a[1], a[2], a[3]); /* warm up */
	for (int n = 0; n < 20 && (n < 3 || total < 0.3); n++) {
		double t0 = now_cpu();
		uint64_t r = fn(a[0], a[1], a[2], a[3]);
		double t = now_cpu() - t0;
		if (r != *result)
			*result = ~0ull; /* not deterministic: reported as a mismatch */
		total += t;
		if (t < best)
			best = t;
	}
	return best;
}

/* ---- guest ---- */

struct grun {
	uint64_t result, insns;
	double cpu, wall;
	char err[160];
};

/* no instruction budget (it costs a check per block): a watchdog instead */
static void kick(void *c)
{
	cpu_kick(c);
}

static bool exc_has_code(int v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

static void put_gate(struct hx *h, int vec, uint64_t target)
{
	uint8_t *g = h->ram + h->idt + 16 * vec;
	uint16_t sel = HX_SEL_CODE64;
	uint16_t lo = (uint16_t)target, mid = (uint16_t)(target >> 16);
	uint32_t hi = (uint32_t)(target >> 32);

	memset(g, 0, 16);
	memcpy(g, &lo, 2);
	memcpy(g + 2, &sel, 2);
	g[5] = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
	memcpy(g + 6, &mid, 2);
	memcpy(g + 8, &hi, 4);
}

/* "#UD at 0x1000123: shr rsi, 3" for the exception frame the stub left */
static void describe_fault(struct hx *h, int vec, char *out, size_t outlen)
{
	struct cpu_regs r;
	uint64_t rip = 0;
	char text[96] = "?";

	cpu_get_regs(h->cpu, &r);
	uint64_t frame = r.gpr[GPR_RSP] + (exc_has_code(vec) ? 8 : 0);
	if (frame + 8 <= h->ram_size)
		memcpy(&rip, h->ram + frame, 8);
	if (rip + 15 <= h->ram_size) {
		ZydisDecoder dec;
		ZydisFormatter fmt;
		ZydisDecodedInstruction zi;
		ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];

		ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
		ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_INTEL);
		if (ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, h->ram + rip, 15, &zi, ops)))
			ZydisFormatterFormatInstruction(&fmt, &zi, ops, zi.operand_count_visible,
							text, sizeof(text), rip, NULL);
	}
	static const char *const names[32] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD",
					      "#NM", "#DF", "9",   "#TS", "#NP", "#SS", "#GP",
					      "#PF", "15",  "#MF", "#AC", "#MC", "#XM"};
	snprintf(out, outlen, "%s at %#llx: %s", names[vec] ? names[vec] : "exception",
		 (unsigned long long)rip, text);
}

static int guest_run(const struct variant *v, uint64_t entry, const uint64_t a[4], struct grun *g)
{
	/* mov rbx, rax; mov eax, 0; out 0xf4, eax; hlt */
	static const uint8_t retstub[] = {0x48, 0x89, 0xc3, 0xb8, 0, 0, 0, 0, 0xe7, 0xf4, 0xf4};
	struct hx *h = hx_create(G_RAM);
	struct cpu_regs r;
	uint64_t ret = G_RETSTUB, i0;
	enum cpu_exit e;
	double c0, w0;

	memset(g, 0, sizeof(*g));
	if (!h) {
		snprintf(g->err, sizeof(g->err), "cannot create the guest");
		return -1;
	}
	hx_load(h, KIMG_BASE, v->img, v->len);
	hx_load(h, G_RETSTUB, retstub, sizeof(retstub));
	for (int vec = 0; vec < 32; vec++) {
		/* mov eax, 0x100 + vec; out 0xf4, eax; hlt */
		uint8_t s[8] = {0xb8, (uint8_t)vec, 1, 0, 0, 0xe7, 0xf4, 0xf4};
		hx_load(h, G_EXCSTUB + 16 * vec, s, sizeof(s));
	}
	hx_setup_long64(h, entry, G_STACK_TOP - 8, false);
	for (int vec = 0; vec < 32; vec++)
		put_gate(h, vec, G_EXCSTUB + 16 * vec);
	memcpy(h->ram + G_STACK_TOP - 8, &ret, 8);
	cpu_get_regs(h->cpu, &r);
	r.gpr[GPR_RDI] = a[0];
	r.gpr[GPR_RSI] = a[1];
	r.gpr[GPR_RDX] = a[2];
	r.gpr[GPR_RCX] = a[3];
	cpu_set_regs(h->cpu, &r);

	i0 = cpu_insn_count(h->cpu);
	c0 = now_cpu();
	w0 = now_wall();
	watchdog(kick, h->cpu, G_TIMEOUT_S);
	e = hx_run(h, 0);
	watchdog(NULL, NULL, 0);
	g->cpu = now_cpu() - c0;
	g->wall = now_wall() - w0;
	g->insns = cpu_insn_count(h->cpu) - i0;
	cpu_get_regs(h->cpu, &r);
	if (h->exited && h->exit_code == 0) {
		g->result = r.gpr[GPR_RBX];
	} else if (h->exited && h->exit_code >= 0x100 && h->exit_code < 0x120) {
		describe_fault(h, h->exit_code - 0x100, g->err, sizeof(g->err));
	} else {
		snprintf(g->err, sizeof(g->err), "guest stopped: %s at rip %#llx%s",
			 hx_exit_name(e), (unsigned long long)r.rip,
			 e == CPU_EXIT_REQUEST ? " (timeout)" : "");
	}
	hx_destroy(h);
	return g->err[0] ? -1 : 0;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-cpu [options]\n"
		   "  --scale F        multiply the repetitions by F (default 1)\n"
		   "  --only NAMES     comma-separated subset of: crc32,sieve,memcpy,interp\n"
		   "  --variant V      basic, full or both (default both)\n"
		   "  --guest-only     skip native and QEMU runs (for profilers)\n"
		   "  --no-qemu        skip QEMU even if qemu-system-x86_64 is installed\n"
		   "  --quiet          only the table\n"
		   "  --verbose        also print wall-clock times\n");
}

static bool selected(const char *only, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = only; p && *p;) {
		size_t l = strcspn(p, ",");
		if (l == n && !strncmp(p, name, n))
			return true;
		p += l + (p[l] == ',');
	}
	return !only;
}

static void cpu_model(char *buf, size_t n)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, n, "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');
		if (!strncmp(line, "model name", 10) && c) {
			snprintf(buf, n, "%s", c + 2);
			buf[strcspn(buf, "\n")] = 0;
			break;
		}
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"scale", required_argument, NULL, 's'},
	    {"only", required_argument, NULL, 'o'},
	    {"variant", required_argument, NULL, 'v'},
	    {"guest-only", no_argument, NULL, 'g'},
	    {"no-qemu", no_argument, NULL, 'n'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *only = NULL, *vsel = "both", *qemu;
	double scale = 1;
	bool guest_only = false, no_qemu = false, quiet = false, verbose = false;
	int opt, failures = 0;
	char model[128];

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			scale = strtod(optarg, NULL);
			if (!(scale > 0)) {
				fprintf(stderr, "bench-cpu: bad --scale '%s'\n", optarg);
				return 2;
			}
			break;
		case 'o':
			only = optarg;
			break;
		case 'v':
			vsel = optarg;
			break;
		case 'g':
			guest_only = true;
			break;
		case 'n':
			no_qemu = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'V':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc ||
	    (strcmp(vsel, "basic") && strcmp(vsel, "full") && strcmp(vsel, "both"))) {
		usage(stderr);
		return 2;
	}
	for (const char *p = only; p && *p;) {
		size_t l = strcspn(p, ",");
		bool known = false;
		for (size_t k = 0; k < NKERNELS; k++)
			known |= strlen(kdefs[k].name) == l && !strncmp(p, kdefs[k].name, l);
		if (!known) {
			fprintf(stderr, "bench-cpu: unknown program '%.*s' in --only\n", (int)l, p);
			return 2;
		}
		p += l + (p[l] == ',');
	}

	variants[0] = (struct variant){"basic", kimg_basic, (size_t)(kimg_basic_end - kimg_basic)};
	variants[1] = (struct variant){"full", kimg_full, (size_t)(kimg_full_end - kimg_full)};
	qemu = guest_only || no_qemu || getenv("BENCH_NO_QEMU") ? NULL : qemu_find();
	native_ok = !guest_only && native_map();
	cpu_model(model, sizeof(model));
	if (!quiet) {
		printf("softkvm bench-cpu on %s\n", model);
		printf("times: thread CPU time; native: best of >= 3 runs; guest: one run on cpu/ "
		       "(64-bit, paging on, CPL 0)%s\n\n",
		       qemu ? "; qemu: qemu-system-x86_64 TCG, CPU time minus a null run" : "");
	}
	printf("%-7s %-6s %9s %9s %8s %10s %9s", "program", "isa", "insns(M)", "guest(s)", "MIPS",
	       "native(s)", "slowdown");
	if (qemu)
		printf(" %8s %9s %8s", "qemu(s)", "qemu MIPS", "vs qemu");
	printf("  result\n");

	for (int vi = 0; vi < 2; vi++) {
		const struct variant *v = &variants[vi];
		const struct ktab *kt = (const struct ktab *)v->img;

		if (strcmp(vsel, "both") && strcmp(vsel, v->name))
			continue;
		if (v->len < sizeof(*kt) || v->len > KIMG_MAX || kt->magic != KTAB_MAGIC ||
		    kt->count != K_COUNT) {
			fprintf(stderr, "bench-cpu: bad kernel image '%s'\n", v->name);
			return 1;
		}
		if (native_ok)
			native_load(v);
		for (size_t k = 0; k < NKERNELS; k++) {
			const struct kdef *kd = &kdefs[k];
			uint64_t reps = (uint64_t)((double)kd->reps * scale + 0.5);
			uint64_t args[4], nres = 0, qres = 0, ref;
			double ntime = 0;
			struct qemu_times qt = {0};
			struct grun g;
			bool ok = true, qok = false;

			if (!selected(only, kd->name))
				continue;
			if (reps < 1)
				reps = 1;
			args[0] = KWORK_BASE;
			args[1] = kd->size;
			args[2] = reps;
			args[3] = kd->seed;
			ref = ref_result(kd, reps, vi == 0);
			fflush(stdout);
			if (guest_run(v, kt->entry[kd->id], args, &g) < 0) {
				printf("%-7s %-6s %9.1f  guest failed: %s\n", kd->name, v->name,
				       (double)g.insns / 1e6, g.err);
				/* a basic kernel must run; a full one may use what is not there yet
				 */
				if (vi == 0)
					failures++;
				continue;
			}
			if (native_ok)
				ntime = native_run(kt->entry[kd->id], args, &nres);
			if (qemu)
				qok = qemu_run_kernel(qemu, v->img, v->len, kt->entry[kd->id], args,
						      &qt, &qres) == 0 &&
				      qt.cpu > 0;
			double mips = (double)g.insns / g.cpu / 1e6;
			printf("%-7s %-6s %9.1f %9.3f %8.1f", kd->name, v->name,
			       (double)g.insns / 1e6, g.cpu, mips);
			if (native_ok)
				printf(" %10.4f %8.1fx", ntime, g.cpu / ntime);
			else
				printf(" %10s %9s", "-", "-");
			if (qemu && qok)
				printf(" %8.3f %9.1f %7.2fx", qt.cpu,
				       (double)g.insns / qt.cpu / 1e6, g.cpu / qt.cpu);
			else if (qemu)
				printf(" %8s %9s %8s", "failed", "-", "-");
			if (g.result != ref || (native_ok && nres != ref) || (qok && qres != ref))
				ok = false;
			printf("  %#llx %s\n", (unsigned long long)g.result,
			       ok ? "ok" : "MISMATCH");
			if (verbose)
				printf("        wall clock: guest %.3f s%s", g.wall,
				       qok ? "" : "\n");
			if (verbose && qok)
				printf(", qemu: kernel by guest TSC %.3f s, process %.3f s\n",
				       qt.tsc, qt.wall);
			if (!ok) {
				fprintf(stderr,
					"bench-cpu: %s/%s: guest %#llx native %#llx qemu %#llx "
					"reference %#llx\n",
					kd->name, v->name, (unsigned long long)g.result,
					(unsigned long long)nres, (unsigned long long)qres,
					(unsigned long long)ref);
				failures++;
			}
		}
	}
	if (!quiet)
		printf("\nMIPS = guest instructions (cpu_insn_count) / guest CPU time; slowdown = "
		       "guest time / native time%s.\n",
		       qemu ? "; vs qemu = guest time / QEMU TCG time" : "");
	return failures ? 1 : 0;
}
