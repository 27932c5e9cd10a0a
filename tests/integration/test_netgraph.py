# Network visibility (issue 6, the sensor's part): every container's TCP and
# UDP traffic is counted in the kernel (bpf/flow.bpf.c) and reported every
# --flow-interval as conversation records ({"kind": "flow"}): client and
# server endpoints, server port, payload bytes and packets each way,
# sessions and the rule engine's verdict. Bytes are TCP/UDP payload (no
# IP/TCP/UDP headers): the test sends a known number of bytes and checks
# that number.

import time

from test_enforce_net import UdpSink, tftp
from test_policy import (NetPair, Sensor, lines_of, new_ns, rules_file, wait_listening,
                         web_group)

ANY_PROC = ['{name: "*", path: "*", action: allow}']
N_TCP = 100000


def flows_of(s, spec):
    return lines_of(s, "flow", spec)


def wait_sum(s, spec, key, want, timeout=15, what=""):
    """Records are deltas: a conversation that spans two reports is two
    lines. Wait until the lines matching spec add up to at least want."""
    deadline = time.monotonic() + timeout
    while True:
        got = flows_of(s, spec)
        total = sum(l[key] for l in got)
        if total >= want:
            return got, total
        assert time.monotonic() < deadline, "%s: %s = %d of %d in %d records: %r" % (
            what, key, total, want, len(got), got)
        time.sleep(0.1)


def test_netgraph_tcp_udp_conversations():
    """Client and server in their own netns on a veth. The client sends
    exactly 100000 bytes over TCP/5000 (allowed by the client's egress and
    the server's ingress rule, Monitor) and tftp requests over UDP/6969 to
    the server's IPv6 address (no rule: a violation). Both ends of the TCP
    conversation report it (each container is on this node), with the other
    as a container endpoint, sessions 1, the 100000 bytes within 1% (payload
    bytes: exact unless a segment was retransmitted) and verdict allowed;
    the UDP conversation's bytes are exactly what the receiver got."""
    ns = new_ns()
    with NetPair(ns, ports=()) as np:
        web, cli = np.server_group, np.client_group
        text = web_group(ns, "client", policymode="Monitor", mode="Monitor", egress=[
            '{name: to-web, action: allow, ports: tcp/5000, selector: {name: %s}}' % web,
        ], process=ANY_PROC)[1]
        text += web_group(ns, policymode="Monitor", mode="Monitor", ingress=[
            '{name: from-client, action: allow, ports: tcp/5000, selector: {name: %s}}' % cli,
        ], process=ANY_PROC)[1]
        path = rules_file(text)
        with Sensor(["--rules", path, "--window", "1", "--flow-interval", "1"]) as s:
            sink = None
            try:
                np.start()
                s.barrier(np.srv)
                s.barrier(np.cli)
                # (its stdin never ends: an nc whose stdin ends quits and
                # resets the connection with data unread)
                np.srv.exec_detached(["sh", "-c", "sleep 60 | nc -l -p 5000 > /tmp/got"])
                wait_listening(np.na, 5000)
                rc, out, err = np.cli.exec(
                    ["sh", "-c", "head -c %d /dev/zero | nc -w 5 %s 5000" % (N_TCP, np.srv4)],
                    check=False, timeout=30)
                # what arrived is what the records must count
                deadline = time.monotonic() + 10
                while True:
                    _, got, _ = np.srv.exec(["sh", "-c", "wc -c < /tmp/got"], check=False)
                    if got.strip() == str(N_TCP) or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                assert got.strip() == str(N_TCP), "server got %r bytes (nc rc %d %r)" % (
                    got, rc, err)

                sink = UdpSink(np.na, np.srv6, 6969)
                tftp(np.cli, np.srv6, 6969)
                dgrams = sink.wait()
                time.sleep(0.5)  # tftp's retransmissions, if any, have arrived
                udp_bytes = sum(len(d) for d in sink.received())
                n_dgrams = len(sink.received())

                client_ep = {"kind": "container", "id": np.cli.id, "ip": np.cli4,
                             "pod": np.cli.pod, "namespace": ns, "group": cli}
                server_ep = {"kind": "container", "id": np.srv.id, "ip": np.srv4,
                             "pod": np.srv.pod, "namespace": ns, "group": web}
                tcp = {"proto": "tcp", "server_port": 5000, "client": client_ep,
                       "server": server_ep}
                for reporter in ("client", "server"):
                    spec = dict(tcp, reporter=reporter)
                    lines, total = wait_sum(s, spec, "bytes_to_server", N_TCP,
                                            what="tcp seen by the " + reporter)
                    # the last packets (FIN/ACK) may land in the next report
                    time.sleep(2.5)
                    lines = flows_of(s, spec)
                    total = sum(l["bytes_to_server"] for l in lines)
                    assert abs(total - N_TCP) <= N_TCP // 100, (reporter, total, lines)
                    assert sum(l["sessions"] for l in lines) == 1, (reporter, lines)
                    # nc sends nothing back: the server's direction is empty
                    assert sum(l["bytes_to_client"] for l in lines) == 0, (reporter, lines)
                    assert sum(l["packets_to_server"] for l in lines) >= N_TCP // 65536 + 1
                    assert {l["verdict"] for l in lines} == {"allowed"}, (reporter, lines)

                udp_spec = {"proto": "udp", "server_port": 6969, "reporter": "client",
                            "client": dict(client_ep, ip=np.cli6),
                            "server": dict(server_ep, ip=np.srv6)}
                lines, total = wait_sum(s, udp_spec, "bytes_to_server", udp_bytes,
                                        what="udp seen by the client")
                assert total == udp_bytes, (total, udp_bytes, lines)
                assert sum(l["packets_to_server"] for l in lines) == n_dgrams, lines
                assert sum(l["sessions"] for l in lines) == 1, lines
                assert {l["verdict"] for l in lines} == {"violation"}, lines
                # the receiver is a host process: no record from the server end
                assert flows_of(s, dict(udp_spec, reporter="server")) == []
                assert dgrams[0].startswith(b"\x00\x01wacht-probe\x00"), dgrams
            finally:
                if sink:
                    sink.stop()


