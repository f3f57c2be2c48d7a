"""Deterministic names and the ownership record every GCP resource carries.

Names come from the cluster id, the Service UID and the spec identity, so a controller
that crashed between "insert" and "record" finds its resource again by name instead of
making a twin, and a replacement (external <-> internal) gets new names beside the old.

Ownership is written twice: as labels where the resource takes labels (forwarding rules,
addresses), so lists can be filtered server-side; and as JSON in `description` on every
resource, because most compute resources take no labels and because labels cannot hold
a cluster id verbatim. Only the description is trusted when deciding what is ours.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

CLUSTER_KEY = "ccm.dev/cluster"
UID_KEY = "ccm.dev/service-uid"
SERVICE_KEY = "kubernetes.io/service-name"
IDENTITY_KEY = "ccm.dev/identity"
ROLE_KEY = "ccm.dev/resource"
MANAGED_BY_KEY = "ccm.dev/managed-by"
MANAGED_BY = "ccm"

LABEL_CLUSTER = "ccm-cluster"
LABEL_UID = "ccm-service-uid"
LABEL_MANAGED = "ccm-managed-by"

_LABEL_BAD = re.compile(r"[^a-z0-9_-]")


def _hash(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def cluster_hash(cluster: str) -> str:
    return _hash(cluster, 6)


def uid_part(uid: str) -> str:
    return uid.replace("-", "").lower()[:12]


def prefix(cluster: str) -> str:
    """Every name this cluster creates starts with it: lists filter on it server-side."""
    return f"ccm-{cluster_hash(cluster)}-"


def service_prefix(cluster: str, uid: str) -> str:
    return f"{prefix(cluster)}{uid_part(uid)}-"


def base_name(cluster: str, uid: str, identity: str) -> str:
    """ccm-<cluster 6>-<uid 12>-<identity 6>: 30 characters, room for suffixes."""
    return f"{service_prefix(cluster, uid)}{identity[:6]}"


def firewall_name(base: str) -> str:
    return f"{base}-fw"


def health_check_name(base: str) -> str:
    return f"{base}-hc"


def health_check_firewall_name(base: str) -> str:
    return f"{base}-hc-fw"


def node_health_check_name(cluster: str) -> str:
    return f"{prefix(cluster)}node-hc"


def node_health_check_firewall_name(cluster: str) -> str:
    return f"{prefix(cluster)}node-hc-fw"


def instance_group_name(cluster: str) -> str:
    """One per zone, the same name in each: zonal names do not collide."""
    return f"{prefix(cluster)}nodes"


def label_value(text: str) -> str:
    """A label value holds lower-case letters, digits, - and _ only, at most 63."""
    cleaned = _LABEL_BAD.sub("-", text.lower())
    if cleaned == text and len(text) <= 63:
        return text
    return f"{cleaned[:50]}-{_hash(text, 8)}"


def labels(cluster: str, uid: str | None) -> dict[str, str]:
    out = {LABEL_CLUSTER: label_value(cluster), LABEL_MANAGED: MANAGED_BY}
    if uid:
        out[LABEL_UID] = label_value(uid)
    return out


@dataclass(frozen=True)
class Owner:
    """What a resource's description says about who made it and for what."""

    cluster: str
    uid: str = ""  # empty: shared by the cluster's Services
    service: str = ""  # namespace/name
    identity: str = ""
    role: str = ""

    def description(self) -> str:
        record: dict[str, str] = {
            CLUSTER_KEY: self.cluster,
            MANAGED_BY_KEY: MANAGED_BY,
            ROLE_KEY: self.role,
        }
        if self.uid:
            record[UID_KEY] = self.uid
            record[SERVICE_KEY] = self.service
            record[IDENTITY_KEY] = self.identity
        return json.dumps(record, sort_keys=True)


def owner_of(description: str | None) -> Owner | None:
    """The owner recorded in a description; None when it is not one of ours."""
    if not description:
        return None
    try:
        record = json.loads(description)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, Mapping) or record.get(MANAGED_BY_KEY) != MANAGED_BY:
        return None
    cluster = record.get(CLUSTER_KEY)
    if not isinstance(cluster, str) or not cluster:
        return None
    return Owner(
        cluster=cluster,
        uid=str(record.get(UID_KEY, "")),
        service=str(record.get(SERVICE_KEY, "")),
        identity=str(record.get(IDENTITY_KEY, "")),
        role=str(record.get(ROLE_KEY, "")),
    )
