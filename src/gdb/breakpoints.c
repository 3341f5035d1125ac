#include <string.h>
#include "gdb/breakpoints.h"

/* DR7 (Intel SDM vol. 3, 18.2.4): per slot i, an enable bit at 2i+1
 * (global), R/W bits at 16+4i (00 execute, 01 write, 11 read or write)
 * and LEN bits at 18+4i (00 one byte, 01 two, 11 four, 10 eight). */
#define DR7_GLOBAL(i)   (1ULL << (2 * (i) + 1))
#define DR7_RW(i, v)    ((uint64_t)(v) << (16 + 4 * (i)))
#define DR7_LEN(i, v)   ((uint64_t)(v) << (18 + 4 * (i)))
#define DR7_GE          (1ULL << 9)   /* exact data breakpoints, as advised */

void gdb_bp_init(struct gdb_breakpoints *bps)
{
	memset(bps, 0, sizeof(*bps));
}

/* ---- software breakpoints ---- */

static int sw_index(const struct gdb_breakpoints *bps, gva_t addr)
{
	for (unsigned i = 0; i < bps->nsw; i++)
		if (bps->sw[i].addr == addr)
			return (int)i;
	return -1;
}

const struct gdb_sw_breakpoint *gdb_sw_find(const struct gdb_breakpoints *bps, gva_t addr)
{
	int i = sw_index(bps, addr);
	return i < 0 ? NULL : &bps->sw[i];
}

int gdb_sw_insert(struct gdb_breakpoints *bps, const struct guest_memory *mem,
		  gva_t addr, gpa_t gpa)
{
	if (sw_index(bps, addr) >= 0)
		return GDB_BP_OK;
	if (bps->nsw >= GDB_MAX_SW_BREAKPOINTS)
		return GDB_BP_FULL;
	/* Two linear addresses may alias one physical byte: plant once,
	 * or the second would save the first one's int3 as "original". */
	uint8_t saved = 0;
	bool aliased = false;
	for (unsigned i = 0; i < bps->nsw; i++) {
		if (bps->sw[i].gpa == gpa) {
			saved = bps->sw[i].saved;
			aliased = true;
		}
	}
	uint8_t int3 = GDB_INT3;
	if (!aliased && guest_read(mem, gpa, &saved, 1) < 0)
		return GDB_BP_FAULT;
	if (guest_write(mem, gpa, &int3, 1) < 0)
		return GDB_BP_FAULT;
	bps->sw[bps->nsw++] = (struct gdb_sw_breakpoint){ addr, gpa, saved };
	return GDB_BP_OK;
}

static bool gpa_planted_elsewhere(const struct gdb_breakpoints *bps, unsigned skip, gpa_t gpa)
{
	for (unsigned i = 0; i < bps->nsw; i++)
		if (i != skip && bps->sw[i].gpa == gpa)
			return true;
	return false;
}

static void sw_remove_index(struct gdb_breakpoints *bps, const struct guest_memory *mem,
			    unsigned i)
{
	struct gdb_sw_breakpoint *bp = &bps->sw[i];
	uint8_t now;
	/* If the guest rewrote the byte, its new contents win. */
	if (!gpa_planted_elsewhere(bps, i, bp->gpa) &&
	    guest_read(mem, bp->gpa, &now, 1) == 0 && now == GDB_INT3)
		guest_write(mem, bp->gpa, &bp->saved, 1);
	bps->sw[i] = bps->sw[--bps->nsw];
}

int gdb_sw_remove(struct gdb_breakpoints *bps, const struct guest_memory *mem, gva_t addr)
{
	int i = sw_index(bps, addr);
	if (i >= 0)
		sw_remove_index(bps, mem, (unsigned)i);
	return GDB_BP_OK;
}

void gdb_sw_remove_all(struct gdb_breakpoints *bps, const struct guest_memory *mem)
{
	while (bps->nsw > 0)
		sw_remove_index(bps, mem, bps->nsw - 1);
}

static bool in_range(uint64_t x, uint64_t start, uint64_t len)
{
	return x >= start && x - start < len;
}

void gdb_sw_hide(const struct gdb_breakpoints *bps, gpa_t gpa, uint8_t *buf, uint64_t len)
{
	for (unsigned i = 0; i < bps->nsw; i++)
		if (in_range(bps->sw[i].gpa, gpa, len))
			buf[bps->sw[i].gpa - gpa] = bps->sw[i].saved;
}

void gdb_sw_rewrite(struct gdb_breakpoints *bps, const struct guest_memory *mem,
		    gpa_t gpa, uint64_t len)
{
	uint8_t int3 = GDB_INT3;
	for (unsigned i = 0; i < bps->nsw; i++) {
		struct gdb_sw_breakpoint *bp = &bps->sw[i];
		if (!in_range(bp->gpa, gpa, len))
			continue;
		uint8_t now;
		if (guest_read(mem, bp->gpa, &now, 1) == 0 && now != GDB_INT3)
			bp->saved = now;
		guest_write(mem, bp->gpa, &int3, 1);
	}
}

/* ---- debug-register slots ---- */

static bool is_exec(unsigned type)
{
	return type == GDB_POINT_SW || type == GDB_POINT_HW;
}

