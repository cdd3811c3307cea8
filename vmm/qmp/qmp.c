/* SPDX-License-Identifier: MIT */
/*
 * QMP server (QEMU 7.2's docs/interop/qmp-spec.txt): a greeting, the
 * capabilities negotiation, then one JSON object per command and one per
 * reply ("return" or "error", with the command's "id" echoed), and
 * asynchronous events with a timestamp. Error classes and texts are QEMU
 * 7.2's (GenericError, CommandNotFound). One client at a time: a second
 * connection waits in the listen backlog until the first one closes.
 *
 * Threads: the server thread owns the socket and runs every command; events
 * of the VMM's main thread (qmp_detach) are queued for it. Nothing here
 * blocks on the client: replies and events go into an output buffer that
 * the server thread writes when the socket is writable (a client that lets
 * more than QMP_OUT_MAX bytes pile up is disconnected).
 */
#include "qmp.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "../migration/migration.h"
#include "../vmm.h"
#include "json.h"

#define QMP_OUT_MAX (16u << 20)

/* the version QMP clients are told: the QEMU whose protocol this follows */
#define QMP_VERSION                                                                                \
	"{\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"softkvm\"}"

struct streamer {
	struct jbuf buf;
	int depth;
	bool in_str, esc, scalar;
};

struct qmp {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd, client_fd, wake_fd;
	bool reset_exits;
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock; /* everything below */
	bool closing;
	bool negotiated; /* the client ran qmp_capabilities */
	struct jbuf out; /* for the client: out.p[out_off..out.len) */
	size_t out_off;
	struct vmm *vm;	     /* attached VM, or NULL between boots */
	bool paused;	     /* stop without cont: applies to the next VM too */
	bool quit;	     /* quit asked */
	bool host_reset;     /* system_reset asked (its event is sent) */
	bool host_events;    /* the RESET/SHUTDOWN of this boot's end is sent */
	struct mig_out *mig; /* the last outgoing migration, or NULL */
	bool postmigrate;    /* stopped by a completed migration (until cont) */

	struct streamer in;
};

/* ---- output (q->lock held) ---- */

static void wake(struct qmp *q)
{
	uint64_t one = 1;
	ssize_t r = write(q->wake_fd, &one, sizeof(one));
	(void)r;
}

static void queue(struct qmp *q, struct jbuf *msg)
{
	if (q->client_fd < 0 || msg->oom)
		return;
	jb_raw(&q->out, msg->p, msg->len);
	jb_raw(&q->out, "\r\n", 2); /* QEMU ends each message so */
	wake(q);
}

static void event(struct qmp *q, const char *name, const char *data)
{
	struct timeval tv;
	struct jbuf m;

	if (!q->negotiated) /* events start with command mode */
		return;
	gettimeofday(&tv, NULL);
	jb_init(&m);
	jb_printf(&m,
		  "{\"timestamp\": {\"seconds\": %lld, \"microseconds\": %ld}, \"event\": \"%s\"",
		  (long long)tv.tv_sec, (long)tv.tv_usec, name);
	if (data)
		jb_printf(&m, ", \"data\": %s", data);
	jb_puts(&m, "}");
	queue(q, &m);
	jb_free(&m);
}

static void shutdown_event(struct qmp *q, const char *name, bool guest, const char *reason)
{
	char data[96];
	snprintf(data, sizeof(data), "{\"guest\": %s, \"reason\": \"%s\"}",
		 guest ? "true" : "false", reason);
	event(q, name, data);
}

static void reply_error(struct qmp *q, const struct json *id, const char *cls, const char *desc)
{
	struct jbuf m;

	jb_init(&m);
	jb_puts(&m, "{");
	if (id) {
		jb_puts(&m, "\"id\": ");
		jb_value(&m, id);
		jb_puts(&m, ", ");
	}
	jb_puts(&m, "\"error\": {\"class\": ");
	jb_cstring(&m, cls);
	jb_puts(&m, ", \"desc\": ");
	jb_cstring(&m, desc);
	jb_puts(&m, "}}");
	queue(q, &m);
	jb_free(&m);
}

static void reply(struct qmp *q, const struct json *id, const char *ret)
{
	struct jbuf m;

	jb_init(&m);
	jb_printf(&m, "{\"return\": %s", ret);
	if (id) {
		jb_puts(&m, ", \"id\": ");
		jb_value(&m, id);
	}
	jb_puts(&m, "}");
	queue(q, &m);
	jb_free(&m);
}

