# `_expat` (kernel/port/modxml.c) in MicroPython's unix port, for the host
# tests: the same module and Expat tree (EXPAT_SRC, from the top Makefile)
# as the board's, Expat configured by kernel/port/expat/expat_config.h.
QX_PORT := $(USERMOD_DIR)/../..
SRC_USERMOD_C += $(QX_PORT)/modxml.c
SRC_USERMOD_LIB_C += $(addprefix $(EXPAT_SRC)/lib/,xmlparse.c xmlrole.c xmltok.c random_getrandom.c)
CFLAGS_USERMOD += -I$(QX_PORT)/expat -I$(EXPAT_SRC)/lib
