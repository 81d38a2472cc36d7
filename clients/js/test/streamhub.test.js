import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { StreamHub, backoffDelay, parseCursor, isAfter, topicMatches } from '../streamhub.js';
import { FakeServer } from './fakeserver.js';

// eventually waits for cond, bounded (no timing assertions: a bound only).
async function eventually(cond, what, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function hubOn(server, opts = {}) {
  return new StreamHub('http://fake:8080/', {
    WebSocket: server.WebSocket, fetch: server.fetch,
    backoff: { initial: 1, max: 5 }, connectTimeout: 1000, ...opts,
  });
}

test('backoff grows, is capped and jitters downward only', () => {
  const o = { initial: 100, max: 1000, factor: 2, jitter: 0.5 };
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, o, () => 0)), [100, 200, 400, 800, 1000, 1000]);
  assert.equal(backoffDelay(2, o, () => 1), 200);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(3, o);
    assert.ok(d >= 400 && d <= 800, `${d} out of [400, 800]`);
  }
});

test('cursors compare within an epoch; another epoch is always after', () => {
  assert.deepEqual(parseCursor('k2j4x9-42'), { epoch: 'k2j4x9', seq: 42n });
  assert.deepEqual(parseCursor('a-b-7'), { epoch: 'a-b', seq: 7n });
  assert.equal(parseCursor('nope'), null);
  assert.ok(isAfter('e-10', 'e-9'));
  assert.ok(!isAfter('e-9', 'e-9'));
  assert.ok(!isAfter('e-8', 'e-9'));
  assert.ok(isAfter('f-1', 'e-9'));
  assert.ok(isAfter('e-18446744073709551615', 'e-18446744073709551614'));
});

test('topic filters match as MQTT says', () => {
  assert.ok(topicMatches('iot/#', 'iot'));
  assert.ok(topicMatches('iot/#', 'iot/a/b'));
  assert.ok(topicMatches('iot/+/t', 'iot/a/t'));
  assert.ok(!topicMatches('iot/+', 'iot/a/b'));
  assert.ok(!topicMatches('#', '$SYS/x'));
  assert.ok(topicMatches('$SYS/#', '$SYS/x'));
});

test('falls back websocket, then sse, then poll, in that order', async () => {
  const server = new FakeServer();
  server.refuse.websocket = true;
  const hub = hubOn(server, { upgradeAfter: 0 });
  const states = [];
  hub.on('state', (d) => states.push(`${d.state}:${d.transport}`));
  const got = [];
  const sub = hub.subscribe('iot/#', (m) => got.push(m.payload));
  await eventually(() => sub.state === 'connected', 'connected');
  assert.equal(sub.transport, 'sse');
  assert.deepEqual(states.slice(0, 3), ['connecting:websocket', 'connecting:sse', 'connected:sse']);
  server.publish('iot/a', 'one');
  await eventually(() => got.length === 1, 'one message over sse');

  server.refuse.sse = true;
  server.dropAll();
  await eventually(() => sub.transport === 'poll' && sub.state === 'connected', 'poll');
  server.publish('iot/a', 'two');
  await eventually(() => got.length === 2, 'a message over poll');
  assert.deepEqual(got, ['one', 'two']);
  hub.close();
});

test('an SSE stream a proxy holds back counts as failed: long polling takes over', async () => {
  const server = new FakeServer();
  server.refuse.websocket = true;
  server.bufferSSE = true;
  const hub = hubOn(server, { connectTimeout: 20, upgradeAfter: 0 });
  const errors = [];
  hub.on('error', (d) => errors.push(`${d.transport}: ${d.error.message}`));
  const got = [];
  const sub = hub.subscribe('a', (m) => got.push(m.payload));
  await eventually(() => sub.state === 'connected', 'connected');
  assert.equal(sub.transport, 'poll');
  assert.match(errors.join('\n'), /sse: not subscribed within 20 ms/);
  server.publish('a', '1');
  await eventually(() => got.length === 1, 'a message over poll');
  hub.close();
});

test('the transports option overrides the order', async () => {
  const server = new FakeServer();
  const hub = hubOn(server, { transports: ['poll'] });
  const sub = hub.subscribe('a', () => {});
  await eventually(() => sub.state === 'connected', 'connected');
  assert.equal(sub.transport, 'poll');
  assert.equal(server.connects.websocket, 0);
  hub.close();
});

