// charts.js - small hand-drawn canvas charts (no dependencies): line charts with a linear or log y axis, an
// optional right-hand axis and a hover readout, and a histogram with a marked band. Every canvas is sized to
// its CSS box times devicePixelRatio, so lines stay crisp on HiDPI screens, and redrawn when it resizes.

/** The page's colours (CSS custom properties), read once per draw so that dark mode follows. */
export function palette() {
  const cs = getComputedStyle(document.documentElement);
  const v = (name, dflt) => cs.getPropertyValue(name).trim() || dflt;
  return {
    fg: v('--fg', '#1c2024'), muted: v('--muted', '#5c6670'), line: v('--line', '#d8dde3'), card: v('--card', '#fff'),
    grid: v('--grid', '#e9edf1'), accent: v('--accent', '#1f5fbf'), pos: v('--pos', '#d55e00'), neg: v('--neg', '#0072b2'),
    band: v('--band', 'rgba(240,165,0,.18)'), bandLine: v('--band-line', '#b07800'),
    series: [v('--s1', '#0072b2'), v('--s2', '#d55e00'), v('--s3', '#009e73'), v('--s4', '#cc79a7'),
      v('--s5', '#e69f00'), v('--s6', '#56b4e9')],
  };
}

const FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif';

/** Sizes the canvas backing store to its CSS box x devicePixelRatio; returns {ctx, w, h} in CSS pixels. */
export function fitCanvas(canvas) {
  const dpr = Math.max(1, window.devicePixelRatio || 1);
  const w = Math.max(1, canvas.clientWidth), h = Math.max(1, canvas.clientHeight);
  const bw = Math.round(w * dpr), bh = Math.round(h * dpr);
  if (canvas.width !== bw || canvas.height !== bh) {
    canvas.width = bw;
    canvas.height = bh;
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h, dpr };
}

/** Redraws `draw` whenever the element changes size (coalesced to one frame). */
export function onResize(el, draw) {
  let pending = false;
  const ro = new ResizeObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  });
  ro.observe(el);
  return ro;
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

const fmtAuto = (v) => {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return String(Number(v.toFixed(2)));
  return String(Number(v.toPrecision(2)));
};

/**
 * A line chart. series: [{name, color?, points: [[x, y], ...], width?, dash?, axis?: 'left'|'right',
 * markers?: boolean, alpha?: number}]. Options: xLabel, yLabel, yMin, yMax, yLog, yFormat, xFormat,
 * right: {label, min, max, format}, empty (text shown without data).
 */
export class LineChart {
  constructor(canvas, opts = {}) {
    this.canvas = canvas;
    this.opts = opts;
    this.series = [];
    this.hoverX = null;
    onResize(canvas, () => this.draw());
    canvas.addEventListener('pointermove', (e) => {
      const r = canvas.getBoundingClientRect();
      this.hoverX = e.clientX - r.left;
      this.draw();
    });
    canvas.addEventListener('pointerleave', () => { this.hoverX = null; this.draw(); });
  }

  setSeries(series) {
    this.series = series;
    this.draw();
  }

