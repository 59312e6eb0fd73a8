/**
 * What the Hoot tests of the incoming card share: the bus channel, a ringing call's card
 * payload as the server sends it (`medpulse.call._card_payload()`), and a started web client
 * with a way to push card messages on the bus.
 */
import { start, startServer } from "@mail/../tests/mail_test_helpers";
import { serverState } from "@web/../tests/web_test_helpers";

export const CARD = "medpulse_telephony.card";

/** A ringing call's card payload; `overrides` replaces any key. */
export function ringing(overrides = {}) {
    return {
        call_id: 42,
        entry_id: "E-42",
        status: "ringing",
        number: "+7 916 123-45-67",
        number_e164: "+79161234567",
        line: "Main line",
        created_at: "2026-03-02 09:00:00",
        answered_at: false,
        answered_by: "",
        device_id: false,
        routed: false,
        followup_state: "new",
        followup_note: "",
        followup_states: [
            ["new", "New"],
            ["needs_callback", "Needs callback"],
            ["resolved", "Resolved"],
        ],
        restricted: false,
        patient_id: 7,
        patients: [
            {
                id: 7,
                name: "Ivanova Anna Petrovna",
                card_number: "P-0007",
                last_visit_at: "2026-02-20 06:30:00",
                last_service: "Therapist consultation",
                next_appointment: false,
                consent_call: true,
                consent_sms: true,
            },
        ],
        appointments: [],
        recent_calls: 2,
        can_sms: true,
        ...overrides,
    };
}

/**
 * Start the web client (a second tab with `{ asTab: true }`) on a mock server;
 * `send(payload)` pushes a card message to the current user on the bus.
 */
export async function startCardClient(options) {
    const pyEnv = await startServer();
    const env = await start(options);
    const send = (payload) => pyEnv["bus.bus"]._sendone(serverState.partnerId, CARD, payload);
    return { env, pyEnv, send };
}
