// `tide up` end to end on the CPU, in real time: the gateway, replicas of the fixture model as
// processes, and the reactive autoscaler. A load spike scales the pool out (the new replica
// becomes ready and serves), the load ends and the pool scales in after the stabilization
// window, while a light load keeps running: no request fails during the scale-in. Traffic
// stays on 127.0.0.1, bounded in count and time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnListening, fixtureModel, waitFor } from './lib/server.mjs';
import { finishedAt } from './lib/gateway.mjs';

const stabilizationS = 8;

function clusterYaml(runDir) {
  return `
run_dir: ${runDir}
status: { host: 127.0.0.1, port: 0 }
discovery_poll: 200ms
gateway:
  listen: { host: 127.0.0.1, port: 0 }
pools:
  - name: main
    model: ${fixtureModel('deepseek-v3-tiny')}
    serve_args: [--served-model-name, tiny]
    drain_timeout: 30s
    gateway:
      balancer: least_outstanding
      health_check: { interval: 200ms, timeout: 1s }
    autoscaling:
      min_replicas: 1
      max_replicas: 2
      policy: reactive
      signal: in_flight
      target: 2
      headroom: 0
      interval: 1s
      scale_down: { stabilization: ${stabilizationS}s }
      panic: { enabled: false }
`;
}

const request = (i, max_tokens) => ({
  model: 'tiny',
  prompt: Array.from({ length: 8 }, (_, k) => ((i * 131 + k * 17) % 500) + 2),
  max_tokens,
  temperature: 0,
  ignore_eos: true,
  stream: true,
});

