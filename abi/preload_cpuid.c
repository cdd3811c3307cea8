/* SPDX-License-Identifier: MIT */
/*
 * The host CPUID of a program run by `softkvm exec`, as a KVM host shows it.
 *
 * KVM clients look at the processor they run on before they open /dev/kvm:
 * kvmtool refuses to start unless its own CPUID instruction reports VMX
 * (CPUID.1:ECX[5], GenuineIntel) or SVM (CPUID.80000001:ECX[2],
 * AuthenticAMD/HygonGenuine). Under softkvm the machine need not have either,
 * so the preload library answers the program's own CPUID instructions with
 * the host's values plus that bit. Two ways, chosen at start-up
 * (SOFTKVM_HOST_CPUID=auto, the default):
 *
 * - fault: where the processor has CPUID faulting (Intel; Linux's
 *   arch_prctl(ARCH_SET_CPUID, 0)), every CPUID of the process raises #GP,
 *   delivered as SIGSEGV (SI_KERNEL) with RIP at "0f a2". The flag is per
 *   thread, copied by clone() and cleared by execve() (arch/x86/kernel/
 *   process.c: arch_dup_task_struct, arch_setup_new_exec): threads the
 *   program starts later inherit it, threads that already exist (started by
 *   an earlier library's constructor) are asked to set it through a SIGSEGV
 *   queued to them (SI_QUEUE, our cookie), and after an exec the library's
 *   constructor runs again. The answer is read with faulting briefly off in
 *   the answering thread.
 * - patch: without CPUID faulting (AMD; most VMs), each CPUID instruction in
 *   the main executable's code is rewritten to UD2 (0f 0b, the same length;
 *   only the second byte changes), found by a linear sweep with Zydis of its
 *   executable sections (or PT_LOAD segments without section headers); UD2
 *   at one of those addresses raises SIGILL (ILL_ILLOPN) and is answered the
 *   same way. Only when the sweep is clean - every byte decodes, and every
 *   function symbol and the entry point start an instruction; otherwise the
 *   binary is left alone and one line on stderr says so. CPUID in shared
 *   libraries (glibc's own start-up probe included) is not seen.
 *
 * SOFTKVM_HOST_CPUID=fault or =patch forces one way (fault says on stderr
 * when the host has no faulting), =off turns both off.
 *
 * The program's own signal handling is kept: sigaction(), signal(),
 * bsd_signal() and sysv_signal() for the trapping signal record the
 * program's action, which our handler chains to for every other SIGSEGV or
 * SIGILL (SA_SIGINFO or not, SA_RESETHAND honoured; SIG_DFL and SIG_IGN as
 * the kernel treats a fault) and which sigaction() reports back. The
 * trapping signal is never really blocked: sigprocmask(), pthread_sigmask()
 * and the sa_mask of every handler leave it out (a blocked synchronous
 * SIGSEGV or SIGILL would kill the process); what the program asked is kept
 * per thread and reported back, and a real fault in a thread that blocked
 * the signal still takes the default action. Not seen: the raw
 * rt_sigaction/rt_sigprocmask system calls, and glibc's sigset(),
 * sigignore() and siginterrupt(), which call the kernel directly.
 */

#include <Zydis/Zydis.h>
#include <asm/prctl.h>
#include <cpuid.h>
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static int (*real_sigprocmask)(int, const sigset_t *, sigset_t *);
static int (*real_pthread_sigmask)(int, const sigset_t *, sigset_t *);
static sighandler_t (*real_signal)(int, sighandler_t);
static sighandler_t (*real_sysv_signal)(int, sighandler_t);
static pthread_once_t hc_resolve_once = PTHREAD_ONCE_INIT;

static void hc_resolve(void)
{
	real_sigaction = dlsym(RTLD_NEXT, "sigaction");
	real_sigprocmask = dlsym(RTLD_NEXT, "sigprocmask");
	real_pthread_sigmask = dlsym(RTLD_NEXT, "pthread_sigmask");
	real_signal = dlsym(RTLD_NEXT, "signal");
	real_sysv_signal = dlsym(RTLD_NEXT, "sysv_signal");
}

#define HC_RESOLVE() pthread_once(&hc_resolve_once, hc_resolve)

