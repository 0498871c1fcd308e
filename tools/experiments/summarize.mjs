#!/usr/bin/env node
// summarize.mjs - the result tables of docs/RESULTS.md from the logs the experiment grids write
// (tools/experiments/{mnist,cifar}-grid.sh): for every run its setting (from the log's header line), the test
// accuracy after each epoch, the final and best accuracy, bits/weight, model size and wall time. Unfinished
// runs are listed with the epochs they reached. Prints Markdown.
// Usage: node tools/experiments/summarize.mjs [RUNS_DIR]   (default ~/.cache/flexor-wasm/runs)
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';

const root = process.argv[2] ?? join(homedir(), '.cache', 'flexor-wasm', 'runs');
if (!existsSync(root)) {
  console.error(`summarize: no runs directory ${root}`);
  process.exit(1);
}

function logs(dir) {
  const out = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...logs(p));
    else if (e.endsWith('.log') && !/grid\.log$/.test(e)) out.push(p);
  }
  return out.sort();
}

function parse(file) {
  const text = readFileSync(file, 'utf8');
  const head = text.split('\n').find((l) => / train (lenet5|resnet\d+) (mnist|cifar10): /.test(l));
  if (!head) return null;
  const [, model, dataset] = head.match(/ train (\w+) (\w+): /);
  const fp = /: full precision/.test(head);
  const g = (re) => head.match(re)?.[1];
  const epochs = [...text.matchAll(/^epoch (\d+)\/(\d+) test-acc ([\d.]+)%/gm)].map((m) => ({ epoch: +m[1], of: +m[2], acc: +m[3] }));
  const done = text.match(/^done: test accuracy ([\d.]+)% \(best ([\d.]+)%\), ([\d.]+) bits\/weight, wall (\S+)/m);
  const saved = text.match(/^saved \S+ \((\d+) bytes\)/m);
  const target = text.match(/^target .*$/m);
  const total = +(g(/, (\d+) epochs,/) ?? epochs[0]?.of ?? 0);
  return {
    file: relative(root, file), model, dataset, fp, bits: fp ? 32 : +(g(/at ([\d.]+) bits\/weight/) ?? NaN),
    nout: g(/nout=(\d+)/), nin: g(/nin=(\d+)/), ntap: g(/ntap=(\d+)/), q: g(/q=(\d+)/), perStage: / per-stage/.test(head),
    mode: g(/mode (\w+)/), opt: g(/, (sgd|adam) lr/), lr: g(/ lr ([\d.e-]+),/), batch: g(/batch (\d+)/), total,
    distil: /distilling/.test(head), threads: g(/^threads (\d+)/) ?? (/^wasm, 1 thread/.test(head) ? 'wasm 1' : '?'),
    epochs, final: done ? +done[1] : null, best: done ? +done[2] : epochs.length ? Math.max(...epochs.map((e) => e.acc)) : null,
    wall: done?.[4] ?? null, bytes: saved ? +saved[1] : null, target: target?.[0] ?? null,
  };
}

const runs = logs(root).map(parse).filter(Boolean);
const fmtAcc = (r) => (r.final != null ? `**${r.final.toFixed(2)} %**` : r.epochs.length ? `${r.epochs.at(-1).acc.toFixed(2)} % (unfinished: ${r.epochs.length}/${r.total} epochs)` : `not finished (${r.total} epochs planned)`);
const setting = (r) => r.fp ? 'full precision' : `N_out ${r.nout}, ${r.ntap === '0' ? 'random fill' : `N_tap ${r.ntap}`}, N_in ${r.perStage ? 'per stage' : r.nin}${r.q !== '1' ? `, q ${r.q}` : ''}${r.mode !== 'flexor' ? `, **${r.mode}** backward` : ''}`;

for (const ds of ['mnist', 'cifar10']) {
  const rs = runs.filter((r) => r.dataset === ds);
  if (!rs.length) continue;
  console.log(`\n### ${ds === 'mnist' ? 'MNIST, LeNet-5' : 'CIFAR-10'}\n`);
  console.log('| run | model | setting | bits/weight | epochs | test acc. (final) | best epoch | per-epoch test acc. | model file | wall |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rs) {
    console.log(`| ${r.file.replace(/\.log$/, '')} | ${r.model} | ${setting(r)} | ${Number.isFinite(r.bits) ? r.bits.toFixed(4) : '?'} | ${r.total} | ${fmtAcc(r)} | ` +
      `${r.best != null ? `${r.best.toFixed(2)} %` : ''} | ${r.epochs.map((e) => e.acc.toFixed(2)).join(', ')} | ${r.bytes != null ? `${r.bytes.toLocaleString('en-US')} B` : ''} | ${r.wall ?? ''} |`);
  }
  for (const r of rs.filter((x) => x.target)) console.log(`\n${r.file}: ${r.target}`);
}
