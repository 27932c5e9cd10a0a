# Network segmentation enforced in the kernel (issue 4): in Protect, a
# connect() or UDP send the container's egress rules forbid fails with EPERM
# at the cgroup hooks, an inbound TCP connection its ingress rules forbid is
# dropped at the SYN; allowed traffic is untouched; a reload takes effect
# without restarting anything; Monitor and --alert-only never refuse; host
# processes are never refused. Every test asserts what the program in the
# container saw (the exact error busybox prints, the data that arrived) and
# the finding a user reads.

import os
import secrets
import socket
import subprocess
import threading
import time

from harness import Container, Netns, REG, run, veth_between, veth_to_host, track_pid
from test_policy import (CLIENT_POD, POD, NetPair, Sensor, check, doc, findings, fspec,
                         line_of, n_policy, new_ns, random_net, rewrite, rules_file,
                         wait_finding, wait_line, wait_listening, wait_policy, web_group)

ANY_PROC = ['{name: "*", path: "*", action: allow}']


def eperm_nc(ip):
    """What busybox nc prints when connect() fails with EPERM (it names an
    IPv4 peer only)."""
    return "nc: can't connect to remote host%s: Operation not permitted\n" % (
        "" if ":" in ip else " (%s)" % ip)


def nc_get(c, ip, port, wait=None):
    """An HTTP GET through busybox nc in container c: (rc, stdout, stderr)."""
    w = "-w %d " % wait if wait else ""
    return c.exec(["sh", "-c", "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc %s%s %d"
                   % (w, ip, port)], check=False)


class UdpSink:
    """A UDP receiver on the host side of a network namespace (ip netns
    exec python3): records every datagram's payload, so an allowed send is
    proven by its arrival."""

    def __init__(self, ns, addr, port):
        self.path = os.path.join(REG.tmp(), "udp-%s" % secrets.token_hex(3))
        fam = "AF_INET6" if ":" in addr else "AF_INET"
        code = ("import socket,sys\n"
                "s=socket.socket(socket.%s,socket.SOCK_DGRAM)\n"
                "s.bind((%r,%d))\n"
                "open(%r,'w').close()\n"
                "while True:\n"
                "    d,a=s.recvfrom(4096)\n"
                "    f=open(%r,'a'); f.write(d.hex()+'\\n'); f.close()\n"
                % (fam, addr, port, self.path + ".ready", self.path))
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns.name, "python3", "-c", code],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        track_pid(self.proc.pid, "udp sink %s:%d" % (addr, port))
        deadline = time.monotonic() + 10
        while not os.path.exists(self.path + ".ready"):
            assert self.proc.poll() is None and time.monotonic() < deadline, \
                "UDP sink on %s:%d did not start" % (addr, port)
            time.sleep(0.02)

    def received(self):
        try:
            with open(self.path) as f:
                return [bytes.fromhex(l) for l in f.read().split()]
        except FileNotFoundError:
            return []

    def wait(self, n=1, timeout=10):
        deadline = time.monotonic() + timeout
        while len(self.received()) < n:
            assert time.monotonic() < deadline, "UDP sink: nothing arrived"
            time.sleep(0.02)
        return self.received()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def tftp(c, ip, port):
    """busybox tftp: one unconnected sendto() to ip:port (cgroup/sendmsg).
    Stops after a second when nothing answers."""
    return c.exec(["timeout", "1", "tftp", "-g", "-r", "wacht-probe", ip, str(port)],
                  check=False)


def nslookup(c, server):
    """busybox nslookup: a connected UDP socket to server:53
    (cgroup/connect), then send()."""
    return c.exec(["timeout", "1", "nslookup", "wacht.example", server], check=False)


# 1 -------------------------------------------------------------------------

