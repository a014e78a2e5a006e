from safetyviz.web.pages import PAGES

PAGES["home"].servable()
