#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
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


def row(med, name, label, unit_ns=True, counters=()):
    m = med.get(name)
    if m is None:
        return None
    b = m["b"]
    cells = [label, fmt(m["ns"]) if unit_ns else f"{m['ns'] / 1e6:.1f} ms"]
    for c in counters:
        v = b.get(c)
        cells.append("—" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v)))
    return "| " + " | ".join(cells) + " |"


def other_tables(med):
    groups = [
        ("BufferPool get + return of a small buffer, and get + append 100 B + return (per thread)", [
            ("BM_GetReturn_BufferPool/real_time/threads:1", "BufferPool get+return, 1 thread"),
            ("BM_GetReturn_BufferPool/real_time/threads:2", "BufferPool get+return, 2 threads"),
            ("BM_Small_BufferPool/real_time/threads:1", "BufferPool get+append+return, 1 thread"),
            ("BM_Small_PoolOfString/real_time/threads:1", "Pool<std::string> (no calibration), 1 thread"),
            ("BM_Small_NewChar/real_time/threads:1", "new char[256] + delete[], 1 thread"),
            ("BM_Small_BufferPool/real_time/threads:2", "BufferPool get+append+return, 2 threads"),
            ("BM_Small_PoolOfString/real_time/threads:2", "Pool<std::string>, 2 threads"),
            ("BM_Small_NewChar/real_time/threads:2", "new char[256], 2 threads")], True, ()),
        ("Memory amplification: 2 threads, 1e6 ops, 64 buffers held, 1% grown to 1 MiB", [
            ("BM_Amplify_BufferPool/iterations:1/real_time", "BufferPool"),
            ("BM_Amplify_PoolOfString/iterations:1/real_time", "Pool<std::string> (plain, unbounded)")], False,
            ("retained_MiB", "floor_KiB")),
        ("std::pmr: vector<int> grown to 256 and dropped (ns per vector, per thread)", [
            ("BM_PmrVector/resource:0/real_time/threads:1", "cistern::PoolResource, 1 thread"),
            ("BM_PmrVector/resource:1/real_time/threads:1", "synchronized_pool_resource, 1 thread"),
            ("BM_PmrVector/resource:2/real_time", "unsynchronized_pool_resource, 1 thread"),
            ("BM_PmrVector/resource:3/real_time/threads:1", "new_delete_resource, 1 thread"),
            ("BM_PmrVector/resource:4/real_time/threads:1", "mimalloc, 1 thread"),
            ("BM_PmrVector/resource:0/real_time/threads:2", "cistern::PoolResource, 2 threads"),
            ("BM_PmrVector/resource:1/real_time/threads:2", "synchronized_pool_resource, 2 threads"),
            ("BM_PmrVector/resource:3/real_time/threads:2", "new_delete_resource, 2 threads"),
            ("BM_PmrVector/resource:4/real_time/threads:2", "mimalloc, 2 threads")], True, ()),
        ("std::pmr: 8 strings of 20-55 chars made and dropped (ns per iteration, per thread)", [
            ("BM_PmrStrings/resource:0/real_time/threads:1", "cistern::PoolResource, 1 thread"),
            ("BM_PmrStrings/resource:1/real_time/threads:1", "synchronized_pool_resource, 1 thread"),
            ("BM_PmrStrings/resource:2/real_time", "unsynchronized_pool_resource, 1 thread"),
            ("BM_PmrStrings/resource:3/real_time/threads:1", "new_delete_resource, 1 thread"),
            ("BM_PmrStrings/resource:4/real_time/threads:1", "mimalloc, 1 thread"),
            ("BM_PmrStrings/resource:0/real_time/threads:2", "cistern::PoolResource, 2 threads"),
            ("BM_PmrStrings/resource:1/real_time/threads:2", "synchronized_pool_resource, 2 threads"),
            ("BM_PmrStrings/resource:3/real_time/threads:2", "new_delete_resource, 2 threads"),
            ("BM_PmrStrings/resource:4/real_time/threads:2", "mimalloc, 2 threads")], True, ()),
        ("ResourcePool acquire + release (per thread), and one resource held ~1 us by 1/2/4 threads (per acquire)", [
            ("BM_Idle_Cistern/real_time/threads:1", "cistern idle, 1 thread"),
            ("BM_Idle_MutexCondvar/real_time/threads:1", "mutex+condvar idle, 1 thread"),
            ("BM_Idle_Cistern/real_time/threads:2", "cistern idle, 2 threads"),
            ("BM_Idle_MutexCondvar/real_time/threads:2", "mutex+condvar idle, 2 threads"),
            ("BM_Contended_Cistern/real_time/threads:1", "cistern, 1 resource, 1 thread"),
            ("BM_Contended_MutexCondvar/real_time/threads:1", "mutex+condvar, 1 resource, 1 thread"),
            ("BM_Contended_Cistern/real_time/threads:2", "cistern, 1 resource, 2 threads"),
            ("BM_Contended_MutexCondvar/real_time/threads:2", "mutex+condvar, 1 resource, 2 threads"),
            ("BM_Contended_Cistern/real_time/threads:4", "cistern, 1 resource, 4 threads"),
            ("BM_Contended_MutexCondvar/real_time/threads:4", "mutex+condvar, 1 resource, 4 threads"),
            ("BM_RedisPing/min_time:1.000/real_time/threads:8", "Redis PING through the pool, 8 threads (per op; counter: redis-benchmark -c 8 req/s)")],
            True, ("items_per_second", "redis_benchmark_c8_rps")),
        ("WorkerPool (2 threads for every contender)", [
            ("BM_Tiny_WorkerPool/iterations:3/real_time", "1e6 tiny tasks: WorkerPool"),
            ("BM_Tiny_QueuePool/iterations:3/real_time", "1e6 tiny tasks: mutex+condvar queue pool"),
            ("BM_TinyShared_WorkerPool/iterations:3/real_time", "1e6 tiny tasks on one shared counter: WorkerPool"),
            ("BM_TinyShared_QueuePool/iterations:3/real_time", "1e6 tiny tasks on one shared counter: queue pool"),
            ("BM_TinyBusyHost_WorkerPool/backlog:64/iterations:3/real_time",
             "1e6 tiny tasks, busy host: WorkerPool (backlog 64)"),
            ("BM_TinyBusyHost_WorkerPool/backlog:256/iterations:3/real_time",
             "1e6 tiny tasks, busy host: WorkerPool (backlog 256, the default)"),
            ("BM_TinyBusyHost_WorkerPool/backlog:1024/iterations:3/real_time",
             "1e6 tiny tasks, busy host: WorkerPool (backlog 1024)"),
            ("BM_TinyBusyHost_QueuePool/iterations:3/real_time", "1e6 tiny tasks, busy host: queue pool"),
            ("BM_Tiny_StdAsync/iterations:1/real_time", "1e5 tiny tasks: std::async (256 outstanding)"),
            ("BM_Tiny_ThreadPerTask/iterations:1/real_time", "1e4 tiny tasks: a thread per task"),
            ("BM_Work_WorkerPool/backlog:64/iterations:2/real_time", "1e5 tasks of 10 us: WorkerPool (backlog 64)"),
            ("BM_Work_WorkerPool/backlog:256/iterations:2/real_time",
             "1e5 tasks of 10 us: WorkerPool (backlog 256, the default)"),
            ("BM_Work_QueuePool/iterations:2/real_time", "1e5 tasks of 10 us: queue pool"),
            ("BM_WorkBusyHost_WorkerPool/backlog:64/iterations:1/real_time",
             "1e5 tasks of 10 us, busier host: WorkerPool (backlog 64)"),
            ("BM_WorkBusyHost_WorkerPool/backlog:256/iterations:1/real_time",
             "1e5 tasks of 10 us, busier host: WorkerPool (backlog 256, the default)"),
            ("BM_WorkBusyHost_WorkerPool/backlog:1024/iterations:1/real_time",
             "1e5 tasks of 10 us, busier host: WorkerPool (backlog 1024)"),
            ("BM_WorkBusyHost_QueuePool/iterations:1/real_time", "1e5 tasks of 10 us, busier host: queue pool")], False,
            ("items_per_second", "threads", "peak_rss_MiB")),
        ("Submit-to-start latency with an idle pool (warm: busy 200 us before; cold: idle 20 ms)", [
            ("BM_Latency_WorkerPool/gap_us:200/iterations:400/real_time", "WorkerPool, warm"),
            ("BM_Latency_QueuePool/gap_us:200/iterations:400/real_time", "queue pool, warm"),
            ("BM_Latency_WorkerPool/gap_us:20000/iterations:400/real_time", "WorkerPool, cold"),
            ("BM_Latency_QueuePool/gap_us:20000/iterations:400/real_time", "queue pool, cold")], True,
            ("p50_us", "p99_us")),
    ]
    ring = [(n, l) for n, l in (("BM_Ring_ByteRing/64/real_time", "ByteRing, 64 B messages"),
                                 ("BM_Ring_PlainCopyOnWrap/64/real_time", "plain ring + copy on wrap, 64 B"),
                                 ("BM_Ring_ByteRing/16384/real_time", "ByteRing, 16 KiB messages"),
                                 ("BM_Ring_PlainCopyOnWrap/16384/real_time", "plain ring + copy on wrap, 16 KiB"))
            if n in med]
    if ring:
        print("\n### Byte rings: producer -> consumer throughput (consumer reads each message contiguously)\n")
        print("| case | GB/s |")
        print("|---|---|")
        for n, l in ring:
            print(f"| {l} | {med[n]['b'].get('bytes_per_second', 0) / 1e9:.2f} |")
    for title, rows, unit_ns, counters in groups:
        lines = [r for r in (row(med, n, l, unit_ns, counters) for n, l in rows) if r]
        if not lines:
            continue
        print(f"\n### {title}\n")
        print("| case | time | " + " | ".join(counters) + " |")
        print("|---" * (2 + len(counters)) + "|")
        print("\n".join(lines))


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
    other_tables(med)
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
