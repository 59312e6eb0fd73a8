import { describe, expect, test } from "@odoo/hoot";
import { advanceTime, animationFrame } from "@odoo/hoot-mock";
import { contains, defineMailModels, start, startServer } from "@mail/../tests/mail_test_helpers";
import { getService, onRpc, serverState } from "@web/../tests/web_test_helpers";
import { patchWebsocketWorkerWithCleanup } from "@bus/../tests/mock_websocket";
import { serializeDateTime } from "@web/core/l10n/dates";
import { WALLBOARD_NOTIFICATION } from "@medpulse_telephony/wallboard/wallboard";

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
    const pushed = (companyId, variant, values) =>
        pyEnv["bus.bus"]._sendone(serverState.partnerId, WALLBOARD_NOTIFICATION, {
            company_id: companyId,
            variant,
            board: board({ company_id: companyId, ...values }),
        });
    return { pushed };
}

const incoming = (count) => ({ totals: { ...board().totals, incoming: count } });

test("the board shows what the server pushes for its company and variant, and reads again after a reconnect", async () => {
    const { pushed } = await openBoard([board(incoming(3)), board(incoming(5))]);
    await contains("[data-figure='incoming'] .o_medpulse_wallboard_figure", { text: "3" });
    pushed(2, "named", incoming(8));
    pushed(1, "unnamed", incoming(9));
    pushed(1, "tv", incoming(10));
    await animationFrame();
    await contains("[data-figure='incoming'] .o_medpulse_wallboard_figure", { text: "3" });
    pushed(1, "named", incoming(4));
    await contains("[data-figure='incoming'] .o_medpulse_wallboard_figure", { text: "4" });
    expect.verifySteps([]);
    patchWebsocketWorkerWithCleanup().broadcast("reconnect");
    await contains("[data-figure='incoming'] .o_medpulse_wallboard_figure", { text: "5" });
    expect.verifySteps(["get_board"]);
});

test("the board reads itself again every 5 minutes while pushes keep coming", async () => {
    // Each push says to check the silence an hour after its last event: without a read of
    // its own, a board busy all day would never read again, and the server stops pushing
    // to a board that did not read for 12 minutes.
    const { pushed } = await openBoard([board(incoming(3))]);
    for (let minute = 1; minute < 5; minute++) {
        await advanceTime(60 * 1000);
        pushed(1, "named", incoming(3 + minute));
        await animationFrame();
    }
    expect.verifySteps([]);
    await advanceTime(60 * 1000);
    expect.verifySteps(["get_board"]);
    await contains("[data-figure='incoming'] .o_medpulse_wallboard_figure", { text: "3" });
    await advanceTime(5 * 60 * 1000);
    expect.verifySteps(["get_board"]);
});

test("a banner while the PBX is silent, gone with the next push", async () => {
    const silent = { silence: { silent: true, minutes: 60, last_event_at: at(-7200), check_at: at(300) } };
    const { pushed } = await openBoard([board(silent)]);
    await contains(".o_medpulse_wallboard_silent:contains(60 minutes)");
    pushed(1, "named", {});
    await contains(".o_medpulse_wallboard_silent", { count: 0 });
    expect.verifySteps([]);
});

test("waiting time counts up, and after-call work ends by itself after its limit", async () => {
    await openBoard([
        board({
            waiting: [{ call_id: 7, number: "+7 916 123-45-67", patient: "Ivanova Anna", line: "Main", since: at(-65), where: "queue", queue: "300", ringing: [] }],
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
