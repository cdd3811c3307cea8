/* SPDX-License-Identifier: MIT */
/*
 * `softkvm run`: boot a multiboot kernel on the test platform.
 *
 *   softkvm run --kernel FILE [--append ARGS] [--initrd FILE[,FILE...]]
 *               [--cpus N] [--mem SIZE] [--accel soft|kvm|auto]
 *               [--irqchip kernel|off] [--quirk NAME[,NAME...]]
 *               [--qmp unix:PATH[,server][,wait=off]]
 *
 * One line on stderr says which KVM runs the guest: softkvm unless
 * --accel asks for the host's.
 *
 * Exit status: what the guest wrote to isa-debug-exit ((v << 1) | 1, odd);
 * 0 when it powered off (or halted, without an irqchip); 2 for a bad command
 * line or kernel; 4 for a triple fault; 6 for an internal error or failed
 * entry.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "console.h"
#include "loader_linux.h"
#include "migration/migration.h"
#include "qmp/qmp.h"
#include "softkvm/softkvm.h"
#include "vmm.h"

static void run_usage(FILE *f)
{
	fputs("usage: softkvm run --kernel FILE [OPTIONS]\n"
	      "\n"
	      "Boot Linux (a bzImage or an uncompressed vmlinux) or a multiboot (v1)\n"
	      "kernel, as qemu-system-x86_64 -kernel does. The serial console is this\n"
	      "terminal: C-a x quits, C-a h lists the other keys.\n"
	      "\n"
	      "  --kernel FILE        the kernel\n"
	      "  --append ARGS        kernel command line (after the file name)\n"
	      "  --initrd FILE[,...]  Linux: the initrd; multiboot: modules ('FILE ARGS'\n"
	      "                       gives a module string)\n"
	      "  --cpus N             number of vCPUs (default 1)\n"
	      "  --mem SIZE           guest RAM, with suffix K, M, G or T (default 128M;\n"
	      "                       a plain number is MiB)\n"
	      "  --accel soft|kvm|auto  softkvm's own processor (default), the host's\n"
	      "                       /dev/kvm, or the host's if /dev/kvm can be opened\n"
	      "                       (else softkvm); a line on stderr says which runs\n"
	      "  --irqchip kernel|off the in-kernel LAPICs, IOAPIC, PIC and PIT (default),\n"
	      "                       or none (only vCPU 0 runs; HLT ends the guest)\n"
	      "  --quirk NAME[,...]   softkvm opt-in quirks: lapic-periodic-restart\n"
	      "  --overcommit cpu-pm=on|off  MONITOR/MWAIT run in the guest and are\n"
	      "                       advertised in its CPUID (KVM_X86_DISABLE_EXITS_MWAIT;\n"
	      "                       default off: KVM makes them NOPs)\n"
	      "  --reboot restart|exit  when the guest resets the machine: boot again\n"
	      "                       (default), or exit with status 0 (QEMU's -no-reboot)\n"
	      "  --qmp unix:PATH[,server][,wait=off]  a QMP control socket (one client at\n"
	      "                       a time; ',server' without ',wait=off' waits for it)\n"
	      "  --restore FILE       resume the VM a QMP snapshot-save wrote (instead of\n"
	      "                       --kernel)\n"
	      "  --incoming unix:PATH|tcp:HOST:PORT  wait for a migration (QMP migrate)\n"
	      "                       from another softkvm run and resume the VM it sends\n"
	      "  --drive file=PATH[,format=raw][,readonly=on|off][,cache=none|writeback|\n"
	      "          writethrough][,serial=S]\n"
	      "                       a virtio-blk disk on a raw image (may be repeated)\n"
	      "  --rng                a virtio-rng device fed by the host's getrandom()\n"
	      "  --console serial|virtio  the terminal's input goes to COM1 (default) or to\n"
	      "                       a virtio console (Linux's hvc0); both write to it\n"
	      "  --net user[,hostfwd=[tcp|udp]:[HADDR]:HPORT-[GADDR]:GPORT]...\n"
	      "                       a virtio-net card on a user-mode network (libslirp:\n"
	      "                       10.0.2.0/24, gateway 10.0.2.2, DHCP from 10.0.2.15);\n"
	      "                       hostfwd forwards a host port to a guest port\n"
	      "  --net tap=IFNAME     a virtio-net card on the host's tap device IFNAME\n"
	      "                       (as root a missing one is created)\n"
	      "  --vsock cid=N,path=SOCK  a virtio-vsock device, the guest's CID N (>= 3);\n"
	      "                       Firecracker's hybrid vsock: a guest connection to\n"
	      "                       CID 2 port P reaches the Unix socket SOCK_P, and a\n"
	      "                       host program connecting to SOCK and writing\n"
	      "                       'CONNECT P\\n' reaches guest port P (answer 'OK L\\n')\n"
	      "\n"
	      "Exit status: isa-debug-exit's (value << 1) | 1; 0 when the guest powers off\n"
	      "(or halts with --irqchip off); 2 bad usage or kernel; 4 triple fault;\n"
	      "6 internal error.\n"
	      "\n"
	      "Environment: SOFTKVM_ENGINE=jit (default: guest code translated to host\n"
	      "code) or interp (the interpreter, the reference) for softkvm's processor.\n",
	      f);
}

/* SIZE: a number with an optional K/M/G/T suffix (binary units); no suffix means MiB. */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	unsigned shift = 20;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'K':
			shift = 10;
			break;
		case 'M':
			shift = 20;
			break;
		case 'G':
			shift = 30;
			break;
		case 'T':
			shift = 40;
			break;
		case 'B':
			shift = 0;
			break;
		default:
			return -EINVAL;
		}
		end++;
		if (shift && (!strcmp(end, "iB") || !strcmp(end, "B")))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	if (v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_uint(const char *s, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 0xffffffffUL)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* --quirk NAME[,NAME...]: softkvm's opt-in deviations (KVM_CAP_SOFTKVM_QUIRKS) */
static int parse_quirks(const char *val, uint64_t *quirks)
{
	static const struct {
		const char *name;
		uint64_t bit;
	} known[] = {
	    {"lapic-periodic-restart", SOFTKVM_QUIRK_LAPIC_PERIODIC_RESTART},
	};
	const char *p = val;

	while (*p) {
		size_t len = strcspn(p, ",");
		size_t k;

		for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (strlen(known[k].name) == len && !strncmp(p, known[k].name, len))
				break;
		if (k == sizeof(known) / sizeof(known[0])) {
			fprintf(stderr,
				"softkvm run: --quirk '%s': unknown quirk '%.*s' (known: "
				"lapic-periodic-restart)\n",
				val, (int)len, p);
			return -EINVAL;
		}
		*quirks |= known[k].bit;
		p += len;
		if (*p == ',')
			p++;
	}
	if (!*quirks) {
		fprintf(stderr, "softkvm run: --quirk '%s': no quirk named\n", val);
		return -EINVAL;
	}
	return 0;
}

/* Parse the options; 0, 1 for --help, or 2 after printing one line. */
static int parse_args(int argc, char **argv, struct vmm_config *c)
{
	static const char *const with_arg[] = {"--kernel",    "--append", "--initrd",  "--cpus",
					       "--mem",	      "--accel",  "--irqchip", "--quirk",
					       "--reboot",    "--qmp",	  "--restore", "--incoming",
					       "--overcommit"};

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = NULL, *eq;
		char name[32];
		unsigned k;

		if (!strcmp(opt, "--help") || !strcmp(opt, "-h"))
			return 1;
		if (strncmp(opt, "--", 2) != 0) {
			fprintf(stderr, "softkvm run: unexpected argument '%s'\n", opt);
			return 2;
		}
		if (!strcmp(opt, "--rng")) {
			c->virtio.rng = true;
			continue;
		}
		/* --opt=value or --opt value */
		eq = strchr(opt, '=');
		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - opt) : (int)strlen(opt), opt);
		for (k = 0; k < sizeof(with_arg) / sizeof(with_arg[0]); k++)
			if (!strcmp(name, with_arg[k]))
				break;
		if (k == sizeof(with_arg) / sizeof(with_arg[0]) && !virtio_option_known(name)) {
			fprintf(stderr,
				"softkvm run: unknown option '%s' (try 'softkvm run --help')\n",
				opt);
			return 2;
		}
		if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			fprintf(stderr, "softkvm run: option '%s' needs an argument\n", name);
			return 2;
		}

		if (!strcmp(name, "--kernel")) {
			c->kernel = val;
		} else if (!strcmp(name, "--append")) {
			c->append = val;
		} else if (!strcmp(name, "--initrd")) {
			c->initrd = val;
		} else if (!strcmp(name, "--cpus")) {
			c->cpus_set = true;
			if (parse_uint(val, &c->cpus) || c->cpus < 1 || c->cpus > VMM_MAX_CPUS) {
				fprintf(stderr,
					"softkvm run: --cpus '%s': must be a number from 1 to %d\n",
					val, VMM_MAX_CPUS);
				return 2;
			}
		} else if (!strcmp(name, "--mem")) {
			c->mem_set = true;
			if (parse_size(val, &c->mem) || c->mem < VMM_MEM_MIN ||
			    c->mem > VMM_MEM_MAX || (c->mem & 0xfff)) {
				fprintf(stderr,
					"softkvm run: --mem '%s': must be a size from 2M to 1T in "
					"whole "
					"4 KiB pages (e.g. 128M, 1G)\n",
					val);
				return 2;
			}
		} else if (!strcmp(name, "--irqchip")) {
			if (!strcmp(val, "kernel")) {
				c->irqchip = VMM_IRQCHIP_KERNEL;
			} else if (!strcmp(val, "off")) {
				c->irqchip = VMM_IRQCHIP_OFF;
			} else {
				fprintf(stderr,
					"softkvm run: --irqchip '%s': must be 'kernel' or 'off'\n",
					val);
				return 2;
			}
		} else if (!strcmp(name, "--reboot")) {
			if (!strcmp(val, "restart")) {
				c->reboot = VMM_REBOOT_RESTART;
			} else if (!strcmp(val, "exit")) {
				c->reboot = VMM_REBOOT_EXIT;
			} else {
				fprintf(stderr,
					"softkvm run: --reboot '%s': must be 'restart' or 'exit'\n",
					val);
				return 2;
			}
		} else if (!strcmp(name, "--qmp")) {
			c->qmp = val;
		} else if (!strcmp(name, "--restore")) {
			c->restore = val;
		} else if (!strcmp(name, "--incoming")) {
			c->incoming = val;
		} else if (virtio_option_known(name)) {
			char err[512];
			if (virtio_parse_option(&c->virtio, name, val, err, sizeof(err))) {
				fprintf(stderr, "softkvm run: %s\n", err);
				return 2;
			}
		} else if (!strcmp(name, "--quirk")) {
			if (parse_quirks(val, &c->quirks))
				return 2;
		} else if (!strcmp(name, "--overcommit")) {
			if (!strcmp(val, "cpu-pm=on")) {
				c->cpu_pm = true;
			} else if (!strcmp(val, "cpu-pm=off")) {
				c->cpu_pm = false;
			} else {
				fprintf(stderr,
					"softkvm run: --overcommit '%s': expected cpu-pm=on or "
					"cpu-pm=off\n",
					val);
				return 2;
			}
		} else if (!strcmp(name, "--accel")) {
			if (!strcmp(val, "soft")) {
				c->accel = KVMDEV_SOFT;
			} else if (!strcmp(val, "kvm")) {
				c->accel = KVMDEV_KVM;
			} else if (!strcmp(val, "auto")) {
				c->accel = KVMDEV_AUTO;
			} else {
				fprintf(stderr,
					"softkvm run: --accel '%s': must be 'soft', 'kvm' or "
					"'auto'\n",
					val);
				return 2;
			}
		}
	}
	if (c->restore && c->incoming) {
		fprintf(stderr, "softkvm run: --restore and --incoming exclude each other\n");
		return 2;
	}
	if (c->restore || c->incoming) {
		const char *o = c->restore ? "--restore" : "--incoming";
		if (c->kernel || c->initrd) {
			fprintf(stderr,
				"softkvm run: %s: the machine comes from the snapshot; --kernel "
				"and --initrd cannot be given with it\n",
				o);
			return 2;
		}
		return 0;
	}
	if (!c->kernel) {
		fprintf(stderr,
			"softkvm run: --kernel FILE is required (try 'softkvm run --help')\n");
		return 2;
	}
	return 0;
}

