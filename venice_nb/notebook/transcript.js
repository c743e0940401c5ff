// The interactive transcript (anywidget ES module: `export default { render }`; also inlined by
// the HTML fallback, which calls `wire` on markup built in Python).
// Every word is a <span data-start data-end>; a click seeks the player to the word's start and
// plays; while audio plays, the word being spoken carries the class "vnb-active". A group with a
// `speaker` (a line of a dialogue) starts with the speaker's name, which seeks to the line too.
// Keyboard: the transcript is one Tab stop (a roving tabindex, on the spoken word while audio
// plays); arrow keys move between stamps, names and words, Home/End to the ends, Enter or Space
// plays from the focused one. Handled keys do not reach the notebook's own shortcuts (see below).

function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}

// Seconds a word stays highlighted after its end when the next word has not started yet.
const LINGER = 0.6;
// Speakers are coloured vnb-speaker-0 ... -5 in order of first appearance (as in Python).
const SPEAKER_COLOURS = 6;

const TARGETS = ".vnb-stamp, .vnb-speaker, .vnb-word";
const KEY_HELP = "Transcript: arrow keys move between words, Enter plays from the word";
const KEYS = new Set(["ArrowRight", "ArrowDown", "ArrowLeft", "ArrowUp", "Home", "End", "Enter", " "]);

function handled(event) {
  if (event.altKey || event.ctrlKey || event.metaKey || !KEYS.has(event.key)) return null;
  const target = event.target && event.target.closest && event.target.closest(TARGETS);
  return target && target.closest(".vnb-transcript[data-wired='1']") ? target : null;
}

// JupyterLab and Notebook 7 read shortcuts on the document before the event reaches the
// transcript (capture phase), so a key the transcript handles is marked here, earlier still:
// Lumino's registry ignores an event whose default is prevented (ArrowDown would otherwise
// select the next cell). Installed once per page, whatever number of transcripts it shows.
if (typeof window !== "undefined" && !window.__vnbTranscriptKeys) {
  window.__vnbTranscriptKeys = true;
  window.addEventListener(
    "keydown",
    (event) => {
      if (handled(event)) event.preventDefault();
    },
    true,
  );
}

// Wire click-to-seek, keyboard navigation and highlighting into an already built transcript
// element. Returns a cleanup function.
export function wire(root) {
  const audio = root.querySelector("audio");
  const words = Array.from(root.querySelectorAll(".vnb-word"));
  const targets = Array.from(root.querySelectorAll(TARGETS));
  const text = root.querySelector(".vnb-text");
  if (text) {
    text.setAttribute("role", "group");
    text.setAttribute("aria-label", KEY_HELP);
  }
  let stop = null; // the one target Tab reaches
  function rove(el, focus) {
    if (!el) return;
    if (stop && stop !== el) stop.tabIndex = -1;
    stop = el;
    el.tabIndex = 0;
    if (focus) el.focus();
  }
  for (const t of targets) t.tabIndex = -1;
  rove(targets[0], false);
  const starts = words.map((w) => parseFloat(w.dataset.start));
  const ends = words.map((w) => parseFloat(w.dataset.end));
  let active = -1;
  let frame = 0;

  function indexAt(t) {
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= t + 0.001) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found >= 0 && t > ends[found] + LINGER) return -1;
    return found;
  }

  function highlight() {
    const i = audio && words.length ? indexAt(audio.currentTime) : -1;
    if (i === active) return;
    if (active >= 0) {
      words[active].classList.remove("vnb-active");
      words[active].removeAttribute("aria-current");
    }
    if (i >= 0) {
      words[i].classList.add("vnb-active");
      words[i].setAttribute("aria-current", "true");
      // Tab into the transcript lands on the spoken word, unless the reader is in it already.
      if (!root.contains(document.activeElement)) rove(words[i], false);
    }
    active = i;
    root.dataset.active = String(i);
  }

  function tick() {
    highlight();
    frame = audio && !audio.paused && !audio.ended ? requestAnimationFrame(tick) : 0;
  }

  function onPlay() {
    if (!frame) frame = requestAnimationFrame(tick);
  }

  function playFrom(target) {
    audio.currentTime = parseFloat(target.dataset.start);
    highlight();
    const playing = audio.play();
    if (playing && playing.catch) playing.catch(() => {});
  }

  function onClick(event) {
    const target = event.target.closest("[data-start]");
    if (!target || !root.contains(target) || !audio) return;
    if (target.matches(TARGETS)) rove(target, false);
    playFrom(target);
  }

  function onKeyDown(event) {
    const target = handled(event);
    if (!target || !root.contains(target)) return;
    const i = targets.indexOf(target);
    const last = targets.length - 1;
    const moves = {
      ArrowRight: i + 1,
      ArrowDown: i + 1,
      ArrowLeft: i - 1,
      ArrowUp: i - 1,
      Home: 0,
      End: last,
    };
    if (event.key in moves) {
      rove(targets[Math.max(0, Math.min(last, moves[event.key]))], true);
    } else if ((event.key === "Enter" || event.key === " ") && audio) {
      playFrom(target);
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }

  function onFocusIn(event) {
    const target = event.target.closest && event.target.closest(TARGETS);
    if (target && root.contains(target)) rove(target, false);
  }

  root.addEventListener("click", onClick);
  root.addEventListener("keydown", onKeyDown);
  root.addEventListener("focusin", onFocusIn);
  if (audio) {
    audio.addEventListener("play", onPlay);
    audio.addEventListener("timeupdate", highlight);
    audio.addEventListener("seeked", highlight);
  }
  root.dataset.wired = "1";
  return () => {
    root.removeEventListener("click", onClick);
    root.removeEventListener("keydown", onKeyDown);
    root.removeEventListener("focusin", onFocusIn);
    if (audio) {
      audio.removeEventListener("play", onPlay);
      audio.removeEventListener("timeupdate", highlight);
      audio.removeEventListener("seeked", highlight);
    }
    if (frame) cancelAnimationFrame(frame);
  };
}

