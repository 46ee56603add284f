/**
 * Browser tour of the "KSeF permissions" screen, started by tests/test_office_tours.py (Polish UI).
 * Selectors use technical names, never translated labels. The KSeF side is asserted in Python.
 */
import { registry } from "@web/core/registry";

const OFFICE_NIP = "7740001454";

registry.category("web_tour.tours").add("l10n_pl_ksef_permissions_grant_revoke", {
    steps: () => [
        {
            content: "Open the grant dialog from the permissions list",
            trigger: '.o_list_view button[name="action_open_grant"]',
            run: "click",
        },
        {
            content: "Enter the office's NIP",
            trigger: '.modal div[name="identifier"] input',
            run: `edit ${OFFICE_NIP}`,
        },
        {
            content: "Enter the office's name",
            trigger: '.modal div[name="name"] input',
            run: "edit Biuro Rachunkowe Sp. z o.o.",
        },
        {
            content: "Grant (the dialog is saved, then its button runs)",
            trigger: '.modal footer button[name="action_grant"]',
            run: "click",
        },
        {
            content: "KSeF lists the office with its two permissions",
            trigger: `.o_list_view:not(:has(.modal)) tr.o_data_row:contains("${OFFICE_NIP}") + tr.o_data_row:contains("${OFFICE_NIP}")`,
        },
        {
            content: "Revoke the first of them",
            trigger: `.o_list_view tr.o_data_row:contains("${OFFICE_NIP}") button[name="action_revoke"]`,
            run: "click",
        },
        {
            content: "Confirm",
            trigger: ".modal footer .btn-primary",
            run: "click",
        },
        {
            content: "One permission of the office is left",
            trigger: `.o_list_view:not(:has(.modal)) tbody:not(:has(tr.o_data_row:contains("${OFFICE_NIP}") + tr.o_data_row:contains("${OFFICE_NIP}"))) tr.o_data_row:contains("${OFFICE_NIP}")`,
        },
    ],
});
