// Labels: marks, counts, training and its progress, evaluation, suggestions.
import { api, ApiError } from "./api.js";
import { ensureEpisodes, refreshCard, render } from "./grid.js";
import { rememberInUrl } from "./search.js";
import { EDITOR, LABEL_KEY, RECENT_KEY, state, SUGGESTIONS } from "./state.js";
import { $, clearError, el, localPath, number, safeUrl, setStatus, showError, sleep } from "./util.js";

export function normalLabel(text) {
  return text.trim().toLowerCase().replace(/\s+/g, "_");
}

export function showCounts(positives, negatives) {
  $("count-positive").textContent = typeof positives === "number" ? String(positives) : "–";
  $("count-negative").textContent = typeof negatives === "number" ? String(negatives) : "–";
}

export function showEvaluation(classifier) {
  $("evaluation").hidden = !classifier;
  if (!classifier) return;
  $("eval-ap").textContent = number(classifier.average_precision);
  $("eval-positives").textContent = String(classifier.positives ?? "–");
  $("eval-negatives").textContent = String(classifier.negatives ?? "–");
  $("eval-threshold").textContent = number(classifier.threshold, 2);
  $("eval-folds").textContent = String(classifier.folds ?? "–");
  $("eval-version").textContent = String(classifier.version ?? "–");
}

export async function useLabel(text) {
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

export async function refreshLabel() {
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

export function recentLabels() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
    return Array.isArray(list) ? list.filter((l) => typeof l === "string").slice(0, 20) : [];
  } catch {
    return [];
  }
}

export function rememberLabel(label) {
  const list = [label, ...recentLabels().filter((l) => l !== label)].slice(0, 20);
  localStorage.setItem(RECENT_KEY, JSON.stringify(list));
  $("known-labels").replaceChildren(...list.map((l) => el("option", { value: l })));
}

/** Mark the shot at ``index`` positive (true) or negative (false); the same mark again or
 *  ``null`` removes it. */
export async function markShot(index, positive) {
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

export function setProgress(kind, text) {
  const box = $("progress");
  box.hidden = false;
  box.className = `progress ${kind}`;
  $("progress-text").textContent = text;
}

export async function train() {
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

export async function suggestions() {
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
