#!/bin/sh
# install-deps.sh [--build | --bench]: install the Debian 12 packages Wacht
# needs to build, run and test, when they are missing. --build: only what
# `make` needs (the Containerfile's build stage); --bench: also what the
# benchmarks need. Idempotent; needs root.
set -eu
BUILD_PKGS="make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
libjson-c-dev libcmocka-dev protobuf-c-compiler libprotobuf-c-dev libyaml-dev libsqlite3-dev
libssl-dev openssl libpq-dev libnats-dev libmicrohttpd-dev libcurl4-openssl-dev"
PKGS="$BUILD_PKGS runc busybox-static iproute2 jq python3 python3-yaml util-linux
nats-server postgresql yamllint nodejs graphviz libxml2-utils"
# nats-server and postgresql: the scale-out integration test starts private
# instances of both (tests/integration/test_scaleout.py); Debian enables
# their system services on install, which the tests neither need nor use.
# python3-yaml, util-linux (nsenter, unshare, pivot_root, setpriv):
# tests/integration/test_daemonset.py reads the manifests and starts the
# sensor as the DaemonSet's pod would run.
# graphviz, libxml2-utils: tests/unit/test_graph.c reads the DOT export
# back with dot and validates the GraphML export with xmllint;
# tests/integration/test_graph.py does the same with the API's answers.
# yamllint, nodejs, npm: tests/deploy/run.sh lints the manifests and
# validates them against the API schemas (npm packages pinned there). npm
# is asked for only when no npm command exists: NodeSource's nodejs package
# brings its own and conflicts with Debian's npm.
PKGS="$PKGS chromium fonts-dejavu-core"
# chromium, fonts-dejavu-core: tests/integration/test_ui.py opens the
# aggregator's web page in headless Debian chromium (/usr/bin/chromium),
# driven by playwright-core (npm, pinned in tests/ui/package-lock.json,
# installed there by the test with `npm ci`; it downloads no browser).
# bench/run also needs a real service and the classic baseline
case "${1:-}" in
--bench) PKGS="$PKGS redis-server redis-tools auditd" ;;
--build) PKGS=$BUILD_PKGS ;;
"") ;;
*) echo "usage: $0 [--build | --bench]" >&2; exit 2 ;;
esac
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ "${1:-}" = "--build" ] || command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: missing packages:$missing; run as root (sudo $0)" >&2
		exit 1
	fi
	echo "install-deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
