// `tide gateway` end to end on loopback, in front of real `tide serve` replicas (fixture model,
// CPU): balancing policies, prefix-aware routing against round robin, a replica killed under
// load, ejection of a replica answering 500s, failover and back, canary splits, mirroring and
// configuration reload under load. Traffic stays on 127.0.0.1, bounded in count and time.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { startServer, postJson, metric, waitFor } from './lib/server.mjs';
import { startGateway, startStub, finishedAt, pool, freePort } from './lib/gateway.mjs';

const promptOf = (length, salt) => Array.from({ length }, (_, i) => ((salt * 131 + i * 17 + 5) % 500) + 2);
const request = (prompt, max_tokens, extra = {}) => ({ model: 'tiny', prompt, max_tokens, temperature: 0, ignore_eos: true, ...extra });
const host = (server) => new URL(server.url).host;

const replicas = [];
async function replica(args = []) {
  const r = await startServer({ args: ['--served-model-name', 'tiny', ...args] });
  replicas.push(r);
  return r;
}
after(async () => {
  for (const r of replicas) await r.stop();
});

// Fast health checks and ejections, so a test sees state changes within a second or two.
const fastPool = (name, members, extra = '', ejection = '1s') => `
  - name: ${name}
    replicas: [${members.join(', ')}]
    health_check: { interval: 200ms, timeout: 500ms }
    outlier_detection: { consecutive_failures: 2, base_ejection_time: ${ejection}, max_ejection_percent: 100 }
    retry: { max_retries: 2, min_per_second: 100 }${extra}`;

// Reads a streamed completion; resolves to { status, events, done, error } without throwing
// (a response not ended within `timeoutMs` resolves with status 'timeout').
async function stream(url, body, timeoutMs = 15000) {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, stream: true }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    const events = text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => b.slice(6));
    return {
      status: res.status,
      events,
      done: events.at(-1) === '[DONE]',
      error: events.some((e) => e.startsWith('{') && JSON.parse(e).error),
    };
  } catch (e) {
    return { status: e.name === 'TimeoutError' ? 'timeout' : `error ${e.message}`, events: [], done: false, error: false };
  }
}

// Where requests are held, for the message of a failed assertion: the gateway's in-flight
// gauges, each live replica's running and waiting requests, and the gateway's last log lines.
async function whereHeld(gw, servers) {
  const lines = [];
  const grab = async (base, names) => {
    try {
      const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
      return text.split('\n').filter((l) => names.some((n) => l.startsWith(n)));
    } catch (e) {
      return [`unreachable: ${e.message}`];
    }
  };
  lines.push(...(await grab(gw.url, ['tide_gateway_requests_in_flight', 'tide_gateway_upstream_in_flight'])));
  const engine = ['tide_num_requests', 'tide_num_preemptions_total', 'tide_generation_tokens_total', 'tide_engine_step_seconds_count', 'tide_requests_finished_total'];
  for (const s of servers)
    if (s.proc.exitCode === null && s.proc.signalCode === null) {
      lines.push(`${s.url}:`, ...(await grab(s.url, engine)));
      await new Promise((r) => setTimeout(r, 1000));
      lines.push('a second later:', ...(await grab(s.url, engine)), ...s.log().split('\n').slice(-15));
    }
  lines.push('gateway log:', ...gw.log().split('\n').slice(-40));
  return lines.join('\n');
}

