# The network graph end to end (issue 6, the aggregator's part): a real
# wacht-sensor counts three containers' traffic in the kernel and ships its
# FlowBatches over mutual TLS to a real wacht-aggregator, which stores them
# per minute; `wachtctl graph` (the HTTP API, with a token) prints the
# merged graph. One setup, shared by every assertion:
#
#   client (pod client-6d5f8b7c9-k2m4p, network Protect)
#     -- veth --> web  (pod web-7d9f8c6b5-x2x7k): tcp/5000 allowed, 100000
#                                                 bytes; tcp/5001 denied
#     -- veth --> dns  (pod dns-5c8d7f9b6-q4w2z): udp/6969 allowed (tftp)
#     -- veth --> a plain netns, not a container ("external"): tcp/7000
#                                                 allowed, 50000 bytes
#
# Each container is in its own network namespace; the external address is
# one no container has, so the sensor reports it as external.

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time

from harness import REG, Container, Netns, veth_between
from test_enforce_net import UdpSink, tftp
from test_policy import (CLIENT_POD, POD, Sensor, doc, lines_of, new_ns, random_net,
                         rules_file, wait_listening, web_group)
from test_stream import Aggregator, free_port, make_pki
from test_wachtctl import WACHTCTL

DNS_POD = "dns-5c8d7f9b6-q4w2z"
ANY_PROC = ['{name: "*", path: "*", action: allow}']
N_WEB = 100000
N_EXT = 50000
TOKEN = "graph-" + secrets.token_hex(12)
SHOP_TOKEN = "shop-" + secrets.token_hex(12)


