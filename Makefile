# kvmini — build, run, test, bench. `make run` and `make test` are the
# two commands a user needs (README.md).

CC      ?= gcc
B       := build
WARN    := -std=gnu11 -Wall -Wextra -Werror
CPPFLAGS:= -D_GNU_SOURCE -Iinclude -Isrc -I$(B)/gen
CFLAGS  ?= -O2 -g
SANFLAGS:= -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDLIBS  := -lpthread

LIB_SRCS := $(wildcard src/*.c src/arch/x86/*.c src/arch/x86/emulate/*.c src/board/*.c \
	src/devices/*.c src/loaders/*.c src/pci/*.c src/virtio/*.c src/snapshot/*.c src/display/*.c)
# Instruction completion decodes with Debian's Zydis (libzydis-dev, from
# scripts/install-deps.sh build); Debian ships it without a pkg-config
# file, hence the fallback.
ZYDIS_LIBS := $(shell pkg-config --libs zydis 2>/dev/null || echo -lZydis)
LDLIBS += $(ZYDIS_LIBS)
# src/seccomp: the per-thread filters, BPF programs written by kvmini
# itself (src/seccomp/filter.c says why). Debian's libseccomp
# (libseccomp-dev, installed by scripts/install-deps.sh build when its
# header is missing) is only the unit test's reference for their verdicts.
LIB_SRCS += $(wildcard src/seccomp/*.c)
$(B)/san/tests/test_seccomp_program: LDLIBS += -lseccomp
# src/api: the control API, a front end like the CLI (docs/api.md). It
# parses JSON with Debian's cJSON: a build without its header installs
# libcjson-dev first (scripts/install-deps.sh build), as root. Not
# linked: src/api/cjson_dl.c opens it for --api-sock and --config-file.
CLI_SRCS := $(wildcard src/cli/*.c src/api/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(B)/obj/%.o)
SAN_LIB_OBJS := $(LIB_SRCS:%.c=$(B)/san/%.o)
SAN_CLI_OBJS := $(CLI_SRCS:%.c=$(B)/san/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/san/tests/%)
# Programs with planted bugs for the harness's self-test (end of file).
HARNESS_SRCS := $(wildcard tests/harness/*.c)
HARNESS_BINS := $(HARNESS_SRCS:tests/harness/%.c=$(B)/san/harness/%)

.PHONY: all run test unit integration valgrind bench deps guests clean
all: $(B)/kvmini $(B)/libkvmini.a guests

.PHONY: build-deps
build-deps:
	@test -e /usr/include/cjson/cJSON.h -a -e /usr/include/seccomp.h -a -e /usr/include/liburing.h -a \
		-e /usr/include/rfb/rfb.h -a -e /usr/include/png.h -a \
		-e /usr/include/Zydis/Zydis.h || scripts/install-deps.sh build
$(patsubst %.c,$(B)/obj/%.o,$(wildcard src/api/*.c src/display/*.c src/arch/x86/emulate/*.c src/seccomp/*.c)) \
$(patsubst %.c,$(B)/san/%.o,$(wildcard src/api/*.c src/display/*.c src/arch/x86/emulate/*.c src/seccomp/*.c)): | build-deps
# src/display: the framebuffer's VNC server (Debian's libvncserver,
# opened by src/display/vnc.c when --vnc asks for it, not linked: it
# brings twenty libraries) and its PNG screenshots (libpng, opened when
# a machine has a display, not linked: with libz and libm it was three
# of the libraries every start loaded); docs/display.md. The display's
# unit test reads the screenshots back with libpng.
$(B)/san/tests/test_display: LDLIBS += -lpng16

# The SIGSYS handler's names of system calls, from the uapi header.
$(B)/gen/syscall_names.h: | $(B)/gen
	echo '#include <asm/unistd_64.h>' | $(CC) -dM -E - | \
		sed -n 's/^#define __NR_\([a-z0-9_]*\) .*/[__NR_\1] = "\1",/p' | sort > $@
$(B)/obj/src/seccomp/sigsys.o $(B)/san/src/seccomp/sigsys.o $(B)/fuzz/obj/src/seccomp/sigsys.o: \
	$(B)/gen/syscall_names.h

# ---- guests (freestanding, built with the host gcc) ----
GUEST_CFLAGS := -ffreestanding -fno-pic -fno-pie -nostdlib -fno-stack-protector \
	-mno-red-zone -mgeneral-regs-only -fno-asynchronous-unwind-tables -O2 -g \
	-Wall -Wextra -Werror -Iguests/lib
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments -z noexecstack
G := $(B)/guests
GUESTS := $(G)/demo.bin $(G)/hello_real.bin $(G)/loop.bin \
	$(G)/exit_code_0.bin $(G)/exit_code_42.bin $(G)/exit_code_200.bin \
	$(G)/hello_protected.elf $(G)/triple_fault.elf \
	$(G)/debugcon.bin $(G)/outs.bin $(G)/unclaimed.bin $(G)/echo.bin \
	$(G)/hello_long.elf $(G)/hello_long.bin $(G)/mmio.elf $(G)/uart_regs.elf \
	$(G)/emulation_failure.elf $(G)/timer_pit.elf $(G)/timer_lapic.elf \
	$(G)/uart_irq.elf $(G)/smp.elf $(G)/smp_ap_exit.elf $(G)/irq_latency.elf \
	$(G)/acpi_poweroff.elf $(G)/loop_ready.bin $(G)/echo_ready.bin \
	$(G)/outs_flood_com1.bin $(G)/outs_flood_debugcon.bin $(G)/sequence.elf
guests: $(GUESTS)
# Firmware tables, CPU feature hiding, boot MSRs.
guests: $(G)/firmware_tables.elf $(G)/cpuid_bits.elf $(G)/boot_msrs.elf
# QEMU's PC devices as a guest sees them: fw_cfg DMA, HPET, RTC interrupts.
guests: $(G)/testdevs.elf $(G)/testdevs_restart.elf
# The same, resetting the machine once first (--on-reset restart).
$(G)/testdevs_restart.elf: guests/testdevs.c $(GUEST_RT) guests/lib/cmos.h guests/elf.ld | $(G)
	$(CC) -m64 -DRESET_FIRST $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -T guests/elf.ld -o $@ \
		$(GUEST_RT_SRCS) $<
# A bare-metal virtio-mmio driver (virtio-rng, --rng).
guests: $(G)/virtio_rng.elf
# QEMU's bochs-display as a driver sets a mode on it (--display WxH,bochs-display).
guests: $(G)/bochs_display.elf
# The hostile-guest suite (guests/hostile.c), and its endless interrupt storm.
guests: $(G)/hostile.elf $(G)/hostile_storm.elf
$(G)/hostile_storm.elf: guests/hostile.c $(GUEST_RT) guests/elf.ld | $(G)
	$(CC) -m64 -DENDLESS_STORM -Wno-unused-function $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -T guests/elf.ld -o $@ \
		$(GUEST_RT_SRCS) $<
# More of it: resets through every path under --on-reset restart, and
# guests that wait for ever in hlt (cli; hlt, and sti; hlt with nothing
# to wake them) while the host must stay idle.
guests: $(G)/reset_storm.elf $(G)/halt_idle.elf $(G)/halt_idle_sti.elf
# And every vCPU on the same devices at once (the SMP start-up code);
# and resets with every virtio-pci device at work (--on-reset restart).
guests: $(G)/hostile_smp.elf $(G)/hostile_reset.elf
$(G)/hostile_reset.elf: guests/hostile.c $(GUEST_RT) guests/elf.ld | $(G)
	$(CC) -m64 -DRESET_STORM -Wno-unused-function $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -T guests/elf.ld -o $@ \
		$(GUEST_RT_SRCS) $<
$(G)/hostile_smp.elf: guests/hostile.c guests/smp_trampoline.S $(GUEST_RT) guests/elf.ld | $(G)
	$(CC) -m64 -DSMP_STORM -Wno-unused-function $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -T guests/elf.ld -o $@ \
		$(GUEST_RT_SRCS) guests/smp_trampoline.S $<
$(G)/reset_storm.elf: guests/lib/cmos.h
$(G)/halt_idle_sti.elf: guests/halt_idle.c $(GUEST_RT) guests/elf.ld | $(G)
	$(CC) -m64 -DSTI_HLT $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -T guests/elf.ld -o $@ \
		$(GUEST_RT_SRCS) $<
# ACPI S3: suspend, the RTC alarm wakes it at the FACS waking vector;
# and the same without a wake source enabled.
guests: $(G)/acpi_s3.elf $(G)/acpi_s3_nowake.elf
$(G)/acpi_s3.elf $(G)/acpi_s3_nowake.elf: guests/acpi_s3.c guests/acpi_s3_wake.S \
		$(GUEST_RT) guests/lib/cmos.h guests/elf.ld | $(G)
	$(CC) -m64 $(if $(findstring nowake,$@),-DNO_WAKE) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) \
		-T guests/elf.ld -o $@ $(GUEST_RT_SRCS) guests/acpi_s3.c guests/acpi_s3_wake.S

