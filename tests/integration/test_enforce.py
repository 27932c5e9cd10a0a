# Protect mode's process enforcement, decided in the kernel at the exec:
# a forbidden program is killed before it runs one instruction. The
# program under test (progs/marker.c) appends one byte to ./marks as the
# very first thing it does, so the size of /marks counts how many copies
# ran at all: 1,000 forbidden attempts must leave 0 bytes, 1,000 allowed
# ones 1,000 bytes. Also: a script, a symlink, a copy under zero-drift, a
# container whose first process is forbidden (held until compiled),
# Monitor and --alert-only (everything runs, findings say alert), and the
# safety rules (host processes and the sensor are never touched; a sensor
# that stops, even with SIGKILL, stops enforcing).

import os
import secrets
import shutil
import signal
import subprocess
import time

from harness import (BUSYBOX, CONTROL_INIT, DEFAULT_IMAGE, REG, Container, Sensor, run,
                     write_rules)

VIOLATION = "Process.Profile.Violation"
SENSOR_ARGS = ["--window", "1"]
POD = "mk-7d9f8c6b5-x2x7k"   # service "mk"
HERE = os.path.dirname(os.path.abspath(__file__))
KILLED = 128 + 9             # a shell's $? for a child killed by SIGKILL

_marker_bin = None


def marker_bin():
    """progs/marker.c, built once per session."""
    global _marker_bin
    if _marker_bin is None:
        out = os.path.join(REG.tmp(), "marker")
        run(["gcc", "-static", "-nostdlib", "-O2", "-o", out,
             os.path.join(HERE, "progs", "marker.c")])
        _marker_bin = out
    return _marker_bin


def new_ns():
    return "we-" + secrets.token_hex(3)


def rules_text(ns, mode, baseline="basic"):
    return """\
apiVersion: neuvector.com/v1
kind: NvSecurityRule
metadata: {{name: nv.mk.{ns}, namespace: {ns}}}
spec:
  target:
    selector:
      name: nv.mk.{ns}
      criteria: [{{key: service, op: "=", value: mk}}, {{key: namespace, op: "=", value: {ns}}}]
  process_profile: {{baseline: {baseline}, mode: {mode}}}
  process:
  - {{name: "*", path: /bin/busybox, action: allow}}
  - {{name: "*", path: /opt/*, action: allow}}
""".format(ns=ns, mode=mode, baseline=baseline)


def put(c, path, copy=None, text=None, mode=0o755):
    dst = os.path.join(c.image_root, path.lstrip("/"))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if copy:
        shutil.copy2(copy, dst)
    else:
        with open(dst, "w") as f:
            f.write(text)
    os.chmod(dst, mode)


def marker_container(ns, args=None, overlay=False):
    """The same marker program allowed (/opt/marker) and forbidden
    (/usr/local/bin/marker), plus scripts that run it."""
    c = Container(pod=POD, namespace=ns, args=args or CONTROL_INIT, overlay=overlay).prepare()
    put(c, "/opt/marker", copy=marker_bin())
    put(c, "/usr/local/bin/marker", copy=marker_bin())
    # a script (its interpreter is allowed) that runs the forbidden one
    put(c, "/opt/run.sh", text="#!/bin/sh\n/usr/local/bin/marker\n")
    # a script whose interpreter is the forbidden program itself
    put(c, "/opt/shebang", text="#!/usr/local/bin/marker\n")
    return c


def marks(c):
    """Bytes the marker programs wrote into the container's /marks."""
    path = os.path.join(c.rootfs, "marks")
    return os.path.getsize(path) if os.path.exists(path) else 0


def loop(c, prog, n):
    """Run prog n times in a tight loop from the container's root process;
    returns how many runs exited killed."""
    rc, out = c.init_run(
        "i=0; k=0; while [ $i -lt %d ]; do %s; [ $? -eq %d ] && k=$((k+1)); i=$((i+1)); done; "
        "echo $k" % (n, prog, KILLED), timeout=120)
    return int(out.strip().splitlines()[-1])


def counted(s, spec):
    """The number of attempts the findings matching spec stand for (each
    finding has a count: identical ones are aggregated)."""
    return sum(f.get("count", 1) for f in s.findings(spec))


def wait_counted(s, spec, n, what, timeout=20):
    deadline = time.monotonic() + timeout
    while counted(s, spec) < n:
        if time.monotonic() > deadline:
            raise AssertionError("%s: findings count %d of %d\n%s"
                                 % (what, counted(s, spec), n, s.dump_findings(spec=spec)))
        time.sleep(0.1)
    return counted(s, spec)


def of(c, **more):
    spec = {"kind": "finding", "name": VIOLATION, "container": {"id": c.id}}
    spec.update(more)
    return spec


