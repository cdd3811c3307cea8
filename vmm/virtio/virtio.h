/* SPDX-License-Identifier: MIT */
/*
 * virtio 1.x devices for `softkvm run` (README.md in this folder): the one
 * interface of vmm/virtio/.
 *
 *   - guest memory as the device sees it (struct virtio_mem): the VMM's
 *     memory slots, with a generation that changes with the map;
 *   - split virtqueues (struct virtq, virtqueue.c): rings reached through
 *     host pointers resolved when the driver enables the queue and again
 *     when the map's generation changes, every guest value checked;
 *   - the virtio-pci modern transport with MSI-X and the vhost-style worker
 *     (struct virtio_dev, virtio_pci.c): one thread per device, woken by
 *     ioeventfds on the queue-notify addresses, interrupts through irqfds
 *     on MSI routes;
 *   - the devices (blk.c, rng.c, vconsole.c, net.c, vsock.c) and the command-line options.
 *
 * Nothing here includes softkvm's own headers: only <linux/kvm.h> through
 * the VMM, so the devices work on any KVM.
 */
#ifndef SOFTKVM_VMM_VIRTIO_H
#define SOFTKVM_VMM_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../dev_pci.h"

/* ---- feature bits and status (virtio 1.2, 6 and 2.1) ---- */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX	    29
#define VIRTIO_F_VERSION_1	    32

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER	  2
#define VIRTIO_STATUS_DRIVER_OK	  4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED	  128

#define VIRTQ_DESC_F_NEXT	   1
#define VIRTQ_DESC_F_WRITE	   2
#define VIRTQ_DESC_F_INDIRECT	   4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

#define VIRTIO_MSI_NO_VECTOR 0xffff

/* the largest queue a device offers (a power of two; the driver may pick less) */
#define VIRTQ_MAX_SIZE 256

/* ---- guest memory ---- */
#define VIRTIO_MEM_MAX_REGIONS 4

struct virtio_mem_region {
	uint64_t gpa, size;
	uint8_t *hva;
	/*
	 * Bit per page the devices wrote (used rings, the writable buffers of
	 * the chains they pushed): KVM's dirty log sees only the vCPUs' writes,
	 * migration ORs these in (virtio_harvest_dirty). NULL: not tracked.
	 */
	uint64_t *dirty;
};

struct virtio_mem {
	unsigned n;
	struct virtio_mem_region r[VIRTIO_MEM_MAX_REGIONS];
	/* bumped (under the owner's lock) whenever the regions change */
	unsigned gen;
};

/*
 * The host address of guest range [gpa, gpa + len) if it lies wholly in one
 * region (len 0: gpa itself must be in RAM), else NULL. Overflowing ranges
 * are NULL.
 */
void *virtio_mem_map(const struct virtio_mem *m, uint64_t gpa, uint64_t len);
/* The device wrote host range [hva, hva + len) of guest memory: mark its pages dirty. */
void virtio_mem_mark(const struct virtio_mem *m, const void *hva, size_t len);

/* ---- split virtqueues (virtio 1.2, 2.7) ---- */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct virtq_used_elem {
	uint32_t id, len;
};

struct virtq {
	/* what the driver programmed through the transport */
	uint16_t size;
	uint16_t msix_vector;
	bool enabled;
	uint64_t desc_gpa, avail_gpa, used_gpa;

	/* negotiated ring features */
	bool event_idx, indirect;

	/* resolved rings (host pointers into guest memory), for mem_gen */
	struct virtq_desc *desc;
	uint16_t *avail; /* flags, idx, ring[size], used_event */
	uint16_t *used;	 /* flags, idx, then elements, then avail_event */
	unsigned mem_gen;
	const struct virtio_mem *mem; /* what they were resolved against (dirty marks too) */
	bool ready;		      /* rings resolved */
	bool copy;		      /* virtio_ring_copy when the queue was set up */

	/* the device's side */
	uint16_t last_avail, used_idx;
	uint16_t signalled_used;
	bool signalled_valid;
	const char *error; /* the guest's first mistake on this queue, or NULL */
};