# Raw real-mode images: assemble as 16-bit code, link at 0x7c00, strip to bytes.
$(G)/%.bin: guests/%.S guests/flat.ld | $(G)
	$(CC) -m32 -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-m,elf_i386 \
		-T guests/flat.ld -o $(G)/$*.flat.elf $<
	objcopy -O binary $(G)/$*.flat.elf $@
$(G)/exit_code_%.bin: guests/exit_code.S guests/flat.ld | $(G)
	$(CC) -m32 -DEXIT_CODE=$* -nostdlib -static -no-pie -Wl,--build-id=none \
		-Wl,-m,elf_i386 -T guests/flat.ld -o $(G)/exit_code_$*.flat.elf $<
	objcopy -O binary $(G)/exit_code_$*.flat.elf $@
# The output flood, once per port (guests/outs_flood.S).
$(G)/outs_flood_com1.bin $(G)/outs_flood_debugcon.bin: $(G)/outs_flood_%.bin: guests/outs_flood.S guests/flat.ld | $(G)
	$(CC) -m32 -DFLOOD_PORT=$(if $(filter com1,$*),0x3f8,0xe9) -nostdlib -static -no-pie \
		-Wl,--build-id=none -Wl,-m,elf_i386 -T guests/flat.ld -o $(G)/outs_flood_$*.flat.elf $<
	objcopy -O binary $(G)/outs_flood_$*.flat.elf $@
