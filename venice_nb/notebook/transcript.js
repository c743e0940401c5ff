// The interactive transcript (anywidget ES module: `export default { render }`; also inlined by
// the HTML fallback, which calls `wire` on markup built in Python, and drawn by the JupyterLab /
// Notebook 7 extension from the saved payload).
// Every word is a <span data-start data-end>; a click seeks the player to the word's start and
// plays; while audio plays, the word being spoken carries the class "vnb-active". A group with a
// `speaker` (a line of a dialogue) starts with the speaker's name, which seeks to the line too.
// Missing time ranges (`gaps`) show inline, in time order, as marked lines.
// Keyboard: the transcript is one Tab stop (a roving tabindex, on the spoken word while audio
// plays); arrow keys move between stamps, names and words, Home/End to the ends, Enter or Space
// plays from the focused one. Handled keys do not reach the notebook's own shortcuts (see below).
// Long transcripts (an hour is ~9,000 words): the text is built as one HTML string, events are
// delegated to the root, the spoken word is found by binary search and only the previous and the
// new word are touched. (Paragraphs do not use `content-visibility: auto`: in JupyterLab, each
// paragraph scrolled into view then cost a 50-60 ms style recalculation while following.) Above the
// text: a search box (matches marked, Enter/Shift+Enter step through them and seek) and a
// timeline strip (click to seek); while playing, the text box follows the spoken word until the
// reader scrolls by hand, then "Back to the spoken word" restores following.

function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;" };
function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// Seconds a word stays highlighted after its end when the next word has not started yet.
const LINGER = 0.6;
// Speakers are coloured vnb-speaker-0 ... -5 in order of first appearance (as in Python).
const SPEAKER_COLOURS = 6;
// A scroll box whose spoken word comes closer than this to its top or bottom edge is scrolled.
const FOLLOW_MARGIN = 24;

const TARGETS = ".vnb-stamp, .vnb-speaker, .vnb-word";
const KEY_HELP = "Transcript: arrow keys move between words, Enter plays from the word";
const KEYS = new Set([
  "ArrowRight",
  "ArrowDown",
  "ArrowLeft",
  "ArrowUp",
  "Home",
  "End",
  "Enter",
  " ",
]);

function handled(event) {
  if (event.altKey || event.ctrlKey || event.metaKey || !KEYS.has(event.key)) return null;
  const target = event.target && event.target.closest && event.target.closest(TARGETS);
  return target && target.closest(".vnb-transcript[data-wired='1']") ? target : null;
}

// JupyterLab and Notebook 7 read shortcuts on the document before the event reaches the
// transcript (capture phase), so a key the transcript handles is marked here, earlier still:
// Lumino's registry ignores an event whose default is prevented (ArrowDown would otherwise
// select the next cell). Installed once per page, whatever number of transcripts it shows.
// (The search box and the timeline carry `data-lm-suppress-shortcuts` instead: typing there
// must not run notebook commands, and its characters must still be typed.)
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

/** The gap line's text, as Python writes it. */
export function gapText(start, end, reason) {
  return `[${clock(start)}\u2013${clock(end)} missing: ${reason}]`;
}

/** A word reduced for search: case, accents' forms and punctuation ignored (as Python's). */
function norm(token) {
  return token
    .normalize("NFKC")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}']/gu, "")
    .replace(/^'+|'+$/g, "");
}

// The tools above the text: the search box and its count, the timeline strip.
function toolsHtml() {
  return (
    '<div class="vnb-tools">' +
    '<input type="search" class="vnb-search" placeholder="Search the transcript" ' +
    'aria-label="Search the transcript (Enter: next match, Shift+Enter: previous, Escape: clear)" ' +
    'data-lm-suppress-shortcuts="true" spellcheck="false" autocomplete="off">' +
    '<span class="vnb-count" aria-live="polite"></span></div>' +
    '<div class="vnb-timeline" role="slider" tabindex="0" aria-label="Timeline: click to jump" ' +
    'data-lm-suppress-shortcuts="true" aria-valuemin="0"></div>'
  );
}

