"""The four-colour risk map's state on the tiny register (by hand) and on the demo (the
bulletin's 584 enterprises with the dual-prevention mechanism)."""

from __future__ import annotations

from conftest import read_tiny_table
from safetyviz.data.loading import load_table
from safetyviz.web.riskmap import RiskMapState

COUNTIES = ["411002", "411003", "411024", "411025", "411081", "411082"]


def tiny_state(**params) -> RiskMapState:
    return RiskMapState(read_tiny_table("enterprises"), read_tiny_table("major_hazard_sites"),
                        "411000", COUNTIES, **params)


def test_filters_by_level_and_sector():
    # E1 yellow construction, E2 blue construction, E3 red coal mine.
    state = tiny_state()
    assert len(state.points()) == 3
    assert state.level_counts().to_dict() == {"red": 1, "orange": 0, "yellow": 1, "blue": 1}
    state.levels = ["red"]
    assert state.points()["enterprise_id"].tolist() == ["E3"]
    state.param.update(levels=["red", "yellow", "blue"], sectors=["construction"])
    assert state.points()["enterprise_id"].tolist() == ["E1", "E2"]


def test_dual_prevention_counts_enterprises_above_designated_size():
    # Above size: E1 (魏都区, built), E3 (禹州市, accepted); E2 is below size.
    progress = tiny_state().dual_prevention()
    assert progress.loc["411002"].to_dict() == {"enterprises": 1, "built": 1, "accepted": 0}
    assert progress.loc["411081"].to_dict() == {"enterprises": 1, "built": 0, "accepted": 1}
    assert progress.drop(["411002", "411081"]).sum().sum() == 0


def test_values_from_the_url_are_checked():
    state = tiny_state()
    assert state.apply_query({"county": "<b>", "lang": "en"}) == ["county"]
    assert state.county == "411000" and state.lang == "en"


def test_the_demo_has_the_bulletins_dual_prevention_enterprises(demo_catalog):
    enterprises = load_table("enterprises", catalog=demo_catalog).compute()
    sites = load_table("major_hazard_sites", catalog=demo_catalog).compute()
    state = RiskMapState(enterprises, sites, "411000", COUNTIES)
    progress = state.dual_prevention()
    assert progress["built"].sum() + progress["accepted"].sum() == 584  # 584家规模以上企业
    assert len(state.sites) == 11  # 11家重大危险源企业


def test_the_map_draws_one_outline_per_county_and_the_selected_one_heavier():
    import holoviews as hv
    from bokeh.models import GlyphRenderer, MultiLine

    from safetyviz.data.loading import load_regions
    from safetyviz.web.riskmap import RISK_COLOURS
    from safetyviz.web.views import risk_map

    hv.extension("bokeh")
    state = tiny_state()
    figure = hv.render(risk_map(load_regions(), state.points(), state.sites, RISK_COLOURS,
                                selected="411002"))
    lines = {r.glyph.line_width: len(r.data_source.data["xs"])
             for r in figure.select(GlyphRenderer) if isinstance(r.glyph, MultiLine)}
    # Five thin outlines and 魏都区's heavy one — not a line per boundary segment (a width
    # mapped to a value dimension made HoloViews send 2,773 two-point lines).
    assert lines == {0.8: 5, 2.5: 1}
