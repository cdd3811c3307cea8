/* SPDX-License-Identifier: MIT */
/*
 * A KVM client that checks the processor itself before it uses /dev/kvm, as
 * kvmtool's kvm__arch_cpu_supports_vm() does: a CPUID instruction in the
 * program's own code, vendor from leaf 0, then CPUID.1:ECX.VMX (Intel) or
 * CPUID.80000001:ECX.SVM (AMD). Under `softkvm exec` the preload library
 * makes those instructions answer as on a KVM host (abi/preload_cpuid.c:
 * CPUID faulting where the processor has it, else the program's CPUID
 * instructions rewritten to UD2), so the check passes; then the program
 * opens /dev/kvm and runs a tiny guest. It also checks that its own signal
 * handling is untouched:
 *  - its SIGSEGV and SIGILL handlers get its own faults (a PROT_NONE page,
 *    a UD2 of its own), with the right siginfo, and may resume;
 *  - sigaction() reports its own handler back; signal() returns it;
 *  - CPUID still answers with SIGILL and SIGSEGV blocked by the program, in
 *    a handler whose sa_mask blocks everything, in a thread started later,
 *    in a forked child and after an execve;
 *  - SIG_DFL: a real fault still kills a child with that signal.
 * Run only under softkvm exec (it is not a test of libsoftkvm in-process).
 * SOFTKVM_HOST_CPUID selects the way; with "fault" on a processor without
 * CPUID faulting the test is skipped (77).
 */
#include <asm/prctl.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>

#include "kvmtest.h"

struct regs {
	uint32_t eax, ebx, ecx, edx;
};

/* the CPUID instruction in this program's own text, as kvmtool's host_cpuid() */
static inline void host_cpuid(struct regs *r)
{
	__asm__ volatile("cpuid"
			 : "=a"(r->eax), "=b"(r->ebx), "=c"(r->ecx), "=d"(r->edx)
			 : "0"(r->eax), "2"(r->ecx));
}

/* kvmtool x86/kvm.c kvm__arch_cpu_supports_vm(), in substance */
static bool cpu_supports_vm(void)
{
	struct regs r = {.eax = 0};
	uint32_t base;
	int bit;

	host_cpuid(&r);
	if (!memcmp(&r.ebx, "Genu", 4)) {
		base = 0;
		bit = 5; /* VMX */
	} else if (!memcmp(&r.ebx, "Auth", 4) || !memcmp(&r.ebx, "Hygo", 4)) {
		base = 0x80000000;
		bit = 2; /* SVM */
	} else {
		return false;
	}
	r = (struct regs){.eax = base};
	host_cpuid(&r);
	if (r.eax < base + 1)
		return false;
	r = (struct regs){.eax = base + 1};
	host_cpuid(&r);
	return (r.ecx >> bit) & 1;
}

static void run_tiny_guest(void)
{
	struct kt_vm t;
	/* real mode at 0x1000: mov al, 0x42; out 0x10, al; hlt */
	static const uint8_t code[] = {0xb0, 0x42, 0xe6, 0x10, 0xf4};

	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	memcpy(t.mem + 0x1000, code, sizeof(code));
	kt_real_mode(&t, 0x1000);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_IO);
	KT_EQ(t.run->io.port, 0x10);
	KT_EQ(*((uint8_t *)t.run + t.run->io.data_offset), 0x42);
	kt_vm_destroy(&t);
}

/* ---- the program's own handlers ---- */

static volatile sig_atomic_t segv_seen, ill_seen, usr_ok;
static void *volatile segv_addr;
static uint8_t *guard;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == SIGSEGV && si->si_code == SEGV_ACCERR) {
		segv_seen++;
		segv_addr = si->si_addr;
		mprotect(guard, 4096, PROT_READ | PROT_WRITE); /* resume: the write is retried */
	}
}

static void on_ill(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	if (sig == SIGILL && si->si_code == ILL_ILLOPN) {
		ill_seen++;
		uc->uc_mcontext.gregs[REG_RIP] += 2; /* past our UD2 */
	}
}

static void on_usr1(int sig)
{
	(void)sig;
	usr_ok = cpu_supports_vm(); /* with every signal blocked by sa_mask */
}

static void *thread_check(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)cpu_supports_vm();
}

