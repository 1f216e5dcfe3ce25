import Foundation
import Testing

@testable import FanoutEdge

/// The edge serves copies of the files under `Clients/`, embedded by `scripts/embed-web-assets.sh`.
/// These tests keep the copies from drifting from their canonical sources.
@Suite struct EmbeddedWebAssetsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test(arguments: [
        ("Clients/demo/index.html", WebAssets.demoPageSource),
        ("Clients/js/fanout.js", WebAssets.clientLibrarySource),
        ("Clients/js/fanout.mjs", WebAssets.clientModuleSource),
    ])
    func embeddedCopyEqualsTheFileByteForByte(path: String, embedded: String) throws {
        let file = try Data(contentsOf: Self.root.appendingPathComponent(path))
        #expect(
            Array(embedded.utf8) == Array(file),
            "Sources/FanoutEdge/WebAssets+Generated.swift is out of date for \(path); run: bash scripts/embed-web-assets.sh")
    }
}
