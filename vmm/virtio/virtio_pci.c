/* SPDX-License-Identifier: MIT */
/*
 * The virtio-pci modern transport (virtio 1.2, 4.1) with MSI-X, and the
 * vhost-style worker that serves each device's queues.
 *
 * Each device is a PCI function 1af4:(0x1040 + device ID), revision 1 (not
 * transitional), with one 32 KiB memory BAR (BAR0):
 *
 *   0x0000  common configuration (struct virtio_pci_common_cfg, 0x38 bytes)
 *   0x1000  ISR status (reading clears it)
 *   0x2000  device-specific configuration
 *   0x3000  notifications, queue q at 0x3000 + 4 q (notify_off_multiplier 4)
 *   0x4000  MSI-X table, one entry per queue plus the configuration vector
 *   0x5000  MSI-X pending bits
 *
 * and the vendor capabilities (common, notify, ISR, device) plus MSI-X in
 * its configuration space. No INTx (interrupt pin 0): a driver uses MSI-X.
 *
 * The vhost model: a device's queues are served by a worker thread of its
 * own, woken by one eventfd per queue that the VMM registers with
 * KVM_IOEVENTFD on the queue's notify address whenever the BAR decodes, so
 * a notify never leaves KVM_RUN (if KVM refuses the ioeventfd, the MMIO exit
 * writes the eventfd instead). Completions signal an irqfd per MSI-X vector
 * (KVM_IRQFD on GSI gsi_base + vector) whose GSI route is the MSI message in
 * the vector's table entry (KVM_SET_GSI_ROUTING, rebuilt when the guest
 * writes an entry); a masked vector or function sets the pending bit
 * instead, and unmasking delivers it.
 *
 * Locking: the vCPU threads reach the BAR and the configuration space under
 * the VMM's io_lock, then take the device's lock; the worker holds only the
 * device's lock while it serves (so a reset waits for the request in
 * flight). The MSI routes of all devices are rebuilt under route_lock.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../vmm.h"
#include "virtio.h"

#define BAR_SIZE    0x8000u
#define COMMON_OFF  0x0000u
#define COMMON_LEN  0x38u
#define ISR_OFF	    0x1000u
#define DEVCFG_OFF  0x2000u
#define NOTIFY_OFF  0x3000u
#define NOTIFY_MULT 4u
#define MSIX_OFF    0x4000u
#define PBA_OFF	    0x5000u

/* configuration space: the capability chain */
#define CAP_COMMON 0x40
#define CAP_NOTIFY 0x50
#define CAP_ISR	   0x64
#define CAP_DEVICE 0x74
#define CAP_MSIX   0x84

#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11
#define MSIX_ENABLE	0x8000
#define MSIX_MASKALL	0x4000

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	  3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4

#define FIRST_SLOT 2
#define BAR_BASE   0xfe100000u
#define FIRST_GSI  24 /* after the IOAPIC's pins */
#define ISR_QUEUE  1
#define ISR_CONFIG 2

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static int kvm(struct virtio_dev *d, unsigned long req, void *arg)
{
	struct vmm *vm = d->all->vm;
	return kvmdev_ioctl(&vm->kvm, vm->vm_fd, req, arg);
}

/* ---- MSI-X and interrupts ---- */

/* MSI-X message control, as last written (config_written keeps the copy under d->lock) */
static uint16_t msix_control(const struct virtio_dev *d)
{
	return d->msix_ctrl;
}

static bool vector_masked(const struct virtio_dev *d, unsigned v)
{
	return (msix_control(d) & MSIX_MASKALL) || (d->msix[v][3] & 1);
}

/* the vector's irqfd; on softkvm its MSI goes straight to the vCPU from this thread */
static void fire(struct virtio_dev *d, unsigned v)
{
	kvmdev_signal_irqfd(&d->all->vm->kvm, d->irqfd[v]);
}

void virtio_notify_vector(struct virtio_dev *d, uint16_t v)
{
	if (v >= d->nvectors || !(msix_control(d) & MSIX_ENABLE))
		return; /* no vector, or MSI-X off (there is no INTx) */
	if (vector_masked(d, v)) {
		d->pba |= 1u << v;
		return;
	}
	fire(d, v);
}

void virtio_notify_queue(struct virtio_dev *d, unsigned q)
{
	d->isr |= ISR_QUEUE;
	virtio_notify_vector(d, d->vq[q].msix_vector);
}

