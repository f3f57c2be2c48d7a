"""The cloud calls the end-to-end suites make, the permission each needs, and the policies
in deploy/policies/ that must allow them.

Recording happens on the wire, never in our code:

- AWS and GCP: the harness puts a :class:`RecordingProxy` (a FaultProxy that also keeps
  every call in a journal tests cannot clear) between the driver and moto server / the
  compute emulator. The harness's own view of the cloud (``aws.raw``, seeding, the
  emulator's in-memory ``resources()``, ``gcp.members()``) goes straight to the upstream,
  so everything the proxy sees is the driver's (in-process or the ``ccm`` CLI's).
- Azure: the driver must speak HTTPS to the emulator, so there is no proxy; the
  emulator's own request log counts from the moment the test first asks the world for the
  driver's settings. Seeding (the NSG, the virtual network, the nodes' NICs) and a user's
  public IP made before the controller starts come earlier and are left out.

Each call is then mapped to the permission the real cloud checks
(:func:`aws_permission`, :func:`gcp_permission`, :func:`azure_permission`), plus the
permissions the API checks on references the call makes (:data:`IMPLIED`: tags on
create, a backend service named by a forwarding rule, a public IP named by a frontend).
A world's teardown fails when a call needs a permission its cloud's policy lacks
(:func:`verify`, :func:`check`); at the end of a full run, :func:`coverage_problems`
fails the session when the policy holds a permission no call needed and no documented
reason explains.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ccm.faultproxy import FaultProxy, FaultRule

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = ROOT / "deploy" / "policies"
POLICY_FILES = {
    "aws": POLICY_DIR / "aws-iam-policy.json",
    "gcp": POLICY_DIR / "gcp-custom-role.yaml",
    "azure": POLICY_DIR / "azure-role-definition.json",
}
README = POLICY_DIR / "README.md"
CLOUDS = tuple(POLICY_FILES)
WORLD_FIXTURES = frozenset(CLOUDS)  # the fixtures of tests/integration/conftest.py


class Unmapped(ValueError):
    """A recorded call this module cannot name a permission for: a new kind of call,
    which needs a mapping (and probably a policy change) before it ships."""


# --- recording ------------------------------------------------------------------------


class RecordingProxy(FaultProxy):
    """A FaultProxy that also appends every call's label to :attr:`journal`.

    Tests clear ``calls`` to count a phase; the journal keeps everything, faulted calls
    included (the driver made them, so the policy must allow them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.journal: list[str] = []

    def __enter__(self) -> RecordingProxy:
        self.start()
        return self

    def _record(self, label: str) -> FaultRule | None:
        self.journal.append(label)  # list.append is atomic; handler threads share it
        return super()._record(label)


# --- calls to permissions -------------------------------------------------------------

# SigV4 credential scope (what the proxy classifies by) -> IAM service prefix.
_AWS_PREFIX = {"tagging": "tag"}


@functools.lru_cache(maxsize=4096)
def aws_permission(label: str) -> str | None:
    """``"elasticloadbalancing:CreateLoadBalancer"`` -> the same IAM action;
    ``"tagging:GetResources"`` -> ``"tag:GetResources"``. None for moto's own API."""
    service, sep, action = label.partition(":")
    if not sep or not action:
        raise Unmapped(f"aws: {label!r} is not a <service>:<Action> label")
    if service == "http":
        path = action.partition(" ")[2]
        if path.startswith("/moto-api"):
            return None
        raise Unmapped(f"aws: {label!r} is not SigV4-signed, so not a call a policy governs")
    if " " in action:  # a REST protocol's "<METHOD> <path>": no operation name on the wire
        raise Unmapped(f"aws: {label!r}: no mapping for a REST-protocol call")
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]+", action):
        raise Unmapped(f"aws: {label!r}: {action!r} is not an operation name")
    return f"{_AWS_PREFIX.get(service, service)}:{action}"