function span(className, text, start, end) {
  const el = document.createElement("span");
  el.className = className;
  el.textContent = text;
  el.dataset.start = start.toFixed(3);
  if (end !== undefined) el.dataset.end = end.toFixed(3);
  return el;
}

// Build the transcript DOM from the widget's traits: `groups` is a list of
// {start, words: [[text, start, end], ...], speaker?}, one per segment.
function build(model, root) {
  root.replaceChildren();
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.preload = "metadata";
  const view = model.get("audio");
  let url = null;
  if (view && view.byteLength) {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    url = URL.createObjectURL(new Blob([bytes], { type: model.get("mime") || "audio/mpeg" }));
    audio.src = url;
    root.appendChild(audio);
  }

  const meta = document.createElement("div");
  meta.className = "vnb-meta";
  const summary = document.createElement("span");
  summary.textContent = model.get("summary");
  meta.appendChild(summary);
  for (const [text, kind] of model.get("badges")) {
    const b = document.createElement("span");
    b.className = `vnb-badge vnb-badge-${kind}`;
    b.textContent = text;
    meta.appendChild(b);
  }
  root.appendChild(meta);

  const body = document.createElement("div");
  body.className = "vnb-text";
  const speakers = [];
  for (const group of model.get("groups")) {
    const p = document.createElement("p");
    p.className = "vnb-seg";
    p.dataset.start = group.start.toFixed(3);
    const stamp = span("vnb-stamp", `[${clock(group.start)}]`, group.start);
    stamp.title = "play from here";
    p.appendChild(stamp);
    if (group.speaker) {
      if (!speakers.includes(group.speaker)) speakers.push(group.speaker);
      const colour = speakers.indexOf(group.speaker) % SPEAKER_COLOURS;
      const who = span(`vnb-speaker vnb-speaker-${colour}`, group.speaker, group.start);
      who.title = "play from here";
      p.appendChild(who);
      p.appendChild(document.createTextNode(": "));
    }
    group.words.forEach(([text, start, end], i) => {
      if (i) p.appendChild(document.createTextNode(" "));
      p.appendChild(span("vnb-word", text, start, end));
    });
    body.appendChild(p);
  }
  root.appendChild(body);
  return url;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "vnb-transcript";
  el.appendChild(root);
  let url = build(model, root);
  let unwire = wire(root);
  if (model.get("autoplay") && url) {
    // Play once: a re-rendered view (another tab, a reopened notebook) stays quiet.
    model.set("autoplay", false);
    model.save_changes();
    const playing = root.querySelector("audio").play();
    if (playing && playing.catch) playing.catch(() => {});
  }

  function rebuild() {
    unwire();
    if (url) URL.revokeObjectURL(url);
    url = build(model, root);
    unwire = wire(root);
  }
  function onMessage(msg) {
    const audio = root.querySelector("audio");
    if (msg && msg.type === "seek" && audio) {
      audio.currentTime = msg.time;
      if (msg.play) audio.play().catch(() => {});
    }
  }
  const traits = ["change:audio", "change:groups", "change:summary", "change:badges"];
  for (const t of traits) model.on(t, rebuild);
  model.on("msg:custom", onMessage);
  return () => {
    for (const t of traits) model.off(t, rebuild);
    model.off("msg:custom", onMessage);
    unwire();
    const audio = root.querySelector("audio");
    if (audio) audio.pause();
    if (url) URL.revokeObjectURL(url);
  };
}

export default { render };