test('round robin spreads requests evenly; least outstanding avoids a slow replica; session affinity sticks', async () => {
  const rs = [await replica(), await replica(), await replica()];
  {
    const gw = await startGateway(`pools:${fastPool('main', rs.map(host), '\n    balancer: round_robin')}\n`);
    try {
      const before = await Promise.all(rs.map((r) => finishedAt(r.url)));
      await pool(30, 1, (i) => postJson(`${gw.url}/v1/completions`, request(promptOf(8, i), 2)));
      const counts = async () => (await Promise.all(rs.map((r) => finishedAt(r.url)))).map((a, i) => a - before[i]);
      await waitFor(async () => (await counts()).reduce((a, b) => a + b) === 30);  // the last finish is counted
      assert.deepEqual(await counts(), [10, 10, 10]);
    } finally {
      await gw.stop();
    }
  }
  {
    const slow = await startStub((req, body, res) => setTimeout(() => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ choices: [{ text: 'slow' }] }));
    }, 300));
    const gw = await startGateway(`pools:${fastPool('main', [host(rs[0]), slow.address], '\n    balancer: least_outstanding')}\n`);
    try {
      const results = await pool(24, 4, (i) => postJson(`${gw.url}/v1/completions`, request(promptOf(8, i), 2)));
      assert.deepEqual(results.map((r) => r.status), Array(24).fill(200));
      assert.ok(slow.hits <= 6, `the slow replica got ${slow.hits} of 24 (round robin would give it 12)`);
    } finally {
      await gw.stop();
      await slow.stop();
    }
  }
  const gw = await startGateway(`pools:${fastPool('main', rs.map(host), '\n    balancer: session_affinity')}\n`);
  try {
    for (const session of ['alice', 'bob', 'carol']) {
      const before = await Promise.all(rs.map((r) => finishedAt(r.url)));
      for (let i = 0; i < 5; i++) {
        const r = await postJson(`${gw.url}/v1/completions`, request(promptOf(8, i), 2), { 'x-session-id': session });
        assert.equal(r.status, 200);
      }
      const counts = async () => (await Promise.all(rs.map((r) => finishedAt(r.url)))).map((a, i) => a - before[i]);
      await waitFor(async () => (await counts()).reduce((a, b) => a + b) === 5);
      assert.deepEqual((await counts()).sort(), [0, 0, 5], `session ${session} stayed on one replica`);
    }
  } finally {
    await gw.stop();
  }
});

test('prefix-aware routing gets a clearly higher prefix-cache hit ratio than round robin', async () => {
  const ratio = async (policy) => {
    const rs = [await replica(), await replica(), await replica()];
    const gw = await startGateway(`pools:${fastPool('main', rs.map(host), `\n    balancer: ${policy}`)}\n`);
    try {
      // 5 conversations of 6 turns (5 and 3 replicas coprime, so round robin moves each one
      // around): a 96-token shared prefix, then a few tokens of their own.
      for (let turn = 0; turn < 6; turn++)
        for (let group = 0; group < 5; group++) {
          const prompt = [...promptOf(96, 1000 + group), ...promptOf(4, turn * 7 + group)];
          const r = await postJson(`${gw.url}/v1/completions`, request(prompt, 1));
          assert.equal(r.status, 200, r.text);
        }
      let hits = 0, queries = 0;
      for (const r of rs) {
        hits += await metric(r.url, 'tide_prefix_cache_hits_total');
        queries += await metric(r.url, 'tide_prefix_cache_queries_total');
      }
      return hits / queries;
    } finally {
      await gw.stop();
    }
  };
  const roundRobin = await ratio('round_robin');
  const prefixAware = await ratio('prefix_aware');
  assert.ok(prefixAware > roundRobin + 0.15, `prefix_aware ${prefixAware.toFixed(3)} vs round_robin ${roundRobin.toFixed(3)}`);
});

