// The voice explorer (anywidget). All voices arrive once in the `voices` trait and are rendered
// here; filters only toggle rows, so 200+ voices stay responsive. A preview button sends
// {type: "preview", model, voice} to Python, which answers {type: "audio"} with the audio as a
// binary buffer (or {type: "error"}); answers are kept so a second click plays at once.

const GENDERS = [
  ["", "any gender"],
  ["female", "female"],
  ["male", "male"],
  ["unknown", "unknown"],
];

function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

function select(name, entries) {
  const s = document.createElement("select");
  s.className = "vnb-vx-filter";
  s.name = name;
  for (const [value, text] of entries) s.appendChild(option(value, text));
  return s;
}

function distinct(voices, key, label) {
  const seen = [...new Set(voices.map((v) => v[key]).filter((x) => x))].sort();
  return [["", label], ...seen.map((x) => [x, x])];
}

// Saved outputs are drawn by the JupyterLab extension with a read-only model (`static`): filters
// and copy work, previews need the kernel and say so.
function isStatic(model) {
  return Boolean(model.get("static"));
}

function magicParts(v) {
  return ["%%venice_speak", `--model ${v.model}`, `--voice ${v.id}`];
}

function magicLine(v) {
  return magicParts(v).join(" ");
}

// The line as one inline block per option: a narrow column wraps it between options (never
// inside "tts-chatterbox-hd" or between --voice and its id), and inside one only when it alone
// is wider than the column. Its text (what a selection copies) is the line itself.
function lineParts(parts) {
  const frag = document.createDocumentFragment();
  parts.forEach((part, i) => {
    if (i) frag.append(" ");
    const span = document.createElement("span");
    span.className = "vnb-vx-tok";
    span.textContent = part;
    frag.append(span);
  });
  return frag;
}

