// `tide serve` end to end on loopback with a fixture model: continuous batching, streaming,
// stop strings, cancellation, prefix caching, overload, priorities and draining.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, postJson, postStream, metric, waitFor } from './lib/server.mjs';

const promptOf = (length, salt) => Array.from({ length }, (_, i) => ((salt * 131 + i * 17 + 5) % 500) + 2);
const greedy = (prompt, max_tokens, extra = {}) => ({
  model: 'deepseek-v3-tiny',
  prompt,
  max_tokens,
  temperature: 0,
  ignore_eos: true,
  ...extra,
});

let server;
before(async () => {
  server = await startServer({ args: ['--served-model-name', 'deepseek-v3-tiny', '--max-batched-tokens', '64'] });
});
after(async () => server?.stop());

const completions = () => `${server.url}/v1/completions`;

test('greedy output is the same alone and among 32 concurrent requests of mixed lengths', async () => {
  const prompts = Array.from({ length: 32 }, (_, i) => promptOf(1 + ((i * 37) % 150), i));
  const alone = [];
  for (const p of prompts) alone.push((await postJson(completions(), greedy(p, 8))).json.choices[0].text);
  const together = await Promise.all(prompts.map((p) => postJson(completions(), greedy(p, 8))));
  together.forEach((r, i) => {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].text, alone[i], `request ${i}`);
    assert.equal(r.json.usage.completion_tokens, 8);
  });
});

test('streaming and non-streaming give the same text', async () => {
  for (const salt of [1, 2, 3]) {
    const body = greedy(promptOf(20 + salt, salt), 12);
    const whole = (await postJson(completions(), body)).json.choices[0].text;
    const { status, events } = await postStream(completions(), { ...body, stream: true, stream_options: { include_usage: true } });
    assert.equal(status, 200);
    assert.equal(events.at(-1), '[DONE]');
    const streamed = events.filter((e) => e !== '[DONE]' && e.choices?.length).map((e) => e.choices[0].text).join('');
    assert.equal(streamed, whole);
    const usage = events.find((e) => e !== '[DONE]' && e.usage)?.usage;
    assert.equal(usage.completion_tokens, 12);
  }
});

test('a stop string cuts the output exactly before it', async () => {
  const body = greedy(promptOf(30, 7), 24);
  const full = (await postJson(completions(), body)).json.choices[0].text;
  assert.ok(full.length > 6, 'need some text to cut');
  const stop = full.slice(4, 7);
  const expected = full.slice(0, full.indexOf(stop));
  const cut = (await postJson(completions(), { ...body, stop: [stop] })).json.choices[0];
  assert.equal(cut.text, expected);
  assert.equal(cut.finish_reason, 'stop');
  const { events } = await postStream(completions(), { ...body, stop: stop, stream: true });
  const streamed = events.filter((e) => e !== '[DONE]' && e.choices?.length).map((e) => e.choices[0].text).join('');
  assert.equal(streamed, expected);
});

test('a client that disconnects mid-stream gets its KV blocks freed', async () => {
  const total = await metric(server.url, 'tide_kv_cache_blocks_total');
  const cancelledBefore = await metric(server.url, 'tide_requests_finished_total', 'finish_reason="cancelled"');
  await new Promise((resolve, reject) => {
    const url = new URL(completions());
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST',
      headers: { 'content-type': 'application/json' } }, (res) => {
      res.once('data', () => {
        req.destroy(); // hang up after the first chunk
        clearTimeout(timer);  // a pending timer would hold the suite open to its end
        resolve();
      });
    });
    req.on('error', () => {});
    req.end(JSON.stringify(greedy(promptOf(60, 11), 190, { stream: true })));
    const timer = setTimeout(() => reject(new Error('no first chunk')), 30000);
  });
  assert.ok(await waitFor(async () =>
    (await metric(server.url, 'tide_requests_finished_total', 'finish_reason="cancelled"')) > cancelledBefore));
  assert.ok(await waitFor(async () => (await metric(server.url, 'tide_kv_cache_blocks_free')) === total));
  assert.equal(await metric(server.url, 'tide_num_requests_running'), 0);
});

