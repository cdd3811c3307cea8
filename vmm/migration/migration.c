/* SPDX-License-Identifier: MIT */
/*
 * Snapshot files, incoming and outgoing migration (migration.h, README.md).
 *
 * Outgoing migration runs on its own thread: dirty logging on (with
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_CLEAR_DIRTY_LOG after each
 * KVM_GET_DIRTY_LOG), every page once while the guest runs, then rounds of
 * the pages it dirtied meanwhile until few are left (or MAX_ROUNDS), then
 * the vCPUs are paused, the last dirty pages and the whole machine state
 * are sent, and the target's acknowledgement ends the downtime. Any failure
 * or a cancel resumes the source as it was.
 */
#include "migration.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../vmm.h"
#include "state.h"
#include "stream.h"

#define MAX_ROUNDS     10
#define STOP_THRESHOLD 256 /* dirty pages left: stop and copy */
#define ACK_TIMEOUT_MS 60000

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- reading a stream ---- */

struct reader {
	struct rstream r;
	uint32_t crc_all;
	uint64_t nrec;
};

/* header and configuration record into L->cfg */
static int read_start(struct reader *rd, struct mig_loader *L, char *err, size_t errlen)
{
	struct rrec rec;
	int r = rs_header(&rd->r, err, errlen);
	if (r)
		return r;
	r = rs_record(&rd->r, &rec, &rd->crc_all, err, errlen);
	if (r)
		return r;
	rd->nrec++;
	r = mig_parse_config(&rec, &L->cfg, &L->nvirtio, L->what, err, errlen);
	free(rec.p);
	if (r)
		return r;
	L->have_cfg = true;
	return 0;
}

/* the records up to END: memory checked (apply_ram: written), the rest kept and checked */
static int read_rest(struct reader *rd, struct mig_loader *L, bool apply_ram, bool at_eof,
		     char *err, size_t errlen)
{
	struct rrec rec;
	int r;

	for (;;) {
		r = rs_record(&rd->r, &rec, &rd->crc_all, err, errlen);
		if (r)
			return r;
		if (rec.type == REC_END) {
			uint64_t n;
			uint32_t crc;
			if (rec.len != 16) {
				free(rec.p);
				goto corrupt;
			}
			memcpy(&n, rec.p, 8);
			memcpy(&crc, rec.p + 8, 4);
			free(rec.p);
			if (n != rd->nrec || crc != rd->crc_all)
				goto corrupt;
			break;
		}
		rd->nrec++;
		if (rec.type == REC_RAM) {
			r = mig_read_ram(L, &rec, apply_ram, err, errlen);
			free(rec.p);
		} else if (rec.type == REC_CONFIG) {
			free(rec.p);
			goto corrupt;
		} else {
			r = mig_keep_record(L, &rec, err, errlen);
			free(rec.p);
		}
		if (r)
			return r;
	}
	if (at_eof) {
		uint8_t b;
		if (rd->r.pos < rd->r.len || read(rd->r.fd, &b, 1) > 0) {
			snprintf(err, errlen, "%s: corrupted (bytes after the end record)",
				 L->what);
			return -EINVAL;
		}
	}
	return mig_check_complete(L, err, errlen);
corrupt:
	snprintf(err, errlen, "%s: corrupted (the end record does not match what came before)",
		 L->what);
	return -EINVAL;
}

/* one whole pass over a snapshot file */
static int read_file(const char *path, struct mig_loader *L, bool apply_ram, char *err,
		     size_t errlen)
{
	struct reader rd = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "snapshot %s: cannot open: %s", path, strerror(errno));
		return r;
	}
	r = rs_init(&rd.r, fd, L->what);
	if (!r)
		r = read_start(&rd, L, err, errlen);
	if (!r && L->vm)
		r = mig_check_vm(L, err, errlen);
	if (!r && apply_ram)
		mig_zero_ram(L->vm);
	if (!r)
		r = read_rest(&rd, L, apply_ram, true, err, errlen);
	rs_free(&rd.r);
	close(fd);
	return r;
}

