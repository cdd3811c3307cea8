/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (virtio 1.2, 5.3), `--console virtio`: one port without
 * VIRTIO_CONSOLE_F_MULTIPORT (Linux makes it hvc0), the terminal on it.
 *
 * Queue 0 (receiveq) takes host input: the console thread (vmm/console.c)
 * hands what it read from standard input to virtio_console_receive(), which
 * fills the driver's receive buffers and keeps what does not fit for later
 * (the console thread retries every millisecond). Queue 1 (transmitq) is
 * served by the device's worker: its readable buffers go to standard output.
 * COM1 keeps writing to standard output too (boot messages on ttyS0); only
 * the input moves to hvc0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../vmm.h"
#include "virtio.h"

#define RXQ 0
#define TXQ 1

struct vcon {
	int out_fd;
};

static int vcon_chain(struct virtio_dev *d, unsigned q, const struct virtq_chain *c,
		      uint32_t *written, const char **why)
{
	struct vcon *v = d->priv;

	(void)why;
	*written = 0;
	if (q != TXQ)
		return 0; /* not reached: the worker leaves the receive queue alone */
	for (unsigned k = 0; k < c->nout; k++) {
		const uint8_t *p = c->iov[k].iov_base;
		size_t len = c->iov[k].iov_len;

		while (len) {
			ssize_t r = write(v->out_fd, p, len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return 0; /* output closed: the bytes are dropped, as the UART does
					   */
			p += r;
			len -= (size_t)r;
		}
	}
	return 0;
}

static void vcon_destroy(struct virtio_dev *d)
{
	free(d->priv);
	d->priv = NULL;
}

static const struct virtio_dev_ops vcon_ops = {
    .chain = vcon_chain,
    .destroy = vcon_destroy,
};

int virtio_console_init(struct virtio_dev *d, int out_fd, char *err, size_t errlen)
{
	struct vcon *v = calloc(1, sizeof(*v));

	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	v->out_fd = out_fd;
	d->priv = v;
	d->name = "virtio-console";
	d->ops = &vcon_ops;
	d->nqueues = 2;
	d->host_fed = 1u << RXQ; /* the console thread fills it, not the worker */
	d->nvectors = 3;
	d->config_len = 12; /* cols, rows, max_nr_ports, emerg_wr: no feature makes them valid */
	return 0;
}

int virtio_console_receive(struct vmm *vm, const uint8_t *buf, unsigned n)
{
	struct virtio_devices *all = vm->virtio;
	struct virtio_dev *d = all ? all->console : NULL;
	unsigned took = 0;
	bool pushed = false;

	if (!d)
		return -1;
	pthread_mutex_lock(&d->lock);
	struct virtq *vq = &d->vq[RXQ];
	if (vq->enabled && (d->status & VIRTIO_STATUS_DRIVER_OK) &&
	    !(d->status & VIRTIO_STATUS_NEEDS_RESET)) {
		while (took < n) {
			int r = virtq_pop(vq, &all->mem, d->chain);
			if (r < 0) {
				virtio_set_needs_reset(d, vq->error);
				break;
			}
			if (!r)
				break;
			size_t k = virtq_chain_write(d->chain, 0, buf + took, n - took);
			took += (unsigned)k;
			virtq_push_chain(vq, d->chain, (uint32_t)k);
			pushed = true;
		}
		if (pushed && virtq_need_interrupt(vq))
			virtio_notify_queue(d, RXQ);
		if (took < n)
			virtq_arm_notify(vq);
	}
	pthread_mutex_unlock(&d->lock);
	return (int)took;
}
