"""How people say things, as tables: words -> categories, dimensions, kinds, types, measures.

One word may mean several categories where that is the truth: "OOM" is both a GPU out of
memory and a host OOM kill; "Xid" is every row whose evidence carries an Xid, whatever cause
it was classified as. Patterns are matched on the lower-cased question, most specific first,
and a matched stretch of text is used up so "GPU OOM" is not read again as plain "OOM".
"""

from __future__ import annotations

import re

XID = "xid"  # not a category: a marker for "rows carrying an Xid"

# (pattern, categories). Most specific first.
CATEGORY_TERMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"gpu[ _-]?oom|cuda out of memory|gpu out of memory|gpu memory|vram|gpu_oom", ("gpu_oom",)),
    (
        r"oom[ _-]?kill(?:ed|s|er)?|out[ -]of[ -]memory kill(?:ed|s)?|host (?:oom|memory)"
        r"|memory limit|cgroup|oom_killed|exit(?: code)? 137",
        ("oom_killed",),
    ),
    (r"\bxids?\b", (XID,)),
    (
        r"\b(?:oom|ooms|out[ -]of[ -]memory|ran out of memory|memory errors?)\b",
        ("gpu_oom", "oom_killed"),
    ),
    (
        r"nccl(?:[ _-]time ?outs?|[ _-]errors?|[ _-]hangs?)?|collective(?: operation)?"
        r"(?: time ?outs?)?|all-?reduce|rendezvous|distributed communication",
        ("nccl",),
    ),
    (
        r"gpu[ _-]?hardware|hardware|\becc\b|(?:fallen|falling|fell|falls?) off the bus"
        r"|faulty gpus?|bad gpus?|dead gpus?"
        r"|gpu[ _-]?hw\b|\bhw[ _-]?(?:faults?|errors?|failures?|issues?)",
        ("gpu_hardware",),
    ),
    (r"cuda[ _-]?driver|driver mismatch|driver version|\bdrivers?\b", ("cuda_driver",)),
    (r"cuda[ _-]?errors?|illegal memory access|device-side assert", ("cuda_error",)),
    (
        r"image[ _-]?pull|imagepullbackoff|errimagepull|pull errors?|pull failures?|can'?t pull",
        ("image_pull",),
    ),
    (r"preempt(?:ed|ion|ions|s)?|reclaim(?:ed)?", ("preempted",)),
    (r"evict(?:ed|ion|ions|s)?", ("evicted",)),
    (
        r"unschedulable|scheduling|insufficient gpus?|not enough (?:resources|gpus)|no capacity",
        ("unschedulable",),
    ),
    (r"storage|volumes?|mount|pvc|\bdisk\b|no space", ("storage",)),
    (
        r"config(?:uration)?[ _-]?errors?|missing secret|configmap|command not found|misconfig",
        ("config_error",),
    ),
    (r"node[ _-]?failures?|node down|notready|node lost|nodes? died", ("node_failure",)),
    (r"time ?outs?|timed out|deadline|time limit", ("timeout",)),
    (r"app(?:lication)?[ _-]?errors?|traceback|code bugs?|user code|exceptions?", ("app_error",)),
    (
        r"\bunknown (?:causes?|failures?|errors?|reasons?)|unclassified|unexplained"
        r"|\bno (?:known )?cause\b",
        ("unknown",),
    ),
)

# Words for a failure in general: not a filter, but they make a question about failures.
FAILURE_WORDS = (
    r"fail|error|crash|died|\bdie\b|dying|blew up|blow up|broke|\bbreak|problem|issue|went wrong"
    r"|went down|fell over|bad runs?"
)

