import { registry } from "@web/core/registry";

/**
 * Tours of tests/test_card_appointments.py (issue 22): the caller's appointment from the
 * card, as the reception and as an operator without a clinic role; the no-show recall list.
 */

const CARD = ".o_medpulse_incoming_card.o_medpulse_card_talking";

registry.category("web_tour.tours").add("medpulse_card_appointments_tour", {
    steps: () => [
        {
            content: "The caller's upcoming appointment, with its buttons",
            trigger: `${CARD} .o_medpulse_card_appointment .o_medpulse_card_confirm`,
        },
        {
            content: "Move: the doctor's next free times",
            trigger: `${CARD} .o_medpulse_card_move`,
            run: "click",
        },
        {
            content: "One click on a free time moves it",
            trigger: `${CARD} .o_medpulse_card_move_slots .o_medpulse_card_slot:first`,
            run: "click",
        },
        {
            content: "Moved",
            trigger: `${CARD} .o_medpulse_card_message.text-success:contains(The appointment is moved to)`,
        },
        {
            content: "Confirm it",
            trigger: `${CARD} .o_medpulse_card_confirm`,
            run: "click",
        },
        {
            content: "Confirmed",
            trigger: `${CARD} .o_medpulse_card_appointment .o_medpulse_card_confirmed`,
        },
        {
            content: "Cancel: a reason first",
            trigger: `${CARD} .o_medpulse_card_cancel`,
            run: "click",
        },
        {
            content: "Without a reason, nothing to press",
            trigger: `${CARD} .o_medpulse_card_cancel_confirm:disabled`,
        },
        {
            trigger: `${CARD} .o_medpulse_card_cancel_reason`,
            run: "edit Tour reason",
        },
        {
            trigger: `${CARD} .o_medpulse_card_cancel_confirm:enabled`,
            run: "click",
        },
        {
            content: "Cancelled: now the last doctor's next free times to book again",
            trigger: `${CARD} .o_medpulse_card_book_slots:contains(Doctor Card) .o_medpulse_card_slot:first`,
            run: "click",
        },
        {
            content: "Booked in one click",
            trigger: `${CARD} .o_medpulse_card_message.text-success:contains(Booked:)`,
        },
        {
            content: "The new appointment is the upcoming one",
            trigger: `${CARD} .o_medpulse_card_appointment .o_medpulse_card_confirm`,
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_card_appointments_numbers_only_tour", {
    steps: () => [
        {
            content: "The card, without patients' data",
            trigger: `${CARD} .o_medpulse_card_restricted`,
        },
        {
            content: "No appointment and no appointment action",
            trigger: `${CARD}:not(:has(.o_medpulse_card_outreach)):not(:has(.o_medpulse_card_confirm)):not(:has(.o_medpulse_card_slot))`,
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_recall_list_tour", {
    steps: () => [
        {
            content: "The no-show on the recall list",
            trigger: ".o_list_view .o_data_row:contains(Ivanova Anna):contains(Doctor Card)",
        },
        {
            content: "Next patient",
            trigger: "button[name=action_next_patient]",
            run: "click",
        },
        {
            content: "The patient who did not come, with the doctor's next free times",
            trigger: ".o_form_view:has(.oe_title:contains(Ivanova Anna)) .o_field_widget[name=next_free_slots] span:not(:empty)",
        },
        {
            content: "Recall's outcomes, not the confirmation's",
            trigger: ".o_form_view:has(button[name=action_rebook]):not(:has(button[name=action_confirmed]))",
        },
        {
            content: "The patient wants no new appointment",
            trigger: ".o_form_view button[name=action_declined]",
            run: "click",
        },
        {
            content: "Nobody is left",
            trigger: ".o_notification:contains(Nobody is left to call now)",
        },
    ],
});
