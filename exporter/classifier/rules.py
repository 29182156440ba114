"""The rule table: ordered rows, most decisive first (failure-signals.md, "Order of evidence").

Infrastructure first, then scheduling, then start-up, then resources, then distributed, then the
generic application error. The engine takes the first decisive row that fires, so a row's place
is its precedence. Traps are handled here, as data:

- exit code 137 alone is not an OOM: the OOM rows key on OOMKilled or an OOM event, and a bare
  137/143 is a non-decisive row (it says "killed from outside", not why);
- an NCCL failure is vetoed when the bundle also shows an application traceback, and OOM and
  hardware rows rank above it, because a dying rank makes every other rank's collective fail;
- BackoffLimitExceeded and "retries ran out" rows are non-decisive;
- log signals yield to a later error line that no specific row explains (the last error before
  exit weighs most), except hardware ones: Xid 79 or 48 is hardware whatever follows;
- an Xid is read by NVIDIA's catalogue (xid_catalog.py): a GPU reset or a node reboot as its
  documented action is hardware, restarting the application is the application's fault; a
  driver line saying the GPU's recovery action now needs a reset or a reboot is hardware too.
  The driver's lines are read wherever they were kept: events (Run:ai keeps a past attempt's),
  statuses, the log, and a container's termination message (under FallbackToLogsOnError the
  log's tail: what is left of a restarted or past container's output).
"""

from __future__ import annotations

from exporter.classifier.facts import CONTAINER, EVENT, LOG, POD, WORKLOAD
from exporter.classifier.table import ANY_STATUS, Rule, Signal, rx
from exporter.classifier.xid_catalog import HARDWARE_ACTIONS, RESTART_APP, with_action

# Xids whose documented immediate action takes the GPU or node out of service: hardware.
# Besides them, faults of the GPU's own memory that the catalogue lets the application
# survive (63 row remapped, 92 single-bit ECC storm, 94 contained ECC error: the catalogue
# restarts the app, the memory stays bad) and 61 (micro-controller breakpoint, listed for
# older GPUs only): failure-signals.md counts these as hardware.
HARDWARE_XIDS = with_action(HARDWARE_ACTIONS) | {61, 63, 92, 94}
# Xids NVIDIA resolves by restarting the application, plus 43 (the channel stopped after the
# application's fault) and 45 (cleanup after an earlier error): the program's own, unless a
# hardware Xid accompanies them (the hardware rows rank first and never yield).
APPLICATION_XIDS = (with_action({RESTART_APP}) | {43, 45}) - HARDWARE_XIDS

# Exit codes that mean "killed from outside" (SIGKILL, SIGTERM): they say nothing by themselves.
KILLED_EXITS = frozenset({137, 143})
CRASH_EXITS = frozenset({132, 134, 135, 136, 139})  # SIGILL, SIGABRT, SIGBUS, SIGFPE, SIGSEGV
APP_EXITS = frozenset(range(1, 256)) - KILLED_EXITS

XID = rx(
    r"\bxid\b(?:[ _-]?errors?)?(?:[ \t]{0,3}\([^)\n]{0,60}\))?[ \t:=,#]{0,5}(?P<num>\d{1,3})\b"
)
# A Python exception line, optionally behind launcher prefixes ("[rank3]: ", "(EngineCore pid=7) "):
# "KeyError: 'O'".
EXCEPTION_LINE = rx(
    r"^(?:[\[(][^\])\n]{0,80}[\])]:?[ \t]?){0,3}(?:[A-Za-z_]\w{0,60}\.){0,8}[A-Za-z_]\w{0,80}"
    r"(?:Error|Exception|Interrupt|Exit)\b(?:\([^)\n]{0,80}\))?(?::|$)"
)
EXCEPTION_KEYS = ("error", "exception", "interrupt", "exit")
# Words of the distributed machinery: an exception naming them is an echo, not the app's bug.
DISTRIBUTED = rx(
    r"nccl|\bDist\w{0,20}Error|c10d|gloo|rendezvous|ProcessGroup|watchdog|collective|"
    r"ChildFailedError|ProcessRaisedException|ProcessExitedException|SignalException|"
    r"torch\.distributed|elastic|timed out|timeout|Connection (?:reset|closed|refused)|"
    r"SIGTERM|SIGKILL|CalledProcessError"
)
# NCCL's INFO lines are chatter a healthy job prints by the hundred (plugin probing included).
NCCL_INFO = rx(r"NCCL INFO")
# An exit code as Run:ai's phase message or an event says it ("Container exited with code
# 127", "Pod: ns.pod exited with code 1"): what is left of a past episode once its pods are gone.
EXIT_MESSAGE = rx(r"exit(?:ed)? (?:with )?(?:exit )?code:? ?(?P<num>\d{1,3})\b")


def exit_message(numbers: frozenset[int]) -> Signal:
    return Signal((WORKLOAD, EVENT), pattern=EXIT_MESSAGE, keys=("exit",), numbers=numbers)


