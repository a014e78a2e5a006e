from safetyviz.web.pages import PAGES

PAGES["wall"].servable()