async function copyText(text, code) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_err) {
    // Clipboard API refused (insecure origin, no permission): select the text instead.
    const range = document.createRange();
    range.selectNodeContents(code);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try {
      return document.execCommand("copy");
    } catch (_e) {
      return false;
    }
  }
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "vnb-vx";
  const voices = model.get("voices");
  const modelNames = new Map(model.get("models").map(([id, name]) => [id, name]));

  // -- filter bar --
  const bar = document.createElement("div");
  bar.className = "vnb-vx-bar";
  const filters = {
    model_filter: select("model", [["", "any model"], ...model.get("models").map(([id]) => [id, id])]),
    gender_filter: select("gender", GENDERS),
    language_filter: select("language", distinct(voices, "language", "any language")),
    accent_filter: select("accent", distinct(voices, "accent", "any accent")),
  };
  const search = document.createElement("input");
  search.type = "search";
  search.placeholder = "search voices";
  search.className = "vnb-vx-search";
  const sample = document.createElement("input");
  sample.type = "text";
  sample.placeholder = "preview text (optional)";
  sample.className = "vnb-vx-sample";
  const count = document.createElement("span");
  count.className = "vnb-vx-count";
  for (const s of Object.values(filters)) bar.appendChild(s);
  bar.appendChild(search);
  bar.appendChild(sample);
  bar.appendChild(count);
  root.appendChild(bar);

  const status = document.createElement("div");
  status.className = "vnb-vx-status";
  root.appendChild(status);

  // -- rows, built once --
  const list = document.createElement("div");
  list.className = "vnb-vx-list";
  const player = document.createElement("audio");
  player.className = "vnb-vx-player";
  const clips = new Map();
  const buttons = new Map();
  const rows = [];
  const frag = document.createDocumentFragment();
  for (const v of voices) {
    const row = document.createElement("div");
    row.className = "vnb-vx-row";
    row.dataset.model = v.model;
    row.dataset.voice = v.id;
    const play = document.createElement("button");
    play.className = "vnb-vx-play";
    play.title = `preview ${v.id}`;
    play.textContent = "▶";
    const label = document.createElement("span");
    label.className = "vnb-vx-label";
    label.textContent = v.label;
    const mname = document.createElement("span");
    mname.className = "vnb-vx-model";
    mname.textContent = v.model;
    mname.title = modelNames.get(v.model) || v.model;
    const code = document.createElement("code");
    code.className = "vnb-vx-code";
    code.append(lineParts(magicParts(v)));
    const copy = document.createElement("button");
    copy.className = "vnb-vx-copy";
    copy.textContent = "copy";
    copy.title = "copy the %%venice_speak line";
    row.append(play, label, mname, code, copy);
    frag.appendChild(row);
    const key = `${v.model}\u0000${v.id}`;
    buttons.set(key, play);
    if (v.model === model.get("model_filter") && v.id === model.get("selected")) {
      row.classList.add("vnb-vx-selected");
    }
    play.addEventListener("click", () => {
      if (isStatic(model)) {
        status.textContent = model.get("offline_note");
        return;
      }
      if (clips.has(key)) {
        player.src = clips.get(key);
        player.play().catch(() => {});
        return;
      }
      play.disabled = true;
      play.textContent = "…";
      model.send({ type: "preview", model: v.model, voice: v.id });
    });
    copy.addEventListener("click", async () => {
      const ok = await copyText(magicLine(v), code);
      copy.textContent = ok ? "copied" : "press Ctrl+C";
      setTimeout(() => (copy.textContent = "copy"), 1500);
    });
    rows.push([v, row]);
  }
  list.appendChild(frag);
  root.appendChild(list);
  root.appendChild(player);

  function apply() {
    const f = {
      model: model.get("model_filter"),
      gender: model.get("gender_filter"),
      language: model.get("language_filter"),
      accent: model.get("accent_filter"),
    };
    const q = model.get("query").trim().toLowerCase();
    let shown = 0;
    for (const [v, row] of rows) {
      const ok =
        (!f.model || v.model === f.model) &&
        (!f.gender || v.gender === f.gender) &&
        (!f.language || v.language === f.language) &&
        (!f.accent || v.accent === f.accent) &&
        (!q || v.label.toLowerCase().includes(q) || v.model.toLowerCase().includes(q));
      row.hidden = !ok;
      if (ok) shown += 1;
    }
    count.textContent = `${shown} of ${rows.length} voices`;
    for (const [trait, s] of Object.entries(filters)) s.value = model.get(trait);
    if (search.value !== model.get("query")) search.value = model.get("query");
  }

  for (const [trait, s] of Object.entries(filters)) {
    s.addEventListener("change", () => {
      model.set(trait, s.value);
      model.save_changes();
      apply();
    });
  }
  search.addEventListener("input", () => {
    model.set("query", search.value);
    model.save_changes();
    apply();
  });
  sample.value = model.get("sample_text");
  sample.addEventListener("change", () => {
    model.set("sample_text", sample.value);
    model.save_changes();
    for (const url of clips.values()) URL.revokeObjectURL(url);
    clips.clear();
  });

  function onMessage(msg, buffers) {
    if (!msg || !msg.model) return;
    const key = `${msg.model}\u0000${msg.voice}`;
    const button = buttons.get(key);
    if (button) {
      button.disabled = false;
      button.textContent = "▶";
    }
    if (msg.type === "audio" && buffers && buffers.length) {
      const view = buffers[0];
      const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      const url = URL.createObjectURL(new Blob([bytes], { type: msg.mime }));
      clips.set(key, url);
      player.src = url;
      player.play().catch(() => {});
    } else if (msg.type === "error") {
      status.textContent = `${msg.voice}: ${msg.message}`;
    }
  }
  function onStatus() {
    status.textContent = model.get("status");
  }

  const traits = ["model_filter", "gender_filter", "language_filter", "accent_filter", "query"];
  for (const t of traits) model.on(`change:${t}`, apply);
  model.on("change:status", onStatus);
  model.on("msg:custom", onMessage);
  apply();
  onStatus();
  el.appendChild(root);
  return () => {
    for (const t of traits) model.off(`change:${t}`, apply);
    model.off("change:status", onStatus);
    model.off("msg:custom", onMessage);
    player.pause();
    for (const url of clips.values()) URL.revokeObjectURL(url);
  };
}

export default { render };
