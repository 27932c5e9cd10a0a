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


class Sensor(Sensor):
    """The harness's Sensor, refusing to run without its syscall
    tracepoints (seen when another sensor on this host unmounted tracefs
    while this one started): every file and network test would then fail
    for a reason that is not theirs."""

    def start(self):
        super().start()
        log = self.log_tail(50)
        if "has no tracepoint for" in log:
            raise AssertionError("sensor started without syscall tracepoints:\n" + log)
        return self


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
            "fd%02x:%x::1" % (a, b), "fd%02x:%x::2" % (a, b))


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
    # the sensor has seen the container (in Protect: its root mount is
    # guarded) before anything runs in it
    s.barrier(c)
    os.makedirs(rootfs(c, "data", "sub"), exist_ok=True)
    mon_line = line_of(text, "{filter: /data/*", nth)
    blk_line = line_of(text, "{filter: /secret/*", nth)
    c.exec(["sh", "-c", "echo 1 > /data/sub/new"])
    c.exec(["rm", "/data/sub/new"])
    out = c.exec(["cat", "/secret/key"])[1]
    assert out == "s3cr3t\n", out
    got = c.exec(["head", "-n1", "/secret/key"], check=False)
    if mode == "Protect":   # the file guard stops it (test_enforce_file)
        assert got == (1, "", "head: /secret/key: Operation not permitted\n"), got
    else:
        assert got == (0, "s3cr3t\n", ""), got
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
        self.host_links = []
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

    def to_host(self, ns, host_addrs, ns_addrs):
        dh, _ = veth_to_host(ns, host_addrs=host_addrs, ns_addrs=ns_addrs)
        self.host_links.append(dh)

    def __exit__(self, *exc):
        for c in (getattr(self, "cli", None), getattr(self, "srv", None)):
            if c is not None:
                c.delete()
        # (a netns is destroyed asynchronously: its veths may outlive
        # `ip netns delete` for a moment)
        for d in self.host_links:
            run(["ip", "link", "del", d], check=False)
        self.nb.delete()
        self.na.delete()
        return False


def net_spec(c, name, **net):
    return fspec(c, name, network=net)