# Dimensions people group or filter by, and the words they use for them.
DIMENSION_WORDS: tuple[tuple[str, str], ...] = (
    (r"docker images?|container images?|images?", "image"),
    (r"nodes?|machines?|hosts?|servers?|boxes", "node"),
    (r"projects?|teams?", "project"),
    (r"departments?", "department"),
    (r"workload types?|types?(?: of workloads?)?|kinds of workloads?", "workload_type"),
    (r"workloads?|jobs?|runs?", "workload_name"),
    (r"root causes?|causes?|categor(?:y|ies)|reasons?", "category"),
    (r"kinds?|failure kinds?", "kind"),  # failed, degraded, stuck pending
)
# "by node", "which machines", "top 5 hosts", "worst servers", "the project with the most".
GROUP_LEADS = (
    r"by|per|which|each|every|top(?: \d+| [a-z]+)?|worst|most failing|what|across|for each"
)

# Dimensions people group by that the history does not record: asked for, they are named as
# not understood on the answer's first line instead of being silently dropped.
UNHELD_DIMENSIONS: tuple[tuple[str, str], ...] = (
    (r"users?|owners?|people|persons?|submitters?|authors?", "user"),
    (r"gpu (?:types?|models?|kinds?|generations?|skus?)|types? of gpus?|accelerators?", "GPU type"),
    (r"clusters?", "cluster"),
    (r"namespaces?", "namespace"),
    (r"regions?|zones?|data ?cent(?:er|re)s?|racks?", "region"),
    (r"node ?pools?", "node pool"),
    (r"queues?", "queue"),
)

# A value of a dimension the history does not record, asked as a filter ("for user alice",
# "in cluster eu-west-1"): no answer can honour it, so none is given with it dropped.
UNHELD_FILTER = (
    r"\b(user|owner|submitter|cluster|namespace|region|zone|queue|node ?pool)s?[ :=]+"
    r"([a-z0-9][a-z0-9._-]*)"
)

# Requests that are not questions about failures, even when they mention GPUs or jobs.
OFFTOPIC = (
    r"\b(?:poem|haiku|limerick|sonnet|song|lyrics|joke|recipe|weather|stock price|horoscope"
    r"|capital of|translate)\b|\bwrite (?:me )?(?:a|an) (?:story|essay|email|letter)\b"
)

# Requests to change something (the agent only reads): the verb said first, or after a polite
# lead ("can you restart ...", "please kill ..."). Base forms only, so "killed jobs" and "evicted
# pods" stay questions; ambiguous verbs (update, set, change) are left out.
CHANGE_VERBS = (
    r"delete|remove|restart|reboot|kill|cancel|stop|terminate|abort|resubmit|re-?submit|re-?run"
    r"|retry|relaunch|requeue|re-?queue|scale(?: up| down| out| in)?|drain|cordon|uncordon|clear"
    r"|purge|wipe|truncate|erase|reset|suspend|resume|evict|preempt|roll ?back"
    r"|silence|mute|free up|bump|raise the quota|increase the quota|redeploy"
)
# Without a polite lead, a question word after the verb makes it a question after all ("stop
# the bleeding: what do I fix").
POLITE_LEAD = r"\b(?:please|pls|plz|kindly|can you|could you|would you|will you|can u|could u)\b"
QUESTION_WORD = r"\b(?:what|which|why|how|where|when|who)\b"
CHANGE_REQUEST = (
    rf"^(?:hey |ok |okay |so )?(?:(?:please|pls|plz|kindly|now|just|go ahead and|can you|could you"
    rf"|would you|will you|can u|could u|i want you to|i need you to|i'd like you to|i want to"
    rf"|i need to|we need to|let's|lets|help me|you should|go)\s+)*(?P<verb>{CHANGE_VERBS})\b"
)

# Time words that, left unread by the window reader, mean the question named a time it could
# not read: it is said so, rather than answered for the default window.
TIME_HINTS = (
    r"\b(?:jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\b|\b(?:january|february|march"
    r"|april|june|july|august|september|october|november|december)\b"
    r"|\b(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)day\b|\bweekend\b|\bfortnight\b|\bago\b"
    r"|\bq[1-4]\b|\bquarter\b|\b\d{1,2}(?:st|nd|rd|th)\b|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b"
    r"|\b(?:this|last|yesterday) (?:morning|afternoon|evening)\b|\b\d{1,2} ?(?:am|pm)\b"
    r"|\b(?:last|past|previous) (?:\w+ )?(?:hours?|days?|weeks?|months?|years?)\b"
)
# Vague amounts of time: read as the default window, and said so.
VAGUE_TIME = r"\b(?:last|past|previous|recent|the) (?:few|several|some|many) (?:hours|days|weeks)\b"

