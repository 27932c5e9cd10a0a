// validate.mjs: offline validation of the Kubernetes/OpenShift manifests.
//
//   node validate.mjs DEPLOY_DIR RULES_OUT_DIR [KUSTOMIZE_OUTPUT]
//       render DEPLOY_DIR/kustomization.yaml (the subset of kustomize the
//       manifests use: resources, $patch: delete, JSON 6902 patches),
//       validate every object of the
//       rendering and of every other *.yaml in DEPLOY_DIR against the API
//       schemas, check the references between objects, write the rule files
//       of the wacht-rules ConfigMap to RULES_OUT_DIR (for
//       wacht-sensor --check-rules), and, given the output of
//       `kubectl kustomize DEPLOY_DIR`, check that it renders the same.
//   node validate.mjs --file FILE
//       schema validation of one file only (used on tests/deploy/broken/).
//
// Schemas: kubernetes-models (the Kubernetes OpenAPI, compiled with ajv),
// @kubernetes-models/prometheus-operator (ServiceMonitor), and for the
// OpenShift SCC schemas/securitycontextconstraints.security.openshift.io-v1
// .json (no npm package publishes OpenShift models). kubernetes-models'
// validators accept unknown fields, which `kubectl apply` (strict field
// validation since 1.27) refuses: every object is validated through a Proxy
// that records which fields the validator looked at, and a field it never
// looked at is reported as unknown.
// Prints one line per problem, "FILE: KIND/NAME: PATH: what is wrong", and
// exits 1 if there was any.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import Ajv from "ajv";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const problems = [];
const problem = (where, msg) => problems.push(`${where}: ${msg}`);

// ---- parsing

function readDocs(file) {
	const text = fs.readFileSync(file, "utf8");
	const docs = YAML.parseAllDocuments(text, { prettyErrors: true });
	const out = [];
	for (const d of docs) {
		if (d.errors.length) {
			for (const e of d.errors) problem(file, `YAML: ${e.message}`);
			continue;
		}
		const obj = d.toJS();
		if (obj === null || obj === undefined) continue;
		out.push({ file, obj });
	}
	return out;
}

const ident = (o) => `${o?.kind ?? "?"}/${o?.metadata?.name ?? "?"}`;

// ---- the kustomize subset: `resources:` (files, or directories holding a
// kustomization of their own) and `patches:` of two kinds: a strategic-merge
// patch that is only `$patch: delete` (removes one object), and a JSON 6902
// patch (add, remove, replace, test) with a target. Nothing else.

const KUSTOMIZE_KEYS = new Set(["apiVersion", "kind", "resources", "patches"]);

function renderKustomization(dir) {
	const kfile = path.join(dir, "kustomization.yaml");
	const [k] = fs.existsSync(kfile) ? readDocs(kfile) : [];
	if (!k) {
		problem(kfile, "missing, empty or unreadable");
		return [];
	}
	for (const key of Object.keys(k.obj))
		if (!KUSTOMIZE_KEYS.has(key))
			problem(kfile, `"${key}": this renderer implements only resources: and patches:; ` +
				"extend tests/deploy/validate.mjs before using other kustomize features");
	if (k.obj.kind !== "Kustomization" || k.obj.apiVersion !== "kustomize.config.k8s.io/v1beta1")
		problem(kfile, "not a kustomize.config.k8s.io/v1beta1 Kustomization");
	let objs = [];
	const seen = new Map();
	for (const r of k.obj.resources ?? []) {
		const f = path.join(dir, r);
		let docs;
		if (fs.existsSync(f) && fs.statSync(f).isDirectory()) {
			docs = renderKustomization(f);
		} else if (fs.existsSync(f) && fs.statSync(f).isFile()) {
			// kustomize's load restrictor: files only in or below the root
			if (path.relative(dir, f).startsWith(".."))
				problem(kfile, `resource ${r}: a file outside ${dir} (kustomize refuses it; use its directory)`);
			docs = readDocs(f);
		} else {
			problem(kfile, `resource ${r}: no such file or directory (URLs are not used here)`);
			continue;
		}
		for (const d of docs) {
			const id = resId(d.obj);
			if (seen.has(id))
				problem(d.file, `${ident(d.obj)}: defined twice (also in ${seen.get(id)}); kustomize refuses that`);
			seen.set(id, d.file);
			objs.push(d);
		}
	}
	(k.obj.patches ?? []).forEach((p, i) => {
		const where = `${kfile}: patches[${i}]`;
		for (const key of Object.keys(p))
			if (!["patch", "path", "target"].includes(key))
				problem(where, `"${key}": not implemented by tests/deploy/validate.mjs`);
		let text = p.patch;
		if (p.path) text = fs.readFileSync(path.join(dir, p.path), "utf8");
		if (typeof text !== "string") {
			problem(where, "neither patch: nor path:");
			return;
		}
		const doc = YAML.parseDocument(text);
		if (doc.errors.length) {
			for (const e of doc.errors) problem(where, `YAML: ${e.message}`);
			return;
		}
		const body = doc.toJS();
		if (Array.isArray(body)) {
			objs = jsonPatch(objs, p.target, body, where);
		} else if (body && body.$patch === "delete") {
			if (p.target) problem(where, "a $patch: delete names its object itself, no target");
			const id = resId(body);
			const n = objs.length;
			objs = objs.filter((d) => resId(d.obj) !== id);
			if (objs.length === n) problem(where, `$patch: delete: no ${ident(body)} to delete`);
		} else {
			problem(where, "only `$patch: delete` strategic-merge patches and JSON 6902 patches are " +
				"implemented by tests/deploy/validate.mjs");
		}
	});
	return objs;
}

