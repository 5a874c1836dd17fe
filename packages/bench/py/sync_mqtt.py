#!/usr/bin/env python3
"""Synchronous MQTT 5 clients for the lock-step scenarios (l1, l2): plain blocking sockets, no library.

  sub      subscribes, then reads one packet at a time (the 2-byte fixed header, any further length
           bytes, then the rest) and answers each before reading the next: PUBACK at QoS 1, PUBREC
           at QoS 2 (PUBCOMP when the PUBREL comes).
  pub      writes --count PUBLISH packets back to back, one write each, never waiting for an
           acknowledgement; its acknowledgements pile up unread until the end, unless the broker's
           Receive Maximum (MQTT 5 flow control) is reached: then it reads until it is below again.
  devices  --clients connections, each publishing one message every --interval-ms to its own topic,
           spread evenly over the interval; it reads its acknowledgements while it waits.

Each prints one JSON line when connected ({"ready": ...}); pub and devices then wait for a line on
stdin before they publish; each prints one JSON line with its result at the end. Payloads carry
(stream, sequence, CLOCK_MONOTONIC ns at the write), so the subscriber counts distinct deliveries and
latencies across processes.
"""
import argparse
import json
import resource
import selectors
import socket
import struct
import sys
import time

STAMP = struct.Struct(">IIQ")


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect_packet(client_id):
    # Protocol name, level 5, clean start, keep alive 60 s, no properties.
    body = string("MQTT") + bytes([5, 0x02]) + struct.pack(">H", 60) + b"\x00" + string(client_id)
    return packet(0x10, body)


def publish_packet(topic, qos, pid, payload):
    body = string(topic) + (struct.pack(">H", pid) if qos else b"") + b"\x00" + payload
    return packet(0x30 | (qos << 1), body)


def ack(first, pid):
    return bytes([first, 2]) + struct.pack(">H", pid)


def recv_exact(sock, n):
    chunks = []
    while n > 0:
        chunk = sock.recv(n)
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_packet(sock):
    """One packet: (first byte, body). The fixed header first, then exactly the rest."""
    head = recv_exact(sock, 2)
    length, shift, byte = head[1] & 0x7F, 7, head[1]
    while byte & 0x80:
        byte = recv_exact(sock, 1)[0]
        length += (byte & 0x7F) << shift
        shift += 7
    return head[0], (recv_exact(sock, length) if length else b"")


