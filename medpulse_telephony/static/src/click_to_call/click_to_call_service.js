/**
 * Click-to-call in the browser: asks the server to send `commands/callback`, shows a
 * sticky "Calling… pick up your phone" notification, and follows the command through
 * the bus (`medpulse_telephony.command`, sent to this user when the PBX reports the
 * command's result or the call's events) until the operator's phone is connected.
 */
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { getBoundDevice } from "@medpulse_telephony/incoming_card/incoming_card_service";

export const clickToCallService = {
    dependencies: ["bus_service", "notification", "orm"],
    start(env, { bus_service, notification, orm }) {
        // command_id -> function closing its "Calling…" notification
        const pending = new Map();
        // Bus messages that beat the RPC's answer (the PBX can be that fast).
        const early = new Map();

        function closePending(commandId) {
            const close = pending.get(commandId);
            if (close) {
                close();
                pending.delete(commandId);
            }
        }

        function apply(payload) {
            if (!pending.has(payload.command_id)) {
                early.set(payload.command_id, payload);
                return;
            }
            if (payload.state === "failed") {
                closePending(payload.command_id);
                notification.add(payload.message || _t("The PBX could not place the call."), {
                    title: _t("Call failed"),
                    type: "danger",
                    sticky: true,
                });
            } else if (payload.phase === "operator_connected") {
                closePending(payload.command_id);
            } else if (payload.phase === "ended") {
                closePending(payload.command_id);
                if (payload.message) {
                    notification.add(payload.message, { type: "warning" });
                }
            }
        }

        bus_service.subscribe("medpulse_telephony.command", (payload) => {
            if (payload.kind === "callback") {
                apply(payload);
            }
        });
        bus_service.start();

        function showResult(result) {
            if (!result.ok) {
                notification.add(result.message, {
                    title: _t("Cannot place the call"),
                    type: "danger",
                    sticky: true,
                });
                return;
            }
            const close = notification.add(result.message, {
                title: _t("Calling…"),
                type: "info",
                sticky: true,
                className: "o_medpulse_calling",
            });
            pending.set(result.command_id, close);
            const earlier = early.get(result.command_id);
            if (earlier) {
                early.delete(result.command_id);
                apply(earlier);
            }
        }

        /**
         * Place a call to `number`; `resModel`/`resId` is the record it is placed from
         * (patient, appointment, call...), which links the call to it.
         */
        async function call(number, { resModel = false, resId = false } = {}) {
            const result = await orm.call(
                "medpulse.call.command",
                "action_click_to_call",
                [number],
                {
                    res_model: resModel || false,
                    res_id: resId || false,
                    // The desk phone bound to this browser (the incoming-card's systray choice).
                    desk_device_id: getBoundDevice(),
                }
            );
            showResult(result);
            return result;
        }

        return { call, showResult };
    },
};

registry.category("services").add("medpulse_click_to_call", clickToCallService);

/** Client action behind the "Call back" buttons of the journal: the browser dials. */
async function clickToCallAction(env, action) {
    const { number, res_model, res_id } = action.params || {};
    await env.services.medpulse_click_to_call.call(number, { resModel: res_model, resId: res_id });
}

registry.category("actions").add("medpulse_telephony.click_to_call", clickToCallAction);
