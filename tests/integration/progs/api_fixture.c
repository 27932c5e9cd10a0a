/* SPDX-License-Identifier: Apache-2.0 */
/* api_fixture: the aggregator's HTTP API alone (api__start) over a store
 * filled with fixed findings, sensors and learned profiles, for wachtctl's
 * integration test. Prints "port N" once listening; SIGUSR1 stores one more
 * finding (id late:1, seen now) for --follow; SIGTERM/SIGINT stop it.
 *
 *   api_fixture --store PATH --tokens FILE [--port N]
 *
 * Built by the Makefile as $(BUILD)/wacht-api-fixture. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "store.h"
#include "../../unit/learned_fixtures.h"

#define SEC 1000000000LL
/* 2026-01-15T10:00:00Z */
#define T0 (1768471200LL * SEC)

static volatile sig_atomic_t stop, late;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_late(int sig)
{
	(void)sig;
	late = 1;
}

struct tf {
	Wacht__V1__Finding f;
	Wacht__V1__Rule r;
	Wacht__V1__Container c;
	Wacht__V1__Process p;
	Wacht__V1__File file;
	Wacht__V1__Network net;
	ProtobufCBinaryData args[2];
	uint8_t rip[4], lip[4];
};

static ProtobufCBinaryData bin(const char *s)
{
	return (ProtobufCBinaryData){ .len = strlen(s), .data = (uint8_t *)s };
}

static void tf_init(struct tf *t, const char *id, int64_t time, const char *node,
		    const char *name, int severity, int action, const char *ns, const char *pod,
		    const char *exe)
{
	static const Wacht__V1__Finding f0 = WACHT__V1__FINDING__INIT;
	static const Wacht__V1__Rule r0 = WACHT__V1__RULE__INIT;
	static const Wacht__V1__Container c0 = WACHT__V1__CONTAINER__INIT;
	static const Wacht__V1__Process p0 = WACHT__V1__PROCESS__INIT;
	static const Wacht__V1__File file0 = WACHT__V1__FILE__INIT;
	static const Wacht__V1__Network net0 = WACHT__V1__NETWORK__INIT;

	memset(t, 0, sizeof(*t));
	t->f = f0;
	t->r = r0;
	t->c = c0;
	t->p = p0;
	t->file = file0;
	t->net = net0;
	t->f.id = (char *)id;
	t->f.time_unix_ns = time;
	t->f.node = (char *)node;
	t->f.name = (char *)name;
	t->f.severity = severity;
	t->f.action = action;
	t->f.mode = WACHT__V1__MODE__MODE_MONITOR;
	t->r.id = "rules/shop.yaml:14";
	t->r.name = "web-processes";
	t->r.group = "nv.web.shop";
	t->f.rule = &t->r;
	if (ns) {
		t->c.id = "4f1c2a9e0b7d";
		t->c.name = "web";
		t->c.image = "registry.local/shop/web:1.4";
		t->c.pod = (char *)pod;
		t->c.namespace_ = (char *)ns;
		t->c.group = "nv.web.shop";
		t->f.container = &t->c;
	}
	t->p.pid = 31337;
	t->p.ppid = 31300;
	t->p.uid = 33;
	t->p.euid = 0;
	t->p.exe = bin(exe);
	t->p.name = bin(strrchr(exe, '/') + 1);
	t->p.parent_exe = bin("/usr/sbin/nginx");
	t->args[0] = bin(strrchr(exe, '/') + 1);
	t->args[1] = bin("-i");
	t->p.args = t->args;
	t->p.n_args = 2;
	t->f.process = &t->p;
	t->f.message = bin("see the rule");
	t->f.count = 1;
}

