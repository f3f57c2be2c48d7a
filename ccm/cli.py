"""The `ccm` command line: one entry point, one sub-command per job."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from ccm import flags


def _sandbox_tokens(pairs: list[str]) -> dict[str, str]:
    """`--token TOKEN=USERNAME` pairs; a malformed one is a usage error, not a silent skip."""
    tokens: dict[str, str] = {}
    for pair in pairs:
        token, sep, username = pair.partition("=")
        if not sep or not token or not username:
            raise ValueError(
                f"--token: {pair!r} is not TOKEN=USERNAME, "
                "e.g. ccm-token=system:serviceaccount:kube-system:ccm"
            )
        tokens[token] = username
    return tokens


def _sandbox(args: argparse.Namespace) -> int:
    import yaml

    from ccm.sandbox.rbac import Authorizer
    from ccm.sandbox.server import Sandbox

    try:
        tokens = _sandbox_tokens(args.token)
    except ValueError as e:
        print(f"ccm sandbox: {e}", file=sys.stderr)
        return 2
    authorizer: Authorizer | None = None
    if args.rbac:
        try:
            if args.rbac == "-":
                text = sys.stdin.read()
            else:
                with open(args.rbac, encoding="utf-8") as f:
                    text = f.read()
            authorizer = Authorizer.from_documents(yaml.safe_load_all(text), tokens)
        except (OSError, yaml.YAMLError, ValueError) as e:
            print(f"ccm sandbox: --rbac {args.rbac}: {e}", file=sys.stderr)
            return 2
    low, _, high = args.service_node_port_range.partition("-")
    try:
        port_range = (int(low), int(high))
    except ValueError:
        print(
            f"ccm sandbox: --service-node-port-range: {args.service_node_port_range!r} is not "
            "LOW-HIGH, e.g. 30000-32767",
            file=sys.stderr,
        )
        return 2
    sandbox = Sandbox(
        host=args.host, port=args.port, node_port_range=port_range, rbac=authorizer, tokens=tokens
    )
    path = sandbox.write_kubeconfig(args.kubeconfig_out)

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    print(f"ccm sandbox: Kubernetes API on {sandbox.url}", flush=True)
    print(f"ccm sandbox: kubeconfig written to {path}", flush=True)
    if authorizer is None:
        print(f"ccm sandbox: try   KUBECONFIG={path} kubectl get svc -A", flush=True)
    else:
        # kubectl (client-go's clientcmd) attaches kubeconfig credentials only to TLS
        # connections, so against this plain-HTTP server it would always get 401.
        users = ", ".join(sorted(set(tokens.values()))) or "none"
        print(
            f"ccm sandbox: RBAC on ({args.rbac}); the kubeconfig's token is the unrestricted "
            f"admin; restricted users: {users}",
            flush=True,
        )
        print(
            "ccm sandbox: kubectl sends no token over plain HTTP; use the Python client or "
            f"curl -H 'Authorization: Bearer TOKEN' {sandbox.url}/api/v1/services",
            flush=True,
        )
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


def _run(args: argparse.Namespace) -> int:
    from ccm import run

    return run.run(args)


def _plan(args: argparse.Namespace) -> int:
    from ccm import run

    return run.plan(args)


def _leaks(args: argparse.Namespace) -> int:
    from ccm.leaks.cli import leaks

    return leaks(args)


def _audit(args: argparse.Namespace) -> int:
    from ccm.audit.cli import audit

    return audit(args)


def _demo(args: argparse.Namespace) -> int:
    if args.provider == "gcp":
        from providers.gcp.demo import demo as gcp_demo

        return gcp_demo(args)
    if args.provider == "azure":
        from providers.azure.demo import demo as azure_demo

        return azure_demo(args)
    from providers.aws.demo import demo

    return demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccm",
        description="A real cloud load balancer for every Kubernetes Service of type LoadBalancer.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    dm = sub.add_parser(
        "demo",
        help="sandbox + a cloud emulator + a driver: watch load balancers converge (AWS: moto; "
        "GCP, Azure: the project's emulators)",
    )
    dm.add_argument(
        "--provider",
        choices=["aws", "gcp", "azure"],
        default="aws",
        help="which cloud (default aws)",
    )
    dm.add_argument("--keep", action="store_true", help="keep running after the demo")
    dm.add_argument("--port", type=int, default=0, help="sandbox port (default: any free)")
    dm.add_argument(
        "--kubeconfig-out",
        default="ccm-demo.kubeconfig",
        help="where to write the sandbox kubeconfig (default ./ccm-demo.kubeconfig)",
    )
    dm.add_argument("--cluster-name", default="demo", help="cluster id (default demo)")
    dm.set_defaults(func=_demo)
    sb = sub.add_parser(
        "sandbox", help="run an in-memory Kubernetes API server (for kubectl and tests)"
    )
    sb.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sb.add_argument(
        "--port", type=int, default=6443, help="port to listen on; 0 = any free (default 6443)"
    )
    sb.add_argument(
        "--kubeconfig-out",
        default="ccm-sandbox.kubeconfig",
        help="where to write a kubeconfig for the sandbox (default ./ccm-sandbox.kubeconfig)",
    )
    sb.add_argument(
        "--service-node-port-range",
        default="30000-32767",
        help="node ports to allocate from, LOW-HIGH (default 30000-32767)",
    )
    sb.add_argument(
        "--rbac",
        metavar="FILE",
        help="enforce Kubernetes RBAC from this YAML stream of ClusterRole/ClusterRoleBinding/"
        "Role/RoleBinding (other kinds are ignored, so `kubectl kustomize deploy/base` output "
        "works; - reads stdin); without it every request is allowed",
    )
    sb.add_argument(
        "--token",
        metavar="TOKEN=USERNAME",
        action="append",
        default=[],
        help="a bearer token and the user it authenticates as, e.g. "
        "ccm=system:serviceaccount:kube-system:ccm (repeatable); without --rbac it only names "
        "the caller in the request log",
    )
    sb.set_defaults(func=_sandbox)

    rn = sub.add_parser("run", help="run the controller: reconcile LoadBalancer Services")
    flags.add_run_flags(rn)
    rn.set_defaults(func=_run)
    pl = sub.add_parser("plan", help="print what the next reconcile would do for one Service")
    pl.add_argument("service", metavar="NAMESPACE/NAME")
    flags.add_common_flags(pl)
    pl.set_defaults(func=_plan)
    lk = sub.add_parser(
        "leaks", help="find (and with --delete remove) orphaned cloud load-balancer resources"
    )
    flags.add_leaks_flags(lk)
    lk.set_defaults(func=_leaks)
    au = sub.add_parser(
        "audit",
        help="price every LoadBalancer Service, its orphans and what consolidation saves",
        description="Join live Services with each driver's cloud inventory and price file. "
        "Repeat --context/--provider/--cluster-name (paired by position) to audit a fleet.",
    )
    flags.add_audit_flags(au)
    au.set_defaults(func=_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