def test_enforce_net_egress_protect():
    """The client (Protect) may reach the server's tcp/8080, udp/6969 and
    udp/53 only: tcp/8081 (a deny rule), tcp/9090 (no rule), udp/6970 and the
    host's udp/53 fail with EPERM in the client, v4 and v6; each refusal is a
    finding with action deny. A reload that allows tcp/8081 lets it connect
    without restarting anything."""
    ns = new_ns()
    with NetPair(ns, ports=(8080, 8081, 9090)) as np:
        web, cli = np.server_group, np.client_group
        host_ip, cli_host = random_net()[:2]
        egress = [
            '{name: to-web, action: allow, ports: "tcp/8080,udp/6969,udp/53", '
            'selector: {name: %s}}' % web,
            '{name: no-8081, action: deny, ports: tcp/8081, selector: {name: %s}}' % web,
        ]
        text = web_group(ns, "client", policymode="Protect", mode="Monitor", egress=egress,
                         process=ANY_PROC)[1]
        text += web_group(ns, policymode="Monitor", mode="Monitor", process=ANY_PROC)[1]
        path = rules_file(text)
        deny_line = line_of(text, "{name: no-8081")
        np.to_host(np.nb, host_addrs=(host_ip + "/24",), ns_addrs=(cli_host + "/24",))
        sinks = []
        with Sensor(["--rules", path, "--window", "1"]) as s:
            try:
                np.start()
                s.barrier(np.srv)
                s.barrier(np.cli)
                sinks = [UdpSink(np.na, np.srv4, 6969), UdpSink(np.na, np.srv6, 6969),
                         UdpSink(np.na, np.srv4, 6970), UdpSink(np.na, np.srv4, 53)]
                for srv_ip in (np.srv4, np.srv6):
                    # allowed: the page arrives
                    np.get(srv_ip, 8080)
                    for port, rule in ((8081, "deny rule"), (9090, "no rule")):
                        rc, out, err = nc_get(np.cli, srv_ip, port)
                        assert (rc, out, err) == (1, "", eperm_nc(srv_ip)), \
                            "tcp/%d to %s (%s): rc %d, out %r, err %r" % (
                                port, srv_ip, rule, rc, out, err)
                    v = wait_finding(s, fspec(np.cli, "Network.Violation", network={
                        "remote_ip": srv_ip, "remote_port": 8081}),
                        what="client to %s:8081 refused" % srv_ip)
                    check("refused tcp/8081 to %s" % srv_ip, v, {
                        "action": "deny", "mode": "Protect", "severity": "high",
                        "rule": {"id": "%s:%d" % (path, deny_line), "name": "no-8081",
                                 "group": cli},
                        "container": {"pod": CLIENT_POD, "group": cli},
                        "process": {"name": "nc", "exe": "/bin/busybox"},
                        # (never bound: the socket got no local address)
                        "network": {"proto": "tcp", "direction": "outbound",
                                    "local_ip": "::" if ":" in srv_ip else "0.0.0.0",
                                    "local_port": 0, "remote_port": 8081, "peer_group": web},
                        "message": "to tcp/8081 from %s denied by rule no-8081" % cli})
                    v = wait_finding(s, fspec(np.cli, "Network.Violation", network={
                        "remote_ip": srv_ip, "remote_port": 9090}),
                        what="client to %s:9090 refused" % srv_ip)
                    check("refused tcp/9090 to %s" % srv_ip, v, {
                        "action": "deny", "mode": "Protect", "severity": "medium",
                        "rule": {"id": "profile:" + cli, "group": cli},
                        "network": {"proto": "tcp", "direction": "outbound",
                                    "peer_group": web},
                        "message": "connection to %s tcp/9090 matches no network rule" % web})
                # an IPv4-mapped IPv6 destination (a dual-stack socket) is
                # the IPv4 peer: the same decisions
                # (reported as the IPv4 peer: its findings may aggregate
                # with the earlier one, so their counts are what grows)
                mapped = "::ffff:" + np.srv4
                spec = fspec(np.cli, "Network.Violation", action="deny",
                             rule={"name": "no-8081"},
                             network={"remote_ip": np.srv4, "remote_port": 8081,
                                      "local_ip": "0.0.0.0", "peer_group": web})
                time.sleep(1.1)     # past the aggregation window of the v4 ones
                n = sum(f["count"] for f in findings(s, spec))
                np.get(mapped, 8080)
                rc, out, err = nc_get(np.cli, mapped, 8081)
                assert (rc, out, err) == (1, "", eperm_nc(mapped)), (rc, out, err)
                deadline = time.monotonic() + 10
                while sum(f["count"] for f in findings(s, spec)) < n + 1:
                    assert time.monotonic() < deadline, \
                        "client to %s:8081: no finding (%d before)" % (mapped, n)
                    time.sleep(0.05)
                # UDP sendto (cgroup/sendmsg): 6969 arrives, 6970 is refused
                for sink in sinks[:2]:
                    ip = np.srv4 if sink is sinks[0] else np.srv6
                    rc, out, err = tftp(np.cli, ip, 6969)
                    assert "Operation not permitted" not in out + err, (rc, out, err)
                    got = sink.wait()
                    assert got[0].startswith(b"\x00\x01wacht-probe\x00"), got
                rc, out, err = tftp(np.cli, np.srv4, 6970)
                assert (rc, out, err) == (1, "", "tftp: sendto: Operation not permitted\n"), \
                    "tftp to udp/6970: rc %d, out %r, err %r" % (rc, out, err)
                assert sinks[2].received() == [], "udp/6970 arrived: %r" % sinks[2].received()
                v = wait_finding(s, fspec(np.cli, "Network.Violation", network={
                    "proto": "udp", "remote_port": 6970}), what="udp/6970 refused")
                check("refused udp/6970", v, {
                    "action": "deny", "mode": "Protect",
                    "rule": {"id": "profile:" + cli},
                    "process": {"name": "tftp"},
                    "network": {"direction": "outbound", "remote_ip": np.srv4,
                                "peer_group": web}})
                # UDP connect (cgroup/connect): the server's udp/53 arrives,
                # the host's (nodes: no rule) is refused
                rc, out, err = nslookup(np.cli, np.srv4)
                got = sinks[3].wait()
                assert b"wacht" in got[0], (got, rc, out, err)
                rc, out, err = nslookup(np.cli, host_ip)
                assert (rc, out, err) == (1, "", "nslookup: can't connect to remote host (%s): "
                                          "Operation not permitted\n" % host_ip), \
                    "nslookup to the host: rc %d, out %r, err %r" % (rc, out, err)
                v = wait_finding(s, fspec(np.cli, "Network.Violation", network={
                    "proto": "udp", "remote_ip": host_ip}), what="udp/53 to the host refused")
                check("refused udp/53 to the host", v, {
                    "action": "deny", "mode": "Protect",
                    "rule": {"id": "profile:" + cli},
                    "process": {"name": "nslookup"},
                    "network": {"direction": "outbound", "remote_port": 53,
                                "peer_group": "nodes"}})
                # allowed traffic made no finding
                for port in (8080, 6969):
                    got = findings(s, fspec(np.cli, "Network.Violation",
                                            network={"remote_port": port}))
                    assert not got, "allowed port %d: %s" % (port, got)
                got = findings(s, fspec(np.cli, "Network.Violation", network={
                    "remote_port": 53, "remote_ip": np.srv4}))
                assert not got, "allowed udp/53: %s" % got

                # reload: tcp/8081 allowed now, same containers, same sensor
                k = n_policy(s)
                rewrite(path, text.replace("action: deny, ports: tcp/8081",
                                           "action: allow, ports: tcp/8081"))
                pol = wait_policy(s, k, what="reload allowing tcp/8081")
                check("reload", pol, {"status": "loaded", "reason": "rule files changed"})
                np.get(np.srv4, 8081)
                np.get(np.srv6, 8081)
                rc, out, err = nc_get(np.cli, np.srv4, 9090)
                assert (rc, err) == (1, eperm_nc(np.srv4)), (rc, out, err)
                st = s.stop()
                ne = st["network_enforcement"]
                assert ne["enforce"] is True and ne["connect_refused"] >= 5 and \
                    ne["sendmsg_refused"] >= 1, ne
            finally:
                for sink in sinks:
                    sink.stop()


