// Episodes (Dagster links) and the grid of shots: cards, selection.
import { api } from "./api.js";
import { markShot } from "./labels.js";
import { play } from "./player.js";
import { search, searchTag } from "./search.js";
import { state } from "./state.js";
import { $, clock, el, localPath, number, safeUrl, seconds, showError } from "./util.js";

// ---- episodes (Dagster links, kinds) -----------------------------------------------------------

export function loadEpisodes() {
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
export function ensureEpisodes(items) {
  if (!items.some((shot) => !state.episodes.has(shot.partition))) return;
  if (!state.episodesLoaded || performance.now() - (state.episodesAt || 0) < 30_000) return;
  state.episodesLoaded = null;
  loadEpisodes();
}

export function linkEpisodes() {
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

export function card(shot, index) {
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

export function render(append = 0) {
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

export function refreshCard(index) {
  const old = $(`shot-${index}`);
  if (!old) return;
  const fresh = card(state.items[index], index);
  old.replaceWith(fresh);
  highlight(false);
}

export function highlight(scroll) {
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

export function select(index, scroll = true) {
  if (!state.items.length) return;
  state.selected = Math.max(0, Math.min(state.items.length - 1, index));
  highlight(scroll);
}

export function columns() {
  const template = getComputedStyle($("grid")).gridTemplateColumns;
  return Math.max(1, template.split(" ").filter(Boolean).length);
}
