#!/usr/bin/env node
// tools/serve.mjs — the project's static HTTP server (plain Node 20 ESM, node:http, no dependencies).
//
//   node tools/serve.mjs [--port N] [--host ADDR] [--verbose]
//
// Serves, on 127.0.0.1 by default:
//   /                    web/ (index.html for a folder)
//   /wasm/...            wasm/ (flexor.js, flexor.wasm as application/wasm, index.d.ts)
//   /models/...          models/ (trained model files and models/index.json; startServer({modelsRoot}) overrides)
//   /data/mnist/NAME     the four verified MNIST IDX files from the data cache (tools/fetch-data.mjs)
//   /data/cifar10/NAME   the six verified CIFAR-10 .bin files, when they have been fetched
// Data files are streamed from the cache ($FLEXOR_DATA, else ~/.cache/flexor-wasm/data). The server never
// downloads anything: a dataset whose files are not all present answers 404 with the command that fetches
// it; once present, the set is checked with ensureMnist/ensureCifar10 (their size+mtime stamp makes that
// cheap) before the first file is served.
//
// Every response carries Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy:
// require-corp (cross-origin isolation, for SharedArrayBuffer), and a Content-Security-Policy that allows
// only this origin (so a page cannot reach the network) plus 'wasm-unsafe-eval' for WebAssembly.
// Paths containing '..', '.', backslashes, NUL, encoded slashes or a leading '//' are rejected (400), as
// are dotfiles (404) and symlinks that resolve outside the served folder (404).
// Port: --port, else $PORT, else 8080; when it is taken the next ports are tried and the URL actually used
// is printed. --port 0 lets the OS pick. One log line per request only with --verbose.
//
// Exports: startServer({port, host, verbose, dataRoot, log}) -> Promise<{url, port, host, server, close()}>.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { ensureMnist, ensureCifar10, dataDir, MNIST_FILES, CIFAR10_FILES } from './fetch-data.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_PORT = 8080;
const PORT_TRIES = 20;

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.fxm': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};
const mimeOf = (file) => MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';

const SECURITY_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; " +
    "connect-src 'self'; img-src 'self' data: blob:; style-src 'self'; object-src 'none'; base-uri 'none'; " +
    "form-action 'none'; frame-ancestors 'none'",
};

// Source files change while developing: always revalidate (ETag / Last-Modified make that a 304).
const CACHE_SOURCE = 'no-cache';
// Dataset files are pinned by sha256 and never change under the same name.
const CACHE_DATA = 'public, max-age=86400, immutable';

const FETCH_HINT = {
  mnist: 'node tools/fetch-data.mjs mnist',
  cifar10: 'node tools/fetch-data.mjs cifar10',
};
const DATASETS = {
  mnist: { files: MNIST_FILES, ensure: ensureMnist },
  cifar10: { files: CIFAR10_FILES, ensure: ensureCifar10 },
};

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * The URL path as decoded segments, or an HttpError for anything that could leave the served folder or is
 * ambiguous: bad %-encoding, NUL, backslashes, encoded '/', '.' or '..' segments, a leading '//'.
 */
