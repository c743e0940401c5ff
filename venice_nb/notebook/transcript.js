// The interactive transcript (anywidget ES module: `export default { render }`; also inlined by
// the HTML fallback, which calls `wire` on markup built in Python).
// Every word is a <span data-start data-end>; a click seeks the player to the word's start and
// plays; while audio plays, the word being spoken carries the class "vnb-active". A group with a
// `speaker` (a line of a dialogue) starts with the speaker's name, which seeks to the line too.

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

// Wire click-to-seek and highlighting into an already built transcript element.
// Returns a cleanup function.
export function wire(root) {
  const audio = root.querySelector("audio");
  const words = Array.from(root.querySelectorAll(".vnb-word"));
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
    if (active >= 0) words[active].classList.remove("vnb-active");
    if (i >= 0) words[i].classList.add("vnb-active");
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

  function onClick(event) {
    const target = event.target.closest("[data-start]");
    if (!target || !root.contains(target) || !audio) return;
    audio.currentTime = parseFloat(target.dataset.start);
    highlight();
    const playing = audio.play();
    if (playing && playing.catch) playing.catch(() => {});
  }

  root.addEventListener("click", onClick);
  if (audio) {
    audio.addEventListener("play", onPlay);
    audio.addEventListener("timeupdate", highlight);
    audio.addEventListener("seeked", highlight);
  }
  root.dataset.wired = "1";
  return () => {
    root.removeEventListener("click", onClick);
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
