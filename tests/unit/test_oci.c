// SPDX-License-Identifier: Apache-2.0
/* Unit tests of oci: CRI-O, containerd and runc config.json, runc state.json, malformed input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oci.h"

#define CTR_ID "fe09304aeeb1d78579d3a41d439bd96e9ff3c1c7f293f372e155c607b3abe04c"
#define SANDBOX_ID "9a57d8aba3ece7657f88b41bf9ac67fb57beebc7db3f68870209f726736e093b"
#define POD_UID "2e99f0cd-b33a-4a12-a5fa-526efd25d3b6"
#define POD "web-6d4b9c7f5d-x2kqp"

/* A CRI-O 1.28 container's config.json (process, mounts and linux cut to
 * what shows the shape). */
static const char crio_container[] =
	"{\n"
	"  \"ociVersion\": \"1.0.2-dev\",\n"
	"  \"process\": {\"user\": {\"uid\": 101, \"gid\": 101}, \"args\": [\"nginx\", \"-g\", \"daemon off;\"],\n"
	"    \"env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", \"HOSTNAME=" POD "\"],\n"
	"    \"cwd\": \"/\", \"capabilities\": {\"bounding\": [\"CAP_CHOWN\", \"CAP_NET_BIND_SERVICE\"]},\n"
	"    \"oomScoreAdj\": 1000},\n"
	"  \"root\": {\"path\": \"/var/lib/containers/storage/overlay/1b2f0c9a/merged\"},\n"
	"  \"hostname\": \"" POD "\",\n"
	"  \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\", \"options\": [\"nosuid\", \"noexec\", \"nodev\"]}],\n"
	"  \"annotations\": {\n"
	"    \"io.container.manager\": \"cri-o\",\n"
	"    \"io.kubernetes.container.hash\": \"3b5f0a1c\",\n"
	"    \"io.kubernetes.container.name\": \"nginx\",\n"
	"    \"io.kubernetes.container.restartCount\": \"0\",\n"
	"    \"io.kubernetes.cri-o.Annotations\": \"{\\\"io.kubernetes.container.hash\\\":\\\"3b5f0a1c\\\"}\",\n"
	"    \"io.kubernetes.cri-o.ContainerID\": \"" CTR_ID "\",\n"
	"    \"io.kubernetes.cri-o.ContainerType\": \"container\",\n"
	"    \"io.kubernetes.cri-o.Created\": \"2024-03-11T09:12:44.123456789Z\",\n"
	"    \"io.kubernetes.cri-o.Image\": \"a8758716bb6aa4d90071160d27028fe4eaee7ce8166221a97d30440c8eac2be6\",\n"
	"    \"io.kubernetes.cri-o.ImageName\": \"docker.io/library/nginx:1.25.4\",\n"
	"    \"io.kubernetes.cri-o.ImageRef\": \"a8758716bb6aa4d90071160d27028fe4eaee7ce8166221a97d30440c8eac2be6\",\n"
	"    \"io.kubernetes.cri-o.Labels\": \"{\\\"io.kubernetes.container.name\\\":\\\"nginx\\\","
	"\\\"io.kubernetes.pod.name\\\":\\\"" POD "\\\",\\\"io.kubernetes.pod.namespace\\\":\\\"shop\\\","
	"\\\"io.kubernetes.pod.uid\\\":\\\"" POD_UID "\\\"}\",\n"
	"    \"io.kubernetes.cri-o.LogPath\": \"/var/log/pods/shop_" POD "_" POD_UID "/nginx/0.log\",\n"
	"    \"io.kubernetes.cri-o.Metadata\": \"{\\\"name\\\":\\\"nginx\\\"}\",\n"
	"    \"io.kubernetes.cri-o.Name\": \"k8s_nginx_" POD "_shop_" POD_UID "_0\",\n"
	"    \"io.kubernetes.cri-o.SandboxID\": \"" SANDBOX_ID "\",\n"
	"    \"io.kubernetes.cri-o.SandboxName\": \"k8s_" POD "_shop_" POD_UID "_0\",\n"
	"    \"io.kubernetes.cri-o.SeccompProfilePath\": \"RuntimeDefault\",\n"
	"    \"io.kubernetes.cri-o.TTY\": \"false\",\n"
	"    \"io.kubernetes.pod.name\": \"" POD "\",\n"
	"    \"io.kubernetes.pod.namespace\": \"shop\",\n"
	"    \"io.kubernetes.pod.terminationGracePeriod\": \"30\",\n"
	"    \"io.kubernetes.pod.uid\": \"" POD_UID "\",\n"
	"    \"kubernetes.io/config.seen\": \"2024-03-11T09:12:40.001122334Z\",\n"
	"    \"kubernetes.io/config.source\": \"api\"\n"
	"  },\n"
	"  \"linux\": {\"cgroupsPath\": \"kubepods-besteffort-pod2e99f0cd_b33a_4a12_a5fa_526efd25d3b6.slice:crio:" CTR_ID "\",\n"
	"    \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\", \"path\": \"/var/run/netns/7f2c\"}]}\n"
	"}\n";

