#!/bin/bash
# Build and run every libFuzzer target for a bounded time.
#
#   tests/fuzz.sh [--quick | --time SECONDS] [--build-only] [TARGET...]
#
# Targets: every tests/fuzz/fuzz_TARGET.c (xml, jid, sasl, config, c2s,
# and whatever else is there); default all of them.  Each runs SECONDS
# (default 60; --quick: 15) on its seed corpus tests/fuzz/corpus/TARGET
# (read only) plus a working corpus in
# tests/fuzz/work/corpus/TARGET that grows from run to run.  Everything
# built or found goes to tests/fuzz/work/ (git-ignored): objects, binaries,
# logs/TARGET.log, crashes/TARGET-crash-*.
#
# Prints one line per target, "fuzz TARGET: ok (N runs, cov N, N s)" or
# "fuzz TARGET: FAILED ...", and exits 1 if any target crashed, timed out,
# leaked or did not build.  A crash input belongs in the seed corpus as a
# regression seed once the bug is fixed.
#
# Needs clang (libFuzzer); as root with apt-get it is installed when
# missing.  The library is built with the same flags as the sanitizer build
# plus -fsanitize=fuzzer-no-link; BearSSL is the host archive the sanitizer
# build uses (build/san/libbearssl.a, made if missing).

set -u
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 2

secs=60
build_only=0
targets=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) secs=15 ;;
	--time) shift; secs=${1:?--time needs seconds} ;;
	--build-only) build_only=1 ;;
	-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
	    exit 0 ;;
	-*) echo "usage: $0 [--quick | --time SECONDS] [--build-only] [TARGET...]" >&2
	    exit 2 ;;
	*) targets="$targets $1" ;;
	esac
	shift