def ctl(url, *args, token=TOKEN):
    env = {k: v for k, v in os.environ.items()
           if k not in ("WACHT_SERVER", "WACHT_TOKEN", "WACHT_CACERT")}
    env.update(WACHT_SERVER=url, WACHT_TOKEN=token)
    p = subprocess.run([WACHTCTL] + list(args), env=env, capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


def graph(url, *args, token=TOKEN):
    rc, out, err = ctl(url, "graph", "--format", "json", *args, token=token)
    assert rc == 0, (rc, out, err)
    return json.loads(out)


def within(got, want, pct=1):
    return abs(got - want) <= want * pct / 100


def test_graph_three_containers_and_an_external_address():
    """`wachtctl graph --format json --namespace NS` lists exactly the four
    endpoints (three containers with pod, namespace, group, node and IP;
    one external address) and three conversations from the client: to web
    (tcp/5000 allowed, 100000 bytes within 1%, one session, reported by
    both ends and counted once; tcp/5001 refused in Protect: one session,
    no bytes, policy_action deny, which is also the conversation's), to dns
    (udp/6969: exactly the bytes the receiver got, allow) and to the
    external address (tcp/7000, 50000 bytes within 1%, allow). The DOT
    output renders with `dot -Tsvg`, the GraphML is well-formed XML, a
    token scoped to another namespace sees nothing of it and is refused
    naming this one, and bad parameters are usage errors."""
    ns = new_ns()
    tmp = os.path.join(REG.tmp(), "graph-" + ns)
    pki = make_pki(os.path.join(tmp, "pki"), "wacht")
    tokens = os.path.join(tmp, "tokens")
    with open(tokens, "w") as f:
        f.write("security %s *\n" % hashlib.sha256(TOKEN.encode()).hexdigest())
        f.write("other %s other-ns\n" % hashlib.sha256(SHOP_TOKEN.encode()).hexdigest())
    port, api_port = free_port(), free_port()
    url = "http://127.0.0.1:%d" % api_port
    agg = Aggregator(pki, os.path.join(tmp, "store.db"), port, api=(api_port, tokens))

    web_ip, cli_web, _, _ = random_net()
    dns_ip, cli_dns, _, _ = random_net()
    ext_ip, cli_ext, _, _ = random_net()
    web_g, dns_g, cli_g = "nv.web." + ns, "nv.dns." + ns, "nv.client." + ns
    ext_g = "wg-ext-" + ns[3:]
    text = web_group(ns, "client", policymode="Protect", mode="Monitor", egress=[
        '{name: to-web, action: allow, ports: tcp/5000, selector: {name: %s}}' % web_g,
        '{name: no-5001, action: deny, ports: tcp/5001, selector: {name: %s}}' % web_g,
        '{name: to-dns, action: allow, ports: udp/6969, selector: {name: %s}}' % dns_g,
        '{name: to-ext, action: allow, ports: tcp/7000, selector: {name: %s}}' % ext_g,
    ], process=ANY_PROC)[1]
    text += web_group(ns, policymode="Monitor", mode="Monitor", ingress=[
        '{name: from-client, action: allow, ports: tcp/5000, selector: {name: %s}}' % cli_g,
    ], process=ANY_PROC)[1]
    text += web_group(ns, "dns", policymode="Monitor", mode="Monitor", process=ANY_PROC)[1]
    text += doc(ext_g, cluster=True, criteria=[("address", "=", ext_ip)])

    n_cli, n_web, n_dns, n_ext = Netns(), Netns(), Netns(), Netns()
    conts, sink, ext_srv = [], None, None
    try:
        for n in (n_cli, n_web, n_dns, n_ext):
            n.create()
        veth_between(n_web, n_cli, a_addrs=(web_ip + "/24",), b_addrs=(cli_web + "/24",))
        veth_between(n_dns, n_cli, a_addrs=(dns_ip + "/24",), b_addrs=(cli_dns + "/24",))
        veth_between(n_ext, n_cli, a_addrs=(ext_ip + "/24",), b_addrs=(cli_ext + "/24",))
        web = Container(pod=POD, namespace=ns, container_name="web", netns=n_web)
        dns = Container(pod=DNS_POD, namespace=ns, container_name="dns", netns=n_dns)
        cli = Container(pod=CLIENT_POD, namespace=ns, container_name="client", netns=n_cli)
        conts = [web, dns, cli]
        agg.start()
        args = ["--rules", rules_file(text), "--window", "1", "--flow-interval", "1",
                "--stats-interval", "1", "--aggregator", "127.0.0.1:%d" % port,
                "--tls-ca", pki["ca"], "--tls-cert", pki["client_crt"],
                "--tls-key", pki["client_key"], "--spool-dir", os.path.join(tmp, "spool")]
        with Sensor(args) as s:
            for c in conts:
                c.start()
                s.barrier(c)
            # connected before the traffic: a FlowBatch made while not
            # connected is dropped by design
            deadline = time.monotonic() + 15
            while not any(l.get("aggregator", {}).get("connected")
                          for l in lines_of(s, "stats")):
                assert time.monotonic() < deadline, "sensor never connected"
                time.sleep(0.1)

            # tcp/5000: exactly N_WEB bytes arrive (nc's stdin never ends
            # on the server: it would reset the connection)
            web.exec_detached(["sh", "-c", "sleep 60 | nc -l -p 5000 > /tmp/got"])
            wait_listening(n_web, 5000)
            cli.exec(["sh", "-c", "head -c %d /dev/zero | nc -w 5 %s 5000" % (N_WEB, web_ip)],
                     check=False, timeout=30)
            # tcp/5001: refused in the client's kernel (Protect, deny rule)
            rc, _, err = cli.exec(["sh", "-c", "echo -n 12345 | nc %s 5001" % web_ip],
                                  check=False)
            assert rc == 1 and "Operation not permitted" in err, (rc, err)
            # udp/6969: a receiver in dns's netns (a host process: only the
            # client reports it)
            sink = UdpSink(n_dns, dns_ip, 6969)
            tftp(cli, dns_ip, 6969)
            sink.wait()
            # tcp/7000 to the external address: a plain netns, no container
            got_ext = os.path.join(tmp, "ext-got")
            ext_srv = subprocess.Popen(
                ["ip", "netns", "exec", n_ext.name, "sh", "-c",
                 "sleep 60 | busybox nc -l -p 7000 > %s" % got_ext],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
            wait_listening(n_ext, 7000)
            cli.exec(["sh", "-c", "head -c %d /dev/zero | nc -w 5 %s 7000" % (N_EXT, ext_ip)],
                     check=False, timeout=30)
            deadline = time.monotonic() + 10
            while os.path.getsize(got_ext) < N_EXT and time.monotonic() < deadline:
                time.sleep(0.1)
            assert os.path.getsize(got_ext) == N_EXT
            _, got_web, _ = web.exec(["sh", "-c", "wc -c < /tmp/got"], check=False)
            assert got_web.strip() == str(N_WEB), got_web
            time.sleep(0.5)  # tftp's retransmissions, if any, have arrived
            udp_bytes = sum(len(d) for d in sink.received())

            ids = {c: "container:%s/%s/%s" % (ns, c.pod, c.container_name) for c in conts}
            ext_id = "external:" + ext_ip

            def conv(g, frm, to):
                cs = [c for c in g["conversations"] if c["from"] == frm and c["to"] == to]
                return cs[0] if cs else None

            # the reports of the last second (FIN, the server's last
            # read) reach the store a flow interval or two later
            deadline = time.monotonic() + 20
            while True:
                g = graph(url, "--namespace", ns)
                cw, cd, ce = conv(g, ids[cli], ids[web]), conv(g, ids[cli], ids[dns]), \
                    conv(g, ids[cli], ext_id)
                ents = {e["port"]: e for e in cw["entries"]} if cw else {}
                if (cw and cd and ce and "tcp/5001" in ents and
                        ents.get("tcp/5000", {}).get("bytes_to_server", 0) >= N_WEB * 0.99
                        and cd["bytes_to_server"] >= udp_bytes
                        and ce["bytes_to_server"] >= N_EXT * 0.99):
                    break
                assert time.monotonic() < deadline, json.dumps(g, indent=1)
                time.sleep(0.5)
            time.sleep(2.5)  # nothing more comes: the counts are final
            g = graph(url, "--namespace", ns)
            _, sensors, _ = ctl(url, "sensors", "--json")
            node = json.loads(sensors)["sensors"][0]["node"]

            assert g["namespace"] == ns and g["collapse"] == "none" and g["since"] is None
            eps = {e["id"]: e for e in g["endpoints"]}
            assert sorted(eps) == sorted([ids[web], ids[dns], ids[cli], ext_id]), eps
            for c, ip, grp in ((web, web_ip, web_g), (dns, dns_ip, dns_g)):
                e = eps[ids[c]]
                assert (e["kind"], e["pod"], e["domain"], e["service"], e["node"], e["ips"]) \
                    == ("container", c.pod, ns, grp, node, [ip]), e
            e = eps[ids[cli]]
            assert (e["kind"], e["pod"], e["domain"], e["service"], e["node"]) == \
                ("container", CLIENT_POD, ns, cli_g, node), e
            assert sorted(e["ips"]) == sorted([cli_web, cli_dns, cli_ext]), e
            assert eps[ext_id]["kind"] == "external" and eps[ext_id]["ips"] == [ext_ip]
            assert sorted((c["from"], c["to"]) for c in g["conversations"]) == sorted([
                (ids[cli], ids[web]), (ids[cli], ids[dns]), (ids[cli], ext_id)]), \
                g["conversations"]

            cw, cd, ce = conv(g, ids[cli], ids[web]), conv(g, ids[cli], ids[dns]), \
                conv(g, ids[cli], ext_id)
            # web: both ends reported tcp/5000, counted once (not 200000)
            assert cw["ports"] == ["tcp/5000", "tcp/5001"], cw
            ents = {e["port"]: e for e in cw["entries"]}
            allowed, denied = ents["tcp/5000"], ents["tcp/5001"]
            assert within(allowed["bytes_to_server"], N_WEB), allowed
            assert allowed["bytes_to_client"] == 0 and allowed["sessions"] == 1, allowed
            assert allowed["bytes"] == allowed["bytes_to_server"]
            assert allowed["policy_action"] == "allow", allowed
            assert (denied["sessions"], denied["bytes"], denied["policy_action"]) == \
                (1, 0, "deny"), denied
            assert cw["policy_action"] == "deny" and cw["sessions"] == 2, cw
            assert cw["bytes"] == allowed["bytes"], cw
            # dns: exactly what the receiver got
            assert cd["ports"] == ["udp/6969"], cd
            assert (cd["bytes_to_server"], cd["sessions"], cd["policy_action"]) == \
                (udp_bytes, 1, "allow"), cd
            # the external address
            assert ce["ports"] == ["tcp/7000"], ce
            assert within(ce["bytes_to_server"], N_EXT) and ce["bytes_to_client"] == 0, ce
            assert (ce["sessions"], ce["policy_action"]) == (1, "allow"), ce

            # collapsed by namespace: the three containers are one vertex
            gn = graph(url, "--namespace", ns, "--collapse", "namespace")
            assert sorted(e["id"] for e in gn["endpoints"]) == sorted(
                ["namespace:" + ns, ext_id]), gn["endpoints"]

            # DOT renders; GraphML is well-formed
            rc, dot, err = ctl(url, "graph", "--format", "dot", "--namespace", ns)
            assert rc == 0 and dot.startswith("digraph"), (rc, dot[:200], err)
            p = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True,
                               timeout=30)
            assert p.returncode == 0 and "<svg" in p.stdout, p.stderr
            assert POD in dot and ext_ip in dot
            rc, gml, err = ctl(url, "graph", "--format", "graphml", "--namespace", ns)
            assert rc == 0, (rc, err)
            p = subprocess.run(["xmllint", "--noout", "-"], input=gml, capture_output=True,
                               text=True, timeout=30)
            assert p.returncode == 0, p.stderr
            assert "<graphml" in gml and DNS_POD in gml

            # scopes: another team's token sees none of it, and may not ask
            other = graph(url, token=SHOP_TOKEN)
            assert not [e for e in other["endpoints"] if ns in e["id"]], other
            rc, out, err = ctl(url, "graph", "--namespace", ns, token=SHOP_TOKEN)
            assert rc == 4 and "may not see namespace \"%s\"" % ns in err, (rc, out, err)
            # bad parameters: usage errors naming the parameter
            rc, _, err = ctl(url, "graph", "--since", "yesterday")
            assert rc == 2 and "bad since \"yesterday\"" in err, (rc, err)
            rc, _, err = ctl(url, "graph", "--cidr", "10.0.0.0/33")
            assert rc == 2 and "bad cidr \"10.0.0.0/33\"" in err, (rc, err)
            rc, _, err = ctl(url, "graph", "--format", "svg")
            assert rc == 2 and "bad --format svg" in err, (rc, err)
            # the connection was never closed for a bad frame
            assert "closed connection" not in agg.log(), agg.log()[-2000:]
    finally:
        if ext_srv:
            os.killpg(ext_srv.pid, 9)
            ext_srv.wait()
        if sink:
            sink.stop()
        for c in conts:
            c.delete()
        for n in (n_cli, n_web, n_dns, n_ext):
            n.delete()
        agg.stop()
        agg.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
