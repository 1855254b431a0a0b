// The editors' page: search shots, play them, label them, train a classifier, label what it asks.
// Plain JS, no framework, nothing loaded from elsewhere. Untrusted text only ever reaches the
// page through textContent (never innerHTML); links are followed only when they are http(s).
"use strict";

const PAGE_SIZE = 24;
const SUGGESTIONS = 24;
const LOGIN_PATH = "/login";  // the server's sign-in (media_platform/api/auth.py)
const LABEL_KEY = "media-platform-label";
const RECENT_KEY = "media-platform-recent-labels";
const EDITOR = "editors-page";
const SEARCH_FIELDS = ["min_duration", "max_duration", "per_episode", "title"];
const LOC_SOURCES = new Set(["query", "body", "path", "header", "cookie"]);

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const state = {
  items: [],          // the shots in the grid
  selected: -1,       // index of the selected card
  mode: "search",     // "search" | "suggestions"
  cursor: null,       // next page of the search
  params: null,       // URLSearchParams of the search shown
  searchSeq: 0,       // ignore answers to superseded searches
  loadingMore: false,
  label: "",
  marks: new Map(),   // shot id -> true (positive) | false (negative), for state.label
  episodes: new Map(),// partition -> {title, kind, dagster_url}
  episodesLoaded: null,
  episodesAt: 0,
  tokenPrompt: null,
  labelQueue: Promise.resolve(),
  labelLoading: null,  // {label, done} while a label's examples load
  training: false,
  span: null,         // {start, end} the player stops at
};

// ---- the API -----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** A readable message from an error answer: FastAPI's 422 list names each parameter. */
function describe(status, statusText, data) {
  const detail = data && typeof data === "object" ? data.detail : data;
  if (Array.isArray(detail)) {
    return detail.map((d) => {
      if (!d || typeof d !== "object") return String(d);
      const loc = (Array.isArray(d.loc) ? d.loc : []).filter((p, i) => !(i === 0 && LOC_SOURCES.has(p)));
      return (loc.length ? `${loc.join(".")}: ` : "") + (d.msg || JSON.stringify(d));
    }).join("\n");
  }
  if (typeof detail === "string" && detail) return detail;
  if (detail) return JSON.stringify(detail);
  return `${status} ${statusText || "error"}`;
}

/** Sign in through the server's ``/login`` (it sets an HttpOnly cookie that every later request,
 *  keyframes and media included, carries; the page never keeps the token itself). */
async function signIn(token) {
  const response = await fetch(LOGIN_PATH, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }),
  });
  return response.ok;
}

/** Ask for the token once (all requests waiting share the one dialog). Resolves true once
 *  signed in, false when the editor closes the dialog. */
function askToken() {
  if (state.tokenPrompt) return state.tokenPrompt;
  const dialog = $("token-dialog");
  state.tokenPrompt = new Promise((resolve) => {
    $("token-error").hidden = true;
    $("token").value = "";
    let signedIn = false;
    const onSubmit = async (event) => {
      event.preventDefault();
      const token = $("token").value;
      if (!token) return;
      $("token-submit").disabled = true;
      try {
        signedIn = await signIn(token);
      } catch {
        signedIn = false;
      } finally {
        $("token-submit").disabled = false;
      }
      if (signedIn) {
        dialog.close();
        // Keyframes refused while signed out load again.
        for (const img of document.querySelectorAll(".thumb img")) {
          if (img.complete && !img.naturalWidth && img.src) img.src = img.src;
        }
      }
      else {
        $("token-error").hidden = false;
        $("token").select();
      }
    };
    const onClose = () => {
      dialog.removeEventListener("close", onClose);
      $("token-form").removeEventListener("submit", onSubmit);
      state.tokenPrompt = null;
      resolve(signedIn);
    };
    dialog.addEventListener("close", onClose);
    $("token-form").addEventListener("submit", onSubmit);
    dialog.showModal();
    $("token").focus();
  });
  return state.tokenPrompt;
}

async function api(path, { method = "GET", body } = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ApiError(0, `the server cannot be reached (${error.message})`);
    }
    if (response.status === 401) {
      if (!(await askToken())) throw new ApiError(401, "this server requires its access token");
      continue;
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try { data = JSON.parse(text); } catch { data = text.slice(0, 300); }
    }
    if (!response.ok) throw new ApiError(response.status, describe(response.status, response.statusText, data));
    return data;
  }
  throw new ApiError(401, "the access token was refused");
}

