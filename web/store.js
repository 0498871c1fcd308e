// store.js - the page's IndexedDB: one saved training run (checkpoint + settings + curves + position), so
// that a reload can restore it and training continues from the saved step.

const DB_NAME = 'flexor-web';
const DB_VERSION = 1;
const STORE = 'runs';
const KEY = 'current';
export const RECORD_VERSION = 1;

let dbPromise = null;

function openDb() {
  if (dbPromise) return dbPromise;
  dbPromise = new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') {
      reject(new Error('IndexedDB is not available in this browser'));
      return;
    }
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB open failed'));
    req.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'));
  });
  dbPromise.catch(() => { dbPromise = null; });
  return dbPromise;
}

function tx(mode, fn) {
  return openDb().then((db) => new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const store = t.objectStore(STORE);
    let result;
    const req = fn(store);
    if (req) req.onsuccess = () => { result = req.result; };
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error ?? new Error('IndexedDB transaction failed'));
    t.onabort = () => reject(t.error ?? new Error('IndexedDB transaction aborted'));
  }));
}

/** The saved run, or null. */
export async function loadRun() {
  const rec = await tx('readonly', (s) => s.get(KEY));
  if (!rec || rec.version !== RECORD_VERSION || !(rec.checkpoint instanceof ArrayBuffer)) return null;
  return rec;
}

/** Replaces the saved run. */
export function saveRun(record) {
  return tx('readwrite', (s) => s.put({ ...record, version: RECORD_VERSION }, KEY));
}

export function clearRun() {
  return tx('readwrite', (s) => s.delete(KEY));
}