def test_protect_kills_before_the_first_instruction():
    ns = new_ns()
    group = "nv.mk." + ns
    rules = write_rules(rules_text(ns, "Protect"))
    c = marker_container(ns)
    with Sensor(SENSOR_ARGS + ["--rules", rules]) as s, c:
        c.start()
        killed = loop(c, "/usr/local/bin/marker", 1000)
        assert marks(c) == 0, "forbidden marker ran %d of 1000 times" % marks(c)
        assert killed == 1000, "%d of 1000 forbidden runs exited by SIGKILL" % killed
        spec = of(c, action="kill", mode="Protect",
                  process={"name": "marker", "exe": "/usr/local/bin/marker"},
                  rule={"id": "profile:" + group, "group": group})
        # every attempt is reported (repeats aggregated), none as anything
        # but a kill
        assert wait_counted(s, spec, 1000, "1000 kills") == 1000
        first = s.findings(spec)[0]
        assert first["message"] == "marker (/usr/local/bin/marker): not in the process profile", first
        assert counted(s, of(c, action="alert")) == 0, s.findings(of(c, action="alert"))[:3]

        # the same program where the rules allow it runs every time
        killed = loop(c, "/opt/marker", 1000)
        assert (killed, marks(c)) == (0, 1000), (killed, marks(c))
        assert s.findings(of(c, process={"exe": "/opt/marker"})) == []

        # through a script (the shell is allowed, what it runs is not), a
        # script whose interpreter is the program, and a symlink in an
        # allowed directory to the forbidden file
        rc, out = c.init_run("/opt/run.sh; echo $?")
        assert out.strip().splitlines()[-1] == str(KILLED), out
        rc, out = c.init_run("/opt/shebang; echo $?")
        assert out.strip().splitlines()[-1] == str(KILLED), out
        rc, out = c.init_run("ln -s /usr/local/bin/marker /opt/link && /opt/link; echo $?")
        assert out.strip().splitlines()[-1] == str(KILLED), out
        assert marks(c) == 1000, "a forbidden marker ran: %d" % (marks(c) - 1000)
        s.wait_finding(of(c, action="kill", process={"name": "link",
                                                     "exe": "/usr/local/bin/marker"}),
                       what="the symlink's kill")
        s.wait_finding(of(c, action="kill", process={"name": "shebang",
                                                     "exe": "/usr/local/bin/marker"}),
                       what="the shebang script's kill")
        enf = s.stop()["enforcement"]
        assert enf["enabled"] is True and enf["killed"] >= 1003, enf


def test_zero_drift_copy_under_a_new_name_is_killed():
    ns = new_ns()
    rules = write_rules(rules_text(ns, "Protect", baseline="zero-drift"))
    c = marker_container(ns)
    with Sensor(SENSOR_ARGS + ["--rules", rules]) as s, c:
        c.start()
        # the image's binary is allowed
        rc, out = c.init_run("/opt/marker; echo $?")
        assert out.strip() == "0" and marks(c) == 1, (out, marks(c))
        # a copy of it, under a name and in a place the rules allow
        rc, out = c.init_run("cp /opt/marker /opt/copy && /opt/copy; echo $?")
        assert out.strip().splitlines()[-1] == str(KILLED), out
        assert marks(c) == 1, "the copy ran"
        s.wait_finding(of(c, action="kill", process={"name": "copy", "exe": "/opt/copy"},
                          message="copy (/opt/copy): zero-drift: the binary was written "
                                  "or replaced after the container started"),
                       what="the copy's kill")
        # the original still runs
        rc, out = c.init_run("/opt/marker; echo $?")
        assert out.strip() == "0" and marks(c) == 2, (out, marks(c))


def test_monitor_and_alert_only_run_everything():
    for mode, extra, note in (
            ("Monitor", [], ""),
            ("Protect", ["--alert-only"], " (not killed: enforcement is off, --alert-only)")):
        ns = new_ns()
        rules = write_rules(rules_text(ns, mode))
        c = marker_container(ns)
        with Sensor(SENSOR_ARGS + extra + ["--rules", rules]) as s, c:
            c.start()
            killed = loop(c, "/usr/local/bin/marker", 100)
            assert (killed, marks(c)) == (0, 100), (mode, extra, killed, marks(c))
            spec = of(c, action="alert", mode=mode, process={"exe": "/usr/local/bin/marker"})
            assert wait_counted(s, spec, 100, "%s %s alerts" % (mode, extra)) == 100
            first = s.findings(spec)[0]
            assert first["message"] == ("marker (/usr/local/bin/marker): not in the process "
                                        "profile" + note), first
            assert s.findings(of(c, action="kill")) == []
            enf = s.stop()["enforcement"]
            assert enf["enabled"] is (not extra) and enf["killed"] == 0, enf