def test_network_rules_monitor_protect():
    """One rule list for both ends (NeuVector's model): a rule declared
    under the client's egress or the server's ingress is a client -> server
    rule, evaluated at the client's connect and at the server's accept.
    8080: allowed by the client's egress rule; 8081: denied by the client's
    egress rule (both ends report that rule); 8082: allowed by the server's
    ingress rule (both silent); 9090: no rule (both report). The host
    connecting to the server is seen only at the server's accept: 8083 is
    allowed by its ingress rule from `nodes`, 9090 is not."""
    for mode in ("Monitor", "Protect"):
        ns = new_ns()
        with NetPair(ns, ports=(8080, 8081, 8082, 9090)) as np:
            hostnet = random_net()[0].rsplit(".", 1)[0]
            h_in, h_nodes, c_host = hostnet + ".1", hostnet + ".3", hostnet + ".2"
            h_srv, srv_host = random_net()[:2]
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
                '{name: from-nodes, action: allow, ports: tcp/8083, selector: {name: nodes}}',
            ], process=['{name: "*", path: "*", action: allow}'])[1]
            text += doc(addr_group, cluster=True, criteria=[("address", "=", h_in)])
            deny_line = line_of(text, "{name: no-web-8081")
            path = rules_file(text)
            np.to_host(np.nb, host_addrs=(h_in + "/24", h_nodes + "/24"),
                       ns_addrs=(c_host + "/24",))
            np.to_host(np.na, host_addrs=(h_srv + "/24",), ns_addrs=(srv_host + "/24",))
            deny = "alert" if mode == "Monitor" else "deny"
            with Sensor(["--rules", path, "--window", "1"]) as s:
                pol = wait_line(s, "policy", {"status": "loaded"}, what="policy")[0]
                check("policy", pol, {"reason": "start", "network_rules": 6})
                np.start()
                for p in (8083, 9090):
                    np.srv.exec_detached(["httpd", "-f", "-p", "%s:%d" % (srv_host, p),
                                          "-h", "/www"])
                srv, cl = np.srv, np.cli
                # Monitor: every connection succeeds, the finding alerts.
                # Protect: the kernel refuses what the client's rules forbid
                # (EPERM, test_enforce_net.py has the details) and drops the
                # SYN of what the server's forbid: the finding says deny.
                protect = mode == "Protect"
                for port in (8080, 8081, 8082, 9090):
                    refused = protect and port in (8081, 9090)
                    np.get(np.srv4, port, check=not refused)
                    np.get(np.srv6, port, check=not refused)
                cl.exec(["timeout", "1", "tftp", "-g", "-r", "x", np.srv4, "6969"], check=False)
                cl.exec(["timeout", "1", "tftp", "-g", "-r", "x", np.srv4, "6970"], check=False)
                np.get(h_in, 7070, check=False)
                np.get(h_in, 7071, check=False)
                np.get(h_nodes, 7072, check=False)
                wait_listening(np.na, 8083)
                for p in (8083, 9090):      # from the host (not in a container)
                    _, out, err = run(["busybox", "sh", "-c",
                                       "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | "
                                       "busybox nc -w 2 %s %d" % (srv_host, p)], check=False)
                    if protect and p == 9090:   # the server's SYN drop
                        assert (out, err) == ("", "nc: timed out\n"), \
                            "host to %s:%d: %r %r" % (srv_host, p, out, err)
                    else:
                        assert out.endswith("wacht\n"), "host to %s:%d: %r" % (srv_host, p, out)
                s.barrier(srv)
                s.barrier(cl)
                for srv_ip, cli_ip in ((np.srv4, np.cli4), (np.srv6, np.cli6)):
                    fam = "v6" if ":" in srv_ip else "v4"
                    # a refused connect never got a local address
                    local = ("::" if fam == "v6" else "0.0.0.0") if protect else cli_ip
                    # the client: 9090 matches no rule
                    for port in (9090,):
                        what = "%s: client to %s:%d" % (mode, srv_ip, port)
                        v = wait_finding(s, net_spec(cl, "Network.Violation", remote_port=port,
                                                     remote_ip=srv_ip), what=what)
                        check(what, v, {
                            "action": deny, "mode": mode, "severity": "medium",
                            "rule": {"id": "profile:" + cli, "group": cli},
                            "container": {"pod": CLIENT_POD, "group": cli},
                            "process": {"name": "nc", "exe": "/bin/busybox"},
                            "network": {"proto": "tcp", "direction": "outbound",
                                        "local_ip": local, "peer_group": web}})
                    # the explicit deny, at both ends (in Protect the
                    # client's kernel refused it: the server never sees it)
                    what = "%s: client to %s:8081 (deny rule)" % (mode, srv_ip)
                    v = wait_finding(s, net_spec(cl, "Network.Violation", remote_port=8081,
                                                 remote_ip=srv_ip), what=what)
                    check(what, v, {
                        "action": deny, "mode": mode, "severity": "high",
                        "rule": {"id": "%s:%d" % (path, deny_line), "name": "no-web-8081",
                                 "group": cli},
                        "network": {"proto": "tcp", "direction": "outbound",
                                    "local_ip": local, "peer_group": web}})
                    s.barrier(srv)
                    for port in (8080, 8082):
                        assert_none(s, fspec(srv, None, network={"local_port": port,
                                                                 "remote_ip": cli_ip}),
                                    "%s: server accepts %s on allowed port %d (%s)"
                                    % (mode, cli_ip, port, fam))
                    if protect:
                        for port in (8081, 9090):
                            assert_none(s, fspec(srv, None, network={"local_port": port,
                                                                     "remote_ip": cli_ip}),
                                        "Protect: the client's refused tcp/%d (%s)" % (port, fam))
                        continue
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
                    assert_none(s, net_spec(cl, None, remote_port=port),
                                "%s: client to allowed tcp/%d" % (mode, port))
                # the host as a client: only the server sees it (in
                # Protect, its SYN dropped: no process accepted anything)
                v = wait_finding(s, fspec(srv, "Network.Violation", network={
                    "local_port": 9090, "remote_ip": h_srv}),
                    what="%s: server accepts the host on 9090" % mode)
                check("%s: server accepts the host on 9090" % mode, v, {
                    "action": deny, "mode": mode, "severity": "medium",
                    "rule": {"id": "profile:" + web, "group": web},
                    "process": {"name": "", "exe": "", "pid": 0} if protect else
                               {"name": "httpd", "exe": "/bin/busybox"},
                    "network": {"proto": "tcp", "direction": "inbound", "local_ip": srv_host,
                                "peer_group": "nodes"}})
                assert_none(s, fspec(srv, None, network={"local_port": 8083}),
                            "%s: server accepts the host on allowed tcp/8083" % mode)
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
            # One rule covers both ends of a conversation: whichever end is
            # seen first learns "client -> server tcp/8080"; the other end
            # is then allowed by it.
            conv = "learned %s -> %s tcp/8080" % (np.client_group, np.server_group)
            tcp = wait_line(s, "finding", {"name": "Network.Profile.Learned", "message": conv},
                            what="tcp/8080 learned")
            time.sleep(0.2)
            tcp = lines_of(s, "finding", {"name": "Network.Profile.Learned", "message": conv})
            assert len(tcp) == 1, "one learned rule for the conversation: %s" % tcp
            if tcp[0]["container"]["id"] == np.cli.id:
                check("client learns tcp/8080", tcp[0], {
                    "action": "learn", "mode": "Discover", "severity": "info",
                    "rule": {"id": "learned:" + np.client_group, "group": np.client_group},
                    "container": {"pod": CLIENT_POD},
                    "process": {"name": "nc"},
                    "network": {"proto": "tcp", "direction": "outbound", "remote_ip": np.srv4,
                                "remote_port": 8080, "peer_group": np.server_group}})
            else:
                check("server learns tcp/8080", tcp[0], {
                    "action": "learn", "mode": "Discover", "severity": "info",
                    "rule": {"id": "learned:" + np.server_group, "group": np.server_group},
                    "container": {"id": np.srv.id, "pod": POD},
                    "process": {"name": "httpd"},
                    "network": {"proto": "tcp", "direction": "inbound", "remote_ip": np.cli4,
                                "local_port": 8080, "peer_group": np.client_group}})
            udp = wait_finding(s, net_spec(np.cli, "Network.Profile.Learned", remote_port=6969),
                               what="client learns udp/6969 to the server")
            check("client learns udp/6969", udp, {
                "action": "learn", "mode": "Discover",
                "rule": {"id": "learned:" + np.client_group, "group": np.client_group},
                "message": "learned %s -> %s udp/6969" % (np.client_group, np.server_group),
                "process": {"name": "tftp"},
                "network": {"proto": "udp", "direction": "outbound",
                            "peer_group": np.server_group}})
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


