# cerberus: hand-written, non-recursive Makefile.
# `make` configures the tree by itself on a fresh clone (autoreconf +
# ./configure), so the README's quick start is just `make run` and
# `make check`.  SANITIZE=1 builds with ASan+UBSan into build-san/.

ifeq ($(SANITIZE),1)
BUILD ?= build-san
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
OPT ?= -O1
else
BUILD ?= build
SAN_FLAGS =
OPT ?= -O2
endif

# Defaults until config.mk exists (it is remade first, then make restarts).
prefix ?= /usr/local
-include config.mk

WARN = -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
       -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifeq ($(CI),true)
WARN += -Werror
endif

VERSION := $(shell awk -F'[][]' '/^AC_INIT/{print $$4}' configure.ac)
DEFS = -DCERB_VERSION='"$(VERSION)"' \
       -DCERB_SYSCONFDIR='"$(sysconfdir)/cerberus"' \
       -DCERB_LOCALSTATEDIR='"$(localstatedir)"'
CPPFLAGS_ALL = -std=c11 -D_GNU_SOURCE -I. -Ilib $(DEFS) $(CONF_CFLAGS)
CFLAGS ?= -g $(OPT)
ALL_CFLAGS = $(CPPFLAGS_ALL) $(CFLAGS) $(WARN) $(SAN_FLAGS) -MMD -MP
LDLIBS_ALL = $(CONF_LIBS) -lcrypt
LDFLAGS_ALL = $(LDFLAGS) $(SAN_FLAGS)

LIB_SRC    := $(sort $(wildcard lib/*.c))
MASTER_SRC := $(sort $(wildcard master/*.c))
WORKER_SRC := $(sort $(wildcard worker/*.c))
UNIT_SRC   := $(sort $(wildcard t/unit/*.c))
FUZZ_SRC   := $(sort $(wildcard t/fuzz/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
BIN_OBJ  := $(MASTER_SRC:%.c=$(BUILD)/%.o) $(WORKER_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:t/unit/%.c=$(BUILD)/t/unit/%)
LIBCERB  := $(BUILD)/libcerberus.a
CERBERUS := $(BUILD)/cerberus
ORIGIN   := $(BUILD)/t/origin

.PHONY: all check run install uninstall clean distclean fuzz bench tests
.DEFAULT_GOAL := all

all: $(CERBERUS) $(ORIGIN)

config.mk: configure.ac config.mk.in
	@test -x configure -a configure -nt configure.ac || autoreconf -fi
	./configure --prefix=$(prefix) $(CONFIGURE_FLAGS)

config.h: config.mk

$(BUILD)/%.o: %.c config.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCERB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(CERBERUS): $(BIN_OBJ) $(LIBCERB)
	$(CC) $(LDFLAGS_ALL) -o $@ $(BIN_OBJ) $(LIBCERB) $(LDLIBS_ALL)

$(ORIGIN): t/origin.c config.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS_ALL) -lcrypto

$(BUILD)/t/unit/%: t/unit/%.c t/unit/tap.h $(LIBCERB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -It/unit -o $@ $< $(LIBCERB) $(LDFLAGS_ALL) $(LDLIBS_ALL)

tests: all $(UNIT_BIN)

# Sanitizer reports of daemonized children have no terminal: send them
# to files and fail the run if any appear.
SANLOG = $(CURDIR)/$(BUILD)/sanitizer
TEST_ENV = CERBERUS=$(CURDIR)/$(CERBERUS) ORIGIN=$(CURDIR)/$(ORIGIN) \
           CERB_SRCDIR=$(CURDIR) CERB_BUILD=$(CURDIR)/$(BUILD) \
           ASAN_OPTIONS=log_path=$(SANLOG)/asan:detect_leaks=1 \
           UBSAN_OPTIONS=log_path=$(SANLOG)/ubsan:print_stacktrace=1
PROVE ?= prove
PROVE_FLAGS ?= -j2
T ?= $(UNIT_BIN) $(sort $(wildcard t/*.t))

check: tests
	@rm -rf $(SANLOG); mkdir -p $(SANLOG)
	$(TEST_ENV) $(PROVE) $(PROVE_FLAGS) $(T)
	@if [ -n "$$(ls -A $(SANLOG))" ]; then \
	    echo "sanitizer reports:"; cat $(SANLOG)/*; exit 1; fi

# The demo: two origins and cerberus in the foreground; Ctrl-C stops all.
run: all
	@CERBERUS=$(CERBERUS) ORIGIN=$(ORIGIN) BUILD=$(BUILD) sh etc/run-demo.sh

fuzz:
	$(MAKE) -f t/fuzz/fuzz.mk BUILD=build-fuzz

bench: all
	sh bench/run.sh

DESTDIR ?=
unitdir ?= $(prefix)/lib/systemd/system
install: $(CERBERUS)
	install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(mandir)/man8 \
	    $(DESTDIR)$(mandir)/man5 $(DESTDIR)$(sysconfdir)/cerberus \
	    $(DESTDIR)$(unitdir)
	install -m 0755 $(CERBERUS) $(DESTDIR)$(sbindir)/cerberus
	install -m 0644 man/cerberus.8 $(DESTDIR)$(mandir)/man8/cerberus.8
	install -m 0644 man/cerberus.conf.5 $(DESTDIR)$(mandir)/man5/cerberus.conf.5
	@if [ -e $(DESTDIR)$(sysconfdir)/cerberus/cerberus.conf ]; then \
	    echo "keeping existing $(DESTDIR)$(sysconfdir)/cerberus/cerberus.conf"; \
	else \
	    install -m 0644 etc/cerberus.conf $(DESTDIR)$(sysconfdir)/cerberus/cerberus.conf; \
	fi
	sed -e 's|@sbindir@|$(sbindir)|g' -e 's|@sysconfdir@|$(sysconfdir)|g' \
	    etc/cerberus.service > $(DESTDIR)$(unitdir)/cerberus.service
	chmod 0644 $(DESTDIR)$(unitdir)/cerberus.service

uninstall:
	rm -f $(DESTDIR)$(sbindir)/cerberus $(DESTDIR)$(mandir)/man8/cerberus.8 \
	    $(DESTDIR)$(mandir)/man5/cerberus.conf.5 $(DESTDIR)$(unitdir)/cerberus.service
	@conf=$(DESTDIR)$(sysconfdir)/cerberus/cerberus.conf; \
	if [ -e $$conf ] && cmp -s $$conf etc/cerberus.conf; then \
	    rm -f $$conf; rmdir $(DESTDIR)$(sysconfdir)/cerberus 2>/dev/null || true; \
	elif [ -e $$conf ]; then echo "keeping modified $$conf"; fi

clean:
	rm -rf build build-san build-fuzz

distclean: clean
	rm -rf config.mk config.h config.status config.log configure \
	    config.h.in aclocal.m4 autom4te.cache

-include $(LIB_OBJ:.o=.d) $(BIN_OBJ:.o=.d)
