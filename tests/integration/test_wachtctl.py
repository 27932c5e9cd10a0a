# wachtctl against the aggregator's HTTP API: the API alone
# ($BUILD/wacht-api-fixture, api__start over a store filled with fixed
# findings, tests/integration/progs/api_fixture.c) on 127.0.0.1, and the
# real wachtctl binary. Asserts the exact table lines a person reads, the
# --json a script reads, and the exit codes scripts rely on (0 ok, 1 error,
# 2 usage, 3 not found, 4 unauthorized/forbidden). No container, no BPF.
#
# Binaries: $WACHT_BUILD (default: build/), e.g.
#   make BUILD=/tmp/ba all && WACHT_BUILD=/tmp/ba tests/integration/run.py -k test_wachtctl

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import REPO

BUILD = os.path.abspath(os.environ.get("WACHT_BUILD", os.path.join(REPO, "build")))
WACHTCTL = os.path.join(BUILD, "wachtctl")
FIXTURE = os.path.join(BUILD, "wacht-api-fixture")

TOK_SEC = "sec-" + "7" * 28
TOK_SHOP = "shop-" + "3" * 27

HEADER = ("ID    TIME                  SEVERITY  NAME                            "
          "NAMESPACE/POD  SUBJECT                        ACTION  COUNT  ACK")
ROWS = {
    "s1:3": "s1:3  2026-01-15T10:05:00Z  medium    Container.FileAccess.Violation  "
            "shop/web-1     /etc/shadow (access)           alert   3      no",
    "s2:2": "s2:2  2026-01-15T10:04:00Z  low       Container.Package.Updated       "
            "(host)         /var/lib/dpkg/status (modify)  alert   1      no",
    "s2:1": "s2:1  2026-01-15T10:03:00Z  medium    Network.Violation               "
            "pay/api-1      tcp -> 10.0.0.5:5432           deny    1      no",
    "s1:2": "s1:2  2026-01-15T10:02:00Z  critical  Container.Suspicious.Process    "
            "shop/web-2     /usr/bin/nc                    kill    1      no",
    "s1:1": "s1:1  2026-01-15T10:01:00Z  high      Process.Profile.Violation       "
            "shop/web-1     /bin/sh                        alert   1      no",
}


