# SPDX-License-Identifier: Apache-2.0
"""make demo's table: one row per (store, allocator, pooling) from the raw runs.

    table.py RUNS.tsv RESULTS.tsv HEADING  -> Markdown on stdout, a TSV for the chart

requests/s over all runs of a configuration (requests / time); latency percentiles the
mean of its runs'; allocations per request over all runs; peak RSS the highest; "RSS
beyond the store" is the resident size at the end of a run minus the bytes the
in-memory store holds (what the server itself keeps), the mean of the runs.
"""
import csv
import sys


def main(raw_path, results_path, heading):
    rows = list(csv.DictReader(open(raw_path), delimiter="\t"))
    groups = {}
    for r in rows:
        groups.setdefault((r["store"], r["allocator"], r["pooling"]), []).append(r)

    def total(runs, key):
        return sum(float(r[key]) for r in runs)

    def mean(runs, key):
        return total(runs, key) / len(runs)

    def rate(runs, hits, gets):
        g = total(runs, gets)
        return f"{total(runs, hits) / g:.4f}" if g > 0 else "-"

    results = []
    for (store, allocator, pooling), runs in groups.items():
        handled = max(total(runs, "handled"), 1)
        accepted = max(total(runs, "accepted"), 1)
        results.append({
            "store": store, "allocator": allocator, "pooling": pooling,
            "rps": total(runs, "requests") / (total(runs, "duration_us") / 1e6),
            "p50_ms": mean(runs, "p50_us") / 1000, "p99_ms": mean(runs, "p99_us") / 1000,
            "p999_ms": mean(runs, "p999_us") / 1000,
            "handler_allocs": total(runs, "handler_allocs") / handled,
            "handler_bytes": total(runs, "handler_bytes") / handled,
            "process_allocs": total(runs, "process_allocs") / accepted,
            "process_bytes": total(runs, "process_bytes") / accepted,
            "peak_rss_mb": max(float(r["peak_rss_mb"]) for r in runs),
            "rss_beyond_store_mb": sum(float(r["rss_mb"]) - float(r["store_mb"]) for r in runs) / len(runs),
            "hits": " / ".join((rate(runs, "sub_hits", "sub_gets"), rate(runs, "parser_hits", "parser_gets"),
                                rate(runs, "buf_hits", "buf_gets"))),
            "non2xx": int(total(runs, "non2xx")),
        })

    with open(results_path, "w") as f:
        keys = list(results[0].keys())
        f.write("\t".join(keys) + "\n")
        for r in results:
            f.write("\t".join(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + "\n")

    print(heading)
    print()
    print("| store | allocator | pooling | requests/s | p50 ms | p99 ms | p99.9 ms | allocs/req (handler) "
          "| bytes/req (handler) | allocs/req (process) | bytes/req (process) | peak RSS MB "
          "| RSS beyond the store MB | hit rate: submissions / parsers / buffers | non-2xx |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in results:
        print(f"| {r['store']} | {r['allocator']} | {r['pooling']} | {r['rps']:.0f} | {r['p50_ms']:.3f} "
              f"| {r['p99_ms']:.3f} | {r['p999_ms']:.3f} | {r['handler_allocs']:.2f} | {r['handler_bytes']:.0f} "
              f"| {r['process_allocs']:.2f} | {r['process_bytes']:.0f} | {r['peak_rss_mb']:.1f} "
              f"| {r['rss_beyond_store_mb']:.1f} | {r['hits']} | {r['non2xx']} |")
    print()

    by = {(r["store"], r["allocator"], r["pooling"]): r for r in results}
    base = by.get(("memory", "glibc", "off"))
    for (store, allocator, pooling), r in by.items():
        if pooling != "on" or (store, allocator, "off") not in by:
            continue
        off = by[(store, allocator, "off")]
        line = (f"{store} store, {allocator}: pooling on/off {r['rps'] / off['rps']:.2f}x requests/s, "
                f"p99 {r['p99_ms'] / off['p99_ms']:.2f}x")
        if base is not None and store == "memory":
            line += (f"; against glibc without pooling: allocator alone {off['rps'] / base['rps']:.2f}x, "
                     f"allocator and pooling {r['rps'] / base['rps']:.2f}x")
        print(line)


if __name__ == "__main__":
    main(*sys.argv[1:4])
