/* SPDX-License-Identifier: MIT */
/*
 * The page walker: 32-bit paging (with PSE/PSE-36), PAE, 4- and 5-level
 * paging. SDM vol. 3A, chapter 4. Sets accessed and dirty flags atomically,
 * checks reserved bits and the U/S, R/W, NX, WP, SMEP and SMAP rules.
 */
#include "internal.h"

#define PTE_P  (1ull << 0)
#define PTE_W  (1ull << 1)
#define PTE_U  (1ull << 2)
#define PTE_A  (1ull << 5)
#define PTE_D  (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_G  (1ull << 8)
#define PTE_NX (1ull << 63)

#define PFERR_P	   (1u << 0)
#define PFERR_W	   (1u << 1)
#define PFERR_U	   (1u << 2)
#define PFERR_RSVD (1u << 3)
#define PFERR_I	   (1u << 4)
#define PFERR_PK   (1u << 5)
#define WALK_FAULT (1u << 31)

static uint64_t phys_mask(const struct cpu *c)
{
	return ((1ull << c->maxphyaddr) - 1) & PAGE_MASK_4K;
}

/* Read a paging-structure entry; returns a host pointer or NULL (treated as not present). */
static void *pte_ptr(struct cpu *c, uint64_t gpa, unsigned size)
{
	return mem_gpa_ptr(c, gpa, size, false);
}

static uint64_t pte_load(void *p, unsigned size)
{
	if (size == 8)
		return __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
	return __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED);
}

static void pte_set_bits(struct cpu *c, uint64_t gpa, void *p, unsigned size, uint64_t bits)
{
	if ((pte_load(p, size) & bits) == bits)
		return;
	/* the page-table page is written: dirty logging and code invalidation apply */
	mem_gpa_ptr(c, gpa, size, true);
	if (size == 8)
		__atomic_fetch_or((uint64_t *)p, bits, __ATOMIC_RELAXED);
	else
		__atomic_fetch_or((uint32_t *)p, (uint32_t)bits, __ATOMIC_RELAXED);
}

struct level {
	uint64_t gpa;
	void *p;
	unsigned size;
};

static int fault(int acc, int cpl, unsigned accf, const struct cpu *c, uint32_t bits)
{
	uint32_t e = bits;
	if (acc == ACC_W)
		e |= PFERR_W;
	if (cpl == 3 && !(accf & ACCF_IMPLICIT_SV))
		e |= PFERR_U;
	if (acc == ACC_X && (((c->efer & EFER_NXE) && (c->cr4 & CR4_PAE)) || (c->cr4 & CR4_SMEP)))
		e |= PFERR_I;
	return (int)(e | WALK_FAULT);
}

/*
 * Protection keys, SDM vol. 3A 4.6.2: in IA-32e paging with CR4.PKE, a data
 * access to a user-mode address (U/S = 1 at every level) is checked against
 * PKRU for the key in bits 62:59 of the entry that maps the page, whether the
 * access is made in user or supervisor mode (implicit ones included).
 * AD = 1 forbids reads and writes; WD = 1 forbids user-mode writes, and
 * supervisor-mode writes with CR0.WP = 1. Instruction fetches are not checked.
 */
static bool pkey_fault(const struct cpu *c, uint64_t leaf, bool user, int acc, bool umode)
{
	if (!(c->cr4 & CR4_PKE) || !user || acc == ACC_X || !in_long_mode(c))
		return false;
	unsigned key = (unsigned)(leaf >> 59) & 15;
	uint32_t rights = c->pkru >> (2 * key);
	if (rights & 1) /* AD */
		return true;
	return (rights & 2) && acc == ACC_W && (umode || (c->cr0 & CR0_WP));
}

