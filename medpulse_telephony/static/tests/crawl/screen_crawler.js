/**
 * The browser half of the screen crawl (``tests/test_crawl.py``).
 *
 * As the logged-in user, it opens every menu of the MedPulse apps that the web client
 * shows (the apps whose XML id starts with ``medpulse_``, so a new ``medpulse_*`` addon
 * is crawled without touching the test), every view type of each window action, the
 * first record of each list (and every page of its form), and the forms and wizards
 * that menus open directly. It goes through the web client's own services and clicks,
 * as a person would, and waits for every RPC and render to finish after each step.
 *
 * A problem is an error dialog, a failed step (a view that throws, or does not load in
 * time) or a list without records. Problems do not stop the crawl: it reports them all
 * at the end, with the menus it visited, on one console line that the Python half reads
 * and compares with the menus ``ir.ui.menu`` gives that user. Console errors and
 * uncaught exceptions are caught by the Python half (``browser_js``).
 */
import { App } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { rpcBus } from "@web/core/network/rpc";

export const REPORT_PREFIX = "medpulse-crawl-report:";
export const STEP_PREFIX = "medpulse-crawl-step:";
const APP_PREFIX = "medpulse_";
const SETTLE_TIMEOUT = 20000;
const POLL = 25;
const MULTI_RECORD = ["list", "kanban"];

function click(target) {
    for (const type of ["pointerdown", "mousedown", "pointerup", "mouseup", "click"]) {
        target.dispatchEvent(new MouseEvent(type, { bubbles: true, cancelable: true, view: window }));
    }
}

function text(element) {
    return (element?.innerText || "").replace(/\s+/g, " ").trim();
}

class ScreenCrawler {
    constructor(env) {
        this.env = env;
        this.pendingRpcs = new Map();
        this.failedRpcs = [];
        this.problems = [];
        this.visited = [];
        this.screens = 0;
        this.onRequest = ({ detail }) => this.pendingRpcs.set(detail.data.id, detail.url);
        this.onResponse = ({ detail }) => {
            this.pendingRpcs.delete(detail.data.id);
            if (detail.error) {
                const data = detail.error.data || {};
                this.failedRpcs.push(`${detail.url}: ${data.name || ""} ${data.message || detail.error.message || ""}`);
            }
        };
    }

    start() {
        rpcBus.addEventListener("RPC:REQUEST", this.onRequest);
        rpcBus.addEventListener("RPC:RESPONSE", this.onResponse);
    }

    stop() {
        rpcBus.removeEventListener("RPC:REQUEST", this.onRequest);
        rpcBus.removeEventListener("RPC:RESPONSE", this.onResponse);
    }

    /** Wait until nothing is loading or rendering and ``ready()`` holds; throw on an error dialog. */
    async settle(ready = () => true) {
        const deadline = Date.now() + SETTLE_TIMEOUT;
        const busy = () =>
            this.pendingRpcs.size > 0 || [...App.apps].some((app) => app.scheduler.tasks.size > 0);
        for (;;) {
            const errorDialog = document.querySelector(".o_error_dialog");
            if (errorDialog) {
                const title = text(errorDialog.querySelector(".modal-title"));
                const rpc = this.failedRpcs.length ? ` (RPC ${this.failedRpcs.at(-1)})` : "";
                throw new Error(`error dialog "${title}": ${text(errorDialog.querySelector(".modal-body")).slice(0, 600)}${rpc}`);
            }
            if (!busy() && ready()) {
                // one more frame: a render scheduled by the last RPC's answer
                await new Promise((resolve) => requestAnimationFrame(resolve));
                if (!busy() && ready()) {
                    return;
                }
            }
            if (Date.now() > deadline) {
                const pending = [...this.pendingRpcs.values()].join(", ");
                throw new Error(`did not load within ${SETTLE_TIMEOUT / 1000} s${pending ? ` (waiting for ${pending})` : ""}`);
            }
            await new Promise((resolve) => browser.setTimeout(resolve, POLL));
        }
    }

    /** Run one step; a failure becomes a problem of ``where`` and the crawl goes on. */
    async step(where, action, ready) {
        browser.console.log(`${STEP_PREFIX}${where}`);
        this.failedRpcs = [];
        try {
            await action();
            await this.settle(ready);
            this.screens++;
            return true;
        } catch (error) {
            this.problems.push({ where, message: String(error?.message || error).slice(0, 1500) });
            await this.recover();
            return false;
        }
    }

    async recover() {
        this.env.services.dialog.closeAll();
        try {
            await this.settle();
        } catch {
            // the next step starts from a new menu anyway
        }
    }

