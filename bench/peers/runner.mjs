// runner.mjs - one engine in its own process (thread settings of tfjs and onnxruntime are fixed per process),
// driven by bench/run.mjs over IPC so that timed repetitions of all engines can be interleaved:
//   node bench/peers/runner.mjs <ours|tfjs|ort> <threads>
// Messages: {id, cmd: 'setup', key, task: 'resnet'|'lenet'|'conv', args} -> {id, ok, check, info}
//           {id, cmd: 'run', key, iters} -> {id, ok, t (seconds for iters iterations)}
//           {id, cmd: 'dispose', key}, {id, cmd: 'exit'}
import process from 'node:process';

const [engine, threadsArg] = process.argv.slice(2);
const threads = Number(threadsArg || 1);
let mod, info = { engine, threads };

if (engine === 'ours') {
  mod = await import('./ours.mjs');
  const api = await mod.flexorApi();
  info.version = api.version();
} else if (engine === 'tfjs') {
  mod = await import('./tfjs.mjs');
  const { tf, threads: used } = await mod.initTfjs(threads);
  info = { ...info, threadsUsed: used, version: tf.version_core, binary: used > 1 ? 'tfjs-backend-wasm-threaded-simd.wasm' : 'tfjs-backend-wasm-simd.wasm' };
} else if (engine === 'ort') {
  mod = await import('./ort.mjs');
  const ort = await mod.initOrt(threads);
  info = { ...info, version: ort.env.versions?.web ?? 'unknown' };
} else {
  process.stderr.write(`runner: unknown engine ${engine}\n`);
  process.exit(2);
}

const tasks = new Map();
const TASKS = { resnet: 'resnetTask', resnetPool: 'resnetPoolTask', lenet: 'lenetTask', conv: 'convTask', convLut: 'convLutTask' };

process.on('message', async (msg) => {
  const reply = (o) => process.send({ id: msg.id, ...o });
  try {
    if (msg.cmd === 'setup') {
      const f = mod[TASKS[msg.task]];
      if (!f) throw new Error(`${engine} has no ${msg.task} task`);
      const t = await f(msg.args);
      tasks.set(msg.key, t);
      reply({ ok: true, check: t.check, info });
    } else if (msg.cmd === 'run') {
      const t = tasks.get(msg.key);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < msg.iters; i++) await t.run();
      reply({ ok: true, t: Number(process.hrtime.bigint() - t0) * 1e-9 });
    } else if (msg.cmd === 'dispose') {
      const t = tasks.get(msg.key);
      tasks.delete(msg.key);
      if (t) await t.dispose();
      reply({ ok: true });
    } else if (msg.cmd === 'exit') {
      reply({ ok: true });
      setTimeout(() => process.exit(0), 10);
    }
  } catch (e) {
    reply({ ok: false, error: String(e && e.stack ? e.stack : e) });
  }
});
process.send({ id: 0, ok: true, ready: true, info });