test('kill -9 of one of three replicas under load: no request hangs, the replica is ejected and returns', async () => {
  const rs = [await replica(), await replica(), await replica()];
  const victimPort = new URL(rs[1].url).port;
  const gw = await startGateway(`pools:${fastPool('main', rs.map(host), '\n    balancer: round_robin')}\n`, { args: ['--log-level', 'debug'] });
  try {
    const outcomes = { ok: 0, brokenStream: 0, failed: [] };
    let killed = false;
    const load = pool(240, 8, async (i) => {
      if (i === 60) {
        rs[1].proc.kill('SIGKILL');
        killed = true;
      }
      if (i % 2) {
        const r = await stream(`${gw.url}/v1/completions`, request(promptOf(8, i), 24));
        if (r.status === 200 && r.done) outcomes.ok++;
        else if (r.status === 200 && r.error) outcomes.brokenStream++;
        else outcomes.failed.push(`stream ${i}: ${r.status} ${r.events.at(-1)}`);
      } else {
        const r = await postJson(`${gw.url}/v1/completions`, request(promptOf(8, i), 8), {}, 15000).catch((e) => ({ status: e.name, text: e.message }));
        if (r.status === 200) outcomes.ok++;
        else outcomes.failed.push(`json ${i}: ${r.status} ${r.text}`);
      }
    });
    await load;
    assert.ok(killed);
    // Requests not yet started went elsewhere; a stream cut by the kill ended with an error event.
    if (outcomes.failed.length) assert.fail(`${outcomes.failed.join('\n')}\n${await whereHeld(gw, rs)}`);
    assert.ok(outcomes.ok >= 240 - 8, JSON.stringify(outcomes));
    const healthy = () => metric(gw.url, 'tide_gateway_pool_endpoints', 'state="healthy"');
    assert.ok(await waitFor(async () => (await healthy()) === 2, { timeoutMs: 5000 }), 'ejected within seconds');
    // Restarted on the same port, it is healthy again and gets traffic.
    const back = await startServer({ args: ['--served-model-name', 'tiny'], port: victimPort });
    replicas.push(back);
    assert.ok(await waitFor(async () => (await healthy()) === 3, { timeoutMs: 10000 }), 'returned after restart');
    await pool(12, 1, (i) => postJson(`${gw.url}/v1/completions`, request(promptOf(8, i), 2)));
    assert.ok((await finishedAt(back.url)) >= 3, 'the restarted replica serves again');
  } finally {
    await gw.stop();
  }
});

test('a replica answering 500s is ejected; clients never see its errors', async () => {
  const good = await replica();
  const broken = await startStub((req, body, res) => {
    res.statusCode = 500;
    res.end('{"error":{"message":"broken"}}');
  });
  const gw = await startGateway(`pools:${fastPool('main', [host(good), broken.address], '\n    balancer: round_robin', '30s')}\n`);
  try {
    const results = await pool(20, 1, (i) => postJson(`${gw.url}/v1/completions`, request(promptOf(8, i), 2)));
    assert.deepEqual(results.map((r) => r.status), Array(20).fill(200));
    assert.equal(await metric(gw.url, 'tide_gateway_pool_endpoints', 'state="healthy"'), 1);
    assert.ok(broken.hits <= 3, `the broken replica got ${broken.hits} requests`);
  } finally {
    await gw.stop();
    await broken.stop();
  }
});

test('failover to the backup pool when the primary is down, and back when it returns', async () => {
  const primary = await replica();
  const backup = await replica();
  const primaryPort = new URL(primary.url).port;
  const gw = await startGateway(`pools:${fastPool('primary', [host(primary)], '\n    backup: standby')}${fastPool('standby', [host(backup)])}\n`);
  try {
    // Requests the backup served: a replica counts a request finished just after answering it,
    // so the count is read once both replicas together account for all n.
    const served = async (n) => {
      const alive = (r) => r.proc.exitCode === null && r.proc.signalCode === null;
      const replicasNow = () => Promise.all(replicas.map((r) => (alive(r) ? finishedAt(r.url) : 0)));
      const before = await replicasNow();
      const backupBefore = await finishedAt(backup.url);
      const results = await pool(n, 2, (i) => postJson(`${gw.url}/v1/completions`, request(promptOf(8, i), 2)));
      assert.deepEqual(results.map((r) => r.status), Array(n).fill(200));
      await waitFor(async () => (await replicasNow()).reduce((a, b, i) => a + b - (before[i] ?? 0), 0) >= n);
      return (await finishedAt(backup.url)) - backupBefore;
    };
    assert.equal(await served(6), 0, 'the backup idles while the primary is healthy');
    primary.proc.kill('SIGKILL');
    await primary.exited;
    assert.equal(await served(6), 6, 'every request goes to the backup');
    const again = await startServer({ args: ['--served-model-name', 'tiny'], port: primaryPort });
    replicas.push(again);
    assert.ok(await waitFor(async () => (await metric(gw.url, 'tide_gateway_pool_endpoints', 'pool="primary",state="healthy"')) === 1));
    assert.equal(await served(6), 0, 'traffic is back on the primary');
  } finally {
    await gw.stop();
  }
});