# "did recsys or vision fail more": two values set against each other, not an "or" filter.
MORE_OR_LESS = r"\b(?:more|most|fewer|less|worse|better|higher|lower)\b"

# Words that put what follows them out of the answer: "excluding search-ranking", "not caused by
# hardware". What follows is then every other known value of its dimension.
NEGATION = (
    r"\b(?:excluding|exclude|except|other than|apart from|besides|without|ignoring|but not|not)"
    r"(?: (?:in|on|from|for|caused by|due to|related to|counting|including))?"
    r"(?: the)?(?: (?:project|team|node|machine|host|server|image|workload|job)s?)?\s*$"
)

KIND_TERMS: tuple[tuple[str, str], ...] = (
    # "failed" is in nearly every question; a kind only when set against another kind
    (
        r"\bfailed (?:vs\.?|versus|or|and|compared to) (?:degraded|pending|stuck)\b"
        r"|\b(?:degraded|pending) (?:vs\.?|versus|or|and|compared to) failed\b",
        "failed",
    ),
    (r"\bdegraded\b|\bunhealthy\b", "degraded"),
    (
        r"\b(?:stuck|long|still|hanging)[ -]pending\b|\bpending\b|\bstuck\b|\bqueued\b"
        r"|never (?:started|scheduled)|\bwaiting (?:for|on) (?:gpus?|resources|capacity|a node)",
        "pending",
    ),
)
TYPE_TERMS: tuple[tuple[str, str], ...] = (
    (r"\btraining\b|\btrainings\b|training jobs?", "training"),
    (r"\bworkspaces?\b|\bnotebooks?\b|\bjupyter\b|interactive", "workspace"),
    (r"\bdistributed\b|multi-?node", "distributed"),
    (r"\binference\b|\bserving\b|inference servers?|\bendpoints?\b", "inference"),
)

MEASURE_TERMS: tuple[tuple[str, str], ...] = (
    (r"gpu[ -]?hours?|gpu[ -]?time", "gpu_hours"),
    (
        r"\b(?:failure|error|crash) ?(?:rates?|ratios?|percentages?)\b|\bfail(?:ure)? %"
        r"|\b(?:what|which|the) (?:%|percent(?:age)?|fraction|share|proportion) of "
        r"(?:the |all |our )?(?:runs|jobs|workloads)\b|\bhow often (?:do|does|did)\b"
        r"|\breliab(?:le|ility)\b|\bflak(?:y|ier|iest|iness)\b|\b(?:un)?stable\b",
        "rate",
    ),
    (
        r"\bsuccess(?:ful)? rate\b|\bsucce(?:eded|ss)\b"
        r"|\b(?:jobs|workloads|runs) (?:ran|run|completed|succeeded|finished)\b"
        r"|\b(?:ran|completed|succeeded|finished) (?:runs|jobs|workloads)\b",
        "runs",
    ),
    (
        r"(?:how many|number of|count of|count the|total) gpus"
        r"|gpus? (?:requested|asked|wasted|lost)|gpu count|total (?:number of )?gpus",
        "gpus",
    ),
    (
        r"(?:how many|number of|count of|count the) (?:distinct |different |unique |individual )?"
        r"(?:workloads|jobs)|(?:distinct|different|unique|individual) (?:workloads|jobs)",
        "workloads",
    ),
    (
        r"\b(?:fraction|percentage|percent|share|proportion|part|%) of (?:all |the |our )?"
        r"(?:failures|errors|crashes|incidents)\b|\bhow much of (?:the )?failures\b",
        "share",
    ),
    (r"\bgpus\b", "gpus"),  # "GPUs" alone, after "how many jobs ... for GPUs" had its say
)
# What the history does not hold at all (live GPU state): said, never answered with failures.
UNHELD_MEASURES = (
    r"\bidle\b|\bfree gpus?\b|\butili[sz]ation\b|\btemperatures?\b|\bpower (?:draw|usage)\b"
    r"|\bmemory usage\b|\bhow many gpus (?:are there|do we have)\b"
)
# Asked of pending workloads, these make a list of them, oldest first, with how long each waited
# ("which jobs are stuck pending", "anything queued?", "how long have they been waiting").
PENDING_LIST = (
    r"\bwhich\b|\blist\b|\bshow\b|\boldest\b|\bhow long\b|\blongest\b|\bwaiting\b"
    r"|\bqueued\b|\bin the queue\b|\bstill\b|\bright now\b|\bcurrently\b|\banything\b"
)
# "pending for more than a day", "older than 2 hours": only those that waited at least that long.
MIN_WAIT = (
    r"\b(?:older than|longer than|more than|over|at least|for \+?)\s*(\d+|an?|one|two|three|four"
    r"|five|six|seven|twelve|24|48)\s*(minute|min|hour|hr|h|day|d|week|wk)s?\b"
)
# "the last 5 failures", "3 most recent errors": a list of that many ("the latest failure": one).
LIST_ONE = r"\b(?:the )?(?:most recent|latest|last|newest) (?:failure|error|crash|incident)\b(?!s)"
LIST_N = (
    r"\b(?:last|latest|most recent|recent|newest) (\d+|[a-z]+) (?:failures|errors|crashes"
    r"|episodes|incidents|failed (?:jobs|workloads|runs))\b|\b(\d+|[a-z]+) (?:most recent|latest"
    r"|newest) (?:failures|errors|crashes|episodes|incidents)\b"
)

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "twenty": 20,
}  # fmt: skip

