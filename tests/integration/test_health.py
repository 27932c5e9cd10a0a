# wacht-sensor --health-listen: what a kubelet and Prometheus see. Ready and
# live answer with exact JSON once the programs are attached; /metrics
# counts exactly the findings the sensor printed (a real container running a
# program its profile forbids) and the events of the stats line; live turns
# 503 when the event loop is stuck (its output blocked) while the HTTP
# thread still answers, and 200 once it turns again; a SIGSTOPped sensor
# answers nothing (a failed probe) and is alive again after SIGCONT; the
# aggregator's connection state and the spool depth follow the aggregator
# going up.

import fcntl
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

from harness import REG, Sensor, require_sensor, track_pid, write_rules
from test_enforce import VIOLATION, loop, marker_container, new_ns, rules_text

F_SETPIPE_SZ = 1031


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=3):
    """(status, content type, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def metric(text, series):
    """The value of one series line (name{labels}) in an exposition, or None."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line[len(series) + 1:])
    return None


def wait_until(what, cond, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %ss" % (what, timeout))
        time.sleep(0.1)


def all_stopped(pid):
    """Every thread of pid in state T (a group stop takes effect per
    thread, as each one next leaves the kernel)."""
    states = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
            states.append(f.read().rsplit(")", 1)[1].split()[0])
    return all(st == "T" for st in states)


def programs_attached(s):
    with open(s.log_path) as f:
        m = re.search(r"ready on node \S+: (\d+) programs attached", f.read())
    assert m, "no ready line in the sensor log\n" + s.log_tail()
    return int(m.group(1))


def test_health_ready_live_and_metrics_count_the_findings():
    ns = new_ns()
    port = free_port()
    rules = write_rules(rules_text(ns, "Monitor"))
    c = marker_container(ns)
    with Sensor(["--window", "1", "--stats-interval", "1", "--rules", rules,
                 "--health-listen", "127.0.0.1:%d" % port]) as s, c:
        n_prog = programs_attached(s)
        assert n_prog > 0
        status, ctype, body = wait_until(
            "ready", lambda: (lambda r: r if r[0] == 200 else None)(get(port, "/healthz/ready")))
        assert ctype == "application/json"
        assert body == '{"status":"ready","programs":%d}\n' % n_prog, body
        assert get(port, "/healthz/live") == (200, "application/json", '{"status":"alive"}\n')
        assert get(port, "/nope")[0] == 404

        c.start()
        # Monitor mode: every run of the forbidden program is an alert
        assert loop(c, "/usr/local/bin/marker", 5) == 0
        spec = {"kind": "finding", "name": VIOLATION, "action": "alert",
                "container": {"id": c.id}}
        s.wait_findings(spec, 1, what="a Process.Profile.Violation alert")
        # the window (1 s) closes, the aggregated record is printed; then
        # the printed records stop changing
        time.sleep(2.5)
        printed = len(s.findings({"kind": "finding", "name": VIOLATION, "action": "alert"}))
        assert printed >= 1
        assert sum(f.get("count", 1) for f in s.findings(spec)) == 5, s.dump_findings(spec=spec)

        series = 'wacht_findings_total{name="%s",action="alert"}' % VIOLATION

        def scraped():
            st, ct, text = get(port, "/metrics")
            assert st == 200 and ct.startswith("text/plain; version=0.0.4"), (st, ct)
            return text if metric(text, series) == printed else None
        # a snapshot is published every second
        text = wait_until("%s %d in /metrics" % (series, printed), scraped, timeout=5)
        assert "# TYPE wacht_findings_total counter\n" in text
        assert "# TYPE wacht_spool_bytes gauge\n" not in text   # no --aggregator
        assert metric(text, "wacht_rule_groups") == s.stats()[-1]["rules"]["groups"]
        assert metric(text, 'wacht_enforcement_total{action="kill"}') == 0
        assert metric(text, "wacht_enforcing") == 1

        # the events of a quiet moment: /metrics and the stats line of the
        # same second say the same
        def same_as_stats():
            text = get(port, "/metrics")[2]
            st = s.stats()[-1]
            return all(metric(text, 'wacht_events_total{type="%s"}' % t) == st["delivered"][t]
                       for t in ("exec", "file", "net"))
        wait_until("wacht_events_total equal to the stats line's delivered", same_as_stats,
                   timeout=5)
        assert metric(get(port, "/metrics")[2], 'wacht_events_total{type="exec"}') >= 5


def test_health_live_turns_503_while_the_loop_is_stuck():
    """A blocked output (a log pipe nobody reads) stops the event loop:
    live says so from the HTTP thread, and recovers when it is read."""
    port = free_port()
    d = REG.tmp()
    fifo = os.path.join(d, "out.fifo")
    ready = os.path.join(d, "ready")
    os.mkfifo(fifo)
    # the reader first (so the sensor's open does not block), with the
    # smallest pipe: the stats lines fill it in a few seconds
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(rfd, F_SETPIPE_SZ, 4096)
    log = open(os.path.join(d, "sensor.log"), "wb")
    proc = subprocess.Popen([require_sensor(), "--output", fifo, "--ready-file", ready,
                             "--no-state", "--stats-interval", "1",
                             "--health-listen", "127.0.0.1:%d" % port],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    track_pid(proc.pid, "wacht-sensor")
    out = bytearray()
    stop_reading = threading.Event()

    def drain():
        while not stop_reading.is_set():
            try:
                b = os.read(rfd, 65536)
            except BlockingIOError:
                time.sleep(0.02)
                continue
            if not b:
                time.sleep(0.02)
                if proc.poll() is not None:
                    return
                continue
            out.extend(b)
    reader = None
    try:
        wait_until("ready file", lambda: os.path.exists(ready) or proc.poll() is not None)
        assert proc.poll() is None, open(log.name).read()
        wait_until("live 200", lambda: get(port, "/healthz/live")[0] == 200)
        # nobody reads: the pipe fills, the loop blocks in its write, and
        # after the 5 s window live (and ready) say why
        status, _, body = wait_until(
            "live 503", lambda: (lambda r: r if r[0] == 503 else None)(get(port, "/healthz/live")),
            timeout=20)
        assert re.fullmatch(r'\{"status":"stalled","reason":"the event loop has not turned for '
                            r'(\d+) ms \(limit 5000 ms\)"\}\n', body), body
        assert int(re.search(r"for (\d+) ms", body).group(1)) > 5000
        st, _, body = get(port, "/healthz/ready")
        assert st == 503 and body.startswith(
            '{"status":"not ready","reason":"the ring buffer has not been drained for '), body
        # read the pipe: the loop turns again
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        wait_until("live 200 again", lambda: get(port, "/healthz/live")
                   == (200, "application/json", '{"status":"alive"}\n'), timeout=3)
        assert get(port, "/healthz/ready")[0] == 200

        # SIGSTOP stops every thread: the probe gets no answer at all,
        # which a kubelet counts as a failure (timeoutSeconds)
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            wait_until("every thread stopped", lambda: all_stopped(proc.pid), timeout=3)
            try:
                r = get(port, "/healthz/live", timeout=1)
                raise AssertionError("a stopped sensor answered %r" % (r,))
            except (socket.timeout, TimeoutError, urllib.error.URLError) as e:
                if isinstance(e, urllib.error.URLError) and not isinstance(
                        e.reason, (socket.timeout, TimeoutError)):
                    raise
            time.sleep(6)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        wait_until("live 200 after SIGCONT", lambda: get(port, "/healthz/live")
                   == (200, "application/json", '{"status":"alive"}\n'), timeout=3)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, open(log.name).read()
        reader.join(5)
        assert b'"final":true' in out, "no final stats line in %d bytes of output" % len(out)
    finally:
        stop_reading.set()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait(10)
        if reader:
            reader.join(5)
        os.close(rfd)
        log.close()


def test_health_metrics_follow_the_aggregator_connection_and_the_spool():
    """No aggregator: connected 0 and the findings' batch waits in the
    spool; the aggregator comes up: connected 1, spool empty."""
    from test_stream import Aggregator, make_pki
    d = REG.tmp()
    pki = make_pki(os.path.join(d, "pki"), "wh")
    agg_port, port = free_port(), free_port()
    ns = new_ns()
    rules = write_rules(rules_text(ns, "Monitor"))
    c = marker_container(ns)
    agg = Aggregator(pki, os.path.join(d, "store.db"), agg_port)
    try:
        with Sensor(["--window", "0", "--stats-interval", "1", "--rules", rules,
                     "--aggregator", "127.0.0.1:%d" % agg_port, "--tls-ca", pki["ca"],
                     "--tls-cert", pki["client_crt"], "--tls-key", pki["client_key"],
                     "--spool-dir", os.path.join(d, "spool"),
                     "--health-listen", "127.0.0.1:%d" % port]) as s, c:
            c.start()
            assert loop(c, "/usr/local/bin/marker", 1) == 0
            s.wait_findings({"kind": "finding", "name": VIOLATION, "container": {"id": c.id}},
                            1, what="a finding to spool")

            def spooled():
                text = get(port, "/metrics")[2]
                # (the first stats line may not be out yet)
                st = (s.stats() or [{}])[-1].get("aggregator", {})
                if metric(text, "wacht_spool_batches") and \
                        metric(text, "wacht_spool_batches") == st["spool_batches"]:
                    return text
            text = wait_until("a batch in the spool", spooled, timeout=5)
            assert metric(text, "wacht_aggregator_connected") == 0
            assert metric(text, "wacht_spool_bytes") > 0
            assert metric(text, "wacht_aggregator_failures_total") >= 1

            agg.start()
            text = wait_until("connected and the spool empty", lambda: (
                lambda t: t if metric(t, "wacht_aggregator_connected") == 1
                and metric(t, "wacht_spool_batches") == 0 else None)(get(port, "/metrics")[2]),
                timeout=40)
            assert metric(text, "wacht_spool_bytes") == 0
            assert metric(text, "wacht_shipped_batches_total") >= 1
    finally:
        agg.cleanup()
