# The rule engine against real containers: process, file and network rules
# in Discover, Monitor and Protect, how a container's groups combine,
# reloads (inotify, SIGHUP, a failed one), --check-rules, learned profiles
# that persist and export, and aggregation. Every test asserts the exact
# finding a user would read (name, action, mode, rule, container, process,
# file, network) and that what is allowed or learned stays silent.
#
# Each test puts its containers in a namespace of its own (wp-<hex>), so its
# groups (nv.web.wp-<hex>) never see containers of tests that run at the
# same time on this host.

import os
import random
import secrets
import signal
import time

from harness import (REG, Container, Netns, Sensor, matches, run,
                     require_sensor, veth_between, veth_to_host)

POD = "web-7d9f8c6b5-x2x7k"      # service "web"
CLIENT_POD = "client-6d5f8b7c9-k2m4p"  # service "client"


# ---------------------------------------------------------------------------
# Helpers: rule files, policy lines, findings.

def new_ns():
    return "wp-" + secrets.token_hex(3)


def doc(name, ns=None, criteria=(), policymode=None, mode=None, baseline=None,
        process=(), file=(), ingress=(), egress=(), cluster=False):
    """One NvSecurityRule (NvClusterSecurityRule with cluster) document as
    YAML text; rule entries are given as flow mappings, one a line."""
    lines = ["---", "apiVersion: neuvector.com/v1",
             "kind: %s" % ("NvClusterSecurityRule" if cluster else "NvSecurityRule"),
             "metadata:", "  name: %s" % name]
    if ns and not cluster:
        lines.append("  namespace: %s" % ns)
    lines += ["spec:", "  target:"]
    if policymode:
        lines.append("    policymode: %s" % policymode)
    lines += ["    selector:", "      name: %s" % name]
    if criteria:
        lines.append("      criteria:")
        for k, op, v in criteria:
            lines.append('      - {key: %s, op: "%s", value: "%s"}' % (k, op, v))
    if mode or baseline:
        lines.append("  process_profile:")
        lines.append("    baseline: %s" % (baseline or "basic"))
        if mode:
            lines.append("    mode: %s" % mode)
    for key, entries in (("ingress", ingress), ("egress", egress),
                         ("process", process), ("file", file)):
        if entries:
            lines.append("  %s:" % key)
            lines += ["  - %s" % e for e in entries]
    return "\n".join(lines) + "\n"


def web_group(ns, svc="web", **kw):
    """The learned group of pods <svc>-* in namespace ns."""
    name = "nv.%s.%s" % (svc, ns)
    return name, doc(name, ns=ns, criteria=[("service", "=", svc), ("namespace", "=", ns)],
                     **kw)


# The processes every test container runs besides what a test is about: its
# init (sleep) and the barrier's marker (echo).
BASE_ALLOW = ['{name: sleep, path: "*", action: allow}',
              '{name: echo, path: "*", action: allow}']


def rules_file(text, name="rules.yaml", dirname=None):
    d = dirname or os.path.join(REG.tmp(), "rules-" + secrets.token_hex(3))
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def rewrite(path, text):
    """Replace a rule file's content in place (one close-after-write: the
    sensor's inotify sees one change)."""
    with open(path, "w") as f:
        f.write(text)


def line_of(text, needle, nth=1):
    """1-based number of the line of text containing needle (nth time)."""
    seen = 0
    for i, l in enumerate(text.splitlines(), 1):
        if needle in l:
            seen += 1
            if seen == nth:
                return i
    raise AssertionError("%r not in the rules text" % needle)


def lines_of(s, kind, spec=None):
    s.read()
    return [l for l in s.lines if l.get("kind") == kind and (spec is None or matches(l, spec))]


def findings(s, spec=None):
    return lines_of(s, "finding", spec)


