"""Airflow's own login in front of every route of the plugin's app.

Airflow does not protect a plugin's FastAPI app: the API server mounts it as it is. This
dependency authenticates a request exactly as Airflow's REST API does
(`airflow.api_fastapi.core_api.security.get_user`): an `Authorization: Bearer <JWT>` header
wins, else the UI's session cookie `_token` (which the UI's login sets, so the page works in
the browser and inside the UI's iframe). The JWT is checked by the configured auth manager
(signature, expiry, revocation). The user must also be allowed to see the Airflow website.

No credential, an expired one or one that does not verify (a forged or foreign token): 401.
A valid user the auth manager does not allow to see the website: 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

bearer = HTTPBearer(auto_error=False)

LOGIN_HINT = "sign in to Airflow first (the UI's login, or a JWT from POST /auth/token)"


async def require_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> BaseUser:
    """The Airflow user behind the request; 401 without a valid token, 403 if not allowed."""
    # Imported here: Airflow loads this plugin in every component, the API server's security
    # module only matters where the app is served.
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import get_user

    try:
        user = await get_user(request, None, credentials)
    except HTTPException as exc:
        # Airflow answers 403 to a token that does not verify; for this page any credential
        # that is not a valid login is "not authenticated".
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=f"{exc.detail}: {LOGIN_HINT}",
            headers={"WWW-Authenticate": "Bearer"},
        ) from exc
    if not get_auth_manager().is_authorized_view(access_view=AccessView.WEBSITE, user=user):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"user {user.get_name()} may not see the Airflow website",
        )
    return user