def test_network_dual_stack_server_sees_v4_client():
    """A server on a dual-stack socket (httpd -p PORT, like most servers)
    accepts a v4 client as ::ffff:a.b.c.d: the peer is still the client
    container (its group, not `external`), and the addresses are the v4
    ones."""
    ns = new_ns()
    with NetPair(ns, ports=()) as np:
        text = web_group(ns, "client", policymode="Monitor", mode="Monitor",
                         process=['{name: "*", path: "*", action: allow}'])[1]
        text += web_group(ns, policymode="Monitor", mode="Monitor",
                          process=['{name: "*", path: "*", action: allow}'])[1]
        path = rules_file(text)
        with Sensor(["--rules", path, "--window", "1"]) as s:
            np.start()
            np.srv.exec_detached(["httpd", "-f", "-p", "9090", "-h", "/www"])
            wait_listening(np.na, 9090)
            np.get(np.srv4, 9090)
            s.barrier(np.srv)
            v = wait_finding(s, fspec(np.srv, "Network.Violation", network={"local_port": 9090}),
                             what="server accepts the v4 client on a dual-stack socket")
            check("server accepts the v4 client on a dual-stack socket", v, {
                "action": "alert", "mode": "Monitor",
                "rule": {"id": "profile:" + np.server_group},
                "network": {"proto": "tcp", "direction": "inbound", "local_ip": np.srv4,
                            "remote_ip": np.cli4, "peer_group": np.client_group}})


# 4 -------------------------------------------------------------------------

