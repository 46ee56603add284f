/**
 * Browser tours of the KSeF screens, started by tests/test_ui_tours.py.
 *
 * Selectors use technical names (buttons, fields, setting ids) and raw selection
 * values, never translated labels, so the tours run in any user language. The
 * outcome on the KSeF side is asserted in Python after each tour.
 */
import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";

const tours = registry.category("web_tour.tours");

/** Fail the tour with a readable message (a thrown error stops it). */
function check(condition, message) {
    if (!condition) {
        throw new Error(`KSeF tour check failed: ${message}`);
    }
}

/** Names shown as tags in a many2many_tags field of the open dialog. */
function dialogTags(fieldName) {
    return [...document.querySelectorAll(`.modal div[name="${fieldName}"] .o_tag`)].map((tag) =>
        tag.textContent.trim()
    );
}

/**
 * Invoice form: banner, "Send to KSeF" button, sending wizard, queued state.
 * Started on the form of one posted customer invoice in state 'not_sent'.
 */
tours.add("l10n_pl_ksef_invoice_form_send", {
    steps: () => {
        let invoiceName = "";
        return [
            {
                content: "The KSeF banner tells the next step of a posted invoice",
                trigger: '.o_form_view div[name="l10n_pl_ksef_banner"] .o_field_widget[name="l10n_pl_ksef_next_step"]:not(:empty)',
            },
            {
                content: "Remember the invoice number shown on the form",
                trigger: '.o_form_view .oe_title .o_field_widget[name="name"]',
                run() {
                    invoiceName = this.anchor.textContent.trim();
                    check(invoiceName && invoiceName !== "/", `the posted invoice has a number, got "${invoiceName}"`);
                },
            },
            {
                content: "Open the KSeF tab",
                trigger: '.o_notebook_headers a[name="l10n_pl_ksef"]',
                run: "click",
            },
            {
                content: "The invoice is not sent yet",
                trigger: '.o_notebook div[name="l10n_pl_ksef_state"] [raw-value="not_sent"]',
            },
            {
                content: "Click Send to KSeF",
                trigger: '.o_form_statusbar button[name="action_l10n_pl_ksef_send"]',
                run: "click",
            },
            {
                content: "The wizard lists the invoice as sendable",
                trigger: '.modal div[name="ready_move_ids"] .o_tag',
                run() {
                    const ready = dialogTags("ready_move_ids");
                    check(
                        ready.length === 1 && ready[0].includes(invoiceName),
                        `wizard should list only ${invoiceName} as sendable, lists ${JSON.stringify(ready)}`
                    );
                    check(
                        !document.querySelector('.modal div[name="blocked_move_ids"]'),
                        "no invoice should be listed as blocked"
                    );
                },
            },
            {
                content: "Queue it",
                trigger: '.modal footer button[name="action_queue"]',
                run: "click",
            },
            {
                content: "A success notification confirms the queueing",
                trigger: ".o_notification:has(.o_notification_bar.bg-success)",
            },
            {
                content: "The wizard is closed",
                trigger: "body:not(:has(.modal))",
            },
            {
                content: "The KSeF state is now queued",
                trigger: '.o_notebook div[name="l10n_pl_ksef_state"] [raw-value="queued"]',
            },
            {
                content: "The banner is still shown, and Send to KSeF is gone",
                trigger: '.o_form_view:has(div[name="l10n_pl_ksef_banner"]):not(:has(button[name="action_l10n_pl_ksef_send"]))',
            },
        ];
    },
});

/**
 * Invoicing settings: the KSeF block and its credentials section (KSeF manager),
 * then "Test connection" against the configured environment.
 */