test('a 10% canary lands within ±2 points over 2,000 requests', async () => {
  const stable = await replica();
  const canary = await replica();
  const gw = await startGateway(`pools:${fastPool('stable', [host(stable)])}${fastPool('canary', [host(canary)])}
routes:
  - name: canary-release
    split: [{ pool: stable, weight: 90 }, { pool: canary, weight: 10 }]
`, { args: ['--no-access-log'] });
  try {
    const before = await finishedAt(canary.url);
    const results = await pool(2000, 16, (i) => postJson(`${gw.url}/v1/completions`, request([5, 6, 7], 1)));
    assert.equal(results.filter((r) => r.status === 200).length, 2000);
    const share = ((await finishedAt(canary.url)) - before) / 2000;
    assert.ok(share >= 0.08 && share <= 0.12, `canary share ${share}`);
  } finally {
    await gw.stop();
  }
});

test('mirroring copies requests to the shadow pool without slowing the client', async () => {
  const main = await replica();
  const slowShadow = await startStub((req, body, res) => setTimeout(() => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ choices: [{ text: 'different' }] }));
  }, 400));
  const gw = await startGateway(`pools:${fastPool('main', [host(main)])}${fastPool('shadow', [slowShadow.address])}
routes:
  - name: with-mirror
    pool: main
    mirror: { pool: shadow, percent: 100 }
`);
  try {
    const latencies = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      const r = await postJson(`${gw.url}/v1/completions`, request(promptOf(8, i), 2));
      latencies.push(performance.now() - started);
      assert.equal(r.status, 200);
      assert.notEqual(r.json.choices[0].text, 'different', 'the client gets the primary answer');
    }
    latencies.sort((a, b) => a - b);
    assert.ok(latencies[5] < 200, `client p50 ${latencies[5]} ms is not held up by a 400 ms shadow`);
    assert.ok(await waitFor(async () => (await metric(gw.url, 'tide_gateway_mirror_requests_total', 'code="200"')) === 10));
    assert.equal(slowShadow.hits, 10);
    assert.equal(await metric(gw.url, 'tide_gateway_mirror_output_diffs_total', 'pool="shadow"'), 10);
  } finally {
    await gw.stop();
    await slowShadow.stop();
  }
});

test('configuration reload under load drops nothing', async () => {
  const a = await replica();
  const b = await replica();
  const config = (members, policy) => `pools:${fastPool('main', members, `\n    balancer: ${policy}`)}\n`;
  const gw = await startGateway(config([host(a)], 'round_robin'));
  try {
    let reloads = 0;
    const reloader = setInterval(() => {
      reloads++;
      gw.reconfigure(config(reloads % 2 ? [host(a), host(b)] : [host(a)], reloads % 2 ? 'least_outstanding' : 'round_robin'));
    }, 150);
    const results = await pool(300, 8, (i) =>
      i % 3 ? postJson(`${gw.url}/v1/completions`, request(promptOf(8, i), 4)) : stream(`${gw.url}/v1/completions`, request(promptOf(8, i), 8)));
    clearInterval(reloader);
    const bad = results.map((r, i) => [i, r]).filter(([, r]) => r.status !== 200 || (r.events && !r.done));
    assert.deepEqual(bad.map(([i, r]) => `${i}: ${r.status}`), []);
    assert.ok((await metric(gw.url, 'tide_gateway_config_reloads_total')) >= 3);
    assert.ok((await finishedAt(b.url)) > 0, 'the replica added by a reload got traffic');
  } finally {
    await gw.stop();
  }
});

test('a config that does not validate is refused on reload and the gateway keeps serving', async () => {
  const a = await replica();
  const gw = await startGateway(`pools:${fastPool('main', [host(a)])}\n`);
  try {
    gw.reconfigure('pools:\n  - name: main\n    replica: [nowhere]\n');
    assert.ok(await waitFor(async () => (await metric(gw.url, 'tide_gateway_config_reload_errors_total')) >= 1));
    assert.match(gw.log(), /reload refused/);
    assert.equal((await postJson(`${gw.url}/v1/completions`, request([1, 2, 3], 2))).status, 200);
  } finally {
    await gw.stop();
  }
});