static void check_handlers(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	KT_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
	sa.sa_sigaction = on_ill;
	sigaddset(&sa.sa_mask, SIGUSR2);
	KT_EQ(sigaction(SIGILL, &sa, NULL), 0);

	/* sigaction() reports the program's own handlers, flags and mask */
	KT_EQ(sigaction(SIGILL, NULL, &old), 0);
	KT_CHECK(old.sa_sigaction == on_ill && (old.sa_flags & SA_SIGINFO) &&
		 sigismember(&old.sa_mask, SIGUSR2) == 1);
	KT_EQ(sigaction(SIGSEGV, NULL, &old), 0);
	KT_CHECK(old.sa_sigaction == on_segv);

	/* its own faults reach its own handlers */
	guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_CHECK(guard != MAP_FAILED);
	*(volatile uint8_t *)&guard[100] = 7;
	KT_EQ(segv_seen, 1);
	KT_CHECK(segv_addr == guard + 100);
	KT_EQ(guard[100], 7);
	__asm__ volatile("ud2");
	KT_EQ(ill_seen, 1);

	/* and CPUID still answers as on a KVM host */
	KT_CHECK(cpu_supports_vm());

	/* with SIGILL and SIGSEGV blocked by the program */
	sigset_t b, cur;
	sigemptyset(&b);
	sigaddset(&b, SIGILL);
	sigaddset(&b, SIGSEGV);
	KT_EQ(sigprocmask(SIG_BLOCK, &b, NULL), 0);
	KT_CHECK(cpu_supports_vm());
	KT_EQ(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
	KT_CHECK(sigismember(&cur, SIGILL) == 1 && sigismember(&cur, SIGSEGV) == 1);
	KT_EQ(sigprocmask(SIG_UNBLOCK, &b, &cur), 0);
	KT_CHECK(sigismember(&cur, SIGILL) == 1 && sigismember(&cur, SIGSEGV) == 1);

	/* in a handler whose sa_mask blocks everything */
	struct sigaction su;
	memset(&su, 0, sizeof(su));
	su.sa_handler = on_usr1;
	sigfillset(&su.sa_mask);
	KT_EQ(sigaction(SIGUSR1, &su, NULL), 0);
	KT_EQ(raise(SIGUSR1), 0);
	KT_EQ(usr_ok, 1);

	/* in a thread started now, with everything blocked, as QEMU starts its threads */
	sigset_t all, saved;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	pthread_t th;
	void *res = NULL;
	KT_EQ(pthread_create(&th, NULL, thread_check, NULL), 0);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	KT_EQ(pthread_join(th, &res), 0);
	KT_EQ((uintptr_t)res, 1);

	/* signal() gives the program's previous handler back */
	sighandler_t prev = signal(SIGILL, SIG_DFL);
	KT_CHECK((void *)prev == (void *)on_ill);
	KT_EQ(sigaction(SIGILL, NULL, &old), 0);
	KT_CHECK(old.sa_handler == SIG_DFL);
	KT_CHECK(cpu_supports_vm());
	prev = signal(SIGSEGV, SIG_DFL);
	KT_CHECK((void *)prev == (void *)on_segv);
}

/* A child whose fault must end it by that signal (SIG_DFL) */
static void check_default_kills(int sig)
{
	mprotect(guard, 4096, PROT_NONE);
	pid_t p = fork();
	if (p == 0) {
		signal(sig, SIG_DFL);
		if (sig == SIGILL)
			__asm__ volatile("ud2");
		else
			*(volatile uint8_t *)guard = 1; /* PROT_NONE again */
		_exit(0);
	}
	int st = 0;
	KT_EQ(waitpid(p, &st, 0), p);
	KT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == sig);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--exec-child"))
		return cpu_supports_vm() ? 0 : 1;

	const char *mode = getenv("SOFTKVM_HOST_CPUID");
	if (mode && !strcmp(mode, "fault") && syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1) != 0 &&
	    errno == ENODEV) {
		printf("SKIP: this processor has no CPUID faulting\n");
		return 77;
	}
	/* the way the preload library took: faulting is on in this thread, or not */
	long enabled = syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0);
	printf("CPUID faulting is %s in this thread\n", enabled == 0 ? "on" : "off");

	/* kvmtool: "Your CPU does not support hardware virtualization" otherwise */
	KT_CHECK(cpu_supports_vm());
	run_tiny_guest();
	check_handlers();
	check_default_kills(SIGILL);
	check_default_kills(SIGSEGV);

	/* a forked child, and a program exec'd by it */
	pid_t p = fork();
	if (p == 0)
		_exit(cpu_supports_vm() ? 0 : 1);
	int st = 0;
	KT_EQ(waitpid(p, &st, 0), p);
	KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	p = fork();
	if (p == 0) {
		execl("/proc/self/exe", argv[0], "--exec-child", (char *)NULL);
		_exit(2);
	}
	KT_EQ(waitpid(p, &st, 0), p);
	KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return kt_done("test_hostcpuid");
}
