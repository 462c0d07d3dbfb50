// Starts a real `tide serve` on loopback for a test, and stops it afterwards.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../../..');
export const tideBinary = process.env.TIDE_BIN ?? path.join(repo, 'build/release/src/cli/tide');
export const fixtureModel = (name) => path.join(repo, 'tests/fixtures/models', name);

// Starts `tide <args>` and resolves once it prints its "listening on" line, with its URL; rejects
// if it exits first or takes longer than `timeoutMs`. Shared by every tide process a test starts.
//
// Each process gets one CPU thread unless the environment says otherwise: tests run several
// replicas and a gateway side by side on small machines, and OpenMP teams oversubscribing the
// cores make a decode step hundreds of times slower (every barrier waits for a descheduled thread).
export async function spawnListening(args, { env = {}, timeoutMs = 60000 } = {}) {
  const proc = spawn(tideBinary, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { OMP_NUM_THREADS: '1', ...process.env, ...env },
  });
  const what = `tide ${args[0]}`;
  let log = '';
  let found = false;
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in ${timeoutMs} ms:\n${log}`)), timeoutMs);
    // Stays attached after the URL is found: it keeps collecting the log.
    const onData = (chunk) => {
      log += chunk.toString();
      if (found) return;
      const m = log.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m) {
        found = true;
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before listening:\n${log}`));
    });
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    url,
    proc,
    exited,
    log: () => log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

export async function startServer({ model = fixtureModel('deepseek-v3-tiny'), args = [], port = 0, timeoutMs = 60000 } = {}) {
  return spawnListening(['serve', '--model', model, '--host', '127.0.0.1', '--port', String(port), ...args], { timeoutMs });
}

// `timeoutMs` bounds the whole exchange (the promise rejects with a TimeoutError); none by default.
export async function postJson(url, body, headers = {}, timeoutMs = 0) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
    signal: timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

// Reads an SSE response; returns the parsed `data:` payloads (the final [DONE] as the string).
export async function postStream(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  const events = text
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice(6))
    .map((data) => (data === '[DONE]' ? data : JSON.parse(data)));
  return { status: res.status, headers: res.headers, events };
}

// The value of an unlabelled metric, or of the first series whose labels contain `labelText`.
export async function metric(base, name, labelText = '') {
  const text = await (await fetch(`${base}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    if (line.startsWith(name + ' ') && !labelText) return Number(line.split(' ').pop());
    if (line.startsWith(name + '{') && line.includes(labelText)) return Number(line.split(' ').pop());
  }
  return labelText ? 0 : NaN;
}

export async function waitFor(predicate, { timeoutMs = 20000, intervalMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return false;
}
