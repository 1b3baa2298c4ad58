// omnivec search page: builds one omni query item (text + an optional image / audio / video file),
// POSTs it to /v1/search in the chosen mode (dense | lexical | hybrid; the server's default preselected) and
// renders the hits, with each side's rank and score for hybrid ones. No dependencies; everything shown is set
// with textContent.

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "omnivec.apiKey";
const MEDIA_KIND = { image: "image", audio: "audio", video: "video" };
const SIDES = ["dense", "lexical"];

const state = { file: null, fileUrl: null, thumbUrls: [], maxBodyBytes: null };

function headers(extra = {}) {
  const key = $("api-key").value.trim();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function setStatus(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error.message;
  } catch (_) { /* not JSON */ }
  return `HTTP ${response.status}`;
}

// ------------------------------------------------------------------ server info
async function loadInfo() {
  try {
    const r = await fetch("/health");
    const h = await r.json();
    state.maxBodyBytes = h.max_body_bytes;
    const index = h.index ? `${h.index.size} items indexed (dim ${h.index.dim})` : "no index loaded";
    $("server-info").textContent = `${h.model} · ${index}${h.auth ? " · API key required" : ""}`;
    if (h.auth && !$("api-key").value) $("settings").open = true;
    setModes(h.search_modes || [], h.search_mode);
  } catch (_) {
    $("server-info").textContent = "server unreachable";
  }
}

// The modes the loaded index supports are enabled, the server's default mode is selected.
function setModes(available, preferred) {
  const select = $("mode");
  for (const option of select.options) {
    const ok = available.includes(option.value);
    option.disabled = !ok;
    option.title = ok ? "" : "the loaded index has no lexical part (rebuild it with --lexical)";
  }
  select.disabled = available.length === 0;
  if (preferred && available.includes(preferred)) select.value = preferred;
  else if (available.length) select.value = available[0];
}

// ------------------------------------------------------------------------ file
function kindOf(file) {
  const major = (file.type || "").split("/")[0];
  return MEDIA_KIND[major] || null;
}

function setFile(file) {
  clearFile();
  if (!file) return;
  const kind = kindOf(file);
  if (!kind) {
    setStatus(`unsupported file type ${file.type || "(unknown)"}: drop an image, audio or video file`, true);
    return;
  }
  state.file = file;
  state.fileUrl = URL.createObjectURL(file);
  const media = document.createElement(kind === "image" ? "img" : kind);
  media.src = state.fileUrl;
  if (kind !== "image") media.controls = true;
  if (kind === "image") media.alt = file.name;
  $("preview-media").replaceChildren(media);
  $("preview-name").textContent = `${kind}: ${file.name} (${Math.ceil(file.size / 1024)} KiB)`;
  $("drop-empty").hidden = true;
  $("drop-preview").hidden = false;
  setStatus("");
}

