// setup.mjs - what `npm test` and `npm start` run first: install npm dependencies when node_modules is
// missing or stale, then build (./build.sh installs missing Debian toolchain packages itself when run as root).
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

const lock = join(root, 'package-lock.json');
const mods = join(root, 'node_modules', '.package-lock.json');
const hasDeps = existsSync(join(root, 'package-lock.json'));
if (hasDeps && (!existsSync(mods) || statSync(lock).mtimeMs > statSync(mods).mtimeMs)) {
  console.error('setup: installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}
try {
  if (process.env.npm_lifecycle_event === 'pretest') run(join(root, 'build.sh'), ['deps']);
  run(join(root, 'build.sh'), ['all']);
} catch {
  console.error('setup: ./build.sh failed (see the message above)');
  process.exit(1);
}
