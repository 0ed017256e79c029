#!/usr/bin/env python3
"""Turns Google Benchmark JSON (with repetitions) into the Markdown tables of
docs/PERF.md: medians per contender and each peer's ratio to cistern."""
import json
import re
import sys

CONTENDERS = [
    ("CisternPool", "cistern::Pool"),
    ("NewDelete", "new/delete (glibc)"),
    ("Mimalloc", "mimalloc"),
    ("BoostObjectPool", "boost::object_pool"),
    ("SyncPmr", "pmr::synchronized_pool"),
    ("MutexFreeList", "mutex+vector"),
    ("MoodycamelFreeList", "moodycamel queue"),
]
SIZES = [64, 256, 1024, 4096]


def load(paths):
    medians, context = {}, None
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        context = context or data["context"]
        for b in data["benchmarks"]:
            if b.get("aggregate_name") != "median":
                continue
            name = b["run_name"]
            ns = b["real_time"] * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
            # With N threads Google Benchmark divides the wall time by the
            # iterations of all threads; per thread, each pair took N times that.
            m = re.search(r"/threads:(\d+)", name)
            if m:
                ns *= int(m.group(1))
            items = b.get("items_per_second")
            medians[name] = {"ns": ns, "per_item_ns": 1e9 / items if items else None, "b": b}
    return medians, context


def fmt(v, unit="ns"):
    if v is None:
        return "—"
    return f"{v:.1f} {unit}" if v >= 10 else f"{v:.2f} {unit}"


def key(bm, contender, size, threads=None):
    k = f"{bm}<{contender}<{size}>>/real_time"
    return k + (f"/threads:{threads}" if threads else "")


def table_by_size(title, med, bm, threads=None, contenders=CONTENDERS, per_item=False):
    print(f"\n### {title}\n")
    print("| object | " + " | ".join(label for _, label in contenders) + " |")
    print("|---" * (len(contenders) + 1) + "|")
    for size in SIZES:
        row, base = [], None
        for c, _ in contenders:
            m = med.get(key(bm, c, size, threads)) or (med.get(key(bm, c, size)) if threads == 1 else None)
            v = None if m is None else (m["per_item_ns"] if per_item else m["ns"])
            if c == "CisternPool":
                base = v
                row.append(f"**{fmt(v)}**")
            elif v is None:
                row.append("—")
            else:
                ratio = f" ({v / base:.1f}x)" if base else ""
                row.append(fmt(v) + ratio)
        print(f"| {size} B | " + " | ".join(row) + " |")


def group_table(med, prefix, ours, title):
    names = []
    for k in med:
        m = re.match(re.escape(prefix) + r"(\w+)/real_time/threads:(\d+)", k)
        if m and m.group(1) not in names:
            names.append(m.group(1))
    if not names:
        return
    names.sort(key=lambda n: (n != ours, n))
    print(f"\n### {title}\n")
    print("| threads | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for threads in (1, 2):
        base = med.get(f"{prefix}{ours}/real_time/threads:{threads}")
        row = []
        for n in names:
            m = med.get(f"{prefix}{n}/real_time/threads:{threads}")
            if m is None:
                row.append("—")
            elif n == ours:
                row.append(f"**{fmt(m['ns'])}**")
            else:
                row.append(f"{fmt(m['ns'])} ({m['ns'] / base['ns']:.1f}x)" if base else fmt(m["ns"]))
        print(f"| {threads} | " + " | ".join(row) + " |")


def main(paths):
    med, ctx = load(paths)
    print(f"Machine: {ctx.get('host_name', '?')}, {ctx.get('num_cpus')} CPUs at {ctx.get('mhz_per_cpu')} MHz; "
          f"library build: {ctx.get('library_build_type')}; run at {ctx.get('date')}.")
    print("Medians of the repetitions; in brackets each peer's time as a multiple of cistern's.")
    floor1 = med.get("BM_Floor/real_time/threads:1")
    floor2 = med.get("BM_Floor/real_time/threads:2")
    if floor1:
        print(f"\nFloor (thread-local array push+pop): {fmt(floor1['ns'])} on 1 thread, "
              f"{fmt(floor2['ns']) if floor2 else '—'} per thread on 2 threads.")
    if any(k.startswith("BM_GetPut") for k in med):
        table_by_size("get + put, 1 thread (ns per pair)", med, "BM_GetPut", threads=1)
        table_by_size("get + put, 2 threads each in its own loop (ns per pair, per thread)", med, "BM_GetPut",
                      threads=2, contenders=[c for c in CONTENDERS if c[0] != "BoostObjectPool"])
    if any(k.startswith("BM_HandOff") for k in med):
        hand = [c for c in CONTENDERS if c[0] != "BoostObjectPool"]
        print("\n### producer -> SPSC ring -> consumer hand-off (ns per object; pool cost = total - ring)\n")
        print("| object | ring alone | " + " | ".join(label for _, label in hand) + " |")
        print("|---" * (len(hand) + 2) + "|")
        for size in SIZES:
            ring = med.get(f"BM_RingOnly<{size}>/real_time")
            ring_ns = ring["ns"] if ring else None
            row = []
            base = med.get(f"BM_HandOff<CisternPool<{size}>>/real_time")
            base_ns = base["ns"] if base else None
            for c, _ in hand:
                m = med.get(f"BM_HandOff<{c}<{size}>>/real_time")
                if m is None:
                    row.append("—")
                    continue
                cost = f" [{m['ns'] - ring_ns:.1f}]" if ring_ns is not None else ""
                if c == "CisternPool":
                    row.append(f"**{fmt(m['ns'])}**{cost}")
                else:
                    row.append(f"{fmt(m['ns'])}{cost} ({m['ns'] / base_ns:.1f}x)")
            print(f"| {size} B | {fmt(ring_ns)} | " + " | ".join(row) + " |")
        print("\nIn square brackets: the pool's own cost per object (total minus the ring alone).")
    if any(k.startswith("BM_Batch") for k in med):
        table_by_size("batch of 1000 gets then 1000 puts, 1 thread (ns per object)", med, "BM_Batch", per_item=True)
    group_table(med, "BM_Shared_", "SharedPool",
                "SharedPool get + one copy + drop both (ns per iteration, per thread)")
    group_table(med, "BM_Load_", "Snapshot",
                "Snapshot load + read one field, writer storing every 1 ms (ns per read, per thread)")
    bufs = {n: med.get(f"BM_Buffers_{n}/iterations:5/real_time") for n in ("NoBuffer", "NewDelete", "Cistern")}
    if any(bufs.values()):
        print("\n### buffer workload: 50 threads x 20000 x (get 1 KiB buffer, write, put)\n")
        print("| contender | wall time | vs no buffer | heap allocations per 100 ops | bytes allocated per op |")
        print("|---|---|---|---|---|")
        floor = bufs["NoBuffer"]["ns"] if bufs["NoBuffer"] else None
        for n, label in (("NoBuffer", "no buffer (floor)"), ("NewDelete", "new/delete"), ("Cistern", "cistern::Pool")):
            m = bufs[n]
            if not m:
                continue
            b = m["b"]
            rel = f"{m['ns'] / floor:.2f}x" if floor else "—"
            print(f"| {label} | {m['ns'] / 1e6:.1f} ms | {rel} | {b.get('allocs_per_100_ops', 0):.4f} | "
                  f"{b.get('bytes_per_op', 0):.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
