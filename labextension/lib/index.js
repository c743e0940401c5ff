// JupyterLab 4 / Notebook 7 extension: renders venice_nb results from their own mimetype, so a
// speech player, a transcript (click a word to seek, the spoken word highlighted; a dialogue is a
// transcript whose lines name their speaker) and the static view of a voice control work after
// save, kernel shutdown and reopen, trusted or not.
//
// The views are the very ES modules the anywidgets use (venice_nb/notebook/*.js): each output is
// drawn by calling their `render({model, el})` with a read-only model made from the JSON payload.
// The audio is stored once per output: the payload names the `text/html` entry whose
// `<audio src="data:...">` carries it, so the notebook does not hold it twice.
//
// Controls (voice explorer, voice picker, microphone recorder) also carry a widget view. In a trusted notebook whose
// kernel still has the widget, that live view replaces the static one as soon as it renders;
// otherwise (kernel gone, restarted, untrusted) the static view stays: never "model not found".
// This needs the rendermime where ipywidgets registers its renderer: each notebook panel's own in
// JupyterLab and Notebook 7 (the plugin adds its factory to every panel), the global one in Voila.

import { INotebookTracker } from "@jupyterlab/notebook";
import { IRenderMimeRegistry } from "@jupyterlab/rendermime";
import { Panel, Widget } from "@lumino/widgets";

import player from "../../venice_nb/notebook/player.js";
import transcript from "../../venice_nb/notebook/transcript.js";
import explorer from "../../venice_nb/notebook/voice_explorer.js";
import recorder from "../../venice_nb/notebook/recorder.js";
import "../../venice_nb/notebook/player.css";
import "../../venice_nb/notebook/transcript.css";
import "../../venice_nb/notebook/voice_explorer.css";
import "../../venice_nb/notebook/recorder.css";
import "../style/index.css";

export const MIME_TYPE = "application/vnd.venice-nb.v1+json";
const WIDGET_MIME = "application/vnd.jupyter.widget-view+json";
// Before ipywidgets' view (-10): this renderer decides when the live widget may show.
const RANK = -20;
// Autoplay only right after the cell ran, never when a saved notebook is reopened.
const AUTOPLAY_WINDOW_MS = 60000;
const DATA_URI = /src="data:(audio\/[a-z0-9.+-]+);base64,([A-Za-z0-9+/=]+)"/;
// Controls that carry a live widget view beside their static one.
const LIVE_KINDS = new Set(["voices", "recorder"]);
const NO_AUDIO = { bytes: new DataView(new ArrayBuffer(0)), mime: "audio/mpeg" };

/** The audio bytes of a payload: the data URI in the output entry it names (text/html). */
function audioOf(payload, bundle) {
  const spec = payload.audio;
  if (!spec || !spec.ref) return NO_AUDIO;
  const entry = bundle[spec.ref];
  const html = Array.isArray(entry) ? entry.join("") : entry; // nbformat may keep lines
  const match = typeof html === "string" ? DATA_URI.exec(html) : null;
  if (!match) return NO_AUDIO;
  const raw = atob(match[2]);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  return { bytes: new DataView(bytes.buffer), mime: spec.mime || match[1] };
}

/**
 * The URL that plays `file` (a path relative to the notebook's folder, as Python saved it) from
 * Jupyter's file server: the rendermime resolver turns it into the server path beside the
 * notebook, then into its download URL, as JupyterLab's own HTML renderer does for a relative
 * `src`. Without a resolver (Voila) the relative URL is left to the page.
 */
async function fileUrl(resolver, file) {
  const relative = file.split("/").map(encodeURIComponent).join("/");
  if (!resolver) return relative;
  try {
    return await resolver.getDownloadUrl(await resolver.resolveUrl(relative));
  } catch {
    return relative;
  }
}

/** A read-only stand-in for an anywidget model, backed by the saved payload. */
function staticModel(traits, onSend) {
  return {
    get: (name) => traits[name],
    set: (name, value) => {
      traits[name] = value;
    },
    save_changes() {},
    on() {},
    off() {},
    send: (msg) => onSend(msg),
  };
}

