"""The dashboards: views (pure functions returning HoloViews objects), page states, the page
registry (pages) and the page components. May import: report, ingest, security, synth,
analysis, data, core.
"""