HELP = r"\bhelp\b|what can you|what do you know|capabilit|how do i use"
PROMQL = r"promql|prometheus|\bmetric"
DETAIL = r"\bwhy\b|what happened|detail|root cause of|cause of|explain|what went wrong|fail"
STORY = (
    r"\bstory\b|history of|all (?:the )?(?:episodes|failures) (?:of|for)|timeline|every "
    r"(?:episode|failure)|each (?:episode|time)|how often did|episodes"
)
LIST = (
    r"\blist\b|latest|most recent|recent failures|newest|show (?:me )?(?:the |all )?failures\b"
    r"|\b(?:did|has|have) (?:anything|any\w*|something) (?:break|broken|fail|failed|crash|die)"
    r"|\bwhat (?:broke|crashed|died)\b"
)
TREND = (
    r"trend|going up|going down|increas|decreas|rising|growing|getting (?:worse|better)"
    r"|improv|worse|better|more often|less often"
)
# "which cause grew the most", "biggest jump", "what dropped the most": the change of each group
# between two windows, ranked (GROWTH: largest rise first; SHRINK: largest fall first).
GROWTH = (
    r"\b(?:grew|grown|growing|increased?|rose|risen|rising|jumped|spiked|went up|gone up"
    r"|got worse|worsened|climbed)\b[^.?!]{0,25}\bmost\b|\bmost\b[^.?!]{0,20}\b(?:growth|increase"
    r"|rise|jump)\b|\b(?:biggest|largest|fastest) (?:increase|jump|rise|growth|spike)\b"
    r"|\bfastest[- ]growing\b|\bgrew\b"
)
SHRINK = (
    r"\b(?:dropped|fell|fallen|decreased?|shrank|went down|gone down|improved|got better)\b"
    r"[^.?!]{0,25}\bmost\b|\b(?:biggest|largest) (?:drop|decrease|fall|improvement)\b"
)
COMPARE = (
    r"\bvs\.?\b|\bversus\b|\bcompared?\b|\bcomparison|\bagainst\b|difference between"
    r"|side by side|\b(?:more|less|fewer|worse|better|higher|lower)(?: \w+)? than\b(?! ?\d)"
)
FIX_FIRST = (
    r"fix first|what should (?:i|we|\w+ team|the \w+ team) (?:fix|do|look at|tackle|prioriti[sz]e)"
    r"|priorit|things to fix|to fix\b|should (?:i|we) (?:fix|address|tackle)|\bfixes\b"
    r"|most urgent|where (?:should|do|can) (?:i|we) (?:start|begin)|where to (?:start|begin)"
    r"|biggest (?:problems?|issues?|wins?|impact|headaches?|pain)|what to fix|recommend"
    r"|most important (?:things?|issues?|problems?)|\bhurts? (?:us |the \w+ )?(?:the )?most\b"
    r"|most (?:pain|trouble|damage)|pain ?points?|low[- ]hanging fruit|what matters most"
    r"|(?:focus|work) on first|(?:attack|tackle|address) first|first thing to"
    r"|biggest (?:time sinks?|waste|drains?|costs?)|what (?:do|can|shall|must) (?:i|we) fix"
)
ANALYSIS = (
    r"analy[sz]|insight|overview|report|summar|what to do|hot nodes?|wrong with|health|status"
    r"|how (?:are|is|did) (?:we|things|it|the cluster)|how bad|how's (?:it|the cluster)"
)
# Parts of an analysis a question asks for by itself: failures per day, the hours they peak.
ANALYSIS_PARTS: tuple[tuple[str, str], ...] = (
    (r"\b(?:per|by|each|a|every) day\b|\bdaily\b|\bday by day\b|\bper-day\b", "daily"),
    (
        r"\bwhen do\b|\bwhat time\b|\bwhich hours?\b|\bpeak(?: hours?)?\b|\btime of day\b"
        r"|\bby hour\b|\bhourly\b",
        "peaks",
    ),
    (
        r"\brepeat(?:ed|ing)? offenders?\b|\b(?:failing|failed|fails) (?:over and over|again and "
        r"again|repeatedly)\b|\brepeatedly\b",
        "repeats",
    ),
)
STATS = (
    r"statistic|\bstats\b|how many|count|number of|#\s*of\b|\bno\. of|breakdown|rate|most|top"
    r"|distribution|share|total|how much|how often|tally"
)