def test_netgraph_denied():
    """The client in network Protect may reach the server's tcp/5000 only:
    its connect to tcp/5001 fails with EPERM in the kernel, no packet is
    sent, and the conversation is still reported (one session, no bytes,
    verdict denied), next to the allowed one on tcp/5000."""
    ns = new_ns()
    with NetPair(ns, ports=()) as np:
        web, cli = np.server_group, np.client_group
        text = web_group(ns, "client", policymode="Protect", mode="Monitor", egress=[
            '{name: to-web, action: allow, ports: tcp/5000, selector: {name: %s}}' % web,
        ], process=ANY_PROC)[1]
        text += web_group(ns, policymode="Monitor", mode="Monitor", ingress=[
            '{name: from-client, action: allow, ports: tcp/5000, selector: {name: %s}}' % cli,
        ], process=ANY_PROC)[1]
        path = rules_file(text)
        with Sensor(["--rules", path, "--window", "1", "--flow-interval", "1"]) as s:
            np.start()
            s.barrier(np.srv)
            s.barrier(np.cli)
            np.srv.exec_detached(["sh", "-c", "sleep 60 | nc -l -p 5000 > /tmp/got"])
            wait_listening(np.na, 5000)
            rc, out, err = np.cli.exec(["sh", "-c", "echo -n 12345 | nc %s 5001" % np.srv4],
                                       check=False)
            assert rc == 1 and "Operation not permitted" in err, (rc, out, err)
            np.cli.exec(["sh", "-c", "head -c 4000 /dev/zero | nc -w 5 %s 5000" % np.srv4],
                        check=False, timeout=30)
            server = {"kind": "container", "id": np.srv.id, "ip": np.srv4, "group": web}
            client = {"kind": "container", "id": np.cli.id, "group": cli}
            denied = {"proto": "tcp", "server_port": 5001, "reporter": "client",
                      "client": client, "server": server}
            lines, _ = wait_sum(s, denied, "sessions", 1, what="denied tcp/5001")
            assert [(l["verdict"], l["sessions"], l["bytes_to_server"], l["bytes_to_client"])
                    for l in lines] == [("denied", 1, 0, 0)], lines
            allowed = dict(denied, server_port=5000)
            lines, total = wait_sum(s, allowed, "bytes_to_server", 4000, what="allowed tcp/5000")
            assert total == 4000 and {l["verdict"] for l in lines} == {"allowed"}, lines


