"""The state server processes share (:mod:`safetyviz.serve.shared`), in both stores — an
SQLite file (one host) and a real redis-server (several hosts): logins, the login throttles
and the per-user session limits seen alike by two processes, and a store that goes down
and comes back."""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from safetyviz.core.errors import UserError
from safetyviz.serve.limits import LoginThrottle, SessionLimiter, Throttle
from safetyviz.serve.shared import RedisState, SqliteState, StateUnavailable, open_state


@pytest.fixture(params=["sqlite", "redis"])
def two_processes(request, tmp_path):
    """A factory of states over one store, as two server processes (or hosts) see it: each
    call is another connection, with the clock ``now[0]``."""
    now = [1000.0]
    if request.param == "sqlite":
        path = tmp_path / "logs" / "sessions.sqlite3"
        made = [SqliteState(path, hours=8, clock=lambda: now[0]) for _ in range(2)]
    else:
        url = request.getfixturevalue("redis_server").url
        prefix = f"test-{secrets.token_hex(4)}:"  # each test its own keys
        made = [RedisState(url, hours=8, clock=lambda: now[0], prefix=prefix)
                for _ in range(2)]
    yield made, now
    for state in made:
        state.close()


def test_logins_are_seen_and_ended_by_every_process(two_processes):
    (state, other), now = two_processes
    first = state.create("wang", "fp1", "10.0.0.1")
    second = state.create("wang", "fp1", "10.0.0.2")
    assert len(first) >= 43 and first != second
    assert other.get(first).user == "wang" and other.get(first).fingerprint == "fp1"
    assert other.live({first, second, "x"}) == {first, second}
    state.end(first)
    assert other.get(first) is None and other.live({first, second}) == {second}
    assert other.is_known_address("wang", "10.0.0.1")
    assert not other.is_known_address("wang", "10.0.0.3")
    assert other.count("wang") == 1 and other.count() == 1
    assert state.end_user("wang", keep_fingerprint="fp1") == 0
    assert state.end_user("wang") == 1 and other.get(second) is None
    third = state.create("li", "fp2", None)
    now[0] += 8 * 3600 + 1  # expired
    assert other.get(third) is None and other.live({third}) == set()
    state.purge()
    assert other.count() == 0
    now[0] += 91 * 86400  # an address is trusted for 90 days
    assert not other.is_known_address("wang", "10.0.0.1")


def test_the_sqlite_file_is_the_owners_only(tmp_path):
    SqliteState(tmp_path / "logs" / "sessions.sqlite3")
    assert oct((tmp_path / "logs" / "sessions.sqlite3").stat().st_mode & 0o777) == "0o600"


def test_a_throttle_waits_for_the_oldest_failure_to_leave_the_window(two_processes):
    (state, other), now = two_processes
    here, there = Throttle(state, "t", limit=3, window=60), Throttle(other, "t", 3, 60)
    for throttle in (here, there, here):  # failures in two processes count together
        assert throttle.wait("li") == 0
        assert throttle.attempt("li") == 0
        now[0] += 10
    assert there.wait("li") == 30  # failures at 1000, 1010, 1020; now 1030
    assert here.attempt("li") == 30  # refused, and not counted
    assert here.wait("wang") == 0
    now[0] = 1060.5  # the first failure left the window
    assert there.wait("li") == 0
    here.clear("li")
    assert there.attempt("li") == there.attempt("li") == there.attempt("li") == 0
    there.forgive("li")  # one succeeded
    assert here.attempt("li") == 0 and here.attempt("li") == 60


def test_attempts_made_at_once_by_two_processes_cannot_pass_the_limit(two_processes):
    (state, other), _ = two_processes
    throttles = [Throttle(state, "t", 5, 900), Throttle(other, "t", 5, 900)]
    with ThreadPoolExecutor(8) as pool:
        waits = list(pool.map(lambda n: throttles[n % 2].attempt("wang\x0010.0.0.9"),
                              range(40)))
    assert sum(wait == 0 for wait in waits) == 5


def test_failed_logins_cannot_lock_the_owner_out(two_processes):
    """Per (user, address) five failures; per user a hundred, but never from an address the
    user logged in from; per address twenty, for names not known there."""
    (state, other), now = two_processes
    state.create("wang", "fp", "10.9.9.9")  # the owner's address
    here = LoginThrottle(state, per_pair=5, per_user=100, per_address=20)
    there = LoginThrottle(other, per_pair=5, per_user=100, per_address=20)
    for n in range(100):  # an attacker's 100 failures from 20 addresses, 5 each, both servers
        assert (here, there)[n % 2].attempt("wang", f"10.0.0.{n // 5}") == 0
    assert here.attempt("wang", "10.0.0.0") > 0  # that pair has had its five
    assert there.attempt("wang", "10.0.1.1") > 0  # the name, from a new address
    assert here.attempt("wang", "10.9.9.9") == 0  # the owner's own address: in
    here.succeeded("wang", "10.9.9.9")
    now[0] += 901  # a quarter of an hour later, all is forgotten
    assert there.attempt("wang", "10.0.1.1") == 0
    # spraying names from one address stops at 20, but not for a name known there
    for n in range(20):
        assert (here, there)[n % 2].attempt(f"user{n}", "10.9.9.9") == 0
    assert here.attempt("zhao", "10.9.9.9") > 0
    assert there.attempt("wang", "10.9.9.9") == 0


