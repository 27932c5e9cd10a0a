// SPDX-License-Identifier: Apache-2.0
/* Unit tests of cgroup_path: every runtime's cgroup shape, and what is not a container. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cgroup_path.h"

/* Ids and UIDs in the shapes the runtimes and the API server produce. */
#define ID1 "fe09304aeeb1d78579d3a41d439bd96e9ff3c1c7f293f372e155c607b3abe04c"
#define ID2 "9a57d8aba3ece7657f88b41bf9ac67fb57beebc7db3f68870209f726736e093b"
#define ID3 "7bffac2cf2d077ae382915da0a86ca91504c1baa2a2d63eab39ac32ffe7e18f1"
#define ID4 "297439353ba5b6c829ac8cef0c236c5a8ac6d8cc664f6f5defdbda9d3d009d6a"
#define UID1 "2e99f0cd-b33a-4a12-a5fa-526efd25d3b6"
#define UID1_ "2e99f0cd_b33a_4a12_a5fa_526efd25d3b6"
#define UID2 "7533e7f3-3670-49be-af4e-fd7a6618ba4e"
#define UID2_ "7533e7f3_3670_49be_af4e_fd7a6618ba4e"
/* Static (mirror) pods: the UID is a hash of the manifest, no dashes. */
#define UID_STATIC "aafd87c441ccede514151e9f167a4186"

/* Parse path; expect rc, and on success runtime, id, pod uid and the
 * length of the container's own cgroup within path. */
static void check(const char *path, int rc, enum wacht_runtime rt, const char *id,
		  const char *pod_uid, size_t cgroup_len)
{
	struct cgroup_ref ref;

	memset(&ref, 0xa5, sizeof(ref));
	assert_int_equal(cgroup_path_parse(path, &ref), rc);
	assert_int_equal(ref.runtime, rt);
	assert_string_equal(ref.id, id);
	assert_string_equal(ref.pod_uid, pod_uid);
	assert_int_equal(ref.cgroup_len, cgroup_len);
}

/* A path that is not a container: rc < 0 and *ref all zero. */
static void check_err(const char *path, int rc)
{
	static const struct cgroup_ref zero;
	struct cgroup_ref ref;

	memset(&ref, 0xa5, sizeof(ref));
	assert_int_equal(cgroup_path_parse(path, &ref), rc);
	assert_memory_equal(&ref, &zero, sizeof(ref));
}

static void test_runtime_name(void **state)
{
	(void)state;
	assert_string_equal(runtime_name(WACHT_RT_UNKNOWN), "unknown");
	assert_string_equal(runtime_name(WACHT_RT_CRIO), "cri-o");
	assert_string_equal(runtime_name(WACHT_RT_CONTAINERD), "containerd");
	assert_string_equal(runtime_name(WACHT_RT_DOCKER), "docker");
	assert_string_equal(runtime_name(WACHT_RT_PODMAN), "podman");
	assert_string_equal(runtime_name(WACHT_RT_RUNC), "runc");
	assert_string_equal(runtime_name((enum wacht_runtime)42), "unknown");
}

static void test_crio_systemd(void **state)
{
	static const char burstable[] =
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID1_
		".slice/crio-" ID1 ".scope";
	static const char besteffort[] =
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID2_
		".slice/crio-" ID2 ".scope";
	/* Guaranteed QoS: the pod slice sits right under kubepods.slice. */
	static const char guaranteed[] =
		"/kubepods.slice/kubepods-pod" UID1_ ".slice/crio-" ID3 ".scope";

	(void)state;
	check(burstable, 0, WACHT_RT_CRIO, ID1, UID1, strlen(burstable));
	check(besteffort, 0, WACHT_RT_CRIO, ID2, UID2, strlen(besteffort));
	check(guaranteed, 0, WACHT_RT_CRIO, ID3, UID1, strlen(guaranteed));
}

