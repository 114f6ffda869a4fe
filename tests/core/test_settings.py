"""Settings: development works with nothing set; production refuses a default secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import DEVELOPMENT_SECRET, Settings, SettingsError


def test_nothing_set_gives_working_development_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.env == "development"
    assert settings.database_url is None  # embedded PostgreSQL
    assert settings.data_dir == Path(".atrium")
    assert settings.secret_key == DEVELOPMENT_SECRET
    assert settings.stripe.secret_key is None
    assert settings.smtp.host is None


def test_environment_is_read() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://atrium@db/atrium",
            "SECRET_KEY": "s" * 40,
            "BASE_URL": "https://atrium.example/",
            "DATA_DIR": "/var/lib/atrium",
            "ATRIUM_ENV": "production",
            "ATRIUM_MODULES": "crm, oa",
            "SMTP_HOST": "smtp.example",
            "SMTP_PORT": "2525",
            "STRIPE_SECRET_KEY": "sk_test_123",
            "STRIPE_API_BASE": "http://127.0.0.1:8420",
        }
    )
    assert settings.database_url == "postgresql://atrium@db/atrium"
    assert settings.base_url == "https://atrium.example"
    assert settings.data_dir == Path("/var/lib/atrium")
    assert settings.modules_allow == ("crm", "oa")
    assert settings.smtp.port == 2525
    assert settings.stripe.api_base == "http://127.0.0.1:8420"


def test_production_refuses_the_default_secret_and_says_why() -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY is not set") as caught:
        Settings.from_env({"ATRIUM_ENV": "production"})
    assert "forged" in str(caught.value)


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(SettingsError, match="at least 32 characters"):
        Settings.from_env({"ATRIUM_ENV": "production", "SECRET_KEY": "short"})


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(SettingsError, match="ATRIUM_ENV"):
        Settings.from_env({"ATRIUM_ENV": "staging"})


def test_app_role_password_is_derived_from_the_secret_unless_set() -> None:
    a = Settings.from_env({"SECRET_KEY": "a" * 40})
    b = Settings.from_env({"SECRET_KEY": "b" * 40})
    assert a.app_role_password != b.app_role_password
    assert len(a.app_role_password) == 32
    explicit = Settings.from_env({"ATRIUM_APP_DB_PASSWORD": "chosen"})
    assert explicit.app_role_password == "chosen"
