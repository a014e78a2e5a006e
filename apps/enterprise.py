from safetyviz.web.pages import PAGES

PAGES["enterprise"].servable()
