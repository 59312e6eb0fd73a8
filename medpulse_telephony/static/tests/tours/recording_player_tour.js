import { registry } from "@web/core/registry";

/**
 * A manager opens a recorded call, presses play, and the browser really plays its
 * recording: the player asks for the address of the sound only then (the audio route,
 * with the token of this play), loads it and reports a duration.
 */
registry.category("web_tour.tours").add("medpulse_recording_player_tour", {
    steps: () => [
        {
            content: "Open the recordings tab of the call",
            trigger: ".o_notebook .nav-link[name=recordings]",
            run: "click",
        },
        {
            content: "The player holds no address of the sound before it is played",
            trigger: ".o_medpulse_recording audio.o_medpulse_recording_player[preload=none]:not([src])",
        },
        {
            content: "Press play: the player gets the address, loads the sound",
            trigger: ".o_medpulse_recording audio.o_medpulse_recording_player[data-recording-id]",
            async run() {
                const audio = this.anchor;
                audio.muted = true;
                const loaded = new Promise((resolve, reject) => {
                    audio.addEventListener("loadedmetadata", resolve, { once: true });
                    audio.addEventListener("error", () => reject(new Error("audio error")), {
                        once: true,
                    });
                });
                audio.play().catch(() => {});
                await loaded;
                audio.dataset.medpulseDuration = String(audio.duration);
            },
        },
        {
            content: "The browser knows how long the recording is",
            trigger: "audio.o_medpulse_recording_player[data-medpulse-duration][src*='token=']",
        },
    ],
});
