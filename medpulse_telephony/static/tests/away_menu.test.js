import { describe, expect, test } from "@odoo/hoot";
import { click, contains, defineMailModels, start } from "@mail/../tests/mail_test_helpers";
import { onRpc } from "@web/../tests/web_test_helpers";

describe.current.tags("desktop");
defineMailModels();

const TOGGLE = ".o_medpulse_away_toggle";

/** The current user as the server answers the systray switch: groups, extension, away. */
function me({ operator = true, extension = "101", away = false } = {}) {
    onRpc("has_group", ({ args }) =>
        args[1] === "medpulse_telephony.group_telephony_operator" ? operator : false
    );
    onRpc("res.users", "read", ({ args }) => {
        if (args[1]?.includes("medpulse_pbx_away")) {
            expect.step("read");
            const values = { medpulse_pbx_extension: extension, medpulse_pbx_away: away };
            return [{ id: args[0][0], ...values }];
        }
    });
    onRpc("res.users", "write", ({ args }) => {
        expect.step(`write ${JSON.stringify(args[1])}`);
        return true;
    });
}

test("an operator on duty goes away in one click, and back", async () => {
    me();
    await start();
    await contains(`${TOGGLE}.o_medpulse_on_duty`, { text: "On duty" });
    expect.verifySteps(["read"]);
    await click(TOGGLE);
    await contains(`${TOGGLE}.o_medpulse_away`, { text: "Away" });
    expect.verifySteps([`write {"medpulse_pbx_away":true}`]);
    await click(TOGGLE);
    await contains(`${TOGGLE}.o_medpulse_on_duty`, { text: "On duty" });
    expect.verifySteps([`write {"medpulse_pbx_away":false}`]);
});

test("an away operator sees Away after a reload", async () => {
    me({ away: true });
    await start();
    await contains(`${TOGGLE}.o_medpulse_away`, { text: "Away" });
    expect.verifySteps(["read"]);
});

test("no switch for an operator without an extension", async () => {
    me({ extension: false });
    await start();
    await contains(".o_menu_systray");
    await contains(TOGGLE, { count: 0 });
    expect.verifySteps(["read"]);
});

test("a user who is not an operator is not asked", async () => {
    me({ operator: false });
    await start();
    await contains(".o_menu_systray");
    await contains(TOGGLE, { count: 0 });
    expect.verifySteps([]);
});