# Compute collections whose IAM names differ by scope (a regional backend service is
# compute.regionBackendServices.*, a global one compute.backendServices.*).
_GCP_REGIONAL = {
    "backendServices": "regionBackendServices",
    "healthChecks": "regionHealthChecks",
    "targetHttpProxies": "regionTargetHttpProxies",
    "urlMaps": "regionUrlMaps",
}
_GCP_GLOBAL = {"addresses": "globalAddresses", "forwardingRules": "globalForwardingRules"}
_GCP_OPERATIONS = {
    "global": "globalOperations",
    "regions": "regionOperations",
    "zones": "zoneOperations",
}
# Custom methods (POST <item>/<verb>) whose permission is not named after the verb.
_GCP_VERBS = {
    ("instanceGroups", "addInstances"): "update",
    ("instanceGroups", "removeInstances"): "update",
    ("instanceGroups", "setNamedPorts"): "update",
    ("instanceGroups", "listInstances"): "list",
    ("regionBackendServices", "getHealth"): "get",
    ("backendServices", "getHealth"): "get",
}
_GCP_ITEM = {"GET": "get", "DELETE": "delete", "PATCH": "update", "PUT": "update"}
_GCP_PATH = re.compile(r"^/compute/(?:v1|beta|alpha)/projects/[^/]+(?P<rest>(?:/[^/]+)*)/?$")


@functools.lru_cache(maxsize=4096)
def gcp_permission(label: str) -> str | None:
    """``"http:POST /compute/v1/projects/p/regions/r/forwardingRules"`` ->
    ``"compute.forwardingRules.create"``, and so on (see the module docstring)."""
    kind, _, rest = label.partition(":")
    method, _, path = rest.partition(" ")
    m = _GCP_PATH.match(path)
    if kind != "http" or m is None:
        raise Unmapped(f"gcp: {label!r} is not a Compute v1 call")
    parts = m["rest"].strip("/").split("/") if m["rest"] else []
    if not parts:
        if method == "GET":
            return "compute.projects.get"
        raise Unmapped(f"gcp: {label!r}")
    if parts[0] in ("regions", "zones") and len(parts) <= 2 and method == "GET":
        return f"compute.{parts[0]}.{'get' if len(parts) == 2 else 'list'}"
    if parts[0] == "aggregated" and len(parts) == 2 and method == "GET":
        return f"compute.{parts[1]}.list"  # aggregatedList needs the collection's list
    if parts[0] == "global":
        scope, tail = "global", parts[1:]
        collection = _GCP_GLOBAL.get(tail[0], tail[0]) if tail else ""
    elif parts[0] in ("regions", "zones") and len(parts) >= 3:
        scope, tail = parts[0], parts[2:]
        collection = _GCP_REGIONAL.get(tail[0], tail[0]) if scope == "regions" else tail[0]
    else:
        raise Unmapped(f"gcp: {label!r}: unknown scope")
    if not tail:
        raise Unmapped(f"gcp: {label!r}: no collection")
    if tail[0] == "operations":
        ops = _GCP_OPERATIONS[scope]
        if len(tail) == 1 and method == "GET":
            return f"compute.{ops}.list"
        if len(tail) == 2 and method in ("GET", "DELETE"):
            return f"compute.{ops}.{_GCP_ITEM[method]}"
        if len(tail) == 3 and tail[2] == "wait" and method == "POST":
            return f"compute.{ops}.get"  # wait is a long-poll get
        raise Unmapped(f"gcp: {label!r}: unknown operations call")
    if len(tail) == 1:
        verb = {"GET": "list", "POST": "create"}.get(method)
    elif len(tail) == 2:
        verb = _GCP_ITEM.get(method)
    elif len(tail) == 3 and method == "POST":
        verb = _GCP_VERBS.get((collection, tail[2]), tail[2])
    else:
        verb = None
    if verb is None or not re.fullmatch(r"[a-z][A-Za-z]+", collection):
        raise Unmapped(f"gcp: {label!r}: no permission for {method} on this path")
    return f"compute.{collection}.{verb}"


