from . import ksef_credentials
