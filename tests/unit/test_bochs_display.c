/* The Bochs display without KVM: the DISPI register model
 * (src/display/dispi.c) write by write, hostile values included; the
 * EDID block; and the PCI function (src/pci/bochs_display.c) on a PCI
 * host over two plain buses: its header and BARs, DISPI through BAR 2
 * changing the framebuffer's mode (and so what a view, a screenshot and
 * VNC read), the video memory's slot following BAR 0 (a fake records
 * what KVM would be told), and the damage scan of a mode with an
 * offset and a stride wider than its width. */
#include <criterion/criterion.h>
#include <string.h>
#include "display/damage.h"
#include "display/dispi.h"
#include "pci/bochs_display.h"

#define VRAM (16u << 20)

/* ---- the register model ---- */

static struct dispi d;

static void model_setup(void)
{
	dispi_init(&d, VRAM, 640, 480);
}

TestSuite(dispi, .init = model_setup);

static void mode_is(unsigned w, unsigned h, unsigned stride, uint64_t offset)
{
	struct fb_mode m;
	cr_assert(dispi_mode(&d, &m));
	cr_assert(m.width == w && m.height == h && m.stride == stride && m.offset == offset,
		  "%ux%u stride %u offset %llu", m.width, m.height, m.stride,
		  (unsigned long long)m.offset);
}

Test(dispi, starts_enabled_with_the_first_mode)
{
	cr_assert_eq(dispi_read(&d, DISPI_ID), DISPI_ID5);
	cr_assert_eq(dispi_read(&d, DISPI_VIDEO_MEMORY_64K), 256);
	cr_assert_eq(dispi_read(&d, DISPI_ENABLE), DISPI_ENABLED | DISPI_LFB_ENABLED);
	cr_assert_eq(dispi_read(&d, DISPI_VIRT_WIDTH), 640);
	cr_assert_eq(dispi_read(&d, DISPI_VIRT_HEIGHT), VRAM / (640 * 4));
	mode_is(640, 480, 2560, 0);
}

/* Linux's bochs driver: off, bpp, size, on; then the base by offsets. */
Test(dispi, a_mode_set_as_linux_does_it)
{
	cr_assert_eq(dispi_write(&d, DISPI_ENABLE, 0), DISPI_KEPT);
	cr_assert(!dispi_mode(&d, &(struct fb_mode){ 0 }));
	dispi_write(&d, DISPI_BPP, 32);
	dispi_write(&d, DISPI_XRES, 1024);
	dispi_write(&d, DISPI_YRES, 768);
	dispi_write(&d, DISPI_VIRT_HEIGHT, 5);   /* read-only: computed */
	cr_assert_eq(dispi_write(&d, DISPI_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED),
		     DISPI_MODE_CLEAR);
	mode_is(1024, 768, 4096, 0);
	cr_assert_eq(dispi_read(&d, DISPI_VIRT_HEIGHT), VRAM / 4096);
	cr_assert_eq(dispi_write(&d, DISPI_Y_OFFSET, 768), DISPI_MODE);   /* page flip */
	mode_is(1024, 768, 4096, 768ull * 4096);
}

Test(dispi, nocleamem_keeps_the_memory)
{
	dispi_write(&d, DISPI_ENABLE, 0);
	cr_assert_eq(dispi_write(&d, DISPI_ENABLE, DISPI_ENABLED | DISPI_NOCLEARMEM), DISPI_MODE);
}

Test(dispi, size_and_bpp_are_fixed_while_enabled)
{
	dispi_write(&d, DISPI_XRES, 800);
	dispi_write(&d, DISPI_BPP, 16);
	cr_assert_eq(dispi_read(&d, DISPI_XRES), 640);
	mode_is(640, 480, 2560, 0);
}

