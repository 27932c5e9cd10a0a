# The sensor as deploy/daemonset runs it, reproduced on this machine
# without a cluster: the command, arguments, environment, capabilities,
# volumes and probes are read from the manifests (not copied), so a change
# there changes what is tested. The "pod" is a process in its own network
# namespace (the DaemonSet has no hostNetwork) and its own mount namespace
# whose root is put together as a container runtime would: the image's
# /usr (the host's, Debian 12 like the image, with build/wacht-sensor where
# the Containerfile installs it), fresh /proc (host PID namespace: hostPID),
# read-only /sys and a /dev tmpfs, every volumeMount at its mountPath
# (hostPath bind-mounted, read-only where the manifest says so; emptyDir
# tmpfs of its sizeLimit; the ConfigMap and the Secret written the way the
# kubelet writes them: a ..<timestamp> directory, the ..data symlink, one
# symlink per key), the root read-only (readOnlyRootFilesystem), then
# pivot_root and exec with exactly the manifest's capabilities and
# no_new_privs (allowPrivilegeEscalation: false).
#
# What this machine makes differ from a node, and why:
#  - hostPath volumes the sensor writes (readOnly unset: /var/lib/wacht)
#    are a fresh directory, not the machine's: a test must not change the
#    machine's state (other sensors run here). A DirectoryOrCreate hostPath
#    missing here (containerd's, CRI-O's directories on a runc-only
#    machine) is an empty directory, as the kubelet would create, but not
#    created on the machine.
#  - The aggregator: the manifest's --aggregator names the Service
#    wacht-aggregator.wacht.svc:7443. The name resolves through the pod's
#    /etc/hosts (what the kubelet writes for hostAliases) to the host end
#    of the pod's veth, where a real wacht-aggregator listens on the
#    manifest's port with a certificate for that name; the arguments stay
#    exactly the manifest's.
#  - The Secret's values are placeholders in secret.yaml: the test makes a
#    CA, the aggregator's certificate and the sensor's, and puts each under
#    the key the sensor's --tls-* argument names.
#  - The test container is a plain runc container (/run/runc, which the
#    DaemonSet mounts) with the Kubernetes annotations; its bundle is in the
#    test's temporary directory, which the pod does not see, so pod and
#    namespace come from the annotations runc copies into its state.json
#    (CRI-O and containerd keep bundles under the directories the DaemonSet
#    mounts).
#  - Capabilities this machine's bounding set lacks (CAP_SYS_RESOURCE
#    here) cannot be granted: the pod runs without them and the test
#    expects exactly the manifest's set less those. This machine's PID 1 is
#    protected (/proc/1/ns/mnt unreadable even for root), which the sensor
#    handles by taking kthreadd's mount namespace as the host's; a node's
#    systemd is readable with SYS_PTRACE.
#  - The image: the host's /usr (Debian 12, more packages than
#    debian:12-slim plus the Containerfile's runtime libraries, which
#    tests/deploy/run.sh checks) and a few of the host's /etc files
#    (ld.so.cache, nsswitch.conf, passwd, group, ssl/openssl.cnf).
#  - readOnly on an rbind-mounted hostPath makes its top mount read-only,
#    not the mounts below it (runc without recursiveReadOnly does the
#    same).
#  - Not reproduced: SELinux (spc_t; not enabled here), AppArmor, the
#    service-link environment variables (enableServiceLinks; the sensor
#    reads none), the pod's own cgroup (cgroup namespace) and its memory
#    limit (the sensor's peak RSS and BPF map memory are printed instead),
#    the secret volume's tmpfs (the kubelet's; same files), /dev/pts and
#    /dev/mqueue, the nodeSelector and tolerations (scheduling).

import base64
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import yaml

from harness import (CONTROL_INIT, REG, REPO, SENSOR_BIN, Container, Netns, Sensor,
                     links_of_pid, require_sensor, track_pid, unique, veth_to_host)
from test_stream import AGG_BIN, Aggregator, wait_all_stored

DEPLOY = os.path.join(REPO, "deploy", "daemonset")
CONTAINERFILE = os.path.join(REPO, "Containerfile")
BUILD = os.path.dirname(SENSOR_BIN)
FILE_MODIFIED = "Container.File.Modified"

