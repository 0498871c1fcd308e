// prepare.mjs - builds the benchmark's models once with our runtime (wasm), and writes what every engine loads:
// the specs (graph + float weights, FleXOR decoded) for tfjs and the ONNX export, the raw parameter files for
// our wasm runner and the native bench, the inputs, and the reference outputs of our runtime for validation.
import { writeFileSync } from 'node:fs';
import { FX, outPath, writeF32, randn, rng } from './common.mjs';
import { flexorApi, buildResnet, buildLenet, randomizeBn, dumpParams, exportSpec } from './ours.mjs';

export const B = 64; // the largest batch of every workload

export async function prepare({ workloads }) {
  const api = await flexorApi();
  const refs = {};
  const files = [];
  const x = randn(B * 3 * 32 * 32, 101);
  writeF32(outPath('input_cifar.f32'), x);
  if (workloads.has('W2')) {
    for (const [name, fx] of [['resnet20_fp', null], ['resnet20_fx', FX]]) {
      const m = buildResnet(api, { fx, maxBatch: B, training: false });
      m.initParams({ seed: 11, latStd: 1e-3, alphaInit: 0 });
      randomizeBn(m, 12);
      const logits = m.forward(x, B);
      const logits1 = m.forward(x.subarray(0, 3 * 32 * 32), 1);
      refs[name] = { b64: Array.from(logits), b1: Array.from(logits1), macs: m.nodes().reduce((a, n) => a + n.macs, 0) };
      dumpParams(m, outPath(`${name}.params.bin`));
      const { json } = exportSpec(m, name);
      writeFileSync(outPath(`${name}.json`), json);
      files.push(name);
      m.dispose();
    }
  }
  if (workloads.has('W1')) {
    const xm = randn(B * 28 * 28, 202);
    writeF32(outPath('input_mnist.f32'), xm);
    const r = rng(203), labels = new Int32Array(B).map(() => Math.floor(r.u() * 10));
    writeFileSync(outPath('labels_mnist.i32'), new Uint8Array(labels.buffer));
    for (const [name, fx] of [['lenet5_fp', null], ['lenet5_fx', FX]]) {
      const m = buildLenet(api, { fx, maxBatch: B, training: true });
      m.initParams({ seed: 21, latStd: 1e-3, alphaInit: 0 });
      dumpParams(m, outPath(`${name}.params.bin`));
      if (!fx) {
        // reference: loss and gradients of the first training step, stored with the weights in the spec
        m.forward(xm, B, { train: true });
        const loss = m.backward(labels);
        const grads = new Map(m.params().filter((p) => p.trainable).map((p) => [p.name, m.getGrad(p.name)]));
        refs[name] = { loss, macs: m.nodes().reduce((a, n) => a + n.macs, 0) };
        const byNode = new Map();
        for (const p of m.params()) (byNode.get(p.node) ?? byNode.set(p.node, {}).get(p.node))[p.kind] = p.name;
        const { json } = exportSpec(m, name, (n) => {
          const pn = byNode.get(n.id);
          return pn && pn.w ? { gw: grads.get(pn.w), gb: grads.get(pn.b) } : null;
        });
        writeFileSync(outPath(`${name}.json`), json);
        files.push(name);
      }
      m.dispose();
    }
  }
  writeFileSync(outPath('refs.json'), JSON.stringify(refs));
  return { refs, files };
}