    /**
     * [menu, path] of every menu with an action in the apps of our addons, in menu order.
     * An app's own entry opens the action of its first menu: that menu is visited instead.
     */
    menus() {
        const menuService = this.env.services.menu;
        const found = [];
        const walk = (menu, path) => {
            const here = path ? `${path} ▸ ${menu.name}` : menu.name;
            found.push([menu, here]);
            for (const child of menu.childrenTree || []) {
                walk(child, here);
            }
        };
        for (const app of menuService.getApps()) {
            if ((app.xmlid || "").startsWith(APP_PREFIX)) {
                walk(menuService.getMenuAsTree(app.id), "");
            }
        }
        const withAction = found.filter(([menu]) => menu.actionID);
        return withAction.filter(
            ([menu]) =>
                menu.id !== menu.appID ||
                !withAction.some(([other]) => other !== menu && other.actionID === menu.actionID)
        );
    }

    async crawl() {
        for (const [menu, path] of this.menus()) {
            this.visited.push(menu.id);
            await this.visitMenu(menu, path);
        }
        this.env.services.dialog.closeAll();
    }

    async visitMenu(menu, path) {
        if (!(await this.step(path, () => this.env.services.menu.selectMenu(menu)))) {
            return;
        }
        if (document.querySelector(".o_dialog .modal")) {
            // a wizard: it opened in a dialog and loaded; close it
            await this.visitForm(`${path} (dialog)`);
            this.env.services.dialog.closeAll();
            await this.settle();
            return;
        }
        const controller = this.env.services.action.currentController;
        const action = controller?.action;
        if (action?.type !== "ir.actions.act_window") {
            return;
        }
        const types = action.views.map(([, type]) => type).filter((type) => type !== "search");
        for (const type of types) {
            if (type === "form" && types[0] !== "form") {
                continue; // record forms are opened from the list
            }
            const where = `${path} ▸ ${type}`;
            if (this.env.services.action.currentController.view?.type !== type) {
                const switched = await this.step(where, () => this.env.services.action.switchView(type));
                if (!switched) {
                    continue;
                }
            }
            if (MULTI_RECORD.includes(type)) {
                await this.openFirstRecord(where, type, action.res_model, types.includes("form"));
            } else if (type === "form") {
                await this.visitForm(where);
            }
        }
    }

    /** Open the first record (a list without a form view only opens editable rows). */
    async openFirstRecord(where, type, model, hasForm) {
        const view = document.querySelector(`.o_action_manager .o_${type}_view`);
        const sample = view?.closest(".o_view_sample_data") || view?.querySelector(".o_view_sample_data");
        let first =
            type === "list"
                ? view?.querySelector(".o_data_row")
                : view?.querySelector(".o_kanban_record:not(.o_kanban_ghost)");
        const group = type === "list" && !first && view?.querySelector(".o_group_header");
        if (group && !sample) {
            // A list grouped by default (a worklist per slot): its first group, opened.
            await this.step(
                `${where} ▸ first group`,
                () => click(group),
                () => view.querySelector(".o_data_row")
            );
            first = view.querySelector(".o_data_row");
        }
        if (!first || sample) {
            this.problems.push({
                where,
                message: `the list is empty (${model}): the crawl database needs a record this user can see`,
            });
            return;
        }
        if (type === "kanban") {
            await this.step(`${where} ▸ first record`, () => click(first), () => document.querySelector(".o_action_manager .o_form_view"));
            await this.visitForm(`${where} ▸ first record`);
            return;
        }
        const cell = [...first.querySelectorAll("td.o_data_cell")].find(
            (td) => !td.querySelector("button, a, img, input, .o_avatar, .badge")
        );
        if (!cell) {
            return;
        }
        const opened = await this.step(
            `${where} ▸ first record`,
            () => click(cell),
            hasForm
                ? () => document.querySelector(".o_action_manager .o_form_view, .o_data_row.o_selected_row")
                : undefined
        );
        if (!opened || (!hasForm && !document.querySelector(".o_data_row.o_selected_row"))) {
            return;
        }
        if (document.querySelector(".o_data_row.o_selected_row")) {
            // an editable list: the row is in edition; leave it unchanged
            const discard = document.querySelector(".o_list_button_discard");
            if (discard) {
                await this.step(`${where} ▸ first record ▸ discard`, () => click(discard));
            }
            return;
        }
        await this.visitForm(`${where} ▸ first record`);
    }

    /** Open every page of the form's notebooks: fields are only rendered on their page. */
    async visitForm(where) {
        const scope = document.querySelector(".o_dialog .modal") || document.querySelector(".o_action_manager");
        const pages = [...scope.querySelectorAll(".o_form_view .o_notebook_headers .nav-link:not(.active)")];
        for (const page of pages) {
            if (page.isConnected) {
                await this.step(`${where} ▸ page "${text(page)}"`, () => click(page));
            }
        }
    }

    report(seconds) {
        return { visited: this.visited, problems: this.problems, screens: this.screens, seconds };
    }
}

/** Crawl the screens of our apps as the current user; report on the console, then succeed. */
export async function crawlScreens() {
    const started = Date.now();
    const crawler = new ScreenCrawler(odoo.__WOWL_DEBUG__.root.env);
    crawler.start();
    try {
        await crawler.crawl();
    } finally {
        crawler.stop();
    }
    browser.console.log(REPORT_PREFIX + JSON.stringify(crawler.report((Date.now() - started) / 1000)));
    browser.console.log("test successful");
}
