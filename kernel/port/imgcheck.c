/* `_imgcheck`: boot/image.c's check of a task bundle against the key built
 * into this firmware (the verdict of _hal.verify_image), spread over bounded
 * steps so that an install never holds the other tasks for long: the kernel
 * runs one step per kernel entry of the installing task (kernel/bundles.py
 * Installer.end), and the tasks of its priority and higher run between them.
 *
 *   start(data) -> Check   header, sizes and TLV areas (a few hundred instructions)
 *   check.step() -> None while work is left, else verify_image's tuple
 *   check.close()          frees the mbedtls state (again: nothing); the verdict stays
 *   check.steps            steps run so far
 *   check.longest          the longest step, in counts of the 25 MHz counter
 *
 * One step hashes at most HASH_STEP bytes, or runs at most QX_ECP_MAX_OPS of
 * mbedtls's "basic operations" of ECDSA P-256 verification (restartable ECC:
 * MBEDTLS_ECP_RESTARTABLE, mbedtls_ecdsa_read_signature_restartable with a
 * restart context); make bench prints the longest step
 * ("install: longest hold of other tasks"). The checks run in
 * qx_image_check's order (image.h), so the verdict is the same.
 *
 * Memory: the restart context and the hash state live in the Check object,
 * which is on the heap of the VM that made it (the kernel's: this module is
 * the kernel VM's alone, main.c kernel_modules), and so does everything
 * mbedtls allocates for it (qx_mbedtls_kernel.h); the object keeps the data
 * it checks alive. The kernel holds it in the install in progress and closes
 * it when the check ends, is refused or the install is dropped (its task
 * ended, an abort); a Check dropped without close() is collected with all
 * it points to.
 *
 * mbedtls's limit on operations per call is its global ecp_max_ops
 * (ecp.c), set once at kernel start to QX_ECP_MAX_OPS (qx_imgcheck_init):
 * kernel RAM a task cannot reach (tests/host/test_vmstate.py). */
#include <string.h>
#include "py/runtime.h"
#include "cm3.h"
#include "layout.h"
#include "image.h"
#include "boot_key.h"
#include "mbedtls/ecdsa.h"
#include "mbedtls/sha256.h"

#define COUNTER QX_REG(QX_FPGAIO_BASE + 0x18u)   /* 25 MHz, for check.longest */
#define HASH_STEP 8192u         /* bytes hashed per step: about 50 instructions a byte */
#define QX_ECP_MAX_OPS 100u     /* mbedtls ECC basic operations per step (ecp.c: a doubling is 8, an addition 11) */

enum { PHASE_HASH, PHASE_SIG, PHASE_DONE };

typedef struct {
    mp_obj_base_t base;
    mp_obj_t data;              /* what is checked, kept alive */
    const uint8_t *s;
    uint32_t len;
    uint32_t hashed;            /* bytes hashed so far */
    uint32_t steps;
    uint32_t longest;           /* counts (40 ns) of the longest step */
    uint8_t phase;
    uint8_t ecc;                /* the ECDSA and restart contexts are initialised */
    qx_img_result_t result;
    qx_img_info_t info;
    qx_img_where_t where;
    uint8_t digest[32];
    mbedtls_sha256_context sha;
    mbedtls_ecdsa_context ecdsa;
    mbedtls_ecdsa_restart_ctx rs;
} check_obj_t;

extern mp_obj_t qx_image_verdict(qx_img_result_t r, const qx_img_info_t *info);
static const qx_img_key_t key = {qx_boot_key_spki, sizeof qx_boot_key_spki};

void qx_imgcheck_init(void) {
    mbedtls_ecp_set_max_ops(QX_ECP_MAX_OPS);
}

static void release(check_obj_t *self) {
    if (self->phase == PHASE_HASH) {
        mbedtls_sha256_free(&self->sha);
    }
    if (self->ecc) {
        mbedtls_ecdsa_restart_free(&self->rs);
        mbedtls_ecdsa_free(&self->ecdsa);
        self->ecc = 0;
    }
}

/* The check is over with verdict r: everything mbedtls holds is freed. */
static void finish(check_obj_t *self, qx_img_result_t r) {
    release(self);
    self->phase = PHASE_DONE;
    self->result = r;
    memset(self->digest, 0, sizeof self->digest);
}

static const mp_obj_type_t check_type;

static mp_obj_t imgcheck_start(mp_obj_t data) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(data, &buf, MP_BUFFER_READ);
    check_obj_t *self = mp_obj_malloc(check_obj_t, &check_type);
    memset((char *)self + sizeof self->base, 0, sizeof *self - sizeof self->base);
    self->data = data;
    self->s = buf.buf;
    self->len = buf.len;
    qx_img_result_t r = qx_image_locate(self->s, self->len, 0, &self->info, &self->where);
    if (r != QX_IMG_OK) {
        self->phase = PHASE_DONE;
        self->result = r;
    } else {
        mbedtls_sha256_init(&self->sha);
        if (mbedtls_sha256_starts(&self->sha, 0) != 0) {
            finish(self, QX_IMG_BAD_HASH);
        }
    }
    return MP_OBJ_FROM_PTR(self);
}
static MP_DEFINE_CONST_FUN_OBJ_1(imgcheck_start_obj, imgcheck_start);

