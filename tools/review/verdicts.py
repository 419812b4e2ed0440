"""The review's pure part: key metrics of two revisions and their seed spread in, verdicts and tables out.

A change is "better" or "worse" only when it exceeds SIGMA_MULTIPLE standard deviations of that
metric over seeds (records/seed_spread.json, made by make seed-spread); within that it is "within
seed noise", and where no spread was measured the verdict says so instead of guessing. Which way is
better and how a metric is formatted come from the metric catalogue (mnist_ae/catalogue.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from mnist_ae.catalogue import KEY_METRICS, Metric
from mnist_ae.report import SIGMA_MULTIPLE, spread_param_differences

# Metrics files the review leaves out: they move only with the data, never with a model.
NOT_REVIEWED = ("floor", "mean_image")
WITHIN = "within seed noise"
UNMEASURED = "changed, no seed spread"
VERDICT_ORDER = ("worse", "better", "changed", UNMEASURED, "new", "removed", WITHIN, "same")


@dataclass(frozen=True)
class MetricChange:
    model: str
    metric: Metric
    base: float | None
    head: float | None
    noise_changed: bool = False  # noise.factor differs between the two sides
    sd: float | None = None  # the metric's standard deviation over seeds; None where not measured

    @property
    def name(self) -> str:
        return f"{self.model}.{self.metric.name}"

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.head is None else self.head - self.base

    @property
    def percent(self) -> float | None:
        """Relative change; none for a dB figure, which is already a log ratio."""
        if self.delta is None or self.base == 0 or self.metric.unit == "dB":
            return None
        return 100.0 * self.delta / abs(self.base)

    @property
    def verdict(self) -> str:
        if self.base is None:
            return "new"
        if self.head is None:
            return "removed"
        if self.delta == 0:
            return "same"
        if self.sd is None:
            return UNMEASURED
        if abs(self.delta) <= SIGMA_MULTIPLE * self.sd:
            return WITHIN
        if self.metric.higher_is_better is None:
            return "changed"
        return "better" if (self.delta > 0) == self.metric.higher_is_better else "worse"

    @property
    def sigmas(self) -> float | None:
        """The change in seed standard deviations; ±inf for a change where the seeds never moved (σ = 0)."""
        if self.delta is None or self.sd is None:
            return None
        if self.sd == 0:
            return math.copysign(math.inf, self.delta) if self.delta else 0.0
        return self.delta / self.sd

    @property
    def at_new_noise_level(self) -> bool:
        """Both values exist but were measured on differently noised digits."""
        return self.noise_changed and self.metric.noisy_input and self.delta is not None


def key_metrics_from_diff(diff: dict[str, dict[str, dict]]) -> tuple[dict, dict]:
    """(base, head) key metrics, ``{model: {metric name: value}}``, from ``dvc metrics diff --json --all``.

    Every ``metrics/<model>.json`` that DVC tracks at a revision counts, so a model dropped from
    ``train.models`` drops out of that side.
    """
    sides: tuple[dict, dict] = ({}, {})
    for path, entries in sorted(diff.items()):  # DVC collects the files in parallel, in no fixed order
        if not path.startswith("metrics/") or not path.endswith(".json"):
            continue
        model = path.removeprefix("metrics/").removesuffix(".json")
        if model in NOT_REVIEWED:
            continue
        for metric in KEY_METRICS:
            entry = entries.get(metric.path) or {}
            for side, key in zip(sides, ("old", "new")):
                if entry.get(key) is not None:
                    side.setdefault(model, {})[metric.name] = entry[key]
    return sides


def compare(base: dict[str, dict[str, float]], head: dict[str, dict[str, float]],
            noise_changed: bool = False, spread: dict[str, dict[str, dict]] | None = None) -> list[MetricChange]:
    """One change per key metric on either side: head's models first, then those only base has.

    ``spread`` is records/seed_spread.json's "metrics" ({model: {metric: {"sd": ...}}}), or None.
    """
    models = [*head, *(m for m in base if m not in head)]
    changes = []
    for model in models:
        names = {**base.get(model, {}), **head.get(model, {})}
        for metric in (m for m in KEY_METRICS if m.name in names):
            sd = ((spread or {}).get(model, {}).get(metric.name) or {}).get("sd")
            changes.append(MetricChange(model, metric, base.get(model, {}).get(metric.name),
                                        head.get(model, {}).get(metric.name), noise_changed, sd))
    return changes


def regressions(changes: list[MetricChange]) -> list[str]:
    """One line per key metric worse beyond SIGMA_MULTIPLE σ, for ``--fail-on-worse``. A metric measured
    at a new noise factor compares other digits, so it is no regression."""
    return [f"worse: {c.name} {c.metric.format(c.base)} -> {c.metric.format(c.head)} ({c.sigmas:+.1f} σ, "
            f"beyond {SIGMA_MULTIPLE:g} σ)" for c in changes if c.verdict == "worse" and not c.at_new_noise_level]


def _delta(change: MetricChange) -> str:
    """Fixed point, one decimal more than the values, so a small change stays readable."""
    if change.delta is None:
        return "–"
    if change.delta == 0:
        return "0"
    return f"{change.delta:+.{change.metric.digits + 1}f}"


def metrics_table(changes: list[MetricChange]) -> str:
    """Worse rows first, then better and the rest; a table with nothing changed is one line."""
    if all(c.verdict == "same" for c in changes):
        return f"All {len(changes)} key metrics are identical.\n"
    moved = [c for c in changes if c.verdict != "same"]
    rows = []
    for c in sorted(moved, key=lambda c: VERDICT_ORDER.index(c.verdict)):
        verdict = f"**{c.verdict}**" if c.verdict in ("better", "worse") else c.verdict
        rows.append({"metric": f"`{c.name}`", "base": c.metric.format(c.base), "head": c.metric.format(c.head),
                     "change": _delta(c), "change %": "–" if c.percent is None else f"{c.percent:+.2f}%",
                     "seed σ": "–" if c.sd is None else f"{c.sd:.{c.metric.digits + 1}f}",
                     "change / σ": "–" if c.sigmas is None else f"{c.sigmas:+.1f}",
                     "verdict": verdict + (", at a new noise factor" if c.at_new_noise_level else "")})
    lines = [pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True,
                                            colalign=("left",) + ("right",) * 6 + ("left",))]
    same = len(changes) - len(moved)
    if same:
        lines += ["", f"The other {same} key metrics are identical."]
    return "\n".join(lines) + "\n"


def tally(changes: list[MetricChange]) -> str:
    counts: dict[str, int] = {}
    for c in changes:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    text = ", ".join(f"{counts[v]} {v}" for v in VERDICT_ORDER if v in counts)
    moved = sum(c.at_new_noise_level for c in changes)
    return text + (f"; {moved} of them measured at a new noise factor" if moved else "")


def unusable_spread(spread: dict | None, base_params: dict) -> str | None:
    """Why the base's seed spread cannot judge a change (missing, or measured at other params), or None."""
    if spread is None:
        return "the base commits no seed spread (records/seed_spread.json; `make seed-spread` measures it)"
    differing = spread_param_differences(spread, base_params)
    if differing:
        shown = ", ".join(differing[:5]) + (" …" if len(differing) > 5 else "")
        return (f"the base's seed spread was measured at other params than the base's own ({shown} differ); "
                f"rerun `make seed-spread` on the base")
    return None


