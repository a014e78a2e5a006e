"""Generated data: the demo city, synthetic provinces, simulated sensor feeds. May import:
analysis, data, core.
"""