# loop.S and echo.S again, printing "ready" first (guests/ready.h).
$(G)/%_ready.bin: guests/%.S guests/ready.h guests/flat.ld | $(G)
	$(CC) -m32 -DREADY -Iguests -nostdlib -static -no-pie -Wl,--build-id=none \
		-Wl,-m,elf_i386 -T guests/flat.ld -o $(G)/$*_ready.flat.elf $<
	objcopy -O binary $(G)/$*_ready.flat.elf $@
# 32-bit protected-mode ELF guests.
$(G)/%.elf: guests/%.S guests/elf.ld | $(G)
	$(CC) -m32 $(GUEST_LDFLAGS) -Wl,-m,elf_i386 -T guests/elf.ld -o $@ $<
# 64-bit long-mode C guests with the runtime.
GUEST_RT_SRCS := guests/lib/start64.S guests/lib/guest.c guests/lib/intr.c
GUEST_RT := $(GUEST_RT_SRCS) guests/lib/guest.h guests/lib/intr.h
$(G)/%.elf: guests/%.c $(GUEST_RT) guests/elf.ld | $(G)
	$(CC) -m64 $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -T guests/elf.ld -o $@ $(GUEST_RT_SRCS) $<
# The sequence again, every page of RAM written first (bench/snapshot_bench.sh).
guests: $(G)/sequence_touch.elf
$(G)/sequence_touch.elf: guests/sequence.c $(GUEST_RT) guests/elf.ld | $(G)
	$(CC) -m64 -DTOUCH_RAM $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -T guests/elf.ld -o $@ \
		$(GUEST_RT_SRCS) $<
# PIT interrupts counted across a snapshot (tests/integration/snapshot.bats).
guests: $(G)/pit_ticks.elf
# The SMP guest carries the real-mode start-up code of its APs.
$(G)/smp.elf: guests/smp.c guests/smp_trampoline.S $(GUEST_RT) guests/elf.ld | $(G)
	$(CC) -m64 $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -T guests/elf.ld -o $@ $(GUEST_RT_SRCS) \
		guests/smp_trampoline.S $<
$(G)/smp_ap_exit.elf: guests/smp.c guests/smp_trampoline.S $(GUEST_RT) guests/elf.ld | $(G)
	$(CC) -m64 -DAP_EXITS $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -T guests/elf.ld -o $@ \
		$(GUEST_RT_SRCS) guests/smp_trampoline.S $<

# A long-mode guest flattened to raw bytes, to test raw loading in long mode.
$(G)/hello_long.bin: $(G)/hello_long.elf
	objcopy -O binary $< $@

# The built-in demo is guests/demo.S, turned into a C array.
$(B)/gen/demo_image.h: $(G)/demo.bin | $(B)/gen
	{ echo '/* generated from guests/demo.S by the Makefile */'; \
	  echo 'static const uint8_t demo_image[] = {'; \
	  od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1, /g'; \
	  echo '};'; } > $@

# ---- library and command line ----
$(B)/obj/%.o: %.c $(B)/gen/demo_image.h
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<
# The sanitizer build is the test build: it alone carries the test-only
# hooks (KVMINI_TEST_HOOKS, e.g. a forbidden call in a vCPU thread).
$(B)/san/%.o: %.c $(B)/gen/demo_image.h
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) $(SANFLAGS) -DKVMINI_TEST_HOOKS -MMD -MP -c -o $@ $<

$(B)/libkvmini.a: $(LIB_OBJS)
	ar rcs $@ $^
$(B)/kvmini: $(CLI_OBJS) $(B)/libkvmini.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJS) $(B)/libkvmini.a $(LDLIBS)
$(B)/san/kvmini: $(SAN_CLI_OBJS) $(SAN_LIB_OBJS)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(G) $(B)/gen:
	mkdir -p $@

run: all
	./$(B)/kvmini run

# ---- tests ----
deps:
	scripts/install-deps.sh test

