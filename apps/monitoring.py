from safetyviz.web.pages import PAGES

PAGES["monitoring"].servable()