/* ---- commands (q->lock held) ---- */

struct command {
	const char *name;
	const char *args; /* the arguments it takes: ",a,b," (NULL: none) */
	/* the return value as JSON into r, or an error (class, desc) */
	void (*run)(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
		    size_t desclen);
};

static void cmd_query_status(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
			     size_t n)
{
	(void)args, (void)desc, (void)n;
	jb_printf(r, "{\"status\": \"%s\", \"singlestep\": false, \"running\": %s}",
		  !q->paused	   ? "running"
		  : q->postmigrate ? "postmigrate"
				   : "paused",
		  q->paused ? "false" : "true");
}

static void cmd_stop(struct qmp *q, const struct json *args, struct jbuf *r, char *desc, size_t n)
{
	(void)args, (void)desc, (void)n;
	if (!q->paused) {
		q->paused = true;
		if (q->vm)
			vmm_pause(q->vm); /* returns once no vCPU runs */
		event(q, "STOP", NULL);
	}
	jb_puts(r, "{}");
}

static void cmd_cont(struct qmp *q, const struct json *args, struct jbuf *r, char *desc, size_t n)
{
	(void)args;
	if (q->mig && mig_in_stop_copy(q->mig)) {
		snprintf(desc, n, "The VM is being migrated (stop and copy): cont has to wait");
		return;
	}
	if (q->paused) {
		q->paused = false;
		q->postmigrate = false;
		if (q->vm)
			vmm_resume(q->vm);
		event(q, "RESUME", NULL);
	}
	jb_puts(r, "{}");
}

static void cmd_system_powerdown(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
				 size_t n)
{
	(void)args, (void)desc, (void)n;
	event(q, "POWERDOWN", NULL);
	if (q->vm) {
		pthread_mutex_lock(&q->vm->io_lock);
		acpi_pm_power_button(&q->vm->pm);
		pthread_mutex_unlock(&q->vm->io_lock);
	}
	jb_puts(r, "{}");
}

static void cmd_system_reset(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
			     size_t n)
{
	(void)args, (void)desc, (void)n;
	/* as QEMU with -no-reboot: a reset that does not reboot is a shutdown */
	shutdown_event(q, q->reset_exits ? "SHUTDOWN" : "RESET", false, "host-qmp-system-reset");
	if (q->vm && vmm_stop(q->vm, VMM_EXIT_RESET))
		q->host_events = true;
	jb_puts(r, "{}");
}

static void cmd_quit(struct qmp *q, const struct json *args, struct jbuf *r, char *desc, size_t n)
{
	(void)args, (void)desc, (void)n;
	shutdown_event(q, "SHUTDOWN", false, "host-qmp-quit");
	q->quit = true;
	q->host_events = true;
	if (q->vm)
		vmm_stop(q->vm, VMM_EXIT_STOPPED);
	jb_puts(r, "{}");
}

static void cmd_query_cpus_fast(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
				size_t n)
{
	(void)args, (void)desc, (void)n;
	jb_puts(r, "[");
	for (unsigned k = 0; q->vm && k < q->vm->ncpus; k++) {
		int tid;
		pthread_mutex_lock(&q->vm->stop_lock);
		tid = q->vm->vcpu[k].tid;
		pthread_mutex_unlock(&q->vm->stop_lock);
		/* QEMU's default topology for -smp N: N sockets of one core, one thread */
		jb_printf(r,
			  "%s{\"thread-id\": %d, \"props\": {\"core-id\": 0, \"thread-id\": 0, "
			  "\"socket-id\": %u}, \"qom-path\": \"/machine/unattached/device[%u]\", "
			  "\"cpu-index\": %u, \"target\": \"x86_64\"}",
			  k ? ", " : "", tid, k, k, k);
	}
	jb_puts(r, "]");
}

static void cmd_query_version(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
			      size_t n)
{
	(void)q, (void)args, (void)desc, (void)n;
	jb_puts(r, QMP_VERSION);
}

static void cmd_query_commands(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
			       size_t n);

