/* mbedtls for the kernel firmware: what the bootloader has (SHA-256, ECDSA
 * P-256 verification, for task bundles) plus HMAC-SHA256 (the HSM link's
 * frame authentication, computed in the hsm task). Selected with
 * -DMBEDTLS_CONFIG_FILE="qx_mbedtls_kernel.h".
 *
 * The code runs in the kernel's VM and in tasks, so it must not touch a
 * writable global (but ecp_max_ops, below, which only the kernel's code reaches): memory comes from the running VM's own GC heap through
 * macros (no allocator function pointers in RAM), and zeroizing is ours
 * (mbedtls's default keeps a volatile function pointer in .data). */
#include "qx_mbedtls_algorithms.h"       /* boot/: the bootloader's set */
#define MBEDTLS_MD_C
/* An install checks a bundle's signature in bounded steps (imgcheck.c):
 * restartable ECC. Its one global, ecp_max_ops (ecp.c), is kernel-only RAM
 * set once at kernel start; read by every ECDSA verification, which only
 * the kernel's VM runs (tasks have HMAC only). */
#define MBEDTLS_ECP_RESTARTABLE
#define MBEDTLS_PLATFORM_ZEROIZE_ALT

#include <stddef.h>
void *qx_mbedtls_calloc(size_t n, size_t size);
void qx_mbedtls_free(void *p);
#define MBEDTLS_PLATFORM_CALLOC_MACRO qx_mbedtls_calloc
#define MBEDTLS_PLATFORM_FREE_MACRO qx_mbedtls_free
