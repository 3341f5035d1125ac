/* The Multiboot conformance kernel: checks the entry state and every
 * field of the information structure against what the test asked for
 * on the command line (keys below, numbers in hex), reads the CPU count
 * and RAM size through fw_cfg, prints one line per check and ends
 * through debug-exit with the number of failures (status 1: all ok).
 *
 *   mb.kernel=PATH      the command line starts with "PATH " (QEMU's form)
 *   mb.mem=SIZE         --mem / -m: fw_cfg's RAM size
 *   mb.mem_lower=KIB    mb.mem_upper=KIB   the information's mem_* fields
 *   mb.map=kvmini       the memory map is exactly kvmini's e820 map
 *   mb.cpus=N           fw_cfg's CPU count
 *   mb.mods=N           the module count, then for each module I:
 *   mb.modI=SIZE:CKSUM:PATH[:ARGS]   its size, POSIX cksum, and string
 *                       "PATH" or "PATH ARGS"
 *   mb.testdev          pc-testdev is there: its latch and MMIO read back
 *   mb.pcdev            QEMU's PC devices by polling: fw_cfg by DMA, the
 *                       HPET's counter and a comparator's status bit, the
 *                       RTC's periodic and update flags
 *   mb.fwcfg_cmdline    fw_cfg's command-line items (0x14 size, 0x15 bytes)
 *                       hold this very command line (kvmini gives them to
 *                       every --kernel boot; QEMU only to Linux kernels)
 *   mb.end              the last token: the line arrived whole
 * Runs in 32-bit protected mode; no 64-bit division (no libgcc). */
#include <stdint.h>
#include "guest.h"
#include "multiboot_abi.h"

#define CR0_PE 0x1u
#define CR0_PG 0x80000000u
#define EFLAGS_IF (1u << 9)
#define EFLAGS_VM (1u << 17)
#define GIB (1ULL << 30)
#define HOLE_START (3 * GIB)
#define FW_CFG_SELECTOR 0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15
#define MAX_MODS 16

extern uint32_t entry_regs[7];
extern const char _end[];

static unsigned checks, failures;

static void report(const char *what, int ok)
{
	checks++;
	failures += !ok;
	serial_puts(ok ? "multiboot: ok " : "multiboot: FAIL ");
	serial_puts(what);
}

static void check_eq(const char *what, uint64_t got, uint64_t want)
{
	report(what, got == want);
	if (got != want) {
		serial_puts(": got ");
		serial_put_hex(got);
		serial_puts(", want ");
		serial_put_hex(want);
	}
	serial_putc('\n');
}

static void check_true(const char *what, int ok, uint64_t detail)
{
	report(what, ok);
	if (!ok) {
		serial_puts(": ");
		serial_put_hex(detail);
	}
	serial_putc('\n');
}

/* ---- the command line's keys ---- */

static int is_end(char c)
{
	return c == '\0' || c == ' ';
}

/* The value of "KEY=" (or "KEY" alone: an empty value), or 0. */
static const char *key_value(const char *line, const char *key)
{
	for (const char *p = line; *p; p++) {
		if (p != line && p[-1] != ' ')
			continue;
		unsigned i = 0;
		while (key[i] && p[i] == key[i])
			i++;
		if (key[i] == '\0' && (p[i] == '=' || is_end(p[i])))
			return p[i] == '=' ? p + i + 1 : p + i;
	}
	return 0;
}

/* A hex number (0x optional) up to ':' or the token's end; *p moves past it. */
static uint64_t parse_hex(const char **p)
{
	uint64_t v = 0;

	if ((*p)[0] == '0' && (*p)[1] == 'x')
		*p += 2;
	for (int d; (d = hex_digit(**p)) >= 0; (*p)++)
		v = v << 4 | (unsigned)d;
	return v;
}

static int key_hex(const char *line, const char *key, uint64_t *v)
{
	const char *p = key_value(line, key);

	if (!p)
		return 0;
	*v = parse_hex(&p);
	return 1;
}

/* ---- the entry state ---- */