def spread_note(spread: dict | None, base_params: dict) -> tuple[dict | None, str]:
    """(the spread's metrics to judge by, or None, and a sentence saying what the verdicts rest on).

    ``spread`` is the base's committed record: the pull request under review cannot widen it. It counts
    only where it was measured at the base's params (base.seed aside).
    """
    rule = (f"A change is **better** or **worse** only beyond {SIGMA_MULTIPLE:g} standard deviations of that "
            f"metric over seeds (σ); within that it is \"{WITHIN}\".")
    if spread is None:
        return None, (f"No seed spread is committed at the base (`make seed-spread` measures it), so no change "
                      f"is called better or worse: each is \"{UNMEASURED}\".")
    differing = spread_param_differences(spread, base_params)
    if differing:
        shown = ", ".join(f"`{key}`" for key in differing[:5]) + (" …" if len(differing) > 5 else "")
        return None, (f"The base's seed spread was measured at other params than the base ({shown} differ), "
                      f"so no change is called better or worse: rerun `make seed-spread` on the base.")
    seeds = ", ".join(str(seed) for seed in spread.get("seeds", []))
    pooled = "".join(f" For {', '.join(f'`{m}`' for m in batch['models'])} it also pools {len(batch['seeds'])} runs "
                     f"on {batch['machine']}, so it covers a change of CPU." for batch in spread.get("pooled", []))
    added = "".join(f" {', '.join(f'`{m}`' for m in batch['metrics'])} joined it later, from {len(batch['seeds'])} "
                    f"runs at `{str(batch['commit'])[:7]}`." for batch in spread.get("added", []))
    return spread.get("metrics", {}), (f"{rule} σ is from {len(spread.get('seeds', []))} runs at the base's params "
                                       f"(`{spread.get('varied')}` = {seeds}; the base's `records/seed_spread.json`, "
                                       f"measured at `{str(spread.get('commit'))[:7]}`).{pooled}{added}")


def gate_failures(changes: list[MetricChange], unusable: str | None) -> list[str]:
    """What fails ``--fail-on-worse``, one line each; the gate fails closed.

    Besides every regression: a key metric moved but the base has no usable spread to judge it by
    (``unusable``: why), a changed key metric the base's spread has no σ for, a key metric the base
    has and the head dropped, and one measured at a new noise factor (other digits: no verdict holds).
    """
    moved = [c for c in changes if c.verdict not in ("same", "new") and not c.at_new_noise_level]
    lines = [f"cannot judge {c.name}: measured at a new noise factor, on other noisy digits than the base's"
             for c in changes if c.at_new_noise_level and c.verdict != "same"]
    if unusable and any(c.verdict != "removed" for c in moved):
        lines.append(f"cannot judge: {unusable}")
    for c in moved:
        if c.verdict == "removed":
            lines.append(f"removed: {c.name} is a key metric at the base ({c.metric.format(c.base)}) and missing "
                         f"in the head")
        elif c.verdict == UNMEASURED and not unusable:
            lines.append(f"cannot judge {c.name}: the base's seed spread has no σ for it (`make seed-spread`)")
    return lines + regressions(changes)


def noisy_input_metrics() -> list[str]:
    return [m.name for m in KEY_METRICS if m.noisy_input]

