import Foundation

/// Unique names so that tests sharing one Redis never see each other's keys.
public enum TestKeys {
    /// A fresh key prefix, `fanout-test-<8 hex>`: every key and channel of one test starts with it.
    public static func uniquePrefix() -> String {
        "fanout-test-\(UUID().uuidString.prefix(8).lowercased())"
    }
}
