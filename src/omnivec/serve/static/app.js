// omnivec search page: builds one omni query item (text + an optional image / audio / video file),
// POSTs it to /v1/search and renders the hits. No dependencies; everything shown is set with textContent.

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "omnivec.apiKey";
const MEDIA_KIND = { image: "image", audio: "audio", video: "video" };

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
  } catch (_) {
    $("server-info").textContent = "server unreachable";
  }
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

async function search(event) {
  if (event) event.preventDefault();
  let query;
  try {
    query = await buildQuery();
  } catch (err) {
    setStatus(err.message, true);
    return;
  }
  if (!Object.keys(query).length) {
    setStatus("type a query or drop a file first", true);
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
      body: JSON.stringify({ query, k: Number($("k").value) }),
    });
    if (!r.ok) {
      if (r.status === 401) $("settings").open = true;
      setStatus(await errorText(r), true);
      return;
    }
    const body = await r.json();
    const ms = Math.round(performance.now() - started);
    render(body.data);
    setStatus(`${body.data.length} result${body.data.length === 1 ? "" : "s"} in ${ms} ms`);
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

function render(hits) {
  for (const url of state.thumbUrls) URL.revokeObjectURL(url);
  state.thumbUrls = [];
  const template = $("result-template");
  const cards = hits.map((hit) => {
    const card = template.content.firstElementChild.cloneNode(true);
    card.dataset.id = hit.id;
    card.querySelector(".rank").textContent = `#${hit.rank}`;
    card.querySelector(".title").textContent = titleOf(hit.fields || {}, hit.id);
    card.querySelector(".score").textContent = hit.score === null ? "–" : hit.score.toFixed(3);
    const fill = Math.max(0, Math.min(1, ((hit.score ?? 0) + 1) / 2));
    card.querySelector(".fill").style.width = `${Math.round(fill * 100)}%`;
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
  loadInfo();
}

init();