/* deliver what is pending on vectors that are unmasked now */
static void msix_unmasked(struct virtio_dev *d)
{
	if (!(msix_control(d) & MSIX_ENABLE))
		return;
	for (unsigned v = 0; v < d->nvectors; v++) {
		if ((d->pba & (1u << v)) && !vector_masked(d, v)) {
			d->pba &= ~(1u << v);
			fire(d, v);
		}
	}
}

/* KVM_SET_GSI_ROUTING with the platform's routes and every device's MSI-X entries */
static void update_routes(struct virtio_devices *all)
{
	struct kvm_irq_routing_entry e[VIRTIO_MAX_DEVICES * VIRTIO_MAX_VECTORS];
	unsigned n = 0;

	pthread_mutex_lock(&all->route_lock);
	for (unsigned k = 0; k < all->ndevs; k++) {
		struct virtio_dev *d = all->dev[k];
		for (unsigned v = 0; v < d->nvectors; v++) {
			memset(&e[n], 0, sizeof(e[n]));
			e[n].gsi = d->gsi_base + v;
			e[n].type = KVM_IRQ_ROUTING_MSI;
			e[n].u.msi.address_lo = d->msix[v][0];
			e[n].u.msi.address_hi = d->msix[v][1];
			e[n].u.msi.data = d->msix[v][2];
			n++;
		}
	}
	int r = vmm_set_routing(all->vm, e, n);
	pthread_mutex_unlock(&all->route_lock);
	if (r < 0)
		fprintf(stderr, "softkvm run: virtio: KVM_SET_GSI_ROUTING: %s\n", strerror(-r));
}

static void msix_table_access(struct virtio_dev *d, uint64_t off, uint64_t *val, unsigned len,
			      bool write)
{
	uint8_t *t = (uint8_t *)d->msix;
	uint64_t size = 16ull * d->nvectors;
	bool changed = false;

	for (unsigned k = 0; k < len; k++) {
		uint64_t o = off + k;
		if (o >= size)
			continue;
		if (write) {
			uint8_t b = (uint8_t)(*val >> (8 * k));
			/* vector control: only the mask bit is writable */
			if ((o & 15) >= 12)
				b = (o & 15) == 12 ? (b & 1) : 0;
			if (t[o] != b)
				changed = true;
			t[o] = b;
		} else {
			*val &= ~(0xffull << (8 * k));
			*val |= (uint64_t)t[o] << (8 * k);
		}
	}
	if (write && changed) {
		update_routes(d->all);
		msix_unmasked(d);
	}
}

static void config_written(struct pci_device *p, unsigned reg, unsigned len)
{
	struct virtio_dev *d = (struct virtio_dev *)p;

	if (reg < CAP_MSIX + 4 && reg + len > CAP_MSIX + 2) {
		pthread_mutex_lock(&d->lock);
		d->msix_ctrl = get16(d->pci.cfg + CAP_MSIX + 2);
		msix_unmasked(d);
		pthread_mutex_unlock(&d->lock);
	}
}

/* ---- status, reset, errors ---- */

static void device_reset(struct virtio_dev *d)
{
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		virtq_reset(&d->vq[q]);
	d->driver_features = 0;
	d->dfselect = d->gfselect = 0;
	d->status = 0;
	d->isr = 0;
	d->queue_select = 0;
	d->msix_config = VIRTIO_MSI_NO_VECTOR;
	d->error_reported = false;
	if (d->ops->reset)
		d->ops->reset(d);
}

