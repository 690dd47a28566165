# QENEX OS — the entry point.
#   make run     fetch dependencies, build, boot the OS in QEMU to the shell
#   make test    the same set-up, then every test (host, then QEMU)
#   make bench   boot-cost and other figures under QEMU -icount shift=0
#   make fuzz    fuzz the board's parsers on the host, FUZZ_SECONDS (600) a target
#   make soak    the gateway under 10,000 payments and 10,000 FIX orders in QEMU (flat heap, no restart);
#                the TCP echo with 100 MiB both ways and 10,000 connections
#   make flash   print how to write images/$(BOARD)/flash.bin to a board
# BOARD=mps2-an385 (default). MICROPYTHON_SRC=/path uses your own v1.25.0 tree.
#
# Three images from the same sources, described in hal/board/$(BOARD)/images.py:
# production (images/$(BOARD)/flash.bin, build/$(BOARD)/: `make run`, `make flash`),
# test (images/$(BOARD)/flash-test.bin, build/$(BOARD)-test/: the QEMU tests,
# `make bench`) and dev (flash-dev.bin, build/$(BOARD)-dev/: the QEMU tests of the network
# and task interrupts, whose tasks no longer fit the test image). They differ only in the frozen tasks, manifests,
# vectors and devices. `make build` builds all; IMAGE=production|test|dev selects
# one for the file targets.

BOARD ?= mps2-an385
IMAGE ?= production
VERSION := $(shell cat VERSION)
B := build/$(BOARD)$(if $(filter-out production,$(IMAGE)),-$(IMAGE))
GEN := $(B)/gen
IMG := images/$(BOARD)
FLASH := $(IMG)/flash$(if $(filter-out production,$(IMAGE)),-$(IMAGE)).bin
MPY_TREE := $(shell . tools/deps/micropython.lock && echo $$TREE)
ifdef MICROPYTHON_SRC
USER_MPY_SRC := $(MICROPYTHON_SRC)
endif
MICROPYTHON_SRC ?= $(CURDIR)/build/deps/$(MPY_TREE)
export MICROPYTHON_SRC
PY := build/venv/bin/python
UPY := build/upy/micropython
JOBS ?= $(shell nproc)
CROSS := arm-none-eabi-
MBEDTLS_TREE := $(shell . tools/deps/mbedtls.lock && echo $$TREE)
MBEDTLS_SRC := $(CURDIR)/build/deps/$(MBEDTLS_TREE)
MBEDTLS_CFLAGS := -I$(MBEDTLS_SRC)/include -Iboot '-DMBEDTLS_CONFIG_FILE="qx_mbedtls_config.h"' -DQX_SHA256_ASM
LWIP_TREE := $(shell . tools/deps/lwip.lock && echo $$TREE)
LWIP_SRC := $(CURDIR)/build/deps/$(LWIP_TREE)
EXPAT_TREE := $(shell . tools/deps/expat.lock && echo $$TREE)
EXPAT_SRC := $(CURDIR)/build/deps/$(EXPAT_TREE)/expat
export EXPAT_SRC
OPENSSL_TREE := $(shell . tools/deps/openssl.lock && echo $$TREE)
OPENSSL_SRC := $(CURDIR)/build/deps/$(OPENSSL_TREE)
BOOT_CFLAGS := -mthumb -mcpu=cortex-m3 -mfloat-abi=soft -Os -g -Wall -Wextra -Werror \
	-ffreestanding -ffunction-sections -fdata-sections -std=gnu99 \
	-Ihal/arch/armv7m -Iboot -I$(GEN) -I$(MICROPYTHON_SRC) $(MBEDTLS_CFLAGS)
# mbedtls is compiled with its own warnings policy (it is not our code).
BOOT_MBEDTLS := $(addprefix $(MBEDTLS_SRC)/library/,sha256.c platform_util.c platform.c bignum.c \
	bignum_core.c ecp.c ecp_curves.c ecdsa.c asn1parse.c asn1write.c memory_buffer_alloc.c constant_time.c)
# The kernel's mbedtls: the same sources and HMAC (md.c), with its own config
# (kernel/port/qx_mbedtls_kernel.h: memory from the running VM's heap).
KERNEL_MBEDTLS := $(filter-out %/memory_buffer_alloc.c,$(BOOT_MBEDTLS)) $(MBEDTLS_SRC)/library/md.c
BOOT_SRC := boot/main.c boot/image.c boot/bootstate.c boot/sha256_arm.c drivers/uart/cmsdk_uart.c drivers/flash/mapped_flash.c \
	$(MICROPYTHON_SRC)/shared/libc/string0.c

