// ort.mjs - the onnxruntime-web 1.30 peer (wasm execution provider, SIMD build) on ONNX models that
// bench/export_onnx.py builds from our specs: static batch shapes, graph optimisation level 'all' (conv+BN
// folding, conv+ReLU fusion), sequential execution. Threads: ort.env.wasm.numThreads before the first session
// (1 = no worker threads; 2 = the threaded build's pthread pool, which does run under Node).
// onnxruntime-web has no training API, so W1 is n/a for it.
import { readFileSync } from 'node:fs';
import { outPath, readF32, rng } from './common.mjs';

let ort = null;
export async function initOrt(threads = 1) {
  if (ort) return ort;
  ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  return ort;
}

const SESSION_OPTS = { executionProviders: ['wasm'], graphOptimizationLevel: 'all', executionMode: 'sequential' };

async function session(file) {
  return ort.InferenceSession.create(readFileSync(outPath(file)), SESSION_OPTS);
}

/** W2: ResNet-20 inference; checkModel (optional) is a second ONNX file whose logits are only validated. */
export async function resnetTask({ model, checkModel, batch, inputFile }) {
  const s = await session(`${model}_b${batch}.onnx`);
  const x = new ort.Tensor('float32', readF32(outPath(inputFile)).slice(0, batch * 3 * 32 * 32), [batch, 3, 32, 32]);
  const check = { logits: Array.from((await s.run({ x })).y.data) };
  if (checkModel) {
    const s2 = await session(`${checkModel}_b${batch}.onnx`);
    check.logits2 = Array.from((await s2.run({ x })).y.data);
    await s2.release();
  }
  return { run: async () => { const r = await s.run({ x }); r.y.dispose?.(); }, check, dispose: () => s.release() };
}

/** W3: one Conv layer. */
export async function convTask({ layer, batch }) {
  const [name, cin, h, w] = layer;
  const s = await session(`conv_${name}_b${batch}.onnx`);
  const r = rng(7);
  const x = new ort.Tensor('float32', new Float32Array(batch * cin * h * w).map(() => r.normal()), [batch, cin, h, w]);
  await s.run({ x });
  return { run: async () => { await s.run({ x }); }, check: {}, dispose: () => s.release() };
}
