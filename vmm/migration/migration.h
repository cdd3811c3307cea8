/* SPDX-License-Identifier: MIT */
/*
 * Snapshots and live migration of a `softkvm run` VM (README.md in this
 * folder): the one interface of vmm/migration/.
 *
 * The whole VM is written as a stream of checksummed records in the format
 * README.md describes (version MIG_FORMAT_VERSION): the machine's
 * configuration, guest memory (zero pages skipped, zstd-compressed), every
 * vCPU's KVM ABI state (regs, sregs, XSAVE, XCRS, the MSRs of
 * KVM_GET_MSR_INDEX_LIST, LAPIC, events, MP state, debug registers), the
 * in-kernel irqchip, PIT and clock, and the VMM's devices. A snapshot is
 * that stream in a file; a migration sends it over a socket, with memory in
 * pre-copy rounds driven by KVM_GET_DIRTY_LOG before the final stop.
 *
 * Nothing is applied before everything was read and checked: a truncated,
 * corrupted or other-version stream is refused with one line naming it.
 */
#ifndef SOFTKVM_VMM_MIGRATION_MIGRATION_H
#define SOFTKVM_VMM_MIGRATION_MIGRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_FORMAT_VERSION 1

struct vmm;
struct vmm_config;

/*
 * Save the paused VM into `path` (written to PATH.tmp, renamed when
 * complete). 0, or -errno with one line in err. Refused (-EBUSY) while a
 * VMM device is in a state this format cannot hold (any virtio device).
 */
int mig_save_file(struct vmm *vm, const char *path, char *err, size_t errlen);

/*
 * Read the configuration record of snapshot `path` into *c (memory size,
 * vCPUs, irqchip, the kernel files for a later reboot) and check the whole
 * file (every record's checksum, the version, the end record). 0, or
 * -errno with one line naming the file.
 */
int mig_probe_file(const char *path, struct vmm_config *c, char *err, size_t errlen);

/*
 * Load snapshot `path` into `vm` (built with the configuration the file
 * names; paused or not yet running): checked wholly first, then guest
 * memory, the vCPUs, the irqchip, PIT, clock and devices are set. 0, or
 * -errno with one line (nothing changed when the check fails).
 */
int mig_load_file(struct vmm *vm, const char *path, char *err, size_t errlen);

/*
 * Incoming migration (--incoming URI, "unix:PATH" or "tcp:HOST:PORT"):
 * listen, accept one source, read its configuration into *c. Returns a
 * connection handle (>= 0) or -errno with one line in err.
 */
int mig_incoming_accept(const char *uri, struct vmm_config *c, char *err, size_t errlen);
/*
 * Receive the rest of the stream on `conn` into `vm` (built from *c), apply
 * it once complete and acknowledge it to the source; closes conn. 0 or
 * -errno with one line.
 */
int mig_incoming_finish(int conn, struct vmm *vm, char *err, size_t errlen);

/* ---- outgoing migration (QMP migrate, query-migrate, migrate_cancel) ---- */
enum mig_status {
	MIG_NONE,
	MIG_SETUP,
	MIG_ACTIVE,
	MIG_COMPLETED,
	MIG_FAILED,
	MIG_CANCELLING,
	MIG_CANCELLED,
};

struct mig_info {
	enum mig_status status;
	int64_t total_ms;    /* so far while active */
	int64_t downtime_ms; /* completed: from the final stop to the target's acknowledgement */
	uint64_t transferred, total_ram, remaining, normal_pages, zero_pages, rounds;
	char error[256]; /* failed: why */
};

struct mig_out;

/*
 * Start migrating `vm` to `uri` on a thread of its own. `stop_cb` is called
 * (from that thread) once the VM stays stopped at the end (QMP: the source
 * is paused, STOP event); `was_paused` says the user had stopped it before.
 * NULL with one line in err when the URI is bad; connection errors come
 * later, as a failed status.
 */
struct mig_out *mig_start(struct vmm *vm, const char *uri, bool was_paused,
			  void (*stop_cb)(void *opaque), void *opaque, char *err, size_t errlen);
void mig_query(struct mig_out *m, struct mig_info *info);
/* Ask the thread to give up (the source keeps running). */
void mig_cancel(struct mig_out *m);
/* Wait for the thread and free; m may be NULL. */
void mig_free(struct mig_out *m);
const char *mig_status_name(enum mig_status s);
/* The VM is being stopped and copied: it must stay paused until this is false. */
bool mig_in_stop_copy(struct mig_out *m);

#endif
