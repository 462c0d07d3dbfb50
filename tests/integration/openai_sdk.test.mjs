// The official OpenAI SDK as the client: what users' code actually does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer } from './lib/server.mjs';

let server, client;
before(async () => {
  server = await startServer({ args: ['--served-model-name', 'tiny'] });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => server?.stop());

test('chat completion', async () => {
  const r = await client.chat.completions.create({
    model: 'tiny',
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello!' }],
    max_tokens: 8,
    temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 8);
});

test('streaming chat completion matches the non-streamed one', async () => {
  const body = { model: 'tiny', messages: [{ role: 'user', content: 'Count to three.' }], max_tokens: 10, temperature: 0 };
  const whole = await client.chat.completions.create(body);
  const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
  let content = '', reasoning = '', usage = null, finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      content += c.delta?.content ?? '';
      reasoning += c.delta?.reasoning_content ?? '';
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(content, whole.choices[0].message.content ?? '');
  assert.equal(reasoning, whole.choices[0].message.reasoning_content ?? '');
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
});

test('completions with several prompts', async () => {
  const r = await client.completions.create({ model: 'tiny', prompt: ['Hello', 'World'], max_tokens: 4, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.deepEqual(r.choices.map((c) => c.index).sort(), [0, 1]);
});

test('an unknown model is a NotFoundError with OpenAI error fields', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && typeof e.message === 'string',
  );
});

test('an invalid parameter is a BadRequestError naming it', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_tokens: -5 }),
    (e) => e instanceof OpenAI.BadRequestError && /max_tokens/.test(e.message),
  );
});
