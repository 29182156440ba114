"""Failure templates: how each root-cause category looks in the evidence, several variants each.

Data only. Strings use `$name` placeholders filled per failure (see evidence.py): pod, node,
container, image, ns, workload, pid, pci, alloc_mib, gpu_total_gib, gpu_used_gib,
gpu_free_mib, mem_limit, secret, pvc, preemptor, preemptor_node, peer_ip, port, rank, world,
bad_tag, step. The texts follow what real failures print (see /work/shared/corpus); the traps
of failure-signals.md are here on purpose (marked TRAP).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_TYPES = ("training", "distributed", "workspace", "inference")
BATCH = ("training", "distributed")
TRAINING = ("training", "distributed")


@dataclass(frozen=True)
class Ev:
    """An event relative to the episode start (seconds; negative means before it)."""

    offset_s: int
    type: str
    reason: str
    message: str
    source: str = "kubelet"


@dataclass(frozen=True)
class Variant:
    key: str
    category: str
    kind: str = "failed"  # failed | degraded | pending
    types: tuple[str, ...] = ALL_TYPES
    # "run": fails after running a while; "start": never reaches Running
    stage: str = "run"
    phase_message: str = "Container exited with code 1"
    condition_reason: str = ""
    pod_phase: str = "Failed"
    pod_reason: str = ""
    pod_message: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    last_state: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0
    events: tuple[Ev, ...] = ()
    log: tuple[str, ...] = ()  # last lines of the failing container's log
    preamble: bool = True  # precede the log with ~200 lines of normal output
    # Distributed workloads: what the other replicas show. "sigterm": torchrun tore them down;
    # "watchdog": NCCL watchdog timeouts (the echo of the failing rank); "running": still up.
    peers: str = "sigterm"
    failing_replica: int = 0
    pending_reason: str = ""  # PendingSchedulingMessage.reason
    phase_reason: str | None = None


def _term(reason: str, code: int, message: str = "", signal: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": reason, "exitCode": code}
    if message:
        body["message"] = message
    if signal is not None:
        body["signal"] = signal
    return {"terminated": body}


def _wait(reason: str, message: str) -> dict[str, Any]:
    return {"waiting": {"reason": reason, "message": message}}


_TRACE_HEAD = (
    "Traceback (most recent call last):",
    '  File "/workspace/train.py", line 412, in <module>',
    "    main()",
    '  File "/workspace/train.py", line 388, in main',
    "    trainer.fit(model, datamodule)",
)
_CUDA_TAIL = (
    "CUDA kernel errors might be asynchronously reported at some other API call, so the "
    "stacktrace below might be incorrect.",
    "For debugging consider passing CUDA_LAUNCH_BLOCKING=1.",
    "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.",
)
_BACKOFF = Ev(-30, "Warning", "BackOff",
              "Back-off restarting failed container $container in pod ${pod}_${ns}")
_CRASHLOOP = _wait("CrashLoopBackOff",
                   "back-off 5m0s restarting failed container=$container pod=${pod}_${ns}")

VARIANTS: tuple[Variant, ...] = (
    # ---- gpu_hardware ---------------------------------------------------------------------
    Variant(
        "xid79-fell-off-bus", "gpu_hardware",
        phase_message="Container exited with code 1",
        state=_term("Error", 1),
        events=(Ev(-4, "Warning", "XidError",
                   "NVRM: Xid (PCI:0000:$pci): 79, pid=$pid, GPU has fallen off the bus.",
                   "gpu-health-monitor"),
                Ev(-3, "Warning", "GPUUnhealthy",
                   "GPU 0000:$pci on node $node marked unhealthy: Xid 79", "gpu-health-monitor")),
        log=(*_TRACE_HEAD, "    loss.backward()",
             "RuntimeError: CUDA error: unspecified launch failure", *_CUDA_TAIL),
    ),
    Variant(
        "xid48-double-bit-ecc", "gpu_hardware", types=BATCH,
        phase_message="Worker failed with exit code 1",
        state=_term("Error", 1),
        events=(Ev(-6, "Warning", "XidError",
                   "NVRM: Xid (PCI:0000:$pci): 48, pid=$pid, name=python3, An uncorrectable "
                   "double bit error (DBE) has been detected on GPU in the framebuffer at "
                   "partition 3, subpartition 1.", "gpu-health-monitor"),
                Ev(-5, "Warning", "XidError",
                   "NVRM: Xid (PCI:0000:$pci): 63, pid=$pid, Row Remapper: New row marked "
                   "for remapping, reset gpu to activate.", "gpu-health-monitor")),
        log=(f"[rank$rank]: {_TRACE_HEAD[0]}",
             '[rank$rank]:   File "/workspace/pretrain.py", line 301, in <module>',
             "[rank$rank]:     loss.backward()",
             "[rank$rank]: RuntimeError: CUDA error: uncorrectable ECC error encountered",
             *(f"[rank$rank]: {line}" for line in _CUDA_TAIL)),
    ),
    Variant(
        "xid94-contained-ecc", "gpu_hardware",
        phase_message="Container exited with code 1",
        state=_term("Error", 1),
        events=(Ev(-3, "Warning", "XidError",
                   "NVRM: Xid (PCI:0000:$pci): 94, pid=$pid, name=python3, Contained ECC error",
                   "gpu-health-monitor"),),
        log=(*_TRACE_HEAD, "    outputs = model(**batch)",
             "RuntimeError: CUDA error: uncorrectable ECC error encountered", *_CUDA_TAIL),
    ),
    Variant(
        "gpu-lost-nvml", "gpu_hardware", types=("training", "workspace", "inference"),
        phase_message="Container exited with code 1",
        state=_term("Error", 1),
        events=(Ev(-8, "Warning", "GPUUnhealthy",
                   "Unable to determine the device handle for GPU 0000:$pci: GPU is lost. "
                   "Reboot the system to recover this GPU", "gpu-health-monitor"),
                Ev(-7, "Warning", "XidError",
                   "NVRM: Xid (PCI:0000:$pci): 74, pid=$pid, NVLink: fatal error detected "
                   "on link 5", "gpu-health-monitor")),
        log=("RuntimeError: CUDA error: unspecified launch failure", *_CUDA_TAIL,
             "terminate called after throwing an instance of 'c10::Error'"),
    ),
    # ---- node_failure ---------------------------------------------------------------------
    Variant(
        "node-lost", "node_failure",
        phase_message="Pod failed: NodeLost",
        condition_reason="NodeLost",
        pod_reason="NodeLost",
        pod_message="Node $node which was running pod $pod is unresponsive",
        state=_term("Error", 137, signal=9),
        events=(Ev(-300, "Warning", "NodeNotReady", "Node is not ready", "node-controller"),
                Ev(-290, "Normal", "NodeNotReady",
                   "Kubelet stopped posting node status.", "node-controller"),
                Ev(-5, "Warning", "TaintManagerEviction",
                   "Marking for deletion Pod $ns/$pod", "taint-eviction-controller")),
        preamble=True,
        log=("[$step] train loss 1.9231 | lr 2.0e-04 | 131.7 samples/s",),
    ),
    Variant(
        "node-shutdown", "node_failure",
        phase_message="Pod failed: node shutdown",
        condition_reason="Shutdown",
        pod_reason="Shutdown",
        pod_message="Node is shutting, evicting pods",
        state=_term("Error", 143, signal=15),
        events=(Ev(-40, "Normal", "Shutdown",
                   "Node $node is shutting down, evicting pods", "kubelet"),
                Ev(-39, "Normal", "Killing", "Stopping container $container", "kubelet")),
        log=("Received SIGTERM, saving emergency checkpoint...",
             "Checkpoint write interrupted"),
    ),
    Variant(
        "node-notready-degraded", "node_failure", kind="degraded",
        types=("inference", "distributed"),
        phase_message="Pod stuck terminating on NotReady node",
        pod_phase="Running", pod_reason="NodeLost",
        pod_message="Node $node which was running pod $pod is unresponsive",
        state={"running": {"startedAt": "$started_at"}},
        events=(Ev(-60, "Warning", "NodeNotReady", "Node is not ready", "node-controller"),
                Ev(-30, "Normal", "NodeNotReady",
                   "Kubelet stopped posting node status.", "node-controller")),
        log=(), peers="running",
    ),
    # ---- preempted ------------------------------------------------------------------------
    Variant(
        # TRAP: exit 137 with no OOM evidence - the scheduler reclaimed the GPUs.
        "preempted-137", "preempted", types=("training", "workspace", "distributed"),
        phase_message="Workload preempted",
        condition_reason="Preempted",
        state=_term("Error", 137, signal=9),
        events=(Ev(-31, "Warning", "Preempted",
                   "Preempted by pod $preemptor on node $node", "runai-scheduler"),
                Ev(-30, "Normal", "Killing", "Stopping container $container", "kubelet")),
        log=("[$step] train loss 1.4418 | lr 1.0e-04 | 118.2 samples/s",),
    ),
    Variant(
        "reclaim-over-quota", "preempted", types=BATCH,
        phase_message="Workload was evicted: reclaimed by project with deserved quota",
        condition_reason="Evicted",
        state=_term("Error", 143, signal=15),
        events=(Ev(-32, "Warning", "Evict",
                   "Pod was reclaimed by the scheduler to free resources for project "
                   "$other_project over quota", "runai-scheduler"),
                Ev(-31, "Normal", "Killing", "Stopping container $container", "kubelet")),
        log=("torch.distributed.elastic.agent.server.api: [WARNING] Received Signals.SIGTERM "
             "death signal, shutting down workers",
             "torch.distributed.elastic.multiprocessing.api: [WARNING] Sending process $pid "
             "closing signal SIGTERM"),
    ),
    Variant(
        # TRAP: BackoffLimitExceeded only says retries ran out; preemption is the cause.
        "preempted-backoff-limit", "preempted", types=("training",),
        phase_message="Job has reached the specified backoff limit",
        condition_reason="BackoffLimitExceeded",
        state=_term("Error", 137, signal=9),
        events=(Ev(-3600, "Warning", "Preempted",
                   "Preempted by pod $preemptor on node $node", "runai-scheduler"),
                Ev(-1800, "Warning", "Preempted",
                   "Preempted by pod $preemptor on node $preemptor_node", "runai-scheduler"),
                Ev(-1, "Warning", "BackoffLimitExceeded",
                   "Job has reached the specified backoff limit", "job-controller")),
        log=("[$step] train loss 2.0113 | lr 3.0e-04 | 140.9 samples/s",),
    ),
    # ---- evicted --------------------------------------------------------------------------
    Variant(
        "evicted-memory-pressure", "evicted",
        phase_message="Pod evicted",
        condition_reason="Evicted",
        pod_reason="Evicted",
        pod_message="The node was low on resource: memory. Threshold quantity: 100Mi, "
                    "available: 91204Ki. Container $container was using 60213844Ki, request "
                    "is 32Gi, has larger consumption of memory.",
        state=_term("Error", 137, signal=9),
        events=(Ev(-20, "Warning", "EvictionThresholdMet",
                   "Attempting to reclaim memory", "kubelet"),
                Ev(-10, "Warning", "Evicted",
                   "The node was low on resource: memory. Threshold quantity: 100Mi, "
                   "available: 91204Ki.", "kubelet")),
        log=("[$step] train loss 1.7702 | lr 2.0e-04 | 126.4 samples/s",),
    ),
    Variant(
        "evicted-ephemeral-storage", "evicted",
        phase_message="Pod evicted",
        condition_reason="Evicted",
        pod_reason="Evicted",
        pod_message="Pod ephemeral local storage usage exceeds the total limit of containers "
                    "20Gi.",
        state=_term("Error", 137, signal=9),
        events=(Ev(-10, "Warning", "Evicted",
                   "Pod ephemeral local storage usage exceeds the total limit of containers "
                   "20Gi.", "kubelet"),
                Ev(-9, "Normal", "Killing", "Stopping container $container", "kubelet")),
        log=("Saving checkpoint to /tmp/ckpt/step_$step.pt",),
    ),
    Variant(
        "evicted-disk-pressure", "evicted", types=("workspace", "inference", "training"),
        phase_message="Pod evicted",
        condition_reason="Evicted",
        pod_reason="Evicted",
        pod_message="The node had condition: [DiskPressure].",
        state={},
        events=(Ev(-15, "Warning", "EvictionThresholdMet",
                   "Attempting to reclaim ephemeral-storage", "kubelet"),
                Ev(-10, "Warning", "Evicted",
                   "The node had condition: [DiskPressure].", "kubelet")),
        log=(),
    ),
    # ---- unschedulable (pending) ----------------------------------------------------------
    Variant(
        "nodepool-full", "unschedulable", kind="pending", stage="start",
        phase_message="Not enough resources in the requested nodepool",
        pod_phase="Pending", pod_reason="Unschedulable",
        pod_message="0/$pool_nodes nodes are available: $pool_nodes Insufficient nvidia.com/gpu.",
        events=(Ev(5, "Warning", "FailedScheduling",
                   "0/$pool_nodes nodes are available: $pool_nodes Insufficient nvidia.com/gpu. "
                   "preemption: 0/$pool_nodes nodes are available: $pool_nodes No preemption "
                   "victims found for incoming pod.", "runai-scheduler"),),
        pending_reason="Not enough resources in the requested nodepool",
        preamble=False,
    ),
    Variant(
        "over-quota-non-preemptible", "unschedulable", kind="pending", stage="start",
        phase_message="Not enough resources in the requested nodepool",
        phase_reason="NonPreemptibleOverQuota",
        pod_phase="Pending", pod_reason="Unschedulable",
        pod_message="Non-preemptible workload is over quota in project $project",
        events=(Ev(5, "Warning", "Unschedulable",
                   "Non-preemptible workload is over quota. Workload requested $gpus GPU(s), "
                   "but project $project has reached its deserved quota", "runai-scheduler"),),
        pending_reason="Non-preemptible over quota",
        preamble=False,
    ),
    Variant(
        "taint-untolerated", "unschedulable", kind="pending", stage="start",
        phase_message="Not enough resources in the requested nodepool",
        pod_phase="Pending", pod_reason="Unschedulable",
        pod_message="0/$pool_nodes nodes are available: $pool_nodes node(s) had untolerated "
                    "taint {nvidia.com/gpu.maintenance: true}.",
        events=(Ev(5, "Warning", "FailedScheduling",
                   "0/$pool_nodes nodes are available: $pool_nodes node(s) had untolerated "
                   "taint {nvidia.com/gpu.maintenance: true}. preemption: not eligible",
                   "runai-scheduler"),),
        pending_reason="Not enough resources in the requested nodepool",
        preamble=False,
    ),
    # ---- storage --------------------------------------------------------------------------
    Variant(
        "no-space-left", "storage", types=BATCH,
        state=_term("Error", 1),
        log=(*_TRACE_HEAD,
             '  File "/workspace/train.py", line 240, in save_checkpoint',
             "    torch.save(state, path)",
             "OSError: [Errno 28] No space left on device: '/checkpoints/$workload/step_$step.pt'"),
    ),
    Variant(
        "dataloader-shm-bus-error", "storage", types=BATCH,
        state=_term("Error", 1),
        log=("ERROR: Unexpected bus error encountered in worker. This might be caused by "
             "insufficient shared memory (shm).",
             *_TRACE_HEAD,
             "RuntimeError: DataLoader worker (pid $pid) is killed by signal: Bus error. It is "
             "possible that dataloader's workers are out of shared memory. Please try to raise "
             "your shared memory limit."),
    ),
    Variant(
        "failed-mount-nfs", "storage", kind="pending", stage="start",
        phase_message="Pod is stuck in ContainerCreating",
        pod_phase="Pending",
        state=_wait("ContainerCreating", ""),
        events=(Ev(20, "Warning", "FailedMount",
                   "MountVolume.SetUp failed for volume \"datasets\" : mount failed: exit "
                   "status 32 Mounting command: mount Mounting arguments: -t nfs "
                   "nfs-01.storage.svc:/export/datasets /var/lib/kubelet/pods/$pod_uid/volumes"
                   " Output: mount.nfs: Connection timed out", "kubelet"),
                Ev(140, "Warning", "FailedMount",
                   "Unable to attach or mount volumes: unmounted volumes=[datasets], "
                   "unattached volumes=[datasets kube-api-access-7rx2c]: timed out waiting "
                   "for the condition", "kubelet")),
        preamble=False,
    ),
    Variant(
        "multi-attach-rwo", "storage", kind="pending", stage="start",
        phase_message="Pod is stuck in ContainerCreating",
        pod_phase="Pending",
        state=_wait("ContainerCreating", ""),
        events=(Ev(15, "Warning", "FailedAttachVolume",
                   "Multi-Attach error for volume \"$pvc\" Volume is already used by pod(s) "
                   "$preemptor", "attachdetach-controller"),),
        preamble=False,
    ),
    # ---- image_pull -----------------------------------------------------------------------
    Variant(
        "tag-not-found", "image_pull", stage="start",
        phase_message="Image retrieval failed",
        pod_phase="Pending",
        state=_wait("ErrImagePull",
                    "rpc error: code = NotFound desc = failed to pull and unpack image "
                    "\"$bad_image\": manifest unknown"),
        events=(Ev(-60, "Normal", "Pulling", "Pulling image \"$bad_image\"", "kubelet"),
                Ev(-58, "Warning", "Failed",
                   "Failed to pull image \"$bad_image\": rpc error: code = NotFound desc = "
                   "failed to pull and unpack image \"$bad_image\": failed to resolve reference "
                   "\"$bad_image\": $bad_image: not found", "kubelet"),
                Ev(-57, "Warning", "Failed", "Error: ErrImagePull", "kubelet")),
        preamble=False,
    ),
    Variant(
        "access-denied", "image_pull", stage="start",
        phase_message="Image retrieval failed",
        pod_phase="Pending",
        state=_wait("ImagePullBackOff", "Back-off pulling image \"$private_image\""),
        events=(Ev(-200, "Warning", "Failed",
                   "Failed to pull image \"$private_image\": Error response from daemon: pull "
                   "access denied for $private_image, repository does not exist or may require "
                   "'docker login': denied: requested access to the resource is denied",
                   "kubelet"),
                Ev(-199, "Warning", "Failed", "Error: ErrImagePull", "kubelet"),
                Ev(-60, "Normal", "BackOff", "Back-off pulling image \"$private_image\"",
                   "kubelet"),
                Ev(-59, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet")),
        preamble=False,
    ),
    Variant(
        "invalid-image-name", "image_pull", kind="pending", stage="start",
        phase_message="Pod is waiting: InvalidImageName",
        pod_phase="Pending",
        state=_wait("InvalidImageName",
                    "Failed to apply default image tag \"$invalid_image\": couldn't parse "
                    "image name \"$invalid_image\": invalid reference format"),
        events=(Ev(10, "Warning", "InspectFailed",
                   "Failed to apply default image tag \"$invalid_image\": couldn't parse image "
                   "name \"$invalid_image\": invalid reference format", "kubelet"),),
        preamble=False,
    ),
    # ---- config_error ---------------------------------------------------------------------
    Variant(
        "command-not-found", "config_error", stage="start",
        state=_term("Error", 127,
                    "exec: \"torchrun-launch\": executable file not found in $$PATH"),
        log=("/bin/sh: 1: torchrun-launch: not found",),
        phase_message="Container exited with code 127",
        preamble=False,
    ),
    Variant(
        "secret-not-found", "config_error", kind="pending", stage="start",
        phase_message="Pod is waiting: CreateContainerConfigError",
        pod_phase="Pending",
        state=_wait("CreateContainerConfigError", "secret \"$secret\" not found"),
        events=(Ev(12, "Warning", "Failed", "Error: secret \"$secret\" not found", "kubelet"),),
        preamble=False,
    ),
    Variant(
        "exec-format-crashloop", "config_error", kind="degraded",
        types=("inference", "workspace"),
        phase_message="Pod restarting: CrashLoopBackOff",
        pod_phase="Running",
        state=_CRASHLOOP, last_state=_term("Error", 1), restarts=6,
        events=(_BACKOFF,),
        log=("exec /usr/local/bin/serve: exec format error",),
        preamble=False,
    ),
    Variant(
        "entrypoint-permission", "config_error", stage="start", types=BATCH,
        phase_message="Container exited with code 126",
        state=_term("Error", 126),
        log=("/bin/bash: /workspace/run.sh: Permission denied",),
        preamble=False,
    ),
    # ---- cuda_driver ----------------------------------------------------------------------
    Variant(
        "driver-insufficient", "cuda_driver",
        state=_term("Error", 1),
        log=(*_TRACE_HEAD[:3],
             '  File "/usr/local/lib/python3.10/dist-packages/torch/cuda/__init__.py", line 302,'
             " in _lazy_init",
             "    torch._C._cuda_init()",
             "RuntimeError: The NVIDIA driver on your system is too old (found version 11040). "
             "Please update your GPU driver by downloading and installing a new version from the "
             "URL: http://www.nvidia.com/Download/index.aspx",
             "CUDA driver version is insufficient for CUDA runtime version"),
        preamble=False,
    ),
    Variant(
        "no-kernel-image", "cuda_driver", types=("training", "inference", "workspace"),
        state=_term("Error", 1),
        log=(*_TRACE_HEAD,
             "RuntimeError: CUDA error: no kernel image is available for execution on the "
             "device", *_CUDA_TAIL),
    ),
    Variant(
        "container-cli-libcuda", "cuda_driver", stage="start",
        phase_message="Container failed to start",
        state=_term("StartError", 128,
                    "failed to create containerd task: failed to create shim task: OCI runtime "
                    "create failed: runc create failed: unable to start container process: "
                    "error during container init: error running hook #0: error running hook: "
                    "exit status 1, stdout: , stderr: Auto-detected mode as 'legacy' "
                    "nvidia-container-cli: initialization error: load library failed: "
                    "libnvidia-ml.so.1: cannot open shared object file: no such file or "
                    "directory: unknown"),
        events=(Ev(-2, "Warning", "Failed",
                   "Error: failed to create containerd task: nvidia-container-cli: "
                   "initialization error: load library failed: libnvidia-ml.so.1: cannot open "
                   "shared object file: no such file or directory", "kubelet"),),
        preamble=False,
    ),
    # ---- oom_killed -----------------------------------------------------------------------
    Variant(
        "oomkilled-dataloader", "oom_killed",
        phase_message="Container exited with code 137",
        state=_term("OOMKilled", 137),
        events=(Ev(-1, "Warning", "OOMKilling",
                   "Memory cgroup out of memory: Killed process $pid (pt_data_worker) "
                   "total-vm:48817920kB, anon-rss:$mem_kb kB, file-rss:0kB, shmem-rss:0kB",
                   "kernel-monitor"),),
        log=("[$step] train loss 1.3374 | lr 1.0e-04 | 97.5 samples/s",
             "Loading shard 38/64 into memory (prefetch_factor=8, num_workers=16)"),
    ),
    Variant(
        "oomkilled-crashloop", "oom_killed", kind="degraded",
        types=("inference", "workspace"),
        phase_message="Pod restarting after OOMKilled",
        pod_phase="Running",
        state={"running": {"startedAt": "$started_at"}},
        last_state=_term("OOMKilled", 137), restarts=4,
        events=(_BACKOFF,),
        log=("INFO     Loading model weights from /models/$workload (fp32)",
             "INFO     Allocating KV cache on host: 48.0 GiB"),
    ),
    Variant(
        "system-oom-ckpt", "oom_killed", types=BATCH,
        phase_message="Worker failed: OOMKilled",
        state=_term("OOMKilled", 137),
        events=(Ev(-2, "Warning", "SystemOOM",
                   "System OOM encountered, victim process: python, pid: $pid", "kubelet"),),
        log=("Saving consolidated checkpoint (gathering full state dict on rank 0)...",
             "torch.distributed.elastic.multiprocessing.api: [ERROR] failed (exitcode: -9) "
             "local_rank: 0 (pid: $pid) of binary: /usr/bin/python"),
    ),
    # ---- gpu_oom --------------------------------------------------------------------------
    Variant(
        "torch-cuda-oom", "gpu_oom", types=("training", "workspace", "inference"),
        state=_term("Error", 1),
        log=(*_TRACE_HEAD, "    outputs = model(input_ids, attention_mask=mask)",
             "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate $alloc_mib MiB. GPU 0 "
             "has a total capacity of $gpu_total_gib GiB of which $gpu_free_mib MiB is free. "
             "Process $pid has $gpu_used_gib GiB memory in use. Of the allocated memory "
             "$gpu_used_gib GiB is allocated by PyTorch. If reserved but unallocated memory is "
             "large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid "
             "fragmentation."),
    ),
    Variant(
        # TRAP: the other ranks print NCCL watchdog timeouts; rank 0's OOM is the cause.
        "rank0-oom-peers-watchdog", "gpu_oom", types=("distributed",),
        phase_message="Worker failed",
        state=_term("Error", 1), peers="watchdog",
        log=("[rank0]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
             "$alloc_mib MiB (GPU 0; $gpu_total_gib GiB total capacity; $gpu_used_gib GiB "
             "already allocated; $gpu_free_mib MiB free; $gpu_used_gib GiB reserved in total by "
             "PyTorch)",
             "[launch.py:315:sigkill_handler] Killing subprocess $pid"),
    ),
    Variant(
        "tf-resource-exhausted", "gpu_oom", types=("training",),
        state=_term("Error", 1),
        log=("2026-01-01 00:00:00.000000: W tensorflow/core/common_runtime/bfc_allocator.cc:479] "
             "Allocator (GPU_0_bfc) ran out of memory trying to allocate $alloc_mib MiB "
             "(rounded to 1073741824)requested by op Conv2D",
             "tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when "
             "allocating tensor with shape[256,512,28,28] and type float on "
             "/job:localhost/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc",
             "RESOURCE_EXHAUSTED: Out of memory while trying to allocate $alloc_mib MiB"),
    ),
    Variant(
        "cuda-oom-crashloop", "gpu_oom", kind="degraded", types=("inference",),
        phase_message="Container restarted after error",
        pod_phase="Running",
        state={"running": {"startedAt": "$started_at"}},
        last_state=_term("Error", 1), restarts=3,
        events=(_BACKOFF,),
        log=("Traceback (most recent call last):",
             '  File "/app/handler.py", line 61, in run',
             "    raise RuntimeError(result[\"error\"])",
             "RuntimeError: CUDA out of memory. Tried to allocate $alloc_mib MiB. GPU 0 has a "
             "total capacity of $gpu_total_gib GiB of which $gpu_free_mib MiB is free."),
    ),
    # ---- cuda_error -----------------------------------------------------------------------
    Variant(
        # TRAP: an application Xid (31) - the kernel's fault, not the hardware's.
        "illegal-address-xid31", "cuda_error",
        state=_term("Error", 1),
        events=(Ev(-2, "Warning", "XidError",
                   "NVRM: Xid (PCI:0000:$pci): 31, pid=$pid, name=python3, Ch 00000008, intr "
                   "00000000. MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_0 faulted @ "
                   "0x7f3a_1c000000. Fault is of type FAULT_PDE ACCESS_TYPE_VIRT_READ",
                   "gpu-health-monitor"),),
        log=(*_TRACE_HEAD, "    out = fused_attention(q, k, v)",
             "RuntimeError: CUDA error: an illegal memory access was encountered", *_CUDA_TAIL),
    ),
    Variant(
        "device-assert", "cuda_error", types=("training", "distributed", "workspace"),
        state=_term("Error", 1),
        log=("../aten/src/ATen/native/cuda/Loss.cu:250: nll_loss_forward_reduce_cuda_kernel_2d: "
             "block: [0,0,0], thread: [5,0,0] Assertion `t >= 0 && t < n_classes` failed.",
             *_TRACE_HEAD, "    loss = criterion(logits, labels)",
             "RuntimeError: CUDA error: device-side assert triggered", *_CUDA_TAIL),
    ),
    Variant(
        # TRAP: Xid 13 from a user kernel on healthy hardware.
        "xid13-kernel-exception", "cuda_error", types=("inference", "training"),
        state=_term("Error", 1),
        events=(Ev(-3, "Warning", "XidError",
                   "NVRM: Xid (PCI:0000:$pci): 13, Graphics SM Warp Exception on (GPC 1, TPC 1, "
                   "SM 1): MMU Fault", "gpu-health-monitor"),
                Ev(-3, "Warning", "XidError",
                   "NVRM: Xid (PCI:0000:$pci): 13, Graphics Exception: ESR 0x5167b0=0x80f0017",
                   "gpu-health-monitor")),
        log=("[TensorRT-LLM][ERROR] Encountered an error in forwardAsync function: CUDA runtime "
             "error in cudaStreamSynchronize(stream): an illegal memory access was encountered",
             "RuntimeError: CUDA error: an illegal memory access was encountered"),
    ),
    # ---- nccl -----------------------------------------------------------------------------
    Variant(
        "watchdog-timeout", "nccl", types=("distributed",),
        phase_message="Worker failed with exit code 134",
        state=_term("Error", 134, signal=6), peers="watchdog", failing_replica=1,
        log=("[rank$rank]:[E1126 ProcessGroupNCCL.cpp:616] [Rank $rank] Watchdog caught "
             "collective operation timeout: WorkNCCL(SeqNum=5120, OpType=ALLREDUCE, "
             "NumelIn=26214400, NumelOut=26214400, Timeout(ms)=600000) ran for 600085 "
             "milliseconds before timing out.",
             "[rank$rank]:[E1126 ProcessGroupNCCL.cpp:1785] [PG 0 Rank $rank] Exception (either "
             "an error or timeout) detected by watchdog at work: 5120, last enqueued NCCL work: "
             "5121, last completed NCCL work: 5119.",
             "terminate called after throwing an instance of 'c10::DistBackendError'",
             "  what():  [PG 0 Rank $rank] Process group watchdog thread terminated with exception:"
             " [Rank $rank] Watchdog caught collective operation timeout"),
    ),
    Variant(
        "ib-remote-error", "nccl", types=("distributed",),
        phase_message="Worker failed with exit code -6",
        state=_term("Error", 134, signal=6),
        log=("$node:$pid:$pid [0] transport/net_ib.cc:1295 NCCL WARN NET/IB : Got completion "
             "from peer $peer_ip<39138> with error 12, opcode 0, len 0, vendor err 129",
             "torch.distributed.DistBackendError: NCCL error in: "
             "../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1970, remote process exited "
             "or there was a network error, NCCL version 2.21.5",
             "ncclRemoteError: A call failed possibly due to a network error or a remote process "
             "exiting prematurely."),
    ),
    Variant(
        "rendezvous-timeout", "nccl", types=("distributed",), stage="start",
        phase_message="Worker failed with exit code 1",
        state=_term("Error", 1),
        log=("torch.distributed.DistNetworkError: The client socket has timed out after 300000ms "
             "while trying to connect to ($workload-master-0, $port).",
             "torch.distributed.elastic.rendezvous.api.RendezvousConnectionError: The connection "
             "to the C10d store has failed."),
        preamble=False,
    ),
    # ---- timeout --------------------------------------------------------------------------
    Variant(
        "active-deadline", "timeout", types=BATCH,
        phase_message="Pod was active on the node longer than the specified deadline",
        condition_reason="DeadlineExceeded",
        pod_reason="DeadlineExceeded",
        pod_message="Pod was active on the node longer than the specified deadline",
        state=_term("Error", 143, signal=15),
        events=(Ev(0, "Normal", "DeadlineExceeded",
                   "Pod was active on the node longer than the specified deadline", "kubelet"),),
        log=("evaluating shard 37/120 ...",),
    ),
    Variant(
        "job-deadline", "timeout", types=("training",),
        phase_message="Job was active longer than specified deadline",
        condition_reason="DeadlineExceeded",
        state=_term("Error", 143, signal=15),
        events=(Ev(0, "Warning", "DeadlineExceeded",
                   "Job was active longer than specified deadline", "job-controller"),),
        log=("[$step] train loss 0.8127 | lr 5.0e-05 | 150.3 samples/s",),
    ),
    # ---- app_error ------------------------------------------------------------------------
    Variant(
        "keyerror", "app_error",
        state=_term("Error", 1),
        log=(*_TRACE_HEAD, '  File "/workspace/data.py", line 117, in __getitem__',
             "    label = self.label_map[row[\"label\"]]", "KeyError: 'O'"),
    ),
    Variant(
        "file-not-found", "app_error", types=("training", "workspace", "distributed"),
        state=_term("Error", 1),
        log=(*_TRACE_HEAD, '  File "/workspace/data.py", line 42, in load',
             "    with open(self.manifest) as fh:",
             "FileNotFoundError: [Errno 2] No such file or directory: "
             "'/data/$project/manifests/train.jsonl'"),
        preamble=False,
    ),
    Variant(
        "module-not-found", "app_error", stage="start",
        state=_term("Error", 1),
        log=('Traceback (most recent call last):',
             '  File "/workspace/train.py", line 7, in <module>',
             "    import flash_attn",
             "ModuleNotFoundError: No module named 'flash_attn'"),
        preamble=False,
    ),
    Variant(
        "segfault", "app_error", types=("training", "inference"),
        phase_message="Container exited with code 139",
        state=_term("Error", 139, signal=11),
        log=("Fatal Python error: Segmentation fault",
             "Current thread 0x00007f1c2e7fc700 (most recent call first):",
             '  File "/usr/lib/python3/dist-packages/tokenizers/__init__.py", line 88 in encode',
             "Segmentation fault (core dumped)"),
    ),
    Variant(
        # TRAP: an "out of memory" warning earlier, then a ValueError ends the process.
        "valueerror-after-oom-warning", "app_error", types=("training",),
        state=_term("Error", 1),
        log=("2026-01-01 00:00:00.000000: W tensorflow/core/common_runtime/bfc_allocator.cc:243] "
             "Allocator (GPU_0_bfc) ran out of memory trying to allocate 34.11MiB with "
             "freed_by_count=0. The caller indicates that this is not a failure, but may mean "
             "that there could be performance gains if more memory were available.",
             "[$step] eval accuracy 0.6120",
             *_TRACE_HEAD, '  File "/workspace/metrics.py", line 58, in on_epoch_end',
             "    f1 = f1_score(y_true, y_pred, average=self.average)",
             "ValueError: Target is multiclass but average='binary'. Please choose another "
             "average setting."),
    ),
    Variant(
        # TRAP: BackoffLimitExceeded on top; the traceback underneath is the cause.
        "backoff-limit-over-traceback", "app_error", types=("training",),
        phase_message="Job has reached the specified backoff limit",
        condition_reason="BackoffLimitExceeded",
        state=_term("Error", 1), restarts=0,
        events=(Ev(-1, "Warning", "BackoffLimitExceeded",
                   "Job has reached the specified backoff limit", "job-controller"),),
        log=(*_TRACE_HEAD, '  File "/workspace/train.py", line 201, in build_optimizer',
             "    lr = float(cfg[\"optim\"][\"lr\"])",
             "TypeError: float() argument must be a string or a real number, not 'NoneType'"),
    ),
    Variant(
        "app-crashloop", "app_error", kind="degraded", types=("inference", "workspace"),
        phase_message="Pod restarting: CrashLoopBackOff",
        pod_phase="Running",
        state=_CRASHLOOP, last_state=_term("Error", 1), restarts=5,
        events=(_BACKOFF,),
        log=("Traceback (most recent call last):",
             '  File "/app/server.py", line 23, in <module>',
             "    config = load_config(os.environ[\"MODEL_CONFIG\"])",
             '  File "/usr/lib/python3.10/os.py", line 680, in __getitem__',
             "    raise KeyError(key) from None",
             "KeyError: 'MODEL_CONFIG'"),
        preamble=False,
    ),
)

BY_KEY: dict[str, Variant] = {v.key: v for v in VARIANTS}


def variants_for(category: str, kind: str, workload_type: str) -> list[Variant]:
    return [v for v in VARIANTS
            if v.category == category and v.kind == kind and workload_type in v.types]