// ---- messages ----------------------------------------------------------------------------------

function showError(what, error) {
  const message = error instanceof Error ? error.message : String(error);
  $("error-text").textContent = `${what}: ${message}`;
  $("error").hidden = false;
}
function clearError() {
  $("error").hidden = true;
  $("error-text").textContent = "";
}
function setStatus(text) { $("grid-status").textContent = text; }

// ---- formatting --------------------------------------------------------------------------------

function clock(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "–";
  const s = Math.round(Math.max(0, seconds) * 10) / 10;  // 59.96 s shows as 1:00.0, not 0:60.0
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = (s % 60).toFixed(1).padStart(4, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}
function seconds(value) { return typeof value === "number" ? `${value.toFixed(1)} s` : "–"; }
function number(value, digits = 3) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";
}
/** Only http(s) links (and same-origin paths) are ever put in an href. */
function safeUrl(url) {
  if (typeof url !== "string") return null;
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}
/** Same-origin paths only (keyframes, media, run status). */
function localPath(url) {
  return typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : null;
}

// ---- episodes (Dagster links, kinds) -----------------------------------------------------------

function loadEpisodes() {
  if (state.episodesLoaded) return state.episodesLoaded;
  state.episodesAt = performance.now();
  state.episodesLoaded = (async () => {
    let cursor = null;
    for (let page = 0; page < 50; page++) {
      const params = new URLSearchParams({ limit: "200" });
      if (cursor) params.set("cursor", cursor);
      const data = await api(`/episodes?${params}`);
      for (const e of data.results || []) state.episodes.set(e.partition, e);
      cursor = data.next_cursor;
      if (!cursor) break;
    }
    linkEpisodes();
  })().catch((error) => {
    state.episodesLoaded = null;
    showError("Episodes", error);
  });
  return state.episodesLoaded;
}

/** Episodes added since the page loaded: read the list again (at most every 30 s). */
function ensureEpisodes(items) {
  if (!items.some((shot) => !state.episodes.has(shot.partition))) return;
  if (!state.episodesLoaded || performance.now() - (state.episodesAt || 0) < 30_000) return;
  state.episodesLoaded = null;
  loadEpisodes();
}

function linkEpisodes() {
  for (const link of document.querySelectorAll("a.dagster[data-partition]")) {
    const episode = state.episodes.get(link.dataset.partition);
    const href = episode && safeUrl(episode.dagster_url);
    if (href) {
      link.href = href;
      link.hidden = false;
    }
  }
}

// ---- the grid ----------------------------------------------------------------------------------

function card(shot, index) {
  const mark = state.marks.get(shot.id);
  const keyframe = localPath(shot.keyframe_url);
  const img = el("img", { alt: "", loading: "lazy", decoding: "async", width: 320, height: 180 });
  if (keyframe) img.src = keyframe;
  const thumb = el("button", { class: "thumb", type: "button", title: "Play this shot (Enter)" },
    img,
    el("span", { class: "dur", text: seconds(shot.duration) }),
    el("span", { class: "play", text: "▶", "aria-hidden": "true" }),
    el("span", { class: "badge", text: mark === true ? "positive" : mark === false ? "negative" : "" }));
  thumb.addEventListener("click", () => { select(index, false); play(index); });
  img.addEventListener("error", () => thumb.classList.add("no-keyframe"));
  img.addEventListener("load", () => thumb.classList.remove("no-keyframe"));

  const dagster = el("a", { class: "dagster", text: "Dagster ↗", target: "_blank", rel: "noopener", hidden: true,
    title: "This episode's asset page in the Dagster UI", "data-partition": shot.partition });
  const episode = state.episodes.get(shot.partition);
  const href = episode && safeUrl(episode.dagster_url);
  if (href) { dagster.href = href; dagster.hidden = false; }

  const title = [shot.title, shot.episode && shot.episode !== shot.title ? shot.episode : null].filter(Boolean);
  const meta = el("div", { class: "meta" },
    el("div", { class: "title", text: title.join(" · "), title: `${title.join(" · ")} — shot ${shot.shot}` }),
    el("div", { class: "sub" },
      el("span", { class: "time mono", text: `${clock(shot.start)} – ${clock(shot.end)}` }),
      dagster));
  const scores = [];
  if (typeof shot.label_score === "number") scores.push(`label ${number(shot.label_score, 2)}`);
  if (shot.feed) scores.push(String(shot.feed).replaceAll("_", " "));
  if (typeof shot.score === "number" && state.mode === "search" && state.params && state.params.get("q")) {
    scores.push(`match ${number(shot.score, 2)}`);
  }
  if (scores.length) meta.append(el("div", { class: "score", text: scores.join(" · ") }));

  const tags = el("div", { class: "tags" });
  const sorted = [...(shot.tags || [])].sort((a, b) => (b.score ?? 0) - (a.score ?? 0)).slice(0, 5);
  for (const t of sorted) {
    const chip = el("button", { class: "tag", type: "button", text: t.tag,
      title: `${t.tag}: ${number(t.score, 2)} (${t.source || "tag"}) — click to search this tag` });
    chip.addEventListener("click", () => searchTag(t.tag));
    tags.append(chip);
  }

  const pos = el("button", { class: "pos", type: "button", "aria-pressed": String(mark === true),
    title: "Positive example (p)" }, "✓ Positive ", el("kbd", { text: "p" }));
  const neg = el("button", { class: "neg", type: "button", "aria-pressed": String(mark === false),
    title: "Negative example (n)" }, "✗ Negative ", el("kbd", { text: "n" }));
  pos.addEventListener("click", () => { select(index, false); markShot(index, true); });
  neg.addEventListener("click", () => { select(index, false); markShot(index, false); });

  const node = el("article", {
    class: "card" + (mark === true ? " positive" : mark === false ? " negative" : ""),
    role: "listitem", id: `shot-${index}`, "data-id": shot.id,
  }, thumb, meta, tags, el("div", { class: "mark" }, pos, neg));
  node.addEventListener("click", () => select(index, false));
  return node;
}

