/**
 * Invoice form: reload the record by itself while KSeF is working on it (queued, sending,
 * waiting for KSeF), so the user sees "Accepted" and the KSeF number without reloading.
 * Polls only in those states, only when the form has no unsaved change, and slows down over time.
 */
import { FormController } from "@web/views/form/form_controller";
import { patch } from "@web/core/utils/patch";
import { onWillUnmount, useEffect } from "@odoo/owl";

const IN_FLIGHT = ["queued", "sending", "sent"];
const FIRST_DELAY = 3000;
const MAX_DELAY = 30000;

patch(FormController.prototype, {
    setup() {
        super.setup(...arguments);
        if (this.props.resModel !== "account.move") {
            return;
        }
        let timer = null;
        let delay = FIRST_DELAY;
        const stop = () => {
            clearTimeout(timer);
            timer = null;
        };
        const schedule = () => {
            stop();
            const record = this.model.root;
            if (!record || !record.resId || !IN_FLIGHT.includes(record.data.l10n_pl_ksef_state)) {
                delay = FIRST_DELAY;
                return;
            }
            timer = setTimeout(async () => {
                timer = null;
                const current = this.model.root;
                if (current && current.resId === record.resId && !(await current.isDirty())) {
                    await current.load();
                }
                delay = Math.min(delay * 1.5, MAX_DELAY);
                schedule();
            }, delay);
        };
        useEffect(
            () => {
                schedule();
            },
            () => [this.model.root?.resId, this.model.root?.data?.l10n_pl_ksef_state]
        );
        onWillUnmount(stop);
    },
});