/* The same pod's sandbox (pause) container: the pod's own labels live here. */
static const char crio_sandbox[] =
	"{\"ociVersion\":\"1.0.2-dev\",\"hostname\":\"" POD "\",\"annotations\":{"
	"\"io.kubernetes.container.name\":\"POD\","
	"\"io.kubernetes.cri-o.ContainerType\":\"sandbox\","
	"\"io.kubernetes.cri-o.ContainerID\":\"" SANDBOX_ID "\","
	"\"io.kubernetes.cri-o.Image\":\"registry.k8s.io/pause:3.9\","
	"\"io.kubernetes.cri-o.Labels\":\"{\\\"app\\\":\\\"web\\\",\\\"io.kubernetes.container.name\\\":\\\"POD\\\","
	"\\\"io.kubernetes.pod.name\\\":\\\"" POD "\\\",\\\"io.kubernetes.pod.namespace\\\":\\\"shop\\\","
	"\\\"io.kubernetes.pod.uid\\\":\\\"" POD_UID "\\\",\\\"pod-template-hash\\\":\\\"6d4b9c7f5d\\\","
	"\\\"tier\\\":\\\"frontend\\\"}\","
	"\"io.kubernetes.cri-o.SandboxID\":\"" SANDBOX_ID "\","
	"\"io.kubernetes.pod.name\":\"" POD "\","
	"\"io.kubernetes.pod.namespace\":\"shop\","
	"\"io.kubernetes.pod.uid\":\"" POD_UID "\"}}";

/* containerd 1.7's CRI plugin: its own annotation names, no labels. */
static const char containerd_container[] =
	"{\"ociVersion\":\"1.1.0\",\"process\":{\"args\":[\"/usr/local/bin/redis-server\"],\"cwd\":\"/data\"},"
	"\"root\":{\"path\":\"rootfs\"},\"hostname\":\"\","
	"\"annotations\":{"
	"\"io.kubernetes.cri.container-name\":\"redis\","
	"\"io.kubernetes.cri.container-type\":\"container\","
	"\"io.kubernetes.cri.image-name\":\"docker.io/library/redis:7.2.4\","
	"\"io.kubernetes.cri.sandbox-id\":\"" SANDBOX_ID "\","
	"\"io.kubernetes.cri.sandbox-name\":\"cache-0\","
	"\"io.kubernetes.cri.sandbox-namespace\":\"shop\","
	"\"io.kubernetes.cri.sandbox-uid\":\"7533e7f3-3670-49be-af4e-fd7a6618ba4e\"},"
	"\"linux\":{\"cgroupsPath\":\"/kubepods/besteffort/pod7533e7f3-3670-49be-af4e-fd7a6618ba4e/" CTR_ID "\"}}";

static const char containerd_sandbox[] =
	"{\"ociVersion\":\"1.1.0\",\"hostname\":\"cache-0\",\"annotations\":{"
	"\"io.kubernetes.cri.container-type\":\"sandbox\","
	"\"io.kubernetes.cri.sandbox-id\":\"" SANDBOX_ID "\","
	"\"io.kubernetes.cri.sandbox-log-directory\":\"/var/log/pods/shop_cache-0_7533e7f3-3670-49be-af4e-fd7a6618ba4e\","
	"\"io.kubernetes.cri.sandbox-name\":\"cache-0\","
	"\"io.kubernetes.cri.sandbox-namespace\":\"shop\","
	"\"io.kubernetes.cri.sandbox-uid\":\"7533e7f3-3670-49be-af4e-fd7a6618ba4e\"}}";

/* What `runc spec` writes, plus the annotations a test harness adds. */
static const char runc_plain[] =
	"{\"ociVersion\":\"1.0.2-dev\",\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
	"\"args\":[\"sleep\",\"5\"],\"env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\","
	"\"TERM=xterm\"],\"cwd\":\"/\",\"noNewPrivileges\":true},\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
	"\"hostname\":\"runc\",\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"}],"
	"\"annotations\":{\"io.kubernetes.pod.name\":\"wacht-test\",\"io.kubernetes.pod.namespace\":\"default\","
	"\"io.kubernetes.container.name\":\"ctr-1\","
	"\"org.opencontainers.image.ref.name\":\"docker.io/library/busybox:1.36.1\"},"
	"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"}]}}";

/* runc 1.1.5's state.json for a container run with annotations (captured
 * on the build VM, arrays cut short, bundle path renamed). */
