"""Serving the dashboards: the server, logins, the guard in front of every route, limits,
server-side sessions, the users file. May import anything but cli and workbench.
"""
