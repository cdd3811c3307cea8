/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.2, 5.1) on a user-mode network (Debian's libslirp):
 * `--net user[,hostfwd=[tcp|udp]:[HADDR]:HPORT-[GADDR]:GPORT]...`, or on a
 * host tap device: `--net tap=IFNAME` (tap_worker below: /dev/net/tun with
 * IFF_TAP | IFF_NO_PI, without IFF_VNET_HDR since no offload is offered; as
 * root a missing IFNAME is created, as QEMU does).
 *
 * The network is QEMU's default: 10.0.2.0/24, the host (gateway) 10.0.2.2,
 * DNS 10.0.2.3, DHCP leases from 10.0.2.15; the guest's MAC is
 * 52:54:00:12:34:56. Features: VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS (the
 * link is always up), plus the transport's; no checksum or segmentation
 * offloads and no mergeable receive buffers, so every frame travels whole
 * (at most 1514 bytes) behind the 12-byte virtio_net_hdr (num_buffers is
 * there: VERSION_1).
 *
 * Queue 0 receives, queue 1 transmits. libslirp is not thread-safe, so one
 * thread does everything that touches it: the device's own worker
 * (ops->worker) polls the stop eventfd, the two queues' ioeventfds and the
 * sockets slirp asks for (slirp_pollfds_fill/poll), with slirp's timers
 * deciding the timeout. A transmitted frame is copied out of the chain
 * under the device's lock and handed to slirp_input() after it (slirp may
 * answer at once, through send_packet, which takes the lock). A frame for
 * the guest (send_packet) goes into the next receive buffer; without one it
 * waits in a small backlog, sent when the driver adds buffers (its notify on
 * the receive queue), and beyond that it is dropped (TCP retransmits).
 *
 * A hostile driver: a receive chain with device-readable buffers or smaller
 * than 1526 bytes (5.1.6.3.1), a transmit chain with writable buffers or
 * without the 12-byte header, and anything virtq_pop refuses, mark the
 * device DEVICE_NEEDS_RESET.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "virtio.h"

#define VIRTIO_NET_F_MAC     5
#define VIRTIO_NET_F_STATUS  16
#define VIRTIO_NET_S_LINK_UP 1

#define RXQ 0
#define TXQ 1

#define NET_HDR_LEN                                                                                \
	12u /* flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers */
#define FRAME_MAX    1514u
#define RX_BUF_MIN   (NET_HDR_LEN + FRAME_MAX)
#define TX_FRAME_MAX 65536u
#define BACKLOG	     64u
#define POLL_MAX     256u

struct net_timer {
	SlirpTimerCb cb;
	void *opaque;
	int64_t expire_ms; /* -1: not armed */
	struct net_timer *next;
};

struct frame {
	unsigned len;
	uint8_t data[FRAME_MAX];
};

struct net {
	Slirp *slirp; /* --net user */
	int tapfd;    /* --net tap=IFNAME, else -1 */
	struct virtio_dev *d;
	struct net_timer *timers;
	/* frames for the guest waiting for receive buffers (under d->lock) */
	struct frame *backlog;
	unsigned bl_head, bl_count;
	/* the worker's poll set */
	struct pollfd pfd[POLL_MAX];
	unsigned npfd;
	uint8_t tx[TX_FRAME_MAX];
	struct virtq_chain *rxchain;
};

/* ---- options ---- */