# What a container runtime (containerd's and CRI-O's defaults) masks and
# makes read-only in a container that is not privileged.
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
# The image's environment (debian:12-slim's PATH)
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CAP_BITS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4,
            "KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10,
            "NET_ADMIN": 12, "NET_RAW": 13, "SYS_CHROOT": 18, "SYS_PTRACE": 19,
            "SYS_ADMIN": 21, "SYS_RESOURCE": 24, "MKNOD": 27, "AUDIT_WRITE": 29,
            "SETFCAP": 31, "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40}


# ---------------------------------------------------------------------------
# The manifests

def load_kustomization(d=DEPLOY):
    """Every object of d/kustomization.yaml's resources, in order."""
    with open(os.path.join(d, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    objs = []
    for r in k["resources"]:
        with open(os.path.join(d, r)) as f:
            objs += [o for o in yaml.safe_load_all(f) if o]
    return objs


def find(objs, kind, name):
    for o in objs:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    raise AssertionError("%s/%s is not in %s/kustomization.yaml" % (kind, name, DEPLOY))


def resolve_env(objs, container, node):
    """The container's environment as the kubelet resolves it, in order
    (the downward API's spec.nodeName is this test's node name)."""
    env = []
    for e in container.get("env", []):
        if "value" in e:
            env.append((e["name"], str(e["value"])))
            continue
        src = e["valueFrom"]
        if "fieldRef" in src:
            path = src["fieldRef"]["fieldPath"]
            assert path == "spec.nodeName", "env %s: fieldRef %s not reproduced" % (e["name"], path)
            env.append((e["name"], node))
        elif "configMapKeyRef" in src:
            ref = src["configMapKeyRef"]
            env.append((e["name"], find(objs, "ConfigMap", ref["name"])["data"][ref["key"]]))
        elif "secretKeyRef" in src:
            ref = src["secretKeyRef"]
            sec = find(objs, "Secret", ref["name"])
            env.append((e["name"], sec["stringData"][ref["key"]] if ref["key"] in sec.get("stringData", {})
                        else base64.b64decode(sec["data"][ref["key"]]).decode()))
        else:
            raise AssertionError("env %s: %s not reproduced" % (e["name"], list(src)))
    return env


def containerfile_files():
    """{path in the image: file here} for the final stage's COPY lines:
    COPY --from=build /out/X ... DEST/ is build/X, COPY SRC DEST is the
    repository's SRC."""
    with open(CONTAINERFILE) as f:
        text = f.read().replace("\\\n", " ")
    final = text[text.rindex("\nFROM "):]
    files = {}
    for line in final.splitlines():
        words = line.split()
        if not words or words[0] != "COPY":
            continue
        words = words[1:]
        from_build = words[0].startswith("--from=")
        if from_build:
            words = words[1:]
        *srcs, dest = words
        for src in srcs:
            here = os.path.join(BUILD, os.path.basename(src)) if from_build \
                else os.path.join(REPO, src)
            files[dest + os.path.basename(src) if dest.endswith("/") else dest] = here
    return files


def probe_port(container, probe):
    port = container[probe]["httpGet"]["port"]
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)


# ---------------------------------------------------------------------------
# The kubelet's side

def atomic_write(target, payload, mode, pause=0):
    """Write a ConfigMap or Secret volume as the kubelet's AtomicWriter
    does (pkg/volume/util/atomic_writer.go): the payload into a new
    ..YYYY_MM_DD_HH_MM_SS.<random> directory, a ..data_tmp symlink to it
    renamed over ..data (the atomic switch), a key -> ..data/key symlink
    for every new key, old keys' symlinks removed, the old directory
    removed. pause: seconds between adding the new keys' symlinks and
    removing the old ones (a slow kubelet: readers may look in between).
    Returns the new directory's name."""
    os.makedirs(target, exist_ok=True)
    data = os.path.join(target, "..data")
    old = os.readlink(data) if os.path.islink(data) else None
    old_keys = set(os.listdir(os.path.join(target, old))) if old else set()
    while True:
        # Go's os.MkdirTemp: the pattern and a random decimal number
        ts = os.path.join(target, time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) +
                          str(secrets.randbelow(1 << 32)))
        try:
            os.mkdir(ts, 0o755)
            break
        except FileExistsError:
            continue
    for key, value in payload.items():
        p = os.path.join(ts, key)
        with open(p, "wb") as f:
            f.write(value.encode() if isinstance(value, str) else value)
        os.chmod(p, mode)
    tmp = os.path.join(target, "..data_tmp")
    os.symlink(os.path.basename(ts), tmp)
    os.rename(tmp, data)
    for key in payload:
        if not os.path.lexists(os.path.join(target, key)):
            os.symlink(os.path.join("..data", key), os.path.join(target, key))
    time.sleep(pause)
    for key in old_keys - set(payload):
        os.unlink(os.path.join(target, key))
    if old:
        shutil.rmtree(os.path.join(target, old))
    return os.path.basename(ts)