test('SIGTERM drains the gateway: in-flight streams finish, the process exits 0', async () => {
  const a = await replica();
  const gw = await startGateway(`pools:${fastPool('main', [host(a)])}\n`);
  let settled = false;
  const inflight = stream(`${gw.url}/v1/completions`, request(promptOf(8, 1), 100)).finally(() => { settled = true; });
  // SIGTERM once the stream is running on the replica (on a loaded machine that takes a while).
  assert.ok(await waitFor(async () => settled || (await metric(a.url, 'tide_num_requests_running')) >= 1,
                          { intervalMs: 10 }), 'the stream reached the replica');
  gw.proc.kill('SIGTERM');
  const r = await inflight;
  assert.equal(r.status, 200);
  assert.ok(r.done);
  assert.equal((await gw.exited).code, 0);
});

test('limits shared through Redis hold across two gateway processes', async () => {
  const a = await replica();
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const redisExited = new Promise((resolve) => redis.on('exit', resolve));
  try {
    assert.ok(await waitFor(() => new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    })), 'redis-server started');
    const config = `pools:${fastPool('main', [host(a)])}
limits:
  - key: user
    requests_per_second: 0.01
    burst: 5
redis:
  address: 127.0.0.1:${port}
  fail_open: false
`;
    const gateways = [await startGateway(config), await startGateway(config)];
    try {
      const statuses = [];
      for (let i = 0; i < 20; i++) {
        const gw = gateways[i % 2];
        const r = await postJson(`${gw.url}/v1/completions`, request([1, 2, 3], 1), { 'x-user-id': 'team-a' });
        statuses.push(r.status);
        if (r.status === 429) assert.ok(Number(r.headers.get('retry-after')) >= 1);
      }
      assert.equal(statuses.filter((s) => s === 200).length, 5, `${statuses}`);
      assert.equal(statuses.filter((s) => s === 429).length, 15);
      // Another user has a bucket of their own.
      assert.equal((await postJson(`${gateways[1].url}/v1/completions`, request([1, 2, 3], 1), { 'x-user-id': 'team-b' })).status, 200);
    } finally {
      for (const gw of gateways) await gw.stop();
    }
  } finally {
    redis.kill('SIGKILL');
    await redisExited;
  }
});

test('from zero: requests are held while no replica is up, served when one starts, 503 after the timeout', async () => {
  const port = await freePort();
  const gw = await startGateway(`pools:${fastPool('main', [`127.0.0.1:${port}`])}
admission:
  queues:
    - { priority: default, max_size: 4, timeout: 20s }
`);
  try {
    const held = Array.from({ length: 3 }, (_, i) => postJson(`${gw.url}/v1/completions`, request(promptOf(8, i), 2)));
    assert.ok(await waitFor(async () => (await metric(gw.url, 'tide_gateway_queue_size', 'pool="main"')) === 3));
    // Beyond the queue's size: refused at once, so a client can go elsewhere.
    const fourth = postJson(`${gw.url}/v1/completions`, request([1, 2], 1));
    assert.ok(await waitFor(async () => (await metric(gw.url, 'tide_gateway_queue_size', 'pool="main"')) === 4));
    const refused = await postJson(`${gw.url}/v1/completions`, request([1, 2], 1));
    assert.equal(refused.status, 429, refused.text);
    held.push(fourth);
    const r = await startServer({ args: ['--served-model-name', 'tiny'], port });
    replicas.push(r);
    const results = await Promise.all(held);
    assert.deepEqual(results.map((x) => x.status), [200, 200, 200, 200]);
  } finally {
    await gw.stop();
  }
  const gw2 = await startGateway(`pools:${fastPool('main', ['127.0.0.1:1'])}
admission:
  queues:
    - { priority: default, max_size: 4, timeout: 500ms }
`);
  try {
    const started = Date.now();
    const r = await postJson(`${gw2.url}/v1/completions`, request([1, 2], 1));
    assert.equal(r.status, 503);
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    assert.ok(Date.now() - started >= 400, 'held for the queue timeout first');
  } finally {
    await gw2.stop();
  }
});

