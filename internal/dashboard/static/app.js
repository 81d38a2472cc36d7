// The streamhub dashboard. It reads the admin API (/v1/admin/...), follows
// live numbers and tails over streamhub's own WebSocket JSON protocol
// (/v1/ws), and publishes with POST /v1/publish: nothing else, nothing from
// elsewhere.
'use strict';

const STATS_TOPIC = '$SYS/streamhub/stats';
const KEEP = 120; // points per chart
const state = {
  tab: 'overview', prev: null, ratesIn: [], ratesOut: [],
  socket: null, tailFilter: '', series: new Map(), drawPending: false,
  csrf: '', // the session's CSRF token, from the sign-in answer or /v1/admin/session
};
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

// api calls the admin API; state-changing calls carry the session's CSRF
// token. A 401 shows the sign-in form.
async function api(path, options = {}) {
  options.headers = Object.assign({'X-CSRF-Token': state.csrf}, options.headers || {});
  options.credentials = 'same-origin';
  const resp = await fetch(path, options);
  if (resp.status === 401) { showLogin(true); throw new Error('sign in needed'); }
  if (!resp.ok) {
    let msg = resp.status + '';
    try { msg = errorMessage(await resp.json()) || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return resp.status === 204 ? null : resp.json();
}

// errorMessage reads streamhub's JSON error body: {"error": {"code", "message"}}.
function errorMessage(body) {
  return body && body.error ? body.error.message : '';
}

function showLogin(on) {
  $('#login').hidden = !on;
  $('#app').hidden = on;
}

// ---- overview ----

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + units[i];
}

function duration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d ? d + 'd ' + h + 'h' : h ? h + 'h ' + m + 'm' : m + 'm ' + (s % 60) + 's';
}

function onStats(st) {
  const prev = state.prev;
  state.prev = st;
  if (prev) {
    const dt = (Date.parse(st.time) - Date.parse(prev.time)) / 1000;
    if (dt > 0) {
      push(state.ratesIn, Math.max(0, (st.messages_in - prev.messages_in) / dt));
      push(state.ratesOut, Math.max(0, (st.messages_out - prev.messages_out) / dt));
      $('#rate-in').textContent = formatNumber(state.ratesIn.at(-1));
      $('#rate-out').textContent = formatNumber(state.ratesOut.at(-1));
      drawChart($('#chart-rates'), [{values: state.ratesIn, color: '#2563eb'}, {values: state.ratesOut, color: '#16a34a'}]);
    }
  }
  const conns = Object.entries(st.connections || {}).sort();
  $('#conns-total').textContent = conns.reduce((n, [, c]) => n + c, 0);
  $('#dropped').textContent = st.dropped;
  $('#slow').textContent = st.slow_consumers;
  $('#memory').textContent = bytes(st.memory_bytes);
  $('#store').textContent = st.store_bytes ? bytes(st.store_bytes) : 'memory';
  $('#uptime').textContent = duration(st.uptime_seconds);
  $('#conns tbody').replaceChildren(...conns.map(([t, c]) => el('tr', {}, el('td', {}, t), el('td', {}, c))));
}

function push(list, v) {
  list.push(v);
  if (list.length > KEEP) list.shift();
}

// ---- live socket: stats and the tail ----

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const socket = new WebSocket(scheme + location.host + '/v1/ws');
  state.socket = socket;
  socket.onopen = () => {
    $('#live').classList.add('on');
    send({op: 'sub', id: 'stats', topics: [STATS_TOPIC], retained: false});
    if (state.tailFilter) send({op: 'sub', id: 'tail', topics: [state.tailFilter], retained: true});
  };
  socket.onmessage = (e) => {
    const env = JSON.parse(e.data);
    if (env.type !== 'message') return;
    const payload = env.encoding === 'base64' ? atob(env.payload) : env.payload;
    if (env.topic === STATS_TOPIC) onStats(JSON.parse(payload));
    if (state.tailFilter && topicMatch(state.tailFilter, env.topic)) onTail(env.topic, payload);
  };
  socket.onclose = () => {
    $('#live').classList.remove('on');
    setTimeout(connect, 1000);
  };
}

function send(msg) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(msg));
}

// topicMatch is MQTT's rule: + one level, # the rest, $ topics only by name.
function topicMatch(filter, topic) {
  const f = filter.split('/'), t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '#' || f[0] === '+')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

function tail(filter) {
  if (state.tailFilter) send({op: 'unsub', topics: [state.tailFilter]});
  state.tailFilter = filter;
  state.series.clear();
  $('#charts').replaceChildren();
  $('#tail').replaceChildren();
  $('#tail-filter').value = filter;
  if (filter) send({op: 'sub', id: 'tail', topics: [filter], retained: true});
}

function onTail(topic, payload) {
  const list = $('#tail');
  list.prepend(el('li', {}, el('b', {}, topic), ' ', payload.length > 200 ? payload.slice(0, 200) + '…' : payload));
  while (list.children.length > 100) list.lastChild.remove();
  for (const [key, v] of numbers(topic, payload)) addPoint(key, v);
}

