from safetyviz.components.enforcement import create_enforcement_app

create_enforcement_app().servable(title="安全生产监管 · 执法")
