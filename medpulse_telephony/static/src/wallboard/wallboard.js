import { Component, onMounted, onWillStart, onWillUnmount, useState } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { deserializeDateTime } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";

/** Bus notification type of the wallboard (models/medpulse_wallboard.py). */
export const WALLBOARD_NOTIFICATION = "medpulse_telephony.wallboard";
/** TV mode is a setting of the browser (the TV's), not of the user signed in. */
export const TV_MODE_KEY = "medpulse_telephony.wallboard_tv";
/**
 * The board reads itself again at least this often, pushes or not: each read keeps the
 * server's pushes of its variant on (`medpulse.wallboard.watch`, WATCH_MINUTES, more than
 * twice this: SILENCE_RECHECK_MINUTES in models/medpulse_wallboard.py).
 */
export const REREAD_MS = 5 * 60 * 1000;

/** "1:05" or "1:02:05": seconds as a counter. */
export function formatDuration(seconds) {
    const total = Math.max(0, Math.floor(seconds || 0));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = String(total % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/**
 * The supervisors' live wallboard: calls waiting and in progress, the operators' states and
 * today's figures of the current company. Its state comes from the server: read when it
 * opens (`medpulse.wallboard.get_board`), after the websocket reconnects, at midnight, when
 * the server said to check again whether the PBX went silent, and every REREAD_MS whatever
 * else happens (a push moves the silence check on, so with calls all day the board would
 * otherwise never read again, and its pushes, kept on by its reads, would stop); in between, pushed by
 * the server on the bus whenever the company's board changes, in the one variant this board
 * shows (with names, without, or for a TV: `boardChannel`), which it asks the bus for.
 * Between updates, the counters (waiting, talk time, how long an operator is in a state)
 * count up here.
 */
export class Wallboard extends Component {
    static template = "medpulse_telephony.Wallboard";
    static props = ["*"];

    setup() {
        this.orm = useService("orm");
        this.bus = useService("bus_service");
        this.action = useService("action");
        this.state = useState({
            board: null,
            tv: browser.localStorage.getItem(TV_MODE_KEY) === "1",
            now: Date.now(),
        });
        /** Server clock minus browser clock, so that counters start at the server's times. */
        this.skew = 0;
        /** The bus channel this board listens to (`boardChannel`). */
        this.channel = null;
        this.onNotification = (payload) => {
            const board = this.state.board;
            if (
                board &&
                payload.company_id === board.company_id &&
                payload.variant === this.variant(board)
            ) {
                this.show(payload.board);
            }
        };
        this.onReconnect = () => this.load();
        onWillStart(() => this.load());
        onMounted(() => {
            this.bus.subscribe(WALLBOARD_NOTIFICATION, this.onNotification);
            this.bus.addEventListener("reconnect", this.onReconnect);
            this.ticker = browser.setInterval(() => (this.state.now = Date.now()), 1000);
            this.reread = browser.setInterval(() => this.load(), REREAD_MS);
        });
        onWillUnmount(() => {
            this.bus.unsubscribe(WALLBOARD_NOTIFICATION, this.onNotification);
            this.bus.removeEventListener("reconnect", this.onReconnect);
            if (this.channel) {
                this.bus.deleteChannel(this.channel);
            }
            browser.clearInterval(this.ticker);
            browser.clearInterval(this.reread);
            browser.clearTimeout(this.recheck);
        });
    }

    async load() {
        const board = await this.orm.call("medpulse.wallboard", "get_board", [], {
            tv_mode: this.state.tv,
        });
        this.show(board);
        this.listen(board);
    }

    show(board) {
        this.skew = this.toMillis(board.now) - Date.now();
        this.state.board = board;
        this.state.now = Date.now();
        this.scheduleRecheck(board);
    }

    /** The variant of the board pushed to this one: what it shows. */
    variant(board) {
        if (this.state.tv) {
            return "tv";
        }
        return board.show_names ? "named" : "unnamed";
    }

    /** Ask the bus for this board's channel (the server grants it or not). */
    listen(board) {
        const channel = boardChannel(board.company_id, this.variant(board));
        if (channel !== this.channel) {
            if (this.channel) {
                this.bus.deleteChannel(this.channel);
            }
            this.channel = channel;
            this.bus.addChannel(channel);
        }
    }

    /** Read again at midnight, or when silence may have started if no event comes. */
    scheduleRecheck(board) {
        browser.clearTimeout(this.recheck);
        const at = Math.min(this.toMillis(board.day_end), this.toMillis(board.silence.check_at));
        const delay = Math.max(at - this.serverNow, 1000);
        this.recheck = browser.setTimeout(() => this.load(), Math.min(delay, 2 ** 31 - 1));
    }

    toMillis(value) {
        return value ? deserializeDateTime(value).toMillis() : 0;
    }

    get serverNow() {
        return this.state.now + this.skew;
    }

    /** Seconds since a server time, counted up each second. */
    since(value) {
        return value ? formatDuration((this.serverNow - this.toMillis(value)) / 1000) : "";
    }

    /** An operator in after-call work for longer than its limit is free again. */
    operatorState(operator) {
        if (
            operator.state === "after_call" &&
            this.serverNow >= this.toMillis(operator.after_call_until)
        ) {
            return { state: "free", since: operator.after_call_until };
        }
        return { state: operator.state, since: operator.since };
    }

    stateLabel(state) {
        return {
            free: _t("Free"),
            ringing: _t("Ringing"),
            talking: _t("Talking"),
            after_call: _t("After-call work"),
            away: _t("Away"),
        }[state];
    }

    stateClass(state) {
        return {
            free: "text-bg-success",
            ringing: "text-bg-warning",
            talking: "text-bg-primary",
            after_call: "text-bg-info",
            away: "text-bg-secondary",
        }[state];
    }

    whereLabel(row) {
        if (row.where === "ringing") {
            return _t("Ringing: %s", row.ringing.join(", "));
        }
        const where = row.where === "ivr" ? _t("Voice menu") : _t("Queue");
        if (!row.queue) {
            return where;
        }
        const group = _t("group %s", row.queue);
        return `${where}, ${group}`;
    }

    get silenceMessage() {
        return _t(
            "No event from the PBX during the last %(minutes)s minutes of working time: this board may be out of date. Check Telephony ▸ Configuration ▸ Integration health.",
            { minutes: this.state.board.silence.minutes }
        );
    }

    get calledBackInTime() {
        const { callbacks_in_time: done, callbacks_late: late } = this.state.board.totals;
        return late || done ? `${done} / ${done + late}` : "0";
    }

    formatDuration(seconds) {
        return formatDuration(seconds);
    }

    async toggleTv() {
        this.state.tv = !this.state.tv;
        browser.localStorage.setItem(TV_MODE_KEY, this.state.tv ? "1" : "0");
        await this.load();
    }

    fullScreen() {
        const element = document.documentElement;
        if (document.fullscreenElement) {
            document.exitFullscreen();
        } else if (element.requestFullscreen) {
            element.requestFullscreen();
        }
    }

    leave() {
        this.action.doAction("medpulse_telephony.medpulse_call_action", {
            clearBreadcrumbs: true,
        });
    }
}

/** The bus channel a board asks for: its company's board in one variant. */
export function boardChannel(companyId, variant) {
    return `medpulse_telephony.wallboard:${companyId}:${variant}`;
}

registry.category("actions").add("medpulse_telephony.wallboard", Wallboard);
