import NIOCore

/// The browser files every edge serves next to `/ws`: the chat demo page at `/` and the
/// JavaScript client library at `/fanout.js` (classic script or CommonJS) and `/fanout.mjs`
/// (ES module).
///
/// Their canonical sources are `Clients/demo/index.html`, `Clients/js/fanout.js` and
/// `Clients/js/fanout.mjs`. `scripts/embed-web-assets.sh` copies them byte for byte into
/// `WebAssets+Generated.swift`, and `EmbeddedWebAssetsTests` fails when the copy is stale.
///
/// Why string literals rather than SwiftPM resources: the product is one binary. The Docker image
/// copies only `fanout`, and `scripts/run.sh` runs it from `.build/`. On Linux `Bundle.module`
/// looks for a `fanout_FanoutEdge.resources` folder beside the executable and traps when it is
/// missing, so a resource bundle would be one more file every deployment must carry, and
/// forgetting it would crash the edge on its first request for `/`.
enum WebAssets {
    /// One file, ready to answer with. The body is built once; each response shares its storage.
    /// `EdgeHTTPHandler` serves it with `Cache-Control: no-cache`: browsers revalidate, so an
    /// upgraded edge is never paired with a stale library.
    struct Asset: Sendable {
        let contentType: String
        let body: ByteBuffer

        init(contentType: String, source: String) {
            self.contentType = contentType
            self.body = ByteBuffer(string: source)
        }
    }

    /// `GET /`: the chat demo.
    static let demoPage = Asset(contentType: "text/html; charset=utf-8", source: demoPageSource)
    /// `GET /fanout.js`: the client library.
    static let clientLibrary = Asset(contentType: "application/javascript; charset=utf-8", source: clientLibrarySource)
    /// `GET /fanout.mjs`: the client library as an ES module (it imports `./fanout.js`).
    static let clientModule = Asset(contentType: "application/javascript; charset=utf-8", source: clientModuleSource)
}
