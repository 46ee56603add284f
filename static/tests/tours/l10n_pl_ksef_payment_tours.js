/**
 * Browser tour of paying several KSeF bills of one supplier in one payment, started by
 * tests/test_collective_identifiers.py (TestKsefCollectiveIdentifierTour). Selectors use technical names
 * only, so it runs in Polish; the IZ is checked in KSeF and in the database in Python afterwards.
 */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("l10n_pl_ksef_pay_bills_with_collective_identifier", {
    steps: () => [
        {
            content: "Select every bill of the list",
            trigger: ".o_list_view thead .o_list_record_selector input",
            run: "click",
        },
        {
            content: "Click Pay",
            trigger: '.o_control_panel button[name="action_force_register_payment"], .o_list_view button[name="action_force_register_payment"]',
            run: "click",
        },
        {
            content: "One payment for the supplier: group the payments",
            trigger: '.modal div[name="group_payment"] input',
            run: "click",
        },
        {
            content: "The dialog offers a KSeF collective identifier, ticked",
            trigger: '.modal div[name="l10n_pl_ksef_use_collective_id"] input:checked',
        },
        {
            content: "Create the payment",
            trigger: '.modal footer button[name="action_create_payments"]:visible',
            run: "click",
        },
        {
            content: "The payment shows the collective identifier KSeF gave",
            trigger: '.o_form_view .o_field_widget[name="l10n_pl_ksef_collective_identifier_id"] a:not(:empty), .o_form_view .o_field_widget[name="l10n_pl_ksef_collective_identifier_id"] span:not(:empty)',
        },
    ],
});
