"""One place where moto server is not ELBv2, patched for every AWS world of the tests.

ELBv2 identifies a registered target by instance id *and port*: "you can register each
target with the same target group multiple times using different ports" (AWS,
RegisterTargets). moto keys targets by id only, and its DeregisterTargets ignores the
port. When a Service's node port changes (it does on every ClusterIP -> LoadBalancer
switch, and on a port edit that drops the nodePort), the driver registers
(instance, new port) and then deregisters (instance, old port) — right on AWS, but in
moto the register overwrites the old entry and the deregister then removes the
instance altogether: the target group ends up empty (FINDINGS.md, aws seed 210).

The patch makes DeregisterTargets leave a registration alone when the request names
another port than the one registered, which is what ELBv2 does for the single
registration per instance the driver makes. It is applied only while an AWS world
(tests/integration/aws_harness.py) is open on moto server, which runs in this process,
and undone after. Found by the chaos suite (tests/chaos/FINDINGS.md 4).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def elbv2_targets_by_id_and_port() -> Iterator[None]:
    from moto.elbv2 import models
    from moto.elbv2.exceptions import InvalidTargetError

    group = models.FakeTargetGroup
    original = group.deregister

    def deregister(self: Any, targets: list[dict[str, Any]]) -> None:
        for target in targets:
            registered = self.targets.get(target["Id"])
            if registered is None:
                raise InvalidTargetError()
            if "Port" in target and int(target["Port"]) != int(registered["Port"]):
                continue  # another (id, port) than the one registered: nothing to remove
            self.deregistered_targets[target["Id"]] = self.targets.pop(target["Id"])

    setattr(group, "deregister", deregister)  # noqa: B010 - patching a class, on purpose
    try:
        yield
    finally:
        setattr(group, "deregister", original)  # noqa: B010
