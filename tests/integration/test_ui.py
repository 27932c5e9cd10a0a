# The aggregator's web page (issue 6) end to end: a real sensor ships real
# findings and conversations over mutual TLS to a real wacht-aggregator,
# whose API listener serves the page at /ui/; headless Chromium (Debian's
# /usr/bin/chromium, driven by playwright-core from tests/ui, `npm ci`
# there when its lock file changed) opens it and checks what a security
# engineer sees: tokens refused with a visible message, exactly the
# findings the API returns, the severity filter, acknowledging with a
# comment (recorded under the token's name) and un-acknowledging, the graph
# with a violation drawn solid red and a denial dashed red and labelled
# "denied", the JSON download. tests/ui/e2e.mjs holds the browser's part.
#
# The data: client and server containers (NetPair, own netns on a veth).
# The client's network mode is Protect with one egress rule, tcp/5000 to
# the server: its tcp/5000 connection is allowed, its tcp/5001 connect is
# refused in the kernel (a denied conversation, a Network.Violation with
# action deny). The server (Monitor) sends a UDP datagram to the client's
# udp/6969, which no rule allows: a violation. Both run nc, a suspicious
# process (and not in the containers' process profile).

import http.client
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse

from harness import REG, REPO, track_pid
from test_enforce_net import tftp
from test_netgraph import wait_sum
from test_policy import BASE_ALLOW, CLIENT_POD, POD, NetPair, Sensor, new_ns, rules_file, \
    wait_listening, web_group
from test_stream import Aggregator, api_get, free_port, make_pki, printed, sensor_id_of, \
    stored_ids, write_tokens

UI_TESTS = os.path.join(REPO, "tests", "ui")
CHROMIUM = "/usr/bin/chromium"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
SEVERITIES = ["info", "low", "medium", "high", "critical"]
# what the test runs in the containers, but nc: a process profile violation
PROCS = BASE_ALLOW + ['{name: %s, path: "*", action: allow}' % p
                      for p in ("sh", "head", "tftp", "timeout")]


def npm_ci():
    """playwright-core as pinned in tests/ui/package-lock.json (again only
    when the lock file changed)."""
    for tool in ("node", "npm"):
        assert shutil.which(tool), "%s missing (scripts/install-deps.sh installs nodejs, npm)" % tool
    assert os.access(CHROMIUM, os.X_OK), \
        "%s missing (scripts/install-deps.sh installs chromium)" % CHROMIUM
    lock = os.path.join(UI_TESTS, "package-lock.json")
    mark = os.path.join(UI_TESTS, "node_modules", ".wacht-lock")
    try:
        with open(lock, "rb") as a, open(mark, "rb") as b:
            if a.read() == b.read():
                return
    except FileNotFoundError:
        pass
    p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=UI_TESTS, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, "npm ci in tests/ui failed:\n%s%s" % (p.stdout, p.stderr)
    shutil.copyfile(lock, mark)


def findings(port, token, query):
    """Every finding the API lists for query, following "next"."""
    got, cursor = [], None
    while True:
        q = query + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
        st, body = api_get(port, "/api/v1/findings?" + q, token)
        assert st == 200, (q, st)
        got += body["findings"]
        cursor = body["next"]
        if not cursor:
            return got