static const char runc_state[] =
	"{\"id\":\"web\",\"init_process_pid\":48213,\"init_process_start\":394761,\"created\":\"2"
	"026-11-27T06:42:38.919017994Z\",\"config\":{\"no_pivot_root\":false,\"parent_death_signa"
	"l\":0,\"rootfs\":\"/var/lib/wacht-test/bundles/web/rootfs\",\"umask\":null,\"readonlyfs\""
	":true,\"rootPropagation\":0,\"mounts\":[{\"source\":\"proc\",\"destination\":\"/proc\",\""
	"device\":\"proc\",\"flags\":0,\"propagation_flags\":null,\"data\":\"\",\"relabel\":\"\","
	"\"rec_attr\":null,\"extensions\":0,\"premount_cmds\":null,\"postmount_cmds\":null},{\"so"
	"urce\":\"tmpfs\",\"destination\":\"/dev\",\"device\":\"tmpfs\",\"flags\":16777218,\"prop"
	"agation_flags\":null,\"data\":\"mode=755,size=65536k\",\"relabel\":\"\",\"rec_attr\":nul"
	"l,\"extensions\":0,\"premount_cmds\":null,\"postmount_cmds\":null}],\"devices\":[{\"type"
	"\":99,\"major\":1,\"minor\":3,\"permissions\":\"rwm\",\"allow\":true,\"path\":\"/dev/nul"
	"l\",\"file_mode\":438,\"uid\":0,\"gid\":0}],\"mount_label\":\"\",\"hostname\":\"wacht-h\""
	",\"namespaces\":[{\"type\":\"NEWPID\",\"path\":\"\"},{\"type\":\"NEWNET\",\"path\":\"\"}"
	",{\"type\":\"NEWIPC\",\"path\":\"\"},{\"type\":\"NEWUTS\",\"path\":\"\"},{\"type\":\"NEW"
	"NS\",\"path\":\"\"}],\"capabilities\":{\"Bounding\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\""
	"CAP_NET_BIND_SERVICE\"],\"Effective\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_S"
	"ERVICE\"],\"Inheritable\":null,\"Permitted\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET"
	"_BIND_SERVICE\"],\"Ambient\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"]"
	"},\"networks\":[{\"type\":\"loopback\",\"name\":\"\",\"bridge\":\"\",\"mac_address\":\"\""
	",\"address\":\"\",\"gateway\":\"\",\"ipv6_address\":\"\",\"ipv6_gateway\":\"\",\"mtu\":0"
	",\"txqueuelen\":0,\"host_interface_name\":\"\",\"hairpin_mode\":false}],\"routes\":null,"
	"\"cgroups\":{\"name\":\"web\",\"path\":\"\",\"scope_prefix\":\"\",\"devices\":[{\"type\""
	":97,\"major\":-1,\"minor\":-1,\"permissions\":\"rwm\",\"allow\":false}],\"memory\":0,\"m"
	"emory_reservation\":0,\"memory_swap\":0,\"cpu_shares\":0,\"cpu_quota\":0,\"cpu_period\":"
	"0,\"cpu_rt_quota\":0,\"cpu_rt_period\":0,\"cpuset_cpus\":\"\",\"cpuset_mems\":\"\",\"pid"
	"s_limit\":0,\"blkio_weight\":0,\"blkio_leaf_weight\":0,\"blkio_weight_device\":null,\"bl"
	"kio_throttle_read_bps_device\":null,\"blkio_throttle_write_bps_device\":null,\"blkio_thr"
	"ottle_read_iops_device\":null,\"blkio_throttle_write_iops_device\":null,\"freezer\":\"\""
	",\"hugetlb_limit\":null,\"oom_kill_disable\":false,\"memory_swappiness\":null,\"net_prio"
	"_ifpriomap\":null,\"net_cls_classid_u\":0,\"rdma\":null,\"cpu_weight\":0,\"unified\":nul"
	"l,\"Systemd\":false,\"Rootless\":false},\"uid_mappings\":null,\"gid_mappings\":null,\"ma"
	"sk_paths\":[\"/proc/acpi\",\"/proc/asound\"],\"readonly_paths\":[\"/proc/bus\",\"/proc/f"
	"s\"],\"sysctl\":null,\"seccomp\":null,\"no_new_privileges\":true,\"Hooks\":{\"createCont"
	"ainer\":null,\"createRuntime\":null,\"poststart\":null,\"poststop\":null,\"prestart\":nu"
	"ll,\"startContainer\":null},\"version\":\"1.0.2-dev\",\"labels\":[\"io.kubernetes.cri-o."
	"Labels={\\\"app\\\":\\\"web\\\"}\",\"io.kubernetes.pod.name=web-7d4b9\",\"io.kubernetes."
	"pod.namespace=shop\",\"io.kubernetes.container.name=nginx\",\"bundle=/var/lib/wacht-test"
	"/bundles/web\"],\"no_new_keyring\":false},\"rootless\":false,\"cgroup_paths\":{\"\":\"/s"
	"ys/fs/cgroup/unified/web\",\"blkio\":\"/sys/fs/cgroup/blkio/web\",\"cpu\":\"/sys/fs/cgro"
	"up/cpu/web\",\"cpuacct\":\"/sys/fs/cgroup/cpuacct/web\",\"cpuset\":\"/sys/fs/cgroup/cpus"
	"et/web\",\"devices\":\"/sys/fs/cgroup/devices/web\",\"freezer\":\"/sys/fs/cgroup/freezer"
	"/web\",\"memory\":\"/sys/fs/cgroup/memory/process_api/8e796ea809e72b272a2eec5181790d2f/w"
	"eb\",\"name=systemd\":\"/sys/fs/cgroup/systemd/web\",\"pids\":\"/sys/fs/cgroup/pids/web\""
	"},\"namespace_paths\":{\"NEWCGROUP\":\"/proc/48213/ns/cgroup\",\"NEWIPC\":\"/proc/48213/"
	"ns/ipc\",\"NEWNET\":\"/proc/48213/ns/net\",\"NEWNS\":\"/proc/48213/ns/mnt\",\"NEWPID\":\""
	"/proc/48213/ns/pid\",\"NEWUSER\":\"/proc/48213/ns/user\",\"NEWUTS\":\"/proc/48213/ns/uts"
	"\"},\"external_descriptors\":[\"/dev/null\",\"/dev/null\",\"/dev/null\"],\"intel_rdt_pat"
	"h\":\"\"}";

static size_t zero_count(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i, z = 0;

	for (i = 0; i < n; i++)
		z += b[i] == 0;
	return z;
}

