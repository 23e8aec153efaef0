#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
# The wire between the two guests of scripts/vm2: a UDP relay on the
# host's loopback. Each QEMU's second NIC is a `-netdev dgram` whose
# remote end is one of the relay's two sockets; every datagram (one
# Ethernet frame) that arrives on one socket is sent on from the other to
# the other QEMU. Nothing else is reachable from the link.
#
#   vm2-relay.py DIR
#
# At start it picks four free UDP ports on 127.0.0.1 and writes them to
# DIR/ports as "SERVER_QEMU SERVER_RELAY CLIENT_QEMU CLIENT_RELAY": the
# server's QEMU binds SERVER_QEMU and sends to SERVER_RELAY, the client's
# likewise. While DIR/drop exists, every frame is dropped both ways (a
# partition); the file is looked at every 50 ms. DIR/relay.log gets a line
# per change of state and the frame counts. It runs until killed.
import os
import select
import socket
import sys
import time

d = sys.argv[1]
LO = "127.0.0.1"


def bound():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LO, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    return s


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LO, 0))
    p = s.getsockname()[1]
    s.close()
    return p


rs, rc = bound(), bound()
sq, cq = free_port(), free_port()
with open(os.path.join(d, "ports.tmp"), "w") as f:
    f.write("%d %d %d %d\n" % (sq, rs.getsockname()[1], cq, rc.getsockname()[1]))
os.rename(os.path.join(d, "ports.tmp"), os.path.join(d, "ports"))

logf = open(os.path.join(d, "relay.log"), "a", buffering=1)


def log(msg):
    logf.write("%.3f %s\n" % (time.time(), msg))


# frames forwarded and dropped, per direction
fwd = {"s>c": 0, "c>s": 0}
dropped = {"s>c": 0, "c>s": 0}
drop = False
checked = 0.0
log("relay up: server qemu %d <-> %d, client qemu %d <-> %d"
    % (sq, rs.getsockname()[1], cq, rc.getsockname()[1]))
route = {rs: (rc, (LO, cq), "s>c"), rc: (rs, (LO, sq), "c>s")}
while True:
    r, _, _ = select.select([rs, rc], [], [], 0.05)
    now = time.time()
    if now - checked >= 0.05:
        checked = now
        d_now = os.path.exists(os.path.join(d, "drop"))
        if d_now != drop:
            drop = d_now
            log("%s (forwarded %s, dropped %s)" % ("partition: dropping everything" if drop
                                                  else "partition over: forwarding", fwd, dropped))
    for s in r:
        try:
            frame, src = s.recvfrom(65536)
        except OSError:
            continue
        out, dst, way = route[s]
        if drop:
            dropped[way] += 1
            continue
        fwd[way] += 1
        try:
            out.sendto(frame, dst)
        except OSError:
            # The other QEMU is not there (killed, or not booted yet):
            # the frame is lost, as on a wire to a dead machine.
            pass