$(B)/san/tests/%: tests/unit/%.c $(SAN_LIB_OBJS) $(SAN_CLI_OBJS)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) $(SANFLAGS) -o $@ $< \
		$(SAN_LIB_OBJS) $(filter-out $(B)/san/src/cli/main.o,$(SAN_CLI_OBJS)) \
		-lcriterion -lutil $(LDLIBS)

unit: $(UNIT_BINS)
	@bash -c '. scripts/test-lib.sh && sanitizer_env && set -e && \
		for t in $(UNIT_BINS); do echo "== $$t"; $$t; done'

integration: $(B)/san/kvmini $(B)/kvmini guests $(HARNESS_BINS)
	KVMINI=$(CURDIR)/$(B)/san/kvmini GUESTS=$(CURDIR)/$(G) bats tests/integration

valgrind: $(B)/kvmini
	scripts/valgrind-demo.sh $(B)/kvmini

test: deps
	$(MAKE) all $(B)/san/kvmini $(UNIT_BINS) $(HARNESS_BINS) $(DISPLAY_TEST_BINS) fuzz-build
	scripts/run-tests.sh $(B)

# kvmini's test kernel (tests/integration/test_kernel.bats builds it on
# first use where KVM runs guests): build it now, or print where it is.
.PHONY: test-kernel test-long
test-kernel:
	scripts/build-test-kernel.sh

# Long tests, not part of `make test`: Debian's stock kernel to /init
# with no emulation workarounds, its boot milestones on the way
# (tests/long/, docs/performance.md). Minutes on a PVM host.
test-long: deps
	$(MAKE) all $(B)/san/kvmini
	KVMINI=$(CURDIR)/$(B)/san/kvmini GUESTS=$(CURDIR)/$(G) bats tests/long

