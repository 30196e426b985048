"""Where uploaded and issued files live: the STORAGES setting, from STORAGE_URL.

Read by `config.settings` only; it imports nothing from the apps (their settings are not
loaded yet). The backends themselves are in `institutions.files`.

- empty or `file://` (the default): the local private folder MEDIA_ROOT/private;
- `s3://<bucket>[/<prefix>][?endpoint_url=…&region_name=…&addressing_style=path|virtual]`:
  an S3-compatible object store (django-storages and boto3). The keys come from
  S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or, when those are unset, from boto3's own chain
  (AWS_ACCESS_KEY_ID…, an instance role). Objects are written private (no ACL grant to anyone),
  and any signed URL would expire after S3_SIGNED_URL_SECONDS; the site serves files only
  through its access-checking views, streaming them, so it never hands one out.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured

LOCAL_BACKEND = "institutions.files.LocalPrivateStorage"
S3_BACKEND = "institutions.files.S3PrivateStorage"
#: The query parameters an s3:// STORAGE_URL may carry.
S3_PARAMETERS = frozenset({"endpoint_url", "region_name", "addressing_style"})


def private_storage_setting(
    url: str,
    *,
    access_key: str = "",
    secret_key: str = "",
    signed_url_seconds: int = 60,
    timeout_seconds: int = 10,
) -> dict[str, Any]:
    """The STORAGES entry of the private files for `url` (see the module's docstring)."""
    url = url.strip()
    if url in ("", "file://", "file:"):
        return {"BACKEND": LOCAL_BACKEND}
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.username or parts.password:
        raise ImproperlyConfigured(
            "Environment variable STORAGE_URL is malformed: use file:// (the local private "
            "folder) or s3://bucket/prefix?endpoint_url=https://host&region_name=name; the keys "
            "go in S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, not in the address."
        )
    query = parse_qs(parts.query, keep_blank_values=False, strict_parsing=False)
    unknown = sorted(set(query) - S3_PARAMETERS)
    if unknown or any(len(values) != 1 for values in query.values()):
        raise ImproperlyConfigured(
            "Environment variable STORAGE_URL is malformed: it may carry each of "
            f"{', '.join(sorted(S3_PARAMETERS))} once, not {', '.join(unknown) or 'a repeat'}."
        )
    options: dict[str, Any] = {
        "bucket_name": parts.netloc,
        "location": parts.path.strip("/"),
        "querystring_expire": signed_url_seconds,
        "timeout_seconds": timeout_seconds,
    }
    for key, (value,) in query.items():
        options[key] = value
    if options.get("addressing_style") not in (None, "path", "virtual", "auto"):
        raise ImproperlyConfigured(
            "Environment variable STORAGE_URL is malformed: addressing_style is path, virtual "
            "or auto."
        )
    if bool(access_key) != bool(secret_key):
        raise ImproperlyConfigured(
            "Set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither (boto3's own chain)."
        )
    if access_key:
        options["access_key"] = access_key
        options["secret_key"] = secret_key
    return {"BACKEND": S3_BACKEND, "OPTIONS": options}
