// streamhub.js: a browser (and Node 20+) client for streamhub.
// WebSocket (the JSON protocol on /v1/ws), then Server-Sent Events with HTTP
// POST for publishing, then long polling; reconnects with back-off and
// jitter, and resumes every subscription after the last cursor it delivered,
// so nothing is missed or delivered twice. docs/PROTOCOLS.md, "Browsers".
// Plain ES module, no dependencies, no build step.

export const TRANSPORTS = Object.freeze(['websocket', 'sse', 'poll']);

const DEFAULTS = {
  transports: TRANSPORTS,
  backoff: { initial: 500, max: 30000, factor: 2, jitter: 0.5 },
  upgradeAfter: 60000, // ms on a lower transport before trying the first one again
  connectTimeout: 10000, // ms a transport may take to subscribe (for SSE: to bring its first event, which a buffering proxy holds back)
  pollTimeout: 25, // seconds a long poll waits
};

/** Parses "EPOCH-SEQ"; null when it is not a cursor. */
export function parseCursor(c) {
  if (typeof c !== 'string') return null;
  const i = c.lastIndexOf('-');
  if (i <= 0 || !/^\d+$/.test(c.slice(i + 1))) return null;
  return { epoch: c.slice(0, i), seq: BigInt(c.slice(i + 1)) };
}

/** True when cursor a is after b in the same epoch, or the epochs differ (a new history). */
export function isAfter(a, b) {
  const x = parseCursor(a), y = parseCursor(b);
  if (!x || !y) return true;
  return x.epoch !== y.epoch || x.seq > y.seq;
}

/** The delay before reconnect attempt n (0-based): exponential, capped, with jitter taken off. */
export function backoffDelay(n, opts = DEFAULTS.backoff, random = Math.random) {
  const { initial, max, factor, jitter } = { ...DEFAULTS.backoff, ...opts };
  const d = Math.min(max, initial * factor ** n);
  return Math.round(d * (1 - jitter * random()));
}