// One streamed completion through the gateway; 'ok' only for a 200 that ended with [DONE].
async function streamOnce(gateway, i, maxTokens, timeoutMs = 30000) {
  try {
    const res = await fetch(`${gateway}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request(i, maxTokens)),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (res.status === 200 && text.trimEnd().endsWith('data: [DONE]')) return 'ok';
    return `${res.status} ${text.slice(-200)}`;
  } catch (e) {
    return `${e.name}: ${e.message}`;
  }
}

// Runs `workers` loops of requests until `until()` holds (checked between requests) or the
// deadline; returns every outcome that was not 'ok'.
async function load(gateway, { workers, maxTokens, until, deadlineMs }) {
  const failures = [];
  const deadline = Date.now() + deadlineMs;
  let n = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (!until() && Date.now() < deadline) {
        const i = n++;
        const outcome = await streamOnce(gateway, i, maxTokens);
        if (outcome !== 'ok') failures.push(`request ${i}: ${outcome}`);
      }
    }),
  );
  return { failures, sent: n };
}

test('a spike scales out, the new replica serves; the pool scales in after the window with no failed request', async () => {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tide-up-'));
  const configPath = path.join(runDir, 'cluster.yaml');
  fs.writeFileSync(configPath, clusterYaml(runDir));
  const up = await spawnListening(['up', '--config', configPath, '--no-ui'], { timeoutMs: 60000 });
  try {
    const statusUrl = await (async () => {
      await waitFor(() => /status at (http:\/\/[0-9.:]+)\/status/.test(up.log()), { timeoutMs: 10000 });
      return up.log().match(/status at (http:\/\/[0-9.:]+)\/status/)[1];
    })();
    const gateway = up.url;
    let status = null;
    const refresh = async () => (status = await (await fetch(`${statusUrl}/status`)).json());
    const pool = () => status.pools[0];
    const ready = () => pool().replicas.filter((r) => r.state === 'ready');

    assert.ok(await waitFor(async () => (await refresh(), pool().ready === 1), { timeoutMs: 30000 }), 'one replica ready');

    // The spike: 8 streams at once against a target of 2 in flight per replica. Each is long
    // enough (160 tokens) that the replica's own time, not the client's between requests, keeps
    // them in flight: at 48 a run once saw a single request in flight, well under the target.
    let scaledOut = false;
    const spike = load(gateway, { workers: 8, maxTokens: 160, until: () => scaledOut, deadlineMs: 90000 });
    let second = null;
    const servedBySecond = await waitFor(
      async () => {
        await refresh();
        second = ready().find((r) => r.id !== 1);
        if (!second) return false;
        return (await finishedAt(second.url)) >= 3;
      },
      { timeoutMs: 80000, intervalMs: 250 },
    );
    scaledOut = true;
    // The window is counted from here: the streams still running wind down below the target.
    const spikeEnded = Date.now();
    const spikeResult = await spike;
    assert.ok(servedBySecond, `a second replica became ready and served: ${JSON.stringify(pool())}`);
    assert.deepEqual(spikeResult.failures, []);
    assert.ok(pool().changes.some((c) => c.to === 2), JSON.stringify(pool().changes));

    // The load ends but a trickle goes on (two streams at a time, below the target); the pool
    // holds 2 replicas for the stabilization window, then drains one. Every request succeeds.
    let scaledIn = false;
    const trickle = load(gateway, { workers: 2, maxTokens: 16, until: () => scaledIn, deadlineMs: 90000 });
    let heldTwoUntil = spikeEnded;
    const drained = await waitFor(
      async () => {
        await refresh();
        if (pool().desired === 2) heldTwoUntil = Date.now();
        return pool().desired === 1 && pool().ready === 1 && pool().draining === 0 && pool().starting === 0;
      },
      { timeoutMs: 80000, intervalMs: 250 },
    );
    // Some requests after the drain, then stop the trickle.
    await new Promise((r) => setTimeout(r, 1500));
    scaledIn = true;
    const trickleResult = await trickle;
    assert.ok(drained, `scaled in to one replica: ${JSON.stringify(pool())}`);
    assert.ok(trickleResult.sent >= 10, `the trickle sent ${trickleResult.sent} requests`);
    assert.deepEqual(trickleResult.failures, [], 'no request failed during the scale-in');
    assert.ok((heldTwoUntil - spikeEnded) / 1000 >= stabilizationS - 2,
              `held two replicas ${(heldTwoUntil - spikeEnded) / 1000} s after the spike (window ${stabilizationS} s)`);
    const last = pool().changes.at(-1);
    assert.equal(last.to, 1, JSON.stringify(pool().changes));
    assert.ok(pool().replicas.some((r) => r.state === 'exited' && r.note === 'stopped'), 'the drained replica stopped');

    // Ctrl-C: everything drains and stops.
    up.proc.kill('SIGINT');
    let timer;
    const exit = await Promise.race([up.exited, new Promise((r) => (timer = setTimeout(() => r('timeout'), 40000)))]);
    clearTimeout(timer);
    assert.deepEqual(exit, { code: 0, signal: null }, up.log().slice(-2000));
  } finally {
    await up.stop();
    fs.rmSync(runDir, { recursive: true, force: true });
  }
});

test('scale to zero: a request to an empty pool is held while the first replica starts; idle, the pool goes back to zero', async () => {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tide-up-'));
  const configPath = path.join(runDir, 'cluster.yaml');
  // GPU groups on a CPU machine: the replica ignores CUDA_VISIBLE_DEVICES, but it must be given one.
  fs.writeFileSync(configPath, `
run_dir: ${runDir}
status: { host: 127.0.0.1, port: 0 }
discovery_poll: 200ms
gateway:
  listen: { host: 127.0.0.1, port: 0 }
  admission:
    queues:
      - { priority: default, max_size: 8, timeout: 60s }
pools:
  - name: main
    model: ${fixtureModel('deepseek-v3-tiny')}
    serve_args: [--served-model-name, tiny]
    devices: [[0], [1]]
    drain_timeout: 10s
    gateway:
      health_check: { interval: 200ms, timeout: 1s }
    autoscaling:
      min_replicas: 0
      max_replicas: 2
      signal: in_flight
      target: 4
      interval: 1s
      scale_down: { stabilization: 4s }
      panic: { enabled: false }
`);
  const up = await spawnListening(['up', '--config', configPath, '--no-ui'], { timeoutMs: 60000 });
  try {
    await waitFor(() => /status at (http:\/\/[0-9.:]+)\/status/.test(up.log()), { timeoutMs: 10000 });
    const statusUrl = up.log().match(/status at (http:\/\/[0-9.:]+)\/status/)[1];
    const status = async () => (await (await fetch(`${statusUrl}/status`)).json()).pools[0];
    assert.equal((await status()).desired, 0, 'starts with no replica');

    const started = Date.now();
    const outcome = await streamOnce(up.url, 1, 8, 60000);  // held through a cold start, as the queue allows
    assert.equal(outcome, 'ok', 'the held request was served once a replica started');
    const pool = await status();
    const replica = pool.replicas.find((r) => r.state === 'ready');
    assert.ok(replica, JSON.stringify(pool));
    assert.equal(replica.devices, '0');
    const environ = fs.readFileSync(`/proc/${replica.pid}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes('CUDA_VISIBLE_DEVICES=0'), 'the replica got its GPU group');
    assert.ok(pool.changes.some((c) => c.from === 0 && c.to === 1), JSON.stringify(pool.changes));

    // Idle past the window: back to zero, the replica drained and stopped.
    assert.ok(await waitFor(async () => {
      const p = await status();
      return p.desired === 0 && p.ready === 0 && p.draining === 0;
    }, { timeoutMs: 30000, intervalMs: 250 }), JSON.stringify(await status()));
    assert.ok(Date.now() - started >= 4000, 'not before the stabilization window');
  } finally {
    up.proc.kill('SIGINT');
    await Promise.race([up.exited, new Promise((r) => setTimeout(r, 20000).unref())]);
    await up.stop();
    fs.rmSync(runDir, { recursive: true, force: true });
  }
});