def test_netgraph_flow_batches_reach_the_aggregator():
    """With --aggregator, every report is also a FlowBatch on the TLS
    stream: the aggregator takes them without dropping the connection (it
    would on a frame it cannot read), and the sensor counts them sent,
    none dropped while connected, once the conversation was reported."""
    import os
    from test_stream import Aggregator, free_port, make_pki
    from harness import REG

    ns = new_ns()
    tmp = os.path.join(REG.tmp(), "flows-" + ns)
    pki = make_pki(os.path.join(tmp, "pki"), "wacht")
    port = free_port()
    agg = Aggregator(pki, os.path.join(tmp, "store.db"), port)
    with NetPair(ns, ports=()) as np:
        text = web_group(ns, "client", policymode="Monitor", mode="Monitor", process=ANY_PROC)[1]
        text += web_group(ns, policymode="Monitor", mode="Monitor", process=ANY_PROC)[1]
        try:
            agg.start()
            args = ["--rules", rules_file(text), "--window", "1", "--flow-interval", "1",
                    "--stats-interval", "1", "--aggregator", "127.0.0.1:%d" % port,
                    "--tls-ca", pki["ca"], "--tls-cert", pki["client_crt"],
                    "--tls-key", pki["client_key"], "--spool-dir", os.path.join(tmp, "spool")]
            with Sensor(args) as s:
                np.start()
                s.barrier(np.srv)
                s.barrier(np.cli)
                # connected before the traffic: a batch made before the
                # hello is dropped by design
                deadline = time.monotonic() + 15
                while True:
                    up = [l["aggregator"] for l in lines_of(s, "stats")
                          if l.get("aggregator", {}).get("connected")]
                    if up:
                        break
                    assert time.monotonic() < deadline, "sensor never connected"
                    time.sleep(0.1)
                # (other containers on this host may have been reported
                # before the hello)
                dropped_before = up[0]["flow_batches_dropped"]
                np.srv.exec_detached(["sh", "-c", "sleep 60 | nc -l -p 5000 > /tmp/got"])
                wait_listening(np.na, 5000)
                np.cli.exec(["sh", "-c", "head -c 3000 /dev/zero | nc -w 5 %s 5000" % np.srv4],
                            check=False, timeout=30)
                spec = {"proto": "tcp", "server_port": 5000, "reporter": "client"}
                wait_sum(s, spec, "bytes_to_server", 3000, what="tcp/5000")
                n_stats = len(lines_of(s, "stats"))
                deadline = time.monotonic() + 15
                while True:
                    st = [l["aggregator"] for l in lines_of(s, "stats")[n_stats:]
                          if "aggregator" in l]
                    if st and st[-1]["flow_batches_sent"] >= 1:
                        break
                    assert time.monotonic() < deadline, st
                    time.sleep(0.1)
                assert st[-1]["flow_batches_dropped"] == dropped_before, st[-1]
                assert st[-1]["connected"] and st[-1]["failures"] == 0, st[-1]
        finally:
            agg.stop()
            agg.cleanup()
