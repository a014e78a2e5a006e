"""Ingest speed: rows/second for a CSV ledger (read + validate + link every row to the
enterprise register + write), side by side with plain ``pyarrow.csv.read_csv`` +
``pyarrow.parquet.write_table`` of the same file.

The ledger names its firms as county ledgers do: by name (a share ``--variants``, half by
default, written with another legal form or other brackets than the register's: 有限责任公司
for 有限公司, (演示) for （演示）), one row in five with a credit code, against a register of
``--firms`` firms; a tenth of the rows name firms the register does not hold (they become
provisional firms).
Each method runs in its own process so that its peak memory (max RSS) is its own; the
register is written before the clock starts. Prints a table and writes
benchmarks/results/ingest.json.

    python benchmarks/ingest.py [--rows 1000000] [--firms 100000]
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


UNREGISTERED_SHARE = 0.1  # of the ledger's rows
CODED_SHARE = 0.2  # rows that give the firm's credit code


def firm_name(i: int, county: str) -> str:
    return f"（演示）{county[:2]}{i:06d}号商贸有限公司"


def register(firms: int):
    """The register: ``firms`` firms over the six counties, every other one with a code."""
    import pandas as pd

    from safetyviz.synth.demo import demo_credit_code

    adcodes = ["411002", "411003", "411024", "411025", "411081", "411082"]
    return pd.DataFrame({
        "enterprise_id": [f"E{i:07d}" for i in range(firms)],
        "credit_code": [demo_credit_code(adcodes[i % 6], f"E{i}") if i % 2 == 0 else None
                        for i in range(firms)],
        "name": [firm_name(i, COUNTIES[i % 6]) for i in range(firms)], "aliases": None,
        "adcode": [adcodes[i % 6] for i in range(firms)], "sector": "industry_trade",
        "scale": "below", "licence": "none", "risk_level": "blue", "dual_prevention": "none",
        "lon": None, "lat": None, "registered": True, "batch": "register", "closed_on": None})


def write_ledger(path: Path, rows: int, firms: int, variants: float = 0.5) -> None:
    import numpy as np

    rng = np.random.default_rng(2020)
    respelt = rng.random(rows) < variants
    frame = register(firms)
    codes = frame["credit_code"].to_numpy()
    firm = rng.integers(0, firms, rows)
    unregistered = rng.random(rows) < UNREGISTERED_SHARE
    coded = rng.random(rows) < CODED_SHARE
    with open(path, "w", encoding="utf-8") as f:
        f.write("检查编号,检查日期,所属县区,企业名称,统一社会信用代码,行业,检查部门\n")
        for i in range(rows):
            k = int(firm[i])
            county = COUNTIES[k % 6]
            if unregistered[i]:  # 10,000 firms no register holds
                k %= 10_000
                county = COUNTIES[k % 6]
                name, code = f"{county[:2]}新开{k:05d}号加工厂", ""
            else:
                name = firm_name(k, county)
                if respelt[i]:  # written otherwise than the register writes it
                    name = name.replace("有限公司", "有限责任公司").replace("（演示）", "(演示)")
                code = codes[k] if coded[i] and isinstance(codes[k], str) else ""
            f.write(f"B{i:08d},20{18 + i % 4}-{1 + i % 12:02d}-{1 + i % 28:02d},"
                    f"{county},{name},{code},{SECTORS[i % 6]},{DEPARTMENTS[i % 4]}\n")


def run_baseline(ledger: Path, out: Path) -> int:
    import pyarrow.csv
    import pyarrow.parquet

    table = pyarrow.csv.read_csv(ledger)
    pyarrow.parquet.write_table(table, out / "baseline.parquet")
    return table.num_rows


def prepare_safetyviz(out: Path, firms: int) -> None:
    """The data dir: the shipped regions and a register of ``firms`` firms (written as
    `safetyviz enterprises register` writes one)."""
    import polars as pl

    from safetyviz.core.paths import shipped_dir
    from safetyviz.data import store
    from safetyviz.ingest import register as register_module

    shutil.copytree(shipped_dir() / "regions", out / "regions")
    firms_frame = pl.from_pandas(register(firms)).with_columns(
        pl.col("lon", "lat").cast(pl.Float64), pl.col("closed_on").cast(pl.Date))

    def update(current):
        return firms_frame, [], [], {}

    store.store_dir(out).mkdir(parents=True, exist_ok=True)
    store.publish(store.store_dir(out) / "enterprises",
                  register_module.register_build(update, "register"))


def run_safetyviz(ledger: Path, out: Path) -> int:
    from safetyviz.ingest.ledgers import ingest

    report = ingest(ledger, table="inspections", data_dir=out)
    assert report.rejected_total == 0, report.summary()
    RESULT["linked"], RESULT["provisional"] = report.linked, report.provisional
    return report.accepted


RESULT: dict = {}


def _child(method: str, ledger: str, out: str, firms: int, queue) -> None:
    # Imports are a fixed start-up cost, not a per-row one: done before the clock starts.
    import pyarrow.csv  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    if method == "safetyviz":
        import geopandas  # noqa: F401  (the catalog's region reader)

        import safetyviz.ingest.ledgers  # noqa: F401
        prepare_safetyviz(Path(out), firms)
    start = time.perf_counter()
    rows = {"baseline": run_baseline, "safetyviz": run_safetyviz}[method](Path(ledger),
                                                                          Path(out))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"method": method, "rows": rows, "seconds": seconds, "peak_rss_mb": peak_mb,
               **RESULT})


def measure(method: str, ledger: Path, folder: Path, firms: int, run: int) -> dict:
    out = folder / f"{method}-{run}"
    out.mkdir()
    queue = mp.get_context("spawn").Queue()
    process = mp.get_context("spawn").Process(target=_child, args=(
        method, str(ledger), str(out), firms, queue))
    process.start()
    result = queue.get()
    process.join()
    shutil.rmtree(out)
    result["rows_per_second"] = result["rows"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--firms", type=int, default=100_000,
                        help="firms in the register (default 100,000)")
    parser.add_argument("--variants", type=float, default=0.5,
                        help="share of the rows naming a registered firm otherwise than the "
                             "register (other legal form, other brackets; default 0.5)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each method, alternating; the best counts (a shared "
                             "machine only ever makes a run slower)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    runs: dict[str, list[dict]] = {"baseline": [], "safetyviz": []}
    try:
        ledger = folder / "inspections.csv"
        write_ledger(ledger, args.rows, args.firms, args.variants)
        size_mb = ledger.stat().st_size / 1e6
        for run in range(args.repeat):
            for method in runs:
                runs[method].append(measure(method, ledger, folder, args.firms, run))
    finally:
        shutil.rmtree(folder)
    results = [min(r, key=lambda x: x["seconds"]) for r in runs.values()]
    ratio = results[1]["rows_per_second"] / results[0]["rows_per_second"]
    print(f"{args.rows:,} rows, {size_mb:.0f} MB CSV, register of {args.firms:,} firms; "
          f"rows linked {results[1]['linked']:,}, provisional firms added "
          f"{results[1]['provisional']:,}; {args.variants:.0%} of the names written otherwise "
          f"than registered; best of {args.repeat} runs each")
    print(f"{'method':<10} {'seconds':>8} {'all runs (s)':>20} {'rows/s':>11} "
          f"{'peak RSS MB':>12}")
    for r, every in zip(results, runs.values()):
        spread = " ".join(f"{x['seconds']:.2f}" for x in every)
        print(f"{r['method']:<10} {r['seconds']:>8.2f} {spread:>20} "
              f"{r['rows_per_second']:>11,.0f} {max(x['peak_rss_mb'] for x in every):>12,.0f}")
    print(f"safetyviz / baseline rate: {ratio:.3f} (target ≥ 0.333); "
          f"peak memory target < 1,500 MB")
    out = Path(__file__).parent / "results" / "ingest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": args.rows, "firms": args.firms,
                               "variants": args.variants, "csv_mb": size_mb,
                               "runs": runs, "best": results, "rate_ratio": ratio},
                              indent=2))


if __name__ == "__main__":
    main()
