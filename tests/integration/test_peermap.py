# Peers on other nodes (issue 6): every sensor announces its containers'
# addresses to the aggregator (SensorEndpoints), which sends the merged
# map to every sensor (PeerMap); a conversation with an address of a
# container of another node is then reported with that container (pod,
# namespace, group) and its node, not as an external address. A second
# node is simulated by wacht-peer-sensor (tests/integration/progs/
# peer_sensor.c), which speaks the protocol as the sensor of node "node-b"
# and announces a pod at an address that lives in a plain network
# namespace: without the map the real sensor calls that address external.

import os
import subprocess
import time

from harness import REG, REPO, track_pid
from test_netgraph import ANY_PROC, flows_of, wait_sum
from test_policy import (NetPair, Sensor, check, lines_of, n_policy, new_ns, rewrite,
                         rules_file, wait_line, wait_policy, web_group)
from test_stream import Aggregator, free_port, make_pki

PEER_BIN = os.path.join(REPO, "build", "wacht-peer-sensor")


class TcpSink:
    """A TCP receiver in a plain network namespace (no container): accepts
    any number of connections on port and counts what each sent."""

    def __init__(self, ns, addr, ports):
        self.path = os.path.join(REG.tmp(), "tcp-%s" % ns.name)
        code = ("import socket,threading,sys\n"
                "def serve(p):\n"
                "    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                "    s.bind((%r,p)); s.listen(8)\n"
                "    open(%r+'.ready%%d'%%p,'w').close()\n"
                "    while True:\n"
                "        c,_=s.accept(); n=0\n"
                "        while True:\n"
                "            d=c.recv(65536)\n"
                "            if not d: break\n"
                "            n+=len(d)\n"
                "        c.close(); f=open(%r,'a'); f.write('%%d %%d\\n'%%(p,n)); f.close()\n"
                "for p in %r: threading.Thread(target=serve,args=(p,),daemon=True).start()\n"
                "threading.Event().wait()\n" % (addr, self.path, self.path, list(ports)))
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns.name, "python3", "-c", code],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        track_pid(self.proc.pid, "tcp sink %s" % addr)
        deadline = time.monotonic() + 10
        while not all(os.path.exists(self.path + ".ready%d" % p) for p in ports):
            assert self.proc.poll() is None and time.monotonic() < deadline, \
                "TCP sink on %s did not start" % addr
            time.sleep(0.02)

    def got(self):
        try:
            with open(self.path) as f:
                return [tuple(int(x) for x in l.split()) for l in f.read().splitlines()]
        except FileNotFoundError:
            return []

    def stop(self):
        self.proc.kill()
        self.proc.wait(10)