Test(dispi, values_out_of_range_are_refused)
{
	dispi_write(&d, DISPI_ENABLE, 0);
	const uint16_t bpps[] = { 0, 8, 15, 16, 24, 33, 0xffff };
	for (size_t i = 0; i < sizeof(bpps) / sizeof(bpps[0]); i++) {
		dispi_write(&d, DISPI_BPP, bpps[i]);
		cr_assert_eq(dispi_read(&d, DISPI_BPP), 32, "bpp %u", bpps[i]);
	}
	const uint16_t sides[] = { 0, 1, FB_MIN_SIDE - 1, FB_MAX_SIDE + 1, 0xffff };
	for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
		dispi_write(&d, DISPI_XRES, sides[i]);
		dispi_write(&d, DISPI_YRES, sides[i]);
		cr_assert_eq(dispi_read(&d, DISPI_XRES), 640, "xres %u", sides[i]);
		cr_assert_eq(dispi_read(&d, DISPI_YRES), 480, "yres %u", sides[i]);
	}
	dispi_write(&d, DISPI_ID, 0x1234);
	cr_assert_eq(dispi_read(&d, DISPI_ID), DISPI_ID5);
	dispi_write(&d, DISPI_ID, DISPI_ID0 + 2);
	cr_assert_eq(dispi_read(&d, DISPI_ID), DISPI_ID0 + 2);
	dispi_write(&d, DISPI_VIDEO_MEMORY_64K, 1);
	cr_assert_eq(dispi_read(&d, DISPI_VIDEO_MEMORY_64K), 256);
	for (unsigned i = DISPI_REGS; i < 0x100; i++) {
		cr_assert_eq(dispi_write(&d, i, 0xffff), DISPI_KEPT);
		cr_assert_eq(dispi_read(&d, i), 0);
	}
}

Test(dispi, a_mode_larger_than_memory_stays_off)
{
	dispi_write(&d, DISPI_ENABLE, 0);
	dispi_write(&d, DISPI_XRES, 4096);
	dispi_write(&d, DISPI_YRES, 4096);   /* 64 MiB */
	cr_assert_eq(dispi_write(&d, DISPI_ENABLE, DISPI_ENABLED), DISPI_KEPT);
	cr_assert_eq(dispi_read(&d, DISPI_ENABLE) & DISPI_ENABLED, 0);
	cr_assert(!dispi_mode(&d, &(struct fb_mode){ 0 }));
	dispi_write(&d, DISPI_YRES, 1024);   /* exactly 16 MiB */
	cr_assert_eq(dispi_write(&d, DISPI_ENABLE, DISPI_ENABLED), DISPI_MODE_CLEAR);
	mode_is(4096, 1024, 16384, 0);
}

Test(dispi, the_virtual_screen_stays_inside_memory)
{
	dispi_write(&d, DISPI_VIRT_WIDTH, 639);                 /* narrower than the mode */
	dispi_write(&d, DISPI_VIRT_WIDTH, 60000);               /* 480 rows: past the end */
	cr_assert_eq(dispi_read(&d, DISPI_VIRT_WIDTH), 640);
	dispi_write(&d, DISPI_X_OFFSET, 1);                     /* 1 + 640 > 640 */
	cr_assert_eq(dispi_read(&d, DISPI_X_OFFSET), 0);
	unsigned rows = VRAM / 2560;
	dispi_write(&d, DISPI_Y_OFFSET, (uint16_t)(rows - 480 + 1));
	cr_assert_eq(dispi_read(&d, DISPI_Y_OFFSET), 0);
	cr_assert_eq(dispi_write(&d, DISPI_Y_OFFSET, (uint16_t)(rows - 480)), DISPI_MODE);
	mode_is(640, 480, 2560, (uint64_t)(rows - 480) * 2560);
	cr_assert_eq(dispi_write(&d, DISPI_Y_OFFSET, 0xffff), DISPI_KEPT);
	/* Wider rows, then the last place they allow. */
	dispi_write(&d, DISPI_Y_OFFSET, 0);
	cr_assert_eq(dispi_write(&d, DISPI_VIRT_WIDTH, 700), DISPI_MODE);
	cr_assert_eq(dispi_read(&d, DISPI_VIRT_HEIGHT), VRAM / 2800);
	cr_assert_eq(dispi_write(&d, DISPI_X_OFFSET, 60), DISPI_MODE);
	cr_assert_eq(dispi_write(&d, DISPI_X_OFFSET, 61), DISPI_KEPT);
	mode_is(640, 480, 2800, 240);
	/* Every offset and width: the visible area never leaves memory. */
	for (unsigned v = 0; v < 0x10000; v += 97) {
		dispi_write(&d, DISPI_VIRT_WIDTH, (uint16_t)v);
		dispi_write(&d, DISPI_X_OFFSET, (uint16_t)(v * 7));
		dispi_write(&d, DISPI_Y_OFFSET, (uint16_t)(v * 13));
		struct fb_mode m;
		cr_assert(dispi_mode(&d, &m));
		uint64_t end = m.offset + (uint64_t)(m.height - 1) * m.stride + m.width * 4ull;
		cr_assert_leq(end, VRAM, "v %u", v);
		cr_assert_geq(m.stride, m.width * 4);
	}
}

