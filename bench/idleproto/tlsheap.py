"""Bytes per connection by owner in a heap profile of N parked TLS connections.

    go tool pprof -sample_index=inuse_space -traces PARK_BINARY PROFILE > traces.txt
    python3 bench/idleproto/tlsheap.py traces.txt 15000

The profile must be exact to be read per connection: take it from park run
with -memprofilerate 1 (tls-variants.sh PROFILE=DIR does) and gc=1 (the
client asks for it). Each stack goes to the first owner whose pattern one of
its frames matches.
"""
import re
import sys

OWNERS = [
    ("tls rawInput: record read buffer (bytes.Buffer, keeps its largest record)", r"crypto/tls\.\(\*Conn\)\.readFromUntil"),
    ("tls hand: handshake message buffer (keeps the ClientHello's size)", r"crypto/tls\.\(\*Conn\)\.readHandshakeBytes"),
    ("AEAD state, both directions (AES: key schedule + GHASH table)", r"crypto/tls\.aead|crypto/tls\.cipherAES|crypto/tls\.macSHA|crypto/tls\.cipher3DES"),
    ("session ticket (TLS 1.3 NewSessionTicket)", r"sendSessionTickets"),
    ("secrets: traffic, resumption, exporter (TLS 1.2: master secret)", r"hkdf\.|tls13\.|tls12\.|exportKeyingMaterial|ekmFromMasterSecret|[mM]asterFromPreMasterSecret|crypto/tls\.prf"),
    ("TLS 1.2: the ClientHello copy its exporter keeps (for the client random)", r"crypto/tls\.\(\*Conn\)\.unmarshalHandshakeMessage"),
    ("tls.Conn struct", r"^crypto/tls\.Server$|^crypto/tls\.Server \(inline\)$"),
    ("other crypto/tls", r"^crypto/"),
    ("socket: net.TCPConn, netFD, addresses", r"^net\.|^syscall\."),
    ("prototype: conn, MQTT session, broker, fd map", r"^main\.|mqttmin|internal/sync\."),
]
UNITS = {"B": 1, "kB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}


def parse(path):
    """Yields (bytes, frames) for each stack of pprof -traces output."""
    size, frames = None, []
    for line in open(path):
        if line.startswith("-----------+"):
            if size:
                yield size, frames
            size, frames = None, []
            continue
        m = re.match(r"^\s+([\d.]+)(B|kB|MB|GB)\s+(\S.*)$", line)
        if m:
            size = float(m.group(1)) * UNITS[m.group(2)]
            frames = [m.group(3).strip()]
        elif size is not None and line.strip():
            frames.append(line.strip())
    if size:
        yield size, frames


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    total = {}
    for size, frames in parse(path):
        owner = "other"
        for name, pat in OWNERS:
            if any(re.search(pat, f) for f in frames):
                owner = name
                break
        total[owner] = total.get(owner, 0) + size
    print("| owner | B per connection |")
    print("|---|---:|")
    for name, _ in OWNERS + [("other", "")]:
        if name in total:
            print(f"| {name} | {total[name] / n:,.0f} |")
    print(f"| **all** | **{sum(total.values()) / n:,.0f}** |")


if __name__ == "__main__":
    main()
