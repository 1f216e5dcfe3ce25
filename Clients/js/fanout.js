/*!
 * fanout.js: a small browser client for a Fanout edge. No dependencies, no build step.
 *
 * Loading it
 *   <script src="/fanout.js"></script>          classic script: defines window.Fanout
 *   import { FanoutClient } from "/fanout.mjs";  ES module (fanout.mjs re-exports this file)
 *   const { FanoutClient } = require("./fanout.js");   CommonJS (AMD `define` works too)
 *   The edge serves both files: GET /fanout.js and GET /fanout.mjs. It embeds copies of them:
 *   after editing either, run `bash scripts/embed-web-assets.sh` (a test fails until you do).
 *
 * API
 *   const client = new Fanout.FanoutClient(url, options)
 *     url        "ws://host:port/ws" or "wss://…"; in a page served by the edge:
 *                (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws"
 *     options (all optional):
 *       onMessage(data, event)    every frame from the edge: a string (text frame) or an
 *                                 ArrayBuffer (binary frame). Fanout's handlers send JSON text;
 *                                 parse it yourself (JSON.parse(data)).
 *       onOpen({ url, reconnected })          the WebSocket is open; `reconnected` is true
 *                                 after the first time. A new connection has a new connection
 *                                 ID on the edge: re-join your rooms here.
 *       onClose({ code, reason, wasClean, reconnecting, delayMs })
 *                                 the WebSocket closed. `reconnecting` says whether a new attempt
 *                                 is scheduled, in `delayMs` milliseconds.
 *       onError(error)            a FanoutError (see below); the browser reports no details on
 *                                 WebSocket errors, so this is informational: onClose follows.
 *       onStateChange(state, previous)        every change of `client.state`.
 *       reconnect: { initialMs: 500, maxMs: 30000, stableMs: 5000 }, or false for no reconnect.
 *                                 Attempt n (0, 1, 2, …) waits a random time in
 *                                 [0, min(maxMs, initialMs * 2^n)] ("full jitter"). n goes back
 *                                 to 0 once a connection has stayed open for stableMs, so an edge
 *                                 that accepts and then closes at once is not retried in a loop.
 *       connectTimeoutMs: 10000   a connection attempt still not open after this long is
 *                                 abandoned and counts as a failed attempt.
 *       protocols                 WebSocket subprotocols, passed to the WebSocket constructor.
 *       WebSocket                 the WebSocket constructor (default: the global one), for tests.
 *
 *   client.connect()   starts connecting; returns the client. Does nothing while connecting or
 *                      open. After close(), starts again from attempt 0.
 *   client.send(data)  sends a string (text frame) or an ArrayBuffer, typed array, DataView or
 *                      Blob (binary frame). Returns the message's 1-based number on the current
 *                      connection: the edge names that number as `seq` when it refuses a message
 *                      ({"type":"error","error":"overloaded"|"unavailable","retry":true,"seq":N}).
 *                      Nothing is ever buffered: when the state is not "open" it throws a
 *                      FanoutError with code "not_open"; another type of data throws a TypeError.
 *   client.close(code = 1000, reason = "")
 *                      closes for good: no reconnect. Returns the client.
 *   client.state       "idle" (never connected), "connecting", "open", "reconnecting" (waiting
 *                      before the next attempt), "closing" (after close(), until the socket has
 *                      closed) or "closed" (for good, until connect() is called again).
 *   client.url, client.attempt (failed attempts since the last stable connection)
 *
 * Rooms (the chat protocol; optional — send your own frames if you speak another one)
 *   client.join(room)  joins `room` now if open, and again after every reconnect. The client
 *                      remembers the last message offset it saw in each room with the room's
 *                      epoch, and a join after the first names them ({"type":"join","room":R,
 *                      "since":N,"epoch":"E"}), so the edge sends every message missed while
 *                      disconnected, in order, before the live ones. Returns the message number,
 *                      or null when not open (the join is sent on open).
 *   client.leave(room) leaves and forgets `room`. Returns the message number or null.
 *   client.position(room)  { epoch, offset } of the last message seen in `room`, or null.
 *   options.onJoined({ room, offset, epoch, recovered, reason, resumed })
 *                      the edge confirmed a join. `resumed` is true when it named `since`;
 *                      then `recovered` says whether every missed message follows.
 *   options.onRecoveryFailed({ room, since, reason })
 *                      a rejoin could not recover what was missed ("trimmed", "expired",
 *                      "epoch_changed", "unknown_offset", "disabled"): the app should reload
 *                      the room's state its own way. Live messages continue.
 *   Room messages ({"type":"message","room":R,"offset":N,…}) reach onMessage once each, in
 *   order: one at or below the room's remembered offset (seen before a reconnect) is dropped.
 *   After close code 4010 (the edge could not keep a room in order) the client reconnects and
 *   recovers like after any other drop.
 *
 *   Fanout.FanoutError   Error subclass with a `code`: "not_open", "socket_error",
 *                        "connect_timeout".
 *   Fanout.backoffDelay(n, initialMs, maxMs, random = Math.random)   the delay before attempt n.
 *   Fanout.NO_RECONNECT_CODES   close codes after which the client does not reconnect.
 *
 * When it reconnects
 *   After any close it did not ask for, except the codes in NO_RECONNECT_CODES: 1000 (normal),
 *   1002 (protocol error), 1003 (unsupported data), 1007 (invalid payload), 1008 (policy
 *   violation), 1009 (message too big). A reconnect would only repeat those. It does reconnect
 *   after 1001 (edge going away), 1006 (connection lost or refused), 1011, 1013 (try again later)
 *   4008 (slow consumer) and 4010 (insufficient state: rejoin with since), each after the backoff delay. Close codes: see the README.
 */
