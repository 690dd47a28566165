/* arm_arch.h for the bootloader's OpenSSL SHA-256 (crypto/sha/asm/
 * sha256-armv4.pl from the source package pinned in tools/deps/openssl.lock),
 * in place of OpenSSL's crypto/arm_arch.h, which is the only file the
 * generated assembly includes. It is read by the assembler alone.
 *
 * The board is a Cortex-M3, ARMv7-M: Thumb-2, no NEON and no ARMv8 crypto
 * extensions, and no OPENSSL_armcap_P (nothing here probes the CPU).
 *   __ARM_ARCH__ 7      the integer code's ARMv7 path: each message word is
 *                       one (unaligned-capable) ldr and a rev, not four ldrb.
 *   __ARM_MAX_ARCH__ 6  the highest architecture the file may dispatch to at
 *                       run time: below 7 configures the NEON and ARMv8
 *                       paths, and the OPENSSL_armcap_P test that would
 *                       choose them, out of the build. (OpenSSL's own header
 *                       refuses a maximum below __ARM_ARCH__, hence this one.)
 */
#ifndef QX_OPENSSL_ARM_ARCH_H
#define QX_OPENSSL_ARM_ARCH_H
#if !defined(__ARM_ARCH_7M__) || !defined(__thumb2__)
#error "boot/openssl/arm_arch.h is for ARMv7-M (Thumb-2) only"
#endif
#define __ARM_ARCH__ 7
#define __ARM_MAX_ARCH__ 6
#endif