def raw_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def browsers_of(profile):
    """Pids of every process started with this browser profile."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if profile.encode() in f.read():
                        pids.append(int(d))
            except OSError:
                pass
    return pids


def test_ui_in_chromium():
    npm_ci()
    ns = new_ns()
    tmp = os.path.join(REG.tmp(), "ui-" + ns)
    pki = make_pki(os.path.join(tmp, "pki"), "wacht")
    port, api_port = free_port(), free_port()
    sec, team = "sec-token-" + ns, "team-token-" + ns
    tokens = write_tokens(tmp, {"security": (sec, "*"), "team": (team, "other-" + ns)})
    db = os.path.join(tmp, "store.db")
    agg = Aggregator(pki, db, port, api=(api_port, tokens))
    out_dir = os.path.join(tmp, "browser")
    os.makedirs(out_dir)
    profile = os.path.join(out_dir, "profile")
    node = None
    with NetPair(ns, ports=()) as np:
        web, cli = np.server_group, np.client_group
        text = web_group(ns, "client", policymode="Protect", mode="Monitor", egress=[
            '{name: to-web, action: allow, ports: tcp/5000, selector: {name: %s}}' % web,
        ], process=PROCS)[1]
        text += web_group(ns, policymode="Monitor", mode="Monitor", ingress=[
            '{name: from-client, action: allow, ports: tcp/5000, selector: {name: %s}}' % cli,
        ], process=PROCS)[1]
        try:
            agg.start()
            args = ["--rules", rules_file(text), "--window", "1", "--flow-interval", "1",
                    "--aggregator", "127.0.0.1:%d" % port, "--tls-ca", pki["ca"],
                    "--tls-cert", pki["client_crt"], "--tls-key", pki["client_key"],
                    "--spool-dir", os.path.join(tmp, "spool")]
            with Sensor(args) as s:
                np.start()
                s.barrier(np.srv)
                s.barrier(np.cli)
                np.srv.exec_detached(["sh", "-c", "sleep 60 | nc -l -p 5000 > /tmp/got"])
                wait_listening(np.na, 5000)
                rc, _, err = np.cli.exec(["sh", "-c", "echo -n 12345 | nc %s 5001" % np.srv4],
                                         check=False)
                assert rc == 1 and "Operation not permitted" in err, (rc, err)
                np.cli.exec(["sh", "-c", "head -c 4000 /dev/zero | nc -w 5 %s 5000" % np.srv4],
                            check=False, timeout=30)
                tftp(np.srv, np.cli4, 6969)

                # the conversations the sensor reported (then shipped)
                tcp = {"proto": "tcp", "reporter": "client"}
                wait_sum(s, dict(tcp, server_port=5001), "sessions", 1, what="denied tcp/5001")
                wait_sum(s, dict(tcp, server_port=5000), "bytes_to_server", 4000,
                         what="allowed tcp/5000")
                wait_sum(s, {"proto": "udp", "server_port": 6969, "reporter": "client"},
                         "sessions", 1, what="udp/6969 violation")

                cli_v = "container:%s/%s/app" % (ns, CLIENT_POD)
                srv_v = "container:%s/%s/app" % (ns, POD)
                want_edges = [
                    {"from": cli_v, "to": srv_v, "policy": "deny", "port": "tcp/5001",
                     "entries": {"tcp/5000": "allow", "tcp/5001": "deny"}},
                    {"from": srv_v, "to": cli_v, "policy": "violate", "port": "udp/6969",
                     "entries": {"udp/6969": "violate"}},
                ]
                # stored and in the API's graph
                deadline = time.monotonic() + 20
                while True:
                    st, g = api_get(api_port, "/api/v1/graph?format=json&namespace=" + ns, sec)
                    assert st == 200, "GET /api/v1/graph: %s" % st
                    have = {(c["from"], c["to"]): c for c in g["conversations"]}
                    if all((e["from"], e["to"]) in have and
                           e["port"] in have[(e["from"], e["to"])]["ports"] and
                           have[(e["from"], e["to"])]["policy_action"] == e["policy"]
                           for e in want_edges):
                        break
                    assert time.monotonic() < deadline, "graph never had %r: %r" % (want_edges, g)
                    time.sleep(0.2)
                assert sorted(e["id"] for e in g["endpoints"]) == sorted([cli_v, srv_v]), g
                assert sorted(have) == sorted((e["from"], e["to"]) for e in want_edges), g

                # every finding of the namespace the sensor printed is stored
                deadline = time.monotonic() + 20
                while True:
                    want = {f["id"] for f in printed(s)
                            if (f.get("container") or {}).get("namespace") == ns}
                    missing = want - set(stored_ids(db, sensor_id_of(s)))
                    if want and not missing:
                        break
                    assert time.monotonic() < deadline, "not stored: %s" % sorted(missing)
                    time.sleep(0.1)

            # the page must show what the API says (the sensor has stopped:
            # nothing changes any more)
            all_f = findings(api_port, sec, "namespace=%s&limit=1000" % ns)
            names = {(f["name"], f["action"]) for f in all_f}
            assert names == {("Container.Suspicious.Process", "alert"),
                             ("Process.Profile.Violation", "alert"),
                             ("Network.Violation", "deny"),
                             ("Network.Violation", "alert")}, names
            levels = sorted({SEVERITIES.index(f["severity"]) for f in all_f})
            assert len(levels) >= 2, "one severity only: %r" % all_f
            severity = SEVERITIES[levels[-1]]
            sev_f = findings(api_port, sec, "namespace=%s&severity=%s" % (ns, severity))
            assert [f["id"] for f in sev_f] == [
                f["id"] for f in all_f if SEVERITIES.index(f["severity"]) >= levels[-1]]
            ack = next(f for f in all_f if f["action"] == "deny")

            # the page is public (no token), strict, and typed
            st, hdr, _ = raw_get(api_port, "/")
            assert (st, hdr.get("location")) == (302, "/ui/"), (st, hdr)
            for path, ctype in (("/ui/", "text/html; charset=utf-8"),
                                ("/ui/app.js", "text/javascript; charset=utf-8"),
                                ("/ui/graph.js", "text/javascript; charset=utf-8"),
                                ("/ui/style.css", "text/css; charset=utf-8")):
                st, hdr, body = raw_get(api_port, path)
                assert st == 200 and body, (path, st)
                assert hdr["content-type"] == ctype, (path, hdr)
                assert hdr["content-security-policy"] == CSP, (path, hdr)
                assert hdr["x-content-type-options"] == "nosniff", (path, hdr)
            with open(os.path.join(REPO, "ui", "app.js"), "rb") as f:
                assert raw_get(api_port, "/ui/app.js")[2] == f.read()
            assert raw_get(api_port, "/ui/nothing.js")[0] == 404
            assert api_get(api_port, "/api/v1/findings")[0] == 401

            cfg = {"base": "http://127.0.0.1:%d" % api_port, "token": sec,
                   "token_name": "security", "scoped_token": team, "namespace": ns,
                   "page_size": 2, "all_ids": [f["id"] for f in all_f],
                   "severity": severity, "severity_ids": [f["id"] for f in sev_f],
                   "ack_id": ack["id"], "vertices": [cli_v, srv_v], "edges": want_edges,
                   "out_dir": out_dir}
            cfg_path = os.path.join(tmp, "e2e.json")
            with open(cfg_path, "w") as f:
                json.dump(cfg, f)
            t0 = time.monotonic()
            node = subprocess.Popen(["node", os.path.join(UI_TESTS, "e2e.mjs"), cfg_path],
                                    cwd=UI_TESTS, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True)
            track_pid(node.pid, "node tests/ui/e2e.mjs")
            try:
                out, _ = node.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                out, _ = node.communicate()
                raise AssertionError("e2e.mjs did not finish within 90 s:\n" + out)
            print(out, end="")
            print("e2e.mjs (browser start to close): %.1f s" % (time.monotonic() - t0))
            assert node.returncode == 0, "e2e.mjs failed:\n" + out

            # what the browser did, seen from the API
            st, f = api_get(api_port, "/api/v1/findings/" + urllib.parse.quote(ack["id"]), sec)
            assert st == 200 and f["acknowledged"] is False, f
            for shot in ("alerts.png", "graph.png"):
                with open(os.path.join(out_dir, shot), "rb") as fh:
                    assert fh.read(8) == b"\x89PNG\r\n\x1a\n", shot
            agg.stop()
        finally:
            if node is not None and node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()
            left = browsers_of(profile)
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            agg.cleanup()
    assert not left, "browser processes left after the test: %s" % left