  draw() {
    const { canvas, opts } = this;
    if (!canvas.isConnected || canvas.clientWidth === 0) return;
    const { ctx, w, h } = fitCanvas(canvas);
    const pal = palette();
    ctx.font = FONT;
    const all = this.series.filter((s) => s.points.length);
    const left = all.filter((s) => s.axis !== 'right');
    const right = all.filter((s) => s.axis === 'right');
    const pad = { l: 46, r: right.length ? 44 : 12, t: 10, b: 30 };
    let ph = h - pad.t - pad.b;
    if (w < 60 || ph < 20) return;

    // x range over every series
    let x0 = Infinity, x1 = -Infinity;
    for (const s of all) for (const [x] of s.points) { if (x < x0) x0 = x; if (x > x1) x1 = x; }
    if (!all.length) { x0 = 0; x1 = 1; }
    if (opts.xMin != null) x0 = Math.min(x0, opts.xMin);
    if (opts.xMax != null) x1 = Math.max(x1, opts.xMax);
    if (x1 <= x0) x1 = x0 + 1;

    const yRange = (list, o) => {
      let lo = Infinity, hi = -Infinity;
      for (const s of list) for (const [, y] of s.points) {
        if (!Number.isFinite(y) || (o.log && y <= 0)) continue;
        if (y < lo) lo = y;
        if (y > hi) hi = y;
      }
      if (!Number.isFinite(lo)) { lo = o.log ? 1e-4 : 0; hi = o.log ? 1 : 1; }
      if (o.min != null) lo = o.log ? Math.min(lo, o.min) : o.min;
      if (o.max != null) hi = o.fixedMax ? o.max : Math.max(hi, o.max);
      if (o.log) {
        lo = 10 ** Math.floor(Math.log10(lo));
        hi = 10 ** Math.ceil(Math.log10(hi));
        if (hi <= lo) hi = lo * 10;
      } else {
        if (o.min == null) lo = Math.min(0, lo);
        if (hi <= lo) hi = lo + 1;
        const t = niceTicks(lo, hi, 4);
        hi = Math.max(hi, t[t.length - 1]);
      }
      return { lo, hi, log: !!o.log };
    };
    const L = yRange(left, { min: opts.yMin, max: opts.yMax, fixedMax: opts.yMaxFixed, log: opts.yLog });
    const R = right.length ? yRange(right, { min: opts.right?.min, max: opts.right?.max, log: opts.right?.log }) : null;
    // the left margin fits the widest tick label
    const fy = opts.yFormat ?? fmtAuto;
    const yTicks = L.log ? logTicks(L.lo, L.hi) : niceTicks(L.lo, L.hi, 4);
    pad.l = Math.max(34, Math.ceil(Math.max(...yTicks.map((t) => ctx.measureText(fy(t)).width))) + 10);
    const pw = w - pad.l - pad.r;
    if (pw < 20) return;
    const sx = (x) => pad.l + ((x - x0) / (x1 - x0)) * pw;
    const syOf = (A) => (y) => {
      const f = A.log ? (Math.log10(Math.max(y, A.lo)) - Math.log10(A.lo)) / (Math.log10(A.hi) - Math.log10(A.lo))
        : (y - A.lo) / (A.hi - A.lo);
      return pad.t + ph - Math.max(0, Math.min(1, f)) * ph;
    };
    const syL = syOf(L), syR = R ? syOf(R) : null;

    // grid + axes
    ctx.strokeStyle = pal.grid;
    ctx.lineWidth = 1;
    ctx.fillStyle = pal.muted;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const t of yTicks) {
      const y = Math.round(syL(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(pad.l + pw, y); ctx.stroke();
      ctx.fillText(fy(t), pad.l - 5, y);
    }
    if (R) {
      ctx.textAlign = 'left';
      const fr = opts.right?.format ?? fmtAuto;
      for (const t of (R.log ? logTicks(R.lo, R.hi) : niceTicks(R.lo, R.hi, 4))) ctx.fillText(fr(t), pad.l + pw + 5, syR(t));
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const fx = opts.xFormat ?? fmtAuto;
    for (const t of niceTicks(x0, x1, Math.max(2, Math.floor(pw / 70)))) {
      const x = Math.round(sx(t)) + 0.5;
      ctx.strokeStyle = pal.grid;
      ctx.beginPath(); ctx.moveTo(x, pad.t); ctx.lineTo(x, pad.t + ph); ctx.stroke();
      ctx.textAlign = x > pad.l + pw - 12 ? 'right' : 'center';
      ctx.fillText(fx(t), x, pad.t + ph + 4);
    }
    ctx.strokeStyle = pal.line;
    ctx.strokeRect(pad.l + 0.5, pad.t + 0.5, pw - 1, ph - 1);
    ctx.fillStyle = pal.muted;
    if (opts.xLabel) { ctx.textAlign = 'right'; ctx.fillText(opts.xLabel, pad.l + pw, pad.t + ph + 17); }
    if (opts.yLabel) { ctx.textAlign = 'left'; ctx.textBaseline = 'top'; ctx.fillText(opts.yLabel, pad.l + 4, pad.t + 3); }
    if (R && opts.right?.label) { ctx.textAlign = 'right'; ctx.fillText(opts.right.label, pad.l + pw - 4, pad.t + 3); }

    if (!all.length) {
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(opts.empty ?? 'no data yet', pad.l + pw / 2, pad.t + ph / 2);
      return;
    }

    // series
    ctx.save();
    ctx.beginPath();
    ctx.rect(pad.l, pad.t, pw, ph);
    ctx.clip();
    all.forEach((s, i) => {
      const sy = s.axis === 'right' ? syR : syL;
      const A = s.axis === 'right' ? R : L;
      ctx.strokeStyle = s.color ?? pal.series[i % pal.series.length];
      ctx.fillStyle = ctx.strokeStyle;
      ctx.globalAlpha = s.alpha ?? 1;
      ctx.lineWidth = s.width ?? 1.75;
      ctx.lineJoin = 'round';
      ctx.setLineDash(s.dash ?? []);
      if (!s.markersOnly) {
        ctx.beginPath();
        let on = false;
        for (const [x, y] of s.points) {
          if (!Number.isFinite(y) || (A.log && y <= 0)) { on = false; continue; }
          if (on) ctx.lineTo(sx(x), sy(y)); else ctx.moveTo(sx(x), sy(y));
          on = true;
        }
        ctx.stroke();
      }
      if (s.markers || s.markersOnly) {
        for (const [x, y] of s.points) {
          if (!Number.isFinite(y)) continue;
          ctx.beginPath();
          ctx.arc(sx(x), sy(y), 3.5, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
      ctx.setLineDash([]);
      ctx.globalAlpha = 1;
    });
    ctx.restore();

    // hover readout: the nearest point of each named series at the pointer's x
    if (this.hoverX != null && this.hoverX >= pad.l && this.hoverX <= pad.l + pw) {
      const xv = x0 + ((this.hoverX - pad.l) / pw) * (x1 - x0);
      const rows = [];
      all.forEach((s, i) => {
        if (s.noReadout) return;
        let best = null;
        for (const p of s.points) if (!best || Math.abs(p[0] - xv) < Math.abs(best[0] - xv)) best = p;
        if (best) rows.push({ s, i, p: best });
      });
      if (rows.length) {
        const xs = Math.round(sx(rows[0].p[0])) + 0.5;
        ctx.strokeStyle = pal.muted;
        ctx.setLineDash([3, 3]);
        ctx.beginPath(); ctx.moveTo(xs, pad.t); ctx.lineTo(xs, pad.t + ph); ctx.stroke();
        ctx.setLineDash([]);
        const lines = [`${opts.xLabel ?? 'x'} ${fx(rows[0].p[0])}`,
          ...rows.map((r) => `${r.s.name}: ${(r.s.axis === 'right' ? (opts.right?.format ?? fmtAuto) : (opts.readoutFormat ?? fy))(r.p[1])}`)];
        const bw = Math.max(...lines.map((t) => ctx.measureText(t).width)) + 12;
        const bh = lines.length * 14 + 8;
        let bx = this.hoverX + 10;
        if (bx + bw > pad.l + pw) bx = this.hoverX - 10 - bw;
        const by = pad.t + 6;
        ctx.fillStyle = pal.card;
        ctx.globalAlpha = 0.92;
        ctx.fillRect(bx, by, bw, bh);
        ctx.globalAlpha = 1;
        ctx.strokeStyle = pal.line;
        ctx.strokeRect(bx + 0.5, by + 0.5, bw - 1, bh - 1);
        ctx.textAlign = 'left';
        ctx.textBaseline = 'top';
        lines.forEach((t, k) => {
          ctx.fillStyle = k === 0 ? pal.muted : (rows[k - 1].s.color ?? pal.series[rows[k - 1].i % pal.series.length]);
          ctx.fillText(t, bx + 6, by + 4 + 14 * k);
        });
      }
    }
  }
}

function logTicks(lo, hi) {
  const out = [];
  for (let e = Math.round(Math.log10(lo)); e <= Math.round(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

/**
 * A histogram: setData({counts, lo, hi, band?, bandLabel?, xLabel?}) draws counts (equal-width bins over
 * [lo, hi]) as bars, with the band [-band, +band] shaded.
 */
export class Histogram {
  constructor(canvas) {
    this.canvas = canvas;
    this.data = null;
    onResize(canvas, () => this.draw());
  }

  setData(data) {
    this.data = data;
    this.draw();
  }

  draw() {
    const { canvas, data } = this;
    if (!canvas.isConnected || canvas.clientWidth === 0) return;
    const { ctx, w, h } = fitCanvas(canvas);
    const pal = palette();
    ctx.font = FONT;
    const pad = { l: 46, r: 12, t: 10, b: 30 };
    const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
    if (pw < 20 || ph < 20) return;
    ctx.strokeStyle = pal.line;
    ctx.strokeRect(pad.l + 0.5, pad.t + 0.5, pw - 1, ph - 1);
    if (!data) {
      ctx.fillStyle = pal.muted;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText('no data yet', pad.l + pw / 2, pad.t + ph / 2);
      return;
    }
    const { counts, lo, hi } = data;
    let max = 0;
    for (const c of counts) if (c > max) max = c;
    const log = !!data.log;
    const yv = (c) => (log ? Math.log10(1 + c) / Math.log10(1 + max) : c / max);
    const sx = (x) => pad.l + ((x - lo) / (hi - lo)) * pw;
    if (data.band) {
      const a = sx(Math.max(lo, -data.band)), b = sx(Math.min(hi, data.band));
      ctx.fillStyle = pal.band;
      ctx.fillRect(a, pad.t + 1, b - a, ph - 2);
      ctx.strokeStyle = pal.bandLine;
      ctx.setLineDash([4, 3]);
      for (const x of [a, b]) { ctx.beginPath(); ctx.moveTo(Math.round(x) + 0.5, pad.t); ctx.lineTo(Math.round(x) + 0.5, pad.t + ph); ctx.stroke(); }
      ctx.setLineDash([]);
    }
    const n = counts.length;
    const bwid = pw / n;
    for (let i = 0; i < n; i++) {
      if (!counts[i]) continue;
      const center = lo + (i + 0.5) * (hi - lo) / n;
      ctx.fillStyle = center >= 0 ? pal.pos : pal.neg;
      const bh = Math.max(1, yv(counts[i]) * (ph - 4));
      ctx.fillRect(pad.l + i * bwid + 0.25, pad.t + ph - bh, Math.max(0.5, bwid - 0.5), bh);
    }
    // axes
    ctx.fillStyle = pal.muted;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const fx = data.xFormat ?? fmtAuto;
    for (const t of niceTicks(lo, hi, Math.max(2, Math.floor(pw / 70)))) {
      const x = Math.round(sx(t)) + 0.5;
      ctx.strokeStyle = pal.line;
      ctx.beginPath(); ctx.moveTo(x, pad.t + ph); ctx.lineTo(x, pad.t + ph + 3); ctx.stroke();
      ctx.textAlign = x > pad.l + pw - 16 ? 'right' : x < pad.l + 16 ? 'left' : 'center';
      ctx.fillText(fx(t), x, pad.t + ph + 5);
    }
    if (data.xLabel) { ctx.textAlign = 'right'; ctx.fillText(data.xLabel, pad.l + pw, pad.t + ph + 17); }
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    ctx.fillText(fmtAuto(max), pad.l - 5, pad.t + 4);
    ctx.fillText('0', pad.l - 5, pad.t + ph - 1);
    ctx.save();
    ctx.translate(pad.l - 14, pad.t + ph / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'center';
    ctx.fillText(log ? 'count (log)' : 'count', 0, 0);
    ctx.restore();
    if (data.band && data.bandLabel) {
      ctx.fillStyle = pal.bandLine;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'top';
      ctx.fillText(data.bandLabel, sx(0), pad.t + 4);
    }
  }
}
