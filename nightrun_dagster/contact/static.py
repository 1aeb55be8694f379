"""The contact sheet's inline stylesheet and script (Python strings: they ship inside the wheel)."""

CSS = """
:root {
  --bg: #16181c; --panel: #202329; --card: #262a31; --line: #363b44; --fg: #e8eaed;
  --dim: #9aa0a8; --hi: #3fb27f; --mid: #d9a43b; --lo: #d9534f; --accent: #6aa8ff;
  color-scheme: dark;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
body.lb-open { overflow: hidden; }
a { color: var(--accent); }
header { padding: 14px 18px 6px; }
h1 { font-size: 20px; margin: 0 0 4px; word-break: break-word; }
h2 { font-size: 16px; margin: 0; word-break: break-word; }
.sub, .meta-line { color: var(--dim); margin: 2px 0; }
.counts { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0; padding: 0; list-style: none; }
.counts li { background: var(--panel); border: 1px solid var(--line); border-radius: 4px;
  padding: 2px 8px; }
.counts b { font-variant-numeric: tabular-nums; }
table.jobs { border-collapse: collapse; margin: 8px 0; }
table.jobs th, table.jobs td { border-bottom: 1px solid var(--line); padding: 4px 10px;
  text-align: right; font-variant-numeric: tabular-nums; }
table.jobs th:first-child, table.jobs td:first-child { text-align: left; }
.toolbar {
  position: sticky; top: 0; z-index: 5; display: flex; flex-wrap: wrap; align-items: center;
  gap: 8px 14px; padding: 8px 18px; background: var(--panel); border-bottom: 1px solid var(--line);
}
.toolbar label { display: inline-flex; align-items: center; gap: 5px; color: var(--dim); }
.toolbar select, .toolbar input { background: var(--bg); color: var(--fg);
  border: 1px solid var(--line); border-radius: 4px; padding: 3px 5px; font: inherit; }
.toolbar input[type=number] { width: 64px; }
.toolbar input[type=search] { width: 180px; }
#count { margin-left: auto; font-weight: 600; font-variant-numeric: tabular-nums; }
section.job { padding: 4px 18px 10px; }
section.job > .job-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px;
  margin: 12px 0 6px; }
.job-count, .note { color: var(--dim); }
.blocked { color: var(--lo); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr));
  gap: 12px; align-items: start; }
#flat, #sheet > .grid { padding: 10px 18px; }
.grouped .jobtag { display: none; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px;
  overflow: hidden; content-visibility: auto; contain-intrinsic-size: 230px 430px; }
.card.shortlisted { border-color: var(--mid); box-shadow: 0 0 0 1px var(--mid); }
.thumb { position: relative; display: flex; align-items: center; justify-content: center;
  width: 100%; height: 210px; padding: 0; border: 0; background: #0d0e10; cursor: zoom-in; }
.thumb:disabled { cursor: default; }
.thumb img { width: 100%; height: 100%; object-fit: contain; display: block; }
.placeholder { color: var(--dim); font-weight: 700; letter-spacing: .08em; }
.status-failed .placeholder, .status-missing .placeholder { color: var(--lo); }
.play, .more { position: absolute; bottom: 6px; background: rgba(0, 0, 0, .7); color: #fff;
  border-radius: 3px; padding: 1px 6px; font-size: 12px; }
.play { left: 6px; }
.more { right: 6px; }
.body { padding: 8px 10px 10px; }
.head { display: flex; align-items: center; gap: 6px; }
.vid { font-weight: 700; font-family: ui-monospace, Menlo, Consolas, monospace; }
.jobtag { color: var(--dim); overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
  min-width: 0; flex: 1; }
.star { color: var(--mid); font-weight: 700; }
.badge { margin-left: auto; padding: 1px 7px; border-radius: 10px; font-weight: 700;
  font-variant-numeric: tabular-nums; background: var(--line); white-space: nowrap; }
.badge.hi { background: var(--hi); color: #06170f; }
.badge.mid { background: var(--mid); color: #1e1500; }
.badge.lo { background: var(--lo); color: #fff; }
.badge.state { background: transparent; border: 1px solid var(--dim); color: var(--dim); }
.badge.state.failed, .badge.state.missing { border-color: var(--lo); color: var(--lo); }
.bars { margin: 7px 0 5px; }
.bar { display: grid; grid-template-columns: 84px 1fr 34px; align-items: center; gap: 6px;
  font-size: 11px; color: var(--dim); }
.track { height: 6px; background: var(--bg); border-radius: 3px; overflow: hidden; }
.fill { height: 100%; width: 0; background: var(--dim); }
.fill.hi { background: var(--hi); } .fill.mid { background: var(--mid); }
.fill.lo { background: var(--lo); }
.bar .v { text-align: right; font-variant-numeric: tabular-nums; color: var(--fg); }
.bar.na .v { color: var(--dim); }
.p { margin: 2px 0; font-size: 12px; overflow-wrap: anywhere; }
.p .k { color: var(--dim); }
.prompt { margin-top: 5px; color: var(--dim); font-size: 12px; display: -webkit-box;
  -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden;
  overflow-wrap: anywhere; }
.error { margin-top: 5px; color: var(--lo); font-size: 12px; overflow-wrap: anywhere; }
.note.pruned { margin-top: 5px; font-size: 12px; }
.warn { color: var(--mid); }
.lightbox { position: fixed; inset: 0; z-index: 20; background: rgba(0, 0, 0, .92);
  display: flex; flex-direction: column; align-items: center; justify-content: center;
  padding: 40px 60px 16px; }
.lightbox[hidden] { display: none; }
.lb-stage { flex: 1; min-height: 0; width: 100%; display: flex; align-items: center;
  justify-content: center; }
/* Filling the stage scales small previews up too; contain keeps the proportions. */
.lb-stage img, .lb-stage video { width: 100%; height: 100%; object-fit: contain; }
.lb-caption { margin-top: 10px; color: var(--fg); text-align: center; max-width: 900px;
  overflow-wrap: anywhere; }
.lb-caption .lb-outs button { margin: 0 2px; }
.lightbox > button { position: absolute; background: rgba(255, 255, 255, .1); color: #fff;
  border: 0; border-radius: 4px; font-size: 26px; width: 44px; height: 44px; cursor: pointer; }
#lb-close { top: 10px; right: 14px; }
#lb-prev { left: 8px; top: 50%; }
#lb-next { right: 8px; top: 50%; }
.empty { color: var(--dim); padding: 10px 0; }
"""