/** MQTT filter matching, as the server does (docs/PROTOCOLS.md, "Topics"). */
export function topicMatches(filter, topic) {
  const f = filter.split('/'), t = topic.split('/');
  if ((f[0] === '#' || f[0] === '+') && topic.startsWith('$')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

function decodeBase64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function encodeBase64(bytes) {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

// message turns an envelope (WebSocket, long polling) into what onMessage gets.
function message(env) {
  return {
    topic: env.topic,
    payload: env.encoding === 'base64' ? decodeBase64(env.payload ?? '') : (env.payload ?? ''),
    cursor: env.id || undefined,
    retained: !!env.retained,
    contentType: env.content_type,
    headers: env.headers || [],
    time: env.time,
  };
}

/**
 * A hub: the server at baseURL. Events (EventTarget, or on()): `state`
 * (detail {state, transport, subscription}), `error` (detail {error,
 * subscription}), `gap` (detail {cursor, head, subscription}).
 */
export class StreamHub extends EventTarget {
  constructor(baseURL, options = {}) {
    super();
    this.url = String(baseURL).replace(/\/+$/, '');
    this.options = { ...DEFAULTS, ...options, backoff: { ...DEFAULTS.backoff, ...options.backoff } };
    const o = this.options;
    this._WebSocket = o.WebSocket || globalThis.WebSocket;
    this._fetch = o.fetch || globalThis.fetch?.bind(globalThis);
    this._random = o.random || Math.random;
    this.subscriptions = new Set();
    this.closed = false;
  }

  /** Listens to an event; returns a function that stops listening. */
  on(type, fn) {
    const h = (e) => fn(e.detail, e);
    this.addEventListener(type, h);
    return () => this.removeEventListener(type, h);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * Subscribes to one filter or an array of them. opts: {last, from, cursor,
   * retained, transports}. onMessage({topic, payload, cursor, retained, ...}).
   */
  subscribe(filters, opts, onMessage) {
    if (typeof opts === 'function') [opts, onMessage] = [{}, opts];
    if (this.closed) throw new Error('streamhub: hub is closed');
    const sub = new Subscription(this, [].concat(filters), opts || {}, onMessage);
    this.subscriptions.add(sub);
    sub._start();
    return sub;
  }

  /**
   * Publishes; resolves to {topic, cursor} once the server acknowledged.
   * Over an open WebSocket when there is one, else HTTP POST.
   * payload: string, ArrayBuffer/typed array, or anything JSON.stringify takes.
   */
  async publish(topic, payload, opts = {}) {
    if (this.closed) throw new Error('streamhub: hub is closed');
    let body = payload, contentType = opts.contentType;
    if (payload instanceof ArrayBuffer) body = new Uint8Array(payload);
    else if (ArrayBuffer.isView(payload)) body = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    else if (typeof payload !== 'string') { body = JSON.stringify(payload); contentType ??= 'application/json'; }
    for (const sub of this.subscriptions) {
      const c = sub._conn;
      if (c instanceof WSConnection && c.open) return c.publish(topic, body, { ...opts, contentType });
    }
    const q = new URLSearchParams({ topic });
    if (opts.retain) q.set('retain', 'true');
    const headers = { ...this._auth() };
    if (contentType) headers['Content-Type'] = contentType;
    for (const [k, v] of opts.headers || []) headers['Streamhub-Meta-' + k] = v;
    const res = await this._fetch(this.url + '/v1/publish?' + q, { method: 'POST', headers, body });
    const reply = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error(reply.error?.message || 'publish failed: HTTP ' + res.status), { code: reply.error?.code, status: res.status });
    return reply;
  }

  /**
   * Joins a WebRTC room through this hub (peer.js, loaded when first
   * needed from beside this file): offers, answers and candidates travel
   * on room/<room>/signal, with TURN credentials from /v1/turn.
   */
  async peer(room, opts = {}) {
    const m = await import('./peer.js');
    return m.peer(this, room, opts);
  }

  /** Ends every subscription; the hub cannot be used afterwards. */
  close() {
    this.closed = true;
    for (const sub of this.subscriptions) sub.unsubscribe();
    this._emit('state', { state: 'closed' });
  }

  _auth() {
    return this.options.token ? { Authorization: 'Bearer ' + this.options.token } : {};
  }

  _query(q) {
    if (this.options.token) q.set('token', this.options.token);
    return q;
  }
}

/**
 * One subscription: its own connection on the best transport that works,
 * its own cursor. It reconnects until unsubscribe().
 */
export class Subscription {
  constructor(hub, filters, opts, onMessage) {
    this.hub = hub;
    this.filters = filters;
    this.opts = opts;
    this.onMessage = onMessage || (() => {});
    this.cursor = opts.cursor; // the last cursor delivered (or the start point the server named)
    this.transport = undefined;
    this.state = 'connecting';
    this.duplicates = 0; // messages dropped as already delivered
    this._conn = null;
    this._attempt = 0; // failed rounds since the last good connection
    this._timer = null;
    this._closed = false;
  }

  get transports() {
    return this.opts.transports || this.hub.options.transports;
  }

  unsubscribe() {
    if (this._closed) return;
    this._closed = true;
    clearTimeout(this._timer);
    this._conn?.close();
    this._conn = null;
    this.hub.subscriptions.delete(this);
    this._setState('closed');
  }

  _setState(state) {
    if (this.state === state && this._stateTransport === this.transport) return;
    this.state = state;
    this._stateTransport = this.transport;
    this.hub._emit('state', { state, transport: this.transport, subscription: this });
  }

  _start() {
    this._connectFrom(0);
  }

  async _connectFrom(index) {
    const names = this.transports;
    for (let i = index; i < names.length && !this._closed; i++) {
      const conn = makeConnection(names[i], this);
      this._conn = conn;
      this.transport = names[i];
      this._setState('connecting');
      try {
        await this._connect(conn);
      } catch (err) {
        conn.close();
        if (this._closed) return;
        this.hub._emit('error', { error: err, transport: names[i], subscription: this });
        if (err.fatal) { this.unsubscribe(); return; }
        continue;
      }
      if (this._closed || conn !== this._conn) { conn.close(); return; }
      this._attempt = 0;
      this._setState('connected');
      if (i > 0 && this.hub.options.upgradeAfter > 0) this._scheduleUpgrade();
      return;
    }
    if (!this._closed) this._retry();
  }

  // _connect connects conn within connectTimeout: a dial, upgrade or first
  // event that never comes (a proxy holding it back, a half-open
  // connection to a server going down) counts as a failure.
  async _connect(conn) {
    const ms = this.hub.options.connectTimeout;
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.transport}: not subscribed within ${ms} ms`)), ms);
    });
    const connecting = conn.connect();
    connecting.catch(() => {}); // a late failure after the timeout is reported already
    try {
      await Promise.race([connecting, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  // _lost is called by a connection that was up and ended.
  _lost(conn, err) {
    if (conn !== this._conn || this._closed) return;
    if (err) this.hub._emit('error', { error: err, transport: this.transport, subscription: this });
    this._conn = null;
    this._retry();
  }

  _retry() {
    clearTimeout(this._timer);
    this._setState('disconnected');
    const delay = backoffDelay(this._attempt++, this.hub.options.backoff, this.hub._random);
    this._timer = setTimeout(() => this._connectFrom(0), delay);
  }

  // On a lower transport, try the first again later: a probe that connects
  // replaces the current connection, resuming from the cursor.
  _scheduleUpgrade() {
    clearTimeout(this._timer);
    this._timer = setTimeout(async () => {
      const current = this._conn;
      if (this._closed || !current) return;
      const probe = makeConnection(this.transports[0], this);
      current.close(); // stop it before the probe resumes, so cursors stay in order
      this._conn = probe;
      this.transport = this.transports[0];
      try {
        await this._connect(probe);
        if (this._closed) return probe.close();
        this._attempt = 0;
        this._setState('connected');
      } catch {
        probe.close();
        if (this._closed) return;
        this._connectFrom(1);
      }
    }, this.hub.options.upgradeAfter);
  }

  // _deliver hands one message to the application unless it was delivered already.
  _deliver(msg, conn) {
    if (conn !== this._conn || this._closed) return;
    if (msg.cursor && !msg.retained) {
      if (this.cursor && !isAfter(msg.cursor, this.cursor)) { this.duplicates++; return; }
      this.cursor = msg.cursor;
    }
    try {
      this.onMessage(msg, this);
    } catch (err) {
      this.hub._emit('error', { error: err, subscription: this });
    }
  }

  // _startPoint records the cursor a fresh subscription starts after (the head, or where a replay starts).
  _startPoint(cursor, conn) {
    if (conn === this._conn && cursor && !this.cursor) this.cursor = cursor;
  }

  _gap(info, conn) {
    if (conn !== this._conn) return;
    this.hub._emit('gap', { cursor: info.cursor, head: info.head, subscription: this });
  }

  // The start point of the next connection: after the cursor once there is one.
  _startParams() {
    if (this.cursor) return { cursor: this.cursor };
    const p = {};
    if (this.opts.from !== undefined) p.from = String(this.opts.from);
    if (this.opts.last !== undefined) p.last = Number(this.opts.last);
    if (this.opts.retained === false) p.retained = false;
    return p;
  }
}

function makeConnection(name, sub) {
  switch (name) {
    case 'websocket': return new WSConnection(sub);
    case 'sse': return new SSEConnection(sub);
    case 'poll': return new PollConnection(sub);
    default: throw new Error('streamhub: unknown transport ' + name);
  }
}

function fatal(message) {
  return Object.assign(new Error(message), { fatal: true });
}

// WSConnection: the JSON protocol on /v1/ws, one subscription per socket.
class WSConnection {
  constructor(sub) {
    this.sub = sub;
    this.hub = sub.hub;
    this.open = false;
    this.pending = new Map(); // id -> {resolve, reject}
    this.nextID = 1;
  }

  connect() {
    const WS = this.hub._WebSocket;
    if (!WS) return Promise.reject(new Error('no WebSocket here'));
    const url = this.hub.url.replace(/^http/, 'ws') + '/v1/ws?' + this.hub._query(new URLSearchParams());
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err) => { if (!settled) { settled = true; reject(err); } };
      let ws;
      try { ws = new WS(url); } catch (err) { return fail(err); }
      this.ws = ws;
      ws.onopen = () => {
        this.open = true;
        const start = this.sub._startParams();
        // The head names where a live-only fresh subscription starts; a
        // replay (last, from) may follow the reply with older cursors.
        this.headIsStart = !('cursor' in start || 'from' in start || 'last' in start);
        this.send({ op: 'sub', id: 'sub', topics: this.sub.filters, ...start });
      };
      ws.onmessage = (e) => {
        let m;
        try { m = JSON.parse(e.data); } catch { return; }
        if (m.type === 'message') return this.sub._deliver(message(m), this);
        if (m.type === 'subscribed' && m.id === 'sub') {
          if (!settled) { settled = true; resolve(); }
          if (m.gap) this.sub._gap({ cursor: this.sub.cursor, head: m.head }, this);
          if (this.headIsStart) this.sub._startPoint(m.head, this);
          return;
        }
        if (m.type === 'ack' || (m.type === 'error' && m.id !== 'sub')) {
          const p = this.pending.get(m.id);
          if (!p) return;
          this.pending.delete(m.id);
          return m.type === 'ack' ? p.resolve({ topic: p.topic, cursor: m.cursor })
            : p.reject(Object.assign(new Error(m.message || m.code), { code: m.code }));
        }
        if (m.type === 'error' && m.id === 'sub') {
          const err = Object.assign(new Error(m.message || m.code), { code: m.code });
          if (m.code === 'forbidden' || m.code === 'bad_request') err.fatal = true;
          if (!settled) return fail(err);
          this.close();
          this.sub._lost(this, err);
        }
      };
      ws.onclose = (e) => {
        const wasOpen = this.open;
        this.open = false;
        for (const p of this.pending.values()) p.reject(new Error('streamhub: connection closed before the ack'));
        this.pending.clear();
        const err = new Error(`websocket closed (${e?.code ?? ''}${e?.reason ? ' ' + e.reason : ''})`);
        if (!settled) return fail(err);
        if (wasOpen && !this.closed) this.sub._lost(this, e?.code === 1000 ? null : err);
      };
      ws.onerror = () => {}; // onclose follows
    });
  }

  send(obj) { this.ws.send(JSON.stringify(obj)); }

  publish(topic, body, opts) {
    const id = 'p' + this.nextID++;
    const req = { op: 'pub', id, topic };
    if (typeof body === 'string') req.payload = body;
    else { req.payload = encodeBase64(body); req.encoding = 'base64'; }
    if (opts.retain) req.retain = true;
    if (opts.contentType) req.content_type = opts.contentType;
    if (opts.headers) req.headers = opts.headers.map(([key, value]) => ({ key, value }));
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, topic });
      this.send(req);
    });
  }

  close() {
    this.closed = true;
    this.open = false;
    try { this.ws?.close(1000); } catch { /* already closed */ }
  }
}

// SSEConnection reads /v1/subscribe as text/event-stream through fetch
// (EventSource drops the topic field and cannot send a token header).
class SSEConnection {
  constructor(sub) {
    this.sub = sub;
    this.hub = sub.hub;
    this.abort = new AbortController();
  }

  // connect resolves once the stream's first block arrived: the server
  // sends one at once, so one that a proxy holds back runs into the
  // subscription's connectTimeout, and a lower transport serves better.
  async connect() {
    await this.open();
    if (!this.closed) this.pump();
  }

  async open() {
    const q = new URLSearchParams();
    for (const f of this.sub.filters) q.append('topic', f);
    q.set('format', 'sse');
    const start = this.sub._startParams();
    for (const [k, v] of Object.entries(start)) q.set(k, String(v));
    const res = await this.hub._fetch(this.hub.url + '/v1/subscribe?' + q, {
      headers: { Accept: 'text/event-stream', ...this.hub._auth() }, signal: this.abort.signal, cache: 'no-store',
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      const err = new Error(body.error?.message || 'subscribe failed: HTTP ' + res.status);
      err.fatal = res.status === 400 || res.status === 401 || res.status === 403;
      throw err;
    }
    if (!String(res.headers.get('content-type')).startsWith('text/event-stream')) throw new Error('not an event stream');
    this.reader = res.body.getReader();
    if (!(await this.read())) throw new Error('event stream ended at once');
  }

  // read parses until at least one block arrived; false at the end of the stream.
  async read() {
    this.buf ??= '';
    this.decoder ??= new TextDecoder();
    this.fields ??= {};
    for (;;) {
      const { value, done } = await this.reader.read();
      if (done) return false;
      this.buf += this.decoder.decode(value, { stream: true });
      if (this.parse()) return true;
    }
  }

  // parse handles the complete lines in buf; true when a block ended.
  parse() {
    let any = false, i;
    while ((i = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + (this.buf.startsWith('\r\n', i) ? 2 : 1));
      if (line === '') { this.block(this.fields); this.fields = {}; any = true; continue; }
      if (line.startsWith(':')) { any = true; continue; }
      const c = line.indexOf(':');
      const name = c < 0 ? line : line.slice(0, c);
      let value = c < 0 ? '' : line.slice(c + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (name === 'data') this.fields.data = this.fields.data === undefined ? value : this.fields.data + '\n' + value;
      else this.fields[name] = value;
    }
    return any;
  }

  block(f) {
    if (this.closed) return;
    const event = f.event || 'message';
    if (f.data === undefined) {
      if (f.id) this.sub._startPoint(f.id, this);
      return;
    }
    if (event === 'gap') {
      let info = {};
      try { info = JSON.parse(f.data); } catch { /* keep empty */ }
      return this.sub._gap(info, this);
    }
    if (event === 'close') {
      let info = {};
      try { info = JSON.parse(f.data); } catch { /* keep empty */ }
      this.closeReason = info.reason;
      return;
    }
    const payload = f.encoding === 'base64' ? decodeBase64(f.data) : f.data;
    this.sub._deliver({ topic: f.topic ?? event, payload, cursor: f.id || undefined, retained: !f.id, headers: [] }, this);
  }

  async pump() {
    let err = null;
    try {
      while (await this.read()) { /* blocks are handled as they come */ }
    } catch (e) {
      err = e;
    }
    if (this.closed) return;
    this.closed = true;
    this.sub._lost(this, err || new Error('event stream ended' + (this.closeReason ? ': ' + this.closeReason : '')));
  }

  close() {
    this.closed = true;
    this.abort.abort();
  }
}

// PollConnection loops on /v1/poll with the cursor of the last answer.
class PollConnection {
  constructor(sub) {
    this.sub = sub;
    this.hub = sub.hub;
    this.abort = new AbortController();
  }

  async poll(timeout) {
    const q = new URLSearchParams();
    for (const f of this.sub.filters) q.append('topic', f);
    if (this.sub.cursor) q.set('cursor', this.sub.cursor);
    q.set('timeout', String(timeout));
    // A poll that outlives its timeout by far is on a dead connection.
    const expire = setTimeout(() => this.abort.abort(), (parseFloat(timeout) + 10) * 1000);
    let res, body;
    try {
      res = await this.hub._fetch(this.hub.url + '/v1/poll?' + q, {
        headers: this.hub._auth(), signal: this.abort.signal, cache: 'no-store',
      });
      body = await res.json().catch(() => ({}));
    } finally {
      clearTimeout(expire);
    }
    if (!res.ok) {
      const err = new Error(body.error?.message || 'poll failed: HTTP ' + res.status);
      err.fatal = res.status === 400 || res.status === 401 || res.status === 403;
      throw err;
    }
    if (body.gap) this.sub._gap({ cursor: this.sub.cursor, head: body.cursor }, this);
    for (const env of body.messages || []) this.sub._deliver(message(env), this);
    // Where the next poll continues, also when no message came.
    if (body.cursor && (!this.sub.cursor || isAfter(body.cursor, this.sub.cursor))) {
      if (this === this.sub._conn) this.sub.cursor = body.cursor;
    }
  }

  async connect() {
    await this.poll(0);
    this.loop();
  }

  async loop() {
    try {
      while (!this.closed) await this.poll(this.hub.options.pollTimeout + 's');
    } catch (err) {
      if (!this.closed) { this.closed = true; this.sub._lost(this, err); }
    }
  }

  close() {
    this.closed = true;
    this.abort.abort();
  }
}

export default StreamHub;
