"""safetyviz notify: rules validated with file, entry and field; alarms told by e-mail (a real
SMTP server on loopback) and signed DingTalk-format POSTs (a real HTTP receiver), each
recipient only their counties' events; a burst at one installation in one message; a channel
down → delivered once when it is back; a crash after the outbox was written → delivered
exactly once, a crash while sending → never twice."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from conftest import assert_one_clear_line
from safetyviz.core.errors import UserError
from safetyviz.data.notices import outbox_path, outbox_version
from safetyviz.ingest import monitor
from safetyviz.notify import outbox as outbox_module
from safetyviz.notify.rules import load_rules
from safetyviz.notify.service import Notifier, status

aiosmtpd = pytest.importorskip("aiosmtpd.controller")
SECRET = "SEC-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """A real SMTP server on loopback (aiosmtpd) keeping what it receives; stop and start
    it again on the same port."""

    def __init__(self):
        self.port, self.received = free_port(), []
        self.controller = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.received.append((envelope.rcpt_tos, email.message_from_bytes(
            envelope.original_content or envelope.content, policy=email.policy.default)))
        return "250 OK"

    def start(self):
        self.controller = aiosmtpd.Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        self.controller.stop()


class Receiver:
    """An HTTP server on loopback answering like a group robot ({"errcode": 0})."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode": 0, "errmsg": "ok"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/robot/send?access_token=t"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def data_dir(demo_dir, tmp_path):
    target = tmp_path / "data"
    shutil.copytree(demo_dir, target, symlinks=True)
    (target / "catalog.yaml").unlink()
    return target


@pytest.fixture()
def mailbox():
    box = Mailbox()
    box.start()
    yield box
    if box.controller is not None and box.controller.loop.is_running():
        box.stop()


@pytest.fixture()
def receiver():
    made = Receiver()
    yield made
    made.server.shutdown()


# where a rules file that is only validated points (nothing is sent)
NOWHERE_SMTP = types.SimpleNamespace(port=25)
NOWHERE_ROBOT = types.SimpleNamespace(url="http://127.0.0.1:9/robot/send?access_token=t")


def write_rules(tmp_path: Path, mailbox: Mailbox, receiver: Receiver, **rule) -> Path:
    rule = {"name": "二级报警", "kind": "alarm", "levels": ["high_high"],
            "to": ["county", "city"], "repeat_minutes": 60, **rule}
    rule = {k: v for k, v in rule.items() if v is not None}
    rules = {
        "link": "https://safety.example.gov.cn/",
        "channels": {"smtp": {"host": "127.0.0.1", "port": mailbox.port,
                              "sender": "alarms@example.gov.cn", "timeout": 5}},
        "contacts": [
            {"name": "市值班", "role": "city", "email": "city@example.gov.cn"},
            {"name": "魏都区值班", "role": "county", "counties": ["411002"],
             "webhook": {"format": "dingtalk", "url": receiver.url, "secret": SECRET}},
            {"name": "建安区值班", "role": "county", "counties": ["411003"], "lang": "en",
             "email": "jianan@example.gov.cn"},
        ],
        "rules": [rule]}
    path = tmp_path / "rules.yaml"
    path.write_text(json.dumps(rules, ensure_ascii=False), encoding="utf-8")  # JSON is YAML
    return path


def append(data_dir: Path, tmp_path: Path, rows: list[tuple[str, str, float]]) -> None:
    path = tmp_path / f"readings-{time.monotonic_ns()}.csv"
    path.write_text("sensor_id,time,value\n" + "".join(f"{s},{t},{v}\n" for s, t, v in rows))
    report = monitor.ingest_readings(path, data_dir)
    assert report.stored == len(rows), report.summary()


def excursion(sensor: str, start_minute: int, values: list[float]) -> list:
    return [(sensor, f"2020-04-01 {(start_minute + i) // 60:02d}:{(start_minute + i) % 60:02d}",
             v) for i, v in enumerate(values)]


def body_of(mail) -> str:
    return mail.get_content()


