"""Service defaulting, validation and cluster-IP / node-port allocation, as kube-apiserver does it.

A cloud controller manager reads `spec.clusterIP`, `spec.ports[].nodePort` and
`spec.healthCheckNodePort` to program load balancers, and it reacts to the 422s the real
server sends. A sandbox that accepted anything, or invented values the real server never
would, would let controller bugs through; so this module follows the apiserver's
registry/core/service code (defaults.go, validation.go, strategy.go, alloc.go) on plain
JSON dicts, including its error paths and message wording.

Every operation is transactional: on any error nothing is allocated, nothing released and
the object passed in is left untouched, because a failed write in the real server leaves
no trace either and a leaked port would make later, unrelated creates fail.
"""

from __future__ import annotations

import copy
import ipaddress
import itertools
import json
import random
import re
from typing import Any

from ccm.sandbox.errors import FieldError, invalid

Obj = dict[str, Any]

CLUSTER_IP = "ClusterIP"
NODE_PORT = "NodePort"
LOAD_BALANCER = "LoadBalancer"
EXTERNAL_NAME = "ExternalName"
SERVICE_TYPES = (CLUSTER_IP, EXTERNAL_NAME, LOAD_BALANCER, NODE_PORT)
PROTOCOLS = ("SCTP", "TCP", "UDP")
SESSION_AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
IP_FAMILIES = ("IPv4",)  # the sandbox is a single-stack IPv4 cluster
IP_MODES = ("Proxy", "VIP")
HEADLESS = "None"
KUBELET_PORT = 10250
DEFAULT_AFFINITY_SECONDS = 10800
MAX_AFFINITY_SECONDS = 86400

# --------------------------------------------------------------------------------------
# Field errors, worded like k8s.io/apimachinery/pkg/util/validation/field.Error.ErrorBody
# --------------------------------------------------------------------------------------


def _quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _go(value: Any) -> str:
    """Render a bad value the way Go's field errors print it, so messages match byte for byte."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(_quote(v) for v in value) + "}"
    return json.dumps(value, sort_keys=True)


def _invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, "FieldValueInvalid", f"Invalid value: {_go(value)}: {detail}")


def _required(path: str, detail: str = "") -> FieldError:
    return FieldError(
        path, "FieldValueRequired", "Required value" + (f": {detail}" if detail else "")
    )


def _forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, "FieldValueForbidden", f"Forbidden: {detail}")


def _not_supported(path: str, value: Any, supported: tuple[str, ...]) -> FieldError:
    values = ", ".join(_quote(v) for v in supported)
    return FieldError(
        path,
        "FieldValueNotSupported",
        f"Unsupported value: {_go(value)}: supported values: {values}",
    )


def _duplicate(path: str, value: Any) -> FieldError:
    return FieldError(path, "FieldValueDuplicate", f"Duplicate value: {_go(value)}")


def _internal(path: str, detail: str) -> FieldError:
    """The real server answers pool exhaustion with a 500; the sandbox keeps it a cause."""
    return FieldError(path, "InternalError", f"Internal error: {detail}")


def _go_service_port_key(port: Any, protocol: Any) -> str:
    """The %#v of core.ServicePort{Protocol, Port} the real duplicate-port error embeds."""
    return (
        f'core.ServicePort{{Name:"", Protocol:{_quote(str(protocol))}, '
        f"AppProtocol:(*string)(nil), Port:{port}, "
        'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
    )


# --------------------------------------------------------------------------------------
# Name rules from k8s.io/apimachinery/pkg/util/validation
# --------------------------------------------------------------------------------------

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Go joins the examples with "', " + " or " — hence the famous double space.
    text = msg + " (e.g. "
    for i, example in enumerate(examples):
        if i:
            text += " or "
        text += f"'{example}', "
    return text + f"regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def _dns1035_label(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not re.fullmatch(_DNS1035_LABEL_FMT, value):
        errs.append(
            _regex_error(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character",
                _DNS1035_LABEL_FMT,
                "my-name",
                "abc-123",
            )
        )
    return errs


def _dns1123_label(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not re.fullmatch(_DNS1123_LABEL_FMT, value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character",
                _DNS1123_LABEL_FMT,
                "my-name",
                "123-abc",
            )
        )
    return errs


def _dns1123_subdomain(value: str) -> list[str]:
    errs = [_max_len(253)] if len(value) > 253 else []
    if not re.fullmatch(_DNS1123_SUBDOMAIN_FMT, value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character",
                _DNS1123_SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return errs


_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character"
)