function resId(o) {
	return `${o.apiVersion}|${o.kind}|${o.metadata?.namespace ?? ""}|${o.metadata?.name}`;
}

function targetMatches(t, o) {
	const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["", o.apiVersion];
	return (t.kind === undefined || t.kind === o.kind) && (t.name === undefined || t.name === o.metadata?.name) &&
		(t.namespace === undefined || t.namespace === o.metadata?.namespace) &&
		(t.group === undefined || t.group === group) && (t.version === undefined || t.version === version);
}

// RFC 6902 on every object the target selects (add, remove, replace, test).
function jsonPatch(objs, target, ops, where) {
	if (!target) {
		problem(where, "a JSON 6902 patch needs a target");
		return objs;
	}
	const hits = objs.filter((d) => targetMatches(target, d.obj));
	if (!hits.length) problem(where, `target ${JSON.stringify(target)} matches no object`);
	return objs.map((d) => {
		if (!hits.includes(d)) return d;
		const obj = structuredClone(d.obj);
		for (const op of ops) {
			const err = applyOp(obj, op);
			if (err) problem(`${where}: ${ident(d.obj)}`, `${op.op} ${op.path}: ${err}`);
		}
		return { file: d.file, obj };
	});
}

function applyOp(obj, op) {
	if (typeof op?.path !== "string" || !op.path.startsWith("/")) return "path must start with /";
	const keys = op.path.slice(1).split("/").map((k) => k.replace(/~1/g, "/").replace(/~0/g, "~"));
	const last = keys.pop();
	let parent = obj;
	for (const k of keys) {
		if (parent === null || typeof parent !== "object" || !(k in parent)) return `no ${k} on the way`;
		parent = parent[k];
	}
	if (parent === null || typeof parent !== "object") return "the parent is not an object or a list";
	const isArr = Array.isArray(parent);
	const idx = isArr ? (last === "-" ? parent.length : Number(last)) : last;
	if (isArr && !(Number.isInteger(idx) && idx >= 0 && idx <= parent.length)) return `bad index ${last}`;
	const exists = isArr ? idx < parent.length : Object.hasOwn(parent, idx);
	switch (op.op) {
	case "add":
		if (isArr) parent.splice(idx, 0, op.value);
		else parent[idx] = op.value;
		return null;
	case "remove":
	case "replace":
		if (!exists) return "nothing there";
		if (op.op === "replace") parent[idx] = op.value;
		else if (isArr) parent.splice(idx, 1);
		else delete parent[idx];
		return null;
	case "test":
		return exists && JSON.stringify(parent[idx]) === JSON.stringify(op.value) ? null : "test failed";
	default:
		return `op ${op.op} is not implemented by tests/deploy/validate.mjs`;
	}
}

// ---- schema validation