static int parse_port(const char *s, const char *end, uint16_t *port)
{
	unsigned long v = 0;

	if (s == end || end - s > 5)
		return -1;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int parse_addr(const char *s, const char *end, uint32_t *addr)
{
	char buf[32];
	struct in_addr a;

	if (s == end) {
		*addr = 0;
		return 0;
	}
	if (end - s >= (long)sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(end - s));
	buf[end - s] = 0;
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*addr = ntohl(a.s_addr);
	return 0;
}

/* [tcp|udp]:[HADDR]:HPORT-[GADDR]:GPORT */
static int parse_hostfwd(const char *v, struct virtio_net_fwd *f)
{
	const char *p = v, *c1, *dash, *c2;

	memset(f, 0, sizeof(*f));
	if (!strncmp(p, "tcp:", 4)) {
		p += 4;
	} else if (!strncmp(p, "udp:", 4)) {
		f->udp = true;
		p += 4;
	} else if (*p != ':') {
		return -1;
	} else {
		p++; /* ":HADDR:..." means tcp, as QEMU reads it */
	}
	c1 = strchr(p, ':');
	if (!c1)
		return -1;
	dash = strchr(c1, '-');
	if (!dash)
		return -1;
	c2 = strchr(dash, ':');
	if (!c2 || strchr(c2 + 1, ':') || strchr(c2 + 1, '-'))
		return -1;
	if (parse_addr(p, c1, &f->host_addr) || parse_port(c1 + 1, dash, &f->host_port) ||
	    parse_addr(dash + 1, c2, &f->guest_addr) ||
	    parse_port(c2 + 1, c2 + strlen(c2), &f->guest_port))
		return -1;
	snprintf(f->text, sizeof(f->text), "%s", v);
	return 0;
}

int virtio_parse_net(struct virtio_opts *o, const char *spec, char *err, size_t errlen)
{
	struct virtio_net_opts n = {0};
	const char *p = spec, *end;
	char item[128];

	if (o->net.user || o->net.tap[0]) {
		snprintf(err, errlen, "--net '%s': only one --net is supported", spec);
		return -EINVAL;
	}
	for (bool first = true; *p || first; first = false) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		if ((size_t)(end - p) >= sizeof(item)) {
			snprintf(err, errlen, "--net '%.64s...': an option is too long", spec);
			return -EINVAL;
		}
		memcpy(item, p, (size_t)(end - p));
		item[end - p] = 0;
		p = *end ? end + 1 : end;
		if (first) {
			if (!strncmp(item, "tap=", 4)) {
				size_t len = strlen(item + 4);
				if (!len || len >= sizeof(n.tap) || strchr(item + 4, '/')) {
					snprintf(
					    err, errlen,
					    "--net '%s': bad tap name (1 to %zu bytes, no '/')",
					    spec, sizeof(n.tap) - 1);
					return -EINVAL;
				}
				memcpy(n.tap, item + 4, len + 1);
				if (*end) {
					snprintf(err, errlen,
						 "--net '%s': tap=IFNAME takes no other option",
						 spec);
					return -EINVAL;
				}
				continue;
			}
			if (strcmp(item, "user")) {
				snprintf(err, errlen,
					 "--net '%s': unknown network '%s' (must be 'user' or "
					 "'tap=IFNAME')",
					 spec, item);
				return -EINVAL;
			}
			n.user = true;
			if (!*p && *end) {
				snprintf(err, errlen, "--net '%s': an empty option", spec);
				return -EINVAL;
			}
			continue;
		}
		if (!strncmp(item, "hostfwd=", 8)) {
			if (n.nfwd == VIRTIO_NET_MAX_FWD) {
				snprintf(err, errlen, "--net '%s': at most %d hostfwd options",
					 spec, VIRTIO_NET_MAX_FWD);
				return -EINVAL;
			}
			if (parse_hostfwd(item + 8, &n.fwd[n.nfwd])) {
				snprintf(
				    err, errlen,
				    "--net '%s': bad %s (must be "
				    "hostfwd=[tcp|udp]:[HADDR]:HPORT-[GADDR]:GPORT, ports 1 to "
				    "65535)",
				    spec, item);
				return -EINVAL;
			}
			n.nfwd++;
		} else {
			snprintf(err, errlen, "--net '%s': unknown option '%s' (known: hostfwd)",
				 spec, item);
			return -EINVAL;
		}
		if (!*p && *end) {
			snprintf(err, errlen, "--net '%s': an empty option", spec);
			return -EINVAL;
		}
	}
	o->net = n;
	return 0;
}

/* ---- receiving: frames for the guest ---- */