// Wire click-to-seek, keyboard navigation, highlighting, search, timeline and following into an
// already built transcript element. Returns a cleanup function.
export function wire(root) {
  const audio = root.querySelector("audio");
  const text = root.querySelector(".vnb-text");
  if (!text) return () => {};
  // Wired again (the same markup shown twice): one set of tools.
  for (const old of root.querySelectorAll(".vnb-tools, .vnb-timeline, .vnb-back")) old.remove();
  text.setAttribute("role", "group");
  text.setAttribute("aria-label", KEY_HELP);
  text.insertAdjacentHTML("beforebegin", toolsHtml());
  text.insertAdjacentHTML(
    "afterend",
    '<button type="button" class="vnb-back" hidden>\u2193 Back to the spoken word</button>',
  );
  const search = root.querySelector(".vnb-search");
  const count = root.querySelector(".vnb-count");
  const timeline = root.querySelector(".vnb-timeline");
  const back = root.querySelector(".vnb-back");
  let note = root.querySelector(".vnb-note");

  const words = Array.from(text.getElementsByClassName("vnb-word"));
  const targets = Array.from(text.querySelectorAll(TARGETS));
  const position = new Map();
  targets.forEach((t, i) => position.set(t, i));
  if (targets.length && !targets[0].hasAttribute("tabindex")) {
    for (const t of targets) t.tabIndex = -1;
  }
  const starts = new Float64Array(words.length);
  const ends = new Float64Array(words.length);
  words.forEach((w, i) => {
    starts[i] = parseFloat(w.dataset.start);
    ends[i] = parseFloat(w.dataset.end);
  });
  // Paragraphs and gap lines in time order, for the timeline and for jumps.
  const lines = Array.from(text.children).filter((p) => p.dataset.start !== undefined);
  const lineStarts = lines.map((p) => parseFloat(p.dataset.start));

  let stop = null; // the one target Tab reaches
  function rove(el, focus) {
    if (!el) return;
    if (stop && stop !== el) stop.tabIndex = -1;
    stop = el;
    el.tabIndex = 0;
    if (focus) el.focus();
  }
  rove(targets[0], false);

  let active = -1;
  let frame = 0;
  let follow = true;
  let expected = null; // the scrollTop this view set last (not the reader's own scrolling)

  function total() {
    const given = parseFloat(root.dataset.duration || "");
    const measured = audio && Number.isFinite(audio.duration) ? audio.duration : 0;
    const last = ends.length ? ends[ends.length - 1] : 0;
    let gapEnd = 0;
    for (const p of lines) if (p.classList.contains("vnb-gap")) gapEnd = parseFloat(p.dataset.end);
    return Math.max(given > 0 ? given : 0, measured, last, gapEnd) || 1;
  }

  // -- timeline -------------------------------------------------------------------------------
  let span = 1;
  function drawTimeline() {
    span = total();
    const pct = (t) => ((100 * t) / span).toFixed(3);
    const bars = lines.map((p, i) => {
      const start = lineStarts[i];
      let end;
      if (p.classList.contains("vnb-gap")) {
        end = parseFloat(p.dataset.end);
        const reason = esc(p.textContent);
        return `<div class="vnb-tl-gap" style="left:${pct(start)}%;width:${pct(end - start)}%" title="${reason}"></div>`;
      }
      const last = p.lastElementChild;
      end = last && last.dataset.end ? parseFloat(last.dataset.end) : (lineStarts[i + 1] ?? start);
      return `<div class="vnb-tl-seg" style="left:${pct(start)}%;width:${pct(Math.max(end - start, 0))}%"></div>`;
    });
    timeline.innerHTML = bars.join("") + '<div class="vnb-tl-now"></div>';
    timeline.setAttribute("aria-valuemax", String(Math.round(span)));
    moveMarker();
  }
  let shown = -1;
  function moveMarker() {
    const now = audio ? audio.currentTime : 0;
    const marker = timeline.lastElementChild;
    if (marker) marker.style.left = `${Math.min(100, (100 * now) / span).toFixed(3)}%`;
    if (Math.floor(now) === shown) return;
    shown = Math.floor(now);
    timeline.setAttribute("aria-valuenow", String(shown));
    timeline.setAttribute("aria-valuetext", clock(now));
  }

  // -- highlight and following ----------------------------------------------------------------
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

  function lineAt(t) {
    let lo = 0;
    let hi = lineStarts.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (lineStarts[mid] <= t + 0.001) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return lines[found];
  }

  // Scroll the text box (never the page) so `el` is in view, a third from its top.
  function place(el, always) {
    const box = text.getBoundingClientRect();
    const r = el.getBoundingClientRect();
    if (!always && r.top >= box.top + FOLLOW_MARGIN && r.bottom <= box.bottom - FOLLOW_MARGIN) {
      return;
    }
    text.scrollTop = Math.max(0, text.scrollTop + (r.top - box.top) - text.clientHeight / 3);
    expected = text.scrollTop;
  }
  function reveal(el, always) {
    if (el && text.scrollHeight > text.clientHeight + 1) place(el, always);
  }

  function setFollow(on) {
    follow = on;
    back.hidden = on;
    root.dataset.follow = on ? "1" : "0";
  }

  function highlight() {
    const playing = audio && !audio.paused;
    const i = audio && words.length ? indexAt(audio.currentTime) : -1;
    moveMarker();
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
      if (follow && playing) reveal(words[i], false);
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

  function seek(seconds, play) {
    if (!audio) return;
    audio.currentTime = seconds;
    highlight();
    if (play) {
      const playing = audio.play();
      if (playing && playing.catch) playing.catch(() => {});
    }
  }

  function playFrom(target) {
    setFollow(true);
    seek(parseFloat(target.dataset.start), true);
  }

  // The reader scrolls by hand (wheel, touch, the scroll bar, keys on the box itself): stop
  // following, offer the way back. Scrolling this view does itself is told apart by `expected`.
  function byHand() {
    if (follow && audio && !audio.paused) setFollow(false);
  }
  function onScroll() {
    if (expected !== null && Math.abs(text.scrollTop - expected) <= 2) return;
    expected = null;
  }
  function onPointerDown(event) {
    if (event.target === text) byHand(); // the scroll bar
  }
  function onBoxKey(event) {
    if (event.target === text) byHand();
  }

  // -- search ---------------------------------------------------------------------------------
  let tokens = null;
  let matches = []; // [first word index, number of words]
  let current = -1;
  function mark(match, cls, on) {
    for (let k = match[0]; k < match[0] + match[1]; k += 1) words[k].classList.toggle(cls, on);
  }
  function showCount() {
    const n = matches.length;
    if (!search.value.trim()) count.textContent = "";
    else if (current >= 0) count.textContent = `${current + 1} of ${n}`;
    else count.textContent = n === 1 ? "1 match" : n ? `${n} matches` : "no matches";
    root.dataset.matches = String(n);
  }
  function find(query) {
    for (const m of matches) mark(m, "vnb-match", false);
    if (current >= 0) mark(matches[current], "vnb-match-current", false);
    matches = [];
    current = -1;
    const wanted = query.split(/\s+/).map(norm).filter(Boolean);
    if (wanted.length) {
      if (!tokens) tokens = words.map((w) => norm(w.textContent));
      const n = wanted.length;
      const last = wanted[n - 1];
      for (let i = 0; i + n <= tokens.length; i += 1) {
        let ok = true;
        for (let k = 0; k < n - 1 && ok; k += 1) ok = tokens[i + k] === wanted[k];
        // The last word may still be being typed: it matches the start of a word.
        if (ok && tokens[i + n - 1].startsWith(last)) matches.push([i, n]);
      }
      for (const m of matches) mark(m, "vnb-match", true);
    }
    showCount();
  }
  function step(delta) {
    if (!matches.length) return;
    if (current >= 0) mark(matches[current], "vnb-match-current", false);
    current = current < 0 ? (delta > 0 ? 0 : matches.length - 1) : current + delta;
    current = (current + matches.length) % matches.length;
    const first = words[matches[current][0]];
    mark(matches[current], "vnb-match-current", true);
    showCount();
    setFollow(true);
    reveal(first, true);
    seek(starts[matches[current][0]], false);
  }
  function onSearchInput() {
    find(search.value);
  }
  function onSearchKey(event) {
    if (event.key === "Enter") step(event.shiftKey ? -1 : 1);
    else if (event.key === "Escape") {
      search.value = "";
      find("");
    } else return;
    event.preventDefault();
    event.stopPropagation();
  }

  // -- timeline clicks and keys ----------------------------------------------------------------
  function jump(seconds) {
    const t = Math.max(0, Math.min(span, seconds));
    setFollow(true);
    reveal(lineAt(t), true);
    seek(t, false);
    moveMarker();
  }
  function onTimelineClick(event) {
    const box = timeline.getBoundingClientRect();
    if (box.width > 0) jump(((event.clientX - box.left) / box.width) * span);
  }
  function onTimelineKey(event) {
    const now = audio ? audio.currentTime : 0;
    const moves = { ArrowRight: 10, ArrowLeft: -10, PageDown: 60, PageUp: -60 };
    if (event.key in moves) jump(now + moves[event.key]);
    else if (event.key === "Home") jump(0);
    else if (event.key === "End") jump(span);
    else return;
    event.preventDefault();
    event.stopPropagation();
  }

  // -- clicks and keys on the text --------------------------------------------------------------
  function onClick(event) {
    const target = event.target.closest(".vnb-text [data-start]");
    if (!target || !text.contains(target) || !audio) return;
    if (target.matches(TARGETS)) rove(target, false);
    playFrom(target);
  }

  function onKeyDown(event) {
    const target = handled(event);
    if (!target || !text.contains(target)) return;
    const i = position.get(target);
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
      byHand(); // moving the focus is reading elsewhere
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
    if (target && text.contains(target)) rove(target, false);
  }

  function onBack() {
    setFollow(true);
    const el = active >= 0 ? words[active] : audio ? lineAt(audio.currentTime) : null;
    reveal(el, true);
  }

  // A source file served beside the notebook that cannot be loaded: say what to do.
  function onAudioError() {
    const file = root.dataset.audioFile;
    if (!file) return;
    if (!note) {
      note = document.createElement("div");
      note.className = "vnb-note";
      note.setAttribute("role", "note");
      (audio || text).insertAdjacentElement("afterend", note);
    }
    const name = file.split("/").pop();
    note.textContent = `Cannot play ${file} from here; put ${name} beside this notebook to play it.`;
    root.dataset.audioError = "1";
  }

  function onMeta() {
    if (Math.abs(total() - span) > 0.5) drawTimeline();
  }

  const listeners = [
    [root, "click", onClick],
    [root, "keydown", onKeyDown],
    [root, "focusin", onFocusIn],
    [text, "wheel", byHand, { passive: true }],
    [text, "touchmove", byHand, { passive: true }],
    [text, "pointerdown", onPointerDown],
    [text, "keydown", onBoxKey],
    [text, "scroll", onScroll, { passive: true }],
    [search, "input", onSearchInput],
    [search, "keydown", onSearchKey],
    [timeline, "click", onTimelineClick],
    [timeline, "keydown", onTimelineKey],
    [back, "click", onBack],
  ];
  if (audio) {
    listeners.push(
      [audio, "play", onPlay],
      [audio, "timeupdate", highlight],
      [audio, "seeked", highlight],
      [audio, "error", onAudioError],
      [audio, "loadedmetadata", onMeta],
    );
    if (audio.error) onAudioError();
  }
  for (const [el, type, fn, opts] of listeners) el.addEventListener(type, fn, opts);
  drawTimeline();
  setFollow(true);
  root.dataset.wired = "1";
  return () => {
    for (const [el, type, fn, opts] of listeners) el.removeEventListener(type, fn, opts);
    if (frame) cancelAnimationFrame(frame);
  };
}

// The text's markup from `groups` (one per segment: {start, words: [[text, start, end], ...],
// speaker?}) and `gaps` ([[start, end, reason], ...]), in time order; the same as Python's.
export function bodyHtml(groups, gaps) {
  const speakers = [];
  const out = [];
  const missing = [...(gaps || [])].sort((a, b) => a[0] - b[0]);
  let g = 0;
  const gapLine = ([start, end, reason]) =>
    `<p class="vnb-gap" role="note" data-start="${start.toFixed(3)}" data-end="${end.toFixed(3)}">` +
    `${esc(gapText(start, end, reason))}</p>`;
  for (const group of groups) {
    while (g < missing.length && missing[g][0] <= group.start) out.push(gapLine(missing[g++]));
    const start = group.start.toFixed(3);
    let who = "";
    if (group.speaker) {
      if (!speakers.includes(group.speaker)) speakers.push(group.speaker);
      const colour = speakers.indexOf(group.speaker) % SPEAKER_COLOURS;
      who =
        `<span class="vnb-speaker vnb-speaker-${colour}" data-start="${start}" tabindex="-1" ` +
        `title="play from here">${esc(group.speaker)}</span>: `;
    }
    const spoken = group.words
      .map(
        ([w, s, e]) =>
          `<span class="vnb-word" data-start="${s.toFixed(3)}" data-end="${e.toFixed(3)}" ` +
          `tabindex="-1">${esc(w)}</span>`,
      )
      .join(" ");
    out.push(
      `<p class="vnb-seg" data-start="${start}"><span class="vnb-stamp" data-start="${start}" ` +
        `tabindex="-1" title="play from here">[${clock(group.start)}]</span> ${who}${spoken}</p>`,
    );
  }
  while (g < missing.length) out.push(gapLine(missing[g++]));
  return out.join("");
}

// Build the transcript DOM from the widget's traits. The audio is, in order: the bytes in
// `audio`; `audio_src` (the extension's URL for `audio_file` on Jupyter's file server); or, for
// the live widget, the kernel sends the file's bytes when asked (never stored in the notebook).
function build(model, root) {
  const view = model.get("audio");
  const file = model.get("audio_file") || "";
  const src = model.get("audio_src") || "";
  const duration = model.get("duration");
  const parts = [];
  let url = null;
  let ask = false;
  if (view && view.byteLength) {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    url = URL.createObjectURL(new Blob([bytes], { type: model.get("mime") || "audio/mpeg" }));
    parts.push(`<audio controls preload="metadata" src="${esc(url)}"></audio>`);
  } else if (src) {
    parts.push(`<audio controls preload="metadata" src="${esc(src)}"></audio>`);
  } else if (file) {
    parts.push('<audio controls preload="metadata"></audio>');
    ask = true;
  }
  const noteText = model.get("audio_note");
  if (noteText) parts.push(`<div class="vnb-note" role="note">${esc(noteText)}</div>`);
  const badges = (model.get("badges") || [])
    .map(([text, kind]) => `<span class="vnb-badge vnb-badge-${esc(kind)}">${esc(text)}</span>`)
    .join("");
  parts.push(
    `<div class="vnb-meta"><span>${esc(model.get("summary") || "")}</span>${badges}</div>`,
  );
  parts.push(
    `<div class="vnb-text">${bodyHtml(model.get("groups") || [], model.get("gaps"))}</div>`,
  );
  if (file) root.dataset.audioFile = file;
  else delete root.dataset.audioFile;
  if (duration) root.dataset.duration = String(duration);
  root.innerHTML = parts.join("");
  if (ask && model.send) model.send({ type: "audio" });
  return url;
}

function render({ model, el }) {
  const begun = performance.now();
  const root = document.createElement("div");
  root.className = "vnb-transcript";
  el.appendChild(root);
  let url = build(model, root);
  let unwire = wire(root);
  // How long drawing took, to the first frame that shows it (read by the browser tests).
  requestAnimationFrame(() =>
    setTimeout(() => {
      root.dataset.drawMs = (performance.now() - begun).toFixed(1);
    }),
  );
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
  function onMessage(msg, buffers) {
    const audio = root.querySelector("audio");
    if (msg && msg.type === "seek" && audio) {
      audio.currentTime = msg.time;
      if (msg.play) audio.play().catch(() => {});
    } else if (msg && msg.type === "audio" && audio) {
      // The kernel's answer to {type: "audio"}: the source file's bytes, or why not.
      if (buffers && buffers.length) {
        const b = buffers[0];
        const bytes =
          b instanceof ArrayBuffer
            ? new Uint8Array(b)
            : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
        if (url) URL.revokeObjectURL(url);
        url = URL.createObjectURL(new Blob([bytes], { type: msg.mime || "audio/mpeg" }));
        audio.src = url;
      } else if (msg.error) {
        let note = root.querySelector(".vnb-note");
        if (!note) {
          note = document.createElement("div");
          note.className = "vnb-note";
          note.setAttribute("role", "note");
          audio.insertAdjacentElement("afterend", note);
        }
        note.textContent = msg.error;
      }
    }
  }
  const traits = [
    "change:audio",
    "change:groups",
    "change:gaps",
    "change:summary",
    "change:badges",
    "change:audio_file",
    "change:audio_note",
  ];
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
