// `tide serve` refuses bad flags and unusable inputs before it loads anything: a non-zero exit and
// a message that names the flag and says what to do, never a crash or a half-started server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const tide = process.env.TIDE_BIN;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = path.join(root, 'tests/fixtures/models/deepseek-v3-tiny');
const v2LiteConfig = path.join(root, 'share/models/deepseek-v2-lite');

function serve(...args) {
  const r = spawnSync(tide, ['serve', '--port', '0', ...args], { encoding: 'utf8', timeout: 30000 });
  assert.equal(r.error, undefined, `tide serve ${args.join(' ')} did not exit: ${r.error}`);
  return { status: r.status, signal: r.signal, stderr: r.stderr };
}

function refuses(args, pattern) {
  const r = serve(...args);
  assert.equal(r.signal, null, `tide serve ${args.join(' ')} crashed (${r.signal})`);
  assert.notEqual(r.status, 0, `tide serve ${args.join(' ')} exited 0`);
  assert.match(r.stderr, pattern, `tide serve ${args.join(' ')}: ${r.stderr}`);
}

test('dummy weights need a GPU, and say so', () => {
  refuses(['--model', v2LiteConfig, '--load-format', 'dummy', '--device', 'cpu', '--tokenizer', fixture],
          /--load-format dummy generates the weights on the GPU/);
});

test('a model directory or tokenizer directory without tokenizer.json names the flag to give', () => {
  refuses(['--model', v2LiteConfig, '--device', 'cpu'], /has no tokenizer\.json: give --tokenizer DIR/);
  refuses(['--model', fixture, '--tokenizer', path.join(root, 'share/models')], /has no tokenizer\.json/);
});

test('unknown choices, sizes and paths are named', () => {
  refuses(['--model', fixture, '--load-format', 'pickle'], /--load-format/);
  refuses(['--model', fixture, '--device', 'tpu'], /--device/);
  refuses(['--model', fixture, '--fp8-weights', 'int4'], /--fp8-weights/);
  refuses(['--model', fixture, '--fp8-experts', 'int4'], /--fp8-weights/);  // its former name, still taken
  refuses(['--model', fixture, '--kv-cache-memory', '12XB'], /--kv-cache-memory 12XB: unknown unit/);
  refuses(['--model', fixture, '--request-read-timeout', '0'], /--request-read-timeout/);
  refuses(['--model', fixture, '--keep-alive-timeout', 'soon'], /--keep-alive-timeout/);
  refuses(['--model', path.join(root, 'no-such-model')], /not a directory/);
  // A name the file system cannot even look up (longer than NAME_MAX) is the same clear refusal.
  refuses(['--model', path.join(root, 'm'.repeat(300))], /not a directory/);
});
