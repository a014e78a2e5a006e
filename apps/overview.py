from safetyviz.components.overview import create_overview_app

create_overview_app().servable(title="安全生产监管 · 总览")
