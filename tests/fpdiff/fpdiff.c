/* SPDX-License-Identifier: MIT */
/*
 * fpdiff --cases N --seed S [--start K] [--verbose] [--coverage] [--templates]
 *
 * Runs N generated cases of x87, MMX, SSE-SSE4.2, FXSAVE and XSAVE
 * instructions natively (in a forked child) and on cpu/ (64-bit mode,
 * CPL 3), and compares the exit (completion or exception vector, error
 * code, CR2, RIP), the GPRs, the arithmetic flags and DF, the x87 state
 * (FCW, FSW, abridged tags, ST0-7, and FIP/FOP/FDP at a normal exit), MXCSR,
 * XMM0-15 and the data area. The last line printed is
 * "cases: N, mismatches: M".
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <Zydis/Zydis.h>

#include "emu.h"
#include "native.h"

static const char *const regnames[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					 "r8",	"r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

static void disasm(const struct fd_case *tc, FILE *f)
{
	ZydisDecoder dec;
	ZydisFormatter fmt;
	uint32_t off = 0;

	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_INTEL);
	while (off < tc->len) {
		ZydisDecodedInstruction zi;
		ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
		char text[160] = "(invalid)";
		unsigned len = 1;
		if (ZYAN_SUCCESS(
			ZydisDecoderDecodeFull(&dec, tc->code + off, tc->len - off, &zi, ops))) {
			ZydisFormatterFormatInstruction(&fmt, &zi, ops, zi.operand_count_visible,
							text, sizeof(text), FD_CODE_VA + off, NULL);
			len = zi.length;
		}
		fprintf(f, "  %08" PRIx64 "  ", (uint64_t)(FD_CODE_VA + off));
		for (unsigned b = 0; b < 13; b++) {
			if (b < len)
				fprintf(f, "%02x", tc->code[off + b]);
			else
				fprintf(f, "  ");
		}
		fprintf(f, "  %s\n", text);
		off += len;
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

static bool masked(const struct fd_case *tc, unsigned off)
{
	for (unsigned k = 0; k < tc->nmasks; k++)
		if (off >= tc->mask[k].off && off < (unsigned)tc->mask[k].off + tc->mask[k].len)
			return true;
	return false;
}

static void hex(const uint8_t *p, unsigned n, char *out)
{
	for (unsigned k = 0; k < n; k++)
		sprintf(out + 2 * k, "%02x", p[n - 1 - k]);
}

static void print_fx(const char *what, const uint8_t *in, const uint8_t *nat, const uint8_t *emu,
		     unsigned off, unsigned n)
{
	char a[40], b[40], c[40];
	hex(in + off, n, a);
	hex(nat + off, n, b);
	hex(emu + off, n, c);
	printf("  %-6s %-32s %-32s %-32s%s\n", what, a, b, c,
	       memcmp(nat + off, emu + off, n) ? "  <--" : "");
}

struct opts {
	bool verbose;
	unsigned reports, max_reports;
};

static bool compare(const struct fd_case *tc, const struct fd_result *nat, const uint8_t *ndata,
		    const struct fd_emu_result *emu, const uint8_t *edata, uint64_t index,
		    struct opts *o)
{
	const struct fd_result *e = &emu->r;
	const uint8_t *nf = nat->out.fx, *ef = e->out.fx;
	char why[512] = "";
	size_t wl = 0;
	bool bad = false;
	uint64_t fmask = 0x8d5 | 0x400;

#define WHY(...)                                                                                   \
	do {                                                                                       \
		if (wl < sizeof(why))                                                              \
			wl += (size_t)snprintf(why + wl, sizeof(why) - wl, __VA_ARGS__);           \
		bad = true;                                                                        \
	} while (0)
	if (nat->vector != e->vector)
		WHY(" exit(%s vs %s)", vecname(nat->vector), vecname(e->vector));
	else if (nat->vector >= 0 && nat->rip != e->rip)
		WHY(" rip");
	if (nat->vector == e->vector && (nat->vector == 13 || nat->vector == 14) &&
	    nat->err != e->err)
		WHY(" error-code(%#x vs %#x)", nat->err, e->err);
	if (nat->vector == 14 && e->vector == 14 && nat->cr2 != e->cr2)
		WHY(" cr2");
	for (int r = 0; r < 16; r++)
		if (nat->out.gpr[r] != e->out.gpr[r])
			WHY(" %s", regnames[r]);
	if ((nat->out.rflags ^ e->out.rflags) & fmask)
		WHY(" rflags(%#" PRIx64 ")", (nat->out.rflags ^ e->out.rflags) & fmask);
	if (memcmp(nf, ef, 2))
		WHY(" fcw");
	if (memcmp(nf + 2, ef + 2, 2))
		WHY(" fsw");
	if (nf[4] != ef[4])
		WHY(" ftw");
	if (memcmp(nf + 24, ef + 24, 4))
		WHY(" mxcsr");
	for (int k = 0; k < 8; k++)
		if (memcmp(nf + 32 + 16 * k, ef + 32 + 16 * k, 10))
			WHY(" st%d", k);
	for (int k = 0; k < 16; k++)
		if (memcmp(nf + 160 + 16 * k, ef + 160 + 16 * k, 16))
			WHY(" xmm%d", k);
	if (nat->env_valid && e->env_valid && !tc->no_ptrs) {
		if (nat->fip != e->fip)
			WHY(" fip");
		if (nat->fdp != e->fdp)
			WHY(" fdp");
		if (nat->fop != e->fop)
			WHY(" fop");
	}
	for (unsigned k = 0; k < FD_DATA_SIZE; k++) {
		if (ndata[k] != edata[k] && !masked(tc, k)) {
			WHY(" memory");
			break;
		}
	}
#undef WHY
	if (!bad)
		return true;
	if (o->reports++ >= o->max_reports)
		return false;
	printf("MISMATCH case %" PRIu64 ":%s\n", index, why);
	if (!emu->halted)
		printf("  emulator exit: %s\n", fd_emu_exit_name(emu->exit));
	disasm(tc, stdout);
	printf("  exit %s/%s rip %#" PRIx64 "/%#" PRIx64 " err %#x/%#x cr2 %#" PRIx64 "/%#" PRIx64
	       "\n",
	       vecname(nat->vector), vecname(e->vector), nat->rip, e->rip, nat->err, e->err,
	       nat->cr2, e->cr2);
	printf("  %-6s %-32s %-32s %-32s\n", "", "input", "native", "emulated");
	for (int r = 0; r < 16; r++)
		if (nat->out.gpr[r] != e->out.gpr[r] || r == 0 || r == 1 || r == 2)
			printf("  %-6s %016" PRIx64 "                 %016" PRIx64
			       "                 %016" PRIx64 "%s\n",
			       regnames[r], tc->in.gpr[r], nat->out.gpr[r], e->out.gpr[r],
			       nat->out.gpr[r] != e->out.gpr[r] ? "  <--" : "");
	printf("  %-6s %016" PRIx64 "                 %016" PRIx64 "                 %016" PRIx64
	       "\n",
	       "rfl", tc->in.rflags, nat->out.rflags, e->out.rflags);
	print_fx("fcw", tc->in.fx, nf, ef, 0, 2);
	print_fx("fsw", tc->in.fx, nf, ef, 2, 2);
	print_fx("ftw", tc->in.fx, nf, ef, 4, 1);
	print_fx("mxcsr", tc->in.fx, nf, ef, 24, 4);
	for (int k = 0; k < 8; k++) {
		char nm[16];
		snprintf(nm, sizeof(nm), "st%d", k);
		print_fx(nm, tc->in.fx, nf, ef, 32 + 16 * k, 10);
	}
	for (int k = 0; k < 16; k++) {
		char nm[16];
		snprintf(nm, sizeof(nm), "xmm%d", k);
		if (memcmp(nf + 160 + 16 * k, ef + 160 + 16 * k, 16) || o->verbose)
			print_fx(nm, tc->in.fx, nf, ef, 160 + 16 * k, 16);
	}
	if (nat->env_valid && e->env_valid)
		printf("  fip %#x/%#x fdp %#x/%#x fop %#x/%#x\n", nat->fip, e->fip, nat->fdp,
		       e->fdp, nat->fop, e->fop);
	{
		unsigned shown = 0;
		for (unsigned k = 0; k < FD_DATA_SIZE && shown < 24; k++) {
			if (ndata[k] != edata[k] && !masked(tc, k)) {
				printf("  mem %#" PRIx64 ": native %02x emulated %02x\n",
				       (uint64_t)(FD_DATA_VA + k), ndata[k], edata[k]);
				shown++;
			}
		}
	}
	fflush(stdout);
	return false;
}

static bool wait_child(struct fd_native *nv, uint32_t n)
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

/*
 * A mismatch is run natively once more, alone: the host kernel may have
 * switched the child out between the case and the stub that saves its
 * state, and AMD's XSAVE keeps the x87 pointers only with an exception
 * pending. A real difference shows again (and is reported then).
 */