_AZURE_VERBS = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}


@functools.lru_cache(maxsize=4096)
def azure_permission(label: str) -> str | None:
    """``"PUT /subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/x"``
    -> ``"Microsoft.Network/loadBalancers/write"``; GET (one or a list) is ``read``,
    DELETE ``delete``, POST ``<type>/<action>/action``; polling a location's operation
    is ``Microsoft.Network/locations/operations/read`` (``operationResults`` likewise)."""
    method, _, path = label.partition(" ")
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0].lower() != "subscriptions":
        raise Unmapped(f"azure: {label!r} is not an ARM call")
    rest = parts[2:]
    if not rest:
        if method == "GET":
            return "Microsoft.Resources/subscriptions/read"
        raise Unmapped(f"azure: {label!r}")
    if rest[0].lower() == "resourcegroups":
        if len(rest) <= 2:
            verb = _AZURE_VERBS.get(method)
            if verb is None:
                raise Unmapped(f"azure: {label!r}")
            return f"Microsoft.Resources/subscriptions/resourceGroups/{verb}"
        rest = rest[2:]
    if len(rest) < 3 or rest[0].lower() != "providers":
        raise Unmapped(f"azure: {label!r}: no provider in the path")
    namespace, segments = rest[1], rest[2:]
    action = ""
    # segments alternate type/name: [type, name, childType, childName, ...]; a POST's
    # last segment is the action's name
    if method == "POST":
        if len(segments) % 2 == 0 or len(segments) < 3:
            raise Unmapped(f"azure: {label!r}: a POST that names no action")
        action, segments = segments[-1], segments[:-1]
    types = segments[0::2]
    if segments and segments[0].lower() == "locations" and len(segments) >= 3:
        types = ["locations", segments[2]]  # locations/<loc>/operations/<id>
    if not types or not all(re.fullmatch(r"[A-Za-z]+", t) for t in types):
        raise Unmapped(f"azure: {label!r}: unknown resource type")
    kind = "/".join([namespace, *types])
    if action:
        return f"{kind}/{action}/action"
    verb = _AZURE_VERBS.get(method)
    if verb is None:
        raise Unmapped(f"azure: {label!r}: no permission for {method}")
    return f"{kind}/{verb}"


MAPPERS = {"aws": aws_permission, "gcp": gcp_permission, "azure": azure_permission}

# What the real API also checks when the driver makes a call, beyond the call's own
# permission: tags set by the creating call, and other resources the request refers to.
# The recorder sees method and path, not the body, so these hold for every such call
# the driver makes (see deploy/policies/README.md, "Checked on references").
IMPLIED: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "aws": {
        # tag-on-create: ELB checks AddTags, EC2 CreateTags, for the Tags in the request
        "elasticloadbalancing:CreateLoadBalancer": ("elasticloadbalancing:AddTags",),
        "elasticloadbalancing:CreateTargetGroup": ("elasticloadbalancing:AddTags",),
        "ec2:CreateSecurityGroup": ("ec2:CreateTags",),
    },
    "gcp": {
        # a rule names its backend service, and an address (a reserved one, or the
        # user's), and for internal rules a subnetwork in a network
        "compute.forwardingRules.create": (
            "compute.forwardingRules.setLabels",
            "compute.regionBackendServices.use",
            "compute.addresses.use",
            "compute.addresses.useInternal",
            "compute.subnetworks.use",
            "compute.networks.use",
        ),
        # POST .../addresses is createInternal for an INTERNAL address (in a subnetwork)
        "compute.addresses.create": (
            "compute.addresses.setLabels",
            "compute.addresses.createInternal",
            "compute.subnetworks.use",
        ),
        "compute.addresses.delete": ("compute.addresses.deleteInternal",),
        # a backend service names its health check and the instance groups it serves
        "compute.regionBackendServices.create": (
            "compute.regionHealthChecks.useReadOnly",
            "compute.instanceGroups.use",
        ),
        "compute.regionBackendServices.update": (
            "compute.regionHealthChecks.useReadOnly",
            "compute.instanceGroups.use",
        ),
        # adding an instance to a group uses the instance
        "compute.instanceGroups.update": ("compute.instances.use",),
        # a firewall rule changes the network's policy
        "compute.firewalls.create": ("compute.networks.updatePolicy",),
        "compute.firewalls.update": ("compute.networks.updatePolicy",),
        "compute.firewalls.delete": ("compute.networks.updatePolicy",),
    },
    "azure": {
        # a frontend names a public IP (public LB) or a subnet (internal LB), and the
        # IP-based backend pool names the virtual network; a rule naming its own LB's pool
        # and probe is part of the LB's write (ARM checks pool joins of *other* resources)
        "Microsoft.Network/loadBalancers/write": (
            "Microsoft.Network/publicIPAddresses/join/action",
            "Microsoft.Network/virtualNetworks/subnets/join/action",
            "Microsoft.Network/virtualNetworks/joinLoadBalancer/action",
        ),
    },
}


