// The editors' page: search shots, play them, label them, train a classifier, label what it asks.
// Plain JS, no framework, nothing loaded from elsewhere. Untrusted text only ever reaches the
// page through textContent (never innerHTML); links are followed only when they are http(s).
// This module: the keys and the start. The others: util (elements, messages, formatting), state,
// api (fetch, errors, sign-in), grid (episodes, cards, selection), search, player, labels.
import { columns, loadEpisodes, select } from "./grid.js";
import { markShot, normalLabel, recentLabels, suggestions, train, useLabel } from "./labels.js";
import { play, setupPlayer } from "./player.js";
import { fillForm, more, search } from "./search.js";
import { LABEL_KEY, state } from "./state.js";
import { $, clearError, el } from "./util.js";

export function onKey(event) {
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

export function start() {
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
