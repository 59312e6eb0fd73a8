import { beforeEach, describe, expect, test } from "@odoo/hoot";
import { advanceTime } from "@odoo/hoot-mock";
import {
    click,
    contains,
    defineMailModels,
    insertText,
} from "@mail/../tests/mail_test_helpers";
import { makeServerError, onRpc, patchWithCleanup } from "@web/../tests/web_test_helpers";
import { browser } from "@web/core/browser/browser";
import { BOUND_DEVICE_KEY } from "@medpulse_telephony/incoming_card/incoming_card_service";
import { ringing, startCardClient } from "@medpulse_telephony/../tests/card_test_helpers";

describe.current.tags("desktop");
defineMailModels();

let activeCards;
beforeEach(() => {
    activeCards = [];
    onRpc("medpulse.call", "get_active_cards", () => activeCards);
});

const startWithBus = () => startCardClient();

test("a ringing call shows the patient's name and last visit, once", async () => {
    const { send } = await startWithBus();
    send(ringing());
    await contains(".o_medpulse_incoming_card .o_medpulse_card_patient_name", {
        text: "Ivanova Anna Petrovna",
    });
    await contains(".o_medpulse_card_last_service", { text: "Therapist consultation" });
    await contains(".o_medpulse_card_number", { text: "+7 916 123-45-67" });
    await contains(".o_medpulse_card_recent", { text: "2" });
    send(ringing());
    send(ringing({ recent_calls: 3 }));
    await contains(".o_medpulse_card_recent", { text: "3" });
    await contains(".o_medpulse_incoming_card", { count: 1 });
});

test("in call shows a timer; answered elsewhere shows who, then goes away", async () => {
    const { send } = await startWithBus();
    send(ringing());
    await contains(".o_medpulse_card_ringing");
    send(ringing({ status: "talking", answered_at: "2026-03-02 09:00:10" }));
    await contains(".o_medpulse_card_talking .o_medpulse_card_timer");
    await contains(".o_medpulse_card_hangup");
    send(ringing({ call_id: 43, status: "ringing" }));
    await contains(".o_medpulse_incoming_card", { count: 2 });
    send({ call_id: 43, status: "answered_elsewhere", answered_by: "Anna Smirnova" });
    await contains(".o_medpulse_card_answered_by", { text: "Picked up by Anna Smirnova" });
    await advanceTime(7000);
    await contains(".o_medpulse_incoming_card", { count: 1 });
    send({ call_id: 42, status: "closed" });
    await contains(".o_medpulse_incoming_card", { count: 0 });
});

/** The update a card on screen gets when its call is answered (`_card_update_payload`). */
const talkingUpdate = {
    call_id: 42,
    entry_id: "E-42",
    status: "talking",
    partial: true,
    answered_at: "2026-03-02 09:00:10",
    answered_by: "Olga Operator",
    device_id: false,
    followup_state: "new",
    followup_note: "",
};

test("an answered call's update keeps what the card showed", async () => {
    const { send } = await startWithBus();
    send(ringing());
    await contains(".o_medpulse_card_ringing");
    send(talkingUpdate);
    await contains(".o_medpulse_card_talking .o_medpulse_card_timer");
    await contains(".o_medpulse_card_patient_name", { text: "Ivanova Anna Petrovna" });
    await contains(".o_medpulse_card_number", { text: "+7 916 123-45-67" });
    await contains(".o_medpulse_incoming_card", { count: 1 });
});

test("an update of a card this tab does not have brings the whole card", async () => {
    const { send } = await startWithBus();
    // The update alone has no caller: the patient shown comes from the whole card.
    activeCards = [ringing({ status: "talking", answered_at: "2026-03-02 09:00:10" })];
    send(talkingUpdate);
    await contains(".o_medpulse_card_talking .o_medpulse_card_patient_name", {
        text: "Ivanova Anna Petrovna",
    });
    await contains(".o_medpulse_incoming_card", { count: 1 });
});

test("a closing message for a call without a card shows nothing", async () => {
    const { send } = await startWithBus();
    send(ringing());
    await contains(".o_medpulse_incoming_card");
    send({ call_id: 99, status: "answered_elsewhere", answered_by: "Anna" });
    send({ call_id: 98, status: "ended", partial: true });
    await advanceTime(100);
    await contains(".o_medpulse_incoming_card", { count: 1 });
});