static void test_crio_cgroupfs(void **state)
{
	static const char burstable[] = "/kubepods/burstable/pod" UID1 "/crio-" ID1;
	static const char guaranteed[] = "/kubepods/pod" UID2 "/crio-" ID2;

	(void)state;
	check(burstable, 0, WACHT_RT_CRIO, ID1, UID1, strlen(burstable));
	check(guaranteed, 0, WACHT_RT_CRIO, ID2, UID2, strlen(guaranteed));
}

/* A sub-cgroup of the container's scope still is the container, and
 * cgroup_len points at the scope, not at the sub-cgroup. */
static void test_crio_nested(void **state)
{
#define SCOPE                                                                              \
	"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID1_ ".slice/crio-" \
	ID1 ".scope"
	static const char scope[] = SCOPE;

	(void)state;
	check(scope, 0, WACHT_RT_CRIO, ID1, UID1, strlen(scope));
	check(SCOPE "/container", 0, WACHT_RT_CRIO, ID1, UID1, strlen(scope));
	check(SCOPE "/init.scope", 0, WACHT_RT_CRIO, ID1, UID1, strlen(scope));
	check(SCOPE "/a/b/c", 0, WACHT_RT_CRIO, ID1, UID1, strlen(scope));
#undef SCOPE
}

static void test_containerd_systemd(void **state)
{
	static const char besteffort[] =
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID2_
		".slice/cri-containerd-" ID4 ".scope";
	static const char guaranteed[] =
		"/kubepods.slice/kubepods-pod" UID1_ ".slice/cri-containerd-" ID3 ".scope";

	(void)state;
	check(besteffort, 0, WACHT_RT_CONTAINERD, ID4, UID2, strlen(besteffort));
	check(guaranteed, 0, WACHT_RT_CONTAINERD, ID3, UID1, strlen(guaranteed));
}

static void test_containerd_cgroupfs(void **state)
{
	static const char besteffort[] = "/kubepods/besteffort/pod" UID1 "/" ID1;
	static const char guaranteed[] = "/kubepods/pod" UID2 "/" ID2;
	static const char static_pod[] = "/kubepods/burstable/pod" UID_STATIC "/" ID3;

	(void)state;
	check(besteffort, 0, WACHT_RT_CONTAINERD, ID1, UID1, strlen(besteffort));
	check(guaranteed, 0, WACHT_RT_CONTAINERD, ID2, UID2, strlen(guaranteed));
	check(static_pod, 0, WACHT_RT_CONTAINERD, ID3, UID_STATIC, strlen(static_pod));
}

/* containerd on cgroupfs inside its own service, kubelet on systemd: the
 * "slice:prefix:id" name becomes a directory as it is. */
static void test_containerd_colon(void **state)
{
	static const char besteffort[] =
		"/system.slice/containerd.service/kubepods-besteffort-pod" UID1_
		".slice:cri-containerd:" ID2;
	static const char burstable[] =
		"/system.slice/containerd.service/kubepods-burstable-pod" UID2_
		".slice:cri-containerd:" ID3;
	static const char crio[] =
		"/system.slice/crio.service/kubepods-pod" UID1_ ".slice:crio:" ID4;

	(void)state;
	check(besteffort, 0, WACHT_RT_CONTAINERD, ID2, UID1, strlen(besteffort));
	check(burstable, 0, WACHT_RT_CONTAINERD, ID3, UID2, strlen(burstable));
	check(crio, 0, WACHT_RT_CRIO, ID4, UID1, strlen(crio));
	/* An unknown middle field, bad hex, a third colon: none of these. */
	check_err("/system.slice/containerd.service/kubepods-besteffort-pod" UID1_
		  ".slice:rkt:" ID2, -ENOENT);
	check_err("/system.slice/containerd.service/kubepods-besteffort-pod" UID1_
		  ".slice:cri-containerd:" ID2 "0", -ENOENT);
	check_err("/system.slice/containerd.service/kubepods-besteffort-pod" UID1_
		  ".slice:cri-containerd:x:" ID2, -ENOENT);
}

