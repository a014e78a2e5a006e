from safetyviz.web.pages import PAGES

PAGES["county"].servable()
