import Foundation

/// Reads configuration with one precedence everywhere: flags > environment > file > defaults.
///
/// Keys are the environment variable names (`FANOUT_PORT` …). The file uses the same names, one
/// `KEY=value` per line (`#` starts a comment), so a value can move between the three sources
/// without being renamed. Every key is listed in Docs/configuration.md ("Every key").
public struct ConfigurationReader: Sendable {
    /// Values given as command-line flags, by key.
    public var flags: [String: String]
    /// The process environment (only `FANOUT_*` keys are consulted).
    public var environment: [String: String]
    /// Values from the configuration file, by key.
    public var file: [String: String]

    public init(flags: [String: String] = [:], environment: [String: String] = [:], file: [String: String] = [:]) {
        self.flags = flags
        self.environment = environment
        self.file = file
    }

    /// Builds a reader from flags, the process environment, and the file named by `--config` / `FANOUT_CONFIG` (if any).
    public static func load(flags: [String: String], configPath: String?) throws(ConfigurationError) -> ConfigurationReader {
        let environment = ProcessInfo.processInfo.environment
        var reader = ConfigurationReader(flags: flags, environment: environment)
        if let path = configPath ?? environment["FANOUT_CONFIG"] {
            reader.file = try parseFile(at: path)
        }
        return reader
    }

    /// Parses `KEY=value` lines.
    public static func parseFile(at path: String) throws(ConfigurationError) -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError("cannot read configuration file \(path)")
        }
        return try parse(text, origin: path)
    }

    static func parse(_ text: String, origin: String) throws(ConfigurationError) -> [String: String] {
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigurationError("\(origin):\(number + 1): expected KEY=value")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = String(value.dropFirst().dropLast()) }
            values[key] = value
        }
        return values
    }

    /// The raw value of `key`, from the highest-precedence source that has it.
    public func string(_ key: String) -> String? {
        flags[key] ?? environment[key] ?? file[key]
    }

    /// A string value or `defaultValue`.
    public func string(_ key: String, default defaultValue: String) -> String {
        string(key) ?? defaultValue
    }

    /// An integer value within `range`, or `defaultValue`.
    public func int(_ key: String, default defaultValue: Int, range: ClosedRange<Int> = Int.min...Int.max) throws(ConfigurationError) -> Int {
        guard let raw = string(key) else { return defaultValue }
        guard let value = Int(raw), range.contains(value) else {
            throw ConfigurationError("\(key): expected an integer in \(range.lowerBound)...\(range.upperBound), got '\(raw)'")
        }
        return value
    }

    /// A duration given in milliseconds, at least `minimum` (0 would mean "block forever" or a busy loop for most keys).
    public func milliseconds(_ key: String, default defaultValue: Duration, minimum: Int = 1) throws(ConfigurationError) -> Duration {
        guard string(key) != nil else { return defaultValue }
        return .milliseconds(try int(key, default: 0, range: minimum...86_400_000))
    }

    /// A boolean (`true`/`false`, `1`/`0`, `yes`/`no`).
    public func bool(_ key: String, default defaultValue: Bool) throws(ConfigurationError) -> Bool {
        guard let raw = string(key)?.lowercased() else { return defaultValue }
        switch raw {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw ConfigurationError("\(key): expected true or false, got '\(raw)'")
        }
    }
}

/// A configuration problem, reported to the operator as one line.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
