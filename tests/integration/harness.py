# Integration test harness: real runc containers, network namespaces and a
# real wacht-sensor process, each owned by a context manager that always
# cleans up, plus the checker the runner uses to prove nothing leaked.
#
# Python 3 standard library only (tests must run on a fresh Debian 12).
# Needs root, runc, iproute2, busybox-static and bpftool.

import ctypes
import json
import os
import platform
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SENSOR_BIN = os.environ.get("WACHT_SENSOR",
                            os.path.join(REPO, "build", "wacht-sensor"))
BUSYBOX = os.environ.get("WACHT_BUSYBOX", "/bin/busybox")
RUNC = "runc"
# runc's default state root: the sensor finds containers through
# /run/runc/<id>/state.json, so tests must not use a private --root.
RUNC_ROOT = "/run/runc"
CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP2 = os.environ.get("WACHT_CGROUP2", "/sys/fs/cgroup/unified")
NETNS_DIR = "/var/run/netns"

# Every object a test creates is named with this prefix so a leak is
# attributable to this suite (other people may run containers on the host).
PREFIX = "wit"

# Kubernetes-looking defaults for pod annotations.
DEFAULT_IMAGE = "docker.io/library/busybox:1.35.0"
DEFAULT_NAMESPACE = "wit-ns"

# The capability set Docker/containerd give a container by default, so
# chown/chmod/mknod behave as in a real pod.
DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
    "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP",
    "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
]


class Skip(Exception):
    """Raised by a test that cannot run here (the runner reports SKIP)."""


# ---------------------------------------------------------------------------
# Session state: what this process created, so the checker can find leaks.

class _Registry:
    def __init__(self):
        self.tmp_root = None
        self.containers = {}    # runc id -> Container (alive objects)
        self.container_ids = set()  # every runc id ever created
        self.cgroup_paths = set()   # cgroup paths (relative) ever created
        self.netns = set()      # netns names ever created
        self.host_links = set() # host-side veth names ever created
        self.pids = {}          # pid -> (starttime, description)
        self.sensors = []       # Sensor objects ever started

    def tmp(self):
        if self.tmp_root is None:
            self.tmp_root = tempfile.mkdtemp(prefix="wacht-it-")
        return self.tmp_root


REG = _Registry()


def unique(tag=""):
    """A short unique name: wit-<tag>-<6 hex>."""
    tag = "".join(c for c in tag if c.isalnum())[:12]
    return "%s-%s%s" % (PREFIX, tag + "-" if tag else "", secrets.token_hex(3))


def run(argv, check=True, timeout=30, input=None, **kw):
    """Run argv, return (rc, stdout, stderr) as text; raise on rc != 0
    when check is set."""
    try:
        p = subprocess.run(argv, input=input, capture_output=True, text=True,
                           timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("%s: timed out after %ss (stdout %r, stderr %r)"
                             % (" ".join(argv), timeout, e.stdout, e.stderr))
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d: %s%s" % (
            " ".join(argv), p.returncode, p.stderr.strip(),
            (" (stdout: %s)" % p.stdout.strip()) if p.stdout.strip() else ""))
    return p.returncode, p.stdout, p.stderr


