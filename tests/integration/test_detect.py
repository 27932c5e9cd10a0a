# The built-in detections and the zero-drift baseline, in real runc
# containers: each scenario must produce exactly the expected finding (and
# its twin that must not produce one produces none).

import json
import os
import shutil

from harness import (BUSYBOX, CONTROL_INIT, DEFAULT_IMAGE, Container, Sensor,
                     write_rules)

SUSPICIOUS = "Container.Suspicious.Process"
TUNNEL = "Container.Tunnel.Detected"
ESCALATION = "Container.Privilege.Escalation"
PKG_MANAGER = "Container.Package.Manager"
PKG_UPDATED = "Container.Package.Updated"
FILE_MODIFIED = "Container.File.Modified"
VIOLATION = "Process.Profile.Violation"

# one aggregation window per second: a repeated finding is not hidden for
# the default 10 s
SENSOR_ARGS = ["--window", "1"]


class Checks:
    """Soft assertions: a test reports every wrong value at once."""

    def __init__(self, sensor):
        self.sensor = sensor
        self.failed = []

    def wait(self, spec, what, timeout=10):
        if self.failed:
            timeout = min(timeout, 2)
        try:
            return self.sensor.wait_finding(spec, timeout=timeout, what=what)
        except AssertionError as e:
            self.failed.append(str(e))
            return None

    def equal(self, what, have, want):
        if have != want:
            self.failed.append("%s: expected %r, seen %r" % (what, want, have))
        return have == want

    def finding(self, what, f, want):
        """Every key of want equals the finding's; dict values compare the
        listed keys of that object."""
        if f is None:
            return False
        diff = []
        for k, v in want.items():
            have = f.get(k, "<missing>")
            if isinstance(v, dict) and isinstance(have, dict):
                for kk, vv in v.items():
                    if have.get(kk, "<missing>") != vv:
                        diff.append("%s.%s expected %r seen %r"
                                    % (k, kk, vv, have.get(kk, "<missing>")))
            elif have != v:
                diff.append("%s expected %r seen %r" % (k, v, have))
        if diff:
            self.failed.append("%s: %s\n  seen: %s" % (what, "; ".join(diff), json.dumps(f)))
        return not diff

    def none(self, spec, what):
        found = self.sensor.findings(spec)
        if found:
            self.failed.append("%s: unexpected findings:\n%s" % (
                what, "\n".join("  " + json.dumps(f) for f in found[:5])))

    def done(self):
        if self.failed:
            first = self.failed[0].splitlines()[0]
            raise AssertionError("%d check(s) failed, first: %s\n%s" % (
                len(self.failed), first, "\n".join(self.failed)))


def container_view(c, group):
    """The "container" object of a finding in Container c."""
    return {"id": c.id, "name": c.container_name, "image": DEFAULT_IMAGE,
            "pod": c.pod, "namespace": c.namespace, "group": group}


def of(c, name, **more):
    spec = {"kind": "finding", "name": name, "container": {"id": c.id}}
    spec.update(more)
    return spec


def builtin(rule_id, rule_name):
    return {"id": rule_id, "name": rule_name, "group": ""}


def put(c, path, text=None, mode=0o644, copy=None):
    """A file of the image (before the container starts)."""
    dst = os.path.join(c.image_root, path.lstrip("/"))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if copy:
        shutil.copy2(copy, dst)
    else:
        with open(dst, "w") as f:
            f.write(text)
    os.chmod(dst, mode)


def exec_event(s, c, argv):
    evs = s.events({"event": "exec", "container": {"id": c.id},
                    "process": {"args": list(argv)}})
    return evs[-1] if evs else None


# 1 suspicious processes --------------------------------------------------