static void check_entry(void)
{
	check_eq("eax holds the boot magic 0x2badb002", entry_regs[0], MULTIBOOT_BOOT_MAGIC);
	check_true("ebx holds the information's address", entry_regs[1] != 0, entry_regs[1]);
	check_eq("cr0: protection on, paging off", entry_regs[3] & (CR0_PE | CR0_PG), CR0_PE);
	check_eq("eflags: IF and VM clear", entry_regs[2] & (EFLAGS_IF | EFLAGS_VM), 0);
}

/* ---- memory ---- */

static void put_map_entry(const struct multiboot_mmap_entry *e)
{
	serial_puts("multiboot: map ");
	serial_put_hex(e->addr);
	serial_putc(' ');
	serial_put_hex(e->addr + e->len);
	serial_puts(e->type == 1 ? " RAM\n" : e->type == 2 ? " reserved\n" : " other\n");
}

/* kvmini's e820 map for mem bytes (docs/entry-state.md). */
static int is_kvmini_entry(unsigned i, const struct multiboot_mmap_entry *e, uint64_t mem)
{
	uint64_t low = mem < HOLE_START ? mem : HOLE_START;
	const struct { uint64_t start, end; uint32_t type; } want[4] = {
		{ 0, 0x9fc00, 1 }, { 0x9fc00, 0x100000, 2 }, { 0x100000, low, 1 },
		{ 4 * GIB, 4 * GIB + mem - low, 1 },
	};
	return i < 4 && e->addr == want[i].start && e->addr + e->len == want[i].end &&
	       e->type == want[i].type;
}

static void check_memory(const char *line, const struct multiboot_info *mbi)
{
	uint64_t mem = 0, want, upper_end = 0;
	unsigned n = 0, exact = 1;
	int kvmini_map = key_value(line, "mb.map") != 0;

	key_hex(line, "mb.mem", &mem);
	if (key_hex(line, "mb.mem_lower", &want))
		check_eq("mem_lower (KiB)", mbi->mem_lower, want);
	if (key_hex(line, "mb.mem_upper", &want))
		check_eq("mem_upper (KiB)", mbi->mem_upper, want);
	check_true("memory map given (flag 6)", mbi->flags & MULTIBOOT_INFO_MEM_MAP, mbi->flags);
	if (!(mbi->flags & MULTIBOOT_INFO_MEM_MAP))
		return;
	for (uint32_t off = 0; off + 24 <= mbi->mmap_length; n++) {
		const struct multiboot_mmap_entry *e =
			(const void *)(uintptr_t)(mbi->mmap_addr + off);
		put_map_entry(e);
		exact = exact && is_kvmini_entry(n, e, mem);
		if (e->type == 1 && e->addr == 0x100000)
			upper_end = e->addr + e->len;
		off += e->size + 4;
	}
	check_eq("the RAM at 1 MiB ends where mem_upper says", upper_end,
		 0x100000 + ((uint64_t)mbi->mem_upper << 10));
	if (kvmini_map)
		check_true("memory map is kvmini's e820 map for mb.mem", exact && n ==
			   (mem > HOLE_START ? 4u : 3u), n);
}

/* ---- the command line ---- */

static int starts_with(const char *s, const char *prefix, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		if (s[i] != prefix[i])
			return 0;
	return 1;
}

static unsigned token_length(const char *p)
{
	unsigned n = 0;

	while (!is_end(p[n]))
		n++;
	return n;
}

static void check_cmdline(const char *line)
{
	const char *path = key_value(line, "mb.kernel");
	unsigned len = 0;

	serial_puts("multiboot: cmdline: ");
	serial_puts(line);
	serial_putc('\n');
	while (line[len])
		len++;
	check_true("command line ends with mb.end", len >= 6 && starts_with(line + len - 6,
		   "mb.end", 6) && (len == 6 || line[len - 7] == ' '), len);
	if (path)
		check_true("command line starts with the kernel's path and a space",
			   starts_with(line, path, token_length(path)) &&
			   line[token_length(path)] == ' ', 0);
}

/* ---- modules ---- */

