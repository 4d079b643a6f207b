# xmppd - one static binary.
#
# Dependencies (never committed; fetched from Debian's source packages by
# vendor/fetch.sh and checked against vendor/SHA256SUMS):
#   BearSSL 0.6   bearssl_0.6+dfsg.1.orig.tar.xz
#   inih r59      libinih_59.orig.tar.gz
# with one patch of ours to BearSSL: vendor/bearssl-0.6-suite-slots.patch.
# The release binary is built with musl-gcc; the sanitizer builds used by the
# tests use the host compiler and glibc, each with its own copy of the
# libraries (an archive built for glibc never goes into the static binary).

MUSLCC	?= musl-gcc
HOSTCC	?= cc
PREFIX	?= /usr/local
DESTDIR	?=

VERSION	!= cat VERSION 2>/dev/null || echo 0.1.0

BSSL	= vendor/bearssl-0.6
INIH	= vendor/inih-r59
UNPACKED = vendor/.unpacked

OPT	= -Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables -flto=auto
WARN	= -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
	  -Wmissing-prototypes -Wno-unused-parameter
# inih's options change its handler type: every user of ini.h sees the same.
INIFLAGS = -DINI_MAX_LINE=1024 -DINI_HANDLER_LINENO=1 \
	   -DINI_ALLOW_INLINE_COMMENTS=0 -DINI_ALLOW_MULTILINE=0 \
	   -DINI_CALL_HANDLER_ON_NEW_SECTION=1 -DINI_STOP_ON_FIRST_ERROR=1 \
	   -DINI_ALLOW_BOM=1 -DINI_USE_STACK=1
CPPFLAGS = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -DXMPPD_VERSION='"$(VERSION)"' \
	   -I. -Imodules -I$(BSSL)/inc -I$(INIH) $(INIFLAGS)

CORE	= check.c dns.c resolver.c init.c util.c log.c xml.c jid.c store.c sasl.c config.c tls.c loop.c conn.c http.c ws.c socks5.c \
	  stream.c sm.c s2s.c router.c account.c server.c import.c luadata.c
MODS	= $(sort $(wildcard modules/*.c))
LIBSRC	= $(CORE) $(MODS)
UNIT	= $(sort $(wildcard tests/unit/*.c))
HDRS	= $(wildcard *.h modules/*.h tests/unit/*.h)

MUSLDIR	= build/musl
SANDIR	= build/san
MUSLOBJ	= $(LIBSRC:%.c=$(MUSLDIR)/%.o)
SANOBJ	= $(LIBSRC:%.c=$(SANDIR)/%.o)
SANFLAGS = -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined

all: xmppd

# ---- dependencies ----
$(UNPACKED): vendor/SHA256SUMS vendor/fetch.sh vendor/bearssl-0.6-suite-slots.patch
	@command -v xz >/dev/null || { apt-get update && apt-get install -y xz-utils; }
	@command -v patch >/dev/null || { apt-get update && apt-get install -y patch; }
	sh vendor/fetch.sh
	rm -rf $(BSSL) $(INIH)
	cd vendor && tar xf bearssl_0.6+dfsg.1.orig.tar.xz && tar xzf libinih_59.orig.tar.gz
	patch -s -d $(BSSL) -p1 < vendor/bearssl-0.6-suite-slots.patch
	touch $@

musl-tools:
	@command -v $(MUSLCC) >/dev/null 2>&1 || { \
	    echo "installing musl-tools"; \
	    (apt-get update && apt-get install -y musl-tools gcc) >&2; }

build/%/libbearssl.a: $(UNPACKED)
	@mkdir -p $(@D)
	$(MAKE) -s -C $(BSSL) lib BUILD=$(CURDIR)/build/$*/bearssl \
	    CC='$(if $(findstring musl,$*),$(MUSLCC),$(HOSTCC))' \
	    CFLAGS='-W -Wall $(if $(findstring musl,$*),$(OPT),-g -O1 -fPIC) -DBR_USE_GETENTROPY=1' \
	    AR=ar
	cp build/$*/bearssl/libbearssl.a $@

$(MUSLDIR)/libinih.a: $(UNPACKED)
	@mkdir -p $(@D)
	$(MUSLCC) $(OPT) $(INIFLAGS) -c -o $(MUSLDIR)/ini.o $(INIH)/ini.c
	ar rcs $@ $(MUSLDIR)/ini.o

$(SANDIR)/libinih.a: $(UNPACKED)
	@mkdir -p $(@D)
	$(HOSTCC) -g -O1 $(SANFLAGS) $(INIFLAGS) -c -o $(SANDIR)/ini.o $(INIH)/ini.c
	ar rcs $@ $(SANDIR)/ini.o

# ---- the release binary ----
$(MUSLDIR)/%.o: %.c $(HDRS) $(UNPACKED) | musl-tools
	@mkdir -p $(@D)
	$(MUSLCC) $(CPPFLAGS) $(OPT) $(WARN) $(CFLAGS) -c -o $@ $<

# -z noseparate-code: no page of padding around the code (8 KB of a static
# binary that maps nothing else); the code stays read-only and executable.
# -flto-partition=one: the whole program optimised as one unit, 4 KB less
# than partitions compiled apart (the link takes a few seconds longer).
xmppd: $(MUSLDIR)/xmppd.o $(MUSLOBJ) $(MUSLDIR)/libbearssl.a $(MUSLDIR)/libinih.a
	$(MUSLCC) -Os -flto=auto -flto-partition=one -static -Wl,--gc-sections \
	    -Wl,-z,noseparate-code -s $(LDFLAGS) -o $@ $^

# ---- sanitizer builds for the tests (host libc) ----
$(SANDIR)/%.o: %.c $(HDRS) $(UNPACKED)
	@mkdir -p $(@D)
	$(HOSTCC) $(CPPFLAGS) $(SANFLAGS) $(WARN) -DXMPPD_TEST -c -o $@ $<

$(SANDIR)/xmppd: $(SANDIR)/xmppd.o $(SANOBJ) $(SANDIR)/libbearssl.a $(SANDIR)/libinih.a
	$(HOSTCC) $(SANFLAGS) -o $@ $^

$(SANDIR)/unit: $(UNIT:%.c=$(SANDIR)/%.o) $(SANOBJ) $(SANDIR)/libbearssl.a $(SANDIR)/libinih.a
	$(HOSTCC) $(SANFLAGS) -o $@ $^

unit: $(SANDIR)/unit
	$(SANDIR)/unit all

san: $(SANDIR)/xmppd $(SANDIR)/unit

test: xmppd san
	./test.sh

# ---- running it locally ----
run: xmppd
	sh tests/make-run.sh

install: xmppd
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/xmppd
	install -m 0755 xmppd $(DESTDIR)$(PREFIX)/bin/xmppd
	install -m 0644 sample.ini $(DESTDIR)$(PREFIX)/share/xmppd/sample.ini

clean:
	rm -rf build xmppd

distclean: clean
	rm -rf $(BSSL) $(INIH) $(UNPACKED) vendor/*.tar.*

.PHONY: all musl-tools unit san test run install clean distclean

# ---- the load generator (host compiler, its own -O2 BearSSL): bench/README.md ----
.PHONY: bench
bench: $(UNPACKED)
	sh bench/build.sh