/* one descriptor chain: the readable buffers first, then the writable ones */
struct virtq_chain {
	uint16_t head;
	unsigned nout, nin;
	uint64_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_SIZE];
};

/*
 * The benchmark's slow path (make bench-virtio): when set, queues set up
 * afterwards translate the ring's guest address on every ring access instead
 * of using the mapping resolved at setup. softkvm run sets it from
 * SOFTKVM_VIRTIO_RING_COPY=1; nothing else does.
 */
extern bool virtio_ring_copy;

/* Forget everything (device reset); the queue is disabled. */
void virtq_reset(struct virtq *vq);
/*
 * Resolve the rings the driver programmed (size, addresses) against `m`:
 * 0, or -EINVAL with vq->error set when they are not a power-of-two size
 * up to VIRTQ_MAX_SIZE, not aligned or not wholly in RAM.
 */
int virtq_setup(struct virtq *vq, const struct virtio_mem *m);
/*
 * Take the next available chain into *c: 1, 0 when the ring is empty, or
 * -EINVAL (vq->error says why) when the guest's ring is nonsense: an avail
 * index more than the queue size ahead, a head or next index out of range,
 * a loop or a chain longer than the queue, a buffer outside RAM or whose
 * length overflows, a readable buffer after a writable one, a bad indirect
 * table. Re-resolves the rings first when m's generation changed.
 */
int virtq_pop(struct virtq *vq, const struct virtio_mem *m, struct virtq_chain *c);
/* Give chain `head` back with `written` bytes written into its writable buffers. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t written);
/* The same for chain c, whose writable buffers are marked dirty first (virtio_mem_mark). */
void virtq_push_chain(struct virtq *vq, const struct virtq_chain *c, uint32_t written);
/*
 * After a batch of pops: with EVENT_IDX, publish avail_event (the driver
 * then notifies for the next buffer). True when more buffers became
 * available meanwhile (process them before sleeping).
 */
bool virtq_arm_notify(struct virtq *vq);
/* After a batch of pushes: does the driver want an interrupt (EVENT_IDX or NO_INTERRUPT)? */
bool virtq_need_interrupt(struct virtq *vq);
/* virtio 1.2, 2.7.10: vring_need_event */
static inline bool virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* copy between a chain's buffers and a flat buffer, from byte `off` of the readable (or writable)
 * part */
size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, size_t len);

/* ---- the virtio-pci transport and its worker ---- */
#define VIRTIO_MAX_QUEUES  4
#define VIRTIO_MAX_VECTORS (VIRTIO_MAX_QUEUES + 1)
#define VIRTIO_CONFIG_MAX  64

struct vmm;
struct virtio_dev;
struct virtio_devices;

struct virtio_dev_ops {
	/*
	 * One chain popped from queue q (worker thread, d->lock held): do the
	 * request, set *written to the bytes written into its writable
	 * buffers; 0, or -EINVAL with *why set when the chain breaks the
	 * device's rules (the device then needs a reset).
	 */
	int (*chain)(struct virtio_dev *d, unsigned q, const struct virtq_chain *c,
		     uint32_t *written, const char **why);
	/* the driver reset the device (d->lock held) */
	void (*reset)(struct virtio_dev *d);
	/* free the device's own state (after the worker stopped) */
	void (*destroy)(struct virtio_dev *d);
	/*
	 * Optional: a device with a loop of its own (virtio-net: the user
	 * network's sockets and timers beside its queues) runs this as its
	 * worker thread instead of the generic one; it serves d->kick[] itself
	 * and returns once d->stopfd is readable.
	 */
	void *(*worker)(void *d);
};

struct virtio_dev {
	struct pci_device pci; /* first: the PCI hooks get it */
	const char *name;      /* "virtio-blk" */
	char where[16];	       /* "00:02.0" */
	struct virtio_devices *all;
	const struct virtio_dev_ops *ops;
	void *priv;

