// A tiny Node.js client of streamhub's TCP text protocol (no dependencies):
//   node examples/tcp/textclient.js 127.0.0.1 7000 'sensors/#' sensors/x 'hello from Node'
const net = require('net');
const [host = '127.0.0.1', port = '7000', filter = 'sensors/#', topic, message = 'hello from Node'] =
  process.argv.slice(2);

const socket = net.connect(Number(port), host, () => {
  socket.write(`SUB ${filter}\n`);
  if (topic) {
    const payload = Buffer.from(message);
    socket.write(`PUB ${topic} ${payload.length}\n`);
    socket.write(Buffer.concat([payload, Buffer.from('\n')]));
  }
});

let buf = Buffer.alloc(0);
socket.on('data', (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  for (;;) {
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    const line = buf.subarray(0, nl).toString().replace(/\r$/, '');
    const fields = line.split(' ');
    if (fields[0] !== 'MSG') { console.log(line); buf = buf.subarray(nl + 1); continue; }
    const n = Number(fields[fields.length - 1]);
    if (buf.length < nl + 1 + n + 1) return; // wait for the whole payload
    const name = fields.slice(1, -1).join(' ');
    console.log(`${name}: ${buf.subarray(nl + 1, nl + 1 + n).toString()}`);
    buf = buf.subarray(nl + 1 + n + 1);
  }
});
