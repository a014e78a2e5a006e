"""Which file format for the cube: Zarr or NetCDF-4 (h5netcdf)?

Builds the cube from a data dir's store once, then writes and reads it back in each format,
N times, on the same machine in the same run. Prints a table and writes JSON to
benchmarks/results/cube_store.json. Needs the `bench` extra (h5netcdf, h5py).

    python benchmarks/cube_store.py [--data-dir DIR] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import xarray as xr

from safetyviz.analysis.cube import build_cube
from safetyviz.core.paths import default_data_dir
from safetyviz.data.catalog import ensure_catalog, open_catalog


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size


def measure(cube: xr.Dataset, folder: Path, fmt: str, repeat: int) -> dict:
    writes, reads = [], []
    for i in range(repeat):
        target = folder / f"cube-{i}.{'zarr' if fmt == 'zarr' else 'nc'}"
        t0 = time.perf_counter()
        if fmt == "zarr":
            cube.to_zarr(target, mode="w", consolidated=True, zarr_format=2)
        else:
            cube.to_netcdf(target, engine="h5netcdf")
        t1 = time.perf_counter()
        if fmt == "zarr":
            loaded = xr.open_zarr(target, consolidated=True).load()
        else:
            loaded = xr.open_dataset(target, engine="h5netcdf").load()
        t2 = time.perf_counter()
        xr.testing.assert_identical(loaded, cube)
        writes.append(t1 - t0)
        reads.append(t2 - t1)
    return {"format": fmt, "write_ms": 1000 * statistics.median(writes),
            "open_load_ms": 1000 * statistics.median(reads), "bytes": size_of(target)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cube = build_cube(open_catalog(ensure_catalog(args.data_dir)))
    folder = Path(tempfile.mkdtemp(prefix="cube-bench-"))
    try:
        rows = [measure(cube, folder, fmt, args.repeat) for fmt in ("zarr", "netcdf")]
    finally:
        shutil.rmtree(folder)
    sizes = " × ".join(f"{n} {d}" for d, n in cube.sizes.items())
    print(f"cube: {len(cube.data_vars)} variables over {sizes}; median of {args.repeat} runs")
    print(f"{'format':<8} {'write ms':>9} {'open+load ms':>13} {'bytes':>9}")
    for r in rows:
        print(f"{r['format']:<8} {r['write_ms']:>9.1f} {r['open_load_ms']:>13.1f} "
              f"{r['bytes']:>9,}")
    out = Path(__file__).parent / "results" / "cube_store.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"cube_sizes": dict(cube.sizes), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
