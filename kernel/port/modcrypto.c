/* `_crypto`: HMAC-SHA256 from mbedtls, for any VM (kernel or task): the HSM
 * link authenticates its frames with it. mbedtls's memory comes from the
 * calling VM's GC heap (qx_mbedtls_kernel.h), so a task needs no grant. */
#include <string.h>
#include "py/runtime.h"
#include "py/gc.h"
#include "mbedtls/md.h"
#include "mbedtls/platform_util.h"

void *qx_mbedtls_calloc(size_t n, size_t size) {
    if (size && n > (size_t)-1 / size) {
        return NULL;
    }
    void *p = gc_alloc(n * size, 0);
    if (p) {
        memset(p, 0, n * size);
    }
    return p;
}

void qx_mbedtls_free(void *p) {
    if (p) {
        gc_free(p);
    }
}

void mbedtls_platform_zeroize(void *buf, size_t len) {
    volatile unsigned char *p = buf;
    while (len--) {
        *p++ = 0;
    }
}

/* hmac_sha256(key, data) -> 32 bytes */
static mp_obj_t crypto_hmac_sha256(mp_obj_t key, mp_obj_t data) {
    mp_buffer_info_t k, d;
    mp_get_buffer_raise(key, &k, MP_BUFFER_READ);
    mp_get_buffer_raise(data, &d, MP_BUFFER_READ);
    unsigned char out[32];
    if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), k.buf, k.len, d.buf, d.len, out) != 0) {
        mp_raise_msg(&mp_type_MemoryError, MP_ERROR_TEXT("hmac_sha256 failed"));
    }
    return mp_obj_new_bytes(out, sizeof out);
}
static MP_DEFINE_CONST_FUN_OBJ_2(crypto_hmac_sha256_obj, crypto_hmac_sha256);

static const mp_rom_map_elem_t crypto_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__crypto) },
    { MP_ROM_QSTR(MP_QSTR_hmac_sha256), MP_ROM_PTR(&crypto_hmac_sha256_obj) },
};
static MP_DEFINE_CONST_DICT(crypto_module_globals, crypto_module_globals_table);

const mp_obj_module_t qx_crypto_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&crypto_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR__crypto, qx_crypto_module);
