"""safetyviz: analysis and dashboards for work-safety supervision data (安全生产监管).

Data flows one way, through subpackages by concern, each importing only from those below
it (pyproject.toml's [tool.importlinter]): ``cli``/``workbench`` → ``serve`` → ``web`` →
``report`` / ``ingest`` / ``security`` → ``synth`` → ``analysis`` → ``data`` → ``core``.
Only ``web`` (and what serves it) imports panel, bokeh or holoviews.
"""

__version__ = "0.1.0"