JS = """
"use strict";
(() => {
  const DATA = JSON.parse(document.getElementById("sheet-data").textContent);
  const ROWS = DATA.rows;
  const NIGHT = DATA.kind === "night";
  const $ = (id) => document.getElementById(id);
  const LABEL = { sharpness: "sharpness", text: "text", brand_color: "brand colour",
    ui_integrity: "UI integrity", artifacts: "artifacts", temporal: "temporal" };
  const STATE = { unscored: "UNSCORED", pending: "NOT RENDERED", failed: "FAILED",
    missing: "MISSING" };
  // Rows without the sort value come last, best status first: unscored before failed.
  const TIER = { scored: 0, unscored: 1, pending: 2, failed: 3, missing: 4 };
  const CARDS = [];
  let visible = [];
  let boxAt = -1;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    // textContent, never innerHTML: prompts and job ids are user input.
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  const fmt = (x) => (x === null || x === undefined ? "–" : x.toFixed(2));
  const band = (x) => (x >= 0.75 ? "hi" : x >= 0.5 ? "mid" : "lo");
  const fold = (s) => String(s || "").normalize("NFD").replace(/[\\u0300-\\u036f]/g, "")
    .toLowerCase();
  const num = (x) => (x === null || x === undefined ? "?" : String(x));
  const prunedText = (out) => "pruned by retention" +
    (out && out.pruned_at ? " on " + out.pruned_at.slice(0, 10) : "");

  function param(parent, key, value, cls) {
    const p = el("div", "p" + (cls ? " " + cls : ""));
    p.append(el("span", "k", key + " "), document.createTextNode(value));
    parent.append(p);
  }

  function card(row, i) {
    const c = el("article", "card status-" + row.status + (row.rank ? " shortlisted" : ""));
    c.dataset.idx = i;
    c.dataset.id = row.id;
    c.dataset.job = row.job;
    c.dataset.status = row.status;
    const out = row.outputs[row.main];
    const thumb = el("button", "thumb");
    thumb.type = "button";
    if (out && out.thumb) {
      const img = el("img");
      img.loading = "lazy";  // before src, so 800 cards fetch only what scrolls into view
      img.decoding = "async";
      img.alt = row.id;
      img.src = out.thumb;
      thumb.append(img);
    } else {
      thumb.append(el("span", "placeholder",
        out ? (out.pruned ? "PRUNED" : "NO PREVIEW") : STATE[row.status]));
    }
    if (out && out.kind === "video") thumb.append(el("span", "play", "▶ video"));
    if (row.outputs.length > 1) thumb.append(el("span", "more", "+" + (row.outputs.length - 1)));
    if (out) {
      thumb.title = "open " + out.name;
      thumb.addEventListener("click", () => openBox(i));
    } else {
      thumb.disabled = true;
    }
    c.append(thumb);

    const body = el("div", "body");
    const head = el("div", "head");
    head.append(el("span", "vid", row.id));
    if (NIGHT) head.append(el("span", "jobtag", row.job_id));
    if (row.rank) {
      const star = el("span", "star", "★" + row.rank);
      star.title = "shortlisted #" + row.rank + (row.cluster ? ", cluster " + row.cluster : "") +
        (row.reason ? ": " + row.reason : "");
      head.append(star);
    }
    head.append(row.total === null
      ? el("span", "badge state " + row.status, STATE[row.status] || row.status)
      : el("span", "badge total " + band(row.total), fmt(row.total)));
    body.append(head);

    const names = Object.keys(row.components);
    if (names.length) {
      const bars = el("div", "bars");
      for (const name of names) {
        const v = row.components[name];
        const bar = el("div", "bar" + (v === null ? " na" : ""));
        bar.dataset.component = name;
        const track = el("div", "track");
        const fill = el("div", "fill" + (v === null ? "" : " " + band(v)));
        // CSSOM, not a style attribute: the page's CSP allows no inline style attributes.
        if (v !== null) fill.style.width = Math.max(0, Math.min(1, v)) * 100 + "%";
        track.append(fill);
        bar.append(el("span", "n", LABEL[name] || name), track,
          el("span", "v", v === null ? "n/a" : fmt(v)));
        bars.append(bar);
      }
      body.append(bars);
    }
    param(body, "seed", row.seed_text + " · " + num(row.sampler) + " · " + num(row.steps) +
      " steps · cfg " + num(row.cfg) + " · denoise " + num(row.denoise));
    param(body, "LoRA", row.lora_tags.length ? row.lora_tags.join(", ") : "none");
    if (row.controlnet) param(body, "ControlNet", row.controlnet);
    param(body, "template", row.template + (row.template_version ? " " +
      row.template_version : ""));
    param(body, "size", num(row.width) + "×" + num(row.height) +
      (row.frames ? " · " + row.frames + " frames" : ""));
    if (row.degrade_rung && row.degrade_rung !== "none") {
      param(body, "degraded", String(row.degrade_rung), "warn");
    }
    const prompt = el("div", "prompt", row.prompt);
    prompt.title = row.prompt;
    body.append(prompt);
    if (row.error) body.append(el("div", "error", row.error));
    // Retention removed the files of an old night's also-rans; the scores above still hold.
    if (row.pruned) body.append(el("div", "note pruned", prunedText(row.outputs[row.main])));
    c.append(body);
    return c;
  }

  function sortValue(row, key) {
    if (key === "id") return row.id;
    if (key === "seed") return row.seed;
    if (key === "total") return row.total;
    const v = row.components[key];
    return v === undefined ? null : v;
  }

  function compare(a, b, key, dir) {
    const va = sortValue(a, key);
    const vb = sortValue(b, key);
    const ma = va === null;
    const mb = vb === null;
    let r = 0;
    if (ma || mb) {
      if (ma !== mb) return ma ? 1 : -1;
      r = TIER[a.status] - TIER[b.status];
    } else {
      r = typeof va === "string" ? (va < vb ? -1 : va > vb ? 1 : 0) : va - vb;
      if (dir === "desc") r = -r;
    }
    if (r) return r;
    // Ties keep job then variant order in either direction, so the order is stable.
    if (a.job_order !== b.job_order) return a.job_order - b.job_order;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  }

  function readNumber(id) {
    const v = parseFloat($(id).value);
    return Number.isFinite(v) ? v : null;
  }

  function filters() {
    return {
      job: $("f-job") ? $("f-job").value : "",
      template: $("f-template").value,
      lora: $("f-lora").value,
      status: $("f-status").value,
      min: readNumber("f-min"),
      max: readNumber("f-max"),
      short: $("f-short").checked,
      words: fold($("f-search").value).split(/\\s+/).filter(Boolean),
    };
  }

  function matches(row, f) {
    if (f.job && row.job !== f.job) return false;
    if (f.template && row.template !== f.template) return false;
    if (f.lora === "none" && row.lora_tags.length) return false;
    if (f.lora && f.lora !== "none" && !row.lora_tags.includes(f.lora)) return false;
    if (f.status && row.status !== f.status) return false;
    if (f.min !== null || f.max !== null) {
      if (row.total === null) return false;
      if (f.min !== null && row.total < f.min - 1e-9) return false;
      if (f.max !== null && row.total > f.max + 1e-9) return false;
    }
    if (f.short && !row.rank) return false;
    for (const w of f.words) if (!row.haystack.includes(w)) return false;
    return true;
  }

  function apply() {
    const key = $("sort-key").value;
    const dir = $("sort-dir").value;
    const f = filters();
    const order = ROWS.map((_, i) => i).sort((i, j) => compare(ROWS[i], ROWS[j], key, dir));
    const grouped = !NIGHT || $("f-group").checked;
    const frags = new Map();
    const shownByJob = new Map();
    visible = [];
    for (const i of order) {
      const row = ROWS[i];
      const ok = matches(row, f);
      CARDS[i].hidden = !ok;
      if (ok) {
        visible.push(i);
        shownByJob.set(row.job, (shownByJob.get(row.job) || 0) + 1);
      }
      const target = grouped ? "grid-" + row.job : "flat";
      if (!frags.has(target)) frags.set(target, document.createDocumentFragment());
      frags.get(target).append(CARDS[i]);
    }
    for (const [target, frag] of frags) $(target).append(frag);
    // The job name on each card is only needed when the night's jobs are mixed in one grid.
    document.body.classList.toggle("grouped", NIGHT && grouped);
    if (NIGHT) {
      $("flat").hidden = grouped;
      for (const s of document.querySelectorAll("section.job")) {
        const n = shownByJob.get(s.dataset.job) || 0;
        s.hidden = !grouped || (f.job !== "" && f.job !== s.dataset.job);
        s.querySelector(".job-count").textContent =
          "showing " + n + " of " + s.dataset.variants;
      }
    }
    $("count").textContent = "showing " + visible.length + " of " + ROWS.length;
    document.body.dataset.shown = String(visible.length);
  }

  function openBox(i, which) {
    const row = ROWS[i];
    const k = which === undefined ? row.main : which;
    const out = row.outputs[k];
    if (!out) return;
    boxAt = i;
    const stage = $("lb-stage");
    stage.replaceChildren();
    let media;
    if (out.pruned) {
      media = el("span", "placeholder", prunedText(out).toUpperCase());
    } else if (out.kind === "video") {
      media = el("video");
      media.controls = true;
      media.loop = true;
      media.playsInline = true;
      if (out.thumb) media.poster = out.thumb;
    } else {
      media = el("img");
      media.alt = row.id + " " + out.name;
    }
    if (!out.pruned) media.src = out.file;
    stage.append(media);
    const cap = $("lb-caption");
    cap.replaceChildren();
    const line = el("div");
    line.append(el("b", "", row.id), document.createTextNode(
      (NIGHT ? " · " + row.job_id : "") + " · " +
      (out.total !== null ? "score " + fmt(out.total) : STATE[row.status] || row.status) +
      (row.rank ? " · ★" + row.rank : "") + " · " + out.name + (out.pruned ? "" : " · ")));
    if (!out.pruned) {
      const link = el("a", "", "open file");
      link.href = out.file;
      link.target = "_blank";
      link.rel = "noopener";
      line.append(link);
    }
    cap.append(line);
    if (row.outputs.length > 1) {
      const outs = el("div", "lb-outs");
      row.outputs.forEach((o, n) => {
        const b = el("button", "", String(n + 1));
        b.type = "button";
        b.disabled = n === k;
        b.addEventListener("click", (ev) => { ev.stopPropagation(); openBox(i, n); });
        outs.append(b);
      });
      cap.append(outs);
    }
    cap.append(el("div", "", "seed " + row.seed_text + " · " + num(row.sampler) + " · " +
      num(row.steps) + " steps · cfg " + num(row.cfg) + " · denoise " + num(row.denoise) +
      " · LoRA " + (row.lora_tags.join(", ") || "none") +
      (row.controlnet ? " · ControlNet " + row.controlnet : "") + " · " + row.template));
    cap.append(el("div", "", row.prompt));
    $("lightbox").hidden = false;
    document.body.classList.add("lb-open");
    $("lb-close").focus();
  }

  function closeBox() {
    if ($("lightbox").hidden) return;
    const v = $("lb-stage").querySelector("video");
    if (v) v.pause();
    $("lb-stage").replaceChildren();
    $("lightbox").hidden = true;
    document.body.classList.remove("lb-open");
    if (boxAt >= 0) CARDS[boxAt].querySelector(".thumb").focus();
    boxAt = -1;
  }

  function step(delta) {
    // Walks the cards as they are shown now (sorted, filtered), skipping ones without outputs.
    let at = visible.indexOf(boxAt);
    for (let n = 0; n < visible.length; n++) {
      at = (at + delta + visible.length) % visible.length;
      if (ROWS[visible[at]].outputs.length) return openBox(visible[at]);
    }
  }

  ROWS.forEach((row, i) => {
    row.haystack = fold(row.id + " " + row.prompt);
    CARDS.push(card(row, i));
  });
  for (const id of ["sort-key", "sort-dir", "f-job", "f-template", "f-lora", "f-status",
    "f-min", "f-max", "f-short", "f-group", "f-search"]) {
    const c = $(id);
    if (!c) continue;
    c.addEventListener("change", apply);
    if (c.tagName === "INPUT" && c.type !== "checkbox") c.addEventListener("input", apply);
  }
  $("lb-close").addEventListener("click", closeBox);
  $("lb-prev").addEventListener("click", () => step(-1));
  $("lb-next").addEventListener("click", () => step(1));
  $("lightbox").addEventListener("click", (ev) => {
    if (ev.target === $("lightbox") || ev.target === $("lb-stage")) closeBox();
  });
  document.addEventListener("keydown", (ev) => {
    if ($("lightbox").hidden) return;
    if (ev.key === "Escape") closeBox();
    else if (ev.key === "ArrowRight") step(1);
    else if (ev.key === "ArrowLeft") step(-1);
  });
  apply();
  document.body.dataset.ready = "1";
})();
"""
