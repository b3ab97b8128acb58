"""What-if for bench/gateway_overhead.py only (never on releasegate's own servers): MLflow 3.17.2's
gateway with three per-request costs memoized, to measure what they take. Imported at start-up by
every Python process whose PYTHONPATH starts with this folder, when RELEASEGATE_BENCH_WHATIF=1.

- `ChatCompletionRequest.model_json_schema()`: computed for every chat request (passed to the
  guardrail runner even when the endpoint has no guardrails); a pure function of the class;
- `list_endpoint_guardrail_configs(endpoint_id)`: a database read per request; kept 10 s, as the
  endpoint config itself is (`--secrets-cache-ttl 10`);
- `KEKManager._derive_kek`: PBKDF2 (600,000 iterations) each time the endpoint config cache
  expires; a pure function of passphrase and version.
"""
import functools
import os
import time

if os.environ.get("RELEASEGATE_BENCH_WHATIF") == "1":
    from mlflow.store.tracking.gateway.sqlalchemy_mixin import SqlAlchemyGatewayStoreMixin
    from mlflow.types.chat import ChatCompletionRequest
    from mlflow.utils import crypto

    _schema = ChatCompletionRequest.model_json_schema()
    ChatCompletionRequest.model_json_schema = classmethod(lambda cls, *a, **k: _schema)

    _derive = crypto.KEKManager._derive_kek
    _kek = functools.lru_cache(maxsize=8)(lambda passphrase, version: _derive(None, passphrase, version))
    crypto.KEKManager._derive_kek = lambda self, passphrase, version: _kek(passphrase, version)

    _list = SqlAlchemyGatewayStoreMixin.list_endpoint_guardrail_configs
    _configs: dict = {}

    def _cached_configs(self, endpoint_id, *args, **kwargs):
        hit = _configs.get(endpoint_id)
        if hit is None or time.monotonic() - hit[0] > 10:
            hit = _configs[endpoint_id] = (time.monotonic(), _list(self, endpoint_id, *args, **kwargs))
        return hit[1]

    SqlAlchemyGatewayStoreMixin.list_endpoint_guardrail_configs = _cached_configs
