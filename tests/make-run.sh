#!/bin/sh
# `make run`: a local xmppd on localhost with a throwaway certificate and a
# demo account, in ./run/ (git-ignored).  Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
command -v openssl >/dev/null 2>&1 || { apt-get update && apt-get install -y openssl; }
dir=$(pwd)/run
mkdir -p "$dir"
port=${XMPPD_PORT:-5222}
tlsport=${XMPPD_TLS_PORT:-5223}
httpsport=${XMPPD_HTTPS_PORT:-5281}
if [ ! -f "$dir/cert.pem" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -days 365 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
	    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
fi
cat > "$dir/xmppd.ini" <<INI
; Written by \`make run\`: a local test server.  See sample.ini for every key.
[server]
data_path = $dir/data
log_level = info
interfaces = 127.0.0.1, ::1
c2s_ports = $port
c2s_direct_tls_ports = $tlsport
https_ports = $httpsport
modules = roster, ping, offline, disco, version, uptime, time, private, vcard, privacy, blocklist, register, motd, welcome, admin_adhoc, pep, carbons, smacks, csi, cloud_notify, mam, muc, http_file_share, websocket, bosh
admins = demo@localhost

[tls]
certificate = $dir/cert.pem
key = $dir/key.pem

[host localhost]
enabled = true
muc = conference.localhost
upload = upload.localhost
INI
if [ ! -f "$dir/data/localhost/demo/account" ]; then
	echo demo | ./xmppd -c "$dir/xmppd.ini" adduser demo@localhost >/dev/null
	echo demo2 | ./xmppd -c "$dir/xmppd.ini" adduser demo2@localhost >/dev/null
fi
cat <<MSG

  xmppd is serving localhost on 127.0.0.1 and ::1, port $port (STARTTLS)
  and port $tlsport (direct TLS).  The certificate is self-signed: accept it.

  Log in as   demo@localhost   password demo
        or    demo2@localhost  password demo2
  e.g.  profanity: /connect demo@localhost server 127.0.0.1 port $port tls trust
        gajim: Advanced > connection: host 127.0.0.1, port $port
  Web clients: wss://localhost:$httpsport/xmpp-websocket or
        https://localhost:$httpsport/http-bind (open https://localhost:$httpsport/
        once and accept the certificate).  Group chat: conference.localhost;
        file upload: upload.localhost.

  Config: $dir/xmppd.ini   Data: $dir/data   Stop: Ctrl-C

MSG
exec ./xmppd -c "$dir/xmppd.ini" run
