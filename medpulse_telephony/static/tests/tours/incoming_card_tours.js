import { registry } from "@web/core/registry";

/**
 * Tours of tests/test_card_browser.py: a card restored at load (the user's call is in
 * progress), then what a person sees around it.
 */

const CARD = ".o_medpulse_incoming_card.o_medpulse_card_talking";

function env() {
    return odoo.__WOWL_DEBUG__.root.env;
}

/** ``element`` receives a click at its centre: nothing is drawn over it. */
function assertOnTop(element, what) {
    const rect = element.getBoundingClientRect();
    const hit = document.elementFromPoint(rect.left + rect.width / 2, rect.top + rect.height / 2);
    if (!hit || !(hit === element || element.contains(hit))) {
        const cover = hit?.closest(".o_medpulse_incoming_card") ? "the incoming-call card" : hit?.outerHTML.slice(0, 150);
        throw new Error(`${what} is covered by ${cover}`);
    }
}

/** The element's text is shown whole, on one line. */
function assertWhole(element, what) {
    if (element.scrollWidth > element.clientWidth + 1) {
        throw new Error(`${what} is cut: "${element.innerText}"`);
    }
    const range = document.createRange();
    range.selectNodeContents(element);
    const lines = new Set([...range.getClientRects()].map((rect) => Math.round(rect.top)));
    if (lines.size > 1) {
        throw new Error(`${what} wraps over ${lines.size} lines: "${element.innerText}"`);
    }
    const card = element.closest(".o_medpulse_incoming_card").getBoundingClientRect();
    if (element.getBoundingClientRect().right > card.right) {
        throw new Error(`${what} sticks out of the card: "${element.innerText}"`);
    }
}

registry.category("web_tour.tours").add("medpulse_card_layers_tour", {
    steps: () => [
        {
            content: "My call in progress: its card is back after loading",
            trigger: CARD,
            run() {
                env().services.notification.add("Layer check", { sticky: true, type: "warning" });
            },
        },
        {
            content: "The notification's close button is not under the card",
            trigger: ".o_notification:contains(Layer check) .o_notification_close",
            run() {
                assertOnTop(this.anchor, "The notification's close button");
                this.anchor.click();
            },
        },
        {
            content: "The notification closed",
            trigger: "body:not(:has(.o_notification))",
        },
        {
            content: "Book an appointment from the card",
            trigger: `${CARD} .o_medpulse_card_book`,
            run: "click",
        },
        {
            content: "The dialog's controls are not under the card",
            trigger: ".modal .o_form_view .o_field_widget[name=doctor_id] input",
            run() {
                const modal = this.anchor.closest(".modal");
                assertOnTop(modal.querySelector(".modal-header .btn-close"), "The dialog's close button");
                const footer = [...modal.querySelectorAll(".modal-footer button")].filter(
                    (button) => button.offsetParent !== null
                );
                for (const button of footer) {
                    assertOnTop(button, `The dialog's "${button.innerText.trim()}" button`);
                }
                assertOnTop(modal.querySelector(".o_statusbar_status"), "The dialog's status bar");
                if (modal.querySelector(".o_statusbar_buttons button")) {
                    throw new Error("A booking being written shows state buttons");
                }
            },
        },
        {
            content: "The booking says it is made by phone, and links the call",
            trigger: ".modal .o_field_widget[name=origin] select",
            run() {
                const chosen = this.anchor.selectedOptions[0]?.textContent.trim();
                if (chosen !== "Phone Call") {
                    throw new Error(`the booking's origin is "${chosen}"`);
                }
            },
        },
        {
            trigger: ".modal .o_field_widget[name=call_id]",
        },
        {
            content: "Choose the doctor",
            trigger: ".modal .o_field_widget[name=doctor_id] input",
            run: "edit Card Tour Doctor",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains(Card Tour Doctor)",
            run: "click",
        },
        {
            content: "Choose the service",
            trigger: ".modal .o_field_widget[name=service_id] input",
            run: "edit Card Tour Consultation",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains(Card Tour Consultation)",
            run: "click",
        },
        {
            content: "The next free slot is proposed",
            trigger: ".modal .o_field_widget[name=start] input:value(/\\d/)",
        },
        {
            content: "Save the booking",
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            content: "The card shows the booking",
            trigger: `${CARD} .o_medpulse_card_booked`,
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_card_russian_tour", {
    steps: () => [
        {
            content: "The card's dismiss button is named in Russian, for screen readers too",
            trigger: `${CARD} .o_medpulse_card_dismiss[aria-label="Скрыть"][title="Скрыть"]`,
        },
        {
            content: "Open the transfer panel",
            trigger: `${CARD} .o_medpulse_card_transfer_toggle`,
            run: "click",
        },
        {
            content: "A free colleague: state and button are whole, on one line",
            trigger: `${CARD} .o_medpulse_card_transfer_target:has(.o_medpulse_card_presence:contains(Свободен)) .o_medpulse_card_consult:contains(С консультацией)`,
            run() {
                const target = this.anchor.closest(".o_medpulse_card_transfer_target");
                assertWhole(target.querySelector(".o_medpulse_card_presence"), "«Свободен»");
                assertWhole(this.anchor, "«С консультацией»");
            },
        },
        {
            content: "Close the transfer panel",
            trigger: `${CARD} .o_medpulse_card_transfer_toggle`,
            run: "click",
        },
        {
            content: "Book an appointment from the card",
            trigger: `${CARD} .o_medpulse_card_book`,
            run: "click",
        },
        {
            content: "One «Отменить» only in the booking dialog",
            trigger: ".modal .o_form_view .o_field_widget[name=doctor_id] input",
            run() {
                const modal = this.anchor.closest(".modal");
                const cancels = [...modal.querySelectorAll("button")].filter(
                    (button) => button.innerText.trim() === "Отменить"
                );
                if (cancels.length !== 1) {
                    throw new Error(`${cancels.length} buttons say «Отменить» in the booking dialog`);
                }
                cancels[0].click();
            },
        },
        {
            content: "The dialog is closed",
            trigger: "body:not(:has(.modal))",
            run() {
                // A colleague picks up the call in another tab: what the card then says.
                const callId = Number(document.querySelector(CARD).dataset.callId);
                env().services["medpulse_incoming_card"].receive({
                    call_id: callId,
                    status: "answered_elsewhere",
                    answered_by: "Анна Смирнова",
                });
            },
        },
        {
            content: "Who picked up, without a verb that agrees with a gender",
            trigger: ".o_medpulse_card_answered_by:contains(Ответ оператора: Анна Смирнова)",
            run() {
                if (this.anchor.innerText.includes("Ответил")) {
                    throw new Error(`gendered: "${this.anchor.innerText}"`);
                }
            },
        },
    ],
});