# Plain words of questions: never looked up as names (they would only cost fuzzy lookups and
# false matches), and never reported as unknown entities.
_STOPWORD_TEXT = """
    a about after ago all also an analyse analysis analyze and any anything are as at be been
    before being between both breakdown by can cause causes chart cluster compare compared
    count could day days did do does doing down during each either errors ever everything
    explain fail failed failing fails failure failures few first fix for from get give going
    got happened has have hour hours how i in into is it its jobs just last latest list many me
    month months more most much my need of on one only or other our over past per please
    previous rate rates recent report root run runs show since so some stats statistics summary
    tell than that the their them then there these they this those through to today top total
    trend up us versus vs was we week weeks were what when where which who whose why will with
    within workload workloads worse wrong year yesterday you your had having see seen look
    looks like ran lately recently status state health healthy anyone someone whole entire
    across overall far currently now right ok okay hey hi same other another new old bad
    broken single specific particular busiest main usual whole
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _words(patterns: list[str]) -> set[str]:
    # escapes cut out first: r"\bhurts" is the word "hurts", not "bhurts"
    words = {w for p in patterns for w in re.findall(r"[a-z]{3,}", re.sub(r"\\[a-zA-Z]", " ", p))}
    return words | {w[:-1] for w in words if w.endswith("s")}  # "types?" is type and types


# Every word the tables above know: such a word is never taken for a misspelt name.
LEXICON_WORDS = frozenset(
    STOPWORDS
    | _words([p for p, _ in CATEGORY_TERMS])
    | _words([p for p, _ in DIMENSION_WORDS])
    | _words([p for p, _ in KIND_TERMS])
    | _words([p for p, _ in TYPE_TERMS])
    | _words([p for p, _ in MEASURE_TERMS])
    | _words([FAILURE_WORDS, HELP, PROMQL, DETAIL, STORY, LIST, TREND, COMPARE, FIX_FIRST])
    | _words([GROWTH, SHRINK, PENDING_LIST])
    | _words([ANALYSIS, STATS])
    | set(NUMBER_WORDS)
)