def test_custom_group_rules_before_learned_group():
    """A custom group (by label and namespace) is tried before the learned
    group nv.web.NS: its deny of cat beats the learned group's allow, its
    allow of uname beats the learned group's deny. A container of the same
    service without the label gets the learned group's rules."""
    ns = new_ns()
    custom = "wp-web-label-" + ns[3:]
    labels = {"io.kubernetes.cri-o.Labels": '{"app":"web","tier":"front"}'}
    text = doc(custom, cluster=True, criteria=[("label", "=", "app=web"), ("namespace", "=", ns)],
               process=['{name: cat, path: "*", action: deny}',
                        '{name: uname, path: "*", action: allow}'])
    learned = "nv.web." + ns
    text += web_group(ns, policymode="Monitor", mode="Monitor", process=[
        '{name: cat, path: "*", action: allow}',
        '{name: uname, path: /bin/busybox, action: deny}'] + BASE_ALLOW)[1]
    path = rules_file(text)
    cat_custom = line_of(text, "{name: cat, path: \"*\", action: deny}")
    uname_learned = line_of(text, "{name: uname, path: /bin/busybox, action: deny}")
    with Sensor(["--rules", path, "--window", "1"]) as s, \
            web_container(ns, annotations=labels) as c, \
            web_container(ns, pod="web-7d9f8c6b5-p5q6r") as plain:
        c.start()
        plain.start()
        for x in (c, plain):
            x.exec(["cat", "/etc/hostname"])
            x.exec(["uname", "-s"])
        s.barrier(c)
        s.barrier(plain)
        v = wait_finding(s, of_proc(c, "cat", "Process.Profile.Violation"),
                         what="labelled: cat denied by the custom group")
        check("labelled: cat", v, {
            "action": "alert", "mode": "Monitor",
            "rule": {"id": "%s:%d" % (path, cat_custom), "name": "cat", "group": custom},
            "container": {"pod": POD, "group": learned},
            "process": {"name": "cat", "exe": "/bin/busybox"}})
        assert_none(s, of_proc(c, "uname"), "labelled: uname allowed by the custom group")
        v = wait_finding(s, of_proc(plain, "uname", "Process.Profile.Violation"),
                         what="unlabelled: uname denied by the learned group")
        check("unlabelled: uname", v, {
            "action": "alert", "mode": "Monitor",
            "rule": {"id": "%s:%d" % (path, uname_learned), "name": "uname", "group": learned},
            "container": {"pod": "web-7d9f8c6b5-p5q6r", "group": learned},
            "process": {"name": "uname", "exe": "/bin/busybox"}})
        assert_none(s, of_proc(plain, "cat"), "unlabelled: cat allowed by the learned group")


# 5 -------------------------------------------------------------------------

def _normal(np):
    """What the web container normally does: two commands, a read of its
    secret by an app learned for it, a connection to the server."""
    np.cli.exec(["ls", "/"])
    np.cli.exec(["uname", "-s"])
    np.cli.exec(["head", "-n1", "/secret/key"])
    np.get(np.srv4, 8080)


def _learned_then_monitor_docs(np, mode):
    procs_srv = ['{name: "*", path: "*", action: allow}']
    blk = ["{filter: /secret/*, recursive: true, behavior: block_access, app: [cat]}"]
    text = web_group(np.ns, "client", policymode=mode, mode=mode, file=blk)[1]
    text += web_group(np.ns, policymode=mode, mode=mode, process=procs_srv)[1]
    return text


def _something_new(s, np, mode, what):
    """Things never done in Discover are findings in mode."""
    action = {"Monitor": "alert", "Protect": "kill"}[mode]
    n = {k: len(findings(s, of_proc(np.cli, p, k))) for k, p in (
        ("Process.Profile.Violation", "date"),
        ("Container.FileAccess.Violation", "tail"),
        ("Network.Violation", "nc"))}
    np.cli.exec(["date"], check=False)
    np.cli.exec(["tail", "-n1", "/secret/key"], check=False)
    np.get(np.srv4, 9090)
    s.barrier(np.cli)
    v = wait_line(s, "finding", of_proc(np.cli, "date", "Process.Profile.Violation"),
                  n["Process.Profile.Violation"] + 1, what="%s: new process date" % what)[-1]
    check("%s: date" % what, v, {"action": action, "mode": mode,
                                 "rule": {"id": "profile:" + np.client_group}})
    v = wait_line(s, "finding", of_proc(np.cli, "tail", "Container.FileAccess.Violation"),
                  n["Container.FileAccess.Violation"] + 1,
                  what="%s: new app tail reads /secret/key" % what)[-1]
    check("%s: tail" % what, v, {"action": "alert" if mode == "Monitor" else "deny",
                                 "mode": mode, "file": {"path": "/secret/key"}})
    v = wait_line(s, "finding", of_proc(np.cli, "nc", "Network.Violation"),
                  n["Network.Violation"] + 1, what="%s: new connection to 9090" % what)[-1]
    check("%s: 9090" % what, v, {"action": "alert" if mode == "Monitor" else "deny",
                                 "mode": mode,
                                 "network": {"remote_port": 9090,
                                             "peer_group": np.server_group}})


