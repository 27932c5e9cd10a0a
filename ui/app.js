// SPDX-License-Identifier: Apache-2.0
// app.js: the web page's logic: the API token (sessionStorage, sent as a
// Bearer header), the alert list (filters, pages, detail, acknowledge) and
// the network graph (drawn by graph.js, downloads). Every piece of data is
// put into the page with textContent, never parsed as HTML.
"use strict";

(function () {
	const API = new URL("../api/v1/", document.baseURI); // /ui/ -> /api/v1/
	const TOKEN_KEY = "wacht.token";
	const $ = (id) => document.getElementById(id);

	// ---- the API

	class ApiError extends Error {
		constructor(status, why) {
			super(why);
			this.status = status;
		}
	}

	function token() {
		return sessionStorage.getItem(TOKEN_KEY) || "";
	}

	// The answer of METHOD path (relative to /api/v1/): JSON, or the
	// Response itself with raw. Throws ApiError with the API's "error".
	async function api(path, { method = "GET", body, raw = false } = {}) {
		const headers = {};
		if (token())
			headers.Authorization = "Bearer " + token();
		if (body !== undefined)
			headers["Content-Type"] = "application/json";
		let res;
		try {
			res = await fetch(new URL(path, API), {
				method, headers, body, cache: "no-store", credentials: "omit",
			});
		} catch (e) {
			throw new ApiError(0, "cannot reach the aggregator (" + e.message + ")");
		}
		if (!res.ok) {
			let why = res.statusText;
			try {
				const j = await res.json();
				if (j && typeof j.error === "string")
					why = j.error;
			} catch (e) {
				// not JSON: the status text says enough
			}
			throw new ApiError(res.status, why);
		}
		return raw ? res : res.json();
	}

	// ---- messages

	function say(text, kind) {
		const m = $("message");
		m.textContent = text;
		m.className = kind || "";
		m.hidden = false;
	}

	function unsay() {
		$("message").hidden = true;
		$("message").textContent = "";
	}

	function fail(what, e) {
		if (!(e instanceof ApiError))
			throw e;
		if (e.status === 401)
			say(`${what}: 401 Unauthorized: ${e.message}. ` +
			    (token() ? "The token was not accepted: paste a valid API token above."
				     : "Paste the API token above first."));
		else if (e.status === 403)
			say(`${what}: 403 Forbidden: ${e.message}. This token may not see it.`);
		else if (e.status === 0)
			say(`${what}: ${e.message}.`);
		else
			say(`${what}: ${e.status}: ${e.message}.`);
	}

	// ---- the token

	function tokenState() {
		$("token-state").textContent = token() ? "token set for this tab" : "no token";
	}

	$("token-form").addEventListener("submit", (ev) => {
		ev.preventDefault();
		const t = $("token").value.trim();
		$("token").value = "";
		if (!t) {
			say("Paste a token into the field first.");
			return;
		}
		sessionStorage.setItem(TOKEN_KEY, t);
		tokenState();
		unsay();
		refresh();
	});

	// Forgetting the token also takes what it showed off the screen.
	$("token-clear").addEventListener("click", () => {
		sessionStorage.removeItem(TOKEN_KEY);
		tokenState();
		alerts.seq++;
		graphSeq++;
		alerts.next = null;
		alerts.selected = null;
		$("alert-rows").replaceChildren();
		$("alerts-more").hidden = true;
		$("alert-detail").hidden = true;
		$("alerts-status").textContent = "";
		$("graph-view").replaceChildren();
		$("graph-detail").hidden = true;
		$("graph-status").textContent = "";
		graphShown = false;
		say("Token forgotten.", "info");
	});

	// ---- tabs

	let view = "alerts";

	function show(which) {
		view = which;
		for (const v of ["alerts", "graph"]) {
			$(v).hidden = v !== which;
			$("tab-" + v).setAttribute("aria-selected", String(v === which));
		}
	}

	$("tab-alerts").addEventListener("click", () => show("alerts"));
	$("tab-graph").addEventListener("click", () => {
		show("graph");
		if (token() && !graphShown)
			loadGraph();
	});

	function refresh() {
		if (view === "alerts")
			loadAlerts(false);
		else
			loadGraph();
	}

	// ---- alerts

	const alerts = { next: null, params: null, seq: 0, selected: null, shown: 0 };

	function when(s) {
		// 2026-11-27T14:00:00.123456789Z -> 2026-11-27 14:00:00
		return typeof s === "string" ? s.replace("T", " ").replace(/\.\d+Z$|Z$/, "") : "";
	}

	function where(f) {
		const c = f.container;
		if (!c)
			return "(host)";
		return (c.namespace || "-") + "/" + (c.pod || c.name || c.id || "-");
	}

	function ackText(f) {
		return f.acknowledged ? "yes (" + f.ack_by + ")" : "no";
	}

	function td(tr, s, cls) {
		const c = document.createElement("td");
		c.textContent = s;
		if (cls)
			c.className = cls;
		tr.appendChild(c);
		return c;
	}

	function alertRow(f) {
		const tr = document.createElement("tr");
		tr.dataset.id = f.id;
		tr.dataset.severity = f.severity;
		tr.dataset.acknowledged = String(!!f.acknowledged);
		if (f.acknowledged)
			tr.classList.add("acked");
		if (f.id === alerts.selected)
			tr.classList.add("selected");
		td(tr, when(f.time));
		const sev = td(tr, "");
		const span = document.createElement("span");
		span.className = "sev sev-" + f.severity;
		span.textContent = f.severity;
		sev.appendChild(span);
		td(tr, f.name);
		td(tr, where(f));
		td(tr, f.action);
		td(tr, String(f.count));
		td(tr, ackText(f), "ack");
		tr.tabIndex = 0;
		WachtGraph.onActivate(tr, () => openAlert(f.id));
		return tr;
	}

	function filterParams() {
		const p = new URLSearchParams();
		const sev = $("f-severity").value, ns = $("f-namespace").value.trim();
		const since = $("f-since").value.trim(), ack = $("f-ack").value;
		const limit = $("f-limit").value.trim();
		if (sev)
			p.set("severity", sev);
		if (ns)
			p.set("namespace", ns);
		if (since)
			p.set("since", since);
		if (ack)
			p.set("acknowledged", ack);
		if (limit)
			p.set("limit", limit);
		return p;
	}

	// more: the next page of the same filters; otherwise a new list.
	async function loadAlerts(more) {
		const seq = ++alerts.seq;
		let p;
		if (more && alerts.next) {
			p = new URLSearchParams(alerts.params);
			p.set("cursor", alerts.next);
		} else {
			p = filterParams();
		}
		$("alerts-status").textContent = "Loading\u2026";
		let page;
		try {
			page = await api("findings?" + p.toString());
		} catch (e) {
			if (seq !== alerts.seq)
				return;
			$("alerts-status").textContent = "";
			fail("Loading alerts", e);
			return;
		}
		if (seq !== alerts.seq)
			return; // a newer request is under way
		unsay();
		const rows = $("alert-rows");
		if (!more) {
			rows.replaceChildren();
			alerts.params = p.toString();
			alerts.shown = 0;
		}
		for (const f of page.findings)
			rows.appendChild(alertRow(f));
		alerts.shown += page.findings.length;
		alerts.next = page.next;
		$("alerts-more").hidden = !page.next;
		$("alerts-status").textContent = alerts.shown + (alerts.shown === 1 ? " alert" : " alerts") +
			(page.next ? " shown, more to load" : "");
	}

	$("alert-filters").addEventListener("submit", (ev) => {
		ev.preventDefault();
		loadAlerts(false);
	});
	$("alerts-more").addEventListener("click", () => loadAlerts(true));

	function field(dl, name, value) {
		if (value === undefined || value === null || value === "")
			return;
		const dt = document.createElement("dt");
		const dd = document.createElement("dd");
		dt.textContent = name;
		dd.textContent = String(value);
		dd.dataset.field = name;
		dl.append(dt, dd);
	}

	function showAlert(f) {
		alerts.selected = f.id;
		$("alert-detail").hidden = false;
		$("alert-detail").dataset.id = f.id;
		$("alert-detail-title").textContent = f.name;
		const dl = $("alert-detail-fields");
		dl.replaceChildren();
		field(dl, "ID", f.id);
		field(dl, "Severity", f.severity);
		field(dl, "Action", f.action + (f.mode ? " (" + f.mode + " mode)" : ""));
		field(dl, "Node", f.node);
		field(dl, "Last seen", when(f.last_seen));
		field(dl, "First seen", when(f.first_seen));
		field(dl, "Count", f.count);
		const c = f.container;
		if (c) {
			field(dl, "Namespace", c.namespace);
			field(dl, "Pod", c.pod);
			field(dl, "Container", [c.name, c.image, c.id].filter(Boolean).join(" \u00b7 "));
			field(dl, "Group", c.group);
		}
		const p = f.process;
		if (p && (p.exe || p.pid)) {
			field(dl, "Process", `${p.exe || p.name || "?"} (pid ${p.pid}, uid ${p.uid}, euid ${p.euid})`);
			if (Array.isArray(p.args) && p.args.length)
				field(dl, "Arguments", p.args.join(" "));
			field(dl, "Parent", p.parent_exe);
		}
		if (f.file)
			field(dl, "File", f.file.path + (f.file.op ? " (" + f.file.op + ")" : ""));
		const n = f.network;
		if (n)
			field(dl, "Network", `${n.direction} ${n.proto} ${n.local_ip}:${n.local_port} \u2192 ` +
			      `${n.remote_ip}:${n.remote_port}` + (n.peer_group ? " peer " + n.peer_group : ""));
		const r = f.rule;
		if (r && (r.id || r.name))
			field(dl, "Rule", [r.id, r.name, r.group ? "group " + r.group : ""].filter(Boolean).join(" "));
		field(dl, "Message", f.message);
		field(dl, "Acknowledged", f.acknowledged ? "yes, by " + f.ack_by + " at " + when(f.ack_time) : "no");
		if (f.acknowledged)
			field(dl, "Comment", f.ack_comment);
		$("ack").disabled = !!f.acknowledged;
		$("unack").disabled = !f.acknowledged;
		// the row shows the finding as it is now
		for (const tr of $("alert-rows").children) {
			tr.classList.toggle("selected", tr.dataset.id === f.id);
			if (tr.dataset.id === f.id)
				tr.replaceWith(alertRow(f));
		}
	}

	async function openAlert(id) {
		try {
			showAlert(await api("findings/" + encodeURIComponent(id)));
		} catch (e) {
			fail("Loading alert " + id, e);
		}
	}

	async function setAck(ack) {
		const id = $("alert-detail").dataset.id;
		const comment = $("ack-comment").value.trim();
		try {
			const f = await api("findings/" + encodeURIComponent(id) + "/ack", {
				method: ack ? "POST" : "DELETE",
				body: ack && comment ? JSON.stringify({ comment }) : undefined,
			});
			showAlert(f);
			$("ack-comment").value = "";
			say(ack ? `Acknowledged ${f.id} as ${f.ack_by}.` : `${f.id} is no longer acknowledged.`,
			    "info");
		} catch (e) {
			fail(ack ? "Acknowledging " + id : "Un-acknowledging " + id, e);
		}
	}

	$("ack").addEventListener("click", () => setAck(true));
	$("unack").addEventListener("click", () => setAck(false));

	// ---- the graph

	let graphShown = false, graphSeq = 0;

	function graphParams(format) {
		const p = new URLSearchParams({ format });
		const ns = $("g-namespace").value.trim(), since = $("g-since").value.trim();
		const cidr = $("g-cidr").value.replace(/\s+/g, "");
		if (ns)
			p.set("namespace", ns);
		if (since)
			p.set("since", since);
		if (cidr)
			p.set("cidr", cidr); // external addresses in these become one vertex each
		p.set("collapse", $("g-collapse").value);
		return p;
	}

	function human(n) {
		if (typeof n !== "number")
			return n;
		const units = ["B", "KiB", "MiB", "GiB", "TiB"];
		let i = 0, v = n;
		while (v >= 1024 && i < units.length - 1) {
			v /= 1024;
			i++;
		}
		return i ? `${v.toFixed(1)} ${units[i]} (${n} B)` : `${n} B`;
	}

	function showGraphDetail(sel, doc) {
		const dl = $("graph-detail-fields");
		const entries = $("graph-detail-entries");
		dl.replaceChildren();
		entries.hidden = true;
		$("graph-detail").hidden = false;
		if (sel.vertex) {
			const ep = sel.vertex;
			$("graph-detail-title").textContent = ep.display_name || ep.id;
			field(dl, "ID", ep.id);
			field(dl, "Kind", ep.kind);
			field(dl, "Namespace", ep.domain);
			field(dl, "Service", ep.service);
			field(dl, "Pod", ep.pod);
			field(dl, "Node", ep.node);
			field(dl, "Addresses", Array.isArray(ep.ips) ? ep.ips.join(", ") : "");
			const convs = doc.conversations || [];
			field(dl, "Talks to", convs.filter((c) => c.from === ep.id).length + " endpoint(s)");
			field(dl, "Talked to by", convs.filter((c) => c.to === ep.id).length + " endpoint(s)");
			return;
		}
		const c = sel.edge;
		$("graph-detail-title").textContent = c.from + " \u2192 " + c.to;
		field(dl, "Client", c.from);
		field(dl, "Server", c.to);
		field(dl, "Policy", c.policy_action);
		field(dl, "Ports", Array.isArray(c.ports) ? c.ports.join(", ") : "");
		field(dl, "Bytes", human(c.bytes));
		field(dl, "To server", human(c.bytes_to_server));
		field(dl, "To client", human(c.bytes_to_client));
		field(dl, "Packets", c.packets);
		field(dl, "Sessions", c.sessions);
		field(dl, "First seen", when(c.first_seen_at));
		field(dl, "Last seen", when(c.last_seen_at));
		const body = entries.tBodies[0];
		body.replaceChildren();
		for (const e of Array.isArray(c.entries) ? c.entries : []) {
			const tr = document.createElement("tr");
			tr.dataset.port = e.port;
			td(tr, e.port);
			td(tr, e.policy_action);
			td(tr, String(e.bytes));
			td(tr, String(e.sessions));
			td(tr, when(e.last_seen_at));
			body.appendChild(tr);
		}
		entries.hidden = !body.children.length;
	}

	async function loadGraph() {
		const seq = ++graphSeq;
		$("graph-status").textContent = "Loading\u2026";
		let doc;
		try {
			doc = await api("graph?" + graphParams("json").toString());
		} catch (e) {
			if (seq === graphSeq) {
				$("graph-status").textContent = "";
				fail("Loading the graph", e);
			}
			return;
		}
		if (seq !== graphSeq)
			return;
		unsay();
		graphShown = true;
		$("graph-detail").hidden = true;
		WachtGraph.render($("graph-view"), doc, (sel) => showGraphDetail(sel, doc));
		const ne = (doc.endpoints || []).length, nc = (doc.conversations || []).length;
		$("graph-status").textContent = `${ne} endpoints, ${nc} conversations` +
			(doc.since ? " since " + when(doc.since) : "") +
			(doc.namespace ? " in " + doc.namespace : "") +
			", generated " + when(doc.generated_at);
	}

	$("graph-controls").addEventListener("submit", (ev) => {
		ev.preventDefault();
		loadGraph();
	});

	const EXT = { dot: "dot", graphml: "graphml", json: "json" };
	for (const b of document.querySelectorAll("button.download")) {
		b.addEventListener("click", async () => {
			const format = b.dataset.format;
			try {
				const res = await api("graph?" + graphParams(format).toString(), { raw: true });
				const url = URL.createObjectURL(await res.blob());
				const a = document.createElement("a");
				a.href = url;
				a.download = "wacht-graph." + EXT[format];
				a.click();
				setTimeout(() => URL.revokeObjectURL(url), 10000);
			} catch (e) {
				fail("Downloading the graph as " + format, e);
			}
		});
	}

	// ---- start: nothing is asked of the API before there is a token

	tokenState();
	if (token())
		loadAlerts(false);
	else
		say("Paste an API token (Authorization: Bearer) above to see alerts and the graph.",
		    "info");
})();
