// latentedit studio: the page. Plain JavaScript, no build step, nothing loaded from elsewhere.
// The server does the work; this keeps the edit state, sends at most one render (and one scores request) at a
// time, and replaces a waiting request by the newest state, so that dragging a slider never queues renders.
"use strict";

const $ = (selector) => document.querySelector(selector);
const studio = {
  info: null,
  source: { kind: "seed", seed: 0 },
  strengths: {},          // slider name -> strength (0 left out)
  fixed: new Set(),       // slider names kept fixed
  render: { busy: false, next: null },
  scores: { busy: false, queue: [], timer: null },
  before: {},             // scores of the unedited face, by source key
  latencies: [],          // input -> image shown, ms, for every state whose image was shown (benchmarks read it)
};
window.studio = studio;
const SCORES_AFTER_MS = 150;

// ------------------------------------------------------------------------------------------------ helpers

async function post(path, body, headers = {}) {
  const isJson = !(body instanceof Blob);
  return fetch(path, {
    method: "POST",
    headers: { "X-Latentedit-Studio": "1", ...(isJson ? { "Content-Type": "application/json" } : {}), ...headers },
    body: isJson ? JSON.stringify(body) : body,
  });
}

async function postJson(path, body, headers) {
  const response = await post(path, body, headers);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({ error: `${path}: HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `${path}: HTTP ${response.status}`);
  return data;
}

async function failure(response) {
  const data = await response.json().catch(() => null);
  return new Error((data && data.error) || `HTTP ${response.status}`);
}

function showError(error) {
  $("#error-text").textContent = error instanceof Error ? error.message : String(error);
  $("#error").hidden = false;
}

function clearError() { $("#error").hidden = true; }

function sourceKey(source) {
  if (source.kind === "seed") return `seed:${source.seed}`;
  if (source.kind === "codes") return `${source.folder}/${source.file}:${source.row}`;
  return `photo:${source.file}`;
}

function currentState() {
  const strengths = {};
  for (const [name, value] of Object.entries(studio.strengths)) if (value !== 0) strengths[name] = value;
  return { source: { ...studio.source }, strengths, fixed: studio.info.sliders.map((s) => s.name).filter((n) => studio.fixed.has(n)) };
}

function showImage(img, blob, key) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(blob);
    img.onload = () => {
      if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
      img.dataset.url = url;
      if (key !== undefined) img.dataset.state = key;
      requestAnimationFrame(() => resolve(performance.now()));
    };
    img.onerror = () => reject(new Error("the server sent an image the browser cannot show"));
    img.src = url;
  });
}

// ---------------------------------------------------------------------------------------------- rendering

function requestRender() {
  studio.render.next = { state: currentState(), start: performance.now() };
  $("#scores").classList.add("stale");
  if (!studio.render.busy) sendRender();
}

async function sendRender() {
  const job = studio.render.next;
  studio.render.next = null;
  if (!job) return;
  studio.render.busy = true;
  try {
    const response = await post("/api/render", { state: job.state });
    if (response.status === 200) {
      const shown = await showImage($("#after"), await response.blob(), response.headers.get("X-State"));
      const ms = shown - job.start;
      studio.latencies.push(ms);
      $("#timing").textContent = `input to image: ${ms.toFixed(0)} ms (server: ${response.headers.get("X-Render-Ms")} ms)`;
      clearTimeout(studio.scores.timer);  // scores once the image has settled: they cost more than a render
      if (!studio.render.next) studio.scores.timer = setTimeout(() => requestScores(job.state), SCORES_AFTER_MS);
    } else if (response.status !== 204) {
      showError(await failure(response));
    }
  } catch (error) {
    showError(error);
  } finally {
    studio.render.busy = false;
  }
  if (studio.render.next) sendRender();
}

async function loadBefore() {
  try {
    const response = await post("/api/before", { source: studio.source });
    if (response.status === 200) await showImage($("#before"), await response.blob(), sourceKey(studio.source));
    else if (response.status !== 204) showError(await failure(response));
  } catch (error) {
    showError(error);
  }
}

// ------------------------------------------------------------------------------------------------- scores

function requestScores(state) {
  const key = sourceKey(state.source);
  const queue = studio.scores.queue.filter((job) => job.before);  // a newer current state replaces a waiting one
  if (!(key in studio.before) && !queue.some((job) => job.key === key)) {
    queue.push({ before: true, key, state: { source: state.source, strengths: {}, fixed: [] } });
  }
  queue.push({ before: false, key, state });
  studio.scores.queue = queue;
  if (!studio.scores.busy) sendScores();
}

async function sendScores() {
  const job = studio.scores.queue.shift();
  if (!job) return;
  studio.scores.busy = true;
  try {
    const data = await postJson("/api/scores", { state: job.state });
    if (data) {
      if (job.before) studio.before[job.key] = data.scores;
      if (job.before || !studio.scores.queue.some((next) => !next.before)) showScores(job, data);
    }
  } catch (error) {
    showError(error);
  } finally {
    studio.scores.busy = false;
  }
  if (studio.scores.queue.length) sendScores();
}

function formatScore(name, value) {
  if (value === null || value === undefined) return "no face";
  if (name === "pose") return `${value >= 0 ? "+" : ""}${value.toFixed(1)}°`;
  if (name === "age") return `${value.toFixed(1)} y`;
  return value.toFixed(3);
}

function showScores(job, data) {
  const table = $("#scores");
  if (job.before && job.key !== sourceKey(studio.source)) return;
  const now = job.before ? null : data.scores;
  const before = studio.before[sourceKey(studio.source)] || {};
  const rows = Object.entries(studio.info.scores).map(([name, unit]) => {
    const current = now ? formatScore(name, now[name]) : table.querySelector(`tr[data-name="${name}"] .now`)?.textContent || "";
    return `<tr data-name="${name}"><td>${name}</td><td class="before">${name in before ? formatScore(name, before[name]) : ""}</td>` +
      `<td class="now">${current}</td><td class="unit">${unit.split(" (")[0]}</td></tr>`;
  });
  table.querySelector("tbody").innerHTML = rows.join("");
  if (now) {
    table.dataset.state = data.state;
    table.classList.remove("stale");
  }
}

// ------------------------------------------------------------------------------------------------ sliders

function buildSliders() {
  const list = $("#slider-list");
  list.innerHTML = "";
  for (const slider of studio.info.sliders) {
    const row = document.createElement("div");
    row.className = "slider";
    row.dataset.name = slider.name;
    row.innerHTML = `<span class="name"></span><input type="range" min="-5" max="5" step="0.1" value="0">` +
      `<output>0</output><label class="fix"><input type="checkbox"> keep fixed</label><div class="meaning"></div>`;
    row.querySelector(".name").textContent = slider.name;
    row.querySelector(".meaning").textContent = [slider.meaning, slider.origin === "shipped" ? "shipped" : slider.origin].filter(Boolean).join(" · ");
    row.title = slider.meaning || slider.name;
    const range = row.querySelector("input[type=range]");
    const box = row.querySelector("input[type=checkbox]");
    range.addEventListener("input", () => {
      studio.strengths[slider.name] = Number(range.value);
      row.querySelector("output").textContent = range.value;
      requestRender();
    });
    range.addEventListener("change", commit);
    range.addEventListener("dblclick", () => { setSlider(slider.name, 0); requestRender(); commit(); });
    box.addEventListener("change", () => {
      if (box.checked) {
        studio.fixed.add(slider.name);
        setSlider(slider.name, 0);
      } else {
        studio.fixed.delete(slider.name);
      }
      range.disabled = box.checked;
      row.classList.toggle("fixed", box.checked);
      requestRender();
      commit();
    });
    list.appendChild(row);
  }
}

function setSlider(name, value) {
  const row = document.querySelector(`.slider[data-name="${CSS.escape(name)}"]`);
  row.querySelector("input[type=range]").value = value;
  row.querySelector("output").textContent = String(value);
  if (value === 0) delete studio.strengths[name];
  else studio.strengths[name] = value;
}

function applyState(state) {
  for (const slider of studio.info.sliders) {
    const fixed = state.fixed.includes(slider.name);
    setSlider(slider.name, state.strengths[slider.name] || 0);
    const row = document.querySelector(`.slider[data-name="${CSS.escape(slider.name)}"]`);
    row.querySelector("input[type=checkbox]").checked = fixed;
    row.querySelector("input[type=range]").disabled = fixed;
    row.classList.toggle("fixed", fixed);
    if (fixed) studio.fixed.add(slider.name);
    else studio.fixed.delete(slider.name);
  }
  setSource(state.source, false);
}

async function commit() {
  try {
    await postJson("/api/commit", { state: currentState() });
  } catch (error) {
    showError(error);
  }
}

// ------------------------------------------------------------------------------------------------- source

function setSource(source, record = true) {
  studio.source = source;
  if (source.kind === "seed") $("#seed").value = source.seed;
  if (source.kind === "codes") {
    $("#codes-file").value = `${source.folder}/${source.file}`;
    $("#codes-row").value = source.row;
  }
  $("#source-info").textContent = source.kind === "seed" ? `seed ${source.seed}`
    : source.kind === "codes" ? `${source.folder}/${source.file}, row ${source.row}` : $("#source-info").textContent;
  $("#after").classList.toggle("pixelated", source.kind !== "photo");
  $("#before").classList.toggle("pixelated", source.kind !== "photo");
  loadBefore();
  requestRender();
  if (record) commit();
}

function seedSource(seed) {
  seed = Math.max(0, Math.floor(Number(seed) || 0));
  setSource({ kind: "seed", seed });
}

function fillCodes(files, chosen) {
  const select = $("#codes-file");
  select.innerHTML = "";
  for (const entry of files) {
    const option = document.createElement("option");
    option.value = `${entry.folder}/${entry.file}`;
    option.textContent = `${entry.folder}/${entry.file} (${entry.rows} rows)`;
    select.appendChild(option);
  }
  if (chosen) select.value = chosen;
}

async function uploadCodes(file) {
  try {
    const data = await postJson("/api/codes", file, { "X-Filename": encodeURIComponent(file.name) });
    fillCodes(data.codes, `${data.added.folder}/${data.added.file}`);
  } catch (error) {
    showError(error);
  }
}

async function uploadPhoto(file) {
  if (file.size > studio.info.max_upload) {
    showError(`${file.name} is larger than the studio's upload limit (${Math.round(studio.info.max_upload / 1048576)} MB)`);
    return;
  }
  const panel = $("#photo-progress");
  panel.hidden = false;
  $("#photo-stage").textContent = "uploading";
  $("#photo-bar").removeAttribute("value");
  const poll = setInterval(async () => {
    const data = await fetch("/api/progress").then((r) => r.json()).catch(() => null);
    if (data && data.progress) {
      $("#photo-bar").max = data.progress.total;
      $("#photo-bar").value = data.progress.done;
      $("#photo-stage").textContent = `${data.progress.stage}: ${data.progress.done} / ${data.progress.total}`;
    }
  }, 250);
  try {
    const data = await postJson("/api/photo", file, { "X-Filename": encodeURIComponent(file.name) });
    if (data) {
      $("#source-info").textContent = `${file.name}: ${data.faces_found} face(s) found, inverted with PSNR ${data.psnr_db.toFixed(1)} dB`;
      setSource(data.source);
    }
  } catch (error) {
    showError(error);
  } finally {
    clearInterval(poll);
    panel.hidden = true;
  }
}

// ------------------------------------------------------------------------------------------------- export

async function exportEdit() {
  try {
    const data = await postJson("/api/export", { state: currentState() });
    const box = $("#exported");
    box.innerHTML = "";
    box.dataset.folder = data.folder;
    for (const [name, url] of Object.entries(data.files)) {
      const link = document.createElement("a");
      link.href = url;
      link.download = name;
      link.textContent = name;
      box.appendChild(link);
    }
    box.appendChild(document.createTextNode(`in ${data.folder}`));
  } catch (error) {
    showError(error);
  }
}

async function undo() {
  try {
    applyState((await postJson("/api/undo", {})).state);
  } catch (error) {
    showError(error);
  }
}

function reset() {
  applyState({ source: studio.source, strengths: {}, fixed: [] });
  commit();
}

// ----------------------------------------------------------------------------------------------- labelling

const label = { selected: 0, tiles: [] };

async function loadSheet(request) {
  try {
    const attribute = $("#label-attr").value.trim();
    const data = await postJson("/api/sheet", { attribute, ...request });
    $("#label-csv").href = data.csv;
    const grid = $("#grid");
    grid.innerHTML = "";
    label.tiles = data.faces.map((face, index) => {
      const tile = document.createElement("div");
      tile.className = "tile";
      tile.tabIndex = 0;
      tile.dataset.item = face.item;
      if (face.label) tile.dataset.label = face.label;
      tile.innerHTML = `<img alt=""><div class="buttons"><button type="button" data-value="1">yes</button>` +
        `<button type="button" data-value="0">no</button><button type="button" data-value="?">?</button></div><div class="item"></div>`;
      tile.querySelector("img").src = face.image;
      tile.querySelector(".item").textContent = face.item;
      tile.addEventListener("click", (event) => {
        select(index);
        if (event.target.dataset.value) {
          setLabel(index, event.target.dataset.value);
          select(index + 1);
        }
      });
      tile.addEventListener("dblclick", () => editItem(face.item));
      grid.appendChild(tile);
      return tile;
    });
    select(0);
    refreshCodes();
  } catch (error) {
    showError(error);
  }
}

function select(index) {
  if (!label.tiles.length) return;
  label.selected = Math.max(0, Math.min(label.tiles.length - 1, index));
  label.tiles.forEach((tile, i) => tile.classList.toggle("selected", i === label.selected));
  label.tiles[label.selected].focus({ preventScroll: false });
}

async function setLabel(index, value) {
  const tile = label.tiles[index];
  try {
    const data = await postJson("/api/label", { attribute: $("#label-attr").value.trim(), item: tile.dataset.item, label: value });
    tile.dataset.label = value;
    $("#label-counts").textContent = `yes ${data.counts["1"]}, no ${data.counts["0"]}, unclear ${data.counts["?"]}`;
  } catch (error) {
    showError(error);
  }
}

function editItem(item) {
  const [file, row] = item.split(":");
  showTab("edit");
  setSource({ kind: "codes", folder: "labels", file, row: Number(row) });
}

document.addEventListener("keydown", (event) => {
  if ($("#label-view").hidden || event.target.matches("input, select, textarea")) return;
  const keys = { y: "1", n: "0", u: "?", "?": "?", 1: "1", 0: "0" };
  const columns = Math.max(1, Math.round($("#grid").clientWidth / (label.tiles[0]?.offsetWidth || 1)));
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns };
  if (event.key.toLowerCase() in keys && label.tiles.length) {
    event.preventDefault();
    const index = label.selected;
    setLabel(index, keys[event.key.toLowerCase()]);
    select(index + 1);
  } else if (event.key in moves) {
    event.preventDefault();
    select(label.selected + moves[event.key]);
  }
});