def _assert_silent_since(s, np, mark, what):
    """No finding about the client's normal behaviour after line mark (the
    builtin suspicious-process alert for nc is expected in every mode)."""
    s.read()
    bad = [l for l in s.lines[mark:] if l.get("kind") == "finding"
           and l.get("container", {}).get("id") in (np.cli.id, np.srv.id)
           and l.get("rule", {}).get("id") != "builtin:suspicious-process"]
    if bad:
        raise AssertionError("%s: unexpected findings:\n%s" % (what, Sensor._fmt(bad[:6])))


def test_discover_then_monitor_by_reload():
    ns = new_ns()
    with NetPair(ns, ports=(8080, 9090)) as np:
        path = rules_file(_learned_then_monitor_docs(np, "Discover"))
        with Sensor(["--rules", path, "--window", "1"]) as s:
            np.start()
            put(np.cli, "/secret/key", "k\n")
            _normal(np)
            s.barrier(np.cli)
            s.barrier(np.srv)
            for p in ("ls", "uname", "head"):
                wait_finding(s, of_proc(np.cli, p, "Process.Profile.Learned"),
                             what="Discover: %s learned" % p)
            wait_finding(s, of_proc(np.cli, "head", "Container.FileAccess.Learned"),
                         what="Discover: head learned as an app of /secret/*")
            wait_line(s, "finding", {"name": "Network.Profile.Learned", "message":
                                     "learned %s -> %s tcp/8080" % (np.client_group,
                                                                  np.server_group)},
                      what="Discover: tcp/8080 learned")
            # to Monitor by editing the file
            k = n_policy(s)
            rewrite(path, _learned_then_monitor_docs(np, "Monitor"))
            pol = wait_policy(s, k, what="reload after the rule file changed")
            check("reload (inotify)", pol, {"status": "loaded", "reason": "rule files changed",
                                            "diagnostics": []})
            time.sleep(1.1)     # past the aggregation window of the learning
            mark = len(s.read())
            _normal(np)
            s.barrier(np.cli)
            s.barrier(np.srv)
            _assert_silent_since(s, np, mark, "Monitor: normal behaviour learned in Discover")
            _something_new(s, np, "Monitor", "Monitor after inotify reload")
            # SIGHUP: the same policy again, learned rules still learned
            k = n_policy(s)
            s.proc.send_signal(signal.SIGHUP)
            pol = wait_policy(s, k, what="reload after SIGHUP")
            check("reload (SIGHUP)", pol, {"status": "loaded", "reason": "SIGHUP",
                                           "diagnostics": []})
            time.sleep(1.1)
            mark = len(s.read())
            _normal(np)
            s.barrier(np.cli)
            s.barrier(np.srv)
            _assert_silent_since(s, np, mark, "Monitor after SIGHUP: normal behaviour")
            _something_new(s, np, "Monitor", "Monitor after SIGHUP")


# 6 -------------------------------------------------------------------------

def test_failed_reload_keeps_previous_policy():
    ns = new_ns()
    group, good = web_group(ns, policymode="Monitor", mode="Monitor",
                            process=['{name: cat, path: "*", action: deny}'] + BASE_ALLOW)
    path = rules_file(good)
    bad_port = good + ("  egress:\n"
                       "  - {name: out, action: allow, ports: tcp/70000, selector: {name: nodes}}\n")
    port_line = len(good.splitlines()) + 2
    port_col = len("  - {name: out, action: allow, ports: ") + 1
    bad_yaml = good.replace("  process:\n", "  process:\n\t- {name: ls}\n")
    tab_line = line_of(bad_yaml, "\t- {name: ls}")
    with Sensor(["--rules", path, "--window", "1"]) as s, web_container(ns) as c:
        c.start()
        c.exec(["cat", "/etc/hostname"])
        s.barrier(c)
        wait_finding(s, of_proc(c, "cat", "Process.Profile.Violation"), what="cat denied")
        for text, diag in (
                (bad_port, "%s:%d:%d: error: bad ports \"tcp/70000\": port above 65535"
                 % (path, port_line, port_col)),
                (bad_yaml, "%s:%d:1: error: YAML: " % (path, tab_line))):
            k = n_policy(s)
            rewrite(path, text)
            pol = wait_policy(s, k, what="rejected reload")
            check("rejected reload", pol, {"status": "rejected", "reason": "rule files changed"})
            ds = pol.get("diagnostics") or []
            assert len(ds) == 1 and ds[0].startswith(diag), \
                "diagnostics: expected one starting %r, seen %r" % (diag, ds)
            # the previous policy still acts
            n = len(findings(s, of_proc(c, "cat", "Process.Profile.Violation")))
            time.sleep(1.1)
            c.exec(["cat", "/etc/hostname"], check=False)
            s.barrier(c)
            v = wait_line(s, "finding", of_proc(c, "cat", "Process.Profile.Violation"), n + 1,
                          what="cat still denied after a rejected reload")[-1]
            check("cat after a rejected reload", v, {
                "action": "alert", "mode": "Monitor",
                "rule": {"id": "%s:%d" % (path, line_of(good, "{name: cat,")), "group": group}})
        # fixed: cat allowed now
        k = n_policy(s)
        rewrite(path, good.replace("action: deny", "action: allow"))
        pol = wait_policy(s, k, what="good reload")
        check("good reload", pol, {"status": "loaded", "reason": "rule files changed",
                                   "diagnostics": []})
        mark = len(findings(s, of_proc(c, "cat")))
        c.exec(["cat", "/etc/hostname"])
        s.barrier(c)
        got = findings(s, of_proc(c, "cat"))[mark:]
        assert not got, "cat allowed after the fixed reload: %s" % got


