/* SPDX-License-Identifier: MIT */
/*
 * The native side of the differential test: a forked child that maps code
 * and data at the fixed addresses of difftest.h and runs cases on the host
 * processor. A trampoline loads all sixteen GPRs and RFLAGS and jumps to the
 * case; the case ends at EXIT, where a stub stores them back. A fault
 * becomes a signal whose ucontext gives the precise state, the vector
 * (REG_TRAPNO), the error code and CR2.
 *
 * The child is a separate process because the cases run with arbitrary
 * register values; the signal handler reaches its jump buffer through a
 * static variable (the only mutable global, and only in the child).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "native.h"

/* control block at DT_CTL_VA; keep the offsets in sync with the assembly */
struct ctl {
	uint64_t in[16];      /* 0 */
	uint64_t in_flags;    /* 128 */
	uint64_t out[16];     /* 136 */
	uint64_t out_flags;   /* 264 */
	uint64_t host_rsp;    /* 272 */
	uint64_t entry;	      /* 280 */
	uint64_t scratch[16]; /* 288..416: a small stack */
	uint32_t far_off;     /* 416: m16:32 far pointer into 32-bit code */
	uint16_t far_sel;     /* 420 */
	uint16_t pad;
};
_Static_assert(sizeof(struct ctl) == 424, "ctl layout");

#define CTL    "0x10010000"
#define STR(x) #x

/* GPR order in the blocks: RAX RCX RDX RBX RSP RBP RSI RDI R8..R15 */
__asm__(
    ".text\n"
    ".globl dt_native_run\n"
    ".type dt_native_run,@function\n"
    "dt_native_run:\n"
    "	push %rbx\n	push %rbp\n	push %r12\n	push %r13\n	push %r14\n	push %r15\n"
    "	movq %rsp, " CTL "+272\n"
    "	movq $" CTL "+128, %rsp\n"
    "	popfq\n"
    "	movq " CTL "+0, %rax\n"
    "	movq " CTL "+8, %rcx\n"
    "	movq " CTL "+16, %rdx\n"
    "	movq " CTL "+24, %rbx\n"
    "	movq " CTL "+40, %rbp\n"
    "	movq " CTL "+48, %rsi\n"
    "	movq " CTL "+56, %rdi\n"
    "	movq " CTL "+64, %r8\n"
    "	movq " CTL "+72, %r9\n"
    "	movq " CTL "+80, %r10\n"
    "	movq " CTL "+88, %r11\n"
    "	movq " CTL "+96, %r12\n"
    "	movq " CTL "+104, %r13\n"
    "	movq " CTL "+112, %r14\n"
    "	movq " CTL "+120, %r15\n"
    "	movq " CTL "+32, %rsp\n"
    "	jmpq *" CTL "+280\n"
    ".size dt_native_run, .-dt_native_run\n"
    /* the same into 32-bit code (compatibility mode, Linux's __USER32_CS) */
    ".globl dt_native_run32\n"
    ".type dt_native_run32,@function\n"
    "dt_native_run32:\n"
    "	push %rbx\n	push %rbp\n	push %r12\n	push %r13\n	push %r14\n	push %r15\n"
    "	movq %rsp, " CTL "+272\n"
    "	movl $0x2b, %eax\n" /* __USER_DS: 32-bit code uses DS and ES */
    "	movl %eax, %ds\n"
    "	movl %eax, %es\n"
    "	movq $" CTL "+128, %rsp\n"
    "	popfq\n"
    "	movq " CTL "+0, %rax\n"
    "	movq " CTL "+8, %rcx\n"
    "	movq " CTL "+16, %rdx\n"
    "	movq " CTL "+24, %rbx\n"
    "	movq " CTL "+40, %rbp\n"
    "	movq " CTL "+48, %rsi\n"
    "	movq " CTL "+56, %rdi\n"
    "	movq " CTL "+32, %rsp\n"
    "	ljmpl *" CTL "+416\n"
    ".size dt_native_run32, .-dt_native_run32\n"
    /* copied to DT_EXIT_VA: only absolute addresses, so it runs anywhere */
    ".globl dt_exit_stub\n"
    ".globl dt_exit_stub_end\n"
    "dt_exit_stub:\n"
    "	movq %rax, " CTL "+136\n"
    "	movq %rcx, " CTL "+144\n"
    "	movq %rdx, " CTL "+152\n"
    "	movq %rbx, " CTL "+160\n"
    "	movq %rsp, " CTL "+168\n"
    "	movq %rbp, " CTL "+176\n"
    "	movq %rsi, " CTL "+184\n"
    "	movq %rdi, " CTL "+192\n"
    "	movq %r8, " CTL "+200\n"
    "	movq %r9, " CTL "+208\n"
    "	movq %r10, " CTL "+216\n"
    "	movq %r11, " CTL "+224\n"
    "	movq %r12, " CTL "+232\n"
    "	movq %r13, " CTL "+240\n"
    "	movq %r14, " CTL "+248\n"
    "	movq %r15, " CTL "+256\n"
    "	movq $" CTL "+272, %rsp\n"
    "	pushfq\n" /* -> out_flags */
    "	movq $" CTL "+416, %rsp\n"
    "	pushq $0x202\n"
    "	popfq\n" /* clean DF/AC/NT for the C code */
    "	movq " CTL "+272, %rsp\n"
    "	pop %r15\n	pop %r14\n	pop %r13\n	pop %r12\n	pop %rbp\n	pop %rbx\n"
    "	ret\n"
    "dt_exit_stub_end:\n");

