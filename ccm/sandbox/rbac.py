"""Optional RBAC for the sandbox: bearer-token authentication and Kubernetes RBAC authorization.

Why: the controller's deploy manifests grant it a ClusterRole; a missing verb or
subresource there (say `patch` on `services/status`) only shows up in a real cluster as a
403 loop. With an `Authorizer` the sandbox refuses exactly what kube-apiserver's RBAC
authorizer refuses, so a test that runs the controller under the rendered manifests
fails the same way the cluster would.

The rules follow the apiserver: the verb comes from the method and URL shape
(`request_info`), rules match on apiGroups, resources (`services/status`, `*/status`,
`*`), verbs and resourceNames, a ClusterRoleBinding grants everywhere, a RoleBinding only
in its own namespace (its roleRef may name a ClusterRole), and every authenticated user
may read discovery (`system:discovery`, `system:public-info-viewer`). Nothing here
denies explicitly: RBAC only adds permissions, so "allowed" means some rule matched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ccm.sandbox.errors import APIError

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
ADMIN_TOKEN = "sandbox"
ADMIN_USER = "system:admin"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
SA_PREFIX = "system:serviceaccount:"

# What system:discovery and system:public-info-viewer let every authenticated user read.
DISCOVERY_URLS = (
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/readyz",
    "/version",
    "/version/",
    "/openapi",
    "/openapi/*",
)

# Path segments after /namespaces/NAME that address the Namespace itself, not a resource in it.
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_METHOD_VERBS = {
    "GET": "get",
    "HEAD": "get",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


# ---------------------------------------------------------------- request attributes


@dataclass(frozen=True)
class RequestInfo:
    """What the authorizer sees of a request, derived from the URL as the apiserver does.

    `resource_request` is False for discovery and other non-resource paths; then only
    `verb` (the lower-cased method) and `path` mean anything.
    """

    resource_request: bool
    verb: str
    path: str
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""

    @property
    def combined_resource(self) -> str:
        """`services/status` for a subresource, `services` otherwise: what rules list."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _name_from_field_selector(selector: str) -> str:
    """The name a list/watch is limited to by `metadata.name=X`, which RBAC treats as a get of X.

    That is how resourceNames can grant a watch on one object (leader-election Leases).
    """
    for term in selector.split(","):
        key, op, value = term.partition("==") if "==" in term else term.partition("=")
        if op and key.strip() == "metadata.name" and not key.rstrip().endswith("!"):
            return value.strip()
    return ""


