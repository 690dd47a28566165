/* `_expat`: Expat's XML parser for any VM, building the document's tree
 * (the gateway's reader, userland/lib/xmlmini.py, is its policy: limits,
 * messages). Expat tokenises and checks well-formedness, UTF-8, character
 * references and namespaces; this file makes each element an Element and
 * hands the ones of a cut's names to Python as they complete.
 *
 *   p = _expat.Parser(cut, salt, limit, max_text, max_kept)
 *   p.feed(data, final)        # data: any buffer; final: the document's last bytes
 *   p.root                     # the root Element once its start tag is read, or None
 *   p.stack                    # the open elements, a list (read only)
 *   p.kept, p.used             # elements in the tree; bytes of Expat's memory
 *   Element: tag (local name), ns ("" or the URI), attrs ({name: value}; an
 *   attribute of a namespace is "{uri}name"), text (its runs of character
 *   data joined, those of whitespace alone left out), children (a list, or
 *   () for a leaf), line (of its start tag), info (None: the reader's to
 *   set); find(path), findall(tag), findtext(path).
 *   cut: None or {local name: fn}: fn(element, open ancestors) is called
 *   when such an element ends, and it then leaves its parent's children;
 *   the elements in the tree are counted (a cut element's leave the count),
 *   at most max_kept.
 *
 * A refusal raises ValueError(line, reason): Expat's (its own message;
 * "not UTF-8" for an invalid token that is a bad UTF-8 sequence), or this
 * file's: a DOCTYPE or processing instruction (never in a payment message;
 * refused so that no entity is ever declared), nesting deeper than
 * MAX_DEPTH, a text longer than max_text, more than max_kept elements,
 * more than `limit` bytes of parser memory. An exception a cut's function
 * raises (or a MemoryError) stops the parser and is raised from feed(); a
 * parser that refused refuses every later feed the same way.
 *
 * Memory: Expat's blocks come from the calling VM's GC heap. Its memory
 * callbacks carry no context, so the parser being fed is the VM's root
 * pointer qx_xml_current (the VM state is swapped with the task); each
 * block is linked into its parser's list, which keeps it alive for the GC
 * (Expat's own pointers may point inside blocks, which the GC does not
 * follow) and bounds what one parser holds. A parser dropped unfinished is
 * garbage with all its blocks. */
#include <string.h>
#include "py/runtime.h"
#include "py/gc.h"
#include "py/objstr.h"
#include "expat.h"

#define MAX_DEPTH 64
#define NS_SEP '\x01'

typedef struct _blk_t {
    struct _blk_t *prev, *next;
    size_t size;
    size_t pad;             /* (16 bytes: Expat's blocks stay 8-byte aligned) */
} blk_t;

typedef struct _xml_el_t {
    mp_obj_base_t base;
    mp_obj_t tag, ns, text;
    mp_obj_t attrs;         /* a dict, or MP_OBJ_NULL: none (read as a shared empty dict) */
    mp_obj_t children;      /* a list, or MP_OBJ_NULL: none (read as ()) */
    mp_obj_t info;
    mp_int_t line;
} xml_el_t;

typedef struct _xml_obj_t {
    mp_obj_base_t base;
    XML_Parser p;
    blk_t blocks;           /* the ring of this parser's blocks */
    size_t used, limit;
    mp_obj_t cut;           /* a dict, or None */
    mp_obj_t root;
    mp_obj_t stack;         /* a list: the open elements */
    mp_obj_t exc;           /* what stopped the parser: an exception, or a refusal */
    const char *refusal;    /* this file's reason, set with refusal_line */
    size_t refusal_line;
    byte *text;             /* character data of the open elements, from offs[0] on */
    size_t len, cap, run, max_text;
    size_t kept, max_kept;
    mp_obj_t ns;            /* the last namespace URI seen (reused: it repeats) */
    size_t depth;
    size_t offs[MAX_DEPTH]; /* where each open element's text begins */
    size_t kept_at[MAX_DEPTH];  /* the count of elements before each open one */
} xml_obj_t;

static const mp_obj_type_t xml_el_type;

MP_REGISTER_ROOT_POINTER(struct _xml_obj_t *qx_xml_current);

/* Expat's memory --------------------------------------------------------- */

static void blk_link(xml_obj_t *o, blk_t *b) {
    b->prev = &o->blocks;
    b->next = o->blocks.next;
    b->next->prev = b;
    o->blocks.next = b;
}

