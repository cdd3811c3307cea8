/* SPDX-License-Identifier: MIT */
/*
 * The QMP control socket of `softkvm run --qmp` (README.md in this folder).
 * This is the whole interface the rest of the VMM uses: open the socket
 * before the first boot, attach each boot's VM before vmm_run(), detach it
 * after, close at the end. The server runs on its own thread.
 */
#ifndef SOFTKVM_VMM_QMP_QMP_H
#define SOFTKVM_VMM_QMP_QMP_H

#include <stdbool.h>
#include <stddef.h>

struct qmp;
struct vmm;

/*
 * --qmp SPEC: "unix:PATH[,server[=on|off]][,wait=on|off][,nowait]". Binds
 * and listens (a stale socket file is replaced) and starts the server
 * thread. With ",server" and without ",wait=off" it first waits for a
 * client, as QEMU does (one line on stderr says so). reset_exits: the
 * machine does not reboot (--reboot exit), so a reset is a shutdown.
 * NULL with a message on failure.
 */
struct qmp *qmp_open(const char *spec, bool reset_exits, char *err, size_t errlen);
/* A boot's VM exists and is about to run: commands act on it from now on
 * (a stop or quit asked between boots applies to it at once). */
void qmp_attach(struct qmp *q, struct vmm *vm);
/* vmm_run() returned status: the VM goes away; SHUTDOWN or RESET events
 * for what the guest did. Returns the status to go on with (quit: 0). */
int qmp_detach(struct qmp *q, int status);
/* Flush what is queued for the client (briefly), close, remove the socket. */
void qmp_close(struct qmp *q);

#endif
