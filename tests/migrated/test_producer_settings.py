"""Producer settings: validation, redaction, and the librdkafka dict of each auth mode."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from migrated._exceptions import ProducerConfigError
from migrated._msk import msk_oauth_callback
from migrated._producer_settings import ProducerSettings, librdkafka_config

SPOOL = Path("/tmp/spool")

AUTH_CASES = [
    pytest.param({"auth": "plaintext"}, {"security.protocol": "PLAINTEXT"}, id="plaintext"),
    pytest.param(
        {"auth": "scram", "username": "u", "password": "p", "ca_file": "/ca.pem"},
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "u",
            "sasl.password": "p",
            "ssl.ca.location": "/ca.pem",
        },
        id="scram",
    ),
    pytest.param(
        {"auth": "iam", "region": "eu-west-1"},
        {"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER"},
        id="iam",
    ),
    pytest.param(
        {"auth": "mtls", "cert_file": "/c.pem", "key_file": "/k.pem"},
        {
            "security.protocol": "SSL",
            "ssl.certificate.location": "/c.pem",
            "ssl.key.location": "/k.pem",
        },
        id="mtls",
    ),
]


@pytest.mark.parametrize(("given", "expected"), AUTH_CASES)
def test_auth_modes_map_to_librdkafka(given: dict[str, Any], expected: dict[str, Any]) -> None:
    """Each auth mode yields exactly the MSK client settings of the notes."""
    config = librdkafka_config(ProducerSettings("b:9096", SPOOL, **given))
    assert {k: config[k] for k in expected} == expected
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert config["message.timeout.ms"] == 120_000
    assert ("oauth_cb" in config) == (given["auth"] == "iam")


def test_defaults_bound_the_queue_and_batch() -> None:
    """The defaults set linger, lz4, and the queue bounds."""
    config = librdkafka_config(ProducerSettings("b:9092", SPOOL, queue_max_messages=7))
    assert config["linger.ms"] == 0.5  # an acked answer waits for the batch: short by default
    assert config["compression.type"] == "lz4"
    assert config["queue.buffering.max.messages"] == 7


def test_linger_takes_fractions_of_a_millisecond() -> None:
    """librdkafka's linger.ms is a double: a fraction is passed on as it is."""
    config = librdkafka_config(ProducerSettings("b:9092", SPOOL, linger_ms=0.25))
    assert config["linger.ms"] == 0.25


def test_repr_never_shows_the_password() -> None:
    """repr and str redact the SCRAM password."""
    settings = ProducerSettings("b:9096", SPOOL, auth="scram", username="u", password="hunter2")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)
    assert "password='***'" in repr(settings)


@pytest.mark.parametrize(
    ("given", "key"),
    [
        pytest.param({"auth": "kerberos"}, "auth", id="unknown-auth"),
        pytest.param({"auth": "scram", "username": "u"}, "password", id="scram-no-password"),
        pytest.param({"auth": "iam"}, "region", id="iam-no-region"),
        pytest.param({"auth": "mtls", "cert_file": "/c"}, "key_file", id="mtls-no-key"),
        pytest.param({"compression": "brotli"}, "compression", id="bad-compression"),
        pytest.param({"message_timeout": 0}, "message_timeout", id="zero-timeout"),
        pytest.param({"linger_ms": -1.0}, "linger_ms", id="negative-linger"),
        pytest.param({"wakeup": "signal"}, "wakeup", id="unknown-wakeup"),
    ],
)
def test_bad_settings_are_rejected_with_their_key(given: dict[str, Any], key: str) -> None:
    """An invalid or missing value raises ProducerConfigError naming the key."""
    with pytest.raises(ProducerConfigError) as info:
        ProducerSettings("b:9092", SPOOL, **given)
    assert info.value.key == key


def test_from_mapping_expands_the_password_from_the_environment() -> None:
    """${NAME} in the password is read from the environment given."""
    data = {
        "bootstrap_servers": "b:9096",
        "spool_dir": "/tmp/s",
        "auth": "scram",
        "username": "u",
        "password": "${MSK_PASSWORD}",
    }
    settings = ProducerSettings.from_mapping(data, env={"MSK_PASSWORD": "s3cret"})
    assert settings.password == "s3cret"
    assert settings.spool_dir == Path("/tmp/s")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"bootstrap_servers": "b", "spool_dir": "/s", "lingr_ms": 1},
                     "lingr_ms: unknown key", id="typo"),
        pytest.param({"bootstrap_servers": "b", "spool_dir": "/s", "auth": "scram",
                      "username": "u", "password": "${NOPE}"},
                     "password: environment variable NOPE is not set", id="missing-env"),
    ],
)  # fmt: skip
def test_from_mapping_rejects_typos_and_missing_variables(
    data: dict[str, Any], message: str
) -> None:
    """Unknown keys and unset variables fail at load time with the key path."""
    with pytest.raises(ProducerConfigError, match=message):
        ProducerSettings.from_mapping(data, env={})


def test_iam_callback_returns_a_token_and_its_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The oauth_cb signs with static credentials offline; expiry is ~900 s ahead, in seconds."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    oauth_cb = librdkafka_config(ProducerSettings("b:9098", SPOOL, auth="iam", region="eu-west-1"))[
        "oauth_cb"
    ]
    token, expiry = oauth_cb(None)
    assert isinstance(token, str)
    assert token
    assert 0 < expiry - time.time() <= 900
    assert msk_oauth_callback("eu-west-1")("ignored")[0]