def wait_line(s, kind, spec, n=1, timeout=10, what=None, after=0):
    """Wait until n lines of kind matching spec appear (counting only lines
    after the first `after` lines of that kind); return them."""
    deadline = time.monotonic() + timeout
    while True:
        found = lines_of(s, kind, spec)[after:] if after else lines_of(s, kind, spec)
        if len(found) >= n:
            return found
        s._check_alive()
        if time.monotonic() > deadline:
            recent = [l for l in s.lines if l.get("kind") in ("finding", "policy")][-15:]
            raise AssertionError("%s: wanted %d %s line(s) matching %s within %ss, got %d; "
                                 "last findings/policy lines:\n%s\n%s"
                                 % (what or "missing", n, kind, spec, timeout, len(found),
                                    Sensor._fmt(recent), s.log_tail(10)))
        time.sleep(0.05)


def wait_finding(s, spec, timeout=10, what=None):
    return wait_line(s, "finding", spec, 1, timeout, what)[0]


def n_policy(s):
    return len(lines_of(s, "policy"))


def wait_policy(s, after, timeout=10, what="policy line"):
    """The first policy line printed after the first `after` ones."""
    return wait_line(s, "policy", None, after + 1, timeout, what)[after]


def fspec(c, name=None, **more):
    """Spec of the findings of container c (with a name, of that name)."""
    spec = {"kind": "finding", "container": {"id": c.id}}
    if name:
        spec["name"] = name
    for k, v in more.items():
        spec[k] = v
    return spec


def of_proc(c, pname, name=None):
    return fspec(c, name, process={"name": pname})


def assert_none(s, spec, what):
    found = findings(s, spec)
    if found:
        raise AssertionError("%s: unexpected findings:\n%s" % (what, Sensor._fmt(found[:5])))


def check(what, have, want):
    """have[k] == want[k] for every key of want (nested dicts compared by
    their own keys); raises with the seen JSON."""
    diff = []

    def walk(h, w, path):
        for k, v in w.items():
            hv = h.get(k, "<missing>") if isinstance(h, dict) else "<missing>"
            if isinstance(v, dict):
                walk(hv, v, path + k + ".")
            elif hv != v:
                diff.append("%s%s expected %r seen %r" % (path, k, v, hv))
    walk(have, want, "")
    if diff:
        raise AssertionError("%s: %s\n  seen: %s" % (what, "; ".join(diff), have))


def web_container(ns, pod=POD, **kw):
    return Container(pod=pod, namespace=ns, **kw)


def rootfs(c, *parts):
    return os.path.join(c.bundle, "rootfs", *parts)


