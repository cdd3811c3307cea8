/* SPDX-License-Identifier: MIT */
/*
 * The VMCS: field encodings (vmcs_fields.h), the cached current VMCS and
 * its image in guest memory (vmx_internal.h gives the layout; SDM 24.2:
 * the region's format is the processor's own, software only uses
 * VMREAD/VMWRITE).
 */
#include "vmx_internal.h"

static const uint32_t field_enc[VF_COUNT] = {
#define X(name, e) e,
#include "vmcs_fields.h"
#undef X
};

/* field width from the encoding (bits 14:13): 0 16-bit, 1 64-bit, 2 32-bit, 3 natural */
static unsigned enc_width(uint64_t enc)
{
	return (enc >> 13) & 3;
}

int vmcs_slot_of(uint64_t enc)
{
	/* bits 63:32 must be 0 (SDM 24.11.2); the high access of a 64-bit
	 * field (bit 0 = 1) names the same slot */
	if (enc >> 32)
		return -1;
	uint32_t base = (uint32_t)enc;
	if (enc & 1) {
		if (enc_width(enc) != 1)
			return -1;
		base &= ~1u;
	}
	for (int k = 0; k < VF_COUNT; k++)
		if (field_enc[k] == base)
			return k;
	return -1;
}

uint64_t vmcs_read_enc(const struct vmx *v, uint64_t enc, int slot)
{
	uint64_t val = v->f[slot];
	if (enc & 1)
		return val >> 32;
	switch (enc_width(enc)) {
	case 0:
		return (uint16_t)val;
	case 2:
		return (uint32_t)val;
	default:
		return val;
	}
}

void vmcs_write_enc(struct vmx *v, uint64_t enc, int slot, uint64_t val)
{
	if (enc & 1) {
		v->f[slot] = (v->f[slot] & 0xffffffffull) | val << 32;
		return;
	}
	switch (enc_width(enc)) {
	case 0:
		val = (uint16_t)val;
		break;
	case 2:
		val = (uint32_t)val;
		break;
	default:
		break;
	}
	v->f[slot] = val;
}

bool vmx_read_phys32(struct cpu *c, uint64_t gpa, uint32_t *v)
{
	const void *p = mem_gpa_ptr(c, gpa, 4, false);
	if (!p)
		return false;
	memcpy(v, p, 4);
	return true;
}

bool vmcs_load(struct cpu *c, uint64_t gpa)
{
	struct vmx *v = c->vmx;
	const uint8_t *p = mem_gpa_ptr(c, gpa, VMCS_SIZE, false);
	if (!p)
		return false;
	memcpy(&v->launch, p + VMCS_LAUNCH_OFF, 4);
	memcpy(v->f, p + VMCS_FIELDS_OFF, sizeof(v->f));
	v->cur = gpa;
	return true;
}

void vmcs_flush(struct cpu *c)
{
	struct vmx *v = c->vmx;
	if (v->cur == VMPTR_INVALID)
		return;
	uint8_t *p = mem_gpa_ptr(c, v->cur, VMCS_SIZE, true);
	if (!p)
		return; /* memory went away under it: nothing to keep */
	memcpy(p + VMCS_LAUNCH_OFF, &v->launch, 4);
	memcpy(p + VMCS_FIELDS_OFF, v->f, sizeof(v->f));
}

void vmcs_mem_set_launch(struct cpu *c, uint64_t gpa, uint32_t state)
{
	uint8_t *p = mem_gpa_ptr(c, gpa + VMCS_LAUNCH_OFF, 4, true);
	if (p)
		memcpy(p, &state, 4);
}