def test_suspicious_process_and_its_children():
    c = Container(pod="sus-7d9f8c6b5-x2x7k").prepare()
    # a tool named like a suspicious one that starts a child
    put(c, "/usr/local/bin/socat", "#!/bin/sh\n/bin/ls /\nexit 0\n", 0o755)
    group = "nv.sus.wit-ns"
    with Sensor(SENSOR_ARGS) as s, c:
        c.start()
        k = Checks(s)
        # ordinary programs: nothing
        c.exec(["/bin/ls", "/"])
        c.exec(["/bin/cat", "/etc/hostname"])
        c.exec(["sh", "-c", "/bin/ls /tmp; /bin/cat /etc/hostname; exit 0"])
        s.barrier(c)
        k.none(of(c, SUSPICIOUS), "ls, cat and sh are not suspicious")

        # nc by its name (busybox applet: exe /bin/busybox)
        rc, _, _ = c.exec(["nc", "-w", "1", "127.0.0.1", "9"], check=False)
        k.equal("nc to a closed port fails", rc, 1)
        nc = k.wait(of(c, SUSPICIOUS, process={"name": "nc"}), "nc is suspicious")
        k.finding("nc", nc, {
            "severity": "high", "action": "alert", "mode": "Discover",
            "rule": builtin("builtin:suspicious-process", "suspicious process"),
            "container": container_view(c, group),
            "process": {"name": "nc", "exe": "/bin/busybox", "uid": 0, "euid": 0,
                        "args": ["nc", "-w", "1", "127.0.0.1", "9"]},
            "message": "suspicious process nc (/bin/busybox)", "count": 1})

        # socat (a script: exe is its interpreter) and the ls it starts
        c.exec(["socat"])
        so = k.wait(of(c, SUSPICIOUS, process={"name": "socat"}), "socat is suspicious")
        k.finding("socat", so, {
            "severity": "high", "action": "alert",
            "rule": builtin("builtin:suspicious-process", "suspicious process"),
            "container": container_view(c, group),
            "process": {"name": "socat", "exe": "/bin/busybox",
                        "args": ["/bin/sh", "/usr/local/bin/socat"]},
            "message": "suspicious process socat (/bin/busybox)", "count": 1})
        child = k.wait(of(c, SUSPICIOUS, process={"name": "ls"}), "child of socat")
        k.finding("ls started by socat", child, {
            "severity": "high", "action": "alert",
            "rule": builtin("builtin:suspicious-process", "suspicious process"),
            "container": container_view(c, group),
            "process": {"name": "ls", "exe": "/bin/busybox", "args": ["/bin/ls", "/"],
                        "ppid": so["process"]["pid"] if so else "<socat pid>",
                        "parent_exe": "/bin/busybox"},
            "message": "ls started by a suspicious process", "count": 1})
        s.barrier(c)
        k.none(lambda f: f.get("kind") == "finding" and f.get("name") == SUSPICIOUS
               and f["container"]["id"] == c.id
               and f["process"]["name"] not in ("nc", "socat", "ls"),
               "only nc, socat and socat's child are suspicious")
        k.done()


# 2 reverse shell ---------------------------------------------------------

# A listener in the background feeds one command; nc connects to it and
# runs /bin/sh with the socket as stdin, stdout and stderr (retried until
# the listener listens).
REVERSE_SHELL = (
    "(usleep 300000; echo '/bin/echo pwned; exit') | nc -l -p 7002 & "
    "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do "
    "nc 127.0.0.1 7002 -e /bin/sh && break; usleep 100000; done; wait")


def test_reverse_shell():
    group = "nv.rsh.wit-ns"
    with Sensor(SENSOR_ARGS) as s, Container(pod="rsh-7d9f8c6b5-x2x7k") as c:
        c.start()
        k = Checks(s)
        # a shell between pipes: not a tunnel
        rc, out, _ = c.exec(["sh", "-c", "echo '/bin/echo piped' | /bin/sh | /bin/cat"])
        k.equal("shell through pipes", out, "piped\n")
        s.barrier(c)
        k.none(of(c, TUNNEL), "sh with pipes as stdin/stdout")

        rc, out, _ = c.exec(["sh", "-c", REVERSE_SHELL], timeout=15)
        k.equal("the reverse shell ran the listener's command", out, "pwned\n")
        sh = k.wait(of(c, TUNNEL, process={"name": "sh"}), "reverse shell")
        outer = exec_event(s, c, ["sh", "-c", REVERSE_SHELL])
        k.finding("reverse shell", sh, {
            "severity": "critical", "action": "alert", "mode": "Discover",
            "rule": builtin("builtin:reverse-shell", "reverse shell"),
            "container": container_view(c, group),
            "process": {"name": "sh", "exe": "/bin/busybox", "args": ["/bin/sh"],
                        "uid": 0, "euid": 0, "parent_exe": "/bin/busybox",
                        "ppid": outer["process"]["pid"] if outer else "<sh -c pid>"},
            "message": "sh runs with standard input and output on one socket",
            "count": 1})
        # nc started it: the shell is also a suspicious process's child
        child = k.wait(of(c, SUSPICIOUS, process={"name": "sh"}), "sh started by nc")
        k.finding("sh started by nc", child, {
            "action": "alert",
            "rule": builtin("builtin:suspicious-process", "suspicious process"),
            "process": {"pid": sh["process"]["pid"] if sh else "<sh pid>",
                        "exe": "/bin/busybox"},
            "message": "sh started by a suspicious process"})
        k.done()


