"""The notification rules file: who is told what, through which channel.

A YAML file of plain data, validated before anything is evaluated or sent: a mistake is one
UserError naming the file, the entry (``rule 2 (离线)``, ``contact 1 (许昌值班)``) and the
field. The sections::

    link: https://safety.example.gov.cn      # the dashboards' address, for the links
    channels:
      smtp: {host: 127.0.0.1, port: 25, sender: alarms@example.gov.cn}
    contacts:
      - {name: 许昌值班, role: city, email: duty@example.gov.cn}
      - {name: 魏都区值班, role: county, counties: ["411002"], lang: zh,
         webhook: {format: dingtalk, url: "https://oapi.dingtalk.com/robot/send?access_token=…",
                   secret_env: DINGTALK_SECRET}}
    rules:
      - {name: 二级报警, kind: alarm, levels: [high_high], to: [county, city],
         repeat_minutes: 60}
      - {name: 离线, kind: offline, minutes: 30, to: [county]}
      - {name: 在线率, kind: online_rate, threshold: 80, to: [county, city]}
      - {name: 挂牌督办逾期, kind: hazards_overdue, listed_only: true, to: [county, city]}
    schedules:
      - {name: 季度简报, every: quarter, day: 5, to: [city, county]}

An ``online_rate`` rule tells each county-level unit whose installations' online rate
(online ÷ registered, as the bulletin counts it; online: a reading in the last 5 minutes)
falls below ``threshold`` %. A ``hazards_overdue`` rule tells, per county, the hazards past
their rectification deadline and not rectified (``listed_only``: 挂牌督办 ones;
``major_only``: major ones); an ``accidents_rising`` rule, the counties with more accidents
in the last complete quarter (``every: month``: month) than in the same one a year earlier.
A rule's ``to`` names roles; a county contact receives only
events of its counties, a city or province contact all of them. Secrets may be read from
the environment (``secret_env``) rather than kept in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetyviz.core.errors import UserError
from safetyviz.core.files import read_yaml
from safetyviz.core.settings import named_secret

ROLES = ("province", "city", "county")
WEBHOOK_FORMATS = ("dingtalk", "wecom", "json")
# kind → the fields it takes beyond name, kind, to and repeat_minutes
RULE_KINDS = {"alarm": ("levels",), "offline": ("minutes",), "online_rate": ("threshold",),
              "hazards_overdue": ("listed_only", "major_only"), "accidents_rising": ("every",)}
READING_KINDS = ("alarm", "offline", "online_rate")  # evaluated on the readings
LEDGER_KINDS = ("hazards_overdue", "accidents_rising")  # evaluated on the ledgers
ALARM_LEVELS = ("high", "high_high")
LANGS = ("zh", "en")
EVERY = ("quarter", "month")  # a schedule's periods
FORMATS = ("pdf", "html")  # a scheduled bulletin's


@dataclass(frozen=True)
class Webhook:
    """A group robot or an endpoint taking a JSON POST; ``secret`` signs where the service
    signs (DingTalk's HMAC-SHA256 of the timestamp; a generic hook's body)."""

    format: str
    url: str
    secret: str | None = None


@dataclass(frozen=True)
class Contact:
    name: str
    role: str
    counties: tuple[str, ...] = ()  # a county contact's units (adcodes)
    lang: str = "zh"
    email: str | None = None
    webhook: Webhook | None = None

    def receives(self, adcode: str) -> bool:
        """Whether an event in unit ``adcode`` is this contact's to know."""
        return self.role != "county" or adcode in self.counties


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    to: tuple[str, ...]  # roles
    levels: tuple[str, ...] = ALARM_LEVELS  # alarm rules: the levels that notify
    minutes: float = 0.0  # offline rules: how long without a reading
    threshold: float = 0.0  # online-rate rules: a unit's rate below this (%) is told
    listed_only: bool = False  # overdue-hazard rules: only 挂牌督办 hazards
    major_only: bool = False  # overdue-hazard rules: only major hazards
    every: str = "quarter"  # accident rules: the periods compared with a year earlier
    repeat_minutes: float = 60.0  # the same rule and site not again sooner


@dataclass(frozen=True)
class Schedule:
    """A bulletin sent after each period: on the ``day``-th day after a quarter (or month)
    ends, its bulletin — the whole data's to city and province contacts, each county's to
    its county contacts — by e-mail as an attachment, by webhook as a link."""

    name: str
    every: str  # quarter, month
    day: int
    to: tuple[str, ...]
    format: str = "pdf"


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int = 25
    sender: str = "safetyviz@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


