/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock (virtio 1.2, 5.10), `--vsock cid=N,path=SOCK`, with
 * Firecracker's "hybrid vsock" on the host side: the guest's AF_VSOCK
 * stream sockets meet AF_UNIX stream sockets of the host.
 *
 *   - guest-initiated: a guest connect() to CID 2 (the host), port P, makes
 *     the device connect to the Unix socket "SOCK_P" (a host program
 *     listens there); no listener, or anything but a stream REQUEST to CID
 *     2, is answered with RST (the guest's connect fails);
 *   - host-initiated: the device listens on SOCK; a host program connects
 *     there and writes "CONNECT <port>\n"; the device sends the guest a
 *     REQUEST from host port L (a local port it picks, from 2^30 up) to
 *     <port>, and when the guest accepts (RESPONSE) writes "OK L\n" to the
 *     host program, after which the Unix socket carries the stream; a guest
 *     RST (nobody listens) closes the host's socket without an answer.
 *
 * Flow control is the spec's credit scheme (5.10.6.3) in both directions:
 * each connection has a buffer of CONN_BUF bytes for the guest's data on
 * its way to the host socket, advertised as buf_alloc, with fwd_cnt the
 * bytes written to the socket so far; the device sends the guest at most
 * peer buf_alloc - (rx_cnt - peer fwd_cnt) bytes, reading the host socket
 * only while it has that credit (else it sends one CREDIT_REQUEST), and
 * sends CREDIT_UPDATE when the guest asks (CREDIT_REQUEST) or when half
 * its buffer was forwarded since the guest last heard of fwd_cnt. A guest
 * that sends more than its credit gets the connection reset (RST).
 *
 * SHUTDOWN: the guest's SEND flag becomes shutdown(SHUT_WR) on the host
 * socket once the buffered data is written; both flags (close) end the
 * connection with an RST once that data is written. A host socket that
 * reads end-of-file sends SHUTDOWN(SEND) after the data before it, and one
 * that is closed (POLLHUP, or EPIPE on a write) SHUTDOWN(RCV|SEND); the
 * guest then answers RST, which frees the connection.
 *
 * Queues: 0 receive (device to guest), 1 transmit, 2 events (the driver's
 * buffers stay there: this device has no event to send). One thread does
 * everything (ops->worker): it polls the stop eventfd, the queues'
 * ioeventfds, the listening socket and each connection's socket. A packet
 * for the guest is built only when a receive buffer is there; without one
 * the worker stops reading host sockets until the driver adds buffers.
 *
 * A hostile driver: a transmit chain with writable buffers, shorter than
 * the 44-byte header, whose header's len is more than the chain carries or
 * more than 64 KiB, a receive chain with readable buffers or too short for
 * the header, and anything virtq_pop refuses, mark the device
 * DEVICE_NEEDS_RESET.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "virtio.h"

#define RXQ  0
#define TXQ  1
#define EVTQ 2

#define HOST_CID 2

#define OP_REQUEST	  1
#define OP_RESPONSE	  2
#define OP_RST		  3
#define OP_SHUTDOWN	  4
#define OP_RW		  5
#define OP_CREDIT_UPDATE  6
#define OP_CREDIT_REQUEST 7
#define TYPE_STREAM	  1
#define SHUT_RCV_F	  1
#define SHUT_SEND_F	  2

#define HDR_LEN	    44u
#define PKT_MAX	    65536u /* the largest payload a guest may send (Linux's MAX_PKT_BUF_SIZE) */
#define CONN_BUF    (256u << 10)
#define STAGE_MAX   4096u
#define MAX_CONNS   64u
#define RST_BACKLOG 64u
#define LINE_MAX_   32u
#define LOCAL_PORT0 (1u << 30)

/* pending packets for the guest, per connection */
#define P_REQUEST  1u
#define P_RESPONSE 2u
#define P_CREDIT   4u
#define P_CREQ	   8u
#define P_SHUTDOWN 16u
#define P_RST	   32u

enum cstate { C_FREE, C_LINE, C_REQ_SENT, C_OPEN, C_CLOSING };

struct pkt_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

struct conn {
	enum cstate state;
	int fd;				/* the host's Unix socket, or -1 */
	uint32_t local_port, peer_port; /* host side, guest side */
	/* towards the guest */
	uint32_t peer_buf_alloc, peer_fwd_cnt, rx_cnt;
	uint8_t stage[STAGE_MAX];
	unsigned stage_len, stage_off;
	bool host_eof, host_hup, creq_sent;
	uint32_t shut_flags; /* for P_SHUTDOWN */
	unsigned pending;
	/* from the guest */
	uint8_t *out; /* ring of CONN_BUF */
	unsigned out_head, out_len;
	uint32_t fwd_cnt, fwd_told;
	uint32_t guest_shut; /* SHUT_*_F the guest sent */
	bool wr_shut;
	/* host-initiated: the CONNECT line */
	char line[LINE_MAX_];
	unsigned line_len;
};

struct rst {
	uint32_t src_port, dst_port; /* as the packet to the guest has them */
};

struct vsock {
	struct virtio_dev *d;
	uint64_t cid;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	struct conn conns[MAX_CONNS];
	unsigned rr; /* round-robin start for the receive queue */
	struct rst rsts[RST_BACKLOG];
	unsigned nrst;
	uint32_t next_local;
	bool rx_starved; /* no receive buffer: wait for the driver's notify */
	struct virtq_chain *rxchain;
	struct pollfd pfd[5 + MAX_CONNS];
	int pconn[5 + MAX_CONNS];
};

/* ---- options ---- */

int virtio_parse_vsock(struct virtio_opts *o, const char *spec, char *err, size_t errlen)
{
	struct virtio_vsock_opts v = {0};
	const char *p = spec;
	bool have_cid = false;

	if (o->vsock.path[0]) {
		snprintf(err, errlen, "--vsock '%s': only one --vsock is supported", spec);
		return -EINVAL;
	}
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (!strncmp(p, "cid=", 4)) {
			char *e;
			unsigned long long c;

			errno = 0;
			c = strtoull(p + 4, &e, 10);
			if (e == p + 4 || e != p + n || errno || c < 3 || c >= 0xffffffffull ||
			    p[4] == '-' || p[4] == '+') {
				snprintf(err, errlen,
					 "--vsock '%s': bad cid (must be a number from 3 to "
					 "4294967294)",
					 spec);
				return -EINVAL;
			}
			v.cid = c;
			have_cid = true;
		} else if (!strncmp(p, "path=", 5)) {
			/* room for "_4294967295" after it, and the terminator */
			if (n - 5 == 0 || n - 5 + 11 >= sizeof(v.path)) {
				snprintf(err, errlen,
					 "--vsock '%s': path must be 1 to %zu bytes (a Unix socket "
					 "name, with _PORT after it)",
					 spec, sizeof(v.path) - 12);
				return -EINVAL;
			}
			memcpy(v.path, p + 5, n - 5);
			v.path[n - 5] = 0;
		} else {
			snprintf(err, errlen,
				 "--vsock '%s': unknown option '%.*s' (known: cid, path)", spec,
				 (int)n, p);
			return -EINVAL;
		}
		p += n;
		if (*p == ',' && !*++p) {
			snprintf(err, errlen, "--vsock '%s': an empty option", spec);
			return -EINVAL;
		}
	}
	if (!have_cid || !v.path[0]) {
		snprintf(err, errlen, "--vsock '%s': needs cid=N and path=SOCK", spec);
		return -EINVAL;
	}
	o->vsock = v;
	return 0;
}

