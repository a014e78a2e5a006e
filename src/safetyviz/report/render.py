"""The bulletin as a document: HTML (self-contained, one file) or PDF (from the same HTML
through WeasyPrint, the Chinese font embedded).

Content comes from :mod:`safetyviz.analysis.bulletin`, figures from
:mod:`safetyviz.report.figures`, the layout from ``data/report/bulletin.html.j2`` (Jinja2,
sandboxed, autoescaped: text from the data is always escaped). A report is written to a
temporary file beside ``out`` and renamed into place, so a failed run leaves nothing half-
written.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd

from safetyviz import __version__
from safetyviz.analysis.bulletin import Bulletin, Data, build, by_county, monthly
from safetyviz.core.errors import UserError
from safetyviz.core.files import write_atomically
from safetyviz.core.i18n import metric_label
from safetyviz.core.paths import shipped_dir
from safetyviz.core.periods import parse_period
from safetyviz.report.figures import county_map, monthly_lines

LAYOUT_FILE = Path("report") / "bulletin.html.j2"
FORMATS = ("html", "pdf")
EN_KINDS = (" District", " County", " City", " Banner")


def _figures(bulletin: Bulletin, data: Data, period: str) -> list[dict]:
    lang, facts = bulletin.lang, bulletin.facts
    start, end = parse_period(period)
    scope = facts.adcode
    county = scope if scope in data.counties else None  # highlighted among its neighbours
    series = None if scope == data.city else data.units_in(scope)
    inspections = by_county(data.cube, "inspections", start, end)
    # the map: a province's cities; a city's units; a county among its city's units (the
    # units of the data's top if the county has no city in the data)
    below = data.children(scope) if county is None else []
    if data.hierarchy is not None and below and not set(below) <= set(data.counties):
        regions = data.hierarchy[data.hierarchy["adcode"].isin(below)]
        values = pd.Series({unit: inspections.reindex(data.units_in(unit)).sum()
                            for unit in below})
    else:
        around = data.parent(scope) if county is not None else scope
        regions = data.regions[data.regions["adcode"].isin(data.units_in(around or data.city))]
        values = inspections.reindex(regions["adcode"])
    names = dict(zip(regions["adcode"], regions["name_zh"]))
    if lang == "en" and "name_en" in regions:  # "Weidu", not "Weidu District": it fits
        names.update({a: n.rsplit(" ", 1)[0] if n.endswith(EN_KINDS) else n
                      for a, n in zip(regions["adcode"], regions["name_en"]) if n})
    titles = bulletin.figure_titles
    svgs = [
        (titles["map"], county_map(regions, values, titles["map"], names, highlight=county,
                                   lang=lang)),
        (titles["series"], monthly_lines(
            monthly(data.cube, ["inspections", "hazards_found", "hazards_rectified"], end,
                    series),
            {n: metric_label(n, lang) for n in ("inspections", "hazards_found",
                                                  "hazards_rectified")},
            titles["series"], start, end, lang)),
        (titles["accidents"], monthly_lines(
            monthly(data.cube, ["accidents", "deaths"], end, series),
            {n: metric_label(n, lang) for n in ("accidents", "deaths")},
            titles["accidents"], start, end, lang)),
    ]
    return [{"title": title, "svg": base64.b64encode(svg.encode()).decode("ascii")}
            for title, svg in svgs]


def render_html(bulletin: Bulletin, data: Data, period: str,
                layout: Path | None = None) -> str:
    """The bulletin as one self-contained HTML page."""
    from jinja2 import StrictUndefined, TemplateError
    from jinja2.sandbox import SandboxedEnvironment

    layout = Path(layout) if layout else shipped_dir() / LAYOUT_FILE
    environment = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined,
                                       keep_trailing_newline=True)
    try:
        template = environment.from_string(layout.read_text(encoding="utf-8"))
        return template.render(
            bulletin=bulletin, version=__version__,
            kpis=bulletin.kpis.to_dict("records"),
            figures=_figures(bulletin, data, period) if bulletin.has_data else [])
    except (OSError, TemplateError) as exc:
        raise UserError(f"{layout}: cannot lay out the bulletin ({exc})") from None


def html_to_pdf(html: str) -> bytes:
    """The HTML laid out as PDF by WeasyPrint, fonts embedded (subsets)."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        raise UserError(f"PDF output needs WeasyPrint and the Pango library ({exc}); "
                        "on Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0") from None
    return weasyprint.HTML(string=html, base_url=None).write_pdf()


def write_report(period: str, out: Path, fmt: str | None = None, adcode: str | None = None,
                 lang: str = "zh", catalog=None, templates: Path | None = None,
                 layout: Path | None = None, data: Data | None = None) -> Path:
    """Write the bulletin of a period.

    Parameters
    ----------
    period : str
        ``2020Q1``, ``2020-03``, ``2020``.
    out : Path
        The file to write (its folder must exist).
    fmt : {"html", "pdf"}, optional
        Default: from ``out``'s suffix.
    adcode : str, optional
        The bulletin of a county-level unit, or of a city of the data's province; default
        the bulletin of the unit the data are of (the city, or the province).
    lang : {"zh", "en"}
        The bulletin's language.
    catalog : intake.Catalog, optional
        Default: the settings' catalog.
    templates, layout : Path, optional
        Another HTML template folder / wording file than the shipped ones.
    data : Data, optional
        Data already loaded (several bulletins in a row).

    Returns
    -------
    Path
        ``out``, written atomically.

    Raises
    ------
    UserError
        For an unknown format, a missing folder or a period without data.
    """
    out = Path(out)
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: use html or pdf")
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: folder {out.parent} does not exist")
    bulletin, data = build(period, adcode, lang, catalog, templates, data)
    if fmt == "pdf":
        from safetyviz.report.figures import cjk_font

        if lang == "zh" and cjk_font() is None:
            raise UserError("no font with Chinese characters is installed, so the PDF cannot "
                            "show Chinese: install one (Debian: apt-get install fonts-noto-cjk)")
    html = render_html(bulletin, data, period, layout)
    content = html_to_pdf(html) if fmt == "pdf" else html.encode("utf-8")
    write_atomically(out, content)
    return out