CRASH_ADVICE = (
    "Get a stack trace (core dump, faulthandler, gdb) and check native extensions and "
    "library versions in the image."
)
# Any exception line: the engine's candidate for "the error that ended the process".
TERMINAL_ERROR = Signal((LOG,), pattern=EXCEPTION_LINE, keys=EXCEPTION_KEYS)
# An exception from the application itself, not the distributed machinery's echo of one.
APP_TRACEBACK = Signal((LOG,), pattern=EXCEPTION_LINE, exclude=DISTRIBUTED, keys=EXCEPTION_KEYS)
# Launchers re-raise a child's failure under their own name: that line is not the error.
# Launchers and engines re-raise a child's failure under their own name ("see root cause
# above"): that line is not the error, the root cause is earlier in the log.
WRAPPERS = (
    r"ChildFailedError|ProcessRaisedException|ProcessExitedException|SignalException|"
    r"CalledProcessError|See root cause above|exited with non-zero (?:exit )?status|"
    r"exits with return code|returned non-zero exit status"
)
LAUNCHER_ECHO = rx(WRAPPERS)
# A FailedMount that is really a missing config map or secret (config_error), or the well-known
# harmless projected-token noise, says nothing about storage.
MISSING_CONFIG = r"(?:configmaps?|secrets?) \"[^\"\n]{1,253}\" not found"
VOLUME_NOISE = rx(r"object \"[^\"\n]{0,253}\" not registered|" + MISSING_CONFIG)
# ...and once a config map or secret is missing, the generic mount timeouts that follow are echoes.
CONFIG_MISSING = Signal(
    (EVENT, CONTAINER, POD, WORKLOAD), pattern=rx(MISSING_CONFIG), keys=("not found",)
)
STARTED = (
    Signal((CONTAINER,), states=frozenset({"running", "terminated"})),
    Signal((EVENT,), reasons=frozenset({"started"})),
)