def _qualified_name(value: str) -> list[str]:
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in _dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len(63))
    if not re.fullmatch(_QUALIFIED_NAME_FMT, name):
        errs.append(
            "name part "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def _label_value(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not re.fullmatch(_LABEL_VALUE_FMT, value):
        errs.append(
            _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errs


def _port_name(value: str) -> list[str]:
    """IANA_SVC_NAME, the rule for a named targetPort."""
    errs = [_max_len(15)] if len(value) > 15 else []
    if not re.fullmatch("[-a-z0-9]+", value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def _port_num(value: int) -> list[str]:
    return [] if 1 <= value <= 65535 else ["must be between 1 and 65535, inclusive"]


_IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _is_cidr(value: str) -> bool:
    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------
# Allocation pools
# --------------------------------------------------------------------------------------


def _range_offset(size: int, low: int, high: int, step: int) -> int:
    """The apiserver keeps the pool bottom for static picks: min(max(low, size/step), high)."""
    if size <= low:
        return 0
    return min(max(size // step, low), high)


class _Pool:
    """A contiguous integer range; dynamic picks prefer the upper band, like the bitmap allocator.

    Preferring the upper band keeps the low addresses free for users who pick values by hand
    (the apiserver's "static band"), so explicit picks in manifests rarely collide.
    """

    def __init__(self, first: int, last: int, offset: int, reserved: frozenset[int]) -> None:
        self.first = first
        self.last = last
        self.offset = offset
        self.reserved = reserved  # never handed out dynamically
        self.used: set[int] = set()

    def contains(self, value: int) -> bool:
        return self.first <= value <= self.last

    def next_free(self, rng: random.Random) -> int | None:
        bands = [(self.first, self.last)]
        if self.offset:
            bands = [
                (self.first + self.offset, self.last),
                (self.first, self.first + self.offset - 1),
            ]
        for low, high in bands:
            if low > high:
                continue
            start = rng.randint(low, high)
            for value in itertools.chain(range(start, high + 1), range(low, start)):
                if value not in self.used and value not in self.reserved:
                    return value
        return None


class ServiceAllocator:
    """Cluster IPs and node ports in use, the state kube-apiserver keeps in its allocators.

    The first usable IP is the `kubernetes` service's address; it is never handed out
    dynamically, only when asked for explicitly. Node ports and health-check node ports
    share one pool, as they do on a real cluster (both are host ports on every node).
    """

    def __init__(
        self,
        service_cidr: str = "10.96.0.0/12",
        node_port_range: tuple[int, int] = (30000, 32767),
        *,
        seed: int | None = 0,
    ) -> None:
        net = ipaddress.ip_network(service_cidr, strict=False)
        if not isinstance(net, ipaddress.IPv4Network):
            raise ValueError(f"the sandbox serves IPv4 only, not {service_cidr}")
        if net.prefixlen > 30:
            raise ValueError(f"service CIDR {service_cidr} has no room for services")
        low, high = node_port_range
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"invalid node port range {low}-{high}")
        self.service_cidr = net
        self.node_port_range = (low, high)
        self.rng = random.Random(seed)  # replace or reseed for other deterministic sequences
        first = int(net.network_address) + 1
        self._ips = _Pool(
            first,
            int(net.broadcast_address) - 1,
            _range_offset(net.num_addresses, 16, 256, 16),
            frozenset({first}),
        )
        self._ports = _Pool(low, high, _range_offset(high - low + 1, 16, 128, 32), frozenset())

    @property
    def kubernetes_service_ip(self) -> str:
        return str(ipaddress.IPv4Address(self._ips.first))

    def allocated_ips(self) -> set[str]:
        return {str(ipaddress.IPv4Address(v)) for v in self._ips.used}

    def allocated_node_ports(self) -> set[int]:
        return set(self._ports.used)

    def _ip_value(self, ip: str) -> int | None:
        parsed = _parse_ip(ip)
        return int(parsed) if isinstance(parsed, ipaddress.IPv4Address) else None

    def _begin(self) -> _Txn:
        return _Txn(self)


class _Txn:
    """Allocations made now, releases deferred to commit: the apiserver's PortAllocationOperation.

    Deferring releases means a port given up by an update cannot be re-taken by the same
    update, and rollback only has to undo what was taken.
    """

    def __init__(self, alloc: ServiceAllocator) -> None:
        self.alloc = alloc
        self._taken_ips: list[int] = []
        self._taken_ports: list[int] = []
        self._release_ips: list[int] = []
        self._release_ports: list[int] = []

    def take_ip(self, ip: str) -> str | None:
        pool = self.alloc._ips
        value = self.alloc._ip_value(ip)
        if value is None or not pool.contains(value):
            return (
                "provided IP is not in the valid range. The range of valid IPs is "
                f"{self.alloc.service_cidr}"
            )
        if value in pool.used:
            return "provided IP is already allocated"
        pool.used.add(value)
        self._taken_ips.append(value)
        return None

    def next_ip(self) -> str | None:
        pool = self.alloc._ips
        value = pool.next_free(self.alloc.rng)
        if value is None:
            return None
        pool.used.add(value)
        self._taken_ips.append(value)
        return str(ipaddress.IPv4Address(value))

    def take_port(self, port: int) -> str | None:
        pool = self.alloc._ports
        if not pool.contains(port):
            low, high = self.alloc.node_port_range
            return (
                f"provided port is not in the valid range. The range of valid ports is {low}-{high}"
            )
        if port in pool.used:
            return "provided port is already allocated"
        pool.used.add(port)
        self._taken_ports.append(port)
        return None

    def next_port(self) -> int | None:
        pool = self.alloc._ports
        value = pool.next_free(self.alloc.rng)
        if value is not None:
            pool.used.add(value)
            self._taken_ports.append(value)
        return value

    def release_ip_later(self, ip: str) -> None:
        value = self.alloc._ip_value(ip)
        if value is not None:
            self._release_ips.append(value)

    def release_port_later(self, port: int) -> None:
        self._release_ports.append(port)

    def rollback(self) -> None:
        self.alloc._ips.used.difference_update(self._taken_ips)
        self.alloc._ports.used.difference_update(self._taken_ports)
        self._taken_ips.clear()
        self._taken_ports.clear()

    def commit(self) -> None:
        self.alloc._ips.used.difference_update(self._release_ips)
        self.alloc._ports.used.difference_update(self._release_ports)


# --------------------------------------------------------------------------------------
# Reading a Service
# --------------------------------------------------------------------------------------


def _name(obj: Obj) -> str:
    meta = obj.get("metadata")
    return str(meta.get("name") or "") if isinstance(meta, dict) else ""


def _spec_of(obj: Obj) -> Obj:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _ports(spec: Obj) -> list[Obj]:
    ports = spec.get("ports")
    return [p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else []


def _type(spec: Obj) -> str:
    return str(spec.get("type") or CLUSTER_IP)


def _needs_cluster_ip(spec: Obj) -> bool:
    return _type(spec) != EXTERNAL_NAME


def _needs_node_port(spec: Obj) -> bool:
    return _type(spec) in (NODE_PORT, LOAD_BALANCER)


def _needs_hc(spec: Obj) -> bool:
    return _type(spec) == LOAD_BALANCER and spec.get("externalTrafficPolicy") == "Local"


def _is_headless(spec: Obj) -> bool:
    ips = spec.get("clusterIPs") or []
    return bool(ips) and ips[0] == HEADLESS


def _externally_accessible(spec: Obj) -> bool:
    t = _type(spec)
    return t in (NODE_PORT, LOAD_BALANCER) or (t == CLUSTER_IP and bool(spec.get("externalIPs")))


def _allocated_ip(spec: Obj) -> str | None:
    """The cluster IP this object holds in the pool (headless and ExternalName hold none)."""
    if not _needs_cluster_ip(spec):
        return None
    ip = spec.get("clusterIP")
    return ip if isinstance(ip, str) and ip and ip != HEADLESS else None


def _held_node_ports(spec: Obj) -> set[int]:
    """Node ports this object holds; a stray nodePort on an ExternalName service holds nothing."""
    held: set[int] = set()
    if _needs_node_port(spec):
        held.update(
            p["nodePort"]
            for p in _ports(spec)
            if isinstance(p.get("nodePort"), int) and p["nodePort"]
        )
    hc = spec.get("healthCheckNodePort")
    if _needs_hc(spec) and isinstance(hc, int) and hc:
        held.add(hc)
    return held


# --------------------------------------------------------------------------------------
# Shape: the real server's JSON decoder rejects wrong types before any rule runs
# --------------------------------------------------------------------------------------

_STR_FIELDS = (
    "type",
    "sessionAffinity",
    "clusterIP",
    "externalName",
    "externalTrafficPolicy",
    "internalTrafficPolicy",
    "ipFamilyPolicy",
    "loadBalancerClass",
    "loadBalancerIP",
    "trafficDistribution",
)
_STR_LIST_FIELDS = ("clusterIPs", "ipFamilies", "externalIPs", "loadBalancerSourceRanges")
_BOOL_FIELDS = ("allocateLoadBalancerNodePorts", "publishNotReadyAddresses")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_shape(obj: Obj) -> list[FieldError]:
    """Reject values of the wrong JSON type and drop nulls (null means omitted in Go)."""
    if obj.get("spec") is None:
        obj["spec"] = {}
    spec = obj["spec"]
    if not isinstance(spec, dict):
        return [_invalid("spec", spec, "must be of type object")]
    errs: list[FieldError] = []

    def check(container: Obj, key: str, path: str, kind: str) -> None:
        if key not in container:
            return
        value = container[key]
        if value is None:
            del container[key]
            return
        ok = {
            "string": isinstance(value, str),
            "integer": _is_int(value),
            "boolean": isinstance(value, bool),
            "object": isinstance(value, dict),
            "array": isinstance(value, list) and all(isinstance(v, str) for v in value),
            "int-or-string": _is_int(value) or isinstance(value, str),
        }[kind]
        if not ok:
            errs.append(_invalid(path, value, f"must be of type {kind}"))

    for key in _STR_FIELDS:
        check(spec, key, f"spec.{key}", "string")
    for key in _STR_LIST_FIELDS:
        check(spec, key, f"spec.{key}", "array")
    for key in _BOOL_FIELDS:
        check(spec, key, f"spec.{key}", "boolean")
    check(spec, "healthCheckNodePort", "spec.healthCheckNodePort", "integer")
    check(spec, "selector", "spec.selector", "object")
    if isinstance(spec.get("selector"), dict):
        for k, v in spec["selector"].items():
            if not isinstance(v, str):
                errs.append(_invalid(f"spec.selector.{k}", v, "must be of type string"))
    check(spec, "sessionAffinityConfig", "spec.sessionAffinityConfig", "object")
    config = spec.get("sessionAffinityConfig")
    if isinstance(config, dict):
        check(config, "clientIP", "spec.sessionAffinityConfig.clientIP", "object")
        client_ip = config.get("clientIP")
        if isinstance(client_ip, dict):
            path = "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
            check(client_ip, "timeoutSeconds", path, "integer")
    if spec.get("ports") is None:
        spec.pop("ports", None)
    elif not isinstance(spec["ports"], list):
        errs.append(_invalid("spec.ports", spec["ports"], "must be of type array"))
    else:
        for i, port in enumerate(spec["ports"]):
            path = f"spec.ports[{i}]"
            if not isinstance(port, dict):
                errs.append(_invalid(path, port, "must be of type object"))
                continue
            for key in ("name", "protocol", "appProtocol"):
                check(port, key, f"{path}.{key}", "string")
            for key in ("port", "nodePort"):
                check(port, key, f"{path}.{key}", "integer")
            check(port, "targetPort", f"{path}.targetPort", "int-or-string")
    return errs


# --------------------------------------------------------------------------------------
# Defaulting (pkg/apis/core/v1/defaults.go, strategy.go, alloc.go)
# --------------------------------------------------------------------------------------


def _apply_defaults(spec: Obj) -> None:
    """SetDefaults_Service: what every decoded Service gets before any rule looks at it."""
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if not spec.get("type"):
        spec["type"] = CLUSTER_IP
    stype = spec["type"]
    for port in _ports(spec):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port", 0)
    if spec["sessionAffinity"] == "ClientIP":
        config = spec.get("sessionAffinityConfig")
        client_ip = config.get("clientIP") if isinstance(config, dict) else None
        if not isinstance(client_ip, dict) or client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {
                "clientIP": {"timeoutSeconds": DEFAULT_AFFINITY_SECONDS}
            }
    if not spec.get("externalTrafficPolicy") and _externally_accessible(spec):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and stype in (
        CLUSTER_IP,
        NODE_PORT,
        LOAD_BALANCER,
    ):
        spec["internalTrafficPolicy"] = "Cluster"
    if stype == LOAD_BALANCER and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True


def _normalize_cluster_ips(spec: Obj, old: Obj | None) -> None:
    """Keep clusterIP and clusterIPs in step, for clients that only know the singular field."""
    ip = spec.get("clusterIP") or ""
    ips = spec.get("clusterIPs") or []
    if old is None:
        if ip and not ips:
            spec["clusterIPs"] = [ip]
        return
    old_ip = old.get("clusterIP") or ""
    old_ips = old.get("clusterIPs") or []
    if old_ip == ip:
        return
    if old_ips and ips and old_ips[0] == ips[0]:
        if not ip:
            spec.pop("clusterIPs", None)
        else:
            spec["clusterIPs"] = [ip, *ips[1:]]


def _init_ip_families(spec: Obj) -> list[FieldError]:
    """Default ipFamilies / ipFamilyPolicy as a single-stack IPv4 cluster does."""
    if not _needs_cluster_ip(spec):
        return []
    ips: list[str] = list(spec.get("clusterIPs") or [])
    families: list[str] = list(spec.get("ipFamilies") or [])
    if ips and ips[0] == HEADLESS and not spec.get("selector"):
        # Selector-less headless services carry endpoints of any family.
        spec.setdefault("ipFamilyPolicy", "RequireDualStack")
        if not families:
            spec["ipFamilies"] = ["IPv4"]
        return []
    errs: list[FieldError] = []
    policy = spec.setdefault("ipFamilyPolicy", "SingleStack")
    if policy == "RequireDualStack":
        errs.append(
            _invalid(
                "spec.ipFamilyPolicy",
                policy,
                "this cluster is not configured for dual-stack services",
            )
        )
    for i, ip in enumerate(ips):
        if ip == HEADLESS:
            break
        parsed = _parse_ip(ip)
        if parsed is None or i < len(families):
            continue
        if parsed.version == 6:
            errs.append(
                _invalid(
                    f"spec.clusterIPs[{i}]",
                    ips,
                    "may not use IPv6 on a cluster which is not configured for it",
                )
            )
            break
        families.append("IPv4")
    if not errs:  # a defaulted family would only add a misleading mismatch error
        spec["ipFamilies"] = families or ["IPv4"]
    return errs


def _patch_allocated_values(new: Obj, old: Obj) -> None:
    """Carry forward allocated values a PUT left out, so re-applying a manifest is a no-op."""
    if _needs_cluster_ip(old) and _needs_cluster_ip(new):
        if not new.get("clusterIP") and old.get("clusterIP"):
            new["clusterIP"] = old["clusterIP"]
        if not new.get("clusterIPs") and old.get("clusterIPs"):
            new["clusterIPs"] = list(old["clusterIPs"])
    if _needs_node_port(old) and _needs_node_port(new):
        old_ports = [p for p in _ports(old) if p.get("nodePort")]
        by_key = {(p.get("port"), p.get("protocol") or "TCP"): p["nodePort"] for p in old_ports}
        by_name = {p.get("name") or "": p["nodePort"] for p in old_ports}
        new_ports = _ports(new)
        used = {(p["nodePort"], p.get("protocol") or "TCP") for p in new_ports if p.get("nodePort")}
        for port in new_ports:
            if port.get("nodePort"):
                continue
            proto = port.get("protocol") or "TCP"
            for candidate in (
                by_key.get((port.get("port"), proto)),
                by_name.get(port.get("name") or ""),
            ):
                if candidate and (candidate, proto) not in used:
                    port["nodePort"] = candidate
                    used.add((candidate, proto))
                    break
    if (
        _needs_hc(old)
        and _needs_hc(new)
        and not new.get("healthCheckNodePort")
        and old.get("healthCheckNodePort")
    ):
        new["healthCheckNodePort"] = old["healthCheckNodePort"]


def _node_port_set(spec: Obj) -> set[int]:
    return {p["nodePort"] for p in _ports(spec) if p.get("nodePort")}


def _drop_type_dependent_fields(new: Obj, old: Obj) -> None:
    """Wipe fields a type change makes meaningless, but only ones the user did not just change.

    A PATCH that only flips `type` still carries the old allocated values; the real server
    drops them (and frees them) instead of rejecting the request.
    """
    if _needs_cluster_ip(old) and not _needs_cluster_ip(new):
        if (old.get("clusterIP") or "") == (new.get("clusterIP") or "") and (
            old.get("clusterIPs") or []
        ) == (new.get("clusterIPs") or []):
            new.pop("clusterIP", None)
            new.pop("clusterIPs", None)
        if (old.get("ipFamilies") or []) == (new.get("ipFamilies") or []):
            new.pop("ipFamilies", None)
        if old.get("ipFamilyPolicy") == new.get("ipFamilyPolicy"):
            new.pop("ipFamilyPolicy", None)
    if (
        _needs_node_port(old)
        and not _needs_node_port(new)
        and _node_port_set(old) == _node_port_set(new)
    ):
        for port in _ports(new):
            port.pop("nodePort", None)
    if (
        _needs_hc(old)
        and not _needs_hc(new)
        and (old.get("healthCheckNodePort") or 0) == (new.get("healthCheckNodePort") or 0)
    ):
        new.pop("healthCheckNodePort", None)
    if _type(old) == LOAD_BALANCER and _type(new) != LOAD_BALANCER:
        for key in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if new.get(key) is not None and old.get(key) == new.get(key):
                new.pop(key)
    if (
        _externally_accessible(old)
        and not _externally_accessible(new)
        and old.get("externalTrafficPolicy") == new.get("externalTrafficPolicy")
    ):
        new.pop("externalTrafficPolicy", None)


# --------------------------------------------------------------------------------------
# Validation (pkg/apis/core/validation: ValidateService, ValidateServiceUpdate)
# --------------------------------------------------------------------------------------


def _validate_service(obj: Obj, spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    name = meta.get("name") or ""
    if not name:
        if not meta.get("generateName"):
            errs.append(_required("metadata.name", "name or generateName is required"))
    else:
        errs.extend(_invalid("metadata.name", name, m) for m in _dns1035_label(str(name)))

    stype = spec.get("type")
    ports = _ports(spec)
    headless = _is_headless(spec)
    if not ports and not headless and stype != EXTERNAL_NAME:
        errs.append(_required("spec.ports"))
    if stype == LOAD_BALANCER:
        if headless:
            errs.append(
                _invalid(
                    "spec.clusterIPs[0]",
                    HEADLESS,
                    "may not be set to 'None' for LoadBalancer services",
                )
            )
        for i, port in enumerate(ports):
            if port.get("port") == KUBELET_PORT:
                errs.append(
                    _invalid(
                        f"spec.ports[{i}]",
                        KUBELET_PORT,
                        f"may not expose port {KUBELET_PORT} externally since it is used by "
                        "kubelet",
                    )
                )
    elif stype == NODE_PORT:
        if headless:
            errs.append(
                _invalid(
                    "spec.clusterIPs[0]", HEADLESS, "may not be set to 'None' for NodePort services"
                )
            )
    elif stype == EXTERNAL_NAME:
        for key in ("clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if spec.get(key):
                errs.append(_forbidden(f"spec.{key}", "may not be set for ExternalName services"))
        cname = str(spec.get("externalName") or "").removesuffix(".")
        if cname:
            errs.extend(_invalid("spec.externalName", cname, m) for m in _dns1123_subdomain(cname))
        else:
            errs.append(_required("spec.externalName"))

    names: set[str] = set()
    for i, port in enumerate(ports):
        errs.extend(_validate_port(port, f"spec.ports[{i}]", len(ports) > 1, names))

    selector = spec.get("selector")
    if isinstance(selector, dict):
        for key, value in selector.items():
            errs.extend(_invalid("spec.selector", key, m) for m in _qualified_name(str(key)))
            errs.extend(_invalid("spec.selector", value, m) for m in _label_value(str(value)))

    errs.extend(_validate_session_affinity(spec))
    errs.extend(_validate_cluster_ips(spec))

    for i, ip in enumerate(spec.get("externalIPs") or []):
        errs.extend(_validate_external_ip(ip, f"spec.externalIPs[{i}]"))

    if not stype:
        errs.append(_required("spec.type"))
    elif stype not in SERVICE_TYPES:
        errs.append(_not_supported("spec.type", stype, SERVICE_TYPES))

    if stype == CLUSTER_IP:
        for i, port in enumerate(ports):
            if port.get("nodePort"):
                errs.append(
                    _forbidden(
                        f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'"
                    )
                )

    seen_node_ports: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        if not port.get("nodePort"):
            continue
        node_key = (port.get("protocol"), port["nodePort"])
        if node_key in seen_node_ports:
            errs.append(_duplicate(f"spec.ports[{i}].nodePort", port["nodePort"]))
        seen_node_ports.add(node_key)

    seen_ports: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        port_key = (port.get("protocol"), port.get("port", 0))
        if port_key in seen_ports:
            errs.append(
                FieldError(
                    f"spec.ports[{i}]",
                    "FieldValueDuplicate",
                    "Duplicate value: " + _go_service_port_key(port_key[1], port_key[0]),
                )
            )
        seen_ports.add(port_key)

    ranges = spec.get("loadBalancerSourceRanges") or []
    if ranges:
        if stype != LOAD_BALANCER:
            errs.append(
                _forbidden(
                    "spec.loadBalancerSourceRanges",
                    "may only be used when `type` is 'LoadBalancer'",
                )
            )
        for i, value in enumerate(ranges):
            if not _is_cidr(value.strip()):
                errs.append(
                    _invalid(f"spec.loadBalancerSourceRanges[{i}]", value.strip(), _CIDR_MSG)
                )

    if spec.get("allocateLoadBalancerNodePorts") is not None and stype != LOAD_BALANCER:
        errs.append(
            _forbidden(
                "spec.allocateLoadBalancerNodePorts",
                "may only be used when `type` is 'LoadBalancer'",
            )
        )

    lb_class = spec.get("loadBalancerClass")
    if lb_class is not None:
        if stype == LOAD_BALANCER:
            errs.extend(
                _invalid("spec.loadBalancerClass", lb_class, m) for m in _qualified_name(lb_class)
            )
        else:
            errs.append(
                _forbidden(
                    "spec.loadBalancerClass", "may only be used when service type is 'LoadBalancer'"
                )
            )

    errs.extend(_validate_traffic_policies(spec))
    return errs


def _validate_port(port: Obj, path: str, require_name: bool, names: set[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    name = port.get("name") or ""
    if require_name and not name:
        errs.append(_required(f"{path}.name"))
    elif name:
        errs.extend(_invalid(f"{path}.name", name, m) for m in _dns1123_label(name))
        if name in names:
            errs.append(_duplicate(f"{path}.name", name))
        names.add(name)
    number = port.get("port", 0)
    errs.extend(_invalid(f"{path}.port", number, m) for m in _port_num(number))
    protocol = port.get("protocol") or ""
    if not protocol:
        errs.append(_required(f"{path}.protocol"))
    elif protocol not in PROTOCOLS:
        errs.append(_not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    target = port.get("targetPort", 0)
    if isinstance(target, str):
        errs.extend(_invalid(f"{path}.targetPort", target, m) for m in _port_name(target))
    else:
        errs.extend(_invalid(f"{path}.targetPort", target, m) for m in _port_num(target))
    app_protocol = port.get("appProtocol")
    if app_protocol is not None:
        errs.extend(
            _invalid(f"{path}.appProtocol", app_protocol, m) for m in _qualified_name(app_protocol)
        )
    return errs


def _validate_session_affinity(spec: Obj) -> list[FieldError]:
    affinity = spec.get("sessionAffinity") or ""
    config = spec.get("sessionAffinityConfig")
    path = "spec.sessionAffinityConfig"
    if not affinity:
        return [_required("spec.sessionAffinity")]
    if affinity not in SESSION_AFFINITIES:
        return [_not_supported("spec.sessionAffinity", affinity, SESSION_AFFINITIES)]
    if affinity == "None":
        if config is not None:
            return [_forbidden(path, "must not be set when session affinity is None")]
        return []
    timeout = (config or {}).get("clientIP", {}).get("timeoutSeconds")
    if not _is_int(timeout) or not 0 < timeout <= MAX_AFFINITY_SECONDS:
        return [
            _invalid(
                f"{path}.clientIP.timeoutSeconds",
                timeout,
                f"must be greater than 0 and less than {MAX_AFFINITY_SECONDS}",
            )
        ]
    return []


def _validate_cluster_ips(spec: Obj) -> list[FieldError]:
    """ValidateServiceClusterIPsRelatedFields, for a cluster that only has IPv4."""
    if spec.get("type") == EXTERNAL_NAME:
        return []
    errs: list[FieldError] = []
    ip = spec.get("clusterIP") or ""
    ips: list[str] = spec.get("clusterIPs") or []
    if ip:
        if not ips:
            errs.append(_required("spec.clusterIPs"))
        elif ips[0] != ip:
            errs.append(_invalid("spec.clusterIPs", ips, "first value must match `clusterIP`"))
    elif ips:
        errs.append(
            _invalid("spec.clusterIPs", ips, "must be empty when `clusterIP` is not specified")
        )

    families: list[str] = spec.get("ipFamilies") or []
    seen: set[str] = set()
    for i, family in enumerate(families):
        if family not in IP_FAMILIES:
            errs.append(_not_supported(f"spec.ipFamilies[{i}]", family, IP_FAMILIES))
        if family in seen:
            errs.append(_duplicate(f"spec.ipFamilies[{i}]", family))
        seen.add(family)
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in IP_FAMILY_POLICIES:
        errs.append(_not_supported("spec.ipFamilyPolicy", policy, IP_FAMILY_POLICIES))

    bad_ips = False
    for i, value in enumerate(ips):
        if i == 0 and value == HEADLESS:
            if len(ips) > 1:
                bad_ips = True
                errs.append(
                    _invalid("spec.clusterIPs", ips, "'None' must be the first and only value")
                )
            continue
        if _parse_ip(value) is None:
            bad_ips = True
            errs.append(_invalid(f"spec.clusterIPs[{i}]", value, _IP_MSG))
    if len(ips) > 2:
        errs.append(_invalid("spec.clusterIPs", ips, "may only hold up to 2 values"))
    if bad_ips:
        return errs
    if len(ips) > 1:
        versions = {p.version for p in (_parse_ip(v) for v in ips) if p is not None}
        if len(versions) != len(ips):
            errs.append(
                _invalid(
                    "spec.clusterIPs", ips, "may specify no more than one IP for each IP family"
                )
            )
    if ips and ips[0] != HEADLESS:
        for i, (value, family) in enumerate(zip(ips, families, strict=False)):
            parsed = _parse_ip(value)
            if family == "IPv4" and parsed is not None and parsed.version == 6:
                errs.append(
                    _invalid(
                        f"spec.clusterIPs[{i}]",
                        value,
                        f"expected an IPv4 value as indicated by `ipFamilies[{i}]`",
                    )
                )
    return errs


def _validate_external_ip(value: str, path: str) -> list[FieldError]:
    parsed = _parse_ip(value)
    if parsed is None:
        return [_invalid(path, value, _IP_MSG)]
    errs: list[FieldError] = []
    if parsed.is_unspecified:
        errs.append(_invalid(path, value, f"may not be unspecified ({value})"))
    if parsed.is_loopback:
        errs.append(
            _invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)")
        )
    if parsed.is_link_local:
        errs.append(
            _invalid(path, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")
        )
    link_local_multicast = ipaddress.ip_network(
        "224.0.0.0/24" if parsed.version == 4 else "ff02::/16"
    )
    if parsed in link_local_multicast:
        errs.append(
            _invalid(
                path,
                value,
                "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
            )
        )
    return errs


def _validate_traffic_policies(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    etp = spec.get("externalTrafficPolicy") or ""
    if _externally_accessible(spec):
        if not etp:
            errs.append(_required("spec.externalTrafficPolicy"))
        elif etp not in TRAFFIC_POLICIES:
            errs.append(_not_supported("spec.externalTrafficPolicy", etp, TRAFFIC_POLICIES))
    elif etp:
        errs.append(
            _invalid(
                "spec.externalTrafficPolicy",
                etp,
                "may only be set for externally-accessible services",
            )
        )
    hc = spec.get("healthCheckNodePort")
    if hc and not _needs_hc(spec):
        errs.append(
            _invalid(
                "spec.healthCheckNodePort",
                hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` "
                "is 'Local'",
            )
        )
    itp = spec.get("internalTrafficPolicy")
    if itp is None:
        if spec.get("type") in (CLUSTER_IP, NODE_PORT, LOAD_BALANCER):
            errs.append(_required("spec.internalTrafficPolicy"))
    elif itp not in TRAFFIC_POLICIES:
        errs.append(_not_supported("spec.internalTrafficPolicy", itp, TRAFFIC_POLICIES))
    return errs


def _validate_update(new: Obj, old: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    if (
        _needs_cluster_ip(new)
        and _needs_cluster_ip(old)
        and not (_is_headless(new) and _is_headless(old))
    ):
        new_ips: list[str] = new.get("clusterIPs") or []
        old_ips: list[str] = old.get("clusterIPs") or []
        if old_ips and not new_ips:
            errs.append(
                _invalid("spec.clusterIPs[0]", new_ips, "primary clusterIP can not be unset")
            )
        for i, (now, before) in enumerate(zip(new_ips, old_ips, strict=False)):
            if now != before:
                errs.append(_invalid(f"spec.clusterIPs[{i}]", now, "field is immutable"))
    if (
        _type(new) == LOAD_BALANCER
        and _type(old) == LOAD_BALANCER
        and new.get("loadBalancerClass") != old.get("loadBalancerClass")
    ):
        errs.append(
            _invalid(
                "spec.loadBalancerClass",
                new.get("loadBalancerClass"),
                "may not change once set",
            )
        )
    return errs


# --------------------------------------------------------------------------------------
# Allocation
# --------------------------------------------------------------------------------------


def _allocate_cluster_ip(spec: Obj, txn: _Txn) -> list[FieldError]:
    if not _needs_cluster_ip(spec) or _is_headless(spec):
        return []
    ip = spec.get("clusterIP") or ""
    if ip:
        err = txn.take_ip(ip)
        return (
            [_invalid("spec.clusterIPs[0]", ip, f"failed to allocate IP {ip}: {err}")]
            if err
            else []
        )
    got = txn.next_ip()
    if got is None:
        return [_internal("spec.clusterIPs[0]", "failed to allocate a serviceIP: range is full")]
    spec["clusterIP"] = got
    spec["clusterIPs"] = [got]
    return []


def _allocate_node_ports(spec: Obj, txn: _Txn, held: set[int]) -> tuple[set[int], list[FieldError]]:
    """Claim every node port the spec names or needs; `held` are already this object's."""
    claimed: set[int] = set()
    errs: list[FieldError] = []
    if not _needs_node_port(spec):
        return claimed, errs
    ports = _ports(spec)
    for i, port in enumerate(ports):
        number = port.get("nodePort")
        if not number or number in claimed:
            continue  # TCP and UDP on one port may share a node port
        err = None if number in held else txn.take_port(number)
        if err:
            errs.append(_invalid(f"spec.ports[{i}].nodePort", number, err))
        else:
            claimed.add(number)
    should_allocate = (
        _type(spec) == NODE_PORT or spec.get("allocateLoadBalancerNodePorts") is not False
    )
    if should_allocate:
        by_port: dict[Any, int] = {}
        for port in ports:
            if port.get("nodePort"):
                by_port.setdefault(port.get("port"), port["nodePort"])
        for i, port in enumerate(ports):
            if port.get("nodePort"):
                continue
            shared = by_port.get(port.get("port"))
            if shared:
                port["nodePort"] = shared
                continue
            got = txn.next_port()
            if got is None:
                errs.append(
                    _internal(
                        f"spec.ports[{i}].nodePort", "failed to allocate a nodePort: range is full"
                    )
                )
                break
            port["nodePort"] = got
            by_port[port.get("port")] = got
            claimed.add(got)
    if _needs_hc(spec):
        hc = spec.get("healthCheckNodePort")
        if hc:
            err = None
            if hc in claimed:
                err = "provided port is already allocated"
            elif hc not in held:
                err = txn.take_port(hc)
            if err:
                errs.append(
                    _invalid(
                        "spec.healthCheckNodePort",
                        hc,
                        f"failed to allocate requested HealthCheck NodePort {hc}: {err}",
                    )
                )
            else:
                claimed.add(hc)
        else:
            got = txn.next_port()
            if got is None:
                errs.append(
                    _internal(
                        "spec.healthCheckNodePort",
                        "failed to allocate a HealthCheck NodePort: range is full",
                    )
                )
            else:
                spec["healthCheckNodePort"] = got
                claimed.add(got)
    return claimed, errs


def _strip_empty(spec: Obj) -> None:
    """Omit zero values the way Go's `omitempty` does, so output matches the real server."""
    for key in ("clusterIP", "healthCheckNodePort"):
        if not spec.get(key, 1):
            spec.pop(key)
    for key in ("clusterIPs", "ipFamilies"):
        if key in spec and not spec[key]:
            spec.pop(key)
    for port in _ports(spec):
        if "nodePort" in port and not port["nodePort"]:
            port.pop("nodePort")


def _raise(obj: Obj, errs: list[FieldError]) -> None:
    if errs:
        raise invalid("Service", "", _name(obj), errs)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def prepare_create(obj: Obj, alloc: ServiceAllocator) -> None:
    """Default, validate and allocate a new Service; on error nothing is allocated or changed."""
    work = copy.deepcopy(obj)
    _raise(obj, _check_shape(work))
    spec = work["spec"]
    _apply_defaults(spec)
    _normalize_cluster_ips(spec, None)
    errs = _init_ip_families(spec)
    errs += _validate_service(work, spec)
    _raise(obj, errs)
    txn = alloc._begin()
    try:
        errs = _allocate_cluster_ip(spec, txn)
        _, port_errs = _allocate_node_ports(spec, txn, set())
        _raise(obj, errs + port_errs)
    except BaseException:
        txn.rollback()
        raise
    txn.commit()
    _strip_empty(spec)
    work["status"] = {"loadBalancer": {}}
    obj.clear()
    obj.update(work)


def prepare_update(new: Obj, old: Obj, alloc: ServiceAllocator) -> None:
    """Default, validate and re-allocate an updated Service; `old` is never modified.

    Values the client left out are carried over from `old`, ports the new spec no longer
    uses are released, and on any error the allocator and `new` are left as they were.
    """
    work = copy.deepcopy(new)
    _raise(new, _check_shape(work))
    spec = work["spec"]
    old_spec = copy.deepcopy(_spec_of(old))
    _apply_defaults(spec)
    _patch_allocated_values(spec, old_spec)
    _normalize_cluster_ips(spec, old_spec)
    _drop_type_dependent_fields(spec, old_spec)
    errs = _init_ip_families(spec)
    errs += _validate_update(spec, old_spec)
    errs += _validate_service(work, spec)
    _raise(new, errs)
    txn = alloc._begin()
    try:
        errs = []
        old_ip = _allocated_ip(old_spec)
        if not _needs_cluster_ip(old_spec) and _needs_cluster_ip(spec):
            errs += _allocate_cluster_ip(spec, txn)
        elif old_ip and not _needs_cluster_ip(spec):
            txn.release_ip_later(old_ip)
        held = _held_node_ports(old_spec)
        claimed, port_errs = _allocate_node_ports(spec, txn, held)
        _raise(new, errs + port_errs)
        for port in held - claimed:
            txn.release_port_later(port)
    except BaseException:
        txn.rollback()
        raise
    txn.commit()
    _strip_empty(spec)
    if _type(spec) != LOAD_BALANCER:
        status = work.get("status")
        if isinstance(status, dict) and status.get("loadBalancer"):
            status["loadBalancer"] = {}
    new.clear()
    new.update(work)


def release(obj: Obj, alloc: ServiceAllocator) -> None:
    """Free what a finally-deleted Service held, so its IP and ports can be reused."""
    spec = _spec_of(obj)
    txn = alloc._begin()
    ip = _allocated_ip(spec)
    if ip:
        txn.release_ip_later(ip)
    for port in _held_node_ports(spec):
        txn.release_port_later(port)
    txn.commit()


def validate_status(obj: Obj) -> None:
    """Check a /status write; a CCM publishing a malformed ingress must see the real 422.

    Like the real decoder, an ingress `ip` without `ipMode` is defaulted to VIP here.
    """
    errs: list[FieldError] = []
    spec = _spec_of(obj)
    status = obj.get("status")
    lb = status.get("loadBalancer") if isinstance(status, dict) else None
    ingress = lb.get("ingress") if isinstance(lb, dict) else None
    path = "status.loadBalancer.ingress"
    if ingress is not None and not isinstance(ingress, list):
        errs.append(_invalid(path, ingress, "must be of type array"))
    elif ingress and _type(spec) != LOAD_BALANCER:
        errs.append(_forbidden(path, "may only be used when `spec.type` is 'LoadBalancer'"))
    elif ingress:
        for i, entry in enumerate(ingress):
            at = f"{path}[{i}]"
            if not isinstance(entry, dict):
                errs.append(_invalid(at, entry, "must be of type object"))
                continue
            ip = entry.get("ip")
            mode = entry.get("ipMode")
            if ip is not None and not isinstance(ip, str):
                errs.append(_invalid(f"{at}.ip", ip, "must be of type string"))
            elif ip and _parse_ip(ip) is None:
                errs.append(_invalid(f"{at}.ip", ip, _IP_MSG))
            if mode is None:
                if ip:
                    entry["ipMode"] = "VIP"
            elif not ip:
                errs.append(_forbidden(f"{at}.ipMode", "may not be specified when `ip` is not set"))
            elif mode not in IP_MODES:
                errs.append(_not_supported(f"{at}.ipMode", mode, IP_MODES))
            hostname = entry.get("hostname")
            if hostname is not None and not isinstance(hostname, str):
                errs.append(_invalid(f"{at}.hostname", hostname, "must be of type string"))
            elif hostname:
                errs.extend(
                    _invalid(f"{at}.hostname", hostname, m) for m in _dns1123_subdomain(hostname)
                )
                if _parse_ip(hostname) is not None:
                    errs.append(
                        _invalid(
                            f"{at}.hostname", hostname, "must be a DNS name, not an IP address"
                        )
                    )
    _raise(obj, errs)