class Socket:  # stands for a websocket handler (held weakly by the limiter)
    pass


def test_a_users_work_takes_turns_others_go_between_and_a_held_turn_is_passed(monkeypatch):
    """One piece of a user's work at a time in a process (a session built, a message
    handled); another user's goes while theirs waits; a turn held past TURN_SECONDS (a
    client not reading its replies) holds their next piece no longer than that."""
    import asyncio

    from safetyviz.serve import limits

    monkeypatch.setattr(limits, "TURN_SECONDS", 0.3)
    limiter = SessionLimiter(None, 3)  # (turns are this process's: no shared state)
    order: list[str] = []

    async def work(user: str, name: str, until) -> None:
        async with limiter.turn(user):
            order.append(f"{name} in")
            await until
            order.append(f"{name} out")

    async def main() -> None:
        first_done = asyncio.get_running_loop().create_future()
        first = asyncio.create_task(work("li", "li 1", first_done))
        while not order:  # li's first piece under way
            await asyncio.sleep(0.01)
        second = asyncio.create_task(work("li", "li 2", asyncio.sleep(0)))
        await work("wang", "wang", asyncio.sleep(0))  # wang's goes while li's is held
        assert order == ["li 1 in", "wang in", "wang out"]
        await asyncio.wait_for(second, 3)  # li's second waited its TURN_SECONDS, then went
        assert order[3:] == ["li 2 in", "li 2 out"]
        first_done.set_result(None)
        await first
        assert order[5:] == ["li 1 out"]
        # each turn given back once, the one passed by not: one of li's at a time again
        third_done = asyncio.get_running_loop().create_future()
        third = asyncio.create_task(work("li", "li 3", third_done))
        await asyncio.sleep(0.05)
        fourth = asyncio.create_task(work("li", "li 4", asyncio.sleep(0)))
        await asyncio.sleep(0.1)
        assert order[6:] == ["li 3 in"]
        third_done.set_result(None)
        await asyncio.wait_for(asyncio.gather(third, fourth), 1)
        assert order[7:] == ["li 3 out", "li 4 in", "li 4 out"]

    asyncio.run(main())


def test_open_sessions_of_a_user_are_counted_across_processes(two_processes):

    (state, other), now = two_processes
    here, there = SessionLimiter(state, 3, page_seconds=60), SessionLimiter(other, 3, 60)

    assert here.page("li") and there.page("li")
    assert here.page("li")
    assert not there.page("li")  # three pages already, over both processes
    sockets = [Socket(), Socket(), Socket()]
    here.socket_opened("li", sockets[0])  # a page's socket takes that page's place
    there.socket_opened("li", sockets[1])
    here.socket_opened("li", sockets[2])
    assert state.leases("page", "li") == 0 and other.leases("socket", "li") == 3
    assert not there.may_connect("li") and here.may_connect("wang")
    here.socket_closed("li", sockets[0])
    assert there.may_connect("li")
    # a process that stops renewing (gone) frees its places when the lease lapses
    now[0] += 20
    there.renew()
    now[0] += 15
    assert state.leases("socket", "li") == 1  # there's, renewed; here's lapsed


def test_a_redis_down_is_unavailable_at_once_and_back_when_it_is(redis_server):
    state = RedisState(redis_server.url, prefix=f"test-{secrets.token_hex(4)}:")
    login = state.create("wang", "fp", "10.0.0.1")
    redis_server.stop()
    try:
        started = time.monotonic()
        with pytest.raises(StateUnavailable, match="127.0.0.1"):
            state.get(login)
        with pytest.raises(StateUnavailable):  # asked again at once: fails at once
            state.window_attempt("k", 5, 900)
        assert time.monotonic() - started < 3
        throttle = LoginThrottle(state)
        with pytest.raises(StateUnavailable):
            throttle.attempt("wang", "10.0.0.1")
    finally:
        redis_server.start()
    time.sleep(1.1)  # past the retry pause
    assert state.get(login) is None  # a new redis-server (nothing saved): logged out
    assert state.get(state.create("wang", "fp", "10.0.0.1")).user == "wang"


def test_a_shared_state_url_is_checked_before_serving(redis_server):
    with pytest.raises(UserError, match="redis://, rediss:// or unix://"):
        open_state("http://example/", None)
    with pytest.raises(UserError, match="is redis-server running there"):
        open_state("redis://127.0.0.1:1/0", None)
    assert isinstance(open_state(None, None), SqliteState)
    assert repr(open_state(redis_server.url.replace("//", "//:pw@"), None)).count("pw") == 0