function render(append = 0) {
  const grid = $("grid");
  const fragment = document.createDocumentFragment();
  if (!append) grid.replaceChildren();
  for (let i = append; i < state.items.length; i++) fragment.append(card(state.items[i], i));
  grid.append(fragment);
  $("empty").hidden = state.items.length > 0;
  $("more").hidden = !(state.mode === "search" && state.cursor);
  if (state.selected >= state.items.length) state.selected = state.items.length - 1;
  if (!append) state.selected = state.items.length ? 0 : -1;
  highlight(false);
}

function refreshCard(index) {
  const old = $(`shot-${index}`);
  if (!old) return;
  const fresh = card(state.items[index], index);
  old.replaceWith(fresh);
  highlight(false);
}

function highlight(scroll) {
  for (const node of document.querySelectorAll(".card.selected")) {
    node.classList.remove("selected");
    node.removeAttribute("aria-current");
  }
  const node = state.selected >= 0 ? $(`shot-${state.selected}`) : null;
  if (node) {
    node.classList.add("selected");
    node.setAttribute("aria-current", "true");
    if (scroll) node.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }
}

function select(index, scroll = true) {
  if (!state.items.length) return;
  state.selected = Math.max(0, Math.min(state.items.length - 1, index));
  highlight(scroll);
}

function columns() {
  const template = getComputedStyle($("grid")).gridTemplateColumns;
  return Math.max(1, template.split(" ").filter(Boolean).length);
}

// ---- search ------------------------------------------------------------------------------------

