/* The algorithms both mbedtls builds carry (the bootloader's,
 * qx_mbedtls_config.h, and the kernel's, kernel/port/qx_mbedtls_kernel.h):
 * SHA-256 and ECDSA P-256 signature verification. Each config adds its own
 * memory policy. */
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
#define MBEDTLS_HAVE_ASM