// numbers finds what can be charted in a payload: a number, or the
// numeric fields of a JSON object (one level deep).
function numbers(topic, payload) {
  const text = payload.trim();
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text)) return [[topic, Number(text)]];
  if (!text.startsWith('{')) return [];
  try {
    const obj = JSON.parse(text);
    return Object.entries(obj).filter(([, v]) => typeof v === 'number').map(([k, v]) => [topic + ' · ' + k, v]);
  } catch (e) { return []; }
}

function addPoint(key, v) {
  let s = state.series.get(key);
  if (!s) {
    if (state.series.size >= 8) return;
    const canvas = el('canvas', {class: 'chart', width: '800', height: '140', 'data-series': key, 'data-points': '0'});
    $('#charts').append(el('h3', {}, key), canvas);
    s = {values: [], canvas};
    state.series.set(key, s);
  }
  push(s.values, v);
  if (!state.drawPending) {
    state.drawPending = true;
    requestAnimationFrame(() => {
      state.drawPending = false;
      for (const s of state.series.values()) drawChart(s.canvas, [{values: s.values, color: '#2563eb'}]);
    });
  }
}

// ---- paged lists ----

// The admin API answers its lists a page at a time; the dashboard polls
// the page shown (PAGE items) and moves between pages with the pager's
// buttons. A pager keeps the cursors of the pages before the one shown.
const PAGE = 500;
const pagers = {topics: {after: ['']}, clients: {after: ['']}};

async function fetchPage(name) {
  const pg = pagers[name], after = pg.after.at(-1);
  const body = await api('/v1/admin/' + name + '?limit=' + PAGE + (after ? '&after=' + encodeURIComponent(after) : ''));
  const move = (f) => () => { f(); poll(); };
  const buttons = [];
  if (pg.after.length > 1) buttons.push(el('button', {class: 'page-first', onclick: move(() => pg.after.splice(1))}, '« first'));
  if (body.next) buttons.push(el('button', {class: 'page-next', onclick: move(() => pg.after.push(body.next))}, 'next ›'));
  const from = (pg.after.length - 1) * PAGE;
  const shown = body[name].length;
  $('#' + name + '-pager').replaceChildren(shown < body.total ?
    (from + 1) + '–' + (from + shown) + ' of ' + body.total + ' ' : body.total + ' ' + name + ' ', ...buttons);
  return body[name];
}

// ---- topics ----

async function refreshTopics() {
  const topics = await fetchPage('topics');
  const root = {children: new Map()};
  for (const t of topics) {
    let node = root;
    for (const level of t.name.split('/')) {
      if (!node.children.has(level)) node.children.set(level, {children: new Map()});
      node = node.children.get(level);
    }
    node.topic = t;
  }
  $('#tree').replaceChildren(...treeItems(root, ''));
}

function treeItems(node, prefix) {
  return [...node.children.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([level, child]) => {
    const name = prefix ? prefix + '/' + level : level;
    const li = el('li', {'data-topic': name});
    const filter = child.topic && child.children.size === 0 ? name : name + '/#';
    li.append(el('span', {class: 'name', onclick: () => tail(filter)}, level || '(empty)'));
    const t = child.topic;
    if (t) {
      const last = t.last ? (t.last.encoding === 'base64' ? '(binary)' : t.last.payload) : '(' + bytes(t.last_bytes) + ')';
      li.append(el('span', {class: 'meta'}, t.rate.toFixed(2) + '/s · ' + t.messages + ' · ' + (last.length > 60 ? last.slice(0, 60) + '…' : last)));
      if (t.retained) li.append(el('span', {class: 'mark r', title: 'retained'}, 'R'));
      if (t.durable) li.append(el('span', {class: 'mark d', title: 'durable'}, 'D'));
    }
    if (child.children.size) li.append(el('ul', {}, ...treeItems(child, name)));
    return li;
  });
}

// ---- clients ----

async function refreshClients() {
  const clients = await fetchPage('clients');
  const q = $('#client-search').value.toLowerCase();
  // A media connection (RTMP, RTSP, HLS, WHEP, WHIP) has a path it
  // publishes or reads instead of topic filters.
  const topics = (c) => c.path ? c.role + ' ' + c.path : c.filters.join(' ');
  const rows = clients.filter((c) => !q || [c.transport, c.identity, c.client_id, c.remote, topics(c)].join(' ').toLowerCase().includes(q))
    .map((c) => el('tr', {'data-id': c.id},
      el('td', {}, c.transport), el('td', {}, [c.identity, c.client_id].filter(Boolean).join(' / ')),
      el('td', {}, c.remote), el('td', {}, topics(c)), el('td', {}, c.queued), el('td', {}, c.dropped),
      el('td', {}, new Date(c.since).toLocaleTimeString()),
      el('td', {}, el('button', {class: 'kick', 'data-id': c.id, onclick: () => kick(c.id)}, 'kick'))));
  $('#client-table tbody').replaceChildren(...rows);
}

async function kick(id) {
  try {
    await api('/v1/admin/clients/' + encodeURIComponent(id), {method: 'DELETE'});
  } catch (e) { alert('kick: ' + e.message); }
  refreshClients().catch(() => {});
}