def make_pki(d, server_name):
    """A CA, a server certificate for server_name and a client one."""
    os.makedirs(d)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    p = lambda f: os.path.join(d, f)
    subprocess.run(["openssl", "req", "-x509"] + ec + ["-keyout", p("ca.key"), "-out", p("ca.crt"),
                   "-days", "2", "-subj", "/CN=wacht-test-ca"], check=True, capture_output=True)
    exts = {"server": "subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n" % server_name,
            "client": "extendedKeyUsage=clientAuth\n"}
    for who, ext in exts.items():
        with open(p(who + ".ext"), "w") as f:
            f.write(ext)
        subprocess.run(["openssl", "req"] + ec + ["-keyout", p(who + ".key"), "-out", p(who + ".csr"),
                       "-subj", "/CN=wacht-test-%s" % who], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", p(who + ".csr"), "-CA", p("ca.crt"),
                        "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p(who + ".crt"),
                        "-days", "2", "-extfile", p(who + ".ext")], check=True, capture_output=True)
    return {k: p(v) for k, v in (("ca", "ca.crt"), ("server_crt", "server.crt"),
                                ("server_key", "server.key"), ("client_crt", "client.crt"),
                                ("client_key", "client.key"))}


class ServiceAggregator(Aggregator):
    """wacht-aggregator listening where the Service name resolves to."""

    def __init__(self, pki, store, addr, port):
        super().__init__(pki, store, port)
        self.addr = addr

    def start(self):
        cmd = [AGG_BIN, "--listen", "%s:%d" % (self.addr, self.port), "--store", self.store,
               "--tls-ca", self.pki["ca"], "--tls-cert", self.pki["server_crt"],
               "--tls-key", self.pki["server_key"], "--stats-interval", "0", "--api-listen", "off"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        track_pid(self.proc.pid, "wacht-aggregator")
        self.wait_log("listening on %s:%d" % (self.addr, self.port))
        return self


class DaemonSetPod(Sensor):
    """wacht-sensor started as the DaemonSet's pod (see the top of this
    file). stdout (the findings: the manifest gives no --output) and stderr
    go to files, as the kubelet's container log keeps them."""

    def __init__(self, objs, node, netns, pod_ip, aggregator_ip):
        super().__init__()
        self.objs = objs
        self.node = node
        self.netns = netns
        self.pod_ip = pod_ip
        self.aggregator_ip = aggregator_ip
        ds = find(objs, "DaemonSet", "wacht-sensor")
        self.pod = ds["spec"]["template"]["spec"]
        assert len(self.pod["containers"]) == 1, "one container in the sensor pod"
        self.c = self.pod["containers"][0]
        self.argv = self.c["command"] + self.c.get("args", [])
        # a DaemonSet's pod: <name>-<5 characters>, its host name too
        self.pod_name = "%s-%s" % (ds["metadata"]["name"], secrets.token_hex(3)[:5])
        self.env = [("PATH", IMAGE_PATH), ("HOSTNAME", self.pod_name)] + \
            resolve_env(objs, self.c, node)
        self.volumes = {v["name"]: v for v in self.pod["volumes"]}
        self.configmap_dir = None   # the kubelet's copy of the ConfigMap volume

    def arg(self, name):
        """The value of --name=VALUE in the manifest's arguments."""
        for a in self.argv:
            if a.startswith("--%s=" % name):
                return a.split("=", 1)[1]
        return None

    # -- the root
    def _build(self):
        self.dir = tempfile.mkdtemp(prefix="pod.", dir=REG.tmp())
        self.root = os.path.join(self.dir, "rootfs")
        self.kubelet = os.path.join(self.dir, "kubelet")
        self.out_path = os.path.join(self.dir, "stdout")
        self.log_path = os.path.join(self.dir, "stderr")
        self.script = os.path.join(self.dir, "runtime.sh")
        os.makedirs(self.root)
        sh = ["set -eu", "R=%s" % shlex.quote(self.root)]
        m = sh.append

        # the image: /usr from the host (Debian 12, the runtime stage's
        # release) with the Containerfile's files over it, merged-/usr links
        stage = os.path.join(self.dir, "image-usr")
        for dest, here in containerfile_files().items():
            assert dest.startswith("/usr/"), "Containerfile copies %s outside /usr" % dest
            assert os.path.exists(here), "%s (for the image's %s) missing: run make" % (here, dest)
            p = os.path.join(stage, dest[len("/usr/"):])
            os.makedirs(os.path.dirname(p), exist_ok=True)
            shutil.copy2(here, p)
        assert self.argv[0] in containerfile_files(), \
            "the DaemonSet runs %s, which the Containerfile does not install" % self.argv[0]
        for d in ("usr", "etc", "proc", "sys", "dev", "run", "tmp", "var/lib", "root"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        for link in ("bin", "sbin", "lib", "lib64"):
            os.symlink("usr/" + link, os.path.join(self.root, link))
        for f in ("ld.so.cache", "nsswitch.conf", "passwd", "group", "ssl/openssl.cnf"):
            os.makedirs(os.path.dirname(os.path.join(self.root, "etc", f)), exist_ok=True)
            shutil.copy2(os.path.join("/etc", f), os.path.join(self.root, "etc", f))
        # what the kubelet writes into every pod: /etc/hosts (with a
        # hostAliases entry for the aggregator's Service), resolv.conf,
        # hostname
        host, _ = self.arg("aggregator").rsplit(":", 1)
        files = {"hosts": "127.0.0.1\tlocalhost\n%s\t%s\n# hostAliases\n%s\t%s\n"
                          % (self.pod_ip, self.pod_name, self.aggregator_ip, host),
                 "resolv.conf": "search wacht.svc.cluster.local svc.cluster.local cluster.local\n"
                                "nameserver 127.0.0.1\noptions ndots:5\n",
                 "hostname": self.pod_name + "\n"}
        for f, text in files.items():
            with open(os.path.join(self.root, "etc", f), "w") as fh:
                fh.write(text)

        m("hostname %s" % self.pod_name)
        m('mount --bind "$R" "$R"')
        m('mount -t overlay -o ro,lowerdir=%s:/usr overlay "$R/usr"' % shlex.quote(stage))
        m('mount -t proc -o nosuid,nodev,noexec proc "$R/proc"')
        m('mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"')
        m('mount -t tmpfs -o nosuid,mode=755,size=65536k tmpfs "$R/dev"')
        for name, (major, minor) in (("null", (1, 3)), ("zero", (1, 5)), ("full", (1, 7)),
                                     ("random", (1, 8)), ("urandom", (1, 9)), ("tty", (5, 0))):
            m('mknod -m 666 "$R/dev/%s" c %d %d' % (name, major, minor))
        m('ln -s /proc/self/fd "$R/dev/fd"')
        for i, name in enumerate(("stdin", "stdout", "stderr")):
            m('ln -s /proc/self/fd/%d "$R/dev/%s"' % (i, name))
        m('mkdir "$R/dev/shm" && mount -t tmpfs -o nosuid,nodev,noexec,size=65536k shm "$R/dev/shm"')
        m('touch "$R/dev/termination-log"')

        # the volumes, parents first (as containerd and CRI-O sort them)
        self.hostpath_standins = {}
        for vm in sorted(self.c.get("volumeMounts", []), key=lambda v: v["mountPath"].count("/")):
            self._mount(vm, m)
        for p in MASKED:
            m('if [ -d "$R%s" ]; then mount -t tmpfs -o ro tmpfs "$R%s"; '
              'elif [ -e "$R%s" ]; then mount --bind "$R/dev/null" "$R%s"; fi' % (p, p, p, p))
        for p in READONLY:
            m('if [ -e "$R%s" ]; then mount --bind "$R%s" "$R%s" && '
              'mount -o remount,bind,ro "$R%s"; fi' % (p, p, p, p))
        if self.c.get("securityContext", {}).get("readOnlyRootFilesystem"):
            m('mount -o remount,bind,ro "$R"')
        # pivot_root as runc does, and the process as the manifest says
        m('cd "$R" && pivot_root . . && umount -l . && cd /')
        sc = self.c.get("securityContext", {})
        caps = sc.get("capabilities", {})
        assert caps.get("drop") == ["ALL"], "the test reproduces drop: [ALL] plus add"
        self.caps = caps.get("add", [])
        bset = ",".join(["-all"] + ["+" + c.lower() for c in self.caps])
        uid = sc.get("runAsUser", self.pod.get("securityContext", {}).get("runAsUser"))
        assert uid == 0, "the sensor runs as root (runAsUser: 0)"
        setpriv = ["setpriv", "--reuid=0", "--regid=0", "--clear-groups", "--inh-caps=-all",
                   "--bounding-set=" + bset]
        if sc.get("allowPrivilegeEscalation") is False:
            setpriv.append("--no-new-privs")
        m("exec env -i %s %s -- %s" % (
            " ".join(shlex.quote("%s=%s" % kv) for kv in self.env),
            " ".join(setpriv), " ".join(shlex.quote(a) for a in self.argv)))
        with open(self.script, "w") as f:
            f.write("\n".join(sh) + "\n")

    def _mount(self, vm, m):
        v = self.volumes[vm["name"]]
        dst = '"$R%s"' % vm["mountPath"]
        ro = vm.get("readOnly", False)
        if not vm["mountPath"].startswith(("/sys/", "/proc/", "/dev/")):
            os.makedirs(self.root + vm["mountPath"], exist_ok=True)
        prop = {"HostToContainer": "--make-rslave", "Bidirectional": "--make-rshared"}.get(
            vm.get("mountPropagation"), "--make-rprivate")
        if "hostPath" in v:
            hp = v["hostPath"]
            src = hp["path"]
            if not ro or not os.path.isdir(src):
                assert ro or hp.get("type") in ("DirectoryOrCreate", None), vm
                assert os.path.isdir(src) or hp.get("type") == "DirectoryOrCreate", \
                    "hostPath %s (type %s) does not exist here: the kubelet would not start the pod" \
                    % (src, hp.get("type"))
                # see the top of this file: written or missing here
                stand = os.path.join(self.dir, "node" + src)
                os.makedirs(stand, exist_ok=True)
                self.hostpath_standins[src] = stand
                src = stand
            m('mount --rbind %s %s' % (shlex.quote(src), dst))
        elif "configMap" in v or "secret" in v:
            kind = "configmap" if "configMap" in v else "secret"
            src = os.path.join(self.kubelet, "volumes", "kubernetes.io~" + kind, v["name"])
            if kind == "configmap":
                cm = find(self.objs, "ConfigMap", v["configMap"]["name"])
                self.configmap_mode = v["configMap"].get("defaultMode", 0o644)
                self.configmap = cm
                self.configmap_dir = src
                atomic_write(src, cm["data"], self.configmap_mode)
            else:
                atomic_write(src, self.secret_payload(v), v["secret"].get("defaultMode", 0o644))
            m('mount --bind %s %s' % (shlex.quote(src), dst))
        elif "emptyDir" in v:
            ed = v["emptyDir"]
            assert ed.get("medium") == "Memory", "emptyDir %s on disk not reproduced" % vm["name"]
            size = ed.get("sizeLimit", "50%").replace("Mi", "m").replace("Gi", "g")
            m('mount -t tmpfs -o nosuid,nodev,size=%s tmpfs %s' % (size, dst))
        else:
            raise AssertionError("volume %s: %s not reproduced" % (vm["name"], list(v)))
        if ro:
            m('mount -o remount,bind,ro %s' % dst)
        m('mount %s %s' % (prop, dst))

    def secret_payload(self, v):
        """The Secret's keys, each with the TLS material the argument that
        names it wants (secret.yaml holds placeholders)."""
        sec = find(self.objs, "Secret", v["secret"]["secretName"])
        mount = next(m["mountPath"] for m in self.c["volumeMounts"] if m["name"] == v["name"])
        want = {"tls-ca": self.pki["ca"], "tls-cert": self.pki["client_crt"],
                "tls-key": self.pki["client_key"]}
        payload = {}
        for key in list(sec.get("stringData", {})) + list(sec.get("data", {})):
            path = os.path.join(mount, key)
            flag = next((f for f in want if self.arg(f) == path), None)
            assert flag, "Secret %s key %s: no --tls-* argument names %s" % (
                sec["metadata"]["name"], key, path)
            with open(want[flag], "rb") as f:
                payload[key] = f.read()
        return payload

    # -- lifecycle
    def start(self):
        require_sensor()
        self._build()
        with open(self.out_path, "wb") as out, open(self.log_path, "wb") as err:
            self.proc = subprocess.Popen(
                ["nsenter", "--net=" + self.netns.path, "--", "unshare", "--mount", "--uts",
                 "--ipc", "--propagation", "slave", "--", "/bin/sh", self.script],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
                env={"PATH": IMAGE_PATH})
        REG.sensors.append(self)
        track_pid(self.proc.pid, "wacht-sensor (DaemonSet pod)")
        return self

    def http(self, path, probe=None, timeout=3):
        """(status, content type, body) of GET path on the port the probe
        names, at the pod's IP (where the kubelet probes)."""
        port = probe_port(self.c, probe or "readinessProbe")
        try:
            with urllib.request.urlopen("http://%s:%d%s" % (self.pod_ip, port, path),
                                        timeout=timeout) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def wait_probe(self, probe, timeout):
        path = self.c[probe]["httpGet"]["path"]
        deadline = time.monotonic() + timeout
        last = None
        while True:
            self._check_alive()
            try:
                last = self.http(path, probe)
                if last[0] == 200:
                    return last
            except (urllib.error.URLError, ConnectionError, OSError) as e:
                last = e
            if time.monotonic() > deadline:
                raise AssertionError("%s %s not 200 within %ds (last: %r)\n%s"
                                     % (probe, path, timeout, last, self.log_tail()))
            time.sleep(0.1)

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


# ---------------------------------------------------------------------------

def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(l.split(":\t", 1) for l in f.read().splitlines() if ":\t" in l)


def bpf_map_bytes(pid):
    """memlock of the BPF maps the process holds (its map fds' fdinfo)."""
    maps = {}
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                info = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        except OSError:
            continue
        if "map_id" in info and "memlock" in info:
            maps[int(info["map_id"])] = int(info["memlock"])
    return sum(maps.values())


def own_bounding_set():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    raise AssertionError("no CapBnd in /proc/self/status")


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line[len(series) + 1:])
    return None


def monitored_file(rules_text):
    """The first exact-path monitor_change filter of a rule file, and the
    rule file with that filter replaced by another path."""
    docs = list(yaml.safe_load_all(rules_text))
    for d in docs:
        for r in (d or {}).get("spec", {}).get("file", []):
            if r.get("behavior") == "monitor_change" and "*" not in r["filter"]:
                return docs, r
    raise AssertionError("the rules ConfigMap has no exact-path monitor_change rule")


def test_daemonset_pod_ready_metrics_finding_and_configmap_reload():
    objs = load_kustomization()
    node = unique("node")
    tag = secrets.token_hex(2)
    subnet = "10.%d.%d" % (214 + secrets.randbelow(8), secrets.randbelow(250))
    agg_ip, pod_ip = subnet + ".1", subnet + ".2"
    ns = Netns(unique("pod"))
    agg = None
    ns.create()
    try:
        veth_to_host(ns, host_addrs=(agg_ip + "/30",), ns_addrs=(pod_ip + "/30",))
        pod = DaemonSetPod(objs, node, ns, pod_ip, agg_ip)
        host, port = pod.arg("aggregator").rsplit(":", 1)
        pod.pki = make_pki(os.path.join(REG.tmp(), "pki-" + tag), host)
        agg = ServiceAggregator(pod.pki, os.path.join(REG.tmp(), "agg-%s.db" % tag),
                                agg_ip, int(port)).start()

        cm_key = next(iter(find(objs, "ConfigMap", "wacht-rules")["data"]))
        docs, rule = monitored_file(find(objs, "ConfigMap", "wacht-rules")["data"][cm_key])
        flagged = rule["filter"]
        other = "/etc/wacht-%s" % tag

        with pod:
            # the kubelet's order: the startup probe (within its budget,
            # periodSeconds x failureThreshold), then readiness, liveness
            first = "startupProbe" if "startupProbe" in pod.c else "readinessProbe"
            sp = pod.c[first]
            pod.wait_probe(first, sp.get("periodSeconds", 10) * sp.get("failureThreshold", 3))
            _, ctype, body = pod.http(pod.c["readinessProbe"]["httpGet"]["path"], "readinessProbe")
            assert ctype == "application/json"
            m = re.fullmatch(r'\{"status":"ready","programs":(\d+)\}\n', body)
            assert m and int(m.group(1)) > 0, body
            assert pod.http(pod.c["livenessProbe"]["httpGet"]["path"], "livenessProbe") == \
                (200, "application/json", '{"status":"alive"}\n')
            pod.links = links_of_pid(pod.proc.pid)

            # it is the manifest's process: command, arguments, environment,
            # capabilities, no_new_privs, and its root is the pod's
            with open("/proc/%d/cmdline" % pod.proc.pid, "rb") as f:
                assert f.read().split(b"\0")[:-1] == [a.encode() for a in pod.argv]
            with open("/proc/%d/environ" % pod.proc.pid, "rb") as f:
                assert f.read().split(b"\0")[:-1] == [("%s=%s" % kv).encode() for kv in pod.env]
            status = proc_status(pod.proc.pid)
            # exactly the manifest's capabilities, less those this
            # machine's bounding set lacks (a test cannot grant them)
            want = sum(1 << CAP_BITS[c] for c in pod.caps) & own_bounding_set()
            assert int(status["CapEff"], 16) == want and int(status["CapBnd"], 16) == want, \
                (status["CapEff"], status["CapBnd"], "%x" % want)
            assert status["NoNewPrivs"].strip() == "1"
            assert os.readlink("/proc/%d/root" % pod.proc.pid) == "/"
            assert not os.path.exists("/proc/%d/root%s" % (pod.proc.pid, REG.tmp())), \
                "the pod sees the host's files"

            # a pod doing what the ConfigMap's rules flag
            c = Container(args=CONTROL_INIT)
            with c:
                c.start()
                c.init_run("echo x > %s; echo '* * * * * root true' >> %s" % (other, flagged))
                spec = {"kind": "finding", "name": FILE_MODIFIED, "node": node,
                        "container": {"id": c.id, "pod": c.pod, "namespace": c.namespace},
                        "file": {"path": flagged}}
                f = pod.wait_finding(spec, timeout=15, what="%s on %s" % (FILE_MODIFIED, flagged))
                assert f["action"] == "alert" and f["rule"]["name"] == flagged, f
                assert "id" in f, "the finding was not given to the aggregator: %s" % f
                pod.assert_no_finding({"kind": "finding", "container": {"id": c.id},
                                       "file": {"path": other}}, "%s is not watched yet" % other)
                series = 'wacht_findings_total{name="%s",action="alert"}' % FILE_MODIFIED

                def scraped(n):
                    st, ct, text = pod.http("/metrics")
                    assert st == 200 and ct.startswith("text/plain; version=0.0.4"), (st, ct)
                    return text if metric(text, series) == n else None
                text = wait(lambda: scraped(len(pod.findings({"name": FILE_MODIFIED}))),
                            "%s in /metrics" % series)
                for name, kind in (("wacht_events_total", "counter"),
                                   ("wacht_events_dropped_total", "counter"),
                                   ("wacht_findings_total", "counter"),
                                   ("wacht_enforcement_total", "counter"),
                                   ("wacht_spool_batches", "gauge"), ("wacht_spool_bytes", "gauge"),
                                   ("wacht_aggregator_connected", "gauge"),
                                   ("wacht_rule_reloads_total", "counter")):
                    assert "# TYPE %s %s\n" % (name, kind) in text, "%s missing:\n%s" % (name, text)
                assert metric(text, "wacht_rule_reloads_total") == 0
                wait(lambda: metric(pod.http("/metrics")[2], "wacht_aggregator_connected") == 1,
                     "connected to the aggregator through the Service name")

                # the ConfigMap changes: its rule now watches `other`
                # instead, under a new key (the old key goes); the kubelet
                # swaps ..data, adds the new key's symlink and, a moment
                # later (longer than the sensor's 1 s tick, which applies
                # pending reloads), removes the old key's, which dangles
                # meanwhile
                rule["filter"] = other
                new_key = "wacht-%s.yaml" % tag
                mark = len(pod.log_text())
                atomic_write(pod.configmap_dir, {new_key: yaml.safe_dump_all(docs, sort_keys=False)},
                             pod.configmap_mode, pause=1.5)
                assert sorted(os.listdir(pod.configmap_dir))[1:] == ["..data", new_key], \
                    os.listdir(pod.configmap_dir)
                wait(lambda: re.search(r"wacht-sensor: rules loaded \(rule files changed\): "
                                       r"\d+ groups", pod.log_text()[mark:]),
                     "the reload's log line", timeout=10)
                assert "rules not loaded" not in pod.log_text(), \
                    "a reload failed while the kubelet updated the ConfigMap\n" + pod.log_tail()
                # the same writes: now only `other` is reported
                n_before = len(pod.findings({"name": FILE_MODIFIED, "container": {"id": c.id}}))
                c.init_run("echo x >> %s; echo y > %s" % (flagged, other))
                f = pod.wait_finding(dict(spec, file={"path": other}), timeout=15,
                                     what="%s on %s after the reload" % (FILE_MODIFIED, other))
                assert f["rule"]["name"] == other, f
                assert f["rule"]["id"].startswith("%s/%s:" % (pod.arg("rules"), new_key)), f
                got = pod.findings({"name": FILE_MODIFIED, "container": {"id": c.id}})
                assert [x["file"]["path"] for x in got[n_before:]] == [other], got[n_before:]
                text = wait(lambda: scraped(len(pod.findings({"name": FILE_MODIFIED}))),
                            "%s in /metrics after the reload" % series)
                # every reload the log reports is counted (one per batch of
                # inotify events the 1 s tick saw), none failed
                logged = lambda: len(re.findall(r"rules loaded \(rule files changed\)",
                                                pod.log_text()))
                text = wait(lambda: (lambda t: t if metric(t, "wacht_rule_reloads_total") ==
                                     logged() else None)(pod.http("/metrics")[2]),
                            "wacht_rule_reloads_total equal to the reloads logged")
                assert metric(text, "wacht_rule_reload_failures_total") == 0
                assert "rules not loaded" not in pod.log_text(), pod.log_tail()
                # the aggregator stored what the pod printed
                wait_all_stored(agg.store, [pod])
            peak = proc_status(pod.proc.pid)["VmHWM"].strip()
            maps = bpf_map_bytes(pod.proc.pid)
            stats = pod.stop()
            assert stats["final"] is True
            # what resources.limits.memory must hold (bench/RESULTS.md
            # measures the sensor without --aggregator and health)
            print("  sensor pod: %s programs attached, peak RSS %s, BPF maps %.1f MiB (charged to "
                  "the pod's memory cgroup); hostPath volumes given a fresh directory (written, or "
                  "missing here): %s" % (m.group(1), peak, maps / 1048576.0,
                                         ", ".join(sorted(pod.hostpath_standins))))
    finally:
        if agg:
            agg.cleanup()
        ns.delete()


def wait(cond, what, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %ss" % (what, timeout))
        time.sleep(0.1)
