/**
 * Browser tours of the KSeF screens, started by tests/test_ui_tours.py.
 *
 * Selectors use technical names (buttons, fields, setting ids) and raw selection
 * values, never translated labels, so the tours run in any user language. The
 * outcome on the KSeF side is asserted in Python after each tour.
 */
import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";

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
