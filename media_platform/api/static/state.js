// What the page holds: settings and the one state object.

export const PAGE_SIZE = 24;
export const SUGGESTIONS = 24;
export const LABEL_KEY = "media-platform-label";
export const RECENT_KEY = "media-platform-recent-labels";
export const EDITOR = "editors-page";
export const SEARCH_FIELDS = ["min_duration", "max_duration", "per_episode", "title"];

export const state = {
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
