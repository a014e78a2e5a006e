from safetyviz.web.pages import PAGES

PAGES["enforcement"].servable()