/* kind: a whole node is a Docker container; the pods are below it. */
static void test_kind_nested(void **state)
{
	static const char path[] =
		"/system.slice/docker-" ID1 ".scope/kubelet.slice/kubelet-kubepods.slice/"
		"kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" UID2_
		".slice/cri-containerd-" ID2 ".scope";

	(void)state;
	check(path, 0, WACHT_RT_CONTAINERD, ID2, UID2, strlen(path));
}

static void test_docker(void **state)
{
	static const char systemd[] = "/system.slice/docker-" ID3 ".scope";
	static const char cgroupfs[] = "/docker/" ID4;

	(void)state;
	check(systemd, 0, WACHT_RT_DOCKER, ID3, "", strlen(systemd));
	check(cgroupfs, 0, WACHT_RT_DOCKER, ID4, "", strlen(cgroupfs));
	check("/docker/" ID4 "/sub", 0, WACHT_RT_DOCKER, ID4, "", strlen(cgroupfs));
	/* Docker in Docker: the innermost container, with its own length. */
	check("/docker/" ID4 "/docker/" ID1, 0, WACHT_RT_DOCKER, ID1, "",
	      strlen("/docker/" ID4 "/docker/" ID1));
}

static void test_podman(void **state)
{
#define MACHINE "/machine.slice/libpod-" ID1 ".scope"
#define ROOTLESS "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID2 ".scope"
	static const char machine[] = MACHINE;
	static const char rootless[] = ROOTLESS;
	static const char cgroupfs[] = "/libpod_parent/libpod-" ID3;

	(void)state;
	check(machine, 0, WACHT_RT_PODMAN, ID1, "", strlen(machine));
	check(rootless, 0, WACHT_RT_PODMAN, ID2, "", strlen(rootless));
	check(cgroupfs, 0, WACHT_RT_PODMAN, ID3, "", strlen(cgroupfs));
	/* podman run with systemd cgroups puts the workload one level down. */
	check(MACHINE "/container", 0, WACHT_RT_PODMAN, ID1, "", strlen(machine));
	check(ROOTLESS "/container", 0, WACHT_RT_PODMAN, ID2, "", strlen(rootless));
#undef MACHINE
#undef ROOTLESS
}

static void test_runc_plain(void **state)
{
	char id127[129], path[160];

	(void)state;
	check("/mycontainer", 1, WACHT_RT_RUNC, "mycontainer", "", strlen("/mycontainer"));
	check("/wacht-test/ctr-1", 1, WACHT_RT_RUNC, "ctr-1", "", strlen("/wacht-test/ctr-1"));
	check("/a_b+c.d-e", 1, WACHT_RT_RUNC, "a_b+c.d-e", "", strlen("/a_b+c.d-e"));
	/* A 64-hex runc id outside any runtime's parent is still runc's. */
	check("/" ID1, 1, WACHT_RT_RUNC, ID1, "", 65);
	/* "pod..." only means a pod under kubepods. */
	check("/foo/pod" UID1 "/" ID2, 1, WACHT_RT_RUNC, ID2, "",
	      strlen("/foo/pod" UID1 "/" ID2));
	/* runc --systemd-cgroup, default "system.slice:runc:<id>". */
	check("/system.slice/runc-web1.scope", 0, WACHT_RT_RUNC, "web1", "",
	      strlen("/system.slice/runc-web1.scope"));

	/* The longest id that fits ref->id, and one byte more. */
	memset(id127, 'x', 127);
	id127[127] = '\0';
	snprintf(path, sizeof(path), "/%s", id127);
	check(path, 1, WACHT_RT_RUNC, id127, "", 128);
	snprintf(path, sizeof(path), "/%sx", id127);
	check_err(path, -ENAMETOOLONG);
}