class PeerSensor:
    """wacht-peer-sensor: node `node`, announcing `endpoints` to the
    aggregator at port (TLS, pki) or over NATS (nats: the URL); its stdout
    (one JSON line per PeerMap, or other node's SensorEndpoints over NATS,
    received) goes to a file."""

    def __init__(self, port, pki, node, endpoints, tmp, nats=None):
        if not os.access(PEER_BIN, os.X_OK):
            raise AssertionError("%s not found: build it with `make`" % PEER_BIN)
        self.out_path = os.path.join(tmp, "peer-%s.jsonl" % node)
        self.err_path = self.out_path + ".err"
        if nats:
            cmd = [PEER_BIN, "--nats", nats, "--node", node]
        else:
            cmd = [PEER_BIN, "--connect", "127.0.0.1:%d" % port, "--tls-ca", pki["ca"],
                   "--tls-cert", pki["client_crt"], "--tls-key", pki["client_key"],
                   "--node", node]
        for e in endpoints:
            cmd += ["--endpoint", e]
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=err,
                                         start_new_session=True)
        track_pid(self.proc.pid, "wacht-peer-sensor")

    def maps(self):
        import json
        with open(self.out_path) as f:
            return [json.loads(l) for l in f.read().splitlines() if l.strip()]

    def disconnect(self):
        """Closes its connection (stdin ends) and waits for its exit."""
        self.proc.stdin.close()
        rc = self.proc.wait(10)
        with open(self.err_path) as f:
            assert rc == 0, "wacht-peer-sensor exited %d: %s" % (rc, f.read())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_for(what, fn, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def peers_stats(s):
    return [l["peers"] for l in lines_of(s, "stats") if "peers" in l]


def _reloaded(s, path, text):
    """Rewrites the rule file and waits until the reload is in the kernel
    too (a stats line after the policy line: the same tick compiled it)."""
    n = n_policy(s)
    rewrite(path, text)
    pol = wait_policy(s, n, what="reload of %s" % path)
    assert pol["status"] == "loaded", pol
    n_stats = len(lines_of(s, "stats"))
    wait_line(s, "stats", None, n_stats + 1, what="a stats line after the reload")


def _remote_pod_rules(s, np, ns, sink, remote_group, rules):
    """Protect, and a rule allowing the client's group to reach the remote
    pod's group on tcp/5002: the engine matches the pod by its group (no
    finding, flow verdict allowed) and the kernel lets 5002 through while
    it refuses 5003 (EPERM); the finding names the pod's group."""
    cli_group = np.client_group
    monitor = open(rules).read()
    _reloaded(s, rules, web_group(
        ns, "client", policymode="Protect", mode="Protect", process=ANY_PROC, egress=[
            "{name: to-remote, action: allow, ports: tcp/5002, selector: {name: %s}}"
            % remote_group])[1] + web_group(ns)[1])
    rc, out, err = np.cli.exec(["sh", "-c", "head -c 1000 /dev/zero | nc -w 5 %s 5002"
                                % np.srv4], check=False, timeout=30)
    assert rc == 0 and err == "", (rc, out, err)
    wait_for("sink got %r" % sink.got(), lambda: (5002, 1000) in sink.got())
    rc, out, err = np.cli.exec(["sh", "-c", "head -c 1000 /dev/zero | nc -w 5 %s 5003"
                                % np.srv4], check=False, timeout=30)
    assert rc != 0 and err == ("nc: can't connect to remote host (%s): Operation not "
                               "permitted\n" % np.srv4), (rc, out, err)
    spec = {"proto": "tcp", "server_port": 5002, "reporter": "client",
            "client": {"kind": "container", "id": np.cli.id},
            "server": {"kind": "container", "ip": np.srv4, "group": remote_group,
                       "node": "node-b"}}
    lines, total = wait_sum(s, spec, "bytes_to_server", 1000,
                            what="tcp/5002 to the remote pod, allowed")
    assert total == 1000 and {l["verdict"] for l in lines} == {"allowed"}, lines
    f = wait_for("no Network.Violation for the refused tcp/5003", lambda: lines_of(
        s, "finding", {"name": "Network.Violation", "network": {
            "remote_ip": np.srv4, "remote_port": 5003}}))
    check("refused tcp/5003", f[0], {
        "action": "deny", "mode": "Protect", "rule": {"id": "profile:" + cli_group},
        "network": {"proto": "tcp", "direction": "outbound", "peer_group": remote_group}})
    s.barrier(np.cli)
    assert lines_of(s, "finding", {"network": {"remote_port": 5002}}) == [], \
        lines_of(s, "finding", {"network": {"remote_port": 5002}})
    assert (5003, 1000) not in sink.got() and (5003, 0) not in sink.got(), sink.got()
    _reloaded(s, rules, monitor)


def _remote_pod_case(s, np, ns, tmp, connect, forgotten, rules=None):
    """The part both transports share. connect(endpoints): a PeerSensor of
    node-b announcing them; forgotten(): waits for the sign that node-b
    was forgotten on the exchange's side (aggregator log, or nothing).
    rules: the sensor's rule file, to check the policy with a rule for the
    remote pod's group (_remote_pod_rules) while it is known."""
    cli_group, remote_group = np.client_group, "nv.web." + ns
    remote = sink = None
    try:
        # only the client is a container; np.na stays a plain netns
        np.cli.start()
        s.barrier(np.cli)
        sink = TcpSink(np.na, np.srv4, (5000, 5001, 5002, 5003))
        # (the pod's name makes its service, as on a real node: web)
        remote = connect(["remote-0001,web-7d4b9c6f5-r8x2q,%s,%s,%s,%s"
                          % (ns, remote_group, np.srv4, np.srv6)])

        # node-b hears of the real node's container, with its addresses
        def real_container_heard():
            for m in remote.maps():
                for e in m["endpoints"]:
                    if e["id"] == np.cli.id:
                        return m, e
            return None
        m, e = wait_for("the real sensor's container never reached node-b: %r"
                        % remote.maps(), real_container_heard)
        assert e == {"node": s.node, "id": np.cli.id, "pod": np.cli.pod, "namespace": ns,
                     "group": cli_group, "ips": [np.cli4, np.cli6]}, e

        # the real sensor holds node-b's pod, and only that
        st = wait_for("the real sensor never applied node-b's pod: %r" % peers_stats(s)[-3:],
                      lambda: [p for p in peers_stats(s) if p["containers"] == 1])
        assert st[-1]["addresses"] == 2 and st[-1]["dropped"] == 0, st[-1]

        np.cli.exec(["sh", "-c", "head -c 3000 /dev/zero | nc -w 5 %s 5000" % np.srv4],
                    check=False, timeout=30)
        wait_for("sink got %r" % sink.got(), lambda: (5000, 3000) in sink.got())
        server = {"kind": "container", "ip": np.srv4, "id": "remote-0001",
                  "pod": "web-7d4b9c6f5-r8x2q", "namespace": ns, "group": remote_group,
                  "node": "node-b"}
        spec = {"proto": "tcp", "server_port": 5000, "reporter": "client",
                "client": {"kind": "container", "id": np.cli.id, "ip": np.cli4},
                "server": server}
        lines, total = wait_sum(s, spec, "bytes_to_server", 3000,
                                what="tcp/5000 to the remote pod")
        assert total == 3000, lines
        # a container of this node carries no node
        assert all("node" not in l["client"] for l in lines), lines
        assert flows_of(s, {"proto": "tcp", "server_port": 5000,
                            "server": {"kind": "external"}}) == []
        # no rule allows it (Monitor): the finding names the pod's group as
        # the peer group (the policy sees a container of that group)
        f = wait_for("no Network.Violation to the remote pod", lambda: lines_of(
            s, "finding", {"name": "Network.Violation", "network": {
                "remote_ip": np.srv4, "remote_port": 5000}}))
        assert f[0]["network"]["peer_group"] == remote_group, f[0]
        assert f[0]["message"] == "connection to %s tcp/5000 matches no network rule" \
            % remote_group, f[0]
        if rules:
            _remote_pod_rules(s, np, ns, sink, remote_group, rules)

        # node-b leaves: after the grace period its pod is gone
        v_before = peers_stats(s)[-1]["version"]
        remote.disconnect()
        forgotten()
        st = wait_for("the real sensor kept node-b's pod: %r" % peers_stats(s)[-3:],
                      lambda: [p for p in peers_stats(s)
                               if p["version"] > v_before and p["containers"] == 0])
        assert st[-1]["addresses"] == 0, st[-1]

        np.cli.exec(["sh", "-c", "head -c 2000 /dev/zero | nc -w 5 %s 5001" % np.srv4],
                    check=False, timeout=30)
        wait_for("sink got %r" % sink.got(), lambda: (5001, 2000) in sink.got())
        spec = {"proto": "tcp", "server_port": 5001, "reporter": "client",
                "server": {"kind": "external", "ip": np.srv4}}
        lines, total = wait_sum(s, spec, "bytes_to_server", 2000,
                                what="tcp/5001 to the forgotten address")
        assert total == 2000, lines
        assert all("pod" not in l["server"] and "node" not in l["server"]
                   for l in lines), lines
        f = wait_for("no Network.Violation to the forgotten address", lambda: lines_of(
            s, "finding", {"name": "Network.Violation", "network": {
                "remote_ip": np.srv4, "remote_port": 5001}}))
        assert f[0]["network"]["peer_group"] == "external", f[0]
    finally:
        if remote:
            remote.kill()
        if sink:
            sink.stop()


def _sensor_args(ns, np, tmp, node):
    text = web_group(ns, "client", policymode="Monitor", mode="Monitor", process=ANY_PROC)[1]
    return ["--rules", rules_file(text), "--window", "1", "--flow-interval", "1",
            "--stats-interval", "1", "--node", node, "--spool-dir", os.path.join(tmp, "spool")]


def test_peermap_remote_pod_named_until_its_sensor_leaves():
    """A real sensor (node node-a-*) and a simulated one (node node-b) on
    one aggregator over mutual TLS. The simulated sensor receives the
    merged map: the real sensor's container with its addresses and node.
    The real sensor receives the simulated one's pod (one container on
    other nodes), and its container's TCP conversation with the pod's
    address (3000 bytes to a listener in a plain netns) is reported with
    that pod, namespace, group and node node-b. When the simulated sensor
    disconnects, the aggregator forgets its pod after the grace period
    (--peer-grace 1), the real sensor's map is empty again, and the next
    conversation with that address (2000 bytes) is external. The Monitor
    findings of both conversations name the peer group: the pod's group,
    then external. While the pod is known, a reload to Protect with a rule
    allowing the client's group to reach the pod's group on tcp/5002:
    1000 bytes to 5002 arrive (flow verdict allowed, no finding), a
    connect to 5003 fails with EPERM in the client (the kernel's peer
    classes hold the pod's address) and its finding is a deny naming the
    pod's group; then back to Monitor."""
    ns = new_ns()
    tmp = os.path.join(REG.tmp(), "peermap-" + ns)
    pki = make_pki(os.path.join(tmp, "pki"), "wacht")
    port = free_port()
    agg = Aggregator(pki, os.path.join(tmp, "store.db"), port, extra=["--peer-grace", "1"])
    with NetPair(ns, ports=()) as np:
        try:
            agg.start()
            args = _sensor_args(ns, np, tmp, "node-a-" + ns) + [
                "--aggregator", "127.0.0.1:%d" % port, "--tls-ca", pki["ca"],
                "--tls-cert", pki["client_crt"], "--tls-key", pki["client_key"]]
            with Sensor(args) as s:
                s.node = "node-a-" + ns

                def connect(eps):
                    r = PeerSensor(port, pki, "node-b", eps, tmp)
                    # the map node-b gets has its own pod too (a sensor
                    # ignores its own node's), nothing left out
                    m = wait_for("node-b got no map with its pod: %r" % r.maps(), lambda: [
                        m for m in r.maps() if any(x["node"] == "node-b" and
                                                   x["id"] == "remote-0001"
                                                   for x in m["endpoints"])])
                    assert m[-1]["omitted"] == 0, m[-1]
                    return r
                _remote_pod_case(s, np, ns, tmp, connect, lambda: agg.wait_log(
                    "peer map: forgot the containers of 1 node"),
                    rules=args[args.index("--rules") + 1])
        finally:
            agg.stop()
            agg.cleanup()


def test_peermap_over_nats():
    """The same without an aggregator: the real sensor (--nats) publishes
    its endpoints on core NATS (WACHT.endpoints.<node>) and builds the map
    from the others'; node-b is wacht-peer-sensor --nats, publishing every
    second. Its pod is named in the flow line while it publishes, and
    external once it has been silent for --peer-grace 3 seconds."""
    from test_scaleout import NatsServer

    ns = new_ns()
    tmp = os.path.join(REG.tmp(), "peermap-nats-" + ns)
    os.makedirs(tmp)
    with NatsServer() as nats, NetPair(ns, ports=()) as np:
        args = _sensor_args(ns, np, tmp, "node-a-" + ns) + [
            "--nats", nats.url, "--peer-grace", "3"]
        with Sensor(args) as s:
            s.node = "node-a-" + ns
            _remote_pod_case(s, np, ns, tmp,
                             lambda eps: PeerSensor(0, None, "node-b", eps, tmp, nats=nats.url),
                             lambda: None)
            nst = peers_stats(s)[-1]
            assert nst["nats_connected"] and nst["nats_rejected"] == 0, nst
            assert nst["nats_published"] >= 1 and nst["nats_nodes"] == 0, nst
