"""The EKS bearer token: built as `aws eks get-token` builds it, and rejected by the validator for each way a
token can be malformed. No AWS call: presigning signs locally. Times are taken from the token itself."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.credentials import Credentials

from eksguard.aws.clients import Aws
from eksguard.aws.kube_token import (
    CLUSTER_HEADER,
    InvalidToken,
    TokenClaims,
    decode,
    eks_token,
    encode,
    presigned_url,
    validate,
)

CREDS = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "session-token")
REGION = "ap-northeast-2"
ENDPOINT = f"https://sts.{REGION}.amazonaws.com"


def secret(key: str) -> str | None:
    return CREDS.secret_key if key == CREDS.access_key else None


def token(cluster: str = "prod", endpoint: str = ENDPOINT) -> str:
    return encode(presigned_url(endpoint, cluster, REGION, CREDS))


def params(tok: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(decode(tok)).query).items()}


def signed_at(tok: str) -> datetime:
    return datetime.strptime(params(tok)["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def check(tok: str, cluster: str = "prod", after: timedelta = timedelta(seconds=5),
          local_hosts: tuple[str, ...] = ()) -> TokenClaims:
    """Validate ``tok`` at ``after`` past its signing time (read from a well-formed token of the same moment,
    so no test depends on the clock)."""
    return validate(tok, cluster, now=signed_at(token()) + after, region=REGION, secret_for=secret,
                    local_hosts=local_hosts)


def test_token_shape_is_get_tokens() -> None:
    tok = token()
    assert tok.startswith("k8s-aws-v1.") and "=" not in tok
    url = urlsplit(decode(tok))
    assert (url.scheme, url.netloc, url.path) == ("https", f"sts.{REGION}.amazonaws.com", "/")
    p = params(tok)
    assert (p["Action"], p["Version"], p["X-Amz-Expires"]) == ("GetCallerIdentity", "2011-06-15", "60")
    assert p["X-Amz-SignedHeaders"] == f"host;{CLUSTER_HEADER}"
    assert p["X-Amz-Credential"].split("/")[2:] == [REGION, "sts", "aws4_request"]
    assert p["X-Amz-Security-Token"] == "session-token"
    claims = check(tok)
    assert claims.signature_checked and claims.access_key_id == CREDS.access_key and claims.region == REGION


def test_eks_token_uses_the_projects_sts_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    session = boto3.session.Session(aws_access_key_id="AKIDLOCAL", aws_secret_access_key="s", region_name=REGION)
    assert urlsplit(decode(eks_token(Aws(REGION, session), "prod", REGION))).netloc == f"sts.{REGION}.amazonaws.com"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    local = decode(eks_token(Aws(REGION, boto3.session.Session(aws_access_key_id="AKIDLOCAL",
                                                               aws_secret_access_key="s", region_name=REGION)),
                             "prod", REGION))
    assert local.startswith("http://127.0.0.1:5000/?Action=GetCallerIdentity")


def _retoken(tok: str, old: str, new: str) -> str:
    return encode(decode(tok).replace(old, new))


@pytest.mark.parametrize(("bad", "reason"), [
    (lambda t: t.removeprefix("k8s-aws-v1."), "prefix"),
    (lambda t: t + "=" * (-len(t.removeprefix("k8s-aws-v1.")) % 4 or 4), "padded"),
    (lambda t: "k8s-aws-v1.!!!", "base64"),
    (lambda t: _retoken(t, "https://", "http://"), "scheme"),
    (lambda t: _retoken(t, "sts.ap-northeast-2.amazonaws.com", "sts.example.com"), "host"),
    (lambda t: _retoken(t, "Action=GetCallerIdentity", "Action=AssumeRole"), "GetCallerIdentity"),
    (lambda t: _retoken(t, "&Version=", "&Extra=1&Version="), "not allowed"),
    (lambda t: _retoken(t, "host%3Bx-k8s-aws-id", "host"), "not signed"),
    (lambda t: _retoken(t, "X-Amz-Expires=60", "X-Amz-Expires=901"), "X-Amz-Expires"),
    (lambda t: _retoken(t, "X-Amz-Signature=", "X-Amz-Signature=0"), "signature does not match"),
], ids=["no-prefix", "padded", "not-base64", "http", "foreign-host", "other-action", "extra-param",
        "cluster-header-unsigned", "expires-too-long", "altered-signature"])
def test_malformed_tokens_are_rejected(bad: Callable[[str], str], reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason):
        check(bad(token()))


def test_token_for_another_cluster_fails_the_signature() -> None:
    with pytest.raises(InvalidToken, match="another cluster than dev"):
        check(token("prod"), cluster="dev")


def test_expiry_is_fifteen_minutes_from_signing() -> None:
    assert check(token(), after=timedelta(minutes=14, seconds=59))
    with pytest.raises(InvalidToken, match="expired"):
        check(token(), after=timedelta(minutes=15, seconds=1))
    with pytest.raises(InvalidToken, match="future"):
        check(token(), after=-timedelta(minutes=16))


def test_local_sts_hosts_are_accepted_only_when_named() -> None:
    local = token(endpoint="http://127.0.0.1:5000")
    with pytest.raises(InvalidToken, match="scheme"):
        check(local)
    assert check(local, local_hosts=("127.0.0.1:5000",))


def test_unknown_access_key_checks_the_form_only() -> None:
    tok = encode(presigned_url(ENDPOINT, "prod", REGION, Credentials("AKIDOTHER", "x")))
    assert not check(tok).signature_checked
    assert base64.urlsafe_b64decode(tok.removeprefix("k8s-aws-v1.") + "==").startswith(b"https://")
