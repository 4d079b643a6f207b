#!/bin/bash
# bench/compare.sh - xmppd side by side with Prosody (and ejabberd) on
# loopback, one server after the other, with the same load generator.
#
#   bench/compare.sh [--quick] [--with ejabberd] [--only xmppd|prosody|ejabberd]
#                    [--port-base N] [--nice N] [--keep] [--out FILE]
#                    [--xmppd BINARY]   (measure that binary, e.g. a variant)
#
# Needs root (apt-get, raising open-file limits, running the Debian servers
# as their own users).  Prints one table (and writes it to --out):
# start-up time, idle RSS, RSS with 1,000 and 10,000 TLS sessions, logins/s
# with 50 connectors (full TLS handshakes, then resuming TLS sessions),
# msgs/s between 500 pairs with p50/p99 latency at the peak and at half the
# peak rate, server CPU per 100,000 messages, install size; ratios xmppd/other; the generator's own CPU and the CPU other
# processes took during each measurement (the noise on a shared machine).
# --nice -10 runs the servers and the generator at a higher priority than
# other work on a busy machine (the same for every server).
#
# Accounts: user0 is created with each server's own tool (xmppd adduser,
# prosodyctl register); the others get a copy of user0's credential record
# (salt, iteration count, StoredKey, ServerKey: nothing in it names the
# user), which is what the tool would have written with another salt.
# ejabberd keeps accounts in Mnesia, so there every account is created by
# in-band registration (XEP-0077) from the load generator.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
quick=0
with_ejabberd=0
only=
port_base=25300
keep=0
out=
nice_n=0
xmppd_bin=

while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--with) shift; [ "${1:-}" = ejabberd ] || { echo "--with takes ejabberd" >&2; exit 2; }
		with_ejabberd=1 ;;
	--only) shift; only=${1:-} ;;
	--port-base) shift; port_base=${1:-} ;;
	--keep) keep=1 ;;
	--nice) shift; nice_n=${1:-0} ;;
	--xmppd) shift; xmppd_bin=${1:-} ;;
	--out) shift; out=${1:-} ;;
	-h|--help) sed -n '2,26p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

if [ "$quick" = 1 ]; then
	N1=200 N2=1000 LOGIN_C=50 LOGIN_T=3 PAIRS=100 MSG_T=3 STARTS=2 HOLD=2
else
	N1=1000 N2=10000 LOGIN_C=50 LOGIN_T=10 PAIRS=500 MSG_T=10 STARTS=5 HOLD=5
fi
NACC=$N2
[ $((PAIRS * 2)) -gt "$NACC" ] && NACC=$((PAIRS * 2))
[ "$LOGIN_C" -gt "$NACC" ] && NACC=$LOGIN_C
PASS=bench
DOMAIN=localhost

NICE="nice -n $nice_n"
# With autogroup scheduling, nice only ranks processes inside one session;
# give this session's group the same nice value so that it counts against
# other sessions' work too.
ag_old=
if [ "$nice_n" != 0 ] && [ -w /proc/self/autogroup ]; then
	ag_old=$(sed -n 's/.* nice //p' /proc/self/autogroup)
	echo "$nice_n" > /proc/self/autogroup 2>/dev/null ||
	    echo "compare.sh: cannot set the autogroup nice value" >&2
fi
servers="xmppd prosody"
[ "$with_ejabberd" = 1 ] && servers="$servers ejabberd"
[ -n "$only" ] && servers=$only

say() { printf '%s\n' "== $*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get, ulimit, server users)"

# ---- prerequisites ----
need_pkg() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed' && return 0
	say "installing $1"
	[ -n "${apt_updated:-}" ] || { apt-get update -qq >&2; apt_updated=1; }
	# policy-rc.d-less machines would start the packaged service: the
	# benchmark runs its own instances, so keep the packaged one stopped.
	DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq \
	    --no-install-recommends "$1" >&2 || die "cannot install $1"
}
command -v openssl >/dev/null || need_pkg openssl
command -v make >/dev/null || need_pkg make
case " $servers " in *" prosody "*) need_pkg prosody ;; esac
case " $servers " in *" ejabberd "*) need_pkg ejabberd
	# a packaged instance started by the install is not ours to measure
	;; esac