# 7 -------------------------------------------------------------------------

def check_rules(*paths):
    return run([require_sensor()] + [a for p in paths for a in ("--check-rules", p)],
               check=False)


GOOD = """apiVersion: neuvector.com/v1
kind: NvSecurityRule
metadata:
  name: nv.web.shop
  namespace: shop
spec:
  target:
    policymode: Monitor
    selector:
      name: nv.web.shop
      criteria: [{key: service, op: "=", value: web}, {key: namespace, op: "=", value: shop}]
  egress:
  - {name: to-db, action: allow, ports: tcp/5432, selector: {name: nv.db.shop}}
  process_profile: {baseline: basic, mode: Protect}
  process:
  - {name: nginx, path: /usr/sbin/nginx, action: allow}
  file:
  - {filter: /etc/secret/*, recursive: true, behavior: block_access, app: [nginx]}
---
apiVersion: neuvector.com/v1
kind: NvSecurityRule
metadata:
  name: nv.db.shop
  namespace: shop
spec:
  target:
    selector:
      name: nv.db.shop
      criteria: [{key: service, op: "=", value: db}, {key: namespace, op: "=", value: shop}]
"""


def test_check_rules_diagnostics():
    d = os.path.join(REG.tmp(), "check-" + secrets.token_hex(3))
    os.makedirs(d)
    good = os.path.join(d, "good.yaml")
    with open(good, "w") as f:
        f.write(GOOD)
    rc, out, err = check_rules(good)
    assert (rc, out.strip(), err) == (0, "rules OK: 5 groups, 1 network rules, 0 warnings", ""), \
        (rc, out, err)

    # (what, replace this, with this, where the error points (the first
    # occurrence of this after `skip` characters of the edited text),
    # message fragment)
    cases = [
        ("bad port", "ports: tcp/5432", "ports: tcp/5432-80", "tcp/5432-80", 0,
         'bad ports "tcp/5432-80": port range has its low end above its high end'),
        ("port above 65535", "ports: tcp/5432", "ports: udp/65536", "udp/65536", 0,
         'bad ports "udp/65536": port above 65535'),
        ("unknown action", "action: allow, ports", "action: accept, ports", "accept", 0,
         'unknown action "accept" (expected allow or deny)'),
        ("unknown mode", "mode: Protect}", "mode: Protected}", "Protected", 0,
         'unknown mode "Protected" (expected Discover, Monitor or Protect)'),
        ("unknown behavior", "behavior: block_access", "behavior: block", "block,", 0,
         'unknown behavior "block" (expected monitor_change or block_access)'),
        ("bad regex", '{key: service, op: "=", value: web}',
         '{key: service, op: regex, value: "w(["}', '"w(["', 0, 'bad regex "w(["'),
        ("bad CIDR", 'value: db}, {key: namespace, op: "=", value: shop}]\n',
         'value: db}, {key: namespace, op: "=", value: shop}]\n'
         "---\napiVersion: neuvector.com/v1\nkind: NvClusterSecurityRule\n"
         "metadata: {name: partners}\nspec:\n  target:\n    selector:\n"
         "      name: partners\n      criteria:\n"
         '      - {key: address, op: "=", value: 10.1.0.0/40}\n', "10.1.0.0/40", 0,
         'bad address "10.1.0.0/40": prefix length beyond the address family'),
        ("duplicate rule name", "  process_profile:",
         "  - {name: to-db, action: deny, ports: tcp/5433, selector: {name: nv.db.shop}}\n"
         "  process_profile:", "to-db", GOOD.index("to-db") + 1,
         'duplicate network rule "to-db" in group "nv.web.shop" (first at %s:13:'),
        ("YAML: tab", "  process:\n", "  process:\n\t- {name: sh}\n", "\t", 0, "YAML: "),
        # (found where the next document starts; the message says where
        # the mapping began)
        ("YAML: unclosed flow mapping", "app: [nginx]}", "app: [nginx]", "---", 0,
         "YAML: did not find expected ',' or '}' (while parsing a flow mapping at line 18 "
         "column 5)"),
    ]
    bad_files = []
    for what, old, new, needle, skip, msg in cases:
        assert GOOD.count(old) == 1, old
        text = GOOD.replace(old, new)
        p = os.path.join(d, "bad-%d.yaml" % len(bad_files))
        with open(p, "w") as f:
            f.write(text)
        bad_files.append(p)
        off = text.index(needle, skip)
        line = text.count("\n", 0, off) + 1
        col = off - (text.rfind("\n", 0, off) + 1) + 1
        rc, out, err = check_rules(p)
        want = "%s:%d:%d: error: %s" % (p, line, col, msg.replace("%s", p))
        errs = [l for l in err.splitlines() if ": error: " in l]
        assert rc == 1 and out.startswith("rules INVALID: 1 errors") and len(errs) == 1 \
            and errs[0].startswith(want), \
            "%s: expected exit 1 and %r, seen exit %d, stdout %r, stderr %r" % (
                what, want, rc, out, err)
    # a directory: every *.yaml in it, the bad ones reported by their names
    dgood = os.path.join(d, "only-good")
    os.makedirs(dgood)
    with open(os.path.join(dgood, "a.yaml"), "w") as f:
        f.write(GOOD)
    with open(os.path.join(dgood, "ignored.txt"), "w") as f:
        f.write("not: [yaml")
    rc, out, err = check_rules(dgood)
    assert (rc, out.strip()) == (0, "rules OK: 5 groups, 1 network rules, 0 warnings"), \
        (rc, out, err)
    rc, out, err = check_rules(dgood, bad_files[0])
    assert rc == 1 and err.startswith("%s:13:41: error: bad ports" % bad_files[0]), (rc, out, err)
    dbad = os.path.join(d, "with-bad")
    os.makedirs(dbad)
    with open(os.path.join(dbad, "z.yml"), "w") as f:
        f.write(GOOD.replace("mode: Protect}", "mode: Protected}"))
    rc, out, err = check_rules(dbad)
    assert rc == 1 and err.startswith(
        "%s:14:44: error: unknown mode \"Protected\"" % os.path.join(dbad, "z.yml")), \
        (rc, out, err)


