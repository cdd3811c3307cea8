/* SPDX-License-Identifier: MIT */
/*
 * difftest --cases N --seed S [--start K] [--verbose] [--mode32] [--progress]
 *          [--vendor intel|amd] [--focus bmi|avx]
 *
 * Runs N generated cases of user-mode integer instructions natively (in a
 * forked child) and on cpu/ (64-bit mode, CPL 3), and compares the exit
 * (completion or exception vector, error code, CR2, RIP), all sixteen GPRs,
 * the arithmetic flags the SDM defines at that point plus DF, and the data
 * area. The last line printed is "cases: N, mismatches: M". Each case is a
 * function of (seed, index): --start K --cases 1 replays case K of a run.
 * Generator bugs that would make a comparison meaningless count as
 * mismatches too: "generator(insn K reads undefined flags)" (an instruction
 * that tests a flag left undefined before it, by Zydis' flag table) and
 * "generator(the planned fault did not happen)".
 *
 * The processor runs in the host's vendor mode with the host's CPUID bits
 * (cpu/README.md, "Vendor behaviour"); --vendor intel|amd overrides the
 * vendor, to see the differences the other mode makes.
 *
 * --focus bmi makes three instructions in four BMI1/BMI2/ADX ones (edge operands, the
 * malformed VEX forms that must #UD); status 77 on a host without them, where the generator
 * leaves them out of every run. On an AMD host the undefined flags of ANDN, BLSI,
 * BLSMSK, BLSR, BEXTR and BZHI are compared too (cpu/README.md, "Vendor behaviour").
 *
 * --focus avx makes cases of VEX instructions (AVX, AVX2, FMA3, F16C; gen_avx.c): a
 * prologue loads YMM0-15 and MXCSR from the data area, an epilogue stores them there, so
 * the vector state is compared with the memory; status 77 on a host without them.
 * One case in ten unmasks some SIMD exceptions, so #XM and its RIP are compared;
 * --xm-mxcsr also compares the flags MXCSR holds at a #XM (softkvm's VEX forms
 * do not model PE beside an unmasked overflow/underflow, nor VDPPS's steps:
 * about 5 of 20,000 cases differ there, cpu/README.md).
 *
 * --mode32 makes one case in four 32-bit code run in compatibility mode (BCD,
 * PUSHA/POPA, INC/DEC 40h-4Fh, BOUND, ARPL, 82h, 16-bit LEA); the native
 * side far-jumps to Linux's __USER32_CS, which not every host allows (status
 * 77 where it does not). Both sides run with the segment registers of the
 * native child: DS, ES and SS user data, FS and GS null (a GS: access is
 * #GP(0) there, emu.c).
 */
#include <cpuid.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <Zydis/Zydis.h>

#include "emu.h"
#include "native.h"

#define MAX_REPORTS 20

static const char *const regnames[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					 "r8",	"r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

/* ---- comparing and reporting ---- */

static void disasm(const struct dt_case *tc, FILE *f)
{
	ZydisDecoder dec;
	ZydisFormatter fmt;

	if (tc->mode32)
		ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_COMPAT_32, ZYDIS_STACK_WIDTH_32);
	else
		ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisDecoderEnableMode(&dec, ZYDIS_DECODER_MODE_LZCNT, ZYAN_TRUE);
	ZydisDecoderEnableMode(&dec, ZYDIS_DECODER_MODE_TZCNT, ZYAN_TRUE);
	ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_INTEL);
	for (uint32_t k = 0; k <= tc->ninsns; k++) {
		uint32_t off = tc->off[k], end = k < tc->ninsns ? tc->off[k + 1] : tc->len;
		ZydisDecodedInstruction zi;
		ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
		char text[160] = "(invalid)";
		unsigned len = end - off;
		if (ZYAN_SUCCESS(
			ZydisDecoderDecodeFull(&dec, tc->code + off, tc->len - off, &zi, ops))) {
			ZydisFormatterFormatInstruction(&fmt, &zi, ops, zi.operand_count_visible,
							text, sizeof(text), tc->code_va + off,
							NULL);
			len = zi.length;
		}
		if (len > 15)
			len = 15;
		fprintf(f, "  %08" PRIx64 "  ", tc->code_va + off);
		for (unsigned b = 0; b < 12; b++) {
			if (b < len)
				fprintf(f, "%02x", tc->code[off + b]);
			else
				fprintf(f, "  ");
		}
		fprintf(f, "  %-44s undef-before=%02x\n", text, tc->undef[k]);
	}
}

