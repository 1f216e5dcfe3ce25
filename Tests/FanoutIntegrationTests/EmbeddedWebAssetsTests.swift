import Foundation
import Testing

@testable import FanoutEdge

/// The edge serves copies of the files under `Clients/`, embedded by `scripts/embed-web-assets.sh`.
/// These tests keep the copies from drifting from their canonical sources.
@Suite struct EmbeddedWebAssetsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Each canonical file and its embedded copy (keyed by path, so a failure names the file, not its contents).
    static let copies: [String: String] = [
        "Clients/demo/index.html": WebAssets.demoPageSource,
        "Clients/js/fanout.js": WebAssets.clientLibrarySource,
        "Clients/js/fanout.mjs": WebAssets.clientModuleSource,
    ]

    @Test(arguments: copies.keys.sorted())
    func embeddedCopyEqualsTheFileByteForByte(path: String) throws {
        let file = try Data(contentsOf: Self.root.appendingPathComponent(path))
        let embedded = try #require(Self.copies[path])
        // Compared first, so that a failure prints one line rather than both files' contents.
        let identical = embedded.utf8.elementsEqual(file)
        #expect(
            identical,
            "WebAssets+Generated.swift is out of date for \(path) (\(embedded.utf8.count) bytes embedded, \(file.count) in the file); run: bash scripts/embed-web-assets.sh")
    }
}
