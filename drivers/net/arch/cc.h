/* lwIP's port header for QENEX OS: types come from the compiler's
 * <stdint.h>, no libc beyond what MicroPython's shared/libc gives the
 * firmware (memcpy, memset, strlen), an assertion stops the net task (the
 * kernel records the fault and restarts it; it never takes the board
 * down), and random numbers (TCP's initial sequence numbers, DHCP's xid)
 * come from the port (qx_net_rand: the board's counter mixed by the net
 * task; the host tests pass their own). */
#ifndef QX_LWIP_ARCH_CC_H
#define QX_LWIP_ARCH_CC_H

#include <stdint.h>
#include <stddef.h>

#define LWIP_NO_STDINT_H            0
#define LWIP_NO_INTTYPES_H          1   /* the formats below are ours */
#define LWIP_NO_LIMITS_H            0
#define LWIP_NO_CTYPE_H             1
#define LWIP_TIMEVAL_PRIVATE        0
#define LWIP_PROVIDE_ERRNO          1   /* no libc errno on the board */

#define X8_F  "02x"
#define U16_F "u"
#define S16_F "d"
#define X16_F "x"
#define U32_F "lu"
#define S32_F "ld"
#define X32_F "lx"
#define SZT_F "u"

#define PACK_STRUCT_FIELD(x)        x
#define PACK_STRUCT_STRUCT          __attribute__((packed))
#define PACK_STRUCT_BEGIN
#define PACK_STRUCT_END

#if defined(__arm__)
#define BYTE_ORDER LITTLE_ENDIAN
#endif

void qx_net_assert(const char *msg, const char *file, int line);
#define LWIP_PLATFORM_DIAG(x)       do { } while (0)
#define LWIP_PLATFORM_ASSERT(x)     qx_net_assert((x), __FILE__, __LINE__)

uint32_t qx_net_rand(void);
#define LWIP_RAND()                 qx_net_rand()

#endif
