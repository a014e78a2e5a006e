from safetyviz.pages import PAGES

PAGES["enforcement"].servable()