# 2 -------------------------------------------------------------------------

def test_enforce_net_ingress_protect_then_reload():
    """The server (Protect) accepts tcp/8080 from nodes only: the client's
    connection never completes (its SYN is dropped), v4 and v6, and the
    server's finding says deny, inbound, the client's address and the
    local port. Rewriting the rule to allow the client lets the same
    connection through without restarting anything."""
    ns = new_ns()
    with NetPair(ns, ports=(8080,)) as np:
        web, cli = np.server_group, np.client_group
        ingress = '{name: from-nodes, action: allow, ports: tcp/8080, selector: {name: nodes}}'
        allow_cli = ('{name: from-client, action: allow, ports: tcp/8080, '
                     'selector: {name: %s}}' % cli)
        text = web_group(ns, "client", policymode="Monitor", mode="Monitor",
                         process=ANY_PROC)[1]
        srv_doc = web_group(ns, policymode="Protect", mode="Monitor", ingress=[ingress],
                            process=ANY_PROC)[1]
        path = rules_file(text + srv_doc)
        with Sensor(["--rules", path, "--window", "1"]) as s:
            np.start()
            s.barrier(np.srv)
            s.barrier(np.cli)
            for srv_ip, cli_ip in ((np.srv4, np.cli4), (np.srv6, np.cli6)):
                rc, out, err = nc_get(np.cli, srv_ip, 8080, wait=2)
                assert (rc, out, err) == (1, "", "nc: timed out\n"), \
                    "dropped SYN to %s:8080: rc %d, out %r, err %r" % (srv_ip, rc, out, err)
                v = wait_finding(s, fspec(np.srv, "Network.Violation", network={
                    "direction": "inbound", "remote_ip": cli_ip, "local_port": 8080}),
                    what="server drops %s" % cli_ip)
                check("dropped %s -> %s:8080" % (cli_ip, srv_ip), v, {
                    "action": "deny", "mode": "Protect", "severity": "medium",
                    "rule": {"id": "profile:" + web, "group": web},
                    "container": {"pod": POD, "group": web},
                    "network": {"proto": "tcp", "direction": "inbound", "local_ip": srv_ip,
                                "remote_ip": cli_ip, "local_port": 8080, "peer_group": cli},
                    "message": "connection from %s tcp/8080 matches no network rule" % cli})
            # allow the client: the same connection completes
            k = n_policy(s)
            rewrite(path, text + srv_doc.replace(ingress, ingress + "\n  - " + allow_cli))
            pol = wait_policy(s, k, what="reload allowing the client")
            check("reload", pol, {"status": "loaded", "reason": "rule files changed",
                                  "diagnostics": []})
            n = len(findings(s, fspec(np.srv, "Network.Violation")))
            np.get(np.srv4, 8080)
            np.get(np.srv6, 8080)
            s.barrier(np.srv)
            got = findings(s, fspec(np.srv, "Network.Violation"))[n:]
            assert not got, "allowed after the reload: %s" % got
            st = s.stop()
            assert st["network_enforcement"]["ingress_dropped"] >= 2, st["network_enforcement"]