static const char *vecname(int v)
{
	static const char *const n[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD",
					"#NM", "#DF", "?",   "#TS", "#NP", "#SS", "#GP",
					"#PF", "?",   "#MF", "#AC", "#MC", "#XM"};
	if (v == -1)
		return "exit";
	if (v == -2)
		return "no-exception";
	return v >= 0 && v < 20 ? n[v] : "?";
}

/* undefined arithmetic flags at the point the case stopped */
static unsigned undef_at(const struct dt_case *tc, int vector, uint64_t rip)
{
	if (vector == -1)
		return tc->undef[tc->ninsns];
	for (uint32_t k = 0; k <= tc->ninsns; k++)
		if (tc->code_va + tc->off[k] == rip)
			return tc->undef[k];
	return DTF_ALL;
}

struct cmp_opts {
	bool verbose;
	unsigned reports;
};

static bool dt_cmp_xm_mxcsr;

static bool compare(const struct dt_case *tc, const struct dt_result *nat, const uint8_t *ndata,
		    const struct emu_result *emu, const uint8_t *edata, uint64_t index,
		    struct cmp_opts *o)
{
	const struct dt_result *e = &emu->r;
	char why[256] = "";
	size_t wl = 0;
	unsigned undef = undef_at(tc, nat->vector, nat->rip);
	uint64_t fmask = (0x8d5 & ~dtf_to_rflags(undef)) | 0x400;
	bool bad = false;

#define WHY(...)                                                                                   \
	do {                                                                                       \
		if (wl < sizeof(why))                                                              \
			wl += (size_t)snprintf(why + wl, sizeof(why) - wl, __VA_ARGS__);           \
		bad = true;                                                                        \
	} while (0)
	if (nat->vector != e->vector)
		WHY(" exit(%s vs %s)", vecname(nat->vector), vecname(e->vector));
	else if (nat->vector >= 0 && (nat->rip != e->rip))
		WHY(" rip");
	if (nat->vector == e->vector &&
	    (nat->vector == 13 || nat->vector == 14 || nat->vector == 12) && nat->err != e->err)
		WHY(" error-code(%#x vs %#x)", nat->err, e->err);
	if (nat->vector == 14 && e->vector == 14 && nat->cr2 != e->cr2)
		WHY(" cr2");
	/* #XM: the exception flags the fault left in MXCSR (--xm-mxcsr: for VEX forms
	 * softkvm's PE beside an unmasked OE/UE is not exact, cpu/README.md) */
	if (dt_cmp_xm_mxcsr && nat->vector == 19 && e->vector == 19 && nat->mxcsr != e->mxcsr)
		WHY(" mxcsr(%#x vs %#x)", nat->mxcsr, e->mxcsr);
	for (int r = 0; r < (tc->mode32 ? 8 : 16); r++) {
		uint64_t m = tc->mode32 ? 0xffffffffull : ~0ull;
		if (!(tc->undef_regs & (1u << r)) && ((nat->out.gpr[r] ^ e->out.gpr[r]) & m))
			WHY(" %s", regnames[r]);
	}
	if ((nat->out.rflags ^ e->out.rflags) & fmask)
		WHY(" rflags(%#" PRIx64 ")", (nat->out.rflags ^ e->out.rflags) & fmask);
	if (memcmp(ndata, edata, DT_DATA_SIZE))
		WHY(" memory");
	/* generator bugs: the comparison above may be meaningless */
	if (tc->read_undef)
		WHY(" generator(insn %u reads undefined flags)", tc->read_undef - 1u);
	if (tc->must_fault && nat->vector == -1)
		WHY(" generator(the planned fault did not happen)");
#undef WHY
	if (!bad)
		return true;
	if (o->reports++ >= MAX_REPORTS)
		return false;
	printf("MISMATCH case %" PRIu64 "%s:%s\n", index, tc->mode32 ? " (32-bit code)" : "", why);
	if (!emu->halted)
		printf("  emulator exit: %s\n", emu_exit_name(emu->exit));
	disasm(tc, stdout);
	printf("  data mode %u seed %#" PRIx64 "\n", tc->data_mode, tc->data_seed);
	printf("  %-4s %-18s %-18s %-18s\n", "", "input", "native", "emulated");
	for (int r = 0; r < 16; r++)
		printf("  %-4s %016" PRIx64 "   %016" PRIx64 "   %016" PRIx64 "%s\n", regnames[r],
		       tc->in.gpr[r], nat->out.gpr[r], e->out.gpr[r],
		       nat->out.gpr[r] != e->out.gpr[r] ? "  <--" : "");
	printf("  %-4s %016" PRIx64 "   %016" PRIx64 "   %016" PRIx64 "  (compared %#" PRIx64 ")\n",
	       "rfl", tc->in.rflags, nat->out.rflags, e->out.rflags, fmask);
	printf("  exit %s/%s rip %#" PRIx64 "/%#" PRIx64 " err %#x/%#x cr2 %#" PRIx64 "/%#" PRIx64
	       "\n",
	       vecname(nat->vector), vecname(e->vector), nat->rip, e->rip, nat->err, e->err,
	       nat->cr2, e->cr2);
	{
		unsigned shown = 0;
		for (unsigned k = 0; k < DT_DATA_SIZE && shown < 16; k++) {
			if (ndata[k] != edata[k]) {
				printf("  mem %#" PRIx64 ": native %02x emulated %02x\n",
				       (uint64_t)(DT_DATA_VA + k), ndata[k], edata[k]);
				shown++;
			}
		}
	}
	fflush(stdout);
	return false;
}