static void blk_unlink(blk_t *b) {
    b->prev->next = b->next;
    b->next->prev = b->prev;
}

static void *xml_malloc(size_t n) {
    xml_obj_t *o = MP_STATE_VM(qx_xml_current);
    if (o == NULL || n > o->limit - o->used || n > o->limit) {
        return NULL;
    }
    blk_t *b = gc_alloc(sizeof(blk_t) + n, 0);
    if (b == NULL) {
        return NULL;
    }
    b->size = n;
    o->used += n;
    blk_link(o, b);
    return b + 1;
}

static void xml_free(void *ptr) {
    if (ptr == NULL) {
        return;
    }
    blk_t *b = (blk_t *)ptr - 1;
    xml_obj_t *o = MP_STATE_VM(qx_xml_current);
    blk_unlink(b);
    if (o != NULL) {
        o->used -= b->size;
    }
    gc_free(b);
}

static void *xml_realloc(void *ptr, size_t n) {
    if (ptr == NULL) {
        return xml_malloc(n);
    }
    xml_obj_t *o = MP_STATE_VM(qx_xml_current);
    blk_t *b = (blk_t *)ptr - 1;
    if (o == NULL || (n > b->size && n - b->size > o->limit - o->used)) {
        return NULL;
    }
    /* Linked while gc_realloc runs (a collection it makes sees the block);
     * if it moved the block, its neighbours are pointed at the new place. */
    blk_t *nb = gc_realloc(b, sizeof(blk_t) + n, true);
    if (nb == NULL) {
        return NULL;
    }
    nb->prev->next = nb;
    nb->next->prev = nb;
    o->used = o->used - nb->size + n;
    nb->size = n;
    return nb + 1;
}

static const XML_Memory_Handling_Suite xml_memory = { xml_malloc, xml_realloc, xml_free };

/* The handlers ----------------------------------------------------------- */

static void refuse(xml_obj_t *o, const char *why) {
    if (o->exc == MP_OBJ_NULL) {
        o->refusal = why;
        o->refusal_line = XML_GetCurrentLineNumber(o->p);
        o->exc = mp_const_none;
    }
    XML_StopParser(o->p, XML_FALSE);
}

/* The run of text since the last tag, dropped if it is whitespace alone. */
static void end_run(xml_obj_t *o) {
    for (size_t i = o->run; i < o->len; i++) {
        byte c = o->text[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            o->run = o->len;
            return;
        }
    }
    o->len = o->run;
}

/* A name or text as a str: Expat has checked its UTF-8, and it is not
 * looked up among the interned strings (on a miss, that search walks every
 * pool made at run time). */
static mp_obj_t new_str(const char *s, size_t n) {
    return n ? mp_obj_new_str_copy(&mp_type_str, (const byte *)s, n) : MP_OBJ_NEW_QSTR(MP_QSTR_);
}

static void on_text(void *ud, const XML_Char *s, int n) {
    xml_obj_t *o = ud;
    if (o->depth == 0 || o->exc != MP_OBJ_NULL) {
        return;             /* (Expat allows only whitespace outside the root) */
    }
    if ((size_t)n > o->max_text - (o->len - o->offs[o->depth - 1])) {
        refuse(o, "a text longer than the reader's limit");
        return;
    }
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n) {
            cap *= 2;
        }
        byte *t = gc_realloc(o->text, cap, true);
        if (t == NULL) {
            refuse(o, "no memory for a text");
            return;
        }
        o->text = t;
        o->cap = cap;
    }
    memcpy(o->text + o->len, s, n);
    o->len += n;
}