def _proc_starttime(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: fields start after the last ')'
    fields = data[data.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None     # a zombie is gone for our purposes
    return int(fields[19])


def track_pid(pid, what):
    st = _proc_starttime(pid)
    if st is not None:
        REG.pids[pid] = (st, what)


def pid_alive(pid, starttime=None):
    st = _proc_starttime(pid)
    return st is not None and (starttime is None or st == starttime)


# ---------------------------------------------------------------------------
# Environment probes.

def _bpf_syscall_nr():
    return {"x86_64": 321, "aarch64": 280, "ppc64le": 361,
            "s390x": 351, "riscv64": 280}.get(platform.machine())


def bpf_unusable_reason():
    """None when this process can load BPF programs, else why not."""
    if os.geteuid() != 0:
        return "not root"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "kernel has no BTF (/sys/kernel/btf/vmlinux missing)"
    nr = _bpf_syscall_nr()
    if nr is None:
        return "unknown bpf(2) syscall number on %s" % platform.machine()
    # Load "r0 = 0; exit" as a socket filter: the smallest real proof that
    # bpf(2) works here (not disabled by seccomp, lockdown or sysctl).
    insns = struct.pack("<BBhi", 0xb7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    ibuf = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(b"GPL")
    attr = struct.pack("<IIQQIIQI", 1, 2, ctypes.addressof(ibuf),
                       ctypes.addressof(lic), 0, 0, 0, 0)
    attr = ctypes.create_string_buffer(attr.ljust(128, b"\0"), 128)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(nr), ctypes.c_long(5), attr, ctypes.c_long(128))
    if fd < 0:
        return "bpf(BPF_PROG_LOAD) failed: %s" % os.strerror(ctypes.get_errno())
    os.close(fd)
    return None


def env_unusable_reason():
    """None when the integration tests can run here, else why not."""
    r = bpf_unusable_reason()
    if r:
        return r
    for tool in ("runc", "ip", "bpftool"):
        if shutil.which(tool) is None:
            return "%s not installed" % tool
    if not os.access(BUSYBOX, os.X_OK):
        return "%s missing (apt-get install busybox-static)" % BUSYBOX
    if not os.path.isdir(CGROUP2) or not os.path.exists(
            os.path.join(CGROUP2, "cgroup.procs")):
        return "no cgroup v2 hierarchy at %s" % CGROUP2
    return None


def require_sensor():
    if not os.access(SENSOR_BIN, os.X_OK):
        raise AssertionError("%s not found: build it with `make` in %s"
                             % (SENSOR_BIN, REPO))
    return SENSOR_BIN


# ---------------------------------------------------------------------------
# Containers.

_APPLETS = None


def busybox_applets():
    global _APPLETS
    if _APPLETS is None:
        _, out, _ = run([BUSYBOX, "--list"])
        _APPLETS = [a for a in out.split() if a and "/" not in a
                    and a not in ("busybox", "[", "[[")]
        _APPLETS += ["[", "[["]
    return _APPLETS


def build_rootfs(root, hostname="wit"):
    """A busybox-static root: /bin/busybox, a symlink per applet in /bin,
    /etc/{passwd,group,hostname,hosts}, /tmp, /root, /www."""
    for d in ("bin", "etc", "tmp", "root", "www", "proc", "sys", "dev", "var"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(root, "bin", "busybox"))
    for a in busybox_applets():
        os.symlink("busybox", os.path.join(root, "bin", a))
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"
                      "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        "etc/group": "root:x:0:\nnogroup:x:65534:\n",
        "etc/hostname": hostname + "\n",
        "etc/hosts": "127.0.0.1 localhost\n::1 localhost\n",
        "www/index.html": "wacht\n",
    }
    for path, text in files.items():
        with open(os.path.join(root, path), "w") as f:
            f.write(text)


def kubepods_cgroup(pod_uid, cid, qos="besteffort"):
    """The cgroupfs path kubelet + containerd give a container:
    /kubepods/<qos>/pod<uid>/<64-hex container id>."""
    return "/kubepods/%s/pod%s/%s" % (qos, pod_uid, cid)


def _cgroup_hierarchies():
    """Mount points of every cgroup hierarchy (v1 controllers and v2)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype = right.split()[0]
            if fstype in ("cgroup", "cgroup2"):
                out.append(left.split()[4])
    return out


# The init of a container that takes commands from the harness
# (Container.init_run): reads "N COMMAND" lines from CONTROL_FIFO and runs
# each in a subshell, output in /tmp/.wit-out.N, exit status in
# /tmp/.wit-rc.N. Only shell builtins: the loop itself execs nothing.
CONTROL_FIFO = "/.wit-ctl"
CONTROL_INIT = ["/bin/sh", "-c",
                "while :; do read -r n cmd < %s || continue; "
                "(eval \"$cmd\") >/tmp/.wit-out.$n 2>&1 </dev/null; "
                "echo $? >/tmp/.wit-rc.$n; done"
                % CONTROL_FIFO]


class Container:
    """A runc container with a busybox rootfs that looks like a pod.

    annotations: merged over the default Kubernetes annotations (pass
    k8s=False for a bare runc container without any). cgroups_path: OCI
    linux.cgroupsPath. netns: a Netns (or a path) the container joins.
    args: the init process (default: sleep 3600).
    user: (uid, gid) the container's processes run as (OCI process.user;
    `runc exec` inherits it; exec(user="0:0") overrides). no_new_privileges:
    OCI process.noNewPrivileges (None keeps runc's default, true; False lets
    setuid binaries raise privileges). overlay: mount an overlay (lowerdir =
    the image, upperdir, workdir) onto the bundle's rootfs before runc runs
    it, as containerd does; delete() unmounts it.

    Before start(), prepare() builds the bundle without running anything:
    files put under image_root then are part of the image (the overlay's
    lower layer). CONTROL_INIT as args makes the init a shell that runs
    commands given by init_run(): processes descending from the root
    process, unlike exec()'s.
    """

    def __init__(self, name=None, annotations=None, cgroups_path=None,
                 netns=None, args=None, k8s=True, pod=None, namespace=None,
                 pod_uid=None, container_name=None, image=None, env=None,
                 user=None, no_new_privileges=None, overlay=False):
        self.id = name or unique("c")
        self.pod = pod or (self.id + "-pod")
        self.namespace = namespace or DEFAULT_NAMESPACE
        self.pod_uid = pod_uid or str(uuid.uuid4())
        self.container_name = container_name or "app"
        self.image = image or DEFAULT_IMAGE
        self.annotations = {}
        if k8s:
            self.annotations = {
                "io.kubernetes.pod.name": self.pod,
                "io.kubernetes.pod.namespace": self.namespace,
                "io.kubernetes.pod.uid": self.pod_uid,
                "io.kubernetes.container.name": self.container_name,
                "io.kubernetes.cri-o.ImageName": self.image,
                "io.kubernetes.cri.image-name": self.image,
            }
        self.annotations.update(annotations or {})
        self.cgroups_path = cgroups_path
        self.netns = netns
        self.args = list(args or ["sleep", "3600"])
        self.env = list(env or [])
        self.user = tuple(user) if user is not None else None
        self.no_new_privileges = no_new_privileges
        self.overlay = overlay
        self._mounted = None    # the overlay mount point while mounted
        self._ctl_seq = 0
        self.bundle = None
        self._pid = None
        self._cgroup = None
        self._created_cgroup_dirs = []

    # -- bundle
    def _write_bundle(self, args):
        if self.bundle is None:
            self.bundle = tempfile.mkdtemp(prefix=self.id[:40] + ".", dir=REG.tmp())
            build_rootfs(self.image_root, hostname=self.pod[:63])
            if list(args) == CONTROL_INIT:
                fifo = os.path.join(self.image_root, CONTROL_FIFO.lstrip("/"))
                os.mkfifo(fifo)
                os.chmod(fifo, 0o666)   # whatever user the init runs as
            if self.overlay:
                for d in ("upper", "work", "rootfs"):
                    os.makedirs(os.path.join(self.bundle, d), exist_ok=True)
            run([RUNC, "spec"], cwd=self.bundle)
        with open(os.path.join(self.bundle, "config.json")) as f:
            spec = json.load(f)
        proc = spec["process"]
        proc["terminal"] = False
        proc["args"] = list(args)
        proc["env"] = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                       "HOME=/root"] + self.env
        proc["capabilities"] = {k: list(DEFAULT_CAPS) for k in
                                ("bounding", "effective", "permitted")}
        if self.user is not None:
            proc["user"] = {"uid": self.user[0], "gid": self.user[1]}
        if self.no_new_privileges is not None:
            proc["noNewPrivileges"] = bool(self.no_new_privileges)
        spec["root"] = {"path": "rootfs", "readonly": False}
        spec["hostname"] = self.pod[:63]
        spec["annotations"] = dict(self.annotations)
        linux = spec.setdefault("linux", {})
        if self.cgroups_path:
            linux["cgroupsPath"] = self.cgroups_path
        else:
            linux.pop("cgroupsPath", None)
        nss = [n for n in linux.get("namespaces", []) if n["type"] != "network"]
        if self.netns is not None:
            path = self.netns.path if isinstance(self.netns, Netns) else self.netns
            nss.append({"type": "network", "path": path})
        else:
            nss.append({"type": "network"})
        linux["namespaces"] = nss
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(spec, f, indent=1)

    @property
    def image_root(self):
        """Where the image's files are: the overlay's lower layer, or the
        rootfs itself without overlay. Valid after prepare()."""
        if self.bundle is None:
            return None
        return os.path.join(self.bundle, "image" if self.overlay else "rootfs")

    @property
    def rootfs(self):
        """The container's root as the host sees it (the merged overlay
        while mounted)."""
        return os.path.join(self.bundle, "rootfs") if self.bundle else None

    @property
    def upper(self):
        """The overlay's upper layer (None without overlay)."""
        return os.path.join(self.bundle, "upper") if self.bundle and self.overlay else None

    def prepare(self):
        """Build the bundle (rootfs, config.json) without running anything,
        so a test can add files to image_root first. Returns self."""
        self._write_bundle(self.args)
        self._register()    # so delete() removes the bundle
        return self

    def _mount_overlay(self):
        if not self.overlay or self._mounted:
            return
        opts = "lowerdir=%s,upperdir=%s,workdir=%s" % (
            self.image_root, self.upper, os.path.join(self.bundle, "work"))
        run(["mount", "-t", "overlay", "overlay", "-o", opts, self.rootfs])
        self._mounted = self.rootfs

    def _umount_overlay(self):
        if not self._mounted:
            return
        for _ in range(20):
            rc, _, _ = run(["umount", self._mounted], check=False)
            if rc == 0 or not os.path.ismount(self._mounted):
                break
            time.sleep(0.05)
        else:
            # still busy: detach it so nothing below the bundle is reachable
            # through it when the bundle is removed
            run(["umount", "-l", self._mounted], check=False)
        self._mounted = None

    def init_run(self, cmd, timeout=10, check=True):
        """Make a CONTROL_INIT container's root process run the shell
        command cmd (in a subshell, so its processes descend from the root
        process). Returns (rc, output) once it finished."""
        self._ctl_seq += 1
        n = self._ctl_seq
        fifo = os.path.join(self.rootfs, CONTROL_FIFO.lstrip("/"))
        rcfile = os.path.join(self.rootfs, "tmp", ".wit-rc.%d" % n)
        outfile = os.path.join(self.rootfs, "tmp", ".wit-out.%d" % n)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:
                # ENXIO: the init is not (yet) reading
                if time.monotonic() > deadline:
                    raise AssertionError("init of %s does not read %s: %s\n%s"
                                         % (self.id, CONTROL_FIFO, e, self.log()))
                time.sleep(0.02)
        try:
            line = "%d %s\n" % (n, cmd.replace("\n", " "))
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        while not os.path.exists(rcfile) or os.path.getsize(rcfile) == 0:
            if time.monotonic() > deadline:
                raise AssertionError("init of %s did not finish %r within %ss"
                                     % (self.id, cmd, timeout))
            time.sleep(0.02)
        with open(rcfile) as f:
            rc = int(f.read().strip())
        with open(outfile, errors="replace") as f:
            out = f.read()
        if check and rc != 0:
            raise AssertionError("init of %s: %r: exit %d: %s" % (self.id, cmd, rc, out))
        return rc, out

    @property
    def expected_cgroup(self):
        """The cgroup v2 path runc puts the container in."""
        return self.cgroups_path or "/" + self.id

    def _register(self):
        REG.containers[self.id] = self
        REG.container_ids.add(self.id)
        rel = self.expected_cgroup
        REG.cgroup_paths.add(rel)
        # Remember which parent directories do not exist yet: runc creates
        # them (mkdir -p) but only removes the leaf, so we remove the rest.
        parts = [p for p in rel.strip("/").split("/") if p][:-1]
        self._created_cgroup_dirs = []
        for hier in _cgroup_hierarchies():
            for i in range(len(parts), 0, -1):
                d = os.path.join(hier, *parts[:i])
                if not os.path.exists(d):
                    self._created_cgroup_dirs.append(d)
        for d in self._created_cgroup_dirs:
            REG.cgroup_paths.add(d)

    # -- lifecycle
    def start(self):
        """runc run -d: the init process (args) keeps running."""
        self._write_bundle(self.args)
        self._register()
        self._mount_overlay()
        log = open(os.path.join(self.bundle, "init.log"), "wb")
        try:
            p = subprocess.run([RUNC, "run", "-d", "--bundle", self.bundle,
                                "--pid-file", os.path.join(self.bundle, "pid"),
                                self.id],
                               stdin=subprocess.DEVNULL, stdout=log,
                               stderr=log, timeout=30)
        finally:
            log.close()
        if p.returncode != 0:
            raise AssertionError("runc run -d %s failed (%d): %s" % (
                self.id, p.returncode, self.log()))
        self._pid = self.state()["pid"]
        track_pid(self._pid, "init of container %s" % self.id)
        return self

    def run_once(self, argv, timeout=30):
        """Run a container whose only process is argv, in the foreground:
        `runc run` returns when it exits and deletes the container.
        Returns (rc, stdout, stderr)."""
        self._write_bundle(argv)
        self._register()
        self._mount_overlay()
        return run([RUNC, "run", "--bundle", self.bundle, self.id],
                   check=False, timeout=timeout, stdin=subprocess.DEVNULL)

    def state(self):
        _, out, _ = run([RUNC, "state", self.id])
        return json.loads(out)

    def pid(self):
        return self._pid

    def log(self):
        try:
            with open(os.path.join(self.bundle, "init.log"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    @property
    def cgroup(self):
        """The container's cgroup v2 path as /proc/PID/cgroup shows it."""
        if self._cgroup is None and self._pid:
            with open("/proc/%d/cgroup" % self._pid) as f:
                for line in f:
                    if line.startswith("0::"):
                        self._cgroup = line[3:].strip()
        return self._cgroup or self.expected_cgroup

    @property
    def cgroup_id(self):
        """cgroup v2 id = inode number of the cgroup's directory."""
        return os.stat(CGROUP2 + self.cgroup).st_ino

    def exec(self, argv, check=True, timeout=30, env=None, cwd=None,
             input=None, user=None):
        """runc exec (what kubectl exec does). Returns (rc, stdout, stderr).
        user: "UID[:GID]" instead of the container's process.user."""
        cmd = [RUNC, "exec"]
        for e in env or []:
            cmd += ["--env", e]
        if cwd:
            cmd += ["--cwd", cwd]
        if user is not None:
            cmd += ["--user", str(user)]
        cmd += [self.id] + list(argv)
        kw = {} if input is not None else {"stdin": subprocess.DEVNULL}
        return run(cmd, check=check, timeout=timeout, input=input, **kw)

    def exec_detached(self, argv):
        """runc exec -d: start argv in the container and return its pid."""
        pidfile = os.path.join(self.bundle, "exec-%s.pid" % secrets.token_hex(3))
        log = open(os.path.join(self.bundle, "init.log"), "ab")
        try:
            p = subprocess.run([RUNC, "exec", "-d", "--pid-file", pidfile,
                                self.id] + list(argv),
                               stdin=subprocess.DEVNULL, stdout=log,
                               stderr=log, timeout=30)
        finally:
            log.close()
        if p.returncode != 0:
            raise AssertionError("runc exec -d %s %s failed: %s"
                                 % (self.id, argv, self.log()))
        with open(pidfile) as f:
            pid = int(f.read().strip())
        track_pid(pid, "exec %s in %s" % (argv, self.id))
        return pid

    def kill(self, sig="KILL"):
        run([RUNC, "kill", self.id, sig], check=False, timeout=10)

    def delete(self):
        """Kill and delete the container, remove cgroup parents we created
        and the bundle. Safe to call more than once."""
        if not REG.containers.get(self.id) is self:
            return
        run([RUNC, "kill", self.id, "KILL"], check=False, timeout=10)
        rc, _, err = run([RUNC, "delete", "-f", self.id], check=False, timeout=20)
        if rc != 0 and "does not exist" not in err and "not exist" not in err:
            # One retry: delete can race with the init still exiting.
            time.sleep(0.2)
            run([RUNC, "delete", "-f", self.id], check=False, timeout=20)
        # Deepest first; rmdir only succeeds on an empty cgroup.
        for d in sorted(self._created_cgroup_dirs, key=len, reverse=True):
            _rmdir_retry(d)
        self._umount_overlay()
        if self.bundle:
            shutil.rmtree(self.bundle, ignore_errors=True)
        del REG.containers[self.id]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.delete()
        return False


def _rmdir_retry(path, tries=20):
    for _ in range(tries):
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------
# Network namespaces.

class Netns:
    """A network namespace with loopback up. Deleting it removes the veth
    ends inside it (and so the pairs)."""

    def __init__(self, name=None):
        self.name = name or unique("n")
        self.path = os.path.join(NETNS_DIR, self.name)
        self._open = False

    def create(self):
        REG.netns.add(self.name)
        run(["ip", "netns", "add", self.name])
        self._open = True
        self.ip("link", "set", "lo", "up")
        return self

    def ip(self, *args, check=True):
        return run(["ip", "-n", self.name] + list(args), check=check)

    def exec(self, argv, check=True, timeout=30):
        return run(["ip", "netns", "exec", self.name] + list(argv),
                   check=check, timeout=timeout)

    def delete(self):
        if not self._open:
            return
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        run(["ip", "netns", "delete", self.name], check=False)
        self._open = False

    def pids(self):
        _, out, _ = run(["ip", "netns", "pids", self.name], check=False)
        return [int(x) for x in out.split()]

    def __enter__(self):
        return self.create()

    def __exit__(self, *exc):
        self.delete()
        return False


def _add_addrs(ns, dev, addrs):
    for a in addrs:
        extra = ["nodad"] if ":" in a else []
        if ns is None:
            run(["ip", "addr", "add", a, "dev", dev] + extra)
        else:
            ns.ip("addr", "add", a, "dev", dev, *extra)


def veth_between(a, b, a_addrs=("10.213.0.1/24", "fd00:213::1/64"),
                 b_addrs=("10.213.0.2/24", "fd00:213::2/64")):
    """A veth pair with one end in netns a and one in netns b, addresses
    assigned (IPv6 with nodad, usable at once) and both ends up.
    Returns (a_dev, b_dev)."""
    tag = secrets.token_hex(3)
    da, db = "wv%sa" % tag, "wv%sb" % tag
    REG.host_links.update((da, db))
    run(["ip", "link", "add", da, "type", "veth", "peer", "name", db])
    try:
        run(["ip", "link", "set", da, "netns", a.name])
        run(["ip", "link", "set", db, "netns", b.name])
    except AssertionError:
        run(["ip", "link", "del", da], check=False)
        raise
    _add_addrs(a, da, a_addrs)
    _add_addrs(b, db, b_addrs)
    a.ip("link", "set", da, "up")
    b.ip("link", "set", db, "up")
    return da, db


def veth_to_host(ns, host_addrs=("10.213.1.1/24",), ns_addrs=("10.213.1.2/24",)):
    """A veth pair between the host and netns ns. The host end is removed
    when the netns is deleted (deleting one end deletes the pair).
    Returns (host_dev, ns_dev)."""
    tag = secrets.token_hex(3)
    dh, dn = "wv%sh" % tag, "wv%sn" % tag
    REG.host_links.update((dh, dn))
    run(["ip", "link", "add", dh, "type", "veth", "peer", "name", dn])
    try:
        run(["ip", "link", "set", dn, "netns", ns.name])
        _add_addrs(None, dh, host_addrs)
        _add_addrs(ns, dn, ns_addrs)
        run(["ip", "link", "set", dh, "up"])
        ns.ip("link", "set", dn, "up")
    except AssertionError:
        run(["ip", "link", "del", dh], check=False)
        raise
    return dh, dn


# ---------------------------------------------------------------------------
# BPF links.

def bpf_links():
    """{link id: bpftool's JSON for it}, or None when bpftool fails."""
    try:
        p = subprocess.run(["bpftool", "-j", "link", "list"], capture_output=True,
                           text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if p.returncode != 0:
        return None
    try:
        return {l["id"]: l for l in json.loads(p.stdout or "[]")}
    except (ValueError, KeyError, TypeError):
        return None


def links_of_pid(pid):
    """Ids of the BPF links process pid holds open, from /proc/PID/fdinfo
    (bpftool's "pids" needs a bpftool built with pid iterators; Debian's
    is not)."""
    ids = set()
    fddir = "/proc/%d/fd" % pid
    try:
        fds = os.listdir(fddir)
    except OSError:
        return ids
    for fd in fds:
        try:
            if os.readlink(os.path.join(fddir, fd)) != "anon_inode:bpf_link":
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    if line.startswith("link_id:"):
                        ids.add(int(line.split()[1]))
        except (OSError, ValueError):
            continue
    return ids


def bpf_link_owners():
    """{link id: [pids holding it open]} over every process."""
    owners = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            for i in links_of_pid(int(d)):
                owners.setdefault(i, []).append(int(d))
    return owners


# ---------------------------------------------------------------------------
# Event matching.

_MISSING = object()


def matches(obj, spec):
    """spec is a callable(obj) -> bool or a nested dict: every key must be
    present with an equal value; dict values match recursively; callable
    values are predicates on the field."""
    if callable(spec):
        return bool(spec(obj))
    if not isinstance(obj, dict):
        return False
    for k, want in spec.items():
        have = obj.get(k, _MISSING)
        if have is _MISSING:
            return False
        if isinstance(want, dict):
            if not matches(have, want):
                return False
        elif callable(want):
            if not want(have):
                return False
        elif have != want:
            return False
    return True


def event_kind(ev):
    """A label for grouping lines in failure dumps."""
    if ev.get("kind") != "event":
        return ev.get("kind", "?")
    if "file" in ev and isinstance(ev["file"], dict):
        return "file:%s" % ev["file"].get("op")
    if "network" in ev and isinstance(ev["network"], dict):
        return "network:%s" % ev["network"].get("op")
    return str(ev.get("event"))


def _spec_kind(spec):
    if isinstance(spec, dict):
        return event_kind(dict(spec, kind="event"))
    return None


def _describe(spec):
    if callable(spec):
        return getattr(spec, "__name__", repr(spec))
    return json.dumps(spec, default=lambda o: "<%s>" % getattr(o, "__name__", "pred"))


# ---------------------------------------------------------------------------
# The sensor.

class Sensor:
    """A running build/wacht-sensor writing JSON lines to a file."""

    def __init__(self, args=(), ready_timeout=30):
        self.args = list(args)
        self.ready_timeout = ready_timeout
        self.proc = None
        self.dir = None
        self.lines = []         # every parsed JSON object, in order
        self.bad_lines = []     # lines that were not JSON
        self._buf = b""
        self._off = 0
        self.links = set()      # ids of the BPF links the sensor held once ready
        self.exit_code = None
        self.final_stats = None

    # -- lifecycle
    def start(self):
        binary = require_sensor()
        self.dir = tempfile.mkdtemp(prefix="sensor.", dir=REG.tmp())
        self.out_path = os.path.join(self.dir, "events.jsonl")
        self.ready_path = os.path.join(self.dir, "ready")
        self.log_path = os.path.join(self.dir, "sensor.log")
        # captured events are printed too (findings alone are the default);
        # learned profiles go to this sensor's own directory unless the
        # test names one
        extra = ["--events"]
        if "--state-dir" not in self.args and "--no-state" not in self.args:
            self.state_dir = os.path.join(self.dir, "state")
            extra += ["--state-dir", self.state_dir]
        cmd = [binary, "--output", self.out_path, "--ready-file",
               self.ready_path] + extra + self.args
        self.cmd = cmd
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log,
                                         start_new_session=True)
        REG.sensors.append(self)
        track_pid(self.proc.pid, "wacht-sensor")
        deadline = time.monotonic() + self.ready_timeout
        while not os.path.exists(self.ready_path):
            if self.proc.poll() is not None:
                raise AssertionError("sensor exited with %d before it was ready: %s\n%s"
                                     % (self.proc.returncode, " ".join(cmd),
                                        self.log_tail(12)))
            if time.monotonic() > deadline:
                self._kill()
                raise AssertionError("sensor not ready within %ds: %s\n%s"
                                     % (self.ready_timeout, " ".join(cmd),
                                        self.log_tail()))
            time.sleep(0.05)
        self.links = links_of_pid(self.proc.pid)
        return self

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal the sensor, require exit 0 within timeout and a stats line
        printed at exit. Returns that stats object."""
        if self.proc is None or self.exit_code is not None:
            return self.final_stats
        self.read()
        n_before = len(self.lines)
        self._check_alive()
        self.proc.send_signal(sig)
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            self.exit_code = self.proc.returncode
            raise AssertionError("sensor did not exit within %ds of %s\n%s"
                                 % (timeout, signal.Signals(sig).name,
                                    self.log_tail()))
        self.read()
        if self.exit_code != 0:
            raise AssertionError("sensor exited %d after %s (want 0)\n%s"
                                 % (self.exit_code, signal.Signals(sig).name,
                                    self.log_tail()))
        stats = [l for l in self.lines[n_before:] if l.get("kind") == "stats"]
        if not stats:
            raise AssertionError("sensor printed no stats line at exit; last lines:\n%s\n%s"
                                 % (self._fmt(self.lines[-5:]), self.log_tail()))
        self.final_stats = stats[-1]
        if self.bad_lines:
            raise AssertionError("sensor wrote %d lines that are not JSON, e.g. %r"
                                 % (len(self.bad_lines), self.bad_lines[0]))
        return self.final_stats

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            try:
                self.stop()
            except AssertionError as e:
                sys.stderr.write("  (while cleaning up: %s)\n" % str(e).splitlines()[0])
            finally:
                self._kill()
        return False

    # -- output
    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return ""
        return "sensor log (last %d lines):\n  " % n + "\n  ".join(lines[-n:])

    def read(self):
        """Parse lines appended to the output file since the last call."""
        try:
            with open(self.out_path, "rb") as f:
                f.seek(self._off)
                data = f.read()
        except FileNotFoundError:
            return self.lines
        self._off += len(data)
        self._buf += data
        *complete, self._buf = self._buf.split(b"\n")
        for raw in complete:
            if not raw.strip():
                continue
            try:
                self.lines.append(json.loads(raw))
            except ValueError:
                self.bad_lines.append(raw[:300])
        return self.lines

    def events(self, spec=None):
        """Events (kind "event") parsed so far, optionally filtered."""
        self.read()
        evs = [l for l in self.lines if l.get("kind") == "event"]
        if spec is not None:
            evs = [e for e in evs if matches(e, spec)]
        return evs

    def stats(self):
        self.read()
        return [l for l in self.lines if l.get("kind") == "stats"]

    @staticmethod
    def _fmt(lines):
        return "\n".join("  " + json.dumps(l, sort_keys=False) for l in lines)

    def dump(self, spec=None, n=20):
        """What the sensor emitted: counts per kind and the last n lines of
        the kind spec asks for (or of everything)."""
        evs = self.events()
        counts = {}
        for e in evs:
            k = event_kind(e)
            counts[k] = counts.get(k, 0) + 1
        kind = _spec_kind(spec) if spec is not None else None
        same = [e for e in evs if kind is None or event_kind(e) == kind] or evs
        return ("saw %d events %s; last %d %s:\n%s\n%s" % (
            len(evs), json.dumps(counts, sort_keys=True), min(n, len(same)),
            ("'%s' events" % kind) if kind else "events",
            self._fmt(same[-n:]), self.log_tail(10)))

    def _check_alive(self):
        if self.proc is not None and self.proc.poll() is not None \
                and self.exit_code is None:
            self.exit_code = rc = self.proc.returncode
            how = ("killed by %s" % signal.Signals(-rc).name) if rc < 0 \
                else "exited %d" % rc
            raise AssertionError("sensor %s during the test (nobody here signalled it), "
                                 "after %d output lines\n%s"
                                 % (how, len(self.lines), self.log_tail()))

    def wait_for(self, spec, timeout=10, what=None):
        """Poll the output until an event matching spec appears; return it."""
        return self.wait_count(spec, 1, timeout, what)[0]

    def wait_count(self, spec, n, timeout=10, what=None):
        """Poll until at least n events match spec; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(spec)
            if len(found) >= n:
                return found
            self._check_alive()
            if time.monotonic() > deadline:
                raise AssertionError("%s: wanted %d, got %d within %ss matching %s\n%s"
                                     % (what or "missing event", n, len(found),
                                        timeout, _describe(spec), self.dump(spec)))
            time.sleep(0.05)

    def assert_absent(self, spec, what=None):
        found = self.events(spec)
        if found:
            raise AssertionError("%s: unexpected events matching %s:\n%s"
                                 % (what or "unexpected event", _describe(spec),
                                    self._fmt(found[:5])))

    # -- findings (kind "finding" lines)
    def findings(self, spec=None):
        """Findings parsed so far, optionally filtered by spec."""
        self.read()
        fs = [l for l in self.lines if l.get("kind") == "finding"]
        if spec is not None:
            fs = [f for f in fs if matches(f, spec)]
        return fs

    def dump_findings(self, n=20, spec=None):
        """Counts per name and the last n findings (of the container spec
        names, when it names one: other containers on this host may be
        busy)."""
        fs = self.findings()
        cid = spec.get("container", {}).get("id") if isinstance(spec, dict) else None
        if cid:
            fs = [f for f in fs if f.get("container", {}).get("id") == cid]
        counts = {}
        for f in fs:
            counts[f.get("name")] = counts.get(f.get("name"), 0) + 1
        return "saw %d findings%s %s; last %d:\n%s\n%s" % (
            len(fs), " in container %s" % cid if cid else "", json.dumps(counts, sort_keys=True), min(n, len(fs)),
            self._fmt(fs[-n:]), self.log_tail(10))

    def wait_finding(self, spec, timeout=10, what=None):
        """Poll the output until a finding matching spec appears; return it."""
        return self.wait_findings(spec, 1, timeout, what)[0]

    def wait_findings(self, spec, n, timeout=10, what=None):
        """Poll until at least n findings match spec; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.findings(spec)
            if len(found) >= n:
                return found
            self._check_alive()
            if time.monotonic() > deadline:
                raise AssertionError("%s: wanted %d finding(s), got %d within %ss matching %s\n%s"
                                     % (what or "missing finding", n, len(found),
                                        timeout, _describe(spec),
                                        self.dump_findings(spec=spec)))
            time.sleep(0.05)

    def assert_no_finding(self, spec, what=None):
        found = self.findings(spec)
        if found:
            raise AssertionError("%s: unexpected findings matching %s:\n%s"
                                 % (what or "unexpected finding", _describe(spec),
                                    self._fmt(found[:5])))

    def barrier(self, container, timeout=10, via_init=False):
        """Make the container exec a unique marker and wait until the
        sensor reports it: events caused before this call have then been
        read from the kernel, so their absence means something.
        via_init: run the marker through the container's root process
        (Container.init_run; a CONTROL_INIT container) instead of runc
        exec, so it is not a process from outside the container."""
        token = "wit-marker-" + secrets.token_hex(4)
        if via_init:
            container.init_run("/bin/echo %s" % token)
        else:
            container.exec(["/bin/echo", token])
        return self.wait_for({"kind": "event", "process": {
            "args": lambda a: isinstance(a, list) and token in a}},
            timeout=timeout, what="barrier marker exec")


def write_rules(text, name="rules.yaml"):
    """Write a rule file into a fresh directory of the session's temp dir;
    returns its path (removed with the session)."""
    d = tempfile.mkdtemp(prefix="rules.", dir=REG.tmp())
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


# ---------------------------------------------------------------------------
# The cleanup checker.

def snapshot():
    """State the checker compares against after a test."""
    links = bpf_links()
    return {"links": set(links) if links is not None else None}


def _runc_list():
    rc, out, _ = run([RUNC, "list", "-f", "json"], check=False)
    if rc != 0:
        return []
    try:
        return json.loads(out) or []
    except ValueError:
        return []


def _procs_in_our_cgroups():
    found = []
    ours = [p for p in REG.cgroup_paths if not p.startswith("/sys/")]
    if not ours:
        return found
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cgroup" % d) as f:
                cg = f.read()
        except OSError:
            continue
        for line in cg.splitlines():
            path = line.split(":", 2)[-1]
            if any(path == p or path.startswith(p + "/") for p in ours):
                try:
                    with open("/proc/%s/comm" % d) as f:
                        comm = f.read().strip()
                except OSError:
                    comm = "?"
                found.append((int(d), comm, path))
                break
    return found


def check_clean(before, fix=True):
    """Everything a test created must be gone. Returns a list of problems
    (empty when clean); with fix set, removes what leaked so the next test
    starts clean."""
    problems = []

    # Sensors: stopped, and none of their links left.
    for s in REG.sensors:
        if s.proc is not None and s.proc.poll() is None:
            problems.append("wacht-sensor pid %d still running" % s.proc.pid)
            if fix:
                s._kill()

    # Containers.
    live = {c["id"]: c for c in _runc_list()}
    for cid in sorted(REG.container_ids & set(live)):
        problems.append("runc container %s left (%s)" % (cid, live[cid].get("status")))
    if fix:
        for c in list(REG.containers.values()):
            c.delete()
        for cid in REG.container_ids & set(live):
            run([RUNC, "delete", "-f", cid], check=False)

    # Processes: sensors, container inits and detached execs, anything
    # still in one of our cgroups.
    for pid, (st, what) in sorted(REG.pids.items()):
        if pid_alive(pid, st):
            problems.append("process %d (%s) still running" % (pid, what))
            if fix:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    for pid, comm, path in _procs_in_our_cgroups():
        problems.append("process %d (%s) still in cgroup %s" % (pid, comm, path))
        if fix:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    # Cgroups named after our containers, in every hierarchy.
    hiers = _cgroup_hierarchies()
    for rel in sorted(REG.cgroup_paths):
        paths = [rel] if rel.startswith("/sys/") else \
            [h + rel for h in hiers]
        for p in paths:
            if os.path.isdir(p):
                problems.append("cgroup %s left" % p)
                if fix:
                    _rmdir_retry(p)

    # Network namespaces and host-side links.
    _, out, _ = run(["ip", "netns", "list"], check=False)
    names = {l.split()[0] for l in out.splitlines() if l.strip()}
    for n in sorted(REG.netns & names):
        problems.append("netns %s left" % n)
        if fix:
            run(["ip", "netns", "delete", n], check=False)
    _, out, _ = run(["ip", "-o", "link", "show"], check=False)
    devs = {l.split(":")[1].strip().split("@")[0] for l in out.splitlines()
            if l.count(":") >= 2}
    for d in sorted(REG.host_links & devs):
        problems.append("veth %s left in the host namespace" % d)
        if fix:
            run(["ip", "link", "del", d], check=False)

    # Mounts under our temp dirs.
    if REG.tmp_root:
        with open("/proc/self/mountinfo") as f:
            mnts = [l.split()[4] for l in f]
        for m in mnts:
            if m == REG.tmp_root or m.startswith(REG.tmp_root + "/"):
                problems.append("mount %s left" % m)
                if fix:
                    run(["umount", "-l", m], check=False)

    # BPF links: back to what was there before. Links created meanwhile by
    # somebody else's live process (other users of this host) are not ours.
    if before.get("links") is not None:
        deadline = time.monotonic() + 3
        while True:
            now = bpf_links()
            if now is None:
                problems.append("bpftool link list failed after the test")
                break
            ours = set()
            for s in REG.sensors:
                ours.update(s.links)
            owners = bpf_link_owners()
            leaked = []
            for i, l in now.items():
                if i in before["links"]:
                    continue
                # A link held by a live process that is not one of our
                # (stopped) sensors belongs to somebody else on this host.
                if i in ours or not owners.get(i):
                    leaked.append(l)
            if not leaked or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if leaked:
            problems.append("%d BPF links left (before: %d, after: %d): %s" % (
                len(leaked), len(before["links"]), len(now),
                ", ".join("%s id %s prog %s" % (l.get("type"), l.get("id"),
                                                l.get("prog_id")) for l in leaked[:8])))
    return problems


def cleanup_session():
    """Remove the session's temp directory (after the last test)."""
    if REG.tmp_root:
        shutil.rmtree(REG.tmp_root, ignore_errors=True)
        REG.tmp_root = None
