// A small in-memory stand-in for streamhub's browser-facing endpoints
// (the JSON WebSocket, SSE, long polling, HTTP publish), enough to drive
// streamhub.js's logic without a network. The real server is exercised by
// the Go browser tests (internal/e2e/jsclient_browser_test.go).
import { topicMatches } from '../streamhub.js';

export class FakeServer {
  constructor() {
    this.epoch = 'e1';
    this.seq = 0;
    this.messages = [];
    this.live = new Set(); // {filters, send(msg), drop()}
    this.refuse = { websocket: false, sse: false, poll: false };
    this.connects = { websocket: 0, sse: 0, poll: 0 };
    this.gapOnResume = false;
    this.bufferSSE = false;
    this.duplicateReplay = false;
    const server = this;
    this.WebSocket = class extends FakeWebSocket { constructor(url) { super(server, url); } };
    this.fetch = (url, init) => server.handleFetch(url, init);
  }

  head() { return `${this.epoch}-${this.seq}`; }

  publish(topic, payload) {
    const m = { type: 'message', topic, payload, id: `${this.epoch}-${++this.seq}` };
    this.messages.push(m);
    for (const l of this.live) if (l.filters.some((f) => topicMatches(f, topic))) l.send(m);
    return m.id;
  }

  // after lists what a start point replays.
  after(filters, start) {
    const matching = this.messages.filter((m) => filters.some((f) => topicMatches(f, m.topic)));
    if (start.cursor) {
      const seq = Number(start.cursor.split('-')[1]);
      const out = matching.filter((m) => Number(m.id.split('-')[1]) > seq);
      if (this.duplicateReplay && seq > 0) out.unshift(...matching.filter((m) => Number(m.id.split('-')[1]) === seq));
      return out;
    }
    if (start.last) return matching.slice(-Number(start.last));
    return [];
  }

  // dropAll ends every connection, as a server restart does.
  dropAll() { for (const l of [...this.live]) l.drop(); }

  async handleFetch(url, init = {}) {
    const u = new URL(url);
    const filters = u.searchParams.getAll('topic');
    const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
    if (u.pathname === '/v1/publish') {
      return json(200, { topic: filters[0], cursor: this.publish(filters[0], String(init.body)) });
    }
    if (u.pathname === '/v1/subscribe') {
      if (this.refuse.sse) return json(502, { error: { code: 'bad_gateway', message: 'refused by the test' } });
      this.connects.sse++;
      if (this.bufferSSE) return new Promise(() => {}); // a proxy holding the stream back: no headers, no events
      return this.sse(filters, Object.fromEntries(u.searchParams), init.signal);
    }
    if (u.pathname === '/v1/poll') {
      if (this.refuse.poll) return json(502, { error: { code: 'bad_gateway', message: 'refused by the test' } });
      this.connects.poll++;
      const cursor = u.searchParams.get('cursor');
      if (!cursor) return json(200, { cursor: this.head(), gap: false, messages: [] });
      if (this.gapOnResume && !cursor.startsWith(this.epoch + "-")) return json(200, { cursor: this.head(), gap: true, messages: [] });
      const got = this.after(filters, { cursor });
      if (got.length || u.searchParams.get('timeout') === '0') return json(200, { cursor: got.at(-1)?.id || cursor, gap: false, messages: got });
      return new Promise((resolve, reject) => {
        const l = {
          filters,
          send: (m) => { this.live.delete(l); resolve(json(200, { cursor: m.id, gap: false, messages: [m] })); },
          drop: () => { this.live.delete(l); reject(new TypeError('fetch failed')); },
        };
        this.live.add(l);
        init.signal?.addEventListener('abort', () => { this.live.delete(l); reject(new DOMException('aborted', 'AbortError')); });
      });
    }
    return json(404, { error: { code: 'not_found' } });
  }

  sse(filters, q, signal) {
    const enc = new TextEncoder();
    let l;
    const body = new ReadableStream({
      start: (c) => {
        const write = (s) => { try { c.enqueue(enc.encode(s)); } catch { /* closed */ } };
        const resume = q.cursor || q['last-event-id'];
        write(`retry: 2000\n\nid: ${resume || this.head()}\n\n`);
        if (resume && this.gapOnResume) write(`event: gap\ndata: {"cursor":"${resume}","head":"${this.head()}"}\n\n`);
        for (const m of this.after(filters, { cursor: resume, last: q.last })) write(`id: ${m.id}\ntopic: ${m.topic}\ndata: ${m.payload}\n\n`);
        l = {
          filters,
          send: (m) => write(`id: ${m.id}\ntopic: ${m.topic}\ndata: ${m.payload}\n\n`),
          drop: () => { this.live.delete(l); try { c.error(new TypeError('network error')); } catch { /* closed */ } },
        };
        this.live.add(l);
        signal?.addEventListener('abort', () => { this.live.delete(l); try { c.close(); } catch { /* closed */ } });
      },
      cancel: () => this.live.delete(l),
    });
    return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
  }
}

class FakeWebSocket {
  constructor(server, url) {
    this.server = server;
    this.url = url;
    this.sent = [];
    setTimeout(() => {
      if (server.refuse.websocket) return this.onclose?.({ code: 1006, reason: '' });
      server.connects.websocket++;
      this.readyState = 1;
      this.onopen?.();
    }, 0);
  }

  reply(obj) { setTimeout(() => this.readyState === 1 && this.onmessage?.({ data: JSON.stringify(obj) }), 0); }

  send(data) {
    const req = JSON.parse(data);
    this.sent.push(req);
    if (req.op === 'pub') {
      const cursor = this.server.publish(req.topic, req.payload);
      return this.reply({ type: 'ack', id: req.id, cursor });
    }
    if (req.op === 'sub') {
      const gap = !!(req.cursor && this.server.gapOnResume);
      this.reply({ type: 'subscribed', id: req.id, head: this.server.head(), ...(gap ? { gap } : {}) });
      for (const m of this.server.after(req.topics, req)) this.reply(m);
      this.l = { filters: req.topics, send: (m) => this.reply(m), drop: () => this.end(1006) };
      this.server.live.add(this.l);
    }
  }

  end(code) {
    if (this.readyState !== 1) return;
    this.readyState = 3;
    this.server.live.delete(this.l);
    setTimeout(() => this.onclose?.({ code, reason: '' }), 0);
  }

  close(code = 1000) { this.end(code); }
}