tours.add("l10n_pl_ksef_settings_test_connection", {
    steps: () => [
        {
            content: "KSeF environment setting, on the custom (emulator) URL",
            trigger: '#l10n_pl_ksef_environment_setting div[name="l10n_pl_ksef_custom_url"] input',
            run() {
                check(/^https?:\/\/.+\/v2$/.test(this.anchor.value),
                      `custom KSeF URL should be the emulator's, got "${this.anchor.value}"`);
            },
        },
        {
            content: "Authentication setting, by KSeF token",
            trigger: '#l10n_pl_ksef_auth_setting div[name="l10n_pl_ksef_auth_method"] input[data-value="token"]:checked',
        },
        {
            content: "Credentials: certificates and tokens counters",
            trigger: '#l10n_pl_ksef_certificates_setting div[name="l10n_pl_ksef_certificate_count"]',
        },
        {
            content: "Credentials: the token count shows the configured token",
            trigger: '#l10n_pl_ksef_tokens_setting div[name="l10n_pl_ksef_token_count"]',
            run() {
                check(parseInt(this.anchor.textContent.trim(), 10) >= 1,
                      `token count should be at least 1, got "${this.anchor.textContent.trim()}"`);
            },
        },
        {
            content: "Credentials actions reserved to KSeF managers are offered",
            trigger: '#l10n_pl_ksef_tokens_setting button[name="action_l10n_pl_ksef_sync_tokens"]',
        },
        {
            content: "Click Test connection",
            trigger: '#l10n_pl_ksef_environment_setting button[name="action_l10n_pl_ksef_test_connection"]',
            run: "click",
        },
        {
            content: "A success notification reports the connection",
            trigger: ".o_notification:has(.o_notification_bar.bg-success)",
            run() {
                check(!document.querySelector(".o_notification .o_notification_bar.bg-danger"),
                      "no failure notification should be shown");
            },
        },
    ],
});

/**
 * Invoice list: select two invoices (of the buyers named in the test data), action
 * "Send to KSeF", the wizard lists both, queue them.
 */
tours.add("l10n_pl_ksef_invoice_list_send", {
    steps: () => [
        {
            content: "Select the first invoice",
            trigger: '.o_list_renderer tr.o_data_row:has(td:contains("KSeF tour buyer A")) .o_list_record_selector input[type="checkbox"]',
            run: "click",
        },
        {
            content: "Select the second invoice",
            trigger: '.o_list_renderer tr.o_data_row:has(td:contains("KSeF tour buyer B")) .o_list_record_selector input[type="checkbox"]',
            run: "click",
        },
        {
            content: "Exactly the two invoices are selected",
            trigger: '.o_list_renderer tr.o_data_row:has(td:contains("KSeF tour buyer B")) .o_list_record_selector input:checked',
            run() {
                const checked = document.querySelectorAll(
                    ".o_list_renderer tr.o_data_row .o_list_record_selector input:checked"
                );
                check(checked.length === 2, `two invoices should be selected, ${checked.length} are`);
            },
        },
        {
            content: "Open the Actions menu",
            trigger: ".o_control_panel .o_cp_action_menus button:has(.fa-cog)",
            run: "click",
        },
        {
            content: "Choose Send to KSeF (found by its action's name in the user's language)",
            trigger: ".o-dropdown--menu .o-dropdown-item",
            async run(helpers) {
                const action = await rpc("/web/action/load", {
                    action_id: "l10n_pl_ksef.action_l10n_pl_ksef_send_selection",
                });
                const item = [...document.querySelectorAll(".o-dropdown--menu .o-dropdown-item")].find(
                    (element) => element.textContent.trim() === action.name
                );
                check(item, `the Actions menu should offer "${action.name}"`);
                await helpers.click(item);
            },
        },
        {
            content: "The wizard lists both invoices as sendable",
            trigger: '.modal div[name="ready_move_ids"] .o_tag',
            run() {
                const ready = dialogTags("ready_move_ids");
                check(ready.length === 2, `wizard should list 2 sendable invoices, lists ${JSON.stringify(ready)}`);
            },
        },
        {
            content: "Queue them",
            trigger: '.modal footer button[name="action_queue"]',
            run: "click",
        },
        {
            content: "A success notification confirms the queueing",
            trigger: ".o_notification:has(.o_notification_bar.bg-success)",
        },
        {
            content: "The wizard is closed",
            trigger: "body:not(:has(.modal))",
        },
    ],
});

/** The label of a selection value in the user's language (tours never hard-code labels). */
async function selectionLabel(model, field, value) {
    const fields = await rpc("/web/dataset/call_kw", {
        model,
        method: "fields_get",
        args: [[field]],
        kwargs: { attributes: ["selection"], context: user.context },
    });
    const pair = fields[field].selection.find(([key]) => key === value);
    check(pair, `${model}.${field} has the value ${value}`);
    return pair[1];
}

