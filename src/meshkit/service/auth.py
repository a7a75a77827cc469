"""Who is calling and what they may do: API tokens, bearer JWTs and roles per team.

API tokens are random strings shown once and stored as SHA-256 hashes. Bearer JWTs are checked
with HS256 (``service_jwt_secret``) or RS256 keys from an identity provider's JWKS
(``service_jwks_url``). Roles are per team, ordered ``viewer < developer < admin``; the team ``*``
stands for every team.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

import sqlalchemy as sa
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from meshkit.core.errors import ConfigError
from meshkit.core.runs import now
from meshkit.service.exceptions import AuthenticationError, ForbiddenError
from meshkit.service.tables import tokens

Role = Literal["viewer", "developer", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}
TOKEN_PREFIX = "mk_"
COOKIE = "meshkit_token"
_CACHE_SECONDS = 10.0
#: Shortest HS256 key accepted: as long as the hash (RFC 7518, section 3.2).
MIN_HS256_KEY_BYTES = 32


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a subject and its role per team."""

    subject: str
    roles: dict[str, str] = field(default_factory=dict)
    via: str = "token"

    def role(self, team: str | None) -> str | None:
        """The caller's highest role on ``team`` (``*`` grants every team)."""
        found = [r for t, r in self.roles.items() if t in ("*", team) and r in RANK]
        return max(found, key=RANK.__getitem__) if found else None

    def can(self, team: str | None, role: str) -> bool:
        have = self.role(team)
        return have is not None and RANK[have] >= RANK[role]

    def teams(self) -> list[str]:
        """Teams named in the caller's roles (``*`` included)."""
        return sorted(self.roles)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_roles(roles: dict[str, str]) -> dict[str, str]:
    """Validate ``{team: role}``; a ValueError names the bad entry."""
    for team, role in roles.items():
        if role not in RANK:
            raise ValueError(f"role `{role}` for team `{team}` is not one of {', '.join(ROLES)}")
    return dict(roles)