test("the whole ended card of a call that never rang here comes to set the follow-up", async () => {
    // The server folded the whole talk at once (under a load): no ringing, no talking.
    browser.localStorage.setItem(BOUND_DEVICE_KEY, "5");
    const { send } = await startWithBus();
    send(ringing({ call_id: 60, status: "ended", device_id: 6 }));
    send(ringing({ call_id: 61, status: "ended", device_id: 5 }));
    await contains(".o_medpulse_incoming_card[data-call-id='61'] .o_medpulse_card_followup");
    await contains(".o_medpulse_card_number", { text: "+7 916 123-45-67" });
    // Another desk's phone talked: that desk's browser sets the follow-up, not this one.
    await contains(".o_medpulse_incoming_card[data-call-id='60']", { count: 0 });
});

test("unknown caller offers to create the patient with the number prefilled", async () => {
    const { env, send } = await startWithBus();
    const opened = [];
    patchWithCleanup(env.services.dialog, {
        add(component, props) {
            opened.push(props);
            return () => {};
        },
    });
    send(ringing({ patients: [], patient_id: false }));
    await contains(".o_medpulse_card_unknown", { text: "Unknown caller" });
    await contains(".o_medpulse_card_open", { count: 0 });
    await click(".o_medpulse_card_create");
    expect(opened[0].resModel).toBe("medpulse.patient");
    expect(opened[0].context.default_phone_ids).toEqual([[0, 0, { number: "+79161234567" }]]);
});

test("several patients share the number: the chooser saves the choice on the call", async () => {
    onRpc("medpulse.call", "action_set_patient", ({ args }) => {
        expect.step(`set_patient ${JSON.stringify(args)}`);
        return true;
    });
    const { send } = await startWithBus();
    const maria = { ...ringing().patients[0], id: 8, name: "Ivanova Maria", last_visit_at: false };
    send(ringing({ patients: [ringing().patients[0], maria], patient_id: 7 }));
    await contains(".o_medpulse_card_candidate", { count: 2 });
    await contains(".o_medpulse_card_candidate.btn-primary", { text: "Ivanova Anna Petrovna" });
    await click(".o_medpulse_card_candidate", { text: "Ivanova Maria" });
    await contains(".o_medpulse_card_patient_name", { text: "Ivanova Maria" });
    expect.verifySteps(["set_patient [[42],8]"]);
});

test("open patient and book appointment act on the right records", async () => {
    const { env, send } = await startWithBus();
    patchWithCleanup(env.services.action, {
        doAction(action) {
            expect.step(`${action.res_model} ${action.res_id}`);
        },
    });
    const dialogs = [];
    patchWithCleanup(env.services.dialog, {
        add(component, props) {
            dialogs.push(props);
            return () => {};
        },
    });
    send(ringing());
    await click(".o_medpulse_card_open");
    expect.verifySteps(["medpulse.patient 7"]);
    await click(".o_medpulse_card_book");
    expect(dialogs[0].resModel).toBe("medpulse.appointment");
    expect(dialogs[0].context).toEqual({ default_patient_id: 7, default_call_id: 42 });
    send(ringing({ appointments: [{ id: 5, name: "Ivanova Anna — Dr House" }] }));
    await contains(".o_medpulse_card_booked", { text: "Booked: Ivanova Anna — Dr House" });
});

test("Send SMS opens the dialog for the patient and the call, in the call and after it", async () => {
    const { env, send } = await startWithBus();
    patchWithCleanup(env.services.action, {
        doAction(action, options) {
            expect.step(`${action} ${JSON.stringify(options.additionalContext)}`);
        },
    });
    send(ringing({ status: "talking", answered_at: "2026-03-02 09:00:10" }));
    await contains(".o_medpulse_card_consent_sms", { text: "Agrees to SMS" });
    await click(".o_medpulse_card_sms");
    send(ringing({ status: "ended" }));
    await contains(".o_medpulse_card_followup");
    await click(".o_medpulse_card_sms");
    const sent =
        'medpulse_telephony.medpulse_sms_send_action {"default_patient_id":7,"default_call_id":42}';
    expect.verifySteps([sent, sent]);
});

test("Send SMS: no consent is said on the card and opens nothing; not for who may not send", async () => {
    const { env, send } = await startWithBus();
    patchWithCleanup(env.services.action, {
        doAction(action) {
            expect.step(`${action}`);
        },
    });
    const refusing = { ...ringing().patients[0], consent_sms: false };
    send(ringing({ patients: [refusing] }));
    await contains(".o_medpulse_card_consent_sms.text-bg-warning", { text: "No consent to SMS" });
    await click(".o_medpulse_card_sms");
    await contains(".o_medpulse_card_message.text-danger", {
        text: "Ivanova Anna Petrovna has not agreed to SMS: nothing can be sent. Record the consent on the patient's form first, if the patient gives it.",
    });
    expect.verifySteps([]);
    // A doctor or an operator without the reception's role: no button.
    send(ringing({ call_id: 43, can_sms: false }));
    await contains(".o_medpulse_incoming_card[data-call-id='43'] .o_medpulse_card_book");
    await contains(".o_medpulse_incoming_card[data-call-id='43'] .o_medpulse_card_sms", {
        count: 0,
    });
    send(ringing({ call_id: 44, patients: [], patient_id: false }));
    await contains(".o_medpulse_incoming_card[data-call-id='44'] .o_medpulse_card_unknown");
    await contains(".o_medpulse_incoming_card[data-call-id='44'] .o_medpulse_card_sms", {
        count: 0,
    });
});

test("transfer lists operators with their extension and availability", async () => {
    onRpc("medpulse.call", "get_transfer_targets", () => ({
        operators: [
            { id: 1, name: "Me", extension: "101", busy: false, me: true },
            { id: 2, name: "Anna Smirnova", extension: "103", busy: true, me: false },
            { id: 3, name: "Demo", extension: "102", busy: false, me: false },
        ],
        group: "500",
    }));
    const answers = {
        action_route: { ok: true, message: "Forwarding the call to Demo…" },
        action_transfer: { ok: false, message: "The PBX refused: no such call" },
    };
    onRpc("medpulse.call", /action_(route|transfer.*)/, ({ method, args, kwargs }) => {
        const { context, ...params } = kwargs;
        expect.step(`${method} ${JSON.stringify(args)} ${JSON.stringify(params)}`);
        return answers[method] || { ok: true, message: "Done" };
    });
    const { send } = await startWithBus();
    send(ringing());
    await click(".o_medpulse_card_transfer_toggle");
    await contains(".o_medpulse_card_transfer_target", { count: 2 });
    await contains(".o_medpulse_card_transfer_target:contains('Anna Smirnova') .badge", {
        text: "On a call",
    });
    await contains(".o_medpulse_card_transfer_target:contains('Demo') .badge", { text: "Free" });
    await contains(".o_medpulse_card_consult", { count: 0 });
    await contains(".o_medpulse_card_transfer_group", { text: "Automatically (group 500)" });
    await click(".o_medpulse_card_transfer_to", { text: "Demo" });
    await contains(".o_medpulse_card_message.text-success", { text: "Forwarding the call to Demo…" });
    await contains(".o_medpulse_card_transfer", { count: 0 });
    expect.verifySteps(['action_route [[42]] {"target_user_id":3}']);

    send(ringing({ status: "talking", answered_at: "2026-03-02 09:00:10" }));
    await click(".o_medpulse_card_transfer_toggle");
    await click(".o_medpulse_card_transfer_group");
    await contains(".o_medpulse_card_message.text-danger", { text: "The PBX refused: no such call" });
    expect.verifySteps(['action_transfer [[42]] {"to_number":"500","method":"blind"}']);

    answers.action_transfer = { ok: true, message: "Transferring the call to Demo…" };
    await click(".o_medpulse_card_consult:eq(0)");
    await contains(".o_medpulse_card_transfer_complete");
    await click(".o_medpulse_card_transfer_complete");
    await contains(".o_medpulse_card_transfer_complete", { count: 0 });
    expect.verifySteps([
        'action_transfer [[42]] {"target_user_id":2,"method":"hold"}',
        "action_transfer_complete [[42]] {}",
    ]);
});

test("hang up from an ongoing call", async () => {
    onRpc("medpulse.call", "action_hangup", ({ args }) => {
        expect.step(`hangup ${JSON.stringify(args)}`);
        return { ok: true, message: "Hanging up…" };
    });
    const { send } = await startWithBus();
    send(ringing({ status: "talking", answered_at: "2026-03-02 09:00:10" }));
    await click(".o_medpulse_card_hangup");
    await contains(".o_medpulse_card_message", { text: "Hanging up…" });
    expect.verifySteps(["hangup [[42]]"]);
});

