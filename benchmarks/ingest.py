"""Ingest speed: rows/second for a CSV ledger (read + validate + write), side by side with
plain ``pyarrow.csv.read_csv`` + ``pyarrow.parquet.write_table`` of the same file.

Each method runs in its own process so that its peak memory (max RSS) is its own. Prints a
table and writes benchmarks/results/ingest.json.

    python benchmarks/ingest.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from pathlib import Path

COUNTIES = ["魏都区", "建安区", "鄢陵县", "襄城县", "禹州市", "长葛市"]
SECTORS = ["工贸", "建筑施工", "危险化学品", "消防", "人员密集场所", "特种设备"]
DEPARTMENTS = ["应急", "市场监管", "消防救援", "住建"]


def write_ledger(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("检查编号,检查日期,所属县区,行业,检查部门\n")
        for i in range(rows):
            f.write(f"B{i:08d},20{18 + i % 4}-{1 + i % 12:02d}-{1 + i % 28:02d},"
                    f"{COUNTIES[i % 6]},{SECTORS[i % 6]},{DEPARTMENTS[i % 4]}\n")


def run_baseline(ledger: Path, out: Path) -> int:
    import pyarrow.csv
    import pyarrow.parquet

    table = pyarrow.csv.read_csv(ledger)
    pyarrow.parquet.write_table(table, out / "baseline.parquet")
    return table.num_rows


def run_safetyviz(ledger: Path, out: Path) -> int:
    from safetyviz.ingest import ingest
    from safetyviz.paths import shipped_dir

    shutil.copytree(shipped_dir() / "regions", out / "regions")
    report = ingest(ledger, table="inspections", data_dir=out)
    assert report.rejected_total == 0, report.summary()
    return report.accepted


def _child(method: str, ledger: str, out: str, queue) -> None:
    # Imports are a fixed start-up cost, not a per-row one: done before the clock starts.
    import pyarrow.csv  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    if method == "safetyviz":
        import geopandas  # noqa: F401  (the catalog's region reader)

        import safetyviz.ingest  # noqa: F401
    start = time.perf_counter()
    rows = {"baseline": run_baseline, "safetyviz": run_safetyviz}[method](Path(ledger),
                                                                          Path(out))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"method": method, "rows": rows, "seconds": seconds, "peak_rss_mb": peak_mb})


def measure(method: str, ledger: Path, folder: Path) -> dict:
    out = folder / method
    out.mkdir()
    queue = mp.get_context("spawn").Queue()
    process = mp.get_context("spawn").Process(target=_child,
                                              args=(method, str(ledger), str(out), queue))
    process.start()
    result = queue.get()
    process.join()
    result["rows_per_second"] = result["rows"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    try:
        ledger = folder / "inspections.csv"
        write_ledger(ledger, args.rows)
        size_mb = ledger.stat().st_size / 1e6
        results = [measure(m, ledger, folder) for m in ("baseline", "safetyviz")]
    finally:
        shutil.rmtree(folder)
    ratio = results[1]["rows_per_second"] / results[0]["rows_per_second"]
    print(f"{args.rows:,} rows, {size_mb:.0f} MB CSV")
    print(f"{'method':<10} {'seconds':>8} {'rows/s':>11} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['method']:<10} {r['seconds']:>8.2f} {r['rows_per_second']:>11,.0f} "
              f"{r['peak_rss_mb']:>12,.0f}")
    print(f"safetyviz / baseline rate: {ratio:.2f} (target ≥ 0.33); "
          f"peak memory target < 1,500 MB")
    out = Path(__file__).parent / "results" / "ingest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": args.rows, "csv_mb": size_mb, "results": results,
                               "rate_ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