static int boot(struct vmm *vm, const struct vmm_config *cfg, bool first, struct qmp *q);

static int incoming_fd = -1; /* --incoming: the source's connection */

/* --restore, --incoming: the machine's configuration comes from the stream */
static int take_config(struct vmm_config *c)
{
	struct vmm_config s = *c;
	char err[600];
	int r;

	if (c->restore)
		r = mig_probe_file(c->restore, &s, err, sizeof(err));
	else
		r = incoming_fd = mig_incoming_accept(c->incoming, &s, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "softkvm run: %s\n", err);
		return -1;
	}
	if ((c->mem_set && c->mem != s.mem) || (c->cpus_set && c->cpus != s.cpus)) {
		fprintf(stderr,
			"softkvm run: %s %s: the machine has %llu MiB and %u vCPUs, not the --mem "
			"or --cpus given\n",
			c->restore ? "--restore" : "--incoming",
			c->restore ? c->restore : c->incoming, (unsigned long long)(s.mem >> 20),
			s.cpus);
		return -1;
	}
	*c = s;
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct vmm_config c = {.mem = 128ull << 20, .cpus = 1, .accel = KVMDEV_SOFT, .append = ""};
	struct vmm *vm;
	int r, status;
	bool first = true;
	struct qmp *q = NULL;

	r = parse_args(argc, argv, &c);
	if (r == 1) {
		run_usage(stdout);
		return 0;
	}
	if (r)
		return VMM_EXIT_USAGE;

	/* guest output to a closed pipe is dropped, not a reason to die */
	signal(SIGPIPE, SIG_IGN);
	vm = malloc(sizeof(*vm));
	if (!vm) {
		fprintf(stderr, "softkvm run: out of memory\n");
		return VMM_EXIT_USAGE;
	}
	if (c.qmp) {
		char err[512];
		q = qmp_open(c.qmp, c.reboot == VMM_REBOOT_EXIT, err, sizeof(err));
		if (!q) {
			fprintf(stderr, "softkvm run: %s\n", err);
			free(vm);
			return VMM_EXIT_USAGE;
		}
	}
	if ((c.restore || c.incoming) && take_config(&c)) {
		qmp_close(q);
		free(vm);
		return VMM_EXIT_USAGE;
	}
	do {
		status = boot(vm, &c, first, q);
		c.restore = c.incoming = NULL; /* a reboot boots the kernel the snapshot names */
		first = false;
	} while (status == VMM_EXIT_RESET && c.reboot == VMM_REBOOT_RESTART);
	qmp_close(q);
	free(vm);
	/* a reset with --reboot exit ends the run as a power-off does (QEMU -no-reboot) */
	return status == VMM_EXIT_RESET ? VMM_EXIT_STOPPED : status;
}