# The image signing key. A development key is made in build/keys on first
# build (never committed); sign releases with KEY=/path/to/production.pem.
KEY ?= build/keys/dev-ecdsa-p256.pem

.PHONY: all deps build run test test-host test-qemu bench fuzz soak flash clean FORCE
all: build

deps:
	@MICROPYTHON_SRC=$(USER_MPY_SRC) tools/deps/fetch.sh

build: deps $(UPY)
	@$(MAKE) --no-print-directory IMAGE=production $(IMG)/flash.bin $(SHA256_HARNESS)
	@$(MAKE) --no-print-directory IMAGE=test $(IMG)/flash-test.bin
	@$(MAKE) --no-print-directory IMAGE=dev $(IMG)/flash-dev.bin

# Generated: layout constants from board.py; build facts frozen into the kernel.
$(GEN)/layout.ld $(GEN)/layout.h: hal/board/$(BOARD)/board.py tools/layout.py
	@$(PY) -m tools.layout $(BOARD) $(GEN)
$(GEN)/_build.py: FORCE
	@mkdir -p $(GEN)/mpy-lib-stub && touch $(GEN)/mpy-lib-stub/README.md
	@t=$$(date -u +%s); printf 'VERSION = "%s"\nCOMMIT = "%s"\nBUILT = "%s"\nBUILT_MS = %s000\n' "$(VERSION)" \
	  "$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$$(git diff --quiet HEAD 2>/dev/null || echo -dirty)" \
	  "$$(date -u -d @$$t +%Y-%m-%dT%H:%M:%SZ)" $$t > $@.tmp
	@cmp -s $@.tmp $@ 2>/dev/null && rm $@.tmp || mv $@.tmp $@

# mpy-cross (MicroPython's bytecode compiler, for the frozen modules) is built
# from the same tree, into build/ (the fetched tree is never written to).
MPY_CROSS := build/mpy-cross/mpy-cross
$(MPY_CROSS):
	@$(MAKE) --no-print-directory -j$(JOBS) -C $(MICROPYTHON_SRC)/mpy-cross BUILD=$(CURDIR)/build/mpy-cross

# MicroPython's unix port, from the same tree: the host tests run the board's
# plain-Python modules under it as well as under CPython (tests/host/upy.py).
# No FFI, SSL, btree or readline (the Debian tree has no lib/ submodules, and
# the board has none of them either); the fetched tree is never written to.
# The board's own C modules that hold no board mechanism go in as user C
# modules (kernel/port/usermod: `_expat`).
$(UPY): kernel/port/modxml.c kernel/port/expat/expat_config.h | $(MPY_CROSS)
	@$(MAKE) --no-print-directory -j$(JOBS) -C $(MICROPYTHON_SRC)/ports/unix BUILD=$(CURDIR)/build/upy \
	  USER_C_MODULES=$(CURDIR)/kernel/port/usermod \
	  PROG=micropython MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0 MICROPY_PY_FFI=0 MICROPY_USE_READLINE=0 \
	  FROZEN_MANIFEST= MICROPY_MPYCROSS=$(CURDIR)/$(MPY_CROSS) >build/upy.log 2>&1 || \
	  { tail -20 build/upy.log; exit 1; }

# The image's system table and frozen data, from hal/board/$(BOARD)/images.py and
# the task manifests (checked as one system): _manifests, _image, _vectors (the
# test image's vectors for the check tasks, the gateway's default rules RULES)
# and the list of userland files to freeze (userland_frozen.py).
$(GEN)/_manifests.py: FORCE
	@$(PY) -m tools.gather_manifests $(BOARD) $(IMAGE) $(GEN)

$(B)/kernel/firmware.elf $(B)/kernel/firmware-b.elf &: $(GEN)/layout.h $(GEN)/_build.py $(GEN)/_manifests.py \
		$(MPY_CROSS) $(B)/kernel/mbedtls.a FORCE
	@$(MAKE) --no-print-directory -j$(JOBS) -C kernel/port BOARD=$(BOARD) \
	  BUILD=$(CURDIR)/$(B)/kernel GEN=$(CURDIR)/$(GEN) PYTHON=$(CURDIR)/$(PY) \
	  MICROPY_MPYCROSS=$(CURDIR)/$(MPY_CROSS) MBEDTLS_SRC=$(MBEDTLS_SRC) LWIP_SRC=$(LWIP_SRC) EXPAT_SRC=$(EXPAT_SRC) \
	  MBEDTLS_LIB=$(CURDIR)/$(B)/kernel/mbedtls.a