// ------------------------------------------------------------------------------------------------- set up

function showTab(name) {
  $("#edit-view").hidden = name !== "edit";
  $("#label-view").hidden = name !== "label";
  $("#tab-edit").classList.toggle("active", name === "edit");
  $("#tab-label").classList.toggle("active", name === "label");
}

async function refreshCodes() {
  const info = await fetch("/api/info").then((r) => r.json());
  fillCodes(info.codes, $("#codes-file").value);
}

async function start() {
  try {
    studio.info = await fetch("/api/info").then((r) => r.json());
  } catch (error) {
    showError(`cannot reach the studio's server: ${error.message}`);
    return;
  }
  const info = studio.info;
  $("#model").textContent = `${info.model}, ${info.resolution} x ${info.resolution}`;
  $("#label-suggest").disabled = !info.suggest;
  $("#label-suggest").title = info.suggest ? "Faces whose labels would teach most" : "no suggestion method in this version";
  buildSliders();
  fillCodes(info.codes);
  $("#error-close").addEventListener("click", clearError);
  $("#tab-edit").addEventListener("click", () => showTab("edit"));
  $("#tab-label").addEventListener("click", () => showTab("label"));
  $("#seed").addEventListener("change", () => seedSource($("#seed").value));
  $("#seed-prev").addEventListener("click", () => seedSource(Number($("#seed").value) - 1));
  $("#seed-next").addEventListener("click", () => seedSource(Number($("#seed").value) + 1));
  $("#seed-random").addEventListener("click", () => seedSource(Math.floor(Math.random() * 1e6)));
  $("#codes-load").addEventListener("click", () => {
    const [folder, file] = $("#codes-file").value.split("/");
    if (file) setSource({ kind: "codes", folder, file, row: Number($("#codes-row").value) });
    else showError("no codes file: add one with \u201cAdd codes\u201d or make a labelling sheet");
  });
  $("#codes-upload").addEventListener("change", (event) => event.target.files[0] && uploadCodes(event.target.files[0]));
  $("#photo-upload").addEventListener("change", (event) => event.target.files[0] && uploadPhoto(event.target.files[0]));
  $("#undo").addEventListener("click", undo);
  $("#reset").addEventListener("click", reset);
  $("#export").addEventListener("click", exportEdit);
  $("#label-new").addEventListener("click", () => loadSheet({ seed: Number($("#label-seed").value), n: Number($("#label-n").value) }));
  $("#label-suggest").addEventListener("click", () => loadSheet({ suggest: true, n: Number($("#label-n").value) }));
  applyState(info.state);
  document.body.dataset.ready = "1";
}

start();
