// The speech player view (anywidget): an <audio> element fed from the widget's binary `audio`
// trait, plus the summary line and badges (offline engine, cached, estimated cost). With `live`
// (the id of a live.js stream still in the page) it continues that stream's playback.

function audioUrl(model) {
  const view = model.get("audio");
  if (!view || view.byteLength === 0) return null;
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  return URL.createObjectURL(new Blob([bytes], { type: model.get("mime") || "audio/mpeg" }));
}

function badge(text, kind) {
  const span = document.createElement("span");
  span.className = `vnb-badge vnb-badge-${kind}`;
  span.textContent = text;
  return span;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "vnb-speech";
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.preload = "metadata";
  let url = audioUrl(model);
  if (url) audio.src = url;
  root.appendChild(audio);

  const meta = document.createElement("span");
  meta.className = "vnb-meta";
  root.appendChild(meta);
  const note = document.createElement("span");
  note.className = "vnb-note";
  root.appendChild(note);

  function drawMeta() {
    meta.replaceChildren();
    const summary = document.createElement("span");
    summary.textContent = model.get("summary");
    meta.appendChild(summary);
    for (const [text, kind] of model.get("badges")) meta.appendChild(badge(text, kind));
    note.textContent = model.get("note") || "";
  }
  drawMeta();

  function onAudio() {
    if (url) URL.revokeObjectURL(url);
    url = audioUrl(model);
    if (url) audio.src = url;
    else audio.removeAttribute("src");
  }
  model.on("change:audio", onAudio);
  model.on("change:summary", drawMeta);
  model.on("change:badges", drawMeta);
  model.on("change:note", drawMeta);

  // Speech heard as it was made (live.js): take over playback where the live player is.
  const live = model.get("live") && globalThis.__vnbLive && globalThis.__vnbLive.get(model.get("live"));
  if (live && url) {
    audio.preload = "auto";
    audio.addEventListener(
      "loadedmetadata",
      () => {
        const { position, playing } = live.release();
        audio.currentTime = position;
        if (playing) audio.play().catch(() => {});
      },
      { once: true },
    );
  }

  if (model.get("autoplay") && url) {
    // Play once: a re-rendered view (another tab, a reopened notebook) stays quiet.
    model.set("autoplay", false);
    model.save_changes();
    audio.play().catch(() => {});
  }
  el.appendChild(root);
  return () => {
    model.off("change:audio", onAudio);
    model.off("change:summary", drawMeta);
    model.off("change:badges", drawMeta);
    model.off("change:note", drawMeta);
    audio.pause();
    if (url) URL.revokeObjectURL(url);
  };
}

export default { render };
