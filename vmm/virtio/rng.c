/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (virtio 1.2, 5.4), `--rng`: one request queue whose writable
 * buffers are filled from the host's getrandom() (the urandom pool, never
 * blocking once it is initialised), up to 64 KiB per request.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "virtio.h"

#define RNG_MAX_REQUEST 65536u

static int rng_chain(struct virtio_dev *d, unsigned q, const struct virtq_chain *c,
		     uint32_t *written, const char **why)
{
	uint64_t done = 0;

	(void)d;
	(void)q;
	(void)why;
	/* readable buffers mean nothing to this device: they are ignored */
	for (unsigned k = c->nout; k < c->nout + c->nin && done < RNG_MAX_REQUEST; k++) {
		uint8_t *p = c->iov[k].iov_base;
		size_t len = c->iov[k].iov_len;

		if (len > RNG_MAX_REQUEST - done)
			len = RNG_MAX_REQUEST - done;
		while (len) {
			ssize_t r = getrandom(p, len, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				goto out;
			p += r;
			len -= (size_t)r;
			done += (uint64_t)r;
		}
	}
out:
	*written = (uint32_t)done;
	return 0;
}

static const struct virtio_dev_ops rng_ops = {
    .chain = rng_chain,
};

int virtio_rng_init(struct virtio_dev *d, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	d->name = "virtio-rng";
	d->ops = &rng_ops;
	d->nqueues = 1;
	d->nvectors = 2;
	d->config_len = 0;
	return 0;
}