def request_info(method: str, path: str, params: Mapping[str, str]) -> RequestInfo:
    """Resolve method + URL to verb/group/namespace/resource/subresource/name.

    Mirrors k8s.io/apiserver's RequestInfoFactory: `/watch/` and `?watch=true` make a
    collection GET a watch, GET/DELETE without a name are list/deletecollection, and
    `/api/v1/namespaces/NAME` is the Namespace NAME inside namespace NAME. A `?watch=true`
    on a single object stays a get, as in the apiserver (the sandbox serves it as a get).
    """
    method = method.upper()
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestInfo(False, method.lower(), path)
    watch_prefix = rest[0] == "watch"
    if watch_prefix:
        rest = rest[1:]
        if not rest:
            return RequestInfo(False, method.lower(), path)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) >= 3 else ""
    verb = "watch" if watch_prefix else _METHOD_VERBS.get(method, method.lower())
    if not name and verb == "get":
        verb = "watch" if params.get("watch", "").lower() in ("1", "true") else "list"
    if not name and verb in ("list", "watch"):
        name = _name_from_field_selector(params.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(True, verb, path, group, version, namespace, resource, subresource, name)


# ---------------------------------------------------------------- users


@dataclass(frozen=True)
class User:
    """An authenticated identity: the username RBAC subjects name, and its groups."""

    name: str
    groups: tuple[str, ...] = ()


def user_for(username: str) -> User:
    """Groups the apiserver gives a token's user: service accounts are in two SA groups."""
    groups = [AUTHENTICATED]
    if username.startswith(SA_PREFIX):
        namespace = username[len(SA_PREFIX) :].partition(":")[0]
        groups += ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    return User(username, tuple(groups))


def service_account_user(namespace: str, name: str) -> str:
    """The username a ServiceAccount's token authenticates as."""
    return f"{SA_PREFIX}{namespace}:{name}"


# ---------------------------------------------------------------- rules and bindings


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: must be a list of strings, got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class PolicyRule:
    """One `rules[]` entry of a Role or ClusterRole."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: Any, where: str, namespaced: bool) -> PolicyRule:
        """Validate like the apiserver, so a manifest it would reject fails here as well.

        Missing `apiGroups` is the classic mistake (a rule that silently grants nothing
        would be worse than an error), hence the check.
        """
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: a rule must be a mapping, got {raw!r}")
        rule = cls(
            verbs=_strings(raw.get("verbs"), f"{where}.verbs"),
            api_groups=_strings(raw.get("apiGroups"), f"{where}.apiGroups"),
            resources=_strings(raw.get("resources"), f"{where}.resources"),
            resource_names=_strings(raw.get("resourceNames"), f"{where}.resourceNames"),
            non_resource_urls=_strings(raw.get("nonResourceURLs"), f"{where}.nonResourceURLs"),
        )
        if not rule.verbs:
            raise ValueError(
                f"{where}.verbs: Required value: verbs must contain at least one value"
            )
        if rule.non_resource_urls:
            if namespaced:
                raise ValueError(
                    f"{where}.nonResourceURLs: Invalid value: namespaced rules cannot apply to "
                    "non-resource URLs"
                )
            if rule.api_groups or rule.resources:
                raise ValueError(
                    f"{where}.nonResourceURLs: Invalid value: rules cannot apply to both "
                    "regular resources and non-resource URLs"
                )
            return rule
        if not rule.resources:
            raise ValueError(
                f"{where}.resources: Required value: resource rules must supply at least one "
                "resource"
            )
        if not rule.api_groups:
            raise ValueError(
                f"{where}.apiGroups: Required value: resource rules must supply at least one api "
                'group (use [""] for the core group)'
            )
        return rule

    def allows(self, req: RequestInfo) -> bool:
        if "*" not in self.verbs and req.verb not in self.verbs:
            return False
        if not req.resource_request:
            return any(_url_matches(pattern, req.path) for pattern in self.non_resource_urls)
        if "*" not in self.api_groups and req.api_group not in self.api_groups:
            return False
        if not self._resource_matches(req):
            return False
        return not self.resource_names or req.name in self.resource_names

    def _resource_matches(self, req: RequestInfo) -> bool:
        wanted = req.combined_resource
        for resource in self.resources:
            if resource in ("*", wanted):
                return True
            if req.subresource and resource == f"*/{req.subresource}":
                return True
        return False


def _url_matches(pattern: str, path: str) -> bool:
    """nonResourceURLs: exact, `*` for all, or a trailing `*` as a prefix match."""
    if pattern in ("*", path):
        return True
    return pattern.endswith("*") and path.startswith(pattern[:-1])


DISCOVERY_RULE = PolicyRule(verbs=("get",), non_resource_urls=DISCOVERY_URLS)


@dataclass(frozen=True)
class Subject:
    kind: str  # ServiceAccount, User, Group
    name: str
    namespace: str = ""

    def applies_to(self, user: User, binding_namespace: str) -> bool:
        if self.kind == "User":
            return user.name == self.name
        if self.kind == "Group":
            return self.name in user.groups
        # A RoleBinding may name a ServiceAccount of its own namespace without a namespace.
        namespace = self.namespace or binding_namespace
        return bool(namespace) and user.name == service_account_user(namespace, self.name)


@dataclass(frozen=True)
class Role:
    """A Role or ClusterRole; `aggregation` holds a ClusterRole's clusterRoleSelectors."""

    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    rules: tuple[PolicyRule, ...]
    aggregation: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Binding:
    kind: str  # RoleBinding or ClusterRoleBinding
    namespace: str  # "" for a ClusterRoleBinding
    name: str
    role_kind: str
    role_name: str
    subjects: tuple[Subject, ...]


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions) against one object's labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _metadata(doc: Mapping[str, Any], where: str) -> tuple[str, str, Mapping[str, str]]:
    meta = doc.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: metadata.name: Required value")
    return name, str(meta.get("namespace") or ""), meta.get("labels") or {}