def read_varint(buf, at):
    n, shift = 0, 0
    while True:
        b = buf[at]
        at += 1
        n += (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, at


# MQTT 5 property ids by the size of their value (the others are strings or binary data).
PROP_BYTE = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
PROP_TWO = {0x13, 0x21, 0x22, 0x23}
PROP_FOUR = {0x02, 0x11, 0x18, 0x27}


def properties(buf, at):
    """The two-byte and four-byte integer properties at `at`, and where they end."""
    length, at = read_varint(buf, at)
    end, props = at + length, {}
    while at < end:
        pid = buf[at]
        at += 1
        if pid in PROP_BYTE:
            props[pid] = buf[at]
            at += 1
        elif pid in PROP_TWO:
            props[pid] = struct.unpack_from(">H", buf, at)[0]
            at += 2
        elif pid in PROP_FOUR:
            props[pid] = struct.unpack_from(">I", buf, at)[0]
            at += 4
        elif pid == 0x0B:
            props[pid], at = read_varint(buf, at)
        elif pid == 0x26:  # user property: two strings
            for _ in range(2):
                at += 2 + struct.unpack_from(">H", buf, at)[0]
        else:  # a string or binary data
            at += 2 + struct.unpack_from(">H", buf, at)[0]
    return props, end


def open_client(host, port, client_id):
    """A connected, CONNACKed socket and the broker's Receive Maximum."""
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(client_id))
    first, body = read_packet(sock)
    if first != 0x20 or body[1] >= 0x80:
        raise ConnectionError(f"CONNECT refused: packet 0x{first:02x}, reason 0x{body[1]:02x}")
    props, _ = properties(body, 2)
    return sock, props.get(0x21, 65535)


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def run_sub(a):
    sock, _ = open_client(a.host, a.port, a.client_id)
    sock.sendall(packet(0x82, struct.pack(">H", 1) + b"\x00" + string(a.topic) + bytes([a.qos])))
    first, body = read_packet(sock)
    if first != 0x90 or body[3] >= 0x80:
        raise ConnectionError(f"SUBSCRIBE refused: packet 0x{first:02x}")
    say({"ready": True})
    cpu_ns = time.process_time_ns()
    seen, duplicates, samples = set(), 0, []
    first_ns = last_ns = 0
    pubrels, other, broker_disconnect = 0, 0, None
    sock.settimeout(a.start_timeout_ms / 1000)
    try:
        while len(seen) < a.count or (pubrels > 0 and a.qos == 2):
            first, body = read_packet(sock)
            kind = first >> 4
            if kind == 3:
                now = time.monotonic_ns()
                qos = (first >> 1) & 3
                at = 2 + struct.unpack_from(">H", body, 0)[0]
                pid = 0
                if qos:
                    pid = struct.unpack_from(">H", body, at)[0]
                    at += 2
                _, at = properties(body, at)
                stream, seq, stamp = STAMP.unpack_from(body, at)
                if qos == 1:
                    sock.sendall(ack(0x40, pid))
                elif qos == 2:
                    sock.sendall(ack(0x50, pid))
                    pubrels += 1
                key = (stream, seq)
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                if not first_ns:
                    first_ns = now
                    sock.settimeout(a.idle_timeout_ms / 1000)
                last_ns = now
                if a.samples:
                    samples.append((now - stamp) // 1000)
            elif kind == 6:
                sock.sendall(ack(0x70, struct.unpack_from(">H", body, 0)[0]))
                pubrels -= 1
            elif kind == 14:
                broker_disconnect = body[0] if body else 0
                break
            else:
                other += 1
    except (socket.timeout, ConnectionError):
        pass
    try:
        sock.sendall(b"\xe0\x00")
        sock.close()
    except OSError:
        pass
    say({
        "received": len(seen),
        "duplicates": duplicates,
        "firstNs": first_ns,
        "lastNs": last_ns,
        "unexpectedPackets": other,
        "brokerDisconnect": broker_disconnect,
        "cpuNs": time.process_time_ns() - cpu_ns,
        "samples": samples,
    })


class Acks:
    """A publisher's view of its acknowledgements: PUBACK (QoS 1), PUBREC then PUBCOMP (QoS 2)."""

    def __init__(self):
        self.completed = 0
        self.refused = 0
        self.broker_disconnect = None

    def handle(self, sock, first, body):
        kind = first >> 4
        reason = body[2] if len(body) > 2 else 0
        if kind == 4 or kind == 7:
            self.completed += 1
            if reason >= 0x80:
                self.refused += 1
        elif kind == 5:
            if reason >= 0x80:  # refused: no PUBREL follows, the exchange ends here
                self.completed += 1
                self.refused += 1
            else:
                sock.sendall(ack(0x62, struct.unpack_from(">H", body, 0)[0]))
        elif kind == 14:
            self.broker_disconnect = body[0] if body else 0
            raise ConnectionError(f"DISCONNECT 0x{self.broker_disconnect:02x} from the broker")


def payload_of(size, stream, seq):
    head = STAMP.pack(stream, seq, time.monotonic_ns())
    return head + b"x" * max(0, size - len(head))


def run_pub(a):
    sock, receive_maximum = open_client(a.host, a.port, a.client_id)
    say({"ready": True, "receiveMaximum": receive_maximum})
    sys.stdin.readline()
    cpu_ns = time.process_time_ns()
    acks, waits, sent, error = Acks(), 0, 0, None
    first_ns = time.monotonic_ns()
    try:
        for seq in range(a.count):
            if a.qos:
                # MQTT 5 §4.9: no more than Receive Maximum QoS 1/2 publications unacknowledged.
                if sent - acks.completed >= receive_maximum:
                    waits += 1
                    while sent - acks.completed >= receive_maximum:
                        acks.handle(sock, *read_packet(sock))
            sock.sendall(publish_packet(a.topic, a.qos, seq % 65535 + 1, payload_of(a.payload, 0, seq)))
            sent += 1
        last_ns = time.monotonic_ns()
        sock.settimeout(a.idle_timeout_ms / 1000)
        while a.qos and acks.completed < sent:
            acks.handle(sock, *read_packet(sock))
    except (socket.timeout, ConnectionError, OSError) as err:
        error = str(err) or type(err).__name__
        last_ns = time.monotonic_ns()
    say({
        "sent": sent,
        "acked": acks.completed if a.qos else sent,
        "refused": acks.refused,
        "flowControlWaits": waits,
        "firstNs": first_ns,
        "lastSentNs": last_ns,
        "cpuNs": time.process_time_ns() - cpu_ns,
        "brokerDisconnect": acks.broker_disconnect,
        "error": error,
    })


def run_devices(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, a.clients + 64) if hard != resource.RLIM_INFINITY else a.clients + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    socks = [open_client(a.host, a.port, f"{a.client_id}-{i}")[0] for i in range(a.clients)]
    say({"ready": True})
    sys.stdin.readline()
    cpu_ns = time.process_time_ns()
    sel = selectors.DefaultSelector()
    pending = {}
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        pending[i] = b""
    acks, sent, max_lag_ns = Acks(), 0, 0
    step_ns = a.interval_ms * 1_000_000 // a.clients
    total = a.clients * a.rounds
    start_ns = time.monotonic_ns() + 1_000_000
    error = None

    def drain(timeout):
        for key, _ in sel.select(timeout):
            s, i = key.fileobj, key.data
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                raise ConnectionError(f"client {i}: connection closed by the broker")
            buf = pending[i] + data
            while len(buf) >= 2 and len(buf) >= 2 + buf[1]:  # acknowledgements are < 128 bytes
                acks.handle(s, buf[0], buf[2 : 2 + buf[1]])
                buf = buf[2 + buf[1] :]
            pending[i] = buf

    try:
        for slot in range(total):
            due = start_ns + slot * step_ns
            while True:
                now = time.monotonic_ns()
                if now >= due:
                    break
                drain((due - now) / 1e9)
            max_lag_ns = max(max_lag_ns, now - due)
            i, seq = slot % a.clients, slot // a.clients
            s = socks[i]
            s.setblocking(True)
            s.sendall(publish_packet(f"{a.topic}/{i}", a.qos, seq % 65535 + 1, payload_of(a.payload, i, seq)))
            s.setblocking(False)
            sent += 1
        last_ns = time.monotonic_ns()
        deadline = last_ns + a.idle_timeout_ms * 1_000_000
        while a.qos and acks.completed < sent and time.monotonic_ns() < deadline:
            drain(0.05)
    except (ConnectionError, OSError) as err:
        error = str(err) or type(err).__name__
        last_ns = time.monotonic_ns()
    say({
        "sent": sent,
        "acked": acks.completed if a.qos else sent,
        "refused": acks.refused,
        "firstNs": start_ns,
        "lastSentNs": last_ns,
        "maxLagUs": max_lag_ns // 1000,
        "cpuNs": time.process_time_ns() - cpu_ns,
        "brokerDisconnect": acks.broker_disconnect,
        "error": error,
    })
    for s in socks:
        try:
            s.setblocking(True)
            s.sendall(b"\xe0\x00")
            s.close()
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["sub", "pub", "devices"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--qos", type=int, default=0, choices=[0, 1, 2])
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--payload", type=int, default=128)
    p.add_argument("--client-id", default="bench-sync")
    p.add_argument("--samples", action="store_true")
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--interval-ms", type=int, default=100)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--start-timeout-ms", type=int, default=15000)
    p.add_argument("--idle-timeout-ms", type=int, default=3000)
    a = p.parse_args()
    {"sub": run_sub, "pub": run_pub, "devices": run_devices}[a.role](a)


if __name__ == "__main__":
    main()
