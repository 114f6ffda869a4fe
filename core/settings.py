"""One typed settings object, read from the environment.

Development defaults work with nothing set: an embedded PostgreSQL in
``DATA_DIR`` and a well-known development secret. In production
(``ATRIUM_ENV=production``) the app refuses to start on a default secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

DEVELOPMENT_SECRET = "atrium-development-secret-do-not-use-in-production"  # noqa: S105

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_APP_ROLE = "atrium_app"
DEFAULT_SENDER = "Atrium <no-reply@atrium.local>"

Environment = Literal["development", "test", "production"]


class SettingsError(RuntimeError):
    """The environment describes a configuration Atrium must not run with."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str | None = None
    port: int = 587
    username: str | None = None
    password: str | None = None
    sender: str = DEFAULT_SENDER
    use_tls: bool = True


@dataclass(frozen=True, slots=True)
class StripeSettings:
    secret_key: str | None = None
    webhook_secret: str | None = None
    api_base: str | None = None  # a stand-in's address in tests; Stripe's own when unset


@dataclass(frozen=True, slots=True)
class Settings:
    env: Environment = "development"
    database_url: str | None = None  # None: start the embedded PostgreSQL in data_dir
    secret_key: str = DEVELOPMENT_SECRET
    base_url: str = DEFAULT_BASE_URL
    data_dir: Path = Path(".atrium")
    app_db_role: str = DEFAULT_APP_ROLE
    app_db_password: str | None = None  # derived from secret_key when unset
    modules_allow: tuple[str, ...] | None = None  # ATRIUM_MODULES: load only these keys
    extra_modules: tuple[str, ...] = ()  # ATRIUM_EXTRA_MODULES: import paths beyond entry points
    log_level: str = "INFO"
    session_idle_minutes: int = 8 * 60  # a working day without a request signs you out
    session_absolute_hours: int = 14 * 24  # and two weeks signs you out regardless
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    stripe: StripeSettings = field(default_factory=StripeSettings)
    # Days a past-due module stays on (with a banner) before it turns read-only.
    billing_grace_days: int = 7

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        atrium_env = env.get("ATRIUM_ENV", "development")
        if atrium_env not in ("development", "test", "production"):
            raise SettingsError(
                f"ATRIUM_ENV must be development, test or production, not {atrium_env!r}"
            )
        settings = cls(
            env=atrium_env,  # type: ignore[arg-type]
            database_url=env.get("DATABASE_URL") or None,
            secret_key=env.get("SECRET_KEY") or DEVELOPMENT_SECRET,
            base_url=env.get("BASE_URL", DEFAULT_BASE_URL).rstrip("/"),
            data_dir=Path(env.get("DATA_DIR", ".atrium")),
            app_db_role=env.get("ATRIUM_APP_DB_ROLE", DEFAULT_APP_ROLE),
            app_db_password=env.get("ATRIUM_APP_DB_PASSWORD") or None,
            modules_allow=_split(env["ATRIUM_MODULES"]) if "ATRIUM_MODULES" in env else None,
            extra_modules=_split(env.get("ATRIUM_EXTRA_MODULES", "")),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            session_idle_minutes=int(env.get("SESSION_IDLE_MINUTES", str(8 * 60))),
            session_absolute_hours=int(env.get("SESSION_ABSOLUTE_HOURS", str(14 * 24))),
            smtp=SmtpSettings(
                host=env.get("SMTP_HOST") or None,
                port=int(env.get("SMTP_PORT", "587")),
                username=env.get("SMTP_USERNAME") or None,
                password=env.get("SMTP_PASSWORD") or None,
                sender=env.get("SMTP_FROM", DEFAULT_SENDER),
                use_tls=env.get("SMTP_TLS", "true").lower() in ("1", "true", "yes"),
            ),
            stripe=StripeSettings(
                secret_key=env.get("STRIPE_SECRET_KEY") or None,
                webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
                api_base=env.get("STRIPE_API_BASE") or None,
            ),
            billing_grace_days=int(env.get("ATRIUM_BILLING_GRACE_DAYS", "7")),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse configurations that are unsafe outside development."""
        if self.env != "production":
            return
        if self.secret_key == DEVELOPMENT_SECRET:
            raise SettingsError(
                "SECRET_KEY is not set: production refuses the development secret, "
                "because sessions and tokens signed with it could be forged. "
                "Set SECRET_KEY to a long random value."
            )
        if len(self.secret_key) < 32:
            raise SettingsError("SECRET_KEY must be at least 32 characters in production.")

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def app_role_password(self) -> str:
        """The run-time role's password: set explicitly, or derived from the secret."""
        if self.app_db_password:
            return self.app_db_password
        digest = hmac.new(self.secret_key.encode(), b"atrium-app-db-role", hashlib.sha256)
        return digest.hexdigest()[:32]


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())
