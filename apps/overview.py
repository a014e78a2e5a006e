from safetyviz.pages import PAGES

PAGES["overview"].servable()
