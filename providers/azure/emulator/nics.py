"""Network interfaces, minimally: they give the nodes their addresses.

The emulator has no Compute API, but the nodes' private addresses must come out of the
same subnet as internal frontends, or an internal load balancer could be handed a
node's address. So seeding creates one NIC per node through Microsoft.Network, as a VM
deployment would, and the NIC's IP configuration holds its address like a frontend does.
"""

from __future__ import annotations

from providers.azure.emulator.errors import invalid_format, invalid_reference
from providers.azure.emulator.ids import Ref, child_id, key
from providers.azure.emulator.ipconfigs import attach_public_ip, place_private
from providers.azure.emulator.lb_rules import flag
from providers.azure.emulator.shapes import (
    assemble,
    children,
    location,
    make_child,
    properties_of,
    ref,
    writable,
)
from providers.azure.emulator.world import Body, World

KIND = "networkInterfaces"
_READ_ONLY = frozenset({"ipConfigurations", "virtualMachine", "macAddress", "dscpConfiguration"})


def prepare(world: World, resource: Ref, body: Body, old: Body | None) -> Body:
    nic_id = resource.id
    where = location(body, old, nic_id)
    raw = properties_of(body, nic_id)
    props = writable(raw, _READ_ONLY)
    before = {
        c["name"].lower(): c["properties"]
        for c in (old or {}).get("properties", {}).get("ipConfigurations", [])
    }
    held_ips: dict[str, str] = {}
    held_private: dict[str, str] = {}
    configs: list[Body] = []
    for index, (name, config_raw) in enumerate(
        children(nic_id, "ipConfigurations", raw.get("ipConfigurations"))
    ):
        config = writable(config_raw)
        config_id = child_id(nic_id, "ipConfigurations", name)
        if config.get("subnet") is None:
            raise invalid_format(f"IP configuration {config_id} needs a subnet.")
        place_private(world, key(nic_id), config_id, config, before.get(name.lower()), held_private)
        if config.get("publicIPAddress") is not None:
            attach_public_ip(world, key(nic_id), config_id, config, held_ips)
        config["primary"] = flag(config.get("primary"), "primary", default=index == 0)
        configs.append(make_child(nic_id, KIND, "ipConfigurations", name, config))
    if not configs:
        raise invalid_format(f"Network interface {nic_id} needs at least one ipConfiguration.")
    nsg = ref(props.get("networkSecurityGroup"), "networkSecurityGroup")
    if nsg is not None:
        found = world.lookup(nsg)
        if found is None:
            raise invalid_reference(nsg, nic_id)
        props["networkSecurityGroup"] = {"id": found["id"]}
    props.update(ipConfigurations=configs, provisioningState="Succeeded")
    return assemble(body, where, props)