@dataclass(frozen=True)
class _Head:
    """What every RBAC object starts with, namespace defaulted as `kubectl apply` does."""

    kind: str
    name: str
    namespace: str  # "" for the cluster-scoped kinds
    labels: Mapping[str, str]
    namespaced: bool
    where: str  # `Kind 'name'`, the prefix of every error about this object


def _head(doc: Mapping[str, Any], default_namespace: str, namespaced_kind: str) -> _Head:
    kind = str(doc["kind"])
    name, namespace, labels = _metadata(doc, kind)
    namespaced = kind == namespaced_kind
    namespace = (namespace or default_namespace) if namespaced else ""
    return _Head(kind, name, namespace, labels, namespaced, f"{kind} {name!r}")


def _parse_role(doc: Mapping[str, Any], default_namespace: str) -> Role:
    h = _head(doc, default_namespace, "Role")
    kind, namespaced, where = h.kind, h.namespaced, h.where
    rules = tuple(
        PolicyRule.parse(raw, f"{where}: rules[{i}]", namespaced)
        for i, raw in enumerate(doc.get("rules") or [])
    )
    selectors: tuple[Mapping[str, Any], ...] = ()
    if kind == "ClusterRole" and doc.get("aggregationRule"):
        selectors = tuple((doc["aggregationRule"] or {}).get("clusterRoleSelectors") or [])
    return Role(kind, h.namespace, h.name, h.labels, rules, selectors)


def _parse_subject(raw: Any, where: str, namespaced: bool) -> Subject:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a subject must be a mapping, got {raw!r}")
    kind, name = raw.get("kind"), raw.get("name")
    if kind not in ("ServiceAccount", "User", "Group"):
        raise ValueError(
            f"{where}.kind: Unsupported value: {kind!r}: supported values: "
            '"ServiceAccount", "User", "Group"'
        )
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}.name: Required value")
    group = raw.get("apiGroup")
    expected = "" if kind == "ServiceAccount" else RBAC_GROUP
    if group is not None and group != expected:
        raise ValueError(
            f"{where}.apiGroup: Unsupported value: {group!r}: supported values: {expected!r}"
        )
    namespace = str(raw.get("namespace") or "")
    if kind == "ServiceAccount" and not namespace and not namespaced:
        raise ValueError(f"{where}.namespace: Required value")
    return Subject(kind, name, namespace)


def _parse_binding(doc: Mapping[str, Any], default_namespace: str) -> Binding:
    h = _head(doc, default_namespace, "RoleBinding")
    kind, namespaced, where = h.kind, h.namespaced, h.where
    ref = doc.get("roleRef") or {}
    allowed = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if ref.get("kind") not in allowed:
        raise ValueError(
            f"{where}: roleRef.kind: Unsupported value: {ref.get('kind')!r}: "
            f"supported values: {', '.join(map(repr, allowed))}"
        )
    if ref.get("apiGroup", RBAC_GROUP) != RBAC_GROUP:
        raise ValueError(f"{where}: roleRef.apiGroup: Unsupported value: {ref.get('apiGroup')!r}")
    if not ref.get("name"):
        raise ValueError(f"{where}: roleRef.name: Required value")
    subjects = tuple(
        _parse_subject(raw, f"{where}: subjects[{i}]", namespaced)
        for i, raw in enumerate(doc.get("subjects") or [])
    )
    return Binding(kind, h.namespace, h.name, str(ref["kind"]), str(ref["name"]), subjects)


