import Foundation

/// Prints one clear line for an error an operator can fix (bad configuration, port in use,
/// Redis unreachable at start) and exits non-zero — never a stack trace.
func exitWithOneLine(_ command: String, _ message: String) -> Never {
    FileHandle.standardError.write(Data("fanout \(command): \(message)\n".utf8))
    exit(1)
}
