"""The MCP SDK's authorization-server provider, backed by the grants service.

The SDK's handlers do the protocol (RFC 8414 metadata, RFC 7591 registration, PKCE S256,
redirect and code checks, refresh-token scope checks, RFC 7009 revocation); this provider
stores clients, grants and refresh tokens and sends the person to the console's consent page."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    RefreshToken,
    TokenError,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyUrl

from carteiro.errors import CarteiroError
from carteiro.oauth import service
from carteiro.runtime import Runtime

CONSENT_PATH = "/ui/oauth/consent"


class CarteiroOAuthProvider:
    """OAuthAuthorizationServerProvider: access tokens are expiring API keys, renewed with
    rotating refresh tokens."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        def work() -> dict[str, Any] | None:
            with self.runtime.db.session() as session:
                return service.get_client(session, client_id=client_id)

        info = await anyio.to_thread.run_sync(work)
        return OAuthClientInformationFull.model_validate(info) if info else None

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        info = client_info.model_dump(mode="json", exclude_none=True)

        def work() -> None:
            with self.runtime.db.session() as session:
                service.register_client(session, info=info)

        await anyio.to_thread.run_sync(work)

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        asked = params.model_dump(mode="json")
        client_id = client.client_id or ""

        def work() -> str:
            with self.runtime.db.session() as session:
                return service.create_request(session, client_id=client_id, params=asked)

        request_id = await anyio.to_thread.run_sync(work)
        return f"{CONSENT_PATH}?request={request_id}"

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        client_id = client.client_id or ""

        def work() -> AuthorizationCode | None:
            with self.runtime.db.session() as session:
                grant = service.load_code(session, client_id=client_id, code=authorization_code)
                if grant is None:
                    return None
                p = grant.params
                return AuthorizationCode(
                    code=authorization_code,
                    scopes=list(grant.scopes),
                    expires_at=float(grant.code_expires or 0),
                    client_id=grant.client_id,
                    code_challenge=p["code_challenge"],
                    redirect_uri=AnyUrl(p["redirect_uri"]),
                    redirect_uri_provided_explicitly=bool(p["redirect_uri_provided_explicitly"]),
                    resource=p.get("resource"),
                )

        return await anyio.to_thread.run_sync(work)

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        client_id = client.client_id or ""
        settings = self.runtime.settings

        def work() -> service.Issued:
            with self.runtime.db.session() as session:
                return service.exchange(
                    session,
                    client_id=client_id,
                    code=authorization_code.code,
                    vault=self.runtime.vault,
                    access_seconds=settings.oauth_access_token_seconds,
                    refresh_days=settings.oauth_refresh_token_days,
                )

        try:
            issued = await anyio.to_thread.run_sync(work)
        except CarteiroError as exc:
            raise TokenError(error="invalid_grant", error_description=exc.message) from None
        return _token(issued)

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        client_id = client.client_id or ""

        def work() -> RefreshToken | None:
            with self.runtime.db.session() as session:
                row = service.load_refresh(session, client_id=client_id, token=refresh_token)
                if row is None:
                    return None
                return RefreshToken(
                    token=refresh_token,
                    client_id=row.client_id,
                    scopes=list(row.scopes),
                    expires_at=int(row.expires_at.timestamp()),
                )

        return await anyio.to_thread.run_sync(work)

    async def exchange_refresh_token(
        self,
        client: OAuthClientInformationFull,
        refresh_token: RefreshToken,
        scopes: list[str],
    ) -> OAuthToken:
        client_id = client.client_id or ""
        settings = self.runtime.settings

        def work() -> service.Issued | service.Refusal:
            with self.runtime.db.session() as session:
                return service.refresh(
                    session,
                    client_id=client_id,
                    token=refresh_token.token,
                    scopes=scopes,
                    access_seconds=settings.oauth_access_token_seconds,
                    refresh_days=settings.oauth_refresh_token_days,
                )

        issued = await anyio.to_thread.run_sync(work)
        if isinstance(issued, service.Refusal):
            raise TokenError(error="invalid_grant", error_description=issued.message)
        return _token(issued)

    async def load_access_token(self, token: str) -> AccessToken | None:
        """An OAuth-issued key, named by its client (the revocation endpoint compares them);
        None for other keys, which a client cannot revoke."""

        def work() -> AccessToken | None:
            try:
                principal = self.runtime.authenticate(token)
            except CarteiroError:
                return None
            if principal.key_id is None:
                return None
            with self.runtime.db.session() as session:
                grant = service.grant_of_key(session, api_key_id=principal.key_id)
                if grant is None:
                    return None
                return AccessToken(
                    token=token, client_id=grant.client_id, scopes=list(principal.scopes)
                )

        return await anyio.to_thread.run_sync(work)

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        """RFC 7009: revoking either token ends the grant (its keys and refresh tokens)."""

        def work() -> None:
            with self.runtime.db.session() as session:
                if isinstance(token, RefreshToken):
                    row = service.load_refresh(
                        session, client_id=token.client_id, token=token.token
                    )
                    if row is not None:
                        service.revoke_family(session, request_id=row.request_id)
                    return
                grant = service.grant_of_access_token(session, plain=token.token)
                if grant is not None:
                    service.revoke_family(session, request_id=grant.request_id)

        await anyio.to_thread.run_sync(work)

    async def exchange_identity_assertion(self, *args: Any, **kwargs: Any) -> OAuthToken:
        raise TokenError(error="unsupported_grant_type", error_description="not supported")


def _token(issued: service.Issued) -> OAuthToken:
    return OAuthToken(
        access_token=issued.access_token,
        token_type="Bearer",
        expires_in=issued.expires_in,
        scope=" ".join(issued.scopes),
        refresh_token=issued.refresh_token,
    )
