#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn one `make bench` run (out/bench/<time>/) into results.md and results.png.

    bench-report.py RUN_DIR COMMAND [one|two]

The last argument is the topology: one guest (the default) or two
(scripts/bench -2: nfsd in a guest of its own, the figures the client
guest's only).

Every figure is the median over the rounds, with the spread (min..max) beside
it; ours/C is the ratio of the medians. Numbers from different boots are
never mixed: everything here comes from the one run directory given.

The ratios' reference is the C client ("c") when it ran, else "base", a
baseline build of ours (scripts/bench -b): then ours is "current" and the
ratios are current/baseline. The subject is always ours, "rs".
"""
import glob
import json
import os
import re
import statistics
import subprocess
import sys

CLIENT_NAMES = {"c": "C (rpcrdma)", "rs": "ours (xprtrdma_rs)", "base": "baseline (xprtrdma_rs)"}
# The heading of the ratios subject/reference, by reference.
RATIO = {"c": "ours/C", "base": "current/baseline"}


def reference(data):
    """The client the ratios divide by: C when it ran, else the baseline build."""
    return next((c for c in ("c", "base") if c in data), None)


def names(ref):
    """CLIENT_NAMES, where ours is the current build when the reference is a
    baseline build of ours."""
    return dict(CLIENT_NAMES, **({"rs": "current (xprtrdma_rs)"} if ref == "base" else {}))


def short(name):
    """A client's name in a list or sentence: "C", "ours", "baseline"."""
    return name.split()[0]

# (key, label, unit, higher_is_better)
ROWS = [
    ("randread-4k-qd1:lat_mean", "4 KiB rand read QD1, mean latency", "us", False),
    ("randread-4k-qd1:lat_p50", "4 KiB rand read QD1, p50 latency", "us", False),
    ("randread-4k-qd1:lat_p99", "4 KiB rand read QD1, p99 latency", "us", False),
    ("randwrite-4k-qd1:lat_mean", "4 KiB rand write QD1, mean latency", "us", False),
    ("randwrite-4k-qd1:lat_p50", "4 KiB rand write QD1, p50 latency", "us", False),
    ("randwrite-4k-qd1:lat_p99", "4 KiB rand write QD1, p99 latency", "us", False),
    ("randread-4k-qd32:iops", "4 KiB rand read QD32", "IOPS", True),
    ("randwrite-4k-qd32:iops", "4 KiB rand write QD32", "IOPS", True),
    ("read-1m-qd8:mbs", "1 MiB seq read QD8", "MB/s", True),
    ("write-1m-qd8:mbs", "1 MiB seq write QD8", "MB/s", True),
    ("meta-create:ops", "metadata: create", "ops/s", True),
    ("meta-stat:ops", "metadata: stat", "ops/s", True),
    ("meta-unlink:ops", "metadata: unlink", "ops/s", True),
]
CPU_JOBS = ["randread-4k-qd1", "randwrite-4k-qd1", "randread-4k-qd32",
            "randwrite-4k-qd32", "read-1m-qd8", "write-1m-qd8",
            "meta-create", "meta-stat", "meta-unlink"]
# An NFS READ is the server's RDMA Write into the client, an NFS WRITE the
# server's RDMA Read from it.
CEILING = {"read-1m-qd8:mbs": "ib_write_bw", "write-1m-qd8:mbs": "ib_read_bw"}


def kv(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                out[k] = float(v)
    return out


def fio_metrics(path):
    with open(path) as f:
        job = json.load(f)["jobs"][0]
    side = job["read"] if job["read"]["total_ios"] else job["write"]
    clat = side["clat_ns"]
    pct = clat.get("percentile", {})
    return {
        "iops": side["iops"],
        "mbs": side["bw_bytes"] / 1e6,
        "lat_mean": clat["mean"] / 1e3,
        "lat_p50": pct.get("50.000000", 0) / 1e3,
        "lat_p99": pct.get("99.000000", 0) / 1e3,
        "ios": side["total_ios"],
    }


def split_variant(name):
    """A result's workload and variant: ("randread-4k-qd1", "@nc4") for
    nc4-randread-4k-qd1, the files of a mount with nconnect=4 (scripts/bench
    -n); (name, "") without -n."""
    m = re.fullmatch(r"nc(\d+)-(.+)", name)
    return (m.group(2), f"@nc{m.group(1)}") if m else (name, "")


def variants(data):
    """The run's variants in order of nconnect ("@nc1", "@nc4"), or [""]
    for a run without -n. Every key of data is WORKLOAD+VARIANT:METRIC."""
    found = {m.group(1) for d in data.values() for k in d
             for m in [re.search(r"(@nc\d+):", k)] if m}
    return sorted(found, key=lambda v: int(v[3:])) or [""]


def vkey(key, v):
    """KEY (WORKLOAD:METRIC) of variant v."""
    job, sep, metric = key.partition(":")
    return f"{job}{v}{sep}{metric}"


def vlabel(v, sep=", "):
    """The words a row's label gets for variant v."""
    return f"{sep}nconnect={v[3:]}" if v else ""


def collect(run):
    """{client: {metric_key: [value per round]}}, plus CPU us per op; a
    key is WORKLOAD+VARIANT:METRIC (variants())."""
    data = {}
    paths = glob.glob(os.path.join(run, "bench", "r*-*.cpu"))
    for path in sorted(paths, key=lambda p: int(re.match(r"r(\d+)-", os.path.basename(p)).group(1))):
        m = re.match(r"r(\d+)-(\w+)-(.+)\.cpu$", os.path.basename(path))
        _, client, name = m.groups()
        bare, v = split_variant(name)
        job = bare + v
        d = data.setdefault(client, {})
        cpu = kv(path)
        base = path[: -len(".cpu")]
        if bare.startswith("meta-"):
            ops = kv(re.sub(r"-meta-\w+$", "-meta", base) + ".meta")["ops"]
            d.setdefault(f"{job}:ops", []).append(ops / cpu["wall_s"])
        else:
            fm = fio_metrics(base + ".json")
            for k in ("iops", "mbs", "lat_mean", "lat_p50", "lat_p99"):
                d.setdefault(f"{job}:{k}", []).append(fm[k])
            ops = fm["ios"]
        d.setdefault(f"{job}:cpu", []).append(cpu["cpu_ms"] * 1000 / max(ops, 1))
        d.setdefault(f"{job}:n", []).append(ops)
        for k, v in cpu.items():
            if k not in ("cpu_ms", "wall_s"):
                d.setdefault(f"{job}:ev:{k}", []).append(v / max(ops, 1))
    return data


def raw_ceiling(run):
    """{tool: [value per round]}: perftest's 1 MiB bandwidths in MB/s and its
    typical 4 KiB send latency in us, measured at the start of each round."""
    out = {}
    for path in sorted(glob.glob(os.path.join(run, "bench", "r*-raw-*.txt"))):
        m = re.match(r"r(\d+)-raw-(\w+)\.txt$", os.path.basename(path))
        rnd, tool = int(m.group(1)), m.group(2)
        for line in open(path):
            f = line.split()
            if tool != "ib_send_lat" and len(f) >= 4 and f[0] == "1048576":
                out.setdefault(tool, {})[rnd] = float(f[3]) * 1.048576  # perftest MB is MiB
            elif tool == "ib_send_lat" and len(f) >= 6 and f[0] == "4096":
                out.setdefault(tool, {})[rnd] = float(f[4])  # t_typical, us
    return {t: [v for _, v in sorted(by_round.items())] for t, by_round in out.items()}


def fmt(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def cell(vals):
    if not vals:
        return "not run", None
    med = statistics.median(vals)
    return f"{fmt(med)} ({fmt(min(vals))}..{fmt(max(vals))})", med


def ceiling_share(vals, ceil):
    """The median over the rounds of a round's figure over that round's ceiling."""
    shares = [100 * v / c for v, c in zip(vals, ceil) if c]
    return f"{statistics.median(shares):.0f}%" if shares else ""


def table(data, raw, clients, ref):
    ratio = "rs" in data and ref in data
    name = names(ref)
    head = ["workload", "unit"] + [name[c] for c in clients]
    head += [RATIO[ref]] if ratio else []
    head += ["% of rxe ceiling (" + ", ".join(short(name[c]) for c in clients) + ")"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = ROWS + [(f"{j}:cpu", f"CPU per op: {j}", "us", False) for j in CPU_JOBS]
    # With -n, a row per nconnect value, next to each other.
    rows = [(vkey(k, v), l + vlabel(v), u, h, k) for k, l, u, h in rows for v in variants(data)]
    for key, label, unit, higher_is_better, base_key in rows:
        if not any(data.get(c, {}).get(key) for c in clients):
            continue  # a workload this run left out (-w, -S)
        cells, meds = [], {}
        for c in clients:
            text, med = cell(data.get(c, {}).get(key, []))
            cells.append(text)
            meds[c] = med
        line = [label, unit if higher_is_better else unit + ", lower is better"] + cells
        if ratio:
            line.append(f"{meds['rs'] / meds[ref]:.2f}" if meds.get("rs") and meds.get(ref) else "")
        ceil = raw.get(CEILING.get(base_key, ""), [])
        line.append(", ".join(ceiling_share(data[c].get(key, []), ceil) for c in clients
                              if data.get(c, {}).get(key)) if ceil else "")
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines)


# 4 KiB random I/O at a queue depth: the scaling set (scripts/bench -S) is
# QD 1, 8, 32 and 128 of both; the default set has QD 1 and 32.
SCALING_JOB = re.compile(r"rand(read|write)-4k-qd(\d+)(@nc\d+)?$")
DEFAULT_QDS = {1, 32}


def scaling_qds(data, rw, v):
    """The queue depths at which some client ran 4 KiB random `rw` (read or
    write) in variant v, ascending."""
    return sorted({int(m.group(2)) for d in data.values() for k in d
                   for m in [SCALING_JOB.match(k.partition(":")[0])]
                   if m and m.group(1) == rw and (m.group(3) or "") == v})


def scaling_ran(data):
    """Whether the run has scaling rows: a 4 KiB random QD outside the default set's."""
    return any(set(scaling_qds(data, rw, v)) - DEFAULT_QDS
               for rw in ("read", "write") for v in variants(data))


def median_of(d, key):
    vals = d.get(key)
    return statistics.median(vals) if vals else None


def scaling_table(data, clients, ref, rw, v):
    """A row per queue depth of 4 KiB random `rw`: IOPS, mean latency and
    CPU per op, each per client and as the ratio ours/reference."""
    ratio = "rs" in data and ref in data
    name = names(ref)
    cols = [("iops", "IOPS"), ("lat_mean", "mean latency, us"), ("cpu", "CPU per op, us")]
    head = ["QD"]
    for _, title in cols:
        head += [f"{title}: {short(name[c])}" for c in clients] + ([RATIO[ref]] if ratio else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for qd in scaling_qds(data, rw, v):
        line = [str(qd)]
        for metric, _ in cols:
            meds = {c: median_of(data.get(c, {}), f"rand{rw}-4k-qd{qd}{v}:{metric}") for c in clients}
            line += [fmt(meds[c]) if meds[c] is not None else "not run" for c in clients]
            if ratio:
                line.append(f"{meds['rs'] / meds[ref]:.2f}" if meds["rs"] and meds[ref] else "")
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines)


def scaling_rise(data, clients, ref, rw, v):
    """How much CPU per op grows from the lowest queue depth to the highest,
    per client, and whether ours grows no more than the reference: the
    target of issue 13."""
    qds = scaling_qds(data, rw, v)
    lo, hi = qds[0], qds[-1]
    name = names(ref)
    rise, parts = {}, []
    for c in clients:
        a = median_of(data.get(c, {}), f"rand{rw}-4k-qd{lo}{v}:cpu")
        b = median_of(data.get(c, {}), f"rand{rw}-4k-qd{hi}{v}:cpu")
        if a and b:
            rise[c] = b / a
            parts.append(f"{short(name[c])} x{b / a:.2f} ({fmt(a)} to {fmt(b)} us)")
    if not parts:
        return ""
    text = (f"Rise of CPU per op from QD {lo} to QD {hi} (its figure at QD {hi} over QD {lo}), "
            f"4 KiB random {rw}{vlabel(v)}: " + ", ".join(parts) + ".")
    if "rs" in rise and ref in rise:
        o, r = short(name["rs"]), short(name[ref])
        o = o[0].upper() + o[1:]
        text += (f" {o} rises no more than {r}: the target is met." if rise["rs"] <= rise[ref] else
                 f" {o} rises more than {r} (x{rise['rs']:.2f} against x{rise[ref]:.2f}): "
                 "the target, no more than the reference, is missed.")
    return text


def scaling_section(data, clients, ref):
    md = ["Scaling, 4 KiB random I/O against the queue depth (medians over the rounds; CPU per "
          "op as above):", ""]
    for rw in ("read", "write"):
        for v in variants(data):
            if len(scaling_qds(data, rw, v)) < 2:
                continue
            md += [f"Random {rw}{vlabel(v)}:", "", scaling_table(data, clients, ref, rw, v), "",
                   scaling_rise(data, clients, ref, rw, v), ""]
    return "\n".join(md)


# The idle loop's symbol in a `perf record -a -e cpu-clock` profile.
IDLE = "pv_native_safe_halt"


def short_name(sym):
    """`transport::Transport::register` for a Rust v0 mangled symbol (the
    last three identifiers of its path), the symbol itself otherwise."""
    if not sym.startswith("_R"):
        return sym
    idents, i = [], 2
    while i < len(sym):
        m = re.match(r"(\d+)_?", sym[i:])
        if not m:
            i += 1
            continue
        n, start = int(m.group(1)), i + m.end()
        word = sym[start:start + n]
        if n and len(word) == n and re.fullmatch(r"[A-Za-z_]\w*", word):
            idents.append(word)
            i = start + n
        else:
            i += m.end()
    return "::".join(idents[-3:]) if idents else sym


# rpcrdma's server side (svcrdma, nfsd's transport): every symbol of
# net/sunrpc/xprtrdma/svc_rdma*.c (6.12), which run with either client.
SERVER_RDMA = re.compile(r"svc_rdma|svcrdma|^pcl_|^xdr_check_|^xdr_count_|^handle_connect_req$"
                         r"|^qp_event_handler$|^rpcrdma_bc_send_request$"
                         r"|^xprt_rdma_bc_(allocate|free|send_request|close|put)$|^xprt_setup_rdma_bc$")
# Without a .syms file (runs before it existed), by name: the C client's
# prefixes (rpc_rdma.c, verbs.c, frwr_ops.c, transport.c, backchannel.c,
# their trace events), and ours (Rust v0 names carry `11xprtrdma_rs`, the
# C shims are `xprs_*`).
C_CLIENT_NAMES = re.compile(r"^(__)?(rpcrdma_|frwr_|xprt_rdma_|xprt_setup_rdma|rpc_rdma_)|xprtrdma_")
OURS_NAMES = re.compile(r"xprtrdma_rs|^xprs_")


def module_syms(path):
    """{symbol: module} of a mount's .syms file (tests/vm/bench.sh:
    module_syms, "NAME [MODULE]" from /proc/kallsyms), or None."""
    if not os.path.exists(path):
        return None
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) == 2:
            out[f[0]] = f[1].strip("[]")
    return out


def own_symbol(client, sym, syms):
    """Whether `sym` is the transport's own code for `client`: all of our
    module's symbols for ours (rs, base), rpcrdma's client-side symbols
    (not svcrdma's) for C."""
    if client == "c":
        if SERVER_RDMA.search(sym):
            return False
        return syms.get(sym) == "rpcrdma" if syms is not None else bool(C_CLIENT_NAMES.search(sym))
    return syms.get(sym) == "xprtrdma_rs" if syms is not None else bool(OURS_NAMES.search(sym))


def perf_symbols(path):
    """A with_perf flat profile: ({symbol: % of all samples}, {symbol:
    summed period in ns of guest time}, or None for a profile without
    periods (before perf's -n --show-total-period were used). A symbol
    listed twice (the old format's top 80 and its transport list) counts
    once."""
    shares, periods = {}, {}
    for line in open(path):
        m = re.match(r"\s*([\d.]+)%\s+(\d+)\s+(\d+)\s+\[.\]\s+(\S+)", line)
        if m:
            sym = m.group(4)
            shares.setdefault(sym, float(m.group(1)))
            periods.setdefault(sym, int(m.group(3)))
            continue
        m = re.match(r"\s*([\d.]+)%\s+\[.\]\s+(\S+)", line)
        if m:
            shares.setdefault(m.group(2), float(m.group(1)))
    return shares, (periods or None)


def meta_cpu(d, rnd, v):
    """CPU us per metadata operation of round `rnd` (0-based) in variant v,
    over the three phases one profile covers: each phase does the same
    number of operations, so it is the mean of their figures."""
    return statistics.mean(d[f"meta-{j}{v}:cpu"][rnd] for j in ("create", "stat", "unlink"))


def profile_ops(d, bare, v, rnd):
    """The operations a profile covers: the fio job's, or the three
    metadata phases' together."""
    if bare == "meta":
        return sum(d[f"meta-{j}{v}:n"][rnd] for j in ("create", "stat", "unlink"))
    return d[f"{bare}{v}:n"][rnd]


def profiles(run, data, clients):
    """{job: {client: [(per_op, own) per round]}}: for each profiled
    workload and client, each round's {symbol: ns of guest time per
    operation} (under icount, guest instructions) and the set of the
    transport's own symbols among them.

    A symbol's summed period (samples x the fixed sampling period) over
    the operations the window did, when the profile has periods; for an
    older profile, its share of the busy samples times CPU per op."""
    out = {}
    for c in clients:
        for p in sorted(glob.glob(os.path.join(run, "bench", f"r*-{c}-*.perf.txt"))):
            m = re.match(rf"r(\d+)-{c}-(.+)\.perf\.txt$", os.path.basename(p))
            rnd, job = int(m.group(1)) - 1, m.group(2)
            bare, v = split_variant(job)
            d = data.get(c, {})
            shares, periods = perf_symbols(p)
            # The mount's module symbols: r<round>-<client>[-nc<N>].syms.
            syms = module_syms(os.path.join(run, "bench", f"r{rnd + 1}-{c}{('-nc' + v[3:]) if v else ''}.syms"))
            try:
                if periods is not None:
                    ops = profile_ops(d, bare, v, rnd)
                    if ops <= 0:
                        continue
                    per_op = {s: t / ops for s, t in periods.items()}
                else:
                    us = meta_cpu(d, rnd, v) if bare == "meta" else d[f"{bare}{v}:cpu"][rnd]
                    busy = 100.0 - shares.get(IDLE, 0.0)
                    if busy <= 0:
                        continue
                    per_op = {s: pct / busy * us * 1000 for s, pct in shares.items()}
            except (KeyError, IndexError):
                continue
            per_op.pop(IDLE, None)
            own = {s for s in per_op if own_symbol(c, s, syms)}
            out.setdefault(job, {}).setdefault(c, []).append((per_op, own))
    return out


def job_order(job):
    bare, v = split_variant(job)
    order = [j for j in CPU_JOBS if not j.startswith("meta-")] + ["meta"]
    return (order.index(bare) if bare in order else len(order), v)


def own_cost_table(prof, ref, clock):
    """The transport's own cost per operation, ours against the reference,
    per profiled workload (issue 13's target: ours <= 0.8 x C's)."""
    if ref is None:
        return ""
    name = names(ref)
    r, o = short(name[ref]), short(name["rs"])
    unit = "guest instructions" if clock == "icount" else "ns of CPU"
    ref_what = "rpcrdma's client symbols, svcrdma's excluded" if ref == "c" else "all of its module's symbols"
    rows = [f"The transport's own cost per operation ({unit} per op: the summed samples of its "
            f"own symbols x the sampling period / the operations of the window; {r}: {ref_what}; "
            f"{o}: every symbol of xprtrdma_rs). Median (min..max) over the rounds; the whole "
            "profile's busy (non-idle) time per op is beside it, a check against CPU per op.", "",
            f"| workload | {name[ref]} | {name['rs']} | {RATIO[ref]} | ≤ 0.80 | "
            f"busy per op ({r}, {o}) |", "|---|---|---|---|---|---|"]
    for job in sorted(prof, key=job_order):
        if ref not in prof[job] or "rs" not in prof[job]:
            continue
        own = {c: [sum(po[s] for s in ow) for po, ow in prof[job][c]] for c in (ref, "rs")}
        busy = {c: [sum(po.values()) for po, _ in prof[job][c]] for c in (ref, "rs")}
        mr, mo = statistics.median(own[ref]), statistics.median(own["rs"])
        ratio = mo / mr if mr else float("nan")
        bare, v = split_variant(job)
        rows.append(f"| {bare}{vlabel(v)} | {cell(own[ref])[0]} | {cell(own['rs'])[0]} | "
                    f"{ratio:.2f} | {'yes' if ratio <= 0.8 else 'no'} | "
                    f"{fmt(statistics.median(busy[ref]))}, {fmt(statistics.median(busy['rs']))} |")
    return "\n".join(rows) if len(rows) > 3 else ""


def median_symbols(rounds, only_own):
    """{symbol: median per op over the rounds} (0 where a round lacks it)."""
    syms = set()
    for po, own in rounds:
        syms |= own if only_own else set(po)
    return {s: statistics.median([po.get(s, 0.0) for po, _ in rounds]) for s in syms}


def profile_diff(prof, ref, clock, top=12):
    """Symbol by symbol: each transport's top own symbols side by side,
    then where the whole guest's time per op differs, ours minus the
    reference."""
    if ref is None:
        return ""
    name = names(ref)
    r, o = short(name[ref]), short(name["rs"])
    unit = "instructions/op" if clock == "icount" else "ns/op"
    md = []
    for job in sorted(prof, key=job_order):
        if ref not in prof[job] or "rs" not in prof[job]:
            continue
        bare, v = split_variant(job)
        own = {c: sorted(((t, s) for s, t in median_symbols(prof[job][c], True).items()), reverse=True)
               for c in (ref, "rs")}
        md += [f"**{bare}{vlabel(v)}**: the transports' own symbols by cost ({unit}, medians):", "",
               f"| # | {r} symbol | {r} | {o} symbol | {o} |", "|---|---|---|---|---|"]
        for k in range(min(top, max(len(own[ref]), len(own["rs"])))):
            cells = []
            for c in (ref, "rs"):
                t, s = own[c][k] if k < len(own[c]) else (None, "")
                cells += [f"`{short_name(s)[:48]}`" if s else "", fmt(t) if t is not None else ""]
            md.append(f"| {k + 1} | " + " | ".join(cells) + " |")
        whole = {c: median_symbols(prof[job][c], False) for c in (ref, "rs")}
        diffs = sorted(((whole["rs"].get(s, 0.0) - whole[ref].get(s, 0.0), s)
                        for s in set(whole[ref]) | set(whole["rs"])), reverse=True)
        fmt_d = lambda ds: ", ".join(f"`{short_name(s)[:40]}` {d:+,.0f}" for d, s in ds)
        md += ["", f"Whole guest, {o} minus {r} ({unit}): most more in {o}: {fmt_d(diffs[:8])}. "
               f"Most less: {fmt_d(diffs[::-1][:5])}.", ""]
    if not md:
        return ""
    return "\n".join([f"Profiles by symbol (`scripts/bench -p`), {o} against {r}:", ""] + md)


# The chart's title, by reference.
CHART_TITLE = {"c": "xprtrdma-rs vs the in-tree C client",
               "base": "xprtrdma-rs, current build vs baseline build"}


def chart(data, raw, clients, ref, png, topology, clock):
    panels = [
        ("IOPS, 4 KiB random, QD32", ["randread-4k-qd32:iops", "randwrite-4k-qd32:iops"], ["read", "write"]),
        ("MB/s, 1 MiB sequential, QD8", ["read-1m-qd8:mbs", "write-1m-qd8:mbs"], ["read", "write"]),
        ("latency (us), 4 KiB QD1", ["randread-4k-qd1:lat_p50", "randread-4k-qd1:lat_p99",
                                     "randwrite-4k-qd1:lat_p50", "randwrite-4k-qd1:lat_p99"],
         ["rd p50", "rd p99", "wr p50", "wr p99"]),
        ("ops/s, metadata", ["meta-create:ops", "meta-stat:ops", "meta-unlink:ops"],
         ["create", "stat", "unlink"]),
    ]
    vs = variants(data)
    # With -n, a bar group per nconnect value.
    panels = [(title, [vkey(k, v) for k in keys for v in vs],
               [lab + (f" nc{v[3:]}" if v else "") for lab in labels for v in vs])
              for title, keys, labels in panels]
    # A panel no client has a figure for (-w, -S) is left out.
    panels = [p for p in panels if any(data.get(c, {}).get(k) for c in clients for k in p[1])]
    # The queue depths of each direction, over every nconnect value.
    qds = {rw: sorted({qd for v in vs for qd in scaling_qds(data, rw, v)}) for rw in ("read", "write")}
    curves = [rw for rw in ("read", "write") if scaling_ran(data) and len(qds[rw]) >= 2]
    n = len(panels) + len(curves)
    cols = max(1, (n + 1) // 2)
    datfiles, script = [], [
        f"set terminal pngcairo size {700 * cols},900 font ',10' noenhanced",
        f"set output '{png}'",
        f"set multiplot layout {1 if n == 1 else 2},{cols} title '{CHART_TITLE.get(ref, CHART_TITLE['c'])}, "
        f"{TOPOLOGY[topology]['short']} (medians, bars: min..max over rounds)'",
        "set style data histograms", "set style histogram errorbars gap 2 lw 1",
        "set style fill solid 0.6 border -1", "set yrange [0:*]", "set offsets 0, 0, graph 0.12, 0",
        "set key top left",
        "set grid ytics",
    ]
    if len(vs) > 1:
        script.append("set xtics rotate by -25")  # the groups' labels name nconnect too
    for i, (title, keys, labels) in enumerate(panels):
        dat = png + f".{i}.dat"
        with open(dat, "w") as f:
            for key, lab in zip(keys, labels):
                row = [f'"{lab}"']
                for c in clients:
                    v = data.get(c, {}).get(key, [])
                    row += [str(statistics.median(v)), str(min(v)), str(max(v))] if v else ["0", "0", "0"]
                f.write(" ".join(row) + "\n")
            if keys[0] == vkey("read-1m-qd8:mbs", vs[0]):
                for t, lab in (("ib_write_bw", "rxe RDMA Write"), ("ib_read_bw", "rxe RDMA Read")):
                    if raw.get(t):
                        v = str(statistics.median(raw[t]))
                        f.write(f'"{lab}" ' + " ".join([v, v, v] * len(clients)) + "\n")
        datfiles.append(dat)
        plots = ", ".join(
            f"'{dat}' using {2 + 3 * j}:{3 + 3 * j}:{4 + 3 * j}:xtic(1) title '{names(ref)[c]}'"
            for j, c in enumerate(clients))
        script += [f"set title '{title}'", f"plot {plots}"]
    # Cost per op against the queue depth, a curve per client (its colour)
    # and nconnect value (its dashes): CPU us per op, which under icount
    # is thousands of instructions.
    scale, unit = (1000, "guest instructions") if clock == "icount" else (1, "CPU us")
    for rw in curves:
        dat = png + f".{rw}.dat"
        plots = []
        with open(dat, "w") as f:
            for j, c in enumerate(clients):
                for i, v in enumerate(vs):
                    key = f"rand{rw}-4k-qd{{}}{v}:cpu"
                    pts = [(qd, data[c][key.format(qd)]) for qd in qds[rw] if data.get(c, {}).get(key.format(qd))]
                    if not pts:
                        continue
                    # Each curve's points a data set of their own (index).
                    f.write("".join(f"{qd} {statistics.median(x) * scale} {min(x) * scale} {max(x) * scale}\n"
                                    for qd, x in pts) + "\n\n")
                    plots.append(f"'{dat}' index {len(plots)} using 1:2:3:4 with yerrorlines "
                                 f"lc {j + 1} dt {i + 1} lw 2 pt 7 title '{names(ref)[c]}{vlabel(v)}'")
        datfiles.append(dat)
        script += [f"set title '{unit} per op vs queue depth, 4 KiB random {rw}'",
                   "set logscale x 2", f"set xrange [{qds[rw][0] / 1.5}:{qds[rw][-1] * 1.5}]",
                   "set xtics norotate (" + ", ".join(f"'{q}' {q}" for q in qds[rw]) + ")",
                   "set xlabel 'queue depth'", "set format y '%.1s%c'", "set grid xtics ytics",
                   f"plot {', '.join(plots)}"]
    script.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)
    for d in datfiles:
        os.remove(d)


# Event counts per operation (tests/vm/bench.sh:event_counts), the same for
# every workload: what the guest did for each operation, beside what it cost.
EVENTS = [("rxe_sent_pkts", "rxe packets sent"), ("ctxt", "context switches"),
          ("intr", "interrupts")]
# rxe counters that are not errors or retries.
RXE_TRAFFIC = {"rxe_sent_pkts", "rxe_rcvd_pkts", "rxe_rdma_sends", "rxe_rdma_recvs",
               "rxe_ack_deferred"}


def event_jobs(data):
    """CPU_JOBS, with any other queue depth of 4 KiB random I/O (the scaling
    set's), the 4 KiB jobs in order of queue depth."""
    jobs = set(CPU_JOBS) | {f"rand{rw}-4k-qd{qd}" for rw in ("read", "write")
                            for v in variants(data) for qd in scaling_qds(data, rw, v)}
    def order(job):
        m = SCALING_JOB.match(job)
        return (0, int(m.group(2)), m.group(1) != "read") if m else (1, CPU_JOBS.index(job))
    return sorted(jobs, key=order)


def events_table(data, clients, ref):
    both = "rs" in data and ref in data
    cname = names(ref)
    head = ["workload", "per operation"] + [cname[c] for c in clients]
    head += [RATIO[ref]] if both else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    jobs = [(job + v, job + vlabel(v)) for job in event_jobs(data) for v in variants(data)]
    for job, jlabel in jobs:
        for key, label in EVENTS:
            k = f"{job}:ev:{key}"
            if not any(data.get(c, {}).get(k) for c in clients):
                continue
            meds = {c: cell(data.get(c, {}).get(k, [])) for c in clients}
            line = [jlabel, label] + [meds[c][0] for c in clients]
            if both:
                a, b = meds[ref][1], meds["rs"][1]
                line.append(f"{b / a:.2f}" if a and b else "")
            lines.append("| " + " | ".join(line) + " |")
    # Retries and errors: any other rxe counter that moved, per 1000 ops.
    other = []
    for job, jlabel in jobs:
        for c in clients:
            for k, vals in sorted(data.get(c, {}).items()):
                pre = f"{job}:ev:"
                name = k[len(pre):]
                if k.startswith(pre) and name.startswith("rxe_") and name not in RXE_TRAFFIC \
                        and max(vals) > 0:
                    other.append(f"{jlabel} {short(cname[c])} {name[4:]} "
                                 f"{fmt(statistics.median(vals) * 1000)}")
    lines += ["", "rxe retries and errors per 1000 operations (median over the rounds): "
              + ("; ".join(other) if other else "none counted")]
    return "\n".join(lines)


# What each topology's figures cover, for the report's words.
TOPOLOGY = {
    "one": {
        "short": "one guest",
        "line": "one guest (QEMU TCG, 2 vCPUs): the clients, nfsd and both ends of rxe in it",
        "cpu": "CPU per op is the whole guest's busy\n"
               "time (client, server and rxe share it) divided by the operations done.",
        "events": "Events per operation, from the same runs (whole guest: /proc/stat, and rxe0's\n"
                  "port counters, which count both ends since client and server share rxe0):",
        "raw": "perftest, at the start of every round of the same boot",
    },
    "two": {
        "short": "two guests",
        "line": "two guests (QEMU TCG, 1 vCPU each; scripts/vm2's link, a UDP relay on the "
                "host's loopback): nfsd in the server guest, the clients in the client guest",
        "cpu": "CPU per op is the **client guest's**\n"
               "busy time only (the client and its end of rxe; nfsd's guest is not counted) "
               "divided by the operations done.",
        "events": "Events per operation, from the same runs (the client guest only: /proc/stat, "
                  "and its rxe0's\nport counters, which count the client's end of each "
                  "connection):",
        "raw": "perftest from the client guest to its servers in the server guest, at the "
               "start of every round",
    },
}


# What the guest's clock counted, for the report's words.
CLOCK = {
    "wall": "the guest's clock follows the host's (multi-threaded TCG): rates and CPU "
            "times move with the host's load, about 30 % between boots",
    "icount": "instruction counting (`-icount shift=0,sleep=off`, one host thread): the "
              "guest's clock advances 1 ns per guest instruction and jumps over idle time, "
              "so a second is 10^9 guest instructions whatever the host's load",
}


def main():
    run, command = sys.argv[1], sys.argv[2]
    topology = sys.argv[3] if len(sys.argv) > 3 else "one"
    clock = sys.argv[4] if len(sys.argv) > 4 else "wall"
    words = TOPOLOGY[topology]
    data = collect(run)
    raw = raw_ceiling(run)
    clients = [c for c in ("c", "base", "rs") if c in data]
    if not clients:
        sys.exit("bench-report: no results in " + run)
    ref = reference(data)
    cname = names(ref)
    prof = profiles(run, data, clients)
    kernel = open(os.path.join(run, "bench", "kernel.txt")).read().strip()
    module = os.path.join(run, "bench", "module.txt")
    module = open(module).read().strip().replace("\n", "; ") if os.path.exists(module) else "not loaded in this run"
    # A baseline build of ours (scripts/bench -b): its modinfo, and which
    # two files were compared.
    if "base" in data:
        base = [os.path.join(run, "bench", f) for f in ("module-base.txt", "base.txt")]
        base = "; ".join(open(f).read().strip().replace("\n", "; ") for f in base if os.path.exists(f))
        module += f"; baseline xprtrdma_rs: {base or 'not recorded'}"
    rev = os.path.join(run, "bench", "repo.txt")
    rev = open(rev).read().strip() if os.path.exists(rev) else "not recorded"
    rounds = len(next(iter(data[clients[0]].values())))
    md = [
        "# xprtrdma-rs benchmark", "",
        f"- command: `{command}`",
        f"- topology: {words['line']}",
        f"- clock: {CLOCK[clock]}",
        f"- NFSv3 over RDMA (rxe), tmpfs export, {rounds} round(s) in one boot; "
        "the clients take turns in ABBA order ({0}, {1}; {1}, {0}; ...)".format(
            short(cname[ref or "c"]), short(cname["rs"])),
        f"- guest kernel: {kernel}; xprtrdma_rs: {module}; built from the tree at {rev}",
        f"- clients run: {', '.join(cname[c] for c in clients)}",
    ]
    if variants(data) != [""]:
        md.append("- nconnect: " + ", ".join(v[3:] for v in variants(data)) + " (scripts/bench -n): "
                  "each client mounted once with each, every workload run on each mount; "
                  "a row's label says which")
    if "rs" not in data:
        md.append("- **ours did not run**: xprtrdma_rs has no data path yet, so only the C "
                  "client's figures and the raw ceiling are real; no ratio is given.")
    md += [
        "", "Each cell: median (min..max) over the rounds. " + words["cpu"], "",
        table(data, raw, clients, ref), "",
        *([scaling_section(data, clients, ref), ""] if scaling_ran(data) else []),
        words["events"], "",
        events_table(data, clients, ref), "",
        own_cost_table(prof, ref, clock), "",
        profile_diff(prof, ref, clock), "",
        f"Raw rxe ceiling ({words['raw']}; the "
        "% column divides each round's figure by that round's ceiling): " + ", ".join(
            f"{t} {cell(v)[0]} {'us' if t == 'ib_send_lat' else 'MB/s'}" for t, v in sorted(raw.items())), "",
    ]
    with open(os.path.join(run, "results.md"), "w") as f:
        f.write("\n".join(md))
    chart(data, raw, clients, ref, os.path.join(run, "results.png"), topology, clock)
    print("\n".join(md))


if __name__ == "__main__":
    main()
