/* mbedtls, as little as the bootloader needs: SHA-256 and ECDSA P-256
 * signature verification, on a static heap (no libc allocator). Selected
 * with -DMBEDTLS_CONFIG_FILE="qx_mbedtls_config.h" for the bootloader and for
 * the host build of its checker (tests/host). */
#include "qx_mbedtls_algorithms.h"
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C

/* No libc allocator: every big number lives in a static arena handed to
 * mbedtls's buffer allocator for the duration of one check (boot/image.c). */
#include <stddef.h>
void *qx_no_calloc(size_t n, size_t size);
void qx_no_free(void *p);
#define MBEDTLS_PLATFORM_STD_CALLOC qx_no_calloc
#define MBEDTLS_PLATFORM_STD_FREE qx_no_free
/* The buffer allocator stops on heap corruption: the checker's own stop. */
void qx_crypto_abort(int status);
#define MBEDTLS_PLATFORM_EXIT_MACRO qx_crypto_abort

/* On the board, SHA-256's block function is OpenSSL's ARMv7 assembly
 * (boot/sha256_arm.c). The Makefile defines QX_SHA256_ASM for the
 * bootloader's build only: the host build of the checker (tests/host) keeps
 * mbedtls's C, which the assembly is checked against. */
#if defined(QX_SHA256_ASM)
#define MBEDTLS_SHA256_PROCESS_ALT
#endif
