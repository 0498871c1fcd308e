// tryit.js - "Try it": draw a digit for the MNIST model the page trains (or loaded), and classify a CIFAR-10
// image (one of 300 bundled test images, or your own) with every model of models/index.json side by side.

const int = (x) => Math.round(x).toLocaleString('en-US');
const kb = (bytes) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(2)} MB` : `${(bytes / 1e3).toFixed(1)} KB`);
const pct = (p) => `${(100 * p).toFixed(1)} %`;

// ---------------------------------------------------------------------------------------------------------
// Draw a digit

export class DrawPanel {
  /**
   * @param {object} el  {canvas, clear, probs, result, note}
   * @param {(image: ImageData) => Promise<object>} classifyFn  classifies in the training worker
   */
  constructor(el, classifyFn) {
    this.el = el;
    this.classifyFn = classifyFn;
    this.hasInk = false;
    this.drawing = false;
    this.last = null;
    this.busy = false;
    this.again = false;
    this.lastRun = 0;
    this.modelReady = false;
    this.buildBars();
    this.size();
    new ResizeObserver(() => this.size()).observe(el.canvas);
    const c = el.canvas;
    c.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      c.setPointerCapture(e.pointerId);
      this.drawing = true;
      this.last = this.pos(e);
      this.dot(this.last);
    });
    c.addEventListener('pointermove', (e) => {
      if (!this.drawing) return;
      const p = this.pos(e);
      this.line(this.last, p);
      this.last = p;
      this.schedule(150);
    });
    const end = () => {
      if (!this.drawing) return;
      this.drawing = false;
      this.schedule(0);
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    c.addEventListener('keydown', (e) => {
      if (/^[0-9]$/.test(e.key)) {
        e.preventDefault();
        this.stamp(e.key);
      } else if (e.key === 'Delete' || e.key === 'Backspace' || e.key === 'Escape') {
        e.preventDefault();
        this.clear();
      }
    });
    el.clear.addEventListener('click', () => { this.clear(); c.focus(); });
  }

  buildBars() {
    this.bars = [];
    const rows = [];
    for (let d = 0; d < 10; d++) {
      const li = document.createElement('li');
      const lab = document.createElement('span');
      lab.className = 'plabel';
      lab.textContent = String(d);
      const bar = document.createElement('span');
      bar.className = 'pbar';
      const fill = document.createElement('span');
      fill.className = 'pfill';
      bar.append(fill);
      const val = document.createElement('span');
      val.className = 'pval';
      val.textContent = '–';
      li.append(lab, bar, val);
      rows.push(li);
      this.bars.push({ li, fill, val });
    }
    this.el.probs.replaceChildren(...rows);
  }

  size() {
    const c = this.el.canvas;
    const dpr = Math.max(1, window.devicePixelRatio || 1);
    const w = Math.round(c.clientWidth * dpr);
    if (!w || c.width === w) return;
    // keep the drawing across a resize
    let old = null;
    if (this.hasInk && c.width) {
      old = new OffscreenCanvas(c.width, c.height);
      old.getContext('2d').drawImage(c, 0, 0);
    }
    c.width = w;
    c.height = w;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, w);
    if (old) ctx.drawImage(old, 0, 0, w, w);
  }

  ctx() {
    return this.el.canvas.getContext('2d', { willReadFrequently: true });
  }

  pos(e) {
    const r = this.el.canvas.getBoundingClientRect();
    const s = this.el.canvas.width / r.width;
    return [(e.clientX - r.left) * s, (e.clientY - r.top) * s];
  }

  pen() {
    const ctx = this.ctx();
    ctx.strokeStyle = '#000';
    ctx.fillStyle = '#000';
    ctx.lineWidth = this.el.canvas.width / 13;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    return ctx;
  }

  dot([x, y]) {
    const ctx = this.pen();
    ctx.beginPath();
    ctx.arc(x, y, ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
    this.hasInk = true;
  }

  line(a, b) {
    const ctx = this.pen();
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
    this.hasInk = true;
  }

  /** Keyboard: a digit typed in the system font, for trying without a pointer. */
  stamp(digit) {
    this.clear(false);
    const ctx = this.ctx();
    const w = this.el.canvas.width;
    ctx.fillStyle = '#000';
    ctx.font = `${Math.round(w * 0.72)}px "DejaVu Sans", system-ui, sans-serif`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText(digit, w / 2, w * 0.54);
    this.hasInk = true;
    this.schedule(0);
  }

  clear(announce = true) {
    const ctx = this.ctx();
    const c = this.el.canvas;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, c.width, c.height);
    this.hasInk = false;
    for (const b of this.bars) {
      b.fill.style.width = '0';
      b.val.textContent = '–';
      b.li.classList.remove('top');
    }
    delete this.el.result.dataset.prediction;
    if (announce) this.el.result.textContent = 'Cleared. Draw a digit.';
  }

  setModel(info) {
    this.modelReady = !!info;
    const note = this.el.note;
    if (!info) note.textContent = 'No model yet: start training (or load a model file) and the prediction appears here.';
    else if (info.inputShape[0] !== 1) {
      note.textContent = `The current model takes ${info.inputShape.join('×')} colour images: try it in the CIFAR-10 panel.`;
      this.modelReady = false;
    } else {
      note.textContent = info.source === 'file' ? `Predictions of the loaded model ${info.name}.`
        : 'Predictions of the LeNet-5 being trained; they follow it as it learns.';
    }
    if (this.hasInk) this.schedule(0);
  }

  /** Called on every view update while training: re-run the drawing through the model now and then. */
  refresh() {
    if (this.hasInk && performance.now() - this.lastRun > 1500) this.schedule(0);
  }

  schedule(delay) {
    if (!this.hasInk || !this.modelReady) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), delay);
  }

  async run() {
    if (this.busy) { this.again = true; return; }
    this.busy = true;
    this.lastRun = performance.now();
    try {
      const c = this.el.canvas;
      const img = this.ctx().getImageData(0, 0, c.width, c.height);
      const r = await this.classifyFn(img);
      if (r.error) {
        this.el.result.textContent = r.error;
        return;
      }
      if (!this.hasInk) return;
      const p = r.probabilities;
      for (let d = 0; d < 10; d++) {
        this.bars[d].fill.style.width = `${(100 * p[d]).toFixed(1)}%`;
        this.bars[d].val.textContent = pct(p[d]);
        this.bars[d].li.classList.toggle('top', d === r.index);
      }
      this.el.result.dataset.prediction = String(r.index);
      this.el.result.textContent = `Prediction: ${r.label} (${pct(r.probability)}), in ${r.ms.toFixed(1)} ms.`;
    } catch (e) {
      this.el.result.textContent = `Could not classify: ${e.message}`;
    } finally {
      this.busy = false;
      if (this.again) { this.again = false; this.schedule(0); }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// CIFAR-10 side by side

export class CifarPanel {
  /**
   * @param {object} el  {grid, index, prev, next, random, file, drop, preview, truth, table, note, status}
   * @param {{samplesUrl: string, modelsUrl: string}} urls
   */
  constructor(el, urls) {
    this.el = el;
    this.urls = urls;
    this.meta = null;
    this.sprite = null;     // ImageData of the whole sprite
    this.models = new Map();// key -> info
    this.current = null;    // {kind: 'sample'|'file', index?, name?, image}
    this.seq = 0;
    this.worker = new Worker(new URL('./infer-worker.js', import.meta.url), { type: 'module', name: 'flexor-infer' });
    this.worker.addEventListener('message', (ev) => this.onMessage(ev.data));
    this.worker.addEventListener('error', (ev) => {
      ev.preventDefault();
      this.setStatus(`The classification worker failed${ev.message ? `: ${ev.message}` : ''}.`);
    });
    el.index.addEventListener('change', () => this.pick(Number(el.index.value)));
    el.prev.addEventListener('click', () => this.pick((this.index() + 299) % 300));
    el.next.addEventListener('click', () => this.pick((this.index() + 1) % 300));
    el.random.addEventListener('click', () => this.pick(Math.floor(Math.random() * 300)));
    el.grid.addEventListener('click', (e) => {
      if (!this.meta) return;
      const r = el.grid.getBoundingClientRect();
      const { cols, tile, rows } = this.meta.layout;
      const x = Math.floor(((e.clientX - r.left) / r.width) * cols);
      const y = Math.floor(((e.clientY - r.top) / r.height) * rows);
      if (x >= 0 && x < cols && y >= 0 && y < rows) this.pick(y * cols + x);
      void tile;
    });
    el.file.addEventListener('change', () => { if (el.file.files?.[0]) this.useFile(el.file.files[0]); el.file.value = ''; });
    for (const t of ['dragenter', 'dragover']) el.drop.addEventListener(t, (e) => { e.preventDefault(); el.drop.classList.add('over'); });
    for (const t of ['dragleave', 'drop']) el.drop.addEventListener(t, () => el.drop.classList.remove('over'));
    el.drop.addEventListener('drop', (e) => {
      e.preventDefault();
      const f = [...(e.dataTransfer?.files ?? [])].find((x) => x.type.startsWith('image/'));
      if (f) this.useFile(f);
      else this.setStatus('Drop an image file (PNG, JPEG, …).');
    });
  }

  index() {
    return this.current?.kind === 'sample' ? this.current.index : Number(this.el.index.value) || 0;
  }

  setStatus(text) {
    this.el.status.textContent = text;
  }

  async start() {
    await Promise.all([this.loadSamples(), this.loadIndex()]);
  }

  async loadSamples() {
    try {
      const base = new URL(this.urls.samplesUrl, location.href);
      const meta = await (await okFetch(new URL('cifar10-test-300.json', base))).json();
      const blob = await (await okFetch(new URL(meta.png, base))).blob();
      const bmp = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
      const c = new OffscreenCanvas(bmp.width, bmp.height);
      const ctx = c.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(bmp, 0, 0);
      this.sprite = ctx.getImageData(0, 0, bmp.width, bmp.height);
      this.meta = meta;
      const g = this.el.grid;
      g.width = bmp.width;
      g.height = bmp.height;
      this.gridBase = bmp;
      this.drawGrid();
      this.el.index.max = String(meta.layout.count - 1);
      this.pick(0);
    } catch (e) {
      this.setStatus(`The bundled CIFAR-10 images could not be loaded: ${e.message}`);
    }
  }

  drawGrid() {
    const g = this.el.grid;
    const ctx = g.getContext('2d');
    ctx.drawImage(this.gridBase, 0, 0);
    if (this.current?.kind === 'sample') {
      const { cols, tile } = this.meta.layout;
      const i = this.current.index;
      ctx.lineWidth = 3;
      ctx.strokeStyle = '#f0a500';
      ctx.strokeRect((i % cols) * tile + 1.5, Math.floor(i / cols) * tile + 1.5, tile - 3, tile - 3);
    }
  }

  async loadIndex() {
    const url = new URL(this.urls.modelsUrl, location.href);
    let list;
    try {
      const resp = await fetch(url, { cache: 'no-cache' });
      if (!resp.ok) {
        this.setNote(`No models to compare yet: ${url.pathname} is not on this server (HTTP ${resp.status}). ` +
          'Models published in the repository\'s models/ folder, listed in models/index.json, appear here side by side. ' +
          'A CIFAR-10 model file you load in the Train panel joins the table too.');
        this.el.root.dataset.models = '0';
        return;
      }
      const j = await resp.json();
      list = Array.isArray(j) ? j : j.models;
      if (!Array.isArray(list)) throw new Error('expected {"models": [...]}');
    } catch (e) {
      this.setNote(`models/index.json could not be read: ${e.message}`);
      this.el.root.dataset.models = '0';
      return;
    }
    const entries = [];
    let others = 0;
    list.forEach((m, i) => {
      const o = typeof m === 'string' ? { file: m } : m;
      if (!o?.file) return;
      if (o.dataset && o.dataset !== 'cifar10') { others++; return; }
      // models/index.json (tools/models-index.mjs) states testAccuracy in percent
      const acc = o.testAccuracy == null ? null : o.testAccuracy > 1 ? o.testAccuracy / 100 : o.testAccuracy;
      entries.push({
        key: `m${i}`, listed: true, file: o.file, url: new URL(o.file, url).href,
        name: o.name ?? prettyArch(o.model) ?? o.file.replace(/\.fxm$/i, ''), accuracy: acc, testImages: o.testImages ?? null,
        arch: o.model ?? null,
      });
    });
    this.otherModels = others;
    if (!entries.length) {
      this.setNote(`models/index.json lists no CIFAR-10 model yet${others ? ` (${others} for other datasets)` : ''}.`);
      this.el.root.dataset.models = '0';
      return;
    }
    this.setNote(`Loading ${entries.length} model${entries.length > 1 ? 's' : ''} from models/…`);
    this.el.root.dataset.models = 'loading';
    this.worker.postMessage({ type: 'load', entries });
  }

  setNote(text) {
    this.el.note.textContent = text;
  }

  /** A CIFAR-shaped model file the user loaded (bytes) joins the table; null removes it. */
  setUserModel(name, bytes) {
    if (!bytes) {
      if (this.models.has('user')) {
        this.models.delete('user');
        this.worker.postMessage({ type: 'remove', key: 'user' });
        this.renderTable(null);
      }
      return;
    }
    this.worker.postMessage({ type: 'load', entries: [{ key: 'user', name: `${name} (loaded)`, bytes }] }, [bytes]);
  }

  onMessage(msg) {
    if (msg.type === 'model') {
      if (msg.ok && msg.inputShape[0] !== 3) {
        this.models.set(msg.key, { ...msg, skip: `takes ${msg.inputShape.join('×')} input` });
      } else this.models.set(msg.key, msg);
      this.renderTable(null);
    } else if (msg.type === 'loaded') {
      const ok = [...this.models.values()].filter((m) => m.ok && !m.skip);
      this.el.root.dataset.models = String(ok.length);
      const failed = [...this.models.values()].filter((m) => !m.ok);
      this.setNote(ok.length ? `${ok.length} CIFAR-10 model${ok.length > 1 ? 's' : ''}, sorted by bits per weight.` +
        (failed.length ? ` ${failed.length} could not be loaded.` : '') : 'No CIFAR-10 model could be loaded.');
      this.classifyCurrent();
    } else if (msg.type === 'results') {
      if (msg.id !== this.seq) return; // a newer image is on its way
      this.renderTable(msg.results);
    } else if (msg.type === 'error') {
      this.setStatus(msg.message);
    }
  }

  pick(i) {
    if (!this.meta || !Number.isInteger(i) || i < 0 || i >= this.meta.layout.count) return;
    const { cols, tile } = this.meta.layout;
    const img = new ImageData(tile, tile);
    const W = this.sprite.width;
    for (let y = 0; y < tile; y++) {
      const src = ((Math.floor(i / cols) * tile + y) * W + (i % cols) * tile) * 4;
      img.data.set(this.sprite.data.subarray(src, src + tile * 4), y * tile * 4);
    }
    this.el.index.value = String(i);
    const label = this.meta.classes[this.meta.labels[i]];
    this.current = { kind: 'sample', index: i, image: img, truth: this.meta.labels[i] };
    this.el.truth.textContent = `Test image #${i}: a ${label}.`;
    this.showPreview(img);
    this.drawGrid();
    this.classifyCurrent();
  }

  async useFile(file) {
    try {
      const bmp = await createImageBitmap(file);
      const s = Math.min(bmp.width, bmp.height);
      const c = new OffscreenCanvas(32, 32);
      const ctx = c.getContext('2d', { willReadFrequently: true });
      ctx.imageSmoothingQuality = 'high';
      ctx.drawImage(bmp, (bmp.width - s) / 2, (bmp.height - s) / 2, s, s, 0, 0, 32, 32);
      const img = ctx.getImageData(0, 0, 32, 32);
      this.current = { kind: 'file', name: file.name, image: img, truth: null };
      this.el.truth.textContent = `Your image ${file.name} (${bmp.width}×${bmp.height}, centre square scaled to 32×32).`;
      this.showPreview(img);
      this.drawGrid();
      this.classifyCurrent();
    } catch (e) {
      this.setStatus(`${file.name} could not be read as an image: ${e.message}`);
    }
  }

  showPreview(img) {
    const p = this.el.preview;
    p.width = img.width;
    p.height = img.height;
    p.getContext('2d').putImageData(img, 0, 0);
    p.setAttribute('aria-label', this.el.truth.textContent);
  }

  classifyCurrent() {
    if (!this.current) return;
    const usable = [...this.models.values()].filter((m) => m.ok && !m.skip);
    if (!usable.length) return;
    const id = ++this.seq;
    const img = this.current.image;
    this.setStatus('Classifying…');
    this.worker.postMessage({ type: 'classify', id, image: { data: img.data.slice(), width: img.width, height: img.height } });
  }

  renderTable(results) {
    const tb = this.el.table.tBodies[0];
    const byKey = new Map((results ?? this.lastResults ?? []).map((r) => [r.key, r]));
    if (results) this.lastResults = results;
    const rows = [...this.models.values()].sort((a, b) => (a.bitsPerWeight ?? 99) - (b.bitsPerWeight ?? 99));
    tb.replaceChildren(...rows.map((m) => {
      const tr = document.createElement('tr');
      tr.dataset.key = m.key;
      if (m.file) tr.dataset.file = m.file;
      const name = document.createElement('th');
      name.scope = 'row';
      name.textContent = m.name;
      const details = [m.file, m.accuracy != null ? `test acc. ${pct(m.accuracy)}${m.testImages ? ` on ${int(m.testImages)}` : ''}` : null]
        .filter(Boolean).join(' · ');
      if (details) {
        const s = document.createElement('small');
        s.textContent = details;
        name.append(document.createElement('br'), s);
      }
      tr.append(name);
      const cell = (t, cls) => {
        const td = document.createElement('td');
        if (cls) td.className = cls;
        td.textContent = t;
        tr.append(td);
        return td;
      };
      const r = byKey.get(m.key);
      if (m.ok) {
        const n = document.createElement('small');
        n.className = 'narrow';
        n.textContent = ` · ${m.bitsPerWeight.toFixed(2)} bits/weight · ${kb(m.bytes)}${r?.ms != null ? ` · ${r.ms.toFixed(1)} ms` : ''}`;
        name.append(n);
      }
      if (!m.ok || m.skip) {
        cell(m.ok ? m.bitsPerWeight.toFixed(2) : '–', 'num opt');
        cell(m.ok ? kb(m.bytes) : '–', 'num opt');
        const td = cell(m.ok ? `skipped: ${m.skip}` : `could not load: ${m.error}`, 'err');
        td.colSpan = 2;
        return tr;
      }
      cell(m.bitsPerWeight.toFixed(2), 'num opt');
      cell(kb(m.bytes), 'num opt');
      const top = document.createElement('td');
      top.className = 'top3';
      if (r && !r.error) {
        tr.dataset.top = r.top.map((t) => t.index).join(',');
        tr.dataset.probs = JSON.stringify(Array.from(r.probabilities));
        const ol = document.createElement('ol');
        r.top.forEach((t, k) => {
          const li = document.createElement('li');
          if (k === 0 && this.current?.truth != null) li.className = t.index === this.current.truth ? 'right' : 'wrong';
          const bar = document.createElement('span');
          bar.className = 'tbar';
          bar.style.width = `${(100 * t.probability).toFixed(1)}%`;
          const txt = document.createElement('span');
          txt.textContent = `${t.label} ${pct(t.probability)}`;
          li.append(bar, txt);
          ol.append(li);
        });
        top.append(ol);
      } else top.textContent = r?.error ?? (this.current ? '…' : 'pick an image');
      tr.append(top);
      cell(r && !r.error ? `${r.ms.toFixed(1)} ms` : '–', 'num opt');
      return tr;
    }));
    this.el.table.hidden = rows.length === 0;
    if (results) {
      const ok = results.filter((r) => !r.error);
      this.setStatus(ok.length ? `Classified by ${ok.length} model${ok.length > 1 ? 's' : ''}.` : '');
      this.el.root.dataset.classified = String(this.seq);
    }
  }
}

function prettyArch(a) {
  if (!a) return null;
  const m = /^(resnet|lenet)(\d+)$/i.exec(a);
  return m ? `${m[1].toLowerCase() === 'resnet' ? 'ResNet' : 'LeNet'}-${m[2]}` : a;
}

async function okFetch(url) {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`${url.pathname}: HTTP ${resp.status}`);
  return resp;
}

export { int, kb, pct };