def create_token(engine: sa.Engine, *, name: str, subject: str, roles: dict[str, str],
                 expires_in_days: int | None = None) -> tuple[str, str]:  # fmt: skip
    """Store a new API token; returns ``(token_id, token)``. The token is shown only here."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = secrets.token_hex(8)
    expires = now() + timedelta(days=expires_in_days) if expires_in_days else None
    with engine.begin() as conn:
        conn.execute(tokens.insert().values(id=token_id, name=name, subject=subject, token_hash=hash_token(token),
                                            roles=check_roles(roles), created_at=now(), expires_at=expires))  # fmt: skip
    return token_id, token


def revoke_token(engine: sa.Engine, token_id: str) -> bool:
    with engine.begin() as conn:
        result = conn.execute(
            tokens.update()
            .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=now())
        )
    return result.rowcount > 0


def list_tokens(engine: sa.Engine) -> list[dict]:
    cols = [
        tokens.c.id,
        tokens.c.name,
        tokens.c.subject,
        tokens.c.roles,
        tokens.c.created_at,
        tokens.c.expires_at,
        tokens.c.revoked_at,
    ]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(*cols).order_by(tokens.c.created_at)).mappings()]


def count_tokens(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tokens)).scalar_one()


def hs256_key(config) -> str | None:
    """The HS256 key (``service_jwt_secret``, a reference resolved), or ``None`` when HS256 JWTs are off.

    A key shorter than 32 bytes could be guessed offline from one token: it is a ConfigError.
    """
    key = config.get("service_jwt_secret")
    if key is not None and len(key.encode()) < MIN_HS256_KEY_BYTES:
        raise ConfigError(f"Config key `service_jwt_secret` ({config.source('service_jwt_secret')}) is "
                          f"{len(key.encode())} bytes long; an HS256 key needs at least {MIN_HS256_KEY_BYTES}.",
                          hint="Generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'` "
                          "and give it as a reference such as env:MK_JWT_SECRET.")  # fmt: skip
    return key


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Authenticator:
    """Turns a credential (API token or JWT) into a :class:`Principal`, or raises AuthenticationError."""

    def __init__(self, meshkit):
        self.engine = meshkit.metadata.engine
        cfg = meshkit.config
        self.jwt_secret = hs256_key(cfg)
        self.jwks_url = cfg.get("service_jwks_url")
        self.audience = cfg.get("service_jwt_audience")
        self.issuer = cfg.get("service_jwt_issuer")
        self.roles_claim = cfg.get("service_jwt_roles_claim")
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        self._jwks = None

    def authenticate(self, credential: str | None) -> Principal:
        if not credential:
            raise AuthenticationError("This endpoint needs credentials.",
                                      hint="Send `Authorization: Bearer TOKEN`; create a token with `meshkit token create`.")  # fmt: skip
        if credential.startswith(TOKEN_PREFIX):
            return self._from_token(credential)
        if credential.count(".") == 2:
            return self._from_jwt(credential)
        raise AuthenticationError(
            "The credential is neither an API token nor a JWT.", hint="Check the token you sent."
        )

    def cached(self, credential: str | None) -> Principal | None:
        """The principal of an API token looked up in the last seconds (no database, no waiting)."""
        if not credential or not credential.startswith(TOKEN_PREFIX):
            return None
        with self._lock:
            hit = self._cache.get(hash_token(credential))
        return hit[1] if hit and hit[0] > time.monotonic() else None

    def _from_token(self, token: str) -> Principal:
        digest = hash_token(token)
        with self._lock:
            hit = self._cache.get(digest)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.token_hash == digest)).mappings().first()
        if row is None or row["revoked_at"] is not None:
            raise AuthenticationError(
                "The API token is unknown or revoked.", hint="Create a new one with `meshkit token create`."
            )
        if row["expires_at"] is not None and _aware(row["expires_at"]) < now():
            raise AuthenticationError(
                "The API token has expired.", hint="Create a new one with `meshkit token create`."
            )
        principal = Principal(row["subject"], dict(row["roles"] or {}), "token")
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (time.monotonic() + _CACHE_SECONDS, principal)
        return principal

    def forget(self) -> None:
        """Drop cached token lookups (after a revoke)."""
        with self._lock:
            self._cache.clear()

    def _from_jwt(self, token: str) -> Principal:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if alg == "HS256" and self.jwt_secret:
                key = self.jwt_secret
            elif alg in ("RS256", "RS384", "RS512", "ES256") and self.jwks_url:
                key = self._jwk_client().get_signing_key_from_jwt(token).key
            else:
                raise AuthenticationError(f"JWTs signed with `{alg}` are not accepted by this server.",
                                          hint="Configure `service_jwt_secret` (HS256) or `service_jwks_url` (RS256).")  # fmt: skip
            claims = jwt.decode(token, key, algorithms=[alg], audience=self.audience or None, issuer=self.issuer or None,
                                options={"require": ["exp", "sub"], "verify_aud": bool(self.audience)})  # fmt: skip
        except AuthenticationError:
            raise
        except jwt.PyJWTError as exc:
            raise AuthenticationError(
                f"The bearer JWT is not valid: {exc}.", hint="Get a fresh token from your identity provider."
            ) from None
        return Principal(str(claims["sub"]), _claim_roles(claims.get(self.roles_claim)), "jwt")

    def _jwk_client(self):
        import jwt

        if self._jwks is None:
            self._jwks = jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=300, timeout=5)
        return self._jwks


def _claim_roles(value) -> dict[str, str]:
    roles: dict[str, str] = {}
    items = value.items() if isinstance(value, dict) else (str(v).rpartition(":")[::2] for v in value or [])
    for team, role in items:
        if team and role in RANK and (team not in roles or RANK[role] > RANK[roles[team]]):
            roles[str(team)] = role
    return roles


def credential_of(request: Request) -> str | None:
    """The bearer credential of a request: the Authorization header, else the UI's session cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) or None


async def principal_of(request: Request) -> Principal:
    """Authenticate a request (once; the result is kept on ``request.state``).

    A recently seen API token is answered on the event loop; anything that may read the database
    or fetch keys runs in the thread pool.
    """
    if getattr(request.state, "principal", None) is None:
        auth = request.app.state.service.auth
        credential = credential_of(request)
        request.state.principal = auth.cached(credential) or await run_in_threadpool(
            auth.authenticate, credential
        )
    return request.state.principal


def require(role: str):
    """A FastAPI dependency: the caller must hold ``role`` on the path's ``team`` (or on ``*``)."""

    async def dependency(request: Request) -> Principal:
        principal = await principal_of(request)
        team = request.path_params.get("team", "*")
        if not principal.can(team, role):
            have = principal.role(team)
            raise ForbiddenError(
                f"`{principal.subject}` is {'a ' + have if have else 'not a member'} of team `{team}`; this needs {role}.",
                hint="Ask a team admin for a higher role.",
            )
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency
