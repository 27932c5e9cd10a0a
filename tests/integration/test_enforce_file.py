# block_access enforced (issue 4, file part): in Protect mode the file
# guard (fanotify permission events on the container's root mount) stops an
# app that is not in a block_access rule's app list from opening or
# executing a file under the filter; the finding says deny only when the
# open was really stopped. Monitor mode and --alert-only only report. When
# the container goes, or the sensor dies (even by SIGKILL), nothing stays
# denied.

import os
import shutil
import signal
import subprocess
import time

from harness import CGROUP2
from test_policy import (Sensor, assert_none, check, fspec, line_of, new_ns, of_proc,
                         rewrite, rules_file, wait_finding, wait_policy,
                         web_group, web_container, n_policy, POD)

SECRET = "s3cret-key-1234\n"
BLOCK = "{filter: /etc/secret/*, recursive: true, behavior: block_access, app: [cat]}"
ALLOW_ALL = ['{name: "*", path: "*", action: allow}']
DENIED = "Operation not permitted"   # FAN_DENY: the open fails with EPERM


def _rules(mode, ns):
    group, text = web_group(ns, policymode=mode, mode=mode, process=ALLOW_ALL, file=[BLOCK])
    return group, text


def _container(ns, overlay=False):
    """A web pod whose image holds /etc/secret/key and an executable copy
    of busybox at /etc/secret/tool (written before the start: part of the
    image, no event)."""
    c = web_container(ns, overlay=overlay).prepare()
    d = os.path.join(c.image_root, "etc", "secret")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "key"), "w") as f:
        f.write(SECRET)
    shutil.copy(os.path.join(c.image_root, "bin", "busybox"), os.path.join(d, "tool"))
    os.chmod(os.path.join(d, "tool"), 0o755)
    return c


def fanotify_marks(pid):
    """The marks of every fanotify group process pid holds, as the kernel
    lists them in fdinfo ("fanotify mnt_id:N mflags:.. mask:.."); None if
    it holds no fanotify group."""
    marks, groups = [], 0
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) != "anon_inode:[fanotify]":
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                groups += 1
                marks += [l.strip() for l in f if l.startswith("fanotify ") and "mask:" in l]
        except FileNotFoundError:
            continue
    return marks if groups else None