/* the trapping signal: SIGSEGV (fault), SIGILL (patch), or 0 */
static int hc_sig;
static bool hc_intel, hc_amd;
static bool hc_verbose; /* SOFTKVM_HOST_CPUID_VERBOSE: say which way was taken */
/* patched CPUID addresses, sorted */
static uintptr_t *hc_sites;
static size_t hc_nsites;

/* the program's own action for hc_sig; read in the handler under a seqlock */
static struct sigaction hc_client;
static atomic_uint hc_seq;
static atomic_flag hc_wlock = ATOMIC_FLAG_INIT;
/* this thread's program asked for hc_sig to be blocked */
static __thread bool hc_blocked __attribute__((tls_model("initial-exec")));
/* fault: threads that existed at start-up and have turned faulting on */
static atomic_int hc_threads_done;

static long arch_prctl2(int code, unsigned long arg)
{
	return syscall(SYS_arch_prctl, code, arg);
}

/* The host's own CPUID (with faulting off for the moment in this thread). */
static void host_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	bool fault = hc_sig == SIGSEGV;

	if (fault)
		arch_prctl2(ARCH_SET_CPUID, 1);
	__cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
	if (fault)
		arch_prctl2(ARCH_SET_CPUID, 0);
}

/* What a KVM host's CPUID says: the host's, with VMX or SVM. */
static void kvm_host_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	host_cpuid(leaf, sub, r);
	if (hc_intel && leaf == 1)
		r[2] |= 1u << 5; /* VMX */
	if (hc_amd && leaf == 0x80000001)
		r[2] |= 1u << 2; /* SVM */
}

static void client_read(struct sigaction *out)
{
	for (;;) {
		unsigned s = atomic_load_explicit(&hc_seq, memory_order_acquire);
		if (s & 1)
			continue;
		memcpy(out, &hc_client, sizeof(*out));
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&hc_seq, memory_order_relaxed) == s)
			return;
	}
}

/* callers hold hc_wlock with every signal blocked */
static void client_write(const struct sigaction *in)
{
	atomic_fetch_add_explicit(&hc_seq, 1, memory_order_acq_rel);
	memcpy(&hc_client, in, sizeof(*in));
	atomic_fetch_add_explicit(&hc_seq, 1, memory_order_release);
}

static void handler(int sig, siginfo_t *si, void *ucv);

/* Our handler for hc_sig, with the program's SA_ONSTACK, SA_RESTART and mask. */
static void install_ours(const struct sigaction *client)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (client->sa_handler != SIG_DFL && client->sa_handler != SIG_IGN) {
		sa.sa_flags |= client->sa_flags & (SA_ONSTACK | SA_RESTART);
		sa.sa_mask = client->sa_mask;
		sigdelset(&sa.sa_mask, hc_sig);
	}
	real_sigaction(hc_sig, &sa, NULL);
}

