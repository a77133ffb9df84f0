#!/usr/bin/env python3
"""FAISS side of the visage-index benchmark (`cargo run --release -p visage-index --example bench_index`).

Reads the gallery and queries that the Rust example wrote (raw little-endian f32, row-major) and the exact
top-1 row of every query, then measures IndexFlatIP and IndexHNSWFlat with the same thread count: build
time, memory, single-query latency (p50/p99) and queries per second, batch queries per second and
recall@1. For HNSW, efSearch is swept and the smallest value reaching --target-recall is reported (the
recall visage's HNSW reached), so both sides are compared at the same recall. Prints one JSON object.

Needs: pip install -r bench/requirements.txt (numpy, faiss-cpu).
"""

import argparse
import json
import os
import sys
import time

import faiss
import numpy as np

EF_SWEEP = [16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 384, 512, 768, 1024]


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def load(path, dim):
    a = np.fromfile(path, dtype="<f4")
    assert a.size % dim == 0, f"{path}: {a.size} values is not a multiple of {dim}"
    return np.ascontiguousarray(a.reshape(-1, dim))


def single_query(index, queries, repeats):
    """Best of `repeats` passes of one query at a time: (latencies in s, total s, top-1 rows, least
    CPU time of the calling thread in a pass in s; a single-query HNSW search runs on that thread alone)."""
    best = None
    best_cpu = float("inf")
    for _ in range(repeats):
        lat = np.empty(len(queries))
        top = np.empty(len(queries), dtype=np.int64)
        cpu = time.thread_time()
        start = time.perf_counter()
        for i in range(len(queries)):
            t = time.perf_counter()
            _, ids = index.search(queries[i : i + 1], 1)
            lat[i] = time.perf_counter() - t
            top[i] = ids[0, 0]
        total = time.perf_counter() - start
        best_cpu = min(best_cpu, time.thread_time() - cpu)
        if best is None or total < best[1]:
            best = (lat, total, top)
    return best + (best_cpu,)


def batch_qps(index, queries, repeats):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        index.search(queries, 1)
        best = min(best, time.perf_counter() - t)
    return len(queries) / best


def measure(name, index, queries, truth, repeats, build, memory, rss_delta, extra=None):
    """`build` is (wall s, process CPU s) of the best build."""
    lat, total, top, cpu = single_query(index, queries, repeats)
    out = {
        "name": name,
        "build_s": build[0],
        "build_cpu_s": build[1],
        "memory_bytes": int(memory),
        "rss_delta_bytes": int(rss_delta),
        "p50_ms": float(np.percentile(lat, 50) * 1e3),
        "p99_ms": float(np.percentile(lat, 99) * 1e3),
        "qps": len(queries) / total,
        "cpu_qps": len(queries) / cpu,
        "batch_qps": batch_qps(index, queries, repeats),
        "recall_at_1": float(np.mean(top == truth)),
    }
    out.update(extra or {})
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gallery", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--truth", required=True, help="int64 exact top-1 gallery row per query")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="timing passes; the best is reported")
    p.add_argument("--build-repeats", type=int, default=2)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=128)
    p.add_argument("--target-recall", type=float, default=0.99)
    p.add_argument("--skip-hnsw", action="store_true")
    p.add_argument("--skip-flat", action="store_true", help="HNSW only (bench_index --hnsw-only)")
    p.add_argument("--full-sweep", action="store_true",
                   help="sweep every efSearch instead of stopping at the first that reaches --target-recall")
    p.add_argument("--verbose", action="store_true", help="FAISS's progress output while building (to stderr)")
    args = p.parse_args()

    faiss.omp_set_num_threads(args.threads)
    gallery = load(args.gallery, args.dim)
    queries = load(args.queries, args.dim)
    truth = np.fromfile(args.truth, dtype="<i8")
    n, d = gallery.shape
    results = {"faiss_version": faiss.__version__, "threads": args.threads, "n": n, "queries": len(queries),
               "simd": faiss.get_compile_options()}

    # IndexFlatIP: "build" is a copy of the vectors.
    best_build, best_cpu, rss_delta, flat = float("inf"), float("inf"), 0, None
    for r in range(0 if args.skip_flat else args.build_repeats):
        flat = None
        before = rss_bytes()
        t, cpu = time.perf_counter(), time.process_time()
        flat = faiss.IndexFlatIP(d)
        flat.add(gallery)
        best_build = min(best_build, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        if r == 0:
            rss_delta = rss_bytes() - before
    if not args.skip_flat:
        results["flat"] = measure("faiss IndexFlatIP", flat, queries, truth, args.repeats, (best_build, best_cpu),
                                  n * d * 4, rss_delta)
    flat = None

    if not args.skip_hnsw:
        best_build, best_cpu, rss_delta, hnsw = float("inf"), float("inf"), 0, None
        if args.verbose:
            # FAISS prints its progress on the C stdout; send it to stderr so stdout stays one JSON object.
            sys.stdout.flush()
            saved_stdout = os.dup(1)
            os.dup2(2, 1)
        for r in range(args.build_repeats):
            hnsw = None
            before = rss_bytes()
            t, cpu = time.perf_counter(), time.process_time()
            hnsw = faiss.IndexHNSWFlat(d, args.m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = args.ef_construction
            hnsw.verbose = args.verbose
            hnsw.add(gallery)
            best_build = min(best_build, time.perf_counter() - t)
            best_cpu = min(best_cpu, time.process_time() - cpu)
            if r == 0:
                rss_delta = rss_bytes() - before
            print(f"faiss HNSW build {time.perf_counter() - t:.1f} s", file=sys.stderr)
        if args.verbose:
            os.dup2(saved_stdout, 1)
            os.close(saved_stdout)
        h = hnsw.hnsw
        memory = n * d * 4 + h.neighbors.size() * 4 + h.offsets.size() * 8 + h.levels.size() * 4
        sweep = []
        chosen = None
        for ef in EF_SWEEP:
            hnsw.hnsw.efSearch = ef
            _, total, top, cpu = single_query(hnsw, queries, args.repeats)
            recall = float(np.mean(top == truth))
            sweep.append({"ef_search": ef, "recall_at_1": recall, "qps": len(queries) / total,
                          "cpu_qps": len(queries) / cpu})
            print(f"faiss HNSW efSearch {ef}: recall@1 {recall:.4f}, {len(queries) / cpu:.0f} qps per CPU s",
                  file=sys.stderr)
            if recall >= args.target_recall and chosen is None:
                chosen = ef
                if not args.full_sweep:
                    break
        if chosen is None:
            chosen = EF_SWEEP[-1]
        hnsw.hnsw.efSearch = chosen
        results["hnsw"] = measure("faiss IndexHNSWFlat", hnsw, queries, truth, args.repeats, (best_build, best_cpu),
                                  memory, rss_delta,
                                  {"ef_search": chosen, "m": args.m, "ef_construction": args.ef_construction,
                                   "sweep": sweep})
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()