// Records every property the validator reads, per object.
const proxies = new WeakMap();
function tracked(value, seen) {
	if (value === null || typeof value !== "object") return value;
	if (proxies.has(value)) return proxies.get(value);
	const read = new Set();
	seen.set(value, read);
	const p = new Proxy(value, {
		get(target, prop, receiver) {
			if (typeof prop === "string") read.add(prop);
			return tracked(Reflect.get(target, prop, receiver), seen);
		},
	});
	proxies.set(value, p);
	return p;
}

function unknownFields(value, seen, at, out) {
	if (value === null || typeof value !== "object") return;
	const read = seen.get(value);
	if (!read) return; // not visited: below a field the schema leaves free-form
	for (const key of Object.keys(value)) {
		const p = `${at}/${key}`;
		if (!Array.isArray(value) && !read.has(key)) out.push(`${p}: unknown field "${key}"`);
		else unknownFields(value[key], seen, p, out);
	}
}

const sccSchema = JSON.parse(fs.readFileSync(
	path.join(HERE, "schemas/securitycontextconstraints.security.openshift.io-v1.json"), "utf8"));
const ajv = new Ajv({ allErrors: true, strict: false });
const validateScc = ajv.compile(sccSchema);

async function modelFor(apiVersion, kind) {
	const spec = apiVersion.includes("monitoring.coreos.com")
		? `@kubernetes-models/prometheus-operator/${apiVersion}`
		: `kubernetes-models/${apiVersion}`;
	try {
		const mod = await import(spec);
		return mod[kind];
	} catch {
		return undefined;
	}
}

async function validateSchema({ file, obj }) {
	const where = `${file}: ${ident(obj)}`;
	if (typeof obj !== "object" || Array.isArray(obj)) {
		problem(file, "a document that is not an object");
		return;
	}
	if (!obj.apiVersion || !obj.kind) {
		problem(where, "no apiVersion or kind");
		return;
	}
	if (obj.apiVersion === "security.openshift.io/v1") {
		if (!validateScc(obj))
			for (const e of validateScc.errors)
				problem(where, `${e.instancePath || "/"}: ${e.message}` +
					(e.params?.additionalProperty ? ` ("${e.params.additionalProperty}")` : ""));
		return;
	}
	const Model = await modelFor(obj.apiVersion, obj.kind);
	if (!Model || typeof Model.prototype?.validate !== "function") {
		problem(where, `no schema for ${obj.apiVersion} ${obj.kind}: not a known API`);
		return;
	}
	const seen = new WeakMap();
	const copy = structuredClone(obj);
	try {
		Model.prototype.validate.call(tracked(copy, seen));
	} catch (e) {
		for (const line of String(e.message).split("\n")) problem(where, line.replace(/^data/, ""));
		return;
	}
	const unknown = [];
	unknownFields(copy, seen, "", unknown);
	for (const u of unknown) problem(where, u);
}

// ---- references between objects (what the API server accepts but the
// pods would then fail on)

const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding",
	"SecurityContextConstraints", "PersistentVolume", "StorageClass"]);