static void cmd_qmp_capabilities(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
				 size_t n)
{
	const struct json *en = json_get(args, "enable");

	if (en && en->type != JSON_NULL) {
		if (en->type != JSON_ARRAY) {
			snprintf(desc, n, "Invalid parameter type for 'enable', expected: array");
			return;
		}
		for (size_t k = 0; k < en->len; k++) {
			const struct json *c = en->items[k];
			if (c->type != JSON_STRING) {
				snprintf(
				    desc, n,
				    "Invalid parameter type for 'enable[%zu]', expected: string",
				    k);
				return;
			}
			if (strcmp(c->str, "oob") != 0) {
				/* QEMU 7.2 names the list element 'null' here */
				struct jbuf t;
				jb_init(&t);
				jb_raw(&t, c->str, strlen(c->str));
				snprintf(desc, n, "Parameter 'null' does not accept value '%.200s'",
					 t.p ? t.p : "");
				jb_free(&t);
				return;
			}
		}
		if (en->len) { /* the greeting offered no capability */
			snprintf(desc, n, "Capability oob not available");
			return;
		}
	}
	q->negotiated = true;
	jb_puts(r, "{}");
}

/* a string argument that must be there */
static const char *str_arg(const struct json *args, const char *name, char *desc, size_t n)
{
	const struct json *v = json_get(args, name);
	if (!v) {
		snprintf(desc, n, "Parameter '%s' is missing", name);
		return NULL;
	}
	if (v->type != JSON_STRING) {
		snprintf(desc, n, "Invalid parameter type for '%s', expected: string", name);
		return NULL;
	}
	return v->str;
}

static bool mig_running(struct qmp *q)
{
	struct mig_info i;
	if (!q->mig)
		return false;
	mig_query(q->mig, &i);
	return i.status == MIG_SETUP || i.status == MIG_ACTIVE || i.status == MIG_CANCELLING;
}

/* snapshot-save / snapshot-load: the VM must be stopped (Firecracker's rule) */
static bool snapshot_ready(struct qmp *q, const char *cmd, char *desc, size_t n)
{
	if (!q->vm) {
		snprintf(desc, n, "%s: there is no VM (it is rebooting or shutting down)", cmd);
		return false;
	}
	if (!q->paused || !vmm_paused(q->vm)) {
		snprintf(desc, n, "%s: the VM must be stopped first ('stop')", cmd);
		return false;
	}
	if (mig_running(q)) {
		snprintf(desc, n, "There's a migration process in progress");
		return false;
	}
	return true;
}

static void cmd_snapshot_save(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
			      size_t n)
{
	const char *path = str_arg(args, "path", desc, n);
	char err[512];

	if (!path || !snapshot_ready(q, "snapshot-save", desc, n))
		return;
	if (mig_save_file(q->vm, path, err, sizeof(err))) {
		snprintf(desc, n, "%s", err);
		return;
	}
	jb_puts(r, "{}");
}

static void cmd_snapshot_load(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
			      size_t n)
{
	const char *path = str_arg(args, "path", desc, n);
	char err[512];

	if (!path || !snapshot_ready(q, "snapshot-load", desc, n))
		return;
	if (mig_load_file(q->vm, path, err, sizeof(err))) {
		snprintf(desc, n, "%s", err);
		return;
	}
	jb_puts(r, "{}");
}

/* the migration thread: the source stays stopped after a completed migration */
static void migrated_stop(void *opaque)
{
	struct qmp *q = opaque;
	pthread_mutex_lock(&q->lock);
	if (!q->paused) {
		q->paused = true;
		q->postmigrate = true; /* QEMU's RUN_STATE_POSTMIGRATE */
		event(q, "STOP", NULL);
	}
	pthread_mutex_unlock(&q->lock);
}

static void cmd_migrate(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
			size_t n)
{
	const char *uri = str_arg(args, "uri", desc, n);
	char err[512];

	if (!uri)
		return;
	if (mig_running(q)) {
		snprintf(desc, n, "There's a migration process in progress");
		return;
	}
	if (!q->vm) {
		snprintf(desc, n, "migrate: there is no VM (it is rebooting or shutting down)");
		return;
	}
	mig_free(q->mig); /* the last one has ended */
	q->mig = mig_start(q->vm, uri, q->paused, migrated_stop, q, err, sizeof(err));
	if (!q->mig) {
		snprintf(desc, n, "%s", err);
		return;
	}
	jb_puts(r, "{}");
}

