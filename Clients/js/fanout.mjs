// fanout.mjs: the ES-module face of fanout.js, which stays the one source of the library.
//
//   import { FanoutClient } from "/fanout.mjs";
//
// A file cannot be both an ES module (`export`) and a classic <script>, so this wrapper evaluates
// fanout.js (which, finding no module system, defines globalThis.Fanout) and re-exports it.
// The API is documented at the top of fanout.js.
import "./fanout.js";

const Fanout = globalThis.Fanout;
export const { FanoutClient, FanoutError, backoffDelay, NO_RECONNECT_CODES, VERSION } = Fanout;
export default Fanout;