// extra: objects of the directory's other files (examples not applied by
// default): their Services and ServiceMonitors must fit the workloads too.
function checkReferences(objs, dir, repo, extra = []) {
	const by = (kind, name) => objs.find((d) => d.obj.kind === kind && d.obj.metadata?.name === name);
	const nsObjs = objs.filter((d) => d.obj.kind === "Namespace");
	if (nsObjs.length !== 1) problem(dir, `expected one Namespace, found ${nsObjs.length}`);
	const ns = nsObjs[0]?.obj.metadata.name;
	for (const { file, obj } of objs) {
		const where = `${file}: ${ident(obj)}`;
		const has = obj.metadata?.namespace;
		if (CLUSTER_SCOPED.has(obj.kind)) {
			if (has) problem(where, "cluster-scoped, but has a namespace");
		} else if (has !== ns) {
			problem(where, `namespace is ${has ?? "unset"}, not ${ns}`);
		}
	}
	const workloads = objs.filter((d) => ["DaemonSet", "Deployment"].includes(d.obj.kind));
	for (const { file, obj } of workloads) {
		const where = `${file}: ${ident(obj)}`;
		const tpl = obj.spec.template;
		const labels = tpl.metadata?.labels ?? {};
		for (const [k, v] of Object.entries(obj.spec.selector.matchLabels ?? {}))
			if (labels[k] !== v) problem(where, `selector ${k}=${v} does not select its own pods`);
		const pod = tpl.spec;
		if (pod.serviceAccountName && !by("ServiceAccount", pod.serviceAccountName))
			problem(where, `ServiceAccount ${pod.serviceAccountName} is not defined`);
		const vols = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
		for (const v of vols.values()) {
			if (v.configMap && !by("ConfigMap", v.configMap.name))
				problem(where, `volume ${v.name}: ConfigMap ${v.configMap.name} is not defined`);
			if (v.secret && !by("Secret", v.secret.secretName))
				problem(where, `volume ${v.name}: Secret ${v.secret.secretName} is not defined`);
			if (v.persistentVolumeClaim && !by("PersistentVolumeClaim", v.persistentVolumeClaim.claimName))
				problem(where, `volume ${v.name}: PVC ${v.persistentVolumeClaim.claimName} is not defined`);
		}
		for (const c of pod.containers) {
			const mounts = new Set();
			for (const m of c.volumeMounts ?? []) {
				if (!vols.has(m.name)) problem(where, `container ${c.name}: mount of undefined volume ${m.name}`);
				if (mounts.has(m.mountPath)) problem(where, `container ${c.name}: ${m.mountPath} mounted twice`);
				mounts.add(m.mountPath);
			}
			const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
			for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
				const port = c[probe]?.httpGet?.port;
				if (typeof port === "string" && !ports.has(port))
					problem(where, `container ${c.name}: ${probe} uses undefined port ${port}`);
			}
		}
		for (const svc of objs.concat(extra).filter((d) => d.obj.kind === "Service")) {
			const sel = svc.obj.spec.selector ?? {};
			if (!Object.entries(sel).every(([k, v]) => labels[k] === v)) continue;
			const names = new Set(pod.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name)));
			for (const p of svc.obj.spec.ports)
				if (typeof p.targetPort === "string" && !names.has(p.targetPort))
					problem(`${svc.file}: ${ident(svc.obj)}`, `targetPort ${p.targetPort} is not a port of ${ident(obj)}`);
		}
	}
	const services = objs.concat(extra).filter((d) => d.obj.kind === "Service");
	for (const { file, obj } of extra.filter((d) => d.obj.kind === "ServiceMonitor")) {
		const sel = obj.spec.selector?.matchLabels ?? {};
		const nss = obj.spec.namespaceSelector?.matchNames ?? [obj.metadata.namespace];
		const picked = services.filter((d) => nss.includes(d.obj.metadata.namespace) &&
			Object.entries(sel).every(([k, v]) => d.obj.metadata.labels?.[k] === v));
		if (!picked.length) problem(`${file}: ${ident(obj)}`, "selects no Service");
		for (const ep of obj.spec.endpoints ?? [])
			for (const d of picked)
				if (!d.obj.spec.ports.some((p) => p.name === ep.port))
					problem(`${file}: ${ident(obj)}`, `endpoint port ${ep.port} is not a port of ${ident(d.obj)}`);
	}
	for (const { file, obj } of objs.filter((d) => d.obj.kind === "RoleBinding")) {
		const where = `${file}: ${ident(obj)}`;
		if (!by(obj.roleRef.kind, obj.roleRef.name)) problem(where, `roleRef ${obj.roleRef.kind}/${obj.roleRef.name} is not defined`);
		for (const s of obj.subjects ?? [])
			if (s.kind === "ServiceAccount" && (!by("ServiceAccount", s.name) || s.namespace !== ns))
				problem(where, `subject ServiceAccount ${s.namespace}/${s.name} is not defined`);
	}

	// The sensor: what its SCC (OpenShift) and the namespace's Pod Security
	// level must admit, and the health contract (--health-listen
	// 0.0.0.0:9090, /healthz/live, /healthz/ready, /metrics).
	const ds = by("DaemonSet", "wacht-sensor");
	if (!ds) {
		problem(dir, "the wacht-sensor DaemonSet is missing");
		return;
	}
	const where = `${ds.file}: ${ident(ds.obj)}`;
	const pod = ds.obj.spec.template.spec;
	const c = pod.containers.find((x) => x.name === "sensor");
	if (!c) {
		problem(where, "no container named sensor");
		return;
	}
	const scc = by("SecurityContextConstraints", "wacht-sensor");
	if (scc) checkScc(scc.obj, objs, pod, c, where);
	else if (objs.some((d) => d.obj.kind === "ClusterRole" && JSON.stringify(d.obj.rules ?? []).includes("securitycontextconstraints")))
		problem(dir, "a grant to use an SCC, but no SCC: delete the grant with it");
	const needs = privilegedNeeds(pod);
	const level = nsObjs[0]?.obj.metadata.labels?.["pod-security.kubernetes.io/enforce"];
	if (needs.length && level !== "privileged")
		problem(`${nsObjs[0]?.file}: Namespace/${ns}`, `pod-security.kubernetes.io/enforce is ${level ?? "unset"}, ` +
			`but the wacht-sensor pod needs "privileged": ${needs.join(", ")}`);
	if (!(c.securityContext?.capabilities?.drop ?? []).includes("ALL")) problem(where, "does not drop ALL capabilities");
	if (!c.args.includes("--health-listen=0.0.0.0:9090")) problem(where, "no --health-listen=0.0.0.0:9090");
	const port = (c.ports ?? []).find((p) => p.name === "health");
	if (port?.containerPort !== 9090) problem(where, "port health is not 9090");
	if (c.livenessProbe?.httpGet?.path !== "/healthz/live") problem(where, "livenessProbe is not GET /healthz/live");
	if (c.readinessProbe?.httpGet?.path !== "/healthz/ready") problem(where, "readinessProbe is not GET /healthz/ready");
	if (!(c.env ?? []).some((e) => e.name === "NODE_NAME" && e.valueFrom?.fieldRef?.fieldPath === "spec.nodeName"))
		problem(where, "NODE_NAME does not come from spec.nodeName");
	const hostPaths = new Set((pod.volumes ?? []).filter((v) => v.hostPath).map((v) => v.hostPath.path));
	for (const p of ["/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/cgroup", "/var/lib/wacht", "/run/runc",
		"/run/containerd/runc", "/run/containers/storage/overlay-containers"])
		if (!hostPaths.has(p)) problem(where, `no hostPath volume for ${p}`);
	const rulesArg = c.args.find((a) => a.startsWith("--rules="));
	const rulesMount = (c.volumeMounts ?? []).find((m) => m.mountPath === rulesArg?.slice(8));
	if (!rulesMount || !pod.volumes.find((v) => v.name === rulesMount.name)?.configMap)
		problem(where, "--rules is not the mounted rules ConfigMap");

	// The rules ConfigMap starts as rules/default.yaml.
	const cm = by("ConfigMap", "wacht-rules");
	const def = fs.readFileSync(path.join(repo, "rules/default.yaml"), "utf8");
	if (cm?.obj.data?.["default.yaml"] !== def)
		problem(`${cm?.file ?? dir}: ConfigMap/wacht-rules`, "default.yaml differs from rules/default.yaml");
}

