import Foundation
import Logging

/// One JSON object per line on stderr, for log shippers: `ts`, `level`, `label`, `msg`, then metadata.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new }) {
            fields[key] = "\(value)"
        }
        var line = "{\"ts\":\(quote(ISO8601DateFormatter().string(from: Date()))),\"level\":\(quote(event.level.rawValue))"
        line += ",\"label\":\(quote(label)),\"msg\":\(quote(event.message.description))"
        for key in fields.keys.sorted() { line += ",\(quote(key)):\(quote(fields[key]!))" }
        line += "}\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    private func quote(_ value: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [value], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}
