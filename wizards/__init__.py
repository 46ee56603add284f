from . import ksef_send_wizard
from . import ksef_offline_wizard
from . import ksef_certificate_upload
from . import ksef_certificate_generate
from . import ksef_certificate_request
from . import ksef_token_generate
from . import ksef_certificate_switch
from . import ksef_permission_grant