def test_first_process_of_a_new_container():
    # Containers started after the sensor: their first exec is held until
    # the sensor compiled their policy, then decided by the kernel. The
    # sensor is stopped (SIGSTOP) while each container starts, so its
    # first exec certainly comes before the policy could be compiled: the
    # hold, not a lucky order, is what stops it.
    ns = new_ns()
    rules = write_rules(rules_text(ns, "Protect"))
    bad = marker_container(ns, args=["/usr/local/bin/marker"])
    good = marker_container(ns, args=["/opt/marker"])
    with Sensor(SENSOR_ARGS + ["--rules", rules]) as s, bad, good:
        for c in (bad, good):
            os.kill(s.proc.pid, signal.SIGSTOP)
            try:
                c.start()
            finally:
                os.kill(s.proc.pid, signal.SIGCONT)
        f = s.wait_finding(of(bad, action="kill", process={"exe": "/usr/local/bin/marker"}),
                           what="the forbidden entrypoint's kill")
        assert f["message"] == "marker (/usr/local/bin/marker): not in the process profile", f
        deadline = time.monotonic() + 10
        while marks(good) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marks(good) == 1, "the allowed entrypoint did not run"
        assert marks(bad) == 0, "the forbidden entrypoint ran:\n" + s._fmt(s.events({"container": {"id": bad.id}})) + "\n" + s._fmt(s.findings(of(bad))) + s.log_tail(20)
        assert s.findings(of(good)) == []
        # both entrypoints were held (the events say so), one killed, one let go
        for c, exe in ((bad, "/usr/local/bin/marker"), (good, "/opt/marker")):
            s.wait_for({"event": "exec", "container": {"id": c.id},
                        "process": {"exe": exe, "held": True}},
                       what="the held exec event of " + exe)
        enf = s.stop()["enforcement"]   # (counters of every container on the host)
        assert enf["held"] >= 2 and enf["held_killed"] >= 1 and enf["held_released"] >= 1, enf


DENY_ALL = """\
apiVersion: neuvector.com/v1
kind: NvClusterSecurityRule
metadata: {name: containers}
spec:
  target:
    selector: {name: containers}
  process_profile: {baseline: basic, mode: Protect}
  process:
  - {name: "*", path: "*", action: deny}
"""


def test_host_and_sensor_never_killed_and_stopping_stops_enforcement():
    rules = write_rules(DENY_ALL)
    ns = new_ns()
    c = marker_container(ns, args=["/opt/marker"])
    after = marker_container(ns, args=["/opt/marker"])
    host_dir = os.path.join(REG.tmp(), "host-" + secrets.token_hex(3))
    os.makedirs(host_dir)
    s = Sensor(SENSOR_ARGS + ["--host", "--rules", rules])
    with s, c, after:
        # deny-all on the containers group kills a container's first process
        c.start()
        s.wait_finding(of(c, action="kill", process={"exe": "/opt/marker"},
                          rule={"id": "%s:9" % rules, "name": "*", "group": "containers"}),
                       what="deny-all kills in the container")
        assert marks(c) == 0
        # the host runs the same program, 20 times: seen (--host), never touched
        for _ in range(20):
            p = subprocess.run([marker_bin()], cwd=host_dir)
            assert p.returncode == 0, p.returncode
        assert os.path.getsize(os.path.join(host_dir, "marks")) == 20
        s.wait_for({"event": "exec", "process": {"exe": marker_bin()}}, timeout=10,
                   what="the host's marker exec")
        assert s.findings({"kind": "finding", "process": {"exe": marker_bin()}}) == []
        assert s.proc.poll() is None, "the sensor died"
        # the sensor killed outright: its links go with it, nothing pinned
        # keeps enforcing
        s._kill()
        s.exit_code = s.proc.returncode
        after.start()
        deadline = time.monotonic() + 10
        while marks(after) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marks(after) == 1, "a container started after the sensor died did not run"


FORMS = """\
apiVersion: neuvector.com/v1
kind: NvSecurityRule
metadata: {{name: nv.mk.{ns}, namespace: {ns}}}
spec:
  target:
    selector:
      name: nv.mk.{ns}
      criteria: [{{key: service, op: "=", value: mk}}, {{key: namespace, op: "=", value: {ns}}}]
  process_profile: {{baseline: basic, mode: Protect}}
  process:
  - {{name: marker, path: /opt/marker, action: deny}}
  - {{name: forbidden, path: "*", action: deny}}
  - {{name: nc, path: /bin/busybox, action: allow}}
  - {{name: "*", path: /bin/busybox, action: allow}}
  - {{name: "*", path: /opt/*, action: allow}}
"""


