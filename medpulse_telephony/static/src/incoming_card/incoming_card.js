import { Component, onMounted, onWillUnmount, useEffect, useState } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { _t } from "@web/core/l10n/translation";
import { deserializeDateTime, formatDateTime } from "@web/core/l10n/dates";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { FormViewDialog } from "@web/views/view_dialogs/form_view_dialog";

function formatMoment(value) {
    return value ? formatDateTime(deserializeDateTime(value)) : "";
}

/** One call's card: ringing, in call (with a timer), answered elsewhere, or ended. */
export class IncomingCard extends Component {
    static template = "medpulse_telephony.IncomingCard";
    static props = { card: Object };

    setup() {
        this.store = useService("medpulse_incoming_card");
        this.orm = useService("orm");
        this.action = useService("action");
        this.dialog = useService("dialog");
        this.notification = useService("notification");
        this.alertService = useService("medpulse_card_alerts");
        this.alerts = useState(this.alertService.state);
        this.state = useState({
            now: Date.now(),
            targets: null,
            followupState: "resolved",
            followupNote: "",
            outcomeId: "",
            busy: false,
        });
        // Issue 22: the caller's appointment (confirm, move, cancel) or free times to book.
        this.outreach = useState({ data: null, mode: false, reason: "" });
        useEffect(
            (patientId, canAct, live) => {
                this.outreach.mode = false;
                if (patientId && canAct && live) {
                    this.loadOutreach();
                } else {
                    this.outreach.data = null;
                }
            },
            () => [this.card.patient_id, this.card.can_act, this.isLive]
        );
        // The follow-up form starts from what the call has when it ends (a colleague
        // may have set it from the journal), else "resolved".
        useEffect(
            (status) => {
                if (status === "ended") {
                    const current = this.card.followup_state;
                    this.state.followupState = current && current !== "new" ? current : "resolved";
                    this.state.followupNote = this.card.followup_note || "";
                    this.state.outcomeId = this.card.outcome_id || this.proposedOutcome || "";
                }
            },
            () => [this.card.status]
        );
        onMounted(() => {
            this.timer = browser.setInterval(() => (this.state.now = Date.now()), 1000);
        });
        onWillUnmount(() => browser.clearInterval(this.timer));
    }

    get card() {
        return this.props.card;
    }

    /**
     * Attributes OWL does not translate by itself (aria-label). "Hide", not "Dismiss":
     * Odoo's own "Dismiss" reads "Отклонить" (reject) in Russian, not what this does.
     */
    get labels() {
        return { dismiss: _t("Hide"), chooser: _t("Patients with this number") };
    }

    get patient() {
        return this.card.patients?.find((p) => p.id === this.card.patient_id) || null;
    }

    get needsChoice() {
        return (this.card.patients?.length || 0) > 1;
    }

    get title() {
        return {
            ringing: _t("Incoming call"),
            talking: _t("In call"),
            answered_elsewhere: _t("Answered elsewhere"),
            ended: _t("Call ended"),
        }[this.card.status];
    }

