"""Getting real files in: ledger readers and the header dictionary, the ledger ingest
(ledgers), the enterprise register and linking, sensor-reading CSVs (monitor). May import:
synth, analysis, data, core.
"""