@dataclass
class _Policy:
    """One consistent snapshot: replaced as a whole on change, so readers never lock."""

    roles: dict[tuple[str, str, str], Role] = field(default_factory=dict)  # (kind, ns, name)
    bindings: dict[tuple[str, str, str], Binding] = field(default_factory=dict)


# ---------------------------------------------------------------- the authorizer


class Authorizer:
    """Bearer tokens → users, and RBAC objects → allow / deny for each request.

    `admin_token` (default "sandbox", the token `Sandbox.kubeconfig()` writes) is a member
    of system:masters and passes every check, so tests can set up fixtures with the
    default kubeconfig and exercise only the restricted identity. `admin_token=None`
    disables it.
    """

    def __init__(
        self,
        tokens: Mapping[str, str] | None = None,
        objects: Iterable[Mapping[str, Any]] = (),
        admin_token: str | None = ADMIN_TOKEN,
        default_namespace: str = "default",
    ) -> None:
        self.admin_token = admin_token
        self.default_namespace = default_namespace
        self._tokens: dict[str, User] = {}
        self._policy = _Policy()
        self._lock = threading.Lock()
        for token, username in (tokens or {}).items():
            self.add_token(token, username)
        self.add(objects)

    @classmethod
    def from_documents(
        cls,
        documents: Iterable[Any],
        tokens: Mapping[str, str] | None = None,
        admin_token: str | None = ADMIN_TOKEN,
        default_namespace: str = "default",
    ) -> Authorizer:
        """From a YAML stream's documents, e.g. `yaml.safe_load_all(kubectl kustomize ...)`.

        Non-RBAC kinds (Deployments, ServiceAccounts, ...) and empty documents are skipped,
        and `kind: List` is unpacked, so a whole rendered overlay can be passed unfiltered.
        Namespaced objects without a namespace land in `default_namespace`, as
        `kubectl apply` would put them in the context's namespace.
        """
        return cls(tokens, rbac_objects(documents), admin_token, default_namespace)

    # ------------------------------------------------------------ configuration

    def add_token(self, token: str, username: str) -> None:
        if not token or not username:
            raise ValueError("a token and its username must both be non-empty")
        with self._lock:
            self._tokens[token] = user_for(username)

    def add(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Add or replace (by kind/namespace/name) RBAC objects, as `kubectl apply` would."""
        parsed: list[Role | Binding] = []
        for doc in objects:
            kind = doc.get("kind")
            if kind not in RBAC_KINDS:
                raise ValueError(f"not an RBAC object: kind {kind!r}; expected one of {RBAC_KINDS}")
            api_version = doc.get("apiVersion", f"{RBAC_GROUP}/v1")
            if api_version != f"{RBAC_GROUP}/v1":
                raise ValueError(f"{kind}: apiVersion {api_version!r} is not {RBAC_GROUP}/v1")
            if kind in ("Role", "ClusterRole"):
                parsed.append(_parse_role(doc, self.default_namespace))
            else:
                parsed.append(_parse_binding(doc, self.default_namespace))
        with self._lock:
            policy = _Policy(dict(self._policy.roles), dict(self._policy.bindings))
            for obj in parsed:
                key = (obj.kind, obj.namespace, obj.name)
                if isinstance(obj, Role):
                    policy.roles[key] = obj
                else:
                    policy.bindings[key] = obj
            self._policy = policy

    # ------------------------------------------------------------ authentication

    def authenticate(self, authorization: str | None) -> User | None:
        """The user an `Authorization: Bearer TOKEN` header authenticates as, or None."""
        token = bearer_token(authorization)
        if token is None:
            return None
        if self.admin_token is not None and token == self.admin_token:
            return User(ADMIN_USER, (MASTERS, AUTHENTICATED))
        return self._tokens.get(token)

    # ------------------------------------------------------------ authorization

    def allowed(self, user: User, req: RequestInfo) -> bool:
        if MASTERS in user.groups:
            return True
        if not req.resource_request and DISCOVERY_RULE.allows(req):
            return True
        policy = self._policy
        for binding in policy.bindings.values():
            if binding.namespace and binding.namespace != req.namespace:
                continue
            if not any(s.applies_to(user, binding.namespace) for s in binding.subjects):
                continue
            if any(rule.allows(req) for rule in self._rules(policy, binding)):
                return True
        return False

    def _rules(self, policy: _Policy, binding: Binding) -> list[PolicyRule]:
        namespace = binding.namespace if binding.role_kind == "Role" else ""
        role = policy.roles.get((binding.role_kind, namespace, binding.role_name))
        if role is None:  # a binding to a missing role grants nothing, as in the apiserver
            return []
        return self._role_rules(policy, role, set())

    def _role_rules(self, policy: _Policy, role: Role, seen: set[str]) -> list[PolicyRule]:
        """A role's rules; an aggregated ClusterRole gets those of every role it selects.

        The apiserver's aggregation controller overwrites `rules` with that union; doing
        it at lookup time gives the same answer without a controller.
        """
        if not role.aggregation:
            return list(role.rules)
        seen.add(role.name)
        rules: list[PolicyRule] = []
        for other in policy.roles.values():
            if other.kind != "ClusterRole" or other.name in seen:
                continue
            if any(_selector_matches(sel, other.labels) for sel in role.aggregation):
                rules.extend(self._role_rules(policy, other, seen))
        return rules

    def check(self, user: User, req: RequestInfo) -> None:
        """Raise the apiserver's 403 Forbidden Status unless `user` may do `req`."""
        if not self.allowed(user, req):
            raise forbidden(user, req)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def unauthorized() -> APIError:
    return APIError(401, "Unauthorized", "Unauthorized")


def forbidden(user: User, req: RequestInfo) -> APIError:
    """The 403 exactly as kube-apiserver words it, so clients and humans see the same text.

    `<resource>[.<group>] "<name>" is forbidden: User "<u>" cannot <verb> resource
    "<resource>[/<sub>]" in API group "<group>" in the namespace "<ns>"` (or "at the
    cluster scope"); non-resource paths get `forbidden: User ... cannot get path "/x"`.
    """
    if not req.resource_request:
        message = f'forbidden: User "{user.name}" cannot {req.verb} path "{req.path}"'
        return APIError(403, "Forbidden", message, {})
    scope = f'in the namespace "{req.namespace}"' if req.namespace else "at the cluster scope"
    reason = (
        f'User "{user.name}" cannot {req.verb} resource "{req.combined_resource}" '
        f'in API group "{req.api_group}" {scope}'
    )
    qualified = f"{req.resource}.{req.api_group}" if req.api_group else req.resource
    subject = f'{qualified} "{req.name}"' if req.name else qualified
    details: dict[str, Any] = {}
    if req.name:
        details["name"] = req.name
    if req.api_group:
        details["group"] = req.api_group
    details["kind"] = req.resource
    return APIError(403, "Forbidden", f"{subject} is forbidden: {reason}", details)


def rbac_objects(documents: Iterable[Any]) -> list[Mapping[str, Any]]:
    """The RBAC objects among parsed YAML/JSON documents; `kind: List` items are included."""
    out: list[Mapping[str, Any]] = []
    for doc in documents:
        if not isinstance(doc, dict):
            continue
        kind = str(doc.get("kind", ""))
        if kind.endswith("List"):
            # Items of a typed list (ClusterRoleList) may omit kind and apiVersion.
            item_kind = kind[: -len("List")]
            items = [
                {"kind": item_kind, "apiVersion": doc.get("apiVersion"), **item}
                if isinstance(item, dict) and item_kind in RBAC_KINDS
                else item
                for item in doc.get("items") or []
            ]
            out.extend(rbac_objects(items))
        elif kind in RBAC_KINDS and str(doc.get("apiVersion") or RBAC_GROUP).startswith(RBAC_GROUP):
            # A wrong version of the RBAC group is kept, so add() reports it rather than
            # silently granting nothing.
            out.append(doc)
    return out
