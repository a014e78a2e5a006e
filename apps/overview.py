from safetyviz.web.pages import PAGES

PAGES["overview"].servable()
