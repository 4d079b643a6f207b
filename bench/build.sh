#!/bin/sh
# Build the load generator into bench/build/ with the host compiler (glibc):
# its own optimised BearSSL copy from vendor/ and the project's xml.c,
# util.c and log.c.  Nothing here goes into the release binary.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
out=$top/bench/build
CC=${HOSTCC:-cc}
mkdir -p "$out"
[ -f vendor/.unpacked ] || make vendor/.unpacked
if [ ! -f "$out/libbearssl.a" ]; then
	make -s -C vendor/bearssl-0.6 lib BUILD="$out/bearssl" CC="$CC" \
	    CFLAGS='-W -Wall -O2 -g -fno-omit-frame-pointer -DBR_USE_GETENTROPY=1' \
	    AR=ar
	cp "$out/bearssl/libbearssl.a" "$out/libbearssl.a"
fi
WARN="-Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
-Wmissing-prototypes -Wno-unused-parameter"
$CC -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -O2 -g -fno-omit-frame-pointer \
    $WARN ${CFLAGS:-} -I. -Ivendor/bearssl-0.6/inc \
    -o "$out/loadgen" bench/loadgen.c xml.c util.c log.c "$out/libbearssl.a"
echo "$out/loadgen"
