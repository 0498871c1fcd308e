// helpers.mjs - small pieces the Node test files share.
import fs from 'node:fs';
import path from 'node:path';

/** Whether <root>/wasm/flexor.wasm is missing or older than a C source or header under <root>/src. */
export function wasmStale(root) {
  const wasm = path.join(root, 'wasm/flexor.wasm');
  if (!fs.existsSync(wasm)) return true;
  const t = fs.statSync(wasm).mtimeMs;
  const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).some((e) => {
    const p = path.join(d, e.name);
    return e.isDirectory() ? walk(p) : /\.[ch]$/.test(e.name) && fs.statSync(p).mtimeMs > t;
  });
  return walk(path.join(root, 'src'));
}
