"""Settings from environment variables prefixed ESSC_."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a deployment configures; SQLite and files by default, PostgreSQL and Redis in production."""

    model_config = SettingsConfigDict(env_prefix="ESSC_", env_file=None, extra="ignore")

    database_url: str = Field(default="sqlite:///var/essc.db", description="SQLAlchemy URL")
    redis_url: str | None = Field(default=None, description="Redis URL; nonces and one-time state go there")
    redis_key_prefix: str = Field(default="essc:", description="prefix of the Redis keys the platform writes")
    keystore_path: Path = Field(default=Path("var/keys"), description="directory of the file key store")
    keystore_kind: str = Field(default="file", description="file | sandbox-hsm")
    crypto_suite: str = Field(
        default="sm", description="sm (SM2/SM3/SM4) | intl (ECDSA P-256/SHA-256/AES-GCM)"
    )
    request_clock_skew_seconds: int = Field(
        default=300, description="allowed timestamp skew of signed requests"
    )
    telemetry: bool = Field(
        default=False,
        description="FastAPI's OpenTelemetry spans, metrics and logs (to the process's providers)",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, description="largest request body read; a larger one is refused with 413"
    )
    busi_seq_ttl_seconds: int = Field(default=300, description="lifetime of a busiSeq")
    session_ttl_seconds: int = Field(default=8 * 3600, description="lifetime of a MAC session")
    qr_code_ttl_seconds: int = Field(default=60, description="lifetime of an online QR code (at most 60)")
    login_code_ttl_seconds: int = Field(
        default=120, description="lifetime of a scan-to-login code (at most 120)"
    )
    login_events_interval_seconds: float = Field(
        default=0.5, description="how often a login event stream looks for a status change"
    )
    offline_certificate_ttl_seconds: int = Field(
        default=24 * 3600, description="how long a device may make offline codes without the network"
    )
    status_list_interval_seconds: int = Field(
        default=300, description="how often terminals should refresh the offline status list"
    )
    idempotency_ttl_seconds: int = Field(
        default=24 * 3600, description="how long the first answer to an Idempotency-Key is kept for retries"
    )
    password_max_failures: int = Field(default=5, description="wrong e-card passwords before lockout")
    password_lockout_minutes: int = Field(default=30, description="how long a locked password stays locked")
    oidc_logins_per_minute_per_source: int = Field(
        default=30, description="holder login attempts at the OpenID provider per source address per minute"
    )
    oidc_logins_per_minute_per_client: int = Field(
        default=600, description="holder login attempts at the OpenID provider per relying party per minute"
    )
    webhook_max_attempts: int = Field(default=12, description="deliveries tried before a webhook is dead")
    webhook_timeout_seconds: float = Field(default=5.0)
    run_dispatcher: bool = Field(default=True, description="deliver webhooks from inside the API process")
    public_url: str = Field(default="http://127.0.0.1:8000")
    audit_origin: str = Field(
        default="essc.example/audit", description="prefix of the audit logs' origins: <prefix>/<province>"
    )
    run_sequencer: bool = Field(
        default=True, description="sequence the audit logs from inside the API process"
    )
    audit_sequence_interval_seconds: float = Field(default=1.0, description="how often the sequencer runs")