	pthread_mutex_t lock; /* everything below; taken after the VMM's io_lock */
	uint64_t host_features, driver_features;
	uint32_t dfselect, gfselect;
	uint8_t status, config_generation, isr;
	uint16_t queue_select, msix_config;
	unsigned nqueues;
	uint32_t host_fed; /* queues the worker does not serve (filled as host data comes) */
	struct virtq vq[VIRTIO_MAX_QUEUES];
	uint8_t config[VIRTIO_CONFIG_MAX];
	unsigned config_len;
	bool error_reported;

	/* MSI-X: table entries (addr lo, addr hi, data, control), pending bits */
	unsigned nvectors;
	uint32_t msix[VIRTIO_MAX_VECTORS][4];
	uint32_t pba;
	uint16_t msix_ctrl; /* the capability's message control, copied under the lock */
	unsigned gsi_base;
	int irqfd[VIRTIO_MAX_VECTORS];

	/* the worker: kick[q] is the queue's ioeventfd, stopfd ends it */
	int kick[VIRTIO_MAX_QUEUES];
	bool kick_assigned[VIRTIO_MAX_QUEUES];
	uint64_t kick_addr;	/* notify area's guest address while the BAR decodes, else 0 */
	bool kick_by_ioeventfd; /* false: KVM refused, notify writes come to the VMM */
	int stopfd;
	struct virtq_chain *chain; /* the worker's */
	pthread_t thread;
	bool thread_started;
};

/* Signal vector v (worker or vCPU thread, d->lock held): MSI-X rules, pending bits. */
void virtio_notify_vector(struct virtio_dev *d, uint16_t v);
/* Interrupt for queue q if the driver wants one (after pushes; d->lock held). */
void virtio_notify_queue(struct virtio_dev *d, unsigned q);
/*
 * The guest broke the device's rules: set DEVICE_NEEDS_RESET, stop its
 * queues and send the configuration-change interrupt; one line on stderr
 * the first time (d->lock held).
 */
void virtio_set_needs_reset(struct virtio_dev *d, const char *why);

/* ---- devices and options ---- */
#define VIRTIO_MAX_DRIVES 8

struct virtio_drive_opts {
	const char *file;
	bool readonly;
	bool direct;	   /* cache=none: O_DIRECT */
	bool writethrough; /* cache=writethrough: O_DSYNC */
	char serial[21];   /* up to 20 bytes (VIRTIO_BLK_ID_BYTES) */
};

#define VIRTIO_NET_MAX_FWD 8

/* --net user[,hostfwd=[tcp|udp]:[HADDR]:HPORT-[GADDR]:GPORT]... */
struct virtio_net_fwd {
	bool udp;
	uint32_t host_addr, guest_addr; /* host byte order; guest 0: 10.0.2.15 */
	uint16_t host_port, guest_port;
	char text[128]; /* as given, for messages */
};

struct virtio_net_opts {
	bool user;
	char tap[16]; /* --net tap=IFNAME (IFNAMSIZ), or "" */
	unsigned nfwd;
	struct virtio_net_fwd fwd[VIRTIO_NET_MAX_FWD];
};

/* --vsock cid=N,path=SOCK (vsock.c) */
struct virtio_vsock_opts {
	uint64_t cid;	/* 3 .. 0xfffffffe */
	char path[108]; /* "": no --vsock */
};

struct virtio_opts {
	struct virtio_net_opts net;
	struct virtio_vsock_opts vsock;
	unsigned ndrives;
	struct virtio_drive_opts drive[VIRTIO_MAX_DRIVES];
	bool rng;
	bool console; /* --console virtio */
};

/*
 * The options softkvm run hands over (vmm/cmd_run.c): --drive VALUE and
 * --console VALUE (--rng takes none). virtio_parse_option() parses one into
 * o: 0, or -EINVAL after writing one line (naming the option) into err.
 */
bool virtio_option_known(const char *name);
int virtio_parse_option(struct virtio_opts *o, const char *name, const char *val, char *err,
			size_t errlen);
