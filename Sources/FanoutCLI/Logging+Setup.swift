import FanoutCore
import Logging

/// Installs the process-wide log handler: level and format from configuration.
enum LoggingSetup {
    static func bootstrap(reader: ConfigurationReader, label: String) throws -> Logger {
        let levelName = reader.string("FANOUT_LOG_LEVEL", default: "info")
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ConfigurationError("FANOUT_LOG_LEVEL: expected trace, debug, info, notice, warning, error or critical, got '\(levelName)'")
        }
        let format = reader.string("FANOUT_LOG_FORMAT", default: "text")
        switch format {
        case "text":
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case "json":
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        default:
            throw ConfigurationError("FANOUT_LOG_FORMAT: expected text or json, got '\(format)'")
        }
        return Logger(label: label)
    }
}