say "building xmppd and the load generator"
xmppd_given=$xmppd_bin
if [ -z "$xmppd_bin" ]; then
	make -s -C "$top" xmppd >&2 || die "make xmppd failed"
	xmppd_bin=$top/xmppd
fi
LG=$("$top/bench/build.sh" | tail -1) || die "building loadgen failed"
[ -x "$LG" ] || die "no loadgen"

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
[ "$NOFILE" -gt $((N2 + 200)) ] || say "warning: open-file limit $NOFILE is too low for $N2 sessions"

work=$(mktemp -d /tmp/xmppd-bench.XXXXXX)
chmod 755 "$work"
cleanup() {
	[ -n "${LGPID:-}" ] && kill -TERM "$LGPID" 2>/dev/null
	stop_server
	[ -n "$ag_old" ] && echo "$ag_old" > /proc/self/autogroup 2>/dev/null
	if [ -n "${epmd_before+x}" ] && [ -z "$epmd_before" ]; then
		local e
		e=$(pgrep -x epmd | head -1)
		[ -n "$e" ] && kill -TERM "$e" 2>/dev/null
	fi
	[ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say "work directory $work"
# Measure a copy: the tree's binary may be rebuilt while the run goes on.
XMPPD=$work/xmppd-bin
cp "$xmppd_bin" "$XMPPD" || die "cannot copy $xmppd_bin"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -days 30 -subj "/CN=$DOMAIN" -addext "subjectAltName=DNS:$DOMAIN" \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null ||
    die "openssl failed"

# kv KEY FILE: the value of KEY in the "result" line (or "ready" line)
kv() { grep -E "^(result|ready)" "$2" 2>/dev/null | tr ' ' '\n' |
    sed -n "s/^$1=//p" | tail -1; }

proc_rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

wait_listen() {	# port, seconds
	local i=0
	while [ $i -lt $(($2 * 20)) ]; do
		ss -ltnH "sport = :$1" 2>/dev/null | grep -q . && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

wait_gone() {	# pid, seconds
	local i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt $(($2 * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -0 "$1" 2>/dev/null && { kill -KILL "$1" 2>/dev/null; sleep 0.5; }
	return 0
}

# ---- per-server set-up, start and stop ----

setup_xmppd() {
	local d=$work/xmppd
	mkdir -p "$d/data"
	cat > "$d/xmppd.ini" <<EOF
; written by bench/compare.sh
[server]
data_path = $d/data
log_level = warn
interfaces = 127.0.0.1
c2s_ports = $PORT
c2s_direct_tls_ports = $TLSPORT
modules = roster, saslauth, tls, ping, offline
c2s_require_encryption = true
authentication = internal_hashed

[tls]
certificate = $work/cert.pem
key = $work/key.pem

[limits]
; loopback: every connection comes from one address
max_connections = $((N2 + 1000))
max_connections_per_ip = $((N2 + 1000))
max_unauth_per_ip = $((N2 + 1000))
auth_failures_per_ip = 100000

[host $DOMAIN]
enabled = true
EOF
	echo "$PASS" | "$XMPPD" -c "$d/xmppd.ini" adduser "user0@$DOMAIN" >&2 ||
	    die "xmppd adduser failed"
	local i=1 a=$d/data/$DOMAIN
	while [ $i -lt "$NACC" ]; do
		mkdir "$a/user$i" && cp "$a/user0/account" "$a/user$i/account"
		i=$((i + 1))
	done
}

start_xmppd() {
	$NICE "$XMPPD" -c "$work/xmppd/xmppd.ini" run >> "$work/xmppd/server.log" 2>&1 &
	SPID=$!
}

setup_prosody() {
	local d=$work/prosody
	mkdir -p "$d/data/$DOMAIN/accounts"
	cp "$work/cert.pem" "$d/$DOMAIN.crt"
	cp "$work/key.pem" "$d/$DOMAIN.key"
	cat > "$d/prosody.cfg.lua" <<EOF
-- written by bench/compare.sh: c2s only, TLS required, hashed passwords
pidfile = "$d/prosody.pid"
data_path = "$d/data"
certificates = "$d"
log = { warn = "$d/prosody.log" }
interfaces = { "127.0.0.1" }
c2s_ports = { $PORT }
c2s_direct_tls_ports = { $TLSPORT }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster", "saslauth", "tls", "ping", "offline" }
modules_disabled = { "s2s" }
c2s_require_encryption = true
authentication = "internal_hashed"
storage = "internal"
VirtualHost "$DOMAIN"
	ssl = { certificate = "$d/$DOMAIN.crt", key = "$d/$DOMAIN.key" }
EOF
	chown -R prosody:prosody "$d"
	prosodyctl --config "$d/prosody.cfg.lua" register user0 "$DOMAIN" "$PASS" \
	    > "$d/register.log" 2>&1
	local a=$d/data/$DOMAIN/accounts
	[ -f "$a/user0.dat" ] || { cat "$d/register.log" >&2; die "prosodyctl register failed"; }
	local i=1
	while [ $i -lt "$NACC" ]; do
		cp -p "$a/user0.dat" "$a/user$i.dat"
		i=$((i + 1))
	done
}

start_prosody() {
	# setpriv rather than su/runuser: PAM would reset the open-file limit
	$NICE setpriv --reuid=prosody --regid=prosody --init-groups \
	    prosody --config "$work/prosody/prosody.cfg.lua" -F \
	    >> "$work/prosody/server.log" 2>&1 &
	SPID=$!
}

setup_ejabberd() {
	local d=$work/ejabberd
	mkdir -p "$d/db" "$d/log"
	cat "$work/cert.pem" "$work/key.pem" > "$d/both.pem"
	printf '{lookup, [file, native]}.\n' > "$d/inetrc"
	cat > "$d/ejabberdctl.cfg" <<EOF
ERLANG_NODE=xmppdbench@localhost
POLL=true
ERL_MAX_PORTS=65536
ERL_PROCESSES=1000000
EJABBERD_BYPASS_WARNINGS=true
EOF
	cat > "$d/ejabberd.yml" <<EOF
# written by bench/compare.sh: c2s only, TLS required, SCRAM-hashed passwords
hosts:
  - $DOMAIN
loglevel: warning
log_rotate_count: 0
certfiles:
  - $d/both.pem
listen:
  - port: $PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    backlog: 128
    max_stanza_size: 262144
    shaper: none
    access: c2s
    starttls_required: true
  - port: $TLSPORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    backlog: 128
    max_stanza_size: 262144
    shaper: none
    access: c2s
    tls: true
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha
registration_timeout: infinity
access_rules:
  c2s:
    allow: all
  register:
    allow: all
shaper_rules:
  max_user_sessions: 100
  max_user_offline_messages: 100
modules:
  mod_roster: {}
  mod_ping: {}
  mod_offline: {}
  mod_register:
    ip_access: all
    access: register
EOF
	chown -R ejabberd:ejabberd "$d"
	# accounts: in-band registration against a first start
	start_ejabberd
	wait_listen "$PORT" 60 || die "ejabberd did not start"
	sleep 1
	say "ejabberd: registering $NACC accounts"
	timeout 900 "$LG" register --port "$PORT" --count "$NACC" --concurrency 16 \
	    --password "$PASS" --domain "$DOMAIN" --setup-timeout 600 \
	    > "$d/register.out" 2>&1
	grep -q "registered=$NACC " "$d/register.out" || {
		cat "$d/register.out" >&2; die "ejabberd registration failed"; }
	stop_server
}

start_ejabberd() {
	local d=$work/ejabberd
	# erl starts an epmd daemon; stop it at the end unless it was there
	[ -n "${epmd_before+x}" ] || epmd_before=$(pgrep -x epmd | head -1)
	(cd "$d" && exec $NICE setpriv --reuid=ejabberd --regid=ejabberd --init-groups \
	    env HOME=/var/lib/ejabberd ejabberdctl --config-dir "$d" \
	    --config "$d/ejabberd.yml" --ctl-config "$d/ejabberdctl.cfg" \
	    --logs "$d/log" --spool "$d/db" foreground \
	    >> "$d/server.log" 2>&1) &
	SPID_WRAPPER=$!
	SPID=
	local i=0
	while [ -z "$SPID" ] && [ $i -lt 200 ]; do
		SPID=$(pgrep -f 'beam.*xmppdbench@localhost' | head -1)
		[ -n "$SPID" ] || sleep 0.01
		i=$((i + 1))
	done
	[ -n "$SPID" ] || SPID=$SPID_WRAPPER
}

stop_server() {
	[ -n "${SPID:-}" ] || return 0
	kill -TERM "$SPID" 2>/dev/null
	wait_gone "$SPID" 15
	[ -n "${SPID_WRAPPER:-}" ] && wait "$SPID_WRAPPER" 2>/dev/null
	SPID= SPID_WRAPPER=
}

install_size_kb() {
	case $1 in
	xmppd) echo $(( ($(stat -c %s "$XMPPD") + 1023) / 1024 )) ;;
	prosody)
		# prosody and the Lua runtime and modules it needs
		dpkg-query -W -f='${Package} ${Installed-Size}\n' 2>/dev/null |
		    awk '$1 == "prosody" || $1 ~ /^lua/ || $1 ~ /^liblua5/ { s += $2 }
			END { print s + 0 }' ;;
	ejabberd)
		dpkg-query -W -f='${Package} ${Installed-Size}\n' 2>/dev/null |
		    awk '$1 ~ /^ejabberd/ || $1 ~ /^erlang-/ || $1 ~ /^elixir/ { s += $2 }
			END { print s + 0 }' ;;
	esac
}

version_of() {
	case $1 in
	xmppd) if [ -n "$xmppd_given" ]; then
			echo "$("$XMPPD" version 2>&1 | head -1) ($xmppd_given," \
			    "sha256 $(sha256sum "$XMPPD" | cut -c1-12))"
		else
			echo "$("$XMPPD" version 2>&1 | head -1)" \
			    "(git $(git -C "$top" rev-parse --short HEAD 2>/dev/null)$(git -C "$top" diff --quiet HEAD -- '*.c' '*.h' 2>/dev/null || echo ' + uncommitted changes'))"
		fi ;;
	prosody) echo "prosody $(dpkg-query -W -f='${Version}' prosody)" ;;
	ejabberd) echo "ejabberd $(dpkg-query -W -f='${Version}' ejabberd)" ;;
	esac
}