def test_rule_forms_first_match_and_builtins():
    # The kernel's first-match over every rule form agrees with the rule
    # engine: a deny before an allow, a name-only deny, the built-ins.
    ns = new_ns()
    rules = write_rules(FORMS.format(ns=ns))
    c = marker_container(ns)
    put(c, "/opt/other", copy=marker_bin())
    put(c, "/usr/local/bin/telnet", copy=BUSYBOX)
    with Sensor(SENSOR_ARGS + ["--rules", rules]) as s, c:
        c.start()
        # rule 1 (deny) before rule 5 (allow): killed; the same file under
        # another name is allowed by rule 5
        rc, out = c.init_run("/opt/marker; echo $?; /opt/other; echo $?")
        assert out.split()[-2:] == [str(KILLED), "0"], out
        assert marks(c) == 1
        s.wait_finding(of(c, action="kill", process={"name": "marker"},
                          rule={"id": "%s:11" % rules, "name": "marker"},
                          message="marker (/opt/marker): denied by rule"), what="deny first")
        # a name-only deny: busybox run as "forbidden"
        rc, out = c.init_run("ln -s /bin/busybox /tmp/forbidden; /tmp/forbidden true; echo $?")
        assert out.split()[-1] == str(KILLED), out
        s.wait_finding(of(c, action="kill", process={"name": "forbidden", "exe": "/bin/busybox"},
                          rule={"id": "%s:12" % rules}), what="name-only deny")
        # a suspicious program no rule allows: killed, and reported as
        # suspicious (a "*" allow rule would count as explicit: alert)
        rc, out = c.init_run("/usr/local/bin/telnet 127.0.0.1 1 </dev/null; echo $?")
        assert out.split()[-1] == str(KILLED), out
        s.wait_finding({"kind": "finding", "name": "Container.Suspicious.Process",
                        "container": {"id": c.id}, "action": "kill",
                        "process": {"name": "telnet"}}, what="suspicious telnet")
        # nc is explicitly allowed, but a shell with its standard input and
        # output on nc's socket is a reverse shell: killed
        rc, out = c.init_run("nc -l -p 7001 -e /bin/cat </dev/null >/dev/null 2>&1 & "
                             "sleep 0.3; nc 127.0.0.1 7001 -e /bin/sh; echo $?")
        s.wait_finding({"kind": "finding", "name": "Container.Tunnel.Detected",
                        "container": {"id": c.id}, "action": "kill",
                        "process": {"name": "sh"}}, what="reverse shell")
        assert s.findings({"kind": "finding", "name": "Container.Suspicious.Process",
                           "container": {"id": c.id}, "process": {"name": "nc"}}) == [] or \
            all(f["action"] == "alert" for f in s.findings(
                {"kind": "finding", "name": "Container.Suspicious.Process",
                 "container": {"id": c.id}, "process": {"name": "nc"}}))


def _policy_lines(s):
    s.read()
    return [l for l in s.lines if l.get("kind") == "policy"]


def test_reload_recompiles_without_restart():
    # A reload changes what the kernel enforces at once: the next exec is
    # decided by the new policy, the sensor and the container keep running.
    ns = new_ns()
    rules = write_rules(rules_text(ns, "Protect"))
    c = marker_container(ns)
    with Sensor(SENSOR_ARGS + ["--rules", rules]) as s, c:
        c.start()
        rc, out = c.init_run("/usr/local/bin/marker; echo $?")
        assert out.strip().splitlines()[-1] == str(KILLED) and marks(c) == 0, out
        ev = s.wait_for({"event": "exec", "container": {"id": c.id},
                         "process": {"exe": "/usr/local/bin/marker", "killed": True,
                                     "kill_reason": "not in the process profile"}},
                        what="the exec event says killed")
        n = len(_policy_lines(s))
        with open(rules, "a") as f:
            f.write("  - {name: marker, path: /usr/local/bin/marker, action: allow}\n")
        deadline = time.monotonic() + 10
        while len(_policy_lines(s)) <= n:
            assert time.monotonic() < deadline, "no reload\n" + s.log_tail()
            time.sleep(0.05)
        assert _policy_lines(s)[n]["status"] == "loaded", _policy_lines(s)[n]
        rc, out = c.init_run("/usr/local/bin/marker; echo $?")
        assert out.strip() == "0" and marks(c) == 1, (out, marks(c))
        # and back: Monitor for processes -> runs, alerts
        with open(rules, "w") as f:
            f.write(rules_text(ns, "Monitor"))
        deadline = time.monotonic() + 10
        while len(_policy_lines(s)) <= n + 1:
            assert time.monotonic() < deadline, "no second reload\n" + s.log_tail()
            time.sleep(0.05)
        rc, out = c.init_run("/usr/local/bin/marker; echo $?")
        assert out.strip() == "0" and marks(c) == 2, (out, marks(c))
        s.wait_finding(of(c, action="alert", mode="Monitor",
                          process={"exe": "/usr/local/bin/marker"}), what="Monitor alert")
        assert ev is not None