static void start(xml_obj_t *o, const XML_Char *name, const XML_Char **atts) {
    xml_el_t *el = mp_obj_malloc(xml_el_t, &xml_el_type);
    const char *sep = strchr(name, NS_SEP);
    if (sep == NULL) {
        el->tag = new_str(name, strlen(name));
        el->ns = MP_OBJ_NEW_QSTR(MP_QSTR_);
    } else {
        size_t n = sep - name;
        GET_STR_DATA_LEN(o->ns, ns, ns_len);
        if (ns_len != n || memcmp(ns, name, n) != 0) {
            o->ns = new_str(name, n);
        }
        el->tag = new_str(sep + 1, strlen(sep + 1));
        el->ns = o->ns;
    }
    el->text = MP_OBJ_NEW_QSTR(MP_QSTR_);
    el->attrs = el->children = MP_OBJ_NULL;
    el->info = mp_const_none;
    el->line = XML_GetCurrentLineNumber(o->p);
    if (atts[0] != NULL) {
        el->attrs = mp_obj_new_dict(0);
        for (; atts[0] != NULL; atts += 2) {
            const char *a = atts[0], *s = strchr(a, NS_SEP);
            mp_obj_t key;
            if (s == NULL) {
                key = new_str(a, strlen(a));
            } else {            /* a prefixed attribute: "{uri}local", as ElementTree names it */
                vstr_t v;
                vstr_init(&v, strlen(a) + 2);
                vstr_add_byte(&v, '{');
                vstr_add_strn(&v, a, s - a);
                vstr_add_byte(&v, '}');
                vstr_add_str(&v, s + 1);
                key = mp_obj_new_str_from_vstr(&v);
            }
            mp_obj_dict_store(el->attrs, key, new_str(atts[1], strlen(atts[1])));
        }
    }
    mp_obj_list_t *stack = MP_OBJ_TO_PTR(o->stack);
    if (stack->len) {
        xml_el_t *parent = MP_OBJ_TO_PTR(stack->items[stack->len - 1]);
        if (parent->children == MP_OBJ_NULL) {
            parent->children = mp_obj_new_list(0, NULL);
        }
        mp_obj_list_append(parent->children, MP_OBJ_FROM_PTR(el));
    } else {
        o->root = MP_OBJ_FROM_PTR(el);
    }
    o->kept_at[o->depth - 1] = o->kept;
    if (++o->kept > o->max_kept) {
        refuse(o, "more elements than the reader keeps");
        return;
    }
    mp_obj_list_append(o->stack, MP_OBJ_FROM_PTR(el));
}

static void end(xml_obj_t *o) {
    end_run(o);
    size_t off = o->offs[--o->depth];
    mp_obj_t text = new_str((const char *)o->text + off, o->len - off);
    o->len = o->run = off;
    mp_obj_list_t *stack = MP_OBJ_TO_PTR(o->stack);
    mp_obj_t elo = stack->items[--stack->len];
    stack->items[stack->len] = MP_OBJ_NULL;
    xml_el_t *el = MP_OBJ_TO_PTR(elo);
    el->text = text;
    if (o->cut != mp_const_none) {
        mp_map_elem_t *fn = mp_map_lookup(mp_obj_dict_get_map(o->cut), el->tag, MP_MAP_LOOKUP);
        if (fn != NULL) {       /* it and all it holds leave the tree */
            o->kept = o->kept_at[o->depth];
            mp_call_function_2(fn->value, elo, o->stack);
            if (stack->len) {
                xml_el_t *parent = MP_OBJ_TO_PTR(stack->items[stack->len - 1]);
                mp_obj_list_t *c = MP_OBJ_TO_PTR(parent->children);
                c->items[--c->len] = MP_OBJ_NULL;
            }
        }
    }
}

/* The element handlers, each of which allocates (and end() may call a cut's
 * function): what they raise stops the parser and is raised from feed(). */
static void on_start(void *ud, const XML_Char *name, const XML_Char **atts) {
    xml_obj_t *o = ud;
    if (o->exc != MP_OBJ_NULL) {
        return;
    }
    if (o->depth >= MAX_DEPTH) {
        refuse(o, "nested deeper than the reader's limit");
        return;
    }
    if (o->depth) {
        end_run(o);
    }
    o->offs[o->depth++] = o->len;
    o->run = o->len;
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        start(o, name, atts);
        nlr_pop();
    } else {
        o->exc = MP_OBJ_FROM_PTR(nlr.ret_val);
        XML_StopParser(o->p, XML_FALSE);
    }
}

static void on_end(void *ud, const XML_Char *name) {
    (void)name;             /* (Expat has matched it to its start tag) */
    xml_obj_t *o = ud;
    if (o->exc != MP_OBJ_NULL) {
        return;
    }
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        end(o);
        nlr_pop();
    } else {
        o->exc = MP_OBJ_FROM_PTR(nlr.ret_val);
        XML_StopParser(o->p, XML_FALSE);
    }
}

