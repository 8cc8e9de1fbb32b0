"""Authentication to AWS MSK with IAM: the OAUTHBEARER token callback.

librdkafka calls ``oauth_cb`` on its background thread (confluent-kafka 2.16)
whenever it needs a token, and refreshes at ~80% of the lifetime.  The signer
builds a SigV4-presigned token locally from the default AWS credential chain
(no network call when credentials come from the environment); it reports the
expiry in epoch milliseconds and librdkafka wants epoch seconds.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

OAuthCallback = Callable[[str | None], tuple[str, float]]


def msk_iam_token(region: str) -> tuple[str, float]:
    """A fresh MSK IAM token and its expiry time (epoch seconds, ~900 s ahead).

    Raises:
        botocore.exceptions.NoCredentialsError: no AWS credentials are available.
    """
    token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
    return str(token), int(expiry_ms) / 1000


def msk_oauth_callback(region: str) -> OAuthCallback:
    """The ``oauth_cb`` for librdkafka: ignores its config string, signs for ``region``."""

    def oauth_cb(_config: str | None) -> tuple[str, float]:
        return msk_iam_token(region)

    return oauth_cb