static void assert_meta_zero(const struct container_meta *m)
{
	assert_int_equal(zero_count(m, sizeof(*m)), sizeof(*m));
}

static int parse(const char *doc, struct container_meta *m)
{
	memset(m, 0xa5, sizeof(*m));
	return oci_config_parse(doc, strlen(doc), m);
}

static void assert_label(const struct container_meta *m, unsigned i, const char *k, const char *v)
{
	assert_true(i < m->n_labels);
	assert_string_equal(m->labels[i].key, k);
	assert_string_equal(m->labels[i].value, v);
}

static void test_crio_container(void **state)
{
	struct container_meta m;

	(void)state;
	assert_int_equal(parse(crio_container, &m), 0);
	assert_string_equal(m.name, "nginx");
	assert_string_equal(m.pod, POD);
	assert_string_equal(m.namespace, "shop");
	assert_string_equal(m.pod_uid, POD_UID);
	assert_string_equal(m.image, "docker.io/library/nginx:1.25.4");
	assert_string_equal(m.sandbox_id, SANDBOX_ID);
	assert_false(m.is_sandbox);
	assert_string_equal(m.hostname, POD);
	assert_int_equal(m.n_labels, 4);
	assert_int_equal(m.labels_dropped, 0);
	assert_label(&m, 0, "io.kubernetes.container.name", "nginx");
	assert_label(&m, 1, "io.kubernetes.pod.name", POD);
	assert_label(&m, 2, "io.kubernetes.pod.namespace", "shop");
	assert_label(&m, 3, "io.kubernetes.pod.uid", POD_UID);
	/* The rest of the array stays zeroed. */
	assert_int_equal(zero_count(&m.labels[4], sizeof(m.labels[4])), sizeof(m.labels[4]));
}

static void test_crio_sandbox(void **state)
{
	struct container_meta m;

	(void)state;
	assert_int_equal(parse(crio_sandbox, &m), 0);
	assert_true(m.is_sandbox);
	assert_string_equal(m.name, "POD");
	assert_string_equal(m.pod, POD);
	assert_string_equal(m.namespace, "shop");
	/* No ImageName on a sandbox: Image is the fallback. */
	assert_string_equal(m.image, "registry.k8s.io/pause:3.9");
	assert_string_equal(m.sandbox_id, SANDBOX_ID);
	assert_int_equal(m.n_labels, 7);
	assert_int_equal(m.labels_dropped, 0);
	assert_label(&m, 0, "app", "web");
	assert_label(&m, 5, "pod-template-hash", "6d4b9c7f5d");
	assert_label(&m, 6, "tier", "frontend");
}

static void test_containerd(void **state)
{
	struct container_meta m;

	(void)state;
	assert_int_equal(parse(containerd_container, &m), 0);
	assert_string_equal(m.name, "redis");
	assert_string_equal(m.pod, "cache-0");
	assert_string_equal(m.namespace, "shop");
	assert_string_equal(m.pod_uid, "7533e7f3-3670-49be-af4e-fd7a6618ba4e");
	assert_string_equal(m.image, "docker.io/library/redis:7.2.4");
	assert_string_equal(m.sandbox_id, SANDBOX_ID);
	assert_false(m.is_sandbox);
	assert_string_equal(m.hostname, "");
	assert_int_equal(m.n_labels, 0);
	assert_int_equal(m.labels_dropped, 0);

	assert_int_equal(parse(containerd_sandbox, &m), 0);
	assert_true(m.is_sandbox);
	assert_string_equal(m.name, "");
	assert_string_equal(m.pod, "cache-0");
	assert_string_equal(m.image, "");
	assert_string_equal(m.hostname, "cache-0");
}

static void test_runc_plain(void **state)
{
	struct container_meta m;

	(void)state;
	assert_int_equal(parse(runc_plain, &m), 0);
	assert_string_equal(m.name, "ctr-1");
	assert_string_equal(m.pod, "wacht-test");
	assert_string_equal(m.namespace, "default");
	assert_string_equal(m.pod_uid, "");
	assert_string_equal(m.image, "docker.io/library/busybox:1.36.1");
	assert_string_equal(m.sandbox_id, "");
	assert_false(m.is_sandbox);
	assert_string_equal(m.hostname, "runc");
}

/* First non-empty annotation of each list wins. */
static void test_precedence(void **state)
{
	struct container_meta m;

	(void)state;
	assert_int_equal(parse("{\"annotations\":{"
			       "\"io.kubernetes.cri.container-name\":\"cri\","
			       "\"io.kubernetes.container.name\":\"crio\","
			       "\"org.opencontainers.image.ref.name\":\"oci\","
			       "\"io.kubernetes.cri.image-name\":\"cri\","
			       "\"io.kubernetes.cri-o.Image\":\"image\","
			       "\"io.kubernetes.cri-o.ImageName\":\"\"}}", &m), 0);
	assert_string_equal(m.name, "crio");
	assert_string_equal(m.image, "image");

	assert_int_equal(parse("{\"annotations\":{"
			       "\"org.opencontainers.image.ref.name\":\"oci\","
			       "\"io.kubernetes.cri.image-name\":\"cri\"}}", &m), 0);
	assert_string_equal(m.image, "cri");

	/* A wrong type counts as absent, so the next key is used. */
	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.pod.name\":5,"
			       "\"io.kubernetes.cri.sandbox-name\":\"p\"}}", &m), 0);
	assert_string_equal(m.pod, "p");

	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.cri-o.ContainerType\":\"Sandbox\"}}", &m), 0);
	assert_false(m.is_sandbox);
	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.cri.container-type\":\"sandbox\"}}", &m), 0);
	assert_true(m.is_sandbox);
	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.cri.container-type\":\"sandboxes\"}}", &m), 0);
	assert_false(m.is_sandbox);
}