void virtio_set_needs_reset(struct virtio_dev *d, const char *why)
{
	if (d->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	d->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (!d->error_reported) {
		d->error_reported = true;
		fprintf(
		    stderr,
		    "softkvm run: %s at %s: the guest broke the device's rules (%s); the device "
		    "needs a reset\n",
		    d->name, d->where, why);
	}
	d->config_generation++;
	d->isr |= ISR_CONFIG;
	virtio_notify_vector(d, d->msix_config);
}

static bool serving(const struct virtio_dev *d)
{
	return (d->status & VIRTIO_STATUS_DRIVER_OK) && !(d->status & VIRTIO_STATUS_NEEDS_RESET);
}

static void set_status(struct virtio_dev *d, uint8_t v)
{
	if (!v) {
		device_reset(d);
		return;
	}
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(d->status & VIRTIO_STATUS_FEATURES_OK)) {
		/* accept only a subset of ours, and only the virtio 1 interface */
		if ((d->driver_features & ~d->host_features) ||
		    !(d->driver_features & (1ull << VIRTIO_F_VERSION_1)))
			v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	d->status = (uint8_t)(v | (d->status & VIRTIO_STATUS_NEEDS_RESET));
}

static uint16_t valid_vector(const struct virtio_dev *d, uint16_t v)
{
	return v < d->nvectors ? v : VIRTIO_MSI_NO_VECTOR;
}

static void queue_enable(struct virtio_dev *d, struct virtq *vq)
{
	if (vq->enabled)
		return;
	vq->event_idx = d->driver_features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = d->driver_features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	vq->enabled = true;
	if (virtq_setup(vq, &d->all->mem))
		virtio_set_needs_reset(d, vq->error);
}

/* ---- the common configuration ---- */

static void common_image(struct virtio_dev *d, uint8_t *img)
{
	struct virtq *vq = d->queue_select < d->nqueues ? &d->vq[d->queue_select] : NULL;
	uint32_t feat = d->dfselect < 2 ? (uint32_t)(d->host_features >> (32 * d->dfselect)) : 0;
	uint32_t drv = d->gfselect < 2 ? (uint32_t)(d->driver_features >> (32 * d->gfselect)) : 0;

	memset(img, 0, COMMON_LEN);
	put32(img + 0x00, d->dfselect);
	put32(img + 0x04, feat);
	put32(img + 0x08, d->gfselect);
	put32(img + 0x0c, drv);
	put16(img + 0x10, d->msix_config);
	put16(img + 0x12, (uint16_t)d->nqueues);
	img[0x14] = d->status;
	img[0x15] = d->config_generation;
	put16(img + 0x16, d->queue_select);
	if (!vq)
		return; /* queue_size 0: no such queue */
	put16(img + 0x18, vq->size);
	put16(img + 0x1a, vq->msix_vector);
	put16(img + 0x1c, vq->enabled);
	put16(img + 0x1e, d->queue_select); /* queue_notify_off */
	for (int k = 0; k < 8; k++) {
		img[0x20 + k] = (uint8_t)(vq->desc_gpa >> (8 * k));
		img[0x28 + k] = (uint8_t)(vq->avail_gpa >> (8 * k));
		img[0x30 + k] = (uint8_t)(vq->used_gpa >> (8 * k));
	}
}

static uint64_t field(const uint8_t *img, unsigned off, unsigned len)
{
	uint64_t v = 0;
	for (unsigned k = 0; k < len; k++)
		v |= (uint64_t)img[off + k] << (8 * k);
	return v;
}

static void common_write(struct virtio_dev *d, unsigned off, uint64_t val, unsigned len)
{
	static const struct {
		uint8_t off, len;
	} fields[] = {{0x00, 4}, {0x08, 4}, {0x0c, 4}, {0x10, 2}, {0x14, 1}, {0x16, 2},
		      {0x18, 2}, {0x1a, 2}, {0x1c, 2}, {0x20, 8}, {0x28, 8}, {0x30, 8}};
	uint8_t img[COMMON_LEN];

	common_image(d, img);
	for (unsigned k = 0; k < len && off + k < COMMON_LEN; k++)
		img[off + k] = (uint8_t)(val >> (8 * k));
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		unsigned fo = fields[f].off, fl = fields[f].len;
		if (off >= fo + fl || off + len <= fo)
			continue;
		uint64_t v = field(img, fo, fl);
		struct virtq *vq = d->queue_select < d->nqueues ? &d->vq[d->queue_select] : NULL;
		bool locked = vq && vq->enabled; /* a live queue's set-up is fixed */

		switch (fo) {
		case 0x00:
			d->dfselect = (uint32_t)v;
			break;
		case 0x08:
			d->gfselect = (uint32_t)v;
			break;
		case 0x0c:
			if (d->gfselect < 2 && !(d->status & VIRTIO_STATUS_FEATURES_OK)) {
				unsigned sh = 32 * d->gfselect;
				d->driver_features &= ~(0xffffffffull << sh);
				d->driver_features |= (v & 0xffffffffull) << sh;
			}
			break;
		case 0x10:
			d->msix_config = valid_vector(d, (uint16_t)v);
			break;
		case 0x14:
			set_status(d, (uint8_t)v);
			break;
		case 0x16:
			d->queue_select = (uint16_t)v;
			break;
		case 0x18:
			if (vq && !locked)
				vq->size = (uint16_t)v;
			break;
		case 0x1a:
			if (vq)
				vq->msix_vector = valid_vector(d, (uint16_t)v);
			break;
		case 0x1c:
			if (vq && v == 1)
				queue_enable(d, vq);
			break;
		case 0x20:
			if (vq && !locked)
				vq->desc_gpa = v;
			break;
		case 0x28:
			if (vq && !locked)
				vq->avail_gpa = v;
			break;
		case 0x30:
			if (vq && !locked)
				vq->used_gpa = v;
			break;
		}
	}
}

