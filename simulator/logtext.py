"""Plausible container output: what a training job, a notebook or a model server prints."""

from __future__ import annotations

import random

from simulator.model import WorkloadSpec

_GPU_NAMES = {"default": "NVIDIA A100-SXM4-80GB", "h100": "NVIDIA H100 80GB HBM3",
              "l40s": "NVIDIA L40S"}


def _training(rng: random.Random, spec: WorkloadSpec, lines: int, replica: int) -> list[str]:
    gpus = max(1, int(spec.gpus))
    gpu = _GPU_NAMES.get(spec.pool.name, "NVIDIA GPU")
    out = [
        "=============",
        "== PyTorch ==",
        "=============",
        f"Container image {spec.image}",
        "NOTE: CUDA Forward Compatibility mode ENABLED.",
        f"[rank{replica}] torch 2.4.0a0+07cecf4 | CUDA 12.4 | cuDNN 9.1.0 | NCCL 2.21.5",
        f"[rank{replica}] world_size={gpus * spec.replicas} local_gpus={gpus} ({gpu})",
        f"Loading dataset /data/{spec.project.name}/{spec.name.rsplit('-', 1)[0]} "
        f"... {rng.randint(100_000, 9_000_000):,} samples",
        f"Model parameters: {rng.uniform(20, 8000):.1f}M, mixed precision bf16",
        "Starting training",
    ]
    loss = rng.uniform(6.0, 9.0)
    step = 0
    while len(out) < lines:
        step += 50
        loss = max(0.05, loss * rng.uniform(0.985, 0.999))
        if step % 1000 == 0:
            out.append(f"[{step}] eval loss {loss * 1.07:.4f} | accuracy "
                       f"{min(0.99, 0.4 + step / 40000):.4f}")
            out.append(f"Saving checkpoint to /checkpoints/{spec.name}/step_{step}.pt")
        else:
            out.append(f"[{step}] train loss {loss:.4f} | lr {3e-4 * rng.uniform(0.5, 1):.1e} | "
                       f"{rng.uniform(90, 160):.1f} samples/s | gpu mem "
                       f"{rng.uniform(20, 70):.1f} GiB")
    return out


def _inference(rng: random.Random, spec: WorkloadSpec, lines: int) -> list[str]:
    out = [
        f"INFO     Starting model server ({spec.image})",
        f"INFO     Loading model weights from /models/{spec.name}",
        "INFO     Model loaded in 41.7 s; KV cache: 18432 blocks",
        "INFO:     Started server process [1]",
        "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)",
    ]
    while len(out) < lines:
        ip = f"10.244.{rng.randint(0, 31)}.{rng.randint(2, 250)}"
        path = rng.choice(("/v1/chat/completions", "/v1/embeddings", "/health"))
        out.append(f'INFO:     {ip}:{rng.randint(30000, 60000)} - "POST {path} HTTP/1.1" 200 OK')
    return out


def _workspace(rng: random.Random, spec: WorkloadSpec, lines: int) -> list[str]:
    out = [
        "[I ServerApp] jupyterlab | extension was successfully loaded.",
        f"[I ServerApp] Serving notebooks from local directory: /home/{spec.submitted_by}",
        "[I ServerApp] Jupyter Server 2.14.2 is running at: http://localhost:8888/lab",
    ]
    while len(out) < lines:
        out.append(f"[I ServerApp] Saving file at /work/{rng.choice(('eda', 'train', 'eval'))}"
                   f"-{rng.randint(1, 9)}.ipynb")
    return out


def output(seed: str, spec: WorkloadSpec, lines: int, replica: int = 0) -> list[str]:
    """`lines` lines of normal output of one container, deterministic for `seed`."""
    rng = random.Random(seed)
    if spec.type == "inference":
        return _inference(rng, spec, lines)
    if spec.type == "workspace":
        return _workspace(rng, spec, lines)
    return _training(rng, spec, lines, replica)


def finished(spec: WorkloadSpec) -> list[str]:
    if spec.type in ("training", "distributed"):
        return ["Training complete.", f"Final checkpoint written to /checkpoints/{spec.name}"]
    return ["Received SIGTERM, shutting down", "INFO:     Finished server process [1]"]