const VIEWS = {
  speech(payload, bundle) {
    const { bytes, mime } = audioOf(payload, bundle);
    const fresh = payload.created && Date.now() - payload.created < AUTOPLAY_WINDOW_MS;
    return {
      module: player,
      traits: {
        audio: bytes,
        mime,
        duration: payload.duration ?? null,
        summary: payload.summary || "",
        badges: payload.badges || [],
        note: payload.note || "",
        autoplay: Boolean(payload.autoplay && fresh),
        live: payload.live || "",
      },
    };
  },
  transcript(payload, bundle, audioSrc) {
    const { bytes, mime } = audioOf(payload, bundle);
    const fresh = payload.created && Date.now() - payload.created < AUTOPLAY_WINDOW_MS;
    return {
      module: transcript,
      traits: {
        audio: bytes,
        mime,
        groups: payload.groups || [],
        gaps: payload.gaps || [],
        duration: payload.duration ?? null,
        summary: payload.summary || "",
        badges: payload.badges || [],
        autoplay: Boolean(payload.autoplay && fresh),
        audio_file: payload.audio_file || "",
        audio_note: payload.audio_note || "",
        audio_src: audioSrc || "",
      },
    };
  },
  recorder(payload) {
    return {
      module: recorder,
      traits: {
        seconds: payload.seconds ?? null,
        transcribe: Boolean(payload.transcribe),
        status: payload.status || "Run the cell to record.",
        static: true,
      },
    };
  },
  voices(payload) {
    return {
      module: explorer,
      traits: {
        voices: payload.voices || [],
        models: payload.models || [],
        model_filter: payload.model_filter || "",
        gender_filter: payload.gender_filter || "",
        language_filter: payload.language_filter || "",
        accent_filter: payload.accent_filter || "",
        query: payload.query || "",
        sample_text: "",
        status: payload.status || "",
        selected: payload.selected || "",
        offline_note: payload.offline_note || "Run the cell to hear previews.",
        static: true,
      },
    };
  },
};

/** Draws one venice_nb output; for controls, swaps in the live widget when it renders. */
class VeniceRenderer extends Panel {
  constructor(options, rendermime) {
    super();
    this.addClass("vnb-output");
    this._mimeType = options.mimeType;
    this._resolver = options.resolver || null;
    this._rendermime = rendermime;
    this._cleanup = null;
    this._observer = null;
  }

  async renderModel(model) {
    this._teardown();
    const payload = model.data[this._mimeType];
    const view = payload && VIEWS[payload.kind];
    // Long audio is not embedded: the transcript plays the file beside the notebook.
    const file = payload && payload.kind === "transcript" && !payload.audio && payload.audio_file;
    const audioSrc = file ? await fileUrl(this._resolver, file) : "";
    if (this.isDisposed) return;
    const host = new Widget();
    host.addClass("vnb-static");
    this.addWidget(host);
    if (!view) {
      host.node.textContent =
        "This venice_nb output was made by a newer version: upgrade venice-nb to show it.";
      return;
    }
    const { module, traits } = view(payload, model.data, audioSrc);
    const status = (msg) => {
      if (msg && msg.type === "preview") {
        const line = host.node.querySelector(".vnb-vx-status");
        if (line) line.textContent = traits.offline_note;
      }
    };
    this._cleanup = module.render({ model: staticModel(traits, status), el: host.node }) || null;
    if (LIVE_KINDS.has(payload.kind)) this._tryLive(model, host);
  }

  _tryLive(model, host) {
    const rm = this._rendermime;
    if (!model.trusted || !rm || !(WIDGET_MIME in model.data) || !rm.getFactory(WIDGET_MIME)) {
      return;
    }
    const live = rm.createRenderer(WIDGET_MIME);
    live.addClass("vnb-live");
    live.hide();
    this.addWidget(live);
    // Shown once it draws a view (element children); dropped once it reports an error
    // ("model not found" after a restart): the static view then stays, with no error on show.
    const settle = () => {
      if (live.isDisposed) return true;
      if (live.node.firstElementChild !== null) {
        live.show();
        host.hide();
        return true;
      }
      if (/error/i.test(live.node.textContent || "")) {
        live.dispose();
        return true;
      }
      return false;
    };
    this._observer = new MutationObserver(() => {
      if (settle()) this._observer.disconnect();
    });
    this._observer.observe(live.node, { childList: true, characterData: true, subtree: true });
    void Promise.resolve(live.renderModel(model)).then(settle, () => live.dispose());
  }

  _teardown() {
    if (this._observer) this._observer.disconnect();
    this._observer = null;
    if (this._cleanup) this._cleanup();
    this._cleanup = null;
    for (const child of [...this.widgets]) child.dispose();
  }

  dispose() {
    if (this.isDisposed) return;
    this._teardown();
    super.dispose();
  }
}

function factory(rendermime) {
  return {
    // Safe: the payload is drawn as escaped text, blob: and file-server URLs, never as HTML or
    // script of its own.
    safe: true,
    mimeTypes: [MIME_TYPE],
    defaultRank: RANK,
    createRenderer: (options) => new VeniceRenderer(options, rendermime),
  };
}

const plugin = {
  id: "venice-nb:renderer",
  description: "Durable venice_nb outputs: speech player, transcript, voice lists.",
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [INotebookTracker],
  activate(app, rendermime, tracker) {
    rendermime.addFactory(factory(rendermime), RANK);
    if (tracker) {
      const adopt = (panel) => {
        const rm = panel.content.rendermime;
        rm.addFactory(factory(rm), RANK);
      };
      tracker.forEach(adopt);
      tracker.widgetAdded.connect((_, panel) => adopt(panel));
    }
  },
};

export default [plugin];
