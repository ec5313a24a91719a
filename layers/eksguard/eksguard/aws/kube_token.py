"""The EKS bearer token, built as `aws eks get-token` and aws-iam-authenticator build it, and its validator.

A token is ``k8s-aws-v1.`` + unpadded base64url of a presigned STS ``GetCallerIdentity`` URL whose signed
headers include ``x-k8s-aws-id: <cluster name>``. The API server (EKS's authenticator) calls that URL with the
header set to its own cluster name: a token signed for another cluster fails STS's signature check. The URL
is signed with botocore's request signer against the STS endpoint the project's clients use (regional, or
``AWS_ENDPOINT_URL`` locally); nothing is sent to STS while building it.

``validate`` is what the local Kubernetes stand-in does instead of calling STS: the authenticator's format
checks, plus the signature recomputed with the secret of the access key when the caller knows it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import SplitResult, parse_qsl, urlsplit, urlunsplit

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.hooks import HierarchicalEmitter
from botocore.model import ServiceId
from botocore.signers import RequestSigner

from eksguard.aws.clients import Aws

PREFIX = "k8s-aws-v1."
CLUSTER_HEADER = "x-k8s-aws-id"
PRESIGN_EXPIRES = 60  # what get-token asks for; STS honours the signature for 15 min from X-Amz-Date anyway
TOKEN_LIFETIME = timedelta(minutes=15)
MAX_TOKEN_BYTES = 4096
_DATE = "%Y%m%dT%H%M%SZ"
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The query parameters the authenticator accepts (compared lower-case); anything else is rejected.
_ALLOWED_PARAMS = frozenset({"action", "version", "x-amz-algorithm", "x-amz-credential", "x-amz-date",
                             "x-amz-expires", "x-amz-security-token", "x-amz-signature", "x-amz-signedheaders"})


class InvalidToken(ValueError):
    """Not a well-formed EKS token for the cluster: the API server answers 401."""


def presigned_url(endpoint_url: str, cluster: str, region: str, credentials: Credentials) -> str:
    events = HierarchicalEmitter()  # no handlers: plain SigV4 query signing (the signer holds it weakly)
    signer = RequestSigner(ServiceId("sts"), region, "sts", "v4", credentials, events)
    request = {"method": "GET", "url": f"{endpoint_url.rstrip('/')}/?Action=GetCallerIdentity&Version=2011-06-15",
               "body": {}, "headers": {CLUSTER_HEADER: cluster}, "context": {}}
    return str(signer.generate_presigned_url(request, "GetCallerIdentity", expires_in=PRESIGN_EXPIRES,
                                             region_name=region))


def encode(url: str) -> str:
    return PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def eks_token(aws: Aws, cluster: str, region: str) -> str:
    """The bearer token for ``cluster`` (in ``region``) as the credentials of ``aws`` sign it."""
    credentials = aws.session.get_credentials()
    if credentials is None:
        raise InvalidToken("no AWS credentials to sign the EKS token with")
    endpoint = aws.client("sts", region).meta.endpoint_url  # regional STS, or AWS_ENDPOINT_URL(_STS)
    return encode(presigned_url(endpoint, cluster, region, credentials))


@dataclass(frozen=True)
class TokenClaims:
    """What a well-formed token says (not who signed it: only STS knows that)."""

    url: str
    access_key_id: str
    region: str
    signed_at: datetime
    signature_checked: bool


def decode(token: str) -> str:
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("token is too large")
    if not token.startswith(PREFIX):
        raise InvalidToken(f"token is missing the {PREFIX!r} prefix")
    body = token[len(PREFIX):]
    if "=" in body:
        raise InvalidToken("token is padded base64 (get-token strips the padding)")
    if body.strip(_B64URL):  # Python's decoder skips foreign characters; Go's (EKS's) rejects them
        raise InvalidToken("token is not base64url: characters outside the alphabet")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidToken(f"token is not base64url: {exc}") from None


def sts_hosts(region: str) -> frozenset[str]:
    """The STS host names EKS accepts for a cluster in ``region`` (regional and the legacy global one)."""
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return frozenset({f"sts.{region}{suffix}", f"sts{suffix}"})


def validate(token: str, cluster: str, *, now: datetime, region: str, local_hosts: Collection[str] = (),
             secret_for: Callable[[str], str | None] | None = None) -> TokenClaims:
    """Check ``token`` as EKS would for ``cluster``; raise InvalidToken with the reason.

    ``local_hosts`` (host[:port]) are accepted besides STS's own, over http too: the local STS stand-in.
    ``secret_for(access_key_id)``: when it returns a secret, the signature is recomputed with
    ``x-k8s-aws-id: <cluster>`` (what STS does when EKS calls the URL), so a token made for another cluster,
    or altered, is rejected. Without it only the form is checked."""
    url = decode(token)
    parts = urlsplit(url)
    local = parts.netloc in local_hosts
    if parts.scheme != "https" and not (local and parts.scheme == "http"):
        raise InvalidToken(f"unexpected scheme {parts.scheme!r} in the presigned URL")
    if not local and parts.netloc not in sts_hosts(region):
        raise InvalidToken(f"unexpected host {parts.netloc!r} in the presigned URL")
    if parts.path != "/":
        raise InvalidToken("unexpected path in the presigned URL")
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True):
        if key.lower() not in _ALLOWED_PARAMS:
            raise InvalidToken(f"query parameter {key!r} is not allowed")
        if key.lower() in params:
            raise InvalidToken(f"query parameter {key!r} is repeated")
        params[key.lower()] = value
    if params.get("action") != "GetCallerIdentity":
        raise InvalidToken("the presigned URL is not sts:GetCallerIdentity")
    signed = params.get("x-amz-signedheaders", "").lower().split(";")
    if CLUSTER_HEADER not in signed:
        raise InvalidToken(f"the {CLUSTER_HEADER} header is not signed")
    expires = params.get("x-amz-expires", "")
    # EKS's authenticator accepts 0..900 s (STS ignores it; get-token sends 60).
    if not expires.isdigit() or int(expires) > 900:
        raise InvalidToken(f"X-Amz-Expires {expires!r} is not 0..900")
    try:
        signed_at = datetime.strptime(params.get("x-amz-date", ""), _DATE).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidToken("X-Amz-Date is missing or malformed") from None
    if now > signed_at + TOKEN_LIFETIME:
        raise InvalidToken(f"token expired (signed {signed_at:%Y-%m-%dT%H:%M:%SZ}, valid 15 minutes)")
    if signed_at > now + TOKEN_LIFETIME:
        raise InvalidToken("X-Amz-Date is in the future")
    scope = params.get("x-amz-credential", "").split("/")
    if len(scope) != 5 or scope[3:] != ["sts", "aws4_request"] or scope[1] != signed_at.strftime("%Y%m%d"):
        raise InvalidToken("X-Amz-Credential is not an STS signing scope")
    secret = secret_for(scope[0]) if secret_for else None
    if secret is not None:
        _check_signature(parts, params, cluster, scope[2], secret, signed)
    return TokenClaims(url, scope[0], scope[2], signed_at, secret is not None)


def _check_signature(parts: SplitResult, params: dict[str, str], cluster: str, region: str, secret: str,
                     signed: list[str]) -> None:
    # The signer signed the URL before appending X-Amz-Signature: recompute over the same raw query.
    query = "&".join(p for p in parts.query.split("&") if not p.lower().startswith("x-amz-signature="))
    request = AWSRequest(method="GET", url=urlunsplit(parts._replace(query=query)),
                         headers={CLUSTER_HEADER: cluster})
    request.context["timestamp"] = params["x-amz-date"]
    auth = SigV4QueryAuth(Credentials(params["x-amz-credential"].split("/")[0], secret), "sts", region)
    if sorted(auth.headers_to_sign(request)) != sorted(signed):
        raise InvalidToken(f"signed headers {';'.join(signed)} are not host;{CLUSTER_HEADER}")
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    if not hmac.compare_digest(expected, params.get("x-amz-signature", "")):
        raise InvalidToken(f"signature does not match (a token for another cluster than {cluster}, or altered)")