/**
 * Settings, as on the first day: choose the KSeF environment (the custom one, the emulator),
 * keep token authentication, switch on automatic sending, save, then test the connection.
 */
tours.add("l10n_pl_ksef_settings_setup", {
    steps: () => [
        {
            content: "Open the KSeF environment choices",
            trigger: '#l10n_pl_ksef_environment_setting div[name="l10n_pl_ksef_environment"] .o_select_menu_toggler',
            timeout: 30000,
            run: "click",
        },
        {
            content: "Choose the custom environment (the emulator)",
            trigger: ".o_select_menu_item",
            async run(helpers) {
                const label = await selectionLabel("res.company", "l10n_pl_ksef_environment", "custom");
                const item = [...document.querySelectorAll(".o_select_menu_item")].find(
                    (element) => element.textContent.trim() === label
                );
                check(item, `the environment list offers "${label}"`);
                await helpers.click(item);
            },
        },
        {
            content: "The custom URL field appears, with the emulator's address",
            trigger: '#l10n_pl_ksef_environment_setting div[name="l10n_pl_ksef_custom_url"] input',
            run() {
                check(/^https?:\/\/.+\/v2$/.test(this.anchor.value), `URL is "${this.anchor.value}"`);
            },
        },
        {
            content: "Authentication by KSeF token",
            trigger: '#l10n_pl_ksef_auth_setting div[name="l10n_pl_ksef_auth_method"] input[data-value="token"]',
            run: "click",
        },
        {
            content: "Send posted invoices automatically",
            trigger: '#l10n_pl_ksef_auto_send_setting div[name="l10n_pl_ksef_auto_send"] input[type="checkbox"]:not(:checked)',
            run: "click",
        },
        {
            content: "Save the settings (the page reloads)",
            trigger: ".o_control_panel .o_form_button_save",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Saved and reloaded: automatic sending is on",
            trigger: '#l10n_pl_ksef_auto_send_setting div[name="l10n_pl_ksef_auto_send"] input:checked',
            timeout: 30000,
        },
        {
            content: "Click Test connection",
            trigger: '#l10n_pl_ksef_environment_setting button[name="action_l10n_pl_ksef_test_connection"]',
            run: "click",
        },
        {
            content: "A success notification reports the connection",
            trigger: ".o_notification:has(.o_notification_bar.bg-success)",
        },
    ],
});

/**
 * A draft invoice: post it, then "Send" (Odoo's dialog) with the KSeF option ticked. Nothing
 * is e-mailed nor rendered yet: the invoice goes to KSeF first.
 */
tours.add("l10n_pl_ksef_post_and_send", {
    steps: () => [
        {
            content: "Post the draft invoice",
            trigger: '.o_form_statusbar button[name="action_post"]:not(.d-none)',
            timeout: 30000,
            run: "click",
        },
        {
            content: "Posted: the one call to action is Send to KSeF",
            trigger: '.o_form_statusbar button[name="action_l10n_pl_ksef_send"].btn-primary',
        },
        {
            content: "Odoo's Send is offered too, not highlighted",
            trigger: '.o_form_statusbar button[name="action_invoice_sent"]:not(.oe_highlight):not(.btn-primary)',
            run: "click",
        },
        {
            content: "The KSeF option of the Send dialog is ticked",
            trigger: '.modal div[name="extra_edi_checkboxes"] input#l10n_pl_ksef_send:checked',
        },
        {
            content: "The dialog says the PDF waits for the KSeF number",
            trigger: '.modal div[name="alerts"]:contains("KOD I")',
        },
        {
            content: "Send",
            trigger: '.modal footer button[name="action_send_and_print"]',
            run: "click",
        },
        {
            content: "A notification says the invoice went to KSeF",
            trigger: ".o_notification:has(.o_notification_bar.bg-success)",
        },
        {
            content: "The dialog is closed",
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "The form shows the invoice on its way to KSeF",
            trigger: '.o_form_view div[name="l10n_pl_ksef_banner"]:not(.d-none)',
        },
    ],
});