// What the SCC must admit of the sensor's pod (OpenShift).
function checkScc(s, objs, pod, c, where) {
	const grant = objs.find((d) => d.obj.kind === "ClusterRole" &&
		(d.obj.rules ?? []).some((r) => r.verbs.includes("use") && (r.resourceNames ?? []).includes(s.metadata.name)));
	const bound = grant && objs.some((d) => d.obj.kind === "RoleBinding" && d.obj.roleRef.name === grant.obj.metadata.name &&
		d.obj.subjects.some((x) => x.kind === "ServiceAccount" && x.name === pod.serviceAccountName));
	if (!bound) problem(where, `ServiceAccount ${pod.serviceAccountName} is not granted SCC ${s.metadata.name}`);
	if (pod.hostPID && !s.allowHostPID) problem(where, "hostPID, which the SCC does not allow");
	if (pod.hostNetwork && !s.allowHostNetwork) problem(where, "hostNetwork, which the SCC does not allow");
	const sccVols = new Set(s.volumes);
	for (const v of pod.volumes ?? []) {
		const type = Object.keys(v).find((k) => k !== "name");
		if (!sccVols.has(type) && !sccVols.has("*")) problem(where, `volume ${v.name} (${type}) is not allowed by the SCC`);
	}
	const podSel = pod.securityContext?.seLinuxOptions?.type;
	if (s.seLinuxContext?.type === "MustRunAs" && s.seLinuxContext.seLinuxOptions?.type !== podSel)
		problem(where, `SELinux type ${podSel} is not the SCC's ${s.seLinuxContext.seLinuxOptions?.type}`);
	const seccomp = pod.securityContext?.seccompProfile?.type;
	if (seccomp === "Unconfined" && !(s.seccompProfiles ?? []).includes("unconfined"))
		problem(where, "seccomp Unconfined, which the SCC does not allow");
	if (c.securityContext?.privileged && !s.allowPrivilegedContainer) problem(where, "privileged, which the SCC does not allow");
	for (const cap of c.securityContext?.capabilities?.add ?? [])
		if (!(s.allowedCapabilities ?? []).includes(cap)) problem(where, `capability ${cap} is not allowed by the SCC`);
}