def put(c, path, text="x\n"):
    """Create a file in the container's rootfs from the host (no event in
    the container)."""
    full = rootfs(c, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


def random_net():
    """Addresses for a veth pair nobody else on this host uses now: peers
    are resolved to containers by address, so a test sharing the harness
    default with a concurrent test could resolve to the other's container."""
    a, b = random.randint(16, 250), random.randint(1, 250)
    return ("10.%d.%d.1" % (a, b), "10.%d.%d.2" % (a, b),
            "fd%02x:%02x::1" % (a, b), "fd%02x:%02x::2" % (a, b))


def wait_listening(ns, port, proto="t", timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, out, _ = ns.exec(["ss", "-Hl%sn" % proto, "sport = :%d" % port], check=False)
        if out.strip():
            return
        time.sleep(0.05)
    raise AssertionError("nothing listening on %s port %d in %s" % (proto, port, ns.name))


# 1 -------------------------------------------------------------------------

def _process_case(s, c, mode, group, path, text, nth):
    """deny (cat) / allow (ls) / unmatched (uname, then again) in one
    container whose group's process mode is `mode` (its document is the
    nth in text)."""
    deny_line = line_of(text, "{name: cat,", nth)
    c.exec(["cat", "/etc/hostname"], check=False)
    c.exec(["ls", "/"], check=False)
    c.exec(["uname", "-n"], check=False)
    s.barrier(c)
    action = {"Discover": "alert", "Monitor": "alert", "Protect": "kill"}[mode]
    deny = wait_finding(s, of_proc(c, "cat", "Process.Profile.Violation"),
                        what="%s: denied cat" % mode)
    check("%s: cat (deny rule)" % mode, deny, {
        "action": action, "mode": mode, "severity": "high",
        "rule": {"id": "%s:%d" % (path, deny_line), "name": "cat", "group": group},
        "container": {"pod": POD, "namespace": c.namespace, "group": group},
        "process": {"name": "cat", "exe": "/bin/busybox", "args": ["cat", "/etc/hostname"]},
        "count": 1})
    if mode == "Discover":
        learned = wait_finding(s, of_proc(c, "uname", "Process.Profile.Learned"),
                               what="Discover: uname learned")
        check("Discover: uname learned", learned, {
            "action": "learn", "mode": "Discover", "severity": "info",
            "rule": {"id": "learned:" + group, "group": group},
            "container": {"pod": POD, "group": group},
            "process": {"name": "uname", "exe": "/bin/busybox"}})
        assert_none(s, of_proc(c, "uname", "Process.Profile.Violation"),
                    "Discover: unmatched uname is learned, not a violation")
    else:
        v = wait_finding(s, of_proc(c, "uname", "Process.Profile.Violation"),
                         what="%s: unmatched uname" % mode)
        check("%s: unmatched uname" % mode, v, {
            "action": action, "mode": mode, "severity": "high",
            "rule": {"id": "profile:" + group, "group": group},
            "container": {"pod": POD, "group": group},
            "process": {"name": "uname", "exe": "/bin/busybox", "args": ["uname", "-n"]}})
        assert_none(s, of_proc(c, "uname", "Process.Profile.Learned"),
                    "%s: nothing is learned" % mode)
    assert_none(s, of_proc(c, "ls"), "%s: allowed ls" % mode)
    assert_none(s, of_proc(c, "sleep"), "%s: allowed init (sleep)" % mode)
    # Once more: a learned uname is silent in Discover; the deny still fires.
    n_cat = len(findings(s, of_proc(c, "cat")))
    n_uname = len(findings(s, of_proc(c, "uname")))
    time.sleep(1.1)     # past the 1 s aggregation window of the first ones
    c.exec(["uname", "-n"], check=False)
    c.exec(["cat", "/etc/hostname"], check=False)
    s.barrier(c)
    wait_line(s, "finding", of_proc(c, "cat", "Process.Profile.Violation"), n_cat + 1,
              what="%s: second cat" % mode)
    if mode == "Discover":
        got = findings(s, of_proc(c, "uname"))
        assert len(got) == n_uname, "Discover: uname learned once, silent after: %s" % got
    else:
        wait_line(s, "finding", of_proc(c, "uname", "Process.Profile.Violation"),
                  n_uname + 1, what="%s: second uname" % mode)


def test_process_rules_in_each_mode():
    nss = {m: new_ns() for m in ("Discover", "Monitor", "Protect")}
    procs = ['{name: cat, path: "*", action: deny}',
             '{name: ls, path: /bin/busybox, action: allow}'] + BASE_ALLOW
    text = ""
    for m, ns in nss.items():
        text += web_group(ns, policymode=m, mode=m, process=procs)[1]
    path = rules_file(text)
    with Sensor(["--rules", path, "--window", "1"]) as s:
        pol = wait_line(s, "policy", {"status": "loaded"}, what="policy at start")[0]
        check("policy at start", pol, {"reason": "start", "diagnostics": []})
        for i, (m, ns) in enumerate(nss.items(), 1):
            with web_container(ns) as c:
                c.start()
                _process_case(s, c, m, "nv.web." + ns, path, text, i)


# 2 -------------------------------------------------------------------------

def _file_case(s, c, mode, group, path, text, nth):
    put(c, "/secret/key", "s3cr3t\n")
    os.makedirs(rootfs(c, "data", "sub"), exist_ok=True)
    mon_line = line_of(text, "{filter: /data/*", nth)
    blk_line = line_of(text, "{filter: /secret/*", nth)
    c.exec(["sh", "-c", "echo 1 > /data/sub/new"])
    c.exec(["rm", "/data/sub/new"])
    out = c.exec(["cat", "/secret/key"])[1]
    assert out == "s3cr3t\n", out
    c.exec(["head", "-n1", "/secret/key"])
    s.barrier(c)
    # monitor_change: in every mode, an alert
    mod = wait_finding(s, fspec(c, "Container.File.Modified", file={"path": "/data/sub/new",
                                                                 "op": "create"}),
                       what="%s: create under /data" % mode)
    check("%s: create under /data" % mode, mod, {
        "action": "alert", "mode": mode,
        "rule": {"id": "%s:%d" % (path, mon_line), "name": "/data/*", "group": group},
        "container": {"pod": POD, "group": group},
        "process": {"name": "sh", "exe": "/bin/busybox"}})
    rm = wait_finding(s, fspec(c, "Container.File.Modified", file={"path": "/data/sub/new",
                                                                "op": "delete"}),
                      what="%s: delete under /data" % mode)
    check("%s: delete under /data" % mode, rm, {
        "action": "alert", "rule": {"id": "%s:%d" % (path, mon_line)},
        "process": {"name": "rm", "exe": "/bin/busybox"}})
    # block_access: cat is listed, head is not
    assert_none(s, of_proc(c, "cat"), "%s: cat may read /secret/key" % mode)
    if mode == "Discover":
        lr = wait_finding(s, of_proc(c, "head", "Container.FileAccess.Learned"),
                          what="Discover: head learned as an app of /secret/*")
        check("Discover: head learned", lr, {
            "action": "learn", "mode": "Discover",
            "rule": {"id": "%s:%d" % (path, blk_line), "name": "/secret/*", "group": group},
            "file": {"path": "/secret/key", "op": "access"},
            "process": {"name": "head", "exe": "/bin/busybox"}})
        assert_none(s, of_proc(c, "head", "Container.FileAccess.Violation"),
                    "Discover: no violation")
        n = len(findings(s, of_proc(c, "head")))
        time.sleep(1.1)
        c.exec(["head", "-n1", "/secret/key"])
        s.barrier(c)
        got = findings(s, of_proc(c, "head"))
        assert len(got) == n, "Discover: head learned, then silent: %s" % got[n:]
    else:
        v = wait_finding(s, of_proc(c, "head", "Container.FileAccess.Violation"),
                         what="%s: head reads /secret/key" % mode)
        check("%s: head reads /secret/key" % mode, v, {
            "action": "alert" if mode == "Monitor" else "deny", "mode": mode,
            "rule": {"id": "%s:%d" % (path, blk_line), "name": "/secret/*", "group": group},
            "file": {"path": "/secret/key", "op": "access"},
            "container": {"pod": POD, "group": group},
            "process": {"name": "head", "exe": "/bin/busybox"}})
        assert_none(s, of_proc(c, "head", "Container.FileAccess.Learned"),
                    "%s: nothing learned" % mode)
        # not learned: a second read is a finding again
        time.sleep(1.1)
        c.exec(["head", "-n1", "/secret/key"], check=False)
        s.barrier(c)
        wait_line(s, "finding", of_proc(c, "head", "Container.FileAccess.Violation"), 2,
                  what="%s: second head read" % mode)
    # reading under /data is no change
    c.exec(["cat", "/data/sub"], check=False)
    s.barrier(c)
    assert len(findings(s, fspec(c, "Container.File.Modified"))) == 2, \
        findings(s, fspec(c, "Container.File.Modified"))


def test_file_rules_in_each_mode():
    nss = {m: new_ns() for m in ("Discover", "Monitor", "Protect")}
    files = ["{filter: /data/*, recursive: true, behavior: monitor_change}",
             "{filter: /secret/*, recursive: true, behavior: block_access, app: [cat]}"]
    procs = ['{name: "*", path: "*", action: allow}']
    text = ""
    for m, ns in nss.items():
        text += web_group(ns, policymode=m, mode=m, process=procs, file=files)[1]
    path = rules_file(text)
    with Sensor(["--rules", path, "--window", "1"]) as s:
        for i, (m, ns) in enumerate(nss.items(), 1):
            with web_container(ns) as c:
                c.start()
                _file_case(s, c, m, "nv.web." + ns, path, text, i)


# 3 -------------------------------------------------------------------------

class NetPair:
    """A server (pod web-*, group nv.web.NS) and a client (pod client-*,
    group nv.client.NS), each in its own netns, joined by a veth with v4 and
    v6 addresses; httpd listens on the server's ports (v4 and v6)."""

    def __init__(self, ns, ports=(8080,)):
        self.ns = ns
        self.srv4, self.cli4, self.srv6, self.cli6 = random_net()
        self.ports = ports
        self.server_group = "nv.web." + ns
        self.client_group = "nv.client." + ns

    def __enter__(self):
        self.na = Netns().create()
        self.nb = Netns().create()
        veth_between(self.na, self.nb, a_addrs=(self.srv4 + "/24", self.srv6 + "/64"),
                     b_addrs=(self.cli4 + "/24", self.cli6 + "/64"))
        self.srv = web_container(self.ns, netns=self.na)
        self.cli = web_container(self.ns, pod=CLIENT_POD, netns=self.nb)
        return self

    def start(self):
        self.srv.start()
        self.cli.start()
        # one listener per address family (a dual-stack socket sees v4
        # clients as ::ffff:a.b.c.d, which test_network_dual_stack covers)
        for p in self.ports:
            for ip in (self.srv4, "[%s]" % self.srv6):
                self.srv.exec_detached(["httpd", "-f", "-p", "%s:%d" % (ip, p), "-h", "/www"])
        for p in self.ports:
            wait_listening(self.na, p)

    def get(self, ip, port, check=True):
        # (busybox-static's wget crashes; nc is what test_capture uses)
        rc, out, err = self.cli.exec(
            ["sh", "-c", "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc %s %d"
             % (ip, port)], check=False)
        if check:
            assert out.endswith("wacht\n"), "nc %s:%d: rc %d %r %r" % (ip, port, rc, out, err)
        return rc

    def __exit__(self, *exc):
        for c in (getattr(self, "cli", None), getattr(self, "srv", None)):
            if c is not None:
                c.delete()
        self.nb.delete()
        self.na.delete()
        return False


def net_spec(c, name, **net):
    return fspec(c, name, network=net)


def test_network_rules_monitor_protect():
    """One rule list for both ends (NeuVector's model): a rule declared
    under the client's egress or the server's ingress is a client -> server
    rule, evaluated at the client's connect and at the server's accept.
    8080: allowed by both; 8081: denied by the client's egress rule (both
    ends report that rule); 8082: allowed only by the server's ingress rule
    (the client reports, the server is silent); 9090: no rule (both
    report)."""
    for mode in ("Monitor", "Protect"):
        ns = new_ns()
        with NetPair(ns, ports=(8080, 8081, 8082, 9090)) as np:
            hostnet = "10.%d.%d" % (random.randint(16, 250), random.randint(1, 250))
            h_in, h_nodes, c_host = hostnet + ".1", hostnet + ".3", hostnet + ".2"
            addr_group = "wp-hostaddr-" + ns[3:]
            web, cli = np.server_group, np.client_group
            text = web_group(ns, "client", policymode=mode, mode=mode, egress=[
                '{name: to-web, action: allow, ports: tcp/8080, selector: {name: %s}}' % web,
                '{name: no-web-8081, action: deny, ports: tcp/8081, selector: {name: %s}}' % web,
                '{name: tftp-web, action: allow, ports: udp/6969, selector: {name: %s}}' % web,
                '{name: to-host, action: allow, ports: tcp/7070, selector: {name: %s}}'
                % addr_group,
            ], process=['{name: "*", path: "*", action: allow}'])[1]
            text += web_group(ns, policymode=mode, mode=mode, ingress=[
                '{name: from-client, action: allow, ports: "tcp/8080,tcp/8082", '
                'selector: {name: %s}}' % cli,
            ], process=['{name: "*", path: "*", action: allow}'])[1]
            text += doc(addr_group, cluster=True, criteria=[("address", "=", h_in)])
            deny_line = line_of(text, "{name: no-web-8081")
            path = rules_file(text)
            veth_to_host(np.nb, host_addrs=(h_in + "/24", h_nodes + "/24"),
                         ns_addrs=(c_host + "/24",))
            deny = "alert" if mode == "Monitor" else "deny"
            with Sensor(["--rules", path, "--window", "1"]) as s:
                pol = wait_line(s, "policy", {"status": "loaded"}, what="policy")[0]
                check("policy", pol, {"reason": "start", "network_rules": 5})
                np.start()
                srv, cl = np.srv, np.cli
                # (no enforcement in the kernel yet: Protect's connections
                # still succeed; the finding carries the decision)
                for port in (8080, 8081, 8082, 9090):
                    np.get(np.srv4, port)
                    np.get(np.srv6, port)
                cl.exec(["timeout", "1", "tftp", "-g", "-r", "x", np.srv4, "6969"], check=False)
                cl.exec(["timeout", "1", "tftp", "-g", "-r", "x", np.srv4, "6970"], check=False)
                np.get(h_in, 7070, check=False)
                np.get(h_in, 7071, check=False)
                np.get(h_nodes, 7072, check=False)
                s.barrier(srv)
                s.barrier(cl)
                for srv_ip, cli_ip in ((np.srv4, np.cli4), (np.srv6, np.cli6)):
                    fam = "v6" if ":" in srv_ip else "v4"
                    # the client: 8082 and 9090 match no rule it is the client of
                    for port in (8082, 9090):
                        what = "%s: client to %s:%d" % (mode, srv_ip, port)
                        v = wait_finding(s, net_spec(cl, "Network.Violation", remote_port=port,
                                                     remote_ip=srv_ip), what=what)
                        check(what, v, {
                            "action": deny, "mode": mode, "severity": "medium",
                            "rule": {"id": "profile:" + cli, "group": cli},
                            "container": {"pod": CLIENT_POD, "group": cli},
                            "process": {"name": "nc", "exe": "/bin/busybox"},
                            "network": {"proto": "tcp", "direction": "outbound",
                                        "local_ip": cli_ip, "peer_group": web}})
                    # the explicit deny, at both ends
                    what = "%s: client to %s:8081 (deny rule)" % (mode, srv_ip)
                    v = wait_finding(s, net_spec(cl, "Network.Violation", remote_port=8081,
                                                 remote_ip=srv_ip), what=what)
                    check(what, v, {
                        "action": deny, "mode": mode, "severity": "high",
                        "rule": {"id": "%s:%d" % (path, deny_line), "name": "no-web-8081",
                                 "group": cli},
                        "network": {"proto": "tcp", "direction": "outbound",
                                    "local_ip": cli_ip, "peer_group": web}})
                    what = "%s: server accepts %s on 8081 (deny rule)" % (mode, cli_ip)
                    v = wait_finding(s, fspec(srv, "Network.Violation", network={
                        "local_port": 8081, "remote_ip": cli_ip}), what=what)
                    check(what, v, {
                        "action": deny, "mode": mode, "severity": "high",
                        "rule": {"id": "%s:%d" % (path, deny_line), "name": "no-web-8081"},
                        "container": {"pod": POD, "group": web},
                        "process": {"name": "httpd", "exe": "/bin/busybox"},
                        "network": {"proto": "tcp", "direction": "inbound",
                                    "local_ip": srv_ip, "peer_group": cli}})
                    # the server: 9090 matches no rule it is the server of
                    what = "%s: server accepts %s on 9090" % (mode, cli_ip)
                    v = wait_finding(s, fspec(srv, "Network.Violation", network={
                        "local_port": 9090, "remote_ip": cli_ip}), what=what)
                    check(what, v, {
                        "action": deny, "mode": mode, "severity": "medium",
                        "rule": {"id": "profile:" + web, "group": web},
                        "container": {"pod": POD, "group": web},
                        "process": {"name": "httpd", "exe": "/bin/busybox"},
                        "network": {"proto": "tcp", "direction": "inbound",
                                    "local_ip": srv_ip, "peer_group": cli}})
                    for port in (8080, 8082):
                        assert_none(s, fspec(srv, None, network={"local_port": port,
                                                                 "remote_ip": cli_ip}),
                                    "%s: server accepts %s on allowed port %d (%s)"
                                    % (mode, cli_ip, port, fam))
                assert_none(s, net_spec(cl, None, remote_port=8080),
                            "%s: client to allowed tcp/8080" % mode)
                # UDP: 6969 allowed, 6970 not
                v = wait_finding(s, net_spec(cl, "Network.Violation", remote_port=6970),
                                 what="%s: client to udp/6970" % mode)
                check("%s: udp/6970" % mode, v, {
                    "action": deny, "rule": {"id": "profile:" + cli},
                    "process": {"name": "tftp"},
                    "network": {"proto": "udp", "direction": "outbound",
                                "remote_ip": np.srv4, "peer_group": web}})
                assert_none(s, net_spec(cl, None, remote_port=6969),
                            "%s: client to allowed udp/6969" % mode)
                # the host: in an address group (7070 allowed, 7071 not), or
                # just a node
                v = wait_finding(s, net_spec(cl, "Network.Violation", remote_port=7071),
                                 what="%s: client to the host's %s:7071" % (mode, h_in))
                check("%s: host :7071" % mode, v, {
                    "action": deny, "rule": {"id": "profile:" + cli},
                    "network": {"proto": "tcp", "remote_ip": h_in,
                                "peer_group": addr_group}})
                v = wait_finding(s, net_spec(cl, "Network.Violation", remote_port=7072),
                                 what="%s: client to the host's %s:7072" % (mode, h_nodes))
                check("%s: host :7072" % mode, v, {
                    "action": deny, "rule": {"id": "profile:" + cli},
                    "network": {"proto": "tcp", "remote_ip": h_nodes, "peer_group": "nodes"}})
                assert_none(s, net_spec(cl, None, remote_port=7070),
                            "%s: client to the host's allowed tcp/7070" % mode)
                assert_none(s, fspec(srv, "Network.Violation", network={
                    "direction": "outbound"}), "%s: server connects nowhere" % mode)


def test_network_discover_learns_then_silent():
    ns = new_ns()
    with NetPair(ns, ports=(8080,)) as np:
        text = web_group(ns, "client", policymode="Discover", mode="Discover")[1]
        text += web_group(ns, policymode="Discover", mode="Discover")[1]
        path = rules_file(text)
        with Sensor(["--rules", path, "--window", "1"]) as s:
            np.start()
            np.get(np.srv4, 8080)
            np.cli.exec(["timeout", "1", "tftp", "-g", "-r", "x", np.srv4, "6969"], check=False)
            s.barrier(np.srv)
            s.barrier(np.cli)
            out = wait_finding(s, net_spec(np.cli, "Network.Profile.Learned", remote_port=8080),
                               what="client learns tcp/8080 to the server")
            check("client learns tcp/8080", out, {
                "action": "learn", "mode": "Discover", "severity": "info",
                "rule": {"group": np.client_group},
                "container": {"pod": CLIENT_POD},
                "network": {"proto": "tcp", "direction": "outbound", "remote_ip": np.srv4,
                            "peer_group": np.server_group}})
            udp = wait_finding(s, net_spec(np.cli, "Network.Profile.Learned", remote_port=6969),
                               what="client learns udp/6969 to the server")
            check("client learns udp/6969", udp, {
                "action": "learn", "network": {"proto": "udp", "peer_group": np.server_group}})
            inb = wait_finding(s, net_spec(np.srv, "Network.Profile.Learned", local_port=8080),
                               what="server learns tcp/8080 from the client")
            check("server learns tcp/8080", inb, {
                "action": "learn", "mode": "Discover",
                "rule": {"group": np.server_group},
                "container": {"pod": POD},
                "network": {"proto": "tcp", "direction": "inbound", "remote_ip": np.cli4,
                            "peer_group": np.client_group}})
            assert_none(s, fspec(np.cli, "Network.Violation"), "Discover: no violation")
            assert_none(s, fspec(np.srv, "Network.Violation"), "Discover: no violation")
            n_cli = len(findings(s, fspec(np.cli, network={})))
            n_srv = len(findings(s, fspec(np.srv, network={})))
            time.sleep(1.1)
            np.get(np.srv4, 8080)
            np.cli.exec(["timeout", "1", "tftp", "-g", "-r", "x", np.srv4, "6969"], check=False)
            s.barrier(np.srv)
            s.barrier(np.cli)
            again = findings(s, fspec(np.cli, network={}))[n_cli:] + \
                findings(s, fspec(np.srv, network={}))[n_srv:]
            assert not again, "the same conversations again are silent: %s" % again
