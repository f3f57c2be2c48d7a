"""`ccm run` and `ccm plan`: wire the API client, the driver and the loop from flags."""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import os
import signal
import socket
import sys
import threading
import uuid
from pathlib import Path
from types import FrameType

from ccm.controller import Controller, ControllerConfig, has_finalizer, owns
from ccm.driver import (
    ConfigurableDriver,
    Driver,
    DriverOptions,
    ObservingDriver,
    PlanningDriver,
    UnknownProvider,
    load_driver,
)
from ccm.endpoints import EndpointServer, parse_addr
from ccm.kube import Kube, api_client
from ccm.leader import LeaderElector, LeaseConfig
from ccm.leaks.loop import EventTarget, LeakLoop, attach
from ccm.leaks.sweep import Mode, SweepConfig
from ccm.logs import setup as setup_logging
from ccm.metrics import LEADER
from ccm.model import FINALIZER, ClusterInfo, InvalidServiceSpec, Node, node_is_eligible
from ccm.probe import ProviderProbe

log = logging.getLogger("ccm")

VERSION = "0.1.0"
LOST_LEASE_EXIT = 3  # distinct from argparse's 2 and a crash's 1, for the restart reason


def _configmap_ref(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    ns, sep, name = text.partition("/")
    if not sep or not ns or not name:
        raise SystemExit(f"--provider-configmap: {text!r} must be NAMESPACE/NAME")
    return ns, name


def build(args: argparse.Namespace, pool_size: int = 8) -> tuple[Kube, Driver]:
    cluster = ClusterInfo(args.cluster_name, args.load_balancer_class)
    config: dict[str, str] = {}
    if args.provider_config:
        path = Path(args.provider_config)
        try:
            config[path.name] = path.read_text()
        except OSError as e:
            raise SystemExit(f"--provider-config: cannot read {path}: {e.strerror}") from e
    settings: dict[str, str] = {}
    for item in args.provider_setting:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--provider-setting: {item!r} must be KEY=VALUE")
        settings[key] = value
    if args.aws_endpoint_url:
        settings["endpoint_url"] = args.aws_endpoint_url
    if args.aws_region and args.provider == "aws":
        settings["region"] = args.aws_region
    for flag, key in (("gcp_endpoint", "endpoint"), ("gcp_project", "project")):
        if getattr(args, flag, None) and args.provider == "gcp":
            settings[key] = getattr(args, flag)
    if getattr(args, "gcp_region", None) and args.provider == "gcp":
        settings["region"] = args.gcp_region
    if getattr(args, "azure_endpoint", None) and args.provider == "azure":
        settings["endpoint"] = args.azure_endpoint
    try:
        driver = load_driver(args.provider, DriverOptions(cluster, config, settings))
    except UnknownProvider as e:
        raise SystemExit(str(e)) from e
    except ValueError as e:
        raise SystemExit(f"--provider-config: {e}") from e
    kube = Kube(api_client(args.kubeconfig, args.context, pool_size=pool_size))
    return kube, driver


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format, {"cluster": args.cluster_name})
    if args.workers < 1:
        raise SystemExit("--workers: must be at least 1")
    try:
        host, port = parse_addr(args.metrics_addr)
    except ValueError as e:
        raise SystemExit(str(e)) from e
    if args.leak_max_deletions < 0 or args.leak_min_age < 0:
        raise SystemExit("--leak-max-deletions, --leak-min-age: must not be negative")
    kube, driver = build(args, pool_size=args.workers + 4)
    config = ControllerConfig(
        cluster=ClusterInfo(args.cluster_name, args.load_balancer_class),
        workers=args.workers,
        default_class=args.default_class,
        resync_period=args.resync_period,
        backoff_base=args.backoff_base,
        backoff_cap=args.backoff_cap,
        ready_poll_interval=args.ready_poll_interval,
        provider_configmap=_configmap_ref(args.provider_configmap),
    )
    controller = Controller(kube, driver, config)
    stop = threading.Event()

    def _signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing in-flight reconciles", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` dumps every thread's stack
    probe = ProviderProbe(driver, args.readiness_probe_interval)
    elector = _elector(args, kube) if args.leader_elect else None
    endpoints = _endpoints(host, port, controller, probe, elector)
    probe.start()
    controller.sync()
    leak_loop: list[LeakLoop] = []

    def start_leading() -> None:
        if stop.is_set():
            return
        controller.start_workers()
        loop = _leak_loop(args, controller)
        if loop is not None:
            leak_loop.append(loop)
        log.info(
            "ccm reconciling: provider=%s cluster=%s class=%s workers=%d",
            args.provider,
            args.cluster_name,
            args.load_balancer_class,
            args.workers,
        )

    if elector is None:
        LEADER.set(1)
        start_leading()
    else:
        elector.on_started = start_leading
        elector.start()
        log.info(
            "waiting for the leader Lease %s/%s as %s",
            elector.config.namespace,
            elector.config.name,
            elector.config.identity,
        )
    stop.wait()
    for loop in leak_loop:
        loop.stop()
    controller.stop()
    if elector is not None:
        elector.release()
    probe.stop()
    if endpoints is not None:
        endpoints.stop()
    log.info("ccm stopped: reconciles %s", json.dumps(dict(controller.results)))
    return 0


def _lost_lease() -> None:
    """Stop every thread at once: a reconcile still running could otherwise write after a
    standby took over. The kubelet restarts the container, which rejoins as a standby."""
    logging.shutdown()
    os._exit(LOST_LEASE_EXIT)