static int fill(struct store *s)
{
	struct tf t[5];
	const Wacht__V1__Finding *v[5];
	Wacht__V1__SensorHello h = WACHT__V1__SENSOR_HELLO__INIT;
	int rc;

	tf_init(&t[0], "s1:1", T0 + 60 * SEC, "node-a", "Process.Profile.Violation",
		WACHT__V1__SEVERITY__SEVERITY_HIGH, WACHT__V1__ACTION__ACTION_ALERT, "shop",
		"web-1", "/bin/sh");
	tf_init(&t[1], "s1:2", T0 + 120 * SEC, "node-a", "Container.Suspicious.Process",
		WACHT__V1__SEVERITY__SEVERITY_CRITICAL, WACHT__V1__ACTION__ACTION_KILL, "shop",
		"web-2", "/usr/bin/nc");
	t[1].f.mode = WACHT__V1__MODE__MODE_PROTECT;
	tf_init(&t[2], "s2:1", T0 + 180 * SEC, "node-b", "Network.Violation",
		WACHT__V1__SEVERITY__SEVERITY_MEDIUM, WACHT__V1__ACTION__ACTION_DENY, "pay",
		"api-1", "/usr/bin/curl");
	memcpy(t[2].rip, (uint8_t[]){ 10, 0, 0, 5 }, 4);
	memcpy(t[2].lip, (uint8_t[]){ 10, 244, 1, 7 }, 4);
	t[2].net.proto = 6;
	t[2].net.direction = WACHT__V1__DIRECTION__DIRECTION_OUTBOUND;
	t[2].net.local_ip = (ProtobufCBinaryData){ 4, t[2].lip };
	t[2].net.local_port = 40112;
	t[2].net.remote_ip = (ProtobufCBinaryData){ 4, t[2].rip };
	t[2].net.remote_port = 5432;
	t[2].net.peer_group = "external";
	t[2].f.network = &t[2].net;
	tf_init(&t[3], "s2:2", T0 + 240 * SEC, "node-b", "Container.Package.Updated",
		WACHT__V1__SEVERITY__SEVERITY_LOW, WACHT__V1__ACTION__ACTION_ALERT, NULL, NULL,
		"/usr/bin/dpkg");
	t[3].file.path = bin("/var/lib/dpkg/status");
	t[3].file.op = "modify";
	t[3].f.file = &t[3].file;
	tf_init(&t[4], "s1:3", T0 + 300 * SEC, "node-a", "Container.FileAccess.Violation",
		WACHT__V1__SEVERITY__SEVERITY_MEDIUM, WACHT__V1__ACTION__ACTION_ALERT, "shop",
		"web-1", "/bin/cat");
	t[4].file.path = bin("/etc/shadow");
	t[4].file.op = "access";
	t[4].f.file = &t[4].file;
	t[4].f.count = 3;
	for (int i = 0; i < 5; i++)
		v[i] = &t[i].f;
	rc = store__add_findings(s, v, 5, T0);
	if (rc != 5)
		return rc < 0 ? rc : -EIO;

	h.node = "node-a";
	h.sensor_id = "s1";
	h.sensor_version = "v0.3.0-12-gabcdef";
	h.kernel = "6.1.0-18-amd64";
	if ((rc = store__sensor_hello(s, &h, T0 + 400 * SEC)))
		return rc;
	h.node = "node-b";
	h.sensor_id = "s2";
	h.kernel = "6.1.0-20-amd64";
	if ((rc = store__sensor_hello(s, &h, T0 + 200 * SEC)) ||
	    (rc = store__sensor_drops(s, "s2", 17, T0 + 200 * SEC)))
		return rc;
	if ((rc = store__learned_put(s, "nv.web.shop", "node-a", node_a_yaml, T0)) ||
	    (rc = store__learned_put(s, "nv.web.shop", "node-b", node_b_yaml, T0)))
		return rc;
	return 0;
}

static int add_late(struct store *s)
{
	struct timespec ts;
	struct tf t;
	const Wacht__V1__Finding *v = &t.f;

	clock_gettime(CLOCK_REALTIME, &ts);
	tf_init(&t, "late:1", (int64_t)ts.tv_sec * SEC + ts.tv_nsec, "node-c",
		"Container.Tunnel.Detected", WACHT__V1__SEVERITY__SEVERITY_CRITICAL,
		WACHT__V1__ACTION__ACTION_ALERT, "shop", "web-3", "/usr/bin/socat");
	return store__add_findings(s, &v, 1, t.f.time_unix_ns) == 1 ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	struct api_config cfg = { .listen_addr = "127.0.0.1" };
	struct store *s;
	char *err = NULL;
	int rc;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--store"))
			cfg.store_path = argv[i + 1];
		else if (!strcmp(argv[i], "--tokens"))
			cfg.tokens_path = argv[i + 1];
		else if (!strcmp(argv[i], "--port"))
			cfg.port = (uint16_t)atoi(argv[i + 1]);
	}
	if (!cfg.store_path || !cfg.tokens_path) {
		fprintf(stderr, "usage: api_fixture --store PATH --tokens FILE [--port N]\n");
		return 2;
	}
	s = store__open(cfg.store_path, NULL, &err);
	if (!s) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	rc = fill(s);
	if (rc) {
		fprintf(stderr, "api_fixture: failed to fill the store: %s\n", strerror(-rc));
		return 1;
	}
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	signal(SIGUSR1, on_late);
	if (api__start(&cfg))
		return 1;
	printf("port %u\n", api__port());
	fflush(stdout);
	while (!stop) {
		usleep(50 * 1000); /* signals interrupt it; the flags are polled */
		if (late) {
			late = 0;
			rc = add_late(s);
			printf("late %s\n", rc ? strerror(-rc) : "stored");
			fflush(stdout);
		}
	}
	api__stop();
	store__close(s);
	return 0;
}
