/* mbedtls, as little as the bootloader needs: SHA-256 and ECDSA P-256
 * signature verification, on a static heap (no libc allocator). Selected
 * with -DMBEDTLS_CONFIG_FILE="qx_mbedtls_config.h" for the bootloader and for
 * the host build of its checker (tests/host). */
#define MBEDTLS_SHA256_C
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C       /* required by ECDSA_C; signing code is dropped by --gc-sections */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
#define MBEDTLS_HAVE_ASM
