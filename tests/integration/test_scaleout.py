# The scale-out path (issue 5): real wacht-sensors (--nats, real containers
# producing real findings) and a simulated one (wacht-bus-publish, for
# volume, duplicates and resends) publish to NATS JetStream; two
# wacht-aggregator replicas (--nats, --store postgresql://) consume one
# durable stream into one PostgreSQL database; one replica is killed with
# SIGKILL mid-stream and restarted. Every finding a sensor printed (with its
# id) must be stored exactly once. Also the store's semantic unit tests run
# against PostgreSQL. Private nats-server and PostgreSQL instances are
# started on free ports and removed afterwards, also on failure.
#
# Binaries: next to the sensor ($WACHT_SENSOR, else build/wacht-sensor):
# wacht-aggregator ($WACHT_AGGREGATOR overrides), wacht-bus-publish and
# unit/test_store.

import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import sqlite3

from harness import REG, Container, Sensor, pid_alive, run, track_pid
from test_policy import POD, new_ns
from test_stream import monitor_rules, printed, sensor_id_of
import harness

BUILD = os.path.dirname(harness.SENSOR_BIN)
AGG_BIN = os.environ.get("WACHT_AGGREGATOR") or os.path.join(BUILD, "wacht-aggregator")
PUBLISH = os.path.join(BUILD, "wacht-bus-publish")
TEST_STORE = os.path.join(BUILD, "unit", "test_store")


def _need(path, how):
    if not os.access(path, os.X_OK):
        raise AssertionError("%s not found: %s" % (path, how))
    return path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name):
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name))
    if not found:
        raise AssertionError("PostgreSQL's %s not found: scripts/install-deps.sh "
                             "installs postgresql" % name)
    return found[-1]


def _wait(cond, timeout, what):
    """Polls cond() until it returns a true value (returned); fails after
    timeout seconds (a bound for a hung system, not a speed requirement)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(0.05)


class NatsServer:
    """A private nats-server with JetStream (file store in a temp dir) and
    its monitoring endpoint, for the consumer's counters."""

    def __init__(self, args=()):
        self.args = list(args)

    def __enter__(self):
        self.binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        _need(self.binary, "scripts/install-deps.sh installs nats-server")
        self.dir = tempfile.mkdtemp(prefix="nats.", dir=REG.tmp())
        self.port, self.mport = _free_port(), _free_port()
        self.url = "nats://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.dir, "nats.log"), "wb")
        try:
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def start(self):
        """(Re)starts the server on the same port and JetStream directory."""
        self.proc = subprocess.Popen(
            [self.binary, "-js", "-sd", os.path.join(self.dir, "js"), "-a", "127.0.0.1",
             "-p", str(self.port), "-m", str(self.mport)] + self.args,
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
            start_new_session=True)
        track_pid(self.proc.pid, "nats-server")
        _wait(self._ready, 20, "nats-server to accept connections")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("nats-server exited %d: %s" % (
                self.proc.returncode, open(self.log.name).read()[-2000:]))
        try:
            return self.jsz() is not None
        except OSError:
            return False

    def jsz(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/jsz?consumers=true"
                                    % self.mport, timeout=5) as r:
            return json.load(r)

    def stream(self, name="WACHT"):
        for acc in self.jsz().get("account_details", []):
            for st in acc.get("stream_detail", []):
                if st["name"] == name:
                    return st
        return None

    def consumer(self, stream="WACHT", durable="wacht-aggregator"):
        st = self.stream(stream)
        for c in (st or {}).get("consumer_detail", []) or []:
            if c["name"] == durable:
                return c
        return None

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


