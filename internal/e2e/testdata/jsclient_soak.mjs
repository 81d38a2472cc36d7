// The subscriber of TestStreamHubJSSoak: streamhub.js in Node
// (--experimental-websocket on Node 20), forced onto another transport
// order every switchEvery ms. Prints "msg PAYLOAD", "gap HEAD" and
// "connected TRANSPORT" lines; ends when stdin closes.
import { pathToFileURL } from 'node:url';

const [, , modulePath, url, switchEvery] = process.argv;
const { StreamHub } = await import(pathToFileURL(modulePath));
const hub = new StreamHub(url, { backoff: { initial: 50, max: 500 }, upgradeAfter: 0, connectTimeout: 2000 });
const orders = [['websocket', 'sse', 'poll'], ['sse', 'poll'], ['poll']];
let k = 0;
const sub = hub.subscribe('soak/#', { transports: orders[0] }, (m) => console.log('msg ' + m.payload));
hub.on('error', (d) => console.log('error ' + d.error.message));
hub.on('gap', (d) => console.log('gap ' + d.head));
hub.on('state', (d) => { if (d.state === 'connected') console.log('connected ' + d.transport); });
setInterval(() => {
  // A forced switch: the next order, and the connection dropped as a network would.
  sub.opts.transports = orders[++k % orders.length];
  const conn = sub._conn;
  if (conn && sub.state === 'connected') {
    conn.close();
    sub._lost(conn, null);
  }
}, Number(switchEvery));
process.stdin.on('end', () => { console.log('duplicates ' + sub.duplicates); process.exit(0); });
process.stdin.resume();
