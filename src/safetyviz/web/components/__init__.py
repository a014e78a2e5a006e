"""Components: panel Viewers that wire state to views; one module per dashboard page."""
