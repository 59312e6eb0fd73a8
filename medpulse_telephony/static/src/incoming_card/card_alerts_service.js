import { reactive } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { effect } from "@web/core/utils/reactive";

/** Odoo's own ringtone (``mail``'s sound effects service). */
export const RINGTONE = "incoming-call";
/** Shared between the user's tabs (``multi_tab``): the calls a tab's "Hide" silenced. */
export const SILENCED_KEY = "medpulse_telephony.silenced";
/** Shared: the id of the tab the user is looking at, if any. */
export const FOCUSED_TAB_KEY = "medpulse_telephony.focused_tab";
/** Shared: the browser refused to play the ringtone and the user was not told yet. */
export const AUTOPLAY_BLOCKED_KEY = "medpulse_telephony.autoplay_blocked";
/** localStorage: the card told about the blocked ringtone (said once per browser). */
export const AUTOPLAY_TOLD_KEY = "medpulse_telephony.autoplay_told";
/** localStorage: the card offered desktop notifications (asked once per browser). */
export const NOTIFY_ASKED_KEY = "medpulse_telephony.notify_asked";

/**
 * The incoming-call card is heard and seen: while a card rings, ONE tab of the user (the
 * ``multi_tab`` service's main tab) plays ``mail``'s incoming-call sound, and, when no tab
 * of the user is in front, shows a desktop notification (number and line; the patient's
 * name only when the company allows it, because the operating system keeps notifications
 * in its history). Both stop when the call is answered (here or elsewhere), ends, or its
 * card is hidden in any tab. The user's preferences and the company's setting travel in
 * each card's payload (``sound``, ``desktop_notify``, ``notify_name``).
 *
 * Every tab receives the same cards, so every tab knows what rings; only the main tab acts
 * on it, and when the main tab goes away the next one takes over with the same state.
 */
export class CardAlerts {
    constructor(env, services) {
        this.store = services.medpulse_incoming_card;
        this.sound = services["mail.sound_effects"];
        this.multiTab = services.multi_tab;
        this.permission = services["mail.notification.permission"];
        this.state = reactive({
            autoplayBlocked: Boolean(this.multiTab.getSharedValue(AUTOPLAY_BLOCKED_KEY, false)),
            askNotify: false,
        });
        this.playing = false;
        this.notifications = new Map();
        this.silenced = new Set(this.multiTab.getSharedValue(SILENCED_KEY, []));

        this.multiTab.bus.addEventListener("shared_value_updated", ({ detail }) => {
            if (detail.key === SILENCED_KEY) {
                this.silenced = new Set(JSON.parse(detail.newValue || "[]"));
                this.update();
            } else if (detail.key === AUTOPLAY_BLOCKED_KEY) {
                this.state.autoplayBlocked = Boolean(JSON.parse(detail.newValue || "false"));
            }
        });
        this.multiTab.bus.addEventListener("become_main_tab", () => this.update());
        this.multiTab.bus.addEventListener("no_longer_main_tab", () => this.update());
        this.trackFocus();
        effect((store) => this.update(store), [this.store]);
    }

    /** Cards that ring now and were not hidden in any tab. */
    ringingCards(store = this.store) {
        return store.cards.filter(
            (card) =>
                card.status === "ringing" &&
                !this.silenced.has(card.call_id) &&
                !(store.dismissed[card.call_id] === "ringing")
        );
    }

    /** Re-decide the sound and the notifications from the cards (reactive: reads them all). */
    update(store = this.store) {
        const ringing = this.ringingCards(store);
        this.shareSilenced(store);
        if (ringing.some((card) => card.desktop_notify)) {
            this.state.askNotify =
                this.permission.permission === "prompt" &&
                !browser.localStorage.getItem(NOTIFY_ASKED_KEY);
        }
        const main = this.multiTab.isOnMainTab();
        const ring = main && ringing.some((card) => card.sound);
        if (ring && !this.playing) {
            this.play();
        } else if (!ring && this.playing) {
            this.playing = false;
            this.sound.stop(RINGTONE);
        }
        const wanted = new Map(
            main && !this.anyTabFocused()
                ? ringing.filter((card) => card.desktop_notify).map((card) => [card.call_id, card])
                : []
        );
        for (const [callId, notification] of this.notifications) {
            if (!wanted.has(callId)) {
                notification.close();
                this.notifications.delete(callId);
            }
        }
        for (const [callId, card] of wanted) {
            if (!this.notifications.has(callId)) {
                this.notify(card);
            }
        }
    }

