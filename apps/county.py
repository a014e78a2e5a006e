from safetyviz.pages import PAGES

PAGES["county"].servable()