    get talkDuration() {
        if (!this.card.answered_at) {
            return "";
        }
        const since = deserializeDateTime(this.card.answered_at).toMillis();
        const seconds = Math.max(0, Math.floor((this.state.now - since) / 1000));
        const minutes = Math.floor(seconds / 60);
        return `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
    }

    get autoTransferLabel() {
        return _t("Automatically (group %s)", this.state.targets.group);
    }

    /** The outcome the card's end state suggests: a booking made from it → "booked". */
    get proposedOutcome() {
        if (this.card.appointments?.length) {
            return this.card.outcomes?.find((outcome) => outcome[2] === "booked")?.[0] || false;
        }
        return false;
    }

    /** An answered call that must have an outcome (company setting) and has none yet. */
    get outcomeMissing() {
        return this.card.status === "ended" && this.card.outcome_required && !this.state.outcomeId;
    }

    get isLive() {
        return ["ringing", "talking"].includes(this.card.status);
    }

    formatMoment(value) {
        return formatMoment(value);
    }

    onKeydown(ev) {
        if (ev.key === "Escape") {
            ev.stopPropagation();
            this.dismiss();
        }
    }

    dismiss() {
        if (this.outcomeMissing) {
            this.card.message = _t("Choose the call's outcome before closing the card.");
            this.card.messageFailed = true;
            return;
        }
        this.store.dismiss(this.card.call_id);
    }

    /** Once told that the browser blocks the ringtone, the card says no more. */
    autoplayTold() {
        this.alertService.autoplayTold();
    }

    askNotify(allow) {
        return this.alertService.askNotify(allow);
    }

    openPatient() {
        this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "medpulse.patient",
            res_id: this.card.patient_id,
            views: [[false, "form"]],
            target: "current",
        });
    }

    async choosePatient(patientId) {
        await this.orm.call("medpulse.call", "action_set_patient", [
            [this.card.call_id],
            patientId,
        ]);
        this.card.patient_id = patientId;
    }

    createPatient() {
        this.dialog.add(FormViewDialog, {
            resModel: "medpulse.patient",
            title: _t("New patient"),
            context: {
                default_phone_ids: [[0, 0, { number: this.card.number_e164 || this.card.number }]],
            },
            onRecordSaved: async (record) => {
                await this.choosePatient(record.resId);
            },
        });
    }

    bookAppointment() {
        this.dialog.add(FormViewDialog, {
            resModel: "medpulse.appointment",
            title: _t("Book an appointment"),
            context: {
                default_patient_id: this.card.patient_id,
                default_call_id: this.card.call_id,
            },
            onRecordSaved: (record) => {
                if (!this.card.appointments.some((a) => a.id === record.resId)) {
                    this.card.appointments.push({
                        id: record.resId,
                        name: record.data.display_name,
                    });
                }
            },
        });
    }

    /**
     * "Send SMS": the dialog (``medpulse.sms.send``) for the patient and this call, which
     * fills the caller's number and the appointment booked during the call. A patient
     * without SMS consent gets nothing: the card says why, no dialog opens.
     */
    sendSms() {
        const patient = this.patient;
        if (!patient.consent_sms) {
            this.card.message = _t(
                "%s has not agreed to SMS: nothing can be sent. Record the consent on the patient's form first, if the patient gives it.",
                patient.name
            );
            this.card.messageFailed = true;
            return;
        }
        this.action.doAction("medpulse_telephony.medpulse_sms_send_action", {
            additionalContext: {
                default_patient_id: patient.id,
                default_call_id: this.card.call_id,
            },
        });
    }

    async toggleTransfer() {
        this.card.transferOpen = !this.card.transferOpen;
        if (this.card.transferOpen) {
            this.state.targets = await this.orm.call("medpulse.call", "get_transfer_targets", []);
        }
    }

    /**
     * A ringing call is redirected (commands/route), a call in progress transferred
     * (commands/transfer): blind, or "hold" to consult the colleague first.
     * ``target`` is ``{ target_user_id }`` or ``{ to_number }`` (a group or queue).
     */
    async transferTo(target, method = "blind") {
        const ringing = this.card.status === "ringing";
        const kwargs = ringing ? target : { ...target, method };
        const answer = await this.runCommand(ringing ? "action_route" : "action_transfer", kwargs);
        if (answer?.ok) {
            this.card.transferOpen = false;
            this.card.consulting = !ringing && method === "hold";
        }
    }

    async completeTransfer() {
        if ((await this.runCommand("action_transfer_complete"))?.ok) {
            this.card.consulting = false;
        }
    }

    async cancelTransfer() {
        if ((await this.runCommand("action_transfer_cancel"))?.ok) {
            this.card.consulting = false;
        }
    }

    async hangup() {
        await this.runCommand("action_hangup");
    }

    /** Call control methods answer ``{ ok, message }``; the message is shown on the card. */
    async runCommand(method, kwargs = {}) {
        this.state.busy = true;
        try {
            const answer = await this.orm.call(
                "medpulse.call",
                method,
                [[this.card.call_id]],
                kwargs
            );
            this.card.message = answer?.message || false;
            this.card.messageFailed = answer?.ok === false;
            return answer;
        } catch (error) {
            this.card.message = error.data?.message || error.message || String(error);
            this.card.messageFailed = true;
            return false;
        } finally {
            this.state.busy = false;
        }
    }

    /** What the card offers about the caller's appointments (the reception's only). */
    async loadOutreach() {
        try {
            this.outreach.data = await this.orm.silent.call(
                "medpulse.call",
                "get_card_outreach",
                [[this.card.call_id]],
                { patient_id: this.card.patient_id }
            );
        } catch {
            this.outreach.data = null;
        }
    }

    get bookAgainLabel() {
        const last = this.outreach.data.last;
        return _t("Book again with %(doctor)s, %(service)s:", {
            doctor: last.doctor,
            service: last.service,
        });
    }

    toggleOutreach(mode) {
        this.outreach.mode = this.outreach.mode === mode ? false : mode;
    }

    /** An appointment action: its answer on the card, then the offers read again. */
    async runOutreach(method, kwargs) {
        const answer = await this.runCommand(method, kwargs);
        if (answer?.ok) {
            this.outreach.mode = false;
            this.outreach.reason = "";
        }
        await this.loadOutreach();
        return answer;
    }

    confirmAppointment() {
        return this.runOutreach("action_card_confirm", {
            appointment_id: this.outreach.data.appointment.id,
        });
    }

    moveTo(start) {
        return this.runOutreach("action_card_move", {
            appointment_id: this.outreach.data.appointment.id,
            start,
        });
    }

    cancelAppointment() {
        return this.runOutreach("action_card_cancel", {
            appointment_id: this.outreach.data.appointment.id,
            reason: this.outreach.reason,
        });
    }

    bookSlot(start) {
        return this.runOutreach("action_card_book", { patient_id: this.card.patient_id, start });
    }

    /** Saved: the server closes this card in every tab; refused: the card says why. */
    async saveFollowup() {
        const outcomeId = parseInt(this.state.outcomeId);
        const saved = await this.runCommand("action_card_followup", {
            followup_state: this.state.followupState,
            note: this.state.followupNote,
            ...(outcomeId ? { outcome_id: outcomeId } : {}),
        });
        if (saved) {
            this.notification.add(_t("The call's follow-up is saved."), { type: "success" });
            this.store.remove(this.card.call_id);
        }
    }
}

/** The non-modal overlay holding the cards, top right, in every tab of the user. */
export class IncomingCardContainer extends Component {
    static template = "medpulse_telephony.IncomingCardContainer";
    static components = { IncomingCard };
    static props = {};

    setup() {
        this.store = useState(useService("medpulse_incoming_card"));
    }

    get labels() {
        return { region: _t("Incoming calls") };
    }
}

registry
    .category("main_components")
    .add("medpulse_telephony.IncomingCardContainer", { Component: IncomingCardContainer });