done
if [ -z "$targets" ]; then
	for f in tests/fuzz/fuzz_*.c; do
		t=${f#tests/fuzz/fuzz_}
		targets="$targets ${t%.c}"
	done
fi

work=tests/fuzz/work
mkdir -p "$work/obj/modules" "$work/logs" "$work/crashes" "$work/corpus" "$work/tmp"

# ---- tools ----
CC=${FUZZ_CC:-}
if [ -z "$CC" ]; then
	for c in clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14; do
		if command -v "$c" >/dev/null 2>&1; then CC=$c; break; fi
	done
fi
if [ -z "$CC" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing clang"
	{ timeout 600 apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    timeout 900 apt-get install -y -q --no-install-recommends clang; } \
	    >"$work/logs/apt.log" 2>&1
	command -v clang >/dev/null 2>&1 && CC=clang
fi
if [ -z "$CC" ]; then
	echo "fuzz: FAILED: no clang (install Debian's clang)"
	exit 1
fi
nomain="$($CC -print-resource-dir)/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a"

if [ ! -f vendor/.unpacked ]; then
	timeout 900 make vendor/.unpacked >"$work/logs/make.log" 2>&1 ||
	    { echo "fuzz: FAILED: make vendor/.unpacked (see $work/logs/make.log)"; exit 1; }
fi
if [ ! -f build/san/libbearssl.a ]; then
	timeout 900 make build/san/libbearssl.a >>"$work/logs/make.log" 2>&1 ||
	    { echo "fuzz: FAILED: make build/san/libbearssl.a"; exit 1; }
fi

# The library sources are the Makefile's: ask it (make expands $(LIBSRC)).
# shellcheck disable=SC2016
libsrc=$(make -s --no-print-directory --eval='fuzz-print-libsrc: ; @echo $(LIBSRC)' \
    fuzz-print-libsrc 2>/dev/null)
[ -n "$libsrc" ] || { echo "fuzz: FAILED: cannot read LIBSRC from the Makefile"; exit 1; }

INIFLAGS="-DINI_MAX_LINE=1024 -DINI_HANDLER_LINENO=1 -DINI_ALLOW_INLINE_COMMENTS=0 \
-DINI_ALLOW_MULTILINE=0 -DINI_CALL_HANDLER_ON_NEW_SECTION=1 -DINI_STOP_ON_FIRST_ERROR=1 \
-DINI_ALLOW_BOM=1 -DINI_USE_STACK=1"
# The version string keeps its quotes through word splitting on purpose.
# shellcheck disable=SC2089
CPPFLAGS="-std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -DXMPPD_VERSION=\"fuzz\" -DXMPPD_TEST \
-I. -Imodules -Ivendor/bearssl-0.6/inc -Ivendor/inih-r59 $INIFLAGS"
SAN="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
-fno-sanitize-recover=undefined"
WARN="-Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
-Wmissing-prototypes -Wno-unused-parameter"

# ---- the library, rebuilt only where sources or headers changed ----
# shellcheck disable=SC2012
newest_h=$(ls -t ./*.h modules/*.h vendor/inih-r59/ini.h 2>/dev/null | head -n 1)
stale=
for src in $libsrc vendor/inih-r59/ini.c; do
	o=$work/obj/$(echo "$src" | sed 's|^vendor/inih-r59/|inih/|; s|\.c$|.o|')
	if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ "$newest_h" -nt "$o" ]; then
		stale="$stale $src"
	fi
done
if [ -n "$stale" ]; then
	echo "fuzz: building the library ($(echo "$stale" | wc -w) file(s))"
	mkdir -p "$work/obj/inih"
	# shellcheck disable=SC2086,SC2090,SC2016
	if ! printf '%s\n' $stale | xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} sh -c '
	    src=$1; shift
	    o=$(echo "$src" | sed "s|^vendor/inih-r59/|inih/|; s|\.c$|.o|")
	    exec "$@" -c -o "'"$work"'/obj/$o" "$src"' sh {} \
	    $CC $CPPFLAGS $SAN -fsanitize=fuzzer-no-link >"$work/logs/build.log" 2>&1
	then
		echo "fuzz: FAILED: the library did not build; last lines of $work/logs/build.log:"
		tail -n 30 "$work/logs/build.log" | sed 's/^/    /'
		exit 1
	fi
	rm -f "$work/libxmppd.a"
fi
if [ ! -f "$work/libxmppd.a" ]; then
	objs=
	for src in $libsrc vendor/inih-r59/ini.c; do
		objs="$objs $work/obj/$(echo "$src" | sed 's|^vendor/inih-r59/|inih/|; s|\.c$|.o|')"
	done
	# shellcheck disable=SC2086
	ar rcs "$work/libxmppd.a" $objs || { echo "fuzz: FAILED: ar"; exit 1; }
fi

# ---- the targets ----
build_target() {
	t=$1
	src=tests/fuzz/fuzz_$t.c
	bin=$work/fuzz_$t
	[ -f "$src" ] || { echo "fuzz $t: FAILED: no $src"; return 1; }
	if [ -f "$bin" ] && [ ! "$src" -nt "$bin" ] && [ ! "$work/libxmppd.a" -nt "$bin" ]; then
		return 0
	fi
	# The module table refers to the modules weakly, which pulls nothing
	# out of an archive: targets that need them take the whole library.
	whole="-Wl,--whole-archive $work/libxmppd.a -Wl,--no-whole-archive"
	if [ "$t" = c2s ]; then
		# In-process server: libFuzzer without its main, and the loop,
		# the reaper and the listeners wrapped (see fuzz_c2s.c).
		# shellcheck disable=SC2086,SC2090
		$CC $CPPFLAGS $SAN $WARN -fsanitize=fuzzer-no-link -o "$bin" "$src" \
		    $whole build/san/libbearssl.a "$nomain" -lstdc++ -lm \
		    -Wl,--wrap=loop_run -Wl,--wrap=conn_reap \
		    -Wl,--wrap=listener_open -Wl,--wrap=listener_close \
		    >"$work/logs/build-$t.log" 2>&1
	else
		[ "$t" = config ] || whole=$work/libxmppd.a
		# shellcheck disable=SC2086,SC2090
		$CC $CPPFLAGS $SAN $WARN -fsanitize=fuzzer -o "$bin" "$src" \
		    $whole build/san/libbearssl.a -lm \
		    >"$work/logs/build-$t.log" 2>&1
	fi
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "fuzz $t: FAILED: did not build; last lines of $work/logs/build-$t.log:"
		tail -n 20 "$work/logs/build-$t.log" | sed 's/^/    /'
		return 1
	fi
	if grep -q 'warning:' "$work/logs/build-$t.log"; then
		echo "fuzz $t: warnings:"
		grep 'warning:' "$work/logs/build-$t.log" | sed 's/^/    /'
	fi
	return 0
}

# Per-target options: input size bounds and dictionaries.
options() {
	case $1 in
	c2s)	echo "-max_len=16384 -timeout=20 -dict=tests/fuzz/c2s.dict" ;;
	config)	echo "-max_len=8192 -timeout=10 -dict=tests/fuzz/config.dict" ;;
	sasl)	echo "-max_len=2048 -timeout=10" ;;
	jid)	echo "-max_len=4096 -timeout=10" ;;
	*)	echo "-max_len=8192 -timeout=10" ;;
	esac
}

crashes_of() {
	n=0
	for f in "$work/crashes/$1"-*; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}

failed=0
for t in $targets; do
	if ! build_target "$t"; then
		failed=1
		continue
	fi
	[ "$build_only" -eq 1 ] && { echo "fuzz $t: built $work/fuzz_$t"; continue; }
	corpus=$work/corpus/$t
	seeds=tests/fuzz/corpus/$t
	mkdir -p "$corpus"
	[ -d "$seeds" ] || seeds=
	log=$work/logs/$t.log
	before=$(crashes_of "$t")
	start=$(date +%s)
	# fuzz_c2s keeps a data_path: in memory when possible (fsync is
	# cheap there), and removed here even if the target died.
	c2sdir=$(mktemp -d /dev/shm/xmppd-fuzz.XXXXXX 2>/dev/null ||
	    mktemp -d "$(pwd)/$work/tmp/c2s.XXXXXX")
	# shellcheck disable=SC2046,SC2086
	TMPDIR=$(pwd)/$work/tmp FUZZ_C2S_DIR=$c2sdir \
	    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	    timeout -k 10 $((secs + 120)) "$work/fuzz_$t" $(options "$t") \
	    -max_total_time="$secs" -rss_limit_mb=2560 -print_final_stats=1 \
	    -artifact_prefix="$work/crashes/$t-" "$corpus" $seeds >"$log" 2>&1
	rc=$?
	rm -rf "$c2sdir"
	dt=$(( $(date +%s) - start ))
	after=$(crashes_of "$t")
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')
	if [ $rc -eq 0 ] && [ "$after" -eq "$before" ]; then
		echo "fuzz $t: ok (${runs:-?} runs, cov ${cov:-?}, ${dt} s)"
	else
		failed=1
		# shellcheck disable=SC2012
		art=$(ls -t "$work/crashes/$t"-* 2>/dev/null | head -n 1)
		why=$(grep -m 1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz_c2s: ' "$log")
		echo "fuzz $t: FAILED (exit $rc after ${dt} s): ${why:-see $log}"
		[ -n "$art" ] && echo "    input: $art"
		# The frames in our code, not libFuzzer's or libc's.
		grep -E '^ +#[0-9]+ .* in ' "$log" |
		    grep -vE 'fuzzer::|sanitizer|libc\.so|pthread|abort|raise' |
		    head -n 8 | sed 's/^ */      /'
	fi
done
exit $failed