/* ---- connections ---- */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned k = 0; k < n; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

static void hdr_encode(const struct pkt_hdr *h, uint8_t *b)
{
	put_le(b + 0, h->src_cid, 8);
	put_le(b + 8, h->dst_cid, 8);
	put_le(b + 16, h->src_port, 4);
	put_le(b + 20, h->dst_port, 4);
	put_le(b + 24, h->len, 4);
	put_le(b + 28, h->type, 2);
	put_le(b + 30, h->op, 2);
	put_le(b + 32, h->flags, 4);
	put_le(b + 36, h->buf_alloc, 4);
	put_le(b + 40, h->fwd_cnt, 4);
}

static void hdr_decode(const uint8_t *b, struct pkt_hdr *h)
{
	h->src_cid = get_le(b + 0, 8);
	h->dst_cid = get_le(b + 8, 8);
	h->src_port = (uint32_t)get_le(b + 16, 4);
	h->dst_port = (uint32_t)get_le(b + 20, 4);
	h->len = (uint32_t)get_le(b + 24, 4);
	h->type = (uint16_t)get_le(b + 28, 2);
	h->op = (uint16_t)get_le(b + 30, 2);
	h->flags = (uint32_t)get_le(b + 32, 4);
	h->buf_alloc = (uint32_t)get_le(b + 36, 4);
	h->fwd_cnt = (uint32_t)get_le(b + 40, 4);
}

