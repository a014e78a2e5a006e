"""Several server processes behind a real nginx (Debian's) with sticky sessions, sharing
logins, throttles and limits in a real redis-server: a login on one is a login on all; a
logout or a new password closes open pages on every process; failures are counted once
across processes; the audit log has each event once; Redis stopped under load refuses
logins with a clear message while open pages go on, and logins work again once it is back."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from test_serving import PASSWORDS, ROLES, _closed_within, _token, _websocket, login

from conftest import PROJECT, free_port, start_server, wait_until_answering
from safetyviz.serve.users import add_user, set_password

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

NGINX_CONF = """
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi; uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream safetyviz {{
        hash $cookie_safetyviz_login consistent;  # sticky: one login, one process
        server 127.0.0.1:{port_a};
        server 127.0.0.1:{port_b};
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://safetyviz;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


@dataclass
class Cluster:
    proxy: str  # nginx
    servers: list[str]  # the server processes, directly
    audit: Path
    users: Path
    redis: object

    def events(self, event: str, user: str) -> list[dict]:
        records = [json.loads(line) for line in self.audit.read_text("utf-8").splitlines()]
        return [r for r in records if r["event"] == event and r.get("user") == user]


@pytest.fixture(scope="module")
def cluster(demo_dir, tmp_path_factory, redis_server):
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (apt-get install nginx)")
    folder = tmp_path_factory.mktemp("cluster")
    users, audit = folder / "users.yaml", folder / "audit.jsonl"
    for name, (role, counties) in ROLES.items():
        add_user(users, name, role, PASSWORDS[name], counties)
    port, ports = free_port(), [free_port(), free_port()]
    env = {**os.environ, "SAFETYVIZ_COOKIE_SECRET": secrets.token_urlsafe(48),
           "SAFETYVIZ_SHARED_STATE": redis_server.url,
           "SAFETYVIZ_CATALOG": str(demo_dir / "catalog.yaml")}
    servers = [start_server(
        [sys.executable, "-m", "safetyviz.cli", "serve", "--data-dir", str(demo_dir),
         "--auth", str(users), "--port", str(p), "--audit-log", str(audit),
         "--use-xheaders", "--allow-websocket-origin", f"127.0.0.1:{port}",
         "--warm-seconds", "2"],
        cwd=PROJECT, env=env)
        for p in ports]
    (folder / "nginx.conf").write_text(NGINX_CONF.format(
        folder=folder, port=port, port_a=ports[0], port_b=ports[1]))
    proxy = start_server([NGINX, "-c", str(folder / "nginx.conf"), "-p", str(folder)])
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for base, server in zip(bases, servers, strict=True):
            wait_until_answering(f"{base}/login", server, seconds=180)
        wait_until_answering(f"http://127.0.0.1:{port}/login", proxy)
        yield Cluster(f"http://127.0.0.1:{port}", bases, audit, users, redis_server)
    finally:
        proxy.terminate()
        for server in servers:
            server.terminate()
        for process in (proxy, *servers):
            process.wait(timeout=30)


def cookie_of(session: requests.Session) -> str:
    return f"safetyviz_login={session.cookies['safetyviz_login']}"


def open_page(base: str, cookie: str, app: str = "overview"):
    """A page of ``app`` opened on ``base`` with the login ``cookie``, and its websocket."""
    page = requests.get(f"{base}/{app}", headers={"Cookie": cookie}, timeout=120,
                        allow_redirects=False)
    assert page.status_code == 200, page.status_code
    return _websocket(base, app, _token(page.text), cookie)


def log_out(base: str, session: requests.Session) -> None:
    asked = session.get(f"{base}/logout", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', asked.text)[1]
    assert session.post(f"{base}/logout", data={"_xsrf": xsrf}, timeout=30).ok


def test_a_login_through_the_proxy_is_a_login_on_every_server(cluster):
    session, response = login(cluster.proxy, "wang")
    assert response.status_code == 302
    for base in cluster.servers:
        page = requests.get(f"{base}/", headers={"Cookie": cookie_of(session)}, timeout=60,
                            allow_redirects=False)
        assert page.status_code == 200
    # the websocket goes through the proxy to the process that built the page
    socket = open_page(cluster.proxy, cookie_of(session))
    assert json.loads(socket.recv())["msgtype"] == "ACK"
    socket.close()
    assert len(cluster.events("login", "wang")) == 1  # once, by the process that took it


def test_a_logout_or_a_new_password_closes_open_pages_on_every_server(cluster):
    session, _ = login(cluster.proxy, "qian")
    cookie = cookie_of(session)
    sockets = [open_page(base, cookie) for base in cluster.servers]
    log_out(cluster.proxy, session)
    assert all(_closed_within(socket, 8) for socket in sockets)
    for base in cluster.servers:  # the cookie, replayed, opens nothing anywhere
        assert requests.get(f"{base}/", headers={"Cookie": cookie}, timeout=30,
                            allow_redirects=False).status_code == 302
    assert len(cluster.events("logout", "qian")) == 1
    assert len(cluster.events("session_closed", "qian")) == 2  # each process its own
    # users passwd on the shared users file: every process closes the user's pages
    session, _ = login(cluster.proxy, "qian")
    sockets = [open_page(base, cookie_of(session)) for base in cluster.servers]
    time.sleep(0.01)
    set_password(cluster.users, "qian", "city-pass-000")
    try:
        assert all(_closed_within(socket, 8) for socket in sockets)
    finally:
        set_password(cluster.users, "qian", PASSWORDS["qian"])


def test_failed_logins_are_counted_once_across_servers(cluster):
    for n in range(5):  # five failures, alternately on each process, from one address
        _, response = login(cluster.servers[n % 2], "sun", "wrong-password", ip="10.7.0.1")
        assert response.status_code == 401
    for base in cluster.servers:  # the sixth waits, whichever process it reaches
        _, response = login(base, "sun", ip="10.7.0.1")
        assert response.status_code == 429 and int(response.headers["Retry-After"]) > 800
    assert len(cluster.events("login_failed", "sun")) == 5
    assert len(cluster.events("login_throttled", "sun")) == 2
    # the owner from another address is not held back
    _, response = login(cluster.servers[1], "sun", ip="10.7.0.2")
    assert response.status_code == 302


def test_pages_of_a_user_are_limited_across_servers(cluster):
    session, _ = login(cluster.proxy, "zheng")
    sockets = []
    try:
        for n in range(20):  # the default limit, over both processes
            sockets.append(open_page(cluster.servers[n % 2], cookie_of(session), "home"))
        refused = requests.get(f"{cluster.servers[0]}/home", timeout=60,
                               headers={"Cookie": cookie_of(session)})
        assert refused.status_code == 429 and "打开的页面过多" in refused.text
    finally:
        for socket in sockets:
            socket.close()


def test_redis_stopped_under_load_refuses_logins_and_keeps_open_pages(cluster):
    session, _ = login(cluster.proxy, "zhao")
    socket = open_page(cluster.servers[0], cookie_of(session))
    statuses: list[int] = []
    stop = threading.Event()

    def load():  # users coming and going all along
        while not stop.is_set():
            try:
                _, response = login(cluster.proxy, "feng", ip="10.8.0.1")
                statuses.append(response.status_code)
            except requests.RequestException as exc:
                statuses.append(repr(exc))
    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(load)
        time.sleep(2)
        cluster.redis.stop()
        try:
            time.sleep(1)
            _, refused = login(cluster.proxy, "wang", ip="10.8.0.2")
            assert refused.status_code == 503 and "稍后再试" in refused.text
            assert "cannot reach its session store" in refused.text
            page = requests.get(f"{cluster.servers[1]}/overview", timeout=30,
                                headers={"Cookie": cookie_of(session)})
            assert page.status_code == 503
            assert not _closed_within(socket, 5)  # the open page goes on
        finally:
            cluster.redis.start()
        time.sleep(2)
        stop.set()
    socket.close()
    assert set(statuses) <= {302, 503, 429}, set(statuses)
    assert 503 in statuses and statuses[-1] in (302, 429)
    _, response = login(cluster.proxy, "wang", ip="10.8.0.3")  # back: logins work again
    assert response.status_code == 302
    assert requests.get(f"{cluster.servers[0]}/login", timeout=30).ok  # nothing crashed