static bool is_site(uintptr_t ip)
{
	size_t lo = 0, hi = hc_nsites;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (hc_sites[mid] == ip)
			return true;
		if (hc_sites[mid] < ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool is_ours(int sig, const siginfo_t *si, uintptr_t ip)
{
	if (sig == SIGSEGV)
		/* #GP from CPUID faulting: the instruction was fetched, RIP is readable */
		return si->si_code == SI_KERNEL && ((const uint8_t *)ip)[0] == 0x0f &&
		       ((const uint8_t *)ip)[1] == 0xa2;
	return si->si_code == ILL_ILLOPN && is_site(ip);
}

/* The signal was not ours: what the kernel would have done with the program's action. */
static void chain(int sig, siginfo_t *si, void *ucv)
{
	struct sigaction ca;
	bool fault = si->si_code > 0; /* raised by the kernel for this instruction */

	client_read(&ca);
	if (fault && (hc_blocked || ca.sa_handler == SIG_IGN || ca.sa_handler == SIG_DFL)) {
		/* a blocked or ignored fault takes the default action
		 * (force_sig_info): on return the instruction faults again */
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		real_sigaction(sig, &dfl, NULL);
		return;
	}
	if (ca.sa_handler == SIG_IGN)
		return;
	if (ca.sa_handler == SIG_DFL) {
		/* a sent SIGSEGV/SIGILL: the default action, now */
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		real_sigaction(sig, &dfl, NULL);
		syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
		return;
	}
	if (ca.sa_flags & SA_RESETHAND) {
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		sigset_t all, old;
		sigfillset(&all);
		real_pthread_sigmask(SIG_SETMASK, &all, &old);
		while (atomic_flag_test_and_set_explicit(&hc_wlock, memory_order_acquire))
			;
		client_write(&dfl);
		install_ours(&dfl);
		atomic_flag_clear_explicit(&hc_wlock, memory_order_release);
		real_pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (ca.sa_flags & SA_SIGINFO)
		ca.sa_sigaction(sig, si, ucv);
	else
		ca.sa_handler(sig);
}

/* fault: the cookie of the SIGSEGV that asks a thread to turn faulting on */
static const int hc_cookie;

static void handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	int saved = errno;

	if (is_ours(sig, si, (uintptr_t)g[REG_RIP])) {
		uint32_t r[4];
		kvm_host_cpuid((uint32_t)g[REG_RAX], (uint32_t)g[REG_RCX], r);
		g[REG_RAX] = r[0];
		g[REG_RBX] = r[1];
		g[REG_RCX] = r[2];
		g[REG_RDX] = r[3];
		g[REG_RIP] += 2;
	} else if (sig == SIGSEGV && si->si_code == SI_QUEUE && si->si_pid == getpid() &&
		   si->si_value.sival_ptr == &hc_cookie) {
		arch_prctl2(ARCH_SET_CPUID, 0);
		atomic_fetch_add(&hc_threads_done, 1);
	} else {
		chain(sig, si, ucv);
	}
	errno = saved;
}

/* ---- the program's signal calls ---- */

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	HC_RESOLVE();
	if (!hc_sig || sig != hc_sig) {
		if (act && hc_sig && sigismember(&act->sa_mask, hc_sig) == 1) {
			struct sigaction a = *act;
			sigdelset(&a.sa_mask, hc_sig);
			return real_sigaction(sig, &a, old);
		}
		return real_sigaction(sig, act, old);
	}
	sigset_t all, mask;
	sigfillset(&all);
	real_pthread_sigmask(SIG_SETMASK, &all, &mask);
	while (atomic_flag_test_and_set_explicit(&hc_wlock, memory_order_acquire))
		;
	if (old)
		*old = hc_client;
	if (act) {
		client_write(act);
		install_ours(act);
	}
	atomic_flag_clear_explicit(&hc_wlock, memory_order_release);
	real_pthread_sigmask(SIG_SETMASK, &mask, NULL);
	return 0;
}

EXPORT int __sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return sigaction(sig, act, old);
}

static sighandler_t set_handler(int sig, sighandler_t h, int flags, bool mask_self)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (mask_self)
		sigaddset(&sa.sa_mask, sig);
	if (sigaction(sig, &sa, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

/* glibc's signal(): BSD semantics */
EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	HC_RESOLVE();
	if (!hc_sig || sig != hc_sig)
		return real_signal(sig, h);
	return set_handler(sig, h, SA_RESTART, true);
}

EXPORT sighandler_t bsd_signal(int sig, sighandler_t h)
{
	return signal(sig, h);
}

/* System V semantics: one shot, not blocked in the handler */
EXPORT sighandler_t sysv_signal(int sig, sighandler_t h)
{
	HC_RESOLVE();
	if (!hc_sig || sig != hc_sig)
		return real_sysv_signal(sig, h);
	return set_handler(sig, h, SA_RESETHAND | SA_NODEFER, false);
}

EXPORT sighandler_t __sysv_signal(int sig, sighandler_t h)
{
	return sysv_signal(sig, h);
}

/* The mask calls, hc_sig left out of the kernel's mask and kept per thread. */
static int mask_call(int (*real)(int, const sigset_t *, sigset_t *), int how, const sigset_t *set,
		     sigset_t *old)
{
	if (!hc_sig)
		return real(how, set, old);
	bool was = hc_blocked, now = was;
	sigset_t s;
	const sigset_t *p = set;

	if (set) {
		bool member = sigismember(set, hc_sig) == 1;
		if (how == SIG_SETMASK)
			now = member;
		else if (how == SIG_BLOCK && member)
			now = true;
		else if (how == SIG_UNBLOCK && member)
			now = false;
		if (member) {
			s = *set;
			sigdelset(&s, hc_sig);
			p = &s;
		}
	}
	int r = real(how, p, old);
	if (r == 0) {
		if (set)
			hc_blocked = now;
		if (old && was)
			sigaddset(old, hc_sig);
	}
	return r;
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	HC_RESOLVE();
	return mask_call(real_sigprocmask, how, set, old);
}

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	HC_RESOLVE();
	return mask_call(real_pthread_sigmask, how, set, old);
}

