/* SPDX-License-Identifier: MIT */
/*
 * The machine's state as records (README.md, "Records"): configuration,
 * guest memory, the vCPUs' and the VM's KVM ABI structs and the VMM's
 * devices; writing them, and reading them back in two steps (check
 * everything, then apply).
 */
#include "state.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <zstd.h>

#include "../vmm.h"

static int kioctl(struct vmm *vm, int fd, unsigned long req, void *arg)
{
	return kvmdev_ioctl(&vm->kvm, fd, req, arg);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- configuration ---- */

struct cfg_rec {
	uint64_t mem, low_size, high_size;
	uint32_t ncpus, irqchip, nvirtio, nstr;
};

static void put_str(uint8_t **p, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) : 0xffffffffu;
	memcpy(*p, &n, 4);
	*p += 4;
	if (s) {
		memcpy(*p, s, n);
		*p += n;
	}
}

void mig_write_config(struct wstream *w, struct vmm *vm, const struct vmm_config *c)
{
	const char *s[3] = {c->kernel, c->append, c->initrd};
	size_t len = sizeof(struct cfg_rec);
	for (int k = 0; k < 3; k++)
		len += 4 + (s[k] ? strlen(s[k]) : 0);
	uint8_t *buf = calloc(1, len), *p;
	if (!buf) {
		w->err = -ENOMEM;
		return;
	}
	struct cfg_rec r = {.mem = vm->ram_size,
			    .low_size = vm->low_size,
			    .high_size = vm->high_size,
			    .ncpus = vm->ncpus,
			    .irqchip = vm->irqchip,
			    .nvirtio = vm->virtio ? vm->virtio->ndevs : 0,
			    .nstr = 3};
	memcpy(buf, &r, sizeof(r));
	p = buf + sizeof(r);
	for (int k = 0; k < 3; k++)
		put_str(&p, s[k]);
	ws_record(w, REC_CONFIG, 0, buf, len);
	free(buf);
}

/*
 * The configuration's strings (kernel, command line, initrd) outlive the
 * parse: a restored machine runs with them, and a snapshot-load or a probe
 * that keeps nothing still hands them to a struct vmm_config whose owner
 * does not free. They are few and small: kept on one list for the process's
 * life (reachable, so not a leak).
 */
struct kept_str {
	struct kept_str *next;
	char s[];
};
static struct kept_str *kept_strs;
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;

static char *keep_str(const char *src, size_t n)
{
	struct kept_str *k = malloc(sizeof(*k) + n + 1);
	if (!k)
		return NULL;
	memcpy(k->s, src, n);
	k->s[n] = 0;
	pthread_mutex_lock(&kept_lock);
	k->next = kept_strs;
	kept_strs = k;
	pthread_mutex_unlock(&kept_lock);
	return k->s;
}

static char *get_str(const uint8_t **p, const uint8_t *end, bool *bad)
{
	uint32_t n;
	if (end - *p < 4) {
		*bad = true;
		return NULL;
	}
	memcpy(&n, *p, 4);
	*p += 4;
	if (n == 0xffffffffu)
		return NULL;
	if ((size_t)(end - *p) < n) {
		*bad = true;
		return NULL;
	}
	const char *src = (const char *)*p;
	char *s = keep_str(src, strnlen(src, n));
	*p += n;
	return s;
}

int mig_parse_config(const struct rrec *rec, struct vmm_config *c, unsigned *nvirtio,
		     const char *what, char *err, size_t errlen)
{
	struct cfg_rec r;
	bool bad = false;

	if (rec->type != REC_CONFIG || rec->len < sizeof(r)) {
		snprintf(err, errlen, "%s: corrupted (it does not start with the configuration)",
			 what);
		return -EINVAL;
	}
	memcpy(&r, rec->p, sizeof(r));
	const uint8_t *p = rec->p + sizeof(r), *end = rec->p + rec->len;
	char *s[3] = {NULL, NULL, NULL};
	for (int k = 0; k < 3 && k < (int)r.nstr; k++)
		s[k] = get_str(&p, end, &bad);
	if (bad || r.nstr != 3 || p != end || r.ncpus < 1 || r.ncpus > VMM_MAX_CPUS ||
	    r.mem < VMM_MEM_MIN || r.mem > VMM_MEM_MAX || (r.mem & 0xfff) ||
	    r.low_size + r.high_size != r.mem || r.irqchip > VMM_IRQCHIP_OFF) {
		snprintf(err, errlen, "%s: corrupted (configuration record)", what);
		return -EINVAL; /* (the strings stay on kept_strs) */
	}
	if (r.nvirtio > VIRTIO_MAX_DEVICES) {
		snprintf(err, errlen, "%s: corrupted (configuration record)", what);
		return -EINVAL;
	}
	*nvirtio = r.nvirtio;
	c->mem = r.mem;
	c->cpus = r.ncpus;
	c->irqchip = (enum vmm_irqchip)r.irqchip;
	c->kernel = s[0];
	c->append = s[1] ? s[1] : "";
	c->initrd = s[2];
	return 0;
}

/* ---- guest memory ---- */

struct slotinfo {
	uint64_t gpa, size;
	uint8_t *hva;
};

static unsigned slots(struct vmm *vm, struct slotinfo s[2])
{
	unsigned n = 0;
	s[n++] = (struct slotinfo){0, vm->low_size, vm->ram};
	if (vm->high_size)
		s[n++] = (struct slotinfo){0x100000000ull, vm->high_size, vm->ram + vm->low_size};
	return n;
}

