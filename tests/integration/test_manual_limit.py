"""Issue 11, point 8: the limit on runs started by hand (`playbooks.manual_rate_limit`) behind a proxy, against
`perfbudget serve` with two workers.

The exporter sits behind one trusted proxy (`server.trusted_proxy_hops: 1`), so every request arrives from
127.0.0.1 and the client is the last `X-Forwarded-For` entry, as for beacons. An anonymous client that uses up
the budget gets 429s; another client behind the same proxy does not, and the operator's requests with an
execute token are never counted against the anonymous budget, nor refused by it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .stack import Server, exporter, http

pytestmark = pytest.mark.integration
TOKEN = "manual-limit-test-token-0123456789"
LIMIT = 3  # per worker process and minute
ATTACKER = {"X-Forwarded-For": "203.0.113.7"}
OPERATOR = {"X-Forwarded-For": "198.51.100.20"}
DRY_RUN = {"playbookId": "layout-stability", "dryRun": True}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("manual-limit")
    site = tmp / "site"
    site.mkdir()
    (site / "index.html").write_text("<html><body><p>shop</p></body></html>\n")
    config = {
        "server": {"trusted_proxy_hops": 1},
        "site_root": str(site),
        # answer_wait_seconds 0: every accepted run is a 202 at once (the limit is the subject here).
        "playbooks": {"manual_rate_limit": f"{LIMIT}/minute", "execute": ["layout-stability"],
                      "cooldown_seconds": 0, "queue_size": 1000, "answer_wait_seconds": 0},
    }
    with exporter(tmp, config=config, env={"PERFBUDGET_API_TOKEN": TOKEN}, workers=2) as srv:
        yield srv


def _post(srv: Server, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    return http("POST", f"{srv.url}/api/perf-fix", body, headers)


def _exhaust(srv: Server, headers: dict[str, str]) -> list[int]:
    """Anonymous dry runs until ten in a row are refused: every worker's budget for this client is spent
    (each worker counts on its own, so a client gets at most workers x LIMIT)."""
    codes: list[int] = []
    while len(codes) < 200 and codes[-10:] != [429] * 10:
        codes.append(_post(srv, DRY_RUN, headers)[0])
    return codes


def test_an_anonymous_client_that_spends_the_budget_locks_out_neither_the_operator_nor_its_neighbours(
    served: Server,
) -> None:
    codes = _exhaust(served, ATTACKER)
    assert codes[-10:] == [429] * 10, codes
    assert set(codes) == {202, 429} and codes.count(202) <= 2 * LIMIT, codes
    status, refused = _post(served, DRY_RUN, ATTACKER)
    assert status == 429 and "manual_rate_limit" in refused["error"], refused

    # Another client behind the same proxy (same peer address, 127.0.0.1) has its own budget.
    status, answer = _post(served, DRY_RUN, OPERATOR)
    assert status == 202, answer

    # The operator, with the execute token, from the attacker's very address: more runs than the whole
    # anonymous budget of both workers, none refused, and the execute too.
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(2 * LIMIT + 2):
        status, answer = _post(served, DRY_RUN, {**ATTACKER, **bearer})
        assert status == 202, answer
    status, answer = _post(served, {**DRY_RUN, "dryRun": False}, {**ATTACKER, **bearer})
    assert status == 202 and answer["mode"] == "executed" and answer["runMode"] == "execute", answer
    assert answer["trigger"] == {"type": "manual", "token": "env", "client": ATTACKER["X-Forwarded-For"]}

    # ... and none of it was counted: the anonymous client is still refused, its neighbour still served.
    assert _post(served, DRY_RUN, ATTACKER)[0] == 429
    assert _post(served, DRY_RUN, OPERATOR)[0] == 202

    # A wrong token is no way around the anonymous budget.
    wrong = {**ATTACKER, "Authorization": "Bearer not-the-token-0123456789abcdef"}
    assert _post(served, DRY_RUN, wrong)[0] == 429