class Postgres:
    """A private PostgreSQL cluster: initdb as the postgres user into a temp
    dir, listening only on a unix socket in that dir on a free port number,
    with one database and trust authentication for user wacht."""

    def __enter__(self):
        # outside the session's temp dir: the postgres user must reach it
        self.dir = tempfile.mkdtemp(prefix="wacht-it-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        self.started = False
        shutil.chown(self.dir, "postgres", "postgres")
        try:
            self._as_pg([_pg_bin("initdb"), "-D", self.data, "-U", "wacht",
                         "--auth=trust", "-E", "UTF8", "--no-locale"], timeout=120)
            self._as_pg([_pg_bin("pg_ctl"), "-D", self.data, "-l",
                         os.path.join(self.dir, "log"), "-w", "-t", "60", "-o",
                         "-k %s -p %d -c listen_addresses=''" % (self.dir, self.port),
                         "start"], timeout=90)
            self.started = True
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                track_pid(int(f.readline()), "postgres")
            self.psql("CREATE DATABASE wacht", db="postgres")
        except BaseException:
            self.__exit__()
            raise
        return self

    def _as_pg(self, argv, timeout=30):
        return run(["runuser", "-u", "postgres", "--"] + argv, timeout=timeout)

    def url(self, db="wacht"):
        return "postgresql:///%s?host=%s&port=%d&user=wacht" % (db, self.dir, self.port)

    def psql(self, sql, db="wacht"):
        """Rows of a query, as lists of strings."""
        _, out, _ = run([_pg_bin("psql"), "-X", "-q", "-A", "-t", "-F", "|",
                         "-v", "ON_ERROR_STOP=1", "-d", self.url(db), "-c", sql],
                        timeout=60)
        return [l.split("|") for l in out.splitlines() if l]

    def __exit__(self, *exc):
        if self.started:
            run(["runuser", "-u", "postgres", "--", _pg_bin("pg_ctl"), "-D", self.data,
                 "-m", "immediate", "-w", "stop"], check=False, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


class Replica:
    """A wacht-aggregator replica consuming NATS (no TLS listener) into a
    store URL, redelivering after 2 s without an ack."""

    def __init__(self, nats, store_url, name, args=(), api_tokens=None):
        """api_tokens: a tokens file: serve the HTTP API on a free port
        (self.api_port); None: no API."""
        self.api_port = _free_port() if api_tokens else None
        api = ["--api-listen", "127.0.0.1:%d" % self.api_port, "--api-tokens", api_tokens] \
            if api_tokens else ["--api-listen", "off"]
        self.cmd = [AGG_BIN, "--nats", nats.url, "--store", store_url,
                    "--nats-ack-wait", "2", "--stats-interval", "0"] + api + list(args)
        self.dir = tempfile.mkdtemp(prefix="replica-%s." % name, dir=REG.tmp())
        self.err = os.path.join(self.dir, "err")
        self.proc = None

    def log(self):
        with open(self.err, errors="replace") as f:
            return f.read()

    def start(self):
        _need(AGG_BIN, "build it with `make`")
        with open(self.err, "wb") as e:
            self.proc = subprocess.Popen(self.cmd, stdout=e, stderr=e,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        track_pid(self.proc.pid, "wacht-aggregator")
        _wait(lambda: "wacht-aggregator: consuming NATS " in self.log() or self._dead(), 20,
              "the replica to subscribe")
        return self

    def _dead(self):
        if self.proc.poll() is not None:
            raise AssertionError("replica exited %d: %s" % (
                self.proc.returncode, self.log()[-2000:]))
        return False

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        """SIGTERM; the NATS counters of its exit line."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(20)
        log = self.log()
        assert rc == 0, "replica exited %d: %s" % (rc, log[-2000:])
        line = [l for l in log.splitlines() if l.startswith("wacht-aggregator: exit: NATS ")]
        assert line, "no NATS exit line: " + log[-2000:]
        # "messages 10, hellos 0, batches 10, ..., not acknowledged 0"
        names = {"new": "stored", "undecodable": "bad", "not acknowledged": "failed"}
        out = {}
        for part in line[-1][len("wacht-aggregator: exit: NATS "):].split(", "):
            k, v = part.rsplit(" ", 1)
            out[names.get(k, k)] = int(v)
        return out

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _sqlite_rows(path):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return [{"id": r[0], "count": r[1], "node": r[2]} for r in
                con.execute("SELECT id, count, node FROM findings")]
    finally:
        con.close()


def test_store_semantics_postgres():
    """tests/unit/test_store.c's cases, against PostgreSQL."""
    binary = _need(TEST_STORE, "build it with `make unit`")
    with Postgres() as pg:
        env = dict(os.environ, WACHT_TEST_STORE_URL=pg.url())
        rc, out, err = run([binary], check=False, timeout=300, env=env)
        assert rc == 0, "test_store against PostgreSQL failed:\n%s%s" % (out[-3000:], err[-3000:])
        log = out + err
        runs = log.count("[ RUN      ]")
        assert runs >= 11 and "[  PASSED  ] %d test(s)." % runs in log, log[-2000:]
        # it really ran there: the last case left its tables behind
        assert pg.psql("SELECT version FROM wacht_schema") == [["3"]]


SENSORS = (("sim-1", "node-1"), ("sim-2", "node-2"))
PER_SENSOR = 10000
BATCH = 50
DUP_EVERY = 7      # published twice with the same Nats-Msg-Id
RESEND_EVERY = 13  # published again under a new message id


def test_two_replicas_one_killed():
    """Two replicas, one stream, one database; one replica SIGKILLed
    mid-stream and restarted: every finding stored exactly once, merged
    counts right, nothing left unacknowledged."""
    _need(PUBLISH, "build it with `make`")
    replicas = []
    with NatsServer() as nats, Postgres() as pg:
        try:
            a = Replica(nats, pg.url(), "a").start()
            b = Replica(nats, pg.url(), "b").start()
            replicas += [a, b]

            pubs = [subprocess.Popen(
                [PUBLISH, "--nats", nats.url, "--sensor-id", sid, "--node", node,
                 "--count", str(PER_SENSOR), "--batch", str(BATCH),
                 "--dup-every", str(DUP_EVERY), "--resend-every", str(RESEND_EVERY)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for sid, node in SENSORS]
            for p in pubs:
                track_pid(p.pid, "wacht-bus-publish")
            results = []
            for p in pubs:
                out, err = p.communicate(timeout=120)
                assert p.returncode == 0, "publisher failed: %s" % err
                results.append(json.loads(out))
            batches = PER_SENSOR // BATCH
            resends = batches // RESEND_EVERY
            for r in results:
                assert r == {"published": PER_SENSOR, "batches": batches,
                             "acked_through": PER_SENSOR + 1000000 + resends,
                             "duplicates": batches // DUP_EVERY}, r
            # JetStream kept one copy of each Nats-Msg-Id
            assert nats.stream()["state"]["messages"] == 2 * (batches + resends)

            def received():
                return int(pg.psql("SELECT count(*) FROM received")[0][0])

            # mid-stream: some stored, not all; then SIGKILL
            _wait(lambda: received() >= 2000, 60, "the replicas to store 2000 findings")
            a.kill9()
            after_kill = received()
            assert after_kill < 2 * PER_SENSOR, \
                "the replicas had stored everything (%d) before the kill" % after_kill
            # the killed replica comes back, as a restarted pod would
            a2 = Replica(nats, pg.url(), "a2").start()
            replicas.append(a2)

            _wait(lambda: received() == 2 * PER_SENSOR, 120,
                  "all %d findings to be stored" % (2 * PER_SENSOR))

            # everything delivered is acked, and the messages the killed
            # replica held unacknowledged were delivered again after the ack
            # wait (each delivery takes a consumer sequence number: more of
            # them than stream messages means redeliveries)
            def settled():
                c = nats.consumer()
                return c and c["num_pending"] == 0 and c["num_ack_pending"] == 0 and c
            cons = _wait(settled, 60, "the consumer to have nothing pending")
            assert cons["delivered"]["stream_seq"] == 2 * (batches + resends), cons
            assert cons["ack_floor"]["stream_seq"] == 2 * (batches + resends), cons
            assert cons["delivered"]["consumer_seq"] > cons["delivered"]["stream_seq"], cons

            stats = [b.stop(), a2.stop()]
            for s in stats:
                assert s["bad"] == 0, stats
            # the durable outlives its replicas (a rolling restart resumes)
            assert nats.consumer() is not None
            # the replica that ran throughout shared the work
            assert stats[0]["stored"] > 0, stats
            assert all(s["findings"] >= s["stored"] for s in stats), stats
        finally:
            for r in replicas:
                r.cleanup()

        # exactly once: every id, no other
        ids = {r[0] for r in pg.psql("SELECT id FROM received")}
        want = {"%s:%d" % (sid, i) for sid, _ in SENSORS for i in range(PER_SENSOR)}
        assert ids == want, "missing %d, unexpected %d" % (len(want - ids), len(ids - want))
        assert pg.psql("SELECT count(*), count(DISTINCT id) FROM received") == \
            [[str(2 * PER_SENSOR)] * 2]
        assert pg.psql("SELECT count(*) FROM received WHERE finding IS NULL") == [["0"]]
        # counts: /usr/bin/nc (every 10th finding) merged into one row per
        # node, the rest one row each
        rows = pg.psql("SELECT node, count(*), sum(count), max(count) FROM findings"
                       " GROUP BY node ORDER BY node")
        assert rows == [[node, str(PER_SENSOR - PER_SENSOR // 10 + 1), str(PER_SENSOR),
                         str(PER_SENSOR // 10)] for _, node in SENSORS], rows
        nc = pg.psql("SELECT node, count, id FROM findings WHERE exe = '/usr/bin/nc'"
                     " ORDER BY node")
        assert [r[:2] for r in nc] == [[node, str(PER_SENSOR // 10)]
                                       for _, node in SENSORS], nc


def test_undecodable_message_dropped_once():
    """A message that is not an Envelope is terminated by the replica that
    gets it, never redelivered, and does not hold up the findings behind it;
    here into the embedded SQLite store."""
    _need(PUBLISH, "build it with `make`")
    with NatsServer() as nats:
        store = os.path.join(nats.dir, "wacht.db")
        rep = Replica(nats, store, "sqlite")
        try:
            rep.start()
            _, out, _ = run([PUBLISH, "--nats", nats.url, "--sensor-id", "sim-9",
                             "--node", "node-9", "--count", "100", "--batch", "50",
                             "--garbage"], timeout=60)
            assert json.loads(out)["batches"] == 2, out

            def settled():
                c = nats.consumer()
                return c and c["num_pending"] == 0 and c["num_ack_pending"] == 0 and \
                    c["ack_floor"]["stream_seq"] == 3 and c
            cons = _wait(settled, 60, "the replica to handle all three messages")
            # delivered once each: the bad one was not redelivered
            assert cons["delivered"] == dict(cons["delivered"], consumer_seq=3,
                                             stream_seq=3), cons
            stats = rep.stop()
            assert stats == {"messages": 2, "hellos": 0, "batches": 2, "findings": 100,
                             "stored": 100, "rejected": 0, "bad": 1, "failed": 0}, stats
        finally:
            rep.cleanup()
        rows = _sqlite_rows(store)
        # 90 findings of their own, 10 of /usr/bin/nc merged into one row
        assert len(rows) == 91, rows[:3]
        assert sorted(r["count"] for r in rows)[-2:] == [1, 10], rows
        assert {r["node"] for r in rows} == {"node-9"}


def _tls_files(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate,
    made with the openssl command."""
    def ossl(*args):
        run(["openssl"] + list(args), timeout=60)
    p = {n: os.path.join(d, n) for n in ("ca.key", "ca.pem", "srv.key", "srv.csr",
                                         "srv.pem", "cli.key", "cli.csr", "cli.pem",
                                         "san.cnf")}
    with open(p["san.cnf"], "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
         "/CN=wacht-test-ca", "-keyout", p["ca.key"], "-out", p["ca.pem"])
    for who in ("srv", "cli"):
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=wacht-" + who,
             "-keyout", p[who + ".key"], "-out", p[who + ".csr"])
        ossl("x509", "-req", "-in", p[who + ".csr"], "-CA", p["ca.pem"], "-CAkey",
             p["ca.key"], "-CAcreateserial", "-days", "2", "-out", p[who + ".pem"],
             "-extfile", p["san.cnf"])
    return p


def test_tls_to_nats():
    """--nats-ca/--nats-cert/--nats-key: publisher and replica reach a
    nats-server that requires TLS with client certificates; a replica
    without a client certificate is refused."""
    _need(AGG_BIN, "build it with `make`")
    _need(PUBLISH, "build it with `make`")
    certs = tempfile.mkdtemp(prefix="tls.", dir=REG.tmp())
    p = _tls_files(certs)
    tls = ["--nats-ca", p["ca.pem"], "--nats-cert", p["cli.pem"], "--nats-key", p["cli.key"]]
    with NatsServer(["--tls", "--tlscert", p["srv.pem"], "--tlskey", p["srv.key"],
                     "--tlscacert", p["ca.pem"], "--tlsverify"]) as nats:
        store = os.path.join(nats.dir, "wacht.db")
        # no client certificate: refused, with a message
        rc, _, err = run([AGG_BIN, "--api-listen", "off", "--nats", nats.url, "--store", store,
                          "--nats-ca", p["ca.pem"]], check=False, timeout=60)
        assert rc == 1 and "wacht-aggregator: bus: failed to connect to %s: " % nats.url \
            in err, (rc, err)
        rep = Replica(nats, store, "tls", tls)
        try:
            rep.start()
            _, out, _ = run([PUBLISH, "--nats", nats.url, "--sensor-id", "sim-t",
                             "--node", "node-t", "--count", "20", "--batch", "10"] + tls,
                            timeout=60)
            assert json.loads(out)["acked_through"] == 2, out

            def settled():
                c = nats.consumer()
                return c and c["ack_floor"]["stream_seq"] == 2
            _wait(settled, 60, "the replica to store both batches")
            assert rep.stop() == {"messages": 2, "hellos": 0, "batches": 2, "findings": 20,
                                  "stored": 20, "rejected": 0, "bad": 0, "failed": 0}
        finally:
            rep.cleanup()


# ---------------------------------------------------------------------------
# The scenario with the real binaries.

def _pg_ids(pg, sid):
    """Every finding id the database received from this sensor (PostgreSQL
    keeps each id, merged or not, in `received`)."""
    return [r[0] for r in pg.psql("SELECT id FROM received WHERE id LIKE '%s:%%'" % sid)]


def _pg_wait_all_stored(pg, sensors, timeout):
    def done():
        missing = {}
        for s in sensors:
            s._check_alive()
            want = {f["id"] for f in printed(s)}
            lost = want - set(_pg_ids(pg, sensor_id_of(s)))
            if lost:
                missing[s.node] = sorted(lost)
        return not missing or None
    _wait(done, timeout, "every finding the sensors printed to be in PostgreSQL")


def _api_all(port, token, ns):
    """Every finding of namespace ns through the API, following pages."""
    out, cursor = [], None
    while True:
        q = "/api/v1/findings?namespace=%s&limit=100" % ns
        if cursor:
            q += "&cursor=" + urllib.parse.quote(cursor)
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, q))
        req.add_header("Authorization", "Bearer " + token)
        with urllib.request.urlopen(req, timeout=10) as r:
            body = json.loads(r.read())
        out += body["findings"]
        cursor = body["next"]
        if not cursor:
            return out


def _nats_sensor(node, nats, rules, spool, extra=()):
    s = Sensor(args=["--rules", rules, "--window", "0", "--node", node,
                     "--nats", nats.url, "--spool-dir", spool, "--stats-interval", "1"]
               + list(extra))
    s.node = node
    return s


VOLUME = 20000  # findings of the simulated sensor, published meanwhile


def test_real_sensors_two_replicas_one_killed():
    """wacht-sensor --nats on two nodes with a real container, a simulated
    sensor for volume, two wacht-aggregator --nats replicas on one
    PostgreSQL; one replica SIGKILLed while findings stream in and
    restarted: every printed finding id stored exactly once, the counts
    stored those printed, nothing left in the sensors' spools."""
    _need(AGG_BIN, "build it with `make`")
    _need(PUBLISH, "build it with `make`")
    ns = new_ns()
    rules = monitor_rules(ns)
    tmp = tempfile.mkdtemp(prefix="scaleout.", dir=REG.tmp())
    replicas = []
    token = "sec-" + ns
    tokens = os.path.join(tmp, "tokens")
    with open(tokens, "w") as f:
        f.write("security %s *\n" % hashlib.sha256(token.encode()).hexdigest())
    with NatsServer() as nats, Postgres() as pg:
        try:
            a = Replica(nats, pg.url(), "a", api_tokens=tokens).start()
            b = Replica(nats, pg.url(), "b", api_tokens=tokens).start()
            replicas += [a, b]
            with _nats_sensor("wit-node-na-" + ns, nats, rules,
                              os.path.join(tmp, "spool-a")) as sa, \
                    _nats_sensor("wit-node-nb-" + ns, nats, rules,
                                 os.path.join(tmp, "spool-b")) as sb, \
                    Container(pod=POD, namespace=ns) as c:
                c.start()
                s_uname = {"kind": "finding", "name": "Process.Profile.Violation",
                           "container": {"id": c.id}, "process": {"name": "uname"}}
                # phase 1: 40 violations, each seen by both sensors, stored
                c.exec(["sh", "-c", "for i in $(seq 40); do /bin/uname -n; done"])
                for s in (sa, sb):
                    s.wait_findings(s_uname, 40, timeout=20, what="uname violations")
                _pg_wait_all_stored(pg, (sa, sb), 30)

                # phase 2: a stream of violations and of simulated findings;
                # SIGKILL replica a in the middle of both, then restart it
                pid = c.exec_detached(["sh", "-c",
                                       "for i in $(seq 300); do /bin/uname -n; usleep 10000; done"])
                pub = subprocess.Popen(
                    [PUBLISH, "--nats", nats.url, "--sensor-id", "sim-v", "--node", "node-v",
                     "--count", str(VOLUME), "--batch", "50"],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                track_pid(pub.pid, "wacht-bus-publish")
                for s in (sa, sb):
                    s.wait_findings(s_uname, 60, timeout=20, what="stream started")

                def sim_received():
                    return int(pg.psql("SELECT count(*) FROM received WHERE id LIKE 'sim-v:%'")
                               [0][0])
                _wait(lambda: sim_received() >= 1000, 60, "1000 simulated findings stored")
                a.kill9()
                # mid-stream: the violation loop runs on, the volume is not
                # all stored
                assert pid_alive(pid), "the violation loop ended before the kill"
                assert sim_received() < VOLUME, "all simulated findings stored before the kill"
                a2 = Replica(nats, pg.url(), "a2", api_tokens=tokens).start()
                replicas.append(a2)

                _wait(lambda: not pid_alive(pid), 30, "the violation loop to finish")
                for s in (sa, sb):
                    s.wait_findings(s_uname, 340, timeout=20, what="all uname violations")
                out, err = pub.communicate(timeout=60)
                assert pub.returncode == 0, "wacht-bus-publish failed: %s" % err
                assert json.loads(out)["acked_through"] == VOLUME // 50, out
                _pg_wait_all_stored(pg, (sa, sb), 60)
                _wait(lambda: sim_received() == VOLUME, 60,
                      "all %d simulated findings to be stored" % VOLUME)

                for s in (sa, sb):
                    fs = printed(s)
                    ids = [f["id"] for f in fs]
                    sid = sensor_id_of(s)
                    assert all(i.startswith(sid + ":") for i in ids), ids[:5]
                    assert len(ids) == len(set(ids)), "a sensor printed one id twice"
                    got = _pg_ids(pg, sid)
                    # exactly once: the same ids, none missing, none extra
                    assert sorted(got) == sorted(ids), (
                        "%s: printed %d, stored %d; missing %s, extra %s" % (
                            s.node, len(ids), len(got), sorted(set(ids) - set(got))[:5],
                            sorted(set(got) - set(ids))[:5]))
                    # the rows of this node stand for exactly the printed
                    # occurrences: no resend counted twice
                    total = int(pg.psql("SELECT coalesce(sum(count), 0) FROM findings "
                                        "WHERE node = '%s'" % s.node)[0][0])
                    assert total == sum(f["count"] for f in fs), (s.node, total)
                    # the sensor's hello reached the sensors table
                    assert pg.psql("SELECT node, drops FROM sensors WHERE sensor_id = '%s'"
                                   % sid) == [[s.node, "0"]]
                # a uname finding's exact content, as stored
                first = next(f for f in printed(sa)
                             if f.get("process", {}).get("name") == "uname")
                row = pg.psql("SELECT name, pod, namespace, exe, process_name, node "
                              "FROM findings f JOIN received r ON r.finding = f.seq "
                              "WHERE r.id = '%s'" % first["id"])
                assert row == [["Process.Profile.Violation", POD, ns, "/bin/busybox", "uname",
                                sa.node]], row
                # both replicas' APIs return the same findings: every row of
                # the namespace, page by page, and the same stored content
                pages = [_api_all(r.api_port, token, ns) for r in (a2, b)]
                assert pages[0] == pages[1], "the replicas' APIs differ"
                want = sorted(r[0] for r in pg.psql(
                    "SELECT id FROM findings WHERE namespace = '%s'" % ns))
                assert sorted(f["id"] for f in pages[0]) == want, (len(pages[0]), len(want))

            # the sensors stopped: everything they spooled was acknowledged
            # by JetStream, nothing dropped
            for s in (sa, sb):
                st = s.final_stats["aggregator"]
                assert st["transport"] == "nats" and st["address"] == nats.url, st
                assert st["spool_batches"] == 0 and st["acked"] == st["batches"], st
                assert st["batches"] > 0 and st["dropped"] == 0, st

            def settled():
                c = nats.consumer()
                return c and c["num_pending"] == 0 and c["num_ack_pending"] == 0 and c
            cons = _wait(settled, 60, "the consumer to have nothing pending")
            n_msgs = nats.stream()["state"]["messages"]
            assert cons["ack_floor"]["stream_seq"] == n_msgs, (cons, n_msgs)
            # what the killed replica held unacknowledged was delivered
            # again (more deliveries than messages): the kill was mid-stream
            assert cons["delivered"]["consumer_seq"] > cons["delivered"]["stream_seq"], cons
            stats = [b.stop(), a2.stop()]
            for st in stats:
                assert st["bad"] == 0 and st["rejected"] == 0, stats
            # the replica that ran throughout shared the work
            assert stats[0]["batches"] > 0, stats
        finally:
            for r in replicas:
                r.cleanup()
        # exactly once overall: one received row per id, every one in a row
        assert pg.psql("SELECT count(*) = count(DISTINCT id) FROM received") == [["t"]]
        assert pg.psql("SELECT count(*) FROM received WHERE finding IS NULL") == [["0"]]


def test_sensor_spools_while_nats_is_down():
    """NATS stops while a real sensor has findings to publish: the sensor
    keeps spooling, fails and retries with backoff, and once NATS is back
    publishes the backlog from the first unacknowledged batch; the replica
    (here on the embedded SQLite store) stores every finding once."""
    _need(AGG_BIN, "build it with `make`")
    ns = new_ns()
    rules = monitor_rules(ns)
    tmp = tempfile.mkdtemp(prefix="scaleout.", dir=REG.tmp())
    db = os.path.join(tmp, "wacht.db")
    with NatsServer() as nats:
        rep = Replica(nats, db, "sqlite")
        try:
            rep.start()
            with _nats_sensor("wit-node-nc-" + ns, nats, rules,
                              os.path.join(tmp, "spool")) as s, \
                    Container(pod=POD, namespace=ns) as c:
                c.start()
                s_uname = {"kind": "finding", "name": "Process.Profile.Violation",
                           "container": {"id": c.id}, "process": {"name": "uname"}}
                c.exec(["sh", "-c", "for i in $(seq 20); do /bin/uname -n; done"])
                s.wait_findings(s_uname, 20, timeout=20, what="uname violations")
                sid = sensor_id_of(s)

                def stored():
                    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
                    try:
                        return [r[0] for r in con.execute(
                            "SELECT id FROM findings WHERE id LIKE ?1 || ':%' UNION ALL "
                            "SELECT id FROM received WHERE id LIKE ?1 || ':%'", (sid,))]
                    finally:
                        con.close()

                def all_stored():
                    return set(stored()) >= {f["id"] for f in printed(s)}
                _wait(all_stored, 30, "the first findings to be stored")

                nats.stop()
                c.exec(["sh", "-c", "for i in $(seq 30); do /bin/uname -n; done"])
                s.wait_findings(s_uname, 50, timeout=20, what="violations while NATS is down")

                def spooling():
                    st = [l for l in s.read() if l.get("kind") == "stats"]
                    st = st[-1]["aggregator"] if st else {}
                    return st.get("failures", 0) >= 1 and st.get("spool_batches", 0) >= 1 \
                        and not st.get("connected") and st
                st = _wait(spooling, 40, "the sensor to spool and report the failure")
                assert not all_stored()

                nats.start()
                _wait(all_stored, 60, "the backlog to be stored after NATS came back")
            fin = s.final_stats["aggregator"]
            assert fin["spool_batches"] == 0 and fin["acked"] == fin["batches"], fin
            assert fin["connects"] >= 2 and fin["failures"] >= 1 and fin["dropped"] == 0, fin
            ids = [f["id"] for f in printed(s)]
            assert sorted(stored()) == sorted(ids), (len(stored()), len(ids))
            assert "wacht-sensor: NATS %s: " % nats.url in s.log_tail(400), s.log_tail(20)
            rep.stop()
        finally:
            rep.cleanup()


def test_sensor_spool_full_while_nats_is_down():
    """The drop policy of the TLS path, over NATS: with a tiny spool and
    NATS stopped, the oldest batches are dropped; once NATS is back the
    sensor reports them as a Sensor.Findings.Dropped finding, which is
    stored with the others, and the drop count reaches the sensors table."""
    _need(AGG_BIN, "build it with `make`")
    ns = new_ns()
    rules = monitor_rules(ns)
    tmp = tempfile.mkdtemp(prefix="scaleout.", dir=REG.tmp())
    db = os.path.join(tmp, "wacht.db")
    with NatsServer() as nats:
        rep = Replica(nats, db, "sqlite")
        try:
            rep.start()
            s = Sensor(args=["--rules", rules, "--window", "0", "--node", "wit-node-nd-" + ns,
                             "--nats", nats.url, "--spool-dir", os.path.join(tmp, "spool"),
                             "--spool-max", "4096", "--stats-interval", "1"])
            with s, Container(pod=POD, namespace=ns) as c:
                c.start()
                s_uname = {"kind": "finding", "name": "Process.Profile.Violation",
                           "container": {"id": c.id}, "process": {"name": "uname"}}
                _wait(lambda: "connected to NATS" in s.log_tail(50), 20, "the sensor to connect")
                nats.stop()
                # one finding per batch (batches are cut 200 ms after their
                # first finding): far more than 4096 bytes of them
                c.exec(["sh", "-c", "for i in $(seq 40); do /bin/uname -n; usleep 250000; done"],
                       timeout=60)
                s.wait_findings(s_uname, 40, timeout=20, what="violations while NATS is down")

                def dropped():
                    st = [l for l in s.read() if l.get("kind") == "stats"]
                    return st and st[-1]["aggregator"]["dropped"]
                _wait(dropped, 20, "the spool to drop batches")
                nats.start()
                drop = _wait(lambda: [f for f in printed(s)
                                      if f["name"] == "Sensor.Findings.Dropped"], 60,
                             "the drop report")
                assert len(drop) == 1, drop
                assert drop[0]["severity"] == "high", drop
                # "N batches of findings were dropped unsent (in all, N since
                # the spool ... was created): ... while the NATS server was
                # unreachable ..."
                msg = drop[0]["message"]
                n_dropped = int(msg.split(" ", 1)[0])
                assert n_dropped > 0 and msg.startswith(
                    "%d batches of findings were dropped unsent (in all, %d since the spool "
                    % (n_dropped, n_dropped)), msg
                assert "while the NATS server was unreachable" in msg, msg

                def stored_ids():
                    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
                    try:
                        return {r[0] for r in con.execute(
                            "SELECT id FROM findings UNION ALL SELECT id FROM received")}
                    finally:
                        con.close()
                _wait(lambda: drop[0]["id"] in stored_ids(), 60, "the drop report stored")
            fin = s.final_stats["aggregator"]
            assert fin["dropped"] == n_dropped and fin["spool_batches"] == 0, fin
            # what was stored was printed; what was printed and not stored
            # is the findings of whole batches, at most n_dropped of them (a
            # finding id is "<sensor_id>:<batch_seq * 1000 + index>"; a
            # batch dropped from the spool may still arrive: one published
            # into libnats's reconnect buffer before NATS went away)
            printed_ids = {f["id"] for f in printed(s)}
            got = stored_ids()
            assert got <= printed_ids, sorted(got - printed_ids)[:5]

            def batch(i):
                return int(i.rsplit(":", 1)[1]) // 1000
            # (all of them may have been in that buffer: none lost is fine;
            # more lost than the drops reported never is)
            lost = {batch(i) for i in printed_ids - got}
            assert len(lost) <= n_dropped, (sorted(lost), n_dropped)
            assert not lost & {batch(i) for i in got}, "a batch stored in part"
            con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
            try:
                rows = con.execute("SELECT sensor_id, drops FROM sensors").fetchall()
            finally:
                con.close()
            assert rows == [(sensor_id_of(s), n_dropped)], rows
            rep.stop()
        finally:
            rep.cleanup()


def test_learned_profile_over_nats():
    """A Discover-mode sensor publishing to NATS: its learned profile
    reaches the replica's store under its node, and the API serves it. Its
    FlowBatches (--flow-interval 1) are published too: the container's
    20000 bytes to an address outside it (a plain netns on a veth) are in
    the replica's graph, within 1%, once."""
    from harness import Netns, veth_between
    from test_policy import random_net, rules_file, wait_listening, web_group
    _need(AGG_BIN, "build it with `make`")
    ns = new_ns()
    group = "nv.web." + ns
    _, text = web_group(ns, policymode="Discover", mode="Discover", process=())
    rules = rules_file(text)
    tmp = tempfile.mkdtemp(prefix="learned.", dir=REG.tmp())
    token = "sec-" + ns
    tokens = os.path.join(tmp, "tokens")
    with open(tokens, "w") as f:
        f.write("security %s *\n" % hashlib.sha256(token.encode()).hexdigest())
    db = os.path.join(tmp, "wacht.db")
    ext_ip, c_ip = random_net()[:2]
    n_c, n_ext, ext_srv = Netns(), Netns(), None
    with NatsServer() as nats:
        r = Replica(nats, db, "l", api_tokens=tokens).start()
        try:
            n_c.create()
            n_ext.create()
            veth_between(n_ext, n_c, a_addrs=(ext_ip + "/24",), b_addrs=(c_ip + "/24",))
            with _nats_sensor("wit-node-nl-" + ns, nats, rules, os.path.join(tmp, "spool"),
                              extra=["--flow-interval", "1"]) as s, \
                    Container(pod=POD, namespace=ns, netns=n_c) as c:
                c.start()
                c.exec(["sh", "-c", "/bin/cat /etc/hostname"])
                s.wait_finding({"kind": "finding", "name": "Process.Profile.Learned",
                                "container": {"id": c.id}, "process": {"name": "cat"}},
                               timeout=20, what="cat learned")

                def stored():
                    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
                    try:
                        return con.execute("SELECT node, yaml FROM learned WHERE grp = ?",
                                           (group,)).fetchall()
                    except sqlite3.OperationalError:
                        return []
                    finally:
                        con.close()
                _wait(lambda: stored() and "name: cat" in stored()[0][1], 20,
                      "the learned profile in the replica's store")
                assert stored()[0][0] == s.node, stored()
                req = urllib.request.Request("http://127.0.0.1:%d/api/v1/rules/learned?group=%s"
                                             % (r.api_port, group))
                req.add_header("Authorization", "Bearer " + token)
                with urllib.request.urlopen(req, timeout=10) as resp:
                    yaml = resp.read().decode()
                assert "name: %s" % group in yaml and "name: cat" in yaml, yaml

                # flows over NATS: published once connected (not before)
                def connected():
                    s.read()
                    return any(l.get("aggregator", {}).get("connected")
                               for l in s.lines if l.get("kind") == "stats")
                _wait(connected, 20, "the sensor connected to NATS")
                got = os.path.join(tmp, "ext-got")
                ext_srv = subprocess.Popen(
                    ["ip", "netns", "exec", n_ext.name, "sh", "-c",
                     "sleep 30 | busybox nc -l -p 7000 > %s" % got],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, start_new_session=True)
                track_pid(ext_srv.pid, "nc -l in " + n_ext.name)
                wait_listening(n_ext, 7000)
                c.exec(["sh", "-c", "head -c 20000 /dev/zero | nc -w 5 %s 7000" % ext_ip],
                       check=False, timeout=30)
                _wait(lambda: os.path.getsize(got) == 20000, 10, "20000 bytes received")

                def to_ext():
                    req = urllib.request.Request(
                        "http://127.0.0.1:%d/api/v1/graph?namespace=%s" % (r.api_port, ns))
                    req.add_header("Authorization", "Bearer " + token)
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        g = json.loads(resp.read().decode())
                    cs = [x for x in g["conversations"] if x["to"] == "external:" + ext_ip]
                    return cs and cs[0]["bytes_to_server"] >= 19800 and cs[0]
                conv = _wait(to_ext, 20, "the conversation in the replica's graph")
                time.sleep(2.5)  # later reports add nothing
                conv = to_ext()
                assert abs(conv["bytes_to_server"] - 20000) <= 200, conv
                assert (conv["sessions"], conv["ports"], conv["policy_action"]) == \
                    (1, ["tcp/7000"], "allow"), conv
                sid = sensor_id_of(s)
                con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
                try:
                    n_batches = con.execute("SELECT count(*) FROM flow_batches"
                                            " WHERE sensor_id = ?", (sid,)).fetchone()[0]
                finally:
                    con.close()
                assert n_batches >= 1, n_batches
            st = r.stop()
            assert st["failed"] == 0 and st["rejected"] == 0, st
        finally:
            if ext_srv:
                os.killpg(ext_srv.pid, signal.SIGKILL)
                ext_srv.wait()
            r.cleanup()
            n_c.delete()
            n_ext.delete()