# 3 privilege escalation --------------------------------------------------

def _escalation_container():
    c = Container(pod="esc-7d9f8c6b5-x2x7k", user=(1000, 1000),
                  no_new_privileges=False).prepare()
    # setuid-root copies of busybox, named after the applet they run
    for name in ("id", "whoami"):
        put(c, "/opt/suid/" + name, copy=BUSYBOX, mode=0o4755)
    return c


def test_privilege_escalation():
    group = "nv.esc.wit-ns"
    c = _escalation_container()
    with Sensor(SENSOR_ARGS) as s, c:
        c.start()
        k = Checks(s)
        # root running the setuid binary, uid 1000 running plain busybox:
        # nobody becomes root
        rc, out, _ = c.exec(["/opt/suid/id"], user="0:0")
        k.equal("root runs the setuid id", out, "uid=0(root) gid=0(root)\n")
        rc, out, _ = c.exec(["sh", "-c", "/bin/id; /bin/whoami; exit 0"])
        k.equal("uid 1000 runs plain id", out, "uid=1000 gid=1000\n")
        s.barrier(c)
        k.none(of(c, ESCALATION), "no escalation")

        # uid 1000's shell runs a setuid-root binary
        c.exec(["sh", "-c", "/opt/suid/whoami; exit 0"])
        f = k.wait(of(c, ESCALATION), "setuid exec by uid 1000")
        outer = exec_event(s, c, ["sh", "-c", "/opt/suid/whoami; exit 0"])
        k.finding("escalation", f, {
            "severity": "critical", "action": "alert", "mode": "Discover",
            "rule": builtin("builtin:privilege-escalation", "privilege escalation"),
            "container": container_view(c, group),
            "process": {"name": "whoami", "exe": "/opt/suid/whoami", "uid": 1000,
                        "euid": 0, "args": ["/opt/suid/whoami"],
                        "parent_exe": "/bin/busybox",
                        "ppid": outer["process"]["pid"] if outer else "<sh pid>"},
            "message": "whoami became root (euid 1000 -> 0) without su or sudo",
            "count": 1})
        s.barrier(c)
        k.equal("one escalation finding", len(s.findings(of(c, ESCALATION))), 1)
        k.done()


def test_privilege_escalation_direct_exec():
    # `kubectl exec` of a setuid-root binary in a pod running as uid 1000:
    # the process runs with uid 1000 and euid 0 from its first instruction.
    # (Fails until the sensor is fixed: the exec event has uid 1000 euid 0,
    # the same pid's events before it (runc init after setuid) euid 1000,
    # yet no finding: runc init's credentials are not taken as the
    # previous ones.)
    group = "nv.esc.wit-ns"
    c = _escalation_container()
    with Sensor(SENSOR_ARGS) as s, c:
        c.start()
        k = Checks(s)
        rc, out, _ = c.exec(["/opt/suid/id"])
        # (busybox drops the setuid privilege before printing)
        k.equal("uid 1000 runs the setuid id", out, "uid=1000 gid=1000\n")
        f = k.wait(of(c, ESCALATION), "setuid exec by uid 1000 (runc exec)")
        k.finding("escalation", f, {
            "severity": "critical", "action": "alert", "mode": "Discover",
            "rule": builtin("builtin:privilege-escalation", "privilege escalation"),
            "container": container_view(c, group),
            "process": {"name": "id", "exe": "/opt/suid/id", "uid": 1000, "euid": 0,
                        "args": ["/opt/suid/id"]},
            "message": "id became root (euid 1000 -> 0) without su or sudo",
            "count": 1})
        k.done()


# 4 package managers ------------------------------------------------------

def _package_container(pod):
    c = Container(pod=pod).prepare()
    put(c, "/usr/bin/apt-get", "#!/bin/sh\necho apt-get \"$@\"\n", 0o755)
    put(c, "/usr/bin/deploy", "#!/bin/sh\necho deploy\n", 0o755)
    return c