# IAM and ARM compare action names ignoring case; Compute's permissions are exact.
_CASELESS = frozenset({"aws", "azure"})
_IMPLIED_INDEX = {
    cloud: {(k.lower() if cloud in _CASELESS else k): v for k, v in table.items()}
    for cloud, table in IMPLIED.items()
}


def permissions_of(cloud: str, label: str) -> tuple[str, ...]:
    """The call's own permission first, then those its request implies; () when the call
    is excluded (moto's own API). Raises Unmapped for a call no mapping covers."""
    own = MAPPERS[cloud](label)
    if own is None:
        return ()
    key = own.lower() if cloud in _CASELESS else own
    return (own, *_IMPLIED_INDEX[cloud].get(key, ()))


# --- the shipped policies -------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _pattern(glob: str, case_insensitive: bool) -> re.Pattern[str]:
    """An IAM action glob (``*`` any run, ``?`` one character) as a regex."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(body, re.IGNORECASE if case_insensitive else 0)


@dataclass(frozen=True)
class Policy:
    """One cloud's shipped policy, reduced to what a call check needs."""

    cloud: str
    path: Path
    granted: tuple[str, ...]  # as written, possibly with wildcards
    denied: tuple[str, ...] = ()  # Deny statements (AWS), NotActions (Azure)
    held: Mapping[str, str] = field(default_factory=dict)  # permission -> why, no call
    case_insensitive: bool = False

    def _matches(self, globs: Iterable[str], permission: str) -> bool:
        return any(_pattern(g, self.case_insensitive).fullmatch(permission) for g in globs)

    def allows(self, permission: str) -> bool:
        return self._matches(self.granted, permission) and not self._matches(
            self.denied, permission
        )

    def grants_of(self, permissions: Iterable[str]) -> set[str]:
        """The entries of `granted` that some of `permissions` fall under."""
        wanted = list(permissions)
        return {g for g in self.granted if any(self._matches((g,), p) for p in wanted)}

    def reason(self, permission: str) -> str:
        key = permission.lower() if self.case_insensitive else permission
        for name, why in self.held.items():
            if (name.lower() if self.case_insensitive else name) == key:
                return why
        return ""


def _as_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"{where}: expected a string or a list of strings, got {value!r}")


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    """In order, each once (a permission may appear in two conditioned statements)."""
    return tuple(dict.fromkeys(items))


_TITLES = {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}


