# What the sensor captures from real containers: exec, exit, file and
# network events, attributed to the right container and pod, with the
# exact values a user would check.

import calendar
import os
import re
import secrets
import signal
import subprocess
import time
import uuid

from harness import (Container, Netns, Sensor, bpf_links, kubepods_cgroup,
                     veth_between, links_of_pid, bpf_link_owners)


class Checks:
    """Soft assertions: a test reports every wrong value at once. After the
    first missing event the others get a short timeout (the sensor had its
    chance)."""

    def __init__(self, sensor=None):
        self.sensor = sensor
        self.failed = []

    def wait(self, spec, what, timeout=10):
        if self.failed:
            timeout = min(timeout, 2)
        try:
            return self.sensor.wait_for(spec, timeout=timeout, what=what)
        except AssertionError as e:
            self.failed.append(str(e))
            return None

    def equal(self, what, have, want):
        if have != want:
            self.failed.append("%s: expected %r, seen %r" % (what, want, have))
        return have == want

    def true(self, what, cond, detail=""):
        if not cond:
            self.failed.append("%s%s" % (what, (": " + detail) if detail else ""))
        return cond

    def fields(self, what, ev, section, want):
        """ev[section][k] == v for every k, v in want; reported together
        with the seen JSON when any differs."""
        if ev is None:
            return False
        have = ev.get(section)
        if not isinstance(have, dict):
            self.failed.append("%s: no %r object in %s" % (what, section, ev))
            return False
        diff = {k: (v, have.get(k, "<missing>")) for k, v in want.items()
                if have.get(k, "<missing>") != v}
        if diff:
            self.failed.append("%s: %s differs: %s\n  seen: %s" % (
                what, section, "; ".join("%s expected %r seen %r" % (k, w, h)
                                         for k, (w, h) in diff.items()), ev))
        return not diff

    def done(self):
        if self.failed:
            first = self.failed[0].splitlines()[0]
            raise AssertionError("%d check(s) failed, first: %s\n%s" % (
                len(self.failed), first, "\n".join(self.failed)))


def container_view(c, runtime="runc", cgroup_id=True):
    """The "container" object a user expects for Container c."""
    want = {"id": c.id, "runtime": runtime, "name": c.container_name,
            "image": c.image, "pod": c.pod, "namespace": c.namespace,
            "pod_uid": c.pod_uid, "cgroup": c.cgroup}
    if cgroup_id:
        want["cgroup_id"] = c.cgroup_id
    return want


def in_container(c, **spec):
    spec = dict(spec)
    spec.setdefault("kind", "event")
    spec["container"] = dict(spec.get("container", {}), id=c.id)
    return spec


def exec_of(c, args):
    return in_container(c, event="exec", process={"args": list(args)})


def file_op(c, op, path, **more):
    f = {"op": op, "path": path}
    f.update(more)
    return in_container(c, event="file", file=f)


# 1 ---------------------------------------------------------------------

def test_exec_shell_and_applet():
    script = "cat /etc/hostname; /bin/ls /etc >/dev/null; exit 0"
    with Sensor(["--node", "wit-node-1"]) as s, Container() as c:
        c.start()
        c.exec(["/bin/sh", "-c", script])
        k = Checks(s)
        # The container's own first process (its entrypoint).
        init = k.wait(exec_of(c, ["sleep", "3600"]), "exec of the container's init")
        k.fields("exec of init", init, "process",
                 {"pid": c.pid(), "filename": "/bin/sleep", "exe": "/bin/busybox",
                  "comm": "sleep"})
        k.fields("exec of init", init, "container", container_view(c))
        sh = k.wait(exec_of(c, ["/bin/sh", "-c", script]), "exec of /bin/sh")
        k.fields("exec of /bin/sh", sh, "process",
                 {"filename": "/bin/sh", "exe": "/bin/busybox", "comm": "sh",
                  "uid": 0, "euid": 0, "gid": 0, "args_truncated": False})
        k.fields("exec of /bin/sh", sh, "container", container_view(c))
        sh_pid = sh["process"]["pid"] if sh else "<sh pid>"
        # busybox sh runs its applets through /proc/self/exe: filename is
        # what execve got, exe the file that actually ran, and comm the
        # kernel's at exec time (basename of the filename: busybox renames
        # itself to the applet only after it starts running).
        cat = k.wait(exec_of(c, ["cat", "/etc/hostname"]), "exec of the cat applet")
        k.fields("exec of cat", cat, "process",
                 {"filename": "/proc/self/exe", "exe": "/bin/busybox", "comm": "exe",
                  "parent_exe": "/bin/busybox", "ppid": sh_pid})
        k.fields("exec of cat", cat, "container", container_view(c))
        ls = k.wait(exec_of(c, ["/bin/ls", "/etc"]), "exec of /bin/ls")
        k.fields("exec of /bin/ls", ls, "process",
                 {"filename": "/bin/ls", "exe": "/bin/busybox", "comm": "ls",
                  "parent_exe": "/bin/busybox", "ppid": sh_pid})
        if sh and cat:
            k.equal("cat and sh share the pid namespace",
                    cat["process"]["pidns"], sh["process"]["pidns"])
            k.equal("cat and sh share the mount namespace",
                    cat["process"]["mntns"], sh["process"]["mntns"])
            k.true("a container's pid namespace is not the host's",
                   sh["process"]["pidns"] != os.stat("/proc/self/ns/pid").st_ino)
        if sh:
            k.equal("node (--node)", sh.get("node"), "wit-node-1")
            k.equal("kind", sh.get("kind"), "event")
            t = sh.get("time", "")
            k.true("time is RFC 3339 UTC with nanoseconds",
                   re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", t), t)
            try:
                when = calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S"))
                k.true("time is now", abs(when - time.time()) < 60, t)
            except ValueError:
                pass
        # Without -v: no fork or exit events.
        s.barrier(c)
        for kind in ("fork", "exit"):
            extra = s.events({"event": kind})
            k.equal("%s events without -v" % kind, extra[:2], [])
        k.done()


def test_long_argv_truncated():
    # 80 arguments of 100 bytes: 8 KiB of argv, over the 4 KiB bound.
    argv = ["/bin/echo"] + ["%02d" % i + "a" * 98 for i in range(80)]
    with Sensor() as s, Container() as c:
        c.start()
        c.exec(argv)
        k = Checks(s)
        ev = k.wait(in_container(c, event="exec", process={"filename": "/bin/echo"}),
                    "exec with a long argv")
        if ev:
            args = ev["process"].get("args", [])
            k.equal("args_truncated", ev["process"].get("args_truncated"), True)
            k.true("args are a prefix of the real argv", args[:-1] == argv[:len(args) - 1]
                   and len(args) >= 2 and argv[len(args) - 1].startswith(args[-1]),
                   str(args[:3]))
            k.true("args keep close to 4 KiB", 3000 <= sum(len(a) + 1 for a in args) <= 4096,
                   str(sum(len(a) + 1 for a in args)))
        k.done()


# 2 ---------------------------------------------------------------------

def test_file_open_read():
    with Sensor() as s, Container() as c:
        c.start()
        rc, out, _ = c.exec(["cat", "/etc/passwd"])
        assert out.startswith("root:x:0:0:"), out
        k = Checks(s)
        ex = k.wait(exec_of(c, ["cat", "/etc/passwd"]), "exec of cat")
        k.fields("exec of cat", ex, "process",
                 {"filename": "/bin/cat", "exe": "/bin/busybox", "comm": "cat"})
        # (runc's init also reads the container's /etc/passwd to resolve
        # the user: only cat's open is wanted here.)
        op = k.wait(in_container(c, event="file", process={"comm": "cat"},
                                 file={"op": "open", "path": "/etc/passwd"}),
                    "open of /etc/passwd by cat")
        if op:
            k.fields("open of /etc/passwd", op, "process",
                     {"exe": "/bin/busybox", "comm": "cat",
                      "pid": ex["process"]["pid"] if ex else "<cat pid>"})
            k.fields("open of /etc/passwd", op, "file",
                     {"access": "read", "create": False, "truncate": False})
            k.true("open of /etc/passwd succeeded", op["file"].get("result", -1) >= 0,
                   str(op["file"]))
            k.true("no error on success", "error" not in op["file"], str(op["file"]))
            k.fields("open of /etc/passwd", op, "container", container_view(c))
        c.exec(["cat", "/etc/nonexistent"], check=False)
        bad = k.wait(file_op(c, "open", "/etc/nonexistent"), "failed open")
        k.fields("failed open", bad, "process", {"comm": "cat"})
        k.fields("failed open", bad, "file", {"result": -2, "error": "ENOENT"})
        k.done()


# 3 ---------------------------------------------------------------------

def test_file_write_rename_unlink():
    with Sensor() as s, Container() as c:
        c.start()
        c.exec(["sh", "-c", "echo hi > /tmp/x; mv /tmp/x /tmp/y; rm /tmp/y"])
        c.exec(["sh", "-c", "cd /tmp && echo a > rel"])
        c.exec(["sh", "-c", "echo b > rel2"], cwd="/tmp")
        c.exec(["sh", "-c", "cd /tmp && echo c > ../tmp/./rel3"])
        k = Checks(s)
        w = k.wait(file_op(c, "open", "/tmp/x"), "open of /tmp/x for writing")
        k.fields("open of /tmp/x", w, "file",
                 {"access": "write", "create": True, "truncate": True})
        k.fields("open of /tmp/x", w, "process", {"comm": "sh", "exe": "/bin/busybox"})
        if w:
            k.true("open of /tmp/x succeeded", w["file"].get("result", -1) >= 0, str(w))
        r = k.wait(file_op(c, "rename", "/tmp/x"), "rename /tmp/x -> /tmp/y")
        k.fields("rename", r, "file", {"new_path": "/tmp/y", "result": 0})
        k.fields("rename", r, "process", {"comm": "mv", "exe": "/bin/busybox"})
        u = k.wait(file_op(c, "unlink", "/tmp/y"), "unlink /tmp/y")
        k.fields("unlink", u, "file", {"result": 0})
        k.fields("unlink", u, "process", {"comm": "rm"})
        for name, what in (("/tmp/rel", "cd /tmp; echo > rel"),
                           ("/tmp/rel2", "runc exec --cwd /tmp; echo > rel2"),
                           ("/tmp/rel3", "echo > ../tmp/./rel3 from /tmp")):
            ev = k.wait(file_op(c, "open", name), "relative path resolved (%s)" % what)
            k.fields(what, ev, "file", {"access": "write", "create": True})
        k.done()


def test_file_other_ops():
    script = ("mkdir /tmp/d && echo > /tmp/f && chmod 640 /tmp/f && "
              "chown 65534:65534 /tmp/f && ln /tmp/f /tmp/h && "
              "ln -s /etc/passwd /tmp/l && rmdir /tmp/d && unlink /tmp/nope")
    with Sensor() as s, Container() as c:
        c.start()
        rc, _, err = c.exec(["sh", "-c", script], check=False)
        assert rc == 1 and "nope" in err, (rc, err)   # only the last step fails
        k = Checks(s)
        ev = k.wait(file_op(c, "mkdir", "/tmp/d"), "mkdir")
        k.fields("mkdir", ev, "file", {"result": 0})
        ev = k.wait(file_op(c, "chmod", "/tmp/f"), "chmod")
        k.fields("chmod", ev, "file", {"mode": 0o640, "result": 0})
        ev = k.wait(file_op(c, "chown", "/tmp/f"), "chown")
        k.fields("chown", ev, "file", {"owner_uid": 65534, "owner_gid": 65534, "result": 0})
        ev = k.wait(file_op(c, "link", "/tmp/f"), "link")
        k.fields("link", ev, "file", {"new_path": "/tmp/h", "result": 0})
        ev = k.wait(file_op(c, "symlink", "/etc/passwd"), "symlink")
        k.fields("symlink", ev, "file", {"new_path": "/tmp/l", "result": 0})
        ev = k.wait(file_op(c, "rmdir", "/tmp/d"), "rmdir")
        k.fields("rmdir", ev, "file", {"result": 0})
        ev = k.wait(file_op(c, "unlink", "/tmp/nope"), "failed unlink")
        k.fields("failed unlink", ev, "file", {"result": -2, "error": "ENOENT"})
        k.done()


# 4 ---------------------------------------------------------------------

def _wait_listening(ns, port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, out, _ = ns.exec(["ss", "-Hltn", "sport = :%d" % port], check=False)
        if out.strip():
            return
        time.sleep(0.05)
    raise AssertionError("nothing listening on port %d in %s" % (port, ns.name))


def _tcp_case(k, s, srv, cli, nsa, family, srv_ip, cli_ip, port):
    tag = "%s %s:%d" % (family, srv_ip, port)
    bracket = "[%s]" % srv_ip if family == "ipv6" else srv_ip
    srv.exec_detached(["httpd", "-f", "-p", "%s:%d" % (bracket, port), "-h", "/www"])
    _wait_listening(nsa, port)
    rc, out, err = cli.exec(["sh", "-c", "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc %s %d"
                             % (srv_ip, port)])
    assert "wacht" in out, (rc, out, err)

    b = k.wait(in_container(srv, network={"op": "bind", "local_port": port}),
               "bind of the server (%s)" % tag)
    k.fields("bind (%s)" % tag, b, "network",
             {"proto": "tcp", "family": family, "local_ip": srv_ip, "result": 0})
    k.fields("bind (%s)" % tag, b, "process", {"comm": "httpd", "exe": "/bin/busybox"})
    ln = k.wait(in_container(srv, network={"op": "listen", "local_port": port}),
                "listen of the server (%s)" % tag)
    k.fields("listen (%s)" % tag, ln, "network",
             {"proto": "tcp", "family": family, "local_ip": srv_ip, "result": 0})
    con = k.wait(in_container(cli, network={"op": "connect", "remote_port": port}),
                 "connect of the client (%s)" % tag)
    k.fields("connect (%s)" % tag, con, "network",
             {"proto": "tcp", "family": family, "direction": "outbound",
              "local_ip": cli_ip, "remote_ip": srv_ip, "result": 0})
    k.fields("connect (%s)" % tag, con, "process", {"comm": "nc", "exe": "/bin/busybox"})
    k.fields("connect (%s)" % tag, con, "container", container_view(cli))
    acc = k.wait(in_container(srv, network={"op": "accept", "local_port": port}),
                 "accept of the server (%s)" % tag)
    k.fields("accept (%s)" % tag, acc, "network",
             {"proto": "tcp", "family": family, "direction": "inbound",
              "local_ip": srv_ip, "remote_ip": cli_ip})
    k.fields("accept (%s)" % tag, acc, "container", container_view(srv))
    if con:
        lport = con["network"].get("local_port")
        k.true("connect has the client's ephemeral port (%s)" % tag,
               isinstance(lport, int) and lport > 0, str(con["network"]))
        if acc:
            k.equal("accept's remote port is the client's port (%s)" % tag,
                    acc["network"].get("remote_port"), lport)
    if acc:
        k.true("accept succeeded (%s)" % tag, acc["network"].get("result", -1) >= 0
               and "error" not in acc["network"], str(acc["network"]))


def test_tcp_between_containers_v4_v6():
    with Netns() as na, Netns() as nb:
        veth_between(na, nb)
        with Sensor() as s, Container(netns=na) as srv, Container(netns=nb) as cli:
            srv.start()
            cli.start()
            k = Checks(s)
            _tcp_case(k, s, srv, cli, na, "ipv4", "10.213.0.1", "10.213.0.2", 8080)
            _tcp_case(k, s, srv, cli, na, "ipv6", "fd00:213::1", "fd00:213::2", 8081)
            # Refused: nothing listens on 8082.
            rc, _, _ = cli.exec(["nc", "10.213.0.1", "8082"], check=False)
            assert rc != 0
            ref = k.wait(in_container(cli, network={"op": "connect", "remote_port": 8082}),
                         "refused connect")
            k.fields("refused connect", ref, "network",
                     {"remote_ip": "10.213.0.1", "result": -111, "error": "ECONNREFUSED"})
            k.done()


def test_udp_send():
    with Netns() as na, Netns() as nb:
        veth_between(na, nb)
        with Sensor() as s, Container(netns=nb) as cli:
            cli.start()
            # busybox tftp sends its request with an unconnected sendto().
            cli.exec(["timeout", "1", "tftp", "-g", "-r", "x", "10.213.0.1", "6969"],
                     check=False)
            k = Checks(s)
            ev = k.wait(in_container(cli, network={"op": "udp_send", "remote_port": 6969}),
                        "udp_send of tftp")
            k.fields("udp_send", ev, "network",
                     {"proto": "udp", "family": "ipv4", "direction": "outbound",
                      "remote_ip": "10.213.0.1"})
            k.fields("udp_send", ev, "process", {"comm": "tftp"})
            if ev:
                k.true("udp_send succeeded", "error" not in ev["network"], str(ev))
            k.done()


# 5 ---------------------------------------------------------------------

def test_short_lived_execs_and_exit_codes():
    with Sensor(["-v"]) as s, Container() as c:
        c.start()
        c.exec(["sh", "-c", "i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done"])
        rc, _, _ = c.exec(["sh", "-c", "exit 3"], check=False)
        assert rc == 3
        rc, _, _ = c.exec(["sh", "-c", "kill -9 $$"], check=False)
        assert rc != 0
        s.barrier(c)
        k = Checks(s)
        trues = s.events(exec_of(c, ["/bin/true"]))
        k.equal("exec events of /bin/true", len(trues), 200)
        odd = [e for e in trues if e["process"].get("filename") != "/bin/true"
               or e["process"].get("exe") != "/bin/busybox"]
        k.equal("/bin/true execs with filename /bin/true and exe /bin/busybox", odd[:3], [])
        pids = {e["process"]["pid"] for e in trues}
        k.equal("distinct pids of /bin/true", len(pids), len(trues))
        exits = s.events(in_container(c, event="exit",
                                      process={"pid": lambda p: p in pids}))
        if len(exits) < len(pids):  # exits may trail the marker a little
            time.sleep(1)
            exits = s.events(in_container(c, event="exit",
                                          process={"pid": lambda p: p in pids}))
        k.equal("exit events of /bin/true", len({e["process"]["pid"] for e in exits}), len(pids))
        bad = [e["process"] for e in exits
               if (e["process"].get("exit_code"), e["process"].get("signal")) != (0, 0)]
        k.equal("/bin/true exits with code 0", bad[:3], [])
        forks = s.events(in_container(c, event="fork",
                                      process={"child_pid": lambda p: p in pids}))
        k.equal("fork events of the shell for each /bin/true",
                len({e["process"]["child_pid"] for e in forks}), len(pids))

        sh3 = k.wait(exec_of(c, ["sh", "-c", "exit 3"]), "exec of sh -c 'exit 3'")
        if sh3:
            ex = k.wait(in_container(c, event="exit", process={"pid": sh3["process"]["pid"]}),
                        "exit of sh -c 'exit 3'")
            k.fields("exit 3", ex, "process", {"exit_code": 3, "signal": 0, "comm": "sh"})
        sh9 = k.wait(exec_of(c, ["sh", "-c", "kill -9 $$"]), "exec of sh -c 'kill -9 $$'")
        if sh9:
            ex = k.wait(in_container(c, event="exit", process={"pid": sh9["process"]["pid"]}),
                        "exit of the killed sh")
            k.fields("killed by SIGKILL", ex, "process", {"signal": 9})
        stats = s.stop()
        k.true("no drops for 200 short-lived execs",
               stats.get("total_dropped") == 0, str(stats))
        k.true("stats count the exec events delivered",
               (stats.get("delivered") or {}).get("exec", 0) >= 200, str(stats))
        k.done()


# 6 ---------------------------------------------------------------------

def test_runc_exec_into_existing_container():
    # The container exists before the sensor starts: found by the startup scan.
    with Container(container_name="web", namespace="wit-shop",
                   image="registry.example/shop/web:1.2") as c:
        c.start()
        with Sensor() as s:
            c.exec(["cat", "/etc/hostname"])
            k = Checks(s)
            ev = k.wait(exec_of(c, ["cat", "/etc/hostname"]), "exec via runc exec")
            k.fields("runc exec", ev, "container", container_view(c))
            k.fields("runc exec", ev, "process", {"exe": "/bin/busybox", "filename": "/bin/cat"})
            k.done()


# 7 ---------------------------------------------------------------------

def test_short_lived_container():
    with Sensor() as s:
        k = Checks(s)
        with Container(container_name="job") as c:
            rc, out, err = c.run_once(["cat", "/etc/hostname"])
            assert (rc, out) == (0, c.pod + "\n"), (rc, out, err)
            want = container_view(c, cgroup_id=False)
        ev = k.wait(exec_of(c, ["cat", "/etc/hostname"]), "exec of a container's only process")
        k.fields("only process", ev, "container", want)
        k.fields("only process", ev, "process", {"exe": "/bin/busybox", "filename": "/bin/cat"})
        op = k.wait(file_op(c, "open", "/etc/hostname"), "open by a container's only process")
        k.fields("open by only process", op, "container", want)
        with Container() as c2:
            rc, _, err = c2.run_once(["/bin/true"])
            assert rc == 0, err
            want2 = container_view(c2, cgroup_id=False)
        ev = k.wait(exec_of(c2, ["/bin/true"]), "exec of /bin/true as a container's only process")
        k.fields("/bin/true container", ev, "container", want2)
        k.done()


# 8 ---------------------------------------------------------------------

def test_host_processes_only_with_host():
    with Sensor() as s, Container() as c:
        c.start()
        p = subprocess.Popen(["/bin/cat", "/etc/hostname"], stdout=subprocess.DEVNULL)
        p.wait()
        s.barrier(c)
        time.sleep(0.2)
        s.assert_absent({"process": {"pid": p.pid}}, "host process reported without --host")
        s.assert_absent({"container": None}, "host event reported without --host")
    with Sensor(["--host"]) as s:
        p = subprocess.Popen(["/bin/cat", "/etc/hostname"], stdout=subprocess.DEVNULL)
        p.wait()
        k = Checks(s)
        ev = k.wait({"event": "exec", "process": {"pid": p.pid}}, "host exec with --host")
        if ev:
            k.equal("host exec's container", ev.get("container", "<missing>"), None)
        k.fields("host exec", ev, "process",
                 {"filename": "/bin/cat", "args": ["/bin/cat", "/etc/hostname"],
                  "exe": os.path.realpath("/bin/cat"), "comm": "cat"})
        op = k.wait({"event": "file", "process": {"pid": p.pid},
                     "file": {"op": "open", "path": "/etc/hostname"}}, "host open with --host")
        if op:
            k.equal("host open's container", op.get("container", "<missing>"), None)
        own = s.events({"process": {"pid": s.proc.pid}})
        k.equal("events of the sensor itself", own[:2], [])
        k.done()


# 9 ---------------------------------------------------------------------

def test_containerd_cgroup_shape():
    uid = str(uuid.uuid4())
    cid = secrets.token_hex(32)
    c = Container(name=cid, cgroups_path=kubepods_cgroup(uid, cid), pod_uid=uid)
    # The pod uid must come from the cgroup path (pod<uid>), not an annotation.
    del c.annotations["io.kubernetes.pod.uid"]
    with Sensor() as s, c:
        c.start()
        assert c.cgroup == "/kubepods/besteffort/pod%s/%s" % (uid, cid), c.cgroup
        c.exec(["cat", "/etc/hostname"])
        k = Checks(s)
        ev = k.wait(exec_of(c, ["cat", "/etc/hostname"]), "exec in a kubepods container")
        k.fields("kubepods container", ev, "container", container_view(c, runtime="containerd"))
        k.done()


# 10 --------------------------------------------------------------------

def test_file_prefix_filter():
    with Sensor(["--file-prefix", "/etc", "--file-prefix", "/tmp/keep"]) as s, \
            Container() as c:
        c.start()
        c.exec(["sh", "-c", "cat /etc/passwd >/dev/null; echo x > /tmp/x; cat /tmp/x; "
                            "mkdir /tmp/keep; echo y > /tmp/keep/a; "
                            # ".." must not hide a change under a watched prefix
                            "mkdir /tmp/../etc/dotdot; rmdir /tmp/../etc/dotdot; "
                            "cd /tmp && mkdir ../etc/rel; cd /etc && rmdir rel"])
        k = Checks(s)
        ev = k.wait(file_op(c, "open", "/etc/passwd"), "open under --file-prefix /etc")
        k.fields("open /etc/passwd", ev, "file", {"access": "read"})
        k.wait(file_op(c, "open", "/tmp/keep/a"), "open under --file-prefix /tmp/keep")
        ev = k.wait(file_op(c, "mkdir", "/etc/dotdot"), "mkdir /tmp/../etc/dotdot")
        k.fields("mkdir via ..", ev, "file", {"result": 0})
        k.wait(file_op(c, "rmdir", "/etc/dotdot"), "rmdir /tmp/../etc/dotdot")
        ev = k.wait(file_op(c, "mkdir", "/etc/rel"), "mkdir ../etc/rel from cwd /tmp")
        k.fields("mkdir via relative ..", ev, "file", {"result": 0})
        k.wait(file_op(c, "rmdir", "/etc/rel"), "rmdir rel from cwd /etc")
        s.barrier(c)
        outside = [e["file"] for e in s.events(in_container(c, event="file"))
                   if not (e["file"]["path"] in ("/etc", "/tmp/keep")
                           or e["file"]["path"].startswith(("/etc/", "/tmp/keep/")))]
        k.equal("file events outside the prefixes", outside[:5], [])
        stats = s.stop()
        k.equal("total_dropped", stats.get("total_dropped"), 0)
        nonzero = {t: d for t, d in (stats.get("drops") or {}).items()
                   if any(v for v in d.values())}
        k.equal("drop counters", nonzero, {})
        k.done()


# 11 --------------------------------------------------------------------

def _stop_detaches(sig):
    before = bpf_links()
    assert before is not None, "bpftool link list failed"
    s = Sensor(["--stats-interval", "1"]).start()
    try:
        ours = links_of_pid(s.proc.pid)
        assert ours, "the running sensor holds no BPF links"
        running = bpf_links()
        missing = ours - set(running)
        assert not missing, "links %s of the sensor not listed by bpftool" % missing
        time.sleep(2.5)
        periodic = s.stats()
        assert len(periodic) >= 2, "--stats-interval 1: %d stats lines in 2.5 s" % len(periodic)
    finally:
        stats = s.stop(sig)   # exit 0 within 10 s and a final stats line
    assert not os.path.exists(s.ready_path), "ready file left after exit"
    assert isinstance(stats.get("delivered"), dict), stats
    assert isinstance(stats.get("drops"), dict), stats
    assert isinstance(stats.get("total_dropped"), int), stats
    after = bpf_links()
    left = sorted(ours & set(after))
    assert not left, "BPF links of the sensor still attached after %s: %s" % (
        signal.Signals(sig).name, [after[i] for i in left])
    # Links that appeared meanwhile and that no live process holds leaked
    # (links other processes hold are somebody else's on a shared host).
    owners = bpf_link_owners()
    leaked = [l for i, l in after.items() if i not in before and not owners.get(i)]
    assert not leaked, "BPF links: %d before the sensor, %d after it stopped; leaked: %s" % (
        len(before), len(after), leaked)


def test_sigterm_detaches():
    _stop_detaches(signal.SIGTERM)


def test_sigint_detaches():
    _stop_detaches(signal.SIGINT)


# runtime setup ----------------------------------------------------------

def test_runtime_init_only_verbose():
    """runc init acts inside the container (it opens the container's
    /etc/passwd for `runc exec`) before the first exec: that is the runtime,
    not the workload. Hidden by default, shown and marked with -v."""
    init = {"event": "file", "process": {"comm": "runc:[2:INIT]"}}
    with Sensor() as s, Container() as c:
        c.start()
        c.exec(["cat", "/etc/hostname"])
        k = Checks(s)
        k.wait(exec_of(c, ["cat", "/etc/hostname"]), "exec via runc exec")
        s.barrier(c)
        s.assert_absent(init, "runc init's file events without -v")
        k.done()
    with Sensor(["-v"]) as s, Container() as c:
        c.start()
        c.exec(["cat", "/etc/hostname"])
        k = Checks(s)
        ev = k.wait(in_container(c, event="file", process={"comm": "runc:[2:INIT]"}),
                    "runc init's file event with -v")
        k.fields("runc init event", ev, "process", {"runtime_init": True})
        ev = k.wait(file_op(c, "open", "/etc/hostname"), "the workload's own open")
        if ev:
            k.equal("workload marked runtime_init", ev["process"].get("runtime_init"), None)
        k.done()
