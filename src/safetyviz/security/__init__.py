"""Who may see what: a session's access (counties, downloads) and the audit log. May import:
analysis, data, core.
"""