# 3 -------------------------------------------------------------------------

def test_enforce_net_monitor_and_alert_only_never_refuse():
    """Monitor: the connection the Protect tests refuse succeeds and the
    finding says alert. Protect under --alert-only: it succeeds too, and
    the finding says alert and why it was not enforced."""
    for mode, args in (("Monitor", []), ("Protect", ["--alert-only"])):
        ns = new_ns()
        with NetPair(ns, ports=(8080, 9090)) as np:
            web, cli = np.server_group, np.client_group
            text = web_group(ns, "client", policymode=mode, mode="Monitor", process=ANY_PROC,
                             egress=['{name: to-web, action: allow, ports: tcp/8080, '
                                     'selector: {name: %s}}' % web])[1]
            text += web_group(ns, policymode=mode, mode="Monitor", process=ANY_PROC,
                              ingress=['{name: from-nodes, action: allow, ports: tcp/9090, '
                                       'selector: {name: nodes}}'])[1]
            path = rules_file(text)
            with Sensor(["--rules", path, "--window", "1"] + args) as s:
                np.start()
                s.barrier(np.srv)
                s.barrier(np.cli)
                np.get(np.srv4, 9090)       # client egress: no rule; server ingress: no rule
                suffix = "" if mode == "Monitor" else \
                    " (not enforced: the sensor runs with --alert-only)"
                v = wait_finding(s, fspec(np.cli, "Network.Violation", network={
                    "remote_port": 9090}), what="%s %s: client" % (mode, args))
                check("%s %s: client" % (mode, args), v, {
                    "action": "alert", "mode": mode,
                    "message": "connection to %s tcp/9090 matches no network rule%s"
                               % (web, suffix)})
                v = wait_finding(s, fspec(np.srv, "Network.Violation", network={
                    "local_port": 9090, "direction": "inbound"}),
                    what="%s %s: server" % (mode, args))
                check("%s %s: server" % (mode, args), v, {
                    "action": "alert", "mode": mode,
                    "process": {"name": "httpd"},
                    "message": "connection from %s tcp/9090 matches no network rule%s"
                               % (cli, suffix)})
                st = s.stop()
                ne = st["network_enforcement"]
                assert ne["enforce"] is (mode == "Monitor") and ne["connect_refused"] == 0 \
                    and ne["ingress_dropped"] == 0, ne