def _elector(args: argparse.Namespace, kube: Kube) -> LeaderElector:
    namespace = args.leader_elect_namespace or os.environ.get("POD_NAMESPACE") or "kube-system"
    identity = (
        args.leader_elect_identity
        or os.environ.get("POD_NAME")
        or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    )
    lease = LeaseConfig(
        namespace=namespace,
        name=args.leader_elect_lease_name,
        identity=identity,
        lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
    )
    # The identity in every request's User-Agent: audit logs (and the sandbox's request log)
    # then show which replica wrote what.
    kube.api.user_agent = f"ccm/{VERSION} ({identity})"
    try:
        return LeaderElector(kube.api, lease, on_started=lambda: None, on_lost=_lost_lease)
    except ValueError as e:
        raise SystemExit(str(e)) from e


def _endpoints(
    host: str,
    port: int,
    controller: Controller,
    probe: ProviderProbe,
    elector: LeaderElector | None,
) -> EndpointServer | None:
    if port < 0:
        return None

    def healthz() -> tuple[bool, str]:
        if elector is None:
            return True, "running (no leader election)"
        role = "leader" if elector.leading else "standby"
        return elector.healthy(), f"{role}, lease renewal {'ok' if elector.healthy() else 'late'}"

    def readyz() -> tuple[bool, str]:
        if not controller.synced():
            return False, "informers not synced"
        return probe.status()

    try:
        server = EndpointServer(host, port, healthz, readyz)
    except OSError as e:
        raise SystemExit(f"--metrics-addr: cannot listen on {host}:{port}: {e.strerror}") from e
    return server.start()


def _leak_loop(args: argparse.Namespace, controller: Controller) -> LeakLoop | None:
    if args.leak_interval <= 0:
        log.info("leak detector off (--leak-interval 0)")
        return None
    if args.leak_max_deletions < 0 or args.leak_min_age < 0:
        raise SystemExit("--leak-max-deletions, --leak-min-age: must not be negative")
    config = SweepConfig(
        mode=Mode(args.leak_mode),
        min_age=args.leak_min_age,
        max_deletions=args.leak_max_deletions,
        delete_legacy=args.leak_delete_legacy,
    )
    loop = attach(
        controller, config, args.leak_interval, EventTarget.from_env(args.leak_events_namespace)
    )
    loop.start()
    log.info(
        "leak detector: %s mode, every %gs, min age %gs, at most %d deletions a sweep",
        config.mode,
        args.leak_interval,
        config.min_age,
        config.max_deletions,
    )
    return loop


def plan(args: argparse.Namespace) -> int:
    """Print what the next reconcile would do for one Service, changing nothing."""
    ns, sep, name = args.service.partition("/")
    if not sep:
        raise SystemExit(f"SERVICE: {args.service!r} must be NAMESPACE/NAME")
    kube, driver = build(args)
    cluster = ClusterInfo(args.cluster_name, args.load_balancer_class)
    services = kube.list_all("services")[0]
    nodes = tuple(
        sorted(
            (Node.from_json(n) for n in kube.list_all("nodes")[0] if node_is_eligible(n)),
            key=lambda n: n.name,
        )
    )
    if args.provider_configmap and isinstance(driver, ConfigurableDriver):
        cm_ns, cm_name = _configmap_ref(args.provider_configmap) or ("", "")
        cm = kube.get_config_map(cm_ns, cm_name)
        if cm is not None:
            driver.configure(dict(cm.get("data") or {}))
    mine = [
        s
        for s in services
        if owns(s, cluster.load_balancer_class, args.default_class) or has_finalizer(s)
    ]
    if isinstance(driver, ObservingDriver):
        driver.observe(mine, cluster)
    svc = next(
        (s for s in services if s["metadata"]["namespace"] == ns and s["metadata"]["name"] == name),
        None,
    )
    out = sys.stdout
    if svc is None:
        print(f"{ns}/{name}: not found; nothing to do", file=out)
        return 1
    wanted = owns(svc, cluster.load_balancer_class, args.default_class)
    print(f"Service {ns}/{name} (uid {svc['metadata'].get('uid')})", file=out)
    if not wanted:
        if has_finalizer(svc):
            print("  not (or no longer) ours but carries our finalizer:", file=out)
            print(
                f"  would call {args.provider}.delete, clear status, remove the finalizer", file=out
            )
        else:
            cls = (svc.get("spec") or {}).get("loadBalancerClass")
            print(
                f"  not ours (type {svc['spec'].get('type')}, class {cls!r}); nothing to do",
                file=out,
            )
        return 0
    try:
        spec = driver.parse(svc, cluster)
    except InvalidServiceSpec as e:
        print(f"  invalid: {e}", file=out)
        print("  would record a Warning Event and make no driver call", file=out)
        return 0
    print(f"  kind {spec.kind}, scheme {spec.scheme}, identity {spec.identity()}", file=out)
    for lst in spec.listeners:
        print(f"  listener {lst.port}/{lst.protocol} -> nodePort {lst.node_port}", file=out)
    print(f"  eligible nodes: {len(nodes)}", file=out)
    if not has_finalizer(svc):
        print(f"  would add finalizer {FINALIZER}", file=out)
    if isinstance(driver, PlanningDriver):
        for line in driver.plan(spec, list(nodes)):
            print(f"  {line}", file=out)
    else:
        print(f"  would call {args.provider}.ensure and write status if it changed", file=out)
    return 0
