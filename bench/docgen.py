"""docs/benchmarks.md, generated from bench/results.json alone.

The doc is never edited by hand: every number in it comes from the JSON the runner wrote,
so the two cannot disagree, and the prose next to each table says what was measured and
how, so a reader can judge the number without opening the bench code.
"""

from __future__ import annotations

from typing import Any

from bench.reference import (
    ANNOTATION_MINIMUM,
    DEPENDENT_CHAIN,
    PHASE_LABELS,
    PHASES,
    POOL_NOTE,
    REFERENCE,
    Sequence,
)

DRIVERS = ("aws", "gcp", "azure")
DRIVER_NAMES = {"aws": "AWS (NLB)", "gcp": "GCP (passthrough NLB)", "azure": "Azure (Standard LB)"}
WAIT_WORD = {"aws": "", "gcp": "operation waits", "azure": "operation polls"}
REFERENCE_NAMES = {
    "aws": "cloud-provider-aws",
    "gcp": "cloud-provider-gcp",
    "azure": "cloud-provider-azure",
}


def render(data: dict[str, Any]) -> str:
    parts = [
        _header(data),
        _summary(data),
        _lifecycle(data),
        _latency(data),
        _throttle(data),
        _scale(data),
        _leaks(data),
    ]
    return "\n".join(parts).rstrip() + "\n"


