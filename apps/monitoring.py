from safetyviz.components.monitoring import create_monitoring_app

create_monitoring_app().servable(title="安全生产监管 · 重大危险源监测预警")
