#!/bin/bash
# The one test command: installs what the tests need, builds, runs the unit
# tests (ASan/UBSan), checks the release binary, runs the end-to-end tests
# and a short run of every fuzz target, and ends with the line
# "N passed, N failed".  Exit status 0 only if nothing
# failed.
#
#   ./test.sh               everything
#   ./test.sh unit          only the C unit tests
#   ./test.sh e2e [PATTERN] only the end-to-end tests (those whose
#                           "module.function" name contains PATTERN)
#   ./test.sh fuzz          only the short fuzzing run (tests/fuzz.sh --quick)
#
# Works without a terminal (CI=true); every step is bounded in time.

set -u
export LANG=C LC_ALL=C
export DEBIAN_FRONTEND=noninteractive

cd "$(dirname "$0")" || exit 2

mode=${1:-all}
case $mode in
all|unit|e2e|fuzz) ;;
-h|--help|help)
	sed -n '2,12s/^# \{0,1\}//p' "$0"
	exit 0 ;;
*)
	echo "usage: $0 [unit | e2e [PATTERN] | fuzz]" >&2
	exit 2 ;;
esac
shift $(( $# > 0 ? 1 : 0 ))

passed=0
failed=0
logdir=build/test-logs
mkdir -p "$logdir"

pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# ---- 1. what the tests need ----
pkg_missing() {
	if command -v dpkg-query >/dev/null 2>&1; then
		dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' &&
		    return 1
		return 0
	fi
	# No dpkg: judge by the commands and modules the package provides.
	case $1 in
	musl-tools)	! command -v musl-gcc >/dev/null 2>&1 ;;
	python3-slixmpp) ! /usr/bin/python3 -c 'import slixmpp' >/dev/null 2>&1 ;;
	xz-utils)	! command -v xz >/dev/null 2>&1 ;;
	*)		! command -v "$1" >/dev/null 2>&1 ;;
	esac
}

need=
for p in musl-tools python3-slixmpp python3-cryptography openssl xz-utils patch make gcc \
    file dnsmasq-base prosody lua-unbound; do
	pkg_missing "$p" && need="$need $p"
done
if [ -n "$need" ]; then
	echo "installing:$need"
	if [ "$(id -u)" -ne 0 ]; then
		echo "test.sh: not root, cannot install:$need" >&2
	elif ! command -v apt-get >/dev/null 2>&1; then
		echo "test.sh: no apt-get, cannot install:$need" >&2
	else
		timeout 600 apt-get update -q >"$logdir/apt.log" 2>&1
		# shellcheck disable=SC2086
		if ! timeout 600 apt-get install -y -q --no-install-recommends $need \
		    >>"$logdir/apt.log" 2>&1; then
			echo "test.sh: apt-get install failed:" >&2
			tail -n 20 "$logdir/apt.log" >&2
		fi
	fi
fi

