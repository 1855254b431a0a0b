// The player: one span of an episode, paused at its end.
import { state } from "./state.js";
import { $, clock, localPath, safeUrl, seconds, showError } from "./util.js";

export function play(index) {
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

export function setupPlayer() {
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