void dt_native_run(void);
void dt_native_run32(void);
extern const uint8_t dt_exit_stub[], dt_exit_stub_end[];

static sigjmp_buf *child_jb;
static struct dt_result *child_res;

static void on_fault(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *r = uc->uc_mcontext.gregs;
	struct dt_result *res = child_res;
	static const int map[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
				    REG_RSI, REG_RDI, REG_R8,  REG_R9,	REG_R10, REG_R11,
				    REG_R12, REG_R13, REG_R14, REG_R15};
	(void)sig, (void)si;
	for (int k = 0; k < 16; k++)
		res->out.gpr[k] = (uint64_t)r[map[k]];
	res->out.rflags = (uint64_t)r[REG_EFL];
	res->vector = (int32_t)r[REG_TRAPNO];
	res->err = (uint32_t)r[REG_ERR];
	res->rip = (uint64_t)r[REG_RIP];
	res->cr2 = (uint64_t)r[REG_CR2];
	res->mxcsr = uc->uc_mcontext.fpregs ? uc->uc_mcontext.fpregs->mxcsr : 0;
	siglongjmp(*child_jb, 1);
}

static void *map_fixed(uint64_t va, size_t len, int prot)
{
	void *p =
	    mmap((void *)va, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED || p != (void *)va) {
		fprintf(stderr, "difftest child: cannot map %#llx: %s\n", (unsigned long long)va,
			strerror(errno));
		_exit(2);
	}
	return p;
}

