"""safetyviz: analysis and dashboards for work-safety supervision data (安全生产监管).

Data flows one way: catalog → loading → cube → state → views → components → apps.
The data layers (everything but ``views`` and ``components``) never import panel,
bokeh or holoviews.
"""

__version__ = "0.1.0"