int mig_probe_file(const char *path, struct vmm_config *c, char *err, size_t errlen)
{
	struct mig_loader L;
	char what[300];
	int r;

	snprintf(what, sizeof(what), "snapshot %s", path);
	if (mig_loader_init(&L, NULL, what)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = read_file(path, &L, false, err, errlen);
	if (!r) {
		c->mem = L.cfg.mem;
		c->cpus = L.cfg.cpus;
		c->irqchip = L.cfg.irqchip;
		c->kernel = L.cfg.kernel;
		c->append = L.cfg.append;
		c->initrd = L.cfg.initrd;
	}
	mig_loader_free(&L);
	return r;
}

int mig_load_file(struct vmm *vm, const char *path, char *err, size_t errlen)
{
	struct mig_loader L;
	char what[300];
	int r;

	snprintf(what, sizeof(what), "snapshot %s", path);
	if (mig_loader_init(&L, vm, what)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* check everything first; nothing is touched unless the whole file is good */
	r = read_file(path, &L, false, err, errlen);
	if (!r) {
		mig_loader_free(&L);
		mig_loader_init(&L, vm, what);
		/* the devices idle: no request of theirs sees memory half loaded */
		mig_lock_devices(vm);
		r = read_file(path, &L, true, err, errlen);
		if (!r)
			r = mig_apply_state_locked(&L, err, errlen);
		mig_unlock_devices(vm);
		virtio_restored(vm);
	}
	mig_loader_free(&L);
	return r;
}

/* ---- writing ---- */

static int write_machine(struct wstream *w, struct vmm *vm, char *err, size_t errlen)
{
	struct mig_ram_ctx x;
	struct slotinfo;
	int r;

	if (mig_ram_ctx_init(&x)) {
		mig_ram_ctx_free(&x);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ws_header(w);
	mig_write_config(w, vm, vm->config);
	for (unsigned s = 0; s < 2; s++)
		mig_write_ram(w, vm, s, NULL, &x);
	mig_ram_ctx_free(&x);
	r = mig_write_state(w, vm, err, errlen);
	if (r)
		return r;
	ws_end(w);
	return ws_flush(w);
}

int mig_save_file(struct vmm *vm, const char *path, char *err, size_t errlen)
{
	struct wstream w;
	char tmp[4200];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "snapshot %.200s...: path too long", path);
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "snapshot %s: cannot create: %s", path, strerror(errno));
		return r;
	}
	if (ws_init(&w, fd, NULL)) {
		close(fd);
		unlink(tmp);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	mig_lock_devices(vm);
	r = write_machine(&w, vm, err, errlen);
	mig_unlock_devices(vm);
	if (r && w.err == r)
		snprintf(err, errlen, "snapshot %s: write error: %s", path, strerror(-r));
	if (!r && fsync(fd) < 0) {
		r = -errno;
		snprintf(err, errlen, "snapshot %s: fsync: %s", path, strerror(errno));
	}
	ws_free(&w);
	if (close(fd) < 0 && !r) {
		r = -errno;
		snprintf(err, errlen, "snapshot %s: close: %s", path, strerror(errno));
	}
	if (!r && rename(tmp, path) < 0) {
		r = -errno;
		snprintf(err, errlen, "snapshot %s: cannot rename %s to it: %s", path, tmp,
			 strerror(errno));
	}
	if (r)
		unlink(tmp);
	return r;
}

/* ---- URIs ---- */

struct uri {
	bool is_unix;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char host[256], port[16];
};

static int parse_uri(const char *s, struct uri *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof(*u));
	if (!strncmp(s, "unix:", 5)) {
		size_t n = strlen(s + 5);
		if (!n || n >= sizeof(u->path))
			goto bad;
		u->is_unix = true;
		memcpy(u->path, s + 5, n + 1);
		return 0;
	}
	if (!strncmp(s, "tcp:", 4)) {
		const char *hp = s + 4, *colon = strrchr(hp, ':');
		if (!colon || colon == hp || (size_t)(colon - hp) >= sizeof(u->host) || !colon[1] ||
		    strlen(colon + 1) >= sizeof(u->port) ||
		    strspn(colon + 1, "0123456789") != strlen(colon + 1))
			goto bad;
		memcpy(u->host, hp, (size_t)(colon - hp));
		snprintf(u->port, sizeof(u->port), "%s", colon + 1);
		return 0;
	}
bad:
	snprintf(err, errlen, "Invalid migration URI '%s' (unix:PATH or tcp:HOST:PORT)", s);
	return -EINVAL;
}

