// views.js - the bit-decision views of the page. They draw what the worker sends ({type: 'bits'}: the
// selected layer's bitDecisions() typed arrays and the sign flips of every layer) and the model's layer
// table ({type: 'model'}):
//   - the XOR-gate network of one slice: M as a matrix (y = M e over GF(2)) and as gates, with the taps of
//     the selected weight bit highlighted and its parity spelled out;
//   - the decrypted weight bits as +-1 maps (conv filters as tiles; hue = sign, intensity = alpha);
//   - the encrypted-bit flips per step of every layer over training (log scale), with S_tanh;
//   - the histogram of the latent encrypted values x with the +-1/S_tanh band (paper Fig. 6);
//   - bits/weight and storage per layer against float32.

import { LineChart, Histogram, palette, fitCanvas, onResize } from './charts.js';

const SVG = 'http://www.w3.org/2000/svg';
const svgEl = (name, attrs = {}, text) => {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text != null) e.textContent = text;
  return e;
};
const int = (x) => Math.round(x).toLocaleString('en-US');
const kb = (bytes) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(2)} MB` : `${(bytes / 1e3).toFixed(1)} KB`);
const sub = (n) => String(n).replace(/\d/g, (d) => '₀₁₂₃₄₅₆₇₈₉'[d]);
const MAX_FLIP_POINTS = 600;

function hexRgb(s, dflt) {
  const m = /^#([0-9a-f]{6})$/i.exec(s.trim());
  if (!m) return dflt;
  const v = parseInt(m[1], 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** Weight f (the paper's order) -> its position in the layer, as text. */
function weightPosition(d, f) {
  const co = f % d.cOut, t = Math.floor(f / d.cOut);
  if (d.kind === 'dense') return `out ${co}, in ${t}`;
  const ci = t % d.cIn, s = Math.floor(t / d.cIn);
  return `filter ${co}, input channel ${ci}, row ${Math.floor(s / d.k)}, column ${s % d.k}`;
}

export class BitViews {
  /**
   * @param {object} el  the view elements (see index.html)
   * @param {{onView: (node: number, plane: number) => void}} hooks
   */
  constructor(el, hooks) {
    this.el = el;
    this.hooks = hooks;
    this.info = null;
    this.d = null;          // the last bitDecisions
    this.sTanh = null;
    this.slice = 0;
    this.bit = 0;
    this.flips = new Map(); // node -> [[step, % per step]]
    this.sHistory = [];     // [[step, S_tanh]]
    this.flipsChart = new LineChart(el.flips, {
      xLabel: 'step', yLabel: '% flipped per step', yLog: true,
      yFormat: (v) => `${Number(v.toPrecision(2))} %`, readoutFormat: (v) => `${v.toPrecision(3)} %`,
      right: { label: 'S_tanh', format: (v) => String(Number(v.toPrecision(3))) },
      empty: 'appears once training runs',
    });
    this.hist = new Histogram(el.hist);
    onResize(el.wmap, () => this.drawWeightMap());
    onResize(el.gates.parentElement, () => {
      const v = el.gates.parentElement.clientWidth < 520;
      if (this.d && v !== this.vertical) this.drawXor();
    });

    // Views off screen are not redrawn (fc1 has 1.6 M weights); they catch up when scrolled into view.
    this.visible = true;
    this.dirty = false;
    new IntersectionObserver((entries) => {
      this.visible = entries.some((e) => e.isIntersecting);
      if (this.visible && this.dirty) this.render();
    }, { rootMargin: '200px' }).observe(el.root.querySelector('.views'));
    el.layer.addEventListener('change', () => this.chooseLayer(Number(el.layer.value)));
    el.plane.addEventListener('change', () => this.chooseLayer(Number(el.layer.value), Number(el.plane.value)));
    el.wmapMode.addEventListener('change', () => this.drawWeightMap());
    el.histLog.addEventListener('change', () => this.drawHistogram());
    const setSlice = (v) => {
      if (!this.d) return;
      const s = Math.max(0, Math.min(this.d.nSlices - 1, Math.round(Number(v)) || 0));
      this.slice = s;
      el.slice.value = String(s);
      el.sliceRange.value = String(s);
      this.drawXor();
    };
    el.slice.addEventListener('input', () => { if (el.slice.value !== '') setSlice(el.slice.value); });
    el.slice.addEventListener('change', () => setSlice(el.slice.value));
    el.sliceRange.addEventListener('input', () => setSlice(el.sliceRange.value));
    el.slicePrev.addEventListener('click', () => setSlice(this.slice - 1));
    el.sliceNext.addEventListener('click', () => setSlice(this.slice + 1));
    el.gates.addEventListener('keydown', (e) => {
      if (!this.d) return;
      const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
      if (step) {
        e.preventDefault();
        this.selectBit((this.bit + step + this.d.nOut) % this.d.nOut);
      } else if (e.key === 'Home' || e.key === 'End') {
        e.preventDefault();
        this.selectBit(e.key === 'Home' ? 0 : this.d.nOut - 1);
      }
    });
  }

  /** Forget everything (a new run or model). */
  reset() {
    this.info = null;
    this.d = null;
    this.sTanh = null;
    this.flips = new Map();
    this.sHistory = [];
    this.slice = 0;
    this.bit = 0;
    const none = document.createElement('option');
    none.textContent = 'no model yet';
    this.el.layer.replaceChildren(none);
    this.el.layer.disabled = true;
    this.el.planeField.hidden = true;
    this.el.root.dataset.ready = 'false';
    this.drawFlips();
    this.hist.setData(null);
    this.drawWeightMap();
    this.el.gates.replaceChildren();
    this.el.matrix.replaceChildren();
    this.el.sizes.tBodies[0].replaceChildren();
    this.el.sizes.tFoot.replaceChildren();
    this.el.summary.textContent = 'Start training or load a model file to see its bits.';
  }

  /** The flips history, for the page's saved state. */
  getState() {
    return { flips: [...this.flips.entries()], sTanh: this.sHistory };
  }

  setState(s) {
    this.flips = new Map(s?.flips ?? []);
    this.sHistory = s?.sTanh ?? [];
    this.drawFlips();
  }

  setModel(info) {
    this.info = info;
    const el = this.el;
    const flex = info.layers.filter((l) => l.flexor);
    const prev = Number(el.layer.value);
    el.layer.replaceChildren(...flex.map((l) => {
      const o = document.createElement('option');
      o.value = String(l.id);
      o.textContent = `${l.name} · ${l.bitsPerWeight.toFixed(2)} bits/weight`;
      return o;
    }));
    if (flex.some((l) => l.id === prev)) el.layer.value = String(prev);
    el.layer.disabled = flex.length === 0;
    el.root.dataset.ready = flex.length ? 'true' : 'false';
    if (!flex.length) el.summary.textContent = 'This model has no FleXOR layer: every weight is full precision.';
    this.drawSizes();
    this.drawFlips();
  }

  get selectedNode() {
    return Number(this.el.layer.value);
  }

  chooseLayer(node, plane = 0) {
    if (this.d?.node !== node) { this.slice = 0; this.bit = 0; }
    this.hooks.onView(node, plane);
  }

  /** A {type: 'bits'} message from the worker. */
  update(msg) {
    const d = msg.decisions;
    this.sTanh = msg.sTanh ?? null;
    // flips: per step, as % of the layer's encrypted bits
    if (msg.stepsSince > 0) {
      for (const f of msg.flips) {
        if (f.changed == null) continue;
        if (!this.flips.has(f.node)) this.flips.set(f.node, []);
        const arr = this.flips.get(f.node);
        arr.push([msg.step, (100 * f.changed) / f.total / msg.stepsSince]);
        if (arr.length > MAX_FLIP_POINTS) decimate(arr);
      }
      if (msg.sTanh != null) {
        this.sHistory.push([msg.step, msg.sTanh]);
        if (this.sHistory.length > MAX_FLIP_POINTS) decimate(this.sHistory);
      }
      this.drawFlips();
    }
    const changedLayer = this.d?.node !== d.node || this.d?.q !== d.q;
    this.d = d;
    this.plane = msg.plane;
    const el = this.el;
    if (String(d.node) !== el.layer.value && [...el.layer.options].some((o) => o.value === String(d.node))) el.layer.value = String(d.node);
    if (changedLayer) {
      el.plane.replaceChildren(...d.planes.map((p) => {
        const o = document.createElement('option');
        o.value = String(p.plane);
        o.textContent = `plane ${p.plane + 1} of ${d.q}`;
        return o;
      }));
      el.planeField.hidden = d.q < 2;
      el.wmapMode.querySelector('option[value="sum"]').disabled = d.q < 2;
      if (d.q < 2) el.wmapMode.value = 'plane';
    }
    el.plane.value = String(msg.plane);
    this.slice = Math.min(this.slice, d.nSlices - 1);
    this.bit = Math.min(this.bit, d.nOut - 1);
    el.slice.max = String(d.nSlices - 1);
    el.sliceRange.max = String(d.nSlices - 1);
    el.slice.value = String(this.slice);
    el.sliceRange.value = String(this.slice);
    el.sliceCount.textContent = int(d.nSlices);
    const layer = this.info?.layers.find((l) => l.id === d.node);
    const shape = d.kind === 'conv' ? `${d.cOut}×${d.cIn}×${d.k}×${d.k}` : `${d.cOut}×${d.cIn}`;
    el.summary.textContent = `${layer?.name ?? `node ${d.node}`}: ${d.kind} ${shape} = ${int(d.weights)} weights in ` +
      `${int(d.nSlices)} slices; each slice stores n_in = ${d.nIn} bits and decrypts n_out = ${d.nOut} weight bits ` +
      `(${d.nTap ? `${d.nTap} taps per XOR gate` : 'random-fill XOR gates'}${d.q > 1 ? `, ${d.q} bit planes` : ''}) → ` +
      `${d.bitsPerWeight.toFixed(3)} bits/weight.`;
    el.root.dataset.step = String(msg.step);
    if (this.visible) this.render(); else this.dirty = true;
  }

  render() {
    this.dirty = false;
    if (!this.d) return;
    this.drawXor();
    this.drawWeightMap();
    this.drawHistogram();
    this.el.root.dataset.drawnStep = this.el.root.dataset.step;
  }

  // -------------------------------------------------------------------------------------------------------
  // XOR network of one slice

  selectBit(r) {
    this.bit = r;
    this.drawXor();
  }

  drawXor() {
    const d = this.d;
    if (!d) return;
    const p = d.planes[this.plane] ?? d.planes[0];
    const j = this.slice;
    const enc = p.encrypted[j], dec = p.decrypted[j];
    const used = Math.min(d.nOut, d.weights - j * d.nOut); // tail slice: rows >= used are discarded
    const r = this.bit;
    const S = this.sTanh;
    this.drawMatrix(p, enc, dec, used);

    // gates: encrypted bits on top and the XOR gates / weight bits below; on narrow screens left and right
    const n = Math.max(d.nIn, d.nOut);
    const svg = this.el.gates;
    const vertical = (svg.parentElement?.clientWidth ?? 600) < 520;
    this.vertical = vertical;
    const step = 26;
    const W = vertical ? 300 : n * step + 40, H = vertical ? n * step + 56 : 210;
    const at = (k, count) => 20 + (k + (n - count) / 2 + 0.5) * step + (vertical ? 12 : 0);
    const pIn = (i) => (vertical ? [84, at(i, d.nIn)] : [at(i, d.nIn), 52]);
    const pOut = (k) => (vertical ? [W - 84, at(k, d.nOut)] : [at(k, d.nOut), 150]);
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.classList.toggle('vertical', vertical);
    const g = [];
    if (vertical) {
      g.push(svgEl('text', { x: 84, y: 14, class: 'svg-label', 'text-anchor': 'middle' }, 'stored e'));
      g.push(svgEl('text', { x: W - 84, y: 14, class: 'svg-label', 'text-anchor': 'middle' }, 'weight bit y → ±1'));
    } else {
      g.push(svgEl('text', { x: 6, y: 14, class: 'svg-label' }, 'encrypted bits e (stored)'));
      g.push(svgEl('text', { x: 6, y: H - 6, class: 'svg-label' }, 'decrypted weight bits y = XOR of their taps → ±1'));
    }
    // wires (selected bit's taps last, on top)
    const wires = [], hot = [];
    for (let k = 0; k < d.nOut; k++) {
      for (let i = 0; i < d.nIn; i++) {
        if (!((p.masks[k] >>> i) & 1)) continue;
        const [x0, y0] = pIn(i), [x1, y1] = pOut(k);
        const path = svgEl('path', {
          d: vertical ? `M${x0 + 11},${y0} C${x0 + 70},${y0} ${x1 - 70},${y1} ${x1 - 11},${y1}`
            : `M${x0},${y0 + 11} C${x0},${y0 + 55} ${x1},${y1 - 55} ${x1},${y1 - 11}`,
          class: k === r ? 'wire hot' : k >= used ? 'wire dead' : 'wire',
        });
        (k === r ? hot : wires).push(path);
      }
    }
    g.push(...wires, ...hot);
    const taps = [];
    for (let i = 0; i < d.nIn; i++) {
      const bit = (enc >>> i) & 1;
      const x = p.latent[j * d.nIn + i];
      const isTap = (p.masks[r] >>> i) & 1;
      if (isTap) taps.push(i);
      const [cx, cy] = pIn(i);
      const grp = svgEl('g', { class: `ebit ${bit ? 'one' : 'zero'}${isTap ? ' tap' : ''}` });
      // latent bar: tanh(S x) in -1..1, above the bit (left of it when vertical)
      const t = S ? Math.tanh(S * x) : Math.sign(x);
      const bl = Math.max(1, Math.abs(t) * 14);
      grp.append(svgEl('rect', vertical
        ? { x: t >= 0 ? 48 : 48 - bl, y: cy - 3, width: bl, height: 6, class: t >= 0 ? 'lat pos' : 'lat neg' }
        : { x: cx - 3, y: t >= 0 ? 34 - bl : 34, width: 6, height: bl, class: t >= 0 ? 'lat pos' : 'lat neg' }));
      if (vertical) grp.append(svgEl('text', { x: 12, y: cy + 3, class: 'svg-idx l' }, `e${i}`));
      grp.append(svgEl('circle', { cx, cy, r: 10 }));
      grp.append(svgEl('text', { x: cx, y: cy + 4, class: 'svg-bit' }, String(bit)));
      grp.append(svgEl('title', {}, `e${sub(i)} = ${bit} (x = ${x.toPrecision(3)}${S ? `, tanh(S·x) = ${t.toFixed(3)}` : ''})`));
      g.push(grp);
    }
    for (let k = 0; k < d.nOut; k++) {
      const y = (dec >>> k) & 1;
      const [cx, cy] = pOut(k);
      const grp = svgEl('g', { class: `ybit ${y ? 'pos' : 'neg'}${k === r ? ' sel' : ''}${k >= used ? ' dead' : ''}`, 'data-bit': k });
      grp.append(svgEl('rect', { x: cx - 11, y: cy - 11, width: 22, height: 22, rx: 4 }));
      grp.append(svgEl('text', { x: cx, y: cy + 4, class: 'svg-bit' }, '⊕'));
      grp.append(svgEl('text', vertical ? { x: cx + 30, y: cy + 4, class: 'svg-sign' } : { x: cx, y: cy + 27, class: 'svg-sign' },
        y ? '+1' : '−1'));
      if (vertical) grp.append(svgEl('text', { x: cx + 48, y: cy + 3, class: 'svg-idx l' }, `y${k}`));
      grp.append(svgEl('title', {}, `y${sub(k)} = ${y} → weight ${y ? '+1' : '−1'}${k >= used ? ' (tail: discarded)' : ''}`));
      grp.addEventListener('click', () => { this.selectBit(k); this.el.gates.focus({ preventScroll: true }); });
      grp.addEventListener('pointerenter', () => { if (this.bit !== k) this.selectBit(k); });
      g.push(grp);
    }
    svg.replaceChildren(...g);

    // readout
    const y = (dec >>> r) & 1;
    const terms = taps.map((i) => `e${sub(i)}`).join(' ⊕ ');
    const vals = taps.map((i) => (enc >>> i) & 1).join(' ⊕ ');
    const f = j * d.nOut + r;
    const co = f % d.cOut;
    const where = r < used ? `${weightPosition(d, f)}; scale α = ${p.alpha[co].toPrecision(3)}` : 'past the end of the layer: discarded';
    this.el.readout.textContent = `Slice ${j}, weight bit y${sub(r)} = ${terms} = ${vals} = ${y} ` +
      `(parity of ${taps.length} tap${taps.length === 1 ? '' : 's'}) → weight ${y ? '+1' : '−1'} (${where}).`;
    svg.setAttribute('aria-label', `XOR gates of slice ${j}: ${d.nIn} encrypted bits ` +
      `${[...enc.toString(2).padStart(d.nIn, '0')].reverse().join('')} (e₀ first) decrypt to ${d.nOut} weight bits. Weight bit ${r} selected; arrow keys choose another.`);
    // LSB first, in the order of the diagram and the matrix (e0 on the left)
    this.el.encWord.textContent = [...enc.toString(2).padStart(d.nIn, '0')].reverse().join('');
    this.el.decWord.textContent = [...dec.toString(2).padStart(d.nOut, '0')].reverse().join('');
  }

  drawMatrix(p, enc, dec, used) {
    const d = this.d;
    const c = 13, ox = 42, oy = 34;
    const W = ox + d.nIn * c + 44, H = oy + d.nOut * c + 8;
    const svg = this.el.matrix;
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('aria-label', `The XOR matrix M: ${d.nOut} rows (weight bits) by ${d.nIn} columns (encrypted bits); ` +
      `a filled cell means the encrypted bit feeds that weight bit's XOR gate.`);
    const g = [];
    g.push(svgEl('text', { x: ox, y: 10, class: 'svg-label' }, 'e (encrypted) →'));
    for (let i = 0; i < d.nIn; i++) {
      const bit = (enc >>> i) & 1;
      g.push(svgEl('rect', { x: ox + i * c + 1, y: 16, width: c - 2, height: c - 2, class: bit ? 'mcell one' : 'mcell zero' }));
    }
    g.push(svgEl('text', { x: ox + d.nIn * c + 6, y: oy - 4, class: 'svg-label' }, 'y'));
    for (let k = 0; k < d.nOut; k++) {
      const sel = k === this.bit;
      if (sel) g.push(svgEl('rect', { x: 0, y: oy + k * c, width: W, height: c, class: 'mrow-sel' }));
      g.push(svgEl('text', { x: ox - 6, y: oy + k * c + c - 3, class: 'svg-idx' }, String(k)));
      for (let i = 0; i < d.nIn; i++) {
        if (!((p.masks[k] >>> i) & 1)) continue;
        g.push(svgEl('rect', { x: ox + i * c + 1, y: oy + k * c + 1, width: c - 2, height: c - 2,
          class: `mcell tap${(enc >>> i) & 1 ? ' on' : ''}` }));
      }
      const y = (dec >>> k) & 1;
      g.push(svgEl('rect', { x: ox + d.nIn * c + 6, y: oy + k * c + 1, width: c - 2, height: c - 2,
        class: `mcell ${k >= used ? 'dead' : y ? 'pos' : 'neg'}` }));
      const row = svgEl('rect', { x: 0, y: oy + k * c, width: W, height: c, class: 'mrow-hit', 'data-bit': k });
      row.addEventListener('click', () => this.selectBit(k));
      row.addEventListener('pointerenter', () => { if (this.bit !== k) this.selectBit(k); });
      g.push(row);
    }
    // grid frame
    g.push(svgEl('rect', { x: ox + 0.5, y: oy + 0.5, width: d.nIn * c - 1, height: d.nOut * c - 1, class: 'mframe' }));
    svg.replaceChildren(...g);
  }

  // -------------------------------------------------------------------------------------------------------
  // Decrypted weights as +-1 maps

  drawWeightMap() {
    const canvas = this.el.wmap;
    const d = this.d;
    if (!canvas.isConnected || canvas.clientWidth === 0) return;
    const boxW = canvas.clientWidth;
    if (!d) {
      canvas.style.height = '120px';
      const { ctx, w, h } = fitCanvas(canvas);
      ctx.fillStyle = palette().muted;
      ctx.font = '12px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.fillText('no model yet', w / 2, h / 2);
      this.el.wmapCaption.textContent = '';
      return;
    }
    const sum = this.el.wmapMode.value === 'sum' && d.q > 1;
    const planes = sum ? d.planes : [d.planes[this.plane] ?? d.planes[0]];
    const { cOut, cIn, k, fanIn } = d;
    const kk = k * k;
    const pal = palette();
    const bg = hexRgb(pal.card, [255, 255, 255]), pos = hexRgb(pal.pos, [213, 94, 0]), neg = hexRgb(pal.neg, [0, 114, 178]);

    // pixel layout: pixel index of weight (co, t), t = ci*k*k + s (OIHW), and how many weights share a pixel
    let cols, rows, caption, scaleY = null, pix, perPixel = 1;
    if (d.kind === 'conv') {
      // tiles of k x k with a 1-pixel gap; one input channel: a wrapped grid of filters; else filters as
      // columns (output channel) and input channels as rows
      const tile = k + 1;
      const gc = cIn === 1 ? Math.min(cOut, Math.max(8, Math.ceil(Math.sqrt(cOut)))) : cOut;
      const gr = cIn === 1 ? Math.ceil(cOut / gc) : cIn;
      caption = cIn === 1 ? `${cOut} filters of ${k}×${k}` : `${cOut} filters (columns) × ${cIn} input channels (rows), ${k}×${k} each`;
      cols = gc * tile - 1;
      rows = gr * tile - 1;
      pix = (co, t) => {
        const ci = Math.floor(t / kk), s = t - ci * kk;
        const [x0, y0] = cIn === 1 ? [(co % gc) * tile, Math.floor(co / gc) * tile] : [co * tile, ci * tile];
        return (y0 + Math.floor(s / k)) * cols + x0 + (s % k);
      };
    } else {
      // dense [out][in]; blocks averaged when wider than the box or taller than 300 px
      const bx = Math.max(1, Math.ceil(cIn / boxW)), by = Math.max(1, Math.ceil(cOut / 300));
      cols = Math.ceil(cIn / bx);
      rows = Math.ceil(cOut / by);
      perPixel = bx * by;
      pix = null; // handled in the loop below (hot path for fc1)
      caption = `${cOut} output neurons (rows) × ${cIn} inputs (columns)` + (perPixel > 1 ? `; each pixel averages ${perPixel} weights` : '');
      if (rows < 60) scaleY = Math.max(1, Math.floor(120 / rows));
      this._dense = { bx, by };
    }
    const acc = new Float32Array(cols * rows);
    const used = new Uint8Array(cols * rows);
    for (const p of planes) {
      const { alpha, signs } = p;
      if (pix) {
        for (let co = 0; co < cOut; co++) {
          const a = alpha[co];
          for (let t = 0; t < fanIn; t++) {
            const q = pix(co, t);
            acc[q] += a * signs[co * fanIn + t];
            used[q] = 1;
          }
        }
      } else {
        const { bx, by } = this._dense;
        for (let o = 0; o < cOut; o++) {
          const a = alpha[o] / perPixel, row = Math.floor(o / by) * cols, base = o * fanIn;
          for (let i = 0; i < fanIn; i++) acc[row + ((i / bx) | 0)] += a * signs[base + i];
        }
        used.fill(1);
      }
    }
    let vmax = 0;
    for (let i = 0; i < acc.length; i++) { const a = Math.abs(acc[i]); if (a > vmax) vmax = a; }
    vmax ||= 1;
    const img = new ImageData(cols, rows);
    for (let i = 0; i < acc.length; i++) if (used[i]) paint(img.data, i * 4, acc[i] / vmax, bg, pos, neg);
    // integer upscale (crisp) when it fits, else fit the width
    const sx = cols <= boxW ? Math.max(1, Math.floor(boxW / cols)) : boxW / cols;
    const sy = scaleY ?? sx;
    const cssW = Math.min(boxW, cols * sx), cssH = Math.max(8, Math.round(rows * sy));
    canvas.style.height = `${cssH}px`;
    const { ctx } = fitCanvas(canvas);
    const off = new OffscreenCanvas(cols, rows);
    off.getContext('2d').putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = sx < 1;
    ctx.drawImage(off, 0, 0, cssW, cssH);
    this.el.wmapCaption.textContent = `${caption}. ${sum ? `Σ of ${d.q} planes` : `Plane ${(this.plane ?? 0) + 1}`}: ` +
      `hue = sign (+1 vermilion, −1 blue), intensity = |α| (largest ${vmax.toPrecision(3)}).`;
    canvas.setAttribute('aria-label', `Decrypted weight signs of the selected layer: ${caption}.`);
  }

  // -------------------------------------------------------------------------------------------------------
  // Latent histogram

  drawHistogram() {
    const d = this.d;
    if (!d) return;
    const p = d.planes[this.plane] ?? d.planes[0];
    const x = p.latent;
    const S = this.sTanh;
    let maxAbs = 0;
    for (let i = 0; i < x.length; i++) { const a = Math.abs(x[i]); if (a > maxAbs) maxAbs = a; }
    // range: the 99.5th percentile of |x| (sampled), at least 3/S
    const sample = new Float32Array(Math.min(x.length, 20000));
    const stride = x.length / sample.length;
    for (let i = 0; i < sample.length; i++) sample[i] = Math.abs(x[Math.floor(i * stride)]);
    sample.sort();
    let hi = Math.min(maxAbs, sample[Math.floor(0.995 * (sample.length - 1))] * 1.15);
    if (S) hi = Math.max(hi, 1.5 / S);   // the band's edges stay in view
    if (!(hi > 0)) hi = maxAbs || 1;
    const bins = 81;
    const counts = new Uint32Array(bins);
    let inBand = 0;
    const band = S ? 1 / S : null;
    const bandV = band ?? -1;
    const scale = bins / (2 * hi);
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (v < bandV && v > -bandV) inBand++;
      let b = ((v + hi) * scale) | 0;
      if (b < 0) b = 0; else if (b >= bins) b = bins - 1;
      counts[b]++;
    }
    const log = this.el.histLog.checked;
    this.hist.setData({ counts, lo: -hi, hi, band, bandLabel: band ? '±1/S_tanh' : null, log, xLabel: 'latent x' });
    this.el.hist.dataset.sum = String(counts.reduce((a, b, i) => a + b * (i + 1), 0));
    const pct = band ? (100 * inBand) / x.length : null;
    this.el.histCaption.textContent = `${int(x.length)} latent values of plane ${p.plane + 1}` +
      (band ? `; ${pct.toFixed(1)} % lie inside ±1/S_tanh = ±${band.toPrecision(2)} (S_tanh = ${Number(S.toPrecision(4))}), ` +
        'where tanh is steep and a bit can still flip easily; outside it they have settled.'
        : '; this model came from a file, so only the signs (±1) are known.');
    this.el.hist.setAttribute('aria-label', `Histogram of latent encrypted values.${band ? ` ${pct.toFixed(1)} % inside the ±1/S_tanh band.` : ''}`);
  }

  // -------------------------------------------------------------------------------------------------------
  // Flips chart

  drawFlips() {
    const layers = this.info?.layers.filter((l) => l.flexor) ?? [];
    const pal = palette();
    const series = layers.map((l, i) => ({
      name: l.name, color: pal.series[i % pal.series.length], points: this.flips.get(l.id) ?? [],
    })).filter((s) => s.points.length);
    if (series.length && this.sHistory.length) {
      series.push({ name: 'S_tanh', color: pal.muted, points: this.sHistory, axis: 'right', dash: [5, 4], width: 1.25 });
    }
    this.flipsChart.setSeries(series);
    this.flipsChart.opts.empty = this.info?.source === 'file' ? 'this model came from a file: no training to follow'
      : 'appears once training runs';
    this.el.flipsLegend.replaceChildren(...layers.map((l, i) => [l, i]).filter(([l]) => this.flips.get(l.id)?.length).map(([l, i]) => {
      const li = document.createElement('li');
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = pal.series[i % pal.series.length];
      const last = this.flips.get(l.id)?.at(-1);
      li.append(sw, `${l.name}${last ? `: ${last[1] ? last[1].toPrecision(2) : '0'} %/step` : ''}`);
      return li;
    }), ...(this.sHistory.length ? [(() => {
      const li = document.createElement('li');
      const sw = document.createElement('span');
      sw.className = 'swatch dashed';
      li.append(sw, `S_tanh (right axis): ${Number(this.sHistory.at(-1)[1].toPrecision(3))}`);
      return li;
    })()] : []));
    const pts = series.reduce((n, s) => n + s.points.length, 0);
    this.el.flips.dataset.points = String(pts);
    this.el.flips.setAttribute('aria-label', `Encrypted-bit flips per training step for each layer, log scale; ${pts} points.`);
  }

  // -------------------------------------------------------------------------------------------------------
  // Sizes

  drawSizes() {
    const info = this.info;
    const tb = this.el.sizes.tBodies[0];
    if (!info) { tb.replaceChildren(); return; }
    const rows = [];
    let wTotal = 0, bitsTotal = 0;
    for (const l of info.layers) {
      wTotal += l.weights;
      bitsTotal += l.storedBits;
      const f = l.flexor;
      rows.push([l.name, int(l.weights), f ? `${f.q > 1 ? `${f.q}×` : ''}${f.nIn}/${f.nOut}` : 'float32',
        l.bitsPerWeight.toFixed(3), kb(l.storedBits / 8), kb(4 * l.weights), `${(32 / l.bitsPerWeight).toFixed(1)}×`]);
    }
    rows.push(['other (bias, α, BN)', int(info.otherValues), 'float32', '32', kb(4 * info.otherValues), kb(4 * info.otherValues), '1×']);
    tb.replaceChildren(...rows.map((r) => {
      const tr = document.createElement('tr');
      r.forEach((t, i) => {
        const c = document.createElement(i === 0 ? 'th' : 'td');
        if (i === 0) c.scope = 'row';
        if (i === 1 || i === 2) c.className = 'opt';
        c.textContent = t;
        tr.append(c);
      });
      return tr;
    }));
    const totalBits = bitsTotal + 32 * info.otherValues;
    const fpBytes = 4 * (wTotal + info.otherValues);
    const foot = [
      ['Total', int(wTotal + info.otherValues), '', (bitsTotal / wTotal).toFixed(3), kb(totalBits / 8), kb(fpBytes),
        `${(fpBytes / (totalBits / 8)).toFixed(1)}×`],
      ['Model file (.fxm)', '', '', '', kb(info.fileBytes), kb(fpBytes), `${(fpBytes / info.fileBytes).toFixed(1)}×`],
    ];
    this.el.sizes.tFoot.replaceChildren(...foot.map((r) => {
      const tr = document.createElement('tr');
      r.forEach((t, i) => {
        const c = document.createElement(i === 0 ? 'th' : 'td');
        if (i === 0) c.scope = 'row';
        if (i === 1 || i === 2) c.className = 'opt';
        c.textContent = t;
        tr.append(c);
      });
      return tr;
    }));
    this.el.sizesNote.textContent = `Weights in FleXOR layers: ${int(info.flexorWeights)} at ` +
      `${info.bitsPerWeight.toFixed(3)} bits/weight. The file also holds the XOR-network seeds and the layer graph.`;
  }
}

function paint(data, o, v, bg, pos, neg) {
  const c = v >= 0 ? pos : neg;
  const a = Math.min(1, 0.18 + 0.82 * Math.abs(v));
  data[o] = bg[0] + (c[0] - bg[0]) * a;
  data[o + 1] = bg[1] + (c[1] - bg[1]) * a;
  data[o + 2] = bg[2] + (c[2] - bg[2]) * a;
  data[o + 3] = 255;
}

/** Halves a [[x, y]] series by averaging neighbours (keeps the last point). */
export function decimate(arr) {
  const out = [];
  for (let i = 0; i + 1 < arr.length; i += 2) out.push([arr[i + 1][0], (arr[i][1] + arr[i + 1][1]) / 2]);
  if (arr.length % 2) out.push(arr[arr.length - 1]);
  arr.splice(0, arr.length, ...out);
}