# ---- benchmarks (not tests) ----
bench: all
	scripts/install-deps.sh bench
	$(MAKE) -C bench B=$(CURDIR)/$(B)
	$(B)/bench/kvmini-bench
	bench/sandbox_bench.sh $(B)
	$(MAKE) $(B)/display/vnc_serve $(B)/san/display/vnc_client && bench/display_bench.sh $(B)
	$(MAKE) all && bench/linux_bench.sh $(B)
	bench/snapshot_bench.sh $(B)
	bench/net_bench.sh $(B)

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# ---- sandbox mode (issue 6): src/sandbox, and the test programs ----
# The sandbox's objects join the library (and the sanitizer builds) here
# rather than in LIB_SRCS above; the test programs join `guests`.
SANDBOX_SRCS := $(wildcard src/sandbox/*.c)
SANDBOX_OBJS := $(SANDBOX_SRCS:%.c=$(B)/obj/%.o)
SAN_SANDBOX_OBJS := $(SANDBOX_SRCS:%.c=$(B)/san/%.o)
$(B)/libkvmini.a: $(SANDBOX_OBJS)
$(B)/san/kvmini: $(SAN_SANDBOX_OBJS)
$(UNIT_BINS): $(SAN_SANDBOX_OBJS)
SAN_LIB_OBJS += $(SAN_SANDBOX_OBJS)

# Static Linux programs for sandbox mode, built with gcc -static and,
# when Debian's musl-tools is installed, with musl-gcc -static.
SBT := $(G)/sandbox
SANDBOX_TEST_SRCS := $(wildcard tests/sandbox/*.c)
SANDBOX_PROGS := $(SANDBOX_TEST_SRCS:tests/sandbox/%.c=$(SBT)/%.glibc)
ifneq ($(shell command -v musl-gcc 2>/dev/null),)
SANDBOX_PROGS += $(SANDBOX_TEST_SRCS:tests/sandbox/%.c=$(SBT)/%.musl)
endif
guests: $(SANDBOX_PROGS)
SANDBOX_PROG_CFLAGS := -O2 -g -Wall -Wextra -Werror -Itests/sandbox
$(SBT)/%.glibc: tests/sandbox/%.c $(wildcard tests/sandbox/*.h)
	@mkdir -p $(@D)
	$(CC) -static $(SANDBOX_PROG_CFLAGS) -o $@ $<
$(SBT)/%.musl: tests/sandbox/%.c $(wildcard tests/sandbox/*.h)
	@mkdir -p $(@D)
	musl-gcc -static $(SANDBOX_PROG_CFLAGS) -o $@ $<

# Programs for the Linux test kernel's initramfs that busybox lacks:
# vsock_pipe, the guest's end of a vsock stream (linux_net.bats).
guests: $(G)/linux/vsock_pipe
$(G)/linux/%: tests/linux/%.c
	@mkdir -p $(@D)
	$(CC) -static $(SANDBOX_PROG_CFLAGS) -o $@ $<

# ---- gdb stub (issue 5): src/gdb, its guest, its fuzz target ----
# The stub's objects join the library (and the sanitizer builds) here
# rather than in LIB_SRCS above.
GDB_SRCS := $(wildcard src/gdb/*.c)
GDB_OBJS := $(GDB_SRCS:%.c=$(B)/obj/%.o)
SAN_GDB_OBJS := $(GDB_SRCS:%.c=$(B)/san/%.o)
$(B)/libkvmini.a: $(GDB_OBJS)
$(B)/san/kvmini: $(SAN_GDB_OBJS)
$(UNIT_BINS): $(SAN_GDB_OBJS)
SAN_LIB_OBJS += $(SAN_GDB_OBJS)
guests: $(G)/gdb_target.elf

# ---- platform devices (issue 3): the RTC and reset guests ----
# guests/reset.c is built once per reset path, with -DRESET_VIA_<path>.
RESET_GUESTS := $(G)/reset_i8042.elf $(G)/reset_port92.elf $(G)/reset_cf9.elf
guests: $(G)/rtc.elf $(G)/boot_count.elf $(RESET_GUESTS)
$(G)/rtc.elf $(G)/boot_count.elf: guests/lib/cmos.h
# firmware_tables.c linked the way countless tutorials link a kernel,
# `ld -Ttext=0x100000` with ld's own script: a first PT_LOAD at 0xff000
# holds the ELF headers, inside the BIOS area the tables share.
guests: $(G)/firmware_tables_ld.elf
$(G)/firmware_tables_ld.elf: guests/firmware_tables.c $(GUEST_RT) | $(G)
	$(CC) -m64 $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -Wl,-Ttext=0x100000 -o $@ \
		$(GUEST_RT_SRCS) $<
# boot_count.c again, resetting by a triple fault (--on-reset restart).
guests: $(G)/boot_count_triple.elf
$(G)/boot_count_triple.elf: guests/boot_count.c guests/lib/cmos.h $(GUEST_RT) guests/elf.ld | $(G)
	$(CC) -m64 -DRESET_BY_TRIPLE_FAULT $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -T guests/elf.ld -o $@ \
		$(GUEST_RT_SRCS) $<
$(RESET_GUESTS): $(G)/reset_%.elf: guests/reset.c $(GUEST_RT) guests/elf.ld | $(G)
	$(CC) -m64 -DRESET_VIA_$* $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -T guests/elf.ld -o $@ \
		$(GUEST_RT_SRCS) $<

# ---- Linux boot (issue 4): the boot-protocol conformance kernel ----
# guests/bootconf is packed as a bzImage by tools/mkbzimage (with these
# header values, which the kernel also gets with -D to check them) and
# linked as a PVH ELF (32-bit; an ELF64 copy too, as vmlinux is one).
BOOTCONF_HDR := --version 0x020f --setup-sects 0 --pref-address 0x1000000 \
	--kernel-alignment 0x200000 --relocatable 1 --xloadflags 0x3 \
	--cmdline-size 2047 --initrd-addr-max 0x7fffffff
BOOTCONF_DEFS := -DBOOTCONF_VERSION=0x020f -DBOOTCONF_SETUP_SECTS=0 \
	-DBOOTCONF_PREF=0x1000000 -DBOOTCONF_ALIGN=0x200000 -DBOOTCONF_XLF=0x3 \
	-DBOOTCONF_CMDLINE_SIZE=2047 -DBOOTCONF_INITRD_MAX=0x7fffffff
BOOTCONF_DEPS := guests/bootconf/bootconf.h guests/bootconf/check.c guests/lib/guest.c \
	guests/lib/guest.h guests/bootconf/entry_data.S
BC := $(G)/bootconf
guests: $(G)/bootconf.bzImage $(G)/bootconf_pvh.elf $(G)/bootconf_pvh64.elf

$(B)/tools/mkbzimage: tools/mkbzimage.c
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -o $@ $<

# Linked at two bases: identical bytes prove the code position-independent.
BOOTCONF_BZ_SRCS := guests/bootconf/entry64.S guests/bootconf/zeropage.c \
	guests/bootconf/check.c guests/lib/guest.c
BOOTCONF_BZ_CC = $(CC) -m64 $(GUEST_CFLAGS) -fpie -fvisibility=hidden $(BOOTCONF_DEFS) \
	-Iguests/bootconf $(GUEST_LDFLAGS) -T guests/bootconf/bzimage.ld
$(BC)/bzimage.elf: $(BOOTCONF_BZ_SRCS) $(BOOTCONF_DEPS) guests/bootconf/bzimage.ld
	@mkdir -p $(@D)
	$(BOOTCONF_BZ_CC) -Wl,--defsym=BOOTCONF_BASE=0 -o $@ $(BOOTCONF_BZ_SRCS)
	$(BOOTCONF_BZ_CC) -Wl,--defsym=BOOTCONF_BASE=0x40000000 -o $@.moved $(BOOTCONF_BZ_SRCS)
	objcopy -O binary $@ $(BC)/payload.bin
	objcopy -O binary $@.moved $(BC)/payload.moved.bin
	cmp $(BC)/payload.bin $(BC)/payload.moved.bin
$(G)/bootconf.bzImage: $(BC)/bzimage.elf $(B)/tools/mkbzimage
	end=$$(nm $< | awk '$$3 == "_end" { print "0x" $$1 }') && \
	$(B)/tools/mkbzimage $(BOOTCONF_HDR) --init-size $$(( (end + 0xfff) & ~0xfff )) \
		$(BC)/payload.bin $@

BOOTCONF_PVH_SRCS := guests/bootconf/entry_pvh.S guests/bootconf/startinfo.c \
	guests/bootconf/check.c guests/lib/guest.c
$(G)/bootconf_pvh.elf: $(BOOTCONF_PVH_SRCS) $(BOOTCONF_DEPS) guests/bootconf/pvh.ld \
		src/loaders/pvh_abi.h
	@mkdir -p $(@D)
	$(CC) -m32 $(GUEST_CFLAGS) -Iguests/bootconf -Isrc/loaders $(GUEST_LDFLAGS) \
		-Wl,-m,elf_i386 -T guests/bootconf/pvh.ld -o $@ $(BOOTCONF_PVH_SRCS)
$(G)/bootconf_pvh64.elf: $(G)/bootconf_pvh.elf
	objcopy -O elf64-x86-64 $< $@

# ---- Multiboot (issue 15): guests/multiboot, a 32-bit conformance kernel ----
# As an ELF32 (loaded by its program headers) and, built with -DKLUDGE, as
# a flat binary only its header's address fields describe.
MB_SRCS := guests/multiboot/entry.S guests/multiboot/check.c guests/lib/guest.c
MB_DEPS := $(MB_SRCS) guests/lib/guest.h guests/multiboot/multiboot.ld src/loaders/multiboot_abi.h
MB_CC = $(CC) -m32 $(GUEST_CFLAGS) -Isrc/loaders $(GUEST_LDFLAGS) -Wl,-m,elf_i386 \
	-T guests/multiboot/multiboot.ld
guests: $(G)/multiboot.elf $(G)/multiboot_kludge.bin
$(G)/multiboot.elf: $(MB_DEPS) | $(G)
	$(MB_CC) -o $@ $(MB_SRCS)
$(G)/multiboot_kludge.bin: $(MB_DEPS) | $(G)
	$(MB_CC) -DKLUDGE -o $(G)/multiboot_kludge.elf $(MB_SRCS)
	objcopy -O binary $(G)/multiboot_kludge.elf $@

# The conformance kernel with a payload too: the same code linked as an
# ELF vmlinux at pref_address, compressed (gzip; xz with kbuild's size
# trailer) and appended by mkbzimage, for --decompress to find. The xz
# one needs xz-utils (scripts/install-deps.sh build), not on every system.
BOOTCONF_PACKED := $(G)/bootconf_gzip.bzImage
ifneq ($(shell command -v xz 2>/dev/null),)
BOOTCONF_PACKED += $(G)/bootconf_xz.bzImage
endif
guests: $(BOOTCONF_PACKED)
$(BC)/vmlinux: $(BOOTCONF_BZ_SRCS) $(BOOTCONF_DEPS) guests/bootconf/bzimage.ld
	@mkdir -p $(@D)
	$(BOOTCONF_BZ_CC) -Wl,--defsym=BOOTCONF_BASE=0x1000000 -o $@ $(BOOTCONF_BZ_SRCS)
	strip $@
$(BC)/vmlinux.gzip: $(BC)/vmlinux
	gzip -9 -n -c $< > $@
$(BC)/vmlinux.xz: $(BC)/vmlinux
	{ xz --check=crc32 -9 -c $<; perl -e 'print pack("V", -s $$ARGV[0])' $<; } > $@
$(G)/bootconf_%.bzImage: $(BC)/vmlinux.% $(BC)/bzimage.elf $(B)/tools/mkbzimage
	end=$$(nm $(BC)/bzimage.elf | awk '$$3 == "_end" { print "0x" $$1 }') && \
	$(B)/tools/mkbzimage $(BOOTCONF_HDR) --init-size $$(( (end + 0xfff) & ~0xfff )) \
		--payload $< $(BC)/payload.bin $@

# ---- host-side decompression (issue 4): --decompress ----
# Each of zlib, liblzma, libzstd and liblz4 whose header is installed is
# compiled in and opened at run time when --decompress needs it; $(DECOMP_CONFIG) records which (rewritten only
# when that changes, so what includes it rebuilds then). Without them
# kvmini still builds and --decompress names the missing package
# ($(B)/gen/decompress.libs tells bench/Makefile what to link);
# `make test` and `make bench` install them (scripts/install-deps.sh).
have_header = $(shell $(CC) -E -include $(1) -x c /dev/null >/dev/null 2>&1 && echo 1 || echo 0)
HAVE_ZLIB := $(call have_header,zlib.h)
HAVE_LZMA := $(call have_header,lzma.h)
HAVE_ZSTD := $(call have_header,zstd.h)
HAVE_LZ4 := $(call have_header,lz4.h)
DECOMP_LIBS := $(if $(filter 1,$(HAVE_ZLIB)),-lz) $(if $(filter 1,$(HAVE_LZMA)),-llzma) \
	$(if $(filter 1,$(HAVE_ZSTD)),-lzstd) $(if $(filter 1,$(HAVE_LZ4)),-llz4)
# Not linked: decompress.c opens each library (dlopen) only when a
# payload needs it, so the runs that do not decompress start faster.
LDLIBS += -ldl
DECOMP_CONFIG := $(B)/gen/decompress_config.h
$(shell mkdir -p $(B)/gen && printf '/* written by the Makefile */\n\043define KVMINI_HAVE_ZLIB %s\n\043define KVMINI_HAVE_LZMA %s\n\043define KVMINI_HAVE_ZSTD %s\n\043define KVMINI_HAVE_LZ4 %s\n' \
	$(HAVE_ZLIB) $(HAVE_LZMA) $(HAVE_ZSTD) $(HAVE_LZ4) > $(DECOMP_CONFIG).new && \
	{ cmp -s $(DECOMP_CONFIG).new $(DECOMP_CONFIG) || cp $(DECOMP_CONFIG).new $(DECOMP_CONFIG); }; \
	rm -f $(DECOMP_CONFIG).new; echo '-ldl' > $(B)/gen/decompress.libs)
ifneq ($(HAVE_ZLIB)$(HAVE_LZMA)$(HAVE_ZSTD)$(HAVE_LZ4),1111)
$(info kvmini: --decompress built without some of zlib1g-dev liblzma-dev libzstd-dev liblz4-dev; scripts/install-deps.sh build installs them)
endif
$(B)/obj/src/loaders/decompress.o $(B)/san/src/loaders/decompress.o: $(DECOMP_CONFIG)
$(B)/san/tests/test_decompress: $(DECOMP_CONFIG)
# The test compresses its inputs with the libraries' encoders: it links them.
$(B)/san/tests/test_decompress: LDLIBS += $(DECOMP_LIBS)

# ---- split irqchip (issue 3): a level-triggered IOAPIC interrupt's EOI ----
guests: $(G)/ioapic_level.elf

# ---- doorbells (issue 9): ioeventfd -> event loop -> irqfd ----
# guests/doorbell.c once for the test (port and MMIO doorbells) and once
# for the benchmark (port only, many round trips).
guests: $(G)/doorbell.elf $(G)/doorbell_bench.elf
$(G)/doorbell_bench.elf: guests/doorbell.c $(GUEST_RT) guests/elf.ld | $(G)
	$(CC) -m64 -DPORT_ONLY -DDOORBELLS=2000 $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -T guests/elf.ld \
		-o $@ $(GUEST_RT_SRCS) $<

# ---- the test harness's own self-test (tests/integration/harness.bats) ----
# Programs with planted bugs, built with the sanitizer flags the tests use.
$(B)/san/harness/unit_%: tests/harness/unit_%.c
	@mkdir -p $(@D)
	$(CC) $(WARN) $(SANFLAGS) -o $@ $< -lcriterion
$(B)/san/harness/%: tests/harness/%.c
	@mkdir -p $(@D)
	$(CC) $(WARN) $(SANFLAGS) -o $@ $<

# ---- fuzzing: one libFuzzer target per file- or client-facing parser ----
# tests/fuzz/fuzz_NAME.c, built with clang, ASan and UBSan against the
# library compiled the same way. `make fuzz` runs each for FUZZ_SECONDS
# (FUZZ=NAME for one); `make test` runs each for a few seconds on its
# saved corpus (scripts/fuzz.sh, scripts/run-tests.sh). Crashes land in
# build/fuzz/ and become regression tests.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-Wno-gnu-variable-sized-type-not-at-end \
	-fno-omit-frame-pointer
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_TARGETS:%=$(B)/fuzz/%)
FUZZ_LIB_SRCS := $(LIB_SRCS) $(GDB_SRCS)
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(B)/fuzz/obj/%.o)
$(B)/fuzz/obj/%.o: %.c $(B)/gen/demo_image.h $(DECOMP_CONFIG)
	@mkdir -p $(@D)
	clang $(WARN) $(CPPFLAGS) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<
