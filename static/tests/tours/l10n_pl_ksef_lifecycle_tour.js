/**
 * Reset to Draft of an invoice queued for KSeF (started by tests/test_lifecycle.py, Polish UI).
 *
 * The button is hidden while the invoice is queued; "Cancel KSeF sending" takes it out of the
 * queue, then Reset to Draft appears and works. Selectors use technical names only.
 */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("l10n_pl_ksef_lifecycle_reset_guard", {
    steps: () => [
        {
            content: "The invoice is queued for KSeF: the form shows the queued state",
            trigger: '.o_form_view .o_field_widget[name="l10n_pl_ksef_next_step"]:not(:empty)',
        },
        {
            content: "Reset to Draft is hidden while KSeF may receive the invoice",
            trigger: '.o_form_view .o_form_statusbar:not(:has(button[name="button_draft"]))',
        },
        {
            content: "Take the invoice out of the KSeF queue",
            trigger: '.o_form_view button[name="action_l10n_pl_ksef_cancel_sending"]',
            run: "click",
        },
        {
            content: "Confirm",
            trigger: ".modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "Reset to Draft is offered again",
            trigger: '.o_form_view .o_form_statusbar button[name="button_draft"]',
            run: "click",
        },
        {
            content: "The invoice is a draft",
            trigger: '.o_form_view .o_statusbar_status button[data-value="draft"].o_arrow_button_current',
        },
    ],
});
