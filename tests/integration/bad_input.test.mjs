// Hostile and broken clients: each gets a clear error or is closed, and the server keeps
// serving the next request. All traffic stays on 127.0.0.1 and is bounded in count and time.
// With TIDE_VIA_GATEWAY=1 the same suite runs against `tide gateway` in front of the server,
// and also checks that nothing malformed reached the replica.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, postJson, metric } from './lib/server.mjs';
import { startGateway } from './lib/gateway.mjs';

const viaGateway = process.env.TIDE_VIA_GATEWAY === '1';
let server, replica, gateway, chat;
before(async () => {
  // A short request read timeout, so that the slow-loris case ends in seconds, not the default 30.
  replica = await startServer({ args: ['--served-model-name', 'tiny', '--request-read-timeout', '3'] });
  server = replica;
  if (viaGateway) {
    gateway = await startGateway(
      `listen:\n  read_timeout: 3s\npools:\n  - name: main\n    replicas: [${new URL(replica.url).host}]\n`);
    server = gateway;
  }
  chat = `${server.url}/v1/chat/completions`;
});
after(async () => {
  await gateway?.stop();
  await replica?.stop();
});

// Through the gateway, a request that is not even JSON must be refused at the door.
async function replicaSawNothingMalformed(run) {
  const before = await metric(replica.url, 'tide_requests_rejected_total', 'invalid');
  await run();
  if (viaGateway) assert.equal(await metric(replica.url, 'tide_requests_rejected_total', 'invalid'), before);
}

const good = { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };

async function stillServes() {
  const r = await postJson(chat, good);
  assert.equal(r.status, 200, r.text);
}

function expectError(r, status, pattern) {
  assert.equal(r.status, status, r.text);
  assert.equal(typeof r.json?.error?.message, 'string', r.text);
  if (pattern) assert.match(r.json.error.message, pattern);
}

test('malformed JSON', async () => {
  await replicaSawNothingMalformed(async () => {
    for (const body of ['{', '{"model": "tiny",', 'null', '[]', '"text"', '{"model": tiny}']) {
      expectError(await postJson(chat, body), 400);
    }
  });
  await stillServes();
});

test('a body beyond the size limit is 413', async () => {
  const huge = JSON.stringify({ ...good, messages: [{ role: 'user', content: 'x'.repeat(64 << 20) }] });
  const r = await postJson(chat, huge).catch((e) => ({ status: 'closed', e }));
  assert.ok(r.status === 413 || r.status === 'closed', `got ${r.status}`);
  await stillServes();
});

test('deeply nested JSON', async () => {
  await replicaSawNothingMalformed(async () => {
    expectError(await postJson(chat, '['.repeat(100000) + ']'.repeat(100000)), 400);
    expectError(await postJson(chat, '{"a":'.repeat(50000) + '1' + '}'.repeat(50000)), 400);
  });
  await stillServes();
});

test('wrong types name the field', async () => {
  expectError(await postJson(chat, { ...good, max_tokens: 'ten' }), 400, /max_tokens/);
  expectError(await postJson(chat, { ...good, temperature: [] }), 400, /temperature/);
  expectError(await postJson(chat, { ...good, messages: 'hi' }), 400, /messages/);
  expectError(await postJson(chat, { ...good, stream: 'yes' }), 400, /stream/);
  await stillServes();
});

test('negative or absurd max_tokens, n=1000, empty messages', async () => {
  expectError(await postJson(chat, { ...good, max_tokens: -1 }), 400, /max_tokens/);
  expectError(await postJson(chat, { ...good, max_tokens: 1e12 }), 400, /max_tokens/);
  expectError(await postJson(chat, { ...good, n: 1000 }), 400, /\bn\b/);
  expectError(await postJson(chat, { ...good, messages: [] }), 400, /messages/);
  await stillServes();
});

test('invalid UTF-8 in a string', async () => {
  const bytes = Buffer.concat([
    Buffer.from('{"model":"tiny","max_tokens":2,"messages":[{"role":"user","content":"'),
    Buffer.from([0xff, 0xfe, 0xc3]),
    Buffer.from('"}]}'),
  ]);
  await replicaSawNothingMalformed(async () => expectError(await postJson(chat, new Uint8Array(bytes)), 400));
  await stillServes();
});

// Raw sockets for what fetch will not send.
function rawExchange(payload, { waitMs = 5000 } = {}) {
  return new Promise((resolve) => {
    const url = new URL(server.url);
    const socket = net.connect(Number(url.port), url.hostname);
    let data = '';
    const done = () => {
      socket.destroy();
      resolve(data);
    };
    socket.on('data', (d) => (data += d.toString()));
    socket.on('close', done);
    socket.on('error', done);
    socket.write(payload);
    setTimeout(done, waitMs);
  });
}

test('a header flood is refused', async () => {
  let headers = '';
  for (let i = 0; i < 5000; i++) headers += `X-Flood-${i}: ${'v'.repeat(40)}\r\n`;
  const reply = await rawExchange(`GET /health HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
  assert.ok(reply === '' || /^HTTP\/1\.1 4\d\d/.test(reply), reply.slice(0, 80));
  await stillServes();
});

test('a slow-loris client is closed, and others are served meanwhile', async () => {
  const url = new URL(server.url);
  const socket = net.connect(Number(url.port), url.hostname);
  socket.on('error', () => {});
  socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
  const closed = new Promise((resolve) => socket.on('close', resolve));
  const drip = setInterval(() => socket.writable && socket.write('X'), 1000);
  await stillServes();
  let timer;
  const outcome = await Promise.race([
    closed.then(() => 'closed'),
    new Promise((r) => { timer = setTimeout(() => r('open'), 90000); }),
  ]);
  clearTimeout(timer);  // a pending timer would hold the suite open to its end
  clearInterval(drip);
  socket.destroy();
  assert.equal(outcome, 'closed');
});

test('thousands of idle connections do not stop service', async () => {
  const url = new URL(server.url);
  const sockets = [];
  for (let i = 0; i < 2000; i++) {
    const s = net.connect(Number(url.port), url.hostname);
    s.on('error', () => {});
    sockets.push(s);
  }
  await new Promise((r) => setTimeout(r, 500));
  await stillServes();
  for (const s of sockets) s.destroy();
});

test('unknown routes and methods', async () => {
  assert.equal((await fetch(`${server.url}/v2/nothing`)).status, 404);
  assert.equal((await fetch(`${server.url}/v1/chat/completions`)).status, 405);
  await stillServes();
});