def test_package_manager():
    group = "nv.pm.wit-ns"
    c = _package_container("pm-7d9f8c6b5-x2x7k")
    with Sensor(SENSOR_ARGS) as s, c:
        c.start()
        k = Checks(s)
        c.exec(["deploy"])
        c.exec(["/bin/ls", "/usr/bin"])
        s.barrier(c)
        k.none(of(c, PKG_MANAGER), "deploy and ls are no package managers")

        rc, out, _ = c.exec(["apt-get", "update"])
        k.equal("apt-get ran", out, "apt-get update\n")
        f = k.wait(of(c, PKG_MANAGER, process={"name": "apt-get"}), "apt-get")
        k.finding("apt-get", f, {
            "severity": "medium", "action": "alert", "mode": "Discover",
            "rule": builtin("builtin:package-manager", "package manager"),
            "container": container_view(c, group),
            "process": {"name": "apt-get", "exe": "/bin/busybox", "uid": 0,
                        "args": ["/bin/sh", "/usr/bin/apt-get", "update"]},
            "message": "package manager apt-get runs in a container", "count": 1})
        # busybox's dpkg applet (/bin/dpkg -> busybox)
        c.exec(["dpkg", "-l"], check=False)
        f = k.wait(of(c, PKG_MANAGER, process={"name": "dpkg"}), "dpkg")
        k.finding("dpkg", f, {
            "action": "alert",
            "rule": builtin("builtin:package-manager", "package manager"),
            "process": {"name": "dpkg", "exe": "/bin/busybox", "args": ["dpkg", "-l"]},
            "message": "package manager dpkg runs in a container", "count": 1})
        s.barrier(c)
        k.equal("two package manager findings", len(s.findings(of(c, PKG_MANAGER))), 2)
        k.done()


def test_builtin_action_in_protect():
    # Protect: a built-in detection's action is kill, unless an explicit
    # allow rule names the process (then it only alerts).
    group = "nv.pmp.wit-ns"
    rules = write_rules("""\
apiVersion: neuvector.com/v1
kind: NvSecurityRule
metadata: {name: nv.pmp.wit-ns, namespace: wit-ns}
spec:
  target:
    selector:
      name: nv.pmp.wit-ns
      criteria: [{key: service, op: "=", value: pmp}, {key: namespace, op: "=", value: wit-ns}]
  process_profile: {baseline: basic, mode: Protect}
  process:
  - {name: apt-get, path: /bin/busybox, action: allow}
  - {name: sleep, path: /bin/busybox, action: allow}
""")
    c = _package_container("pmp-7d9f8c6b5-x2x7k")
    with Sensor(SENSOR_ARGS + ["--rules", rules]) as s, c:
        c.start()
        k = Checks(s)
        # killed in the kernel before it ran: runc exec reports the signal
        r = c.exec(["dpkg", "-l"], check=False)
        k.equal("dpkg's exit status", r[0], 137)
        f = k.wait(of(c, PKG_MANAGER, process={"name": "dpkg"}), "dpkg in Protect")
        k.finding("dpkg in Protect", f, {
            "severity": "medium", "action": "kill", "mode": "Protect",
            "rule": builtin("builtin:package-manager", "package manager"),
            "container": container_view(c, group),
            "process": {"name": "dpkg", "exe": "/bin/busybox"},
            "message": "package manager dpkg runs in a container"})
        c.exec(["apt-get", "install", "curl"])
        f = k.wait(of(c, PKG_MANAGER, process={"name": "apt-get"}), "allowed apt-get")
        k.finding("explicitly allowed apt-get in Protect", f, {
            "action": "alert", "mode": "Protect",
            "rule": builtin("builtin:package-manager", "package manager"),
            "process": {"name": "apt-get", "exe": "/bin/busybox"},
            "message": "package manager apt-get runs in a container"})
        k.done()


# 5 package databases -----------------------------------------------------

