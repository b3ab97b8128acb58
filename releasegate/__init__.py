"""releasegate: an evaluation gate and two-key release pipeline for self-hosted LLM scenarios.

One installed namespace. The stages are subpackages, in import order:
`releasegate.scenarios -> gpu -> evals -> releases -> gateway -> reports -> flows`; a stage imports only
the stages before it. `releasegate.core` holds the primitives every stage may use.
"""
