// The microphone recorder (anywidget ES module): record / stop buttons, elapsed time, a live level
// meter, then a player of what was recorded. The browser encodes with MediaRecorder (webm/opus
// in Chromium) and sends the bytes to Python as numbered custom messages ("chunk"), then "stop"
// with their count; Python answers "saved" or "failed". Failures the browser sees (denied,
// no microphone, not a secure page) go to Python as "error" with a reason, and show here as one
// line. A kernel restart closes the widget's comm (or, restarted from elsewhere, Python stops
// acknowledging chunks): a recording in progress is then stopped and the view says nothing was
// saved. The root's data-state (idle, recording, saving, saved, error),
// data-level and data-peak (loudest level so far) let tests follow it.
//
// With `static: true` (venice_nb's renderer, kernel gone) it only says to run the cell.

const MIME_TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];
const TIMESLICE_MS = 250;
const SAVE_TIMEOUT_MS = 30000;
// Python acknowledges every chunk; none for this long while recording means the kernel is gone
// (restarted from elsewhere, where no comm-close reaches this page).
const ACK_TIMEOUT_MS = 5000;
const LOST =
  "The kernel restarted or stopped during the recording: nothing was saved; run the cell again.";

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

function reasonOf(error) {
  const name = (error && error.name) || "";
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError")
    return "denied";
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError")
    return "nodevice";
  if (name === "NotReadableError" || name === "TrackStartError") return "busy";
  return "";
}