def wait_marks(s, n, what, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        marks = fanotify_marks(s.proc.pid)
        if marks is not None and len(marks) == n:
            return marks
        if time.monotonic() > deadline:
            raise AssertionError("%s: wanted %d fanotify marks held by the sensor, have %s\n%s"
                                 % (what, n, marks, s.log_tail(10)))
        time.sleep(0.05)


def guard_ready(s, c):
    """The container is guarded once its first event went through the
    sensor (its init's exec): a barrier, then its root mount's mark."""
    s.barrier(c)
    return wait_marks(s, 1, "the Protect container's root mount is marked")


def mount_id(c):
    """The mount id of the container's root mount (as fdinfo says it)."""
    with open("/proc/%d/mountinfo" % c.pid()) as f:
        for line in f:
            parts = line.split()
            if parts[4] == "/":
                last = int(parts[0])
    return last


def _protect_case(overlay):
    ns = new_ns()
    group, text = _rules("Protect", ns)
    path = rules_file(text)
    rule_id = "%s:%d" % (path, line_of(text, "{filter: /etc/secret/*"))
    with Sensor(["--rules", path, "--window", "1"]) as s, _container(ns, overlay) as c:
        c.start()
        marks = guard_ready(s, c)
        # (fdinfo writes the mount id in hex, mountinfo in decimal)
        mnt = int(marks[0].split("mnt_id:")[1].split()[0], 16)
        assert mnt == mount_id(c), \
            "the mark is on the container's root mount %d: %s" % (mount_id(c), marks)
        assert "mask:50000" in marks[0], "FAN_OPEN_PERM|FAN_OPEN_EXEC_PERM: %s" % marks

        # the listed app reads it
        assert c.exec(["cat", "/etc/secret/key"]) == (0, SECRET, "")
        # another app gets no content
        rc, out, err = c.exec(["head", "/etc/secret/key"], check=False)
        assert (rc, out, err) == (1, "", "head: /etc/secret/key: %s\n" % DENIED), (rc, out, err)
        # also for writing, and through a relative path
        rc, out, err = c.exec(["sh", "-c", "cd /etc/secret && echo x >> key; echo rc=$?"],
                              check=False)
        assert out == "rc=1\n" and err == "sh: can't create key: %s\n" % DENIED, (rc, out, err)
        # through a symlink: the open reaches the file, the guard sees its path
        rc, out, err = c.exec(["sh", "-c", "ln -s /etc/secret/key /tmp/s && tail /tmp/s"],
                              check=False)
        assert (rc, out, err) == (1, "", "tail: can't open '/tmp/s': %s\ntail: no files\n"
                                  % DENIED), \
            (rc, out, err)
        # truncating: denied before the truncation
        # (a failed redirection of the special builtin ':' ends the shell)
        rc, out, err = c.exec(["sh", "-c", ": > /etc/secret/key"], check=False)
        assert (rc, out, err) == (1, "", "sh: can't create /etc/secret/key: %s\n" % DENIED), \
            (rc, out, err)
        # a new file: the kernel creates it, then asks; it stays empty
        rc, out, err = c.exec(["sh", "-c", "echo x > /etc/secret/new; echo rc=$?"], check=False)
        assert (out, err) == ("rc=1\n", "sh: can't create /etc/secret/new: %s\n" % DENIED), \
            (rc, out, err)
        assert os.path.getsize(os.path.join(c.rootfs, "etc", "secret", "new")) == 0
        # executing a file under the filter (the shell is not listed)
        rc, out, err = c.exec(["sh", "-c", "/etc/secret/tool echo ran; echo rc=$?"], check=False)
        assert (out, err) == ("rc=126\n", "sh: /etc/secret/tool: %s\n" % DENIED), (rc, out, err)
        # outside the filter: untouched
        assert c.exec(["head", "-n1", "/etc/hostname"])[1] == POD[:63] + "\n"
        # the host reads the same file through its own mount: not the container's
        with open(os.path.join(c.rootfs, "etc", "secret", "key")) as f:
            assert f.read() == SECRET
        # ... and through the container's own mount: a process outside the
        # container is never held up (counted as not_guarded)
        with open("/proc/%d/root/etc/secret/key" % c.pid()) as f:
            assert f.read() == SECRET
        s.barrier(c)

        v = wait_finding(s, of_proc(c, "head", "Container.FileAccess.Violation"),
                         what="head denied /etc/secret/key")
        check("head's finding", v, {
            "action": "deny", "mode": "Protect", "severity": "high",
            "rule": {"id": rule_id, "name": "/etc/secret/*", "group": group},
            "file": {"path": "/etc/secret/key", "op": "access"},
            "container": {"id": c.id, "pod": POD, "group": group},
            "process": {"name": "head", "exe": "/bin/busybox"},
            "message": "head may not access /etc/secret/key (block_access /etc/secret/*)"})
        w = wait_finding(s, fspec(c, "Container.FileAccess.Violation",
                                  file={"path": "/etc/secret/key"}, process={"name": "sh"}),
                         what="sh denied writing key")
        check("sh's write", w, {"action": "deny", "rule": {"id": rule_id}})
        x = wait_finding(s, fspec(c, "Container.FileAccess.Violation",
                                  file={"path": "/etc/secret/tool"}),
                         what="the exec of /etc/secret/tool")
        check("the denied exec", x, {
            "action": "deny", "mode": "Protect", "rule": {"id": rule_id},
            "file": {"path": "/etc/secret/tool", "op": "access"},
            "process": {"name": "sh", "exe": "/bin/busybox"},
            "message": "sh may not access /etc/secret/tool (block_access /etc/secret/*)"})
        t = wait_finding(s, of_proc(c, "tail", "Container.FileAccess.Violation"),
                         what="tail denied through a symlink")
        check("the open through a symlink", t, {
            "action": "deny", "rule": {"id": rule_id},
            "file": {"path": "/etc/secret/key", "op": "access"},
            "message": "tail may not access /etc/secret/key (block_access /etc/secret/*)"})
        assert_none(s, of_proc(c, "cat", "Container.FileAccess.Violation"), "cat is listed")
    st = s.final_stats["rules"]["file_guard"]
    check("guard counters", st, {"denied": 6, "guarded": 0, "marks_added": 1,
                                 "marks_removed": 1, "mark_errors": 0, "response_errors": 0,
                                 "alert_only": False})
    assert st["not_guarded"] >= 1, st


def test_protect_denies_plain_rootfs():
    _protect_case(overlay=False)


def test_protect_denies_overlay_rootfs():
    _protect_case(overlay=True)


def test_monitor_reads_and_alerts():
    ns = new_ns()
    group, text = _rules("Monitor", ns)
    path = rules_file(text)
    with Sensor(["--rules", path, "--window", "1"]) as s, _container(ns) as c:
        c.start()
        s.barrier(c)
        assert fanotify_marks(s.proc.pid) == [], fanotify_marks(s.proc.pid)
        assert c.exec(["head", "/etc/secret/key"]) == (0, SECRET, "")
        s.barrier(c)
        v = wait_finding(s, of_proc(c, "head", "Container.FileAccess.Violation"))
        check("Monitor: head reads", v, {
            "action": "alert", "mode": "Monitor",
            "rule": {"id": "%s:%d" % (path, line_of(text, "{filter: /etc/secret/*"))},
            "file": {"path": "/etc/secret/key", "op": "access"},
            "process": {"name": "head"},
            "message": "head may not access /etc/secret/key (block_access /etc/secret/*)"})


def test_alert_only_marks_nothing():
    ns = new_ns()
    group, text = _rules("Protect", ns)
    path = rules_file(text)
    with Sensor(["--rules", path, "--window", "1", "--alert-only"]) as s, _container(ns) as c:
        c.start()
        s.barrier(c)
        assert fanotify_marks(s.proc.pid) is None, "--alert-only: no fanotify group"
        assert c.exec(["head", "/etc/secret/key"]) == (0, SECRET, "")
        s.barrier(c)
        v = wait_finding(s, of_proc(c, "head", "Container.FileAccess.Violation"))
        check("--alert-only: head reads", v, {
            "action": "alert", "mode": "Protect",
            "message": "head may not access /etc/secret/key (block_access /etc/secret/*); "
                       "not enforced: the open was not stopped"})


def test_reported_not_denied_operations():
    """link and unlink are not opens: they happen, and the findings say they
    were not enforced. A hard link made so names the file by a path no
    filter covers: the rules are about paths, so it can be read there."""
    ns = new_ns()
    group, text = _rules("Protect", ns)
    path = rules_file(text)
    with Sensor(["--rules", path, "--window", "1"]) as s, _container(ns) as c:
        c.start()
        guard_ready(s, c)
        assert c.exec(["ln", "/etc/secret/key", "/tmp/h"]) == (0, "", "")
        assert c.exec(["head", "/tmp/h"]) == (0, SECRET, "")
        assert c.exec(["rm", "/etc/secret/key"]) == (0, "", "")
        assert not os.path.exists(os.path.join(c.rootfs, "etc", "secret", "key"))
        s.barrier(c)
        v = wait_finding(s, of_proc(c, "rm", "Container.FileAccess.Violation"))
        check("rm", v, {
            "action": "alert", "mode": "Protect", "file": {"path": "/etc/secret/key",
                                                            "op": "delete"},
            "message": "rm may not access /etc/secret/key (block_access /etc/secret/*); "
                       "not enforced: only opens and executions are blocked"})
        ln = wait_finding(s, of_proc(c, "ln", "Container.FileAccess.Violation"))
        check("ln", ln, {
            "action": "alert", "mode": "Protect", "file": {"path": "/tmp/h", "op": "link"},
            "message": "ln may not access /etc/secret/key (block_access /etc/secret/*); "
                       "not enforced: only opens and executions are blocked"})


def test_marks_go_with_container_and_reload():
    ns = new_ns()
    group, text = _rules("Protect", ns)
    path = rules_file(text)
    with Sensor(["--rules", path]) as s:
        with _container(ns) as c:
            c.start()
            guard_ready(s, c)
            # leaving Protect by a reload: unmarked, the read works
            n = n_policy(s)
            rewrite(path, _rules("Monitor", ns)[1])
            pol = wait_policy(s, n)
            assert pol["status"] == "loaded", pol
            wait_marks(s, 0, "Monitor after the reload: no mark")
            assert c.exec(["head", "/etc/secret/key"]) == (0, SECRET, "")
            # and back
            n = n_policy(s)
            rewrite(path, text)
            wait_policy(s, n)
            wait_marks(s, 1, "Protect again after the reload")
            assert c.exec(["head", "/etc/secret/key"], check=False)[0] == 1
        # the container is deleted: its mark went with it
        wait_marks(s, 0, "after the container was deleted")


def _blocked_in_fanotify(cgroup_dir):
    """Pids in the cgroup whose task waits for a fanotify answer."""
    pids = []
    try:
        with open(os.path.join(cgroup_dir, "cgroup.procs")) as f:
            candidates = [int(l) for l in f if l.strip()]
    except FileNotFoundError:
        return pids
    for pid in candidates:
        try:
            with open("/proc/%d/wchan" % pid) as f:
                if "fanotify" in f.read():
                    pids.append(pid)
        except OSError:
            pass
    return pids


def test_sigkill_of_sensor_allows_opens():
    """The sensor stopped (SIGSTOP) holds a container's open; SIGKILL
    closes its fanotify group: the pending open and every later one go
    through."""
    ns = new_ns()
    group, text = _rules("Protect", ns)
    path = rules_file(text)
    s = Sensor(["--rules", path])
    with _container(ns) as c:
        try:
            s.start()
            c.start()
            guard_ready(s, c)
            assert c.exec(["head", "/etc/secret/key"], check=False)[0] == 1
            os.kill(s.proc.pid, signal.SIGSTOP)
            p = subprocess.Popen(["runc", "exec", c.id, "head", "/etc/secret/key"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            cg = CGROUP2 + c.cgroup
            deadline = time.monotonic() + 10
            while not _blocked_in_fanotify(cg):
                assert p.poll() is None, "the open was not held: %s" % (p.communicate(),)
                assert time.monotonic() < deadline, "no task of the container waits in fanotify"
                time.sleep(0.05)
            os.kill(s.proc.pid, signal.SIGKILL)
            out, err = p.communicate(timeout=10)
            assert (p.returncode, out, err) == (0, SECRET, ""), (p.returncode, out, err)
            assert c.exec(["head", "/etc/secret/key"]) == (0, SECRET, "")
        finally:
            if s.proc and s.proc.poll() is None:
                s.proc.kill()
            if s.proc:
                s.proc.wait(10)
                s.exit_code = s.proc.returncode
