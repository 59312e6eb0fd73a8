import { describe, expect, test } from "@odoo/hoot";
import { advanceTime } from "@odoo/hoot-mock";
import {
    click,
    contains,
    defineMailModels,
    openFormView,
    openListView,
    start,
    startServer,
} from "@mail/../tests/mail_test_helpers";
import { defineModels, fields, models, onRpc, serverState } from "@web/../tests/web_test_helpers";
import { waitForChannels } from "@bus/../tests/bus_test_helpers";
import {
    JOURNAL_CHANNEL,
    JOURNAL_NOTIFICATION,
    RELOAD_DELAY,
} from "@medpulse_telephony/journal/call_list";

describe.current.tags("desktop");

class MedpulseCall extends models.Model {
    _name = "medpulse.call";
    caller_number = fields.Char();
    _records = [{ id: 1, caller_number: "79161234567" }];
}
defineMailModels();
defineModels([MedpulseCall]);

const ARCH = `<list js_class="medpulse_call_list"><field name="caller_number"/></list>`;

async function openJournal() {
    const pyEnv = await startServer();
    onRpc("medpulse.call", "get_active_cards", () => []);
    onRpc("medpulse.call", "web_search_read", () => {
        expect.step("load");
    });
    await start();
    await openListView("medpulse.call", { arch: ARCH });
    await contains(".o_data_row", { count: 1 });
    expect.verifySteps(["load"]);
    const changed = (callId) =>
        pyEnv["bus.bus"]._sendone(serverState.partnerId, JOURNAL_NOTIFICATION, {
            call_ids: [callId],
        });
    return { pyEnv, changed };
}

test("the journal shows a new call by itself, one reload per burst of events", async () => {
    const { pyEnv, changed } = await openJournal();
    const callId = pyEnv["medpulse.call"].create({ caller_number: "79031112233" });
    for (let event = 0; event < 5; event++) {
        changed(callId);
    }
    await advanceTime(RELOAD_DELAY + 10);
    await contains(".o_data_row", { count: 2 });
    expect.verifySteps(["load"]);
});

test("a selection in the journal is not reloaded away", async () => {
    const { pyEnv, changed } = await openJournal();
    await click(".o_data_row .o_list_record_selector input");
    changed(pyEnv["medpulse.call"].create({ caller_number: "79031112233" }));
    await advanceTime(RELOAD_DELAY + 10);
    await contains(".o_data_row", { count: 1 });
    expect.verifySteps([]);
});

test("the journal's channel is asked for while a journal list is open, and left after", async () => {
    await openJournal();
    await waitForChannels([JOURNAL_CHANNEL]);
    await openFormView("medpulse.call", 1);
    await waitForChannels([JOURNAL_CHANNEL], { operation: "delete" });
});
