import FanoutClient
import FanoutCore
import Foundation
import NIOCore

/// A chat-protocol frame from the edge, parsed for assertions: `joined`, `message`, `error` …
public struct ChatFrame: Sendable, Hashable, CustomStringConvertible {
    /// The frame's bytes as text, for exact comparisons.
    public let text: String
    public let type: String
    public let room: String?
    public let offset: Int64?
    /// `joined`'s epoch (a string of digits).
    public let epoch: String?
    public let recovered: Bool?
    public let reason: String?
    /// A message's text.
    public let body: String?
    /// A message's sender (connection ID).
    public let from: String?

    public init?(_ text: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let type = object["type"] as? String
        else { return nil }
        self.text = text
        self.type = type
        room = object["room"] as? String
        offset = (object["offset"] as? Int).map(Int64.init)
        epoch = object["epoch"] as? String
        recovered = object["recovered"] as? Bool
        reason = object["reason"] as? String ?? object["error"] as? String
        body = object["text"] as? String
        from = object["from"] as? String
    }

    public var description: String { text }

    /// The chat protocol's join, with `since` and `epoch` when given.
    public static func join(_ room: String, since: Int64? = nil, epoch: String? = nil) -> String {
        var text = #"{"type":"join","room":"\#(room)""#
        if let since { text += #","since":\#(since)"# }
        if let epoch { text += #","epoch":"\#(epoch)""# }
        return text + "}"
    }

    /// The chat protocol's say.
    public static func say(_ room: String, _ text: String) -> String { #"{"type":"say","room":"\#(room)","text":"\#(text)"}"# }

    /// The exact bytes of a room message with history on.
    public static func message(_ room: String, from: String, text: String, offset: Int64) -> String {
        #"{"type":"message","room":"\#(room)","from":"\#(from)","text":"\#(text)","offset":\#(offset)}"#
    }
}

extension TestClient {
    /// The next text frame, parsed as a chat frame (a frame that is not one is an error).
    public func nextChat(timeout: Duration = .seconds(10)) async throws -> ChatFrame {
        let text = try await nextText(timeout: timeout)
        guard let frame = ChatFrame(text) else { throw TestClientError.unexpected(.message(.text, .init(string: text))) }
        return frame
    }
}