# ---- one server, every scenario ----

declare -A R	# R[server.metric]

lg() {	# label, loadgen args...: runs with a hard time bound, keeps output
	local label=$1
	shift
	$NICE timeout 900 "$LG" "$@" --port "$PORT" --domain "$DOMAIN" \
	    --password "$PASS" > "$work/$S.$label.out" 2> "$work/$S.$label.err" &
	LGPID=$!
	wait "$LGPID"
	LGPID=
	LAST=$work/$S.$label.out
}

run_server() {
	S=$1
	case $S in
	xmppd) PORT=$port_base TLSPORT=$((port_base + 1)) ;;
	prosody) PORT=$((port_base + 10)) TLSPORT=$((port_base + 11)) ;;
	ejabberd) PORT=$((port_base + 20)) TLSPORT=$((port_base + 21)) ;;
	esac
	ss -ltnH "sport = :$PORT" | grep -q . && die "port $PORT is in use"
	say "$S: set-up ($NACC accounts)"
	"setup_$S"

	# start-up to first login: the prober is already knocking when the
	# server is started; median of $STARTS starts
	local k=0 t_exec done_ns open_ns ms list= llist=
	while [ $k -lt "$STARTS" ]; do
		$NICE timeout 120 "$LG" probe --port "$PORT" --domain "$DOMAIN" \
		    --password "$PASS" --time 60 > "$work/$S.probe$k.out" 2>&1 &
		local ppid=$!
		sleep 0.2
		t_exec=$(date +%s%N)
		"start_$S"
		wait "$ppid"
		done_ns=$(sed -n 's/^login_done_realtime_ns=//p' "$work/$S.probe$k.out")
		open_ns=$(sed -n 's/^tcp_open_realtime_ns=\([0-9]*\).*/\1/p' "$work/$S.probe$k.out")
		if [ -n "$done_ns" ]; then
			ms=$(( (done_ns - t_exec) / 1000 ))
			list="$list $ms"
		fi
		[ -n "$open_ns" ] && llist="$llist $(( (open_ns - t_exec) / 1000 ))"
		stop_server
		k=$((k + 1))
	done
	R[$S.startup_ms]=$(echo $list | tr ' ' '\n' | sort -n |
	    awk '{ a[NR] = $1 } END { if (NR) printf "%.1f", a[int((NR + 1) / 2)] / 1000 }')
	R[$S.listen_ms]=$(echo $llist | tr ' ' '\n' | sort -n |
	    awk '{ a[NR] = $1 } END { if (NR) printf "%.1f", a[int((NR + 1) / 2)] / 1000 }')

	say "$S: start for the scenarios"
	"start_$S"
	wait_listen "$PORT" 60 || die "$S is not listening on $PORT"
	sleep 2
	R[$S.idle_rss]=$(proc_rss "$SPID")

	local n
	for n in "$N1" "$N2"; do
		say "$S: $n sessions"
		lg "connect$n" connect --count "$n" --time "$HOLD" --concurrency 50 \
		    --server-pid "$SPID" --setup-timeout 300
		R[$S.rss$n]=$(kv server_rss_kb "$LAST")
		R[$S.held$n]=$(kv held_at_end "$LAST")
		R[$S.holdcpu$n]=$(kv server_hold_cpu_pct "$LAST")
		if [ -n "${R[$S.rss$n]}" ] && [ -n "${R[$S.idle_rss]}" ] &&
		    [ "${R[$S.held$n]:-0}" -gt 0 ]; then
			R[$S.kbps$n]=$(awk -v a="${R[$S.rss$n]}" -v b="${R[$S.idle_rss]}" \
			    -v n="${R[$S.held$n]}" 'BEGIN { printf "%.1f", (a - b) / n }')
		fi
		sleep 3		# let the server drop them
	done

	# The rest on a fresh server: what 10,000 sessions left behind (a
	# large heap for a garbage collector, say) would otherwise weigh on
	# one server's numbers and not on another's.
	stop_server
	"start_$S"
	wait_listen "$PORT" 60 || die "$S is not listening on $PORT"
	sleep 2

	say "$S: logins, $LOGIN_C connectors, ${LOGIN_T}s"
	lg logins logins --count "$LOGIN_C" --time "$LOGIN_T" --warmup 1 \
	    --server-pid "$SPID"
	R[$S.logins]=$(kv logins_per_s "$LAST")
	R[$S.tls]=$(kv tls_suite "$LAST")/$(kv tls_curve "$LAST")
	R[$S.logins_srv_cpu]=$(kv server_cpu_pct "$LAST")
	R[$S.login_srv_ms]=$(kv server_cpu_ms_per_login "$LAST")
	R[$S.login_lg_ms]=$(kv lg_cpu_ms_per_login "$LAST")
	R[$S.login_p99]=$(kv login_p99_ms "$LAST")
	R[$S.logins_lg_cpu]=$(kv lg_cpu_window_pct "$LAST")
	R[$S.logins_other]=$(kv other_cpu_pct "$LAST")
	R[$S.logins_fail]=$(grep -o 'fail_[a-z_]*=[1-9][0-9]*' "$LAST" | tr '\n' ' ')
	sleep 2

	# The same with each connector offering its last TLS session: what
	# reconnecting clients cost when the server resumes sessions.
	say "$S: logins resuming TLS sessions, $LOGIN_C connectors, ${LOGIN_T}s"
	lg loginsres logins --count "$LOGIN_C" --time "$LOGIN_T" --warmup 1 \
	    --server-pid "$SPID" --resume-tls
	R[$S.rlogins]=$(kv logins_per_s "$LAST")
	R[$S.rlogin_pct]=$(awk -v r="$(kv tls_resumed "$LAST")" \
	    -v n="$(kv logins "$LAST")" 'BEGIN { if (n > 0) printf "%.1f", 100 * r / n }')
	R[$S.rlogin_srv_ms]=$(kv server_cpu_ms_per_login "$LAST")
	R[$S.rlogin_lg_ms]=$(kv lg_cpu_ms_per_login "$LAST")
	R[$S.rlogins_other]=$(kv other_cpu_pct "$LAST")
	sleep 2

	say "$S: messages, $PAIRS pairs, as fast as a window of 4 allows"
	lg msgpeak messages --count "$PAIRS" --time "$MSG_T" --warmup 2 \
	    --window 4 --server-pid "$SPID" --setup-timeout 300
	R[$S.msgs]=$(kv msgs_per_s "$LAST")
	R[$S.peak_p50]=$(kv p50_ms "$LAST")
	R[$S.peak_p99]=$(kv p99_ms "$LAST")
	R[$S.cpu100k]=$(kv server_cpu_s_per_100k "$LAST")
	R[$S.msgs_srv_cpu]=$(kv server_cpu_pct "$LAST")
	R[$S.msgs_lg_cpu]=$(kv lg_cpu_window_pct "$LAST")
	R[$S.msgs_other]=$(kv other_cpu_pct "$LAST")
	R[$S.msgs_lost]=$(kv lost "$LAST")
	sleep 2

	local half
	half=$(awk -v m="${R[$S.msgs]:-0}" 'BEGIN { printf "%d", m / 2 }')
	if [ "${half:-0}" -gt 0 ]; then
		say "$S: messages at half the peak, $half msgs/s"
		lg msghalf messages --count "$PAIRS" --time "$MSG_T" --warmup 2 \
		    --rate "$half" --window 64 --server-pid "$SPID" \
		    --setup-timeout 300
		R[$S.half_rate]=$(kv msgs_per_s "$LAST")
		R[$S.half_p50]=$(kv p50_ms "$LAST")
		R[$S.half_p99]=$(kv p99_ms "$LAST")
		R[$S.half_cpu100k]=$(kv server_cpu_s_per_100k "$LAST")
		R[$S.half_lg_cpu]=$(kv lg_cpu_window_pct "$LAST")
		R[$S.half_other]=$(kv other_cpu_pct "$LAST")
	fi
	R[$S.final_rss]=$(proc_rss "$SPID")
	stop_server
	R[$S.size]=$(install_size_kb "$S")
	R[$S.version]=$(version_of "$S")
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for s in $servers; do
	run_server "$s"
