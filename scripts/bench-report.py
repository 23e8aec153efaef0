#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn one `make bench` run (out/bench/<time>/) into results.md and results.png.

Every figure is the median over the rounds, with the spread (min..max) beside
it; ours/C is the ratio of the medians. Numbers from different boots are
never mixed: everything here comes from the one run directory given.
"""
import glob
import json
import os
import re
import statistics
import subprocess
import sys

CLIENT_NAMES = {"c": "C (rpcrdma)", "rs": "ours (xprtrdma_rs)"}

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


def collect(run):
    """{client: {metric_key: [value per round]}}, plus CPU us per op."""
    data = {}
    for path in sorted(glob.glob(os.path.join(run, "bench", "r*-*.cpu"))):
        m = re.match(r"r(\d+)-(\w+)-(.+)\.cpu$", os.path.basename(path))
        _, client, job = m.groups()
        d = data.setdefault(client, {})
        cpu = kv(path)
        base = path[: -len(".cpu")]
        if job.startswith("meta-"):
            ops = kv(re.sub(r"-meta-\w+$", "-meta", base) + ".meta")["ops"]
            d.setdefault(f"{job}:ops", []).append(ops / cpu["wall_s"])
        else:
            fm = fio_metrics(base + ".json")
            for k in ("iops", "mbs", "lat_mean", "lat_p50", "lat_p99"):
                d.setdefault(f"{job}:{k}", []).append(fm[k])
            ops = fm["ios"]
        d.setdefault(f"{job}:cpu", []).append(cpu["cpu_ms"] * 1000 / max(ops, 1))
    return data


def raw_ceiling(run):
    out = {}
    for t in ("ib_read_bw", "ib_write_bw"):
        p = os.path.join(run, "bench", f"raw-{t}.txt")
        if os.path.exists(p):
            for line in open(p):
                f = line.split()
                if len(f) >= 4 and f[0] == "1048576":
                    out[t] = float(f[3]) * 1.048576  # perftest MB is MiB
    p = os.path.join(run, "bench", "raw-ib_send_lat.txt")
    if os.path.exists(p):
        for line in open(p):
            f = line.split()
            if len(f) >= 6 and f[0] == "4096":
                out["ib_send_lat"] = float(f[4])  # t_typical, us
    return out


def fmt(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def cell(vals):
    if not vals:
        return "not run", None
    med = statistics.median(vals)
    return f"{fmt(med)} ({fmt(min(vals))}..{fmt(max(vals))})", med


def table(data, raw, clients):
    have_rs = "rs" in data
    head = ["workload", "unit"] + [CLIENT_NAMES[c] for c in clients]
    head += ["ours/C"] if have_rs and "c" in data else []
    head += ["% of rxe ceiling (" + ", ".join(CLIENT_NAMES[c].split()[0] for c in clients) + ")"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = [(k, l, u, h) for k, l, u, h in ROWS]
    rows += [(f"{j}:cpu", f"CPU per op: {j}", "us", False) for j in CPU_JOBS]
    for key, label, unit, higher_is_better in rows:
        cells, meds = [], {}
        for c in clients:
            text, med = cell(data.get(c, {}).get(key, []))
            cells.append(text)
            meds[c] = med
        line = [label, unit if higher_is_better else unit + ", lower is better"] + cells
        if have_rs and "c" in data:
            line.append(f"{meds['rs'] / meds['c']:.2f}" if meds.get("rs") and meds.get("c") else "")
        ceil = raw.get(CEILING.get(key, ""), 0)
        line.append(", ".join(f"{100 * meds[c] / ceil:.0f}%" for c in clients if meds.get(c))
                    if ceil else "")
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines)


def chart(data, raw, clients, png):
    panels = [
        ("IOPS, 4 KiB random, QD32", ["randread-4k-qd32:iops", "randwrite-4k-qd32:iops"], ["read", "write"]),
        ("MB/s, 1 MiB sequential, QD8", ["read-1m-qd8:mbs", "write-1m-qd8:mbs"], ["read", "write"]),
        ("latency (us), 4 KiB QD1", ["randread-4k-qd1:lat_p50", "randread-4k-qd1:lat_p99",
                                     "randwrite-4k-qd1:lat_p50", "randwrite-4k-qd1:lat_p99"],
         ["rd p50", "rd p99", "wr p50", "wr p99"]),
        ("ops/s, metadata", ["meta-create:ops", "meta-stat:ops", "meta-unlink:ops"],
         ["create", "stat", "unlink"]),
    ]
    datfiles, script = [], [
        "set terminal pngcairo size 1400,900 font ',10' noenhanced",
        f"set output '{png}'",
        "set multiplot layout 2,2 title 'xprtrdma-rs vs the in-tree C client "
        "(medians, bars: min..max over rounds)'",
        "set style data histograms", "set style histogram errorbars gap 2 lw 1",
        "set style fill solid 0.6 border -1", "set yrange [0:*]", "set offsets 0, 0, graph 0.12, 0",
        "set key top left",
        "set grid ytics",
    ]
    for i, (title, keys, labels) in enumerate(panels):
        dat = png + f".{i}.dat"
        with open(dat, "w") as f:
            for key, lab in zip(keys, labels):
                row = [f'"{lab}"']
                for c in clients:
                    v = data.get(c, {}).get(key, [])
                    row += [str(statistics.median(v)), str(min(v)), str(max(v))] if v else ["0", "0", "0"]
                f.write(" ".join(row) + "\n")
            if i == 1:
                for t, lab in (("ib_write_bw", "rxe RDMA Write"), ("ib_read_bw", "rxe RDMA Read")):
                    if t in raw:
                        v = str(raw[t])
                        f.write(f'"{lab}" ' + " ".join([v, v, v] * len(clients)) + "\n")
        datfiles.append(dat)
        plots = ", ".join(
            f"'{dat}' using {2 + 3 * j}:{3 + 3 * j}:{4 + 3 * j}:xtic(1) title '{CLIENT_NAMES[c]}'"
            for j, c in enumerate(clients))
        script += [f"set title '{title}'", f"plot {plots}"]
    script.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)
    for d in datfiles:
        os.remove(d)


def main():
    run, command = sys.argv[1], sys.argv[2]
    data = collect(run)
    raw = raw_ceiling(run)
    clients = [c for c in ("c", "rs") if c in data]
    if not clients:
        sys.exit("bench-report: no results in " + run)
    kernel = open(os.path.join(run, "bench", "kernel.txt")).read().strip()
    module = os.path.join(run, "bench", "module.txt")
    module = open(module).read().strip().replace("\n", "; ") if os.path.exists(module) else "not loaded in this run"
    rounds = len(next(iter(data[clients[0]].values())))
    md = [
        "# xprtrdma-rs benchmark", "",
        f"- command: `{command}`",
        f"- one VM boot (QEMU TCG, 2 vCPUs), NFSv3 over RDMA (rxe), tmpfs export, {rounds} round(s)",
        f"- guest kernel: {kernel}; xprtrdma_rs: {module}",
        f"- clients run: {', '.join(CLIENT_NAMES[c] for c in clients)}",
    ]
    if "rs" not in data:
        md.append("- **ours did not run**: xprtrdma_rs has no data path yet, so only the C "
                  "client's figures and the raw ceiling are real; no ratio is given.")
    md += [
        "", "Each cell: median (min..max) over the rounds. CPU per op is the whole guest's busy",
        "time (client, server and rxe share it) divided by the operations done.", "",
        table(data, raw, clients), "",
        "Raw rxe ceiling (perftest, same boot): " + ", ".join(
            f"{t} {fmt(v)} {'us' if t == 'ib_send_lat' else 'MB/s'}" for t, v in sorted(raw.items())), "",
    ]
    with open(os.path.join(run, "results.md"), "w") as f:
        f.write("\n".join(md))
    chart(data, raw, clients, os.path.join(run, "results.png"))
    print("\n".join(md))


if __name__ == "__main__":
    main()
