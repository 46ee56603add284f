"""Batch session endpoints: open, upload parts to pre-signed URLs, close (digest §5)."""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import List

from .errors import KsefProtocolError
from .forms import FA3_FORM_CODE
from .public_keys import USAGE_SYMMETRIC_KEY


@dataclass
class BatchSessionInfo:
    """An opened batch session with one pre-signed upload request per part."""

    reference_number: str
    part_upload_requests: List[dict] = field(default_factory=list)


class BatchApiMixin:
    """``open_batch_session`` / ``upload_batch_parts`` / ``close_batch_session``."""

    def open_batch_session(self, key, archive, form_code=FA3_FORM_CODE, offline_mode=False):
        """``POST /sessions/batch`` declaring ``archive`` (a :class:`~ksef_protocol.batch.BatchArchive`)."""
        def send(certificate):
            return self._request("POST", "/sessions/batch", rate_group="batchSession", expected=(201,), json={
                "formCode": dict(form_code), "batchFile": archive.batch_file_info(key),
                "encryption": key.encryption_info(certificate), "offlineMode": bool(offline_mode)})
        payload = self._with_public_key(USAGE_SYMMETRIC_KEY, send)
        try:
            return BatchSessionInfo(payload["referenceNumber"], list(payload.get("partUploadRequests") or []))
        except (TypeError, KeyError):
            raise KsefProtocolError("KSeF open-batch response has no referenceNumber.")

    def upload_batch_parts(self, batch_session_info, key, archive, max_workers=4):
        """PUT every encrypted part to its pre-signed URL with exactly the given method and headers.

        The access token is NOT sent (the URL carries its own authorisation); uploads
        are not rate-limited, so they run in parallel (``max_workers``).
        """
        encrypted = archive.encrypted_parts(key)
        requests_by_number = {int(r["ordinalNumber"]): r for r in batch_session_info.part_upload_requests}
        missing = set(range(1, len(encrypted) + 1)) - set(requests_by_number)
        if missing:
            raise KsefProtocolError("KSeF returned no upload URL for batch part(s) %s." % sorted(missing))

        def upload(number):
            request = requests_by_number[number]
            self._request(request.get("method") or "PUT", request["url"], data=encrypted[number - 1],
                          headers=dict(request.get("headers") or {}), auth="none", rate_group=None,
                          expected=(201,), raw=True)

        numbers = sorted(requests_by_number)
        if max_workers <= 1 or len(numbers) == 1:
            for number in numbers:
                upload(number)
        else:
            with ThreadPoolExecutor(max_workers=max_workers) as pool:
                list(pool.map(upload, numbers))

    def close_batch_session(self, reference):
        """``POST /sessions/batch/{ref}/close``: starts processing (always close, or it becomes 440)."""
        self._request("POST", "/sessions/batch/%s/close" % reference, rate_group="batchSessionClose",
                      expected=(204,))
