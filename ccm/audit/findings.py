"""What the audit tells a platform team to change: each finding is a saving (with the
monthly figure) or a risk, with one line saying why.

Pure functions of the assembled rows, so every rule is tested without a cluster.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

HTTP_PORTS = frozenset({80, 443})
HTTP_APP_PROTOCOLS = frozenset(
    {"http", "https", "h2c", "kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss"}
)
# Databases, caches, search, brokers, cluster control planes and remote shells: services
# scanners find within minutes and that should never face 0.0.0.0/0.
ADMIN_PORTS: Mapping[int, str] = {
    22: "SSH",
    23: "Telnet",
    1433: "SQL Server",
    1521: "Oracle",
    2375: "Docker API",
    2379: "etcd",
    3306: "MySQL",
    3389: "RDP",
    5432: "PostgreSQL",
    5601: "Kibana",
    5672: "AMQP",
    5984: "CouchDB",
    6379: "Redis",
    6443: "Kubernetes API",
    8086: "InfluxDB",
    9042: "Cassandra",
    9092: "Kafka",
    9200: "Elasticsearch",
    9300: "Elasticsearch transport",
    10250: "kubelet",
    11211: "memcached",
    15672: "RabbitMQ management",
    27017: "MongoDB",
}
OPEN_RANGES = frozenset({"0.0.0.0/0", "::/0"})


@dataclass(frozen=True)
class Finding:
    type: str
    category: str  # "saving" or "risk"
    cluster: str
    services: tuple[str, ...]
    monthly_saving: float
    reason: str

    def as_json(self) -> JSON:
        return {
            "type": self.type,
            "category": self.category,
            "cluster": self.cluster,
            "services": list(self.services),
            "monthly_saving": self.monthly_saving,
            "reason": self.reason,
        }


def find(
    rows: Sequence[JSON],
    orphans: Sequence[JSON],
    consolidated: Mapping[str, Callable[[str], float]],
    pending_after: float,
    leaks_command: Mapping[str, str],
) -> list[Finding]:
    out = consolidate_http(rows, consolidated)
    out += orphan_findings(orphans, leaks_command)
    for row in rows:
        out += no_ready_endpoints(row) + open_admin_ports(row) + stuck_pending(row, pending_after)
    out += duplicate_addresses(rows)
    return sorted(out, key=lambda f: (f.category != "saving", -f.monthly_saving, f.type))


def _key(row: JSON) -> str:
    return f"{row['namespace']}/{row['name']}"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _money(value: float) -> str:
    return f"${value:,.2f}"


def is_http(row: JSON) -> bool:
    """Every port speaks HTTP: a TCP port 80/443, or an HTTP appProtocol."""
    ports = row.get("ports") or []
    if not ports:
        return False
    for port, app in zip(ports, row.get("app_protocols") or [""] * len(ports), strict=False):
        protocol, _, number = str(port).partition("/")
        if protocol != "TCP":
            return False
        if app.lower() not in HTTP_APP_PROTOCOLS and not (
            not app and number.isdigit() and int(number) in HTTP_PORTS
        ):
            return False
    return True


def consolidate_http(
    rows: Sequence[JSON], consolidated: Mapping[str, Callable[[str], float]]
) -> list[Finding]:
    groups: dict[tuple[str, str], list[JSON]] = defaultdict(list)
    for row in rows:
        # A Service with no ready endpoints is counted under no-ready-endpoints instead,
        # so the savings never add the same load balancer twice.
        active = row["state"] == "active" and row.get("ready_endpoints") != 0
        if active and row["monthly"] > 0 and is_http(row):
            groups[(row["cluster"], row["scheme"])].append(row)
    out = []
    for (cluster, scheme), members in sorted(groups.items()):
        if len(members) < 2 or cluster not in consolidated:
            continue
        paying = round(sum(r["monthly"] for r in members), 2)
        shared = consolidated[cluster](scheme)
        saving = round(paying - shared, 2)
        if saving <= 0:
            continue
        out.append(
            Finding(
                "consolidate-http",
                "saving",
                cluster,
                tuple(sorted(_key(r) for r in members)),
                saving,
                f"{len(members)} {scheme} HTTP(S) Services pay for {len(members)} load "
                f"balancers ({_money(paying)}/month); one shared Ingress or Gateway load "
                f"balancer costs about {_money(shared)}/month",
            )
        )
    return out


def orphan_findings(orphans: Sequence[JSON], leaks_command: Mapping[str, str]) -> list[Finding]:
    by_cluster: dict[str, list[JSON]] = defaultdict(list)
    for o in orphans:
        if o.get("deletable", True):
            by_cluster[o["cluster"]].append(o)
    out = []
    for cluster, found in sorted(by_cluster.items()):
        cost = round(sum(o["monthly"] for o in found), 2)
        owners = sorted(
            {f"{o['owner']['namespace']}/{o['owner']['name']}" for o in found if o.get("owner")}
        )
        command = leaks_command.get(cluster, "ccm leaks --delete")
        out.append(
            Finding(
                "orphan",
                "saving",
                cluster,
                tuple(owners),
                cost,
                f"{_count(len(found), 'cloud resource')} no Service uses cost "
                f"{_money(cost)}/month; "
                f"`{command}` removes them",
            )
        )
    return out


def no_ready_endpoints(row: JSON) -> list[Finding]:
    if row["state"] != "active" or row.get("ready_endpoints") != 0 or row["monthly"] <= 0:
        return []
    return [
        Finding(
            "no-ready-endpoints",
            "saving",
            row["cluster"],
            (_key(row),),
            row["monthly"],
            f"no ready endpoints, yet its load balancer costs {_money(row['monthly'])}/month; "
            "delete the Service or make it ClusterIP if it is unused",
        )
    ]


def _open(ranges: Sequence[str]) -> bool:
    return not ranges or any(r.strip() in OPEN_RANGES for r in ranges)


def open_admin_ports(row: JSON) -> list[Finding]:
    if row["scheme"] != "internet-facing" or not _open(row.get("source_ranges") or []):
        return []
    exposed = []
    for port in row.get("ports") or []:
        number = str(port).partition("/")[2]
        if number.isdigit() and int(number) in ADMIN_PORTS:
            exposed.append(f"{number} ({ADMIN_PORTS[int(number)]})")
    if not exposed:
        return []
    return [
        Finding(
            "open-admin-port",
            "risk",
            row["cluster"],
            (_key(row),),
            0.0,
            f"internet-facing and open to 0.0.0.0/0 on {', '.join(exposed)}; set "
            "spec.loadBalancerSourceRanges or make it internal",
        )
    ]


def stuck_pending(row: JSON, pending_after: float) -> list[Finding]:
    age = row.get("pending_seconds")
    if row["state"] != "pending" or age is None or age < pending_after:
        return []
    why = row.get("message") or (
        f"no controller in this audit owns loadBalancerClass {row.get('load_balancer_class')!r}"
        if row["controller"] == "none" and not row.get("resources")
        else "no address in status"
    )
    return [
        Finding(
            "stuck-pending",
            "risk",
            row["cluster"],
            (_key(row),),
            0.0,
            f"pending for {age / 60:.0f} min: {why}",
        )
    ]


def _shared_on_purpose(rows: Sequence[JSON]) -> bool:
    """MetalLB-style sharing: one cluster, every Service naming the same sharing key."""
    keys = {(r["cluster"], r.get("shared_ip_key") or "") for r in rows}
    return len(keys) == 1 and next(iter(keys))[1] != ""


def duplicate_addresses(rows: Sequence[JSON]) -> list[Finding]:
    """One address in the status of several Services: two controllers' (or clusters')
    pools overlapping, or two Services pointing at one load balancer. Sharing on purpose
    (one cluster, the same `metallb.io/allow-shared-ip` key) is not a finding."""
    by_address: dict[str, list[JSON]] = defaultdict(list)
    for row in rows:
        for address in set(row.get("addresses") or []):
            by_address[address].append(row)
    out = []
    for address, holders in sorted(by_address.items()):
        if len(holders) < 2 or _shared_on_purpose(holders):
            continue
        clusters = sorted({r["cluster"] for r in holders})
        names = tuple(sorted(f"{r['cluster']}/{_key(r)}" for r in holders))
        out.append(
            Finding(
                "duplicate-public-ip",
                "risk",
                ", ".join(clusters),
                names,
                0.0,
                f"{address} is the address of {len(holders)} Services "
                f"({', '.join(names)}); traffic for one reaches the other",
            )
        )
    return out