test('resumes from its cursor across drops and transport switches: nothing missed, nothing doubled', async () => {
  const server = new FakeServer();
  const hub = hubOn(server, { upgradeAfter: 0 });
  const got = [];
  const sub = hub.subscribe('iot/#', (m) => got.push(m.payload));
  await eventually(() => sub.state === 'connected', 'connected');
  let n = 0;
  const send = (k) => { for (let i = 0; i < k; i++) server.publish('iot/x', String(++n)); };
  const transports = [];
  for (const refuse of [[], ['websocket'], ['websocket', 'sse'], [], ['sse'], ['websocket']]) {
    send(5);
    await eventually(() => got.length === n, `${n} messages`);
    for (const t of ['websocket', 'sse', 'poll']) server.refuse[t] = refuse.includes(t);
    server.dropAll();
    send(3); // published while it is away
    await eventually(() => sub.state === 'connected' && got.length === n, `resume to ${n}`);
    transports.push(sub.transport);
  }
  assert.deepEqual(transports, ['websocket', 'sse', 'poll', 'websocket', 'websocket', 'sse']);
  assert.deepEqual(got, Array.from({ length: n }, (_, i) => String(i + 1)));
  hub.close();
});

test('a message replayed twice is delivered once', async () => {
  const server = new FakeServer();
  server.duplicateReplay = true; // the server resends the resume cursor's own message
  const hub = hubOn(server);
  const got = [];
  const sub = hub.subscribe('a', (m) => got.push(m.payload));
  await eventually(() => sub.state === 'connected', 'connected');
  server.publish('a', '1');
  await eventually(() => got.length === 1, 'first');
  server.dropAll();
  server.publish('a', '2');
  await eventually(() => got.length === 2, 'second');
  assert.deepEqual(got, ['1', '2']);
  assert.equal(sub.duplicates, 1);
  hub.close();
});

test('a gap the server reports is a gap event, on every transport', async () => {
  for (const t of ['websocket', 'sse', 'poll']) {
    const server = new FakeServer();
    server.gapOnResume = true;
    const hub = hubOn(server, { transports: [t] });
    const gaps = [];
    hub.on('gap', (d) => gaps.push(d));
    const sub = hub.subscribe('a', { cursor: 'e0-5' }, () => {});
    await eventually(() => gaps.length >= 1, `gap on ${t}`);
    assert.equal(gaps[0].subscription, sub);
    assert.equal(gaps[0].head, 'e1-0');
    hub.close();
  }
});

test('tries the first transport again later and moves up without a doubled message', async () => {
  const server = new FakeServer();
  server.refuse.websocket = true;
  const hub = hubOn(server, { upgradeAfter: 20 });
  const got = [];
  const sub = hub.subscribe('a', (m) => got.push(m.payload));
  await eventually(() => sub.state === 'connected' && sub.transport === 'sse', 'on sse');
  server.publish('a', '1');
  await eventually(() => got.length === 1, 'first');
  server.refuse.websocket = false;
  await eventually(() => sub.transport === 'websocket' && sub.state === 'connected', 'upgraded');
  server.publish('a', '2');
  await eventually(() => got.length === 2, 'second');
  assert.deepEqual(got, ['1', '2']);
  hub.close();
});

test('publish goes over the WebSocket when one is open, else HTTP POST', async () => {
  const server = new FakeServer();
  const hub = hubOn(server);
  const sub = hub.subscribe('a', () => {});
  await eventually(() => sub.state === 'connected', 'connected');
  const r = await hub.publish('a', 'x');
  assert.equal(r.cursor, 'e1-1');
  const ws = [...server.live].length;
  assert.ok(ws >= 1);
  hub.close();
  const hub2 = hubOn(server);
  const r2 = await hub2.publish('a', { n: 1 }, { retain: true });
  assert.equal(r2.cursor, 'e1-2');
  assert.equal(server.messages[1].payload, '{"n":1}');
});

test('unsubscribe stops reconnecting', async () => {
  const server = new FakeServer();
  const hub = hubOn(server);
  const sub = hub.subscribe('a', () => {});
  await eventually(() => sub.state === 'connected', 'connected');
  sub.unsubscribe();
  await eventually(() => server.live.size === 0, 'connection ended');
  const before = server.connects.websocket;
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(server.connects.websocket, before);
  assert.equal(hub.subscriptions.size, 0);
});

test('streamhub.umd.js is up to date with streamhub.js', () => {
  execFileSync(process.execPath, [fileURLToPath(new URL('../build.js', import.meta.url)), '--check']);
});
