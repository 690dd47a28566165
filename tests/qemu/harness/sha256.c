/* SHA-256 on the board: the bootloader's (mbedtls with OpenSSL's ARMv7
 * assembly block function, boot/sha256_arm.c) against mbedtls's own C,
 * linked into the same program under other names (qx_c_mbedtls_*, the
 * Makefile's SHA256_C_RENAME). Booted by tests/qemu/test_sha256.py and
 * tools/bench.py with `qemu-system-arm -kernel` (it sits where the
 * bootloader does and uses its link script); prints one line a result:
 *   vector N DIGEST          known vectors, by the assembly (the test
 *                            compares them with hashlib)
 *   sweep MISMATCHES CASES   every length 0..300 at offsets 0..3, each as one
 *                            update and as updates of 1..64 bytes: assembly
 *                            against C
 *   big ASM_DIGEST C_DIGEST  BIG pseudo-random bytes (xorshift32 from seed 1,
 *                            little-endian words; the test recomputes them)
 *   perbyte ASM_X100 C_X100  guest instructions a byte x 100 for BIG bytes
 *                            (25 MHz counter: 40 instructions a count under
 *                            -icount shift=0)
 *   done */
#include <stdint.h>
#include <string.h>
#include "layout.h"
#include "mbedtls/sha256.h"
#include "../../../drivers/uart/cmsdk_uart.h"

int qx_c_mbedtls_sha256(const unsigned char *in, size_t len, unsigned char out[32], int is224);
void qx_c_mbedtls_sha256_init(mbedtls_sha256_context *ctx);
int qx_c_mbedtls_sha256_starts(mbedtls_sha256_context *ctx, int is224);
int qx_c_mbedtls_sha256_update(mbedtls_sha256_context *ctx, const unsigned char *in, size_t len);
int qx_c_mbedtls_sha256_finish(mbedtls_sha256_context *ctx, unsigned char out[32]);

#define BIG 65536u
#define COUNTER (*(volatile uint32_t *)(QX_FPGAIO_BASE + 0x18u))
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

static void put_hex(const uint8_t *p, unsigned n) {
    static const char digits[] = "0123456789abcdef";
    char buf[2];
    for (unsigned i = 0; i < n; i++) {
        buf[0] = digits[p[i] >> 4];
        buf[1] = digits[p[i] & 15];
        qx_uart_write(buf, 2);
    }
}

static int digest_in_steps(int c, const uint8_t *p, size_t len, size_t step, uint8_t out[32]) {
    mbedtls_sha256_context ctx;
    (c ? qx_c_mbedtls_sha256_init : mbedtls_sha256_init)(&ctx);
    int r = (c ? qx_c_mbedtls_sha256_starts : mbedtls_sha256_starts)(&ctx, 0);
    for (size_t off = 0; off < len && r == 0; off += step) {
        size_t n = len - off < step ? len - off : step;
        r = (c ? qx_c_mbedtls_sha256_update : mbedtls_sha256_update)(&ctx, p + off, n);
    }
    return r ? r : (c ? qx_c_mbedtls_sha256_finish : mbedtls_sha256_finish)(&ctx, out);
}

static void run(void) {
    static const char *const vectors[] = {
        "", "abc",
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
    };
    uint8_t d[32], e[32];
    for (unsigned i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        mbedtls_sha256((const uint8_t *)vectors[i], strlen(vectors[i]), d, 0);
        qx_uart_puts("vector ");
        qx_uart_put_dec(i);
        qx_uart_puts(" ");
        put_hex(d, 32);
        qx_uart_puts("\n");
    }
    /* The pseudo-random bytes, in RAM (outside the link script's region). */
    uint8_t *big = (uint8_t *)QX_RAM_BASE;
    uint32_t x = 1;
    for (unsigned i = 0; i < BIG; i += 4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        memcpy(big + i, &x, 4);
    }
    /* One million 'a' (FIPS 180-2's third vector), in updates of 1000 bytes. */
    memset(big + BIG, 'a', 1000);
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_starts(&ctx, 0);
    for (int i = 0; i < 1000; i++) {
        mbedtls_sha256_update(&ctx, big + BIG, 1000);
    }
    mbedtls_sha256_finish(&ctx, d);
    qx_uart_puts("vector a*1000000 ");
    put_hex(d, 32);
    qx_uart_puts("\n");

    uint32_t bad = 0, cases = 0;
    static const uint16_t steps[] = {1, 3, 63, 64, 65, 1000};
    for (size_t len = 0; len <= 300; len++) {
        for (unsigned off = 0; off < 4; off++) {
            for (unsigned s = 0; s < sizeof steps / sizeof steps[0]; s++) {
                digest_in_steps(0, big + off, len, steps[s], d);
                digest_in_steps(1, big + off, len, steps[s], e);
                bad += memcmp(d, e, 32) != 0;
                cases++;
            }
        }
    }
    qx_uart_puts("sweep ");
    qx_uart_put_dec(bad);
    qx_uart_puts(" ");
    qx_uart_put_dec(cases);
    qx_uart_puts("\n");

    uint32_t t0 = COUNTER;
    mbedtls_sha256(big, BIG, d, 0);
    uint32_t t1 = COUNTER;
    qx_c_mbedtls_sha256(big, BIG, e, 0);
    uint32_t t2 = COUNTER;
    qx_uart_puts("big ");
    put_hex(d, 32);
    qx_uart_puts(" ");
    put_hex(e, 32);
    qx_uart_puts("\nperbyte ");
    qx_uart_put_dec((t1 - t0) * 40u * 100u / BIG);
    qx_uart_puts(" ");
    qx_uart_put_dec((t2 - t1) * 40u * 100u / BIG);
    qx_uart_puts("\ndone\n");
}

void __attribute__((noreturn)) harness_reset(void) {
    for (uint32_t *s = &_sidata, *p = &_sdata; p < &_edata;) {
        *p++ = *s++;
    }
    for (uint32_t *p = &_sbss; p < &_ebss;) {
        *p++ = 0;
    }
    qx_uart_init(QX_UART0_BASE, -1, QX_SYSCLK_HZ, 115200);
    run();
    for (;;) {
    }
}

static void harness_fault(void) {
    qx_uart_puts("fault\n");
    for (;;) {
    }
}

/* boot.ld's entry point is boot_reset: the harness names its own the same. */
void __attribute__((noreturn)) boot_reset(void) __attribute__((alias("harness_reset")));

/* mbedtls's platform hooks the bootloader's config names (no allocator). */
void *qx_no_calloc(size_t n, size_t size) {
    (void)n;
    (void)size;
    return NULL;
}
void qx_no_free(void *p) {
    (void)p;
}
void qx_crypto_abort(int status) {
    (void)status;
    harness_fault();
}

__attribute__((section(".isr_vector"), used))
const uint32_t harness_vectors[16] = {
    [0] = (uint32_t)&_estack,
    [1] = (uint32_t)harness_reset,
    [2 ... 15] = (uint32_t)harness_fault,
};
