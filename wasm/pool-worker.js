// pool-worker.js - one worker of a ModelPool (pool.js): its own flexor.wasm instance (from the module the pool
// compiled once) and its own copy of the model; runs forward passes on the samples it is sent. The same file
// runs as a browser module Worker and as a Node worker_threads worker.
import { init, Model, FlexorError } from './flexor.js';

const NODE_WT = 'node:worker_threads'; // through a variable, so bundlers leave this Node-only import alone

async function channel() {
  if (typeof self !== 'undefined' && typeof self.postMessage === 'function' && typeof self.addEventListener === 'function')
    return { on: (f) => self.addEventListener('message', (e) => f(e.data)), post: (m, t) => self.postMessage(m, t) };
  const { parentPort } = await import(/* webpackIgnore: true */ /* @vite-ignore */ NODE_WT);
  return { on: (f) => parentPort.on('message', f), post: (m, t) => parentPort.postMessage(m, t) };
}

const port = await channel();
let model = null;

function fail(id, e) {
  port.post({ type: 'error', id, message: e?.message ?? String(e), name: e?.name, status: e instanceof FlexorError ? e.status : undefined });
}

port.on(async (msg) => {
  try {
    if (msg.type === 'init') {
      await init({ wasmModule: msg.module });
      model = Model.load(new Uint8Array(msg.model), { maxBatch: msg.maxBatch });
      port.post({ type: 'ready', id: msg.id, classes: model.classes, input: model.inputShape });
    } else if (msg.type === 'forward') {
      const logits = model.forward(msg.x, msg.n);
      port.post({ type: 'done', id: msg.id, logits }, [logits.buffer]);
    } else if (msg.type === 'close') {
      model?.dispose();
      model = null;
      port.post({ type: 'closed', id: msg.id });
    }
  } catch (e) {
    fail(msg.id, e);
  }
});
port.post({ type: 'up' });