/* ---- start-up ---- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n = snprintf(buf, sizeof(buf), "softkvm exec: ");

	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		return;
}

/* Take hc_sig over: the program's current action becomes the one we chain to. */
static void take_signal(int sig)
{
	struct sigaction cur;

	real_sigaction(sig, NULL, &cur);
	hc_client = cur;
	hc_sig = sig;
	install_ours(&cur);
}

static void give_signal_back(void)
{
	real_sigaction(hc_sig, &hc_client, NULL);
	hc_sig = 0;
}

/* fault: ask the threads that already exist to turn faulting on, and wait a little */
static void fault_other_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	pid_t self = (pid_t)syscall(SYS_gettid);
	int asked = 0;
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid <= 0 || tid == self)
			continue;
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		si.si_signo = SIGSEGV;
		si.si_code = SI_QUEUE;
		si.si_pid = getpid();
		si.si_uid = getuid();
		si.si_value.sival_ptr = (void *)&hc_cookie;
		if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGSEGV, &si) == 0)
			asked++;
	}
	closedir(d);
	for (int k = 0; k < 100 && atomic_load(&hc_threads_done) < asked; k++) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

static bool try_fault(void)
{
	take_signal(SIGSEGV);
	if (arch_prctl2(ARCH_SET_CPUID, 0) != 0) {
		give_signal_back();
		return false;
	}
	fault_other_threads();
	return true;
}

/* ---- patch: the main executable's CPUID instructions ---- */

struct sweep {
	uintptr_t *sites;
	size_t n, cap;
	uintptr_t *funcs; /* function entries, sorted */
	size_t nfuncs;
	uintptr_t bad; /* the first address that broke the sweep, or 0 */
	const char *why;
};

static int cmp_uptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

static bool add_site(struct sweep *s, uintptr_t a)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		uintptr_t *p = realloc(s->sites, cap * sizeof(*p));
		if (!p)
			return false;
		s->sites = p;
		s->cap = cap;
	}
	s->sites[s->n++] = a;
	return true;
}

/* Decode [start, start + len) instruction by instruction. */
static bool sweep_range(struct sweep *s, const ZydisDecoder *dec, uintptr_t start, size_t len)
{
	const uint8_t *p = (const uint8_t *)start;
	size_t f = 0;
	ZydisDecodedInstruction in;

	while (f < s->nfuncs && s->funcs[f] < start)
		f++;
	if (!memmem(p, len, "\x0f\xa2", 2))
		return true; /* no CPUID can be there: nothing to find */
	for (size_t off = 0; off < len;) {
		if (!ZYAN_SUCCESS(
			ZydisDecoderDecodeInstruction(dec, NULL, p + off, len - off, &in))) {
			s->bad = start + off;
			s->why = "bytes that do not decode";
			return false;
		}
		/* a function must start on an instruction of the sweep */
		for (; f < s->nfuncs && s->funcs[f] < start + off + in.length; f++) {
			if (s->funcs[f] != start + off) {
				s->bad = s->funcs[f];
				s->why = "a function that starts inside an instruction";
				return false;
			}
		}
		if (in.mnemonic == ZYDIS_MNEMONIC_CPUID && in.length == 2 && p[off] == 0x0f &&
		    p[off + 1] == 0xa2 && !add_site(s, start + off)) {
			s->why = "out of memory";
			return false;
		}
		off += in.length;
	}
	return true;
}

struct exe {
	uintptr_t bias;
	const ElfW(Phdr) * phdr;
	int phnum;
	bool found;
};

static int find_main(struct dl_phdr_info *info, size_t size, void *data)
{
	struct exe *x = data;
	(void)size;
	x->bias = info->dlpi_addr;
	x->phdr = info->dlpi_phdr;
	x->phnum = info->dlpi_phnum;
	x->found = true;
	return 1; /* the first object is the main program */
}

/* read exactly len bytes at off; false on a short file */
static bool pread_all(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		done += (size_t)r;
	}
	return true;
}