def _entry(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A benchmark's result, or None when it was not run or failed."""
    entry = data.get("benchmarks", {}).get(name)
    if not entry or "result" not in entry:
        return None
    result: dict[str, Any] = entry["result"]
    return result


def _missing(data: dict[str, Any], name: str) -> str:
    entry = data.get("benchmarks", {}).get(name)
    if entry and "error" in entry:
        last = entry["error"].strip().splitlines()[-1] if entry["error"].strip() else "?"
        return f"_Failed in the last run: `{last}`._\n"
    return f"_Not run (`{name}` was not in the last `--only`)._\n"


def _header(data: dict[str, Any]) -> str:
    m = data.get("machine", {})
    git = data.get("git", {})
    dirty = " (with local changes)" if git.get("dirty") else ""
    quick = "\n**Quick mode: smoke-test sizes, not the issue's.**\n" if data.get("quick") else ""
    notes = "".join(f"- **Note**: {n}\n" for n in data.get("notes", []))
    per = ", ".join(
        f"{name} {e.get('seconds', 0):.0f} s" for name, e in data.get("benchmarks", {}).items()
    )
    return f"""# Benchmarks

Regenerate everything on this page (about 15 minutes on 2 cores):

```sh
uv run --all-extras python -m bench.run
```

`--quick` runs smoke-test sizes in about two minutes, `--only aws,leaks` a subset (the
others keep their last numbers in `bench/results.json`), `--render-only` rebuilds this
page from the JSON. This page is generated from `bench/results.json`; do not edit it.
{quick}
- **Date**: {data.get("date", "?")}
- **Commit**: `{git.get("commit", "?")}`{dirty}
- **Machine**: {m.get("cpu_count", "?")} CPUs, {m.get("ram_gb", "?")} GiB RAM, Python \
{m.get("python", "?")}, {m.get("platform", "?")}
- **Command**: `{data.get("command", "?")}`; per benchmark: {per}
{notes}
Every cloud here is an emulator (moto server for AWS, the project's compute and ARM
emulators) on the same machine, so absolute times are the controller's own cost plus the
emulator's; call counts and ratios carry over to a real cloud, wall times do not.
"""


def _summary(data: dict[str, Any]) -> str:
    """The headline numbers, one line per benchmark that ran."""
    lines = ["## Summary\n"]
    for driver in DRIVERS:
        r = _entry(data, driver)
        if r is None:
            continue
        calls = [_phase_numbers(driver, r, p)[0] for p in ("create", "resync", "delete")]
        ref = REFERENCE[driver]
        refs = [len(ref[p].calls) for p in ("create", "resync", "delete")]
        lat = r["latency"]
        bound = len(DEPENDENT_CHAIN[driver][0]) * float(lat["injected_per_call"])
        lines.append(
            f"- **{driver}**: create / no-op resync / delete {calls[0]} / {calls[1]} / "
            f"{calls[2]} calls (reference controller {refs[0]} / {refs[1]} / {refs[2]}); "
            f"status {lat['seconds_to_status']:.2f} s after create at "
            f"{float(lat['injected_per_call']) * 1000:.0f} ms per call, "
            f"{lat['seconds_to_status'] / bound:.1f}x the dependent-call lower bound."
        )
    t = _entry(data, "throttle")
    if t is not None:
        lines.append(
            f"- **throttling**: {t['converged']} of {t['services']} Services converged in "
            f"{t['wall_s']} s, {_ratio(t['ratio_to_floor'])} x the floor of the modelled "
            f"ELBv2 limits; {t['throttled_calls']} throttled calls, "
            f"{t['error_reconciles']} failed reconciles, {t['warning_events_total']} "
            "Warning Events."
        )
    sc = _entry(data, "scale")
    if sc is not None:
        lines.append(
            f"- **scale**: {sc['services']:,} Services x {sc['nodes']:,} Nodes converged "
            f"{sc['last_create_to_last_status_s']} s after the last create "
            f"({sc['statuses_per_s']} statuses/s); a node change re-reconciled all in "
            f"{sc['node_change_fanout_s']} s; controller peak RSS "
            f"{sc['controller_peak_rss_mb']:,.0f} MB."
        )
    lk = _entry(data, "leaks")
    if lk is not None:
        lines.append(
            f"- **leak sweep**: {lk['scan']['owned']:,} owned resources scanned in "
            f"{lk['scan']['total_calls']} calls / {lk['scan']['seconds']} s; "
            f"{lk['delete']['deleted']} orphans deleted in {lk['delete']['total_calls']} "
            f"calls / {lk['delete']['seconds']} s."
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ (a) lifecycle calls


def _phase_numbers(driver: str, result: dict[str, Any], phase: str) -> tuple[int, int, int, int]:
    """(calls, reads, writes, waits) of a phase, whatever shape the driver's bench uses."""
    p = result.get("phases", result)[phase]
    calls = int(p.get("proxy_calls", p.get("calls", 0)))
    waits = int(p.get("operation_waits", p.get("operation_polls", 0)))
    return calls, int(p["reads"]), int(p["writes"]), waits


def _minimum(driver: str, result: dict[str, Any], phase: str) -> str:
    if phase == "annotation":
        r, w = ANNOTATION_MINIMUM[driver]
        return f"{r + w} ({r}r+{w}w)"
    m = result.get("phases", result)[phase].get("minimum")
    return f"{m['reads'] + m['writes']} ({m['reads']}r+{m['writes']}w)" if m else "-"


def _reference(seq: Sequence | None) -> str:
    if seq is None:
        return "-"
    return f"{len(seq.calls)} ({seq.reads}r+{seq.writes}w)"


def _driver_table(driver: str, result: dict[str, Any]) -> str:
    wait = WAIT_WORD[driver]
    head = "| phase | ccm calls | ccm reads+writes |"
    head += f" {wait} |" if wait else ""
    head += f" {REFERENCE_NAMES[driver]} | minimum the API allows |"
    sep = "|---" * (head.count("|") - 1) + "|"
    rows = [head, sep]
    for phase in PHASES:
        calls, reads, writes, waits = _phase_numbers(driver, result, phase)
        row = f"| {PHASE_LABELS[phase]} | {calls} | {reads}r+{writes}w |"
        row += f" {waits} |" if wait else ""
        row += f" {_reference(REFERENCE[driver].get(phase))} | {_minimum(driver, result, phase)} |"
        rows.append(row)
    return "\n".join(rows)


def _sequences(driver: str, result: dict[str, Any]) -> str:
    """ccm's create sequence next to the reference's, for the reader who wants the calls."""
    phases = result.get("phases", result)
    ours = phases["create"]["operations"]
    ref = REFERENCE[driver]["create"]
    lines = [
        "<details><summary>create, call by call</summary>\n",
        f"ccm ({len(ours)} calls):\n",
        "```",
        *ours,
        "```\n",
        f"{REFERENCE_NAMES[driver]} ({len(ref.calls)} calls, from `{ref.source}`):\n",
        "```",
        *ref.calls,
        "```",
        "</details>\n",
    ]
    return "\n".join(lines)


def _lifecycle(data: dict[str, Any]) -> str:
    out = [
        "## API calls per Service lifecycle\n",
        "One 2-port TCP Service (80 and 443) in a warm cluster of 3 nodes goes through "
        "create, a no-op resync, a node added, a node removed, an in-place annotation "
        "change (AWS: health-check interval; GCP: source ranges; Azure: TCP idle timeout) "
        "and delete, against the real controller and driver. Each phase's calls are "
        "counted on the wire: at the fault proxy in front of moto server and the compute "
        "emulator (every HTTP attempt), and in the ARM emulator's request log. Waits on "
        "long-running operations are counted, and shown apart. Next to them: the calls "
        "the cloud's own controller makes for the same operation, counted by reading its "
        "code (`bench/reference.py` cites the file and function of each; they were not "
        "run), and the fewest calls the API allows.\n",
        'A reference controller\'s "no-op resync" here is its EnsureLoadBalancer on an '
        "unchanged Service (what a restart or any Service edit costs). Its periodic "
        "informer resync of an unchanged Service makes no call at all, because "
        "k8s.io/cloud-provider's service controller filters it out (`needsUpdate`); that "
        "also means it never notices a load balancer changed behind its back. ccm's "
        "resync reads the tagged resources and writes nothing when they match.\n",
    ]
    for driver in DRIVERS:
        out.append(f"### {DRIVER_NAMES[driver]}\n")
        result = _entry(data, driver)
        if result is None:
            out.append(_missing(data, driver))
            continue
        out.append(_driver_table(driver, result) + "\n")
        out.append(_sequences(driver, result))
    out.append(f"### Pool (bare metal)\n\n{POOL_NOTE}\n")
    return "\n".join(out)


# ------------------------------------------------------------------ (b) time to status


def _latency(data: dict[str, Any]) -> str:
    out = [
        "## Time from Service creation to status, under cloud latency\n",
        "A fixed latency is added to every cloud call (AWS, GCP: a latency rule on the "
        "fault proxy, `ccm/faultproxy.py`; Azure: the ARM emulator's own latency fault, "
        "since the driver speaks HTTPS to it), then one more 2-port Service is created in "
        "the warm cluster and the time from the create returning to `status.loadBalancer` "
        "being readable is measured. The lower bound is the longest chain of calls where "
        "each needs the previous one's answer (`DEPENDENT_CHAIN` in `bench/reference.py`) "
        "times the latency: no controller, however parallel, can write the status sooner. "
        "The serial floor is what a controller that makes its calls one after another "
        "cannot beat.\n",
        "| driver | latency per call | to status | calls before status | dependent chain "
        "| lower bound | multiple of lower bound | serial floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    chains = []
    for driver in DRIVERS:
        result = _entry(data, driver)
        if result is None:
            out.append(f"| {driver} | not run | | | | | | |")
            continue
        lat = result["latency"]
        chain, why = DEPENDENT_CHAIN[driver]
        per = float(lat["injected_per_call"])
        bound = len(chain) * per
        out.append(
            f"| {driver} | {per * 1000:.0f} ms | {lat['seconds_to_status']:.3f} s "
            f"| {lat['calls_before_status']} | {len(chain)} | {bound:.3f} s "
            f"| {lat['seconds_to_status'] / bound:.1f}x | {lat['serial_floor_seconds']:.2f} s |"
        )
        chains.append(f"- {driver}: {' → '.join(chain)} — {why}.")
    return "\n".join([*out, "", "The chains:\n", *chains, ""])


# ------------------------------------------------------------------ (c) throttling


def _throttle(data: dict[str, Any]) -> str:
    r = _entry(data, "throttle")
    out = [f"## {_n(r, 'services', 1000)} Services at once under ELBv2 throttling\n"]
    if r is None:
        return "\n".join([*out, _missing(data, "throttle")])
    out.extend(_size_note(r["services"] == 1000, "1,000 Services"))
    limits = r["modelled_limits"]
    needed = ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in r["elbv2_calls_needed"].items())
    throttled = (
        ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in r["throttled_by_bucket"].items())
        or "none"
    )
    out += [
        f"{r['services']} one-port NLB Services are created at once (8 client threads) "
        "while the controller runs with the AWS driver against moto server in its own "
        "process. In front of moto, a throttling proxy (`ThrottlingProxy` in "
        "`bench/throttle_bench.py`, a `ccm.faultproxy.FaultProxy`) keeps a token bucket "
        "per ELBv2 API action and answers `Throttling` (HTTP 400, the ELBv2 error shape) "
        "when the call's bucket is empty, so the driver's retries meet what AWS sends.\n",
        "**Limits modelled** (per account and region), from *Request throttling for the "
        "Elastic Load Balancing API* in the ELB user guide "
        "(docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html): "
        "token buckets per action; `Describe*` share a bucket of "
        f"{limits['elasticloadbalancing:Describe* (shared)'][0]:.0f} tokens refilled at "
        f"{limits['elasticloadbalancing:Describe* (shared)'][1]:.0f}/s (the page's worked "
        "example). The page's per-action table for mutating actions could not be read "
        "from where this was built, so each mutating action gets its own bucket of "
        f"{limits['each other elasticloadbalancing action'][0]:.0f} refilled at "
        f"{limits['each other elasticloadbalancing action'][1]:.0f}/s — an assumption, "
        'the same "mutations ~5/s" the driver\'s default client-side rates assume. EC2 '
        "and the tagging API are not throttled by the proxy.\n",
        f"**Controller settings**: {r['controller_workers']} workers (the default) and "
        f"client-side rates `{r['client_rates']}` (`--provider-setting rates=`): ELBv2 "
        "writes at 25/s, a quarter above what the four mutating actions a Service needs "
        "allow together (4 x 5/s), so the server's buckets bind and throttling is "
        "exercised. With the shipped default rates (ELBv2 writes 5/s across all actions, "
        "EC2 writes 5/s) the client alone would need at least "
        f"{r['shipped_defaults_client_floor_s']:.0f} s for the same calls.\n",
        "**Floor**: for each modelled bucket, (calls that were needed - capacity) / "
        "refill; the largest is the least time any controller needs for those calls.\n",
        "| | |",
        "|---|---|",
        f"| Services with a status | {r['converged']} of {r['services']} |",
        f"| wall time, first create to last status | {r['wall_s']} s |",
        f"| floor (bucket {r['floor_bucket'].split(':', 1)[1]}) | {r['floor_s']} s |",
        f"| **wall time / floor** | **{_ratio(r['ratio_to_floor'])}** |",
        f"| floor of this run's client-side rates | {r['client_floor_s']} s |",
        f"| ELBv2 calls needed (answered) | {needed} |",
        f"| throttled calls (`Throttling` answers) | {r['throttled_calls']} ({throttled}) |",
        f"| AWS calls per Service, retries included | {r['aws_calls_per_service']} |",
        f"| reconciles by result | {_fmt_counts(r['reconcile_results'])} |",
        f"| reconciles that ended in an error (retried) | {r['error_reconciles']} |",
        f"| Warning Events (what a user sees) | {r['warning_events_total']} |",
        "",
    ]
    return "\n".join(out)


def _ratio(value: float | None) -> str:
    return f"{value}" if value is not None else "n/a: every call fit in the buckets' bursts"


def _n(result: dict[str, Any] | None, key: str, default: int) -> str:
    """The size that ran (the issue's when the benchmark did not run), for a title."""
    return f"{int(result[key]) if result else default:,}"


def _size_note(full: bool, issue_size: str) -> list[str]:
    if full:
        return []
    return [f"_Smaller than the issue's {issue_size}: a quick or partial run._\n"]


def _fmt_counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


# ------------------------------------------------------------------ (d) scale


def _scale(data: dict[str, Any]) -> str:
    r = _entry(data, "scale")
    out = [
        f"## Controller memory and event throughput: {_n(r, 'services', 10000)} Services, "
        f"{_n(r, 'nodes', 1000)} Nodes\n"
    ]
    if r is None:
        return "\n".join([*out, _missing(data, "scale")])
    full = r["services"] == 10000 and r["nodes"] == 1000
    out.extend(_size_note(full, "10,000 Services and 1,000 Nodes"))
    out += [
        "Three processes: the Kubernetes API sandbox (`ccm sandbox`), `ccm run --provider "
        "pool` (leader election on, `/metrics` on a free loopback port) and the load "
        f"generator. {r['nodes']} Nodes are registered first, then {r['services']} "
        "LoadBalancer Services are created through the official client with 8 threads "
        "while a watch records when each status appears. Reconciles are scraped from the "
        "controller's `/metrics` (`ccm_reconciles_total`). Then one Node joins, which "
        "must re-ensure every Service, and the time until the controller has reconciled "
        "them all is the node-change fan-out. Last, a full resync window of the "
        "converged set counts the API writes it causes. RSS is sampled every 100 ms. The "
        "pool driver makes no cloud calls, so this is the controller's own cost.\n",
        "| | |",
        "|---|---|",
        f"| Services x Nodes | {r['services']} x {r['nodes']} |",
        f"| Services with a status | {r['converged']} |",
        f"| create phase (client) | {r['create_phase_s']} s |",
        f"| first create → last status | {r['first_create_to_last_status_s']} s |",
        f"| last create → last status | {r['last_create_to_last_status_s']} s |",
        f"| statuses written per second | {r['statuses_per_s']} |",
        f"| reconciles per second during convergence | {r['reconciles_per_s']} "
        f"({r['reconciles_during_convergence']} reconciles) |",
        f"| node change: all Services re-reconciled in | {r['node_change_fanout_s']} s "
        f"({r['node_change_reconciles_per_s']} reconciles/s"
        f"{'' if r['node_change_fanout_complete'] else ', DID NOT COMPLETE in 600 s'}) |",
        f"| controller RSS: idle / converged / peak | {r['controller_rss_idle_mb']} / "
        f"{r['controller_rss_converged_mb']} / {r['controller_peak_rss_mb']} MB |",
        f"| Events drained by (after last status) | "
        f"{r['events_written_by_s_after_last_status']} s |",
        f"| API writes in a {r['noop_resync_window_s']:.0f} s no-op resync window | "
        f"{_fmt_counts(r['noop_resync_writes'])} (PUTs are the leader's Lease renewals) |",
        f"| reconciles by result (whole run) | {_fmt_counts(r['reconcile_results'])} |",
        "",
        _scale_notes(r),
    ]
    return "\n".join(out)


def _scale_notes(r: dict[str, Any]) -> str:
    """What the numbers say, computed from them, so the prose stays true on a rerun."""
    per_kb = (r["controller_rss_converged_mb"] - r["controller_rss_idle_mb"]) * 1024
    per_kb /= max(1, r["services"])
    notes = [
        f"- Memory grows by {per_kb:.0f} KB per Service over the idle controller "
        f"({r['nodes']} Nodes). Every Service's last reconcile shares one tuple of "
        "eligible Nodes, rebuilt only when a Node change touches what load balancers use "
        "(`Controller.eligible_nodes()`), so memory is O(Services + Nodes). Before that "
        "fix (commit 66b25a2) each reconcile kept its own copy: 208 KB per Service, "
        "2,193 MB peak and a 95 s convergence at this size.",
    ]
    if r["noop_resync_writes"].get("POST", 0) and r["events_written_by_s_after_last_status"] >= 120:
        notes.append(
            "- The no-op resync window opened while the Event backlog of creation and the "
            "node change was still draining (the wait for it is capped at 120 s), so its "
            "POSTs are Events that cannot be told apart from the resync's; in the "
            "`--quick` runs made while building this (200 Services, backlog drained) the "
            "same window had no POST, PATCH or DELETE."
        )
    return "\n".join(notes) + "\n"


# ------------------------------------------------------------------ (e) leak sweep


def _leaks(data: dict[str, Any]) -> str:
    r = _entry(data, "leaks")
    out = [f"## Leak sweep over {_n(r, 'services', 1000)} owned load balancers\n"]
    if r is None:
        return "\n".join([*out, _missing(data, "leaks")])
    out.extend(_size_note(r["services"] == 1000, "1,000 load balancers"))
    out += [
        f"{r['services']} one-port NLB Services are built through the real AWS driver in "
        "moto server (each with its load balancer, target group and frontend security "
        "group, plus the cluster's shared backend group), then a tenth of the Services "
        "are deleted from the API the way an outage with hand-removed finalizers leaves "
        "them. A fresh driver (no caches, the default client-side rates) then runs the "
        "leak detector three times: a report-only scan, a deleting sweep, and a scan "
        "after it. Calls are the driver's own count of AWS requests. Seeding is set-up, "
        f"not measured ({r['seed_seconds']} s).\n",
        "| sweep | AWS calls | wall time | result |",
        "|---|---|---|---|",
        f"| scan (report only) | {r['scan']['total_calls']} | {r['scan']['seconds']} s | "
        f"{r['scan']['owned']} owned resources, {r['scan']['orphans']} orphaned |",
        f"| deleting sweep | {r['delete']['total_calls']} | {r['delete']['seconds']} s | "
        f"{r['delete']['deleted']} deleted, {r['delete']['failed']} failed |",
        f"| scan after | {r['after']['total_calls']} | {r['after']['seconds']} s | "
        f"{r['after']['orphans']} orphaned |",
        "",
        f"Scan calls by operation: {_fmt_counts(r['scan']['calls'])}. Deleting sweep: "
        f"{_fmt_counts(r['delete']['calls'])}.\n",
    ]
    return "\n".join(out)