# SHA-256 reads the whole image every boot: its block function is OpenSSL's
# assembly (boot/sha256_arm.c); mbedtls's sha256.c (padding, and the C the
# SHA-256 harness compares with) is built for speed, -O2, with GCC's builtins
# (no -ffreestanding, which implies -fno-builtin) so that its 4-byte memcpy
# loads become single loads; the library needs no hosted libc for that
# (memcpy/memset are MicroPython's shared/libc/string0.c).
# The big-number and curve files (bignum*.c, ecp*.c) are the ECDSA P-256
# verification, run once every boot: -O2, not -Os (production bootloader
# 35.69 M -> 31.59 M instructions, +4.3 KB of text; -O3 31.08 M, +8.2 KB;
# -O2 -funroll-loops 30.87 M, +20 KB).
SHA256_CFLAGS ?= -O2
ECP_CFLAGS ?= -O2
$(B)/boot/mbedtls.a: $(BOOT_MBEDTLS) boot/qx_mbedtls_config.h boot/qx_mbedtls_algorithms.h Makefile
	@mkdir -p $(B)/boot/mbedtls
	@for f in $(BOOT_MBEDTLS); do \
	  case $$f in */sha256.c) opt="$(SHA256_CFLAGS)";; */bignum*.c|*/ecp*.c) opt="$(ECP_CFLAGS) -ffreestanding";; *) opt="-Os -ffreestanding";; esac; \
	  $(CROSS)gcc -mthumb -mcpu=cortex-m3 -mfloat-abi=soft $$opt -ffunction-sections \
	    -fdata-sections $(MBEDTLS_CFLAGS) -c $$f -o $(B)/boot/mbedtls/$$(basename $$f .c).o || exit 1; done
	@rm -f $@ && $(CROSS)ar rcs $@ $(B)/boot/mbedtls/*.o

$(B)/kernel/mbedtls.a: $(KERNEL_MBEDTLS) kernel/port/qx_mbedtls_kernel.h boot/qx_mbedtls_algorithms.h
	@mkdir -p $(B)/kernel/mbedtls
	@for f in $(KERNEL_MBEDTLS); do \
	  $(CROSS)gcc -mthumb -mcpu=cortex-m3 -mfloat-abi=soft -O2 -ffreestanding -ffunction-sections \
	    -fdata-sections -I$(MBEDTLS_SRC)/include -Ikernel/port -Iboot '-DMBEDTLS_CONFIG_FILE="qx_mbedtls_kernel.h"' \
	    -c $$f -o $(B)/kernel/mbedtls/$$(basename $$f .c).o || exit 1; done
	@rm -f $@ && $(CROSS)ar rcs $@ $(B)/kernel/mbedtls/*.o

# SHA-256's block function (boot/sha256_arm.c): OpenSSL's perlasm, generated
# into build/ by perl (flavour linux32: GNU as syntax, the Thumb-2 code under
# __thumb2__) and assembled with boot/openssl/arm_arch.h for ARMv7-M.
$(B)/boot/sha256-armv4.S: $(OPENSSL_SRC)/crypto/sha/asm/sha256-armv4.pl
	@mkdir -p $(dir $@)
	@perl $< linux32 $@
$(B)/boot/sha256-armv4.o: $(B)/boot/sha256-armv4.S boot/openssl/arm_arch.h
	@$(CROSS)gcc -mthumb -mcpu=cortex-m3 -mfloat-abi=soft -Iboot/openssl -c $< -o $@

# The SHA-256 harness (tests/qemu/harness/sha256.c): the bootloader's SHA-256
# against mbedtls's C, linked beside it under other names, on the board
# (tests/qemu/test_sha256.py, and `make bench`'s instructions a byte).
SHA256_HARNESS := build/$(BOARD)/boot/sha256-harness.elf
SHA256_C_RENAME := $(foreach f,sha256 sha256_init sha256_free sha256_clone sha256_starts sha256_update \
	sha256_finish internal_sha256_process,-Dmbedtls_$(f)=qx_c_mbedtls_$(f))
$(B)/boot/sha256-c.o: $(MBEDTLS_SRC)/library/sha256.c boot/qx_mbedtls_config.h boot/qx_mbedtls_algorithms.h Makefile
	@mkdir -p $(dir $@)
	@$(CROSS)gcc -mthumb -mcpu=cortex-m3 -mfloat-abi=soft $(SHA256_CFLAGS) -ffunction-sections -fdata-sections \
	  $(filter-out -DQX_SHA256_ASM,$(MBEDTLS_CFLAGS)) $(SHA256_C_RENAME) -c $< -o $@
$(B)/boot/sha256-harness.elf: tests/qemu/harness/sha256.c boot/sha256_arm.c $(B)/boot/sha256-armv4.o $(B)/boot/sha256-c.o \
		$(B)/boot/mbedtls.a $(GEN)/layout.h hal/board/$(BOARD)/boot.ld
	@$(CROSS)gcc $(BOOT_CFLAGS) -nostdlib -T hal/board/$(BOARD)/boot.ld -L$(GEN) -Wl,--gc-sections -o $@ \
	  tests/qemu/harness/sha256.c boot/sha256_arm.c drivers/uart/cmsdk_uart.c $(MICROPYTHON_SRC)/shared/libc/string0.c \
	  $(B)/boot/sha256-armv4.o $(B)/boot/sha256-c.o $(B)/boot/mbedtls.a -lgcc

$(KEY):
	$(PY) -m tools.qenex image keygen $@

$(GEN)/boot_key.h: $(KEY) FORCE
	@$(PY) -m tools.qenex image pubkey $(KEY) $@

$(B)/boot/boot.elf: $(BOOT_SRC) boot/image.h boot/bootstate.h drivers/flash/mapped_flash.h $(GEN)/layout.h $(GEN)/boot_key.h hal/board/$(BOARD)/boot.ld $(B)/boot/mbedtls.a $(B)/boot/sha256-armv4.o
	@mkdir -p $(dir $@)
	$(CROSS)gcc $(BOOT_CFLAGS) -nostdlib -T hal/board/$(BOARD)/boot.ld -L$(GEN) \
	  -Wl,--gc-sections -Wl,-Map=$(B)/boot/boot.map -o $@ $(BOOT_SRC) $(B)/boot/sha256-armv4.o $(B)/boot/mbedtls.a -lgcc
	@$(CROSS)size $@

%.bin: %.elf
	$(CROSS)objcopy -O binary $< $@

$(B)/kernel/slot-a.img: $(B)/kernel/firmware.bin $(KEY)
	$(PY) -m tools.qenex image sign --board $(BOARD) --key $(KEY) --version $(VERSION) $< $@

# The same kernel signed for slot B: what an upgrade writes there (tests, `make upgrade`).
$(B)/kernel/slot-b.img: $(B)/kernel/firmware-b.bin $(KEY)
	$(PY) -m tools.qenex image sign --board $(BOARD) --key $(KEY) --slot b --version $(VERSION) $< $@

$(FLASH): $(B)/boot/boot.bin $(B)/kernel/slot-a.img $(B)/kernel/slot-b.img
	@mkdir -p $(IMG)
	$(PY) -m tools.qenex image flash --board $(BOARD) --boot $(B)/boot/boot.bin \
	  --slot-a $(B)/kernel/slot-a.img $@

run: build
	$(PY) -m tools.qenex run --board $(BOARD)

test: build
	$(PY) -m pytest -q tests

test-host: build
	$(PY) -m pytest -q tests/host

test-qemu: build
	$(PY) -m pytest -q tests/qemu

bench: build
	$(PY) -m tools.bench --board $(BOARD)

# The parsers' fuzz harnesses (tests/fuzz/), one target after the other, each for
# FUZZ_SECONDS; every distinct crash goes to tests/fuzz/crashes/TARGET/, the inputs
# found interesting stay in build/fuzz/TARGET/ for the next run. Fails if any crashed.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= fix iso20022 mt103 frames link hsm rules ledger
fuzz: deps
	@rc=0; for t in $(FUZZ_TARGETS); do \
	  $(PY) tests/fuzz/run.py $$t --seconds $(FUZZ_SECONDS) --keep-going --out build/fuzz/$$t || rc=1; \
	done; exit $$rc

# `make test` runs the same soak with 1,000 of each (the test's defaults).
SOAK_PAYMENTS ?= 10000
SOAK_ORDERS ?= 10000
# and the network's echo with the issue's figures (100 MiB both ways, 10,000
# connections: about 3 minutes; `make test` runs 1 MiB and 1,000).
NET_ECHO_BYTES ?= 104857600
NET_CONNECTIONS ?= 10000
soak: build
	SOAK_PAYMENTS=$(SOAK_PAYMENTS) SOAK_ORDERS=$(SOAK_ORDERS) $(PY) -m pytest -q -s tests/qemu/test_gateway_soak.py
	NET_ECHO_BYTES=$(NET_ECHO_BYTES) NET_CONNECTIONS=$(NET_CONNECTIONS) $(PY) -m pytest -q -s tests/qemu/test_net_stack.py

flash: build
	@echo "Write $(IMG)/flash.bin at the start of the board's flash (see README, 'Flash layout and flashing a board')."

clean:
	rm -rf build/$(BOARD) build/$(BOARD)-test build/$(BOARD)-dev $(IMG)
