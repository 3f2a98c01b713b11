"""Metrics of the automations consumer (the default registry, exported on /metrics)."""

from prometheus_client import Counter

# outcome: succeeded, failed, skipped (final), retry (a transient failure: the event comes again),
# held (another worker's live lease: the event comes again).
RUNS = Counter("cadence_automation_runs_total", "Automation rule runs by outcome", ["outcome"])
ACTIONS = Counter(
    "cadence_automation_actions_total",
    "Automation actions by kind and outcome",
    ["kind", "outcome"],
)
EVENTS = Counter(
    "cadence_automation_events_total",
    "Events the automations consumer read, by what it did with them",
    ["result"],  # evaluated, no_rule, loop_guard
)