/* After the last bytes are hashed: the digest, the key, and the ECDSA
 * state to verify the signature with (none of it reads the whole image). */
static void hashed(check_obj_t *self) {
    const uint8_t *s = self->s;
    qx_img_result_t r = QX_IMG_BAD_HASH;
    if (mbedtls_sha256_finish(&self->sha, self->digest) == 0) {
        r = qx_image_digest_check(s, &self->where, self->digest, &self->info);
    }
    mbedtls_sha256_free(&self->sha);
    self->phase = PHASE_SIG;
    if (r == QX_IMG_OK) {
        r = qx_image_key_check(s, &self->where, &key);
    }
    if (r == QX_IMG_OK && (!self->where.sig || !qx_image_key_is_p256(&key))) {
        r = QX_IMG_BAD_SIGNATURE;
    }
    if (r != QX_IMG_OK) {
        finish(self, r);
        return;
    }
    mbedtls_ecdsa_init(&self->ecdsa);
    mbedtls_ecdsa_restart_init(&self->rs);
    self->ecc = 1;
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    int e = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1);
    if (e == 0) {
        e = mbedtls_ecp_point_read_binary(&grp, &q, key.spki + QX_P256_SPKI_POINT, key.spki_len - QX_P256_SPKI_POINT);
    }
    if (e == 0) {
        e = mbedtls_ecp_set_public_key(MBEDTLS_ECP_DP_SECP256R1, &self->ecdsa, &q);
    }
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    if (e != 0) {
        finish(self, QX_IMG_BAD_SIGNATURE);
    }
}

static void step(check_obj_t *self);

static mp_obj_t check_step(mp_obj_t self_in) {
    check_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->phase == PHASE_DONE) {
        return qx_image_verdict(self->result, &self->info);
    }
    uint32_t c0 = COUNTER;
    step(self);
    uint32_t took = COUNTER - c0;
    if (took > self->longest) {
        self->longest = took;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(check_step_obj, check_step);

static void step(check_obj_t *self) {
    self->steps++;
    if (self->phase == PHASE_HASH) {
        uint32_t n = self->where.hashed - self->hashed;
        if (n > HASH_STEP) {
            n = HASH_STEP;
        }
        if (mbedtls_sha256_update(&self->sha, self->s + self->hashed, n) != 0) {
            finish(self, QX_IMG_BAD_HASH);
            return;
        }
        self->hashed += n;
        if (self->hashed == self->where.hashed) {
            hashed(self);
        }
        return;
    }
    int r = mbedtls_ecdsa_read_signature_restartable(&self->ecdsa, self->digest, sizeof self->digest,
                                                     self->s + self->where.sig, self->where.sig_len, &self->rs);
    if (r == MBEDTLS_ERR_ECP_IN_PROGRESS) {
        return;
    }
    finish(self, r != 0 ? QX_IMG_BAD_SIGNATURE : qx_image_vectors_check(self->s, 0, &self->where, &self->info));
}

static mp_obj_t check_close(mp_obj_t self_in) {
    check_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->phase != PHASE_DONE) {
        finish(self, QX_IMG_BAD_SIGNATURE);     /* dropped unfinished: never "ok" */
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(check_close_obj, check_close);

static void check_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    check_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (dest[0] != MP_OBJ_NULL) {
        return;
    }
    if (attr == MP_QSTR_steps) {
        dest[0] = mp_obj_new_int_from_uint(self->steps);
    } else if (attr == MP_QSTR_longest) {
        dest[0] = mp_obj_new_int_from_uint(self->longest);
    } else if (attr == MP_QSTR_step) {
        dest[0] = MP_OBJ_FROM_PTR(&check_step_obj);
        dest[1] = self_in;
    } else if (attr == MP_QSTR_close) {
        dest[0] = MP_OBJ_FROM_PTR(&check_close_obj);
        dest[1] = self_in;
    }
}

static MP_DEFINE_CONST_OBJ_TYPE(check_type, MP_QSTR_Check, MP_TYPE_FLAG_NONE, attr, check_attr);

static const mp_rom_map_elem_t imgcheck_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__imgcheck) },
    { MP_ROM_QSTR(MP_QSTR_start), MP_ROM_PTR(&imgcheck_start_obj) },
};
static MP_DEFINE_CONST_DICT(imgcheck_module_globals, imgcheck_module_globals_table);

const mp_obj_module_t qx_imgcheck_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&imgcheck_module_globals,
};
