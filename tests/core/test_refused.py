"""The one refusal type: every reason, each with a machine code; the CLI prints it one way."""
from __future__ import annotations

import pickle

import pytest

from releasegate.core import Reason, Refused


def test_refused_carries_every_reason_with_its_code() -> None:
    exc = Refused(["no product signature", "stale contract"], code="promotion")
    assert exc.exit_code == 1 and exc.code == "promotion"
    assert exc.reasons == ["no product signature", "stale contract"]
    assert [r.code for r in exc.reasons] == ["promotion", "promotion"]
    assert str(exc) == "no product signature; stale contract"


def test_a_wrapping_refusal_keeps_where_each_reason_came_from() -> None:
    inner = Refused(["chain broken at row 4"], code="trust")
    outer = Refused([*inner.reasons, "owner of EX-1 cannot review it"], code="operating")
    assert [(str(r), r.code) for r in outer.reasons] == [
        ("chain broken at row 4", "trust"), ("owner of EX-1 cannot review it", "operating")]


def test_refusal_survives_pickling_with_codes() -> None:  # Prefect stores flow results and errors pickled
    back = pickle.loads(pickle.dumps(Refused([Reason("revoked", "serve"), "drift"], code="endpoint")))
    assert back.code == "endpoint" and [(str(r), r.code) for r in back.reasons] == [("revoked", "serve"),
                                                                                      ("drift", "endpoint")]


def test_main_prints_an_uncaught_refusal_like_every_other(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from releasegate.flows import cli

    def refuse() -> None:
        raise Refused(["first reason", "second reason"], code="trust")

    monkeypatch.setattr(cli, "app", refuse)
    with pytest.raises(SystemExit) as ended:
        cli.main()
    assert ended.value.code == 1
    assert capsys.readouterr().err.splitlines() == ["refused (trust):", "  - first reason", "  - second reason"]