/* ---- the BAR ---- */

static void kick(struct virtio_dev *d, unsigned q)
{
	uint64_t one = 1;

	if (write(d->kick[q], &one, sizeof(one)) < 0) {
		/* saturated: the worker will run anyway */
	}
}

static void bar_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct virtio_dev *d = dev;

	pthread_mutex_lock(&d->lock);
	if (off < COMMON_LEN) {
		if (write) {
			common_write(d, (unsigned)off, *val, len);
		} else {
			uint8_t img[COMMON_LEN];
			common_image(d, img);
			*val = 0;
			for (unsigned k = 0; k < len && off + k < COMMON_LEN; k++)
				*val |= (uint64_t)img[off + k] << (8 * k);
		}
	} else if (off >= ISR_OFF && off < ISR_OFF + 4) {
		if (!write) {
			*val = off == ISR_OFF ? d->isr : 0;
			if (off == ISR_OFF)
				d->isr = 0; /* reading acknowledges */
		}
	} else if (off >= DEVCFG_OFF && off < DEVCFG_OFF + VIRTIO_CONFIG_MAX) {
		unsigned o = (unsigned)(off - DEVCFG_OFF);
		if (!write) {
			*val = 0;
			for (unsigned k = 0; k < len && o + k < d->config_len; k++)
				*val |= (uint64_t)d->config[o + k] << (8 * k);
		}
		/* no writable device configuration fields are offered */
	} else if (off >= NOTIFY_OFF && off < NOTIFY_OFF + NOTIFY_MULT * VIRTIO_MAX_QUEUES) {
		/* only when KVM did not take the ioeventfd: wake the worker ourselves */
		unsigned q = (unsigned)(off - NOTIFY_OFF) / NOTIFY_MULT;
		if (write && q < d->nqueues)
			kick(d, q);
	} else if (off >= MSIX_OFF && off < MSIX_OFF + 16 * VIRTIO_MAX_VECTORS) {
		msix_table_access(d, off - MSIX_OFF, val, len, write);
	} else if (off >= PBA_OFF && off < PBA_OFF + 8) {
		if (!write)
			*val = off == PBA_OFF ? d->pba : 0;
	} else if (!write) {
		*val = 0;
	}
	pthread_mutex_unlock(&d->lock);
}

/* the BAR moved (or stopped decoding): the ioeventfds follow the notify area */
static void assign_kicks(struct virtio_dev *d, uint64_t base, bool assign)
{
	for (unsigned q = 0; q < d->nqueues; q++) {
		struct kvm_ioeventfd io = {
		    .addr = base + NOTIFY_OFF + NOTIFY_MULT * q,
		    .len = 2, /* the driver writes the 16-bit queue index */
		    .fd = d->kick[q],
		    .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
		};
		if (assign == d->kick_assigned[q])
			continue;
		int r = kvm(d, KVM_IOEVENTFD, &io);
		if (r < 0 && assign) {
			d->kick_by_ioeventfd = false;
			continue;
		}
		d->kick_assigned[q] = assign;
	}
}

static void bar_moved(struct pci_device *p, unsigned bar, uint64_t addr, bool on)
{
	struct virtio_dev *d = (struct virtio_dev *)p;
	uint64_t want = on ? addr : 0;

	if (bar != 0 || want == d->kick_addr)
		return;
	if (d->kick_addr)
		assign_kicks(d, d->kick_addr, false);
	d->kick_addr = want;
	if (want)
		assign_kicks(d, want, true);
}

/* ---- the worker ---- */

static void serve_queue(struct virtio_dev *d, unsigned q)
{
	struct virtq *vq = &d->vq[q];
	bool pushed = false;
	int r = 0;

	if (!vq->enabled || !serving(d) || (d->host_fed & (1u << q)))
		return;
	for (;;) {
		while ((r = virtq_pop(vq, &d->all->mem, d->chain)) > 0) {
			uint32_t written = 0;
			const char *why = NULL;

			if (d->ops->chain(d, q, d->chain, &written, &why) < 0) {
				r = -EINVAL;
				vq->error = why;
				break;
			}
			virtq_push_chain(vq, d->chain, written);
			pushed = true;
		}
		if (r < 0 || !virtq_arm_notify(vq))
			break;
	}
	if (pushed && virtq_need_interrupt(vq))
		virtio_notify_queue(d, q);
	if (r < 0)
		virtio_set_needs_reset(d, vq->error ? vq->error : "a bad request");
}