def test_package_database():
    group = "nv.pdb.wit-ns"
    c = Container(pod="pdb-7d9f8c6b5-x2x7k").prepare()
    put(c, "/var/lib/dpkg/status", "Package: busybox\n")
    put(c, "/var/lib/rpm/rpmdb.sqlite", "")
    put(c, "/lib/apk/db/installed", "P:busybox\n")
    put(c, "/var/lib/other/x", "")
    with Sensor(SENSOR_ARGS) as s, c:
        c.start()
        k = Checks(s)
        c.exec(["sh", "-c", "echo x >> /var/lib/other/x; touch /var/lib/dpkgx; "
                "/bin/cat /var/lib/dpkg/status /lib/apk/db/installed >/dev/null; "
                "/bin/ls /var/lib/rpm >/dev/null; exit 0"])
        s.barrier(c)
        k.none(of(c, PKG_UPDATED), "reading a package database, writing elsewhere")

        # dpkg writes status-new and renames it over status
        c.exec(["sh", "-c", "echo 'Package: evil' > /tmp/status-new"])
        c.exec(["mv", "/tmp/status-new", "/var/lib/dpkg/status"])
        c.exec(["touch", "/lib/apk/db/lock"])
        c.exec(["rm", "/var/lib/rpm/rpmdb.sqlite"])
        common = {"severity": "medium", "action": "alert", "mode": "Discover",
                  "rule": builtin("builtin:package-database", "package database"),
                  "container": container_view(c, group), "count": 1}
        for who, db, path, op in (("mv", "dpkg", "/var/lib/dpkg/status", "rename"),
                                  ("touch", "apk", "/lib/apk/db/lock", "create"),
                                  ("rm", "rpm", "/var/lib/rpm/rpmdb.sqlite", "delete")):
            f = k.wait(of(c, PKG_UPDATED, file={"path": path}), "%s of %s" % (op, path))
            k.finding("%s of %s" % (op, path), f, dict(
                common, file={"path": path, "op": op},
                process={"name": who, "exe": "/bin/busybox"},
                message="%s changed the %s package database (%s %s)" % (who, db, op, path)))
        s.barrier(c)
        k.equal("three package database findings",
                sorted(f["file"]["path"] for f in s.findings(of(c, PKG_UPDATED))),
                ["/lib/apk/db/lock", "/var/lib/dpkg/status", "/var/lib/rpm/rpmdb.sqlite"])
        k.none(of(c, FILE_MODIFIED), "package databases are not monitored files")
        k.done()


# 6 monitored files -------------------------------------------------------