function button(label, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `vnb-rec-button ${cls}`;
  b.textContent = label;
  return b;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "vnb-recorder";
  const controls = document.createElement("div");
  controls.className = "vnb-rec-controls";
  const recordBtn = button("● Record", "vnb-rec-record");
  const stopBtn = button("■ Stop", "vnb-rec-stop");
  stopBtn.disabled = true;
  const time = document.createElement("span");
  time.className = "vnb-rec-time";
  time.textContent = "00:00";
  const meter = document.createElement("span");
  meter.className = "vnb-rec-meter";
  const bar = document.createElement("span");
  bar.className = "vnb-rec-level";
  meter.appendChild(bar);
  controls.append(recordBtn, stopBtn, time, meter);
  const player = document.createElement("audio");
  player.controls = true;
  player.hidden = true;
  const status = document.createElement("div");
  status.className = "vnb-rec-status";
  root.append(controls, player, status);
  el.appendChild(root);

  const limit = model.get("seconds");
  function setState(state, text) {
    root.dataset.state = state;
    if (text !== undefined) status.textContent = text;
    recordBtn.disabled = state === "recording" || state === "saving" || state === "static";
    stopBtn.disabled = state !== "recording";
    root.classList.toggle("vnb-rec-error", state === "error");
  }

  if (model.get("static")) {
    setState("static", model.get("status") || "Run the cell to record.");
    recordBtn.disabled = true;
    return () => {};
  }
  setState("idle", limit ? `Press Record: it stops by itself after ${limit} s.` : "Press Record, then Stop.");

  let recorder = null;
  let stream = null;
  let audioCtx = null;
  let frame = 0;
  let timer = 0;
  let started = 0;
  let seq = 0;
  let url = null;
  let lost = false;
  let saveTimer = 0;
  let lastAck = 0;

  function send(content, buffers) {
    try {
      model.send(content, undefined, buffers || []);
      return true;
    } catch (e) {
      return false;
    }
  }

  function fail(reason, detail) {
    const messages = model.get("messages") || {};  // BROWSER_ERRORS of recorder.py
    setState("error", messages[reason] || `Recording failed: ${detail}`);
    send({ type: "error", reason, message: String(detail || "") });
  }

  function release() {
    cancelAnimationFrame(frame);
    clearInterval(timer);
    frame = 0;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    if (audioCtx) audioCtx.close().catch(() => {});
    audioCtx = null;
    bar.style.width = "0%";
    root.dataset.level = "0";
  }

  function meterLoop(analyser) {
    const data = new Float32Array(analyser.fftSize);
    const tick = () => {
      analyser.getFloatTimeDomainData(data);
      let peak = 0;
      for (const v of data) peak = Math.max(peak, Math.abs(v));
      bar.style.width = `${Math.min(100, Math.round(peak * 140))}%`;
      root.dataset.level = peak.toFixed(3);
      root.dataset.peak = Math.max(Number(root.dataset.peak || 0), peak).toFixed(3);
      frame = requestAnimationFrame(tick);
    };
    tick();
  }

  async function start() {
    if (!window.isSecureContext) return fail("insecure", "not a secure context");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder)
      return fail("unsupported", "no MediaRecorder");
    setState("starting", "Asking for the microphone…");
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      release();
      return fail(reasonOf(error) || "failed", `${error.name}: ${error.message}`);
    }
    if (lost) return release();
    const mimeType = MIME_TYPES.find((t) => MediaRecorder.isTypeSupported(t)) || "";
    recorder = new MediaRecorder(stream, mimeType ? { mimeType, audioBitsPerSecond: 32000 } : {});
    seq = 0;
    player.hidden = true;
    send({ type: "start", mime: recorder.mimeType || mimeType });
    // Chunks are read in order on one promise chain; "stop" goes after the last of them.
    let chain = Promise.resolve();
    const parts = [];
    recorder.ondataavailable = (event) => {
      if (!event.data || event.data.size === 0 || lost) return;
      parts.push(event.data);
      chain = chain.then(async () => {
        const buffer = await event.data.arrayBuffer();
        if (!lost) send({ type: "chunk", seq: seq++ }, [buffer]);
      });
    };
    recorder.onstop = () => {
      const seconds = (performance.now() - started) / 1000;
      release();
      if (lost) return;
      const blob = new Blob(parts, { type: recorder.mimeType || mimeType });
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(blob);
      player.src = url;
      player.hidden = false;
      setState("saving", "Saving the recording in the kernel…");
      chain = chain.then(() => {
        if (lost) return;
        send({ type: "stop", chunks: seq, mime: recorder.mimeType || mimeType, seconds });
        saveTimer = setTimeout(() => {
          if (root.dataset.state === "saving")
            setState("error", "The kernel did not answer: it may have restarted; run the cell again.");
        }, SAVE_TIMEOUT_MS);
      });
    };
    try {
      audioCtx = new AudioContext();
      const analyser = audioCtx.createAnalyser();
      analyser.fftSize = 1024;
      audioCtx.createMediaStreamSource(stream).connect(analyser);
      meterLoop(analyser);
    } catch (e) {
      /* the meter is a nicety: recording goes on without it */
    }
    started = performance.now();
    lastAck = started;
    recorder.start(TIMESLICE_MS);
    setState("recording", limit ? `Recording… (stops after ${limit} s)` : "Recording…");
    timer = setInterval(() => {
      const elapsed = (performance.now() - started) / 1000;
      time.textContent = clock(elapsed);
      if (performance.now() - lastAck > ACK_TIMEOUT_MS) onLost();
      else if (limit && elapsed >= limit) stop();
    }, 100);
  }

  function stop() {
    clearInterval(timer);
    if (recorder && recorder.state !== "inactive") recorder.stop();
  }

  function onLost() {
    if (lost) return;
    const busy = ["starting", "recording", "saving"].includes(root.dataset.state);
    lost = true;
    if (recorder && recorder.state !== "inactive") recorder.stop();
    release();
    if (busy || root.dataset.state === "idle") setState("error", LOST);
  }

  function onMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "ack") {
      lastAck = performance.now();
    } else if (msg.type === "saved") {
      clearTimeout(saveTimer);
      setState("saved", model.get("transcribe") ? `Saved: ${msg.summary}. Transcribing…` : `Saved: ${msg.summary}.`);
    } else if (msg.type === "transcribed") {
      setState("saved", `Transcribed: ${msg.words} words.`);
    } else if (msg.type === "failed") {
      clearTimeout(saveTimer);
      setState("error", msg.message);
    }
  }

  recordBtn.addEventListener("click", () => void start());
  stopBtn.addEventListener("click", stop);
  model.on("msg:custom", onMessage);
  model.on("comm:close", onLost);
  model.on("comm_live_update", onLost);
  return () => {
    model.off("msg:custom", onMessage);
    model.off("comm:close", onLost);
    model.off("comm_live_update", onLost);
    clearTimeout(saveTimer);
    if (recorder && recorder.state !== "inactive") recorder.stop();
    release();
    if (url) URL.revokeObjectURL(url);
  };
}

export default { render };