int virtio_parse_drive(struct virtio_opts *o, const char *val, char *err, size_t errlen);
int virtio_parse_net(struct virtio_opts *o, const char *val, char *err, size_t errlen);
int virtio_parse_vsock(struct virtio_opts *o, const char *val, char *err, size_t errlen);

#define VIRTIO_MAX_DEVICES (VIRTIO_MAX_DRIVES + 4)

struct virtio_devices {
	struct vmm *vm;
	struct virtio_mem mem;
	pthread_mutex_t route_lock; /* the MSI routes of every device */
	unsigned ndevs;
	struct virtio_dev *dev[VIRTIO_MAX_DEVICES];
	struct virtio_dev *console; /* --console virtio, or NULL */
	unsigned next_gsi;
};

/*
 * Create the devices `o` asks for on vm's PCI bus (after the VM, its
 * irqchip and memory exist, before the vCPUs run): open the files, plug
 * the functions at 00:02.0 upward with their BAR assigned, create the
 * irqfds and start the workers. 0, or -errno with one line in err.
 */
int virtio_create(struct vmm *vm, const struct virtio_opts *o, char *err, size_t errlen);
/* Stop the workers and free everything (before the VM is closed). */
void virtio_destroy(struct vmm *vm);

/*
 * Snapshots and migration (vmm/migration/). With every device's lock held
 * (virtio_lock_all, after the VMM's io_lock) no worker is inside a request:
 * the queues' state is whole and nothing writes guest memory.
 */
void virtio_lock_all(struct vmm *vm);
void virtio_unlock_all(struct vmm *vm);
/* OR into bm (npages bits) the pages the devices wrote in the region at gpa since the last
 * call, and forget them */
void virtio_harvest_dirty(struct vmm *vm, uint64_t gpa, uint64_t *bm, uint64_t npages);
/* one device's transport and queue state (a fixed-size record) */
#define VIRTIO_STATE_LEN 512
/*
 * Device k's state into buf (VIRTIO_STATE_LEN bytes): 0, or -EBUSY with one
 * line in err when it is in a state that cannot be saved (virtio-net's user
 * network, a queue the guest broke).
 */
int virtio_save_state(struct vmm *vm, unsigned k, uint8_t *buf, char *err, size_t errlen);
/* Does buf fit device k of this VM (the same kind and features)? 0 or -EINVAL + err. */
int virtio_check_state(struct vmm *vm, unsigned k, const uint8_t *buf, char *err, size_t errlen);
/* Load it (after virtio_check_state; the device locks held); the routes and queues follow. */
void virtio_load_state(struct vmm *vm, unsigned k, const uint8_t *buf);
/* After the loads, locks released: routes, and a kick for every queue. */
void virtio_restored(struct vmm *vm);

/* device constructors (blk.c, rng.c): fill d's identity, config, features and ops */
int virtio_blk_init(struct virtio_dev *d, const struct virtio_drive_opts *o, char *err,
		    size_t errlen);
int virtio_rng_init(struct virtio_dev *d, char *err, size_t errlen);
/* virtio-console: its output goes to out_fd */
int virtio_console_init(struct virtio_dev *d, int out_fd, char *err, size_t errlen);
/*
 * virtio-net on a user-mode network (libslirp) or a tap device; fails (one
 * line) when a hostfwd cannot listen or the tap cannot be opened
 */
int virtio_net_init(struct virtio_dev *d, const struct virtio_net_opts *o, char *err,
		    size_t errlen);
/* virtio-vsock, Firecracker's hybrid vsock; fails (one line) when SOCK cannot listen */
int virtio_vsock_init(struct virtio_dev *d, const struct virtio_vsock_opts *o, char *err,
		      size_t errlen);
/*
 * Host input for the virtio console (the console thread): the bytes the
 * driver's receive buffers took (0 when it has none posted yet), or -1 when
 * the VM has no virtio console (the input goes to COM1).
 */
int virtio_console_receive(struct vmm *vm, const uint8_t *buf, unsigned n);

#endif
