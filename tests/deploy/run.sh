#!/bin/sh
# tests/deploy/run.sh: offline checks of the manifests in deploy/daemonset
# (OpenShift) and deploy/kubernetes (its overlay for other Kubernetes; run
# by tests/run; no cluster, no root). Fails when any check fails:
#  1. yamllint (.yamllint) on deploy/, rules/ and the broken examples;
#  2. each kustomization rendered (tests/deploy/validate.mjs; compared with
#     `kubectl kustomize` where kubectl is installed) and every object
#     validated against the Kubernetes API schemas (kubernetes-models) and
#     the OpenShift SCC schema, strict about unknown fields, plus the
#     references between the objects (SCC grants what the sensor pod asks,
#     the namespace's Pod Security level admits it, volumes, ports, probes
#     on the health contract, ServiceAccounts);
#  3. the rules ConfigMap checked by `wacht-sensor --check-rules`;
#  4. the Containerfile's runtime stage installs the package of every
#     shared library the built binaries link (no engine runs here);
#  5. that the checks can fail: every tests/deploy/broken/*.yaml must be
#     rejected with the message its "# expect:" line names, a copy of
#     deploy/daemonset whose SCC lacks a capability the sensor adds must be
#     rejected, so must the example ServiceMonitor on a port its Service
#     lacks and deploy/kubernetes with the namespace at the
#     "baseline" Pod Security level, and a rule file with an error must
#     fail --check-rules.
# npm packages: pinned in package-lock.json, installed with `npm ci` into
# tests/deploy/node_modules (again only when the lock file changed).
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-${WACHT_BUILD:-build}}
here=tests/deploy
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "deploy test: $*" >&2; exit 1; }

command -v yamllint >/dev/null || fail "yamllint missing (scripts/install-deps.sh installs it)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	fail "node/npm missing (scripts/install-deps.sh installs nodejs and npm)"
fi
[ -x "$BUILD/wacht-sensor" ] || fail "$BUILD/wacht-sensor missing: run make first"

echo "== yamllint"
yamllint -s -c .yamllint deploy rules $here/broken

echo "== npm ci"
if ! cmp -s $here/package-lock.json $here/node_modules/.wacht-lock 2>/dev/null; then
	(cd $here && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed"
	cp $here/package-lock.json $here/node_modules/.wacht-lock
fi

for d in daemonset kubernetes; do
	echo "== render and validate deploy/$d"
	kout=
	if command -v kubectl >/dev/null && kubectl kustomize deploy/$d >"$tmp/kustomize-$d.yaml" 2>"$tmp/kustomize.err"; then
		kout=$tmp/kustomize-$d.yaml
		echo "(comparing with kubectl kustomize)"
	fi
	node $here/validate.mjs deploy/$d "$tmp/rules-$d" ${kout:+"$kout"}

	echo "== wacht-sensor --check-rules on the rules ConfigMap of deploy/$d"
	ls "$tmp"/rules-$d/*.yaml >/dev/null 2>&1 || fail "the rules ConfigMap has no *.yaml key"
	"$BUILD/wacht-sensor" --check-rules "$tmp/rules-$d"
done

echo "== broken manifests must be rejected"
for f in "$here"/broken/*.yaml; do
	want=$(sed -n 's/^# expect: //p' "$f" | head -1)
	[ -n "$want" ] || fail "$f has no '# expect:' line"
	if node $here/validate.mjs --file "$f" >"$tmp/out" 2>&1; then
		cat "$tmp/out"; fail "$f was accepted"
	fi
	grep -qF -- "$want" "$tmp/out" || { cat "$tmp/out"; fail "$f: rejected, but not with: $want"; }
	echo "rejected as expected: $(basename "$f"): $want"
done
cp -r deploy/daemonset "$tmp/mutated"
sed -i '/^  - SYS_PTRACE$/d' "$tmp/mutated/scc.yaml"
if node $here/validate.mjs "$tmp/mutated" "$tmp/rules2" >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "an SCC without SYS_PTRACE was accepted"
fi
grep -qF "capability SYS_PTRACE is not allowed by the SCC" "$tmp/out" || { cat "$tmp/out"; fail "SCC mutation: wrong message"; }
echo "rejected as expected: SCC without SYS_PTRACE"
sed -i 's/^    - port: metrics$/    - port: health/' "$tmp/mutated/servicemonitor-example.yaml"
cp deploy/daemonset/scc.yaml "$tmp/mutated/scc.yaml"
if node $here/validate.mjs "$tmp/mutated" "$tmp/rules4" >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "a ServiceMonitor on a port its Service lacks was accepted"
fi
grep -qF "endpoint port health is not a port of Service/wacht-sensor" "$tmp/out" ||
	{ cat "$tmp/out"; fail "ServiceMonitor mutation: wrong message"; }
echo "rejected as expected: servicemonitor-example.yaml scraping port health"
mkdir "$tmp/psa"
cp -r deploy/daemonset deploy/kubernetes "$tmp/psa/"
sed -i 's|pod-security.kubernetes.io/enforce: privileged|pod-security.kubernetes.io/enforce: baseline|' \
	"$tmp/psa/daemonset/namespace.yaml"
if node $here/validate.mjs "$tmp/psa/kubernetes" "$tmp/rules3" >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "deploy/kubernetes with a baseline namespace was accepted"
fi
grep -qF 'pod-security.kubernetes.io/enforce is baseline, but the wacht-sensor pod needs "privileged": hostPID' "$tmp/out" ||
	{ cat "$tmp/out"; fail "PSA mutation: wrong message"; }
echo "rejected as expected: deploy/kubernetes with pod-security.kubernetes.io/enforce: baseline"
mkdir "$tmp/badrules"
cp "$tmp"/rules-daemonset/*.yaml "$tmp/badrules/"
sed -i 's/policymode: Discover/policymode: Protekt/' "$tmp"/badrules/default.yaml
if "$BUILD/wacht-sensor" --check-rules "$tmp/badrules" >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "a rule file with an error passed --check-rules"
fi
grep -qF 'unknown policymode "Protekt"' "$tmp/out" || { cat "$tmp/out"; fail "bad rules: wrong message"; }
echo "rejected as expected: a rules ConfigMap with policymode: Protekt"
echo "== Containerfile runtime stage has every library the binaries link"
want=$(sed -n 's/^# runtime-libs: //p' Containerfile)
inst=$(sed -n '/^FROM \${RUNTIME_IMAGE}/,$p' Containerfile | grep -v '^#' | tr -s ' \\\t' '\n')
for p in $want; do echo "$inst" | grep -qx -- "$p" || fail "Containerfile: $p is in runtime-libs but not installed"; done
for b in wacht-sensor wacht-aggregator wachtctl; do
	for so in $(objdump -p "$BUILD/$b" | awk '/NEEDED/{print $2}'); do
		case $so in libc.so.*) continue ;; esac  # in every base image
		pkg=$(dpkg -S "*/$so" 2>/dev/null | head -1 | cut -d: -f1)
		[ -n "$pkg" ] || fail "$b links $so, which no installed package owns"
		echo " $want " | grep -q " $pkg " || fail "$b links $so ($pkg), missing from the Containerfile's runtime stage"
	done
done
echo "runtime stage: $want"
echo "deploy manifests: all checks passed"