static bool wait_child(struct dt_native *nv, uint32_t n)
{
	struct pollfd p = {.fd = nv->rfd, .events = POLLIN};
	uint32_t got;
	int r;

	do
		r = poll(&p, 1, 20000);
	while (r < 0 && errno == EINTR);
	if (r <= 0 || read(nv->rfd, &got, sizeof(got)) != sizeof(got) || got != n)
		return false;
	return true;
}

static void stop_child(struct dt_native *nv)
{
	kill(nv->pid, SIGKILL);
	waitpid(nv->pid, NULL, 0);
	close(nv->rfd);
	close(nv->wfd);
}

static uint64_t case_seed(uint64_t seed, uint64_t index)
{
	uint64_t z = seed * 0x9e3779b97f4a7c15ull + index * 0xbf58476d1ce4e5b9ull + 0x1234567;
	z = (z ^ (z >> 31)) * 0x94d049bb133111ebull;
	return z ^ (z >> 29);
}

int main(int argc, char **argv)
{
	uint64_t cases = 1000, seed = 1, start = 0, mismatches = 0, done = 0, insns = 0;
	uint64_t vec_count[33] = {0}; /* [32] = reached the end */
	struct cmp_opts o = {0};
	bool mode32 = false, progress = false;
	int vendor = -1; /* the host's */
	struct dt_native nv = {0};
	struct emu *em;
	static uint8_t edata[DT_DATA_SIZE];

	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--cases") && k + 1 < argc)
			cases = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--seed") && k + 1 < argc)
			seed = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--start") && k + 1 < argc)
			start = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--verbose"))
			o.verbose = true;
		else if (!strcmp(argv[k], "--mode32"))
			mode32 = true;
		else if (!strcmp(argv[k], "--progress"))
			progress = true;
		else if (!strcmp(argv[k], "--focus") && k + 1 < argc && !strcmp(argv[k + 1], "bmi"))
			dt_focus_bmi = true, k++;
		else if (!strcmp(argv[k], "--focus") && k + 1 < argc && !strcmp(argv[k + 1], "avx"))
			dt_focus_avx = true, k++;
		else if (!strcmp(argv[k], "--xm-mxcsr"))
			dt_cmp_xm_mxcsr = true;
		else if (!strcmp(argv[k], "--vendor") && k + 1 < argc &&
			 !strcmp(argv[k + 1], "intel"))
			vendor = 0, k++;
		else if (!strcmp(argv[k], "--vendor") && k + 1 < argc &&
			 !strcmp(argv[k + 1], "amd"))
			vendor = 1, k++;
		else {
			fprintf(
			    stderr,
			    "usage: %s --cases N --seed S [--start K] [--verbose] [--mode32] "
			    "[--progress] [--vendor intel|amd] [--focus bmi|avx] [--xm-mxcsr]\n",
			    argv[0]);
			return 2;
		}
	}
	{
		/* the generator compares the undefined flags known for the AMD host */
		unsigned a, b, c, d;
		__cpuid(0, a, b, c, d);
		(void)a;
		dt_host_amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;
		/* BMI1 BMI2 ADX: the generator leaves them out on a host without them */
		dt_host_bmi = false;
		if (__get_cpuid_max(0, NULL) >= 7) {
			__cpuid_count(7, 0, a, b, c, d);
			dt_host_bmi = (b & 0x80108) == 0x80108;
		}
		if (dt_focus_avx) {
			/* AVX FMA F16C OSXSAVE, XCR0 SSE|YMM, AVX2 */
			bool ok = false;
			__cpuid(1, a, b, c, d);
			if ((c & 0x38001000) == 0x38001000) {
				uint32_t lo, hi;
				__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
				__cpuid_count(7, 0, a, b, c, d);
				ok = (lo & 6) == 6 && (b & 0x20);
			}
			if (!ok || getenv("SOFTKVM_NO_AVX")) {
				printf("SKIP: --focus avx: the host lacks AVX, AVX2, FMA or F16C "
				       "(or SOFTKVM_NO_AVX)\n");
				return 77;
			}
		}
		if (dt_focus_bmi && !dt_host_bmi) {
			printf("SKIP: --focus bmi: the host lacks BMI1, BMI2 or ADX\n");
			return 77;
		}
	}
	if (dt_native_start(&nv) || !(em = emu_create(vendor))) {
		fprintf(stderr, "difftest: setup failed\n");
		return 2;
	}
	{
		char vd[160];
		emu_vendor_desc(vd, sizeof(vd), vendor);
		printf("%s\n", vd);
	}
	if (mode32 && !nv.sh->mode32_ok) {
		/* e.g. kernels without IA32 emulation, or hypervisors that do not run it */
		printf("SKIP: --mode32: this host cannot run 32-bit user code\n");
		return 77;
	}
	while (done < cases) {
		uint32_t n = cases - done < DT_BATCH ? (uint32_t)(cases - done) : DT_BATCH;
		for (uint32_t k = 0; k < n; k++)
			dt_generate(&nv.sh->cases[k], case_seed(seed, start + done + k), mode32);
		if (write(nv.wfd, &n, sizeof(n)) != sizeof(n) || !wait_child(&nv, n)) {
			/* the child died or hung: report the batch and start a new one */
			printf("MISMATCH cases %" PRIu64 "..%" PRIu64 ": native child failed\n",
			       start + done, start + done + n - 1);
			mismatches += n;
			done += n;
			stop_child(&nv);
			if (dt_native_start(&nv))
				return 2;
			continue;
		}
		for (uint32_t k = 0; k < n; k++) {
			struct emu_result er;
			const struct dt_case *tc = &nv.sh->cases[k];
			emu_run(em, tc, &er);
			insns += tc->ninsns;
			{
				int v = nv.sh->res[k].vector;
				vec_count[v < 0 || v > 31 ? 32 : v]++;
			}
			emu_data(em, edata);
			if (!compare(tc, &nv.sh->res[k], nv.sh->data[k], &er, edata,
				     start + done + k, &o))
				mismatches++;
			else if (o.verbose) {
				printf("case %" PRIu64 ": ok (%s)\n", start + done + k,
				       vecname(nv.sh->res[k].vector));
				disasm(tc, stdout);
			}
		}
		done += n;
		if (progress && done % 1000000 < DT_BATCH)
			fprintf(stderr, "difftest: %" PRIu64 " cases, %" PRIu64 " mismatches\n",
				done, mismatches);
	}
	{
		uint32_t z = 0;
		if (write(nv.wfd, &z, sizeof(z)) != sizeof(z))
			kill(nv.pid, SIGKILL);
		waitpid(nv.pid, NULL, 0);
	}
	emu_destroy(em);
	printf("generated instructions: %" PRIu64 "; cases ending normally: %" PRIu64, insns,
	       vec_count[32]);
	for (int v = 0; v < 32; v++)
		if (vec_count[v])
			printf(", %s: %" PRIu64, vecname(v), vec_count[v]);
	printf("\n");
	printf("cases: %" PRIu64 ", mismatches: %" PRIu64 "\n", cases, mismatches);
	return mismatches ? 1 : 0;
}