/* One boot of the machine: build it, load the kernel, run it, tear it down;
 * the first says which KVM runs it. */
static int boot(struct vmm *vm, const struct vmm_config *cfg, bool first, struct qmp *q)
{
	const struct vmm_config c = *cfg;
	struct multiboot_boot boot;
	char err[512];
	int r, status = VMM_EXIT_USAGE;

	r = vmm_init(vm, &c, err, sizeof(err));
	if (r)
		goto fail;
	bool resume = c.restore || c.incoming;
	if (!resume && !c.kernel) {
		snprintf(err, sizeof(err),
			 "the guest reset, and the snapshot names no kernel to boot");
		goto fail;
	}
	struct multiboot_args mb = {
	    .kernel = c.kernel,
	    .append = c.append,
	    .initrd = c.initrd,
	    .ram = vm->ram,
	    .ram_size = vm->low_size,
	    .map = vm->e820,
	    .nmap = vm->ne820,
	    .loader_name = "softkvm",
	};
	enum kernel_format fmt = KERNEL_MULTIBOOT;
	struct linux_boot lboot;
	if (!resume) {
		r = kernel_probe(c.kernel, &fmt, err, sizeof(err));
		if (r)
			goto fail;
		if (fmt == KERNEL_MULTIBOOT)
			r = multiboot_load(&mb, &boot, err, sizeof(err));
		else
			r = linux_load(vm, &c, fmt, &lboot, err, sizeof(err));
		if (r)
			goto fail;
	}
	r = vmm_create_vm(vm, &c, err, sizeof(err));
	if (r)
		goto fail;
	r = virtio_create(vm, &c.virtio, err, sizeof(err));
	if (r)
		goto fail;
	if (first) {
		char what[160];

		kvmdev_describe(&vm->kvm, what, sizeof(what));
		fprintf(stderr, "softkvm run: accelerator: %s\n", what);
	}
	if (c.restore) {
		r = mig_load_file(vm, c.restore, err, sizeof(err));
	} else if (c.incoming) {
		r = mig_incoming_finish(incoming_fd, vm, err, sizeof(err));
		incoming_fd = -1;
	} else if (fmt == KERNEL_MULTIBOOT) {
		r = vmm_setup_multiboot_entry(vm, &boot, err, sizeof(err));
	} else {
		r = linux_setup_entry(vm, &lboot, err, sizeof(err));
	}
	if (r)
		goto fail;
	struct console con;
	r = console_start(&con, vm, STDIN_FILENO);
	if (r) {
		snprintf(err, sizeof(err), "cannot start the console: %s", strerror(-r));
		goto fail;
	}
	if (q)
		qmp_attach(q, vm);
	status = vmm_run(vm);
	if (q)
		status = qmp_detach(q, status);
	console_stop(&con);
	vmm_destroy(vm);
	return status;
fail:
	fprintf(stderr, "softkvm run: %s\n", err);
	vmm_destroy(vm);
	return status;
}