static uint32_t crc_table[256];

/* POSIX cksum: CRC-32 (0x04c11db7, MSB first) over the bytes and the
 * length, inverted. */
static uint32_t posix_cksum(const uint8_t *data, uint32_t size)
{
	uint32_t crc = 0;

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i << 24;
		for (int bit = 0; bit < 8; bit++)
			c = c & 0x80000000u ? c << 1 ^ 0x04c11db7u : c << 1;
		crc_table[i] = c;
	}
	for (uint32_t i = 0; i < size; i++)
		crc = crc << 8 ^ crc_table[(crc >> 24 ^ data[i]) & 0xff];
	for (uint32_t len = size; len; len >>= 8)
		crc = crc << 8 ^ crc_table[(crc >> 24 ^ (len & 0xff)) & 0xff];
	return ~crc;
}

/* The string "PATH" or "PATH ARGS" from "PATH[:ARGS]" in the spec. */
static int string_matches(const char *got, const char *spec)
{
	unsigned i = 0;

	for (; !is_end(spec[i]); i++) {
		char want = spec[i] == ':' ? ' ' : spec[i];
		if (got[i] != want)
			return 0;
	}
	return got[i] == '\0';
}

static void check_module(unsigned i, const struct multiboot_module *m, uint32_t prev_end,
			 const char *spec)
{
	uint64_t size = parse_hex(&spec), crc;

	spec++;
	crc = parse_hex(&spec);
	spec++;
	serial_puts("multiboot: module ");
	serial_put_dec(i);
	serial_puts(": ");
	serial_puts((const char *)(uintptr_t)m->string);
	serial_putc('\n');
	check_true("module page aligned (header flag 0)", (m->mod_start & 0xfff) == 0,
		   m->mod_start);
	check_true("module after the kernel and the module before",
		   m->mod_start >= (uint32_t)(uintptr_t)_end && m->mod_start >= prev_end,
		   m->mod_start);
	check_eq("module size", m->mod_end - m->mod_start, size);
	if (m->mod_end - m->mod_start == size)
		check_eq("module checksum (POSIX cksum)",
			 posix_cksum((const uint8_t *)(uintptr_t)m->mod_start, (uint32_t)size), crc);
	check_true("module string", string_matches((const char *)(uintptr_t)m->string, spec), i);
}

static void check_modules(const char *line, const struct multiboot_info *mbi)
{
	static char key[] = "mb.modX";
	uint64_t want = 0;
	uint32_t prev_end = 0;

	key_hex(line, "mb.mods", &want);
	check_true("module list given (flag 3)", mbi->flags & MULTIBOOT_INFO_MODS, mbi->flags);
	check_eq("module count", mbi->mods_count, want);
	if (mbi->mods_count != want || want > MAX_MODS)
		return;
	for (unsigned i = 0; i < want; i++) {
		const struct multiboot_module *m =
			(const void *)(uintptr_t)(mbi->mods_addr + i * sizeof(*m));
		const char *spec;
		key[6] = (char)(i < 10 ? '0' + i : 'a' + i - 10);
		spec = key_value(line, key);
		check_true("module expected on the command line", spec != 0, i);
		if (spec)
			check_module(i, m, prev_end, spec);
		prev_end = m->mod_end;
	}
}

/* ---- fw_cfg ---- */

static void fw_cfg_read(uint16_t key, void *buf, unsigned len)
{
	__asm__ volatile("outw %0, %1" : : "a"(key), "Nd"((uint16_t)FW_CFG_SELECTOR));
	for (unsigned i = 0; i < len; i++)
		((uint8_t *)buf)[i] = inb(FW_CFG_DATA);
}

