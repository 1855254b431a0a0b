// The API: fetch with readable errors; the sign-in when the server asks for its token.
import { state } from "./state.js";
import { $ } from "./util.js";

export const LOGIN_PATH = "/login";  // the server's sign-in (media_platform/api/auth.py)
export const LOC_SOURCES = new Set(["query", "body", "path", "header", "cookie"]);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** A readable message from an error answer: FastAPI's 422 list names each parameter. */
export function describe(status, statusText, data) {
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
export async function signIn(token) {
  const response = await fetch(LOGIN_PATH, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }),
  });
  return response.ok;
}

/** Ask for the token once (all requests waiting share the one dialog). Resolves true once
 *  signed in, false when the editor closes the dialog. */
export function askToken() {
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

export async function api(path, { method = "GET", body } = {}) {
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
