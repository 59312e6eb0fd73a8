import { describe, expect, test } from "@odoo/hoot";
import { advanceTime, animationFrame } from "@odoo/hoot-mock";
import { contains, defineMailModels, start, startServer } from "@mail/../tests/mail_test_helpers";
import { getService, onRpc, serverState } from "@web/../tests/web_test_helpers";
import { patchWebsocketWorkerWithCleanup } from "@bus/../tests/mock_websocket";
import { serializeDateTime } from "@web/core/l10n/dates";
import { REFRESH_DELAY, WALLBOARD_NOTIFICATION } from "@medpulse_telephony/wallboard/wallboard";

const { DateTime } = luxon;

describe.current.tags("desktop");
defineMailModels();

function at(seconds) {
    return serializeDateTime(DateTime.now().plus({ seconds }));
}

function board(values = {}) {
    return {
        company_id: 1,
        company: "Clinic",
        now: at(0),
        tv_mode: false,
        show_names: true,
        tz: "UTC",
        day_end: at(86400),
        after_call_seconds: 120,
        waiting: [],
        in_progress: [],
        operators: [],
        totals: {
            incoming: 3,
            answered: 2,
            answered_rate: 67,
            missed: 1,
            callbacks_in_time: 1,
            callbacks_late: 0,
            average_wait: 12,
            longest_wait: 30,
            bookings: 1,
            outgoing: 0,
            talk_seconds: 0,
        },
        silence: { silent: false, minutes: 60, last_event_at: at(-60), check_at: at(3600) },
        ...values,
    };
}

async function openBoard(boards) {
    const pyEnv = await startServer();
    onRpc("medpulse.call", "get_active_cards", () => []);
    onRpc("medpulse.wallboard", "get_board", () => {
        expect.step("get_board");
        return boards.length > 1 ? boards.shift() : boards[0];
    });
    await start();
    await getService("action").doAction({
        type: "ir.actions.client",
        tag: "medpulse_telephony.wallboard",
    });
    await contains(".o_medpulse_wallboard_operators");
    expect.verifySteps(["get_board"]);
    const changed = (companyId) =>
        pyEnv["bus.bus"]._sendone(serverState.partnerId, WALLBOARD_NOTIFICATION, {
            company_id: companyId,
            call_ids: [7],
        });
    return { changed };
}

test("the board reads its state again for its company's calls, once per burst, and after a reconnect", async () => {
    const incoming = (count) => board({ totals: { ...board().totals, incoming: count } });
    const { changed } = await openBoard([incoming(3), incoming(4), incoming(5)]);
    changed(2);
    await advanceTime(REFRESH_DELAY + 10);
    await animationFrame();
    expect.verifySteps([]);
    for (let event = 0; event < 3; event++) {
        changed(1);
    }
    await advanceTime(REFRESH_DELAY + 10);
    await contains("[data-figure='incoming'] .o_medpulse_wallboard_figure", { text: "4" });
    expect.verifySteps(["get_board"]);
    patchWebsocketWorkerWithCleanup().broadcast("reconnect");
    await contains("[data-figure='incoming'] .o_medpulse_wallboard_figure", { text: "5" });
    expect.verifySteps(["get_board"]);
});

test("a banner while the PBX is silent, gone with the next event", async () => {
    const silent = board({ silence: { silent: true, minutes: 60, last_event_at: at(-7200), check_at: at(300) } });
    const { changed } = await openBoard([silent, board()]);
    await contains(".o_medpulse_wallboard_silent:contains(60 minutes)");
    changed(1);
    await advanceTime(REFRESH_DELAY + 10);
    await contains(".o_medpulse_wallboard_silent", { count: 0 });
    expect.verifySteps(["get_board"]);
});

test("waiting time counts up, and after-call work ends by itself after its limit", async () => {
    await openBoard([
        board({
            waiting: [{ call_id: 7, number: "+7 916 123-45-67", patient: "Ivanova Anna", line: "Main", since: at(-65), where: "queue", queue: "group 300", ringing: [] }],
            operators: [{ id: 5, name: "Olga", extension: "101", state: "after_call", since: at(-115), after_call_until: at(5), figures: { answered: 1, outgoing: 0, talk_seconds: 60, average_wait: 12, bookings: 0, callbacks_in_time: 0 } }],
        }),
    ]);
    await contains(".o_medpulse_wallboard_waiting tr[data-call-id='7']", { text: "Queue, group 300" });
    await contains(".o_medpulse_wallboard_waiting .o_medpulse_wallboard_counter", { text: "1:05" });
    await contains("[data-state='after_call']");
    await advanceTime(6000);
    await contains("[data-state='free']");
    await contains(".o_medpulse_wallboard_waiting .o_medpulse_wallboard_counter", { text: "1:11" });
});
