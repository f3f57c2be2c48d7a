"""Everything this cluster owns on Azure, for the leak detector and the audit.

The two load balancers (tagged `ccm.dev/cluster`) with their per-Service children (named
from the UID), public IPs across the subscription tagged for this cluster, and the NSG
rules whose description records this cluster. Children have no tags of their own, so a
Service's namespace/name comes from its NSG rule or public IP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from ccm.model import OwnedResource, ServiceRef
from providers.azure import names as N
from providers.azure.calls import Arm

JSON = dict[str, Any]
DELETE_ORDER = {"frontend": 0, "rule": 0, "probe": 0, "public-ip": 1, "security-rule": 1}
LB_ORDER = 2


class Inventory:
    def __init__(
        self, arm: Arm, cluster: str, resource_group: str, nsg: str, lbs: Sequence[str]
    ) -> None:
        self.arm = arm
        self.cluster = cluster
        self.rg = resource_group
        self.nsg = nsg
        self.lbs = list(lbs)

    def public_ips(self, addresses: dict[str, str] | None = None) -> list[OwnedResource]:
        """Ours; `addresses` (if given) gets every listed IP's id -> address, the user's
        too, so a frontend on a user's IP is still seen as serving."""
        ops = self.arm.client.public_ip_addresses
        out = []
        for item in self.arm.list("publicIPAddresses.listAll", ops.list_all):
            pip: JSON = item.as_dict()
            if addresses is not None:
                ip = (pip.get("properties") or {}).get("ipAddress")
                if ip:
                    addresses[str(pip["id"]).lower()] = str(ip)
            tags = pip.get("tags") or {}
            if (
                tags.get(N.TAG_CLUSTER) != self.cluster
                or tags.get(N.TAG_MANAGED_BY) != N.MANAGED_BY
            ):
                continue  # a user's, or another cluster's: never ours to delete
            uid = tags.get(N.TAG_UID, "")
            ns, _, name = str(tags.get(N.TAG_SERVICE, "")).partition("/")
            props = pip.get("properties") or {}
            out.append(
                OwnedResource(
                    provider="azure",
                    kind="public-ip",
                    id=str(pip["id"]),
                    cluster=self.cluster,
                    owner=ServiceRef(ns, name, uid) if uid else None,
                    identity=(tags.get(N.TAG_IDENTITY, ""),),
                    details={
                        "price_key": "public_ip",
                        "ip": props.get("ipAddress", ""),
                        "in_use": bool(props.get("ipConfiguration")),
                    },
                    addresses=(str(props.get("ipAddress", "")),) if props.get("ipAddress") else (),
                    name=str(pip.get("name", "")),
                    delete_order=DELETE_ORDER["public-ip"],
                )
            )
        return out

    def security_rules(self) -> list[OwnedResource]:
        try:
            rules = self.arm.list(
                "securityRules.list", self.arm.client.security_rules.list, self.rg, self.nsg
            )
        except ResourceNotFoundError:
            return []
        out = []
        for item in rules:
            rule: JSON = item.as_dict()
            props = rule.get("properties") or {}
            record = N.rule_record(props.get("description"))
            if record is None or record.cluster != self.cluster:
                continue
            ns, _, name = record.service.partition("/")
            out.append(
                OwnedResource(
                    provider="azure",
                    kind="security-rule",
                    id=str(rule["id"]),
                    cluster=self.cluster,
                    owner=ServiceRef(ns, name, record.uid),
                    identity=(record.identity,),
                    details={"priority": props.get("priority")},
                    addresses=(str(props.get("destinationAddressPrefix", "")),),
                    name=str(rule.get("name", "")),
                    delete_order=DELETE_ORDER["security-rule"],
                )
            )
        return out

    def load_balancers(
        self, services: dict[str, ServiceRef], pip_ips: dict[str, str]
    ) -> list[OwnedResource]:
        """The LBs (shared) and their per-Service children; `services` maps a UID without
        dashes to its Service (from the NSG rules and public IPs), `pip_ips` a public IP's
        id to its address, so a frontend a status points at is seen to be in use."""
        out = []
        for name in self.lbs:
            try:
                lb = self.arm.read(
                    "loadBalancers.get", self.arm.client.load_balancers.get, self.rg, name
                ).as_dict()
            except ResourceNotFoundError:
                continue
            if (lb.get("tags") or {}).get(N.TAG_CLUSTER) != self.cluster:
                continue
            internal = name.endswith(N.INTERNAL_SUFFIX)
            props = lb.get("properties") or {}
            out.append(
                OwnedResource(
                    provider="azure",
                    kind="load-balancer",
                    id=str(lb["id"]),
                    cluster=self.cluster,
                    owner=None,
                    shared=True,
                    name=name,
                    details={"internal": internal},
                    delete_order=LB_ORDER,
                )
            )
            idents, ips = {}, {}
            for f in props.get("frontendIPConfigurations") or []:
                fp = f.get("properties") or {}
                target = (fp.get("subnet") or fp.get("publicIPAddress") or {}).get("id", "")
                idents[f["name"]] = f"{lb['id']}|{target}".lower()
                pip = (fp.get("publicIPAddress") or {}).get("id", "")
                ip = fp.get("privateIPAddress") or pip_ips.get(pip.lower(), "")
                ips[f["name"]] = (str(ip),) if ip else ()
            for key, kind in (
                ("frontendIPConfigurations", "frontend"),
                ("loadBalancingRules", "rule"),
                ("probes", "probe"),
            ):
                for child in props.get(key) or []:
                    uid32 = N.uid_of_child(child["name"])
                    if not uid32:
                        continue
                    front = "a" + uid32
                    owner = services.get(uid32) or ServiceRef("", front, _dashed(uid32))
                    details: JSON = {"lb": name, "internal": internal}
                    if kind == "rule":
                        details.update(price_key="lb_rule", lb_kind="ilb" if internal else "slb")
                        details["scheme"] = "internal" if internal else "internet-facing"
                    addresses = ips.get(front, ())
                    out.append(
                        OwnedResource(
                            provider="azure",
                            kind=kind,
                            id=str(child.get("id") or f"{lb['id']}/{key}/{child['name']}"),
                            cluster=self.cluster,
                            owner=owner,
                            identity=(idents.get(front, ""),),
                            details=details,
                            addresses=addresses,
                            name=str(child["name"]),
                            delete_order=DELETE_ORDER[kind],
                        )
                    )
        return out

    def all(self) -> list[OwnedResource]:
        pip_ips: dict[str, str] = {}
        pips = self.public_ips(pip_ips)
        rules = self.security_rules()
        services = {
            r.owner.uid.replace("-", ""): r.owner
            for r in [*rules, *pips]
            if r.owner is not None and r.owner.name
        }
        return [*self.load_balancers(services, pip_ips), *pips, *rules]


def _dashed(uid32: str) -> str:
    """A UID from the 32 hex characters a child's name carries."""
    u = uid32
    return f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}" if len(u) == 32 else u
