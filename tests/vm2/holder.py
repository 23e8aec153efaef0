#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
# Open files held across a server reboot (tests/vm2/client.sh reboot):
#
#   holder.py DIR NFILES PROBE STOP
#
# Opens NFILES files in DIR and keeps them open; takes a POSIX write lock
# on the first. Then, until the file STOP exists, every 0.5 s: writes
# record k (4 KiB, naming file and k) at offset k*4 KiB of each file,
# fsyncs each, reads record k-1 back and compares, and appends "io k" to
# PROBE. At the end: the page cache is dropped and every file is read back
# whole through the descriptors held since the start; a child process must
# be refused the first file's lock (the lock was reclaimed after the
# reboot, not lost). Exit 0 only if all of that held.
import errno
import fcntl
import os
import sys
import time

d, n, probe, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def rec(i, k):
    return ("file %d record %d " % (i, k)).encode().ljust(64, b".") * 64


def up():
    return open("/proc/uptime").read().split()[0]


def say(msg):
    print("holder [%s]: %s" % (up(), msg), flush=True)


fds = [os.open("%s/held-%d" % (d, i), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644) for i in range(n)]
fcntl.lockf(fds[0], fcntl.LOCK_EX)
say("%d files open, lock held on held-0" % n)
k = 0
errors = 0
slowest = (0.0, -1)
while not os.path.exists(stop):
    t0 = time.time()
    try:
        for i, fd in enumerate(fds):
            os.pwrite(fd, rec(i, k), k * 4096)
        for fd in fds:
            os.fsync(fd)
        if k:
            for i, fd in enumerate(fds):
                if os.pread(fd, 4096, (k - 1) * 4096) != rec(i, k - 1):
                    say("record %d of held-%d reads back wrong" % (k - 1, i))
                    errors += 1
    except OSError as e:
        say("iteration %d: %s" % (k, e))
        errors += 1
        break
    dt = time.time() - t0
    if dt > slowest[0]:
        slowest = (dt, k)
    with open(probe, "a") as p:
        p.write("io %d %s\n" % (k, up()))
    k += 1
    time.sleep(0.5)
say("%d iterations; the slowest, %d, took %.1f s" % (k, slowest[1], slowest[0]))

# Everything from the server, through the descriptors opened before the reboot.
os.sync()
with open("/proc/sys/vm/drop_caches", "w") as f:
    f.write("3\n")
for i, fd in enumerate(fds):
    want = b"".join(rec(i, j) for j in range(k))
    got = os.pread(fd, len(want) + 4096, 0)
    if got != want:
        bad = next((j for j in range(k) if got[j * 4096:(j + 1) * 4096] != rec(i, j)), None)
        say("held-%d differs from what was written (%d of %d bytes; first bad record %s)"
            % (i, len(got), len(want), bad))
        errors += 1
say("read back %d files of %d records through the held descriptors" % (n, k))

pid = os.fork()
if pid == 0:
    fd = os.open("%s/held-0" % d, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os._exit(0 if e.errno in (errno.EAGAIN, errno.EACCES) else 2)
    os._exit(1)
_, st = os.waitpid(pid, 0)
st = os.waitstatus_to_exitcode(st)
if st == 0:
    say("another process is refused held-0's lock: the lock survived the reboot")
else:
    say("another process %s held-0's lock: the lock was lost" % ("got" if st == 1 else "failed oddly on"))
    errors += 1
for fd in fds:
    os.close(fd)
say("errors: %d" % errors)
sys.exit(1 if errors else 0)