def readme_permissions(cloud: str, text: str | None = None) -> set[str]:
    """The permissions README.md's table for `cloud` (section "## AWS" etc.) lists in its
    first column; ``.get`` after ``compute.forwardingRules.create`` is shorthand for
    ``compute.forwardingRules.get``."""
    text = README.read_text() if text is None else text
    section = text.partition(f"\n## {_TITLES[cloud]}\n")[2].split("\n## ", 1)[0]
    out: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        last = ""
        for token in re.findall(r"`([^`]+)`", line.split("|")[1]):
            if token.startswith(".") and last:
                token = last.rsplit(".", 1)[0] + token
            out.add(token)
            last = token
    return out


def readme_held(cloud: str, text: str | None = None) -> dict[str, str]:
    """The rows of README.md's "Held though no test calls it" table for `cloud`:
    ``| cloud | `permission` | why |``."""
    text = README.read_text() if text is None else text
    section = text.partition("## Held though no test calls it")[2].split("\n## ", 1)[0]
    out: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] == cloud and cells[1].startswith("`"):
            out[cells[1].strip("`")] = cells[2]
    return out


def load_aws(path: Path | None = None, readme: str | None = None) -> Policy:
    path = path or POLICY_FILES["aws"]
    doc = json.loads(path.read_text())
    granted: list[str] = []
    denied: list[str] = []
    for i, st in enumerate(doc["Statement"]):
        where = f"{path.name}: Statement[{i}]"
        if "NotAction" in st:
            raise ValueError(f"{where}: NotAction is not supported (say what is allowed)")
        (granted if st["Effect"] == "Allow" else denied).extend(_as_list(st["Action"], where))
    held = readme_held("aws", readme)
    return Policy("aws", path, _unique(granted), _unique(denied), held, True)


_GCP_HELD = re.compile(r"^\s*-\s*([\w.]+)\s*#\s*held:\s*(.+?)\s*$")


def load_gcp(path: Path | None = None) -> Policy:
    """gcloud's role file (title, description, stage, includedPermissions); a permission
    held though no call needs it says why in a ``# held: ...`` comment on its line."""
    path = path or POLICY_FILES["gcp"]
    text = path.read_text()
    doc = yaml.safe_load(text)
    granted = _as_list(doc["includedPermissions"], f"{path.name}: includedPermissions")
    held = {m[1]: m[2] for m in map(_GCP_HELD.match, text.splitlines()) if m}
    return Policy("gcp", path, _unique(granted), (), held, False)


def load_azure(path: Path | None = None, readme: str | None = None) -> Policy:
    path = path or POLICY_FILES["azure"]
    doc = json.loads(path.read_text())
    granted = _as_list(doc["Actions"], f"{path.name}: Actions")
    denied = _as_list(doc.get("NotActions", []), f"{path.name}: NotActions")
    held = readme_held("azure", readme)
    return Policy("azure", path, _unique(granted), _unique(denied), held, True)


LOADERS = {"aws": load_aws, "gcp": load_gcp, "azure": load_azure}


@functools.cache
def policy(cloud: str) -> Policy:
    return LOADERS[cloud]()


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def check(cloud: str, labels: Iterable[str], pol: Policy | None = None) -> list[str]:
    """One line per permission the policy lacks (naming a call that needs it), and one
    per call that maps to no permission at all."""
    pol = pol or policy(cloud)
    needing: dict[str, list[str]] = {}
    out = []
    for label in sorted(set(labels)):
        try:
            needed = permissions_of(cloud, label)
        except Unmapped as e:
            out.append(f"{label}: no permission known for this call ({e})")
            continue
        for p in needed:
            if not pol.allows(p):
                needing.setdefault(p, []).append(label)
    for p, calls in sorted(needing.items()):
        more = f" (and {len(calls) - 1} more calls)" if len(calls) > 1 else ""
        out.append(f"{p} is not in {_rel(pol.path)}; needed by {calls[0]}{more}")
    return out


# --- what a run used ------------------------------------------------------------------