test('API keys: no key or a wrong key is 401; each key has its own limits; keys never reach the log', async () => {
  const a = await replica();
  const keys = 'sk-team-a-0123456789abcdef user=team-a rps=0.01 burst=2;sk-team-b-0123456789abcdef user=team-b';
  const gw = await startGateway(`pools:${fastPool('main', [host(a)])}
auth:
  keys_env: TIDE_TEST_KEYS
limits:
  - key: api_key
    requests_per_second: 100
`, { env: { TIDE_TEST_KEYS: keys } });
  try {
    const url = `${gw.url}/v1/completions`;
    const body = request([1, 2, 3], 1);
    assert.equal((await postJson(url, body)).status, 401);
    const wrong = await postJson(url, body, { authorization: 'Bearer sk-not-a-key-0000000000000' });
    assert.equal(wrong.status, 401);
    assert.equal(typeof wrong.json.error.message, 'string');
    const teamA = { authorization: 'Bearer sk-team-a-0123456789abcdef' };
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await postJson(url, body, teamA)).status);
    assert.deepEqual(statuses, [200, 200, 429, 429], 'team-a has its own burst of 2');
    assert.equal((await postJson(url, body, { authorization: 'Bearer sk-team-b-0123456789abcdef' })).status, 200);
    assert.ok(!gw.log().includes('0123456789abcdef'), 'no key in the log');
  } finally {
    await gw.stop();
  }
});

test('file discovery: replicas added to and removed from the watched file join and leave without failed requests', async () => {
  const a = await replica();
  const b = await replica();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tide-disc-'));
  const list = path.join(dir, 'replicas.txt');
  fs.writeFileSync(list, `# the pool\n${host(a)}\n`);
  const gw = await startGateway(`pools:
  - name: main
    file: ${list}
    file_poll: 100ms
    balancer: round_robin
    health_check: { interval: 200ms, timeout: 500ms }
`);
  try {
    const run = (n) => pool(n, 2, (i) => postJson(`${gw.url}/v1/completions`, request(promptOf(8, i), 2)));
    assert.ok((await run(6)).every((r) => r.status === 200));
    assert.equal(await finishedAt(b.url), 0);
    fs.writeFileSync(list, `${host(a)}\n${host(b)}\nnot-an-address\n`);
    assert.ok(await waitFor(async () => (await metric(gw.url, 'tide_gateway_pool_endpoints', 'state="total"')) === 2));
    assert.ok((await run(10)).every((r) => r.status === 200));
    assert.ok((await finishedAt(b.url)) > 0, 'the added replica gets traffic');
    fs.writeFileSync(list, `${host(b)}\n`);
    assert.ok(await waitFor(async () => (await metric(gw.url, 'tide_gateway_pool_endpoints', 'state="total"')) === 1));
    const before = await finishedAt(a.url);
    assert.ok((await run(6)).every((r) => r.status === 200));
    assert.equal(await finishedAt(a.url), before, 'the removed replica gets no new requests');
  } finally {
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('degradation: with every replica down, a repeated deterministic request is answered from the response cache', async () => {
  const a = await replica();
  const gw = await startGateway(`pools:${fastPool('main', [host(a)])}
response_cache:
  enabled: true
admission:
  queues:
    - { priority: default, max_size: 16, timeout: 1s }
`);
  try {
    const url = `${gw.url}/v1/completions`;
    const deterministic = request(promptOf(8, 3), 4);
    const first = await postJson(url, deterministic);
    assert.equal(first.status, 200);
    a.proc.kill('SIGKILL');
    await a.exited;
    for (const wait of [0, 1000]) {  // before and after the health checks notice
      await new Promise((r) => setTimeout(r, wait));
      const again = await postJson(url, deterministic);
      assert.equal(again.status, 200, again.text);
      assert.equal(again.headers.get('x-tide-cache'), 'hit');
      assert.deepEqual(again.json.choices, first.json.choices);
    }
    // A request never seen before has no cached answer: it waits, then 503.
    assert.equal((await postJson(url, request(promptOf(8, 4), 4))).status, 503);
  } finally {
    await gw.stop();
  }
});