/* Valid JSON objects without what is looked for: 0, fields empty. */
static void test_missing_and_wrong_types(void **state)
{
	static const char *const docs[] = {
		"{}",
		" {\"ociVersion\":\"1.0.2\"}\n",
		"{\"annotations\":null}",
		"{\"annotations\":[\"io.kubernetes.pod.name\",\"web\"]}",
		"{\"annotations\":\"io.kubernetes.pod.name=web\"}",
		"{\"annotations\":42,\"hostname\":7}",
		"{\"annotations\":{\"io.kubernetes.pod.name\":[\"web\"],\"io.kubernetes.container.name\":{},"
		"\"io.kubernetes.pod.namespace\":null,\"io.kubernetes.pod.uid\":true,"
		"\"io.kubernetes.cri-o.ImageName\":1.5,\"io.kubernetes.cri-o.ContainerType\":false,"
		"\"io.kubernetes.cri-o.Labels\":{\"app\":\"web\"}},\"hostname\":null}",
		"{\"hostname\":{\"name\":\"h\"},\"annotations\":{\"io.kubernetes.cri-o.Labels\":\"\"}}",
	};
	struct container_meta m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		assert_int_equal(parse(docs[i], &m), 0);
		assert_meta_zero(&m);
	}
	assert_int_equal(parse("{\"hostname\":\"only-host\"}", &m), 0);
	assert_string_equal(m.hostname, "only-host");
	assert_string_equal(m.pod, "");
}

static void test_labels(void **state)
{
	struct container_meta m;
	char doc[8192], *p;
	int i;

	(void)state;
	/* Not JSON, not an object, truncated: no labels, the rest still read. */
	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.pod.name\":\"web\","
			       "\"io.kubernetes.cri-o.Labels\":\"{not json\"}}", &m), 0);
	assert_string_equal(m.pod, "web");
	assert_int_equal(m.n_labels, 0);
	assert_int_equal(m.labels_dropped, 0);
	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.cri-o.Labels\":\"[\\\"a\\\",\\\"b\\\"]\"}}", &m), 0);
	assert_int_equal(m.n_labels, 0);
	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.cri-o.Labels\":\"{\\\"a\\\":\\\"b\\\"\"}}", &m), 0);
	assert_int_equal(m.n_labels, 0);
	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.cri-o.Labels\":\"{\\\"a\\\":\\\"b\\\"} x\"}}", &m), 0);
	assert_int_equal(m.n_labels, 0);

	/* Non-string values are dropped and counted; empty values kept. */
	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.cri-o.Labels\":"
			       "\"{\\\"a\\\":1,\\\"b\\\":\\\"x\\\",\\\"c\\\":null,\\\"d\\\":{},\\\"e\\\":\\\"\\\"}\"}}", &m), 0);
	assert_int_equal(m.n_labels, 2);
	assert_int_equal(m.labels_dropped, 3);
	assert_label(&m, 0, "b", "x");
	assert_label(&m, 1, "e", "");

	/* 40 labels: 32 kept in order, 8 counted. */
	p = doc + sprintf(doc, "{\"annotations\":{\"io.kubernetes.cri-o.Labels\":\"{");
	for (i = 0; i < 40; i++)
		p += sprintf(p, "%s\\\"k%02d\\\":\\\"v%02d\\\"", i ? "," : "", i, i);
	strcpy(p, "}\"}}");
	assert_int_equal(parse(doc, &m), 0);
	assert_int_equal(m.n_labels, OCI_LABELS_MAX);
	assert_int_equal(m.labels_dropped, 8);
	assert_label(&m, 0, "k00", "v00");
	assert_label(&m, 31, "k31", "v31");

	/* Key of 127 bytes fits, 128 does not; value of 255 fits, 256 not;
	 * a value with a NUL inside is dropped rather than cut. */
	p = doc + sprintf(doc, "{\"annotations\":{\"io.kubernetes.cri-o.Labels\":\"{\\\"");
	memset(p, 'k', 127);
	p += 127;
	p += sprintf(p, "\\\":\\\"ok\\\",\\\"");
	memset(p, 'K', 128);
	p += 128;
	p += sprintf(p, "\\\":\\\"long-key\\\",\\\"v255\\\":\\\"");
	memset(p, 'v', 255);
	p += 255;
	p += sprintf(p, "\\\",\\\"v256\\\":\\\"");
	memset(p, 'w', 256);
	p += 256;
	strcpy(p, "\\\",\\\"nul\\\":\\\"a\\\\u0000b\\\"}\"}}");
	assert_int_equal(parse(doc, &m), 0);
	assert_int_equal(m.n_labels, 2);
	assert_int_equal(m.labels_dropped, 3);
	assert_int_equal(strlen(m.labels[0].key), 127);
	assert_string_equal(m.labels[0].value, "ok");
	assert_string_equal(m.labels[1].key, "v255");
	assert_int_equal(strlen(m.labels[1].value), 255);
}