static bool page_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;
	uint64_t acc = 0;
	for (unsigned k = 0; k < MIG_PAGE / 8; k += 8)
		acc |= q[k] | q[k + 1] | q[k + 2] | q[k + 3] | q[k + 4] | q[k + 5] | q[k + 6] |
		       q[k + 7];
	return acc == 0;
}

int mig_ram_ctx_init(struct mig_ram_ctx *x)
{
	memset(x, 0, sizeof(*x));
	x->cctx = ZSTD_createCCtx();
	x->stage = malloc(MIG_RAM_PAGES * MIG_PAGE);
	x->zbuf_len = ZSTD_compressBound(MIG_RAM_PAGES * MIG_PAGE);
	x->zbuf = malloc(x->zbuf_len);
	if (!x->cctx || !x->stage || !x->zbuf)
		return -ENOMEM;
	ZSTD_CCtx_setParameter(x->cctx, ZSTD_c_compressionLevel, 1);
	return 0;
}

void mig_ram_ctx_free(struct mig_ram_ctx *x)
{
	ZSTD_freeCCtx(x->cctx);
	free(x->stage);
	free(x->zbuf);
}

/*
 * RAM records for the pages of slot `si` whose bit is set in `bitmap` (NULL:
 * every page; zero pages are then left out, the target starts from zero
 * memory). With a bitmap, zero pages are sent as such (they may have been
 * something else on the target).
 */
void mig_write_ram(struct wstream *w, struct vmm *vm, unsigned si, const uint64_t *bitmap,
		   struct mig_ram_ctx *x)
{
	struct slotinfo s[2];
	unsigned n = slots(vm, s);
	uint8_t hdr[MIG_RAM_HDR_LEN];

	if (si >= n)
		return;
	uint64_t npages = s[si].size / MIG_PAGE;
	for (uint64_t first = 0; first < npages && !w->err; first += MIG_RAM_PAGES) {
		unsigned cnt =
		    npages - first < MIG_RAM_PAGES ? (unsigned)(npages - first) : MIG_RAM_PAGES;
		uint8_t *sent = hdr + 16, *zero = hdr + 16 + MIG_RAM_PAGES / 8;
		unsigned nsent = 0, ndata = 0;

		memset(hdr, 0, sizeof(hdr));
		for (unsigned k = 0; k < cnt; k++) {
			uint64_t pg = first + k;
			if (bitmap && !(bitmap[pg / 64] >> (pg % 64) & 1))
				continue;
			const uint8_t *src = s[si].hva + pg * MIG_PAGE;
			bool z = page_zero(src);
			if (z) {
				x->zero_pages++;
				if (!bitmap)
					continue;
				zero[k / 8] |= (uint8_t)(1u << (k % 8));
			} else {
				memcpy(x->stage + (size_t)ndata * MIG_PAGE, src, MIG_PAGE);
				ndata++;
				x->normal_pages++;
			}
			sent[k / 8] |= (uint8_t)(1u << (k % 8));
			nsent++;
		}
		if (!nsent)
			continue;
		uint64_t gpa = s[si].gpa + first * MIG_PAGE;
		uint32_t c32 = cnt, zero32 = 0;
		memcpy(hdr, &gpa, 8);
		memcpy(hdr + 8, &c32, 4);
		memcpy(hdr + 12, &zero32, 4);
		size_t zl = 0;
		if (ndata) {
			zl = ZSTD_compress2(x->cctx, x->zbuf, x->zbuf_len, x->stage,
					    (size_t)ndata * MIG_PAGE);
			if (ZSTD_isError(zl)) {
				w->err = -EIO;
				return;
			}
		}
		ws_record2(w, REC_RAM, 0, hdr, sizeof(hdr), x->zbuf, zl);
	}
}

/* host address of guest page gpa..gpa+npages*4K if wholly in one slot */
static uint8_t *ram_at(struct vmm *vm, const struct vmm_config *c, uint64_t gpa, uint64_t len)
{
	uint64_t low = c->mem >= 0xe0000000ull ? VMM_LOW_MAX : c->mem, high = c->mem - low;
	if (gpa < low)
		return len <= low - gpa ? (vm ? vm->ram + gpa : (uint8_t *)1) : NULL;
	if (gpa >= 0x100000000ull && gpa - 0x100000000ull < high)
		return len <= high - (gpa - 0x100000000ull)
			   ? (vm ? vm->ram + low + (gpa - 0x100000000ull) : (uint8_t *)1)
			   : NULL;
	return NULL;
}

