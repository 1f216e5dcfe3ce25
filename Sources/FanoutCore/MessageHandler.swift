/// Business logic run by workers for every inbound entry.
///
/// Delivery contract (owned by the worker runtime, not by handlers):
/// - `handle` is called **at least once** per entry. A crash, a timeout or a thrown error means the
///   entry is delivered again (to any worker) after `claimIdle`; make effects idempotent on
///   `message.id`. `message.deliveryCount` says how many times it was delivered.
/// - What a handler does through `context` (replies, sends, closes, joins) is performed only after
///   `handle` returns normally, in the order it was requested; then the entry is acknowledged.
///   A handler that throws has none of its effects performed.
/// - After `maxDeliveries` failed attempts the entry is moved to the dead-letter stream.
/// - Results travel over Redis pub/sub: at most once. A result for a connection that is gone is
///   counted as undeliverable.
public protocol MessageHandler: Sendable {
    func handle(_ message: InboundMessage, context: MessageContext) async throws
}