function pathSegments(rawUrl) {
  const q = rawUrl.search(/[?#]/);
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  if (!rawPath.startsWith('/') || rawPath.startsWith('//')) throw new HttpError(400, 'bad request path');
  const segs = [];
  const rawSegs = rawPath.slice(1).split('/');
  for (let i = 0; i < rawSegs.length; i++) {
    const raw = rawSegs[i];
    if (raw === '' && i === rawSegs.length - 1) break; // trailing slash
    if (raw === '') throw new HttpError(400, 'bad request path (empty segment)');
    let seg;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      throw new HttpError(400, 'bad request path (malformed %-encoding)');
    }
    if (seg === '.' || seg === '..' || /[\\/\0]/.test(seg) || path.isAbsolute(seg) || /^[a-zA-Z]:/.test(seg)) {
      throw new HttpError(400, 'bad request path (traversal or absolute path refused)');
    }
    segs.push(seg);
  }
  return { segs, trailingSlash: rawPath.endsWith('/') };
}

/** Resolves segs under base, refusing dotfiles and anything (symlinks included) that ends up outside base. */
async function resolveUnder(base, segs) {
  if (segs.some((s) => s.startsWith('.'))) throw new HttpError(404, 'not found');
  const file = path.join(base, ...segs);
  if (file !== base && !file.startsWith(base + path.sep)) throw new HttpError(400, 'bad request path');
  let real, st;
  try {
    real = await fsp.realpath(file);
    st = await fsp.stat(real);
  } catch {
    throw new HttpError(404, 'not found');
  }
  const realBase = await fsp.realpath(base);
  if (real !== realBase && !real.startsWith(realBase + path.sep)) throw new HttpError(404, 'not found');
  return { file: real, st };
}

const etagOf = (st) => `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;

/** Sends a file (GET streams it, HEAD only the headers), honouring If-None-Match / If-Modified-Since. */
function sendFile(req, res, file, st, cacheControl) {
  const etag = etagOf(st);
  const headers = {
    'Content-Type': mimeOf(file),
    'Cache-Control': cacheControl,
    ETag: etag,
    'Last-Modified': new Date(st.mtimeMs).toUTCString(),
  };
  const inm = req.headers['if-none-match'];
  const ims = req.headers['if-modified-since'];
  const fresh = inm ? inm.split(/\s*,\s*/).includes(etag)
    : ims ? Math.floor(st.mtimeMs / 1000) <= Math.floor(Date.parse(ims) / 1000) : false;
  if (fresh) {
    res.writeHead(304, headers);
    res.end();
    return 304;
  }
  headers['Content-Length'] = st.size;
  res.writeHead(200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return 200;
  }
  const stream = fs.createReadStream(file);
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
  return 200;
}

function sendText(res, status, text, extra = {}) {
  const body = Buffer.from(text.endsWith('\n') ? text : text + '\n');
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, 'Cache-Control': 'no-store', ...extra,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
  return status;
}

/**
 * Starts the server. Resolves once it listens.
 * @param {{port?: number, host?: string, verbose?: boolean, dataRoot?: string, log?: (line: string) => void}} [opts]
 *   port (default $PORT or 8080; 0 = any free port; a taken port moves on to the next ones), host
 *   (default 127.0.0.1), verbose (one log line per request), dataRoot (default dataDir()), log (default stderr).
 * @returns {Promise<{url: string, port: number, host: string, server: http.Server, close: () => Promise<void>}>}
 */
export async function startServer(opts = {}) {
  const host = opts.host ?? '127.0.0.1';
  const firstPort = opts.port ?? (process.env.PORT ? Number(process.env.PORT) : DEFAULT_PORT);
  if (!Number.isInteger(firstPort) || firstPort < 0 || firstPort > 65535) {
    throw new Error(`serve: bad port "${String(opts.port ?? process.env.PORT)}" (want 0..65535)`);
  }
  const dataRoot = path.resolve(opts.dataRoot ?? dataDir());
  const log = opts.log ?? ((line) => process.stderr.write(line + '\n'));
  const verbose = !!opts.verbose;
  const webRoot = path.join(ROOT, 'web');
  const wasmRoot = path.join(ROOT, 'wasm');
  const modelsRoot = path.resolve(opts.modelsRoot ?? path.join(ROOT, 'models'));

  // Per dataset: a promise of the verified file map, shared by concurrent requests; dropped on failure so
  // that a later request (after `fetch-data`) tries again.
  const verified = new Map();

  async function dataFile(name, segs) {
    const ds = DATASETS[name];
    if (segs.length !== 1 || !Object.hasOwn(ds.files, segs[0])) {
      throw new HttpError(404, `not found: /data/${name}/ serves only ${Object.keys(ds.files).join(', ')}`);
    }
    const dir = path.join(dataRoot, name);
    const missing = [];
    for (const f of Object.keys(ds.files)) if (!fs.existsSync(path.join(dir, f))) missing.push(f);
    if (missing.length) {
      verified.delete(name);
      throw new HttpError(404, `${name} is not fetched (${missing.join(', ')} missing in ${dir}); ` +
        `run \`${FETCH_HINT[name]}\` and reload`);
    }
    if (!verified.has(name)) {
      const p = ds.ensure(dataRoot).catch((e) => {
        verified.delete(name);
        throw new HttpError(404, `${name} files in ${dir} did not verify (${e.message}); run \`${FETCH_HINT[name]}\``);
      });
      verified.set(name, p);
    }
    const files = await verified.get(name);
    const file = files[segs[0]];
    let st;
    try {
      st = await fsp.stat(file);
    } catch {
      verified.delete(name);
      throw new HttpError(404, `${name} is not fetched (${segs[0]} vanished); run \`${FETCH_HINT[name]}\``);
    }
    if (st.size !== ds.files[segs[0]].bytes) {
      verified.delete(name);
      throw new HttpError(404, `${file} has the wrong size; run \`${FETCH_HINT[name]}\``);
    }
    return { file, st };
  }

  async function handle(req, res) {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
    const { segs, trailingSlash } = pathSegments(req.url ?? '/');
    if (segs[0] === 'data') {
      if (segs.length >= 2 && Object.hasOwn(DATASETS, segs[1])) {
        const { file, st } = await dataFile(segs[1], segs.slice(2));
        return sendFile(req, res, file, st, CACHE_DATA);
      }
      throw new HttpError(404, 'not found: /data/ serves /data/mnist/... and /data/cifar10/...');
    }
    const [base, rest] = segs[0] === 'wasm' ? [wasmRoot, segs.slice(1)]
      : segs[0] === 'models' ? [modelsRoot, segs.slice(1)] : [webRoot, segs];
    let { file, st } = await resolveUnder(base, rest);
    if (st.isDirectory()) {
      if (!trailingSlash && rest.length) {
        const loc = '/' + segs.map(encodeURIComponent).join('/') + '/';
        res.writeHead(301, { Location: loc, 'Content-Length': 0 });
        res.end();
        return 301;
      }
      ({ file, st } = await resolveUnder(base, [...rest, 'index.html']));
    }
    if (!st.isFile()) throw new HttpError(404, 'not found');
    return sendFile(req, res, file, st, CACHE_SOURCE);
  }

  const server = http.createServer((req, res) => {
    const t0 = process.hrtime.bigint();
    handle(req, res).then((status) => status, (e) => {
      if (e instanceof HttpError) return res.headersSent ? (res.destroy(), e.status) : sendText(res, e.status, e.message);
      log(`serve: internal error on ${req.method} ${req.url}: ${e?.stack ?? e}`);
      if (!res.headersSent) return sendText(res, 500, 'internal server error');
      res.destroy();
      return 500;
    }).then((status) => {
      if (verbose) {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        log(`${req.method} ${req.url} ${status} ${ms.toFixed(1)} ms`);
      }
    });
  });
  server.keepAliveTimeout = 5000;

  const listen = (port) => new Promise((resolve, reject) => {
    const onError = (e) => { server.off('listening', onListening); reject(e); };
    const onListening = () => { server.off('error', onError); resolve(); };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });

  let port = firstPort;
  for (let attempt = 0; ; attempt++) {
    try {
      await listen(port);
      break;
    } catch (e) {
      if (e.code !== 'EADDRINUSE' || port === 0 || attempt + 1 >= PORT_TRIES || port >= 65535) {
        if (e.code === 'EADDRINUSE') throw new Error(`serve: ports ${firstPort}..${port} on ${host} are all taken; pass --port`);
        throw new Error(`serve: cannot listen on ${host}:${port}: ${e.message}`);
      }
      port++;
    }
  }
  const actual = server.address().port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${actual}/`;
  const sockets = new Set();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  let closing = null;
  const close = () => {
    closing ??= new Promise((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections?.();
      for (const s of sockets) s.destroy();
    });
    return closing;
  };
  return { url, port: actual, host, server, close };
}

// ---------------------------------------------------------------------------------------------------------
// CLI

const USAGE = 'usage: node tools/serve.mjs [--port N] [--host ADDR] [--verbose]\n' +
  '  serves web/ at /, wasm/ at /wasm/ and the fetched datasets at /data/ (default http://127.0.0.1:8080/)';

async function main(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string', short: 'p' }, host: { type: 'string' }, verbose: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`serve: ${e.message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (values.help) return void console.log(USAGE);
  let port;
  if (values.port !== undefined) {
    if (!/^\d{1,5}$/.test(values.port) || Number(values.port) > 65535) {
      process.stderr.write(`serve: --port must be a number in 0..65535 (got "${values.port}")\n`);
      process.exitCode = 2;
      return;
    }
    port = Number(values.port);
  }
  let srv;
  try {
    srv = await startServer({ port, host: values.host, verbose: values.verbose });
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exitCode = 1;
    return;
  }
  const mnistDir = path.join(dataDir(), 'mnist');
  const haveMnist = Object.keys(MNIST_FILES).every((f) => fs.existsSync(path.join(mnistDir, f)));
  console.log(`flexor-wasm: serving ${path.join(ROOT, 'web')} on ${srv.url}  (Ctrl+C stops)`);
  if (!haveMnist) console.log(`flexor-wasm: MNIST is not fetched yet; run \`${FETCH_HINT.mnist}\` for training`);
  const stop = (sig) => {
    srv.close().then(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    setTimeout(() => process.exit(1), 2000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function invokedDirectly() {
  try {
    return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
if (invokedDirectly()) await main(process.argv.slice(2));
