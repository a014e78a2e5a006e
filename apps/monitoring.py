from safetyviz.pages import PAGES

PAGES["monitoring"].servable()