int paging_walk(struct cpu *c, uint64_t la, int acc, int cpl, unsigned accf, struct walk_result *w)
{
	struct level lv[5];
	int nlv = 0;
	uint64_t pm = phys_mask(c), rsvd_hi = ~((1ull << c->maxphyaddr) - 1) & ~PTE_NX;
	bool nxe = (c->efer & EFER_NXE) != 0;
	bool user = true, writable = true, nx = false, global = false;
	uint64_t e = 0, page_size = 4096, base = 0;

	if (c->cr4 & CR4_PAE) {
		int levels;
		uint64_t table;
		uint64_t rsvd_common = (rsvd_hi & 0x000fffffffffffffull) | (nxe ? 0 : PTE_NX);

		if (in_long_mode(c)) {
			levels = (c->cr4 & CR4_LA57) ? 5 : 4;
			table = c->cr3 & pm;
		} else {
			/* PAE: the PDPTE selected by bits 31:30 */
			uint64_t pdpte_gpa = (c->cr3 & 0xffffffe0ull) + ((la >> 30) & 3) * 8;
			void *p = pte_ptr(c, pdpte_gpa, 8);
			e = p ? pte_load(p, 8) : 0;
			if (!(e & PTE_P))
				return fault(acc, cpl, accf, c, 0);
			if (e & ((rsvd_hi & 0x000fffffffffffffull) | 0x1e6ull | PTE_NX))
				return fault(acc, cpl, accf, c, PFERR_P | PFERR_RSVD);
			levels = 2;
			table = e & pm;
		}
		for (int l = levels; l >= 1; l--) {
			unsigned shift = 12 + 9 * (l - 1);
			uint64_t gpa = table + ((la >> shift) & 511) * 8;
			void *p = pte_ptr(c, gpa, 8);
			e = p ? pte_load(p, 8) : 0;
			lv[nlv++] = (struct level){gpa, p, 8};
			if (!(e & PTE_P))
				return fault(acc, cpl, accf, c, 0);
			uint64_t rsvd = rsvd_common;
			if (l == 5 || (l == 4 && in_long_mode(c)))
				rsvd |= PTE_PS; /* PS reserved in PML5E/PML4E */
			if ((e & PTE_PS) && (l == 3 || l == 2)) {
				if (l == 3 && !in_long_mode(c))
					rsvd |= PTE_PS;
				/* large page: bits 12 is PAT; 29:13 (1G) or 20:13 (2M) reserved */
				rsvd |= (l == 3) ? 0x3fffe000ull : 0x1fe000ull;
			}
			if (e & rsvd)
				return fault(acc, cpl, accf, c, PFERR_P | PFERR_RSVD);
			user = user && (e & PTE_U);
			writable = writable && (e & PTE_W);
			nx = nx || (nxe && (e & PTE_NX));
			if (l == 1 || ((e & PTE_PS) && (l == 3 || l == 2))) {
				page_size = 1ull << shift;
				base = e & pm & ~(page_size - 1);
				global = (e & PTE_G) && (c->cr4 & CR4_PGE);
				break;
			}
			table = e & pm;
		}
	} else {
		/* 32-bit paging */
		uint64_t pde_gpa = (c->cr3 & 0xfffff000ull) + ((la >> 22) & 1023) * 4;
		void *p = pte_ptr(c, pde_gpa, 4);
		e = p ? pte_load(p, 4) : 0;
		lv[nlv++] = (struct level){pde_gpa, p, 4};
		if (!(e & PTE_P))
			return fault(acc, cpl, accf, c, 0);
		user = e & PTE_U;
		writable = e & PTE_W;
		if ((e & PTE_PS) && (c->cr4 & CR4_PSE)) {
			/* PSE-36: bits 20:13 are physical address bits 39:32 */
			unsigned hi_bits = c->maxphyaddr > 40 ? 8 : c->maxphyaddr - 32;
			uint64_t rsvd =
			    (1ull << 21) | (((1ull << (8 - hi_bits)) - 1) << (13 + hi_bits));
			if (e & rsvd)
				return fault(acc, cpl, accf, c, PFERR_P | PFERR_RSVD);
			page_size = 4ull << 20;
			base = (e & 0xffc00000ull) | (((e >> 13) & 0xff) << 32);
			global = (e & PTE_G) && (c->cr4 & CR4_PGE);
		} else {
			uint64_t pte_gpa = (e & 0xfffff000ull) + ((la >> 12) & 1023) * 4;
			p = pte_ptr(c, pte_gpa, 4);
			e = p ? pte_load(p, 4) : 0;
			lv[nlv++] = (struct level){pte_gpa, p, 4};
			if (!(e & PTE_P))
				return fault(acc, cpl, accf, c, 0);
			user = user && (e & PTE_U);
			writable = writable && (e & PTE_W);
			base = e & 0xfffff000ull;
			global = (e & PTE_G) && (c->cr4 & CR4_PGE);
		}
	}

	/* access rights, SDM vol. 3A 4.6 */
	bool implicit = accf & ACCF_IMPLICIT_SV;
	bool umode = cpl == 3 && !implicit;
	/* protection keys (4.6.2): PK is reported with any other violation */
	uint32_t pk = pkey_fault(c, e, user, acc, umode) ? PFERR_PK : 0;
	if (umode) {
		if (!user)
			return fault(acc, cpl, accf, c, PFERR_P | pk);
		if (acc == ACC_W && !writable)
			return fault(acc, cpl, accf, c, PFERR_P | pk);
	} else {
		bool smap_block =
		    user && (c->cr4 & CR4_SMAP) && (implicit || !(c->rflags & FL_AC) || cpl == 3);
		if (acc == ACC_X) {
			if (user && (c->cr4 & CR4_SMEP))
				return fault(acc, cpl, accf, c, PFERR_P);
		} else if (smap_block) {
			return fault(acc, cpl, accf, c, PFERR_P | pk);
		}
		if (acc == ACC_W && !writable && (c->cr0 & CR0_WP))
			return fault(acc, cpl, accf, c, PFERR_P | pk);
	}
	if (acc == ACC_X && nx)
		return fault(acc, cpl, accf, c, PFERR_P);
	if (pk)
		return fault(acc, cpl, accf, c, PFERR_P | pk);

	/* accessed flags on every level, dirty on the final one for writes */
	for (int k = 0; k < nlv; k++) {
		uint64_t bits = PTE_A;
		if (k == nlv - 1 && acc == ACC_W)
			bits |= PTE_D;
		if (lv[k].p)
			pte_set_bits(c, lv[k].gpa, lv[k].p, lv[k].size, bits);
	}
	if (nlv && lv[nlv - 1].p)
		e = pte_load(lv[nlv - 1].p, lv[nlv - 1].size);

	w->gpa = base | (la & (page_size - 1));
	w->page_size = page_size;
	w->user = user;
	w->writable = writable;
	w->nx = nx;
	w->global = global;
	w->dirty = (e & PTE_D) != 0;
	return 0;
}

int cpu_translate(struct cpu *c, uint64_t la, uint64_t *gpa, bool *writeable, bool *user)
{
	struct walk_result w;

	if (!(c->cr0 & CR0_PG)) {
		*gpa = in_long_mode(c) ? la : (la & 0xffffffffull);
		*writeable = *user = true;
		return 0;
	}
	/* probe as a supervisor read without setting A/D? KVM_TRANSLATE sets none:
	 * walk a copy of the rules with ACCF_NOFAULT; A bits may be set, as KVM's
	 * walker also does for gva_to_gpa. */
	if (paging_walk(c, la, ACC_R, 0, ACCF_NOFAULT, &w))
		return -1;
	*gpa = w.gpa;
	*writeable = w.writable;
	*user = w.user;
	return 0;
}