static bool serving(const struct virtio_dev *d, unsigned q)
{
	return d->vq[q].enabled && (d->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(d->status & VIRTIO_STATUS_NEEDS_RESET);
}

/*
 * The next chain of queue q into c (d->lock held): 1 one, 0 none (the driver
 * is asked to notify when it adds one), -1 the device broke or is not
 * running.
 */
static int next_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *c)
{
	struct virtq *vq = &d->vq[q];

	if (!serving(d, q))
		return -1;
	for (;;) {
		int r = virtq_pop(vq, &d->all->mem, c);
		if (r > 0)
			return 1;
		if (r < 0) {
			virtio_set_needs_reset(d, vq->error);
			return -1;
		}
		/* empty: ask for a notify, and look again in case buffers came meanwhile */
		if (!virtq_arm_notify(vq))
			return 0;
	}
}

/*
 * Put one frame into the next receive buffer (d->lock held): 1 sent, 0 no
 * buffer (the driver is asked to notify when it adds one), -1 the device
 * broke (or is not running).
 */
static int rx_one(struct net *n, const uint8_t *frame, unsigned len, bool *pushed)
{
	struct virtio_dev *d = n->d;
	struct virtq *vq = &d->vq[RXQ];
	struct virtq_chain *c = n->rxchain;
	uint8_t hdr[NET_HDR_LEN] = {0};
	int r = next_chain(d, RXQ, c);

	if (r <= 0)
		return r;
	if (c->nout) {
		virtio_set_needs_reset(d, "a receive buffer that the device may only read");
		return -1;
	}
	if (c->in_len < RX_BUF_MIN) {
		virtio_set_needs_reset(d, "a receive buffer smaller than 1526 bytes");
		return -1;
	}
	hdr[10] = 1; /* num_buffers */
	virtq_chain_write(c, 0, hdr, sizeof(hdr));
	virtq_chain_write(c, NET_HDR_LEN, frame, len);
	virtq_push_chain(vq, c, NET_HDR_LEN + len);
	*pushed = true;
	return 1;
}

/* send what waits in the backlog while there are buffers (d->lock held) */
static void rx_flush(struct net *n)
{
	bool pushed = false;

	while (n->bl_count) {
		struct frame *f = &n->backlog[n->bl_head];
		int r = rx_one(n, f->data, f->len, &pushed);
		if (r == 0)
			break;
		/* sent, or the device broke: the frame goes either way */
		n->bl_head = (n->bl_head + 1) % BACKLOG;
		n->bl_count--;
		if (r < 0) {
			n->bl_count = 0;
			break;
		}
	}
	if (pushed && virtq_need_interrupt(&n->d->vq[RXQ]))
		virtio_notify_queue(n->d, RXQ);
}

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net *n = opaque;
	struct virtio_dev *d = n->d;

	if (len > FRAME_MAX)
		return (ssize_t)len; /* cannot happen with slirp's MTU; dropped */
	pthread_mutex_lock(&d->lock);
	if (serving(d, RXQ)) {
		rx_flush(n);
		if (n->bl_count == 0) {
			bool pushed = false;
			int r = rx_one(n, buf, (unsigned)len, &pushed);
			if (pushed && virtq_need_interrupt(&d->vq[RXQ]))
				virtio_notify_queue(d, RXQ);
			if (r != 0)
				goto out;
		}
		if (n->bl_count < BACKLOG) {
			struct frame *f = &n->backlog[(n->bl_head + n->bl_count) % BACKLOG];
			f->len = (unsigned)len;
			memcpy(f->data, buf, len);
			n->bl_count++;
		}
	}
out:
	pthread_mutex_unlock(&d->lock);
	return (ssize_t)len;
}

/* ---- transmitting: frames from the guest ---- */

/*
 * Take one chain from the transmit queue, its frame into n->tx (d->lock
 * held): 1 with *len set (0: a frame to drop), 0 none left (notifications
 * armed), -1 the device broke or stopped.
 */