/* Empty components and cgroup-namespace views ("/../..") still parse. */
static void test_odd_spelling(void **state)
{
	(void)state;
	check("//system.slice//docker-" ID1 ".scope/", 0, WACHT_RT_DOCKER, ID1, "",
	      strlen("//system.slice//docker-" ID1 ".scope"));
	check("/../../kubepods/besteffort/pod" UID1 "/" ID2, 0, WACHT_RT_CONTAINERD, ID2, UID1,
	      strlen("/../../kubepods/besteffort/pod" UID1 "/" ID2));
	check("/wacht-test/ctr-1/", 1, WACHT_RT_RUNC, "ctr-1", "", strlen("/wacht-test/ctr-1"));
}

/* A pod component that does not hold a UID leaves pod_uid empty. */
static void test_bad_pod_uid(void **state)
{
	static const char upper[] = "/kubepods.slice/kubepods-besteffort.slice/"
				    "kubepods-besteffort-pod2E99F0CD_B33A.slice/crio-" ID1 ".scope";
	static const char dashes[] = "/kubepods.slice/kubepods-besteffort.slice/"
				     "kubepods-besteffort-pod" UID1 ".slice/crio-" ID1 ".scope";
	static const char empty[] = "/kubepods.slice/kubepods-pod.slice/crio-" ID1 ".scope";
	static const char toolong[] =
		"/kubepods/pod" UID1 UID2 "/crio-" ID1;

	(void)state;
	check(upper, 0, WACHT_RT_CRIO, ID1, "", strlen(upper));
	/* systemd spells the UID's dashes as "_"; dashes here are not a UID. */
	check(dashes, 0, WACHT_RT_CRIO, ID1, "", strlen(dashes));
	check(empty, 0, WACHT_RT_CRIO, ID1, "", strlen(empty));
	check(toolong, 0, WACHT_RT_CRIO, ID1, "", strlen(toolong));
	/* Valid for 8 characters, then a dash: nothing of it may be kept. */
	check("/system.slice/containerd.service/kubepods-besteffort-pod" UID1
	      ".slice:cri-containerd:" ID2, 0, WACHT_RT_CONTAINERD, ID2, "",
	      strlen("/system.slice/containerd.service/kubepods-besteffort-pod" UID1
		     ".slice:cri-containerd:" ID2));
	/* The bare-id shape needs a valid pod parent. */
	check_err("/kubepods/besteffort/podXYZ/" ID1, -ENOENT);
}

static void test_not_container(void **state)
{
	(void)state;
	check_err("/", -ENOENT);
	check_err("", -ENOENT);
	check_err("///", -ENOENT);
	check_err("/init.scope", -ENOENT);
	check_err("/system.slice", -ENOENT);
	check_err("/system.slice/sshd.service", -ENOENT);
	check_err("/system.slice/containerd.service", -ENOENT);
	check_err("/system.slice/var-lib-containers-storage-overlay.mount", -ENOENT);
	check_err("/system.slice/docker.socket", -ENOENT);
	check_err("/sys-fs-fuse-connections.mount", -ENOENT);
	check_err("/user.slice/user-1000.slice/session-3.scope", -ENOENT);
	check_err("/user.slice/user-1000.slice/user@1000.service", -ENOENT);
	check_err("/user.slice/user-1000.slice/user@1000.service/init.scope", -ENOENT);
	check_err("/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service", -ENOENT);
	/* conmon, next to each CRI-O / Podman container, is the host's. */
	check_err("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID1_
		  ".slice/crio-conmon-" ID1 ".scope", -ENOENT);
	check_err("/machine.slice/libpod-conmon-" ID1 ".scope", -ENOENT);
	check_err("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-" ID2
		  ".scope", -ENOENT);
	check_err("/libpod_parent/conmon", -ENOENT);
	/* Kubernetes' own levels: root, QoS, pod. */
	check_err("/kubepods", -ENOENT);
	check_err("/kubepods/besteffort", -ENOENT);
	check_err("/kubepods/burstable/pod" UID1, -ENOENT);
	check_err("/kubepods.slice/kubepods-besteffort.slice", -ENOENT);
	check_err("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID1_ ".slice",
		  -ENOENT);
	/* Names runc would refuse as ids. */
	check_err("/foo bar", -ENOENT);
	check_err("/caf\xc3\xa9", -ENOENT);
	check_err("/..", -ENOENT);
	check_err("/a/.", -ENOENT);
	check_err("/x:y", -ENOENT);
}

