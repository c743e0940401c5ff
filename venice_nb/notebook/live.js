// The live player (anywidget ES module): plays speech while it is being synthesised. Python sends
// headless 16-bit mono pcm as custom messages ({type: "pcm"} with one buffer, then {type: "end"});
// each chunk is scheduled with WebAudio as soon as it arrives. The stream lives at the model level
// (`initialize`), so no chunk is missed before the view renders and playback does not stop when
// the view is replaced: the durable player that replaces it (player.js) finds the stream in
// `globalThis.__vnbLive` by its id and takes over at the same position.
//
// Playback starts as soon as START_SECONDS of audio have arrived (a sentence of speech is more), or
// START_WAIT_MS after the first chunk, or at the end: Python forwards each chunk the moment it
// arrives, and a first network read can hold a few milliseconds of audio, which played alone
// would run dry before the next chunk and be heard as a click and a gap. Later chunks are
// scheduled back to back, sample-exact; a chunk that comes too late continues after a short lead.
//
// Pause, play and seeking work over what has arrived. The view's root carries data-received,
// data-scheduled (chunks), data-first-audible (performance.now() of the first audible sample)
// and data-state (waiting, playing, paused, ended) for tests and benchmarks.

const LEAD = 0.01; // seconds between scheduling and the first sample
const START_SECONDS = 0.2; // audio that must have arrived before playback starts...
const START_WAIT_MS = 150; // ...unless this long has passed since the first chunk
const registry = (globalThis.__vnbLive = globalThis.__vnbLive || new Map());
// What happened when (performance.now()), for tests and benchmarks: {id, event, t}, where event
// is "chunk", "first-audible" (when the first sample reaches the speakers), "end" or "release".
const events = (globalThis.__vnbLiveEvents = globalThis.__vnbLiveEvents || []);
function log(id, event, t = performance.now()) {
  events.push({ id, event, t });
  if (events.length > 10000) events.shift();
}

class LiveStream {
  constructor(id, rate) {
    this.id = id;
    this.rate = rate;
    this.chunks = []; // Float32Array per received chunk
    this.total = 0; // samples received
    this.received = 0;
    this.scheduled = 0;
    this.ended = false;
    this.firstAudible = null;
    this.ctx = null;
    this.sources = [];
    this.playing = false;
    this.userPaused = false;
    this.pausedAt = 0; // samples
    this.startPos = 0;
    this.startTime = 0;
    this.scheduledUntil = 0;
    this.startTimer = 0;
    this.listeners = new Set();
  }

  notify() {
    for (const fn of this.listeners) fn();
  }

  context() {
    if (!this.ctx) {
      const Ctx = globalThis.AudioContext || globalThis.webkitAudioContext;
      this.ctx = new Ctx({ sampleRate: this.rate });
    }
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    return this.ctx;
  }

  add(buffer) {
    const view = ArrayBuffer.isView(buffer)
      ? new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
      : new DataView(buffer);
    const floats = new Float32Array(view.byteLength >> 1);
    for (let i = 0; i < floats.length; i += 1) floats[i] = view.getInt16(2 * i, true) / 32768;
    this.chunks.push(floats);
    this.total += floats.length;
    this.received += 1;
    log(this.id, "chunk");
    if (this.playing) this.schedule();
    else this.startWhenReady();
    this.notify();
  }

  /** Forget a pending delayed start (playback began, was paused or released). */
  cancelStart() {
    clearTimeout(this.startTimer);
    this.startTimer = 0;
  }

  /** Start the first playback once enough has arrived (or waited for, or the stream ended). */
  startWhenReady() {
    if (this.playing || this.userPaused || this.scheduled > 0 || this.total === 0) return;
    if (this.ended || this.total >= START_SECONDS * this.rate) {
      this.play(this.pausedAt);
    } else if (!this.startTimer) {
      this.startTimer = setTimeout(() => {
        this.startTimer = 0;
        if (!this.playing && !this.userPaused && this.scheduled === 0 && this.total > 0)
          this.play(this.pausedAt);
      }, START_WAIT_MS);
    }
  }

  /** Samples [from, to) of what has arrived, as one Float32Array. */
  slice(from, to) {
    const out = new Float32Array(Math.max(0, to - from));
    let offset = 0;
    for (const chunk of this.chunks) {
      const end = offset + chunk.length;
      if (end > from && offset < to) {
        const a = Math.max(from, offset) - offset;
        const b = Math.min(to, end) - offset;
        out.set(chunk.subarray(a, b), offset + a - from);
      }
      offset = end;
      if (offset >= to) break;
    }
    return out;
  }

  schedule() {
    const ctx = this.context();
    if (this.scheduledUntil >= this.total) return;
    let at = this.startTime + (this.scheduledUntil - this.startPos) / this.rate;
    if (at < ctx.currentTime) {
      // Ran dry (synthesis slower than playback): continue from here, a moment from now.
      this.startPos = this.scheduledUntil;
      this.startTime = ctx.currentTime + LEAD;
      at = this.startTime;
    }
    const samples = this.slice(this.scheduledUntil, this.total);
    const buffer = ctx.createBuffer(1, samples.length, this.rate);
    buffer.copyToChannel(samples, 0);
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    source.start(at);
    this.sources.push(source);
    if (this.firstAudible === null) {
      const latency = (ctx.outputLatency || 0) + (ctx.baseLatency || 0);
      this.firstAudible = performance.now() + (at - ctx.currentTime + latency) * 1000;
      log(this.id, "first-audible", this.firstAudible);
    }
    this.scheduledUntil = this.total;
    this.scheduled += 1;
  }