function clearFile() {
  if (state.fileUrl) URL.revokeObjectURL(state.fileUrl);
  state.file = null;
  state.fileUrl = null;
  $("preview-media").replaceChildren();
  $("drop-empty").hidden = false;
  $("drop-preview").hidden = true;
  $("file").value = "";
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// ---------------------------------------------------------------------- search
async function buildQuery() {
  const text = $("query").value.trim();
  const query = {};
  if (text) query.text = text;
  if (state.file) {
    if (state.maxBodyBytes && state.file.size * 4 / 3 > state.maxBodyBytes) {
      throw new Error(`the file is too large for this server (limit ${state.maxBodyBytes} bytes)`);
    }
    query[kindOf(state.file)] = await readAsDataUrl(state.file);
  }
  return query;
}

// The mode to request, or an Error saying why the query cannot run in the chosen one.
function requestMode(mode, hasText) {
  if (mode === "lexical" && state.file) {
    return new Error("lexical search matches text only: remove the file, or pick dense or hybrid");
  }
  if (mode === "lexical" && !hasText) return new Error("lexical search needs query text: type a query");
  // hybrid without text has nothing to match lexically: the file alone runs dense (the answer says so)
  return mode === "hybrid" && !hasText ? "dense" : mode;
}

async function search(event) {
  if (event) event.preventDefault();
  const hasText = $("query").value.trim() !== "";
  if (!hasText && !state.file) {
    setStatus("type a query or drop a file first", true);
    return;
  }
  const selected = $("mode").value;
  const mode = requestMode(selected, hasText);
  if (mode instanceof Error) {
    setStatus(mode.message, true);
    return;
  }
  let query;
  try {
    query = await buildQuery();
  } catch (err) {
    setStatus(err.message, true);
    return;
  }
  localStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
  const button = $("search-button");
  button.disabled = true;
  setStatus("searching…");
  const started = performance.now();
  try {
    const r = await fetch("/v1/search", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ query, k: Number($("k").value), mode }),
    });
    if (!r.ok) {
      if (r.status === 401) $("settings").open = true;
      setStatus(await errorText(r), true);
      return;
    }
    const body = await r.json();
    const ms = Math.round(performance.now() - started);
    render(body.data, body.mode);
    const how = body.mode === "hybrid" ? `hybrid (${body.fusion})` : body.mode;
    const fellBack = body.mode !== selected ? " (no query text)" : "";
    setStatus(`${body.data.length} result${body.data.length === 1 ? "" : "s"} in ${ms} ms · ${how}${fellBack}`);
  } catch (err) {
    setStatus(`request failed: ${err.message}`, true);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------- render
function titleOf(fields, id) {
  return fields.title || fields.text || fields.nickname || id;
}

// Scores per mode: dense cosine in [-1, 1]; BM25 and fused scores relative to the best hit (RRF ones are
// small, e.g. 0.0328, so they keep three significant digits).
function formatScore(score, mode) {
  if (score === null || score === undefined) return "–";
  return mode === "hybrid" ? score.toPrecision(3) : score.toFixed(3);
}

function barOf(score, mode, top) {
  const value = mode === "dense" ? ((score ?? 0) + 1) / 2 : top > 0 ? (score ?? 0) / top : 0;
  return Math.max(0, Math.min(1, value));
}

function renderDetails(box, details) {
  const parts = SIDES.map((side) => {
    const span = document.createElement("span");
    const d = details && details[side];
    span.className = d ? "side" : "side missing";
    span.dataset.side = side;
    if (d) {
      span.dataset.rank = String(d.rank);
      span.textContent = `${side} #${d.rank} · ${d.score === null ? "–" : d.score.toFixed(3)}`;
    } else {
      span.textContent = `${side} –`;
      span.title = `not among the ${side} candidates`;
    }
    return span;
  });
  box.replaceChildren(...parts);
  box.hidden = false;
}

function render(hits, mode = "dense") {
  for (const url of state.thumbUrls) URL.revokeObjectURL(url);
  state.thumbUrls = [];
  const template = $("result-template");
  const top = Math.max(0, ...hits.map((h) => h.score ?? 0));
  const cards = hits.map((hit) => {
    const card = template.content.firstElementChild.cloneNode(true);
    card.dataset.id = hit.id;
    card.querySelector(".rank").textContent = `#${hit.rank}`;
    card.querySelector(".title").textContent = titleOf(hit.fields || {}, hit.id);
    card.querySelector(".score").textContent = formatScore(hit.score, mode);
    card.querySelector(".fill").style.width = `${Math.round(barOf(hit.score, mode, top) * 100)}%`;
    if (mode === "hybrid") renderDetails(card.querySelector(".details"), hit.details);
    card.querySelector(".badge").textContent = (hit.media || []).join(" · ");
    card.querySelector(".id").textContent = `id ${hit.id}`;
    const list = card.querySelector(".fields");
    for (const [name, value] of Object.entries(hit.fields || {})) {
      if (name === "title" || value === null || value === "") continue;
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = name;
      dd.textContent = Array.isArray(value) ? value.join(", ") : String(value);
      list.append(dt, dd);
    }
    if (hit.thumbnail) loadThumb(card.querySelector(".thumb-box"), hit.thumbnail, hit.id);
    return card;
  });
  $("results").replaceChildren(...cards);
}

async function loadThumb(box, url, id) {
  // fetched (not <img src>) so the Bearer key goes along; shown from a blob: URL
  try {
    const r = await fetch(url, { headers: headers() });
    if (!r.ok) return;
    const blobUrl = URL.createObjectURL(await r.blob());
    state.thumbUrls.push(blobUrl);
    const img = document.createElement("img");
    img.className = "thumb";
    img.alt = `cover of ${id}`;
    img.src = blobUrl;
    box.prepend(img);
  } catch (_) { /* no thumbnail */ }
}

// ----------------------------------------------------------------------- wiring
function init() {
  $("api-key").value = localStorage.getItem(KEY_STORAGE) || "";
  $("search-form").addEventListener("submit", search);
  const drop = $("drop");
  drop.addEventListener("click", (e) => {
    if (e.target.id !== "clear-file" && e.target.tagName !== "AUDIO" && e.target.tagName !== "VIDEO") $("file").click();
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file").click(); }
  });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) { setFile(file); if (state.file) search(); }
  });
  $("file").addEventListener("change", () => { const f = $("file").files[0]; if (f) { setFile(f); if (state.file) search(); } });
  $("clear-file").addEventListener("click", (e) => { e.stopPropagation(); clearFile(); });
  $("mode").addEventListener("change", () => { if ($("results").children.length) search(); });
  loadInfo();
}

init();