@dataclass(frozen=True)
class Rules:
    path: Path
    rules: tuple[Rule, ...]
    contacts: tuple[Contact, ...]
    smtp: Smtp | None = None
    link: str = ""
    schedules: tuple[Schedule, ...] = ()

    def recipients(self, rule: Rule, adcode: str) -> list[Contact]:
        """The contacts of ``rule``'s roles who receive an event in ``adcode``."""
        return [c for c in self.contacts if c.role in rule.to and c.receives(adcode)]


class _Entry:
    """Reads the fields of one mapping of the file, each error naming where it is."""

    def __init__(self, path: Path, where: str, data: Any, allowed: tuple[str, ...]):
        self.path, self.where = path, where
        if not isinstance(data, dict):
            self.fail(None, "must be a mapping of fields")
        unknown = sorted(set(map(str, data)) - set(allowed))
        if unknown:
            self.fail(unknown[0], f"unknown field (allowed: {', '.join(allowed)})")
        self.data = data

    def fail(self, field: str | None, problem: str):
        at = f", field '{field}'" if field else ""
        raise UserError(f"{self.path}: {self.where}{at}: {problem}")

    def text(self, field: str, default: str | None = None, required: bool = False) -> Any:
        value = self.data.get(field, default)
        if value is None:
            if required:
                self.fail(field, "missing")
            return None
        if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
            self.fail(field, "must be a non-empty text")
        return str(value).strip()

    def choice(self, field: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.text(field, default, required=default is None)
        if value not in choices:
            self.fail(field, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def choices(self, field: str, choices: tuple[str, ...], default: tuple[str, ...] = ()
                ) -> tuple[str, ...]:
        value = self.data.get(field, list(default))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            self.fail(field, f"must be a list of {', '.join(choices)}")
        for item in value:
            if item not in choices:
                self.fail(field, f"{item!r} is not one of {', '.join(choices)}")
        return tuple(dict.fromkeys(value))

    def number(self, field: str, default: float | None = None, minimum: float = 0.0) -> float:
        value = self.data.get(field, default)
        if value is None:
            self.fail(field, "missing")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= minimum:
            self.fail(field, f"must be a number above {minimum:g}")
        return float(value)

    def secret(self, field: str) -> str | None:
        """``field`` or, named by ``field_env``, the environment variable holding it."""
        value = self.text(field)
        env = self.text(f"{field}_env")
        if value is not None and env is not None:
            self.fail(field, f"give '{field}' or '{field}_env', not both")
        if env is not None:
            secret = named_secret(env)
            if secret is None:
                self.fail(f"{field}_env", f"the environment variable {env} is not set")
            return secret
        return value


def _contact(path: Path, index: int, data: Any) -> Contact:
    name = data.get("name") if isinstance(data, dict) else None
    entry = _Entry(path, f"contact {index}" + (f" ({name})" if name else ""), data,
                   ("name", "role", "counties", "lang", "email", "webhook"))
    role = entry.choice("role", ROLES)
    counties = entry.data.get("counties", [])
    if not isinstance(counties, list) or not all(
            isinstance(c, str | int) and str(c).isdigit() and len(str(c)) == 6
            for c in counties):
        entry.fail("counties", "must be a list of six-digit adcodes")
    if role == "county" and not counties:
        entry.fail("counties", "a county contact needs its counties")
    email = entry.text("email")
    if email is not None and ("@" not in email or any(c in email for c in " \r\n,;<>")):
        entry.fail("email", f"{email!r} is not one e-mail address")
    webhook = None
    if "webhook" in entry.data:
        hook = _Entry(path, f"{entry.where}, webhook", entry.data["webhook"],
                      ("format", "url", "secret", "secret_env"))
        url = hook.text("url", required=True)
        if not url.startswith(("http://", "https://")):
            hook.fail("url", "must be an http:// or https:// address")
        webhook = Webhook(hook.choice("format", WEBHOOK_FORMATS), url, hook.secret("secret"))
    if email is None and webhook is None:
        entry.fail(None, "needs an 'email' or a 'webhook' to be reached at")
    return Contact(entry.text("name", required=True), role, tuple(map(str, counties)),
                   entry.choice("lang", LANGS, "zh"), email, webhook)


def _rule(path: Path, index: int, data: Any) -> Rule:
    name = data.get("name") if isinstance(data, dict) else None
    where = f"rule {index}" + (f" ({name})" if name else "")
    common = ("name", "kind", "to", "repeat_minutes")
    every = tuple(dict.fromkeys(f for fields in RULE_KINDS.values() for f in fields))
    kind = _Entry(path, where, data, (*common, *every)).choice("kind", tuple(RULE_KINDS))
    entry = _Entry(path, where, data, (*common, *RULE_KINDS[kind]))
    fields: dict[str, Any] = {}
    if kind == "alarm":
        fields["levels"] = entry.choices("levels", ALARM_LEVELS, ALARM_LEVELS)
    if kind == "offline":
        fields["minutes"] = entry.number("minutes")
    if kind == "hazards_overdue":
        for flag in ("listed_only", "major_only"):
            value = entry.data.get(flag, False)
            if not isinstance(value, bool):
                entry.fail(flag, "must be true or false")
            fields[flag] = value
    if kind == "accidents_rising":
        fields["every"] = entry.choice("every", EVERY, "quarter")
    if kind == "online_rate":
        fields["threshold"] = entry.number("threshold")
        if fields["threshold"] > 100:
            entry.fail("threshold", "must be a percentage (at most 100)")
    return Rule(entry.text("name", required=True), kind, entry.choices("to", ROLES),
                repeat_minutes=entry.number("repeat_minutes", 60.0), **fields)


def _schedule(path: Path, index: int, data: Any) -> Schedule:
    name = data.get("name") if isinstance(data, dict) else None
    entry = _Entry(path, f"schedule {index}" + (f" ({name})" if name else ""), data,
                   ("name", "every", "day", "to", "format"))
    day = entry.number("day")
    if day != int(day) or day > 28:
        entry.fail("day", "must be a whole number of days, 1 to 28")
    return Schedule(entry.text("name", required=True), entry.choice("every", EVERY),
                    int(day), entry.choices("to", ROLES), entry.choice("format", FORMATS, "pdf"))


def load_rules(path: Path) -> Rules:
    """The rules file at ``path``, validated (see the module's docstring)."""
    path = Path(path)
    data = read_yaml(path, "notification rules")
    top = _Entry(path, "the file", data, ("link", "channels", "contacts", "rules",
                                          "schedules"))
    contacts = data.get("contacts") or []
    rules = data.get("rules") or []
    schedules = data.get("schedules") or []
    if not isinstance(contacts, list) or not contacts:
        top.fail("contacts", "must be a list of at least one entry")
    for field, items in (("rules", rules), ("schedules", schedules)):
        if not isinstance(items, list):
            top.fail(field, "must be a list")
    if not rules and not schedules:
        top.fail("rules", "no rules and no schedules: nothing to do")
    smtp = None
    channels = _Entry(path, "channels", data.get("channels") or {}, ("smtp",))
    if "smtp" in channels.data:
        mail = _Entry(path, "channels, smtp", channels.data["smtp"],
                      ("host", "port", "sender", "user", "password", "password_env",
                       "starttls", "timeout"))
        port = mail.number("port", 25)
        if port != int(port) or port > 65535:
            mail.fail("port", "must be a port number (1–65535)")
        starttls = mail.data.get("starttls", False)
        if not isinstance(starttls, bool):
            mail.fail("starttls", "must be true or false")
        smtp = Smtp(mail.text("host", required=True), int(port),
                    mail.text("sender", "safetyviz@localhost"), mail.text("user"),
                    mail.secret("password"), starttls, mail.number("timeout", 10.0))
    made = Rules(path, tuple(_rule(path, i, r) for i, r in enumerate(rules, 1)),
                 tuple(_contact(path, i, c) for i, c in enumerate(contacts, 1)), smtp,
                 (top.text("link") or "").rstrip("/"),
                 tuple(_schedule(path, i, c) for i, c in enumerate(schedules, 1)))
    for index, contact in enumerate(made.contacts, 1):
        if contact.email and smtp is None:
            raise UserError(f"{path}: contact {index} ({contact.name}), field 'email': "
                            "no SMTP server under channels: smtp")
    names = [r.name for r in made.rules] + [s.name for s in made.schedules]
    for index, name in enumerate(names, 1):
        if names.index(name) != index - 1:
            what = (f"rule {index}" if index <= len(made.rules)
                    else f"schedule {index - len(made.rules)}")
            first = names.index(name) + 1
            raise UserError(f"{path}: {what} ({name}), field 'name': used by "
                            + (f"rule {first}" if first <= len(made.rules)
                               else f"schedule {first - len(made.rules)}") + " too")
    return made
