from safetyviz.components.riskmap import create_riskmap_app

create_riskmap_app().servable(title="安全生产监管 · 安全风险四色图")