Test(dispi, getcaps_reads_the_maxima)
{
	dispi_write(&d, DISPI_ENABLE, DISPI_ENABLED | DISPI_GETCAPS);
	cr_assert_eq(dispi_read(&d, DISPI_XRES), FB_MAX_SIDE);
	cr_assert_eq(dispi_read(&d, DISPI_YRES), FB_MAX_SIDE);
	cr_assert_eq(dispi_read(&d, DISPI_BPP), 32);
	dispi_write(&d, DISPI_ENABLE, DISPI_ENABLED);
	cr_assert_eq(dispi_read(&d, DISPI_XRES), 640);
	mode_is(640, 480, 2560, 0);
}

/* ---- EDID ---- */

Test(bochs_edid, header_checksum_and_preferred_mode)
{
	uint8_t e[BOCHS_EDID_SIZE];
	const unsigned sizes[][2] = { { 640, 480 }, { 1024, 768 }, { 16, 16 }, { 4095, 2000 },
				      { 4096, 4096 } };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned w = sizes[i][0], h = sizes[i][1];
		bochs_edid_build(e, w, h);
		static const uint8_t header[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
		cr_assert_arr_eq(e, header, 8);
		uint8_t sum = 0;
		for (unsigned j = 0; j < BOCHS_EDID_SIZE; j++)
			sum = (uint8_t)(sum + e[j]);
		cr_assert_eq(sum, 0, "%ux%u", w, h);
		cr_assert(e[18] == 1 && e[19] == 4);
		if (w > 4095) {
			cr_assert_eq(e[54 + 3], 0x10, "no timing fits: a dummy descriptor");
			continue;
		}
		cr_assert_neq(e[54] | e[55], 0, "a detailed timing");
		cr_assert_eq(e[56] | (e[58] >> 4) << 8, w);
		cr_assert_eq(e[59] | (e[61] >> 4) << 8, h);
	}
}

/* ---- the PCI function ---- */

#define ECAM 0xe0000000ull
#define WINDOW 0xc0000000ull
#define SLOT 30u

static struct bus pio, mmio;
static struct pci_host host;
static struct bochs_display dev;
static struct framebuffer fb;
static struct kvmini_error err;

/* The fake KVM slot: where it is, and how often it was set. */
static bool slot_on;
static uint64_t slot_at;
static int slot_calls;
static bool refuse;

static int fake_vram_map(void *ctx, uint64_t gpa, bool on, struct kvmini_error *e)
{
	(void)ctx;
	slot_calls++;
	if (on && refuse)
		return kvmini_fail(e, KVMINI_E_HOST, "KVM_SET_USER_MEMORY_REGION: File exists");
	cr_assert(on != slot_on, "the slot is added once and deleted once");
	slot_on = on;
	slot_at = gpa;
	return 0;
}

static void cf8_write32(unsigned reg, uint32_t v)
{
	uint32_t a = 0x80000000u | SLOT << 11 | reg;
	cr_assert(bus_access(&pio, 0xcf8, (uint8_t *)&a, 4, true));
	cr_assert(bus_access(&pio, 0xcfc, (uint8_t *)&v, 4, true));
}

static uint32_t cf8_read32(unsigned reg)
{
	uint32_t a = 0x80000000u | SLOT << 11 | reg, v = 0;
	cr_assert(bus_access(&pio, 0xcf8, (uint8_t *)&a, 4, true));
	cr_assert(bus_access(&pio, 0xcfc, (uint8_t *)&v, 4, false));
	return v;
}

static uint64_t regs_base(void)
{
	return pci_function_bar_address(&dev.fn, BOCHS_MMIO_BAR);
}

static void dispi_put(unsigned index, uint16_t v)
{
	cr_assert(bus_access(&mmio, regs_base() + BOCHS_DISPI_OFFSET + 2 * index, (uint8_t *)&v,
			     2, true));
}