static bool valid_hw(unsigned type, gva_t addr, uint64_t len)
{
	if (is_exec(type))
		return true;
	if (type > GDB_POINT_ACCESS)
		return false;
	/* A data slot covers 1, 2, 4 or 8 naturally aligned bytes. */
	return (len == 1 || len == 2 || len == 4 || len == 8) && (addr & (len - 1)) == 0;
}

static int hw_index(const struct gdb_breakpoints *bps, unsigned type, gva_t addr, uint64_t len)
{
	for (int i = 0; i < GDB_HW_SLOTS; i++) {
		const struct gdb_hw_slot *s = &bps->hw[i];
		if (s->used && s->type == type && s->addr == addr &&
		    (is_exec(type) || s->len == len))
			return i;
	}
	return -1;
}

int gdb_hw_insert(struct gdb_breakpoints *bps, unsigned type, gva_t addr, uint64_t len)
{
	if (!valid_hw(type, addr, len))
		return GDB_BP_INVALID;
	if (hw_index(bps, type, addr, len) >= 0)
		return GDB_BP_OK;
	for (int i = 0; i < GDB_HW_SLOTS; i++) {
		if (!bps->hw[i].used) {
			bps->hw[i] = (struct gdb_hw_slot){
				.used = true, .type = (uint8_t)type, .addr = addr,
				.len = is_exec(type) ? 1 : (uint8_t)len,
			};
			return GDB_BP_OK;
		}
	}
	return GDB_BP_FULL;
}

int gdb_hw_remove(struct gdb_breakpoints *bps, unsigned type, gva_t addr, uint64_t len)
{
	int i = hw_index(bps, type, addr, len);
	if (i >= 0)
		bps->hw[i].used = false;
	return GDB_BP_OK;
}

bool gdb_hw_any(const struct gdb_breakpoints *bps)
{
	for (int i = 0; i < GDB_HW_SLOTS; i++)
		if (bps->hw[i].used)
			return true;
	return false;
}

static unsigned dr7_len_bits(unsigned len)
{
	switch (len) {
	case 2: return 1;
	case 8: return 2;
	case 4: return 3;
	default: return 0;
	}
}

void gdb_hw_debugregs(const struct gdb_breakpoints *bps, uint64_t dr[8])
{
	memset(dr, 0, 8 * sizeof(dr[0]));
	for (int i = 0; i < GDB_HW_SLOTS; i++) {
		const struct gdb_hw_slot *s = &bps->hw[i];
		if (!s->used)
			continue;
		dr[i] = s->addr;
		dr[7] |= DR7_GLOBAL(i);
		if (is_exec(s->type))
			continue;   /* execute: R/W and LEN stay 00 */
		dr[7] |= DR7_RW(i, s->type == GDB_POINT_WRITE ? 1 : 3) |
			 DR7_LEN(i, dr7_len_bits(s->len)) | DR7_GE;
	}
}

int gdb_hw_slot_hit(const struct gdb_breakpoints *bps, uint64_t dr6)
{
	for (int i = 0; i < GDB_HW_SLOTS; i++)
		if (bps->hw[i].used && (dr6 & (1ULL << i)))
			return i;
	return -1;
}

/* ---- stepped watchpoints ---- */

static int watch_index(const struct gdb_breakpoints *bps, gva_t addr, uint64_t len)
{
	for (unsigned i = 0; i < bps->nwatch; i++)
		if (bps->watch[i].addr == addr && bps->watch[i].len == len)
			return (int)i;
	return -1;
}

int gdb_watch_insert(struct gdb_breakpoints *bps, const struct guest_memory *mem,
		     gva_t addr, gpa_t gpa, uint64_t len)
{
	if (len < 1 || len > 8)
		return GDB_BP_INVALID;
	if (watch_index(bps, addr, len) >= 0)
		return GDB_BP_OK;
	if (bps->nwatch >= GDB_MAX_STEPPED_WATCHES)
		return GDB_BP_FULL;
	struct gdb_stepped_watch w = { .addr = addr, .gpa = gpa, .len = (uint8_t)len };
	if (guest_read(mem, gpa, w.last, len) < 0)
		return GDB_BP_FAULT;
	bps->watch[bps->nwatch++] = w;
	return GDB_BP_OK;
}

int gdb_watch_remove(struct gdb_breakpoints *bps, gva_t addr, uint64_t len)
{
	int i = watch_index(bps, addr, len);
	if (i >= 0)
		bps->watch[i] = bps->watch[--bps->nwatch];
	return GDB_BP_OK;
}

void gdb_watch_snapshot(struct gdb_breakpoints *bps, const struct guest_memory *mem)
{
	for (unsigned i = 0; i < bps->nwatch; i++)
		guest_read(mem, bps->watch[i].gpa, bps->watch[i].last, bps->watch[i].len);
}

bool gdb_watch_changed(struct gdb_breakpoints *bps, const struct guest_memory *mem,
		       gva_t *addr)
{
	bool changed = false;
	for (unsigned i = 0; i < bps->nwatch; i++) {
		struct gdb_stepped_watch *w = &bps->watch[i];
		uint8_t now[8];
		if (guest_read(mem, w->gpa, now, w->len) < 0 || memcmp(now, w->last, w->len) == 0)
			continue;
		memcpy(w->last, now, w->len);
		if (!changed)
			*addr = w->addr;
		changed = true;
	}
	return changed;
}
