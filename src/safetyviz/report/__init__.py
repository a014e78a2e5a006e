"""The bulletin as HTML/PDF (render) and its static figures. May import: analysis, data, core.
"""