class Fixture:
    """A running wacht-api-fixture over a fresh store, with a tokens file
    holding only the hashes of TOK_SEC (scope *) and TOK_SHOP (shop)."""

    def __enter__(self):
        for b in (WACHTCTL, FIXTURE):
            if not os.access(b, os.X_OK):
                raise AssertionError("%s not built (make BUILD=%s all)" % (b, BUILD))
        self.dir = tempfile.mkdtemp(prefix="wit-wachtctl-")
        self.tokens = os.path.join(self.dir, "tokens")
        with open(self.tokens, "w") as f:
            f.write("# NAME SHA256 SCOPE\n")
            f.write("security %s *\n" % hashlib.sha256(TOK_SEC.encode()).hexdigest())
            f.write("shop-team %s shop\n" % hashlib.sha256(TOK_SHOP.encode()).hexdigest())
        self.proc = subprocess.Popen(
            [FIXTURE, "--store", os.path.join(self.dir, "wacht.db"),
             "--tokens", self.tokens],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("port "):
            self.__exit__(None, None, None)
            raise AssertionError("fixture did not start: %r" % line)
        self.url = "http://127.0.0.1:%d" % int(line.split()[1])
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def ctl(self, *args, token=TOK_SEC, server=True, env=None):
        """wachtctl ARGS with the server and token in the environment;
        (exit code, stdout, stderr)."""
        e = {k: v for k, v in os.environ.items()
             if k not in ("WACHT_SERVER", "WACHT_TOKEN", "WACHT_CACERT")}
        if server:
            e["WACHT_SERVER"] = self.url
        if token is not None:
            e["WACHT_TOKEN"] = token
        e.update(env or {})
        p = subprocess.run([WACHTCTL] + list(args), env=e, capture_output=True,
                           text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr


def lines(out):
    return out.rstrip("\n").split("\n") if out.strip() else []


def table(ids):
    """The alerts table for these findings (widths as for the full set:
    every test below lists sets whose widest cells are those of all five)."""
    return [HEADER] + [ROWS[i] for i in ids]


def test_wachtctl_alerts_table_and_filters():
    with Fixture() as fx:
        rc, out, err = fx.ctl("alerts")
        assert rc == 0, err
        assert lines(out) == table(["s1:3", "s2:2", "s2:1", "s1:2", "s1:1"]), out

        rc, out, _ = fx.ctl("alerts", "--severity", "high")
        assert rc == 0
        assert lines(out) == [
            "ID    TIME                  SEVERITY  NAME                          "
            "NAMESPACE/POD  SUBJECT      ACTION  COUNT  ACK",
            "s1:2  2026-01-15T10:02:00Z  critical  Container.Suspicious.Process  "
            "shop/web-2     /usr/bin/nc  kill    1      no",
            "s1:1  2026-01-15T10:01:00Z  high      Process.Profile.Violation     "
            "shop/web-1     /bin/sh      alert   1      no",
        ], out

        # every filter reaches the API: one finding each
        for args, want in ((["--namespace", "pay"], "s2:1"),
                           (["--pod", "web-2"], "s1:2"),
                           (["--name", "Container.Package.Updated"], "s2:2"),
                           (["--node", "node-b", "--severity", "medium"], "s2:1"),
                           (["--since", "2026-01-15T10:04:30Z"], "s1:3"),
                           (["--until", "2026-01-15T10:01:30+00:00"], "s1:1"),
                           (["--limit", "1"], "s1:3")):
            rc, out, err = fx.ctl("alerts", *args)
            assert rc == 0, (args, err)
            got = [l.split()[0] for l in lines(out)[1:]]
            assert got == [want], (args, out)

        # relative time: the fixture's findings are from January 2026
        rc, out, _ = fx.ctl("alerts", "--since", "1h")
        assert rc == 0 and lines(out) == [
            "ID  TIME  SEVERITY  NAME  NAMESPACE/POD  SUBJECT  ACTION  COUNT  ACK"], out

        # --limit beyond one API page of the request follows "next"
        rc, out, _ = fx.ctl("alerts", "--limit", "3", "--json")
        doc = json.loads(out)
        assert [f["id"] for f in doc["findings"]] == ["s1:3", "s2:2", "s2:1"]
        assert doc["next"] is not None


def test_wachtctl_json_for_scripts():
    with Fixture() as fx:
        rc, out, err = fx.ctl("alerts", "--json")
        assert rc == 0, err
        doc = json.loads(out)
        assert doc["next"] is None
        assert [f["id"] for f in doc["findings"]] == ["s1:3", "s2:2", "s2:1", "s1:2", "s1:1"]
        f = doc["findings"][2]
        assert f["name"] == "Network.Violation"
        assert f["action"] == "deny"
        assert f["container"]["namespace"] == "pay"
        assert f["network"] == {"proto": "tcp", "direction": "outbound",
                                "local_ip": "10.244.1.7", "local_port": 40112,
                                "remote_ip": "10.0.0.5", "remote_port": 5432,
                                "peer_group": "external"}
        assert f["first_seen"] == "2026-01-15T10:03:00.000000000Z"
        assert f["acknowledged"] is False and f["ack_time"] is None

        rc, out, _ = fx.ctl("alert", "s1:3", "--json")
        assert rc == 0
        f = json.loads(out)
        assert f["id"] == "s1:3" and f["count"] == 3
        assert f["file"] == {"path": "/etc/shadow", "op": "access"}
        assert f["process"]["args"] == ["cat", "-i"]

        rc, out, _ = fx.ctl("sensors", "--json")
        assert rc == 0
        s = json.loads(out)["sensors"]
        assert [(x["node"], x["sensor_id"], x["drops"]) for x in s] == [
            ("node-a", "s1", 0), ("node-b", "s2", 17)]


def test_wachtctl_alert_ack_unack():
    with Fixture() as fx:
        rc, out, err = fx.ctl("alert", "s2:1")
        assert rc == 0, err
        assert lines(out) == [
            "ID:           s2:1",
            "Name:         Network.Violation",
            "Severity:     medium",
            "Action:       deny (Monitor mode)",
            "Node:         node-b",
            "Namespace:    pay",
            "Pod:          api-1",
            "Container:    web (registry.local/shop/web:1.4, 4f1c2a9e0b7d)",
            "Group:        nv.web.shop",
            "Process:      /usr/bin/curl (pid 31337, ppid 31300, uid 33, euid 0)",
            "Arguments:    curl -i",
            "Parent:       /usr/sbin/nginx",
            "Network:      outbound tcp 10.244.1.7:40112 -> 10.0.0.5:5432 peer external",
            "Rule:         rules/shop.yaml:14 web-processes (group nv.web.shop)",
            "Message:      see the rule",
            "Count:        1",
            "First seen:   2026-01-15T10:03:00Z",
            "Last seen:    2026-01-15T10:03:00Z",
            "Acknowledged: no",
        ], out

        rc, out, err = fx.ctl("ack", "s1:1", "--comment", "admin shell, ticket SEC-12")
        assert rc == 0, err
        assert out == "acknowledged s1:1 by security\n"
        # acked findings leave the default (unacked) list
        rc, out, _ = fx.ctl("alerts")
        assert [l.split()[0] for l in lines(out)[1:]] == ["s1:3", "s2:2", "s2:1", "s1:2"]
        rc, out, _ = fx.ctl("alerts", "--acked")
        assert lines(out)[1].endswith("alert   1      yes"), out
        rc, out, _ = fx.ctl("alerts", "--all")
        assert len(lines(out)) == 6
        rc, out, _ = fx.ctl("alert", "s1:1")
        ack = [l for l in lines(out) if l.startswith("Acknowledged:")]
        assert len(ack) == 1 and ack[0].startswith("Acknowledged: yes, by security at 20")
        assert ack[0].endswith("Z: admin shell, ticket SEC-12"), ack

        # the shop team unacks in its namespace; its name is recorded
        rc, out, err = fx.ctl("unack", "s1:1", token=TOK_SHOP)
        assert rc == 0, err
        assert out == "unacknowledged s1:1\n"
        rc, out, _ = fx.ctl("alert", "s1:1", "--json")
        f = json.loads(out)
        assert f["acknowledged"] is False and f["ack_by"] == "shop-team"
        rc, out, _ = fx.ctl("alerts", "--acked")
        assert len(lines(out)) == 1


def test_wachtctl_exit_codes():
    with Fixture() as fx:
        # 3: no such finding, and one outside the token's namespaces
        rc, out, err = fx.ctl("alert", "s9:9")
        assert rc == 3 and out == ""
        assert 'HTTP 404: no finding "s9:9"' in err, err
        rc, _, _ = fx.ctl("alert", "s2:1", token=TOK_SHOP)
        assert rc == 3
        rc, _, _ = fx.ctl("ack", "s2:1", "--comment", "x", token=TOK_SHOP)
        assert rc == 3
        # 4: no token, a wrong one, outside the scope
        rc, _, err = fx.ctl("alerts", token=None)
        assert rc == 4 and "HTTP 401" in err, err
        rc, _, err = fx.ctl("alerts", token="guess")
        assert rc == 4 and "invalid token" in err, err
        rc, _, err = fx.ctl("alerts", "--namespace", "pay", token=TOK_SHOP)
        assert rc == 4 and 'may not see namespace "pay"' in err, err
        rc, _, err = fx.ctl("sensors", token=TOK_SHOP)
        assert rc == 4 and "needs scope *" in err, err
        # the shop team's list is its namespace only
        rc, out, _ = fx.ctl("alerts", token=TOK_SHOP)
        assert rc == 0
        assert [l.split()[0] for l in lines(out)[1:]] == ["s1:3", "s1:2", "s1:1"]
        # 2: usage, and requests the server calls malformed
        for args in (["alerts", "--bogus"], ["frobnicate"], [], ["alert"],
                     ["ack", "s1:1"], ["alerts", "--all", "--acked"],
                     ["alerts", "--limit", "0"], ["sensors", "--comment", "x"],
                     ["rules", "export"], ["alerts", "--interval", "5"]):
            rc, out, err = fx.ctl(*args)
            assert rc == 2, (args, rc, err)
            assert err.startswith("wachtctl: ") and "usage: wachtctl" in err, (args, err)
        rc, _, err = fx.ctl("alerts", "--severity", "urgent")
        assert rc == 2 and 'bad severity "urgent"' in err, err
        rc, _, err = fx.ctl("alerts", server=False)
        assert rc == 2 and "no server" in err, err
        # a token file instead of $WACHT_TOKEN
        tf = os.path.join(fx.dir, "token")
        with open(tf, "w") as f:
            f.write(TOK_SHOP + "\n")
        rc, out, _ = fx.ctl("alerts", "--token-file", tf, token=None)
        assert rc == 0 and len(lines(out)) == 4
        rc, _, err = fx.ctl("alerts", "--token-file", "/nonexistent", token=None)
        assert rc == 2 and "failed to open token file /nonexistent" in err
        # 1: nothing listening
        rc, _, err = fx.ctl("alerts", env={"WACHT_SERVER": "http://127.0.0.1:1"})
        assert rc == 1 and "wachtctl: failed to GET http://127.0.0.1:1/api/v1/findings" in err, err
        # 0: --help for every command, on stdout
        for cmd in ("alerts", "alert", "ack", "unack", "sensors", "rules"):
            rc, out, _ = fx.ctl(cmd, "--help", server=False, token=None)
            assert rc == 0 and out.startswith("usage: wachtctl " + cmd), (cmd, out)
        rc, out, _ = fx.ctl("--help", server=False, token=None)
        assert rc == 0 and "exit status: 0 ok, 1 error" in out


def test_wachtctl_sensors_and_learned_rules():
    with Fixture() as fx:
        rc, out, err = fx.ctl("sensors")
        assert rc == 0, err
        assert lines(out) == [
            "NODE    SENSOR  VERSION            KERNEL          LAST SEEN             DROPS",
            "node-a  s1      v0.3.0-12-gabcdef  6.1.0-18-amd64  2026-01-15T10:06:40Z  0",
            "node-b  s2      v0.3.0-12-gabcdef  6.1.0-20-amd64  2026-01-15T10:03:20Z  17",
        ], out

        rc, out, err = fx.ctl("rules", "export-learned")
        assert rc == 0, err
        text = out
        assert text.startswith("# learned profiles of 2 node profile(s), merged per group\n---\n")
        # the union of both nodes: each process once, both egress rules,
        # the file rule with both apps
        assert text.count("path: /usr/sbin/nginx\n") == 1
        assert "path: /bin/sh\n" in text and "path: /usr/bin/curl\n" in text
        assert "  - name: learned-1\n    action: allow\n    ports: tcp/5432\n" in text
        assert "  - name: learned-2\n    action: allow\n    ports: tcp/6379\n" in text
        assert "    app:\n    - nginx\n    - sh\n" in text

        dest = os.path.join(fx.dir, "learned.yaml")
        rc, out, _ = fx.ctl("rules", "export-learned", "-o", dest)
        assert rc == 0 and out == ""
        with open(dest) as f:
            assert f.read() == text
        rc, out, _ = fx.ctl("rules", "export-learned", "--group", "nv.none")
        assert rc == 0
        assert out == "# learned profiles of 0 node profile(s), merged per group\n"

        # what wachtctl exported is a rule file the sensor accepts
        # (the sensor is part of `make all`, which built wachtctl)
        sensor = os.path.join(BUILD, "wacht-sensor")
        assert os.access(sensor, os.X_OK), sensor + " not built"
        p = subprocess.run([sensor, "--check-rules", dest],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr


def test_wachtctl_follow():
    with Fixture() as fx:
        e = dict(os.environ, WACHT_SERVER=fx.url, WACHT_TOKEN=TOK_SEC)
        p = subprocess.Popen([WACHTCTL, "alerts", "--follow", "--interval", "1",
                              "--severity", "critical"],
                             env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        try:
            first = [p.stdout.readline() for _ in range(2)]
            assert first[0].startswith("ID              TIME                  SEVERITY  NAME"), first
            assert first[1].startswith("s1:2            2026-01-15T10:02:00Z  critical  "
                                       "Container.Suspicious.Process  "), first
            # a new finding is stored while wachtctl watches
            fx.proc.send_signal(signal.SIGUSR1)
            assert fx.proc.stdout.readline() == "late stored\n"
            t0 = time.monotonic()
            line = p.stdout.readline()
            assert line.startswith("late:1          20"), line
            assert "critical  Container.Tunnel.Detected" in line, line
            assert "shop/web-3" in line and "/usr/bin/socat" in line, line
            assert time.monotonic() - t0 < 5
        finally:
            p.send_signal(signal.SIGINT)
            try:
                rc = p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
            rest = p.stdout.read()
            p.stdout.close()
            p.stderr.close()
        # interrupted is the normal end; nothing printed twice
        assert rc == 0
        assert rest == "", rest