/* Over-long values are cut, NUL-terminated, never inside a UTF-8 character. */
static void test_truncation(void **state)
{
	struct container_meta m;
	char doc[2048], *p;

	(void)state;
	p = doc + sprintf(doc, "{\"hostname\":\"");
	memset(p, 'h', 300);
	p += 300;
	p += sprintf(p, "\",\"annotations\":{\"io.kubernetes.container.name\":\"");
	/* 254 ASCII bytes then "é" (2 bytes) would end at byte 256: cut before it. */
	memset(p, 'n', 254);
	p += 254;
	p += sprintf(p, "\xc3\xa9\",\"io.kubernetes.cri-o.ImageName\":\"");
	/* 510 bytes then "€" (3 bytes): cut before it. */
	memset(p, 'i', 510);
	p += 510;
	p += sprintf(p, "\xe2\x82\xac\",\"io.kubernetes.pod.name\":\"");
	/* 253 bytes then "é": fits exactly in 255. */
	memset(p, 'p', 253);
	p += 253;
	strcpy(p, "\xc3\xa9\"}}");

	assert_int_equal(parse(doc, &m), 0);
	assert_int_equal(strlen(m.hostname), sizeof(m.hostname) - 1);
	assert_int_equal(strlen(m.name), 254);
	assert_int_equal(strspn(m.name, "n"), 254);
	assert_int_equal(strlen(m.image), 510);
	assert_int_equal(strlen(m.pod), 255);
	assert_memory_equal(m.pod + 253, "\xc3\xa9", 2);

	/* A JSON-escaped NUL ends the value where it is. */
	assert_int_equal(parse("{\"annotations\":{\"io.kubernetes.pod.name\":\"web\\u0000evil\"}}", &m), 0);
	assert_string_equal(m.pod, "web");
}

static void test_malformed(void **state)
{
	static const char *const docs[] = {
		"", " ", "{", "}", "{\"annotations\":", "{\"annotations\":{\"a\":\"b\"}",
		"[]", "[{}]", "\"{}\"", "42", "null", "true", "{} {}", "{}x", "{}\n}",
		"{'a':'b'}", "{\"a\":\"unterminated}", "{\"a\":tru}", "{\"a\" \"b\"}",
		"\xef\xbb\xbf{}",
	};
	struct container_meta m;
	size_t i, half;
	char *buf;

	(void)state;
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		assert_int_equal(parse(docs[i], &m), -EINVAL);
		assert_meta_zero(&m);
	}
	/* A config.json cut anywhere is rejected, never half-read. */
	for (half = 1; half < sizeof(crio_container) - 3; half += 7) {
		buf = malloc(half);
		assert_non_null(buf);
		memcpy(buf, crio_container, half);
		memset(&m, 0xa5, sizeof(m));
		assert_int_equal(oci_config_parse(buf, half, &m), -EINVAL);
		assert_meta_zero(&m);
		free(buf);
	}
	/* A NUL inside the buffer ends the document early. */
	assert_int_equal(oci_config_parse("{\"a\":\"b\0\"}", 10, &m), -EINVAL);
	assert_int_equal(oci_config_parse("{}\0", 3, &m), -EINVAL);
	assert_int_equal(oci_config_parse(NULL, 10, &m), -EINVAL);
	assert_int_equal(oci_config_parse("{}", 2, NULL), -EINVAL);
	/* The size bound is checked before a byte is read. */
	assert_int_equal(oci_config_parse("{}", (size_t)OCI_JSON_MAX + 1, &m), -EFBIG);
	/* Deeper than json-c's nesting limit. */
	buf = calloc(1, 64 * (sizeof("{\"a\":") - 1 + 1) + 2);
	assert_non_null(buf);
	for (i = 0; i < 64; i++)
		strcat(buf, "{\"a\":");
	strcat(buf, "1");
	for (i = 0; i < 64; i++)
		strcat(buf, "}");
	assert_int_equal(oci_config_parse(buf, strlen(buf), &m), -EINVAL);
	free(buf);
}

/* The buffer need not be NUL-terminated: parse an exact-size copy (ASan
 * catches a read past its end). */
static void test_not_terminated(void **state)
{
	struct container_meta m;
	size_t n = strlen(crio_container);
	char *buf = malloc(n);

	(void)state;
	assert_non_null(buf);
	memcpy(buf, crio_container, n);
	assert_int_equal(oci_config_parse(buf, n, &m), 0);
	assert_string_equal(m.pod, POD);
	free(buf);
}

static int state_parse(const char *doc, struct oci_state *st)
{
	memset(st, 0xa5, sizeof(*st));
	return oci_state_parse(doc, strlen(doc), st);
}

static void assert_state_zero(const struct oci_state *st)
{
	assert_int_equal(zero_count(st, sizeof(*st)), sizeof(*st));
}

static void test_state_runc(void **state)
{
	struct oci_state st;
	struct container_meta m;

	(void)state;
	assert_int_equal(state_parse(runc_state, &st), 0);
	assert_string_equal(st.id, "web");
	assert_int_equal(st.init_pid, 48213);
	assert_string_equal(st.created, "2026-11-27T06:42:38.919017994Z");
	assert_string_equal(st.bundle, "/var/lib/wacht-test/bundles/web");
	assert_string_equal(st.cgroup_dir, "/sys/fs/cgroup/unified/web");

	/* runc copied config.json's annotations into config.labels. */
	memset(&m, 0xa5, sizeof(m));
	assert_int_equal(oci_state_parse_meta(runc_state, strlen(runc_state), &m), 0);
	assert_string_equal(m.name, "nginx");
	assert_string_equal(m.pod, "web-7d4b9");
	assert_string_equal(m.namespace, "shop");
	assert_string_equal(m.hostname, "wacht-h");
	assert_string_equal(m.image, "");
	assert_int_equal(m.n_labels, 1);
	assert_label(&m, 0, "app", "web");
}