static void cmd_query_migrate(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
			      size_t n)
{
	struct mig_info i;

	(void)args, (void)desc, (void)n;
	if (!q->mig) {
		jb_puts(r, "{}");
		return;
	}
	mig_query(q->mig, &i);
	jb_printf(r, "{\"status\": \"%s\"", mig_status_name(i.status));
	if (i.status != MIG_SETUP) {
		jb_printf(r, ", \"total-time\": %lld", (long long)i.total_ms);
		if (i.status == MIG_COMPLETED)
			jb_printf(r, ", \"downtime\": %lld", (long long)i.downtime_ms);
		jb_printf(r,
			  ", \"ram\": {\"transferred\": %llu, \"remaining\": %llu, \"total\": "
			  "%llu, \"duplicate\": %llu, \"normal\": %llu, \"normal-bytes\": %llu, "
			  "\"dirty-sync-count\": %llu, \"page-size\": 4096}",
			  (unsigned long long)i.transferred, (unsigned long long)i.remaining,
			  (unsigned long long)i.total_ram, (unsigned long long)i.zero_pages,
			  (unsigned long long)i.normal_pages,
			  (unsigned long long)i.normal_pages * 4096, (unsigned long long)i.rounds);
	}
	if (i.status == MIG_FAILED && i.error[0]) {
		jb_puts(r, ", \"error-desc\": ");
		jb_cstring(r, i.error);
	}
	jb_puts(r, "}");
}

static void cmd_migrate_cancel(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
			       size_t n)
{
	(void)args, (void)desc, (void)n;
	if (q->mig)
		mig_cancel(q->mig);
	jb_puts(r, "{}");
}

