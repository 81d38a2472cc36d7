// peer.js: browsers connecting to each other, peer to peer, through a
// streamhub room. Offers, answers and ICE candidates travel on the room's
// topic room/<name>/signal under the server's one security policy: who may
// publish and subscribe there may signal, and may get TURN credentials
// from GET /v1/turn?room=<name>. docs/PROTOCOLS.md, "WebRTC peer to peer".
//
//   import { StreamHub } from './streamhub.js';
//   import { peer } from './peer.js';
//   const room = await peer(new StreamHub(url, {token}), 'lobby', {stream});
//   room.addEventListener('channel', (e) => e.detail.channel.onmessage = ...);
//   room.addEventListener('track', (e) => video.srcObject = e.detail.streams[0]);
//
// The hub is anything with subscribe(filter, opts, onMessage) returning a
// subscription with unsubscribe(), publish(topic, payload) returning a
// promise, and, for the TURN credentials, url and options.token (the
// StreamHub client of streamhub.js).

/** The topic a room's peers signal on. */
export function roomTopic(room) {
  if (!room || /[/+#]/.test(room)) throw new Error('peer: a room is one topic level, without / + or #');
  return 'room/' + room + '/signal';
}

/**
 * Fetches TURN credentials for room: {username, password, ttl, uris}, or
 * null when the server runs no TURN (404).
 */
export async function turnCredentials(hub, room, fetchFn = globalThis.fetch?.bind(globalThis)) {
  const headers = hub.options?.token ? { Authorization: 'Bearer ' + hub.options.token } : {};
  const res = await fetchFn(hub.url + '/v1/turn?room=' + encodeURIComponent(room), { headers });
  if (res.status === 404) return null;
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(body.error?.message || 'peer: GET /v1/turn: HTTP ' + res.status), { status: res.status, code: body.error?.code });
  return body;
}

/**
 * Joins room and connects to every other peer in it. opts:
 *   id                 this peer's id (default random)
 *   channels           data channel labels the offering side opens (default ['data'])
 *   stream             a MediaStream whose tracks every connection sends
 *   iceServers         added to the TURN server /v1/turn names
 *   iceTransportPolicy 'all' (default) or 'relay' (only through TURN)
 *   turn               false: do not ask /v1/turn
 *   RTCPeerConnection  the constructor (default globalThis's)
 * Events (detail): peer {id, pc}, channel {id, channel}, track {id, track,
 * streams}, leave {id}, error {error, id}.
 */
export async function peer(hub, room, opts = {}) {
  const topic = roomTopic(room);
  let iceServers = [...(opts.iceServers || [])];
  if (opts.turn !== false) {
    const c = await turnCredentials(hub, room, opts.fetch);
    if (c) iceServers = [{ urls: c.uris, username: c.username, credential: c.password }, ...iceServers];
  }
  return new Room(hub, topic, { ...opts, iceServers });
}

/** Room is one peer's membership of a room: a connection per other peer. */
export class Room extends EventTarget {
  constructor(hub, topic, opts) {
    super();
    this.hub = hub;
    this.topic = topic;
    this.opts = opts;
    this.id = opts.id || randomID();
    this.connections = new Map(); // peer id -> RTCPeerConnection
    this._pending = new Map(); // peer id -> candidates before the remote description
    this._PC = opts.RTCPeerConnection || globalThis.RTCPeerConnection;
    this.closed = false;
    // Announce on every (re)subscription: a peer that joined while we were
    // away learns of us; those we are connected to ignore it.
    this._offState = hub.on?.('state', (d) => {
      if (d.subscription === this._sub && d.state === 'connected') this._send({ type: 'hello' });
    });
    this._sub = hub.subscribe(topic, {}, (m) => this._receive(m));
  }

  _send(msg) {
    if (this.closed && msg.type !== 'bye') return;
    this.hub.publish(this.topic, JSON.stringify({ ...msg, from: this.id })).catch((error) => this._emit('error', { error }));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async _receive(m) {
    let msg;
    try { msg = JSON.parse(typeof m.payload === 'string' ? m.payload : new TextDecoder().decode(m.payload)); } catch { return; }
    const from = msg.from;
    if (this.closed || typeof from !== 'string' || from === this.id || (msg.to && msg.to !== this.id)) return;
    try {
      switch (msg.type) {
        case 'hello': // a newcomer: tell it we are here; the smaller id offers
          this._send({ type: 'welcome', to: from });
          if (this.id < from) await this._offer(from);
          break;
        case 'welcome':
          if (this.id < from) await this._offer(from);
          break;
        case 'offer': {
          const pc = this._connect(from);
          await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
          await this._flush(from, pc);
          this._addTracks(pc);
          await pc.setLocalDescription(await pc.createAnswer());
          this._send({ type: 'answer', to: from, sdp: pc.localDescription.sdp });
          break;
        }
        case 'answer': {
          const pc = this.connections.get(from);
          if (pc && pc.signalingState === 'have-local-offer') {
            await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
            await this._flush(from, pc);
          }
          break;
        }
        case 'candidate': {
          const pc = this.connections.get(from);
          if (pc && pc.remoteDescription) await pc.addIceCandidate(msg.candidate);
          else (this._pending.get(from) || this._pending.set(from, []).get(from)).push(msg.candidate);
          break;
        }
        case 'bye':
          this._drop(from);
          break;
      }
    } catch (error) {
      this._emit('error', { error, id: from });
    }
  }

  // _offer opens a connection to id, unless one is up, and offers.
  async _offer(id) {
    const old = this.connections.get(id);
    if (old && !['failed', 'closed'].includes(old.connectionState)) return;
    const pc = this._connect(id);
    for (const label of this.opts.channels || ['data']) this._channel(id, pc.createDataChannel(label));
    this._addTracks(pc);
    await pc.setLocalDescription(await pc.createOffer());
    this._send({ type: 'offer', to: id, sdp: pc.localDescription.sdp });
  }

  _connect(id) {
    this._drop(id, true);
    const pc = new this._PC({ iceServers: this.opts.iceServers, iceTransportPolicy: this.opts.iceTransportPolicy || 'all' });
    this.connections.set(id, pc);
    pc.onicecandidate = (e) => { if (e.candidate) this._send({ type: 'candidate', to: id, candidate: e.candidate.toJSON() }); };
    pc.ondatachannel = (e) => this._channel(id, e.channel);
    pc.ontrack = (e) => this._emit('track', { id, track: e.track, streams: e.streams });
    pc.onconnectionstatechange = () => { if (pc.connectionState === 'failed') this._emit('error', { error: new Error('peer: connection to ' + id + ' failed'), id }); };
    this._emit('peer', { id, pc });
    return pc;
  }

  _channel(id, channel) {
    this._emit('channel', { id, channel });
  }

  _addTracks(pc) {
    const stream = this.opts.stream;
    if (!stream) return;
    const sending = new Set(pc.getSenders().map((s) => s.track));
    for (const track of stream.getTracks()) if (!sending.has(track)) pc.addTrack(track, stream);
  }

  async _flush(id, pc) {
    for (const c of this._pending.get(id) || []) await pc.addIceCandidate(c);
    this._pending.delete(id);
  }

  _drop(id, quiet) {
    const pc = this.connections.get(id);
    if (!pc) return;
    this.connections.delete(id);
    this._pending.delete(id);
    pc.close();
    if (!quiet) this._emit('leave', { id });
  }

  /** Leaves the room: says bye, closes every connection and the subscription. */
  close() {
    if (this.closed) return;
    this._send({ type: 'bye' });
    this.closed = true;
    this._offState?.();
    this._sub?.unsubscribe();
    for (const id of [...this.connections.keys()]) this._drop(id, true);
  }
}

function randomID() {
  return globalThis.crypto?.randomUUID?.() || Math.random().toString(36).slice(2) + Date.now().toString(36);
}