/* The shape of a CRI-O container's state under cgroup v2 and the systemd
 * driver, with an annotation named "bundle" trying to move the bundle. */
static const char crio_state[] =
	"{\"id\":\"" CTR_ID "\",\"init_process_pid\":3121,\"init_process_start\":88211,"
	"\"created\":\"2024-03-11T09:12:44.345678901Z\",\"config\":{\"rootfs\":\"/var/lib/containers/storage/overlay/1b2f0c9a/merged\","
	"\"hostname\":\"" POD "\",\"labels\":["
	"\"bundle=/tmp/evil\","
	"\"io.kubernetes.cri-o.ContainerType=container\","
	"\"io.kubernetes.container.name=nginx\","
	"\"io.kubernetes.pod.name=" POD "\","
	"\"io.kubernetes.pod.namespace=shop\","
	"\"io.kubernetes.pod.uid=" POD_UID "\","
	"\"io.kubernetes.cri-o.ImageName=docker.io/library/nginx:1.25.4\","
	"\"io.kubernetes.cri-o.SandboxID=" SANDBOX_ID "\","
	"\"io.kubernetes.cri-o.Labels={\\\"io.kubernetes.pod.name\\\":\\\"" POD "\\\"}\","
	"\"kubernetes.io/config.seen=2024-03-11T09:12:40.001122334Z\","
	"\"bundle=/run/containers/storage/overlay-containers/" CTR_ID "/userdata\"],"
	"\"cgroups\":{\"path\":\"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod2e99f0cd_b33a_4a12_a5fa_526efd25d3b6.slice/crio-" CTR_ID ".scope\",\"Systemd\":true}},"
	"\"rootless\":false,\"cgroup_paths\":{\"\":\"/sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/"
	"kubepods-besteffort-pod2e99f0cd_b33a_4a12_a5fa_526efd25d3b6.slice/crio-" CTR_ID ".scope\"},"
	"\"namespace_paths\":{\"NEWPID\":\"/proc/3121/ns/pid\"},\"external_descriptors\":[\"/dev/null\",\"pipe:[771231]\",\"pipe:[771232]\"]}";

static void test_state_crio(void **state)
{
	struct oci_state st;
	struct container_meta m;

	(void)state;
	assert_int_equal(state_parse(crio_state, &st), 0);
	assert_string_equal(st.id, CTR_ID);
	assert_int_equal(st.init_pid, 3121);
	assert_string_equal(st.bundle, "/run/containers/storage/overlay-containers/" CTR_ID "/userdata");
	assert_string_equal(st.cgroup_dir,
			    "/sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/"
			    "kubepods-besteffort-pod2e99f0cd_b33a_4a12_a5fa_526efd25d3b6.slice/crio-" CTR_ID ".scope");

	memset(&m, 0xa5, sizeof(m));
	assert_int_equal(oci_state_parse_meta(crio_state, strlen(crio_state), &m), 0);
	assert_string_equal(m.name, "nginx");
	assert_string_equal(m.pod, POD);
	assert_string_equal(m.namespace, "shop");
	assert_string_equal(m.pod_uid, POD_UID);
	assert_string_equal(m.image, "docker.io/library/nginx:1.25.4");
	assert_string_equal(m.sandbox_id, SANDBOX_ID);
	assert_false(m.is_sandbox);
	assert_string_equal(m.hostname, POD);
	assert_int_equal(m.n_labels, 1);
	assert_label(&m, 0, "io.kubernetes.pod.name", POD);
}

/* Labels are split at the first '='; a repeated key: the last wins. */
static void test_state_meta_labels(void **state)
{
	struct container_meta m;
	static const char doc[] =
		"{\"config\":{\"labels\":[\"io.kubernetes.pod.name=first\",\"io.kubernetes.pod.name=a=b\","
		"\"io.kubernetes.container.name\",\"=nokey\",7,null,\"io.kubernetes.pod.namespace=\","
		"\"io.kubernetes.cri.sandbox-namespace=ns\"]}}";

	(void)state;
	assert_int_equal(oci_state_parse_meta(doc, strlen(doc), &m), 0);
	assert_string_equal(m.pod, "a=b");
	assert_string_equal(m.name, "");
	/* An empty value is absent, so containerd's key is next. */
	assert_string_equal(m.namespace, "ns");

	/* No labels, labels of the wrong type, no config: all empty, 0. */
	assert_int_equal(oci_state_parse_meta("{}", 2, &m), 0);
	assert_meta_zero(&m);
	assert_int_equal(oci_state_parse_meta("{\"config\":{\"labels\":{\"a\":\"b\"}}}", 31, &m), 0);
	assert_meta_zero(&m);
	assert_int_equal(oci_state_parse_meta("{\"config\":[]}", 13, &m), 0);
	assert_meta_zero(&m);
	memset(&m, 0xa5, sizeof(m));
	assert_int_equal(oci_state_parse_meta("[\"bundle=/x\"]", 13, &m), -EINVAL);
	assert_meta_zero(&m);
}