static bool read_full(int fd, void *buf, size_t n)
{
	while (n) {
		ssize_t r = read(fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		buf = (char *)buf + r;
		n -= (size_t)r;
	}
	return true;
}

static __attribute__((noinline)) void run_one(struct ctl *ctl, uint8_t *code, uint8_t *data,
					      const struct dt_case *tc, struct dt_result *res,
					      uint8_t *data_out)
{
	sigjmp_buf jb;

	memcpy(code + (tc->code_va - DT_CODE_VA), tc->code, tc->len);
	dt_fill_data(data, tc->data_seed, tc->data_mode);
	memcpy(ctl->in, tc->in.gpr, sizeof(ctl->in));
	ctl->in_flags = tc->in.rflags;
	ctl->entry = tc->code_va;
	ctl->far_off = (uint32_t)tc->code_va;
	ctl->far_sel = 0x23; /* __USER32_CS */
	child_res = res;
	child_jb = &jb;
	res->vector = -1;
	res->err = 0;
	res->rip = DT_EXIT_VA;
	res->cr2 = 0;
	if (sigsetjmp(jb, 1) == 0) {
		if (tc->mode32)
			dt_native_run32();
		else
			dt_native_run();
		memcpy(res->out.gpr, ctl->out, sizeof(res->out.gpr));
		res->out.rflags = ctl->out_flags;
	}
	memcpy(data_out, data, DT_DATA_SIZE);
}

static void child_main(int rfd, int wfd, struct dt_shared *sh)
{
	static uint8_t altstack[65536];
	struct ctl *ctl;
	uint8_t *code, *data;
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
	struct sigaction sa;

	code = map_fixed(DT_CODE_VA, 0x10000, PROT_READ | PROT_WRITE | PROT_EXEC);
	ctl = map_fixed(DT_CTL_VA, 0x1000, PROT_READ | PROT_WRITE);
	data = map_fixed(DT_DATA_VA, DT_DATA_SIZE, PROT_READ | PROT_WRITE);
	memcpy(code + (DT_EXIT_VA - DT_CODE_VA), dt_exit_stub,
	       (size_t)(dt_exit_stub_end - dt_exit_stub));
	{
		/* 32-bit cases end here: ljmp $0x33 (__USER_CS), $DT_EXIT_VA */
		uint8_t *p = code + (DT_EXIT32_VA - DT_CODE_VA);
		uint32_t off = (uint32_t)DT_EXIT_VA;
		p[0] = 0xea;
		memcpy(p + 1, &off, 4);
		p[5] = 0x33;
		p[6] = 0;
	}
	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGTRAP, &sa, NULL);

	/* can the host run 32-bit user code? (not under every hypervisor/kernel) */
	{
		struct dt_case probe;
		memset(&probe, 0, sizeof(probe));
		probe.mode32 = 1;
		probe.code_va = DT_CODE_VA;
		probe.code[0] = 0xe9;
		probe.len = 5;
		{
			int32_t d = (int32_t)(DT_EXIT32_VA - (DT_CODE_VA + 5));
			memcpy(probe.code + 1, &d, 4);
		}
		probe.in.gpr[4] = DT_DATA_VA + 0x2000;
		probe.in.rflags = 0x202;
		run_one(ctl, code, data, &probe, &sh->res[0], sh->data[0]);
		sh->mode32_ok = sh->res[0].vector == -1;
	}
	if (write(wfd, &sh->mode32_ok, sizeof(sh->mode32_ok)) != sizeof(sh->mode32_ok))
		_exit(3);

	for (;;) {
		uint32_t n;
		if (!read_full(rfd, &n, sizeof(n)) || n == 0 || n > DT_BATCH)
			_exit(0);
		for (uint32_t k = 0; k < n; k++)
			run_one(ctl, code, data, &sh->cases[k], &sh->res[k], sh->data[k]);
		if (write(wfd, &n, sizeof(n)) != sizeof(n))
			_exit(3);
	}
}

int dt_native_start(struct dt_native *nv)
{
	int to[2], from[2];
	pid_t pid;

	if (!nv->sh) {
		nv->sh = mmap(NULL, sizeof(struct dt_shared), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (nv->sh == MAP_FAILED) {
			nv->sh = NULL;
			return -1;
		}
	}
	if (pipe(to) || pipe(from))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(to[1]);
		close(from[0]);
		child_main(to[0], from[1], nv->sh);
		_exit(0);
	}
	close(to[0]);
	close(from[1]);
	nv->pid = pid;
	nv->wfd = to[1];
	nv->rfd = from[0];
	{
		uint32_t ready;
		if (!read_full(nv->rfd, &ready, sizeof(ready)))
			return -1;
	}
	return 0;
}
