/* The SHA-256 block function of mbedtls on the board: OpenSSL's CRYPTOGAMS
 * sha256_block_data_order (crypto/sha/asm/sha256-armv4.pl from the Debian
 * source package pinned in tools/deps/openssl.lock, turned into Thumb-2
 * assembly by perl at build time, configured for ARMv7-M by
 * boot/openssl/arm_arch.h). mbedtls stays the API: padding, lengths and the
 * digest are its sha256.c; only the compression of one 64-byte block is
 * replaced (MBEDTLS_SHA256_PROCESS_ALT, set by boot/qx_mbedtls_config.h when
 * the Makefile defines QX_SHA256_ASM: the bootloader's build, never the host
 * build of the checker, which keeps mbedtls's C). About 30 instructions a
 * byte against 46 for mbedtls's C at -O2 (`make bench`). */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#include <stddef.h>
#include <stdint.h>
#include "mbedtls/sha256.h"

#if !defined(MBEDTLS_SHA256_PROCESS_ALT)
#error "boot/sha256_arm.c replaces mbedtls's block function: build it with QX_SHA256_ASM"
#endif

/* OpenSSL's: state is the eight working words, in is `blocks` 64-byte blocks. */
void sha256_block_data_order(uint32_t state[8], const void *in, size_t blocks);

int mbedtls_internal_sha256_process(mbedtls_sha256_context *ctx, const unsigned char data[64]) {
    sha256_block_data_order(ctx->state, data, 1);
    return 0;
}
