// The contact sheet's script, inlined into every page (the page's CSP allows it by its hash):
// cards from the embedded rows, sorting, filters and the lightbox.
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
  const fold = (s) => String(s || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "")
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
      words: fold($("f-search").value).split(/\s+/).filter(Boolean),
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
