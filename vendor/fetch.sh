#!/bin/sh
# Fetch the pinned dependency tarballs from Debian's source packages.
#
# Uses a private apt sources file and state directory so the machine's own apt
# configuration is never touched.  The archive URIs are read from the machine's
# existing apt sources: no host name is written into this repository.
# Only the upstream .orig tarballs matter; their SHA-256 is checked against
# vendor/SHA256SUMS.  Without apt, place the two files named in SHA256SUMS in
# vendor/ by hand and run this script again: it then only checks them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

need() {
	while read -r sum file; do
		[ -f "$file" ] && echo "$sum  $file" | sha256sum -c --status 2>/dev/null || return 0
	done < SHA256SUMS
	return 1
}
if ! need; then
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "vendor/fetch.sh: no apt-get; place these files in vendor/:" >&2
	cat SHA256SUMS >&2
	exit 1
fi

# Archive URIs of the machine's apt sources (deb822 and one-line style).
uris=$( { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/{for(i=2;i<=NF;i++)print $i}';
	  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
	  awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}'; } |
	grep -v -e security -e nodesource -e google | sort -u)
[ -n "$uris" ] || { echo "vendor/fetch.sh: no Debian archive found in apt sources" >&2; exit 1; }

state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/parts"
for u in $uris; do
	cat >> "$state/sources.sources" <<SRC
Types: deb-src
URIs: $u
Suites: bookworm trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

SRC
done
opts="-o Dir::Etc::SourceList=$state/sources.sources -o Dir::Etc::SourceParts=$state/parts
      -o Dir::State::Lists=$state/lists -o Dir::Cache=$state/cache -o APT::Get::List-Cleanup=0"
# shellcheck disable=SC2086
apt-get $opts -q update >&2
dl=$(mktemp -d)
(
	cd "$dl"
	# shellcheck disable=SC2086
	apt-get $opts -q source --download-only bearssl libinih >&2 || true
)
while read -r sum file; do
	if [ -f "$dl/$file" ]; then
		cp "$dl/$file" "$here/$file"
	fi
	if ! echo "$sum  $file" | sha256sum -c --status; then
		echo "vendor/fetch.sh: $file missing or checksum mismatch (want $sum)" >&2
		rm -rf "$dl"
		exit 1
	fi
done < SHA256SUMS
rm -rf "$dl"
echo "vendor/fetch.sh: tarballs verified" >&2