test("ended call: one-step follow-up status and comment", async () => {
    onRpc("medpulse.call", "action_card_followup", ({ args, kwargs }) => {
        const { context, ...params } = kwargs;
        expect.step(`followup ${JSON.stringify(args)} ${JSON.stringify(params)}`);
        return true;
    });
    const { send } = await startWithBus();
    send(ringing({ status: "talking", answered_at: "2026-03-02 09:00:10" }));
    await contains(".o_medpulse_card_talking");
    send(ringing({ status: "ended" }));
    await contains(".o_medpulse_card_followup select");
    await contains(".o_medpulse_card_transfer_toggle", { count: 0 });
    const select = document.querySelector(".o_medpulse_card_followup select");
    select.value = "needs_callback";
    select.dispatchEvent(new Event("change"));
    await insertText(".o_medpulse_card_followup textarea", "Call back with results");
    await click(".o_medpulse_card_followup_save");
    await contains(".o_medpulse_incoming_card", { count: 0 });
    expect.verifySteps([
        'followup [[42]] {"followup_state":"needs_callback","note":"Call back with results"}',
    ]);
});

test("an ended card starts from the call's follow-up; a refused save says why", async () => {
    onRpc("medpulse.call", "action_card_followup", () => {
        throw makeServerError({
            message: "The follow-up of this call was already saved: nothing was changed.",
        });
    });
    const { send } = await startWithBus();
    send(ringing({ status: "talking", answered_at: "2026-03-02 09:00:10" }));
    await contains(".o_medpulse_card_talking");
    send(ringing({ status: "ended", followup_state: "needs_callback", followup_note: "Saved" }));
    await contains(".o_medpulse_card_followup textarea", { value: "Saved" });
    expect(".o_medpulse_card_followup select").toHaveValue("needs_callback");
    await click(".o_medpulse_card_followup_save");
    await contains(".o_medpulse_card_message.text-danger", {
        text: "The follow-up of this call was already saved: nothing was changed.",
    });
    await contains(".o_medpulse_incoming_card", { count: 1 });
});

test("the card of a call still ringing comes back after a reload", async () => {
    activeCards = [ringing({ call_id: 77, patients: [], patient_id: false })];
    await startWithBus();
    await contains(".o_medpulse_incoming_card[data-call-id='77'] .o_medpulse_card_unknown");
});

test("a browser bound to a desk phone shows only that phone's calls", async () => {
    browser.localStorage.setItem(BOUND_DEVICE_KEY, "5");
    const { send } = await startWithBus();
    send(ringing({ call_id: 50, device_id: 6 }));
    send(ringing({ call_id: 51, device_id: 5 }));
    send(ringing({ call_id: 52, device_id: false }));
    await contains(".o_medpulse_incoming_card[data-call-id='51']");
    await contains(".o_medpulse_incoming_card[data-call-id='52']");
    await contains(".o_medpulse_incoming_card[data-call-id='50']", { count: 0 });
});

test("restricted card shows no patient actions; Escape dismisses", async () => {
    const { send } = await startWithBus();
    send(ringing({ restricted: true, patients: [], patient_id: false }));
    await contains(".o_medpulse_card_restricted");
    await contains(".o_medpulse_card_create", { count: 0 });
    await contains(".o_medpulse_card_book", { count: 0 });
    await contains(".o_medpulse_card_sms", { count: 0 });
    document.querySelector(".o_medpulse_card_dismiss").focus();
    document
        .querySelector(".o_medpulse_incoming_card")
        .dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    await contains(".o_medpulse_incoming_card", { count: 0 });
    // A dismissed ringing card does not come back for the same state...
    send(ringing({ restricted: true, patients: [], patient_id: false }));
    await advanceTime(100);
    await contains(".o_medpulse_incoming_card", { count: 0 });
    // ...but does when I answer.
    send(ringing({ status: "talking", answered_at: "2026-03-02 09:00:10" }));
    await contains(".o_medpulse_card_talking");
});

test("the systray binds this browser to one of my desk phones", async () => {
    onRpc("medpulse.telephony.user.number", "search_read", () => [
        { id: 5, number: "sip:desk1@clinic.mangosip.ru", kind: "desk" },
        { id: 6, number: "sip:desk2@clinic.mangosip.ru", kind: "desk" },
    ]);
    await startWithBus();
    await click(".o_medpulse_desk_phone_menu");
    await click(".o_medpulse_desk_phone", { text: "sip:desk2@clinic.mangosip.ru" });
    expect(browser.localStorage.getItem(BOUND_DEVICE_KEY)).toBe("6");
    await click(".o_medpulse_desk_phone_menu");
    await click(".dropdown-item", { text: "All my phones" });
    expect(browser.localStorage.getItem(BOUND_DEVICE_KEY)).toBe(null);
});
