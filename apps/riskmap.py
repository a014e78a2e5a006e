from safetyviz.web.pages import PAGES

PAGES["riskmap"].servable()