static void check_fw_cfg(const char *line)
{
	uint64_t want, ram = 0;
	uint16_t cpus = 0;
	char sig[4];

	fw_cfg_read(FW_CFG_SIGNATURE, sig, sizeof(sig));
	check_true("fw_cfg signature \"QEMU\"", sig[0] == 'Q' && sig[1] == 'E' && sig[2] == 'M' &&
		   sig[3] == 'U', 0);
	fw_cfg_read(FW_CFG_NB_CPUS, &cpus, sizeof(cpus));
	if (key_hex(line, "mb.cpus", &want))
		check_eq("fw_cfg CPU count", cpus, want);
	fw_cfg_read(FW_CFG_RAM_SIZE, &ram, sizeof(ram));
	if (key_hex(line, "mb.mem", &want))
		check_eq("fw_cfg RAM size", ram, want);
}

/* The size counts the NUL; the bytes, read one by one, match the line. */
static void check_fw_cfg_cmdline(const char *line)
{
	uint32_t size = 0, len = 0, same = 1;

	while (line[len])
		len++;
	fw_cfg_read(FW_CFG_CMDLINE_SIZE, &size, sizeof(size));
	check_eq("fw_cfg command-line size (with the NUL)", size, len + 1);
	__asm__ volatile("outw %0, %1" : : "a"((uint16_t)FW_CFG_CMDLINE_DATA),
			 "Nd"((uint16_t)FW_CFG_SELECTOR));
	for (uint32_t i = 0; i <= len; i++)
		same &= inb(FW_CFG_DATA) == (uint8_t)line[i];
	check_true("fw_cfg command-line bytes are the Multiboot command line", same, len);
}

/* ---- pc-testdev (kvmini --testdev, QEMU -device pc-testdev) ---- */