static int tx_one(struct net *n, bool *pushed, size_t *len)
{
	struct virtio_dev *d = n->d;
	struct virtq *vq = &d->vq[TXQ];
	struct virtq_chain *c = d->chain;
	int r = next_chain(d, TXQ, c);

	if (r <= 0)
		return r;
	if (c->nin) {
		virtio_set_needs_reset(d, "a transmit buffer that the device may write");
		return -1;
	}
	if (c->out_len < NET_HDR_LEN) {
		virtio_set_needs_reset(d, "a transmit chain without its 12-byte header");
		return -1;
	}
	*len = (size_t)(c->out_len - NET_HDR_LEN);
	if (*len > TX_FRAME_MAX)
		*len = 0; /* no GSO was negotiated: a frame this long is dropped */
	virtq_chain_read(c, NET_HDR_LEN, n->tx, *len);
	virtq_push_chain(vq, c, 0);
	*pushed = true;
	return 1;
}

static void tx_serve(struct net *n)
{
	struct virtio_dev *d = n->d;

	for (;;) {
		bool pushed = false;
		size_t len = 0;
		int r;

		pthread_mutex_lock(&d->lock);
		r = tx_one(n, &pushed, &len);
		if (pushed && virtq_need_interrupt(&d->vq[TXQ]))
			virtio_notify_queue(d, TXQ);
		pthread_mutex_unlock(&d->lock);
		if (r <= 0)
			return;
		if (len < 14)
			continue; /* not even an Ethernet header: dropped */
		if (n->tapfd >= 0) {
			/* the tap's queue full, or the interface down: dropped, as a wire would */
			if (write(n->tapfd, n->tx, len) < 0) {
				/* EAGAIN, EIO: the frame is lost */
			}
		} else {
			slirp_input(n->slirp, n->tx, (int)len);
		}
	}
}