  position() {
    if (!this.playing || !this.ctx) return this.pausedAt / this.rate;
    const pos = this.startPos + (this.ctx.currentTime - this.startTime) * this.rate;
    return Math.max(0, Math.min(this.total, pos)) / this.rate;
  }

  silence() {
    for (const s of this.sources) {
      try {
        s.stop();
      } catch (e) {
        /* not started yet */
      }
    }
    this.sources = [];
  }

  play(fromSamples) {
    const ctx = this.context();
    this.cancelStart();
    this.silence();
    const from = Math.max(0, Math.min(this.total, Math.round(fromSamples)));
    if (from >= this.total && this.ended) return;
    this.playing = true;
    this.userPaused = false;
    this.startPos = from;
    this.startTime = ctx.currentTime + LEAD;
    this.scheduledUntil = from;
    this.schedule();
    this.notify();
  }

  pause() {
    this.pausedAt = Math.round(this.position() * this.rate);
    this.playing = false;
    this.userPaused = true;
    this.cancelStart();
    this.silence();
    this.notify();
  }

  seek(seconds) {
    const target = Math.round(seconds * this.rate);
    if (this.playing) this.play(target);
    else this.pausedAt = Math.max(0, Math.min(this.total, target));
    this.notify();
  }

  /** Hand playback over (to the durable player): stop and say where it was. */
  release() {
    const state = { position: this.position(), playing: this.playing && this.position() < this.total / this.rate };
    this.playing = false;
    this.cancelStart();
    this.silence();
    if (this.ctx) this.ctx.close().catch(() => {});
    this.ctx = null;
    registry.delete(this.id);
    log(this.id, "release");
    this.notify();
    return state;
  }

  state() {
    if (this.playing) return this.position() >= this.total / this.rate && this.ended ? "ended" : "playing";
    if (this.userPaused || this.scheduled > 0) return "paused";
    return "waiting"; // nothing yet, or the first chunks are gathering
  }
}

function streamOf(model) {
  const id = model.get("stream_id");
  let stream = registry.get(id);
  if (!stream) {
    stream = new LiveStream(id, model.get("rate") || 24000);
    registry.set(id, stream);
  }
  return stream;
}

function initialize({ model }) {
  const stream = streamOf(model);
  try {
    stream.context(); // started now, not when the first chunk arrives
  } catch (e) {
    /* no WebAudio: the durable player follows */
  }
  const onMessage = (msg, buffers) => {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "pcm" && buffers && buffers.length) stream.add(buffers[0]);
    else if (msg.type === "end") {
      stream.ended = true;
      log(stream.id, "end");
      stream.startWhenReady();
      stream.notify();
    } else if (msg.type === "abort") {
      stream.release();
    }
  };
  model.on("msg:custom", onMessage);
  return () => model.off("msg:custom", onMessage);
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

function render({ model, el }) {
  const stream = streamOf(model);
  const root = document.createElement("div");
  root.className = "vnb-speech vnb-live-player";
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "vnb-live-toggle";
  const range = document.createElement("input");
  range.type = "range";
  range.min = "0";
  range.step = "0.01";
  range.value = "0";
  range.className = "vnb-live-seek";
  const time = document.createElement("span");
  time.className = "vnb-live-time";
  const meta = document.createElement("span");
  meta.className = "vnb-meta";
  root.append(toggle, range, time, meta);
  el.appendChild(root);
  let dragging = false;
  let frame = 0;

  function draw() {
    const arrived = stream.total / stream.rate;
    const state = stream.state();
    root.dataset.state = state;
    root.dataset.received = String(stream.received);
    root.dataset.scheduled = String(stream.scheduled);
    if (stream.firstAudible !== null) root.dataset.firstAudible = stream.firstAudible.toFixed(1);
    toggle.textContent = state === "playing" ? "❚❚" : "▶";
    toggle.title = state === "playing" ? "pause" : "play";
    range.max = String(arrived);
    if (!dragging) range.value = String(stream.position());
    time.textContent = `${clock(stream.position())} / ${clock(arrived)}`;
    meta.textContent = `${model.get("summary")} · ${stream.ended ? "synthesised" : "synthesising…"}`;
  }
  function tick() {
    draw();
    frame = requestAnimationFrame(tick);
  }

  toggle.addEventListener("click", () => {
    if (stream.state() === "playing") stream.pause();
    else stream.play(stream.position() >= stream.total / stream.rate ? 0 : stream.pausedAt);
  });
  range.addEventListener("input", () => {
    dragging = true;
  });
  range.addEventListener("change", () => {
    dragging = false;
    stream.seek(Number(range.value));
  });
  stream.listeners.add(draw);
  tick();
  return () => {
    cancelAnimationFrame(frame);
    stream.listeners.delete(draw);
  };
}

export default { initialize, render };