/**
 * An invoice KSeF accepted: the form shows the number in the banner, and the KSeF tab the
 * readable UPO beside its XML.
 */
tours.add("l10n_pl_ksef_accepted_invoice", {
    steps: () => [
        {
            content: "The accepted banner shows the KSeF number",
            trigger: '.o_form_view div[name="l10n_pl_ksef_accepted_banner"] .o_field_widget[name="l10n_pl_ksef_number"]:not(:empty)',
            timeout: 30000,
        },
        {
            content: "Open the KSeF tab",
            trigger: '.o_notebook_headers a[name="l10n_pl_ksef"]',
            run: "click",
        },
        {
            content: "The XML of the UPO can be downloaded",
            trigger: '.o_notebook button[name="action_l10n_pl_ksef_download_upo"]',
        },
        {
            content: "Show the UPO",
            trigger: '.o_notebook button[name="action_l10n_pl_ksef_show_upo"]',
            run: "click",
        },
        {
            content: "The UPO is shown readable, with the KSeF number",
            trigger: ":iframe .l10n_pl_ksef_upo table td.fw-bold",
            timeout: 30000,
            run() {
                check(/^\d{10}-\d{8}-[0-9A-F]{12}-[0-9A-F]{2}$/.test(this.anchor.textContent.trim()),
                      `the UPO shows a KSeF number, got "${this.anchor.textContent.trim()}"`);
            },
        },
    ],
});

/**
 * Credit note of an accepted invoice: "Credit Note", a reason, then post and Send to KSeF.
 */
tours.add("l10n_pl_ksef_credit_note", {
    steps: () => [
        {
            content: "Click Credit Note",
            trigger: '.o_form_statusbar button[name="action_reverse"]',
            timeout: 30000,
            run: "click",
        },
        {
            content: "Type the reason",
            trigger: '.modal div[name="reason"] input',
            run: "edit Zwrot towaru",
        },
        {
            content: "Create the credit note",
            trigger: '.modal footer button[name="refund_moves"]',
            run: "click",
        },
        {
            content: "The draft credit note is open",
            trigger: '.o_form_view:has(.o_form_statusbar button[name="action_post"]:not(.d-none)) .o_notebook_headers a[name="l10n_pl_ksef"]',
            timeout: 30000,
            run: "click",
        },
        {
            content: "Correction reason is the one typed",
            trigger: '.o_notebook div[name="l10n_pl_ksef_correction_reason"] input',
            run() {
                check(this.anchor.value === "Zwrot towaru", `correction reason is "${this.anchor.value}"`);
            },
        },
        {
            content: "Post the credit note",
            trigger: '.o_form_statusbar button[name="action_post"]:not(.d-none)',
            timeout: 30000,
            run: "click",
        },
        {
            content: "Send it to KSeF",
            trigger: '.o_form_statusbar button[name="action_l10n_pl_ksef_send"]',
            run: "click",
        },
        {
            content: "Queue it",
            trigger: '.modal footer button[name="action_queue"]',
            run: "click",
        },
        {
            content: "Queued",
            trigger: ".o_notification:has(.o_notification_bar.bg-success)",
        },
        {
            content: "The wizard is closed",
            trigger: "body:not(:has(.modal))",
        },
    ],
});

/**
 * Accounting > KSeF > Receive invoices, then open the first bill received.
 */
tours.add("l10n_pl_ksef_receive_bills", {
    steps: () => [
        {
            content: "Open the KSeF menu",
            trigger: '.o_main_navbar [data-menu-xmlid="l10n_pl_ksef.menu_l10n_pl_ksef_root"]',
            timeout: 30000,
            run: "click",
        },
        {
            content: "Receive invoices",
            trigger: '.o-dropdown--menu [data-menu-xmlid="l10n_pl_ksef.menu_l10n_pl_ksef_receive_invoices"]',
            run: "click",
        },
        {
            content: "The bill just received is listed; open it",
            trigger: '.o_list_renderer tr.o_data_row:has(td:contains("Hurtownia")) td.o_data_cell',
            timeout: 30000,
            run: "click",
        },
        {
            content: "The bill says it came from KSeF, with its number",
            trigger: '.o_form_view div[name="l10n_pl_ksef_received_banner"] .o_field_widget[name="l10n_pl_ksef_number"]:not(:empty)',
        },
        {
            content: "No 'not sent' KSeF state on a received bill",
            trigger: '.o_form_view:not(:has(div[name="l10n_pl_ksef_banner"]:not(.d-none)))',
        },
    ],
});

