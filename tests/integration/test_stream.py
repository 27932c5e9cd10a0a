# The findings stream (issue 5): real sensors with real containers ship
# their findings over mutual TLS to a real wacht-aggregator, which stores
# them in SQLite. Every finding a sensor printed (with the id it was
# shipped under) must be in the store exactly once, also when the
# aggregator is killed with SIGKILL in the middle of the stream and comes
# back; clients with a certificate from another CA, without one, sending
# garbage or an oversized frame header are refused while the others keep
# being served.
#
# The aggregator binary: $WACHT_AGGREGATOR, else wacht-aggregator next to
# the sensor binary ($WACHT_SENSOR or build/wacht-sensor).

import hashlib
import json
import os
import signal
import socket
import sqlite3
import ssl
import struct
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import REG, Container, Sensor, run, track_pid, pid_alive
from test_policy import BASE_ALLOW, POD, new_ns, rules_file, web_group
import harness

AGG_BIN = os.environ.get("WACHT_AGGREGATOR") or os.path.join(
    os.path.dirname(harness.SENSOR_BIN), "wacht-aggregator")


# ---------------------------------------------------------------------------
# Certificates, made with the openssl command as README.md shows.

def make_pki(d, name):
    """CA <name>-ca; server certificate for 127.0.0.1/localhost; client
    certificate. Returns {ca, server_crt, server_key, client_crt, client_key}."""
    os.makedirs(d, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    p = lambda f: os.path.join(d, f)
    run(["openssl", "req", "-x509"] + ec + ["-keyout", p("ca.key"), "-out", p("ca.crt"),
        "-days", "2", "-subj", "/CN=%s-ca" % name])
    with open(p("server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    with open(p("client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    for who in ("server", "client"):
        run(["openssl", "req"] + ec + ["-keyout", p(who + ".key"), "-out", p(who + ".csr"),
            "-subj", "/CN=%s-%s" % (name, who)])
        run(["openssl", "x509", "-req", "-in", p(who + ".csr"), "-CA", p("ca.crt"),
             "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p(who + ".crt"),
             "-days", "2", "-extfile", p(who + ".ext")])
    return {"ca": p("ca.crt"), "server_crt": p("server.crt"), "server_key": p("server.key"),
            "client_crt": p("client.crt"), "client_key": p("client.key")}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------------------
# The aggregator process.

class Aggregator:
    def __init__(self, pki, store, port, api=None, extra=()):
        """api: (port, tokens file) to serve the HTTP API; None: off.
        extra: more command-line arguments."""
        self.pki, self.store, self.port, self.api = pki, store, port, api
        self.extra = list(extra)
        self.proc = None
        self.log_path = store + ".log"
        self._log_off = 0

    def start(self):
        if not os.access(AGG_BIN, os.X_OK):
            raise AssertionError("%s not found: build it with `make`" % AGG_BIN)
        cmd = [AGG_BIN, "--listen", "127.0.0.1:%d" % self.port, "--store", self.store,
               "--tls-ca", self.pki["ca"], "--tls-cert", self.pki["server_crt"],
               "--tls-key", self.pki["server_key"], "--stats-interval", "0"]
        if self.api:
            cmd += ["--api-listen", "127.0.0.1:%d" % self.api[0], "--api-tokens", self.api[1]]
        else:
            cmd += ["--api-listen", "off"]
        cmd += self.extra
        with open(self.log_path, "ab") as log:
            self._log_off = log.tell()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, start_new_session=True)
        track_pid(self.proc.pid, "wacht-aggregator")
        self.wait_log("listening on 127.0.0.1:%d" % self.port)
        return self

    def log(self):
        with open(self.log_path, errors="replace") as f:
            f.seek(self._log_off)
            return f.read()

    def wait_log(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.proc.poll() is not None:
                raise AssertionError("aggregator exited %d:\n%s" % (self.proc.returncode,
                                                                    self.log()[-2000:]))
            if time.monotonic() > deadline:
                raise AssertionError("aggregator log has no %r within %ss:\n%s"
                                     % (text, timeout, self.log()[-2000:]))
            time.sleep(0.05)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            rc = self.proc.wait(10)
            assert rc == 0, "aggregator exited %d after SIGTERM:\n%s" % (rc, self.log()[-2000:])

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def stored_ids(db, sensor_id):
    """Every finding id the store received from this sensor: a row's own
    id, and the ids merged into a row (table `received`)."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return [r[0] for r in con.execute(
            "SELECT id FROM findings WHERE id LIKE ?1 || ':%' UNION ALL "
            "SELECT id FROM received WHERE id LIKE ?1 || ':%'", (sensor_id,))]
    finally:
        con.close()


def stored_count_sum(db, node):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return con.execute("SELECT coalesce(sum(count), 0), count(*) FROM findings "
                           "WHERE node = ?", (node,)).fetchone()
    finally:
        con.close()


def printed(s):
    """The findings a sensor printed: each must carry the id it was shipped
    under."""
    fs = s.findings()
    missing = [f for f in fs if not f.get("id")]
    assert not missing, "findings printed without an id (not shipped): %s" % missing[:3]
    return fs


def sensor_id_of(s):
    fs = printed(s)
    assert fs, "sensor printed no findings"
    return fs[0]["id"].rsplit(":", 1)[0]


def wait_all_stored(db, sensors, timeout=30):
    """Until every finding each sensor printed so far is in the store."""
    deadline = time.monotonic() + timeout
    while True:
        missing = {}
        for s in sensors:
            want = {f["id"] for f in printed(s)}
            have = set(stored_ids(db, sensor_id_of(s)))
            if want - have:
                missing[s.node] = sorted(want - have)
        if not missing:
            return
        for s in sensors:
            s._check_alive()
        if time.monotonic() > deadline:
            raise AssertionError("findings printed but not stored within %ss: %s\n%s" % (
                timeout, {k: (len(v), v[:5]) for k, v in missing.items()},
                "\n".join(s.log_tail(8) for s in sensors)))
        time.sleep(0.1)


def stream_sensor(node, agg_port, pki, rules, spool):
    s = Sensor(args=["--rules", rules, "--window", "0", "--node", node,
                     "--aggregator", "127.0.0.1:%d" % agg_port, "--tls-ca", pki["ca"],
                     "--tls-cert", pki["client_crt"], "--tls-key", pki["client_key"],
                     "--spool-dir", spool, "--stats-interval", "1"])
    s.node = node
    return s


def monitor_rules(ns):
    """A Monitor-mode group for the test's pods: every process but the
    init (sleep) and the barrier's echo is a Process.Profile.Violation."""
    _, text = web_group(ns, policymode="Monitor", mode="Monitor", process=BASE_ALLOW)
    return rules_file(text)


# ---------------------------------------------------------------------------

def test_two_sensors_exactly_once_across_aggregator_kill():
    tmp = os.path.join(REG.tmp(), "stream-" + new_ns())
    pki = make_pki(os.path.join(tmp, "pki"), "wacht")
    db = os.path.join(tmp, "findings.db")
    port = free_port()
    ns = new_ns()
    rules = monitor_rules(ns)
    api_port = free_port()
    tokens = write_tokens(tmp, {"security": ("sec-token-" + ns, "*"),
                                "team": ("team-token-" + ns, ns),
                                "other": ("other-token-" + ns, "other-" + ns)})
    agg = Aggregator(pki, db, port, api=(api_port, tokens))
    try:
        agg.start()
        with stream_sensor("wit-node-a-" + ns, port, pki, rules, os.path.join(tmp, "spool-a")) as sa, \
                stream_sensor("wit-node-b-" + ns, port, pki, rules, os.path.join(tmp, "spool-b")) as sb, \
                Container(pod=POD, namespace=ns) as c:
            c.start()
            # phase 1: 40 violations, every one seen by both sensors
            c.exec(["sh", "-c", "for i in $(seq 40); do /bin/uname -n; done"])
            s_uname = {"kind": "finding", "name": "Process.Profile.Violation",
                       "container": {"id": c.id}, "process": {"name": "uname"}}
            for s in (sa, sb):
                s.wait_findings(s_uname, 40, timeout=20, what="uname violations")
            wait_all_stored(db, (sa, sb))
            agg.wait_log("sensor %s" % sensor_id_of(sa))
            agg.wait_log("sensor %s" % sensor_id_of(sb))

            # phase 2: a stream of violations; SIGKILL the aggregator in
            # the middle of it, more violations while it is gone, restart
            pid = c.exec_detached(["sh", "-c",
                                   "for i in $(seq 300); do /bin/uname -n; usleep 10000; done"])
            for s in (sa, sb):
                s.wait_findings(s_uname, 60, timeout=20, what="stream started")
            agg.kill9()
            n_at_kill = [len(printed(s)) for s in (sa, sb)]
            time.sleep(1.5)
            n_at_restart = [len(printed(s)) for s in (sa, sb)]
            assert all(b > a for a, b in zip(n_at_kill, n_at_restart)), \
                "no findings while the aggregator was down: %s -> %s" % (n_at_kill, n_at_restart)
            agg.start()
            deadline = time.monotonic() + 30
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not pid_alive(pid), "the violation loop did not finish"
            for s in (sa, sb):
                s.wait_findings(s_uname, 340, timeout=20, what="all uname violations")
            wait_all_stored(db, (sa, sb), timeout=40)

            for s in (sa, sb):
                fs = printed(s)
                ids = [f["id"] for f in fs]
                sid = sensor_id_of(s)
                assert all(i.startswith(sid + ":") for i in ids), ids[:5]
                assert len(ids) == len(set(ids)), "a sensor printed one id twice"
                got = stored_ids(db, sid)
                # exactly once: the same ids, none missing, none extra
                assert sorted(got) == sorted(ids), (
                    "%s: printed %d, stored %d; missing %s, extra %s" % (
                        s.node, len(ids), len(got), sorted(set(ids) - set(got))[:5],
                        sorted(set(got) - set(ids))[:5]))
                # and no finding counted twice by a resend: the rows of
                # this node stand for exactly the printed occurrences
                total, rows = stored_count_sum(db, s.node)
                assert total == sum(f["count"] for f in fs), (
                    "%s: stored occurrences %d, printed %d" % (
                        s.node, total, sum(f["count"] for f in fs)))
            # a uname finding's exact content, as stored
            con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
            row = con.execute(
                "SELECT name, severity, action, mode, pod, namespace, exe, process_name, "
                "rule_id, grp, node FROM findings WHERE id = ?",
                (s_first_uname(sa, c),)).fetchone()
            con.close()
            assert row == ("Process.Profile.Violation", 4, 1, 2, POD, ns, "/bin/busybox",
                           "uname", "profile:nv.web." + ns, "nv.web." + ns, sa.node), row
            check_api(api_port, ns, db, (sa, sb), s_first_uname(sa, c))
            # a revoked token stops working at the next SIGHUP, no restart
            write_tokens(tmp, {"security": ("sec-token-" + ns, "*")})
            agg.proc.send_signal(signal.SIGHUP)
            agg.wait_log("API tokens reloaded")
            assert api_get(api_port, "/api/v1/findings", "team-token-" + ns)[0] == 401
            assert api_get(api_port, "/api/v1/findings", "sec-token-" + ns)[0] == 200
        # sensors stopped: everything they spooled was acknowledged
        for s in (sa, sb):
            st = s.final_stats["aggregator"]
            assert st["spool_batches"] == 0 and st["acked"] == st["batches"], st
            assert st["connects"] >= 2 and st["failures"] >= 1, \
                "%s did not see the aggregator go and come back: %s" % (s.node, st)
            assert st["dropped"] == 0, st
        wait_all_stored(db, (sa, sb), timeout=10)
        # a consistent backup while the aggregator runs, then restored
        backup = os.path.join(tmp, "backup.db")
        req = urllib.request.Request("http://127.0.0.1:%d/api/v1/backup" % api_port)
        req.add_header("Authorization", "Bearer sec-token-" + ns)
        with urllib.request.urlopen(req, timeout=30) as r, open(backup, "wb") as f:
            assert r.status == 200
            f.write(r.read())
        agg.stop()
        restored = os.path.join(tmp, "restored.db")
        p = subprocess.run([AGG_BIN, "--store", restored, "--restore", backup],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and "restored" in p.stdout, (p.returncode, p.stdout, p.stderr)

        def content(path):
            con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
            try:
                return con.execute("SELECT id, count, last_seen FROM findings "
                                   "ORDER BY id").fetchall()
            finally:
                con.close()
        assert content(restored) == content(db), "the restored store differs"
        assert len(content(db)) > 0
    finally:
        agg.cleanup()


def write_tokens(d, tokens):
    """The API's tokens file: NAME SHA256(token) SCOPE per line."""
    path = os.path.join(d, "tokens")
    with open(path, "w") as f:
        for name, (tok, scope) in tokens.items():
            f.write("%s %s %s\n" % (name, hashlib.sha256(tok.encode()).hexdigest(), scope))
    return path


def api_get(port, path, token=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def check_api(port, ns, db, sensors, one_id):
    """The aggregator's API over what the sensors stored: every row of the
    namespace through pagination, token scopes, sensors, and an ack by
    wachtctl recorded with the token's name."""
    sec, team, other = "sec-token-" + ns, "team-token-" + ns, "other-token-" + ns
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    want = sorted(r[0] for r in con.execute("SELECT id FROM findings WHERE namespace = ?", (ns,)))
    con.close()
    for tok in (sec, team):
        ids, cursor = [], None
        while True:
            st, body = api_get(port, "/api/v1/findings?namespace=%s&limit=50%s" % (
                ns, "&cursor=" + urllib.parse.quote(cursor) if cursor else ""), tok)
            assert st == 200, st
            ids += [f["id"] for f in body["findings"]]
            cursor = body["next"]
            if not cursor:
                break
        assert sorted(ids) == want, "API (%s) returned %d rows, store has %d" % (
            tok, len(ids), len(want))
    assert api_get(port, "/api/v1/findings?namespace=" + ns)[0] == 401
    assert api_get(port, "/api/v1/findings?namespace=" + ns, "wrong")[0] == 401
    assert api_get(port, "/api/v1/findings?namespace=" + ns, other)[0] == 403
    st, body = api_get(port, "/api/v1/findings", other)
    assert st == 200 and body["findings"] == [], body
    assert api_get(port, "/api/v1/findings/" + urllib.parse.quote(one_id), other)[0] == 404
    st, body = api_get(port, "/api/v1/sensors", sec)
    assert st == 200, st
    got = sorted(x["sensor_id"] for x in body["sensors"])
    assert [x for x in got if x in {sensor_id_of(s) for s in sensors}] == \
        sorted(sensor_id_of(s) for s in sensors), got
    assert api_get(port, "/api/v1/sensors", team)[0] == 403
    # wachtctl, as a person uses it: ack with a comment, then see it
    ctl = os.path.join(os.path.dirname(AGG_BIN), "wachtctl")
    env = dict(os.environ, WACHT_SERVER="http://127.0.0.1:%d" % port, WACHT_TOKEN=team)
    p = subprocess.run([ctl, "ack", one_id, "--comment", "known test loop"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    st, body = api_get(port, "/api/v1/findings/" + urllib.parse.quote(one_id), sec)
    assert st == 200 and body["acknowledged"] is True and body["ack_by"] == "team" and \
        body["ack_comment"] == "known test loop", body
    env["WACHT_TOKEN"] = other
    p = subprocess.run([ctl, "ack", one_id, "--comment", "not mine"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)   # outside the scope: not found


def s_first_uname(s, c):
    for f in printed(s):
        if f.get("process", {}).get("name") == "uname" and \
                (f.get("container") or {}).get("id") == c.id:
            return f["id"]
    raise AssertionError("no uname finding")


# ---------------------------------------------------------------------------
# A hand-made protobuf client (Envelope, SensorHello, FindingBatch), to hold
# a connection open while bad clients come and go.

def _varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([v & 0x7f | 0x80])
        v >>= 7
    return out + bytes([v])


def _field(n, payload):
    if isinstance(payload, int):
        return _varint(n << 3) + _varint(payload)
    return _varint(n << 3 | 2) + _varint(len(payload)) + payload


def _frame(body_no, body):
    env = _field(1, 1) + _field(body_no, body)
    return struct.pack(">I", len(env)) + env


def _read_frame(sock):
    hdr = b""
    while len(hdr) < 4:
        d = sock.recv(4 - len(hdr))
        if not d:
            return None
        hdr += d
    n = struct.unpack(">I", hdr)[0]
    data = b""
    while len(data) < n:
        d = sock.recv(n - len(data))
        if not d:
            return None
        data += d
    return data


def tls_client(pki_ca, crt, key, port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki_ca)
    if crt:
        ctx.load_cert_chain(crt, key)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def refused(sock):
    """True when the aggregator ends the connection (EOF or a TLS alert)."""
    try:
        sock.settimeout(10)
        return sock.recv(100) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


def test_bad_clients_refused_others_served():
    tmp = os.path.join(REG.tmp(), "stream-" + new_ns())
    pki = make_pki(os.path.join(tmp, "pki"), "wacht")
    evil = make_pki(os.path.join(tmp, "evil"), "evil")
    db = os.path.join(tmp, "findings.db")
    port = free_port()
    ns = new_ns()
    agg = Aggregator(pki, db, port)
    try:
        agg.start()
        with stream_sensor("wit-node-c-" + ns, port, pki, monitor_rules(ns),
                           os.path.join(tmp, "spool-c")) as s, \
                Container(pod=POD, namespace=ns) as c:
            c.start()
            # a good client holds a connection open through all of it
            good = tls_client(pki["ca"], pki["client_crt"], pki["client_key"], port)
            good.sendall(_frame(2, _field(1, b"py-node") + _field(2, b"py-sensor")))
            assert _read_frame(good) is not None, "no ServerHello for the good client"

            # 1. a certificate from another CA
            try:
                bad = tls_client(pki["ca"], evil["client_crt"], evil["client_key"], port)
                assert refused(bad), "a client of another CA was served"
                bad.close()
            except (ssl.SSLError, ConnectionResetError):
                pass
            agg.wait_log("certificate verify failed: unable to get local issuer certificate")
            # 2. no certificate at all
            try:
                bad = tls_client(pki["ca"], None, None, port)
                assert refused(bad), "a client without a certificate was served"
                bad.close()
            except (ssl.SSLError, ConnectionResetError):
                pass
            agg.wait_log("peer did not return a certificate")
            # 3. garbage in a frame of a plausible size
            bad = tls_client(pki["ca"], pki["client_crt"], pki["client_key"], port)
            bad.sendall(b"\x00\x00\x00\x10" + b"\xff" * 16)
            assert refused(bad), "garbage was answered"
            bad.close()
            agg.wait_log("undecodable frame (not a version 1 envelope)")
            # 4. an oversized frame header (2 GiB announced; nothing follows)
            bad = tls_client(pki["ca"], pki["client_crt"], pki["client_key"], port)
            bad.sendall(b"\x7f\xff\xff\xff")
            assert refused(bad), "an oversized frame header was answered"
            bad.close()
            agg.wait_log("frame larger than 4194304 bytes")
            # 5. findings before the hello
            bad = tls_client(pki["ca"], pki["client_crt"], pki["client_key"], port)
            bad.sendall(_frame(4, _field(1, 1)))
            assert refused(bad), "a batch without a hello was answered"
            bad.close()
            agg.wait_log("findings before the hello")

            # the good connection is still served: its batch is stored
            # and acknowledged
            finding = _field(1, b"py-sensor:1") + _field(3, b"py-node") + \
                _field(4, b"Test.Finding") + _field(13, b"still served")
            good.sendall(_frame(4, _field(1, 1) + _field(2, finding)))
            ack = _read_frame(good)
            assert ack == _field(1, 1) + _field(5, _field(1, 1)), "ack: %r" % ack
            assert stored_ids(db, "py-sensor") == ["py-sensor:1"]
            good.close()
            # and so is the real sensor, which connected before
            c.exec(["uname", "-n"])
            s.wait_findings({"kind": "finding", "container": {"id": c.id},
                             "process": {"name": "uname"}}, 1, timeout=10)
            wait_all_stored(db, (s,))
            assert s.log_tail(200).count("connected to aggregator") == 1, \
                "the sensor's connection was disturbed:\n" + s.log_tail(20)
        agg.stop()
    finally:
        agg.cleanup()


def test_learned_profiles_merged_at_the_aggregator():
    # Two sensors in Discover mode learn what a container runs; each sends
    # its node's profile (LearnedProfile); the aggregator keeps one per
    # node and group, and its API serves them merged as NvSecurityRule YAML
    # that the sensor's own rule loader accepts.
    tmp = os.path.join(REG.tmp(), "learned-" + new_ns())
    pki = make_pki(os.path.join(tmp, "pki"), "wacht")
    db = os.path.join(tmp, "findings.db")
    port, api_port = free_port(), free_port()
    ns = new_ns()
    group = "nv.web." + ns
    _, text = web_group(ns, policymode="Discover", mode="Discover", process=())
    rules = rules_file(text)
    token = "sec-" + ns
    tokens = write_tokens(tmp, {"security": (token, "*")})
    agg = Aggregator(pki, db, port, api=(api_port, tokens))
    try:
        agg.start()
        with stream_sensor("wit-node-la-" + ns, port, pki, rules, os.path.join(tmp, "sa")) as sa, \
                stream_sensor("wit-node-lb-" + ns, port, pki, rules, os.path.join(tmp, "sb")) as sb, \
                Container(pod=POD, namespace=ns) as c:
            c.start()
            c.exec(["sh", "-c", "/bin/uname -n; /bin/cat /etc/hostname"])
            learned = {"kind": "finding", "name": "Process.Profile.Learned",
                       "container": {"id": c.id}, "process": {"name": "cat"}}
            for s in (sa, sb):
                s.wait_finding(learned, timeout=20, what="cat learned")
            # each node's profile stored (they are sent within a second)
            deadline = time.monotonic() + 20
            while True:
                con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
                nodes = sorted(r[0] for r in con.execute(
                    "SELECT node FROM learned WHERE grp = ?", (group,)))
                con.close()
                if nodes == sorted([sa.node, sb.node]):
                    break
                assert time.monotonic() < deadline, "stored profiles of %s: %s" % (group, nodes)
                time.sleep(0.2)
            req = urllib.request.Request("http://127.0.0.1:%d/api/v1/rules/learned?group=%s"
                                         % (api_port, group))
            req.add_header("Authorization", "Bearer " + token)
            with urllib.request.urlopen(req, timeout=10) as r:
                assert r.status == 200
                yaml = r.read().decode()
            for want in ("kind: NvSecurityRule", "name: %s" % group, "namespace: %s" % ns,
                         "name: cat", "name: uname", "path: /bin/busybox"):
                assert want in yaml, "%r not in the merged profile:\n%s" % (want, yaml)
            # the sensor accepts it back as a rule file
            merged = os.path.join(tmp, "merged.yaml")
            with open(merged, "w") as f:
                f.write(yaml)
            p = subprocess.run([harness.SENSOR_BIN, "--check-rules", merged],
                               capture_output=True, text=True, timeout=30)
            assert p.returncode == 0, (p.stdout, p.stderr, yaml)
        agg.stop()
    finally:
        agg.cleanup()