# 8 -------------------------------------------------------------------------

def test_learned_profile_persists_and_exports():
    ns = new_ns()
    state = os.path.join(REG.tmp(), "state-" + ns)
    with NetPair(ns, ports=(8080, 9090)) as np:
        path = rules_file(_learned_then_monitor_docs(np, "Discover"))
        with Sensor(["--rules", path, "--window", "1", "--state-dir", state]) as s:
            np.start()
            put(np.cli, "/secret/key", "k\n")
            _normal(np)
            s.barrier(np.cli)
            s.barrier(np.srv)
            wait_finding(s, of_proc(np.cli, "head", "Container.FileAccess.Learned"),
                         what="Discover: head learned")
            wait_line(s, "finding", {"name": "Network.Profile.Learned", "message":
                                     "learned %s -> %s tcp/8080" % (np.client_group,
                                                                  np.server_group)},
                      what="Discover: tcp/8080 learned")
        # (the sensor sees every container on this host: other tests'
        # groups may be learned here too; only ours matter)
        saved = sorted(f for f in os.listdir(os.path.join(state, "learned")) if ns in f)
        assert np.client_group + ".yaml" in saved, saved

        # restart with the same state dir, in Monitor
        mpath = rules_file(_learned_then_monitor_docs(np, "Monitor"))
        with Sensor(["--rules", mpath, "--window", "1", "--state-dir", state]) as s:
            mark = len(s.read())
            _normal(np)
            s.barrier(np.cli)
            s.barrier(np.srv)
            _assert_silent_since(s, np, mark, "restarted in Monitor: learned behaviour")
            _something_new(s, np, "Monitor", "restarted in Monitor")

        # export, validate, and use as rules with no state
        out = os.path.join(REG.tmp(), "export-" + ns)
        rc, o, e = run([require_sensor(), "--rules", mpath, "--state-dir", state,
                        "--export-learned", out], check=False)
        assert rc == 0, (rc, o, e)
        exported = sorted(f for f in os.listdir(out) if ns in f)
        assert exported == saved, (exported, saved)
        rc, o, e = check_rules(out)
        assert rc == 0 and o.startswith("rules OK:"), (rc, o, e)
        with open(os.path.join(out, np.client_group + ".yaml")) as f:
            y = f.read()
        for want in ("kind: NvSecurityRule\nmetadata:\n  name: %s\n  namespace: %s\n"
                     % (np.client_group, ns),
                     "  - name: uname\n    path: /bin/busybox\n    action: allow\n",
                     "    action: allow\n    ports: tcp/8080\n",
                     "      name: %s\n" % np.server_group,
                     '  - filter: "/secret/*"\n    recursive: true\n    behavior: block_access\n'
                     "    app:\n    - cat\n    - head\n"):
            assert want in y, "export of %s lacks %r:\n%s" % (np.client_group, want, y)
        for no in ("policymode", "process_profile"):
            assert no not in y, "the export carries rules, not modes: %r in\n%s" % (no, y)
        # The export carries rules, not modes: Monitor comes from documents
        # of our own (other names) that target the exported groups.
        # (our Monitor documents again, under names of their own)
        modes = _learned_then_monitor_docs(np, "Monitor").replace(
            "metadata:\n  name: nv.", "metadata:\n  name: mode-nv.")
        assert modes.count("name: mode-nv.") == 2, modes
        mode_path = rules_file(modes, name="modes.yaml")
        # only our groups' files (other tests' groups may have been learned
        # into this state dir too)
        for f in os.listdir(out):
            if ns not in f:
                os.unlink(os.path.join(out, f))
        empty = os.path.join(REG.tmp(), "empty-" + ns)
        with Sensor(["--rules", mode_path, "--rules", out, "--window", "1",
                     "--state-dir", empty]) as s:
            pol = wait_line(s, "policy", {"status": "loaded"}, what="policy with the export")[0]
            check("policy with the export", pol, {"reason": "start", "diagnostics": []})
            mark = len(s.read())
            _normal(np)
            s.barrier(np.cli)
            s.barrier(np.srv)
            _assert_silent_since(s, np, mark, "exported rules, empty state: learned behaviour")
            _something_new(s, np, "Monitor", "exported rules, empty state")
        assert not os.path.exists(os.path.join(empty, "learned")) or \
            not [f for f in os.listdir(os.path.join(empty, "learned"))
                 if f.startswith(np.client_group)], "nothing learned in Monitor"