static const struct command commands[] = {
    {"qmp_capabilities", ",enable,", cmd_qmp_capabilities},
    {"query-status", NULL, cmd_query_status},
    {"stop", NULL, cmd_stop},
    {"cont", NULL, cmd_cont},
    {"system_powerdown", NULL, cmd_system_powerdown},
    {"system_reset", NULL, cmd_system_reset},
    {"quit", NULL, cmd_quit},
    {"query-cpus-fast", NULL, cmd_query_cpus_fast},
    {"query-version", NULL, cmd_query_version},
    {"query-commands", NULL, cmd_query_commands},
    {"snapshot-save", ",path,", cmd_snapshot_save},
    {"snapshot-load", ",path,", cmd_snapshot_load},
    {"migrate", ",uri,detach,", cmd_migrate},
    {"query-migrate", NULL, cmd_query_migrate},
    {"migrate_cancel", NULL, cmd_migrate_cancel},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void cmd_query_commands(struct qmp *q, const struct json *args, struct jbuf *r, char *desc,
			       size_t n)
{
	(void)q, (void)args, (void)desc, (void)n;
	jb_puts(r, "[");
	for (size_t k = 0; k < NCOMMANDS; k++)
		jb_printf(r, "%s{\"name\": \"%s\"}", k ? ", " : "", commands[k].name);
	jb_puts(r, "]");
}

/* one message from the client (q->lock held) */
static void dispatch(struct qmp *q, const char *text, size_t len)
{
	char err[256], desc[512];
	struct json *msg = json_parse(text, len, err, sizeof(err));
	const struct json *id, *exec = NULL, *args = NULL;
	const struct command *cmd = NULL;

	if (!msg) {
		reply_error(q, NULL, "GenericError", err);
		return;
	}
	if (msg->type != JSON_OBJECT) {
		reply_error(q, NULL, "GenericError", "QMP input must be a JSON object");
		goto out;
	}
	id = json_get(msg, "id");
	/* qmp_dispatch_check_obj(): each member in turn */
	for (size_t k = 0; k < msg->len; k++) {
		const char *key = msg->keys[k];
		const struct json *v = msg->items[k];
		if (!strcmp(key, "execute")) {
			if (v->type != JSON_STRING) {
				reply_error(q, id, "GenericError",
					    "QMP input member 'execute' must be a string");
				goto out;
			}
			exec = v;
		} else if (!strcmp(key, "arguments")) {
			if (v->type != JSON_OBJECT) {
				reply_error(q, id, "GenericError",
					    "QMP input member 'arguments' must be an object");
				goto out;
			}
			args = v;
		} else if (strcmp(key, "id") != 0) {
			snprintf(desc, sizeof(desc), "QMP input member '%.200s' is unexpected",
				 key);
			reply_error(q, id, "GenericError", desc);
			goto out;
		}
	}
	if (!exec) {
		reply_error(q, id, "GenericError", "QMP input lacks member 'execute'");
		goto out;
	}
	for (size_t k = 0; k < NCOMMANDS; k++)
		if (!strcmp(commands[k].name, exec->str))
			cmd = &commands[k];
	if (!q->negotiated && (!cmd || cmd->run != cmd_qmp_capabilities)) {
		reply_error(q, id, "CommandNotFound",
			    "Expecting capabilities negotiation with 'qmp_capabilities'");
		goto out;
	}
	if (q->negotiated && cmd && cmd->run == cmd_qmp_capabilities) {
		reply_error(q, id, "CommandNotFound",
			    "Capabilities negotiation is already complete, command ignored");
		goto out;
	}
	if (!cmd) {
		snprintf(desc, sizeof(desc), "The command %.200s has not been found", exec->str);
		reply_error(q, id, "CommandNotFound", desc);
		goto out;
	}
	for (size_t k = 0; args && k < args->len; k++) {
		char key[256];
		snprintf(key, sizeof(key), ",%.200s,", args->keys[k]);
		if (cmd->args && strstr(cmd->args, key))
			continue;
		snprintf(desc, sizeof(desc), "Parameter '%.200s' is unexpected", args->keys[k]);
		reply_error(q, id, "GenericError", desc);
		goto out;
	}
	struct jbuf r;
	jb_init(&r);
	desc[0] = 0;
	cmd->run(q, args, &r, desc, sizeof(desc));
	if (desc[0])
		reply_error(q, id, "GenericError", desc);
	else if (!r.oom)
		reply(q, id, r.p);
	else
		reply_error(q, id, "GenericError", "out of memory");
	jb_free(&r);
out:
	json_free(msg);
}

/* ---- input: splitting the byte stream into messages (QEMU's json-streamer) ---- */

static void stream_reset(struct streamer *s)
{
	s->buf.len = 0;
	s->buf.oom = false;
	s->depth = 0;
	s->in_str = s->esc = s->scalar = false;
}

static void stream_emit(struct qmp *q)
{
	struct streamer *s = &q->in;
	if (s->buf.len && !s->buf.oom)
		dispatch(q, s->buf.p, s->buf.len);
	stream_reset(s);
}

static bool ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void stream_feed(struct qmp *q, const char *data, size_t n)
{
	struct streamer *s = &q->in;

	for (size_t i = 0; i < n && q->client_fd >= 0;) {
		char c = data[i];
		if (!s->buf.len && ws(c)) {
			i++;
			continue;
		}
		/* a top-level number or keyword ends at a delimiter */
		if (s->scalar && !s->depth && !s->in_str &&
		    (ws(c) || c == '{' || c == '}' || c == '[' || c == ']' || c == '"' ||
		     c == ',' || c == ':')) {
			stream_emit(q);
			continue; /* c again, in a new message */
		}
		jb_raw(&s->buf, &c, 1);
		i++;
		if (s->buf.len > JSON_MAX_LEN) {
			reply_error(q, NULL, "GenericError",
				    "JSON parse error, message larger than 1 MiB");
			stream_reset(s);
			continue;
		}
		if (s->in_str) {
			if (s->esc)
				s->esc = false;
			else if (c == '\\')
				s->esc = true;
			else if (c == '"') {
				s->in_str = false;
				if (!s->depth)
					stream_emit(q);
			}
			continue;
		}
		switch (c) {
		case '"':
			s->in_str = true;
			break;
		case '{':
		case '[':
			if (++s->depth > JSON_MAX_DEPTH) {
				reply_error(q, NULL, "GenericError",
					    "JSON nesting depth limit exceeded");
				stream_reset(s);
			}
			break;
		case '}':
		case ']':
			if (--s->depth <= 0)
				stream_emit(q);
			break;
		default:
			if (!s->depth)
				s->scalar = true;
			break;
		}
	}
}

/* ---- the server thread ---- */

static void greet(struct qmp *q)
{
	struct jbuf m;
	jb_init(&m);
	jb_puts(&m, "{\"QMP\": {\"version\": " QMP_VERSION ", \"capabilities\": []}}");
	queue(q, &m);
	jb_free(&m);
}

static void client_open(struct qmp *q, int fd)
{
	q->client_fd = fd;
	q->negotiated = false;
	q->out.len = 0;
	q->out.oom = false;
	q->out_off = 0;
	stream_reset(&q->in);
	greet(q);
}

static void client_close(struct qmp *q)
{
	if (q->client_fd >= 0)
		close(q->client_fd);
	q->client_fd = -1;
	q->negotiated = false;
	q->out.len = 0;
	q->out_off = 0;
	stream_reset(&q->in);
}

/* write what the socket takes now; false if the client is gone or lets more
 * than QMP_OUT_MAX bytes pile up */
static bool flush_some(struct qmp *q)
{
	while (q->client_fd >= 0 && q->out_off < q->out.len) {
		ssize_t w = send(q->client_fd, q->out.p + q->out_off, q->out.len - q->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0)
			return false;
		q->out_off += (size_t)w;
	}
	if (q->out_off == q->out.len) {
		q->out.len = q->out_off = 0;
	} else if (q->out_off >= (1u << 20)) { /* drop what was sent */
		memmove(q->out.p, q->out.p + q->out_off, q->out.len - q->out_off);
		q->out.len -= q->out_off;
		q->out_off = 0;
	}
	return !q->out.oom && q->out.len - q->out_off <= QMP_OUT_MAX;
}

static void *server_thread(void *arg)
{
	struct qmp *q = arg;
	char buf[4096];

	pthread_mutex_lock(&q->lock);
	while (!q->closing) {
		struct pollfd p[2] = {{.fd = q->wake_fd, .events = POLLIN}};
		int np = 1;
		if (q->client_fd >= 0) {
			p[1].fd = q->client_fd;
			p[1].events = POLLIN | (q->out_off < q->out.len ? POLLOUT : 0);
		} else {
			p[1].fd = q->listen_fd; /* one client at a time */
			p[1].events = POLLIN;
		}
		np = 2;
		pthread_mutex_unlock(&q->lock);
		int r = poll(p, (nfds_t)np, -1);
		pthread_mutex_lock(&q->lock);
		if (r < 0)
			continue;
		if (p[0].revents & POLLIN) {
			uint64_t v;
			ssize_t k = read(q->wake_fd, &v, sizeof(v));
			(void)k;
		}
		if (q->closing)
			break;
		if (q->client_fd < 0) {
			if (p[1].revents & POLLIN) {
				int fd = accept4(q->listen_fd, NULL, NULL, SOCK_CLOEXEC);
				if (fd >= 0)
					client_open(q, fd);
			}
		} else if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t k = recv(q->client_fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (k > 0)
				stream_feed(q, buf, (size_t)k);
			else if (k == 0 || (errno != EAGAIN && errno != EINTR))
				client_close(q);
		}
		if (q->client_fd >= 0 && !flush_some(q))
			client_close(q);
	}
	/* closing: what is queued (quit's reply, the SHUTDOWN event) gets up to 1 s */
	for (int t = 0; t < 100 && q->client_fd >= 0 && q->out_off < q->out.len; t++) {
		if (!flush_some(q))
			break;
		if (q->out_off < q->out.len) {
			struct pollfd p = {.fd = q->client_fd, .events = POLLOUT};
			pthread_mutex_unlock(&q->lock);
			poll(&p, 1, 10);
			pthread_mutex_lock(&q->lock);
		}
	}
	client_close(q);
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* ---- the interface ---- */

static int parse_spec(const char *spec, char *path, size_t pathlen, bool *wait, char *err,
		      size_t errlen)
{
	const char *p, *opt;
	bool server = false;
	int waitopt = -1;

	if (strncmp(spec, "unix:", 5) != 0) {
		snprintf(err, errlen, "--qmp '%s': only unix:PATH sockets are supported", spec);
		return -1;
	}
	p = spec + 5;
	size_t len = strcspn(p, ",");
	if (!len || len >= pathlen) {
		snprintf(err, errlen, "--qmp '%s': the socket path is empty or too long", spec);
		return -1;
	}
	memcpy(path, p, len);
	path[len] = 0;
	for (opt = p + len; *opt == ',';) {
		opt++;
		size_t n = strcspn(opt, ",");
		if ((n == 6 && !strncmp(opt, "server", 6)) ||
		    (n == 9 && !strncmp(opt, "server=on", 9)))
			server = true;
		else if (n == 10 && !strncmp(opt, "server=off", 10))
			server = false;
		else if ((n == 8 && !strncmp(opt, "wait=off", 8)) ||
			 (n == 6 && !strncmp(opt, "nowait", 6)))
			waitopt = 0;
		else if ((n == 7 && !strncmp(opt, "wait=on", 7)) ||
			 (n == 4 && !strncmp(opt, "wait", 4)))
			waitopt = 1;
		else {
			snprintf(err, errlen,
				 "--qmp '%s': unknown option '%.*s' (server, wait=on|off)", spec,
				 (int)n, opt);
			return -1;
		}
		opt += n;
	}
	/* softkvm only listens; QEMU's server mode waits for a client unless wait=off */
	*wait = server && waitopt != 0;
	return 0;
}

struct qmp *qmp_open(const char *spec, bool reset_exits, char *err, size_t errlen)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct qmp *q = calloc(1, sizeof(*q));
	bool wait;
	sigset_t all, saved;

	if (!q) {
		snprintf(err, errlen, "--qmp: out of memory");
		return NULL;
	}
	q->listen_fd = q->client_fd = q->wake_fd = -1;
	q->reset_exits = reset_exits;
	pthread_mutex_init(&q->lock, NULL);
	if (parse_spec(spec, q->path, sizeof(q->path), &wait, err, errlen))
		goto fail;
	memcpy(a.sun_path, q->path, strlen(q->path) + 1);
	q->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->listen_fd < 0 || q->wake_fd < 0) {
		snprintf(err, errlen, "--qmp: %s", strerror(errno));
		goto fail;
	}
	unlink(q->path); /* a stale socket of an earlier run */
	if (bind(q->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(q->listen_fd, 4) < 0) {
		snprintf(err, errlen, "--qmp: cannot listen on %s: %s", q->path, strerror(errno));
		goto fail;
	}
	if (wait) {
		fprintf(stderr, "softkvm run: QMP: waiting for a client on %s\n", q->path);
		int fd;
		do
			fd = accept4(q->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		while (fd < 0 && errno == EINTR);
		if (fd < 0) {
			snprintf(err, errlen, "--qmp: accept on %s: %s", q->path, strerror(errno));
			goto fail;
		}
		client_open(q, fd);
	}
	/* the server thread takes no signal (the vCPU threads' kick is theirs) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	int r = pthread_create(&q->thread, NULL, server_thread, q);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (r) {
		snprintf(err, errlen, "--qmp: cannot start the server thread: %s", strerror(r));
		goto fail;
	}
	q->thread_started = true;
	return q;
fail:
	qmp_close(q);
	return NULL;
}

void qmp_attach(struct qmp *q, struct vmm *vm)
{
	pthread_mutex_lock(&q->lock);
	q->vm = vm;
	q->host_events = false;
	if (q->paused)
		vmm_pause(vm); /* before vmm_run(): no vCPU starts until cont */
	if (q->quit)
		vmm_stop(vm, VMM_EXIT_STOPPED);
	pthread_mutex_unlock(&q->lock);
}

int qmp_detach(struct qmp *q, int status)
{
	/* a migration of this VM ends with it (its thread may take q->lock) */
	pthread_mutex_lock(&q->lock);
	struct mig_out *m = q->mig;
	q->mig = NULL;
	if (m)
		mig_cancel(m);
	pthread_mutex_unlock(&q->lock);
	mig_free(m);
	pthread_mutex_lock(&q->lock);
	struct vmm *vm = q->vm;
	q->vm = NULL;
	if (q->quit) {
		status = VMM_EXIT_STOPPED;
	} else if (!q->host_events && vm) {
		/* what the guest did, as QEMU reports it */
		if (status == VMM_EXIT_RESET)
			shutdown_event(q, q->reset_exits ? "SHUTDOWN" : "RESET", true,
				       "guest-reset");
		else if (status == VMM_EXIT_SHUTDOWN) /* a triple fault resets a PC */
			shutdown_event(q, "SHUTDOWN", true, "guest-reset");
		else if (status == VMM_EXIT_FAILED)
			shutdown_event(q, "SHUTDOWN", false, "host-error");
		else
			shutdown_event(q, "SHUTDOWN", true, "guest-shutdown");
	}
	q->host_events = false;
	pthread_mutex_unlock(&q->lock);
	return status;
}

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	if (q->thread_started) {
		pthread_mutex_lock(&q->lock);
		q->closing = true;
		wake(q);
		pthread_mutex_unlock(&q->lock);
		pthread_join(q->thread, NULL);
	}
	if (q->client_fd >= 0)
		close(q->client_fd);
	if (q->listen_fd >= 0) {
		close(q->listen_fd);
		if (q->path[0])
			unlink(q->path);
	}
	if (q->wake_fd >= 0)
		close(q->wake_fd);
	jb_free(&q->out);
	jb_free(&q->in.buf);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
