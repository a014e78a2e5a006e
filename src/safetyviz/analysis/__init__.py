"""Figures from the data: the cube, indicators, record queries, reference figures, monitoring
indicators, the bulletin's facts. May import: data, core.
"""