static uint32_t regs_get(uint64_t off, uint32_t len)
{
	uint32_t v = 0;
	cr_assert(bus_access(&mmio, regs_base() + off, (uint8_t *)&v, len, false));
	return v;
}

static void function_setup(void)
{
	bus_init(&pio, "port");
	bus_init(&mmio, "MMIO");
	slot_on = refuse = false;
	slot_at = 0;
	slot_calls = 0;
	struct pci_host_config cfg = {
		.pio = &pio, .mmio = &mmio, .ecam_base = ECAM,
		.mmio_base = WINDOW, .mmio_end = WINDOW + (256 << 20),
		.io_base = 0xc000, .io_end = 0x10000,
	};
	cr_assert_eq(pci_host_init(&host, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(framebuffer_init_vram(&fb, VRAM, 640, 480, &err), 0, "%s", err.msg);
	struct bochs_display_env env = {
		.host = &host, .slot = SLOT, .fb = &fb, .width = 640, .height = 480,
		.vram_map = fake_vram_map, .log_fd = -1,
	};
	cr_assert_eq(bochs_display_init(&dev, &env, &err), 0, "%s", err.msg);
}

static void function_teardown(void)
{
	bochs_display_destroy(&dev);
	cr_assert(!slot_on, "the slot is gone with the function");
	pci_host_destroy(&host);
	framebuffer_free(&fb);
	bus_free(&pio);
	bus_free(&mmio);
}

TestSuite(bochs_display, .init = function_setup, .fini = function_teardown);

Test(bochs_display, header_bars_and_the_slot_at_plug)
{
	cr_assert_eq(cf8_read32(PCI_VENDOR_ID), 0x11111234u);
	cr_assert_eq(cf8_read32(PCI_CLASS_REVISION), 0x03800000u | BOCHS_REVISION);
	cr_assert_eq(cf8_read32(PCI_SUBSYSTEM_VENDOR_ID), 0x11001af4u);
	cr_assert_eq(cf8_read32(PCI_COMMAND) & PCI_COMMAND_MEMORY, PCI_COMMAND_MEMORY,
		     "decoding on, as firmware leaves a display");
	uint32_t bar0 = cf8_read32(PCI_BASE_ADDRESS_0);
	cr_assert_eq(bar0 & 0xf, PCI_BASE_ADDRESS_MEM_PREFETCH);
	cr_assert_eq(bar0 & ~0xfu, WINDOW);
	cf8_write32(PCI_BASE_ADDRESS_0, 0xffffffffu);
	cr_assert_eq(cf8_read32(PCI_BASE_ADDRESS_0), ~(VRAM - 1) | PCI_BASE_ADDRESS_MEM_PREFETCH);
	cf8_write32(PCI_BASE_ADDRESS_0, bar0);
	cr_assert(slot_on && slot_at == WINDOW, "the video memory is in its slot at BAR 0");
	cr_assert_eq(bochs_display_vram_address(&dev), WINDOW);
	cr_assert_eq(regs_get(BOCHS_QEXT_OFFSET, 4), BOCHS_QEXT_SIZE);
	cr_assert_eq(regs_get(BOCHS_QEXT_OFFSET + 4, 4), BOCHS_QEXT_ENDIAN_LITTLE);
	cr_assert_eq(regs_get(0, 4), 0xffffff00u, "the EDID header");
	cr_assert_eq(regs_get(BOCHS_DISPI_OFFSET, 2), DISPI_ID5);
	cr_assert_eq(regs_get(BOCHS_DISPI_OFFSET + 2 * DISPI_XRES, 4), 640u | 480u << 16);
}

Test(bochs_display, the_slot_follows_bar0_and_decoding)
{
	struct framebuffer v0;
	framebuffer_view(&fb, &v0);
	cf8_write32(PCI_BASE_ADDRESS_0, 0xcc000000u);
	cr_assert(slot_on && slot_at == 0xcc000000u);
	struct framebuffer v1;
	framebuffer_view(&fb, &v1);
	cr_assert_neq(v1.generation, v0.generation, "a move makes readers compare everything");
	cf8_write32(PCI_COMMAND, 0);
	cr_assert(!slot_on);
	cf8_write32(PCI_COMMAND, PCI_COMMAND_MEMORY);
	cr_assert(slot_on && slot_at == 0xcc000000u);
	/* Onto the ECAM: the bus refuses the place, the slot stays away. */
	cf8_write32(PCI_BASE_ADDRESS_0, (uint32_t)ECAM);
	cr_assert(!slot_on);
	cf8_write32(PCI_BASE_ADDRESS_0, (uint32_t)WINDOW);
	cr_assert(slot_on && slot_at == WINDOW);
}

/* KVM refusing the slot (another slot there): the BAR's own range then
 * serves the video memory, from the same pixels. */
Test(bochs_display, a_refused_slot_leaves_the_bar_range_serving)
{
	refuse = true;
	cf8_write32(PCI_BASE_ADDRESS_0, 0xcc000000u);
	cr_assert(!slot_on);
	uint32_t v = 0x00123456;
	cr_assert(bus_access(&mmio, 0xcc000000u + 8, (uint8_t *)&v, 4, true));
	cr_assert_eq(framebuffer_pixel(&fb, 2, 0), 0x123456);
	fb.pixels[VRAM - 1] = 0x77;
	uint32_t last = 0;
	cr_assert(bus_access(&mmio, 0xcc000000u + VRAM - 4, (uint8_t *)&last, 4, false));
	cr_assert_eq(last >> 24, 0x77);
	refuse = false;
}

Test(bochs_display, a_mode_set_through_bar2_is_the_framebuffer_mode)
{
	fb.pixels[0] = 0xaa;
	dispi_put(DISPI_ENABLE, 0);
	dispi_put(DISPI_XRES, 320);
	dispi_put(DISPI_YRES, 200);
	dispi_put(DISPI_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED);
	struct framebuffer v;
	framebuffer_view(&fb, &v);
	cr_assert(v.width == 320 && v.height == 200 && v.stride == 1280 && v.offset == 0);
	cr_assert_eq(fb.pixels[0], 0, "a new mode starts black");
	dispi_put(DISPI_VIRT_WIDTH, 400);
	dispi_put(DISPI_X_OFFSET, 10);
	dispi_put(DISPI_Y_OFFSET, 3);
	framebuffer_view(&fb, &v);
	cr_assert(v.stride == 1600 && v.offset == 3 * 1600 + 40);
	cr_assert_eq(v.pixels, fb.pixels + v.offset);
	cr_assert_eq(v.size, 1600ull * 200);
}

Test(bochs_display, hostile_register_accesses_change_nothing)
{
	struct framebuffer before;
	framebuffer_view(&fb, &before);
	uint64_t base = regs_base();
	uint8_t junk[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	/* Bytes, dwords, odd offsets, the EDID, the extension and VGA registers. */
	for (uint64_t off = 0; off < BOCHS_MMIO_SIZE; off++) {
		for (uint32_t len = 1; len <= 8; len *= 2) {
			if (off + len > BOCHS_MMIO_SIZE || (len == 2 && off % 2 == 0 &&
							    off >= BOCHS_DISPI_OFFSET &&
							    off < BOCHS_DISPI_OFFSET + 2 * DISPI_REGS))
				continue;
			bus_access(&mmio, base + off, junk, len, true);
		}
	}
	struct framebuffer after;
	framebuffer_view(&fb, &after);
	cr_assert_eq(after.generation, before.generation);
	cr_assert_eq(regs_get(0, 4), 0xffffff00u, "the EDID is read-only");
	cr_assert_eq(regs_get(BOCHS_QEXT_OFFSET + 4, 4), BOCHS_QEXT_ENDIAN_LITTLE);
	cr_assert_eq(regs_get(BOCHS_DISPI_OFFSET + 2 * DISPI_XRES, 2), 640);
	/* Reads past the registers: zeros, never out of bounds. */
	uint8_t far[8];
	bus_access(&mmio, base + BOCHS_MMIO_SIZE - 4, far, 8, false);
}

/* ---- the damage scan of a mode with an offset ---- */

static void count_rect(void *ctx, const struct fb_rect *r)
{
	struct fb_rect *last = ctx;
	*last = *r;
}

Test(bochs_display, damage_follows_the_offset_and_stride)
{
	dispi_put(DISPI_VIRT_WIDTH, 1024);   /* one page a row */
	dispi_put(DISPI_Y_OFFSET, 100);
	struct framebuffer v;
	framebuffer_view(&fb, &v);
	uint8_t *shadow = calloc(1, v.size);
	cr_assert_not_null(shadow);
	memset(fb.pixels, 0, fb.size);
	/* A pixel at (5, 7) of the screen: page 100 + 7 of the mapping. */
	uint64_t *dirty = calloc(framebuffer_bitmap_words(&fb), sizeof(uint64_t));
	framebuffer_set_pixel(&v, 5, 7, 0x00ff00);
	struct fb_rect r = { 0 };
	cr_assert_eq(damage_scan(&v, shadow, dirty, count_rect, &r), 0, "no page marked");
	dirty[107 / 64] |= 1ull << (107 % 64);
	cr_assert_eq(damage_scan(&v, shadow, dirty, count_rect, &r), 1);
	cr_assert(r.x == 5 && r.y == 7 && r.w == 1 && r.h == 1);
	free(dirty);
	free(shadow);
}

/* ---- snapshots ---- */

/* The model takes back any registers a guest's writes could leave, and
 * nothing else. */
Test(dispi, restore_takes_what_writes_can_leave_and_nothing_else)
{
	dispi_write(&d, DISPI_ENABLE, 0);
	dispi_write(&d, DISPI_XRES, 320);
	dispi_write(&d, DISPI_YRES, 200);
	dispi_write(&d, DISPI_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED | DISPI_NOCLEARMEM);
	dispi_write(&d, DISPI_VIRT_WIDTH, 400);
	dispi_write(&d, DISPI_X_OFFSET, 10);
	uint16_t saved[DISPI_REGS];
	memcpy(saved, d.reg, sizeof(saved));
	struct dispi back;
	dispi_init(&back, VRAM, 640, 480);
	cr_assert(dispi_restore(&back, saved));
	cr_assert_arr_eq(back.reg, saved, sizeof(saved));
	struct dispi before = back;
	uint16_t bad[DISPI_REGS];
	static const struct { unsigned reg; uint16_t value; } cases[] = {
		{ DISPI_BPP, 16 }, { DISPI_XRES, 8 }, { DISPI_ID, 0xb0c6 },
		{ DISPI_ENABLE, DISPI_ENABLED | DISPI_NOCLEARMEM },
		{ DISPI_VIRT_HEIGHT, 1 }, { DISPI_Y_OFFSET, 0xffff },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, saved, sizeof(bad));
		bad[cases[i].reg] = cases[i].value;
		cr_assert_not(dispi_restore(&back, bad), "case %u restored", i);
		cr_assert_arr_eq(back.reg, before.reg, sizeof(back.reg), "case %u changed it", i);
	}
}

/* The function's BARs and mode come back: the slot at the saved BAR 0,
 * the framebuffer in the saved mode, the memory not cleared. */
Test(bochs_display, a_restored_function_shows_the_saved_mode_where_it_was)
{
	cf8_write32(PCI_BASE_ADDRESS_0, (uint32_t)(WINDOW + 2 * VRAM));   /* clear of BAR 2 */
	dispi_put(DISPI_ENABLE, 0);
	dispi_put(DISPI_XRES, 320);
	dispi_put(DISPI_YRES, 200);
	dispi_put(DISPI_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED);
	fb.pixels[0] = 0x5a;
	struct state_writer w;
	state_writer_init(&w);
	bochs_display_save(&dev, &w);
	pci_host_save(&host, &w);
	cf8_write32(PCI_BASE_ADDRESS_0, (uint32_t)WINDOW);
	dispi_put(DISPI_ENABLE, 0);
	struct state_reader r;
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(bochs_display_restore(&dev, &r, &err), 0, "%s", err.msg);
	cr_assert_eq(pci_host_restore(&host, &r, &err), 0, "%s", err.msg);
	cr_assert(slot_on && slot_at == WINDOW + 2 * VRAM, "the slot at 0x%llx",
		  (unsigned long long)slot_at);
	struct framebuffer view;
	framebuffer_view(&fb, &view);
	cr_assert(view.width == 320 && view.height == 200, "%ux%u", view.width, view.height);
	cr_assert_eq(fb.pixels[0], 0x5a, "the memory was cleared");
	/* Registers no guest could set are refused. */
	w.data[PCI_CONFIG_SIZE + 2 * DISPI_BPP] = 16;
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(bochs_display_restore(&dev, &r, &err), -1);
	cr_assert(strstr(err.msg, "saved DISPI registers"), "%s", err.msg);
	state_writer_free(&w);
}
