// Fuzzes `ChatHandler.handle` through its public API: the input is the payload of one client frame.
//
// `MessageContext` needs a `RedisClient`; this one is never run, so it has no connection and every
// query (`isMember`, on the `say` and `leave` paths) throws `.notConnected` at once. Everything up
// to that query — the JSON parsing and the field checks, the whole of `join` and every error
// reply — runs as in a worker; what follows a membership check does not. Reaching it needs a seam:
// a presence protocol the handler's queries go through, with an in-memory implementation.
//
// The payload is a text frame when it is valid UTF-8 (the edge and `InboundEntry` let no other text
// frame through) and a binary frame otherwise.
//
// Checks, besides "never crashes": every text reply the handler records is a JSON object with a
// string "type", as the chat protocol promises.
import Dispatch
import FanoutCore
import FanoutRedis
import FanoutWorker
import Foundation
import Logging
import NIOCore

let redis = RedisClient(configuration: RedisConfiguration(), logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
let keySpace = KeySpace(prefix: "fuzz")
let edge = EdgeID("fuzz")!
let connection = ConnectionID("fuzz.connection")!
let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let payload = ByteBuffer(bytes: bytes)
    let isText = String(validating: bytes, as: UTF8.self) != nil
    let entry = InboundEntry(
        kind: .message, connection: connection, edge: edge, frameType: isText ? .text : .binary,
        receivedAt: 1, payload: payload)
    let message = InboundMessage(id: "1-0", entry: entry, deliveryCount: 1)
    let context = MessageContext(message: message, keySpace: keySpace, redis: redis, logger: logger)

    // The fuzzer calls in synchronously; the handler is async. Its only suspension points are the
    // Redis queries, which fail at once here, so this wait is short and never deadlocks: the task
    // runs on the global executor, not on this thread.
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        try? await ChatHandler().handle(message, context: context)
        done.signal()
    }
    done.wait()

    for effect in context.effects {
        guard case .publish(_, .frame(let type, let reply, _, _, _), _) = effect, type == .text else { continue }
        let object = try? JSONSerialization.jsonObject(with: Data(reply.readableBytesView)) as? [String: Any]
        precondition(object?["type"] is String, "a chat reply is not a JSON object with a string \"type\"")
    }
    return 0
}