static int uri_socket(const struct uri *u, bool listen_side, char *err, size_t errlen,
		      const char *text)
{
	int fd, r;

	if (u->is_unix) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		memcpy(a.sun_path, u->path, strlen(u->path) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			goto fail;
		if (listen_side) {
			unlink(u->path);
			if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0)
				goto fail_fd;
		} else if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			goto fail_fd;
		}
		return fd;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = listen_side ? AI_PASSIVE : 0},
			*res;
	r = getaddrinfo(u->host, u->port, &hints, &res);
	if (r) {
		snprintf(err, errlen, "%s: %s", text, gai_strerror(r));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		goto fail;
	}
	if (listen_side) {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1) < 0) {
			freeaddrinfo(res);
			goto fail_fd;
		}
	} else if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		freeaddrinfo(res);
		goto fail_fd;
	}
	freeaddrinfo(res);
	return fd;
fail_fd:
	r = errno;
	close(fd);
	errno = r;
fail:
	r = -errno;
	snprintf(err, errlen, "%s: %s", text, strerror(errno));
	return r;
}

/* ---- incoming ---- */

static struct reader in_rd;
static struct mig_loader in_L;

int mig_incoming_accept(const char *uri, struct vmm_config *c, char *err, size_t errlen)
{
	struct uri u;
	char text[400], what[300];
	int lfd, fd, r;

	if (parse_uri(uri, &u, err, errlen))
		return -EINVAL;
	snprintf(text, sizeof(text), "--incoming %s", uri);
	lfd = uri_socket(&u, true, err, errlen, text);
	if (lfd < 0)
		return lfd;
	fprintf(stderr, "softkvm run: waiting for an incoming migration on %s\n", uri);
	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	r = -errno;
	close(lfd);
	if (u.is_unix)
		unlink(u.path);
	if (fd < 0) {
		snprintf(err, errlen, "%s: accept: %s", text, strerror(-r));
		return r;
	}
	snprintf(what, sizeof(what), "migration stream on %s", uri);
	if (mig_loader_init(&in_L, NULL, what) || rs_init(&in_rd.r, fd, what)) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = read_start(&in_rd, &in_L, err, errlen);
	if (r) {
		close(fd);
		return r;
	}
	c->mem = in_L.cfg.mem;
	c->cpus = in_L.cfg.cpus;
	c->irqchip = in_L.cfg.irqchip;
	c->kernel = in_L.cfg.kernel;
	c->append = in_L.cfg.append;
	c->initrd = in_L.cfg.initrd;
	return fd;
}