@dataclass
class Usage:
    """Every recorded driver call of the session, by cloud, with the tests that made it."""

    calls: dict[str, Counter[str]] = field(default_factory=lambda: {c: Counter() for c in CLOUDS})
    tests: dict[str, dict[str, set[str]]] = field(
        default_factory=lambda: {c: {} for c in CLOUDS}
    )  # cloud -> label -> test ids
    worlds: set[str] = field(default_factory=set)  # test ids whose world was checked
    deselected: int = 0
    cloud_tests: set[str] = field(default_factory=set)  # collected tests using a world
    collected_files: set[str] = field(default_factory=set)
    report: list[str] = field(default_factory=list)  # for the terminal summary
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, cloud: str, labels: Iterable[str], test: str) -> list[str]:
        """Keep the world's calls for the session summary; the policy problems they show."""
        labels = list(labels)
        with self.lock:
            self.calls[cloud].update(labels)
            for label in set(labels):
                self.tests[cloud].setdefault(label, set()).add(test)
            self.worlds.add(test)
        return check(cloud, labels)

    def to_json(self) -> dict[str, Any]:
        """What a pytest-xdist worker hands its controller at the end of its session."""
        with self.lock:
            return {
                "calls": {c: dict(n) for c, n in self.calls.items()},
                "tests": {c: {k: sorted(v) for k, v in t.items()} for c, t in self.tests.items()},
                "worlds": sorted(self.worlds),
                "deselected": self.deselected,
                "cloud_tests": sorted(self.cloud_tests),
                "collected_files": sorted(self.collected_files),
            }

    def merge(self, data: Mapping[str, Any]) -> None:
        """Fold in one worker's usage. Every worker collects (and deselects) the whole
        suite, so collection is a union and deselection the largest count, not a sum."""
        with self.lock:
            for cloud, counts in data["calls"].items():
                self.calls.setdefault(cloud, Counter()).update(counts)
            for cloud, tests in data["tests"].items():
                mine = self.tests.setdefault(cloud, {})
                for label, ids in tests.items():
                    mine.setdefault(label, set()).update(ids)
            self.worlds.update(data["worlds"])
            self.deselected = max(self.deselected, int(data["deselected"]))
            self.cloud_tests.update(data["cloud_tests"])
            self.collected_files.update(data["collected_files"])

    def used(self, cloud: str) -> dict[str, set[str]]:
        """permission -> the calls that needed it (directly or by implication)."""
        out: dict[str, set[str]] = {}
        for label in self.calls[cloud]:
            try:
                needed = permissions_of(cloud, label)
            except Unmapped:
                continue
            for p in needed:
                out.setdefault(p, set()).add(label)
        return out

    def complete(self) -> tuple[bool, str]:
        """Whether every cloud test of the suite ran, so unused permissions mean something."""
        if self.deselected:
            return False, f"{self.deselected} tests deselected (-k, -m, --lf, ...)"
        on_disk = {str(p) for p in (ROOT / "tests" / "integration").glob("test_*.py")}
        missing = sorted(on_disk - self.collected_files)
        if missing:
            return False, f"{len(missing)} integration test files not collected"
        not_run = self.cloud_tests - self.worlds
        if not_run:
            return False, f"{len(not_run)} cloud tests did not run to teardown"
        idle = [c for c in CLOUDS if not self.calls[c]]
        if idle:
            return False, f"no calls recorded for {', '.join(idle)}"
        return True, ""


USAGE = Usage()


def coverage_problems(usage: Usage, policies: Mapping[str, Policy] | None = None) -> list[str]:
    """Permissions a policy holds that no recorded call needed and no reason explains;
    reasons for permissions the policy does not hold (stale documentation)."""
    out = []
    for cloud in CLOUDS:
        pol = (policies or {}).get(cloud) or policy(cloud)
        used = pol.grants_of(usage.used(cloud))
        for grant in pol.granted:
            if grant not in used and not pol.reason(grant):
                out.append(
                    f"{cloud}: {grant} is in {_rel(pol.path)} but no recorded call needs it "
                    "and no reason is documented (README.md table, or a '# held:' comment "
                    "in the GCP role)"
                )
        for name in pol.held:
            if not pol.allows(name):
                out.append(f"{cloud}: a reason is documented for {name}, which is not granted")
    return out


