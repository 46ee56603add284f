/**
 * Browser tours of the KSeF credentials dialogs, started by tests/test_credentials_tours.py
 * (Polish UI). The files come from attachments the test creates; the tour puts them in the
 * dialog's file inputs exactly as a user's file picker does. Messages are checked in Polish.
 */
import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";

const tours = registry.category("web_tour.tours");

/** The test's attachment ``name`` as a File, as the browser's file picker would give it. */
async function fileFromTestAttachment(name) {
    const [attachment] = await rpc("/web/dataset/call_kw/ir.attachment/search_read", {
        model: "ir.attachment",
        method: "search_read",
        args: [[["name", "=", name]], ["id"]],
        kwargs: {},
    });
    if (!attachment) {
        throw new Error(`KSeF tour: the test did not provide the file ${name}`);
    }
    const blob = await (await fetch(`/web/content/${attachment.id}?download=true`)).blob();
    return new File([blob], name, { type: "application/octet-stream" });
}

/** A step choosing ``fileName`` in the file input of the dialog's binary field ``fieldName``. */
function chooseFile(fieldName, fileName) {
    return {
        content: `Choose ${fileName} for ${fieldName}`,
        trigger: `.modal div[name="${fieldName}"] input[type="file"]:not(:visible)`,
        async run() {
            const transfer = new DataTransfer();
            transfer.items.add(await fileFromTestAttachment(fileName));
            this.anchor.files = transfer.files;
            this.anchor.dispatchEvent(new Event("change", { bubbles: true }));
        },
    };
}

function fileShown(fieldName, fileName) {
    return {
        content: `${fileName} is shown as chosen`,
        // Owl sets the value as a property, not an attribute: compare it in run().
        trigger: `.modal div[name="${fieldName}"] input.o_input`,
        run() {
            if (this.anchor.value !== fileName) {
                throw new Error(`KSeF tour: ${fieldName} shows "${this.anchor.value}", not ${fileName}`);
            }
        },
    };
}

function typePassword(password) {
    return {
        content: "Type the password",
        trigger: '.modal div[name="password"] input',
        run: `edit ${password}`,
    };
}

function pressUploadAndExpectError(polishText) {
    return [
        {
            content: "Press Upload",
            trigger: '.modal footer button[name="action_upload"]',
            run: "click",
        },
        {
            content: `A clear message in Polish: ${polishText}`,
            trigger: `.modal .o_error_dialog:contains("${polishText}")`,
        },
        {
            content: "Close the message",
            trigger: ".modal:has(.o_error_dialog) footer .btn-primary",
            run: "click",
        },
        {
            content: "The upload dialog is still open for a correction",
            trigger: 'body:not(:has(.o_error_dialog)) .modal footer button[name="action_upload"]',
        },
    ];
}

function openUploadDialog() {
    return [
        {
            content: "The KSeF credentials block of the settings",
            trigger: "#l10n_pl_ksef_certificates_setting",
        },
        {
            content: "Open the Upload certificate dialog (button found by its action)",
            trigger: "#l10n_pl_ksef_certificates_setting button",
            async run(helpers) {
                const action = await rpc("/web/action/load", {
                    action_id: "l10n_pl_ksef.action_ksef_certificate_upload",
                });
                const button = document.querySelector(
                    `#l10n_pl_ksef_certificates_setting button[name="${action.id}"]`
                );
                if (!button) {
                    throw new Error("KSeF tour: no Upload certificate button in the settings");
                }
                await helpers.click(button);
            },
        },
        {
            content: "The upload dialog is open",
            trigger: '.modal div[name="certificate_file"]',
        },
    ];
}

const uploadedSteps = [
    {
        content: "Press Upload",
        trigger: '.modal footer button[name="action_upload"]',
        run: "click",
    },
    {
        content: "The stored certificate opens, the dialog is gone",
        trigger: 'body:not(:has(.modal)) .o_form_view div[name="fingerprint"]:not(:empty)',
    },
];

/** .crt + encrypted .key + password: wrong key, then wrong password, then right. */
tours.add("l10n_pl_ksef_upload_crt_key", {
    steps: () => [
        ...openUploadDialog(),
        chooseFile("certificate_file", "ksef-tour.crt"),
        fileShown("certificate_file", "ksef-tour.crt"),
        chooseFile("key_file", "ksef-tour-other.key"),
        fileShown("key_file", "ksef-tour-other.key"),
        typePassword("Tour-Key-Pass-9"),
        ...pressUploadAndExpectError("nie należy do tego certyfikatu"),
        chooseFile("key_file", "ksef-tour.key"),
        fileShown("key_file", "ksef-tour.key"),
        typePassword("Not-The-Password-1"),
        ...pressUploadAndExpectError("hasło nie zostało podane lub jest nieprawidłowe"),
        typePassword("Tour-Key-Pass-9"),
        ...uploadedSteps,
    ],
});

/** .p12 + password: wrong password, then right. */
tours.add("l10n_pl_ksef_upload_p12", {
    steps: () => [
        ...openUploadDialog(),
        chooseFile("certificate_file", "ksef-tour.p12"),
        fileShown("certificate_file", "ksef-tour.p12"),
        {
            content: "No key file is asked for a .p12",
            trigger: '.modal:not(:has(div[name="key_file"])) div[name="password"]',
        },
        typePassword("Wrong-P12-Pass"),
        ...pressUploadAndExpectError("Nie można otworzyć pliku PKCS#12"),
        typePassword("Tour-P12-Pass-5"),
        ...uploadedSteps,
    ],
});
