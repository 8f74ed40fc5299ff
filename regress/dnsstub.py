#!/usr/bin/env python3
# dnsstub.py - a tiny authoritative DNS server for tests: UDP on
# ADDR:53 (default 127.0.0.1), answers from a table on the command line,
# NXDOMAIN for any other name.  Python stdlib only.
#
#   dnsstub.py [-a ADDR] [-p PORT] RECORD...
#     mx:NAME:PREF:HOST   an MX record
#     a:NAME:ADDRESS      an A record
#     servfail:NAME       SERVFAIL for every query about NAME
#     drop:NAME           no answer at all (the client times out)
# A known name asked for a type it lacks gets NOERROR with no answer
# (NODATA).  Writes "ready" to stdout once it listens.
import socket
import struct
import sys


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def parse_question(pkt):
    i, labels = 12, []
    while True:
        n = pkt[i]
        if n == 0 or n >= 0xC0:
            break
        labels.append(pkt[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    i += 1
    qtype, qclass = struct.unpack("!HH", pkt[i:i + 4])
    return ".".join(labels).lower(), qtype, qclass, pkt[12:i + 4]


def main():
    args = sys.argv[1:]
    addr, port = "127.0.0.1", 53
    while args and args[0] in ("-a", "-p"):
        if args[0] == "-a":
            addr = args[1]
        else:
            port = int(args[1])
        args = args[2:]
    rr, special = {}, {}
    for spec in args:
        f = spec.split(":")
        if f[0] == "mx":
            rr.setdefault(f[1].lower(), []).append(
                (15, struct.pack("!H", int(f[2])) + encode_name(f[3])))
        elif f[0] == "a":
            rr.setdefault(f[1].lower(), []).append(
                (1, socket.inet_aton(f[2])))
        elif f[0] in ("servfail", "drop"):
            special[f[1].lower()] = f[0]
        else:
            sys.exit("dnsstub: bad record: " + spec)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("ready", flush=True)
    while True:
        pkt, peer = s.recvfrom(4096)
        if len(pkt) < 17:
            continue
        qid, = struct.unpack("!H", pkt[:2])
        try:
            name, qtype, qclass, question = parse_question(pkt)
        except (IndexError, struct.error):
            continue
        if special.get(name) == "drop":
            continue
        answers, rcode = [], 0
        if special.get(name) == "servfail":
            rcode = 2
        elif name not in rr:
            rcode = 3
        else:
            answers = [d for t, d in rr[name] if t == qtype]
        # QR, AA, RD copied from the query, RA.
        flags = 0x8400 | (struct.unpack("!H", pkt[2:4])[0] & 0x0100) \
            | 0x0080 | rcode
        out = struct.pack("!HHHHHH", qid, flags, 1, len(answers), 0, 0)
        out += question
        qtype_of = question[-4:-2]
        for data in answers:
            out += b"\xc0\x0c" + qtype_of + b"\0\x01" + \
                struct.pack("!IH", 60, len(data)) + data
        s.sendto(out, peer)


if __name__ == "__main__":
    main()
