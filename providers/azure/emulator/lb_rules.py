"""Load balancer rules, NAT and outbound rules: references inside one body, and clashes.

Rules refer to the frontends, pools and probes *of the same load balancer body*, by ID;
Azure resolves them against the body it is sent, not against what it stored, so a rule
naming a probe that the same PUT drops is refused (InvalidResourceReference). It also
refuses two rules that would receive the same traffic (same frontend, protocol and
frontend port) and two rules without floating IP that would send to the same backend
port of the same pool (RulesUseSameBackendPortProtocolAndPool). Shared load balancers
make both easy to trip over, which is why they are modelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

from providers.azure.emulator.errors import bad_request, invalid_format, invalid_reference
from providers.azure.emulator.ids import key
from providers.azure.emulator.shapes import children, enum, integer, make_child, ref, writable
from providers.azure.emulator.world import Body

KIND = "loadBalancers"
PROTOCOLS = ("Tcp", "Udp", "All")
DISTRIBUTIONS = ("Default", "SourceIP", "SourceIPProtocol")


def flag(value: Any, field: str, default: bool = False) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_format(f"'{field}' must be true or false, not {value!r}.")
    return value


def resolve(value: Any, field: str, targets: Mapping[str, str], referrer: str) -> str | None:
    """The canonical ID of a reference to a child of this body, or None if absent."""
    wanted = ref(value, field)
    if wanted is None:
        return None
    found = targets.get(key(wanted))
    if found is None:
        raise invalid_reference(wanted, referrer)
    return found


def ids_of(items: list[Body]) -> dict[str, str]:
    return {key(item["id"]): item["id"] for item in items}


def balancing_rules(
    lb_id: str, items: Any, frontends: list[Body], pools: list[Body], probes: list[Body]
) -> list[Body]:
    fe_ids, pool_ids, probe_ids = ids_of(frontends), ids_of(pools), ids_of(probes)
    out: list[Body] = []
    for name, raw in children(lb_id, "loadBalancingRules", items):
        props = writable(raw)
        rule_id = f"{lb_id}/loadBalancingRules/{name}"
        frontend = resolve(
            props.get("frontendIPConfiguration"), "frontendIPConfiguration", fe_ids, rule_id
        )
        if frontend is None:
            raise invalid_format(f"Load balancing rule {rule_id} needs a frontendIPConfiguration.")
        props["frontendIPConfiguration"] = {"id": frontend}
        pool = resolve(props.get("backendAddressPool"), "backendAddressPool", pool_ids, rule_id)
        if pool is not None:
            props["backendAddressPool"] = {"id": pool}
        if props.get("backendAddressPools") is not None:
            if not isinstance(props["backendAddressPools"], list):
                raise invalid_format("'backendAddressPools' must be an array.")
            props["backendAddressPools"] = [
                {"id": resolve(p, "backendAddressPools", pool_ids, rule_id)}
                for p in props["backendAddressPools"]
            ]
        probe = resolve(props.get("probe"), "probe", probe_ids, rule_id)
        if probe is not None:
            props["probe"] = {"id": probe}
        protocol = enum(props.get("protocol"), PROTOCOLS, "protocol")
        front_port = integer(props.get("frontendPort"), "frontendPort", 0, 65534)
        back_port = integer(props.get("backendPort"), "backendPort", 0, 65535, default=front_port)
        if protocol != "All" and (front_port == 0 or back_port == 0):
            raise invalid_format(f"{rule_id}: port 0 is only allowed with protocol All (HA ports).")
        props.update(
            protocol=protocol,
            frontendPort=front_port,
            backendPort=back_port,
            idleTimeoutInMinutes=integer(
                props.get("idleTimeoutInMinutes"), "idleTimeoutInMinutes", 4, 100, default=4
            ),
            enableFloatingIP=flag(props.get("enableFloatingIP"), "enableFloatingIP"),
            enableTcpReset=flag(props.get("enableTcpReset"), "enableTcpReset"),
            disableOutboundSnat=flag(props.get("disableOutboundSnat"), "disableOutboundSnat"),
            loadDistribution=enum(
                props.get("loadDistribution"), DISTRIBUTIONS, "loadDistribution", "Default"
            ),
        )
        out.append(make_child(lb_id, KIND, "loadBalancingRules", name, props))
    _check_clashes(out)
    return out


def _pools_of(rule: Body) -> set[str]:
    props = rule["properties"]
    pools = {key(p["id"]) for p in props.get("backendAddressPools", [])}
    if "backendAddressPool" in props:
        pools.add(key(props["backendAddressPool"]["id"]))
    return pools


def _check_clashes(rules: list[Body]) -> None:
    for a, b in combinations(rules, 2):
        pa, pb = a["properties"], b["properties"]
        same_frontend = key(pa["frontendIPConfiguration"]["id"]) == key(
            pb["frontendIPConfiguration"]["id"]
        )
        same_traffic = "All" in (pa["protocol"], pb["protocol"]) or (
            pa["protocol"] == pb["protocol"] and pa["frontendPort"] == pb["frontendPort"]
        )
        if same_frontend and same_traffic:
            raise bad_request(
                "RulesUseSameFrontendPortProtocolAndIPConfig",
                f"Load balancing rules {a['id']} and {b['id']} use the same frontend IP "
                f"configuration {pa['frontendIPConfiguration']['id']}, protocol "
                f"{pa['protocol']} and frontend port {pa['frontendPort']}; only one rule may "
                "receive the same traffic.",
            )
        shared = _pools_of(a) & _pools_of(b)
        if (
            shared
            and not pa["enableFloatingIP"]
            and not pb["enableFloatingIP"]
            and pa["protocol"] == pb["protocol"]
            and pa["backendPort"] == pb["backendPort"]
        ):
            raise bad_request(
                "RulesUseSameBackendPortProtocolAndPool",
                f"Load balancing rules {a['id']} and {b['id']} with floating IP disabled use "
                f"the same protocol {pa['protocol']} and backend port {pa['backendPort']}, and "
                f"must not be used with the same backend address pool {sorted(shared)[0]}.",
            )


def nat_rules(lb_id: str, items: Any, frontends: list[Body], pools: list[Body]) -> list[Body]:
    """Inbound NAT rules: stored as sent once their frontend (and pool) resolve."""
    fe_ids, pool_ids = ids_of(frontends), ids_of(pools)
    out: list[Body] = []
    for name, raw in children(lb_id, "inboundNatRules", items):
        props = writable(raw, {"backendIPConfiguration"})
        rule_id = f"{lb_id}/inboundNatRules/{name}"
        frontend = resolve(
            props.get("frontendIPConfiguration"), "frontendIPConfiguration", fe_ids, rule_id
        )
        if frontend is not None:
            props["frontendIPConfiguration"] = {"id": frontend}
        pool = resolve(props.get("backendAddressPool"), "backendAddressPool", pool_ids, rule_id)
        if pool is not None:
            props["backendAddressPool"] = {"id": pool}
        out.append(make_child(lb_id, KIND, "inboundNatRules", name, props))
    return out


def outbound_rules(lb_id: str, items: Any, frontends: list[Body], pools: list[Body]) -> list[Body]:
    """Outbound (SNAT) rules: stored as sent once their frontends and pool resolve."""
    fe_ids, pool_ids = ids_of(frontends), ids_of(pools)
    out: list[Body] = []
    for name, raw in children(lb_id, "outboundRules", items):
        props = writable(raw)
        rule_id = f"{lb_id}/outboundRules/{name}"
        configs = props.get("frontendIPConfigurations") or []
        if not isinstance(configs, list):
            raise invalid_format("'frontendIPConfigurations' must be an array.")
        props["frontendIPConfigurations"] = [
            {"id": resolve(c, "frontendIPConfigurations", fe_ids, rule_id)} for c in configs
        ]
        pool = resolve(props.get("backendAddressPool"), "backendAddressPool", pool_ids, rule_id)
        if pool is not None:
            props["backendAddressPool"] = {"id": pool}
        out.append(make_child(lb_id, KIND, "outboundRules", name, props))
    return out


def back_reference(
    frontends: list[Body],
    pools: list[Body],
    probes: list[Body],
    rules: list[Body],
    nats: list[Body],
    outbound: list[Body],
) -> None:
    """Fill the read-only lists Azure keeps on the referenced children: a frontend's
    ``loadBalancingRules``/``inboundNatRules``/``outboundRules``, a pool's and a probe's
    ``loadBalancingRules`` (and a pool's ``outboundRules``)."""
    by_key = {key(item["id"]): item["properties"] for item in [*frontends, *pools, *probes]}

    def add(target: str, field: str, user: str) -> None:
        by_key[key(target)].setdefault(field, []).append({"id": user})

    for rule in rules:
        props = rule["properties"]
        add(props["frontendIPConfiguration"]["id"], "loadBalancingRules", rule["id"])
        for pool in sorted(_pools_of(rule)):
            add(pool, "loadBalancingRules", rule["id"])
        if "probe" in props:
            add(props["probe"]["id"], "loadBalancingRules", rule["id"])
    for nat in nats:
        if "frontendIPConfiguration" in nat["properties"]:
            add(nat["properties"]["frontendIPConfiguration"]["id"], "inboundNatRules", nat["id"])
    for rule in outbound:
        for config in rule["properties"]["frontendIPConfigurations"]:
            add(config["id"], "outboundRules", rule["id"])
        if "backendAddressPool" in rule["properties"]:
            add(rule["properties"]["backendAddressPool"]["id"], "outboundRules", rule["id"])
