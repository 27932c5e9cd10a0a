# Self-tests of the harness (no sensor needed): the containers and network
# the capture tests rely on really look the way those tests assume.

import json
import os
import uuid

from harness import (CGROUP2, RUNC_ROOT, Container, Netns, kubepods_cgroup,
                     veth_between, check_clean, snapshot)
import secrets


def test_container_looks_like_a_pod():
    with Container() as c:
        c.start()
        # The sensor reads the OCI state to attribute events.
        with open(os.path.join(RUNC_ROOT, c.id, "state.json")) as f:
            state = json.load(f)
        labels = dict(l.split("=", 1) for l in state["config"]["labels"])
        assert labels["bundle"] == c.bundle, labels
        with open(os.path.join(c.bundle, "config.json")) as f:
            ann = json.load(f)["annotations"]
        assert ann["io.kubernetes.pod.name"] == c.pod
        assert ann["io.kubernetes.pod.namespace"] == "wit-ns"
        assert ann["io.kubernetes.container.name"] == "app"
        assert c.cgroup == "/" + c.id, c.cgroup
        assert os.path.isdir(CGROUP2 + c.cgroup)
        assert c.cgroup_id == os.stat(CGROUP2 + "/" + c.id).st_ino
        rc, out, _ = c.exec(["cat", "/etc/hostname"])
        assert (rc, out) == (0, c.pod + "\n"), (rc, out)
        rc, out, _ = c.exec(["sh", "-c", "readlink /bin/cat; exit 3"], check=False)
        assert (rc, out) == (3, "busybox\n"), (rc, out)
        pid = c.pid()
        assert os.path.exists("/proc/%d" % pid)
    assert not os.path.exists("/proc/%d" % pid) or \
        open("/proc/%d/stat" % pid).read().split(") ")[1][0] == "Z"
    assert not os.path.exists(CGROUP2 + "/" + c.id)
    assert not os.path.exists(os.path.join(RUNC_ROOT, c.id))


def test_containerd_cgroup_shape_and_run_once():
    uid = str(uuid.uuid4())
    cid = secrets.token_hex(32)
    path = kubepods_cgroup(uid, cid)
    with Container(name=cid, cgroups_path=path, pod_uid=uid) as c:
        rc, out, err = c.run_once(["sh", "-c", "cat /proc/self/cgroup; echo done"])
        assert rc == 0, err
        assert "0::%s\n" % path in out, out
        assert out.endswith("done\n"), out
    # runc removes the leaf; the harness removes the parents it created.
    assert not os.path.exists(CGROUP2 + "/kubepods/besteffort/pod" + uid)


def test_veth_between_containers_v4_v6():
    with Netns() as na, Netns() as nb:
        veth_between(na, nb)
        with Container(netns=na) as srv, Container(netns=nb) as cli:
            srv.start()
            cli.start()
            srv.exec_detached(["httpd", "-f", "-p", "10.213.0.1:8080", "-h", "/www"])
            srv.exec_detached(["httpd", "-f", "-p", "[fd00:213::1]:8081", "-h", "/www"])
            for url in ("http://10.213.0.1:8080/index.html",
                        "http://[fd00:213::1]:8081/index.html"):
                last = None
                for _ in range(20):
                    rc, out, err = cli.exec(["wget", "-q", "-O", "-", url], check=False)
                    if rc == 0:
                        break
                    last = err
                    import time
                    time.sleep(0.1)
                assert (rc, out) == (0, "wacht\n"), (url, rc, out, last)


def test_checker_finds_leaks():
    before = snapshot()
    c = Container()
    c.start()
    ns = Netns().create()
    problems = check_clean(before, fix=True)
    text = "; ".join(problems)
    assert "runc container %s left" % c.id in text, text
    assert "netns %s left" % ns.name in text, text
    assert check_clean(before) == [], check_clean(before)