/**
 * Issue offline: button, choose offline24, confirm. The PDF's codes are checked in Python.
 */
tours.add("l10n_pl_ksef_issue_offline", {
    steps: () => [
        {
            content: "Click Issue offline",
            trigger: '.o_form_statusbar button[name="action_l10n_pl_ksef_issue_offline"]',
            timeout: 30000,
            run: "click",
        },
        {
            content: "Choose offline24",
            trigger: '.modal div[name="mode"] input[data-value="offline24"]',
            run: "click",
        },
        {
            content: "Issue it",
            trigger: '.modal footer button[name="action_issue_offline"]',
            run: "click",
        },
        {
            content: "The wizard is closed",
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "The banner says it is issued offline",
            trigger: '.o_form_view div[name="l10n_pl_ksef_banner"] .o_field_widget[name="l10n_pl_ksef_next_step"]:not(:empty)',
        },
    ],
});

/**
 * The form follows KSeF by itself: the user sends the invoice to KSeF and leaves the form open;
 * the scheduled action (run by the test beside the browser) sends it and KSeF accepts it; the form
 * then shows "Accepted" in the user's language and the KSeF number, without any click or reload.
 */
tours.add("l10n_pl_ksef_form_updates_by_itself", {
    steps: () => {
        let acceptedLabel = "";
        return [
            {
                content: "The form is open on the posted invoice, not sent yet",
                trigger: '.o_form_statusbar button[name="action_l10n_pl_ksef_send"]',
                timeout: 30000,
                async run() {
                    // Gone if the page reloads: proves the form was not reloaded.
                    window.__l10nPlKsefSamePage = true;
                    acceptedLabel = await selectionLabel("account.move", "l10n_pl_ksef_state", "accepted");
                },
            },
            {
                content: "Open the KSeF tab",
                trigger: '.o_notebook_headers a[name="l10n_pl_ksef"]',
                run: "click",
            },
            {
                content: "Click Send to KSeF",
                trigger: '.o_form_statusbar button[name="action_l10n_pl_ksef_send"]',
                run: "click",
            },
            {
                content: "Queue it",
                trigger: '.modal footer button[name="action_queue"]',
                run: "click",
            },
            {
                content: "The wizard is closed",
                trigger: "body:not(:has(.modal))",
            },
            {
                content: "The KSeF state is queued",
                trigger: '.o_notebook div[name="l10n_pl_ksef_state"] [raw-value="queued"]',
            },
            {
                content: "Wait, without touching anything, until the form shows the invoice has left the queue",
                trigger: '.o_notebook div[name="l10n_pl_ksef_state"] [raw-value]:not([raw-value="queued"])',
                timeout: 60000,
            },
            {
                content: "Wait, without touching anything, until the form shows the invoice accepted",
                trigger: '.o_notebook div[name="l10n_pl_ksef_state"] [raw-value="accepted"]',
                timeout: 60000,
                run() {
                    check(this.anchor.textContent.trim() === acceptedLabel,
                          `the state reads "${acceptedLabel}", shows "${this.anchor.textContent.trim()}"`);
                },
            },
            {
                content: "The accepted banner shows the KSeF number, on the same page",
                trigger: '.o_form_view div[name="l10n_pl_ksef_accepted_banner"] .o_field_widget[name="l10n_pl_ksef_number"]:not(:empty)',
                run() {
                    const number = this.anchor.textContent.trim();
                    check(/^\d{10}-\d{8}-[0-9A-F]{12}-[0-9A-F]{2}$/.test(number), `a KSeF number, got "${number}"`);
                    check(window.__l10nPlKsefSamePage === true, "the page was not reloaded");
                },
            },
        ];
    },
});