RULES: tuple[Rule, ...] = (
    # --- gpu_hardware ---------------------------------------------------------------------
    Rule(
        "hw.xid",
        "gpu_hardware",
        0.95,
        Signal(
            (EVENT, POD, CONTAINER, WORKLOAD, LOG),
            pattern=XID,
            numbers=HARDWARE_XIDS,
            keys=("xid",),
            yields=False,
        ),
        "The GPU reported a hardware Xid error.",
        "Cordon and drain the node, reset the GPU (or have the hardware owner check it), and "
        "resubmit the workload on another node.",
    ),
    Rule(
        "hw.recovery_action",
        "gpu_hardware",
        0.95,
        Signal(
            (EVENT, POD, CONTAINER, WORKLOAD, LOG),
            # "Xid 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset
            # Required)" (NVML's nvmlDeviceGpuRecoveryAction_t), or a tool printing the
            # action now: the GPU needs a reset or the node a reboot. A change back to None
            # says it recovered.
            pattern=rx(
                r"recovery action (?:changed from [^\n]{0,40}? )?(?:to|is|:)[ \t]{0,3}"
                r"(?:0x[0-9a-f]{1,4} )?\(?(?:GPU Reset Required|Node Reboot Required|"
                r"OS Reboot|System Reboot|Drain and Reset|Bus Reset|PF FLR)"
            ),
            keys=("recovery action",),
            yields=False,
        ),
        "The GPU driver declared that the GPU needs a reset or its node a reboot.",
        "Cordon and drain the node, reset the GPU or reboot the node as the driver asks, and "
        "resubmit the workload on another node.",
    ),
    Rule(
        "hw.gpu_fault",
        "gpu_hardware",
        0.9,
        Signal(
            (EVENT, POD, CONTAINER, WORKLOAD, LOG),
            pattern=rx(
                r"fallen off the bus|GPU is lost|Unable to determine the device handle for GPU|"
                r"GPU requires reset|\buncorrectable ECC|double.bit ECC|ECC_UNCORRECTABLE|"
                r"ECCUncorrectable|contained ECC error|row.remap\w{0,10} failure|"
                r"NVLink (?:error|fatal)|requesting \d{1,4} unhealthy devices?|"
                r"CUDA_ERROR_CONTAINED|cudaErrorContained|or a hardware error|"
                r"unhealthy (?:GPU|device)s?\b|GPU \S{0,40} ?is unhealthy"
            ),
            keys=("gpu", "error", "fail", "fatal"),
            yields=False,
        ),
        "The GPU or its node is faulty (lost GPU, uncorrectable ECC or NVLink error).",
        "Cordon and drain the node, reset or replace the GPU, and resubmit elsewhere; the node "
        "owner should check nvidia-smi -q and the kernel log for Xids.",
    ),
    Rule(
        "hw.unhealthy_event",
        "gpu_hardware",
        0.85,
        Signal((EVENT, POD), reasons=frozenset({"gpuunhealthy", "gpulost", "xidcriticalerror"})),
        "A GPU health monitor marked the workload's GPU unhealthy.",
        "Cordon and drain the node, have the GPU checked, and resubmit elsewhere.",
    ),
    # --- node_failure ---------------------------------------------------------------------
    Rule(
        "node.status",
        "node_failure",
        0.9,
        Signal(
            (POD, WORKLOAD, EVENT),
            reasons=frozenset(
                {
                    "nodenotready",
                    "nodelost",
                    "nodeshutdown",
                    "shutdown",
                    "rebooted",
                    "deletionbypodgc",
                    "taintmanagereviction",
                }
            ),
            exclude=rx(r"nodes are available|untolerated taint"),
        ),
        "The node running the workload went down or became unreachable.",
        "Resubmit the workload; the node owner should find out why the node failed.",
    ),
    Rule(
        "node.message",
        "node_failure",
        0.85,
        Signal(
            ANY_STATUS,
            pattern=rx(
                r"Node is shutting|imminent node shutdown|\bnode shutdown\b|"
                r"Kubelet stopped posting node status|\bNode is not ready\b|"
                r"node \S{1,253} (?:which|that) was lost|node no longer exists|"
                r"node \S{1,253} is unreachable|lost contact with (?:the )?node"
            ),
            exclude=rx(r"nodes are available|untolerated taint"),
            keys=("node",),
        ),
        "The node running the workload went down or became unreachable.",
        "Resubmit the workload; the node owner should find out why the node failed.",
    ),
    # --- preempted ------------------------------------------------------------------------
    Rule(
        "preempt.signal",
        "preempted",
        0.9,
        Signal(
            ANY_STATUS,
            reasons=frozenset(
                {"preempted", "preempting", "preemptionbyscheduler", "preemptionbykubescheduler"}
            ),
            exclude=rx(r"nodes are available|No preemption victims|preemption is not helpful"),
        ),
        "The scheduler preempted the workload to make room for another one.",
        "Resubmit it as non-preemptible or within the project's quota, and checkpoint often so "
        "a preempted run resumes instead of restarting.",
    ),
    Rule(
        "preempt.message",
        "preempted",
        0.85,
        Signal(
            ANY_STATUS,
            pattern=rx(
                r"\bpreempted\b|because of preempt|to accommodate a (?:workload|higher)|"
                r"reclaimed? by (?:the )?(?:scheduler|another|a higher)|"
                r"over.quota \S{0,40} ?(?:reclaim|preempt)|PreemptionBy\w{0,20}Scheduler"
            ),
            exclude=rx(r"nodes are available|No preemption victims|preemption is not helpful"),
            keys=("preempt", "accommodate", "reclaim"),
        ),
        "The scheduler preempted the workload to make room for another one.",
        "Resubmit it as non-preemptible or within the project's quota, and checkpoint often so "
        "a preempted run resumes instead of restarting.",
    ),
    # --- evicted --------------------------------------------------------------------------
    Rule(
        "evict.status",
        "evicted",
        0.9,
        Signal(
            (EVENT, POD, WORKLOAD),
            reasons=frozenset({"evicted", "terminationbykubelet"}),
            exclude=rx(r"preempt"),
        ),
        "The kubelet evicted the pod because its node ran short of a resource.",
        "Set requests equal to limits for memory and ephemeral storage, write less to local "
        "disk (use a volume), and resubmit.",
    ),
    Rule(
        "evict.pressure",
        "evicted",
        0.85,
        Signal(
            ANY_STATUS,
            pattern=rx(
                r"The node was low on resource|The node had condition: ?\[\w{1,30}Pressure\]|"
                r"ephemeral local storage usage exceeds|exceeds the total limit of containers|"
                r"Usage of EmptyDir volume \S{0,253} ?exceeds the limit|"
                r"exceeded its local ephemeral storage limit"
            ),
            keys=("the node", "exceed"),
        ),
        "The kubelet evicted the pod because its node ran short of a resource.",
        "Set requests equal to limits for memory and ephemeral storage, write less to local "
        "disk (use a volume), and resubmit.",
    ),
    Rule(
        "evict.threshold_kill",
        "evicted",
        0.7,
        Signal((EVENT,), reasons=frozenset({"evictionthresholdmet"})),
        "The pod was killed while its node was reclaiming resources under pressure.",
        "Set requests equal to limits for memory and ephemeral storage, write less to local "
        "disk (use a volume), and resubmit.",
        also=(Signal((CONTAINER,), exit_codes=KILLED_EXITS),),
    ),
    # --- storage (volumes) before unschedulable: an unbound PVC also blocks scheduling ------
    Rule(
        "storage.volume_event",
        "storage",
        0.9,
        Signal(
            (EVENT,),
            reasons=frozenset(
                {
                    "failedmount",
                    "failedattachvolume",
                    "failedmapvolume",
                    "failedbinding",
                    "provisioningfailed",
                }
            ),
            exclude=VOLUME_NOISE,
        ),
        "A volume could not be provisioned, attached or mounted.",
        "Fix the volume: check the PVC is bound and its storage class works, that a "
        "ReadWriteOnce volume is not held by another pod, and that the NFS or CSI server is "
        "reachable from the node.",
        unless=(*STARTED, CONFIG_MISSING),
    ),
    Rule(
        "storage.volume_message",
        "storage",
        0.85,
        Signal(
            ANY_STATUS,
            pattern=rx(
                r"MountVolume\.\w{1,40} failed|Multi-Attach error|"
                r"Unable to attach or mount volumes|"
                r"AttachVolume\.\w{1,40} failed|persistentvolumeclaim \"[^\"\n]{1,253}\" not found|"
                r"unbound immediate PersistentVolumeClaims|pod has unbound|"
                r"volume node affinity conflict"
            ),
            exclude=VOLUME_NOISE,
            keys=("volume", "multi-attach", "unbound"),
        ),
        "A volume could not be provisioned, attached or mounted.",
        "Fix the volume: check the PVC is bound and its storage class works, that a "
        "ReadWriteOnce volume is not held by another pod, and that the NFS or CSI server is "
        "reachable from the node.",
        unless=(*STARTED, CONFIG_MISSING),
    ),
    # --- unschedulable --------------------------------------------------------------------
    Rule(
        "sched.failed",
        "unschedulable",
        0.85,
        Signal(
            ANY_STATUS,
            reasons=frozenset(
                {"failedscheduling", "unschedulable", "notenoughresources", "notriggerscaleup"}
            ),
        ),
        "The workload could not be scheduled: no node had the resources it asked for.",
        "Ask for fewer GPUs or less memory, choose another node pool, or get more quota; the "
        "scheduler's message says which resource is short.",
        unless=STARTED,
    ),
    Rule(
        "sched.message",
        "unschedulable",
        0.8,
        Signal(
            (EVENT, POD, WORKLOAD),
            pattern=rx(
                r"\d{1,6}/\d{1,6} nodes are available|"
                r"Insufficient (?:nvidia\.com/gpu|cpu|memory|ephemeral-storage|pods|"
                r"[\w.-]{1,60}/[\w.-]{1,60})|"
                r"untolerated taint|didn't match Pod's node affinity|Not enough resources|"
                r"no nodes available to schedule|exceeded quota|quota exceeded|"
                r"exceeds? (?:the )?(?:project'?s? )?quota|over quota|insufficient quota|"
                r"couldn't assign flavors|didn't have enough resource"
            ),
            exclude=rx(r"Disk quota exceeded"),
            keys=(
                "nodes are available",
                "insufficient",
                "taint",
                "affinity",
                "not enough",
                "no nodes available",
                "quota",
                "couldn't assign",
                "enough resource",
            ),
        ),
        "The workload could not be scheduled: no node had the resources it asked for.",
        "Ask for fewer GPUs or less memory, choose another node pool, or get more quota; the "
        "scheduler's message says which resource is short.",
        unless=STARTED,
    ),
    # --- storage (disk, shm) ----------------------------------------------------------------
    Rule(
        "storage.shm",
        "storage",
        0.85,
        Signal(
            (LOG, EVENT, CONTAINER),
            pattern=rx(
                r"killed by signal: Bus error|unexpected bus error encountered in worker|"
                r"insufficient shared memory|shared memory \(shm\)|"
                r"Error while creating shared memory segment|unable to write to file </torch_|"
                r"^Bus error\b"
            ),
            keys=("error", "memory", "torch_"),
        ),
        "The container ran out of shared memory (/dev/shm is too small).",
        "Mount a memory-backed emptyDir on /dev/shm (or raise its size limit), or use fewer "
        "DataLoader workers.",
    ),
    Rule(
        "storage.disk",
        "storage",
        0.85,
        Signal(
            (LOG, EVENT, POD, CONTAINER),
            pattern=rx(
                r"No space left on device|Disk quota exceeded|Read-only file system|"
                r"Stale (?:NFS )?file handle|Transport endpoint is not connected|"
                r"Input/output error"
            ),
            keys=("space", "read-only", "error", "fail"),
        ),
        "A disk or volume the workload writes to is full, read-only or gone.",
        "Free space on the volume or give it more, check the mount is writable, and point "
        "checkpoints and caches at a volume with room.",
    ),
    # --- image_pull -----------------------------------------------------------------------
    Rule(
        "image.event",
        "image_pull",
        0.9,
        Signal(
            (EVENT, CONTAINER, POD, WORKLOAD),
            pattern=rx(
                r"Failed to pull image|manifest unknown|pull access denied|"
                r"repository does not exist|ErrImagePull|ImagePullBackOff|InvalidImageName|"
                r"Back-off pulling image|failed to resolve reference|"
                r"couldn't parse image reference|invalid reference format"
            ),
            keys=("pull", "image", "manifest", "repository", "reference"),
        ),
        "The container image could not be pulled.",
        "Check the image name and tag exist in the registry, and add an image pull secret if "
        "the repository is private.",
        unless=STARTED,
    ),
    Rule(
        "image.state",
        "image_pull",
        0.95,
        Signal(
            (CONTAINER, POD, WORKLOAD),
            reasons=frozenset(
                {
                    "errimagepull",
                    "imagepullbackoff",
                    "invalidimagename",
                    "errimageneverpull",
                    "imageinspecterror",
                }
            ),
        ),
        "The container image could not be pulled.",
        "Check the image name and tag exist in the registry, and add an image pull secret if "
        "the repository is private.",
    ),
    # --- cuda_driver (container toolkit) before config_error: both say "OCI runtime failed" --
    Rule(
        "driver.toolkit",
        "cuda_driver",
        0.85,
        Signal(
            (EVENT, CONTAINER, POD, WORKLOAD, LOG),
            pattern=rx(
                r"nvidia-container-cli|nvidia-container-runtime|"
                r"could not select device driver \"?nvidia|unknown runtime specified nvidia|"
                r"Failed to initialize NVML|Driver/library version mismatch|"
                r"libnvidia-ml\.so[\d.]{0,12}: cannot open"
            ),
            keys=("error", "fail", "driver", "nvidia"),
        ),
        "The NVIDIA container toolkit could not give the container its GPU (driver or NVML "
        "problem on the node).",
        "Have the node owner check the NVIDIA driver and container toolkit on the node "
        "(driver/library version match, nvidia-smi works); resubmit on a healthy node.",
    ),
    # --- config_error ---------------------------------------------------------------------
    Rule(
        "config.message",
        "config_error",
        0.85,
        Signal(
            (EVENT, CONTAINER, POD, WORKLOAD, LOG),
            pattern=rx(
                r"secrets? \"[^\"\n]{1,253}\" not found|configmaps? \"[^\"\n]{1,253}\" not found|"
                r"couldn't find key \S{1,253} in (?:Secret|ConfigMap)|exec format error|"
                r"executable file not found in \$PATH|"
                r"exec: \"[^\"\n]{1,300}\": (?:stat|permission denied|no such file)|"
                r": command not found|\bsh: (?:\d{1,6}: )?\S{1,200}: not found|"
                r"can't open file .{1,300}No such file or directory|"
                r"\bexec \S{1,300}: (?:no such file or directory|permission denied)|"
                r"failed quota: \S{1,253}: must specify|"
                r"OCI runtime create failed|error during container init"
            ),
            exclude=rx(r"nvidia-container|libnvidia"),
            keys=("error", "fail", "not found", "exec", "can't open"),
        ),
        "The container's command, secret or config map is wrong.",
        "Fix the command or entrypoint (and the image's architecture), or create the missing "
        "secret or config map.",
    ),
    # --- cuda_driver (runtime/image mismatch) -----------------------------------------------
    Rule(
        "driver.mismatch",
        "cuda_driver",
        0.85,
        Signal(
            (LOG, EVENT, CONTAINER, POD),
            pattern=rx(
                r"driver version is insufficient|Found no NVIDIA driver|"
                r"NVIDIA driver on your system is too old|no kernel image is available|"
                r"cudaErrorNoKernelImageForDevice|CUDA_ERROR_NO_BINARY_FOR_GPU|"
                r"lib(?:cuda|cudart|cudnn|cublas|nvrtc|cufft|curand|cusparse|cusolver|nccl)\w{0,10}"
                r"\.so[\d.]{0,12}: cannot open shared object file|"
                r"no CUDA-capable device is detected|CUDA_ERROR_NO_DEVICE|cudaErrorNoDevice|"
                r"No CUDA GPUs are available|Torch not compiled with CUDA enabled|"
                r"forward compatibility was attempted on non supported HW|"
                r"cudaErrorInsufficientDriver|CUDA_ERROR_SYSTEM_DRIVER_MISMATCH|"
                r"unsupported display driver / cuda driver combination|"
                r"PTX was compiled with an unsupported toolchain|unsupported PTX version|"
                r"invalid device function|is not compatible with the current PyTorch installation|"
                r"CUDA driver initialization failed|NVIDIA-SMI has failed|"
                r"CUDA-capable device\(s\) is/are busy or unavailable|cudaErrorDevicesUnavailable|"
                r"CUDA unknown error - this may be due to an incorrectly set up environment|"
                r"undefined symbol: \S{0,80}(?:cublas|cudnn|cuda|nccl|cusparse|cufft)"
            ),
            exclude=NCCL_INFO,
            keys=("error", "fail", "driver", "not compatible", "kernel image", "undefined symbol"),
        ),
        "The image's CUDA build does not fit the node's driver or GPU, or no GPU is visible.",
        "Use an image whose CUDA version the node's driver supports (or a node with a newer "
        "driver), build for the GPU's architecture, and make sure the workload requests a GPU.",
    ),
    # A bare waiting/terminated reason (RunContainerError...) has many causes: it ranks below the
    # rows that quote a specific message of the same tier.
    Rule(
        "config.state",
        "config_error",
        0.9,
        Signal(
            (CONTAINER, POD, WORKLOAD, EVENT),
            reasons=frozenset(
                {
                    "createcontainerconfigerror",
                    "createcontainererror",
                    "runcontainererror",
                    "containercannotrun",
                    "starterror",
                }
            ),
        ),
        "The container could not be created from its spec (missing secret, config map or "
        "bad command).",
        "Fix the pod spec: create the missing secret or config map, or correct the command.",
    ),
    # A bare exit code ranks below every row that quotes text of the same tier: exit 127 from a
    # shell that could not load libcuda is a driver problem, not a missing command.
    Rule(
        "config.exit_code",
        "config_error",
        0.75,
        Signal((CONTAINER,), exit_codes=frozenset({126, 127})),
        "The container's command could not be run (exit 126/127: not executable or not found).",
        "Fix the command or entrypoint: the program is missing from the image or not executable.",
    ),
    # The same exit code as Run:ai reports it ("Container exited with code 127"): all that is
    # left of a past episode once its pods are gone.
    Rule(
        "config.exit_message",
        "config_error",
        0.6,
        exit_message(frozenset({126, 127})),
        "The container's command could not be run (exit 126/127: not executable or not found).",
        "Fix the command or entrypoint: the program is missing from the image or not executable.",
    ),
    # --- oom_killed -----------------------------------------------------------------------
    Rule(
        "oom.reason",
        "oom_killed",
        0.95,
        Signal((CONTAINER, POD, WORKLOAD), reasons=frozenset({"oomkilled", "oomkilling"})),
        "The container was killed for exceeding its memory limit (host RAM).",
        "Raise the memory limit, use fewer DataLoader workers and a smaller prefetch, and avoid "
        "loading whole datasets or checkpoints into RAM at once.",
    ),
    Rule(
        "oom.event",
        "oom_killed",
        0.9,
        Signal(
            (EVENT,),
            reasons=frozenset({"oomkilling", "systemoom", "oomkilled"}),
        ),
        "The container was killed for exceeding its memory limit (host RAM).",
        "Raise the memory limit, use fewer DataLoader workers and a smaller prefetch, and avoid "
        "loading whole datasets or checkpoints into RAM at once.",
    ),
    Rule(
        "oom.message",
        "oom_killed",
        0.85,
        Signal(
            (EVENT, CONTAINER, POD, WORKLOAD, LOG),
            pattern=rx(
                r"Memory cgroup out of memory|\boom-kill(?:er)?\b|"
                r"Out of memory: Kill(?:ed)? process|"
                r"\bOOMKill(?:ed|ing)\b|oom_kill_process|killed by the OOM killer|"
                r"Task was killed due to the node running low on memory"
            ),
            keys=("memory", "oom"),
        ),
        "The container was killed for exceeding its memory limit (host RAM).",
        "Raise the memory limit, use fewer DataLoader workers and a smaller prefetch, and avoid "
        "loading whole datasets or checkpoints into RAM at once.",
    ),
    Rule(
        "oom.dataloader_killed",
        "oom_killed",
        0.7,
        Signal(
            (LOG,),
            pattern=rx(r"DataLoader worker \(pid[^)\n]{0,80}\) is killed by signal: Killed"),
            keys=("killed",),
        ),
        "A DataLoader worker was killed by the kernel, which in a container means host RAM ran "
        "out.",
        "Raise the memory limit or use fewer DataLoader workers and a smaller prefetch factor.",
    ),
    # --- gpu_oom --------------------------------------------------------------------------
    Rule(
        "gpu_oom.message",
        "gpu_oom",
        0.9,
        Signal(
            (LOG, EVENT, CONTAINER, WORKLOAD),
            pattern=rx(
                r"CUDA out of memory|torch\.(?:cuda\.)?OutOfMemoryError|CUDA error: out of memory|"
                r"CUDA_ERROR_OUT_OF_MEMORY|cudaErrorMemoryAllocation|"
                r"RESOURCE_EXHAUSTED: Out of memory|ResourceExhaustedError|"
                r"OOM when allocating tensor|Out of memory while trying to allocate|"
                r"CUBLAS_STATUS_ALLOC_FAILED|HIP out of memory|"
                r"No available memory for the cache blocks|stored in KV cache|"
                r"Free memory on device .{0,60} is less than desired GPU memory utilization|"
                r"(?:GPU|device) out of memory|out of memory on (?:GPU|device)|"
                r"failed to allocate \S{1,40} \(\d{1,20} bytes\) from device|"
                r"Cuda failure 'out of memory'"
            ),
            exclude=rx(r"not a failure"),
            keys=("memory", "oom", "fail", "kv cache"),
        ),
        "The GPU ran out of memory.",
        "Lower the batch size or sequence length, enable gradient checkpointing and mixed "
        "precision, or request a larger GPU (or a bigger GPU fraction).",
    ),
    # --- cuda_error -----------------------------------------------------------------------
    Rule(
        "cuda.xid",
        "cuda_error",
        0.8,
        Signal(
            (EVENT, POD, CONTAINER, WORKLOAD, LOG),
            pattern=XID,
            numbers=APPLICATION_XIDS,
            keys=("xid",),
        ),
        "The GPU reported an application-level fault (Xid) raised by the workload's own kernels.",
        "Debug the kernel or its inputs: rerun with CUDA_LAUNCH_BLOCKING=1 and under "
        "compute-sanitizer; the hardware is not the suspect.",
    ),
    Rule(
        "cuda.fault",
        "cuda_error",
        0.85,
        Signal(
            (LOG, EVENT, CONTAINER, WORKLOAD),
            pattern=rx(
                r"illegal memory access|unspecified launch failure|device-side assert|"
                r"misaligned address|illegal instruction was encountered|"
                r"CUBLAS_STATUS_EXECUTION_FAILED|CUBLAS_STATUS_INTERNAL_ERROR|"
                r"CUDNN_STATUS_EXECUTION_FAILED|CUDNN_STATUS_INTERNAL_ERROR|"
                r"CUDNN_STATUS_MAPPING_ERROR|cudaErrorIllegalAddress|CUDA_ERROR_ILLEGAL_ADDRESS|"
                r"CUDA_ERROR_LAUNCH_FAILED|cudaErrorLaunchFailure|"
                r"too many resources requested for launch|"
                r"\.cuh?:\d{1,6}: .{0,400}Assertion `"
            ),
            keys=("error", "fail", "memory"),
        ),
        "A CUDA kernel faulted (illegal address, launch failure or device-side assert).",
        "Debug the kernel or its inputs (e.g. label indices out of range): rerun with "
        "CUDA_LAUNCH_BLOCKING=1 and under compute-sanitizer.",
    ),
    Rule(
        "cuda.generic",
        "cuda_error",
        0.65,
        Signal(
            (LOG,),
            pattern=rx(r"CUDA error: |CUDA runtime error|cudaError\w{2,60}|CUDA_ERROR_\w{2,60}"),
            keys=("error",),
        ),
        "A CUDA call failed inside the workload.",
        "Rerun with CUDA_LAUNCH_BLOCKING=1 to find the failing call, then fix the kernel or "
        "its inputs.",
    ),
    # --- nccl -----------------------------------------------------------------------------
    Rule(
        "nccl.fabric",
        "nccl",
        0.85,
        Signal(
            (LOG, EVENT),
            pattern=rx(
                r"ncclSystemError|ncclInternalError|ncclInvalidUsage|ncclInvalidArgument|"
                r"ncclUnhandledCudaError|unhandled system error|unhandled cuda error|"
                r"NCCL WARN NET/\w{1,10}|NET/\w{1,10} ?: \S.{0,200}(?:error|fail)|"
                r"ibv_\w{1,30} failed|"
                r"Got completion from peer .{0,120}with error|DistNetworkError|DistStoreError|"
                r"Rendezvous\w{0,20}Error|rendezvous \S{0,40} ?(?:timed out|failed|closed)|"
                r"TCPStore\S{0,40} .{0,80}(?:timed out|failed|refused)|socketStartConnect|"
                r"Bootstrap : no socket interface found"
            ),
            exclude=NCCL_INFO,
            keys=("error", "fail", "nccl warn", "rendezvous", "tcpstore"),
            yields=False,
        ),
        "Distributed communication failed (NCCL, the network fabric or the rendezvous).",
        "Find the first rank that failed, check the node network fabric (InfiniBand/RoCE) and "
        "that all ranks can reach the rendezvous endpoint, and rerun with NCCL_DEBUG=INFO.",
        unless=(APP_TRACEBACK,),
        pick_first=True,
    ),
    Rule(
        "nccl.collective",
        "nccl",
        0.75,
        Signal(
            (LOG, EVENT),
            pattern=rx(
                r"Watchdog caught collective operation timeout|collective operation timeout|"
                r"Some NCCL operations have failed or timed out|ncclRemoteError|"
                r"remote process exited or there was a network error|"
                r"NCCL communicator was aborted|NCCL error|DistBackendError|"
                r"Timeout at NCCL work|detected by watchdog|NCCL timeout|"
                r"Timed out initializing process group|store->get\(.{0,120}got error|"
                r"gloo\S{0,80} .{0,80}Connection (?:closed|reset)"
            ),
            exclude=NCCL_INFO,
            keys=("error", "fail", "watchdog", "collective", "timeout at nccl", "nccl timeout"),
            yields=False,
        ),
        "A collective operation failed or timed out between the workload's ranks.",
        "Find the first rank that failed (the others often only time out waiting for it), "
        "check the network fabric, and rerun with NCCL_DEBUG=INFO.",
        unless=(APP_TRACEBACK,),
        pick_first=True,
    ),
    # --- timeout --------------------------------------------------------------------------
    Rule(
        "timeout.deadline",
        "timeout",
        0.9,
        Signal(
            (WORKLOAD, POD, EVENT),
            reasons=frozenset({"deadlineexceeded"}),
            exclude=rx(r"context deadline exceeded"),
        ),
        "The workload ran past its time limit and was stopped.",
        "Raise the time limit (activeDeadlineSeconds), or checkpoint and resume in shorter runs.",
    ),
    Rule(
        "timeout.message",
        "timeout",
        0.85,
        Signal(
            (WORKLOAD, POD, EVENT),
            pattern=rx(
                r"active (?:on the node )?longer than (?:the )?specified deadline|"
                r"activeDeadlineSeconds|"
                r"exceeded (?:its|the) (?:maximum )?(?:run ?time|runtime|time limit)|"
                r"DUE TO TIME LIMIT"
            ),
            keys=("deadline", "exceeded", "time limit"),
        ),
        "The workload ran past its time limit and was stopped.",
        "Raise the time limit (activeDeadlineSeconds), or checkpoint and resume in shorter runs.",
    ),
    # --- app_error ------------------------------------------------------------------------
    Rule(
        "app.traceback",
        "app_error",
        0.8,
        Signal((LOG,), pattern=EXCEPTION_LINE, exclude=LAUNCHER_ECHO, keys=EXCEPTION_KEYS),
        "The workload's own code raised an exception and exited.",
        "Read the traceback's last line and fix the code, its configuration or the data path.",
    ),
    Rule(
        "app.crash",
        "app_error",
        0.7,
        Signal(
            (LOG,),
            pattern=rx(
                r"Segmentation fault|\bSIGSEGV\b|Fatal Python error|core dumped|"
                r"terminate called after throwing|double free or corruption|"
                r"stack smashing detected|free\(\): invalid|Illegal instruction"
            ),
            keys=(
                "segmentation",
                "sigsegv",
                "error",
                "core dumped",
                "terminate",
                "free",
                "illegal",
            ),
        ),
        "The workload's process crashed (segmentation fault or abort) without a GPU error.",
        CRASH_ADVICE,
    ),
    Rule(
        "app.crash_exit",
        "app_error",
        0.6,
        Signal((CONTAINER,), exit_codes=CRASH_EXITS),
        "The workload's process crashed on a signal (abort or segmentation fault).",
        CRASH_ADVICE,
    ),
    Rule(
        "app.exit_code",
        "app_error",
        0.5,
        Signal((CONTAINER,), exit_codes=APP_EXITS),
        "The workload's container exited with an error code.",
        "Read the container log for the error before exit and fix the code or its input.",
    ),
    Rule(
        "app.exit_message",
        "app_error",
        0.45,
        exit_message(APP_EXITS),
        "The workload's container exited with an error code.",
        "Read the container log for the error before exit and fix the code or its input.",
        # Only with its log at hand: a bare "exited with code 1" is as often a CUDA OOM, a full
        # disk or a driver mismatch whose words were in the log (a past episode's is gone).
        also=(Signal((LOG,)),),
    ),
    Rule(
        "app.segfault_message",
        "app_error",
        0.55,
        exit_message(frozenset({139})),
        "The workload's process crashed with a segmentation fault (exit code 139) without a "
        "GPU error.",
        CRASH_ADVICE,
        # What a past episode keeps once its pod is gone: the phase message ("Container
        # exited with code 139") or the training operator's ExitedWithCode event. Only SIGSEGV:
        # an abort (134) is as often NCCL's watchdog, a bus error (135) a full /dev/shm.
    ),
    # --- not decisive: true, but not why ----------------------------------------------------
    Rule(
        "ctx.exit_message",
        "unknown",
        0.3,
        exit_message(APP_EXITS),
        "The container exited with an error code; its log is not in the evidence to say why.",
        "Read the container's log where it was kept (a log collector, the job's own output) "
        "for the error before exit.",
        decisive=False,
    ),
    Rule(
        "ctx.backoff_limit",
        "unknown",
        0.3,
        Signal(
            ANY_STATUS,
            reasons=frozenset({"backofflimitexceeded"}),
        ),
        "The job's retries ran out; the bundle does not say why the attempts failed.",
        "Look at the failed attempts' pods and logs for the error underneath.",
        decisive=False,
    ),
    Rule(
        "ctx.retries_message",
        "unknown",
        0.3,
        Signal(
            ANY_STATUS,
            pattern=rx(
                r"reached the specified backoff limit|retry limit reached|"
                r"retries (?:ran out|exhausted)"
            ),
            keys=("backoff limit", "retry limit", "retries"),
        ),
        "The job's retries ran out; the bundle does not say why the attempts failed.",
        "Look at the failed attempts' pods and logs for the error underneath.",
        decisive=False,
    ),
    Rule(
        "ctx.killed",
        "unknown",
        0.3,
        Signal((CONTAINER,), exit_codes=KILLED_EXITS),
        "The container was killed by a signal from outside (SIGKILL/SIGTERM) with no recorded "
        "reason.",
        "Check the node's kernel log and the cluster events around the time it ended: a kill "
        "with no OOMKilled reason is often preemption, eviction or a node shutdown.",
        decisive=False,
    ),
    Rule(
        "ctx.crashloop",
        "unknown",
        0.25,
        Signal(
            (CONTAINER, EVENT, WORKLOAD, POD), reasons=frozenset({"crashloopbackoff", "backoff"})
        ),
        "The container keeps crashing and restarting; the bundle does not say why.",
        "Read the previous container's log (kubectl logs --previous) for the error before exit.",
        decisive=False,
    ),
    Rule(
        "ctx.launcher",
        "unknown",
        0.3,
        Signal(
            (LOG,),
            pattern=rx(
                WRAPPERS + r"|failed \(exitcode: -?\d{1,3}\)|"
                r"Process \d{1,10} failed with return code|exited with (?:exit )?code|"
                r"Received Signals?\.?SIG\w{2,6}|Sending process \d{1,10} closing signal"
            ),
            keys=("error", "exception", "fail", "exit", "signal"),
        ),
        "A launcher reported that a worker process failed; the worker's own error is not in "
        "the log tail.",
        "Read the failing rank's own log (the first one to exit) for the error.",
        decisive=False,
    ),
)