def test_monitored_files():
    group = "nv.mon.wit-ns"
    c = Container(pod="mon-7d9f8c6b5-x2x7k").prepare()
    put(c, "/etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640)
    put(c, "/usr/local/bin/.keep", "")
    put(c, "/lib/data.txt", "")
    os.makedirs(os.path.join(c.image_root, "root/.ssh"), mode=0o700)
    with Sensor(SENSOR_ARGS) as s, c:
        c.start()
        k = Checks(s)
        rc, out, _ = c.exec(["sh", "-c", "/bin/cat /etc/passwd /etc/shadow /etc/hosts; "
                             "echo x > /tmp/x; echo y >> /lib/data.txt; "
                             "/bin/ls /usr/local/bin /root/.ssh; exit 0"])
        k.equal("reads /etc/passwd", out.startswith("root:x:0:0:"), True)
        s.barrier(c)
        k.none(of(c, FILE_MODIFIED), "reading monitored files, writing others")

        c.exec(["sh", "-c", "/bin/cat /etc/passwd > /tmp/passwd.new; "
                "echo 'wit:x:0:0::/:/bin/sh' >> /tmp/passwd.new"])
        cases = [
            # (argv, process name, path, op, rule name)
            (["mv", "/tmp/passwd.new", "/etc/passwd"], "mv", "/etc/passwd", "rename",
             "account database"),
            (["chmod", "644", "/etc/shadow"], "chmod", "/etc/shadow", "chmod",
             "account database"),
            (["rm", "/etc/hosts"], "rm", "/etc/hosts", "delete", "name resolution"),
            (["sh", "-c", "echo nameserver 10.0.0.53 > /etc/resolv.conf"], "sh",
             "/etc/resolv.conf", "create", "name resolution"),
            (["touch", "/etc/ld.so.preload"], "touch", "/etc/ld.so.preload", "create",
             "dynamic loader"),
            (["cp", "/bin/busybox", "/usr/local/bin/tool"], "cp", "/usr/local/bin/tool",
             "create", "binary directory"),
            (["touch", "/lib/libx.so.1"], "touch", "/lib/libx.so.1", "create",
             "core library"),
            (["sh", "-c", "echo 'ssh-ed25519 AAAA wit' >> /root/.ssh/authorized_keys"],
             "sh", "/root/.ssh/authorized_keys", "create", "ssh keys"),
        ]
        for argv, _, _, _, _ in cases:
            c.exec(argv)
        for argv, who, path, op, why in cases:
            f = k.wait(of(c, FILE_MODIFIED, file={"path": path}), "%s %s" % (op, path))
            k.finding("%s %s" % (op, path), f, {
                "severity": "high", "action": "alert", "mode": "Discover",
                "rule": builtin("builtin:monitored-file", why),
                "container": container_view(c, group),
                "process": {"name": who, "exe": "/bin/busybox", "uid": 0},
                "file": {"path": path, "op": op},
                "message": "%s: %s %s (%s)" % (who, op, path, why), "count": 1})
        s.barrier(c)
        # exactly one finding per change
        seen = sorted((f["file"]["path"], f["file"]["op"])
                      for f in s.findings(of(c, FILE_MODIFIED)))
        k.equal("one finding per change", seen,
                sorted((path, op) for _, _, path, op, _ in cases))
        k.done()


def test_write_to_existing_file_is_modify():
    # Appending to (or truncating) a file that exists opens it with O_CREAT
    # (every shell's >> and >): the file is modified, not created.
    # (Fails until the sensor is fixed: it reports op "create" whenever
    # O_CREAT is set, whether or not the open created the file.)
    c = Container(pod="mod-7d9f8c6b5-x2x7k").prepare()
    put(c, "/var/lib/dpkg/status", "Package: busybox\n")
    with Sensor(SENSOR_ARGS) as s, c:
        c.start()
        k = Checks(s)
        c.exec(["sh", "-c", "echo 'wit:x:0:0::/:/bin/sh' >> /etc/passwd; "
                "echo '10.0.0.1 evil' > /etc/hosts; echo x >> /var/lib/dpkg/status"])
        for name, path, why in ((FILE_MODIFIED, "/etc/passwd", "account database"),
                                (FILE_MODIFIED, "/etc/hosts", "name resolution"),
                                (PKG_UPDATED, "/var/lib/dpkg/status", None)):
            f = k.wait(of(c, name, file={"path": path}), "%s of %s" % (name, path))
            msg = ("sh: modify %s (%s)" % (path, why) if why else
                   "sh changed the dpkg package database (modify %s)" % path)
            k.finding("write to existing " + path, f, {
                "file": {"path": path, "op": "modify"}, "message": msg})
        k.done()


# 7 zero-drift ------------------------------------------------------------

ZD_RULES = """\
apiVersion: neuvector.com/v1
kind: NvSecurityRule
metadata: {{name: nv.zd.wit-ns, namespace: wit-ns}}
spec:
  target:
    selector:
      name: nv.zd.wit-ns
      criteria: [{{key: service, op: "=", value: zd}}, {{key: namespace, op: "=", value: wit-ns}}]
  process_profile: {{baseline: zero-drift, mode: {mode}}}
  process:
  - {{name: "*", path: /bin/busybox, action: allow}}
  - {{name: ls, path: /opt/ls, action: allow}}
  - {{name: date, path: /opt/date, action: allow}}
  - {{name: cat, path: /opt/cat, action: allow, allow_update: true}}
"""
# lines of the rules above (rule ids are FILE:LINE)
ZD_LINE_ANY, ZD_LINE_LS, ZD_LINE_DATE = 11, 12, 13
ZD_GROUP = "nv.zd.wit-ns"
DRIFT = "zero-drift: the binary was written or replaced after the container started"
FOREIGN = "zero-drift: not started by the container's root process"


def _zd_container():
    """An overlay-mounted container whose init takes commands (its
    descendants are the container's own processes), with copies of busybox
    in the image (lower layer) named after the applets they run."""
    c = Container(pod="zd-7d9f8c6b5-x2x7k", overlay=True, args=CONTROL_INIT).prepare()
    for name in ("ls", "date", "cat"):
        put(c, "/opt/" + name, copy=BUSYBOX, mode=0o755)
    return c


def _zd_sensor(mode="Monitor"):
    rules = write_rules(ZD_RULES.format(mode=mode))
    return Sensor(SENSOR_ARGS + ["--rules", rules]), rules


def _violations(s, c, name):
    return s.findings(of(c, VIOLATION, process={"name": name}))


def test_zero_drift_image_binary_replaced_and_allow_update():
    c = _zd_container()
    sensor, rules = _zd_sensor()
    with sensor as s, c:
        c.start()
        k = Checks(s)
        # (a) the image's binary, run by the root process's descendants
        rc, out = c.init_run("/opt/ls /opt")
        k.equal("/opt/ls from the image", out, "cat\ndate\nls\n")
        c.init_run("/opt/cat /etc/hostname")
        s.barrier(c, via_init=True)
        k.none(of(c, VIOLATION), "binaries of the image, started by the root process")
        k.equal("/opt/ls is in the lower layer only",
                os.path.exists(os.path.join(c.upper, "opt/ls")), False)

        # (b) replaced inside the container, then run: drift, though the
        # rule allows its name and path
        c.init_run("cp /bin/busybox /opt/ls")
        rc, out = c.init_run("/opt/ls /opt")
        k.equal("replaced /opt/ls runs", out, "cat\ndate\nls\n")
        f = k.wait(of(c, VIOLATION, process={"name": "ls"}), "replaced /opt/ls")
        k.finding("replaced /opt/ls", f, {
            "severity": "high", "action": "alert", "mode": "Monitor",
            "rule": {"id": "%s:%d" % (rules, ZD_LINE_LS), "name": "ls", "group": ZD_GROUP},
            "container": container_view(c, ZD_GROUP),
            "process": {"name": "ls", "exe": "/opt/ls", "args": ["/opt/ls", "/opt"],
                        "parent_exe": "/bin/busybox"},
            "message": "ls (/opt/ls): " + DRIFT, "count": 1})

        # (c) allow_update: replacing /opt/cat is allowed
        c.init_run("cp /bin/busybox /opt/cat")
        rc, out = c.init_run("/opt/cat /etc/hostname")
        k.equal("replaced /opt/cat runs", out, c.pod + "\n")
        s.barrier(c, via_init=True)
        k.equal("allow_update: no violation for /opt/cat", _violations(s, c, "cat"), [])
        # nothing else was a violation either (cp, the shells, the markers)
        k.none(lambda f: f.get("kind") == "finding" and f.get("name") == VIOLATION
               and f["process"]["name"] != "ls", "only the replaced /opt/ls violates")
        k.done()


def test_zero_drift_verdict_is_about_the_binary_that_ran():
    # The image's /opt/ls runs, and only afterwards is replaced: the
    # process that ran was the image's binary, no drift.
    # (Fails until the sensor is fixed: the upper-layer check is made when
    # the exec event is processed, after the replacement happened.)
    c = _zd_container()
    sensor, rules = _zd_sensor()
    with sensor as s, c:
        c.start()
        k = Checks(s)
        rc, out = c.init_run("/opt/ls /opt; cp /bin/busybox /opt/ls")
        k.equal("/opt/ls from the image", out, "cat\ndate\nls\n")
        s.barrier(c, via_init=True)
        k.none(of(c, VIOLATION), "the image's /opt/ls, replaced after it ran")
        k.done()


def test_zero_drift_binary_replaced_before_sensor_started():
    # Only the overlay's upper layer still tells that /opt/date is not the
    # image's.
    c = _zd_container()
    with c:
        c.start()
        c.init_run("cp /bin/busybox /opt/date")
        assert os.path.isfile(os.path.join(c.upper, "opt/date"))
        sensor, rules = _zd_sensor()
        with sensor as s:
            k = Checks(s)
            c.init_run("/opt/ls /opt")
            c.init_run("/opt/date -u +%Y")
            f = k.wait(of(c, VIOLATION, process={"name": "date"}), "replaced /opt/date")
            k.finding("/opt/date replaced before the sensor started", f, {
                "severity": "high", "action": "alert", "mode": "Monitor",
                "rule": {"id": "%s:%d" % (rules, ZD_LINE_DATE), "name": "date",
                         "group": ZD_GROUP},
                "container": container_view(c, ZD_GROUP),
                "process": {"name": "date", "exe": "/opt/date",
                            "args": ["/opt/date", "-u", "+%Y"]},
                "message": "date (/opt/date): " + DRIFT, "count": 1})
            s.barrier(c, via_init=True)
            k.equal("/opt/ls of the image is fine", _violations(s, c, "ls"), [])
            k.done()


def test_zero_drift_process_not_from_root_process():
    c = _zd_container()
    sensor, rules = _zd_sensor()
    with sensor as s, c:
        c.start()
        k = Checks(s)
        # started by the container's init: its own process
        rc, out = c.init_run("/bin/cat /etc/hostname")
        k.equal("cat by the init", out, c.pod + "\n")
        s.barrier(c, via_init=True)
        k.none(of(c, VIOLATION), "cat started by the root process")
        # the same command through runc exec (kubectl exec)
        rc, out, _ = c.exec(["/bin/cat", "/etc/hostname"])
        f = k.wait(of(c, VIOLATION, process={"name": "cat"}), "runc exec of cat")
        k.finding("runc exec of cat", f, {
            "severity": "high", "action": "alert", "mode": "Monitor",
            "rule": {"id": "%s:%d" % (rules, ZD_LINE_ANY), "name": "*", "group": ZD_GROUP},
            "container": container_view(c, ZD_GROUP),
            "process": {"name": "cat", "exe": "/bin/busybox",
                        "args": ["/bin/cat", "/etc/hostname"]},
            "message": "cat (/bin/busybox): " + FOREIGN, "count": 1})
        k.done()


def test_zero_drift_protect_kills():
    c = _zd_container()
    sensor, rules = _zd_sensor("Protect")
    with sensor as s, c:
        c.start()
        k = Checks(s)
        c.init_run("cp /bin/busybox /opt/ls")
        c.init_run("/opt/ls /opt", check=False)   # (the kill is enforcement's)
        f = k.wait(of(c, VIOLATION, process={"name": "ls"}), "replaced /opt/ls in Protect")
        k.finding("replaced /opt/ls in Protect", f, {
            "severity": "high", "action": "kill", "mode": "Protect",
            "rule": {"id": "%s:%d" % (rules, ZD_LINE_LS), "name": "ls", "group": ZD_GROUP},
            "container": container_view(c, ZD_GROUP),
            "process": {"name": "ls", "exe": "/opt/ls"},
            "message": "ls (/opt/ls): " + DRIFT})
        c.exec(["/bin/cat", "/etc/hostname"], check=False)
        f = k.wait(of(c, VIOLATION, process={"name": "cat"}), "runc exec in Protect")
        k.finding("runc exec in Protect", f, {
            "action": "kill", "mode": "Protect",
            "rule": {"id": "%s:%d" % (rules, ZD_LINE_ANY), "name": "*", "group": ZD_GROUP},
            "message": "cat (/bin/busybox): " + FOREIGN})
        k.done()


def test_zero_drift_without_overlay():
    # No overlay: the sensor knows a binary was replaced from the write it
    # saw.
    c = Container(pod="zd-7d9f8c6b5-x2x7k", args=CONTROL_INIT).prepare()
    put(c, "/opt/ls", copy=BUSYBOX, mode=0o755)
    sensor, rules = _zd_sensor()
    with sensor as s, c:
        c.start()
        k = Checks(s)
        c.init_run("/opt/ls /opt")
        s.barrier(c, via_init=True)
        k.none(of(c, VIOLATION), "/opt/ls of the image")
        c.init_run("cp /bin/busybox /opt/ls")
        c.init_run("/opt/ls /opt")
        f = k.wait(of(c, VIOLATION, process={"name": "ls"}), "replaced /opt/ls")
        k.finding("replaced /opt/ls (no overlay)", f, {
            "action": "alert", "mode": "Monitor",
            "rule": {"id": "%s:%d" % (rules, ZD_LINE_LS), "name": "ls", "group": ZD_GROUP},
            "process": {"name": "ls", "exe": "/opt/ls"},
            "message": "ls (/opt/ls): " + DRIFT})
        k.done()


# the harness support these tests rely on ---------------------------------

def test_harness_overlay_user_and_init_run():
    from harness import check_clean, snapshot
    c = Container(overlay=True, args=CONTROL_INIT, user=(1000, 1000)).prepare()
    put(c, "/opt/ls", copy=BUSYBOX, mode=0o755)
    with c:
        c.start()
        root = c.rootfs
        assert os.path.ismount(root), root
        with open("/proc/%d/mountinfo" % c.pid()) as f:
            top = [l for l in f if l.split()[4] == "/"][-1]
        assert " - overlay overlay " in top and "upperdir=%s," % c.upper in top, top
        # the init runs commands as the container's user; its writes land in
        # the upper layer, the image stays as it was
        rc, out = c.init_run("id; echo hi > /tmp/new; /opt/ls /opt")
        assert (rc, out) == (0, "uid=1000 gid=1000\nls\n"), (rc, out)
        assert os.path.isfile(os.path.join(c.upper, "tmp/new"))
        assert not os.path.exists(os.path.join(c.image_root, "tmp/new"))
        rc, out = c.init_run("exit 3", check=False)
        assert rc == 3, rc
        rc, out, _ = c.exec(["id"], user="0:0")
        assert out == "uid=0(root) gid=0(root)\n", out
    assert not os.path.ismount(root), "overlay still mounted after delete()"
    assert not os.path.exists(c.bundle), c.bundle

    # a container nobody deletes: the checker reports it and unmounts
    before = snapshot()
    leaked = Container(overlay=True)
    leaked.start()
    problems = check_clean(before, fix=True)
    assert any("runc container %s left" % leaked.id in p for p in problems), problems
    assert not os.path.ismount(leaked.rootfs)
    assert check_clean(before, fix=True) == [], "still dirty after the fix"
