"""Record-level queries for drill-downs: one county's hazards and inspections, read from the
store with the county pushed down to the Parquet files, small pandas frames out — or a
county's records of every period read at once (:func:`read_county`) and periods cut from
them in pandas; and the same frames labelled for people (column names and codes in Chinese
or English) and exported as CSV or XLSX."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd

from safetyviz.core.vocab import FIELDS, VOCABULARIES
from safetyviz.data.engine import compute
from safetyviz.data.loading import load_table

HAZARD_COLUMNS = ["hazard_id", "enterprise_id", "sector", "found_date", "level", "category",
                  "deadline", "rectified_date", "listed_supervision"]
INSPECTION_COLUMNS = ["inspection_id", "date", "enterprise_id", "sector", "department",
                      "campaign", "joint_operation_id"]
ACTION_COLUMNS = ["enterprise_id", "date", "fine_yuan"]
# What a county's drill-downs are cut from, per table (:func:`county_history`).
HISTORY_COLUMNS = {"hazards": HAZARD_COLUMNS, "inspections": INSPECTION_COLUMNS,
                   "enforcement_actions": ACTION_COLUMNS}
# Which vocabulary labels each coded column.
CODED = {"sector": "sector", "level": "level", "category": "category",
         "department": "department", "campaign": "campaign"}


def open_hazards(county: str, as_of, catalog=None) -> pd.DataFrame:
    """The county's hazards found by the end of day ``as_of`` and not rectified by then,
    with ``days_open`` (what :func:`open_major_hazards` and :func:`overdue_hazards` pick
    from: read once for both)."""
    as_of = pd.Timestamp(as_of)
    return hazards_open_at(compute(load_table("hazards", HAZARD_COLUMNS, catalog,
                                              filters=[("adcode", "==", county),
                                                       ("found_date", "<=", as_of.date())])),
                           as_of)


def hazards_open_at(hazards: pd.DataFrame, as_of) -> pd.DataFrame:
    """The rows of ``hazards`` found by the end of day ``as_of`` and not rectified by then,
    with ``days_open``."""
    as_of = pd.Timestamp(as_of)
    still_open = (hazards["found_date"] <= as_of) & (
        hazards["rectified_date"].isna() | (hazards["rectified_date"] > as_of))
    frame = hazards[still_open.to_numpy()].copy()
    frame["days_open"] = (as_of - frame["found_date"]).dt.days
    return frame


def open_major_hazards(county: str, as_of, catalog=None,
                       hazards: pd.DataFrame | None = None) -> pd.DataFrame:
    """Major hazards of ``county`` open at the end of day ``as_of``, listed-supervision
    (挂牌督办) first, then the longest open (from ``hazards``, :func:`open_hazards`' frame,
    if given)."""
    frame = open_hazards(county, as_of, catalog) if hazards is None else hazards
    frame = frame[(frame["level"].astype(str) == "major").to_numpy()]
    return frame.sort_values(["listed_supervision", "days_open"],
                             ascending=[False, False]).reset_index(drop=True)


def overdue_hazards(county: str, as_of, catalog=None,
                    hazards: pd.DataFrame | None = None) -> pd.DataFrame:
    """Hazards of ``county`` past their deadline and not rectified at the end of ``as_of``,
    the most overdue first (from ``hazards``, :func:`open_hazards`' frame, if given)."""
    as_of = pd.Timestamp(as_of)
    frame = open_hazards(county, as_of, catalog) if hazards is None else hazards
    frame = frame[(frame["deadline"] < as_of).to_numpy()].copy()
    frame["days_overdue"] = (as_of - frame["deadline"]).dt.days
    return frame.sort_values("days_overdue", ascending=False).reset_index(drop=True)


def latest_inspections(county: str, start, end, catalog=None, limit: int = 1000) -> pd.DataFrame:
    """The county's inspections in [start, end], the latest first (at most ``limit``)."""
    frame = compute(load_table("inspections", INSPECTION_COLUMNS, catalog,
                               filters=[("adcode", "==", county),
                                        ("date", ">=", pd.Timestamp(start).date()),
                                        ("date", "<=", pd.Timestamp(end).date())]))
    return inspections_between(frame, start, end, limit)


def inspections_between(inspections: pd.DataFrame, start, end, limit: int = 1000
                        ) -> pd.DataFrame:
    """The rows of ``inspections`` dated in [start, end], the latest first (at most
    ``limit``)."""
    dates = inspections["date"]
    frame = inspections[((dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end)))
                        .to_numpy()]
    return frame.sort_values(["date", "inspection_id"], ascending=[False, True]) \
        .head(limit).reset_index(drop=True)


