"""A local KSeF 2.0 emulator (``python -m ksef_emulator``). See README.md.

Independent of ``ksef_protocol`` on purpose: it implements the documented
behaviour from open-api.json and the official XSDs, so it catches client bugs.
"""
