"""Every compute resource this cluster owns, for the leak detector and the audit.

One filtered list per collection (the name prefix every resource of the cluster has,
server-side), then the description's ownership record decides, client-side: a name that
looks like ours on a resource someone else made is not ours.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ccm.model import OwnedResource, ServiceRef
from providers.gcp import names as N
from providers.gcp.calls import Compute

# kind -> delete order: the forwarding rule holds the backend service and the address;
# the backend service holds health checks and instance groups.
DELETE_ORDER = {
    "forwarding-rule": 0,
    "backend-service": 1,
    "address": 2,
    "firewall": 2,
    "health-check": 2,
    "instance-group": 4,
}


def _created(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def _resource(
    kind: str,
    rid: str,
    item: Any,
    owner: N.Owner,
    cluster: str,
    details: dict[str, Any],
    addresses: tuple[str, ...] = (),
) -> OwnedResource:
    shared = not owner.uid
    ref = None
    if not shared:
        ns, _, name = owner.service.partition("/")
        ref = ServiceRef(ns, name, owner.uid)
    return OwnedResource(
        provider="gcp",
        kind=kind,
        id=rid,
        cluster=cluster,
        owner=ref,
        identity=(owner.identity,) if owner.identity else (),
        created_at=_created(str(getattr(item, "creation_timestamp", "") or "")),
        shared=shared,
        details={"role": owner.role, **details},
        addresses=addresses,
        name=str(item.name),
        delete_order=DELETE_ORDER[kind] + (1 if shared else 0),
    )


def list_owned(
    compute: Compute,
    cluster: str,
    region: str,
    *,
    service_uid: str | None = None,
    zones: Iterable[str] = (),
) -> list[OwnedResource]:
    """The cluster's resources; with `service_uid`, only that Service's (zones unused)."""
    c = compute.clients
    start = N.service_prefix(cluster, service_uid) if service_uid else N.prefix(cluster)
    name_filter = f'name eq "{start}.*"'
    out: list[OwnedResource] = []

    def mine(item: Any) -> N.Owner | None:
        owner = N.owner_of(item.description)
        if owner is None or owner.cluster != cluster:
            return None
        return owner

    for r in compute.list(
        "forwardingRules.list", c.forwarding_rules.list, region=region, filter=name_filter
    ):
        if (o := mine(r)) is not None:
            external = r.load_balancing_scheme == "EXTERNAL"
            details = {
                "price_key": "forwarding_rule",
                "lb_kind": "nlb" if external else "ilb",  # external/internal passthrough
                "scheme": "internet-facing" if external else "internal",
                "ip": r.I_p_address,
            }
            out.append(
                _resource("forwarding-rule", r.name, r, o, cluster, details, (r.I_p_address,))
            )
    for b in compute.list(
        "regionBackendServices.list", c.backend_services.list, region=region, filter=name_filter
    ):
        if (o := mine(b)) is not None:
            out.append(_resource("backend-service", b.name, b, o, cluster, {}))
    for a in compute.list("addresses.list", c.addresses.list, region=region, filter=name_filter):
        if (o := mine(a)) is not None:
            details = {"status": a.status, "address_type": a.address_type, "ip": a.address}
            out.append(_resource("address", a.name, a, o, cluster, details))
    for h in compute.list(
        "regionHealthChecks.list", c.health_checks.list, region=region, filter=name_filter
    ):
        if (o := mine(h)) is not None:
            out.append(_resource("health-check", h.name, h, o, cluster, {}))
    for f in compute.list("firewalls.list", c.firewalls.list, filter=name_filter):
        if (o := mine(f)) is not None:
            out.append(_resource("firewall", f.name, f, o, cluster, {}))
    if service_uid is None:
        for zone in sorted(zones):
            for g in compute.list(
                "instanceGroups.list", c.instance_groups.list, zone=zone, filter=name_filter
            ):
                if (o := mine(g)) is not None:
                    out.append(
                        _resource(
                            "instance-group", f"{zone}/{g.name}", g, o, cluster, {"zone": zone}
                        )
                    )
    return out