def read_county(county: str, catalog=None) -> dict[str, pd.DataFrame]:
    """Every hazard, inspection and enforcement action of ``county`` in the columns its
    drill-downs show (:data:`HISTORY_COLUMNS`), by table, read with the county pushed down
    (hazards indexed 0…n-1)."""
    history = {table: compute(load_table(table, columns, catalog,
                                         filters=[("adcode", "==", county)]))
               for table, columns in HISTORY_COLUMNS.items()}
    history["hazards"] = history["hazards"].reset_index(drop=True)
    return history


def _where(county: str | Sequence[str] | None, date: str, start, end) -> list:
    """Pushed-down filters: the period, and the county (or counties) unless it is all the
    data (None)."""
    filters = [(date, ">=", pd.Timestamp(start).date()), (date, "<=", pd.Timestamp(end).date())]
    if county is None:
        return filters
    if isinstance(county, str):
        return [*filters, ("adcode", "==", county)]
    return [*filters, ("adcode", "in", [str(c) for c in county])]


def actions_by_type(county: str | Sequence[str] | None, start, end, catalog=None
                    ) -> pd.DataFrame:
    """Enforcement actions in [start, end] per action type, for one county, several (a
    city's) or (None) all of the data: ``cases`` (actions) and ``persons`` (for detentions,
    persons detained)."""
    frame = compute(load_table("enforcement_actions", ["action_type", "persons"], catalog,
                               filters=_where(county, "date", start, end)))
    frame["action_type"] = frame["action_type"].astype(str)
    out = frame.groupby("action_type").agg(cases=("persons", "size"),
                                           persons=("persons", "sum"))
    return out.sort_values("cases", ascending=False)


def joint_operations(county: str | Sequence[str] | None, start, end, catalog=None
                     ) -> pd.DataFrame:
    """Joint operations in [start, end] (one county, several, or None: all of the data), in
    date order, with their departments as a list of codes."""
    frame = compute(load_table("joint_operations",
                               ["joint_operation_id", "date", "adcode", "departments", "target"],
                               catalog, filters=_where(county, "date", start, end)))
    frame = frame.sort_values(["date", "joint_operation_id"]).reset_index(drop=True)
    frame["departments"] = frame["departments"].fillna("").astype(str).str.split("|")
    return frame


EXTRA_LABELS = {"days_open": ("未整改天数", "Days open"),
                "days_overdue": ("逾期天数", "Days overdue"),
                "open_hazards": ("未整改隐患", "Open hazards"),
                "overdue_hazards": ("逾期隐患", "Overdue hazards"),
                "repeat_hazards": ("重复隐患（12个月内）", "Repeat hazards (12 months)"),
                "fines_yuan": ("罚款（元）", "Fines (yuan)"),
                "county": ("县（市、区）", "County")}


def labelled(frame: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """``frame`` for people: codes as labels, dates as YYYY-MM-DD, yes/no, and column
    names in ``lang``."""
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if column in CODED:
            labels = {code: (zh if lang == "zh" else en)
                      for code, (zh, en) in VOCABULARIES[CODED[column]].items()}
            values = values.astype(str).map(lambda c, labels=labels: labels.get(c, c))
        elif pd.api.types.is_datetime64_any_dtype(values):
            values = values.dt.strftime("%Y-%m-%d").fillna("")
        elif column == "departments":
            labels = {code: (zh if lang == "zh" else en)
                      for code, (zh, en) in VOCABULARIES["department"].items()}
            values = values.map(lambda codes, labels=labels: "、".join(
                labels.get(c, c) for c in codes if c))
        elif column == "listed_supervision":
            yes, no = ("是", "否") if lang == "zh" else ("yes", "no")
            values = values.map(lambda v, yes=yes, no=no: yes if v is True or v == 1 else no)
        zh, en = (FIELDS[column][:2] if column in FIELDS else EXTRA_LABELS.get(column,
                                                                               (column, column)))
        out[zh if lang == "zh" else en] = values.fillna("") if values.dtype == object \
            else values
    return out


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell that a spreadsheet would run as a formula (starting
    with = + - @, a tab or a carriage return) prefixed with an apostrophe, so it shows as
    text: names and notes come from ledgers, and a ledger can carry =HYPERLINK(…)."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            text = values.astype("string")
            risky = text.str.startswith(FORMULA_STARTS).fillna(False).astype(bool)
            if risky.any():
                out[column] = values.astype(object).where(~risky, "'" + text.astype(object))
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV in UTF-8 with a BOM, so that Excel opens the Chinese correctly; formulas
    neutralised (:func:`neutralise_formulas`)."""
    return neutralise_formulas(frame).to_csv(index=False).encode("utf-8-sig")


def to_xlsx_bytes(frame: pd.DataFrame, sheet: str = "data") -> bytes:
    """An XLSX workbook of ``frame``, formulas neutralised (:func:`neutralise_formulas`)."""
    buffer = io.BytesIO()
    neutralise_formulas(frame).to_excel(buffer, index=False, sheet_name=sheet[:31],
                                        engine="openpyxl")
    return buffer.getvalue()
