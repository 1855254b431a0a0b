// The search form, its URL, pages of results.
import { api } from "./api.js";
import { ensureEpisodes, render } from "./grid.js";
import { PAGE_SIZE, SEARCH_FIELDS, state } from "./state.js";
import { $, clearError, number, setStatus, showError } from "./util.js";

export function formParams() {
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

export function fillForm(params) {
  $("q").value = params.get("q") || "";
  $("tag").value = params.getAll("tag").join(", ");
  for (const name of SEARCH_FIELDS) $(name).value = params.get(name) || "";
}

export function rememberInUrl() {
  const params = new URLSearchParams(state.params || "");
  if (state.label) params.set("label", state.label);
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

export async function search() {
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

export async function more() {
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

export function searchTag(tag) {
  const tags = $("tag").value.split(",").map((t) => t.trim()).filter(Boolean);
  if (!tags.includes(tag)) tags.push(tag);
  $("tag").value = tags.join(", ");
  search();
}
