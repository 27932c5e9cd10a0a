// SPDX-License-Identifier: Apache-2.0
// graph.js: draws the conversation graph (the JSON of GET /api/v1/graph)
// as SVG with a deterministic layout: the vertices of each namespace on a
// small circle, the namespaces on a circle around the centre, external
// addresses and nodes on an outer ring. The same document always gives
// the same picture (endpoints come sorted by id), so a person finds things
// where they were. Text goes in with textContent only.
"use strict";

const WachtGraph = (function () {
	const SVG = "http://www.w3.org/2000/svg";
	const VR = 12;          // vertex radius
	const SPACING = 140;    // arc length between two vertices on a circle
	const POLICIES = ["allow", "violate", "deny", "unknown"];
	const TAU = 2 * Math.PI;

	function el(name, attrs, parent) {
		const e = document.createElementNS(SVG, name);
		for (const k in attrs)
			e.setAttribute(k, String(attrs[k]));
		if (parent)
			parent.appendChild(e);
		return e;
	}

	function text(name, attrs, s, parent) {
		const e = el(name, attrs, parent);
		e.textContent = s;
		return e;
	}

	// A click, or Enter or Space on the focused element.
	function onActivate(e, fn) {
		e.addEventListener("click", fn);
		e.addEventListener("keydown", (ev) => {
			if (ev.key === "Enter" || ev.key === " ") {
				ev.preventDefault();
				fn();
			}
		});
	}

	function outer(ep) {
		return ep.kind === "external" || ep.kind === "node";
	}

	// The namespace a vertex is drawn in ("" for cluster-wide groups).
	function nsOf(ep) {
		if (ep.domain)
			return ep.domain;
		if (ep.kind === "namespace")
			return ep.id.slice("namespace:".length);
		return "";
	}

	// Radius of a circle holding n vertices SPACING apart.
	function ringRadius(n, min) {
		return Math.max(min, (SPACING * n) / TAU);
	}

	// id -> {x, y}; and the namespace clusters {name, x, y, r}.
	function layout(endpoints) {
		const groups = new Map();
		const ring = [];
		for (const ep of endpoints) {
			if (outer(ep)) {
				ring.push(ep);
				continue;
			}
			const ns = nsOf(ep);
			if (!groups.has(ns))
				groups.set(ns, []);
			groups.get(ns).push(ep);
		}
		const names = Array.from(groups.keys()).sort();
		const clusters = names.map((name) => {
			const members = groups.get(name);
			const inner = members.length === 1 ? 0 : ringRadius(members.length, 70);
			return { name, members, inner, r: inner + 70 };
		});
		const pos = new Map();
		// the clusters around the centre, each given an arc as wide as it
		// is; the circle grows until no two clusters overlap (a chord is
		// shorter than its arc)
		if (clusters.length > 1) {
			const total = clusters.reduce((s, c) => s + 2 * c.r + 40, 0);
			let r1 = Math.max(total / TAU, Math.max(...clusters.map((c) => c.r)) + 20);
			const place = () => {
				let a = -Math.PI / 2;
				for (const c of clusters) {
					const share = ((2 * c.r + 40) / total) * TAU;
					c.x = r1 * Math.cos(a + share / 2);
					c.y = r1 * Math.sin(a + share / 2);
					a += share;
				}
			};
			const overlap = () => clusters.some((c, i) => clusters.some((d, j) =>
				j > i && Math.hypot(c.x - d.x, c.y - d.y) < c.r + d.r + 30));
			for (place(); overlap(); place())
				r1 *= 1.1;
		} else if (clusters.length === 1) {
			clusters[0].x = 0;
			clusters[0].y = 0;
		}
		for (const c of clusters) {
			c.members.forEach((ep, i) => {
				const a = -Math.PI / 2 + (TAU * i) / c.members.length;
				// labels away from the cluster's centre, where its edges run
				pos.set(ep.id, { x: c.x + c.inner * Math.cos(a), y: c.y + c.inner * Math.sin(a),
						 up: c.inner > 0 && Math.sin(a) < -0.01 });
			});
		}
		const reach = clusters.reduce((m, c) => Math.max(m, Math.hypot(c.x, c.y) + c.r), 0);
		const r2 = ring.length ? Math.max(reach + 90, ringRadius(ring.length, 80)) : 0;
		ring.forEach((ep, i) => {
			// a quarter turn off the clusters' start: fewer lines through them
			const a = -Math.PI / 4 + (TAU * i) / ring.length;
			pos.set(ep.id, { x: r2 * Math.cos(a), y: r2 * Math.sin(a), up: Math.sin(a) < -0.01 });
		});
		return { pos, clusters };
	}

	function shorten(from, to, by) {
		const dx = to.x - from.x, dy = to.y - from.y;
		const d = Math.hypot(dx, dy) || 1;
		return { x: from.x + (dx / d) * by, y: from.y + (dy / d) * by };
	}

	// The path of a conversation: a gentle curve (a conversation each way
	// between two vertices bows to either side), a loop for a vertex
	// talking to itself (after collapse). Its label's place too.
	function edgePath(p, q, self) {
		if (self) {
			const x = p.x, y = p.y - VR;
			return {
				d: `M ${x - 6} ${y} C ${x - 30} ${y - 45}, ${x + 30} ${y - 45}, ${x + 6} ${y - 2}`,
				mid: { x, y: y - 38 },
			};
		}
		const mx = (p.x + q.x) / 2, my = (p.y + q.y) / 2;
		const dx = q.x - p.x, dy = q.y - p.y;
		const d = Math.hypot(dx, dy) || 1;
		const bend = Math.min(40, d * 0.12);
		const c = { x: mx + (dy / d) * bend, y: my - (dx / d) * bend };
		const a = shorten(p, c, VR + 1), b = shorten(q, c, VR + 3);
		return {
			d: `M ${a.x.toFixed(1)} ${a.y.toFixed(1)} Q ${c.x.toFixed(1)} ${c.y.toFixed(1)} ${b.x.toFixed(1)} ${b.y.toFixed(1)}`,
			mid: { x: (a.x + 2 * c.x + b.x) / 4, y: (a.y + 2 * c.y + b.y) / 4 },
		};
	}

	function label(ep) {
		const s = ep.display_name || ep.id;
		return s.length > 24 ? s.slice(0, 23) + "\u2026" : s;
	}

	// Replaces the content of container with the graph of doc; onSelect
	// gets {vertex: endpoint} or {edge: conversation} on a click.
	function render(container, doc, onSelect) {
		const endpoints = Array.isArray(doc.endpoints) ? doc.endpoints : [];
		const convs = Array.isArray(doc.conversations) ? doc.conversations : [];
		const { pos, clusters } = layout(endpoints);
		const svg = el("svg", { id: "graph-svg", role: "img" });
		const defs = el("defs", {}, svg);
		for (const p of POLICIES) {
			const m = el("marker", {
				id: "arrow-" + p, viewBox: "0 0 10 10", refX: 9, refY: 5,
				markerWidth: 10, markerHeight: 10, markerUnits: "userSpaceOnUse",
				orient: "auto",
			}, defs);
			el("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow-" + p }, m);
		}
		let minx = -100, miny = -100, maxx = 100, maxy = 100;
		const grow = (x, y, mx, my) => {
			minx = Math.min(minx, x - mx); maxx = Math.max(maxx, x + mx);
			miny = Math.min(miny, y - my); maxy = Math.max(maxy, y + my);
		};
		const gClusters = el("g", { class: "clusters" }, svg);
		for (const c of clusters) {
			el("circle", { class: "ns-ring", cx: c.x, cy: c.y, r: c.r }, gClusters);
			text("text", { class: "ns-label", x: c.x, y: c.y - c.r - 6, "data-namespace": c.name },
			     c.name || "(cluster-wide)", gClusters);
			grow(c.x, c.y, c.r + 10, c.r + 25);
		}
		const selectable = [];
		const select = (g, what) => {
			for (const s of selectable)
				s.classList.remove("selected");
			g.classList.add("selected");
			onSelect(what);
		};
		const gEdges = el("g", { class: "edges" }, svg);
		for (const cv of convs) {
			const p = pos.get(cv.from), q = pos.get(cv.to);
			if (!p || !q)
				continue; // (the contract lists every endpoint a conversation names)
			const policy = POLICIES.includes(cv.policy_action) ? cv.policy_action : "unknown";
			const ports = Array.isArray(cv.ports) ? cv.ports.join(" ") : "";
			const g = el("g", {
				class: "edge policy-" + policy, "data-from": cv.from, "data-to": cv.to,
				"data-policy": policy, "data-ports": ports, tabindex: 0,
			}, gEdges);
			const { d, mid } = edgePath(p, q, cv.from === cv.to);
			text("title", {}, `${cv.from} \u2192 ${cv.to} ${ports} (${policy})`, g);
			el("path", { class: "hit", d }, g);
			el("path", { class: "line", d, "marker-end": `url(#arrow-${policy})` }, g);
			if (policy === "deny")
				text("text", { class: "denied", x: mid.x.toFixed(1), y: (mid.y - 4).toFixed(1) },
				     "denied", g);
			onActivate(g, () => select(g, { edge: cv }));
			selectable.push(g);
		}
		const gVertices = el("g", { class: "vertices" }, svg);
		for (const ep of endpoints) {
			const p = pos.get(ep.id);
			const g = el("g", {
				class: "vertex kind-" + ep.kind, "data-id": ep.id, "data-kind": ep.kind,
				transform: `translate(${p.x.toFixed(1)} ${p.y.toFixed(1)})`, tabindex: 0,
			}, gVertices);
			text("title", {}, ep.id, g);
			el("circle", { r: VR }, g);
			text("text", { y: p.up ? -VR - 6 : VR + 14 }, label(ep), g);
			onActivate(g, () => select(g, { vertex: ep }));
			selectable.push(g);
			grow(p.x, p.y, 110, 40);
		}
		// drawn at its own size (1 unit = 1 px), shrunk to fit when wider
		const w = Math.ceil(maxx - minx + 40), h = Math.ceil(maxy - miny + 40);
		svg.setAttribute("viewBox", `${Math.floor(minx - 20)} ${Math.floor(miny - 20)} ${w} ${h}`);
		svg.setAttribute("width", w);
		svg.setAttribute("height", h);
		container.replaceChildren(svg);
		return svg;
	}

	return { render, layout, onActivate };
})();