static void *worker(void *arg)
{
	struct virtio_dev *d = arg;
	struct pollfd p[1 + VIRTIO_MAX_QUEUES];

	p[0] = (struct pollfd){.fd = d->stopfd, .events = POLLIN};
	for (unsigned q = 0; q < d->nqueues; q++)
		p[1 + q] = (struct pollfd){.fd = d->kick[q], .events = POLLIN};
	for (;;) {
		if (poll(p, 1 + d->nqueues, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		pthread_mutex_lock(&d->lock);
		for (unsigned q = 0; q < d->nqueues; q++) {
			uint64_t cnt;
			if (!p[1 + q].revents)
				continue;
			if (read(d->kick[q], &cnt, sizeof(cnt)) < 0) {
				/* EAGAIN: someone else drained it */
			}
			serve_queue(d, q);
		}
		pthread_mutex_unlock(&d->lock);
	}
	return NULL;
}

/* ---- creation ---- */

static void vendor_cap(uint8_t *c, uint8_t next, uint8_t len, uint8_t type, uint32_t off,
		       uint32_t length)
{
	c[0] = PCI_CAP_ID_VNDR;
	c[1] = next;
	c[2] = len;
	c[3] = type;
	c[4] = 0; /* BAR0 */
	put32(c + 8, off);
	put32(c + 12, length);
}

static void dev_free(struct virtio_dev *d)
{
	if (d->thread_started) {
		uint64_t one = 1;
		if (write(d->stopfd, &one, sizeof(one)) < 0) {
			/* cannot happen with a fresh eventfd */
		}
		pthread_join(d->thread, NULL);
	}
	if (d->ops && d->ops->destroy)
		d->ops->destroy(d);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (d->kick[q] >= 0)
			close(d->kick[q]);
	for (unsigned v = 0; v < VIRTIO_MAX_VECTORS; v++)
		if (d->irqfd[v] >= 0)
			close(d->irqfd[v]);
	if (d->stopfd >= 0)
		close(d->stopfd);
	free(d->chain);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static struct virtio_dev *dev_alloc(void)
{
	struct virtio_dev *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	pthread_mutex_init(&d->lock, NULL);
	d->stopfd = -1;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		d->kick[q] = -1;
	for (unsigned v = 0; v < VIRTIO_MAX_VECTORS; v++)
		d->irqfd[v] = -1;
	return d;
}

/* after the device constructor: PCI identity, capabilities, eventfds, the worker */
static int dev_plug(struct virtio_devices *all, struct virtio_dev *d, uint16_t devid,
		    uint32_t class_code, char *err, size_t errlen)
{
	struct vmm *vm = all->vm;
	unsigned slot = FIRST_SLOT + all->ndevs;
	uint8_t *c;
	int r;

	/* pci_device_init clears the PCI part: keep the hooks for after it */
	pci_device_init(&d->pci, d->name, 0x1af4, (uint16_t)(0x1040 + devid), 0x01, class_code);
	d->pci.bar_moved = bar_moved;
	d->pci.config_written = config_written;
	c = d->pci.cfg;
	put16(c + PCI_STATUS, PCI_STATUS_CAP_LIST);
	c[PCI_CAPABILITY_LIST] = CAP_COMMON;
	vendor_cap(c + CAP_COMMON, CAP_NOTIFY, 16, VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFF,
		   COMMON_LEN);
	vendor_cap(c + CAP_NOTIFY, CAP_ISR, 20, VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFF,
		   NOTIFY_MULT * d->nqueues);
	put32(c + CAP_NOTIFY + 16, NOTIFY_MULT);
	vendor_cap(c + CAP_ISR, CAP_DEVICE, 16, VIRTIO_PCI_CAP_ISR_CFG, ISR_OFF, 1);
	vendor_cap(c + CAP_DEVICE, CAP_MSIX, 16, VIRTIO_PCI_CAP_DEVICE_CFG, DEVCFG_OFF,
		   d->config_len ? d->config_len : 4);
	c[CAP_MSIX] = PCI_CAP_ID_MSIX;
	c[CAP_MSIX + 1] = 0;
	put16(c + CAP_MSIX + 2, (uint16_t)(d->nvectors - 1));
	d->msix_ctrl = (uint16_t)(d->nvectors - 1);
	put32(c + CAP_MSIX + 4, MSIX_OFF); /* BIR 0 */
	put32(c + CAP_MSIX + 8, PBA_OFF);
	d->pci.wmask[CAP_MSIX + 3] = 0xc0; /* enable, function mask */
	for (unsigned v = 0; v < d->nvectors; v++)
		d->msix[v][3] = 1; /* masked at reset */
	pci_device_add_bar(&d->pci, 0, false, BAR_SIZE, d, bar_access);
	snprintf(d->where, sizeof(d->where), "00:%02x.0", slot);

	d->host_features |= (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
			    (1ull << VIRTIO_RING_F_EVENT_IDX);
	d->all = all;
	d->gsi_base = all->next_gsi;
	d->kick_by_ioeventfd = true;
	device_reset(d);

	d->chain = malloc(sizeof(*d->chain));
	d->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!d->chain || d->stopfd < 0)
		goto sys;
	for (unsigned q = 0; q < d->nqueues; q++) {
		d->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (d->kick[q] < 0)
			goto sys;
	}
	for (unsigned v = 0; v < d->nvectors; v++) {
		struct kvm_irqfd f = {.gsi = d->gsi_base + v};

		d->irqfd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (d->irqfd[v] < 0)
			goto sys;
		f.fd = (uint32_t)d->irqfd[v];
		r = kvm(d, KVM_IRQFD, &f);
		if (r < 0) {
			snprintf(err, errlen, "%s: KVM_IRQFD: %s", d->name, strerror(-r));
			return r;
		}
	}
	r = pci_bus_plug(&vm->pci, slot, &d->pci);
	if (r < 0) {
		snprintf(err, errlen, "%s: no room on the PCI bus (slot %u): %s", d->name, slot,
			 strerror(-r));
		return r;
	}
	all->dev[all->ndevs++] = d;
	all->next_gsi += d->nvectors;
	/* as firmware leaves it: the BAR assigned and decoding (the ioeventfds follow it) */
	pci_assign_bar(&vm->pci, &d->pci, 0, BAR_BASE + (slot - FIRST_SLOT) * BAR_SIZE);
	pci_enable(&vm->pci, &d->pci, PCI_COMMAND_MEMORY);
	r = pthread_create(&d->thread, NULL, d->ops->worker ? d->ops->worker : worker, d);
	if (r) {
		snprintf(err, errlen, "%s: cannot start its worker thread: %s", d->name,
			 strerror(r));
		return -r;
	}
	d->thread_started = true;
	return 0;
sys:
	r = -errno;
	snprintf(err, errlen, "%s: %s", d->name, strerror(errno));
	return r;
}

int virtio_create(struct vmm *vm, const struct virtio_opts *o, char *err, size_t errlen)
{
	struct virtio_devices *all;
	int r = 0;

	if (!o->ndrives && !o->rng && !o->console && !o->net.user && !o->net.tap[0] &&
	    !o->vsock.path[0])
		return 0;
	if (vm->irqchip == VMM_IRQCHIP_OFF) {
		snprintf(err, errlen,
			 "--drive, --rng, --console virtio, --net and --vsock need the in-kernel "
			 "irqchip (their interrupts are MSI-X), not --irqchip off");
		return -EINVAL;
	}
	{
		const char *copy = getenv("SOFTKVM_VIRTIO_RING_COPY");
		virtio_ring_copy = copy && !strcmp(copy, "1");
	}
	all = calloc(1, sizeof(*all));
	if (!all) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&all->route_lock, NULL);
	all->vm = vm;
	all->next_gsi = FIRST_GSI;
	/* the memory slots, as the VMM set them (vmm_create_vm) */
	all->mem.r[all->mem.n++] = (struct virtio_mem_region){0, vm->low_size, vm->ram};
	if (vm->high_size)
		all->mem.r[all->mem.n++] = (struct virtio_mem_region){0x100000000ull, vm->high_size,
								      vm->ram + vm->low_size};
	for (unsigned k = 0; k < all->mem.n; k++) {
		all->mem.r[k].dirty = calloc((all->mem.r[k].size / 4096 + 63) / 64, 8);
		if (!all->mem.r[k].dirty) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	vm->virtio = all;

	/* the drives in order, then the RNG, the console, the network, vsock */
	for (unsigned k = 0; k < o->ndrives + 4 && !r; k++) {
		struct virtio_dev *d;

		if ((k == o->ndrives && !o->rng) || (k == o->ndrives + 1 && !o->console) ||
		    (k == o->ndrives + 2 && !o->net.user && !o->net.tap[0]) ||
		    (k == o->ndrives + 3 && !o->vsock.path[0]))
			continue;
		d = dev_alloc();
		if (!d) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		if (k < o->ndrives) {
			r = virtio_blk_init(d, &o->drive[k], err, errlen);
			if (!r)
				r = dev_plug(all, d, 2, 0x018000, err, errlen);
		} else if (k == o->ndrives) {
			r = virtio_rng_init(d, err, errlen);
			if (!r)
				r = dev_plug(all, d, 4, 0x00ff00, err, errlen);
		} else if (k == o->ndrives + 3) {
			r = virtio_vsock_init(d, &o->vsock, err, errlen);
			if (!r)
				r = dev_plug(all, d, 19, 0x078000, err, errlen);
		} else if (k == o->ndrives + 2) {
			r = virtio_net_init(d, &o->net, err, errlen);
			if (!r)
				r = dev_plug(all, d, 1, 0x020000, err, errlen);
		} else {
			r = virtio_console_init(d, STDOUT_FILENO, err, errlen);
			if (!r)
				r = dev_plug(all, d, 3, 0x078000, err, errlen);
			if (!r)
				all->console = d;
		}
		if (r && (!all->ndevs || all->dev[all->ndevs - 1] != d))
			dev_free(d);
	}
	if (!r)
		update_routes(all);
	return r;
}

void virtio_destroy(struct vmm *vm)
{
	struct virtio_devices *all = vm->virtio;

	if (!all)
		return;
	for (unsigned k = 0; k < all->ndevs; k++)
		dev_free(all->dev[k]);
	pthread_mutex_destroy(&all->route_lock);
	for (unsigned k = 0; k < all->mem.n; k++)
		free(all->mem.r[k].dirty);
	free(all);
	vm->virtio = NULL;
}

/* ---- snapshots and migration ---- */

void virtio_lock_all(struct vmm *vm)
{
	for (unsigned k = 0; vm->virtio && k < vm->virtio->ndevs; k++)
		pthread_mutex_lock(&vm->virtio->dev[k]->lock);
}

void virtio_unlock_all(struct vmm *vm)
{
	for (unsigned k = 0; vm->virtio && k < vm->virtio->ndevs; k++)
		pthread_mutex_unlock(&vm->virtio->dev[k]->lock);
}

void virtio_harvest_dirty(struct vmm *vm, uint64_t gpa, uint64_t *bm, uint64_t npages)
{
	struct virtio_devices *all = vm->virtio;

	for (unsigned k = 0; all && k < all->mem.n; k++) {
		struct virtio_mem_region *r = &all->mem.r[k];
		if (r->gpa != gpa || !r->dirty)
			continue;
		uint64_t words = ((r->size / 4096 < npages ? r->size / 4096 : npages) + 63) / 64;
		for (uint64_t w = 0; w < words; w++)
			if (__atomic_load_n(&r->dirty[w], __ATOMIC_RELAXED))
				bm[w] |= __atomic_exchange_n(&r->dirty[w], 0, __ATOMIC_ACQ_REL);
	}
}

/* the record (fixed layout, little-endian like the host) */
struct vstate {
	char name[16];
	uint64_t host_features, driver_features;
	uint32_t dfselect, gfselect;
	uint8_t status, config_generation, isr, pad0;
	uint16_t queue_select, msix_config;
	uint32_t nqueues, nvectors, pba;
	uint16_t msix_ctrl, pad1;
	uint32_t msix[VIRTIO_MAX_VECTORS][4];
	struct {
		uint64_t desc, avail, used;
		uint16_t size, msix_vector, last_avail, used_idx, signalled_used;
		uint8_t enabled, event_idx, indirect, signalled_valid, pad[4];
	} vq[VIRTIO_MAX_QUEUES];
};
_Static_assert(sizeof(struct vstate) <= VIRTIO_STATE_LEN, "VIRTIO_STATE_LEN");

int virtio_save_state(struct vmm *vm, unsigned k, uint8_t *buf, char *err, size_t errlen)
{
	struct virtio_dev *d = vm->virtio->dev[k];
	struct vstate s;

	if (!strcmp(d->name, "virtio-net")) {
		snprintf(err, errlen,
			 "virtio-net (%s): the network backend's connections cannot be saved",
			 d->where);
		return -EBUSY;
	}
	if (!strcmp(d->name, "virtio-vsock")) {
		snprintf(err, errlen,
			 "virtio-vsock (%s): its connections to host sockets cannot be saved",
			 d->where);
		return -EBUSY;
	}
	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s", d->name);
	s.host_features = d->host_features;
	s.driver_features = d->driver_features;
	s.dfselect = d->dfselect;
	s.gfselect = d->gfselect;
	s.status = d->status;
	s.config_generation = d->config_generation;
	s.isr = d->isr;
	s.queue_select = d->queue_select;
	s.msix_config = d->msix_config;
	s.nqueues = d->nqueues;
	s.nvectors = d->nvectors;
	s.pba = d->pba;
	s.msix_ctrl = d->msix_ctrl;
	memcpy(s.msix, d->msix, sizeof(s.msix));
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		const struct virtq *vq = &d->vq[q];
		if (vq->error) {
			snprintf(err, errlen,
				 "%s (%s): queue %u is broken (%s); reset the device first",
				 d->name, d->where, q, vq->error);
			return -EBUSY;
		}
		s.vq[q].desc = vq->desc_gpa;
		s.vq[q].avail = vq->avail_gpa;
		s.vq[q].used = vq->used_gpa;
		s.vq[q].size = vq->size;
		s.vq[q].msix_vector = vq->msix_vector;
		s.vq[q].last_avail = vq->last_avail;
		s.vq[q].used_idx = vq->used_idx;
		s.vq[q].signalled_used = vq->signalled_used;
		s.vq[q].enabled = vq->enabled;
		s.vq[q].event_idx = vq->event_idx;
		s.vq[q].indirect = vq->indirect;
		s.vq[q].signalled_valid = vq->signalled_valid;
	}
	memset(buf, 0, VIRTIO_STATE_LEN);
	memcpy(buf, &s, sizeof(s));
	return 0;
}

int virtio_check_state(struct vmm *vm, unsigned k, const uint8_t *buf, char *err, size_t errlen)
{
	struct virtio_dev *d = vm->virtio && k < vm->virtio->ndevs ? vm->virtio->dev[k] : NULL;
	struct vstate s;

	memcpy(&s, buf, sizeof(s));
	s.name[sizeof(s.name) - 1] = 0;
	if (!d || strcmp(s.name, d->name) || s.host_features != d->host_features ||
	    s.nqueues != d->nqueues || s.nvectors != d->nvectors) {
		snprintf(err, errlen,
			 "virtio device %u is a %s with features %#llx there, %s here (start the "
			 "target with the same --drive, --rng and --console options)",
			 k, s.name, (unsigned long long)s.host_features, d ? d->name : "nothing");
		return -EINVAL;
	}
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (s.vq[q].size > VIRTQ_MAX_SIZE || (s.vq[q].size & (s.vq[q].size - 1))) {
			snprintf(err, errlen, "virtio device %u: queue %u of size %u", k, q,
				 s.vq[q].size);
			return -EINVAL;
		}
	return 0;
}

void virtio_load_state(struct vmm *vm, unsigned k, const uint8_t *buf)
{
	struct virtio_dev *d = vm->virtio->dev[k];
	struct vstate s;

	memcpy(&s, buf, sizeof(s));
	d->driver_features = s.driver_features;
	d->dfselect = s.dfselect;
	d->gfselect = s.gfselect;
	d->status = s.status;
	d->config_generation = s.config_generation;
	d->isr = s.isr;
	d->queue_select = s.queue_select;
	d->msix_config = s.msix_config;
	d->pba = s.pba;
	d->msix_ctrl = s.msix_ctrl;
	memcpy(d->msix, s.msix, sizeof(d->msix));
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		struct virtq *vq = &d->vq[q];
		virtq_reset(vq);
		vq->desc_gpa = s.vq[q].desc;
		vq->avail_gpa = s.vq[q].avail;
		vq->used_gpa = s.vq[q].used;
		vq->size = s.vq[q].size;
		vq->msix_vector = s.vq[q].msix_vector;
		vq->last_avail = s.vq[q].last_avail;
		vq->used_idx = s.vq[q].used_idx;
		vq->signalled_used = s.vq[q].signalled_used;
		vq->enabled = s.vq[q].enabled;
		vq->event_idx = s.vq[q].event_idx;
		vq->indirect = s.vq[q].indirect;
		vq->signalled_valid = s.vq[q].signalled_valid;
		/* the rings are resolved again at the next pop (ready is false) */
	}
}

void virtio_restored(struct vmm *vm)
{
	struct virtio_devices *all = vm->virtio;
	uint64_t one = 1;

	if (!all || !all->ndevs)
		return;
	update_routes(all);
	for (unsigned k = 0; k < all->ndevs; k++) {
		struct virtio_dev *d = all->dev[k];
		for (unsigned q = 0; q < d->nqueues; q++)
			if (d->kick[q] >= 0 && write(d->kick[q], &one, sizeof(one)) < 0) {
				/* a full eventfd is kicked already */
			}
	}
}
