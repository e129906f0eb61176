/* themeassist review: the keyboard-driven card, decisions, undo and the status poll.
 * Plain JavaScript, no library, nothing loaded from elsewhere (see review/app.py).
 * Every POST carries the page's CSRF token and a decision id made here, so a POST retried
 * after a lost answer is recorded once. A decision is shown as saved only after the server
 * answered, which it does only after the journal committed it. */
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let selection = [];
  let addMode = false;
  let busy = false;
  let searchOpen = false;
  let modelVersion = Number(document.body.dataset.modelVersion || 0);

  function uid() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  function seqStack() {
    try { return JSON.parse(sessionStorage.getItem("themeassist-seqs") || "[]"); }
    catch (e) { return []; }
  }
  function saveStack(s) { sessionStorage.setItem("themeassist-seqs", JSON.stringify(s.slice(-200))); }

  function notice(text, kind) {
    const n = document.getElementById("notice");
    if (!n) return;
    n.textContent = text;
    n.className = "notice " + (kind || "info");
    n.hidden = !text;
  }

  function updateStatus(s) {
    if (!s || s.model_version === undefined) return;
    const set = (id, v) => { const e = document.getElementById(id); if (e) e.textContent = v; };
    set("st-decisions", s.decisions);
    set("st-decided", s.decided);
    set("st-model", s.model_version);
    set("st-training", s.training ? "(retraining…)" : "");
  }

  async function post(url, body, tries) {
    tries = tries || 5;
    for (let i = 0; i < tries; i++) {
      try {
        const r = await fetch(url, {
          method: "POST", credentials: "same-origin", referrerPolicy: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
          body: JSON.stringify(body),
        });
        let data;
        try { data = await r.json(); } catch (e) { data = { status: "error", notice: "HTTP " + r.status }; }
        return data;
      } catch (e) {
        await new Promise((res) => setTimeout(res, 400 * (i + 1)));
      }
    }
    return { status: "error", notice: "not saved: the review server does not answer" };
  }

  function card() { return document.getElementById("card"); }

  function options() {
    const c = card();
    return c ? Array.from(c.querySelectorAll("#options li")).map((li) => li.dataset.code) : [];
  }

  function renderSelection() {
    const s = document.getElementById("selection");
    const m = document.getElementById("mode");
    if (s) s.textContent = selection.length ? selection.join("; ") : "no code";
    if (m) m.textContent = addMode ? "(adding a code: press 1-9 or /, Esc cancels)" : "";
    const c = card();
    if (c) c.classList.toggle("adding", addMode);
  }

  function initCard() {
    const c = card();
    selection = c ? JSON.parse(c.dataset.label || "[]") : [];
    addMode = false;
    renderSelection();
    if (c) c.focus({ preventScroll: true });
  }

  function inTranscript() { return !!document.getElementById("transcript"); }

  async function reloadView(focus) {
    if (inTranscript()) {
      const sid = focus || (card() && card().dataset.segmentId);
      sessionStorage.setItem("themeassist-focus", sid || "");
      location.reload();
      return;
    }
    const v = document.getElementById("view");
    if (!v) return;
    const q = new URLSearchParams({ view: v.dataset.view });
    if (focus) q.set("focus", focus);
    const r = await fetch("/fragment/view?" + q.toString(), { credentials: "same-origin" });
    if (r.ok) {
      v.innerHTML = await r.text();
      initCard();
      v.dispatchEvent(new CustomEvent("themeassist:view", { bubbles: true }));
    }
  }

  async function decide(codes) {
    const c = card();
    if (!c || busy) return;
    busy = true;
    try {
      const res = await post("/decide", {
        segment_id: c.dataset.segmentId, codes: codes, decision_id: uid(),
        version: Number(c.dataset.version), view: c.dataset.view,
      });
      updateStatus(res);
      if (res.status === "recorded" || res.status === "duplicate") {
        const s = seqStack(); s.push(res.seq); saveStack(s);
        await reloadView();
        notice("saved: " + res.segment_id + " = " + (res.codes.length ? res.codes.join("; ") : "read, no code"), "ok");
      } else if (res.status === "conflict") {
        await reloadView();
        notice(res.notice, "warn");
      } else {
        notice(res.notice || "not saved", "error");
      }
    } finally { busy = false; }
  }

  async function undo() {
    if (busy) return;
    busy = true;
    try {
      const s = seqStack();
      const target = s.length ? s[s.length - 1] : null;
      const res = await post("/undo", { decision_id: uid(), target: target });
      updateStatus(res);
      if (res.status !== "error" && target !== null) { s.pop(); saveStack(s); }
      if (res.status === "recorded" || res.status === "duplicate") {
        await reloadView(res.segment_id);
        notice(res.notice, "ok");
      } else {
        notice(res.notice || "nothing to undo", res.status === "conflict" ? "warn" : "info");
      }
    } finally { busy = false; }
  }

  async function skip() {
    const c = card();
    if (!c || busy) return;
    if (inTranscript()) { closePanel(true); return; }
    busy = true;
    try {
      await post("/skip", { view: c.dataset.view, segment_id: c.dataset.segmentId });
      await reloadView();
      notice("skipped " + c.dataset.segmentId, "info");
    } finally { busy = false; }
  }

  async function retrain() {
    const res = await post("/retrain", {});
    updateStatus(res);
    notice("retraining the model in the background…", "info");
  }

  function pick(code) {
    if (!code) return;
    if (addMode) {
      if (!selection.includes(code)) selection.push(code);
      addMode = false;
      renderSelection();
    } else {
      decide([code]);
    }
  }

  // ---------------------------------------------------------------- codebook search
  function openSearch() {
    const box = document.getElementById("search");
    const input = document.getElementById("search-input");
    if (!box || !card()) return;
    box.hidden = false;
    searchOpen = true;
    input.value = "";
    filterSearch();
    input.focus();
  }
  function closeSearch() {
    const box = document.getElementById("search");
    if (box) box.hidden = true;
    searchOpen = false;
    const c = card(); if (c) c.focus({ preventScroll: true });
  }
  function visibleItems() {
    return Array.from(document.querySelectorAll("#search-list li")).filter((li) => !li.hidden);
  }
  function filterSearch() {
    const words = document.getElementById("search-input").value.toLowerCase().split(/\s+/).filter(Boolean);
    let first = true;
    for (const li of document.querySelectorAll("#search-list li")) {
      const t = li.dataset.code.toLowerCase();
      li.hidden = !words.every((w) => t.includes(w));
      li.classList.remove("active");
      if (!li.hidden && first) { li.classList.add("active"); first = false; }
    }
  }
  function moveActive(d) {
    const items = visibleItems();
    if (!items.length) return;
    let i = items.findIndex((li) => li.classList.contains("active"));
    if (i >= 0) items[i].classList.remove("active");
    i = Math.max(0, Math.min(items.length - 1, i + d));
    items[i].classList.add("active");
    items[i].scrollIntoView({ block: "nearest" });
  }

  // ---------------------------------------------------------------- transcript view
  function rows() { return Array.from(document.querySelectorAll("#transcript .seg")); }
  function panelOpen() { const p = document.getElementById("panel"); return !!(p && p.querySelector("#card")); }
  async function openPanel(row) {
    const p = document.getElementById("panel");
    const r = await fetch("/fragment/card/" + encodeURIComponent(row.dataset.segmentId) + "?view=transcript",
      { credentials: "same-origin" });
    if (!r.ok) { notice("could not open the segment", "error"); return; }
    p.innerHTML = await r.text();
    rows().forEach((x) => x.classList.toggle("open", x === row));
    initCard();
  }
  function closePanel(next) {
    const p = document.getElementById("panel");
    const open = rows().find((x) => x.classList.contains("open"));
    if (p) p.innerHTML = "";
    if (open) {
      open.classList.remove("open");
      const all = rows();
      const target = next ? all[Math.min(all.indexOf(open) + 1, all.length - 1)] : open;
      target.focus();
    }
  }
  function moveRow(d) {
    const all = rows();
    let i = all.indexOf(document.activeElement);
    i = i < 0 ? 0 : Math.max(0, Math.min(all.length - 1, i + d));
    all[i].focus();
  }

  // ---------------------------------------------------------------- keys
  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const tag = (ev.target.tagName || "").toLowerCase();
    if (searchOpen) {
      if (ev.key === "Escape") { ev.preventDefault(); closeSearch(); }
      else if (ev.key === "ArrowDown") { ev.preventDefault(); moveActive(1); }
      else if (ev.key === "ArrowUp") { ev.preventDefault(); moveActive(-1); }
      else if (ev.key === "Enter") {
        ev.preventDefault();
        const a = visibleItems().find((li) => li.classList.contains("active"));
        closeSearch();
        if (a) pick(a.dataset.code);
      }
      return;
    }
    if (tag === "input" || tag === "select" || tag === "textarea" || tag === "button" && ev.key === "Enter") return;
    if (ev.key === "r") { ev.preventDefault(); retrain(); return; }
    if (inTranscript() && !panelOpen()) {
      if (ev.key === "j" || ev.key === "ArrowDown") { ev.preventDefault(); moveRow(1); }
      else if (ev.key === "k" || ev.key === "ArrowUp") { ev.preventDefault(); moveRow(-1); }
      else if (ev.key === "Enter" && ev.target.classList && ev.target.classList.contains("seg")) {
        ev.preventDefault(); openPanel(ev.target);
      } else if (ev.key === "u") { ev.preventDefault(); undo(); }
      return;
    }
    if (!card()) { if (ev.key === "u") { ev.preventDefault(); undo(); } return; }
    handleCardKey(ev.key, ev);
  }

  function handleCardKey(key, ev) {
    const prevent = () => { if (ev) ev.preventDefault(); };
    if (key === "Enter") { prevent(); decide(selection.slice()); }
    else if (/^[1-9]$/.test(key)) { prevent(); pick(options()[Number(key) - 1]); }
    else if (key === "0") { prevent(); addMode = false; decide([]); }
    else if (key === "m") { prevent(); addMode = true; renderSelection(); }
    else if (key === "Backspace") { prevent(); selection.pop(); renderSelection(); }
    else if (key === "/") { prevent(); openSearch(); }
    else if (key === "u") { prevent(); undo(); }
    else if (key === "s") { prevent(); skip(); }
    else if (key === "Escape") {
      prevent();
      if (addMode) { addMode = false; renderSelection(); }
      else if (inTranscript()) closePanel(false);
    }
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-key]");
    if (b) { ev.preventDefault(); handleCardKey(b.dataset.key, null); return; }
    if (ev.target.closest("#retrain")) { ev.preventDefault(); retrain(); return; }
    const opt = ev.target.closest("#options li");
    if (opt) { pick(opt.dataset.code); return; }
    const li = ev.target.closest("#search-list li");
    if (li) { closeSearch(); pick(li.dataset.code); return; }
    const seg = ev.target.closest("#transcript .seg");
    if (seg) { openPanel(seg); }
  });
  const input = document.getElementById("search-input");
  if (input) input.addEventListener("input", filterSearch);

  // Forms (candidates) are sent by fetch so that they carry the CSRF header and an Origin.
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    ev.preventDefault();
    const r = await fetch(form.action, {
      method: "POST", credentials: "same-origin", referrerPolicy: "same-origin",
      headers: { "X-CSRF-Token": csrf }, body: new URLSearchParams(new FormData(form)),
    });
    if (r.ok && r.redirected) { location.href = r.url; }
    else if (r.ok) { location.reload(); }
    else { notice(await r.text(), "error"); }
  });

  // ---------------------------------------------------------------- status poll
  async function poll() {
    try {
      const r = await fetch("/status", { credentials: "same-origin" });
      if (r.ok) {
        const s = await r.json();
        updateStatus(s);
        if (s.model_version > modelVersion && !busy && !addMode && !searchOpen) {
          modelVersion = s.model_version;
          document.body.dataset.modelVersion = String(modelVersion);
          if (document.getElementById("view")) {
            await reloadView(card() ? card().dataset.segmentId : null);
            notice("model retrained (version " + modelVersion + "): the queue is re-ranked", "info");
          }
        }
        if (s.last_error) notice("retraining failed: " + s.last_error, "error");
      }
    } catch (e) { /* the server may be restarting */ }
    setTimeout(poll, 2000);
  }

  initCard();
  if (inTranscript()) {
    const f = sessionStorage.getItem("themeassist-focus");
    sessionStorage.removeItem("themeassist-focus");
    const row = rows().find((x) => x.dataset.segmentId === f) || rows()[0];
    if (row) row.focus();
  }
  setTimeout(poll, 2000);
})();