def dingtalk_signed(path: str) -> bool:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    stamp = query["timestamp"][0]
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{stamp}\n{SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    return query["sign"][0] == expected and abs(int(stamp) / 1000 - time.time()) < 3600


def settled(notifier: Notifier, mailbox: Mailbox, receiver: Receiver) -> None:
    """A first round (whatever the demo's last day holds), then nothing received yet."""
    notifier.round()
    mailbox.received.clear()
    receiver.received.clear()


def test_an_alarm_reaches_the_city_by_email_and_its_county_by_a_signed_dingtalk_post(
        data_dir, tmp_path, mailbox, receiver):
    rules = load_rules(write_rules(tmp_path, mailbox, receiver))
    notifier = Notifier(data_dir, rules)
    settled(notifier, mailbox, receiver)
    # MHS0001 (魏都区 411002): its level sensor's high-high threshold is 95 %
    append(data_dir, tmp_path, excursion("MHS0001-L01", 0, [80, 96.5, 97.25, 96]))
    done = notifier.round()
    assert (done.queued, done.sent, done.failed) == (2, 2, 0)
    [(to, mail)] = mailbox.received  # the city; 建安区's officer gets nothing of 魏都区
    assert to == ["city@example.gov.cn"]
    assert "魏都区" in mail["Subject"] and "MHS0001" in mail["Subject"]
    body = body_of(mail)
    assert "报警 1 次（二级），首次 2020-04-01 00:01" in body
    assert "MHS0001-L01 液位 二级 2020-04-01 00:01" in body and "峰值 97.25 %" in body
    assert "https://safety.example.gov.cn/monitoring?site=MHS0001&lang=zh" in body
    [(path, headers, payload)] = receiver.received
    assert dingtalk_signed(path) and path.startswith("/robot/send?access_token=t&timestamp=")
    assert payload["msgtype"] == "markdown" and "MHS0001" in payload["markdown"]["title"]
    # the same readings again, and more rounds: nothing twice
    assert notifier.round().queued == 0 and notifier.round().sent == 0
    # the alarm ends: one message says so, to the same people
    append(data_dir, tmp_path, excursion("MHS0001-L01", 4, [70, 60]))
    assert notifier.round().sent == 2
    assert "报警解除" in mailbox.received[-1][1]["Subject"]
    assert len(mailbox.received) == 2 and len(receiver.received) == 2
    notifier.close()


def test_a_burst_at_one_installation_is_one_message_and_repeats_wait(data_dir, tmp_path,
                                                                     mailbox, receiver):
    rules = load_rules(write_rules(tmp_path, mailbox, receiver, levels=["high", "high_high"],
                                   repeat_minutes=30))
    notifier = Notifier(data_dir, rules)
    settled(notifier, mailbox, receiver)
    # MHS0003 (建安区 411003): 100 alarms of its temperature sensor (above its high
    # threshold of 60 °C, then well below), in one batch of readings
    append(data_dir, tmp_path, excursion("MHS0003-T01", 0, [70, 20] * 100))
    assert notifier.round().sent == 2  # one e-mail to the city, one to 建安区's officer
    mails = {tuple(to): mail for to, mail in mailbox.received}
    assert set(mails) == {("city@example.gov.cn",), ("jianan@example.gov.cn",)}
    city = body_of(mails["city@example.gov.cn",])
    assert "报警 100 次（一级），首次 2020-04-01 00:00" in city and "另有 90 次" in city
    county = mails["jianan@example.gov.cn",]  # in English, as the contact asked
    assert county["Subject"].startswith("[Alarm] Jian'an District · ")
    assert "Alarms: 100 (high), the first at 2020-04-01 00:00" in body_of(county)
    assert "MHS0003-T01 Temperature high" in body_of(county) and "and 90 more" in body_of(county)
    assert receiver.received == []  # 魏都区's robot: nothing of 建安区
    # another alarm 3 minutes after the burst was told: it waits for the 30 minutes
    append(data_dir, tmp_path, excursion("MHS0003-T01", 200, [20, 20, 20, 71, 20]))
    assert notifier.round().queued == 0
    append(data_dir, tmp_path, excursion("MHS0003-T01", 205, [20] * 30))  # 03:54: 35 min
    assert notifier.round().sent == 2
    told = {tuple(to): body_of(mail) for to, mail in mailbox.received[-2:]}
    assert "报警 1 次（一级），首次 2020-04-01 03:23" in told["city@example.gov.cn",]
    assert "Alarms: 1 (high), the first at 2020-04-01 03:23" in told["jianan@example.gov.cn",]
    assert len(mailbox.received) == 4 and receiver.received == []
    notifier.close()


def test_a_down_mail_server_gets_the_message_once_it_is_back(data_dir, tmp_path, mailbox,
                                                             receiver, monkeypatch):
    monkeypatch.setattr(outbox_module, "FIRST_RETRY_S", 0.2)
    rules = load_rules(write_rules(tmp_path, mailbox, receiver))
    notifier = Notifier(data_dir, rules)
    settled(notifier, mailbox, receiver)
    mailbox.stop()
    append(data_dir, tmp_path, excursion("MHS0001-L01", 0, [99, 99]))
    done = notifier.round()
    assert (done.sent, done.failed) == (1, 1)  # the robot has it; the mail waits
    assert "pending" in status(data_dir) and "SMTP 127.0.0.1" in status(data_dir)
    time.sleep(0.3)
    assert notifier.round().failed == 1  # still down: tried again, later each time
    mailbox.start()
    time.sleep(0.5)
    assert notifier.round().sent == 1
    time.sleep(0.5)
    assert notifier.round().sent == 0
    assert len(mailbox.received) == 1 and len(receiver.received) == 1
    notifier.close()


def test_an_installation_that_stops_reporting_is_told_offline_and_back_once(
        data_dir, tmp_path, mailbox, receiver):
    rules = load_rules(write_rules(tmp_path, mailbox, receiver, name="离线", kind="offline",
                                   minutes=30, levels=None))
    notifier = Notifier(data_dir, rules)
    settled(notifier, mailbox, receiver)
    sensors = monitor._registry(data_dir)[0]["sensor_id"].astype(str)
    others = [s for s in sensors if not s.startswith("MHS0001-")]
    # 40 minutes in which every sensor reports but MHS0001's (魏都区)
    append(data_dir, tmp_path, [row for s in others for row in excursion(s, 0, [1.0] * 40)])
    assert notifier.round().sent == 2  # the city's e-mail and 魏都区's robot
    [(_, mail)] = mailbox.received
    assert mail["Subject"].startswith("[离线] 魏都区 · ")
    assert "自 2020-03-31 23:59 起无数据（超过 30 分钟）" in body_of(mail)
    [(_, _, payload)] = receiver.received
    assert "MHS0001" in payload["markdown"]["title"]
    assert notifier.round().sent == 0  # still offline: told once
    append(data_dir, tmp_path, excursion("MHS0001-L01", 40, [50.0]))
    assert notifier.round().sent == 2
    assert mailbox.received[-1][1]["Subject"].startswith("[恢复在线] 魏都区 · ")
    assert "2020-04-01 00:40 起恢复数据上报" in body_of(mailbox.received[-1][1])
    notifier.close()


def test_a_units_online_rate_below_the_threshold_is_told_and_its_recovery_once(
        data_dir, tmp_path, mailbox, receiver):
    rules = load_rules(write_rules(tmp_path, mailbox, receiver, name="在线率",
                                   kind="online_rate", threshold=80, levels=None))
    notifier = Notifier(data_dir, rules)
    assert notifier.round().sent == 2  # 魏都区: 1 of its 2 installations (MHS0002: never)
    [(to, mail)] = mailbox.received
    assert to == ["city@example.gov.cn"] and mail["Subject"] == "[在线率低] 魏都区"
    assert "2020-03-31 23:59 重大危险源在线率 50%（1/2），低于 80%" in body_of(mail)
    assert "https://safety.example.gov.cn/monitoring?lang=zh" in body_of(mail)
    mailbox.received.clear()
    receiver.received.clear()
    # 10 minutes in which every sensor reports but MHS0003's (and MHS0002's, never
    # connected): 建安区 3 of 4
    sensors = monitor._registry(data_dir)[0]["sensor_id"].astype(str)
    others = [s for s in sensors if not s.startswith(("MHS0003-", "MHS0002-"))]
    append(data_dir, tmp_path, [row for s in others for row in excursion(s, 0, [1.0] * 10)])
    assert notifier.round().sent == 2  # the city's e-mail and 建安区's (in English)
    told = {tuple(to): mail for to, mail in mailbox.received}
    assert "2020-04-01 00:09 重大危险源在线率 75%（3/4），低于 80%" in body_of(
        told["city@example.gov.cn",])
    english = told["jianan@example.gov.cn",]
    assert english["Subject"] == "[Low online rate] Jian'an District"
    assert "Installations online at 2020-04-01 00:09: 75% (3/4), below 80%" in body_of(english)
    assert receiver.received == [] and notifier.round().sent == 0
    append(data_dir, tmp_path, excursion("MHS0003-L01", 10, [50.0]))
    assert notifier.round().sent == 2
    assert {m["Subject"] for _, m in mailbox.received[-2:]} == {
        "[在线率恢复] 建安区", "[Online rate restored] Jian'an District"}
    notifier.close()


def test_thresholds_changed_while_the_notifier_runs_are_the_ones_used(data_dir, tmp_path,
                                                                       mailbox, receiver):
    from safetyviz.data import store

    notifier = Notifier(data_dir, load_rules(write_rules(tmp_path, mailbox, receiver)))
    settled(notifier, mailbox, receiver)
    sensors = monitor._registry(data_dir)[0]
    lowered = sensors["sensor_id"] == "MHS0001-L01"
    sensors.loc[lowered, "high_high"] = 90.0  # was 95: 92 % is now a high-high alarm
    store.write_store(data_dir, {"sensors": sensors})
    append(data_dir, tmp_path, excursion("MHS0001-L01", 0, [92.0, 92.5]))
    assert notifier.round().sent == 2
    assert "MHS0001-L01 液位 二级 2020-04-01 00:00" in body_of(mailbox.received[0][1])
    notifier.close()


CRASH = """
import os, signal, sys
from pathlib import Path
from safetyviz.notify.rules import load_rules
from safetyviz.notify.service import Notifier
notifier = Notifier(Path(sys.argv[1]), load_rules(Path(sys.argv[2])))
notifier.evaluate()  # the outbox written ...
if sys.argv[3] == "sending":
    notifier.outbox.claim()  # ... and marked as being sent
os.kill(os.getpid(), signal.SIGKILL)  # ... and killed before anything went out
"""


@pytest.mark.parametrize("killed", ["written", "sending"])
def test_a_notifier_killed_after_writing_sends_once_and_never_twice(data_dir, tmp_path,
                                                                     mailbox, receiver,
                                                                     killed):
    path = write_rules(tmp_path, mailbox, receiver)
    notifier = Notifier(data_dir, load_rules(path))
    settled(notifier, mailbox, receiver)
    notifier.close()
    append(data_dir, tmp_path, excursion("MHS0001-L01", 0, [99, 99]))
    crashed = subprocess.run([sys.executable, "-c", CRASH, str(data_dir), str(path), killed],
                             capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -9, crashed.stderr
    assert mailbox.received == [] and receiver.received == []
    notifier = Notifier(data_dir, load_rules(path))  # the restart
    for _ in range(3):
        notifier.round()
    notifier.close()
    if killed == "written":  # exactly once
        assert len(mailbox.received) == 1 and len(receiver.received) == 1
    else:  # it may have gone out: at most once, and said
        assert mailbox.received == [] and receiver.received == []
        assert "uncertain 2" in status(data_dir)


def test_the_service_tells_an_excursion_within_seconds(data_dir, tmp_path, mailbox,
                                                       receiver):
    """`safetyviz notify run` as a service: readings appended while it runs reach both
    channels (the time is printed, not asserted: the machines are shared)."""
    path = write_rules(tmp_path, mailbox, receiver)
    rules = json.loads(path.read_text(encoding="utf-8"))  # the robot's secret from the env
    rules["contacts"][1]["webhook"] = {**rules["contacts"][1]["webhook"], "secret": None,
                                       "secret_env": "SAFETYVIZ_TEST_ROBOT"}
    path.write_text(json.dumps(rules, ensure_ascii=False), encoding="utf-8")
    service = subprocess.Popen([sys.executable, "-m", "safetyviz.cli", "notify", "run",
                                "--rules", str(path), "--every", "0.5", "--data-dir",
                                str(data_dir)], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "SAFETYVIZ_TEST_ROBOT": SECRET})
    try:
        first = service.stdout.readline()  # the first round: the demo's last day
        assert "queued" in first
        mailbox.received.clear()
        receiver.received.clear()
        start = time.monotonic()
        append(data_dir, tmp_path, excursion("MHS0001-L01", 0, [99, 99]))
        while time.monotonic() - start < 120 and not (mailbox.received and receiver.received):
            time.sleep(0.05)
        print(f"excursion → e-mail and DingTalk POST: {time.monotonic() - start:.2f} s")
        assert len(mailbox.received) == 1 and len(receiver.received) == 1
        assert dingtalk_signed(receiver.received[0][0])
    finally:
        service.terminate()
        assert service.wait(timeout=30) == 0


@pytest.mark.parametrize("change, fragments", [
    (lambda r: r["rules"][0].update(kind="flood"),
     ["rule 1 (二级报警)", "field 'kind'", "'flood' is not one of alarm, offline"]),
    (lambda r: r["rules"][0].update(levels=["critical"]),
     ["rule 1 (二级报警)", "field 'levels'", "'critical'"]),
    (lambda r: r["rules"].append({"name": "离线", "kind": "offline", "to": ["county"]}),
     ["rule 2 (离线)", "field 'minutes'", "missing"]),
    (lambda r: r["rules"].append({"name": "离线", "kind": "offline", "minutes": -5,
                                  "to": ["county"]}),
     ["rule 2 (离线)", "field 'minutes'", "above 0"]),
    (lambda r: r["rules"][0].update(minutes=5),
     ["rule 1 (二级报警)", "field 'minutes'", "unknown field"]),
    (lambda r: r["contacts"][1].pop("counties"),
     ["contact 2 (魏都区值班)", "field 'counties'", "needs its counties"]),
    (lambda r: r["contacts"][0].update(email="a@b.cn, c@d.cn"),
     ["contact 1 (市值班)", "field 'email'", "not one e-mail address"]),
    (lambda r: r["contacts"][1]["webhook"].update(url="file:///etc/passwd"),
     ["contact 2 (魏都区值班), webhook", "field 'url'", "http"]),
    (lambda r: r["contacts"][1]["webhook"].update(secret_env="NO_SUCH_VARIABLE_SET"),
     ["field 'secret'", "not both"]),
    (lambda r: r["contacts"][1]["webhook"].update(secret=None,
                                                  secret_env="NO_SUCH_VARIABLE_SET"),
     ["contact 2 (魏都区值班), webhook", "field 'secret_env'", "NO_SUCH_VARIABLE_SET is not set"]),
    (lambda r: r.update(schedules=[{"name": "周报", "every": "week", "day": 1,
                                    "to": ["city"]}]),
     ["schedule 1 (周报)", "field 'every'", "'week' is not one of quarter, month"]),
    (lambda r: r.update(schedules=[{"name": "季度简报", "every": "quarter", "day": 40,
                                    "to": ["city"]}]),
     ["schedule 1 (季度简报)", "field 'day'", "1 to 28"]),
    (lambda r: r.update(rules=[]),
     ["the file", "field 'rules'", "nothing to do"]),
    (lambda r: r["rules"].append({"name": "逾期", "kind": "hazards_overdue",
                                  "listed_only": "yes", "to": ["city"]}),
     ["rule 2 (逾期)", "field 'listed_only'", "true or false"]),
    (lambda r: r.pop("channels"),
     ["contact 1 (市值班)", "field 'email'", "no SMTP server"]),
    (lambda r: r["rules"].append(dict(r["rules"][0])),
     ["rule 2 (二级报警)", "field 'name'", "used by rule 1"]),
])
def test_a_bad_rules_file_is_one_clear_message_naming_entry_and_field(tmp_path, change,
                                                                     fragments):
    path = write_rules(tmp_path, NOWHERE_SMTP, NOWHERE_ROBOT)
    rules = json.loads(path.read_text(encoding="utf-8"))
    change(rules)
    path.write_text(json.dumps(rules, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(UserError) as error:
        load_rules(path)
    assert str(error.value).startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in str(error.value)


def test_notify_check_says_what_is_wrong_in_one_line_and_what_is_right(tmp_path, capsys):
    """The command line: a bad rules file (a wrong kind; YAML that is not plain data; not
    YAML) is one line naming the file, entry and field, exit 2; a good one is counted."""
    from safetyviz import cli

    def check(path: Path):  # the command in this process (its subprocess costs seconds)
        code = cli.main(["notify", "check", "--rules", str(path)])
        out = capsys.readouterr()
        return types.SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    path = write_rules(tmp_path, NOWHERE_SMTP, NOWHERE_ROBOT)
    result = check(path)
    assert result.returncode == 0 and "1 rules, 3 contacts" in result.stdout
    rules = json.loads(path.read_text(encoding="utf-8"))
    rules["rules"][0]["kind"] = "flood"
    path.write_text(json.dumps(rules, ensure_ascii=False), encoding="utf-8")
    assert_one_clear_line(check(path), str(path), "rule 1 (二级报警)", "field 'kind'")
    path = tmp_path / "rules.yaml"
    path.write_text("rules: [\n", encoding="utf-8")
    assert_one_clear_line(check(path), str(path), "line")
    path.write_text("rules: !!python/object/apply:os.system ['true']\n", encoding="utf-8")
    assert_one_clear_line(check(path), str(path))


def test_the_monitoring_page_lists_a_countys_events_and_its_user_acknowledges_them(
        data_dir, tmp_path, mailbox, receiver, monkeypatch):
    """A county user sees their county's events and acknowledges one (audited, timed); another
    county's event key sent as the choice is refused and audited; without a login nothing
    can be acknowledged."""
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from safetyviz.security.access import LOCAL, Access
    from safetyviz.security.audit import audit_log
    from safetyviz.web.components.page import built_as
    from safetyviz.web.pages import PAGES

    notifier = Notifier(data_dir, load_rules(write_rules(tmp_path, mailbox, receiver)))
    settled(notifier, mailbox, receiver)
    append(data_dir, tmp_path, excursion("MHS0001-L01", 0, [99.0, 99.0]) +  # 魏都区
           excursion("MHS0003-L01", 0, [99.0, 99.0]))  # 建安区
    assert notifier.round().sent == 4
    keys = {row["subject"]: row["key"] for row in notifier.outbox.events()
            if row["started"] == "2020-04-01 00:00"}
    notifier.close()
    monkeypatch.setenv("SAFETYVIZ_CATALOG", str(data_dir / "catalog.yaml"))

    def board_of(access):
        with set_curdoc(Document()), built_as(access):
            return PAGES["monitoring"].create().body.board

    board = board_of(Access("li", "county", ("411002",)))
    assert list(board.pick.options.values()) == [keys["MHS0001-L01"]]  # 魏都区's alone
    [label] = board.pick.options
    assert label.endswith(" · 报警 · 2020-04-01 00:00") and "MHS0001" not in label
    table = board.table.value
    assert set(table["重大危险源"]) == {label.split(" · ")[0]}
    assert list(table["状态"]) == ["未确认"] * len(table)
    assert not board.acknowledge(keys["MHS0003-L01"])  # 建安区's: not this session's
    assert not board.acknowledge(["a list"])
    assert audit_log().events[-1]["event"] == "rejected_value"
    written = outbox_version(outbox_path(data_dir))  # (a cached bulletin is made anew)
    assert board.acknowledge(keys["MHS0001-L01"])
    assert outbox_version(outbox_path(data_dir)) != written
    assert audit_log().events[-1]["event"] == "acknowledged"
    assert audit_log().events[-1]["notice"] == keys["MHS0001-L01"]
    assert board.table.value["状态"].iloc[0] == "已确认"
    assert board.table.value["确认人"].iloc[0] == "li"
    assert board.pick.disabled and board.button.disabled  # nothing left to acknowledge
    assert "通知后确认用时中位数" in board.summary.object
    assert not board.acknowledge(keys["MHS0001-L01"])  # not twice
    outbox = outbox_module.Outbox(outbox_path(data_dir))
    [row] = [r for r in outbox.events() if r["key"] == keys["MHS0001-L01"]]
    assert (row["state"], row["acknowledged_by"]) == ("acknowledged", "li")
    assert 0 <= row["acknowledged_at"] - row["told_at"] < 600
    [other] = [r for r in outbox.events() if r["key"] == keys["MHS0003-L01"]]
    assert other["state"] == "new"
    outbox.close()
    # The bulletin of the quarter finds the outbox through the catalog and tells it.
    from safetyviz.analysis import bulletin
    made, _ = bulletin.build("2020Q2", "411002", data=bulletin.load())
    [warnings] = [s.paragraphs[-1] for s in made.sections
                  if s.heading == made.headings["monitoring"]]
    assert re.fullmatch(r"2020年第二季度，魏都区共向值班人员推送.*预警通知1起，其中1起已确认，"
                        r"从推送到确认的时间中位数为\d+\.\d分钟。", warnings), warnings
    anonymous = board_of(LOCAL)  # served without logins: all counties shown, none to confirm
    assert len(anonymous.table.value) > len(board.table.value)
    assert anonymous.pick.disabled and "登录后可确认" in anonymous.summary.object
    assert not anonymous.acknowledge(keys["MHS0003-L01"])
    anonymous.state.lang = "en"
    assert "Log in to acknowledge" in anonymous.summary.object


def test_the_monitoring_page_shows_without_its_notifications_when_the_outbox_is_broken(
        data_dir, monkeypatch):
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from safetyviz.data.catalog import ensure_catalog
    from safetyviz.web.pages import PAGES

    monkeypatch.setenv("SAFETYVIZ_CATALOG", str(ensure_catalog(data_dir)))
    outbox_path(data_dir).parent.mkdir(parents=True)
    outbox_path(data_dir).write_bytes(b"\x00garbage" * 200)
    with set_curdoc(Document()):
        page = PAGES["monitoring"].create().body
    assert page.board is None and page.state is not None  # the readings still shown


@pytest.mark.parametrize("today, due", [
    ("2020-04-04", None), ("2020-04-05", "2020Q1"), ("2020-04-11", "2020Q1"),
    ("2020-04-12", None), ("2021-01-05", "2020Q4"), ("2020-01-04", None)])
def test_a_quarterly_bulletin_is_due_from_its_day_for_a_week(today, due):
    from safetyviz.notify.rules import Schedule
    from safetyviz.notify.schedule import due_period

    assert due_period(Schedule("季度简报", "quarter", 5, ("city",)), today) == due
    assert due_period(Schedule("月报", "month", 3, ("city",)), "2020-03-03") == "2020-02"


def test_the_quarterly_bulletin_goes_to_each_contact_once_on_its_day(data_dir, tmp_path,
                                                                    mailbox, receiver):
    """The city's contact gets the city's bulletin, each county contact its county's, in
    their language: by e-mail as an attachment, by robot as a link; once."""
    path = write_rules(tmp_path, mailbox, receiver)
    rules = json.loads(path.read_text(encoding="utf-8"))
    rules["schedules"] = [{"name": "季度简报", "every": "quarter", "day": 5,
                           "to": ["city", "county"], "format": "html"}]
    path.write_text(json.dumps(rules, ensure_ascii=False), encoding="utf-8")
    notifier = Notifier(data_dir, load_rules(path))
    settled(notifier, mailbox, receiver)  # (today: no quarter's bulletin is due)
    assert notifier.round(today="2020-04-04").queued == 0
    assert notifier.round(today="2020-04-05").sent == 3
    mails = {tuple(to): mail for to, mail in mailbox.received}
    city = mails["city@example.gov.cn",]
    assert city["Subject"] == "[安全生产简报] 许昌市 2020年第一季度"
    [attached] = list(city.iter_attachments())
    assert attached.get_filename() == "季度简报-2020Q1-all-zh.html"
    assert attached.get_content_type() == "text/html"
    assert "全市共排查各类生产经营单位7967家次" in attached.get_content()
    county = mails["jianan@example.gov.cn",]
    assert county["Subject"] == "[Work-safety bulletin] Jian'an District 2020 Q1"
    [attached] = list(county.iter_attachments())
    assert attached.get_filename() == "季度简报-2020Q1-411003-en.html"
    [(_, _, payload)] = receiver.received  # 魏都区's robot: a link to its county's overview
    assert payload["markdown"]["title"] == "[安全生产简报] 魏都区 2020年第一季度"
    assert ("https://safety.example.gov.cn/overview?period=2020Q1&lang=zh&county=411002"
            in payload["markdown"]["text"])
    for day in ("2020-04-06", "2020-04-11", "2020-04-12"):  # once
        assert notifier.round(today=day).queued == 0
    assert len(mailbox.received) == 2 and len(receiver.received) == 1
    notifier.close()


def test_listed_hazards_past_their_deadline_are_told_per_county_and_their_rectification(
        data_dir, tmp_path, mailbox, receiver):
    """挂牌督办 hazards past their deadline and not rectified as of the ledgers' latest date:
    one message per county (to its officer and the city); rectified in a new ledger → one
    message that all are."""
    from safetyviz.data import store
    from safetyviz.data.catalog import ensure_catalog, open_catalog
    from safetyviz.data.loading import load_table

    notifier = Notifier(data_dir, load_rules(write_rules(
        tmp_path, mailbox, receiver, name="挂牌督办逾期", kind="hazards_overdue",
        listed_only=True, levels=None)))
    hazards = load_table("hazards", catalog=open_catalog(ensure_catalog(data_dir))).compute()
    as_of = pd.to_datetime(hazards[["found_date", "rectified_date"]].stack()).max()
    deadline, rectified = (pd.to_datetime(hazards[c]) for c in ("deadline", "rectified_date"))
    overdue = hazards[(deadline < as_of) & (rectified.isna() | (rectified > as_of))
                      & hazards["listed_supervision"].fillna(False).astype(bool)]
    counties = overdue.groupby("adcode").size()
    assert counties.get("411002", 0) > 0
    done = notifier.round()
    assert done.sent == len(counties) + ("411003" in counties) + 1  # + 魏都区's robot
    [(_, _, payload)] = receiver.received
    title, body = payload["markdown"]["title"], payload["markdown"]["text"]
    assert title == "[隐患逾期未整改] 魏都区"
    assert f"逾期未整改隐患 {counties['411002']} 处" in body
    assert "https://safety.example.gov.cn/county?county=411002&lang=zh" in body
    assert notifier.round().sent == 0  # the same ledgers: nothing new
    # a new ledger: 魏都区's are rectified
    weidu = hazards["hazard_id"].isin(overdue.loc[overdue["adcode"] == "411002", "hazard_id"])
    hazards.loc[weidu, "rectified_date"] = as_of
    store.write_store(data_dir, {"hazards": hazards})
    assert notifier.round().sent == 2  # the city's e-mail and 魏都区's robot
    assert receiver.received[-1][2]["markdown"]["title"] == "[逾期隐患已整改] 魏都区"
    notifier.close()


def test_a_county_with_more_accidents_than_a_year_earlier_is_told_once(data_dir, tmp_path,
                                                                      mailbox, receiver):
    """Accidents of the last complete quarter (the ledgers end 2021-12-31: 2021Q4) against
    2020Q4, per county, on a hand-made ledger: 魏都区 3 against 1 is told, 建安区 2 against 2
    is not."""
    from safetyviz.data import store

    rows = [("411002", "2020-11-03"), ("411002", "2021-10-08"), ("411002", "2021-11-20"),
            ("411002", "2021-12-30"), ("411003", "2020-10-01"), ("411003", "2020-12-01"),
            ("411003", "2021-10-15"), ("411003", "2021-12-15"), ("411002", "2021-09-30")]
    accidents = pd.DataFrame({
        "accident_id": [f"A{i}" for i in range(len(rows))],
        "date": pd.to_datetime([d for _, d in rows]), "adcode": [a for a, _ in rows],
        "sector": "construction", "level": "general", "deaths": 0, "injuries": 1,
        "direct_loss_yuan": 10_000})
    store.write_store(data_dir, {"accidents": accidents})
    notifier = Notifier(data_dir, load_rules(write_rules(
        tmp_path, mailbox, receiver, name="事故上升", kind="accidents_rising", levels=None)))
    assert notifier.round().sent == 2  # the city's e-mail and 魏都区's robot
    [(_, mail)] = mailbox.received
    assert mail["Subject"] == "[事故同比上升] 魏都区"
    assert "2021年第四季度发生事故 3 起，上年同期 1 起" in body_of(mail)
    assert "事故上升" in body_of(mail)
    store.write_store(data_dir, {"accidents": accidents.iloc[:-1]})  # a new ledger: same
    assert notifier.round().sent == 0
    notifier.close()


def test_a_scheduled_bulletin_without_data_is_not_tried_every_round(data_dir, tmp_path,
                                                                    mailbox, receiver,
                                                                    monkeypatch):
    """2029Q4 has no data: the bulletin is tried once, then not again for an hour (each try
    costs seconds of CPU); nothing is sent."""
    from safetyviz.notify import schedule

    path = write_rules(tmp_path, mailbox, receiver)
    rules = json.loads(path.read_text(encoding="utf-8"))
    rules["schedules"] = [{"name": "季度简报", "every": "quarter", "day": 5, "to": ["city"],
                           "format": "html"}]
    path.write_text(json.dumps(rules, ensure_ascii=False), encoding="utf-8")
    notifier = Notifier(data_dir, load_rules(path))
    settled(notifier, mailbox, receiver)
    tried = []
    monkeypatch.setattr("safetyviz.report.render.write_report",
                        lambda *args, **kwargs: tried.append(args[0]) or (_ for _ in ()).throw(
                            UserError("no data in 2029Q4")))
    for _ in range(3):
        assert notifier.round(today="2030-01-05").queued == 0
    assert tried == ["2029Q4"]
    monkeypatch.setattr(schedule, "RETRY_S", 0.0)  # the hour passed
    notifier.round(today="2030-01-05")
    assert tried == ["2029Q4", "2029Q4"] and mailbox.received == []
    notifier.close()
