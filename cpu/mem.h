/* SPDX-License-Identifier: MIT */
/* The guest-physical memory map (shared by the vCPUs of one machine). */
#ifndef SOFTKVM_CPU_MEM_H
#define SOFTKVM_CPU_MEM_H

#include <pthread.h>
#include <stdatomic.h>

#include "cpu.h"

#define MEM_MAX_SLOTS 512
#define MEM_MAX_CPUS  1024

struct mem_slot {
	uint32_t id;
	uint32_t flags;
	uint64_t gpa, size;
	uint8_t *hva;
	_Atomic uint64_t *dirty; /* bit per page */
	_Atomic uint8_t *code;	 /* per page: PG_CODE, PG_MON */
	_Atomic uint32_t *gen;	 /* per page: code generation, bumped on invalidation */
};

/* One version of the memory map: never changed once published (cpu/mem.c). */
struct mem_map {
	unsigned n;
	struct mem_slot *_Atomic hint; /* the slot found last: a lookup hint */
	struct mem_slot *slots[];      /* sorted by gpa */
};

struct cpu_mem {
	pthread_mutex_t wlock;	     /* writers: map changes, dirty bitmaps, grace periods */
	pthread_mutex_t lock;	     /* cpus[] registration */
	struct mem_map *_Atomic map; /* the current map (NULL: no RAM) */
	_Atomic uint32_t map_gen;    /* bumped by every map change */
	_Atomic uint64_t gen;	     /* grace-period generation, starts at 1 */
	_Atomic unsigned scanners;   /* writers walking cpus[] */
	_Atomic unsigned waiting;    /* writers asleep on acks */
	_Atomic uint32_t acks;	     /* futex: bumped when a reader acknowledges */
	_Atomic unsigned ncpus;	     /* cpus[] entries ever used */
	struct cpu *_Atomic cpus[MEM_MAX_CPUS];
	struct mem_reader *readers; /* per cpus[] entry, 64-byte records */
	/* bumped when RAM may have been written outside the processors and an
	 * interrupt announces it (cpu_mem_note_external_write) */
	_Atomic uint32_t ext_gen;
};

#define PG_CODE 1 /* decoded code exists */
#define PG_MON	2 /* an address-range monitor is armed in the page */

struct mem_slot *mem_find_slot(struct cpu_mem *m, uint64_t gpa);
void mem_flush_write_all(struct cpu *c);
bool mem_monitor_arm(struct cpu *c, uint64_t gpa);
/* trigger the monitors this vCPU's stores hit (EV_MONHIT, end of cpu_run) */
void mem_monitor_flush(struct cpu *c);
bool mem_register_cpu(struct cpu_mem *m, struct cpu *c);
void mem_unregister_cpu(struct cpu_mem *m, struct cpu *c);
/* cpu_run(): enter a read-side section and catch up with the map; leave it */
void mem_run_enter(struct cpu *c);
void mem_run_exit(struct cpu *c, unsigned nest);
/* EV_TLBFLUSH at a block boundary: drop stale translations, acknowledge the generation */
void mem_quiesce(struct cpu *c);
/* Host pointer of the instruction byte at la (NULL: not RAM); *gpa_out its address. */
const uint8_t *mem_fetch_page(struct cpu *c, uint64_t la, uint64_t *gpa_out);
/* The code byte at la, or NULL where a fetch would fault: never faults. */
const uint8_t *mem_fetch_probe(struct cpu *c, uint64_t la);

#endif