static bool retry_native(struct fd_native *nv, uint32_t k, const struct fd_emu_result *er,
			 const uint8_t *edata, uint64_t index, struct opts *o)
{
	uint32_t one = 1;

	if (k)
		nv->sh->cases[0] = nv->sh->cases[k];
	if (write(nv->wfd, &one, sizeof(one)) != sizeof(one) || !wait_child(nv, 1))
		return false;
	return compare(&nv->sh->cases[0], &nv->sh->res[0], nv->sh->data[0], er, edata, index, o);
}

static uint64_t case_seed(uint64_t seed, uint64_t index)
{
	uint64_t z = seed * 0x9e3779b97f4a7c15ull + index * 0xbf58476d1ce4e5b9ull + 0x7654321;
	z = (z ^ (z >> 31)) * 0x94d049bb133111ebull;
	return z ^ (z >> 29);
}

int main(int argc, char **argv)
{
	uint64_t cases = 1000, seed = 1, start = 0, mismatches = 0, done = 0, insns = 0,
		 skipped = 0;
	uint64_t vec_count[33] = {0};
	bool coverage = false, list = false;
	struct opts o = {.max_reports = 20}, q = {.max_reports = 0};
	struct fd_native nv = {0};
	struct emu *em;
	static uint8_t edata[FD_DATA_SIZE];
	static uint64_t tcount[4096];

	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--cases") && k + 1 < argc)
			cases = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--seed") && k + 1 < argc)
			seed = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--start") && k + 1 < argc)
			start = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--reports") && k + 1 < argc)
			o.max_reports = (unsigned)strtoul(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--verbose"))
			o.verbose = true;
		else if (!strcmp(argv[k], "--coverage"))
			coverage = true;
		else if (!strcmp(argv[k], "--templates"))
			list = true;
		else {
			fprintf(stderr,
				"usage: %s --cases N --seed S [--start K] [--reports N] "
				"[--verbose] [--coverage] [--templates]\n",
				argv[0]);
			return 2;
		}
	}
	fd_gen_init();
	if (list) {
		for (unsigned k = 0; k < fd_template_count(); k++)
			printf("%s\n", fd_template_name(k));
		printf("templates: %u\n", fd_template_count());
		return 0;
	}
	if (fd_native_start(&nv) || !(em = fd_emu_create())) {
		fprintf(stderr, "fpdiff: setup failed\n");
		return 2;
	}
	{
		char vd[160];
		fd_emu_vendor_desc(vd, sizeof(vd));
		printf("%s\n", vd);
	}
	while (done < cases) {
		uint32_t n = cases - done < FD_BATCH ? (uint32_t)(cases - done) : FD_BATCH;
		for (uint32_t k = 0; k < n; k++)
			fd_generate(&nv.sh->cases[k], case_seed(seed, start + done + k));
		if (write(nv.wfd, &n, sizeof(n)) != sizeof(n) || !wait_child(&nv, n)) {
			printf("MISMATCH cases %" PRIu64 "..%" PRIu64 ": native child failed\n",
			       start + done, start + done + n - 1);
			mismatches += n;
			done += n;
			fd_native_stop(&nv);
			if (fd_native_start(&nv))
				return 2;
			continue;
		}
		for (uint32_t k = 0; k < n; k++) {
			struct fd_emu_result er;
			const struct fd_case *tc = &nv.sh->cases[k];
			int v = nv.sh->res[k].vector;
			uint32_t nmx;
			/* the host took MXCSR bit 17 (AMD's misaligned SSE mode) from
			 * LDMXCSR/FXRSTOR/XRSTOR; softkvm's MXCSR_MASK is Intel's */
			memcpy(&nmx, nv.sh->res[k].out.fx + 24, 4);
			if (nmx & ~0xffffu) {
				skipped++;
				continue;
			}
			fd_emu_run(em, tc, &er);
			insns += tc->ninsns;
			for (uint32_t j = 0; j < tc->ninsns; j++)
				if (tc->tmpl[j] >= 0 && tc->tmpl[j] < 4096)
					tcount[tc->tmpl[j]]++;
			vec_count[v < 0 || v > 31 ? 32 : v]++;
			fd_emu_data(em, edata);
			if (!compare(tc, &nv.sh->res[k], nv.sh->data[k], &er, edata,
				     start + done + k, &q) &&
			    !retry_native(&nv, k, &er, edata, start + done + k, &o))
				mismatches++;
			else if (o.verbose) {
				printf("case %" PRIu64 ": ok (%s)\n", start + done + k, vecname(v));
				disasm(tc, stdout);
			}
		}
		done += n;
	}
	{
		uint32_t z = 0;
		if (write(nv.wfd, &z, sizeof(z)) != sizeof(z))
			kill(nv.pid, SIGKILL);
		fd_native_stop(&nv);
	}
	fd_emu_destroy(em);
	if (coverage) {
		unsigned never = 0;
		for (unsigned k = 0; k < fd_template_count(); k++) {
			if (!tcount[k]) {
				printf("never generated: %s\n", fd_template_name(k));
				never++;
			}
		}
		printf("templates: %u, never generated: %u\n", fd_template_count(), never);
	}
	printf("instruction forms: %u; generated instructions: %" PRIu64
	       "; cases ending normally: %" PRIu64,
	       fd_template_count(), insns, vec_count[32]);
	for (int v = 0; v < 32; v++)
		if (vec_count[v])
			printf(", %s: %" PRIu64, vecname(v), vec_count[v]);
	if (skipped)
		printf(", skipped (host MXCSR.MM): %" PRIu64, skipped);
	printf("\n");
	printf("cases: %" PRIu64 ", mismatches: %" PRIu64 "\n", cases, mismatches);
	return mismatches ? 1 : 0;
}