function formParams() {
  const params = new URLSearchParams();
  const q = $("q").value.trim();
  if (q) params.set("q", q);
  for (const tag of $("tag").value.split(",").map((t) => t.trim()).filter(Boolean)) params.append("tag", tag);
  for (const name of SEARCH_FIELDS) {
    const value = $(name).value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

function fillForm(params) {
  $("q").value = params.get("q") || "";
  $("tag").value = params.getAll("tag").join(", ");
  for (const name of SEARCH_FIELDS) $(name).value = params.get(name) || "";
}

function rememberInUrl() {
  const params = new URLSearchParams(state.params || "");
  if (state.label) params.set("label", state.label);
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

async function search() {
  const seq = ++state.searchSeq;
  const params = formParams();
  state.mode = "search";
  state.params = params;
  $("grid-title").textContent = "Search";
  setStatus("searching…");
  rememberInUrl();
  const query = new URLSearchParams(params);
  query.set("limit", String(PAGE_SIZE));
  try {
    const data = await api(`/shots?${query}`);
    if (seq !== state.searchSeq) return;
    clearError();
    state.items = data.results || [];
    state.cursor = data.next_cursor || null;
    render();
    ensureEpisodes(state.items);
    const took = typeof data.took_ms === "number" ? ` in ${data.took_ms.toFixed(0)} ms` : "";
    setStatus(`${state.items.length}${state.cursor ? "+" : ""} shots${took}`);
  } catch (error) {
    if (seq !== state.searchSeq) return;
    setStatus("");
    showError("Search", error);
  }
}

async function more() {
  if (state.mode !== "search" || !state.cursor || state.loadingMore) return;
  state.loadingMore = true;
  const seq = state.searchSeq;
  const query = new URLSearchParams(state.params || "");
  query.set("limit", String(PAGE_SIZE));
  query.set("cursor", state.cursor);
  try {
    const data = await api(`/shots?${query}`);
    if (seq !== state.searchSeq) return;
    const start = state.items.length;
    state.items.push(...(data.results || []));
    state.cursor = data.next_cursor || null;
    render(start);
    ensureEpisodes(state.items);
    setStatus(`${state.items.length}${state.cursor ? "+" : ""} shots`);
  } catch (error) {
    showError("More shots", error);
  } finally {
    state.loadingMore = false;
  }
}

function searchTag(tag) {
  const tags = $("tag").value.split(",").map((t) => t.trim()).filter(Boolean);
  if (!tags.includes(tag)) tags.push(tag);
  $("tag").value = tags.join(", ");
  search();
}

// ---- the player --------------------------------------------------------------------------------

function play(index) {
  const shot = state.items[index];
  const media = shot && localPath(shot.media_url);
  if (!media) return;
  const player = $("player");
  const [base] = media.split("#");
  $("player-panel").hidden = false;
  $("player-title").textContent = shot.title || "Player";
  $("player-span").textContent = `${clock(shot.start)} – ${clock(shot.end)} (${seconds(shot.duration)})`;
  const episode = state.episodes.get(shot.partition);
  const href = episode && safeUrl(episode.dagster_url);
  $("player-dagster").hidden = !href;
  if (href) $("player-dagster").href = href;
  state.span = { start: shot.start, end: shot.end };
  player.dataset.shot = shot.id;
  if (player.dataset.base !== base) {
    player.dataset.base = base;
    const keyframe = localPath(shot.keyframe_url);
    if (keyframe) player.poster = keyframe;
    player.src = media;              // the #t=start,end fragment seeks there once loaded
  } else {
    player.currentTime = shot.start;
  }
  player.play().catch(() => {});   // a refusal (autoplay policy) leaves the controls to the editor
}

function setupPlayer() {
  const player = $("player");
  player.addEventListener("loadedmetadata", () => {
    if (state.span && Math.abs(player.currentTime - state.span.start) > 0.25) player.currentTime = state.span.start;
  });
  player.addEventListener("timeupdate", () => {
    if (state.span && player.currentTime >= state.span.end - 0.04 && !player.paused) {
      const end = state.span.end;
      state.span = null;  // done: the controls play on from here if the editor wants more
      player.pause();
      player.currentTime = end;
    }
  });
  player.addEventListener("seeking", () => {
    // The editor scrubbing outside the shot: play on freely.
    const span = state.span;
    if (span && (player.currentTime < span.start - 0.5 || player.currentTime > span.end + 0.5)) state.span = null;
  });
  player.addEventListener("error", () => {
    const error = player.error;
    if (error) showError("Player", `the media could not be played (code ${error.code})`);
  });
  $("player-close").addEventListener("click", () => {
    player.pause();
    $("player-panel").hidden = true;
  });
}

// ---- labels ------------------------------------------------------------------------------------

function normalLabel(text) {
  return text.trim().toLowerCase().replace(/\s+/g, "_");
}

function showCounts(positives, negatives) {
  $("count-positive").textContent = typeof positives === "number" ? String(positives) : "–";
  $("count-negative").textContent = typeof negatives === "number" ? String(negatives) : "–";
}

function showEvaluation(classifier) {
  $("evaluation").hidden = !classifier;
  if (!classifier) return;
  $("eval-ap").textContent = number(classifier.average_precision);
  $("eval-positives").textContent = String(classifier.positives ?? "–");
  $("eval-negatives").textContent = String(classifier.negatives ?? "–");
  $("eval-threshold").textContent = number(classifier.threshold, 2);
  $("eval-folds").textContent = String(classifier.folds ?? "–");
  $("eval-version").textContent = String(classifier.version ?? "–");
}

async function useLabel(text) {
  const label = normalLabel(text);
  $("label").value = label;
  if (!label) return;
  state.label = label;
  localStorage.setItem(LABEL_KEY, label);
  rememberLabel(label);
  rememberInUrl();
  $("train").disabled = false;
  $("suggest").disabled = false;
  // Enter fires both "change" and "submit": one request for the two.
  if (state.labelLoading && state.labelLoading.label === label) return state.labelLoading.done;
  const done = refreshLabel().finally(() => { state.labelLoading = null; });
  state.labelLoading = { label, done };
  return done;
}

async function refreshLabel() {
  const label = state.label;
  if (!label) return null;
  try {
    const data = await api(`/labels/${encodeURIComponent(label)}`);
    if (label !== state.label) return null;
    state.marks = new Map((data.examples || []).map((e) => [e.id, Boolean(e.positive)]));
    showCounts(data.positives, data.negatives);
    showEvaluation(data.classifier);
    for (let i = 0; i < state.items.length; i++) refreshCard(i);
    return data;
  } catch (error) {
    if (label !== state.label) return null;
    if (error instanceof ApiError && error.status === 404) {  // a new label: no examples yet
      state.marks = new Map();
      showCounts(0, 0);
      showEvaluation(null);
      for (let i = 0; i < state.items.length; i++) refreshCard(i);
      return null;
    }
    showError(`Label ${label}`, error);
    return null;
  }
}

function recentLabels() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
    return Array.isArray(list) ? list.filter((l) => typeof l === "string").slice(0, 20) : [];
  } catch {
    return [];
  }
}

function rememberLabel(label) {
  const list = [label, ...recentLabels().filter((l) => l !== label)].slice(0, 20);
  localStorage.setItem(RECENT_KEY, JSON.stringify(list));
  $("known-labels").replaceChildren(...list.map((l) => el("option", { value: l })));
}

/** Mark the shot at ``index`` positive (true) or negative (false); the same mark again or
 *  ``null`` removes it. */
async function markShot(index, positive) {
  const shot = state.items[index];
  if (!shot) return;
  if (!state.label) {
    showError("Label", "choose a label first (the field in the Label panel)");
    $("label").focus();
    return;
  }
  const label = state.label;
  const before = state.marks.has(shot.id) ? state.marks.get(shot.id) : null;
  const after = positive === before ? null : positive;
  const body = { positive: [], negative: [], remove: [], editor: EDITOR };
  if (after === true) body.positive.push(shot.id);
  else if (after === false) body.negative.push(shot.id);
  else body.remove.push(shot.id);
  // At once on the page; undone if the server refuses.
  if (after === null) state.marks.delete(shot.id); else state.marks.set(shot.id, after);
  refreshCard(index);
  // One request at a time, in the editor's order (a quick p, p, u reaches the server as typed).
  const request = state.labelQueue.then(() => api(`/labels/${encodeURIComponent(label)}`, { method: "POST", body }));
  state.labelQueue = request.catch(() => {});
  try {
    const data = await request;
    if (label === state.label) showCounts(data.positives, data.negatives);
  } catch (error) {
    if (label === state.label) {
      if (before === null) state.marks.delete(shot.id); else state.marks.set(shot.id, before);
      const i = state.items.findIndex((s) => s.id === shot.id);
      if (i >= 0) refreshCard(i);
    }
    showError(`Label ${label}`, error);
  }
}

function setProgress(kind, text) {
  const box = $("progress");
  box.hidden = false;
  box.className = `progress ${kind}`;
  $("progress-text").textContent = text;
}

async function train() {
  if (!state.label || state.training) return;
  const label = state.label;
  state.training = true;
  $("train").disabled = true;
  $("run-link").hidden = true;
  setProgress("running", "starting the training…");
  try {
    const started = await api(`/labels/${encodeURIComponent(label)}/train`, { method: "POST" });
    const runLink = safeUrl(started.dagster_url);
    if (runLink) { $("run-link").href = runLink; $("run-link").hidden = false; }
    const statusUrl = localPath(started.status_url);
    if (!statusUrl) throw new ApiError(0, "the server gave no status URL for the run");
    const t0 = performance.now();
    let delay = 400;
    let run;
    for (;;) {
      run = await api(statusUrl);
      const elapsed = ((performance.now() - t0) / 1000).toFixed(0);
      setProgress("running", `${String(run.status || "").toLowerCase() || "running"} · ${elapsed} s`);
      if (run.done) break;
      await sleep(delay);
      delay = Math.min(delay * 1.4, 2000);
    }
    if (run.status !== "SUCCESS") {
      setProgress("failed", `training ${String(run.status).toLowerCase()}`);
      showError(`Train ${label}`, `the run ${run.run_id || ""} ended ${run.status}; see it in Dagster`);
      return;
    }
    setProgress("done", `trained in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (label === state.label) {
      await refreshLabel();
      await suggestions();
    }
  } catch (error) {
    setProgress("failed", "training not started");
    showError(`Train ${label}`, error);
  } finally {
    state.training = false;
    $("train").disabled = !state.label;
  }
}

async function suggestions() {
  if (!state.label) return;
  const label = state.label;
  const seq = ++state.searchSeq;
  setStatus("asking the classifier…");
  try {
    const data = await api(`/labels/${encodeURIComponent(label)}/suggestions?limit=${SUGGESTIONS}`);
    if (seq !== state.searchSeq) return;
    clearError();
    state.mode = "suggestions";
    state.items = data.suggestions || [];
    state.cursor = null;
    $("grid-title").textContent = `Next to label: ${label}`;
    render();
    ensureEpisodes(state.items);
    const scorer = data.scorer ? ` · ${data.scorer}` : "";
    setStatus(`${state.items.length} suggestions${scorer}`);
    $("grid").focus();
  } catch (error) {
    if (seq !== state.searchSeq) return;
    setStatus("");
    showError(`Suggestions ${label}`, error);
  }
}

// ---- keys --------------------------------------------------------------------------------------

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if ($("token-dialog").open) return;
  const target = event.target;
  const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement;
  if (event.key === "Escape") {
    if (typing) target.blur();
    $("player").pause();
    return;
  }
  if (typing) return;
  // Buttons keep Enter/Space for themselves; the rest of the keys work everywhere.
  const onButton = target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement;
  const keys = {
    "/": () => { $("q").focus(); $("q").select(); },
    ArrowRight: () => select(state.selected + 1),
    ArrowLeft: () => select(state.selected - 1),
    ArrowDown: () => select(state.selected + columns()),
    ArrowUp: () => select(state.selected - columns()),
    Home: () => select(0),
    End: () => select(state.items.length - 1),
    p: () => { const i = state.selected; markShot(i, true); select(i + 1); },
    n: () => { const i = state.selected; markShot(i, false); select(i + 1); },
    u: () => {
      const shot = state.items[state.selected];
      if (shot && state.marks.has(shot.id)) markShot(state.selected, state.marks.get(shot.id));
    },
    t: () => train(),
    s: () => suggestions(),
  };
  if (!onButton) {
    keys.Enter = () => play(state.selected);
    keys[" "] = () => play(state.selected);
  }
  const action = keys[event.key];
  if (!action) return;
  event.preventDefault();
  if (state.selected < 0 && ["p", "n", "u", "Enter", " "].includes(event.key)) return;
  action();
}

// ---- start -------------------------------------------------------------------------------------

function start() {
  setupPlayer();
  document.addEventListener("keydown", onKey);
  $("search").addEventListener("submit", async (event) => {
    event.preventDefault();
    await search();
    // Results in hand, the keys (arrows, p, n, Enter) go to the grid; "/" comes back here.
    if (state.items.length && $("search").contains(document.activeElement)) $("grid").focus();
  });
  $("label-form").addEventListener("submit", (event) => { event.preventDefault(); useLabel($("label").value); });
  $("label").addEventListener("change", () => {
    if (normalLabel($("label").value) !== state.label) useLabel($("label").value);
  });
  $("train").addEventListener("click", train);
  $("suggest").addEventListener("click", suggestions);
  $("more").addEventListener("click", more);
  $("error-close").addEventListener("click", clearError);
  if ("IntersectionObserver" in window) {
    new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) more();
    }, { rootMargin: "200px" }).observe($("more"));
  }
  $("known-labels").replaceChildren(...recentLabels().map((l) => el("option", { value: l })));
  const params = new URLSearchParams(location.search);
  fillForm(params);
  const label = params.get("label") || localStorage.getItem(LABEL_KEY) || "";
  // The first request settles the token (one dialog) before the others go out.
  loadEpisodes().then(() => {
    search();
    if (label) useLabel(label);
  });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
