"""Provider keys stay with the platform: a hosted fallback is a gateway secret the contract names;
governance flags a hosted entry whose key is read from an environment variable."""
from __future__ import annotations

import pytest
import yaml
from gateway_fixtures import World, world, world_template  # noqa: F401 (fixtures)

from releasegate.core import Refused
from releasegate.gateway import (
    apply_endpoint,
    desired_endpoint,
    provider_key_findings,
    read_endpoint,
    record_replica,
    set_provider_secret,
    verify_servable,
)
from releasegate.releases import Ledger
from releasegate.scenarios import load_scenario

SID = "support-triage"
HOSTED = {"model": "gpt-4o-mini", "prompt_version": "v2", "endpoint": "https://api.provider.example/v1",
          "cost": {"pricing": "token", "usd_per_million_input": 0.15, "usd_per_million_output": 0.6}}


def _contract(world: World, **entry: object) -> None:
    path = world.root / "datasets" / SID / "scenario.yaml"
    data = yaml.safe_load(path.read_text())
    data["models"]["hosted-v1"] = {**HOSTED, **entry}
    data["route_policy"]["fallback"] = "hosted-v1"
    data["prompt_family"]["versions"]["v2"]["compatible_models"].append("gpt-4o-mini")
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_hosted_fallback_is_the_gateway_secret_the_contract_names(world: World) -> None:
    _contract(world, gateway_secret="support-triage/provider")
    ledger = Ledger.open()
    release = verify_servable(SID, "champion")
    record_replica(ledger, release, api_base="http://127.0.0.1:9/v1", served_model="gemma3-270m")
    spec = desired_endpoint(SID, ledger=ledger)
    hosted = spec.fallbacks[0]
    assert (hosted.hosted, hosted.secret, hosted.api_base) == (True, "support-triage/provider",
                                                               "https://api.provider.example/v1")
    with pytest.raises(Refused, match="the platform sets it"):
        apply_endpoint(spec)  # the platform has not stored the key yet: nothing invents one
    set_provider_secret("support-triage/provider", "sk-platform-only-0123456789", api_base=hosted.api_base)
    apply_endpoint(spec)
    have = read_endpoint(SID)
    assert {m.secret for m in have.fallbacks} == {"support-triage/provider"}
    assert "sk-platform-only" not in repr(have.to_dict())  # what anyone reading the endpoint sees
    from releasegate.gateway._endpoint import gateway_store
    masked = {s.secret_name: s.masked_values for s in gateway_store().list_secret_infos()}
    assert masked["support-triage/provider"]["api_key"] != "sk-platform-only-0123456789"


def test_governance_flags_a_provider_key_outside_the_gateway(world: World) -> None:
    _contract(world, api_key_env="PROVIDER_API_KEY")
    findings = provider_key_findings([load_scenario(SID)])
    assert findings == {SID: ["hosted-v1: provider key read from $PROVIDER_API_KEY, outside the gateway: name a "
                              "gateway_secret (platform-held), or open an exception of kind direct_provider_key "
                              "(`governance --open-exceptions`)"]}
    from releasegate.reports import governance_report
    assert governance_report()["provider_keys_outside_gateway"] == findings


def test_governance_opens_the_direct_provider_key_exception_once(world: World) -> None:
    import datetime as dt

    from typer.testing import CliRunner

    from releasegate.flows.cli import app
    from releasegate.releases import close_exception, list_exceptions
    from releasegate.reports import governance_report

    _contract(world, api_key_env="PROVIDER_API_KEY")
    ledger = Ledger.open()
    assert governance_report()["provider_key_exceptions"] == {}  # reading governance opens nothing
    assert list_exceptions(ledger, scenario_id=SID) == []

    metrics = governance_report(open_exceptions=True, actor="governance-run")
    eid = metrics["provider_key_exceptions"][SID]
    [record] = list_exceptions(ledger, scenario_id=SID)
    assert (record.exception_id, record.kind, record.owner, record.is_open) == (
        eid, "direct_provider_key", "platform-owner@platform.example", True)
    assert "hosted-v1 ($PROVIDER_API_KEY)" in record.reason and record.opened_by == "governance-run"
    assert record.expires == dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=90)
    assert metrics["portfolio"]["exceptions"]["open"] == 1  # the report counts what it opened

    # Again (the CLI): the same exception, nothing new in the ledger.
    opened = len(ledger.events(event_type="exception_opened"))
    result = CliRunner().invoke(app, ["governance", "--open-exceptions"])
    assert result.exit_code == 0, result.output
    assert f"(covered by {eid})" in " ".join(result.output.split())
    assert len(ledger.events(event_type="exception_opened")) == opened

    # Closed while the key is still outside the gateway: the next run opens a new one.
    close_exception(eid, resolution="should not have been closed", ledger=ledger)
    again = governance_report(open_exceptions=True)["provider_key_exceptions"][SID]
    assert again != eid and len(ledger.events(event_type="exception_opened")) == opened + 1

    # The key moved into a gateway secret: nothing left to cover.
    _contract(world, gateway_secret="support-triage/provider")
    assert governance_report(open_exceptions=True)["provider_key_exceptions"] == {}