/* The function symbols (.symtab, else .dynsym) of the file, as run-time addresses. */
static void read_funcs(struct sweep *s, int fd, const ElfW(Shdr) * sh, unsigned shnum,
		       uintptr_t bias)
{
	const ElfW(Shdr) *tab = NULL;

	for (unsigned k = 0; k < shnum; k++)
		if (sh[k].sh_type == SHT_SYMTAB)
			tab = &sh[k];
	for (unsigned k = 0; !tab && k < shnum; k++)
		if (sh[k].sh_type == SHT_DYNSYM)
			tab = &sh[k];
	if (!tab || tab->sh_entsize != sizeof(ElfW(Sym)) || tab->sh_size > (64u << 20))
		return;
	size_t n = tab->sh_size / sizeof(ElfW(Sym));
	ElfW(Sym) *sym = malloc(tab->sh_size ? tab->sh_size : 1);
	s->funcs = malloc((n ? n : 1) * sizeof(uintptr_t));
	if (!sym || !s->funcs || !pread_all(fd, sym, tab->sh_size, (off_t)tab->sh_offset)) {
		free(sym);
		free(s->funcs);
		s->funcs = NULL;
		return;
	}
	for (size_t k = 0; k < n; k++)
		if (ELF64_ST_TYPE(sym[k].st_info) == STT_FUNC && sym[k].st_shndx != SHN_UNDEF &&
		    sym[k].st_value)
			s->funcs[s->nfuncs++] = bias + sym[k].st_value;
	free(sym);
	qsort(s->funcs, s->nfuncs, sizeof(uintptr_t), cmp_uptr);
}

/*
 * Sweep the main executable's code: its executable sections when it has
 * section headers, else its executable PT_LOAD segments. False (with s->why)
 * when the sweep is not clean.
 */
static bool sweep_exe(struct sweep *s, const struct exe *x)
{
	ZydisDecoder dec;
	ElfW(Ehdr) eh;
	ElfW(Shdr) *sh = NULL;
	bool ok = true, any = false;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisDecoderEnableMode(&dec, ZYDIS_DECODER_MODE_MINIMAL, ZYAN_TRUE);
	if (fd >= 0 && pread_all(fd, &eh, sizeof(eh), 0) && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
	    eh.e_shnum && eh.e_shentsize == sizeof(ElfW(Shdr)) && eh.e_shnum < 65000) {
		sh = malloc(eh.e_shnum * sizeof(*sh));
		if (sh && !pread_all(fd, sh, eh.e_shnum * sizeof(*sh), (off_t)eh.e_shoff)) {
			free(sh);
			sh = NULL;
		}
	}
	if (sh) {
		read_funcs(s, fd, sh, eh.e_shnum, x->bias);
		/* the entry point is a function too */
		uintptr_t *f = realloc(s->funcs, (s->nfuncs + 1) * sizeof(uintptr_t));
		if (f) {
			s->funcs = f;
			s->funcs[s->nfuncs++] = x->bias + eh.e_entry;
			qsort(s->funcs, s->nfuncs, sizeof(uintptr_t), cmp_uptr);
		}
		for (unsigned k = 0; ok && k < eh.e_shnum; k++) {
			const ElfW(Shdr) *c = &sh[k];
			if (c->sh_type != SHT_PROGBITS || !(c->sh_flags & SHF_ALLOC) ||
			    !(c->sh_flags & SHF_EXECINSTR) || !c->sh_size)
				continue;
			/* the section must lie in an executable segment as mapped */
			bool mapped = false;
			for (int p = 0; p < x->phnum; p++) {
				const ElfW(Phdr) *ph = &x->phdr[p];
				if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
				    c->sh_addr >= ph->p_vaddr &&
				    c->sh_addr + c->sh_size <= ph->p_vaddr + ph->p_filesz)
					mapped = true;
			}
			if (!mapped) {
				s->why = "a code section outside its executable segments";
				s->bad = x->bias + c->sh_addr;
				ok = false;
				break;
			}
			any = true;
			ok = sweep_range(s, &dec, x->bias + c->sh_addr, c->sh_size);
		}
		free(sh);
	} else {
		for (int p = 0; ok && p < x->phnum; p++) {
			const ElfW(Phdr) *ph = &x->phdr[p];
			if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || !ph->p_filesz)
				continue;
			any = true;
			ok = sweep_range(s, &dec, x->bias + ph->p_vaddr, ph->p_filesz);
		}
	}
	if (fd >= 0)
		close(fd);
	if (ok && !any) {
		s->why = "no code found";
		ok = false;
	}
	return ok;
}