// What of a pod the Pod Security "baseline" level refuses, so that only
// "privileged" admits it (kubernetes.io/docs/concepts/security/pod-security-standards).
const BASELINE_CAPS = new Set(["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]);
const BASELINE_SELINUX = new Set(["container_t", "container_init_t", "container_kvm_t", "container_engine_t"]);
function privilegedNeeds(pod) {
	const needs = [];
	for (const k of ["hostPID", "hostNetwork", "hostIPC"]) if (pod[k]) needs.push(k);
	const hp = (pod.volumes ?? []).filter((v) => v.hostPath).map((v) => v.name);
	if (hp.length) needs.push(`hostPath volumes (${hp.join(", ")})`);
	const contexts = [pod.securityContext ?? {}, ...pod.containers.map((x) => x.securityContext ?? {})];
	for (const sc of contexts) {
		if (sc.privileged) needs.push("privileged");
		if (sc.seccompProfile?.type === "Unconfined") needs.push("seccomp Unconfined");
		const t = sc.seLinuxOptions?.type;
		if (t && !BASELINE_SELINUX.has(t)) needs.push(`SELinux type ${t}`);
	}
	for (const x of pod.containers)
		for (const cap of x.securityContext?.capabilities?.add ?? [])
			if (!BASELINE_CAPS.has(cap)) needs.push(`capability ${cap}`);
	return [...new Set(needs)];
}

// Compares our rendering with `kubectl kustomize` output, as sets of objects.
function compareKustomize(objs, kfile) {
	const canon = (v) => Array.isArray(v) ? v.map(canon)
		: v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v;
	const key = (o) => JSON.stringify(canon(o));
	const ours = objs.map((d) => key(d.obj)).sort();
	const theirs = readDocs(kfile).map((d) => key(d.obj)).sort();
	if (ours.length !== theirs.length || ours.some((o, i) => o !== theirs[i]))
		problem(kfile, `kubectl kustomize renders ${theirs.length} objects that differ from this renderer's ${ours.length}`);
}

// ---- main

const args = process.argv.slice(2);
if (args[0] === "--file") {
	for (const d of readDocs(args[1])) await validateSchema(d);
} else if (args.length >= 2) {
	const [dir, rulesOut, kout] = args;
	const repo = path.resolve(HERE, "../..");
	const rendered = renderKustomization(dir);
	for (const d of rendered) await validateSchema(d);
	const listed = new Set(rendered.map((d) => path.resolve(d.file)));
	const others = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml")
		.map((f) => path.join(dir, f)).filter((f) => !listed.has(path.resolve(f)));
	const extra = others.flatMap((f) => readDocs(f));
	for (const d of extra) await validateSchema(d);
	if (problems.length === 0) checkReferences(rendered, dir, repo, extra);
	if (kout) compareKustomize(rendered, kout);
	const cm = rendered.find((d) => d.obj.kind === "ConfigMap" && d.obj.metadata.name === "wacht-rules");
	fs.mkdirSync(rulesOut, { recursive: true });
	for (const [k, v] of Object.entries(cm?.obj.data ?? {})) fs.writeFileSync(path.join(rulesOut, k), v);
	console.log(`rendered ${rendered.length} objects from ${path.join(dir, "kustomization.yaml")}; ` +
		`validated them and ${others.length} other file(s): ${others.map((f) => path.basename(f)).join(", ") || "none"}`);
} else {
	console.error("usage: validate.mjs DEPLOY_DIR RULES_OUT_DIR [KUSTOMIZE_OUTPUT] | validate.mjs --file FILE");
	process.exit(2);
}
for (const p of problems) console.log(p);
process.exit(problems.length ? 1 : 0);
