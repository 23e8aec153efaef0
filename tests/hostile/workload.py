#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Small-file NFS workload for tests/vm/rs-hostile.sh, in one process so
that a guest under TCG makes many RPCs a second.

    workload.py MNT REFDIR NREF ITERATIONS TAG [DEADLINE]

Per iteration: each reference file MNT/ref-I read with O_DIRECT (and every
other iteration buffered, after dropping its pages) and compared with
REFDIR/ref-I; a stat; a listing of MNT/dir (20 entries); a file written,
fsync'd, read back with O_DIRECT, compared and removed. Every operation
ends as ok, EIO (or a short read of correct bytes: a later READ of it
failed), another error (a reply decoded into garbage shows as EACCES,
ENOENT, ESTALE...), or corrupt (it succeeded with wrong bytes).
After each iteration one line "counts ok E eio E other E corrupt E"
is printed and flushed, so a run killed by timeout still reports; the
first few other errors and corruptions are printed as "msg: ...".
With DEADLINE (seconds since the epoch), the run ends after the first
iteration that finishes at or past it, once two iterations (one of them
with the buffered reads) are done.
"""
import errno
import mmap
import os
import sys
import time

mnt, refdir, nref, iters, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
deadline = float(sys.argv[6]) if len(sys.argv) > 6 else None
refs = [open(os.path.join(refdir, "ref-%d" % i), "rb").read() for i in range(1, nref + 1)]
wdata = os.urandom(2500)
buf = mmap.mmap(-1, 16384)
counts = {"ok": 0, "eio": 0, "other": 0, "corrupt": 0}
msgs = 0


def note(kind, what):
    global msgs
    counts[kind] += 1
    if kind != "ok" and kind != "eio" and msgs < 6:
        msgs += 1
        print("msg: %s: %s" % (kind, what), flush=True)


def attempt(what, fn):
    try:
        r = fn()
    except OSError as e:
        if e.errno == errno.EIO:
            note("eio", what)
        else:
            note("other", "%s: %s" % (what, os.strerror(e.errno or 0)))
        return None
    return r


def read_direct(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        n = os.preadv(fd, [buf], 0)
        return bytes(buf[:n])
    finally:
        os.close(fd)


def read_buffered(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        out = b""
        while True:
            b = os.read(fd, 65536)
            if not b:
                return out
            out += b
    finally:
        os.close(fd)


def check_read(what, fn, path, want):
    got = attempt(what, lambda: fn(path))
    if got is None:
        return
    if got == want:
        note("ok", what)
    elif len(got) < len(want) and want.startswith(got):
        # A READ after the first failed: the read returns what it had,
        # as POSIX allows. That is the error showing, not corruption.
        note("eio", what)
    else:
        note("corrupt", "%s: %d bytes read, %d expected, first difference at %s" % (
            what, len(got), len(want),
            next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), min(len(got), len(want)))))


def write_file(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, wdata)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


for it in range(iters):
    for i, want in enumerate(refs, 1):
        p = os.path.join(mnt, "ref-%d" % i)
        check_read("O_DIRECT read ref-%d" % i, read_direct, p, want)
        if it % 2:
            check_read("buffered read ref-%d" % i, read_buffered, p, want)
    if attempt("stat", lambda: os.stat(os.path.join(mnt, "ref-1"))) is not None:
        note("ok", "stat")
    names = attempt("listdir", lambda: os.listdir(os.path.join(mnt, "dir")))
    if names is not None:
        if len(names) == 20:
            note("ok", "listdir")
        else:
            note("corrupt", "listdir: %d entries, 20 expected" % len(names))
    w = os.path.join(mnt, "w-%s-%d" % (tag, it))
    if attempt("write+fsync", lambda: write_file(w)) is not None:
        note("ok", "write+fsync")
        check_read("O_DIRECT read-back", read_direct, w, wdata)
    try:
        os.unlink(w)
    except OSError:
        pass
    print("counts ok %(ok)d eio %(eio)d other %(other)d corrupt %(corrupt)d" % counts, flush=True)
    if deadline is not None and it >= 1 and time.time() >= deadline:
        break