    play() {
        this.playing = true;
        this.sound.play(RINGTONE, { loop: true });
        // The service swallows a refused play(); a second play() of the same element
        // settles with the first, and says whether the browser blocked autoplay.
        const audio = this.sound.soundEffects?.[RINGTONE]?.audio;
        Promise.resolve(audio?.play())
            .then(() => {
                if (!this.playing) {
                    this.sound.stop(RINGTONE);
                }
            })
            .catch((error) => {
                if (
                    error?.name === "NotAllowedError" &&
                    !browser.localStorage.getItem(AUTOPLAY_TOLD_KEY)
                ) {
                    this.state.autoplayBlocked = true;
                    this.multiTab.setSharedValue(AUTOPLAY_BLOCKED_KEY, true);
                }
                // Retried by the next change of the cards or the user's next click (trackFocus).
                this.playing = false;
            });
    }

    /** What a desktop notification shows: number and line; the name only if allowed. */
    notificationText(card) {
        const patient = card.patients?.find((p) => p.id === card.patient_id);
        const lines = [card.line ? _t("Line: %s", card.line) : ""];
        if (card.notify_name && patient) {
            lines.unshift(patient.name);
        }
        return {
            title: _t("Incoming call %s", card.number || _t("(hidden number)")),
            body: lines.filter(Boolean).join("\n"),
        };
    }

    notify(card) {
        if (!browser.Notification || browser.Notification.permission !== "granted") {
            return;
        }
        const { title, body } = this.notificationText(card);
        let notification;
        try {
            notification = new browser.Notification(title, {
                body,
                tag: `medpulse-call-${card.call_id}`,
                icon: "/medpulse_telephony/static/description/icon.png",
            });
        } catch {
            // Chrome for Android has no page notifications (service workers only).
            return;
        }
        notification.addEventListener("click", () => {
            this.focusTab();
            notification.close();
        });
        this.notifications.set(card.call_id, notification);
    }

    /** A card hidden in one tab silences the call in all of them. */
    shareSilenced(store) {
        const hidden = Object.entries(store.dismissed)
            .filter(([, status]) => status === "ringing")
            .map(([callId]) => parseInt(callId));
        const fresh = hidden.filter((callId) => !this.silenced.has(callId));
        if (fresh.length) {
            fresh.forEach((callId) => this.silenced.add(callId));
            // Keep the list short: the last calls are enough to silence what still rings.
            this.multiTab.setSharedValue(SILENCED_KEY, [...this.silenced].slice(-20));
        }
    }

    /** Which tab is in front, shared: the notification is for when none is. */
    trackFocus() {
        const tabId = this.multiTab.currentTabId;
        const onFocus = () => {
            this.multiTab.setSharedValue(FOCUSED_TAB_KEY, tabId);
            this.update();
        };
        const onBlur = () => {
            if (this.multiTab.getSharedValue(FOCUSED_TAB_KEY) === tabId) {
                this.multiTab.removeSharedValue(FOCUSED_TAB_KEY);
            }
            this.update();
        };
        browser.addEventListener("focus", onFocus);
        browser.addEventListener("blur", onBlur);
        browser.addEventListener("pagehide", onBlur);
        document.addEventListener("visibilitychange", () =>
            this.isPageInFront() ? onFocus() : onBlur()
        );
        // A blocked ringtone starts with the user's first click (the gesture it waited for).
        browser.addEventListener("pointerdown", () => this.playing || this.update(), true);
        if (this.isPageInFront()) {
            this.multiTab.setSharedValue(FOCUSED_TAB_KEY, tabId);
        }
    }

    /** This tab is visible in a window that has the focus. */
    isPageInFront() {
        return document.visibilityState === "visible" && document.hasFocus();
    }

    anyTabFocused() {
        const tabId = this.multiTab.getSharedValue(FOCUSED_TAB_KEY, false);
        return this.isPageInFront() || Boolean(tabId && tabId !== this.multiTab.currentTabId);
    }

    /** A click on the desktop notification brings this tab back. */
    focusTab() {
        window.focus();
    }

    /** The card said the ringtone is blocked: it does not say it again in this browser. */
    autoplayTold() {
        browser.localStorage.setItem(AUTOPLAY_TOLD_KEY, "1");
        this.state.autoplayBlocked = false;
        this.multiTab.setSharedValue(AUTOPLAY_BLOCKED_KEY, false);
    }

    /** The first card offers desktop notifications once; the preferences can ask again. */
    async askNotify(allow) {
        browser.localStorage.setItem(NOTIFY_ASKED_KEY, "1");
        this.state.askNotify = false;
        if (allow) {
            await this.permission.requestPermission();
            this.update();
        }
    }
}

export const cardAlertsService = {
    dependencies: [
        "medpulse_incoming_card",
        "mail.sound_effects",
        "multi_tab",
        "mail.notification.permission",
    ],
    start(env, services) {
        return new CardAlerts(env, services);
    },
};

registry.category("services").add("medpulse_card_alerts", cardAlertsService);
