from safetyviz.components.county import create_county_app

create_county_app().servable(title="安全生产监管 · 县区画像")