$(B)/fuzz/libkvmini.a: $(FUZZ_LIB_OBJS)
	ar rcs $@ $^
$(B)/fuzz/%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_target.h tests/unit/bare_vm.h $(B)/fuzz/libkvmini.a
	clang $(WARN) $(CPPFLAGS) -Itests/fuzz -Itests/unit $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
		$(FUZZ_EXTRA) $(B)/fuzz/libkvmini.a $(DECOMP_LIBS) $(ZYDIS_LIBS) -ldl -lpthread \
		-luring
# The control API's target also needs the front-end code it drives.
FUZZ_API_OBJS := $(patsubst %.c,$(B)/fuzz/obj/%.o,$(wildcard src/api/*.c) src/cli/options.c src/cli/file.c \
	src/cli/net_options.c src/cli/jail.c)
$(B)/fuzz/api: $(FUZZ_API_OBJS)
$(B)/fuzz/api: FUZZ_EXTRA = $(FUZZ_API_OBJS)
.PHONY: fuzz fuzz-build
fuzz-build: guests $(FUZZ_BINS)
fuzz:
	scripts/install-deps.sh fuzz
	$(MAKE) fuzz-build
	@set -e; for t in $(or $(FUZZ),$(FUZZ_TARGETS)); do \
		scripts/fuzz.sh $(B) $$t $(FUZZ_SECONDS); done

# ---- display (issue 17): the VNC server and screenshots without KVM ----
# tests/display/vnc_serve.c serves a framebuffer in plain guest memory
# over VNC (tests/integration/display.bats); vnc_client.c is a tiny RFB
# client on Debian's libvncclient that types, points and captures, and
# png_same.c compares two images: test tools, built without the
# sanitizers (libvncclient leaks its JPEG decoder at exit).
DISPLAY_TEST_BINS := $(B)/san/display/vnc_serve $(B)/san/display/vnc_client \
	$(B)/san/display/png_same
$(B)/san/display/vnc_serve: tests/display/vnc_serve.c guests/display_pattern.h $(SAN_LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) -Iguests $(SANFLAGS) -o $@ $< $(SAN_LIB_OBJS) $(LDLIBS)
# The same server without the sanitizers, for bench/display_bench.sh.
$(B)/display/vnc_serve: tests/display/vnc_serve.c guests/display_pattern.h $(B)/libkvmini.a
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) -Iguests $(CFLAGS) -o $@ $< $(B)/libkvmini.a $(LDLIBS)
# The bare-metal guest that draws the pattern and echoes scan codes.
guests: $(G)/display.elf
$(G)/display.elf: guests/display_pattern.h
$(B)/san/display/vnc_client: tests/display/vnc_client.c
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -g -o $@ $< -lvncclient -lpng16
$(B)/san/display/png_same: tests/display/png_same.c
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -g -o $@ $< -lpng16
integration: $(DISPLAY_TEST_BINS)
# ---- virtio-blk (issue 11): its I/O goes through io_uring ----
# guests/virtio_blk.c: a bare-metal driver for two disks (tests/integration/virtio_blk_console.bats).
guests: $(G)/virtio_blk.elf $(G)/virtio_console.elf
# The same driver as figure (l)'s: bench/blk_workloads.h on one disk.
guests: $(G)/virtio_blk_bench.elf
$(G)/virtio_blk_bench.elf: guests/virtio_blk.c bench/blk_workloads.h $(GUEST_RT) guests/elf.ld | $(G)
	$(CC) -m64 -DBENCH -Wno-unused-function -Wno-unused-variable $(GUEST_CFLAGS) $(GUEST_LDFLAGS) \
		-T guests/elf.ld -o $@ $(GUEST_RT_SRCS) $<
# Debian's liburing-dev; a build without its header installs it first
# (scripts/install-deps.sh build), as root, like libcjson-dev above.
# Linked statically (Debian ships liburing.a): a shared library costs every
# start its loading (docs/performance.md, figure (h)), and kvmini uses a
# few small functions of it.
LDLIBS += -l:liburing.a
$(patsubst %.c,$(B)/obj/%.o,$(wildcard src/virtio/blk*.c)) \
$(patsubst %.c,$(B)/san/%.o,$(wildcard src/virtio/blk*.c)) \
$(patsubst %.c,$(B)/fuzz/obj/%.o,$(wildcard src/virtio/blk*.c)): | build-deps

# ---- networking (issue 12): virtio-net's user-mode backend ----
# src/virtio/net_user.c is built on Debian's libslirp (libslirp-dev,
# installed by scripts/install-deps.sh build when its header is missing,
# which needs root). It opens the library when a --net user card is made
# (src/dynlib.h), so nothing links it.
.PHONY: slirp-deps
slirp-deps:
	@test -e /usr/include/slirp/libslirp.h || scripts/install-deps.sh build
$(B)/obj/src/virtio/net_user.o $(B)/san/src/virtio/net_user.o \
$(B)/fuzz/obj/src/virtio/net_user.o: | slirp-deps

# ---- PCI (issue 11): the enumeration guest for --transport pci ----
guests: $(G)/pci_enum.elf

# ---- pci-testdev (issue 15): its guest, run with --testdev ----
guests: $(G)/pci_testdev.elf
