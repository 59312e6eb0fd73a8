import { registry } from "@web/core/registry";

/**
 * A manager opens a recorded call and the browser really plays its recording: the
 * player's source (the logging audio route) loads and reports a duration.
 */
registry.category("web_tour.tours").add("medpulse_recording_player_tour", {
    steps: () => [
        {
            content: "Open the recordings tab of the call",
            trigger: ".o_notebook .nav-link[name=recordings]",
            run: "click",
        },
        {
            content: "The player loads the recording through the audio route",
            trigger: ".o_medpulse_recording audio.o_medpulse_recording_player[preload=none]",
            async run() {
                const audio = this.anchor;
                const loaded = new Promise((resolve, reject) => {
                    audio.addEventListener("loadedmetadata", resolve, { once: true });
                    audio.addEventListener("error", () => reject(new Error("audio error")), {
                        once: true,
                    });
                });
                audio.load();
                await loaded;
                audio.dataset.medpulseDuration = String(audio.duration);
            },
        },
        {
            content: "The browser knows how long the recording is",
            trigger: "audio.o_medpulse_recording_player[data-medpulse-duration]",
        },
    ],
});
