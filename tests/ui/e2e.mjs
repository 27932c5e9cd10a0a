// SPDX-License-Identifier: Apache-2.0
// e2e.mjs CONFIG.json: the aggregator's web page in headless Chromium
// (Debian's /usr/bin/chromium driven by playwright-core), against a
// running wacht-aggregator with real data. Run by
// tests/integration/test_ui.py, which starts the aggregator and a sensor,
// makes the findings and conversations, asks the API what the page must
// show and writes CONFIG:
//   base, token, token_name, scoped_token (a token of another namespace),
//   namespace, page_size, all_ids (the API's findings of namespace, in
//   order), severity and severity_ids (the same with ?severity=), ack_id,
//   vertices (endpoint ids), edges [{from, to, policy, port, entries:
//   {port: policy}}], out_dir
//   (browser profile, screenshots, downloads).
// Prints one "ok: ..." line per check; exits 1 at the first failure.
import { readFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	      "--disable-background-networking", "--disable-component-update", "--disable-sync"];
// what the page must draw: violations and denials in this red
const RED = "rgb(192, 38, 45)";

class CheckFailed extends Error {}

function check(cond, what, got) {
	if (!cond)
		throw new CheckFailed(what + (got === undefined ? "" : ": got " + JSON.stringify(got)));
}

function same(got, want, what) {
	check(JSON.stringify(got) === JSON.stringify(want),
	      `${what}: want ${JSON.stringify(want)}`, got);
	console.log(`ok: ${what}`);
}

async function apiGet(p) {
	const res = await fetch(cfg.base + p, { headers: { Authorization: "Bearer " + cfg.token } });
	check(res.ok, `GET ${p} answered ${res.status}`);
	return res.json();
}

const consoleErrors = [];
let expected401 = false;