# The browser test's Chromium and npm packages, when it is among the tests
# to run (a failure here fails that test, which says why).
if [ "$mode" = all ] || [ "$mode" = e2e ]; then
	want_browser=$(($# == 0))
	for p in "$@"; do
		case test_browser_conversejs.test_conversejs_ws_on_http_port,test_browser_conversejs.test_conversejs_wss_on_https_port,test_browser_conversejs.test_conversejs_bosh_on_https_port in
		*"$p"*) want_browser=1 ;;
		esac
	done
	if [ "$want_browser" -eq 1 ]; then
		timeout 900 /usr/bin/python3 tests/e2e/browser_tools.py </dev/null ||
		    echo "test.sh: the browser test's tools are missing" >&2
	fi
fi

jobs=$(nproc 2>/dev/null || echo 2)

# build LOGNAME TARGET...: make the targets, quietly unless it fails
build() {
	local name=$1
	shift
	echo "building $*"
	if timeout 900 make -j"$jobs" "$@" >"$logdir/make-$name.log" 2>&1; then
		return 0
	fi
	echo "make $* failed; last lines of $logdir/make-$name.log:"
	tail -n 40 "$logdir/make-$name.log" | sed 's/^/    /'
	return 1
}

# ---- 2. build ----
rel_ok=0
san_xmppd_ok=0
san_unit_ok=0
if [ "$mode" = all ]; then
	build release xmppd && rel_ok=1
fi
if [ "$mode" = all ] || [ "$mode" = unit ]; then
	build san-unit build/san/unit && san_unit_ok=1
fi
if [ "$mode" = all ] || [ "$mode" = e2e ]; then
	build san-xmppd build/san/xmppd && san_xmppd_ok=1
fi

# ---- 3. unit tests: one test per "unit NAME: N checks, N failed" line ----
if [ "$mode" = all ] || [ "$mode" = unit ]; then
	if [ "$san_unit_ok" -eq 1 ]; then
		out="$logdir/unit.out"
		timeout 300 build/san/unit all >"$out" 2>&1
		rc=$?
		nlines=0
		while IFS= read -r line; do
			case $line in
			"unit "*": "*" checks, "*" failed")
				nlines=$((nlines + 1))
				name=${line#unit }
				name=${name%%:*}
				nfail=${line##*, }
				nfail=${nfail%% failed}
				if [ "$nfail" = 0 ]; then
					pass "unit $name (${line#*: })"
				else
					fail "unit $name: ${line#*: }"
				fi ;;
			esac
		done <"$out"
		grep -v '^unit ' "$out" | head -n 200 | sed 's/^/    /'
		if [ "$rc" -ne 0 ] && ! grep -q '^unit: [0-9]* checks, [1-9]' "$out"; then
			# It crashed or was killed rather than reporting failures.
			fail "unit runner: exit status $rc after $nlines test(s)"
		fi
	else
		fail "unit: build/san/unit did not build"
	fi
fi

# ---- the release binary ----
if [ "$mode" = all ]; then
	if [ "$rel_ok" -eq 1 ] && [ -f xmppd ]; then
		desc=$(file -b xmppd)
		case $desc in
		*"statically linked"*) pass "xmppd is statically linked" ;;
		*) fail "xmppd is not statically linked: $desc" ;;
		esac
		size=$(wc -c <xmppd)
		if [ "$size" -lt $((600 * 1024)) ]; then
			pass "xmppd size $size bytes < 600 KB"
		else
			fail "xmppd size $size bytes >= 600 KB"
		fi
	else
		fail "xmppd is statically linked: xmppd did not build"
		fail "xmppd size: xmppd did not build"
	fi
fi

# ---- 4. end-to-end tests ----
if [ "$mode" = all ] || [ "$mode" = e2e ]; then
	if [ "$san_xmppd_ok" -eq 1 ]; then
		out="$logdir/e2e.out"
		timeout -k 10 "${E2E_TIMEOUT:-720}" /usr/bin/python3 tests/e2e/run.py "$@" \
		    </dev/null 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
		summary=$(grep -E '^e2e: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
		if [ -n "$summary" ]; then
			p=${summary#e2e: }
			p=${p%% passed*}
			f=${summary##*, }
			f=${f%% failed}
			passed=$((passed + p))
			failed=$((failed + f))
			if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
				fail "e2e runner: exit status $rc"
			fi
		else
			# The runner died or was stopped: count what it printed.
			p=$(grep -c '^PASS ' "$out")
			f=$(grep -c '^FAIL ' "$out")
			passed=$((passed + p))
			failed=$((failed + f))
			fail "e2e runner: no summary line (exit status $rc)"
		fi
	else
		fail "e2e: build/san/xmppd did not build"
	fi
fi

# ---- 5. a short fuzzing run of every libFuzzer target ----
# (a longer one by hand: tests/fuzz.sh --time 600; see README)
if [ "$mode" = all ] || [ "$mode" = fuzz ]; then
	out="$logdir/fuzz.out"
	timeout -k 10 "${FUZZ_TIMEOUT:-600}" bash tests/fuzz.sh --quick </dev/null 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	p=$(grep -cE '^fuzz [a-z0-9_]+: ok' "$out")
	f=$(grep -cE '^fuzz [a-z0-9_]*:? ?FAILED' "$out")
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		fail "fuzz: exit status $rc"
	fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
