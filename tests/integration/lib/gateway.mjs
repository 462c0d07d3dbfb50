// Starts a real `tide gateway` on loopback for a test, from a YAML config written to a
// temporary file; and a few stand-in upstreams (plain node HTTP servers) for behaviours a
// healthy `tide serve` never shows (answering 500s, answering slowly).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { tideBinary } from './server.mjs';

export async function startGateway(configYaml, { args = [], env = {}, timeoutMs = 30000 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tide-gw-'));
  const configPath = path.join(dir, 'gateway.yaml');
  fs.writeFileSync(configPath, configYaml);
  const proc = spawn(tideBinary, ['gateway', '--config', configPath, '--host', '127.0.0.1', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tide gateway did not start in ${timeoutMs} ms:\n${log}`)), timeoutMs);
    const onData = (chunk) => {
      log += chunk.toString();
      const m = log.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tide gateway exited with ${code} before listening:\n${log}`));
    });
  });
  proc.stdout.on('data', (c) => (log += c.toString()));
  proc.stderr.on('data', (c) => (log += c.toString()));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    url,
    port: Number(url.split(':').pop()),
    proc,
    exited,
    configPath,
    log: () => log,
    // Rewrites the config and tells the gateway (SIGHUP).
    reconfigure(yaml) {
      fs.writeFileSync(configPath, yaml);
      proc.kill('SIGHUP');
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// A stand-in upstream: `handler(req, body, res)` answers generation requests; /ready and
// /metrics answer like a healthy replica's. Counts the generation requests it got.
export async function startStub(handler) {
  const stub = { hits: 0 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/ready' || req.url === '/health') return res.end('{"status":"ready"}');
      if (req.url === '/metrics') return res.end('tide_num_requests_running 0\n');
      stub.hits++;
      handler(req, body, res);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.port = server.address().port;
  stub.address = `127.0.0.1:${stub.port}`;
  stub.stop = () => new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(resolve);
  });
  return stub;
}

// Requests a replica finished, by its own metrics (every finish reason).
export async function finishedAt(base) {
  const text = await (await fetch(`${base}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith('tide_requests_finished_total{')) total += Number(line.split(' ').pop());
  return total;
}

// Runs `fn(i)` for i in [0, count) with at most `concurrency` at a time; returns the results.
export async function pool(count, concurrency, fn) {
  const results = new Array(count);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++;
      results[i] = await fn(i);
    }
  });
  await Promise.all(workers);
  return results;
}