// ---- media ----

async function refreshMedia() {
  const resp = await fetch('/v1/media', {credentials: 'same-origin'});
  if (!resp.ok) throw new Error('media: ' + resp.status);
  const {paths} = await resp.json();
  const rows = (paths || []).map((p) => el('tr', {'data-path': p.path},
    el('td', {}, p.path), el('td', {}, p.online ? 'online' : 'offline'), el('td', {}, p.source || ''),
    el('td', {}, (p.tracks || []).map((t) => t.codec).join(', ')),
    el('td', {}, p.bitrate ? formatNumber(p.bitrate / 1000) + ' kbit/s' : ''),
    el('td', {}, Object.entries(p.readers || {}).map(([k, v]) => k + ' ' + v).join(', ')),
    el('td', {}, p.frames_skipped || 0),
    el('td', {}, el('button', {class: 'play', onclick: () => play(p.path)}, 'play'))));
  $('#media-table tbody').replaceChildren(...rows);
  $('#media-empty').hidden = rows.length > 0;
}

// ---- bridges ----

async function refreshBridges() {
  const {bridges} = await api('/v1/admin/bridges');
  const rows = (bridges || []).map((b) => el('tr', {'data-bridge': b.name},
    el('td', {}, b.name), el('td', {}, b.remote), el('td', {}, b.version),
    el('td', {class: b.up ? 'up' : 'down'}, (b.up ? 'up ' : 'down ') + duration((Date.now() - Date.parse(b.since)) / 1000)),
    el('td', {}, b.in), el('td', {}, b.out), el('td', {}, b.queued + (b.durable ? ' + store' : '')),
    el('td', {}, b.dropped), el('td', {}, b.reconnects), el('td', {}, b.last_error || '')));
  $('#bridge-table tbody').replaceChildren(...rows);
  $('#bridges-empty').hidden = rows.length > 0;
}

// play shows a path over HLS in the page's own <video>, as the path's page
// at /hls/PATH/ does, retrying after an error as that page does (a path's
// first playlist waits for its first segment, which Chromium gives up on).
function play(path) {
  const v = $('#player');
  const src = '/hls/' + path.split('/').map(encodeURIComponent).join('/') + '/index.m3u8';
  v.hidden = false;
  v.onerror = () => setTimeout(() => { if (v.dataset.src === src) { v.src = src; v.play().catch(() => {}); } }, 1000);
  v.dataset.src = src;
  v.src = src;
  v.play().catch(() => {});
}

// ---- publish ----

async function publish(e) {
  e.preventDefault();
  const f = e.target, out = $('#publish-result');
  const json = f.format.value === 'json';
  if (json) {
    try { JSON.parse(f.payload.value); } catch (err) { out.textContent = 'not JSON: ' + err.message; out.className = 'error'; return; }
  }
  const url = '/v1/publish?topic=' + encodeURIComponent(f.topic.value) + (f.retain.checked ? '&retain=true' : '');
  const resp = await fetch(url, {method: 'POST', body: f.payload.value, credentials: 'same-origin',
    headers: {'Content-Type': json ? 'application/json' : 'text/plain; charset=utf-8', 'X-CSRF-Token': state.csrf}});
  const body = await resp.json().catch(() => ({}));
  out.className = resp.ok ? '' : 'error';
  out.textContent = resp.ok ? 'published, cursor ' + (body.cursor || body.id || '') : 'refused: ' + (errorMessage(body) || resp.status);
}

// ---- sign in ----

async function login(e) {
  e.preventDefault();
  const f = e.target;
  const resp = await fetch('/v1/admin/login', {method: 'POST', credentials: 'same-origin', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({user: f.user.value, password: f.password.value, token: f.token.value})});
  if (!resp.ok) {
    const body = await resp.json().catch(() => ({}));
    $('#login-error').textContent = errorMessage(body) || 'refused (' + resp.status + ')';
    return;
  }
  state.csrf = (await resp.json()).csrf || '';
  showLogin(false);
  start();
}

// ---- tabs and start ----

function showTab(name) {
  state.tab = name;
  for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.tab === name);
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== name;
  poll();
}

function poll() {
  const f = {topics: refreshTopics, clients: refreshClients, media: refreshMedia, bridges: refreshBridges}[state.tab];
  if (f && $('#login').hidden) f().catch((e) => console.warn(e.message));
}

let started = false;
async function start() {
  try {
    const session = await api('/v1/admin/session');
    if (session.signed_in) state.csrf = session.csrf;
  } catch (e) { /* refused: the stats call below says why */ }
  try {
    onStats(await api('/v1/admin/stats'));
  } catch (e) { return; }
  if (started) { if (state.socket) state.socket.close(); return; }
  started = true;
  connect();
  setInterval(poll, 2000);
  poll();
}

for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));
$('#tail-form').addEventListener('submit', (e) => { e.preventDefault(); tail($('#tail-filter').value.trim()); });
$('#client-search').addEventListener('input', () => refreshClients().catch(() => {}));
$('#publish-form').addEventListener('submit', publish);
$('#login-form').addEventListener('submit', login);
start();