done

# ---- the table ----

ratio() {	# a b
	awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {
		if (a == "" || b == "" || b + 0 == 0) { print "-"; exit }
		r = a / b
		if (r >= 10) printf "%.0f", r; else if (r >= 1) printf "%.2f", r;
		else printf "%.3f", r }'
}

row() {	# label metric
	local line s
	line=$(printf '| %-44s' "$1")
	for s in $servers; do
		line="$line$(printf ' | %12s' "${R[$s.$2]:--}")"
	done
	if [ "$servers" != xmppd ] && [ "${servers#xmppd }" != "$servers" ]; then
		for s in $servers; do
			[ "$s" = xmppd ] && continue
			line="$line$(printf ' | %10s' "$(ratio "${R[xmppd.$2]:-}" "${R[$s.$2]:-}")")"
		done
	fi
	printf '%s |\n' "$line"
}

table() {
	local hdr s sep
	hdr=$(printf '| %-44s' "metric")
	sep="|$(printf -- '-%.0s' $(seq 1 46))"
	for s in $servers; do
		hdr="$hdr$(printf ' | %12s' "$s")"
		sep="$sep|$(printf -- '-%.0s' $(seq 1 14))"
	done
	if [ "${servers#xmppd }" != "$servers" ]; then
		for s in $servers; do
			[ "$s" = xmppd ] && continue
			hdr="$hdr$(printf ' | %10s' "x/${s:0:4}")"
			sep="$sep|$(printf -- '-%.0s' $(seq 1 12))"
		done
	fi
	echo "$hdr |"
	echo "$sep|"
	row "start-up to first login (ms, median)" startup_ms
	row "  of which: until the port accepts (ms)" listen_ms
	row "idle RSS (KB)" idle_rss
	row "RSS with $N1 TLS sessions (KB)" "rss$N1"
	row "  KB per session ($N1)" "kbps$N1"
	row "RSS with $N2 TLS sessions (KB)" "rss$N2"
	row "  KB per session ($N2)" "kbps$N2"
	row "  sessions held (of $N2, after ${HOLD}s)" "held$N2"
	row "  server CPU % holding $N2 idle sessions" "holdcpu$N2"
	row "logins/s ($LOGIN_C connectors)" logins
	row "  TLS suite/ECDHE curve (IANA numbers)" tls
	row "  server CPU ms per login" login_srv_ms
	row "  loadgen CPU ms per login" login_lg_ms
	row "  login p99 (ms, connect to presence)" login_p99
	row "  server CPU % during logins" logins_srv_cpu
	row "  loadgen CPU % during logins" logins_lg_cpu
	row "  other processes' CPU % (noise)" logins_other
	row "logins/s resuming TLS sessions" rlogins
	row "  logins that resumed (%)" rlogin_pct
	row "  server CPU ms per login" rlogin_srv_ms
	row "  loadgen CPU ms per login" rlogin_lg_ms
	row "  other processes' CPU % (noise)" rlogins_other
	row "msgs/s ($PAIRS pairs, window 4, peak)" msgs
	row "  p50 latency at peak (ms)" peak_p50
	row "  p99 latency at peak (ms)" peak_p99
	row "  server CPU % at peak" msgs_srv_cpu
	row "  loadgen CPU % at peak" msgs_lg_cpu
	row "  other processes' CPU % (noise)" msgs_other
	row "server CPU s per 100,000 msgs (peak)" cpu100k
	row "msgs/s at half the peak (paced)" half_rate
	row "  p50 latency at half peak (ms)" half_p50
	row "  p99 latency at half peak (ms)" half_p99
	row "  server CPU s per 100,000 msgs (half)" half_cpu100k
	row "  loadgen CPU % at half peak" half_lg_cpu
	row "  other processes' CPU % (noise)" half_other
	row "binary / installed size (KB)" size
	row "RSS at the end (KB)" final_rss
}