/* Rewrite each site's 0f a2 to 0f 0b: one byte, in place. */
static bool patch_sites(const struct exe *x, const uintptr_t *sites, size_t n)
{
	long pg = sysconf(_SC_PAGESIZE);

	for (size_t k = 0; k < n; k++) {
		uintptr_t a = sites[k] + 1, page = a & ~(uintptr_t)(pg - 1);
		int prot = PROT_READ | PROT_EXEC;
		for (int p = 0; p < x->phnum; p++) {
			const ElfW(Phdr) *ph = &x->phdr[p];
			if (ph->p_type == PT_LOAD && a >= x->bias + ph->p_vaddr &&
			    a < x->bias + ph->p_vaddr + ph->p_memsz)
				prot = (ph->p_flags & PF_R ? PROT_READ : 0) |
				       (ph->p_flags & PF_W ? PROT_WRITE : 0) |
				       (ph->p_flags & PF_X ? PROT_EXEC : 0);
		}
		if (mprotect((void *)page, (size_t)pg, prot | PROT_WRITE) != 0)
			return false;
		*(volatile uint8_t *)a = 0x0b;
		mprotect((void *)page, (size_t)pg, prot);
	}
	return true;
}

static void try_patch(void)
{
	struct exe x = {0};
	struct sweep s = {0};
	char exe[256];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = 0;
	dl_iterate_phdr(find_main, &x);
	if (!x.found) {
		say("'%s': the main program was not found: its CPUID shows the host's", exe);
		return;
	}
	if (!sweep_exe(&s, &x)) {
		if (s.bad)
			say("'%s': CPUID left alone (the host's, without VMX/SVM): no clean "
			    "disassembly (%s at %#lx)",
			    exe, s.why, (unsigned long)(s.bad - x.bias));
		else
			say("'%s': CPUID left alone (the host's, without VMX/SVM): %s", exe, s.why);
		free(s.sites);
		free(s.funcs);
		return;
	}
	free(s.funcs);
	if (!s.n) {
		if (hc_verbose)
			say("'%s': no CPUID instruction in its code", exe);
		free(s.sites);
		return;
	}
	hc_sites = s.sites;
	hc_nsites = s.n;
	take_signal(SIGILL);
	if (hc_verbose)
		say("'%s': %zu CPUID instructions rewritten to UD2, answered as on a KVM host", exe,
		    s.n);
	if (!patch_sites(&x, s.sites, s.n))
		say("'%s': cannot write its code (%s): some of its CPUID instructions show the "
		    "host's",
		    exe, strerror(errno));
}

/* Called from the preload library's constructor, before the program runs. */
void preload_host_cpuid_init(void)
{
	const char *m = getenv("SOFTKVM_HOST_CPUID");
	uint32_t r[4];

	HC_RESOLVE();
	hc_verbose = getenv("SOFTKVM_HOST_CPUID_VERBOSE") != NULL;
	if (m && !strcmp(m, "off"))
		return;
	__cpuid(0, r[0], r[1], r[2], r[3]);
	hc_intel =
	    !memcmp(&r[1], "Genu", 4) && !memcmp(&r[3], "ineI", 4) && !memcmp(&r[2], "ntel", 4);
	hc_amd =
	    (!memcmp(&r[1], "Auth", 4) && !memcmp(&r[3], "enti", 4) && !memcmp(&r[2], "cAMD", 4)) ||
	    (!memcmp(&r[1], "Hygo", 4) && !memcmp(&r[3], "nGen", 4) && !memcmp(&r[2], "uine", 4));
	if (!hc_intel && !hc_amd)
		return; /* no KVM host reports VMX or SVM for another vendor */
	if (m && !strcmp(m, "patch")) {
		try_patch();
		return;
	}
	if (try_fault()) {
		if (hc_verbose)
			say("CPUID faulting: the program's CPUID answered as on a KVM host");
		return;
	}
	if (m && !strcmp(m, "fault")) {
		say("SOFTKVM_HOST_CPUID=fault: this processor has no CPUID faulting: the "
		    "program's CPUID shows the host's");
		return;
	}
	if (m && *m && strcmp(m, "auto"))
		say("SOFTKVM_HOST_CPUID='%s': not auto, fault, patch or off; auto is used", m);
	try_patch();
}
