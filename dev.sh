#!/bin/sh
# dev.sh: the two commands of the README.
#   sudo ./dev.sh run [SENSOR OPTIONS]  install missing Debian packages, build,
#                                       run the sensor with its defaults
#   sudo ./dev.sh test                  install, build, run every test
set -eu
cd "$(dirname "$0")"
cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
run)
	scripts/install-deps.sh
	make -j"$(nproc)"
	exec build/wacht-sensor "$@"
	;;
test)
	scripts/install-deps.sh
	make -j"$(nproc)" all unit unit-san fuzz
	exec tests/run "$@"
	;;
*)
	echo "usage: $0 run [wacht-sensor options] | $0 test" >&2
	exit 2
	;;
esac
