"""Raw TCP peers for streamhub's tests, standard library only.

  send PORT FILE            connect, send FILE's bytes, close
  recv PORT N OUT           connect, print "connected", read N bytes into OUT
  recv-frames PORT          connect, print "connected", then each 4-byte
                            length-prefixed frame as a line of hex
  listen-send PORT FILE     listen, print "listening", accept one, send FILE, close
  text PORT                 a text protocol session (see text())
"""
import socket
import sys


def send(port, path):
    data = open(path, 'rb').read()
    with socket.create_connection(('127.0.0.1', port)) as s:
        # Small writes, so that lines and frames cross segment boundaries.
        for i in range(0, len(data), 7000):
            s.sendall(data[i:i + 7000])
        s.shutdown(socket.SHUT_WR)
        s.recv(1)


def recv(port, n, out):
    with socket.create_connection(('127.0.0.1', port)) as s:
        print('connected', flush=True)
        buf = bytearray()
        while len(buf) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    open(out, 'wb').write(bytes(buf))


def read_exactly(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit(0)  # the server or the test ended the stream
        buf += chunk
    return bytes(buf)


def recv_frames(port):
    with socket.create_connection(('127.0.0.1', port)) as s:
        print('connected', flush=True)
        while True:
            n = int.from_bytes(read_exactly(s, 4), 'big')
            print(read_exactly(s, n).hex(), flush=True)


def listen_send(port, path):
    data = open(path, 'rb').read()
    with socket.socket() as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(('127.0.0.1', port))
        srv.listen()
        print('listening', flush=True)
        conn, _ = srv.accept()
        with conn:
            conn.sendall(data)


def read_line(f):
    line = f.readline()
    if not line:
        raise SystemExit('connection closed')
    return line.rstrip(b'\r\n')


def text(port):
    """SUB, then PUB a text and a binary payload and read both back as MSG;
    then wait for one MSG published by someone else on text/from-http."""
    payload = bytes(range(256))
    with socket.create_connection(('127.0.0.1', port)) as s:
        f = s.makefile('rb')
        s.sendall(b'SUB text/#\r\n')
        assert read_line(f).startswith(b'+OK'), 'SUB not acknowledged'
        s.sendall(b'PING\n')
        assert read_line(f) == b'PONG'
        s.sendall(b'PUB text/hello 5\nhello\n')
        s.sendall(b'PUB text/bin %d\n' % len(payload) + payload + b'\n')
        got, oks = [], 0
        while len(got) < 2 or oks < 2:
            line = read_line(f)
            if line.startswith(b'+OK'):
                oks += 1
                continue
            verb, rest = line.split(b' ', 1)
            assert verb == b'MSG', line
            topic, n = rest.rsplit(b' ', 1)
            body = f.read(int(n))
            assert f.read(1) == b'\n'
            got.append((topic, body))
        assert got == [(b'text/hello', b'hello'), (b'text/bin', payload)], got
        s.sendall(b'NONSENSE\n')
        assert read_line(f).startswith(b'-ERR unknown_command')
        print('ready', flush=True)
        while True:
            line = read_line(f)
            if line.startswith(b'MSG text/from-http '):
                n = int(line.rsplit(b' ', 1)[1])
                print(f.read(n).decode(), flush=True)
                return


if __name__ == '__main__':
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == 'send':
        send(port, sys.argv[3])
    elif mode == 'recv':
        recv(port, int(sys.argv[3]), sys.argv[4])
    elif mode == 'recv-frames':
        recv_frames(port)
    elif mode == 'listen-send':
        listen_send(port, sys.argv[3])
    elif mode == 'text':
        text(port)