static void conn_close_fd(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void conn_free(struct conn *c)
{
	conn_close_fd(c);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->state = C_FREE;
}

static struct conn *conn_new(struct vsock *v, int fd)
{
	for (unsigned k = 0; k < MAX_CONNS; k++) {
		struct conn *c = &v->conns[k];
		if (c->state != C_FREE)
			continue;
		memset(c, 0, sizeof(*c));
		c->out = malloc(CONN_BUF);
		if (!c->out)
			return NULL;
		c->fd = fd;
		return c;
	}
	return NULL;
}

static struct conn *conn_find(struct vsock *v, uint32_t local, uint32_t peer)
{
	for (unsigned k = 0; k < MAX_CONNS; k++) {
		struct conn *c = &v->conns[k];
		if (c->state != C_FREE && c->state != C_LINE && c->local_port == local &&
		    c->peer_port == peer)
			return c;
	}
	return NULL;
}

static void queue_rst(struct vsock *v, uint32_t src_port, uint32_t dst_port)
{
	if (v->nrst < RST_BACKLOG) /* beyond that the guest's connect times out instead */
		v->rsts[v->nrst++] = (struct rst){src_port, dst_port};
}

/* reset a connection: RST to the guest (unless it sent one), the host socket closed */
static void conn_reset(struct conn *c, bool tell_guest)
{
	conn_close_fd(c);
	c->stage_len = c->stage_off = 0;
	c->out_len = 0;
	if (tell_guest && c->state != C_LINE) {
		c->state = C_CLOSING;
		c->pending = P_RST;
	} else {
		conn_free(c);
	}
}

static uint32_t credit(const struct conn *c)
{
	uint32_t used = c->rx_cnt - c->peer_fwd_cnt;
	return used >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - used;
}

/* write what the guest sent to the host socket; then the guest's SHUTDOWN */
static void flush_out(struct vsock *v, struct conn *c)
{
	(void)v;
	while (c->out_len && c->fd >= 0) {
		unsigned chunk = CONN_BUF - c->out_head;
		ssize_t r;

		if (chunk > c->out_len)
			chunk = c->out_len;
		r = send(c->fd, c->out + c->out_head, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			/* the host program is gone: as if it closed */
			conn_close_fd(c);
			c->out_len = 0;
			c->host_eof = c->host_hup = true;
			if (!c->stage_len) {
				c->shut_flags = SHUT_RCV_F | SHUT_SEND_F;
				c->pending |= P_SHUTDOWN;
			}
			return;
		}
		c->out_head = (c->out_head + (unsigned)r) % CONN_BUF;
		c->out_len -= (unsigned)r;
		c->fwd_cnt += (uint32_t)r;
	}
	if (c->fwd_cnt - c->fwd_told >= CONN_BUF / 2)
		c->pending |= P_CREDIT;
	if (c->out_len)
		return;
	if ((c->guest_shut & (SHUT_RCV_F | SHUT_SEND_F)) == (SHUT_RCV_F | SHUT_SEND_F)) {
		/* the guest closed, everything it sent is out: done */
		conn_reset(c, true);
		return;
	}
	if ((c->guest_shut & SHUT_SEND_F) && !c->wr_shut && c->fd >= 0) {
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
	}
}

/* ---- packets from the guest (the transmit queue) ---- */

static void guest_packet(struct vsock *v, const struct pkt_hdr *h, const struct virtq_chain *ch)
{
	struct conn *c;

	if (h->src_cid != v->cid)
		return; /* not the guest's own address: dropped */
	if (h->op == OP_RST) {
		/* the guest refused or dropped the connection: nothing to answer */
		c = conn_find(v, h->dst_port, h->src_port);
		if (c)
			conn_free(c);
		return;
	}
	if (h->dst_cid != HOST_CID || h->type != TYPE_STREAM) {
		queue_rst(v, h->dst_port, h->src_port);
		return;
	}
	c = conn_find(v, h->dst_port, h->src_port);
	if (!c) {
		if (h->op == OP_REQUEST) {
			/* guest-initiated: connect to SOCK_P */
			struct sockaddr_un a = {.sun_family = AF_UNIX};
			int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

			int len =
			    snprintf(a.sun_path, sizeof(a.sun_path), "%s_%u", v->path, h->dst_port);

			if (fd >= 0 && len > 0 && (size_t)len < sizeof(a.sun_path) &&
			    connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			    (c = conn_new(v, fd))) {
				c->state = C_OPEN;
				c->local_port = h->dst_port;
				c->peer_port = h->src_port;
				c->peer_buf_alloc = h->buf_alloc;
				c->peer_fwd_cnt = h->fwd_cnt;
				c->pending = P_RESPONSE;
				return;
			}
			if (fd >= 0)
				close(fd);
		}
		queue_rst(v, h->dst_port, h->src_port);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (credit(c))
		c->creq_sent = false;
	switch (h->op) {
	case OP_RESPONSE:
		if (c->state != C_REQ_SENT) {
			conn_reset(c, true);
			return;
		}
		c->state = C_OPEN;
		{
			char ok[24];
			int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
			/* the first bytes on a fresh socket: its buffer takes them */
			if (send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
				conn_reset(c, true);
		}
		return;
	case OP_RW:
		if (c->state != C_OPEN || (c->guest_shut & SHUT_SEND_F)) {
			conn_reset(c, true);
			return;
		}
		if (h->len > CONN_BUF - c->out_len) {
			/* more than the credit we gave */
			conn_reset(c, true);
			return;
		}
		if (c->fd < 0)
			return; /* the host closed: the data has nowhere to go */
		{
			unsigned tail = (c->out_head + c->out_len) % CONN_BUF;
			unsigned first = CONN_BUF - tail;

			if (first > h->len)
				first = h->len;
			virtq_chain_read(ch, HDR_LEN, c->out + tail, first);
			virtq_chain_read(ch, HDR_LEN + first, c->out, h->len - first);
			c->out_len += h->len;
		}
		flush_out(v, c);
		return;
	case OP_CREDIT_UPDATE:
		return; /* the credit was taken above */
	case OP_CREDIT_REQUEST:
		c->pending |= P_CREDIT;
		return;
	case OP_SHUTDOWN:
		c->guest_shut |= h->flags & (SHUT_RCV_F | SHUT_SEND_F);
		if (c->state == C_REQ_SENT) {
			conn_reset(c, true);
			return;
		}
		if (c->guest_shut & SHUT_RCV_F)
			c->stage_len = c->stage_off = 0; /* it will not read it */
		flush_out(v, c);
		return;
	case OP_REQUEST:
	default:
		/* a second REQUEST on a live connection, or an unknown op */
		conn_reset(c, true);
		return;
	}
}

static void tx_serve(struct vsock *v)
{
	struct virtio_dev *d = v->d;
	struct virtq *vq = &d->vq[TXQ];
	bool pushed = false;

	for (;;) {
		struct virtq_chain *ch = d->chain;
		uint8_t b[HDR_LEN];
		struct pkt_hdr h;
		int r = virtq_pop(vq, &d->all->mem, ch);

		if (r < 0) {
			virtio_set_needs_reset(d, vq->error);
			break;
		}
		if (r == 0) {
			if (virtq_arm_notify(vq))
				continue;
			break;
		}
		if (ch->nin) {
			virtio_set_needs_reset(d, "a transmit buffer that the device may write");
			break;
		}
		if (ch->out_len < HDR_LEN) {
			virtio_set_needs_reset(d, "a transmit chain without its 44-byte header");
			break;
		}
		virtq_chain_read(ch, 0, b, HDR_LEN);
		hdr_decode(b, &h);
		if (h.len > PKT_MAX || h.len > ch->out_len - HDR_LEN) {
			virtio_set_needs_reset(d,
					       "a packet longer than its buffers or than 64 KiB");
			break;
		}
		guest_packet(v, &h, ch);
		virtq_push(vq, ch->head, 0);
		pushed = true;
	}
	if (pushed && virtq_need_interrupt(vq))
		virtio_notify_queue(d, TXQ);
}

/* ---- packets for the guest (the receive queue) ---- */

static bool conn_has_packet(const struct conn *c)
{
	return c->pending || (c->state == C_OPEN && c->stage_len && credit(c));
}

/* build the next packet into hdr (+ payload in conn's stage): the connection, or NULL */
static bool next_packet(struct vsock *v, struct pkt_hdr *h, struct conn **pc, unsigned *plen)
{
	*pc = NULL;
	*plen = 0;
	memset(h, 0, sizeof(*h));
	h->src_cid = HOST_CID;
	h->dst_cid = v->cid;
	h->type = TYPE_STREAM;
	if (v->nrst) {
		struct rst r = v->rsts[0];
		memmove(v->rsts, v->rsts + 1, --v->nrst * sizeof(v->rsts[0]));
		h->src_port = r.src_port;
		h->dst_port = r.dst_port;
		h->op = OP_RST;
		return true;
	}
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		unsigned k = (v->rr + i) % MAX_CONNS;
		struct conn *c = &v->conns[k];

		if (c->state == C_FREE || c->state == C_LINE || !conn_has_packet(c))
			continue;
		v->rr = (k + 1) % MAX_CONNS;
		h->src_port = c->local_port;
		h->dst_port = c->peer_port;
		h->buf_alloc = CONN_BUF;
		h->fwd_cnt = c->fwd_cnt;
		*pc = c;
		if (c->pending & P_RST) {
			h->op = OP_RST;
			c->pending = 0;
		} else if (c->pending & P_REQUEST) {
			h->op = OP_REQUEST;
			c->pending &= ~P_REQUEST;
		} else if (c->pending & P_RESPONSE) {
			h->op = OP_RESPONSE;
			c->pending &= ~P_RESPONSE;
		} else if (c->state == C_OPEN && c->stage_len && credit(c)) {
			h->op = OP_RW;
			*plen = c->stage_len - c->stage_off;
			if (*plen > credit(c))
				*plen = credit(c);
		} else if (c->pending & P_CREDIT) {
			h->op = OP_CREDIT_UPDATE;
			c->pending &= ~P_CREDIT;
		} else if (c->pending & P_CREQ) {
			h->op = OP_CREDIT_REQUEST;
			c->pending &= ~P_CREQ;
		} else {
			h->op = OP_SHUTDOWN;
			h->flags = c->shut_flags;
			c->pending &= ~P_SHUTDOWN;
		}
		return true;
	}
	return false;
}

static bool rx_work(const struct vsock *v)
{
	if (v->nrst)
		return true;
	for (unsigned k = 0; k < MAX_CONNS; k++)
		if (v->conns[k].state != C_FREE && v->conns[k].state != C_LINE &&
		    conn_has_packet(&v->conns[k]))
			return true;
	return false;
}

static void rx_serve(struct vsock *v)
{
	struct virtio_dev *d = v->d;
	struct virtq *vq = &d->vq[RXQ];
	struct virtq_chain *ch = v->rxchain;
	bool pushed = false;

	while (!v->rx_starved && rx_work(v)) {
		struct pkt_hdr h;
		struct conn *c;
		unsigned plen;
		uint8_t b[HDR_LEN];
		int r = virtq_pop(vq, &d->all->mem, ch);

		if (r < 0) {
			virtio_set_needs_reset(d, vq->error);
			break;
		}
		if (r == 0) {
			if (virtq_arm_notify(vq))
				continue;
			v->rx_starved = true;
			break;
		}
		if (ch->nout) {
			virtio_set_needs_reset(d, "a receive buffer that the device may only read");
			break;
		}
		if (ch->in_len < HDR_LEN + 1) {
			virtio_set_needs_reset(d, "a receive buffer too short for a packet");
			break;
		}
		if (!next_packet(v, &h, &c, &plen))
			break; /* cannot happen: rx_work said there is one */
		if (plen > ch->in_len - HDR_LEN)
			plen = (unsigned)(ch->in_len - HDR_LEN);
		h.len = plen;
		if (c) {
			virtq_chain_write(ch, HDR_LEN, c->stage + c->stage_off, plen);
			c->stage_off += plen;
			c->rx_cnt += plen;
			c->fwd_told = c->fwd_cnt;
			if (c->stage_off == c->stage_len) {
				c->stage_off = c->stage_len = 0;
				if (c->host_eof && !(c->pending & P_RST)) {
					c->shut_flags =
					    c->host_hup ? SHUT_RCV_F | SHUT_SEND_F : SHUT_SEND_F;
					c->pending |= P_SHUTDOWN;
				}
			}
			if (h.op == OP_RST)
				conn_free(c);
		}
		hdr_encode(&h, b);
		virtq_chain_write(ch, 0, b, HDR_LEN);
		virtq_push(vq, ch->head, HDR_LEN + plen);
		pushed = true;
	}
	if (pushed && virtq_need_interrupt(vq))
		virtio_notify_queue(d, RXQ);
}

/* ---- host sockets ---- */

static void host_accept(struct vsock *v)
{
	for (;;) {
		int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0)
			return;
		c = conn_new(v, fd);
		if (!c) {
			close(fd); /* too many connections */
			continue;
		}
		c->state = C_LINE;
	}
}

/* the "CONNECT <port>\n" line, a byte at a time (what follows it is the stream's) */
static void host_line(struct vsock *v, struct conn *c)
{
	for (;;) {
		char ch;
		ssize_t r = recv(c->fd, &ch, 1, MSG_DONTWAIT);
		unsigned long port;
		char *e;

		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (r <= 0 || c->line_len == LINE_MAX_ - 1) {
			conn_free(c);
			return;
		}
		if (ch != '\n') {
			c->line[c->line_len++] = ch;
			continue;
		}
		c->line[c->line_len] = 0;
		errno = 0;
		if (strncmp(c->line, "CONNECT ", 8) || c->line[8] < '0' || c->line[8] > '9' ||
		    (port = strtoul(c->line + 8, &e, 10), *e && *e != '\r') || errno ||
		    port > 0xffffffffu) {
			conn_free(c);
			return;
		}
		c->peer_port = (uint32_t)port;
		/* a host port that no connection uses */
		do {
			c->local_port = v->next_local++;
			if (v->next_local < LOCAL_PORT0)
				v->next_local = LOCAL_PORT0;
		} while (conn_find(v, c->local_port, c->peer_port));
		c->state = C_REQ_SENT;
		c->pending = P_REQUEST;
		return;
	}
}

static void host_read(struct vsock *v, struct conn *c, short revents)
{
	uint32_t room = credit(c);
	ssize_t r;

	(void)v;
	if (room > STAGE_MAX)
		room = STAGE_MAX;
	if (!room)
		return;
	r = recv(c->fd, c->stage, room, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r > 0) {
		c->stage_len = (unsigned)r;
		c->stage_off = 0;
		return;
	}
	/* end of file (or an error): SHUTDOWN once the guest has what came before */
	c->host_eof = true;
	c->host_hup = r < 0 || (revents & (POLLHUP | POLLERR));
	if (c->host_hup && !c->out_len)
		conn_close_fd(c);
	c->shut_flags = c->host_hup ? SHUT_RCV_F | SHUT_SEND_F : SHUT_SEND_F;
	c->pending |= P_SHUTDOWN;
}

/* ---- the worker ---- */

static bool serving(const struct virtio_dev *d)
{
	return (d->status & VIRTIO_STATUS_DRIVER_OK) && !(d->status & VIRTIO_STATUS_NEEDS_RESET) &&
	       d->vq[RXQ].enabled && d->vq[TXQ].enabled;
}

static void drain(int fd)
{
	uint64_t cnt;
	if (read(fd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: nothing was there */
	}
}

static void *vsock_worker(void *arg)
{
	struct virtio_dev *d = arg;
	struct vsock *v = d->priv;

	for (;;) {
		unsigned n = 0;
		int r;

		pthread_mutex_lock(&d->lock);
		bool on = serving(d);
		v->pfd[n] = (struct pollfd){.fd = d->stopfd, .events = POLLIN};
		v->pconn[n++] = -1;
		for (unsigned q = 0; q < 3; q++) {
			v->pfd[n] = (struct pollfd){.fd = d->kick[q], .events = POLLIN};
			v->pconn[n++] = -1;
		}
		/* host connections wait for the driver (so do the guest's, to SOCK_P) */
		v->pfd[n] = (struct pollfd){.fd = v->listen_fd, .events = on ? POLLIN : 0};
		v->pconn[n++] = -1;
		for (unsigned k = 0; on && k < MAX_CONNS; k++) {
			struct conn *c = &v->conns[k];
			short ev = 0;

			if (c->state == C_FREE || c->fd < 0)
				continue;
			if (c->state == C_LINE)
				ev |= POLLIN;
			if (c->state == C_OPEN && !credit(c) && !c->creq_sent &&
			    (c->stage_len || !c->host_eof)) {
				/* data waits for the guest's buffer space: ask once */
				c->pending |= P_CREQ;
				c->creq_sent = true;
			}
			if (c->state == C_OPEN && !c->host_eof && !c->stage_len &&
			    !(c->guest_shut & SHUT_RCV_F) && !v->rx_starved && credit(c))
				ev |= POLLIN;
			if (c->out_len)
				ev |= POLLOUT;
			if (!ev && !(c->host_eof && !c->host_hup))
				continue;
			/* events 0 after a half close: POLLHUP says when it closes */
			v->pfd[n] = (struct pollfd){.fd = c->fd, .events = ev};
			v->pconn[n++] = (int)k;
		}
		if (on && !v->rx_starved && rx_work(v)) {
			rx_serve(v);
			pthread_mutex_unlock(&d->lock);
			continue; /* the poll set may have changed */
		}
		pthread_mutex_unlock(&d->lock);

		r = poll(v->pfd, n, -1);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		if (v->pfd[0].revents)
			break;
		pthread_mutex_lock(&d->lock);
		if (v->pfd[1].revents) {
			drain(d->kick[RXQ]);
			v->rx_starved = false;
		}
		if (v->pfd[3].revents)
			drain(d->kick[EVTQ]); /* the driver's event buffers stay unused */
		if (serving(d)) {
			if (v->pfd[2].revents) {
				drain(d->kick[TXQ]);
				tx_serve(v);
			}
			if (v->pfd[4].revents)
				host_accept(v);
			for (unsigned i = 5; i < n; i++) {
				struct conn *c = &v->conns[v->pconn[i]];
				short re = v->pfd[i].revents;

				if (!re || c->fd != v->pfd[i].fd)
					continue; /* nothing, or the connection changed meanwhile */
				if (c->state == C_LINE) {
					host_line(v, c);
					continue;
				}
				if (re & POLLOUT)
					flush_out(v, c);
				if (c->fd < 0)
					continue;
				if (v->pfd[i].events & POLLIN) {
					if (re & (POLLIN | POLLHUP | POLLERR))
						host_read(v, c, re);
				} else if (c->host_eof && !c->host_hup &&
					   (re & (POLLHUP | POLLERR))) {
					c->host_hup = true;
					if (!c->out_len)
						conn_close_fd(c);
					c->shut_flags = SHUT_RCV_F | SHUT_SEND_F;
					c->pending |= P_SHUTDOWN;
				}
			}
		} else if (v->pfd[2].revents) {
			drain(d->kick[TXQ]);
		}
		pthread_mutex_unlock(&d->lock);
	}
	return NULL;
}

/* ---- the device ---- */

static int vsock_chain(struct virtio_dev *d, unsigned q, const struct virtq_chain *c,
		       uint32_t *written, const char **why)
{
	/* not reached: vsock_worker serves the queues itself */
	(void)d;
	(void)q;
	(void)c;
	*written = 0;
	*why = "virtio-vsock: no generic worker";
	return -EINVAL;
}

static void vsock_reset(struct virtio_dev *d)
{
	struct vsock *v = d->priv;

	/* the guest's sockets are gone with its driver: so are the host's ends */
	for (unsigned k = 0; k < MAX_CONNS; k++)
		if (v->conns[k].state != C_FREE)
			conn_free(&v->conns[k]);
	v->nrst = 0;
	v->rx_starved = false;
}

static void vsock_destroy(struct virtio_dev *d)
{
	struct vsock *v = d->priv;

	if (!v)
		return;
	for (unsigned k = 0; k < MAX_CONNS; k++)
		if (v->conns[k].state != C_FREE)
			conn_free(&v->conns[k]);
	if (v->listen_fd >= 0) {
		close(v->listen_fd);
		unlink(v->path);
	}
	free(v->rxchain);
	free(v);
	d->priv = NULL;
}

static const struct virtio_dev_ops vsock_ops = {
    .chain = vsock_chain,
    .reset = vsock_reset,
    .destroy = vsock_destroy,
    .worker = vsock_worker,
};

int virtio_vsock_init(struct virtio_dev *d, const struct virtio_vsock_opts *o, char *err,
		      size_t errlen)
{
	struct vsock *v = calloc(1, sizeof(*v));
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct stat st;

	d->name = "virtio-vsock";
	d->ops = &vsock_ops;
	d->priv = v;
	if (v)
		v->rxchain = malloc(sizeof(*v->rxchain));
	if (!v || !v->rxchain) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	v->d = d;
	v->listen_fd = -1;
	v->cid = o->cid;
	v->next_local = LOCAL_PORT0;
	snprintf(v->path, sizeof(v->path), "%s", o->path);
	for (unsigned k = 0; k < MAX_CONNS; k++)
		v->conns[k].fd = -1;
	d->nqueues = 3;
	d->nvectors = 4;
	d->host_fed = 1u << EVTQ;
	put_le(d->config, o->cid, 8); /* guest_cid */
	d->config_len = 8;

	/* a socket left by an earlier run is replaced; any other file is not */
	if (lstat(o->path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(o->path);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", o->path);
	v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v->listen_fd < 0 || bind(v->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(v->listen_fd, 16) < 0) {
		int e = errno;
		if (v->listen_fd >= 0)
			close(v->listen_fd);
		v->listen_fd = -1;
		snprintf(err, errlen, "--vsock path=%s: cannot listen there: %s", o->path,
			 strerror(e));
		return -e;
	}
	return 0;
}
