"""Polling helpers for end-to-end tests (the emulator works asynchronously like KSeF)."""
import time


def wait_until(fetch, done, timeout=20.0, interval=0.1):
    """Call ``fetch()`` until ``done(result)`` or ``timeout`` seconds; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def wait_for_invoice(client, session_reference, invoice_reference, timeout=20.0):
    """Invoice status once it left 100/150."""
    return wait_until(lambda: client.get_invoice_status(session_reference, invoice_reference),
                      lambda status: status.code not in (100, 150), timeout)


def wait_for_session(client, session_reference, timeout=20.0):
    """Session status once it is final (not 100 open, 150 processing, 170 closed without UPO)."""
    return wait_until(lambda: client.get_session_status(session_reference),
                      lambda status: status.code not in (100, 150, 170) and (
                          status.code != 200 or status.upo_pages), timeout)
