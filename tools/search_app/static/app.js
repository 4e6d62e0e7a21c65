// The search page: query -> attributes -> manipulate -> results -> relevance feedback.
"use strict";
const $ = (id) => document.getElementById(id);
let picked = new Set();

function showError(msg) {
  const box = $("error");
  box.textContent = msg || "";
  box.hidden = !msg;
  if (msg) { box.scrollIntoView({block: "start"}); }
}

async function call(url, options) {
  const resp = await fetch(url, Object.assign({credentials: "same-origin"}, options));
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) {
    throw new Error((data && data.error) || `the server answered ${resp.status} ${resp.statusText}`);
  }
  return data;
}

function postJson(url, body) {
  return call(url, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
}

function kValue() { return parseInt($("k").value, 10); }

function renderQuery(q) {
  $("query-section").hidden = false;
  $("query-image").src = q.url;
  $("query-label").textContent = q.label;
  const body = $("attributes").tBodies[0];
  body.innerHTML = "";
  for (const a of q.attributes) {
    const tr = document.createElement("tr");
    tr.className = a.special ? "special" : "";
    tr.dataset.group = a.group;
    const cells = [a.group, a.predicted, a.probability.toFixed(2)];
    for (const c of cells) {
      const td = document.createElement("td");
      td.textContent = c;
      tr.appendChild(td);
    }
    const td = document.createElement("td");
    if (a.special) {
      const sel = document.createElement("select");
      sel.id = "attr-" + a.group;
      sel.dataset.group = a.group;
      a.choices.forEach((v, i) => {
        const opt = document.createElement("option");
        opt.value = v;
        opt.textContent = v === a.predicted ? v + " (as predicted)" : v;
        if (!a.searchable[i] && v !== a.predicted) {
          opt.disabled = true;   // no training image shows it: no prototype to search with
          opt.textContent += " (not in training data)";
        }
        sel.appendChild(opt);
      });
      sel.value = a.target;
      sel.addEventListener("change", () => tr.classList.toggle("changed", sel.value !== a.predicted));
      tr.classList.toggle("changed", a.target !== a.predicted);
      td.appendChild(sel);
    } else {
      td.textContent = "(general: kept)";
    }
    tr.appendChild(td);
    body.appendChild(tr);
  }
}

function renderResults(data) {
  renderQuery(data.query);
  picked = new Set();
  $("feedback-button").disabled = true;
  $("results-section").hidden = false;
  const target = Object.entries(data.target).map(([a, v]) => `${a}=${v}`).join(", ");
  $("results-summary").textContent =
    `${data.results.length} nearest, left to right; ${data.exact_count} exact matches of ${target}`;
  $("weights").textContent = data.weights ? "signature weights (eq. 5): " +
    Object.entries(data.weights).map(([v, w]) => `${v} ${w.toFixed(2)}`).join(", ") : "";
  const box = $("results");
  box.innerHTML = "";
  for (const r of data.results) {
    const fig = document.createElement("figure");
    fig.className = "result" + (r.exact ? " exact" : "");
    fig.dataset.id = r.id;
    fig.dataset.rank = r.rank;
    const img = document.createElement("img");
    img.src = r.url;
    img.alt = r.id;
    img.title = Object.entries(r.attributes).map(([a, v]) => `${a}: ${v}`).join("\n");
    img.addEventListener("click", () => {
      if (picked.has(r.id)) { picked.delete(r.id); } else { picked.add(r.id); }
      fig.classList.toggle("picked", picked.has(r.id));
      $("feedback-button").disabled = picked.size === 0;
    });
    const cap = document.createElement("figcaption");
    cap.innerHTML = `#${r.rank} · d ${r.distance.toFixed(3)}` + (r.exact ? ' <span class="badge">exact</span>' : "");
    fig.appendChild(img);
    fig.appendChild(cap);
    box.appendChild(fig);
  }
}

function changes() {
  const out = {};
  for (const sel of document.querySelectorAll("#attributes select")) { out[sel.dataset.group] = sel.value; }
  return out;
}

async function guarded(fn) {
  try { showError(""); await fn(); } catch (e) { showError(e.message); }
}

async function newQuery(form) {
  const data = await call("/api/query", {method: "POST", body: form});
  $("results-section").hidden = true;
  renderQuery(data.query);
  renderResults(await postJson("/api/search", {changes: {}, k: kValue()}));
}

async function loadQuerySet() {
  const list = await call("/api/queries");
  const box = $("query-set");
  for (const q of list) {
    const img = document.createElement("img");
    img.src = q.url;
    img.alt = q.id;
    img.className = "query-choice";
    img.dataset.row = q.row;
    img.addEventListener("click", () => guarded(() => {
      const form = new FormData();
      form.append("query_row", q.row);
      return newQuery(form);
    }));
    box.appendChild(img);
  }
}

$("upload-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  guarded(() => {
    const file = $("upload").files[0];
    if (!file) { throw new Error("Choose an image file to upload first."); }
    const form = new FormData();
    form.append("image", file);
    return newQuery(form);
  });
});
$("search-button").addEventListener("click", () =>
  guarded(async () => renderResults(await postJson("/api/search", {changes: changes(), k: kValue()}))));
$("feedback-button").addEventListener("click", () =>
  guarded(async () => renderResults(await postJson("/api/feedback", {picked: [...picked], k: kValue()}))));
guarded(loadQuerySet);
