// Starts a real `tide gateway` on loopback for a test, from a YAML config written to a
// temporary file; and a few stand-in upstreams (plain node HTTP servers) for behaviours a
// healthy `tide serve` never shows (answering 500s, answering slowly).
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnListening } from './server.mjs';

export async function startGateway(configYaml, { args = [], env = {}, timeoutMs = 30000 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tide-gw-'));
  const configPath = path.join(dir, 'gateway.yaml');
  fs.writeFileSync(configPath, configYaml);
  const gw = await spawnListening(['gateway', '--config', configPath, '--host', '127.0.0.1', '--port', '0', ...args], {
    env,
    timeoutMs,
  });
  return {
    ...gw,
    port: Number(gw.url.split(':').pop()),
    configPath,
    // Rewrites the config and tells the gateway (SIGHUP).
    reconfigure(yaml) {
      fs.writeFileSync(configPath, yaml);
      gw.proc.kill('SIGHUP');
    },
    async stop() {
      await gw.stop();
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

// A loopback port nothing listens on right now.
export function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const port = probe.address().port;
      probe.close(() => resolve(port));
    });
  });
}
