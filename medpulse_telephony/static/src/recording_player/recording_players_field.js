import { Component, useEffect, useRef } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

/**
 * The players of call recordings (an HTML field rendered by the server).
 *
 * The players hold no address of the sound: pressing play asks the server for one
 * (``action_play``, which logs the play and returns the audio route with a token for
 * this user and recording), then plays it. So a play is logged only when someone
 * presses play, and a link to the audio route elsewhere (a message, a note) plays
 * nothing. "Download" (managers) goes the same way through ``action_download``.
 */
export class RecordingPlayersField extends Component {
    static template = "medpulse_telephony.RecordingPlayersField";
    static props = { ...standardFieldProps };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.root = useRef("root");
        useEffect(
            (el) => {
                // Media events do not bubble: listen while they go down.
                const onPlay = (ev) => this.onPlay(ev);
                el?.addEventListener("play", onPlay, true);
                return () => el?.removeEventListener("play", onPlay, true);
            },
            () => [this.root.el]
        );
    }

    get html() {
        return this.props.record.data[this.props.name] || "";
    }

    async onPlay(ev) {
        const audio = ev.target;
        if (!(audio instanceof HTMLAudioElement) || audio.getAttribute("src")) {
            return;
        }
        const recordingId = parseInt(audio.dataset.recordingId);
        if (!recordingId) {
            return;
        }
        audio.pause();
        const url = await this.orm.call("medpulse.call.recording", "action_play", [[recordingId]]);
        audio.src = url;
        // A browser may refuse to start by itself (autoplay rules): the player is ready
        // and the next press plays.
        audio.play().catch(() => {});
    }

    async onClick(ev) {
        const link = ev.target.closest(".o_medpulse_recording_download");
        if (!link) {
            return;
        }
        ev.preventDefault();
        const recordingId = parseInt(link.dataset.recordingId);
        const action = await this.orm.call("medpulse.call.recording", "action_download", [
            [recordingId],
        ]);
        await this.action.doAction(action);
    }
}

registry.category("fields").add("medpulse_recording_players", {
    component: RecordingPlayersField,
    displayName: _t("Call recording players"),
    supportedTypes: ["html"],
});