/* Whether the bytes s[0:n] begin with a UTF-8 sequence (RFC 3629: no
 * overlong form, surrogate or code point above U+10FFFF): an invalid
 * token at a byte of 0x80 or above is a document not in UTF-8. */
static bool utf8_seq(const byte *s, size_t n) {
    byte c = s[0], lo = 0x80, hi = 0xC0;
    size_t k;
    if (c < 0x80) {
        return true;
    } else if (c >= 0xC2 && c <= 0xDF) {
        k = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0xA0 : 0xC0;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 3;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x90 : 0xC0;
    } else {
        return false;
    }
    if (n <= k || s[1] < lo || s[1] >= hi) {
        return false;
    }
    for (size_t i = 2; i <= k; i++) {
        if (s[i] < 0x80 || s[i] >= 0xC0) {
            return false;
        }
    }
    return true;
}

static const char *error_text(XML_Parser p, enum XML_Error e) {
    if (e == XML_ERROR_NO_MEMORY) {
        return "markup larger than the reader's memory";
    }
    if (e == XML_ERROR_INVALID_TOKEN) {
        int off, size;
        const char *at = XML_GetInputContext(p, &off, &size);
        if (at != NULL && off < size && !utf8_seq((const byte *)at + off, size - off)) {
            return "not UTF-8";
        }
    }
    return XML_ErrorString(e);
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid, int subset) {
    (void)name, (void)sysid, (void)pubid, (void)subset;
    refuse(ud, "DOCTYPE and other declarations are not accepted");
}

static void on_pi(void *ud, const XML_Char *target, const XML_Char *data) {
    (void)target, (void)data;
    refuse(ud, "processing instructions are not accepted");
}

/* The type --------------------------------------------------------------- */

static mp_obj_t xml_raise_refusal(xml_obj_t *o) {
    if (o->refusal == NULL) {
        nlr_raise(o->exc);
    }
    mp_obj_t args[2] = { mp_obj_new_int_from_uint(o->refusal_line), mp_obj_new_str(o->refusal, strlen(o->refusal)) };
    nlr_raise(mp_obj_new_exception_args(&mp_type_ValueError, 2, args));
}

static mp_obj_t xml_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 5, 5, false);
    mp_buffer_info_t salt;
    mp_get_buffer_raise(args[1], &salt, MP_BUFFER_READ);
    if (salt.len != 16) {
        mp_raise_ValueError(MP_ERROR_TEXT("salt: 16 bytes"));
    }
    xml_obj_t *o = mp_obj_malloc(xml_obj_t, type);
    o->blocks.prev = o->blocks.next = &o->blocks;
    if (args[0] != mp_const_none && !mp_obj_is_type(args[0], &mp_type_dict)) {
        mp_raise_TypeError(MP_ERROR_TEXT("cut: a dict or None"));
    }
    o->cut = args[0];
    o->root = mp_const_none;
    o->stack = mp_obj_new_list(0, NULL);
    o->limit = mp_obj_get_int(args[2]);
    o->max_text = mp_obj_get_int(args[3]);
    o->max_kept = mp_obj_get_int(args[4]);
    o->exc = MP_OBJ_NULL;
    o->ns = MP_OBJ_NEW_QSTR(MP_QSTR_);
    struct _xml_obj_t *was = MP_STATE_VM(qx_xml_current);
    MP_STATE_VM(qx_xml_current) = o;
    const char sep[2] = { NS_SEP, 0 };
    o->p = XML_ParserCreate_MM("UTF-8", &xml_memory, sep);
    MP_STATE_VM(qx_xml_current) = was;
    if (o->p == NULL) {
        mp_raise_msg(&mp_type_MemoryError, MP_ERROR_TEXT("no memory for an XML parser"));
    }
    XML_SetHashSalt16Bytes(o->p, salt.buf);
    XML_SetUserData(o->p, o);
    XML_SetElementHandler(o->p, on_start, on_end);
    XML_SetCharacterDataHandler(o->p, on_text);
    XML_SetStartDoctypeDeclHandler(o->p, on_doctype);
    XML_SetProcessingInstructionHandler(o->p, on_pi);
    return MP_OBJ_FROM_PTR(o);
}