static void send_reply(int fd, const char *msg)
{
	size_t n = strlen(msg), off = 0;
	while (off < n) {
		ssize_t k = send(fd, msg + off, n - off, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		off += (size_t)k;
	}
}

int mig_incoming_finish(int conn, struct vmm *vm, char *err, size_t errlen)
{
	int r;

	in_L.vm = vm;
	in_L.xlen = 0;
	r = mig_check_vm(&in_L, err, errlen);
	if (!r) {
		/* the target does not run before the end: memory is written as it comes */
		mig_zero_ram(vm);
		r = read_rest(&in_rd, &in_L, true, false, err, errlen);
	}
	if (!r)
		r = mig_apply_state(&in_L, err, errlen);
	if (r) {
		char msg[600];
		snprintf(msg, sizeof(msg), "ERR %s\n", err);
		send_reply(conn, msg);
	} else {
		send_reply(conn, "OK\n");
	}
	rs_free(&in_rd.r);
	mig_loader_free(&in_L);
	close(conn);
	return r;
}

/* ---- outgoing ---- */

struct mig_out {
	struct vmm *vm;
	char uri[512];
	struct uri u;
	bool was_paused;
	void (*stop_cb)(void *);
	void *opaque;
	pthread_t thread;
	atomic_bool cancel;
	atomic_bool stop_copy;
	bool committed;	      /* END went out: only the target's answer decides now (lock) */
	pthread_mutex_t lock; /* info, fd */
	struct mig_info info;
	int64_t start_ms;
	int fd;
};

const char *mig_status_name(enum mig_status s)
{
	static const char *const names[] = {"none",   "setup",	    "active",	"completed",
					    "failed", "cancelling", "cancelled"};
	return names[s];
}

static void set_status(struct mig_out *m, enum mig_status s)
{
	pthread_mutex_lock(&m->lock);
	if (!(m->info.status == MIG_CANCELLING && s == MIG_ACTIVE))
		m->info.status = s;
	pthread_mutex_unlock(&m->lock);
}

static int set_logging(struct vmm *vm, bool on)
{
	for (unsigned s = 0; s < (vm->high_size ? 2u : 1u); s++) {
		struct kvm_userspace_memory_region reg = {
		    .slot = s,
		    .flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		    .guest_phys_addr = s ? 0x100000000ull : 0,
		    .memory_size = s ? vm->high_size : vm->low_size,
		    .userspace_addr = (uintptr_t)(s ? vm->ram + vm->low_size : vm->ram),
		};
		int r = kvmdev_ioctl(&vm->kvm, vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg);
		if (r < 0)
			return r;
	}
	return 0;
}

/* the slot's dirty pages since the last call, ORed into bm; how many, or -errno */
static int64_t fetch_dirty(struct vmm *vm, unsigned s, uint64_t *bm, uint64_t *tmp, bool manual)
{
	uint64_t pages = (s ? vm->high_size : vm->low_size) / MIG_PAGE, words = (pages + 63) / 64;
	struct kvm_dirty_log d = {.slot = s};
	int64_t n = 0;

	memset(tmp, 0, words * 8);
	d.dirty_bitmap = tmp;
	int r = kvmdev_ioctl(&vm->kvm, vm->vm_fd, KVM_GET_DIRTY_LOG, &d);
	if (r < 0)
		return r;
	if (manual) {
		struct kvm_clear_dirty_log c = {
		    .slot = s, .num_pages = (uint32_t)pages, .first_page = 0, .dirty_bitmap = tmp};
		r = kvmdev_ioctl(&vm->kvm, vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &c);
		if (r < 0)
			return r;
	}
	/* the pages the VMM's devices wrote: KVM's log does not see them */
	virtio_harvest_dirty(vm, s ? 0x100000000ull : 0, tmp, pages);
	for (uint64_t k = 0; k < words; k++) {
		bm[k] |= tmp[k];
		n += __builtin_popcountll(bm[k]);
	}
	return n;
}

static void fail_out(struct mig_out *m, const char *fmt, const char *a, int e)
{
	pthread_mutex_lock(&m->lock);
	if (!m->info.error[0])
		snprintf(m->info.error, sizeof(m->info.error), fmt, a, strerror(e));
	pthread_mutex_unlock(&m->lock);
}

static void *out_thread(void *arg)
{
	struct mig_out *m = arg;
	struct vmm *vm = m->vm;
	struct wstream w;
	struct mig_ram_ctx x;
	uint64_t *bm[2] = {NULL, NULL}, *tmp = NULL;
	bool logging = false, paused_here = false, manual = false, ok = false;
	int64_t stop_ms = 0;
	char err[256] = "";
	int fd, r;
	unsigned nslots = vm->high_size ? 2 : 1;

	memset(&w, 0, sizeof(w));
	memset(&x, 0, sizeof(x));
	fd = uri_socket(&m->u, false, err, sizeof(err), "Failed to connect");
	if (fd < 0) {
		fail_out(m, "%s", err, 0);
		pthread_mutex_lock(&m->lock);
		snprintf(m->info.error, sizeof(m->info.error), "%s", err);
		pthread_mutex_unlock(&m->lock);
		goto out;
	}
	pthread_mutex_lock(&m->lock);
	m->fd = fd;
	pthread_mutex_unlock(&m->lock);
	if (ws_init(&w, fd, &m->cancel) || mig_ram_ctx_init(&x))
		goto nomem;
	for (unsigned s = 0; s < nslots; s++) {
		uint64_t words = ((s ? vm->high_size : vm->low_size) / MIG_PAGE + 63) / 64;
		bm[s] = calloc(words, 8);
		if (!bm[s])
			goto nomem;
	}
	tmp = calloc(
	    (vm->low_size > vm->high_size ? vm->low_size : vm->high_size) / MIG_PAGE / 64 + 1, 8);
	if (!tmp)
		goto nomem;

	/* KVM_CLEAR_DIRTY_LOG after each KVM_GET_DIRTY_LOG when the KVM offers it */
	if (kvmdev_ioctl(&vm->kvm, vm->vm_fd, KVM_CHECK_EXTENSION,
			 (void *)(long)KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) > 0) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
					     .args = {KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE}};
		manual = kvmdev_ioctl(&vm->kvm, vm->vm_fd, KVM_ENABLE_CAP, &cap) == 0;
	}
	/* forget what the devices wrote so far: the first round copies everything */
	for (unsigned s = 0; s < nslots; s++) {
		virtio_harvest_dirty(vm, s ? 0x100000000ull : 0, bm[s],
				     (s ? vm->high_size : vm->low_size) / MIG_PAGE);
		memset(bm[s], 0, ((s ? vm->high_size : vm->low_size) / MIG_PAGE + 63) / 64 * 8);
	}
	r = set_logging(vm, true);
	if (r < 0) {
		fail_out(m, "%sKVM_SET_USER_MEMORY_REGION (dirty logging): %s", "", -r);
		goto out;
	}
	logging = true;
	set_status(m, MIG_ACTIVE);
	pthread_mutex_lock(&m->lock);
	m->info.total_ram = vm->ram_size;
	pthread_mutex_unlock(&m->lock);

	ws_header(&w);
	mig_write_config(&w, vm, vm->config);
	for (unsigned s = 0; s < nslots && !w.err; s++)
		mig_write_ram(&w, vm, s, NULL, &x);
	unsigned rounds = 1;
	for (;;) {
		int64_t dirty = 0;
		ws_flush(&w);
		pthread_mutex_lock(&m->lock);
		m->info.transferred = w.off;
		m->info.normal_pages = x.normal_pages;
		m->info.zero_pages = x.zero_pages;
		m->info.rounds = rounds;
		pthread_mutex_unlock(&m->lock);
		if (w.err)
			break;
		for (unsigned s = 0; s < nslots && dirty >= 0; s++) {
			int64_t n = fetch_dirty(vm, s, bm[s], tmp, manual);
			dirty = n < 0 ? n : dirty + n;
		}
		if (dirty < 0) {
			w.err = (int)dirty;
			break;
		}
		pthread_mutex_lock(&m->lock);
		m->info.remaining = (uint64_t)dirty * MIG_PAGE;
		pthread_mutex_unlock(&m->lock);
		if (dirty <= STOP_THRESHOLD || rounds >= MAX_ROUNDS)
			break;
		for (unsigned s = 0; s < nslots; s++) {
			mig_write_ram(&w, vm, s, bm[s], &x);
			uint64_t words = ((s ? vm->high_size : vm->low_size) / MIG_PAGE + 63) / 64;
			memset(bm[s], 0, words * 8);
		}
		rounds++;
	}
	if (w.err)
		goto write_failed;

	/* stop and copy */
	stop_ms = now_ms();
	atomic_store(&m->stop_copy, true);
	paused_here = vmm_pause(vm);
	/* the devices idle (no request in flight) while their pages and state go */
	mig_lock_devices(vm);
	for (unsigned s = 0; s < nslots; s++) {
		int64_t n = fetch_dirty(vm, s, bm[s], tmp, manual);
		if (n < 0) {
			mig_unlock_devices(vm);
			w.err = (int)n;
			goto write_failed;
		}
		mig_write_ram(&w, vm, s, bm[s], &x);
	}
	r = mig_write_state(&w, vm, err, sizeof(err));
	mig_unlock_devices(vm);
	if (r) {
		fail_out(m, "%s", err, 0);
		pthread_mutex_lock(&m->lock);
		snprintf(m->info.error, sizeof(m->info.error), "%s", err);
		pthread_mutex_unlock(&m->lock);
		goto out;
	}
	ws_end(&w);
	ws_flush(&w);
	if (w.err)
		goto write_failed;
	pthread_mutex_lock(&m->lock);
	m->committed = !atomic_load(&m->cancel);
	m->info.transferred = w.off;
	m->info.normal_pages = x.normal_pages;
	m->info.zero_pages = x.zero_pages;
	m->info.rounds = rounds + 1;
	m->info.remaining = 0;
	pthread_mutex_unlock(&m->lock);

	/* the target's answer: "OK\n" once it has applied everything, or "ERR why\n" */
	char ans[600];
	size_t got = 0;
	int64_t deadline = now_ms() + ACK_TIMEOUT_MS;
	while (got < sizeof(ans) - 1 && !memchr(ans, '\n', got)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (atomic_load(&m->cancel) || now_ms() > deadline)
			break;
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t k = recv(fd, ans + got, sizeof(ans) - 1 - got, 0);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	ans[got] = 0;
	if (strncmp(ans, "OK\n", 3) != 0) {
		if (!atomic_load(&m->cancel)) {
			char *nl = strchr(ans, '\n');
			if (nl)
				*nl = 0;
			pthread_mutex_lock(&m->lock);
			snprintf(m->info.error, sizeof(m->info.error), "the target refused: %.200s",
				 !strncmp(ans, "ERR ", 4) ? ans + 4
				 : got			  ? ans
				       : "no answer (connection closed or timed out)");
			pthread_mutex_unlock(&m->lock);
		}
		goto out;
	}
	ok = true;
	pthread_mutex_lock(&m->lock);
	m->info.downtime_ms = now_ms() - stop_ms;
	pthread_mutex_unlock(&m->lock);
	goto out;

write_failed:
	if (w.err != -ECANCELED)
		fail_out(m, "%swrite to the target: %s", "", -w.err);
	goto out;
nomem:
	fail_out(m, "%s%s", "", ENOMEM);
out:
	if (logging)
		set_logging(vm, false);
	atomic_store(&m->stop_copy, false);
	if (ok) {
		/* the source stays stopped: the guest runs on the target now */
		if (paused_here && m->stop_cb)
			m->stop_cb(m->opaque);
	} else if (paused_here) {
		vmm_resume(vm); /* the source goes on as before */
	}
	pthread_mutex_lock(&m->lock);
	m->info.total_ms = now_ms() - m->start_ms;
	m->info.status = ok ? MIG_COMPLETED : atomic_load(&m->cancel) ? MIG_CANCELLED : MIG_FAILED;
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	pthread_mutex_unlock(&m->lock);
	ws_free(&w);
	mig_ram_ctx_free(&x);
	free(bm[0]);
	free(bm[1]);
	free(tmp);
	return NULL;
}