const ctx = await chromium.launchPersistentContext(path.join(cfg.out_dir, "profile"), {
	headless: true, executablePath: "/usr/bin/chromium", args: ARGS, acceptDownloads: true,
	viewport: { width: 1400, height: 900 },
});
let rc = 0;
try {
	const page = ctx.pages()[0] || await ctx.newPage();
	page.setDefaultTimeout(10000);
	page.on("console", (m) => {
		if (m.type() === "error")
			consoleErrors.push(m.text());
	});
	page.on("pageerror", (e) => consoleErrors.push("uncaught: " + e.message));

	const statusDone = (id) => page.waitForFunction(
		(i) => !document.getElementById(i).textContent.startsWith("Loading"), id);
	const message = async (want) => {
		await page.waitForFunction((w) => {
			const m = document.getElementById("message");
			return !m.hidden && m.textContent.includes(w);
		}, want);
		return page.textContent("#message");
	};
	const rowIds = () => page.$$eval("#alert-rows tr", (rs) => rs.map((r) => r.dataset.id));
	const showAlerts = async () => {
		await page.click("#alerts-load");
		await statusDone("alerts-status");
	};

	// 1. the page, from /, without a token: no data asked for, no error
	await page.goto(cfg.base + "/");
	same(page.url(), cfg.base + "/ui/", "/ redirects to /ui/");
	await page.waitForLoadState("load");
	same(await page.title(), "Wacht", "title");
	same(await page.textContent("#token-state"), "no token", "token state without a token");
	same(consoleErrors, [], "no console errors while the page loads");

	// 2. data calls without a token, with a wrong one, with another team's
	expected401 = true;
	await page.fill("#f-namespace", cfg.namespace);
	await page.fill("#f-limit", String(cfg.page_size));
	await page.click("#alerts-load");
	let m = await message("401");
	same(m, "Loading alerts: 401 Unauthorized: no token: send Authorization: Bearer TOKEN. " +
	     "Paste the API token above first.", "without a token: the message");
	same(await rowIds(), [], "without a token: no rows");
	await page.fill("#token", "not-" + cfg.token);
	await page.click("#token-save");
	m = await message("invalid token");
	same(m, "Loading alerts: 401 Unauthorized: invalid token. The token was not accepted: " +
	     "paste a valid API token above.", "a wrong token: the message");
	await page.fill("#token", cfg.scoped_token);
	await page.click("#token-save");
	m = await message("403");
	check(m.startsWith("Loading alerts: 403 Forbidden: token ") &&
	      m.includes(`may not see namespace "${cfg.namespace}"`), "another team's token: 403", m);
	console.log("ok: another team's token: " + m);
	same(await rowIds(), [], "refused tokens: no rows");

	// 3. the real token: every finding of the namespace, page by page
	await page.fill("#token", cfg.token);
	await page.click("#token-save");
	await statusDone("alerts-status");
	same(await page.inputValue("#token"), "", "the token field is emptied");
	same(await page.evaluate(() => sessionStorage.getItem("wacht.token")), cfg.token,
	     "the token is kept in sessionStorage");
	same(await page.isHidden("#message"), true, "no message once the token works");
	same((await rowIds()).length, Math.min(cfg.page_size, cfg.all_ids.length), "first page");
	let pages = 1;
	while (await page.isVisible("#alerts-more")) {
		await page.click("#alerts-more");
		await statusDone("alerts-status");
		pages++;
		check(pages <= cfg.all_ids.length + 1, "load more never ends");
	}
	same(await rowIds(), cfg.all_ids, `all ${cfg.all_ids.length} findings after ${pages} pages`);
	same(await page.textContent("#alerts-status"), `${cfg.all_ids.length} alerts`, "status line");
	const api = await apiGet(`/api/v1/findings?namespace=${cfg.namespace}&limit=1000`);
	const want = api.findings[0];
	const first = await page.$$eval("#alert-rows tr:first-child td", (tds) => tds.map((t) => t.textContent));
	same(first, [want.time.replace("T", " ").replace(/\.\d+Z$/, ""), want.severity, want.name,
		     `${want.container.namespace}/${want.container.pod}`, want.action,
		     String(want.count), "no"], "the first row's cells");

	// 4. the severity filter narrows the list to what the API says
	await page.selectOption("#f-severity", cfg.severity);
	await page.fill("#f-limit", "100");
	await showAlerts();
	same(await rowIds(), cfg.severity_ids, `severity at least ${cfg.severity}`);
	check(cfg.severity_ids.length < cfg.all_ids.length, "the severity filter narrows nothing");
	await page.selectOption("#f-severity", "");
	await showAlerts();
	same(await rowIds(), cfg.all_ids, "severity any again");

	// 5. a finding's detail, acknowledge with a comment, un-acknowledge
	const row = `#alert-rows tr[data-id="${cfg.ack_id}"]`;
	await page.click(row);
	await page.waitForFunction((id) => document.getElementById("alert-detail").dataset.id === id &&
				   !document.getElementById("alert-detail").hidden, cfg.ack_id);
	same(await page.textContent('#alert-detail-fields dd[data-field="ID"]'), cfg.ack_id, "detail: id");
	same(await page.textContent('#alert-detail-fields dd[data-field="Acknowledged"]'), "no",
	     "detail: not acknowledged");
	const comment = "seen by the e2e test <b>not bold</b>";
	await page.fill("#ack-comment", comment);
	await page.click("#ack");
	m = await message("Acknowledged");
	same(m, `Acknowledged ${cfg.ack_id} as ${cfg.token_name}.`, "ack: the message");
	same(await page.textContent(row + " td.ack"), `yes (${cfg.token_name})`, "ack: the row");
	same(await page.textContent('#alert-detail-fields dd[data-field="Comment"]'), comment,
	     "ack: the comment shown as text");
	let f = await apiGet("/api/v1/findings/" + encodeURIComponent(cfg.ack_id));
	same([f.acknowledged, f.ack_by, f.ack_comment], [true, cfg.token_name, comment],
	     "ack: the API says acknowledged by the token's name, with the comment");
	await page.selectOption("#f-ack", "true");
	await showAlerts();
	same(await rowIds(), [cfg.ack_id], "acknowledged: yes lists it alone");
	await page.selectOption("#f-ack", "false");
	await showAlerts();
	same(await rowIds(), cfg.all_ids.filter((i) => i !== cfg.ack_id), "acknowledged: no lists the others");
	await page.selectOption("#f-ack", "");
	await showAlerts();
	await page.screenshot({ path: path.join(cfg.out_dir, "alerts.png"), fullPage: true });
	await page.click("#unack");
	m = await message("no longer acknowledged");
	same(await page.textContent(row + " td.ack"), "no", "unack: the row");
	f = await apiGet("/api/v1/findings/" + encodeURIComponent(cfg.ack_id));
	same(f.acknowledged, false, "unack: the API says not acknowledged");

	// 6. the graph of the namespace
	await page.click("#tab-graph");
	await statusDone("graph-status");
	await page.fill("#g-namespace", cfg.namespace);
	await page.click("#graph-load");
	await statusDone("graph-status");
	same(await page.isHidden("#message"), true, "graph: no message");
	const vertices = await page.$$eval("#graph-view g.vertex", (gs) => gs.map((g) => g.dataset.id));
	same(vertices, [...cfg.vertices].sort(), "graph: the vertices");
	const edges = await page.$$eval("#graph-view g.edge", (gs) => gs.map((g) => {
		const line = g.querySelector("path.line"), cs = getComputedStyle(line);
		const label = g.querySelector("text.denied");
		return { from: g.dataset.from, to: g.dataset.to, policy: g.dataset.policy,
			 ports: g.dataset.ports, stroke: cs.stroke, dash: cs.strokeDasharray,
			 label: label ? label.textContent : null,
			 arrow: line.getAttribute("marker-end") };
	}));
	console.log("graph edges: " + JSON.stringify(edges));
	for (const e of cfg.edges) {
		const got = edges.filter((g) => g.from === e.from && g.to === e.to);
		check(got.length === 1, `graph: one edge ${e.from} -> ${e.to}`, edges);
		const g = got[0];
		check(g.policy === e.policy && g.ports.split(" ").includes(e.port),
		      `graph: ${e.from} -> ${e.to} is ${e.policy} on ${e.port}`, g);
		check(g.arrow === `url(#arrow-${e.policy})`, "graph: arrowhead", g);
		if (e.policy === "violate")
			check(g.stroke === RED && g.dash === "none" && g.label === null,
			      "graph: a violation is a solid red line", g);
		else if (e.policy === "deny")
			check(g.stroke === RED && g.dash !== "none" && g.label === "denied",
			      'graph: a denied edge is dashed red and labelled "denied"', g);
		else
			check(g.stroke !== RED && g.dash === "none" && g.label === null,
			      "graph: an allowed edge is not red", g);
		console.log(`ok: graph: ${e.from} -> ${e.to} ${e.policy} ${g.ports}`);
	}
	same(edges.length, cfg.edges.length, "graph: no other edges");
	for (const e of cfg.edges) {
		// (a curve's box centre may be off the curve: the click is sent to it)
		await page.dispatchEvent(`#graph-view g.edge[data-from="${e.from}"][data-to="${e.to}"] path.hit`,
					 "click");
		await page.waitForFunction((t) => !document.getElementById("graph-detail").hidden &&
			document.getElementById("graph-detail-title").textContent === t, `${e.from} \u2192 ${e.to}`);
		same(await page.textContent('#graph-detail-fields dd[data-field="Policy"]'), e.policy,
		     `graph: ${e.from} -> ${e.to}: policy in its detail`);
		const entries = await page.$$eval("#graph-detail-entries tbody tr", (rs) =>
			rs.map((r) => [r.dataset.port, r.cells[1].textContent]).sort());
		same(entries, Object.entries(e.entries).sort(), `graph: ${e.from} -> ${e.to}: policy per port in its detail`);
	}
	await page.click(`#graph-view g.vertex[data-id="${cfg.vertices[0]}"] circle`);
	same(await page.textContent('#graph-detail-fields dd[data-field="ID"]'), cfg.vertices[0],
	     "graph: a vertex's detail");
	await page.focus(`#graph-view g.vertex[data-id="${cfg.vertices[1]}"]`);
	await page.keyboard.press("Enter");
	same(await page.textContent('#graph-detail-fields dd[data-field="ID"]'), cfg.vertices[1],
	     "graph: a vertex's detail from the keyboard");
	await page.screenshot({ path: path.join(cfg.out_dir, "graph.png"), fullPage: true });

	// collapsed to the namespace: one vertex talking to itself, the worst
	// policy of its conversations
	await page.selectOption("#g-collapse", "namespace");
	await page.click("#graph-load");
	await statusDone("graph-status");
	const nsv = "namespace:" + cfg.namespace;
	same(await page.$$eval("#graph-view g.vertex", (gs) => gs.map((g) => g.dataset.id)), [nsv],
	     "collapsed graph: the namespace's vertex");
	same(await page.$$eval("#graph-view g.edge", (gs) => gs.map((g) =>
		[g.dataset.from, g.dataset.to, g.dataset.policy])), [[nsv, nsv, "deny"]],
	     "collapsed graph: one denied edge to itself");
	await page.selectOption("#g-collapse", "none");
	await page.click("#graph-load");
	await statusDone("graph-status");

	// 7. the JSON download is the API's graph
	const [dl] = await Promise.all([page.waitForEvent("download"),
					page.click('button.download[data-format="json"]')]);
	same(dl.suggestedFilename(), "wacht-graph.json", "download: file name");
	const saved = path.join(cfg.out_dir, "download.json");
	await dl.saveAs(saved);
	const doc = JSON.parse(readFileSync(saved, "utf8"));
	same(doc.endpoints.map((e) => e.id), [...cfg.vertices].sort(), "download: the graph's endpoints");
	same(doc.namespace, cfg.namespace, "download: the namespace filter went along");
	for (const [format, start] of [["dot", "digraph"], ["graphml", "<?xml"]]) {
		const [d] = await Promise.all([page.waitForEvent("download"),
					       page.click(`button.download[data-format="${format}"]`)]);
		same(d.suggestedFilename(), "wacht-graph." + format, `download: ${format} file name`);
		const file = path.join(cfg.out_dir, "download." + format);
		await d.saveAs(file);
		const text = readFileSync(file, "utf8");
		check(text.startsWith(start), `download: ${format} starts with ${start}`, text.slice(0, 80));
		for (const v of cfg.vertices)
			check(text.includes(v), `download: ${format} names ${v}`, text.slice(0, 400));
		console.log(`ok: download: ${format}, ${text.length} bytes`);
	}

	// 8. "Forget" drops the token and what it showed
	await page.click("#token-clear");
	same(await page.evaluate(() => sessionStorage.getItem("wacht.token")), null, "forget: no token kept");
	same(await page.$$eval("#graph-view g.vertex", (gs) => gs.length), 0, "forget: the graph is gone");
	await page.click("#tab-alerts");
	same(await rowIds(), [], "forget: the alerts are gone");
	same(await page.textContent("#token-state"), "no token", "forget: token state");

	// 9. nothing went wrong but the refusals asked for in 2
	const other = consoleErrors.filter((e) => !(expected401 &&
		/^Failed to load resource: the server responded with a status of 40[13] /.test(e)));
	same(other, [], "no console errors but the 401/403 answers");
	same(consoleErrors.length, 3, "console: the three refused calls");
} catch (e) {
	console.error("FAIL: " + (e instanceof CheckFailed ? e.message : e.stack));
	if (consoleErrors.length)
		console.error("console errors: " + JSON.stringify(consoleErrors));
	rc = 1;
} finally {
	await ctx.close();
}
process.exit(rc);