static void outl_port(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static void outw_port(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static uint32_t inl_port(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void check_testdev(void)
{
	volatile uint32_t *mem = (volatile uint32_t *)0xff000000u;

	outl_port(0xe0, 0x12345678);
	check_eq("testdev latch: 32-bit write reads back", inl_port(0xe0), 0x12345678);
	outw_port(0xe0, 0xabcd);
	check_eq("testdev latch: 16-bit write reads back", inl_port(0xe0) & 0xffff, 0xabcd);
	outb(0xe0, 0x5a);
	check_eq("testdev latch: 8-bit write reads back", inb(0xe0), 0x5a);
	mem[0] = 0xdeadbeef;
	mem[0x3fff] = 0x01020304;
	check_eq("testdev MMIO at 0xff000000 reads back", mem[0], 0xdeadbeef);
	check_eq("testdev MMIO at 0xff00fffc reads back", mem[0x3fff], 0x01020304);
}

/* ---- QEMU's PC devices, polled (mb.pcdev) ---- */

#define HPET_BASE 0xfed00000u
#define HPET_TICKS_PER_S 100000000u   /* the 10 ns period checked below */

static volatile uint32_t *hpet_reg(uint32_t off)
{
	return (volatile uint32_t *)(uintptr_t)(HPET_BASE + off);
}

/* The low half is enough for the waits below (43 s round). */
static uint32_t hpet_now(void)
{
	return *hpet_reg(0xf0);
}

/* True once cond() holds, false after `ticks` of the HPET (or, should
 * the counter not run, a bounded number of tries). The clock is read
 * before cond() so that a vCPU descheduled past the deadline (a loaded
 * nested VM stalls for a second or more) still gets one last look. */
static int wait_for(int (*cond)(void), uint32_t ticks)
{
	uint32_t start = hpet_now();
	for (uint32_t tries = 0; tries < 50000000u; tries++) {
		int late = hpet_now() - start > ticks;
		if (cond())
			return 1;
		if (late)
			return 0;
	}
	return 0;
}

struct fw_cfg_dma {
	uint32_t control, length;
	uint32_t address_high, address_low;   /* one big-endian u64 */
};

static struct fw_cfg_dma dma_desc __attribute__((aligned(16)));

static uint32_t be(uint32_t v)
{
	return __builtin_bswap32(v);
}

static uint32_t fw_cfg_dma(uint32_t control, uint32_t length, uint64_t address)
{
	dma_desc.control = be(control);
	dma_desc.length = be(length);
	dma_desc.address_high = be((uint32_t)(address >> 32));
	dma_desc.address_low = be((uint32_t)address);
	/* The device reads and writes memory behind the compiler's back. */
	__asm__ volatile("" ::: "memory");
	outl_port(0x514, 0);
	outl_port(0x518, be((uint32_t)(uintptr_t)&dma_desc));
	__asm__ volatile("" ::: "memory");
	return be(*(volatile uint32_t *)&dma_desc.control);
}

static int names_e820(const uint8_t *entry)
{
	const char *want = "etc/e820";
	for (unsigned i = 0; i < 9; i++)
		if (entry[8 + i] != (uint8_t)want[i])
			return 0;
	return 1;
}

static void check_fw_cfg_dma(void)
{
	uint8_t b[64];
	uint32_t id = 0, count = 0, e820 = 0;

	fw_cfg_read(0x01, &id, sizeof(id));
	check_true("fw_cfg ID offers DMA", id & 2, id);
	check_eq("fw_cfg DMA select+read", fw_cfg_dma(0x08 | 0x02, 4, (uintptr_t)b), 0);
	check_true("fw_cfg signature by DMA", b[0] == 'Q' && b[1] == 'E' && b[2] == 'M' &&
		   b[3] == 'U', b[0]);
	fw_cfg_dma(0x19u << 16 | 0x08 | 0x02, 4, (uintptr_t)b);
	count = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	for (uint32_t i = 0; i < count && i < 256; i++) {   /* read on from the offset */
		fw_cfg_dma(0x02, 64, (uintptr_t)b);
		e820 |= (uint32_t)names_e820(b);
	}
	check_true("fw_cfg directory by DMA names etc/e820", e820, count);
	check_eq("fw_cfg DMA to a buffer outside RAM: ERROR",
		 fw_cfg_dma(0x08 | 0x02, 16, 0x200000000ULL), 1);
	check_eq("fw_cfg DMA write to a read-only item: ERROR",
		 fw_cfg_dma(0x08 | 0x10, 4, (uintptr_t)b), 1);
}

static uint32_t hpet_first_line;

static int hpet_timer2_fired(void)
{
	return *hpet_reg(0x20) & 4;
}

/* Timer 2 armed a little ahead, then waited for up to 10 s, since the
 * counter is the host's clock: a device model whose timer thread is
 * starved (both QEMU and kvmini missed one second in a loaded nested
 * VM) is late, not wrong. A comparator the counter had already passed
 * when it was written matches only after the counter wraps (43 s), as
 * on hardware; a vCPU stalled that long between reading the counter
 * and writing the comparator is given a longer lead and tried again. */
static int hpet_timer2_fires(void)
{
	uint32_t lead = HPET_TICKS_PER_S / 100;
	for (unsigned i = 0; i < 4; i++, lead *= 4) {
		uint32_t due = hpet_now() + lead;
		*hpet_reg(0x148) = due;
		int passed = (int32_t)(hpet_now() - due) >= 0;
		if (wait_for(hpet_timer2_fired, 10 * HPET_TICKS_PER_S))
			return 1;
		if (!passed)
			return 0;
	}
	return 0;
}

static void check_hpet(void)
{
	uint32_t cap = *hpet_reg(0x0), period = *hpet_reg(0x4);
	check_eq("hpet period (fs)", period, 10000000);
	check_true("hpet legacy replacement capable", cap & (1u << 15), cap);
	check_true("hpet has 3 timers or more", ((cap >> 8) & 0x1f) >= 2, cap);
	*hpet_reg(0x10) = 1;                                   /* ENABLE */
	uint32_t c0 = hpet_now();
	for (unsigned i = 0; i < 1000000 && hpet_now() == c0; i++)
		;
	check_true("hpet counter runs", hpet_now() != c0, c0);
	uint32_t routes = *hpet_reg(0x100 + 0x40 + 4);         /* timer 2's routes */
	hpet_first_line = 0;
	while (hpet_first_line < 32 && !(routes & (1u << hpet_first_line)))
		hpet_first_line++;
	check_true("hpet timer 2 can be routed", hpet_first_line < 24, routes);
	/* level-triggered, enabled, 32-bit one-shot; its input stays masked */
	*hpet_reg(0x140) = hpet_first_line << 9 | 1u << 8 | 1u << 2 | 1u << 1;
	int fired = hpet_timer2_fires();
	check_true("hpet comparator sets its status bit", fired, *hpet_reg(0x20));
	*hpet_reg(0x20) = 4;
	check_eq("hpet status bit cleared by writing 1", *hpet_reg(0x20) & 4, 0);
	*hpet_reg(0x140) = 0;
}

static uint8_t cmos(uint8_t reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static uint8_t rtc_c;

static int rtc_flag_pf(void)
{
	return (rtc_c = cmos(0x0c)) & 0x40;
}

static int rtc_flag_uf(void)
{
	return (rtc_c = cmos(0x0c)) & 0x10;
}

/* Reading C clears PF. Two reads back to back must find it clear unless
 * the next 2 Hz tick fell between them, which a stalled vCPU makes
 * likely: a pair that took a quarter period or more is tried again. */
static int rtc_pf_cleared_by_read(void)
{
	for (unsigned i = 0; i < 5; i++) {
		cmos(0x0c);
		uint32_t t = hpet_now();
		if (!rtc_flag_pf())
			return 1;
		if (hpet_now() - t < HPET_TICKS_PER_S / 8)
			return 0;
	}
	return 0;
}

/* PIE on, with interrupts off: QEMU sets PF only while PIE is. UIP is
 * left to guests/testdevs.c: QEMU raises it only while its own update
 * timer runs, so a polled check would depend on QEMU's state. */
static void check_rtc_flags(void)
{
	uint8_t b = cmos(0x0b);
	outb(0x70, 0x0a);
	outb(0x71, 0x2f);                                      /* periodic at 2 Hz */
	outb(0x70, 0x0b);
	outb(0x71, b | 0x40);
	cmos(0x0c);
	/* Each result is taken before rtc_c is shown: argument order is
	 * unspecified. */
	int ok = wait_for(rtc_flag_pf, HPET_TICKS_PER_S);
	check_true("rtc periodic flag within a second", ok, rtc_c);
	ok = rtc_pf_cleared_by_read();
	check_true("rtc status C cleared by reading it", ok, rtc_c);
	ok = wait_for(rtc_flag_uf, 2 * HPET_TICKS_PER_S);
	check_true("rtc update-ended flag within 2 s", ok, rtc_c);
	outb(0x70, 0x0b);
	outb(0x71, b);
	outb(0x70, 0x0a);
	outb(0x71, 0x26);
}

int mb_main(void)
{
	const struct multiboot_info *mbi = (const void *)(uintptr_t)entry_regs[1];
	const char *line = "";

	check_entry();
	if (entry_regs[0] == MULTIBOOT_BOOT_MAGIC && mbi) {
		check_true("command line given (flag 2)", mbi->flags & MULTIBOOT_INFO_CMDLINE,
			   mbi->flags);
		if (mbi->flags & MULTIBOOT_INFO_CMDLINE)
			line = (const char *)(uintptr_t)mbi->cmdline;
		check_cmdline(line);
		check_true("memory fields given (flag 0)", mbi->flags & MULTIBOOT_INFO_MEMORY,
			   mbi->flags);
		check_memory(line, mbi);
		check_modules(line, mbi);
		if (mbi->flags & MULTIBOOT_INFO_LOADER_NAME) {
			serial_puts("multiboot: boot loader: ");
			serial_puts((const char *)(uintptr_t)mbi->boot_loader_name);
			serial_putc('\n');
		}
	}
	check_fw_cfg(line);
	if (key_value(line, "mb.pcdev")) {
		check_fw_cfg_dma();
		check_hpet();
		check_rtc_flags();
	}
	if (key_value(line, "mb.fwcfg_cmdline"))
		check_fw_cfg_cmdline(line);
	if (key_value(line, "mb.testdev"))
		check_testdev();
	serial_puts("multiboot: ");
	serial_put_dec(checks);
	serial_puts(" checks, ");
	serial_put_dec(failures);
	serial_puts(" failed\n");
	return (int)failures;
}