# 9 -------------------------------------------------------------------------

def test_aggregation_counts_a_loop_of_violations():
    ns = new_ns()
    group, text = web_group(ns, policymode="Monitor", mode="Monitor",
                            process=['{name: sh, path: "*", action: allow}'] + BASE_ALLOW)
    path = rules_file(text)
    with Sensor(["--rules", path, "--window", "2"]) as s, web_container(ns) as c:
        c.start()
        c.exec(["sh", "-c", "i=0; while [ $i -lt 50 ]; do /bin/uname >/dev/null; i=$((i+1)); done"])
        s.barrier(c)
        spec = of_proc(c, "uname", "Process.Profile.Violation")
        first = wait_finding(s, spec, what="first uname violation")
        check("first uname violation", first, {
            "action": "alert", "mode": "Monitor", "count": 1,
            "rule": {"id": "profile:" + group, "group": group},
            "process": {"name": "uname", "exe": "/bin/busybox"}})
        deadline = time.monotonic() + 6
        while sum(f["count"] for f in findings(s, spec)) < 50 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        got = findings(s, spec)
        assert len(got) <= 2 and sum(f["count"] for f in got) == 50, \
            "50 identical violations in 2 s: expected at most 2 records summing to 50, " \
            "seen %d records, counts %s" % (len(got), [f["count"] for f in got])
        if len(got) == 2:
            check("aggregated record", got[1], {
                "count": 49, "message": "repeated 49 times in 2 s",
                "rule": {"id": "profile:" + group}})