def summary(usage: Usage, policies: Mapping[str, Policy] | None = None) -> dict[str, Any]:
    """What the session called, per cloud: for debugging a coverage failure."""
    out: dict[str, Any] = {}
    for cloud in CLOUDS:
        pol = (policies or {}).get(cloud) or policy(cloud)
        used = usage.used(cloud)
        unmapped = []
        for label in usage.calls[cloud]:
            try:
                permissions_of(cloud, label)
            except Unmapped:
                unmapped.append(label)
        out[cloud] = {
            "policy": _rel(pol.path),
            "calls": sum(usage.calls[cloud].values()),
            "used": {
                p: {
                    "calls": sum(usage.calls[cloud][c] for c in labels),
                    "tests": len(set().union(*(usage.tests[cloud][c] for c in labels))),
                    "examples": sorted(labels)[:3],
                }
                for p, labels in sorted(used.items())
            },
            "unmapped": sorted(unmapped),
            "granted_unused": sorted(set(pol.granted) - pol.grants_of(used)),
            "held": dict(pol.held),
        }
    return out


def verify(cloud: str, labels: Iterable[str], test: str) -> None:
    """At a world's teardown: keep its calls for the session, fail on a policy gap."""
    found = USAGE.record(cloud, labels, test)
    if found:
        raise AssertionError(
            f"{cloud}: {len(found)} cloud calls the shipped policy does not allow:\n  "
            + "\n  ".join(found)
        )


# --- the session's hooks (called from tests/conftest.py) ------------------------------


def on_collection(items: Iterable[Any]) -> None:
    for item in items:
        USAGE.collected_files.add(str(item.path))
        if WORLD_FIXTURES & set(getattr(item, "fixturenames", ())):
            USAGE.cloud_tests.add(item.nodeid)


def summary_path(config: Any) -> Path:
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("ccm-cloud-calls")) / "summary.json"
    import tempfile

    return Path(tempfile.gettempdir()) / "ccm-cloud-calls-summary.json"


WORKER_KEY = "ccm_cloud_calls"


def on_worker_done(node: Any, usage: Usage | None = None) -> None:
    """pytest-xdist's controller: a worker finished; fold in what its tests called."""
    data = getattr(node, "workeroutput", {}).get(WORKER_KEY)
    if data:
        (usage or USAGE).merge(json.loads(data))


def on_session_finish(session: Any, usage: Usage | None = None) -> None:
    """Write what was called; on a full run, fail the session when a policy holds a
    permission nothing needed and nothing explains. What to say is kept in
    ``usage.report`` for the terminal summary.

    Under pytest-xdist a worker only hands its usage to the controller, which checks
    the whole run once every worker is down."""
    usage = usage or USAGE
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[WORKER_KEY] = json.dumps(usage.to_json())
        return
    if not usage.worlds:
        return
    path = summary_path(session.config)
    path.write_text(json.dumps(summary(usage), indent=2, sort_keys=True) + "\n")
    complete, why = usage.complete()
    if not complete:
        usage.report = ["", f"coverage not checked ({why}); calls: {path}"]
        return
    found = coverage_problems(usage)
    if not found:
        usage.report = ["", f"every permission is needed or explained; calls: {path}"]
        return
    usage.report = ["red", *found, f"what the suites called: {path}"]
    if session.exitstatus == 0:
        session.exitstatus = 1


def on_terminal_summary(reporter: Any, usage: Usage | None = None) -> None:
    usage = usage or USAGE
    if not usage.report:
        return
    color, *lines = usage.report
    title = "cloud policies hold permissions nothing needs" if color else "cloud policies"
    reporter.write_sep("-" if not color else "=", title, red=bool(color))
    for line in lines:
        reporter.write_line(line)
