"""Xids read by NVIDIA's catalogue (exporter/classifier/xid_catalog.py), not a number list."""

from __future__ import annotations

import pytest

from exporter.classifier import classify
from exporter.classifier.xid_catalog import CATALOG, RESET_GPU, RESTART_APP, RESTART_BM

RESET_OR_REBOOT = sorted(x for x, (_, action) in CATALOG.items() if action in (RESET_GPU,
                                                                               RESTART_BM))
APPLICATION = sorted(x for x, (_, action) in CATALOG.items() if action == RESTART_APP)


def _bundle(log: str) -> dict[str, object]:
    return {"workload": {"name": "job", "phase": "Failed"}, "logs": log}


@pytest.mark.parametrize("xid", RESET_OR_REBOOT)
def test_an_xid_resolved_by_a_reset_or_reboot_is_hardware_whatever_follows(xid: int) -> None:
    mnemonic = CATALOG[xid][0]
    verdict = classify(_bundle(
        f"NVRM: Xid (PCI:0000:3b:00): {xid}, pid=4242, name=python3, {mnemonic}\n"
        "RuntimeError: CUDA error: an illegal memory access was encountered"
    ))
    assert verdict.category == "gpu_hardware"
    assert verdict.details.get("xid") == xid


@pytest.mark.parametrize("xid", [x for x in APPLICATION if x not in (94,)])
def test_an_xid_resolved_by_restarting_the_application_is_the_applications(xid: int) -> None:
    verdict = classify(_bundle(f"NVRM: Xid (PCI:0000:3b:00): {xid}, pid=4242, name=python3, "
                               f"{CATALOG[xid][0]}"))
    assert verdict.category == "cuda_error"


@pytest.mark.parametrize(
    ("line", "category"),
    [
        ("NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 "
         "(GPU Reset Required)", "gpu_hardware"),
        ("NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x0 (None) to 0x2 "
         "(OS Reboot)", "gpu_hardware"),
        ("NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x1 (GPU Reset "
         "Required) to 0x0 (None)", "app_error"),  # recovered: the traceback decides
    ],
)
def test_the_recovery_action_line(line: str, category: str) -> None:
    assert classify(_bundle(f"{line}\nValueError: bad shape (3, 4)")).category == category