static mp_obj_t xml_feed(mp_obj_t self, mp_obj_t data, mp_obj_t final_in) {
    xml_obj_t *o = MP_OBJ_TO_PTR(self);
    if (o->exc != MP_OBJ_NULL) {
        return xml_raise_refusal(o);
    }
    if (o->p == NULL) {
        mp_raise_ValueError(MP_ERROR_TEXT("fed after the document's end"));
    }
    mp_buffer_info_t b;
    mp_get_buffer_raise(data, &b, MP_BUFFER_READ);
    bool final = mp_obj_is_true(final_in);
    struct _xml_obj_t *was = MP_STATE_VM(qx_xml_current);
    MP_STATE_VM(qx_xml_current) = o;
    enum XML_Status st = XML_Parse(o->p, b.buf, b.len, final);
    if (st == XML_STATUS_ERROR && o->exc == MP_OBJ_NULL) {
        o->refusal = error_text(o->p, XML_GetErrorCode(o->p));
        o->refusal_line = XML_GetCurrentLineNumber(o->p);
        o->exc = mp_const_none;
    }
    if (final || o->exc != MP_OBJ_NULL) {
        XML_ParserFree(o->p);   /* its blocks go back to the heap now */
        o->p = NULL;
        o->text = NULL;
        o->cut = mp_const_none;
    }
    MP_STATE_VM(qx_xml_current) = was;
    if (o->exc != MP_OBJ_NULL) {
        return xml_raise_refusal(o);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(xml_feed_obj, xml_feed);

static void xml_attr(mp_obj_t self, qstr attr, mp_obj_t *dest) {
    xml_obj_t *o = MP_OBJ_TO_PTR(self);
    if (dest[0] != MP_OBJ_NULL) {
        return;
    }
    if (attr == MP_QSTR_used) {         /* parser memory held now, in bytes */
        dest[0] = MP_OBJ_NEW_SMALL_INT(o->used);
    } else if (attr == MP_QSTR_kept) {    /* elements in the tree now */
        dest[0] = MP_OBJ_NEW_SMALL_INT(o->kept);
    } else if (attr == MP_QSTR_root) {
        dest[0] = o->root;
    } else if (attr == MP_QSTR_stack) {   /* the open elements (a cut's function is given this list) */
        dest[0] = o->stack;
    } else if (attr == MP_QSTR_feed) {
        dest[0] = MP_OBJ_FROM_PTR(&xml_feed_obj);
        dest[1] = self;
    }
}

static MP_DEFINE_CONST_OBJ_TYPE(xml_type, MP_QSTR_Parser, MP_TYPE_FLAG_NONE,
    make_new, xml_make_new, attr, xml_attr);

/* Element ------------------------------------------------------------------ */

static void el_attr(mp_obj_t self, qstr attr, mp_obj_t *dest) {
    xml_el_t *el = MP_OBJ_TO_PTR(self);
    if (dest[0] != MP_OBJ_NULL) {       /* a store: only info */
        if (attr == MP_QSTR_info && dest[1] != MP_OBJ_NULL) {
            el->info = dest[1];
            dest[0] = MP_OBJ_NULL;
        }
        return;
    }
    switch (attr) {
        case MP_QSTR_tag: dest[0] = el->tag; break;
        case MP_QSTR_ns: dest[0] = el->ns; break;
        case MP_QSTR_text: dest[0] = el->text; break;
        case MP_QSTR_attrs: dest[0] = el->attrs != MP_OBJ_NULL ? el->attrs : MP_OBJ_FROM_PTR(&mp_const_empty_dict_obj); break;
        case MP_QSTR_children: dest[0] = el->children != MP_OBJ_NULL ? el->children : mp_const_empty_tuple; break;
        case MP_QSTR_info: dest[0] = el->info; break;
        case MP_QSTR_line: dest[0] = MP_OBJ_NEW_SMALL_INT(el->line); break;
        default: dest[1] = MP_OBJ_SENTINEL;     /* the methods, in locals_dict */
    }
}

/* The first child of el named s[0:n], or NULL. */
static xml_el_t *el_child(xml_el_t *el, const char *s, size_t n) {
    if (el->children == MP_OBJ_NULL) {
        return NULL;
    }
    mp_obj_list_t *c = MP_OBJ_TO_PTR(el->children);
    for (size_t i = 0; i < c->len; i++) {
        xml_el_t *k = MP_OBJ_TO_PTR(c->items[i]);
        GET_STR_DATA_LEN(k->tag, t, t_len);
        if (t_len == n && memcmp(t, s, n) == 0) {
            return k;
        }
    }
    return NULL;
}

static xml_el_t *el_find_path(mp_obj_t self, mp_obj_t path) {
    xml_el_t *el = MP_OBJ_TO_PTR(self);
    size_t len;
    const char *p = mp_obj_str_get_data(path, &len), *end = p + len;
    for (;;) {
        const char *slash = memchr(p, '/', end - p);
        const char *part_end = slash ? slash : end;
        el = el_child(el, p, part_end - p);
        if (el == NULL || slash == NULL) {
            return el;
        }
        p = slash + 1;
    }
}

/* find(path): the first descendant along "A/B/C", or None. */
static mp_obj_t el_find(mp_obj_t self, mp_obj_t path) {
    xml_el_t *el = el_find_path(self, path);
    return el ? MP_OBJ_FROM_PTR(el) : mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(el_find_obj, el_find);

/* findtext(path): that element's text without the whitespace around it, or None. */
static mp_obj_t el_findtext(mp_obj_t self, mp_obj_t path) {
    xml_el_t *el = el_find_path(self, path);
    if (el == NULL) {
        return mp_const_none;
    }
    GET_STR_DATA_LEN(el->text, t, n);
    size_t a = 0, b = n;
    while (a < b && (t[a] == ' ' || t[a] == '\t' || t[a] == '\n' || t[a] == '\r')) {
        a++;
    }
    while (b > a && (t[b - 1] == ' ' || t[b - 1] == '\t' || t[b - 1] == '\n' || t[b - 1] == '\r')) {
        b--;
    }
    return a == 0 && b == n ? el->text : new_str((const char *)t + a, b - a);
}
static MP_DEFINE_CONST_FUN_OBJ_2(el_findtext_obj, el_findtext);

/* findall(tag): the children of that name, a list. */
static mp_obj_t el_findall(mp_obj_t self, mp_obj_t tag) {
    xml_el_t *el = MP_OBJ_TO_PTR(self);
    mp_obj_t out = mp_obj_new_list(0, NULL);
    if (el->children != MP_OBJ_NULL) {
        size_t n;
        const char *s = mp_obj_str_get_data(tag, &n);
        mp_obj_list_t *c = MP_OBJ_TO_PTR(el->children);
        for (size_t i = 0; i < c->len; i++) {
            xml_el_t *k = MP_OBJ_TO_PTR(c->items[i]);
            GET_STR_DATA_LEN(k->tag, t, t_len);
            if (t_len == n && memcmp(t, s, n) == 0) {
                mp_obj_list_append(out, c->items[i]);
            }
        }
    }
    return out;
}
static MP_DEFINE_CONST_FUN_OBJ_2(el_findall_obj, el_findall);

static const mp_rom_map_elem_t el_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_find), MP_ROM_PTR(&el_find_obj) },
    { MP_ROM_QSTR(MP_QSTR_findtext), MP_ROM_PTR(&el_findtext_obj) },
    { MP_ROM_QSTR(MP_QSTR_findall), MP_ROM_PTR(&el_findall_obj) },
};
static MP_DEFINE_CONST_DICT(el_locals, el_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(xml_el_type, MP_QSTR_Element, MP_TYPE_FLAG_NONE,
    attr, el_attr, locals_dict, &el_locals);

static const mp_rom_map_elem_t expat_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__expat) },
    { MP_ROM_QSTR(MP_QSTR_Parser), MP_ROM_PTR(&xml_type) },
    { MP_ROM_QSTR(MP_QSTR_Element), MP_ROM_PTR(&xml_el_type) },
};
static MP_DEFINE_CONST_DICT(expat_module_globals, expat_module_globals_table);

const mp_obj_module_t qx_expat_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&expat_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR__expat, qx_expat_module);

#ifdef __arm__
/* The board's libc has no malloc: Expat's fallback to it (taken only
 * without a memory suite) refuses. Nor an arc4random_buf: Expat asks for
 * one only for a parser whose salt is not set, and every parser's is. */
void *qx_expat_nomalloc(size_t n) {
    (void)n;
    return NULL;
}

void *qx_expat_norealloc(void *p, size_t n) {
    (void)p, (void)n;
    return NULL;
}

void qx_expat_nofree(void *p) {
    (void)p;
}

void arc4random_buf(void *buf, size_t n) {
    memset(buf, 0, n);
}
#endif