int mig_read_ram(struct mig_loader *L, const struct rrec *rec, bool apply, char *err, size_t errlen)
{
	const uint8_t *h = rec->p;
	uint64_t gpa;
	uint32_t cnt, flags;

	if (rec->len < MIG_RAM_HDR_LEN)
		goto bad;
	memcpy(&gpa, h, 8);
	memcpy(&cnt, h + 8, 4);
	memcpy(&flags, h + 12, 4);
	const uint8_t *sent = h + 16, *zero = h + 16 + MIG_RAM_PAGES / 8;
	if (!cnt || cnt > MIG_RAM_PAGES || flags || (gpa & (MIG_PAGE - 1)) ||
	    !ram_at(NULL, &L->cfg, gpa, (uint64_t)cnt * MIG_PAGE))
		goto bad;
	unsigned ndata = 0;
	for (unsigned k = 0; k < MIG_RAM_PAGES; k++) {
		bool s = sent[k / 8] >> (k % 8) & 1, z = zero[k / 8] >> (k % 8) & 1;
		if ((k >= cnt && (s || z)) || (z && !s))
			goto bad;
		ndata += s && !z;
	}
	size_t zl = rec->len - MIG_RAM_HDR_LEN;
	if (!ndata != !zl)
		goto bad;
	if (ndata) {
		unsigned long long want = ZSTD_getFrameContentSize(h + MIG_RAM_HDR_LEN, zl);
		if (want != (unsigned long long)ndata * MIG_PAGE)
			goto bad;
		size_t got = ZSTD_decompressDCtx(L->dctx, L->scratch, MIG_RAM_PAGES * MIG_PAGE,
						 h + MIG_RAM_HDR_LEN, zl);
		if (ZSTD_isError(got) || got != (size_t)ndata * MIG_PAGE)
			goto bad;
	}
	if (!apply)
		return 0;
	uint8_t *dst = ram_at(L->vm, &L->cfg, gpa, (uint64_t)cnt * MIG_PAGE);
	unsigned d = 0;
	for (unsigned k = 0; k < cnt; k++) {
		if (!(sent[k / 8] >> (k % 8) & 1))
			continue;
		if (zero[k / 8] >> (k % 8) & 1)
			memset(dst + (size_t)k * MIG_PAGE, 0, MIG_PAGE);
		else
			memcpy(dst + (size_t)k * MIG_PAGE, L->scratch + (size_t)d++ * MIG_PAGE,
			       MIG_PAGE);
	}
	return 0;
bad:
	snprintf(err, errlen, "%s: corrupted (memory record at byte %llu)", L->what,
		 (unsigned long long)rec->at);
	return -EINVAL;
}

/* ---- the VMM's devices: each record is its fields in this order ---- */

struct field {
	void *p;
	size_t n;
};

#define F(x) ((struct field){&(x), sizeof(x)})

/* the fields of device record `type` (index: PCI slot); 0 if none */
static unsigned dev_fields(struct vmm *vm, uint32_t type, uint32_t index, struct field *f,
			   uint64_t *pm_elapsed)
{
	unsigned n = 0;

	switch (type) {
	case REC_DEV_SERIAL: {
		struct serial *s = &vm->serial;
		f[n++] = F(s->rx);
		f[n++] = F(s->rx_head);
		f[n++] = F(s->rx_count);
		f[n++] = F(s->ier);
		f[n++] = F(s->fcr);
		f[n++] = F(s->lcr);
		f[n++] = F(s->mcr);
		f[n++] = F(s->lsr);
		f[n++] = F(s->msr);
		f[n++] = F(s->scr);
		f[n++] = F(s->divisor);
		f[n++] = F(s->thr_ipending);
		f[n++] = F(s->irq);
		break;
	}
	case REC_DEV_RTC: {
		struct rtc *r = &vm->rtc;
		f[n++] = F(r->index);
		f[n++] = F(r->cmos);
		f[n++] = F(r->frozen);
		f[n++] = F(r->frozen_century);
		f[n++] = F(r->offset);
		f[n++] = F(r->last_ns);
		f[n++] = F(r->last_a_read);
		f[n++] = F(r->irq);
		break;
	}
	case REC_DEV_PM:
		f[n++] = F(vm->pm.pm1_sts);
		f[n++] = F(vm->pm.pm1_en);
		f[n++] = F(vm->pm.pm1_cnt);
		f[n++] = F(*pm_elapsed);
		f[n++] = F(vm->pm.sci);
		break;
	case REC_DEV_I8042: {
		struct i8042 *k = &vm->i8042;
		f[n++] = F(k->ccb);
		f[n++] = F(k->outport);
		f[n++] = F(k->pending);
		f[n++] = F(k->a2);
		f[n++] = F(k->queue);
		f[n++] = F(k->head);
		f[n++] = F(k->count);
		f[n++] = F(k->kbd_scanning);
		f[n++] = F(k->irq);
		break;
	}
	case REC_DEV_RESET:
		f[n++] = F(vm->resetctl.rcr);
		f[n++] = F(vm->resetctl.port92);
		break;
	case REC_DEV_PCIBUS:
		f[n++] = F(vm->pci.config_addr);
		break;
	case REC_DEV_PCI:
		if (index < PCI_NSLOTS && vm->pci.slot[index])
			f[n++] = F(vm->pci.slot[index]->cfg);
		break;
	case REC_DEV_FWCFG:
		f[n++] = F(vm->fwcfg.key);
		f[n++] = F(vm->fwcfg.valid);
		f[n++] = F(vm->fwcfg.offset);
		break;
	case REC_DEV_PCTESTDEV:
		f[n++] = F(vm->pctestdev.ioport_data);
		f[n++] = F(vm->pctestdev.irq);
		f[n++] = F(vm->pctestdev.iomem);
		break;
	case REC_DEV_PCITESTDEV:
		f[n++] = F(vm->pcitestdev.current);
		break;
	}
	return n;
}

