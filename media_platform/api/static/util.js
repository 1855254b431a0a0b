// Small helpers: elements, messages, formatting, safe URLs.

export const $ = (id) => document.getElementById(id);
export const el = (tag, props = {}, ...children) => {
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
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- messages ----------------------------------------------------------------------------------

export function showError(what, error) {
  const message = error instanceof Error ? error.message : String(error);
  $("error-text").textContent = `${what}: ${message}`;
  $("error").hidden = false;
}
export function clearError() {
  $("error").hidden = true;
  $("error-text").textContent = "";
}
export function setStatus(text) { $("grid-status").textContent = text; }

// ---- formatting --------------------------------------------------------------------------------

export function clock(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "–";
  const s = Math.round(Math.max(0, seconds) * 10) / 10;  // 59.96 s shows as 1:00.0, not 0:60.0
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = (s % 60).toFixed(1).padStart(4, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}
export function seconds(value) { return typeof value === "number" ? `${value.toFixed(1)} s` : "–"; }
export function number(value, digits = 3) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";
}
/** Only http(s) links (and same-origin paths) are ever put in an href. */
export function safeUrl(url) {
  if (typeof url !== "string") return null;
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}
/** Same-origin paths only (keyframes, media, run status). */
export function localPath(url) {
  return typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : null;
}