test('a repeated prefix hits the prefix cache with identical output', async () => {
  const body = greedy(promptOf(80, 21), 6);
  const hitsBefore = await metric(server.url, 'tide_prefix_cache_hits_total');
  const first = await postJson(completions(), body);
  const second = await postJson(completions(), body);
  assert.equal(second.json.choices[0].text, first.json.choices[0].text);
  assert.ok((await metric(server.url, 'tide_prefix_cache_hits_total')) >= hitsBefore + 64);
  assert.ok(second.json.usage.prompt_tokens_details.cached_tokens >= 64);
});

test('/health, /ready and /v1/models answer', async () => {
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
  assert.equal((await fetch(`${server.url}/ready`)).status, 200);
  const models = await (await fetch(`${server.url}/v1/models`)).json();
  assert.equal(models.data[0].id, 'deepseek-v3-tiny');
});

test('overload beyond the limits gets 429 with Retry-After, and the server keeps serving', async () => {
  const small = await startServer({ args: ['--max-waiting-requests', '2', '--max-num-seqs', '1'] });
  try {
    const url = `${small.url}/v1/completions`;
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => postJson(url, greedy(promptOf(40, i), 30))));
    const rejected = results.filter((r) => r.status === 429);
    assert.ok(rejected.length > 0, 'some requests are refused');
    assert.ok(results.some((r) => r.status === 200), 'some are served');
    for (const r of rejected) {
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      assert.equal(typeof r.json.error.message, 'string');
    }
    assert.equal((await postJson(url, greedy(promptOf(5, 1), 3))).status, 200);
  } finally {
    await small.stop();
  }
});

test('a high-priority request overtakes a queue of low-priority ones', async () => {
  const one = await startServer({ args: ['--max-num-seqs', '1'] });
  try {
    const url = `${one.url}/v1/completions`;
    const order = [];
    const low = Array.from({ length: 8 }, (_, i) =>
      postJson(url, greedy(promptOf(30, i), 200, { priority: 0 })).then((r) => {
        assert.equal(r.status, 200);
        order.push(`low${i}`);
      }));
    await new Promise((r) => setTimeout(r, 50)); // the low-priority queue forms first
    const finishedBefore = order.length;
    const high = postJson(url, greedy(promptOf(30, 99), 5, { priority: 10 })).then((r) => {
      assert.equal(r.status, 200);
      order.push('high');
    });
    await Promise.all([...low, high]);
    assert.ok(finishedBefore <= 6, `the queue had drained before the high-priority request came (${finishedBefore} done)`);
    // The one batch seat goes to the high-priority request ahead of every queued low one.
    assert.ok(order.indexOf('high') <= finishedBefore + 1, `high finished at position ${order.indexOf('high')}: ${order}`);
  } finally {
    await one.stop();
  }
});

test('SIGTERM drains: in-flight requests finish, /ready turns 503, the process exits 0', async () => {
  const s = await startServer({ args: ['--drain-timeout', '30'] });
  const inflight = postJson(`${s.url}/v1/completions`, greedy(promptOf(20, 5), 60));
  await new Promise((r) => setTimeout(r, 200));
  s.proc.kill('SIGTERM');
  // The signal is handled asynchronously: /ready may answer 200 for a moment, then must turn.
  let ready;
  for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
    ready = await fetch(`${s.url}/ready`).then((r) => r.status).catch(() => 'closed');
    if (ready !== 200) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(ready === 503 || ready === 'closed', `ready answered ${ready} 5 s after SIGTERM`);
  const r = await inflight;
  assert.equal(r.status, 200);
  assert.equal(r.json.usage.completion_tokens, 60);
  const { code } = await s.exited;
  assert.equal(code, 0);
});