/* the fields that index arrays are in range (dummy holds a record just read) */
static bool dev_values_ok(const struct vmm *d, uint32_t type)
{
	switch (type) {
	case REC_DEV_SERIAL:
		return d->serial.rx_head < SERIAL_FIFO && d->serial.rx_count <= SERIAL_FIFO;
	case REC_DEV_RTC:
		return d->rtc.index < RTC_CMOS_SIZE;
	case REC_DEV_I8042:
		return d->i8042.head < sizeof(d->i8042.queue) &&
		       d->i8042.count <= sizeof(d->i8042.queue);
	case REC_DEV_FWCFG:
		return !d->fwcfg.valid || (d->fwcfg.key & FW_CFG_ENTRY_MASK) < FW_CFG_NKEYS;
	case REC_DEV_PCITESTDEV:
		return d->pcitestdev.current >= -1 && d->pcitestdev.current < PCITESTDEV_NTESTS;
	}
	return true;
}

static size_t fields_len(const struct field *f, unsigned n)
{
	size_t len = 0;
	for (unsigned k = 0; k < n; k++)
		len += f[k].n;
	return len;
}

static void write_dev(struct wstream *w, struct vmm *vm, uint32_t type, uint32_t index,
		      uint64_t *pm_elapsed)
{
	struct field f[16];
	unsigned n = dev_fields(vm, type, index, f, pm_elapsed);
	size_t len = fields_len(f, n), off = 0;
	uint8_t *buf = malloc(len ? len : 1);

	if (!buf) {
		w->err = -ENOMEM;
		return;
	}
	for (unsigned k = 0; k < n; k++) {
		memcpy(buf + off, f[k].p, f[k].n);
		off += f[k].n;
	}
	ws_record(w, type, index, buf, len);
	free(buf);
}

static const uint32_t dev_types[] = {REC_DEV_SERIAL, REC_DEV_RTC,	REC_DEV_PM,
				     REC_DEV_I8042,  REC_DEV_RESET,	REC_DEV_PCIBUS,
				     REC_DEV_FWCFG,  REC_DEV_PCTESTDEV, REC_DEV_PCITESTDEV};
#define NDEV_TYPES (sizeof(dev_types) / sizeof(dev_types[0]))

/* ---- the vCPUs and the VM ---- */

static struct kvm_msr_list *msr_index_list(struct vmm *vm, int *res)
{
	struct kvm_msr_list probe = {.nmsrs = 0}, *l;
	int r = kioctl(vm, vm->sys_fd, KVM_GET_MSR_INDEX_LIST, &probe);
	if (r < 0 && r != -E2BIG) {
		*res = r;
		return NULL;
	}
	l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
	if (!l) {
		*res = -ENOMEM;
		return NULL;
	}
	l->nmsrs = probe.nmsrs;
	r = kioctl(vm, vm->sys_fd, KVM_GET_MSR_INDEX_LIST, l);
	if (r < 0) {
		free(l);
		*res = r;
		return NULL;
	}
	*res = 0;
	return l;
}

/* every MSR of the list that this vCPU has (KVM_GET_MSRS stops at the first it refuses) */
static struct kvm_msrs *get_msrs(struct vmm *vm, int fd, const struct kvm_msr_list *l, int *res)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + l->nmsrs * sizeof(struct kvm_msr_entry));
	struct kvm_msrs *one = calloc(1, sizeof(*one) + l->nmsrs * sizeof(struct kvm_msr_entry));
	unsigned got = 0, next = 0;

	if (!m || !one) {
		free(m);
		free(one);
		*res = -ENOMEM;
		return NULL;
	}
	while (next < l->nmsrs) {
		one->nmsrs = l->nmsrs - next;
		for (unsigned k = 0; k < one->nmsrs; k++)
			one->entries[k] = (struct kvm_msr_entry){.index = l->indices[next + k]};
		int r = kioctl(vm, fd, KVM_GET_MSRS, one);
		if (r < 0) {
			free(m);
			free(one);
			*res = r;
			return NULL;
		}
		for (int k = 0; k < r; k++)
			m->entries[got++] = one->entries[k];
		next += (unsigned)r + 1; /* skip the one it refused */
		if ((unsigned)r == one->nmsrs)
			break;
	}
	free(one);
	m->nmsrs = got;
	*res = 0;
	return m;
}

static int xsave_size(struct vmm *vm)
{
	int r = kioctl(vm, vm->vm_fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_XSAVE2);
	return r > (int)sizeof(struct kvm_xsave) ? r : (int)sizeof(struct kvm_xsave);
}

