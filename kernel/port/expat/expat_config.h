/* Expat's build configuration (its expat_config.h, which its own build
 * generates), for the board and for MicroPython's unix port on the host.
 * No DTD and no general entities (a DOCTYPE is refused anyway:
 * kernel/port/modxml.c), namespaces on. The hash salt is always set by modxml.c from the caller's 16
 * bytes; the source below is what Expat's build insists on naming. */
#ifndef EXPAT_CONFIG_H
#define EXPAT_CONFIG_H 1
#define BYTEORDER 1234
#define HAVE_STDINT_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRING_H 1
#define XML_NS 1
#define XML_GE 0
#define XML_CONTEXT_BYTES 16       /* > 0: Expat parses in its own buffer, which modxml.c
                                        reads at a refusal (XML_GetInputContext) */
#ifdef __arm__
/* The board: no libc beyond MicroPython's string functions. Expat's
 * debugging reads the environment and prints to stderr; neither exists. */
#include <stdio.h>
#include <stdlib.h>
#undef stderr
#define stderr ((FILE *)0)
#define fprintf(...) ((void)0)
#define getenv(name) ((char *)0)
/* The fallback to malloc (only without a memory suite, which modxml.c
 * always gives) links to these, which refuse. */
void *qx_expat_nomalloc(size_t n);
void *qx_expat_norealloc(void *p, size_t n);
void qx_expat_nofree(void *p);
#define malloc qx_expat_nomalloc
#define realloc qx_expat_norealloc
#define free qx_expat_nofree
#define HAVE_ARC4RANDOM_BUF 1
void arc4random_buf(void *buf, size_t n);
#else
#define HAVE_GETRANDOM 1
#endif
#endif