/* ---- slirp's callbacks and the worker ---- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t cb_clock_get_ns(void *opaque)
{
	(void)opaque;
	return now_ns();
}

static void cb_guest_error(const char *msg, void *opaque)
{
	(void)msg;
	(void)opaque; /* a guest's bad packet is slirp's to drop, not the host's to log */
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct net *n = opaque;
	struct net_timer *t = calloc(1, sizeof(*t));

	if (!t)
		abort(); /* slirp cannot handle a failure here */
	t->cb = cb;
	t->opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = n->timers;
	n->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct net *n = opaque;

	for (struct net_timer **p = &n->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = ((struct net_timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	((struct net_timer *)timer)->expire_ms = expire_ms;
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque; /* the poll set is rebuilt every round (slirp_pollfds_fill) */
}

static void cb_notify(void *opaque)
{
	(void)opaque; /* called from this very thread: the next round polls again */
}

static const SlirpCb slirp_cb = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_register_poll_fd,
    .notify = cb_notify,
};

static int add_poll(int fd, int events, void *opaque)
{
	struct net *n = opaque;
	short ev = 0;

	if (n->npfd == POLL_MAX)
		return -1; /* slirp's get_revents then sees nothing for it this round */
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	n->pfd[n->npfd] = (struct pollfd){.fd = fd, .events = ev};
	return (int)n->npfd++;
}

static int get_revents(int idx, void *opaque)
{
	struct net *n = opaque;
	short re;
	int ev = 0;

	if (idx < 0 || (unsigned)idx >= n->npfd)
		return 0;
	re = n->pfd[idx].revents;
	if (re & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (re & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (re & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (re & POLLERR)
		ev |= SLIRP_POLL_ERR;
	if (re & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

static void run_timers(struct net *n)
{
	int64_t now = now_ns() / 1000000;
	bool again = true;

	/*
	 * A callback may re-arm, add or free timers: start over after each (at
	 * most 64 per round: one re-armed in the past waits for the next).
	 */
	for (unsigned fired = 0; again && fired < 64; fired++) {
		again = false;
		for (struct net_timer *t = n->timers; t; t = t->next) {
			if (t->expire_ms >= 0 && t->expire_ms <= now) {
				t->expire_ms = -1;
				t->cb(t->opaque);
				again = true;
				break;
			}
		}
	}
}

static void drain(int fd)
{
	uint64_t cnt;
	if (read(fd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: nothing was there */
	}
}

static void *net_worker(void *arg)
{
	struct virtio_dev *d = arg;
	struct net *n = d->priv;

	for (;;) {
		uint32_t timeout = UINT32_MAX;
		int64_t now = now_ns() / 1000000;
		int r;

		n->npfd = 0;
		n->pfd[n->npfd++] = (struct pollfd){.fd = d->stopfd, .events = POLLIN};
		n->pfd[n->npfd++] = (struct pollfd){.fd = d->kick[RXQ], .events = POLLIN};
		n->pfd[n->npfd++] = (struct pollfd){.fd = d->kick[TXQ], .events = POLLIN};
		slirp_pollfds_fill(n->slirp, &timeout, add_poll, n);
		for (struct net_timer *t = n->timers; t; t = t->next) {
			if (t->expire_ms < 0)
				continue;
			int64_t left = t->expire_ms > now ? t->expire_ms - now : 0;
			if (left < (int64_t)timeout)
				timeout = (uint32_t)left;
		}
		r = poll(n->pfd, n->npfd, timeout == UINT32_MAX ? -1 : (int)timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && n->pfd[0].revents)
			break;
		slirp_pollfds_poll(n->slirp, r < 0, get_revents, n);
		run_timers(n);
		if (r > 0 && n->pfd[1].revents) {
			drain(d->kick[RXQ]);
			pthread_mutex_lock(&d->lock);
			if (serving(d, RXQ))
				rx_flush(n);
			pthread_mutex_unlock(&d->lock);
		}
		if (r > 0 && n->pfd[2].revents) {
			drain(d->kick[TXQ]);
			tx_serve(n);
		}
	}
	return NULL;
}

/*
 * --net tap: the frames the host's kernel sends the tap go to the guest
 * (through the backlog when the driver has no buffer; the tap is read only
 * while the backlog has room, so the kernel's queue holds the rest), the
 * guest's go to the tap.
 */
static void *tap_worker(void *arg)
{
	struct virtio_dev *d = arg;
	struct net *n = d->priv;
	static uint8_t frame[TX_FRAME_MAX]; /* this thread's: one tap device per VM */

	for (;;) {
		struct pollfd p[4] = {
		    {.fd = d->stopfd, .events = POLLIN},
		    {.fd = d->kick[RXQ], .events = POLLIN},
		    {.fd = d->kick[TXQ], .events = POLLIN},
		    {.fd = n->tapfd, .events = 0},
		};

		pthread_mutex_lock(&d->lock);
		if (n->bl_count < BACKLOG)
			p[3].events = POLLIN;
		pthread_mutex_unlock(&d->lock);
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents) {
			drain(d->kick[RXQ]);
			pthread_mutex_lock(&d->lock);
			if (serving(d, RXQ))
				rx_flush(n);
			pthread_mutex_unlock(&d->lock);
		}
		if (p[2].revents) {
			drain(d->kick[TXQ]);
			tx_serve(n);
		}
		for (unsigned k = 0; (p[3].revents & POLLIN) && k < BACKLOG; k++) {
			ssize_t r = read(n->tapfd, frame, sizeof(frame));
			if (r < 0)
				break; /* EAGAIN: nothing more */
			if (r >= 14)
				cb_send_packet(frame, (size_t)r, n);
			pthread_mutex_lock(&d->lock);
			bool full = n->bl_count >= BACKLOG;
			pthread_mutex_unlock(&d->lock);
			if (full)
				break;
		}
	}
	return NULL;
}

/* ---- the device ---- */

static int net_chain(struct virtio_dev *d, unsigned q, const struct virtq_chain *c,
		     uint32_t *written, const char **why)
{
	/* not reached: net_worker serves both queues itself */
	(void)d;
	(void)q;
	(void)c;
	*written = 0;
	*why = "virtio-net: no generic worker";
	return -EINVAL;
}

static void net_reset(struct virtio_dev *d)
{
	struct net *n = d->priv;

	n->bl_head = n->bl_count = 0; /* frames for the old driver are dropped */
}

static void net_destroy(struct virtio_dev *d)
{
	struct net *n = d->priv;

	if (!n)
		return;
	if (n->slirp)
		slirp_cleanup(n->slirp);
	if (n->tapfd >= 0)
		close(n->tapfd);
	while (n->timers) {
		struct net_timer *t = n->timers;
		n->timers = t->next;
		free(t);
	}
	free(n->backlog);
	free(n->rxchain);
	free(n);
	d->priv = NULL;
}

static const struct virtio_dev_ops net_ops = {
    .chain = net_chain,
    .reset = net_reset,
    .destroy = net_destroy,
    .worker = net_worker,
};

static const struct virtio_dev_ops tap_ops = {
    .chain = net_chain,
    .reset = net_reset,
    .destroy = net_destroy,
    .worker = tap_worker,
};

static int tap_open(struct net *n, const char *name, char *err, size_t errlen)
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "--net tap=%s: cannot open /dev/net/tun: %s", name,
			 strerror(errno));
		return -errno;
	}
	/* a plain Ethernet tap: no packet information, no virtio header (no offloads) */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(fd);
		snprintf(err, errlen, "--net tap=%s: cannot open the tap device: %s%s", name,
			 strerror(e),
			 e == EPERM ? " (create it for this user: ip tuntap add dev NAME mode tap "
				      "user USER)"
				    : (e == EBUSY ? " (another program holds it)" : ""));
		return -e;
	}
	n->tapfd = fd;
	return 0;
}

static struct in_addr ip(uint32_t a)
{
	return (struct in_addr){.s_addr = htonl(a)};
}

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

int virtio_net_init(struct virtio_dev *d, const struct virtio_net_opts *o, char *err, size_t errlen)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	struct net *n = calloc(1, sizeof(*n));
	SlirpConfig cfg = {0};

	d->name = "virtio-net";
	d->ops = &net_ops;
	d->priv = n;
	if (n) {
		n->backlog = calloc(BACKLOG, sizeof(*n->backlog));
		n->rxchain = malloc(sizeof(*n->rxchain));
	}
	if (!n || !n->backlog || !n->rxchain) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n->d = d;
	n->tapfd = -1;
	d->nqueues = 2;
	d->nvectors = 3;
	d->host_features = (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS);
	memcpy(d->config, mac, sizeof(mac));
	d->config[6] = VIRTIO_NET_S_LINK_UP; /* status */
	d->config[7] = 0;
	d->config_len = 10; /* mac, status, max_virtqueue_pairs (not offered) */

	if (o->tap[0]) {
		d->ops = &tap_ops;
		return tap_open(n, o->tap, err, errlen);
	}
	cfg.version = 4;
	cfg.in_enabled = true;
	cfg.vnetwork = ip(IP4(10, 0, 2, 0));
	cfg.vnetmask = ip(IP4(255, 255, 255, 0));
	cfg.vhost = ip(IP4(10, 0, 2, 2));
	cfg.vdhcp_start = ip(IP4(10, 0, 2, 15));
	cfg.vnameserver = ip(IP4(10, 0, 2, 3));
	cfg.vhostname = "softkvm";
	n->slirp = slirp_new(&cfg, &slirp_cb, n);
	if (!n->slirp) {
		snprintf(err, errlen, "--net user: libslirp could not start the network");
		return -EINVAL;
	}
	for (unsigned k = 0; k < o->nfwd; k++) {
		const struct virtio_net_fwd *f = &o->fwd[k];
		uint32_t guest = f->guest_addr ? f->guest_addr : IP4(10, 0, 2, 15);

		errno = 0;
		if (slirp_add_hostfwd(n->slirp, f->udp, ip(f->host_addr), f->host_port, ip(guest),
				      f->guest_port) < 0) {
			snprintf(err, errlen, "--net hostfwd=%s: cannot listen on host port %u%s%s",
				 f->text, f->host_port, errno ? ": " : "",
				 errno ? strerror(errno) : " (in use, or a bad address)");
			return -EINVAL;
		}
	}
	return 0;
}