/* Runtime prefixes with an id that is not 64 lowercase hex. */
static void test_bad_hex(void **state)
{
	static const char short_id[] = "fe09304aeeb1d78579d3a41d439bd96e9ff3c1c7f293f372e155c607b3abe04";
	static const char upper_id[] = "FE09304AEEB1D78579D3A41D439BD96E9FF3C1C7F293F372E155C607B3ABE04C";
	static const char nonhex[] = "ge09304aeeb1d78579d3a41d439bd96e9ff3c1c7f293f372e155c607b3abe04c";
	char path[256];

	(void)state;
	snprintf(path, sizeof(path), "/system.slice/docker-%s.scope", short_id);
	check_err(path, -ENOENT);
	snprintf(path, sizeof(path), "/system.slice/docker-%s.scope", upper_id);
	check_err(path, -ENOENT);
	snprintf(path, sizeof(path), "/machine.slice/libpod-%s.scope", nonhex);
	check_err(path, -ENOENT);
	snprintf(path, sizeof(path), "/kubepods.slice/kubepods-pod" UID1_ ".slice/crio-%s.scope",
		 ID1 "0");
	check_err(path, -ENOENT);
	snprintf(path, sizeof(path), "/kubepods/besteffort/pod" UID1 "/%s", short_id);
	check_err(path, -ENOENT);
	snprintf(path, sizeof(path), "/kubepods/besteffort/pod" UID1 "/crio-%s", upper_id);
	check_err(path, -ENOENT);
	/* Outside kubepods a bad-hex "docker-..." directory can only be a
	 * runc container of that name; the caller's state lookup decides. */
	snprintf(path, sizeof(path), "/docker-%s", short_id);
	check(path, 1, WACHT_RT_RUNC, path + 1, "", strlen(path));
}

static void test_invalid(void **state)
{
	static const char tail[] = "/docker-" ID2 ".scope";
	struct cgroup_ref ref;
	char *big;

	(void)state;
	assert_int_equal(cgroup_path_parse(NULL, &ref), -EINVAL);
	assert_int_equal(cgroup_path_parse("/docker/" ID1, NULL), -EINVAL);
	check_err("system.slice/docker-" ID1 ".scope", -EINVAL);
	check_err("docker/" ID1, -EINVAL);

	/* CGROUP_PATH_MAX - 1 bytes parse; CGROUP_PATH_MAX do not. */
	big = malloc(CGROUP_PATH_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', CGROUP_PATH_MAX);
	big[0] = '/';
	for (size_t i = 100; i < CGROUP_PATH_MAX; i += 100)
		big[i] = '/';
	memcpy(big + CGROUP_PATH_MAX - 1 - strlen(tail), tail, strlen(tail));
	big[CGROUP_PATH_MAX - 1] = '\0';
	check(big, 0, WACHT_RT_DOCKER, ID2, "", CGROUP_PATH_MAX - 1);
	memset(big, 'a', CGROUP_PATH_MAX);
	big[0] = '/';
	big[CGROUP_PATH_MAX] = '\0';
	check_err(big, -ENAMETOOLONG);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runtime_name),
		cmocka_unit_test(test_crio_systemd),
		cmocka_unit_test(test_crio_cgroupfs),
		cmocka_unit_test(test_crio_nested),
		cmocka_unit_test(test_containerd_systemd),
		cmocka_unit_test(test_containerd_cgroupfs),
		cmocka_unit_test(test_containerd_colon),
		cmocka_unit_test(test_kind_nested),
		cmocka_unit_test(test_docker),
		cmocka_unit_test(test_podman),
		cmocka_unit_test(test_runc_plain),
		cmocka_unit_test(test_odd_spelling),
		cmocka_unit_test(test_bad_pod_uid),
		cmocka_unit_test(test_not_container),
		cmocka_unit_test(test_bad_hex),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
