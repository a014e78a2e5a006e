from safetyviz.pages import PAGES

PAGES["riskmap"].servable()