static void test_state_errors(void **state)
{
	struct oci_state st;
	char doc[8400], *p;
	size_t half;
	char *buf;

#define LABELS ",\"config\":{\"labels\":[\"bundle=/b\"]}}"
	(void)state;
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":1" LABELS, &st), 0);
	assert_string_equal(st.bundle, "/b");
	assert_string_equal(st.created, "");
	assert_string_equal(st.cgroup_dir, "");

	/* id and init_process_pid are required, with their types. */
	assert_int_equal(state_parse("{\"init_process_pid\":1" LABELS, &st), -EINVAL);
	assert_state_zero(&st);
	assert_int_equal(state_parse("{\"id\":\"\",\"init_process_pid\":1" LABELS, &st), -EINVAL);
	assert_int_equal(state_parse("{\"id\":7,\"init_process_pid\":1" LABELS, &st), -EINVAL);
	assert_int_equal(state_parse("{\"id\":\"x\"" LABELS, &st), -EINVAL);
	assert_state_zero(&st);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":\"1\"" LABELS, &st), -EINVAL);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":1.0" LABELS, &st), -EINVAL);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":0" LABELS, &st), -EINVAL);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":-1" LABELS, &st), -EINVAL);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":2147483648" LABELS, &st), -EINVAL);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":18446744073709551615" LABELS, &st), -EINVAL);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":2147483647" LABELS, &st), 0);
	assert_int_equal(st.init_pid, 2147483647);
	assert_int_equal(state_parse("{\"id\":\"x\\u0000y\",\"init_process_pid\":1" LABELS, &st), -EINVAL);

	/* No bundle label: -ENOENT; a bundle that is not an absolute path: -EINVAL. */
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":1}", &st), -ENOENT);
	assert_state_zero(&st);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":1,\"config\":{}}", &st), -ENOENT);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":1,\"config\":{\"labels\":\"bundle=/b\"}}", &st), -ENOENT);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":1,\"config\":{\"labels\":[\"bundle\",\"Bundle=/b\",1]}}", &st), -ENOENT);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":1,\"config\":{\"labels\":[\"bundle=\"]}}", &st), -EINVAL);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":1,\"config\":{\"labels\":[\"bundle=b\"]}}", &st), -EINVAL);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":1,\"config\":{\"labels\":[\"bundle=/b\\u0000/c\"]}}", &st), -EINVAL);
	assert_state_zero(&st);

	/* Paths and ids that do not fit are errors, not truncated. */
	p = doc + sprintf(doc, "{\"id\":\"x\",\"init_process_pid\":1,\"config\":{\"labels\":[\"bundle=/");
	memset(p, 'b', 4094);
	strcpy(p + 4094, "\"]}}");
	assert_int_equal(state_parse(doc, &st), 0);
	assert_int_equal(strlen(st.bundle), 4095);
	strcpy(p + 4094, "b\"]}}");
	assert_int_equal(state_parse(doc, &st), -ENAMETOOLONG);
	assert_state_zero(&st);
	p = doc + sprintf(doc, "{\"id\":\"");
	memset(p, 'i', 128);
	strcpy(p + 128, "\",\"init_process_pid\":1" LABELS);
	assert_int_equal(state_parse(doc, &st), -ENAMETOOLONG);
	strcpy(p + 127, "\",\"init_process_pid\":1" LABELS);
	assert_int_equal(state_parse(doc, &st), 0);
	assert_int_equal(strlen(st.id), 127);

	/* An over-long created is cut; an over-long cgroup path left out. */
	p = doc + sprintf(doc, "{\"id\":\"x\",\"init_process_pid\":1,\"created\":\"");
	memset(p, '9', 100);
	p += 100;
	p += sprintf(p, "\",\"cgroup_paths\":{\"\":\"/");
	memset(p, 'c', 4095);
	p += 4095;
	strcpy(p, "\"}" LABELS);
	assert_int_equal(state_parse(doc, &st), 0);
	assert_int_equal(strlen(st.created), 63);
	assert_string_equal(st.cgroup_dir, "");

	/* Malformed, truncated or not an object. */
	assert_int_equal(state_parse("", &st), -EINVAL);
	assert_int_equal(state_parse("[]", &st), -EINVAL);
	assert_int_equal(state_parse("{\"id\":\"x\",\"init_process_pid\":1" LABELS "}", &st), -EINVAL);
	assert_int_equal(oci_state_parse("{}", 2, NULL), -EINVAL);
	assert_int_equal(oci_state_parse(NULL, 2, &st), -EINVAL);
	for (half = 1; half < sizeof(runc_state) - 1; half += 11) {
		buf = malloc(half);
		assert_non_null(buf);
		memcpy(buf, runc_state, half);
		memset(&st, 0xa5, sizeof(st));
		assert_int_equal(oci_state_parse(buf, half, &st), -EINVAL);
		assert_state_zero(&st);
		free(buf);
	}
#undef LABELS
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crio_container),
		cmocka_unit_test(test_crio_sandbox),
		cmocka_unit_test(test_containerd),
		cmocka_unit_test(test_runc_plain),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_missing_and_wrong_types),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_not_terminated),
		cmocka_unit_test(test_state_runc),
		cmocka_unit_test(test_state_crio),
		cmocka_unit_test(test_state_meta_labels),
		cmocka_unit_test(test_state_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