target() {	# description, verdict
	printf '%-62s %s\n' "$1" "$2"
}

check() {	# awk condition with a and b
	awk -v a="${1:-}" -v b="${2:-}" "BEGIN { if (a == \"\" || b == \"\") { print \"n/a\"; exit }
	    print (($3) ? \"MET\" : \"MISSED\") }"
}

report() {
	echo "# xmppd benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)," \
	    "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
	    "$(uname -sr)"
	for s in $servers; do echo "$s: ${R[$s.version]:-?}"; done
	echo "load average before the run: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "run: bench/compare.sh$([ "$quick" = 1 ] && echo ' --quick')$([ "$with_ejabberd" = 1 ] && echo ' --with ejabberd')$([ "$nice_n" != 0 ] && echo " --nice $nice_n")"
	echo
	table
	echo
	echo "targets:"
	target "idle RSS <= 2 MB (${R[xmppd.idle_rss]:-?} KB)" \
	    "$(check "${R[xmppd.idle_rss]:-}" 0 'a <= 2048')"
	target "<= 40 KB per idle TLS session (${R[xmppd.kbps$N2]:-?} KB)" \
	    "$(check "${R[xmppd.kbps$N2]:-}" 0 'a <= 40')"
	target "$N2 concurrent TLS sessions held (${R[xmppd.held$N2]:-?})" \
	    "$(check "${R[xmppd.held$N2]:-}" "$N2" 'a >= b')"
	local s
	for s in $servers; do
		[ "$s" = xmppd ] && continue
		local f=5
		[ "$s" = ejabberd ] && f=2
		target "logins/s >= ${f}x $s's ($(ratio "${R[xmppd.logins]:-}" "${R[$s.logins]:-}")x)" \
		    "$(check "${R[xmppd.logins]:-}" "${R[$s.logins]:-}" "a >= $f * b")"
		target "msgs/s >= ${f}x $s's ($(ratio "${R[xmppd.msgs]:-}" "${R[$s.msgs]:-}")x)" \
		    "$(check "${R[xmppd.msgs]:-}" "${R[$s.msgs]:-}" "a >= $f * b")"
		[ "$s" = ejabberd ] && target "server CPU per 100k msgs <= 1/4 of ejabberd's ($(ratio "${R[xmppd.cpu100k]:-}" "${R[$s.cpu100k]:-}")x)" \
		    "$(check "${R[xmppd.cpu100k]:-}" "${R[$s.cpu100k]:-}" 'a * 4 <= b')"
	done
	target "p99 latency <= 10 ms at half the peak rate (${R[xmppd.half_p99]:-?} ms)" \
	    "$(check "${R[xmppd.half_p99]:-}" 0 'a <= 10')"
	target "start-up to first login <= 50 ms (${R[xmppd.startup_ms]:-?} ms)" \
	    "$(check "${R[xmppd.startup_ms]:-}" 0 'a <= 50')"
	echo
	echo "raw load generator output: $work ($([ "$keep" = 1 ] && echo kept || echo 'removed; --keep keeps it'))"
}

report_text=$(report)
printf '%s\n' "$report_text"
[ -n "$out" ] && printf '%s\n' "$report_text" > "$out"
exit 0
