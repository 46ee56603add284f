"""What to tell the user when KSeF refuses or cannot answer a collective-identifier (IZ) request."""
from odoo.exceptions import UserError

from ..ksef_protocol.api_collective import collective_identifier_errors, find_ksef_numbers
from ..ksef_protocol.errors import (KsefBadRequest, KsefForbidden, KsefRateLimited, KsefServerError,
                                    KsefTransportError, KsefUnauthorized)


def collective_error_message(env, error, company):
    """A translated sentence for a ``KsefError`` raised by an IZ call, saying what to do."""
    _ = env._
    details = collective_identifier_errors(error)
    if isinstance(error, KsefBadRequest) and details:
        detail = details[0]
        numbers = find_ksef_numbers(" ".join(detail.details)) or [_("(not given)")]
        number = ", ".join(numbers)
        if detail.code == 71001:
            return _("KSeF does not find invoice %(number)s in the KSeF context of %(company)s (error 71001). If KSeF "
                     "accepted it only minutes ago, try again later; otherwise check the KSeF number on the invoice "
                     "and that the invoice was issued by or to %(company)s.", number=number, company=company.name)
        if detail.code == 71002:
            return _("Invoice %(number)s is already in 132 collective identifiers of %(company)s, the most KSeF "
                     "allows (error 71002). Reuse one of its collective identifiers, or pay this invoice quoting its "
                     "own KSeF number.", number=number, company=company.name)
        if detail.code == 71004:
            return _("Invoice %(number)s has another seller than the other invoices (error 71004): a collective "
                     "identifier groups invoices of one seller only. Pay or list that invoice separately.",
                     number=number)
        if detail.code == 71005:
            return _("KSeF number %(number)s is given twice (error 71005): two documents carry the same KSeF "
                     "number. Correct the KSeF number of one of them, then try again.", number=number)
        return _("KSeF refused the collective identifier with code %(code)s, which its documentation does not "
                 "describe (%(text)s). Pay the invoices quoting their own KSeF numbers instead, and report the code "
                 "to the KSeF helpdesk.", code=detail.code,
                 text="; ".join([detail.description] + detail.details))
    if isinstance(error, KsefForbidden):
        return _("The KSeF credential of %(company)s may not use collective identifiers: it needs one of the "
                 "permissions InvoiceRead, InvoiceWrite or CollectiveIdentifierManage in the company's KSeF "
                 "context. Ask the company's KSeF administrator to grant one, then try again.", company=company.name)
    if isinstance(error, KsefUnauthorized):
        return _("KSeF did not accept the login of %(company)s. Check the KSeF credential in Settings, then try "
                 "again.", company=company.name)
    if isinstance(error, KsefRateLimited):
        return _("KSeF limits collective-identifier requests (20 a second, 120 a minute, 240 an hour). Try again "
                 "in %(seconds)s seconds.", seconds=int(error.retry_after or 60))
    if isinstance(error, (KsefTransportError, KsefServerError)):
        return _("KSeF did not answer the collective-identifier request (%(error)s). Nothing was saved in Odoo; "
                 "try again in a few minutes: Odoo first looks up whether KSeF created the identifier anyway, so "
                 "none is created twice.", error=error)
    return _("KSeF refused the collective-identifier request: %(error)s", error=error)


def raise_collective_error(env, error, company):
    raise UserError(collective_error_message(env, error, company)) from error