# 4 -------------------------------------------------------------------------

def test_enforce_net_host_process_never_refused():
    """Every container of the test's namespace denies everything outbound
    (Protect); a host process connecting to the same listener is not
    refused, while a container of the group is."""
    ns = new_ns()
    grp = "wp-denyall-" + ns[3:]
    peer_ip, host_ip = random_net()[:2]
    text = doc(grp, cluster=True, criteria=[("namespace", "=", ns)], policymode="Protect",
               egress=['{name: deny-all-%s, action: deny, ports: any, selector: {name: %s}}'
                       % (g, g) for g in ("external", "nodes", "containers")])
    path = rules_file(text)
    with Netns() as lis, Netns() as cns, Sensor(["--rules", path, "--window", "1"]) as s:
        # a listener in a namespace of its own (no container), reached from
        # the host over a veth, and from a container over another
        dh, _ = veth_to_host(lis, host_addrs=(host_ip + "/24",), ns_addrs=(peer_ip + "/24",))
        a4, b4 = random_net()[:2]
        veth_between(lis, cns, a_addrs=(a4 + "/24",), b_addrs=(b4 + "/24",))
        srv = subprocess.Popen(["ip", "netns", "exec", lis.name, "busybox", "nc", "-ll", "-p",
                                "7777", "-e", "echo", "hello"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        track_pid(srv.pid, "listener")
        try:
            wait_listening(lis, 7777)
            with Container(namespace=ns, netns=cns) as c:
                c.start()
                s.barrier(c)
                rc, out, err = c.exec(["nc", a4, "7777"], check=False)
                assert (rc, err) == (1, eperm_nc(a4)), (rc, out, err)
                wait_finding(s, fspec(c, "Network.Violation", action="deny",
                                      network={"remote_port": 7777}),
                             what="container refused by the deny-all rule")
                for _ in range(3):
                    rc, out, _ = run(["busybox", "nc", peer_ip, "7777"], check=False)
                    assert (rc, out) == (0, "hello\n"), "host process: rc %d, %r" % (rc, out)
        finally:
            srv.kill()
            srv.wait(10)
            run(["ip", "link", "del", dh], check=False)
