// A minimal stand-in for an anywidget model, enough to render the widget ES modules in a plain
// page: traits with get/set/on/off, save_changes, and custom messages both ways.
export class FakeModel {
  constructor(state) {
    this.state = state;
    this.handlers = new Map();
    this.sent = [];
    this.saves = 0;
  }
  get(name) {
    return this.state[name];
  }
  set(name, value) {
    this.state[name] = value;
    this.emit(`change:${name}`);
  }
  save_changes() {
    this.saves += 1;
  }
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(fn);
  }
  off(event, fn) {
    this.handlers.set(event, (this.handlers.get(event) || []).filter((f) => f !== fn));
  }
  emit(event, ...args) {
    for (const fn of this.handlers.get(event) || []) fn(...args);
  }
  send(msg) {
    this.sent.push(msg);
  }
  // What the kernel would do: deliver a custom message (with binary buffers) to the view.
  receive(msg, buffers = []) {
    this.emit("msg:custom", msg, buffers);
  }
}

async function binary(url) {
  const buf = await (await fetch(url)).arrayBuffer();
  return new DataView(buf);
}

// Mount `module` (an anywidget ES module served beside this file) with `css`, initial `state`
// and binary traits fetched from URLs; returns once render() has run.
export async function mount(module, css, state, binaries = {}) {
  for (const [name, url] of Object.entries(binaries)) state[name] = await binary(url);
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = css;
  document.head.appendChild(link);
  const mod = await import(`./${module}`);
  const el = document.createElement("div");
  el.className = "widget-host";
  document.body.appendChild(el);
  const model = new FakeModel(state);
  const render = mod.render || mod.default.render;
  window.__cleanup = render({ model, el });
  window.__model = model;
  window.__binary = binary;
  return true;
}