(function (root, factory) {
    "use strict";
    var api = factory();
    if (typeof define === "function" && define.amd) {
        define([], function () { return api; });
    } else if (typeof module === "object" && module && module.exports) {
        module.exports = api;
    } else {
        // No module system (a classic <script>, or evaluated by fanout.mjs): a global.
        root.Fanout = api;
    }
})(typeof globalThis !== "undefined" ? globalThis : typeof self !== "undefined" ? self : this, function () {
    "use strict";

    var VERSION = "1.1.0";
    var NO_RECONNECT_CODES = [1000, 1002, 1003, 1007, 1008, 1009];
    var DEFAULT_RECONNECT = { initialMs: 500, maxMs: 30000, stableMs: 5000 };

    /** An error of this library, with a machine-readable `code`. */
    function FanoutError(code, message) {
        var error = new Error(message);
        Object.setPrototypeOf(error, FanoutError.prototype);
        error.name = "FanoutError";
        error.code = code;
        return error;
    }
    FanoutError.prototype = Object.create(Error.prototype, {
        constructor: { value: FanoutError, writable: true, configurable: true },
    });

    /** Full jitter: a random delay in [0, min(maxMs, initialMs * 2^n)]. */
    function backoffDelay(n, initialMs, maxMs, random) {
        var cap = Math.min(maxMs, initialMs * Math.pow(2, Math.min(n, 52)));
        return Math.floor((random || Math.random)() * (cap + 1));
    }

    function isBinary(data) {
        return (typeof ArrayBuffer !== "undefined" && (data instanceof ArrayBuffer || ArrayBuffer.isView(data))) ||
            (typeof Blob !== "undefined" && data instanceof Blob);
    }

    function FanoutClient(url, options) {
        if (!(this instanceof FanoutClient)) throw new TypeError("use: new FanoutClient(url, options)");
        if (typeof url !== "string" || !/^wss?:\/\//i.test(url)) {
            throw new TypeError("FanoutClient: url must start with ws:// or wss://, got " + String(url));
        }
        options = options || {};
        this.url = url;
        this.options = options;
        this.reconnect = options.reconnect === false ? null : {
            initialMs: positive(options.reconnect && options.reconnect.initialMs, DEFAULT_RECONNECT.initialMs),
            maxMs: positive(options.reconnect && options.reconnect.maxMs, DEFAULT_RECONNECT.maxMs),
            stableMs: positive(options.reconnect && options.reconnect.stableMs, DEFAULT_RECONNECT.stableMs),
        };
        this.connectTimeoutMs = positive(options.connectTimeoutMs, 10000);
        this.state = "idle";
        this.attempt = 0;
        this._WebSocket = options.WebSocket || (typeof WebSocket !== "undefined" ? WebSocket : null);
        if (!this._WebSocket) throw new TypeError("FanoutClient: no WebSocket implementation; pass options.WebSocket");
        this._socket = null;
        this._sequence = 0;
        this._opens = 0;
        this._retryTimer = null;
        this._connectTimer = null;
        this._stableTimer = null;
        this._rooms = {};  // room -> { epoch: string|null, offset: number|null, resuming: bool }
    }

    function positive(value, fallback) {
        return typeof value === "number" && isFinite(value) && value >= 0 ? value : fallback;
    }

    FanoutClient.prototype.connect = function () {
        if (this.state === "connecting" || this.state === "open") return this;
        // From "reconnecting" this skips the wait; from anything else it is a fresh start.
        if (this.state !== "reconnecting") this.attempt = 0;
        this._clearTimers();
        this._detach();
        this._open();
        return this;
    };

    FanoutClient.prototype.send = function (data) {
        if (typeof data !== "string" && !isBinary(data)) {
            throw new TypeError("FanoutClient.send: expected a string, ArrayBuffer, typed array, DataView or Blob");
        }
        var socket = this._socket;
        if (this.state !== "open" || !socket || socket.readyState !== 1) {
            throw FanoutError("not_open", "cannot send: the connection is " + this.state + " (nothing is buffered)");
        }
        socket.send(data);
        this._sequence += 1;
        return this._sequence;
    };

    FanoutClient.prototype.join = function (room) {
        if (!this._rooms[room]) this._rooms[room] = { epoch: null, offset: null, resuming: false };
        return this.state === "open" ? this._sendJoin(room) : null;
    };

    FanoutClient.prototype.leave = function (room) {
        delete this._rooms[room];
        return this.state === "open" ? this.send(JSON.stringify({ type: "leave", room: room })) : null;
    };

    FanoutClient.prototype.position = function (room) {
        var known = this._rooms[room];
        return known && known.offset !== null ? { epoch: known.epoch, offset: known.offset } : null;
    };

    FanoutClient.prototype._sendJoin = function (room) {
        var known = this._rooms[room], request = { type: "join", room: room };
        known.resuming = known.offset !== null;
        if (known.resuming) {
            request.since = known.offset;
            if (known.epoch !== null) request.epoch = known.epoch;
        }
        return this.send(JSON.stringify(request));
    };

    /** Tracks offsets of room frames; returns false for a duplicate the app must not see. */
    FanoutClient.prototype._track = function (data) {
        if (typeof data !== "string" || data.lastIndexOf('{"type":"', 0) !== 0) return true;
        var isJoined = data.lastIndexOf('{"type":"joined"', 0) === 0, isMessage = data.lastIndexOf('{"type":"message"', 0) === 0;
        if (!isJoined && !isMessage) return true;
        var frame;
        try { frame = JSON.parse(data); } catch (ignored) { return true; }
        var known = this._rooms[frame.room];
        if (!known) return true;
        if (isMessage) {
            if (typeof frame.offset !== "number") return true;
            if (known.offset !== null && frame.offset <= known.offset) return false;  // seen before the reconnect
            known.offset = frame.offset;
            return true;
        }
        var resumed = known.resuming, since = known.offset;
        known.resuming = false;
        if (typeof frame.offset === "number") {
            // Not recovered: start from the room's offset now. Recovered: the missed ones follow.
            if (frame.recovered !== true || known.epoch !== frame.epoch) known.offset = frame.offset;
            known.epoch = frame.epoch === undefined ? null : frame.epoch;
        }
        if (this.options.onJoined) {
            this.options.onJoined({ room: frame.room, offset: frame.offset, epoch: frame.epoch, recovered: frame.recovered === true,
                reason: frame.reason, resumed: resumed });
        }
        if (resumed && frame.recovered !== true && this.options.onRecoveryFailed) {
            this.options.onRecoveryFailed({ room: frame.room, since: since, reason: frame.reason || "unknown" });
        }
        return true;
    };

    FanoutClient.prototype.close = function (code, reason) {
        this._clearTimers();
        var socket = this._socket;
        if (socket && (socket.readyState === 0 || socket.readyState === 1)) {
            // Throws (InvalidAccessError) for a code other than 1000 or 3000-4999, before any change.
            socket.close(code === undefined ? 1000 : code, reason || "");
            this._setState("closing");
        } else {
            this._detach();
            this._setState("closed");
        }
        return this;
    };

    FanoutClient.prototype._open = function () {
        var self = this;
        var socket;
        this._setState("connecting");
        try {
            socket = this.options.protocols === undefined
                ? new this._WebSocket(this.url)
                : new this._WebSocket(this.url, this.options.protocols);
        } catch (error) {
            // A malformed URL or a blocked port: the constructor throws instead of failing later.
            this._setState("closed");
            throw error;
        }
        socket.binaryType = "arraybuffer";
        this._socket = socket;
        this._sequence = 0;
        this._connectTimer = setTimeout(function () {
            if (self._socket !== socket || socket.readyState !== 0) return;
            self._report(FanoutError("connect_timeout", "no connection after " + self.connectTimeoutMs + " ms"));
            self._lost(socket, 1006, "connect timeout", false);
        }, this.connectTimeoutMs);

        // Each handler first checks that its socket is still the current one: a socket given up
        // on (connect timeout) may still deliver events, which must not touch the new one.
        socket.onopen = function () {
            if (self._socket !== socket) return;
            clearTimeout(self._connectTimer);
            self._opens += 1;
            self._setState("open");
            var reconnect = self.reconnect;
            if (reconnect) {
                self._stableTimer = setTimeout(function () {
                    if (self._socket === socket) self.attempt = 0;
                }, reconnect.stableMs);
            }
            if (self.options.onOpen) self.options.onOpen({ url: self.url, reconnected: self._opens > 1 });
            // Rooms joined before are joined again, each naming the last message seen there.
            for (var room in self._rooms) {
                if (Object.prototype.hasOwnProperty.call(self._rooms, room) && self._socket === socket && self.state === "open") self._sendJoin(room);
            }
        };
        socket.onmessage = function (event) {
            if (self._socket !== socket) return;
            if (!self._track(event.data)) return;
            if (self.options.onMessage) self.options.onMessage(event.data, event);
        };
        socket.onerror = function () {
            if (self._socket !== socket) return;
            self._report(FanoutError("socket_error", "WebSocket error on " + self.url + " (the browser gives no details)"));
        };
        socket.onclose = function (event) {
            if (self._socket !== socket) return;
            self._lost(socket, event.code, event.reason, event.wasClean);
        };
    };

    /** The current socket closed (or was given up on): report it and maybe schedule a reconnect. */
    FanoutClient.prototype._lost = function (socket, code, reason, wasClean) {
        var self = this;
        var userClosed = this.state === "closing";
        this._clearTimers();
        this._detach();
        if (socket.readyState === 0 || socket.readyState === 1) {
            try { socket.close(); } catch (ignored) { /* already closing */ }
        }
        var retry = !userClosed && this.reconnect !== null && NO_RECONNECT_CODES.indexOf(code) < 0;
        var delayMs = 0;
        if (retry) {
            // Scheduled before the callback runs, so a callback that throws cannot stop reconnecting.
            delayMs = backoffDelay(this.attempt, this.reconnect.initialMs, this.reconnect.maxMs);
            this.attempt += 1;
            this._setState("reconnecting");
            this._retryTimer = setTimeout(function () {
                self._retryTimer = null;
                self._open();
            }, delayMs);
        } else {
            this._setState("closed");
        }
        if (this.options.onClose) {
            this.options.onClose({ code: code, reason: reason || "", wasClean: !!wasClean, reconnecting: retry, delayMs: delayMs });
        }
    };

    FanoutClient.prototype._detach = function () {
        var socket = this._socket;
        if (socket) socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
        this._socket = null;
    };

    FanoutClient.prototype._clearTimers = function () {
        clearTimeout(this._retryTimer);
        clearTimeout(this._connectTimer);
        clearTimeout(this._stableTimer);
        this._retryTimer = this._connectTimer = this._stableTimer = null;
    };

    FanoutClient.prototype._setState = function (state) {
        var previous = this.state;
        if (previous === state) return;
        this.state = state;
        if (this.options.onStateChange) this.options.onStateChange(state, previous);
    };

    FanoutClient.prototype._report = function (error) {
        if (this.options.onError) this.options.onError(error);
    };

    return {
        FanoutClient: FanoutClient,
        FanoutError: FanoutError,
        backoffDelay: backoffDelay,
        NO_RECONNECT_CODES: NO_RECONNECT_CODES.slice(),
        VERSION: VERSION,
    };
});