int mig_write_state(struct wstream *w, struct vmm *vm, char *err, size_t errlen)
{
	struct kvm_msr_list *list;
	int r;
	const char *what = "";

	uint8_t vbuf[VIRTIO_STATE_LEN];
	for (unsigned k = 0; vm->virtio && k < vm->virtio->ndevs; k++) {
		r = virtio_save_state(vm, k, vbuf, err, errlen);
		if (r)
			return r;
	}
	list = msr_index_list(vm, &r);
	if (!list) {
		snprintf(err, errlen, "KVM_GET_MSR_INDEX_LIST: %s", strerror(-r));
		return r;
	}
	int xlen = xsave_size(vm);
	void *xs = calloc(1, (size_t)xlen);
	if (!xs) {
		free(list);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (unsigned k = 0; k < vm->ncpus && !w->err; k++) {
		int fd = vm->vcpu[k].fd;
		struct kvm_regs regs;
		struct kvm_sregs sregs;
		struct kvm_xcrs xcrs;
		struct kvm_lapic_state lapic;
		struct kvm_vcpu_events ev;
		struct kvm_mp_state mp;
		struct kvm_debugregs dbg;

#define GET(req, x, rec)                                                                           \
	do {                                                                                       \
		memset(&x, 0, sizeof(x));                                                          \
		r = kioctl(vm, fd, req, &x);                                                       \
		if (r < 0) {                                                                       \
			what = #req;                                                               \
			goto fail;                                                                 \
		}                                                                                  \
		ws_record(w, rec, k, &x, sizeof(x));                                               \
	} while (0)
		GET(KVM_GET_REGS, regs, REC_VCPU_REGS);
		GET(KVM_GET_SREGS, sregs, REC_VCPU_SREGS);
		memset(xs, 0, (size_t)xlen);
		r = kioctl(vm, fd,
			   xlen > (int)sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE,
			   xs);
		if (r < 0) {
			what = "KVM_GET_XSAVE";
			goto fail;
		}
		ws_record(w, REC_VCPU_XSAVE, k, xs, (size_t)xlen);
		GET(KVM_GET_XCRS, xcrs, REC_VCPU_XCRS);
		struct kvm_msrs *m = get_msrs(vm, fd, list, &r);
		if (!m) {
			what = "KVM_GET_MSRS";
			goto fail;
		}
		ws_record(w, REC_VCPU_MSRS, k, m,
			  sizeof(*m) + m->nmsrs * sizeof(struct kvm_msr_entry));
		free(m);
		if (vm->irqchip == VMM_IRQCHIP_KERNEL)
			GET(KVM_GET_LAPIC, lapic, REC_VCPU_LAPIC);
		GET(KVM_GET_VCPU_EVENTS, ev, REC_VCPU_EVENTS);
		GET(KVM_GET_MP_STATE, mp, REC_VCPU_MP_STATE);
		GET(KVM_GET_DEBUGREGS, dbg, REC_VCPU_DEBUGREGS);
#undef GET
	}
	if (vm->irqchip == VMM_IRQCHIP_KERNEL) {
		for (uint32_t chip = 0; chip < 3; chip++) {
			struct kvm_irqchip ic = {.chip_id = chip};
			r = kioctl(vm, vm->vm_fd, KVM_GET_IRQCHIP, &ic);
			if (r < 0) {
				what = "KVM_GET_IRQCHIP";
				goto fail;
			}
			ws_record(w, REC_IRQCHIP, chip, &ic, sizeof(ic));
		}
		struct kvm_pit_state2 pit;
		memset(&pit, 0, sizeof(pit));
		r = kioctl(vm, vm->vm_fd, KVM_GET_PIT2, &pit);
		if (r < 0) {
			what = "KVM_GET_PIT2";
			goto fail;
		}
		ws_record(w, REC_PIT2, 0, &pit, sizeof(pit));
	}
	struct kvm_clock_data clk;
	memset(&clk, 0, sizeof(clk));
	r = kioctl(vm, vm->vm_fd, KVM_GET_CLOCK, &clk);
	if (r < 0) {
		what = "KVM_GET_CLOCK";
		goto fail;
	}
	/* stopped: the guest's clock is the one it stopped with (vmm_pause) */
	pthread_mutex_lock(&vm->stop_lock);
	if (vm->paused && vm->pause_clock_valid)
		clk = vm->pause_clock;
	pthread_mutex_unlock(&vm->stop_lock);
	ws_record(w, REC_CLOCK, 0, &clk, sizeof(clk));

	uint64_t pm_elapsed = mono_ns() - vm->pm.start_ns;
	for (size_t t = 0; t < NDEV_TYPES; t++)
		write_dev(w, vm, dev_types[t], 0, &pm_elapsed);
	for (uint32_t s = 0; s < PCI_NSLOTS; s++)
		if (vm->pci.slot[s])
			write_dev(w, vm, REC_DEV_PCI, s, &pm_elapsed);
	for (unsigned k = 0; vm->virtio && k < vm->virtio->ndevs; k++) {
		virtio_save_state(vm, k, vbuf, err, errlen);
		ws_record(w, REC_DEV_VIRTIO, k, vbuf, sizeof(vbuf));
	}
	free(xs);
	free(list);
	return 0;
fail:
	free(xs);
	free(list);
	snprintf(err, errlen, "%s: %s", what, strerror(-r));
	return r;
}

/* ---- reading state records back ---- */

static int rec_size_ok(uint32_t type, uint64_t len, int xlen)
{
	switch (type) {
	case REC_VCPU_REGS:
		return len == sizeof(struct kvm_regs);
	case REC_VCPU_SREGS:
		return len == sizeof(struct kvm_sregs);
	case REC_VCPU_XSAVE:
		return len == (uint64_t)xlen || len == sizeof(struct kvm_xsave);
	case REC_VCPU_XCRS:
		return len == sizeof(struct kvm_xcrs);
	case REC_VCPU_LAPIC:
		return len == sizeof(struct kvm_lapic_state);
	case REC_VCPU_EVENTS:
		return len == sizeof(struct kvm_vcpu_events);
	case REC_VCPU_MP_STATE:
		return len == sizeof(struct kvm_mp_state);
	case REC_VCPU_DEBUGREGS:
		return len == sizeof(struct kvm_debugregs);
	case REC_IRQCHIP:
		return len == sizeof(struct kvm_irqchip);
	case REC_PIT2:
		return len == sizeof(struct kvm_pit_state2);
	case REC_CLOCK:
		return len == sizeof(struct kvm_clock_data);
	}
	return -1;
}

static bool vcpu_type(uint32_t t)
{
	return t >= REC_VCPU_REGS && t <= REC_VCPU_DEBUGREGS;
}

/* index limit of a record type (exclusive) */
static uint32_t index_limit(const struct mig_loader *L, uint32_t t)
{
	if (vcpu_type(t))
		return L->cfg.cpus;
	if (t == REC_IRQCHIP)
		return 3;
	if (t == REC_DEV_PCI)
		return PCI_NSLOTS;
	if (t == REC_DEV_VIRTIO)
		return L->nvirtio;
	return 1;
}

int mig_keep_record(struct mig_loader *L, struct rrec *rec, char *err, size_t errlen)
{
	struct vmm *dummy = L->dummy;
	bool known = vcpu_type(rec->type) || rec->type == REC_IRQCHIP || rec->type == REC_PIT2 ||
		     rec->type == REC_CLOCK;
	for (size_t t = 0; t < NDEV_TYPES; t++)
		known |= rec->type == dev_types[t];
	known |= rec->type == REC_DEV_PCI || rec->type == REC_DEV_VIRTIO;
	if (!known) {
		snprintf(err, errlen, "%s: corrupted (unknown record type %#x at byte %llu)",
			 L->what, rec->type, (unsigned long long)rec->at);
		return -EINVAL;
	}
	if (rec->index >= index_limit(L, rec->type))
		goto bad;
	if (rec->type == REC_VCPU_MSRS) {
		struct kvm_msrs m;
		if (rec->len < sizeof(m))
			goto bad;
		memcpy(&m, rec->p, sizeof(m));
		if (m.nmsrs > 65536 ||
		    rec->len != sizeof(m) + (uint64_t)m.nmsrs * sizeof(struct kvm_msr_entry))
			goto bad;
	} else if (rec->type == REC_DEV_VIRTIO) {
		if (rec->len != VIRTIO_STATE_LEN)
			goto bad;
	} else if (rec->type >= REC_DEV_SERIAL && rec->type <= REC_DEV_PCITESTDEV) {
		struct field f[16];
		uint64_t el = 0;
		unsigned n;
		if (rec->type == REC_DEV_PCI) /* the PCI functions: a configuration space each */
			n = 1, f[0] = (struct field){NULL, 256};
		else
			n = dev_fields(dummy, rec->type, rec->index, f, &el);
		if (rec->len != fields_len(f, n))
			goto bad;
		/* the values index arrays of the devices: a crafted file must not reach past them
		 */
		size_t off = 0;
		for (unsigned i = 0; i < n && rec->type != REC_DEV_PCI; i++) {
			memcpy(f[i].p, rec->p + off, f[i].n);
			off += f[i].n;
		}
		if (!dev_values_ok(dummy, rec->type))
			goto bad;
	} else if (rec_size_ok(rec->type, rec->len, L->xlen) != 1) {
		goto bad;
	}
	for (size_t k = 0; k < L->nrecs; k++)
		if (L->recs[k].type == rec->type && L->recs[k].index == rec->index)
			goto bad; /* twice */
	if (L->nrecs == L->cap) {
		size_t cap = L->cap ? 2 * L->cap : 64;
		struct rrec *p = realloc(L->recs, cap * sizeof(*p));
		if (!p) {
			snprintf(err, errlen, "%s: out of memory", L->what);
			return -ENOMEM;
		}
		L->recs = p;
		L->cap = cap;
	}
	L->recs[L->nrecs++] = *rec;
	rec->p = NULL;
	return 0;
bad:
	snprintf(err, errlen, "%s: corrupted (record type %#x index %u at byte %llu)", L->what,
		 rec->type, rec->index, (unsigned long long)rec->at);
	return -EINVAL;
}

static const struct rrec *find(const struct mig_loader *L, uint32_t type, uint32_t index)
{
	for (size_t k = 0; k < L->nrecs; k++)
		if (L->recs[k].type == type && L->recs[k].index == index)
			return &L->recs[k];
	return NULL;
}

int mig_check_complete(struct mig_loader *L, char *err, size_t errlen)
{
	static const uint32_t per_vcpu[] = {REC_VCPU_REGS,     REC_VCPU_SREGS,	  REC_VCPU_XSAVE,
					    REC_VCPU_XCRS,     REC_VCPU_MSRS,	  REC_VCPU_EVENTS,
					    REC_VCPU_MP_STATE, REC_VCPU_DEBUGREGS};
	bool chip = L->cfg.irqchip == VMM_IRQCHIP_KERNEL;
	const char *missing = NULL;
	unsigned idx = 0;

	for (unsigned k = 0; k < L->cfg.cpus && !missing; k++) {
		for (size_t t = 0; t < sizeof(per_vcpu) / sizeof(per_vcpu[0]); t++)
			if (!find(L, per_vcpu[t], k))
				missing = "vCPU state", idx = k;
		if (chip && !find(L, REC_VCPU_LAPIC, k))
			missing = "LAPIC", idx = k;
	}
	for (uint32_t c = 0; chip && c < 3 && !missing; c++)
		if (!find(L, REC_IRQCHIP, c))
			missing = "irqchip", idx = c;
	if (!missing && chip && !find(L, REC_PIT2, 0))
		missing = "PIT";
	if (!missing && !find(L, REC_CLOCK, 0))
		missing = "clock";
	for (size_t t = 0; t < NDEV_TYPES && !missing; t++)
		if (!find(L, dev_types[t], 0))
			missing = "device state", idx = dev_types[t];
	for (unsigned k = 0; k < L->nvirtio && !missing; k++)
		if (!find(L, REC_DEV_VIRTIO, k))
			missing = "virtio device", idx = k;
	if (L->vm) {
		for (uint32_t s = 0; s < PCI_NSLOTS && !missing; s++)
			if (!!L->vm->pci.slot[s] != !!find(L, REC_DEV_PCI, s))
				missing = "PCI function", idx = s;
	}
	if (missing) {
		snprintf(err, errlen, "%s: incomplete (no %s record %u)", L->what, missing, idx);
		return -EINVAL;
	}
	for (unsigned k = 0; L->vm && k < L->nvirtio; k++) {
		char why[400];
		if (virtio_check_state(L->vm, k, find(L, REC_DEV_VIRTIO, k)->p, why, sizeof(why))) {
			snprintf(err, errlen, "%s: %s", L->what, why);
			return -EINVAL;
		}
	}
	return 0;
}

/* KVM_SET_MSRS of every entry; which one it refused otherwise */
static int set_msrs(struct vmm *vm, int fd, const struct rrec *rec, char *what, size_t n)
{
	struct kvm_msrs *m = malloc(rec->len);
	if (!m)
		return -ENOMEM;
	memcpy(m, rec->p, rec->len);
	int r = kioctl(vm, fd, KVM_SET_MSRS, m);
	if (r >= 0 && (uint32_t)r < m->nmsrs) {
		snprintf(what, n, "KVM_SET_MSRS refused MSR %#x", m->entries[r].index);
		r = -EINVAL;
	} else if (r < 0) {
		snprintf(what, n, "KVM_SET_MSRS: %s", strerror(-r));
	}
	free(m);
	return r < 0 ? r : 0;
}

int mig_apply_state(struct mig_loader *L, char *err, size_t errlen)
{
	mig_lock_devices(L->vm);
	int r = mig_apply_state_locked(L, err, errlen);
	mig_unlock_devices(L->vm);
	virtio_restored(L->vm);
	return r;
}

int mig_apply_state_locked(struct mig_loader *L, char *err, size_t errlen)
{
	struct vmm *vm = L->vm;
	char what[128] = "";
	int r = 0;

#define SET(fd, req, type, idx)                                                                    \
	do {                                                                                       \
		const struct rrec *x_ = find(L, type, idx);                                        \
		if (!x_)                                                                           \
			break;                                                                     \
		void *c_ = malloc(x_->len);                                                        \
		if (!c_) {                                                                         \
			r = -ENOMEM;                                                               \
			goto fail;                                                                 \
		}                                                                                  \
		memcpy(c_, x_->p, x_->len);                                                        \
		r = kioctl(vm, fd, req, c_);                                                       \
		free(c_);                                                                          \
		if (r < 0) {                                                                       \
			snprintf(what, sizeof(what), "%s on %u: %s", #req, (unsigned)(idx),        \
				 strerror(-r));                                                    \
			goto fail;                                                                 \
		}                                                                                  \
	} while (0)

	if (vm->irqchip == VMM_IRQCHIP_KERNEL) {
		for (uint32_t c = 0; c < 3; c++)
			SET(vm->vm_fd, KVM_SET_IRQCHIP, REC_IRQCHIP, c);
		SET(vm->vm_fd, KVM_SET_PIT2, REC_PIT2, 0);
	}
	/* QEMU's order (kvm_arch_put_registers) */
	for (unsigned k = 0; k < vm->ncpus; k++) {
		int fd = vm->vcpu[k].fd;
		const struct rrec *xs = find(L, REC_VCPU_XSAVE, k);
		SET(fd, KVM_SET_REGS, REC_VCPU_REGS, k);
		(void)xs;
		SET(fd, KVM_SET_XSAVE, REC_VCPU_XSAVE, k);
		SET(fd, KVM_SET_XCRS, REC_VCPU_XCRS, k);
		SET(fd, KVM_SET_SREGS, REC_VCPU_SREGS, k);
		r = set_msrs(vm, fd, find(L, REC_VCPU_MSRS, k), what, sizeof(what));
		if (r < 0)
			goto fail;
		SET(fd, KVM_SET_MP_STATE, REC_VCPU_MP_STATE, k);
		if (vm->irqchip == VMM_IRQCHIP_KERNEL) {
			SET(fd, KVM_SET_LAPIC, REC_VCPU_LAPIC, k);
			/* the LAPIC load stopped the timer: the TSC deadline again, after it */
			const struct rrec *m = find(L, REC_VCPU_MSRS, k);
			struct kvm_msrs hdr;
			memcpy(&hdr, m->p, sizeof(hdr));
			for (uint32_t e = 0; e < hdr.nmsrs; e++) {
				struct {
					struct kvm_msrs h;
					struct kvm_msr_entry e;
				} one = {.h.nmsrs = 1};
				memcpy(&one.e, m->p + sizeof(hdr) + e * sizeof(one.e),
				       sizeof(one.e));
				if (one.e.index != 0x6e0) /* MSR_IA32_TSC_DEADLINE */
					continue;
				kioctl(vm, fd, KVM_SET_MSRS, &one);
			}
		}
		SET(fd, KVM_SET_VCPU_EVENTS, REC_VCPU_EVENTS, k);
		SET(fd, KVM_SET_DEBUGREGS, REC_VCPU_DEBUGREGS, k);
	}
	{
		/* KVM_CLOCK_REALTIME/HOST_TSC are outputs of KVM_GET_CLOCK only */
		const struct rrec *x = find(L, REC_CLOCK, 0);
		struct kvm_clock_data clk;
		memcpy(&clk, x->p, sizeof(clk));
		clk.flags = 0;
		r = kioctl(vm, vm->vm_fd, KVM_SET_CLOCK, &clk);
		if (r < 0) {
			snprintf(what, sizeof(what), "KVM_SET_CLOCK: %s", strerror(-r));
			goto fail;
		}
		/* a paused VM goes on from this clock at cont (vmm_resume) */
		pthread_mutex_lock(&vm->stop_lock);
		if (vm->paused) {
			vm->pause_clock = clk;
			vm->pause_clock_valid = true;
		}
		pthread_mutex_unlock(&vm->stop_lock);
	}
#undef SET

	uint64_t pm_elapsed = 0;
	for (size_t k = 0; k < L->nrecs; k++) {
		const struct rrec *x = &L->recs[k];
		if (x->type == REC_DEV_VIRTIO)
			virtio_load_state(vm, x->index, x->p);
		if (x->type < REC_DEV_SERIAL || x->type > REC_DEV_PCITESTDEV)
			continue;
		struct field f[16];
		unsigned n = dev_fields(vm, x->type, x->index, f, &pm_elapsed);
		size_t off = 0;
		for (unsigned i = 0; i < n; i++) {
			memcpy(f[i].p, x->p + off, f[i].n);
			off += f[i].n;
		}
		if (x->type == REC_DEV_PM)
			vm->pm.start_ns = mono_ns() - pm_elapsed;
	}
	/* an item this VM's fw_cfg does not have reads as zeros */
	if (vm->fwcfg.valid && !vm->fwcfg.items[vm->fwcfg.key & FW_CFG_ENTRY_MASK].data)
		vm->fwcfg.valid = false;
	pci_bus_restored(&vm->pci);
	rtc_restored(&vm->rtc);
	/* the devices' interrupt lines that are high, as the kernel's irqchip sees them */
	struct {
		bool level;
		unsigned gsi;
	} lines[] = {{vm->serial.irq, VMM_SERIAL_GSI},
		     {vm->rtc.irq, RTC_IRQ},
		     {vm->pm.sci, ACPI_SCI_IRQ},
		     {vm->i8042.irq, I8042_IRQ}};
	for (size_t k = 0;
	     vm->irqchip == VMM_IRQCHIP_KERNEL && k < sizeof(lines) / sizeof(lines[0]); k++) {
		struct kvm_irq_level l = {.irq = lines[k].gsi, .level = lines[k].level};
		if (l.level)
			kioctl(vm, vm->vm_fd, KVM_IRQ_LINE, &l);
	}
	return 0;
fail:
	snprintf(err, errlen, "%s: cannot be applied: %s", L->what, what);
	return r;
}

int mig_loader_init(struct mig_loader *L, struct vmm *vm, const char *what)
{
	memset(L, 0, sizeof(*L));
	L->vm = vm;
	snprintf(L->what, sizeof(L->what), "%s", what);
	L->dctx = ZSTD_createDCtx();
	L->scratch = malloc(MIG_RAM_PAGES * MIG_PAGE);
	L->dummy = calloc(1, sizeof(struct vmm));
	L->xlen = vm ? xsave_size(vm) : 0;
	return L->dctx && L->scratch && L->dummy ? 0 : -ENOMEM;
}

void mig_loader_free(struct mig_loader *L)
{
	for (size_t k = 0; k < L->nrecs; k++)
		free(L->recs[k].p);
	free(L->recs);
	ZSTD_freeDCtx(L->dctx);
	free(L->scratch);
	free(L->dummy);
	memset(L, 0, sizeof(*L));
}

/* Give guest memory back as zero pages (the memory records hold the rest). */
void mig_zero_ram(struct vmm *vm)
{
	madvise(vm->ram, vm->ram_size, MADV_DONTNEED);
}

int mig_check_vm(struct mig_loader *L, char *err, size_t errlen)
{
	struct vmm *vm = L->vm;
	if (vm->ram_size != L->cfg.mem || vm->ncpus != L->cfg.cpus ||
	    vm->irqchip != L->cfg.irqchip) {
		snprintf(err, errlen,
			 "%s: is of another machine (%llu MiB, %u vCPUs, irqchip %s; this one has "
			 "%llu MiB, %u vCPUs, irqchip %s)",
			 L->what, (unsigned long long)(L->cfg.mem >> 20), L->cfg.cpus,
			 L->cfg.irqchip == VMM_IRQCHIP_KERNEL ? "kernel" : "off",
			 (unsigned long long)(vm->ram_size >> 20), vm->ncpus,
			 vm->irqchip == VMM_IRQCHIP_KERNEL ? "kernel" : "off");
		return -EINVAL;
	}
	unsigned n = vm->virtio ? vm->virtio->ndevs : 0;
	if (n != L->nvirtio) {
		snprintf(err, errlen,
			 "%s: has %u virtio devices, this VM %u (start it with the same --drive, "
			 "--rng and --console options)",
			 L->what, L->nvirtio, n);
		return -EINVAL;
	}
	return 0;
}

void mig_lock_devices(struct vmm *vm)
{
	pthread_mutex_lock(&vm->io_lock);
	virtio_lock_all(vm);
}

void mig_unlock_devices(struct vmm *vm)
{
	virtio_unlock_all(vm);
	pthread_mutex_unlock(&vm->io_lock);
}