struct mig_out *mig_start(struct vmm *vm, const char *uri, bool was_paused,
			  void (*stop_cb)(void *opaque), void *opaque, char *err, size_t errlen)
{
	struct mig_out *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (parse_uri(uri, &m->u, err, errlen)) {
		free(m);
		return NULL;
	}
	uint8_t vbuf[VIRTIO_STATE_LEN];
	for (unsigned k = 0; vm->virtio && k < vm->virtio->ndevs; k++) {
		/* a device that cannot be saved now (virtio-net) refuses at once */
		pthread_mutex_lock(&vm->virtio->dev[k]->lock);
		int r = virtio_save_state(vm, k, vbuf, err, errlen);
		pthread_mutex_unlock(&vm->virtio->dev[k]->lock);
		if (r) {
			free(m);
			return NULL;
		}
	}
	m->vm = vm;
	snprintf(m->uri, sizeof(m->uri), "%s", uri);
	m->was_paused = was_paused;
	m->stop_cb = stop_cb;
	m->opaque = opaque;
	m->fd = -1;
	m->start_ms = now_ms();
	m->info.status = MIG_SETUP;
	pthread_mutex_init(&m->lock, NULL);
	sigset_t all, saved;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	int r = pthread_create(&m->thread, NULL, out_thread, m);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (r) {
		snprintf(err, errlen, "cannot start the migration thread: %s", strerror(r));
		free(m);
		return NULL;
	}
	return m;
}

void mig_query(struct mig_out *m, struct mig_info *info)
{
	pthread_mutex_lock(&m->lock);
	*info = m->info;
	if (info->status == MIG_SETUP || info->status == MIG_ACTIVE ||
	    info->status == MIG_CANCELLING)
		info->total_ms = now_ms() - m->start_ms;
	pthread_mutex_unlock(&m->lock);
}

void mig_cancel(struct mig_out *m)
{
	pthread_mutex_lock(&m->lock);
	/* once the whole stream is out the target may be running: too late to cancel */
	if ((m->info.status == MIG_SETUP || m->info.status == MIG_ACTIVE) && !m->committed) {
		atomic_store(&m->cancel, true);
		m->info.status = MIG_CANCELLING;
		if (m->fd >= 0)
			shutdown(m->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&m->lock);
}

bool mig_in_stop_copy(struct mig_out *m)
{
	return m && atomic_load(&m->stop_copy);
}

void mig_free(struct mig_out *m)
{
	if (!m)
		return;
	pthread_join(m->thread, NULL);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
